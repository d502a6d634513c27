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
    /// Mount a fresh filesystem in the root before the pivot (`proc`, `sysfs`): the kernel
    /// refuses these in a user namespace once the old root, where the host's are visible, is
    /// detached. The target is resolved beneath the root.
    Mount(MountOp),
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
    /// Attach bind number N (cloned before the pivot) at a standard mount point, opened as
    /// [`After::Mount`] opens its own (a real directory, created when missing): the host's
    /// `/sys` of a rootless container without a network namespace of its own.
    AttachAtMountPoint {
        bind: usize,
        target: CString,
        dir_mode: u32,
    },
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
    /// Rootless, and the root belongs to a user outside the user namespace: a step that
    /// fails to create something in it is reported as [`Error::RootNotWritable`].
    ///
    /// [`Error::RootNotWritable`]: crate::Error::RootNotWritable
    pub root_not_writable: bool,
    /// In a user namespace: PID 1 sends fds of its namespaces for commands to join through.
    pub send_namespaces: bool,
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
        // `pivot_root` needs the root to be a mount point, and not a locked one: in a user
        // namespace every mount copied from the caller's tree is locked, so there the root
        // is always bound onto itself (the bind is the container's own).
        if !facts.root_is_mount_point || facts.rootless.is_some() {
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
        let user_binds = 0..binds.len();
        let rootless = facts.rootless.as_ref();
        // Rootless: the host's device nodes are bound in (mknod is refused), and without a
        // network namespace of its own the host's /sys is bound read-only (a fresh sysfs is
        // refused).
        let devices = rootless.map(|_| {
            let first = binds.len();
            binds.extend(DEVICES.iter().map(|&(name, _, _)| device_bind(name)));
            first
        });
        let sys_bind = (rootless.is_some() && !config.isolate_network).then(|| {
            binds.push(sys_bind());
            binds.len() - 1
        });
        before.extend((0..binds.len()).map(Before::CloneBind));
        let layout = Layout {
            loop_devices: &facts.loop_devices,
            devices,
            sys_bind,
            tty_gid: rootless.map_or(true, |r| r.tty_gid_mapped),
        };
        before.extend(STANDARD_MOUNTS.iter().filter_map(|standard| {
            let fresh =
                standard.before_pivot && !(standard.fstype == "sysfs" && sys_bind.is_some());
            fresh.then(|| Before::Mount(mount_op(standard, layout.tty_gid)))
        }));

        let mut after = standard_mounts(&layout);
        after.extend(user_binds.map(After::AttachBind));
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
            root_not_writable: rootless.is_some_and(|r| !r.root_writable),
            send_namespaces: rootless.is_some(),
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

    /// Whether step `number` may create something in the root (a mount point, a bind's
    /// destination), so that an unwritable root can be what made it fail.
    pub(crate) fn creates_in_root(&self, number: usize) -> bool {
        let step = number.checked_sub(1).and_then(|n| self.steps().nth(n));
        matches!(
            step,
            Some(
                Step::Before(Before::Mount(_))
                    | Step::After(
                        After::Mount(_) | After::AttachBind(_) | After::AttachAtMountPoint { .. }
                    )
            )
        )
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

impl ShowStep<'_> {
    /// `bind SOURCE on DESTINATION`, for the steps that attach bind number `index`.
    fn fmt_attach(&self, f: &mut fmt::Formatter<'_>, index: usize) -> fmt::Result {
        match self.plan.binds.get(index) {
            Some(b) => write!(
                f,
                "bind {} on {}{}",
                show(&b.source),
                DisplayPath(&b.shown),
                if b.read_only { " (read-only)" } else { "" }
            ),
            None => f.write_str("attach a bind"),
        }
    }
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
            Step::Before(Before::Mount(m)) => {
                write!(f, "mount {} on {}", show(&m.fstype), show(&m.target))
            }
            Step::OpenRoot => write!(f, "open root {}", show(&self.plan.root)),
            Step::PivotRoot => f.write_str("pivot_root into the root and detach the old root"),
            Step::After(After::AttachBind(i)) => self.fmt_attach(f, *i),
            Step::After(After::AttachAtMountPoint { bind: i, .. }) => self.fmt_attach(f, *i),
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
            After::AttachBind(i) | After::AttachAtMountPoint { bind: i, .. } => {
                write!(f, "attach bind #{i}")
            }
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
    /// Mounted in the root before the pivot ([`Before::Mount`]).
    before_pivot: bool,
}

const NOSUID_NODEV_NOEXEC: MountFlags = MountFlags::NOSUID
    .union(MountFlags::NODEV)
    .union(MountFlags::NOEXEC);

/// The filesystems every container gets (SPEC §2.5), in mount order: a parent before what is
/// mounted under it. `/dev`'s nodes and links are made right after `/dev` itself. `proc` and
/// `sysfs` are mounted before the pivot, in both modes, so that one order serves both.
const STANDARD_MOUNTS: [Standard; 7] = [
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

/// A standard filesystem as a mount step; devpts gets `gid=5` only when `tty_gid` (group 5
/// is mapped: always for root, in a user namespace only with subordinate ids).
fn mount_op(standard: &Standard, tty_gid: bool) -> MountOp {
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
            }),
            _ if standard.before_pivot => {}
            _ => ops.push(After::Mount(mount_op(standard, layout.tty_gid))),
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

/// Rootless: the host's `/dev/NAME` bound onto a file of the container's `/dev`.
fn device_bind(name: &str) -> BindOp {
    BindOp {
        source: cstring(format!("/dev/{name}")),
        source_is_dir: false,
        dest_prefixes: vec![cstring("dev"), cstring(format!("dev/{name}"))],
        dest_names: vec![cstring("dev"), cstring(name)],
        read_only: false,
        optional: false,
        shown: PathBuf::from(format!("/dev/{name}")),
    }
}

/// Rootless without a network namespace of its own: the host's `/sys`, with its submounts,
/// read-only.
fn sys_bind() -> BindOp {
    BindOp {
        source: cstring("/sys"),
        source_is_dir: true,
        dest_prefixes: vec![cstring("sys")],
        dest_names: vec![cstring("sys")],
        read_only: true,
        optional: false,
        shown: PathBuf::from("/sys"),
    }
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

    /// Every step of the plan for `facts`, as `Display` shows it.
    fn steps_shown(isolate_network: bool, facts: &HostFacts) -> Vec<String> {
        let dir = std::env::temp_dir();
        let mut builder = crate::Container::builder(&dir);
        builder.isolate_network(isolate_network);
        let plan = Plan::new(&builder.validate().unwrap(), facts);
        (1..=plan.steps().count())
            .map(|n| plan.describe(n))
            .collect()
    }

    fn position(shown: &[String], what: &str) -> usize {
        shown
            .iter()
            .position(|s| s == what)
            .unwrap_or_else(|| panic!("missing {what:?} in {shown:#?}"))
    }

    #[test]
    fn standard_mounts_cover_the_promised_tree() {
        let facts = HostFacts {
            loop_devices: loop_devices(),
            ..HostFacts::default()
        };
        let shown = steps_shown(false, &facts);
        for expected in [
            "mount proc on /proc",
            "mount sysfs on /sys",
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
            "mount tmpfs on /run",
            "mkdir /run/lock",
        ] {
            position(&shown, expected);
        }
        let at = |what: &str| position(&shown, what);
        // proc and sysfs are mounted before the pivot, in both modes.
        let pivot = at("pivot_root into the root and detach the old root");
        assert!(at("mount proc on /proc") < pivot);
        assert!(at("mount sysfs on /sys") < pivot);
        assert!(pivot < at("mount tmpfs on /dev"));
        assert!(at("mount tmpfs on /dev") < at("mknod /dev/null 1:3"));
        assert!(at("mount tmpfs on /dev") < at("mount devpts on /dev/pts"));
        assert!(at("mount tmpfs on /run") < at("mkdir /run/lock"));
        let ops = standard_mounts(&Layout {
            loop_devices: &loop_devices(),
            devices: None,
            sys_bind: None,
            tty_gid: true,
        });
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
    fn rootless_plans_bind_the_hosts_devices_and_sys_and_create_no_node() {
        let rootless = |tty_gid_mapped| HostFacts {
            root_is_mount_point: true,
            rootless: Some(crate::hostfacts::RootlessFacts {
                tty_gid_mapped,
                root_writable: true,
            }),
            ..HostFacts::default()
        };
        let shown = steps_shown(false, &rootless(false));
        // The root is bound onto itself even when it is a mount point: the caller's mounts are
        // locked in a user namespace, and pivot_root refuses a locked one (EINVAL).
        assert!(
            shown
                .iter()
                .any(|s| s.starts_with("bind ") && s.ends_with(" onto itself")),
            "{shown:#?}"
        );
        assert!(
            !shown.iter().any(|s| s.starts_with("mknod")),
            "no device node is created without root: {shown:#?}"
        );
        let at = |what: &str| position(&shown, what);
        let pivot = at("pivot_root into the root and detach the old root");
        assert!(at("mount proc on /proc") < pivot);
        assert!(at("open bind source /dev/null") < pivot);
        assert!(at("open bind source /sys") < pivot);
        assert!(at("mount tmpfs on /dev") < at("bind /dev/null on /dev/null"));
        assert!(at("bind /dev/null on /dev/null") < at("mount devpts on /dev/pts"));
        for device in ["zero", "full", "random", "urandom", "tty"] {
            at(&format!("bind /dev/{device} on /dev/{device}"));
        }
        // Without a network namespace of its own, the host's /sys, read-only; no fresh sysfs.
        at("bind /sys on /sys (read-only)");
        assert!(!shown.iter().any(|s| s == "mount sysfs on /sys"));
        // With one, a fresh sysfs before the pivot.
        let isolated = steps_shown(true, &rootless(false));
        assert!(
            position(&isolated, "mount sysfs on /sys")
                < position(
                    &isolated,
                    "pivot_root into the root and detach the old root"
                )
        );
        assert!(!isolated.iter().any(|s| s.starts_with("bind /sys")));
    }

    #[test]
    fn devpts_gets_the_tty_group_only_where_it_is_mapped() {
        let devpts = STANDARD_MOUNTS
            .iter()
            .find(|s| s.fstype == "devpts")
            .unwrap();
        let gid = (cstring("gid"), Some(cstring("5")));
        assert!(mount_op(devpts, true).options.contains(&gid));
        assert!(!mount_op(devpts, false).options.contains(&gid));
    }

    #[test]
    fn options_are_split_for_fsconfig() {
        let devpts = STANDARD_MOUNTS
            .iter()
            .find(|s| s.fstype == "devpts")
            .unwrap();
        let m = mount_op(devpts, true);
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
        let m = mount_op(proc, true);
        assert!(m.options.is_empty());
    }
}
