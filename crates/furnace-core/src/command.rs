//! Running processes in a container, with the interface of `std::process::Command`.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Output, Stdio};

use furnace_sys::{raw, Errno, Namespaces, Pidfd};

use crate::container::Container;
use crate::failpoint::Failpoint;
use crate::plan::cstring;

/// A process to run inside a [`Container`]: `std::process::Command`'s builder, whose program,
/// working directory and ids are those of the container.
///
/// `spawn`, `output` and `status` return std's own [`Child`], [`Output`] and [`ExitStatus`].
/// The process joins every namespace of the container (`ps` inside shows PID 1 and itself),
/// is rooted in it, and finds its program through `PATH` *inside* the container. It inherits
/// this process's environment unless told otherwise, like std.
///
/// ```no_run
/// use std::process::Stdio;
/// use furnace_core::Container;
/// let container = Container::start("/srv/rootfs")?;
/// // cat /etc/passwd | gzip > passwd.gz (the file is opened outside the container)
/// let mut cat = container.command("cat").arg("/etc/passwd").stdout(Stdio::piped()).spawn()?;
/// let out = std::fs::File::create("passwd.gz")?;
/// let gzip = container
///     .command("gzip")
///     .stdin(Stdio::from(cat.stdout.take().unwrap()))
///     .stdout(out)
///     .status()?;
/// assert!(gzip.success() && cat.wait()?.success());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Command<'c> {
    container: &'c Container,
    inner: std::process::Command,
    program: std::ffi::OsString,
    /// What the child applies before exec. Boxed: the pre-exec hook, registered once, reads it
    /// through a pointer, so its address must not change when the `Command` moves.
    entry: Box<Entry>,
    /// Whether the pre-exec hook is registered (std keeps every hook ever added).
    hooked: bool,
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
}

impl Container {
    /// A command that runs `program` inside this container.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command<'_> {
        Command {
            container: self,
            inner: std::process::Command::new(program.as_ref()),
            program: program.as_ref().to_owned(),
            entry: Box::new(Entry {
                pidfd: self.init.as_raw_fd(),
                join: self.namespaces - Namespaces::PID,
                cwd: None,
                capabilities: self.capabilities,
                uid: None,
                gid: None,
                failpoint: self.failpoint.clone(),
            }),
            hooked: false,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
        }
    }

    /// Runs an interactive shell inside, wired to this process's terminal: `bash` when the
    /// container has it, else `/bin/sh`, with a prompt that says it is the container.
    pub fn interactive_shell(&self) -> io::Result<ExitStatus> {
        self.shell_command().status()
    }

    /// The command [`interactive_shell`](Container::interactive_shell) runs, to adjust or
    /// spawn yourself: `bash --norc -i` when the container has bash, else `/bin/sh -i`, with
    /// `PS1` saying it is the container and `FURNACE_CONTAINER=1`.
    pub fn shell_command(&self) -> Command<'_> {
        let bash = self.has_file_inside(c"bin/bash") || self.has_file_inside(c"usr/bin/bash");
        let mut command = if bash {
            let mut c = self.command("bash");
            c.args(["--norc", "-i"]);
            c
        } else {
            let mut c = self.command("/bin/sh");
            c.arg("-i");
            c
        };
        command
            .env("PS1", r"[furnace \h \w]\$ ")
            .env("FURNACE_CONTAINER", "1");
        command
    }

    /// Whether `path` (relative to the container's root) exists inside, resolved inside the
    /// container's root through PID 1's view of it.
    fn has_file_inside(&self, path: &std::ffi::CStr) -> bool {
        use rustix::fs::{Mode, OFlags, ResolveFlags};
        let root = format!("/proc/{}/root", self.init_pid());
        let Ok(root_fd) = rustix::fs::open(
            root.as_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            return false;
        };
        rustix::fs::openat2(
            &root_fd,
            path,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT,
        )
        .is_ok()
    }
}

impl Command<'_> {
    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.inner.env(key, value);
        self
    }

    /// Sets environment variables.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.envs(vars);
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.inner.env_remove(key);
        self
    }

    /// Clears the environment (`PATH` lookup then uses `/bin:/usr/bin`).
    pub fn env_clear(&mut self) -> &mut Self {
        self.inner.env_clear();
        self
    }

    /// The working directory, a path *inside* the container (default `/`).
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        let dir = dir.as_ref();
        self.entry.cwd = Some(if dir.is_absolute() {
            cstring(dir)
        } else {
            cstring(Path::new("/").join(dir))
        });
        self
    }

    /// Standard input (default: inherited; for `output`, null).
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.inner.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// Standard output (default: inherited; for `output`, piped).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.inner.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// Standard error (default: inherited; for `output`, piped).
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.inner.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Runs the process as this user id (inside the container, after joining it).
    pub fn uid(&mut self, uid: u32) -> &mut Self {
        self.entry.uid = Some(uid);
        self
    }

    /// Runs the process with this group id, and no supplementary groups.
    pub fn gid(&mut self, gid: u32) -> &mut Self {
        self.entry.gid = Some(gid);
        self
    }

    /// Starts the process.
    ///
    /// Errors are `std::io::Error`s like std's: `NotFound` when the program does not exist in
    /// the container; an error wrapping [`crate::Error::NotRunning`] when PID 1 has died.
    pub fn spawn(&mut self) -> io::Result<Child> {
        // No liveness check first: forking into the pid namespace of a dead init fails
        // (ENOMEM), and `spawn_error` then reports that the container is not running.
        let init = &self.container.init;
        if !self.hooked {
            let entry = EntryPtr(&*self.entry);
            // SAFETY: the hook runs in the forked child before exec and makes system calls only:
            // no allocation (the settings were made before the fork), no locks. It reads the
            // boxed settings through `entry`: the box lives as long as this `Command`, which
            // owns the std command that runs the hook, only ever inside `spawn`, in a child
            // whose memory is a copy of ours taken during that call.
            unsafe {
                self.inner.pre_exec(move || {
                    let entry = entry.get();
                    // A panic here must end the child, never unwind into std's (or the
                    // caller's) code in a process that is a copy of the caller.
                    let entered = std::panic::catch_unwind(|| {
                        Failpoint::hit(entry.failpoint.as_ref(), "spawn-forked");
                        enter_container(entry)?;
                        Failpoint::hit(entry.failpoint.as_ref(), "spawn-pre-exec");
                        Ok(())
                    });
                    entered.unwrap_or_else(|_| raw::exit(127))
                });
            }
            self.hooked = true;
        }
        Failpoint::hit(self.container.failpoint.as_ref(), "spawn-pre-fork");
        let spawned = {
            // Joining fails with ESRCH once PID 1 is exiting (its namespaces are gone even
            // while the kernel still waits for our unreaped children in it): not running.
            let _in_pid_ns = ChildrenInPidNs::enter(init).map_err(|e| {
                if e.raw_os_error() == Some(libc::ESRCH) {
                    crate::Error::NotRunning {
                        pid: self.container.init_pid(),
                    }
                    .into()
                } else {
                    self.spawn_error(e)
                }
            })?;
            self.inner.spawn()
        };
        let child = spawned.map_err(|e| self.spawn_error(e))?;
        self.track(&child);
        Ok(child)
    }

    /// Runs the process to completion and collects its output (stdout and stderr piped, stdin
    /// null, unless set otherwise).
    pub fn output(&mut self) -> io::Result<Output> {
        if !self.stdin_set {
            self.inner.stdin(Stdio::null());
        }
        if !self.stdout_set {
            self.inner.stdout(Stdio::piped());
        }
        if !self.stderr_set {
            self.inner.stderr(Stdio::piped());
        }
        self.spawn()?.wait_with_output()
    }

    /// Runs the process to completion and returns its exit status.
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait()
    }

    fn spawn_error(&self, err: io::Error) -> io::Error {
        if !self.container.is_running() {
            return crate::Error::NotRunning {
                pid: self.container.init_pid(),
            }
            .into();
        }
        if err.raw_os_error() == Some(libc::EISDIR) {
            // Only the stdio check before exec reports EISDIR (execve says EACCES for a
            // directory).
            return crate::Error::StdioIsDirectory {
                program: PathBuf::from(&self.program),
            }
            .into();
        }
        let cwd = self
            .entry
            .cwd
            .as_ref()
            .map(|c| PathBuf::from(std::ffi::OsStr::from_bytes(c.as_bytes())));
        crate::Error::Spawn {
            program: PathBuf::from(&self.program),
            cwd,
            source: err,
        }
        .into()
    }

    /// Keeps a pidfd of the child so that teardown can reap it (see [`Container::stop`]),
    /// forgetting those already reaped by their owner.
    fn track(&self, child: &Child) {
        let Ok(pidfd) = Pidfd::open(child.id()) else {
            return;
        };
        let mut spawned = self
            .container
            .spawned
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Forget children their owners have reaped, now and then rather than at every spawn.
        if spawned.len() >= 64 && spawned.len().is_power_of_two() {
            spawned.retain(|p| !is_reaped(p));
        }
        spawned.push(pidfd);
    }
}

/// While alive, the calling thread's new children are born in the container's pid namespace.
///
/// `setns(CLONE_NEWPID)` changes only the namespace of the calling thread's *future children*,
/// not the thread itself, and is undone on drop, so the caller's thread is back as it was when
/// `spawn` returns, panics included. Forking from the calling thread matters for speed: a
/// fork from a second thread costs the machine cross-CPU TLB flushes that a single-threaded
/// caller never pays (measured: +60% per spawn on a 2-CPU VM).
struct ChildrenInPidNs {
    previous: OwnedFd,
}

impl ChildrenInPidNs {
    fn enter(init: &Pidfd) -> io::Result<Self> {
        use rustix::fs::{Mode, OFlags};
        let previous = rustix::fs::open(
            c"/proc/thread-self/ns/pid_for_children",
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        rustix::thread::move_into_thread_name_spaces(
            init.as_fd(),
            rustix::thread::ThreadNameSpaceType::PROCESS_ID,
        )?;
        Ok(Self { previous })
    }
}

impl Drop for ChildrenInPidNs {
    fn drop(&mut self) {
        let restored = rustix::thread::move_into_link_name_space(
            self.previous.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::ProcessID),
        );
        if let Err(errno) = restored {
            // Returning would leave this thread creating every later child inside the
            // container — a silent escape of the container's boundary into the caller.
            // Joining the namespace we came from cannot fail for a process that could join
            // the container's; if it ever does, stopping is the only safe answer.
            eprintln!("furnace: cannot restore the thread's pid namespace: {errno}");
            std::process::abort();
        }
    }
}

/// Whether a child of ours has already been reaped (by its `Child` handle).
fn is_reaped(pidfd: &Pidfd) -> bool {
    use rustix::process::{waitid, WaitId, WaitIdOptions};
    matches!(
        waitid(
            WaitId::PidFd(rustix::fd::AsFd::as_fd(pidfd)),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT
        ),
        Err(Errno::CHILD)
    )
}

/// What a command's child applies before exec, read by the pre-exec hook.
#[derive(Debug)]
struct Entry {
    /// PID 1's pidfd (the container keeps it open; the child has a copy of the fd table).
    pidfd: RawFd,
    /// The namespaces to join with `setns(pidfd)` (the pid namespace is joined at the fork).
    join: Namespaces,
    cwd: Option<CString>,
    /// The capability mask of the hardened profile.
    capabilities: Option<u64>,
    uid: Option<u32>,
    gid: Option<u32>,
    failpoint: Option<Failpoint>,
}

/// The pre-exec hook's pointer to the [`Entry`] of its `Command`.
struct EntryPtr(*const Entry);

impl EntryPtr {
    /// The settings.
    ///
    /// # Safety
    ///
    /// The `Entry` must still be alive: true inside `Command::spawn`, see there.
    unsafe fn get(&self) -> &Entry {
        // SAFETY: the caller guarantees the box behind the pointer is alive.
        unsafe { &*self.0 }
    }
}

// SAFETY: the pointer is only dereferenced in the forked child (see `Command::spawn`), never
// by another thread of this process.
unsafe impl Send for EntryPtr {}
// SAFETY: as above.
unsafe impl Sync for EntryPtr {}

/// Runs in the forked child before exec: marks inherited fds close-on-exec, becomes
/// non-dumpable, joins the container's namespaces, changes directory (verifying it is inside)
/// and ids. System calls only.
fn enter_container(entry: &Entry) -> io::Result<()> {
    let os = |e: Errno| io::Error::from_raw_os_error(e.raw_os_error());
    // Whatever the caller left without O_CLOEXEC (other threads, C libraries) must not reach
    // the container. std's own error pipe is close-on-exec already.
    raw::close_range(3, u32::MAX, true).map_err(os)?;
    // Stdio is the one thing that crosses into the container; a directory there would be a
    // door back to the host's filesystem (runc documents the same for passed fds).
    raw::check_stdio_is_no_directory().map_err(os)?;
    // The caller's signal mask is inherited through fork and exec (std does not reset it):
    // a caller that blocks SIGTERM would hand a command that cannot be stopped.
    raw::unblock_all_signals().map_err(os)?;
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(os)?;
    // SAFETY: `pidfd` belongs to the container, which the spawning `Command` borrows, so it is
    // open for the whole spawn (and the child has its own copy of the fd table).
    let init = unsafe { BorrowedFd::borrow_raw(entry.pidfd) };
    rustix::thread::move_into_thread_name_spaces(
        init,
        rustix::thread::ThreadNameSpaceType::from_bits_retain(entry.join.bits()),
    )
    .map_err(os)?;
    // Joining the mount namespace set root and cwd to the container's root.
    if let Some(cwd) = &entry.cwd {
        rustix::process::chdir(cwd.as_c_str()).map_err(os)?;
        if !raw::cwd_is_reachable().map_err(os)? {
            return Err(os(Errno::PERM));
        }
    }
    if let Some(keep) = entry.capabilities {
        // Hardened: reduce capabilities while still root (dropping from the bounding set
        // needs CAP_SETPCAP), forbid gaining any at exec, and leave the caller's session so
        // that its terminal is not our controlling terminal.
        raw::restrict_capabilities(keep).map_err(os)?;
        raw::no_new_privs().map_err(os)?;
        raw::new_session().map_err(os)?;
    }
    raw::set_ids(entry.uid, entry.gid).map_err(os)?;
    // A keyring of its own, as runc gives each container: the caller's session keys (tokens,
    // credentials) stay out of reach.
    raw::join_new_session_keyring().map_err(os)
}
