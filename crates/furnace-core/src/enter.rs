//! Putting a command's child into the container, between `fork` and `exec`.
//!
//! ---------------------------------------------------------------------------------------
//! POST-FORK CODE. [`enter_container`] runs in the child std forks for a
//! [`Command`](crate::Command), as its `pre_exec` hook: only system calls, no allocation, no
//! locks, no panics. A failure is written as (step, errno) on the spawn's report pipe, then
//! returned to std, which makes `spawn` fail with the errno.
//! ---------------------------------------------------------------------------------------

use std::ffi::CString;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};

use furnace_sys::cgroup::forksafe as cgroup;
use furnace_sys::cred::{forksafe as cred, CapabilitySet, Gid, Uid};
use furnace_sys::fd::forksafe as fd;
use furnace_sys::fs::forksafe as fs;
use furnace_sys::ns::forksafe as ns;
use furnace_sys::process::forksafe as process;
use furnace_sys::pty::forksafe as pty;
use furnace_sys::signal::forksafe as signal;
use furnace_sys::{Errno, Namespace, Namespaces};

use crate::error::SpawnStep;
use crate::failpoint::Failpoint;

/// The length of a failure record on the report pipe: step code and errno.
pub(crate) const RECORD_LEN: usize = 8;

/// What a command's child applies before exec, read by the pre-exec hook.
#[derive(Debug)]
pub(crate) struct Entry {
    /// PID 1's pidfd (the container keeps it open; the child has a copy of the fd table).
    pub pidfd: RawFd,
    /// The namespaces to join with `setns(pidfd)` (the pid namespace is joined at the fork).
    pub join: Namespaces,
    /// In a user namespace: the container's namespace files to join instead, in order (the
    /// pid namespace excluded), as (fd, kind). The container keeps the fds open.
    pub join_files: Vec<(RawFd, Namespace)>,
    /// The `cgroup.procs` of the container's cgroups, joined before the namespaces (the
    /// container keeps the fds open).
    pub cgroup_procs: Vec<RawFd>,
    pub cwd: Option<CString>,
    /// Start a session whose controlling terminal is stdin (a pseudo-terminal of the
    /// container, [`Command::terminal`](crate::Command::terminal)).
    pub controlling_terminal: bool,
    /// The capabilities to restrict the process to: the hardened profile's, changed by
    /// `cap_add`/`cap_drop`; `None` leaves them as they are (the privileged profile's all).
    pub capabilities: Option<CapabilitySet>,
    /// The hardened profile: `no_new_privs` and a session of its own.
    pub hardened: bool,
    /// Exactly these capability sets, taken on with the identity
    /// ([`Command::capability_sets`](crate::Command::capability_sets); privileged profile).
    pub capability_sets: Option<furnace_sys::cred::AllCapabilitySets>,
    /// `no_new_privs` outside the hardened profile too
    /// ([`Command::no_new_privileges`](crate::Command::no_new_privileges)).
    pub no_new_privs: bool,
    /// The container's seccomp filters, attached last (after `no_new_privs`), or while the
    /// process still has `CAP_SYS_ADMIN` when it gets no `no_new_privs`.
    pub seccomp: Option<std::sync::Arc<crate::SeccompFilters>>,
    /// When stdin is the terminal whose foreground process group the caller's is: make the
    /// command's process group the foreground one ([`Command::foreground`](crate::Command::foreground)).
    pub foreground: bool,
    pub uid: Option<Uid>,
    pub gid: Option<Gid>,
    /// The supplementary groups, when set ([`cred::set_identity`]).
    pub groups: Option<Vec<Gid>>,
    /// The user namespace denies `setgroups` (a single id mapped): the supplementary groups
    /// cannot be cleared.
    pub setgroups_denied: bool,
    /// The container has a user namespace of its own, joined with the others: become its
    /// root (no groups, gid 0, uid 0) right after joining, before anything else is done as
    /// the host's root, which is not mapped there.
    pub become_root: bool,
    /// The write end of this spawn's report pipe (close-on-exec, numbered 3 or above), set
    /// just before each spawn.
    pub report: RawFd,
    pub failpoint: Option<Failpoint>,
}

/// The pre-exec hook's pointer to the [`Entry`] of its `Command`.
pub(crate) struct EntryPtr(pub *const Entry);

impl EntryPtr {
    /// The settings.
    ///
    /// # Safety
    ///
    /// The `Entry` must still be alive: true inside `Command::spawn`, see there.
    pub(crate) unsafe fn get(&self) -> &Entry {
        // SAFETY: the caller guarantees the box behind the pointer is alive.
        unsafe { &*self.0 }
    }
}

// SAFETY: the pointer is only dereferenced in the forked child (see `Command::spawn`), never
// by another thread of this process.
unsafe impl Send for EntryPtr {}
// SAFETY: as above.
unsafe impl Sync for EntryPtr {}

/// The pre-exec hook: enters the container, or reports which step failed and fails.
pub(crate) fn hook(entry: &Entry) -> io::Result<()> {
    Failpoint::hit(entry.failpoint.as_ref(), "spawn-forked");
    match enter_container(entry) {
        Ok(()) => {
            Failpoint::hit(entry.failpoint.as_ref(), "spawn-pre-exec");
            Ok(())
        }
        Err((step, errno)) => {
            // SAFETY: the report fd is the write end the spawning `Command` holds open for the
            // whole spawn; the child has its own copy of the fd table.
            let report = unsafe { BorrowedFd::borrow_raw(entry.report) };
            let [s0, s1, s2, s3] = step.code().to_le_bytes();
            let [e0, e1, e2, e3] = errno.raw_os_error().to_le_bytes();
            let _ = fd::write_all(report, &[s0, s1, s2, s3, e0, e1, e2, e3]);
            Err(io::Error::from_raw_os_error(errno.raw_os_error()))
        }
    }
}

/// Standard fd `n` of the child, borrowed.
fn stdio(n: i32) -> BorrowedFd<'static> {
    // SAFETY: std set up the child's stdio before the pre-exec hook runs; the child does not
    // close it before exec.
    unsafe { BorrowedFd::borrow_raw(n) }
}

/// Decodes a failure record written by [`hook`].
pub(crate) fn decode(record: [u8; RECORD_LEN]) -> Option<(SpawnStep, Errno)> {
    let [s0, s1, s2, s3, e0, e1, e2, e3] = record;
    let step = SpawnStep::from_code(u32::from_le_bytes([s0, s1, s2, s3]))?;
    Some((
        step,
        Errno::from_raw_os_error(i32::from_le_bytes([e0, e1, e2, e3])),
    ))
}

/// Marks inherited fds close-on-exec, checks stdio, becomes non-dumpable, joins the
/// container's namespaces, changes directory (verifying it is inside), sets ids and reduces
/// capabilities (in an order that depends on the uid), takes on `no_new_privs` and a session
/// of its own in the hardened profile (elsewhere a process group of its own, and a session too
/// without a terminal), and joins a keyring of its own. System calls only.
fn enter_container(entry: &Entry) -> Result<(), (SpawnStep, Errno)> {
    let at = |step: SpawnStep| move |errno: Errno| (step, errno);
    // Whatever the caller left without O_CLOEXEC (other threads, C libraries) must not reach
    // the container. std's own error pipe and our report pipe are close-on-exec already.
    fd::close_range_cloexec(3, u32::MAX).map_err(at(SpawnStep::CloseFds))?;
    // Stdio is the one thing that crosses into the container; a directory there would be a
    // door back to the host's filesystem (runc documents the same for passed fds).
    fd::check_stdio_is_no_directory().map_err(at(SpawnStep::CheckStdio))?;
    // The caller's signal mask is inherited through fork and exec (std does not reset it):
    // a caller that blocks SIGTERM would hand a command that cannot be stopped.
    signal::unblock_all_signals().map_err(at(SpawnStep::UnblockSignals))?;
    process::set_dumpable(false).map_err(at(SpawnStep::NonDumpable))?;
    // SAFETY: `pidfd` belongs to the container, which the spawning `Command` borrows, so it is
    // open for the whole spawn (and the child has its own copy of the fd table).
    let init = unsafe { BorrowedFd::borrow_raw(entry.pidfd) };
    for &fd in &entry.cgroup_procs {
        // SAFETY: the container owns these fds for its whole life, and the spawning
        // `Command` borrows the container (the child has its own copy of the fd table).
        let procs = unsafe { BorrowedFd::borrow_raw(fd) };
        cgroup::join(procs).map_err(at(SpawnStep::JoinCgroups))?;
    }
    if entry.join_files.is_empty() {
        ns::setns_pidfd(init, entry.join).map_err(at(SpawnStep::JoinNamespaces))?;
    }
    for &(fd, kind) in &entry.join_files {
        // SAFETY: the container owns these fds for its whole life, and the spawning
        // `Command` borrows the container (the child has its own copy of the fd table).
        let file = unsafe { BorrowedFd::borrow_raw(fd) };
        ns::setns(file, kind).map_err(at(SpawnStep::JoinNamespaces))?;
    }
    if entry.become_root {
        cred::set_identity(Some(Uid::ROOT), Some(Gid::ROOT), Some(&[]), false)
            .map_err(at(SpawnStep::SetIds))?;
    }
    // Joining the mount namespace set root and cwd to the container's root.
    if let Some(cwd) = &entry.cwd {
        fs::chdir(cwd).map_err(at(SpawnStep::ChangeDirectory))?;
        match fs::cwd_is_reachable() {
            Ok(true) => {}
            Ok(false) => return Err((SpawnStep::VerifyDirectory, Errno::PERM)),
            Err(errno) => return Err((SpawnStep::VerifyDirectory, errno)),
        }
    }
    // A process that stays root takes on its groups first, with every capability, so that a
    // dropped CAP_SETGID does not stand in the way; one that becomes another uid must reduce
    // its capabilities before (dropping from the bounding set needs CAP_SETPCAP, which
    // `setuid` to a uid other than 0 takes away).
    // A keyring of its own, as runc gives each container: the caller's session keys (tokens,
    // credentials) stay out of reach. Before seccomp, which may refuse `keyctl`.
    cred::join_new_session_keyring().map_err(at(SpawnStep::JoinKeyring))?;
    let stays_root = entry.uid.map_or(true, |uid| uid.is_root());
    if stays_root && entry.capability_sets.is_none() {
        set_identity(entry)?;
    }
    // Without `no_new_privs` the kernel attaches a filter only for CAP_SYS_ADMIN: while the
    // process still has every capability (the filters must then allow the steps below).
    if !entry.hardened {
        attach_seccomp(entry)?;
    }
    if let Some(keep) = entry.capabilities {
        // Bounding, permitted and effective sets reduced to `keep`, inheritable and ambient
        // emptied: what a program executed as root then gets is `keep`.
        cred::restrict_capabilities(keep).map_err(at(SpawnStep::RestrictCapabilities))?;
    }
    if entry.hardened || entry.no_new_privs {
        // Forbid gaining capabilities at exec.
        cred::no_new_privs().map_err(at(SpawnStep::NoNewPrivileges))?;
    }
    if entry.hardened {
        // Leave the caller's session so that its terminal is not our controlling terminal.
        cred::new_session().map_err(at(SpawnStep::NewSession))?;
    }
    if entry.controlling_terminal {
        if !entry.hardened {
            cred::new_session().map_err(at(SpawnStep::NewSession))?;
        }
        pty::make_controlling(stdio(0)).map_err(at(SpawnStep::ControllingTerminal))?;
    } else if !entry.hardened {
        // A process group of its own in every profile, so that `kill 0` (or any signal to
        // "my group") inside reaches the command's processes and never the caller's. On a
        // terminal it stays in the caller's session (a terminal belongs to one session), in
        // the foreground when asked; without one it leaves the session too.
        if pty::is_terminal(stdio(0)) {
            pty::lead_process_group(stdio(0), entry.foreground)
                .map_err(at(SpawnStep::NewSession))?;
        } else {
            cred::new_session().map_err(at(SpawnStep::NewSession))?;
        }
    }
    if let Some(sets) = &entry.capability_sets {
        cred::set_identity_and_capabilities(entry.uid, entry.gid, entry.groups.as_deref(), sets)
            .map_err(at(SpawnStep::RestrictCapabilities))?;
    } else if !stays_root {
        set_identity(entry)?;
    }
    // Last before exec: nothing of furnace's runs under the filters.
    if entry.hardened {
        attach_seccomp(entry)?;
    }
    Ok(())
}

/// Attaches the container's seccomp filters, if it has any.
fn attach_seccomp(entry: &Entry) -> Result<(), (SpawnStep, Errno)> {
    match &entry.seccomp {
        Some(filters) => filters.apply().map_err(|errno| (SpawnStep::Seccomp, errno)),
        None => Ok(()),
    }
}

/// Takes on the command's uid, gid and supplementary groups.
fn set_identity(entry: &Entry) -> Result<(), (SpawnStep, Errno)> {
    cred::set_identity(
        entry.uid,
        entry.gid,
        entry.groups.as_deref(),
        entry.setgroups_denied,
    )
    .map_err(|errno| (SpawnStep::SetIds, errno))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        for step in SpawnStep::ALL {
            let [s0, s1, s2, s3] = step.code().to_le_bytes();
            let [e0, e1, e2, e3] = libc::ENOENT.to_le_bytes();
            assert_eq!(
                decode([s0, s1, s2, s3, e0, e1, e2, e3]),
                Some((step, Errno::NOENT))
            );
        }
        assert_eq!(decode([0xff; RECORD_LEN]), None);
    }
}
