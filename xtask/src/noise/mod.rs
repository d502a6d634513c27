//! Foreign noise: proof that the leak audit blames only what the run made.
//!
//! `cargo xtask itest --with-foreign-noise` (and `ci`, always) starts a helper that is *not* a
//! descendant of xtask, the way a neighbour on the machine (podman, systemd) is not: a few
//! seconds into the suite it mounts a tmpfs on `/run/furnace-foreign-<pid>`, attaches a loop
//! device to a file in it and double-forks a `sleep 600` that the kernel re-parents to PID 1 —
//! what podman's `runc init` looks like to the audit. The audit must come out clean with all
//! three present; then the helper removes them. It also removes them when xtask dies in any way
//! (its control pipe reaches end-of-file), so the noise never outlives the run.
//!
//! How the helper escapes xtask's tree: xtask is a child sub-reaper, so a daemon it started
//! would be re-parented to it. At a quiet moment — before the suite's baseline, with no live
//! descendant that could be orphaned meanwhile — xtask clears the flag, runs `setsid --fork
//! xtask __foreign-noise` and waits for `setsid` to exit, so the daemon is re-parented above
//! xtask, and sets the flag again.

mod helper;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use furnace_sys::mountinfo;
use furnace_sys::process::ProcStat;

pub use helper::daemon_main;

use crate::util::{self, sys, Context, Lineage, Result};

/// The hidden subcommand the helper runs as.
pub const DAEMON_COMMAND: &str = "__foreign-noise";

/// What the helper made: a tmpfs mount, a loop device on a file in it, a process.
#[derive(Debug, Clone)]
pub struct Made {
    pub dir: PathBuf,
    pub device: String,
    pub pid: u32,
    pub start_time: u64,
}

/// The running helper, seen from xtask.
#[derive(Debug)]
pub struct ForeignNoise {
    pub daemon: u32,
    trigger: Trigger,
    events: mpsc::Receiver<String>,
}

/// Tells the helper to make its noise, once; cheap to clone into other threads.
#[derive(Debug, Clone)]
pub struct Trigger {
    control: Arc<Mutex<Option<ChildStdin>>>,
    fired: Arc<AtomicBool>,
}

impl Trigger {
    /// Makes the noise now (does nothing the second time, or once the helper was stopped);
    /// `when` says when, for the log.
    pub fn fire(&self, when: &str) {
        if self.fired.swap(true, Ordering::SeqCst) {
            return;
        }
        eprintln!("itest: foreign noise {when}: a tmpfs mount, a loop device and a process");
        if let Ok(mut control) = self.control.lock() {
            if let Some(pipe) = control.as_mut() {
                let _ = pipe.write_all(b"g").and_then(|()| pipe.flush());
            }
        }
    }

    /// Makes the noise `delay` from now, from a thread of its own (which starts no process).
    pub fn fire_after(&self, delay: Duration) {
        let trigger = self.clone();
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            trigger.fire(&format!("now, {}s into the suite", delay.as_secs()));
        });
    }
}

impl ForeignNoise {
    /// Starts the helper outside xtask's process tree. Call it while xtask has no live
    /// descendants (between commands): for a few milliseconds xtask is not a sub-reaper.
    pub fn start() -> Result<ForeignNoise> {
        let me = util::my_pid();
        let procs = util::all_procs();
        let live: Vec<u32> = util::descendants(me, &procs)
            .into_iter()
            .filter(|pid| procs.iter().any(|p| p.pid == *pid && !p.is_zombie()))
            .collect();
        if !live.is_empty() {
            return Err(format!(
                "foreign noise: xtask still has live descendants {live:?}; not starting the helper"
            ));
        }
        let setsid = util::which("setsid").ok_or("`setsid` is missing (package `util-linux`)")?;
        let exe = std::env::current_exe().context("foreign noise: locating xtask's binary")?;
        sys::set_child_subreaper(false).context("prctl(PR_SET_CHILD_SUBREAPER, 0)")?;
        let spawned = (|| {
            let mut child = Command::new(setsid)
                .arg("--fork")
                .arg(exe)
                .arg(DAEMON_COMMAND)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .context("foreign noise: starting `setsid --fork xtask __foreign-noise`")?;
            // `wait` would close stdin: take the pipes first.
            let control = child.stdin.take().ok_or("no stdin pipe")?;
            let status = child.stdout.take().ok_or("no stdout pipe")?;
            let exit = child.wait().context("waiting for setsid")?;
            if !exit.success() {
                return Err(format!("foreign noise: setsid failed ({exit})"));
            }
            Ok((control, status))
        })();
        // Whatever happened, xtask is a sub-reaper again before anything else runs.
        util::become_subreaper()?;
        let (control, status) = spawned?;

        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(status).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut noise = ForeignNoise {
            daemon: 0,
            trigger: Trigger {
                control: Arc::new(Mutex::new(Some(control))),
                fired: Arc::new(AtomicBool::new(false)),
            },
            events,
        };
        let ready = noise.next_event(Duration::from_secs(10))?;
        noise.daemon = ready
            .strip_prefix("ready ")
            .and_then(|pid| pid.parse().ok())
            .ok_or_else(|| {
                format!("foreign noise: unexpected first line from the helper: {ready}")
            })?;
        // The point of it all: the helper must not descend from xtask.
        let procs = util::all_procs().into_iter().map(|p| (p.pid, p)).collect();
        match util::lineage(noise.daemon, me, &procs) {
            Lineage::Elsewhere => Ok(noise),
            other => Err(format!(
                "foreign noise: the helper {} is not foreign to xtask ({other:?})",
                noise.daemon
            )),
        }
    }

    /// A handle that makes the noise, for other threads.
    pub fn trigger(&self) -> Trigger {
        self.trigger.clone()
    }

    fn next_event(&self, timeout: Duration) -> Result<String> {
        self.events
            .recv_timeout(timeout)
            .map_err(|_| "foreign noise: no answer from the helper".to_string())
    }

    /// Makes the noise now if it is not made yet, and waits for the helper to say what it made.
    pub fn made(&self) -> Result<Made> {
        self.trigger
            .fire("now, after the suite (it was quicker than the delay)");
        let line = self.next_event(Duration::from_secs(30))?;
        if let Some(error) = line.strip_prefix("error ") {
            return Err(format!("foreign noise: the helper failed: {error}"));
        }
        let fields: Vec<&str> = line.split(' ').collect();
        match fields.as_slice() {
            ["made", dir, device, pid, start] => Ok(Made {
                dir: PathBuf::from(dir),
                device: device.to_string(),
                pid: pid.parse().map_err(|_| format!("bad pid in `{line}`"))?,
                start_time: start
                    .parse()
                    .map_err(|_| format!("bad start in `{line}`"))?,
            }),
            _ => Err(format!(
                "foreign noise: unexpected line from the helper: {line}"
            )),
        }
    }

    /// Stops the helper and waits until it has removed its noise.
    pub fn stop(self) -> Result<()> {
        self.close_control();
        loop {
            match self.events.recv_timeout(Duration::from_secs(15)) {
                Ok(line) if line == "removed" => return Ok(()),
                Ok(line) => {
                    if let Some(e) = line.strip_prefix("cleanup-error ") {
                        return Err(format!("foreign noise: removing it failed: {e}"));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err("foreign noise: the helper exited without confirming".into())
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err("foreign noise: the helper did not finish in 15 s".into())
                }
            }
        }
    }

    fn close_control(&self) {
        self.trigger.fired.store(true, Ordering::SeqCst);
        if let Ok(mut control) = self.trigger.control.lock() {
            control.take();
        }
    }
}

impl Drop for ForeignNoise {
    fn drop(&mut self) {
        // End-of-file on its control pipe makes the helper remove everything and exit.
        self.close_control();
    }
}

impl Made {
    /// Checks that all three are still there: called after the audit, it proves the audit saw
    /// them (and, being clean, did not count them).
    pub fn still_there(&self) -> Result<()> {
        let mut missing = Vec::new();
        let mounts = mountinfo::read(None).map_err(|e| format!("foreign noise: {e}"))?;
        if !mounts.iter().any(|m| m.mount_point == self.dir) {
            missing.push(format!("the mount on {}", self.dir.display()));
        }
        let loops = crate::audit::loop_devices()?;
        if !loops
            .iter()
            .any(|l| l.split(' ').next() == Some(&self.device))
        {
            missing.push(format!("the loop device {}", self.device));
        }
        match ProcStat::read(self.pid) {
            Some(p) if p.start_time == self.start_time && !p.is_zombie() => {}
            _ => missing.push(format!("the process {}", self.pid)),
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "foreign noise: {} vanished before the audit ended, so it proved nothing",
                missing.join(", ")
            ))
        }
    }
}
