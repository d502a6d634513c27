//! Start and stop: PID 1 and what it shows, teardown, PID 1 killed from outside, the owner
//! (a separate helper process, or this one) dying or panicking with a container alive, and
//! containers started from many threads at once.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use furnace_core::{Container, Error, ExitKind};
use furnace_tests::*;

use crate::HELPER;

/// C07: PID 1 is `furnace-init`, not a shell, in new namespaces (the host's network by
/// default).
#[test]
fn pid1_is_our_own_small_init() {
    let scratch = Scratch::new();
    let c = start(&scratch.root());
    assert!(c.is_running());
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", c.init_pid()))
        .expect("read PID 1's comm on the host");
    assert_eq!(comm.trim_end(), "furnace-init");
    assert_eq!(sh_ok(&c, "cat /proc/1/comm").trim_end(), "furnace-init");
    let exe =
        std::fs::read_link(format!("/proc/{}/exe", c.init_pid())).expect("readlink PID 1's exe");
    let exe = exe.to_string_lossy();
    assert!(
        !["sh", "bash", "python", "busybox"]
            .iter()
            .any(|shell| exe.ends_with(shell)),
        "PID 1 is not a shell or an interpreter: {exe}"
    );
    for kind in ["pid", "mnt", "uts", "ipc", "cgroup"] {
        assert_ne!(
            ns_of(c.init_pid(), kind),
            ns_of(std::process::id(), kind),
            "PID 1 is in a new {kind} namespace"
        );
    }
    assert_eq!(
        ns_of(c.init_pid(), "net"),
        ns_of(std::process::id(), "net"),
        "by default the network is the host's"
    );
}

/// `start` returns only once PID 1 has finished the set-up.
#[test]
fn start_returns_only_once_set_up() {
    let scratch = Scratch::new();
    let c = start(&scratch.root());
    // No waiting: the last steps of the set-up are visible through PID 1 right away.
    let init = c.init_pid();
    assert!(
        in_root_of(init, "/run/lock").is_dir(),
        "/run/lock made before ready"
    );
    assert!(
        in_root_of(init, "/dev/null").exists(),
        "/dev/null made before ready"
    );
    assert!(
        in_root_of(init, "/proc/1").exists(),
        "/proc mounted before ready"
    );
}

/// E02: `ps` inside shows PID 1 and itself (and maybe a shell); the caller's cwd is unchanged.
#[test]
fn ps_shows_at_most_three_processes_and_cwd_is_unchanged() {
    let scratch = Scratch::new();
    let cwd = std::env::current_dir().expect("cwd");
    let c = start(&scratch.root());
    let ps = run(&c, "ps", &["-e"]);
    assert!(ps.status.success(), "ps -e: {}", ps.stderr);
    let procs = ps_lines(&ps.stdout);
    assert!(
        !procs.is_empty() && procs.len() <= 3,
        "ps -e inside shows init, ps, maybe a shell:\n{}",
        ps.stdout
    );
    assert!(procs[0].trim_start().starts_with("1 "), "{}", ps.stdout);
    let aux = run(&c, "ps", &["aux"]);
    assert_eq!(ps_lines(&aux.stdout).len(), 2, "ps aux: {}", aux.stdout);
    assert_eq!(std::env::current_dir().expect("cwd"), cwd);
}

/// `stop` kills every process inside and leaves nothing.
#[test]
fn stop_kills_everything_and_leaves_nothing() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let c = start(&scratch.root());
    let pid_ns = ns_of(c.init_pid(), "pid").expect("PID 1's pid namespace");
    let mut sleeper = c.command("sleep").arg("1000").spawn().expect("spawn sleep");
    sh_ok(&c, "sleep 1000 >/dev/null 2>&1 &");
    assert_eq!(processes_in_pid_ns(&pid_ns).len(), 3, "init and two sleeps");
    sleeper.kill().expect("kill the sleeper");
    sleeper.wait().expect("reap the sleeper");
    c.stop().expect("stop");
    assert!(
        processes_in_pid_ns(&pid_ns).is_empty(),
        "no process of the container is left once stop returned"
    );
    leaks.assert_clean();
}

/// A background process inside is gone once the container is dropped.
#[test]
fn background_sleep_is_gone_once_the_context_is_left() {
    let scratch = Scratch::new();
    let c = start(&scratch.root());
    let pid_ns = ns_of(c.init_pid(), "pid").expect("PID 1's pid namespace");
    sh_ok(&c, "sleep 1000 >/dev/null 2>&1 &");
    let mut sleepers = Vec::new();
    // (The shell may be gone before its child has become `sleep`.)
    wait_until(DEADLINE, "the background sleep runs inside", || {
        sleepers = processes_in_pid_ns(&pid_ns)
            .into_iter()
            .filter(|p| p.comm == "sleep")
            .map(|p| p.pid)
            .collect();
        sleepers.len() == 1
    });
    drop(c);
    assert!(!alive(sleepers[0]), "the background sleep is gone");
    assert!(processes_in_pid_ns(&pid_ns).is_empty());
}

/// H01: orphans inside are reaped by PID 1.
#[test]
fn orphans_never_stay_zombies() {
    let scratch = Scratch::new();
    let c = start(&scratch.root());
    // The original's check: an orphan that dies inside, then a look at the states.
    let out = sh_ok(&c, "(sleep 0.1 &) ; sleep 1; ps -o stat,pid,comm");
    assert!(
        !ps_lines(&out)
            .iter()
            .any(|l| l.trim_start().starts_with('Z')),
        "no zombie: {out}"
    );
    // Deterministic: orphans whose pids we know must disappear from /proc entirely.
    let pids = sh_ok(
        &c,
        "for i in 1 2 3 4 5 6 7 8; do sleep 0.05 >/dev/null 2>&1 & echo $!; done",
    );
    for pid in pids.split_whitespace() {
        wait_until(DEADLINE, &format!("orphan {pid} is reaped"), || {
            !run(&c, "test", &["-e", &format!("/proc/{pid}")])
                .status
                .success()
        });
    }
    let ps = run(&c, "ps", &["-o", "stat,pid,comm"]);
    assert_eq!(ps_lines(&ps.stdout).len(), 2, "init and ps: {}", ps.stdout);
}

/// B08: PID 1 killed from the host: commands fail saying the container is not running, and the
/// drop still cleans up.
#[test]
fn pid1_killed_from_outside_gives_a_clear_error_and_drop_still_cleans_up() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let c = start(&scratch.root());
    sh_ok(&c, "true");
    // PID 1 is our child and not yet reaped, so its pid cannot have been reused.
    sigkill(c.init_pid()).expect("kill PID 1");
    wait_until(DEADLINE, "the container reports it is not running", || {
        !c.is_running()
    });
    let err = c
        .command("true")
        .status()
        .expect_err("a command in a dead container fails");
    assert!(
        err.to_string().contains("not running"),
        "the error says the container is not running: {err}"
    );
    let err = c.command("true").output().expect_err("output fails too");
    assert!(err.to_string().contains("not running"), "{err}");
    drop(c);
    leaks.assert_clean();
}

/// B08: PID 1 killed while a command runs: the command dies with it.
#[test]
fn pid1_killed_while_a_command_runs() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let c = start(&scratch.root());
    let mut child = c.command("sleep").arg("1000").spawn().expect("spawn sleep");
    sigkill(c.init_pid()).expect("kill PID 1");
    // The kernel kills the command with its init.
    let status = within(DEADLINE, "the command dies with PID 1", move || {
        child.wait()
    })
    .expect("wait for the command");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    wait_until(DEADLINE, "PID 1 has died", || !c.is_running());
    let err = c.command("true").status().expect_err("not running");
    assert!(err.to_string().contains("not running"), "{err}");
    within(DEADLINE, "drop", move || drop(c));
    leaks.assert_clean();
}

/// B08: a command right after PID 1 was killed (still in its exit) fails clearly.
#[test]
fn command_right_after_pid1_was_killed_fails_clearly() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let c = start(&scratch.root());
    let mut child = c.command("sleep").arg("1000").spawn().expect("spawn sleep");
    sigkill(c.init_pid()).expect("kill PID 1");
    // Once the kernel has killed our command, PID 1 is in its exit, which our unreaped
    // command keeps from finishing; a command now must fail all the same, and say why.
    let pid = child.id();
    wait_until(DEADLINE, "the command is killed", || {
        proc_stat(pid).is_some_and(|p| p.is_zombie())
    });
    let err = c
        .command("true")
        .status()
        .expect_err("no command starts in a container whose PID 1 was killed");
    assert!(err.to_string().contains("not running"), "{err}");
    let _ = child.wait();
    within(DEADLINE, "drop", move || drop(c));
    leaks.assert_clean();
}

/// B08: `stop` after PID 1 died, and a drop after `stop`, are safe.
#[test]
fn stop_after_pid1_died_and_double_teardown_are_safe() {
    let scratch = Scratch::new();
    let c = start(&scratch.root());
    sigkill(c.init_pid()).expect("kill PID 1");
    wait_until(DEADLINE, "PID 1 has died", || !c.is_running());
    // stop tears down (once), and the drop that follows does nothing more. That PID 1 had
    // already died is reported (`stop_after_pid1_was_killed_reports_it` checks how).
    let stopped = within(DEADLINE, "stop after PID 1 died", move || c.stop());
    assert!(
        matches!(stopped, Err(Error::InitExited { .. })),
        "stop after PID 1 died tears down and reports it: {stopped:?}"
    );
    let c = start(&scratch.root());
    let pid = c.init_pid();
    within(DEADLINE, "stop, then drop", move || c.stop()).expect("stop");
    assert!(!alive(pid));
}

/// Teardown kills and reaps a command that was spawned and never waited for.
#[test]
fn teardown_reaps_a_spawned_but_unwaited_child() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let c = start(&scratch.root());
    let mut child = c
        .command("sleep")
        .arg("1000")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn sleep");
    let pid = child.id();
    assert!(alive(pid));
    within(
        DEADLINE,
        "dropping a container with a running child",
        move || drop(c),
    );
    assert!(!alive(pid), "the child was killed");
    // The child was reaped by the teardown; its handle only reports that.
    let _ = within(DEADLINE, "waiting for the reaped child", move || {
        child.wait()
    });
    leaks.assert_clean();
}

/// B06: a container started from a thread that then ends keeps running.
#[test]
fn container_started_from_a_short_lived_thread_survives_the_thread() {
    let scratch = Scratch::new();
    let root = scratch.root();
    let (c, tid) = std::thread::spawn(move || {
        let tid = rustix::thread::gettid().as_raw_pid();
        (start(&root), tid)
    })
    .join()
    .expect("the starting thread");
    wait_until(DEADLINE, "the starting thread is gone", || {
        !Path::new(&format!("/proc/self/task/{tid}")).exists()
    });
    assert!(c.is_running(), "PID 1 outlives the thread that started it");
    assert_eq!(sh_ok(&c, "echo alive"), "alive\n");
    assert!(c.is_running());
}

/// Ten starts and stops (or drops) in a row leave nothing.
#[test]
fn many_starts_and_stops_leave_nothing() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    for i in 0..10 {
        let c = Container::builder(scratch.root())
            .isolate_network(i % 2 == 0)
            .start()
            .unwrap_or_else(|e| panic!("start #{i}: {e}"));
        assert_eq!(sh_ok(&c, "echo $((1 + 1))"), "2\n");
        if i % 3 == 0 {
            c.stop().expect("stop");
        }
    }
    leaks.assert_clean();
}

/// I02: eight threads start containers and run commands at once.
#[test]
fn eight_threads_start_containers_and_run_commands_at_once() {
    let results = within(
        Duration::from_secs(120),
        "8 threads with containers",
        || {
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let barrier = barrier.clone();
                    std::thread::spawn(move || {
                        let scratch = Scratch::new();
                        barrier.wait();
                        let c = Container::builder(scratch.root())
                            .isolate_network(i % 2 == 1)
                            .hostname(format!("box-{i}"))
                            .start()
                            .unwrap_or_else(|e| panic!("thread {i}: start: {e}"));
                        let mut seen = Vec::new();
                        for j in 0..5 {
                            seen.push(sh_ok(&c, &format!("echo {i}.{j} $(hostname)")));
                        }
                        sh_ok(&c, &format!("echo {i} > /root/thread"));
                        let ps = run(&c, "ps", &["-e"]);
                        let procs = ps_lines(&ps.stdout).len();
                        c.stop().expect("stop");
                        let written = std::fs::read_to_string(scratch.host_path("/root/thread"))
                            .expect("read");
                        (i, seen, procs, written)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a thread failed"))
                .collect::<Vec<_>>()
        },
    );
    assert_eq!(results.len(), 8);
    for (i, seen, procs, written) in results {
        for (j, line) in seen.iter().enumerate() {
            assert_eq!(line, &format!("{i}.{j} box-{i}\n"));
        }
        assert!(procs <= 3, "thread {i}: {procs} processes");
        assert_eq!(written, format!("{i}\n"));
    }
}

/// I04: containers start and run while other threads of the caller allocate and read the
/// environment.
#[test]
fn busy_threads_in_the_caller_while_containers_start_and_run() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let scratch = Scratch::new();
    let root = scratch.root();
    let stop = Arc::new(AtomicBool::new(false));
    let work = Arc::new(AtomicU64::new(0));
    let busy: Vec<_> = (0..4)
        .map(|t| {
            let stop = stop.clone();
            let work = work.clone();
            std::thread::spawn(move || {
                let mut keep: Vec<Vec<u8>> = Vec::new();
                let mut n: u64 = t;
                while !stop.load(Ordering::Relaxed) {
                    n = n
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let size = (n >> 50) as usize + 1;
                    keep.push(vec![t as u8; size]);
                    if keep.len() > 64 {
                        keep.drain(..32);
                    }
                    let _ = std::env::var("PATH");
                    let _ = format!("{n:x}");
                    work.fetch_add(1, Ordering::Relaxed);
                }
                keep.len()
            })
        })
        .collect();
    let outcome = within(Duration::from_secs(60), "containers beside busy threads", {
        move || {
            let mut outputs = Vec::new();
            for round in 0..4 {
                let c = Container::builder(&root)
                    .isolate_network(round % 2 == 0)
                    .start()
                    .unwrap_or_else(|e| panic!("round {round}: {e}"));
                for k in 0..4 {
                    outputs.push(sh_ok(&c, &format!("echo {round}{k}")));
                }
                let children: Vec<_> = (0..4)
                    .map(|_| c.command("true").spawn().expect("spawn"))
                    .collect();
                for mut child in children {
                    assert!(child.wait().expect("wait").success());
                }
            }
            outputs
        }
    });
    stop.store(true, Ordering::Relaxed);
    for t in busy {
        t.join().expect("a busy thread");
    }
    assert!(work.load(Ordering::Relaxed) > 0, "the busy threads did run");
    assert_eq!(outcome.len(), 16);
    for (i, out) in outcome.iter().enumerate() {
        assert_eq!(out, &format!("{}{}\n", i / 4, i % 4));
    }
}

/// After a helper is gone: its container's processes are gone too.
fn assert_container_gone(helper: &Helper) {
    wait_until(DEADLINE, "the container's processes are gone", || {
        processes_in_pid_ns(&helper.pid_ns).is_empty()
            && !alive(helper.init_pid)
            && !alive(helper.sleeper_pid)
    });
    assert!(
        all_processes()
            .iter()
            .all(|p| ns_of(p.pid, "mnt").as_deref() != Some(helper.mnt_ns.as_str())),
        "no process is left in the container's mount namespace"
    );
}

/// B01: the owner process killed with SIGKILL takes its container along.
#[test]
fn caller_killed_with_sigkill_takes_its_container_along() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let mut helper = Helper::start(Path::new(HELPER), "hold", &scratch.root());
    assert!(alive(helper.init_pid) && alive(helper.sleeper_pid));
    assert_eq!(
        processes_in_pid_ns(&helper.pid_ns).len(),
        2,
        "init and sleep"
    );
    helper.kill();
    let (status, _) = helper.wait();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert_container_gone(&helper);
    drop(helper);
    leaks.assert_clean();
}

/// B05: an owner process that panics with a container alive cleans up.
#[test]
fn caller_that_panics_inside_the_context_cleans_up() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let mut helper = Helper::start(Path::new(HELPER), "panic", &scratch.root());
    let (status, stderr) = helper.wait();
    assert_eq!(status.code(), Some(101), "a panic: {stderr}");
    assert!(stderr.contains("deliberate panic"), "{stderr}");
    assert_container_gone(&helper);
    drop(helper);
    leaks.assert_clean();
}

/// B04: an owner that exits without dropping its container takes it along.
#[test]
fn caller_that_exits_without_dropping_takes_its_container_along() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let mut helper = Helper::start(Path::new(HELPER), "exit", &scratch.root());
    let (status, stderr) = helper.wait();
    assert!(status.success(), "{stderr}");
    assert_container_gone(&helper);
    drop(helper);
    leaks.assert_clean();
}

/// B05: a panic in this process with a container alive: the unwinding tears it down.
///
/// The child is left unwaited on purpose: the container's teardown, run by the unwinding,
/// must reap it.
#[test]
#[allow(clippy::zombie_processes)]
fn panic_in_this_process_inside_the_context_cleans_up() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let seen = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let c = start(&scratch.root());
        let child = c.command("sleep").arg("1000").spawn().expect("spawn");
        *seen.lock().expect("lock") = Some((
            c.init_pid(),
            child.id(),
            ns_of(c.init_pid(), "pid").expect("pid ns"),
        ));
        panic!("deliberate panic with a container alive");
    }));
    assert!(result.is_err());
    let (init, sleeper, pid_ns) = seen.lock().expect("lock").clone().expect("recorded");
    assert!(
        !alive(init) && !alive(sleeper),
        "gone as soon as the unwinding is over"
    );
    assert!(processes_in_pid_ns(&pid_ns).is_empty());
    leaks.assert_clean();
}

/// B07: root inside re-opening every fd of PID 1 cannot keep the container alive once its owner
/// is gone.
#[test]
fn root_inside_reopening_pid1s_fds_cannot_keep_the_container_alive() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let mut helper = Helper::start(Path::new(HELPER), "grab", &scratch.root());
    wait_until(DEADLINE, "the grabber has re-opened PID 1's fds", || {
        proc_stat(helper.sleeper_pid).is_some_and(|p| p.comm == "sleep")
    });
    helper.kill();
    helper.wait();
    assert_container_gone(&helper);
    drop(helper);
    leaks.assert_clean();
}

/// Regression (issue 10): `stop` after PID 1 was killed from outside returns
/// `Error::InitExited`, naming PID 1 and the signal; before, it returned `Ok(())` as if the
/// container had been running until then.
#[test]
fn stop_after_pid1_was_killed_reports_it() {
    let scratch = Scratch::new();
    let c = start(&scratch.root());
    let init = c.init_pid();
    sigkill(init).expect("kill PID 1");
    wait_until(DEADLINE, "PID 1 has died", || !c.is_running());
    let result = within(DEADLINE, "stop after PID 1 was killed", move || c.stop());
    match result {
        Err(Error::InitExited { pid, how }) => {
            assert_eq!(pid, init, "names PID 1");
            assert_eq!(how, ExitKind::Signaled(libc::SIGKILL), "and how it ended");
        }
        other => panic!("stop after PID 1 was killed: expected InitExited, got {other:?}"),
    }
}

/// Regression (issue 10): the same while a command spawned into the container is still
/// unreaped — the kernel keeps the killed PID 1 exiting, not exited, until our child is
/// reaped; `is_running` must already say no, and `stop` must still report it.
#[test]
fn stop_after_pid1_was_killed_reports_it_while_a_command_is_unreaped() {
    let scratch = Scratch::new();
    let c = start(&scratch.root());
    let init = c.init_pid();
    let mut sleeper = c.command("sleep").arg("600").spawn().expect("spawn sleep");
    sigkill(init).expect("kill PID 1");
    wait_until(DEADLINE, "PID 1 is no longer running", || !c.is_running());
    let result = within(DEADLINE, "stop after PID 1 was killed", move || c.stop());
    match result {
        Err(Error::InitExited { pid, how }) => {
            assert_eq!(pid, init, "names PID 1");
            assert_eq!(how, ExitKind::Signaled(libc::SIGKILL), "and how it ended");
        }
        other => panic!("stop after PID 1 was killed: expected InitExited, got {other:?}"),
    }
    // Teardown reaped the command with PID 1 (documented on `Container::stop`).
    assert!(
        sleeper.wait().is_err(),
        "the sleeper was reaped by teardown"
    );
}

/// Regression (issue 10): a caller without root (`furnace-test-helper as-nobody`: uid and gid
/// 65534, no groups) that did not enter a user namespace gets `Error::NeedsRoot`, whose
/// message names the fix (issue 11: `rootless::enter`); before, a bare `clone3 …: EPERM`.
#[test]
fn a_caller_without_root_is_told_that_furnace_needs_root() {
    let scratch = Scratch::new();
    let mut helper = std::process::Command::new(HELPER)
        .arg("as-nobody")
        .arg(scratch.root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start furnace-test-helper as-nobody");
    let status = wait_child(&mut helper, "the caller without root");
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let _ = helper
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut stdout);
    let _ = helper
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr);
    assert!(
        status.success(),
        "the start without root is refused as NeedsRoot: {status}\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stdout.contains("CAP_SYS_ADMIN")
            && stdout.contains("furnace_core::rootless::enter(IdMapping::Auto)"),
        "the message names what is missing and the fix: {stdout}"
    );
}

/// Regression (issue 10): a start whose set-up hangs (`FURNACE_FAILPOINT=pid1-start:pause`, in
/// a helper so that the variable reaches no other test) with `start_timeout(1 s)` returns
/// `Error::StartTimeout` within a few seconds and leaves nothing: no PID 1, no mount. Before,
/// there was no deadline: `start` waited for ever.
#[test]
fn a_start_that_hangs_times_out_and_leaves_nothing() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let began = Instant::now();
    let mut helper = std::process::Command::new(HELPER)
        .arg("run-with")
        .arg(scratch.root())
        .args(["--start-timeout", "1", "--", "/bin/true"])
        .env("FURNACE_FAILPOINT", "pid1-start:pause")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start furnace-test-helper run-with");
    let status = wait_child(&mut helper, "a start whose set-up hangs");
    let took = began.elapsed();
    let mut stderr = String::new();
    let _ = helper
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr);
    drop(helper);
    assert_eq!(status.code(), Some(3), "the start fails: {stderr}");
    assert!(
        stderr.contains("error value: StartTimeout {"),
        "as Error::StartTimeout: {stderr}"
    );
    assert!(
        took < Duration::from_secs(10),
        "the deadline of 1 s ended the start after {took:?}"
    );
    leaks.assert_clean();
}
