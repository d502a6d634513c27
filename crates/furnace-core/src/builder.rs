//! Configuring a container: the builder, input checks, and the plan PID 1 will carry out.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use furnace_sys::{Errno, Namespaces};

use crate::container::Container;
use crate::error::{Error, PathProblem, Result};
use crate::failpoint::Failpoint;
use crate::plan::{self, cstring, BindOp, Op, Plan};

/// A bind mount from the host into a container.
///
/// The destination is a path *inside* the container, absolute or relative to its root (both
/// mean the same). It is resolved inside the root: a symlink on the way that would lead out of
/// the root is an error, never followed onto the host. A missing destination is created — a
/// directory for a directory source, an empty file otherwise — with its parents.
///
/// ```
/// use furnace_core::BindMount;
/// let data = BindMount::new("/srv/data", "/data").read_only();
/// assert!(data.is_read_only());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    source: PathBuf,
    destination: PathBuf,
    read_only: bool,
}

impl BindMount {
    /// A writable bind mount of host `source` at `destination` inside the container.
    pub fn new(source: impl Into<PathBuf>, destination: impl Into<PathBuf>) -> Self {
        Self {
            source: source.into(),
            destination: destination.into(),
            read_only: false,
        }
    }

    /// Makes it read-only, submounts included.
    #[must_use]
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// The host path.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The path inside the container.
    pub fn destination(&self) -> &Path {
        &self.destination
    }

    /// Whether it is read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }
}

/// Configures a container over a root directory; [`start`](ContainerBuilder::start) makes it.
///
/// ```no_run
/// use furnace_core::Container;
/// let container = Container::builder("/srv/rootfs")
///     .isolate_network(true)
///     .bind_ro("/etc/ssl", "/etc/ssl")
///     .hostname("builder")
///     .start()?;
/// let out = container.command("hostname").output()?;
/// assert_eq!(out.stdout, b"builder\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ContainerBuilder {
    root: PathBuf,
    isolate_network: bool,
    binds: Vec<BindMount>,
    hostname: String,
    hardened: bool,
}

impl ContainerBuilder {
    /// The defaults: host network, no binds, hostname `localhost`, privileged profile.
    pub(crate) fn new(root: PathBuf) -> Self {
        ContainerBuilder {
            root,
            isolate_network: false,
            binds: Vec::new(),
            hostname: "localhost".into(),
            hardened: false,
        }
    }

    /// Gives the container its own network namespace with only `lo` (up). By default it shares
    /// the host's network, like the original furnace.
    pub fn isolate_network(&mut self, isolate: bool) -> &mut Self {
        self.isolate_network = isolate;
        self
    }

    /// Adds a writable bind mount of host `source` at `destination` inside.
    pub fn bind(
        &mut self,
        source: impl Into<PathBuf>,
        destination: impl Into<PathBuf>,
    ) -> &mut Self {
        self.mount(BindMount::new(source, destination))
    }

    /// Adds a read-only bind mount of host `source` at `destination` inside.
    pub fn bind_ro(
        &mut self,
        source: impl Into<PathBuf>,
        destination: impl Into<PathBuf>,
    ) -> &mut Self {
        self.mount(BindMount::new(source, destination).read_only())
    }

    /// Adds a bind mount.
    pub fn mount(&mut self, bind: BindMount) -> &mut Self {
        self.binds.push(bind);
        self
    }

    /// Sets the hostname inside (default `localhost`).
    pub fn hostname(&mut self, name: impl Into<String>) -> &mut Self {
        self.hostname = name.into();
        self
    }

    /// Selects the hardened profile, the one to use for code you do not trust (default: the
    /// privileged profile, the original furnace's sturdier `chroot`).
    ///
    /// Commands run with only [`HARDENED_CAPABILITIES`] (empty inheritable and ambient sets),
    /// with `no_new_privs`, in a session of their own (no controlling terminal, so `TIOCSTI`
    /// cannot reach the caller's); PID 1 drops every capability once the root is set up.
    /// Docker's masked paths are hidden (under the container's own, verified `/dev/null`, or an
    /// empty read-only tmpfs), `/proc/{bus,fs,irq,sys,sysrq-trigger}` are read-only, and the
    /// host's loop devices stay out of `/dev`. See the project's `docs/SECURITY.md`.
    ///
    /// ```no_run
    /// use furnace_core::Container;
    /// let container = Container::builder("/srv/rootfs").hardened(true).start()?;
    /// // Root inside, but no CAP_SYS_ADMIN: mounting fails.
    /// let status = container.command("mount").args(["-t", "tmpfs", "x", "/mnt"]).status()?;
    /// assert!(!status.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn hardened(&mut self, hardened: bool) -> &mut Self {
        self.hardened = hardened;
        self
    }

    /// Starts the container: checks the inputs, starts PID 1 in new namespaces, and returns
    /// once it reports that the root is set up.
    ///
    /// Bad input is reported before any namespace exists. A step that fails inside is reported
    /// as [`Error::Setup`] with its number, what it did and the errno; PID 1 is reaped by then,
    /// so nothing of the half-made container is left.
    pub fn start(&self) -> Result<Container> {
        let prepared = self.prepare()?;
        Container::launch(prepared)
    }

    /// Validates inputs and computes the plan: everything that can fail before a fork.
    pub(crate) fn prepare(&self) -> Result<Prepared> {
        let root = canonical_root(&self.root)?;
        validate_hostname(&self.hostname)?;
        let mut ops = vec![Op::MakeRootSlave];
        let mut namespaces = Namespaces::MNT
            | Namespaces::PID
            | Namespaces::UTS
            | Namespaces::IPC
            | Namespaces::CGROUP;
        if self.isolate_network {
            namespaces |= Namespaces::NET;
            ops.push(Op::LoopbackUp);
        }
        let root_is_mount =
            furnace_sys::mountinfo::is_mount_point(&root).map_err(Error::sys("check the root"))?;
        let root_c = cstring(&root);
        if !root_is_mount {
            ops.push(Op::SelfBindRoot(root_c.clone()));
        }
        ops.push(Op::OpenRoot(root_c));
        let root_fd = open_dir(&root).map_err(|e| Error::InvalidRoot {
            path: self.root.clone(),
            problem: e,
        })?;
        for bind in &self.binds {
            ops.push(Op::Bind(prepare_bind(bind, &root_fd)?));
        }
        if !self.isolate_network {
            if let Some(resolv) = resolv_conf_bind(&root_fd) {
                ops.push(Op::Bind(resolv));
            }
        }
        ops.push(Op::PivotRoot);
        let loop_devices = if self.hardened {
            Vec::new()
        } else {
            host_loop_devices()
        };
        plan::standard_mounts(&mut ops, &loop_devices);
        if self.hardened {
            plan::hardening(&mut ops, &thermal_throttle_dirs());
        }
        ops.push(Op::Hostname(cstring(&self.hostname)));
        if self.hardened {
            ops.push(Op::DropPrivileges);
        }
        Ok(Prepared {
            root,
            namespaces,
            capabilities: self.hardened.then(hardened_capability_mask),
            plan: Plan {
                ops,
                process_strings: process_strings(),
                failpoint: Failpoint::from_env(),
            },
        })
    }
}

/// This process's argument and environment areas, read once: the kernel fixes them at exec.
/// The pid is part of the key, so a forked child of the caller reads its own.
fn process_strings() -> Option<furnace_sys::raw::ProcessStrings> {
    use std::sync::Mutex;
    static CACHE: Mutex<Option<(u32, Option<furnace_sys::raw::ProcessStrings>)>> = Mutex::new(None);
    let pid = std::process::id();
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    match *cache {
        Some((cached_pid, strings)) if cached_pid == pid => strings,
        _ => {
            let strings = furnace_sys::raw::ProcessStrings::of_self();
            *cache = Some((pid, strings));
            strings
        }
    }
}

/// Everything `start` needs after the checks: the canonical root, the namespaces to create,
/// the capabilities commands keep, and PID 1's plan.
pub(crate) struct Prepared {
    pub(crate) root: PathBuf,
    pub(crate) namespaces: Namespaces,
    pub(crate) capabilities: Option<u64>,
    pub(crate) plan: Plan,
}

/// The capabilities commands keep in the hardened profile: containerd's default set.
///
/// Docker's list also has `MKNOD`, `NET_RAW`, `SETFCAP`, `SYS_CHROOT` and `AUDIT_WRITE`;
/// Docker pairs `MKNOD` with a device cgroup that furnace does not have, so with it root
/// inside could make and open a node of a host disk. containerd 2.0 dropped the five for the
/// same kind of reasons.
pub const HARDENED_CAPABILITIES: [furnace_sys::caps::Cap; 9] = {
    use furnace_sys::caps::Cap;
    [
        Cap::CAP_CHOWN,
        Cap::CAP_DAC_OVERRIDE,
        Cap::CAP_FSETID,
        Cap::CAP_FOWNER,
        Cap::CAP_SETGID,
        Cap::CAP_SETUID,
        Cap::CAP_SETPCAP,
        Cap::CAP_NET_BIND_SERVICE,
        Cap::CAP_KILL,
    ]
};

fn hardened_capability_mask() -> u64 {
    HARDENED_CAPABILITIES
        .iter()
        .fold(0, |mask, cap| mask | cap.bitmask())
}

/// `/sys/devices/system/cpu/cpu*/thermal_throttle` on this machine (masked: a power side
/// channel). sysfs shows the same devices in every container.
fn thermal_throttle_dirs() -> Vec<String> {
    let Ok(cpus) = std::fs::read_dir("/sys/devices/system/cpu") else {
        return Vec::new();
    };
    let mut dirs: Vec<String> = cpus
        .filter_map(|entry| {
            let path = entry.ok()?.path().join("thermal_throttle");
            path.is_dir().then(|| path.to_str().map(str::to_owned))?
        })
        .collect();
    dirs.sort();
    dirs
}

fn canonical_root(root: &Path) -> Result<PathBuf> {
    let invalid = |problem| Error::InvalidRoot {
        path: root.to_path_buf(),
        problem,
    };
    let canonical = std::fs::canonicalize(root).map_err(|e| invalid(PathProblem::from_io(&e)))?;
    if !canonical.is_dir() {
        return Err(invalid(PathProblem::NotADirectory));
    }
    if canonical == Path::new("/") {
        return Err(invalid(PathProblem::KindMismatch(
            "is the host's own root directory",
        )));
    }
    Ok(canonical)
}

fn validate_hostname(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("is empty")
    } else if name.len() > 64 {
        Some("is longer than 64 bytes")
    } else if name
        .bytes()
        .any(|b| b == 0 || b == b'/' || b.is_ascii_whitespace())
    {
        Some("contains a NUL byte, a slash or white space")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidHostname {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

fn open_dir(path: &Path) -> Result<OwnedFd, PathProblem> {
    use rustix::fs::{Mode, OFlags};
    rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(PathProblem::from_errno)
}

/// Checks a bind's source on the host and walks its destination inside the root as far as it
/// exists, with the same in-root rules PID 1 will use, so a bad destination is an error now.
fn prepare_bind(bind: &BindMount, root_fd: &OwnedFd) -> Result<BindOp> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let source_err = |problem| Error::BindSource {
        path: bind.source.clone(),
        problem,
    };
    let dest_err = |problem| Error::BindDestination {
        path: bind.destination.clone(),
        problem,
    };
    let source =
        std::fs::canonicalize(&bind.source).map_err(|e| source_err(PathProblem::from_io(&e)))?;
    let source_is_dir = source.is_dir();
    let parts = plan::inside_components(&bind.destination).map_err(dest_err)?;
    let (dest_prefixes, dest_names) = plan::prefixes(&parts);
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    for (index, prefix) in dest_prefixes.iter().enumerate() {
        let is_last = index + 1 == dest_prefixes.len();
        // A file destination that is a symlink gets replaced, so do not follow the last one.
        let nofollow = if is_last && !source_is_dir {
            OFlags::NOFOLLOW
        } else {
            OFlags::empty()
        };
        match rustix::fs::openat2(
            root_fd,
            prefix.as_c_str(),
            OFlags::PATH | OFlags::CLOEXEC | nofollow,
            Mode::empty(),
            resolve,
        ) {
            Ok(fd) => {
                let st = rustix::fs::fstat(&fd).map_err(|e| dest_err(PathProblem::Errno(e)))?;
                let is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode)
                    == rustix::fs::FileType::Directory;
                if !is_last && !is_dir {
                    return Err(dest_err(PathProblem::NotADirectory));
                }
                if is_last && is_dir && !source_is_dir {
                    return Err(dest_err(PathProblem::KindMismatch(
                        "is a directory, but the source is not",
                    )));
                }
                if is_last && !is_dir && source_is_dir {
                    return Err(dest_err(PathProblem::KindMismatch(
                        "is not a directory, but the source is",
                    )));
                }
            }
            // The rest will be created by PID 1.
            Err(Errno::NOENT) => break,
            Err(e) => return Err(dest_err(PathProblem::from_errno(e))),
        }
    }
    Ok(BindOp {
        source: cstring(&source),
        source_is_dir,
        dest_prefixes,
        dest_names,
        read_only: bind.read_only,
        optional: false,
        shown: bind.destination.clone(),
    })
}

/// With the host's network, the host's `/etc/resolv.conf` is bound read-only over the
/// container's, when both exist (a missing file in an existing `/etc` is created).
fn resolv_conf_bind(root_fd: &OwnedFd) -> Option<BindOp> {
    let host = std::fs::canonicalize("/etc/resolv.conf").ok()?;
    let parts = [OsStr::new("etc"), OsStr::new("resolv.conf")];
    let (dest_prefixes, dest_names) = plan::prefixes(&parts);
    let etc = rustix::fs::openat2(
        root_fd,
        c"etc",
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
        rustix::fs::ResolveFlags::BENEATH,
    );
    etc.ok()?;
    Some(BindOp {
        source: cstring(&host),
        source_is_dir: false,
        dest_prefixes,
        dest_names,
        read_only: true,
        optional: true,
        shown: PathBuf::from("/etc/resolv.conf"),
    })
}

/// `loop-control` and every `/dev/loopN` of the host, with their numbers and modes, so that
/// `mount -o loop` works inside (privileged profile, as the original).
fn host_loop_devices() -> Vec<(String, u32, u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/dev") else {
        return Vec::new();
    };
    let mut devices: Vec<(String, u32, u32, u32)> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name().into_string().ok()?;
            let is_loop = name == "loop-control"
                || name
                    .strip_prefix("loop")
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !is_loop {
                return None;
            }
            let meta = entry.metadata().ok()?;
            let ft = meta.file_type();
            if !(ft.is_block_device() || ft.is_char_device()) {
                return None;
            }
            let rdev = meta.rdev();
            Some((
                name,
                rustix::fs::major(rdev),
                rustix::fs::minor(rdev),
                meta.mode() & 0o7777,
            ))
        })
        .collect();
    devices.sort();
    devices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_roots_are_refused_before_anything_starts() {
        let err = Container::start("/nonexistent/furnace-root").unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidRoot {
                    problem: PathProblem::Missing,
                    ..
                }
            ),
            "{err}"
        );
        let err = Container::start("/etc/hostname").unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidRoot {
                    problem: PathProblem::NotADirectory,
                    ..
                }
            ),
            "{err}"
        );
        let err = Container::start("/").unwrap_err();
        assert!(err.to_string().contains("host's own root"), "{err}");
    }

    #[test]
    fn hostnames_are_checked() {
        assert!(validate_hostname("localhost").is_ok());
        assert!(validate_hostname("").is_err());
        assert!(validate_hostname("a b").is_err());
        assert!(validate_hostname(&"x".repeat(65)).is_err());
        let err = Container::builder("/tmp")
            .hostname("bad/name")
            .start()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidHostname { .. }), "{err}");
    }

    #[test]
    fn hardened_plan_masks_drops_and_keeps_host_loops_out() {
        let root = std::env::temp_dir();
        let shown = |hardened: bool| -> Vec<String> {
            let prepared = Container::builder(&root)
                .hardened(hardened)
                .prepare()
                .unwrap();
            prepared.plan.ops.iter().map(ToString::to_string).collect()
        };
        let hardened = shown(true);
        for expected in [
            "mask /proc/kcore",
            "mask /sys/firmware",
            "make /proc/sys read-only",
        ] {
            assert!(
                hardened.iter().any(|s| s == expected),
                "{expected} missing: {hardened:#?}"
            );
        }
        assert_eq!(
            hardened.last().map(String::as_str),
            Some("drop PID 1's capabilities")
        );
        assert!(
            !hardened.iter().any(|s| s.starts_with("mknod /dev/loop")),
            "{hardened:#?}"
        );
        let privileged = shown(false);
        assert!(!privileged
            .iter()
            .any(|s| s.starts_with("mask ") || s.contains("capabilities")));
        let prepared = Container::builder(&root).hardened(true).prepare().unwrap();
        assert_eq!(prepared.capabilities, Some(hardened_capability_mask()));
        assert_eq!(
            hardened_capability_mask(),
            0x5fb,
            "containerd's nine capabilities"
        );
    }
}
