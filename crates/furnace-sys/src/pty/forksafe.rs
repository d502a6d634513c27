//! The fork-safe tier of [`pty`](super): making a terminal the controlling terminal of the
//! calling process's new session, between `fork` and `exec`.
//!
//! Every function here makes system calls only: no allocation, no lock, no panic. Errors are
//! the bare [`Errno`].

use std::os::fd::BorrowedFd;

use crate::Errno;

/// `ioctl(fd, TIOCSCTTY, 0)`: makes the terminal `fd` the controlling terminal of the calling
/// process, which must lead a session without one (after `setsid(2)`); the terminal must be
/// no other session's. Async-signal-safe: no allocation, no locks.
///
/// See `ioctl_tty(2)`.
#[inline]
pub fn make_controlling(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    rustix::process::ioctl_tiocsctty(fd)
}
