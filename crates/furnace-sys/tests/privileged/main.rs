//! Privileged tests of `furnace-sys`: they really call the kernel, and need root.
//!
//! Every test runs its body in a forked child (see [`harness::in_child`]) that first moves
//! into a private mount namespace of its own and mounts a scratch tmpfs over an empty
//! directory of the host's temp dir. Whatever the body mounts, unmounts or pivots therefore
//! happens in that namespace only, and vanishes with the child: the host's mount table is
//! never touched, and nothing is written to the host's filesystem but the empty scratch
//! directory, which the parent removes. The parent checks both after each child.
//!
//! One test binary, one module per subject of the crate; the harness and the helpers the
//! bodies share are in [`harness`].
//!
//! These tests do not skip: run by a user other than root they fail, saying so.

mod harness;

mod caps;
mod cgroup;
mod dev;
mod errors;
mod fd;
mod mount;
mod mount_api;
mod net;
mod ns;
mod process;
mod userns;
