//! The options of how a command runs, end to end through the `furnace` binary: the
//! environment (`PWD`, `--clearenv`, `--env-file`, `--unsetenv`, `--chdir`), capabilities
//! (`--cap-add`, `--cap-drop`, read back from `/proc/self/status` inside and shown by what a
//! command can do), `furnace shell` reading the root's start-up files (`--norc`), bind paths
//! with colons. (The completion scripts, manual pages and help texts are in `completions.rs`.)
//!
//! Like `cli.rs`: root, a static busybox and tmux are needed; without them the tests fail,
//! saying so.

mod common;

use common::*;

/// `furnace ARGS...` with stdin null.
fn furnace(args: &[&str]) -> Command {
    let mut cmd = Command::new(FURNACE);
    cmd.args(args).stdin(Stdio::null());
    cmd
}

/// Runs `cmd` with `input` on its stdin (then closed) and collects its output.
fn output_with_input(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn furnace");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).map(|_| buf).unwrap_or_default()
        })
    };
    let (out, err) = (read(Box::new(stdout)), read(Box::new(stderr)));
    let status = wait_within(&mut child);
    writer.join().unwrap();
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// The lines of `env` output, sorted.
fn sorted_lines(out: &Output) -> Vec<String> {
    let mut lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// A named container over a test root, stopped on drop (declare it after its `TestRoot`).
struct Named {
    state: String,
    name: String,
}

impl Named {
    fn start(t: &TestRoot, options: &[&str], name: &str) -> Self {
        let state = t.dir.join("state").to_string_lossy().into_owned();
        let root = t.root().to_string_lossy().into_owned();
        let mut args = vec!["--state-dir", &state, "start", "--name", name];
        args.extend_from_slice(options);
        args.push(&root);
        let out = output(&mut furnace(&args));
        assert!(out.status.success(), "start: {out:?}");
        Self {
            state,
            name: name.into(),
        }
    }

    /// `furnace exec OPTIONS NAME COMMAND...`
    fn exec(&self, options: &[&str], command: &[&str]) -> Command {
        let mut args = vec!["--state-dir", &self.state, "exec"];
        args.extend_from_slice(options);
        args.push(&self.name);
        args.extend_from_slice(command);
        furnace(&args)
    }

    /// `furnace shell OPTIONS NAME`
    fn shell(&self, options: &[&str]) -> Command {
        let mut args = vec!["--state-dir", &self.state, "shell"];
        args.extend_from_slice(options);
        args.push(&self.name);
        furnace(&args)
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        let _ = output(&mut furnace(&[
            "--state-dir",
            &self.state,
            "stop",
            &self.name,
        ]));
    }
}

// ---------------------------------------------------------------------------------------------
// The environment
// ---------------------------------------------------------------------------------------------

/// Issue 14: `PWD` is the working directory inside (`/`, or `-w`/`--chdir`'s, `.` and `..`
/// resolved), never the host's; the rest of the environment is inherited. `-e PWD=` and
/// `--unsetenv PWD` are the user's to say.
#[test]
fn pwd_is_the_working_directory_inside() {
    let t = TestRoot::new();
    let script = ["sh", "-c", "echo \"$PWD|$(pwd)|$INHERITED\""];
    let host_dir = t.dir.to_string_lossy().into_owned();
    let run = |options: &[&str]| {
        let out = output(
            t.run(options, &script)
                .current_dir(&t.dir)
                .env("PWD", &host_dir)
                .env("INHERITED", "yes"),
        );
        assert!(out.status.success(), "{options:?}: {out:?}");
        text(&out.stdout)
    };
    assert_eq!(run(&[]), "/|/|yes\n");
    assert_eq!(run(&["-w", "/tmp"]), "/tmp|/tmp|yes\n");
    assert_eq!(run(&["--chdir", "tmp"]), "/tmp|/tmp|yes\n");
    assert_eq!(run(&["--chdir", "/tmp/../etc/."]), "/etc|/etc|yes\n");
    // (sh would correct a PWD that is not its working directory: env shows what it got.)
    let env = |options: &[&str]| {
        let out = output(t.run(options, &["env"]).env("PWD", &host_dir));
        assert!(out.status.success(), "{options:?}: {out:?}");
        sorted_lines(&out)
    };
    assert!(env(&["--cwd", "/tmp", "-e", "PWD=/mine"]).contains(&"PWD=/mine".to_owned()));
    assert!(!env(&["--unsetenv", "PWD"])
        .iter()
        .any(|l| l.starts_with("PWD=")));
}

/// `--clearenv`: nothing of furnace's environment, only `PWD`, what `-e` and `--user` set;
/// commands are still found (in /bin and /usr/bin, without a PATH).
#[test]
fn clearenv_leaves_only_pwd_and_what_is_set() {
    let t = TestRoot::new();
    let out = output(
        t.run(&["--clearenv", "-e", "A=1", "-w", "/tmp"], &["env"])
            .env("INHERITED", "x"),
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(sorted_lines(&out), ["A=1", "PWD=/tmp"]);
    let out = output(&mut t.run(&["--clearenv", "--user", "root"], &["env"]));
    assert_eq!(
        sorted_lines(&out),
        ["HOME=/root", "LOGNAME=root", "PWD=/", "USER=root"],
        "{out:?}"
    );
}

/// `--env-file` (docker's format: values as they are), then `-e`, then `--unsetenv`, whatever
/// their order on the command line; several files are read in order.
#[test]
fn env_file_then_env_then_unsetenv() {
    let t = TestRoot::new();
    let first = t.dir.join("first.env");
    let second = t.dir.join("second.env");
    fs::write(
        &first,
        "# settings\n\nA=from-file\n  B=\"quoted\" $HOME # kept\r\nC=file\nGONE=x\n",
    )
    .unwrap();
    fs::write(&second, "C=second-file\nD=\n").unwrap();
    let (first, second) = (first.to_str().unwrap(), second.to_str().unwrap());
    let out = output(
        t.run(
            &[
                "--unsetenv",
                "GONE",
                "-e",
                "C=from-e",
                "--env-file",
                first,
                "--unsetenv",
                "INHERITED",
                "--env-file",
                second,
            ],
            &["env"],
        )
        .env("INHERITED", "x")
        .env("KEPT", "y"),
    );
    assert!(out.status.success(), "{out:?}");
    let env = sorted_lines(&out);
    for wanted in [
        "A=from-file",
        "B=\"quoted\" $HOME # kept",
        "C=from-e",
        "D=",
        "KEPT=y",
    ] {
        assert!(env.iter().any(|l| l == wanted), "{wanted:?} not in {env:?}");
    }
    for gone in ["GONE=", "INHERITED="] {
        assert!(
            !env.iter().any(|l| l.starts_with(gone)),
            "{gone} in {env:?}"
        );
    }
    // Without -e, the second file's C wins over the first's.
    let out = output(&mut t.run(
        &["--env-file", first, "--env-file", second],
        &["sh", "-c", "echo $C"],
    ));
    assert_eq!(text(&out.stdout), "second-file\n", "{out:?}");
}

/// Every bad value is furnace's failure, one line naming the option and the value (and the
/// line of an env file), before anything starts.
#[test]
fn bad_values_name_the_option() {
    let t = TestRoot::new();
    let bad_file = t.dir.join("bad.env");
    fs::write(&bad_file, "OK=1\n# fine\nNO EQUALS SIGN\n").unwrap();
    let spaced = t.dir.join("spaced.env");
    fs::write(&spaced, "KEY =value\n").unwrap();
    let missing = t.dir.join("missing.env");
    let cases: [(&[&str], String); 10] = [
        (
            &["--env-file", bad_file.to_str().unwrap()],
            format!("--env-file {}:3: expected KEY=VALUE", bad_file.display()),
        ),
        (
            &["--env-file", spaced.to_str().unwrap()],
            format!("--env-file {}:1: the name", spaced.display()),
        ),
        (
            &["--env-file", missing.to_str().unwrap()],
            format!("--env-file \"{}\": cannot read it", missing.display()),
        ),
        (&["--unsetenv", "A=B"], "--unsetenv \"A=B\"".into()),
        (
            &["--unsetenv", ""],
            "--unsetenv \"\": the name is empty".into(),
        ),
        (
            &["--cap-add", "bogus"],
            "--cap-add \"bogus\": unknown capability".into(),
        ),
        (
            &["--cap-drop", "CAP_NOPE"],
            "--cap-drop \"CAP_NOPE\"".into(),
        ),
        (
            &["--bind=nocolon"],
            "--bind \"nocolon\": expected SRC:DST".into(),
        ),
        (
            &["--bind", r"/a\q:/x"],
            r#"--bind "/a\q:/x": the source: a backslash"#.into(),
        ),
        (
            &["--ro-bind", "/a:/b:/c"],
            "--ro-bind \"/a:/b:/c\": more than one".into(),
        ),
    ];
    for (options, needle) in cases {
        let out = output(&mut t.run(options, &["true"]));
        assert_furnace_failure(&out, &needle);
    }
    // The same checks hold for shell and exec.
    let out = output(furnace(&["shell", "--cap-add", "nope"]).arg(t.root()));
    assert_furnace_failure(&out, "--cap-add \"nope\"");
    let n = Named::start(&t, &[], "bad-values");
    let out = output(&mut n.exec(&["--unsetenv", "X=1"], &["true"]));
    assert_furnace_failure(&out, "--unsetenv \"X=1\"");
    // A uid that the reduced set cannot take on is refused up front.
    let out = output(&mut t.run(&["--cap-drop", "ALL", "--uid", "5"], &["true"]));
    assert_furnace_failure(&out, "needs CAP_SETUID");
}

/// `exec` and `shell NAME` take the same options as `run`.
#[test]
fn exec_takes_the_environment_options() {
    let t = TestRoot::new();
    let n = Named::start(&t, &[], "env-exec");
    let vars = t.dir.join("exec.env");
    fs::write(&vars, "FROM_FILE=1\n").unwrap();
    let out = output(
        n.exec(
            &[
                "--clearenv",
                "--env-file",
                vars.to_str().unwrap(),
                "--chdir",
                "/tmp",
            ],
            &["env"],
        )
        .env("INHERITED", "x"),
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(sorted_lines(&out), ["FROM_FILE=1", "PWD=/tmp"]);
    let out = output(&mut n.exec(&[], &["sh", "-c", "echo $PWD"]));
    assert_eq!(text(&out.stdout), "/\n", "{out:?}");
    let out = output(&mut n.exec(
        &["--cap-drop", "ALL"],
        &["grep", "CapEff", "/proc/self/status"],
    ));
    assert_eq!(text(&out.stdout), "CapEff:\t0000000000000000\n", "{out:?}");
    // The shell's own variables stay with --clearenv: its prompt is furnace's.
    let out = output_with_input(
        n.shell(&["--clearenv", "-e", "X=1"]).env("INHERITED", "x"),
        "env | sort\n",
    );
    assert!(out.status.success(), "{out:?}");
    let env = text(&out.stdout);
    for wanted in [
        "[furnace localhost /]# ",
        "FURNACE_CONTAINER=1",
        "PWD=/\n",
        "X=1",
    ] {
        assert!(env.contains(wanted), "{wanted} not in {env:?}");
    }
    assert!(!env.contains("INHERITED"), "{env:?}");
}

// ---------------------------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------------------------

/// A capability set of `/proc/PID/status` (`CapEff`, `CapBnd`, ...) as a number.
fn cap_field(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:\t")))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line.trim(), 16).unwrap()
}

/// The five capability sets of the command, read inside.
fn caps_inside(t: &TestRoot, options: &[&str]) -> [u64; 5] {
    let out = output(&mut t.run(options, &["cat", "/proc/self/status"]));
    assert!(out.status.success(), "{options:?}: {out:?}");
    let status = text(&out.stdout);
    ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].map(|f| cap_field(&status, f))
}

const CHOWN: u64 = 1 << 0;
const KILL: u64 = 1 << 5;
const SETGID: u64 = 1 << 6;
const SETUID: u64 = 1 << 7;
const NET_RAW: u64 = 1 << 13;
const SYS_ADMIN: u64 = 1 << 21;
/// containerd's nine, the hardened profile's set.
const HARDENED: u64 = 0x5fb;

/// Privileged profile: every capability (those furnace has); `--cap-drop` removes from
/// bounding, permitted and effective alike, `--cap-add` after `--cap-drop ALL` builds a set
/// from nothing, in command-line order; inheritable and ambient stay empty.
#[test]
fn privileged_caps_are_dropped_from_every_set() {
    let t = TestRoot::new();
    let ours = cap_field(&fs::read_to_string("/proc/self/status").unwrap(), "CapBnd");
    assert_eq!(caps_inside(&t, &[]), [0, ours, ours, ours, 0]);
    let no_raw = ours & !NET_RAW;
    assert_eq!(
        caps_inside(&t, &["--cap-drop", "net_raw"]),
        [0, no_raw, no_raw, no_raw, 0]
    );
    let two = CHOWN | KILL;
    let built = [
        "--cap-drop",
        "ALL",
        "--cap-add",
        "chown",
        "--cap-add",
        "CAP_KILL",
    ];
    assert_eq!(caps_inside(&t, &built), [0, two, two, two, 0]);
    // Order matters: ALL dropped after the add leaves nothing.
    assert_eq!(
        caps_inside(&t, &["--cap-add", "CHOWN", "--cap-drop", "all"]),
        [0; 5]
    );
    // Dropping and adding back is the full set again.
    assert_eq!(
        caps_inside(&t, &["--cap-drop", "CHOWN", "--cap-add", "chown"]),
        [0, ours, ours, ours, 0]
    );
}

/// What the sets mean: without CAP_CHOWN root cannot give a file away; with the reduced set
/// a command that becomes another uid keeps it as its bounding set only.
#[test]
fn dropped_capabilities_are_really_gone() {
    let t = TestRoot::new();
    let chown = ["sh", "-c", "touch /tmp/f && chown 1 /tmp/f && echo changed"];
    let out = output(&mut t.run(&[], &chown));
    assert_eq!(text(&out.stdout), "changed\n", "{out:?}");
    let out = output(&mut t.run(&["--cap-drop", "CHOWN"], &chown));
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(
        text(&out.stderr).contains("Operation not permitted"),
        "{out:?}"
    );
    // A dropped CAP_SETGID does not keep root from taking on a gid (ids come first).
    let out = output(&mut t.run(&["--cap-drop", "SETGID", "--gid", "5"], &["id", "-g"]));
    assert_eq!(text(&out.stdout), "5\n", "{out:?}");
    // Another uid: no capability left, the set as its bounding set.
    let options = [
        "--cap-drop",
        "ALL",
        "--cap-add",
        "SETUID",
        "--cap-add",
        "SETGID",
        "--uid",
        "5",
    ];
    let out = output(&mut t.run(&options, &["sh", "-c", "id -u; cat /proc/self/status"]));
    assert!(out.status.success(), "{out:?}");
    let status = text(&out.stdout);
    assert!(status.starts_with("5\n"), "{status}");
    assert_eq!(cap_field(&status, "CapEff"), 0);
    assert_eq!(cap_field(&status, "CapPrm"), 0);
    assert_eq!(cap_field(&status, "CapBnd"), SETUID | SETGID);
}

/// Hardened profile: the nine; `--cap-add` adds to them (CAP_SYS_ADMIN lets root mount again:
/// the user's call), `--cap-drop` removes from them.
#[test]
fn hardened_caps_are_added_to_and_dropped_from() {
    let t = TestRoot::new();
    assert_eq!(
        caps_inside(&t, &["--hardened"]),
        [0, HARDENED, HARDENED, HARDENED, 0]
    );
    let more = HARDENED | SYS_ADMIN;
    assert_eq!(
        caps_inside(&t, &["--hardened", "--cap-add", "sys_admin"]),
        [0, more, more, more, 0]
    );
    let less = HARDENED & !KILL;
    assert_eq!(
        caps_inside(&t, &["--hardened", "--cap-drop", "KILL"]),
        [0, less, less, less, 0]
    );
    assert_eq!(
        caps_inside(&t, &["--hardened", "--cap-drop", "ALL"]),
        [0; 5]
    );
    let mount = ["sh", "-c", "mount -t tmpfs none /mnt && echo mounted"];
    let out = output(&mut t.run(&["--hardened"], &mount));
    assert!(!text(&out.stdout).contains("mounted"), "{out:?}");
    // The hardened profile's seccomp filter follows the capabilities, as Docker's default
    // does: with CAP_SYS_ADMIN mount(2) goes through it (the filter is still on).
    let out = output(&mut t.run(&["--hardened", "--cap-add", "CAP_SYS_ADMIN"], &mount));
    assert_eq!(text(&out.stdout), "mounted\n", "{out:?}");
    let out = output(&mut t.run(
        &["--hardened", "--cap-add", "CAP_SYS_ADMIN"],
        &["grep", "^Seccomp:", "/proc/self/status"],
    ));
    assert_eq!(text(&out.stdout), "Seccomp:\t2\n", "{out:?}");
    // no_new_privs stays: the profile is still hardened.
    let out = output(&mut t.run(
        &["--hardened", "--cap-add", "ALL"],
        &["grep", "NoNewPrivs", "/proc/self/status"],
    ));
    assert_eq!(text(&out.stdout), "NoNewPrivs:\t1\n", "{out:?}");
}

// ---------------------------------------------------------------------------------------------
// furnace shell and the root's start-up files
// ---------------------------------------------------------------------------------------------

/// What the shell tells about itself: PS1, the rc variables, and the environment's PS1.
const SHELL_REPORT: &str = "echo \"ps1=[${PS1-unset}] sys=${FROM_SYS-no} rc=${FROM_RC-no} \
                            in=$FURNACE_CONTAINER\"; env | grep -c __FURNACE; (cd /proc/$$/fd && echo *)\n";

/// The root's file names and sizes, to see that the shell wrote nothing into it.
fn listing(root: &Path) -> Vec<String> {
    let out = output(Command::new("find").arg(root).args(["-printf", "%P %s\\n"]));
    let mut lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// What changed in the root since `before` (a [`listing`]), but what an interactive bash
/// writes itself (its history) and the empty `/etc/resolv.conf` furnace makes for its bind.
fn changes(root: &Path, before: &[String]) -> Vec<String> {
    let after = listing(root);
    let ours = |line: &String| {
        !(line.starts_with("root/.bash_history ") || line.starts_with("etc/resolv.conf "))
    };
    let added = after.iter().filter(|l| !before.contains(l) && ours(l));
    let removed = before.iter().filter(|l| !after.contains(l) && ours(l));
    added
        .map(|l| format!("+{l}"))
        .chain(removed.map(|l| format!("-{l}")))
        .collect()
}

/// busybox's sh reads the file `$ENV` names, and the prompt is furnace's all the same;
/// `--norc` reads nothing; `-e PS1=` chooses the prompt.
#[test]
fn sh_reads_env_and_keeps_the_prompt() {
    let t = TestRoot::new();
    fs::write(t.root().join("root/.shrc"), "FROM_RC=1\nPS1='user$ '\n").unwrap();
    let before = listing(&t.root());
    // busybox's sh writes its banner and prompts on stdout: what the script printed is from
    // its first line to the last prompt.
    let shell = |options: &[&str]| {
        let mut cmd = furnace(&["shell"]);
        cmd.args(options).arg(t.root()).env("ENV", "/root/.shrc");
        let out = output_with_input(&mut cmd, SHELL_REPORT);
        assert!(out.status.success(), "{options:?}: {out:?}");
        let stdout = text(&out.stdout);
        let start = stdout.find("ps1=").unwrap_or(0);
        let end = stdout.rfind('\n').map_or(stdout.len(), |at| at + 1);
        stdout[start..end.max(start)].to_owned()
    };
    // No furnace variable is left, and no fd but stdio.
    assert_eq!(
        shell(&[]),
        "ps1=[[furnace \\h \\w]\\$ ] sys=no rc=1 in=1\n0\n0 1 2\n"
    );
    assert_eq!(
        shell(&["--norc"]),
        "ps1=[[furnace \\h \\w]\\$ ] sys=no rc=no in=1\n0\n0 1 2\n"
    );
    assert_eq!(
        shell(&["-e", "PS1=mine "]),
        "ps1=[mine ] sys=no rc=1 in=1\n0\n0 1 2\n"
    );
    assert_eq!(
        shell(&["--unsetenv", "PS1"]),
        "ps1=[user$ ] sys=no rc=1 in=1\n0\n0 1 2\n"
    );
    assert_eq!(
        changes(&t.root(), &before),
        [] as [String; 0],
        "the shell changed the root"
    );
}

/// Copies the host's bash, with the libraries `ldd` names, into `root`.
fn add_host_bash(root: &Path) {
    let bash = ["/usr/bin/bash", "/bin/bash"]
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .expect("the tests of furnace shell with bash need the host's bash");
    let ldd = output(Command::new("ldd").arg(bash));
    let text = text(&ldd.stdout);
    let libraries = text
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(PathBuf::from);
    for file in libraries.chain([bash.to_path_buf()]) {
        let target = root.join(file.strip_prefix("/").unwrap());
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::copy(&file, &target).unwrap_or_else(|e| panic!("copy {file:?}: {e}"));
    }
}

/// bash reads `/etc/bash.bashrc` and `~/.bashrc` (aliases too), yet the prompt says it is the
/// container; `--norc` reads neither; the same for `shell NAME`; nothing is written in the
/// root and no furnace fd or variable is left in the shell.
#[test]
fn bash_reads_its_rc_files_and_keeps_the_prompt() {
    let t = TestRoot::new();
    add_host_bash(&t.root());
    fs::write(
        t.root().join("etc/bash.bashrc"),
        "FROM_SYS=1\nPS1='sys> '\n",
    )
    .unwrap();
    fs::write(
        t.root().join("root/.bashrc"),
        "FROM_RC=1\nPS1='user> '\nalias hello='echo aliased'\n",
    )
    .unwrap();
    let before = listing(&t.root());
    // `$(ps)`: ps runs alone (a pipe's other side may still be a fork of bash when ps looks).
    let report = format!("{SHELL_REPORT}hello\np=$(ps -o args); echo \"$p\" | grep -c '^bash'\n");
    let shell = |cmd: &mut Command| {
        let out = output_with_input(cmd.env("HOME", "/root"), &report);
        assert!(out.status.success(), "{out:?}");
        text(&out.stdout)
    };
    let root = t.root();
    let root = root.to_str().unwrap();
    let furnace_prompt = "ps1=[[furnace \\h \\w]\\$ ] sys=1 rc=1 in=1\n0\n0 1 2 255\naliased\n1\n";
    assert_eq!(shell(&mut furnace(&["shell", root])), furnace_prompt);
    assert_eq!(
        shell(&mut furnace(&["shell", "-e", "PS1=mine> ", root])),
        "ps1=[mine> ] sys=1 rc=1 in=1\n0\n0 1 2 255\naliased\n1\n"
    );
    assert_eq!(
        shell(&mut furnace(&["shell", "--unsetenv", "PS1", root])),
        "ps1=[user> ] sys=1 rc=1 in=1\n0\n0 1 2 255\naliased\n1\n"
    );
    let norc = shell(&mut furnace(&["shell", "--norc", root]));
    assert!(
        norc.starts_with("ps1=[[furnace \\h \\w]\\$ ] sys=no rc=no in=1\n0\n"),
        "{norc}"
    );
    let n = Named::start(&t, &[], "bash-rc");
    assert_eq!(shell(&mut n.shell(&[])), furnace_prompt);
    assert!(shell(&mut n.shell(&["--norc"])).contains("sys=no rc=no"));
    drop(n);
    assert_eq!(
        changes(&t.root(), &before),
        [] as [String; 0],
        "the shell changed the root"
    );
}

/// On a terminal: bash with its rc files, the furnace prompt, the rc's alias, job control.
#[test]
fn bash_on_a_terminal_has_the_furnace_prompt() {
    let t = TestRoot::new();
    add_host_bash(&t.root());
    fs::write(
        t.root().join("root/.bashrc"),
        "PS1='user> '\nalias hello='echo al''iased'\n",
    )
    .unwrap();
    let tmux = Tmux::start();
    tmux.type_line(&format!(
        "HOME=/root '{FURNACE}' shell --hostname bashbox '{}'",
        t.root().display()
    ));
    tmux.expect("[furnace bashbox /]#");
    tmux.clear();
    tmux.type_line("hello; cd /tmp");
    tmux.expect("aliased");
    tmux.expect("[furnace bashbox /tmp]#");
    tmux.type_line("sleep 100");
    std::thread::sleep(Duration::from_millis(300));
    tmux.keys(&["C-z"]);
    tmux.expect("Stopped");
    // bash learns of the kill when it next looks at its jobs: until then `wait` (and `exit`)
    // may still take the job for a stopped one.
    tmux.type_line(r#"kill -9 %1; until [ -z "$(jobs -p)" ]; do sleep 0.1; done; echo job-gone"#);
    tmux.expect("job-gone");
    tmux.type_line("exit");
    tmux.expect("host$");
}

// ---------------------------------------------------------------------------------------------
// Bind paths with colons
// ---------------------------------------------------------------------------------------------

/// `\:` in either path of `SRC:DST`, and the two-word form `--bind SRC DST` (a colon in DST
/// then needs no escape), mixed with the one-word form.
#[test]
fn bind_paths_with_colons() {
    let t = TestRoot::new();
    let colon = t.dir.join("a:b");
    let plain = t.dir.join("plain");
    fs::create_dir_all(&colon).unwrap();
    fs::create_dir_all(&plain).unwrap();
    fs::write(colon.join("f"), "colon\n").unwrap();
    let escaped = format!("{}:/mnt/x\\:y", colon.display()).replace("a:b", "a\\:b");
    let out = output(&mut t.run(
        &[
            "--ro-bind",
            &escaped,
            "--bind",
            plain.to_str().unwrap(),
            "/mnt/plain",
            "--ro-bind",
            &colon.display().to_string().replace("a:b", "a\\:b"),
            "/mnt/c:d",
        ],
        &[
            "sh",
            "-c",
            "cat /mnt/x:y/f /mnt/c:d/f && echo written > /mnt/plain/out",
        ],
    ));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "colon\ncolon\n");
    assert_eq!(fs::read_to_string(plain.join("out")).unwrap(), "written\n");
    // A relative source in the two-word form is relative to the current directory too.
    let out = output(
        t.run(&["--bind", "plain", "/mnt/rel"], &["cat", "/mnt/rel/out"])
            .current_dir(&t.dir),
    );
    assert_eq!(text(&out.stdout), "written\n", "{out:?}");
}
