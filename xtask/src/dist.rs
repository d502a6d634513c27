//! `cargo xtask dist`: the `furnace` command line as one static binary, with its manual pages
//! and shell completion scripts beside it.
//!
//! A statically linked binary starts without the dynamic loader (about 0.3 ms less per run on
//! the development machines, a tenth of a whole container lifecycle) and can be copied to any
//! Linux machine of the same architecture. glibc's static libc is enough: furnace calls nothing
//! that needs NSS or `dlopen`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, Result};

pub fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        return Err(format!(
            "dist: unknown argument `{arg}` (see `cargo xtask help`)"
        ));
    }
    let binary = build_static_cli()?;
    install_docs(&binary)?;
    println!("{}", binary.display());
    Ok(())
}

/// The completion scripts `dist` writes: the shell, and the file name its completion
/// directories expect.
const COMPLETIONS: [(&str, &str); 3] = [
    ("bash", "furnace.bash"),
    ("zsh", "_furnace"),
    ("fish", "furnace.fish"),
];

/// Writes the manual pages and the completion scripts next to `binary`, made by the binary
/// itself from the clap definitions it parses with: `man/furnace.1`, `man/furnace-run.1`, …
/// (`furnace man --dir`), and `completions/furnace.bash`, `completions/_furnace` (zsh),
/// `completions/furnace.fish` (`furnace completions SHELL`).
fn install_docs(binary: &Path) -> Result<()> {
    let dir = binary.parent().unwrap_or(Path::new("."));
    let man = dir.join("man");
    // The page list it prints would mix with `dist`'s one line on stdout, the binary's path.
    util::run(
        Command::new(binary)
            .arg("man")
            .arg("--dir")
            .arg(&man)
            .stdout(std::process::Stdio::null()),
    )?;
    let completions = dir.join("completions");
    std::fs::create_dir_all(&completions)
        .map_err(|e| format!("create {}: {e}", completions.display()))?;
    for (shell, name) in COMPLETIONS {
        let out = Command::new(binary)
            .args(["completions", shell])
            .output()
            .map_err(|e| format!("run {} completions {shell}: {e}", binary.display()))?;
        if !out.status.success() || out.stdout.is_empty() {
            return Err(format!(
                "{} completions {shell}: {} {}",
                binary.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let path = completions.join(name);
        std::fs::write(&path, &out.stdout).map_err(|e| format!("write {}: {e}", path.display()))?;
    }
    eprintln!(
        "dist: manual pages in {}, completion scripts in {}",
        util::display_path(&man),
        util::display_path(&completions)
    );
    Ok(())
}

/// Builds the CLI in release mode with `crt-static` for the host and returns its path.
///
/// The flag goes through `RUSTFLAGS` with an explicit `--target`, so that it applies to the
/// binary only and not to build scripts and proc macros (which cannot be static).
pub fn build_static_cli() -> Result<PathBuf> {
    let host = host_triple()?;
    eprintln!("dist: building the static furnace CLI for {host}");
    util::run(
        util::cargo()
            .args([
                "build",
                "--quiet",
                "--release",
                "-p",
                "furnace-cli",
                "--target",
                &host,
            ])
            .env("RUSTFLAGS", "-C target-feature=+crt-static"),
    )?;
    let binary = util::target_dir().join(&host).join("release/furnace");
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!("{} is missing after the build", binary.display()))
    }
}

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV printed no host triple".into())
}
