//! The bundle's hooks: programs the runtime runs at points of the lifecycle, each given the
//! container's state (the spec's JSON) on its stdin.
//!
//! | hook | when | where it runs | on failure |
//! |---|---|---|---|
//! | `prestart`, `createRuntime` | `create`, once PID 1 is set up and waits at the gate | the runtime's namespaces | `create` fails; the container is removed |
//! | `startContainer` | `start`, before the gate opens | inside the container (its namespaces, cgroups, root) | `start` fails; the container is stopped |
//! | `poststart` | `start`, once the gate is open | the runtime's namespaces | a warning in the log |
//! | `poststop` | `delete`, once the container is removed | the runtime's namespaces | a warning in the log |
//!
//! `createContainer` hooks are refused: the spec runs them in the container's mount namespace
//! before `pivot_root`, a point that furnace's PID 1 passes in its own set-up without stopping.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How long a hook without a `timeout` may run.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// One hook of `config.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hook {
    pub path: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    /// Seconds.
    pub timeout: Option<u64>,
}

/// `config.json`'s `hooks`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    #[serde(default)]
    pub prestart: Vec<Hook>,
    #[serde(default)]
    pub create_runtime: Vec<Hook>,
    #[serde(default)]
    pub create_container: Vec<Hook>,
    #[serde(default)]
    pub start_container: Vec<Hook>,
    #[serde(default)]
    pub poststart: Vec<Hook>,
    #[serde(default)]
    pub poststop: Vec<Hook>,
}

impl Hooks {
    /// Checks what can be checked before anything is made.
    pub fn check(&self) -> Result<(), String> {
        if !self.create_container.is_empty() {
            return Err(
                "config.json: hooks.createContainer is not supported by furnace-oci: the spec \
                 runs them in the container's mount namespace before pivot_root, which \
                 furnace's PID 1 passes without stopping (createRuntime and startContainer \
                 hooks are)"
                    .into(),
            );
        }
        let all = [
            ("prestart", &self.prestart),
            ("createRuntime", &self.create_runtime),
            ("startContainer", &self.start_container),
            ("poststart", &self.poststart),
            ("poststop", &self.poststop),
        ];
        for (name, hooks) in all {
            for (i, hook) in hooks.iter().enumerate() {
                if !hook.path.is_absolute() {
                    return Err(format!(
                        "config.json: hooks.{name}[{i}].path {} is not absolute",
                        hook.path.display()
                    ));
                }
                if hook.timeout == Some(0) {
                    return Err(format!(
                        "config.json: hooks.{name}[{i}].timeout must be above 0"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The state document a hook reads on its stdin.
pub fn state_json(
    id: &str,
    status: &str,
    pid: u32,
    bundle: &std::path::Path,
    annotations: &std::collections::BTreeMap<String, String>,
) -> String {
    serde_json::json!({
        "ociVersion": "1.2.0",
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": annotations,
    })
    .to_string()
}

/// Runs `hooks` in order on the host, each with `state` on its stdin: the first failure (it
/// could not run, exited non-zero or outlived its timeout) is the error, naming the hook.
pub fn run_on_host(kind: &str, hooks: &[Hook], state: &str) -> Result<(), String> {
    for (i, hook) in hooks.iter().enumerate() {
        let mut command = std::process::Command::new(&hook.path);
        if let Some((first, rest)) = hook.args.split_first() {
            command.arg0(first).args(rest);
        }
        command.env_clear();
        for pair in &hook.env {
            let (key, value) = pair.split_once('=').unwrap_or((pair.as_str(), ""));
            command.env(key, value);
        }
        let child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("hooks.{kind}[{i}] {}: {e}", hook.path.display()))?;
        finish(kind, i, hook, child, state)?;
    }
    Ok(())
}

/// Gives a started hook (stdin and stderr piped) its state and waits for it within its
/// timeout; what it said on stderr is in the error.
pub fn finish(
    kind: &str,
    i: usize,
    hook: &Hook,
    mut child: Child,
    state: &str,
) -> Result<(), String> {
    let what = format!("hooks.{kind}[{i}] {}", hook.path.display());
    // Read on a thread of its own, so that a hook that says much never blocks on the pipe.
    let stderr = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut said = Vec::new();
            let _ = std::io::Read::read_to_end(&mut pipe, &mut said);
            said
        })
    });
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its state is not an error (EPIPE).
        let _ = stdin.write_all(state.as_bytes());
    }
    let timeout = hook.timeout.map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what}: still running after {timeout:?}, killed"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => return Err(format!("{what}: {e}")),
        }
    };
    if status.success() {
        return Ok(());
    }
    let said = stderr
        .and_then(|t| t.join().ok())
        .map(|s| String::from_utf8_lossy(&s).trim().to_owned())
        .unwrap_or_default();
    Err(format!("{what} failed ({status}): {said}"))
}
