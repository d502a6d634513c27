//! Fixtures for furnace's privileged integration suite (`cargo xtask itest`).
//!
//! - [`image()`]: the read-only test image the runner mounted (`FURNACE_TEST_IMAGE`).
//! - [`Scratch`]: a per-test throw-away overlay over the image (upper and work dirs in a fresh
//!   `/tmp/furnace-test-*` directory), unmounted and removed on drop, even when the test panics.
//! - [`LeakCheck`]: a small leak oracle (processes, mounts, namespaces, loop devices, fds of this
//!   process) for the tests that must prove that nothing is left behind.
//! - [`sh`], [`sh_ok`], [`run`]: run something in a container and collect what it printed.
//! - [`wait_until`], [`within`]: deadlines, so that a broken container fails a test instead of
//!   hanging the suite (never used to assert speed).
//! - [`Helper`]: drives the `furnace-test-helper` binary, for callers that die or panic.
//! - [`probe`]: the static `/probe` helper (built from `tests/probe/probe.c`) and its answers.
//! - [`hostside`]: an outside directory that must stay untouched, host mount guards, the
//!   harness pids cgroup that fences fork bombs.
//!
//! Tests run four at a time in threads of one process. Every test works on its own
//! [`Scratch`]; a test that checks the whole machine for leaks takes the scratch gate
//! exclusively ([`Scratch::exclusive`]), so that no other test's containers, mounts or
//! processes come and go while it looks.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Condvar, Mutex};
use std::time::{Duration, Instant};

use furnace_core::host::OverlayMountGuard;
use furnace_core::Container;

pub mod hostside;
pub mod probe;

/// The environment variable through which the runner passes the image's mount point.
pub const IMAGE_ENV: &str = "FURNACE_TEST_IMAGE";

/// The generous deadline for anything that should take well under a second.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// How long the leak oracle lets things disappear on their own (network namespaces and
/// autoclear loop devices go away asynchronously).
pub const GRACE: Duration = Duration::from_secs(3);

/// The test image (read-only mount point), from `FURNACE_TEST_IMAGE`.
///
/// # Panics
/// When the variable is unset or does not name a root directory with `/bin/sh`: these tests
/// are never skipped; they run through `cargo xtask itest`.
pub fn image() -> PathBuf {
    let Some(dir) = std::env::var_os(IMAGE_ENV) else {
        panic!(
            "{IMAGE_ENV} is not set: the integration tests need the test image mounted \
             read-only; run them through `cargo xtask itest` (as root)"
        );
    };
    let dir = PathBuf::from(dir);
    assert!(
        dir.join("bin/sh").exists(),
        "{IMAGE_ENV}={} does not look like the test image (no bin/sh): run through `cargo xtask itest`",
        dir.display()
    );
    dir
}

// ---------------------------------------------------------------------------------------------
// Names and temporary directories

/// A name unique in this machine's `/tmp` for this run: `furnace-test-{tag}-{pid}-{n}`.
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("furnace-test-{tag}-{}-{n}-{nanos:x}", std::process::id())
}

/// A directory `/tmp/furnace-test-{tag}-*`, removed with its content on drop (after lazily
/// unmounting anything still mounted under it, so that removal never reaches into a mount).
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh directory, mode 0755 whatever the umask.
    pub fn new(tag: &str) -> TempDir {
        use std::os::unix::fs::PermissionsExt;
        loop {
            let path = Path::new("/tmp").join(unique_name(tag));
            match fs::create_dir(&path) {
                Ok(()) => {
                    let dir = TempDir { path };
                    fs::set_permissions(&dir.path, fs::Permissions::from_mode(0o755))
                        .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.path.display()));
                    return dir;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create {}: {e}", path.display()),
            }
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path/rel`.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        remove_tree(&self.path);
    }
}

/// Detaches every mount under `dir` (deepest first), then removes `dir` — unless something is
/// still mounted there, in which case removing would reach into another filesystem.
fn remove_tree(dir: &Path) {
    let mut mounted = mount_points_under(dir);
    mounted.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in &mounted {
        let _ = furnace_sys::mount::umount2(point, furnace_sys::mount::UnmountFlags::DETACH);
    }
    let still = mount_points_under(dir);
    if !still.is_empty() {
        eprintln!(
            "furnace-tests: not removing {}: still mounted under it: {still:?}",
            dir.display()
        );
        return;
    }
    if let Err(e) = fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            eprintln!("furnace-tests: cannot remove {}: {e}", dir.display());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The scratch gate: shared for ordinary tests, exclusive for leak-checking ones

#[derive(Debug, Default)]
struct GateState {
    readers: usize,
    writer: bool,
}

static GATE: Mutex<GateState> = Mutex::new(GateState {
    readers: 0,
    writer: false,
});
static GATE_CHANGED: Condvar = Condvar::new();

thread_local! {
    static HOLDS_EXCLUSIVE: Cell<bool> = const { Cell::new(false) };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Shared,
    Exclusive,
    /// A second scratch of a thread that holds the gate exclusively.
    Nested,
}

#[derive(Debug)]
struct GateToken(Access);

impl GateToken {
    fn enter(exclusive: bool) -> GateToken {
        if HOLDS_EXCLUSIVE.with(Cell::get) {
            return GateToken(Access::Nested);
        }
        let mut state = GATE.lock().unwrap_or_else(|e| e.into_inner());
        if exclusive {
            while state.writer || state.readers > 0 {
                state = GATE_CHANGED.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            state.writer = true;
            HOLDS_EXCLUSIVE.with(|h| h.set(true));
            GateToken(Access::Exclusive)
        } else {
            while state.writer {
                state = GATE_CHANGED.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            state.readers += 1;
            GateToken(Access::Shared)
        }
    }
}

impl Drop for GateToken {
    fn drop(&mut self) {
        let mut state = GATE.lock().unwrap_or_else(|e| e.into_inner());
        match self.0 {
            Access::Shared => state.readers -= 1,
            Access::Exclusive => {
                state.writer = false;
                HOLDS_EXCLUSIVE.with(|h| h.set(false));
            }
            Access::Nested => return,
        }
        GATE_CHANGED.notify_all();
    }
}

// ---------------------------------------------------------------------------------------------
// Scratch: a throw-away overlay over the image

/// A throw-away writable view of the image: an overlay (lower: the image; upper and work in a
/// fresh `/tmp/furnace-test-scratch-*` directory) mounted on `merged` in that directory.
///
/// Dropping it unmounts the overlay (and anything left under it) and removes the directory,
/// also when the test panics. Declare it *first* in a test, so that containers and guards
/// declared after it are dropped before it.
#[derive(Debug)]
pub struct Scratch {
    dir: TempDir,
    overlay: Option<OverlayMountGuard>,
    // Dropped last: the gate opens once the scratch is gone.
    _token: GateToken,
}

impl Scratch {
    /// A scratch for an ordinary test (runs alongside other tests).
    pub fn new() -> Scratch {
        Self::with_access(false)
    }

    /// A scratch for a test that looks at the whole machine ([`LeakCheck`]): waits until no
    /// other test has a scratch, and keeps others from starting until it is dropped. Further
    /// scratches made on the same thread meanwhile share its exclusivity (scratches made on
    /// other threads would wait: do not).
    pub fn exclusive() -> Scratch {
        Self::with_access(true)
    }

    fn with_access(exclusive: bool) -> Scratch {
        let image = image();
        let token = GateToken::enter(exclusive);
        let dir = TempDir::new("scratch");
        for sub in ["upper", "work", "merged"] {
            fs::create_dir(dir.join(sub)).expect("create the overlay directories");
        }
        let overlay = OverlayMountGuard::new(
            &[&image],
            dir.join("upper"),
            dir.join("work"),
            dir.join("merged"),
        )
        .unwrap_or_else(|e| panic!("cannot mount the scratch overlay: {e}"));
        Scratch {
            dir,
            overlay: Some(overlay),
            _token: token,
        }
    }

    /// The root directory for a container (the overlay's merged directory, a mount point).
    pub fn root(&self) -> PathBuf {
        self.dir.join("merged")
    }

    /// The overlay's upper directory: everything a container wrote.
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    /// The scratch's own temporary directory, for host-side files outside the root.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The host path of `inside` (a path inside the container) in the merged directory.
    pub fn host_path(&self, inside: impl AsRef<Path>) -> PathBuf {
        let rel = inside.as_ref().strip_prefix("/").unwrap_or(inside.as_ref());
        self.root().join(rel)
    }

    /// Every path in the upper directory, relative to it, sorted.
    pub fn upper_entries(&self) -> Vec<PathBuf> {
        let upper = self.upper();
        let mut out = Vec::new();
        let mut stack = vec![upper.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(path.clone());
                }
                out.push(path.strip_prefix(&upper).unwrap_or(&path).to_path_buf());
            }
        }
        out.sort();
        out
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(overlay) = self.overlay.take() {
            if let Err(e) = overlay.unmount() {
                eprintln!("furnace-tests: unmounting the scratch overlay: {e}");
            }
        }
        // The TempDir field then detaches whatever is left under it and removes it.
    }
}

// ---------------------------------------------------------------------------------------------
// Running things in a container

/// What a command printed, and how it ended.
#[derive(Debug)]
pub struct Ran {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its standard output, lossily decoded.
    pub stdout: String,
    /// Its standard error, lossily decoded.
    pub stderr: String,
}

impl Ran {
    /// The exit code (panics when it died by a signal).
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or_else(|| {
            panic!(
                "killed by signal {:?}; stderr: {}",
                self.status.signal(),
                self.stderr
            )
        })
    }
}

/// Runs `program args...` in the container (stdin null, stdout and stderr piped).
///
/// # Panics
/// When it cannot be spawned.
pub fn run<S: AsRef<OsStr>>(container: &Container, program: &str, args: &[S]) -> Ran {
    let out = container
        .command(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} in the container: {e}"));
    Ran {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `sh -c script` in the container: `(status, stdout, stderr)`.
pub fn sh(container: &Container, script: &str) -> (ExitStatus, String, String) {
    let ran = run(container, "sh", &["-c", script]);
    (ran.status, ran.stdout, ran.stderr)
}

/// Runs `sh -c script` in the container, asserts that it succeeded, returns its stdout.
pub fn sh_ok(container: &Container, script: &str) -> String {
    let (status, stdout, stderr) = sh(container, script);
    assert!(
        status.success(),
        "`{script}` failed in the container: {status}\nstdout: {stdout}\nstderr: {stderr}"
    );
    stdout
}

// ---------------------------------------------------------------------------------------------
// Deadlines

/// Polls `cond` every 20 ms until it holds; panics naming `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `f` on a thread and returns its result; panics naming `what` if it has not finished
/// within `timeout` (the thread is then left running: the test has failed anyway).
pub fn within<T: Send + 'static>(
    timeout: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(timeout) {
        Ok(value) => {
            let _ = handle.join();
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread sends before it ends"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what} did not finish within {timeout:?} (hang?)")
        }
    }
}

// ---------------------------------------------------------------------------------------------
// /proc and /sys

/// `readlink /proc/{pid}/ns/{kind}`, e.g. `pid:[4026531836]`.
pub fn ns_of(pid: u32, kind: &str) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// One line of `/proc/PID/stat`, the fields the suite needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// The pid.
    pub pid: u32,
    /// The command name.
    pub comm: String,
    /// The state letter (`R`, `S`, `Z`, ...).
    pub state: char,
    /// The parent pid.
    pub ppid: u32,
    /// Start time in clock ticks after boot (with the pid, survives pid reuse).
    pub start: u64,
}

/// Reads `/proc/{pid}/stat`.
pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_owned();
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    Some(ProcStat {
        pid,
        comm,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// Every process of the machine (as this process's pid namespace sees them).
pub fn all_processes() -> Vec<ProcStat> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(proc_stat)
        .collect()
}

/// Whether `pid` names a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|s| s.state != 'Z' && s.state != 'X')
}

/// The live processes whose pid namespace is `ns` (as given by [`ns_of`]).
pub fn processes_in_pid_ns(ns: &str) -> Vec<ProcStat> {
    all_processes()
        .into_iter()
        .filter(|p| ns_of(p.pid, "pid").as_deref() == Some(ns))
        .collect()
}

/// The lines of `/proc/self/mountinfo`.
pub fn mountinfo_lines() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .expect("read /proc/self/mountinfo")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The mount point of a mountinfo line (octal escapes decoded).
pub fn mount_point_of(line: &str) -> PathBuf {
    let field = line.split(' ').nth(4).unwrap_or("");
    PathBuf::from(unescape_octal(field))
}

fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let digit = |k: usize| u32::from(bytes[i + k] - b'0');
            out.push((digit(1) * 64 + digit(2) * 8 + digit(3)) as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount points (in this process's mount namespace) at or under `dir`.
pub fn mount_points_under(dir: &Path) -> Vec<PathBuf> {
    mountinfo_lines()
        .iter()
        .map(|l| mount_point_of(l))
        .filter(|p| p.starts_with(dir))
        .collect()
}

/// Attached loop devices: `(name, backing file)` from `/sys/block/loop*/loop/backing_file`.
pub fn attached_loop_devices() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let Ok(entries) = fs::read_dir("/sys/block") else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("loop") {
            continue;
        }
        if let Ok(file) = fs::read_to_string(entry.path().join("loop/backing_file")) {
            out.insert((name, file.trim_end().to_owned()));
        }
    }
    out
}

/// This process's open fds: `(fd, readlink target)`, without the one used to list them.
pub fn own_fds() -> BTreeSet<(i32, String)> {
    let listing_dir = format!("/proc/{}/fd", std::process::id());
    let mut out = BTreeSet::new();
    for entry in fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .flatten()
    {
        let Some(fd) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(target) = fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.to_string_lossy().into_owned();
        if target != listing_dir {
            out.insert((fd, target));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The leak oracle

/// A snapshot of what a container could leave behind: processes of a pid namespace other than
/// ours or descending from this test process, the mount table, the pid/net/mnt namespaces of
/// all processes, attached loop devices, and this process's open fds.
///
/// Only in a test that holds its scratch exclusively ([`Scratch::exclusive`]): otherwise the
/// other tests running alongside would come and go in the picture.
#[derive(Debug, Clone)]
pub struct LeakCheck {
    state: MachineState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MachineState {
    /// (pid, start time) → description.
    processes: BTreeMap<(u32, u64), String>,
    mounts: BTreeMap<String, usize>,
    namespaces: BTreeSet<String>,
    loops: BTreeSet<(String, String)>,
    fds: BTreeSet<(i32, String)>,
}

impl MachineState {
    fn take() -> MachineState {
        let me = std::process::id();
        let our_pid_ns = ns_of(me, "pid");
        let procs = all_processes();
        let parent: BTreeMap<u32, u32> = procs.iter().map(|p| (p.pid, p.ppid)).collect();
        // Whose is a process? Ours when it descends from this test process; otherwise the top
        // of its ancestry (the ancestor whose parent is the host's init) says where it came from.
        let origin = |pid: u32| -> Result<(), u32> {
            let mut cur = pid;
            for _ in 0..256 {
                match parent.get(&cur) {
                    Some(&ppid) if ppid == me => return Ok(()),
                    Some(&ppid) if ppid > 1 && parent.contains_key(&ppid) => cur = ppid,
                    _ => return Err(cur),
                }
            }
            Err(cur)
        };
        let foreign = |pid: u32| {
            let ns = ns_of(pid, "pid");
            ns.is_some() && ns != our_pid_ns
        };
        let mut processes = BTreeMap::new();
        let mut namespaces = BTreeSet::new();
        for p in procs.iter().filter(|p| p.pid != me) {
            // Ours, or in a container whose init lost its parent (such as a killed caller's).
            // Containers of other test runs on the machine hang below their own callers.
            let relevant = match origin(p.pid) {
                Ok(()) => true,
                Err(top) => foreign(p.pid) && foreign(top),
            };
            if !relevant {
                continue;
            }
            let pid_ns = ns_of(p.pid, "pid");
            processes.insert(
                (p.pid, p.start),
                format!(
                    "process {} ({}) state {} parent {}{}",
                    p.pid,
                    p.comm,
                    p.state,
                    p.ppid,
                    match pid_ns {
                        Some(ns) if Some(&ns) != our_pid_ns.as_ref() => format!(" in {ns}"),
                        _ => String::new(),
                    }
                ),
            );
            for kind in ["pid", "net", "mnt"] {
                if let Some(ns) = ns_of(p.pid, kind) {
                    namespaces.insert(format!("{ns} (of process {})", p.pid));
                }
            }
        }
        // The test process's own threads must stay where they were (a thread left in a
        // container's namespace would be a leak too).
        if let Ok(tasks) = fs::read_dir("/proc/self/task") {
            for task in tasks.flatten() {
                for kind in [
                    "pid",
                    "pid_for_children",
                    "net",
                    "mnt",
                    "uts",
                    "ipc",
                    "cgroup",
                ] {
                    if let Ok(ns) = fs::read_link(task.path().join("ns").join(kind)) {
                        namespaces.insert(format!("{} (of the test process)", ns.display()));
                    }
                }
            }
        }
        let mut mounts = BTreeMap::new();
        for line in mountinfo_lines() {
            if is_other_runs_mount(&line) {
                continue;
            }
            // Drop the mount and parent ids: the rest says what is mounted where, and how.
            let key = line.splitn(3, ' ').nth(2).unwrap_or("").to_owned();
            *mounts.entry(key).or_insert(0) += 1;
        }
        MachineState {
            processes,
            mounts,
            namespaces,
            loops: attached_loop_devices()
                .into_iter()
                .filter(|(_, file)| !is_other_runs_file(file))
                .collect(),
            fds: own_fds(),
        }
    }

    /// What is in `self` (now) and was not in `before`, and mounts that vanished.
    fn leftovers(&self, before: &MachineState) -> Vec<String> {
        let mut out = Vec::new();
        for (key, what) in &self.processes {
            if !before.processes.contains_key(key) {
                out.push(what.clone());
            }
        }
        for (line, n) in &self.mounts {
            let was = before.mounts.get(line).copied().unwrap_or(0);
            if *n > was {
                out.push(format!("mount {line}"));
            }
        }
        for (line, n) in &before.mounts {
            let now = self.mounts.get(line).copied().unwrap_or(0);
            if *n > now {
                out.push(format!("mount vanished from the host: {line}"));
            }
        }
        for ns in self.namespaces.difference(&before.namespaces) {
            out.push(format!("namespace {ns}"));
        }
        for (name, file) in self.loops.difference(&before.loops) {
            out.push(format!("loop device {name} on {file}"));
        }
        for (fd, target) in self.fds.difference(&before.fds) {
            out.push(format!("fd {fd} of the test process -> {target}"));
        }
        out
    }
}

/// Mounts of other test runs on the machine (their `/tmp/furnace-test-*` scratches, their
/// runner's image mount) are none of this test's business.
fn is_other_runs_mount(line: &str) -> bool {
    let point = mount_point_of(line);
    let Some(name) = point
        .strip_prefix("/tmp")
        .ok()
        .and_then(|rest| rest.components().next())
        .and_then(|c| c.as_os_str().to_str().map(str::to_owned))
    else {
        return false;
    };
    name.starts_with("furnace-itest.") || is_other_runs_file(&name)
}

/// Whether a name is one that another test process made (`furnace-test-*-PID-*`, another PID),
/// or a runner's test image.
fn is_other_runs_file(name: &str) -> bool {
    if name
        .trim_end_matches(" (deleted)")
        .ends_with("furnace-image/rootfs.ext4")
    {
        return true;
    }
    name.contains("furnace-test-") && !name.contains(&format!("-{}-", std::process::id()))
}

impl LeakCheck {
    /// Takes the snapshot.
    ///
    /// # Panics
    /// When the current thread does not hold a scratch exclusively.
    pub fn snapshot() -> LeakCheck {
        assert!(
            HOLDS_EXCLUSIVE.with(Cell::get),
            "LeakCheck::snapshot needs Scratch::exclusive() on this thread first"
        );
        LeakCheck {
            state: MachineState::take(),
        }
    }

    /// Waits up to [`GRACE`] for the machine to be as in the snapshot; panics with the list of
    /// what is left behind.
    pub fn assert_clean(&self) {
        let deadline = Instant::now() + GRACE;
        loop {
            let left = MachineState::take().leftovers(&self.state);
            if left.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "left behind (still there {GRACE:?} later):\n  {}",
                    left.join("\n  ")
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The helper binary

/// A running `furnace-test-helper MODE ROOT`: a separate caller process with a container.
///
/// Dropping it kills (SIGKILL) and reaps the helper if it is still there.
#[derive(Debug)]
pub struct Helper {
    child: Child,
    reaped: Option<ExitStatus>,
    /// Host pid of the container's PID 1.
    pub init_pid: u32,
    /// Host pid of the `sleep` the helper started inside.
    pub sleeper_pid: u32,
    /// The container's pid namespace (`pid:[N]`).
    pub pid_ns: String,
    /// The container's mount namespace (`mnt:[N]`).
    pub mnt_ns: String,
}

impl Helper {
    /// Starts `exe MODE ROOT` and waits (with a deadline) for its `ready` line:
    /// `ready init=PID sleeper=PID pidns=pid:[N] mntns=mnt:[N]`.
    pub fn start(exe: &Path, mode: &str, root: &Path) -> Helper {
        let mut child = std::process::Command::new(exe)
            .arg(mode)
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(DEADLINE) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("furnace-test-helper {mode} did not report ready within {DEADLINE:?}");
            }
        };
        let field = |name: &str| -> Option<String> {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
                .map(str::to_owned)
        };
        let parsed = (|| {
            Some((
                field("init")?.parse().ok()?,
                field("sleeper")?.parse().ok()?,
                field("pidns")?,
                field("mntns")?,
            ))
        })();
        let Some((init_pid, sleeper_pid, pid_ns, mnt_ns)) = parsed else {
            let _ = child.kill();
            let status = child.wait();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("furnace-test-helper {mode}: unexpected report {line:?} ({status:?}); stderr: {err}");
        };
        Helper {
            child,
            reaped: None,
            init_pid,
            sleeper_pid,
            pid_ns,
            mnt_ns,
        }
    }

    /// The helper's own pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGKILL to the helper (not to its container).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Waits (with a deadline) for the helper to end; returns its status and stderr.
    pub fn wait(&mut self) -> (ExitStatus, String) {
        let pid = self.child.id();
        wait_until(DEADLINE, &format!("helper {pid} exits"), || {
            proc_stat(pid).is_none_or(|s| s.state == 'Z')
        });
        let status = self.child.wait().expect("wait for the helper");
        self.reaped = Some(status);
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status, err)
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        if self.reaped.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
