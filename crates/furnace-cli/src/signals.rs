//! Catching SIGINT, SIGTERM, SIGHUP and SIGQUIT so that they can be forwarded to the command
//! (see [`crate::forward`]) instead of killing furnace.
//!
//! [`catch_forwarded`] installs, first thing in `main` and before any thread or container
//! exists, a handler that writes each signal (number and origin) into a close-on-exec pipe;
//! [`crate::forward::Forwarder`] reads the pipe with [`SignalPipe::next`] while it waits for
//! the command.
//!
//! Why a handler and not "block them, `sigwait` in a thread": furnace stays single-threaded
//! (a fork from a multi-threaded process costs cross-CPU TLB flushes, and furnace forks twice
//! per run), and a caught signal is reset to its default action by `execve`, so the command
//! starts with default dispositions; furnace-core's PID 1 resets its own.
//! The handler uses `SA_RESTART`, so furnace's own system calls are not cut short. A signal
//! that furnace was started with ignored (`nohup`) is left ignored, for the command too.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use furnace_sys::Signal;

/// The signals furnace forwards.
pub const FORWARDED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// `si_code` of a signal the kernel sent on its own behalf (terminal keys, hangups).
const SI_KERNEL: libc::c_int = 0x80;

/// Bytes the handler writes per signal: the number, and 1 if the kernel sent it.
const RECORD_LEN: usize = 2;

/// The pipe's write end, for the handler (-1 until [`catch_forwarded`] has made it).
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

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
    reader: File,
}

/// Installs the handler for [`FORWARDED`] and returns the pipe it reports to. Call it once,
/// first thing in `main`; signals caught before anybody reads the pipe wait in it.
pub fn catch_forwarded() -> io::Result<SignalPipe> {
    use rustix::pipe::{pipe_with, PipeFlags};
    let (reader, writer) = pipe_with(PipeFlags::CLOEXEC)?;
    // A full pipe (thousands of unread signals) must not block the handler.
    rustix::fs::fcntl_setfl(&writer, rustix::fs::OFlags::NONBLOCK)?;
    let previous = PIPE_WRITE.swap(writer.into_raw_fd(), Ordering::SeqCst);
    if previous >= 0 {
        // SAFETY: `previous` was the write end made by an earlier call, owned by nobody else.
        drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(previous) });
    }
    for signal in FORWARDED {
        if !is_ignored(signal)? {
            install_handler(signal)?;
        }
    }
    Ok(SignalPipe {
        reader: File::from(reader),
    })
}

/// Whether `signal` is ignored. A signal furnace was started with ignored (`nohup furnace
/// ...`) stays ignored, and is inherited so by the command, as `nohup` means it to be.
fn is_ignored(signal: libc::c_int) -> io::Result<bool> {
    // SAFETY: an all-zero sigaction is a valid buffer for sigaction to fill in.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new-action pointer only queries; `current` is valid to write.
    if unsafe { libc::sigaction(signal, std::ptr::null(), &mut current) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(current.sa_sigaction == libc::SIG_IGN)
}

/// `sigaction(signal)` with [`on_signal`], `SA_SIGINFO | SA_RESTART`, and every forwarded
/// signal blocked while the handler runs.
fn install_handler(signal: libc::c_int) -> io::Result<()> {
    // SAFETY: an all-zero sigaction is a valid value (no handler, empty flags) to fill in.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    // SAFETY: `action.sa_mask` is a valid sigset owned by this frame; the signals are valid.
    unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        for blocked in FORWARDED {
            libc::sigaddset(&mut action.sa_mask, blocked);
        }
    }
    // SAFETY: `action` is fully initialised and its handler is async-signal-safe; a null
    // old-action pointer is allowed.
    if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The signal handler: writes a record to the pipe. Only async-signal-safe calls (`write`),
/// and `errno` is preserved for the interrupted code.
extern "C" fn on_signal(signal: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: errno is thread-local; saving and restoring it is what handlers must do.
    let saved_errno = unsafe { *libc::__errno_location() };
    // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo (checked for null anyway).
    let from_kernel = !info.is_null() && unsafe { (*info).si_code } == SI_KERNEL;
    let record: [u8; RECORD_LEN] = [signal as u8, u8::from(from_kernel)];
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: `record` is valid for RECORD_LEN bytes; a write of at most PIPE_BUF bytes to
        // a pipe is atomic, so records never interleave. A failure (full pipe) loses the
        // signal, which cannot be helped in a handler.
        let _ = unsafe { libc::write(fd, record.as_ptr().cast(), RECORD_LEN) };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved_errno };
}

impl SignalPipe {
    /// The pipe's read end, to poll together with other fds.
    pub fn reader(&self) -> &File {
        &self.reader
    }

    /// A pipe nobody writes to, for tests of its readers.
    #[cfg(test)]
    pub fn for_test() -> SignalPipe {
        let (reader, _writer) =
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe");
        SignalPipe {
            reader: File::from(reader),
        }
    }

    /// The next caught signal, waiting at most `timeout` (for ever with `None`). `None` when
    /// the time is up, or when the wait was interrupted (by this very handler).
    pub fn next(&mut self, timeout: Option<Duration>) -> Option<Received> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let timeout = timeout.map(|t| Timespec {
            tv_sec: t.as_secs() as _,
            tv_nsec: t.subsec_nanos() as _,
        });
        let mut fds = [PollFd::new(&self.reader, PollFlags::IN)];
        match poll(&mut fds, timeout.as_ref()) {
            Ok(n) if n > 0 => {}
            _ => return None,
        }
        let mut record = [0u8; RECORD_LEN];
        self.reader.read_exact(&mut record).ok()?;
        Some(Received {
            signal: Signal::from_named_raw(libc::c_int::from(record[0]))?,
            to_process_group: record[1] == 1,
        })
    }
}

/// Runs `f` with SIGTTOU blocked in the calling thread, so that terminal calls made from a
/// background process group (`tcsetpgrp`, `tcsetattr`) proceed instead of stopping furnace.
pub fn with_sigttou_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: an all-zero sigset is a valid value for sigemptyset to initialise.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above; pthread_sigmask fills it in.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` and `old` are valid sigsets owned by this frame; SIGTTOU is a valid signal.
    let blocked = unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTTOU);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) == 0
    };
    let result = f();
    if blocked {
        // SAFETY: `old` holds the mask that pthread_sigmask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_signals_come_out_of_the_pipe() {
        let mut pipe = catch_forwarded().expect("install the handler");
        // SAFETY: raising a signal whose handler was just installed.
        unsafe { libc::raise(libc::SIGHUP) };
        let received = pipe.next(Some(Duration::from_secs(5))).expect("a record");
        assert_eq!(received.signal, Signal::HUP);
        assert!(!received.to_process_group);
        assert_eq!(pipe.next(Some(Duration::from_millis(10))), None);
    }
}
