//! What the furnace binary's integration tests share: a busybox root per test, running and
//! waiting with deadlines, and a tmux server for the terminal tests.

#![allow(dead_code, unused_imports)] // each test binary uses a part of it

pub use std::fs;
pub use std::io::{BufRead, BufReader, Read, Write};
pub use std::os::unix::fs::PermissionsExt;
pub use std::path::{Path, PathBuf};
pub use std::process::{Child, Command, ExitStatus, Output, Stdio};
pub use std::sync::atomic::{AtomicUsize, Ordering};
pub use std::time::{Duration, Instant};

/// The binary under test.
pub const FURNACE: &str = env!("CARGO_BIN_EXE_furnace");

/// How long any single furnace invocation may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The test root
// ---------------------------------------------------------------------------------------------

/// A throw-away root directory with a static busybox and all its applets in `/bin`, removed
/// on drop (after checking that nothing is mounted under it).
pub struct TestRoot {
    /// The temp dir holding `root/` and whatever else the test needs (bind sources).
    pub dir: PathBuf,
}

impl TestRoot {
    pub fn new() -> Self {
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

    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// `furnace run ROOT args...`, with options before the root.
    pub fn run(&self, options: &[&str], command: &[&str]) -> Command {
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
pub fn static_busybox() -> PathBuf {
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
pub fn has_interpreter(elf: &Path) -> bool {
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
pub fn busybox_applets(busybox: &Path) -> Vec<String> {
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
pub fn wait_within(child: &mut Child) -> ExitStatus {
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
pub fn output(cmd: &mut Command) -> Output {
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

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts furnace's own failure: status 125 and one `furnace: ` line naming `needle`.
pub fn assert_furnace_failure(out: &Output, needle: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr:?}");
    assert!(stderr.starts_with("furnace: "), "{stderr:?}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
}

/// Reads lines of `child`'s stdout until one equals `line`.
pub fn wait_for_line(reader: &mut impl BufRead, line: &str) {
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
pub fn pids_running(argv: &[&str]) -> Vec<u32> {
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
pub fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
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
pub fn kill(pid: u32, signal: i32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("a real pid");
    let signal = rustix::process::Signal::from_named_raw(signal).expect("a named signal");
    rustix::process::kill_process(pid, signal).expect("kill");
}

// ---------------------------------------------------------------------------------------------
// Exit statuses
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// A real terminal, under tmux
// ---------------------------------------------------------------------------------------------

/// A tmux server of the test's own (own socket), killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts a 120x40 session running `bash --norc` (prompt `host$ `), where the test types
    /// its furnace commands.
    pub fn start() -> Self {
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

    pub fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux")
    }

    pub fn screen(&self) -> String {
        text(&self.tmux(&["capture-pane", "-p", "-J"]).stdout)
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        assert!(self.tmux(&args).status.success());
    }

    pub fn type_line(&self, line: &str) {
        self.keys(&["-l", line]);
        self.keys(&["Enter"]);
    }

    /// Resizes the window (the programs in it get `SIGWINCH`).
    pub fn resize(&self, columns: u16, rows: u16) {
        let (x, y) = (columns.to_string(), rows.to_string());
        assert!(self
            .tmux(&["resize-window", "-x", &x, "-y", &y])
            .status
            .success());
    }

    /// Clears the screen and the history, so that later waits see only new output.
    pub fn clear(&self) {
        self.type_line("clear");
        std::thread::sleep(Duration::from_millis(200));
        assert!(self.tmux(&["clear-history"]).status.success());
    }

    pub fn wait_for(&self, needle: &str, within: Duration) -> bool {
        eventually(within, || self.screen().contains(needle))
    }

    /// Waits for `needle`, failing with the screen's content.
    pub fn expect(&self, needle: &str) {
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
