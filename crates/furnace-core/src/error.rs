//! Errors of furnace-core: what went wrong, at which step, on which path, with which errno.

use std::path::PathBuf;

use furnace_sys::{DisplayErrno, DisplayPath, Errno, ExitKind};

/// Everything that can go wrong when building, starting, using or stopping a container.
///
/// Input problems ([`Error::InvalidRoot`], [`Error::BindSource`], [`Error::BindDestination`],
/// [`Error::InvalidHostname`]) are found before any namespace is made. A failure inside the
/// new namespaces is a [`Error::Setup`] naming the step; by the time it is returned, the
/// half-made container is gone.
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
    /// A command could not be started in the container: not found, not executable, or its
    /// working directory or ids could not be applied. The source keeps the errno.
    #[error("spawn {} in the container{}: {source}", DisplayPath(program), InDir(cwd.as_deref()))]
    Spawn {
        /// The program as given.
        program: PathBuf,
        /// The working directory inside, when one was set.
        cwd: Option<PathBuf>,
        /// What `std::process::Command::spawn` reported.
        #[source]
        source: std::io::Error,
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
    #[error("{context}: {source}")]
    Sys {
        /// What furnace was doing.
        context: &'static str,
        /// The failed call.
        #[source]
        source: furnace_sys::Error,
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
        move |source| Error::Sys { context, source }
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
            } => std::io::ErrorKind::NotFound,
            Error::NotRunning { .. } => std::io::ErrorKind::BrokenPipe,
            Error::Spawn { source, .. } => source.kind(),
            Error::StdioIsDirectory { .. } => std::io::ErrorKind::InvalidInput,
            Error::Sys { source, .. } => {
                std::io::Error::from_raw_os_error(source.raw_os_error()).kind()
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
}
