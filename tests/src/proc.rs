//! What `/proc` says about processes and the machine: the one `/proc/PID/stat` reader, process
//! listings, namespaces, and a few machine-wide figures.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use crate::mounts::mounts;
use crate::DEADLINE;

/// `readlink /proc/{pid}/ns/{kind}`, e.g. `pid:[4026531836]`.
pub fn ns_of(pid: u32, kind: &str) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// The host path of `inside` (a path inside a container) through `/proc/{pid}/root` of one of
/// its processes (`pid` is a host pid).
pub fn in_root_of(pid: u32, inside: impl AsRef<Path>) -> PathBuf {
    let inside = inside.as_ref();
    let rel = inside.strip_prefix("/").unwrap_or(inside);
    PathBuf::from(format!("/proc/{pid}/root")).join(rel)
}

pub use furnace_sys::process::ProcStat;

/// Reads `/proc/{pid}/stat` with furnace-sys's parser (the workspace's one).
pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    ProcStat::read(pid)
}

/// `kill(pid, SIGKILL)`.
pub fn sigkill(pid: u32) -> std::io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    Ok(rustix::process::kill_process(pid, Signal::KILL)?)
}

/// Every process of the machine (as this process's pid namespace sees them).
pub fn all_processes() -> Vec<ProcStat> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(proc_stat)
        .collect()
}

/// Whether `pid` names a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|s| !s.is_zombie())
}

/// The live processes whose pid namespace is `ns` (as given by [`ns_of`]).
///
/// Zombies are left out: a container's processes that died with it wait for whoever inherited
/// them (the machine's init, or a sub-reaper such as `cargo xtask`) to reap them, on that
/// process's schedule, not furnace's.
pub fn processes_in_pid_ns(ns: &str) -> Vec<ProcStat> {
    all_processes()
        .into_iter()
        .filter(|p| !p.is_zombie() && ns_of(p.pid, "pid").as_deref() == Some(ns))
        .collect()
}

/// `(pid, start time)` of every process on the machine: compare two to find new ones.
pub fn process_keys() -> BTreeSet<(u32, u64)> {
    all_processes()
        .into_iter()
        .map(|p| (p.pid, p.start_time))
        .collect()
}

/// Live (not zombie) processes whose name is `comm` and which are not in `before`.
pub fn new_live_processes_named(comm: &str, before: &BTreeSet<(u32, u64)>) -> Vec<String> {
    all_processes()
        .into_iter()
        .filter(|p| p.comm == comm && !p.is_zombie())
        .filter(|p| !before.contains(&(p.pid, p.start_time)))
        .map(|p| format!("{} ({}) state {} parent {}", p.pid, p.comm, p.state, p.ppid))
        .collect()
}

/// Waits (at most [`DEADLINE`]) until the machine's init has reaped what a killed owner left
/// to it.
///
/// When an owner process dies, its children (PID 1, a command it was spawning) are reparented
/// to the host's init; the kernel kills everything in the container, and the zombies are then
/// init's to reap. This machine's init reaps about every two seconds, and a command's zombie
/// must be reaped before PID 1 can finish, so that can take two rounds: longer than the leak
/// check's grace. Those zombies are dead processes waiting for the system, not something
/// furnace keeps alive.
pub fn let_init_reap() {
    let waiting = |p: &ProcStat| {
        p.ppid == 1
            && p.is_zombie()
            && ["furnace-init", "furnace-test-he", "true"].contains(&p.comm.as_str())
    };
    let deadline = Instant::now() + DEADLINE;
    while all_processes().iter().any(waiting) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// This process's open fds: `(fd, readlink target)`, without the one used to list them.
pub fn own_fds() -> BTreeSet<(i32, String)> {
    let listing_dir = format!("/proc/{}/fd", std::process::id());
    let mut out = BTreeSet::new();
    for entry in fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .flatten()
    {
        let Some(fd) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(target) = fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.to_string_lossy().into_owned();
        if target != listing_dir {
            out.insert((fd, target));
        }
    }
    out
}

/// A value under `/proc/sys`, e.g. `sysctl("kernel/hostname")`.
pub fn sysctl(name: &str) -> String {
    fs::read_to_string(Path::new("/proc/sys").join(name))
        .unwrap_or_else(|e| panic!("read /proc/sys/{name}: {e}"))
        .trim()
        .to_owned()
}

/// How far from a baseline the host's `Shmem` may be once a container is gone ("a few MiB":
/// other processes on the machine come and go).
pub const SHMEM_SLACK_KIB: u64 = 4 << 10;

/// `Shmem` of `/proc/meminfo` (tmpfs and SysV shared memory of the whole machine), in KiB,
/// after folding the per-CPU counters into the global one (`vm.stat_refresh`, which exists for
/// tests like this; without it the figure lags by up to a batch per CPU).
pub fn shmem_kib() -> u64 {
    let _ = fs::write("/proc/sys/vm/stat_refresh", "1");
    let meminfo = fs::read_to_string("/proc/meminfo").expect("read /proc/meminfo");
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("Shmem:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no Shmem line in /proc/meminfo:\n{meminfo}"))
}

/// Every namespace of `kind` (`net`, `ipc`, ...) that something on the machine keeps alive
/// where we can see it: a thread of any process (`/proc/*/task/*/ns/KIND`), an open fd of any
/// process, a bind mount (`nsfs`) in our mount table. Entries look like `net:[4026532000]`.
pub fn namespaces_referenced(kind: &str) -> BTreeSet<String> {
    let prefix = format!("{kind}:[");
    let mut out = BTreeSet::new();
    let mut add = |link: &Path| {
        if let Ok(target) = fs::read_link(link) {
            let target = target.to_string_lossy().into_owned();
            if target.starts_with(&prefix) {
                out.insert(target);
            }
        }
    };
    let entries = fs::read_dir("/proc").expect("list /proc");
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            .is_none()
        {
            continue;
        }
        let dir = entry.path();
        for sub in ["task", "fd"] {
            let Ok(items) = fs::read_dir(dir.join(sub)) else {
                continue;
            };
            for item in items.flatten() {
                if sub == "task" {
                    add(&item.path().join("ns").join(kind));
                } else {
                    add(&item.path());
                }
            }
        }
    }
    // A namespace bind-mounted somewhere shows as the mount's root, e.g. `net:[4026532000]`.
    for mount in mounts() {
        let root = mount.root.to_string_lossy();
        if root.starts_with(&prefix) {
            out.insert(root.into_owned());
        }
    }
    out
}
