//! What belongs to the run: the predicates the leak audit applies to mounts, loop devices,
//! processes and cgroups, so that it counts what the run made and nothing a neighbour (podman,
//! systemd, a second engineer's shell) did meanwhile.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use furnace_sys::mountinfo::MountInfo;
use furnace_sys::process::ProcStat;

use crate::util::{self, Lineage};

/// Names of the run's scratch directories directly in a temporary directory: xtask's image
/// mount points (`furnace-itest.XXXXXX`, ...), the tests' (`furnace-test-*`, `furnace-sys-*`,
/// `furnace-cli-test.*`).
pub const SCRATCH_PREFIX: &str = "furnace-";

/// The run's scratch paths.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Directories whose `furnace-*` entries are scratch (`/tmp`, and `$TMPDIR` when it differs).
    pub tmp_dirs: Vec<PathBuf>,
    /// Directories that are scratch as a whole: the workspace's `target/` (the image lives in
    /// `target/furnace-image/`) and `$CARGO_TARGET_DIR`.
    pub trees: Vec<PathBuf>,
}

impl Scope {
    /// The scratch paths of a run of this workspace.
    pub fn current() -> Scope {
        let mut tmp_dirs = vec![PathBuf::from("/tmp")];
        let tmp = std::env::temp_dir();
        if !tmp_dirs.contains(&tmp) {
            tmp_dirs.push(tmp);
        }
        let mut trees = vec![util::workspace_root().join("target")];
        let target = util::target_dir();
        if !trees.contains(&target) {
            trees.push(target);
        }
        Scope { tmp_dirs, trees }
    }

    /// Whether `path` (as the kernel prints it; a `" (deleted)"` suffix is ignored) lies in a
    /// scratch path.
    pub fn is_scratch(&self, path: impl AsRef<Path>) -> bool {
        let bytes = path.as_ref().as_os_str().as_bytes();
        let path = Path::new(OsStr::from_bytes(
            bytes.strip_suffix(b" (deleted)").unwrap_or(bytes),
        ));
        if !path.is_absolute() {
            return false;
        }
        if self.trees.iter().any(|t| path.starts_with(t)) {
            return true;
        }
        self.tmp_dirs.iter().any(|tmp| {
            path.strip_prefix(tmp)
                .ok()
                .and_then(|rest| rest.components().next())
                .is_some_and(|first| {
                    first
                        .as_os_str()
                        .to_string_lossy()
                        .starts_with(SCRATCH_PREFIX)
                })
        })
    }

    /// Whether a loop device with this backing file (`losetup`'s `BACK-FILE`) is the run's: its
    /// file is the test image or lies in a scratch path.
    pub fn owns_loop(&self, back_file: &str) -> bool {
        self.is_scratch(back_file)
    }

    /// Whether a mount is the run's: its mount point or source lies in a scratch path, its
    /// source is one of `run_loops` (the run's loop devices), or it is an overlay whose layers
    /// lie in scratch paths.
    pub fn owns_mount(&self, mount: &MountInfo, run_loops: &BTreeSet<String>) -> bool {
        self.is_scratch(&mount.mount_point)
            || self.is_scratch(&mount.source)
            || mount.source.to_str().is_some_and(|s| run_loops.contains(s))
            || layer_dirs(mount).any(|dir| self.is_scratch(dir))
    }
}

/// The overlay's `lowerdir`, `upperdir` and `workdir` directories (none for other types).
fn layer_dirs(mount: &MountInfo) -> impl Iterator<Item = &str> {
    let overlay = mount.fs_type == "overlay";
    mount
        .super_options
        .iter()
        .filter(move |_| overlay)
        .filter_map(|opt| {
            ["lowerdir=", "upperdir=", "workdir="]
                .iter()
                .find_map(|key| opt.strip_prefix(key))
        })
        .flat_map(|dirs| dirs.split(':'))
}

/// `mount point fstype source`: what the audit counts and prints of a mount.
pub fn mount_key(mount: &MountInfo) -> String {
    format!(
        "{} {} {}",
        mount.mount_point.display(),
        mount.fs_type,
        mount.source.to_string_lossy()
    )
}

/// Whether a process that was not there before the run is the run's: it descends from xtask
/// (`me`). xtask is a child sub-reaper (`util::become_subreaper`), so what the run orphans —
/// a container whose owner died, a double-forked daemon — is re-parented to xtask and still
/// descends from it; a process of podman, systemd or another shell never does.
pub fn is_ours(pid: u32, me: u32, procs: &HashMap<u32, ProcStat>) -> Lineage {
    util::lineage(pid, me, procs)
}

/// The prefix of the cgroups furnace makes (`furnace-<pid>-<start time>-<n>`) and of the
/// suite's own (`furnace-test-<tag>-<pid>-<n>-<nanos>`, the fork-bomb fence).
pub const CGROUP_PREFIX: &str = "furnace-";

/// Who made a `furnace-*` cgroup, as its name records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupOwner {
    /// A container's: `furnace-<pid>-<start time>-<n>`.
    Container { pid: u32, start: u64 },
    /// A test fixture's: `furnace-test-<tag>-<pid>-<n>-<nanos>` (no start time).
    Fixture { pid: u32 },
}

impl CgroupOwner {
    /// The owner a cgroup's name records; `None` for a name of neither shape.
    pub fn of(name: &str) -> Option<CgroupOwner> {
        let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if name.starts_with("furnace-test-") {
            // From the right: nanos, n, pid; the tag may hold dashes.
            let mut fields = name.rsplitn(4, '-');
            let (_nanos, n, pid) = (fields.next()?, fields.next()?, fields.next()?);
            if !(numeric(n) && numeric(pid)) {
                return None;
            }
            return Some(CgroupOwner::Fixture {
                pid: pid.parse().ok()?,
            });
        }
        let rest = name.strip_prefix(CGROUP_PREFIX)?;
        let fields: Vec<&str> = rest.split('-').collect();
        match fields.as_slice() {
            [pid, start, n] if numeric(pid) && numeric(start) && numeric(n) => {
                Some(CgroupOwner::Container {
                    pid: pid.parse().ok()?,
                    start: start.parse().ok()?,
                })
            }
            _ => None,
        }
    }

    /// The owner's pid.
    pub fn pid(self) -> u32 {
        match self {
            CgroupOwner::Container { pid, .. } | CgroupOwner::Fixture { pid } => pid,
        }
    }
}

/// What the audit knew before the run, for judging cgroups.
#[derive(Debug, Clone, Default)]
pub struct CgroupBaseline {
    /// (pid, start time) of every process then.
    pub procs: HashSet<(u32, u64)>,
    /// The latest start time among them: an owner that started later is younger than the run.
    pub horizon: u64,
    /// xtask's own cgroup directory in every hierarchy: the tests, and the containers they
    /// start, make their cgroups beneath these.
    pub own_dirs: Vec<PathBuf>,
}

/// Whether a `furnace-*` cgroup directory that was not there before the run is the run's,
/// judged by the owner its name records:
///
/// - the owner is alive: it descends from xtask (`me`), as for processes (an owner whose
///   parent vanished while `/proc` was read counts, to be safe);
/// - the owner is gone (its pid free, or taken by a process with another start time): it
///   started during the run — not in the baseline and, when the name records a start time, no
///   older than the newest process then — and the directory lies at or beneath one of xtask's
///   own cgroups, where everything the run starts makes its cgroups. The owner's ancestry died
///   with it, so this is as close as the audit can come; a neighbour's dead container left in
///   another cgroup is not blamed.
pub fn owns_cgroup(
    dir: &Path,
    owner: CgroupOwner,
    me: u32,
    procs: &HashMap<u32, ProcStat>,
    before: &CgroupBaseline,
) -> bool {
    let pid = owner.pid();
    let live = procs.get(&pid).filter(|p| match owner {
        CgroupOwner::Container { start, .. } => p.start_time == start,
        CgroupOwner::Fixture { .. } => true,
    });
    if let Some(p) = live.filter(|p| !p.is_zombie()) {
        return pid == me || is_ours(p.pid, me, procs) != Lineage::Elsewhere;
    }
    let young = match owner {
        CgroupOwner::Container { pid, start } => {
            start >= before.horizon && !before.procs.contains(&(pid, start))
        }
        CgroupOwner::Fixture { pid } => !before.procs.iter().any(|&(p, _)| p == pid),
    };
    young && before.own_dirs.iter().any(|own| dir.starts_with(own))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            tmp_dirs: vec![PathBuf::from("/tmp")],
            trees: vec![PathBuf::from("/work/main/target")],
        }
    }

    /// One line of a mount table, through furnace-sys's parser.
    fn mount(line: &str) -> MountInfo {
        MountInfo::parse_line(line).unwrap_or_else(|| panic!("a mountinfo line: {line}"))
    }

    #[test]
    fn mount_keys_and_layers() {
        let m =
            mount("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue");
        assert_eq!(mount_key(&m), "/mnt2 ext3 /dev/root");
        assert_eq!(layer_dirs(&m).count(), 0);
        assert_eq!(
            mount_key(&mount("22 27 0:21 / /proc rw,relatime - proc proc rw")),
            "/proc proc proc"
        );
        // The kernel's octal escapes are decoded: the key shows the real path.
        assert_eq!(
            mount_key(&mount("40 22 0:30 / /tmp/a\\040b rw - tmpfs none rw")),
            "/tmp/a b tmpfs none"
        );
        let ovl = mount(
            "41 22 0:31 / /m rw - overlay overlay rw,lowerdir=/l1:/l2,upperdir=/u,workdir=/w",
        );
        assert_eq!(
            layer_dirs(&ovl).collect::<Vec<_>>(),
            ["/l1", "/l2", "/u", "/w"]
        );
    }

    #[test]
    fn scratch_paths() {
        let s = scope();
        assert!(s.is_scratch("/tmp/furnace-itest.AbC123"));
        assert!(s.is_scratch("/tmp/furnace-test-scratch-7-1/merged/proc"));
        assert!(s.is_scratch("/work/main/target/furnace-image/rootfs.ext4 (deleted)"));
        assert!(!s.is_scratch("/tmp/other/furnace-x"));
        assert!(!s.is_scratch("/tmp"));
        assert!(!s.is_scratch("/work/main/targets"));
        assert!(!s.is_scratch("/run/furnace-foreign-12"));
        assert!(!s.is_scratch("tmpfs"));
    }

    #[test]
    fn own_and_foreign_mounts() {
        let s = scope();
        let loops = BTreeSet::from(["/dev/loop3".to_owned()]);
        let ours = [
            "90 1 7:3 / /tmp/furnace-itest.AbC123 ro,relatime shared:50 - ext4 /dev/loop3 ro",
            "91 1 7:3 / /mnt/elsewhere ro shared:50 - ext4 /dev/loop3 ro",
            "92 1 0:60 / /tmp/furnace-test-scratch-9-2/merged rw - overlay overlay \
             rw,lowerdir=/tmp/furnace-itest.AbC123,upperdir=/tmp/furnace-test-scratch-9-2/upper",
            "93 1 0:61 / /srv/x rw - overlay overlay rw,lowerdir=/a:/tmp/furnace-test-1/l,upperdir=/b",
            "94 1 0:62 / /tmp/furnace-leak-test rw - tmpfs leaktmp rw",
        ];
        for line in ours {
            assert!(s.owns_mount(&mount(line), &loops), "{line}");
        }
        let foreign = [
            "100 25 0:4 net:[4026532901] /run/netns/cni-1234 rw shared:5 - nsfs nsfs rw",
            "101 1 0:70 / /var/lib/containers/storage/overlay/abc/merged rw - overlay overlay \
             rw,lowerdir=/var/lib/containers/storage/overlay/l/X,upperdir=/var/lib/c/u,workdir=/var/lib/c/w",
            "102 25 0:71 / /run/furnace-foreign-77 rw - tmpfs foreign-noise rw,size=4096k",
            "103 1 7:4 / /mnt/usb rw - ext4 /dev/loop4 rw",
            "104 1 0:72 / /srv/y rw - tmpfs /tmpfs-named-like-a-path rw",
        ];
        for line in foreign {
            assert!(!s.owns_mount(&mount(line), &loops), "{line}");
        }
    }

    #[test]
    fn own_and_foreign_loop_devices() {
        let s = scope();
        assert!(s.owns_loop("/work/main/target/furnace-image/rootfs.ext4"));
        assert!(s.owns_loop("/tmp/furnace-test-img-5-0/disk.img (deleted)"));
        assert!(!s.owns_loop("/var/lib/snapd/snaps/core_1.snap"));
        assert!(!s.owns_loop("/run/furnace-foreign-77/disk.img"));
    }

    /// A process as `/proc/<pid>/stat` shows it, through furnace-sys's parser.
    fn proc(pid: u32, ppid: u32, comm: &str) -> (u32, ProcStat) {
        (pid, util::stat_of(pid, ppid, comm, pid == 2))
    }

    #[test]
    fn own_and_foreign_processes() {
        let me = 1000;
        let procs: HashMap<u32, ProcStat> = [
            proc(1, 0, "systemd"),
            proc(2, 0, "kthreadd"),
            proc(900, 1, "bash"),
            proc(950, 900, "cargo"),
            proc(me, 950, "xtask"),
            proc(1100, me, "cargo"),
            proc(1200, 1100, "integration-"),
            proc(1300, 1200, "furnace-init"),
            // A container whose test died: re-parented to xtask, the sub-reaper.
            proc(1400, me, "furnace-init"),
            proc(1410, 1400, "sleep"),
            // Podman's: conmon, and runc's init re-parented to PID 1.
            proc(5000, 1, "conmon"),
            proc(5100, 5000, "runc"),
            proc(5200, 1, "runc:[2:INIT]"),
            // The foreign noise: a daemon under PID 1 and its double-forked sleep.
            proc(6000, 1, "xtask"),
            proc(6100, 1, "sleep"),
            // A helper a kernel thread started.
            proc(7000, 2, "modprobe"),
            // Its parent exited while /proc was read.
            proc(8000, 7999, "orphan"),
        ]
        .into_iter()
        .collect();
        for pid in [1100, 1200, 1300, 1400, 1410] {
            assert_eq!(is_ours(pid, me, &procs), Lineage::Descendant, "{pid}");
        }
        for pid in [1, 2, 900, 950, 5000, 5100, 5200, 6000, 6100, 7000] {
            assert_eq!(is_ours(pid, me, &procs), Lineage::Elsewhere, "{pid}");
        }
        assert_eq!(is_ours(8000, me, &procs), Lineage::Unknown);
    }

    #[test]
    fn cgroup_names_record_their_owner() {
        assert_eq!(
            CgroupOwner::of("furnace-123-4567-0"),
            Some(CgroupOwner::Container {
                pid: 123,
                start: 4567
            })
        );
        assert_eq!(
            CgroupOwner::of("furnace-test-pids-77-3-1a2b"),
            Some(CgroupOwner::Fixture { pid: 77 })
        );
        assert_eq!(
            CgroupOwner::of("furnace-test-a-b-77-3-1a2b"),
            Some(CgroupOwner::Fixture { pid: 77 })
        );
        for other in [
            "furnace-1-2",
            "furnace-1-2-3-4",
            "furnace-x-2-3",
            "furnace-test-pids",
            "libpod-123",
            "furnace-",
        ] {
            assert_eq!(CgroupOwner::of(other), None, "{other}");
        }
    }

    #[test]
    fn own_and_foreign_cgroups() {
        let me = 1000;
        let mut young = util::stat_of(1200, me, "integration-", false);
        young.start_time = 5000;
        let procs: HashMap<u32, ProcStat> = [
            proc(1, 0, "systemd"),
            proc(900, 1, "bash"),
            proc(me, 900, "xtask"),
            (1200, young),
            // A neighbour's furnace, alive.
            proc(6000, 1, "furnace"),
        ]
        .into_iter()
        .collect();
        let before = CgroupBaseline {
            procs: [
                (1, 4242),
                (900, 4242),
                (me, 4242),
                (6000, 4242),
                (7000, 4000),
            ]
            .into_iter()
            .collect(),
            horizon: 4242,
            own_dirs: vec![
                PathBuf::from("/sys/fs/cgroup/memory/session"),
                PathBuf::from("/sys/fs/cgroup/pids"),
            ],
        };
        let c = |pid, start| CgroupOwner::Container { pid, start };
        let judge = |dir: &str, owner| owns_cgroup(Path::new(dir), owner, me, &procs, &before);
        // A live test process of the run, wherever its container's cgroup is.
        assert!(judge(
            "/sys/fs/cgroup/pids/furnace-1200-5000-0",
            c(1200, 5000)
        ));
        assert!(judge("/elsewhere/furnace-1200-5000-0", c(1200, 5000)));
        // An owner that started during the run and died (a killed helper), in our cgroup.
        assert!(judge(
            "/sys/fs/cgroup/pids/furnace-1300-5100-0",
            c(1300, 5100)
        ));
        assert!(judge(
            "/sys/fs/cgroup/memory/session/furnace-1300-5100-0",
            c(1300, 5100)
        ));
        // The suite's fence, its test process gone.
        assert!(judge(
            "/sys/fs/cgroup/pids/furnace-test-pids-1400-0-ff",
            CgroupOwner::Fixture { pid: 1400 }
        ));
        // A pid reused since: the owner recorded is the dead one.
        assert!(judge(
            "/sys/fs/cgroup/pids/furnace-1200-4900-0",
            c(1200, 4900)
        ));
        // A neighbour's live furnace; a dead one in another cgroup; one dead since before the
        // run; a fixture name of a pid that was there before the run.
        assert!(!judge(
            "/sys/fs/cgroup/pids/furnace-6000-4242-0",
            c(6000, 4242)
        ));
        assert!(!judge(
            "/sys/fs/cgroup/memory/other/furnace-1300-5100-0",
            c(1300, 5100)
        ));
        assert!(!judge(
            "/sys/fs/cgroup/pids/furnace-7000-4000-0",
            c(7000, 4000)
        ));
        assert!(!judge(
            "/sys/fs/cgroup/pids/furnace-7100-100-0",
            c(7100, 100)
        ));
        assert!(!judge(
            "/sys/fs/cgroup/pids/furnace-test-pids-7000-0-ff",
            CgroupOwner::Fixture { pid: 7000 }
        ));
    }
}
