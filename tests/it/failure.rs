//! Failure at every stage, and nothing left: the owner process dies, is killed or hangs at each
//! stage of start-up, spawn and teardown (furnace-core's test-only failpoints,
//! `FURNACE_FAILPOINT=<stage>:<action>`, feature `failpoints`, which this package enables); the
//! owner is killed at random moments; every set-up and spawn system call is made to fail in
//! turn with strace; a set-up step that fails is named; a failure in a forked child never
//! returns into the caller.
//!
//! The owners are `furnace-test-helper` processes, so that they can die without taking the test
//! along, and so that the failpoint's environment variable reaches only them.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use furnace_core::{Container, Error};
use furnace_tests::hostside::{bind_source, symlink_over};
use furnace_tests::proc::{let_init_reap, new_live_processes_named, process_keys};
use furnace_tests::*;

use crate::HELPER;

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

/// The number of set-up steps PID 1 runs for this root: `step-N:exit` makes the owner fail
/// for every N up to it, and changes nothing after it.
fn set_up_steps(root: &Path) -> usize {
    for n in 1..200 {
        let mut child = owner(root, &format!("step-{n}:exit"));
        let status = wait_child(&mut child, &format!("step-{n}:exit"));
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

/// B01 (premise): the failpoints are compiled in: unarmed the run succeeds, armed in PID 1 the
/// owner reports its death.
#[test]
fn failpoints_are_compiled_in_and_reach_every_stage() {
    let scratch = Scratch::exclusive();
    let root = scratch.root();
    // Unarmed, the run succeeds; armed at a stage in PID 1, the owner reports the death.
    let mut child = owner(&root, "no-such-stage:exit");
    assert!(wait_child(&mut child, "unarmed").success());
    let mut child = owner_with(&root, "step-3:exit", Stdio::piped());
    let status = wait_child(&mut child, "step-3:exit");
    let mut stderr = String::new();
    child
        .stderr
        .as_mut()
        .expect("piped")
        .read_to_string(&mut stderr)
        .expect("read the owner's stderr");
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
        wait_child(child, failpoint);
    }
    drop(owners);
    let_init_reap();
    leaks.assert_clean();
}

/// B01, B04: the owner exiting (no destructor, no clean-up) at every stage leaves nothing.
#[test]
fn exiting_at_every_stage_leaves_nothing() {
    dying_at_every_stage_leaves_nothing("exit");
}

/// B01: the owner killed with SIGKILL at every stage leaves nothing.
#[test]
fn being_killed_at_every_stage_leaves_nothing() {
    dying_at_every_stage_leaves_nothing("kill");
}

/// B01: hanging at a stage, in the owner, PID 1 or a command's child, then the owner killed with
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
        wait_child(child, failpoint);
    }
    drop(owners);
    let_init_reap();
    leaks.assert_clean();
}

/// A06: a set-up step that fails (`/proc` is a symlink) is named with its number, operation and
/// errno, and leaves nothing.
#[test]
fn setup_failure_names_the_step_and_leaves_nothing() {
    let scratch = Scratch::exclusive();
    // /proc replaced by a symlink: mounting proc there must fail (not follow it).
    let proc_dir = scratch.host_path("/proc");
    std::fs::remove_dir(&proc_dir).expect("rmdir /proc in the scratch");
    std::os::unix::fs::symlink("/tmp", &proc_dir).expect("symlink /proc");
    let leaks = LeakCheck::snapshot();
    let err = within(DEADLINE, "a failing start", {
        let root = scratch.root();
        move || Container::start(root).map(drop)
    })
    .expect_err("the set-up fails");
    match &err {
        Error::Setup {
            step, operation, ..
        } => {
            assert!(*step > 0);
            assert!(operation.contains("/proc"), "the step names /proc: {err}");
        }
        other => panic!("expected a set-up error, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("step") && message.contains("/proc"),
        "{message}"
    );
    assert!(
        message.contains("ENOTDIR") || message.contains("ELOOP"),
        "names the errno: {message}"
    );
    leaks.assert_clean();
}

/// A failing bind step (its destination on a read-only host mount) is named with its errno, and
/// leaves nothing.
#[test]
fn failing_bind_step_reports_it_and_leaves_nothing() {
    let scratch = Scratch::exclusive();
    let src = TempDir::new("bind-src");
    let ro = TempDir::new("ro-src");
    let point = scratch.host_path("/mnt/ro");
    std::fs::create_dir(&point).expect("mkdir");
    let guard = furnace_core::host::BindMountGuard::new(ro.path(), &point, true)
        .expect("read-only bind on the host");
    let leaks = LeakCheck::snapshot();
    let err = Container::builder(scratch.root())
        .bind(src.path(), "/mnt/fine")
        .bind(src.path(), "/mnt/ro/cannot/create")
        .start()
        .expect_err("creating a destination on a read-only mount fails");
    match &err {
        Error::Setup {
            operation, errno, ..
        } => {
            assert!(operation.contains("/mnt/ro/cannot/create"), "{err}");
            assert_eq!(errno.raw_os_error(), libc::EROFS, "{err}");
        }
        other => panic!("expected a set-up error, got {other:?}"),
    }
    assert!(err.to_string().contains("EROFS"), "{err}");
    leaks.assert_clean();
    drop(guard);
}

/// A small xorshift generator, seeded from the clock (or `FURNACE_TEST_SEED`), printed.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("FURNACE_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
                    | 1
            });
        eprintln!("random seed: {seed} (set FURNACE_TEST_SEED to repeat)");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// B02: the owner killed with SIGKILL 0–50 ms after it started, 40 times: nothing is left.
#[test]
fn owner_killed_at_random_moments_leaves_nothing() {
    const TRIALS: usize = 40;
    let scratch = Scratch::exclusive();
    let root = scratch.root();
    let leaks = LeakCheck::snapshot();
    let before = process_keys();
    let mut rng = Rng::new();
    let (mut ready, mut early) = (0, 0);
    for trial in 0..TRIALS {
        // Uniform over 0-50 ms, and every other trial over the first 4 ms, where the
        // container is being set up (a start takes a few milliseconds).
        let range = if trial % 2 == 0 { 50_000 } else { 4_000 };
        let delay = Duration::from_micros(rng.below(range));
        // The owner (`hold`: start a container, run `sleep 1000` in it, sleep) runs under a
        // subreaper that reaps it and the orphans it leaves, and exits once all are gone.
        let mut reaper = std::process::Command::new(HELPER)
            .args(["reap", "--report-pid", HELPER, "hold"])
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the reaper");
        let mut stderr = std::io::BufReader::new(reaper.stderr.take().expect("piped"));
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stderr, &mut line).expect("read the owner's pid");
        let owner: u32 = line
            .strip_prefix("spawned ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected report from the reaper: {line:?}"));
        std::thread::sleep(delay);
        sigkill(owner).expect("SIGKILL the owner");
        let mut stdout = reaper.stdout.take().expect("piped");
        let (status, out) = within(DEADLINE, "the owner's processes are reaped", move || {
            let status = reaper.wait().expect("wait for the reaper");
            let mut out = String::new();
            let _ = stdout.read_to_string(&mut out);
            (status, out)
        });
        assert_eq!(
            status.code(),
            Some(128 + libc::SIGKILL),
            "trial {trial} ({delay:?}): the owner died of SIGKILL"
        );
        drop(stderr);
        if out.starts_with("ready") {
            ready += 1;
        } else {
            early += 1;
        }
        let left: Vec<String> = ["furnace-init", "furnace-test-he", "sleep"]
            .iter()
            .flat_map(|name| new_live_processes_named(name, &before))
            .collect();
        assert!(left.is_empty(), "trial {trial} ({delay:?}): left {left:?}");
        leaks.assert_clean();
    }
    eprintln!(
        "owner SIGKILLed 0-50 ms after it started: {TRIALS} trials, {ready} after the \
         container was ready, {early} before; nothing left"
    );
}

/// B11, B12: a spawn failing in the forked child, and a start failing in PID 1, never return
/// into the caller's code in another process, and leave the calling thread in its own
/// namespaces.
#[test]
fn failing_pre_exec_and_failing_start_never_return_into_the_caller() {
    let scratch = Scratch::exclusive();
    let log_path = scratch.dir().join("who-ran-here");
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .expect("open the log");
    let me = std::process::id();
    let thread_ns = || {
        [
            "pid",
            "pid_for_children",
            "mnt",
            "net",
            "uts",
            "ipc",
            "cgroup",
        ]
        .map(|kind| std::fs::read_link(format!("/proc/thread-self/ns/{kind}")).ok())
    };
    let ns_before = thread_ns();
    let leaks = LeakCheck::snapshot();
    let c = start(&scratch.root());
    let mut expected = 0;
    for i in 0..20 {
        let result = c
            .command("true")
            .current_dir(format!("/no/such/dir-{i}"))
            .status();
        // Whoever runs this line writes its pid: a forked child that returned from spawn
        // into this code would write its own.
        writeln!(log, "{}", std::process::id()).expect("log");
        expected += 1;
        let err = result.expect_err("a missing working directory fails the spawn");
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
        assert!(
            err.to_string().contains(&format!("/no/such/dir-{i}")),
            "{err}"
        );
    }
    assert_eq!(
        thread_ns(),
        ns_before,
        "the calling thread is in its own namespaces after failed spawns"
    );
    sh_ok(&c, "true");
    drop(c);
    // A set-up failure in PID 1 (a forked copy of this process) comes back as an error too.
    symlink_over(&scratch.host_path("/proc"), "/nowhere");
    for _ in 0..5 {
        let result = Container::start(scratch.root());
        writeln!(log, "{}", std::process::id()).expect("log");
        expected += 1;
        assert!(matches!(result, Err(Error::Setup { .. })), "{result:?}");
    }
    drop(log);
    let log = std::fs::read_to_string(&log_path).expect("read the log");
    let pids: Vec<&str> = log.lines().collect();
    assert_eq!(pids.len(), expected, "{log}");
    assert!(
        pids.iter().all(|p| *p == me.to_string()),
        "only this process ran the code after spawn/start: {log}"
    );
    leaks.assert_clean();
}

const SYSCALLS: &str = "mount,mknodat,pivot_root,umount2,symlinkat,open_tree,move_mount,\
                        mount_setattr,fsopen,fsconfig,fsmount,setns,sethostname";

struct Setup {
    scratch: Scratch,
    rw: TempDir,
    ro: TempDir,
}

impl Setup {
    fn new() -> Setup {
        let scratch = Scratch::exclusive();
        Setup {
            scratch,
            rw: bind_source("fault-rw"),
            ro: bind_source("fault-ro"),
        }
    }

    /// `strace -f -qq STRACE_ARGS furnace-test-helper run-with ROOT (binds) -- true`, under
    /// a subreaper (so that what a killed helper leaves is reaped at once, not whenever the
    /// machine's init gets to it).
    fn run(&self, strace_args: &[&str]) -> (std::process::ExitStatus, String) {
        let out = std::process::Command::new(HELPER)
            .args(["reap", "strace", "-f", "-qq"])
            .args(strace_args)
            .arg(HELPER)
            .arg("run-with")
            .arg(self.scratch.root())
            .arg("--bind")
            .arg(format!("{}:/mnt/rw", self.rw.path().display()))
            .arg("--bind-ro")
            .arg(format!("{}:/mnt/ro", self.ro.path().display()))
            .args(["--hostname", "injected", "--", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run strace (SECURITY.md §0: strace 6.1 is installed)");
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// How many times the busiest process calls each system call in a clean run.
    fn counts(&self) -> BTreeMap<String, usize> {
        let trace = self.scratch.dir().join("strace.out");
        let trace_arg = trace.to_string_lossy().into_owned();
        let (status, stderr) = self.run(&["-o", &trace_arg, "-e", &format!("trace={SYSCALLS}")]);
        assert!(
            status.success(),
            "a clean run under strace: {status}: {stderr}"
        );
        let text = std::fs::read_to_string(&trace).expect("read the trace");
        let mut per_process: BTreeMap<(String, String), usize> = BTreeMap::new();
        for line in text.lines() {
            let mut words = line.splitn(2, ' ');
            let (Some(pid), Some(rest)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((name, _)) = rest.split_once('(') else {
                continue;
            };
            *per_process
                .entry((pid.to_owned(), name.trim().to_owned()))
                .or_default() += 1;
        }
        let mut counts = BTreeMap::new();
        for ((_, name), n) in per_process {
            let max = counts.entry(name).or_insert(0);
            *max = n.max(*max);
        }
        counts
    }
}

/// What an injected failure of `syscall` must be reported as: one of these in stderr.
fn expected_words(syscall: &str) -> &'static [&'static str] {
    match syscall {
        "mount" => &["make / rslave", "pivot_root", "mount "],
        "mknodat" => &["mknod "],
        "pivot_root" | "umount2" => &["pivot_root"],
        "symlinkat" => &["symlink "],
        "open_tree" | "mount_setattr" => &["bind "],
        // The standard mounts are attached with move_mount(2) too (fsmount, then attached to
        // the verified mount point).
        "move_mount" => &["bind ", "mount "],
        // The standard filesystems (and the hardened profile's masks) are made with the new
        // mount API.
        "fsopen" | "fsconfig" | "fsmount" => &["mount ", "mask "],
        "sethostname" => &["sethostname"],
        "setns" => &["spawn true", "cannot restore the thread's pid namespace"],
        _ => unreachable!(),
    }
}

/// Fails the K-th call of `syscall` (in each process) with EPERM for K = 1, 2, ... up to
/// the number of calls in a clean run: every run must fail with a message naming the step
/// and leave nothing; the run after the last call succeeds.
fn inject_every_call(syscall: &str) {
    let setup = Setup::new();
    let n = *setup.counts().get(syscall).unwrap_or(&0);
    assert!(
        n > 0,
        "a clean run calls {syscall} (else this test proves nothing)"
    );
    let leaks = LeakCheck::snapshot();
    for k in 1..=n + 1 {
        let inject = format!("inject={syscall}:error=EPERM:when={k}");
        let (status, stderr) = setup.run(&["-o", "/dev/null", "-e", &inject]);
        let context = format!("{syscall} call {k} of {n} fails with EPERM");
        assert!(!stderr.contains("panicked"), "{context}: a panic: {stderr}");
        if k > n {
            assert!(
                status.success(),
                "{context}: nothing injected, works: {stderr}"
            );
            assert_eq!(stderr, "", "{context}");
        } else {
            assert!(!status.success(), "{context}: the run fails");
            assert!(
                stderr.contains("EPERM") || stderr.contains("Operation not permitted"),
                "{context}: names the errno: {stderr}"
            );
            assert!(
                expected_words(syscall).iter().any(|w| stderr.contains(w)),
                "{context}: names the step ({:?}): {stderr}",
                expected_words(syscall)
            );
            if stderr.contains("cannot start") {
                assert!(
                    stderr.contains("container set-up step"),
                    "{context}: {stderr}"
                );
            }
        }
        leaks.assert_clean();
    }
    eprintln!("{syscall}: {n} injected failures, each reported and rolled back");
}

/// B10: every `mount(2)` call fails in turn.
#[test]
fn injected_mount_failures_roll_back() {
    inject_every_call("mount");
}

/// B10: every `mknodat(2)` call fails in turn.
#[test]
fn injected_mknodat_failures_roll_back() {
    inject_every_call("mknodat");
}

/// B10: `pivot_root(2)` fails.
#[test]
fn injected_pivot_root_failure_rolls_back() {
    inject_every_call("pivot_root");
}

/// B10: `umount2(2)` fails.
#[test]
fn injected_umount2_failure_rolls_back() {
    inject_every_call("umount2");
}

/// B10: every `symlinkat(2)` call fails in turn.
#[test]
fn injected_symlinkat_failures_roll_back() {
    inject_every_call("symlinkat");
}

/// B10: every `open_tree(2)` call fails in turn.
#[test]
fn injected_open_tree_failures_roll_back() {
    inject_every_call("open_tree");
}

/// B10: every `move_mount(2)` call fails in turn.
#[test]
fn injected_move_mount_failures_roll_back() {
    inject_every_call("move_mount");
}

/// B10: every `mount_setattr(2)` call fails in turn.
#[test]
fn injected_mount_setattr_failures_roll_back() {
    inject_every_call("mount_setattr");
}

/// B10: every `fsopen(2)` call (one per standard filesystem) fails in turn.
#[test]
fn injected_fsopen_failures_roll_back() {
    inject_every_call("fsopen");
}

/// B10: every `fsconfig(2)` call (the filesystems' options) fails in turn.
#[test]
fn injected_fsconfig_failures_roll_back() {
    inject_every_call("fsconfig");
}

/// B10: every `fsmount(2)` call fails in turn.
#[test]
fn injected_fsmount_failures_roll_back() {
    inject_every_call("fsmount");
}

/// B10: every `setns(2)` call fails in turn.
#[test]
fn injected_setns_failures_roll_back() {
    inject_every_call("setns");
}

/// B10: `sethostname(2)` fails.
#[test]
fn injected_sethostname_failure_rolls_back() {
    inject_every_call("sethostname");
}

/// Walks `err`'s `source()` chain and asserts that no message in it contains the message of
/// its source: printing a chain (as `anyhow`, `eyre` and friends do) must not repeat a cause.
fn assert_no_repeated_cause(err: &(dyn std::error::Error + 'static), what: &str) {
    let mut current = Some(err);
    let mut chain = Vec::new();
    while let Some(e) = current {
        let message = e.to_string();
        chain.push(message.clone());
        if let Some(source) = e.source() {
            let inner = source.to_string();
            assert!(
                inner.is_empty() || !message.contains(&inner),
                "{what}: `{message}` repeats its source `{inner}` (chain: {chain:?})"
            );
        }
        current = e.source();
    }
}

/// Regression (issue 10): an error's `Display` does not repeat its cause — for a failed spawn
/// (`Error::Spawn`, inside the `io::Error` that `Command` returns), a failed set-up step
/// (`Error::Setup`) and a failed host-side call (`Error::Sys`). Before, `Error::Spawn` printed
/// its `io::Error` and returned it again as `source()`.
#[test]
fn error_messages_do_not_repeat_their_causes() {
    let scratch = Scratch::new();
    let c = start(&scratch.root());
    let spawn = c
        .command("/nonexistent")
        .spawn()
        .expect_err("spawning /nonexistent fails");
    assert_no_repeated_cause(&spawn, "a spawn of /nonexistent");
    drop(c);

    let broken = Scratch::new();
    symlink_over(&broken.host_path("/proc"), "/nowhere");
    let setup = Container::start(broken.root()).expect_err("a start over a symlinked /proc fails");
    assert!(matches!(setup, Error::Setup { .. }), "{setup:?}");
    assert_no_repeated_cause(&setup, "a failed set-up step");

    // A directory bound onto a file: the host's mount(2) fails with ENOTDIR.
    let dir = TempDir::new("sys-error");
    std::fs::write(dir.join("file"), "").expect("create the target file");
    std::fs::create_dir(dir.join("source")).expect("create the source directory");
    let sys = furnace_core::host::BindMountGuard::new(dir.join("source"), dir.join("file"), false)
        .expect_err("binding a directory onto a file fails");
    assert!(matches!(sys, Error::Sys { .. }), "{sys:?}");
    assert_no_repeated_cause(&sys, "a failed host-side call");
}
