//! `furnace run` and `furnace shell`: start a container, run the command in it with the
//! caller's stdio, forward signals, tear the container down, and pass the status on.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitStatus;

use furnace_core::Container;
use furnace_sys::DisplayErrno;

use crate::cli::{ContainerArgs, RunArgs, ShellArgs};
use crate::exit::{self, Failure};
use crate::forward::Forwarder;
use crate::options;
use crate::signals::SignalPipe;
use crate::terminal::TerminalGuard;

/// `furnace run`: the exit status to leave with (failures are reported on stderr).
pub fn run(args: &RunArgs, signals: SignalPipe) -> u8 {
    let result = options::env_vars(&args.container).and_then(|env| {
        with_container(
            &args.rootfs,
            &args.container,
            signals,
            |container, forwarder| run_command(container, forwarder, args, &env),
        )
    });
    result.unwrap_or_else(|failure| failure.report())
}

/// `furnace shell`: the exit status to leave with (failures are reported on stderr).
pub fn shell(args: &ShellArgs, signals: SignalPipe) -> u8 {
    let result = options::env_vars(&args.container).and_then(|env| {
        with_container(
            &args.rootfs,
            &args.container,
            signals,
            |container, forwarder| {
                let shell = container.shell_command();
                run_to_end(container, forwarder, shell, &env, args.cwd.as_deref())
            },
        )
    });
    result.unwrap_or_else(|failure| failure.report())
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
    let status = body(&container, &mut forwarder)?;
    tear_down(container);
    Ok(exit::code_of(status))
}

/// Runs the command line's command.
fn run_command(
    container: &Container,
    forwarder: &mut Forwarder,
    args: &RunArgs,
    env: &[(OsString, OsString)],
) -> Result<ExitStatus, Failure> {
    let Some((program, arguments)) = args.command.split_first() else {
        return Err(Failure::furnace("no command given"));
    };
    let mut command = container.command(program);
    command.args(arguments);
    run_to_end(container, forwarder, command, env, args.cwd.as_deref())
}

/// Runs `command` with the caller's stdio, the `-e` variables and the `-w` directory, and
/// waits for it, forwarding signals.
fn run_to_end(
    container: &Container,
    forwarder: &mut Forwarder,
    mut command: furnace_core::Command<'_>,
    env: &[(OsString, OsString)],
    cwd: Option<&Path>,
) -> Result<ExitStatus, Failure> {
    command.envs(env.iter().cloned());
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let mut child = command
        .spawn()
        .map_err(|e| spawn_failure(container, cwd, &e))?;
    forwarder
        .wait(&mut child)
        .map_err(|e| Failure::furnace(format_args!("wait for the command: {e}")))
}

/// The failure for a spawn error: a bad working directory is furnace's failure (125), as with
/// `env -C`; otherwise the command was not found (127) or cannot be executed (126).
fn spawn_failure(container: &Container, cwd: Option<&Path>, err: &std::io::Error) -> Failure {
    if let Some(cwd) = cwd {
        if let Err(errno) = check_cwd(container, cwd) {
            return Failure::furnace(format_args!(
                "working directory {} inside the container: {}",
                cwd.display(),
                DisplayErrno(errno)
            ));
        }
    }
    Failure::spawn(err)
}

/// Whether `cwd` is a directory inside the container, resolved in the container's root as
/// PID 1 sees it (a relative `cwd` is relative to `/`, as the library takes it).
fn check_cwd(container: &Container, cwd: &Path) -> Result<(), furnace_sys::Errno> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let root = rustix::fs::open(
        format!("/proc/{}/root", container.init_pid()).as_str(),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let inside = cwd.strip_prefix("/").unwrap_or(cwd);
    let inside = if inside.as_os_str().is_empty() {
        Path::new(".")
    } else {
        inside
    };
    rustix::fs::openat2(
        &root,
        inside,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT,
    )
    .map(drop)
}

/// Stops the container: every process inside is killed and every mount made inside goes.
/// A failure here is reported, but the command's status is still what furnace exits with.
fn tear_down(container: Container) {
    if let Err(err) = container.stop() {
        Failure::furnace(format_args!("warning: tearing down the container: {err}")).report();
    }
}
