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
use crate::roots::Warning;

/// Whose ids the root of a hardened container started as root has
/// ([`ContainerBuilder::private_users`](crate::ContainerBuilder::private_users)).
///
/// ```no_run
/// use furnace_core::{Container, PrivateUsers};
/// // An overlayfs root cannot be idmapped: run it read-only rather than fail.
/// let c = Container::builder("/var/lib/images/merged")
///     .hardened(true)
///     .private_users(PrivateUsers::PickOrReadOnly)
///     .start()?;
/// # Ok::<(), furnace_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PrivateUsers {
    /// A user namespace of the container's own whose root is host uid and gid START, the first
    /// of a free range of 65,536 ids picked from a pool and locked for the container's life:
    /// root inside is nobody outside. The root, an overlay's layers and the caller's binds are
    /// idmapped mounts, so root-owned files on disk are the container root's. A root or bind
    /// on a filesystem that cannot be idmapped (overlayfs, NFS, …) fails the start with
    /// [`Error::NotIdmappable`] before any namespace is made. The hardened profile's default.
    #[default]
    Pick,
    /// As [`Pick`](PrivateUsers::Pick), except that a root or bind that cannot be idmapped is
    /// mounted read-only and not idmapped, with a [`Warning::NotIdmapped`]: its files show as
    /// owned by the overflow id (65534, `nobody`) inside, readable as their mode allows to
    /// others, never writable. An overlay of furnace's own over a lower directory that cannot
    /// be idmapped still fails: the overlay is there to take writes.
    PickOrReadOnly,
    /// No user namespace of the container's own: root inside is root on the host, reduced only
    /// by the hardened profile's capabilities, seccomp filter and masks. For roots that must
    /// stay writable and cannot be idmapped, when the code inside is trusted that far.
    Off,
}

/// What the parent keeps of a start in a user namespace of the container's own.
pub(crate) struct Parent {
    /// The range, locked: kept by the container handle until PID 1 is reaped.
    pub lock: IdRangeLock,
    /// The parent's end of PID 1's `go` socket.
    pub go: OwnedFd,
    /// Mounts that could not be idmapped and are read-only instead
    /// ([`PrivateUsers::PickOrReadOnly`]).
    pub warnings: Vec<Warning>,
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
    let fallback = config.private_users == PrivateUsers::PickOrReadOnly;
    let mut warnings = Vec::new();
    let mut premade_tree =
        |what: &'static str, path: &Path, attrs: MountAttrFlags, fallback| match idmapped(
            path, &userns, attrs,
        ) {
            Err(e) if not_idmappable(&e) && fallback => {
                let tree = read_only_copy(path).map_err(|error| Error::Sys {
                    context: "clone a mount that cannot be idmapped, read-only",
                    error,
                })?;
                warnings.push(Warning::NotIdmapped {
                    what,
                    path: path.to_path_buf(),
                    filesystem: filesystem_of(path),
                });
                Ok(tree)
            }
            Err(e) if not_idmappable(&e) => Err(Error::NotIdmappable {
                what,
                path: path.to_path_buf(),
                filesystem: filesystem_of(path),
                read_only_fallback: fallback,
            }),
            Err(error) => Err(Error::Sys {
                context: "idmap a mount for the container's user namespace",
                error,
            }),
            Ok(tree) => Ok(tree),
        };
    match overlay {
        Some(o) => {
            // The overlay is there to take writes: no read-only fallback for its layers.
            premade.lower = Some(premade_tree(
                "overlay's lower directory (the root)",
                &config.root,
                nodev,
                false,
            )?);
            if let Some(layers) = &o.layers {
                premade.layers = Some(premade_tree(
                    "directory of the overlay's upper and work directories",
                    layers,
                    nodev,
                    false,
                )?);
            }
        }
        None => premade.root = Some(premade_tree("root", &config.root, nodev, fallback)?),
    }
    for bind in plan.binds.iter().take(plan.user_binds) {
        let mut attrs = bind.attrs;
        if bind.read_only {
            attrs |= MountAttrFlags::MOUNT_ATTR_RDONLY;
        }
        let source = Path::new(OsStr::from_bytes(bind.source.as_bytes()));
        premade
            .binds
            .push(Some(premade_tree("bind source", source, attrs, fallback)?));
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
        Parent { lock, go, warnings },
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
        Err(e) if not_idmappable(&e) => clone_idmapped(path, userns, false, attrs),
        other => other,
    }?;
    furnace_sys::fd::above_stdio(tree)
}

/// The kernel's answer for a mount whose filesystem cannot be idmapped: `mount_setattr` with
/// `EINVAL` (no `FS_ALLOW_IDMAP`).
fn not_idmappable(error: &furnace_sys::Error) -> bool {
    error.call() == "mount_setattr" && error.errno() == Errno::INVAL
}

/// A detached copy of the mount at `path` and its submounts, read-only and `nodev`, not
/// idmapped ([`PrivateUsers::PickOrReadOnly`]).
fn read_only_copy(path: &Path) -> furnace_sys::Result<OwnedFd> {
    use furnace_sys::mount::forksafe;
    let fail = |call: &'static str, e| {
        furnace_sys::Error::new(call, furnace_sys::DisplayPath(path).to_string(), e).with_path(path)
    };
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| fail("open_tree", Errno::INVAL))?;
    let tree = forksafe::open_tree_clone(rustix::fs::CWD, &c_path, true)
        .map_err(|e| fail("open_tree", e))?;
    forksafe::make_tree_read_only(tree.as_fd()).map_err(|e| fail("mount_setattr", e))?;
    forksafe::make_tree_nodev(tree.as_fd()).map_err(|e| fail("mount_setattr", e))?;
    furnace_sys::fd::above_stdio(tree)
}

/// The type of the filesystem `path` is on, as the mount table names it (`overlay`, `nfs4`),
/// for an error or a warning; `unknown` when it cannot be told.
fn filesystem_of(path: &Path) -> String {
    let Some(id) = crate::roots::mount_id(path) else {
        return "unknown".into();
    };
    furnace_sys::mountinfo::read(None)
        .ok()
        .and_then(|mounts| mounts.into_iter().find(|m| u64::from(m.mount_id) == id))
        .map_or_else(|| "unknown".into(), |m| m.fs_type)
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
