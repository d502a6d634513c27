//! Integration tests of the `furnace` binary: real containers over a busybox root that each
//! test builds in a temp dir of its own (and removes), real signals, and a real terminal under
//! tmux.
//!
//! They need root, a static busybox (`apt-get install -y busybox-static`) and tmux; without
//! them they fail, saying so, rather than skip.

mod common;

use common::*;

#[test]
fn exit_statuses_are_the_commands_own() {
    let t = TestRoot::new();
    for (command, code) in [
        (&["true"][..], 0),
        (&["false"][..], 1),
        (&["sh", "-c", "exit 42"][..], 42),
        // Died of SIGKILL: 128 + 9.
        (&["sh", "-c", "kill -9 $$"][..], 137),
    ] {
        let out = output(&mut t.run(&[], command));
        assert_eq!(out.status.code(), Some(code), "{command:?}: {out:?}");
        assert!(out.stderr.is_empty(), "{command:?}: {}", text(&out.stderr));
    }
}

#[test]
fn a_missing_root_is_furnace_failing_and_named() {
    let t = TestRoot::new();
    let missing = t.dir.join("no-such-root");
    let out = output(Command::new(FURNACE).arg("run").arg(&missing).arg("true"));
    assert_furnace_failure(&out, missing.to_str().unwrap());
}

#[test]
fn bad_bind_syntax_is_furnace_failing_and_names_the_argument() {
    let t = TestRoot::new();
    for (option, value) in [
        ("--bind", "nocolon"),
        ("--bind", ":/x"),
        ("--ro-bind", "/tmp:"),
        ("--bind", "/a:/b:/c"),
    ] {
        // One word (`--bind=VALUE`): `--bind nocolon ROOT` is the two-word form `--bind SRC DST`.
        let out = output(&mut t.run(&[&format!("{option}={value}")], &["true"]));
        assert_furnace_failure(&out, &format!("{option} \"{value}\""));
    }
    let out = output(&mut t.run(&["--bind", "/no/such/source:/x"], &["true"]));
    assert_furnace_failure(&out, "/no/such/source");
}

#[test]
fn other_bad_input_is_furnace_failing() {
    let t = TestRoot::new();
    let out = output(&mut t.run(&["-e", "NOEQUALS"], &["true"]));
    assert_furnace_failure(&out, "--env \"NOEQUALS\"");
    let out = output(&mut t.run(&["-w", "/no/such/dir"], &["true"]));
    assert_furnace_failure(&out, "/no/such/dir");
    let out = output(&mut t.run(&["--hostname", "bad name"], &["true"]));
    assert_furnace_failure(&out, "bad name");
    // Usage errors (clap's own message) are 125 too.
    let out = output(Command::new(FURNACE).args(["run", "--no-such-option"]));
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let out = output(Command::new(FURNACE).args(["run"]).arg(t.root()));
    assert_eq!(out.status.code(), Some(125), "{out:?}");
}

#[test]
fn a_missing_command_is_127_and_a_non_executable_one_126() {
    let t = TestRoot::new();
    let out = output(&mut t.run(&[], &["no-such-command"]));
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert!(text(&out.stderr).contains("no-such-command"), "{out:?}");
    let file = t.root().join("bin/not-executable");
    fs::write(&file, "#!/bin/sh\necho ran\n").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    for program in ["/bin/not-executable", "not-executable"] {
        let out = output(&mut t.run(&[], &[program]));
        assert_eq!(out.status.code(), Some(126), "{program}: {out:?}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn help_has_examples() {
    for args in [&["--help"][..], &["run", "--help"], &["shell", "--help"]] {
        let out = output(Command::new(FURNACE).args(args));
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let help = text(&out.stdout);
        assert!(help.contains("Examples:"), "{args:?}: {help}");
    }
    let help = text(&output(Command::new(FURNACE).args(["run", "--help"])).stdout);
    for option in [
        "--isolate-net",
        "--bind",
        "--ro-bind",
        "--hostname",
        "--env",
        "--cwd",
    ] {
        assert!(help.contains(option), "{option} missing from run --help");
    }
}

// ---------------------------------------------------------------------------------------------
// Standard streams
// ---------------------------------------------------------------------------------------------

#[test]
fn stdin_passes_through() {
    let t = TestRoot::new();
    let mut child = t
        .run(&[], &["cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hi\n").unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(wait_within(&mut child).success());
    assert_eq!(out, "hi\n");
}

#[test]
fn stdout_goes_into_a_pipeline_and_stderr_apart() {
    let t = TestRoot::new();
    let out = output(&mut t.run(&[], &["sh", "-c", "cat /etc/passwd; echo oops >&2"]));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "root:x:0:0:root:/root:/bin/sh\n");
    assert_eq!(text(&out.stderr), "oops\n");
    // The README's pipeline: through furnace into a host gzip, written outside.
    let gz = t.dir.join("passwd.gz");
    let script = format!(
        "'{FURNACE}' run '{}' cat /etc/passwd | gzip > '{}'",
        t.root().display(),
        gz.display()
    );
    let out = output(Command::new("sh").args(["-c", &script]));
    assert!(out.status.success(), "{out:?}");
    let unzipped = output(Command::new("gzip").arg("-dc").arg(&gz));
    assert_eq!(text(&unzipped.stdout), "root:x:0:0:root:/root:/bin/sh\n");
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

#[test]
fn env_cwd_and_hostname() {
    let t = TestRoot::new();
    let out = output(
        t.run(
            &[
                "-e",
                "GREETING=hello world",
                "--env",
                "EMPTY=",
                "-w",
                "/tmp",
                "--hostname",
                "box",
            ],
            &[
                "sh",
                "-c",
                "echo \"$GREETING|${EMPTY-unset}|$INHERITED|$(pwd)|$(hostname)\"",
            ],
        )
        .env("INHERITED", "from-host"),
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "hello world||from-host|/tmp|box\n");
    let out = output(&mut t.run(&[], &["hostname"]));
    assert_eq!(text(&out.stdout), "localhost\n");
}

#[test]
fn each_run_is_a_container_of_its_own() {
    let t = TestRoot::new();
    let out = output(&mut t.run(&[], &["ps", "-o", "pid,comm"]));
    assert!(out.status.success(), "{out:?}");
    let ps = text(&out.stdout);
    let rows: Vec<&str> = ps.lines().skip(1).map(str::trim).collect();
    assert_eq!(rows, ["1 furnace-init", "2 ps"], "{ps}");
}

#[test]
fn isolated_networking_has_only_lo() {
    let t = TestRoot::new();
    let out = output(&mut t.run(&["--isolate-net"], &["ip", "-o", "link"]));
    assert!(out.status.success(), "{out:?}");
    let links = text(&out.stdout);
    let names: Vec<&str> = links.lines().filter_map(|l| l.split(": ").nth(1)).collect();
    assert_eq!(names, ["lo"], "{links}");
    assert!(links.contains("UP"), "lo is down: {links}");
    // By default the host's network is shared: the same interfaces as the host.
    let host = fs::read_dir("/sys/class/net").unwrap().count();
    let out = output(&mut t.run(&[], &["ip", "-o", "link"]));
    assert_eq!(text(&out.stdout).lines().count(), host, "{out:?}");
}

#[test]
fn bind_mounts_read_only_and_writable() {
    let t = TestRoot::new();
    let ro = t.dir.join("ro-source");
    let rw = t.dir.join("rw-source");
    fs::create_dir_all(&ro).unwrap();
    fs::create_dir_all(&rw).unwrap();
    fs::write(ro.join("data"), "read me\n").unwrap();
    // The writable source is given relative to furnace's current directory.
    let out = output(
        t.run(
            &[
                "--ro-bind",
                &format!("{}:/mnt/ro", ro.display()),
                "--bind",
                "rw-source:/mnt/rw",
            ],
            &[
                "sh",
                "-c",
                "cat /mnt/ro/data; echo x > /mnt/ro/new && echo WROTE-RO; echo made > /mnt/rw/out",
            ],
        )
        .current_dir(&t.dir),
    );
    assert_eq!(text(&out.stdout), "read me\n", "{out:?}");
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "{out:?}"
    );
    assert!(!ro.join("new").exists());
    assert_eq!(fs::read_to_string(rw.join("out")).unwrap(), "made\n");
    // Nothing of it is visible on the host afterwards: the mount points furnace made are gone.
    assert!(!t.root().join("mnt/ro").exists());
    assert!(!t.root().join("mnt/rw").exists());
}

// ---------------------------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------------------------

/// Starts `furnace run ROOT sh -c SCRIPT` and waits until the script printed `ready`.
fn start_ready(t: &TestRoot, script: &str) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = t
        .run(&[], &["sh", "-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    wait_for_line(&mut stdout, "ready");
    (child, stdout)
}

#[test]
fn sigterm_is_forwarded_to_the_command() {
    let t = TestRoot::new();
    let (mut child, _out) = start_ready(&t, "trap 'exit 7' TERM; echo ready; sleep 100 & wait");
    kill(child.id(), libc::SIGTERM);
    assert_eq!(wait_within(&mut child).code(), Some(7));
}

#[test]
fn sigint_and_sighup_are_forwarded_too() {
    let t = TestRoot::new();
    let (mut child, _out) = start_ready(&t, "echo ready; exec sleep 100");
    kill(child.id(), libc::SIGINT);
    assert_eq!(wait_within(&mut child).code(), Some(128 + libc::SIGINT));
    let (mut child, _out) = start_ready(&t, "trap 'exit 9' HUP; echo ready; sleep 100 & wait");
    kill(child.id(), libc::SIGHUP);
    assert_eq!(wait_within(&mut child).code(), Some(9));
}

#[test]
fn an_ignored_sigterm_keeps_furnace_waiting_until_the_second() {
    let t = TestRoot::new();
    let (mut child, _out) = start_ready(&t, "trap '' TERM; echo ready; sleep 100");
    kill(child.id(), libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "furnace ended on an ignored SIGTERM"
    );
    kill(child.id(), libc::SIGTERM);
    assert_eq!(wait_within(&mut child).code(), Some(128 + libc::SIGKILL));
}

#[test]
fn sigkill_of_furnace_leaves_no_process() {
    let t = TestRoot::new();
    // A sleep with a duration no other process uses, to find it on the host.
    let duration = format!("{}", 900_000 + std::process::id() % 99_999);
    let (mut child, _out) = start_ready(
        &t,
        &format!("sleep {duration} & echo ready; sleep {duration}; wait"),
    );
    let sleeps = || pids_running(&["sleep", &duration]);
    assert!(eventually(Duration::from_secs(5), || sleeps().len() == 2));
    kill(child.id(), libc::SIGKILL);
    assert_eq!(wait_within(&mut child).code(), None);
    assert!(
        eventually(Duration::from_secs(5), || sleeps().is_empty()),
        "still running after SIGKILL of furnace: {:?}",
        sleeps()
    );
}

/// Regression (issue 10): PID 1 killed from the host while the command runs ends the command
/// with it; furnace says so in one line instead of passing 137 on silently, as if the command
/// alone had been killed.
#[test]
fn pid1_killed_from_outside_is_said_plainly() {
    let t = TestRoot::new();
    let mut child = t
        .run(&[], &["sh", "-c", "echo ready; sleep 600"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    wait_for_line(&mut stdout, "ready");
    // furnace's children: PID 1 (`furnace-init`) and the command.
    let children: Vec<u32> = fs::read_dir(format!("/proc/{}/task", child.id()))
        .unwrap()
        .filter_map(|task| {
            let task = task.ok()?.path();
            fs::read_to_string(task.join("children")).ok()
        })
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect();
    let init = children
        .iter()
        .copied()
        .find(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "furnace-init")
        })
        .unwrap_or_else(|| panic!("no furnace-init among furnace's children {children:?}"));
    kill(init, libc::SIGKILL);
    let status = wait_within(&mut child);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(137), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(
        stderr.contains(&format!("init (pid {init}) was killed by signal 9")),
        "{stderr}"
    );
}
