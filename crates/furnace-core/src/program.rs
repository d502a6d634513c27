//! A program PID 1 becomes once the container has started ([`InitProgram`],
//! [`ContainerBuilder::exec_init`](crate::ContainerBuilder::exec_init)): the container's main
//! process, as an OCI runtime runs it — and what the parent prepares of it before the fork.

use std::ffi::{CString, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use furnace_sys::cred::AllCapabilitySets;
use furnace_sys::process::PreparedProgram;

use crate::error::{Error, PathProblem, Result};

/// The program PID 1 becomes, by `execve`, once the container is set up and started — in place
/// of furnace's own init, which otherwise stays PID 1 and runs commands as its children.
///
/// It is what an OCI runtime's `process` is: the container lives as long as this program, its
/// exit status is the container's, and signals to the container are signals to it. Until it
/// runs, PID 1 waits at the [`start_gate`](InitProgram::start_gate) if there is one. It gets
/// the stdio of the process that started the container, the identity and capability sets
/// given here (by default root with every capability the starter has), the limits, and the
/// container's seccomp filter last.
///
/// ```no_run
/// use furnace_core::{Container, InitProgram, Lifetime, Registry};
/// let registry = Registry::at("/run/my-engine");
/// let c = Container::builder("/srv/rootfs")
///     .lifetime(Lifetime::Detached { timeout: None })
///     .name("web")
///     .registry(registry)
///     .exec_init(
///         InitProgram::new(["sh", "-c", "exec httpd -f"])
///             .env(["PATH=/usr/bin:/bin"])
///             .cwd("/srv"),
///     )
///     .start()?;
/// println!("PID 1 is pid {}", c.init_pid());
/// # Ok::<(), furnace_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct InitProgram {
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<OsString>,
    pub(crate) cwd: PathBuf,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) groups: Vec<u32>,
    pub(crate) capabilities: Option<AllCapabilitySets>,
    pub(crate) rlimits: Vec<(u32, u64, u64)>,
    pub(crate) no_new_privileges: bool,
    pub(crate) oom_score_adj: Option<i32>,
    pub(crate) umask: Option<u32>,
    pub(crate) start_gate: Option<PathBuf>,
    pub(crate) terminal: bool,
    pub(crate) preserve_fds: u32,
}

impl InitProgram {
    /// `args[0]` run with `args` (found through the environment's `PATH` inside the container
    /// when it has no `/`), as root, in `/`, with an empty environment.
    pub fn new<I, S>(args: I) -> InitProgram
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        InitProgram {
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            cwd: PathBuf::from("/"),
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            capabilities: None,
            rlimits: Vec::new(),
            no_new_privileges: false,
            oom_score_adj: None,
            umask: None,
            start_gate: None,
            terminal: false,
            preserve_fds: 0,
        }
    }

    /// Passes the starter's fds 3 to `3 + count - 1` to the program at the same numbers, as
    /// an OCI runtime's `--preserve-fds` does (socket activation, say); every other fd of
    /// the starter stays out. Each must be open when the container starts.
    ///
    /// ```no_run
    /// use furnace_core::{Container, InitProgram, Lifetime};
    /// // fd 3, a listening socket the caller inherited, becomes the server's fd 3.
    /// let program = InitProgram::new(["/usr/sbin/server", "--listen-fd=3"]).preserve_fds(1);
    /// let container = Container::builder("/srv/rootfs")
    ///     .lifetime(Lifetime::Detached { timeout: None })
    ///     .exec_init(program)
    ///     .start()?;
    /// # Ok::<(), furnace_core::Error>(())
    /// ```
    pub fn preserve_fds(mut self, count: u32) -> InitProgram {
        self.preserve_fds = count;
        self
    }

    /// Gives the program a terminal of the container's own devpts as its stdio and
    /// controlling terminal (in a session of its own), owned by its user, in place of the
    /// starter's stdio; the caller gets the master with
    /// [`Container::take_init_terminal`](crate::Container::take_init_terminal) once the
    /// container has started (an OCI runtime sends it to the engine's console socket).
    pub fn terminal(mut self, terminal: bool) -> InitProgram {
        self.terminal = terminal;
        self
    }

    /// The environment, `KEY=VALUE` strings (replacing any set before).
    pub fn env<I, S>(mut self, env: I) -> InitProgram
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.env = env.into_iter().map(Into::into).collect();
        self
    }

    /// The working directory inside the container (absolute; default `/`).
    pub fn cwd(mut self, cwd: impl Into<PathBuf>) -> InitProgram {
        self.cwd = cwd.into();
        self
    }

    /// The user, group and supplementary groups (ids of the container; default root, no
    /// supplementary group).
    pub fn user(mut self, uid: u32, gid: u32, groups: impl IntoIterator<Item = u32>) -> Self {
        self.uid = uid;
        self.gid = gid;
        self.groups = groups.into_iter().collect();
        self
    }

    /// Exactly these capability sets (default: the starter's, all of them as root).
    pub fn capabilities(mut self, sets: AllCapabilitySets) -> InitProgram {
        self.capabilities = Some(sets);
        self
    }

    /// One resource limit (`resource` as in `<sys/resource.h>`, e.g. `libc::RLIMIT_NOFILE`).
    pub fn rlimit(mut self, resource: u32, soft: u64, hard: u64) -> InitProgram {
        self.rlimits.push((resource, soft, hard));
        self
    }

    /// Sets `no_new_privs` before the exec (default: off).
    pub fn no_new_privileges(mut self, on: bool) -> InitProgram {
        self.no_new_privileges = on;
        self
    }

    /// The OOM killer's adjustment for the program (-1000 to 1000).
    pub fn oom_score_adj(mut self, adj: i32) -> InitProgram {
        self.oom_score_adj = Some(adj);
        self
    }

    /// The umask (default: the one PID 1 inherited).
    pub fn umask(mut self, umask: u32) -> InitProgram {
        self.umask = Some(umask);
        self
    }

    /// A FIFO on the host: once set up, PID 1 opens it for writing — which blocks until some
    /// process opens it for reading — writes one byte, and only then becomes the program. This
    /// is how an OCI runtime's `create` leaves a container waiting and `start` releases it.
    pub fn start_gate(mut self, fifo: impl Into<PathBuf>) -> InitProgram {
        self.start_gate = Some(fifo.into());
        self
    }
}

/// What PID 1 needs to become the program, prepared before the fork.
pub(crate) struct PreparedInit {
    pub program: PreparedProgram,
    pub cwd: CString,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<furnace_sys::cred::Gid>,
    pub capabilities: Option<AllCapabilitySets>,
    pub rlimits: Vec<(u32, u64, u64)>,
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
    pub umask: Option<u32>,
    /// Copies of the starter's stdio (numbered 3 or above), which become the program's; with
    /// a terminal, of `/dev/null` (the terminal becomes its stdio).
    pub stdio: [OwnedFd; 3],
    /// The gate, `O_PATH`, and `/proc/self/fd/N` to reopen it for writing inside.
    pub gate: Option<(OwnedFd, CString)>,
    /// With a terminal: the socket on which PID 1 sends the master (PID 1's end, and the
    /// parent's).
    pub terminal: Option<(OwnedFd, OwnedFd)>,
    /// The starter's fds `3..3 + preserve_fds`, kept at their numbers for the program.
    pub preserve_fds: u32,
}

impl InitProgram {
    /// [`Error::InvalidInitProgram`] for this program (named by `args[0]`).
    pub(crate) fn invalid(&self, reason: &'static str) -> Error {
        Error::InvalidInitProgram {
            program: self
                .args
                .first()
                .map(|a| a.to_string_lossy().into_owned())
                .unwrap_or_default(),
            reason,
        }
    }
}

impl PreparedInit {
    /// Prepares `program` for PID 1.
    pub(crate) fn new(program: &InitProgram) -> Result<PreparedInit> {
        let invalid = |reason| program.invalid(reason);
        let first = program
            .args
            .first()
            .ok_or_else(|| invalid("has no arguments: args[0] names the program"))?;
        let prepared = PreparedProgram::new_os(first, &program.args, &program.env)
            .ok_or_else(|| invalid("its name, an argument or the environment holds a NUL byte"))?;
        if !program.cwd.is_absolute() {
            return Err(Error::InvalidPath {
                what: "init program's working directory",
                path: program.cwd.clone(),
                problem: PathProblem::NotAbsolute,
            });
        }
        let cwd =
            CString::new(program.cwd.as_os_str().as_bytes()).map_err(|_| Error::InvalidPath {
                what: "init program's working directory",
                path: program.cwd.clone(),
                problem: PathProblem::NulByte,
            })?;
        let dup = |fd: std::os::fd::BorrowedFd<'_>| {
            furnace_sys::fd::dup_above_stdio(fd).map_err(|error| Error::Sys {
                context: "keep the starter's stdio for the init program",
                error,
            })
        };
        // With a terminal the program's stdio is the terminal: nothing of the starter's is
        // kept, so that no starter waiting for the end of its own output (containerd's shim
        // reads `create`'s until EOF) waits for the container.
        let stdio = if program.terminal {
            let null = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
                .map_err(|e| Error::Sys {
                    context: "open /dev/null for the init program",
                    error: furnace_sys::Error::new(
                        "open",
                        "/dev/null",
                        furnace_sys::Errno::from_io_error(&e).unwrap_or(furnace_sys::Errno::IO),
                    ),
                })?;
            [dup(null.as_fd())?, dup(null.as_fd())?, dup(null.as_fd())?]
        } else {
            [
                dup(std::io::stdin().as_fd())?,
                dup(std::io::stdout().as_fd())?,
                dup(std::io::stderr().as_fd())?,
            ]
        };
        let gate = match &program.start_gate {
            None => None,
            Some(path) => Some(open_gate(path)?),
        };
        let terminal = match program.terminal {
            false => None,
            true => {
                let (parent, child) =
                    furnace_sys::fd::socketpair_above_stdio().map_err(|error| Error::Sys {
                        context: "create the socket for the init program's terminal",
                        error,
                    })?;
                Some((child, parent))
            }
        };
        Ok(PreparedInit {
            terminal,
            program: prepared,
            cwd,
            uid: program.uid,
            gid: program.gid,
            groups: program
                .groups
                .iter()
                .map(|&g| furnace_sys::cred::Gid::from_raw(g))
                .collect(),
            capabilities: program.capabilities,
            rlimits: program.rlimits.clone(),
            no_new_privileges: program.no_new_privileges,
            oom_score_adj: program.oom_score_adj,
            umask: program.umask,
            stdio,
            gate,
            preserve_fds: program.preserve_fds,
        })
    }
}

impl PreparedInit {
    /// The fds PID 1 must keep for the program: its stdio copies, the gate, the terminal's
    /// socket and the preserved fds.
    pub(crate) fn raw_fds(&self) -> impl Iterator<Item = std::os::fd::RawFd> + '_ {
        use std::os::fd::AsRawFd;
        self.stdio
            .iter()
            .map(AsRawFd::as_raw_fd)
            .chain(self.gate.iter().map(|(fd, _)| fd.as_raw_fd()))
            .chain(self.terminal.iter().map(|(child, _)| child.as_raw_fd()))
            .chain(3..3 + self.preserve_fds as std::os::fd::RawFd)
    }
}

/// The gate FIFO, `O_PATH` (numbered 3 or above), and the path through which PID 1 reopens it.
fn open_gate(path: &std::path::Path) -> Result<(OwnedFd, CString)> {
    let bad = |problem| Error::InvalidPath {
        what: "init program's start gate",
        path: path.to_path_buf(),
        problem,
    };
    let meta = std::fs::symlink_metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => bad(PathProblem::Missing),
        _ => bad(PathProblem::Errno(
            furnace_sys::Errno::from_io_error(&e).unwrap_or(furnace_sys::Errno::IO),
        )),
    })?;
    if !std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()) {
        return Err(bad(PathProblem::KindMismatch("is not a FIFO")));
    }
    let fd = rustix::fs::open(
        path,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC | rustix::fs::OFlags::NOFOLLOW,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| bad(PathProblem::Errno(e)))?;
    let fd = furnace_sys::fd::above_stdio(fd).map_err(|error| Error::Sys {
        context: "keep the start gate open",
        error,
    })?;
    let reopen = CString::new(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ))
    .map_err(|_| bad(PathProblem::NulByte))?;
    Ok((fd, reopen))
}
