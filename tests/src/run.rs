//! Starting containers and running things in them, collecting what they printed.

use std::ffi::OsStr;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;

use furnace_core::Container;

/// Starts a container with the defaults, panicking with the error's message.
pub fn start(root: &Path) -> Container {
    Container::start(root).unwrap_or_else(|e| panic!("cannot start a container: {e}"))
}

/// Starts a container with isolated networking.
pub fn start_isolated(root: &Path) -> Container {
    Container::builder(root)
        .isolate_network(true)
        .start()
        .unwrap_or_else(|e| panic!("cannot start a container: {e}"))
}

/// Starts a container with the hardened profile (and checks that it has it).
pub fn start_hardened(root: &Path) -> Container {
    start_profile(root, true)
}

/// Starts a container with the hardened profile or the privileged default.
pub fn start_profile(root: &Path, hardened: bool) -> Container {
    let c = Container::builder(root)
        .hardened(hardened)
        .start()
        .unwrap_or_else(|e| panic!("cannot start a container (hardened: {hardened}): {e}"));
    assert_eq!(c.is_hardened(), hardened);
    c
}

/// The profile's name, for messages.
pub fn profile(hardened: bool) -> &'static str {
    if hardened {
        "hardened"
    } else {
        "privileged"
    }
}

/// What a command printed, and how it ended.
#[derive(Debug)]
pub struct Ran {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its standard output, lossily decoded.
    pub stdout: String,
    /// Its standard error, lossily decoded.
    pub stderr: String,
}

impl Ran {
    /// The exit code (panics when it died by a signal).
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or_else(|| {
            panic!(
                "killed by signal {:?}; stderr: {}",
                self.status.signal(),
                self.stderr
            )
        })
    }
}

/// Runs `program args...` in the container (stdin null, stdout and stderr piped).
///
/// # Panics
/// When it cannot be spawned.
pub fn run<S: AsRef<OsStr>>(container: &Container, program: &str, args: &[S]) -> Ran {
    let out = container
        .command(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} in the container: {e}"));
    Ran {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `sh -c script` in the container: `(status, stdout, stderr)`.
pub fn sh(container: &Container, script: &str) -> (ExitStatus, String, String) {
    let ran = run(container, "sh", &["-c", script]);
    (ran.status, ran.stdout, ran.stderr)
}

/// Runs `sh -c script` in the container, asserts that it succeeded, returns its stdout.
pub fn sh_ok(container: &Container, script: &str) -> String {
    let (status, stdout, stderr) = sh(container, script);
    assert!(
        status.success(),
        "`{script}` failed in the container: {status}\nstdout: {stdout}\nstderr: {stderr}"
    );
    stdout
}

/// The processes a `ps` printed (lines after the header).
pub fn ps_lines(out: &str) -> Vec<String> {
    out.lines().skip(1).map(str::to_owned).collect()
}
