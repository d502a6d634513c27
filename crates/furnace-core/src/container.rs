//! A running container: what it is, the shell helpers, and teardown.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Mutex;
use std::time::Duration;

use furnace_sys::{Namespaces, Pidfd, Signal};

use crate::builder::ContainerBuilder;
use crate::command::Command;
use crate::error::{Error, Result};
use crate::failpoint::Failpoint;
use crate::roots::Warning;
use crate::traces::Traces;

/// A running container: PID 1 in fresh namespaces over a root directory.
///
/// Run processes in it with [`command`](Container::command). Dropping it kills every process
/// inside and waits until PID 1 is gone; with the last process, the namespaces and every mount
/// made inside vanish, and what the start made in the root directory (the mount points a
/// root lacked, see [`ContainerBuilder::mount`]) is removed. If the owning process dies
/// instead — even by `SIGKILL` — PID 1 notices (it holds a pidfd of the owner) and the same
/// happens, but for those mount points, which nobody is left to remove (an
/// [`overlay`](ContainerBuilder::overlay) makes none).
///
/// The one exception is a [detached](crate::Lifetime::Detached) container, which has a name
/// and no owner: dropping a handle of it (the one [`start`](ContainerBuilder::start)
/// returned, or one from [`Registry::attach`](crate::Registry::attach)) only releases the
/// handle, and [`stop`](Container::stop) ends the container. PID 1 of a detached container is
/// still a child of the process that started it: when that process drops its handle, a thread
/// (`furnace-reaper`) waits to reap PID 1 whenever it ends, so a long-lived program collects
/// no zombies.
#[derive(Debug)]
pub struct Container {
    pub(crate) init: Pidfd,
    pub(crate) root: PathBuf,
    pub(crate) namespaces: Namespaces,
    /// The capability mask commands are reduced to (hardened profile), or `None`.
    pub(crate) capabilities: Option<u64>,
    /// A test-only failpoint (see [`crate::failpoint`]).
    pub(crate) failpoint: Option<Failpoint>,
    /// pidfds of the processes spawned into the container that may still need reaping at
    /// teardown (see [`Container::stop`]).
    pub(crate) spawned: Mutex<Vec<Pidfd>>,
    pub(crate) stopped: bool,
    /// In a user namespace: fds of PID 1's namespaces, in the order of
    /// [`crate::init::NAMESPACE_FILES`], through which commands join (empty as root, where
    /// they join through the pidfd).
    pub(crate) namespace_files: Vec<(furnace_sys::Namespace, OwnedFd)>,
    /// In a user namespace: an `O_PATH` fd of the container's root, from PID 1 (else the root
    /// is reached through `/proc/<pid>/root`).
    pub(crate) root_fd: Option<OwnedFd>,
    /// The container's own cgroups, when it has any ([`crate::cgroups`]).
    pub(crate) cgroups: Option<crate::cgroups::Cgroups>,
    /// The memory limit, when one was set.
    pub(crate) memory_max: Option<u64>,
    /// Whether PID 1 is this process's child (then teardown reaps it; otherwise it waits for
    /// its pidfd to report the exit, and PID 1's parent reaps it).
    pub(crate) child: bool,
    /// A detached container's place in its registry (dropping the handle does not stop it).
    pub(crate) detached: Option<crate::registry::Entry>,
    /// PID 1 runs in a user namespace (the container was started without root).
    pub(crate) user_namespace: bool,
    /// The hardened profile started as root with a user namespace of its own: the first host
    /// id of its range (container root outside); commands become root in it.
    pub(crate) private_users: Option<u32>,
    /// The lock of that range, held until PID 1 is reaped (`None` for an attached handle:
    /// PID 1 holds its own copy for its whole life).
    pub(crate) id_lock: Option<crate::idrange::IdRangeLock>,
    /// The seccomp filters commands run under, compiled; `None` when unconfined.
    pub(crate) seccomp: Option<std::sync::Arc<crate::SeccompFilters>>,
    /// They are the default profile: a command given capabilities gets it relaxed for them.
    pub(crate) seccomp_default: bool,
    /// What the start found out ([`Extras`]); empty for a handle from
    /// [`Registry::attach`](crate::Registry::attach).
    pub(crate) extras: Extras,
}

impl Container {
    /// A builder for a container over `root`, with the defaults: host network, no binds,
    /// hostname `localhost`.
    pub fn builder(root: impl Into<PathBuf>) -> ContainerBuilder {
        ContainerBuilder::new(root.into())
    }

    /// Starts a container over `root` with the defaults.
    pub fn start(root: impl Into<PathBuf>) -> Result<Container> {
        Self::builder(root).start()
    }

    /// The container's name, for a [detached](crate::Lifetime::Detached) one.
    pub fn name(&self) -> Option<&str> {
        self.detached.as_ref().map(|e| e.name())
    }

    /// The host pid of the container's PID 1.
    pub fn init_pid(&self) -> u32 {
        self.init.pid()
    }

    /// The root directory (canonical host path).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What the start did not do as asked, without failing (one line each with `{}`): today
    /// only why the container has no `resolv.conf` of the host's
    /// ([`ResolvConf::Auto`](crate::ResolvConf::Auto)). Empty for a handle from
    /// [`Registry::attach`](crate::Registry::attach).
    ///
    /// ```no_run
    /// use furnace_core::Container;
    /// let c = Container::start("/srv/rootfs")?;
    /// for warning in c.warnings() {
    ///     eprintln!("furnace: warning: {warning}");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn warnings(&self) -> Vec<Warning> {
        self.extras.warnings.clone()
    }

    /// Writes what the start made in the root into a detached container's registry
    /// directory `dir`, for whichever process stops it.
    pub(crate) fn save_traces(&self, dir: &Path) -> io::Result<()> {
        match &self.extras.traces {
            Some(traces) => traces.save(dir),
            None => Ok(()),
        }
    }

    /// Removes what the start made in the root, now that the container is gone: from this
    /// handle's record, or — for a detached container this process did not start — from the
    /// one its registry entry keeps.
    fn remove_traces(&mut self) {
        // The namespaces' fds keep the container's mount namespace, and its mounts on what is
        // about to be removed: let them go first.
        self.namespace_files.clear();
        self.root_fd = None;
        let own = self.extras.traces.take();
        let saved = || {
            let entry = self.detached.as_ref()?;
            Traces::load(&entry.path(), &self.root)
        };
        if let Some(traces) = own.or_else(saved) {
            traces.remove();
        }
    }

    /// What the container's processes used, from its cgroups: memory now and at most, the
    /// processes alive, CPU time, the OOM killer's kills and the forks refused by the pids
    /// limit. `None` when the container has no cgroups of its own (no limit was set and no
    /// [`own_cgroup`](ContainerBuilder::own_cgroup) asked for). Readable until the container
    /// is dropped, also after its last command ended.
    pub fn resource_usage(&self) -> Option<crate::ResourceUsage> {
        self.cgroups.as_ref().map(|c| c.usage())
    }

    /// The master side of the terminal PID 1 made for its program
    /// ([`InitProgram::terminal`](crate::InitProgram::terminal)), once: the caller keeps it, or
    /// hands it on (an OCI runtime sends it to the engine's console socket).
    pub fn take_init_terminal(&mut self) -> Option<std::os::fd::OwnedFd> {
        self.extras.init_terminal.take()
    }

    /// A new pseudo-terminal of the container's own devpts (`/dev/pts/N` inside), for
    /// [`Command::terminal`]: the master for the caller, the terminal side for a command.
    pub fn open_pty(&self) -> Result<furnace_sys::pty::Pty> {
        let root = self.root_dir().map_err(|e| Error::Sys {
            context: "open the container's root",
            error: furnace_sys::Error::new("open", format!("/proc/{}/root", self.init_pid()), e),
        })?;
        let pty = furnace_sys::pty::open_beneath(root.as_fd(), "dev/pts/ptmx")
            .map_err(Error::sys("open a pseudo-terminal of the container"))?;
        // In a user namespace of the container's own, the terminal furnace opened belongs to
        // the host's root, which is no one inside: give it to the container's root and `tty`
        // group (5 inside), as it is root's and `tty`'s in the privileged profile, so that
        // programs inside may reopen it by name (`tty`, `script`, `su`).
        if let Some(start) = self.private_users {
            use rustix::process::{Gid, Uid};
            let owner = Uid::from_raw(start);
            let tty = Gid::from_raw(start + 5);
            rustix::fs::fchown(&pty.peer, Some(owner), Some(tty)).map_err(|e| Error::Sys {
                context: "give the container's terminal to its root",
                error: furnace_sys::Error::new("fchown", format!("/dev/pts (to {start})"), e),
            })?;
        }
        Ok(pty)
    }

    /// The memory limit the container was started with, in bytes
    /// ([`ContainerBuilder::memory_max`]).
    pub fn memory_max(&self) -> Option<u64> {
        self.memory_max
    }

    /// The container's cgroup directories on the host (empty without cgroups of its own).
    pub fn cgroup_paths(&self) -> Vec<PathBuf> {
        self.cgroups.as_ref().map_or_else(Vec::new, |c| c.paths())
    }

    /// Whether the container runs the hardened profile.
    pub fn is_hardened(&self) -> bool {
        self.capabilities.is_some()
    }

    /// With a user namespace of the container's own
    /// ([`ContainerBuilder::private_users`]): the host id that is root inside, the first of
    /// the 65,536 ids (users and groups alike) the container's ids 0–65535 are outside.
    pub fn id_range_start(&self) -> Option<u32> {
        self.private_users
    }

    /// Whether PID 1 is still alive: it has neither exited nor begun to (a PID 1 killed from
    /// outside lingers, exiting, until every process of its namespace is reaped).
    pub fn is_running(&self) -> bool {
        !self.init.has_exited().unwrap_or(true) && !self.init_is_exiting()
    }

    /// Whether PID 1 has begun to exit (`PF_EXITING` in `/proc/<pid>/stat`). PID 1 is our
    /// unreaped child, so its pid cannot have been reused.
    fn init_is_exiting(&self) -> bool {
        furnace_sys::process::ProcStat::read(self.init.pid()).map_or(true, |s| s.is_exiting())
    }

    /// Runs an interactive shell inside, wired to this process's terminal: `bash` when the
    /// container has it, else `/bin/sh`, with a prompt that says it is the container.
    pub fn interactive_shell(&self) -> io::Result<ExitStatus> {
        self.shell_command().status()
    }

    /// The command [`interactive_shell`](Container::interactive_shell) runs, to adjust or
    /// spawn yourself: an interactive, non-login shell that reads the root's start-up files,
    /// with `PS1` saying it is the container and `FURNACE_CONTAINER=1`. When the container has
    /// bash, that is bash reading `/etc/bash.bashrc` (as built by Debian, Ubuntu, Arch) and
    /// `~/.bashrc`; else `/bin/sh -i` reading the file `$ENV` names. The `PS1` of the
    /// environment (this one, or one set with `env`) is set again after them, so the prompt
    /// still says it is the container. Nothing is written into the root: the shell gets its
    /// furnace start-up file through a pipe, from an outer `bash -c` or `sh -c` it `exec`s
    /// from. [`shell_command_norc`](Container::shell_command_norc) reads none of them.
    pub fn shell_command(&self) -> Command<'_> {
        crate::shell::shell(self, true)
    }

    /// Whether `path` (relative to the container's root) exists inside, resolved inside the
    /// container's root through PID 1's view of it.
    pub(crate) fn has_file_inside(&self, path: &std::ffi::CStr) -> bool {
        self.open_inside(path).is_ok()
    }

    /// Opens `path` (relative to the container's root) as an `O_PATH` fd, resolved beneath the
    /// container's root as PID 1 sees it: what would leave it (`..` past the top, an absolute
    /// symlink, a magic link) fails.
    pub(crate) fn open_inside(
        &self,
        path: &std::ffi::CStr,
    ) -> std::result::Result<std::os::fd::OwnedFd, furnace_sys::Errno> {
        use furnace_sys::fd::{forksafe as fd, Mode, OFlags};
        use std::os::fd::AsFd;
        let path = if path.is_empty() { c"." } else { path };
        let root = self.root_dir()?;
        fd::openat_beneath(root.as_fd(), path, OFlags::PATH, Mode::empty())
    }

    /// The container's root as PID 1 sees it: the fd PID 1 handed over (in a user namespace),
    /// else `/proc/<pid>/root` opened `O_PATH`.
    fn root_dir(&self) -> std::result::Result<RootDir<'_>, furnace_sys::Errno> {
        use furnace_sys::fd::{forksafe as fd, Mode, OFlags};
        if let Some(root) = &self.root_fd {
            return Ok(RootDir::Kept(root));
        }
        let path = crate::paths::cstring(format!("/proc/{}/root", self.init_pid()));
        fd::open(&path, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).map(RootDir::Opened)
    }

    /// Kills every process in the container, waits until PID 1 is gone, and removes what the
    /// start made in the root directory (see [`ContainerBuilder::mount`]).
    ///
    /// Returns [`Error::InitExited`] when PID 1 had already ended before (killed from outside,
    /// or crashed): the container was gone before it was stopped. Dropping the container does
    /// the same teardown and ignores errors.
    ///
    /// A [detached](crate::Lifetime::Detached) container is stopped the same way from any
    /// handle, and its cgroups, what its start made in the root (the list is kept with its
    /// state) and its registry entry are removed; stopping one that had ended
    /// already (its timeout passed, say) is no error. PID 1 is reaped by its parent then, so
    /// the wait is for its exit, at most [`STOP_TIMEOUT`] ([`Error::StopTimeout`]: a process
    /// outside the container holds an unreaped child of it).
    ///
    /// The kernel keeps PID 1 alive until every process of its pid namespace has been reaped,
    /// including the children this process spawned into it; teardown reaps those that were
    /// killed with it, so a [`std::process::Child`] still held afterwards reports an error
    /// from `wait` (`ECHILD`) — wait for your children before stopping their container.
    pub fn stop(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        // Whether PID 1 had ended, or begun to, before we asked: then the container died
        // under its owner. A killed PID 1 is not reapable yet while our children in its
        // namespace are unreaped, hence the look at its flags.
        if !self.child {
            return self.stop_detached();
        }
        let mut how = self.init.try_wait().ok().flatten();
        let ended_before = how.is_some() || self.init_is_exiting();
        if let Some(cgroups) = &self.cgroups {
            // Everything at once, so that nothing can fork past the kill.
            let _ = cgroups.kill_all();
        }
        // Loop devices the container attached, recognised while its mount namespace is there.
        let loops = match (&self.extras.loops, ended_before) {
            (Some(snapshot), false) => {
                crate::loops::the_containers(&self.init, snapshot.attached_since())
            }
            _ => Vec::new(),
        };
        if !ended_before {
            // ESRCH means init died just now: nothing to kill, still something to reap.
            let _ = self.init.send_signal(Signal::KILL);
        }
        Failpoint::hit(self.failpoint.as_ref(), "teardown-signalled");
        let mut spawned =
            std::mem::take(&mut *self.spawned.lock().unwrap_or_else(|e| e.into_inner()));
        while how.is_none() {
            how = self
                .init
                .try_wait()
                .map_err(Error::sys("reap the container's init"))?;
            if how.is_some() {
                break;
            }
            // PID 1 is blocked in the kernel until our own children in its namespace are
            // reaped: reap those that have died, then wait for any of them or PID 1 to change.
            spawned.retain(|child| match child.has_exited() {
                Ok(true) => {
                    let _ = child.try_wait();
                    false
                }
                Ok(false) => true,
                Err(_) => false,
            });
            wait_any(&self.init, &spawned, Duration::from_millis(100))?;
        }
        // Everything inside is gone and reaped: the id range is free again (PID 1's copy of
        // the lock went with it), the cgroups are empty, and nothing is mounted on what the
        // start made in the root any more.
        self.id_lock = None;
        self.remove_traces();
        // Their mounts inside are gone with the namespace: nothing holds them any more.
        crate::loops::detach(&loops);
        let removed = self.cgroups.take().map_or(Ok(()), |c| c.remove());
        // A detached container that had ended (its timeout passed) is simply gone.
        let detached = self.detached.take();
        let unregistered = detached.as_ref().map_or(Ok(()), |e| e.remove());
        match how {
            Some(how) if ended_before && detached.is_none() => Err(Error::InitExited {
                pid: self.init.pid(),
                how,
            }),
            _ => removed.and(unregistered),
        }
    }

    /// Teardown of a container whose PID 1 is not this process's child: kill, wait for the
    /// pidfd to report the exit (the kernel lets PID 1 exit only once every process of its
    /// namespace is reaped), remove the cgroups and the registry entry.
    fn stop_detached(&mut self) -> Result<()> {
        // PID 1 alone: its exit forbids new processes in its namespace and kills the rest, so
        // a command dies of this stop only once PID 1 is exiting, and whoever waits for one
        // sees the container gone (`is_running` false). Killing through the cgroups too would
        // race PID 1's own signal and let a command die while PID 1 still looks alive.
        // First the loop devices it attached, recognised while its mount namespace is there.
        let loops = match &self.extras.loops {
            Some(snapshot) if !self.init.has_exited().unwrap_or(true) => {
                crate::loops::the_containers(&self.init, snapshot.attached_since())
            }
            _ => Vec::new(),
        };
        let _ = self.init.send_signal(Signal::KILL);
        let mut spawned =
            std::mem::take(&mut *self.spawned.lock().unwrap_or_else(|e| e.into_inner()));
        let deadline = std::time::Instant::now() + STOP_TIMEOUT;
        while !self.init.has_exited().unwrap_or(true) {
            if std::time::Instant::now() >= deadline {
                return Err(Error::StopTimeout {
                    pid: self.init.pid(),
                    timeout: STOP_TIMEOUT,
                });
            }
            spawned.retain(|child| match child.has_exited() {
                Ok(true) => {
                    let _ = child.try_wait();
                    false
                }
                Ok(false) => true,
                Err(_) => false,
            });
            wait_any(&self.init, &spawned, Duration::from_millis(100))?;
        }
        // PID 1 is gone; reap it if it is our child (a detached container this process
        // started), so that no zombie stays with a long-lived caller.
        let _ = self.init.try_wait();
        self.id_lock = None;
        self.remove_traces();
        crate::loops::detach(&loops);
        // Empty now (the pid namespace held every process of them); the kill-all is a net.
        let removed = self.cgroups.take().map_or(Ok(()), |c| {
            let _ = c.kill_all();
            c.remove()
        });
        let unregistered = self.detached.take().map_or(Ok(()), |e| e.remove());
        removed.and(unregistered)
    }
}

impl Container {
    /// A detached container's PID 1 started by this process is its child: when it ends
    /// (stopped from elsewhere, its timeout) someone must reap it, or it stays a zombie for as
    /// long as this process runs. A thread waits for that, holding only the pidfd.
    fn reap_later(&mut self) {
        let Ok(fd) = furnace_sys::fd::dup_above_stdio(&self.init) else {
            return;
        };
        let init = Pidfd::from_owned(fd, self.init.pid());
        let _ = std::thread::Builder::new()
            .name("furnace-reaper".into())
            .spawn(move || {
                let _ = init.wait();
            });
    }
}

/// What a start found out: the warnings for the caller and what PID 1 made in the root.
#[derive(Debug, Default)]
pub(crate) struct Extras {
    pub warnings: Vec<Warning>,
    pub traces: Option<Traces>,
    /// The host's loop devices at the start (privileged profile), to detach what the
    /// container attached ([`crate::loops`]).
    pub loops: Option<crate::loops::Snapshot>,
    /// The master of the init program's terminal ([`crate::InitProgram::terminal`]).
    pub init_terminal: Option<std::os::fd::OwnedFd>,
}

/// How long stopping a detached container waits for its PID 1 to be gone.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

impl Drop for Container {
    fn drop(&mut self) {
        if self.detached.is_some() {
            // A detached container outlives its handles: release, without removing anything.
            if let Some(cgroups) = self.cgroups.take() {
                cgroups.release();
            }
            if self.child {
                self.reap_later();
            }
            // The container runs on: what it made stays recorded in its registry entry.
            return;
        }
        let _ = self.teardown();
    }
}

/// Waits until PID 1 or one of `others` exits, or `timeout` passes.
fn wait_any(init: &Pidfd, others: &[Pidfd], timeout: Duration) -> Result<()> {
    use furnace_sys::fd::{forksafe::poll, PollFd, PollFlags};
    let mut fds: Vec<PollFd<'_>> = std::iter::once(init)
        .chain(others)
        .map(|p| PollFd::new(p, PollFlags::IN))
        .collect();
    match poll(&mut fds, Some(timeout)) {
        Ok(_) | Err(furnace_sys::Errno::INTR) => Ok(()),
        Err(errno) => Err(Error::Sys {
            context: "wait for the container's processes",
            error: furnace_sys::Error::new("poll", "", errno),
        }),
    }
}

/// The container's root directory, borrowed from the container or opened for the occasion.
enum RootDir<'c> {
    Kept(&'c OwnedFd),
    Opened(OwnedFd),
}

impl AsFd for RootDir<'_> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            RootDir::Kept(fd) => fd.as_fd(),
            RootDir::Opened(fd) => fd.as_fd(),
        }
    }
}
