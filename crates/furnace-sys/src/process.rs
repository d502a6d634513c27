//! Process control: creating a child in new namespaces, `prctl(2)` settings, the hostname,
//! pidfds, and what `/proc` shows of a process.
//!
//! The calls for a forked child — [`forksafe::clone3`] itself, the way out
//! ([`forksafe::exit`]), and the settings PID 1 of a container makes — are in [`forksafe`],
//! with a bare errno as their error.

use rustix::process::Signal;

use crate::error::{Error, Result};

pub mod forksafe;
mod pidfd;
mod program;
mod shared;
mod stat;
mod strings;

pub use pidfd::*;
pub use program::*;
pub use shared::*;
pub use stat::*;
pub use strings::*;

/// `sethostname(name, len)`: sets the hostname of the caller's UTS namespace.
///
/// See `sethostname(2)`.
pub fn sethostname(name: &str) -> Result<()> {
    forksafe::sethostname(name.as_bytes()).map_err(|e| Error::new("sethostname", name, e))
}

/// `prctl(PR_SET_PDEATHSIG, signal)`: the signal this process gets when its parent *thread*
/// exits.
///
/// Note that the kernel fires it when the thread that created this process exits, not when the
/// parent process does; a process forked from a short-lived thread dies with that thread.
///
/// See `prctl(2)`.
pub fn set_parent_death_signal(signal: Option<Signal>) -> Result<()> {
    forksafe::set_parent_death_signal(signal)
        .map_err(|e| Error::new("prctl", "PR_SET_PDEATHSIG", e))
}

/// `prctl(PR_SET_CHILD_SUBREAPER, enable)`: orphaned descendants are reparented to this
/// process instead of the pid namespace's init.
///
/// See `prctl(2)`.
pub fn set_child_subreaper(enable: bool) -> Result<()> {
    forksafe::set_child_subreaper(enable)
        .map_err(|e| Error::new("prctl", "PR_SET_CHILD_SUBREAPER", e))
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: execve can no longer grant privileges (set-user-id bits,
/// file capabilities). It cannot be unset.
///
/// See `prctl(2)`.
pub fn set_no_new_privs() -> Result<()> {
    crate::cred::forksafe::no_new_privs().map_err(|e| Error::new("prctl", "PR_SET_NO_NEW_PRIVS", e))
}

/// `prctl(PR_SET_DUMPABLE, dumpable)`: a non-dumpable process cannot be ptraced or have its
/// `/proc` files opened by processes without `CAP_SYS_PTRACE`. `execve` resets it.
///
/// See `prctl(2)`.
pub fn set_dumpable(dumpable: bool) -> Result<()> {
    forksafe::set_dumpable(dumpable).map_err(|e| Error::new("prctl", "PR_SET_DUMPABLE", e))
}

/// A program and its arguments, prepared (allocated) before a fork so that the forked child
/// can [`forksafe::exec`] it without allocating. The environment is empty.
#[derive(Debug)]
pub struct PreparedExec {
    pub(crate) path: std::ffi::CString,
    // Owns the strings `argv` points into.
    _args: Vec<std::ffi::CString>,
    // Null-terminated, pointing into `_args`.
    pub(crate) argv: Vec<*const libc::c_char>,
}

impl PreparedExec {
    /// `path` run with `args` (the first of which is `argv[0]`); `None` when a string holds a
    /// NUL byte.
    ///
    /// No system call.
    pub fn new(path: &std::path::Path, args: &[String]) -> Option<PreparedExec> {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        let args: Vec<std::ffi::CString> = args
            .iter()
            .map(|a| std::ffi::CString::new(a.as_bytes()).ok())
            .collect::<Option<_>>()?;
        let argv = args
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        Some(PreparedExec {
            path,
            _args: args,
            argv,
        })
    }
}
