//! Running `cargo test` and reading what libtest prints: the summary lines of every test binary
//! added up, and the verdict of a suite (`test`'s unit half, `itest`).

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::util::{self, Context, Result};

/// Totals of the libtest summary lines of one `cargo test` run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    pub filtered_out: u64,
    /// How many `test result:` lines were seen (one per test binary).
    pub binaries: u64,
}

impl Summary {
    /// Adds `test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; ...`.
    pub fn add_line(&mut self, line: &str) {
        let line = strip_ansi(line);
        let Some(rest) = line.trim_start().strip_prefix("test result:") else {
            return;
        };
        self.binaries += 1;
        for part in rest.split(';') {
            let words: Vec<&str> = part.split_whitespace().collect();
            let (num, what) = match words.as_slice() {
                [.., n, "filtered", "out"] => (*n, "filtered out"),
                [.., n, w] => (*n, *w),
                _ => continue,
            };
            let Ok(n) = num.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                "filtered out" => self.filtered_out += n,
                _ => {}
            }
        }
    }

    pub fn line(&self, name: &str) -> String {
        let mut s = format!(
            "{name}: {} passed, {} failed, {} ignored",
            self.passed, self.failed, self.ignored
        );
        if self.filtered_out > 0 {
            s += &format!(", {} filtered out", self.filtered_out);
        }
        s
    }
}

/// `s` without its ANSI escape sequences (`--color=always` colours the summary lines).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ params final-byte (0x40..=0x7e)
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('\x40'..='\x7e').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The outcome of one suite: its summary line and what went wrong.
#[derive(Debug)]
pub struct SuiteReport {
    pub name: &'static str,
    pub summary: Summary,
    pub failures: Vec<String>,
}

impl SuiteReport {
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    pub fn verdict(&self) -> String {
        if self.ok() {
            format!("{} — ok", self.summary.line(self.name))
        } else {
            format!(
                "{} — FAILED: {}",
                self.summary.line(self.name),
                self.failures.join("; ")
            )
        }
    }

    pub fn into_result(self) -> Result<()> {
        if self.ok() {
            Ok(())
        } else {
            Err(format!(
                "{} failed: {}",
                self.name,
                self.failures.join("; ")
            ))
        }
    }
}

/// Runs a `cargo test` command, streaming its stdout through while reading the libtest summary
/// lines (stderr — cargo's own messages, its build progress first — is inherited). `on_line`
/// sees every stdout line. `label` (`unit`, `itest`) starts the line that says what runs.
pub fn run_libtest(
    label: &str,
    cmd: &mut Command,
    mut on_line: Box<dyn FnMut(&str) + Send>,
) -> Result<(ExitStatus, Summary)> {
    eprintln!(
        "{label}: building and running the tests (`{}`)…",
        util::describe(cmd)
    );
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{}`", util::describe(cmd)))?;
    let stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let summary = Arc::new(Mutex::new(Summary::default()));
    let (done_tx, done_rx) = mpsc::channel();
    {
        let summary = Arc::clone(&summary);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            let out = io::stdout();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let mut out = out.lock();
                        let _ = out.write_all(&line);
                        let _ = out.flush();
                        drop(out);
                        let text = String::from_utf8_lossy(&line);
                        on_line(&text);
                        if let Ok(mut s) = summary.lock() {
                            s.add_line(&text);
                        }
                    }
                }
            }
            let _ = done_tx.send(());
        });
    }
    let status = util::wait_interruptible(&mut child)?;
    // A process left behind may hold the pipe open: do not wait for it forever (the audit will
    // name it).
    if done_rx.recv_timeout(Duration::from_secs(3)).is_err() {
        eprintln!("xtask: warning: the test output pipe is still open (something left running?)");
    }
    let summary = *summary.lock().map_err(|_| "summary lock poisoned")?;
    Ok((status, summary))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lines_add_up() {
        let mut s = Summary::default();
        s.add_line("running 3 tests");
        s.add_line(
            "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 2 filtered out; finished in 0.01s",
        );
        s.add_line(
            "test result: FAILED. 40 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.23s\n",
        );
        s.add_line("test result: \x1b[32mok\x1b[0m. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s");
        assert_eq!(
            s,
            Summary {
                passed: 44,
                failed: 2,
                ignored: 1,
                filtered_out: 2,
                binaries: 3
            }
        );
        assert_eq!(
            s.line("itest"),
            "itest: 44 passed, 2 failed, 1 ignored, 2 filtered out"
        );
    }

    #[test]
    fn other_lines_are_ignored() {
        let mut s = Summary::default();
        s.add_line("test foo ... ok");
        s.add_line("the test result: 3 passed is not a summary");
        assert_eq!(s, Summary::default());
    }
}
