//! Users of a container's root: a name looked up in its `/etc/passwd` and `/etc/group`, for
//! [`Command::user`](crate::Command::user).

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use furnace_sys::fd::{forksafe as fd, Mode, OFlags};

use crate::error::{Error, Result};
use crate::paths::cstring;

/// A user of the container: its ids, supplementary groups, home and shell, as the root's
/// `/etc/passwd` and `/etc/group` give them.
///
/// ```no_run
/// use furnace_core::{Container, User};
/// let container = Container::start("/srv/rootfs")?;
/// let alice = User::lookup(container.root(), "alice")?;
/// let out = container.command("id").user(&alice).output()?;
/// println!("{}", String::from_utf8_lossy(&out.stdout)); // uid=1000(alice) gid=1000(alice) …
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The login name (for a numeric lookup without an entry, the number).
    pub name: String,
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// The supplementary groups: the primary group, then every group of `/etc/group` that
    /// lists the user as a member.
    pub groups: Vec<u32>,
    /// The home directory inside the container (`/` when the entry has none).
    pub home: PathBuf,
}

impl User {
    /// Looks `name` up in `root`'s `/etc/passwd` and `/etc/group` (resolved inside the root:
    /// a symlink there cannot send the lookup to a host file). A name made of digits that is
    /// not in `/etc/passwd` is taken as a uid, with gid 0 and no other group, as docker does.
    pub fn lookup(root: impl AsRef<Path>, name: &str) -> Result<User> {
        let root = root.as_ref();
        let unknown = |reason: String| Error::UnknownUser {
            name: name.to_owned(),
            root: root.to_path_buf(),
            reason,
        };
        let passwd = read_in_root(root, "etc/passwd").map_err(|e| unknown(e.to_string()))?;
        let Some(mut user) = parse_passwd(passwd.as_deref().unwrap_or(""), name) else {
            return match name.parse::<u32>() {
                Ok(uid) => Ok(User {
                    name: name.to_owned(),
                    uid,
                    gid: 0,
                    groups: vec![0],
                    home: PathBuf::from("/"),
                }),
                Err(_) if passwd.is_none() => {
                    Err(unknown("the root has no /etc/passwd".to_owned()))
                }
                Err(_) => Err(unknown("no such user in its /etc/passwd".to_owned())),
            };
        };
        let group = read_in_root(root, "etc/group").map_err(|e| unknown(e.to_string()))?;
        user.groups = groups_of(group.as_deref().unwrap_or(""), &user.name, user.gid);
        Ok(user)
    }
}

/// The user `name` (or, failing that, numbered `name`) of a passwd file; groups unset.
fn parse_passwd(text: &str, name: &str) -> Option<User> {
    let entries = text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        let [login, _, uid, gid, _, home, ..] = fields.as_slice() else {
            return None;
        };
        Some(User {
            name: (*login).to_owned(),
            uid: uid.parse().ok()?,
            gid: gid.parse().ok()?,
            groups: Vec::new(),
            home: PathBuf::from(if home.is_empty() { "/" } else { home }),
        })
    });
    let entries: Vec<User> = entries.collect();
    entries
        .iter()
        .find(|u| u.name == name)
        .or_else(|| {
            let uid: u32 = name.parse().ok()?;
            entries.iter().find(|u| u.uid == uid)
        })
        .cloned()
}

/// `gid`, then every group of a group file that lists `name` as a member.
fn groups_of(text: &str, name: &str, gid: u32) -> Vec<u32> {
    let mut groups = vec![gid];
    for line in text.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        let [_, _, id, members, ..] = fields.as_slice() else {
            continue;
        };
        let Ok(id) = id.parse::<u32>() else { continue };
        if members.split(',').any(|m| m.trim() == name) && !groups.contains(&id) {
            groups.push(id);
        }
    }
    groups
}

/// The text of `path` (relative) inside `root`, resolved beneath it; `None` when missing.
fn read_in_root(root: &Path, path: &str) -> std::result::Result<Option<String>, std::io::Error> {
    use std::io::Read;
    let dir = fd::open(
        &cstring(root),
        OFlags::PATH | OFlags::DIRECTORY,
        Mode::empty(),
    )?;
    let file = match fd::openat_beneath(dir.as_fd(), &cstring(path), OFlags::RDONLY, Mode::empty())
    {
        Ok(file) => file,
        Err(furnace_sys::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut text = String::new();
    std::fs::File::from(file).read_to_string(&mut text)?;
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:100:::/bin/sh\nbroken\n";
    const GROUP: &str = "root:x:0:\nusers:x:100:\nalice:x:1000:\nextra:x:2000:alice,bob\nbad\n";

    #[test]
    fn users_are_found_by_name_and_by_number() {
        let alice = parse_passwd(PASSWD, "alice").unwrap();
        assert_eq!((alice.uid, alice.gid), (1000, 1000));
        assert_eq!(alice.home, PathBuf::from("/home/alice"));
        assert_eq!(parse_passwd(PASSWD, "1001").unwrap().name, "bob");
        assert_eq!(
            parse_passwd(PASSWD, "bob").unwrap().home,
            PathBuf::from("/")
        );
        assert!(parse_passwd(PASSWD, "carol").is_none());
    }

    #[test]
    fn supplementary_groups_come_from_the_members_lists() {
        assert_eq!(groups_of(GROUP, "alice", 1000), [1000, 2000]);
        assert_eq!(groups_of(GROUP, "bob", 100), [100, 2000]);
        assert_eq!(groups_of(GROUP, "root", 0), [0]);
    }

    #[test]
    fn lookups_read_the_roots_files() {
        let root = std::env::temp_dir().join(format!("furnace-unit-{}-users", std::process::id()));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), PASSWD).unwrap();
        std::fs::write(root.join("etc/group"), GROUP).unwrap();
        let alice = User::lookup(&root, "alice");
        let numeric = User::lookup(&root, "4242");
        let missing = User::lookup(&root, "carol");
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(alice.unwrap().groups, [1000, 2000]);
        let numeric = numeric.unwrap();
        assert_eq!((numeric.uid, numeric.gid), (4242, 0));
        let err = missing.unwrap_err().to_string();
        assert!(
            err.contains("\"carol\"") && err.contains("no such user"),
            "{err}"
        );
    }
}
