//! `cargo xtask test` (the README's test command) and `cargo xtask ci` (what CI runs).

use std::process::Command;

use crate::audit;
use crate::image;
use crate::itest;
use crate::libtest::{self, SuiteReport, Summary};
use crate::util::{self, Result};

/// `cargo xtask test [--with-foreign-noise]`: the unit tests (with the privileged tests of
/// furnace-sys — they need root), each run under the leak audit, then the whole integration
/// suite.
pub fn test(args: &[String]) -> Result<()> {
    let noise = match args {
        [] => false,
        [flag] if flag == "--with-foreign-noise" => true,
        [arg, ..] => {
            return Err(format!(
                "test: unknown argument `{arg}` (see `cargo xtask help`)"
            ))
        }
    };
    util::require_root("cargo xtask test")?;
    util::ensure_host_packages()?;
    let (unit, integration) = all_tests(noise)?;
    let result = verdict(&unit, &integration);
    println!("{}", closing_line(&unit, &integration));
    result
}

/// The unit tests, then the integration suite, with their reports printed.
fn all_tests(noise: bool) -> Result<(SuiteReport, SuiteReport)> {
    let unit = unit_tests();
    util::check_interrupted()?;
    let integration = match image::ensure(false) {
        Ok(image) => itest::run_suite(&image, &[], noise),
        Err(e) => SuiteReport {
            name: "itest",
            summary: Summary::default(),
            failures: vec![e],
        },
    };
    eprintln!();
    eprintln!("test: {}", unit.verdict());
    eprintln!("test: {}", integration.verdict());
    Ok((unit, integration))
}

fn verdict(unit: &SuiteReport, integration: &SuiteReport) -> Result<()> {
    match (unit.ok(), integration.ok()) {
        (true, true) => Ok(()),
        (false, true) => Err("unit tests failed".into()),
        (true, false) => Err("integration tests failed".into()),
        (false, false) => Err("unit and integration tests failed".into()),
    }
}

/// `tests: N passed, M failed` over both suites: the last line a run prints, for readers that
/// look for the count there.
fn closing_line(unit: &SuiteReport, integration: &SuiteReport) -> String {
    let passed = unit.summary.passed + integration.summary.passed;
    let failed = unit.summary.failed + integration.summary.failed;
    format!("tests: {passed} passed, {failed} failed")
}

/// `cargo test --workspace --exclude furnace-tests`, under the leak audit.
fn unit_tests() -> SuiteReport {
    let mut report = SuiteReport {
        name: "unit",
        summary: Summary::default(),
        failures: vec![],
    };
    let before = match audit::snapshot() {
        Ok(s) => s,
        Err(e) => {
            report.failures.push(e);
            return report;
        }
    };
    let mut cmd = util::cargo();
    cmd.args([
        "test",
        "--no-fail-fast",
        "--workspace",
        "--exclude",
        "furnace-tests",
    ]);
    match libtest::run_libtest(&mut cmd, Box::new(|_: &str| {})) {
        Ok((status, summary)) => {
            report.summary = summary;
            eprintln!("{}", summary.line("unit"));
            if !status.success() {
                report
                    .failures
                    .push(format!("cargo test --workspace: {status}"));
            }
            if summary.failed > 0 {
                report
                    .failures
                    .push(format!("{} test(s) failed", summary.failed));
            }
        }
        Err(e) => report.failures.push(e),
    }
    if let Err(e) = audit::finish(&before) {
        report.failures.push(e);
    }
    report
}

/// `cargo xtask ci`: format, lints, docs and tidy (all four run, whatever one of them says),
/// then everything `cargo xtask test --with-foreign-noise` runs, then `bench --quick`.
pub fn ci(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        return Err(format!(
            "ci: unknown argument `{arg}` (see `cargo xtask help`)"
        ));
    }
    util::require_root("cargo xtask ci")?;
    util::ensure_host_packages()?;
    let mut steps: Vec<(&str, Result<()>)> = Vec::new();

    let mut fmt = util::cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    steps.push(("cargo fmt --check", step(&mut fmt)));

    let mut clippy = util::cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    steps.push(("cargo clippy -D warnings", step(&mut clippy)));

    let mut doc = util::cargo();
    let rustdocflags = match std::env::var("RUSTDOCFLAGS") {
        Ok(flags) if !flags.trim().is_empty() => format!("{flags} -Dwarnings"),
        _ => "-Dwarnings".to_string(),
    };
    doc.args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", rustdocflags);
    steps.push(("cargo doc -Dwarnings", step(&mut doc)));

    eprintln!("ci: running cargo xtask tidy");
    steps.push(("tidy", crate::tidy::run(&[])));

    util::check_interrupted()?;
    let (unit, integration) = all_tests(true)?;
    steps.push((
        "tests (unit + itest with foreign noise)",
        verdict(&unit, &integration),
    ));

    util::check_interrupted()?;
    steps.push(("bench --quick", crate::bench::run(&["--quick".to_owned()])));

    eprintln!();
    let mut failed = Vec::new();
    for (name, result) in &steps {
        match result {
            Ok(()) => eprintln!("ci: {name}: ok"),
            Err(e) => {
                eprintln!("ci: {name}: FAILED ({e})");
                failed.push(*name);
            }
        }
    }
    let result = if failed.is_empty() {
        eprintln!("ci: all steps passed");
        Ok(())
    } else {
        Err(format!("ci failed: {}", failed.join(", ")))
    };
    println!("{}", closing_line(&unit, &integration));
    result
}

fn step(cmd: &mut Command) -> Result<()> {
    eprintln!("ci: running {}", util::describe(cmd));
    util::run(cmd)
}
