//! The image, attached read-only to a loop device and mounted read-only on a fresh temp dir,
//! with a guard that unmounts, detaches and removes the dir — on success, on error paths, on
//! panics, and after Ctrl-C (xtask survives the signal, see `util::install_signal_handlers`).
//!
//! Tear-down uses system calls only (no child process that a second Ctrl-C could kill).

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use furnace_sys::mountinfo::{self, MountInfo};

use crate::util::{self, sys, Context, Result};

#[derive(Debug)]
pub struct LoopMount {
    device: Option<PathBuf>,
    dir: Option<PathBuf>,
    mounted: bool,
}

impl LoopMount {
    /// Attaches `image` read-only and mounts it read-only (ext4, `ro`) on `/tmp/<prefix>.XXXXXX`.
    pub fn new(image: &Path, prefix: &str) -> Result<LoopMount> {
        let mut guard = LoopMount {
            device: None,
            dir: None,
            mounted: false,
        };
        let losetup = util::which("losetup").ok_or("`losetup` is missing (package `mount`)")?;
        let mut cmd = Command::new(losetup);
        cmd.args(["--find", "--show", "--read-only"])
            .arg(image)
            .stdin(Stdio::null());
        let out = util::shield_from_signals(&mut cmd)
            .output()
            .context("cannot run `losetup --find --show --read-only`")?;
        let device = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || !device.starts_with("/dev/") {
            return Err(format!(
                "cannot attach {} to a loop device: {}",
                image.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        guard.device = Some(PathBuf::from(device));

        let dir = util::make_temp_dir(&Path::new("/tmp").join(format!("{prefix}.")))?;
        guard.dir = Some(dir.clone());
        // The mount point must be world-readable: containers run over it.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))
            .with_context(|| format!("chmod {}", dir.display()))?;

        let source = util::cstring(guard.device())?;
        let target = util::cstring(&dir)?;
        if let Err(e) = sys::mount(&source, &target, c"ext4", libc::MS_RDONLY, None) {
            return Err(format!(
                "cannot mount {} (ext4, ro) on {}: {e}",
                guard.device().display(),
                dir.display(),
            ));
        }
        guard.mounted = true;
        Ok(guard)
    }

    /// The read-only mount point.
    pub fn path(&self) -> &Path {
        self.dir.as_deref().unwrap_or(Path::new(""))
    }

    /// The loop device, e.g. `/dev/loop0`.
    pub fn device(&self) -> &Path {
        self.device.as_deref().unwrap_or(Path::new(""))
    }

    /// Unmounts, detaches and removes the mount point, reporting any problem.
    pub fn cleanup(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        let mut problems = Vec::new();
        let mut still_mounted = false;
        if self.mounted {
            if let Some(dir) = &self.dir {
                match unmount(dir) {
                    Ok(()) => {}
                    Err(e) => {
                        still_mounted = e.1;
                        problems.push(e.0);
                    }
                }
            }
            self.mounted = false;
        }
        if let Some(dev) = self.device.take() {
            if let Err(e) = detach(&dev) {
                problems.push(e);
            }
        }
        if let Some(dir) = self.dir.take() {
            // Never remove_dir_all: if the unmount failed, this is still the image.
            if !still_mounted {
                if let Err(e) = fs::remove_dir(&dir) {
                    problems.push(format!("cannot remove {}: {e}", dir.display()));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("xtask: cleanup of the image mount: {e}");
        }
    }
}

/// Prefixes of the mount points xtask makes (`/tmp/<prefix>.XXXXXX`).
pub const PREFIXES: &[&str] = &[
    "furnace-itest",
    "furnace-demo",
    "furnace-check",
    "furnace-bench",
];

/// Removes what an xtask run that was SIGKILLed left behind: its image mounts on
/// `/tmp/furnace-{itest,demo,check,bench}.XXXXXX`, their loop devices and directories. Only called
/// while holding the machine lock, so no live xtask owns them.
pub fn reap_stale() {
    let mounted = stale_mounts(mountinfo::read(None).unwrap_or_default());
    for (dir, source) in mounted.into_iter().rev() {
        eprintln!(
            "xtask: removing a stale image mount {} ({}) left by a killed run",
            dir.display(),
            source.display()
        );
        let mut guard = LoopMount {
            device: source
                .to_string_lossy()
                .starts_with("/dev/loop")
                .then_some(source),
            dir: Some(dir),
            mounted: true,
        };
        if let Err(e) = guard.teardown() {
            eprintln!("xtask: warning: {e}");
        }
    }
    let Ok(entries) = fs::read_dir("/tmp") else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if is_ours(&path.to_string_lossy()) && fs::remove_dir(&path).is_ok() {
            eprintln!("xtask: removed the stale directory {}", path.display());
        }
    }
}

/// `/tmp/<one of PREFIXES>.XXXXXX`
/// `(mount point, source)` of the mounts in `table` that are on one of xtask's mount points.
fn stale_mounts(table: Vec<MountInfo>) -> Vec<(PathBuf, PathBuf)> {
    table
        .into_iter()
        .filter(|m| m.mount_point.to_str().is_some_and(is_ours))
        .map(|m| (m.mount_point, PathBuf::from(m.source)))
        .collect()
}

fn is_ours(path: &str) -> bool {
    let Some(name) = path.strip_prefix("/tmp/") else {
        return false;
    };
    PREFIXES.iter().any(|p| {
        name.strip_prefix(p)
            .and_then(|r| r.strip_prefix('.'))
            .is_some_and(|suffix| {
                suffix.len() == 6 && suffix.bytes().all(|b| b.is_ascii_alphanumeric())
            })
    })
}

/// Unmounts `dir`, retrying for ~3 s while it is busy (processes still dying), then detaching it
/// lazily. On failure returns the message and whether the mount is still in place.
fn unmount(dir: &Path) -> std::result::Result<(), (String, bool)> {
    let target = util::cstring(dir).map_err(|e| (e, true))?;
    for _ in 0..30 {
        let Err(err) = sys::umount2(&target, libc::UMOUNT_NOFOLLOW) else {
            return Ok(());
        };
        match err.raw_os_error() {
            Some(libc::EBUSY) => std::thread::sleep(Duration::from_millis(100)),
            // Not a mount point (any more): someone else unmounted it.
            Some(libc::EINVAL) => return Ok(()),
            _ => return Err((format!("cannot unmount {}: {err}", dir.display()), true)),
        }
    }
    match sys::umount2(&target, libc::UMOUNT_NOFOLLOW | libc::MNT_DETACH) {
        Ok(()) => Err((
            format!(
                "{} was still busy after 3 s; detached it lazily",
                dir.display()
            ),
            false,
        )),
        Err(err) => Err((format!("cannot unmount {}: {err}", dir.display()), true)),
    }
}

/// Detaches a loop device (`LOOP_CLR_FD`). If something still uses it, the kernel marks it to
/// detach itself when the last user goes away; the leak audit reports it if that does not happen.
fn detach(dev: &Path) -> Result<()> {
    let file = match File::open(dev) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot open {} to detach it: {e}", dev.display())),
    };
    for _ in 0..30 {
        let Err(err) = sys::loop_clear_fd(&file) else {
            return Ok(());
        };
        match err.raw_os_error() {
            // Not attached (any more).
            Some(libc::ENXIO) => return Ok(()),
            // Older kernels refuse while the device is in use instead of deferring.
            Some(libc::EBUSY) => std::thread::sleep(Duration::from_millis(100)),
            _ => return Err(format!("cannot detach {}: {err}", dev.display())),
        }
    }
    Err(format!(
        "cannot detach {}: still busy after 3 s",
        dev.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_its_own_mount_points() {
        assert!(is_ours("/tmp/furnace-itest.AbC123"));
        assert!(is_ours("/tmp/furnace-demo.xxxxxx"));
        assert!(!is_ours("/tmp/furnace-itest.AbC12"));
        assert!(!is_ours("/tmp/furnace-itest.AbC123/merged"));
        assert!(!is_ours("/tmp/furnace-other.AbC123"));
        assert!(!is_ours("/tmp/fimg"));
        assert!(!is_ours("/var/tmp/furnace-itest.AbC123"));
    }

    #[test]
    fn finds_stale_image_mounts_in_the_mount_table() {
        let table = mountinfo::parse(
            "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n\
             90 22 7:3 / /tmp/furnace-itest.AbC123 ro,relatime shared:50 - ext4 /dev/loop3 ro\n\
             91 90 0:60 / /tmp/furnace-itest.AbC123/merged rw - overlay overlay rw\n\
             92 22 7:4 / /tmp/furnace-other.AbC123 ro - ext4 /dev/loop4 ro\n",
        );
        assert_eq!(
            stale_mounts(table),
            [(
                PathBuf::from("/tmp/furnace-itest.AbC123"),
                PathBuf::from("/dev/loop3")
            )]
        );
    }
}
