//! `cargo xtask test` (the README's test command) and `cargo xtask ci` (what CI runs).

use std::process::Command;
use std::time::{Duration, Instant};

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
    let started = Instant::now();
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
    match libtest::run_libtest("unit", &mut cmd, Box::new(|_: &str| {})) {
        Ok((status, summary)) => {
            report.summary = summary;
            eprintln!(
                "{} in {}",
                summary.line("unit"),
                util::seconds(started.elapsed())
            );
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

/// `cargo xtask ci`: format, lints, docs, packaging, the libraries' minimum Rust version and
/// tidy (all six run, whatever one of them says), then everything `cargo xtask test
/// --with-foreign-noise` runs, then `bench --quick`. Ends with one line per step and its time.
pub fn ci(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        return Err(format!(
            "ci: unknown argument `{arg}` (see `cargo xtask help`)"
        ));
    }
    util::require_root("cargo xtask ci")?;
    util::ensure_host_packages()?;
    let mut steps: Vec<(&str, Result<()>, Duration)> = Vec::new();
    let mut timed = |name, f: &mut dyn FnMut() -> Result<()>| {
        let started = Instant::now();
        let result = f();
        steps.push((name, result, started.elapsed()));
    };

    timed("cargo fmt --check", &mut || {
        step(util::cargo().args(["fmt", "--all", "--", "--check"]))
    });
    timed("cargo clippy -D warnings", &mut || {
        step(util::cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    });
    timed("cargo doc -Dwarnings", &mut || {
        let rustdocflags = match std::env::var("RUSTDOCFLAGS") {
            Ok(flags) if !flags.trim().is_empty() => format!("{flags} -Dwarnings"),
            _ => "-Dwarnings".to_string(),
        };
        step(
            util::cargo()
                .args(["doc", "--workspace", "--no-deps"])
                .env("RUSTDOCFLAGS", rustdocflags),
        )
    });
    timed("cargo package (furnace-sys, furnace-core)", &mut package);
    timed(
        "minimum Rust version (furnace-sys, furnace-core)",
        &mut msrv,
    );
    timed("tidy", &mut || {
        eprintln!("ci: running cargo xtask tidy");
        crate::tidy::run(&[])
    });

    util::check_interrupted()?;
    let started = Instant::now();
    let (unit, integration) = all_tests(true)?;
    steps.push((
        "tests (unit + itest with foreign noise)",
        verdict(&unit, &integration),
        started.elapsed(),
    ));

    util::check_interrupted()?;
    let started = Instant::now();
    let bench = crate::bench::run(&["--quick".to_owned()]);
    steps.push(("bench --quick", bench, started.elapsed()));

    eprintln!();
    let mut failed = Vec::new();
    for (name, result, took) in &steps {
        let took = util::seconds(*took);
        match result {
            Ok(()) => eprintln!("ci: {name}: ok ({took})"),
            Err(e) => {
                eprintln!("ci: {name}: FAILED ({e}) ({took})");
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

/// The crates meant for crates.io.
const PUBLISHED: [&str; 2] = ["furnace-sys", "furnace-core"];

/// `cargo package` of the published crates, verified as `cargo publish` would: each `.crate`
/// built from its packaged sources alone, furnace-core against the packaged furnace-sys (cargo
/// packs workspace members together through a local registry). Dirty trees are allowed: a
/// developer's uncommitted work is what is being checked. Quick once the dependencies are
/// built: the verification shares the target directory.
fn package() -> Result<()> {
    forget_packaged_sources()?;
    let mut cmd = util::cargo();
    cmd.arg("package");
    for name in PUBLISHED {
        cmd.args(["-p", name]);
    }
    step(cmd.arg("--allow-dirty"))
}

/// Removes cargo's extracted copies of the published crates from its temporary registries
/// (`$CARGO_HOME/registry/src/-<hash>/furnace-sys-0.1.0`, named after the registry's path, so
/// the same for every run in one checkout): cargo reuses an extraction of the same name and
/// version, and would verify furnace-core against the furnace-sys of an earlier run.
fn forget_packaged_sources() -> Result<()> {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")));
    let Some(src) = home.map(|h| h.join("registry/src")) else {
        return Ok(());
    };
    let Ok(registries) = std::fs::read_dir(&src) else {
        return Ok(());
    };
    for registry in registries.flatten() {
        // Only the local, temporary registries: crates.io's directory is `index.crates.io-…`.
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        let Ok(crates) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for entry in crates.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if PUBLISHED.iter().any(|p| name.starts_with(&format!("{p}-"))) {
                std::fs::remove_dir_all(entry.path())
                    .map_err(|e| format!("remove {}: {e}", entry.path().display()))?;
            }
        }
    }
    Ok(())
}

/// `cargo check --all-targets` of the published crates with the Rust version their manifests
/// declare (`rust-version`), installed with rustup (minimal profile) when missing, in a target
/// directory of its own. Without rustup the check is skipped, saying so.
fn msrv() -> Result<()> {
    let version = library_msrv()?;
    let Some(rustup) = util::which("rustup") else {
        eprintln!(
            "ci: warning: no rustup to install Rust {version} with: the libraries' minimum Rust \
             version is not checked"
        );
        return Ok(());
    };
    let installed = Command::new(&rustup)
        .args(["run", &version, "rustc", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        step(Command::new(&rustup).args([
            "toolchain",
            "install",
            &version,
            "--profile",
            "minimal",
        ]))?;
    }
    let mut cmd = Command::new(&rustup);
    cmd.current_dir(util::workspace_root()).args([
        "run",
        &version,
        "cargo",
        "check",
        "--locked",
        "--all-targets",
        // Older cargo does not know `host-tuple` (`.cargo/config.toml`); the flag wins.
        "--target",
        &util::host_triple()?,
    ]);
    for name in PUBLISHED {
        cmd.args(["-p", name]);
    }
    // Not the outer cargo's tools, whichever toolchain it is.
    cmd.env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        .env("CARGO_TARGET_DIR", util::target_dir().join("msrv"));
    step(&mut cmd)
}

/// The `rust-version` the published crates declare; they must agree.
fn library_msrv() -> Result<String> {
    let mut found: Option<String> = None;
    for name in PUBLISHED {
        let manifest = util::workspace_root()
            .join("crates")
            .join(name)
            .join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)
            .map_err(|e| format!("read {}: {e}", manifest.display()))?;
        let version = rust_version(&text).ok_or_else(|| {
            format!(
                "{}: no `rust-version = \"…\"` of its own",
                manifest.display()
            )
        })?;
        match &found {
            Some(v) if *v != version => {
                return Err(format!(
                    "the published crates declare different minimum Rust versions ({v}, {version})"
                ))
            }
            _ => found = Some(version),
        }
    }
    found.ok_or_else(|| "no published crate".into())
}

/// `rust-version = "1.80"` of a manifest's `[package]` section (not `rust-version.workspace`).
fn rust_version(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        let Some(value) = line
            .strip_prefix("rust-version")
            .and_then(|rest| rest.trim_start().strip_prefix('='))
        else {
            continue;
        };
        let value = value.trim();
        if in_package {
            return value
                .strip_prefix('"')
                .and_then(|v| v.split_once('"'))
                .map(|(v, _)| v.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_version_of_the_package_section() {
        let manifest = "[package]\nname = \"x\"\n# a comment\nrust-version = \"1.80\" # why\n\n[dependencies]\n";
        assert_eq!(rust_version(manifest).as_deref(), Some("1.80"));
        assert_eq!(
            rust_version("[package]\nrust-version.workspace = true\n"),
            None
        );
        assert_eq!(
            rust_version("[workspace.package]\nrust-version = \"1.85\"\n"),
            None
        );
    }
}
