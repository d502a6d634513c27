//! `cargo xtask demo`: the README's first command. Builds the `furnace` command line, builds (or
//! reuses) the test image, mounts it read-only and runs `furnace run <mount point> ps aux` over
//! the read-only mount point — it prints PID 1 and `ps`, nothing else — then unmounts, detaches
//! and runs the leak audit. Each phase says what it is doing before it starts, cargo's own
//! progress shows and the build says how long it took, so a first run (a build of ~25 s) is
//! never silent.

use std::process::{Command, Stdio};

use crate::audit;
use crate::image;
use crate::loopmount::LoopMount;
use crate::util::{self, Result};

pub fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        return Err(format!(
            "demo: unknown argument `{arg}` (see `cargo xtask help`)"
        ));
    }
    util::require_root("cargo xtask demo")?;
    eprintln!("demo: checking the host's packages…");
    util::ensure_host_packages()?;

    util::build_step(
        "demo",
        "the furnace CLI",
        util::cargo().args(["build", "-p", "furnace-cli"]),
    )?;
    util::check_interrupted()?;
    let furnace = util::artifact_dir("debug")?.join("furnace");
    if !furnace.is_file() {
        return Err(format!("{} is missing after the build", furnace.display()));
    }

    eprintln!("demo: building the test image (reused when its inputs are unchanged)…");
    let image = image::ensure(false)?;

    let before = audit::snapshot()?;
    let result = (|| {
        eprintln!("demo: mounting the image read-only…");
        let mount = LoopMount::new(&image, "furnace-demo")?;
        let mut cmd = Command::new(&furnace);
        cmd.arg("run")
            .arg(mount.path())
            .args(["ps", "aux"])
            .stdin(Stdio::inherit());
        eprintln!("demo: running `{}`", describe_short(&cmd));
        let status = util::run_status(&mut cmd);
        eprintln!("demo: unmounting and detaching the image…");
        let cleanup = mount.cleanup();
        let status = status?;
        cleanup?;
        util::check_interrupted()?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`furnace run` failed ({status})"))
        }
    })();
    eprintln!("demo: leak audit…");
    let audit = audit::finish(&before);
    result.and(audit)
}

/// The command line with the binary shortened to its path inside the workspace.
fn describe_short(cmd: &Command) -> String {
    let full = util::describe(cmd);
    let program = cmd.get_program().to_string_lossy().into_owned();
    let short = util::display_path(std::path::Path::new(&program));
    full.replacen(&program, &short, 1)
}
