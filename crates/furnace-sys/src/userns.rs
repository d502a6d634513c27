//! User namespaces: the id maps of a process, the subordinate id ranges of `/etc/subuid` and
//! `/etc/subgid`, and entering a new user namespace with its maps written — directly (one id
//! of one's own) or through the setuid helpers `newuidmap`/`newgidmap` (ranges).
//!
//! ```
//! use furnace_sys::userns::{parse_map, IdMap};
//! let map = parse_map("         0       1000          1\n         1     100000      65536\n");
//! assert_eq!(map, [IdMap::new(0, 1000, 1), IdMap::new(1, 100000, 65536)]);
//! assert!(!furnace_sys::userns::is_initial(&map));
//! ```
//!
//! See `user_namespaces(7)`, `newuidmap(1)`, `subuid(5)`.

use std::fmt;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fd::forksafe as fd;
use crate::process::forksafe::{self as process, Forked};
use crate::process::PreparedExec;
use crate::process::{ExitKind, Pidfd};
use crate::{Errno, Namespaces};

/// One line of an id map: `count` ids from `inside` (in the namespace) are `outside` (in its
/// parent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdMap {
    /// The first id inside the namespace.
    pub inside: u32,
    /// The id it is outside, in the parent namespace.
    pub outside: u32,
    /// How many consecutive ids the line maps.
    pub count: u32,
}

impl IdMap {
    /// `count` ids from `inside` are `outside`.
    ///
    /// No system call.
    pub const fn new(inside: u32, outside: u32, count: u32) -> IdMap {
        IdMap {
            inside,
            outside,
            count,
        }
    }

    /// Whether `id` (inside) is mapped by this line.
    ///
    /// No system call.
    pub fn maps(&self, id: u32) -> bool {
        id >= self.inside && u64::from(id) < u64::from(self.inside) + u64::from(self.count)
    }
}

impl fmt::Display for IdMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.inside, self.outside, self.count)
    }
}

/// Users or groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// User ids: `uid_map`, `/etc/subuid`, `newuidmap`.
    User,
    /// Group ids: `gid_map`, `/etc/subgid`, `newgidmap`.
    Group,
}

impl IdKind {
    /// `uid_map` or `gid_map`.
    ///
    /// No system call.
    pub fn map_file(self) -> &'static str {
        match self {
            IdKind::User => "uid_map",
            IdKind::Group => "gid_map",
        }
    }

    /// `/etc/subuid` or `/etc/subgid`.
    ///
    /// No system call.
    pub fn subordinate_file(self) -> &'static Path {
        Path::new(match self {
            IdKind::User => "/etc/subuid",
            IdKind::Group => "/etc/subgid",
        })
    }

    /// `newuidmap` or `newgidmap`.
    ///
    /// No system call.
    pub fn helper(self) -> &'static str {
        match self {
            IdKind::User => "newuidmap",
            IdKind::Group => "newgidmap",
        }
    }

    /// `uid` or `gid`.
    ///
    /// No system call.
    pub fn short(self) -> &'static str {
        match self {
            IdKind::User => "uid",
            IdKind::Group => "gid",
        }
    }
}

/// Parses the text of a `uid_map` or `gid_map` file (lines of three numbers); malformed
/// lines are skipped.
///
/// No system call.
pub fn parse_map(text: &str) -> Vec<IdMap> {
    text.lines()
        .filter_map(|line| {
            let mut numbers = line.split_whitespace().map(|n| n.parse::<u32>().ok());
            match (
                numbers.next(),
                numbers.next(),
                numbers.next(),
                numbers.next(),
            ) {
                (Some(Some(inside)), Some(Some(outside)), Some(Some(count)), None) => {
                    Some(IdMap::new(inside, outside, count))
                }
                _ => None,
            }
        })
        .collect()
}

/// Whether `map` is the initial user namespace's: every id mapped to itself
/// (`0 0 4294967295`).
///
/// No system call.
pub fn is_initial(map: &[IdMap]) -> bool {
    map == [IdMap::new(0, 0, u32::MAX)]
}

/// Whether `id` (inside) is mapped by any line of `map`.
///
/// No system call.
pub fn is_mapped(map: &[IdMap], id: u32) -> bool {
    map.iter().any(|line| line.maps(id))
}

/// `read(/proc/self/uid_map)` or `gid_map`: this process's map.
///
/// See `user_namespaces(7)`.
pub fn own_map(kind: IdKind) -> Result<Vec<IdMap>> {
    let path = Path::new("/proc/self").join(kind.map_file());
    read_text(&path).map(|text| parse_map(&text))
}

/// `read(/proc/self/setgroups)`: whether this process's user namespace allows
/// `setgroups(2)` (`allow`); it is `deny` where a single id was mapped without privilege.
pub fn setgroups_allowed() -> Result<bool> {
    read_text(Path::new("/proc/self/setgroups")).map(|text| text.trim() == "allow")
}

fn read_text(path: &Path) -> Result<String> {
    crate::fs::read_small_text(path).map_err(|e| io_error("read", path, &e))
}

fn io_error(call: &'static str, path: &Path, e: &std::io::Error) -> Error {
    Error::new(
        call,
        path.display().to_string(),
        Errno::from_io_error(e).unwrap_or(Errno::IO),
    )
    .with_path(path)
}

/// A range of subordinate ids granted to a user in `/etc/subuid` or `/etc/subgid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubordinateRange {
    /// The first id of the range.
    pub start: u32,
    /// How many ids.
    pub count: u32,
}

/// The ranges `text` (the content of `/etc/subuid` or `/etc/subgid`, lines
/// `NAME_OR_ID:START:COUNT`) grants to the user called `name` or numbered `id`, in file
/// order. Comments, empty ranges and malformed lines are skipped.
///
/// No system call.
pub fn parse_subordinate(text: &str, name: Option<&str>, id: u32) -> Vec<SubordinateRange> {
    let id = id.to_string();
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.trim().split(':');
            let (owner, start, count) = (fields.next()?, fields.next()?, fields.next()?);
            if fields.next().is_some() || !(Some(owner) == name || owner == id) {
                return None;
            }
            let range = SubordinateRange {
                start: start.parse().ok()?,
                count: count.parse().ok()?,
            };
            (range.count > 0).then_some(range)
        })
        .collect()
}

/// `read(/etc/subuid)` or `read(/etc/subgid)`: the subordinate ranges of the user
/// `name`/`id` (none when the file does not exist).
///
/// See `subuid(5)`.
pub fn subordinate_ranges(
    kind: IdKind,
    name: Option<&str>,
    id: u32,
) -> Result<Vec<SubordinateRange>> {
    let path = kind.subordinate_file();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(parse_subordinate(&text, name, id)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_error("read", path, &e)),
    }
}

/// `stat(...)` of candidates: where `newuidmap` or `newgidmap` is, the first executable of
/// that name in the directories of `PATH`, then `/usr/bin`, `/bin`, `/usr/sbin`, `/sbin`.
///
/// See `newuidmap(1)`, `stat(2)`.
pub fn find_helper(kind: IdKind) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(kind.helper()))
        .find(|file| {
            std::fs::metadata(file)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `write(/proc/self/uid_map)` or `gid_map`: writes this process's own map (possible without
/// privilege for one line mapping the process's own id, once, right after
/// `unshare(CLONE_NEWUSER)`; for groups, only after [`deny_setgroups`]).
///
/// See `user_namespaces(7)`.
pub fn write_own_map(kind: IdKind, map: &[IdMap]) -> Result<()> {
    let path = Path::new("/proc/self").join(kind.map_file());
    let text: String = map.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(&path, text).map_err(|e| io_error("write", &path, &e))
}

/// `write(/proc/self/setgroups, "deny")`: what an unprivileged process must do before it may
/// write its own `gid_map`. Processes of the namespace can then never call `setgroups(2)`.
///
/// See `user_namespaces(7)`.
pub fn deny_setgroups() -> Result<()> {
    let path = Path::new("/proc/self/setgroups");
    std::fs::write(path, "deny").map_err(|e| io_error("write", path, &e))
}

/// Why [`enter_with_helpers`] could not map a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperFailure {
    /// The helper's command line.
    pub command: String,
    /// How it ended (exit 127: it could not be executed); `None` when that is unknown (it
    /// was killed after [`HELPER_TIMEOUT`], or the caller ignores `SIGCHLD`, so the kernel
    /// reaped it).
    pub how: Option<ExitKind>,
}

impl fmt::Display for HelperFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.how {
            Some(ExitKind::Exited(127)) => write!(f, "`{}` could not be executed", self.command),
            Some(ExitKind::Exited(code)) => {
                write!(f, "`{}` exited with status {code}", self.command)
            }
            Some(ExitKind::Signaled(signal)) => {
                write!(f, "`{}` was killed by signal {signal}", self.command)
            }
            None => write!(f, "`{}` did not write the map", self.command),
        }
    }
}

/// What [`enter_with_helpers`] managed: the namespace exists; each map was written or not.
#[derive(Debug)]
pub struct HelperOutcome {
    /// `newuidmap`'s failure, when the `uid_map` is unwritten.
    pub uid_map: Option<HelperFailure>,
    /// `newgidmap`'s failure, when the `gid_map` is unwritten.
    pub gid_map: Option<HelperFailure>,
}

/// How long [`enter_with_helpers`] waits for `newuidmap` and `newgidmap` (which may look the
/// user up through NSS) before killing them.
pub const HELPER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// `unshare(CLONE_NEWUSER)`, with `newuidmap`/`newgidmap` writing the new namespace's maps:
/// two helper processes forked *before* the `unshare` (so that they stay in this user
/// namespace, where their setuid bit counts) wait on a pipe until the namespace exists, then
/// exec the helpers with this process's pid.
///
/// The process must be single-threaded (the kernel refuses `unshare(CLONE_NEWUSER)` to a
/// multi-threaded one with `EINVAL`). An `Err` from the `unshare` (or before it) means the
/// namespace was not entered; after it, the result says which map is still unwritten, read
/// from `/proc/self/uid_map` and `gid_map` themselves (so a caller that ignores `SIGCHLD`,
/// whose helpers are reaped by the kernel, is told the truth), so that the caller can write
/// what is missing itself (a single id) — the namespace cannot be left again. A helper that
/// has not finished after [`HELPER_TIMEOUT`] is killed. The helpers' own messages go to this
/// process's stderr.
///
/// See `unshare(2)`, `newuidmap(1)`, `newgidmap(1)`.
pub fn enter_with_helpers(
    uids: &[IdMap],
    gids: &[IdMap],
    newuidmap: &Path,
    newgidmap: &Path,
) -> Result<HelperOutcome> {
    use std::os::fd::AsRawFd;
    let pid = std::process::id().to_string();
    let command_line =
        |helper: &Path, map: &[IdMap]| -> Vec<String> {
            std::iter::once(helper.display().to_string())
                .chain(std::iter::once(pid.clone()))
                .chain(map.iter().flat_map(|line| {
                    [line.inside, line.outside, line.count].map(|n| n.to_string())
                }))
                .collect()
        };
    let uid_args = command_line(newuidmap, uids);
    let gid_args = command_line(newgidmap, gids);
    let prepared = |path: &Path, args: &[String]| {
        PreparedExec::new(path, args)
            .ok_or_else(|| Error::new("exec", path.display().to_string(), Errno::INVAL))
    };
    let programs = [
        prepared(newuidmap, &uid_args)?,
        prepared(newgidmap, &gid_args)?,
    ];
    let (go_r, go_w) = crate::fd::pipe_above_stdio()?;
    let go_w_number = u32::try_from(go_w.as_raw_fd()).unwrap_or(u32::MAX);
    let mut helpers = Vec::with_capacity(2);
    for program in &programs {
        // SAFETY: the child only makes system calls (close, read, execve, _exit) on data
        // prepared above, and leaves through `execve` or `exit`; it never returns here.
        match unsafe { process::clone3(Namespaces::empty()) } {
            Ok(Forked::Child) => {
                // Its copy of the write end must go, or it would never see the end of file
                // that tells it the parent gave up.
                // SAFETY: the child never uses or drops `go_w` (it leaves through `exec` or
                // `exit`, which runs no destructors).
                let _ = unsafe { fd::close_range(go_w_number, go_w_number) };
                let mut go = [0u8; 1];
                // One byte: the namespace exists. End of file: the parent gave up.
                if fd::read_exact(go_r.as_fd(), &mut go).is_ok() {
                    let _ = process::exec(program);
                    process::exit(127);
                }
                process::exit(126);
            }
            Ok(Forked::Parent { pid, pidfd }) => helpers.push(Pidfd::from_owned(pidfd, pid)),
            Err(errno) => {
                drop(go_w);
                reap(&helpers);
                return Err(Error::new("clone3", "a newuidmap helper", errno));
            }
        }
    }
    drop(go_r);
    if let Err(errno) = crate::ns::forksafe::unshare(Namespaces::USER) {
        drop(go_w);
        reap(&helpers);
        return Err(Error::new("unshare", "CLONE_NEWUSER", errno));
    }
    // Should the write fail, the helpers read end of file and exit: the maps stay unwritten,
    // which the outcome below reports.
    let _ = fd::write_all(go_w.as_fd(), &[1, 1]);
    drop(go_w);
    let results: Vec<Option<ExitKind>> = helpers.iter().map(finish).collect();
    let failure = |kind: IdKind, how: Option<&Option<ExitKind>>, args: &[String]| {
        let written = own_map(kind).is_ok_and(|map| !map.is_empty());
        (!written).then(|| HelperFailure {
            command: args.join(" "),
            how: how.copied().flatten(),
        })
    };
    Ok(HelperOutcome {
        uid_map: failure(IdKind::User, results.first(), &uid_args),
        gid_map: failure(IdKind::Group, results.get(1), &gid_args),
    })
}

/// Waits (at most [`HELPER_TIMEOUT`]) for a released helper and reaps it; kills it when it
/// is late. `None`: how it ended is unknown.
fn finish(helper: &Pidfd) -> Option<ExitKind> {
    if !helper
        .wait_exit_timeout(Some(HELPER_TIMEOUT))
        .unwrap_or(false)
    {
        let _ = helper.send_signal(crate::Signal::KILL);
    }
    helper.wait().ok()
}

/// Reaps helpers that will not be released (they read end of file and exit).
fn reap(helpers: &[Pidfd]) {
    for helper in helpers {
        let _ = finish(helper);
    }
}

/// `unshare(CLONE_NEWUSER)`, then maps this process's own uid and gid to `uid` and `gid`
/// inside, with `setgroups` denied: all an unprivileged process may do alone.
///
/// The process must be single-threaded (else `EINVAL`). See `unshare(2)`,
/// `user_namespaces(7)`.
pub fn enter_single(uid: u32, gid: u32) -> Result<()> {
    let outside_uid = rustix::process::getuid().as_raw();
    let outside_gid = rustix::process::getgid().as_raw();
    crate::ns::forksafe::unshare(Namespaces::USER)
        .map_err(|e| Error::new("unshare", "CLONE_NEWUSER", e))?;
    write_own_map(IdKind::User, &[IdMap::new(uid, outside_uid, 1)])?;
    deny_setgroups()?;
    write_own_map(IdKind::Group, &[IdMap::new(gid, outside_gid, 1)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_parse_and_the_initial_one_is_recognised() {
        let initial = parse_map("         0          0 4294967295\n");
        assert!(is_initial(&initial));
        assert!(is_mapped(&initial, 4_294_967_294));
        let single = parse_map("0 1001 1\n");
        assert!(!is_initial(&single));
        assert!(is_mapped(&single, 0));
        assert!(!is_mapped(&single, 1));
        assert_eq!(parse_map("garbage\n1 2\n1 2 3 4\n"), []);
    }

    #[test]
    fn subordinate_ranges_match_by_name_or_id() {
        let text = "# comment\nalice:100000:65536\n1001:200000:10\nbob:300000:65536\nalice:400000:0\nbad\n";
        assert_eq!(
            parse_subordinate(text, Some("alice"), 1001),
            [
                SubordinateRange {
                    start: 100000,
                    count: 65536
                },
                SubordinateRange {
                    start: 200000,
                    count: 10
                }
            ]
        );
        assert_eq!(parse_subordinate(text, None, 7), []);
    }

    #[test]
    fn the_running_process_has_readable_maps() {
        assert!(!own_map(IdKind::User).unwrap().is_empty());
        assert!(!own_map(IdKind::Group).unwrap().is_empty());
    }
}
