//! Errors of furnace-core: what went wrong, at which step, on which path, with which errno.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use furnace_sys::{DisplayErrno, DisplayPath, Errno, ExitKind};

/// Everything that can go wrong when building, starting, using or stopping a container.
///
/// Input problems ([`Error::InvalidRoot`], [`Error::BindSource`], [`Error::BindDestination`],
/// [`Error::InvalidHostname`], [`Error::InvalidOverlay`], [`Error::TmpfsDestination`],
/// [`Error::InvalidTmpfs`], [`Error::ResolvConf`]) are found before any namespace is made. A failure inside the
/// new namespaces is a [`Error::Setup`] naming the step; by the time it is returned, the
/// half-made container is gone.
///
/// Every message is complete on its own line: a variant that wraps a lower error (an
/// [`std::io::Error`], a [`furnace_sys::Error`]) shows it in its `Display` and keeps it in a
/// public field, but does not return it again from [`source`](std::error::Error::source), so
/// that printing the chain never repeats a cause. This matters because commands return
/// `std::io::Error`, whose `Display` shows only the outermost message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The root directory cannot be used.
    #[error("root directory {}: {problem}", DisplayPath(path))]
    InvalidRoot {
        /// The root as given.
        path: PathBuf,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// The source of a bind mount cannot be used.
    #[error("bind source {}: {problem}", DisplayPath(path))]
    BindSource {
        /// The source as given.
        path: PathBuf,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// The destination of a bind mount cannot be used.
    #[error("bind destination {} (inside the root): {problem}", DisplayPath(path))]
    BindDestination {
        /// The destination as given.
        path: PathBuf,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// An overlay's upper or work directory cannot be used
    /// ([`ContainerBuilder::overlay`](crate::ContainerBuilder::overlay)).
    #[error("overlay {what} {}: {problem}", DisplayPath(path))]
    InvalidOverlay {
        /// `upper directory` or `work directory`.
        what: &'static str,
        /// The directory as given (or, for the work directory furnace makes, as it would be).
        path: PathBuf,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// The destination of a tmpfs cannot be used
    /// ([`ContainerBuilder::tmpfs`](crate::ContainerBuilder::tmpfs)).
    #[error("tmpfs destination {} (inside the root): {problem}", DisplayPath(path))]
    TmpfsDestination {
        /// The destination as given.
        path: PathBuf,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// A tmpfs option is out of range or not understood
    /// ([`TmpfsOptions`](crate::TmpfsOptions)).
    #[error("tmpfs {option} {value}: {reason}")]
    InvalidTmpfs {
        /// `size`, `mode`, or `option` for one that is not known.
        option: &'static str,
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The host's `resolv.conf` cannot be given to the container as
    /// [`ResolvConf::Bind`](crate::ResolvConf::Bind) or
    /// [`ResolvConf::Copy`](crate::ResolvConf::Copy) ask (or a mode's name is not known).
    #[error("resolv.conf{}: {reason}", ShowMode(*mode))]
    ResolvConf {
        /// The mode asked for (`None`: a name that is not one).
        mode: Option<crate::ResolvConf>,
        /// Why.
        reason: String,
    },
    /// The hostname is not acceptable to `sethostname(2)`.
    #[error("hostname {name:?}: {reason}")]
    InvalidHostname {
        /// The hostname as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A step of the container's set-up failed inside the new namespaces.
    #[error("container set-up step {step} ({operation}): {}", DisplayErrno(*errno))]
    Setup {
        /// The step's number in the set-up plan, from 1.
        step: usize,
        /// What the step does, e.g. `mount devpts on /dev/pts`.
        operation: String,
        /// The errno it failed with.
        errno: Errno,
    },
    /// The container's init process died before it reported ready or failed.
    #[error("container init (pid {pid}) died during set-up: {}", DisplayExit(*how))]
    InitDied {
        /// Its host pid.
        pid: u32,
        /// How it ended.
        how: ExitKind,
    },
    /// The container's init process is gone, so nothing can run in it any more.
    #[error("the container is not running: its init process (pid {pid}) has exited")]
    NotRunning {
        /// The host pid init had.
        pid: u32,
    },
    /// A command could not be started in the container: not found, not executable, or one of
    /// the steps that put the child into the container failed (`step` says which).
    #[error(
        "spawn {} in the container{}: {step}: {error}",
        DisplayPath(program),
        InDir(cwd.as_deref())
    )]
    Spawn {
        /// The program as given.
        program: PathBuf,
        /// The step of entering the container (or the final `exec`) that failed.
        step: SpawnStep,
        /// The working directory inside, when one was set.
        cwd: Option<PathBuf>,
        /// What failed, with its errno (`raw_os_error`).
        error: std::io::Error,
    },
    /// A command's stdin, stdout or stderr was a directory or a path-only (`O_PATH`) fd: refused,
    /// because through it a process inside could walk the host's filesystem.
    #[error(
        "spawn {} in the container: its standard input, output or error is a directory or an \
         O_PATH fd, which would open the host's filesystem to it",
        DisplayPath(program)
    )]
    StdioIsDirectory {
        /// The program as given.
        program: PathBuf,
    },
    /// A host-side call failed (while preparing, spawning, or tearing down).
    #[error("{context}: {error}")]
    Sys {
        /// What furnace was doing.
        context: &'static str,
        /// The failed call, with its errno.
        error: furnace_sys::Error,
    },
    /// The caller lacks the privileges to make a container: `CAP_SYS_ADMIN`, which root has,
    /// and so does any process in a user namespace of its own. The fix for a caller without
    /// root is [`rootless::enter`](crate::rootless::enter) at the start of `main`.
    #[error(
        "starting a container needs CAP_SYS_ADMIN, which this process (uid {uid}) lacks: call \
         furnace_core::rootless::enter(IdMapping::Auto) at the start of main to run in a \
         user namespace of its own (the furnace command does this itself), or run as root"
    )]
    NeedsRoot {
        /// The caller's effective uid.
        uid: u32,
    },
    /// [`rootless::enter`](crate::rootless::enter) could not put the process into a user
    /// namespace of its own.
    #[error("cannot enter a user namespace: {reason}")]
    UserNamespace {
        /// What failed, and why.
        reason: String,
    },
    /// A uid or gid asked for inside the container is not mapped in the user namespace
    /// furnace runs in (rootless), so no process can take it on.
    #[error(
        "{kind} {id} is not mapped in furnace's user namespace (mapped inside: {mapped}): {hint}"
    )]
    UnmappedId {
        /// `uid`, `gid` or `supplementary gid`.
        kind: &'static str,
        /// The id asked for.
        id: u32,
        /// The ids that are mapped, e.g. `0` or `0-65536`.
        mapped: String,
        /// How to get it mapped.
        hint: &'static str,
    },
    /// Rootless: a set-up step had to create something in a root directory that belongs to
    /// a user outside the user namespace (typically root), so it is not writable inside.
    #[error(
        "container set-up step {step} ({operation}): {}: the root {} is owned by a user that \
         is not mapped in furnace's user namespace (root, typically), so nothing can be \
         created in it; create the directories and files the container needs beforehand, or \
         unpack the root as your own user (for example `tar --no-same-owner -xf ROOTFS.tar` \
         run as yourself)",
        DisplayErrno(*errno),
        DisplayPath(root)
    )]
    RootNotWritable {
        /// The step's number in the set-up plan.
        step: usize,
        /// What the step does.
        operation: String,
        /// The errno it failed with.
        errno: Errno,
        /// The root directory.
        root: PathBuf,
    },
    /// A resource limit is out of range; found before anything is made.
    #[error("{what} {value}: {reason}")]
    InvalidLimit {
        /// Which limit.
        what: &'static str,
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The container's cgroups could not be made or used.
    #[error("cgroups: {what}: {error}")]
    Cgroup {
        /// What furnace was doing, with the hierarchy and path.
        what: String,
        /// The failed call, with its errno.
        error: furnace_sys::Error,
    },
    /// A user or group name could not be found in the container's `/etc/passwd` or
    /// `/etc/group`.
    #[error("user {name:?} in the root {}: {reason}", DisplayPath(root))]
    UnknownUser {
        /// The name as given.
        name: String,
        /// The container's root.
        root: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The container's set-up did not finish in time ([`ContainerBuilder::start_timeout`]):
    /// a step hung, for instance on a bind source of an unresponsive network filesystem.
    /// PID 1 has been killed and reaped, so nothing of the half-made container is left.
    ///
    /// [`ContainerBuilder::start_timeout`]: crate::ContainerBuilder::start_timeout
    #[error(
        "container set-up did not finish within {}: step {step} ({operation}) was still \
         running; nothing of the container is left",
        DisplayDuration(*timeout)
    )]
    StartTimeout {
        /// The deadline that passed.
        timeout: Duration,
        /// The step that was running, numbered as in [`Error::Setup`] (0: preparing PID 1).
        step: usize,
        /// What that step does.
        operation: String,
    },
    /// The container's init process had already ended when the container was stopped: it was
    /// killed from outside (or crashed), and with it every process inside.
    #[error(
        "the container's init (pid {pid}) had already ended ({}) before it was stopped",
        DisplayExit(*how)
    )]
    InitExited {
        /// The host pid init had.
        pid: u32,
        /// How it ended.
        how: ExitKind,
    },
    /// A container name is not acceptable ([`ContainerBuilder::name`]).
    ///
    /// [`ContainerBuilder::name`]: crate::ContainerBuilder::name
    #[error("container name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A detached container of that name runs already.
    #[error("a container named {name:?} runs already (PID 1 at pid {pid}): stop it first, or choose another name")]
    NameInUse {
        /// The name.
        name: String,
        /// The host pid of its PID 1 (0: unknown).
        pid: u32,
    },
    /// No container of that name runs: it was never started, has been stopped, or its
    /// timeout ended it.
    #[error("no container named {name:?} is running")]
    NoSuchContainer {
        /// The name as given.
        name: String,
    },
    /// The registry of named containers could not be read or written.
    #[error("{what}: {error}")]
    Registry {
        /// What was being done, with the path.
        what: String,
        /// The error.
        error: std::io::Error,
    },
    /// A detached container's PID 1 did not exit within the time `stop` waits: a process
    /// outside the container holds an unreaped child of it.
    #[error(
        "the container's init (pid {pid}) did not exit within {} of being killed: a process          outside the container still has to reap one of its children inside",
        DisplayDuration(*timeout)
    )]
    StopTimeout {
        /// The host pid of PID 1.
        pid: u32,
        /// How long `stop` waited.
        timeout: Duration,
    },
    /// A path given to a host-side helper (overlay, bind guard) cannot be used.
    #[error("{what} {}: {problem}", DisplayPath(path))]
    InvalidPath {
        /// Which argument.
        what: &'static str,
        /// The path as given.
        path: PathBuf,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// The hardened profile's user namespace needs a mount idmapped, and its filesystem cannot
    /// be ([`PrivateUsers`](crate::PrivateUsers)); found before any of the container's
    /// namespaces is made.
    #[error(
        "{what} {}: its filesystem ({filesystem}) cannot be idmapped, which the hardened \
         profile's user namespace needs (root inside is nobody outside); {}",
        DisplayPath(path),
        if *read_only_fallback {
            "an overlay must be able to take writes: use a lower directory on ext4, xfs, \
             btrfs or tmpfs"
        } else {
            "use a root on ext4, xfs, btrfs or tmpfs (or an overlay of furnace's own over \
             one), mount it read-only instead (`PrivateUsers::PickOrReadOnly`, \
             `--private-users read-only`), or keep root inside as root outside \
             (`PrivateUsers::Off`, `--private-users off`)"
        }
    )]
    NotIdmappable {
        /// `root`, `bind source`, or which overlay directory.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// Its filesystem's type as the mount table names it (`overlay`, `nfs4`).
        filesystem: String,
        /// The read-only fallback was asked for, and does not apply (an overlay's layer).
        read_only_fallback: bool,
    },
    /// A sysctl cannot be set inside ([`ContainerBuilder::sysctl`](crate::ContainerBuilder::sysctl)):
    /// not a name, or not of the container's own namespaces; found before anything is made.
    #[error("sysctl {key:?}: {reason}")]
    InvalidSysctl {
        /// The key as given.
        key: String,
        /// Why it was refused.
        reason: String,
    },
    /// The program PID 1 is to become cannot be used
    /// ([`ContainerBuilder::exec_init`](crate::ContainerBuilder::exec_init)); found before
    /// anything is made.
    #[error("init program {program:?}: {reason}")]
    InvalidInitProgram {
        /// Its `args[0]`, as given (empty when there is none).
        program: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A seccomp profile cannot be used: a field holds a value furnace does not understand or
    /// cannot honour ([`SeccompProfile`](crate::SeccompProfile)). Nothing in a profile is
    /// ignored silently.
    #[error("seccomp profile {field}{}: {reason}", ShowValue(value))]
    InvalidSeccomp {
        /// The field: a path in the JSON document (`syscalls[3].args[0].op`), or in the
        /// profile for one built in code (`rules[2].names[0]`).
        field: String,
        /// The value as given (strings quoted; empty when the field itself is the problem).
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A seccomp profile could not be compiled into BPF programs the kernel accepts.
    #[error("seccomp profile: cannot compile it into BPF: {reason}")]
    SeccompCompile {
        /// Why.
        reason: String,
    },
}

/// A step of putting a new process into a container, in the order they run in the child
/// between `fork` and `exec` (see [`Error::Spawn`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpawnStep {
    /// Marking the inherited fds close-on-exec (`close_range(2)`).
    CloseFds,
    /// Checking that stdin, stdout and stderr are no directory or `O_PATH` fd.
    CheckStdio,
    /// Unblocking the signals the caller had blocked.
    UnblockSignals,
    /// Making the process non-dumpable until exec.
    NonDumpable,
    /// Joining the container's cgroups (writing to their `cgroup.procs`).
    JoinCgroups,
    /// Joining the container's namespaces (`setns(2)` on PID 1's pidfd).
    JoinNamespaces,
    /// Changing to the working directory inside.
    ChangeDirectory,
    /// Verifying that the working directory lies inside the container's root.
    VerifyDirectory,
    /// Reducing the capabilities (hardened profile).
    RestrictCapabilities,
    /// Setting `no_new_privs` (hardened profile).
    NoNewPrivileges,
    /// Leading a process group of its own, and a session when it has no terminal or one of
    /// its own (and in the hardened profile).
    NewSession,
    /// Making the container's pseudo-terminal the controlling terminal
    /// ([`Command::terminal`](crate::Command::terminal)).
    ControllingTerminal,
    /// Switching to the requested uid and gid.
    SetIds,
    /// Joining a session keyring of its own.
    JoinKeyring,
    /// Attaching the container's seccomp filters ([`Seccomp`](crate::Seccomp)).
    Seccomp,
    /// Executing the program (not found, not executable, …).
    Exec,
}

impl SpawnStep {
    /// All steps, in the order they run.
    pub(crate) const ALL: [SpawnStep; 16] = [
        SpawnStep::CloseFds,
        SpawnStep::CheckStdio,
        SpawnStep::UnblockSignals,
        SpawnStep::NonDumpable,
        SpawnStep::JoinCgroups,
        SpawnStep::JoinNamespaces,
        SpawnStep::ChangeDirectory,
        SpawnStep::VerifyDirectory,
        SpawnStep::RestrictCapabilities,
        SpawnStep::NoNewPrivileges,
        SpawnStep::NewSession,
        SpawnStep::ControllingTerminal,
        SpawnStep::SetIds,
        SpawnStep::JoinKeyring,
        SpawnStep::Seccomp,
        SpawnStep::Exec,
    ];

    /// The step's number on the wire between the child and the parent.
    pub(crate) fn code(self) -> u32 {
        self as u32
    }

    /// The step with this number, if any.
    pub(crate) fn from_code(code: u32) -> Option<SpawnStep> {
        Self::ALL.iter().copied().find(|s| s.code() == code)
    }
}

impl fmt::Display for SpawnStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SpawnStep::CloseFds => "mark inherited fds close-on-exec",
            SpawnStep::CheckStdio => "check stdio",
            SpawnStep::UnblockSignals => "unblock signals",
            SpawnStep::NonDumpable => "make the process non-dumpable",
            SpawnStep::JoinCgroups => "join the container's cgroups",
            SpawnStep::JoinNamespaces => "join the container's namespaces",
            SpawnStep::ChangeDirectory => "change to the working directory",
            SpawnStep::VerifyDirectory => "working directory lies outside the container's root",
            SpawnStep::RestrictCapabilities => "restrict capabilities",
            SpawnStep::NoNewPrivileges => "set no_new_privs",
            SpawnStep::NewSession => "start a new session or process group",
            SpawnStep::ControllingTerminal => "make the terminal the controlling terminal",
            SpawnStep::SetIds => "set uid and gid",
            SpawnStep::JoinKeyring => "join a new session keyring",
            SpawnStep::Seccomp => "attach the seccomp filters",
            SpawnStep::Exec => "exec",
        })
    }
}

/// What is wrong with a path given to furnace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathProblem {
    /// Nothing exists there.
    #[error("does not exist")]
    Missing,
    /// It exists but is not a directory.
    #[error("is not a directory")]
    NotADirectory,
    /// It must be absolute.
    #[error("is not an absolute path")]
    NotAbsolute,
    /// It contains a `..` component.
    #[error("contains a `..` component")]
    DotDot,
    /// It is the container's root itself.
    #[error("is the root of the container")]
    IsRoot,
    /// Resolving it inside the root would leave the root (an absolute symlink, or `..` past
    /// the top).
    #[error("leads out of the root through a symlink")]
    EscapesRoot,
    /// Source and destination kinds do not match (a file onto a directory or back).
    #[error("{0}")]
    KindMismatch(&'static str),
    /// It contains a NUL byte, which no path given to the kernel can.
    #[error("contains a NUL byte")]
    NulByte,
    /// A component is longer than `NAME_MAX` (255 bytes).
    #[error("has a component of {len} bytes, longer than NAME_MAX (255)")]
    NameTooLong {
        /// The component's length in bytes.
        len: usize,
    },
    /// The path is longer than `PATH_MAX` less its NUL byte (4095 bytes).
    #[error("is {len} bytes long inside the root, longer than PATH_MAX allows (4095)")]
    PathTooLong {
        /// The path's length in bytes, as `/a/b`.
        len: usize,
    },
    /// A character the mount options cannot carry (`,` `:` `\` or a newline).
    #[error("contains {0:?}, which mount options cannot carry")]
    UnsupportedCharacter(char),
    /// Checking it failed with this errno.
    #[error("{}", DisplayErrno(*.0))]
    Errno(Errno),
}

impl PathProblem {
    /// Classifies an errno met while looking at a path.
    pub(crate) fn from_errno(errno: Errno) -> Self {
        match errno {
            Errno::NOENT => PathProblem::Missing,
            Errno::NOTDIR => PathProblem::NotADirectory,
            Errno::XDEV => PathProblem::EscapesRoot,
            other => PathProblem::Errno(other),
        }
    }

    pub(crate) fn from_io(err: &std::io::Error) -> Self {
        Self::from_errno(Errno::from_io_error(err).unwrap_or(Errno::IO))
    }
}

struct InDir<'a>(Option<&'a std::path::Path>);

impl std::fmt::Display for InDir<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(dir) => write!(f, " (working directory {})", DisplayPath(dir)),
            None => Ok(()),
        }
    }
}

struct ShowMode(Option<crate::ResolvConf>);

impl fmt::Display for ShowMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(mode) => write!(f, " ({mode})"),
            None => f.write_str(" mode"),
        }
    }
}

struct ShowValue<'a>(&'a str);

impl fmt::Display for ShowValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, " {}", self.0)
        }
    }
}

struct DisplayDuration(Duration);

impl fmt::Display for DisplayDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            write!(f, "{} s", d.as_secs())
        } else if d >= Duration::from_millis(1) {
            write!(f, "{:.3} s", d.as_secs_f64())
        } else {
            write!(f, "{d:?}")
        }
    }
}

struct DisplayExit(ExitKind);

impl std::fmt::Display for DisplayExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            ExitKind::Exited(code) => write!(f, "exit status {code}"),
            ExitKind::Signaled(sig) => write!(f, "killed by signal {sig}"),
        }
    }
}

impl Error {
    pub(crate) fn sys(context: &'static str) -> impl FnOnce(furnace_sys::Error) -> Error {
        move |error| Error::Sys { context, error }
    }
}

impl From<Error> for std::io::Error {
    fn from(err: Error) -> Self {
        let kind = match &err {
            Error::InvalidRoot {
                problem: PathProblem::Missing,
                ..
            }
            | Error::BindSource {
                problem: PathProblem::Missing,
                ..
            }
            | Error::InvalidOverlay {
                problem: PathProblem::Missing,
                ..
            } => std::io::ErrorKind::NotFound,
            Error::NotRunning { .. } => std::io::ErrorKind::BrokenPipe,
            Error::Spawn { error, .. } => error.kind(),
            Error::NeedsRoot { .. } => std::io::ErrorKind::PermissionDenied,
            Error::StartTimeout { .. } => std::io::ErrorKind::TimedOut,
            Error::StdioIsDirectory { .. } => std::io::ErrorKind::InvalidInput,
            Error::Sys { error, .. } => {
                std::io::Error::from_raw_os_error(error.raw_os_error()).kind()
            }
            Error::Setup { errno, .. } => {
                std::io::Error::from_raw_os_error(errno.raw_os_error()).kind()
            }
            _ => std::io::ErrorKind::InvalidInput,
        };
        std::io::Error::new(kind, err)
    }
}

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_step_path_and_errno() {
        let e = Error::Setup {
            step: 7,
            operation: "mount devpts on /dev/pts".into(),
            errno: Errno::PERM,
        };
        assert_eq!(
            e.to_string(),
            "container set-up step 7 (mount devpts on /dev/pts): EPERM (Operation not permitted)"
        );
        let e = Error::InvalidRoot {
            path: "/nope".into(),
            problem: PathProblem::Missing,
        };
        assert_eq!(e.to_string(), "root directory /nope: does not exist");
        let e = Error::BindDestination {
            path: "/etc/evil".into(),
            problem: PathProblem::EscapesRoot,
        };
        assert_eq!(
            e.to_string(),
            "bind destination /etc/evil (inside the root): leads out of the root through a symlink"
        );
    }

    #[test]
    fn io_error_kind_follows_the_problem() {
        let e: std::io::Error = Error::InvalidRoot {
            path: "/x".into(),
            problem: PathProblem::Missing,
        }
        .into();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        let e: std::io::Error = Error::NotRunning { pid: 3 }.into();
        assert!(e.to_string().contains("not running"));
    }

    #[test]
    fn messages_are_whole_and_causes_are_not_repeated() {
        use std::error::Error as _;
        let e = Error::Spawn {
            program: "ls".into(),
            step: SpawnStep::ChangeDirectory,
            cwd: Some("/nope".into()),
            error: std::io::Error::from_raw_os_error(libc::ENOENT),
        };
        assert_eq!(
            e.to_string(),
            "spawn ls in the container (working directory /nope): change to the working \
             directory: No such file or directory (os error 2)"
        );
        assert!(
            e.source().is_none(),
            "the cause is shown, not chained again"
        );
        let e = Error::Sys {
            context: "open /dev/null",
            error: furnace_sys::Error::new("open", "/dev/null", Errno::ACCESS),
        };
        assert!(e.source().is_none());
        assert!(
            e.to_string()
                .starts_with("open /dev/null: open /dev/null: EACCES"),
            "{e}"
        );
        let e = Error::NeedsRoot { uid: 1000 };
        assert!(
            e.to_string()
                .starts_with("starting a container needs CAP_SYS_ADMIN")
                && e.to_string().contains("furnace_core::rootless::enter"),
            "{e}"
        );
        let io: std::io::Error = e.into();
        assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn new_input_errors_name_what_and_why() {
        let e = Error::InvalidTmpfs {
            option: "size",
            value: "0".into(),
            reason: "is less than one page (4096 bytes)",
        };
        assert_eq!(
            e.to_string(),
            "tmpfs size 0: is less than one page (4096 bytes)"
        );
        let e = Error::TmpfsDestination {
            path: "/x".into(),
            problem: PathProblem::PathTooLong { len: 5000 },
        };
        assert_eq!(
            e.to_string(),
            "tmpfs destination /x (inside the root): is 5000 bytes long inside the root, longer \
             than PATH_MAX allows (4095)"
        );
        let e = Error::ResolvConf {
            mode: Some(crate::ResolvConf::Bind),
            reason: "the root has no /etc".into(),
        };
        assert_eq!(e.to_string(), "resolv.conf (bind): the root has no /etc");
        let e = Error::InvalidOverlay {
            what: "upper directory",
            path: "/nope".into(),
            problem: PathProblem::Missing,
        };
        assert_eq!(
            e.to_string(),
            "overlay upper directory /nope: does not exist"
        );
        let io: std::io::Error = e.into();
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn spawn_steps_have_distinct_codes() {
        for step in SpawnStep::ALL {
            assert_eq!(SpawnStep::from_code(step.code()), Some(step));
        }
        assert_eq!(SpawnStep::from_code(u32::MAX), None);
    }

    #[test]
    fn timeouts_say_how_long_and_which_step() {
        let e = Error::StartTimeout {
            timeout: Duration::from_millis(1500),
            step: 4,
            operation: "open bind source /mnt/nfs".into(),
        };
        assert_eq!(
            e.to_string(),
            "container set-up did not finish within 1.500 s: step 4 (open bind source \
             /mnt/nfs) was still running; nothing of the container is left"
        );
    }
}
