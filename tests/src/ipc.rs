//! IPC objects the tests make on the host (a SysV shared-memory segment, a POSIX message
//! queue), removed on drop, and the host-side look-ups that say whether one exists.

use std::ffi::CString;

use crate::scratch::unique_name;

/// A SysV shared-memory segment the test made on the host; removed on drop.
#[derive(Debug)]
pub struct HostShm {
    id: libc::c_int,
    /// Its key.
    pub key: libc::key_t,
}

/// A key made of the test's pid and a counter, in `0x46xxxxxx` ("F"), that no segment of the
/// host's IPC namespace uses right now.
pub fn free_shm_key() -> libc::key_t {
    use std::sync::atomic::{AtomicI32, Ordering};
    static NEXT: AtomicI32 = AtomicI32::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let key = 0x4600_0000 | ((std::process::id() as i32 & 0xffff) << 8) | (n & 0xff);
        if !host_shm_exists(key) {
            return key;
        }
    }
}

/// Whether the host's IPC namespace has a segment with `key`.
pub fn host_shm_exists(key: libc::key_t) -> bool {
    // SAFETY: shmget(2) with size 0 and no flags only looks the key up.
    let id = unsafe { libc::shmget(key, 0, 0) };
    if id >= 0 {
        return true;
    }
    let err = std::io::Error::last_os_error();
    assert_eq!(
        err.raw_os_error(),
        Some(libc::ENOENT),
        "shmget({key:#x}) on the host: {err}"
    );
    false
}

impl HostShm {
    /// Creates a fresh 4 KiB segment with a free key.
    pub fn create() -> HostShm {
        loop {
            let key = free_shm_key();
            // SAFETY: shmget(2) creates a fresh 4 KiB segment or fails; no memory is touched.
            let id = unsafe { libc::shmget(key, 4096, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) };
            if id >= 0 {
                return HostShm { id, key };
            }
            let err = std::io::Error::last_os_error();
            assert_eq!(
                err.raw_os_error(),
                Some(libc::EEXIST),
                "shmget({key:#x}, IPC_CREAT) on the host: {err}"
            );
        }
    }
}

impl Drop for HostShm {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID takes no buffer; the segment is the one this guard created.
        if unsafe { libc::shmctl(self.id, libc::IPC_RMID, std::ptr::null_mut()) } != 0 {
            eprintln!(
                "furnace-tests: cannot remove the host segment {}: {}",
                self.id,
                std::io::Error::last_os_error()
            );
        }
    }
}

/// A POSIX message queue the test made on the host; closed and unlinked on drop.
#[derive(Debug)]
pub struct HostMq {
    /// Its name, with the leading `/`.
    pub name: String,
    fd: libc::mqd_t,
}

impl HostMq {
    /// Creates a fresh queue `/furnace-test-mq-*`.
    pub fn create() -> HostMq {
        let name = format!("/{}", unique_name("mq"));
        let c_name = CString::new(name.clone()).expect("no NUL in the name");
        // SAFETY: a NUL-terminated name; O_CREAT takes a mode and an attribute pointer (NULL:
        // the defaults), passed as the variadic arguments.
        let fd = unsafe {
            libc::mq_open(
                c_name.as_ptr(),
                libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                0o600 as libc::mode_t,
                std::ptr::null_mut::<libc::mq_attr>(),
            )
        };
        assert!(
            fd >= 0,
            "mq_open({name}, O_CREAT) on the host: {}",
            std::io::Error::last_os_error()
        );
        HostMq { name, fd }
    }

    /// The name as `/dev/mqueue` lists it.
    pub fn listed_name(&self) -> &str {
        &self.name[1..]
    }
}

impl Drop for HostMq {
    fn drop(&mut self) {
        let c_name = CString::new(self.name.clone()).expect("no NUL in the name");
        // SAFETY: the queue descriptor is ours and closed once; the name is NUL-terminated.
        unsafe {
            libc::mq_close(self.fd);
            libc::mq_unlink(c_name.as_ptr());
        }
    }
}

/// Whether the host's IPC namespace has a message queue `name`.
pub fn host_mq_exists(name: &str) -> bool {
    let c_name = CString::new(name).expect("no NUL in the name");
    // SAFETY: opening an existing queue read-only (no O_CREAT, so no variadic arguments).
    let fd = unsafe { libc::mq_open(c_name.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd >= 0 {
        // SAFETY: the descriptor was just opened here.
        unsafe { libc::mq_close(fd) };
        return true;
    }
    let err = std::io::Error::last_os_error();
    assert_eq!(
        err.raw_os_error(),
        Some(libc::ENOENT),
        "mq_open({name}) on the host: {err}"
    );
    false
}
