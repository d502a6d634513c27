//! Pseudo-terminals: a new terminal of a devpts instance reached through a directory fd (a
//! container's own, not the caller's), its other end, its window size, and making it the
//! controlling terminal of a new session.
//!
//! The fork-safe call, for a child between `fork` and `exec`, is in [`forksafe`].

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;

use crate::error::{Error, Result};

pub mod forksafe;

/// A new pseudo-terminal: the master (what a terminal emulator or an expect-style program
/// holds) and its peer, the terminal a program runs on. Both close-on-exec.
#[derive(Debug)]
pub struct Pty {
    /// The master side.
    pub master: OwnedFd,
    /// The terminal side (`/dev/pts/N` of its devpts instance).
    pub peer: OwnedFd,
}

/// `openat2(root, ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC, RESOLVE_BENEATH)`, `unlockpt` and
/// `ioctl(TIOCGPTPEER)`: a new terminal of the devpts instance whose `ptmx` is `ptmx`
/// (relative, e.g. `dev/pts/ptmx`) beneath `root`. The peer is opened through the master, so
/// no path in `/dev/pts` is looked up.
///
/// See `pty(7)`, `ioctl_tty(2)`, `openat2(2)`.
pub fn open_beneath(root: BorrowedFd<'_>, ptmx: &str) -> Result<Pty> {
    let path = std::ffi::CString::new(ptmx)
        .map_err(|_| Error::new("openat2", ptmx.to_owned(), crate::Errno::INVAL))?;
    let master = crate::fd::forksafe::openat_beneath(
        root,
        &path,
        OFlags::RDWR | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| Error::new("openat2", format!("{ptmx} (O_RDWR, RESOLVE_BENEATH)"), e))?;
    rustix::pty::unlockpt(&master).map_err(|e| Error::new("ioctl", "TIOCSPTLCK 0", e))?;
    let peer = rustix::pty::ioctl_tiocgptpeer(
        &master,
        OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
    )
    .map_err(|e| Error::new("ioctl", "TIOCGPTPEER", e))?;
    Ok(Pty { master, peer })
}

/// `ioctl(fd, TIOCGWINSZ)`: a terminal's size as (rows, columns).
///
/// See `ioctl_tty(2)`.
pub fn window_size(fd: impl AsFd) -> Result<(u16, u16)> {
    rustix::termios::tcgetwinsize(fd)
        .map(|w| (w.ws_row, w.ws_col))
        .map_err(|e| Error::new("ioctl", "TIOCGWINSZ", e))
}

/// `ioctl(fd, TIOCSWINSZ)`: sets a terminal's size (the foreground job gets `SIGWINCH`).
///
/// See `ioctl_tty(2)`.
pub fn set_window_size(fd: impl AsFd, rows: u16, columns: u16) -> Result<()> {
    let size = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(fd, size).map_err(|e| Error::new("ioctl", "TIOCSWINSZ", e))
}

/// `tcgetpgrp(fd) == getpgrp()`: whether the calling process's group is the foreground
/// process group of terminal `fd` (`false` when `fd` is no terminal, or is not this
/// session's).
///
/// See `tcgetpgrp(3)`.
pub fn has_foreground(fd: impl AsFd) -> bool {
    rustix::termios::tcgetpgrp(fd.as_fd()).is_ok_and(|group| group == rustix::process::getpgrp())
}

/// `tcsetpgrp(fd, getpgrp())`: makes the calling process's group the foreground process group
/// of terminal `fd` again,
/// after a command that took it ([`forksafe::lead_process_group`]) stopped or ended; nothing
/// when `fd` is not a terminal or its foreground group is already ours. `SIGTTOU` is blocked
/// meanwhile (we are a background group until then).
///
/// See `tcsetpgrp(3)`.
pub fn take_back_foreground(fd: impl AsFd) -> Result<()> {
    let fd = fd.as_fd();
    let own = rustix::process::getpgrp();
    match rustix::termios::tcgetpgrp(fd) {
        Ok(group) if group != own => {}
        _ => return Ok(()),
    }
    crate::signal::with_blocked(crate::Signal::TTOU, || rustix::termios::tcsetpgrp(fd, own))
        .map_err(|e| Error::new("tcsetpgrp", "the terminal", e))
}

/// `tcsetpgrp(fd, group)`: makes process group `group` the foreground process group of
/// terminal `fd` (a command of ours continued after a stop), with `SIGTTOU` blocked meanwhile.
///
/// See `tcsetpgrp(3)`.
pub fn give_foreground(fd: impl AsFd, group: u32) -> Result<()> {
    let group = i32::try_from(group)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| Error::new("tcsetpgrp", "the terminal", crate::Errno::INVAL))?;
    crate::signal::with_blocked(crate::Signal::TTOU, || {
        rustix::termios::tcsetpgrp(fd.as_fd(), group)
    })
    .map_err(|e| Error::new("tcsetpgrp", "the terminal", e))
}
