//! Signal names and numbers as `kill` takes them: `9`, `KILL`, `SIGKILL`, `sigkill`, and the
//! real-time signals as `RTMIN+N`.

/// The standard signals by name (without `SIG`).
const NAMES: [(&str, i32); 31] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("SYS", libc::SIGSYS),
];

/// The signal `text` names, or why not.
pub fn parse(text: &str) -> Result<i32, String> {
    let bad = || format!("signal {text:?}: not a signal name or number");
    let max = libc::SIGRTMAX();
    if let Ok(n) = text.parse::<i32>() {
        return if (1..=max).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = NAMES.iter().find(|(known, _)| *known == name) {
        return Ok(n);
    }
    let min = libc::SIGRTMIN();
    let rt = |rest: &str, base: i32, sign: i32| -> Result<i32, String> {
        let offset: i32 = if rest.is_empty() {
            0
        } else {
            rest.parse().map_err(|_| bad())?
        };
        let n = base + sign * offset;
        if (min..=max).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        }
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt(rest.strip_prefix('+').unwrap_or(rest), min, 1);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return rt(rest.strip_prefix('-').unwrap_or(rest), max, -1);
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn names_and_numbers() {
        for (text, n) in [
            ("9", 9),
            ("KILL", 9),
            ("SIGKILL", 9),
            ("sigterm", 15),
            ("term", 15),
            ("USR1", libc::SIGUSR1),
            ("10", 10),
        ] {
            assert_eq!(parse(text), Ok(n), "{text}");
        }
        assert_eq!(parse("RTMIN"), Ok(libc::SIGRTMIN()));
        assert_eq!(parse("SIGRTMIN+2"), Ok(libc::SIGRTMIN() + 2));
        assert_eq!(parse("RTMAX-1"), Ok(libc::SIGRTMAX() - 1));
        for bad in ["0", "-1", "99", "BOGUS", "", "RTMIN+99", "SIG"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
