//! The mount table, read with furnace-sys's parser (`furnace_sys::mountinfo`), and the loop
//! devices attached on the machine.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use furnace_sys::mountinfo::{self, MountInfo};

/// This process's mount table (`/proc/self/mountinfo`).
pub fn mounts() -> Vec<MountInfo> {
    mountinfo::read(None).unwrap_or_else(|e| panic!("read /proc/self/mountinfo: {e}"))
}

/// The mount table of process `pid` (mount points relative to its root: for a container's
/// process, paths inside the container).
pub fn mounts_of(pid: u32) -> Vec<MountInfo> {
    mountinfo::read(Some(pid)).unwrap_or_else(|e| panic!("read /proc/{pid}/mountinfo: {e}"))
}

/// The mount points (in this process's mount namespace) at or under `dir`.
pub fn mount_points_under(dir: &Path) -> Vec<PathBuf> {
    mounts()
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|p| p.starts_with(dir))
        .collect()
}

/// Attached loop devices: `(name, backing file)` from `/sys/block/loop*/loop/backing_file`.
pub fn attached_loop_devices() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let Ok(entries) = fs::read_dir("/sys/block") else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("loop") {
            continue;
        }
        if let Ok(file) = fs::read_to_string(entry.path().join("loop/backing_file")) {
            out.insert((name, file.trim_end().to_owned()));
        }
    }
    out
}
