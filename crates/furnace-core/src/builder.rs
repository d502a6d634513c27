//! Configuring a container: the builder and the input checks. Everything here runs before a
//! fork; what it produces, a validated [`Config`], is turned into PID 1's plan by
//! [`crate::plan`] and started by [`crate::launch`]. The builder's methods for the root's
//! layers and mounts (overlay, read-only root, tmpfs) are in [`crate::roots`], the one for
//! `resolv.conf` in [`crate::resolv`].

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use std::os::fd::AsFd;

use furnace_sys::fd::{forksafe as fd, Mode, OFlags};
use furnace_sys::Errno;

use crate::error::{Error, PathProblem, Result};
use crate::hardening::{check_destination, hardened_capability_mask};
use crate::resolv::ResolvConf;
use crate::roots::{Overlay, TmpfsOptions, ValidOverlay};

pub use crate::hardening::HARDENED_CAPABILITIES;

/// A bind mount from the host into a container.
///
/// The destination is a path *inside* the container, absolute or relative to its root (both
/// mean the same). It is resolved inside the root: a symlink on the way that would lead out of
/// the root is an error, never followed onto the host; a file's destination that is itself a
/// symlink is covered by the bind, not followed (the link stays as it is). A missing
/// destination is created — a directory for a directory source, an empty file otherwise —
/// with its parents, and removed again when the container ends (see
/// [`ContainerBuilder::mount`]). Each component is at most 255 bytes (`NAME_MAX`) and the
/// whole path at most 4095 (`PATH_MAX` less the NUL byte).
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
    attrs: furnace_sys::mount::MountAttrFlags,
}

impl BindMount {
    /// A writable bind mount of host `source` at `destination` inside the container.
    pub fn new(source: impl Into<PathBuf>, destination: impl Into<PathBuf>) -> Self {
        Self {
            source: source.into(),
            destination: destination.into(),
            read_only: false,
            attrs: furnace_sys::mount::MountAttrFlags::empty(),
        }
    }

    /// Makes it `nosuid` (set-user-id bits and file capabilities are ignored), submounts
    /// included.
    #[must_use]
    pub fn nosuid(mut self) -> Self {
        self.attrs |= furnace_sys::mount::MountAttrFlags::MOUNT_ATTR_NOSUID;
        self
    }

    /// Makes it `nodev` (device nodes on it cannot be opened as devices), submounts included.
    #[must_use]
    pub fn nodev(mut self) -> Self {
        self.attrs |= furnace_sys::mount::MountAttrFlags::MOUNT_ATTR_NODEV;
        self
    }

    /// Makes it `noexec` (nothing on it can be executed), submounts included.
    #[must_use]
    pub fn noexec(mut self) -> Self {
        self.attrs |= furnace_sys::mount::MountAttrFlags::MOUNT_ATTR_NOEXEC;
        self
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
    /// Binds and tmpfs mounts, in the order they were added.
    pub(crate) mounts: Vec<UserMount>,
    hostname: String,
    hardened: bool,
    start_timeout: Duration,
    pub(crate) limits: crate::resources::Limits,
    lifetime: crate::Lifetime,
    name: Option<String>,
    registry: Option<crate::Registry>,
    pub(crate) overlay: Option<Overlay>,
    pub(crate) read_only_root: bool,
    pub(crate) resolv_conf: ResolvConf,
    seccomp: Option<crate::Seccomp>,
    private_users: Option<crate::PrivateUsers>,
    exec_init: Option<crate::InitProgram>,
    pub(crate) view: crate::visibility::View,
}

/// A mount of the caller's, as added to the builder.
#[derive(Debug, Clone)]
pub(crate) enum UserMount {
    Bind(BindMount),
    Tmpfs {
        destination: PathBuf,
        options: TmpfsOptions,
    },
}

/// How long [`ContainerBuilder::start`] waits for PID 1's set-up by default.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);

impl ContainerBuilder {
    /// The defaults: host network, no binds, hostname `localhost`, privileged profile, a
    /// start deadline of [`DEFAULT_START_TIMEOUT`], the root directory itself (no overlay),
    /// writable, the host's `resolv.conf` ([`ResolvConf::Auto`]).
    pub(crate) fn new(root: PathBuf) -> Self {
        ContainerBuilder {
            root,
            isolate_network: false,
            mounts: Vec::new(),
            hostname: "localhost".into(),
            hardened: false,
            start_timeout: DEFAULT_START_TIMEOUT,
            limits: crate::resources::Limits::default(),
            lifetime: crate::Lifetime::Owner,
            name: None,
            registry: None,
            overlay: None,
            read_only_root: false,
            resolv_conf: ResolvConf::Auto,
            seccomp: None,
            private_users: None,
            exec_init: None,
            view: crate::visibility::View::default(),
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

    /// Adds a bind mount. Binds are made after the container's own filesystems (`/proc`,
    /// `/dev`, `/sys`, `/run`, …), in the order they were added, so a bind under one of them
    /// is visible where it was asked for, and a later bind may cover an earlier one; they are
    /// in one order with the [`tmpfs`](ContainerBuilder::tmpfs) mounts.
    ///
    /// A destination (or a parent of it) that the root lacks is made in the root — without an
    /// [`overlay`](ContainerBuilder::overlay), in the root directory itself — and removed when
    /// the container ends, as are the mount points of `/dev`, `/proc`, `/sys` and `/run` of
    /// a root without them and the `/etc/resolv.conf` of one without it: only what furnace
    /// made, a directory only while empty, a file only while empty, never through a symlink;
    /// the modification time of the directory they were made in is set back when its entries
    /// are the same as before. What stays: those mount points while another process (another
    /// container) has the same root as its root, since they are its mount points too; a
    /// directory the container wrote into; and whatever was made when the owner is killed by
    /// `SIGKILL` or a detached container ends by its timeout (nobody is left to remove it).
    /// With an [`Overlay`] nothing is ever made in the root directory.
    pub fn mount(&mut self, bind: BindMount) -> &mut Self {
        self.mounts.push(UserMount::Bind(bind));
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

    /// In the hardened profile started as root: whose ids the container's root has
    /// ([`PrivateUsers`](crate::PrivateUsers)). Default:
    /// [`PrivateUsers::Pick`](crate::PrivateUsers::Pick) — a user namespace of the container's
    /// own whose root is a free range of 65,536 host ids (picked from a pool and locked for the
    /// container's life), so that root inside is nobody outside.
    ///
    /// The root, the overlay's layers and the caller's binds are idmapped mounts: files owned
    /// by root on disk belong to the container's root, and what it writes lands owned by root
    /// on disk. They must be on a filesystem that can be idmapped (ext4, xfs, btrfs, tmpfs, …;
    /// not overlayfs, whose own mounts the kernel refuses to idmap: use
    /// [`overlay`](ContainerBuilder::overlay) over its layers instead), else the start fails
    /// with [`Error::NotIdmappable`](crate::Error::NotIdmappable), or with
    /// [`PickOrReadOnly`](crate::PrivateUsers::PickOrReadOnly) mounts them read-only. `/dev`'s
    /// nodes are the host's, bound in, as without root. Without root (the container is in the
    /// caller's user namespace already) and in the privileged profile it changes nothing.
    ///
    /// ```no_run
    /// use furnace_core::Container;
    /// let c = Container::builder("/srv/rootfs").hardened(true).start()?;
    /// // Root inside is the first id of the container's range outside.
    /// assert!(c.id_range_start().is_some_and(|start| start >= 0x7000_0000));
    /// # Ok::<(), furnace_core::Error>(())
    /// ```
    pub fn private_users(&mut self, private: crate::PrivateUsers) -> &mut Self {
        self.private_users = Some(private);
        self
    }

    /// Makes PID 1 become `program` once the container is set up (and, with a
    /// [`start_gate`](crate::InitProgram::start_gate), started), instead of staying furnace's
    /// init: the container's main process, as an OCI runtime runs it ([`InitProgram`]). Needs
    /// [`Lifetime::Detached`](crate::Lifetime::Detached) and the privileged profile (the
    /// program's capabilities are its own); the seccomp filter
    /// ([`seccomp`](ContainerBuilder::seccomp)) is attached to it last.
    ///
    /// [`InitProgram`]: crate::InitProgram
    pub fn exec_init(&mut self, program: crate::InitProgram) -> &mut Self {
        self.exec_init = Some(program);
        self
    }

    /// The seccomp filter every command runs under ([`Seccomp`](crate::Seccomp)), attached
    /// last before the program executes. Default: [`Seccomp::Default`](crate::Seccomp::Default)
    /// in the hardened profile, [`Seccomp::Unconfined`](crate::Seccomp::Unconfined) in the
    /// privileged one. A profile is compiled when the container starts: a bad one fails the
    /// start before anything is made.
    ///
    /// ```no_run
    /// use furnace_core::{Container, Seccomp, SeccompProfile};
    /// let json = std::fs::read_to_string("profile.json")?;
    /// let caps = furnace_sys::cred::CapabilitySet::empty();
    /// let profile = SeccompProfile::from_json(&json, &caps)?;
    /// let c = Container::builder("/srv/rootfs")
    ///     .hardened(true)
    ///     .seccomp(Seccomp::Profile(profile))
    ///     .start()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seccomp(&mut self, seccomp: crate::Seccomp) -> &mut Self {
        self.seccomp = Some(seccomp);
        self
    }

    /// How long [`start`](ContainerBuilder::start) waits for PID 1 to finish setting the
    /// container up (default [`DEFAULT_START_TIMEOUT`], 30 s). A step that hangs — a bind
    /// source on an unresponsive network filesystem, say — then fails the start with
    /// [`Error::StartTimeout`] naming the step, and PID 1 is killed and reaped.
    ///
    /// The deadline also covers the checks made on the host before PID 1 starts when the
    /// container has binds: they run on a helper thread, so a bind source on an unresponsive
    /// filesystem fails the start too (step 0). A root on such a filesystem is checked on the
    /// calling thread and can block it. A process blocked in an uninterruptible sleep cannot
    /// be killed until the kernel call returns; in that case the start returns only once it
    /// does.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use furnace_core::Container;
    /// let container = Container::builder("/srv/rootfs")
    ///     .bind_ro("/mnt/nfs/data", "/data")
    ///     .start_timeout(Duration::from_secs(5))
    ///     .start()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.start_timeout = timeout;
        self
    }

    /// How long the container lives: as long as its owner (the default), or until it is
    /// stopped from any process ([`Lifetime::Detached`](crate::Lifetime::Detached), which gives
    /// it a name in a [`Registry`](crate::Registry)). See [`crate::Lifetime`] for an example.
    pub fn lifetime(&mut self, lifetime: crate::Lifetime) -> &mut Self {
        self.lifetime = lifetime;
        self
    }

    /// The name of a detached container (default: `c-` and 8 random hex digits): 1 to
    /// [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) letters, digits, `_`, `.` or `-`, starting with a
    /// letter or digit. A bad name is [`Error::InvalidName`], a name in use
    /// [`Error::NameInUse`], both before any namespace is made. Giving a name makes the
    /// container detached.
    pub fn name(&mut self, name: impl Into<String>) -> &mut Self {
        self.name = Some(name.into());
        if self.lifetime == crate::Lifetime::Owner {
            self.lifetime = crate::Lifetime::Detached { timeout: None };
        }
        self
    }

    /// The registry a detached container is named in (default: [`Registry::open`]'s).
    ///
    /// [`Registry::open`]: crate::Registry::open
    pub fn registry(&mut self, registry: crate::Registry) -> &mut Self {
        self.registry = Some(registry);
        self
    }

    /// The start deadline, as set (for [`crate::launch`]).
    pub(crate) fn deadline(&self) -> Duration {
        self.start_timeout
    }

    /// Whether anything on the host beyond the root is to be checked (a bind source, an
    /// overlay's directories): what may block on an unresponsive filesystem.
    pub(crate) fn has_binds(&self) -> bool {
        self.mounts.iter().any(|m| matches!(m, UserMount::Bind(_)))
            || matches!(
                self.overlay,
                Some(Overlay::Upper(_) | Overlay::UpperWork { .. })
            )
    }

    /// Validates the inputs: everything that can be refused before a fork.
    pub(crate) fn validate(&self) -> Result<Config> {
        self.limits.validate()?;
        crate::devices::check_nodes(&self.view.device_nodes, self.hardened)?;
        if let Some(program) = &self.exec_init {
            let refuse = |reason| program.invalid(reason);
            if self.lifetime == crate::Lifetime::Owner {
                return Err(refuse(
                    "needs a detached lifetime (Lifetime::Detached): the program, not its \
                     starter, decides how long the container lives",
                ));
            }
            if self.hardened {
                return Err(refuse(
                    "needs the privileged profile: the program's capabilities, user and \
                     limits are given with it",
                ));
            }
            // Checked before furnace opens any fd: with 3..3 + n open, every fd it makes is
            // numbered above them, and PID 1 can keep them where they are.
            let preserved = 3..3 + program.preserve_fds.min(1 << 20) as i32;
            if program.preserve_fds > 1 << 20 || !preserved.clone().all(furnace_sys::fd::is_open) {
                return Err(refuse(
                    "preserves fds that are not all open in the starter (3 to 3 + count - 1)",
                ));
            }
        }
        let detached = match self.lifetime {
            crate::Lifetime::Owner => None,
            crate::Lifetime::Detached { timeout } => {
                let name = match &self.name {
                    Some(name) => name.clone(),
                    None => crate::registry::generate_name(),
                };
                crate::registry::validate_name(&name)?;
                let registry = match &self.registry {
                    Some(registry) => registry.clone(),
                    None => crate::Registry::at(crate::Registry::default_dir()?),
                };
                Some(Detached {
                    name,
                    registry,
                    timeout,
                })
            }
        };
        let root = canonical_root(&self.root)?;
        validate_hostname(&self.hostname)?;
        let root_fd = open_dir(&root).map_err(|problem| Error::InvalidRoot {
            path: self.root.clone(),
            problem,
        })?;
        let mounts = self
            .mounts
            .iter()
            .map(|mount| validate_mount(mount, &root, &root_fd, self.hardened))
            .collect::<Result<Vec<_>>>()?;
        let overlay = match &self.overlay {
            Some(overlay) => Some(overlay.validate(&root)?),
            None => None,
        };
        Ok(Config {
            root,
            isolate_network: self.isolate_network,
            mounts,
            hostname: self.hostname.clone(),
            hardened: self.hardened,
            start_timeout: self.start_timeout,
            capabilities: self.hardened.then(hardened_capability_mask),
            seccomp_default: matches!(
                (&self.seccomp, self.hardened),
                (Some(crate::Seccomp::Default), _) | (None, true)
            ),
            seccomp: match (&self.seccomp, self.hardened) {
                (Some(crate::Seccomp::Default), _) | (None, true) => {
                    Some(crate::seccomp::default_filters()?)
                }
                (Some(chosen), _) => {
                    let filters = chosen.compile()?;
                    (!filters.is_empty()).then(|| std::sync::Arc::new(filters))
                }
                (None, false) => None,
            },
            limits: self.limits.clone(),
            detached,
            overlay,
            read_only_root: self.read_only_root,
            resolv_conf: self.resolv_conf,
            private_users: match self.hardened {
                true => self.private_users.unwrap_or_default(),
                false => crate::PrivateUsers::Off,
            },
            exec_init: self.exec_init.clone(),
            view: self.view.validate(self.isolate_network)?,
        })
    }
}

/// A configuration whose inputs were checked: the canonical root, binds with resolved sources
/// and split destinations, a valid hostname.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub root: PathBuf,
    pub isolate_network: bool,
    /// The caller's binds and tmpfs mounts, in order.
    pub mounts: Vec<ValidMount>,
    pub hostname: String,
    pub hardened: bool,
    pub start_timeout: Duration,
    /// The capability mask commands are reduced to (hardened profile), or `None`.
    pub capabilities: Option<u64>,
    /// The seccomp filters commands run under, compiled; `None` when unconfined.
    pub seccomp: Option<std::sync::Arc<crate::SeccompFilters>>,
    /// The filters are furnace's default profile, which a command given capabilities gets
    /// relaxed ([`SeccompProfile::default_for`](crate::SeccompProfile::default_for)).
    pub seccomp_default: bool,
    /// Resource limits (and whether to make cgroups at all).
    pub limits: crate::resources::Limits,
    /// A detached container's name, registry and timeout.
    pub detached: Option<Detached>,
    /// The overlay over the root, its directories checked.
    pub overlay: Option<ValidOverlay>,
    pub read_only_root: bool,
    pub resolv_conf: ResolvConf,
    /// The hardened profile's user namespace ([`ContainerBuilder::private_users`]); `Off` in
    /// the privileged profile.
    pub private_users: crate::PrivateUsers,
    /// The program PID 1 becomes ([`ContainerBuilder::exec_init`]).
    pub exec_init: Option<crate::InitProgram>,
    /// Masks, read-only paths, sysctls, `nodev`, a joined network namespace.
    pub view: crate::visibility::ValidView,
}

/// What a detached container is started with.
#[derive(Debug, Clone)]
pub(crate) struct Detached {
    pub name: String,
    pub registry: crate::Registry,
    pub timeout: Option<Duration>,
}

/// A mount of the caller's whose source exists and whose destination was checked as far as
/// it exists.
#[derive(Debug, Clone)]
pub(crate) struct ValidMount {
    pub kind: MountKind,
    pub dest: ValidDest,
}

/// What is mounted.
#[derive(Debug, Clone)]
pub(crate) enum MountKind {
    Bind {
        /// Host path, absolute and canonical.
        source: PathBuf,
        source_is_dir: bool,
        read_only: bool,
        /// `nosuid`, `nodev`, `noexec` as asked.
        attrs: furnace_sys::mount::MountAttrFlags,
    },
    Tmpfs(TmpfsOptions),
}

/// A destination inside the root, checked.
#[derive(Debug, Clone)]
pub(crate) struct ValidDest {
    /// The destination's components inside the root: `/a/./b/` is `["a", "b"]`.
    pub parts: Vec<OsString>,
    /// The destination as the caller wrote it, for messages.
    pub shown: PathBuf,
    /// The destination inside the root with the symlinks of its existing part followed: where
    /// the mount will really be.
    pub resolved: PathBuf,
    /// How many of its first components the root has (the rest PID 1 makes).
    pub existing: usize,
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

fn open_dir(path: &Path) -> std::result::Result<OwnedFd, PathProblem> {
    let path = crate::paths::cstring(path);
    fd::open(&path, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
        .map_err(PathProblem::from_errno)
}

/// The longest name of one path component (`NAME_MAX`).
pub(crate) const NAME_MAX: usize = 255;

/// The longest path the kernel takes, without its NUL byte (`PATH_MAX` - 1).
pub(crate) const PATH_MAX: usize = 4095;

/// Splits a destination inside the root into its normal components, refusing `..`, the root
/// itself, and lengths the kernel would refuse half-way (a component over `NAME_MAX`, the path
/// inside over `PATH_MAX`). `/a/./b/` and `a/b` both give `["a", "b"]`.
pub(crate) fn inside_components(dest: &Path) -> std::result::Result<Vec<OsString>, PathProblem> {
    let mut parts = Vec::new();
    for component in dest.components() {
        match component {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => return Err(PathProblem::DotDot),
            Component::Normal(part) if part.as_encoded_bytes().contains(&0) => {
                return Err(PathProblem::NulByte)
            }
            Component::Normal(part) if part.len() > NAME_MAX => {
                return Err(PathProblem::NameTooLong { len: part.len() })
            }
            Component::Normal(part) => parts.push(part.to_owned()),
        }
    }
    if parts.is_empty() {
        return Err(PathProblem::IsRoot);
    }
    // `/a/b`: a slash before each component.
    let len = parts.iter().map(|p| p.len() + 1).sum();
    if len > PATH_MAX {
        return Err(PathProblem::PathTooLong { len });
    }
    Ok(parts)
}

/// The top-level directories the container mounts its own filesystems on: what the root has
/// there is covered, so a destination below them is checked by PID 1 alone, in the fresh
/// filesystem.
const FRESH_TOPS: [&str; 4] = ["dev", "proc", "run", "sys"];

/// Checks a mount of the caller's: a bind's source on the host, a tmpfs's options, and the
/// destination inside the root (as far as it exists, with the rules PID 1 will use, so that a
/// bad destination is an error now); in the hardened profile, that it is neither hidden nor
/// made read-only by the profile.
fn validate_mount(
    mount: &UserMount,
    root: &Path,
    root_fd: &OwnedFd,
    hardened: bool,
) -> Result<ValidMount> {
    let (kind, destination, error): (_, _, fn(PathBuf, PathProblem) -> Error) = match mount {
        UserMount::Bind(bind) => {
            let source = std::fs::canonicalize(&bind.source).map_err(|e| Error::BindSource {
                path: bind.source.clone(),
                problem: PathProblem::from_io(&e),
            })?;
            let kind = MountKind::Bind {
                source_is_dir: source.is_dir(),
                source,
                read_only: bind.read_only,
                attrs: bind.attrs,
            };
            (kind, &bind.destination, |path, problem| {
                Error::BindDestination { path, problem }
            })
        }
        UserMount::Tmpfs {
            destination,
            options,
        } => {
            options.validate()?;
            (MountKind::Tmpfs(*options), destination, |path, problem| {
                Error::TmpfsDestination { path, problem }
            })
        }
    };
    let dest_err = |problem| error(destination.clone(), problem);
    let (is_dir, read_only) = match &kind {
        MountKind::Bind {
            source_is_dir,
            read_only,
            ..
        } => (*source_is_dir, *read_only),
        MountKind::Tmpfs(_) => (true, false),
    };
    let dest = validate_destination(destination, is_dir, root, root_fd, &dest_err)?;
    if hardened {
        check_destination(&dest.resolved, read_only, dest_err)?;
    }
    Ok(ValidMount { kind, dest })
}

/// Walks a destination inside the root as far as it exists, with the same in-root resolution
/// PID 1 uses; `is_dir`: what is mounted there is a directory.
fn validate_destination(
    destination: &Path,
    is_dir: bool,
    root: &Path,
    root_fd: &OwnedFd,
    dest_err: &dyn Fn(PathProblem) -> Error,
) -> Result<ValidDest> {
    let parts = inside_components(destination).map_err(dest_err)?;
    let mut valid = ValidDest {
        resolved: std::iter::once(std::ffi::OsStr::new("/"))
            .chain(parts.iter().map(|p| p.as_os_str()))
            .collect(),
        parts,
        shown: destination.to_path_buf(),
        existing: 0,
    };
    if valid
        .parts
        .first()
        .is_some_and(|top| FRESH_TOPS.iter().any(|t| top == t))
    {
        return Ok(valid);
    }
    let (prefixes, _) = crate::paths::prefixes(&valid.parts);
    for (index, prefix) in prefixes.iter().enumerate() {
        let is_last = index + 1 == prefixes.len();
        // A file's destination that is a symlink is covered, so do not follow the last one.
        let nofollow = if is_last && !is_dir {
            OFlags::NOFOLLOW
        } else {
            OFlags::empty()
        };
        // The same in-root resolution PID 1 uses.
        match fd::openat_beneath(
            root_fd.as_fd(),
            prefix,
            OFlags::PATH | nofollow,
            Mode::empty(),
        ) {
            Ok(found) => {
                valid.existing = index + 1;
                // Where the prefix really is inside the root, symlinks followed: what the
                // hardened profile's checks must judge.
                if let Some(inside) = path_inside(root, &found) {
                    valid.resolved =
                        inside.join(valid.parts[index + 1..].iter().collect::<PathBuf>());
                }
                let kind = furnace_sys::fs::forksafe::file_type(found.as_fd())
                    .map_err(|e| dest_err(PathProblem::Errno(e)))?;
                let found_dir = kind == furnace_sys::fs::FileType::Directory;
                if !is_last && !found_dir {
                    return Err(dest_err(PathProblem::NotADirectory));
                }
                if is_last && found_dir && !is_dir {
                    return Err(dest_err(PathProblem::KindMismatch(
                        "is a directory, but the source is not",
                    )));
                }
                if is_last && !found_dir && is_dir {
                    return Err(dest_err(PathProblem::KindMismatch(
                        "is not a directory, but what is mounted there is",
                    )));
                }
            }
            // The rest will be created by PID 1.
            Err(Errno::NOENT) => break,
            Err(e) => return Err(dest_err(PathProblem::from_errno(e))),
        }
    }
    Ok(valid)
}

/// The path inside the root of an fd opened beneath it (`/proc/self/fd/N` names it on the
/// host), or `None` when it cannot be told.
fn path_inside(root: &Path, fd: &OwnedFd) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    let host = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    let rest = host.strip_prefix(root).ok()?;
    Some(Path::new("/").join(rest))
}

#[cfg(test)]
mod tests;
