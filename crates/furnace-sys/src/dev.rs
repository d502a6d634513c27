//! Device nodes: `mknod(2)` with an exact mode.

use std::path::Path;

use rustix::fs::{FileType, Mode, CWD};

use crate::error::{DisplayPath, Error, Result};

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

/// `mknod(2)` of a device node at `path` with exactly `mode` (permission bits).
///
/// The process umask would clear bits of the mode given to `mknod`; the node is therefore
/// `chmod`ed to `mode` afterwards, so the result does not depend on the caller's umask.
///
/// ```no_run
/// use furnace_sys::dev::{mknod, DeviceKind};
/// mknod("/tmp/root/dev/null", DeviceKind::Char, 1, 3, 0o666)?;
/// # Ok::<(), furnace_sys::Error>(())
/// ```
pub fn mknod(
    path: impl AsRef<Path>,
    kind: DeviceKind,
    major: u32,
    minor: u32,
    mode: u32,
) -> Result<()> {
    let path = path.as_ref();
    let mode = Mode::from_bits_truncate(mode & 0o7777);
    let dev = rustix::fs::makedev(major, minor);
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
    rustix::fs::mknodat(CWD, path, kind.file_type(), mode, dev).map_err(|e| fail("mknod", e))?;
    rustix::fs::chmod(path, mode).map_err(|e| fail("chmod", e))
}

/// The device number of a device node, as `(major, minor)`.
pub fn device_number(path: impl AsRef<Path>) -> Result<(DeviceKind, u32, u32)> {
    let path = path.as_ref();
    let st = rustix::fs::stat(path)
        .map_err(|e| Error::new("stat", DisplayPath(path).to_string(), e).with_path(path))?;
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::CharacterDevice => DeviceKind::Char,
        FileType::BlockDevice => DeviceKind::Block,
        _ => {
            return Err(Error::new(
                "stat",
                format!("{}: not a device", DisplayPath(path)),
                rustix::io::Errno::NODEV,
            )
            .with_path(path))
        }
    };
    Ok((
        kind,
        rustix::fs::major(st.st_rdev),
        rustix::fs::minor(st.st_rdev),
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
