//! The fork-safe tier of [`process`](super): forking into new namespaces, leaving, and the
//! process settings a forked child makes.
//!
//! Every function here makes system calls only: no allocation, no lock, no panic. They are
//! async-signal-safe, so a child forked from a multi-threaded program may call them before it
//! execs or exits. Errors are the bare [`Errno`].

use std::ffi::CStr;
use std::os::fd::{FromRawFd, OwnedFd};

use rustix::fs::Mode;
use rustix::process::Signal;

use crate::error::check;
use crate::ns::Namespaces;
use crate::Errno;

/// What [`clone3`] returned.
#[derive(Debug)]
pub enum Forked {
    /// In the parent: the child's pid (in the parent's pid namespace) and its pidfd.
    Parent {
        /// The child's pid as the parent sees it.
        pid: u32,
        /// A close-on-exec pidfd of the child.
        pidfd: OwnedFd,
    },
    /// In the child.
    Child,
}

/// `clone3({CLONE_PIDFD | CLONE_CLEAR_SIGHAND | namespaces, exit_signal = SIGCHLD})`: `fork`
/// into new `namespaces`, returning a pidfd of the child.
///
/// The child gets `SIGCHLD` as its exit signal, so the parent can wait for it like any child.
/// Every signal the parent handles is back to its default action in the child (ignored ones
/// stay ignored): no handler of the parent's code can run in the copy.
/// The call itself is async-signal-safe: no allocation, no locks.
///
/// # Safety
///
/// The same as for `fork(2)` in a multi-threaded program: the child is a copy of the calling
/// thread only, and until it execs or exits (with [`exit`], never by returning into code that
/// unwinds or runs destructors), it may call only async-signal-safe functions — no allocation,
/// no locks, no `println!`. Atfork handlers are not run, so not even the C library's own
/// locks are reset in the child.
///
/// See `clone3(2)`.
#[inline]
pub unsafe fn clone3(namespaces: Namespaces) -> Result<Forked, Errno> {
    /// `CLONE_CLEAR_SIGHAND` (Linux 5.5): not in the libc crate.
    const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    let mut pidfd: libc::c_int = -1;
    let args = CloneArgs {
        flags: u64::from(namespaces.bits()) | libc::CLONE_PIDFD as u64 | CLONE_CLEAR_SIGHAND,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a valid clone_args of the size we pass; with no CLONE_VM and no stack
    // the kernel duplicates the address space like fork, so both sides return here on their
    // own copy of the stack. The caller upholds the post-fork restrictions.
    let ret = check(unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    })?;
    if ret == 0 {
        Ok(Forked::Child)
    } else {
        // SAFETY: with CLONE_PIDFD the kernel stored a new, close-on-exec pidfd that nothing
        // else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        Ok(Forked::Parent {
            pid: ret as u32,
            pidfd,
        })
    }
}

/// `_exit(code)`: ends the calling process at once — no destructors, no atexit handlers, no
/// stdio flushing.
///
/// The only correct way out of a forked child. Async-signal-safe: no allocation, no locks.
///
/// See `_exit(2)`.
#[inline]
#[doc(alias = "_exit")]
pub fn exit(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}

/// `prctl(PR_SET_PDEATHSIG, signal)`: the signal this process gets when its parent *thread*
/// exits (`None`: none).
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `prctl(2)`.
#[inline]
pub fn set_parent_death_signal(signal: Option<Signal>) -> Result<(), Errno> {
    rustix::process::set_parent_process_death_signal(signal)
}

/// `prctl(PR_SET_CHILD_SUBREAPER, enable)`: orphaned descendants are reparented to this
/// process instead of the pid namespace's init.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `prctl(2)`.
#[inline]
pub fn set_child_subreaper(enable: bool) -> Result<(), Errno> {
    let me = enable.then(rustix::process::getpid);
    rustix::process::set_child_subreaper(me)
}

/// `prctl(PR_SET_DUMPABLE, dumpable)`: a non-dumpable process cannot be ptraced or have its
/// `/proc` files opened by processes without `CAP_SYS_PTRACE`; `execve` resets it.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `prctl(2)`.
#[inline]
pub fn set_dumpable(dumpable: bool) -> Result<(), Errno> {
    use rustix::process::DumpableBehavior;
    rustix::process::set_dumpable_behavior(if dumpable {
        DumpableBehavior::Dumpable
    } else {
        DumpableBehavior::NotDumpable
    })
}

/// `prctl(PR_SET_NAME, name)`: the name of the calling thread, as `ps` and
/// `/proc/<pid>/comm` show it (truncated to 15 bytes).
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `prctl(2)`.
#[inline]
pub fn set_name(name: &CStr) -> Result<(), Errno> {
    rustix::thread::set_name(name)
}

/// `umask(mask)`: sets the file mode creation mask and returns the previous one; `0` makes
/// every later `mkdir` and `mknod` mode exact.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `umask(2)`.
#[inline]
pub fn umask(mask: Mode) -> Mode {
    rustix::process::umask(mask)
}

/// `sethostname(name, len)`: sets the hostname of the caller's UTS namespace.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `sethostname(2)`.
#[inline]
pub fn sethostname(name: &[u8]) -> Result<(), Errno> {
    rustix::system::sethostname(name)
}

/// `execve(path, argv, [])`: replaces the process with the prepared program, with an empty
/// environment. Returns only on failure, with the errno. Async-signal-safe: no allocation, no
/// locks.
///
/// See `execve(2)`.
#[inline]
pub fn exec(program: &super::PreparedExec) -> Errno {
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    // SAFETY: `path` is a C string; `argv` is a null-terminated array of pointers into C
    // strings owned by `program`, which outlives the call; `envp` is a null-terminated array.
    // On success the call does not return.
    unsafe { libc::execve(program.path.as_ptr(), program.argv.as_ptr(), envp.as_ptr()) };
    crate::error::last_errno()
}

/// `execve(path, argv, envp)` for each of the program's paths in turn
/// ([`PreparedProgram`](super::PreparedProgram)): replaces the process with the first that
/// can be executed. Returns only when none could, with the errno `execvp(3)` would give:
/// `EACCES` if any path was refused for permission, else the last path's. Async-signal-safe:
/// no allocation, no locks.
///
/// See `execve(2)`.
#[inline]
pub fn exec_program(program: &super::PreparedProgram) -> Errno {
    let mut refused = false;
    let mut last = Errno::NOENT;
    for path in program.candidate_paths() {
        // SAFETY: `path` is a C string; `argv` and `envp` are null-terminated arrays of
        // pointers into C strings owned by `program`, which outlives the call. On success the
        // call does not return.
        unsafe { libc::execve(path.as_ptr(), program.argv.as_ptr(), program.envp.as_ptr()) };
        last = crate::error::last_errno();
        match last {
            Errno::ACCESS => refused = true,
            // Not this one: try the next directory, as execvp does.
            Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::NAMETOOLONG => {}
            // Found, but it cannot run (ENOEXEC, ETXTBSY, E2BIG, ENOMEM, ...): stop here.
            _ => return last,
        }
    }
    if refused {
        Errno::ACCESS
    } else {
        last
    }
}

/// `setrlimit(resource, {soft, hard})`: one resource limit of the calling process
/// (`resource` as in `<sys/resource.h>`, `RLIMIT_NOFILE` and so on).
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `setrlimit(2)`.
#[inline]
pub fn set_rlimit(resource: u32, soft: u64, hard: u64) -> Result<(), Errno> {
    let limit = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `limit` is a valid rlimit64 for the duration of the call.
    let rc = unsafe { libc::setrlimit64(resource as _, &limit) };
    if rc == 0 {
        Ok(())
    } else {
        Err(crate::error::last_errno())
    }
}

/// `open("/proc/self/oom_score_adj", O_WRONLY)` and `write(value)`: how much the OOM killer
/// prefers this process (-1000 never, 1000 first). Lowering it needs `CAP_SYS_RESOURCE`.
/// Async-signal-safe: no allocation, no locks.
///
/// See `proc_pid_oom_score_adj(5)`.
#[inline]
pub fn set_oom_score_adj(value: i32) -> Result<(), Errno> {
    let mut text = [0u8; 12];
    let len = decimal(value, &mut text);
    let file = crate::fd::forksafe::open(
        c"/proc/self/oom_score_adj",
        rustix::fs::OFlags::WRONLY,
        rustix::fs::Mode::empty(),
    )?;
    crate::fd::forksafe::write_all(
        std::os::fd::AsFd::as_fd(&file),
        text.get(..len).unwrap_or(&[]),
    )
}

/// Writes `value` in decimal into `out` (12 bytes hold any `i32`); returns the length.
fn decimal(value: i32, out: &mut [u8; 12]) -> usize {
    let mut digits = [0u8; 11];
    let mut n = value.unsigned_abs();
    let mut count = 0;
    loop {
        if let Some(d) = digits.get_mut(count) {
            *d = b'0' + (n % 10) as u8;
        }
        count += 1;
        n /= 10;
        if n == 0 || count == digits.len() {
            break;
        }
    }
    let mut len = 0;
    if value < 0 {
        if let Some(o) = out.get_mut(0) {
            *o = b'-';
        }
        len = 1;
    }
    for i in (0..count).rev() {
        if let (Some(o), Some(d)) = (out.get_mut(len), digits.get(i)) {
            *o = *d;
        }
        len += 1;
    }
    len
}

#[cfg(test)]
mod decimal_tests {
    #[test]
    fn decimals() {
        for v in [0, 7, -1, 1000, -1000, i32::MAX, i32::MIN] {
            let mut out = [0u8; 12];
            let len = super::decimal(v, &mut out);
            assert_eq!(std::str::from_utf8(&out[..len]).unwrap(), v.to_string());
        }
    }
}
