//! Privileged tests of `furnace-sys`: they really call the kernel, and need root.
//!
//! Every test runs its body in a forked child (see [`in_child`]) that first moves into a
//! private mount namespace of its own and mounts a scratch tmpfs over an empty directory of
//! the host's temp dir. Whatever the body mounts, unmounts or pivots therefore happens in that
//! namespace only, and vanishes with the child: the host's mount table is never touched, and
//! nothing is written to the host's filesystem but the empty scratch directory, which the
//! parent removes. The parent checks both after each child.
//!
//! These tests do not skip: run by a user other than root they fail, saying so.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use furnace_sys::caps::{self, Cap, CapSet};
use furnace_sys::dev::{self, DeviceKind};
use furnace_sys::mount::{self, MountFlags, Propagation, UnmountFlags};
use furnace_sys::mountinfo::{self, is_mount_point, MountInfo};
use furnace_sys::process;
use furnace_sys::raw::{self, Forked};
use furnace_sys::{Errno, ExitKind, Namespace, Namespaces, NsFd, Pidfd, Signal};
use rustix::fs::Mode;
use rustix::pipe::PipeFlags;

const NEED_ROOT: &str = "privileged tests need root: run as root (CI does)";

/// How long a test child may run before the parent kills it and fails the test.
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// The harness: fork, private mount namespace, scratch tmpfs, report back.
// ---------------------------------------------------------------------------------------------

fn require_root() {
    assert!(rustix::process::geteuid().is_root(), "{NEED_ROOT}");
}

thread_local! {
    /// The last panic of this thread, as the panic hook formats it (location and message).
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that also records the panic's location and message in
/// [`LAST_PANIC`], so that a forked child can report them: the default hook writes into the
/// test harness's output capture, a buffer of the child's memory that dies with it.
fn record_panics() {
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
fn make_scratch_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("furnace-sys-{name}-{}-{n}", std::process::id()));
    fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    fs::canonicalize(&dir).unwrap_or_else(|e| panic!("realpath {}: {e}", dir.display()))
}

/// Runs `body` in a forked child, in a private mount namespace, with a scratch tmpfs mounted
/// on an empty directory (passed to `body`), and fails the test if the child does not exit 0.
///
/// The child never returns into the test harness: it leaves through `raw::exit`, with 1 and its
/// panic message (written to stderr and sent to the parent through a pipe) when `body` panics.
///
/// Caveat: the harness is multi-threaded, and after `fork` only async-signal-safe calls are
/// strictly allowed in the child, since another thread may have held a lock at the moment of the
/// fork. The child of a *test* nevertheless allocates, formats and reads files: glibc makes
/// `malloc` usable after `fork`, and the child takes no lock that another thread could hold
/// (no `println!`, no `std::io::stderr()` lock; it writes its report with raw `write(2)`).
fn in_child(name: &str, body: impl FnOnce(&Path)) {
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
fn child_main(scratch: &Path, report: OwnedFd, body: impl FnOnce(&Path)) -> ! {
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
        Ok(()) => raw::exit(0),
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
            let _ = raw::write_all(rustix::stdio::stderr(), line.as_bytes());
            let _ = raw::write_all(&report, message.as_bytes());
            raw::exit(1)
        }
    }
}

fn panic_payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Waits (with a timeout) for the forked test child and reaps it.
fn wait_child(pid: u32) -> ExitKind {
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
fn read_report(fd: &OwnedFd) -> String {
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
fn spawn_helper(f: impl FnOnce() -> i32) -> Pidfd {
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
        raw::exit(code);
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
fn stop(helper: &Pidfd) {
    helper.send_signal(Signal::KILL).expect("kill the helper");
    assert_eq!(
        helper.wait().expect("reap the helper"),
        ExitKind::Signaled(libc::SIGKILL)
    );
}

/// Spawns a helper that unshares `namespaces` (which must include the uts namespace), sets the
/// hostname of its new uts namespace to `hostname`, says it is ready, and waits to be killed.
fn spawn_ns_helper(namespaces: Namespaces, hostname: &'static str) -> Pidfd {
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
        if raw::write_all(&ready_w, b"R").is_err() {
            return 4;
        }
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    });
    let mut byte = [0u8; 1];
    let n = loop {
        match rustix::io::read(&ready_r, &mut byte) {
            Err(Errno::INTR) => {}
            other => break other.expect("read the helper's ready byte"),
        }
    };
    if n != 1 {
        let status = helper.wait();
        panic!("namespace helper failed (2 = unshare, 3 = sethostname, 4 = write): {status:?}");
    }
    helper
}

fn nodename() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// The target of the `/proc/<who>/ns/<name>` link, e.g. `uts:[4026531838]`.
fn ns_link(who: &str, name: &str) -> PathBuf {
    let path = format!("/proc/{who}/ns/{name}");
    fs::read_link(&path).unwrap_or_else(|e| panic!("readlink {path}: {e}"))
}

/// The topmost mount at `path` in this process's mount table.
fn mount_at(path: &Path) -> MountInfo {
    let table = mountinfo::read(None).expect("read mountinfo");
    table
        .iter()
        .rev()
        .find(|m| m.mount_point == path)
        .cloned()
        .unwrap_or_else(|| panic!("no mount at {} in {table:#?}", path.display()))
}

fn has_mount_at(path: &Path) -> bool {
    mountinfo::read(None)
        .expect("read mountinfo")
        .iter()
        .any(|m| m.mount_point == path)
}

fn mkdir(path: &Path) {
    fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
}

fn mount_tmpfs(source: &str, target: &Path, flags: MountFlags) {
    mkdir(target);
    mount::mount(Some(source), target, "tmpfs", flags, Some("size=4m"))
        .unwrap_or_else(|e| panic!("{e}"));
}

fn assert_mount_point(path: &Path, expected: bool) {
    let is = is_mount_point(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(is, expected, "is_mount_point({})", path.display());
}

/// Asserts that creating a file at `path` fails with `EROFS`.
fn assert_read_only(path: &Path) {
    let err = fs::write(path, b"x").expect_err(&format!("{} should be read-only", path.display()));
    assert_eq!(
        err.raw_os_error(),
        Some(libc::EROFS),
        "write {}: {err}",
        path.display()
    );
}

/// The hexadecimal value of a `/proc/self/status` field such as `CapBnd`.
fn status_hex(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let value = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    u64::from_str_radix(value.trim(), 16).unwrap_or_else(|e| panic!("{field}: {value:?}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Namespaces
// ---------------------------------------------------------------------------------------------

#[test]
fn unshare_gives_new_mnt_uts_ipc_net_namespaces() {
    require_root();
    let host: Vec<PathBuf> = ["mnt", "uts", "ipc", "net"]
        .iter()
        .map(|name| ns_link("thread-self", name))
        .collect();
    in_child("unshare", |_| {
        let me = std::process::id();
        let link = |ns: Namespace| {
            fs::read_link(ns.proc_path(me)).unwrap_or_else(|e| panic!("readlink {ns}: {e}"))
        };
        // The harness already unshared the mount namespace.
        assert_ne!(link(Namespace::Mnt), host[0]);
        let kinds = [Namespace::Uts, Namespace::Ipc, Namespace::Net];
        let before: Vec<PathBuf> = kinds.iter().map(|&ns| link(ns)).collect();
        assert_eq!(before, host[1..], "uts, ipc, net are still the host's");

        furnace_sys::unshare(Namespaces::UTS | Namespaces::IPC | Namespaces::NET).unwrap();
        for (&ns, old) in kinds.iter().zip(&before) {
            let new = link(ns);
            assert_ne!(&new, old, "{ns} namespace did not change");
            assert!(new
                .to_string_lossy()
                .starts_with(&format!("{}:[", ns.proc_name())));
        }

        // Once more for the mount namespace, and pid, which only applies to children.
        let mnt = link(Namespace::Mnt);
        let pid = link(Namespace::Pid);
        furnace_sys::unshare(Namespaces::MNT | Namespaces::PID).unwrap();
        assert_ne!(link(Namespace::Mnt), mnt);
        assert_eq!(link(Namespace::Pid), pid);
        let init = spawn_helper(|| loop {
            std::thread::sleep(Duration::from_secs(3600));
        });
        let child_pid_ns = ns_link(&init.pid().to_string(), "pid");
        assert_ne!(child_pid_ns, pid);
        assert_eq!(ns_link("self", "pid_for_children"), child_pid_ns);
        stop(&init);
    });
}

#[test]
fn sethostname_in_a_new_uts_namespace_leaves_the_host_alone() {
    require_root();
    let host = nodename();
    in_child("sethostname", |_| {
        furnace_sys::unshare(Namespaces::UTS).unwrap();
        process::sethostname("furnace-uts-test").unwrap();
        assert_eq!(nodename(), "furnace-uts-test");
        let long = "x".repeat(100);
        let err = process::sethostname(&long).unwrap_err();
        assert_eq!(err.errno(), Errno::INVAL);
        assert_eq!(
            err.to_string(),
            format!("sethostname {long}: EINVAL (Invalid argument)")
        );
    });
    assert_ne!(host, "furnace-uts-test");
    assert_eq!(nodename(), host, "the host's hostname changed");
}

#[test]
fn nsfd_enter_joins_another_process_uts_namespace() {
    in_child("nsfd", |_| {
        let own = ns_link("self", "uts");
        let helper = spawn_ns_helper(Namespaces::UTS, "furnace-ns-test");
        let helper_uts = ns_link(&helper.pid().to_string(), "uts");
        assert_ne!(helper_uts, own);
        assert_ne!(nodename(), "furnace-ns-test");

        let ns = NsFd::open(helper.pid(), Namespace::Uts).unwrap();
        assert_eq!(ns.kind(), Namespace::Uts);
        // The kernel checks the kind: a net namespace is no uts namespace.
        let wrong =
            NsFd::open_path(Namespace::Net.proc_path(helper.pid()), Namespace::Uts).unwrap();
        let err = wrong.enter().unwrap_err();
        assert_eq!(err.errno(), Errno::INVAL);
        assert_eq!(
            err.to_string(),
            "setns uts namespace: EINVAL (Invalid argument)"
        );

        ns.enter().unwrap();
        assert_eq!(nodename(), "furnace-ns-test");
        assert_eq!(ns_link("self", "uts"), helper_uts);
        stop(&helper);
        // The handle keeps the namespace alive after its last process is gone.
        NsFd::open(std::process::id(), Namespace::Uts)
            .unwrap()
            .enter()
            .unwrap();
        assert_eq!(nodename(), "furnace-ns-test");
    });
}

#[test]
fn setns_pidfd_joins_another_process_namespaces() {
    in_child("setns-pidfd", |_| {
        let helper = spawn_ns_helper(Namespaces::UTS | Namespaces::IPC, "furnace-ns-test");
        let who = helper.pid().to_string();
        assert_ne!(ns_link("self", "uts"), ns_link(&who, "uts"));
        assert_ne!(ns_link("self", "ipc"), ns_link(&who, "ipc"));

        furnace_sys::setns_pidfd(helper.as_fd(), Namespaces::UTS | Namespaces::IPC).unwrap();
        assert_eq!(nodename(), "furnace-ns-test");
        assert_eq!(ns_link("self", "uts"), ns_link(&who, "uts"));
        assert_eq!(ns_link("self", "ipc"), ns_link(&who, "ipc"));

        stop(&helper);
        let err = furnace_sys::setns_pidfd(helper.as_fd(), Namespaces::UTS).unwrap_err();
        assert_eq!(err.errno(), Errno::SRCH);
        assert_eq!(err.to_string(), "setns pidfd uts: ESRCH (No such process)");
    });
}

#[test]
fn clone3_child_in_new_pid_namespace_is_pid_1() {
    in_child("clone3", |_| {
        let host = nodename();
        // SAFETY: this test child has a single thread; the clone3 child makes raw system calls
        // only and leaves through `raw::exit`.
        let forked = unsafe { raw::clone3(Namespaces::PID | Namespaces::UTS) }.expect("clone3");
        match forked {
            Forked::Child => {
                let code = if rustix::process::getpid().as_raw_nonzero().get() != 1 {
                    2
                } else if rustix::process::getppid().is_some() {
                    3
                } else if rustix::system::sethostname(b"furnace-clone3").is_err() {
                    4
                } else {
                    0
                };
                raw::exit(code)
            }
            Forked::Parent { pid, pidfd } => {
                assert_ne!(pid, 1);
                let child = Pidfd::from_owned(pidfd, pid);
                assert_eq!(child.pid(), pid);
                assert_eq!(
                    child.wait().unwrap(),
                    ExitKind::Exited(0),
                    "2 = not pid 1, 3 = sees a parent, 4 = sethostname failed"
                );
                // The hostname it set was its own uts namespace's.
                assert_eq!(nodename(), host);
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Mounts
// ---------------------------------------------------------------------------------------------

#[test]
fn tmpfs_mount_shows_in_mountinfo_with_decoded_path() {
    in_child("tmpfs", |scratch| {
        let dir = scratch.join("with space");
        mkdir(&dir);
        assert_mount_point(&dir, false);
        mount::mount(
            Some("furnace-tmpfs"),
            &dir,
            "tmpfs",
            MountFlags::NOSUID | MountFlags::NODEV,
            Some("size=1m,mode=0700"),
        )
        .unwrap();
        assert_mount_point(&dir, true);
        fs::write(dir.join("file"), b"hello").unwrap();
        assert_eq!(fs::read(dir.join("file")).unwrap(), b"hello");
        assert_mount_point(&dir.join("file"), false);
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o7777,
            0o700
        );

        let raw_table = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let escaped = format!(" {}/with\\040space ", scratch.display());
        assert!(
            raw_table.contains(&escaped),
            "no {escaped:?} in {raw_table}"
        );

        let m = mount_at(&dir);
        assert_eq!(m.fs_type, "tmpfs");
        assert_eq!(m.source, "furnace-tmpfs");
        assert_eq!(m.root, Path::new("/"));
        assert_eq!(m.parent_id, mount_at(scratch).mount_id);
        for opt in ["rw", "nosuid", "nodev"] {
            assert!(
                m.mount_options.iter().any(|o| o == opt),
                "{opt} missing: {m:?}"
            );
        }
        assert!(m.super_options.iter().any(|o| o == "size=1024k"), "{m:?}");
        assert!(m.super_options.iter().any(|o| o == "mode=700"), "{m:?}");
        assert!(!m.is_read_only());
        let flags = MountFlags::of_mount_at(&dir).unwrap();
        assert!(
            flags.contains(MountFlags::NOSUID | MountFlags::NODEV),
            "{flags:?}"
        );
        assert!(!flags.contains(MountFlags::RDONLY));

        mount::umount2(&dir, UnmountFlags::empty()).unwrap();
        assert_mount_point(&dir, false);
        assert!(!has_mount_at(&dir));
        assert!(!dir.join("file").exists());
    });
}

#[test]
fn bind_of_a_directory_on_the_same_filesystem_is_a_mount_point_and_remounts_read_only() {
    in_child("bind", |scratch| {
        let (src, dst) = (scratch.join("src"), scratch.join("dst"));
        mkdir(&src);
        mkdir(&dst);
        fs::write(src.join("data"), b"v1").unwrap();

        mount::bind(&src, &dst).unwrap();
        // Same filesystem, same st_dev: only the mount-root attribute tells.
        assert_eq!(
            fs::metadata(&src).unwrap().dev(),
            fs::metadata(&dst).unwrap().dev()
        );
        assert_mount_point(&dst, true);
        assert_mount_point(&src, false);
        let m = mount_at(&dst);
        assert_eq!(m.root, Path::new("/src"));
        assert_eq!(m.fs_type, "tmpfs");
        assert_eq!(m.source, "furnace-test");
        assert_eq!(fs::read(dst.join("data")).unwrap(), b"v1");

        mount::remount_read_only(&dst).unwrap();
        assert_read_only(&dst.join("new"));
        assert_read_only(&dst.join("data"));
        assert!(mount_at(&dst).is_read_only());
        assert!(MountFlags::of_mount_at(&dst)
            .unwrap()
            .contains(MountFlags::RDONLY));
        // Only the bind is read-only: the source stays writable, and writes show through.
        fs::write(src.join("data"), b"v2").unwrap();
        assert_eq!(fs::read(dst.join("data")).unwrap(), b"v2");
        assert!(!MountFlags::of_mount_at(&src)
            .unwrap()
            .contains(MountFlags::RDONLY));
        assert!(!mount_at(scratch).is_read_only());
    });
}

#[test]
fn remount_read_only_keeps_nosuid_nodev_noexec() {
    in_child("remount-ro", |scratch| {
        let (src, dst) = (scratch.join("src"), scratch.join("dst"));
        let locked = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
        mount_tmpfs("furnace-src", &src, locked);
        mkdir(&dst);
        mount::bind(&src, &dst).unwrap();
        assert!(MountFlags::of_mount_at(&dst).unwrap().contains(locked));

        mount::remount_read_only(&dst).unwrap();
        let flags = MountFlags::of_mount_at(&dst).unwrap();
        assert!(flags.contains(locked | MountFlags::RDONLY), "{flags:?}");
        let m = mount_at(&dst);
        for opt in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(
                m.mount_options.iter().any(|o| o == opt),
                "{opt} missing: {m:?}"
            );
        }
        assert_read_only(&dst.join("f"));
        // The source mount keeps its flags and stays writable.
        let src_flags = MountFlags::of_mount_at(&src).unwrap();
        assert!(src_flags.contains(locked) && !src_flags.contains(MountFlags::RDONLY));
        fs::write(src.join("f"), b"x").unwrap();

        // A bare read-only remount would have dropped them (root may, outside a user ns):
        // that is what `remount_read_only` guards against.
        mount::remount(&dst, MountFlags::RDONLY).unwrap();
        let bare = MountFlags::of_mount_at(&dst).unwrap();
        assert!(
            bare.contains(MountFlags::RDONLY) && !bare.intersects(locked),
            "{bare:?}"
        );
    });
}

#[test]
fn recursive_bind_includes_submounts_and_plain_bind_does_not() {
    in_child("rbind", |scratch| {
        let src = scratch.join("src");
        mount_tmpfs("furnace-sub", &src.join("sub"), MountFlags::empty());
        fs::write(src.join("sub/marker"), b"sub").unwrap();
        let (plain, rec) = (scratch.join("plain"), scratch.join("rec"));
        mkdir(&plain);
        mkdir(&rec);

        mount::bind(&src, &plain).unwrap();
        assert_mount_point(&plain, true);
        assert!(plain.join("sub").is_dir());
        assert_mount_point(&plain.join("sub"), false);
        assert!(!plain.join("sub/marker").exists());
        assert!(!has_mount_at(&plain.join("sub")));

        mount::bind_recursive(&src, &rec).unwrap();
        assert_mount_point(&rec, true);
        assert_mount_point(&rec.join("sub"), true);
        assert_eq!(fs::read(rec.join("sub/marker")).unwrap(), b"sub");
        let m = mount_at(&rec.join("sub"));
        assert_eq!(
            (m.fs_type.as_str(), m.source.to_str()),
            ("tmpfs", Some("furnace-sub"))
        );
        assert_eq!(m.parent_id, mount_at(&rec).mount_id);
    });
}

#[test]
fn shared_mounts_propagate_to_binds_and_slaves_do_not_send_back() {
    in_child("propagation", |scratch| {
        let (a, b) = (scratch.join("a"), scratch.join("b"));
        mount_tmpfs("furnace-shared", &a, MountFlags::empty());
        assert_eq!(mount_at(&a).shared(), None);
        mount::set_propagation(&a, Propagation::Shared, false).unwrap();
        let group = mount_at(&a)
            .shared()
            .expect("a shared:N tag after make-shared");

        mkdir(&b);
        mount::bind(&a, &b).unwrap();
        assert_eq!(
            mount_at(&b).shared(),
            Some(group),
            "the bind joins the peer group"
        );

        // A mount under the first appears under the second.
        mount_tmpfs("furnace-sub1", &a.join("sub1"), MountFlags::empty());
        fs::write(a.join("sub1/marker"), b"1").unwrap();
        assert_mount_point(&b.join("sub1"), true);
        assert_eq!(fs::read(b.join("sub1/marker")).unwrap(), b"1");
        assert_eq!(mount_at(&b.join("sub1")).source, "furnace-sub1");

        mount::set_propagation(&b, Propagation::Slave, false).unwrap();
        let m = mount_at(&b);
        assert_eq!((m.shared(), m.master()), (None, Some(group)), "{m:?}");

        // Mounts under the slave stay there...
        mount_tmpfs("furnace-sub2", &b.join("sub2"), MountFlags::empty());
        assert!(
            a.join("sub2").is_dir(),
            "same filesystem: the directory is visible"
        );
        assert_mount_point(&a.join("sub2"), false);
        assert!(!has_mount_at(&a.join("sub2")));
        // ...while the master's still reach it, and so do its unmounts.
        mount_tmpfs("furnace-sub3", &a.join("sub3"), MountFlags::empty());
        assert_mount_point(&b.join("sub3"), true);
        mount::umount2(a.join("sub1"), UnmountFlags::empty()).unwrap();
        assert_mount_point(&b.join("sub1"), false);

        // Recursively private: no tag left under the scratch mount.
        mount::set_propagation(scratch, Propagation::Private, true).unwrap();
        for m in mountinfo::read(None).unwrap() {
            if m.mount_point.starts_with(scratch) {
                assert!(m.optional_fields.is_empty(), "{m:?}");
            }
        }
    });
}

#[test]
fn umount2_detach_and_its_error_messages() {
    in_child("umount2", |scratch| {
        let target = scratch.join("busy");
        mount_tmpfs("furnace-busy", &target, MountFlags::empty());
        let mut open = fs::File::create(target.join("open")).unwrap();

        let err = mount::umount2(&target, UnmountFlags::empty()).unwrap_err();
        assert_eq!(err.errno(), Errno::BUSY);
        assert_eq!(err.call(), "umount2");
        assert_eq!(err.path(), Some(target.as_path()));
        assert_eq!(
            err.to_string(),
            format!(
                "umount2 {}: EBUSY (Device or resource busy)",
                target.display()
            )
        );
        assert_mount_point(&target, true);

        mount::umount2(&target, UnmountFlags::DETACH).unwrap();
        assert_mount_point(&target, false);
        assert!(!target.join("open").exists());
        // The detached filesystem lives on for the open file.
        open.write_all(b"still there").unwrap();

        let plain = scratch.join("plain");
        mkdir(&plain);
        let err = mount::umount2(&plain, UnmountFlags::empty()).unwrap_err();
        assert_eq!(err.errno(), Errno::INVAL);
        assert_eq!(
            err.to_string(),
            format!("umount2 {}: EINVAL (Invalid argument)", plain.display())
        );

        let missing = scratch.join("missing");
        let err = mount::umount2(&missing, UnmountFlags::DETACH).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "umount2 {}: ENOENT (No such file or directory)",
                missing.display()
            )
        );

        // NOFOLLOW: a symlink to a mount point is not itself a mount point.
        let real = scratch.join("real");
        mount_tmpfs("furnace-real", &real, MountFlags::empty());
        let link = scratch.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = mount::umount2(&link, UnmountFlags::NOFOLLOW).unwrap_err();
        assert_eq!(err.errno(), Errno::INVAL);
        mount::umount2(&link, UnmountFlags::empty()).unwrap();
        assert_mount_point(&real, false);
    });
}

#[test]
fn pivot_root_into_a_tmpfs_with_dot_dot() {
    in_child("pivot-root", |scratch| {
        let new_root = scratch.join("newroot");
        mount_tmpfs("furnace-newroot", &new_root, MountFlags::empty());
        fs::write(new_root.join("marker"), b"furnace-pivot").unwrap();
        mkdir(&new_root.join("proc"));
        // A directory of the old root, kept open across the pivot.
        let outside = rustix::fs::open(
            scratch,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();

        rustix::process::chdir(&new_root).unwrap();
        mount::pivot_root(".", ".").unwrap();
        mount::umount2(".", UnmountFlags::DETACH).unwrap();
        rustix::process::chdir("/").unwrap();

        assert_eq!(fs::read("/marker").unwrap(), b"furnace-pivot");
        let mut names: Vec<_> = fs::read_dir("/")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["marker", "proc"],
            "no directory for the old root was needed"
        );

        mount::mount(
            Some("proc"),
            "/proc",
            "proc",
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            None,
        )
        .unwrap();
        let table = mountinfo::read(None).unwrap();
        assert_eq!(
            table.len(),
            2,
            "only the new root and /proc are left: {table:#?}"
        );
        let root = &table[0];
        assert_eq!(root.mount_point, Path::new("/"));
        assert_eq!(
            (root.fs_type.as_str(), root.source.to_str()),
            ("tmpfs", Some("furnace-newroot"))
        );
        assert_eq!(table[1].mount_point, Path::new("/proc"));
        assert_mount_point(Path::new("/"), true);

        // The old root is out of reach: a directory fd of it is an unreachable cwd.
        assert!(raw::cwd_is_reachable().unwrap());
        rustix::process::fchdir(&outside).unwrap();
        assert!(!raw::cwd_is_reachable().unwrap());
        rustix::process::chdir("/").unwrap();
    });
}

#[test]
fn make_tree_read_only_covers_submounts_of_an_open_tree() {
    use rustix::mount::{move_mount, open_tree, MoveMountFlags, OpenTreeFlags};
    in_child("tree-ro", |scratch| {
        let src = scratch.join("src");
        mount_tmpfs("furnace-top", &src, MountFlags::empty());
        mount_tmpfs("furnace-nested", &src.join("sub"), MountFlags::empty());
        let dst = scratch.join("dst");
        mkdir(&dst);

        let tree = open_tree(
            rustix::fs::CWD,
            &src,
            OpenTreeFlags::OPEN_TREE_CLONE
                | OpenTreeFlags::OPEN_TREE_CLOEXEC
                | OpenTreeFlags::AT_RECURSIVE,
        )
        .unwrap();
        raw::make_tree_read_only(tree.as_fd()).unwrap();
        move_mount(
            tree.as_fd(),
            "",
            rustix::fs::CWD,
            &dst,
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
        .unwrap();

        assert_mount_point(&dst, true);
        assert_mount_point(&dst.join("sub"), true);
        assert_read_only(&dst.join("f"));
        assert_read_only(&dst.join("sub/f"));
        assert!(mount_at(&dst).is_read_only());
        assert!(mount_at(&dst.join("sub")).is_read_only());
        // The original tree is untouched, and the clone shows its files.
        fs::write(src.join("f"), b"top").unwrap();
        fs::write(src.join("sub/f"), b"nested").unwrap();
        assert_eq!(fs::read(dst.join("sub/f")).unwrap(), b"nested");
        assert!(!mount_at(&src).is_read_only());
        assert!(!mount_at(&src.join("sub")).is_read_only());
    });
}

// ---------------------------------------------------------------------------------------------
// Devices, network, processes, capabilities
// ---------------------------------------------------------------------------------------------

#[test]
fn mknod_char_device_has_exact_mode_under_umask_and_works_as_dev_null() {
    in_child("mknod-char", |scratch| {
        rustix::process::umask(Mode::from_raw_mode(0o077));
        // The umask is in force: a regular file asked for 0666 gets 0600.
        let regular = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .open(scratch.join("regular"))
            .unwrap();
        assert_eq!(
            regular.metadata().unwrap().permissions().mode() & 0o7777,
            0o600
        );

        let node = scratch.join("null");
        dev::mknod(&node, DeviceKind::Char, 1, 3, 0o666).unwrap();
        let meta = fs::metadata(&node).unwrap();
        assert!(meta.file_type().is_char_device());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o666);
        assert_eq!(
            (
                rustix::fs::major(meta.rdev()),
                rustix::fs::minor(meta.rdev())
            ),
            (1, 3)
        );
        assert_eq!(dev::device_number(&node).unwrap(), (DeviceKind::Char, 1, 3));

        let mut null = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&node)
            .unwrap();
        null.write_all(b"into the void").unwrap();
        let mut back = Vec::new();
        assert_eq!(null.read_to_end(&mut back).unwrap(), 0);

        let err = dev::mknod(&node, DeviceKind::Char, 1, 3, 0o666).unwrap_err();
        assert_eq!(err.errno(), Errno::EXIST);
        assert_eq!(
            err.to_string(),
            format!(
                "mknod {} char device 1:3 mode 666: EEXIST (File exists)",
                node.display()
            )
        );
    });
}

#[test]
fn mknod_block_device() {
    in_child("mknod-block", |scratch| {
        rustix::process::umask(Mode::from_raw_mode(0o077));
        let node = scratch.join("loop0");
        dev::mknod(&node, DeviceKind::Block, 7, 0, 0o660).unwrap();
        let meta = fs::metadata(&node).unwrap();
        assert!(meta.file_type().is_block_device());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
        assert_eq!(
            dev::device_number(&node).unwrap(),
            (DeviceKind::Block, 7, 0)
        );

        // Large numbers use the split encoding of dev_t.
        let big = scratch.join("big");
        dev::mknod(&big, DeviceKind::Block, 259, 70_000, 0o600).unwrap();
        assert_eq!(
            dev::device_number(&big).unwrap(),
            (DeviceKind::Block, 259, 70_000)
        );
        let meta = fs::metadata(&big).unwrap();
        assert_eq!(
            (
                rustix::fs::major(meta.rdev()),
                rustix::fs::minor(meta.rdev())
            ),
            (259, 70_000)
        );
    });
}

#[test]
fn loopback_up_in_a_new_network_namespace() {
    in_child("loopback", |scratch| {
        furnace_sys::unshare(Namespaces::NET).unwrap();
        // sysfs shows the network namespace of whoever mounts it: mount a fresh one.
        let sys = scratch.join("sys");
        mkdir(&sys);
        mount::mount(Some("sysfs"), &sys, "sysfs", MountFlags::empty(), None).unwrap();
        let lo_flags = || {
            let text = fs::read_to_string(sys.join("class/net/lo/flags")).unwrap();
            u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).unwrap()
        };
        let before = lo_flags();
        assert_eq!(
            before & libc::IFF_UP as u32,
            0,
            "lo of a new net ns starts down: {before:#x}"
        );
        assert_ne!(before & libc::IFF_LOOPBACK as u32, 0);

        raw::loopback_up().unwrap();
        let after = lo_flags();
        assert_ne!(after & libc::IFF_UP as u32, 0, "lo is not up: {after:#x}");
        // Idempotent.
        raw::loopback_up().unwrap();
        mount::umount2(&sys, UnmountFlags::empty()).unwrap();
    });
}

#[test]
fn pidfd_open_send_signal_and_wait() {
    in_child("pidfd", |_| {
        let sleeper = spawn_helper(|| loop {
            std::thread::sleep(Duration::from_secs(3600));
        });
        assert!(!sleeper.has_exited().unwrap());
        assert_eq!(sleeper.try_wait().unwrap(), None);
        assert!(!sleeper
            .wait_exit_timeout(Some(Duration::from_millis(50)))
            .unwrap());

        sleeper.send_signal(Signal::TERM).unwrap();
        assert!(sleeper
            .wait_exit_timeout(Some(Duration::from_secs(30)))
            .unwrap());
        assert!(sleeper.has_exited().unwrap());
        assert_eq!(sleeper.wait().unwrap(), ExitKind::Signaled(libc::SIGTERM));

        // Reaped: the pidfd stays valid but the process is gone.
        let err = sleeper.send_signal(Signal::TERM).unwrap_err();
        assert_eq!(err.errno(), Errno::SRCH);
        assert!(
            err.to_string().starts_with("pidfd_send_signal ")
                && err.to_string().ends_with(&format!(
                    "to pid {}: ESRCH (No such process)",
                    sleeper.pid()
                )),
            "{err}"
        );

        let quitter = spawn_helper(|| 7);
        assert!(quitter.wait_exit_timeout(None).unwrap());
        assert_eq!(quitter.wait().unwrap(), ExitKind::Exited(7));

        // Only the parent may reap.
        let parent = rustix::process::getppid().expect("a parent");
        let parent = Pidfd::open(parent.as_raw_nonzero().get() as u32).unwrap();
        let err = parent.try_wait().unwrap_err();
        assert_eq!(err.errno(), Errno::CHILD);
        assert!(err.to_string().starts_with("waitid pidfd of pid "), "{err}");
    });
}

#[test]
fn prctl_settings_take_effect() {
    in_child("prctl", |_| {
        process::set_parent_death_signal(Some(Signal::TERM)).unwrap();
        assert_eq!(
            rustix::process::parent_process_death_signal().unwrap(),
            Some(Signal::TERM)
        );
        process::set_parent_death_signal(None).unwrap();
        assert_eq!(
            rustix::process::parent_process_death_signal().unwrap(),
            None
        );

        process::set_dumpable(false).unwrap();
        assert_eq!(
            rustix::process::dumpable_behavior().unwrap(),
            rustix::process::DumpableBehavior::NotDumpable
        );
        process::set_dumpable(true).unwrap();

        process::set_no_new_privs().unwrap();
        assert!(rustix::thread::no_new_privs().unwrap());
        assert_eq!(status_hex("NoNewPrivs"), 1);

        // Child subreaper: an orphaned grandchild is reparented to us, not to init.
        process::set_child_subreaper(true).unwrap();
        assert!(rustix::process::child_subreaper().unwrap().is_some());
        let me = rustix::process::getpid();
        let middle = spawn_helper(move || {
            // SAFETY: the helper is single-threaded; the grandchild leaves through `_exit`.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let deadline = Instant::now() + Duration::from_secs(30);
                while rustix::process::getppid() != Some(me) {
                    if Instant::now() > deadline {
                        raw::exit(1);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                raw::exit(0);
            }
            if pid > 0 {
                0
            } else {
                2
            }
        });
        assert_eq!(middle.wait().unwrap(), ExitKind::Exited(0));
        let (_, status) = rustix::process::waitpid(None, rustix::process::WaitOptions::empty())
            .unwrap()
            .expect("the orphan was reparented to the subreaper");
        assert_eq!(
            status.exit_status(),
            Some(0),
            "the orphan saw another parent"
        );
        process::set_child_subreaper(false).unwrap();
        assert!(rustix::process::child_subreaper().unwrap().is_none());
    });
}

#[test]
fn caps_read_and_drop_in_a_forked_child() {
    require_root();
    in_child("caps", |scratch| {
        let bounding = caps::read(CapSet::Bounding).unwrap();
        assert!(bounding.contains(&Cap::CAP_NET_RAW) && bounding.contains(&Cap::CAP_SYS_ADMIN));
        assert!(caps::has_effective(Cap::CAP_SYS_ADMIN).unwrap());
        assert!(caps::read(CapSet::Effective)
            .unwrap()
            .is_subset(&caps::read(CapSet::Permitted).unwrap()));

        caps::drop_cap(CapSet::Bounding, Cap::CAP_NET_RAW).unwrap();
        assert!(!caps::read(CapSet::Bounding)
            .unwrap()
            .contains(&Cap::CAP_NET_RAW));
        assert_eq!(status_hex("CapBnd") & Cap::CAP_NET_RAW.bitmask(), 0);
        // The bounding set only limits what exec can grant: the effective set still has it.
        assert!(caps::has_effective(Cap::CAP_NET_RAW).unwrap());

        caps::drop_cap(CapSet::Effective, Cap::CAP_SYS_ADMIN).unwrap();
        assert!(!caps::has_effective(Cap::CAP_SYS_ADMIN).unwrap());
        assert_eq!(status_hex("CapEff") & Cap::CAP_SYS_ADMIN.bitmask(), 0);
        let target = scratch.join("x");
        mkdir(&target);
        let err =
            mount::mount(Some("tmpfs"), &target, "tmpfs", MountFlags::empty(), None).unwrap_err();
        assert_eq!(err.errno(), Errno::PERM);
        assert!(
            err.to_string()
                .ends_with(": EPERM (Operation not permitted)"),
            "{err}"
        );
    });
    // The parent's sets are untouched.
    assert!(caps::read(CapSet::Bounding)
        .unwrap()
        .contains(&Cap::CAP_NET_RAW));
    assert!(caps::has_effective(Cap::CAP_SYS_ADMIN).unwrap());
}

#[test]
fn caps_restrict_to_a_small_set() {
    in_child("caps-restrict", |_| {
        let keep: ::caps::CapsHashSet = [Cap::CAP_CHOWN, Cap::CAP_SYS_ADMIN].into_iter().collect();
        caps::restrict_to(&keep).unwrap();
        for set in [CapSet::Bounding, CapSet::Permitted, CapSet::Effective] {
            assert_eq!(caps::read(set).unwrap(), keep, "{set:?}");
        }
        assert!(caps::read(CapSet::Inheritable).unwrap().is_empty());
        assert!(caps::read(CapSet::Ambient).unwrap().is_empty());
        let expected = Cap::CAP_CHOWN.bitmask() | Cap::CAP_SYS_ADMIN.bitmask();
        assert_eq!(status_hex("CapBnd"), expected);
        assert_eq!(status_hex("CapEff"), expected);
        // CAP_SETPCAP is gone with the rest: the bounding set can no longer be changed.
        let err = caps::drop_cap(CapSet::Bounding, Cap::CAP_CHOWN).unwrap_err();
        assert_eq!(err.errno(), Errno::PERM);
        assert!(
            err.to_string()
                .starts_with("capset drop CAP_CHOWN from Bounding: "),
            "{err}"
        );
        assert!(caps::read(CapSet::Bounding)
            .unwrap()
            .contains(&Cap::CAP_CHOWN));
        // What is kept still works.
        assert!(caps::has_effective(Cap::CAP_SYS_ADMIN).unwrap());
    });
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[test]
fn errors_name_the_call_its_arguments_and_the_errno() {
    in_child("errors", |scratch| {
        let target = scratch.join("target");
        mkdir(&target);

        let err = mount::mount(
            Some("none"),
            &target,
            "furnace-nofs",
            MountFlags::empty(),
            None,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("mount ") && msg.contains("ENODEV"), "{msg}");
        assert_eq!(
            msg,
            format!(
                "mount none on {} (type furnace-nofs): ENODEV (No such device)",
                target.display()
            )
        );
        assert_eq!((err.call(), err.errno()), ("mount", Errno::NODEV));
        assert_eq!(err.path(), Some(target.as_path()));
        let io: std::io::Error = err.clone().into();
        assert_eq!(io.to_string(), msg);
        let inner = io
            .get_ref()
            .and_then(|e| e.downcast_ref::<furnace_sys::Error>());
        assert_eq!(inner, Some(&err));

        let err = mount::mount(
            None::<&Path>,
            &target,
            "furnace-nofs",
            MountFlags::RDONLY | MountFlags::NOSUID,
            Some("size=1m"),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "mount furnace-nofs on {} (type furnace-nofs, ro,nosuid, size=1m): ENODEV (No such device)",
                target.display()
            )
        );

        // A path that is not UTF-8 prints readably, and is kept as is.
        let odd = scratch.join(OsStr::from_bytes(b"odd\xffdir"));
        mkdir(&odd);
        let err = mount::mount(
            Some("none"),
            &odd,
            "furnace-nofs",
            MountFlags::empty(),
            None,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("/odd\\xffdir (type furnace-nofs): ENODEV"),
            "{err}"
        );
        assert_eq!(err.path(), Some(odd.as_path()));

        let missing = scratch.join("missing");
        let err = mount::bind(&missing, &target).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "mount bind {} on {}: ENOENT (No such file or directory)",
                missing.display(),
                target.display()
            )
        );
        let err = mount::bind_recursive(&missing, &target).unwrap_err();
        assert!(err.to_string().starts_with("mount rbind "), "{err}");

        let err = mount::set_propagation(&target, Propagation::Shared, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "mount make-shared {}: EINVAL (Invalid argument)",
                target.display()
            )
        );
        let err = mount::set_propagation(&missing, Propagation::Slave, true).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "mount make-rslave {}: ENOENT (No such file or directory)",
                missing.display()
            )
        );

        let err = mount::remount(&target, MountFlags::RDONLY).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "mount remount {} (ro): EINVAL (Invalid argument)",
                target.display()
            )
        );

        // pivot_root wants a mount point as the new root.
        let err = mount::pivot_root(&target, &target).unwrap_err();
        assert_eq!(err.errno(), Errno::INVAL);
        assert_eq!(
            err.to_string(),
            format!(
                "pivot_root {} (old root at {}): EINVAL (Invalid argument)",
                target.display(),
                target.display()
            )
        );
    });
}
