//! Pidfds: handles on processes that no pid reuse can redirect.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::process::{Pid, PidfdFlags, Signal, WaitIdOptions, WaitIdStatus};

use crate::error::{Errno, Error, Result};

/// How a process ended.
#[derive(Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub enum ExitKind {
    /// It called `exit` with this code.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
}

/// A pidfd: a stable handle on a process that no pid reuse can redirect.
///
/// It polls readable once the whole process (every thread) has exited.
#[derive(Debug)]
pub struct Pidfd {
    fd: OwnedFd,
    pid: u32,
}

impl Pidfd {
    /// `pidfd_open(pid, 0)`: a close-on-exec pidfd for `pid`.
    ///
    /// ```
    /// let me = furnace_sys::Pidfd::open(std::process::id())?;
    /// assert!(!me.has_exited()?);
    /// # Ok::<(), furnace_sys::Error>(())
    /// ```
    ///
    /// See `pidfd_open(2)`.
    pub fn open(pid: u32) -> Result<Self> {
        let raw = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| Error::new("pidfd_open", format!("pid {pid}"), Errno::SRCH))?;
        let fd = rustix::process::pidfd_open(raw, PidfdFlags::empty())
            .map_err(|e| Error::new("pidfd_open", format!("pid {pid}"), e))?;
        Ok(Self { fd, pid })
    }

    /// Wraps a pidfd obtained elsewhere (`clone3` with `CLONE_PIDFD`).
    ///
    /// No system call.
    pub fn from_owned(fd: OwnedFd, pid: u32) -> Self {
        Self { fd, pid }
    }

    /// The pid, in the namespace where the pidfd was made.
    ///
    /// No system call.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `pidfd_send_signal(pidfd, signal, NULL, 0)`: sends `signal` to the process.
    ///
    /// See `pidfd_send_signal(2)`.
    pub fn send_signal(&self, signal: Signal) -> Result<()> {
        rustix::process::pidfd_send_signal(&self.fd, signal).map_err(|e| {
            Error::new(
                "pidfd_send_signal",
                format!("{signal:?} to pid {}", self.pid),
                e,
            )
        })
    }

    /// `poll({pidfd, POLLIN}, 1, 0)`: whether the process has exited (its pidfd polls
    /// readable), without blocking.
    ///
    /// See `poll(2)`.
    pub fn has_exited(&self) -> Result<bool> {
        self.wait_exit_timeout(Some(Duration::ZERO))
    }

    /// `poll({pidfd, POLLIN}, 1, timeout)`: waits until the process has exited or `timeout`
    /// passed; `None` waits forever. Returns whether it exited. The process is not reaped.
    ///
    /// An interrupted wait (`EINTR`) starts again with the whole timeout.
    ///
    /// See `poll(2)`.
    pub fn wait_exit_timeout(&self, timeout: Option<Duration>) -> Result<bool> {
        loop {
            match crate::fd::forksafe::poll_readable(self.fd.as_fd(), timeout) {
                Ok(exited) => return Ok(exited),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(Error::new("poll", format!("pidfd of pid {}", self.pid), e)),
            }
        }
    }

    /// `waitid(P_PIDFD, pidfd, WEXITED)`: waits for the process to exit and reaps it.
    /// Only the parent can do this; others get `ECHILD`.
    ///
    /// See `waitid(2)`.
    pub fn wait(&self) -> Result<ExitKind> {
        // Without WNOHANG the kernel returns only with a status; `ECHILD` stands for the
        // impossible case rather than a panic.
        self.waitid(WaitIdOptions::EXITED)?
            .ok_or_else(|| Error::new("waitid", format!("pidfd of pid {}", self.pid), Errno::CHILD))
    }

    /// `waitid(P_PIDFD, pidfd, WEXITED | WNOHANG)`: reaps the process if it has exited,
    /// without blocking.
    ///
    /// See `waitid(2)`.
    pub fn try_wait(&self) -> Result<Option<ExitKind>> {
        self.waitid(WaitIdOptions::EXITED | WaitIdOptions::NOHANG)
    }

    /// `waitid(P_PIDFD, pidfd, WSTOPPED | WNOHANG)`: the signal that stopped the process, if
    /// it stopped since the last look (the report is consumed; an exit is not, and is left for
    /// [`wait`](Pidfd::wait) or std's `Child::wait`).
    ///
    /// See `waitid(2)`.
    pub fn take_stop(&self) -> Result<Option<Signal>> {
        self.raw_waitid(WaitIdOptions::STOPPED | WaitIdOptions::NOHANG)
            .map(|status| {
                status
                    .and_then(|s| s.stopping_signal())
                    .and_then(Signal::from_named_raw)
            })
    }

    /// Waits until the process stops or exits: `Some(signal)` when it stopped (that report is
    /// consumed), `None` when it exited (left unreaped, for [`wait`](Pidfd::wait) or std's
    /// `Child::wait`).
    ///
    /// See `waitid(2)`.
    pub fn wait_stop_or_exit(&self) -> Result<Option<Signal>> {
        loop {
            let options = WaitIdOptions::STOPPED | WaitIdOptions::EXITED | WaitIdOptions::NOWAIT;
            let Some(status) = self.raw_waitid(options)? else {
                continue;
            };
            if !status.stopped() {
                return Ok(None);
            }
            if let Some(signal) = self.take_stop()? {
                return Ok(Some(signal));
            }
        }
    }

    fn raw_waitid(&self, options: WaitIdOptions) -> Result<Option<WaitIdStatus>> {
        loop {
            match rustix::process::waitid(rustix::process::WaitId::PidFd(self.fd.as_fd()), options)
            {
                Ok(status) => return Ok(status),
                Err(Errno::INTR) => continue,
                Err(e) => {
                    return Err(Error::new(
                        "waitid",
                        format!("pidfd of pid {}", self.pid),
                        e,
                    ))
                }
            }
        }
    }

    fn waitid(&self, options: WaitIdOptions) -> Result<Option<ExitKind>> {
        loop {
            match rustix::process::waitid(rustix::process::WaitId::PidFd(self.fd.as_fd()), options)
            {
                Ok(Some(status)) => return Ok(exit_kind(&status)),
                Ok(None) => return Ok(None),
                Err(Errno::INTR) => continue,
                Err(e) => {
                    return Err(Error::new(
                        "waitid",
                        format!("pidfd of pid {}", self.pid),
                        e,
                    ))
                }
            }
        }
    }
}

fn exit_kind(status: &WaitIdStatus) -> Option<ExitKind> {
    if let Some(code) = status.exit_status() {
        Some(ExitKind::Exited(code))
    } else {
        status.terminating_signal().map(ExitKind::Signaled)
    }
}

impl AsFd for Pidfd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<Pidfd> for OwnedFd {
    fn from(pidfd: Pidfd) -> OwnedFd {
        pidfd.fd
    }
}

impl AsRawFd for Pidfd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfd_of_a_child_sees_exit_and_reaps() {
        let child = std::process::Command::new("sh")
            .args(["-c", "exit 7"])
            .spawn()
            .unwrap();
        let pidfd = Pidfd::open(child.id()).unwrap();
        assert!(pidfd
            .wait_exit_timeout(Some(Duration::from_secs(10)))
            .unwrap());
        assert_eq!(pidfd.wait().unwrap(), ExitKind::Exited(7));
        drop(child);
    }

    #[test]
    fn pidfd_send_signal_kills() {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pidfd = Pidfd::open(child.id()).unwrap();
        assert_eq!(pidfd.try_wait().unwrap(), None);
        pidfd.send_signal(Signal::KILL).unwrap();
        assert_eq!(pidfd.wait().unwrap(), ExitKind::Signaled(libc::SIGKILL));
        drop(child);
    }

    #[test]
    fn pidfd_open_of_missing_pid_names_it() {
        let err = Pidfd::open(i32::MAX as u32).unwrap_err();
        assert_eq!(err.errno(), Errno::SRCH);
        assert_eq!(
            err.to_string(),
            format!("pidfd_open pid {}: ESRCH (No such process)", i32::MAX)
        );
    }
}
