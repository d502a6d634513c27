//! [`CgroupDir`]: a cgroup directory held open, with its control files read and written
//! through the fd; and the parsers of those files' formats.

use std::ffi::CStr;
use std::io::Read;
use std::num::ParseIntError;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::path::Arg;

use super::forksafe;
use crate::error::{DisplayPath, Errno, Error, Result};

/// A cgroup directory held open: an `O_PATH | O_DIRECTORY | O_CLOEXEC` fd, and the path it
/// was opened by (for messages; every call goes through the fd).
///
/// Children and control files are named by one path component each (`pids.max`,
/// `furnace-1234-5678`): a name that is empty, `.`, `..` or holds a `/` is refused with
/// `EINVAL`, so that a call never reaches outside the cgroup. Each method makes the calls
/// its doc names, and its [`Error`] names the call, the full path and the errno.
#[derive(Debug)]
pub struct CgroupDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl CgroupDir {
    /// `open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)`: holds the cgroup directory at `path`
    /// open (a symlink there is followed, as some hosts link `cpu` to `cpu,cpuacct`).
    ///
    /// See `open(2)`.
    pub fn open(path: impl AsRef<Path>) -> Result<CgroupDir> {
        let path = path.as_ref();
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = path
            .into_with_c_str(|c| rustix::fs::open(c, flags, Mode::empty()))
            .map_err(|e| {
                Error::new("open", format!("{} (O_PATH)", DisplayPath(path)), e).with_path(path)
            })?;
        Ok(CgroupDir {
            fd,
            path: path.to_owned(),
        })
    }

    /// The path the directory was opened by.
    ///
    /// No system call.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory's fd (an `O_PATH` one), for the `*at` calls and [`forksafe`].
    ///
    /// No system call.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// `mkdirat(self, name, 0755)` and `openat(self, name, O_PATH | O_DIRECTORY)`: creates the
    /// child cgroup `name` and holds it open.
    ///
    /// A child that exists already fails with `EEXIST`: the caller picks names no one else
    /// uses (its pid and start time, say), and never takes over a cgroup it did not create.
    /// Should the open fail after the `mkdirat`, the new directory is removed again
    /// (`unlinkat(2)`).
    ///
    /// See `mkdirat(2)`, `openat(2)`, `cgroups(7)`.
    pub fn create_child(&self, name: &str) -> Result<CgroupDir> {
        self.at(name, |c| forksafe::create_child(self.as_fd(), c))
            .map_err(|e| self.error("mkdirat", name, " (mode 0755)", e))?;
        self.open_child(name).inspect_err(|_| {
            let _ = self.at(name, |c| {
                rustix::fs::unlinkat(self.as_fd(), c, rustix::fs::AtFlags::REMOVEDIR)
            });
        })
    }

    /// `openat(self, name, O_PATH | O_DIRECTORY | O_NOFOLLOW)`: holds the existing child
    /// cgroup `name` open.
    ///
    /// See `openat(2)`.
    pub fn open_child(&self, name: &str) -> Result<CgroupDir> {
        let fd = self
            .at(name, |c| forksafe::open_child(self.as_fd(), c))
            .map_err(|e| self.error("openat", name, " (O_PATH)", e))?;
        Ok(CgroupDir {
            fd,
            path: self.path.join(name),
        })
    }

    /// `openat(self, file, O_WRONLY | O_CLOEXEC)` and one `write(2)` of `value`: sets the
    /// control file `file` (`pids.max`, `memory.limit_in_bytes`, `cgroup.kill`, ...).
    ///
    /// The value goes in one write, as a control file wants it; no newline is added (the
    /// kernel accepts the value with or without one). The kernel's refusal of a value comes
    /// back as its errno, usually `EINVAL`.
    ///
    /// See `openat(2)`, `write(2)`, `cgroups(7)`.
    pub fn write(&self, file: &str, value: &str) -> Result<()> {
        self.at(file, |c| {
            forksafe::write_file(self.as_fd(), c, value.as_bytes())
        })
        .map_err(|e| {
            let path = self.path.join(file);
            Error::new("write", format!("{value:?} to {}", DisplayPath(&path)), e).with_path(path)
        })
    }

    /// `openat(self, file, O_RDONLY | O_CLOEXEC)` and `read(2)` to the end: the whole text
    /// of the control file `file`.
    ///
    /// See `openat(2)`, `read(2)`.
    pub fn read(&self, file: &str) -> Result<String> {
        let fd = self
            .at(file, |c| {
                rustix::fs::openat(
                    self.as_fd(),
                    c,
                    OFlags::RDONLY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
            })
            .map_err(|e| self.error("openat", file, "", e))?;
        let mut text = String::new();
        std::fs::File::from(fd)
            .read_to_string(&mut text)
            .map_err(|e| {
                let errno = Errno::from_io_error(&e).unwrap_or(Errno::IO);
                self.error("read", file, "", errno)
            })?;
        Ok(text)
    }

    /// `openat(self, file)` and `read(2)`: the value of `key` in a file of `key value` lines
    /// (`memory.events`, `pids.events`, `cpu.stat`, `memory.stat`, `memory.oom_control`,
    /// `cgroup.events`); `None` when no line has that key.
    ///
    /// A value that is not a number fails with `EINVAL` (call `parse`). See [`parse_keyed`].
    ///
    /// See `openat(2)`, `read(2)`, `cgroups(7)`.
    pub fn read_keyed(&self, file: &str, key: &str) -> Result<Option<u64>> {
        let text = self.read(file)?;
        parse_keyed(&text, key).map_err(|_| self.parse_error(file, &text))
    }

    /// `openat(self, file)` and `read(2)`: a file holding one number (`pids.max`,
    /// `memory.limit_in_bytes`, `pids.current`); `None` for `max`, v2's "no limit".
    ///
    /// Anything else fails with `EINVAL` (call `parse`). See [`parse_u64_or_max`].
    ///
    /// See `openat(2)`, `read(2)`, `cgroups(7)`.
    pub fn read_u64(&self, file: &str) -> Result<Option<u64>> {
        let text = self.read(file)?;
        parse_u64_or_max(&text).map_err(|_| self.parse_error(file, &text))
    }

    /// `openat(self, "cgroup.procs")` and `read(2)`: the pids of the processes in this cgroup
    /// (not in its children), as the caller's pid namespace numbers them.
    ///
    /// See `openat(2)`, `read(2)`, `cgroups(7)`.
    pub fn procs(&self) -> Result<Vec<u32>> {
        const FILE: &str = "cgroup.procs";
        let text = self.read(FILE)?;
        parse_procs(&text).map_err(|_| self.parse_error(FILE, &text))
    }

    /// `unlinkat(self, name, AT_REMOVEDIR)`, retried on `EBUSY`: removes the child cgroup
    /// `name`; one that does not exist counts as removed.
    ///
    /// A cgroup whose last process is still exiting is busy for a moment, so `EBUSY` is retried
    /// for at most [`forksafe::REMOVE_BUSY_BUDGET`] (pauses of a few ms); a cgroup that still
    /// holds processes or children after that fails with `EBUSY`. See
    /// [`forksafe::remove_child`].
    ///
    /// See `unlinkat(2)`, `cgroups(7)`.
    pub fn remove_child(&self, name: &str) -> Result<()> {
        self.at(name, |c| forksafe::remove_child(self.as_fd(), c))
            .map_err(|e| self.error("unlinkat", name, " (AT_REMOVEDIR)", e))
    }

    /// `unlinkat(self, name, AT_REMOVEDIR)`, once: unlike [`remove_child`](Self::remove_child),
    /// a busy cgroup (`EBUSY`) is an error at once. `ENOENT` is Ok.
    ///
    /// See `unlinkat(2)`, `cgroups(7)`.
    pub fn try_remove_child(&self, name: &str) -> Result<()> {
        self.at(name, |c| {
            match rustix::fs::unlinkat(self.as_fd(), c, rustix::fs::AtFlags::REMOVEDIR) {
                Ok(()) | Err(Errno::NOENT) => Ok(()),
                Err(e) => Err(e),
            }
        })
        .map_err(|e| self.error("unlinkat", name, " (AT_REMOVEDIR)", e))
    }

    /// `openat(self, "cgroup.procs", O_WRONLY | O_CLOEXEC)`: the fd a forked child writes `0`
    /// into to join this cgroup ([`forksafe::join`]).
    ///
    /// See `openat(2)`, `cgroups(7)`.
    pub fn open_procs(&self) -> Result<OwnedFd> {
        forksafe::open_procs(self.as_fd())
            .map_err(|e| self.error("openat", "cgroup.procs", " (O_WRONLY)", e))
    }

    /// `openat(self, "tasks", O_WRONLY | O_CLOEXEC)`, for a cgroup v1 hierarchy: the fd a
    /// single-threaded process writes `0` into to join this cgroup ([`forksafe::join`]).
    ///
    /// Writing `0` to `tasks` moves only the calling thread — the whole process when it has
    /// one — and the kernel then skips the global `cgroup_threadgroup_rwsem` that a write to
    /// `cgroup.procs` takes for writing, whose price is an RCU grace period whenever the lock
    /// was idle (milliseconds, on every start of a program that joins once). Not for
    /// multi-threaded processes, whose other threads would stay behind.
    ///
    /// See `openat(2)`, `cgroups(7)`.
    pub fn open_tasks(&self) -> Result<OwnedFd> {
        forksafe::open_tasks(self.as_fd())
            .map_err(|e| self.error("openat", "tasks", " (O_WRONLY)", e))
    }

    /// `openat(self, ".", O_RDONLY | O_DIRECTORY)` and `getdents64(2)`: the names of the child
    /// cgroups that start with `prefix`, sorted (to sweep the leftovers of a process that died
    /// before it removed its cgroups).
    ///
    /// See `openat(2)`, `getdents64(2)`.
    pub fn children_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(self.as_fd(), c".", flags, Mode::empty())
            .map_err(|e| self.error("openat", ".", " (O_RDONLY)", e))?;
        let fail = |e| self.error("getdents64", ".", "", e);
        let mut dir = rustix::fs::Dir::new(fd).map_err(fail)?;
        let mut names = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(fail)?;
            if entry.file_type() != rustix::fs::FileType::Directory {
                continue;
            }
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            if name != "." && name != ".." && name.starts_with(prefix) {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Runs `f` on `name` as a C string, once `name` is known to be one path component.
    fn at<T>(&self, name: &str, f: impl FnOnce(&CStr) -> Result<T, Errno>) -> Result<T, Errno> {
        if !is_component(name) {
            return Err(Errno::INVAL);
        }
        name.into_with_c_str(f)
    }

    /// An error of `call` on the entry `name` of this directory.
    fn error(&self, call: &'static str, name: &str, flags: &str, errno: Errno) -> Error {
        let path = self.path.join(name);
        Error::new(call, format!("{}{flags}", DisplayPath(&path)), errno).with_path(path)
    }

    /// A control file whose text is not in the format expected.
    fn parse_error(&self, file: &str, text: &str) -> Error {
        let path = self.path.join(file);
        let text = text.trim_end();
        Error::new(
            "parse",
            format!("{}: unexpected content {text:?}", DisplayPath(&path)),
            Errno::INVAL,
        )
        .with_path(path)
    }
}

impl AsFd for CgroupDir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Whether `name` is one path component: not empty, not `.` or `..`, no `/`.
fn is_component(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/')
}

/// The value of `key` in a text of `key value` lines, as `memory.events`, `pids.events`,
/// `cpu.stat`, `memory.stat` and `memory.oom_control` hold it; `Ok(None)` when no line has
/// that key, an error when its value is not a number.
///
/// No system call.
///
/// ```
/// use furnace_sys::cgroup::parse_keyed;
/// let text = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n";
/// assert_eq!(parse_keyed(text, "oom_kill"), Ok(Some(1)));
/// assert_eq!(parse_keyed(text, "oom"), Ok(None));
/// ```
pub fn parse_keyed(text: &str, key: &str) -> Result<Option<u64>, ParseIntError> {
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some(key) {
            return words.next().unwrap_or_default().parse().map(Some);
        }
    }
    Ok(None)
}

/// One number, or `max` (v2's "no limit", `None`), with surrounding white space (the final
/// newline) ignored.
///
/// No system call.
///
/// ```
/// use furnace_sys::cgroup::parse_u64_or_max;
/// assert_eq!(parse_u64_or_max("5\n"), Ok(Some(5)));
/// assert_eq!(parse_u64_or_max("max\n"), Ok(None));
/// assert!(parse_u64_or_max("lots").is_err());
/// ```
pub fn parse_u64_or_max(text: &str) -> Result<Option<u64>, ParseIntError> {
    match text.trim() {
        "max" => Ok(None),
        number => number.parse().map(Some),
    }
}

/// The pids of a `cgroup.procs` text, one a line.
///
/// No system call.
pub fn parse_procs(text: &str) -> Result<Vec<u32>, ParseIntError> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // From this kind of machine: v1 memory.oom_control and pids.events, v2 memory.events,
    // cgroup.events and cpu.stat.
    const OOM_CONTROL: &str = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
    const MEMORY_EVENTS: &str = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n";
    const CPU_STAT: &str = "usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\n\
                            nr_periods 0\nnr_throttled 0\nthrottled_usec 0\n";

    #[test]
    fn keyed_values_are_found_by_their_whole_key() {
        assert_eq!(parse_keyed(OOM_CONTROL, "oom_kill"), Ok(Some(3)));
        assert_eq!(parse_keyed(OOM_CONTROL, "oom_kill_disable"), Ok(Some(0)));
        assert_eq!(parse_keyed(OOM_CONTROL, "oom"), Ok(None));
        assert_eq!(parse_keyed(MEMORY_EVENTS, "oom"), Ok(Some(2)));
        assert_eq!(parse_keyed(MEMORY_EVENTS, "max"), Ok(Some(12)));
        assert_eq!(parse_keyed("max 1\n", "max"), Ok(Some(1)));
        assert_eq!(parse_keyed(CPU_STAT, "usage_usec"), Ok(Some(1_234_567)));
        assert_eq!(
            parse_keyed("populated 0\nfrozen 1\n", "populated"),
            Ok(Some(0))
        );
        assert_eq!(parse_keyed("", "populated"), Ok(None));
    }

    #[test]
    fn keyed_values_that_are_no_numbers_are_errors() {
        assert!(parse_keyed("oom_kill x\n", "oom_kill").is_err());
        assert!(parse_keyed("oom_kill\n", "oom_kill").is_err());
        assert!(parse_keyed("oom_kill -1\n", "oom_kill").is_err());
    }

    #[test]
    fn single_numbers_and_max() {
        assert_eq!(parse_u64_or_max("5\n"), Ok(Some(5)));
        assert_eq!(parse_u64_or_max("max\n"), Ok(None));
        assert_eq!(
            parse_u64_or_max("9223372036854771712\n"),
            Ok(Some(9_223_372_036_854_771_712))
        );
        assert!(parse_u64_or_max("").is_err());
        assert!(parse_u64_or_max("max 100000\n").is_err());
    }

    #[test]
    fn procs_are_one_pid_a_line() {
        assert_eq!(parse_procs(""), Ok(vec![]));
        assert_eq!(parse_procs("12\n345\n"), Ok(vec![12, 345]));
        assert!(parse_procs("12\nx\n").is_err());
    }

    #[test]
    fn names_must_be_one_component() {
        for bad in ["", ".", "..", "a/b", "/abs", "x/"] {
            assert!(!is_component(bad), "{bad:?}");
        }
        for good in ["pids.max", "furnace-1-2", "..x", "a.b"] {
            assert!(is_component(good), "{good:?}");
        }
    }

    #[test]
    fn errors_name_the_call_and_the_full_path() {
        let dir = CgroupDir::open("/proc/self").unwrap();
        assert_eq!(dir.path(), Path::new("/proc/self"));
        let err = dir.read("no-such-file").unwrap_err();
        assert_eq!(err.errno(), Errno::NOENT);
        assert_eq!(err.path(), Some(Path::new("/proc/self/no-such-file")));
        assert!(
            err.to_string()
                .starts_with("openat /proc/self/no-such-file: ENOENT"),
            "{err}"
        );
        let err = dir.write("../x", "1").unwrap_err();
        assert_eq!(err.errno(), Errno::INVAL);
        assert_eq!(err.call(), "write");
        assert!(err
            .to_string()
            .starts_with("write \"1\" to /proc/self/../x"));
        let err = dir.read_u64("status").unwrap_err();
        assert_eq!((err.call(), err.errno()), ("parse", Errno::INVAL));
        assert!(CgroupDir::open("/proc/self/status").is_err());
    }

    #[test]
    fn children_are_listed_by_prefix_and_sorted() {
        let dir = CgroupDir::open("/proc/self").unwrap();
        let found = dir.children_with_prefix("f").unwrap();
        assert_eq!(found, vec!["fd", "fdinfo"]);
        assert!(dir.children_with_prefix("no-such-").unwrap().is_empty());
    }
}
