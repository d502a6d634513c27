//! The fork-safe tier of [`seccomp`](super): attaching a filter between `fork` and `exec`.
//!
//! Every function here makes system calls only: no allocation, no lock, no panic. Errors are
//! the bare [`Errno`].

use super::Instruction;
use crate::error::last_errno;
use crate::Errno;

/// `seccomp(SECCOMP_SET_MODE_FILTER, 0, {program})`: attaches `program` to the calling
/// thread, on top of any filter attached before (the kernel runs them all and keeps the most
/// restrictive answer); it is inherited through `fork`, `clone` and `execve` and can never be
/// removed. The kernel demands `no_new_privs` or `CAP_SYS_ADMIN` (`EACCES` otherwise); this
/// call sets neither. Async-signal-safe: no allocation, no locks.
///
/// See `seccomp(2)`.
#[inline]
pub fn attach_filter(program: &[Instruction]) -> Result<(), Errno> {
    let len = u16::try_from(program.len()).map_err(|_| Errno::INVAL)?;
    let prog = libc::sock_fprog {
        len,
        // `Instruction` is `#[repr(C)]` with sock_filter's fields in its order (same size and
        // alignment, checked at compile time in `seccomp.rs`), so the array is one of
        // sock_filter.
        filter: program.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: `prog` points at `len` valid instructions that outlive the call; the kernel only
    // reads them (and copies the program).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    if ret != 0 {
        return Err(last_errno());
    }
    Ok(())
}
