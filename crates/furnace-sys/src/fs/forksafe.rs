//! The fork-safe tier of [`fs`](super): directories, links, status, working directory.
//!
//! Every function here makes system calls only: no allocation, no lock, no panic. They are
//! async-signal-safe, so a child forked from a multi-threaded program may call them before it
//! execs or exits. Errors are the bare [`Errno`].

use std::ffi::CStr;
use std::os::fd::BorrowedFd;

use rustix::fs::{AtFlags, FileType, Mode, Stat};

use crate::error::check;
use crate::Errno;

/// The size of the buffer [`cwd_is_reachable`] gives `getcwd`: `PATH_MAX`, the longest path
/// the kernel returns.
const PATH_MAX: usize = libc::PATH_MAX as usize;

/// `mkdir(path, mode)`: creates a directory (the umask applies to `mode`).
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `mkdir(2)`.
#[inline]
pub fn mkdir(path: &CStr, mode: Mode) -> Result<(), Errno> {
    rustix::fs::mkdir(path, mode)
}

/// `mkdirat(dir, path, mode)`: creates a directory relative to the directory `dir` (the umask
/// applies to `mode`).
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `mkdirat(2)`.
#[inline]
pub fn mkdirat(dir: BorrowedFd<'_>, path: &CStr, mode: Mode) -> Result<(), Errno> {
    rustix::fs::mkdirat(dir, path, mode)
}

/// `symlinkat(target, dir, path)`: creates a symbolic link at `path` (relative to `dir`)
/// pointing to `target`.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `symlinkat(2)`.
#[inline]
pub fn symlinkat(target: &CStr, dir: BorrowedFd<'_>, path: &CStr) -> Result<(), Errno> {
    rustix::fs::symlinkat(target, dir, path)
}

/// `unlinkat(dir, path, flags)`: removes a name (a directory with `AT_REMOVEDIR`).
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `unlinkat(2)`.
#[inline]
pub fn unlinkat(dir: BorrowedFd<'_>, path: &CStr, flags: AtFlags) -> Result<(), Errno> {
    rustix::fs::unlinkat(dir, path, flags)
}

/// `fchownat(dir, path, uid, gid, AT_SYMLINK_NOFOLLOW)`: sets the owner and group of `path`
/// (relative to `dir`) itself, never of what a symlink there points to.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `fchownat(2)`.
#[inline]
pub fn chown_at(dir: BorrowedFd<'_>, path: &CStr, uid: u32, gid: u32) -> Result<(), Errno> {
    // `_unchecked`: no debug assertion that could panic here; the kernel checks the ids.
    let uid = rustix::fs::Uid::from_raw_unchecked(uid);
    let gid = rustix::fs::Gid::from_raw_unchecked(gid);
    rustix::fs::chownat(dir, path, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)
}

/// `chmod(path, mode)`: sets the permission bits of `path` exactly (no umask applies).
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `chmod(2)`.
#[inline]
pub fn chmod(path: &CStr, mode: Mode) -> Result<(), Errno> {
    rustix::fs::chmod(path, mode)
}

/// `fstat(fd)`: the status of the file `fd` refers to (an `O_PATH` fd works).
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `fstat(2)`.
#[inline]
pub fn fstat(fd: BorrowedFd<'_>) -> Result<Stat, Errno> {
    rustix::fs::fstat(fd)
}

/// `fstat(fd)`: the kind of file `fd` refers to (directory, symlink for an `O_PATH |
/// O_NOFOLLOW` fd of one, device, …).
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `fstat(2)`.
#[inline]
pub fn file_type(fd: BorrowedFd<'_>) -> Result<FileType, Errno> {
    fstat(fd).map(|st| FileType::from_raw_mode(st.st_mode))
}

/// `chdir(path)`: changes the working directory.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `chdir(2)`.
#[inline]
pub fn chdir(path: &CStr) -> Result<(), Errno> {
    rustix::process::chdir(path)
}

/// `fchdir(dir)`: makes the directory `dir` the working directory.
///
/// Async-signal-safe: no allocation, no locks.
///
/// See `fchdir(2)`.
#[inline]
pub fn fchdir(dir: BorrowedFd<'_>) -> Result<(), Errno> {
    rustix::process::fchdir(dir)
}

/// `getcwd(buf, PATH_MAX)`: whether the working directory is reachable from the root.
///
/// After a `chdir` through a directory fd of another tree (a host directory leaked into a
/// container), the kernel's `getcwd` prefixes the path with `(unreachable)` instead of `/`:
/// that is how such an escape shows. A deleted working directory (`ENOENT`) is unreachable
/// too.
///
/// A path the kernel cannot return (`ENAMETOOLONG`, or `ERANGE` for one longer than
/// `PATH_MAX`) is an **error**, never `true`: its length says nothing about where it is.
/// Async-signal-safe: no allocation (a `PATH_MAX` buffer on the stack), no locks.
///
/// See `getcwd(2)`.
#[inline]
pub fn cwd_is_reachable() -> Result<bool, Errno> {
    let mut buf = [0u8; PATH_MAX];
    // SAFETY: the kernel writes at most `buf.len()` bytes into our buffer.
    let ret = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    match check(ret) {
        Ok(_) => Ok(buf.first() == Some(&b'/')),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cwd_of_the_test_is_reachable() {
        assert_eq!(cwd_is_reachable(), Ok(true));
    }

    #[test]
    fn file_types_of_fds() {
        use rustix::fs::{OFlags, CWD};
        let open = |path: &CStr| {
            crate::fd::forksafe::open(path, OFlags::PATH | OFlags::NOFOLLOW, Mode::empty()).unwrap()
        };
        use std::os::fd::AsFd;
        assert_eq!(file_type(open(c"/").as_fd()), Ok(FileType::Directory));
        assert_eq!(
            file_type(open(c"/dev/null").as_fd()),
            Ok(FileType::CharacterDevice)
        );
        assert_eq!(
            file_type(open(c"/proc/self").as_fd()),
            Ok(FileType::Symlink)
        );
        assert_eq!(
            mkdirat(CWD, c"/nonexistent/furnace/dir", Mode::empty()),
            Err(Errno::NOENT)
        );
    }
}
