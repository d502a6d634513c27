//! Catching SIGINT, SIGTERM, SIGHUP and SIGQUIT so that they can be forwarded to the command
//! (see [`crate::forward`]) instead of killing furnace.
//!
//! [`catch_forwarded`] installs, first thing in `main` and before any thread or container
//! exists, furnace-sys's forwarding handler, which writes each signal (number and origin) into
//! a close-on-exec pipe; [`crate::forward::Forwarder`] reads the pipe with
//! [`SignalPipe::next`] while it waits for the command.
//!
//! Why a handler and not "block them, `sigwait` in a thread": furnace stays single-threaded
//! (a fork from a multi-threaded process costs cross-CPU TLB flushes, and furnace forks twice
//! per run), and a caught signal is reset to its default action by `execve`, so the command
//! starts with default dispositions; furnace-core's PID 1 resets its own.
//! The handler uses `SA_RESTART`, so furnace's own system calls are not cut short. A signal
//! that furnace was started with ignored (`nohup`) is left ignored, for the command too.

use std::io;
use std::time::Duration;

use furnace_sys::signal;
use furnace_sys::Signal;

/// The signals furnace forwards.
pub const FORWARDED: [Signal; 4] = [Signal::INT, Signal::TERM, Signal::HUP, Signal::QUIT];

/// A signal caught by furnace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Which signal.
    pub signal: Signal,
    /// Sent by the kernel to furnace's whole process group (a terminal key such as Ctrl-C,
    /// or a hangup), rather than by a process to furnace alone.
    pub to_process_group: bool,
}

/// The read end of the pipe that the signal handler writes to.
#[derive(Debug)]
pub struct SignalPipe {
    pipe: signal::SignalPipe,
}

/// Installs the handler for those of [`FORWARDED`] that are not ignored, and returns the pipe
/// it reports to. Call it once, first thing in `main`; signals caught before anybody reads
/// the pipe wait in it.
pub fn catch_forwarded() -> io::Result<SignalPipe> {
    // A signal furnace was started with ignored (`nohup furnace ...`) stays ignored, and is
    // inherited so by the command, as `nohup` means it to be.
    let mut caught = Vec::with_capacity(FORWARDED.len() + 1);
    // SIGWINCH for the terminal proxy, SIGCHLD to notice a command that stopped (job
    // control, `crate::forward`); neither is forwarded.
    for signal in FORWARDED.into_iter().chain([Signal::WINCH, Signal::CHILD]) {
        if !signal::is_ignored(signal)? {
            caught.push(signal);
        }
    }
    Ok(SignalPipe {
        pipe: signal::install_forwarding_handler(&caught)?,
    })
}

impl SignalPipe {
    /// The pipe's read end, to poll together with other fds.
    pub fn reader(&self) -> &signal::SignalPipe {
        &self.pipe
    }

    /// A pipe nobody writes to, for tests of its readers.
    #[cfg(test)]
    pub fn for_test() -> SignalPipe {
        SignalPipe {
            pipe: signal::SignalPipe::unconnected().expect("pipe"),
        }
    }

    /// The next caught signal, waiting at most `timeout` (for ever with `None`). `None` when
    /// the time is up, or when the wait was interrupted (by this very handler).
    pub fn next(&mut self, timeout: Option<Duration>) -> Option<Received> {
        let caught = self.pipe.next(timeout).ok().flatten()?;
        Some(Received {
            signal: caught.signal,
            to_process_group: caught.sent_by_kernel,
        })
    }
}

/// Runs `f` with SIGTTOU blocked in the calling thread, so that terminal calls made from a
/// background process group (`tcsetpgrp`, `tcsetattr`) proceed instead of stopping furnace.
pub fn with_sigttou_blocked<T>(f: impl FnOnce() -> T) -> T {
    signal::with_blocked(Signal::TTOU, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_signals_come_out_of_the_pipe() {
        let mut pipe = catch_forwarded().expect("install the handler");
        signal::raise(Signal::HUP).expect("raise SIGHUP");
        let received = pipe.next(Some(Duration::from_secs(5))).expect("a record");
        assert_eq!(received.signal, Signal::HUP);
        assert!(!received.to_process_group);
        assert_eq!(pipe.next(Some(Duration::from_millis(10))), None);
    }

    #[test]
    fn an_unconnected_pipe_gives_nothing() {
        let mut pipe = SignalPipe::for_test();
        assert_eq!(pipe.next(Some(Duration::ZERO)), None);
    }
}
