//! The `probe` helper (SECURITY.md §6): a static C program built by `tests/build.rs` from
//! `tests/probe/probe.c`, copied into a scratch root as `/probe`, and the parsing of its
//! answers (`ok ...` or `err ENAME`).

use std::fs;
use std::os::unix::fs::PermissionsExt;

use furnace_core::Container;

use crate::{run, Ran, Scratch};

/// Where the build script put the probe (a static binary, so it runs in any root).
pub const PROBE_BINARY: &str = concat!(env!("OUT_DIR"), "/probe");

/// The probe's path inside a root it was installed into.
pub const PROBE: &str = "/probe";

/// Copies the probe into the scratch root as `/probe` (mode 0755) and returns that path.
pub fn install_probe(scratch: &Scratch) -> &'static str {
    let to = scratch.host_path(PROBE);
    fs::copy(PROBE_BINARY, &to)
        .unwrap_or_else(|e| panic!("copy the probe {PROBE_BINARY} to {}: {e}", to.display()));
    fs::set_permissions(&to, fs::Permissions::from_mode(0o755)).expect("chmod the probe");
    PROBE
}

/// Runs `/probe args...` in the container; panics when it cannot be spawned or exits non-zero
/// (a usage error: the probe itself reports failures of what it tried on stdout).
pub fn probe(container: &Container, args: &[&str]) -> Ran {
    let ran = run(container, PROBE, args);
    assert!(
        ran.status.success(),
        "/probe {args:?} failed: {}\nstdout: {}\nstderr: {}",
        ran.status,
        ran.stdout,
        ran.stderr
    );
    ran
}

/// What a probe call answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The call succeeded (with whatever followed `ok`).
    Ok(String),
    /// The call failed with this errno name (`EPERM`, ...).
    Err(String),
}

impl Answer {
    /// Parses the last line of a probe's stdout (`ok ...` / `err ENAME`, possibly after a
    /// `call ` prefix such as `open_by_handle_at `).
    pub fn parse(stdout: &str) -> Answer {
        let line = stdout.lines().last().unwrap_or("").trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.iter().position(|w| *w == "ok" || *w == "err") {
            Some(i) if words[i] == "ok" => Answer::Ok(words[i + 1..].join(" ")),
            Some(i) => Answer::Err(words.get(i + 1).copied().unwrap_or("?").to_owned()),
            None => panic!("not a probe answer: {stdout:?}"),
        }
    }

    /// The errno name, if the call failed.
    pub fn errno(&self) -> Option<&str> {
        match self {
            Answer::Ok(_) => None,
            Answer::Err(e) => Some(e),
        }
    }
}

/// Runs a probe subcommand and parses its answer.
pub fn probe_answer(container: &Container, args: &[&str]) -> Answer {
    Answer::parse(&probe(container, args).stdout)
}

/// Parses `probe fds` output: `(fd, readlink target)`, sorted.
pub fn parse_fds(stdout: &str) -> Vec<(i32, String)> {
    let mut fds: Vec<(i32, String)> = stdout
        .lines()
        .filter_map(|l| {
            let (fd, target) = l.split_once(' ')?;
            Some((fd.parse().ok()?, target.to_owned()))
        })
        .collect();
    fds.sort();
    fds
}
