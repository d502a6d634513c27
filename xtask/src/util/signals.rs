//! Interrupts: while children run, xtask survives SIGINT, SIGTERM and SIGHUP, so that it can
//! unmount, detach and audit before it exits with 128 + the signal number.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use super::sys;
use super::Result;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    // Only async-signal-safe work here: two atomic stores.
    SIGNAL.store(sig, Ordering::SeqCst);
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Installs a handler for SIGINT, SIGTERM and SIGHUP that only records the signal. A handler
/// (unlike `SIG_IGN`) is reset to the default by `exec`, so children still die of Ctrl-C while
/// xtask lives on to unmount, detach and audit.
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        sys::set_signal_handler(sig, on_signal);
    }
}

/// Whether xtask got SIGINT, SIGTERM or SIGHUP.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The exit code for an interrupted run: 128 + the signal number.
pub fn interrupt_exit_code() -> i32 {
    128 + SIGNAL.load(Ordering::SeqCst).max(1)
}

/// Fails with "interrupted" once a signal came, so that a step ends early.
pub fn check_interrupted() -> Result<()> {
    if interrupted() {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// Makes a short, critical child (e.g. `losetup --find --show`) immune to Ctrl-C, so it cannot die
/// half-way and leave a loop device attached that xtask does not know about.
pub fn shield_from_signals(cmd: &mut Command) -> &mut Command {
    sys::ignore_terminal_signals(cmd)
}

/// Makes xtask a child sub-reaper for the rest of its life: every process the run orphans (a
/// container whose owner died, a daemon that double-forked) is re-parented to xtask rather than
/// to PID 1, so "ours" is simply "descends from xtask" (see `audit.rs`).
pub fn become_subreaper() -> Result<()> {
    sys::set_child_subreaper(true).map_err(|e| format!("prctl(PR_SET_CHILD_SUBREAPER): {e}"))
}
