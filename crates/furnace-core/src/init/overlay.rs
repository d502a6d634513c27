//! Overlays PID 1 mounts over the root: the layers attached under a tmpfs of its own, the
//! overlay mounted from inside it by relative names; and the caller's tmpfs mounts, copy-up
//! ones as overlays of the same kind. POST-FORK CODE, as `init.rs`.

use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};

use furnace_sys::fd::{forksafe as fd, Mode, OFlags, CWD};
use furnace_sys::fs::forksafe as fs;
use furnace_sys::mount::{forksafe as mnt, MountAttrFlags, MountFlags};
use furnace_sys::Errno;

use crate::plan::{OverlayOp, TmpfsOp};

/// A detached tmpfs of PID 1's own for an overlay: `lower/` to attach the lower layer on and,
/// for an ephemeral overlay, `upper/` (the root's mode and, where it is mapped, owner) and
/// `work/`.
pub(super) fn overlay_scratch(o: &OverlayOp) -> Result<OwnedFd, Errno> {
    let scratch = mnt::fsmount(
        c"tmpfs",
        [(c"mode", Some(c"0700"))],
        MountFlags::empty().mount_attrs(),
    )?;
    fs::mkdirat(scratch.as_fd(), c"lower", Mode::from_raw_mode(0o700))?;
    if o.ephemeral {
        fs::mkdirat(scratch.as_fd(), c"upper", Mode::from_raw_mode(o.root_mode))?;
        // Best effort: in a user namespace the root's owner may not be mapped.
        let (uid, gid) = o.root_owner;
        let _ = fs::chown_at(scratch.as_fd(), c"upper", uid, gid);
        fs::mkdirat(scratch.as_fd(), c"work", Mode::from_raw_mode(0o700))?;
    }
    Ok(scratch)
}

/// Mounts the overlay of [`OverlayOp`] over the root `root` (a path of the caller's tree).
pub(super) fn overlay(o: &OverlayOp, root: &CStr) -> Result<(), Errno> {
    let lower = mnt::open_tree_clone(CWD, root, true)?;
    let target = fd::open(root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
    // A tmpfs of PID 1's own over the root: where the layers are reached from (by relative
    // names, from inside it), and the ephemeral upper layer itself.
    let scratch = overlay_scratch(o)?;
    mnt::move_mount(scratch.as_fd(), target.as_fd())?;
    let options = o
        .options
        .iter()
        .map(|(key, value)| (key.as_c_str(), value.as_deref()));
    stack_overlay(&scratch, &lower, options, MountFlags::empty().mount_attrs())
}

/// Attaches `lower` on `lower/` of `scratch` (a tmpfs attached in place already), mounts the
/// overlay `options` describe from inside `scratch` (its layers named relative to it), and
/// stacks the overlay on `scratch`.
fn stack_overlay<'a>(
    scratch: &OwnedFd,
    lower: &OwnedFd,
    options: impl IntoIterator<Item = (&'a CStr, Option<&'a CStr>)>,
    attrs: MountAttrFlags,
) -> Result<(), Errno> {
    let at = fd::openat(
        scratch.as_fd(),
        c"lower",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW,
        Mode::empty(),
    )?;
    mnt::move_mount(lower.as_fd(), at.as_fd())?;
    fs::fchdir(scratch.as_fd())?;
    let merged = mnt::fsmount(c"overlay", options, attrs);
    fs::chdir(c"/")?;
    mnt::move_mount(merged?.as_fd(), scratch.as_fd())
}

/// Mounts the caller's tmpfs of [`TmpfsOp`] on `dest`. A copy-up one is an overlay: the
/// directory `dest` (a bind of it, taken first) as lower layer, under `lower/` of the tmpfs
/// mounted on `dest`, with `upper/` (the tmpfs's mode) and `work/` beside it; the overlay,
/// mounted from inside the tmpfs by relative names, is stacked on it.
pub(super) fn tmpfs(t: &TmpfsOp, dest: OwnedFd) -> Result<(), Errno> {
    let options = t
        .options
        .iter()
        .map(|(key, value)| (key.as_c_str(), value.as_deref()));
    let attrs = (MountFlags::NOSUID | MountFlags::NODEV).mount_attrs();
    if !t.copy_up {
        let tree = mnt::fsmount(c"tmpfs", options, attrs)?;
        return mnt::move_mount(tree.as_fd(), dest.as_fd());
    }
    let lower = mnt::open_tree_clone(dest.as_fd(), c"", false)?;
    let scratch = mnt::fsmount(c"tmpfs", options, attrs)?;
    fs::mkdirat(scratch.as_fd(), c"lower", Mode::from_raw_mode(0o700))?;
    fs::mkdirat(scratch.as_fd(), c"upper", Mode::from_raw_mode(t.mode))?;
    fs::mkdirat(scratch.as_fd(), c"work", Mode::from_raw_mode(0o700))?;
    mnt::move_mount(scratch.as_fd(), dest.as_fd())?;
    let layers = [
        (c"lowerdir", Some(c"lower")),
        (c"upperdir", Some(c"upper")),
        (c"workdir", Some(c"work")),
    ];
    stack_overlay(&scratch, &lower, layers, attrs)
}
