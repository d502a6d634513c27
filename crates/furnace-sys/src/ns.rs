//! Namespaces: kinds, `unshare(2)`, handles opened from a process, and `setns(2)`.
//!
//! The calls for a forked child, with a bare errno as their error, are in [`forksafe`].

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use bitflags::bitflags;
use rustix::thread::LinkNameSpaceType;

use crate::error::{DisplayPath, Error, Result};

pub mod forksafe;

bitflags! {
    /// A set of namespaces, as the `CLONE_NEW*` bits of `clone(2)`, `unshare(2)` and `setns(2)`.
    ///
    /// ```
    /// use furnace_sys::{Namespace, Namespaces};
    /// let set = Namespaces::PID | Namespaces::MNT;
    /// assert!(set.contains(Namespace::Pid.flag()));
    /// assert_eq!(set.bits(), (libc::CLONE_NEWPID | libc::CLONE_NEWNS) as u32);
    /// ```
    #[repr(transparent)]
    #[derive(Copy, Clone, Eq, PartialEq, Hash, Debug, Default)]
    pub struct Namespaces: u32 {
        /// `CLONE_NEWNS`: mount namespace.
        const MNT = libc::CLONE_NEWNS as u32;
        /// `CLONE_NEWPID`: pid namespace (affects children only).
        const PID = libc::CLONE_NEWPID as u32;
        /// `CLONE_NEWUTS`: hostname and domain name.
        const UTS = libc::CLONE_NEWUTS as u32;
        /// `CLONE_NEWIPC`: System V IPC and POSIX message queues.
        const IPC = libc::CLONE_NEWIPC as u32;
        /// `CLONE_NEWNET`: network devices, addresses, routes, abstract sockets.
        const NET = libc::CLONE_NEWNET as u32;
        /// `CLONE_NEWCGROUP`: the cgroup root seen by the process.
        const CGROUP = libc::CLONE_NEWCGROUP as u32;
        /// `CLONE_NEWUSER`: user and group ids, capabilities.
        const USER = libc::CLONE_NEWUSER as u32;
        /// `CLONE_NEWTIME`: boot and monotonic clock offsets (affects children only).
        const TIME = libc::CLONE_NEWTIME as u32;
    }
}

/// One kind of Linux namespace.
#[derive(Copy, Clone, Eq, PartialEq, Hash, Debug)]
#[non_exhaustive]
pub enum Namespace {
    /// Mount namespace (`mnt`).
    Mnt,
    /// Pid namespace (`pid`).
    Pid,
    /// UTS namespace (`uts`).
    Uts,
    /// IPC namespace (`ipc`).
    Ipc,
    /// Network namespace (`net`).
    Net,
    /// Cgroup namespace (`cgroup`).
    Cgroup,
    /// User namespace (`user`).
    User,
    /// Time namespace (`time`).
    Time,
}

impl Namespace {
    /// Every kind, in the order `lsns` lists them.
    pub const ALL: [Namespace; 8] = [
        Namespace::Mnt,
        Namespace::Pid,
        Namespace::Uts,
        Namespace::Ipc,
        Namespace::Net,
        Namespace::Cgroup,
        Namespace::User,
        Namespace::Time,
    ];

    /// The `CLONE_NEW*` flag of this kind.
    ///
    /// No system call.
    pub const fn flag(self) -> Namespaces {
        match self {
            Namespace::Mnt => Namespaces::MNT,
            Namespace::Pid => Namespaces::PID,
            Namespace::Uts => Namespaces::UTS,
            Namespace::Ipc => Namespaces::IPC,
            Namespace::Net => Namespaces::NET,
            Namespace::Cgroup => Namespaces::CGROUP,
            Namespace::User => Namespaces::USER,
            Namespace::Time => Namespaces::TIME,
        }
    }

    /// The name of its file in `/proc/<pid>/ns/`.
    ///
    /// No system call.
    pub const fn proc_name(self) -> &'static str {
        match self {
            Namespace::Mnt => "mnt",
            Namespace::Pid => "pid",
            Namespace::Uts => "uts",
            Namespace::Ipc => "ipc",
            Namespace::Net => "net",
            Namespace::Cgroup => "cgroup",
            Namespace::User => "user",
            Namespace::Time => "time",
        }
    }

    /// `/proc/<pid>/ns/<name>` for this kind.
    ///
    /// ```
    /// use furnace_sys::Namespace;
    /// assert_eq!(Namespace::Uts.proc_path(42).to_str(), Some("/proc/42/ns/uts"));
    /// ```
    ///
    /// No system call.
    pub fn proc_path(self, pid: u32) -> PathBuf {
        PathBuf::from(format!("/proc/{pid}/ns/{}", self.proc_name()))
    }

    fn link_type(self) -> LinkNameSpaceType {
        match self {
            Namespace::Mnt => LinkNameSpaceType::Mount,
            Namespace::Pid => LinkNameSpaceType::ProcessID,
            Namespace::Uts => LinkNameSpaceType::HostNameAndNISDomainName,
            Namespace::Ipc => LinkNameSpaceType::InterProcessCommunication,
            Namespace::Net => LinkNameSpaceType::Network,
            Namespace::Cgroup => LinkNameSpaceType::ControlGroup,
            Namespace::User => LinkNameSpaceType::User,
            Namespace::Time => LinkNameSpaceType::Time,
        }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.proc_name())
    }
}

impl Namespaces {
    /// The kinds in this set.
    ///
    /// No system call.
    pub fn kinds(self) -> impl Iterator<Item = Namespace> {
        Namespace::ALL
            .into_iter()
            .filter(move |ns| self.contains(ns.flag()))
    }

    /// The set as `mnt,pid,...`, for messages.
    ///
    /// No system call.
    pub fn names(self) -> String {
        self.kinds()
            .map(Namespace::proc_name)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `unshare(namespaces)`: moves the calling thread into new namespaces.
///
/// A new pid or time namespace applies to the children created afterwards, not to the caller.
/// A new mount namespace requires that the thread does not share its filesystem context with
/// other threads — in a multi-threaded program, call it in a forked child.
///
/// See `unshare(2)`.
pub fn unshare(namespaces: Namespaces) -> Result<()> {
    forksafe::unshare(namespaces).map_err(|e| Error::new("unshare", namespaces.names(), e))
}

/// An open handle on a namespace: an `O_CLOEXEC` fd of a `/proc/<pid>/ns/<name>` file.
#[derive(Debug)]
pub struct NsFd {
    fd: OwnedFd,
    kind: Namespace,
}

impl NsFd {
    /// `open("/proc/<pid>/ns/<kind>", O_RDONLY | O_CLOEXEC)`: opens the `kind` namespace of
    /// process `pid`.
    ///
    /// ```no_run
    /// use furnace_sys::{Namespace, NsFd};
    /// let uts = NsFd::open(1, Namespace::Uts)?;
    /// uts.enter()?; // this thread now shares PID 1's hostname
    /// # Ok::<(), furnace_sys::Error>(())
    /// ```
    ///
    /// See `namespaces(7)`.
    pub fn open(pid: u32, kind: Namespace) -> Result<Self> {
        Self::open_path(kind.proc_path(pid), kind)
    }

    /// `open(path, O_RDONLY | O_CLOEXEC)`: opens a namespace file (or a bind mount of one) at
    /// `path`, expected to be of `kind`.
    ///
    /// See `namespaces(7)`.
    pub fn open_path(path: impl AsRef<Path>, kind: Namespace) -> Result<Self> {
        let path = path.as_ref();
        let (flags, mode) = (rustix::fs::OFlags::RDONLY, rustix::fs::Mode::empty());
        let fd =
            rustix::path::Arg::into_with_c_str(path, |p| crate::fd::forksafe::open(p, flags, mode))
                .map_err(|e| {
                    Error::new(
                        "open",
                        format!("{} namespace {}", kind, DisplayPath(path)),
                        e,
                    )
                    .with_path(path)
                })?;
        Ok(Self { fd, kind })
    }

    /// The kind of namespace this handle refers to.
    ///
    /// No system call.
    pub fn kind(&self) -> Namespace {
        self.kind
    }

    /// `setns(fd, CLONE_NEW*)`: moves the calling thread into this namespace.
    ///
    /// The kernel checks that the fd really is a namespace of this kind (`EINVAL` otherwise).
    /// Joining a mount namespace fails with `EINVAL` while other threads share the caller's
    /// filesystem context; joining a pid namespace only affects children created afterwards.
    ///
    /// See `setns(2)`.
    #[doc(alias = "setns")]
    pub fn enter(&self) -> Result<()> {
        forksafe::setns(self.fd.as_fd(), self.kind)
            .map_err(|e| Error::new("setns", format!("{} namespace", self.kind), e))
    }
}

impl AsFd for NsFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<NsFd> for OwnedFd {
    fn from(ns: NsFd) -> OwnedFd {
        ns.fd
    }
}

/// `unshare(CLONE_FS)`: the calling thread gets a root, working directory and umask of its
/// own, no longer shared with the process's other threads — which joining a mount namespace
/// (`setns(CLONE_NEWNS)`) requires of a thread. Its root and directory stay where they were
/// until it moves.
///
/// See `unshare(2)`.
pub fn unshare_fs() -> Result<()> {
    // SAFETY: CLONE_FS only gives this thread its own copy of the filesystem context; no
    // memory or file descriptor is shared differently afterwards.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FS) }
        .map_err(|e| Error::new("unshare", "CLONE_FS", e))
}

/// `setns(pidfd, namespaces)`: moves the calling thread into several namespaces of the
/// process that `pidfd` refers to, all at once (Linux ≥ 5.8).
///
/// See `setns(2)`.
#[doc(alias = "setns")]
pub fn setns_pidfd(pidfd: BorrowedFd<'_>, namespaces: Namespaces) -> Result<()> {
    forksafe::setns_pidfd(pidfd, namespaces)
        .map_err(|e| Error::new("setns", format!("pidfd {}", namespaces.names()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_match_libc() {
        assert_eq!(Namespace::Mnt.flag().bits(), libc::CLONE_NEWNS as u32);
        assert_eq!(Namespace::Net.flag().bits(), libc::CLONE_NEWNET as u32);
        assert_eq!(Namespace::Time.flag().bits(), libc::CLONE_NEWTIME as u32);
        let all = Namespace::ALL
            .iter()
            .fold(Namespaces::empty(), |acc, ns| acc | ns.flag());
        assert_eq!(all, Namespaces::all());
    }

    #[test]
    fn names_and_paths() {
        let set = Namespaces::NET | Namespaces::MNT | Namespaces::PID;
        assert_eq!(set.names(), "mnt,pid,net");
        assert_eq!(
            Namespace::Cgroup.proc_path(7),
            Path::new("/proc/7/ns/cgroup")
        );
        assert_eq!(Namespace::Time.to_string(), "time");
    }

    #[test]
    fn open_own_namespace_and_reject_wrong_kind() {
        let ns = NsFd::open(std::process::id(), Namespace::Uts).expect("open own uts ns");
        assert_eq!(ns.kind(), Namespace::Uts);
        let missing = NsFd::open(u32::MAX - 1, Namespace::Net).unwrap_err();
        assert_eq!(missing.errno(), rustix::io::Errno::NOENT);
        assert!(missing.to_string().starts_with("open net namespace /proc/"));
    }
}
