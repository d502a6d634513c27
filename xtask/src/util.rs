//! Small helpers shared by the subcommands: errors, paths, running children, signals, `/proc`.

use std::ffi::{CString, OsStr, OsString};
use std::fmt::Display;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// Every fallible xtask step returns a message meant for a human.
pub type Result<T, E = String> = std::result::Result<T, E>;

/// `anyhow`-style context for any error that can be displayed.
pub trait Context<T> {
    fn context(self, what: impl Display) -> Result<T>;
    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl Display) -> Result<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }
    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| format!("{}: {e}", what()))
    }
}

/// The workspace root: the parent of this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Cargo's target directory (`CARGO_TARGET_DIR` when set, else `<root>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

/// `$CARGO` (set by cargo for the programs it runs), falling back to `cargo`, run from the root.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// A path relative to the workspace root when it is inside it, for shorter messages.
pub fn display_path(path: &Path) -> String {
    let root = workspace_root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The command line of `cmd`, for messages.
pub fn describe(cmd: &Command) -> String {
    let program = cmd.get_program();
    let mut s = if std::env::var_os("CARGO").as_deref() == Some(program) {
        "cargo".to_string()
    } else {
        program.to_string_lossy().into_owned()
    };
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Refuses loudly when not running as root.
pub fn require_root(what: &str) -> Result<()> {
    if is_root() {
        return Ok(());
    }
    Err(format!(
        "`{what}` must run as root: it attaches loop devices, mounts file systems and creates \
         namespaces (e.g. `sudo -E env \"PATH=$PATH\" {what}`)"
    ))
}

/// Finds an executable by name on `PATH`, then in the usual system directories (a non-login
/// root shell does not always have the `sbin` ones on `PATH`).
pub fn which(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for d in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Finds `name`, installing the Debian package `package` with apt-get when it is missing.
pub fn ensure_tool(name: &str, package: &str) -> Result<PathBuf> {
    if let Some(path) = which(name) {
        return Ok(path);
    }
    if !is_root() || which("apt-get").is_none() {
        return Err(format!(
            "`{name}` is missing; install the package `{package}` (e.g. `apt-get install -y {package}`)"
        ));
    }
    eprintln!("xtask: `{name}` is missing; installing the package `{package}` with apt-get");
    apt_install(package)?;
    which(name).ok_or_else(|| format!("`{name}` is still missing after installing `{package}`"))
}

/// `apt-get install -y --no-install-recommends PACKAGE`, running `apt-get update` first if
/// the plain install fails (a fresh machine has no package lists).
pub fn apt_install(package: &str) -> Result<()> {
    let install = || {
        let mut cmd = Command::new("apt-get");
        cmd.args(["install", "-y", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut cmd)
    };
    if install().is_err() {
        check_interrupted()?;
        let mut update = Command::new("apt-get");
        update
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut update)?;
        install()?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Signals: while children run, xtask survives SIGINT/SIGTERM/SIGHUP to clean up.

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    // Only async-signal-safe work here: two atomic stores.
    SIGNAL.store(sig, Ordering::SeqCst);
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Installs a handler for SIGINT, SIGTERM and SIGHUP that only records the signal. A handler (unlike
/// `SIG_IGN`) is reset to the default by `exec`, so children still die of Ctrl-C while xtask
/// lives on to unmount, detach and audit.
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: `sa` is fully initialised (zeroed, then the handler, flags and an emptied mask
        // are set) before sigaction reads it; `on_signal` is an `extern "C" fn(c_int)` that only
        // touches atomics, so it is async-signal-safe; the old action is not requested (null).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The exit code for an interrupted run: 128 + the signal number.
pub fn interrupt_exit_code() -> i32 {
    128 + SIGNAL.load(Ordering::SeqCst).max(1)
}

pub fn check_interrupted() -> Result<()> {
    if interrupted() {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// Makes a short, critical child (e.g. `losetup --find --show`) immune to Ctrl-C, so it cannot die
/// half-way and leave a loop device attached that xtask does not know about.
pub fn shield_from_signals(cmd: &mut Command) -> &mut Command {
    // SAFETY: the closure runs in the child between fork and exec and only calls `signal`, which
    // is async-signal-safe; it allocates nothing and touches no lock.
    unsafe {
        cmd.pre_exec(|| {
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(sig, libc::SIG_IGN);
            }
            Ok(())
        })
    }
}

/// Runs `cmd` to completion (stdio inherited), failing unless it exits with 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = run_status(cmd)?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(cmd)))
    }
}

/// Runs `cmd` to completion and returns its status. See [`wait_interruptible`].
pub fn run_status(cmd: &mut Command) -> Result<ExitStatus> {
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start `{}`", describe(cmd)))?;
    wait_interruptible(&mut child)
}

/// Waits for `child`. On Ctrl-C the whole foreground process group (children included) gets
/// SIGINT; a child that is still alive 2 s after xtask was signalled gets SIGTERM with all its
/// descendants (that also covers `kill <xtask pid>`), and SIGKILL after 7 s.
pub fn wait_interruptible(child: &mut Child) -> Result<ExitStatus> {
    let mut since: Option<Instant> = None;
    let (mut termed, mut killed) = (false, false);
    loop {
        if let Some(status) = child.try_wait().context("waiting for a child")? {
            return Ok(status);
        }
        if interrupted() {
            let elapsed = since.get_or_insert_with(Instant::now).elapsed();
            if !termed && elapsed >= Duration::from_secs(2) {
                signal_descendants(libc::SIGTERM);
                termed = true;
            }
            if !killed && elapsed >= Duration::from_secs(7) {
                signal_descendants(libc::SIGKILL);
                killed = true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `sig` to every descendant of this process.
fn signal_descendants(sig: libc::c_int) {
    let procs = all_procs();
    let mut targets = vec![std::process::id() as i32];
    let mut i = 0;
    while i < targets.len() {
        let parent = targets[i];
        targets.extend(procs.iter().filter(|p| p.ppid == parent).map(|p| p.pid));
        i += 1;
    }
    for &pid in &targets[1..] {
        // SAFETY: kill has no memory-safety preconditions; a stale pid only yields ESRCH.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Temporary directories and the machine-wide lock.

/// Creates a fresh directory `<prefix>XXXXXX` (mode 0700) with mkdtemp.
pub fn make_temp_dir(prefix: &Path) -> Result<PathBuf> {
    let mut template = prefix.as_os_str().as_bytes().to_vec();
    template.extend_from_slice(b"XXXXXX\0");
    // SAFETY: `template` is a writable, NUL-terminated buffer ending in "XXXXXX" that lives across
    // the call; mkdtemp only rewrites the six X's in place.
    let ret = unsafe { libc::mkdtemp(template.as_mut_ptr().cast()) };
    if ret.is_null() {
        return Err(format!(
            "cannot create a temporary directory {}XXXXXX: {}",
            prefix.display(),
            io::Error::last_os_error()
        ));
    }
    template.pop(); // the NUL
    Ok(PathBuf::from(OsString::from_vec(template)))
}

/// Removes a directory tree when dropped (for build staging areas, never for mount points).
#[derive(Debug)]
pub struct RemoveOnDrop(pub PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.0) {
            if e.kind() != io::ErrorKind::NotFound {
                eprintln!("xtask: warning: cannot remove {}: {e}", self.0.display());
            }
        }
    }
}

/// One xtask at a time per machine may build the image, mount it or run the suites: the leak
/// audit compares the whole machine's mounts, loop devices and processes, so two concurrent runs
/// would blame each other. Held until dropped (the descriptor is close-on-exec, so children
/// never hold it).
#[derive(Debug)]
pub struct MachineLock(#[allow(dead_code)] File);

pub fn lock_machine() -> Result<MachineLock> {
    let dir = if Path::new("/run").is_dir() {
        Path::new("/run")
    } else {
        Path::new("/tmp")
    };
    let path = dir.join("furnace-xtask.lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    let mut announced = false;
    loop {
        // SAFETY: flock on a descriptor owned by `file`, which outlives the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(format!("cannot lock {}: {err}", path.display()));
        }
        if !announced {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            eprintln!(
                "xtask: waiting for another xtask run (pid {}) to finish (lock {})",
                holder.trim(),
                path.display()
            );
            announced = true;
        }
        check_interrupted()?;
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = writeln!(file, "{}", std::process::id());
    Ok(MachineLock(file))
}

// ---------------------------------------------------------------------------------------------
// /proc

/// What xtask needs to know about a process, from `/proc/<pid>/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: i32,
    pub ppid: i32,
    pub state: char,
    /// Clock ticks after boot: with the pid, identifies a process across pid reuse.
    pub starttime: u64,
    pub comm: String,
    pub kthread: bool,
}

const PF_KTHREAD: u64 = 0x0020_0000;

/// Parses the contents of `/proc/<pid>/stat`.
pub fn parse_stat(pid: i32, stat: &str) -> Option<ProcInfo> {
    // The comm field is in parentheses and may itself contain spaces and parentheses.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); field n is rest[n - 3].
    let state = rest.first()?.chars().next()?;
    let ppid = rest.get(1)?.parse().ok()?;
    let flags: u64 = rest.get(6)?.parse().ok()?;
    let starttime = rest.get(19)?.parse().ok()?;
    Some(ProcInfo {
        pid,
        ppid,
        state,
        starttime,
        comm,
        kthread: flags & PF_KTHREAD != 0,
    })
}

pub fn read_proc(pid: i32) -> Option<ProcInfo> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &stat)
}

/// Every process visible in `/proc` (those that vanish while reading are skipped).
pub fn all_procs() -> Vec<ProcInfo> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read_proc)
        .collect()
}

/// The command line of a process, arguments joined by spaces (empty if it is gone).
pub fn cmdline(pid: i32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let parts: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| OsStr::from_bytes(s).to_string_lossy().into_owned())
        .collect();
    parts.join(" ")
}

/// A C string from a path (paths never contain NUL when they come from the file system).
pub fn cstring(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("path contains a NUL byte: {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let stat = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 \
                    1000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let p = parse_stat(1234, stat).unwrap();
        assert_eq!(p.comm, "a) b (c)");
        assert_eq!(p.ppid, 1);
        assert_eq!(p.state, 'S');
        assert_eq!(p.starttime, 98765);
        assert!(!p.kthread);
    }

    #[test]
    fn stat_of_kernel_thread() {
        let stat = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 3 0 0 \
                    18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 0 0 0";
        let p = parse_stat(2, stat).unwrap();
        assert!(p.kthread);
        assert_eq!(p.starttime, 3);
    }

    #[test]
    fn own_process_is_readable() {
        let me = read_proc(std::process::id() as i32).unwrap();
        assert!(!me.kthread);
        assert!(!cmdline(me.pid).is_empty());
    }

    #[test]
    fn temp_dir_is_created_and_unique() {
        let base = std::env::temp_dir().join("xtask-unit-test.");
        let a = make_temp_dir(&base).unwrap();
        let b = make_temp_dir(&base).unwrap();
        assert_ne!(a, b);
        assert!(a.is_dir() && b.is_dir());
        fs::remove_dir(a).unwrap();
        fs::remove_dir(b).unwrap();
    }
}
