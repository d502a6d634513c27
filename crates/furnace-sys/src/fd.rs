//! File descriptors: opening, duplicating, closing, reading, writing and waiting on them.
//!
//! Ordinary code has `std::fs` and rustix for these. What furnace adds is the fork-safe tier
//! in [`forksafe`] — the descriptor work of a forked child, from closing what it inherited to
//! opening paths strictly beneath a new root — and [`dup_above_stdio`] for the parent, which
//! must keep the fds it hands to a child out of the stdio numbers 0–2.

use std::os::fd::{AsFd, OwnedFd};

use crate::error::{Error, Result};

pub mod forksafe;

pub use rustix::event::{PollFd, PollFlags};
pub use rustix::fs::{Mode, OFlags, CWD};

/// One of the three standard descriptors, named rather than numbered.
#[derive(Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub enum StdioFd {
    /// Standard input, fd 0.
    Stdin,
    /// Standard output, fd 1.
    Stdout,
    /// Standard error, fd 2.
    Stderr,
}

impl StdioFd {
    /// The three, in the order of their numbers.
    pub const ALL: [StdioFd; 3] = [StdioFd::Stdin, StdioFd::Stdout, StdioFd::Stderr];

    /// The descriptor's number: 0, 1 or 2.
    ///
    /// No system call.
    pub const fn number(self) -> u32 {
        match self {
            StdioFd::Stdin => 0,
            StdioFd::Stdout => 1,
            StdioFd::Stderr => 2,
        }
    }
}

/// `fcntl(fd, F_GETFD)`: whether the number `fd` is an open fd of this process.
///
/// See `fcntl(2)`.
pub fn is_open(fd: std::os::fd::RawFd) -> bool {
    if fd < 0 {
        return false;
    }
    // SAFETY: the number is borrowed for one fcntl that only reads its flags; one that is not
    // open fails with EBADF.
    rustix::io::fcntl_getfd(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }).is_ok()
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, 3)`: a close-on-exec duplicate of `fd` numbered 3 or above.
///
/// A caller that closed stdin, stdout or stderr gets its next fds on those numbers, where a
/// child's stdio set-up would overwrite them; a duplicate above them is safe from that.
///
/// See `fcntl(2)`.
pub fn dup_above_stdio(fd: impl AsFd) -> Result<OwnedFd> {
    forksafe::dup_above_stdio(fd.as_fd()).map_err(|e| Error::new("fcntl", "F_DUPFD_CLOEXEC 3", e))
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, 3)` when `fd` is 0, 1 or 2: `fd` itself when it is numbered 3 or
/// above already, else a close-on-exec duplicate above stdio (the original is closed).
///
/// See `fcntl(2)`.
pub fn above_stdio(fd: OwnedFd) -> Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    dup_above_stdio(&fd)
}

/// `pipe2(fds, O_CLOEXEC)`: a close-on-exec pipe, `(read end, write end)`, both numbered 3 or
/// above (see [`above_stdio`]).
///
/// See `pipe2(2)`.
pub fn pipe_above_stdio() -> Result<(OwnedFd, OwnedFd)> {
    use rustix::pipe::{pipe_with, PipeFlags};
    let (read, write) =
        pipe_with(PipeFlags::CLOEXEC).map_err(|e| Error::new("pipe2", "O_CLOEXEC", e))?;
    Ok((above_stdio(read)?, above_stdio(write)?))
}

/// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)`: a connected pair of close-on-exec unix
/// sockets that keep message boundaries, both numbered 3 or above (see [`above_stdio`]); for
/// passing fds with [`forksafe::send_fds`] and [`recv_fds`].
///
/// See `socketpair(2)`, `unix(7)`.
pub fn socketpair_above_stdio() -> Result<(OwnedFd, OwnedFd)> {
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    let (a, b) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::new("socketpair", "AF_UNIX SOCK_SEQPACKET", e))?;
    Ok((above_stdio(a)?, above_stdio(b)?))
}

/// `recvmsg(socket, MSG_CMSG_CLOEXEC | MSG_DONTWAIT)`: the fds of one message sent with
/// [`forksafe::send_fds`], close-on-exec, in the order sent; an error when no message is
/// waiting (`EAGAIN`), when the peer is gone without one (`EPIPE`), or when it carried more fds
/// than [`forksafe::MAX_SENT_FDS`] (`EMSGSIZE`, the extra ones closed by the kernel).
///
/// See `recvmsg(2)`, `unix(7)`.
pub fn recv_fds(socket: impl AsFd) -> Result<Vec<OwnedFd>> {
    use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags};
    use std::mem::MaybeUninit;
    let fail = |e| Error::new("recvmsg", "SCM_RIGHTS", e);
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(forksafe::MAX_SENT_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    let got = loop {
        match recvmsg(
            &socket,
            &mut [std::io::IoSliceMut::new(&mut byte)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other.map_err(fail)?,
        }
    };
    if got.bytes == 0 {
        return Err(fail(rustix::io::Errno::PIPE));
    }
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    if got.flags.contains(ReturnFlags::CTRUNC) {
        return Err(fail(rustix::io::Errno::MSGSIZE));
    }
    fds.into_iter().map(above_stdio).collect()
}

/// `socket(AF_UNIX, SOCK_SEQPACKET)`, `bind`, `listen`: a listening unix socket (close-on-exec,
/// numbered 3 or above) bound at `name` in the directory `dir`, reached through `/proc/self/fd/<dir>` so that the length of
/// the directory's path does not count against the 108 bytes of a socket address.
///
/// The socket file is made with the process's umask; whoever may reach the directory may
/// connect, so give it a directory only its owner can enter.
///
/// See `unix(7)`, `bind(2)`, `listen(2)`.
pub fn listen_unix(dir: impl AsFd, name: &str) -> Result<OwnedFd> {
    let fail = |call: &'static str| move |e| Error::new(call, name.to_owned(), e);
    let (socket, address) = unix_socket_at(dir.as_fd(), name)?;
    rustix::net::bind(&socket, &address).map_err(fail("bind"))?;
    rustix::net::listen(&socket, 16).map_err(fail("listen"))?;
    above_stdio(socket)
}

/// A close-on-exec `SOCK_SEQPACKET` unix socket and the address of `name` in `dir`, reached
/// through `/proc/self/fd/<dir>` (for [`listen_unix`] and [`connect_unix`]).
fn unix_socket_at(
    dir: std::os::fd::BorrowedFd<'_>,
    name: &str,
) -> Result<(OwnedFd, rustix::net::SocketAddrUnix)> {
    use rustix::net::{socket_with, AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    use std::os::fd::AsRawFd;
    let fail = |call: &'static str| move |e| Error::new(call, name.to_owned(), e);
    let path = format!("/proc/self/fd/{}/{name}", dir.as_raw_fd());
    let socket = socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(fail("socket"))?;
    let address = SocketAddrUnix::new(path.as_str()).map_err(fail("socket address"))?;
    Ok((socket, address))
}

/// `socket(AF_UNIX, SOCK_SEQPACKET)`, `connect`: connects to the unix socket at `name` in the
/// directory `dir` (see [`listen_unix`]): a close-on-exec socket numbered 3 or above.
///
/// See `unix(7)`, `connect(2)`.
pub fn connect_unix(dir: impl AsFd, name: &str) -> Result<OwnedFd> {
    let fail = |call: &'static str| move |e| Error::new(call, name.to_owned(), e);
    let (socket, address) = unix_socket_at(dir.as_fd(), name)?;
    loop {
        match rustix::net::connect(&socket, &address) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other.map_err(fail("connect"))?,
        }
    }
    above_stdio(socket)
}

/// `timerfd_create(CLOCK_MONOTONIC)`, `timerfd_settime`: a close-on-exec timer fd (numbered 3
/// or above) that polls readable once `after` has passed, for a process that must wait on it without reading a clock itself.
///
/// See `timerfd_create(2)`.
pub fn timer_after(after: std::time::Duration) -> Result<OwnedFd> {
    use rustix::time::{
        timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags,
        TimerfdTimerFlags, Timespec,
    };
    let fail = |call: &'static str| move |e| Error::new(call, format!("{after:?}"), e);
    let timer = timerfd_create(TimerfdClockId::Monotonic, TimerfdFlags::CLOEXEC)
        .map_err(fail("timerfd_create"))?;
    // A zero it_value would disarm the timer: the shortest wait is one nanosecond.
    let value = Timespec {
        tv_sec: i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(after.subsec_nanos()).max(i64::from(after.is_zero())),
    };
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    timerfd_settime(
        &timer,
        TimerfdTimerFlags::empty(),
        &Itimerspec {
            it_interval: zero,
            it_value: value,
        },
    )
    .map_err(fail("timerfd_settime"))?;
    above_stdio(timer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;

    fn inode(fd: &impl AsFd) -> u64 {
        let file = std::fs::File::from(fd.as_fd().try_clone_to_owned().unwrap());
        file.metadata().unwrap().ino()
    }

    #[test]
    fn fds_pass_over_a_socketpair_in_order_and_close_on_exec() {
        let (left, right) = socketpair_above_stdio().unwrap();
        let (read, write) = pipe_above_stdio().unwrap();
        let devnull = std::fs::File::open("/dev/null").unwrap();
        forksafe::send_fds(left.as_fd(), &[read.as_fd(), devnull.as_fd()]).unwrap();
        let got = recv_fds(&right).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(inode(&got[0]), inode(&read));
        assert_eq!(inode(&got[1]), inode(&devnull));
        for fd in &got {
            assert!(fd.as_raw_fd() > 2);
            let flags = rustix::io::fcntl_getfd(fd).unwrap();
            assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
        }
        // Nothing more is waiting; a closed peer without a message is an error too.
        assert!(recv_fds(&right).is_err());
        drop((left, write));
        assert!(recv_fds(&right).is_err());
        let too_many = [devnull.as_fd(); forksafe::MAX_SENT_FDS + 1];
        let (left, _right) = socketpair_above_stdio().unwrap();
        assert_eq!(
            forksafe::send_fds(left.as_fd(), &too_many),
            Err(crate::Errno::INVAL)
        );
    }

    #[test]
    fn fds_pass_over_a_listening_socket_to_its_owner_only() {
        let dir = std::env::temp_dir().join(format!("furnace-sys-unix-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let handle = std::fs::File::open(&dir).unwrap();
        let listener = listen_unix(&handle, "s.sock").unwrap();
        let client = connect_unix(&handle, "s.sock").unwrap();
        let server = forksafe::accept(listener.as_fd()).unwrap();
        assert_eq!(
            forksafe::peer_uid(server.as_fd()),
            Ok(rustix::process::geteuid().as_raw())
        );
        let devnull = std::fs::File::open("/dev/null").unwrap();
        forksafe::send_fds(server.as_fd(), &[devnull.as_fd()]).unwrap();
        assert!(
            forksafe::poll_readable(client.as_fd(), Some(std::time::Duration::from_secs(5)))
                .unwrap()
        );
        let got = recv_fds(&client).unwrap();
        assert_eq!(inode(&got[0]), inode(&devnull));
        drop((listener, client, server));
        std::fs::remove_dir_all(&dir).unwrap();
        // Nothing listens there any more.
        let handle = std::fs::File::open(std::env::temp_dir()).unwrap();
        assert!(connect_unix(&handle, "furnace-no-such.sock").is_err());
    }

    #[test]
    fn a_timer_fires_after_its_time_and_not_before() {
        let timer = timer_after(std::time::Duration::from_millis(50)).unwrap();
        assert!(!forksafe::poll_readable(timer.as_fd(), Some(std::time::Duration::ZERO)).unwrap());
        assert!(
            forksafe::poll_readable(timer.as_fd(), Some(std::time::Duration::from_secs(5)))
                .unwrap()
        );
        let zero = timer_after(std::time::Duration::ZERO).unwrap();
        assert!(
            forksafe::poll_readable(zero.as_fd(), Some(std::time::Duration::from_secs(5))).unwrap()
        );
    }
}
