//! `cargo xtask itest [--with-foreign-noise] [--] [ARGS...]`: the privileged integration suite
//! (package `furnace-tests`) over the read-only loop-mounted image, with a leak audit afterwards.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::audit;
use crate::image;
use crate::libtest::{run_libtest, strip_ansi, SuiteReport, Summary};
use crate::loopmount::LoopMount;
use crate::noise::ForeignNoise;
use crate::util::{self, Result};

/// The environment variable that tells the tests where the image is mounted (read-only).
pub const IMAGE_ENV: &str = "FURNACE_TEST_IMAGE";

/// The environment variable that gives the tests the absolute path of the `furnace` binary
/// (the rootless tests run it as an unprivileged user).
pub const CLI_ENV: &str = "FURNACE_CLI";

/// The environment variable that gives the tests the absolute path of the `furnace-oci`
/// binary (built with the CLI, next to it).
pub const OCI_ENV: &str = "FURNACE_OCI";

/// How long after the first test binary starts the foreign noise appears.
const NOISE_DELAY: Duration = Duration::from_secs(3);

/// `cargo xtask itest`.
pub fn run(args: &[String]) -> Result<()> {
    util::require_root("cargo xtask itest")?;
    let (noise, extra) = parse_args(args);
    util::ensure_host_packages()?;
    let image = image::ensure(false)?;
    let report = run_suite(&image, extra, noise);
    report.into_result()
}

/// `[--with-foreign-noise] [--] [ARGS...]`: xtask's own flags come first; the rest goes to the
/// test binaries.
fn parse_args(args: &[String]) -> (bool, &[String]) {
    let mut noise = false;
    let mut rest = args;
    while let Some((first, tail)) = rest.split_first() {
        match first.as_str() {
            "--with-foreign-noise" => noise = true,
            "--" => return (noise, tail),
            _ => break,
        }
        rest = tail;
    }
    (noise, rest)
}

/// `cargo build -p furnace-cli -p furnace-oci` in the profile `cargo test` uses (dev), for the
/// tests that run the CLI and the OCI runtime; returns the CLI's absolute path (`furnace-oci`
/// is next to it).
fn build_cli() -> Result<PathBuf> {
    util::build_step(
        "itest",
        "the furnace CLI and furnace-oci for the tests that run them",
        util::cargo().args([
            "build",
            "-p",
            "furnace-cli",
            "--bin",
            "furnace",
            "-p",
            "furnace-oci",
            "--bin",
            "furnace-oci",
        ]),
    )?;
    let cli = util::artifact_dir("debug")?.join("furnace");
    if cli.is_file() {
        Ok(cli)
    } else {
        Err(format!(
            "`cargo build -p furnace-cli` did not leave the binary at {}",
            cli.display()
        ))
    }
}

/// The CLI build, foreign noise (when asked for), baseline, mount, `cargo test -p
/// furnace-tests` (with `FURNACE_CLI`), unmount + detach, leak audit. The caller holds the
/// machine lock, has checked the host's packages and has built the image.
pub fn run_suite(image: &Path, extra: &[String], with_noise: bool) -> SuiteReport {
    let mut report = SuiteReport {
        name: "itest",
        summary: Summary::default(),
        failures: Vec::new(),
    };
    let cli = match build_cli() {
        Ok(cli) => cli,
        Err(e) => {
            report.failures.push(e);
            return report;
        }
    };
    // Started before the baseline: the helper itself is old, what it makes later is new.
    let noise = if with_noise {
        match ForeignNoise::start() {
            Ok(noise) => {
                eprintln!(
                    "itest: foreign-noise helper {} started outside xtask's process tree",
                    noise.daemon
                );
                Some(noise)
            }
            Err(e) => {
                // The suite still runs; the missing proof fails it.
                report.failures.push(e);
                None
            }
        }
    } else {
        None
    };
    let before = match audit::snapshot() {
        Ok(s) => s,
        Err(e) => {
            report.failures.push(e);
            return report;
        }
    };
    let started = Instant::now();
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
        cmd.args(extra)
            .env(IMAGE_ENV, mount.path())
            .env(CLI_ENV, &cli)
            .env(OCI_ENV, cli.with_file_name("furnace-oci"));
        // The noise appears a few seconds after the first test binary starts.
        let trigger = noise.as_ref().map(ForeignNoise::trigger);
        let mut armed = false;
        let on_line = move |line: &str| {
            if let Some(trigger) = &trigger {
                if !armed && strip_ansi(line).starts_with("running ") {
                    armed = true;
                    trigger.fire_after(NOISE_DELAY);
                }
            }
        };
        let outcome = run_libtest("itest", &mut cmd, Box::new(on_line));
        // Unmount and detach before judging, whatever happened.
        let cleanup = mount.cleanup();
        let outcome = outcome?;
        cleanup?;
        Ok(outcome)
    })();
    match run {
        Ok((status, summary)) => {
            report.summary = summary;
            eprintln!(
                "{} in {}",
                summary.line("itest"),
                util::seconds(started.elapsed())
            );
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
    // If the suite was over before the noise came, it comes now: the audit must see it.
    let made = noise.as_ref().map(ForeignNoise::made);
    match &made {
        Some(Ok(m)) => eprintln!(
            "itest: foreign noise: tmpfs on {}, loop device {}, process {} (`sleep 600`, \
             re-parented away from xtask)",
            m.dir.display(),
            m.device,
            m.pid
        ),
        Some(Err(e)) => report.failures.push(e.clone()),
        None => {}
    }
    let audit = audit::finish(&before);
    let audit_ok = audit.is_ok();
    if let Err(e) = audit {
        report.failures.push(e);
    }
    if let Some(Ok(m)) = &made {
        match m.still_there() {
            Ok(()) if audit_ok => eprintln!(
                "itest: the foreign noise was there all through the audit, which did not count it"
            ),
            Ok(()) => {}
            Err(e) => report.failures.push(e),
        }
    }
    if let Some(noise) = noise {
        match noise.stop() {
            Ok(()) => eprintln!("itest: foreign noise removed"),
            Err(e) => report.failures.push(e),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_flags_come_first() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let a = args(&["--with-foreign-noise", "--", "leak", "--nocapture"]);
        assert_eq!(parse_args(&a), (true, &a[2..]));
        let a = args(&["leak", "--with-foreign-noise"]);
        assert_eq!(parse_args(&a), (false, &a[..]));
        let a = args(&["--", "--with-foreign-noise"]);
        assert_eq!(parse_args(&a), (false, &a[1..]));
        assert_eq!(parse_args(&[]), (false, &[][..]));
    }
}
