//! Control groups: which layout the host has, where this process's own cgroups are, and
//! [`CgroupDir`], a cgroup directory held open to create children, set limits, read what the
//! kernel counted, and remove them.
//!
//! A host has one of three layouts ([`Layout`]): everything in the v2 hierarchy (most current
//! distributions), v1 hierarchies with a v2 one beside them at `unified/` (hybrid), or v1 only.
//! The functions here find the hierarchies in this process's mount table and its own place in
//! them in `/proc/self/cgroup` ([`own_cgroup_dir_v1`], [`own_cgroup_dir_v2`]); a runtime
//! creates its cgroups beneath those, so the caller's own limits still apply.
//!
//! Everything a forked child or PID 1 needs — joining a cgroup through an fd of its
//! `cgroup.procs`, writing a control file, removing a cgroup — is in [`forksafe`], as C strings
//! and fds; [`CgroupDir`]'s methods are thin layers over it. Nothing here writes to a cgroup the
//! caller does not name: which cgroups it may touch is the caller's policy.
//!
//! See `cgroups(7)`, `cgroup_namespaces(7)` and the kernel's `cgroup-v2.rst`.

use std::path::{Component, Path, PathBuf};

use crate::error::{DisplayPath, Errno, Error, Result};
use crate::mountinfo::{self, MountInfo};

mod dir;
pub mod forksafe;

pub use dir::{parse_keyed, parse_procs, parse_u64_or_max, CgroupDir};

/// Where the cgroup hierarchies are mounted on every usual host.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// The `statfs` magic of a cgroup v2 filesystem (`CGROUP2_SUPER_MAGIC`).
pub const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;

/// The `statfs` magic of a tmpfs (`TMPFS_MAGIC`).
pub const TMPFS_MAGIC: u64 = 0x0102_1994;

/// The `statfs` magic of a cgroup v1 filesystem (`CGROUP_SUPER_MAGIC`).
pub const CGROUP_SUPER_MAGIC: u64 = 0x0027_e0eb;

/// How a host's cgroup hierarchies are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v2 only, mounted at the root (`/sys/fs/cgroup`): every controller is there.
    Unified,
    /// v1 hierarchies under a tmpfs at the root, and a v2 hierarchy at `unified/` beside
    /// them, usually without controllers but with `cgroup.kill`, `cgroup.freeze` and
    /// `cgroup.events`.
    Hybrid,
    /// v1 hierarchies only (or no cgroup at the root at all).
    Legacy,
}

impl Layout {
    /// `statfs("/sys/fs/cgroup")`, and `statfs("/sys/fs/cgroup/unified")` when the first is a
    /// tmpfs: the host's layout. See [`Layout::detect_at`].
    ///
    /// See `statfs(2)`.
    pub fn detect() -> Result<Layout> {
        Layout::detect_at(DEFAULT_ROOT)
    }

    /// `statfs(root)`, and `statfs(root/unified)` when the first is a tmpfs: the layout of the
    /// hierarchies mounted at `root`, by runc's and youki's rule ([`Layout::from_magics`]).
    ///
    /// Only the filesystem types count, so a fake tree can only be [`Layout::Legacy`]: a
    /// temporary directory is no cgroup2 filesystem. Reproducing the others takes mounts (a
    /// tmpfs with a `cgroup2` mounted at `unified/` is hybrid, a `cgroup2` mount unified),
    /// which a test may make in a private mount namespace. A missing `unified/` is no error;
    /// a missing `root` is (`ENOENT`).
    ///
    /// See `statfs(2)`.
    pub fn detect_at(root: impl AsRef<Path>) -> Result<Layout> {
        let root = root.as_ref();
        let root_magic = statfs_magic(root)?;
        let unified_magic = if root_magic == TMPFS_MAGIC {
            match statfs_magic(&root.join("unified")) {
                Ok(magic) => Some(magic),
                Err(e) if e.errno() == Errno::NOENT => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        Ok(Layout::from_magics(root_magic, unified_magic))
    }

    /// The layout from the filesystem magics of the root and of its `unified/` directory
    /// (`None` when there is none): cgroup2 at the root is unified, a tmpfs there with a
    /// cgroup2 `unified/` is hybrid, anything else legacy.
    ///
    /// No system call.
    ///
    /// ```
    /// use furnace_sys::cgroup::{Layout, CGROUP2_SUPER_MAGIC, TMPFS_MAGIC};
    /// assert_eq!(Layout::from_magics(TMPFS_MAGIC, Some(CGROUP2_SUPER_MAGIC)), Layout::Hybrid);
    /// ```
    pub fn from_magics(root: u64, unified: Option<u64>) -> Layout {
        match (root, unified) {
            (CGROUP2_SUPER_MAGIC, _) => Layout::Unified,
            (TMPFS_MAGIC, Some(CGROUP2_SUPER_MAGIC)) => Layout::Hybrid,
            _ => Layout::Legacy,
        }
    }
}

/// `statfs(path)`: the magic number of the filesystem `path` is on.
fn statfs_magic(path: &Path) -> Result<u64> {
    let st = rustix::fs::statfs(path)
        .map_err(|e| Error::new("statfs", DisplayPath(path).to_string(), e).with_path(path))?;
    // Filesystem magics are 32-bit values; `f_type` is signed on some architectures.
    Ok(u64::from(st.f_type as u32))
}

/// One line of `/proc/<pid>/cgroup`: `ID:CONTROLLERS:PATH`.
///
/// See `cgroups(7)` (`/proc/<pid>/cgroup`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcCgroup {
    /// The hierarchy's id; 0 for the v2 hierarchy.
    pub hierarchy_id: u32,
    /// The v1 controllers bound to the hierarchy (`cpu`, `cpuacct`, `name=systemd`); empty for
    /// the v2 hierarchy.
    pub controllers: Vec<String>,
    /// The process's cgroup, relative to the hierarchy's root as the reader's cgroup namespace
    /// sees it (`/` at that root).
    pub path: PathBuf,
}

impl ProcCgroup {
    /// Whether this is the v2 hierarchy's line (`0::PATH`).
    ///
    /// No system call.
    pub fn is_v2(&self) -> bool {
        self.hierarchy_id == 0 && self.controllers.is_empty()
    }

    /// Whether this v1 hierarchy has `controller` (`memory`, `name=systemd`) bound.
    ///
    /// No system call.
    pub fn has_controller(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// Parses a `/proc/<pid>/cgroup` text, skipping lines not in its format.
///
/// No system call.
///
/// ```
/// use furnace_sys::cgroup::parse_proc_cgroup;
/// let lines = parse_proc_cgroup("4:memory:/a/b\n0::/user.slice/x.scope\n");
/// assert!(lines[0].has_controller("memory"));
/// assert!(lines[1].is_v2());
/// ```
pub fn parse_proc_cgroup(text: &str) -> Vec<ProcCgroup> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let hierarchy_id = fields.next()?.parse().ok()?;
            let controllers = fields
                .next()?
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            let path = fields.next()?;
            path.starts_with('/').then(|| ProcCgroup {
                hierarchy_id,
                controllers,
                path: PathBuf::from(path),
            })
        })
        .collect()
}

/// `open("/proc/self/cgroup")` and `read(2)`: this process's cgroup in every hierarchy.
///
/// See `cgroups(7)`.
pub fn own_cgroups() -> Result<Vec<ProcCgroup>> {
    let path = Path::new("/proc/self/cgroup");
    let text = std::fs::read_to_string(path).map_err(|e| {
        let errno = Errno::from_io_error(&e).unwrap_or(Errno::IO);
        Error::new("read", DisplayPath(path).to_string(), errno).with_path(path)
    })?;
    Ok(parse_proc_cgroup(&text))
}

/// Whether `mount` is the v1 hierarchy with `controller` bound (fstype `cgroup`, the
/// controller among its super options).
///
/// No system call.
pub fn is_v1_mount(mount: &MountInfo, controller: &str) -> bool {
    mount.fs_type == "cgroup" && mount.super_options.iter().any(|o| o == controller)
}

/// Whether `mount` is of the v2 hierarchy (fstype `cgroup2`).
///
/// No system call.
pub fn is_v2_mount(mount: &MountInfo) -> bool {
    mount.fs_type == "cgroup2"
}

/// The first of `mounts` that `is_hierarchy` accepts, preferring one under `/sys/fs/cgroup`.
///
/// No system call.
pub fn find_mount(
    mounts: &[MountInfo],
    is_hierarchy: impl Fn(&MountInfo) -> bool,
) -> Option<&MountInfo> {
    let mut found = mounts.iter().filter(|m| is_hierarchy(m));
    let first = found.next()?;
    if first.mount_point.starts_with(DEFAULT_ROOT) {
        return Some(first);
    }
    found
        .find(|m| m.mount_point.starts_with(DEFAULT_ROOT))
        .or(Some(first))
}

/// `open("/proc/self/mountinfo")` and `read(2)`: where the v1 hierarchy with `controller`
/// bound is mounted (`/sys/fs/cgroup/pids`); `None` when it is not mounted.
///
/// `controller` is as the kernel names it in the mount's options: `memory`, `pids`,
/// `name=systemd`. A mount under `/sys/fs/cgroup` is preferred to others of the same
/// hierarchy.
///
/// See `proc_pid_mountinfo(5)`, `cgroups(7)`.
pub fn v1_mount_point(controller: &str) -> Result<Option<PathBuf>> {
    let mounts = mountinfo::read(None)?;
    Ok(find_mount(&mounts, |m| is_v1_mount(m, controller)).map(|m| m.mount_point.clone()))
}

/// `open("/proc/self/mountinfo")` and `read(2)`: where the v2 hierarchy is mounted
/// (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on a hybrid host); `None` when it is not.
///
/// See `proc_pid_mountinfo(5)`, `cgroups(7)`.
pub fn v2_mount_point() -> Result<Option<PathBuf>> {
    let mounts = mountinfo::read(None)?;
    Ok(find_mount(&mounts, is_v2_mount).map(|m| m.mount_point.clone()))
}

/// The directory of the cgroup `path` (as `/proc/self/cgroup` gives it) under the mount
/// `mount` of its hierarchy; `None` when the mount does not reach it.
///
/// The mount shows the hierarchy from its root (mountinfo's fourth field), which is `/` for a
/// whole hierarchy but a sub-directory for a bind of one, or for a mount seen from a cgroup
/// namespace other than the one it was made in. That root is stripped from `path`; a `path`
/// outside it, or with `..` in it, is not reachable through this mount.
///
/// No system call.
///
/// ```
/// use furnace_sys::cgroup::cgroup_dir_in;
/// use furnace_sys::mountinfo::MountInfo;
/// use std::path::Path;
/// let line = "39 31 0:36 /sub /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids";
/// let mount = MountInfo::parse_line(line).unwrap();
/// let dir = cgroup_dir_in(&mount, Path::new("/sub/me"));
/// assert_eq!(dir.as_deref(), Some(Path::new("/sys/fs/cgroup/pids/me")));
/// ```
pub fn cgroup_dir_in(mount: &MountInfo, path: &Path) -> Option<PathBuf> {
    let relative = path.strip_prefix(&mount.root).ok()?;
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return None;
    }
    Some(mount.mount_point.join(relative))
}

/// The directory of the cgroup `entry` in the first of `mounts` that `is_hierarchy` accepts
/// and that reaches it, preferring mounts under `/sys/fs/cgroup`.
///
/// No system call.
pub fn own_dir_in(
    mounts: &[MountInfo],
    is_hierarchy: impl Fn(&MountInfo) -> bool,
    entry: &ProcCgroup,
) -> Option<PathBuf> {
    let reaching: Vec<MountInfo> = mounts
        .iter()
        .filter(|m| is_hierarchy(m) && cgroup_dir_in(m, &entry.path).is_some())
        .cloned()
        .collect();
    find_mount(&reaching, |_| true).and_then(|m| cgroup_dir_in(m, &entry.path))
}

/// `open("/proc/self/cgroup")`, `open("/proc/self/mountinfo")` and `read(2)`: the directory
/// of this process's own cgroup in the v1 hierarchy with `controller` bound
/// (`/sys/fs/cgroup/memory/some/where`); `None` when that hierarchy is not mounted where this
/// process can reach its cgroup.
///
/// See `cgroups(7)`, `proc_pid_mountinfo(5)`, `cgroup_namespaces(7)`.
pub fn own_cgroup_dir_v1(controller: &str) -> Result<Option<PathBuf>> {
    let Some(entry) = own_cgroups()?
        .into_iter()
        .find(|e| !e.is_v2() && e.has_controller(controller))
    else {
        return Ok(None);
    };
    let mounts = mountinfo::read(None)?;
    Ok(own_dir_in(&mounts, |m| is_v1_mount(m, controller), &entry))
}

/// `open("/proc/self/cgroup")`, `open("/proc/self/mountinfo")` and `read(2)`: the directory
/// of this process's own cgroup in the v2 hierarchy (`/sys/fs/cgroup/user.slice/...`, or
/// under `/sys/fs/cgroup/unified` on a hybrid host); `None` when there is none this process
/// can reach.
///
/// See `cgroups(7)`, `proc_pid_mountinfo(5)`, `cgroup_namespaces(7)`.
pub fn own_cgroup_dir_v2() -> Result<Option<PathBuf>> {
    let Some(entry) = own_cgroups()?.into_iter().find(ProcCgroup::is_v2) else {
        return Ok(None);
    };
    let mounts = mountinfo::read(None)?;
    Ok(own_dir_in(&mounts, is_v2_mount, &entry))
}

/// `readdir(dir)` of every directory under `root`, at any depth: the cgroup directories
/// whose name starts with `prefix` (`furnace-`), in every hierarchy of a `/sys/fs/cgroup`.
/// Symlinks (`cpu -> cpu,cpuacct`) are not followed, so nothing is listed twice; directories
/// that vanish while the tree is read are skipped.
///
/// See `readdir(3)`.
pub fn dirs_with_prefix(
    root: impl AsRef<Path>,
    prefix: &str,
) -> std::collections::BTreeSet<PathBuf> {
    let mut found = std::collections::BTreeSet::new();
    let mut stack = vec![root.as_ref().to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with(prefix) {
                found.insert(path.clone());
            }
            stack.push(path);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/proc/self/cgroup` of a shell on this kind of (hybrid) machine.
    const HYBRID: &str = "\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/d7b1118f7a46dc18ac883d39221b85b9
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

    /// The cgroup mounts of the same machine, and a second mount of the memory hierarchy
    /// elsewhere (a bind of a sub-directory), listed first.
    const MOUNTS: &str = "\
90 22 0:32 /process_api /mnt/memory rw - cgroup cgroup rw,memory
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_proc_cgroup_has_every_hierarchy() {
        let lines = parse_proc_cgroup(HYBRID);
        assert_eq!(lines.len(), 10);
        assert_eq!(
            lines[0],
            ProcCgroup {
                hierarchy_id: 9,
                controllers: vec!["name=systemd".into()],
                path: PathBuf::from("/"),
            }
        );
        let memory = lines.iter().find(|l| l.has_controller("memory")).unwrap();
        assert_eq!(memory.hierarchy_id, 4);
        assert_eq!(
            memory.path,
            Path::new("/process_api/d7b1118f7a46dc18ac883d39221b85b9")
        );
        assert!(!memory.is_v2());
        let v2: Vec<_> = lines.iter().filter(|l| l.is_v2()).collect();
        assert_eq!(v2.len(), 1);
        assert_eq!(v2[0].path, Path::new("/"));
    }

    #[test]
    fn pure_v2_and_comounted_lines() {
        let lines = parse_proc_cgroup("0::/user.slice/x.scope\n");
        assert_eq!(
            lines,
            vec![ProcCgroup {
                hierarchy_id: 0,
                controllers: vec![],
                path: PathBuf::from("/user.slice/x.scope"),
            }]
        );
        assert!(lines[0].is_v2());
        let lines = parse_proc_cgroup("3:cpu,cpuacct:/a:b\n");
        assert!(lines[0].has_controller("cpu") && lines[0].has_controller("cpuacct"));
        assert_eq!(
            lines[0].path,
            Path::new("/a:b"),
            "a colon in the path stays"
        );
    }

    #[test]
    fn malformed_proc_cgroup_lines_are_skipped() {
        assert!(parse_proc_cgroup("").is_empty());
        assert!(parse_proc_cgroup("x::/\n1:cpu\n2:cpu:relative\n").is_empty());
    }

    #[test]
    fn layout_by_runc_and_youki_rule() {
        use Layout::*;
        assert_eq!(Layout::from_magics(CGROUP2_SUPER_MAGIC, None), Unified);
        let hybrid = Layout::from_magics(TMPFS_MAGIC, Some(CGROUP2_SUPER_MAGIC));
        assert_eq!(hybrid, Hybrid);
        assert_eq!(Layout::from_magics(TMPFS_MAGIC, None), Legacy);
        assert_eq!(Layout::from_magics(TMPFS_MAGIC, Some(TMPFS_MAGIC)), Legacy);
        let v1_unified = Layout::from_magics(TMPFS_MAGIC, Some(CGROUP_SUPER_MAGIC));
        assert_eq!(v1_unified, Legacy);
        // Something other than tmpfs at the root: legacy, whatever is below.
        assert_eq!(
            Layout::from_magics(0xef53, Some(CGROUP2_SUPER_MAGIC)),
            Legacy
        );
        assert_eq!(Layout::from_magics(CGROUP_SUPER_MAGIC, None), Legacy);
    }

    #[test]
    fn a_fake_tree_is_legacy_and_a_missing_root_an_error() {
        let dir = std::env::temp_dir().join(format!("furnace-cgroup-fake-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("unified")).unwrap();
        let layout = Layout::detect_at(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(layout, Ok(Layout::Legacy));
        let err = Layout::detect_at("/nonexistent/cgroup").unwrap_err();
        assert_eq!((err.call(), err.errno()), ("statfs", Errno::NOENT));
    }

    #[test]
    fn mounts_are_found_by_controller_preferring_sys_fs_cgroup() {
        let mounts = mountinfo::parse(MOUNTS);
        let memory = find_mount(&mounts, |m| is_v1_mount(m, "memory")).unwrap();
        assert_eq!(memory.mount_point, Path::new("/sys/fs/cgroup/memory"));
        let systemd = find_mount(&mounts, |m| is_v1_mount(m, "name=systemd")).unwrap();
        assert_eq!(systemd.mount_point, Path::new("/sys/fs/cgroup/systemd"));
        let v2 = find_mount(&mounts, is_v2_mount).unwrap();
        assert_eq!(v2.mount_point, Path::new("/sys/fs/cgroup/unified"));
        assert!(find_mount(&mounts, |m| is_v1_mount(m, "hugetlb")).is_none());
        // Only elsewhere: taken all the same.
        let only = mountinfo::parse("90 22 0:32 / /cg rw - cgroup2 cgroup2 rw\n");
        assert_eq!(
            find_mount(&only, is_v2_mount).unwrap().mount_point,
            Path::new("/cg")
        );
    }

    #[test]
    fn own_dirs_join_the_mount_point_and_strip_its_root() {
        let mounts = mountinfo::parse(MOUNTS);
        let lines = parse_proc_cgroup(HYBRID);
        let memory = lines.iter().find(|l| l.has_controller("memory")).unwrap();
        let dir = own_dir_in(&mounts, |m| is_v1_mount(m, "memory"), memory);
        assert_eq!(
            dir.unwrap(),
            Path::new("/sys/fs/cgroup/memory/process_api/d7b1118f7a46dc18ac883d39221b85b9")
        );
        let v2 = lines.iter().find(|l| l.is_v2()).unwrap();
        let dir = own_dir_in(&mounts, is_v2_mount, v2);
        assert_eq!(dir.unwrap(), Path::new("/sys/fs/cgroup/unified"));
        // The bind of /process_api reaches it too, through its own root.
        let bind = &mounts[0];
        assert_eq!(
            cgroup_dir_in(bind, &memory.path).unwrap(),
            Path::new("/mnt/memory/d7b1118f7a46dc18ac883d39221b85b9")
        );
        // Outside a mount's root, or up through `..` (a cgroup namespace's view of a cgroup
        // outside it): not reachable.
        assert_eq!(cgroup_dir_in(bind, Path::new("/other")), None);
        let root = &mounts[4];
        assert_eq!(cgroup_dir_in(root, Path::new("/../x")), None);
        // Only the bind reaches a cgroup when the whole hierarchy is not mounted.
        let only_bind = &mounts[..1];
        let dir = own_dir_in(only_bind, |m| is_v1_mount(m, "memory"), memory);
        assert_eq!(
            dir.unwrap(),
            Path::new("/mnt/memory/d7b1118f7a46dc18ac883d39221b85b9")
        );
        let elsewhere = ProcCgroup {
            hierarchy_id: 4,
            controllers: vec!["memory".into()],
            path: PathBuf::from("/elsewhere"),
        };
        assert_eq!(own_dir_in(only_bind, |_| true, &elsewhere), None);
    }

    #[test]
    fn this_process_has_cgroups() {
        let own = own_cgroups().unwrap();
        assert!(!own.is_empty());
        assert!(own.iter().all(|l| l.path.is_absolute()));
    }
}
