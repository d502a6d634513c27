//! Lifetime under failure, stage by stage: the owner process dies, is killed, or hangs at each
//! stage of start-up, spawn and teardown — in itself, in PID 1, or in a command's child before
//! exec — and afterwards nothing of the container is left.
//!
//! The stages are furnace-core's test-only failpoints (`FURNACE_FAILPOINT=<stage>:<action>`,
//! feature `failpoints`, which this package enables). The owner is `furnace-test-helper run
//! ROOT /bin/true`, a process of its own, so that it can die without taking the test along.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use furnace_tests::{LeakCheck, Scratch};

const HELPER: &str = env!("CARGO_BIN_EXE_furnace-test-helper");

/// Stages in the owner process and in a command's child, in the order a run meets them.
const NAMED_STAGES: [&str; 9] = [
    "pre-clone",
    "post-clone",
    "pid1-start",
    "pid1-ready",
    "ready-received",
    "spawn-pre-fork",
    "spawn-forked",
    "spawn-pre-exec",
    "teardown-signalled",
];

/// How long a process may take to do something that should be immediate (only to avoid a hang).
const DEADLINE: Duration = Duration::from_secs(20);

/// The owner, stderr captured when `stderr` says so (a captured pipe is an fd of this test
/// process, which the leak check counts: drop the child first).
fn owner_with(root: &Path, failpoint: &str, stderr: Stdio) -> Child {
    Command::new(HELPER)
        .args(["run"])
        .arg(root)
        .arg("/bin/true")
        .env("FURNACE_FAILPOINT", failpoint)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start furnace-test-helper")
}

fn owner(root: &Path, failpoint: &str) -> Child {
    owner_with(root, failpoint, Stdio::null())
}

fn wait_with_deadline(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: the owner did not end within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until the machine's init has reaped what a killed owner left to it.
///
/// When the owner dies, its children (PID 1, a command it was spawning) are reparented to the
/// host's init; the kernel kills everything in the container, and the zombies are then
/// init's to reap. This machine's init reaps about every two seconds, and a command's zombie
/// must be reaped before PID 1 can finish, so that can take two rounds: longer than the leak
/// check's grace. Those zombies are dead processes waiting for the system, not something
/// furnace keeps alive; the leak check after this still requires every one of them gone.
fn let_init_reap() {
    let ours = |p: &furnace_tests::ProcStat| {
        p.ppid == 1
            && p.state == 'Z'
            && ["furnace-init", "furnace-test-he", "true"].contains(&p.comm.as_str())
    };
    let deadline = Instant::now() + DEADLINE;
    while furnace_tests::all_processes().iter().any(ours) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The number of set-up steps PID 1 runs for this root: `step-N:exit` makes the owner fail
/// for every N up to it, and changes nothing after it.
fn set_up_steps(root: &Path) -> usize {
    for n in 1..200 {
        let mut child = owner(root, &format!("step-{n}:exit"));
        let status = wait_with_deadline(&mut child, &format!("step-{n}:exit"));
        if status.success() {
            return n - 1;
        }
    }
    panic!("step-N:exit never stopped failing: the failpoints are not compiled in?");
}

/// Every stage the owner meets, PID 1's steps included.
fn all_stages(root: &Path) -> Vec<String> {
    let steps = set_up_steps(root);
    assert!(
        steps >= 20,
        "PID 1 ran only {steps} set-up steps: the plan shrank?"
    );
    let mut stages: Vec<String> = NAMED_STAGES.iter().map(|s| (*s).to_owned()).collect();
    stages.extend((1..=steps).map(|n| format!("step-{n}")));
    stages
}

#[test]
fn failpoints_are_compiled_in_and_reach_every_stage() {
    let scratch = Scratch::exclusive();
    let root = scratch.root();
    // Unarmed, the run succeeds; armed at a stage in PID 1, the owner reports the death.
    let mut child = owner(&root, "no-such-stage:exit");
    assert!(wait_with_deadline(&mut child, "unarmed").success());
    let mut child = owner_with(&root, "step-3:exit", Stdio::piped());
    let status = wait_with_deadline(&mut child, "step-3:exit");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(
        status.code(),
        Some(3),
        "the helper's start failure code; stderr: {stderr}"
    );
    assert!(
        stderr.contains("died during set-up: exit status 97"),
        "{stderr}"
    );
}

/// One owner per stage, all running at once, each armed with `<stage>:<action>`.
fn owners_at(root: &Path, stages: &[String], action: &str) -> Vec<(String, Child)> {
    stages
        .iter()
        .map(|stage| {
            let failpoint = format!("{stage}:{action}");
            let child = owner(root, &failpoint);
            (failpoint, child)
        })
        .collect()
}

/// Dying at a stage (`exit`: no destructor, no clean-up; `kill`: SIGKILL) leaves nothing.
/// The owners for all stages run at once (containers over one root may), then the check.
fn dying_at_every_stage_leaves_nothing(action: &str) {
    let scratch = Scratch::exclusive();
    let root = scratch.root();
    let stages = all_stages(&root);
    let leaks = LeakCheck::snapshot();
    let mut owners = owners_at(&root, &stages, action);
    for (failpoint, child) in &mut owners {
        wait_with_deadline(child, failpoint);
    }
    drop(owners);
    let_init_reap();
    leaks.assert_clean();
}

#[test]
fn exiting_at_every_stage_leaves_nothing() {
    dying_at_every_stage_leaves_nothing("exit");
}

#[test]
fn being_killed_at_every_stage_leaves_nothing() {
    dying_at_every_stage_leaves_nothing("kill");
}

/// Hanging at a stage, in the owner, PID 1 or a command's child, then the owner killed with
/// SIGKILL: the container goes with it — PID 1 is bound to the owner even while it is still
/// setting up.
#[test]
fn owner_killed_while_any_stage_hangs_leaves_nothing() {
    let scratch = Scratch::exclusive();
    let root = scratch.root();
    let stages = all_stages(&root);
    let leaks = LeakCheck::snapshot();
    let mut owners = owners_at(&root, &stages, "pause");
    // Give them time to reach their stage; a kill before one gets there must clean up as well.
    std::thread::sleep(Duration::from_millis(300));
    for (failpoint, child) in &mut owners {
        child.kill().expect("SIGKILL the owner");
        wait_with_deadline(child, failpoint);
    }
    drop(owners);
    let_init_reap();
    leaks.assert_clean();
}

/// E05: the hardened profile masks files with the container's own `/dev/null`. While PID 1
/// waits just before its first mask, the host replaces that `/dev/null` with a symlink to
/// `/proc/sys/kernel/core_pattern` (the CVE-2025-31133 shape: a mask source turned into a
/// door). The mask step must notice that its source is no longer the 1:3 device and fail the
/// start, rather than bind-mount the link's target writable into the container.
#[test]
fn a_mask_source_swapped_during_set_up_is_refused() {
    let scratch = Scratch::exclusive();
    let root = scratch.root();
    let leaks = LeakCheck::snapshot();
    let mut child = Command::new(HELPER)
        .arg("run-with")
        .arg(&root)
        .args(["--hardened", "--", "/bin/true"])
        .env("FURNACE_FAILPOINT", "before-mask:delay")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start furnace-test-helper");
    // Find the container's PID 1 (a child of the helper) and wait until its /dev is there.
    let helper = child.id();
    let deadline = Instant::now() + DEADLINE;
    let null = loop {
        let init = furnace_tests::all_processes()
            .into_iter()
            .find(|p| p.ppid == helper && p.comm == "furnace-init");
        if let Some(init) = init {
            let null = std::path::PathBuf::from(format!("/proc/{}/root/dev/null", init.pid));
            if std::fs::symlink_metadata(&null).is_ok() {
                break null;
            }
        }
        assert!(Instant::now() < deadline, "PID 1 never populated /dev");
        std::thread::sleep(Duration::from_millis(5));
    };
    std::fs::remove_file(&null).expect("remove the container's /dev/null");
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", &null).expect("plant the symlink");
    let status = wait_with_deadline(&mut child, "before-mask:delay");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    drop(child);
    assert_eq!(
        status.code(),
        Some(3),
        "the start must fail; stderr: {stderr}"
    );
    assert!(
        stderr.contains("(mask /proc/") && stderr.contains("ENODEV"),
        "the failure names the mask step and its errno: {stderr}"
    );
    let_init_reap();
    leaks.assert_clean();
}
