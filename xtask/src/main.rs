//! The project's automation, run as `cargo xtask <command>` (the alias lives in
//! `.cargo/config.toml`). See `docs/XTASK.md`.
//!
//! Dependencies are std, libc and furnace-sys (for the workspace's one mountinfo parser and one
//! `/proc/<pid>/stat` reader); arguments are parsed by hand.

mod audit;
mod bench;
mod ci;
mod demo;
mod dist;
mod image;
mod itest;
mod libtest;
mod loopmount;
mod noise;
mod tidy;
mod util;

use std::process::ExitCode;

const USAGE: &str = "\
cargo xtask <command> [args]

Commands (all but `tidy` and `help` need root):
  demo                     build furnace and the test image (or reuse them), mount the image
                           read-only and run `furnace run <mount point> ps aux` over it
                           (README's first command)
  test [--with-foreign-noise]
                           unit tests, then the whole integration suite (README's test command)
  itest [--with-foreign-noise] [--] [ARGS...]
                           the integration suite (package furnace-tests) over the loop-mounted
                           image; ARGS go to the test binary (e.g. a test-name filter,
                           --nocapture). --with-foreign-noise: a few seconds in, a helper outside
                           xtask's process tree mounts a tmpfs, attaches a loop device and starts
                           a process, which the leak audit must not count
  image [--rebuild]        build the test image target/furnace-image/rootfs.ext4 unless it is
                           up to date
  image --check [--hold SECONDS]
                           also mount it, list it, check its layout and programs, optionally
                           keep it mounted SECONDS, then clean up and run the leak audit
  tidy                     check the project's invariants (where `unsafe` may be and how it is
                           explained, furnace-sys's doc template, the code map in
                           docs/ARCHITECTURE.md, files under 800 lines); prints path:line: problem
  bench [--quick]          furnace against bubblewrap, the Python original, unshare and the
                           host, in one run; writes docs/BENCHMARKS.md and docs/benchmarks.svg
                           (--quick: a few iterations, output under target/bench/)
  dist                     build the furnace CLI as one static binary (prints its path)
  ci                       cargo fmt --check, clippy -D warnings, doc -Dwarnings, cargo package
                           of furnace-sys and furnace-core, a check of both with their minimum
                           Rust version, tidy, then `test --with-foreign-noise`, then
                           `bench --quick`
  help                     this text

test, itest, demo and ci first install the host packages they need with apt-get when missing.
Long steps say what they do before they start (cargo's own progress shows) and how long they
took after.
Every command that mounts something ends with a leak audit: the mounts, loop devices, processes
and /tmp/furnace-* directories this run made and left (what other software on the machine does
meanwhile is not counted). Ctrl-C stops the children; xtask then unmounts, detaches, audits and
exits with 130.
";

/// A subcommand: its arguments in, a message for a human out on failure.
type Subcommand = fn(&[String]) -> util::Result<()>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => ("help", &[][..]),
    };
    // Read-only commands: no root, no lock.
    let local: Option<Subcommand> = match command {
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        noise::DAEMON_COMMAND => return noise::daemon_main(),
        "tidy" => Some(tidy::run),
        _ => None,
    };
    if let Some(run) = local {
        return match run(rest) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask: error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let run: Subcommand = match command {
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
        .and_then(|()| util::become_subreaper())
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
