//! Roots left as they were found, continued: containers whose owner is another process — one
//! killed by `SIGKILL`, one without root. The owner is this very test binary, run again as
//! the test [`owner_process`] and told what to do through [`OWNER_ENV`]. The fixtures are
//! [`crate::roots`]'s.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use furnace_core::{Container, Overlay};
use furnace_tests::run::Ran;
use furnace_tests::user::output_within;
use furnace_tests::*;

use crate::roots::{assert_as_found, listing, BareRoot};

/// How [`owner_process`] is told what to do: `ROOT`, `OVERLAY` (`ephemeral` or an upper
/// directory), `MODE` (`hold`: report and sleep; `run`: run `SCRIPT` and print its output and
/// the start's warnings).
const OWNER_ENV: &str = "FURNACE_ROOTS_OWNER";

/// A process that owns a container as [`OWNER_ENV`] says (run by the tests through
/// [`owner_command`]); without the variable — run with the rest of the suite — it does
/// nothing (xtask allows no ignored test).
#[test]
fn owner_process() {
    let Ok(spec) = std::env::var(OWNER_ENV) else {
        return;
    };
    let field = |name: &str| {
        spec.split(';')
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or("")
            .to_owned()
    };
    let mut builder = Container::builder(field("ROOT"));
    match field("OVERLAY").as_str() {
        "" => {}
        "ephemeral" => {
            builder.overlay(Overlay::Ephemeral);
        }
        upper => {
            builder.overlay(Overlay::Upper(upper.into()));
        }
    }
    let c = match builder.start() {
        Ok(c) => c,
        Err(e) => {
            println!("start-failed {e}");
            std::process::exit(3);
        }
    };
    if field("MODE") == "run" {
        for warning in c.warnings() {
            println!("warning: {warning}");
        }
        let out = c.command("sh").args(["-c", &field("SCRIPT")]).output();
        let out = out.unwrap_or_else(|e| panic!("spawn: {e}"));
        print!("<<<{}>>>", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        drop(c);
        std::process::exit(out.status.code().unwrap_or(125));
    }
    // Never waited for: this owner process is killed with SIGKILL by the test.
    #[allow(clippy::zombie_processes)]
    let sleeper = c
        .command("sleep")
        .arg("1000")
        .stdin(Stdio::null())
        .spawn()
        .expect("sleep");
    let ns = |kind: &str| ns_of(c.init_pid(), kind).unwrap_or_default();
    println!(
        "ready init={} sleeper={} pidns={} mntns={}",
        c.init_pid(),
        sleeper.id(),
        ns("pid"),
        ns("mnt")
    );
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1000));
    }
}

/// This test binary as the owner process, with `spec` in [`OWNER_ENV`].
fn owner_command(exe: &Path, spec: &str) -> Command {
    let mut cmd = Command::new(exe);
    owner_args(&mut cmd, spec);
    cmd
}

fn owner_args(cmd: &mut Command, spec: &str) {
    cmd.args(["roots_owners::owner_process", "--exact", "--nocapture"])
        .args(["--test-threads=1", "--quiet"])
        .env(OWNER_ENV, spec)
        .stdin(Stdio::null());
}

/// An owner in `hold` mode, started and reporting: (child, init pid, sleeper pid, pid ns).
fn hold(spec: &str) -> (std::process::Child, u32, u32, String) {
    use std::io::BufRead;
    let exe = std::env::current_exe().expect("the test binary");
    let mut child = owner_command(&exe, &format!("{spec};MODE=hold"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the owner");
    let stdout = child.stdout.take().expect("piped");
    let line = within(DEADLINE, "the owner reports ready", move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.starts_with("ready ") || l.starts_with("start-failed"))
    });
    let line = line.unwrap_or_else(|| panic!("the owner ended without a report"));
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
            .to_owned()
    };
    let pid = |name: &str| field(name).parse::<u32>().expect("a pid");
    (child, pid("init"), pid("sleeper"), field("pidns"))
}

/// Issue 14: the owner of an ephemeral container killed with SIGKILL: the container goes, and
/// nothing of the overlay (no mount, no directory, no process) is left anywhere; the bare
/// root is as found.
#[test]
fn ephemeral_leaves_nothing_after_its_owner_is_killed() {
    let _scratch = Scratch::exclusive();
    let bare = BareRoot::new(None);
    let before = listing(&bare.root());
    let leaks = LeakCheck::snapshot();
    let spec = format!("ROOT={};OVERLAY=ephemeral", bare.root().display());
    let (mut owner, init, sleeper, pid_ns) = hold(&spec);
    assert!(alive(init) && alive(sleeper));
    sigkill(owner.id()).expect("kill the owner");
    wait_child(&mut owner, "the killed owner");
    wait_until(DEADLINE, "the container is gone", || {
        processes_in_pid_ns(&pid_ns).is_empty() && !alive(init) && !alive(sleeper)
    });
    assert_as_found(&bare.root(), &before);
    leaks.assert_clean();
}

/// Runs [`owner_process`] as `user`, in a user namespace of its own (`unshare -Ur`: one id),
/// in `run` mode with `spec`.
fn run_as(user: &TestUser, spec: &str) -> Ran {
    let exe = user.install(std::env::current_exe().expect("the test binary"));
    let mut cmd = user.command("unshare");
    cmd.args(["--user", "--map-root-user", "--"]).arg(&exe);
    owner_args(&mut cmd, &format!("{spec};MODE=run"));
    output_within(&mut cmd, "the rootless owner")
}

/// Issue 14: without root (a user in a user namespace of its own, through the library): an
/// ephemeral overlay over the user's bare root, where a directory of the root removed and
/// made again and a renamed one work inside (Linux ≥ 6.6: `user.` attributes on tmpfs) and
/// none of it reaches the root; an upper directory of the user's keeps the changes.
#[test]
fn overlays_without_root() {
    let _scratch = Scratch::new();
    let user = TestUser::create(false);
    let bare = BareRoot::new(None);
    fs::create_dir(bare.root().join("data")).expect("mkdir data");
    fs::write(bare.root().join("data/f"), "old\n").expect("write data/f");
    furnace_tests::user::chown_tree(&bare.root(), user.uid(), user.gid());
    let before = listing(&bare.root());
    let script = "rm -r /data && mkdir /data && echo new > /data/f && mv /data /moved && \
                  cat /moved/f && id -u";
    let root = bare.root().display().to_string();
    let ran = run_as(
        &user,
        &format!("ROOT={root};OVERLAY=ephemeral;SCRIPT={script}"),
    );
    assert!(
        ran.status.success() && ran.stdout.contains("<<<new\n0\n>>>"),
        "{ran:?}"
    );
    assert_as_found(&bare.root(), &before);
    let keep = user.owned_dir("rootless-upper");
    let upper = keep.join("upper");
    fs::create_dir(&upper).expect("mkdir upper");
    furnace_tests::user::chown_tree(&upper, user.uid(), user.gid());
    let spec = format!(
        "ROOT={root};OVERLAY={};SCRIPT=echo kept > /kept",
        upper.display()
    );
    let ran = run_as(&user, &spec);
    assert!(ran.status.success(), "{ran:?}");
    assert_eq!(
        fs::read_to_string(upper.join("kept")).expect("kept"),
        "kept\n"
    );
    assert!(
        !keep.join(".upper.furnace-work").exists(),
        "the work directory is gone"
    );
    assert_as_found(&bare.root(), &before);
}

/// Issue 14: without root, over a root that belongs to root (not mapped), `Auto` cannot make
/// the missing `/etc/resolv.conf`: PID 1 skips the bind and the start says why, in one line
/// naming the step and the errno; the command runs.
#[test]
fn a_skipped_resolv_conf_is_a_warning() {
    let _scratch = Scratch::new();
    let user = TestUser::create(false);
    let root = BusyboxRoot::owned_by_root();
    let before = listing(&root.root());
    let ran = run_as(
        &user,
        &format!("ROOT={};SCRIPT=id -u", root.root().display()),
    );
    assert!(
        ran.status.success() && ran.stdout.contains("<<<0\n>>>"),
        "{ran:?}"
    );
    let warnings: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 1, "{ran:?}");
    assert!(
        warnings[0].contains("no resolv.conf of the host inside: step ")
            && warnings[0].contains("on /etc/resolv.conf (read-only)) failed: EACCES"),
        "{warnings:?}"
    );
    assert_as_found(&root.root(), &before);
}

/// Issue 14 (a documented trace): the owner killed by SIGKILL leaves the mount points PID 1
/// made in a bare root, since nobody is left to remove them — what an overlay avoids.
#[test]
fn a_killed_owner_leaves_the_mount_points_it_made() {
    let _scratch = Scratch::exclusive();
    let bare = BareRoot::new(None);
    let leaks = LeakCheck::snapshot();
    let (mut owner, init, _, pid_ns) = hold(&format!("ROOT={}", bare.root().display()));
    sigkill(owner.id()).expect("kill the owner");
    wait_child(&mut owner, "the killed owner");
    wait_until(DEADLINE, "the container is gone", || {
        processes_in_pid_ns(&pid_ns).is_empty() && !alive(init)
    });
    for made in ["dev", "proc", "sys", "run"] {
        assert!(bare.root().join(made).is_dir(), "{made} stays");
    }
    leaks.assert_clean();
}
