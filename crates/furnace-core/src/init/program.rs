//! PID 1 becoming the container's program ([`crate::InitProgram`]) once set up and started.
//!
//! ---------------------------------------------------------------------------------------
//! POST-FORK CODE, as `init.rs`: system calls only, no allocation, no locks, no panics. The
//! starter may be gone by now, so a failure is written as one line on the program's own
//! stderr (the starter's, which the program would have had) before PID 1 exits.
//! ---------------------------------------------------------------------------------------

use std::os::fd::{AsFd, OwnedFd};

use furnace_sys::cred::{forksafe as cred, Gid, Uid};
use furnace_sys::fd::{forksafe as fd, Mode, OFlags, StdioFd};
use furnace_sys::fs::forksafe as fs;
use furnace_sys::process::forksafe as process;
use furnace_sys::pty::forksafe as pty;
use furnace_sys::signal::forksafe as signal;
use furnace_sys::Errno;

use crate::program::PreparedInit;

/// The exit status of a PID 1 that could not become its program: 127 when no path of it
/// could be executed because none exists, 126 when it exists but cannot run (as shells say).
fn status_for(errno: Errno) -> i32 {
    match errno {
        Errno::NOENT | Errno::NOTDIR => 127,
        _ => 126,
    }
}

/// With a terminal: opens one in the container's devpts (set up, before "ready"), gives it to
/// the program's user, sends the master to the parent and returns the terminal side.
pub(super) fn open_terminal(init: &PreparedInit) -> Result<Option<OwnedFd>, Errno> {
    let Some((socket, _)) = &init.terminal else {
        return Ok(None);
    };
    let (master, peer) = pty::open_terminal(c"/dev/pts/ptmx", init.uid, init.gid)?;
    fd::send_fds(socket.as_fd(), &[master.as_fd()])?;
    Ok(Some(peer))
}

/// Waits at the start gate, then becomes the program. Never returns.
pub(super) fn become_program(
    init: &PreparedInit,
    seccomp: Option<&crate::SeccompFilters>,
    terminal: Option<OwnedFd>,
) -> ! {
    if let Some((_, reopen)) = &init.gate {
        if let Err(errno) = pass_gate(reopen) {
            fail(init, b"wait at the start gate", errno);
        }
    }
    match &terminal {
        None => {
            for (from, to) in init.stdio.iter().zip(StdioFd::ALL) {
                if let Err(errno) = fd::dup2_stdio(from.as_fd(), to) {
                    fail(init, b"take the starter's stdio", errno);
                }
            }
        }
        Some(peer) => {
            for to in StdioFd::ALL {
                if let Err(errno) = fd::dup2_stdio(peer.as_fd(), to) {
                    fail(init, b"take the terminal as stdio", errno);
                }
            }
            let controlling = cred::new_session().and_then(|_| pty::make_controlling(peer.as_fd()));
            if let Err(errno) = controlling {
                fail(init, b"make the terminal the controlling one", errno);
            }
        }
    }
    if let Err((what, errno)) = prepare(init, seccomp) {
        fail(init, what, errno);
    }
    let errno = process::exec_program(&init.program);
    fail(init, b"execute the program", errno)
}

/// Opens the gate for writing (blocking until a reader comes) and writes one byte.
fn pass_gate(reopen: &std::ffi::CStr) -> Result<(), Errno> {
    let gate = fd::open(reopen, OFlags::WRONLY, Mode::empty())?;
    fd::write_all(gate.as_fd(), b"0")
}

/// Signals, umask, directory, limits, identity and capabilities, `no_new_privs`, seccomp; the
/// step's name with the errno on failure.
fn prepare(
    init: &PreparedInit,
    seccomp: Option<&crate::SeccompFilters>,
) -> Result<(), (&'static [u8], Errno)> {
    let at = |what: &'static [u8]| move |errno: Errno| (what, errno);
    // PID 1 ignored SIGCHLD (the kernel reaped orphans): an ignored signal stays ignored
    // across execve, and a program that waits for its children must get them back.
    signal::reset_signals().map_err(at(b"reset the signals"))?;
    if let Some(mask) = init.umask {
        process::umask(Mode::from_bits_truncate(mask));
    }
    fs::chdir(&init.cwd).map_err(at(b"change to the working directory"))?;
    for &(resource, soft, hard) in &init.rlimits {
        process::set_rlimit(resource, soft, hard).map_err(at(b"set a resource limit"))?;
    }
    if let Some(adj) = init.oom_score_adj {
        process::set_oom_score_adj(adj).map_err(at(b"set oom_score_adj"))?;
    }
    // Without no_new_privs the kernel attaches a filter only for CAP_SYS_ADMIN: while every
    // capability is still there.
    if !init.no_new_privileges {
        attach(seccomp).map_err(at(b"attach the seccomp filter"))?;
    }
    let (uid, gid) = (Uid::from_raw(init.uid), Gid::from_raw(init.gid));
    match &init.capabilities {
        Some(sets) => {
            cred::set_identity_and_capabilities(Some(uid), Some(gid), Some(&init.groups), sets)
                .map_err(at(b"take on the user and capabilities"))?
        }
        None => cred::set_identity(Some(uid), Some(gid), Some(&init.groups), false)
            .map_err(at(b"take on the user"))?,
    }
    if init.no_new_privileges {
        cred::no_new_privs().map_err(at(b"set no_new_privs"))?;
        attach(seccomp).map_err(at(b"attach the seccomp filter"))?;
    }
    // Nothing of PID 1's reaches the program but stdio and the preserved fds.
    fd::set_inheritable_range(3, init.preserve_fds).map_err(at(b"keep the preserved fds"))?;
    fd::close_range_cloexec(3 + init.preserve_fds, u32::MAX).map_err(at(b"close PID 1's files"))?;
    Ok(())
}

fn attach(seccomp: Option<&crate::SeccompFilters>) -> Result<(), Errno> {
    match seccomp {
        Some(filters) => filters.apply(),
        None => Ok(()),
    }
}

/// Writes `furnace: init program: WHAT: ERRNO` on stderr and exits with 126 or 127.
fn fail(init: &PreparedInit, what: &[u8], errno: Errno) -> ! {
    // Before the stdio was taken over, stderr is /dev/null: write on the starter's copy. With
    // a terminal there is none; once it is stderr, the message goes there.
    let [_, _, err] = &init.stdio;
    let out = match init.terminal {
        None => err.as_fd(),
        Some(_) => super::stdio(StdioFd::Stderr),
    };
    let name = furnace_sys::errno_name(errno.raw_os_error()).unwrap_or("error");
    for piece in [
        b"furnace: init program: " as &[u8],
        what,
        b": ",
        name.as_bytes(),
        b"\n",
    ] {
        let _ = fd::write_all(out, piece);
    }
    process::exit(status_for(errno))
}
