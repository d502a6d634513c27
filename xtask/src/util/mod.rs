//! Helpers the subcommands share, one module per purpose: running programs (`cmd`), the host's
//! packages (`apt`), interrupts (`signals`), `/proc` (`proc`), temporary directories and the
//! machine lock (`fs`), and the system calls behind them (`sys`, the only `unsafe` in xtask).
//! Everything is re-exported here, so callers write `util::run`, `util::all_procs`, ...

mod apt;
mod cmd;
mod fs;
mod proc;
mod signals;
pub mod sys;

pub use apt::*;
pub use cmd::*;
pub use fs::*;
pub use proc::*;
pub use signals::*;

use std::ffi::CString;
use std::fmt::Display;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every fallible xtask step returns a message meant for a human.
pub type Result<T, E = String> = std::result::Result<T, E>;

/// `anyhow`-style context for any error that can be displayed.
pub trait Context<T> {
    fn context(self, what: impl Display) -> Result<T>;
    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl Display) -> Result<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }
    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| format!("{}: {e}", what()))
    }
}

/// The workspace root: the parent of this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Cargo's target directory (`CARGO_TARGET_DIR` when set, else `<root>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

/// Where cargo leaves the binaries of `profile` (`debug` or `release`):
/// `<target dir>/<host triple>/<profile>`, since `.cargo/config.toml` names the host's target
/// explicitly (to link the CLI statically without touching proc macros).
pub fn artifact_dir(profile: &str) -> Result<PathBuf> {
    Ok(target_dir().join(host_triple()?).join(profile))
}

/// The host's target triple, from `rustc -vV`.
pub fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV printed no host triple".into())
}

/// A path relative to the workspace root when it is inside it, for shorter messages.
pub fn display_path(path: &Path) -> String {
    let root = workspace_root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A C string from a path (paths never contain NUL when they come from the file system).
pub fn cstring(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("path contains a NUL byte: {}", path.display()))
}
