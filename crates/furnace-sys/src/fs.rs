//! Files and directories: the calls a forked child makes to build a container's tree and to
//! check where it stands.
//!
//! Ordinary code has `std::fs` for these; this module has only its fork-safe tier,
//! [`forksafe`], whose calls take C strings and directory fds and allocate nothing.

pub mod forksafe;

pub use rustix::fs::{AtFlags, FileType, Mode, Stat};

/// `open(path)`, then `read(2)` a page at a time: a small text file whose size the kernel
/// reports as 0 (`/proc`, `/sys`). `std::fs::read_to_string` starts with a 32-byte probe and
/// grows from there, six `read` calls for a `/proc/<pid>/stat` where this makes two.
///
/// ```
/// let stat = furnace_sys::fs::read_small_text("/proc/self/stat")?;
/// assert!(stat.contains(')'));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_small_text(path: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::with_capacity(4096);
    std::fs::File::open(path)?.read_to_string(&mut text)?;
    Ok(text)
}
