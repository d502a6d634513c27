//! Integration tests of the `furnace` binary: real containers over a busybox root that each
//! test builds in a temp dir of its own (and removes), real signals, and a real terminal under
//! tmux.
//!
//! They need root, a static busybox (`apt-get install -y busybox-static`) and tmux; without
//! them they fail, saying so, rather than skip.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The binary under test.
const FURNACE: &str = env!("CARGO_BIN_EXE_furnace");

/// How long any single furnace invocation may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The test root
// ---------------------------------------------------------------------------------------------

/// A throw-away root directory with a static busybox and all its applets in `/bin`, removed
/// on drop (after checking that nothing is mounted under it).
struct TestRoot {
    /// The temp dir holding `root/` and whatever else the test needs (bind sources).
    dir: PathBuf,
}

impl TestRoot {
    fn new() -> Self {
        assert!(
            rustix::process::geteuid().is_root(),
            "the furnace CLI tests start containers and need root: run them as root"
        );
        let busybox = static_busybox();
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "furnace-cli-test.{}.{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let root = dir.join("root");
        for sub in [
            "bin", "etc", "dev", "proc", "sys", "tmp", "run", "mnt", "root",
        ] {
            fs::create_dir_all(root.join(sub)).expect("create the root's directories");
        }
        fs::copy(&busybox, root.join("bin/busybox")).expect("copy busybox into the root");
        for applet in busybox_applets(&busybox) {
            let link = root.join("bin").join(&applet);
            if applet != "busybox" && !link.exists() {
                std::os::unix::fs::symlink("busybox", link).expect("link an applet");
            }
        }
        fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
        Self { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// `furnace run ROOT args...`, with options before the root.
    fn run(&self, options: &[&str], command: &[&str]) -> Command {
        let mut cmd = Command::new(FURNACE);
        cmd.arg("run").args(options).arg(self.root()).args(command);
        cmd.stdin(Stdio::null());
        cmd
    }
}

impl Drop for TestRoot {
    fn drop(&mut self) {
        let still_mounted = furnace_sys::mountinfo::read(None)
            .unwrap_or_default()
            .iter()
            .any(|m| m.mount_point.starts_with(&self.dir));
        if !still_mounted {
            let _ = fs::remove_dir_all(&self.dir);
        }
        if !std::thread::panicking() {
            assert!(
                !still_mounted,
                "something is still mounted under {:?}",
                self.dir
            );
        }
    }
}

/// A statically linked busybox of the host, or a failure that says how to get one.
fn static_busybox() -> PathBuf {
    let found = ["/usr/bin/busybox", "/bin/busybox", "/usr/sbin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    let Some(busybox) = found else {
        panic!(
            "busybox not found (looked in /usr/bin, /bin, /usr/sbin): these tests build their \
             root from it; install it with `apt-get install -y busybox-static`"
        );
    };
    assert!(
        !has_interpreter(&busybox),
        "{busybox:?} is dynamically linked, so it cannot run alone in a test root: install a \
         static one with `apt-get install -y busybox-static`"
    );
    busybox
}

/// Whether an ELF64 file has a `PT_INTERP` program header (is dynamically linked).
fn has_interpreter(elf: &Path) -> bool {
    let bytes = fs::read(elf).expect("read busybox");
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap()) as usize;
    assert!(
        bytes.starts_with(b"\x7fELF\x02\x01"),
        "{elf:?} is not a 64-bit LE ELF file"
    );
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| {
        let p_type = &bytes[phoff + i * phentsize..phoff + i * phentsize + 4];
        p_type == 3u32.to_le_bytes()
    })
}

/// The applet names busybox offers.
fn busybox_applets(busybox: &Path) -> Vec<String> {
    let out = Command::new(busybox)
        .arg("--list")
        .output()
        .expect("run busybox --list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty() && !l.contains('/'))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Running furnace
// ---------------------------------------------------------------------------------------------

/// Waits for `child` at most [`TIMEOUT`]; kills it and fails the test after that.
fn wait_within(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("furnace did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `cmd` to completion (within [`TIMEOUT`]) and collects its output.
fn output(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn furnace");
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
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts furnace's own failure: status 125 and one `furnace: ` line naming `needle`.
fn assert_furnace_failure(out: &Output, needle: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr:?}");
    assert!(stderr.starts_with("furnace: "), "{stderr:?}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
}

/// Reads lines of `child`'s stdout until one equals `line`.
fn wait_for_line(reader: &mut impl BufRead, line: &str) {
    let mut buf = String::new();
    loop {
        buf.clear();
        let n = reader.read_line(&mut buf).expect("read furnace's stdout");
        assert!(n > 0, "stdout ended before {line:?}");
        if buf.trim_end() == line {
            return;
        }
    }
}

/// Host pids whose command line is exactly `argv`.
fn pids_running(argv: &[&str]) -> Vec<u32> {
    let wanted: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted))
        .collect()
}

/// Polls `condition` until it holds or `within` has passed.
fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}

/// `kill(2)` of a process of this test (a child not reaped yet, or furnace's PID 1).
fn kill(pid: u32, signal: i32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("a real pid");
    let signal = rustix::process::Signal::from_named_raw(signal).expect("a named signal");
    rustix::process::kill_process(pid, signal).expect("kill");
}

// ---------------------------------------------------------------------------------------------
// Exit statuses
// ---------------------------------------------------------------------------------------------

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
        let out = output(&mut t.run(&[option, value], &["true"]));
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
    // Nothing of it is visible on the host afterwards.
    assert!(fs::read_dir(t.root().join("mnt/ro"))
        .unwrap()
        .next()
        .is_none());
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

// ---------------------------------------------------------------------------------------------
// A real terminal, under tmux
// ---------------------------------------------------------------------------------------------

/// A tmux server of the test's own (own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts a 120x40 session running `bash --norc` (prompt `host$ `), where the test types
    /// its furnace commands.
    fn start() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "furnace-cli-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let tmux = Self { socket };
        let status = Command::new("tmux")
            .args(["-L", &tmux.socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", "120", "-y", "40", "bash --norc --noprofile -i"])
            .status()
            .unwrap_or_else(|e| panic!("tmux is needed for the terminal tests ({e}): install it"));
        assert!(status.success(), "tmux new-session failed");
        tmux.type_line("PS1='host''$ '");
        tmux.expect("host$");
        tmux
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn screen(&self) -> String {
        text(&self.tmux(&["capture-pane", "-p", "-J"]).stdout)
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        assert!(self.tmux(&args).status.success());
    }

    fn type_line(&self, line: &str) {
        self.keys(&["-l", line]);
        self.keys(&["Enter"]);
    }

    /// Clears the screen and the history, so that later waits see only new output.
    fn clear(&self) {
        self.type_line("clear");
        std::thread::sleep(Duration::from_millis(200));
        assert!(self.tmux(&["clear-history"]).status.success());
    }

    fn wait_for(&self, needle: &str, within: Duration) -> bool {
        eventually(within, || self.screen().contains(needle))
    }

    /// Waits for `needle`, failing with the screen's content.
    fn expect(&self, needle: &str) {
        assert!(
            self.wait_for(needle, Duration::from_secs(10)),
            "{needle:?} did not appear; the screen:\n{}",
            self.screen()
        );
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let socket = text(
            &self
                .tmux(&["display-message", "-p", "#{socket_path}"])
                .stdout,
        );
        let _ = self.tmux(&["kill-server"]);
        // tmux leaves the socket file of a killed server behind.
        let socket = socket.trim();
        if socket.contains("furnace-cli-test-") {
            let _ = fs::remove_file(socket);
        }
    }
}

#[test]
fn shell_on_a_terminal() {
    let t = TestRoot::new();
    let tmux = Tmux::start();
    tmux.type_line(&format!(
        "'{FURNACE}' shell -e GREETING=hi '{}'",
        t.root().display()
    ));
    tmux.expect("[furnace localhost /]#");
    tmux.clear();
    tmux.type_line("hostname; stty size; echo inside=$FURNACE_CONTAINER:$GREETING");
    tmux.expect("localhost\n40 120\ninside=1:hi");
    // Ctrl-C reaches the inner foreground job, and the shell survives it.
    tmux.clear();
    tmux.type_line("sleep 100");
    std::thread::sleep(Duration::from_millis(300));
    tmux.keys(&["C-c"]);
    tmux.type_line("echo survived=$?");
    tmux.expect("survived=130");
    // Job control: Ctrl-Z stops the foreground job, fg brings it back.
    tmux.clear();
    tmux.type_line("sleep 101");
    std::thread::sleep(Duration::from_millis(300));
    tmux.keys(&["C-z"]);
    tmux.expect("Stopped");
    tmux.type_line(r#"kill -9 %1; wait; echo job""-gone"#);
    tmux.expect("job-gone");
    // exit ends furnace with the shell's status and gives the terminal back.
    tmux.clear();
    tmux.type_line("exit 3");
    tmux.expect("host$");
    tmux.type_line("echo furnace-exit=$?");
    tmux.expect("furnace-exit=3");
}

#[test]
fn run_on_a_terminal() {
    let t = TestRoot::new();
    let root = t.root();
    let tmux = Tmux::start();
    tmux.type_line(&format!("F='{FURNACE}'; R='{}'", root.display()));
    // Ctrl-C interrupts the command (it is in the terminal's foreground group).
    tmux.clear();
    tmux.type_line("$F run $R sleep 100; echo status=$?");
    std::thread::sleep(Duration::from_millis(500));
    tmux.keys(&["C-c"]);
    tmux.expect("status=130");
    // A command that leaves the terminal raw, and dies: furnace restores the attributes.
    tmux.clear();
    tmux.type_line("$F run $R sh -c 'stty raw -echo; kill -9 $$'; echo status=$?; stty -a");
    tmux.expect("status=137");
    let screen = tmux.screen();
    assert!(
        screen.contains(" icanon") && screen.contains(" echo "),
        "terminal left raw:\n{screen}"
    );
    // The window size is the terminal's own.
    tmux.clear();
    tmux.type_line("$F run $R stty size");
    tmux.expect("40 120");
}
