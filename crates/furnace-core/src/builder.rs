//! Configuring a container: the builder and the input checks. Everything here runs before a
//! fork; what it produces, a validated [`Config`], is turned into PID 1's plan by
//! [`crate::plan`] and started by [`crate::launch`].

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use std::os::fd::AsFd;

use furnace_sys::fd::{forksafe as fd, Mode, OFlags};
use furnace_sys::Errno;

use crate::error::{Error, PathProblem, Result};

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
    start_timeout: Duration,
    pub(crate) limits: crate::resources::Limits,
    lifetime: crate::Lifetime,
    name: Option<String>,
    registry: Option<crate::Registry>,
}

/// How long [`ContainerBuilder::start`] waits for PID 1's set-up by default.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);

impl ContainerBuilder {
    /// The defaults: host network, no binds, hostname `localhost`, privileged profile, a
    /// start deadline of [`DEFAULT_START_TIMEOUT`].
    pub(crate) fn new(root: PathBuf) -> Self {
        ContainerBuilder {
            root,
            isolate_network: false,
            binds: Vec::new(),
            hostname: "localhost".into(),
            hardened: false,
            start_timeout: DEFAULT_START_TIMEOUT,
            limits: crate::resources::Limits::default(),
            lifetime: crate::Lifetime::Owner,
            name: None,
            registry: None,
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
    /// is visible where it was asked for, and a later bind may cover an earlier one.
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

    /// Whether any bind mount was asked for.
    pub(crate) fn has_binds(&self) -> bool {
        !self.binds.is_empty()
    }

    /// Validates the inputs: everything that can be refused before a fork.
    pub(crate) fn validate(&self) -> Result<Config> {
        self.limits.validate()?;
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
        let binds = self
            .binds
            .iter()
            .map(|bind| validate_bind(bind, &root, &root_fd))
            .collect::<Result<Vec<_>>>()?;
        if self.hardened {
            for bind in &binds {
                check_against_hardening(bind)?;
            }
        }
        Ok(Config {
            root,
            isolate_network: self.isolate_network,
            binds,
            hostname: self.hostname.clone(),
            hardened: self.hardened,
            start_timeout: self.start_timeout,
            capabilities: self.hardened.then(hardened_capability_mask),
            limits: self.limits.clone(),
            detached,
        })
    }
}

/// A configuration whose inputs were checked: the canonical root, binds with resolved sources
/// and split destinations, a valid hostname.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub root: PathBuf,
    pub isolate_network: bool,
    pub binds: Vec<ValidBind>,
    pub hostname: String,
    pub hardened: bool,
    pub start_timeout: Duration,
    /// The capability mask commands are reduced to (hardened profile), or `None`.
    pub capabilities: Option<u64>,
    /// Resource limits (and whether to make cgroups at all).
    pub limits: crate::resources::Limits,
    /// A detached container's name, registry and timeout.
    pub detached: Option<Detached>,
}

/// What a detached container is started with.
#[derive(Debug, Clone)]
pub(crate) struct Detached {
    pub name: String,
    pub registry: crate::Registry,
    pub timeout: Option<Duration>,
}

/// A bind whose source exists and whose destination was checked as far as it exists.
#[derive(Debug, Clone)]
pub(crate) struct ValidBind {
    /// Host path, absolute and canonical.
    pub source: PathBuf,
    pub source_is_dir: bool,
    /// The destination's components inside the root: `/a/./b/` is `["a", "b"]`.
    pub dest_parts: Vec<OsString>,
    pub read_only: bool,
    /// The destination as the caller wrote it, for messages.
    pub shown: PathBuf,
    /// The destination inside the root with the symlinks of its existing part followed: where
    /// the bind will really be.
    pub resolved: PathBuf,
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

pub(crate) fn hardened_capability_mask() -> u64 {
    HARDENED_CAPABILITIES
        .iter()
        .fold(0, |mask, cap| mask | cap.bitmask())
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

/// Splits a destination inside the root into its normal components, refusing `..` and the
/// root itself. `/a/./b/` and `a/b` both give `["a", "b"]`.
pub(crate) fn inside_components(dest: &Path) -> std::result::Result<Vec<OsString>, PathProblem> {
    let mut parts = Vec::new();
    for component in dest.components() {
        match component {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => return Err(PathProblem::DotDot),
            Component::Normal(part) if part.as_encoded_bytes().contains(&0) => {
                return Err(PathProblem::NulByte)
            }
            Component::Normal(part) => parts.push(part.to_owned()),
        }
    }
    if parts.is_empty() {
        return Err(PathProblem::IsRoot);
    }
    Ok(parts)
}

/// In the hardened profile, a bind onto a masked path would be hidden by the mask made after it,
/// and a writable bind under a read-only path would be made read-only: both are refused, so
/// that no bind silently loses what is written to it.
fn check_against_hardening(bind: &ValidBind) -> Result<()> {
    let dest = &bind.resolved;
    let under = |list: &[&str]| list.iter().any(|p| dest.starts_with(p));
    let problem = if under(&MASKED_PATHS) || is_thermal_throttle(dest) {
        Some("is hidden by the hardened profile (a masked path)")
    } else if dest == Path::new("/dev") || dest == Path::new("/dev/null") {
        Some("would replace the /dev/null the hardened profile masks files with")
    } else if !bind.read_only && under(&READ_ONLY_PATHS) {
        Some("is read-only in the hardened profile: make the bind read-only")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(Error::BindDestination {
            path: bind.shown.clone(),
            problem: PathProblem::KindMismatch(problem),
        }),
        None => Ok(()),
    }
}

/// `/sys/devices/system/cpu/cpu*/thermal_throttle` and below (masked per CPU).
fn is_thermal_throttle(dest: &Path) -> bool {
    let Ok(rest) = dest.strip_prefix("/sys/devices/system/cpu") else {
        return false;
    };
    let mut parts = rest.components();
    let cpu = parts
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    cpu.is_some_and(|c| c.starts_with("cpu"))
        && parts
            .next()
            .is_some_and(|c| c.as_os_str() == "thermal_throttle")
}

/// The top-level directories the container mounts its own filesystems on: what the root has
/// there is covered, so a destination below them is checked by PID 1 alone, in the fresh
/// filesystem.
const FRESH_TOPS: [&str; 4] = ["dev", "proc", "run", "sys"];

/// Checks a bind's source on the host and walks its destination inside the root as far as it
/// exists, with the same in-root rules PID 1 will use, so a bad destination is an error now.
fn validate_bind(bind: &BindMount, root: &Path, root_fd: &OwnedFd) -> Result<ValidBind> {
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
    let dest_parts = inside_components(&bind.destination).map_err(dest_err)?;
    let mut valid = ValidBind {
        resolved: std::iter::once(std::ffi::OsStr::new("/"))
            .chain(dest_parts.iter().map(|p| p.as_os_str()))
            .collect(),
        source,
        source_is_dir,
        dest_parts,
        read_only: bind.read_only,
        shown: bind.destination.clone(),
    };
    if valid
        .dest_parts
        .first()
        .is_some_and(|top| FRESH_TOPS.iter().any(|t| top == t))
    {
        return Ok(valid);
    }
    let (prefixes, _) = crate::paths::prefixes(&valid.dest_parts);
    for (index, prefix) in prefixes.iter().enumerate() {
        let is_last = index + 1 == prefixes.len();
        // A file destination that is a symlink gets replaced, so do not follow the last one.
        let nofollow = if is_last && !source_is_dir {
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
                // Where the prefix really is inside the root, symlinks followed: what the
                // hardened profile's checks must judge.
                if let Some(inside) = path_inside(root, &found) {
                    valid.resolved =
                        inside.join(valid.dest_parts[index + 1..].iter().collect::<PathBuf>());
                }
                let kind = furnace_sys::fs::forksafe::file_type(found.as_fd())
                    .map_err(|e| dest_err(PathProblem::Errno(e)))?;
                let is_dir = kind == furnace_sys::fs::FileType::Directory;
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
mod tests {
    use super::*;
    use crate::Container;

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
    fn destinations_are_split_inside_the_root() {
        let parts = inside_components(Path::new("/a/./b/")).unwrap();
        assert_eq!(parts, vec![OsString::from("a"), OsString::from("b")]);
        assert_eq!(inside_components(Path::new("a/b")).unwrap().len(), 2);
        assert_eq!(
            inside_components(Path::new("/a/../b")),
            Err(PathProblem::DotDot)
        );
        assert_eq!(inside_components(Path::new("/")), Err(PathProblem::IsRoot));
        assert_eq!(
            inside_components(Path::new("/a\0b")),
            Err(PathProblem::NulByte)
        );
    }

    #[test]
    fn hardened_binds_cannot_be_hidden_or_made_read_only() {
        let dir = std::env::temp_dir();
        let refused = |dest: &str, read_only: bool| {
            let mut builder = Container::builder(&dir);
            builder.hardened(true);
            builder.mount(if read_only {
                BindMount::new(&dir, dest).read_only()
            } else {
                BindMount::new(&dir, dest)
            });
            match builder.validate() {
                Err(Error::BindDestination { problem, .. }) => Some(problem.to_string()),
                Err(other) => panic!("{dest}: {other}"),
                Ok(_) => None,
            }
        };
        assert!(refused("/proc/acpi", true).unwrap().contains("masked"));
        assert!(refused("/sys/firmware/x", true).unwrap().contains("masked"));
        assert!(refused("/sys/devices/system/cpu/cpu0/thermal_throttle", true).is_some());
        assert!(refused("/proc/sys/x", false).unwrap().contains("read-only"));
        assert!(refused("/dev/null", true).unwrap().contains("/dev/null"));
        assert!(refused("/dev", true).is_some());
        assert_eq!(refused("/proc/sys/x", true), None);
        assert_eq!(refused("/run/out", false), None);
        // The privileged profile masks nothing.
        let mut builder = Container::builder(&dir);
        builder.bind(&dir, "/proc/acpi");
        assert!(builder.validate().is_ok());
    }

    #[test]
    fn hardened_checks_follow_symlinks_in_the_root() {
        let root = std::env::temp_dir().join(format!("furnace-unit-{}-links", std::process::id()));
        std::fs::create_dir_all(root.join("proc")).unwrap();
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::os::unix::fs::symlink("proc", root.join("p")).unwrap();
        let source = std::env::temp_dir();
        let outcome = |dest: &str| {
            let mut builder = Container::builder(&root);
            builder.hardened(true).bind_ro(&source, dest);
            builder.validate().err().map(|e| e.to_string())
        };
        let through_link = outcome("/p/acpi");
        let plain = outcome("/data/acpi");
        std::fs::remove_dir_all(&root).unwrap();
        assert!(
            through_link
                .as_deref()
                .is_some_and(|e| e.contains("masked")),
            "{through_link:?}"
        );
        assert_eq!(plain, None);
    }

    #[test]
    fn hardened_capabilities_are_containerds_nine() {
        let config = Container::builder(std::env::temp_dir())
            .hardened(true)
            .validate()
            .unwrap();
        assert_eq!(config.capabilities, Some(hardened_capability_mask()));
        assert_eq!(hardened_capability_mask(), 0x5fb);
    }
}
