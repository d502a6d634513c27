//! `/proc/<pid>/stat`, parsed once for every reader in the workspace.

/// The fields of `/proc/<pid>/stat` furnace and its tools use.
///
/// ```
/// use furnace_sys::process::ProcStat;
/// let me = ProcStat::read(std::process::id()).expect("our own stat is readable");
/// assert_eq!(me.pid, std::process::id());
/// assert!(me.start_time > 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 1: the process id.
    pub pid: u32,
    /// Field 2: the command name, without its parentheses (it may hold spaces and `)`).
    pub comm: String,
    /// Field 3: the state (`R`, `S`, `D`, `Z`, …).
    pub state: char,
    /// Field 4: the parent's pid.
    pub ppid: u32,
    /// Field 9: the kernel flags (`PF_*`): `PF_KTHREAD` (0x0020_0000) marks kernel threads.
    pub flags: u64,
    /// Field 22: clock ticks after boot at which the process started. With the pid, it
    /// identifies a process across pid reuse.
    pub start_time: u64,
    /// Fields 48–49: the address range of the argument strings.
    pub arg_range: (usize, usize),
    /// Fields 50–51: the address range of the environment strings.
    pub env_range: (usize, usize),
}

/// `PF_KTHREAD`: the flag of kernel threads in [`ProcStat::flags`].
pub const PF_KTHREAD: u64 = 0x0020_0000;

/// `PF_EXITING`: the flag of a process that has begun to exit (in [`ProcStat::flags`]). The
/// init of a pid namespace keeps it while the kernel kills and waits for the rest of its
/// namespace, before it becomes a zombie.
pub const PF_EXITING: u64 = 0x0000_0004;

impl ProcStat {
    /// `open("/proc/<pid>/stat")` and [`parse`](ProcStat::parse); `None` when the process is
    /// gone or the file cannot be parsed.
    ///
    /// See `proc_pid_stat(5)`.
    pub fn read(pid: u32) -> Option<ProcStat> {
        ProcStat::parse(&crate::fs::read_small_text(format!("/proc/{pid}/stat")).ok()?)
    }

    /// Parses the text of a `/proc/<pid>/stat` file. The command name is the text between the
    /// first `(` and the *last* `)`, since it may contain both.
    ///
    /// No system call.
    pub fn parse(text: &str) -> Option<ProcStat> {
        let (pid, rest) = text.split_once(" (")?;
        let (comm, rest) = rest.rsplit_once(')')?;
        // Fields from 3 on, so field N is at index N - 3.
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).copied();
        let number = |n: usize| field(n)?.parse::<u64>().ok();
        let address = |n: usize| field(n)?.parse::<usize>().ok();
        Some(ProcStat {
            pid: pid.trim().parse().ok()?,
            comm: comm.to_owned(),
            state: field(3)?.chars().next()?,
            ppid: field(4)?.parse().ok()?,
            flags: number(9)?,
            start_time: number(22)?,
            // Kernels before 3.5 have no address fields; zero ranges then.
            arg_range: (address(48).unwrap_or(0), address(49).unwrap_or(0)),
            env_range: (address(50).unwrap_or(0), address(51).unwrap_or(0)),
        })
    }

    /// Whether the process has died and waits to be reaped, or is being reaped (`Z`, `X`).
    ///
    /// No system call.
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }

    /// Whether the process has begun to exit ([`PF_EXITING`]) or already has (a zombie).
    ///
    /// No system call.
    pub fn is_exiting(&self) -> bool {
        self.flags & PF_EXITING != 0 || self.is_zombie()
    }

    /// Whether this is a kernel thread.
    ///
    /// No system call.
    pub fn is_kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_command_names_are_kept_whole() {
        // Fields 3 to 52, each its own number unless set below.
        let mut fields: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
        for (n, value) in [(3, "S"), (4, "7"), (9, "4194560"), (22, "12345")] {
            fields[n - 3] = value.to_owned();
        }
        for (n, value) in [(48, "100"), (49, "200"), (50, "300"), (51, "400")] {
            fields[n - 3] = value.to_owned();
        }
        let text = format!("42 (a) b (c)) {}\n", fields.join(" "));
        let stat = ProcStat::parse(&text).unwrap();
        assert_eq!(stat.pid, 42);
        assert_eq!(stat.comm, "a) b (c)");
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.ppid, 7);
        assert_eq!(stat.start_time, 12345);
        assert_eq!((stat.arg_range, stat.env_range), ((100, 200), (300, 400)));
        assert!(!stat.is_kernel_thread());
    }

    #[test]
    fn kernel_threads_are_recognised() {
        let stat = ProcStat::read(2).expect("kthreadd");
        assert!(stat.is_kernel_thread(), "{stat:?}");
        assert!(ProcStat::parse("garbage").is_none());
    }
}
