//! What `/proc/<pid>/cmdline` and `/proc/<pid>/environ` show of a process, and how a forked
//! child hides what it inherited there.

/// The address ranges of this process's argument and environment strings, as the kernel
/// records them (`/proc/self/stat` fields 48–51). Read it *before* forking: it allocates.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ProcessStrings {
    arg: (usize, usize),
    env: (usize, usize),
}

impl ProcessStrings {
    /// `open("/proc/<pid>/stat")` of this process: reads the ranges of the calling process; `None` when the
    /// file cannot be read or parsed.
    ///
    /// See `proc_pid_stat(5)`.
    pub fn of_self() -> Option<ProcessStrings> {
        let stat = super::ProcStat::read(std::process::id())?;
        let (arg, env) = (stat.arg_range, stat.env_range);
        (arg.0 < arg.1 && env.0 <= env.1).then_some(ProcessStrings { arg, env })
    }

    /// Replaces the command line `/proc/<pid>/cmdline` shows with `name`, and blanks the
    /// environment strings, so that a forked process shows neither its parent's arguments nor
    /// its environment (which may hold secrets) to anyone who can read its `/proc` files.
    /// Async-signal-safe: no allocation, no locks.
    ///
    /// The kernel shows the argument area up to the first NUL when its last byte is not NUL
    /// (the `setproctitle` convention), so the name needs no room beyond the original area.
    ///
    /// No system call.
    ///
    /// # Safety
    ///
    /// The ranges must be those of the calling process ([`ProcessStrings::of_self`] in this
    /// process or, after a fork, in its parent), and no other thread may read the arguments or
    /// the environment meanwhile (call it in a freshly forked child). Afterwards
    /// `std::env::args` and `std::env::vars` return garbage.
    pub unsafe fn overwrite(&self, name: &[u8]) {
        let (start, end) = self.arg;
        let len = end.saturating_sub(start);
        // SAFETY: [start, end) is this process's argument area (caller's promise), mapped and
        // writable (it lives on the initial stack); nothing else reads it meanwhile.
        let args = unsafe { std::slice::from_raw_parts_mut(start as *mut u8, len) };
        args.fill(0);
        // No indexing that could panic: this runs after a fork.
        if len > name.len() + 1 {
            if let Some(head) = args.get_mut(..name.len()) {
                head.copy_from_slice(name);
            }
            if let Some(last) = args.last_mut() {
                *last = b' ';
            }
        }
        let (start, end) = self.env;
        // SAFETY: as above, for the environment strings area.
        let env =
            unsafe { std::slice::from_raw_parts_mut(start as *mut u8, end.saturating_sub(start)) };
        env.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_of_the_test_process_are_ordered() {
        let strings = ProcessStrings::of_self().expect("/proc/self/stat is readable");
        assert!(strings.arg.0 < strings.arg.1);
        assert!(strings.env.0 <= strings.env.1);
    }
}
