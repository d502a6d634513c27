//! The host's cgroups as the tests see them: every `furnace-*` cgroup directory in every
//! hierarchy and who made it (the owner's pid and start time are in a container cgroup's name,
//! `furnace-<pid>-<start time>-<n>`), this process's own cgroups (where the library makes a
//! container's), `/proc/PID/cgroup` through furnace-sys's parser, and [`CgroupWatch`], which
//! sees cgroups being made even when they are removed again at once.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::ErrorKind;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use furnace_sys::cgroup::{self as sys_cgroup, ProcCgroup};
use rustix::fs::inotify;

use crate::proc::proc_stat;
use crate::DEADLINE;

/// Where the hierarchies are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The prefix of every cgroup furnace (and this suite) makes.
pub const PREFIX: &str = "furnace-";

/// Every directory named `furnace-*`, at any depth, in every hierarchy under [`CGROUP_ROOT`]
/// (symlinks such as `cpu -> cpu,cpuacct` are not followed, so nothing is listed twice).
/// Directories that vanish while the tree is read are skipped.
pub fn furnace_cgroups() -> BTreeSet<PathBuf> {
    furnace_sys::cgroup::dirs_with_prefix(CGROUP_ROOT, PREFIX)
}

/// The owner `(pid, start time)` a container cgroup's name records:
/// `furnace-<pid>-<start time>-<n>`; `None` for any other name.
pub fn owner_of(name: &str) -> Option<(u32, u64)> {
    let mut parts = name.strip_prefix(PREFIX)?.split('-');
    let pid = parts.next()?.parse().ok()?;
    let start = parts.next()?.parse().ok()?;
    parts.next()?.parse::<u64>().ok()?;
    parts.next().is_none().then_some((pid, start))
}

/// The owner a cgroup directory's name records ([`owner_of`] on its last component).
pub fn owner_of_dir(dir: &Path) -> Option<(u32, u64)> {
    owner_of(&dir.file_name()?.to_string_lossy())
}

/// Whether the process that made a cgroup (its `(pid, start time)`) is still there.
pub fn owner_alive((pid, start): (u32, u64)) -> bool {
    proc_stat(pid).is_some_and(|s| s.start_time == start && !s.is_zombie())
}

/// The container cgroups (anywhere under [`CGROUP_ROOT`]) whose name records `pid` as owner.
pub fn cgroups_owned_by(pid: u32) -> BTreeSet<PathBuf> {
    furnace_cgroups()
        .into_iter()
        .filter(|d| owner_of_dir(d).is_some_and(|(p, _)| p == pid))
        .collect()
}

/// This process's own cgroup directory in every hierarchy it can reach (one per line of
/// `/proc/self/cgroup`: a v1 hierarchy by its first controller, and the v2 one). The library
/// makes a container's cgroups beneath these.
pub fn own_cgroup_dirs() -> Vec<PathBuf> {
    let lines = sys_cgroup::own_cgroups().unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    for line in lines {
        let dir = if line.is_v2() {
            sys_cgroup::own_cgroup_dir_v2()
        } else {
            let Some(first) = line.controllers.first() else {
                continue;
            };
            sys_cgroup::own_cgroup_dir_v1(first)
        };
        if let Some(dir) = dir.unwrap_or_else(|e| panic!("{e}")) {
            if !out.contains(&dir) {
                out.push(dir);
            }
        }
    }
    out
}

/// This process's own cgroup directory in the v1 hierarchy with `controller`, or the v2 one
/// for `None`.
pub fn own_cgroup_dir(controller: Option<&str>) -> Option<PathBuf> {
    match controller {
        Some(c) => sys_cgroup::own_cgroup_dir_v1(c),
        None => sys_cgroup::own_cgroup_dir_v2(),
    }
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Where the v1 hierarchy with `controller` is mounted, or the v2 one for `None`.
pub fn hierarchy(controller: Option<&str>) -> Option<PathBuf> {
    match controller {
        Some(c) => sys_cgroup::v1_mount_point(c),
        None => sys_cgroup::v2_mount_point(),
    }
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The one of `paths` in the hierarchy of `controller` (`None`: the v2 one); panics when there
/// is none or more than one.
pub fn path_in(paths: &[PathBuf], controller: Option<&str>) -> PathBuf {
    let mount = hierarchy(controller)
        .unwrap_or_else(|| panic!("the {controller:?} hierarchy is not mounted on this host"));
    let found: Vec<&PathBuf> = paths.iter().filter(|p| p.starts_with(&mount)).collect();
    match found.as_slice() {
        [one] => (*one).clone(),
        _ => panic!(
            "expected one cgroup in the {controller:?} hierarchy ({}) among {paths:?}",
            mount.display()
        ),
    }
}

/// `/proc/{pid}/cgroup` through furnace-sys's parser (paths as this process's cgroup namespace
/// sees them).
pub fn cgroups_of(pid: u32) -> Vec<ProcCgroup> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/cgroup: {e}"));
    sys_cgroup::parse_proc_cgroup(&text)
}

/// A control file of a cgroup, trimmed; panics naming it when it cannot be read.
pub fn read_control(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(file).display()))
        .trim()
        .to_owned()
}

/// The processes in a cgroup (`cgroup.procs`; empty when it is gone).
pub fn procs_of(dir: &Path) -> Vec<u32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Cgroup directories the test removes on drop when they are still there and empty (what a
/// killed helper left, so that a failing test leaves nothing). Never holds a cgroup that is
/// not the test's or its helper's.
#[derive(Debug, Default)]
pub struct RemoveOnDrop(pub Vec<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for dir in &self.0 {
            // Child cgroups first (furnace's limited memory child, `contained`).
            if let Ok(children) = fs::read_dir(dir) {
                for child in children.flatten() {
                    if child.file_type().is_ok_and(|t| t.is_dir()) {
                        let _ = fs::remove_dir(child.path());
                    }
                }
            }
            let deadline = Instant::now() + DEADLINE;
            loop {
                match fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == ErrorKind::NotFound => break,
                    Err(e) if Instant::now() >= deadline => {
                        eprintln!("furnace-tests: cannot remove {}: {e}", dir.display());
                        break;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }
}

/// Watches this process's own cgroup directories (where containers' cgroups are made, for this
/// process and for the processes it starts) for new sub-directories through inotify: a cgroup
/// made and removed again between two looks is still seen.
#[derive(Debug)]
pub struct CgroupWatch {
    fd: OwnedFd,
    /// Watch descriptor → the directory it watches.
    dirs: BTreeMap<i32, PathBuf>,
}

impl CgroupWatch {
    /// Starts watching every directory of [`own_cgroup_dirs`].
    pub fn new() -> CgroupWatch {
        let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
            .unwrap_or_else(|e| panic!("inotify_init1: {e}"));
        let mut dirs = BTreeMap::new();
        for dir in own_cgroup_dirs() {
            let wd = inotify::add_watch(&fd, &dir, inotify::WatchFlags::CREATE)
                .unwrap_or_else(|e| panic!("inotify_add_watch {}: {e}", dir.display()));
            dirs.insert(wd, dir);
        }
        assert!(!dirs.is_empty(), "no cgroup hierarchy to watch");
        CgroupWatch { fd, dirs }
    }

    /// The directories watched.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.dirs.values().cloned().collect()
    }

    /// The directories made since the last call (or since the watch began), as paths.
    pub fn created(&self) -> Vec<PathBuf> {
        let mut buf = [MaybeUninit::<u8>::uninit(); 8192];
        let mut reader = inotify::Reader::new(&self.fd, &mut buf);
        let mut out = Vec::new();
        loop {
            match reader.next() {
                Ok(event) => {
                    assert!(
                        !event.events().contains(inotify::ReadFlags::QUEUE_OVERFLOW),
                        "the inotify queue overflowed: the watch cannot vouch for anything"
                    );
                    let (Some(dir), Some(name)) = (self.dirs.get(&event.wd()), event.file_name())
                    else {
                        continue;
                    };
                    if event.events().contains(inotify::ReadFlags::ISDIR) {
                        out.push(dir.join(name.to_string_lossy().as_ref()));
                    }
                }
                Err(rustix::io::Errno::AGAIN) => return out,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => panic!("read the inotify fd: {e}"),
            }
        }
    }

    /// The container cgroups made since the last call whose name records `pid` as owner.
    pub fn created_by(&self, pid: u32) -> Vec<PathBuf> {
        self.created()
            .into_iter()
            .filter(|d| owner_of_dir(d).is_some_and(|(p, _)| p == pid))
            .collect()
    }
}

impl Default for CgroupWatch {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_record_their_owner() {
        assert_eq!(owner_of("furnace-123-4567-0"), Some((123, 4567)));
        assert_eq!(
            owner_of_dir(Path::new("/sys/fs/cgroup/pids/furnace-9-8-7")),
            Some((9, 8))
        );
        for other in [
            "furnace-test-pids-123-0-abc",
            "furnace-1-2",
            "furnace-1-2-3-4",
            "furnace-x-2-3",
            "libpod-123",
        ] {
            assert_eq!(owner_of(other), None, "{other}");
        }
    }
}
