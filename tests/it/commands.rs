//! The `Command` interface (std's, run inside): exit statuses and signals, the environment,
//! program lookup inside, uid and gid, a command spawned again after changes, pipes and files
//! as stdio, many threads spawning into one container.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{CommandArgs, CommandEnvs, Stdio};

use furnace_core::{Container, Error, SpawnStep};
use furnace_tests::*;

/// Writes an executable shell script at `path` on the host.
fn write_script(path: &Path, body: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create the script's directory");
    }
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write the script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// B14: exit codes 0, 1, 42 and 255 come back unchanged.
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

/// B14: `sh -c "exit 42"` gives 42 (a case of the original suite).
#[test]
fn sh_exit_42_returns_42() {
    let scratch = Scratch::new();
    let c = start(&scratch.root());
    let (status, _, _) = sh(&c, "exit 42");
    assert_eq!(status.code(), Some(42));
}

/// B14: a command killed by a signal is reported as killed by that signal.
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

/// C08: the environment is set, inherited, removed and cleared as std does it.
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

/// The program is looked up inside the container (its `PATH`), never on the host.
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

/// `uid` and `gid` are set inside, with no supplementary groups.
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

/// Issue 11: a user of the root's `/etc/passwd` (`User::lookup`, `Command::user`) runs with
/// its uid, gid and the supplementary groups `/etc/group` lists it in — as root too; and
/// explicit `groups` replace the supplementary groups.
#[test]
fn a_user_of_the_root_runs_with_its_groups() {
    let scratch = Scratch::new();
    let append = |inside: &str, line: &str| {
        let path = scratch.host_path(inside);
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str(line);
        std::fs::write(&path, text).expect("write the root's account files");
    };
    append("/etc/passwd", "alice:x:1000:1000::/home/alice:/bin/sh\n");
    append("/etc/group", "alice:x:1000:\nextra:x:2000:bob,alice\n");
    let alice = furnace_core::User::lookup(scratch.root(), "alice").expect("look alice up");
    assert_eq!((alice.uid, alice.gid), (1000, 1000));
    assert_eq!(alice.groups, [1000, 2000]);
    let c = start(&scratch.root());
    let id = |cmd: &mut furnace_core::Command<'_>| {
        let out = cmd.output().expect("id");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    };
    assert_eq!(id(c.command("id").arg("-u").user(&alice)), "1000");
    assert_eq!(id(c.command("id").arg("-G").user(&alice)), "1000 2000");
    assert_eq!(
        id(c.command("id").arg("-G").uid(7).gid(8).groups(&[9, 10])),
        "8 9 10"
    );
    let err = furnace_core::User::lookup(scratch.root(), "carol").expect_err("no carol");
    assert!(err.to_string().contains("no such user"), "{err}");
}

/// One `Command` spawned twice, changed in between, applies the new settings.
#[test]
fn one_command_spawned_again_after_changes_applies_the_new_settings() {
    let scratch = Scratch::idmappable();
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

/// I03: eight threads spawn commands into one container.
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

/// B16: stdout and stderr are piped apart; 2 MiB of output does not dead-lock.
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

/// B15: stdin can be piped; by default `output` gives a null stdin.
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

/// A pipeline of two commands inside, into a file outside.
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

/// stdin, stdout and stderr redirected to files outside.
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

/// Regression (issue 10): `output` applies its defaults (null stdin, piped stdout and stderr)
/// to its own call only, as std does: a later `spawn` of the same command with nothing set
/// inherits all three, so the `Child` has no pipes. Before, `output` stored its pipes in the
/// command.
#[test]
fn output_applies_its_defaults_per_call() {
    let scratch = Scratch::new();
    let c = start(&scratch.root());
    let mut cmd = c.command("true");
    let out = cmd.output().expect("output");
    assert!(out.status.success(), "{out:?}");
    let mut child = cmd.spawn().expect("spawn after output");
    let pipes = (
        child.stdin.is_some(),
        child.stdout.is_some(),
        child.stderr.is_some(),
    );
    assert!(child.wait().expect("wait").success());
    assert_eq!(
        pipes,
        (false, false, false),
        "a spawn with nothing set inherits stdin, stdout and stderr (no pipes)"
    );
}

/// Regression (issue 10): `Command` has std's getters, with std's types: `get_program`,
/// `get_args`, `get_envs` (a removal shows as `None`) and `get_current_dir` (the path inside
/// the container, as given).
#[test]
fn command_has_the_getters_of_std() {
    let scratch = Scratch::new();
    let c = start(&scratch.root());
    let mut cmd = c.command("sh");
    assert_eq!(cmd.get_current_dir(), None, "no working directory set yet");
    cmd.args(["-c", "test \"$FURNACE_A\" = 1 && test \"$(pwd)\" = /tmp"])
        .env("FURNACE_A", "1")
        .env_remove("FURNACE_B")
        .current_dir("/tmp");
    let program: &OsStr = cmd.get_program();
    assert_eq!(program, "sh");
    let args: CommandArgs<'_> = cmd.get_args();
    assert_eq!(
        args.collect::<Vec<_>>(),
        ["-c", "test \"$FURNACE_A\" = 1 && test \"$(pwd)\" = /tmp"]
    );
    let envs: CommandEnvs<'_> = cmd.get_envs();
    let mut envs: Vec<_> = envs.collect();
    envs.sort();
    assert_eq!(
        envs,
        [
            (OsStr::new("FURNACE_A"), Some(OsStr::new("1"))),
            (OsStr::new("FURNACE_B"), None)
        ]
    );
    assert_eq!(cmd.get_current_dir(), Some(Path::new("/tmp")));
    assert!(
        cmd.status().expect("run").success(),
        "and the command runs as the getters say"
    );
}

/// Regression (issue 10): a failed spawn names the step that failed: a missing working
/// directory is `Error::Spawn { step: SpawnStep::ChangeDirectory, .. }` (inside the `io::Error`);
/// a directory as stdin is still `Error::StdioIsDirectory`, now decided by the step that
/// checks stdio rather than guessed from `EISDIR`.
#[test]
fn a_failed_spawn_names_its_step() {
    let scratch = Scratch::new();
    let c = start(&scratch.root());
    let err = c
        .command("true")
        .current_dir("/nonexistent")
        .status()
        .expect_err("a missing working directory fails the spawn");
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<Error>());
    assert!(
        matches!(
            inner,
            Some(Error::Spawn {
                step: SpawnStep::ChangeDirectory,
                ..
            })
        ),
        "{err:?}"
    );
    let dir = std::fs::File::open(scratch.dir()).expect("open a directory");
    let err = c
        .command("true")
        .stdin(dir)
        .status()
        .expect_err("a directory as stdin is refused");
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<Error>());
    assert!(
        matches!(inner, Some(Error::StdioIsDirectory { .. })),
        "{err:?}"
    );
}
