//! What the plan needs to know about the host, probed once per start: the root's mount state,
//! the host's loop devices, the per-CPU `thermal_throttle` directories, `/etc/resolv.conf`,
//! and where this process's argument and environment strings live.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

use furnace_sys::dev::DeviceKind;

use crate::builder::Config;
use crate::error::{Error, Result};

/// A device node of the host to re-create inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoopDevice {
    /// The name under `/dev` (`loop-control`, `loop0`, …).
    pub name: String,
    pub kind: DeviceKind,
    pub major: u32,
    pub minor: u32,
    /// Permission bits, copied from the host's node.
    pub mode: u32,
}

/// The host facts a [`Plan`](crate::plan::Plan) is computed from.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostFacts {
    /// Whether the root is already a mount point (else PID 1 binds it onto itself).
    pub root_is_mount_point: bool,
    /// `loop-control` and every `/dev/loopN` (privileged profile only; empty otherwise).
    pub loop_devices: Vec<LoopDevice>,
    /// `/sys/devices/system/cpu/cpu*/thermal_throttle` (masked by the hardened profile).
    pub throttle_dirs: Vec<PathBuf>,
    /// The host's `/etc/resolv.conf`, canonical, when the container shares the host's network
    /// and its root has an `/etc`.
    pub resolv_conf: Option<PathBuf>,
    /// Where inside the container that file is bound: `/etc/resolv.conf`, or — when the root's
    /// `/etc/resolv.conf` is a symlink into `/run` (systemd-resolved's stub) — the link's
    /// target, which lives on the container's own fresh `/run` and is created there.
    pub resolv_conf_dest: PathBuf,
    /// This process's argument and environment areas.
    pub process_strings: Option<furnace_sys::process::ProcessStrings>,
    /// What a rootless start needs to know (`None`: the initial user namespace).
    pub rootless: Option<RootlessFacts>,
}

/// The user namespace furnace runs in, as the plan needs it.
#[derive(Debug, Clone, Default)]
pub(crate) struct RootlessFacts {
    /// Group 5 (`tty`, devpts' `gid=`) is mapped.
    pub tty_gid_mapped: bool,
    /// The root directory is writable here (it is not when it belongs to an unmapped user).
    pub root_writable: bool,
}

impl HostFacts {
    /// Probes what `config` needs.
    pub(crate) fn probe(config: &Config) -> Result<HostFacts> {
        let root_is_mount_point = furnace_sys::mountinfo::is_mount_point(&config.root)
            .map_err(Error::sys("check whether the root is a mount point"))?;
        let resolv_conf = if config.isolate_network || !config.root.join("etc").is_dir() {
            None
        } else {
            std::fs::canonicalize("/etc/resolv.conf").ok()
        };
        let rootless = crate::rootless::user_namespace().map(|ns| RootlessFacts {
            tty_gid_mapped: furnace_sys::userns::is_mapped(&ns.gids, 5),
            root_writable: rustix::fs::access(&config.root, rustix::fs::Access::WRITE_OK).is_ok(),
        });
        Ok(HostFacts {
            root_is_mount_point,
            // A user namespace can neither create device nodes nor use the host's loop devices.
            loop_devices: if config.hardened || rootless.is_some() {
                Vec::new()
            } else {
                loop_devices()
            },
            throttle_dirs: if config.hardened {
                thermal_throttle_dirs()
            } else {
                Vec::new()
            },
            resolv_conf_dest: resolv_conf_destination(&config.root),
            resolv_conf,
            process_strings: process_strings(),
            rootless,
        })
    }
}

/// This process's argument and environment areas, read once: the kernel fixes them at exec.
/// The pid is part of the key, so a forked child of the caller reads its own.
fn process_strings() -> Option<furnace_sys::process::ProcessStrings> {
    use std::sync::Mutex;
    type Cached = Option<(u32, Option<furnace_sys::process::ProcessStrings>)>;
    static CACHE: Mutex<Cached> = Mutex::new(None);
    let pid = std::process::id();
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    match *cache {
        Some((cached_pid, strings)) if cached_pid == pid => strings,
        _ => {
            let strings = furnace_sys::process::ProcessStrings::of_self();
            *cache = Some((pid, strings));
            strings
        }
    }
}

/// Where the host's resolv.conf goes: the target of the root's `/etc/resolv.conf` when that is
/// a symlink into `/run` (resolved lexically, as the container will see it: `/run` is the
/// container's own tmpfs, so the target is made there and nothing is written into the root),
/// else `/etc/resolv.conf` itself.
fn resolv_conf_destination(root: &std::path::Path) -> PathBuf {
    use std::path::{Component, Path};
    let default = PathBuf::from("/etc/resolv.conf");
    let Ok(target) = std::fs::read_link(root.join("etc/resolv.conf")) else {
        return default;
    };
    let mut resolved = PathBuf::from("/etc");
    if target.is_absolute() {
        resolved = PathBuf::from("/");
    }
    for component in target.components() {
        match component {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(part) => resolved.push(part),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    let is_file_under_run = resolved.starts_with("/run") && resolved != Path::new("/run");
    if is_file_under_run {
        resolved
    } else {
        default
    }
}

/// `/sys/devices/system/cpu/cpu*/thermal_throttle` on this machine (masked: a power side
/// channel). sysfs shows the same devices in every container.
fn thermal_throttle_dirs() -> Vec<PathBuf> {
    let Ok(cpus) = std::fs::read_dir("/sys/devices/system/cpu") else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = cpus
        .filter_map(|entry| {
            let path = entry.ok()?.path().join("thermal_throttle");
            path.is_dir().then_some(path)
        })
        .collect();
    dirs.sort();
    dirs
}

/// `loop-control` and every `/dev/loopN` of the host, with their numbers and modes, so that
/// `mount -o loop` works inside (privileged profile, as the original).
fn loop_devices() -> Vec<LoopDevice> {
    let Ok(entries) = std::fs::read_dir("/dev") else {
        return Vec::new();
    };
    let mut devices: Vec<LoopDevice> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name().into_string().ok()?;
            let is_loop = name == "loop-control"
                || name
                    .strip_prefix("loop")
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !is_loop {
                return None;
            }
            let meta = entry.metadata().ok()?;
            let file_type = meta.file_type();
            let kind = if file_type.is_block_device() {
                DeviceKind::Block
            } else if file_type.is_char_device() {
                DeviceKind::Char
            } else {
                return None;
            };
            Some(LoopDevice {
                name,
                kind,
                major: rustix::fs::major(meta.rdev()),
                minor: rustix::fs::minor(meta.rdev()),
                mode: meta.mode() & 0o7777,
            })
        })
        .collect();
    devices.sort_by(|a, b| a.name.cmp(&b.name));
    devices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_follows_a_link_into_run() {
        let root = std::env::temp_dir().join(format!("furnace-unit-{}-resolv", std::process::id()));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        let at = |target: &str| {
            let link = root.join("etc/resolv.conf");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(target, &link).unwrap();
            resolv_conf_destination(&root)
        };
        let relative = at("../run/systemd/resolve/stub-resolv.conf");
        let absolute = at("/run/resolvconf/resolv.conf");
        let elsewhere = at("/usr/share/resolv.conf");
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            relative,
            PathBuf::from("/run/systemd/resolve/stub-resolv.conf")
        );
        assert_eq!(absolute, PathBuf::from("/run/resolvconf/resolv.conf"));
        assert_eq!(elsewhere, PathBuf::from("/etc/resolv.conf"));
    }

    #[test]
    fn loop_devices_carry_their_kind() {
        for device in loop_devices() {
            let expected = if device.name == "loop-control" {
                DeviceKind::Char
            } else {
                DeviceKind::Block
            };
            assert_eq!(device.kind, expected, "{device:?}");
        }
    }
}
