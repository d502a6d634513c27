//! PID 1 in a user namespace of the container's own (the hardened profile started as root,
//! [`ContainerBuilder::private_users`](crate::ContainerBuilder::private_users)): waiting for
//! its maps, becoming root in it, and attaching the idmapped trees its parent made — the root,
//! or the overlay over the root's idmapped copy.
//!
//! ---------------------------------------------------------------------------------------
//! POST-FORK CODE, as `init.rs`: system calls only, no allocation, no locks, no panics.
//! ---------------------------------------------------------------------------------------

use std::os::fd::{AsFd, OwnedFd};

use furnace_sys::cred::{forksafe as cred, Gid, Uid};
use furnace_sys::fd::{forksafe as fd, Mode, OFlags};
use furnace_sys::fs::forksafe as fs;
use furnace_sys::mount::{forksafe as mnt, MountFlags};
use furnace_sys::process::forksafe as process;
use furnace_sys::{Errno, Signal};

use super::fds::Premade;
use crate::plan::{OverlayOp, Plan};

/// Waits for the parent's byte on `go` (sent once PID 1's maps are written; the socket
/// closing first means the parent gave up: exit), opens the root directory — while PID 1's
/// ids are still the host's root, the owner of the directories on the way — and becomes root
/// of the user namespace: no supplementary groups, gid 0, uid 0. Returns the root directory.
pub(super) fn enter(plan: &Plan, go: OwnedFd) -> Result<OwnedFd, Errno> {
    // The starting thread is blocked in `start` until PID 1 reports; should it die first,
    // so does PID 1 (set again by `prepare_process`: changing ids clears it).
    process::set_parent_death_signal(Some(Signal::KILL))?;
    let mut byte = [0u8];
    if fd::read_exact(go.as_fd(), &mut byte).is_err() {
        process::exit(1);
    }
    drop(go);
    let root = fd::open(&plan.root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
    // Before this, creating a file through an idmapped mount fails (`EOVERFLOW`): the host's
    // root is not mapped in the container's namespace.
    cred::set_identity(Some(Uid::ROOT), Some(Gid::ROOT), Some(&[]), false)?;
    Ok(root)
}

/// The container's root while PID 1 sets it up: with a user namespace of its own, the root
/// directory opened before (`dir`), the parent's trees, and what was attached onto `dir`.
pub(super) struct RootState<'a> {
    pub own: Option<(&'a OwnedFd, &'a mut Premade)>,
    pub attached: Option<OwnedFd>,
}

impl RootState<'_> {
    /// The root as it is now: what was attached onto it, else its path.
    pub(super) fn open(&self, plan: &Plan) -> Result<OwnedFd, Errno> {
        match &self.attached {
            Some(attached) => fd::dup_above_stdio(attached.as_fd()),
            None => fd::open(&plan.root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()),
        }
    }

    /// Attaches the parent's idmapped copy of the root onto the root directory.
    pub(super) fn attach_root(&mut self) -> Result<(), Errno> {
        let (dir, premade) = self.own.as_mut().ok_or(Errno::INVAL)?;
        let tree = premade.root.take().ok_or(Errno::INVAL)?;
        mnt::move_mount(tree.as_fd(), dir.as_fd())?;
        self.attached = Some(tree);
        Ok(())
    }

    /// The parent's idmapped tree of bind `index`, when it made one.
    pub(super) fn premade_bind(&mut self, index: usize) -> Option<OwnedFd> {
        let (_, premade) = self.own.as_mut()?;
        premade.binds.get_mut(index).and_then(Option::take)
    }

    /// The overlay over the root with a user namespace of its own: a tmpfs of PID 1's over
    /// the root directory, the parent's idmapped copy of the root attached in it at `lower`
    /// (and the idmapped directory of the caller's upper and work at `layers`), the overlay
    /// mounted from inside it by relative names (`userxattr`), on top. The kernel refuses
    /// detached layers from inside a user namespace: they are attached first.
    pub(super) fn overlay(&mut self, o: &OverlayOp) -> Result<(), Errno> {
        let (dir, premade) = self.own.as_mut().ok_or(Errno::INVAL)?;
        let lower = premade.lower.take().ok_or(Errno::INVAL)?;
        let scratch = super::overlay::overlay_scratch(o)?;
        if o.layers.is_some() {
            fs::mkdirat(scratch.as_fd(), c"layers", Mode::from_raw_mode(0o700))?;
        }
        mnt::move_mount(scratch.as_fd(), dir.as_fd())?;
        let at = |name| {
            fd::openat(
                scratch.as_fd(),
                name,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW,
                Mode::empty(),
            )
        };
        mnt::move_mount(lower.as_fd(), at(c"lower")?.as_fd())?;
        if o.layers.is_some() {
            let layers = premade.layers.take().ok_or(Errno::INVAL)?;
            mnt::move_mount(layers.as_fd(), at(c"layers")?.as_fd())?;
        }
        fs::fchdir(scratch.as_fd())?;
        let options = o
            .options
            .iter()
            .map(|(key, value)| (key.as_c_str(), value.as_deref()));
        let merged = mnt::fsmount(c"overlay", options, MountFlags::empty().mount_attrs());
        fs::chdir(c"/")?;
        let merged = merged?;
        mnt::move_mount(merged.as_fd(), scratch.as_fd())?;
        self.attached = Some(merged);
        Ok(())
    }
}

/// Whether bind `index` of `plan` is one the parent idmapped.
pub(super) fn is_premade(plan: &Plan, index: usize) -> bool {
    plan.own_userns && index < plan.user_binds
}
