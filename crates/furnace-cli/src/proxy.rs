//! A pseudo-terminal of the container's own between the user's terminal and an interactive
//! command (`furnace shell`, `furnace run -t`).
//!
//! The command runs on a terminal of the container's devpts ([`Container::open_pty`]), as the
//! controlling terminal of a session of its own, so its shell has job control in every
//! profile. furnace puts the user's terminal in raw mode and copies bytes both ways: `Ctrl-C`,
//! `Ctrl-Z` and `Ctrl-\` are bytes to the container's terminal, which turns them into signals
//! for the container's foreground job — never furnace's own, so a stopped job inside never
//! leaves the container reading the user's terminal, and furnace is never stopped. The window
//! size is copied at the start and at every `SIGWINCH`. The container never holds a file
//! descriptor of the user's terminal, so `TIOCSTI` inside cannot reach the user's session.
//! The terminal's attributes are restored by the caller's [`TerminalGuard`], whatever ends
//! the command.
//!
//! [`TerminalGuard`]: crate::terminal::TerminalGuard

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::ExitStatus;
use std::time::Duration;

use furnace_core::{Command, Container};
use furnace_sys::{Errno, Pidfd, Signal};
use rustix::event::{poll, PollFd, PollFlags};
use rustix::termios::{self, OptionalActions};

use crate::exit::Failure;
use crate::forward::Forwarder;

/// Runs `command` on a new terminal of `container`, proxied to this process's stdin and
/// stdout (a terminal), and returns its status.
pub fn run(
    container: &Container,
    mut command: Command<'_>,
    forwarder: &mut Forwarder,
) -> Result<ExitStatus, Failure> {
    let pty = container.open_pty().map_err(Failure::furnace)?;
    let stdin = io::stdin();
    if let Ok((rows, columns)) = furnace_sys::pty::window_size(&stdin) {
        let _ = furnace_sys::pty::set_window_size(&pty.master, rows, columns);
    }
    command
        .terminal(&pty)
        .map_err(|e| Failure::furnace(format_args!("use the container's terminal: {e}")))?;
    let mut child = command.spawn().map_err(|e| Failure::spawn(&e))?;
    // The command has its copies; ours would keep the terminal open after it ends.
    drop(pty.peer);
    let raw = make_raw(stdin.as_fd());
    let status = forwarder
        .proxy(&mut child, &pty.master)
        .map_err(|e| Failure::furnace(format_args!("wait for the command: {e}")));
    drop(raw);
    status
}

/// The terminal's attributes before [`make_raw`]; dropping it puts them back.
struct Cooked<'a> {
    terminal: BorrowedFd<'a>,
    saved: Option<termios::Termios>,
}

impl Drop for Cooked<'_> {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(self.terminal, OptionalActions::Now, saved);
        }
    }
}

/// Puts the terminal in raw mode: no echo, no line editing, no signals from keys — every byte
/// goes to the container's terminal, which does all that itself.
fn make_raw(terminal: BorrowedFd<'_>) -> Cooked<'_> {
    let saved = termios::tcgetattr(terminal).ok();
    if let Some(saved) = &saved {
        let mut raw = saved.clone();
        raw.make_raw();
        let _ = termios::tcsetattr(terminal, OptionalActions::Now, &raw);
    }
    Cooked { terminal, saved }
}

impl Forwarder {
    /// Copies stdin to `master` and `master` to stdout until `child` exits, forwarding caught
    /// signals to it (each one: the command is in a session of its own, so none reached it
    /// from the user's terminal) and following window-size changes.
    pub fn proxy(
        &mut self,
        child: &mut std::process::Child,
        master: &OwnedFd,
    ) -> io::Result<ExitStatus> {
        let pidfd = Pidfd::open(child.id())?;
        let stdin = io::stdin();
        let mut stdout = io::stdout().lock();
        let mut stdin_open = true;
        let mut to_master = std::fs::File::from(master.try_clone()?);
        let mut buf = [0u8; 16 * 1024];
        loop {
            let mut fds = vec![
                PollFd::new(self.pipe.reader(), PollFlags::IN),
                PollFd::new(&pidfd, PollFlags::IN),
                PollFd::new(master, PollFlags::IN),
            ];
            if stdin_open {
                fds.push(PollFd::new(&stdin, PollFlags::IN));
            }
            match poll(&mut fds, None) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
            drop(fds);
            if ready[0] {
                while let Some(received) = self.pipe.next(Some(Duration::ZERO)) {
                    if received.signal == Signal::WINCH {
                        if let Ok((rows, columns)) = furnace_sys::pty::window_size(&stdin) {
                            let _ = furnace_sys::pty::set_window_size(master, rows, columns);
                        }
                    } else if received.signal != Signal::CHILD {
                        self.deliver_to_session(&pidfd, received);
                    }
                }
            }
            if ready[2] && !copy(master, &mut stdout, &mut buf)? {
                // The terminal's last holder closed it: the command is ending.
                return child.wait();
            }
            if stdin_open && ready.get(3) == Some(&true) {
                stdin_open = copy(stdin.as_fd(), &mut to_master, &mut buf)?;
            }
            if ready[1] {
                // What the command wrote last may still be in the terminal.
                while furnace_sys::fd::forksafe::poll_readable(master.as_fd(), Some(Duration::ZERO))
                    .unwrap_or(false)
                    && copy(master, &mut stdout, &mut buf)?
                {}
                return child.wait();
            }
        }
    }
}

/// One read from `from`, written whole to `to`; `false` at end of file (or `EIO`, what a
/// terminal's master reads once no one holds the other side).
fn copy(from: impl AsFd, to: &mut impl Write, buf: &mut [u8]) -> io::Result<bool> {
    match rustix::io::read(&from, &mut *buf) {
        Ok(0) | Err(Errno::IO) => Ok(false),
        Ok(n) => {
            to.write_all(&buf[..n])?;
            to.flush()?;
            Ok(true)
        }
        Err(Errno::INTR | Errno::AGAIN) => Ok(true),
        Err(e) => Err(e.into()),
    }
}
