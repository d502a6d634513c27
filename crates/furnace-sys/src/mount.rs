//! Mounts: `mount(2)` with typed flags, bind and read-only helpers, propagation, `umount2(2)`,
//! `pivot_root(2)`.

use std::path::Path;

use bitflags::bitflags;
use rustix::mount::{MountPropagationFlags, UnmountFlags as RxUnmountFlags};

use crate::error::{DisplayPath, Error, Result};

bitflags! {
    /// Flags for a new mount (`MS_*` of `mount(2)` that describe the mount itself).
    ///
    /// `MS_BIND`, `MS_REMOUNT`, `MS_MOVE` and the propagation flags are not here: they select a
    /// different operation and have their own functions ([`bind`], [`remount`],
    /// [`set_propagation`]).
    #[repr(transparent)]
    #[derive(Copy, Clone, Eq, PartialEq, Hash, Debug, Default)]
    pub struct MountFlags: u64 {
        /// `MS_RDONLY`
        const RDONLY = libc::MS_RDONLY;
        /// `MS_NOSUID`: ignore set-user-id and set-group-id bits and file capabilities.
        const NOSUID = libc::MS_NOSUID;
        /// `MS_NODEV`: device files cannot be opened.
        const NODEV = libc::MS_NODEV;
        /// `MS_NOEXEC`: files cannot be executed.
        const NOEXEC = libc::MS_NOEXEC;
        /// `MS_SYNCHRONOUS`
        const SYNCHRONOUS = libc::MS_SYNCHRONOUS;
        /// `MS_DIRSYNC`
        const DIRSYNC = libc::MS_DIRSYNC;
        /// `MS_NOATIME`
        const NOATIME = libc::MS_NOATIME;
        /// `MS_NODIRATIME`
        const NODIRATIME = libc::MS_NODIRATIME;
        /// `MS_RELATIME`
        const RELATIME = libc::MS_RELATIME;
        /// `MS_STRICTATIME`
        const STRICTATIME = libc::MS_STRICTATIME;
        /// `MS_LAZYTIME`
        const LAZYTIME = libc::MS_LAZYTIME;
        /// `MS_SILENT`
        const SILENT = libc::MS_SILENT;
    }
}

impl MountFlags {
    /// The flags as the comma-separated option names `mount(8)` uses (`ro,nosuid`).
    pub fn names(self) -> String {
        const NAMES: [(MountFlags, &str); 12] = [
            (MountFlags::RDONLY, "ro"),
            (MountFlags::NOSUID, "nosuid"),
            (MountFlags::NODEV, "nodev"),
            (MountFlags::NOEXEC, "noexec"),
            (MountFlags::SYNCHRONOUS, "sync"),
            (MountFlags::DIRSYNC, "dirsync"),
            (MountFlags::NOATIME, "noatime"),
            (MountFlags::NODIRATIME, "nodiratime"),
            (MountFlags::RELATIME, "relatime"),
            (MountFlags::STRICTATIME, "strictatime"),
            (MountFlags::LAZYTIME, "lazytime"),
            (MountFlags::SILENT, "silent"),
        ];
        NAMES
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join(",")
    }

    fn to_rustix(self) -> rustix::mount::MountFlags {
        rustix::mount::MountFlags::from_bits_retain(self.bits() as _)
    }

    /// The per-mount flags `statvfs(3)` reports for the mount holding `path` (`ST_RDONLY`,
    /// `ST_NOSUID`, ...), as mount flags. A remount must repeat the locked ones (`nosuid`,
    /// `nodev`, `noexec`, atime flags) or the kernel refuses it with `EPERM`.
    pub fn of_mount_at(path: impl AsRef<Path>) -> Result<MountFlags> {
        let path = path.as_ref();
        let st = rustix::fs::statvfs(path)
            .map_err(|e| Error::new("statvfs", DisplayPath(path).to_string(), e).with_path(path))?;
        let vfs = st.f_flag;
        let mut flags = MountFlags::empty();
        for (st_flag, flag) in [
            (rustix::fs::StatVfsMountFlags::RDONLY, MountFlags::RDONLY),
            (rustix::fs::StatVfsMountFlags::NOSUID, MountFlags::NOSUID),
            (rustix::fs::StatVfsMountFlags::NODEV, MountFlags::NODEV),
            (rustix::fs::StatVfsMountFlags::NOEXEC, MountFlags::NOEXEC),
            (rustix::fs::StatVfsMountFlags::NOATIME, MountFlags::NOATIME),
            (
                rustix::fs::StatVfsMountFlags::NODIRATIME,
                MountFlags::NODIRATIME,
            ),
            (
                rustix::fs::StatVfsMountFlags::RELATIME,
                MountFlags::RELATIME,
            ),
        ] {
            if vfs.contains(st_flag) {
                flags |= flag;
            }
        }
        Ok(flags)
    }
}

/// Mount propagation types (`MS_PRIVATE`, `MS_SLAVE`, `MS_SHARED`, `MS_UNBINDABLE`).
///
/// See <https://docs.kernel.org/filesystems/sharedsubtree.html>.
#[derive(Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub enum Propagation {
    /// Events neither received nor sent.
    Private,
    /// Events received from the master, none sent.
    Slave,
    /// Events received and sent within the peer group.
    Shared,
    /// Private, and cannot be bind-mounted.
    Unbindable,
}

impl Propagation {
    fn name(self) -> &'static str {
        match self {
            Propagation::Private => "private",
            Propagation::Slave => "slave",
            Propagation::Shared => "shared",
            Propagation::Unbindable => "unbindable",
        }
    }
}

bitflags! {
    /// Flags of `umount2(2)`.
    #[repr(transparent)]
    #[derive(Copy, Clone, Eq, PartialEq, Hash, Debug, Default)]
    pub struct UnmountFlags: u32 {
        /// `MNT_FORCE`
        const FORCE = libc::MNT_FORCE as u32;
        /// `MNT_DETACH`: lazy unmount, the mount disappears now and is freed when unused.
        const DETACH = libc::MNT_DETACH as u32;
        /// `MNT_EXPIRE`
        const EXPIRE = libc::MNT_EXPIRE as u32;
        /// `UMOUNT_NOFOLLOW`: do not follow a symlink at the target.
        const NOFOLLOW = libc::UMOUNT_NOFOLLOW as u32;
    }
}

/// `mount(2)` of a filesystem: `mount(source, target, fstype, flags, data)`.
///
/// ```no_run
/// use furnace_sys::mount::{mount, MountFlags};
/// mount(Some("proc"), "/proc", "proc", MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC, None)?;
/// # Ok::<(), furnace_sys::Error>(())
/// ```
///
/// See <https://man7.org/linux/man-pages/man2/mount.2.html>.
pub fn mount(
    source: Option<impl AsRef<Path>>,
    target: impl AsRef<Path>,
    fstype: &str,
    flags: MountFlags,
    data: Option<&str>,
) -> Result<()> {
    let target = target.as_ref();
    let source = source.as_ref().map(AsRef::as_ref);
    let src = source.unwrap_or(Path::new(fstype));
    let data_c = data.map(std::ffi::CString::new).transpose().map_err(|_| {
        Error::new(
            "mount",
            format!(
                "{} on {}: option string has a NUL byte",
                DisplayPath(src),
                DisplayPath(target)
            ),
            rustix::io::Errno::INVAL,
        )
    })?;
    rustix::mount::mount(src, target, fstype, flags.to_rustix(), data_c.as_deref()).map_err(|e| {
        let mut detail = format!(
            "{} on {} (type {fstype}",
            DisplayPath(src),
            DisplayPath(target)
        );
        if !flags.is_empty() {
            detail.push_str(", ");
            detail.push_str(&flags.names());
        }
        if let Some(data) = data {
            detail.push_str(", ");
            detail.push_str(data);
        }
        detail.push(')');
        Error::new("mount", detail, e).with_path(target)
    })
}

/// Bind-mounts `source` on `target` (`MS_BIND`); submounts of `source` are not included.
pub fn bind(source: impl AsRef<Path>, target: impl AsRef<Path>) -> Result<()> {
    let (source, target) = (source.as_ref(), target.as_ref());
    rustix::mount::mount_bind(source, target).map_err(|e| {
        Error::new(
            "mount",
            format!("bind {} on {}", DisplayPath(source), DisplayPath(target)),
            e,
        )
        .with_path(target)
    })
}

/// Bind-mounts `source` with all its submounts on `target` (`MS_BIND | MS_REC`).
pub fn bind_recursive(source: impl AsRef<Path>, target: impl AsRef<Path>) -> Result<()> {
    let (source, target) = (source.as_ref(), target.as_ref());
    rustix::mount::mount_bind_recursive(source, target).map_err(|e| {
        Error::new(
            "mount",
            format!("rbind {} on {}", DisplayPath(source), DisplayPath(target)),
            e,
        )
        .with_path(target)
    })
}

/// Changes the flags of the mount at `target` (`MS_REMOUNT`, with `MS_BIND` so only the
/// per-mount flags change, not the filesystem's).
pub fn remount(target: impl AsRef<Path>, flags: MountFlags) -> Result<()> {
    let target = target.as_ref();
    rustix::mount::mount_remount(
        target,
        flags.to_rustix() | rustix::mount::MountFlags::BIND,
        "",
    )
    .map_err(|e| {
        Error::new(
            "mount",
            format!("remount {} ({})", DisplayPath(target), flags.names()),
            e,
        )
        .with_path(target)
    })
}

/// Makes the mount at `target` read-only, keeping the flags it already has (`nosuid`,
/// `nodev`, `noexec`, atime), as `bwrap --ro-bind` does: dropping a locked flag would fail.
pub fn remount_read_only(target: impl AsRef<Path>) -> Result<()> {
    let target = target.as_ref();
    let current = MountFlags::of_mount_at(target)?;
    remount(target, current | MountFlags::RDONLY)
}

/// Makes the mount at `target` and every mount below it read-only, keeping their other flags
/// (`mount_setattr(2)` with `AT_RECURSIVE` and `MOUNT_ATTR_RDONLY`, Linux ≥ 5.12). Unlike a
/// remount, this reaches the submounts of a recursive bind.
pub fn make_read_only_recursive(target: impl AsRef<Path>) -> Result<()> {
    let target = target.as_ref();
    let fail = |call, e| Error::new(call, DisplayPath(target).to_string(), e).with_path(target);
    let fd = rustix::fs::open(
        target,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| fail("open", e))?;
    crate::raw::make_tree_read_only(std::os::fd::AsFd::as_fd(&fd))
        .map_err(|e| fail("mount_setattr", e))
}

/// Changes the propagation type of the mount at `target`, and of every mount below it when
/// `recursive` is set (`MS_REC`).
///
/// ```no_run
/// use furnace_sys::mount::{set_propagation, Propagation};
/// // In a fresh mount namespace: receive the host's new mounts, send none back.
/// set_propagation("/", Propagation::Slave, true)?;
/// # Ok::<(), furnace_sys::Error>(())
/// ```
pub fn set_propagation(target: impl AsRef<Path>, kind: Propagation, recursive: bool) -> Result<()> {
    let target = target.as_ref();
    let mut flags = match kind {
        Propagation::Private => MountPropagationFlags::PRIVATE,
        Propagation::Slave => MountPropagationFlags::DOWNSTREAM,
        Propagation::Shared => MountPropagationFlags::SHARED,
        Propagation::Unbindable => MountPropagationFlags::UNBINDABLE,
    };
    if recursive {
        flags |= MountPropagationFlags::REC;
    }
    rustix::mount::mount_change(target, flags).map_err(|e| {
        let prefix = if recursive { "r" } else { "" };
        Error::new(
            "mount",
            format!("make-{prefix}{} {}", kind.name(), DisplayPath(target)),
            e,
        )
        .with_path(target)
    })
}

/// `umount2(2)`: unmounts the mount at `target`.
///
/// See <https://man7.org/linux/man-pages/man2/umount2.2.html>.
#[doc(alias = "unmount")]
pub fn umount2(target: impl AsRef<Path>, flags: UnmountFlags) -> Result<()> {
    let target = target.as_ref();
    rustix::mount::unmount(target, RxUnmountFlags::from_bits_retain(flags.bits()))
        .map_err(|e| Error::new("umount2", DisplayPath(target).to_string(), e).with_path(target))
}

/// `pivot_root(2)`: makes `new_root` the root mount of the calling process's mount namespace
/// and moves the old root to `put_old`.
///
/// `pivot_root(".", ".")` after `chdir(new_root)` stacks the old root on top of the new one,
/// so no directory for it is needed in the new root; unmount it with `umount2(".",
/// MNT_DETACH)` afterwards.
///
/// See <https://man7.org/linux/man-pages/man2/pivot_root.2.html>.
pub fn pivot_root(new_root: impl AsRef<Path>, put_old: impl AsRef<Path>) -> Result<()> {
    let (new_root, put_old) = (new_root.as_ref(), put_old.as_ref());
    rustix::process::pivot_root(new_root, put_old).map_err(|e| {
        Error::new(
            "pivot_root",
            format!(
                "{} (old root at {})",
                DisplayPath(new_root),
                DisplayPath(put_old)
            ),
            e,
        )
        .with_path(new_root)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_bits_match_libc() {
        assert_eq!(MountFlags::RDONLY.bits(), libc::MS_RDONLY);
        assert_eq!(MountFlags::NOSUID.bits(), 2);
        assert_eq!(MountFlags::NODEV.bits(), 4);
        assert_eq!(MountFlags::NOEXEC.bits(), 8);
        assert_eq!(UnmountFlags::DETACH.bits(), 2);
        assert_eq!(UnmountFlags::NOFOLLOW.bits(), 8);
    }

    #[test]
    fn flag_names() {
        let flags = MountFlags::RDONLY | MountFlags::NOEXEC | MountFlags::NOSUID;
        assert_eq!(flags.names(), "ro,nosuid,noexec");
        assert_eq!(MountFlags::empty().names(), "");
    }

    #[test]
    fn mount_error_names_source_target_type_and_flags() {
        // Mounting on a path that does not exist fails before any privilege check.
        let err = mount(
            Some("proc"),
            "/nonexistent/furnace/x",
            "proc",
            MountFlags::NOSUID,
            None,
        )
        .unwrap_err();
        assert_eq!(err.call(), "mount");
        assert_eq!(err.path(), Some(Path::new("/nonexistent/furnace/x")));
        let msg = err.to_string();
        assert!(
            msg.starts_with("mount proc on /nonexistent/furnace/x (type proc, nosuid): "),
            "{msg}"
        );
    }

    #[test]
    fn statvfs_flags_agree_with_mountinfo() {
        let flags = MountFlags::of_mount_at("/proc").unwrap();
        let table = crate::mountinfo::read(None).unwrap();
        let proc = table
            .iter()
            .rev()
            .find(|m| m.mount_point == Path::new("/proc"))
            .unwrap();
        for (flag, name) in [
            (MountFlags::NOSUID, "nosuid"),
            (MountFlags::NODEV, "nodev"),
            (MountFlags::NOEXEC, "noexec"),
            (MountFlags::RDONLY, "ro"),
        ] {
            assert_eq!(
                flags.contains(flag),
                proc.mount_options.iter().any(|o| o == name),
                "{name}: {flags:?} vs {proc:?}"
            );
        }
    }
}
