//! Safe, typed wrappers for the Linux calls a container runtime makes.
//!
//! `furnace-sys` is the bottom layer of [furnace](https://example.invalid/furnace): namespaces
//! ([`ns`]), mounts ([`mount`], [`mountinfo`]), device nodes ([`dev`]), process control
//! ([`process`]), capabilities ([`caps`]), and the allocation-free primitives that code running
//! between `fork` and `exec` needs ([`raw`]). Everything else in furnace is built on it, and it
//! depends on nothing of furnace, so tooling of your own can use it alone.
//!
//! Fds come in as [`BorrowedFd`](std::os::fd::BorrowedFd) and go out as
//! [`OwnedFd`](std::os::fd::OwnedFd), close-on-exec. Errors are one type, [`Error`], whose
//! message names the call, its arguments and the errno:
//!
//! ```
//! use furnace_sys::mount::{mount, MountFlags};
//! let err = mount(Some("tmpfs"), "/nonexistent/dir", "tmpfs", MountFlags::NOSUID, None).unwrap_err();
//! assert!(err.to_string().starts_with("mount tmpfs on /nonexistent/dir (type tmpfs, nosuid): E"));
//! ```
//!
//! Most calls go through [rustix](https://docs.rs/rustix); `libc` is used only for what rustix
//! leaves out (`clone3`, `close_range`, `mount_setattr`, signal dispositions), inside small
//! functions with a `// SAFETY:` comment each.
#![warn(missing_docs)]

pub mod caps;
pub mod dev;
mod error;
pub mod mount;
pub mod mountinfo;
pub mod ns;
pub mod process;
pub mod raw;

pub use error::{errno_name, DisplayErrno, DisplayPath, Errno, Error, Result};
pub use ns::{setns_pidfd, unshare, Namespace, Namespaces, NsFd};
pub use process::{ExitKind, Pidfd};
pub use rustix::process::Signal;
