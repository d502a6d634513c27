//! The leak audit: what the run made — mounts, loop devices, processes, `/tmp/furnace-*`
//! directories, `furnace-*` cgroups — that is still there after it, compared with a baseline
//! taken before it.
//!
//! Only the run's own things count ([`scope`]): mounts and loop devices in its scratch paths,
//! processes that descend from xtask, cgroups whose owner (recorded in the name) is such a
//! process or died after starting during the run in xtask's own cgroups
//! ([`scope::owns_cgroup`]). Anything of the run's that is new and still there once
//! things had ~3 s to settle (network namespaces, autoclear loop devices and dying processes go
//! away asynchronously) is reported as left behind.

pub mod scope;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use furnace_sys::mountinfo::{self, MountInfo};
use furnace_sys::process::ProcStat;

use crate::util::{self, Context, Lineage, Result};
use scope::{CgroupBaseline, CgroupOwner, Scope};

/// Where the cgroup hierarchies are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// How long leftovers get to disappear on their own before they count.
const SETTLE: Duration = Duration::from_secs(3);

/// What the machine looked like before a run.
#[derive(Debug, Clone)]
pub struct Snapshot {
    scope: Scope,
    /// `mount point fstype source` of each mount, with multiplicity.
    mounts: BTreeMap<String, usize>,
    /// `NAME BACK-FILE` of each attached loop device.
    loops: BTreeSet<String>,
    /// (pid, start time) of every process.
    procs: HashSet<(u32, u64)>,
    /// Directories /tmp/furnace-*.
    tmp_dirs: BTreeSet<String>,
    /// `furnace-*` cgroup directories, at any depth of any hierarchy.
    cgroups: BTreeSet<PathBuf>,
    /// What judging the cgroups found later needs to know of the time before the run.
    cgroup_baseline: CgroupBaseline,
}

/// Takes the baseline.
pub fn snapshot() -> Result<Snapshot> {
    let scope = Scope::current();
    let procs: HashSet<(u32, u64)> = util::all_procs()
        .iter()
        .map(|p| (p.pid, p.start_time))
        .collect();
    let cgroup_baseline = CgroupBaseline {
        horizon: procs.iter().map(|&(_, start)| start).max().unwrap_or(0),
        procs: procs.clone(),
        own_dirs: own_cgroup_dirs()?,
    };
    Ok(Snapshot {
        procs,
        cgroups: furnace_cgroups(),
        cgroup_baseline,
        mounts: count_mounts(&mounts()?),
        loops: loop_devices()?,
        tmp_dirs: tmp_dirs(&scope),
        scope,
    })
}

/// Waits up to ~3 s for the run's things to be gone, prints the verdict and fails with the list
/// of what was left behind.
pub fn finish(before: &Snapshot) -> Result<()> {
    let left = settle(before)?;
    if left.is_empty() {
        eprintln!(
            "leak audit: clean (no mount, loop device, process, furnace-* cgroup or \
             /tmp/furnace-* directory of this run left)"
        );
        return Ok(());
    }
    eprintln!("leak audit: FAILED, left behind:");
    for item in &left {
        eprintln!("  {item}");
    }
    Err(format!("leak audit: {} thing(s) left behind", left.len()))
}

/// Polls until nothing of the run's is left or the settle time is over; returns what is left.
pub fn settle(before: &Snapshot) -> Result<Vec<String>> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let left = leftovers(before)?;
        if left.is_empty() || Instant::now() >= deadline {
            return Ok(left);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Everything of the run's that is there now and was not in `before`.
pub fn leftovers(before: &Snapshot) -> Result<Vec<String>> {
    // Orphans that exited are zombies of xtask (their sub-reaper) until reaped.
    util::reap_orphans(None);
    let mut left = Vec::new();
    // Processes first: they are what keeps mounts and loop devices alive.
    left.extend(new_processes(before));

    let loops = loop_devices()?;
    let run_loops: BTreeSet<String> = loops
        .iter()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, file)| before.scope.owns_loop(file))
        .map(|(name, _)| name.to_owned())
        .collect();
    let ours: Vec<MountInfo> = mounts()?
        .into_iter()
        .filter(|m| before.scope.owns_mount(m, &run_loops))
        .collect();
    for (entry, count) in count_mounts(&ours) {
        let had = before.mounts.get(&entry).copied().unwrap_or(0);
        if count > had {
            let mut f = entry.splitn(3, ' ');
            let (mp, fstype, source) = (
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
            );
            let times = if count - had > 1 {
                format!(" ({} times)", count - had)
            } else {
                "".into()
            };
            left.push(format!("mount {mp} {fstype} (source {source}){times}"));
        }
    }
    for dev in loops.difference(&before.loops) {
        let (name, file) = dev.split_once(' ').unwrap_or((dev, ""));
        if before.scope.owns_loop(file) {
            left.push(format!("loop device {name} ({file})"));
        }
    }
    for dir in tmp_dirs(&before.scope).difference(&before.tmp_dirs) {
        left.push(format!("directory {dir}"));
    }
    left.extend(new_cgroups(before));
    Ok(left)
}

/// Every directory named `furnace-*`, at any depth, in every hierarchy under `/sys/fs/cgroup`
/// (symlinks such as `cpu -> cpu,cpuacct` are not followed; what vanishes meanwhile is
/// skipped).
fn furnace_cgroups() -> BTreeSet<PathBuf> {
    furnace_sys::cgroup::dirs_with_prefix(CGROUP_ROOT, scope::CGROUP_PREFIX)
}

/// xtask's own cgroup directory in every hierarchy it can reach (`/proc/self/cgroup` through
/// furnace-sys's parser): what the run starts makes its cgroups beneath these.
fn own_cgroup_dirs() -> Result<Vec<PathBuf>> {
    use furnace_sys::cgroup;
    let context = |e: furnace_sys::Error| format!("leak audit: {e}");
    let mut out = Vec::new();
    for line in cgroup::own_cgroups().map_err(context)? {
        let dir = if line.is_v2() {
            cgroup::own_cgroup_dir_v2()
        } else {
            let Some(first) = line.controllers.first() else {
                continue;
            };
            cgroup::own_cgroup_dir_v1(first)
        };
        if let Some(dir) = dir.map_err(context)? {
            out.push(dir);
        }
    }
    Ok(out)
}

/// New `furnace-*` cgroups that are the run's ([`scope::owns_cgroup`]).
fn new_cgroups(before: &Snapshot) -> Vec<String> {
    let me = util::my_pid();
    let procs: HashMap<u32, ProcStat> = util::all_procs().into_iter().map(|p| (p.pid, p)).collect();
    let mut out = Vec::new();
    for dir in furnace_cgroups().difference(&before.cgroups) {
        let Some(owner) = dir
            .file_name()
            .and_then(|n| CgroupOwner::of(&n.to_string_lossy()))
        else {
            continue;
        };
        if scope::owns_cgroup(dir, owner, me, &procs, &before.cgroup_baseline) {
            let state = if procs.contains_key(&owner.pid()) {
                "alive"
            } else {
                "gone"
            };
            out.push(format!(
                "cgroup {} (owner {} {state})",
                dir.display(),
                owner.pid()
            ));
        }
    }
    out
}

/// The mounts of this mount namespace (the host's: xtask and the tests it runs share it).
fn mounts() -> Result<Vec<MountInfo>> {
    mountinfo::read(None).map_err(|e| format!("leak audit: {e}"))
}

/// `mount point fstype source` of each mount, counted (a second mount on a point counts).
fn count_mounts(mounts: &[MountInfo]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in mounts {
        *out.entry(scope::mount_key(m)).or_insert(0) += 1;
    }
    out
}

/// `NAME BACK-FILE` of each attached loop device, from `losetup --list`.
pub fn loop_devices() -> Result<BTreeSet<String>> {
    let losetup = util::which("losetup").ok_or("`losetup` is missing (package `mount`)")?;
    let mut cmd = Command::new(losetup);
    cmd.args([
        "--list",
        "--noheadings",
        "--raw",
        "--output",
        "NAME,BACK-FILE",
    ]);
    // A second Ctrl-C during the audit must not kill it.
    let out = util::shield_from_signals(&mut cmd)
        .output()
        .context("running losetup --list")?;
    if !out.status.success() {
        return Err(format!(
            "losetup --list failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// The `furnace-*` directories in the temporary directories.
fn tmp_dirs(scope: &Scope) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for tmp in &scope.tmp_dirs {
        let Ok(dir) = fs::read_dir(tmp) else {
            continue;
        };
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(scope::SCRATCH_PREFIX) && e.file_type().is_ok_and(|t| t.is_dir()) {
                out.insert(format!("{}/{name}", tmp.display()));
            }
        }
    }
    out
}

/// New processes that descend from xtask ([`scope::is_ours`]).
fn new_processes(before: &Snapshot) -> Vec<String> {
    let me = util::my_pid();
    let old = |p: &ProcStat| before.procs.contains(&(p.pid, p.start_time));
    let mut procs: HashMap<u32, ProcStat> =
        util::all_procs().into_iter().map(|p| (p.pid, p)).collect();
    let judge = |procs: &HashMap<u32, ProcStat>| -> Vec<(u32, Lineage)> {
        procs
            .values()
            .filter(|p| p.pid != me && !p.is_kernel_thread() && !old(p))
            .map(|p| (p.pid, scope::is_ours(p.pid, me, procs)))
            .filter(|(_, l)| *l != Lineage::Elsewhere)
            .collect()
    };
    let mut verdicts = judge(&procs);
    if verdicts.iter().any(|(_, l)| *l == Lineage::Unknown) {
        // A parent exited while /proc was read; its children have been re-parented by now.
        std::thread::sleep(Duration::from_millis(20));
        procs = util::all_procs().into_iter().map(|p| (p.pid, p)).collect();
        verdicts = judge(&procs);
    }
    let mut out = Vec::new();
    for (pid, lineage) in verdicts {
        let Some(p) = procs.get(&pid) else { continue };
        let cmd = util::cmdline(pid);
        let what = if cmd.is_empty() {
            format!("[{}]", p.comm)
        } else {
            cmd
        };
        let zombie = if p.is_zombie() { " (zombie)" } else { "" };
        let unsure = if lineage == Lineage::Unknown {
            " (parent vanished: counted to be safe)"
        } else {
            ""
        };
        out.push(format!("process {pid} {what}{zombie}{unsure}"));
    }
    out.sort();
    out
}
