//! Host-side fixtures: an outside directory with a marker that must stay untouched, symlinks
//! planted in a root that lead to it, bind sources, host mount guards, and a harness pids cgroup
//! that fences fork bombs.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use furnace_sys::mount::{MountFlags, UnmountFlags};

use crate::mounts::mount_points_under;
use crate::scratch::{unique_name, TempDir};
use crate::DEADLINE;

// ---------------------------------------------------------------------------------------------
// A host directory that nothing may touch

/// A host directory outside every root, holding one marker file. Tests point symlinks of a
/// root at it and then check that nothing was created, changed or mounted there.
#[derive(Debug)]
pub struct Outside {
    dir: TempDir,
    content: String,
}

impl Outside {
    /// Makes `/tmp/furnace-test-{tag}-*` with a file `marker`.
    pub fn new(tag: &str) -> Outside {
        let dir = TempDir::new(tag);
        let content = format!("marker of {}\n", dir.path().display());
        fs::write(dir.join("marker"), &content).expect("write the outside marker");
        Outside { dir, content }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Panics unless the directory holds exactly its marker — a regular file, not a symlink,
    /// with its content — and nothing is mounted at or under it.
    pub fn assert_untouched(&self, context: &str) {
        let mut names: Vec<String> = fs::read_dir(self.path())
            .unwrap_or_else(|e| panic!("{context}: list {}: {e}", self.path().display()))
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec!["marker".to_owned()],
            "{context}: something was created in the outside directory {}",
            self.path().display()
        );
        let marker = self.dir.join("marker");
        let meta = fs::symlink_metadata(&marker).expect("lstat the marker");
        assert!(
            meta.file_type().is_file(),
            "{context}: the marker became {:?}",
            meta.file_type()
        );
        assert_eq!(
            fs::read_to_string(&marker).expect("read the marker"),
            self.content,
            "{context}: the marker's content changed"
        );
        assert_eq!(
            mount_points_under(self.path()),
            Vec::<PathBuf>::new(),
            "{context}: something is mounted on the outside directory"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Paths in a root that lead somewhere

/// Replaces whatever is at `path` (a directory, a file or nothing) with a symlink to `target`.
pub fn symlink_over(path: &Path, target: impl AsRef<Path>) {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).expect("remove the directory"),
        Ok(_) => fs::remove_file(path).expect("remove the file"),
        Err(_) => {}
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create the symlink's directory");
    }
    std::os::unix::fs::symlink(target.as_ref(), path)
        .unwrap_or_else(|e| panic!("symlink {}: {e}", path.display()));
}

/// As many `..` as lead from `dir` (absolute) to `/`, and a few more.
pub fn up_from(dir: &Path) -> PathBuf {
    let depth = dir
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .count();
    (0..depth + 3).map(|_| "..").collect()
}

/// The relative spelling of `outside` from a symlink living in directory `dir`.
pub fn relative_to_outside(dir: &Path, outside: &Outside) -> PathBuf {
    up_from(dir).join(outside.path().strip_prefix("/").expect("absolute"))
}

/// A directory `/tmp/furnace-test-{tag}-*` with a file `payload` (`payload of {tag}`), as a
/// bind source.
pub fn bind_source(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    fs::write(dir.join("payload"), format!("payload of {tag}\n")).expect("write");
    dir
}

/// The last component of `path`, lossily.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

// ---------------------------------------------------------------------------------------------
// Mounts made by the test on the host

/// A mount the test made on the host, detached (with anything under it) when dropped.
#[derive(Debug)]
pub struct HostMount {
    target: PathBuf,
    mounted: bool,
}

impl HostMount {
    /// Mounts a small tmpfs on `target` (an existing directory).
    pub fn tmpfs(target: impl Into<PathBuf>) -> HostMount {
        Self::tmpfs_with(target, "1m", MountFlags::NOSUID | MountFlags::NODEV)
    }

    /// Mounts a tmpfs of at most `size` (`64m`) with `flags` on `target` (an existing
    /// directory).
    pub fn tmpfs_with(target: impl Into<PathBuf>, size: &str, flags: MountFlags) -> HostMount {
        let target = target.into();
        furnace_sys::mount::mount(
            Some("furnace-test"),
            &target,
            "tmpfs",
            flags,
            Some(format!("size={size},mode=755").as_str()),
        )
        .unwrap_or_else(|e| panic!("mount a tmpfs on {}: {e}", target.display()));
        HostMount {
            target,
            mounted: true,
        }
    }

    /// Bind-mounts `source` (recursively) on `target`.
    pub fn bind(source: impl AsRef<Path>, target: impl Into<PathBuf>) -> HostMount {
        let target = target.into();
        furnace_sys::mount::bind_recursive(source.as_ref(), &target).unwrap_or_else(|e| {
            panic!(
                "bind {} on {}: {e}",
                source.as_ref().display(),
                target.display()
            )
        });
        HostMount {
            target,
            mounted: true,
        }
    }

    /// Its mount point.
    pub fn path(&self) -> &Path {
        &self.target
    }

    /// Unmounts it *without* `MNT_DETACH`: an error (`EBUSY`) means something pins it.
    pub fn unmount(mut self) -> Result<(), furnace_sys::Error> {
        furnace_sys::mount::umount2(&self.target, UnmountFlags::empty())?;
        self.mounted = false;
        Ok(())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        if self.mounted {
            let _ = furnace_sys::mount::umount2(&self.target, UnmountFlags::DETACH);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The harness pids cgroup (cgroup v1 `pids` controller)

/// Where this machine's cgroup v1 `pids` hierarchy is mounted.
pub const PIDS_HIERARCHY: &str = "/sys/fs/cgroup/pids";

/// A pids cgroup the test made, `/sys/fs/cgroup/pids/furnace-test-*`, with `pids.max` set
/// before anything is put in it. Dropping it SIGKILLs whatever is still in it (processes the
/// test started, in a container), waits until it is empty and removes it.
#[derive(Debug)]
pub struct PidsCgroup {
    path: PathBuf,
}

impl PidsCgroup {
    /// Creates the cgroup and sets `pids.max`.
    ///
    /// # Panics
    /// Loudly when the pids controller is missing: fork bombs never run unfenced.
    pub fn new(max: u32) -> PidsCgroup {
        let hierarchy = Path::new(PIDS_HIERARCHY);
        assert!(
            hierarchy.join("cgroup.procs").exists(),
            "no cgroup v1 pids hierarchy at {PIDS_HIERARCHY}: the fork-bomb test needs the pids \
             controller to fence the bomb and refuses to run it unfenced"
        );
        let path = hierarchy.join(unique_name("pids"));
        fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("create the pids cgroup {}: {e}", path.display()));
        let cgroup = PidsCgroup { path };
        assert!(
            cgroup.path.join("pids.max").exists(),
            "{} has no pids.max: the pids controller is not usable here",
            cgroup.path.display()
        );
        fs::write(cgroup.path.join("pids.max"), max.to_string())
            .unwrap_or_else(|e| panic!("set pids.max of {}: {e}", cgroup.path.display()));
        assert_eq!(cgroup.max(), Some(max), "pids.max took the value");
        cgroup
    }

    /// Its directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `pids.max` (`None` for `max`).
    pub fn max(&self) -> Option<u32> {
        fs::read_to_string(self.path.join("pids.max"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Moves process `pid` (host pid) into the cgroup; its future children are born there.
    pub fn add(&self, pid: u32) {
        fs::write(self.path.join("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|e| panic!("move {pid} into {}: {e}", self.path.display()));
    }

    /// The processes in it.
    pub fn procs(&self) -> Vec<u32> {
        fs::read_to_string(self.path.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// `pids.current`.
    pub fn current(&self) -> u32 {
        fs::read_to_string(self.path.join("pids.current"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let procs = self.procs();
            if procs.is_empty() || Instant::now() >= deadline {
                break;
            }
            // These are processes the test started (inside its container) and put into its
            // own cgroup.
            for pid in procs {
                let _ = crate::proc::sigkill(pid);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // rmdir succeeds once the last process is gone (zombies included).
        let deadline = Instant::now() + DEADLINE;
        loop {
            match fs::remove_dir(&self.path) {
                Ok(()) => return,
                Err(e) if e.kind() == ErrorKind::NotFound => return,
                Err(e) if Instant::now() >= deadline => {
                    eprintln!(
                        "furnace-tests: cannot remove the pids cgroup {}: {e}",
                        self.path.display()
                    );
                    return;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}
