//! The fork-safe tier of [`fd`](super): descriptor calls for a forked child.
//!
//! Every function here makes system calls only: no allocation, no lock, no panic. They are
//! async-signal-safe, so a child forked from a multi-threaded program may call them before it
//! execs or exits. Errors are the bare [`Errno`].

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};

use super::StdioFd;
use crate::error::check;
use crate::Errno;

/// `close_range(first, last, CLOSE_RANGE_CLOEXEC)`: marks the fds in `first..=last`
/// close-on-exec, leaving them open.
///
/// Nothing is closed, so no owner of one of these fds is affected: this is how a child about
/// to exec makes sure that fds others opened without `O_CLOEXEC` do not cross the exec.
/// Async-signal-safe: no allocation, no locks.
///
/// See `close_range(2)`.
#[inline]
pub fn close_range_cloexec(first: u32, last: u32) -> Result<(), Errno> {
    // SAFETY: with CLOSE_RANGE_CLOEXEC the call only sets a flag on open fds; it closes none,
    // so no owner is left with a dangling number.
    check(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            last,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    })
    .map(drop)
}

/// `fcntl(fd, F_SETFD, 0)` for each fd in `first..first + count`: clears their close-on-exec
/// flag, so that they cross the next exec (an OCI runtime's `--preserve-fds`).
///
/// An fd of the range that is not open is an error (`EBADF`): nothing is opened or closed.
/// Async-signal-safe: no allocation, no locks.
///
/// See `fcntl(2)`.
pub fn set_inheritable_range(first: u32, count: u32) -> Result<(), Errno> {
    for raw in first..first.saturating_add(count) {
        // SAFETY: only the fd flags of the number are changed, for the length of this call;
        // a number that is not open makes fcntl fail with EBADF and touches nothing.
        let fd = unsafe { BorrowedFd::borrow_raw(raw as i32) };
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
    }
    Ok(())
}

/// `close_range(first, last, 0)`: closes the fds in `first..=last`.
///
/// Async-signal-safe: no allocation, no locks.
///
/// # Safety
///
/// No owner of a closed fd (an `OwnedFd`, a `File`, a C library's handle) may use or drop it
/// afterwards: its number may be reused by the next open, and the owner would then act on, or
/// close, another fd. In a forked child, leave such owners to [`exit`](crate::process::forksafe::exit),
/// which runs no destructors.
///
/// See `close_range(2)`.
#[inline]
pub unsafe fn close_range(first: u32, last: u32) -> Result<(), Errno> {
    // SAFETY: closing is memory-safe in itself; the caller promises that no owner of a closed
    // fd uses it again.
    check(unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) }).map(drop)
}

/// `close_range(…)` over every gap between the fds in `keep`: closes every fd except those.
///
/// `keep` may be in any order and hold duplicates. Stdio is not special: list
/// [`rustix::stdio::stdin()`] and the others to keep them. Async-signal-safe: no allocation
/// (no sorted copy of `keep` is made), no locks.
///
/// # Safety
///
/// As for [`close_range`]: no owner of a closed fd may use or drop it afterwards.
///
/// See `close_range(2)`.
#[inline]
pub unsafe fn close_all_except(keep: &[BorrowedFd<'_>]) -> Result<(), Errno> {
    // SAFETY: forwarded from the caller.
    unsafe { close_all_except_and(keep, &[]) }
}

/// `close_range(…)` over every gap between the fds in `keep` and the numbers in `more`:
/// [`close_all_except`], with a second list of fds to keep given by number (a list built
/// before a fork, of fds the child inherits; negative numbers are ignored).
///
/// Async-signal-safe: no allocation, no locks.
///
/// # Safety
///
/// As for [`close_range`]: no owner of a closed fd may use or drop it afterwards.
///
/// See `close_range(2)`.
#[inline]
pub unsafe fn close_all_except_and(
    keep: &[BorrowedFd<'_>],
    more: &[std::os::fd::RawFd],
) -> Result<(), Errno> {
    let mut next = 0u32;
    loop {
        // The lowest kept fd at or above `next`. `keep` is a handful of fds, so scanning it
        // once per gap is cheaper than any sort, and needs no buffer.
        let kept = keep
            .iter()
            .map(|fd| fd.as_raw_fd())
            .chain(more.iter().copied())
            .filter_map(|fd| u32::try_from(fd).ok())
            .filter(|&fd| fd >= next)
            .min();
        match kept {
            Some(fd) => {
                if fd > next {
                    // SAFETY: forwarded from the caller.
                    unsafe { close_range(next, fd - 1) }?;
                }
                next = fd + 1;
            }
            // SAFETY: forwarded from the caller.
            None => return unsafe { close_range(next, u32::MAX) },
        }
    }
}

/// `dup2(fd, stdio)`: makes the standard descriptor `stdio` a copy of `fd` (not
/// close-on-exec, so it crosses an exec as stdio must).
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `dup2(2)`.
#[inline]
pub fn dup2_stdio(fd: BorrowedFd<'_>, stdio: StdioFd) -> Result<(), Errno> {
    match stdio {
        StdioFd::Stdin => rustix::stdio::dup2_stdin(fd),
        StdioFd::Stdout => rustix::stdio::dup2_stdout(fd),
        StdioFd::Stderr => rustix::stdio::dup2_stderr(fd),
    }
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, 3)`: a close-on-exec duplicate of `fd` numbered 3 or above.
///
/// An fd handed to a child that then sets up its stdio must not be 0, 1 or 2, or the stdio
/// set-up overwrites it; a caller that closed its own stdio gets exactly such fds from
/// `open` and `pipe`. Async-signal-safe: no allocation, no locks.
///
/// See `fcntl(2)`.
#[inline]
pub fn dup_above_stdio(fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    rustix::io::fcntl_dupfd_cloexec(fd, 3)
}

/// `open(path, flags | O_CLOEXEC, mode)`: opens `path`, close-on-exec.
///
/// Async-signal-safe: no allocation (the path is a C string already), no locks.
///
/// See `open(2)`.
#[inline]
pub fn open(path: &CStr, flags: OFlags, mode: Mode) -> Result<OwnedFd, Errno> {
    rustix::fs::open(path, flags | OFlags::CLOEXEC, mode)
}

/// `openat(dir, path, flags | O_CLOEXEC, mode)`: opens `path` relative to the directory `dir`,
/// close-on-exec.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `openat(2)`.
#[inline]
pub fn openat(
    dir: BorrowedFd<'_>,
    path: &CStr,
    flags: OFlags,
    mode: Mode,
) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(dir, path, flags | OFlags::CLOEXEC, mode)
}

/// `openat2(root, path, {flags | O_CLOEXEC, mode, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS})`:
/// opens `path` strictly beneath the directory `root`.
///
/// The lookup never leaves `root`: `..` above it, an absolute symlink, or an absolute `path`
/// fail with `EXDEV`, and `/proc` magic links with `ELOOP`, so a tree that someone else
/// controls (a container's root) cannot send the lookup to a host path. Linux ≥ 5.6.
/// Async-signal-safe: no allocation, no locks.
///
/// The kernel fails such a lookup with `EAGAIN` when a mount or rename anywhere on the
/// machine raced with a `..` step and it cannot prove the step stayed beneath `root`; the
/// lookup is then retried, up to [`BENEATH_RETRIES`] times, before `EAGAIN` is returned.
///
/// See `openat2(2)`.
#[inline]
pub fn openat_beneath(
    root: BorrowedFd<'_>,
    path: &CStr,
    flags: OFlags,
    mode: Mode,
) -> Result<OwnedFd, Errno> {
    const BENEATH: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);
    let mut attempts = 0;
    loop {
        match rustix::fs::openat2(root, path, flags | OFlags::CLOEXEC, mode, BENEATH) {
            Err(Errno::AGAIN) if attempts < BENEATH_RETRIES => attempts += 1,
            other => return other,
        }
    }
}

/// How often [`openat_beneath`] retries a lookup the kernel refused with `EAGAIN` (a race
/// with a mount or rename elsewhere). Each retry is one system call; the races are rare and
/// short, so a few dozen attempts make a spurious failure practically impossible.
pub const BENEATH_RETRIES: u32 = 64;

/// `write(fd, bytes, len)` until all of `bytes` is written, retrying on `EINTR` and short
/// writes.
///
/// A write that takes nothing (`0`) fails with `EPIPE`. Async-signal-safe: no allocation, no
/// locks.
///
/// See `write(2)`.
#[inline]
pub fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return Err(Errno::PIPE),
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `read(fd, buf, len)` until `buf` is full, retrying on `EINTR` and short reads.
///
/// An end of file before `buf` is full fails with `ENODATA` (what was read is in `buf`, but
/// not how much). Async-signal-safe: no allocation, no locks.
///
/// See `read(2)`.
#[inline]
pub fn read_exact(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<(), Errno> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        match rustix::io::read(fd, rest) {
            Ok(0) => return Err(Errno::NODATA),
            Ok(n) => filled += n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `poll(fds, nfds, timeout)`: waits until one of `fds` is ready or `timeout` has passed
/// (`None` waits for ever). Returns how many fds are ready, 0 on a timeout.
///
/// The timeout is converted exactly (whole seconds and the nanoseconds below one second), and
/// saturates at the largest `timespec` instead of overflowing. `EINTR` is returned like any
/// error: a caller with signal handlers decides whether to go round. Async-signal-safe: no
/// allocation, no locks.
///
/// See `poll(2)`.
#[inline]
pub fn poll(fds: &mut [PollFd<'_>], timeout: Option<Duration>) -> Result<usize, Errno> {
    let timeout = timeout.map(timespec);
    rustix::event::poll(fds, timeout.as_ref())
}

/// `poll({fd, POLLIN}, 1, timeout)`: waits until `fd` is readable (or hung up) or `timeout`
/// has passed; `Ok(false)` on a timeout.
///
/// A pidfd polls readable once its process has exited. `EINTR` is returned like any error.
/// Async-signal-safe: no allocation, no locks.
///
/// See `poll(2)`.
#[inline]
pub fn poll_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> Result<bool, Errno> {
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    poll(&mut fds, timeout).map(|ready| ready > 0)
}

/// A `Duration` as a valid `timespec` (`tv_nsec` below one second), saturating.
fn timespec(duration: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: duration.subsec_nanos().into(),
    }
}

/// `fcntl(fd, F_GETFL)` and `fstat(fd)` on fds 0–2: refuses stdio that is a directory or an
/// `O_PATH` handle (`EISDIR` for both).
///
/// Either would hand a process inside a container a handle on the filesystem it came from —
/// the host's — from which `openat(fd, "..")` walks anywhere. A closed stdio fd is fine.
/// Async-signal-safe: no allocation, no locks.
///
/// See `fcntl(2)`.
#[inline]
pub fn check_stdio_is_no_directory() -> Result<(), Errno> {
    for fd in 0..3 {
        // SAFETY: fds 0–2 are only inspected here, never closed; one that is not open makes
        // the calls below fail with EBADF, which is handled.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let flags = match rustix::fs::fcntl_getfl(fd) {
            Ok(flags) => flags,
            Err(Errno::BADF) => continue,
            Err(e) => return Err(e),
        };
        if flags.contains(OFlags::PATH) {
            return Err(Errno::ISDIR);
        }
        let st = rustix::fs::fstat(fd.as_fd())?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            return Err(Errno::ISDIR);
        }
    }
    Ok(())
}

/// The most fds [`send_fds`] passes in one message.
pub const MAX_SENT_FDS: usize = 8;

/// `sendmsg(socket, [byte], SCM_RIGHTS fds)`: passes up to [`MAX_SENT_FDS`] fds (and one data
/// byte, since a message must carry some) over a unix socket; the receiver gets its own
/// copies. More fds than that fail with `EINVAL`. Async-signal-safe: the control buffer is on
/// the stack, no allocation, no locks.
///
/// See `unix(7)`, `sendmsg(2)`.
#[inline]
pub fn send_fds(socket: BorrowedFd<'_>, fds: &[BorrowedFd<'_>]) -> Result<(), Errno> {
    use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    use std::mem::MaybeUninit;
    if fds.len() > MAX_SENT_FDS {
        return Err(Errno::INVAL);
    }
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_SENT_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(Errno::INVAL);
    }
    let byte = [0u8];
    loop {
        match sendmsg(
            socket,
            &[std::io::IoSlice::new(&byte)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Ok(1) => return Ok(()),
            Ok(_) => return Err(Errno::PIPE),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `accept4(listener, SOCK_CLOEXEC)`, retried on `EINTR`: the next connection of a listening
/// socket, close-on-exec. Async-signal-safe.
///
/// See `accept4(2)`.
#[inline]
pub fn accept(listener: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    loop {
        match rustix::net::accept_with(listener, rustix::net::SocketFlags::CLOEXEC) {
            Err(Errno::INTR) => continue,
            other => return other,
        }
    }
}

/// `getsockopt(socket, SOL_SOCKET, SO_PEERCRED)`: the effective uid of the process at the
/// other end of a connected unix socket when it connected, as seen in the caller's user
/// namespace (an id not mapped there reads as the overflow id). Async-signal-safe.
///
/// The peer's pid reads as 0 when it is outside the caller's pid namespace, which rustix's
/// `socket_peercred` cannot represent: hence the raw call.
///
/// See `unix(7)`.
#[inline]
pub fn peer_uid(socket: BorrowedFd<'_>) -> Result<u32, Errno> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given; the kernel writes at
    // most `len` bytes and updates `len`.
    let result = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    check(libc::c_long::from(result))?;
    Ok(cred.uid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::pipe::{pipe_with, PipeFlags};
    use std::os::fd::AsFd;

    #[test]
    fn timespecs_are_valid_at_every_size() {
        let ts = |d| {
            let t = timespec(d);
            (t.tv_sec, t.tv_nsec)
        };
        assert_eq!(ts(Duration::ZERO), (0, 0));
        assert_eq!(ts(Duration::from_millis(999)), (0, 999_000_000));
        assert_eq!(ts(Duration::from_millis(1500)), (1, 500_000_000));
        assert_eq!(ts(Duration::from_secs(3600)), (3600, 0));
        assert_eq!(ts(Duration::MAX), (i64::MAX, 999_999_999));
    }

    #[test]
    fn poll_with_a_timeout_above_one_second_is_accepted() {
        // A tv_nsec of 1.5e9 is EINVAL to the kernel: the data waiting in the pipe makes the
        // call return at once when the timeout is well-formed.
        let (r, w) = pipe_with(PipeFlags::CLOEXEC).unwrap();
        write_all(w.as_fd(), b"x").unwrap();
        let long = Some(Duration::from_millis(1500));
        assert_eq!(poll_readable(r.as_fd(), long), Ok(true));
        let mut fds = [PollFd::new(&r, PollFlags::IN)];
        assert_eq!(poll(&mut fds, Some(Duration::from_secs(3600))), Ok(1));
        let (empty, _w) = pipe_with(PipeFlags::CLOEXEC).unwrap();
        assert_eq!(
            poll_readable(empty.as_fd(), Some(Duration::ZERO)),
            Ok(false)
        );
    }

    #[test]
    fn write_all_and_read_exact_through_a_pipe() {
        let (r, w) = pipe_with(PipeFlags::CLOEXEC).unwrap();
        write_all(w.as_fd(), b"hello").unwrap();
        let mut buf = [0u8; 5];
        read_exact(r.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        write_all(w.as_fd(), b"ab").unwrap();
        drop(w);
        let mut buf = [0u8; 3];
        assert_eq!(read_exact(r.as_fd(), &mut buf), Err(Errno::NODATA));
        assert_eq!(&buf[..2], b"ab");
        assert_eq!(read_exact(r.as_fd(), &mut []), Ok(()));
    }

    #[test]
    fn duplicates_land_above_stdio_and_close_on_exec() {
        let fd = dup_above_stdio(rustix::stdio::stdin()).unwrap();
        assert!(fd.as_raw_fd() >= 3);
        let flags = rustix::io::fcntl_getfd(&fd).unwrap();
        assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
    }

    #[test]
    fn open_beneath_refuses_to_leave_the_root() {
        let root = open(
            c"/proc/self",
            OFlags::PATH | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .unwrap();
        let inside = openat_beneath(root.as_fd(), c"status", OFlags::RDONLY, Mode::empty());
        assert!(inside.is_ok());
        for escape in [c"..", c"/etc", c"../self/status"] {
            let err = openat_beneath(root.as_fd(), escape, OFlags::PATH, Mode::empty());
            assert_eq!(err.err(), Some(Errno::XDEV), "{escape:?}");
        }
        // A magic link, even one pointing inside.
        let err = openat_beneath(root.as_fd(), c"cwd", OFlags::PATH, Mode::empty());
        assert_eq!(err.err(), Some(Errno::LOOP));
    }
}
