//! The forwarding handler and the pipe it writes to.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use rustix::pipe::{pipe_with, PipeFlags};
use rustix::process::Signal;

use super::name;
use crate::error::{last_errno, Errno, Error, Result};
use crate::fd::forksafe::{poll_readable, read_exact};

/// `si_code` of a signal the kernel sent on its own behalf (terminal keys, hangups).
const SI_KERNEL: libc::c_int = 0x80;

/// Bytes the handler writes per signal: the number, and 1 if the kernel sent it. A write of
/// fewer than `PIPE_BUF` bytes to a pipe is atomic, so records never interleave or split.
const RECORD_LEN: usize = 2;

/// The write end of the current signal pipe, for the handler (-1 before the first
/// [`install_forwarding_handler`]).
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

/// A signal the handler caught.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caught {
    /// Which signal.
    pub signal: Signal,
    /// The kernel sent it on its own behalf (`si_code == SI_KERNEL`): a terminal key such as
    /// Ctrl-C or a hangup, which went to the whole foreground process group, rather than a
    /// `kill` by some process aimed at this one.
    pub sent_by_kernel: bool,
}

/// The read end of the pipe that the forwarding handler writes a record to per caught signal.
///
/// It polls readable while records wait in it, so it can be polled together with other fds
/// (through [`AsFd`]); [`next`](SignalPipe::next) takes one record out.
#[derive(Debug)]
pub struct SignalPipe {
    reader: OwnedFd,
    /// The write end of an [`unconnected`](SignalPipe::unconnected) pipe, kept so that the
    /// read end does not poll as hung up.
    _writer: Option<OwnedFd>,
}

/// `pipe2(O_CLOEXEC)`, then `sigaction(signal, {handler, SA_SIGINFO | SA_RESTART, mask =
/// signals})` for each of `signals`: from now on they are caught and recorded on the returned
/// pipe instead of taking their default action.
///
/// Records wait in the pipe until somebody reads them, so install the handler early (before
/// any thread exists) and read later. Each call makes a new pipe, which the handler writes to
/// from then on. While the handler runs, all of `signals` are blocked. A pipe full of unread
/// records (thousands) loses further signals rather than block the handler.
///
/// ```
/// use furnace_sys::signal::{install_forwarding_handler, raise};
/// use furnace_sys::Signal;
/// use std::time::Duration;
/// let pipe = install_forwarding_handler(&[Signal::USR2])?;
/// raise(Signal::USR2)?;
/// let caught = pipe.next(Some(Duration::from_secs(5)))?.expect("a record");
/// assert_eq!(caught.signal, Signal::USR2);
/// assert!(!caught.sent_by_kernel);
/// # Ok::<(), furnace_sys::Error>(())
/// ```
///
/// See `sigaction(2)`.
pub fn install_forwarding_handler(signals: &[Signal]) -> Result<SignalPipe> {
    let (reader, writer) =
        pipe_with(PipeFlags::CLOEXEC).map_err(|e| Error::new("pipe2", "signal pipe", e))?;
    // A full pipe (thousands of unread signals) must not block the handler.
    rustix::fs::fcntl_setfl(&writer, rustix::fs::OFlags::NONBLOCK)
        .map_err(|e| Error::new("fcntl", "signal pipe O_NONBLOCK", e))?;
    let previous = PIPE_WRITE.swap(writer.into_raw_fd(), Ordering::SeqCst);
    if previous >= 0 {
        // SAFETY: `previous` is the write end an earlier call put there (through
        // `into_raw_fd`), owned by nobody else now that it is swapped out.
        drop(unsafe { OwnedFd::from_raw_fd(previous) });
    }
    for &signal in signals {
        catch(signal, signals).map_err(|e| Error::new("sigaction", name(signal), e))?;
    }
    Ok(SignalPipe {
        reader,
        _writer: None,
    })
}

/// `sigaction(signal)` with [`on_signal`], `SA_SIGINFO | SA_RESTART`, and `blocked` blocked
/// while the handler runs.
fn catch(signal: Signal, blocked: &[Signal]) -> std::result::Result<(), Errno> {
    // SAFETY: an all-zero sigaction is a valid value (no handler, empty flags) to fill in.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    // SAFETY: `action.sa_mask` is a valid sigset owned by this frame; the signals are valid.
    unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        for other in blocked {
            libc::sigaddset(&mut action.sa_mask, other.as_raw());
        }
    }
    // SAFETY: `action` is fully initialised and its handler is async-signal-safe; a null
    // old-action pointer is allowed.
    if unsafe { libc::sigaction(signal.as_raw(), &action, std::ptr::null_mut()) } != 0 {
        return Err(last_errno());
    }
    Ok(())
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
        // SAFETY: `record` is valid for RECORD_LEN bytes. A failure (a full pipe) loses the
        // signal, which cannot be helped in a handler.
        let _ = unsafe { libc::write(fd, record.as_ptr().cast(), RECORD_LEN) };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved_errno };
}

impl SignalPipe {
    /// `pipe2(O_CLOEXEC)`: a signal pipe that no handler writes to, for tests of code that
    /// reads one. It never polls readable.
    ///
    /// See `pipe(2)`.
    pub fn unconnected() -> Result<SignalPipe> {
        let (reader, writer) =
            pipe_with(PipeFlags::CLOEXEC).map_err(|e| Error::new("pipe2", "signal pipe", e))?;
        Ok(SignalPipe {
            reader,
            _writer: Some(writer),
        })
    }

    /// `poll({pipe, POLLIN}, 1, timeout)`, then `read(pipe, record, 2)`: the next caught
    /// signal, waiting at most `timeout` (for ever with `None`).
    ///
    /// `Ok(None)` when the time is up, or when the wait was interrupted — by this very
    /// handler, whose record is then ready for the next call.
    ///
    /// See `poll(2)`.
    pub fn next(&self, timeout: Option<Duration>) -> Result<Option<Caught>> {
        let fd = self.reader.as_fd();
        match poll_readable(fd, timeout) {
            Ok(true) => {}
            Ok(false) | Err(Errno::INTR) => return Ok(None),
            Err(e) => return Err(Error::new("poll", "signal pipe", e)),
        }
        let mut record = [0u8; RECORD_LEN];
        match read_exact(fd, &mut record) {
            Ok(()) => {}
            // Only an unconnected pipe whose writer is gone can end.
            Err(Errno::NODATA) => return Ok(None),
            Err(e) => return Err(Error::new("read", "signal pipe", e)),
        }
        let [signal, from_kernel] = record;
        Ok(
            Signal::from_named_raw(libc::c_int::from(signal)).map(|signal| Caught {
                signal,
                sent_by_kernel: from_kernel == 1,
            }),
        )
    }
}

impl AsFd for SignalPipe {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.reader.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unconnected_pipe_stays_quiet() {
        let pipe = SignalPipe::unconnected().unwrap();
        assert!(pipe._writer.is_some());
        assert_eq!(pipe.next(Some(Duration::from_millis(10))), Ok(None));
    }
}
