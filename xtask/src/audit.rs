//! The leak audit: the machine's mounts, loop devices, processes and `/tmp/furnace-*` directories
//! after a run, compared with a baseline taken before it. Anything new that is still there once
//! things had ~3 s to settle (network namespaces and autoclear loop devices go away
//! asynchronously) is reported as left behind.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{self, Context, ProcInfo, Result};

/// How long leftovers get to disappear on their own before they count.
const SETTLE: Duration = Duration::from_secs(3);

/// What the machine looked like before a run.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// `mount point fstype source` of each line of /proc/self/mountinfo, with multiplicity.
    mounts: BTreeMap<String, usize>,
    /// `NAME BACK-FILE` of each attached loop device.
    loops: BTreeSet<String>,
    /// (pid, start time) of every process.
    procs: HashSet<(i32, u64)>,
    /// Directories /tmp/furnace-*.
    tmp_dirs: BTreeSet<String>,
}

/// Takes the baseline.
pub fn snapshot() -> Result<Snapshot> {
    Ok(Snapshot {
        procs: util::all_procs()
            .iter()
            .map(|p| (p.pid, p.starttime))
            .collect(),
        mounts: mounts()?,
        loops: loop_devices()?,
        tmp_dirs: tmp_dirs(),
    })
}

/// Waits up to ~3 s for the machine to return to `before`, prints the verdict and fails with
/// the list of what was left behind.
pub fn finish(before: &Snapshot) -> Result<()> {
    let left = settle(before)?;
    if left.is_empty() {
        eprintln!(
            "leak audit: clean (mounts, loop devices, processes and /tmp/furnace-* as before the run)"
        );
        return Ok(());
    }
    eprintln!("leak audit: FAILED, left behind:");
    for item in &left {
        eprintln!("  {item}");
    }
    Err(format!("leak audit: {} thing(s) left behind", left.len()))
}

/// Polls until nothing new is left or the settle time is over; returns what is left.
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

/// Everything that is there now and was not in `before`.
pub fn leftovers(before: &Snapshot) -> Result<Vec<String>> {
    let mut left = Vec::new();
    // Processes first: they are what keeps mounts and loop devices alive.
    left.extend(new_processes(before));
    for (entry, &count) in &mounts()? {
        let had = before.mounts.get(entry).copied().unwrap_or(0);
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
    for dev in loop_devices()?.difference(&before.loops) {
        let (name, file) = dev.split_once(' ').unwrap_or((dev, ""));
        left.push(format!("loop device {name} ({file})"));
    }
    for dir in tmp_dirs().difference(&before.tmp_dirs) {
        left.push(format!("directory {dir}"));
    }
    Ok(left)
}

/// `mount point fstype source` for each mount of this mount namespace (the host's: xtask and
/// the tests it runs share it), counted.
fn mounts() -> Result<BTreeMap<String, usize>> {
    let text =
        fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(entry) = parse_mountinfo_line(line) {
            *out.entry(entry).or_insert(0) += 1;
        }
    }
    Ok(out)
}

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw` -> `/mnt2 ext3 /dev/root`.
fn parse_mountinfo_line(line: &str) -> Option<String> {
    let (left, right) = line.split_once(" - ")?;
    let mount_point = left.split(' ').nth(4)?;
    let mut right = right.split(' ');
    let fstype = right.next()?;
    let source = right.next()?;
    Some(format!("{mount_point} {fstype} {source}"))
}

/// `NAME BACK-FILE` of each attached loop device, from `losetup --list`.
fn loop_devices() -> Result<BTreeSet<String>> {
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

fn tmp_dirs() -> BTreeSet<String> {
    let Ok(dir) = fs::read_dir("/tmp") else {
        return BTreeSet::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let name = e.file_name().into_string().ok()?;
        (name.starts_with("furnace-") && e.file_type().ok()?.is_dir())
            .then(|| format!("/tmp/{name}"))
    })
    .collect()
}

/// New processes that are furnace's doing.
///
/// Kernel threads, xtask and its ancestors are never counted. A new process counts when its
/// parent chain reaches xtask (still our descendant) or PID 1 (an orphan — where a container's
/// processes end up when the test that made them is gone) through new processes only. A new
/// process whose chain reaches a process that already existed before the run (another shell's
/// `cargo build`, a kernel worker's helper) is someone else's and is not counted.
fn new_processes(before: &Snapshot) -> Vec<String> {
    let procs = util::all_procs();
    let by_pid: HashMap<i32, &ProcInfo> = procs.iter().map(|p| (p.pid, p)).collect();
    let me = std::process::id() as i32;
    let mut mine = HashSet::from([me]);
    let mut cur = me;
    while let Some(p) = by_pid.get(&cur) {
        if p.ppid <= 0 || !mine.insert(p.ppid) {
            break;
        }
        cur = p.ppid;
    }
    let old = |p: &ProcInfo| before.procs.contains(&(p.pid, p.starttime));

    let mut out = Vec::new();
    for p in &procs {
        if p.kthread || mine.contains(&p.pid) || old(p) {
            continue;
        }
        let mut ours = false;
        let mut parent = p.ppid;
        for _ in 0..128 {
            if parent == me || parent <= 1 {
                ours = true;
                break;
            }
            match by_pid.get(&parent) {
                // Gone while we looked: decide on the next poll.
                None => {
                    ours = true;
                    break;
                }
                Some(q) if q.kthread || old(q) => break,
                Some(q) => parent = q.ppid,
            }
        }
        if ours {
            let cmd = util::cmdline(p.pid);
            let what = if cmd.is_empty() {
                format!("[{}]", p.comm)
            } else {
                cmd
            };
            let zombie = if p.state == 'Z' { " (zombie)" } else { "" };
            out.push(format!("process {} {what}{zombie}", p.pid));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines() {
        assert_eq!(
            parse_mountinfo_line(
                "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue"
            )
            .as_deref(),
            Some("/mnt2 ext3 /dev/root")
        );
        assert_eq!(
            parse_mountinfo_line("22 27 0:21 / /proc rw,relatime - proc proc rw").as_deref(),
            Some("/proc proc proc")
        );
        assert_eq!(parse_mountinfo_line("garbage"), None);
    }
}
