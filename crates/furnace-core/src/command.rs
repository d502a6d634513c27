//! Running processes in a container, with the interface of `std::process::Command`. What the
//! child does between `fork` and `exec` is in [`crate::enter`].

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, CommandArgs, CommandEnvs, ExitStatus, Output, Stdio};

use furnace_sys::{Errno, Namespaces, Pidfd};

mod privileges;

use crate::container::Container;
use crate::enter::{self, Entry, EntryPtr};
use crate::error::SpawnStep;

/// A process to run inside a [`Container`]: `std::process::Command`'s builder, whose program,
/// working directory and ids are those of the container.
///
/// `spawn`, `output` and `status` return std's own [`Child`], [`Output`] and [`ExitStatus`].
/// The process joins every namespace of the container (`ps` inside shows PID 1 and itself),
/// is rooted in it, and finds its program through `PATH` *inside* the container. It inherits
/// this process's environment unless told otherwise, like std, with one exception: `PWD` is
/// set to the working directory inside (`/`, or [`current_dir`](Command::current_dir)'s), never
/// left at this process's own, a host path (unless `env`, `env_remove` or `env_clear` says
/// otherwise).
///
/// Its capabilities are those of the container's profile: all of them in the privileged
/// profile, [`HARDENED_CAPABILITIES`](crate::HARDENED_CAPABILITIES) in the hardened one;
/// [`cap_add`](Command::cap_add) and [`cap_drop`](Command::cap_drop) change that.
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
    /// The working directory inside, as given to `current_dir`.
    cwd: Option<PathBuf>,
    /// What the child applies before exec. Boxed: the pre-exec hook, registered once, reads it
    /// through a pointer, so its address must not change when the `Command` moves.
    entry: Box<Entry>,
    /// Whether the pre-exec hook is registered (std keeps every hook ever added).
    hooked: bool,
    /// Whether `PWD` is furnace's to set at each spawn (the caller has not set or removed it).
    auto_pwd: bool,
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
            cwd: None,
            entry: Box::new(Entry {
                pidfd: self.init.as_raw_fd(),
                join: self.namespaces - Namespaces::PID,
                join_files: self
                    .namespace_files
                    .iter()
                    .filter(|(kind, _)| *kind != furnace_sys::Namespace::Pid)
                    .map(|(kind, fd)| (fd.as_raw_fd(), *kind))
                    .collect(),
                cgroup_procs: self
                    .cgroups
                    .as_ref()
                    .map_or_else(Vec::new, |c| c.procs_raw()),
                cwd: None,
                capabilities: self
                    .capabilities
                    .map(furnace_sys::cred::CapabilitySet::from_bits_retain),
                hardened: self.capabilities.is_some(),
                no_new_privs: false,
                capability_sets: None,
                uid: None,
                gid: None,
                controlling_terminal: false,
                foreground: false,
                seccomp: self.seccomp.clone(),
                groups: None,
                setgroups_denied: crate::rootless::user_namespace()
                    .is_some_and(|ns| ns.setgroups_denied),
                become_root: self.private_users.is_some(),
                report: -1,
                failpoint: self.failpoint.clone(),
            }),
            hooked: false,
            auto_pwd: true,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
        }
    }
}

impl<'c> Command<'c> {
    /// The container the command runs in.
    pub fn container(&self) -> &'c Container {
        self.container
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
        self.note_env(key.as_ref());
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
        for (key, value) in vars {
            self.env(key, value);
        }
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.note_env(key.as_ref());
        self.inner.env_remove(key);
        self
    }

    /// Clears the environment, as std does: nothing is left, `PWD` included (`PATH` lookup
    /// then uses `/bin:/usr/bin`); what `env` sets afterwards is all there is.
    pub fn env_clear(&mut self) -> &mut Self {
        self.auto_pwd = false;
        self.inner.env_clear();
        self
    }

    /// `PWD` set or removed by the caller is the caller's.
    fn note_env(&mut self, key: &OsStr) {
        if key == "PWD" {
            self.auto_pwd = false;
        }
    }

    /// The working directory, a path *inside* the container (default `/`; a relative path is
    /// relative to `/`).
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        let dir = dir.as_ref();
        let absolute = Path::new("/").join(dir);
        // A NUL byte cannot reach the kernel; `spawn` reports it, as std does for arguments.
        self.entry.cwd = CString::new(absolute.into_os_string().into_encoded_bytes()).ok();
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// The program, as given to [`Container::command`].
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments (without the program), as `std::process::Command::get_args` gives them.
    pub fn get_args(&self) -> CommandArgs<'_> {
        self.inner.get_args()
    }

    /// The environment changes made with `env`, `envs` and `env_remove` (a removal shows as
    /// `None`), as `std::process::Command::get_envs` gives them.
    pub fn get_envs(&self) -> CommandEnvs<'_> {
        self.inner.get_envs()
    }

    /// The working directory inside the container, as given to
    /// [`current_dir`](Command::current_dir); `None` means `/`.
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.cwd.as_deref()
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
        self.entry.uid = Some(furnace_sys::cred::Uid::from_raw_unchecked(uid));
        self
    }

    /// Runs the process with this group id, and no supplementary groups (unless
    /// [`groups`](Command::groups) sets them).
    pub fn gid(&mut self, gid: u32) -> &mut Self {
        self.entry.gid = Some(furnace_sys::cred::Gid::from_raw_unchecked(gid));
        self
    }

    /// Runs the process with these supplementary groups (`setgroups(2)`).
    ///
    /// Without a call, setting a uid or gid clears them. In a rootless container with a
    /// single mapped id the kernel denies `setgroups`: the process then keeps the caller's
    /// (shown inside as the overflow group), and asking for groups fails with
    /// [`Error::UnmappedId`](crate::Error::UnmappedId).
    pub fn groups(&mut self, groups: &[u32]) -> &mut Self {
        self.entry.groups = Some(
            groups
                .iter()
                .map(|&g| furnace_sys::cred::Gid::from_raw_unchecked(g))
                .collect(),
        );
        self
    }

    /// Adds `cap` to the capabilities the process runs with: in the hardened profile, to
    /// [`HARDENED_CAPABILITIES`](crate::HARDENED_CAPABILITIES); in the privileged profile, where
    /// the process has every capability, it undoes an earlier [`cap_drop`](Command::cap_drop).
    ///
    /// The set applies to a process that runs as root inside: its bounding, permitted and
    /// effective sets are exactly the set, its inheritable and ambient sets empty, so a
    /// program it executes as root gets the set and no more. A process that runs as another
    /// uid ([`uid`](Command::uid)) has no capabilities, as the kernel's `setuid` leaves it; the
    /// set is then its bounding set, the most a set-user-id program could give it.
    ///
    /// Adding to the hardened profile is the caller's call: `CAP_SYS_ADMIN`, `CAP_SYS_PTRACE`,
    /// `CAP_NET_ADMIN`, `CAP_SYS_MODULE` and the like give back much of what the profile takes
    /// away. `no_new_privs` and the session of its own stay; the masked and read-only paths
    /// are there, but root with `CAP_SYS_ADMIN` can unmount them.
    ///
    /// ```no_run
    /// use furnace_core::Container;
    /// use furnace_sys::caps::Cap;
    /// let container = Container::builder("/srv/rootfs").hardened(true).start()?;
    /// // ping needs a raw socket, which the hardened profile does not grant by default.
    /// let status = container.command("ping").args(["-c1", "127.0.0.1"])
    ///     .cap_add(Cap::CAP_NET_RAW).status()?;
    /// assert!(status.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cap_add(&mut self, cap: furnace_sys::caps::Cap) -> &mut Self {
        if let Some(keep) = self.entry.capabilities {
            self.set_capabilities(keep | capability_set(cap));
        }
        self
    }

    /// Removes `cap` from the capabilities the process runs with (from all of them in the
    /// privileged profile, from [`HARDENED_CAPABILITIES`](crate::HARDENED_CAPABILITIES) in the
    /// hardened one); see [`cap_add`](Command::cap_add) for what the set means.
    ///
    /// The ids are set before the capabilities are reduced when the process stays root, so
    /// dropping `CAP_SETGID` does not keep [`gid`](Command::gid) or
    /// [`groups`](Command::groups) from working; a process that is to run as another uid
    /// changes ids after, and needs `CAP_SETUID` and `CAP_SETGID` for it (else `spawn` fails
    /// at [`SpawnStep::SetIds`] with `EPERM`).
    pub fn cap_drop(&mut self, cap: furnace_sys::caps::Cap) -> &mut Self {
        let keep = self.entry.capabilities.unwrap_or(ALL_CAPABILITIES);
        self.set_capabilities(keep - capability_set(cap));
        self
    }

    /// Gives the process every capability the kernel has (`--cap-add ALL`): the privileged
    /// profile's default, and in the hardened profile all of them back (see
    /// [`cap_add`](Command::cap_add) for what stays).
    pub fn cap_add_all(&mut self) -> &mut Self {
        self.set_capabilities(ALL_CAPABILITIES);
        self
    }

    /// Leaves the process no capability at all (`--cap-drop ALL`); later
    /// [`cap_add`](Command::cap_add) calls add to the empty set.
    pub fn cap_drop_all(&mut self) -> &mut Self {
        self.set_capabilities(furnace_sys::cred::CapabilitySet::empty());
        self
    }

    /// Whether the process will hold `cap` (when it runs as root inside), after the profile
    /// and the [`cap_add`](Command::cap_add) and [`cap_drop`](Command::cap_drop) calls.
    pub fn has_capability(&self, cap: furnace_sys::caps::Cap) -> bool {
        self.entry
            .capabilities
            .map_or(true, |keep| keep.contains(capability_set(cap)))
    }

    /// The set the child restricts itself to; `None` (no restriction at all) for the privileged
    /// profile's full set.
    fn set_capabilities(&mut self, keep: furnace_sys::cred::CapabilitySet) {
        self.entry.capabilities = if keep == ALL_CAPABILITIES && !self.entry.hardened {
            None
        } else {
            Some(keep)
        };
    }

    /// Runs the process on a pseudo-terminal of the container ([`Container::open_pty`]): its
    /// stdin, stdout and stderr are the terminal side, and it leads a new session whose
    /// controlling terminal it is — so a shell gets job control, and `Ctrl-C` written to the
    /// master reaches its foreground job. The caller keeps the master. The host's own terminal
    /// never reaches the container this way.
    ///
    /// ```no_run
    /// use std::io::{Read, Write};
    /// use furnace_core::Container;
    /// let container = Container::start("/srv/rootfs")?;
    /// let pty = container.open_pty()?;
    /// let mut child = container.command("sh").arg("-i").terminal(&pty)?.spawn()?;
    /// let mut master = std::fs::File::from(pty.master);
    /// master.write_all(b"tty; exit\n")?;
    /// let mut out = Vec::new();
    /// let _ = master.read_to_end(&mut out); // ends with EIO once the terminal is closed
    /// child.wait()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn terminal(&mut self, pty: &furnace_sys::pty::Pty) -> io::Result<&mut Self> {
        let peer = || -> io::Result<Stdio> {
            let fd = furnace_sys::fd::dup_above_stdio(&pty.peer).map_err(io::Error::from)?;
            Ok(Stdio::from(fd))
        };
        self.stdin(peer()?).stdout(peer()?).stderr(peer()?);
        self.entry.controlling_terminal = true;
        Ok(self)
    }

    /// Every command runs in a process group of its own, so that `kill 0` inside never
    /// reaches the caller; without a terminal on stdin it also leads a session of its own.
    /// With `foreground(true)` and stdin the terminal whose foreground process group is the
    /// caller's, the command's group becomes the foreground one, so that it may read the
    /// terminal and gets the keyboard's `Ctrl-C`. The caller then takes the terminal back
    /// when the command has stopped or ended, with
    /// [`furnace_sys::pty::take_back_foreground`] ([`status`](Command::status) does both).
    ///
    /// ```no_run
    /// use furnace_core::Container;
    /// let container = Container::start("/srv/rootfs")?;
    /// let status = container.command("vi").foreground(true).spawn()?.wait()?;
    /// furnace_sys::pty::take_back_foreground(std::io::stdin())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn foreground(&mut self, foreground: bool) -> &mut Self {
        self.entry.foreground = foreground;
        self
    }

    /// Runs the process as `user` (of the container's `/etc/passwd`): its uid, gid and
    /// supplementary groups. The environment is left as it is (`HOME` included).
    pub fn user(&mut self, user: &crate::User) -> &mut Self {
        self.uid(user.uid).gid(user.gid).groups(&user.groups)
    }

    /// Starts the process.
    ///
    /// Errors are `std::io::Error`s like std's: `NotFound` when the program does not exist in
    /// the container, `PermissionDenied` when it cannot be executed; the inner error is a
    /// [`crate::Error::Spawn`] naming the step that failed ([`SpawnStep`]), or
    /// [`crate::Error::NotRunning`] when PID 1 has died.
    pub fn spawn(&mut self) -> io::Result<Child> {
        // A PID 1 that has begun to exit (killed from outside) may still accept a fork into
        // its namespace for a moment, and the child would then be killed with it: refuse
        // first. (Forking into the namespace of an init that has exited fails with ENOMEM,
        // which `spawn_error` also reports as not running.)
        if !self.container.is_running() {
            return Err(crate::Error::NotRunning {
                pid: self.container.init_pid(),
            }
            .into());
        }
        self.check_capability_sets()?;
        if self.auto_pwd {
            self.inner.env("PWD", self.pwd());
        }
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
                    // The hook does not panic; should it ever, the child must end here, never
                    // unwind into std's (or the caller's) code in a copy of the caller.
                    std::panic::catch_unwind(|| enter::hook(entry))
                        .unwrap_or_else(|_| furnace_sys::process::forksafe::exit(127))
                });
            }
            self.hooked = true;
        }
        if let Some(ns) = crate::rootless::user_namespace() {
            self.check_ids(ns)?;
        } else if let Some(start) = self.container.private_users {
            // The container's own user namespace maps ids 0–65535.
            let map = vec![furnace_sys::userns::IdMap::new(
                0,
                start,
                crate::idrange::RANGE_SIZE,
            )];
            self.check_ids(&crate::rootless::UserNamespace {
                uids: map.clone(),
                gids: map,
                setgroups_denied: false,
            })?;
        }
        // The default profile lets through what the command's capabilities govern, as Docker's
        // does: a command given CAP_SYS_ADMIN may mount (compiled once per set, in the parent).
        if self.container.seccomp_default {
            let capabilities = self
                .entry
                .capabilities
                .unwrap_or_else(furnace_sys::cred::CapabilitySet::all);
            self.entry.seccomp =
                Some(crate::seccomp::default_filters_for(capabilities).map_err(io::Error::from)?);
        }
        // The child, forked into the container's pid namespace, cannot see our process group:
        // whether we have the terminal's foreground is found out here.
        let asked_foreground = self.entry.foreground;
        self.entry.foreground =
            asked_foreground && !self.stdin_set && furnace_sys::pty::has_foreground(io::stdin());
        let spawned = self.spawn_entered();
        self.entry.foreground = asked_foreground;
        spawned
    }

    /// [`spawn`](Command::spawn) once the entry's settings are final.
    fn spawn_entered(&mut self) -> io::Result<Child> {
        if self.cwd.is_some() && self.entry.cwd.is_none() {
            let nul = io::Error::new(io::ErrorKind::InvalidInput, "the path contains a NUL byte");
            return Err(self.spawn_error(SpawnStep::ChangeDirectory, nul));
        }
        crate::failpoint::Failpoint::hit(self.container.failpoint.as_ref(), "spawn-pre-fork");
        let (report_r, report_w) =
            furnace_sys::fd::pipe_above_stdio().map_err(|error| crate::Error::Sys {
                context: "create a spawn's report pipe",
                error,
            })?;
        self.entry.report = report_w.as_raw_fd();
        let spawned = if crate::rootless::in_user_namespace() {
            self.spawn_from_thread()?
        } else {
            // Joining fails with ESRCH once PID 1 is exiting (its namespaces are gone even
            // while the kernel still waits for our unreaped children in it): not running.
            let _in_pid_ns =
                ChildrenInPidNs::enter(&self.container.init).map_err(|e| self.join_error(e))?;
            self.inner.spawn()
        };
        self.entry.report = -1;
        drop(report_w);
        let child = spawned.map_err(|e| {
            let step = read_failure(&report_r).map_or(SpawnStep::Exec, |(step, _)| step);
            self.spawn_error(step, e)
        })?;
        self.track(&child);
        Ok(child)
    }

    /// Runs the process to completion and collects its output. Like std, stdout and stderr
    /// are piped and stdin is null for this call unless set otherwise; later spawns see the
    /// command as it was.
    pub fn output(&mut self) -> io::Result<Output> {
        let defaults = [!self.stdin_set, !self.stdout_set, !self.stderr_set];
        if defaults[0] {
            self.inner.stdin(Stdio::null());
        }
        if defaults[1] {
            self.inner.stdout(Stdio::piped());
        }
        if defaults[2] {
            self.inner.stderr(Stdio::piped());
        }
        let spawned = self.spawn();
        // Back to std's defaults for `spawn` and `status`: inherit.
        if defaults[0] {
            self.inner.stdin(Stdio::inherit());
        }
        if defaults[1] {
            self.inner.stdout(Stdio::inherit());
        }
        if defaults[2] {
            self.inner.stderr(Stdio::inherit());
        }
        spawned?.wait_with_output()
    }

    /// Runs the process to completion and returns its exit status. With stdin a terminal
    /// whose foreground the caller has, the process has it meanwhile
    /// ([`foreground`](Command::foreground)), and the caller takes it back afterwards; a stop
    /// (`Ctrl-Z`) is undone at once, since a library has no job control to hand it to (the
    /// `furnace` CLI has).
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        let interactive = !self.stdin_set && std::io::IsTerminal::is_terminal(&std::io::stdin());
        if !interactive {
            return self.spawn()?.wait();
        }
        let asked = self.entry.foreground;
        self.entry.foreground = true;
        let spawned = self.spawn();
        self.entry.foreground = asked;
        let status = wait_continuing(spawned?);
        let _ = furnace_sys::pty::take_back_foreground(std::io::stdin());
        status
    }

    /// In a user namespace: forks from a throw-away thread that joins the container's pid
    /// namespace for its children and then ends. (Joining it from the calling thread could not
    /// be undone: the pid namespace the caller came from belongs to the initial user
    /// namespace, and joining that needs a capability there.)
    fn spawn_from_thread(&mut self) -> io::Result<io::Result<Child>> {
        let container: &Container = self.container;
        let inner = &mut self.inner;
        // Outer error: no thread; inner error: the thread could not join; then the spawn's.
        let result = std::thread::scope(|scope| {
            let forker = std::thread::Builder::new()
                .name("furnace-spawn".into())
                .spawn_scoped(scope, || {
                    container.children_in_pid_namespace()?;
                    Ok(inner.spawn())
                })?;
            Ok(forker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
        });
        match result {
            Ok(joined) => joined.map_err(|e| self.join_error(e)),
            Err(e) => Err(crate::Error::Sys {
                context: "start the thread that spawns the command",
                error: furnace_sys::Error::new(
                    "clone",
                    "thread",
                    Errno::from_io_error(&e).unwrap_or(Errno::AGAIN),
                ),
            }
            .into()),
        }
    }

    /// A failure to join PID 1's pid namespace: ESRCH once PID 1 is exiting (its namespaces
    /// are gone even while the kernel still waits for our unreaped children in it).
    fn join_error(&self, e: io::Error) -> io::Error {
        if e.raw_os_error() == Some(libc::ESRCH) {
            crate::Error::NotRunning {
                pid: self.container.init_pid(),
            }
            .into()
        } else {
            self.spawn_error(SpawnStep::JoinNamespaces, e)
        }
    }

    /// The working directory inside as an absolute path, `.` and `..` resolved by name, as a
    /// shell's `cd` keeps it: what `PWD` says.
    fn pwd(&self) -> PathBuf {
        use std::path::Component;
        let mut pwd = PathBuf::from("/");
        for part in self.cwd.iter().flat_map(|dir| dir.components()) {
            match part {
                Component::Normal(name) => pwd.push(name),
                Component::ParentDir => {
                    pwd.pop();
                }
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            }
        }
        pwd
    }

    /// Rootless: every id the process is to take on must be mapped in the user namespace,
    /// or the kernel refuses it with a bare `EINVAL` after the fork.
    fn check_ids(&self, ns: &crate::rootless::UserNamespace) -> io::Result<()> {
        if let Some(uid) = self.entry.uid {
            ns.check("uid", uid.as_raw())?;
        }
        if let Some(gid) = self.entry.gid {
            ns.check("gid", gid.as_raw())?;
        }
        for gid in self.entry.groups.iter().flatten() {
            ns.check("supplementary gid", gid.as_raw())?;
        }
        Ok(())
    }

    fn spawn_error(&self, step: SpawnStep, error: io::Error) -> io::Error {
        if !self.container.is_running() {
            return crate::Error::NotRunning {
                pid: self.container.init_pid(),
            }
            .into();
        }
        let program = PathBuf::from(&self.program);
        if step == SpawnStep::CheckStdio {
            return crate::Error::StdioIsDirectory { program }.into();
        }
        crate::Error::Spawn {
            program,
            step,
            cwd: self.cwd.clone(),
            error,
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

impl Container {
    /// Makes the calling thread's new children be born in the container's pid namespace, for
    /// good: through PID 1's pid namespace file in a user namespace (where the pidfd fails the
    /// kernel's ptrace check against the non-dumpable PID 1), else through the pidfd.
    fn children_in_pid_namespace(&self) -> io::Result<()> {
        let file = self
            .namespace_files
            .iter()
            .find(|(kind, _)| *kind == furnace_sys::Namespace::Pid);
        match file {
            Some((_, fd)) => {
                furnace_sys::ns::forksafe::setns(fd.as_fd(), furnace_sys::Namespace::Pid)
            }
            None => rustix::thread::move_into_thread_name_spaces(
                self.init.as_fd(),
                rustix::thread::ThreadNameSpaceType::PROCESS_ID,
            ),
        }
        .map_err(io::Error::from)
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

/// Every capability bit: the privileged profile's set, whatever the kernel knows (the child
/// stops at the kernel's last capability).
const ALL_CAPABILITIES: furnace_sys::cred::CapabilitySet =
    furnace_sys::cred::CapabilitySet::from_bits_retain(u64::MAX);

/// The set holding `cap` alone.
fn capability_set(cap: furnace_sys::caps::Cap) -> furnace_sys::cred::CapabilitySet {
    furnace_sys::cred::CapabilitySet::from_bits_retain(cap.bitmask())
}

/// The failure record the child wrote on the report pipe, if it wrote one (it did when a
/// step of entering the container failed; not when `exec` itself failed).
fn read_failure(pipe: &OwnedFd) -> Option<(SpawnStep, Errno)> {
    let mut record = [0u8; enter::RECORD_LEN];
    // std returns from a failed spawn only after the child is gone, so whatever it wrote is
    // in the pipe, and the write end is closed: this read cannot block.
    match rustix::io::read(pipe, &mut record) {
        Ok(n) if n == record.len() => enter::decode(record),
        _ => None,
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

/// Waits for `child`, which leads a process group of its own in the terminal's foreground,
/// continuing that group whenever the child stops.
fn wait_continuing(mut child: std::process::Child) -> io::Result<ExitStatus> {
    let group = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let (Ok(pidfd), Some(group)) = (furnace_sys::Pidfd::open(child.id()), group) {
        while let Ok(Some(_)) = pidfd.wait_stop_or_exit() {
            let _ = rustix::process::kill_process_group(group, furnace_sys::Signal::CONT);
        }
    }
    child.wait()
}
