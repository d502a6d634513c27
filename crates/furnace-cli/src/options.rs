//! From what the user typed to what the library takes: bind mounts, environment variables and
//! the container builder. Every problem becomes a [`Failure`] that names the argument.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use furnace_core::{BindMount, Container, ContainerBuilder, User};

use crate::cli::{BindArg, CommandArgs, ContainerArgs};
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
pub fn env_vars(args: &CommandArgs) -> Result<Vec<(OsString, OsString)>, Failure> {
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
    if let Some(size) = &args.memory {
        builder.memory_max(parse_size(size).map_err(|why| {
            Failure::furnace(format!("--memory {}: {why}", quoted(size.as_ref())))
        })?);
    }
    if let Some(count) = &args.pids_limit {
        builder.pids_max(count.trim().parse().map_err(|_| {
            Failure::furnace(format!(
                "--pids-limit {}: expected a whole number of processes, such as 256",
                quoted(count.as_ref())
            ))
        })?);
    }
    if let Some(cpus) = &args.cpus {
        let parsed: f64 = cpus.trim().parse().map_err(|_| {
            Failure::furnace(format!(
                "--cpus {}: expected a number of CPUs, such as 1.5",
                quoted(cpus.as_ref())
            ))
        })?;
        builder.cpu_quota(parsed);
    }
    if let Some(parent) = &args.cgroup_parent {
        builder.cgroup_parent(parent);
    }
    if let Some(weight) = &args.cpu_weight {
        builder.cpu_weight(weight.trim().parse().map_err(|_| {
            Failure::furnace(format!(
                "--cpu-weight {}: expected a whole number from 1 to 10000",
                quoted(weight.as_ref())
            ))
        })?);
    }
    Ok(builder)
}

/// A size as `--memory` takes it: a number of bytes, or a number (fractions allowed) with K,
/// M, G or T (powers of 1024, case-insensitive, an optional `B`/`iB` after).
pub fn parse_size(text: &str) -> Result<u64, &'static str> {
    const SHAPE: &str = "expected a size such as 512M or 2G (K, M, G, T: powers of 1024)";
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    let number_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(number_end);
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(SHAPE),
    };
    if number.is_empty() {
        return Err(SHAPE);
    }
    let value: f64 = number.parse().map_err(|_| SHAPE)?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err("too large");
    }
    Ok(bytes.round() as u64)
}

/// A byte count as people write it: `512 MiB`, `2 GiB`, or bytes when it is no round size.
pub fn show_size(bytes: u64) -> String {
    for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return format!("{} {unit}", bytes >> shift);
        }
    }
    format!("{bytes} bytes")
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
pub fn identity(rootfs: &Path, args: &CommandArgs) -> Result<Identity, Failure> {
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
    fn sizes_parse_as_people_write_them() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64kb"), Ok(64 << 10));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        for bad in ["lots", "", "M", "12X", "-5M", "1.2.3M", "1kbbb", "1kibib"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(show_size(512 << 20), "512 MiB");
        assert_eq!(show_size(3 << 29), "1536 MiB");
        assert_eq!(show_size(1000), "1000 bytes");
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
