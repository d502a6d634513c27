//! Loop devices a privileged container attached, detached again when it ends.
//!
//! The privileged profile gives a container the host's loop devices (`mount -o loop` works
//! inside, as with the original). The kernel does not tie a loop device to whoever attached
//! it, so furnace recognises what a container attached by two facts together:
//!
//! - the device is attached now and was not when the container started, or to a file of
//!   another size (the [`Snapshot`]: the loop devices `/proc/partitions` lists — the attached
//!   ones, with their sizes — one read at the start and one at the end);
//! - the file behind it is the container's: seen from inside the container's mount namespace,
//!   the path the kernel reports for it names a file of the same device and inode.
//!
//! Such devices are detached (`LOOP_CLR_FD`) once the container is gone — its mounts, which
//! may hold them, with it. Cases this cannot tell: a host process that attaches, during a
//! container's life, a file the container also sees (it is detached too); a device the host
//! had attached at the start that the container detached and attached again to a file of the
//! same size, and a device attached to an empty file (both stay).

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// The host's attached loop devices, with their sizes, when a container started (kept in a
/// detached container's `state.json`, for whoever stops it).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Snapshot {
    attached: Vec<(String, u64)>,
}

/// A loop device attached since the snapshot: its name and the device and inode of its file.
#[derive(Debug, Clone)]
pub(crate) struct Attached {
    name: String,
    file: (u64, u64),
}

impl Snapshot {
    /// The attached loop devices now.
    pub(crate) fn take() -> Snapshot {
        Snapshot {
            attached: attached_loops(),
        }
    }

    /// The loop devices attached now that were not at the snapshot, or to a file of another
    /// size.
    pub(crate) fn attached_since(&self) -> Vec<Attached> {
        attached_loops()
            .into_iter()
            .filter(|device| !self.attached.contains(device))
            .filter_map(|(name, _)| {
                let file = furnace_sys::dev::loop_backing_file(dev_path(&name))
                    .ok()
                    .flatten()?;
                Some(Attached { name, file })
            })
            .collect()
    }
}

/// Of `attached`, those whose file the container sees at the path the kernel reports for it
/// from inside the container's mount namespace (PID 1's, through `init`): looked at from a
/// thread of its own that leaves the process's shared filesystem context (`unshare(CLONE_FS)`)
/// and joins that namespace, so the calling thread's root never changes.
pub(crate) fn the_containers(init: &furnace_sys::Pidfd, attached: Vec<Attached>) -> Vec<String> {
    if attached.is_empty() {
        return Vec::new();
    }
    let Ok(pidfd) = furnace_sys::fd::dup_above_stdio(init) else {
        return Vec::new();
    };
    let look = move || -> Vec<String> {
        if furnace_sys::ns::unshare_fs().is_err() {
            return Vec::new();
        }
        if furnace_sys::ns::setns_pidfd(pidfd.as_fd(), furnace_sys::Namespaces::MNT).is_err() {
            return Vec::new();
        }
        attached
            .into_iter()
            .filter(seen_inside)
            .map(|a| a.name)
            .collect()
    };
    std::thread::Builder::new()
        .name("furnace-loops".into())
        .spawn(look)
        .ok()
        .and_then(|t| t.join().ok())
        .unwrap_or_default()
}

/// Detaches the loop devices named, now that the container is gone. Best effort: one that
/// something still holds is detached by the kernel on its last close.
pub(crate) fn detach(names: &[String]) {
    for name in names {
        let _ = furnace_sys::dev::loop_detach(dev_path(name));
    }
}

/// Whether the file behind `a`, as this thread's mount namespace shows it, is `a`'s file.
fn seen_inside(a: &Attached) -> bool {
    let link = Path::new("/sys/block")
        .join(&a.name)
        .join("loop/backing_file");
    let Ok(text) = furnace_sys::fs::read_small_text(&link) else {
        return false;
    };
    let path = PathBuf::from(text.trim_end_matches('\n'));
    let Ok(stat) = rustix::fs::stat(&path) else {
        return false;
    };
    same_device(stat.st_dev, a.file.0) && stat.st_ino == a.file.1
}

/// Whether two device numbers name the same device (`stat`'s and `LOOP_GET_STATUS64`'s
/// encodings agree on major and minor).
fn same_device(a: u64, b: u64) -> bool {
    rustix::fs::major(a) == rustix::fs::major(b) && rustix::fs::minor(a) == rustix::fs::minor(b)
}

/// The host's node of loop device `name`.
fn dev_path(name: &str) -> PathBuf {
    Path::new("/dev").join(name)
}

/// The loop devices `/proc/partitions` lists (the attached ones: it leaves out empty disks),
/// with their sizes in KiB.
fn attached_loops() -> Vec<(String, u64)> {
    let Ok(text) = furnace_sys::fs::read_small_text("/proc/partitions") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace().skip(2);
            let blocks = fields.next()?.parse().ok()?;
            let name = fields.next()?;
            is_loop(name).then(|| (name.to_owned(), blocks))
        })
        .collect()
}

/// Whether `name` is a loop device's (`loop` and a number).
fn is_loop(name: &str) -> bool {
    name.strip_prefix("loop")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}
