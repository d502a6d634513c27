//! The container's `/etc/resolv.conf` ([`ResolvConf`]): where the host's file goes, decided
//! before the fork by resolving the root's `/etc/resolv.conf` as the container will see it.
//!
//! The root's `/etc/resolv.conf` is looked up in the root the way a process inside will look
//! it up: symlinks followed, an absolute target taken from the container's root, `..` stopping
//! at it — and never on the host. Where it ends decides:
//!
//! - an existing regular file: the host's file is bound onto it;
//! - a path under `/run` (systemd-resolved's `../run/systemd/resolve/stub-resolv.conf`,
//!   resolvconf's `/run/resolvconf/resolv.conf`): `/run` is the container's own tmpfs, so
//!   the file (and its directories) are made there and the host's file bound onto it —
//!   nothing is written into the root;
//! - a missing file in an existing directory: made, bound onto, and removed at the end (with
//!   an overlay, made in the upper layer);
//! - anywhere else (a directory that does not exist, `/proc`, too many links): with
//!   [`ResolvConf::Auto`] nothing is bound and the start says why in a [`Warning`]; with
//!   [`ResolvConf::Bind`] or [`ResolvConf::Copy`] a link there is covered by the host's file
//!   (mounted on the link itself, which is left as it is), and anything else is
//!   [`Error::ResolvConf`].

use std::ffi::{CStr, OsStr, OsString};
use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use furnace_sys::fd::{forksafe as fd, Mode, OFlags};
use furnace_sys::fs::FileType;
use furnace_sys::Errno;

use crate::builder::ContainerBuilder;
use crate::error::{Error, Result};
use crate::roots::Warning;

/// What the container gets as `/etc/resolv.conf` ([`ContainerBuilder::resolv_conf`]).
///
/// ```
/// use furnace_core::ResolvConf;
/// assert_eq!("copy".parse::<ResolvConf>().unwrap(), ResolvConf::Copy);
/// assert_eq!(ResolvConf::default(), ResolvConf::Auto);
/// assert_eq!(ResolvConf::Bind.to_string(), "bind");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ResolvConf {
    /// With the host's network, the host's file, read-only, wherever the root's
    /// `/etc/resolv.conf` leads inside (its own tmpfs for a link into `/run`); when that
    /// cannot be, nothing, and a [`Warning`] says why. With a network of its own, the root's
    /// file as it is.
    #[default]
    Auto,
    /// The host's file, read-only, always (with a network of its own too): where `Auto`
    /// cannot, on the root's `/etc/resolv.conf` link itself; a start that still cannot is
    /// [`Error::ResolvConf`].
    Bind,
    /// A copy of the host's file, writable inside, on a tmpfs of the container's own (never
    /// written into the root), placed as with `Bind`.
    Copy,
    /// Nothing: the root's `/etc/resolv.conf` as it is.
    Off,
}

impl fmt::Display for ResolvConf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResolvConf::Auto => "auto",
            ResolvConf::Bind => "bind",
            ResolvConf::Copy => "copy",
            ResolvConf::Off => "off",
        })
    }
}

impl std::str::FromStr for ResolvConf {
    type Err = Error;

    /// `auto`, `bind`, `copy` or `off`.
    fn from_str(text: &str) -> Result<Self> {
        match text {
            "auto" => Ok(ResolvConf::Auto),
            "bind" => Ok(ResolvConf::Bind),
            "copy" => Ok(ResolvConf::Copy),
            "off" => Ok(ResolvConf::Off),
            _ => Err(Error::ResolvConf {
                mode: None,
                reason: format!("{text:?} is not auto, bind, copy or off"),
            }),
        }
    }
}

impl ContainerBuilder {
    /// What the container gets as `/etc/resolv.conf` (default [`ResolvConf::Auto`]: the
    /// host's file when the container shares the host's network). See [`ResolvConf`].
    ///
    /// ```no_run
    /// use furnace_core::{Container, ResolvConf};
    /// let c = Container::builder("/srv/ubuntu").start()?;
    /// // A root whose /etc/resolv.conf links to /run/systemd/resolve/stub-resolv.conf gets
    /// // the host's file there, on the container's own /run; when it cannot, it says why.
    /// for warning in c.warnings() {
    ///     eprintln!("warning: {warning}");
    /// }
    /// let c = Container::builder("/srv/ubuntu").resolv_conf(ResolvConf::Copy).start()?;
    /// // A writable copy: changes stay in the container.
    /// c.command("sh").args(["-c", "echo 'options ndots:2' >> /etc/resolv.conf"]).status()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resolv_conf(&mut self, mode: ResolvConf) -> &mut Self {
        self.resolv_conf = mode;
        self
    }
}

/// The host's file.
const HOST_FILE: &str = "/etc/resolv.conf";

/// The largest host file [`ResolvConf::Copy`] copies.
const MAX_COPY: u64 = 64 * 1024;

/// What the plan does about `resolv.conf`.
#[derive(Debug, Clone, Default)]
pub(crate) enum ResolvPlan {
    /// Nothing.
    #[default]
    Nothing,
    /// Bind the host's file (canonical) read-only at `dest` (components inside the root, the
    /// first `existing` of which the root has).
    Bind {
        source: PathBuf,
        dest: Vec<OsString>,
        existing: usize,
        /// `Auto`: a failure inside skips it, with a warning.
        optional: bool,
    },
    /// Bind a copy of `content` at `dest`.
    Copy {
        content: Vec<u8>,
        dest: Vec<OsString>,
        existing: usize,
    },
}

/// Decides, before the fork, what to do for `mode` over the root (`root`, an `O_PATH` fd of
/// it), and the warning to give when `Auto` does nothing.
pub(crate) fn plan(
    root: &OwnedFd,
    mode: ResolvConf,
    isolated: bool,
) -> Result<(ResolvPlan, Option<Warning>)> {
    let auto = mode == ResolvConf::Auto;
    if mode == ResolvConf::Off || (auto && isolated) {
        return Ok((ResolvPlan::Nothing, None));
    }
    let cannot = |reason: String| -> Result<(ResolvPlan, Option<Warning>)> {
        if auto {
            Ok((ResolvPlan::Nothing, Some(Warning::ResolvConf { reason })))
        } else {
            Err(Error::ResolvConf {
                mode: Some(mode),
                reason,
            })
        }
    };
    let source = match std::fs::canonicalize(HOST_FILE) {
        Ok(source) => source,
        Err(e) => return cannot(format!("the host's {HOST_FILE}: {e}")),
    };
    let (dest, existing) = match destination(root) {
        Ok(found) => found,
        Err(reason) if auto => return cannot(reason),
        // Bind and Copy cover the root's link itself when it leads nowhere usable.
        Err(reason) => match link_itself(root) {
            Some(dest) => (dest, 2),
            None => return cannot(reason),
        },
    };
    if mode == ResolvConf::Copy {
        let content = read_limited(&source).map_err(|reason| Error::ResolvConf {
            mode: Some(mode),
            reason,
        })?;
        let copy = ResolvPlan::Copy {
            content,
            dest,
            existing,
        };
        return Ok((copy, None));
    }
    Ok((
        ResolvPlan::Bind {
            source,
            dest,
            existing,
            optional: auto,
        },
        None,
    ))
}

/// The host's file, if it is at most [`MAX_COPY`] bytes.
fn read_limited(path: &Path) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut content = Vec::new();
    file.take(MAX_COPY + 1)
        .read_to_end(&mut content)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if content.len() as u64 > MAX_COPY {
        return Err(format!(
            "{} is larger than {MAX_COPY} bytes",
            path.display()
        ));
    }
    Ok(content)
}

/// `etc/resolv.conf` itself, when it is a symlink (for `Bind` and `Copy`).
fn link_itself(root: &OwnedFd) -> Option<Vec<OsString>> {
    let found = fd::openat_beneath(
        root.as_fd(),
        c"etc/resolv.conf",
        OFlags::PATH | OFlags::NOFOLLOW,
        Mode::empty(),
    )
    .ok()?;
    let kind = furnace_sys::fs::forksafe::file_type(found.as_fd()).ok()?;
    (kind == FileType::Symlink).then(|| vec![OsString::from("etc"), OsString::from("resolv.conf")])
}

/// How many symlinks a lookup follows at most (the kernel's limit).
const MAX_LINKS: usize = 40;

/// Where the root's `/etc/resolv.conf` leads, as components inside the root (and how many of
/// them the root has), or why it leads nowhere usable.
fn destination(root: &OwnedFd) -> std::result::Result<(Vec<OsString>, usize), String> {
    let parts = || vec![OsString::from("etc"), OsString::from("resolv.conf")];
    // The common case at the cost of two `fstatat`s: a directory `/etc` (not a link), and in
    // it a regular file.
    let kind = |path: &CStr| {
        rustix::fs::statat(root, path, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
            .map(|st| FileType::from_raw_mode(st.st_mode))
    };
    if kind(c"etc") == Ok(FileType::Directory)
        && kind(c"etc/resolv.conf") == Ok(FileType::RegularFile)
    {
        return Ok((parts(), 2));
    }
    let found = resolve(root, parts().into())?;
    // Only the last component can be missing (`resolve` says why otherwise); under the
    // container's own `/run` nothing counts.
    let existing = match fd::openat_beneath(
        root.as_fd(),
        &crate::paths::cstring(found.iter().collect::<PathBuf>()),
        OFlags::PATH | OFlags::NOFOLLOW,
        Mode::empty(),
    ) {
        Err(Errno::NOENT) => found.len() - 1,
        _ => found.len(),
    };
    Ok((found, existing))
}

/// Resolves `todo` inside the root the way the container will: see the module's doc.
fn resolve(
    root: &OwnedFd,
    mut todo: std::collections::VecDeque<OsString>,
) -> std::result::Result<Vec<OsString>, String> {
    let mut at: Vec<OsString> = Vec::new();
    let mut links = 0;
    let shown = |parts: &[OsString]| {
        let path: PathBuf = std::iter::once(OsStr::new("/"))
            .chain(parts.iter().map(OsString::as_os_str))
            .collect();
        path.display().to_string()
    };
    while let Some(part) = todo.pop_front() {
        if part == ".." {
            at.pop();
            continue;
        }
        if part.is_empty() || part == "." {
            continue;
        }
        // The top of the path decides whether it is on one of the container's own
        // filesystems: `/run`'s tmpfs, where nothing is yet and the rest is made; `/dev`,
        // `/proc`, `/sys`, where nothing may be made.
        let top = at.first().unwrap_or(&part).to_str();
        match top {
            Some("run") => {
                at.push(part);
                continue;
            }
            Some(top @ ("dev" | "proc" | "sys")) => {
                return Err(format!(
                    "/etc/resolv.conf leads into /{top}, a filesystem of the container's own"
                ))
            }
            _ => {}
        }
        let mut path = at.clone();
        path.push(part);
        let relative: PathBuf = path.iter().collect();
        let found = fd::openat_beneath(
            root.as_fd(),
            &crate::paths::cstring(&relative),
            OFlags::PATH | OFlags::NOFOLLOW,
            Mode::empty(),
        );
        let found = match found {
            Ok(found) => found,
            Err(Errno::NOENT) if todo.is_empty() => return Ok(path),
            Err(Errno::NOENT) => {
                return Err(format!(
                    "/etc/resolv.conf leads to {}, which does not exist in the root",
                    shown(&path)
                ))
            }
            Err(e) => {
                return Err(format!(
                    "{}: {}",
                    shown(&path),
                    furnace_sys::DisplayErrno(e)
                ))
            }
        };
        let kind = furnace_sys::fs::forksafe::file_type(found.as_fd())
            .map_err(|e| format!("{}: {}", shown(&path), furnace_sys::DisplayErrno(e)))?;
        match kind {
            FileType::Symlink => {
                links += 1;
                if links > MAX_LINKS {
                    return Err("/etc/resolv.conf leads through too many symlinks".into());
                }
                let target = rustix::fs::readlinkat(&found, "", Vec::new())
                    .map_err(|e| format!("{}: {}", shown(&path), furnace_sys::DisplayErrno(e)))?;
                let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
                if target.is_absolute() {
                    at.clear();
                }
                for component in target.components().rev() {
                    match component {
                        Component::Normal(part) => todo.push_front(part.to_owned()),
                        Component::ParentDir => todo.push_front("..".into()),
                        Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
                    }
                }
            }
            FileType::Directory if !todo.is_empty() => at = path,
            FileType::RegularFile if todo.is_empty() => return Ok(path),
            _ => {
                return Err(format!(
                    "/etc/resolv.conf leads to {}, which is not a regular file",
                    shown(&path)
                ))
            }
        }
    }
    match at.first().and_then(|top| top.to_str()) {
        Some("run") if at.len() > 1 => Ok(at),
        _ => Err(format!(
            "/etc/resolv.conf leads to the directory {}",
            shown(&at)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn resolv_conf_is_resolved_as_the_container_sees_it() {
        let root = std::env::temp_dir().join(format!("furnace-unit-{}-resolv", std::process::id()));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("var")).unwrap();
        std::fs::write(root.join("etc/real"), "").unwrap();
        symlink("../run", root.join("var/run")).unwrap();
        let at = |target: Option<&str>| {
            let link = root.join("etc/resolv.conf");
            let _ = std::fs::remove_file(&link);
            if let Some(target) = target {
                symlink(target, &link).unwrap();
            }
            let fd = fd::open(
                &crate::paths::cstring(&root),
                OFlags::PATH | OFlags::DIRECTORY,
                Mode::empty(),
            )
            .unwrap();
            destination(&fd).map(|(parts, _)| parts.iter().collect::<PathBuf>())
        };
        let outcomes = [
            at(Some("../run/systemd/resolve/stub-resolv.conf")),
            at(Some("/run/resolvconf/resolv.conf")),
            at(Some("/var/run/NetworkManager/resolv.conf")),
            at(Some("real")),
            at(Some("/../../etc/real")),
            at(Some("missing")),
            at(None),
            at(Some("/usr/share/resolv.conf")),
            at(Some("/proc/self/fd/0")),
            at(Some("resolv.conf")),
            at(Some("/etc")),
        ];
        std::fs::remove_dir_all(&root).unwrap();
        let ok = |p: &str| Ok(PathBuf::from(p));
        assert_eq!(outcomes[0], ok("run/systemd/resolve/stub-resolv.conf"));
        assert_eq!(outcomes[1], ok("run/resolvconf/resolv.conf"));
        assert_eq!(outcomes[2], ok("run/NetworkManager/resolv.conf"));
        assert_eq!(outcomes[3], ok("etc/real"));
        assert_eq!(outcomes[4], ok("etc/real"));
        assert_eq!(outcomes[5], ok("etc/missing"));
        assert_eq!(outcomes[6], ok("etc/resolv.conf"));
        let err = |i: usize, needle: &str| {
            let message = outcomes[i].clone().unwrap_err();
            assert!(message.contains(needle), "{i}: {message}");
        };
        err(7, "/usr, which does not exist in the root");
        err(8, "into /proc");
        err(9, "too many symlinks");
        err(10, "not a regular file");
    }

    #[test]
    fn modes_parse_and_show() {
        for mode in [
            ResolvConf::Auto,
            ResolvConf::Bind,
            ResolvConf::Copy,
            ResolvConf::Off,
        ] {
            assert_eq!(mode.to_string().parse::<ResolvConf>().unwrap(), mode);
        }
        let err = "on".parse::<ResolvConf>().unwrap_err().to_string();
        assert!(
            err.contains("\"on\" is not auto, bind, copy or off"),
            "{err}"
        );
    }
}
