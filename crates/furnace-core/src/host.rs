//! Host-side RAII helpers for building a root: a bind mount and an overlay, each unmounted
//! when dropped.
//!
//! A typical use is a throw-away writable view of a read-only base image:
//!
//! ```no_run
//! use furnace_core::{host::OverlayMountGuard, Container};
//! let scratch = std::path::Path::new("/tmp/scratch");
//! for dir in ["upper", "work", "merged"] {
//!     std::fs::create_dir_all(scratch.join(dir))?;
//! }
//! let overlay = OverlayMountGuard::new(
//!     &["/srv/base-image"],
//!     scratch.join("upper"),
//!     scratch.join("work"),
//!     scratch.join("merged"),
//! )?;
//! let container = Container::start(overlay.path())?;
//! container.command("touch").arg("/new-file").status()?; // lands in upper/
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use furnace_sys::mount::{self, MountFlags, UnmountFlags};

use crate::error::{Error, PathProblem, Result};

/// The error of a mount on the host: in a user namespace (without root, see
/// [`crate::rootless`]) the host's mount namespace is not the process's to change, which the
/// kernel says with a bare `EPERM`; the message says why.
fn host_mount(context: &'static str) -> impl FnOnce(furnace_sys::Error) -> Error {
    move |error| {
        let refused = error.errno() == furnace_sys::Errno::PERM;
        if refused && crate::rootless::in_user_namespace() {
            Error::Sys {
                context: "mount on the host (a process without root cannot: the host's mount \
                          namespace does not belong to its user namespace; mount inside the \
                          container, or prepare the root as root)",
                error,
            }
        } else {
            Error::Sys { context, error }
        }
    }
}

fn check_dir(what: &'static str, path: &Path) -> Result<PathBuf> {
    let canonical = std::fs::canonicalize(path).map_err(|e| Error::InvalidPath {
        what,
        path: path.to_path_buf(),
        problem: PathProblem::from_io(&e),
    })?;
    if !canonical.is_dir() {
        return Err(Error::InvalidPath {
            what,
            path: path.to_path_buf(),
            problem: PathProblem::NotADirectory,
        });
    }
    Ok(canonical)
}

/// A bind mount on the host, unmounted (lazily, with its submounts) when dropped.
#[derive(Debug)]
pub struct BindMountGuard {
    mount: Mounted,
}

impl BindMountGuard {
    /// Bind-mounts `source` (with its submounts) on `target`, read-only if asked (submounts
    /// included).
    pub fn new(
        source: impl AsRef<Path>,
        target: impl AsRef<Path>,
        read_only: bool,
    ) -> Result<Self> {
        let source = source.as_ref();
        let target = target.as_ref();
        std::fs::metadata(source).map_err(|e| Error::InvalidPath {
            what: "bind source",
            path: source.to_path_buf(),
            problem: PathProblem::from_io(&e),
        })?;
        std::fs::metadata(target).map_err(|e| Error::InvalidPath {
            what: "bind target",
            path: target.to_path_buf(),
            problem: PathProblem::from_io(&e),
        })?;
        mount::bind_recursive(source, target).map_err(host_mount("bind mount on the host"))?;
        let guard = Self {
            mount: Mounted::at(target, "unmount the bind mount"),
        };
        if read_only {
            mount::make_read_only_recursive(target)
                .map_err(Error::sys("make the bind mount read-only"))?;
        }
        Ok(guard)
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.mount.path
    }

    /// Unmounts now, returning the error if any.
    pub fn unmount(self) -> Result<()> {
        self.mount.unmount()
    }
}

/// An overlay filesystem on the host (`lower` dirs, `upper`, `work` → `merged`), unmounted
/// when dropped.
#[derive(Debug)]
pub struct OverlayMountGuard {
    mount: Mounted,
}

impl OverlayMountGuard {
    /// Mounts an overlay of `lower` (the first is the top layer) with `upper` and `work` (on
    /// the same filesystem, `work` empty) on `merged`.
    pub fn new<L: AsRef<Path>>(
        lower: &[L],
        upper: impl AsRef<Path>,
        work: impl AsRef<Path>,
        merged: impl AsRef<Path>,
    ) -> Result<Self> {
        let merged_given = merged.as_ref();
        if lower.is_empty() {
            return Err(Error::InvalidPath {
                what: "overlay lower directory",
                path: PathBuf::new(),
                problem: PathProblem::Missing,
            });
        }
        let mut lowers = Vec::new();
        for dir in lower {
            lowers.push(option_safe(
                "overlay lower directory",
                check_dir("overlay lower directory", dir.as_ref())?,
            )?);
        }
        let upper = option_safe(
            "overlay upper directory",
            check_dir("overlay upper directory", upper.as_ref())?,
        )?;
        let work = option_safe(
            "overlay work directory",
            check_dir("overlay work directory", work.as_ref())?,
        )?;
        let merged = check_dir("overlay mount point", merged_given)?;
        let data = format!(
            "lowerdir={},upperdir={upper},workdir={work}",
            lowers.join(":")
        );
        mount::mount(
            Some("overlay"),
            &merged,
            "overlay",
            MountFlags::empty(),
            Some(&data),
        )
        .map_err(host_mount("mount the overlay"))?;
        Ok(Self {
            mount: Mounted::at(&merged, "unmount the overlay"),
        })
    }

    /// The merged directory.
    pub fn path(&self) -> &Path {
        &self.mount.path
    }

    /// Unmounts now, returning the error if any.
    pub fn unmount(self) -> Result<()> {
        self.mount.unmount()
    }
}

/// A mount point this module made: unmounted lazily, with its submounts, on drop.
#[derive(Debug)]
struct Mounted {
    path: PathBuf,
    what: &'static str,
    mounted: bool,
}

impl Mounted {
    fn at(path: &Path, what: &'static str) -> Mounted {
        Mounted {
            path: path.to_path_buf(),
            what,
            mounted: true,
        }
    }

    fn unmount(mut self) -> Result<()> {
        self.mounted = false;
        mount::umount2(&self.path, UnmountFlags::DETACH).map_err(Error::sys(self.what))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.mounted {
            let _ = mount::umount2(&self.path, UnmountFlags::DETACH);
        }
    }
}

/// Overlay options are a comma-separated list with `:` between lower dirs; paths holding
/// those (or a backslash or newline) cannot be passed safely.
fn option_safe(what: &'static str, path: PathBuf) -> Result<String> {
    let text = path.to_str().ok_or_else(|| Error::InvalidPath {
        what,
        path: path.clone(),
        problem: PathProblem::UnsupportedCharacter('\u{fffd}'),
    })?;
    if let Some(bad) = text.chars().find(|c| matches!(c, ',' | ':' | '\\' | '\n')) {
        return Err(Error::InvalidPath {
            what,
            path: path.clone(),
            problem: PathProblem::UnsupportedCharacter(bad),
        });
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_refuses_bad_paths_before_mounting() {
        let err =
            OverlayMountGuard::new(&["/nonexistent/lower"], "/tmp", "/tmp", "/tmp").unwrap_err();
        assert_eq!(
            err.to_string(),
            "overlay lower directory /nonexistent/lower: does not exist"
        );
        let empty: [&str; 0] = [];
        assert!(OverlayMountGuard::new(&empty, "/tmp", "/tmp", "/tmp").is_err());
        assert!(option_safe("x", PathBuf::from("/a,b")).is_err());
        assert!(option_safe("x", PathBuf::from("/a:b")).is_err());
        assert_eq!(option_safe("x", PathBuf::from("/a/b")).unwrap(), "/a/b");
    }

    #[test]
    fn bind_guard_refuses_missing_source() {
        let err = BindMountGuard::new("/nonexistent/src", "/tmp", false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bind source /nonexistent/src: does not exist"
        );
    }
}
