//! The harness of the privileged tests: fork, private mount namespace, scratch tmpfs, report
//! back; and the helpers the test bodies share (they run in the single-threaded test child).

use std::cell::RefCell;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

use furnace_sys::fd::forksafe::write_all;
use furnace_sys::mount::{self, MountFlags, Propagation};
use furnace_sys::mountinfo::{self, is_mount_point, MountInfo};
use furnace_sys::process::{self, forksafe::exit};
use furnace_sys::{Errno, ExitKind, Namespaces, Pidfd, Signal};
use rustix::pipe::PipeFlags;

const NEED_ROOT: &str = "privileged tests need root: run as root (CI does)";

/// How long a test child may run before the parent kills it and fails the test.
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// The harness: fork, private mount namespace, scratch tmpfs, report back.
// ---------------------------------------------------------------------------------------------

pub fn require_root() {
    assert!(rustix::process::geteuid().is_root(), "{NEED_ROOT}");
}

thread_local! {
    /// The last panic of this thread, as the panic hook formats it (location and message).
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that also records the panic's location and message in
/// [`LAST_PANIC`], so that a forked child can report them: the default hook writes into the
/// test harness's output capture, a buffer of the child's memory that dies with it.
pub fn record_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = LAST_PANIC.try_with(|last| *last.borrow_mut() = Some(info.to_string()));
            previous(info);
        }));
    });
}

/// A fresh, empty directory of the host's temp dir for one test child.
pub fn make_scratch_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("furnace-sys-{name}-{}-{n}", std::process::id()));
    fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    fs::canonicalize(&dir).unwrap_or_else(|e| panic!("realpath {}: {e}", dir.display()))
}

/// Runs `body` in a forked child, in a private mount namespace, with a scratch tmpfs mounted
/// on an empty directory (passed to `body`), and fails the test if the child does not exit 0.
///
/// The child never returns into the test harness: it leaves through `exit`, with 1 and its
/// panic message (written to stderr and sent to the parent through a pipe) when `body` panics.
///
/// Caveat: the harness is multi-threaded, and after `fork` only async-signal-safe calls are
/// strictly allowed in the child, since another thread may have held a lock at the moment of the
/// fork. The child of a *test* nevertheless allocates, formats and reads files: glibc makes
/// `malloc` usable after `fork`, and the child takes no lock that another thread could hold
/// (no `println!`, no `std::io::stderr()` lock; it writes its report with raw `write(2)`).
pub fn in_child(name: &str, body: impl FnOnce(&Path)) {
    require_root();
    record_panics();
    let scratch = make_scratch_dir(name);
    // Non-blocking: other tests fork concurrently, and their children may hold a copy of the
    // write end for a while; the parent reads what is there once its own child has exited.
    let (report_r, report_w) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)
        .expect("pipe for the child's report");
    // SAFETY: fork duplicates only the calling thread. The child runs `child_main`, which never
    // returns into the harness (it ends with `_exit`), and is kept to what a forked child of a
    // multi-threaded test can do in practice (see the caveat above). The parent only waits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        drop(report_r);
        child_main(&scratch, report_w, body);
    }
    drop(report_w);
    if pid < 0 {
        let err = std::io::Error::last_os_error();
        let _ = fs::remove_dir(&scratch);
        panic!("fork: {err}");
    }
    let status = wait_child(pid as u32);
    let report = read_report(&report_r);

    // The child's mounts lived in its own mount namespace, which died with it: the host's
    // table has no trace of them, and the scratch directory on the host stayed empty.
    let leaked_mounts: Vec<MountInfo> = mountinfo::read(None)
        .expect("read the host's mountinfo")
        .into_iter()
        .filter(|m| m.mount_point.starts_with(&scratch))
        .collect();
    let leftovers: Vec<PathBuf> = fs::read_dir(&scratch)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    let removed = if leftovers.is_empty() {
        fs::remove_dir(&scratch)
    } else {
        fs::remove_dir_all(&scratch)
    };

    assert_eq!(
        status,
        ExitKind::Exited(0),
        "test child {pid} of `{name}` failed: {}",
        if report.is_empty() {
            "(no panic message; see stderr)"
        } else {
            report.as_str()
        }
    );
    assert!(
        leaked_mounts.is_empty(),
        "mounts leaked into the host's namespace: {leaked_mounts:#?}"
    );
    assert!(
        leftovers.is_empty(),
        "the child wrote to the host's filesystem: {leftovers:?}"
    );
    removed.unwrap_or_else(|e| panic!("rmdir {}: {e}", scratch.display()));
}

/// The forked child of [`in_child`].
pub fn child_main(scratch: &Path, report: OwnedFd, body: impl FnOnce(&Path)) -> ! {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        furnace_sys::unshare(Namespaces::MNT).expect("unshare the mount namespace");
        mount::set_propagation("/", Propagation::Private, true).expect("make / rprivate");
        mount::mount(
            Some("furnace-test"),
            scratch,
            "tmpfs",
            MountFlags::empty(),
            Some("mode=0755,size=64m"),
        )
        .expect("scratch tmpfs");
        body(scratch);
    }));
    match outcome {
        Ok(()) => exit(0),
        Err(payload) => {
            let message = LAST_PANIC
                .try_with(|last| last.borrow_mut().take())
                .ok()
                .flatten()
                .unwrap_or_else(|| panic_payload_text(payload.as_ref()));
            let line = format!(
                "[furnace-sys privileged test child {}] {message}\n",
                rustix::process::getpid().as_raw_nonzero()
            );
            let _ = write_all(rustix::stdio::stderr(), line.as_bytes());
            let _ = write_all(report.as_fd(), message.as_bytes());
            exit(1)
        }
    }
}

pub fn panic_payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Waits (with a timeout) for the forked test child and reaps it.
pub fn wait_child(pid: u32) -> ExitKind {
    let child = Pidfd::open(pid).expect("pidfd of the test child");
    if !child
        .wait_exit_timeout(Some(CHILD_TIMEOUT))
        .expect("poll the test child's pidfd")
    {
        let _ = child.send_signal(Signal::KILL);
        let status = child.wait().expect("reap the test child");
        panic!("test child {pid} still running after {CHILD_TIMEOUT:?}; killed it ({status:?})");
    }
    child.wait().expect("reap the test child")
}

/// Whatever the child wrote into the report pipe (it has exited, so it is all there).
pub fn read_report(fd: &OwnedFd) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(fd, &mut buf) {
            Ok(0) | Err(Errno::AGAIN) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(Errno::INTR) => {}
            Err(e) => panic!("read the child's report: {e}"),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Helpers for the test bodies (they run in the single-threaded test child).
// ---------------------------------------------------------------------------------------------

/// Forks a helper process from the test child (which has a single thread, so forking it is
/// unrestricted). The helper runs `f` and exits with its result (101 if it panics); it gets
/// `SIGKILL` if the test child dies first.
pub fn spawn_helper(f: impl FnOnce() -> i32) -> Pidfd {
    let parent = rustix::process::getpid();
    // SAFETY: the calling test child is single-threaded, so its fork is an exact copy with no
    // lock held by a vanished thread; the helper leaves through `_exit`, never returning.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = std::panic::catch_unwind(AssertUnwindSafe(|| {
            // Still our parent's (no parent at all when we are the init of a new pid ns)?
            let ppid = rustix::process::getppid();
            if process::set_parent_death_signal(Some(Signal::KILL)).is_err()
                || ppid.is_some_and(|ppid| ppid != parent)
            {
                return 100;
            }
            f()
        }))
        .unwrap_or(101);
        exit(code);
    }
    assert!(
        pid > 0,
        "fork a helper: {}",
        std::io::Error::last_os_error()
    );
    drop(f);
    Pidfd::open(pid as u32).expect("pidfd of the helper")
}

/// Kills a helper and reaps it.
pub fn stop(helper: &Pidfd) {
    helper.send_signal(Signal::KILL).expect("kill the helper");
    assert_eq!(
        helper.wait().expect("reap the helper"),
        ExitKind::Signaled(libc::SIGKILL)
    );
}

/// Spawns a helper that unshares `namespaces` (which must include the uts namespace), sets the
/// hostname of its new uts namespace to `hostname`, says it is ready, and waits to be killed.
pub fn spawn_ns_helper(namespaces: Namespaces, hostname: &'static str) -> Pidfd {
    let (ready_r, ready_w) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC).expect("pipe");
    // `ready_w` moves into the closure: the helper keeps it, the parent drops it with the
    // closure, so the read below sees EOF if the helper dies before it is ready.
    let helper = spawn_helper(move || {
        if furnace_sys::unshare(namespaces).is_err() {
            return 2;
        }
        if process::sethostname(hostname).is_err() {
            return 3;
        }
        if write_all(ready_w.as_fd(), b"R").is_err() {
            return 4;
        }
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    });
    let n = read_ready_byte(&ready_r);
    if n != 1 {
        let status = helper.wait();
        panic!("namespace helper failed (2 = unshare, 3 = sethostname, 4 = write): {status:?}");
    }
    helper
}

pub fn nodename() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// The target of the `/proc/<who>/ns/<name>` link, e.g. `uts:[4026531838]`.
pub fn ns_link(who: &str, name: &str) -> PathBuf {
    let path = format!("/proc/{who}/ns/{name}");
    fs::read_link(&path).unwrap_or_else(|e| panic!("readlink {path}: {e}"))
}

/// The topmost mount at `path` in this process's mount table.
pub fn mount_at(path: &Path) -> MountInfo {
    let table = mountinfo::read(None).expect("read mountinfo");
    table
        .iter()
        .rev()
        .find(|m| m.mount_point == path)
        .cloned()
        .unwrap_or_else(|| panic!("no mount at {} in {table:#?}", path.display()))
}

pub fn has_mount_at(path: &Path) -> bool {
    mountinfo::read(None)
        .expect("read mountinfo")
        .iter()
        .any(|m| m.mount_point == path)
}

pub fn mkdir(path: &Path) {
    fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
}

pub fn mount_tmpfs(source: &str, target: &Path, flags: MountFlags) {
    mkdir(target);
    mount::mount(Some(source), target, "tmpfs", flags, Some("size=4m"))
        .unwrap_or_else(|e| panic!("{e}"));
}

pub fn assert_mount_point(path: &Path, expected: bool) {
    let is = is_mount_point(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(is, expected, "is_mount_point({})", path.display());
}

/// Asserts that creating a file at `path` fails with `EROFS`.
pub fn assert_read_only(path: &Path) {
    let err = fs::write(path, b"x").expect_err(&format!("{} should be read-only", path.display()));
    assert_eq!(
        err.raw_os_error(),
        Some(libc::EROFS),
        "write {}: {err}",
        path.display()
    );
}

/// The hexadecimal value of a `/proc/self/status` field such as `CapBnd`.
pub fn status_hex(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let value = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    u64::from_str_radix(value.trim(), 16).unwrap_or_else(|e| panic!("{field}: {value:?}: {e}"))
}

/// `path` as a C string, for the fork-safe tier.
pub fn cpath(path: &Path) -> std::ffi::CString {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes())
        .unwrap_or_else(|_| panic!("{} has a NUL byte", path.display()))
}

/// An `O_PATH` fd of `path` itself (not following a symlink there), for the fd-based calls.
pub fn open_path(path: &Path) -> OwnedFd {
    use rustix::fs::{Mode, OFlags};
    furnace_sys::fd::forksafe::open(&cpath(path), OFlags::PATH | OFlags::NOFOLLOW, Mode::empty())
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Reads the one byte a helper writes when it is ready (retrying `EINTR`); 0 when it ended
/// without writing it.
pub fn read_ready_byte(ready_r: &OwnedFd) -> usize {
    let mut byte = [0u8; 1];
    loop {
        match rustix::io::read(ready_r, &mut byte) {
            Err(Errno::INTR) => {}
            other => return other.expect("read the helper's ready byte"),
        }
    }
}
