//! Forwarding caught signals to the command (see [`crate::signals`] for the catching).
//!
//! The [`Forwarder`] thread takes each caught SIGINT, SIGTERM, SIGHUP or SIGQUIT and passes it
//! on:
//!
//! - to the command, through a pidfd (never to a recycled pid), once it is known; a signal
//!   that arrives while the container is still starting is kept and delivered as soon as the
//!   command exists;
//! - not at all when it came from the terminal (sent by the kernel to the whole foreground
//!   process group, e.g. Ctrl-C) and the command is in furnace's own process group: it has
//!   its own copy already, and a second one would be a second Ctrl-C;
//! - escalated: the second SIGINT or SIGTERM that furnace really forwards during a run is
//!   replaced by SIGKILL of the command, so that a command ignoring them can still be ended by
//!   signalling furnace twice.
//!
//! A command that ignores a forwarded signal keeps running, and furnace keeps waiting for it.

use std::process::Child;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use furnace_sys::{Pidfd, Signal};

use crate::signals::{Received, SignalPipe};

/// How often a signal that found nobody to go to is retried (see [`Target::Children`]).
const RETRY_INTERVAL: Duration = Duration::from_millis(50);

/// Where forwarded signals go.
#[derive(Debug)]
enum Target {
    /// The command has not started yet: signals are kept until it has.
    NotYet,
    /// The command, through a pidfd.
    Process(Pidfd),
    /// Every child process of furnace except the container's PID 1 (this host pid). Used for
    /// `furnace shell`, whose shell the library spawns and waits for without handing out its
    /// pid; a signal that arrives before the shell exists is retried until it does.
    Children {
        /// The container's PID 1, which is also a child of furnace.
        except: u32,
    },
}

/// What the forwarding thread and the main thread share.
#[derive(Debug)]
struct State {
    target: Target,
    /// Signals that found nobody to go to yet.
    pending: Vec<Signal>,
    /// How many SIGINT/SIGTERM were forwarded (for the escalation to SIGKILL).
    stop_requests: u32,
}

/// The forwarding thread's handle: tells it where signals go.
#[derive(Debug, Clone)]
pub struct Forwarder {
    state: Arc<Mutex<State>>,
}

impl Forwarder {
    /// Starts the forwarding thread, which reads `pipe` until the process exits.
    pub fn start(pipe: SignalPipe) -> std::io::Result<Self> {
        let forwarder = Forwarder {
            state: Arc::new(Mutex::new(State {
                target: Target::NotYet,
                pending: Vec::new(),
                stop_requests: 0,
            })),
        };
        let thread = forwarder.clone();
        std::thread::Builder::new()
            .name("furnace-signals".into())
            .spawn(move || thread.run(pipe))?;
        Ok(forwarder)
    }

    /// Sends further signals to `child`, and those that arrived before it started.
    pub fn forward_to(&self, child: &Child) {
        // Without a pidfd (out of fds?), no signal can be forwarded safely: they stay pending.
        if let Ok(pidfd) = Pidfd::open(child.id()) {
            self.set_target(Target::Process(pidfd));
        }
    }

    /// Sends further signals to every child process of furnace except the container's PID 1.
    pub fn forward_to_children(&self, init_pid: u32) {
        self.set_target(Target::Children { except: init_pid });
    }

    fn set_target(&self, target: Target) {
        let mut state = self.lock();
        state.target = target;
        state.retry_pending();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The thread's body: take each signal and pass it on; retry pending ones meanwhile.
    fn run(self, mut pipe: SignalPipe) {
        loop {
            let timeout = (!self.lock().pending.is_empty()).then_some(RETRY_INTERVAL);
            match pipe.next(timeout) {
                Some(received) => self.lock().receive(received),
                None => self.lock().retry_pending(),
            }
        }
    }
}

impl State {
    /// Passes a signal on, or keeps it for when there is somebody to receive it.
    fn receive(&mut self, received: Received) {
        if !self.deliver(received) {
            self.pending.push(received.signal);
        }
    }

    /// Delivers the pending signals that can be delivered now, in order.
    fn retry_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for (index, &signal) in pending.iter().enumerate() {
            let received = Received {
                signal,
                to_process_group: false,
            };
            if !self.deliver(received) {
                self.pending.extend_from_slice(&pending[index..]);
                return;
            }
        }
    }

    /// Sends the signal to the target; `false` when there is no target yet.
    fn deliver(&mut self, received: Received) -> bool {
        let children;
        let targets: &[Pidfd] = match &self.target {
            Target::NotYet => return false,
            Target::Process(pidfd) => std::slice::from_ref(pidfd),
            Target::Children { except } => {
                children = children_except(*except);
                &children
            }
        };
        if targets.is_empty() {
            return false;
        }
        let recipients: Vec<&Pidfd> = targets
            .iter()
            .filter(|p| !(received.to_process_group && in_our_process_group(p.pid())))
            .collect();
        if recipients.is_empty() {
            // They all received it from the kernel already.
            return true;
        }
        let signal = escalate(&mut self.stop_requests, received.signal);
        for pidfd in recipients {
            // An error means the process has exited already: nothing to do.
            let _ = pidfd.send_signal(signal);
        }
        true
    }
}

/// The signal to send for `signal`: SIGKILL instead of the second SIGINT or SIGTERM really
/// forwarded during the run (`stop_requests` counts them).
fn escalate(stop_requests: &mut u32, signal: Signal) -> Signal {
    if signal != Signal::INT && signal != Signal::TERM {
        return signal;
    }
    *stop_requests += 1;
    if *stop_requests >= 2 {
        Signal::KILL
    } else {
        signal
    }
}

/// Whether process `pid` is in furnace's own process group.
fn in_our_process_group(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    rustix::process::getpgid(Some(pid)).is_ok_and(|pgid| pgid == rustix::process::getpgrp())
}

/// pidfds of furnace's child processes (of every thread), except `except`.
fn children_except(except: u32) -> Vec<Pidfd> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|pid| pid.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .filter(|&pid| pid != except)
        .filter_map(|pid| Pidfd::open(pid).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    fn state(target: Target) -> State {
        State {
            target,
            pending: Vec::new(),
            stop_requests: 0,
        }
    }

    fn received(signal: Signal) -> Received {
        Received {
            signal,
            to_process_group: false,
        }
    }

    #[test]
    fn the_second_stop_request_becomes_sigkill() {
        let mut count = 0;
        assert_eq!(escalate(&mut count, Signal::HUP), Signal::HUP);
        assert_eq!(escalate(&mut count, Signal::TERM), Signal::TERM);
        assert_eq!(escalate(&mut count, Signal::QUIT), Signal::QUIT);
        assert_eq!(escalate(&mut count, Signal::INT), Signal::KILL);
    }

    #[test]
    fn signals_wait_for_the_command_then_reach_it() {
        let mut state = state(Target::NotYet);
        state.receive(received(Signal::TERM));
        assert_eq!(state.pending, [Signal::TERM]);
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("spawn sleep");
        state.target = Target::Process(Pidfd::open(child.id()).expect("pidfd"));
        state.retry_pending();
        assert!(state.pending.is_empty());
        let status = child.wait().expect("wait");
        assert_eq!(status.signal(), Some(libc::SIGTERM));
    }
}
