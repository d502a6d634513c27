//! `furnace`: run a command in a throw-away container over a root directory.
//!
//! ```text
//! furnace run [OPTIONS] ROOTFS [--] COMMAND [ARGS...]
//! furnace shell [OPTIONS] ROOTFS|NAME
//! furnace start [OPTIONS] [--name NAME] [--timeout DURATION] ROOTFS
//! furnace exec [OPTIONS] NAME [--] COMMAND [ARGS...]
//! furnace list [--json]
//! furnace stop NAME...
//! furnace completions bash|zsh|fish
//! ```
//!
//! The reference is `docs/CLI.md`. In short: each invocation starts a container of its own
//! with `furnace-core`, runs the command with the caller's stdin, stdout and stderr, forwards
//! SIGINT, SIGTERM, SIGHUP and SIGQUIT to it, tears the container down when it ends, restores
//! the terminal, and exits with the command's status (125, 126 and 127 are furnace's own, as
//! with `env`, `chroot` and docker).

mod binds;
mod capabilities;
mod cli;
mod environment;
mod exit;
mod forward;
mod generate;
mod named;
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
    ExitCode::from(dispatch(&cli).unwrap_or_else(|failure| failure.report()))
}

/// What runs in this process: a new container (entered into a user namespace first when not
/// root), or a running one attached to (joining its user namespace when it has one). Both
/// happen first, while the process is single-threaded, as the kernel requires.
enum Target {
    New,
    Attached(Box<furnace_core::Container>),
    Other,
}

fn dispatch(cli: &cli::Cli) -> Result<u8, Failure> {
    let state_dir = cli.state_dir.as_deref();
    let target = match &cli.command {
        CliCommand::Run(_) | CliCommand::Start(_) => Target::New,
        CliCommand::Shell(args) => {
            let registry = named::registry(state_dir);
            match registry {
                Ok(registry) if named::is_running_name(&registry, &args.rootfs) => {
                    named::check_shell_options(args)?;
                    let name = args.rootfs.to_string_lossy();
                    Target::Attached(Box::new(named::attach(&registry, &name)?))
                }
                _ => Target::New,
            }
        }
        CliCommand::Exec(args) => Target::Attached(Box::new(named::attach(
            &named::registry(state_dir)?,
            &args.name,
        )?)),
        CliCommand::List(_)
        | CliCommand::Stop(_)
        | CliCommand::Completions(_)
        | CliCommand::Man(_) => Target::Other,
    };
    if let Target::New = target {
        let container_args = match &cli.command {
            CliCommand::Run(args) => &args.container,
            CliCommand::Shell(args) => &args.container,
            CliCommand::Start(args) => &args.container,
            _ => unreachable!("only these make a new container"),
        };
        // Without root: into a user namespace of our own, while still single-threaded,
        // before anything else.
        furnace_core::rootless::enter(container_args.id_mapping()).map_err(Failure::furnace)?;
    }
    match &cli.command {
        CliCommand::Start(args) => return Ok(named::start(args, named::registry(state_dir)?)),
        CliCommand::List(args) => return Ok(named::list(&named::registry(state_dir)?, args)),
        CliCommand::Stop(args) => return Ok(named::stop(&named::registry(state_dir)?, args)),
        CliCommand::Completions(args) => return Ok(generate::completions(args)),
        CliCommand::Man(args) => return Ok(generate::man(args)),
        _ => {}
    }
    // Before any thread or container exists: from now on, the forwarded signals are caught
    // (and kept in the pipe until the command exists) instead of killing furnace.
    let signals = signals::catch_forwarded()
        .map_err(|err| Failure::furnace(format_args!("install the signal handlers: {err}")))?;
    Ok(match (&cli.command, target) {
        (CliCommand::Run(args), _) => run::run(args, signals),
        (CliCommand::Shell(args), Target::Attached(container)) => {
            named::shell(*container, args, signals)
        }
        (CliCommand::Shell(args), _) => run::shell(args, signals),
        (CliCommand::Exec(args), Target::Attached(container)) => {
            named::exec(*container, args, signals)
        }
        _ => unreachable!("every command is handled above"),
    })
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
