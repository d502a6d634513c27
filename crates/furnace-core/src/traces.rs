//! What a start made in the root directory, and its removal once the container is gone.
//!
//! PID 1 makes what the root lacks for its mounts — `/proc` in a bare root, a bind's
//! destination, an empty `/etc/resolv.conf` — and reports each thing it made by its number in
//! [`Plan::made`](crate::plan::Plan::made) (the `MADE` records of [`crate::init`]). The parent
//! keeps the list, and when the container has ended (teardown, a failed start, a detached
//! container's stop) removes them, deepest first:
//!
//! - beneath an fd of the root opened before the fork, one component at a time with
//!   `openat2(RESOLVE_BENEATH)` and `O_NOFOLLOW`: no symlink is ever followed, nothing outside
//!   the root is reached;
//! - only what PID 1 reported, a directory only while empty (`rmdir` refuses any other), a
//!   file only while it is an empty regular file;
//! - not at all while another process has the same root as its root — another container over
//!   it, whose mount points these may also be: removing a directory that is a mount point in
//!   another mount namespace detaches that mount there.
//!
//! The directories something was made in (the "anchors") get their modification time back
//! when their entries are again those they had before the start.
//!
//! For a detached container the list is also written next to its state in the registry
//! (`made.json`), so that any process that stops it removes them.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use furnace_sys::fd::{forksafe as fd, Mode, OFlags};
use furnace_sys::fs::{AtFlags, FileType};
use furnace_sys::Errno;

use crate::paths::cstring;
use crate::plan::Plan;

/// The file a detached container's list is kept in, in its registry directory.
const FILE: &str = "made.json";

/// What one start made in its root, and what it found there before.
#[derive(Debug)]
pub(crate) struct Traces {
    /// The root, `O_PATH`, opened before the fork.
    root: Arc<OwnedFd>,
    /// Everything PID 1 might make (relative path, directory), by number.
    candidates: Vec<(PathBuf, bool)>,
    /// The numbers PID 1 reported, in the order it made them.
    made: Vec<usize>,
    /// The directories things were expected to be made in, as they were before.
    anchors: Vec<Anchor>,
    /// An overlay work directory furnace made next to the upper one.
    work: Option<PathBuf>,
}

/// A directory of the root as it was before the start.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Anchor {
    /// Relative to the root (empty: the root itself), as bytes.
    path: Vec<u8>,
    /// `st_mtime`, `st_mtime_nsec`.
    mtime: (i64, i64),
    /// Its entries' names, as bytes.
    names: BTreeSet<Vec<u8>>,
}

/// What a detached container's `made.json` holds.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Saved {
    /// What was made, in order: (relative path, directory).
    made: Vec<(Vec<u8>, bool)>,
    anchors: Vec<Anchor>,
    work: Option<Vec<u8>>,
}

impl Traces {
    /// Before the fork: the root's fd and the candidates of `plan`, and the state of the
    /// directories PID 1 is expected to make something in (the parents of the candidates
    /// the root lacked when the inputs were checked). `work`: an own overlay work directory.
    pub(crate) fn before(plan: &Plan, work: Option<&Path>) -> Option<Traces> {
        if plan.made.is_empty() && work.is_none() {
            return None;
        }
        let root = Arc::clone(plan.root_fd.as_ref()?);
        let candidates: Vec<(PathBuf, bool)> = plan
            .made
            .iter()
            .map(|m| (PathBuf::from(OsStr::from_bytes(m.path.as_bytes())), m.dir))
            .collect();
        let mut anchors: Vec<Anchor> = Vec::new();
        for ((path, _), made) in candidates.iter().zip(&plan.made) {
            let parent = path.parent().unwrap_or(Path::new(""));
            let parent_made = plan
                .made
                .iter()
                .any(|m| m.expected && m.path.as_bytes() == parent.as_os_str().as_bytes());
            let known = anchors
                .iter()
                .any(|a| a.path == parent.as_os_str().as_bytes());
            if made.expected && !parent_made && !known {
                anchors.extend(Anchor::of(root.as_fd(), parent));
            }
        }
        Some(Traces {
            root,
            candidates,
            made: Vec::new(),
            anchors,
            work: work.map(Path::to_path_buf),
        })
    }

    /// PID 1 made candidate `number`.
    pub(crate) fn record(&mut self, number: u32) {
        let number = number as usize;
        if number < self.candidates.len() && !self.made.contains(&number) {
            self.made.push(number);
        }
    }

    /// Whether there is nothing to remove.
    pub(crate) fn is_empty(&self) -> bool {
        self.made.is_empty() && self.work.is_none()
    }

    /// Removes what was made (see the module's doc), once the container is gone. What cannot
    /// be removed stays, silently: this runs in teardown, where nothing can be done about it.
    pub(crate) fn remove(&self) {
        if !self.made.is_empty() && !root_in_use(self.root.as_fd()) {
            for &number in self.made.iter().rev() {
                if let Some((path, dir)) = self.candidates.get(number) {
                    let _ = remove_one(self.root.as_fd(), path, *dir);
                }
            }
            for anchor in &self.anchors {
                anchor.restore(self.root.as_fd());
            }
        }
        if let Some(work) = &self.work {
            remove_work_dir(work);
        }
    }

    /// Writes the list next to a detached container's state (nothing when there is nothing
    /// to remove).
    pub(crate) fn save(&self, dir: &Path) -> std::io::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let saved = Saved {
            made: self
                .made
                .iter()
                .filter_map(|&n| self.candidates.get(n))
                .map(|(path, dir)| (path.as_os_str().as_bytes().to_vec(), *dir))
                .collect(),
            anchors: self.anchors.clone(),
            work: self
                .work
                .as_ref()
                .map(|w| w.as_os_str().as_bytes().to_vec()),
        };
        let json = serde_json::to_vec(&saved).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(FILE), json)
    }

    /// The list a detached container's registry directory `dir` holds, for its root `root`
    /// (`None`: nothing was made, or it cannot be read).
    pub(crate) fn load(dir: &Path, root: &Path) -> Option<Traces> {
        let saved: Saved = serde_json::from_slice(&std::fs::read(dir.join(FILE)).ok()?).ok()?;
        let root = Arc::new(open_root(root)?);
        let candidates: Vec<(PathBuf, bool)> = saved
            .made
            .into_iter()
            .map(|(path, dir)| (PathBuf::from(OsString::from_vec(path)), dir))
            .collect();
        Some(Traces {
            root,
            made: (0..candidates.len()).collect(),
            candidates,
            anchors: saved.anchors,
            work: saved.work.map(|w| PathBuf::from(OsString::from_vec(w))),
        })
    }
}

impl Anchor {
    /// `path` (relative to the root) as it is now; `None` when it cannot be read.
    fn of(root: BorrowedFd<'_>, path: &Path) -> Option<Anchor> {
        let dir = open_dir(root, path)?;
        let st = rustix::fs::fstat(&dir).ok()?;
        Some(Anchor {
            path: path.as_os_str().as_bytes().to_vec(),
            mtime: (st.st_mtime, st.st_mtime_nsec as i64),
            names: names(dir)?,
        })
    }

    /// Sets the directory's modification time back if its entries are those it had.
    fn restore(&self, root: BorrowedFd<'_>) {
        let path = Path::new(OsStr::from_bytes(&self.path));
        let Some(dir) = open_dir(root, path) else {
            return;
        };
        let Ok(dup) = rustix::io::fcntl_dupfd_cloexec(&dir, 3) else {
            return;
        };
        if names(dup).as_ref() != Some(&self.names) {
            return;
        }
        let times = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: self.mtime.0,
                tv_nsec: self.mtime.1 as _,
            },
        };
        let _ = rustix::fs::futimens(&dir, &times);
    }
}

/// Opens `path` (relative to `root`) one component at a time, following no symlink.
fn walk(root: BorrowedFd<'_>, path: &Path, last: OFlags) -> Result<OwnedFd, Errno> {
    if path.as_os_str().is_empty() {
        return fd::openat_beneath(root, c".", last, Mode::empty());
    }
    let mut at = fd::dup_above_stdio(root)?;
    let mut parts = path.iter().peekable();
    while let Some(part) = parts.next() {
        let flags = if parts.peek().is_some() {
            OFlags::PATH | OFlags::DIRECTORY
        } else {
            last
        };
        at = fd::openat_beneath(
            at.as_fd(),
            &cstring(part),
            flags | OFlags::NOFOLLOW,
            Mode::empty(),
        )?;
    }
    Ok(at)
}

/// The root, `O_PATH`, numbered 3 or above (a caller with stdio closed would otherwise get it
/// as a command's stdin).
fn open_root(root: &Path) -> Option<OwnedFd> {
    let fd = fd::open(
        &cstring(root),
        OFlags::PATH | OFlags::DIRECTORY,
        Mode::empty(),
    )
    .ok()?;
    furnace_sys::fd::above_stdio(fd).ok()
}

/// The directory `path` opened for reading (to list it, to set its times).
fn open_dir(root: BorrowedFd<'_>, path: &Path) -> Option<OwnedFd> {
    walk(root, path, OFlags::RDONLY | OFlags::DIRECTORY).ok()
}

/// The names in the directory `dir` (consumed).
fn names(dir: OwnedFd) -> Option<BTreeSet<Vec<u8>>> {
    let entries = rustix::fs::Dir::new(dir).ok()?;
    let mut names = BTreeSet::new();
    for entry in entries {
        let entry = entry.ok()?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.insert(name.to_vec());
        }
    }
    Some(names)
}

/// Removes `path` (relative to `root`) if it is still what was made: an empty directory, or
/// an empty regular file.
fn remove_one(root: BorrowedFd<'_>, path: &Path, dir: bool) -> Result<(), Errno> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Errno::INVAL);
    };
    let parent = walk(root, parent, OFlags::PATH | OFlags::DIRECTORY)?;
    let found = fd::openat_beneath(
        parent.as_fd(),
        &cstring(name),
        OFlags::PATH | OFlags::NOFOLLOW,
        Mode::empty(),
    )?;
    let st = furnace_sys::fs::forksafe::fstat(found.as_fd())?;
    let kind = FileType::from_raw_mode(st.st_mode);
    match (dir, kind) {
        (true, FileType::Directory) => {
            furnace_sys::fs::forksafe::unlinkat(parent.as_fd(), &cstring(name), AtFlags::REMOVEDIR)
        }
        (false, FileType::RegularFile) if st.st_size == 0 => {
            furnace_sys::fs::forksafe::unlinkat(parent.as_fd(), &cstring(name), AtFlags::empty())
        }
        _ => Err(Errno::NOTEMPTY),
    }
}

/// Removes an overlay work directory furnace made, once its overlay is gone: overlayfs leaves
/// `work/` in it (and `index/` with the index feature), holding at most the whiteouts it keeps
/// for reuse (`#…`, character devices 0:0). Anything else stays, and so does the directory.
fn remove_work_dir(work: &Path) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    for inner in ["work", "index"] {
        let inner = work.join(inner);
        for entry in std::fs::read_dir(&inner).into_iter().flatten().flatten() {
            let whiteout = std::fs::symlink_metadata(entry.path())
                .is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == 0);
            if whiteout {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let _ = std::fs::remove_dir(&inner);
    }
    let _ = std::fs::remove_dir(work);
}

/// Whether a process other than this one has the directory `root` as its root (another
/// container over it, a `chroot`): its `/proc/<pid>/root` is the same inode. Processes this
/// one may not look at are passed over.
fn root_in_use(root: BorrowedFd<'_>) -> bool {
    let Ok(st) = rustix::fs::fstat(root) else {
        return true;
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    let me = std::process::id().to_string();
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let is_pid = name.as_bytes().iter().all(u8::is_ascii_digit);
        if !is_pid || name.as_bytes() == me.as_bytes() {
            return false;
        }
        let link = Path::new("/proc").join(&name).join("root");
        rustix::fs::stat(&link)
            .is_ok_and(|other| other.st_dev == st.st_dev && other.st_ino == st.st_ino)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn only_what_was_made_is_removed_and_never_through_a_symlink() {
        let base = std::env::temp_dir().join(format!("furnace-unit-{}-traces", std::process::id()));
        let root = base.join("root");
        let outside = base.join("outside");
        std::fs::create_dir_all(root.join("kept")).unwrap();
        std::fs::create_dir_all(outside.join("d")).unwrap();
        std::fs::write(root.join("kept/file"), "x").unwrap();
        let root_fd = fd::open(
            &cstring(&root),
            OFlags::PATH | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .unwrap();
        let mut traces = Traces {
            root: Arc::new(root_fd),
            candidates: vec![
                (PathBuf::from("made"), true),
                (PathBuf::from("made/inner"), true),
                (PathBuf::from("made/empty"), false),
                (PathBuf::from("kept"), true),
                (PathBuf::from("link/d"), true),
                (PathBuf::from("full"), false),
            ],
            made: Vec::new(),
            anchors: Vec::new(),
            work: None,
        };
        std::fs::create_dir_all(root.join("made/inner")).unwrap();
        std::fs::write(root.join("made/empty"), "").unwrap();
        std::fs::write(root.join("full"), "data").unwrap();
        symlink(&outside, root.join("link")).unwrap();
        for n in 0..6 {
            traces.record(n);
        }
        traces.record(99);
        assert_eq!(traces.made, [0, 1, 2, 3, 4, 5]);
        // Not through /proc's look at who uses the root: that is the integration tests'.
        for &number in traces.made.iter().rev() {
            let (path, dir) = &traces.candidates[number];
            let _ = remove_one(traces.root.as_fd(), path, *dir);
        }
        let left: Vec<bool> = ["made", "kept/file", "full", "link"]
            .iter()
            .map(|p| std::fs::symlink_metadata(root.join(p)).is_ok())
            .collect();
        let outside_kept = outside.join("d").is_dir();
        std::fs::remove_dir_all(&base).unwrap();
        assert_eq!(left, [false, true, true, true]);
        assert!(
            outside_kept,
            "nothing outside the root is touched through a symlink"
        );
    }

    #[test]
    fn an_anchor_gets_its_time_back_only_when_its_entries_are_as_before() {
        let root = std::env::temp_dir().join(format!("furnace-unit-{}-anchor", std::process::id()));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        let root_fd = fd::open(
            &cstring(&root),
            OFlags::PATH | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .unwrap();
        let anchor = Anchor::of(root_fd.as_fd(), Path::new("etc")).unwrap();
        let mtime = || {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(root.join("etc")).unwrap();
            (m.mtime(), m.mtime_nsec())
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(root.join("etc/resolv.conf"), "").unwrap();
        anchor.restore(root_fd.as_fd());
        let while_there = mtime();
        std::fs::remove_file(root.join("etc/resolv.conf")).unwrap();
        anchor.restore(root_fd.as_fd());
        let after = mtime();
        std::fs::remove_dir_all(&root).unwrap();
        assert_ne!(while_there, anchor.mtime);
        assert_eq!(after, anchor.mtime);
    }
}
