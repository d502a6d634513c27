//! The fork-safe tier of [`net`](super).
//!
//! Every function here makes system calls only: no allocation, no lock, no panic. They are
//! async-signal-safe, so a child forked from a multi-threaded program may call them before it
//! execs or exits. Errors are the bare [`Errno`].

use std::os::fd::AsRawFd;

use crate::error::check;
use crate::Errno;

/// `ioctl(sock, SIOCGIFFLAGS)`, then `ioctl(sock, SIOCSIFFLAGS, flags | IFF_UP)` on `lo`: brings
/// the loopback interface of the current network namespace up.
///
/// Async-signal-safe: no allocation (the request lives on the stack), no locks.
///
/// See `netdevice(7)`.
#[inline]
pub fn loopback_up() -> Result<(), Errno> {
    let sock = rustix::net::socket_with(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?;
    // SAFETY: an all-zero ifreq is valid; the name is copied within its 16 bytes.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads into the ifreq we own, on a socket we own.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } as libc::c_long)?;
    // SAFETY: the flags member of the union is the one SIOCGIFFLAGS filled in.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads the ifreq we own.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } as libc::c_long)
        .map(drop)
}
