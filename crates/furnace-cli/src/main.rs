//! `furnace`: run a command in a throw-away container over a root directory.
//!
//! ```text
//! furnace run [OPTIONS] ROOTFS [--] COMMAND [ARGS...]
//! furnace shell [OPTIONS] ROOTFS
//! ```
//!
//! The reference is `docs/CLI.md`. In short: each invocation starts a container of its own
//! with `furnace-core`, runs the command with the caller's stdin, stdout and stderr, forwards
//! SIGINT, SIGTERM, SIGHUP and SIGQUIT to it, tears the container down when it ends, restores
//! the terminal, and exits with the command's status (125, 126 and 127 are furnace's own, as
//! with `env`, `chroot` and docker).

mod cli;
mod exit;
mod forward;
mod options;
mod proxy;
mod run;
mod signals;
mod terminal;

use std::process::ExitCode;

use crate::cli::CliCommand;
use crate::exit::Failure;

fn main() -> ExitCode {
    let cli = match cli::parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err(err) => return ExitCode::from(usage(&err)),
    };
    let container_args = match &cli.command {
        CliCommand::Run(args) => &args.container,
        CliCommand::Shell(args) => &args.container,
    };
    // Without root: into a user namespace of our own, while still single-threaded, before
    // anything else.
    if let Err(err) = furnace_core::rootless::enter(container_args.id_mapping()) {
        return ExitCode::from(Failure::furnace(err).report());
    }
    // Before any thread or container exists: from now on, the forwarded signals are caught
    // (and kept in the pipe until the command exists) instead of killing furnace.
    let signals = match signals::catch_forwarded() {
        Ok(pipe) => pipe,
        Err(err) => {
            let failure = Failure::furnace(format_args!("install the signal handlers: {err}"));
            return ExitCode::from(failure.report());
        }
    };
    let code = match &cli.command {
        CliCommand::Run(args) => run::run(args, signals),
        CliCommand::Shell(args) => run::shell(args, signals),
    };
    ExitCode::from(code)
}

/// Prints clap's message: help and version on stdout (status 0), usage errors on stderr
/// (status 125, furnace's own failure, as docker and podman do).
fn usage(err: &clap::Error) -> u8 {
    let _ = err.print();
    if err.use_stderr() {
        exit::FURNACE_FAILED
    } else {
        0
    }
}
