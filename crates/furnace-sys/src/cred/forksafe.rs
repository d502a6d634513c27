//! The fork-safe tier of [`cred`](super): dropping ids, capabilities and privileges.
//!
//! Every function here makes system calls only: no allocation, no lock, no panic. They are
//! async-signal-safe, so a child forked from a multi-threaded program may call them before it
//! execs or exits. Errors are the bare [`Errno`].
//!
//! The id and capability calls are the raw system calls, which change the calling *thread*
//! only (the C library's `setuid` would signal every thread, under a lock): in a forked
//! child, which has a single thread, that is the whole process.

use rustix::process::{Gid, Uid};
use rustix::thread::{CapabilitySet, CapabilitySets};

use crate::error::check;
use crate::Errno;

/// `geteuid()`: the effective uid, as seen in the caller's user namespace. Async-signal-safe.
///
/// See `geteuid(2)`.
#[inline]
pub fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// `setgroups(0, NULL)`, `setgid(gid)`, `setuid(uid)`, in that order: takes on `uid` and
/// `gid` (each when given) with no supplementary groups.
///
/// The order is the only one that works: after `setuid` the process may no longer change its
/// groups. The supplementary groups are cleared whenever an id changes. Async-signal-safe: no
/// allocation, no locks.
///
/// See `setgroups(2)`.
#[inline]
pub fn set_ids(uid: Option<Uid>, gid: Option<Gid>) -> Result<(), Errno> {
    set_identity(uid, gid, Some(&[]), false)
}

/// `setgroups(groups)`, `setgid(gid)`, `setuid(uid)`, in that order: takes on an identity.
///
/// `groups` are the supplementary groups: `Some` sets them (an empty slice clears them);
/// `None` clears them when an id changes and leaves them otherwise. In a user namespace whose
/// `setgroups` is `deny` (`setgroups_denied`: a single id mapped without privilege) the kernel
/// refuses any change of the supplementary groups: clearing them is then skipped (the process
/// keeps the ones it had, which show as the overflow group inside), as is setting a list that
/// holds only `gid`; any other list fails with `EPERM`. Async-signal-safe: no allocation, no
/// locks.
///
/// See `setgroups(2)`, `user_namespaces(7)`.
#[inline]
pub fn set_identity(
    uid: Option<Uid>,
    gid: Option<Gid>,
    groups: Option<&[Gid]>,
    setgroups_denied: bool,
) -> Result<(), Errno> {
    let clear = uid.is_some() || gid.is_some();
    // Where setgroups is denied, a list that holds nothing but the primary group (what a
    // user's lookup gives for root) asks for nothing `setgid` does not do.
    let only_primary = |groups: &[Gid]| groups.iter().all(|g| Some(*g) == gid);
    match groups {
        Some(groups) if setgroups_denied && only_primary(groups) => {}
        None if setgroups_denied => {}
        Some(groups) if clear || !groups.is_empty() => rustix::thread::set_thread_groups(groups)?,
        Some(_) => {}
        None if clear => rustix::thread::set_thread_groups(&[])?,
        None => {}
    }
    if let Some(gid) = gid {
        rustix::thread::set_thread_gid(gid)?;
    }
    if let Some(uid) = uid {
        rustix::thread::set_thread_uid(uid)?;
    }
    Ok(())
}

/// `prctl(PR_CAPBSET_DROP, cap)` for every capability not in `keep`,
/// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)`, then `capset(…)`: reduces the calling
/// thread's capabilities to `keep`.
///
/// The bounding set loses everything else, the ambient and inheritable sets are emptied, and
/// the effective and permitted sets become `keep` as far as the permitted set holds it. A
/// process that then execs as root gets `keep` at most. Needs `CAP_SETPCAP` for the bounding
/// set: call it before dropping the ids. Async-signal-safe: no allocation, no locks.
///
/// See `capabilities(7)`.
#[inline]
pub fn restrict_capabilities(keep: CapabilitySet) -> Result<(), Errno> {
    for cap in 0..u64::BITS {
        let one = CapabilitySet::from_bits_retain(1 << cap);
        if keep.contains(one) {
            continue;
        }
        match rustix::thread::remove_capability_from_bounding_set(one) {
            Ok(()) => {}
            // Past the kernel's last capability.
            Err(Errno::INVAL) => break,
            Err(e) => return Err(e),
        }
    }
    rustix::thread::clear_ambient_capability_set()?;
    let current = rustix::thread::capabilities(None)?;
    let wanted = current.permitted & keep;
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: wanted,
            permitted: wanted,
            inheritable: CapabilitySet::empty(),
        },
    )
}

/// The five capability sets of a process, as an OCI `process.capabilities` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllCapabilitySets {
    /// The bounding set: the most an `execve` can give.
    pub bounding: CapabilitySet,
    /// The effective set.
    pub effective: CapabilitySet,
    /// The permitted set.
    pub permitted: CapabilitySet,
    /// The inheritable set.
    pub inheritable: CapabilitySet,
    /// The ambient set (kept across `execve` of an unprivileged program).
    pub ambient: CapabilitySet,
}

/// `prctl(PR_CAPBSET_DROP, cap)` for every capability not in `sets.bounding`,
/// `prctl(PR_SET_KEEPCAPS, 1)`, `setgroups`/`setgid`/`setuid` ([`set_identity`]),
/// `prctl(PR_SET_KEEPCAPS, 0)`, `capset(effective, permitted, inheritable)`, then
/// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)` for each ambient capability: takes on an
/// identity and exactly the capability sets given, whatever the uid (a switch away from uid 0
/// keeps the permitted set through `PR_SET_KEEPCAPS`).
///
/// Needs `CAP_SETPCAP` (bounding set), `CAP_SETUID`/`CAP_SETGID` (ids) and the capabilities
/// asked for in the permitted set beforehand. Async-signal-safe: no allocation, no locks.
///
/// See `capabilities(7)`, `prctl(2)`.
#[inline]
pub fn set_identity_and_capabilities(
    uid: Option<Uid>,
    gid: Option<Gid>,
    groups: Option<&[Gid]>,
    sets: &AllCapabilitySets,
) -> Result<(), Errno> {
    for cap in 0..u64::BITS {
        let one = CapabilitySet::from_bits_retain(1 << cap);
        if sets.bounding.contains(one) {
            continue;
        }
        match rustix::thread::remove_capability_from_bounding_set(one) {
            Ok(()) => {}
            // Past the kernel's last capability.
            Err(Errno::INVAL) => break,
            Err(e) => return Err(e),
        }
    }
    rustix::thread::set_keep_capabilities(true)?;
    set_identity(uid, gid, groups, false)?;
    rustix::thread::set_keep_capabilities(false)?;
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: sets.effective,
            permitted: sets.permitted,
            inheritable: sets.inheritable,
        },
    )?;
    rustix::thread::clear_ambient_capability_set()?;
    for cap in 0..u64::BITS {
        let one = CapabilitySet::from_bits_retain(1 << cap);
        if sets.ambient.contains(one) {
            rustix::thread::configure_capability_in_ambient_set(one, true)?;
        }
    }
    Ok(())
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: `execve` can no longer grant privileges (set-user-id
/// bits, file capabilities). It cannot be unset.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `prctl(2)`.
#[inline]
pub fn no_new_privs() -> Result<(), Errno> {
    rustix::thread::set_no_new_privs(true)
}

/// `setsid()`: a new session without a controlling terminal.
///
/// The process can then no longer inject input into the terminal it inherited (`TIOCSTI`
/// needs it to be the controlling terminal, or `CAP_SYS_ADMIN`). Async-signal-safe: no
/// allocation, no locks.
///
/// See `setsid(2)`.
#[inline]
#[doc(alias = "setsid")]
pub fn new_session() -> Result<(), Errno> {
    rustix::process::setsid().map(drop)
}

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)`: joins a new anonymous session keyring, so that
/// the keys of the session the process came from (tokens, credentials) are out of reach.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `keyctl(2)`.
#[inline]
pub fn join_new_session_keyring() -> Result<(), Errno> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: with a null name the call reads no memory of ours.
    check(unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    })
    .map(drop)
}
