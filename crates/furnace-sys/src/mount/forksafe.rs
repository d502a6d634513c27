//! The fork-safe tier of [`mount`](super): the classic `mount(2)` calls on C strings, and the
//! fd-based new mount API with which PID 1 of a container builds its tree.
//!
//! Every function here makes system calls only: no allocation, no lock, no panic. They are
//! async-signal-safe, so a child forked from a multi-threaded program may call them before it
//! execs or exits. Errors are the bare [`Errno`].
//!
//! The fd-based calls make a mount as a *detached tree* — an fd of a mount that is attached
//! nowhere yet: [`open_tree_clone`] copies an existing one, [`fsmount`] makes a fresh
//! filesystem. Its attributes can be changed while nobody can see it
//! ([`make_tree_read_only`]), and [`move_mount`] then attaches it onto a target that was
//! itself opened as an fd, so that no path is looked up twice.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountPropagationFlags, MoveMountFlags, OpenTreeFlags,
};

use super::{MountFlags, Propagation, UnmountFlags};
use crate::error::check;
use crate::Errno;

/// `mount(source, target, fstype, flags, data)`: mounts a filesystem.
///
/// Async-signal-safe: no allocation (every string is a C string already), no locks.
///
/// See `mount(2)`.
#[inline]
pub fn mount(
    source: &CStr,
    target: &CStr,
    fstype: &CStr,
    flags: MountFlags,
    data: Option<&CStr>,
) -> Result<(), Errno> {
    rustix::mount::mount(source, target, fstype, flags.to_rustix(), data)
}

/// `mount(source, target, NULL, MS_BIND, NULL)`: bind-mounts `source` on `target`, without
/// the submounts of `source`.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `mount(2)`.
#[inline]
pub fn bind(source: &CStr, target: &CStr) -> Result<(), Errno> {
    rustix::mount::mount_bind(source, target)
}

/// `mount(source, target, NULL, MS_BIND | MS_REC, NULL)`: bind-mounts `source` with all its
/// submounts on `target`.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `mount(2)`.
#[inline]
pub fn bind_recursive(source: &CStr, target: &CStr) -> Result<(), Errno> {
    rustix::mount::mount_bind_recursive(source, target)
}

/// `mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | flags, NULL)`: sets the per-mount flags
/// of the mount at `target` to `flags` (a flag left out is cleared).
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `mount(2)`.
#[inline]
pub fn remount(target: &CStr, flags: MountFlags) -> Result<(), Errno> {
    let flags = flags.to_rustix() | rustix::mount::MountFlags::BIND;
    rustix::mount::mount_remount(target, flags, c"")
}

/// `mount(NULL, target, NULL, MS_PRIVATE | MS_SLAVE | MS_SHARED | MS_UNBINDABLE [| MS_REC],
/// NULL)`: changes the propagation type of the mount at `target` (and below it, when
/// `recursive`).
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `mount(2)`.
#[inline]
pub fn set_propagation(target: &CStr, kind: Propagation, recursive: bool) -> Result<(), Errno> {
    rustix::mount::mount_change(target, kind.flags(recursive))
}

/// `umount2(target, flags)`: unmounts the mount at `target`.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `umount2(2)`.
#[inline]
#[doc(alias = "unmount")]
pub fn umount2(target: &CStr, flags: UnmountFlags) -> Result<(), Errno> {
    rustix::mount::unmount(target, flags.to_rustix())
}

/// `pivot_root(new_root, put_old)`: makes `new_root` the root mount and moves the old root to
/// `put_old`.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `pivot_root(2)`.
#[inline]
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> Result<(), Errno> {
    rustix::process::pivot_root(new_root, put_old)
}

/// `fchdir(root); pivot_root(".", "."); mount(".", MS_SLAVE | MS_REC); umount2(".",
/// MNT_DETACH); chdir("/")`: makes the directory `root` (a mount point) the root, and detaches
/// the old root.
///
/// `pivot_root(".", ".")` stacks the old root on top of the new one, so no directory for it
/// is written into the new root. The old root is made a slave before the lazy detach, so that
/// the unmount cannot propagate to the mounts it came from (the host's). The calling process
/// ends up in the new root's `/`. Async-signal-safe: no allocation, no locks.
///
/// See `pivot_root(2)`.
#[inline]
pub fn pivot_into(root: BorrowedFd<'_>) -> Result<(), Errno> {
    rustix::process::fchdir(root)?;
    rustix::process::pivot_root(c".", c".")?;
    rustix::mount::mount_change(
        c".",
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    )?;
    rustix::mount::unmount(c".", rustix::mount::UnmountFlags::DETACH)?;
    rustix::process::chdir(c"/")
}

/// `mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, {MOUNT_ATTR_RDONLY})`: makes the
/// mount `tree` refers to, and every mount below it, read-only, keeping all their other
/// attributes.
///
/// `tree` may be an `O_PATH` fd of a mount point or a detached tree. Linux ≥ 5.12.
/// Async-signal-safe: no allocation, no locks.
///
/// See `mount_setattr(2)`.
#[inline]
pub fn make_tree_read_only(tree: BorrowedFd<'_>) -> Result<(), Errno> {
    set_attributes(tree, libc::MOUNT_ATTR_RDONLY, true)
}

/// `mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, {MOUNT_ATTR_NODEV})`: device nodes
/// on the mount `tree` refers to, and on every mount below it, can no longer be opened as
/// devices, whatever their mode; the other attributes stay. `tree` may be an `O_PATH` fd of a
/// mount's root or a detached tree. Async-signal-safe: no allocation, no locks.
///
/// See `mount_setattr(2)`.
#[inline]
pub fn make_tree_nodev(tree: BorrowedFd<'_>) -> Result<(), Errno> {
    set_attributes(tree, libc::MOUNT_ATTR_NODEV, true)
}

/// `mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, {attrs})`: sets the attributes
/// `attrs` (`MOUNT_ATTR_NOSUID`, `NODEV`, `NOEXEC`, …) on the mount `tree` refers to and on
/// every mount below it, keeping their other attributes. `tree` may be an `O_PATH` fd of a
/// mount's root or a detached tree. Async-signal-safe: no allocation, no locks.
///
/// See `mount_setattr(2)`.
#[inline]
pub fn set_tree_attributes(
    tree: BorrowedFd<'_>,
    attrs: super::MountAttrFlags,
) -> Result<(), Errno> {
    set_attributes(tree, u64::from(attrs.bits()), true)
}

/// `mount_setattr(mnt, "", AT_EMPTY_PATH, {MOUNT_ATTR_RDONLY})`: makes the one mount `mnt`
/// refers to read-only, keeping its other attributes; the mounts below it keep theirs.
///
/// `mnt` may be an `O_PATH` fd of a mount's root or a detached tree. This is how a
/// container's root is made read-only while `/proc`, `/dev` and the binds on it stay as they
/// are. Linux ≥ 5.12. Async-signal-safe: no allocation, no locks.
///
/// See `mount_setattr(2)`.
#[inline]
pub fn make_mount_read_only(mnt: BorrowedFd<'_>) -> Result<(), Errno> {
    set_attributes(mnt, libc::MOUNT_ATTR_RDONLY, false)
}

/// `open_tree(dir, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC [| AT_RECURSIVE] [|
/// AT_EMPTY_PATH])`: a detached copy of the mount at `path` (relative to `dir`), with its
/// submounts when `recursive` — a bind mount not attached anywhere yet.
///
/// An empty `path` copies the mount `dir` itself refers to (`AT_EMPTY_PATH`), so a target
/// opened and checked beforehand is the one copied. Attach the copy with [`move_mount`].
/// Async-signal-safe: no allocation, no locks.
///
/// See `open_tree(2)`.
#[inline]
pub fn open_tree_clone(
    dir: BorrowedFd<'_>,
    path: &CStr,
    recursive: bool,
) -> Result<OwnedFd, Errno> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    if path.is_empty() {
        flags |= OpenTreeFlags::AT_EMPTY_PATH;
    }
    rustix::mount::open_tree(dir, path, flags)
}

/// `move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)`:
/// attaches the detached tree `tree` onto the file or directory `target` refers to.
///
/// `target` is typically an `O_PATH` fd opened (and checked) beforehand, so the mount lands
/// on exactly that inode even if the path to it was swapped meanwhile. Async-signal-safe: no
/// allocation, no locks.
///
/// See `move_mount(2)`.
#[inline]
pub fn move_mount(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<(), Errno> {
    rustix::mount::move_mount(
        tree,
        c"",
        target,
        c"",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
}

/// `fsopen(fstype, FSOPEN_CLOEXEC)`, `fsconfig(…)` per option, `fsconfig(fs,
/// FSCONFIG_CMD_CREATE)`, `fsmount(fs, FSMOUNT_CLOEXEC, attrs)`: a fresh filesystem as a
/// detached mount.
///
/// Each option is a key with a value (`FSCONFIG_SET_STRING`, e.g. `("size", Some("64m"))`)
/// or a bare flag (`FSCONFIG_SET_FLAG`, e.g. `("ro", None)`), split beforehand; `attrs` are
/// the per-mount attributes (see [`MountFlags::mount_attrs`]). Attach the result with
/// [`move_mount`]. Async-signal-safe: no allocation (the options are iterated, never
/// collected), no locks.
///
/// See `fsmount(2)`.
#[inline]
#[doc(alias = "fsopen")]
#[doc(alias = "fsconfig")]
pub fn fsmount<'a>(
    fstype: &CStr,
    options: impl IntoIterator<Item = (&'a CStr, Option<&'a CStr>)>,
    attrs: MountAttrFlags,
) -> Result<OwnedFd, Errno> {
    use rustix::mount::{fsconfig_create, fsconfig_set_flag, fsconfig_set_string};
    let fs = rustix::mount::fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC)?;
    for (key, value) in options {
        match value {
            Some(value) => fsconfig_set_string(&fs, key, value)?,
            None => fsconfig_set_flag(&fs, key)?,
        }
    }
    fsconfig_create(&fs)?;
    rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)
}

/// `fsmount(fsopen("tmpfs"), …, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
/// MOUNT_ATTR_NOEXEC)`: an empty, read-only tmpfs as a detached mount, to hide a directory
/// under.
///
/// Nothing can be written into it, executed from it or opened as a device through it, so it
/// masks a directory (`/proc/acpi`, `/sys/firmware`) with nothing at all. Async-signal-safe:
/// no allocation, no locks.
///
/// See `fsmount(2)`.
#[inline]
pub fn empty_read_only_tmpfs() -> Result<OwnedFd, Errno> {
    fsmount(
        c"tmpfs",
        [],
        MountAttrFlags::MOUNT_ATTR_RDONLY
            | MountAttrFlags::MOUNT_ATTR_NOSUID
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOEXEC,
    )
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], {attr_set})`: sets `attr_set` on the
/// mount `fd` refers to (and the mounts below it when `recursive`), keeping the rest.
#[inline]
fn set_attributes(fd: BorrowedFd<'_>, attr_set: u64, recursive: bool) -> Result<(), Errno> {
    mount_setattr(fd, attr_set, 0, recursive)
}

/// The one `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], {attr_set, userns_fd})` of
/// the crate: the attribute setters above and the idmapping ones of [`crate::idmap`] call it.
/// A `userns_fd` is only read with `MOUNT_ATTR_IDMAP` in `attr_set`, and must stay open for
/// the call. Async-signal-safe: no allocation, no locks.
#[inline]
pub(crate) fn mount_setattr(
    fd: BorrowedFd<'_>,
    attr_set: u64,
    userns_fd: u64,
    recursive: bool,
) -> Result<(), Errno> {
    let attr = libc::mount_attr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd,
    };
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: the path is a valid NUL-terminated empty string, and `attr` a valid mount_attr
    // of the size passed; the kernel only reads them (and the userns fd, which the caller
    // keeps open).
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags as libc::c_uint,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    })
    .map(drop)
}
