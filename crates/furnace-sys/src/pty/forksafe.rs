//! The fork-safe tier of [`pty`](super): making a terminal the controlling terminal of the
//! calling process's new session, between `fork` and `exec`.
//!
//! Every function here makes system calls only: no allocation, no lock, no panic. Errors are
//! the bare [`Errno`].

use std::ffi::CStr;
use std::os::fd::{BorrowedFd, OwnedFd};

use crate::{Errno, Signal};

/// `open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC)`, `ioctl(TIOCSPTLCK, 0)`, `ioctl(TIOCGPTPEER)`
/// and `fchown(peer, uid, gid)`: a new terminal of the devpts instance whose `ptmx` is `ptmx`
/// (the master, and the terminal side opened through it), the terminal side given to `uid`
/// and `gid`. Both close-on-exec. Async-signal-safe: no allocation, no locks.
///
/// See `pty(7)`, `ioctl_tty(2)`.
#[inline]
pub fn open_terminal(ptmx: &CStr, uid: u32, gid: u32) -> Result<(OwnedFd, OwnedFd), Errno> {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::OpenptFlags;
    let master = rustix::fs::open(
        ptmx,
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    rustix::pty::unlockpt(&master)?;
    let peer = rustix::pty::ioctl_tiocgptpeer(
        &master,
        OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
    )?;
    // `_unchecked`: no debug assertion that could panic here; the kernel checks the ids.
    rustix::fs::fchown(
        &peer,
        Some(rustix::fs::Uid::from_raw_unchecked(uid)),
        Some(rustix::fs::Gid::from_raw_unchecked(gid)),
    )?;
    Ok((master, peer))
}

/// `ioctl(fd, TIOCSCTTY, 0)`: makes the terminal `fd` the controlling terminal of the calling
/// process, which must lead a session without one (after `setsid(2)`); the terminal must be
/// no other session's. Async-signal-safe: no allocation, no locks.
///
/// See `ioctl_tty(2)`.
#[inline]
pub fn make_controlling(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    rustix::process::ioctl_tiocsctty(fd)
}

/// Whether `fd` is a terminal (`ioctl(TCGETS)` succeeds). Async-signal-safe.
///
/// See `isatty(3)`.
#[inline]
pub fn is_terminal(fd: BorrowedFd<'_>) -> bool {
    rustix::termios::isatty(fd)
}

/// Puts the calling process into a process group of its own (`setpgid(0, 0)`) and, when
/// `take_foreground`, makes the new group the foreground process group of terminal
/// `terminal` (`tcsetpgrp`, with `SIGTTOU` blocked meanwhile, since the new group starts in
/// the background). Whether the caller's group had the foreground is for the caller to find
/// out before the fork: a child forked into another pid namespace cannot see that group.
/// Whoever made the process gives the terminal back to its own group when the process has
/// stopped or ended ([`take_back_foreground`](super::take_back_foreground)).
/// Async-signal-safe: no allocation, no locks.
///
/// See `setpgid(2)`, `tcsetpgrp(3)`.
#[inline]
pub fn lead_process_group(terminal: BorrowedFd<'_>, take_foreground: bool) -> Result<(), Errno> {
    // SAFETY: setpgid(0, 0) takes no pointers; it only changes the caller's process group.
    // (rustix's setpgid and getpgrp assert a visible, non-zero group in debug builds, which a
    // process forked into another pid namespace does not have.)
    if unsafe { libc::setpgid(0, 0) } != 0 {
        return Err(crate::error::last_errno());
    }
    if take_foreground {
        let own = rustix::process::getpid();
        crate::signal::forksafe::with_blocked(Signal::TTOU, || {
            rustix::termios::tcsetpgrp(terminal, own)
        })?;
    }
    Ok(())
}
