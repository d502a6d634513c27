//! File descriptors: opening, duplicating, closing, reading, writing and waiting on them.
//!
//! Ordinary code has `std::fs` and rustix for these. What furnace adds is the fork-safe tier
//! in [`forksafe`] — the descriptor work of a forked child, from closing what it inherited to
//! opening paths strictly beneath a new root — and [`dup_above_stdio`] for the parent, which
//! must keep the fds it hands to a child out of the stdio numbers 0–2.

use std::os::fd::{AsFd, OwnedFd};

use crate::error::{Error, Result};

pub mod forksafe;

pub use rustix::event::{PollFd, PollFlags};
pub use rustix::fs::{Mode, OFlags, CWD};

/// One of the three standard descriptors, named rather than numbered.
#[derive(Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub enum StdioFd {
    /// Standard input, fd 0.
    Stdin,
    /// Standard output, fd 1.
    Stdout,
    /// Standard error, fd 2.
    Stderr,
}

impl StdioFd {
    /// The three, in the order of their numbers.
    pub const ALL: [StdioFd; 3] = [StdioFd::Stdin, StdioFd::Stdout, StdioFd::Stderr];

    /// The descriptor's number: 0, 1 or 2.
    ///
    /// No system call.
    pub const fn number(self) -> u32 {
        match self {
            StdioFd::Stdin => 0,
            StdioFd::Stdout => 1,
            StdioFd::Stderr => 2,
        }
    }
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, 3)`: a close-on-exec duplicate of `fd` numbered 3 or above.
///
/// A caller that closed stdin, stdout or stderr gets its next fds on those numbers, where a
/// child's stdio set-up would overwrite them; a duplicate above them is safe from that.
///
/// See `fcntl(2)`.
pub fn dup_above_stdio(fd: impl AsFd) -> Result<OwnedFd> {
    forksafe::dup_above_stdio(fd.as_fd()).map_err(|e| Error::new("fcntl", "F_DUPFD_CLOEXEC 3", e))
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, 3)` when `fd` is 0, 1 or 2: `fd` itself when it is numbered 3 or
/// above already, else a close-on-exec duplicate above stdio (the original is closed).
///
/// See `fcntl(2)`.
pub fn above_stdio(fd: OwnedFd) -> Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    dup_above_stdio(&fd)
}

/// `pipe2(fds, O_CLOEXEC)`: a close-on-exec pipe, `(read end, write end)`, both numbered 3 or
/// above (see [`above_stdio`]).
///
/// See `pipe2(2)`.
pub fn pipe_above_stdio() -> Result<(OwnedFd, OwnedFd)> {
    use rustix::pipe::{pipe_with, PipeFlags};
    let (read, write) =
        pipe_with(PipeFlags::CLOEXEC).map_err(|e| Error::new("pipe2", "O_CLOEXEC", e))?;
    Ok((above_stdio(read)?, above_stdio(write)?))
}
