//! Process control: hostname, `prctl(2)` settings, and pidfds.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::process::{Pid, PidfdFlags, Signal, WaitIdOptions, WaitIdStatus};

use crate::error::{Errno, Error, Result};

/// `sethostname(2)`: sets the hostname of the caller's UTS namespace.
pub fn sethostname(name: &str) -> Result<()> {
    rustix::system::sethostname(name.as_bytes()).map_err(|e| Error::new("sethostname", name, e))
}

/// `prctl(PR_SET_PDEATHSIG)`: the signal this process gets when its parent *thread* exits.
///
/// Note that the kernel fires it when the thread that created this process exits, not when the
/// parent process does; a process forked from a short-lived thread dies with that thread.
pub fn set_parent_death_signal(signal: Option<Signal>) -> Result<()> {
    rustix::process::set_parent_process_death_signal(signal)
        .map_err(|e| Error::new("prctl", "PR_SET_PDEATHSIG", e))
}

/// `prctl(PR_SET_CHILD_SUBREAPER)`: orphaned descendants are reparented to this process
/// instead of the pid namespace's init.
pub fn set_child_subreaper(enable: bool) -> Result<()> {
    let pid = if enable {
        Some(rustix::process::getpid())
    } else {
        None
    };
    rustix::process::set_child_subreaper(pid)
        .map_err(|e| Error::new("prctl", "PR_SET_CHILD_SUBREAPER", e))
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: execve can no longer grant privileges (set-user-id bits,
/// file capabilities). It cannot be unset.
pub fn set_no_new_privs() -> Result<()> {
    rustix::thread::set_no_new_privs(true)
        .map_err(|e| Error::new("prctl", "PR_SET_NO_NEW_PRIVS", e))
}

/// `prctl(PR_SET_DUMPABLE)`: a non-dumpable process cannot be ptraced or have its `/proc`
/// files opened by processes without `CAP_SYS_PTRACE`. `execve` resets it.
pub fn set_dumpable(dumpable: bool) -> Result<()> {
    let behavior = if dumpable {
        rustix::process::DumpableBehavior::Dumpable
    } else {
        rustix::process::DumpableBehavior::NotDumpable
    };
    rustix::process::set_dumpable_behavior(behavior)
        .map_err(|e| Error::new("prctl", "PR_SET_DUMPABLE", e))
}

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
    /// `pidfd_open(2)`: a close-on-exec pidfd for `pid`.
    ///
    /// ```
    /// let me = furnace_sys::Pidfd::open(std::process::id())?;
    /// assert!(!me.has_exited()?);
    /// # Ok::<(), furnace_sys::Error>(())
    /// ```
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
    pub fn from_owned(fd: OwnedFd, pid: u32) -> Self {
        Self { fd, pid }
    }

    /// The pid, in the namespace where the pidfd was made.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `pidfd_send_signal(2)`.
    pub fn send_signal(&self, signal: Signal) -> Result<()> {
        rustix::process::pidfd_send_signal(&self.fd, signal).map_err(|e| {
            Error::new(
                "pidfd_send_signal",
                format!("{signal:?} to pid {}", self.pid),
                e,
            )
        })
    }

    /// Whether the process has exited (its pidfd polls readable), without blocking.
    pub fn has_exited(&self) -> Result<bool> {
        self.wait_exit_timeout(Some(Duration::ZERO))
    }

    /// Waits until the process has exited or `timeout` passed; `None` waits forever.
    /// Returns whether it exited. The process is not reaped.
    pub fn wait_exit_timeout(&self, timeout: Option<Duration>) -> Result<bool> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let ts = timeout.map(|d| Timespec {
            tv_sec: d.as_secs() as _,
            tv_nsec: d.subsec_nanos() as _,
        });
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        loop {
            match poll(&mut fds, ts.as_ref()) {
                Ok(n) => return Ok(n > 0),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(Error::new("poll", format!("pidfd of pid {}", self.pid), e)),
            }
        }
    }

    /// Waits for the process to exit and reaps it (`waitid(P_PIDFD, WEXITED)`).
    /// Only the parent can do this; others get `ECHILD`.
    pub fn wait(&self) -> Result<ExitKind> {
        self.waitid(WaitIdOptions::EXITED)
            .map(|s| s.expect("waitid without WNOHANG returns a status"))
    }

    /// Reaps the process if it has exited, without blocking.
    pub fn try_wait(&self) -> Result<Option<ExitKind>> {
        self.waitid(WaitIdOptions::EXITED | WaitIdOptions::NOHANG)
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
