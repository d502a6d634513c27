//! Named containers (issue 13), continued: names — bad ones, one in use, one raced for by
//! two threads and by two processes — and containers started by another process: the
//! `furnace` CLI (`cargo xtask itest` names it in `FURNACE_CLI`), which exits once the
//! container runs, as root (attached to and stopped from this process) and without root, as
//! throw-away users, through the CLI alone (a process attaching to a container started
//! without root joins its user namespace, which the kernel allows only to a single-threaded
//! process: not this test binary).
//!
//! The registries and their guard are [`named`](crate::named)'s.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Barrier;
use std::time::Duration;

use furnace_core::{Container, Error, Lifetime};
use furnace_tests::cgroups::{cgroups_owned_by, CgroupWatch};
use furnace_tests::user::output_within;
use furnace_tests::*;

use crate::named::{host_cgroups_of, is_running, over, Named};
use crate::HELPER;

/// The variable through which `cargo xtask itest` names the `furnace` binary.
const CLI_ENV: &str = "FURNACE_CLI";

/// The `furnace` binary under test.
fn cli() -> PathBuf {
    let path = std::env::var_os(CLI_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{CLI_ENV} is not set: run the suite through cargo xtask itest"));
    assert!(
        path.is_absolute() && path.is_file(),
        "{CLI_ENV}={} does not name the furnace binary",
        path.display()
    );
    path
}

/// Runs `cmd` (the CLI) to its end with a deadline, logging what it printed.
fn furnace(mut cmd: Command, what: &str) -> Ran {
    let ran = output_within(cmd.stdin(Stdio::null()), what);
    eprintln!(
        "{what}: {}\n--- stdout\n{}--- stderr\n{}---",
        ran.status, ran.stdout, ran.stderr
    );
    ran
}

/// `furnace --state-dir DIR ARGS...` as root.
fn as_root(dir: &Path, args: &[&str]) -> Ran {
    let mut cmd = Command::new(cli());
    cmd.arg("--state-dir").arg(dir).args(args);
    furnace(cmd, &format!("furnace {}", args.join(" ")))
}

/// The value of `"key":` in a one-line JSON text, as written (the first occurrence).
fn json_value<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let at = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &json[at..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

/// The live `furnace-init`s that are children of this process.
fn our_inits() -> Vec<u32> {
    all_processes()
        .into_iter()
        .filter(|p| p.ppid == std::process::id() && p.comm == "furnace-init" && !p.is_zombie())
        .map(|p| p.pid)
        .collect()
}

/// Names a container may not have: a path out of the registry, empty, 65 characters, hidden,
/// an option, a path.
fn bad_names() -> Vec<String> {
    ["../x", "", &"n".repeat(65), ".x", "-x", "a/b", "..", "a b"]
        .map(str::to_owned)
        .to_vec()
}

/// Issue 13, bad names are `Error::InvalidName` before anything is made: for a start (with a
/// limit), `info`, `attach` and `stop` alike; no registry directory, no cgroup, no process —
/// the last proven in a helper alone in a pid namespace of its own, where the bad names move
/// the pid counter not at all and a good one does.
#[test]
fn bad_names_are_refused_before_anything_is_made() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let named = Named::new();
    let watch = CgroupWatch::new();
    for bad in bad_names() {
        let err = over(&scratch.root())
            .pids_max(16)
            .name(bad.as_str())
            .registry(named.registry().clone())
            .start()
            .expect_err("a bad name is refused");
        assert!(
            matches!(&err, Error::InvalidName { name, .. } if *name == bad),
            "{bad:?}: {err:?}"
        );
        assert!(err.to_string().contains(&bad), "names it: {err}");
        let registry = named.registry();
        for result in [
            registry.info(&bad).map(|_| ()),
            registry.attach(&bad).map(|_| ()),
            registry.stop(&bad).map(|_| ()),
        ] {
            assert!(
                matches!(result, Err(Error::InvalidName { .. })),
                "{bad:?}: {result:?}"
            );
        }
    }
    assert!(!named.path().exists(), "no registry directory was made");
    let made = watch.created_by(std::process::id());
    assert!(made.is_empty(), "cgroups were made: {made:?}");
    assert!(our_inits().is_empty(), "no PID 1 runs");

    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", HELPER, "named-bad-names"])
        .arg(scratch.root())
        .arg(named.path())
        .args(bad_names())
        .stdin(Stdio::null());
    let ran = output_within(&mut cmd, "furnace-test-helper named-bad-names");
    assert!(ran.status.success(), "{ran:?}");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    for bad in bad_names() {
        let line = format!("name {bad:?} invalid");
        assert!(lines.contains(&line.as_str()), "{line}:\n{}", ran.stdout);
    }
    assert!(lines.contains(&"dir-made false"), "{}", ran.stdout);
    assert!(lines.contains(&"control started"), "{}", ran.stdout);
    let pids: Vec<u64> = lines
        .iter()
        .find_map(|l| l.strip_prefix("pids "))
        .unwrap_or_else(|| panic!("no pids line:\n{}", ran.stdout))
        .split(' ')
        .map(|n| n.parse().expect("a number"))
        .collect();
    assert_eq!(
        pids[0], pids[1],
        "a bad name made a process: {}",
        ran.stdout
    );
    assert!(
        pids[2] > pids[1],
        "the control moved the counter: {}",
        ran.stdout
    );
    drop(watch);
    drop(named);
    leaks.assert_clean();
}

/// Issue 13, a name in use: a second start under the name of a running container is
/// `Error::NameInUse` naming the first one's PID 1, before anything is made (no process, no
/// cgroup, no `.tmp-*` directory); the first container is untouched (its state, its PID 1,
/// its hostname).
#[test]
fn a_name_in_use_is_refused_and_the_first_is_untouched() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let named = Named::new();
    let c = named.start(over(&scratch.root()).hostname("first"), "dup");
    let pid = c.init_pid();
    let start = proc_stat(pid).expect("PID 1").start_time;
    drop(c);
    let state = fs::read(named.entry("dup").join("state.json")).expect("state");
    let watch = CgroupWatch::new();
    for lifetime in [
        Lifetime::Detached { timeout: None },
        Lifetime::Detached {
            timeout: Some(Duration::from_secs(5)),
        },
    ] {
        let err = over(&scratch.root())
            .hostname("second")
            .pids_max(16)
            .lifetime(lifetime)
            .name("dup")
            .registry(named.registry().clone())
            .start()
            .expect_err("the name is in use");
        assert!(
            matches!(&err, Error::NameInUse { name, pid: p } if name == "dup" && *p == pid),
            "{err:?}"
        );
    }
    assert!(
        watch.created_by(std::process::id()).is_empty(),
        "no cgroup made"
    );
    drop(watch);
    assert_eq!(our_inits(), [pid], "no second PID 1");
    assert_eq!(named.listing(), ["dup"], "no .tmp directory left");
    assert!(is_running(pid, start));
    assert_eq!(
        fs::read(named.entry("dup").join("state.json")).expect("state"),
        state,
        "the state is untouched"
    );
    let a = named.registry().attach("dup").expect("attach");
    assert_eq!(sh_ok(&a, "hostname").trim(), "first");
    a.stop().expect("stop through the attached handle");
    assert_eq!(named.listing(), Vec::<String>::new());
    drop(named);
    leaks.assert_clean();
}

/// Issue 13, a race for a name: two threads start a container under one name at the same
/// moment (five rounds); exactly one wins, the other gets `Error::NameInUse` (or the
/// registry's error for its claim directory), and nothing of the loser is left — no `.tmp-*`
/// directory, no process, no cgroup.
#[test]
fn two_threads_racing_for_a_name_make_one_container() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let named = Named::new();
    let me = std::process::id();
    for round in 0..5 {
        let name = format!("race-{round}");
        let barrier = Barrier::new(2);
        let results: Vec<furnace_core::Result<Container>> = std::thread::scope(|s| {
            let racers: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        let mut builder = over(&scratch.root());
                        builder
                            .pids_max(32)
                            .name(name.as_str())
                            .registry(named.registry().clone());
                        barrier.wait();
                        builder.start()
                    })
                })
                .collect();
            racers
                .into_iter()
                .map(|r| r.join().expect("a racer"))
                .collect()
        });
        let (won, lost): (Vec<_>, Vec<_>) = results.into_iter().partition(|r| r.is_ok());
        for c in won.iter().flatten() {
            named.track(c.init_pid());
        }
        assert_eq!((won.len(), lost.len()), (1, 1), "round {round}: {lost:?}");
        let Some(Err(err)) = lost.into_iter().next() else {
            unreachable!()
        };
        eprintln!("round {round}: the loser got {err:?}");
        // Two threads of one process name their claim directory alike, so the loser may
        // fail to make it (EEXIST) rather than get NameInUse.
        let claim_taken = |e: &Error| match e {
            Error::Registry { what, error } => {
                what.contains(&format!(".tmp-{me}-")) && error.kind() == ErrorKind::AlreadyExists
            }
            _ => false,
        };
        assert!(
            matches!(&err, Error::NameInUse { name: n, .. } if *n == name) || claim_taken(&err),
            "round {round}: {err:?}"
        );
        let winner = won.into_iter().next().and_then(Result::ok).expect("won");
        assert_eq!(named.listing(), [name.as_str()], "round {round}");
        assert_eq!(our_inits(), [winner.init_pid()], "round {round}: one PID 1");
        let paths = winner.cgroup_paths();
        let extra: Vec<PathBuf> = cgroups_owned_by(me)
            .into_iter()
            .filter(|d| !paths.iter().any(|p| p.starts_with(d)))
            .collect();
        assert!(
            extra.is_empty(),
            "round {round}: the loser's cgroups: {extra:?}"
        );
        winner.stop().expect("stop the winner");
        assert_eq!(named.listing(), Vec::<String>::new(), "round {round}");
        assert!(cgroups_owned_by(me).is_empty(), "round {round}");
    }
    drop(named);
    leaks.assert_clean();
}

/// Issue 13, a container started by another process that then exits: `furnace start` (the
/// CLI, as root, with a pids limit) prints the name and exits; a container with limits
/// started here meanwhile (whose start sweeps the cgroups of dead owners) leaves the running
/// one's cgroups alone; this process attaches by name and runs commands inside (its hostname,
/// its PID 1, its root, its cgroups); `furnace list` and `furnace exec` see the same
/// container; `Container::stop` on the attached handle ends it and removes its entry and
/// cgroups; stopping again, here or with `furnace stop`, is no error. Nothing is left.
#[test]
fn a_container_started_by_the_cli_is_attached_here_and_stopped() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let named = Named::new();
    let root = scratch.root();
    let root_arg = root.to_str().expect("a UTF-8 root");
    let ran = as_root(
        named.path(),
        &[
            "start",
            "--name",
            "other",
            "--hostname",
            "from-cli",
            "--pids-limit",
            "40",
            root_arg,
        ],
    );
    assert_eq!(
        (ran.status.code(), ran.stdout.as_str()),
        (Some(0), "other\n"),
        "{ran:?}"
    );
    let info = named.registry().info("other").expect("info");
    named.track(info.pid);
    let stat = proc_stat(info.pid).expect("PID 1 runs");
    assert_eq!(stat.comm, "furnace-init");
    assert_ne!(stat.ppid, std::process::id(), "PID 1 is no child of ours");
    // A start with limits sweeps the cgroups whose owner is dead: the CLI that started
    // `other` is, but its container runs.
    let bystander = Container::builder(&root)
        .pids_max(10)
        .start()
        .expect("start a bystander with limits");
    drop(bystander);
    let a = named.registry().attach("other").expect("attach");
    assert_eq!(a.init_pid(), info.pid);
    let paths = a.cgroup_paths();
    assert!(
        !paths.is_empty() && paths.iter().all(|p| p.is_dir()),
        "{paths:?}"
    );
    assert_eq!(sh_ok(&a, "hostname").trim(), "from-cli");
    assert_eq!(sh_ok(&a, "cat /proc/1/comm").trim(), "furnace-init");
    sh_ok(&a, "echo from-here > /root/attached");
    assert_eq!(
        fs::read_to_string(scratch.host_path("/root/attached")).expect("read"),
        "from-here\n"
    );
    let mut child = a
        .command("sleep")
        .arg("1000")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn through the attached handle");
    let host_view = host_cgroups_of(child.id());
    child.kill().expect("kill");
    child.wait().expect("reap");
    for p in &paths {
        assert!(
            host_view.contains(p),
            "the command is in {}: {host_view:?}",
            p.display()
        );
    }
    let list = as_root(named.path(), &["list", "--json"]);
    assert!(list.status.success(), "{list:?}");
    assert_eq!(
        json_value(&list.stdout, "name"),
        Some("\"other\""),
        "{}",
        list.stdout
    );
    let pid = info.pid.to_string();
    assert_eq!(
        json_value(&list.stdout, "pid"),
        Some(pid.as_str()),
        "{}",
        list.stdout
    );
    let exec = as_root(named.path(), &["exec", "other", "cat", "/root/attached"]);
    assert_eq!(
        (exec.status.code(), exec.stdout.as_str()),
        (Some(0), "from-here\n"),
        "{exec:?}"
    );
    a.stop().expect("stop through the attached handle");
    wait_until(DEADLINE, "PID 1 is gone", || {
        proc_stat(info.pid).is_none_or(|s| s.start_time != stat.start_time || s.is_zombie())
    });
    assert!(!named.entry("other").exists(), "the entry is removed");
    let left: Vec<&PathBuf> = paths.iter().filter(|p| p.exists()).collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
    assert!(!named.registry().stop("other").expect("stop again"));
    let again = as_root(named.path(), &["stop", "other"]);
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert!(again.stderr.contains("other"), "a note: {again:?}");
    drop(named);
    leaks.assert_clean();
}

/// The live `furnace-init`s whose root is a mount made under `dir` (a scratch's overlay).
fn inits_over(dir: &Path) -> Vec<u32> {
    let dir = dir.to_string_lossy();
    all_processes()
        .into_iter()
        .filter(|p| p.comm == "furnace-init" && !p.is_zombie())
        .filter(|p| {
            furnace_sys::mountinfo::read(Some(p.pid)).is_ok_and(|table| {
                table.iter().any(|m| {
                    m.mount_point == Path::new("/")
                        && m.super_options.iter().any(|o| o.contains(&*dir))
                })
            })
        })
        .map(|p| p.pid)
        .collect()
}

/// Issue 13, a race for a name between processes: two `furnace start --name` (as root),
/// released at the same moment (five rounds): exactly one prints the name and exits 0, the
/// other exits 125 with one line saying the name is in use; the registry then holds the one
/// entry and no `.tmp-*` directory, and one PID 1 runs. Each round's winner is stopped.
#[test]
fn two_processes_racing_for_a_name_make_one_container() {
    let scratch = Scratch::new();
    let named = Named::new();
    let root = scratch.root();
    for round in 0..5 {
        let name = format!("prace-{round}");
        let mut racers: Vec<std::process::Child> = (0..2)
            .map(|_| {
                Command::new("sh")
                    .args(["-c", "read go; exec \"$0\" \"$@\""])
                    .arg(cli())
                    .arg("--state-dir")
                    .arg(named.path())
                    .args(["start", "--name", &name])
                    .arg(&root)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn a racer")
            })
            .collect();
        for racer in &mut racers {
            let mut go = racer.stdin.take().expect("piped");
            go.write_all(b"go\n").expect("release a racer");
        }
        let mut outcomes = Vec::new();
        for racer in &mut racers {
            let status = wait_child(racer, "a racing furnace start");
            let mut out = (String::new(), String::new());
            let _ = racer
                .stdout
                .take()
                .expect("piped")
                .read_to_string(&mut out.0);
            let _ = racer
                .stderr
                .take()
                .expect("piped")
                .read_to_string(&mut out.1);
            outcomes.push((status.code(), out.0, out.1));
        }
        if let Ok(info) = named.registry().info(&name) {
            named.track(info.pid);
        }
        eprintln!("round {round}: {outcomes:?}");
        let won: Vec<_> = outcomes.iter().filter(|o| o.0 == Some(0)).collect();
        let lost: Vec<_> = outcomes.iter().filter(|o| o.0 != Some(0)).collect();
        assert_eq!(
            (won.len(), lost.len()),
            (1, 1),
            "round {round}: {outcomes:?}"
        );
        assert_eq!(won[0].1, format!("{name}\n"), "round {round}");
        let (code, _, stderr) = lost[0];
        assert_eq!(*code, Some(125), "round {round}: {outcomes:?}");
        assert_eq!(stderr.lines().count(), 1, "round {round}: {stderr:?}");
        assert!(stderr.contains("runs already"), "round {round}: {stderr:?}");
        assert_eq!(named.listing(), [name.as_str()], "round {round}");
        let info = named.registry().info(&name).expect("the winner runs");
        let inits = inits_over(scratch.dir());
        assert_eq!(inits, [info.pid], "round {round}: one PID 1 over the root");
        assert!(named.registry().stop(&name).expect("stop"), "round {round}");
    }
}

/// The live processes whose real uid is `uid`.
fn processes_of(uid: u32) -> Vec<String> {
    all_processes()
        .into_iter()
        .filter(|p| !p.is_zombie())
        .filter(|p| {
            fs::read_to_string(format!("/proc/{}/status", p.pid)).is_ok_and(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|ids| ids.split_whitespace().next()?.parse::<u32>().ok())
                    == Some(uid)
            })
        })
        .map(|p| format!("{} ({})", p.pid, p.comm))
        .collect()
}

/// Issue 13 without root: as a throw-away user (with subordinate ids), `furnace start --name`
/// starts a named container in the user's registry and exits; `furnace exec` from a second
/// process runs commands in it as root inside (a file made inside belongs to the user on the
/// host, and a second `exec` sees it); `furnace list` shows it, started without root, with at
/// least one process; a second user cannot attach — neither through the registry's
/// permissions nor, with those widened, through PID 1's socket (non-zero, one clear line, no
/// command run, the container untouched), and root may not attach to it either (the library's
/// `Error::Registry`); `furnace stop` ends it and leaves no process of the user and no entry;
/// stopping again is no error. The users are removed also on failure.
#[test]
fn rootless_named_container_through_the_cli() {
    let _scratch = Scratch::new();
    let user = TestUser::create(true);
    let stranger = TestUser::create(false);
    let root = user.busybox_root();
    let (mine, theirs) = (user.install(cli()), stranger.install(cli()));
    let holder = user.owned_dir("registry");
    // Dropped before the users, the root and the binaries: ends the container if the test
    // does not.
    let named = Named::at(holder.join("registry"), holder);
    let dir = named.path().to_path_buf();
    let cli_as = |who: &TestUser, exe: &Path, args: &[&str]| {
        let mut cmd = who.command(exe);
        cmd.arg("--state-dir").arg(&dir).args(args);
        furnace(
            cmd,
            &format!("furnace {} (as {})", args.join(" "), who.name()),
        )
    };
    let root_arg = root.root();
    let started = cli_as(
        &user,
        &mine,
        &["start", "--name", "rl", root_arg.to_str().expect("UTF-8")],
    );
    assert_eq!(
        (started.status.code(), started.stdout.as_str()),
        (Some(0), "rl\n"),
        "{started:?}"
    );
    let info = named.registry().info("rl").expect("info, read as root");
    named.track(info.pid);
    let init_start = proc_stat(info.pid).expect("PID 1").start_time;
    assert!(info.rootless, "{info:?}");
    let list = cli_as(&user, &mine, &["list", "--json"]);
    assert!(list.status.success(), "{list:?}");
    assert_eq!(
        json_value(&list.stdout, "name"),
        Some("\"rl\""),
        "{}",
        list.stdout
    );
    assert_eq!(
        json_value(&list.stdout, "rootless"),
        Some("true"),
        "{}",
        list.stdout
    );
    let processes: usize = json_value(&list.stdout, "processes")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a process count: {}", list.stdout));
    assert!(processes >= 1, "{}", list.stdout);

    let exec = cli_as(
        &user,
        &mine,
        &[
            "exec",
            "rl",
            "sh",
            "-c",
            "id -u; echo inside > /tmp/made-inside",
        ],
    );
    assert_eq!(
        (exec.status.code(), exec.stdout.as_str()),
        (Some(0), "0\n"),
        "{exec:?}"
    );
    let made = root.host_path("/tmp/made-inside");
    let meta = fs::metadata(&made).expect("the file made inside is in the root");
    assert_eq!(meta.uid(), user.uid(), "root inside is the user outside");
    let again = cli_as(&user, &mine, &["exec", "rl", "cat", "/tmp/made-inside"]);
    assert_eq!(
        (again.status.code(), again.stdout.as_str()),
        (Some(0), "inside\n"),
        "{again:?}"
    );

    let intrude = ["exec", "rl", "sh", "-c", "echo x > /tmp/stranger-was-here"];
    let refused = cli_as(&stranger, &theirs, &intrude);
    assert_eq!(refused.status.code(), Some(125), "{refused:?}");
    assert_eq!(refused.stderr.lines().count(), 1, "one line: {refused:?}");
    assert!(refused.stderr.starts_with("furnace: "), "{refused:?}");
    // With the registry's permissions widened, PID 1 itself refuses the stranger.
    for (path, mode) in [
        (dir.clone(), 0o755),
        (dir.join("rl"), 0o755),
        (dir.join("rl/state.json"), 0o644),
        (dir.join("rl/attach.sock"), 0o777),
    ] {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    }
    let refused = cli_as(&stranger, &theirs, &intrude);
    assert_eq!(refused.status.code(), Some(125), "{refused:?}");
    assert_eq!(refused.stderr.lines().count(), 1, "one line: {refused:?}");
    assert!(
        !root.host_path("/tmp/stranger-was-here").exists(),
        "the stranger got in"
    );
    assert!(
        is_running(info.pid, init_start),
        "the container is untouched"
    );

    // Root may stop it, not attach to it (that would take the user's namespaces).
    let err = named
        .registry()
        .attach("rl")
        .map(|c| c.init_pid())
        .expect_err("root attaching to a rootless container");
    assert!(
        matches!(err, furnace_core::Error::Registry { .. }),
        "{err:?}"
    );
    assert!(
        is_running(info.pid, init_start),
        "the container is untouched"
    );
    let stop = cli_as(&user, &mine, &["stop", "rl"]);
    assert_eq!(stop.status.code(), Some(0), "{stop:?}");
    assert!(
        !is_running(info.pid, init_start),
        "PID 1 is gone once stop returned"
    );
    let left = settle(DEADLINE, || processes_of(user.uid()), Vec::is_empty);
    assert!(left.is_ok(), "processes of the user left: {left:?}");
    assert!(!dir.join("rl").exists(), "the entry is removed");
    let twice = cli_as(&user, &mine, &["stop", "rl"]);
    assert_eq!(twice.status.code(), Some(0), "{twice:?}");
    let list = cli_as(&user, &mine, &["list", "--json"]);
    assert_eq!(list.stdout.trim(), "[]", "{list:?}");
}

/// Issue 13, no zombie with a long-lived starter: a detached container started by this
/// process, whose handle was dropped, and then stopped by another process (`furnace stop`),
/// is reaped here — this process is PID 1's parent, and the library leaves a reaper for it —
/// so nothing of it stays in the process table.
#[test]
fn a_dropped_detached_container_stopped_elsewhere_leaves_no_zombie() {
    let scratch = Scratch::exclusive();
    let named = Named::new();
    let c = named.start(&mut over(&scratch.root()), "reaped");
    let pid = c.init_pid();
    let start = furnace_sys::process::ProcStat::read(pid)
        .expect("PID 1's stat")
        .start_time;
    drop(c);
    let ran = as_root(named.path(), &["stop", "reaped"]);
    assert!(ran.status.success(), "furnace stop: {}", ran.stderr);
    wait_until(
        Duration::from_secs(10),
        "PID 1 to leave the process table (reaped by this process)",
        || furnace_sys::process::ProcStat::read(pid).is_none_or(|s| s.start_time != start),
    );
}
