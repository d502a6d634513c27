//! The fork-safe tier of [`ns`](super): entering namespaces from a forked child.
//!
//! Every function here makes system calls only: no allocation, no lock, no panic. They are
//! async-signal-safe, so a child forked from a multi-threaded program may call them before it
//! execs or exits. Errors are the bare [`Errno`].

use std::os::fd::BorrowedFd;

use rustix::thread::{ThreadNameSpaceType, UnshareFlags};

use super::{Namespace, Namespaces};
use crate::Errno;

/// `unshare(namespaces)`: moves the calling thread into new namespaces.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `unshare(2)`.
#[inline]
pub fn unshare(namespaces: Namespaces) -> Result<(), Errno> {
    // SAFETY: unshare only affects the calling thread's namespaces and fs context; it never
    // unshares the fd table (`CLONE_FILES` is not in `Namespaces`), which is what rustix marks
    // as the memory-safety hazard.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::from_bits_retain(namespaces.bits())) }
}

/// `setns(fd, CLONE_NEW*)`: moves the calling thread into the namespace `fd` refers to, which
/// the kernel checks to be of `kind` (`EINVAL` otherwise).
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `setns(2)`.
#[inline]
pub fn setns(fd: BorrowedFd<'_>, kind: Namespace) -> Result<(), Errno> {
    rustix::thread::move_into_link_name_space(fd, Some(kind.link_type()))
}

/// `setns(pidfd, namespaces)`: moves the calling thread into the `namespaces` of the process
/// that `pidfd` refers to, all at once (Linux ≥ 5.8).
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `setns(2)`.
#[inline]
pub fn setns_pidfd(pidfd: BorrowedFd<'_>, namespaces: Namespaces) -> Result<(), Errno> {
    rustix::thread::move_into_thread_name_spaces(
        pidfd,
        ThreadNameSpaceType::from_bits_retain(namespaces.bits()),
    )
}
