//! Running programs: cargo, children waited for with Ctrl-C in mind, their command lines for
//! messages, finding executables, and the root check.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use super::{all_procs, descendants, interrupted, my_pid, sys, workspace_root, Context, Result};

/// `$CARGO` (set by cargo for the programs it runs), falling back to `cargo`, run from the root.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// The command line of `cmd`, for messages.
pub fn describe(cmd: &Command) -> String {
    let program = cmd.get_program();
    let mut s = if std::env::var_os("CARGO").as_deref() == Some(program) {
        "cargo".to_string()
    } else {
        program.to_string_lossy().into_owned()
    };
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Whether xtask runs as root.
pub fn is_root() -> bool {
    sys::geteuid() == 0
}

/// Refuses loudly when not running as root.
pub fn require_root(what: &str) -> Result<()> {
    if is_root() {
        return Ok(());
    }
    Err(format!(
        "`{what}` must run as root: it attaches loop devices, mounts file systems and creates \
         namespaces (e.g. `sudo -E env \"PATH=$PATH\" {what}`)"
    ))
}

/// Finds an executable by name on `PATH`, then in the usual system directories (a non-login
/// root shell does not always have the `sbin` ones on `PATH`).
pub fn which(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for d in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Runs `cmd` to completion (stdio inherited), failing unless it exits with 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = run_status(cmd)?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(cmd)))
    }
}

/// Runs a cargo build (or another long step that makes something) so that it is never silent:
/// a line naming it and its command before — cargo's own progress follows, so `cmd` must not be
/// `--quiet` — and one with its duration after, e.g.
///
/// ```text
/// demo: building the furnace CLI (`cargo build -p furnace-cli`)…
///    Compiling …
/// demo: built the furnace CLI in 9.1s
/// ```
pub fn build_step(prefix: &str, what: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("{prefix}: building {what} (`{}`)…", describe(cmd));
    let started = Instant::now();
    run(cmd).map_err(|e| format!("building {what}: {e}"))?;
    eprintln!("{prefix}: built {what} in {}", seconds(started.elapsed()));
    Ok(())
}

/// A duration for progress lines: `9.1s`, `2m05s`.
pub fn seconds(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = d.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// Runs `cmd` to completion and returns its status. See [`wait_interruptible`].
pub fn run_status(cmd: &mut Command) -> Result<ExitStatus> {
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start `{}`", describe(cmd)))?;
    wait_interruptible(&mut child)
}

/// Waits for `child`. On Ctrl-C the whole foreground process group (children included) gets
/// SIGINT; a child that is still alive 2 s after xtask was signalled gets SIGTERM with all its
/// descendants (that also covers `kill <xtask pid>`), and SIGKILL after 7 s.
pub fn wait_interruptible(child: &mut Child) -> Result<ExitStatus> {
    let mut since: Option<Instant> = None;
    let (mut termed, mut killed) = (false, false);
    loop {
        if let Some(status) = child.try_wait().context("waiting for a child")? {
            return Ok(status);
        }
        if interrupted() {
            let elapsed = since.get_or_insert_with(Instant::now).elapsed();
            if !termed && elapsed >= Duration::from_secs(2) {
                signal_descendants(libc::SIGTERM);
                termed = true;
            }
            if !killed && elapsed >= Duration::from_secs(7) {
                signal_descendants(libc::SIGKILL);
                killed = true;
            }
        }
        reap_orphans(Some(child.id() as i32));
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reaps the children of xtask that have exited, except `keep`. As a sub-reaper, xtask inherits
/// the run's orphans (a container whose test died), and when they exit they stay zombies until
/// it reaps them — and a test waiting for such a process to be gone would wait forever.
///
/// Sound because xtask holds at most one unfinished child of its own at a time: the main thread
/// runs commands one after the other, and its other threads start none. So an exited child
/// other than `keep` (the one being waited for) is an orphan nobody else will wait for. Called
/// while waiting for a command and by the leak audit (with no command running).
pub fn reap_orphans(keep: Option<i32>) {
    for _ in 0..10_000 {
        match sys::exited_child() {
            Some(pid) if Some(pid) != keep => {
                sys::reap_if_exited(pid);
            }
            _ => return,
        }
    }
}

/// Sends `sig` to every descendant of this process (orphans of the run included: xtask is their
/// sub-reaper).
fn signal_descendants(sig: libc::c_int) {
    for pid in descendants(my_pid(), &all_procs()) {
        let _ = sys::kill(pid, sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_for_progress_lines() {
        assert_eq!(seconds(Duration::from_millis(9_140)), "9.1s");
        assert_eq!(seconds(Duration::from_millis(59_900)), "59.9s");
        assert_eq!(seconds(Duration::from_secs(125)), "2m05s");
    }
}
