//! Reading `/proc`: one parser of `/proc/<pid>/stat`, the process list, command lines, and who
//! descends from whom.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;

/// What xtask needs to know about a process, from `/proc/<pid>/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: i32,
    pub ppid: i32,
    pub state: char,
    /// Clock ticks after boot: with the pid, identifies a process across pid reuse.
    pub starttime: u64,
    pub comm: String,
    pub kthread: bool,
}

/// `PF_KTHREAD` in the flags field (see `proc_pid_stat(5)`).
const PF_KTHREAD: u64 = 0x0020_0000;

/// Parses the contents of `/proc/<pid>/stat`.
pub fn parse_stat(pid: i32, stat: &str) -> Option<ProcInfo> {
    // The comm field is in parentheses and may itself contain spaces and parentheses.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); field n is rest[n - 3].
    let state = rest.first()?.chars().next()?;
    let ppid = rest.get(1)?.parse().ok()?;
    let flags: u64 = rest.get(6)?.parse().ok()?;
    let starttime = rest.get(19)?.parse().ok()?;
    Some(ProcInfo {
        pid,
        ppid,
        state,
        starttime,
        comm,
        kthread: flags & PF_KTHREAD != 0,
    })
}

/// One process, or `None` when it is gone.
pub fn read_proc(pid: i32) -> Option<ProcInfo> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &stat)
}

/// Every process visible in `/proc` (those that vanish while reading are skipped).
pub fn all_procs() -> Vec<ProcInfo> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read_proc)
        .collect()
}

/// The command line of a process, arguments joined by spaces (empty if it is gone).
pub fn cmdline(pid: i32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let parts: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| OsStr::from_bytes(s).to_string_lossy().into_owned())
        .collect();
    parts.join(" ")
}

/// This process's pid.
pub fn my_pid() -> i32 {
    std::process::id() as i32
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
pub fn lineage(pid: i32, root: i32, procs: &HashMap<i32, ProcInfo>) -> Lineage {
    let mut cur = pid;
    for _ in 0..4096 {
        let Some(p) = procs.get(&cur) else {
            return Lineage::Unknown;
        };
        if p.kthread || p.ppid <= 1 {
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
pub fn descendants(root: i32, procs: &[ProcInfo]) -> Vec<i32> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let stat = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 \
                    1000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let p = parse_stat(1234, stat).unwrap();
        assert_eq!(p.comm, "a) b (c)");
        assert_eq!(p.ppid, 1);
        assert_eq!(p.state, 'S');
        assert_eq!(p.starttime, 98765);
        assert!(!p.kthread);
    }

    #[test]
    fn stat_of_kernel_thread() {
        let stat = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 3 0 0 \
                    18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 0 0 0";
        let p = parse_stat(2, stat).unwrap();
        assert!(p.kthread);
        assert_eq!(p.starttime, 3);
    }

    #[test]
    fn own_process_is_readable() {
        let me = read_proc(my_pid()).unwrap();
        assert!(!me.kthread);
        assert!(!cmdline(me.pid).is_empty());
    }

    fn proc(pid: i32, ppid: i32) -> ProcInfo {
        ProcInfo {
            pid,
            ppid,
            state: 'S',
            starttime: 1,
            comm: format!("p{pid}"),
            kthread: false,
        }
    }

    #[test]
    fn lineage_and_descendants() {
        let list = vec![
            proc(10, 1),
            proc(20, 10),
            proc(30, 20),
            proc(40, 1),
            proc(50, 99),
        ];
        let map: HashMap<i32, ProcInfo> = list.iter().map(|p| (p.pid, p.clone())).collect();
        assert_eq!(lineage(30, 10, &map), Lineage::Descendant);
        assert_eq!(lineage(20, 10, &map), Lineage::Descendant);
        assert_eq!(lineage(40, 10, &map), Lineage::Elsewhere);
        assert_eq!(lineage(50, 10, &map), Lineage::Unknown);
        let mut d = descendants(10, &list);
        d.sort();
        assert_eq!(d, [20, 30]);
    }
}
