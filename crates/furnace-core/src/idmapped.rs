//! The parent's side of a user namespace of the container's own (the hardened profile started
//! as root, [`ContainerBuilder::private_users`](crate::ContainerBuilder::private_users)):
//! before the fork, a free id range picked and locked ([`crate::idrange`]) and the root, the
//! overlay's layers and the caller's binds cloned into detached, idmapped trees (through a
//! throw-away user namespace with the container's map: only the initial namespace's root may
//! idmap the host's filesystems); after it, PID 1's maps written, its holding of the range
//! recorded, and the byte that lets it go on.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use furnace_sys::idmap::{clone_idmapped, SetGroups, UserNamespace};
use furnace_sys::mount::MountAttrFlags;
use furnace_sys::Errno;

use crate::builder::Config;
use crate::error::{Error, Result};
use crate::idrange::{IdRangeLock, RANGE_SIZE};
use crate::init::{OwnUserns, Premade};
use crate::plan::{Before, Plan};

/// What the parent keeps of a start in a user namespace of the container's own.
pub(crate) struct Parent {
    /// The range, locked: kept by the container handle until PID 1 is reaped.
    pub lock: IdRangeLock,
    /// The parent's end of PID 1's `go` socket.
    pub go: OwnedFd,
}

/// Picks the range and makes the idmapped trees: what the parent keeps, and what PID 1 is
/// handed.
pub(crate) fn prepare(config: &Config, plan: &Plan) -> Result<(Parent, OwnUserns)> {
    let lock = crate::idrange::pick()?;
    let userns =
        UserNamespace::mapping_root_to(lock.range().start(), RANGE_SIZE).map_err(|error| {
            Error::Sys {
                context: "make a user namespace with the container's id map (to idmap its mounts)",
                error,
            }
        })?;
    let mut premade = Premade::default();
    let nodev = MountAttrFlags::MOUNT_ATTR_NODEV;
    let overlay = plan.before.iter().find_map(|op| match op {
        Before::Overlay(o) => Some(o),
        _ => None,
    });
    let root = idmapped(&config.root, &userns, nodev).map_err(|error| Error::Sys {
        context: "idmap the root for the container's user namespace (its filesystem must \
                  support idmapped mounts, which overlayfs does not: use ext4, xfs, btrfs or \
                  tmpfs, or an overlay of furnace's own over such a root)",
        error,
    })?;
    match overlay {
        Some(o) => {
            premade.lower = Some(root);
            if let Some(layers) = &o.layers {
                premade.layers =
                    Some(
                        idmapped(layers, &userns, nodev).map_err(|error| Error::Sys {
                            context: "idmap the directory of the overlay's upper and work \
                                  directories for the container's user namespace",
                            error,
                        })?,
                    );
            }
        }
        None => premade.root = Some(root),
    }
    for bind in plan.binds.iter().take(plan.user_binds) {
        let mut attrs = MountAttrFlags::empty();
        if bind.nodev {
            attrs |= nodev;
        }
        if bind.read_only {
            attrs |= MountAttrFlags::MOUNT_ATTR_RDONLY;
        }
        let source = Path::new(OsStr::from_bytes(bind.source.as_bytes()));
        let tree = idmapped(source, &userns, attrs).map_err(|error| Error::Sys {
            context: "idmap a bind source for the container's user namespace (its \
                      filesystem must support idmapped mounts)",
            error,
        })?;
        premade.binds.push(Some(tree));
    }
    drop(userns);
    let (go, go_child) = furnace_sys::fd::socketpair_above_stdio().map_err(|error| Error::Sys {
        context: "create the socket that starts the container's init",
        error,
    })?;
    // Room for the root directory PID 1 opens.
    let mut keep: Vec<std::os::fd::RawFd> = Vec::with_capacity(premade.binds.len() + 6);
    keep.extend(premade.raw_fds());
    keep.push(lock.as_fd().as_raw_fd());
    keep.push(go_child.as_raw_fd());
    Ok((
        Parent { lock, go },
        OwnUserns {
            go: go_child,
            keep,
            premade,
        },
    ))
}

/// A detached copy of the mount at `path` (with its submounts) idmapped to the container's
/// range, with `attrs`; when a submount's filesystem cannot be idmapped (`EINVAL`), the mount
/// at `path` alone. Never a copy that is not idmapped.
fn idmapped(
    path: &Path,
    userns: &UserNamespace,
    attrs: MountAttrFlags,
) -> furnace_sys::Result<OwnedFd> {
    let tree = match clone_idmapped(path, userns, true, attrs) {
        Err(e) if e.call() == "mount_setattr" && e.errno() == Errno::INVAL => {
            clone_idmapped(path, userns, false, attrs)
        }
        other => other,
    }?;
    furnace_sys::fd::above_stdio(tree)
}

/// After the fork: writes PID 1's maps (`0 START 65536` for users and groups, `setgroups`
/// allowed), records it as the range's holder, and lets it go on.
pub(crate) fn release(parent: &Parent, pid: u32) -> Result<()> {
    let map = [parent.lock.range().map()];
    furnace_sys::idmap::write_child_maps(pid, &map, &map, SetGroups::Allow).map_err(|error| {
        Error::Sys {
            context: "write the id maps of the container's user namespace",
            error,
        }
    })?;
    if let Some(stat) = furnace_sys::process::ProcStat::read(pid) {
        parent.lock.record_holder(pid, stat.start_time)?;
    }
    match rustix::net::send(&parent.go, &[1], rustix::net::SendFlags::NOSIGNAL) {
        Ok(1) => Ok(()),
        Ok(_) => Err(Errno::IO),
        Err(e) => Err(e),
    }
    .map_err(|e| Error::Sys {
        context: "start the container's init",
        error: furnace_sys::Error::new("send", "go", e),
    })
}
