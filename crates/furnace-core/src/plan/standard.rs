//! The filesystems every container gets ([`STANDARD_MOUNTS`]), `/dev`'s nodes and links, the
//! host's devices and `/sys` bound in without root, and the hardened profile's steps.

use std::path::PathBuf;

use furnace_sys::dev::DeviceKind;
use furnace_sys::mount::MountFlags;

use super::{After, Before, BindOp, Candidates, DestOp, MountOp};
use crate::hardening::{MASKED_PATHS, READ_ONLY_PATHS};
use crate::hostfacts::LoopDevice;
use crate::paths::cstring;

/// One filesystem of [`STANDARD_MOUNTS`].
pub(super) struct Standard {
    pub fstype: &'static str,
    pub target: &'static str,
    flags: MountFlags,
    options: &'static str,
    dir_mode: u32,
    /// Mounted in the root before the pivot ([`Before::Mount`]).
    before_pivot: bool,
}

const NOSUID_NODEV_NOEXEC: MountFlags = MountFlags::NOSUID
    .union(MountFlags::NODEV)
    .union(MountFlags::NOEXEC);

/// The filesystems every container gets (SPEC §2.5), in mount order: a parent before what is
/// mounted under it. `/dev`'s nodes and links are made right after `/dev` itself. `proc` and
/// `sysfs` are mounted before the pivot, in both modes, so that one order serves both.
pub(super) const STANDARD_MOUNTS: [Standard; 7] = [
    Standard {
        fstype: "proc",
        target: "/proc",
        flags: NOSUID_NODEV_NOEXEC,
        options: "",
        dir_mode: 0o555,
        before_pivot: true,
    },
    Standard {
        fstype: "tmpfs",
        target: "/dev",
        flags: MountFlags::NOSUID.union(MountFlags::STRICTATIME),
        options: "mode=755,size=65536k",
        dir_mode: 0o755,
        before_pivot: false,
    },
    Standard {
        fstype: "devpts",
        target: "/dev/pts",
        flags: MountFlags::NOSUID.union(MountFlags::NOEXEC),
        options: "newinstance,ptmxmode=0666,mode=0620,gid=5",
        dir_mode: 0o755,
        before_pivot: false,
    },
    Standard {
        fstype: "tmpfs",
        target: "/dev/shm",
        flags: NOSUID_NODEV_NOEXEC,
        options: "mode=1777,size=65536k",
        dir_mode: 0o1777,
        before_pivot: false,
    },
    Standard {
        fstype: "mqueue",
        target: "/dev/mqueue",
        flags: NOSUID_NODEV_NOEXEC,
        options: "",
        dir_mode: 0o755,
        before_pivot: false,
    },
    Standard {
        fstype: "sysfs",
        target: "/sys",
        flags: NOSUID_NODEV_NOEXEC.union(MountFlags::RDONLY),
        options: "",
        dir_mode: 0o555,
        before_pivot: true,
    },
    Standard {
        fstype: "tmpfs",
        target: "/run",
        flags: MountFlags::NOSUID.union(MountFlags::NODEV),
        options: "mode=1777,size=65536k",
        dir_mode: 0o755,
        before_pivot: false,
    },
];

/// The directories of the root the standard filesystems are mounted on: the top-level ones
/// (`/dev/pts` and the like are on the container's own `/dev`).
pub(crate) const TOP_MOUNT_POINTS: [&str; 4] = ["proc", "dev", "sys", "run"];

/// The character devices of `/dev`: name, major, minor (mode 0666).
pub(super) const DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The symlinks of `/dev`: path, target.
const DEV_LINKS: [(&str, &str); 5] = [
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
    ("/dev/ptmx", "pts/ptmx"),
];

/// Every name furnace itself puts directly in `/dev`: its nodes, its links, the filesystems
/// mounted there. A caller's device node may not take one.
pub(crate) const STANDARD_DEV_NAMES: [&str; 14] = [
    "null", "zero", "full", "random", "urandom", "tty", "fd", "stdin", "stdout", "stderr", "ptmx",
    "pts", "shm", "mqueue",
];

/// The numbers among [`Plan::made`](super::Plan::made) of the root's top-level mount points,
/// in [`TOP_MOUNT_POINTS`] order.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tops([Option<u32>; 4]);

impl Tops {
    /// Numbers for the four mount points (none with an overlay); `missing`: which the root
    /// lacks.
    pub(crate) fn new(candidates: &mut Candidates, missing: &[bool; 4]) -> Tops {
        let mut missing = missing.iter();
        Tops(TOP_MOUNT_POINTS.map(|top| {
            let expected = missing.next().copied().unwrap_or(false);
            candidates.add(&cstring(top), true, expected)
        }))
    }

    /// The number of the mount point `target` (`/proc`), if it is a top-level one.
    fn of(&self, target: &str) -> Option<u32> {
        let name = target.strip_prefix('/')?;
        TOP_MOUNT_POINTS
            .iter()
            .zip(self.0)
            .find_map(|(top, made)| (*top == name).then_some(made).flatten())
    }
}

/// A standard filesystem as a mount step; devpts gets `gid=5` only when `tty_gid` (group 5
/// is mapped: always for root, in a user namespace only with subordinate ids).
pub(super) fn mount_op(standard: &Standard, tty_gid: bool, tops: &Tops) -> MountOp {
    let options = standard
        .options
        .split(',')
        .filter(|o| !o.is_empty())
        .filter(|o| tty_gid || !(standard.fstype == "devpts" && o.starts_with("gid=")))
        .map(|option| match option.split_once('=') {
            Some((key, value)) => (cstring(key), Some(cstring(value))),
            None => (cstring(option), None),
        })
        .collect();
    MountOp {
        fstype: cstring(standard.fstype),
        target: cstring(standard.target),
        flags: standard.flags,
        options,
        dir_mode: standard.dir_mode,
        made: tops.of(standard.target),
    }
}

/// How `/dev` and `/sys` are made.
pub(crate) struct Layout<'f> {
    /// The privileged profile's host loop devices, created in `/dev`.
    pub loop_devices: &'f [LoopDevice],
    /// Rootless: the index of the first of the [`DEVICES`] binds (else they are created).
    pub devices: Option<usize>,
    /// Rootless without a network namespace of its own: the index of the host `/sys` bind.
    pub sys_bind: Option<usize>,
    /// devpts may be given `gid=5`.
    pub tty_gid: bool,
    /// The numbers of the top-level mount points, should PID 1 have to make them.
    pub tops: Tops,
}

/// `proc` and (unless the host's is bound) `sysfs`, mounted in the root before the pivot.
pub(super) fn before_pivot(layout: &Layout<'_>) -> Vec<Before> {
    STANDARD_MOUNTS
        .iter()
        .filter(|standard| {
            standard.before_pivot && !(standard.fstype == "sysfs" && layout.sys_bind.is_some())
        })
        .map(|standard| Before::Mount(mount_op(standard, layout.tty_gid, &layout.tops)))
        .collect()
}

/// The filesystems, nodes and links every container gets after the pivot (SPEC §2, 5–7).
pub(crate) fn standard_mounts(layout: &Layout<'_>) -> Vec<After> {
    let mut ops = Vec::new();
    for standard in &STANDARD_MOUNTS {
        match (standard.fstype, layout.sys_bind) {
            ("sysfs", Some(bind)) => ops.push(After::AttachAtMountPoint {
                bind,
                target: cstring(standard.target),
                dir_mode: standard.dir_mode,
                made: layout.tops.of(standard.target),
            }),
            _ if standard.before_pivot => {}
            _ => ops.push(After::Mount(mount_op(
                standard,
                layout.tty_gid,
                &layout.tops,
            ))),
        }
        if standard.target == "/dev" {
            match layout.devices {
                Some(first) => ops.extend((first..first + DEVICES.len()).map(After::AttachBind)),
                None => ops.extend(DEVICES.iter().map(|&(name, major, minor)| After::Mknod {
                    path: cstring(format!("/dev/{name}")),
                    kind: DeviceKind::Char,
                    major,
                    minor,
                    mode: 0o666,
                })),
            }
            ops.extend(DEV_LINKS.iter().map(|&(path, target)| After::Symlink {
                target: cstring(target),
                path: cstring(path),
            }));
        }
        if standard.target == "/dev/mqueue" {
            ops.extend(layout.loop_devices.iter().map(|d| After::Mknod {
                path: cstring(format!("/dev/{}", d.name)),
                kind: d.kind,
                major: d.major,
                minor: d.minor,
                mode: d.mode,
            }));
        }
    }
    ops.push(After::Mkdir {
        path: cstring("/run/lock"),
        mode: 0o1777,
    });
    ops
}

/// A destination on one of the container's own filesystems (`/dev/null`), where nothing made
/// is a trace.
fn own_dest(parts: &[&str]) -> DestOp {
    let mut prefixes = Vec::new();
    let mut acc = PathBuf::new();
    for part in parts {
        acc.push(part);
        prefixes.push(cstring(&acc));
    }
    DestOp {
        prefixes,
        names: parts.iter().map(cstring).collect(),
        made: vec![None; parts.len()],
        shown: PathBuf::from("/").join(acc),
    }
}

/// Rootless: the host's `/dev/NAME` bound onto a file of the container's `/dev`.
pub(super) fn device_bind(name: &str) -> BindOp {
    BindOp {
        source: cstring(format!("/dev/{name}")),
        source_is_dir: false,
        dest: own_dest(&["dev", name]),
        read_only: false,
        optional: false,
        attrs: furnace_sys::mount::MountAttrFlags::empty(),
    }
}

/// Rootless without a network namespace of its own: the host's `/sys`, with its submounts,
/// read-only.
pub(super) fn sys_bind() -> BindOp {
    BindOp {
        source: cstring("/sys"),
        source_is_dir: true,
        dest: own_dest(&["sys"]),
        read_only: true,
        optional: false,
        attrs: furnace_sys::mount::MountAttrFlags::empty(),
    }
}

/// The hardened profile's steps after the standard mounts and the binds (so a bind cannot
/// uncover a masked path).
pub(super) fn hardening(extra_masks: &[PathBuf]) -> Vec<After> {
    MASKED_PATHS
        .iter()
        .map(|p| After::Mask(cstring(p)))
        .chain(extra_masks.iter().map(|p| After::Mask(cstring(p))))
        .chain(READ_ONLY_PATHS.iter().map(|p| After::ReadOnly(cstring(p))))
        .collect()
}
