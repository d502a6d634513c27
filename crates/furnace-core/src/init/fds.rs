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
