//! The few system calls xtask makes through `libc`, each behind a safe function. This is the only
//! file of xtask with `unsafe` in it (`cargo xtask tidy` holds it to that): everything else calls
//! these, and std.

use std::ffi::{CStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `LOOP_CLR_FD` from <linux/loop.h>.
const LOOP_CLR_FD: libc::c_ulong = 0x4C01;

/// Turns a `-1` return into the `errno` it left.
fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `geteuid(2)`.
pub fn geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// `mkdtemp(3)`: creates a fresh directory `<prefix>XXXXXX` (mode 0700) and returns its path.
pub fn mkdtemp(prefix: &Path) -> io::Result<PathBuf> {
    let mut template = prefix.as_os_str().as_bytes().to_vec();
    template.extend_from_slice(b"XXXXXX\0");
    // SAFETY: `template` is a writable, NUL-terminated buffer ending in "XXXXXX" that lives across
    // the call; mkdtemp only rewrites the six X's in place.
    let ret = unsafe { libc::mkdtemp(template.as_mut_ptr().cast()) };
    if ret.is_null() {
        return Err(io::Error::last_os_error());
    }
    template.pop(); // the NUL
    Ok(PathBuf::from(OsString::from_vec(template)))
}

/// `flock(2)` with `LOCK_EX | LOCK_NB`: takes an exclusive lock on `file` or fails with
/// `EWOULDBLOCK` at once.
pub fn try_lock_exclusive(file: &File) -> io::Result<()> {
    // SAFETY: flock on a descriptor owned by `file`, which outlives the call.
    check(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) })
}

/// `sigaction(2)`: runs `handler` on `sig`, with `SA_RESTART`. The handler must be
/// async-signal-safe (touch atomics only).
pub fn set_signal_handler(sig: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: `sa` is fully initialised (zeroed, then the handler, flags and an emptied mask are
    // set) before sigaction reads it; `handler` is an `extern "C" fn(c_int)`; the old action is
    // not requested (null).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

/// Makes `cmd`'s child ignore SIGINT, SIGTERM and SIGHUP (`signal(2)` with `SIG_IGN` between
/// fork and exec).
pub fn ignore_terminal_signals(cmd: &mut Command) -> &mut Command {
    // SAFETY: the closure runs in the child between fork and exec and only calls `signal`, which
    // is async-signal-safe; it allocates nothing and touches no lock.
    unsafe {
        cmd.pre_exec(|| {
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(sig, libc::SIG_IGN);
            }
            Ok(())
        })
    }
}

/// `kill(2)` of one process (a pid too large for `pid_t` is `EINVAL`, never a process group).
pub fn kill(pid: u32, sig: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: kill has no memory-safety preconditions; a stale pid only yields ESRCH.
    check(unsafe { libc::kill(pid, sig) })
}

/// `prctl(PR_SET_CHILD_SUBREAPER)`: while on, an orphaned descendant of this process is
/// re-parented to it instead of to PID 1 (see `prctl(2)`).
pub fn set_child_subreaper(on: bool) -> io::Result<()> {
    let on = libc::c_ulong::from(on);
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer and reads no memory of ours.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, on, 0, 0, 0) })
}

/// `waitid(P_ALL, WEXITED | WNOHANG | WNOWAIT)`: the pid of a child (of any thread of this
/// process) that has exited and is not reaped yet, leaving it unreaped.
pub fn exited_child() -> Option<i32> {
    // SAFETY: siginfo_t is plain data for which all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid writes into `info`, a live local of the right type; WNOWAIT leaves the child
    // as it is.
    let rc = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: after a successful waitid, si_pid is set (0 when no child has exited).
    let pid = unsafe { info.si_pid() };
    (rc == 0 && pid > 0).then_some(pid)
}

/// `waitpid(2)` with `WNOHANG`: reaps `pid` if it is a child of ours that has exited. Returns
/// whether it reaped something.
pub fn reap_if_exited(pid: i32) -> bool {
    let mut status = 0;
    // SAFETY: waitpid writes the status into `status`, a live local.
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) == pid }
}

/// `mount(2)`.
pub fn mount(
    source: &CStr,
    target: &CStr,
    fstype: &CStr,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let data = data.map_or(std::ptr::null(), |d| d.as_ptr().cast::<libc::c_void>());
    // SAFETY: source, target and fstype are NUL-terminated strings borrowed for the call; data is
    // either null (no options) or a NUL-terminated option string, as the file systems we mount
    // (ext4, tmpfs) expect.
    check(unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            data,
        )
    })
}

/// `umount2(2)`.
pub fn umount2(target: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: `target` is a NUL-terminated path borrowed for the call.
    check(unsafe { libc::umount2(target.as_ptr(), flags) })
}

/// `ioctl(LOOP_CLR_FD)` (see `loop(4)`): detaches the loop device open as `file`.
pub fn loop_clear_fd(file: &File) -> io::Result<()> {
    // SAFETY: LOOP_CLR_FD takes no argument; the descriptor is owned by `file`, which outlives the
    // call.
    check(unsafe { libc::ioctl(file.as_raw_fd(), LOOP_CLR_FD as _, 0) })
}
