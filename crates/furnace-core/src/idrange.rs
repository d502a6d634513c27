//! A range of 65,536 host user and group ids for a container's own user namespace: picked
//! from a pool that nothing else on the machine uses, and locked for the container's life, as
//! `systemd-nspawn --private-users=pick` does. Building block of the hardened profile's user
//! namespace (issue 15), used by [`crate::idmapped`].
//!
//! # The pool
//!
//! Ranges of [`RANGE_SIZE`] ids, aligned on it, from `0x7000_0000` (1,879,048,192) up to but
//! not including `0x7FFE_0000`: [`Pool::DEFAULT`], 4,094 ranges. The same range serves as
//! uids and gids (container root is `start:start` outside). It is where no one else looks:
//!
//! - below 2³¹, since ids from 2³¹ on trip programs that hold them in a signed int (systemd's
//!   UIDS-GIDS.md), and `containers:2147483647:2147483648`, the subordinate range podman's
//!   documentation suggests for `--userns=auto`, starts there;
//! - above systemd's container range (`0x0008_0000`–`0x6FFF_FFFF`, where
//!   `systemd-nspawn --private-users=pick` and `systemd-nsresourced` allocate, locking under
//!   `/run/systemd/nspawn-uid/`, which furnace does not read), and below its "foreign" range
//!   (`0x7FFE_0000`–`0x7FFE_FFFF`, owners of foreign OS images);
//! - far above the ids distributions give to users (1000–60000) and the `/etc/subuid` ranges
//!   `useradd` hands out (100000 on, 65,536 per user).
//!
//! A range is skipped when it overlaps an entry of `/etc/subuid` or `/etc/subgid` (any user's:
//! LXD's or incus's `root:1000000:1000000000` ends at 0x3BAA_0C40, below the pool, but a
//! grant can be anywhere) or holds the uid or gid of a user or group of `/etc/passwd` and
//! `/etc/group`. Users that exist only in a directory service (LDAP, sssd) are not seen.
//!
//! # The lock
//!
//! Each range has a lock file in [`LOCK_DIR`] (`/run/furnace/.ids/<start>.lock`, the start
//! in decimal), opened `O_CLOEXEC` and locked with `flock(LOCK_EX | LOCK_NB)`. The directory
//! is machine-wide on purpose, not the caller's [`Registry`](crate::Registry) directory, which
//! can be chosen per call: two registries must not hand out one range. Its name starts with
//! a dot, which no container name can, so a registry at `/run/furnace` never takes it for a
//! container. Lock files are never removed: removing one while another picker has it open
//! would let two pickers lock two different files of one name; there are at most 4,094 of
//! them, empty or a line long (`/run` is a tmpfs, emptied at boot, on most systems).
//!
//! Which lock kind: a `flock(2)` lock (and likewise an open file description lock,
//! `F_OFD_SETLK`) belongs to the *open file description*. `fork` and `clone3` copy the fd
//! and share the description, so PID 1 holds the lock through the fd it inherits, the parent
//! can close its own copy, and the lock is released only when the last fd of the description
//! is closed — by the kernel when PID 1 dies, `SIGKILL` included. Two threads that each open
//! the file get two descriptions and exclude each other. A child that another thread forks
//! meanwhile holds a copy too, until it execs (the fd is close-on-exec) or exits: a release can
//! show late, a range never goes to two pickers.
//! A classic POSIX record lock (`F_SETLK`, which is also what rustix's `fcntl_lock` takes) is
//! the wrong kind: it belongs to the *process*, so a child forked with the fd does not hold
//! it, the parent loses it when it closes *any* fd of the file, and two threads of one
//! process never exclude each other.
//!
//! One gap remains: a dying PID 1 closes its fds (releasing the lock) *before* the kernel
//! kills and reaps the other processes of its pid namespace (`do_exit` runs `exit_files`
//! before `exit_notify`, which zaps the namespace), and those still run as the range's ids for
//! those moments. So the starter records PID 1 in the lock file
//! ([`IdRangeLock::record_holder`]), and a picker that gets a lock whose file names a process
//! that still exists and is not yet a zombie skips that range.

// `pick_in`, `Pool::new` and `into_fd` serve the tests.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use furnace_sys::userns::IdMap;
use rustix::fs::{FlockOperation, Mode, OFlags};

use crate::error::{Error, Result};

/// How many ids a range has: 65,536, what a container's `/etc/passwd` may use (0–65535).
pub(crate) const RANGE_SIZE: u32 = 0x1_0000;

/// Where the lock files of the ranges are.
pub(crate) const LOCK_DIR: &str = "/run/furnace/.ids";

/// The ranges ids are picked from: `ranges` ranges of [`RANGE_SIZE`] ids from `first`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pool {
    first: u32,
    ranges: u32,
}

impl Pool {
    /// `0x7000_0000` up to `0x7FFE_0000` (not included): see the [module](self).
    pub(crate) const DEFAULT: Pool = Pool {
        first: 0x7000_0000,
        ranges: (0x7FFE_0000 - 0x7000_0000) / RANGE_SIZE,
    };

    /// `ranges` ranges from `first` (a multiple of [`RANGE_SIZE`]); `None` when the pool
    /// would not fit in 32 bits or `first` is not aligned.
    pub(crate) fn new(first: u32, ranges: u32) -> Option<Pool> {
        let end = u64::from(first) + u64::from(ranges) * u64::from(RANGE_SIZE);
        (first % RANGE_SIZE == 0 && end <= u64::from(u32::MAX)).then_some(Pool { first, ranges })
    }

    /// The ranges, lowest first.
    fn ranges(self) -> impl Iterator<Item = IdRange> {
        (0..self.ranges).map(move |i| IdRange {
            start: self.first + i * RANGE_SIZE,
        })
    }
}

/// [`RANGE_SIZE`] consecutive host ids from `start`, for users and groups alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct IdRange {
    start: u32,
}

impl IdRange {
    /// The first id: container root outside.
    pub(crate) fn start(self) -> u32 {
        self.start
    }

    /// The map of the container's user namespace, for `uid_map` and `gid_map` alike: ids
    /// 0–65535 inside are `start`… outside.
    pub(crate) fn map(self) -> IdMap {
        IdMap::new(0, self.start, RANGE_SIZE)
    }

    /// Whether the range shares an id with `[lo, hi)`.
    fn overlaps(self, lo: u64, hi: u64) -> bool {
        let start = u64::from(self.start);
        lo < start + u64::from(RANGE_SIZE) && start < hi
    }
}

/// Ids the host has given out: spans `[lo, hi)` from the subordinate id files and the
/// user and group databases, users and groups together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HostIds {
    spans: Vec<(u64, u64)>,
}

impl HostIds {
    /// The files read, in the order of [`HostIds::parse`]'s arguments.
    pub(crate) const FILES: [&'static str; 4] =
        ["/etc/subuid", "/etc/subgid", "/etc/passwd", "/etc/group"];

    /// Reads [`HostIds::FILES`]; a missing file counts as empty.
    pub(crate) fn read() -> Result<HostIds> {
        let mut texts = Vec::with_capacity(4);
        for file in HostIds::FILES {
            texts.push(match std::fs::read(file) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
                Err(error) => {
                    return Err(Error::Registry {
                        what: format!("read {file} to pick a free id range"),
                        error,
                    })
                }
            });
        }
        Ok(HostIds::parse(&texts[0], &texts[1], &texts[2], &texts[3]))
    }

    /// The ids given out by the texts of `/etc/subuid`, `/etc/subgid` (`owner:start:count`),
    /// `/etc/passwd` (`name:password:uid:gid:…`) and `/etc/group` (`name:password:gid:…`).
    /// Comments and malformed lines are skipped.
    pub(crate) fn parse(subuid: &str, subgid: &str, passwd: &str, group: &str) -> HostIds {
        fn entries(text: &str) -> impl Iterator<Item = Vec<&str>> + '_ {
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(|line| line.split(':').collect())
        }
        let id = |field: Option<&&str>| field.and_then(|s| s.parse::<u32>().ok()).map(u64::from);
        let count = |field: Option<&&str>| field.and_then(|s| s.parse::<u64>().ok());
        let mut spans: Vec<(u64, u64)> = entries(subuid)
            .chain(entries(subgid))
            .filter_map(|f| Some((id(f.get(1))?, count(f.get(2))?)))
            .filter(|&(_, count)| count > 0)
            .map(|(start, count)| (start, start + count))
            .collect();
        let ids = entries(passwd)
            .flat_map(|f| [id(f.get(2)), id(f.get(3))])
            .chain(entries(group).map(|f| id(f.get(2))));
        spans.extend(ids.flatten().map(|id| (id, id + 1)));
        HostIds { spans }
    }

    /// Whether some id of `range` is given out.
    fn takes(&self, range: IdRange) -> bool {
        self.spans.iter().any(|&(lo, hi)| range.overlaps(lo, hi))
    }
}

/// A range locked for a container: while any fd of this lock's open file description is
/// open — this one, or a copy a child inherited — no other picker gets the range.
#[derive(Debug)]
pub(crate) struct IdRangeLock {
    fd: OwnedFd,
    range: IdRange,
}

impl IdRangeLock {
    /// The range.
    pub(crate) fn range(&self) -> IdRange {
        self.range
    }

    /// Records `pid` and `start_time` (`/proc/<pid>/stat` field 22) as the process that holds
    /// the range — PID 1, once started — so that a picker skips the range while that process
    /// exists, even after its death released the lock (see the [module](self)).
    pub(crate) fn record_holder(&self, pid: u32, start_time: u64) -> Result<()> {
        // Fixed width (32 bytes, the longest the two numbers can be), written over the last
        // record in place: no truncation, which on a journaling filesystem (`/run` is not
        // always a tmpfs) costs a journal transaction per start.
        let line = format!("{pid:>10} {start_time:>20}\n");
        let fail = |error: io::Error| Error::Registry {
            what: format!("record the holder of id range {}", self.range.start),
            error,
        };
        match rustix::io::pwrite(&self.fd, line.as_bytes(), 0) {
            Ok(n) if n == line.len() => Ok(()),
            Ok(_) => Err(fail(io::ErrorKind::WriteZero.into())),
            Err(e) => Err(fail(e.into())),
        }
    }

    /// The locked fd (close-on-exec): the lock lives as long as it and its copies.
    pub(crate) fn into_fd(self) -> OwnedFd {
        self.fd
    }
}

impl AsFd for IdRangeLock {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Picks and locks a free range of [`Pool::DEFAULT`], the lock files in [`LOCK_DIR`], the
/// host's ids read from [`HostIds::FILES`].
pub(crate) fn pick() -> Result<IdRangeLock> {
    pick_in(Path::new(LOCK_DIR), Pool::DEFAULT, &HostIds::read()?)
}

/// Picks and locks the lowest range of `pool` that `host` does not use, whose lock file in
/// `dir` (made, mode 0700, when missing) no one holds, and whose recorded holder is gone.
pub(crate) fn pick_in(dir: &Path, pool: Pool, host: &HostIds) -> Result<IdRangeLock> {
    use std::os::unix::fs::DirBuilderExt;
    let registry = |what: String, error: io::Error| Error::Registry { what, error };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| registry(format!("create {}", dir.display()), e))?;
    let dir_fd = rustix::fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| registry(format!("open {}", dir.display()), e.into()))?;
    let mut busy = 0;
    for range in pool.ranges() {
        if host.takes(range) {
            continue;
        }
        let name = format!("{}.lock", range.start);
        let fd = rustix::fs::openat(
            &dir_fd,
            OsStr::new(&name),
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| registry(format!("open {}", dir.join(&name).display()), e.into()))?;
        match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                busy += 1;
                continue;
            }
            Err(e) => {
                return Err(registry(
                    format!("flock {}", dir.join(&name).display()),
                    e.into(),
                ))
            }
        }
        if holder_exists(&fd) {
            // Dropping the fd releases the lock: the range is free once its holder is gone.
            busy += 1;
            continue;
        }
        let lock = furnace_sys::fd::above_stdio(fd).map_err(|error| Error::Sys {
            context: "keep the id range's lock above stdio",
            error,
        })?;
        return Ok(IdRangeLock { fd: lock, range });
    }
    Err(registry(
        format!(
            "pick a free range of {RANGE_SIZE} user and group ids from {:#x}: all {} ranges of \
             the pool are locked by running containers ({busy}) or hold ids of /etc/subuid, \
             /etc/subgid, /etc/passwd or /etc/group",
            pool.first, pool.ranges
        ),
        rustix::io::Errno::BUSY.into(),
    ))
}

/// Whether the lock file names a holder (`pid start_time`) that still exists and is not a
/// zombie: a PID 1 that is exiting still waits for the rest of its pid namespace to die; a
/// zombie PID 1 has outlived all of it.
fn holder_exists(fd: &OwnedFd) -> bool {
    let mut buf = [0u8; 64];
    let Ok(n) = rustix::io::pread(fd, &mut buf, 0) else {
        return false;
    };
    let text = String::from_utf8_lossy(&buf[..n]);
    let mut words = text.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(pid)), Some(Ok(start_time))) = (words.next(), words.next()) else {
        return false;
    };
    let Ok(pid) = u32::try_from(pid) else {
        return false;
    };
    furnace_sys::process::ProcStat::read(pid)
        .is_some_and(|s| s.start_time == start_time && !s.is_zombie())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::io::{BufRead, BufReader};
    use std::path::PathBuf;
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Barrier};

    use super::*;

    /// A throw-away lock directory, removed with everything in it when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("furnace-idrange-{}-{n}", std::process::id()))
                .join("ids");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            if let Some(parent) = self.0.parent() {
                let _ = std::fs::remove_dir_all(parent);
            }
        }
    }

    /// 64 ranges from the default pool's start: enough for every test, quick to exhaust.
    fn pool() -> Pool {
        Pool::new(0x7000_0000, 64).unwrap()
    }

    fn pick_here(dir: &TempDir) -> IdRangeLock {
        pick_in(&dir.0, pool(), &HostIds::default()).unwrap()
    }

    /// Picks until `want` comes: a child that another test's thread forks meanwhile holds a
    /// copy of every fd of this process, the lock's too, until it execs (its close-on-exec
    /// copies close then) — a release can take a moment to show.
    fn pick_until(dir: &TempDir, want: IdRange) -> IdRange {
        for _ in 0..400 {
            let lock = pick_here(dir);
            if lock.range() == want {
                return want;
            }
            drop(lock);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        pick_here(dir).range()
    }

    fn start_of(i: u32) -> u32 {
        0x7000_0000 + i * RANGE_SIZE
    }

    #[test]
    fn the_default_pool() {
        let ranges: Vec<IdRange> = Pool::DEFAULT.ranges().collect();
        assert_eq!(ranges.len(), 4094);
        assert_eq!(ranges[0].start(), 0x7000_0000);
        let last = ranges[ranges.len() - 1].start();
        assert_eq!(u64::from(last) + u64::from(RANGE_SIZE), 0x7FFE_0000);
        assert!(ranges.iter().all(|r| r.start() % RANGE_SIZE == 0));
        // Below 2^31; clear of systemd's container range and of its foreign range.
        assert!(u64::from(last) + u64::from(RANGE_SIZE) <= 1 << 31);
        assert!(!ranges
            .iter()
            .any(|r| r.overlaps(0x0008_0000, 0x7000_0000) || r.overlaps(0x7FFE_0000, 0x7FFF_0000)));
        assert_eq!(ranges[0].map(), IdMap::new(0, 0x7000_0000, 65536));
        assert!(Pool::new(0x7000_0001, 1).is_none());
        // The last range may not hold 0xFFFF_FFFF, `(uid_t) -1`, which is no id.
        assert!(Pool::new(0xFFFF_0000, 1).is_none());
        assert!(Pool::new(0xFFFE_0000, 1).is_some());
    }

    #[test]
    fn host_ids_come_from_the_four_files() {
        let host = HostIds::parse(
            "# comment\nalice:100000:65536\nbad\nzero:5:0\ncontainers:2147483647:2147483648\n",
            "1001:200000:10\n",
            "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1001::/home/alice:/bin/sh\nodd\n",
            "wheel:x:10:alice\n\n",
        );
        assert_eq!(
            host.spans,
            [
                (100000, 165536),
                (2147483647, 4294967295),
                (200000, 200010),
                (0, 1),
                (0, 1),
                (1000, 1001),
                (1001, 1002),
                (10, 11),
            ]
        );
        let range = IdRange { start: 0x7000_0000 };
        assert!(!HostIds::default().takes(range));
        assert!(HostIds {
            spans: vec![(0x7000_FFFF, 0x7001_0000)]
        }
        .takes(range));
        assert!(!HostIds {
            spans: vec![(0x7001_0000, 0x7001_0001)]
        }
        .takes(range));
        assert!(!HostIds {
            spans: vec![(0, 0x7000_0000)]
        }
        .takes(range));
    }

    #[test]
    fn the_hosts_files_are_read() {
        let host = HostIds::read().unwrap();
        // Root is in /etc/passwd and /etc/group of every machine these tests run on.
        assert!(host.spans.contains(&(0, 1)), "{host:?}");
    }

    #[test]
    fn ranges_the_host_uses_are_skipped() {
        let dir = TempDir::new();
        let host = HostIds::parse(
            &format!("alice:{}:65536\n", start_of(0)),
            &format!("bob:{}:1\n", start_of(3) + 65535),
            &format!("svc:x:{}:0::/:/bin/sh\n", start_of(1) + 7),
            &format!("grp:x:{}:\n", start_of(2)),
        );
        let lock = pick_in(&dir.0, pool(), &host).unwrap();
        assert_eq!(lock.range().start(), start_of(4));
    }

    #[test]
    fn the_lock_file_is_close_on_exec_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new();
        let lock = pick_here(&dir);
        let flags = rustix::io::fcntl_getfd(&lock).unwrap();
        assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
        let file = dir.0.join(format!("{}.lock", lock.range().start()));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir.0), 0o700);
        use std::os::fd::AsRawFd;
        assert!(lock.as_fd().as_raw_fd() > 2);
    }

    #[test]
    fn concurrent_picks_from_threads_get_distinct_ranges() {
        let dir = Arc::new(TempDir::new());
        let threads = 16;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (dir, barrier) = (Arc::clone(&dir), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    pick_here(&dir)
                })
            })
            .collect();
        let locks: Vec<IdRangeLock> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let starts: BTreeSet<u32> = locks.iter().map(|l| l.range().start()).collect();
        assert_eq!(
            starts.len(),
            threads,
            "two threads got one range: {starts:x?}"
        );
        // Lowest first: together they hold exactly the first ranges of the pool.
        assert_eq!(starts, (0..threads as u32).map(start_of).collect());
    }

    /// Not a test on its own: the picker process of
    /// `concurrent_picks_from_processes_get_distinct_ranges`, which runs this test binary
    /// again with `FURNACE_IDRANGE_DIR` set. It picks, says what, and holds the range until its
    /// stdin ends.
    #[test]
    fn picker_process() {
        let Some(dir) = std::env::var_os("FURNACE_IDRANGE_DIR") else {
            return;
        };
        let lock = pick_in(Path::new(&dir), pool(), &HostIds::default()).unwrap();
        println!("picked {}", lock.range().start());
        std::io::Write::flush(&mut std::io::stdout()).unwrap();
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        drop(lock);
    }

    #[test]
    fn concurrent_picks_from_processes_get_distinct_ranges() {
        let dir = Arc::new(TempDir::new());
        let exe = std::env::current_exe().unwrap();
        let mut children: Vec<_> = (0..6)
            .map(|_| {
                Command::new(&exe)
                    .args(["--exact", "idrange::tests::picker_process", "--nocapture"])
                    .args(["--test-threads=1", "-q"])
                    .env("FURNACE_IDRANGE_DIR", &dir.0)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // Threads of this process pick at the same time.
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let dir = Arc::clone(&dir);
                std::thread::spawn(move || pick_here(&dir))
            })
            .collect();
        let mut starts: Vec<u32> = Vec::new();
        let mut outputs = Vec::new();
        for child in &mut children {
            let mut out = BufReader::new(child.stdout.take().unwrap());
            let mut line = String::new();
            while !line.starts_with("picked ") {
                line.clear();
                assert!(
                    out.read_line(&mut line).unwrap() > 0,
                    "the picker said nothing"
                );
            }
            starts.push(line["picked ".len()..].trim().parse().unwrap());
            // Kept open until it ends: libtest fails on a closed stdout.
            outputs.push(out);
        }
        let locks: Vec<IdRangeLock> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        starts.extend(locks.iter().map(|l| l.range().start()));
        let distinct: BTreeSet<u32> = starts.iter().copied().collect();
        assert_eq!(distinct.len(), 12, "a range was picked twice: {starts:x?}");
        for (mut child, mut out) in children.into_iter().zip(outputs) {
            drop(child.stdin.take());
            std::io::copy(&mut out, &mut std::io::sink()).unwrap();
            assert!(child.wait().unwrap().success());
        }
    }

    #[test]
    fn a_released_range_is_reused() {
        let dir = TempDir::new();
        let a = pick_here(&dir);
        let b = pick_here(&dir);
        assert_ne!(a.range(), b.range());
        let freed = a.range();
        drop(a);
        assert_eq!(pick_until(&dir, freed), freed);
    }

    #[test]
    fn a_range_held_by_a_dead_process_is_free_again() {
        let dir = TempDir::new();
        let lock = pick_here(&dir);
        let held = lock.range();
        // Another process holds the lock through a copy of the fd, as PID 1 does: `sleep` gets
        // it as its stdin, and this process's own copy is closed with the Command.
        let mut command = Command::new("sleep");
        command.arg("1000").stdin(Stdio::from(lock.into_fd()));
        let mut sleeper = command.spawn().unwrap();
        drop(command);
        let other = pick_here(&dir);
        assert_ne!(other.range(), held, "the range of a live holder was picked");
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        assert_eq!(pick_until(&dir, held), held);
    }

    #[test]
    fn a_recorded_holder_keeps_its_range_while_it_exists() {
        let dir = TempDir::new();
        let me = std::process::id();
        let started = furnace_sys::process::ProcStat::read(me).unwrap().start_time;
        let lock = pick_here(&dir);
        let range = lock.range();
        lock.record_holder(me, started).unwrap();
        drop(lock);
        // Wait until the lock is really free (see `pick_until`): a copy of the fd in a child
        // forked meanwhile would make the next pick skip the range for that reason instead.
        let path = dir.0.join(format!("{}.lock", range.start()));
        let open = || rustix::fs::open(&path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty());
        let free = (0..400).any(|_| {
            let free = rustix::fs::flock(open().unwrap(), FlockOperation::NonBlockingLockExclusive);
            free.is_ok() || {
                std::thread::sleep(std::time::Duration::from_millis(5));
                false
            }
        });
        assert!(free, "the lock was never released");
        // Unlocked, but the recorded holder (this process) still runs.
        let other = pick_here(&dir);
        assert_ne!(other.range(), range);
        // A holder that is gone (same pid, another start time) does not keep it.
        let stale = IdRangeLock {
            fd: open().unwrap(),
            range,
        };
        stale.record_holder(me, started + 1).unwrap();
        drop(stale);
        assert_eq!(pick_until(&dir, range), range);
    }

    #[test]
    fn an_exhausted_pool_is_an_error() {
        let dir = TempDir::new();
        let two = Pool::new(0x7000_0000, 2).unwrap();
        let held: Vec<_> = (0..2)
            .map(|_| pick_in(&dir.0, two, &HostIds::default()).unwrap())
            .collect();
        let err = pick_in(&dir.0, two, &HostIds::default()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("all 2 ranges of the pool are locked by running containers (2)"),
            "{message}"
        );
        assert!(message.ends_with("(os error 16)"), "{message}");
        drop(held);
    }
}
