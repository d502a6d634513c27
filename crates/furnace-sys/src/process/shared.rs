//! A word of memory a process shares with the children it forks.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::Error;

/// A `u32` in an anonymous shared mapping (`MAP_SHARED | MAP_ANONYMOUS`). A child made after
/// it by `fork` or by `clone3` without `CLONE_VM` sees the same word as its parent, so the
/// child can record its progress without a system call and the parent can read the last
/// value at any time, also after the child was killed.
///
/// ```
/// use furnace_sys::process::SharedU32;
///
/// let step = SharedU32::new(0)?;
/// step.store(3);
/// assert_eq!(step.load(), 3);
/// # Ok::<(), furnace_sys::Error>(())
/// ```
pub struct SharedU32 {
    cell: NonNull<AtomicU32>,
}

// SAFETY: the mapping is owned by this value alone and is only accessed through an atomic.
unsafe impl Send for SharedU32 {}
// SAFETY: as above; `AtomicU32` is `Sync`.
unsafe impl Sync for SharedU32 {}

impl SharedU32 {
    /// `mmap(NULL, 4, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0)`: one shared page
    /// holding `value`.
    ///
    /// See `mmap(2)`.
    pub fn new(value: u32) -> Result<SharedU32, Error> {
        // SAFETY: an anonymous mapping at an address of the kernel's choice touches no
        // existing memory; the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                std::mem::size_of::<AtomicU32>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::new(
                "mmap",
                "MAP_SHARED|MAP_ANONYMOUS",
                crate::error::last_errno(),
            ));
        }
        let cell = NonNull::new(ptr.cast::<AtomicU32>())
            .ok_or_else(|| Error::new("mmap", "MAP_SHARED|MAP_ANONYMOUS", crate::Errno::NOMEM))?;
        let shared = SharedU32 { cell };
        shared.store(value);
        Ok(shared)
    }

    fn cell(&self) -> &AtomicU32 {
        // SAFETY: the mapping is page-aligned, zero-filled (a valid `AtomicU32`), and lives
        // until `drop`, which needs `&mut self`.
        unsafe { self.cell.as_ref() }
    }

    /// Stores `value`: async-signal-safe, usable in a forked child.
    ///
    /// No system call.
    pub fn store(&self, value: u32) {
        self.cell().store(value, Ordering::Release);
    }

    /// The last value stored by this process or any process sharing the page.
    ///
    /// No system call.
    pub fn load(&self) -> u32 {
        self.cell().load(Ordering::Acquire)
    }
}

impl Drop for SharedU32 {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `new` with this length and is unmapped once.
        unsafe { libc::munmap(self.cell.as_ptr().cast(), std::mem::size_of::<AtomicU32>()) };
    }
}

impl std::fmt::Debug for SharedU32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedU32").field(&self.load()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forked_child_stores_what_the_parent_reads() {
        let shared = SharedU32::new(1).unwrap();
        // SAFETY: the child only stores to the shared word and leaves through `_exit`.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            shared.store(42);
            // SAFETY: `_exit` ends the child without running the parent's destructors.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert_eq!(shared.load(), 42);
    }
}
