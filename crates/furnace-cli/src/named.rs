//! Named containers: `furnace start`, `exec`, `shell NAME`, `list` and `stop`, on top of the
//! library's detached lifetime and its [`Registry`].

use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, SystemTime};

use furnace_core::{Container, Error, Lifetime, Registry};

use crate::cli::{ExecArgs, ListArgs, ShellArgs, StartArgs, StopArgs};
use crate::exit::{self, Failure};
use crate::forward::Forwarder;
use crate::options::{self, Prepared};
use crate::signals::SignalPipe;
use crate::terminal::TerminalGuard;

/// The registry: `--state-dir`, else the standard place.
pub fn registry(state_dir: Option<&Path>) -> Result<Registry, Failure> {
    match state_dir {
        Some(dir) => Ok(Registry::at(dir)),
        None => Registry::default_dir()
            .map(Registry::at)
            .map_err(Failure::furnace),
    }
}

/// Whether `target` of `furnace shell` names a running container rather than a root
/// directory: a valid name, no `/`, and a container of that name runs.
pub fn is_running_name(registry: &Registry, target: &Path) -> bool {
    target.to_str().is_some_and(|name| {
        furnace_core::validate_name(name).is_ok() && registry.info(name).is_ok()
    })
}

/// `furnace shell NAME` takes no option that describes a new container.
pub fn check_shell_options(args: &ShellArgs) -> Result<(), Failure> {
    let c = &args.container;
    let describes_new = c.isolate_net
        || c.hardened
        || !c.mounts.is_empty()
        || c.hostname != "localhost"
        || c.no_subids
        || c.memory.is_some()
        || c.pids_limit.is_some()
        || c.cpus.is_some()
        || c.cpu_weight.is_some()
        || c.cgroup_parent.is_some()
        || c.ephemeral
        || c.overlay_upper.is_some()
        || c.read_only
        || !c.tmpfs.is_empty()
        || c.resolv_conf != "auto";
    if describes_new {
        return Err(Failure::furnace(format_args!(
            "{} is a running container: options that describe a new container do not apply \
             to it (write ./{} for a directory of that name)",
            args.rootfs.display(),
            args.rootfs.display()
        )));
    }
    Ok(())
}

/// Attaches to `name` (first thing in `main` for a container started without root, whose
/// user namespace the process joins while it is single-threaded).
pub fn attach(registry: &Registry, name: &str) -> Result<Container, Failure> {
    registry.attach(name).map_err(Failure::furnace)
}

/// `furnace start`: the exit status to leave with.
pub fn start(args: &StartArgs, registry: Registry) -> u8 {
    let result = (|| {
        let timeout = match &args.timeout {
            Some(text) => Some(
                parse_duration(text)
                    .map_err(|why| Failure::furnace(format_args!("--timeout {text:?}: {why}")))?,
            ),
            None => None,
        };
        let mut builder = options::builder(&args.rootfs, &args.container)?;
        builder
            .lifetime(Lifetime::Detached { timeout })
            .registry(registry);
        if let Some(name) = &args.name {
            builder.name(name.clone());
        }
        let container = builder.start().map_err(Failure::furnace)?;
        for warning in container.warnings() {
            eprintln!("furnace: warning: {warning}");
        }
        println!("{}", container.name().unwrap_or_default());
        Ok(0)
    })();
    result.unwrap_or_else(|failure: Failure| failure.report())
}

/// `furnace exec`: runs the command in the attached container, with `run`'s exit-code and
/// signal rules. The container is not stopped afterwards.
pub fn exec(container: Container, args: &ExecArgs, signals: SignalPipe) -> u8 {
    let result = (|| {
        let prepared = Prepared::new(container.root(), &args.cmd)?;
        let Some((program, arguments)) = args.command.split_first() else {
            return Err(Failure::furnace("no command given"));
        };
        let mut command = container.command(program);
        command.args(arguments);
        prepared.apply(&mut command)?;
        let _terminal = TerminalGuard::save();
        let mut forwarder = Forwarder::new(signals);
        let status =
            crate::run::run_to_end(&mut forwarder, command, args.cwd.as_deref(), args.tty)?;
        Ok(finish(&container, &args.name, status))
    })();
    result.unwrap_or_else(|failure| failure.report())
}

/// `furnace shell NAME`: an interactive shell in the attached container.
pub fn shell(container: Container, args: &ShellArgs, signals: SignalPipe) -> u8 {
    let name = args.rootfs.to_string_lossy().into_owned();
    let result = (|| {
        let prepared = Prepared::new(container.root(), &args.cmd)?;
        let mut shell = crate::run::shell_command(&container, args);
        prepared.apply(&mut shell)?;
        let _terminal = TerminalGuard::save();
        let mut forwarder = Forwarder::new(signals);
        let status = crate::run::run_to_end(&mut forwarder, shell, args.cwd.as_deref(), true)?;
        Ok(finish(&container, &name, status))
    })();
    result.unwrap_or_else(|failure: Failure| failure.report())
}

/// The exit status for a command that ended in a named container; one line when the
/// container was stopped under it (its status, 137, would otherwise read as its own kill).
fn finish(container: &Container, name: &str, status: ExitStatus) -> u8 {
    crate::run::report_oom_kill(container, status);
    use std::os::unix::process::ExitStatusExt;
    if status.signal() == Some(libc::SIGKILL) && !container.is_running() {
        Failure::furnace(format_args!(
            "the container {name} was stopped while the command ran"
        ))
        .report();
    }
    exit::code_of(status)
}

/// `furnace list`.
pub fn list(registry: &Registry, args: &ListArgs) -> u8 {
    let infos = match registry.list() {
        Ok(infos) => infos,
        Err(err) => return Failure::furnace(err).report(),
    };
    let now = SystemTime::now();
    let age = |created: SystemTime| now.duration_since(created).unwrap_or_default();
    if args.json {
        let seconds = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        };
        let list: Vec<serde_json::Value> = infos
            .iter()
            .map(|info| {
                serde_json::json!({
                    "name": info.name,
                    "pid": info.pid,
                    "root": info.root.to_string_lossy(),
                    "created": seconds(info.created),
                    "expires": info.expires.map(seconds),
                    "age_seconds": age(info.created).as_secs(),
                    "processes": info.processes,
                    "hardened": info.hardened,
                    "rootless": info.rootless,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return 0;
    }
    let rows: Vec<[String; 5]> = infos
        .iter()
        .map(|info| {
            [
                info.name.clone(),
                info.pid.to_string(),
                show_age(age(info.created)),
                info.processes.map_or_else(|| "?".into(), |n| n.to_string()),
                info.root.display().to_string(),
            ]
        })
        .collect();
    let header = ["NAME", "PID", "AGE", "PROCESSES", "ROOT"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, width))| {
                if i + 1 == row.len() {
                    cell.clone()
                } else {
                    format!("{cell:width$}")
                }
            })
            .collect();
        println!("{}", line.join("  "));
    }
    0
}

/// `furnace stop`: every name is stopped; a name that does not run is only noted.
pub fn stop(registry: &Registry, args: &StopArgs) -> u8 {
    let mut code = 0;
    for name in &args.names {
        match registry.stop(name) {
            Ok(true) => {}
            Ok(false) => {
                eprintln!("furnace: no container named {name:?} is running (nothing to stop)");
            }
            Err(err @ Error::InvalidName { .. }) | Err(err) => {
                code = Failure::furnace(err).report();
            }
        }
    }
    code
}

/// An age as people say it: `42s`, `5m`, `3h12m`, `2d4h`.
fn show_age(age: Duration) -> String {
    let s = age.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// A duration as `--timeout` takes it: a number of seconds, or numbers with `d`, `h`, `m`,
/// `s` in that order (`90`, `90s`, `15m`, `1h30m`, `1d`); more than zero.
pub fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    const SHAPE: &str = "expected a duration such as 90, 90s, 15m, 1h30m or 1d";
    let text = text.trim();
    if text.is_empty() {
        return Err(SHAPE);
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return (seconds > 0)
            .then(|| Duration::from_secs(seconds))
            .ok_or("must be more than zero");
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut last_unit = u64::MAX;
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(SHAPE),
        };
        if number.is_empty() || unit >= last_unit {
            return Err(SHAPE);
        }
        last_unit = unit;
        let value: u64 = number.parse().map_err(|_| "too large")?;
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or("too large")?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(SHAPE);
    }
    if total == 0 {
        return Err("must be more than zero");
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_people_write_them() {
        let secs = |t| parse_duration(t).map(|d| d.as_secs());
        assert_eq!(secs("90"), Ok(90));
        assert_eq!(secs("90s"), Ok(90));
        assert_eq!(secs("15m"), Ok(900));
        assert_eq!(secs("1h30m"), Ok(5400));
        assert_eq!(secs("1d"), Ok(86_400));
        assert_eq!(secs(" 2h "), Ok(7200));
        for bad in [
            "", "0", "0s", "-5", "1.5h", "m", "5x", "30m1h", "1h1h", "5m3",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ages_are_short() {
        assert_eq!(show_age(Duration::from_secs(42)), "42s");
        assert_eq!(show_age(Duration::from_secs(300)), "5m");
        assert_eq!(show_age(Duration::from_secs(3 * 3600 + 12 * 60)), "3h12m");
        assert_eq!(show_age(Duration::from_secs(2 * 86_400 + 4 * 3600)), "2d4h");
    }
}
