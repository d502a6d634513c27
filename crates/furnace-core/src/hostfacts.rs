//! What the plan needs to know about the host, probed once per start: the root's mount state
//! (and, under an overlay, its mode and owner), the host's loop devices, the per-CPU
//! `thermal_throttle` directories, `/etc/resolv.conf` (decided by [`crate::resolv`]), and
//! where this process's argument and environment strings live.

use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;
use std::sync::Arc;

use furnace_sys::fd::{Mode, OFlags};

use furnace_sys::dev::DeviceKind;

use crate::builder::Config;
use crate::error::{Error, Result};
use crate::resolv::ResolvPlan;
use crate::roots::Warning;

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
    /// The `diskseq` of the host's loop devices at the start, when the container gets them
    /// (to detach what it attached, [`crate::loops`]).
    pub loop_snapshot: Option<crate::loops::Snapshot>,
    /// `/sys/devices/system/cpu/cpu*/thermal_throttle` (masked by the hardened profile).
    pub throttle_dirs: Vec<PathBuf>,
    /// What is done about `/etc/resolv.conf`.
    pub resolv: ResolvPlan,
    /// What the start will tell the caller (why there is no `resolv.conf`).
    pub warnings: Vec<Warning>,
    /// The root directory's permission bits, owner and group (with an overlay: the upper
    /// layer's root gets them, so that `/` inside looks like the root).
    pub root_mode: u32,
    pub root_owner: (u32, u32),
    /// The root, `O_PATH`, numbered 3 or above: opened once for these checks, kept to remove
    /// what PID 1 makes in it ([`crate::traces`]). `None` only in unit tests.
    pub root_fd: Option<Arc<OwnedFd>>,
    /// Which of the top-level mount points (`proc`, `dev`, `sys`, `run`, in that order) the
    /// root lacks, without an overlay: PID 1 will make them.
    pub missing_tops: [bool; 4],
    /// This process's argument and environment areas.
    pub process_strings: Option<furnace_sys::process::ProcessStrings>,
    /// The host's cgroup hierarchies under `/sys/fs/cgroup`, when the container is to see its
    /// own view of them ([`ContainerBuilder::mount_cgroups`](crate::ContainerBuilder::mount_cgroups)).
    pub cgroup_view: crate::visibility::CgroupView,
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
        let root_fd = furnace_sys::fd::forksafe::open(
            &crate::paths::cstring(&config.root),
            OFlags::PATH | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .map_err(|e| furnace_sys::Error::new("open", config.root.display().to_string(), e))
        .and_then(furnace_sys::fd::above_stdio)
        .map_err(Error::sys("open the root"))?;
        let (resolv, warning) =
            crate::resolv::plan(&root_fd, config.resolv_conf, config.isolate_network)?;
        let missing_tops = match config.overlay {
            Some(_) => [false; 4],
            None => crate::plan::TOP_MOUNT_POINTS.map(|top| {
                let found =
                    rustix::fs::statat(&root_fd, top, rustix::fs::AtFlags::SYMLINK_NOFOLLOW);
                matches!(found, Err(furnace_sys::Errno::NOENT))
            }),
        };
        let (root_mode, root_owner) = match &config.overlay {
            Some(_) => {
                let meta = std::fs::metadata(&config.root).map_err(|e| Error::InvalidRoot {
                    path: config.root.clone(),
                    problem: crate::error::PathProblem::from_io(&e),
                })?;
                (meta.mode() & 0o7777, (meta.uid(), meta.gid()))
            }
            None => (0o755, (0, 0)),
        };
        let rootless = crate::rootless::user_namespace().map(|ns| RootlessFacts {
            tty_gid_mapped: furnace_sys::userns::is_mapped(&ns.gids, 5),
            root_writable: rustix::fs::access(&config.root, rustix::fs::Access::WRITE_OK).is_ok(),
        });
        let loop_devices = if config.hardened || config.view.nodev || rootless.is_some() {
            Vec::new()
        } else {
            loop_devices()
        };
        Ok(HostFacts {
            root_is_mount_point,
            loop_snapshot: (!loop_devices.is_empty()).then(crate::loops::Snapshot::take),
            // A user namespace can neither create device nodes nor use the host's loop devices.
            loop_devices,
            throttle_dirs: if config.hardened {
                thermal_throttle_dirs()
            } else {
                Vec::new()
            },
            resolv,
            warnings: warning.into_iter().collect(),
            root_mode,
            root_owner,
            root_fd: Some(Arc::new(root_fd)),
            missing_tops,
            process_strings: process_strings(),
            rootless,
            cgroup_view: if config.view.cgroups {
                crate::visibility::CgroupView::of_host()
            } else {
                crate::visibility::CgroupView::default()
            },
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
