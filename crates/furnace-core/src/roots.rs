//! What the container's root is made of beyond the directory itself: an overlay with a
//! throw-away or kept upper layer ([`Overlay`]), a read-only root, fresh tmpfs mounts
//! ([`TmpfsOptions`]); the builder's methods for them, their input checks, and the
//! [`Warning`]s a start can end with.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use furnace_sys::DisplayPath;

use crate::builder::ContainerBuilder;
use crate::error::{Error, PathProblem, Result};

/// How the container's root is layered: an overlay whose lower layer is the root directory,
/// so that whatever the container writes, deletes or renames lands in an upper layer and the
/// root directory itself stays exactly as it was ([`ContainerBuilder::overlay`]).
///
/// ```no_run
/// use furnace_core::{Container, Overlay};
/// // Writes vanish with the container.
/// let c = Container::builder("/srv/rootfs").overlay(Overlay::Ephemeral).start()?;
/// c.command("rm").args(["-rf", "/usr/share/doc"]).status()?; // /srv/rootfs keeps its docs
/// drop(c);
/// // Writes kept in /srv/changes.
/// let c = Container::builder("/srv/rootfs")
///     .overlay(Overlay::Upper("/srv/changes".into()))
///     .start()?;
/// c.command("touch").arg("/built").status()?; // /srv/changes/built
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The overlay is mounted by PID 1 inside the container's own mount namespace, before the
/// pivot: nothing of it is ever mounted on the host, and it goes with the namespace — also
/// when the owner dies by `SIGKILL`. Kernel requirements: overlayfs (Linux ≥ 5.12, furnace's
/// minimum, has all that is used); without root (in a user namespace) Linux ≥ 5.11 mounts it
/// with the `userxattr` option, and an [`Ephemeral`](Overlay::Ephemeral) overlay needs
/// Linux ≥ 6.6 (extended `user.` attributes on tmpfs) for directories of the root to be
/// removed or renamed inside. The root may itself be an overlay (a lower layer can be one);
/// an upper directory cannot be on overlayfs. Mounts *below* the root directory on the host
/// are not part of the lower layer (overlayfs does not cross mount points): the container
/// sees the directories under them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overlay {
    /// Throw-away writes: the upper and work directories live on a tmpfs made in the
    /// container's mount namespace, so nothing of what the container wrote is left anywhere
    /// once it ends. The tmpfs has the kernel's default size (half the RAM); what is written
    /// there counts against a [`memory_max`](ContainerBuilder::memory_max) limit.
    Ephemeral,
    /// Writes kept in this directory, overlayfs's upper layer: a file the container creates
    /// as `/x` is `DIR/x`, one it deletes a whiteout there. overlayfs also needs a work
    /// directory on the same filesystem: furnace uses `.NAME.furnace-work` next to `DIR`
    /// (`NAME` being `DIR`'s name), makes it when missing and removes it when the container
    /// ends (after an owner killed by `SIGKILL` it stays, and the next container with this
    /// upper directory reuses it). `DIR` must exist, must not be a mount point (its parent
    /// must be on the same filesystem), and must neither be inside the root nor hold it.
    Upper(PathBuf),
    /// Writes kept in `upper`, with overlayfs's work directory `work` given by the caller
    /// (same mount as `upper`, neither inside the other; empty, or used by an earlier overlay
    /// of the same `upper`). furnace leaves `work` as it is.
    UpperWork {
        /// The upper layer: where the container's writes are kept.
        upper: PathBuf,
        /// overlayfs's work directory.
        work: PathBuf,
    },
}

/// A fresh tmpfs mounted inside the container ([`ContainerBuilder::tmpfs`]): its size limit
/// and the mode of its root directory. The defaults are the kernel's size (half the RAM) and
/// mode `0755`; the mount is `nosuid,nodev`.
///
/// ```
/// use furnace_core::TmpfsOptions;
/// let tmp = TmpfsOptions::new().size(64 << 20).mode(0o1777);
/// assert_eq!(tmp, "size=64m,mode=1777".parse().unwrap());
/// assert_eq!((tmp.size_limit(), tmp.permissions()), (Some(64 << 20), 0o1777));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TmpfsOptions {
    size: Option<u64>,
    mode: u32,
    copy_up: bool,
}

impl Default for TmpfsOptions {
    fn default() -> Self {
        TmpfsOptions {
            size: None,
            mode: 0o755,
            copy_up: false,
        }
    }
}

impl TmpfsOptions {
    /// The defaults: the kernel's size limit, mode `0755`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Limits the tmpfs to `bytes` (rounded up to whole pages by the kernel); at least one
    /// page (4096 bytes), checked when the container starts (tmpfs itself would take `0` as
    /// "no limit").
    #[must_use]
    pub fn size(mut self, bytes: u64) -> Self {
        self.size = Some(bytes);
        self
    }

    /// The permission bits of the tmpfs's root directory (`0o1777` for a `/tmp`); at most
    /// `0o7777`, checked when the container starts.
    #[must_use]
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Starts the tmpfs with the content of the directory it is mounted on (an OCI
    /// `tmpcopyup`): an overlay whose lower layer is the directory and whose upper layer is
    /// the tmpfs, so the content shows at once, writes go to the tmpfs (within its size) and
    /// vanish with the container, and the directory itself is never written.
    ///
    /// ```no_run
    /// use furnace_core::{Container, TmpfsOptions};
    /// // /etc/app as shipped in the image, writable inside, unchanged on disk.
    /// let container = Container::builder("/srv/rootfs")
    ///     .tmpfs("/etc/app", TmpfsOptions::new().size(16 << 20).copy_up(true))
    ///     .start()?;
    /// # Ok::<(), furnace_core::Error>(())
    /// ```
    #[must_use]
    pub fn copy_up(mut self, copy_up: bool) -> Self {
        self.copy_up = copy_up;
        self
    }

    /// Whether the tmpfs starts with the directory's content ([`copy_up`](Self::copy_up)).
    pub fn copies_up(&self) -> bool {
        self.copy_up
    }

    /// The size limit in bytes (`None`: the kernel's default).
    pub fn size_limit(&self) -> Option<u64> {
        self.size
    }

    /// The mode of the root directory.
    pub fn permissions(&self) -> u32 {
        self.mode
    }

    /// Checks the values (what [`start`](ContainerBuilder::start) refuses).
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |option, value: String, reason| Error::InvalidTmpfs {
            option,
            value,
            reason,
        };
        if let Some(size) = self.size {
            if size < PAGE {
                return Err(bad(
                    "size",
                    size.to_string(),
                    "is less than one page (4096 bytes); tmpfs would take 0 as no limit at all",
                ));
            }
        }
        if self.mode > 0o7777 {
            return Err(bad(
                "mode",
                format!("{:o}", self.mode),
                "has bits beyond the permission bits 07777",
            ));
        }
        Ok(())
    }
}

/// The smallest tmpfs size accepted.
const PAGE: u64 = 4096;

impl std::str::FromStr for TmpfsOptions {
    type Err = Error;

    /// Parses `size=SIZE,mode=MODE` (either, both, in any order, or nothing): `SIZE` in bytes
    /// with an optional `k`, `m` or `g` suffix (powers of 1024), `MODE` in octal — the syntax
    /// of `mount -t tmpfs -o`. The values are checked as [`start`](ContainerBuilder::start)
    /// checks them.
    fn from_str(text: &str) -> Result<Self> {
        let mut options = TmpfsOptions::default();
        for item in text.split(',').filter(|i| !i.is_empty()) {
            let bad = |option, reason| Error::InvalidTmpfs {
                option,
                value: item.to_owned(),
                reason,
            };
            match item.split_once('=') {
                Some(("size", value)) => {
                    options.size =
                        Some(parse_size(value).ok_or_else(|| {
                            bad("size", "is not a number of bytes (with k, m or g)")
                        })?);
                }
                Some(("mode", value)) => {
                    options.mode = u32::from_str_radix(value, 8)
                        .map_err(|_| bad("mode", "is not an octal mode"))?;
                }
                _ => return Err(bad("option", "is not size=SIZE or mode=MODE")),
            }
        }
        options.validate()?;
        Ok(options)
    }
}

/// `64m` → 64 MiB.
fn parse_size(value: &str) -> Option<u64> {
    let (digits, shift) = match value.char_indices().last()? {
        (at, 'k' | 'K') => (&value[..at], 10),
        (at, 'm' | 'M') => (&value[..at], 20),
        (at, 'g' | 'G') => (&value[..at], 30),
        _ => (value, 0),
    };
    let number: u64 = digits.parse().ok()?;
    number.checked_mul(1 << shift)
}

/// Something a start did not do as asked, without failing: the container runs, and the
/// caller may want to say why it lacks something ([`Container::warnings`]).
///
/// [`Container::warnings`]: crate::Container::warnings
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The host's `/etc/resolv.conf` was not given to the container
    /// ([`ResolvConf::Auto`](crate::ResolvConf::Auto)), so names may not resolve inside.
    ResolvConf {
        /// Why, in a few words.
        reason: String,
    },
    /// A mount could not be idmapped for the hardened profile's user namespace and is
    /// read-only instead, its files owned by `nobody` inside
    /// ([`PrivateUsers::PickOrReadOnly`](crate::PrivateUsers::PickOrReadOnly)).
    NotIdmapped {
        /// `root` or `bind source`.
        what: &'static str,
        /// The path on the host.
        path: std::path::PathBuf,
        /// Its filesystem's type as the mount table names it.
        filesystem: String,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::ResolvConf { reason } => {
                write!(f, "no resolv.conf of the host inside: {reason}")
            }
            Warning::NotIdmapped {
                what,
                path,
                filesystem,
            } => write!(
                f,
                "{what} {} is on {filesystem}, which cannot be idmapped: mounted read-only, \
                 its files owned by nobody inside",
                furnace_sys::DisplayPath(path)
            ),
        }
    }
}

impl ContainerBuilder {
    /// Mounts an overlay over the root directory, whose lower layer is the root, so that the
    /// container's writes land in an upper layer and the root directory stays exactly as it
    /// was — the mount points furnace needs (`/proc`, a bind's destination, `resolv.conf`)
    /// included, which are then made in the upper layer too. See [`Overlay`] for the kinds,
    /// the kernel's requirements and an example. The directories of an [`Overlay::Upper`] or
    /// [`Overlay::UpperWork`] are checked before any namespace is made
    /// ([`Error::InvalidOverlay`]).
    pub fn overlay(&mut self, overlay: Overlay) -> &mut Self {
        self.overlay = Some(overlay);
        self
    }

    /// Mounts the root read-only (default: writable, as the directory is). Only the root's
    /// own mount: `/dev`, `/proc`, `/sys`, `/run`, [`tmpfs`](ContainerBuilder::tmpfs) mounts
    /// and binds keep their own modes, so a writable bind stays writable. With an
    /// [`overlay`](ContainerBuilder::overlay), the overlay is read-only. In the privileged
    /// profile root inside can remount it writable; the hardened profile cannot.
    ///
    /// ```no_run
    /// use furnace_core::{Container, TmpfsOptions};
    /// let c = Container::builder("/srv/rootfs")
    ///     .read_only_root(true)
    ///     .tmpfs("/tmp", TmpfsOptions::new().mode(0o1777))
    ///     .bind("/srv/out", "/out")
    ///     .start()?;
    /// assert!(!c.command("touch").arg("/etc/x").status()?.success()); // EROFS
    /// assert!(c.command("touch").arg("/out/x").status()?.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_only_root(&mut self, read_only: bool) -> &mut Self {
        self.read_only_root = read_only;
        self
    }

    /// Mounts a fresh tmpfs at `destination` inside (a path of the container, checked like a
    /// bind's destination: inside the root, no `..`, a directory or missing). Mounts are made
    /// in the order they were added, binds and tmpfs mounts alike, after the container's own
    /// filesystems; a bad size or mode is [`Error::InvalidTmpfs`], a bad destination
    /// [`Error::TmpfsDestination`], both before any namespace exists.
    ///
    /// ```no_run
    /// use furnace_core::{Container, TmpfsOptions};
    /// let c = Container::builder("/srv/rootfs")
    ///     .tmpfs("/scratch", TmpfsOptions::new().size(16 << 20))
    ///     .start()?;
    /// // Writing 32 MiB fails with ENOSPC half-way.
    /// let mut dd = c.command("dd");
    /// dd.args(["if=/dev/zero", "of=/scratch/f", "bs=1M", "count=32"]);
    /// assert!(!dd.status()?.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tmpfs(&mut self, destination: impl Into<PathBuf>, options: TmpfsOptions) -> &mut Self {
        self.mounts.push(crate::builder::UserMount::Tmpfs {
            destination: destination.into(),
            options,
        });
        self
    }
}

/// An overlay whose directories were checked: canonical, usable together.
#[derive(Debug, Clone)]
pub(crate) struct ValidOverlay {
    /// The upper directory (`None`: ephemeral, on a tmpfs of PID 1's).
    pub upper: Option<PathBuf>,
    /// The work directory.
    pub work: Option<PathBuf>,
    /// The work directory is furnace's own, next to the upper one (made before the start,
    /// removed at the end).
    pub own_work: bool,
}

impl Overlay {
    /// Checks the directories against the (canonical) root.
    pub(crate) fn validate(&self, root: &Path) -> Result<ValidOverlay> {
        match self {
            Overlay::Ephemeral => Ok(ValidOverlay {
                upper: None,
                work: None,
                own_work: false,
            }),
            Overlay::Upper(upper) => {
                let upper = layer_dir("upper directory", upper, root)?;
                let invalid = |problem| Error::InvalidOverlay {
                    what: "upper directory",
                    path: upper.clone(),
                    problem,
                };
                if furnace_sys::mountinfo::is_mount_point(&upper).unwrap_or(false) {
                    return Err(invalid(PathProblem::KindMismatch(
                        "is a mount point, so no work directory can be made next to it on its \
                         filesystem: give one with Overlay::UpperWork",
                    )));
                }
                let (Some(parent), Some(name)) = (upper.parent(), upper.file_name()) else {
                    return Err(invalid(PathProblem::IsRoot));
                };
                let mut work_name = OsString::from(".");
                work_name.push(name);
                work_name.push(".furnace-work");
                let work = parent.join(work_name);
                if let Ok(meta) = std::fs::symlink_metadata(&work) {
                    if !meta.is_dir() {
                        return Err(Error::InvalidOverlay {
                            what: "work directory",
                            path: work,
                            problem: PathProblem::NotADirectory,
                        });
                    }
                }
                Ok(ValidOverlay {
                    upper: Some(upper),
                    work: Some(work),
                    own_work: true,
                })
            }
            Overlay::UpperWork { upper, work } => {
                let upper = layer_dir("upper directory", upper, root)?;
                let work = layer_dir("work directory", work, root)?;
                let invalid = |problem| Error::InvalidOverlay {
                    what: "work directory",
                    path: work.clone(),
                    problem,
                };
                if upper.starts_with(&work) || work.starts_with(&upper) {
                    return Err(invalid(PathProblem::KindMismatch(
                        "is the upper directory, or inside it, or holds it: overlayfs needs \
                         them apart",
                    )));
                }
                if mount_id(&upper) != mount_id(&work) {
                    return Err(invalid(PathProblem::KindMismatch(
                        "is not on the same mount as the upper directory, which overlayfs needs",
                    )));
                }
                Ok(ValidOverlay {
                    upper: Some(upper),
                    work: Some(work),
                    own_work: false,
                })
            }
        }
    }
}

/// An upper or work directory: canonical, a directory, nowhere near the root, and a path
/// overlayfs's options can carry.
fn layer_dir(what: &'static str, path: &Path, root: &Path) -> Result<PathBuf> {
    let invalid = |path: &Path, problem| Error::InvalidOverlay {
        what,
        path: path.to_path_buf(),
        problem,
    };
    let canonical =
        std::fs::canonicalize(path).map_err(|e| invalid(path, PathProblem::from_io(&e)))?;
    if !canonical.is_dir() {
        return Err(invalid(path, PathProblem::NotADirectory));
    }
    if canonical.starts_with(root) || root.starts_with(&canonical) {
        return Err(invalid(
            path,
            PathProblem::KindMismatch(
                "is inside the root or holds it: overlayfs refuses overlapping layers",
            ),
        ));
    }
    if rustix::fs::statfs(&canonical).is_ok_and(|st| st.f_type == OVERLAYFS_SUPER_MAGIC) {
        return Err(invalid(
            path,
            PathProblem::KindMismatch("is on overlayfs, which cannot hold an upper or work layer"),
        ));
    }
    let text = canonical.to_str().ok_or_else(|| {
        invalid(
            path,
            PathProblem::UnsupportedCharacter(char::REPLACEMENT_CHARACTER),
        )
    })?;
    if let Some(bad) = text.chars().find(|c| matches!(c, ',' | ':' | '\\' | '\n')) {
        return Err(invalid(path, PathProblem::UnsupportedCharacter(bad)));
    }
    Ok(canonical)
}

/// `statfs(2)`'s `f_type` of overlayfs.
const OVERLAYFS_SUPER_MAGIC: rustix::fs::FsWord = 0x794c_7630;

/// The id of the mount `path` is on (`statx`'s `stx_mnt_id`, Linux ≥ 5.8).
pub(crate) fn mount_id(path: &Path) -> Option<u64> {
    use rustix::fs::{statx, AtFlags, StatxFlags, CWD};
    statx(CWD, path, AtFlags::empty(), StatxFlags::MNT_ID)
        .ok()
        .map(|st| st.stx_mnt_id)
}

/// Makes an own work directory next to the upper one when missing (mode 0700), just before the
/// start: the one thing a start makes on the host outside the root, removed at the end.
pub(crate) fn ensure_work_dir(overlay: &ValidOverlay) -> Result<()> {
    let Some(work) = overlay.work.as_ref().filter(|_| overlay.own_work) else {
        return Ok(());
    };
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(work) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::InvalidOverlay {
            what: "work directory",
            path: work.clone(),
            problem: PathProblem::from_io(&e),
        }),
    }
}

impl fmt::Display for ValidOverlay {
    /// `ephemeral` or `upper U, work W`, for step descriptions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.upper, &self.work) {
            (Some(upper), Some(work)) => write!(
                f,
                "upper {}, work {}",
                DisplayPath(upper),
                DisplayPath(work)
            ),
            _ => f.write_str("upper and work on a tmpfs of the container's own"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_options_parse_and_check() {
        let parsed: TmpfsOptions = "mode=700,size=8k".parse().unwrap();
        assert_eq!(parsed, TmpfsOptions::new().size(8192).mode(0o700));
        assert_eq!("".parse::<TmpfsOptions>().unwrap(), TmpfsOptions::default());
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(&format!("{}g", u64::MAX)), None);
        for (bad, needle) in [
            ("size=0", "less than one page"),
            ("size=4095", "less than one page"),
            ("size=lots", "not a number"),
            ("mode=9", "not an octal mode"),
            ("mode=17777", "beyond the permission bits"),
            ("uid=0", "is not size=SIZE or mode=MODE"),
        ] {
            let err = bad.parse::<TmpfsOptions>().unwrap_err();
            assert!(
                matches!(err, Error::InvalidTmpfs { .. }) && err.to_string().contains(needle),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn overlay_directories_are_checked_before_anything_starts() {
        let base =
            std::env::temp_dir().join(format!("furnace-unit-{}-overlay", std::process::id()));
        let root = base.join("root");
        for dir in ["root/inner", "upper", "work", "odd,name"] {
            std::fs::create_dir_all(base.join(dir)).unwrap();
        }
        let check = |overlay: Overlay| overlay.validate(&root).map_err(|e| e.to_string());
        let upper = check(Overlay::Upper(base.join("upper"))).unwrap();
        assert_eq!(upper.work, Some(base.join(".upper.furnace-work")));
        assert!(upper.own_work);
        let inside = check(Overlay::Upper(root.join("inner"))).unwrap_err();
        let missing = check(Overlay::Upper(base.join("missing"))).unwrap_err();
        let comma = check(Overlay::Upper(base.join("odd,name"))).unwrap_err();
        let nested = check(Overlay::UpperWork {
            upper: base.join("upper"),
            work: base.join("upper"),
        })
        .unwrap_err();
        let given = check(Overlay::UpperWork {
            upper: base.join("upper"),
            work: base.join("work"),
        })
        .unwrap();
        std::fs::remove_dir_all(&base).unwrap();
        assert!(inside.contains("overlapping layers"), "{inside}");
        assert!(missing.ends_with("does not exist"), "{missing}");
        assert!(comma.contains("','"), "{comma}");
        assert!(nested.contains("apart"), "{nested}");
        assert!(!given.own_work);
    }
}
