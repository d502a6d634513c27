//! Drives the `furnace-test-helper` binary (`tests/src/bin/furnace-test-helper.rs`): a caller
//! process of its own, for the tests that need the owner of a container to die, panic or exit.
//! The tests know the binary's path (`CARGO_BIN_EXE_furnace-test-helper`); this library does
//! not.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc;

use crate::proc::proc_stat;
use crate::wait::wait_until;
use crate::DEADLINE;

/// A running `furnace-test-helper MODE ROOT`: a separate caller process with a container.
///
/// Dropping it kills (SIGKILL) and reaps the helper if it is still there.
#[derive(Debug)]
pub struct Helper {
    child: Child,
    reaped: Option<ExitStatus>,
    /// Host pid of the container's PID 1.
    pub init_pid: u32,
    /// Host pid of the `sleep` the helper started inside.
    pub sleeper_pid: u32,
    /// The container's pid namespace (`pid:[N]`).
    pub pid_ns: String,
    /// The container's mount namespace (`mnt:[N]`).
    pub mnt_ns: String,
}

impl Helper {
    /// Starts `exe MODE ROOT` and waits (with a deadline) for its `ready` line:
    /// `ready init=PID sleeper=PID pidns=pid:[N] mntns=mnt:[N]`.
    pub fn start(exe: &Path, mode: &str, root: &Path) -> Helper {
        let mut child = std::process::Command::new(exe)
            .arg(mode)
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(DEADLINE) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("furnace-test-helper {mode} did not report ready within {DEADLINE:?}");
            }
        };
        let field = |name: &str| -> Option<String> {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
                .map(str::to_owned)
        };
        let parsed = (|| {
            Some((
                field("init")?.parse().ok()?,
                field("sleeper")?.parse().ok()?,
                field("pidns")?,
                field("mntns")?,
            ))
        })();
        let Some((init_pid, sleeper_pid, pid_ns, mnt_ns)) = parsed else {
            let _ = child.kill();
            let status = child.wait();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("furnace-test-helper {mode}: unexpected report {line:?} ({status:?}); stderr: {err}");
        };
        Helper {
            child,
            reaped: None,
            init_pid,
            sleeper_pid,
            pid_ns,
            mnt_ns,
        }
    }

    /// The helper's own pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGKILL to the helper (not to its container).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Waits (with a deadline) for the helper to end; returns its status and stderr.
    pub fn wait(&mut self) -> (ExitStatus, String) {
        let pid = self.child.id();
        wait_until(DEADLINE, &format!("helper {pid} exits"), || {
            proc_stat(pid).is_none_or(|s| s.is_zombie())
        });
        let status = self.child.wait().expect("wait for the helper");
        self.reaped = Some(status);
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status, err)
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        if self.reaped.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
