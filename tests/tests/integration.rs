//! furnace's privileged integration suite: every case of the original's suite (SPEC §3), the
//! cases of the integration issue and the behaviour points of the core issue.
//!
//! Run through `cargo xtask itest` (root, the test image mounted read-only and named by
//! `FURNACE_TEST_IMAGE`). Every test works on its own throw-away overlay ([`Scratch`]); the
//! ones that check the whole machine for leftovers hold their scratch exclusively.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use furnace_core::{BindMount, Container, Error, PathProblem};
use furnace_tests::*;

const HELPER: &str = env!("CARGO_BIN_EXE_furnace-test-helper");

/// Starts a container with the defaults, panicking with the error's message.
fn start(root: &Path) -> Container {
    Container::start(root).unwrap_or_else(|e| panic!("cannot start a container: {e}"))
}

/// Starts a container with isolated networking.
fn start_isolated(root: &Path) -> Container {
    Container::builder(root)
        .isolate_network(true)
        .start()
        .unwrap_or_else(|e| panic!("cannot start a container: {e}"))
}

/// The processes a `ps` printed (lines after the header).
fn ps_lines(out: &str) -> Vec<String> {
    out.lines().skip(1).map(str::to_owned).collect()
}

/// The interface names `ip address list` printed.
fn interfaces(ip_output: &str) -> Vec<(String, String)> {
    ip_output
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| {
            let mut parts = l.splitn(3, ": ");
            let _index = parts.next()?;
            let name = parts.next()?.split('@').next()?.to_owned();
            let flags = parts.next().unwrap_or("").to_owned();
            Some((name, flags))
        })
        .collect()
}

fn host_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("read the host's hostname")
        .trim_end()
        .to_owned()
}

/// Writes an executable shell script at `path` on the host.
fn write_script(path: &Path, body: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create the script's directory");
    }
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write the script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A directory tree that is *not* a mount point but is a complete root: `usr` of the image
/// bind-mounted read-only into it, the top-level links, dirs and `/etc` copied.
struct PlainRoot {
    root: PathBuf,
    _usr: furnace_core::host::BindMountGuard,
}

impl PlainRoot {
    fn new(scratch: &Scratch) -> PlainRoot {
        let image = image();
        let root = scratch.dir().join("plain-root");
        std::fs::create_dir(&root).expect("create the plain root");
        for entry in std::fs::read_dir(&image).expect("list the image").flatten() {
            let name = entry.file_name();
            let to = root.join(&name);
            let kind = entry.file_type().expect("file type");
            if kind.is_symlink() {
                let target = std::fs::read_link(entry.path()).expect("readlink");
                std::os::unix::fs::symlink(target, &to).expect("symlink");
            } else if kind.is_dir() {
                std::fs::create_dir(&to).expect("mkdir");
                let mode = entry.metadata().expect("stat").permissions().mode();
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))
                    .expect("chmod");
            }
        }
        for entry in std::fs::read_dir(image.join("etc"))
            .expect("list /etc")
            .flatten()
        {
            let to = root.join("etc").join(entry.file_name());
            if entry.file_type().expect("file type").is_symlink() {
                let target = std::fs::read_link(entry.path()).expect("readlink");
                std::os::unix::fs::symlink(target, &to).expect("symlink");
            } else {
                std::fs::copy(entry.path(), &to).expect("copy /etc");
            }
        }
        std::fs::create_dir_all(root.join("run/lock")).expect("mkdir run/lock");
        std::os::unix::fs::symlink("/run/lock", root.join("var/lock")).expect("var/lock");
        let usr =
            furnace_core::host::BindMountGuard::new(image.join("usr"), root.join("usr"), true)
                .unwrap_or_else(|e| panic!("bind the image's usr: {e}"));
        assert!(
            !furnace_sys::mountinfo::is_mount_point(&root).expect("check the plain root"),
            "the plain root must not be a mount point"
        );
        PlainRoot { root, _usr: usr }
    }

    /// Every path in the tree (not descending into usr), sorted.
    fn listing(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("list").flatten() {
                let path = entry.path();
                if path != self.root.join("usr") && entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(path.clone());
                }
                out.push(path);
            }
        }
        out.sort();
        out
    }
}

mod lifecycle {
    use super::*;

    #[test]
    fn pid1_is_our_own_small_init() {
        let scratch = Scratch::new();
        let c = start(&scratch.root());
        assert!(c.is_running());
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", c.init_pid()))
            .expect("read PID 1's comm on the host");
        assert_eq!(comm.trim_end(), "furnace-init");
        assert_eq!(sh_ok(&c, "cat /proc/1/comm").trim_end(), "furnace-init");
        let exe = std::fs::read_link(format!("/proc/{}/exe", c.init_pid()))
            .expect("readlink PID 1's exe");
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

    #[test]
    fn start_returns_only_once_set_up() {
        let scratch = Scratch::new();
        let c = start(&scratch.root());
        // No waiting: the last steps of the set-up are visible through PID 1 right away.
        let root = PathBuf::from(format!("/proc/{}/root", c.init_pid()));
        assert!(
            root.join("run/lock").is_dir(),
            "/run/lock made before ready"
        );
        assert!(
            root.join("dev/null").exists(),
            "/dev/null made before ready"
        );
        assert!(root.join("proc/1").exists(), "/proc mounted before ready");
    }

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

    #[test]
    fn pid1_killed_from_outside_gives_a_clear_error_and_drop_still_cleans_up() {
        let scratch = Scratch::exclusive();
        let leaks = LeakCheck::snapshot();
        let c = start(&scratch.root());
        sh_ok(&c, "true");
        // SAFETY: kill(2) with a pid and a signal number; PID 1 is our child and not yet
        // reaped, so the pid cannot have been reused.
        let rc = unsafe { libc::kill(c.init_pid() as libc::pid_t, libc::SIGKILL) };
        assert_eq!(rc, 0, "kill PID 1");
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

    #[test]
    fn pid1_killed_while_a_command_runs() {
        let scratch = Scratch::exclusive();
        let leaks = LeakCheck::snapshot();
        let c = start(&scratch.root());
        let mut child = c.command("sleep").arg("1000").spawn().expect("spawn sleep");
        // SAFETY: kill(2) on our unreaped child.
        let rc = unsafe { libc::kill(c.init_pid() as libc::pid_t, libc::SIGKILL) };
        assert_eq!(rc, 0);
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

    #[test]
    fn command_right_after_pid1_was_killed_fails_clearly() {
        let scratch = Scratch::exclusive();
        let leaks = LeakCheck::snapshot();
        let c = start(&scratch.root());
        let mut child = c.command("sleep").arg("1000").spawn().expect("spawn sleep");
        // SAFETY: kill(2) on our unreaped child.
        let rc = unsafe { libc::kill(c.init_pid() as libc::pid_t, libc::SIGKILL) };
        assert_eq!(rc, 0);
        // Once the kernel has killed our command, PID 1 is in its exit, which our unreaped
        // command keeps from finishing; a command now must fail all the same, and say why.
        let pid = child.id();
        wait_until(DEADLINE, "the command is killed", || {
            proc_stat(pid).is_some_and(|p| p.state == 'Z')
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

    #[test]
    fn stop_after_pid1_died_and_double_teardown_are_safe() {
        let scratch = Scratch::new();
        let c = start(&scratch.root());
        // SAFETY: as above: kill(2) on our unreaped child.
        let rc = unsafe { libc::kill(c.init_pid() as libc::pid_t, libc::SIGKILL) };
        assert_eq!(rc, 0);
        wait_until(DEADLINE, "PID 1 has died", || !c.is_running());
        // stop tears down (once), and the drop that follows does nothing more.
        within(DEADLINE, "stop after PID 1 died", move || c.stop())
            .expect("stop after PID 1 died is fine");
        let c = start(&scratch.root());
        let pid = c.init_pid();
        within(DEADLINE, "stop, then drop", move || c.stop()).expect("stop");
        assert!(!alive(pid));
    }

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

    #[test]
    fn container_started_from_a_short_lived_thread_survives_the_thread() {
        let scratch = Scratch::new();
        let root = scratch.root();
        let (c, tid) = std::thread::spawn(move || {
            // SAFETY: gettid(2) takes no arguments.
            let tid = unsafe { libc::gettid() };
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
}

mod exec {
    use super::*;

    #[test]
    fn exit_codes_come_back_unchanged() {
        let scratch = Scratch::new();
        let c = start(&scratch.root());
        for (script, code) in [
            ("exit 0", 0),
            ("exit 1", 1),
            ("exit 42", 42),
            ("exit 255", 255),
        ] {
            let status = c
                .command("sh")
                .args(["-c", script])
                .status()
                .expect("run sh");
            assert_eq!(status.code(), Some(code), "{script}");
        }
        assert!(c.command("true").status().expect("true").success());
        assert_eq!(c.command("false").status().expect("false").code(), Some(1));
    }

    #[test]
    fn sh_exit_42_returns_42() {
        let scratch = Scratch::new();
        let c = start(&scratch.root());
        let (status, _, _) = sh(&c, "exit 42");
        assert_eq!(status.code(), Some(42));
    }

    #[test]
    fn death_by_signal_is_reported_as_a_signal() {
        let scratch = Scratch::new();
        let c = start(&scratch.root());
        let (status, _, _) = sh(&c, "kill -9 $$");
        assert_eq!(status.code(), None);
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        let (status, _, _) = sh(&c, "kill -TERM $$");
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        let mut child = c.command("sleep").arg("1000").spawn().expect("spawn");
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "still running"
        );
        child.kill().expect("kill");
        assert_eq!(child.wait().expect("wait").signal(), Some(libc::SIGKILL));
    }

    #[test]
    fn environment_is_set_inherited_removed_and_cleared() {
        let scratch = Scratch::new();
        let c = start(&scratch.root());
        let out = c
            .command("sh")
            .args(["-c", "echo \"$FOO|$BAR|$BAZ\""])
            .env("FOO", "one")
            .envs([("BAR", "two"), ("BAZ", "three four")])
            .output()
            .expect("run");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "one|two|three four\n");
        // Inherited like std: this process's PATH reaches the command.
        let path = std::env::var("PATH").expect("the test process has a PATH");
        let out = c
            .command("sh")
            .args(["-c", "echo \"$PATH\""])
            .output()
            .expect("run");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), path);
        let out = c
            .command("sh")
            .args(["-c", "echo \"${GONE-unset}\""])
            .env("GONE", "x")
            .env_remove("GONE")
            .output()
            .expect("run");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "unset\n");
        let out = c
            .command("env")
            .env_clear()
            .env("ONLY", "this")
            .output()
            .expect("env with a cleared environment (found through the default PATH)");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ONLY=this\n");
        let out = c.command("env").env_clear().output().expect("run env");
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "",
            "empty environment"
        );
    }

    #[test]
    fn current_dir_is_a_path_inside() {
        let scratch = Scratch::new();
        let name = unique_name("cwd");
        std::fs::create_dir(scratch.host_path(&name)).expect("mkdir inside");
        assert!(!Path::new("/").join(&name).exists());
        let c = start(&scratch.root());
        let out = c
            .command("pwd")
            .current_dir(format!("/{name}"))
            .output()
            .expect("pwd");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim_end(),
            format!("/{name}")
        );
        let out = c.command("pwd").current_dir("etc").output().expect("pwd");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "/etc\n",
            "relative to /"
        );
        let out = c.command("pwd").output().expect("pwd");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "/\n", "default /");
        // A directory that exists only on the host is not found inside.
        let host_only = TempDir::new("host-only-cwd");
        let err = c
            .command("pwd")
            .current_dir(host_only.path())
            .output()
            .expect_err("a host-only directory does not exist inside");
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    }

    #[test]
    fn program_lookup_happens_inside() {
        let scratch = Scratch::new();
        let name = unique_name("inside-only");
        write_script(
            &scratch.host_path(format!("/usr/bin/{name}")),
            "echo inside",
        );
        write_script(
            &scratch.host_path(format!("/opt/{name}/bin/{name}-2")),
            "echo inside-2",
        );
        let c = start(&scratch.root());
        let out = c
            .command(&name)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .output()
            .expect("a program only the container has is found through PATH");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "inside\n");
        let out = c
            .command(format!("{name}-2"))
            .env("PATH", format!("/opt/{name}/bin"))
            .output()
            .expect("PATH is searched inside");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "inside-2\n");
        let out = c.command("busybox").arg("true").output().expect("busybox");
        assert!(out.status.success());
        // A program that exists only on the host is not found, by name or by path.
        let cargo = Path::new(env!("CARGO"));
        assert!(cargo.exists(), "cargo exists on the host");
        assert!(!scratch.host_path(cargo).exists(), "but not in the image");
        let cargo_dir = cargo.parent().expect("cargo's directory");
        let err = c
            .command("cargo")
            .env("PATH", format!("{}:/usr/bin:/bin", cargo_dir.display()))
            .output()
            .expect_err("cargo is not in the container");
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
        let err = c
            .command(cargo)
            .output()
            .expect_err("cargo's host path is not in the container");
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    }

    #[test]
    fn uid_and_gid_are_set_inside() {
        let scratch = Scratch::new();
        let c = start(&scratch.root());
        let id = |args: &[&str], uid: Option<u32>, gid: Option<u32>| {
            let mut cmd = c.command("id");
            cmd.args(args);
            if let Some(uid) = uid {
                cmd.uid(uid);
            }
            if let Some(gid) = gid {
                cmd.gid(gid);
            }
            let out = cmd.output().expect("id");
            assert!(out.status.success(), "{out:?}");
            String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
        };
        assert_eq!(id(&["-u"], Some(65534), None), "65534");
        assert_eq!(id(&["-u"], Some(65534), Some(65534)), "65534");
        assert_eq!(id(&["-g"], Some(65534), Some(65534)), "65534");
        assert_eq!(
            id(&["-G"], Some(65534), Some(65534)),
            "65534",
            "no extra groups"
        );
        assert_eq!(id(&["-u"], Some(1234), Some(4321)), "1234");
        assert_eq!(id(&["-g"], Some(1234), Some(4321)), "4321");
        assert_eq!(id(&["-u"], None, None), "0");
        let status = c
            .command("touch")
            .arg("/etc/by-nobody")
            .uid(65534)
            .gid(65534)
            .stderr(Stdio::null())
            .status()
            .expect("touch");
        assert!(!status.success(), "nobody cannot write to /etc");
    }

    #[test]
    fn one_command_spawned_again_after_changes_applies_the_new_settings() {
        let scratch = Scratch::new();
        for hardened in [false, true] {
            let c = Container::builder(scratch.root())
                .hardened(hardened)
                .start()
                .expect("start");
            let mut cmd = c.command("sh");
            cmd.args(["-c", "pwd; id -u"]).uid(65534);
            let first = cmd.output().expect("first spawn");
            assert!(first.status.success(), "hardened={hardened}: {first:?}");
            assert_eq!(String::from_utf8_lossy(&first.stdout), "/\n65534\n");
            // The second spawn of the same command, changed in between, must neither re-run
            // the first spawn's settings (a second setns after dropping privileges fails) nor
            // ignore the new ones.
            cmd.current_dir("/tmp").uid(0);
            let second = cmd.output().expect("second spawn");
            assert!(second.status.success(), "hardened={hardened}: {second:?}");
            assert_eq!(String::from_utf8_lossy(&second.stdout), "/tmp\n0\n");
        }
    }

    #[test]
    fn children_are_in_every_namespace_of_the_container() {
        let scratch = Scratch::new();
        for isolated in [false, true] {
            let c = Container::builder(scratch.root())
                .isolate_network(isolated)
                .start()
                .expect("start");
            let mut child = c.command("sleep").arg("1000").spawn().expect("spawn sleep");
            // The Child's id is the host pid.
            for kind in ["pid", "mnt", "uts", "ipc", "cgroup", "net"] {
                assert_eq!(
                    ns_of(child.id(), kind),
                    ns_of(c.init_pid(), kind),
                    "the command is in the container's {kind} namespace"
                );
            }
            let root = std::fs::read_link(format!("/proc/{}/root", child.id()));
            let init_root = std::fs::read_link(format!("/proc/{}/root", c.init_pid()));
            assert_eq!(root.ok(), init_root.ok(), "rooted like PID 1");
            child.kill().expect("kill");
            child.wait().expect("wait");
        }
    }

    #[test]
    fn hostname_is_localhost_by_default() {
        let scratch = Scratch::new();
        let before = host_hostname();
        let c = start(&scratch.root());
        assert_eq!(sh_ok(&c, "hostname"), "localhost\n");
        assert_eq!(sh_ok(&c, "uname -n"), "localhost\n");
        drop(c);
        assert_eq!(host_hostname(), before, "the host's hostname is unchanged");
    }

    #[test]
    fn custom_hostname_inside_only() {
        let scratch = Scratch::new();
        let before = host_hostname();
        let c = Container::builder(scratch.root())
            .hostname("furnace-box")
            .start()
            .expect("start");
        assert_eq!(sh_ok(&c, "hostname"), "furnace-box\n");
        assert_eq!(
            host_hostname(),
            before,
            "unchanged on the host while it runs"
        );
        let err = Container::builder(scratch.root())
            .hostname("bad name")
            .start()
            .expect_err("a hostname with a space is refused");
        assert!(matches!(err, Error::InvalidHostname { .. }), "{err}");
        drop(c);
        assert_eq!(host_hostname(), before, "unchanged on the host afterwards");
    }

    #[test]
    fn commands_from_many_threads_into_one_container() {
        let scratch = Scratch::new();
        let c = start(&scratch.root());
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let c = &c;
                    s.spawn(move || {
                        for j in 0..5 {
                            let out = sh_ok(c, &format!("echo {i}-{j}"));
                            assert_eq!(out, format!("{i}-{j}\n"));
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().expect("thread");
            }
        });
        let ps = run(&c, "ps", &["-o", "pid"]);
        assert_eq!(
            ps_lines(&ps.stdout).len(),
            2,
            "every command is gone: {}",
            ps.stdout
        );
    }
}

mod io {
    use super::*;

    #[test]
    fn stdout_and_stderr_are_piped_apart() {
        let scratch = Scratch::new();
        let c = start(&scratch.root());
        let (status, out, err) = sh(&c, "echo to-out; echo to-err >&2; exit 3");
        assert_eq!(status.code(), Some(3));
        assert_eq!(out, "to-out\n");
        assert_eq!(err, "to-err\n");
        // Big output does not dead-lock.
        let out = c
            .command("dd")
            .args(["if=/dev/zero", "bs=1024", "count=2048"])
            .output()
            .expect("dd");
        assert_eq!(out.stdout.len(), 2048 * 1024);
    }

    #[test]
    fn stdin_is_piped() {
        let scratch = Scratch::new();
        let c = start(&scratch.root());
        let mut child = c
            .command("tr")
            .args(["a-z", "A-Z"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn tr");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"hello from outside\n")
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success());
        assert_eq!(out.stdout, b"HELLO FROM OUTSIDE\n");
        let out = c.command("cat").output().expect("cat with null stdin");
        assert!(out.status.success() && out.stdout.is_empty());
    }

    #[test]
    fn pipeline_of_two_container_processes_into_a_file_outside() {
        let scratch = Scratch::new();
        let c = start(&scratch.root());
        let target = scratch.dir().join("passwd.gz");
        let mut cat = c
            .command("cat")
            .arg("/etc/passwd")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn cat");
        let file = std::fs::File::create(&target).expect("create the file outside");
        let gzip = c
            .command("gzip")
            .stdin(Stdio::from(cat.stdout.take().expect("cat's stdout")))
            .stdout(file)
            .status()
            .expect("gzip");
        assert!(gzip.success());
        assert!(cat.wait().expect("wait cat").success());
        let compressed = std::fs::read(&target).expect("read the file outside");
        assert_eq!(&compressed[..2], &[0x1f, 0x8b], "gzip magic");
        // Decompress (inside, so the host needs no gzip) and compare with the image's file.
        let out = c
            .command("gunzip")
            .arg("-c")
            .stdin(std::fs::File::open(&target).expect("open"))
            .output()
            .expect("gunzip");
        assert!(out.status.success());
        let original = std::fs::read(image().join("etc/passwd")).expect("read the image's passwd");
        assert_eq!(out.stdout, original);
    }

    #[test]
    fn stdio_redirected_to_files_outside() {
        let scratch = Scratch::new();
        let c = start(&scratch.root());
        let input = scratch.dir().join("in.txt");
        let output = scratch.dir().join("out.txt");
        let errors = scratch.dir().join("err.txt");
        std::fs::write(&input, "line one\nline two\n").expect("write input");
        let status = c
            .command("sh")
            .args(["-c", "wc -l; echo oops >&2"])
            .stdin(std::fs::File::open(&input).expect("open"))
            .stdout(std::fs::File::create(&output).expect("create"))
            .stderr(std::fs::File::create(&errors).expect("create"))
            .status()
            .expect("run");
        assert!(status.success());
        assert_eq!(std::fs::read_to_string(&output).expect("read").trim(), "2");
        assert_eq!(std::fs::read_to_string(&errors).expect("read"), "oops\n");
    }

    /// fds opened without `O_CLOEXEC`, closed on drop.
    struct LeakyFds(Vec<i32>);

    impl Drop for LeakyFds {
        fn drop(&mut self) {
            for fd in &self.0 {
                // SAFETY: closing fds this guard opened and owns.
                unsafe { libc::close(*fd) };
            }
        }
    }

    #[test]
    fn no_fd_of_the_caller_reaches_the_container() {
        let scratch = Scratch::new();
        let canary = scratch.dir().join("leak-canary");
        std::fs::write(&canary, "x").expect("write canary");
        let mut fds = LeakyFds(Vec::new());
        for path in [canary.as_path(), Path::new("/dev/null"), scratch.dir()] {
            let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
                .expect("no NUL in the path");
            // SAFETY: open(2) with a valid C string and no O_CLOEXEC, on purpose.
            let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_RDONLY) };
            assert!(fd >= 0, "open {}", path.display());
            fds.0.push(fd);
        }
        let c = start(&scratch.root());
        let parse = |listing: &str| -> Vec<(u32, String)> {
            listing
                .lines()
                .filter(|l| !l.starts_with("total"))
                .filter_map(|l| {
                    let (left, target) = match l.split_once(" -> ") {
                        Some((left, target)) => (left, target.to_owned()),
                        None => (l, String::new()),
                    };
                    let fd = left.split_whitespace().last()?.parse().ok()?;
                    Some((fd, target))
                })
                .collect()
        };
        for shell in ["sh", "bash"] {
            // `; true`: the shell must not exec ls in its own place.
            let out = run(&c, shell, &["-c", "ls -l /proc/$$/fd; true"]);
            assert!(out.status.success(), "{shell}: {}", out.stderr);
            let fds: Vec<u32> = parse(&out.stdout).into_iter().map(|(fd, _)| fd).collect();
            assert!(
                fds.iter().all(|fd| [0, 1, 2, 255].contains(fd)) && fds.len() >= 3,
                "{shell} inside has only stdio open:\n{}",
                out.stdout
            );
        }
        let out = run(&c, "ls", &["-l", "/proc/self/fd"]);
        for (fd, target) in parse(&out.stdout) {
            assert!(
                fd <= 2 || target.is_empty() || target.starts_with("/proc/"),
                "only stdio and ls's own directory fd:\n{}",
                out.stdout
            );
        }
        assert!(!out.stdout.contains("leak-canary"), "{}", out.stdout);
        // PID 1 holds /dev/null as stdio and a pidfd of its owner, nothing of ours.
        for entry in std::fs::read_dir(format!("/proc/{}/fd", c.init_pid()))
            .expect("list PID 1's fds")
            .flatten()
        {
            let target = std::fs::read_link(entry.path()).expect("readlink");
            let target = target.to_string_lossy();
            assert!(
                target == "/dev/null" || target == "anon_inode:[pidfd]",
                "PID 1 holds fd {:?} -> {target}",
                entry.file_name()
            );
        }
        drop(c);
        drop(fds);
    }
}

mod fs {
    use super::*;

    #[test]
    fn root_that_is_a_mount_point_works() {
        let scratch = Scratch::new();
        assert!(furnace_sys::mountinfo::is_mount_point(scratch.root()).expect("check"));
        let c = start(&scratch.root());
        assert_eq!(
            sh_ok(&c, "cat /etc/os-release | grep ^ID="),
            "ID=furnace-test\n"
        );
        drop(c);
        assert!(
            scratch.upper_entries().is_empty(),
            "{:?}",
            scratch.upper_entries()
        );
    }

    #[test]
    fn root_that_is_not_a_mount_point_works_and_keeps_no_trace() {
        let scratch = Scratch::new();
        let plain = PlainRoot::new(&scratch);
        let before = plain.listing();
        let c = start(&plain.root);
        let ps = run(&c, "ps", &["-e"]);
        assert!(ps.status.success());
        assert!(ps_lines(&ps.stdout).len() <= 3, "{}", ps.stdout);
        sh_ok(&c, "echo written > /root/note");
        assert_eq!(
            std::fs::read_to_string(plain.root.join("root/note")).expect("read"),
            "written\n"
        );
        drop(c);
        std::fs::remove_file(plain.root.join("root/note")).expect("rm");
        assert_eq!(
            plain.listing(),
            before,
            "no old_root or other trace in the tree"
        );
        assert!(
            !furnace_sys::mountinfo::is_mount_point(&plain.root).expect("check"),
            "the self-bind did not stay on the host"
        );
    }

    #[test]
    fn file_written_inside_is_visible_outside() {
        let scratch = Scratch::new();
        let c = start(&scratch.root());
        sh_ok(&c, "printf 'furnace\\nwas here\\n' > /root/hello.txt");
        assert_eq!(
            std::fs::read_to_string(scratch.host_path("/root/hello.txt")).expect("read"),
            "furnace\nwas here\n"
        );
        assert!(
            scratch.upper().join("root/hello.txt").is_file(),
            "in the upper dir"
        );
    }

    #[test]
    fn mount_made_on_the_host_after_start_is_visible_inside() {
        use furnace_sys::mount::{self, MountFlags, Propagation, UnmountFlags};
        let scratch = Scratch::new();
        mount::set_propagation(scratch.root(), Propagation::Shared, false).expect("make-shared");
        let c = start(&scratch.root());
        assert_eq!(sh_ok(&c, "ls -A /mnt"), "");
        let target = scratch.host_path("/mnt");
        mount::mount(
            Some("tmpfs"),
            &target,
            "tmpfs",
            MountFlags::empty(),
            Some("size=1m"),
        )
        .expect("mount a tmpfs on the host");
        std::fs::write(target.join("late"), "mounted later\n").expect("write");
        let seen = sh_ok(&c, "cat /mnt/late");
        mount::umount2(&target, UnmountFlags::empty()).expect("unmount on the host");
        assert_eq!(seen, "mounted later\n");
        wait_until(DEADLINE, "the unmount reaches the container", || {
            sh_ok(&c, "ls -A /mnt").is_empty()
        });
    }

    #[test]
    fn mounts_made_inside_stay_inside() {
        use furnace_sys::mount::{self, Propagation};
        let scratch = Scratch::exclusive();
        // A shared root is the hard case: only slave propagation keeps mounts from flowing back.
        mount::set_propagation(scratch.root(), Propagation::Shared, false).expect("make-shared");
        let leaks = LeakCheck::snapshot();
        let c = start(&scratch.root());
        sh_ok(&c, "mount -t tmpfs inner /mnt && echo x > /mnt/inner-file");
        assert!(!scratch.host_path("/mnt/inner-file").exists());
        assert!(
            mount_points_under(scratch.dir()).len() == 1,
            "only the overlay on the host"
        );
        // Inside, no host mount is reachable: the old root is gone.
        let info = sh_ok(&c, "cat /proc/self/mountinfo");
        let points: Vec<PathBuf> = info.lines().map(mount_point_of).collect();
        assert_eq!(
            points.iter().filter(|p| *p == Path::new("/")).count(),
            1,
            "one root, the old one detached:\n{info}"
        );
        let root_line = info
            .lines()
            .find(|l| mount_point_of(l) == Path::new("/"))
            .expect("a root line");
        assert!(
            root_line.contains(" - overlay "),
            "the root is the scratch overlay, nothing stacked on it: {root_line}"
        );
        assert_eq!(
            sh_ok(&c, "grep ^ID= /etc/os-release"),
            "ID=furnace-test\n",
            "commands see the image"
        );
        assert!(
            !points
                .iter()
                .any(|p| p.to_string_lossy().contains("furnace-test-")),
            "no host path in the container's mount table:\n{info}"
        );
        drop(c);
        leaks.assert_clean();
    }

    #[test]
    fn var_lock_and_run_lock_exist() {
        let scratch = Scratch::new();
        let c = start(&scratch.root());
        sh_ok(
            &c,
            "test -d /run/lock && test -d /var/lock && touch /var/lock/x && test -e /run/lock/x",
        );
        assert!(
            !scratch.host_path("/run/lock/x").exists(),
            "/run is a tmpfs"
        );
    }

    #[test]
    fn standard_filesystems_and_devices_are_there() {
        let scratch = Scratch::new();
        let c = start(&scratch.root());
        let mounts = sh_ok(&c, "cat /proc/mounts");
        let find = |point: &str| -> (String, String) {
            let line = mounts
                .lines()
                .find(|l| l.split(' ').nth(1) == Some(point))
                .unwrap_or_else(|| panic!("{point} is mounted:\n{mounts}"));
            let fields: Vec<&str> = line.split(' ').collect();
            (fields[2].to_owned(), fields[3].to_owned())
        };
        let has = |opts: &str, opt: &str| opts.split(',').any(|o| o == opt);
        let (fstype, _) = find("/proc");
        assert_eq!(fstype, "proc");
        let (fstype, opts) = find("/dev");
        assert_eq!(fstype, "tmpfs");
        assert!(has(&opts, "nosuid") && has(&opts, "mode=755"), "{opts}");
        let (fstype, opts) = find("/dev/pts");
        assert_eq!(fstype, "devpts");
        assert!(
            has(&opts, "ptmxmode=666") && has(&opts, "mode=620") && has(&opts, "gid=5"),
            "{opts}"
        );
        // tmpfs shows its mode only when it is not the default 1777: stat checks those below.
        assert_eq!(find("/dev/shm").0, "tmpfs");
        assert_eq!(find("/dev/mqueue").0, "mqueue");
        let (fstype, opts) = find("/sys");
        assert_eq!(fstype, "sysfs");
        assert!(has(&opts, "ro"), "{opts}");
        assert_eq!(find("/run").0, "tmpfs");
        sh_ok(
            &c,
            "for d in null zero full tty random urandom; do test -c /dev/$d || exit 1; done; \
             test -c /dev/loop-control && test -b /dev/loop0 && \
             test -L /dev/fd && test -L /dev/stdin && test -L /dev/ptmx && \
             test \"$(stat -c %a /dev/null)\" = 666 && test \"$(stat -c %a /dev/shm)\" = 1777 && \
             test \"$(stat -c %a /run)\" = 1777 && test \"$(stat -c %a /dev)\" = 755",
        );
        assert_eq!(sh_ok(&c, "head -c 16 /dev/urandom | wc -c").trim(), "16");
        assert_eq!(
            sh_ok(&c, "echo via-dev-stdout > /dev/stdout"),
            "via-dev-stdout\n"
        );
        let (status, _, _) = sh(&c, "echo x > /dev/full");
        assert!(!status.success(), "/dev/full is full");
        let (status, _, _) = sh(&c, "touch /sys/furnace-test 2>/dev/null");
        assert!(!status.success(), "/sys is read-only");
    }

    #[test]
    fn loop_mount_inside_works_and_leaves_no_loop_device() {
        let scratch = Scratch::new();
        let image_name = format!("{}.img", unique_name("loop"));
        let c = start(&scratch.root());
        let out = sh_ok(
            &c,
            &format!(
                "set -e; dd if=/dev/zero of=/tmp/{image_name} bs=1M count=8 2>/dev/null; \
                 mkfs.ext4 -q /tmp/{image_name}; mkdir -p /mnt/loop; \
                 mount -o loop /tmp/{image_name} /mnt/loop; \
                 echo on-the-loop > /mnt/loop/file; sync; cat /mnt/loop/file; \
                 grep -q ' /mnt/loop ext4 ' /proc/mounts; umount /mnt/loop"
            ),
        );
        assert_eq!(out, "on-the-loop\n");
        drop(c);
        wait_until(DEADLINE, "the loop device is detached", || {
            !attached_loop_devices()
                .iter()
                .any(|(_, file)| file.contains(&image_name))
        });
    }

    #[test]
    fn loop_device_left_mounted_inside_is_detached_at_teardown() {
        let scratch = Scratch::exclusive();
        let leaks = LeakCheck::snapshot();
        let image_name = format!("{}.img", unique_name("loop"));
        let c = start(&scratch.root());
        sh_ok(
            &c,
            &format!(
                "set -e; dd if=/dev/zero of=/tmp/{image_name} bs=1M count=8 2>/dev/null; \
                 mkfs.ext4 -q /tmp/{image_name}; mkdir -p /mnt/loop; \
                 mount -o loop /tmp/{image_name} /mnt/loop; echo x > /mnt/loop/file"
            ),
        );
        assert!(
            attached_loop_devices()
                .iter()
                .any(|(_, file)| file.contains(&image_name)),
            "attached while mounted inside: {:?}",
            attached_loop_devices()
        );
        drop(c);
        leaks.assert_clean();
    }

    #[test]
    fn isolated_network_modifies_no_file_of_the_root() {
        let scratch = Scratch::new();
        let c = start_isolated(&scratch.root());
        for script in [
            "ps aux",
            "ls -la / /dev /run /tmp /etc",
            "cat /etc/passwd /etc/resolv.conf",
            "ip address list",
            "hostname",
            "id",
            "cat /proc/self/mountinfo",
        ] {
            sh_ok(&c, &format!("{script} >/dev/null"));
        }
        c.stop().expect("stop");
        assert_eq!(
            scratch.upper_entries(),
            Vec::<PathBuf>::new(),
            "nothing written to the root"
        );
    }

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
}

mod net {
    use super::*;

    #[test]
    fn isolated_network_has_only_lo_and_it_is_up() {
        let scratch = Scratch::new();
        let c = start_isolated(&scratch.root());
        let out = sh_ok(&c, "ip address list");
        let ifaces = interfaces(&out);
        assert_eq!(ifaces.len(), 1, "only lo:\n{out}");
        assert_eq!(ifaces[0].0, "lo");
        assert!(ifaces[0].1.contains("UP"), "lo is up: {out}");
        assert!(out.contains("127.0.0.1"), "{out}");
        assert_ne!(ns_of(c.init_pid(), "net"), ns_of(std::process::id(), "net"));
        // lo works: something listens and answers on it.
        sh_ok(&c, "ping -c 1 -W 5 127.0.0.1 >/dev/null");
    }

    #[test]
    fn shared_network_shows_more_than_lo() {
        let scratch = Scratch::new();
        let host_interfaces = || {
            let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
                .expect("list the host's interfaces")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let c = start(&scratch.root());
        let before = host_interfaces();
        let out = sh_ok(&c, "ip address list");
        let after = host_interfaces();
        let mut inside: Vec<String> = interfaces(&out).into_iter().map(|(n, _)| n).collect();
        inside.sort();
        assert!(inside.len() > 1, "more than lo:\n{out}");
        // (Compared with the host's list before and after: something else on the machine may
        // add or remove an interface meanwhile.)
        assert!(
            inside == before || inside == after,
            "the host's interfaces {before:?}, inside {inside:?}"
        );
        assert_eq!(ns_of(c.init_pid(), "net"), ns_of(std::process::id(), "net"));
    }

    #[test]
    fn shared_network_binds_the_hosts_resolv_conf_read_only() {
        let scratch = Scratch::new();
        let host = std::fs::read("/etc/resolv.conf").expect("the host has /etc/resolv.conf");
        let c = start(&scratch.root());
        let out = c
            .command("cat")
            .arg("/etc/resolv.conf")
            .output()
            .expect("cat");
        assert_eq!(out.stdout, host, "the host's resolv.conf inside");
        let (status, _, _) = sh(&c, "echo 'nameserver 192.0.2.99' >> /etc/resolv.conf");
        assert!(!status.success(), "it cannot be written");
        let (status, _, _) = sh(&c, "rm -f /etc/resolv.conf");
        assert!(!status.success(), "nor removed");
        drop(c);
        assert_eq!(std::fs::read("/etc/resolv.conf").expect("read"), host);
        assert!(
            scratch.upper_entries().is_empty(),
            "the image's file untouched"
        );
    }

    #[test]
    fn isolated_network_keeps_the_images_resolv_conf() {
        let scratch = Scratch::new();
        let image_file = std::fs::read(image().join("etc/resolv.conf")).expect("read");
        let c = start_isolated(&scratch.root());
        let out = c
            .command("cat")
            .arg("/etc/resolv.conf")
            .output()
            .expect("cat");
        assert_eq!(out.stdout, image_file);
        let mounts = sh_ok(&c, "cat /proc/mounts");
        assert!(
            !mounts
                .lines()
                .any(|l| l.split(' ').nth(1) == Some("/etc/resolv.conf")),
            "nothing mounted on it:\n{mounts}"
        );
    }
}

mod binds {
    use super::*;

    /// A host directory with one file, for bind sources.
    fn source_dir(tag: &str, content: &str) -> TempDir {
        let dir = TempDir::new(tag);
        std::fs::write(dir.join("data.txt"), content).expect("write the source file");
        dir
    }

    #[test]
    fn directory_to_a_nested_new_path() {
        let scratch = Scratch::new();
        let src = source_dir("bind-src", "nested\n");
        assert!(!scratch.host_path("/a").exists());
        let c = Container::builder(scratch.root())
            .bind(src.path(), "/a/b/c")
            .start()
            .expect("start");
        assert_eq!(sh_ok(&c, "cat /a/b/c/data.txt"), "nested\n");
        sh_ok(&c, "echo from-inside > /a/b/c/new.txt");
        assert_eq!(
            std::fs::read_to_string(src.join("new.txt")).expect("read"),
            "from-inside\n",
            "writable: the write reaches the source"
        );
        // Not visible on the host under the root, neither now nor afterwards.
        let host_view = scratch.host_path("/a/b/c");
        assert!(!host_view.join("data.txt").exists());
        assert!(
            mount_points_under(&scratch.root()).len() == 1,
            "only the overlay"
        );
        drop(c);
        assert!(
            host_view.is_dir(),
            "the mount point was created in the root"
        );
        assert_eq!(std::fs::read_dir(&host_view).expect("list").count(), 0);
    }

    #[test]
    fn read_only_directory() {
        let scratch = Scratch::new();
        let src = source_dir("bind-ro", "read me\n");
        let c = Container::builder(scratch.root())
            .bind_ro(src.path(), "/srv/ro")
            .start()
            .expect("start");
        assert_eq!(sh_ok(&c, "cat /srv/ro/data.txt"), "read me\n");
        let (status, _, err) = sh(&c, "echo x > /srv/ro/new.txt");
        assert!(!status.success(), "writing fails");
        assert!(err.contains("Read-only"), "{err}");
        assert!(!src.join("new.txt").exists());
        let (status, _, _) = sh(&c, "echo x >> /srv/ro/data.txt");
        assert!(!status.success());
        assert_eq!(
            std::fs::read_to_string(src.join("data.txt")).expect("read"),
            "read me\n"
        );
        drop(c);
        assert!(
            !scratch.host_path("/srv/ro/data.txt").exists(),
            "not visible on the host"
        );
    }

    #[test]
    fn file_to_a_file_path() {
        let scratch = Scratch::new();
        let src = source_dir("bind-file", "file content\n");
        let existing = "/etc/hostname";
        let before = std::fs::read(scratch.host_path(existing)).expect("read");
        let c = Container::builder(scratch.root())
            .bind(src.join("data.txt"), "/etc/app/config.txt")
            .bind_ro(src.join("data.txt"), existing)
            .start()
            .expect("start");
        assert_eq!(sh_ok(&c, "cat /etc/app/config.txt"), "file content\n");
        assert_eq!(sh_ok(&c, "cat /etc/hostname"), "file content\n");
        sh_ok(
            &c,
            "test -f /etc/app/config.txt && ! test -d /etc/app/config.txt",
        );
        let (status, _, _) = sh(&c, "echo x > /etc/hostname");
        assert!(
            !status.success(),
            "the read-only file bind cannot be written"
        );
        drop(c);
        assert_eq!(
            std::fs::read(scratch.host_path(existing)).expect("read"),
            before
        );
        let created = scratch.host_path("/etc/app/config.txt");
        assert!(created.is_file());
        assert_eq!(
            std::fs::read(&created).expect("read").len(),
            0,
            "an empty mount point"
        );
    }

    #[test]
    fn absolute_and_relative_destinations_mean_the_same() {
        let scratch = Scratch::new();
        let src = source_dir("bind-rel", "same\n");
        let c = Container::builder(scratch.root())
            .bind(src.path(), "/mnt/absolute")
            .bind(src.path(), "mnt/relative")
            .mount(BindMount::new(src.path(), "./opt/dotted").read_only())
            .start()
            .expect("start");
        for dest in ["/mnt/absolute", "/mnt/relative", "/opt/dotted"] {
            assert_eq!(
                sh_ok(&c, &format!("cat {dest}/data.txt")),
                "same\n",
                "{dest}"
            );
        }
        let (status, _, _) = sh(&c, "touch /opt/dotted/x");
        assert!(!status.success(), "BindMount::read_only");
        assert!(
            !scratch.dir().join("mnt").exists(),
            "relative to the root, not to a cwd"
        );
    }

    #[test]
    fn host_read_only_bind_made_before_start_stays_read_only() {
        let scratch = Scratch::new();
        let src = source_dir("host-ro", "host ro\n");
        let point = scratch.host_path("/mnt/host-ro");
        std::fs::create_dir(&point).expect("mkdir");
        let _guard = furnace_core::host::BindMountGuard::new(src.path(), &point, true)
            .expect("read-only bind on the host");
        let c = start(&scratch.root());
        assert_eq!(sh_ok(&c, "cat /mnt/host-ro/data.txt"), "host ro\n");
        let (status, _, err) = sh(&c, "touch /mnt/host-ro/x");
        assert!(!status.success(), "still read-only inside");
        assert!(err.contains("Read-only"), "{err}");
        assert!(!src.join("x").exists());
    }

    #[test]
    fn host_read_only_bind_stays_read_only_in_a_root_that_is_not_a_mount_point() {
        let scratch = Scratch::new();
        let plain = PlainRoot::new(&scratch);
        // The plain root's usr is a read-only bind of the image: it survives the self-bind.
        let c = start(&plain.root);
        let (status, _, err) = sh(&c, "touch /usr/furnace-x");
        assert!(!status.success(), "usr stays read-only");
        assert!(err.contains("Read-only"), "{err}");
        sh_ok(&c, "touch /root/writable");
    }

    #[test]
    fn symlink_at_a_file_destination_is_replaced_not_followed() {
        let scratch = Scratch::new();
        let outside = TempDir::new("outside");
        let victim = outside.join("victim");
        std::fs::write(&victim, "host file\n").expect("write");
        std::os::unix::fs::symlink(&victim, scratch.host_path("/etc/link")).expect("symlink");
        let src = source_dir("bind-src", "bound\n");
        let c = Container::builder(scratch.root())
            .bind(src.join("data.txt"), "/etc/link")
            .start()
            .expect("start");
        assert_eq!(sh_ok(&c, "cat /etc/link"), "bound\n");
        sh_ok(&c, "test ! -L /etc/link");
        drop(c);
        assert_eq!(
            std::fs::read_to_string(&victim).expect("read"),
            "host file\n"
        );
        assert_eq!(mount_points_under(outside.path()), Vec::<PathBuf>::new());
    }

    #[test]
    fn binds_are_invisible_on_the_host_while_running() {
        let scratch = Scratch::new();
        let src = source_dir("bind-src", "x\n");
        let before = mountinfo_lines()
            .iter()
            .filter(|l| mount_point_of(l).starts_with(scratch.dir()))
            .count();
        let c = Container::builder(scratch.root())
            .bind(src.path(), "/mnt/one")
            .bind_ro(src.path(), "/mnt/two")
            .bind(src.join("data.txt"), "/root/file")
            .start()
            .expect("start");
        sh_ok(
            &c,
            "test -f /mnt/one/data.txt && test -f /mnt/two/data.txt && test -s /root/file",
        );
        let now = mountinfo_lines()
            .iter()
            .filter(|l| mount_point_of(l).starts_with(scratch.dir()))
            .count();
        assert_eq!(
            now, before,
            "the binds are in the container's mount namespace only"
        );
        assert_eq!(mount_points_under(src.path()), Vec::<PathBuf>::new());
    }
}

mod errors {
    use super::*;

    #[test]
    fn missing_root() {
        let missing = Path::new("/tmp").join(unique_name("missing-root"));
        let err = Container::start(&missing).expect_err("a missing root is refused");
        assert!(
            matches!(&err, Error::InvalidRoot { problem: PathProblem::Missing, path } if *path == missing),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains(&*missing.to_string_lossy()),
            "names the path: {message}"
        );
        assert!(message.contains("does not exist"), "{message}");
        assert!(!missing.exists(), "nothing created");
    }

    #[test]
    fn root_that_is_a_file() {
        let dir = TempDir::new("root-file");
        let file = dir.join("not-a-dir");
        std::fs::write(&file, "x").expect("write");
        let err = Container::start(&file).expect_err("a file root is refused");
        assert!(
            matches!(
                err,
                Error::InvalidRoot {
                    problem: PathProblem::NotADirectory,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("not a directory"), "{err}");
    }

    #[test]
    fn missing_bind_source() {
        let scratch = Scratch::exclusive();
        let leaks = LeakCheck::snapshot();
        let missing = scratch.dir().join("no-such-source");
        let err = Container::builder(scratch.root())
            .bind(&missing, "/mnt/x")
            .start()
            .expect_err("a missing bind source is refused");
        assert!(
            matches!(&err, Error::BindSource { problem: PathProblem::Missing, path } if *path == missing),
            "{err:?}"
        );
        assert!(err.to_string().contains("no-such-source"), "{err}");
        assert!(
            !scratch.host_path("/mnt/x").exists(),
            "no destination created"
        );
        leaks.assert_clean();
    }

    #[test]
    fn bind_destination_symlink_out_of_the_root() {
        let scratch = Scratch::exclusive();
        let outside = TempDir::new("outside");
        std::os::unix::fs::symlink(outside.path(), scratch.host_path("/evil")).expect("symlink");
        let escape = format!("../../../../../../..{}", outside.path().display());
        std::os::unix::fs::symlink(&escape, scratch.host_path("/mnt/evil-relative"))
            .expect("symlink");
        let src = TempDir::new("bind-src");
        std::fs::write(src.join("payload"), "payload").expect("write");
        let leaks = LeakCheck::snapshot();
        for dest in ["/evil", "/evil/sub/dir", "evil", "/mnt/evil-relative/x"] {
            let err = Container::builder(scratch.root())
                .bind(src.path(), dest)
                .start()
                .expect_err("a destination leading out of the root is refused");
            assert!(
                matches!(
                    &err,
                    Error::BindDestination {
                        problem: PathProblem::EscapesRoot,
                        ..
                    }
                ),
                "{dest}: {err:?}"
            );
            assert!(err.to_string().contains("out of the root"), "{err}");
        }
        // A file source onto the symlink's directory, too.
        let err = Container::builder(scratch.root())
            .bind(src.join("payload"), "/evil/payload")
            .start()
            .expect_err("refused");
        assert!(
            matches!(
                &err,
                Error::BindDestination {
                    problem: PathProblem::EscapesRoot,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            std::fs::read_dir(outside.path()).expect("list").count(),
            0,
            "nothing was created outside"
        );
        leaks.assert_clean();
    }

    #[test]
    fn dot_dot_in_a_destination() {
        let scratch = Scratch::new();
        let src = TempDir::new("bind-src");
        for dest in ["/a/../../etc", "../outside", "/mnt/.."] {
            let err = Container::builder(scratch.root())
                .bind(src.path(), dest)
                .start()
                .expect_err("`..` is refused");
            assert!(
                matches!(
                    &err,
                    Error::BindDestination {
                        problem: PathProblem::DotDot,
                        ..
                    }
                ),
                "{dest}: {err:?}"
            );
        }
        assert!(!scratch.host_path("/a").exists());
    }

    #[test]
    fn other_bad_destinations() {
        let scratch = Scratch::new();
        let src = TempDir::new("bind-src");
        std::fs::write(src.join("file"), "x").expect("write");
        let (dir, file) = (src.path().to_path_buf(), src.join("file"));
        type Case<'a> = (&'a str, &'a PathBuf, &'a str, fn(&PathProblem) -> bool);
        let cases: [Case; 4] = [
            ("the root itself", &dir, "/", |p| *p == PathProblem::IsRoot),
            ("a file onto a directory", &file, "/etc", |p| {
                matches!(p, PathProblem::KindMismatch(_))
            }),
            ("a directory onto a file", &dir, "/etc/passwd", |p| {
                matches!(p, PathProblem::KindMismatch(_))
            }),
            ("below a file", &dir, "/etc/passwd/below", |p| {
                *p == PathProblem::NotADirectory
            }),
        ];
        for (what, source, destination, expected) in cases {
            let err = Container::builder(scratch.root())
                .bind(source, destination)
                .start()
                .expect_err(what);
            assert!(
                matches!(&err, Error::BindDestination { problem, .. } if expected(problem)),
                "{what}: {err:?}"
            );
        }
    }

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
}

mod concurrency {
    use super::*;

    #[test]
    fn two_containers_each_see_only_their_own_processes() {
        let scratch_a = Scratch::new();
        let scratch_b = Scratch::new();
        let a = start(&scratch_a.root());
        let b = start(&scratch_b.root());
        let mut sleep_a = a.command("sleep").arg("1001").spawn().expect("spawn in a");
        let mut sleep_b = b.command("sleep").arg("1002").spawn().expect("spawn in b");
        let ps_a = run(&a, "ps", &["-o", "pid,args"]).stdout;
        let ps_b = run(&b, "ps", &["-o", "pid,args"]).stdout;
        assert!(
            ps_a.contains("sleep 1001") && !ps_a.contains("sleep 1002"),
            "{ps_a}"
        );
        assert!(
            ps_b.contains("sleep 1002") && !ps_b.contains("sleep 1001"),
            "{ps_b}"
        );
        assert_eq!(ps_lines(&ps_a).len(), 3, "{ps_a}");
        assert_eq!(ps_lines(&ps_b).len(), 3, "{ps_b}");
        assert_ne!(ns_of(a.init_pid(), "pid"), ns_of(b.init_pid(), "pid"));
        sh_ok(&a, "echo a > /root/who");
        assert!(!scratch_b.host_path("/root/who").exists());
        for child in [&mut sleep_a, &mut sleep_b] {
            child.kill().expect("kill");
            child.wait().expect("wait");
        }
    }

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
                            let written =
                                std::fs::read_to_string(scratch.host_path("/root/thread"))
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

    #[test]
    fn nothing_of_the_caller_changes() {
        let scratch = Scratch::exclusive();
        let leaks = LeakCheck::snapshot();
        let status_field = |path: &str, name: &str| -> String {
            std::fs::read_to_string(path)
                .expect("read status")
                .lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
                .unwrap_or_default()
        };
        let snapshot = || {
            let mut namespaces = Vec::new();
            for kind in [
                "pid",
                "pid_for_children",
                "mnt",
                "net",
                "uts",
                "ipc",
                "cgroup",
            ] {
                namespaces.push(
                    std::fs::read_link(format!("/proc/thread-self/ns/{kind}"))
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                );
            }
            (
                std::env::current_dir().expect("cwd"),
                std::fs::read_link("/proc/self/root").expect("root"),
                namespaces,
                std::env::vars_os().collect::<Vec<_>>(),
                status_field("/proc/thread-self/status", "SigBlk:"),
                status_field("/proc/self/status", "SigIgn:"),
                status_field("/proc/self/status", "SigCgt:"),
                status_field("/proc/self/status", "Umask:"),
                host_hostname(),
            )
        };
        let before = snapshot();
        let c = start(&scratch.root());
        sh_ok(&c, "cd /tmp && echo hi > f && umask 077 && trap '' INT");
        let mut child = c.command("sleep").arg("1000").spawn().expect("spawn");
        assert_eq!(snapshot(), before, "while the container runs");
        child.kill().expect("kill");
        child.wait().expect("wait");
        drop(c);
        assert_eq!(snapshot(), before, "afterwards");
        leaks.assert_clean();
    }
}

mod cleanup {
    use super::*;

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

    #[test]
    // The child is left unwaited on purpose: the container's teardown, run by the unwinding,
    // must reap it.
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

    #[test]
    fn leak_oracle_notices_leftovers() {
        let scratch = Scratch::exclusive();
        let leaks = LeakCheck::snapshot();
        let point = scratch.dir().join("leftover-mount");
        std::fs::create_dir(&point).expect("mkdir");
        furnace_sys::mount::mount(
            Some("tmpfs"),
            &point,
            "tmpfs",
            furnace_sys::mount::MountFlags::empty(),
            Some("size=1m"),
        )
        .expect("mount a tmpfs");
        let mut process = std::process::Command::new("sleep")
            .arg("1000")
            .spawn()
            .expect("spawn a host sleep");
        let file = std::fs::File::open("/dev/null").expect("open");
        let verdict = std::panic::catch_unwind(|| leaks.assert_clean());
        let message = match verdict {
            Ok(()) => String::new(),
            Err(panic) => panic.downcast_ref::<String>().cloned().unwrap_or_default(),
        };
        process.kill().expect("kill");
        process.wait().expect("wait");
        furnace_sys::mount::umount2(&point, furnace_sys::mount::UnmountFlags::empty())
            .expect("unmount");
        drop(file);
        assert!(
            message.contains("leftover-mount"),
            "the mount is reported: {message}"
        );
        assert!(
            message.contains("(sleep)"),
            "the process is reported: {message}"
        );
        assert!(
            message.contains("-> /dev/null"),
            "the fd is reported: {message}"
        );
        leaks.assert_clean();
    }

    #[test]
    fn scratch_fixture_cleans_up_after_a_panicking_test() {
        let dir = std::sync::Mutex::new(None);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let scratch = Scratch::new();
            *dir.lock().expect("lock") = Some(scratch.dir().to_path_buf());
            let c = start(&scratch.root());
            sh_ok(&c, "echo x > /root/x");
            panic!("deliberate panic in a test body");
        }));
        assert!(result.is_err());
        let dir = dir.lock().expect("lock").clone().expect("recorded");
        assert!(!dir.exists(), "the scratch directory is gone");
        assert_eq!(
            mount_points_under(&dir),
            Vec::<PathBuf>::new(),
            "and its mount"
        );
    }
}

#[test]
fn the_image_is_the_test_image() {
    let image = image();
    for program in [
        "sh",
        "bash",
        "ps",
        "cat",
        "dd",
        "sleep",
        "ip",
        "mount",
        "mkfs.ext4",
        "gzip",
    ] {
        let found = ["usr/bin", "usr/sbin", "bin", "sbin"]
            .iter()
            .any(|dir| image.join(dir).join(program).exists());
        assert!(found, "{program} is in the image");
    }
    let mut buf = String::new();
    std::fs::File::open(image.join("etc/passwd"))
        .expect("open")
        .read_to_string(&mut buf)
        .expect("read");
    assert!(buf.contains("nobody:x:65534"), "{buf}");
}
