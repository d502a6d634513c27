//! Mounts: `mount(2)` with typed flags, bind and read-only helpers, propagation, `umount2(2)`,
//! `pivot_root(2)`, and the new mount API (`open_tree(2)`, `fsopen(2)`, `move_mount(2)`,
//! `mount_setattr(2)`).
//!
//! The functions here take paths and report an [`Error`] that names the call, its arguments
//! and the path it failed on. The same calls for a forked child — C strings and fds in, a bare
//! errno out, nothing allocated — are in [`forksafe`], together with the fd-based calls of the
//! new mount API that PID 1 of a container uses to build its tree.

use std::os::fd::AsFd;
use std::path::Path;

use bitflags::bitflags;
use rustix::mount::{MountPropagationFlags, UnmountFlags as RxUnmountFlags};
use rustix::path::{option_into_with_c_str, Arg};

use crate::error::{DisplayPath, Error, Result};

pub mod forksafe;

pub use rustix::mount::MountAttrFlags;

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
    ///
    /// No system call.
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

    /// The `MOUNT_ATTR_*` attributes of `fsmount(2)` and `mount_setattr(2)` that these flags
    /// stand for.
    ///
    /// `rdonly`, `nosuid`, `nodev`, `noexec`, `noatime`, `strictatime` and `nodiratime` have
    /// one; `relatime` is the attributes' default, and the others (`sync`, `dirsync`,
    /// `lazytime`, `silent`) belong to the filesystem, not the mount, so they are left out.
    ///
    /// ```
    /// use furnace_sys::mount::{MountAttrFlags as A, MountFlags as F};
    /// assert_eq!(
    ///     (F::RDONLY | F::NOSUID | F::SYNCHRONOUS).mount_attrs(),
    ///     A::MOUNT_ATTR_RDONLY | A::MOUNT_ATTR_NOSUID
    /// );
    /// ```
    ///
    /// No system call.
    pub fn mount_attrs(self) -> MountAttrFlags {
        const ATTRS: [(MountFlags, MountAttrFlags); 7] = [
            (MountFlags::RDONLY, MountAttrFlags::MOUNT_ATTR_RDONLY),
            (MountFlags::NOSUID, MountAttrFlags::MOUNT_ATTR_NOSUID),
            (MountFlags::NODEV, MountAttrFlags::MOUNT_ATTR_NODEV),
            (MountFlags::NOEXEC, MountAttrFlags::MOUNT_ATTR_NOEXEC),
            (MountFlags::NOATIME, MountAttrFlags::MOUNT_ATTR_NOATIME),
            (
                MountFlags::STRICTATIME,
                MountAttrFlags::MOUNT_ATTR_STRICTATIME,
            ),
            (
                MountFlags::NODIRATIME,
                MountAttrFlags::MOUNT_ATTR_NODIRATIME,
            ),
        ];
        ATTRS
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .fold(MountAttrFlags::empty(), |attrs, (_, attr)| attrs | *attr)
    }

    /// `statvfs(path)`: the per-mount flags of the mount holding `path` (`ST_RDONLY`,
    /// `ST_NOSUID`, ...), as mount flags. A remount must repeat the locked ones (`nosuid`,
    /// `nodev`, `noexec`, atime flags) or the kernel refuses it with `EPERM`.
    ///
    /// See `statvfs(3)`.
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

    fn flags(self, recursive: bool) -> MountPropagationFlags {
        let flags = match self {
            Propagation::Private => MountPropagationFlags::PRIVATE,
            Propagation::Slave => MountPropagationFlags::DOWNSTREAM,
            Propagation::Shared => MountPropagationFlags::SHARED,
            Propagation::Unbindable => MountPropagationFlags::UNBINDABLE,
        };
        if recursive {
            flags | MountPropagationFlags::REC
        } else {
            flags
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

impl UnmountFlags {
    fn to_rustix(self) -> RxUnmountFlags {
        RxUnmountFlags::from_bits_retain(self.bits())
    }
}

/// `mount(source, target, fstype, flags, data)`: mounts a filesystem.
///
/// Without a `source`, the filesystem type is passed as the source (what `/proc/mounts` then
/// shows), as `mount(8)` does for virtual filesystems.
///
/// ```no_run
/// use furnace_sys::mount::{mount, MountFlags};
/// mount(Some("proc"), "/proc", "proc", MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC, None)?;
/// # Ok::<(), furnace_sys::Error>(())
/// ```
///
/// See `mount(2)`.
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
    if data.is_some_and(|data| data.contains('\0')) {
        return Err(Error::new(
            "mount",
            format!(
                "{} on {}: option string has a NUL byte",
                DisplayPath(src),
                DisplayPath(target)
            ),
            rustix::io::Errno::INVAL,
        ));
    }
    src.into_with_c_str(|src| {
        target.into_with_c_str(|target| {
            fstype.into_with_c_str(|fstype| {
                option_into_with_c_str(data, |data| {
                    forksafe::mount(src, target, fstype, flags, data)
                })
            })
        })
    })
    .map_err(|e| {
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

/// `mount(source, target, NULL, MS_BIND, NULL)`: bind-mounts `source` on `target`; submounts
/// of `source` are not included.
///
/// A missing or unreachable source is reported as such: the error's [`path`](Error::path)
/// is the source, not the target.
///
/// See `mount(2)`.
pub fn bind(source: impl AsRef<Path>, target: impl AsRef<Path>) -> Result<()> {
    let (source, target) = (source.as_ref(), target.as_ref());
    check_bind_source(source, target, "bind")?;
    source
        .into_with_c_str(|s| target.into_with_c_str(|t| forksafe::bind(s, t)))
        .map_err(|e| bind_error("bind", source, target, e))
}

/// `mount(source, target, NULL, MS_BIND | MS_REC, NULL)`: bind-mounts `source` with all its
/// submounts on `target`.
///
/// A missing or unreachable source is reported as such: the error's [`path`](Error::path)
/// is the source, not the target.
///
/// See `mount(2)`.
pub fn bind_recursive(source: impl AsRef<Path>, target: impl AsRef<Path>) -> Result<()> {
    let (source, target) = (source.as_ref(), target.as_ref());
    check_bind_source(source, target, "rbind")?;
    source
        .into_with_c_str(|s| target.into_with_c_str(|t| forksafe::bind_recursive(s, t)))
        .map_err(|e| bind_error("rbind", source, target, e))
}

/// `mount(2)` reports a missing source and a missing target alike (`ENOENT`), so the source
/// is looked at first: an error then names the path that is really at fault.
fn check_bind_source(source: &Path, target: &Path, kind: &str) -> Result<()> {
    rustix::fs::stat(source).map(drop).map_err(|e| {
        Error::new(
            "stat",
            format!(
                "{} (source of {kind} on {})",
                DisplayPath(source),
                DisplayPath(target)
            ),
            e,
        )
        .with_path(source)
    })
}

fn bind_error(kind: &str, source: &Path, target: &Path, errno: rustix::io::Errno) -> Error {
    Error::new(
        "mount",
        format!("{kind} {} on {}", DisplayPath(source), DisplayPath(target)),
        errno,
    )
    .with_path(target)
}

/// `mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | flags, NULL)`: changes the flags of the
/// mount at `target` (with `MS_BIND`, only the per-mount flags, not the filesystem's).
///
/// See `mount(2)`.
pub fn remount(target: impl AsRef<Path>, flags: MountFlags) -> Result<()> {
    let target = target.as_ref();
    target
        .into_with_c_str(|t| forksafe::remount(t, flags))
        .map_err(|e| {
            Error::new(
                "mount",
                format!("remount {} ({})", DisplayPath(target), flags.names()),
                e,
            )
            .with_path(target)
        })
}

/// `statvfs(target)`, then `mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY |
/// current, NULL)`: makes the mount at `target` read-only, keeping the flags it already has
/// (`nosuid`, `nodev`, `noexec`, atime), as `bwrap --ro-bind` does: dropping a locked flag
/// would fail.
///
/// See `mount(2)`.
pub fn remount_read_only(target: impl AsRef<Path>) -> Result<()> {
    let target = target.as_ref();
    let current = MountFlags::of_mount_at(target)?;
    remount(target, current | MountFlags::RDONLY)
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, {MOUNT_ATTR_RDONLY})` on an `O_PATH`
/// fd of `target`: makes the mount at `target` and every mount below it read-only, keeping
/// their other flags (Linux ≥ 5.12). Unlike a remount, this reaches the submounts of a
/// recursive bind.
///
/// See `mount_setattr(2)`.
pub fn make_read_only_recursive(target: impl AsRef<Path>) -> Result<()> {
    let target = target.as_ref();
    let fail = |call, e| Error::new(call, DisplayPath(target).to_string(), e).with_path(target);
    let flags = rustix::fs::OFlags::PATH;
    let fd = target
        .into_with_c_str(|t| crate::fd::forksafe::open(t, flags, rustix::fs::Mode::empty()))
        .map_err(|e| fail("open", e))?;
    forksafe::make_tree_read_only(fd.as_fd()).map_err(|e| fail("mount_setattr", e))
}

/// `mount(NULL, target, NULL, MS_PRIVATE | MS_SLAVE | MS_SHARED | MS_UNBINDABLE [| MS_REC],
/// NULL)`: changes the propagation type of the mount at `target`, and of every mount below it
/// when `recursive` is set.
///
/// ```no_run
/// use furnace_sys::mount::{set_propagation, Propagation};
/// // In a fresh mount namespace: receive the host's new mounts, send none back.
/// set_propagation("/", Propagation::Slave, true)?;
/// # Ok::<(), furnace_sys::Error>(())
/// ```
///
/// See `mount(2)`.
pub fn set_propagation(target: impl AsRef<Path>, kind: Propagation, recursive: bool) -> Result<()> {
    let target = target.as_ref();
    target
        .into_with_c_str(|t| forksafe::set_propagation(t, kind, recursive))
        .map_err(|e| {
            let prefix = if recursive { "r" } else { "" };
            Error::new(
                "mount",
                format!("make-{prefix}{} {}", kind.name(), DisplayPath(target)),
                e,
            )
            .with_path(target)
        })
}

/// `umount2(target, flags)`: unmounts the mount at `target`.
///
/// See `umount2(2)`.
#[doc(alias = "unmount")]
pub fn umount2(target: impl AsRef<Path>, flags: UnmountFlags) -> Result<()> {
    let target = target.as_ref();
    target
        .into_with_c_str(|t| forksafe::umount2(t, flags))
        .map_err(|e| Error::new("umount2", DisplayPath(target).to_string(), e).with_path(target))
}

/// `pivot_root(new_root, put_old)`: makes `new_root` the root mount of the calling process's
/// mount namespace and moves the old root to `put_old`.
///
/// `pivot_root(".", ".")` after `chdir(new_root)` stacks the old root on top of the new one,
/// so no directory for it is needed in the new root; unmount it with `umount2(".",
/// MNT_DETACH)` afterwards ([`forksafe::pivot_into`] does the whole sequence).
///
/// See `pivot_root(2)`.
pub fn pivot_root(new_root: impl AsRef<Path>, put_old: impl AsRef<Path>) -> Result<()> {
    let (new_root, put_old) = (new_root.as_ref(), put_old.as_ref());
    new_root
        .into_with_c_str(|n| put_old.into_with_c_str(|p| forksafe::pivot_root(n, p)))
        .map_err(|e| {
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
    fn bind_of_a_missing_source_names_the_source() {
        // The stat of the source fails before any mount is tried: no privilege needed.
        let source = Path::new("/nonexistent/furnace/source");
        let errors = [
            bind(source, "/tmp").unwrap_err(),
            bind_recursive(source, "/tmp").unwrap_err(),
        ];
        for (err, kind) in errors.iter().zip(["bind", "rbind"]) {
            assert_eq!(err.path(), Some(source));
            assert_eq!(err.errno(), rustix::io::Errno::NOENT);
            assert_eq!(
                err.to_string(),
                format!(
                    "stat /nonexistent/furnace/source (source of {kind} on /tmp): \
                     ENOENT (No such file or directory)"
                )
            );
        }
    }

    #[test]
    fn mount_attrs_of_flags() {
        let all = MountFlags::all().mount_attrs();
        assert!(all.contains(
            MountAttrFlags::MOUNT_ATTR_RDONLY
                | MountAttrFlags::MOUNT_ATTR_NOSUID
                | MountAttrFlags::MOUNT_ATTR_NODEV
                | MountAttrFlags::MOUNT_ATTR_NOEXEC
                | MountAttrFlags::MOUNT_ATTR_NODIRATIME
        ));
        assert_eq!(MountFlags::empty().mount_attrs(), MountAttrFlags::empty());
        assert_eq!(
            (MountFlags::NOSUID | MountFlags::STRICTATIME).mount_attrs(),
            MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_STRICTATIME
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
