//! `furnace run` and `furnace shell`: start a container, run the command in it with the
//! caller's stdio, forward signals, tear the container down, and pass the status on.

use std::path::Path;
use std::process::ExitStatus;

use furnace_core::{Container, Error, ExitKind};

use crate::cli::{ContainerArgs, RunArgs, ShellArgs};
use crate::exit::{self, Failure};
use crate::forward::Forwarder;
use crate::options::{self, Prepared};
use crate::signals::SignalPipe;
use crate::terminal::TerminalGuard;

/// `furnace run`: the exit status to leave with (failures are reported on stderr).
pub fn run(args: &RunArgs, signals: SignalPipe) -> u8 {
    let result = Prepared::new(&args.rootfs, &args.cmd).and_then(|prepared| {
        with_container(
            &args.rootfs,
            &args.container,
            signals,
            |container, forwarder| run_command(container, forwarder, args, &prepared),
        )
    });
    result.unwrap_or_else(|failure| failure.report())
}

/// `furnace shell`: the exit status to leave with (failures are reported on stderr).
pub fn shell(args: &ShellArgs, signals: SignalPipe) -> u8 {
    let result = Prepared::new(&args.rootfs, &args.cmd).and_then(|prepared| {
        with_container(
            &args.rootfs,
            &args.container,
            signals,
            |container, forwarder| {
                let mut shell = shell_command(container, args);
                prepared.apply(&mut shell)?;
                run_to_end(forwarder, shell, args.cwd.as_deref(), true)
            },
        )
    });
    result.unwrap_or_else(|failure| failure.report())
}

/// The interactive shell of `furnace shell` (ROOTFS or NAME): reading the root's start-up
/// files unless `--norc`.
pub fn shell_command<'c>(container: &'c Container, args: &ShellArgs) -> furnace_core::Command<'c> {
    if args.norc {
        container.shell_command_norc()
    } else {
        container.shell_command()
    }
}

/// Starts the container, runs `body` in it, tears it down, and returns the exit status for
/// what `body` ran. The terminal (if any) is restored last, after everything inside is gone.
fn with_container(
    rootfs: &Path,
    args: &ContainerArgs,
    signals: SignalPipe,
    body: impl FnOnce(&Container, &mut Forwarder) -> Result<ExitStatus, Failure>,
) -> Result<u8, Failure> {
    let builder = options::builder(rootfs, args)?;
    let _terminal = TerminalGuard::save();
    let mut forwarder = Forwarder::new(signals);
    let container = builder.start().map_err(Failure::furnace)?;
    for warning in container.warnings() {
        eprintln!("furnace: warning: {warning}");
    }
    let status = body(&container, &mut forwarder)?;
    report_oom_kill(&container, status);
    tear_down(container);
    Ok(exit::code_of(status))
}

/// A command that died of `SIGKILL` while the OOM killer was at work in the container: one
/// line says so (the status stays 137).
pub fn report_oom_kill(container: &Container, status: ExitStatus) {
    use std::os::unix::process::ExitStatusExt;
    let killed = status.signal() == Some(libc::SIGKILL);
    let oom = container.resource_usage().is_some_and(|u| u.oom_kills > 0);
    if killed && oom {
        let limit = container.memory_max().map_or_else(String::new, |bytes| {
            format!(" (memory limit {})", options::show_size(bytes))
        });
        Failure::furnace(format_args!(
            "the command was killed by the OOM killer{limit}"
        ))
        .report();
    }
}

/// Runs the command line's command.
fn run_command(
    container: &Container,
    forwarder: &mut Forwarder,
    args: &RunArgs,
    prepared: &Prepared,
) -> Result<ExitStatus, Failure> {
    let Some((program, arguments)) = args.command.split_first() else {
        return Err(Failure::furnace("no command given"));
    };
    let mut command = container.command(program);
    command.args(arguments);
    prepared.apply(&mut command)?;
    run_to_end(forwarder, command, args.cwd.as_deref(), args.tty)
}

/// Runs `command` (its ids, environment and capabilities set) with the caller's stdio and the
/// `-w` directory, and waits for it, forwarding signals. With `tty` and a terminal on stdin,
/// the command runs on a terminal of the container's own instead, proxied to the caller's
/// ([`crate::proxy`]).
pub fn run_to_end(
    forwarder: &mut Forwarder,
    mut command: furnace_core::Command<'_>,
    cwd: Option<&Path>,
    tty: bool,
) -> Result<ExitStatus, Failure> {
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    if tty && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let container = command.container();
        return crate::proxy::run(container, command, forwarder);
    }
    // On the terminal, the command's own process group is its foreground one while it runs.
    command.foreground(true);
    let mut child = command.spawn().map_err(|e| Failure::spawn(&e))?;
    let status = forwarder
        .wait(&mut child)
        .map_err(|e| Failure::furnace(format_args!("wait for the command: {e}")));
    let _ = furnace_sys::pty::take_back_foreground(std::io::stdin());
    status
}

/// Stops the container: every process inside is killed and every mount made inside goes.
/// A failure here is reported, but the command's status is still what furnace exits with.
///
/// When PID 1 had ended before (killed from outside, say with `kill -9`), the command died
/// with it: its status (137 for `SIGKILL`) alone would read as if the command itself had been
/// killed, so one line says what happened.
fn tear_down(container: Container) {
    match container.stop() {
        Ok(()) => {}
        Err(Error::InitExited { pid, how }) => {
            let how = match how {
                ExitKind::Signaled(signal) => format!("was killed by signal {signal}"),
                ExitKind::Exited(code) => format!("exited with status {code}"),
            };
            Failure::furnace(format_args!(
                "the container's init (pid {pid}) {how} while the command ran; everything \
                 inside, the command included, ended with it"
            ))
            .report();
        }
        Err(err) => {
            Failure::furnace(format_args!("warning: tearing down the container: {err}")).report();
        }
    }
}
