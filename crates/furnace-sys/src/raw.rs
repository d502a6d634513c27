//! Allocation-free primitives for code that runs between `fork` and `exec` (or in a forked
//! PID 1 that never execs).
//!
//! After a multi-threaded program forks, only async-signal-safe functions may be called in the
//! child: another thread may have held the allocator's lock at the moment of the fork. Every
//! function here makes system calls only, allocates nothing, takes no lock, and reports the
//! bare [`Errno`]; the caller maps it to a step of its plan. Most of these are calls that
//! rustix deliberately leaves out.

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::error::Errno;
use crate::ns::Namespaces;

/// The result type of this module: a bare errno, nothing allocated.
pub type RawResult<T> = Result<T, Errno>;

fn check(ret: libc::c_long) -> RawResult<libc::c_long> {
    if ret < 0 {
        Err(Errno::from_raw_os_error(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        ))
    } else {
        Ok(ret)
    }
}

/// What [`clone3`] returned.
#[derive(Debug)]
pub enum Forked {
    /// In the parent: the child's pid (in the parent's pid namespace) and its pidfd.
    Parent {
        /// The child's pid as the parent sees it.
        pid: u32,
        /// A close-on-exec pidfd of the child.
        pidfd: OwnedFd,
    },
    /// In the child.
    Child,
}

/// `clone3(2)` used like `fork(2)`, creating the child in new `namespaces` and returning a
/// pidfd of it (`CLONE_PIDFD`). The child gets `SIGCHLD` as its exit signal, so the parent can
/// wait for it like any child.
///
/// # Safety
///
/// The same as for `fork(2)` in a multi-threaded program: the child is a copy of the calling
/// thread only, and until it execs or exits (with [`exit`], never by returning into code that
/// unwinds or runs destructors), it may call only async-signal-safe functions — no allocation,
/// no locks, no `println!`. Atfork handlers are not run.
pub unsafe fn clone3(namespaces: Namespaces) -> RawResult<Forked> {
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    let mut pidfd: libc::c_int = -1;
    let args = CloneArgs {
        flags: u64::from(namespaces.bits()) | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a valid clone_args of the size we pass; with no CLONE_VM and no stack
    // the kernel duplicates the address space like fork, so both sides return here on their
    // own copy of the stack. The caller upholds the post-fork restrictions.
    let ret = check(unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    })?;
    if ret == 0 {
        Ok(Forked::Child)
    } else {
        // SAFETY: with CLONE_PIDFD the kernel stored a new, close-on-exec pidfd that nothing
        // else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        Ok(Forked::Parent {
            pid: ret as u32,
            pidfd,
        })
    }
}

/// Ends the calling process at once with `code`: no destructors, no atexit handlers, no
/// stdio flushing (`_exit(2)`). The only correct way out of a forked child.
pub fn exit(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}

/// `close_range(first, last, flags)`: closes the fds in `first..=last`, or only marks them
/// close-on-exec when `cloexec_only` is set (`CLOSE_RANGE_CLOEXEC`).
pub fn close_range(first: u32, last: u32, cloexec_only: bool) -> RawResult<()> {
    let flags = if cloexec_only {
        libc::CLOSE_RANGE_CLOEXEC
    } else {
        0
    };
    // SAFETY: closing descriptors is memory-safe; callers use it in a single-threaded child
    // where no live `OwnedFd` of the closed range will be used again.
    check(unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) }).map(drop)
}

/// Closes every fd except those in `keep` (which must be sorted ascending and free of
/// duplicates). Stdio is not special: list 0, 1 and 2 to keep them.
pub fn close_all_except(keep: &[RawFd]) -> RawResult<()> {
    let mut next = 0u32;
    for &fd in keep {
        let fd = fd as u32;
        if fd > next {
            close_range(next, fd - 1, false)?;
        }
        next = fd + 1;
    }
    close_range(next, u32::MAX, false)
}

/// `dup2(old, new)` on raw descriptors, for stdio set-up in a forked child.
pub fn dup2(old: BorrowedFd<'_>, new: RawFd) -> RawResult<()> {
    // SAFETY: dup2 only manipulates the fd table; `new` is a plain number chosen by the caller.
    check(unsafe { libc::dup2(old.as_raw_fd(), new) } as libc::c_long).map(drop)
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, MOUNT_ATTR_RDONLY)`: makes the mount
/// tree at `fd` read-only, every submount included, keeping all other flags.
pub fn make_tree_read_only(fd: BorrowedFd<'_>) -> RawResult<()> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: the path is a valid NUL-terminated empty string and `attr` a valid mount_attr
    // of the size passed.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    })
    .map(drop)
}

/// Resets every catchable signal to its default action and unblocks all signals — a forked
/// child must not run handlers that belong to its parent's code.
pub fn reset_signals() -> RawResult<()> {
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL is a valid disposition for every signal; signal() is
        // async-signal-safe. Errors (for signals glibc reserves) are ignored on purpose.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    unblock_all_signals()
}

/// Unblocks every signal in the calling thread.
pub fn unblock_all_signals() -> RawResult<()> {
    // SAFETY: an all-zero sigset is the empty set, passed by pointer to sigprocmask.
    let ret = unsafe {
        let empty: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut())
    };
    if ret != 0 {
        return Err(Errno::from_raw_os_error(ret));
    }
    Ok(())
}

/// Sets `SIGCHLD` to `SIG_IGN`: the kernel then reaps this process's children (including
/// orphans reparented to it) as soon as they exit, so none stays a zombie.
pub fn autoreap_children() -> RawResult<()> {
    // SAFETY: SIG_IGN for SIGCHLD is a valid disposition; signal() is async-signal-safe.
    let prev = unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    if prev == libc::SIG_ERR {
        return Err(Errno::INVAL);
    }
    Ok(())
}

/// Brings the loopback interface `lo` of the current network namespace up
/// (`SIOCGIFFLAGS` / `SIOCSIFFLAGS` with `IFF_UP`).
pub fn loopback_up() -> RawResult<()> {
    let sock = rustix::net::socket_with(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?;
    // SAFETY: an all-zero ifreq is valid; the name is copied within its 16 bytes.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads into the ifreq we own, on a socket we own.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } as libc::c_long)?;
    // SAFETY: the flags member of the union is the one SIOCGIFFLAGS filled in.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads the ifreq we own.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } as libc::c_long)
        .map(drop)
}

/// Whether the calling process's working directory is reachable from its root: after a
/// `chdir`, `getcwd(2)` prefixes `(unreachable)` when the directory lies outside the root
/// (for instance an fd of the host's filesystem), which is how a container escape through a
/// leaked directory fd shows.
pub fn cwd_is_reachable() -> RawResult<bool> {
    let mut buf = [0u8; 256];
    // SAFETY: the kernel writes at most `buf.len()` bytes into our buffer.
    let ret = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    match check(ret) {
        Ok(_) => Ok(buf[0] == b'/'),
        // The path does not fit: it is long, but a path nonetheless — unreachable ones are short.
        Err(Errno::RANGE) => Ok(true),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Refuses stdio that is a directory or an `O_PATH` handle (`EISDIR` for both): either would
/// give a process inside the container a handle on the filesystem it came from — the host's —
/// from which `openat(fd, "..")` walks anywhere. A closed stdio fd is fine.
pub fn check_stdio_is_no_directory() -> RawResult<()> {
    for fd in 0..3 {
        // SAFETY: fds 0–2 are only inspected here, never closed; an fd that is not open makes
        // the calls below fail with EBADF, which is handled.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let flags = match rustix::fs::fcntl_getfl(fd) {
            Ok(flags) => flags,
            Err(Errno::BADF) => continue,
            Err(e) => return Err(e),
        };
        if flags.contains(rustix::fs::OFlags::PATH) {
            return Err(Errno::ISDIR);
        }
        let st = rustix::fs::fstat(fd)?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory {
            return Err(Errno::ISDIR);
        }
    }
    Ok(())
}

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)`: joins a new anonymous session keyring, so that
/// the keys of the session the process came from (the caller's) are no longer in reach.
pub fn join_new_session_keyring() -> RawResult<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: with a null name the call reads no memory of ours.
    check(unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    })
    .map(drop)
}

/// `setgroups(0)`, `setgid`, `setuid`, in that order (the only order that works: after
/// `setuid` the process may no longer change its groups).
pub fn set_ids(uid: Option<u32>, gid: Option<u32>) -> RawResult<()> {
    if let Some(gid) = gid {
        // SAFETY: setgroups with an empty list reads no memory; setgid takes a plain number.
        check(unsafe { libc::setgroups(0, std::ptr::null()) } as libc::c_long)?;
        // SAFETY: as above.
        check(unsafe { libc::setgid(gid) } as libc::c_long)?;
    }
    if let Some(uid) = uid {
        if gid.is_none() {
            // SAFETY: setgroups with an empty list reads no memory.
            check(unsafe { libc::setgroups(0, std::ptr::null()) } as libc::c_long)?;
        }
        // SAFETY: setuid takes a plain number.
        check(unsafe { libc::setuid(uid) } as libc::c_long)?;
    }
    Ok(())
}

/// `open(path, flags)` returning an owned fd, for code that may not allocate (the path is
/// already a C string).
pub fn open(path: &CStr, flags: rustix::fs::OFlags, mode: u32) -> RawResult<OwnedFd> {
    rustix::fs::open(
        path,
        flags | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::from_raw_mode(mode),
    )
}

/// Writes all of `bytes` to `fd`, retrying on `EINTR` and short writes.
pub fn write_all(fd: impl AsFd, mut bytes: &[u8]) -> RawResult<()> {
    while !bytes.is_empty() {
        match rustix::io::write(fd.as_fd(), bytes) {
            Ok(0) => return Err(Errno::PIPE),
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reduces the calling thread's capabilities to `keep` (a bit mask, bit N = capability N):
/// drops every other capability from the bounding set, clears the ambient set, and sets the
/// effective and permitted sets to `keep` (as far as they hold it) with an empty inheritable
/// set. A process that then execs as root gets `keep` at most.
///
/// Needs `CAP_SETPCAP` for the bounding set: call it before dropping privileges otherwise.
pub fn restrict_capabilities(keep: u64) -> RawResult<()> {
    for cap in 0..64u64 {
        if keep & (1 << cap) != 0 {
            continue;
        }
        // SAFETY: PR_CAPBSET_DROP takes a capability number and reads no memory.
        let ret = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if ret != 0 {
            match Errno::from_raw_os_error(
                std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EINVAL),
            ) {
                // Past the kernel's last capability.
                Errno::INVAL => break,
                e => return Err(e),
            }
        }
    }
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL reads no memory.
    check(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    } as libc::c_long)?;
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget writes two `CapData` records (version 3) into `data`, which we own.
    check(unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) })?;
    let current = u64::from(data[0].permitted) | (u64::from(data[1].permitted) << 32);
    let wanted = current & keep;
    for (half, record) in data.iter_mut().enumerate() {
        let bits = (wanted >> (32 * half)) as u32;
        *record = CapData {
            effective: bits,
            permitted: bits,
            inheritable: 0,
        };
    }
    // SAFETY: capset reads the header and two `CapData` records we own.
    check(unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) }).map(drop)
}

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit capability sets in two 32-bit records.
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: `execve` can no longer grant privileges.
pub fn no_new_privs() -> RawResult<()> {
    rustix::thread::set_no_new_privs(true)
}

/// `setsid()`: a new session without a controlling terminal, so the process cannot inject
/// input into the terminal it inherited (`TIOCSTI` needs it to be the controlling terminal,
/// or `CAP_SYS_ADMIN`).
pub fn new_session() -> RawResult<()> {
    rustix::process::setsid().map(drop)
}

/// The address ranges of this process's argument and environment strings, as the kernel
/// records them (`/proc/self/stat` fields 48–51). Read it *before* forking: it allocates.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ProcessStrings {
    arg: (usize, usize),
    env: (usize, usize),
}

impl ProcessStrings {
    /// Reads the ranges of the calling process.
    pub fn of_self() -> Option<ProcessStrings> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name (which may hold spaces and parentheses) start at 3.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<usize>().ok();
        let (arg, env) = ((field(48)?, field(49)?), (field(50)?, field(51)?));
        (arg.0 < arg.1 && env.0 <= env.1).then_some(ProcessStrings { arg, env })
    }

    /// Replaces the command line `/proc/<pid>/cmdline` shows with `name`, and blanks the
    /// environment strings, so that a forked process shows neither its parent's arguments nor
    /// its environment (which may hold secrets) to anyone who can read its `/proc` files.
    ///
    /// The kernel shows the argument area up to the first NUL when its last byte is not NUL
    /// (the `setproctitle` convention), so the name needs no room beyond the original area.
    ///
    /// # Safety
    ///
    /// The ranges must be those of the calling process ([`ProcessStrings::of_self`] in this
    /// process or, after a fork, in its parent), and no other thread may read the arguments or
    /// the environment meanwhile (call it in a freshly forked child). Afterwards
    /// `std::env::args` and `std::env::vars` return garbage.
    pub unsafe fn overwrite(&self, name: &[u8]) {
        let (start, end) = self.arg;
        let len = end - start;
        // SAFETY: [start, end) is this process's argument area (caller's promise), mapped and
        // writable (it lives on the initial stack); nothing else reads it meanwhile.
        let args = unsafe { std::slice::from_raw_parts_mut(start as *mut u8, len) };
        args.fill(0);
        if len > name.len() + 1 {
            args[..name.len()].copy_from_slice(name);
            args[len - 1] = b' ';
        }
        let (start, end) = self.env;
        // SAFETY: as above, for the environment strings area.
        let env = unsafe { std::slice::from_raw_parts_mut(start as *mut u8, end - start) };
        env.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cwd_of_the_test_is_reachable() {
        assert!(cwd_is_reachable().unwrap());
    }

    #[test]
    fn write_all_through_a_pipe() {
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        write_all(&w, b"hello").unwrap();
        let mut buf = [0u8; 8];
        let n = rustix::io::read(&r, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
    }
}
