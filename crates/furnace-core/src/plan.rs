//! The set-up plan: every step PID 1 will carry out, computed as data in the parent.
//!
//! Building the plan allocates, resolves and validates; executing it (in [`crate::init`])
//! only makes system calls. So inputs are checked before any namespace exists, tests can look
//! at the plan without root, and a failure can name its step: "step 9, mount devpts on
//! /dev/pts".
//!
//! The plan has two typed phases. [`Before`] steps run in the copy of the caller's mount tree
//! (make it slave, bring `lo` up, bind the root onto itself, clone the bind sources into
//! detached mounts); then PID 1 opens the root and pivots into it; [`After`] steps run inside
//! the new root (the standard filesystems, the user's binds, the hardened profile's masks,
//! the hostname). The user's binds are attached *after* the standard filesystems, as OCI
//! runtimes and bubblewrap do, so a bind under `/run`, `/dev` or `/sys` is not hidden by the
//! filesystem mounted there.

use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use furnace_sys::dev::DeviceKind;
use furnace_sys::mount::MountFlags;
use furnace_sys::{DisplayPath, Namespaces};

use crate::builder::{Config, ValidBind, MASKED_PATHS, READ_ONLY_PATHS};
use crate::hostfacts::{HostFacts, LoopDevice};
use crate::paths::{cstring, prefixes};

/// A bind mount, as PID 1 carries it out: the source is cloned into a detached mount before
/// the pivot ([`Before::CloneBind`]) and attached inside the new root after the standard
/// filesystems ([`After::AttachBind`]).
#[derive(Debug, Clone)]
pub(crate) struct BindOp {
    /// Host path, absolute and canonical.
    pub source: CString,
    /// Whether the source is a directory (else a file-like object: file, device, socket).
    pub source_is_dir: bool,
    /// The destination's components inside the root, each prefix as a relative path:
    /// `["etc", "etc/app", "etc/app/conf"]`. Never empty.
    pub dest_prefixes: Vec<CString>,
    /// The last component of each prefix alone, for `mkdirat`/`openat` in its parent.
    pub dest_names: Vec<CString>,
    /// Make the bind read-only (recursively).
    pub read_only: bool,
    /// Skip silently when the destination cannot be resolved or created (implied binds).
    pub optional: bool,
    /// The destination as the caller wrote it, for messages.
    pub shown: PathBuf,
}

/// A filesystem to mount inside the new root, made with `fsopen`/`fsmount` and attached to
/// its verified mount point.
#[derive(Debug, Clone)]
pub(crate) struct MountOp {
    pub fstype: CString,
    pub target: CString,
    /// Mount attributes (`nosuid`, `nodev`, `noexec`, `rdonly`, `strictatime`).
    pub flags: MountFlags,
    /// Filesystem options, split into keys and values for `fsconfig(2)`: `mode=755` is
    /// `("mode", Some("755"))`, `newinstance` is `("newinstance", None)`.
    pub options: Vec<(CString, Option<CString>)>,
    /// Mode of the mount point when it must be created.
    pub dir_mode: u32,
}

/// A step that runs in the copy of the caller's mount tree, before the pivot.
#[derive(Debug, Clone)]
pub(crate) enum Before {
    /// `mount(NULL, "/", NULL, MS_REC | MS_SLAVE)`: see the host's new mounts, send none back.
    MakeRootSlave,
    /// Bring `lo` up in a new network namespace.
    LoopbackUp,
    /// Bind the root onto itself (`pivot_root` needs a mount point).
    SelfBindRoot,
    /// Clone bind number N's source (with its submounts) into a detached mount, read-only if
    /// asked. It is attached after the pivot.
    CloneBind(usize),
}

/// A step that runs inside the new root, after the pivot.
#[derive(Debug, Clone)]
pub(crate) enum After {
    /// Mount a fresh filesystem at a path of the container.
    Mount(MountOp),
    /// Create a directory, unless it exists.
    Mkdir { path: CString, mode: u32 },
    /// Create a device node with an exact mode.
    Mknod {
        path: CString,
        kind: DeviceKind,
        major: u32,
        minor: u32,
        mode: u32,
    },
    /// Create a symlink.
    Symlink { target: CString, path: CString },
    /// Attach bind number N (cloned before the pivot) at its destination, resolved inside the
    /// root and created when missing.
    AttachBind(usize),
    /// Hide a path: a directory under an empty read-only tmpfs, anything else under the
    /// container's own `/dev/null`, checked to be the 1:3 device first. A missing path is
    /// skipped.
    Mask(CString),
    /// Make a path and everything mounted below it read-only. A missing path is skipped.
    ReadOnly(CString),
    /// Set the hostname of the new UTS namespace.
    Hostname(CString),
    /// Drop every capability of PID 1 and set `no_new_privs`: it has nothing left to do but
    /// wait.
    DropPrivileges,
}

/// The whole plan, in order: `before`, then opening the root, the pivot, then `after`.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The namespaces PID 1 is created in.
    pub namespaces: Namespaces,
    /// The root, absolute and canonical.
    pub root: CString,
    pub before: Vec<Before>,
    pub after: Vec<After>,
    /// The binds, referred to by index from [`Before::CloneBind`] and [`After::AttachBind`].
    pub binds: Vec<BindOp>,
    /// Where the parent's argument and environment strings are, so PID 1 can blank them.
    pub process_strings: Option<furnace_sys::process::ProcessStrings>,
    /// A test-only failpoint (see [`crate::failpoint`]).
    pub failpoint: Option<crate::failpoint::Failpoint>,
}

/// One step of the plan, numbered from 1 in the order PID 1 runs them; the numbers are those
/// of [`Error::Setup`](crate::Error::Setup) and of the `step-N` failpoints.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step<'p> {
    Before(&'p Before),
    OpenRoot,
    PivotRoot,
    After(&'p After),
}

impl Plan {
    /// The plan for a validated configuration on this host.
    pub(crate) fn new(config: &Config, facts: &HostFacts) -> Plan {
        let mut namespaces = Namespaces::MNT
            | Namespaces::PID
            | Namespaces::UTS
            | Namespaces::IPC
            | Namespaces::CGROUP;
        let mut before = vec![Before::MakeRootSlave];
        if config.isolate_network {
            namespaces |= Namespaces::NET;
            before.push(Before::LoopbackUp);
        }
        if !facts.root_is_mount_point {
            before.push(Before::SelfBindRoot);
        }
        // The host's resolv.conf comes first, so that the caller's own binds (of
        // `/etc/resolv.conf`, or of a whole `/etc`) are attached over it, not under it.
        let mut binds: Vec<BindOp> = facts
            .resolv_conf
            .iter()
            .map(|r| resolv_conf_bind(r, &facts.resolv_conf_dest))
            .collect();
        binds.extend(config.binds.iter().map(bind_op));
        before.extend((0..binds.len()).map(Before::CloneBind));

        let mut after = standard_mounts(&facts.loop_devices);
        after.extend((0..binds.len()).map(After::AttachBind));
        if config.hardened {
            after.extend(hardening(&facts.throttle_dirs));
        }
        after.push(After::Hostname(cstring(&config.hostname)));
        if config.hardened {
            after.push(After::DropPrivileges);
        }
        Plan {
            namespaces,
            root: cstring(&config.root),
            before,
            after,
            binds,
            process_strings: facts.process_strings,
            failpoint: crate::failpoint::Failpoint::from_env(),
        }
    }

    /// Every step, in order.
    pub(crate) fn steps(&self) -> impl Iterator<Item = Step<'_>> {
        self.before
            .iter()
            .map(Step::Before)
            .chain([Step::OpenRoot, Step::PivotRoot])
            .chain(self.after.iter().map(Step::After))
    }

    /// What step `number` does, for messages (0 is PID 1's own preparation).
    pub(crate) fn describe(&self, number: usize) -> String {
        match number {
            0 => "prepare the init process".to_owned(),
            n => self
                .steps()
                .nth(n - 1)
                .map_or_else(|| "unknown step".to_owned(), |s| self.show(s).to_string()),
        }
    }

    /// A step with the plan's context (bind paths, the root), for `Display`.
    pub(crate) fn show<'p>(&'p self, step: Step<'p>) -> ShowStep<'p> {
        ShowStep { plan: self, step }
    }
}

/// [`Plan::show`]'s `Display`.
pub(crate) struct ShowStep<'p> {
    plan: &'p Plan,
    step: Step<'p>,
}

fn show(c: &CString) -> DisplayPath<'_> {
    DisplayPath(Path::new(OsStr::from_bytes(c.as_bytes())))
}

impl fmt::Display for ShowStep<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bind = |index: usize| self.plan.binds.get(index);
        match self.step {
            Step::Before(Before::MakeRootSlave) => f.write_str("make / rslave"),
            Step::Before(Before::LoopbackUp) => f.write_str("bring lo up"),
            Step::Before(Before::SelfBindRoot) => {
                write!(f, "bind {} onto itself", show(&self.plan.root))
            }
            Step::Before(Before::CloneBind(i)) => match bind(*i) {
                Some(b) => write!(f, "open bind source {}", show(&b.source)),
                None => f.write_str("open a bind source"),
            },
            Step::OpenRoot => write!(f, "open root {}", show(&self.plan.root)),
            Step::PivotRoot => f.write_str("pivot_root into the root and detach the old root"),
            Step::After(After::AttachBind(i)) => match bind(*i) {
                Some(b) => write!(
                    f,
                    "bind {} on {}{}",
                    show(&b.source),
                    DisplayPath(&b.shown),
                    if b.read_only { " (read-only)" } else { "" }
                ),
                None => f.write_str("attach a bind"),
            },
            Step::After(op) => write!(f, "{op}"),
        }
    }
}

impl fmt::Display for After {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            After::Mount(m) => write!(f, "mount {} on {}", show(&m.fstype), show(&m.target)),
            After::Mkdir { path, .. } => write!(f, "mkdir {}", show(path)),
            After::Mknod {
                path, major, minor, ..
            } => write!(f, "mknod {} {major}:{minor}", show(path)),
            After::Symlink { target, path } => {
                write!(f, "symlink {} -> {}", show(path), show(target))
            }
            After::AttachBind(i) => write!(f, "attach bind #{i}"),
            After::Hostname(name) => write!(f, "sethostname {}", show(name)),
            After::Mask(path) => write!(f, "mask {}", show(path)),
            After::ReadOnly(path) => write!(f, "make {} read-only", show(path)),
            After::DropPrivileges => f.write_str("drop PID 1's capabilities"),
        }
    }
}

fn bind_op(bind: &ValidBind) -> BindOp {
    let (dest_prefixes, dest_names) = prefixes(&bind.dest_parts);
    BindOp {
        source: cstring(&bind.source),
        source_is_dir: bind.source_is_dir,
        dest_prefixes,
        dest_names,
        read_only: bind.read_only,
        optional: false,
        shown: bind.shown.clone(),
    }
}

/// With the host's network, the host's `/etc/resolv.conf` is bound read-only over the
/// container's (a missing file in an existing `/etc` is created; no `/etc`, no bind).
fn resolv_conf_bind(host: &Path, dest: &Path) -> BindOp {
    let parts: Vec<OsString> = dest
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(part) => Some(part.to_owned()),
            _ => None,
        })
        .collect();
    let (dest_prefixes, dest_names) = prefixes(&parts);
    BindOp {
        source: cstring(host),
        source_is_dir: false,
        dest_prefixes,
        dest_names,
        read_only: true,
        optional: true,
        shown: dest.to_path_buf(),
    }
}

/// One filesystem of [`STANDARD_MOUNTS`].
struct Standard {
    fstype: &'static str,
    target: &'static str,
    flags: MountFlags,
    options: &'static str,
    dir_mode: u32,
}

const NOSUID_NODEV_NOEXEC: MountFlags = MountFlags::NOSUID
    .union(MountFlags::NODEV)
    .union(MountFlags::NOEXEC);

/// The filesystems every container gets (SPEC §2.5), in mount order: a parent before what is
/// mounted under it. `/dev`'s nodes and links are made right after `/dev` itself.
const STANDARD_MOUNTS: [Standard; 7] = [
    Standard {
        fstype: "proc",
        target: "/proc",
        flags: NOSUID_NODEV_NOEXEC,
        options: "",
        dir_mode: 0o555,
    },
    Standard {
        fstype: "tmpfs",
        target: "/dev",
        flags: MountFlags::NOSUID.union(MountFlags::STRICTATIME),
        options: "mode=755,size=65536k",
        dir_mode: 0o755,
    },
    Standard {
        fstype: "devpts",
        target: "/dev/pts",
        flags: MountFlags::NOSUID.union(MountFlags::NOEXEC),
        options: "newinstance,ptmxmode=0666,mode=0620,gid=5",
        dir_mode: 0o755,
    },
    Standard {
        fstype: "tmpfs",
        target: "/dev/shm",
        flags: NOSUID_NODEV_NOEXEC,
        options: "mode=1777,size=65536k",
        dir_mode: 0o1777,
    },
    Standard {
        fstype: "mqueue",
        target: "/dev/mqueue",
        flags: NOSUID_NODEV_NOEXEC,
        options: "",
        dir_mode: 0o755,
    },
    Standard {
        fstype: "sysfs",
        target: "/sys",
        flags: NOSUID_NODEV_NOEXEC.union(MountFlags::RDONLY),
        options: "",
        dir_mode: 0o555,
    },
    Standard {
        fstype: "tmpfs",
        target: "/run",
        flags: MountFlags::NOSUID.union(MountFlags::NODEV),
        options: "mode=1777,size=65536k",
        dir_mode: 0o755,
    },
];

/// The character devices of `/dev`: name, major, minor (mode 0666).
const DEVICES: [(&str, u32, u32); 6] = [
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

fn mount_op(standard: &Standard) -> After {
    let options = standard
        .options
        .split(',')
        .filter(|o| !o.is_empty())
        .map(|option| match option.split_once('=') {
            Some((key, value)) => (cstring(key), Some(cstring(value))),
            None => (cstring(option), None),
        })
        .collect();
    After::Mount(MountOp {
        fstype: cstring(standard.fstype),
        target: cstring(standard.target),
        flags: standard.flags,
        options,
        dir_mode: standard.dir_mode,
    })
}

/// The filesystems, nodes and links every container gets after the pivot (SPEC §2, 5–7),
/// with `loop_devices` in `/dev` (the privileged profile's host loop devices).
pub(crate) fn standard_mounts(loop_devices: &[LoopDevice]) -> Vec<After> {
    let mut ops = Vec::new();
    for standard in &STANDARD_MOUNTS {
        ops.push(mount_op(standard));
        if standard.target == "/dev" {
            ops.extend(DEVICES.iter().map(|&(name, major, minor)| After::Mknod {
                path: cstring(format!("/dev/{name}")),
                kind: DeviceKind::Char,
                major,
                minor,
                mode: 0o666,
            }));
            ops.extend(DEV_LINKS.iter().map(|&(path, target)| After::Symlink {
                target: cstring(target),
                path: cstring(path),
            }));
        }
        if standard.target == "/dev/mqueue" {
            ops.extend(loop_devices.iter().map(|d| After::Mknod {
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

/// The hardened profile's steps after the standard mounts and the binds (so a bind cannot
/// uncover a masked path).
fn hardening(extra_masks: &[PathBuf]) -> Vec<After> {
    MASKED_PATHS
        .iter()
        .map(|p| After::Mask(cstring(p)))
        .chain(extra_masks.iter().map(|p| After::Mask(cstring(p))))
        .chain(READ_ONLY_PATHS.iter().map(|p| After::ReadOnly(cstring(p))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loop_devices() -> Vec<LoopDevice> {
        vec![
            LoopDevice {
                name: "loop-control".into(),
                kind: DeviceKind::Char,
                major: 10,
                minor: 237,
                mode: 0o660,
            },
            LoopDevice {
                name: "loop0".into(),
                kind: DeviceKind::Block,
                major: 7,
                minor: 0,
                mode: 0o660,
            },
        ]
    }

    #[test]
    fn the_callers_binds_come_after_the_hosts_resolv_conf() {
        let dir = std::env::temp_dir();
        let mut builder = crate::Container::builder(&dir);
        builder.bind(&dir, "/etc");
        let config = builder.validate().unwrap();
        let facts = HostFacts {
            resolv_conf: Some(PathBuf::from("/etc/resolv.conf")),
            resolv_conf_dest: PathBuf::from("/etc/resolv.conf"),
            ..HostFacts::default()
        };
        let plan = Plan::new(&config, &facts);
        let shown: Vec<String> = plan
            .binds
            .iter()
            .map(|b| b.shown.display().to_string())
            .collect();
        assert_eq!(shown, ["/etc/resolv.conf", "/etc"]);
    }

    #[test]
    fn standard_mounts_cover_the_promised_tree() {
        let ops = standard_mounts(&loop_devices());
        let shown: Vec<String> = ops.iter().map(|op| op.to_string()).collect();
        for expected in [
            "mount proc on /proc",
            "mount tmpfs on /dev",
            "mknod /dev/null 1:3",
            "mknod /dev/tty 5:0",
            "symlink /dev/ptmx -> pts/ptmx",
            "symlink /dev/fd -> /proc/self/fd",
            "mount devpts on /dev/pts",
            "mount tmpfs on /dev/shm",
            "mount mqueue on /dev/mqueue",
            "mknod /dev/loop-control 10:237",
            "mknod /dev/loop0 7:0",
            "mount sysfs on /sys",
            "mount tmpfs on /run",
            "mkdir /run/lock",
        ] {
            assert!(
                shown.iter().any(|s| s == expected),
                "missing {expected:?} in {shown:#?}"
            );
        }
        let at = |what: &str| shown.iter().position(|s| s == what).unwrap();
        assert!(at("mount proc on /proc") < at("mount tmpfs on /dev"));
        assert!(at("mount tmpfs on /dev") < at("mknod /dev/null 1:3"));
        assert!(at("mount tmpfs on /dev") < at("mount devpts on /dev/pts"));
        assert!(at("mount tmpfs on /run") < at("mkdir /run/lock"));
        let kinds: Vec<DeviceKind> = ops
            .iter()
            .filter_map(|op| match op {
                After::Mknod { path, kind, .. } if path.as_bytes().starts_with(b"/dev/loop") => {
                    Some(*kind)
                }
                _ => None,
            })
            .collect();
        assert_eq!(kinds, [DeviceKind::Char, DeviceKind::Block]);
    }

    #[test]
    fn options_are_split_for_fsconfig() {
        let devpts = STANDARD_MOUNTS
            .iter()
            .find(|s| s.fstype == "devpts")
            .unwrap();
        let After::Mount(m) = mount_op(devpts) else {
            panic!("not a mount")
        };
        assert_eq!(
            m.options,
            vec![
                (cstring("newinstance"), None),
                (cstring("ptmxmode"), Some(cstring("0666"))),
                (cstring("mode"), Some(cstring("0620"))),
                (cstring("gid"), Some(cstring("5"))),
            ]
        );
        let proc = STANDARD_MOUNTS.iter().find(|s| s.fstype == "proc").unwrap();
        let After::Mount(m) = mount_op(proc) else {
            panic!("not a mount")
        };
        assert!(m.options.is_empty());
    }
}
