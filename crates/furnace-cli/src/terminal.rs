//! The caller's terminal, which the command uses directly (no pty proxy).
//!
//! The command inherits furnace's stdin, stdout and stderr, so on a terminal it is the
//! caller's own terminal: the window size is the terminal's, and an interactive shell inside
//! makes itself the terminal's foreground process group (job control, Ctrl-C to the inner
//! job). What the command may leave behind is put back by a [`TerminalGuard`]: the terminal
//! attributes (a crashed full-screen program leaves the terminal raw) and the foreground
//! process group (a shell inside that exits, or is killed, while its own group is in the
//! foreground leaves furnace in the background, since it cannot see furnace's group to give
//! the terminal back).

use std::io::{self, IsTerminal};

use rustix::process::Pid;
use rustix::termios::{self, OptionalActions, Termios};

use crate::signals::with_sigttou_blocked;

/// What to restore on stdin's terminal when furnace is done: dropping it restores it.
#[derive(Debug)]
pub struct TerminalGuard {
    attributes: Termios,
    /// furnace's process group, the terminal's foreground group at the start.
    foreground: Pid,
}

impl TerminalGuard {
    /// Saves the terminal state when stdin is a terminal whose foreground process group is
    /// furnace's (furnace started in the background must not touch the terminal later).
    pub fn save() -> Option<Self> {
        let stdin = io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let own_group = rustix::process::getpgrp();
        if termios::tcgetpgrp(&stdin).ok()? != own_group {
            return None;
        }
        Some(Self {
            attributes: termios::tcgetattr(&stdin).ok()?,
            foreground: own_group,
        })
    }

    /// Gives the terminal back to furnace's process group and restores the attributes.
    /// Errors are ignored: there is nobody left to tell (the terminal may be gone).
    fn restore(&self) {
        let stdin = io::stdin();
        with_sigttou_blocked(|| {
            let _ = termios::tcsetpgrp(&stdin, self.foreground);
            let _ = termios::tcsetattr(&stdin, OptionalActions::Now, &self.attributes);
        });
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        self.restore();
    }
}
