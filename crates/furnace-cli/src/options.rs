//! From what the user typed to what the library takes: the container builder, and how a
//! command runs (who as, its environment, its capabilities). Every problem becomes a
//! [`Failure`] that names the argument.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use furnace_core::{Container, ContainerBuilder, User};

use crate::capabilities::Capabilities;
use crate::cli::{CommandArgs, ContainerArgs};
use crate::environment::Environment;
use crate::exit::Failure;

/// A container builder for `rootfs` with the options; input problems of the options
/// themselves are found here, those of the paths by the library's `start`.
pub fn builder(rootfs: &Path, args: &ContainerArgs) -> Result<ContainerBuilder, Failure> {
    let mut builder = Container::builder(rootfs);
    builder
        .isolate_network(args.isolate_net)
        .hardened(args.hardened)
        .hostname(args.hostname.clone());
    for arg in &args.mounts {
        builder.mount(crate::binds::bind_mount(arg)?);
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
    if args.ephemeral {
        builder.overlay(furnace_core::Overlay::Ephemeral);
    }
    if let Some(upper) = &args.overlay_upper {
        builder.overlay(furnace_core::Overlay::Upper(upper.clone()));
    }
    builder.read_only_root(args.read_only);
    if let Some(value) = &args.seccomp {
        builder.seccomp(seccomp(value, args.hardened)?);
    }
    for value in &args.tmpfs {
        let (destination, options) = match value.split_once(':') {
            Some((destination, options)) => (destination, options),
            None => (value.as_str(), ""),
        };
        let options: furnace_core::TmpfsOptions = if options.is_empty() {
            furnace_core::TmpfsOptions::new()
        } else {
            options
                .parse()
                .map_err(|e| Failure::furnace(format!("--tmpfs {}: {e}", quoted(value.as_ref()))))?
        };
        builder.tmpfs(destination, options);
    }
    if let Some(mode) = &args.private_users {
        builder.private_users(match mode.as_str() {
            "pick" => furnace_core::PrivateUsers::Pick,
            "read-only" => furnace_core::PrivateUsers::PickOrReadOnly,
            "off" => furnace_core::PrivateUsers::Off,
            _ => {
                return Err(Failure::furnace(format!(
                    "--private-users {}: expected pick, read-only or off",
                    quoted(mode.as_ref())
                )))
            }
        });
    }
    let resolv: furnace_core::ResolvConf = args.resolv_conf.parse().map_err(|_| {
        Failure::furnace(format!(
            "--resolv-conf {}: expected auto, bind, copy or off",
            quoted(args.resolv_conf.as_ref())
        ))
    })?;
    builder.resolv_conf(resolv);
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
    /// Applies the ids to a command (the variables are [`Environment::apply`]'s).
    fn apply(&self, command: &mut furnace_core::Command<'_>) {
        if let Some(uid) = self.uid {
            command.uid(uid);
        }
        if let Some(gid) = self.gid {
            command.gid(gid);
        }
        if let Some(groups) = &self.groups {
            command.groups(groups);
        }
    }
}

/// How a command runs, from the options of `run`, `shell` and `exec`, checked before anything
/// starts: who as, its environment, its capabilities.
#[derive(Debug)]
pub struct Prepared {
    pub identity: Identity,
    pub environment: Environment,
    pub capabilities: Capabilities,
}

impl Prepared {
    /// Reads the options (`--user` is looked up in `rootfs`, `--env-file` files are read).
    pub fn new(rootfs: &Path, args: &CommandArgs) -> Result<Self, Failure> {
        Ok(Self {
            environment: Environment::from_args(args)?,
            capabilities: Capabilities::from_args(&args.caps)?,
            identity: identity(rootfs, args)?,
        })
    }

    /// Applies everything to `command`: ids, then the environment, then capabilities.
    pub fn apply(&self, command: &mut furnace_core::Command<'_>) -> Result<(), Failure> {
        self.identity.apply(command);
        self.environment.apply(command, &self.identity.env);
        self.capabilities.apply(command, &self.identity)
    }
}

/// The identity the options ask for (`--user` is looked up in `rootfs` before anything
/// starts).
fn identity(rootfs: &Path, args: &CommandArgs) -> Result<Identity, Failure> {
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

/// `--seccomp PROFILE`: `default`, `unconfined`, or a JSON profile file, checked (and a
/// Docker profile's capability conditions resolved against the profile's capabilities) before
/// anything is made.
fn seccomp(value: &str, hardened: bool) -> Result<furnace_core::Seccomp, Failure> {
    match value {
        "default" => return Ok(furnace_core::Seccomp::Default),
        "unconfined" => return Ok(furnace_core::Seccomp::Unconfined),
        _ => {}
    }
    let shown = quoted(value.as_ref());
    let json = std::fs::read_to_string(value).map_err(|e| {
        Failure::furnace(format!(
            "--seccomp {shown}: {e} (a profile file, `default` or `unconfined`)"
        ))
    })?;
    let capabilities = if hardened {
        furnace_sys::cred::CapabilitySet::from_bits_retain(
            furnace_core::HARDENED_CAPABILITIES
                .iter()
                .fold(0, |mask, cap| mask | cap.bitmask()),
        )
    } else {
        furnace_sys::cred::CapabilitySet::all()
    };
    furnace_core::SeccompProfile::from_json(&json, &capabilities)
        .map(furnace_core::Seccomp::Profile)
        .map_err(|e| Failure::furnace(format!("--seccomp {shown}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
