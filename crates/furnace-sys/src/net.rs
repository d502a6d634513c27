//! Network interfaces: what a new network namespace needs before anything runs in it.

use crate::error::{Error, Result};

pub mod forksafe;

/// `ioctl(sock, SIOCSIFFLAGS, {"lo", flags | IFF_UP})`: brings the loopback interface `lo` of
/// the current network namespace up.
///
/// A new network namespace starts with `lo` down, so that even `127.0.0.1` is unreachable.
///
/// See `netdevice(7)`.
pub fn loopback_up() -> Result<()> {
    forksafe::loopback_up().map_err(|e| Error::new("ioctl", "SIOCSIFFLAGS lo up", e))
}
