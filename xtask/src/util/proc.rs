//! Reading `/proc`: the process list (each `/proc/<pid>/stat` read by furnace-sys's
//! [`ProcStat`], the workspace's one reader), command lines, and who descends from whom.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;

use furnace_sys::process::ProcStat;

/// Every process visible in `/proc` (those that vanish while reading are skipped).
pub fn all_procs() -> Vec<ProcStat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(ProcStat::read)
        .collect()
}

/// The command line of a process, arguments joined by spaces (empty if it is gone).
pub fn cmdline(pid: u32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let parts: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| OsStr::from_bytes(s).to_string_lossy().into_owned())
        .collect();
    parts.join(" ")
}

/// This process's pid.
pub fn my_pid() -> u32 {
    std::process::id()
}

/// Whose a process is, judged by its parent chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lineage {
    /// The chain reaches `root`.
    Descendant,
    /// The chain ends at PID 1, at the kernel (pid 0, a kernel thread) or in a loop.
    Elsewhere,
    /// A parent on the chain is not in the list (it exited while the list was read).
    Unknown,
}

/// Walks the parent chain of `pid` in `procs` (by pid) and says whether it reaches `root`.
pub fn lineage(pid: u32, root: u32, procs: &HashMap<u32, ProcStat>) -> Lineage {
    let mut cur = pid;
    for _ in 0..4096 {
        let Some(p) = procs.get(&cur) else {
            return Lineage::Unknown;
        };
        if p.is_kernel_thread() || p.ppid <= 1 {
            return Lineage::Elsewhere;
        }
        if p.ppid == root {
            return Lineage::Descendant;
        }
        cur = p.ppid;
    }
    Lineage::Elsewhere
}

/// Every live descendant of `root` (children, grandchildren, ...) in `procs`.
pub fn descendants(root: u32, procs: &[ProcStat]) -> Vec<u32> {
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(procs.iter().filter(|p| p.ppid == parent).map(|p| p.pid));
        i += 1;
    }
    found.remove(0);
    found
}

/// A process as `/proc/<pid>/stat` would show it, parsed by [`ProcStat::parse`]: for unit
/// tests of what xtask decides from the process list.
#[cfg(test)]
pub fn stat_of(pid: u32, ppid: u32, comm: &str, kernel_thread: bool) -> ProcStat {
    let flags = if kernel_thread {
        furnace_sys::process::PF_KTHREAD | 0x40
    } else {
        0x0040_0100
    };
    let text = format!(
        "{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 {flags} 100 0 0 0 1 2 0 0 20 0 1 0 4242 \
         1000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0\n"
    );
    ProcStat::parse(&text).unwrap_or_else(|| panic!("a valid stat line: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_listed_with_its_command_line() {
        let procs = all_procs();
        let me = procs.iter().find(|p| p.pid == my_pid()).unwrap();
        assert!(!me.is_kernel_thread() && !me.is_zombie());
        assert!(!cmdline(me.pid).is_empty());
    }

    #[test]
    fn lineage_and_descendants() {
        let list = vec![
            stat_of(10, 1, "a", false),
            stat_of(20, 10, "b", false),
            stat_of(30, 20, "c d (e)", false),
            stat_of(40, 1, "f", false),
            stat_of(50, 99, "g", false),
            stat_of(60, 10, "kworker/0:1", true),
        ];
        let map: HashMap<u32, ProcStat> = list.iter().map(|p| (p.pid, p.clone())).collect();
        assert_eq!(lineage(30, 10, &map), Lineage::Descendant);
        assert_eq!(lineage(20, 10, &map), Lineage::Descendant);
        assert_eq!(lineage(40, 10, &map), Lineage::Elsewhere);
        assert_eq!(lineage(50, 10, &map), Lineage::Unknown);
        // A kernel thread is nobody's, whatever its parent field says.
        assert_eq!(lineage(60, 10, &map), Lineage::Elsewhere);
        let mut d = descendants(10, &list);
        d.sort();
        assert_eq!(d, [20, 30, 60]);
    }
}
