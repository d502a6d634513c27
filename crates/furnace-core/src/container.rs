//! A running container: start-up (fork into the namespaces, wait for PID 1's report) and
//! teardown.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use furnace_sys::raw::{self, Forked};
use furnace_sys::{Errno, ExitKind, Namespaces, Pidfd, Signal};

use crate::builder::{ContainerBuilder, Prepared};
use crate::error::{Error, Result};
use crate::failpoint::Failpoint;
use crate::init;
use crate::plan::Plan;

/// A running container: PID 1 in fresh namespaces over a root directory.
///
/// Run processes in it with [`command`](Container::command). Dropping it kills every process
/// inside and waits until PID 1 is gone; with the last process, the namespaces and every mount
/// made inside vanish. If the owning process dies instead — even by `SIGKILL` — PID 1 notices
/// (it holds a pidfd of the owner) and the same happens.
#[derive(Debug)]
pub struct Container {
    pub(crate) init: Pidfd,
    root: PathBuf,
    pub(crate) namespaces: Namespaces,
    /// The capability mask commands are reduced to (hardened profile), or `None`.
    pub(crate) capabilities: Option<u64>,
    /// A test-only failpoint (see [`crate::failpoint`]).
    pub(crate) failpoint: Option<Failpoint>,
    /// pidfds of the processes spawned into the container that may still need reaping at
    /// teardown (see [`Container::stop`]).
    pub(crate) spawned: Mutex<Vec<Pidfd>>,
    stopped: bool,
}

impl Container {
    /// A builder for a container over `root`, with the defaults: host network, no binds,
    /// hostname `localhost`.
    pub fn builder(root: impl Into<PathBuf>) -> ContainerBuilder {
        ContainerBuilder::new(root.into())
    }

    /// Starts a container over `root` with the defaults.
    pub fn start(root: impl Into<PathBuf>) -> Result<Container> {
        Self::builder(root).start()
    }

    pub(crate) fn launch(prepared: Prepared) -> Result<Container> {
        use rustix::pipe::{pipe_with, PipeFlags};
        let sys = Error::sys;
        let owner = Pidfd::open(std::process::id()).map_err(sys("open a pidfd of this process"))?;
        let devnull =
            raw::open(c"/dev/null", rustix::fs::OFlags::RDWR, 0).map_err(|e| Error::Sys {
                context: "open /dev/null",
                source: furnace_sys::Error::new("open", "/dev/null", e),
            })?;
        let (ready_r, ready_w) = pipe_with(PipeFlags::CLOEXEC).map_err(|e| Error::Sys {
            context: "create the ready pipe",
            source: furnace_sys::Error::new("pipe2", "", e),
        })?;
        let owner_fd: OwnedFd = owner.into();
        let failpoint = prepared.plan.failpoint.as_ref();
        Failpoint::hit(failpoint, "pre-clone");
        // SAFETY: the child runs `init::run`, which only makes system calls on data prepared
        // above (no allocation, no locks) and leaves through `_exit`; it never returns here.
        let forked = unsafe { raw::clone3(prepared.namespaces) }.map_err(|e| Error::Sys {
            context: "start the container's init",
            source: furnace_sys::Error::new("clone3", prepared.namespaces.names(), e),
        })?;
        let (pid, pidfd) = match forked {
            Forked::Child => {
                // A panic in PID 1 must never unwind into the caller's code, which this
                // process is a copy of: it would run the caller's program a second time.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    init::run(&prepared.plan, ready_w, owner_fd, devnull)
                }));
                raw::exit(1)
            }
            Forked::Parent { pid, pidfd } => (pid, pidfd),
        };
        drop((ready_w, owner_fd, devnull));
        Failpoint::hit(failpoint, "post-clone");
        let init = Pidfd::from_owned(pidfd, pid);
        let report = read_report(&ready_r);
        drop(ready_r);
        let setup_failure = match report {
            Some((init::READY, _)) => {
                Failpoint::hit(failpoint, "ready-received");
                return Ok(Container {
                    init,
                    root: prepared.root,
                    namespaces: prepared.namespaces,
                    capabilities: prepared.capabilities,
                    failpoint: prepared.plan.failpoint.clone(),
                    spawned: Mutex::new(Vec::new()),
                    stopped: false,
                });
            }
            Some((step, errno)) => Some(setup_error(&prepared.plan, step, errno)),
            // EOF without a report: init died (killed from outside, or crashed).
            None => None,
        };
        // Reap init, and with it everything made in its namespaces.
        let how = init.wait().unwrap_or(ExitKind::Exited(-1));
        Err(setup_failure.unwrap_or(Error::InitDied { pid, how }))
    }

    /// The host pid of the container's PID 1.
    pub fn init_pid(&self) -> u32 {
        self.init.pid()
    }

    /// The root directory (canonical host path).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the container runs the hardened profile.
    pub fn is_hardened(&self) -> bool {
        self.capabilities.is_some()
    }

    /// Whether PID 1 is still alive.
    pub fn is_running(&self) -> bool {
        !self.init.has_exited().unwrap_or(true)
    }

    /// Kills every process in the container and waits until PID 1 is gone, returning what went
    /// wrong, if anything. Dropping the container does the same and ignores errors.
    ///
    /// The kernel keeps PID 1 alive until every process of its pid namespace has been reaped,
    /// including the children this process spawned into it; teardown reaps those that were
    /// killed with it, so a [`std::process::Child`] still held afterwards reports an error
    /// from `wait` (`ECHILD`) — wait for your children before stopping their container.
    pub fn stop(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        // ESRCH means init already died on its own: nothing to kill, still something to reap.
        let _ = self.init.send_signal(Signal::KILL);
        Failpoint::hit(self.failpoint.as_ref(), "teardown-signalled");
        let mut spawned =
            std::mem::take(&mut *self.spawned.lock().unwrap_or_else(|e| e.into_inner()));
        loop {
            if self
                .init
                .try_wait()
                .map_err(Error::sys("reap the container's init"))?
                .is_some()
            {
                return Ok(());
            }
            // PID 1 is blocked in the kernel until our own children in its namespace are
            // reaped: reap those that have died, then wait for any of them or PID 1 to change.
            spawned.retain(|child| match child.has_exited() {
                Ok(true) => {
                    let _ = child.try_wait();
                    false
                }
                Ok(false) => true,
                Err(_) => false,
            });
            wait_any(&self.init, &spawned, Duration::from_millis(100));
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.teardown();
    }
}

fn wait_any(init: &Pidfd, others: &[Pidfd], timeout: Duration) {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds: Vec<PollFd<'_>> = std::iter::once(init)
        .chain(others)
        .map(|p| PollFd::new(p, PollFlags::IN))
        .collect();
    let ts = Timespec {
        tv_sec: 0,
        tv_nsec: timeout.as_nanos() as _,
    };
    let _ = poll(&mut fds, Some(&ts));
}

/// Reads PID 1's report: `None` when the pipe closed first (PID 1 died).
fn read_report(pipe: &OwnedFd) -> Option<(u32, i32)> {
    let mut buf = [0u8; init::REPORT_LEN];
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::io::read(pipe, &mut buf[filled..]) {
            Ok(0) => return None,
            Ok(n) => filled += n,
            Err(Errno::INTR) => {}
            Err(_) => return None,
        }
    }
    Some(init::decode(buf))
}

fn setup_error(plan: &Plan, step: u32, errno: i32) -> Error {
    let operation = match step {
        0 => "prepare the init process".to_owned(),
        n => plan
            .ops
            .get(n as usize - 1)
            .map_or_else(|| "unknown step".to_owned(), ToString::to_string),
    };
    Error::Setup {
        step: step as usize,
        operation,
        errno: Errno::from_raw_os_error(errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{cstring, Op};

    #[test]
    fn setup_errors_name_the_step() {
        let plan = Plan {
            ops: vec![Op::MakeRootSlave, Op::Hostname(cstring("x"))],
            process_strings: None,
            failpoint: None,
        };
        let err = setup_error(&plan, 2, libc::EPERM);
        assert_eq!(
            err.to_string(),
            "container set-up step 2 (sethostname x): EPERM (Operation not permitted)"
        );
        assert!(setup_error(&plan, 0, libc::EBADF)
            .to_string()
            .contains("prepare the init process"));
    }
}
