//! Containers without root: the process enters a user namespace of its own, once, first
//! thing in `main`.
//!
//! Making namespaces and mounts needs `CAP_SYS_ADMIN`. A process without root gets it in a
//! user namespace it creates, but the kernel makes that a whole-process affair rather than a
//! per-container one: a multi-threaded process cannot enter a user namespace, and joining a
//! container's pid namespace needs the capability in the caller's *own* user namespace. So
//! [`enter`] — called first thing in `main`, while the program is single-threaded — puts the
//! whole process into a user namespace and writes its id maps; from then on
//! [`ContainerBuilder::start`](crate::ContainerBuilder::start) and
//! [`Command`](crate::Command) work as they do for root.
//!
//! ```no_run
//! use furnace_core::rootless::{self, IdMapping};
//! use furnace_core::Container;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Nothing to do for root; otherwise the process is now root of a user namespace of
//!     // its own, mapped to the caller.
//!     rootless::enter(IdMapping::Auto)?;
//!     let container = Container::builder("/srv/rootfs").start()?;
//!     let out = container.command("id").arg("-u").output()?;
//!     assert_eq!(out.stdout, b"0\n"); // root inside, the caller outside
//!     Ok(())
//! }
//! ```
//!
//! Inside the namespace the caller is uid 0 and gid 0. [`IdMapping::Auto`] also maps the
//! subordinate ids `/etc/subuid` and `/etc/subgid` grant the caller (through the setuid
//! helpers `newuidmap` and `newgidmap`, Debian's `uidmap` package), so that several users,
//! `chown` and `setgroups` work inside; without them, a single id is mapped and `setgroups`
//! is denied. What a user namespace cannot give is reported as such: an unmapped
//! [`Command::uid`](crate::Command::uid) as [`Error::UnmappedId`], a root owned by an
//! unmapped id that something must be created in as [`Error::RootNotWritable`]. Loop devices
//! are not available inside a rootless container.
//!
//! No re-execution is needed. The one kernel check that would ask for it — joining the
//! namespaces of the non-dumpable PID 1 through its pidfd passes the ptrace check only for a
//! process whose memory belongs to the user namespace, that is, one that executed a program
//! inside it — is avoided: PID 1 sends fds of its own namespace files to the caller when it
//! starts (its own need no check), and commands join through those.

use std::path::Path;
use std::sync::OnceLock;

use furnace_sys::userns::{self, IdKind, IdMap, SubordinateRange};

use crate::error::{Error, Result};

/// Which ids the user namespace maps.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdMapping {
    /// The caller as root (0) and, when `/etc/subuid` and `/etc/subgid` grant the caller
    /// ranges and `newuidmap`/`newgidmap` are installed, those ranges from 1 on. Without them
    /// (or when the helpers fail), [`IdMapping::Single`].
    Auto,
    /// The caller as root (0) only; `setgroups(2)` is denied inside.
    Single,
    /// These maps exactly. Anything but one line mapping the caller's own id needs
    /// `newuidmap`/`newgidmap` (which check the ranges against `/etc/subuid` and
    /// `/etc/subgid`).
    Explicit {
        /// The uid map's lines.
        uids: Vec<IdMap>,
        /// The gid map's lines.
        gids: Vec<IdMap>,
    },
}

/// Puts this process into a user namespace of its own, with the ids `mapping` asks for,
/// unless it already holds `CAP_SYS_ADMIN` (as root does, or after an earlier call): then it
/// returns `Ok(())` at once.
///
/// Call it first thing in `main`, before any thread exists: the kernel refuses a user
/// namespace to a multi-threaded process. Afterwards the process is uid 0 and gid 0 of the
/// namespace (the caller outside: files it creates belong to the caller), with every
/// capability there. It is an error when the namespace cannot be entered (user namespaces
/// disabled for the user, the process multi-threaded) or its maps cannot be written. With
/// [`IdMapping::Explicit`] ranges, a helper that refuses them is an error too, and the process
/// is then already in the namespace, without that map: it cannot be left again, so treat the
/// error as fatal. ([`IdMapping::Auto`] falls back to the single map instead.)
pub fn enter(mapping: IdMapping) -> Result<()> {
    if has_sys_admin() {
        return Ok(());
    }
    match thread_count() {
        Some(1) => {}
        Some(threads) => {
            return Err(Error::UserNamespace {
                reason: format!(
                    "the process has {threads} threads, and the kernel gives a user namespace \
                     only to a single-threaded one: call furnace_core::rootless::enter first \
                     thing in main"
                ),
            })
        }
        None => {
            return Err(Error::UserNamespace {
                reason: "cannot count this process's threads (/proc/self/status is \
                         unreadable: is /proc mounted?)"
                    .into(),
            })
        }
    }
    enter_namespace(&mapping)?;
    if !has_sys_admin() {
        return Err(Error::UserNamespace {
            reason: "the process is in a user namespace of its own but lacks CAP_SYS_ADMIN \
                     there (a capability bounding set or securebits of the caller may have \
                     removed it)"
                .into(),
        });
    }
    Ok(())
}

/// Whether the process runs in a user namespace other than the initial one (so furnace works
/// the rootless way: host device nodes bound rather than created, no loop devices, `/sys`
/// bound from the host without a network namespace of its own).
pub fn in_user_namespace() -> bool {
    user_namespace().is_some()
}

/// What furnace needs to know of the user namespace it runs in.
#[derive(Debug, Clone)]
pub(crate) struct UserNamespace {
    pub uids: Vec<IdMap>,
    pub gids: Vec<IdMap>,
    /// `/proc/self/setgroups` is `deny`.
    pub setgroups_denied: bool,
}

/// The process's user namespace (`None`: the initial one, or unreadable maps, which are
/// treated as the initial namespace). Read once when the process is in one, or holds
/// `CAP_SYS_ADMIN` (then [`enter`] never changes it); otherwise read again each time, since a
/// later [`enter`] may still put the process into one.
pub(crate) fn user_namespace() -> Option<&'static UserNamespace> {
    static CACHE: OnceLock<Option<UserNamespace>> = OnceLock::new();
    if let Some(cached) = CACHE.get() {
        return cached.as_ref();
    }
    let found = read_user_namespace();
    if found.is_none() && !has_sys_admin() {
        return None;
    }
    CACHE.get_or_init(|| found).as_ref()
}

fn read_user_namespace() -> Option<UserNamespace> {
    let uids = userns::own_map(IdKind::User).ok()?;
    if userns::is_initial(&uids) {
        return None;
    }
    Some(UserNamespace {
        uids,
        gids: userns::own_map(IdKind::Group).ok()?,
        setgroups_denied: !userns::setgroups_allowed().unwrap_or(false),
    })
}

impl UserNamespace {
    /// Checks that `id` is mapped inside.
    pub(crate) fn check(&self, kind: &'static str, id: u32) -> Result<()> {
        let map = if kind == "uid" {
            &self.uids
        } else {
            &self.gids
        };
        if userns::is_mapped(map, id) {
            return Ok(());
        }
        Err(Error::UnmappedId {
            kind,
            id,
            mapped: show_inside(map),
            hint: if map.len() == 1 && map.first().is_some_and(|m| m.count == 1) {
                "only one id is mapped; give your user subordinate ids (`usermod \
                 --add-subuids 100000-165535 --add-subgids 100000-165535 USER` as root) and \
                 install newuidmap/newgidmap (Debian's uidmap package), or use an id that is \
                 mapped"
            } else {
                "use an id inside the mapped ranges, or map more subordinate ids"
            },
        })
    }
}

/// The inside ranges of a map: `0`, `0-65536`, `0, 5-9`.
fn show_inside(map: &[IdMap]) -> String {
    let ranges: Vec<String> = map
        .iter()
        .map(|m| match m.count {
            0 | 1 => m.inside.to_string(),
            n => format!("{}-{}", m.inside, u64::from(m.inside) + u64::from(n) - 1),
        })
        .collect();
    if ranges.is_empty() {
        "nothing".to_owned()
    } else {
        ranges.join(", ")
    }
}

fn has_sys_admin() -> bool {
    furnace_sys::caps::has_effective(furnace_sys::caps::Cap::CAP_SYS_ADMIN).unwrap_or(false)
}

/// The number of threads of this process (`Threads:` of `/proc/self/status`).
fn thread_count() -> Option<usize> {
    let status = furnace_sys::fs::read_small_text("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Enters the user namespace and writes its maps.
fn enter_namespace(mapping: &IdMapping) -> Result<()> {
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let single = || -> Result<()> {
        userns::enter_single(0, 0).map_err(refused)?;
        Ok(())
    };
    let (uids, gids, explicit) = match mapping {
        IdMapping::Single => return single(),
        IdMapping::Auto => match subordinate_maps(uid, gid) {
            Some((uids, gids)) => (uids, gids, false),
            None => return single(),
        },
        IdMapping::Explicit { uids, gids } => {
            let own = |map: &[IdMap], id: u32| matches!(map, [line] if line.count == 1 && line.outside == id);
            if own(uids, uid) && own(gids, gid) {
                let (inside_uid, inside_gid) = (uids[0].inside, gids[0].inside);
                userns::enter_single(inside_uid, inside_gid).map_err(refused)?;
                return Ok(());
            }
            (uids.clone(), gids.clone(), true)
        }
    };
    let (Some(newuidmap), Some(newgidmap)) = (
        userns::find_helper(IdKind::User),
        userns::find_helper(IdKind::Group),
    ) else {
        return Err(Error::UserNamespace {
            reason: "mapping ranges of ids needs newuidmap and newgidmap (Debian's uidmap \
                     package), which are not installed"
                .into(),
        });
    };
    let outcome =
        userns::enter_with_helpers(&uids, &gids, &newuidmap, &newgidmap).map_err(refused)?;
    if outcome.uid_map.is_none() && outcome.gid_map.is_none() {
        return Ok(());
    }
    if explicit {
        let failed: Vec<String> = [outcome.uid_map, outcome.gid_map]
            .into_iter()
            .flatten()
            .map(|f| f.to_string())
            .collect();
        return Err(Error::UserNamespace {
            reason: failed.join("; "),
        });
    }
    // Auto: the namespace exists and cannot be left; map what is missing the single way.
    let unmapped = |error: furnace_sys::Error| Error::UserNamespace {
        reason: format!("newuidmap/newgidmap failed, and so did the single-id map: {error}"),
    };
    if outcome.uid_map.is_some() {
        userns::write_own_map(IdKind::User, &[IdMap::new(0, uid, 1)]).map_err(unmapped)?;
    }
    if outcome.gid_map.is_some() {
        userns::deny_setgroups().map_err(unmapped)?;
        userns::write_own_map(IdKind::Group, &[IdMap::new(0, gid, 1)]).map_err(unmapped)?;
    }
    Ok(())
}

/// A failure to enter the namespace, with the likely cause when the kernel refused it.
fn refused(error: furnace_sys::Error) -> Error {
    use furnace_sys::Errno;
    let why = match (error.call(), error.errno()) {
        ("unshare", Errno::PERM | Errno::ACCESS) => {
            "; the kernel refuses user namespaces to this user (a sysctl such as \
             kernel.unprivileged_userns_clone=0, or an AppArmor restriction such as Ubuntu's \
             kernel.apparmor_restrict_unprivileged_userns=1)"
        }
        ("unshare", Errno::NOSPC | Errno::USERS) => {
            "; the limit on user namespaces is reached (user.max_user_namespaces)"
        }
        ("unshare", Errno::INVAL) => {
            "; the process is multi-threaded: call furnace_core::rootless::enter first thing \
             in main"
        }
        _ => "",
    };
    Error::UserNamespace {
        reason: format!("{error}{why}"),
    }
}

/// The caller as 0 and its subordinate ranges from 1 on, for users and groups; `None` when
/// either has no range or a helper is missing.
fn subordinate_maps(uid: u32, gid: u32) -> Option<(Vec<IdMap>, Vec<IdMap>)> {
    userns::find_helper(IdKind::User)?;
    userns::find_helper(IdKind::Group)?;
    let name = user_name(uid);
    let group = group_name(gid);
    let uid_ranges = userns::subordinate_ranges(IdKind::User, name.as_deref(), uid).ok()?;
    let gid_ranges = userns::subordinate_ranges(IdKind::Group, name.as_deref(), uid)
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(|| userns::subordinate_ranges(IdKind::Group, group.as_deref(), gid).ok())?;
    Some((
        with_ranges(uid, &uid_ranges)?,
        with_ranges(gid, &gid_ranges)?,
    ))
}

/// `0 id 1` followed by the ranges, inside ids counting on from 1 (at most the kernel's 340
/// lines); `None` without ranges.
fn with_ranges(id: u32, ranges: &[SubordinateRange]) -> Option<Vec<IdMap>> {
    if ranges.is_empty() {
        return None;
    }
    let mut map = vec![IdMap::new(0, id, 1)];
    let mut inside: u32 = 1;
    for range in ranges.iter().take(339) {
        let count = range.count.min(u32::MAX - inside);
        if count == 0 {
            break;
        }
        map.push(IdMap::new(inside, range.start, count));
        inside += count;
    }
    Some(map)
}

/// The name `/etc/passwd` gives `uid` (`/etc/subuid` lines are usually by name).
fn user_name(uid: u32) -> Option<String> {
    name_in(Path::new("/etc/passwd"), uid)
}

/// The name `/etc/group` gives `gid`.
fn group_name(gid: u32) -> Option<String> {
    name_in(Path::new("/etc/group"), gid)
}

/// The first field of the line of `file` whose third field is `id`.
fn name_in(file: &Path, id: u32) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let id = id.to_string();
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == id).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_the_caller_from_one_on() {
        let ranges = [
            SubordinateRange {
                start: 100_000,
                count: 65_536,
            },
            SubordinateRange {
                start: 300_000,
                count: 10,
            },
        ];
        assert_eq!(
            with_ranges(1000, &ranges).unwrap(),
            [
                IdMap::new(0, 1000, 1),
                IdMap::new(1, 100_000, 65_536),
                IdMap::new(65_537, 300_000, 10)
            ]
        );
        assert_eq!(with_ranges(1000, &[]), None);
    }

    #[test]
    fn mapped_ranges_are_shown_inside() {
        assert_eq!(show_inside(&[IdMap::new(0, 1000, 1)]), "0");
        assert_eq!(
            show_inside(&[IdMap::new(0, 1000, 1), IdMap::new(1, 100_000, 65_536)]),
            "0, 1-65536"
        );
        assert_eq!(show_inside(&[]), "nothing");
    }

    #[test]
    fn unmapped_ids_are_named_with_the_fix() {
        let ns = UserNamespace {
            uids: vec![IdMap::new(0, 1000, 1)],
            gids: vec![IdMap::new(0, 1000, 1)],
            setgroups_denied: true,
        };
        assert!(ns.check("uid", 0).is_ok());
        let err = ns.check("uid", 1000).unwrap_err().to_string();
        assert!(err.starts_with("uid 1000 is not mapped"), "{err}");
        assert!(err.contains("--add-subuids"), "{err}");
    }
}
