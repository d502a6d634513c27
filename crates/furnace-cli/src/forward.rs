//! Waiting for the command while forwarding caught signals to it (see [`crate::signals`] for
//! the catching).
//!
//! [`Forwarder::wait`] polls the signal pipe and a pidfd of the command together, in the main
//! thread — furnace has no other thread, which keeps its forks cheap — and passes each caught
//! SIGINT, SIGTERM, SIGHUP or SIGQUIT on:
//!
//! - to the command, through its pidfd (never to a recycled pid); signals that arrived while
//!   the container was starting wait in the pipe and are delivered as soon as the command
//!   exists;
//! - not at all when it came from the terminal (sent by the kernel to the whole foreground
//!   process group, e.g. Ctrl-C) and the command is in furnace's own process group: it has
//!   its own copy already, and a second one would be a second Ctrl-C;
//! - escalated: the second SIGINT or SIGTERM that furnace really forwards during a run is
//!   replaced by SIGKILL of the command, so that a command ignoring them can still be ended by
//!   signalling furnace twice.
//!
//! A command that ignores a forwarded signal keeps running, and furnace keeps waiting for it.
//!
//! Job control: the command leads a process group of its own (so `kill 0` inside cannot reach
//! the caller), in the terminal's foreground when stdin is the terminal. When it stops,
//! furnace stops too and continues it when continued itself ([`follow_stop`]).

use std::io;
use std::process::{Child, ExitStatus};
use std::time::Duration;

use furnace_sys::{Errno, Pidfd, Signal};

use crate::signals::{Received, SignalPipe};

/// Forwards caught signals to the command while waiting for it.
#[derive(Debug)]
pub struct Forwarder {
    pub(crate) pipe: SignalPipe,
    /// How many SIGINT/SIGTERM were forwarded (for the escalation to SIGKILL).
    stop_requests: u32,
}

impl Forwarder {
    /// A forwarder reading the pipe the signal handler writes to.
    pub fn new(pipe: SignalPipe) -> Self {
        Forwarder {
            pipe,
            stop_requests: 0,
        }
    }

    /// Waits for `child` to exit, forwarding every caught signal to it meanwhile.
    pub fn wait(&mut self, child: &mut Child) -> io::Result<ExitStatus> {
        use rustix::event::{poll, PollFd, PollFlags};
        let pidfd = Pidfd::open(child.id())?;
        loop {
            let mut fds = [
                PollFd::new(self.pipe.reader(), PollFlags::IN),
                PollFd::new(&pidfd, PollFlags::IN),
            ];
            match poll(&mut fds, None) {
                // The handler itself interrupts the poll: go round and read what it wrote.
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            let (signalled, exited) = (!fds[0].revents().is_empty(), !fds[1].revents().is_empty());
            if signalled {
                while let Some(received) = self.pipe.next(Some(Duration::ZERO)) {
                    self.deliver(&pidfd, received);
                }
            }
            if exited {
                return child.wait();
            }
        }
    }

    /// Sends one caught signal to the command, unless it already got it from the terminal.
    /// A window-size change is the terminal's business, never forwarded; a `SIGCHLD` says
    /// the command may have stopped ([`follow_stop`]).
    pub(crate) fn deliver(&mut self, pidfd: &Pidfd, received: Received) {
        if received.signal == Signal::WINCH {
            return;
        }
        if received.signal == Signal::CHILD {
            if let Ok(Some(_)) = pidfd.take_stop() {
                follow_stop(pidfd);
            }
            return;
        }
        if received.to_process_group && in_our_process_group(pidfd.pid()) {
            return;
        }
        let signal = escalate(&mut self.stop_requests, received.signal);
        // An error means the command has exited already: nothing to do.
        let _ = pidfd.send_signal(signal);
    }
}

impl Forwarder {
    /// Sends one caught signal to a command that runs in a session of its own (on the
    /// container's terminal): nothing the user's terminal sent reached it, so every signal is
    /// passed on, with the same escalation.
    pub(crate) fn deliver_to_session(&mut self, pidfd: &Pidfd, received: Received) {
        let signal = escalate(&mut self.stop_requests, received.signal);
        let _ = pidfd.send_signal(signal);
    }
}

/// The command stopped (`Ctrl-Z` on the terminal, or a stop signal from anywhere): furnace
/// takes the terminal back and stops too, so that the shell that started it has a stopped
/// job; once continued (`fg`, `bg`), it gives the terminal to the command's process group when
/// furnace is in the foreground (`fg`), and continues the group. The command leads
/// a process group of its own (furnace-core puts every command in one).
pub(crate) fn follow_stop(pidfd: &Pidfd) {
    let stdin = std::io::stdin();
    let group = i32::try_from(pidfd.pid())
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    let had_terminal = group.is_some() && rustix::termios::tcgetpgrp(&stdin).ok() == group;
    if had_terminal {
        let _ = furnace_sys::pty::take_back_foreground(&stdin);
    }
    // Stops here until SIGCONT; in an orphaned process group (no job control) the kernel
    // discards the signal and this returns at once.
    let _ = rustix::process::kill_process(rustix::process::getpid(), Signal::TSTP);
    let ours = rustix::termios::tcgetpgrp(&stdin).ok() == Some(rustix::process::getpgrp());
    if ours {
        let _ = furnace_sys::pty::give_foreground(&stdin, pidfd.pid());
    }
    if let Some(group) = group {
        let _ = rustix::process::kill_process_group(group, Signal::CONT);
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

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn the_second_stop_request_becomes_sigkill() {
        let mut count = 0;
        assert_eq!(escalate(&mut count, Signal::HUP), Signal::HUP);
        assert_eq!(escalate(&mut count, Signal::TERM), Signal::TERM);
        assert_eq!(escalate(&mut count, Signal::QUIT), Signal::QUIT);
        assert_eq!(escalate(&mut count, Signal::INT), Signal::KILL);
    }

    #[test]
    fn a_forwarded_signal_reaches_the_command() {
        let mut forwarder = Forwarder {
            pipe: SignalPipe::for_test(),
            stop_requests: 0,
        };
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("spawn sleep");
        let pidfd = Pidfd::open(child.id()).expect("pidfd");
        forwarder.deliver(
            &pidfd,
            Received {
                signal: Signal::TERM,
                to_process_group: false,
            },
        );
        let status = forwarder.wait(&mut child).expect("wait");
        assert_eq!(status.signal(), Some(libc::SIGTERM));
    }
}
