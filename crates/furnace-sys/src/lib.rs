//! Safe, typed wrappers for the Linux calls a container runtime makes.
//!
//! `furnace-sys` is the bottom layer of furnace (the `furnace-core` crate). One module
//! per kernel area: namespaces ([`ns`]), mounts ([`mount`], [`mountinfo`]), device nodes
//! ([`dev`]), processes ([`process`]), file descriptors ([`fd`]) and files ([`fs`]), signals
//! ([`signal`]), network interfaces ([`net`]), credentials ([`cred`]), capabilities ([`caps`]),
//! user namespaces ([`userns`]), control groups ([`cgroup`]) and their eBPF device filters
//! ([`bpf`]). Everything else in furnace is
//! built on it, and it depends on nothing of furnace, so tooling of your own can use it alone.
//!
//! # Two tiers
//!
//! Each subsystem module offers its calls in two tiers:
//!
//! - **The path-friendly tier**, at the top of the module — [`mount::bind`],
//!   [`mount::umount2`], [`unshare`], [`process::sethostname`]: paths as `impl AsRef<Path>`,
//!   strings as `&str`, and an [`Error`] whose message names the call, its arguments and the
//!   errno, and which keeps the path it failed on. These allocate (a C copy of each path, the
//!   message), so they are for ordinary code.
//! - **The fork-safe tier**, in the module's `forksafe` child — [`mount::forksafe::bind`],
//!   [`mount::forksafe::move_mount`], [`fd::forksafe::dup_above_stdio`],
//!   [`process::forksafe::clone3`]: for code between `fork` and `exec`, or in a forked PID 1
//!   that never execs. After a multi-threaded program forks, the child may only call
//!   async-signal-safe functions, since another thread may have held the allocator's lock at
//!   the moment of the fork. Every function there is async-signal-safe: it makes system calls
//!   only, allocates nothing and takes no lock. Paths come in as `&CStr` built beforehand, fds
//!   as [`BorrowedFd`](std::os::fd::BorrowedFd), and errors go out as the bare [`Errno`]; the
//!   caller maps them to a step of its plan.
//!
//! The path-friendly functions are thin layers over the fork-safe ones, so both tiers make the
//! same calls with the same flags. A few modules have only one tier: [`fs`] and [`cred`] only
//! the fork-safe one (ordinary code has `std::fs`, and [`caps`] for capabilities), and
//! [`mountinfo`] and [`caps`] only the path-friendly one (they parse files and build sets).
//!
//! Fds come in as [`BorrowedFd`](std::os::fd::BorrowedFd) and go out as
//! [`OwnedFd`](std::os::fd::OwnedFd), close-on-exec. Errors of the path-friendly tier are one
//! type, [`Error`]:
//!
//! ```
//! use furnace_sys::mount::{mount, MountFlags};
//! let err = mount(Some("tmpfs"), "/nonexistent/dir", "tmpfs", MountFlags::NOSUID, None).unwrap_err();
//! assert!(err.to_string().starts_with("mount tmpfs on /nonexistent/dir (type tmpfs, nosuid): E"));
//! ```
//!
//! Most calls go through [rustix](https://docs.rs/rustix); `libc` is used only for what rustix
//! leaves out (`clone3`, `_exit`, `close_range`, `mount_setattr`, signal dispositions and
//! masks, `keyctl`, interface flags), inside small functions with a `// SAFETY:` comment each.
#![warn(missing_docs)]

pub mod bpf;
pub mod caps;
pub mod cgroup;
pub mod cred;
pub mod dev;
mod error;
pub mod fd;
pub mod fs;
pub mod idmap;
pub mod mount;
pub mod mountinfo;
pub mod net;
pub mod ns;
pub mod process;
pub mod pty;
pub mod seccomp;
pub mod signal;
pub mod userns;

pub use error::{errno_name, DisplayErrno, DisplayPath, Errno, Error, Result};
pub use ns::{setns_pidfd, unshare, Namespace, Namespaces, NsFd};
pub use process::{ExitKind, Pidfd};
pub use rustix::process::Signal;
