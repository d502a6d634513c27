//! The fork-safe tier of [`cgroup`](super): joining a cgroup, writing its control files and
//! removing it, from a forked child or a PID 1 that never execs.
//!
//! Every function here makes system calls only: no allocation, no lock, no panic. They are
//! async-signal-safe, so a child forked from a multi-threaded program may call them before it
//! execs or exits. Names come in as `&CStr` built beforehand, cgroups as directory fds (an
//! [`O_PATH`](rustix::fs::OFlags::PATH) fd is enough, as [`CgroupDir`](super::CgroupDir)
//! holds), and errors go out as the bare [`Errno`].

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::thread::{nanosleep, NanosleepRelativeResult, Timespec};

use crate::Errno;

/// The control file a process is moved into a cgroup through.
pub const PROCS: &CStr = c"cgroup.procs";

/// How long [`remove_child`] keeps retrying a cgroup that is still busy, in total.
pub const REMOVE_BUSY_BUDGET: Duration = Duration::from_secs(1);

/// The longest pause between two attempts of [`remove_child`]; the first pauses are shorter
/// (1 ms, doubling), since the usual wait — the last process of a killed cgroup finishing its
/// exit — takes a millisecond or two.
pub const REMOVE_BUSY_PAUSE: Duration = Duration::from_millis(50);

/// `write(procs, "0", 1)`: moves the calling process into the cgroup whose `cgroup.procs` the
/// fd `procs` is open on (opened for writing, as [`open_procs`] does).
///
/// `0` means "the writer itself"; the whole thread group moves. A forked child calls this
/// before it execs or unshares its cgroup namespace, so that the namespace is rooted at the
/// new cgroup. Async-signal-safe: no allocation, no locks.
///
/// See `cgroups(7)` (v1: "Creating cgroups and moving processes"), and the kernel's
/// `cgroup-v2.rst`.
#[inline]
pub fn join(procs: BorrowedFd<'_>) -> Result<(), Errno> {
    write_once(procs, b"0")
}

/// `write(fd, bytes, len)`, once: writes a value into a cgroup control file.
///
/// A cgroup file takes each value in one `write`, and parses it whole: it is never split over
/// several writes, and a short write (which control files do not make) fails with `EIO`.
/// `EINTR` is retried. Async-signal-safe: no allocation, no locks.
///
/// See `write(2)`, `cgroups(7)`.
#[inline]
pub fn write_once(fd: BorrowedFd<'_>, bytes: &[u8]) -> Result<(), Errno> {
    loop {
        match rustix::io::write(fd, bytes) {
            Ok(n) if n == bytes.len() => return Ok(()),
            Ok(_) => return Err(Errno::IO),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// `openat(dir, file, O_WRONLY | O_CLOEXEC)` and one `write(2)` of `bytes`: sets a control
/// file of the cgroup `dir` (`pids.max`, `cgroup.kill`, `freezer.state`, ...).
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `openat(2)`, `write(2)`, `cgroups(7)`.
#[inline]
pub fn write_file(dir: BorrowedFd<'_>, file: &CStr, bytes: &[u8]) -> Result<(), Errno> {
    let fd = rustix::fs::openat(dir, file, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    write_once(fd.as_fd(), bytes)
}

/// `openat(dir, "cgroup.procs", O_WRONLY | O_CLOEXEC)`: the fd that [`join`] writes into, so
/// that a child forked later can join the cgroup `dir` without a path lookup.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `openat(2)`, `cgroups(7)`.
#[inline]
pub fn open_procs(dir: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(dir, PROCS, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
}

/// `openat(dir, "tasks", O_WRONLY | O_CLOEXEC)`: a cgroup v1 `tasks` file, which a
/// single-threaded process joins through without the kernel's global threadgroup lock (see
/// [`CgroupDir::open_tasks`](super::CgroupDir::open_tasks)).
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `openat(2)`, `cgroups(7)`.
#[inline]
pub fn open_tasks(dir: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        dir,
        c"tasks",
        OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// `openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)`: an fd of the child
/// cgroup `name` of `dir`, for the `*at` calls here.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `openat(2)`.
#[inline]
pub fn open_child(dir: BorrowedFd<'_>, name: &CStr) -> Result<OwnedFd, Errno> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::openat(dir, name, flags, Mode::empty())
}

/// `mkdirat(dir, name, 0755)`: creates the child cgroup `name` of `dir` (the kernel fills it
/// with its control files). `EEXIST` when it exists already.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `mkdirat(2)`, `cgroups(7)`.
#[inline]
pub fn create_child(dir: BorrowedFd<'_>, name: &CStr) -> Result<(), Errno> {
    rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755))
}

/// `unlinkat(dir, name, AT_REMOVEDIR)`, retried while the kernel says `EBUSY`: removes the
/// child cgroup `name` of `dir`. A cgroup that does not exist (`ENOENT`) counts as removed.
///
/// A cgroup can be removed once it holds no process and no child cgroup. Right after its last
/// process was killed, that process may still be exiting, and the kernel refuses with `EBUSY`
/// for a moment; so `EBUSY` is retried, with pauses of 1 ms doubling up to
/// [`REMOVE_BUSY_PAUSE`], until [`REMOVE_BUSY_BUDGET`] of pauses have passed. A cgroup that is
/// still busy then fails with `EBUSY`. Async-signal-safe: no allocation, no locks
/// (`nanosleep(2)` is async-signal-safe).
///
/// See `unlinkat(2)`, `nanosleep(2)`, `cgroups(7)`.
#[inline]
pub fn remove_child(dir: BorrowedFd<'_>, name: &CStr) -> Result<(), Errno> {
    let mut pause = Duration::from_millis(1);
    let mut slept = Duration::ZERO;
    loop {
        match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(Errno::BUSY) if slept < REMOVE_BUSY_BUDGET => {
                let pause_now = pause.min(REMOVE_BUSY_BUDGET - slept);
                sleep(pause_now);
                slept += pause_now;
                pause = (pause * 2).min(REMOVE_BUSY_PAUSE);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sleeps for `duration` (below one second), resuming after a signal.
fn sleep(duration: Duration) {
    let mut request = Timespec {
        tv_sec: 0,
        tv_nsec: duration.subsec_nanos().into(),
    };
    loop {
        match nanosleep(&request) {
            NanosleepRelativeResult::Interrupted(remaining) => request = remaining,
            NanosleepRelativeResult::Ok | NanosleepRelativeResult::Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::pipe::{pipe_with, PipeFlags};

    #[test]
    fn write_once_writes_the_value_whole() {
        let (r, w) = pipe_with(PipeFlags::CLOEXEC).unwrap();
        write_once(w.as_fd(), b"max").unwrap();
        join(w.as_fd()).unwrap();
        let mut buf = [0u8; 8];
        let n = rustix::io::read(&r, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"max0");
    }

    #[test]
    fn a_missing_cgroup_counts_as_removed_and_a_file_is_no_cgroup() {
        let dir = rustix::fs::open(
            c"/proc/self",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        assert_eq!(remove_child(dir.as_fd(), c"no-such-cgroup"), Ok(()));
        assert_eq!(
            open_child(dir.as_fd(), c"status").err(),
            Some(Errno::NOTDIR)
        );
    }

    #[test]
    fn sleeping_takes_about_as_long_as_asked() {
        let start = std::time::Instant::now();
        sleep(Duration::from_millis(5));
        assert!(start.elapsed() >= Duration::from_millis(5));
    }
}
