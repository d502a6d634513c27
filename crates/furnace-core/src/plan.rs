//! The set-up plan: every step PID 1 will carry out, computed as data in the parent.
//!
//! Building the plan allocates, resolves and validates; executing it (in [`crate::init`])
//! only makes system calls. So inputs are checked before any namespace exists, tests can look
//! at the plan without root, and a failure can name its step: "step 9, mount devpts on
//! /dev/pts".

use std::ffi::{CString, OsStr};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use furnace_sys::mount::MountFlags;
use furnace_sys::DisplayPath;

/// One bind mount requested by the caller (or implied, like `resolv.conf`).
#[derive(Debug, Clone)]
pub(crate) struct BindOp {
    /// Host path, absolute and canonical.
    pub source: CString,
    /// Whether the source is a directory (else a file-like object: file, device, socket).
    pub source_is_dir: bool,
    /// The destination's components inside the root, each prefix as a relative path:
    /// `["etc", "etc/app", "etc/app/conf"]`.
    pub dest_prefixes: Vec<CString>,
    /// The last component alone, for `mkdirat`/`openat` in its parent.
    pub dest_names: Vec<CString>,
    /// Make the bind read-only (recursively).
    pub read_only: bool,
    /// Skip silently when the destination cannot be resolved or created (implied binds).
    pub optional: bool,
    /// The destination as the caller wrote it, for messages.
    pub shown: PathBuf,
}

/// A filesystem to mount after `pivot_root`, at a path of the container.
#[derive(Debug, Clone)]
pub(crate) struct MountOp {
    pub fstype: CString,
    pub source: CString,
    pub target: CString,
    pub flags: MountFlags,
    pub data: Option<CString>,
    /// Mode of the mount point when it must be created.
    pub dir_mode: u32,
}

/// One step of the plan.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// `mount(NULL, "/", NULL, MS_REC | MS_SLAVE)`: see the host's new mounts, send none back.
    MakeRootSlave,
    /// Bring `lo` up in a new network namespace.
    LoopbackUp,
    /// Bind the root onto itself (`pivot_root` needs a mount point).
    SelfBindRoot(CString),
    /// Open the root directory (an `O_PATH` fd every in-root lookup is relative to).
    OpenRoot(CString),
    /// A bind mount from the host into the root.
    Bind(BindOp),
    /// `pivot_root(".", ".")` into the root, make the old root slave, detach it.
    PivotRoot,
    /// Mount a filesystem inside (after the pivot).
    Mount(MountOp),
    /// Create a directory inside (after the pivot), unless it exists.
    Mkdir { path: CString, mode: u32 },
    /// Create a device node inside (after the pivot), with an exact mode.
    Mknod {
        path: CString,
        block: bool,
        major: u32,
        minor: u32,
        mode: u32,
    },
    /// Create a symlink inside (after the pivot).
    Symlink { target: CString, path: CString },
    /// Set the hostname of the new UTS namespace.
    Hostname(CString),
    /// Hide a path (after the pivot): a directory under an empty read-only tmpfs, anything
    /// else under the container's own `/dev/null`, checked to be the 1:3 device first. A
    /// missing path is skipped.
    Mask(CString),
    /// Make a path and everything mounted below it read-only (after the pivot). A missing
    /// path is skipped.
    ReadOnly(CString),
    /// Drop every capability of PID 1 and set `no_new_privs`: it has nothing left to do but
    /// wait.
    DropPrivileges,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show =
            |c: &CString| DisplayPath(Path::new(OsStr::from_bytes(c.as_bytes()))).to_string();
        match self {
            Op::MakeRootSlave => f.write_str("make / rslave"),
            Op::LoopbackUp => f.write_str("bring lo up"),
            Op::SelfBindRoot(root) => write!(f, "bind {} onto itself", show(root)),
            Op::OpenRoot(root) => write!(f, "open root {}", show(root)),
            Op::Bind(b) => write!(
                f,
                "bind {} on {}{}",
                show(&b.source),
                DisplayPath(&b.shown),
                if b.read_only { " (read-only)" } else { "" }
            ),
            Op::PivotRoot => f.write_str("pivot_root into the root and detach the old root"),
            Op::Mount(m) => write!(f, "mount {} on {}", show(&m.fstype), show(&m.target)),
            Op::Mkdir { path, .. } => write!(f, "mkdir {}", show(path)),
            Op::Mknod {
                path, major, minor, ..
            } => write!(f, "mknod {} {major}:{minor}", show(path)),
            Op::Symlink { target, path } => write!(f, "symlink {} -> {}", show(path), show(target)),
            Op::Hostname(name) => write!(f, "sethostname {}", show(name)),
            Op::Mask(path) => write!(f, "mask {}", show(path)),
            Op::ReadOnly(path) => write!(f, "make {} read-only", show(path)),
            Op::DropPrivileges => f.write_str("drop PID 1's capabilities"),
        }
    }
}

/// The whole plan, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    pub ops: Vec<Op>,
    /// Where the parent's argument and environment strings are, so PID 1 can blank them.
    pub process_strings: Option<furnace_sys::raw::ProcessStrings>,
    /// A test-only failpoint (see [`crate::failpoint`]).
    pub failpoint: Option<crate::failpoint::Failpoint>,
}

/// Turns any path into a C string; paths never contain NUL (the OS cannot produce one).
pub(crate) fn cstring(path: impl AsRef<OsStr>) -> CString {
    CString::new(path.as_ref().as_bytes()).expect("paths from the OS contain no NUL byte")
}

/// Splits a destination inside the root into its normal components, refusing `..`.
/// `/a/./b/` and `a/b` both give `["a", "b"]`.
pub(crate) fn inside_components(dest: &Path) -> Result<Vec<&OsStr>, crate::PathProblem> {
    let mut parts = Vec::new();
    for component in dest.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err(crate::PathProblem::DotDot),
            Component::Normal(part) => parts.push(part),
            Component::Prefix(_) => unreachable!("no path prefixes on Linux"),
        }
    }
    if parts.is_empty() {
        return Err(crate::PathProblem::IsRoot);
    }
    Ok(parts)
}

/// The prefixes and names of a destination's components, as C strings.
pub(crate) fn prefixes(parts: &[&OsStr]) -> (Vec<CString>, Vec<CString>) {
    let mut acc = PathBuf::new();
    let mut prefixes = Vec::with_capacity(parts.len());
    let mut names = Vec::with_capacity(parts.len());
    for part in parts {
        acc.push(part);
        prefixes.push(cstring(&acc));
        names.push(cstring(part));
    }
    (prefixes, names)
}

/// The filesystems, nodes and links every container gets after the pivot (SPEC §2, 5–7).
pub(crate) fn standard_mounts(ops: &mut Vec<Op>, loop_devices: &[(String, u32, u32, u32)]) {
    let m = |fstype: &str,
             source: &str,
             target: &str,
             flags: MountFlags,
             data: Option<&str>,
             dir_mode: u32| {
        Op::Mount(MountOp {
            fstype: cstring(fstype),
            source: cstring(source),
            target: cstring(target),
            flags,
            data: data.map(cstring),
            dir_mode,
        })
    };
    use MountFlags as F;
    ops.push(m(
        "proc",
        "proc",
        "/proc",
        F::NOSUID | F::NODEV | F::NOEXEC,
        None,
        0o555,
    ));
    ops.push(m(
        "tmpfs",
        "tmpfs",
        "/dev",
        F::NOSUID | F::STRICTATIME,
        Some("mode=755,size=65536k"),
        0o755,
    ));
    for (name, minor) in [
        ("null", 3),
        ("zero", 5),
        ("full", 7),
        ("random", 8),
        ("urandom", 9),
    ] {
        ops.push(Op::Mknod {
            path: cstring(format!("/dev/{name}")),
            block: false,
            major: 1,
            minor,
            mode: 0o666,
        });
    }
    ops.push(Op::Mknod {
        path: cstring("/dev/tty"),
        block: false,
        major: 5,
        minor: 0,
        mode: 0o666,
    });
    for (target, path) in [
        ("/proc/self/fd", "/dev/fd"),
        ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"),
        ("/proc/self/fd/2", "/dev/stderr"),
        ("pts/ptmx", "/dev/ptmx"),
    ] {
        ops.push(Op::Symlink {
            target: cstring(target),
            path: cstring(path),
        });
    }
    ops.push(m(
        "devpts",
        "devpts",
        "/dev/pts",
        F::NOSUID | F::NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
        0o755,
    ));
    ops.push(m(
        "tmpfs",
        "shm",
        "/dev/shm",
        F::NOSUID | F::NODEV | F::NOEXEC,
        Some("mode=1777,size=65536k"),
        0o1777,
    ));
    ops.push(m(
        "mqueue",
        "mqueue",
        "/dev/mqueue",
        F::NOSUID | F::NODEV | F::NOEXEC,
        None,
        0o755,
    ));
    for (name, major, minor, mode) in loop_devices {
        ops.push(Op::Mknod {
            path: cstring(format!("/dev/{name}")),
            block: *major != 10,
            major: *major,
            minor: *minor,
            mode: *mode,
        });
    }
    ops.push(m(
        "sysfs",
        "sysfs",
        "/sys",
        F::RDONLY | F::NOSUID | F::NODEV | F::NOEXEC,
        None,
        0o555,
    ));
    ops.push(m(
        "tmpfs",
        "tmpfs",
        "/run",
        F::NOSUID | F::NODEV,
        Some("mode=1777,size=65536k"),
        0o755,
    ));
    ops.push(Op::Mkdir {
        path: cstring("/run/lock"),
        mode: 0o1777,
    });
}

/// Paths the hardened profile hides: Docker's masked list. `thermal_throttle` directories are
/// per CPU; the caller passes those it found in the host's `/sys` (the same sysfs the
/// container mounts).
pub(crate) const MASKED_PATHS: [&str; 12] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

/// Paths the hardened profile makes read-only: the engines' common list.
pub(crate) const READ_ONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The hardened profile's steps after the standard mounts.
pub(crate) fn hardening(ops: &mut Vec<Op>, extra_masks: &[String]) {
    for path in MASKED_PATHS
        .iter()
        .copied()
        .chain(extra_masks.iter().map(String::as_str))
    {
        ops.push(Op::Mask(cstring(path)));
    }
    for path in READ_ONLY_PATHS {
        ops.push(Op::ReadOnly(cstring(path)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_split_inside_the_root() {
        let parts = inside_components(Path::new("/a/./b/")).unwrap();
        assert_eq!(parts, vec![OsStr::new("a"), OsStr::new("b")]);
        assert_eq!(inside_components(Path::new("a/b")).unwrap().len(), 2);
        assert_eq!(
            inside_components(Path::new("/a/../b")),
            Err(crate::PathProblem::DotDot)
        );
        assert_eq!(
            inside_components(Path::new("/")),
            Err(crate::PathProblem::IsRoot)
        );
        let (prefixes, names) = prefixes(&[OsStr::new("etc"), OsStr::new("app")]);
        assert_eq!(prefixes, vec![cstring("etc"), cstring("etc/app")]);
        assert_eq!(names, vec![cstring("etc"), cstring("app")]);
    }

    #[test]
    fn standard_mounts_cover_the_promised_tree() {
        let mut ops = Vec::new();
        standard_mounts(
            &mut ops,
            &[
                ("loop-control".into(), 10, 237, 0o660),
                ("loop0".into(), 7, 0, 0o660),
            ],
        );
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
        let proc = shown
            .iter()
            .position(|s| s == "mount proc on /proc")
            .unwrap();
        let dev = shown
            .iter()
            .position(|s| s == "mount tmpfs on /dev")
            .unwrap();
        let pts = shown
            .iter()
            .position(|s| s == "mount devpts on /dev/pts")
            .unwrap();
        assert!(proc < dev && dev < pts, "order: /proc, /dev, /dev/pts");
        let loop_node = ops.iter().find_map(|op| match op {
            Op::Mknod { path, block, .. } if path.as_bytes() == b"/dev/loop0" => Some(*block),
            _ => None,
        });
        assert_eq!(loop_node, Some(true), "loop devices are block devices");
    }
}
