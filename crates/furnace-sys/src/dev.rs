//! Device nodes: `mknod(2)` with an exact mode, and the device number of a node.
//!
//! The calls for a forked child, on C strings and fds with a bare errno as their error, are in
//! [`forksafe`].

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags, CWD};
use rustix::path::Arg;

use crate::error::{DisplayPath, Error, Result};

pub mod forksafe;

/// Character or block device.
#[derive(Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub enum DeviceKind {
    /// A character device (`S_IFCHR`), e.g. `/dev/null` (1:3).
    Char,
    /// A block device (`S_IFBLK`), e.g. `/dev/loop0` (7:0).
    Block,
}

impl DeviceKind {
    fn file_type(self) -> FileType {
        match self {
            DeviceKind::Char => FileType::CharacterDevice,
            DeviceKind::Block => FileType::BlockDevice,
        }
    }

    fn name(self) -> &'static str {
        match self {
            DeviceKind::Char => "char",
            DeviceKind::Block => "block",
        }
    }
}

/// `mknod(path, S_IFCHR | S_IFBLK | mode, makedev(major, minor))`, then `chmod(path, mode)`:
/// makes a device node at `path` with exactly `mode` (permission bits).
///
/// The process umask would clear bits of the mode given to `mknod`; the node is therefore
/// `chmod`ed to `mode` afterwards, so the result does not depend on the caller's umask.
///
/// ```no_run
/// use furnace_sys::dev::{mknod, DeviceKind};
/// mknod("/tmp/root/dev/null", DeviceKind::Char, 1, 3, 0o666)?;
/// # Ok::<(), furnace_sys::Error>(())
/// ```
///
/// See `mknod(2)`.
pub fn mknod(
    path: impl AsRef<Path>,
    kind: DeviceKind,
    major: u32,
    minor: u32,
    mode: u32,
) -> Result<()> {
    let path = path.as_ref();
    let mode = Mode::from_bits_truncate(mode & 0o7777);
    let fail = |call: &'static str, e| {
        Error::new(
            call,
            format!(
                "{} {} device {major}:{minor} mode {:o}",
                DisplayPath(path),
                kind.name(),
                mode.bits()
            ),
            e,
        )
        .with_path(path)
    };
    path.into_with_c_str(|p| forksafe::mknodat(CWD, p, kind, mode, major, minor))
        .map_err(|e| fail("mknod", e))?;
    path.into_with_c_str(|p| crate::fs::forksafe::chmod(p, mode))
        .map_err(|e| fail("chmod", e))
}

/// `open(path, O_PATH)`, then `fstat(fd)`: the kind and number, as `(kind, major, minor)`, of
/// the device node at `path` (a symlink is followed); `ENODEV` for a file that is no device.
///
/// See `fstat(2)`.
pub fn device_number(path: impl AsRef<Path>) -> Result<(DeviceKind, u32, u32)> {
    let path = path.as_ref();
    let fd = path
        .into_with_c_str(|p| crate::fd::forksafe::open(p, OFlags::PATH, Mode::empty()))
        .map_err(|e| Error::new("open", DisplayPath(path).to_string(), e).with_path(path))?;
    forksafe::device_number(fd.as_fd()).map_err(|e| {
        let detail = if e == rustix::io::Errno::NODEV {
            format!("{}: not a device", DisplayPath(path))
        } else {
            DisplayPath(path).to_string()
        };
        Error::new("fstat", detail, e).with_path(path)
    })
}

/// `ioctl(LOOP_GET_STATUS64)` on the loop device at `path`: the device number (`st_dev`) and
/// inode of the file it is attached to, or `None` when it is attached to nothing.
///
/// See `loop(4)`.
pub fn loop_backing_file(path: impl AsRef<Path>) -> Result<Option<(u64, u64)>> {
    let path = path.as_ref();
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::new("open", DisplayPath(path).to_string(), e))?;
    // struct loop_info64 (linux/loop.h): lo_device and lo_inode lead it; 232 bytes in all.
    let mut info = [0u64; 29];
    const LOOP_GET_STATUS64: libc::c_ulong = 0x4c05;
    // SAFETY: the buffer is 232 bytes, the size of struct loop_info64, and lives across the
    // call; the kernel writes at most that much into it.
    let ret = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), LOOP_GET_STATUS64, info.as_mut_ptr()) };
    if ret == 0 {
        return Ok(Some((info[0], info[1])));
    }
    match crate::error::last_errno() {
        crate::Errno::NXIO => Ok(None),
        errno => Err(Error::new(
            "ioctl",
            format!("{} LOOP_GET_STATUS64", DisplayPath(path)),
            errno,
        )),
    }
}

/// `ioctl(LOOP_CLR_FD)` on the loop device at `path`: detaches it from its file; when it is
/// still open or mounted somewhere, the kernel detaches it on the last close (autoclear).
///
/// See `loop(4)`.
pub fn loop_detach(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::new("open", DisplayPath(path).to_string(), e))?;
    const LOOP_CLR_FD: libc::c_ulong = 0x4c01;
    // SAFETY: LOOP_CLR_FD takes no argument; the fd is a loop device we opened.
    let ret = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), LOOP_CLR_FD, 0) };
    if ret == 0 {
        return Ok(());
    }
    Err(Error::new(
        "ioctl",
        format!("{} LOOP_CLR_FD", DisplayPath(path)),
        crate::error::last_errno(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_number_of_dev_null() {
        assert_eq!(
            device_number("/dev/null").unwrap(),
            (DeviceKind::Char, 1, 3)
        );
        let err = device_number("/proc").unwrap_err();
        assert!(err.to_string().contains("not a device"), "{err}");
    }
}
