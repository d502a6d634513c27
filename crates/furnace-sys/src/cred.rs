//! Credentials: user and group ids, capability sets, `no_new_privs`, the session and the
//! session keyring — what a child gives up before it execs a command inside a container.
//!
//! Ordinary code reads and changes capabilities through [`caps`](crate::caps); the calls here
//! are the fork-safe tier, [`forksafe`], for a child between `fork` and `exec`.

pub mod forksafe;

pub use forksafe::AllCapabilitySets;
pub use rustix::process::{Gid, Uid};
pub use rustix::thread::CapabilitySet;
