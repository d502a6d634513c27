//! Idmapped mounts: a user namespace that exists only as an fd and carries the id maps, and
//! `mount_setattr(MOUNT_ATTR_IDMAP)` on a detached tree (Linux ≥ 5.12; tmpfs ≥ 6.3; overlayfs
//! takes idmapped *layers* from 5.19, but cannot itself be idmapped).
//!
//! An idmapped mount shows every file through the maps of a user namespace: with the map
//! `0 → B` (65,536 ids), a file that is owned by 0 on disk shows as owned by `B` outside and
//! by 0 to a process of any user namespace with the same map, and a file such a process
//! creates (its ids are `B`, `B + 1`, … outside) lands owned by 0, 1, … on disk. The namespace
//! only lends its maps: the mount keeps them, so the fd may be closed after [`idmap_tree`],
//! and the processes that later use the mount may live in another namespace with the same
//! maps.
//!
//! ```no_run
//! use furnace_sys::idmap::{clone_idmapped, UserNamespace};
//! use furnace_sys::mount::MountAttrFlags;
//! // Container root is host id 0x7000_0000; files owned by root on disk are its own.
//! let userns = UserNamespace::mapping_root_to(0x7000_0000, 65536)?;
//! let root = clone_idmapped(
//!     "/srv/rootfs",
//!     &userns,
//!     true,
//!     MountAttrFlags::MOUNT_ATTR_NODEV | MountAttrFlags::MOUNT_ATTR_NOSUID,
//! )?;
//! // `root` is a detached tree: attach it with mount::forksafe::move_mount.
//! # Ok::<(), furnace_sys::Error>(())
//! ```
//!
//! What the kernel asks (verified on Linux 6.18, errnos of `mount_setattr(2)`):
//!
//! - the tree must be *detached* — an `open_tree(OPEN_TREE_CLONE)` copy or a fresh `fsmount`
//!   that was never attached (`EINVAL` on a mount that is or was attached) — and not idmapped
//!   yet (`EPERM`);
//! - the caller needs `CAP_SYS_ADMIN` in the user namespace of the filesystem (the initial one
//!   for ext4, xfs, btrfs or a tmpfs mounted by root), so a process inside a user namespace
//!   cannot idmap the host's filesystems (`EPERM`);
//! - the maps must be written (`EINVAL` without them), and the namespace may not be the
//!   initial one (`EPERM`); an fd that is not a user namespace gives `EINVAL`;
//! - the filesystem must support idmapping (`EINVAL` for overlayfs, procfs, sysfs, …); with
//!   `recursive`, every mount of the tree must.
//!
//! Creating a file through an idmapped mount needs a caller whose fsuid and fsgid are mapped
//! by it: host root (id 0, outside the map `0 → B`) gets `EOVERFLOW`. That includes the mounter
//! of an overlay whose upper layer is idmapped: overlayfs makes its work directory with the
//! mounter's credentials, fails with `EOVERFLOW` and falls back to a read-only mount.
//!
//! See `mount_setattr(2)`, `user_namespaces(7)`.

use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::mount::MountAttrFlags;

use crate::error::{DisplayPath, Error, Result};
use crate::fd::forksafe as fd;
use crate::process::forksafe::{self as process, Forked};
use crate::process::Pidfd;
use crate::userns::{IdKind, IdMap};
use crate::{Errno, Namespaces};

/// Whether the processes of a new user namespace may call `setgroups(2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetGroups {
    /// `/proc/PID/setgroups` is left as the kernel makes it (`allow`): a privileged caller
    /// writes the maps, and `setgroups(2)` works inside.
    #[default]
    Allow,
    /// `deny` is written before the `gid_map`, as an unprivileged caller must.
    Deny,
}

/// A user namespace held by an fd alone: no process lives in it.
///
/// Made by [`UserNamespace::with_maps`]; use it for [`idmap_tree`] (then it may be dropped),
/// or join it with [`ns::forksafe::setns`](crate::ns::forksafe::setns) from a single-threaded
/// process.
#[derive(Debug)]
pub struct UserNamespace {
    fd: OwnedFd,
}

impl UserNamespace {
    /// `clone3(CLONE_NEWUSER)` of a short-lived child, `write(/proc/PID/uid_map)`,
    /// (`write(/proc/PID/setgroups, "deny")`), `write(/proc/PID/gid_map)`,
    /// `open(/proc/PID/ns/user)`: a new user namespace with these maps, as an fd; the child
    /// then exits and is reaped.
    ///
    /// The child is forked into the namespace, closes every fd it inherited and waits to be
    /// killed: this side sends it `SIGKILL` through its pidfd and reaps it once the namespace
    /// is open, also when this function fails (and the kernel does when the calling thread
    /// dies: the child's parent-death signal). It waits on no pipe, so no other process that
    /// inherited a copy of one (a child forked meanwhile by another thread) can keep it alive.
    /// Its `/proc` directory is opened once and checked against its pidfd before anything is
    /// written, so no pid reuse can send the maps elsewhere. Works from a multi-threaded
    /// process: only the child, never the caller, enters the namespace.
    ///
    /// Each map must be what `user_namespaces(7)` allows: at most 340 lines, no overlaps, and
    /// (without `CAP_SETUID`/`CAP_SETGID` here) only the caller's own id, with
    /// [`SetGroups::Deny`]. An empty map is not written: the namespace then maps no id of that
    /// kind (and cannot be used for [`idmap_tree`]). An error names the step: `ENOSPC` from
    /// `clone3` (`user.max_user_namespaces` reached), `EPERM` from a map (ids this process may
    /// not map).
    ///
    /// See `clone3(2)`, `user_namespaces(7)`.
    pub fn with_maps(
        uids: &[IdMap],
        gids: &[IdMap],
        setgroups: SetGroups,
    ) -> Result<UserNamespace> {
        let uid_text = map_text(uids);
        let gid_text = map_text(gids);
        let parent = rustix::process::getpid();
        // SAFETY: the child only makes system calls (prctl, close_range, poll) and never
        // returns into this function: it waits until it is killed.
        let forked = unsafe { process::clone3(Namespaces::USER) }
            .map_err(|e| Error::new("clone3", "CLONE_NEWUSER (id map holder)", e))?;
        let (pid, pidfd) = match forked {
            Forked::Child => hold(parent),
            Forked::Parent { pid, pidfd } => (pid, pidfd),
        };
        let holder = Holder {
            pidfd: Pidfd::from_owned(pidfd, pid),
            done: false,
        };
        let made = holder.write_maps(&uid_text, &gid_text, setgroups);
        holder.release();
        made.map(|fd| UserNamespace { fd })
    }

    /// `clone3(CLONE_NEWUSER)`, `write(/proc/PID/uid_map, "0 start count")` and the same
    /// `gid_map`: [`with_maps`](UserNamespace::with_maps) with one line for users and groups
    /// alike — `count` ids from 0 inside are `start`, `start + 1`, … outside; `setgroups`
    /// allowed. The usual map of a container whose root is an unprivileged range of the host.
    ///
    /// See `clone3(2)`, `user_namespaces(7)`.
    pub fn mapping_root_to(start: u32, count: u32) -> Result<UserNamespace> {
        let map = [IdMap::new(0, start, count)];
        UserNamespace::with_maps(&map, &map, SetGroups::Allow)
    }

    /// The fd of the namespace (close-on-exec, numbered 3 or above).
    ///
    /// No system call.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }
}

impl AsFd for UserNamespace {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<UserNamespace> for OwnedFd {
    fn from(ns: UserNamespace) -> OwnedFd {
        ns.fd
    }
}

/// The text of a map file: one `inside outside count` line per entry, written at once.
fn map_text(map: &[IdMap]) -> String {
    map.iter().map(|line| format!("{line}\n")).collect()
}

/// The child that keeps a new user namespace alive while its maps are written.
struct Holder {
    pidfd: Pidfd,
    /// Whether it has been killed and reaped.
    done: bool,
}

/// The holder's life after `clone3`: it dies with the thread that forked it, holds no fd
/// (the copies it inherited of other threads' pipes would keep their readers waiting), and
/// sleeps until `SIGKILL` comes.
fn hold(parent: rustix::process::Pid) -> ! {
    let _ = process::set_parent_death_signal(Some(crate::Signal::KILL));
    // Killed before the signal was set up: nobody is left to kill it.
    if rustix::process::getppid() != Some(parent) {
        process::exit(0);
    }
    // SAFETY: the child never uses an fd again and never runs a destructor (it ends by the
    // signal), so no owner is left with a closed number.
    let _ = unsafe { fd::close_range(0, u32::MAX) };
    loop {
        // No fds and no timeout: returns only when a signal interrupts it.
        let _ = fd::poll(&mut [], None);
    }
}

/// `open(/proc/PID)`, `write(/proc/PID/uid_map)`, (`write(/proc/PID/setgroups, "deny")`),
/// `write(/proc/PID/gid_map)`: gives the user namespace of the process `pid` its maps, as
/// a process that started it in a new user namespace (`clone3(CLONE_NEWUSER)`) does before
/// that process may use its ids.
///
/// `pid` must be an unreaped child of the caller (so that no other process can hold the pid
/// meanwhile). Each map is written in one `write`; an empty map is not written. Errors name
/// the file: `EPERM` for ids this process may not map, `EPERM` for a map already written.
///
/// See `user_namespaces(7)`.
pub fn write_child_maps(
    pid: u32,
    uids: &[IdMap],
    gids: &[IdMap],
    setgroups: SetGroups,
) -> Result<()> {
    let dir_path = format!("/proc/{pid}");
    let dir = fd::open(
        &CString::new(dir_path.clone()).map_err(|_| Error::new("open", "", Errno::INVAL))?,
        OFlags::DIRECTORY | OFlags::RDONLY,
        Mode::empty(),
    )
    .map_err(|e| Error::new("open", dir_path.clone(), e).with_path(dir_path.clone()))?;
    write_maps_at(&dir, &dir_path, &map_text(uids), &map_text(gids), setgroups)
}

/// Writes the map files in the `/proc/PID` directory `dir` (whose path is `dir_path`).
fn write_maps_at(
    dir: &OwnedFd,
    dir_path: &str,
    uids: &str,
    gids: &str,
    setgroups: SetGroups,
) -> Result<()> {
    let fail = |call: &'static str, what: &str, e: Errno| {
        let path = format!("{dir_path}/{what}");
        Error::new(call, path.clone(), e).with_path(path)
    };
    let c = |s: &str| CString::new(s).map_err(|_| Error::new("open", s, Errno::INVAL));
    let write = |name: &str, text: &str| -> Result<()> {
        let file = fd::openat(dir.as_fd(), &c(name)?, OFlags::WRONLY, Mode::empty())
            .map_err(|e| fail("open", name, e))?;
        // A map is taken in one write or not at all: a short write is an error.
        match rustix::io::write(&file, text.as_bytes()) {
            Ok(n) if n == text.len() => Ok(()),
            Ok(_) => Err(fail("write", name, Errno::INVAL)),
            Err(e) => Err(fail("write", name, e)),
        }
    };
    if !uids.is_empty() {
        write(IdKind::User.map_file(), uids)?;
    }
    if setgroups == SetGroups::Deny {
        write("setgroups", "deny")?;
    }
    if !gids.is_empty() {
        write(IdKind::Group.map_file(), gids)?;
    }
    Ok(())
}

impl Holder {
    fn write_maps(&self, uids: &str, gids: &str, setgroups: SetGroups) -> Result<OwnedFd> {
        let pid = self.pidfd.pid();
        let dir_path = format!("/proc/{pid}");
        let fail = |call: &'static str, what: &str, e: Errno| {
            let path = format!("{dir_path}/{what}");
            Error::new(call, path.clone(), e).with_path(path)
        };
        let c = |s: &str| CString::new(s).map_err(|_| Error::new("open", s, Errno::INVAL));
        let dir = fd::open(
            &c(&dir_path)?,
            OFlags::DIRECTORY | OFlags::RDONLY,
            Mode::empty(),
        )
        .map_err(|e| fail("open", "", e))?;
        // The child does not leave before it is killed, and while it has not been reaped its
        // pid is not reused: a live child now means `dir` is its directory.
        if self.pidfd.has_exited()? {
            return Err(fail("open", "", Errno::SRCH));
        }
        write_maps_at(&dir, &dir_path, uids, gids, setgroups)?;
        let ns = fd::openat(dir.as_fd(), c"ns/user", OFlags::RDONLY, Mode::empty())
            .map_err(|e| fail("open", "ns/user", e))?;
        crate::fd::above_stdio(ns)
    }
}

impl Holder {
    /// Kills the child and reaps it.
    fn release(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if !self.done {
            self.done = true;
            // A caller that ignores `SIGCHLD` has it reaped by the kernel (`ECHILD` here),
            // which is as good.
            let _ = self.pidfd.send_signal(crate::Signal::KILL);
            let _ = self.pidfd.wait();
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `mount_setattr(tree, "", AT_EMPTY_PATH [| AT_RECURSIVE], {MOUNT_ATTR_IDMAP, userns_fd})`:
/// idmaps the detached tree `tree` (and every mount below it, when `recursive`) with the maps
/// of `userns`.
///
/// `tree` must come from `open_tree(OPEN_TREE_CLONE)` or `fsmount` and never have been
/// attached; attach it afterwards with
/// [`mount::forksafe::move_mount`](crate::mount::forksafe::move_mount). See the
/// [module](self) for what the kernel refuses, and with which errno.
///
/// See `mount_setattr(2)`.
pub fn idmap_tree(tree: impl AsFd, userns: impl AsFd, recursive: bool) -> Result<()> {
    forksafe::idmap_tree(
        tree.as_fd(),
        userns.as_fd(),
        recursive,
        MountAttrFlags::empty(),
    )
    .map_err(|e| {
        Error::new(
            "mount_setattr",
            idmap_detail(recursive, MountAttrFlags::empty()),
            e,
        )
    })
}

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC [| AT_RECURSIVE])`, then
/// `mount_setattr(tree, "", AT_EMPTY_PATH [| AT_RECURSIVE], {MOUNT_ATTR_IDMAP | attrs})`: a
/// detached, idmapped copy of the mount at `path` (with its submounts when `recursive`), with
/// the mount attributes `attrs` set in the same call (`MOUNT_ATTR_NODEV`, `MOUNT_ATTR_NOSUID`,
/// `MOUNT_ATTR_RDONLY`, …).
///
/// Attach the result with [`mount::forksafe::move_mount`](crate::mount::forksafe::move_mount).
/// A process that has no `CAP_SYS_ADMIN` over the mount namespace the tree is then attached in
/// cannot change these attributes; one that has it can clear them (a tree that is attached,
/// not inherited through a copy of a mount namespace, has no locked attributes).
///
/// See `open_tree(2)`, `mount_setattr(2)`.
pub fn clone_idmapped(
    path: impl AsRef<Path>,
    userns: impl AsFd,
    recursive: bool,
    attrs: MountAttrFlags,
) -> Result<OwnedFd> {
    let path = path.as_ref();
    let c_path = CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
        .map_err(|_| Error::new("open_tree", DisplayPath(path).to_string(), Errno::INVAL))?;
    let tree = crate::mount::forksafe::open_tree_clone(rustix::fs::CWD, &c_path, recursive)
        .map_err(|e| {
            let rec = if recursive { " | AT_RECURSIVE" } else { "" };
            Error::new(
                "open_tree",
                format!("{} (OPEN_TREE_CLONE{rec})", DisplayPath(path)),
                e,
            )
            .with_path(path)
        })?;
    forksafe::idmap_tree(tree.as_fd(), userns.as_fd(), recursive, attrs).map_err(|e| {
        Error::new(
            "mount_setattr",
            format!("{}: {}", DisplayPath(path), idmap_detail(recursive, attrs)),
            e,
        )
        .with_path(path)
    })?;
    Ok(tree)
}

/// How the arguments of an idmapping `mount_setattr` are shown in an error.
fn idmap_detail(recursive: bool, attrs: MountAttrFlags) -> String {
    let mut names = String::from("MOUNT_ATTR_IDMAP");
    for (flag, name) in [
        (MountAttrFlags::MOUNT_ATTR_RDONLY, "RDONLY"),
        (MountAttrFlags::MOUNT_ATTR_NOSUID, "NOSUID"),
        (MountAttrFlags::MOUNT_ATTR_NODEV, "NODEV"),
        (MountAttrFlags::MOUNT_ATTR_NOEXEC, "NOEXEC"),
    ] {
        if attrs.contains(flag) {
            names.push_str(" | MOUNT_ATTR_");
            names.push_str(name);
        }
    }
    let rec = if recursive { " | AT_RECURSIVE" } else { "" };
    format!("(AT_EMPTY_PATH{rec}, {names})")
}

impl fmt::Display for SetGroups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SetGroups::Allow => "allow",
            SetGroups::Deny => "deny",
        })
    }
}

/// The fork-safe tier of [`idmap`](self): idmapping detached trees from a forked child or PID
/// 1, with fds in and a bare [`Errno`] out.
///
/// Every function here makes system calls only: no allocation, no lock, no panic. They are
/// async-signal-safe, so a child forked from a multi-threaded program may call them before it
/// execs or exits. A PID 1 that runs in a user namespace of its own cannot idmap the host's
/// filesystems (`EPERM`): it attaches trees its parent idmapped before the fork.
pub mod forksafe {
    use std::ffi::CStr;
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

    use rustix::mount::MountAttrFlags;

    use crate::Errno;

    /// `mount_setattr(tree, "", AT_EMPTY_PATH [| AT_RECURSIVE], {MOUNT_ATTR_IDMAP | attrs,
    /// userns_fd})`: idmaps the detached tree `tree` with the maps of the user namespace
    /// `userns`, and sets the mount attributes `attrs` in the same call.
    ///
    /// `EINVAL`: the tree is or was attached, a filesystem of it cannot be idmapped, `userns`
    /// is not a user namespace or has no maps; `EPERM`: already idmapped, `userns` is the
    /// initial namespace, or the caller lacks `CAP_SYS_ADMIN` over the filesystem or
    /// `userns`. Async-signal-safe: no allocation, no locks.
    ///
    /// See `mount_setattr(2)`.
    #[inline]
    pub fn idmap_tree(
        tree: BorrowedFd<'_>,
        userns: BorrowedFd<'_>,
        recursive: bool,
        attrs: MountAttrFlags,
    ) -> Result<(), Errno> {
        let userns_fd = u64::try_from(userns.as_raw_fd()).map_err(|_| Errno::BADF)?;
        crate::mount::forksafe::mount_setattr(
            tree,
            u64::from(attrs.bits()) | libc::MOUNT_ATTR_IDMAP,
            userns_fd,
            recursive,
        )
    }

    /// `open_tree(dir, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC [| AT_RECURSIVE] [|
    /// AT_EMPTY_PATH])`, then `mount_setattr(tree, "", AT_EMPTY_PATH [| AT_RECURSIVE],
    /// {MOUNT_ATTR_IDMAP | attrs, userns_fd})`: a detached, idmapped copy of the mount at
    /// `path` relative to `dir` (an empty `path`: the mount `dir` refers to).
    ///
    /// The copy is closed again when the idmapping fails. Async-signal-safe: no allocation,
    /// no locks.
    ///
    /// See `open_tree(2)`, `mount_setattr(2)`.
    #[inline]
    pub fn clone_idmapped(
        dir: BorrowedFd<'_>,
        path: &CStr,
        userns: BorrowedFd<'_>,
        recursive: bool,
        attrs: MountAttrFlags,
    ) -> Result<OwnedFd, Errno> {
        let tree = crate::mount::forksafe::open_tree_clone(dir, path, recursive)?;
        idmap_tree(tree.as_fd(), userns, recursive, attrs)?;
        Ok(tree)
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;
    use std::io::Read;

    use rustix::fs::AtFlags;
    use rustix::process::{Gid, Uid};

    use super::*;
    use crate::process::ExitKind;
    use crate::Namespace;

    /// The first id of the host range the tests map container root to.
    const BASE: u32 = 0x7000_0000;

    /// These tests need root in the initial user namespace: `CAP_SETUID`/`CAP_SETGID` to map a
    /// foreign id range, `CAP_SYS_ADMIN` over tmpfs to idmap it. Without it they fail, loudly.
    fn require_root() {
        let initial =
            crate::userns::own_map(IdKind::User).is_ok_and(|map| crate::userns::is_initial(&map));
        assert!(
            rustix::process::geteuid().is_root() && initial,
            "the idmap tests need root in the initial user namespace (CAP_SETUID to write a \
             foreign id map, CAP_SYS_ADMIN to idmap a tmpfs): run them as root"
        );
    }

    /// A fresh tmpfs, detached: nothing is attached anywhere, and it goes with its last fd.
    fn detached_tmpfs() -> OwnedFd {
        crate::mount::forksafe::fsmount(c"tmpfs", [], MountAttrFlags::empty()).unwrap()
    }

    fn owner(dir: &OwnedFd, name: &CStr) -> (u32, u32) {
        let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).unwrap();
        (st.st_uid, st.st_gid)
    }

    /// What a child saw after joining a user namespace.
    #[derive(Debug, Default)]
    struct Inside {
        /// 0, or the errno of the first step that failed, and that step's number.
        failed: (i32, u8),
        /// Owner of `rootfile` through the idmapped tree.
        seen: (u32, u32),
        uid_map: String,
        gid_map: String,
        setgroups: String,
    }

    /// Forks a child that joins `userns`, becomes root in it when `become_root`, reads its
    /// maps, and — given an idmapped `view` — stats `rootfile` through it, creates `byinside`
    /// and creates `chowned`, handed to 1000:1000. The child is fork-safe: system calls only.
    fn inside(userns: &UserNamespace, view: Option<BorrowedFd<'_>>, become_root: bool) -> Inside {
        let (r, w) = crate::fd::pipe_above_stdio().unwrap();
        // SAFETY: the child makes system calls only (setns, setgroups/setgid/setuid, stat,
        // open, chown, read, write) on data prepared before the fork, and leaves by `exit`.
        match unsafe { process::clone3(Namespaces::empty()) }.unwrap() {
            Forked::Child => {
                let mut step = 0u8;
                let mut header = [0u8; 13];
                let result = (|| -> std::result::Result<(), Errno> {
                    step = 1;
                    crate::ns::forksafe::setns(userns.as_fd(), Namespace::User)?;
                    if become_root {
                        step = 2;
                        crate::cred::forksafe::set_ids(Some(Uid::ROOT), Some(Gid::ROOT))?;
                    }
                    if let Some(view) = view {
                        step = 3;
                        let st = rustix::fs::statat(view, c"rootfile", AtFlags::empty())?;
                        if let Some(b) = header.get_mut(5..13) {
                            b[..4].copy_from_slice(&st.st_uid.to_le_bytes());
                            b[4..].copy_from_slice(&st.st_gid.to_le_bytes());
                        }
                        step = 4;
                        let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY;
                        let mode = Mode::from_raw_mode(0o644);
                        fd::openat(view, c"byinside", flags, mode)?;
                        step = 5;
                        fd::openat(view, c"chowned", flags, mode)?;
                        let (u, g) = (Uid::from_raw(1000), Gid::from_raw(1000));
                        rustix::fs::chownat(view, c"chowned", Some(u), Some(g), AtFlags::empty())?;
                    }
                    Ok(())
                })();
                if let Err(errno) = result {
                    header[..4].copy_from_slice(&errno.raw_os_error().to_le_bytes());
                    header[4] = step;
                }
                let _ = fd::write_all(w.as_fd(), &header);
                for file in [
                    c"/proc/self/uid_map",
                    c"/proc/self/gid_map",
                    c"/proc/self/setgroups",
                ] {
                    let mut text = [0u8; 255];
                    let len = fd::open(file, OFlags::RDONLY, Mode::empty())
                        .and_then(|f| rustix::io::read(&f, &mut text))
                        .unwrap_or(0);
                    let _ = fd::write_all(w.as_fd(), &[len as u8]);
                    let _ = fd::write_all(w.as_fd(), text.get(..len).unwrap_or_default());
                }
                process::exit(0);
            }
            Forked::Parent { pid, pidfd } => {
                drop(w);
                let mut bytes = Vec::new();
                std::fs::File::from(r).read_to_end(&mut bytes).unwrap();
                let child = Pidfd::from_owned(pidfd, pid);
                assert_eq!(child.wait().unwrap(), ExitKind::Exited(0));
                let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
                let mut got = Inside {
                    failed: (word(0) as i32, bytes[4]),
                    seen: (word(5), word(9)),
                    ..Inside::default()
                };
                let mut at = 13;
                for text in [&mut got.uid_map, &mut got.gid_map, &mut got.setgroups] {
                    let len = usize::from(bytes[at]);
                    *text = String::from_utf8_lossy(&bytes[at + 1..at + 1 + len]).into_owned();
                    at += 1 + len;
                }
                got
            }
        }
    }

    #[test]
    fn idmapped_tmpfs_round_trip() {
        require_root();
        let userns = UserNamespace::mapping_root_to(BASE, 65536).unwrap();
        let disk = detached_tmpfs();
        let flags = OFlags::CREATE | OFlags::WRONLY;
        fd::openat(disk.as_fd(), c"rootfile", flags, Mode::from_raw_mode(0o644)).unwrap();
        assert_eq!(owner(&disk, c"rootfile"), (0, 0));
        let attrs = MountAttrFlags::MOUNT_ATTR_NODEV | MountAttrFlags::MOUNT_ATTR_NOSUID;
        let view =
            forksafe::clone_idmapped(disk.as_fd(), c"", userns.as_fd(), false, attrs).unwrap();

        // Outside, root's file shows as the range's first id; root cannot create through
        // the view, since its own id 0 is not in the map.
        assert_eq!(owner(&view, c"rootfile"), (BASE, BASE));
        let by_host = fd::openat(view.as_fd(), c"byhost", flags, Mode::from_raw_mode(0o644));
        assert_eq!(by_host.unwrap_err(), Errno::OVERFLOW);

        // Inside a namespace with the same map, root's file is root's, and what root creates
        // lands root's on the disk; a chown to 1000 lands as 1000.
        let seen = inside(&userns, Some(view.as_fd()), true);
        assert_eq!(seen.failed, (0, 0), "errno and step in the child: {seen:?}");
        assert_eq!(seen.seen, (0, 0));
        assert_eq!(owner(&disk, c"byinside"), (0, 0));
        assert_eq!(owner(&disk, c"chowned"), (1000, 1000));
        assert_eq!(owner(&view, c"chowned"), (BASE + 1000, BASE + 1000));

        // The mount keeps its maps when the namespace's last fd is gone.
        drop(userns);
        assert_eq!(owner(&view, c"byinside"), (BASE, BASE));
    }

    #[test]
    fn maps_are_written_as_given() {
        require_root();
        let uids = [IdMap::new(0, BASE, 1), IdMap::new(1, BASE + 1, 65535)];
        let gids = [IdMap::new(0, BASE, 65536)];
        let userns = UserNamespace::with_maps(&uids, &gids, SetGroups::Allow).unwrap();
        let seen = inside(&userns, None, true);
        assert_eq!(seen.failed, (0, 0), "{seen:?}");
        assert_eq!(crate::userns::parse_map(&seen.uid_map), uids);
        assert_eq!(crate::userns::parse_map(&seen.gid_map), gids);
        assert_eq!(seen.setgroups.trim(), "allow");

        let denied = UserNamespace::with_maps(&gids, &gids, SetGroups::Deny).unwrap();
        let seen = inside(&denied, None, false);
        assert_eq!(seen.failed, (0, 0), "{seen:?}");
        assert_eq!(seen.setgroups.trim(), "deny");
        assert_eq!(crate::userns::parse_map(&seen.gid_map), gids);
    }

    #[test]
    fn refused_idmappings_name_their_errno() {
        require_root();
        let disk = detached_tmpfs();
        let userns = UserNamespace::mapping_root_to(BASE, 65536).unwrap();
        let tree = crate::mount::forksafe::open_tree_clone(disk.as_fd(), c"", false).unwrap();
        let initial = std::fs::File::open("/proc/self/ns/user").unwrap();
        let err = idmap_tree(&tree, &initial, false).unwrap_err();
        assert_eq!(err.errno(), Errno::PERM, "the initial namespace: {err}");
        let mnt = std::fs::File::open("/proc/self/ns/mnt").unwrap();
        assert_eq!(
            idmap_tree(&tree, &mnt, false).unwrap_err().errno(),
            Errno::INVAL
        );
        let unmapped = UserNamespace::with_maps(&[], &[], SetGroups::Allow).unwrap();
        let err = idmap_tree(&tree, &unmapped, true).unwrap_err();
        assert_eq!(err.errno(), Errno::INVAL, "a namespace without maps: {err}");
        assert_eq!(
            err.to_string(),
            "mount_setattr (AT_EMPTY_PATH | AT_RECURSIVE, MOUNT_ATTR_IDMAP): \
             EINVAL (Invalid argument)"
        );
        idmap_tree(&tree, &userns, false).unwrap();
        let again = idmap_tree(&tree, &userns, false).unwrap_err();
        assert_eq!(again.errno(), Errno::PERM, "idmapped twice: {again}");

        let missing = clone_idmapped(
            "/nonexistent/furnace",
            &userns,
            true,
            MountAttrFlags::empty(),
        );
        let err = missing.unwrap_err();
        assert_eq!(
            (err.call(), err.errno()),
            ("open_tree", Errno::NOENT),
            "{err}"
        );
        // procfs cannot be idmapped.
        let proc = clone_idmapped("/proc", &userns, false, MountAttrFlags::MOUNT_ATTR_NODEV);
        let err = proc.unwrap_err();
        assert_eq!(
            (err.call(), err.errno()),
            ("mount_setattr", Errno::INVAL),
            "{err}"
        );
        assert!(err.to_string().starts_with(
            "mount_setattr /proc: (AT_EMPTY_PATH, MOUNT_ATTR_IDMAP | MOUNT_ATTR_NODEV): EINVAL"
        ));
    }

    #[test]
    fn details_name_flags() {
        let attrs = MountAttrFlags::MOUNT_ATTR_RDONLY | MountAttrFlags::MOUNT_ATTR_NODEV;
        assert_eq!(
            idmap_detail(true, attrs),
            "(AT_EMPTY_PATH | AT_RECURSIVE, \
             MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV)"
        );
        assert_eq!(
            map_text(&[IdMap::new(0, BASE, 65536)]),
            "0 1879048192 65536\n"
        );
        assert_eq!(SetGroups::default().to_string(), "allow");
    }
}
