//! What each step does, in words: the `operation` of [`Error::Setup`](crate::Error::Setup)
//! and of [`Error::StartTimeout`](crate::Error::StartTimeout).

use std::ffi::{CString, OsStr};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use furnace_sys::DisplayPath;

use super::{After, Before, Plan, Step};

/// [`Plan::show`]'s `Display`.
pub(crate) struct ShowStep<'p> {
    pub(super) plan: &'p Plan,
    pub(super) step: Step<'p>,
}

fn show(c: &CString) -> DisplayPath<'_> {
    DisplayPath(Path::new(OsStr::from_bytes(c.as_bytes())))
}

impl ShowStep<'_> {
    /// `bind SOURCE on DESTINATION`, for the steps that attach bind number `index`.
    fn fmt_attach(&self, f: &mut fmt::Formatter<'_>, index: usize) -> fmt::Result {
        match self.plan.binds.get(index) {
            Some(b) => write!(
                f,
                "bind {} on {}{}",
                show(&b.source),
                DisplayPath(&b.dest.shown),
                if b.read_only { " (read-only)" } else { "" }
            ),
            None => f.write_str("attach a bind"),
        }
    }
}

impl fmt::Display for ShowStep<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bind = |index: usize| self.plan.binds.get(index);
        match self.step {
            Step::Before(Before::MakeRootSlave) => f.write_str("make / rslave"),
            Step::Before(Before::LoopbackUp) => f.write_str("bring lo up"),
            Step::Before(Before::SelfBindRoot) => {
                write!(f, "bind {} onto itself", show(&self.plan.root))
            }
            Step::Before(Before::AttachRoot) => {
                write!(f, "attach the idmapped {}", show(&self.plan.root))
            }
            Step::Before(Before::NodevRoot) => {
                write!(
                    f,
                    "make {} and the mounts below it nodev",
                    show(&self.plan.root)
                )
            }
            Step::Before(Before::CloneBind(i)) => match bind(*i) {
                Some(b) => write!(f, "open bind source {}", show(&b.source)),
                None => f.write_str("open a bind source"),
            },
            Step::Before(Before::Overlay(o)) => write!(
                f,
                "mount an overlay over {} ({})",
                show(&self.plan.root),
                o.shown
            ),
            Step::Before(Before::Mount(m)) => {
                write!(f, "mount {} on {}", show(&m.fstype), show(&m.target))
            }
            Step::OpenRoot => write!(f, "open root {}", show(&self.plan.root)),
            Step::PivotRoot => f.write_str("pivot_root into the root and detach the old root"),
            Step::After(After::AttachBind(i)) => self.fmt_attach(f, *i),
            Step::After(After::AttachAtMountPoint { bind: i, .. }) => self.fmt_attach(f, *i),
            Step::After(op) => write!(f, "{op}"),
        }
    }
}

impl fmt::Display for After {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            After::Mount(m) => write!(f, "mount {} on {}", show(&m.fstype), show(&m.target)),
            After::Mkdir { path, .. } => write!(f, "mkdir {}", show(path)),
            After::Mknod {
                path, major, minor, ..
            } => write!(f, "mknod {} {major}:{minor}", show(path)),
            After::Chown { path, uid, gid } => write!(f, "chown {uid}:{gid} {}", show(path)),
            After::Symlink { target, path } => {
                write!(f, "symlink {} -> {}", show(path), show(target))
            }
            After::AttachBind(i) | After::AttachAtMountPoint { bind: i, .. } => {
                write!(f, "attach bind #{i}")
            }
            After::Tmpfs(t) => write!(f, "mount tmpfs on {}", DisplayPath(&t.dest.shown)),
            After::CopyFile(c) => write!(
                f,
                "bind a copy of the host's resolv.conf on {}",
                DisplayPath(&c.dest.shown)
            ),
            After::ReadOnlyRoot => f.write_str("make the root read-only"),
            After::Hostname(name) => write!(f, "sethostname {}", show(name)),
            After::Sysctl(path, value) => write!(f, "write {} to {}", show(value), show(path)),
            After::Mask(path) => write!(f, "mask {}", show(path)),
            After::ReadOnly(path) => write!(f, "make {} read-only", show(path)),
            After::DropPrivileges => f.write_str("drop PID 1's capabilities"),
        }
    }
}
