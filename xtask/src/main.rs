//! The project's automation, run as `cargo xtask <command>` (the alias lives in
//! `.cargo/config.toml`). See `docs/XTASK.md`.
//!
//! Dependencies are std and libc only; arguments are parsed by hand.

mod audit;
mod bench;
mod ci;
mod demo;
mod dist;
mod image;
mod itest;
mod loopmount;
mod util;

use std::process::ExitCode;

const USAGE: &str = "\
cargo xtask <command> [args]

Commands (all but `help` need root):
  demo                     build/reuse the test image, mount it read-only and run
                           `furnace run <mount point> ps aux` over it (README's first command)
  test                     unit tests, then the whole integration suite (README's test command)
  itest [--] [ARGS...]     the integration suite (package furnace-tests) over the loop-mounted
                           image; ARGS go to the test binary (e.g. a test-name filter, --nocapture)
  image [--rebuild]        build the test image target/furnace-image/rootfs.ext4 unless it is
                           up to date
  image --check [--hold SECONDS]
                           also mount it, list it, check its layout and programs, optionally
                           keep it mounted SECONDS, then clean up and run the leak audit
  bench [--quick]          furnace against bubblewrap, the Python original, unshare and the
                           host, in one run; writes docs/BENCHMARKS.md and docs/benchmarks.svg
                           (--quick: a few iterations, output under target/bench/)
  dist                     build the furnace CLI as one static binary (prints its path)
  ci                       cargo fmt --check, clippy -D warnings, doc -Dwarnings, `test`, then
                           `bench --quick`
  help                     this text

Every command that mounts something ends with a leak audit: mounts, loop devices, processes and
/tmp/furnace-* directories compared with before the run. Ctrl-C stops the children; xtask then
unmounts, detaches, audits and exits with 130.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => ("help", &[][..]),
    };
    if matches!(command, "help" | "-h" | "--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let run: fn(&[String]) -> util::Result<()> = match command {
        "demo" => demo::run,
        "test" => ci::test,
        "itest" => itest::run,
        "image" => image::run,
        "ci" => ci::ci,
        "bench" => bench::run,
        "dist" => dist::run,
        other => {
            eprintln!("xtask: unknown command `{other}`\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    util::install_signal_handlers();
    let result = util::require_root(&format!("cargo xtask {command}"))
        .and_then(|()| util::lock_machine())
        .and_then(|_lock| {
            loopmount::reap_stale();
            run(rest)
        });
    if util::interrupted() {
        eprintln!("xtask: interrupted; cleaned up");
        return ExitCode::from(util::interrupt_exit_code() as u8);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}
