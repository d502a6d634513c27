//! Named containers that outlive the process that started them: where their state lives, how
//! a name is claimed, and how a container whose PID 1 is gone is recognised and cleaned up.
//!
//! A [`Registry`] is a directory (by default `/run/furnace` for root, `$XDG_RUNTIME_DIR/furnace`
//! for anyone else) with one directory per container, named after it:
//!
//! ```text
//! /run/furnace/web/state.json    what another process needs to attach (written once)
//! /run/furnace/web/attach.sock   started without root: where PID 1 hands out its namespaces
//! ```
//!
//! A name is claimed atomically: the starting process fills a directory of its own
//! (`.tmp-<pid>-<start time>-<attempt>-<name>`) and renames it to the name with `RENAME_NOREPLACE`
//! once PID 1 is ready, so a container directory is either absent or complete, and of two
//! starts under one name exactly one wins. A container is *stale* when the process its state
//! names is gone, or its pid now belongs to a process that started at another time: every
//! look at the registry removes stale entries (and their cgroups) before answering.

use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::container::Container;
use crate::error::{Error, Result};

/// How long a container lives.
///
/// ```no_run
/// use std::time::Duration;
/// use furnace_core::{Container, Lifetime, Registry};
/// // Started here, used and stopped from other processes by its name.
/// let web = Container::builder("/srv/rootfs")
///     .lifetime(Lifetime::Detached { timeout: Some(Duration::from_secs(3600)) })
///     .name("web")
///     .start()?;
/// drop(web); // releases the handle; the container runs on
/// let registry = Registry::open()?;
/// let web = registry.attach("web")?;
/// web.command("hostname").status()?;
/// registry.stop("web")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Lifetime {
    /// The container lives as long as the [`Container`] handle and the process that started
    /// it: dropping the handle, or the death of the process (even by `SIGKILL`), ends it.
    #[default]
    Owner,
    /// The container lives until it is stopped ([`Container::stop`] on any handle of it,
    /// [`Registry::stop`]), from any process, or until `timeout` has passed since it
    /// started. Dropping a handle only releases it. The container gets a name in a
    /// [`Registry`], by which other processes [attach](Registry::attach) to it.
    Detached {
        /// How long the container may live at most (`None`: until stopped).
        timeout: Option<Duration>,
    },
}

/// The longest container name.
pub const MAX_NAME_LEN: usize = 64;

/// A directory of named, [detached](Lifetime::Detached) containers: one directory per
/// container, named after it, with `state.json` (what another process needs to attach: PID 1's
/// pid and start time, the root, the profile, the namespaces and cgroups) and, for a container
/// started without root, `attach.sock`. A name is claimed atomically once PID 1 is ready; an
/// entry whose PID 1 is gone (or whose pid now belongs to a process started at another time)
/// is removed, with its cgroups, by the next look.
///
/// ```no_run
/// use furnace_core::Registry;
/// let registry = Registry::open()?;
/// for info in registry.list()? {
///     println!("{} pid {} on {}", info.name, info.pid, info.root.display());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    dir: PathBuf,
}

/// What a registry knows of a running container.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ContainerInfo {
    /// Its name.
    pub name: String,
    /// The host pid of its PID 1.
    pub pid: u32,
    /// Its root directory (canonical host path).
    pub root: PathBuf,
    /// When it was started.
    pub created: SystemTime,
    /// When its timeout ends it, if it has one.
    pub expires: Option<SystemTime>,
    /// Whether it runs the hardened profile.
    pub hardened: bool,
    /// Whether it was started without root (in a user namespace).
    pub rootless: bool,
    /// How many processes run in it, PID 1 included (`None`: this process may not look).
    pub processes: Option<usize>,
}

/// What `state.json` holds: everything a process needs to attach to the container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    pub version: u32,
    pub name: String,
    pub pid: u32,
    /// PID 1's start time (`/proc/<pid>/stat` field 22): with the pid, it names the process.
    pub start_time: u64,
    pub root: PathBuf,
    /// Seconds since the epoch.
    pub created: u64,
    /// Seconds since the epoch.
    pub expires: Option<u64>,
    pub capabilities: Option<u64>,
    /// The host's loop devices at the start (privileged profile), to detach what the container
    /// attached when it is stopped.
    #[serde(default)]
    pub loops: Option<crate::loops::Snapshot>,
    /// The filters are furnace's default profile (relaxed for a command's capabilities).
    #[serde(default)]
    pub seccomp_default: bool,
    /// The compiled seccomp filters, each instruction packed in a `u64`
    /// ([`SeccompFilters::to_packed`](crate::SeccompFilters)); empty when unconfined.
    #[serde(default)]
    pub seccomp: Vec<Vec<u64>>,
    /// The namespaces PID 1 has of its own (bits of [`furnace_sys::Namespaces`]).
    pub namespaces: u32,
    /// Started in a user namespace: attach through `attach.sock`.
    pub user_namespace: bool,
    /// The hardened profile with a user namespace of its own: the first host id of its range
    /// (commands join the user namespace through the pidfd and become root in it).
    #[serde(default)]
    pub private_users: Option<u32>,
    /// The inode of PID 1's pid namespace, to count the processes in it.
    pub pid_namespace: u64,
    pub memory_max: Option<u64>,
    pub cgroups: Option<crate::cgroups::Record>,
}

/// The version of [`State`] this build writes and reads.
const STATE_VERSION: u32 = 1;
const STATE_FILE: &str = "state.json";
/// The socket PID 1 of a container started without root listens on.
pub(crate) const ATTACH_SOCKET: &str = "attach.sock";
const TMP_PREFIX: &str = ".tmp-";

impl Registry {
    /// The registry at its standard place ([`Registry::default_dir`]), made if missing.
    pub fn open() -> Result<Registry> {
        let registry = Registry::at(Registry::default_dir()?);
        registry.ensure_dir()?;
        Ok(registry)
    }

    /// The registry in `dir` (made, mode 0700, when a container is first started there).
    pub fn at(dir: impl Into<PathBuf>) -> Registry {
        Registry { dir: dir.into() }
    }

    /// The standard place: `/run/furnace` for root; for anyone else (a process in a user
    /// namespace of its own too) `$XDG_RUNTIME_DIR/furnace`.
    pub fn default_dir() -> Result<PathBuf> {
        if rustix::process::geteuid().is_root() && !crate::rootless::in_user_namespace() {
            return Ok(PathBuf::from("/run/furnace"));
        }
        match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(dir) if Path::new(&dir).is_absolute() => Ok(Path::new(&dir).join("furnace")),
            _ => Err(Error::Registry {
                what: "find the directory of named containers: XDG_RUNTIME_DIR is not set to an \
                       absolute path (log in through a session that sets it, or give a \
                       directory of your own: Registry::at, `furnace --state-dir`)"
                    .into(),
                error: io::ErrorKind::NotFound.into(),
            }),
        }
    }

    /// The registry's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The running containers, by name. Stale entries are removed first.
    pub fn list(&self) -> Result<Vec<ContainerInfo>> {
        let mut infos = Vec::new();
        for name in self.names()? {
            if let Some(state) = self.live_state(&name)? {
                infos.push(info(&state));
            }
        }
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(infos)
    }

    /// What the registry knows of the container `name`: [`Error::NoSuchContainer`] when no
    /// container of that name runs (never started, stopped, or ended by its timeout).
    pub fn info(&self, name: &str) -> Result<ContainerInfo> {
        validate_name(name)?;
        self.live_state(name)?
            .map(|state| info(&state))
            .ok_or_else(|| Error::NoSuchContainer { name: name.into() })
    }

    /// A handle on the running container `name`, to run commands in it with
    /// [`Container::command`] as if this process had started it. Dropping the handle releases
    /// it; [`Container::stop`] stops the container.
    ///
    /// PID 1 is held by a pidfd checked against the start time the state records, never by a
    /// bare pid. A container started without root is joined through its user namespace,
    /// which the kernel allows only to a single-threaded process: attach to one first thing
    /// in `main`, like [`crate::rootless::enter`] (this process then stays in that
    /// namespace).
    pub fn attach(&self, name: &str) -> Result<Container> {
        validate_name(name)?;
        let state = self
            .live_state(name)?
            .ok_or_else(|| Error::NoSuchContainer { name: name.into() })?;
        crate::attach::attach(self.entry(name), state)
    }

    /// Like [`attach`](Registry::attach), for the container whose PID 1 has host pid `pid`.
    pub fn attach_pid(&self, pid: u32) -> Result<Container> {
        for name in self.names()? {
            if let Some(state) = self.live_state(&name)? {
                if state.pid == pid {
                    return crate::attach::attach(self.entry(&name), state);
                }
            }
        }
        Err(Error::NoSuchContainer {
            name: format!("with PID 1 at pid {pid}"),
        })
    }

    /// Stops the container `name`: kills every process in it, waits until PID 1 is gone,
    /// removes its cgroups and its state. Returns whether it was running; stopping a name
    /// that does not run is no error (`Ok(false)`), so that stopping twice is harmless.
    pub fn stop(&self, name: &str) -> Result<bool> {
        validate_name(name)?;
        let Some(state) = self.live_state(name)? else {
            return Ok(false);
        };
        // No namespace is joined to stop: a signal through the pidfd, the cgroups and the
        // directory need none.
        match crate::attach::handle(self.entry(name), state) {
            Ok(container) => container.stop().map(|()| true),
            // It ended between the look and the attach: cleaned up by the next look.
            Err(Error::NoSuchContainer { .. }) => self.live_state(name).map(|_| false),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn entry(&self, name: &str) -> Entry {
        Entry {
            registry: self.dir.clone(),
            name: name.to_owned(),
        }
    }

    fn ensure_dir(&self) -> Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        match std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
        {
            Ok(()) => Ok(()),
            Err(error) => Err(Error::Registry {
                what: format!("create {}", self.dir.display()),
                error,
            }),
        }
    }

    /// The names of the container directories, and the leftovers of starts whose process
    /// died swept.
    fn names(&self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => {
                return Err(Error::Registry {
                    what: format!("read {}", self.dir.display()),
                    error,
                })
            }
        };
        let mut names = Vec::new();
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if let Some(rest) = name.strip_prefix(TMP_PREFIX) {
                if starter_of(rest).is_some_and(process_is_gone) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            } else if validate_name(&name).is_ok() {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// The state of `name` if its PID 1 runs; a stale entry is removed (with its cgroups).
    fn live_state(&self, name: &str) -> Result<Option<State>> {
        let path = self.dir.join(name).join(STATE_FILE);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(Error::Registry {
                    what: format!("read {}", path.display()),
                    error,
                })
            }
        };
        let state: State = serde_json::from_slice(&text).map_err(|e| Error::Registry {
            what: format!("read {}", path.display()),
            error: io::Error::new(io::ErrorKind::InvalidData, e),
        })?;
        if state.version != STATE_VERSION || state.name != name {
            return Err(Error::Registry {
                what: format!(
                    "read {}: version {} for {:?}, expected version {STATE_VERSION} for {name:?}",
                    path.display(),
                    state.version,
                    state.name
                ),
                error: io::ErrorKind::InvalidData.into(),
            });
        }
        if is_alive(state.pid, state.start_time) {
            return Ok(Some(state));
        }
        clean_up(&self.entry(name), &state);
        Ok(None)
    }
}

/// A container's place in a registry.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    registry: PathBuf,
    name: String,
}

impl Entry {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.registry.join(&self.name)
    }

    /// Removes the container's directory (already gone: fine).
    pub(crate) fn remove(&self) -> Result<()> {
        match std::fs::remove_dir_all(self.path()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(Error::Registry {
                what: format!("remove {}", self.path().display()),
                error,
            }),
        }
    }
}

/// Removes what a container whose PID 1 is gone (its timeout ran out, or it was killed) left:
/// its cgroups (empty, since its pid namespace is), what PID 1 made in the root (recorded in
/// the entry), and its directory. Another process may be doing the same: whatever is already
/// gone is fine.
fn clean_up(entry: &Entry, state: &State) {
    if let Some(record) = &state.cgroups {
        if let Ok(cgroups) = crate::cgroups::Cgroups::reopen(record) {
            let _ = cgroups.kill_all();
            let _ = cgroups.remove();
        }
    }
    if let Some(traces) = crate::traces::Traces::load(&entry.path(), &state.root) {
        traces.remove();
    }
    let _ = entry.remove();
}

/// A name being claimed: the directory of a start in progress, renamed to the name when PID 1
/// is ready ([`Pending::commit`]), removed if the start fails (on drop).
#[derive(Debug)]
pub(crate) struct Pending {
    registry: Registry,
    name: String,
    tmp: PathBuf,
    committed: bool,
}

impl Pending {
    /// Checks that `name` is free (removing a stale entry of that name), and makes the
    /// directory of the start.
    pub(crate) fn create(registry: &Registry, name: &str) -> Result<Pending> {
        validate_name(name)?;
        registry.ensure_dir()?;
        if let Some(state) = registry.live_state(name)? {
            return Err(Error::NameInUse {
                name: name.into(),
                pid: state.pid,
            });
        }
        // One directory per attempt: threads of one process may race for a name too.
        static ATTEMPT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let attempt = ATTEMPT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = registry.dir.join(format!(
            "{TMP_PREFIX}{}-{}-{attempt}-{name}",
            std::process::id(),
            own_start_time()
        ));
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
            .create(&tmp)
            .map_err(|error| Error::Registry {
                what: format!("create {}", tmp.display()),
                error,
            })?;
        Ok(Pending {
            registry: registry.clone(),
            name: name.to_owned(),
            tmp,
            committed: false,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The socket PID 1 will listen on (for a container in a user namespace).
    pub(crate) fn listen(&self) -> Result<std::os::fd::OwnedFd> {
        let dir = std::fs::File::open(&self.tmp).map_err(|error| Error::Registry {
            what: format!("open {}", self.tmp.display()),
            error,
        })?;
        furnace_sys::fd::listen_unix(dir.as_fd(), ATTACH_SOCKET).map_err(|error| Error::Sys {
            context: "make the socket to attach to the container",
            error,
        })
    }

    /// Writes the state and claims the name: [`Error::NameInUse`] when another start took it
    /// meanwhile.
    pub(crate) fn commit(mut self, state: &State) -> Result<Entry> {
        let path = self.tmp.join(STATE_FILE);
        let json = serde_json::to_vec_pretty(state).map_err(|e| Error::Registry {
            what: format!("write {}", path.display()),
            error: io::Error::other(e),
        })?;
        std::fs::write(&path, json).map_err(|error| Error::Registry {
            what: format!("write {}", path.display()),
            error,
        })?;
        let target = self.registry.dir.join(&self.name);
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            &self.tmp,
            rustix::fs::CWD,
            &target,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => {
                self.committed = true;
                Ok(self.registry.entry(&self.name))
            }
            Err(rustix::io::Errno::EXIST) | Err(rustix::io::Errno::NOTEMPTY) => {
                Err(Error::NameInUse {
                    name: self.name.clone(),
                    pid: self
                        .registry
                        .live_state(&self.name)
                        .ok()
                        .flatten()
                        .map_or(0, |s| s.pid),
                })
            }
            Err(errno) => Err(Error::Registry {
                what: format!("rename {} to {}", self.tmp.display(), target.display()),
                error: errno.into(),
            }),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Checks a container name: 1 to [`MAX_NAME_LEN`] characters of `A-Z a-z 0-9 _ . -`, the
/// first a letter or digit (so no name is `.`, `..`, hidden, or an option).
pub fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("it is longer than 64 characters")
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Some("it must start with a letter or a digit")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        Some("only letters, digits, '_', '.' and '-' are allowed")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(Error::InvalidName {
            name: name.into(),
            reason,
        }),
    }
}

/// A fresh name: `c-` and 8 random hex digits.
pub(crate) fn generate_name() -> String {
    let mut bytes = [0u8; 4];
    let random = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| io::Read::read_exact(&mut f, &mut bytes));
    if random.is_err() {
        // No /dev/urandom: unique enough for one machine.
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        bytes = (nanos ^ std::process::id().rotate_left(16)).to_le_bytes();
    }
    format!("c-{:08x}", u32::from_le_bytes(bytes))
}

/// Whether the process `pid` runs and started at `start_time` (not a zombie, not exiting).
pub(crate) fn is_alive(pid: u32, start_time: u64) -> bool {
    furnace_sys::process::ProcStat::read(pid)
        .is_some_and(|s| s.start_time == start_time && !s.is_zombie() && !s.is_exiting())
}

fn own_start_time() -> u64 {
    furnace_sys::process::ProcStat::read(std::process::id()).map_or(0, |s| s.start_time)
}

/// The starting process a `.tmp-<pid>-<start>-<attempt>-<name>` directory names.
fn starter_of(rest: &str) -> Option<(u32, u64)> {
    let mut parts = rest.splitn(3, '-');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn process_is_gone((pid, start): (u32, u64)) -> bool {
    match furnace_sys::process::ProcStat::read(pid) {
        Some(stat) => stat.start_time != start,
        None => !Path::new(&format!("/proc/{pid}")).exists(),
    }
}

/// Seconds since the epoch.
pub(crate) fn epoch_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn from_epoch(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
}

fn info(state: &State) -> ContainerInfo {
    ContainerInfo {
        name: state.name.clone(),
        pid: state.pid,
        root: state.root.clone(),
        created: from_epoch(state.created),
        expires: state.expires.map(from_epoch),
        hardened: state.capabilities.is_some(),
        rootless: state.user_namespace,
        processes: count_processes(state),
    }
}

/// The processes in the container's pid namespace: those whose `/proc/<pid>/ns/pid` is it,
/// and PID 1 (whose namespace files a process in another user namespace may not read).
fn count_processes(state: &State) -> Option<usize> {
    use std::os::unix::fs::MetadataExt;
    let mut count = 1;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == state.pid {
            continue;
        }
        if std::fs::metadata(format!("/proc/{pid}/ns/pid"))
            .is_ok_and(|m| m.ino() == state.pid_namespace)
        {
            count += 1;
        }
    }
    Some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in [
            "web",
            "a",
            "db-1",
            "x.y_z",
            "0abc",
            &"n".repeat(MAX_NAME_LEN),
        ] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "../x",
            "..",
            ".hidden",
            "-rf",
            "a/b",
            "a b",
            "é",
            &"n".repeat(MAX_NAME_LEN + 1),
        ] {
            assert!(
                matches!(validate_name(bad), Err(Error::InvalidName { .. })),
                "{bad}"
            );
        }
        let generated = generate_name();
        assert!(validate_name(&generated).is_ok(), "{generated}");
        assert_ne!(generated, generate_name());
    }

    #[test]
    fn starters_are_read_from_temporary_names() {
        assert_eq!(starter_of("12-345-web"), Some((12, 345)));
        assert_eq!(starter_of("12-345-a-b"), Some((12, 345)));
        assert_eq!(starter_of("x-345-web"), None);
        // This process is not gone; a pid with another start time is.
        let me = (std::process::id(), own_start_time());
        assert!(!process_is_gone(me));
        assert!(process_is_gone((me.0, me.1 + 1)));
    }

    #[test]
    fn a_registry_without_its_directory_is_empty() {
        let registry = Registry::at("/nonexistent/furnace-registry");
        assert!(registry.list().unwrap().is_empty());
        assert!(matches!(
            registry.attach("web"),
            Err(Error::NoSuchContainer { .. })
        ));
        assert!(!registry.stop("web").unwrap());
    }

    #[test]
    fn stale_state_is_cleaned_by_the_next_look() {
        let dir = std::env::temp_dir().join(format!("furnace-registry-{}", std::process::id()));
        let registry = Registry::at(&dir);
        let pending = Pending::create(&registry, "old").unwrap();
        let me = furnace_sys::process::ProcStat::read(std::process::id()).unwrap();
        let mut state = State {
            version: STATE_VERSION,
            name: "old".into(),
            pid: std::process::id(),
            start_time: me.start_time,
            root: "/".into(),
            created: epoch_seconds(SystemTime::now()),
            expires: None,
            capabilities: None,
            seccomp: Vec::new(),
            seccomp_default: false,
            loops: None,
            namespaces: 0,
            user_namespace: false,
            private_users: None,
            pid_namespace: 0,
            memory_max: None,
            cgroups: None,
        };
        pending.commit(&state).unwrap();
        // A second start under the name fails: this "PID 1" (the test) is alive.
        assert!(matches!(
            Pending::create(&registry, "old"),
            Err(Error::NameInUse { .. })
        ));
        assert_eq!(registry.list().unwrap().len(), 1);
        // The same pid with another start time is a reused pid: stale, and cleaned.
        state.start_time += 1;
        std::fs::write(
            dir.join("old").join(STATE_FILE),
            serde_json::to_vec(&state).unwrap(),
        )
        .unwrap();
        assert!(registry.list().unwrap().is_empty());
        assert!(!dir.join("old").exists());
        // A start whose process died left a temporary directory: swept.
        std::fs::create_dir(dir.join(".tmp-4194305-1-x")).unwrap();
        assert!(registry.list().unwrap().is_empty());
        assert!(!dir.join(".tmp-4194305-1-x").exists());
        std::fs::remove_dir(&dir).unwrap();
    }
}
