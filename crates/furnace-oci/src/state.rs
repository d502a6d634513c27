//! What furnace-oci keeps of a container under `--root`: furnace's own registry
//! (`ROOT/registry`, PID 1, cgroups) and, per container, `ROOT/containers/ID/` with `oci.json`
//! (bundle, creation time, annotations, PID 1's pid and start time) and the start gate
//! `exec.fifo`, which exists from `create` until `start`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The default `--root`.
pub const DEFAULT_ROOT: &str = "/run/furnace-oci";

/// The directories under one `--root`.
#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
}

/// A container's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub bundle: PathBuf,
    pub created: String,
    pub annotations: BTreeMap<String, String>,
    pub pid: u32,
    pub start_time: u64,
    /// The hooks run after `create`: at `start` and at `delete`.
    #[serde(default)]
    pub start_container: Vec<crate::hooks::Hook>,
    #[serde(default)]
    pub poststart: Vec<crate::hooks::Hook>,
    #[serde(default)]
    pub poststop: Vec<crate::hooks::Hook>,
}

/// The OCI status of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Stopped,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }
}

impl Root {
    /// `--root`, or the default: for a caller without root — by its uid, or because it is
    /// root of a user namespace, as a rootless engine runs its runtime —
    /// `$XDG_RUNTIME_DIR/furnace-oci`, as runc does.
    pub fn new(dir: Option<&Path>) -> Root {
        let rootless =
            !rustix::process::geteuid().is_root() || furnace_core::rootless::in_user_namespace();
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None if !rootless => PathBuf::from(DEFAULT_ROOT),
            None => std::env::var_os("XDG_RUNTIME_DIR")
                .map(|d| PathBuf::from(d).join("furnace-oci"))
                .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT)),
        };
        Root { dir }
    }

    /// furnace's registry of the containers' PID 1.
    pub fn registry(&self) -> furnace_core::Registry {
        furnace_core::Registry::at(self.dir.join("registry"))
    }

    /// `ROOT/containers/ID`.
    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.dir.join("containers").join(id)
    }

    /// The start gate of `id`.
    pub fn gate_of(&self, id: &str) -> PathBuf {
        self.dir_of(id).join("exec.fifo")
    }

    /// Makes `ROOT/containers/ID` (mode 0700), failing when it exists.
    pub fn claim(&self, id: &str) -> Result<PathBuf, String> {
        let parent = self.dir.join("containers");
        std::fs::create_dir_all(&parent)
            .map_err(|e| format!("cannot make {}: {e}", parent.display()))?;
        let dir = self.dir_of(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(format!("container with id {id:?} already exists"))
            }
            Err(e) => Err(format!("cannot make {}: {e}", dir.display())),
        }
    }

    /// Writes `record` (atomically).
    pub fn save(&self, record: &Record) -> Result<(), String> {
        let path = self.dir_of(&record.id).join("oci.json");
        let text = serde_json::to_string_pretty(record).map_err(|e| e.to_string())?;
        write_atomically(&path, text.as_bytes())
    }

    /// The record of `id`.
    pub fn load(&self, id: &str) -> Result<Record, String> {
        furnace_core::validate_name(id).map_err(|e| e.to_string())?;
        let path = self.dir_of(id).join("oci.json");
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("container {id:?} does not exist"),
            _ => format!("cannot read {}: {e}", path.display()),
        })?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The status of a recorded container: its PID 1 alive (the same process: pid and start
    /// time) and its gate still there is created, alive is running, otherwise stopped.
    pub fn status(&self, record: &Record) -> Status {
        let alive = furnace_sys::process::ProcStat::read(record.pid)
            .is_some_and(|s| s.start_time == record.start_time && s.state != 'Z');
        match (alive, self.gate_of(&record.id).exists()) {
            (false, _) => Status::Stopped,
            (true, true) => Status::Created,
            (true, false) => Status::Running,
        }
    }

    /// Removes `ROOT/containers/ID` and what is in it.
    pub fn remove(&self, id: &str) -> Result<(), String> {
        let dir = self.dir_of(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("cannot remove {}: {e}", dir.display())),
        }
    }
}

/// Writes `bytes` to `path` through a temporary file renamed over it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
