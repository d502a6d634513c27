//! The fork-safe tier of [`dev`](super): making device nodes and checking them.
//!
//! Every function here makes system calls only: no allocation, no lock, no panic. They are
//! async-signal-safe, so a child forked from a multi-threaded program may call them before it
//! execs or exits. Errors are the bare [`Errno`].

use std::ffi::CStr;
use std::os::fd::BorrowedFd;

use rustix::fs::{FileType, Mode};

use super::DeviceKind;
use crate::Errno;

/// `mknodat(dir, path, S_IFCHR | S_IFBLK | mode, makedev(major, minor))`: makes a device node.
///
/// The umask applies to `mode`: set it to 0 first for an exact mode. Async-signal-safe: no
/// allocation, no locks.
///
/// See `mknodat(2)`.
#[inline]
pub fn mknodat(
    dir: BorrowedFd<'_>,
    path: &CStr,
    kind: DeviceKind,
    mode: Mode,
    major: u32,
    minor: u32,
) -> Result<(), Errno> {
    let dev = rustix::fs::makedev(major, minor);
    rustix::fs::mknodat(dir, path, kind.file_type(), mode, dev)
}

/// `fstat(fd)`: the kind and number, as `(kind, major, minor)`, of the device node `fd`
/// refers to (an `O_PATH` fd works); `ENODEV` for a file that is no device.
///
/// This is how a runtime checks that a node it is about to use really is the device it
/// expects (`/dev/null` is `Char`, 1, 3). Async-signal-safe: no allocation, no locks.
///
/// See `fstat(2)`.
#[inline]
pub fn device_number(fd: BorrowedFd<'_>) -> Result<(DeviceKind, u32, u32), Errno> {
    let st = rustix::fs::fstat(fd)?;
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::CharacterDevice => DeviceKind::Char,
        FileType::BlockDevice => DeviceKind::Block,
        _ => return Err(Errno::NODEV),
    };
    Ok((
        kind,
        rustix::fs::major(st.st_rdev),
        rustix::fs::minor(st.st_rdev),
    ))
}
