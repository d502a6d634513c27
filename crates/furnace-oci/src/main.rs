//! `furnace-oci`: an OCI runtime built on furnace-core, with runc's command line as engines
//! call it (podman through conmon, containerd through its shim).
//!
//! ```text
//! furnace-oci [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND
//! furnace-oci create --bundle DIR [--pid-file FILE] [--console-socket S] [--preserve-fds N] ID
//! furnace-oci start ID
//! furnace-oci state ID
//! furnace-oci kill [--all] ID [SIGNAL]
//! furnace-oci delete [--force] ID
//! furnace-oci ps [--format table|json] ID [PS-OPTIONS...]
//! furnace-oci exec [--process FILE] [--pid-file FILE] [--detach] [--tty --console-socket S] ID [CMD...]
//! furnace-oci features
//! furnace-oci --version
//! ```
//!
//! `create` sets the container up and leaves its PID 1 waiting at a start gate (a FIFO in the
//! container's state directory), writes the state and the pid file, and returns; `start`
//! opens the gate, and PID 1 becomes the bundle's `process`
//! ([`furnace_core::InitProgram`]); the container outlives every runtime process. docs/OCI.md
//! says what of `config.json` is supported; a field present and not supported is an error that
//! names it.

mod cli;
mod config;
mod devices;
mod exec;
mod hooks;
mod log;
mod mounts;
mod ops;
mod signals;
mod state;

use std::process::ExitCode;

fn main() -> ExitCode {
    // The three lines engines parse, for `--version`, `-v` and `version` alike (clap would
    // put its own name before them).
    if matches!(
        std::env::args().nth(1).as_deref(),
        Some("--version" | "-v" | "version")
    ) {
        println!("{}", cli::VERSION);
        return ExitCode::SUCCESS;
    }
    let cli = cli::parse();
    let logger = log::Logger::new(&cli.global);
    match ops::run(&cli, &logger) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            logger.error(&message);
            ExitCode::FAILURE
        }
    }
}
