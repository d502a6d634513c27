//! `cargo xtask bench [--quick]`: furnace against its peers, side by side, on the test image.
//!
//! Installs what the peers need (bubblewrap with apt-get; the original Python furnace 0.0.10
//! from PyPI into a venv under `target/`), builds `furnace-bench` and the CLI in release mode
//! (the CLI statically linked, as `.cargo/config.toml` makes it, and checked to be) and, on
//! glibc, the same CLI linked dynamically with `RUSTFLAGS=""` in `target/dynamic` (the reference
//! rows "dynamic glibc"), mounts the image with a throw-away overlay on top (the Python original
//! writes into its root; the hardened rows run on the read-only image itself, which the hardened
//! profile's user namespace can idmap), and runs `furnace-bench` — which also measures the rootless rows as a throw-away
//! unprivileged user it creates and removes (`furnace-bench --remove-stale-users` runs after
//! it in any case, for a bench killed before it could). The full run writes
//! `docs/BENCHMARKS.md` and `docs/benchmarks.svg`; `--quick` (what CI runs) writes them under
//! `target/bench/` instead and only checks that every tool ran and produced a number.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::audit;
use crate::image;
use crate::loopmount::LoopMount;
use crate::util::{self, Context, Result};

/// The version of the original furnace the benchmark compares with.
const PYTHON_FURNACE: &str = "furnace==0.0.10";

pub fn run(args: &[String]) -> Result<()> {
    let quick = match args {
        [] => false,
        [flag] if flag == "--quick" => true,
        _ => return Err("bench: usage: cargo xtask bench [--quick]".into()),
    };
    util::require_root("cargo xtask bench")?;
    let image = image::ensure(false)?;
    util::ensure_tool("bwrap", "bubblewrap")?;
    util::ensure_tool("unshare", "util-linux")?;
    util::ensure_tool("useradd", "passwd")?;
    util::ensure_tool("runc", "runc")?;
    util::ensure_tool("podman", "podman")?;
    let python = python_venv()?;
    util::build_step(
        "bench",
        "furnace-bench, the furnace CLI and furnace-oci",
        util::cargo().args([
            "build",
            "--release",
            "-p",
            "furnace-bench",
            "-p",
            "furnace-cli",
            "-p",
            "furnace-oci",
        ]),
    )?;
    util::check_interrupted()?;
    let release = util::artifact_dir("release")?;
    let cli = release.join("furnace");
    // The report says the CLI row is static; a RUSTFLAGS in the environment would make it not.
    crate::dist::require_static(&cli)?;
    let cli_dynamic = build_dynamic_cli()?;
    util::check_interrupted()?;
    let (markdown, svg) = if quick {
        let dir = util::target_dir().join("bench");
        std::fs::create_dir_all(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
        (dir.join("BENCHMARKS.md"), dir.join("benchmarks.svg"))
    } else {
        let docs = util::workspace_root().join("docs");
        (docs.join("BENCHMARKS.md"), docs.join("benchmarks.svg"))
    };

    let before = audit::snapshot()?;
    let result = (|| {
        let mount = LoopMount::new(&image, "furnace-bench")?;
        let overlay = Overlay::new(mount.path());
        let outcome = overlay.and_then(|overlay| {
            let mut cmd = Command::new(release.join("furnace-bench"));
            cmd.arg("--root")
                .arg(&overlay.merged)
                .arg("--image")
                .arg(mount.path())
                .arg("--oci")
                .arg(release.join("furnace-oci"))
                .arg("--cli")
                .arg(&cli)
                .arg("--python")
                .arg(&python)
                .arg("--markdown")
                .arg(&markdown)
                .arg("--svg")
                .arg(&svg)
                .arg("--machine")
                .arg(machine());
            if let Some(cli_dynamic) = &cli_dynamic {
                cmd.arg("--cli-dynamic").arg(cli_dynamic);
            }
            if quick {
                cmd.arg("--quick");
            }
            eprintln!(
                "bench: running furnace-bench over {}{} (it prints each row as it is measured)…",
                overlay.merged.display(),
                if quick { " --quick" } else { "" }
            );
            let started = Instant::now();
            let status = util::run(&mut cmd);
            eprintln!(
                "bench: furnace-bench ran for {}",
                util::seconds(started.elapsed())
            );
            let users = remove_stale_users(&release.join("furnace-bench"));
            let cleanup = overlay.cleanup();
            status.and(users).and(cleanup)
        });
        let cleanup = mount.cleanup();
        outcome.and(cleanup)
    })();
    let audit = audit::finish(&before);
    result.and(audit)?;
    eprintln!(
        "bench: wrote {} and {}",
        util::display_path(&markdown),
        util::display_path(&svg)
    );
    Ok(())
}

/// The reference rows' CLI: the same code linked dynamically against glibc, as a build without
/// `.cargo/config.toml`'s `crt-static` makes it (`RUSTFLAGS=""` replaces the config's flags),
/// in a target directory of its own, `<target dir>/dynamic`, so that the two builds never
/// rebuild over each other's artifacts. `None` on other C libraries, where the config links
/// nothing statically and there is no dynamic glibc build to compare with.
fn build_dynamic_cli() -> Result<Option<PathBuf>> {
    let host = util::host_triple()?;
    if !host.contains("-linux-gnu") {
        eprintln!("bench: {host} is not a glibc target: no \"dynamic glibc\" reference rows");
        return Ok(None);
    }
    let dir = util::target_dir().join("dynamic");
    util::build_step(
        "bench",
        "the furnace CLI linked dynamically, for reference (RUSTFLAGS=\"\")",
        util::cargo()
            .args(["build", "--release", "-p", "furnace-cli", "--target-dir"])
            .arg(&dir)
            .env("RUSTFLAGS", "")
            .env_remove("CARGO_ENCODED_RUSTFLAGS"),
    )?;
    let cli = dir.join(host).join("release/furnace");
    if crate::dist::interpreter(&cli)?.is_none() {
        return Err(format!(
            "{} is statically linked although built with RUSTFLAGS=\"\": the row \
             \"dynamic glibc\" would not be what it says",
            cli.display()
        ));
    }
    Ok(Some(cli))
}

/// A venv with the original furnace, made once under `target/`.
fn python_venv() -> Result<PathBuf> {
    let venv = util::target_dir().join("bench-venv");
    let python = venv.join("bin/python");
    let has_furnace = |python: &Path| {
        Command::new(python)
            .args(["-c", "import furnace.context"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.is_file() && has_furnace(&python) {
        return Ok(python);
    }
    let system = util::ensure_tool("python3", "python3")?;
    eprintln!(
        "bench: creating {} with {PYTHON_FURNACE}",
        util::display_path(&venv)
    );
    if util::run(Command::new(&system).args(["-m", "venv"]).arg(&venv)).is_err() {
        util::ensure_tool("pip3", "python3-venv")?;
        util::run(
            Command::new(&system)
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
        )?;
    }
    util::run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", PYTHON_FURNACE]))?;
    if !has_furnace(&python) {
        return Err(format!(
            "{PYTHON_FURNACE} did not install into {}",
            venv.display()
        ));
    }
    Ok(python)
}

/// Removes the throw-away users of a furnace-bench that could not (killed, interrupted): the
/// sweep is furnace-bench's own, shielded from Ctrl-C so it cannot die half-way.
fn remove_stale_users(bench: &Path) -> Result<()> {
    util::run(util::shield_from_signals(
        Command::new(bench).arg("--remove-stale-users"),
    ))
}

/// A writable overlay over the read-only image: upper and work in a temp dir, which is made
/// 0755 so that the rootless rows' unprivileged user can reach the root.
struct Overlay {
    dir: PathBuf,
    merged: PathBuf,
    mounted: bool,
}

impl Overlay {
    fn new(lower: &Path) -> Result<Overlay> {
        let dir = util::make_temp_dir(Path::new("/tmp/furnace-bench-overlay."))?;
        let mut overlay = Overlay {
            merged: dir.join("merged"),
            dir,
            mounted: false,
        };
        std::fs::set_permissions(&overlay.dir, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("chmod 0755 {}", overlay.dir.display()))?;
        for sub in ["upper", "work", "merged"] {
            std::fs::create_dir(overlay.dir.join(sub)).with_context(|| format!("mkdir {sub}"))?;
        }
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            overlay.dir.join("upper").display(),
            overlay.dir.join("work").display()
        );
        util::run(
            Command::new("mount")
                .args(["-t", "overlay", "overlay", "-o", &options])
                .arg(&overlay.merged),
        )?;
        overlay.mounted = true;
        Ok(overlay)
    }

    fn cleanup(mut self) -> Result<()> {
        self.release()
    }

    fn release(&mut self) -> Result<()> {
        if self.mounted {
            let target = util::cstring(&self.merged)?;
            util::sys::umount2(&target, libc::MNT_DETACH)
                .with_context(|| format!("umount {}", self.merged.display()))?;
            self.mounted = false;
        }
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)
                .with_context(|| format!("remove {}", self.dir.display()))?;
        }
        Ok(())
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            eprintln!("xtask: warning: {e}");
        }
    }
}

/// One line about the machine: CPU, cores, memory, kernel, date.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!(
        "Machine: {cpu}, {cores} CPUs, {mem_gib:.0} GiB; Linux {}; {date}.",
        kernel.trim()
    )
}
