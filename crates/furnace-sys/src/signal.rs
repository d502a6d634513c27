//! Signals: dispositions, masks, and a handler that turns caught signals into records on a
//! pipe, for a program that forwards them to a child instead of dying of them.
//!
//! A signal handler may only make async-signal-safe calls, so the handler here does one
//! thing: it writes the signal's number (and whether the kernel sent it) into a close-on-exec
//! pipe, which the program reads at leisure with [`SignalPipe::next`] or polls together with
//! other fds. The handler is installed with `SA_RESTART`, so the program's own system calls
//! are not cut short, and a caught signal is reset to its default action by `execve`, so a
//! command the program execs starts with default dispositions.
//!
//! The calls a forked child makes (resetting dispositions and the mask it inherited) are in
//! [`forksafe`].

use rustix::process::Signal;

use crate::error::{Error, Result};

pub mod forksafe;
mod pipe;

pub use pipe::*;

/// `sigaction(signal, NULL, &old)`: whether `signal` is ignored.
///
/// A signal a program was started with ignored (`nohup`) should usually stay ignored, for
/// the program and what it runs, as the one who started it meant.
///
/// See `sigaction(2)`.
pub fn is_ignored(signal: Signal) -> Result<bool> {
    forksafe::is_ignored(signal).map_err(|e| Error::new("sigaction", name(signal), e))
}

/// `raise(signal)`: sends `signal` to the calling thread.
///
/// See `raise(3)`.
pub fn raise(signal: Signal) -> Result<()> {
    forksafe::raise(signal).map_err(|e| Error::new("raise", name(signal), e))
}

/// `pthread_sigmask(SIG_BLOCK, {signal})`, `f()`, `pthread_sigmask(SIG_SETMASK, old)`: runs
/// `f` with `signal` blocked in the calling thread.
///
/// With `SIGTTOU` blocked, terminal calls made from a background process group (`tcsetpgrp`,
/// `tcsetattr`) proceed instead of stopping the process. A signal that arrives meanwhile is
/// delivered once the old mask is back. `pthread_sigmask` only fails for an invalid
/// argument, which this function never passes.
///
/// See `sigprocmask(2)`.
pub fn with_blocked<T>(signal: Signal, f: impl FnOnce() -> T) -> T {
    // SAFETY: an all-zero sigset is a valid value for sigemptyset to initialise.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above; pthread_sigmask fills it in.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` and `old` are valid sigsets owned by this frame; the signal is valid.
    let blocked = unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal.as_raw());
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) == 0
    };
    let result = f();
    if blocked {
        // SAFETY: `old` holds the mask that pthread_sigmask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    }
    result
}

/// The conventional name of a signal (`SIGINT`), or its number.
fn name(signal: Signal) -> String {
    const NAMES: [&str; 32] = [
        "",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    usize::try_from(signal.as_raw())
        .ok()
        .and_then(|n| NAMES.get(n))
        .filter(|name| !name.is_empty())
        .map_or_else(
            || format!("signal {}", signal.as_raw()),
            |name| (*name).to_owned(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_signals() {
        assert_eq!(name(Signal::INT), "SIGINT");
        assert_eq!(name(Signal::ALARM), "SIGALRM");
        assert_eq!(name(Signal::SYS), "SIGSYS");
        assert_eq!(
            name(Signal::from_named_raw(libc::SIGWINCH).unwrap()),
            "SIGWINCH"
        );
    }

    #[test]
    fn blocked_signals_wait_until_the_mask_is_back() {
        // SIGWINCH is ignored by default, so raising it is harmless; while it is blocked it
        // stays pending.
        let pending = || {
            // SAFETY: an all-zero sigset is valid for sigpending to fill in.
            let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
            // SAFETY: `set` is a valid sigset owned by this frame.
            unsafe { libc::sigpending(&mut set) };
            // SAFETY: as above.
            unsafe { libc::sigismember(&set, libc::SIGWINCH) == 1 }
        };
        let winch = Signal::from_named_raw(libc::SIGWINCH).unwrap();
        assert!(!is_ignored(winch).unwrap());
        let was_pending = with_blocked(winch, || {
            raise(winch).unwrap();
            pending()
        });
        assert!(was_pending);
        assert!(!pending());
    }
}
