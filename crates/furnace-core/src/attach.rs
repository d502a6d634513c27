//! Attaching to a detached container from another process: PID 1 held by a pidfd checked
//! against its recorded start time, the namespaces joined through the pidfd (as root) or
//! through the fds PID 1 hands out on its socket (in a user namespace), the cgroups reopened.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::sync::Mutex;
use std::time::Duration;

use furnace_sys::{Errno, Namespace, Namespaces, Pidfd};

use crate::container::Container;
use crate::error::{Error, Result};
use crate::registry::{Entry, State, ATTACH_SOCKET};

/// How long to wait for PID 1 to answer on its socket.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle on the container `state` describes, ready to run commands.
pub(crate) fn attach(entry: Entry, state: State) -> Result<Container> {
    if state.user_namespace && !crate::rootless::in_user_namespace() && is_privileged() {
        // Its commands would run outside its user namespace: root of the host inside.
        return Err(Error::Registry {
            what: format!(
                "attach to {}: it was started without root, in a user namespace; attach as \
                 the user who started it",
                entry.name()
            ),
            error: Errno::PERM.into(),
        });
    }
    let (pid, start_time) = (state.pid, state.start_time);
    let mut container = handle(entry, state)?;
    if container.user_namespace {
        let (files, root) = receive_namespaces(&container, pid, start_time)?;
        container.namespace_files = files;
        container.root_fd = Some(root);
    }
    Ok(container)
}

/// A handle on the container `state` describes, enough to stop it (no namespace joined).
pub(crate) fn handle(entry: Entry, state: State) -> Result<Container> {
    let gone = || Error::NoSuchContainer {
        name: entry.name().to_owned(),
    };
    let init = Pidfd::open(state.pid).map_err(|_| gone())?;
    // The pidfd refers to whatever had the pid when it was opened. If the process with the
    // recorded start time has the pid now, it had it then too (it has run since before the
    // state was written): the pidfd is PID 1's.
    if !crate::registry::is_alive(state.pid, state.start_time) {
        return Err(gone());
    }
    let cgroups = match &state.cgroups {
        Some(record) => Some(crate::cgroups::Cgroups::reopen(record)?),
        None => None,
    };
    Ok(Container {
        child: false,
        init: furnace_sys::fd::dup_above_stdio(&init)
            .map(|fd| Pidfd::from_owned(fd, state.pid))
            .map_err(|error| Error::Sys {
                context: "keep a pidfd of the container's init",
                error,
            })?,
        root: state.root,
        namespaces: Namespaces::from_bits_truncate(state.namespaces),
        capabilities: state.capabilities,
        seccomp_default: state.seccomp_default,
        seccomp: (!state.seccomp.is_empty())
            .then(|| std::sync::Arc::new(crate::SeccompFilters::from_packed(&state.seccomp))),
        failpoint: None,
        spawned: Mutex::new(Vec::new()),
        stopped: false,
        namespace_files: Vec::new(),
        root_fd: None,
        cgroups,
        memory_max: state.memory_max,
        detached: Some(entry),
        user_namespace: state.user_namespace,
        private_users: state.private_users,
        id_lock: None,
        extras: crate::container::Extras {
            loops: state.loops.clone(),
            ..crate::container::Extras::default()
        },
    })
}

/// Whether this process is root of the initial user namespace.
fn is_privileged() -> bool {
    matches!(
        furnace_sys::caps::has_effective(furnace_sys::caps::Cap::CAP_SYS_ADMIN),
        Ok(true)
    )
}

/// Asks PID 1 for its namespaces (its user namespace first, its root last) on its socket,
/// and joins the user namespace unless this process is in it already. A PID 1 that became
/// the container's program ([`ContainerBuilder::exec_init`](crate::ContainerBuilder::exec_init))
/// answers no more: its namespaces are opened through `/proc` instead, which the kernel allows
/// a process of the same user namespace now that PID 1 runs a program executed there.
fn receive_namespaces(
    container: &Container,
    pid: u32,
    start_time: u64,
) -> Result<(Vec<(Namespace, OwnedFd)>, OwnedFd)> {
    let entry = container
        .detached
        .as_ref()
        .expect("attached containers have an entry");
    let context = "ask the container's init for its namespaces";
    let sys = |error| Error::Sys { context, error };
    let dir = std::fs::File::open(entry.path()).map_err(|error| Error::Registry {
        what: format!("open {}", entry.path().display()),
        error,
    })?;
    let socket = match furnace_sys::fd::connect_unix(dir.as_fd(), ATTACH_SOCKET) {
        Ok(socket) => socket,
        Err(error) if error.errno() == Errno::CONNREFUSED || error.errno() == Errno::NOENT => {
            return namespaces_through_proc(container, pid, start_time);
        }
        Err(error) => return Err(sys(error)),
    };
    match furnace_sys::fd::forksafe::poll_readable(socket.as_fd(), Some(ANSWER_TIMEOUT)) {
        Ok(true) => {}
        Ok(false) => {
            return Err(sys(furnace_sys::Error::new(
                "poll",
                ATTACH_SOCKET,
                Errno::TIMEDOUT,
            )))
        }
        Err(errno) => return Err(sys(furnace_sys::Error::new("poll", ATTACH_SOCKET, errno))),
    }
    let mut fds = furnace_sys::fd::recv_fds(&socket).map_err(|error| {
        if error.errno() == Errno::PIPE {
            // PID 1 refused us (another user), or died meanwhile.
            Error::Registry {
                what: format!("attach to {}: its init closed the connection", entry.name()),
                error: Errno::PERM.into(),
            }
        } else {
            sys(error)
        }
    })?;
    let kinds: Vec<Namespace> = crate::init::NAMESPACE_FILES
        .iter()
        .map(|&(kind, _)| kind)
        .filter(|kind| container.namespaces.contains(kind.flag()))
        .collect();
    if fds.len() != kinds.len() + 2 {
        return Err(sys(furnace_sys::Error::new(
            "recvmsg",
            format!("{} fds, expected {}", fds.len(), kinds.len() + 2),
            Errno::PROTO,
        )));
    }
    let root = fds.pop().expect("counted above");
    let user = fds.remove(0);
    join_user_namespace(&user)?;
    Ok((kinds.into_iter().zip(fds).collect(), root))
}

/// PID 1's namespaces and root opened through `/proc/PID`, checked to be PID 1's still once
/// open; the user namespace joined unless this process is in it already.
fn namespaces_through_proc(
    container: &Container,
    pid: u32,
    start_time: u64,
) -> Result<(Vec<(Namespace, OwnedFd)>, OwnedFd)> {
    let name = || {
        (container.detached.as_ref())
            .map(|e| e.name().to_owned())
            .unwrap_or_default()
    };
    let open = |file: &str, directory: bool| {
        let path = format!("/proc/{pid}/{file}");
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        if directory {
            options.custom_flags(libc::O_PATH | libc::O_DIRECTORY);
        }
        options
            .open(&path)
            .map(OwnedFd::from)
            .map_err(|error| Error::Registry {
                what: format!(
                    "attach to {}: its init runs the container's program and hands over no                      namespaces, and {path} is out of this process's reach",
                    name()
                ),
                error,
            })
    };
    let user = open("ns/user", false)?;
    let mut files = Vec::new();
    for (kind, path) in crate::init::NAMESPACE_FILES {
        if container.namespaces.contains(kind.flag()) {
            let file = path
                .to_str()
                .unwrap_or_default()
                .trim_start_matches("/proc/self/");
            files.push((kind, open(file, false)?));
        }
    }
    let root = open("root", true)?;
    if !crate::registry::is_alive(pid, start_time) {
        return Err(Error::NoSuchContainer { name: name() });
    }
    join_user_namespace(&user)?;
    Ok((files, root))
}

/// Joins the user namespace `user` unless this process is in it already.
fn join_user_namespace(user: &OwnedFd) -> Result<()> {
    let theirs = std::fs::File::from(user.try_clone().map_err(|e| Error::Sys {
        context: "join the container's user namespace",
        error: furnace_sys::Error::new(
            "dup",
            "user namespace",
            Errno::from_io_error(&e).unwrap_or(Errno::MFILE),
        ),
    })?);
    let same = match (std::fs::metadata("/proc/self/ns/user"), theirs.metadata()) {
        (Ok(ours), Ok(theirs)) => ours.ino() == theirs.ino() && ours.dev() == theirs.dev(),
        _ => false,
    };
    if same {
        return Ok(());
    }
    if crate::rootless::in_user_namespace() {
        return Err(Error::UserNamespace {
            reason: "this process is in another user namespace already (it called \
                     rootless::enter or attached to another container): attach from a \
                     process of its own"
                .into(),
        });
    }
    furnace_sys::ns::forksafe::setns(user.as_fd(), Namespace::User).map_err(|errno| {
        Error::UserNamespace {
            reason: if errno == Errno::INVAL {
                "the kernel lets only a single-threaded process join a user namespace: attach to \
                 a container started without root first thing in main, before any thread \
                 exists"
                    .into()
            } else {
                format!("joining the container's user namespace failed: {errno}")
            },
        }
    })?;
    Ok(())
}
