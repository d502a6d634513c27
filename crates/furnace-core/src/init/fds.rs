//! The fds the parent hands PID 1 ([`InitFds`], [`DetachedFds`]) and the namespace files PID 1
//! sends ([`NAMESPACE_FILES`]): data only, the post-fork code that uses them is `init.rs`'s.

use std::ffi::CStr;
use std::os::fd::{OwnedFd, RawFd};

use furnace_sys::process::SharedU32;
use furnace_sys::Namespace;

/// The fds (and the shared progress word) PID 1 is handed by the parent: all numbered 3 or above, so that setting up its
/// stdio cannot overwrite them.
pub(crate) struct InitFds<'a> {
    /// The write end of the report pipe.
    pub ready: OwnedFd,
    /// A pidfd of the process that started the container: it polls readable when that whole
    /// process is gone.
    pub owner: OwnedFd,
    /// The host's `/dev/null`, which becomes PID 1's stdio so that it holds none of the
    /// caller's pipes.
    pub devnull: OwnedFd,
    /// A word shared with the parent: PID 1 stores the number of each step as it starts it
    /// (no system call), so that a start that times out can say which step hung.
    pub progress: &'a SharedU32,
    /// In a user namespace: a unix socket on which PID 1 sends fds of its namespaces
    /// ([`NAMESPACE_FILES`]), through which commands join them (see [`crate::rootless`]), and
    /// of its root, through which the caller looks inside (`/proc/<pid>/root` would fail the
    /// same ptrace check).
    pub namespaces: Option<OwnedFd>,
    /// The `cgroup.procs` of the container's cgroups (the container owns the fds; PID 1 has
    /// copies): PID 1 joins them first, then makes its cgroup namespace, rooted there.
    pub cgroup_procs: Vec<RawFd>,
    /// A detached container ([`crate::Lifetime::Detached`]): PID 1 outlives its owner.
    pub detached: Option<DetachedFds>,
    /// Where PID 1 moves up to once its cgroup namespace exists: out of the limited memory
    /// cgroup, so that the OOM killer never picks it (its size counts the memory it shares
    /// with the caller).
    pub cgroup_leave: Option<RawFd>,
    /// The hardened profile with a user namespace of its own (PID 1 was created in it).
    pub own: Option<OwnUserns>,
    /// The program PID 1 becomes once started ([`crate::InitProgram`]), and the container's
    /// seccomp filters it runs under.
    pub exec: Option<(
        &'a crate::program::PreparedInit,
        Option<&'a crate::SeccompFilters>,
    )>,
    /// Without a user namespace of its own: the fds PID 1 keeps through its close-all for the
    /// program (its stdio and start gate). With one, they are in [`OwnUserns::keep`].
    pub exec_keep: Vec<RawFd>,
    /// Namespaces to join first thing, instead of the ones `clone3` did not make
    /// ([`ContainerBuilder::join_network_namespace`](crate::ContainerBuilder::join_network_namespace)
    /// and its IPC and UTS siblings).
    pub joins: Vec<(OwnedFd, furnace_sys::Namespace)>,
}

/// What PID 1 created in a user namespace of the container's own is handed.
pub(crate) struct OwnUserns {
    /// A socket on which the parent sends one byte once it has written PID 1's id maps.
    pub go: OwnedFd,
    /// The fds PID 1 keeps through its close-all besides its own: the trees below, the id
    /// range's lock (PID 1 holds the range for its whole life), `go`; with room for one more,
    /// the root directory PID 1 opens (so pushing allocates nothing).
    pub keep: Vec<RawFd>,
    /// The detached, idmapped trees the parent made.
    pub premade: Premade,
}

/// Detached trees the parent (root of the host) idmapped with the container's map: PID 1,
/// inside its user namespace, can attach them but not make them.
#[derive(Default)]
pub(crate) struct Premade {
    /// The root (without an overlay).
    pub root: Option<OwnedFd>,
    /// The root as the overlay's lower layer.
    pub lower: Option<OwnedFd>,
    /// The directory holding the caller's upper and work directories.
    pub layers: Option<OwnedFd>,
    /// The first [`Plan::user_binds`](crate::plan::Plan::user_binds) binds, by index.
    pub binds: Vec<Option<OwnedFd>>,
}

impl Premade {
    /// The fds, for [`OwnUserns::keep`].
    pub(crate) fn raw_fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        use std::os::fd::AsRawFd;
        [&self.root, &self.lower, &self.layers]
            .into_iter()
            .chain(self.binds.iter())
            .flatten()
            .map(|fd| fd.as_raw_fd())
    }
}

/// What PID 1 of a detached container waits on instead of its owner.
pub(crate) struct DetachedFds {
    /// In a user namespace: a listening unix socket on which PID 1 hands its namespaces (its
    /// user namespace first) and its root to each process that connects, so that processes
    /// other than the one that started it can attach (see [`crate::attach`]).
    pub listener: Option<OwnedFd>,
    /// A timer fd that fires when the container's timeout has passed; PID 1 then exits.
    pub timer: Option<OwnedFd>,
    /// The read end of a pipe on which the parent writes one byte once the container's name
    /// is claimed: until then PID 1 still ends with its owner, so a starter killed between
    /// "ready" and its registry entry leaves no container without a name behind.
    pub released: OwnedFd,
}

/// The namespace files PID 1 sends when asked, in this order (the order commands join them:
/// the mount namespace last among those joined in the child, the pid namespace, joined for
/// children by the spawning thread, apart), each when the container has that namespace.
pub(crate) const NAMESPACE_FILES: [(Namespace, &CStr); 6] = [
    (Namespace::Uts, c"/proc/self/ns/uts"),
    (Namespace::Ipc, c"/proc/self/ns/ipc"),
    (Namespace::Net, c"/proc/self/ns/net"),
    (Namespace::Cgroup, c"/proc/self/ns/cgroup"),
    (Namespace::Mnt, c"/proc/self/ns/mnt"),
    (Namespace::Pid, c"/proc/self/ns/pid"),
];
