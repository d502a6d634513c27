//! The leak oracle: [`LeakCheck`] takes a picture of what a container could leave behind and
//! later compares — counting only what this test process made.
//!
//! The machine is shared: other engineers' containers (podman's `runc:[2:INIT]`, its
//! `/run/netns` and `/var/lib/containers/...` mounts) come and go while a test runs, and they
//! are none of its business. So every snapshot first decides what is *ours*:
//!
//! - **processes**: those that descend from the test process; those running one of this test
//!   build's own executables (a container's PID 1 and a command's child before exec are forked
//!   copies of the test process or of `furnace-test-helper`, and keep its executable when the
//!   helper that owned them was killed and they were orphaned to the machine's init); those
//!   whose root is a mount of ours (a container over one of our scratch roots); and everything
//!   in the pid namespace of any of these. Once ours, a process stays ours for the life of the
//!   check. What is dead and waiting for the machine's init to reap it (a zombie whose parent
//!   is gone) cannot be attributed and holds nothing but its pid: not counted.
//! - **mounts** (of this process's mount namespace): those at or under a name this process
//!   made ([`unique_name`](crate::unique_name): scratch directories, temporary directories),
//!   binds whose root is such a path, mounts under the test image, and mounts whose source is
//!   the image's loop device or a loop device backed by a file of ours. Mounts inside our
//!   containers' mount namespaces go with those namespaces, which are counted below.
//! - **namespaces**: the pid, net and mnt namespaces of our processes, and every namespace of
//!   the test process's own threads.
//! - **loop devices** backed by a file of ours or of the image; **fds** of the test process.
//! - **cgroups**: directories named `furnace-*` at any depth of any hierarchy under
//!   `/sys/fs/cgroup` ([`furnace_cgroups`]) that are ours: a container cgroup's name records its
//!   owner, `furnace-<pid>-<start time>-<n>`, and it is ours when that owner is the test
//!   process or a process judged ours (a helper); or, the owner being dead, when it started
//!   after the snapshot and the cgroup lies directly in one of the test process's own cgroups
//!   (where the containers of the test and of its helpers are made: a helper killed before any
//!   picture saw it cannot be judged by its ancestry any more). The suite's own cgroups
//!   ([`unique_name`](crate::unique_name), such as the fork-bomb fence) are ours by name.
//!
//! The test process is deliberately *not* a child subreaper: as one, it would adopt every
//! orphan of the helpers it runs and would have to reap them — but a `waitpid(-1)` in a test
//! harness would steal the exit statuses that furnace's teardown and std's `Child::wait` are
//! waiting for, and an adopted orphan cannot be told from a child of our own. Tests that want
//! orphans reaped promptly run their owner under `furnace-test-helper reap` instead.
//!
//! Two runs of this same test binary at once would count each other's helpers as theirs;
//! `cargo xtask itest` holds a machine-wide lock, so they do not.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use furnace_sys::mountinfo::MountInfo;

use crate::cgroups::{furnace_cgroups, own_cgroup_dirs, owner_alive, owner_of};
use crate::image::IMAGE_ENV;
use crate::mounts::{attached_loop_devices, mounts};
use crate::proc::{all_processes, ns_of, own_fds, ProcStat};
use crate::scratch::{holds_exclusive, made_here, mentions_made_here};
use crate::GRACE;

/// A snapshot of what a container could leave behind (see the module's documentation for what
/// counts as this test's).
///
/// Only in a test that holds its scratch exclusively ([`Scratch::exclusive`]): otherwise the
/// other tests running alongside in this process would come and go in the picture.
///
/// [`Scratch::exclusive`]: crate::Scratch::exclusive
#[derive(Debug)]
pub struct LeakCheck {
    state: MachineState,
    /// `(pid, start time)` of every process judged ours so far.
    ours: Mutex<BTreeSet<(u32, u64)>>,
    /// The latest start time of any process at the snapshot: a process that started later is
    /// younger than the check.
    horizon: u64,
}

/// What is fixed for the whole test process: who we are and which things are ours.
#[derive(Debug)]
struct Ownership {
    me: u32,
    /// The test process's start time (as container cgroup names record it).
    my_start: u64,
    /// The test process's own cgroup in every hierarchy: where containers' cgroups are made.
    cgroup_parents: Vec<PathBuf>,
    pid_ns: Option<String>,
    mnt_ns: Option<String>,
    /// The test binary and the helper binary of this build.
    executables: Vec<PathBuf>,
    /// The test image's mount point and the block device it is mounted from.
    image: Option<(PathBuf, Option<String>)>,
}

impl Ownership {
    fn new() -> Ownership {
        let me = std::process::id();
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut executables = vec![exe.clone()];
        // Cargo puts test binaries in `target/PROFILE/deps` and the package's binaries in
        // `target/PROFILE`.
        if let Some(profile_dir) = exe.parent().and_then(Path::parent) {
            executables.push(profile_dir.join("furnace-test-helper"));
        }
        let image = std::env::var_os(IMAGE_ENV).map(|dir| {
            let dir = PathBuf::from(dir);
            let device = mounts()
                .into_iter()
                .rev()
                .find(|m| m.mount_point == dir)
                .map(|m| m.source.to_string_lossy().into_owned());
            (dir, device)
        });
        Ownership {
            me,
            my_start: ProcStat::read(me).map_or(0, |s| s.start_time),
            cgroup_parents: own_cgroup_dirs(),
            pid_ns: ns_of(me, "pid"),
            mnt_ns: ns_of(me, "mnt"),
            executables,
            image,
        }
    }

    /// Whether a path or an option string names something of ours: a name this process made,
    /// or the image.
    fn mentions_ours(&self, text: &str) -> bool {
        mentions_made_here(text)
            || self
                .image
                .as_ref()
                .is_some_and(|(dir, _)| text.contains(&*dir.to_string_lossy()))
    }

    /// Whether a mount (of any namespace) is ours, given the attached loop devices.
    fn owns_mount(&self, m: &MountInfo, loops: &BTreeMap<String, String>) -> bool {
        let source = m.source.to_string_lossy();
        let image_device = self.image.as_ref().and_then(|(_, dev)| dev.as_deref());
        let loop_backing = source
            .strip_prefix("/dev/")
            .and_then(|name| loops.get(name));
        self.mentions_ours(&m.mount_point.to_string_lossy())
            || self.mentions_ours(&m.root.to_string_lossy())
            || m.super_options.iter().any(|o| self.mentions_ours(o))
            || image_device == Some(&*source)
            || loop_backing.is_some_and(|file| self.mentions_ours(file))
    }

    /// Whether a process runs one of this build's executables (`/proc/PID/exe`; unreadable
    /// for a process that is exiting).
    fn runs_our_executable(&self, pid: u32) -> bool {
        let Ok(exe) = fs::read_link(format!("/proc/{pid}/exe")) else {
            return false;
        };
        let exe = exe.to_string_lossy();
        let exe = exe.trim_end_matches(" (deleted)");
        self.executables.iter().any(|ours| Path::new(exe) == ours)
    }

    /// Whether a `furnace-*` cgroup directory is ours (see the module's documentation), given
    /// the processes judged ours and the snapshot's `horizon`.
    fn owns_cgroup(&self, dir: &Path, ours: &BTreeSet<(u32, u64)>, horizon: u64) -> bool {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if made_here(&name) {
            return true;
        }
        let Some(owner) = owner_of(&name) else {
            return false;
        };
        owner == (self.me, self.my_start)
            || ours.contains(&owner)
            || (owner.1 >= horizon
                && !owner_alive(owner)
                && dir
                    .parent()
                    .is_some_and(|p| self.cgroup_parents.iter().any(|c| c == p)))
    }

    /// Whether a process in another mount namespace has one of our mounts as its root.
    fn rooted_in_ours(&self, pid: u32, loops: &BTreeMap<String, String>) -> bool {
        if ns_of(pid, "mnt") == self.mnt_ns {
            return false;
        }
        let Ok(table) = furnace_sys::mountinfo::read(Some(pid)) else {
            return false;
        };
        table
            .iter()
            .filter(|m| m.mount_point == Path::new("/"))
            .any(|m| self.owns_mount(m, loops))
    }
}

fn ownership() -> &'static Ownership {
    static OWNERSHIP: std::sync::OnceLock<Ownership> = std::sync::OnceLock::new();
    OWNERSHIP.get_or_init(Ownership::new)
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MachineState {
    /// (pid, start time) → description.
    processes: BTreeMap<(u32, u64), String>,
    /// A mount's description (without its ids) → how many such mounts.
    mounts: BTreeMap<String, usize>,
    namespaces: BTreeSet<String>,
    loops: BTreeSet<(String, String)>,
    fds: BTreeSet<(i32, String)>,
    /// `furnace-*` cgroup directories of ours.
    cgroups: BTreeSet<PathBuf>,
}

impl MachineState {
    /// Takes the picture; `ours` holds the processes judged ours in earlier pictures and gets
    /// the ones judged ours now; `horizon` is the snapshot's (see [`LeakCheck`]).
    fn take(ours: &mut BTreeSet<(u32, u64)>, horizon: u64) -> MachineState {
        let own = ownership();
        let loop_list = attached_loop_devices();
        let loops: BTreeMap<String, String> = loop_list.iter().cloned().collect();
        let procs = all_processes();
        let mine = our_processes(own, &procs, &loops, ours);
        let mut processes = BTreeMap::new();
        let mut namespaces = BTreeSet::new();
        for p in procs
            .iter()
            .filter(|p| mine.contains(&(p.pid, p.start_time)))
        {
            ours.insert((p.pid, p.start_time));
            let pid_ns = ns_of(p.pid, "pid");
            processes.insert(
                (p.pid, p.start_time),
                format!(
                    "process {} ({}) state {} parent {}{}",
                    p.pid,
                    p.comm,
                    p.state,
                    p.ppid,
                    match pid_ns {
                        Some(ns) if Some(&ns) != own.pid_ns.as_ref() => format!(" in {ns}"),
                        _ => String::new(),
                    }
                ),
            );
            for kind in ["pid", "net", "mnt"] {
                if let Some(ns) = ns_of(p.pid, kind) {
                    namespaces.insert(format!("{ns} (of process {})", p.pid));
                }
            }
        }
        // The test process's own threads must stay where they were (a thread left in a
        // container's namespace would be a leak too).
        if let Ok(tasks) = fs::read_dir("/proc/self/task") {
            for task in tasks.flatten() {
                for kind in [
                    "pid",
                    "pid_for_children",
                    "net",
                    "mnt",
                    "uts",
                    "ipc",
                    "cgroup",
                ] {
                    if let Ok(ns) = fs::read_link(task.path().join("ns").join(kind)) {
                        namespaces.insert(format!("{} (of the test process)", ns.display()));
                    }
                }
            }
        }
        let mut mounts_now = BTreeMap::new();
        for m in mounts().iter().filter(|m| own.owns_mount(m, &loops)) {
            *mounts_now.entry(describe(m)).or_insert(0) += 1;
        }
        MachineState {
            processes,
            mounts: mounts_now,
            namespaces,
            loops: loop_list
                .into_iter()
                .filter(|(_, file)| own.mentions_ours(file))
                .collect(),
            fds: own_fds(),
            cgroups: furnace_cgroups()
                .into_iter()
                .filter(|dir| own.owns_cgroup(dir, ours, horizon))
                .collect(),
        }
    }

    /// What is in `self` (now) and was not in `before`, and mounts that vanished.
    fn leftovers(&self, before: &MachineState) -> Vec<String> {
        let mut out = Vec::new();
        for (key, what) in &self.processes {
            if !before.processes.contains_key(key) {
                out.push(what.clone());
            }
        }
        for (line, n) in &self.mounts {
            let was = before.mounts.get(line).copied().unwrap_or(0);
            if *n > was {
                out.push(format!("mount {line}"));
            }
        }
        for (line, n) in &before.mounts {
            let now = self.mounts.get(line).copied().unwrap_or(0);
            if *n > now {
                out.push(format!("mount vanished from the host: {line}"));
            }
        }
        for ns in self.namespaces.difference(&before.namespaces) {
            out.push(format!("namespace {ns}"));
        }
        for (name, file) in self.loops.difference(&before.loops) {
            out.push(format!("loop device {name} on {file}"));
        }
        for (fd, target) in self.fds.difference(&before.fds) {
            out.push(format!("fd {fd} of the test process -> {target}"));
        }
        for dir in self.cgroups.difference(&before.cgroups) {
            out.push(format!("cgroup {}", dir.display()));
        }
        out
    }
}

/// The `(pid, start)` of every process that is ours (see the module's documentation).
fn our_processes(
    own: &Ownership,
    procs: &[ProcStat],
    loops: &BTreeMap<String, String>,
    known: &BTreeSet<(u32, u64)>,
) -> BTreeSet<(u32, u64)> {
    let parent: BTreeMap<u32, u32> = procs.iter().map(|p| (p.pid, p.ppid)).collect();
    let descends_from_us = |pid: u32| {
        let mut cur = pid;
        for _ in 0..256 {
            match parent.get(&cur) {
                Some(&ppid) if ppid == own.me => return true,
                Some(&ppid) if ppid > 1 => cur = ppid,
                _ => return false,
            }
        }
        false
    };
    let mut mine = BTreeSet::new();
    let mut pid_namespaces = BTreeSet::new();
    for p in procs.iter().filter(|p| p.pid != own.me) {
        let key = (p.pid, p.start_time);
        let is_ours = known.contains(&key)
            || descends_from_us(p.pid)
            || own.runs_our_executable(p.pid)
            || own.rooted_in_ours(p.pid, loops);
        if is_ours {
            mine.insert(key);
            if let Some(ns) = ns_of(p.pid, "pid").filter(|ns| Some(ns) != own.pid_ns.as_ref()) {
                pid_namespaces.insert(ns);
            }
        }
    }
    // Everything in a pid namespace of ours (a container's commands, whose PID 1 is ours).
    for p in procs.iter().filter(|p| p.pid != own.me) {
        if ns_of(p.pid, "pid").is_some_and(|ns| pid_namespaces.contains(&ns)) {
            mine.insert((p.pid, p.start_time));
        }
    }
    mine
}

/// A mount as the oracle compares it: everything but its ids, which change on a remount.
fn describe(m: &MountInfo) -> String {
    format!(
        "{}:{} {} {} {} {}- {} {} {}",
        m.major,
        m.minor,
        m.root.display(),
        m.mount_point.display(),
        m.mount_options.join(","),
        m.optional_fields
            .iter()
            .map(|f| format!("{f} "))
            .collect::<String>(),
        m.fs_type,
        m.source.to_string_lossy(),
        m.super_options.join(",")
    )
}

impl LeakCheck {
    /// Takes the snapshot.
    ///
    /// # Panics
    /// When the current thread does not hold a scratch exclusively.
    pub fn snapshot() -> LeakCheck {
        assert!(
            holds_exclusive(),
            "LeakCheck::snapshot needs Scratch::exclusive() on this thread first"
        );
        let horizon = all_processes()
            .iter()
            .map(|p| p.start_time)
            .max()
            .unwrap_or(0);
        let mut ours = BTreeSet::new();
        let state = MachineState::take(&mut ours, horizon);
        LeakCheck {
            state,
            ours: Mutex::new(ours),
            horizon,
        }
    }

    /// Waits up to [`GRACE`] for what is ours to be as in the snapshot; panics with the list of
    /// what is left behind.
    pub fn assert_clean(&self) {
        let deadline = Instant::now() + GRACE;
        loop {
            let left = {
                let mut ours = self.ours.lock().unwrap_or_else(|e| e.into_inner());
                MachineState::take(&mut ours, self.horizon).leftovers(&self.state)
            };
            if left.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "left behind (still there {GRACE:?} later):\n  {}",
                    left.join("\n  ")
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}
