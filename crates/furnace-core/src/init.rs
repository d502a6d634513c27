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
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use furnace_sys::cgroup::forksafe as cgroup;
use furnace_sys::cred::{forksafe as cred, CapabilitySet};
use furnace_sys::dev::{forksafe as dev, DeviceKind};
use furnace_sys::fd::{forksafe as fd, Mode, OFlags, PollFd, PollFlags, StdioFd, CWD};
use furnace_sys::fs::{forksafe as fs, AtFlags, FileType};
use furnace_sys::mount::{forksafe as mnt, Propagation};
use furnace_sys::net::forksafe as net;
use furnace_sys::ns::forksafe as ns;
use furnace_sys::process::forksafe as process;
use furnace_sys::process::SharedU32;
use furnace_sys::signal::forksafe as signal;
use furnace_sys::{Errno, Namespaces, Signal};

use crate::failpoint::Failpoint;

mod fds;
mod overlay;
mod own_userns;
mod program;

use crate::plan::{After, Before, CopyOp, DestOp, MountOp, Plan};
pub(crate) use fds::{DetachedFds, InitFds, OwnUserns, Premade, NAMESPACE_FILES};
use overlay::overlay;
use own_userns::RootState;

/// What PID 1 writes on the ready pipe, in records of this size: the failed step's number
/// (or [`READY`]) and an errno, after any number of [`MADE`] and [`SKIPPED`] records.
pub(crate) const REPORT_LEN: usize = 8;
/// The step value that means "set-up finished".
pub(crate) const READY: u32 = u32::MAX;
/// A record `MADE | n`: candidate `n` of [`Plan::made`] was made in the root (written right
/// after it was, so that the parent can remove it even if PID 1 fails later).
pub(crate) const MADE: u32 = 1 << 31;
/// A record `SKIPPED | step` with an errno: an optional step failed and was skipped.
pub(crate) const SKIPPED: u32 = 1 << 30;

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
        namespaces,
        cgroup_procs,
        cgroup_leave,
        detached,
        own,
        exec,
        exec_keep,
        joins,
    } = fds;
    if let Err(errno) = join_cgroups(&cgroup_procs, cgroup_leave) {
        report_and_exit(&ready, 0, errno);
    }
    for (fd, kind) in &joins {
        if let Err(errno) = ns::setns(fd.as_fd(), *kind) {
            report_and_exit(&ready, 0, errno);
        }
    }
    // A user namespace of its own: the maps written, the root directory opened, root in it.
    let (mut keep_more, mut premade, root_dir) = match own {
        Some(OwnUserns { go, keep, premade }) => match own_userns::enter(plan, go) {
            Ok(dir) => (keep, Some(premade), Some(dir)),
            Err(errno) => report_and_exit(&ready, 0, errno),
        },
        None => (exec_keep, None, None),
    };
    if let Some(dir) = &root_dir {
        use std::os::fd::AsRawFd;
        // The parent left room for it.
        if keep_more.len() == keep_more.capacity() {
            report_and_exit(&ready, 0, Errno::INVAL);
        }
        keep_more.push(dir.as_raw_fd());
    }
    if let Some(strings) = &plan.process_strings {
        // SAFETY: the ranges were read from our parent, whose memory this process is a copy
        // of; this is the only thread, and nothing here reads arguments or environment.
        unsafe { strings.overwrite(b"furnace-init") };
    }
    let socket = namespaces.as_ref().unwrap_or(&ready);
    let listener = detached.as_ref().and_then(|d| d.listener.as_ref());
    let timer = detached.as_ref().and_then(|d| d.timer.as_ref());
    let released = detached.as_ref().map(|d| &d.released);
    let keep = [
        &ready,
        &owner,
        socket,
        listener.unwrap_or(&ready),
        timer.unwrap_or(&ready),
        released.unwrap_or(&ready),
    ];
    if let Err(errno) = prepare_process(keep, &keep_more, devnull) {
        report_and_exit(&ready, 0, errno);
    }
    let failpoint = plan.failpoint.as_ref();
    Failpoint::hit(failpoint, "pid1-start");
    let mut step = 0u32;
    let mut state = RootState {
        own: root_dir.as_ref().zip(premade.as_mut()),
        attached: None,
    };
    if let Err(errno) = set_up(plan, trees, (progress, &ready), &mut step, &mut state) {
        report_and_exit(&ready, step, errno);
    }
    // The program's terminal, made in the container's devpts now that it is mounted.
    let terminal = match exec.map(|(program, _)| program::open_terminal(program)) {
        Some(Err(errno)) => report_and_exit(&ready, step, errno),
        Some(Ok(terminal)) => terminal,
        None => None,
    };
    // The idmapped trees are attached (or unused): PID 1 holds none of them, nor the root
    // directory of the host's tree.
    drop(state);
    drop((premade, root_dir));
    // Set up: the namespace files and the new root are PID 1's own now.
    if let Some(socket) = &namespaces {
        if let Err(errno) = send_namespaces(plan.namespaces, false, socket) {
            report_and_exit(&ready, 0, errno);
        }
    }
    drop(namespaces);
    // The binds are attached: close their trees (the vector keeps its memory, nothing is
    // freed), so PID 1 holds nothing of the host but its owner's pidfd.
    trees.clear();
    Failpoint::hit(failpoint, "pid1-ready");
    // From now on the owner's *process*, not the starting thread, bounds PID 1's life (the
    // thread may end as soon as `start` returns). Cleared before reporting, so that no window
    // exists where a returning thread could take PID 1 with it.
    if process::set_parent_death_signal(None).is_err() {
        process::exit(1);
    }
    if fd::write_all(ready.as_fd(), &encode(READY, 0)).is_err() {
        process::exit(1);
    }
    drop(ready);
    match detached {
        None => wait_for_owner(&owner),
        Some(DetachedFds {
            listener,
            timer,
            released,
        }) => {
            wait_for_release(&owner, &released);
            drop((owner, released));
            if let Some((program, seccomp)) = exec {
                program::become_program(program, seccomp, terminal)
            }
            serve(plan.namespaces, listener.as_ref(), timer.as_ref())
        }
    }
}

/// Runs every step of the plan in order, keeping `step` at the number of the one running.
/// Records go on `ready` as they happen ([`MADE`], [`SKIPPED`]).
fn set_up(
    plan: &Plan,
    trees: &mut Vec<OwnedFd>,
    (progress, ready): (&SharedU32, &OwnedFd),
    step: &mut u32,
    state: &mut RootState<'_>,
) -> Result<(), Errno> {
    let out = |step: u32| Records(ready.as_fd(), step);
    let failpoint = plan.failpoint.as_ref();
    let record = |step: u32| progress.store(step);
    let next = |step: &mut u32| {
        Failpoint::hit_step(failpoint, *step as usize);
        *step += 1;
        record(*step);
    };
    *step = 1;
    record(*step);
    for op in &plan.before {
        before(op, plan, trees, out(*step), state)?;
        next(step);
    }
    let root = state.open(plan)?;
    next(step);
    let root = pivot(root)?;
    next(step);
    let mut masked = false;
    for op in &plan.after {
        if !masked && matches!(op, After::Mask(_)) {
            masked = true;
            Failpoint::hit(failpoint, "before-mask");
        }
        after(op, plan, &root, trees, out(*step))?;
        next(step);
    }
    Ok(())
}

/// Signal dispositions, dumpability, name, umask, stdio and fds of PID 1.
fn prepare_process(keep: [&OwnedFd; 6], more: &[RawFd], devnull: OwnedFd) -> Result<(), Errno> {
    let [ready, owner, socket, listener, timer, released] = keep;
    // During set-up the starting thread is blocked in `start`, waiting for our report, so its
    // death means the owner's: a set-up step that hangs must not keep PID 1 alive after it.
    process::set_parent_death_signal(Some(Signal::KILL))?;
    if owner_is_gone(owner) {
        process::exit(1);
    }
    // `clone3` reset every handled signal (`CLONE_CLEAR_SIGHAND`); what the caller ignores
    // stays ignored, harmless for PID 1, which execs nothing. The mask is ours to clear.
    signal::unblock_all_signals()?;
    // Orphans reparented to PID 1 are reaped by the kernel as they exit: no zombie stays.
    signal::autoreap_children()?;
    // Non-dumpable: processes in the container cannot ptrace PID 1 or open its /proc files
    // (unless they hold CAP_SYS_PTRACE, as the privileged profile's root does).
    process::set_dumpable(false)?;
    process::set_name(c"furnace-init")?;
    process::umask(Mode::empty());
    // The parent numbered every fd it handed us 3 or above, so these cannot overwrite them.
    for stdio in StdioFd::ALL {
        fd::dup2_stdio(devnull.as_fd(), stdio)?;
    }
    drop(devnull);
    // Keep stdio (now /dev/null) and the fds PID 1 needs; close everything else it inherited
    // from the caller.
    let kept = [
        stdio(StdioFd::Stdin),
        stdio(StdioFd::Stdout),
        stdio(StdioFd::Stderr),
        ready.as_fd(),
        owner.as_fd(),
        socket.as_fd(),
        listener.as_fd(),
        timer.as_fd(),
        released.as_fd(),
    ];
    // SAFETY: the fds closed are copies of the caller's, inherited through the fork; no
    // `OwnedFd` of this process that is used again refers to them (those PID 1 uses are kept).
    unsafe { fd::close_all_except_and(&kept, more) }
}

/// Standard fd `which`, borrowed.
fn stdio(which: StdioFd) -> BorrowedFd<'static> {
    // SAFETY: 0, 1 and 2 were just made copies of /dev/null; PID 1 never closes them.
    unsafe { BorrowedFd::borrow_raw(which.number() as i32) }
}

/// Joins the container's cgroups, then unshares the cgroup namespace, so that it is rooted at
/// them (the order runc uses); nothing without cgroups (then `clone3` made the namespace).
fn join_cgroups(procs: &[RawFd], leave: Option<RawFd>) -> Result<(), Errno> {
    if procs.is_empty() {
        return Ok(());
    }
    for &fd in procs {
        // SAFETY: the fds are open in the parent (the container keeps them) and so in this
        // copy of it; PID 1 only writes to them before `prepare_process` closes them.
        cgroup::join(unsafe { BorrowedFd::borrow_raw(fd) })?;
    }
    ns::unshare(Namespaces::CGROUP)?;
    if let Some(fd) = leave {
        // Best effort: where the kernel keeps a process inside its cgroup namespace's root
        // (cgroup2's `nsdelegate`), PID 1 stays in the limited cgroup.
        // SAFETY: as above.
        let _ = cgroup::join(unsafe { BorrowedFd::borrow_raw(fd) });
    }
    Ok(())
}

/// Sends fds of PID 1's namespaces (its user namespace first when `user`, then those of
/// `namespaces`, in [`NAMESPACE_FILES`] order) and of its root (`/`, `O_PATH`, last) on
/// `socket`, once the root is set up. Its own namespace files need no ptrace check, unlike another process's: a
/// caller in a user namespace that did not execute a program there fails that check against
/// the non-dumpable PID 1, and joins through these instead.
fn send_namespaces(namespaces: Namespaces, user: bool, socket: &OwnedFd) -> Result<(), Errno> {
    let user = if user {
        Some(fd::open(
            c"/proc/self/ns/user",
            OFlags::RDONLY,
            Mode::empty(),
        )?)
    } else {
        None
    };
    let mut opened: [Option<OwnedFd>; NAMESPACE_FILES.len()] = [None, None, None, None, None, None];
    for ((kind, path), slot) in NAMESPACE_FILES.iter().zip(opened.iter_mut()) {
        if namespaces.contains(kind.flag()) {
            *slot = Some(fd::open(path, OFlags::RDONLY, Mode::empty())?);
        }
    }
    let root = fd::open(c"/", OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
    let mut borrowed = [socket.as_fd(); NAMESPACE_FILES.len() + 2];
    let mut count = 0;
    for (fd, slot) in user
        .iter()
        .chain(opened.iter().flatten())
        .chain(std::iter::once(&root))
        .zip(borrowed.iter_mut())
    {
        *slot = fd.as_fd();
        count += 1;
    }
    fd::send_fds(socket.as_fd(), borrowed.get(..count).ok_or(Errno::INVAL)?)
}

/// Where PID 1 writes its [`MADE`] and [`SKIPPED`] records (the ready pipe), and the number
/// of the step running.
#[derive(Clone, Copy)]
struct Records<'a>(BorrowedFd<'a>, u32);

impl Records<'_> {
    /// Candidate `number` was made. A record that cannot be written costs a leftover at worst.
    fn made(self, number: Option<u32>) {
        if let Some(number) = number {
            let _ = fd::write_all(self.0, &encode(MADE | number, 0));
        }
    }

    /// The step was skipped: `errno` is why.
    fn skipped(self, errno: Errno) {
        let _ = fd::write_all(self.0, &encode(SKIPPED | self.1, errno.raw_os_error()));
    }
}

fn report_and_exit(ready: &OwnedFd, step: u32, errno: Errno) -> ! {
    let _ = fd::write_all(ready.as_fd(), &encode(step, errno.raw_os_error()));
    process::exit(1)
}

/// Whether the owner process has already exited (its pidfd polls readable).
fn owner_is_gone(owner: &OwnedFd) -> bool {
    matches!(
        fd::poll_readable(owner.as_fd(), Some(Duration::ZERO)),
        Ok(true)
    )
}

/// Waits until the parent has claimed the container's name (one byte on `released`); exits
/// when the owner is gone first, or the pipe closes without the byte.
fn wait_for_release(owner: &OwnedFd, released: &OwnedFd) {
    loop {
        let mut fds = [
            PollFd::new(owner, PollFlags::IN),
            PollFd::new(released, PollFlags::IN),
        ];
        match fd::poll(&mut fds, None) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(_) => process::exit(2),
        }
        // The byte first: a starter that exits right after writing it is gone by now too.
        if matches!(
            fd::poll_readable(released.as_fd(), Some(Duration::ZERO)),
            Ok(true)
        ) {
            let mut byte = [0u8];
            match fd::read_exact(released.as_fd(), &mut byte) {
                Ok(()) => return,
                Err(_) => process::exit(0),
            }
        }
        if owner_is_gone(owner) {
            process::exit(0);
        }
    }
}

/// PID 1 of a detached container: hands its namespaces to each process of its own user that
/// connects to the listener, until the timer fires (then exits, and the kernel kills every
/// process left in the pid namespace) or it is killed.
fn serve(namespaces: Namespaces, listener: Option<&OwnedFd>, timer: Option<&OwnedFd>) -> ! {
    let me = cred::effective_uid();
    let (first, second) = match (timer, listener) {
        (Some(timer), Some(listener)) => (timer, listener),
        (Some(only), None) | (None, Some(only)) => (only, only),
        (None, None) => loop {
            // Nothing to wait for but the SIGKILL that stops the container.
            let _ = fd::poll(&mut [], None);
        },
    };
    loop {
        let mut fds = [
            PollFd::new(first, PollFlags::IN),
            PollFd::new(second, PollFlags::IN),
        ];
        match fd::poll(&mut fds, None) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(_) => process::exit(2),
        }
        if let Some(timer) = timer {
            if matches!(
                fd::poll_readable(timer.as_fd(), Some(Duration::ZERO)),
                Ok(true)
            ) {
                process::exit(0);
            }
        }
        if let Some(listener) = listener {
            if !matches!(
                fd::poll_readable(listener.as_fd(), Some(Duration::ZERO)),
                Ok(true)
            ) {
                continue;
            }
            if let Ok(connection) = fd::accept(listener.as_fd()) {
                // Only the user the container runs as: the directory of the socket keeps
                // others out already; this holds if its permissions are ever widened.
                if fd::peer_uid(connection.as_fd()) == Ok(me) {
                    let _ = send_namespaces(namespaces, true, &connection);
                }
            }
        }
    }
}

/// Waits until the owner process is gone, then exits; the kernel then kills every process
/// left in the pid namespace. Drop and `stop` do not wait for this: they SIGKILL PID 1.
fn wait_for_owner(owner: &OwnedFd) -> ! {
    loop {
        let mut fds = [PollFd::new(owner, PollFlags::IN)];
        match fd::poll(&mut fds, None) {
            Ok(n) if n > 0 => process::exit(0),
            Ok(_) | Err(Errno::INTR) => continue,
            Err(_) => process::exit(2),
        }
    }
}

fn before(
    op: &Before,
    plan: &Plan,
    trees: &mut Vec<OwnedFd>,
    out: Records<'_>,
    state: &mut RootState<'_>,
) -> Result<(), Errno> {
    match op {
        Before::MakeRootSlave => mnt::set_propagation(c"/", Propagation::Slave, true),
        Before::LoopbackUp => net::loopback_up(),
        Before::SelfBindRoot => mnt::bind_recursive(&plan.root, &plan.root),
        Before::AttachRoot => state.attach_root(),
        Before::CloneBind(index) => {
            let bind = plan.binds.get(*index).ok_or(Errno::INVAL)?;
            // Trees are pushed in bind order, into room the parent reserved.
            if trees.len() != *index || trees.len() == trees.capacity() {
                return Err(Errno::INVAL);
            }
            if own_userns::is_premade(plan, *index) {
                // Idmapped, read-only and nodev as asked, by the parent.
                trees.push(state.premade_bind(*index).ok_or(Errno::INVAL)?);
                return Ok(());
            }
            let tree = mnt::open_tree_clone(CWD, &bind.source, true)?;
            if bind.read_only {
                mnt::make_tree_read_only(tree.as_fd())?;
            }
            if !bind.attrs.is_empty() {
                mnt::set_tree_attributes(tree.as_fd(), bind.attrs)?;
            }
            trees.push(tree);
            Ok(())
        }
        Before::Overlay(o) if plan.own_userns => state.overlay(o),
        Before::Overlay(o) => overlay(o, &plan.root),
        Before::NodevRoot => mnt::make_tree_nodev(state.open(plan)?.as_fd()),
        Before::Mount(m) => {
            let root = state.open(plan)?;
            let target = mount_point_beneath(&root, m, out)?;
            Failpoint::hit_suffixed(plan.failpoint.as_ref(), "mount-verified:", &m.target);
            attach_filesystem(m, &target)
        }
    }
}

/// Opens (creating it when missing) the mount point of `m` beneath `root`, before the pivot:
/// `/proc` is looked up as `proc` relative to the root fd and may not leave it.
fn mount_point_beneath(root: &OwnedFd, m: &MountOp, out: Records<'_>) -> Result<OwnedFd, Errno> {
    let relative = m
        .target
        .to_bytes_with_nul()
        .get(1..)
        .and_then(|rest| CStr::from_bytes_with_nul(rest).ok())
        .ok_or(Errno::INVAL)?;
    let flags = OFlags::NOFOLLOW | OFlags::DIRECTORY;
    match open_beneath(root, relative, flags) {
        Err(Errno::NOENT) => {
            make_dir(root.as_fd(), relative, m.dir_mode, m.made, out)?;
            open_beneath(root, relative, flags)
        }
        other => other,
    }
}

fn after(
    op: &After,
    plan: &Plan,
    root: &OwnedFd,
    trees: &[OwnedFd],
    out: Records<'_>,
) -> Result<(), Errno> {
    match op {
        After::Mount(m) => mount(m, plan.failpoint.as_ref(), out),
        After::Mkdir { path, mode } => match fs::mkdir(path, Mode::from_raw_mode(*mode)) {
            Ok(()) | Err(Errno::EXIST) => Ok(()),
            Err(e) => Err(e),
        },
        After::Mknod {
            path,
            kind,
            major,
            minor,
            mode,
        } => {
            // umask is 0 in PID 1, so the mode is exact.
            dev::mknodat(CWD, path, *kind, Mode::from_raw_mode(*mode), *major, *minor)
        }
        After::Symlink { target, path } => fs::symlinkat(target, CWD, path),
        After::Chown { path, uid, gid } => fs::chown_at(CWD, path, *uid, *gid),
        After::AttachBind(index) => {
            let bind = plan.binds.get(*index).ok_or(Errno::INVAL)?;
            let tree = trees.get(*index).ok_or(Errno::INVAL)?;
            // An optional bind (`resolv.conf`, `Auto`) whose destination cannot be made is
            // skipped and reported; the mount itself failing is an error like any other.
            let dest = match resolve_destination(&bind.dest, bind.source_is_dir, root, out) {
                Err(errno) if bind.optional => {
                    out.skipped(errno);
                    return Ok(());
                }
                other => other?,
            };
            mnt::move_mount(tree.as_fd(), dest.as_fd())
        }
        After::AttachAtMountPoint {
            bind,
            target,
            dir_mode,
            made,
        } => {
            let tree = trees.get(*bind).ok_or(Errno::INVAL)?;
            let target = mount_point(target, *dir_mode, *made, out)?;
            mnt::move_mount(tree.as_fd(), target.as_fd())
        }
        After::Tmpfs(t) => overlay::tmpfs(t, resolve_destination(&t.dest, true, root, out)?),
        After::CopyFile(c) => copy_file(c, root, out),
        After::ReadOnlyRoot => mnt::make_mount_read_only(root.as_fd()),
        After::Hostname(name) => process::sethostname(name.as_bytes()),
        After::Sysctl(path, value) => {
            let file = fd::open(path, OFlags::WRONLY, Mode::empty())?;
            fd::write_all(file.as_fd(), value.as_bytes())
        }
        After::Mask(path) => mask(path),
        After::ReadOnly(path) => read_only(path),
        After::DropPrivileges => {
            cred::restrict_capabilities(CapabilitySet::empty())?;
            cred::no_new_privs()
        }
    }
}

/// In-root resolution: relative to the root fd, never above it, absolute symlinks refused
/// (`EXDEV`), no `/proc` magic links. The rootfs cannot send us to a host path.
fn open_beneath(root: &OwnedFd, path: &CStr, flags: OFlags) -> Result<OwnedFd, Errno> {
    fd::openat_beneath(root.as_fd(), path, flags | OFlags::PATH, Mode::empty())
}

/// Makes the directory `name` in `parent`, recording it as candidate `made`; one that exists
/// already is fine (and not recorded).
fn make_dir(
    parent: BorrowedFd<'_>,
    name: &CStr,
    mode: u32,
    made: Option<u32>,
    out: Records<'_>,
) -> Result<(), Errno> {
    match fs::mkdirat(parent, name, Mode::from_raw_mode(mode)) {
        Ok(()) => {
            out.made(made);
            Ok(())
        }
        Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Prefix `index` of a destination (relative to the root), its last component, and its
/// candidate number.
fn component(dest: &DestOp, index: usize) -> Result<(&CStr, &CStr, Option<u32>), Errno> {
    let path = dest.prefixes.get(index).ok_or(Errno::INVAL)?;
    let name = dest.names.get(index).ok_or(Errno::INVAL)?;
    let made = dest.made.get(index).copied().flatten();
    Ok((path, name, made))
}

/// Resolves a destination beneath the new root, making what is missing: directories on the
/// way, then the last component — a directory when `is_dir`, else an empty file. A file's
/// destination that is a symlink is opened itself (`O_NOFOLLOW`): the mount covers the link,
/// which is neither followed nor replaced.
fn resolve_destination(
    dest: &DestOp,
    is_dir: bool,
    root: &OwnedFd,
    out: Records<'_>,
) -> Result<OwnedFd, Errno> {
    let last = dest.prefixes.len().checked_sub(1).ok_or(Errno::INVAL)?;
    let mut parent: Option<OwnedFd> = None;
    for index in 0..=last {
        let (path, name, made) = component(dest, index)?;
        let at = parent.as_ref().unwrap_or(root).as_fd();
        if index < last || is_dir {
            let found = match open_beneath(root, path, OFlags::DIRECTORY) {
                Err(Errno::NOENT) => {
                    make_dir(at, name, 0o755, made, out)?;
                    open_beneath(root, path, OFlags::DIRECTORY)
                }
                other => other,
            }?;
            parent = Some(found);
            continue;
        }
        return match open_beneath(root, path, OFlags::NOFOLLOW) {
            Ok(found) if fs::file_type(found.as_fd())? == FileType::Directory => Err(Errno::ISDIR),
            Err(Errno::NOENT) => {
                let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW;
                drop(fd::openat(at, name, flags, Mode::from_raw_mode(0o644))?);
                out.made(made);
                open_beneath(root, path, OFlags::NOFOLLOW)
            }
            other => other,
        };
    }
    parent.ok_or(Errno::INVAL)
}

/// Binds a copy of the host's file at the destination: written into a new file of the
/// container's own `/run` (a tmpfs PID 1 mounted), cloned from there, unlinked there once the
/// clone is attached (the kernel refuses to attach a clone of an unlinked file).
fn copy_file(c: &CopyOp, root: &OwnedFd, out: Records<'_>) -> Result<(), Errno> {
    const NAME: &CStr = c".furnace-copy";
    let run = fd::open(
        c"/run",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW,
        Mode::empty(),
    )?;
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW;
    let file = fd::openat(run.as_fd(), NAME, flags, Mode::from_raw_mode(0o644))?;
    let written = fd::write_all(file.as_fd(), &c.content);
    drop(file);
    let attached = written
        .and_then(|()| mnt::open_tree_clone(run.as_fd(), NAME, false))
        .and_then(|tree| {
            let dest = resolve_destination(&c.dest, false, root, out)?;
            mnt::move_mount(tree.as_fd(), dest.as_fd())
        });
    fs::unlinkat(run.as_fd(), NAME, AtFlags::empty())?;
    attached
}

/// `pivot_root(".", ".")` stacks the old root on the new one, so no directory for it is
/// written into the caller's tree; the old root is made slave before the lazy detach, so the
/// unmount cannot propagate to the host (`mount::forksafe::pivot_into`). Returns an `O_PATH`
/// fd of the new root, which every later in-root lookup is relative to.
fn pivot(root: OwnedFd) -> Result<OwnedFd, Errno> {
    mnt::pivot_into(root.as_fd())?;
    fd::open(c"/", OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
}

/// Mounts a fresh filesystem inside the new root. The mount point is opened first (`O_PATH`,
/// not following a symlink, which must be a real directory) and the new filesystem is
/// attached to *that* fd, so nothing can swap the path between the check and the mount.
fn mount(m: &MountOp, failpoint: Option<&Failpoint>, out: Records<'_>) -> Result<(), Errno> {
    let target = mount_point(&m.target, m.dir_mode, m.made, out)?;
    Failpoint::hit_suffixed(failpoint, "mount-verified:", &m.target);
    attach_filesystem(m, &target)
}

/// Opens the mount point `path` of the new root (`O_PATH`, not following a symlink, which
/// must be a real directory), creating it with `dir_mode` when missing (as candidate `made`).
fn mount_point(
    path: &CStr,
    dir_mode: u32,
    made: Option<u32>,
    out: Records<'_>,
) -> Result<OwnedFd, Errno> {
    let dir_flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::DIRECTORY;
    match fd::open(path, dir_flags, Mode::empty()) {
        Err(Errno::NOENT) => {
            make_dir(CWD, path, dir_mode, made, out)?;
            fd::open(path, dir_flags, Mode::empty())
        }
        other => other,
    }
}

/// Makes the filesystem of `m` and attaches it to the (verified) mount point `target`.
fn attach_filesystem(m: &MountOp, target: &OwnedFd) -> Result<(), Errno> {
    let options = m
        .options
        .iter()
        .map(|(key, value)| (key.as_c_str(), value.as_deref()));
    let tree = mnt::fsmount(&m.fstype, options, m.flags.mount_attrs())?;
    mnt::move_mount(tree.as_fd(), target.as_fd())
}

/// Opens `path` itself (not what a symlink there points to) as an `O_PATH` fd; `None` when
/// nothing is there.
fn open_target(path: &CStr) -> Result<Option<OwnedFd>, Errno> {
    match fd::open(path, OFlags::PATH | OFlags::NOFOLLOW, Mode::empty()) {
        Ok(found) => Ok(Some(found)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Hides `path`. The mask source is runtime-owned and verified: an empty read-only tmpfs made
/// here for directories, and for files the `/dev/null` PID 1 created in its own `/dev`,
/// checked to be the 1:3 character device — never a path a process inside could have
/// replaced with a link to something else.
fn mask(path: &CStr) -> Result<(), Errno> {
    let Some(target) = open_target(path)? else {
        return Ok(());
    };
    let tree = if fs::file_type(target.as_fd())? == FileType::Directory {
        mnt::empty_read_only_tmpfs()?
    } else {
        let null = fd::open(c"/dev/null", OFlags::PATH | OFlags::NOFOLLOW, Mode::empty())?;
        if dev::device_number(null.as_fd()) != Ok((DeviceKind::Char, 1, 3)) {
            return Err(Errno::NODEV);
        }
        mnt::open_tree_clone(null.as_fd(), c"", false)?
    };
    mnt::move_mount(tree.as_fd(), target.as_fd())
}

/// Makes `path` and its submounts read-only: a recursive bind of it onto itself, read-only
/// through `mount_setattr`, which keeps the other flags (`nosuid`, `nodev`, `noexec`) as they
/// are.
fn read_only(path: &CStr) -> Result<(), Errno> {
    let Some(target) = open_target(path)? else {
        return Ok(());
    };
    let tree = mnt::open_tree_clone(target.as_fd(), c"", true)?;
    mnt::make_tree_read_only(tree.as_fd())?;
    mnt::move_mount(tree.as_fd(), target.as_fd())
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
}
