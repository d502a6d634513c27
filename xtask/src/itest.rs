//! `cargo xtask itest [--] [ARGS...]`: the privileged integration suite (package
//! `furnace-tests`) over the read-only loop-mounted image, with a leak audit afterwards.

use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::audit;
use crate::image;
use crate::loopmount::LoopMount;
use crate::util::{self, Context, Result};

/// The environment variable that tells the tests where the image is mounted (read-only).
pub const IMAGE_ENV: &str = "FURNACE_TEST_IMAGE";

/// `cargo xtask itest`.
pub fn run(args: &[String]) -> Result<()> {
    util::require_root("cargo xtask itest")?;
    let extra = match args.first().map(String::as_str) {
        Some("--") => &args[1..],
        _ => args,
    };
    let image = image::ensure(false)?;
    let report = run_suite(&image, extra);
    report.into_result()
}

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

fn strip_ansi(s: &str) -> String {
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

/// Baseline, mount, `cargo test -p furnace-tests`, unmount + detach, leak audit.
/// The caller holds the machine lock and has built the image.
/// What the suite needs besides the image: `strace` for the fault-injection tests, and `gcc`
/// with a static libc for the `/probe` helper `tests/build.rs` compiles. Installed with
/// apt-get when missing, so that `cargo xtask test` works on a fresh machine.
fn ensure_suite_tools() -> Result<()> {
    util::ensure_tool("strace", "strace")?;
    let gcc = util::ensure_tool("gcc", "gcc")?;
    let has_static_libc = || {
        std::process::Command::new(&gcc)
            .arg("-print-file-name=libc.a")
            .output()
            .map(|o| Path::new(String::from_utf8_lossy(&o.stdout).trim()).is_absolute())
            .unwrap_or(false)
    };
    if !has_static_libc() {
        util::apt_install("libc6-dev")?;
        if !has_static_libc() {
            return Err("gcc has no static libc (libc.a) even after installing libc6-dev".into());
        }
    }
    Ok(())
}

pub fn run_suite(image: &Path, extra: &[String]) -> SuiteReport {
    let mut report = SuiteReport {
        name: "itest",
        summary: Summary::default(),
        failures: Vec::new(),
    };
    if let Err(e) = ensure_suite_tools() {
        report.failures.push(e);
        return report;
    }
    let before = match audit::snapshot() {
        Ok(s) => s,
        Err(e) => {
            report.failures.push(e);
            return report;
        }
    };
    let run = (|| -> Result<(ExitStatus, Summary)> {
        let mount = LoopMount::new(image, "furnace-itest")?;
        eprintln!(
            "itest: image mounted read-only on {} ({}); {IMAGE_ENV}={}",
            mount.path().display(),
            mount.device().display(),
            mount.path().display()
        );
        util::check_interrupted()?;
        let mut cmd = util::cargo();
        cmd.args(["test", "--no-fail-fast", "-p", "furnace-tests", "--"]);
        if !extra.iter().any(|a| a.starts_with("--test-threads")) {
            cmd.arg("--test-threads=4");
        }
        if io::stdout().is_terminal() && !extra.iter().any(|a| a.starts_with("--color")) {
            cmd.arg("--color=always");
        }
        cmd.args(extra).env(IMAGE_ENV, mount.path());
        let outcome = run_libtest(&mut cmd);
        // Unmount and detach before judging, whatever happened.
        let cleanup = mount.cleanup();
        let outcome = outcome?;
        cleanup?;
        Ok(outcome)
    })();
    match run {
        Ok((status, summary)) => {
            report.summary = summary;
            eprintln!("{}", summary.line("itest"));
            if !status.success() {
                report
                    .failures
                    .push(format!("cargo test -p furnace-tests: {status}"));
            }
            if summary.failed > 0 {
                report
                    .failures
                    .push(format!("{} test(s) failed", summary.failed));
            }
            if summary.ignored > 0 {
                report.failures.push(format!(
                    "{} test(s) ignored: every case of the suite must run",
                    summary.ignored
                ));
            }
            if summary.passed + summary.failed == 0 {
                report.failures.push("no test ran".into());
            }
        }
        Err(e) => report.failures.push(e),
    }
    if let Err(e) = audit::finish(&before) {
        report.failures.push(e);
    }
    report
}

/// Runs a `cargo test` command, streaming its stdout through while reading the libtest summary
/// lines (stderr — cargo's own messages — is inherited).
pub fn run_libtest(cmd: &mut Command) -> Result<(ExitStatus, Summary)> {
    eprintln!("xtask: running {}", util::describe(cmd));
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
                        if let Ok(mut s) = summary.lock() {
                            s.add_line(&String::from_utf8_lossy(&line));
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
