//! PID 1: carries out the plan in the new namespaces, reports, then waits for its owner.
//!
//! ---------------------------------------------------------------------------------------
//! POST-FORK CODE. Everything here runs in the child of `clone3`, a copy of one thread of a
//! program that may have had many: only system calls, no allocation, no locks, no panics
//! (no indexing, no slicing, no `unwrap`), and the way out is `_exit`. Errors are bare
//! errnos, reported with the step number over the ready pipe; the parent turns them into
//! messages.
//! ---------------------------------------------------------------------------------------

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use furnace_sys::raw;
use furnace_sys::Errno;
use rustix::fs::{FileType, Mode, OFlags, ResolveFlags, CWD};
use rustix::mount::{MountPropagationFlags, MoveMountFlags, OpenTreeFlags, UnmountFlags};

use crate::failpoint::Failpoint;
use crate::plan::{After, Before, BindOp, MountOp, Plan};

/// What PID 1 writes on the ready pipe: the failed step's number (or [`READY`]) and an errno.
pub(crate) const REPORT_LEN: usize = 8;
/// The step value that means "set-up finished".
pub(crate) const READY: u32 = u32::MAX;

pub(crate) fn encode(step: u32, errno: i32) -> [u8; REPORT_LEN] {
    let [s0, s1, s2, s3] = step.to_le_bytes();
    let [e0, e1, e2, e3] = errno.to_le_bytes();
    [s0, s1, s2, s3, e0, e1, e2, e3]
}

pub(crate) fn decode(bytes: [u8; REPORT_LEN]) -> (u32, i32) {
    let [s0, s1, s2, s3, e0, e1, e2, e3] = bytes;
    (
        u32::from_le_bytes([s0, s1, s2, s3]),
        i32::from_le_bytes([e0, e1, e2, e3]),
    )
}

/// The fds PID 1 is handed by the parent: all numbered 3 or above, so that setting up its
/// stdio cannot overwrite them.
pub(crate) struct InitFds {
    /// The write end of the report pipe.
    pub ready: OwnedFd,
    /// A pidfd of the process that started the container: it polls readable when that whole
    /// process is gone.
    pub owner: OwnedFd,
    /// The host's `/dev/null`, which becomes PID 1's stdio so that it holds none of the
    /// caller's pipes.
    pub devnull: OwnedFd,
    /// The write end (non-blocking) of the progress pipe: PID 1 writes the number of each
    /// step as it starts it, so that a start that times out can say which step hung.
    pub progress: OwnedFd,
}

/// The body of PID 1. Never returns.
///
/// `trees` is empty with room for one detached mount per bind (reserved by the parent, so
/// pushing allocates nothing).
pub(crate) fn run(plan: &Plan, trees: &mut Vec<OwnedFd>, fds: InitFds) -> ! {
    let InitFds {
        ready,
        owner,
        devnull,
        progress,
    } = fds;
    if let Some(strings) = &plan.process_strings {
        // SAFETY: the ranges were read from our parent, whose memory this process is a copy
        // of; this is the only thread, and nothing here reads arguments or environment.
        unsafe { strings.overwrite(b"furnace-init") };
    }
    if let Err(errno) = prepare_process([&ready, &owner, &progress], devnull) {
        report_and_exit(&ready, 0, errno);
    }
    let failpoint = plan.failpoint.as_ref();
    Failpoint::hit(failpoint, "pid1-start");
    let mut step = 0u32;
    if let Err(errno) = set_up(plan, trees, &progress, &mut step) {
        report_and_exit(&ready, step, errno);
    }
    // The binds are attached: close their trees (the vector keeps its memory, nothing is
    // freed) and the progress pipe, so PID 1 holds nothing of the host but its owner's pidfd.
    trees.clear();
    drop(progress);
    Failpoint::hit(failpoint, "pid1-ready");
    // From now on the owner's *process*, not the starting thread, bounds PID 1's life (the
    // thread may end as soon as `start` returns). Cleared before reporting, so that no window
    // exists where a returning thread could take PID 1 with it.
    if rustix::process::set_parent_process_death_signal(None).is_err() {
        raw::exit(1);
    }
    if raw::write_all(&ready, &encode(READY, 0)).is_err() {
        raw::exit(1);
    }
    drop(ready);
    wait_for_owner(&owner)
}

/// Runs every step of the plan in order, keeping `step` at the number of the one running.
fn set_up(
    plan: &Plan,
    trees: &mut Vec<OwnedFd>,
    progress: &OwnedFd,
    step: &mut u32,
) -> Result<(), Errno> {
    let failpoint = plan.failpoint.as_ref();
    // A full pipe (a plan of thousands of steps) only makes the record stale.
    let record = |step: u32| {
        let _ = rustix::io::write(progress, &step.to_le_bytes());
    };
    let next = |step: &mut u32| {
        Failpoint::hit_step(failpoint, *step as usize);
        *step += 1;
        record(*step);
    };
    *step = 1;
    record(*step);
    for op in &plan.before {
        before(op, plan, trees)?;
        next(step);
    }
    let root = raw::open(&plan.root, OFlags::PATH | OFlags::DIRECTORY, 0)?;
    next(step);
    let root = pivot(root)?;
    next(step);
    let mut masked = false;
    for op in &plan.after {
        if !masked && matches!(op, After::Mask(_)) {
            masked = true;
            Failpoint::hit(failpoint, "before-mask");
        }
        after(op, plan, &root, trees)?;
        next(step);
    }
    Ok(())
}

/// Signal dispositions, dumpability, name, umask, stdio and fds of PID 1.
fn prepare_process(keep: [&OwnedFd; 3], devnull: OwnedFd) -> Result<(), Errno> {
    let [ready, owner, progress] = keep;
    // During set-up the starting thread is blocked in `start`, waiting for our report, so its
    // death means the owner's: a set-up step that hangs must not keep PID 1 alive after it.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    if owner_is_gone(owner) {
        raw::exit(1);
    }
    raw::reset_signals()?;
    // Orphans reparented to PID 1 are reaped by the kernel as they exit: no zombie stays.
    raw::autoreap_children()?;
    // Non-dumpable: processes in the container cannot ptrace PID 1 or open its /proc files
    // (unless they hold CAP_SYS_PTRACE, as the privileged profile's root does).
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)?;
    rustix::thread::set_name(c"furnace-init")?;
    rustix::process::umask(Mode::empty());
    // The parent numbered every fd it handed us 3 or above, so these cannot overwrite them.
    for stdio in 0..3 {
        raw::dup2(devnull.as_fd(), stdio)?;
    }
    drop(devnull);
    // Keep stdio (now /dev/null) and the fds PID 1 needs; close everything else it inherited
    // from the caller.
    let mut fds = [
        0,
        1,
        2,
        ready.as_raw_fd(),
        owner.as_raw_fd(),
        progress.as_raw_fd(),
    ];
    fds.sort_unstable();
    raw::close_all_except(&fds)
}

fn report_and_exit(ready: &OwnedFd, step: u32, errno: Errno) -> ! {
    let _ = raw::write_all(ready, &encode(step, errno.raw_os_error()));
    raw::exit(1)
}

/// Whether the owner process has already exited (its pidfd polls readable).
fn owner_is_gone(owner: &OwnedFd) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(owner, PollFlags::IN)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(poll(&mut fds, Some(&now)), Ok(n) if n > 0)
}

/// Waits until the owner process is gone, then exits; the kernel then kills every process
/// left in the pid namespace. Drop and `stop` do not wait for this: they SIGKILL PID 1.
fn wait_for_owner(owner: &OwnedFd) -> ! {
    use rustix::event::{poll, PollFd, PollFlags};
    loop {
        let mut fds = [PollFd::new(owner, PollFlags::IN)];
        match poll(&mut fds, None) {
            Ok(n) if n > 0 => raw::exit(0),
            Ok(_) | Err(Errno::INTR) => continue,
            Err(_) => raw::exit(2),
        }
    }
}

fn before(op: &Before, plan: &Plan, trees: &mut Vec<OwnedFd>) -> Result<(), Errno> {
    match op {
        Before::MakeRootSlave => rustix::mount::mount_change(
            c"/",
            MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
        ),
        Before::LoopbackUp => raw::loopback_up(),
        Before::SelfBindRoot => {
            rustix::mount::mount_bind_recursive(plan.root.as_c_str(), plan.root.as_c_str())
        }
        Before::CloneBind(index) => {
            let bind = plan.binds.get(*index).ok_or(Errno::INVAL)?;
            // Trees are pushed in bind order, into room the parent reserved.
            if trees.len() != *index || trees.len() == trees.capacity() {
                return Err(Errno::INVAL);
            }
            let tree = rustix::mount::open_tree(
                CWD,
                bind.source.as_c_str(),
                OpenTreeFlags::OPEN_TREE_CLONE
                    | OpenTreeFlags::OPEN_TREE_CLOEXEC
                    | OpenTreeFlags::AT_RECURSIVE,
            )?;
            if bind.read_only {
                raw::make_tree_read_only(tree.as_fd())?;
            }
            trees.push(tree);
            Ok(())
        }
    }
}

fn after(op: &After, plan: &Plan, root: &OwnedFd, trees: &[OwnedFd]) -> Result<(), Errno> {
    match op {
        After::Mount(m) => mount(m, plan.failpoint.as_ref()),
        After::Mkdir { path, mode } => {
            match rustix::fs::mkdir(path.as_c_str(), Mode::from_raw_mode(*mode)) {
                Ok(()) | Err(Errno::EXIST) => Ok(()),
                Err(e) => Err(e),
            }
        }
        After::Mknod {
            path,
            kind,
            major,
            minor,
            mode,
        } => {
            let kind = match kind {
                furnace_sys::dev::DeviceKind::Block => FileType::BlockDevice,
                furnace_sys::dev::DeviceKind::Char => FileType::CharacterDevice,
            };
            // umask is 0 in PID 1, so the mode is exact.
            rustix::fs::mknodat(
                CWD,
                path.as_c_str(),
                kind,
                Mode::from_raw_mode(*mode),
                rustix::fs::makedev(*major, *minor),
            )
        }
        After::Symlink { target, path } => {
            rustix::fs::symlinkat(target.as_c_str(), CWD, path.as_c_str())
        }
        After::AttachBind(index) => {
            let bind = plan.binds.get(*index).ok_or(Errno::INVAL)?;
            let tree = trees.get(*index).ok_or(Errno::INVAL)?;
            attach_bind(bind, tree, root)
        }
        After::Hostname(name) => rustix::system::sethostname(name.as_bytes()),
        After::Mask(path) => mask(path),
        After::ReadOnly(path) => read_only(path),
        After::DropPrivileges => {
            raw::restrict_capabilities(0)?;
            raw::no_new_privs()
        }
    }
}

/// In-root resolution: relative to the root fd, never above it, absolute symlinks refused
/// (`EXDEV`), no `/proc` magic links. The rootfs cannot send us to a host path.
const BENEATH: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);

fn open_beneath(root: &OwnedFd, path: &CStr, flags: OFlags) -> Result<OwnedFd, Errno> {
    rustix::fs::openat2(
        root,
        path,
        flags | OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        BENEATH,
    )
}

/// Opens directory `index` of the destination, creating it (and so, step by step, its
/// parents) when missing.
fn ensure_dir(
    root: &OwnedFd,
    bind: &BindOp,
    index: usize,
    parent: &OwnedFd,
) -> Result<OwnedFd, Errno> {
    let path = bind.dest_prefixes.get(index).ok_or(Errno::INVAL)?;
    let name = bind.dest_names.get(index).ok_or(Errno::INVAL)?;
    match open_beneath(root, path, OFlags::DIRECTORY) {
        Err(Errno::NOENT) => {
            match rustix::fs::mkdirat(parent, name.as_c_str(), Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(e),
            }
            open_beneath(root, path, OFlags::DIRECTORY)
        }
        other => other,
    }
}

/// Opens (or creates) the file the destination names; a symlink there is replaced by an empty
/// file for explicit binds (as the original did) and followed, inside the root, for implied
/// ones.
fn ensure_file(
    root: &OwnedFd,
    bind: &BindOp,
    index: usize,
    parent: &OwnedFd,
) -> Result<OwnedFd, Errno> {
    let path = bind.dest_prefixes.get(index).ok_or(Errno::INVAL)?;
    let name = bind.dest_names.get(index).ok_or(Errno::INVAL)?;
    let create = || -> Result<OwnedFd, Errno> {
        let flags =
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        drop(rustix::fs::openat(
            parent,
            name.as_c_str(),
            flags,
            Mode::from_raw_mode(0o644),
        )?);
        open_beneath(root, path, OFlags::NOFOLLOW)
    };
    if bind.optional {
        return match open_beneath(root, path, OFlags::empty()) {
            Err(Errno::NOENT) => create(),
            other => other,
        };
    }
    match open_beneath(root, path, OFlags::NOFOLLOW) {
        Ok(fd) => match FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode) {
            FileType::Symlink => {
                rustix::fs::unlinkat(parent, name.as_c_str(), rustix::fs::AtFlags::empty())?;
                create()
            }
            FileType::Directory => Err(Errno::ISDIR),
            _ => Ok(fd),
        },
        Err(Errno::NOENT) => create(),
        Err(e) => Err(e),
    }
}

/// Attaches a bind's detached tree at its destination, resolved (and created) inside the
/// new root. An optional bind whose destination cannot be made is skipped.
fn attach_bind(bind: &BindOp, tree: &OwnedFd, root: &OwnedFd) -> Result<(), Errno> {
    let dest = match resolve_destination(bind, root) {
        Ok(fd) => fd,
        Err(_) if bind.optional => return Ok(()),
        Err(e) => return Err(e),
    };
    attach(tree, &dest)
}

fn resolve_destination(bind: &BindOp, root: &OwnedFd) -> Result<OwnedFd, Errno> {
    let last = bind
        .dest_prefixes
        .len()
        .checked_sub(1)
        .ok_or(Errno::INVAL)?;
    let mut parent: Option<OwnedFd> = None;
    for index in 0..last {
        let dir = ensure_dir(root, bind, index, parent.as_ref().unwrap_or(root))?;
        parent = Some(dir);
    }
    let parent = parent.as_ref().unwrap_or(root);
    if bind.source_is_dir {
        ensure_dir(root, bind, last, parent)
    } else {
        ensure_file(root, bind, last, parent)
    }
}

/// `pivot_root(".", ".")` stacks the old root on the new one, so no directory for it is
/// written into the caller's tree. The old root is made slave before the lazy detach, so the
/// unmount cannot propagate to the host. Returns an `O_PATH` fd of the new root, which every
/// later in-root lookup is relative to.
fn pivot(root: OwnedFd) -> Result<OwnedFd, Errno> {
    rustix::process::fchdir(&root)?;
    rustix::process::pivot_root(c".", c".")?;
    rustix::mount::mount_change(
        c".",
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    )?;
    rustix::mount::unmount(c".", UnmountFlags::DETACH)?;
    rustix::process::chdir(c"/")?;
    raw::open(c"/", OFlags::PATH | OFlags::DIRECTORY, 0)
}

/// The `fsmount(2)` attributes for a standard mount's flags.
fn mount_attrs(flags: furnace_sys::mount::MountFlags) -> rustix::mount::MountAttrFlags {
    use furnace_sys::mount::MountFlags as F;
    use rustix::mount::MountAttrFlags as A;
    let mut attrs = A::empty();
    for (flag, attr) in [
        (F::RDONLY, A::MOUNT_ATTR_RDONLY),
        (F::NOSUID, A::MOUNT_ATTR_NOSUID),
        (F::NODEV, A::MOUNT_ATTR_NODEV),
        (F::NOEXEC, A::MOUNT_ATTR_NOEXEC),
        (F::STRICTATIME, A::MOUNT_ATTR_STRICTATIME),
    ] {
        if flags.contains(flag) {
            attrs |= attr;
        }
    }
    attrs
}

/// Mounts a fresh filesystem inside the new root. The mount point is opened first (`O_PATH`,
/// not following a symlink, which must be a real directory) and the new filesystem is
/// attached to *that* fd, so nothing can swap the path between the check and the mount.
fn mount(m: &MountOp, failpoint: Option<&Failpoint>) -> Result<(), Errno> {
    use rustix::mount::{
        fsconfig_create, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, FsMountFlags,
        FsOpenFlags,
    };
    let dir_flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::DIRECTORY;
    let target = match raw::open(&m.target, dir_flags, 0) {
        Err(Errno::NOENT) => {
            match rustix::fs::mkdir(m.target.as_c_str(), Mode::from_raw_mode(m.dir_mode)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(e),
            }
            raw::open(&m.target, dir_flags, 0)?
        }
        other => other?,
    };
    Failpoint::hit_suffixed(failpoint, "mount-verified:", &m.target);
    let fs = fsopen(m.fstype.as_c_str(), FsOpenFlags::FSOPEN_CLOEXEC)?;
    for (key, value) in &m.options {
        match value {
            Some(value) => fsconfig_set_string(&fs, key.as_c_str(), value.as_c_str())?,
            None => fsconfig_set_flag(&fs, key.as_c_str())?,
        }
    }
    fsconfig_create(&fs)?;
    let tree = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, mount_attrs(m.flags))?;
    attach(&tree, &target)
}

/// Opens `path` itself (not what a symlink there points to) as an `O_PATH` fd; `None` when
/// nothing is there.
fn open_target(path: &CStr) -> Result<Option<OwnedFd>, Errno> {
    match raw::open(path, OFlags::PATH | OFlags::NOFOLLOW, 0) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

fn attach(tree: &OwnedFd, target: &OwnedFd) -> Result<(), Errno> {
    rustix::mount::move_mount(
        tree,
        c"",
        target,
        c"",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
}

/// Hides `path`. The mask source is runtime-owned and verified: an empty read-only tmpfs made
/// here for directories, and for files the `/dev/null` PID 1 created in its own `/dev`,
/// checked to be the 1:3 character device — never a path a process inside could have
/// replaced with a link to something else.
fn mask(path: &CStr) -> Result<(), Errno> {
    use rustix::mount::{
        fsconfig_create, fsmount, fsopen, FsMountFlags, FsOpenFlags, MountAttrFlags,
    };
    let Some(target) = open_target(path)? else {
        return Ok(());
    };
    let st = rustix::fs::fstat(&target)?;
    let tree = if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        let fs = fsopen(c"tmpfs", FsOpenFlags::FSOPEN_CLOEXEC)?;
        fsconfig_create(&fs)?;
        let attrs = MountAttrFlags::MOUNT_ATTR_RDONLY
            | MountAttrFlags::MOUNT_ATTR_NOSUID
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOEXEC;
        fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?
    } else {
        let null = raw::open(c"/dev/null", OFlags::PATH | OFlags::NOFOLLOW, 0)?;
        let st = rustix::fs::fstat(&null)?;
        let is_null = FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice
            && rustix::fs::major(st.st_rdev) == 1
            && rustix::fs::minor(st.st_rdev) == 3;
        if !is_null {
            return Err(Errno::NODEV);
        }
        rustix::mount::open_tree(
            &null,
            c"",
            OpenTreeFlags::OPEN_TREE_CLONE
                | OpenTreeFlags::OPEN_TREE_CLOEXEC
                | OpenTreeFlags::AT_EMPTY_PATH,
        )?
    };
    attach(&tree, &target)
}

/// Makes `path` and its submounts read-only: a recursive bind of it onto itself, read-only
/// through `mount_setattr`, which keeps the other flags (`nosuid`, `nodev`, `noexec`) as they
/// are.
fn read_only(path: &CStr) -> Result<(), Errno> {
    let Some(target) = open_target(path)? else {
        return Ok(());
    };
    let tree = rustix::mount::open_tree(
        &target,
        c"",
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_RECURSIVE
            | OpenTreeFlags::AT_EMPTY_PATH,
    )?;
    raw::make_tree_read_only(tree.as_fd())?;
    attach(&tree, &target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_round_trips() {
        assert_eq!(decode(encode(READY, 0)), (READY, 0));
        assert_eq!(decode(encode(7, libc::EPERM)), (7, libc::EPERM));
        assert_eq!(decode(encode(0, -1)), (0, -1));
    }

    #[test]
    fn standard_mount_flags_become_mount_attributes() {
        use furnace_sys::mount::MountFlags as F;
        use rustix::mount::MountAttrFlags as A;
        assert_eq!(
            mount_attrs(F::RDONLY | F::NOSUID | F::NODEV | F::NOEXEC),
            A::MOUNT_ATTR_RDONLY
                | A::MOUNT_ATTR_NOSUID
                | A::MOUNT_ATTR_NODEV
                | A::MOUNT_ATTR_NOEXEC
        );
        assert_eq!(
            mount_attrs(F::NOSUID | F::STRICTATIME),
            A::MOUNT_ATTR_NOSUID | A::MOUNT_ATTR_STRICTATIME
        );
    }
}
