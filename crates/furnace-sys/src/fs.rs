//! Files and directories: the calls a forked child makes to build a container's tree and to
//! check where it stands.
//!
//! Ordinary code has `std::fs` for these; this module has only its fork-safe tier,
//! [`forksafe`], whose calls take C strings and directory fds and allocate nothing.

pub mod forksafe;

pub use rustix::fs::{AtFlags, FileType, Mode, Stat};
