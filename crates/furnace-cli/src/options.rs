//! From what the user typed to what the library takes: bind mounts, environment variables and
//! the container builder. Every problem becomes a [`Failure`] that names the argument.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use furnace_core::{BindMount, Container, ContainerBuilder, User};

use crate::cli::{BindArg, ContainerArgs};
use crate::exit::Failure;

/// Splits a `--bind`/`--ro-bind` value into a bind mount. SRC is made absolute against the
/// current directory (it is a host path); DST is left as given (a path inside the container).
pub fn bind_mount(arg: &BindArg) -> Result<BindMount, Failure> {
    let (source, destination) = split_bind(&arg.value).map_err(|why| {
        Failure::furnace(format!(
            "{} {}: {why}",
            arg.option_name(),
            quoted(&arg.value)
        ))
    })?;
    let source = std::path::absolute(&source).map_err(|e| {
        Failure::furnace(format!(
            "{} {}: cannot resolve the source against the current directory: {e}",
            arg.option_name(),
            quoted(&arg.value)
        ))
    })?;
    let bind = BindMount::new(source, destination);
    Ok(if arg.read_only {
        bind.read_only()
    } else {
        bind
    })
}

/// `SRC:DST` → (SRC, DST), or why not.
fn split_bind(value: &OsStr) -> Result<(PathBuf, PathBuf), &'static str> {
    const SHAPE: &str = "expected SRC:DST (a host path, a colon, a path inside the container)";
    let bytes = value.as_bytes();
    let mut parts = bytes.split(|&b| b == b':');
    let (Some(source), Some(destination), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(if bytes.contains(&b':') {
            "more than one ':' (paths with a colon cannot be bind-mounted)"
        } else {
            SHAPE
        });
    };
    if source.is_empty() {
        return Err("the source (before ':') is empty");
    }
    if destination.is_empty() {
        return Err("the destination (after ':') is empty");
    }
    Ok((
        PathBuf::from(OsStr::from_bytes(source)),
        PathBuf::from(OsStr::from_bytes(destination)),
    ))
}

/// Splits a `-e`/`--env` value `KEY=VALUE` (VALUE may be empty, or contain `=`).
pub fn env_var(value: &OsStr) -> Result<(OsString, OsString), Failure> {
    let bytes = value.as_bytes();
    let bad = |why: &str| Failure::furnace(format!("--env {}: {why}", quoted(value)));
    let Some(eq) = bytes.iter().position(|&b| b == b'=') else {
        return Err(bad("expected KEY=VALUE"));
    };
    if eq == 0 {
        return Err(bad("the name (before '=') is empty"));
    }
    if bytes.contains(&0) {
        return Err(bad("contains a NUL byte"));
    }
    Ok((
        OsString::from_vec(bytes[..eq].to_vec()),
        OsString::from_vec(bytes[eq + 1..].to_vec()),
    ))
}

/// All `-e` values, checked.
pub fn env_vars(args: &ContainerArgs) -> Result<Vec<(OsString, OsString)>, Failure> {
    args.env.iter().map(|value| env_var(value)).collect()
}

/// A container builder for `rootfs` with the options; input problems of the options
/// themselves are found here, those of the paths by the library's `start`.
pub fn builder(rootfs: &Path, args: &ContainerArgs) -> Result<ContainerBuilder, Failure> {
    let mut builder = Container::builder(rootfs);
    builder
        .isolate_network(args.isolate_net)
        .hardened(args.hardened)
        .hostname(args.hostname.clone());
    for arg in &args.mounts {
        builder.mount(bind_mount(arg)?);
    }
    Ok(builder)
}

/// Who the command runs as inside: `--uid`/`--gid`, or `--user` looked up in the root.
#[derive(Debug, Default)]
pub struct Identity {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// `--user`'s supplementary groups.
    pub groups: Option<Vec<u32>>,
    /// `--user`'s HOME, USER and LOGNAME.
    pub env: Vec<(OsString, OsString)>,
}

impl Identity {
    /// Applies the identity to a command.
    pub fn apply(&self, command: &mut furnace_core::Command<'_>) {
        if let Some(uid) = self.uid {
            command.uid(uid);
        }
        if let Some(gid) = self.gid {
            command.gid(gid);
        }
        if let Some(groups) = &self.groups {
            command.groups(groups);
        }
        command.envs(self.env.iter().cloned());
    }
}

/// The identity the options ask for (`--user` is looked up in `rootfs` before anything
/// starts).
pub fn identity(rootfs: &Path, args: &ContainerArgs) -> Result<Identity, Failure> {
    let Some(name) = &args.user else {
        return Ok(Identity {
            uid: args.uid,
            gid: args.gid,
            ..Identity::default()
        });
    };
    let user =
        User::lookup(rootfs, name).map_err(|e| Failure::furnace(format_args!("--user: {e}")))?;
    Ok(Identity {
        uid: Some(user.uid),
        gid: Some(user.gid),
        env: vec![
            ("HOME".into(), user.home.clone().into_os_string()),
            ("USER".into(), user.name.clone().into()),
            ("LOGNAME".into(), user.name.clone().into()),
        ],
        groups: Some(user.groups),
    })
}

/// A value in quotes, as Rust's `Debug` of a lossy string shows it (escapes included).
fn quoted(value: &OsStr) -> String {
    format!("{:?}", value.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(value: &str, read_only: bool) -> Result<BindMount, String> {
        bind_mount(&BindArg {
            read_only,
            value: value.into(),
        })
        .map_err(|f| f.to_string())
    }

    #[test]
    fn binds_split_at_the_colon() {
        let b = bind("/srv/data:/data", false).unwrap();
        assert_eq!(b.source(), Path::new("/srv/data"));
        assert_eq!(b.destination(), Path::new("/data"));
        assert!(!b.is_read_only());
        assert!(bind("/a:b", true).unwrap().is_read_only());
    }

    #[test]
    fn relative_sources_are_resolved_on_the_host() {
        let b = bind("data:/data", false).unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(b.source(), cwd.join("data"));
    }

    #[test]
    fn bad_binds_name_the_argument() {
        let err = bind("nocolon", false).unwrap_err();
        assert!(err.contains("--bind \"nocolon\""), "{err}");
        assert!(err.contains("SRC:DST"), "{err}");
        let err = bind(":/x", true).unwrap_err();
        assert!(err.starts_with("--ro-bind \":/x\""), "{err}");
        assert!(err.contains("source"), "{err}");
        let err = bind("/x:", false).unwrap_err();
        assert!(err.contains("destination"), "{err}");
        let err = bind("/a:/b:/c", false).unwrap_err();
        assert!(err.contains("more than one"), "{err}");
    }

    #[test]
    fn env_vars_split_at_the_first_equals_sign() {
        let (k, v) = env_var(OsStr::new("A=b=c")).unwrap();
        assert_eq!((k.to_str(), v.to_str()), (Some("A"), Some("b=c")));
        let (k, v) = env_var(OsStr::new("EMPTY=")).unwrap();
        assert_eq!((k.to_str(), v.to_str()), (Some("EMPTY"), Some("")));
        let err = env_var(OsStr::new("NOVALUE")).unwrap_err().to_string();
        assert!(
            err.contains("--env \"NOVALUE\": expected KEY=VALUE"),
            "{err}"
        );
        assert!(env_var(OsStr::new("=x")).is_err());
    }
}
