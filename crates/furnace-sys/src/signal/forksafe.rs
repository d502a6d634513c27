//! The fork-safe tier of [`signal`](super): signal dispositions and masks in a forked child.
//!
//! Every function here makes system calls only: no allocation, no lock, no panic. They are
//! async-signal-safe, so a child forked from a multi-threaded program may call them before it
//! execs or exits. Errors are the bare [`Errno`].

use rustix::process::Signal;

use crate::error::last_errno;
use crate::Errno;

/// `sigaction(signal, {SIG_DFL})` for every catchable signal, then
/// `pthread_sigmask(SIG_SETMASK, {})`: default actions, nothing blocked.
///
/// A forked child must not run handlers that belong to its parent's code, and a signal mask
/// it inherited would otherwise reach whatever it execs. Signals the C library reserves for
/// itself refuse the change, which is ignored. Async-signal-safe: no allocation, no locks.
///
/// See `sigaction(2)`.
#[inline]
pub fn reset_signals() -> Result<(), Errno> {
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL is a valid disposition for every signal; signal() is
        // async-signal-safe. Errors (for signals the C library reserves) are ignored on
        // purpose.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    unblock_all_signals()
}

/// `pthread_sigmask(SIG_SETMASK, {})`: unblocks every signal in the calling thread.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `sigprocmask(2)`.
#[inline]
pub fn unblock_all_signals() -> Result<(), Errno> {
    // SAFETY: an all-zero sigset is the empty set, passed by pointer to pthread_sigmask, which
    // only reads it.
    let ret = unsafe {
        let empty: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut())
    };
    if ret != 0 {
        return Err(Errno::from_raw_os_error(ret));
    }
    Ok(())
}

/// `pthread_sigmask(SIG_BLOCK, {signal})`, `f()`, `pthread_sigmask(SIG_SETMASK, old)`: runs
/// `f` with `signal` blocked in the calling thread (with `SIGTTOU` blocked, `tcsetpgrp` from a
/// background process group proceeds instead of stopping the process).
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `sigprocmask(2)`.
#[inline]
pub fn with_blocked<T>(signal: Signal, f: impl FnOnce() -> T) -> T {
    // SAFETY: all-zero sigsets are valid for sigemptyset to initialise and for
    // pthread_sigmask to fill in; both live in this frame; the signal number is valid.
    let (blocked, old) = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal.as_raw());
        (
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) == 0,
            old,
        )
    };
    let result = f();
    if blocked {
        // SAFETY: `old` holds the mask pthread_sigmask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    }
    result
}

/// `sigaction(SIGCHLD, {SIG_IGN})`: the kernel then reaps this process's children (including
/// orphans reparented to it) as soon as they exit, so none stays a zombie.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `sigaction(2)`.
#[inline]
pub fn autoreap_children() -> Result<(), Errno> {
    // SAFETY: SIG_IGN for SIGCHLD is a valid disposition; signal() is async-signal-safe.
    let prev = unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    if prev == libc::SIG_ERR {
        return Err(last_errno());
    }
    Ok(())
}

/// `sigaction(signal, NULL, &old)`: whether `signal` is ignored (`SIG_IGN`).
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `sigaction(2)`.
#[inline]
pub fn is_ignored(signal: Signal) -> Result<bool, Errno> {
    // SAFETY: an all-zero sigaction is a valid buffer for sigaction to fill in.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new-action pointer only queries; `current` is valid to write.
    if unsafe { libc::sigaction(signal.as_raw(), std::ptr::null(), &mut current) } != 0 {
        return Err(last_errno());
    }
    Ok(current.sa_sigaction == libc::SIG_IGN)
}

/// `raise(signal)`: sends `signal` to the calling thread; a handler for it has run when this
/// returns.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `raise(3)`.
#[inline]
pub fn raise(signal: Signal) -> Result<(), Errno> {
    // SAFETY: raise takes a plain signal number and reads no memory of ours.
    if unsafe { libc::raise(signal.as_raw()) } != 0 {
        return Err(last_errno());
    }
    Ok(())
}
