//! A bundle's `config.json`: checked field by field against what furnace-oci supports (a field
//! present and not supported is an error naming it, never ignored), then read into furnace's
//! builder and the [`InitProgram`] PID 1 becomes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use furnace_core::{ContainerBuilder, InitProgram};
use furnace_sys::cred::{AllCapabilitySets, CapabilitySet};
use serde::Deserialize;
use serde_json::Value;

/// The spec versions accepted: 1.0.x to 1.2.x.
const MAJOR_MINOR: [(u32, u32); 3] = [(1, 0), (1, 1), (1, 2)];

/// What furnace-oci understands of `config.json`: a key, and below it what it holds.
enum Shape {
    /// Any value of the right JSON type (checked when read).
    Leaf,
    /// An object with these keys.
    Object(&'static [(&'static str, Shape)]),
    /// An array of these.
    Array(&'static Shape),
    /// An object with any keys (annotations).
    AnyKeys,
}

use Shape::{AnyKeys, Array, Leaf, Object};

const CAPABILITIES: Shape = Object(&[
    ("bounding", Leaf),
    ("effective", Leaf),
    ("inheritable", Leaf),
    ("permitted", Leaf),
    ("ambient", Leaf),
]);

const PROCESS: Shape = Object(&[
    ("terminal", Leaf),
    (
        "user",
        Object(&[
            ("uid", Leaf),
            ("gid", Leaf),
            ("umask", Leaf),
            ("additionalGids", Leaf),
        ]),
    ),
    ("args", Leaf),
    ("env", Leaf),
    ("cwd", Leaf),
    ("capabilities", CAPABILITIES),
    (
        "rlimits",
        Array(&Object(&[("type", Leaf), ("hard", Leaf), ("soft", Leaf)])),
    ),
    ("noNewPrivileges", Leaf),
    ("oomScoreAdj", Leaf),
    ("apparmorProfile", Leaf),
    ("selinuxLabel", Leaf),
]);

const HOOK: Shape = Array(&Object(&[
    ("path", Leaf),
    ("args", Leaf),
    ("env", Leaf),
    ("timeout", Leaf),
]));

const CONFIG: Shape = Object(&[
    ("ociVersion", Leaf),
    (
        "hooks",
        Object(&[
            ("prestart", HOOK),
            ("createRuntime", HOOK),
            ("createContainer", HOOK),
            ("startContainer", HOOK),
            ("poststart", HOOK),
            ("poststop", HOOK),
        ]),
    ),
    ("root", Object(&[("path", Leaf), ("readonly", Leaf)])),
    ("process", PROCESS),
    ("hostname", Leaf),
    (
        "mounts",
        Array(&Object(&[
            ("destination", Leaf),
            ("type", Leaf),
            ("source", Leaf),
            ("options", Leaf),
        ])),
    ),
    (
        "linux",
        Object(&[
            (
                "namespaces",
                Array(&Object(&[("type", Leaf), ("path", Leaf)])),
            ),
            ("mountLabel", Leaf),
            (
                "devices",
                Array(&Object(&[
                    ("path", Leaf),
                    ("type", Leaf),
                    ("major", Leaf),
                    ("minor", Leaf),
                    ("fileMode", Leaf),
                    ("uid", Leaf),
                    ("gid", Leaf),
                ])),
            ),
            (
                "resources",
                Object(&[
                    (
                        "devices",
                        Array(&Object(&[
                            ("allow", Leaf),
                            ("access", Leaf),
                            ("type", Leaf),
                            ("major", Leaf),
                            ("minor", Leaf),
                        ])),
                    ),
                    ("memory", Object(&[("limit", Leaf), ("swap", Leaf)])),
                    ("pids", Object(&[("limit", Leaf)])),
                    (
                        "cpu",
                        Object(&[("quota", Leaf), ("period", Leaf), ("shares", Leaf)]),
                    ),
                ]),
            ),
            ("seccomp", Leaf),
            ("maskedPaths", Leaf),
            ("cgroupsPath", Leaf),
            ("rootfsPropagation", Leaf),
            ("readonlyPaths", Leaf),
            ("sysctl", AnyKeys),
        ]),
    ),
    ("annotations", AnyKeys),
]);

/// Fails naming the first field of `value` (as a path, `linux.intelRdt`, `mounts[2].uidMappings`)
/// that `shape` does not have.
fn check(value: &Value, shape: &Shape, path: &str) -> Result<(), String> {
    let here = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match (shape, value) {
        (Leaf | AnyKeys, _) | (_, Value::Null) => Ok(()),
        (Object(keys), Value::Object(map)) => {
            for (key, inner) in map {
                match keys.iter().find(|(k, _)| k == key) {
                    Some((_, shape)) => check(inner, shape, &here(key))?,
                    None => {
                        return Err(format!(
                            "config.json: {} is not supported by furnace-oci (see docs/OCI.md)",
                            here(key)
                        ))
                    }
                }
            }
            Ok(())
        }
        (Array(shape), Value::Array(items)) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check(item, shape, &format!("{path}[{i}]"))),
        (Object(_), _) => Err(format!("config.json: {path} must be an object")),
        (Array(_), _) => Err(format!("config.json: {path} must be an array")),
    }
}

/// The document, read into types once checked.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub oci_version: String,
    pub root: Option<Root>,
    pub process: Option<Process>,
    pub hostname: Option<String>,
    #[serde(default)]
    pub mounts: Vec<Mount>,
    pub linux: Option<Linux>,
    #[serde(default)]
    pub hooks: crate::hooks::Hooks,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
pub struct Root {
    pub path: PathBuf,
    #[serde(default)]
    pub readonly: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    #[serde(default)]
    pub terminal: bool,
    pub user: User,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    pub cwd: String,
    pub capabilities: Option<Capabilities>,
    #[serde(default)]
    pub rlimits: Vec<Rlimit>,
    #[serde(default)]
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub umask: Option<u32>,
    #[serde(default)]
    pub additional_gids: Vec<u32>,
}

#[derive(Debug, Deserialize)]
pub struct Capabilities {
    #[serde(default)]
    pub bounding: Vec<String>,
    #[serde(default)]
    pub effective: Vec<String>,
    #[serde(default)]
    pub inheritable: Vec<String>,
    #[serde(default)]
    pub permitted: Vec<String>,
    #[serde(default)]
    pub ambient: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Rlimit {
    #[serde(rename = "type")]
    pub kind: String,
    pub hard: u64,
    pub soft: u64,
}

#[derive(Debug, Deserialize)]
pub struct Mount {
    pub destination: PathBuf,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub source: Option<PathBuf>,
    #[serde(default)]
    pub options: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
    pub resources: Option<Resources>,
    pub seccomp: Option<Value>,
    #[serde(default)]
    pub masked_paths: Vec<PathBuf>,
    #[serde(default)]
    pub readonly_paths: Vec<PathBuf>,
    #[serde(default)]
    pub sysctl: BTreeMap<String, String>,
    pub cgroups_path: Option<PathBuf>,
    pub rootfs_propagation: Option<String>,
    #[serde(default)]
    pub devices: Vec<crate::devices::Device>,
    pub mount_label: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Namespace {
    #[serde(rename = "type")]
    pub kind: String,
    pub path: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
pub struct Resources {
    #[serde(default)]
    pub devices: Vec<DeviceRule>,
    pub memory: Option<Memory>,
    pub pids: Option<Limit<i64>>,
    pub cpu: Option<Cpu>,
}

#[derive(Debug, Deserialize)]
pub struct DeviceRule {
    pub allow: bool,
    pub access: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub major: Option<i64>,
    pub minor: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct Memory {
    pub limit: Option<i64>,
    pub swap: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct Limit<T> {
    pub limit: Option<T>,
}

#[derive(Debug, Deserialize)]
pub struct Cpu {
    pub quota: Option<i64>,
    pub period: Option<u64>,
    pub shares: Option<u64>,
}

/// The security labels of a process and its container (AppArmor profile, SELinux labels):
/// warnings that they are ignored where the host enables neither, an error where it enables
/// one (furnace-oci cannot apply them, and running without them would be weaker than asked).
pub fn labels(process: Option<&Process>, linux: Option<&Linux>) -> Result<Vec<String>, String> {
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'));
    let selinux = Path::new("/sys/fs/selinux/enforce").exists();
    let given = [
        (
            "process.apparmorProfile",
            process.and_then(|p| p.apparmor_profile.as_deref()),
            "AppArmor",
            apparmor,
        ),
        (
            "process.selinuxLabel",
            process.and_then(|p| p.selinux_label.as_deref()),
            "SELinux",
            selinux,
        ),
        (
            "linux.mountLabel",
            linux.and_then(|l| l.mount_label.as_deref()),
            "SELinux",
            selinux,
        ),
    ];
    let mut warnings = Vec::new();
    for (field, value, lsm, enabled) in given {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            continue;
        };
        if enabled {
            return Err(format!(
                "config.json: {field} {value:?}: {lsm} is enabled on this host, and furnace-oci \
                 cannot apply its labels"
            ));
        }
        warnings.push(format!(
            "{field} {value:?} ignored: {lsm} is not enabled on this host"
        ));
    }
    Ok(warnings)
}

/// Reads and checks an exec's process document (`exec --process FILE`).
pub fn load_process(path: &Path) -> Result<Process, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("process {}: {e}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("process: not valid JSON: {e}"))?;
    check(&value, &PROCESS, "process")?;
    serde_json::from_value(value).map_err(|e| format!("process: {e}"))
}

impl Process {
    /// A process from `exec`'s command line: root, in `cwd` (default `/`), the default `PATH`
    /// and `env`.
    pub fn from_args(args: &[String], env: &[String], cwd: Option<&str>) -> Result<Self, String> {
        if args.is_empty() {
            return Err("exec: no command (give one, or --process FILE)".into());
        }
        let mut full = vec![format!("PATH={}", furnace_sys::process::DEFAULT_PATH)];
        full.extend(env.iter().cloned());
        Ok(Process {
            terminal: false,
            user: User {
                uid: 0,
                gid: 0,
                umask: None,
                additional_gids: Vec::new(),
            },
            args: args.to_vec(),
            env: full,
            cwd: cwd.unwrap_or("/").to_owned(),
            capabilities: None,
            rlimits: Vec::new(),
            no_new_privileges: false,
            oom_score_adj: None,
            apparmor_profile: None,
            selinux_label: None,
        })
    }
}

/// Reads and checks `BUNDLE/config.json`.
pub fn load(bundle: &Path) -> Result<Spec, String> {
    let path = bundle.join("config.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("bundle {}: cannot read config.json: {e}", bundle.display()))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("config.json: not valid JSON: {e}"))?;
    check(&value, &CONFIG, "")?;
    let spec: Spec = serde_json::from_value(value).map_err(|e| format!("config.json: {e}"))?;
    check_version(&spec.oci_version)?;
    spec.hooks.check()?;
    Ok(spec)
}

/// Accepts 1.0.x–1.2.x (pre-release suffixes included).
fn check_version(version: &str) -> Result<(), String> {
    let mut parts = version.split(['.', '-', '+']);
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
    match (major, minor) {
        (Some(major), Some(minor)) if MAJOR_MINOR.contains(&(major, minor)) => Ok(()),
        (Some(_), Some(_)) => Err(format!(
            "config.json: ociVersion {version:?} is not supported: furnace-oci implements the \
             runtime spec 1.0 to 1.2"
        )),
        _ => Err(format!(
            "config.json: ociVersion {version:?} is not a version"
        )),
    }
}

/// A capability name (`CAP_NET_ADMIN`) as a set of one.
fn capability(name: &str, field: &str) -> Result<CapabilitySet, String> {
    let cap: caps::Capability = name
        .parse()
        .map_err(|_| format!("config.json: {field}: unknown capability {name:?}"))?;
    Ok(CapabilitySet::from_bits_retain(1 << cap.index()))
}

pub fn capability_set(names: &[String], field: &str) -> Result<CapabilitySet, String> {
    names.iter().try_fold(CapabilitySet::empty(), |set, name| {
        Ok(set | capability(name, field)?)
    })
}

/// `RLIMIT_NOFILE` and the like, as the resource number.
pub fn rlimit_resource(name: &str) -> Result<u32, String> {
    let known = [
        ("RLIMIT_CPU", libc::RLIMIT_CPU),
        ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
        ("RLIMIT_DATA", libc::RLIMIT_DATA),
        ("RLIMIT_STACK", libc::RLIMIT_STACK),
        ("RLIMIT_CORE", libc::RLIMIT_CORE),
        ("RLIMIT_RSS", libc::RLIMIT_RSS),
        ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
        ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
        ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
        ("RLIMIT_AS", libc::RLIMIT_AS),
        ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
        ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
        ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
        ("RLIMIT_NICE", libc::RLIMIT_NICE),
        ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
        ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
    ];
    known
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, r)| r)
        .ok_or_else(|| format!("config.json: process.rlimits: unknown resource {name:?}"))
}

/// A container builder set up from the spec, and the program PID 1 becomes.
pub fn builder(spec: &Spec, bundle: &Path) -> Result<(ContainerBuilder, InitProgram), String> {
    let root = spec.root.as_ref().ok_or("config.json: root is missing")?;
    let root_path = if root.path.is_absolute() {
        root.path.clone()
    } else {
        bundle.join(&root.path)
    };
    let mut builder = furnace_core::Container::builder(&root_path);
    let program = configure(spec, &root_path, &mut builder)?;
    builder.read_only_root(root.readonly);
    Ok((builder, program))
}

fn configure(
    spec: &Spec,
    root: &Path,
    builder: &mut ContainerBuilder,
) -> Result<InitProgram, String> {
    if let Some(name) = &spec.hostname {
        builder.hostname(name.clone());
    }
    for (i, m) in spec.mounts.iter().enumerate() {
        crate::mounts::mount(m, i, root, builder)?;
    }
    if let Some(linux) = &spec.linux {
        namespaces(&linux.namespaces, builder)?;
        crate::devices::apply(linux, builder)?;
        // furnace makes the host's tree a slave of the caller's before the pivot (runc's
        // default too): mounts the host makes later reach the container, none goes back.
        match linux.rootfs_propagation.as_deref() {
            None | Some("" | "slave" | "rslave") => {}
            Some(other) => {
                return Err(format!(
                    "config.json: linux.rootfsPropagation {other:?}: furnace-oci gives the \
                     root slave propagation (slave, rslave) only"
                ))
            }
        }
        if let Some(r) = &linux.resources {
            resources(r, builder)?;
        }
        for path in &linux.masked_paths {
            builder.mask_path(path);
        }
        for path in &linux.readonly_paths {
            builder.read_only_path(path);
        }
        for (key, value) in &linux.sysctl {
            builder.sysctl(key, value);
        }
        if let Some(path) = &linux.cgroups_path {
            // `slice:prefix:name` is systemd's form, which needs --systemd-cgroup.
            if path.to_string_lossy().contains(':') {
                return Err(format!(
                    "config.json: linux.cgroupsPath {}: systemd's form is not supported \
                     (furnace-oci manages cgroups through cgroupfs)",
                    path.display()
                ));
            }
            make_cgroup_parents(path)?;
            builder.cgroup_path(path);
        }
    } else {
        return Err("config.json: linux is missing (furnace-oci runs Linux containers)".into());
    }
    let process = spec
        .process
        .as_ref()
        .ok_or("config.json: process is missing")?;
    if process.args.is_empty() {
        return Err("config.json: process.args is empty".into());
    }
    let mut program = InitProgram::new(&process.args)
        .env(&process.env)
        .cwd(&process.cwd)
        .user(
            process.user.uid,
            process.user.gid,
            process.user.additional_gids.iter().copied(),
        )
        .no_new_privileges(process.no_new_privileges);
    if let Some(umask) = process.user.umask {
        program = program.umask(umask);
    }
    if let Some(adj) = process.oom_score_adj {
        program = program.oom_score_adj(adj);
    }
    for r in &process.rlimits {
        program = program.rlimit(rlimit_resource(&r.kind)?, r.soft, r.hard);
    }
    let mut effective = None;
    if let Some(c) = &process.capabilities {
        let f = |field| format!("process.capabilities.{field}");
        let sets = AllCapabilitySets {
            bounding: capability_set(&c.bounding, &f("bounding"))?,
            effective: capability_set(&c.effective, &f("effective"))?,
            permitted: capability_set(&c.permitted, &f("permitted"))?,
            inheritable: capability_set(&c.inheritable, &f("inheritable"))?,
            ambient: capability_set(&c.ambient, &f("ambient"))?,
        };
        effective = Some(sets.bounding);
        program = program.capabilities(sets);
    }
    if let Some(profile) = spec.linux.as_ref().and_then(|l| l.seccomp.as_ref()) {
        let caps = effective.unwrap_or(CapabilitySet::all());
        let json = profile.to_string();
        let profile = furnace_core::SeccompProfile::from_json(&json, &caps)
            .map_err(|e| format!("config.json: linux.seccomp: {e}"))?;
        builder.seccomp(furnace_core::Seccomp::Profile(profile));
    }
    Ok(program)
}

fn namespaces(list: &[Namespace], builder: &mut ContainerBuilder) -> Result<(), String> {
    let mut seen = Vec::new();
    for (i, ns) in list.iter().enumerate() {
        match (ns.kind.as_str(), &ns.path) {
            ("network", Some(path)) => {
                builder.join_network_namespace(path);
            }
            ("ipc", Some(path)) => {
                builder.join_ipc_namespace(path);
            }
            ("uts", Some(path)) => {
                builder.join_uts_namespace(path);
            }
            (_, Some(_)) => {
                return Err(format!(
                    "config.json: linux.namespaces[{i}].path: joining a {} namespace is not \
                     supported by furnace-oci (network, IPC and UTS namespaces are; furnace \
                     makes the pid, mount and cgroup namespaces its PID 1 runs in)",
                    ns.kind
                ))
            }
            ("pid" | "mount" | "ipc" | "uts" | "cgroup", None) => {}
            ("network", None) => {
                builder.isolate_network(true);
            }
            (other, None) => {
                return Err(format!(
                    "config.json: linux.namespaces[{i}].type {other:?} is not supported by \
                     furnace-oci yet"
                ))
            }
        }
        seen.push(ns.kind.as_str());
    }
    for needed in ["pid", "mount", "ipc", "uts"] {
        if !seen.contains(&needed) {
            return Err(format!(
                "config.json: linux.namespaces has no {needed:?}: furnace always gives a \
                 container its own pid, mount, ipc and uts namespaces, and cannot share the \
                 host's"
            ));
        }
    }
    Ok(())
}

fn resources(r: &Resources, builder: &mut ContainerBuilder) -> Result<(), String> {
    if let Some(memory) = &r.memory {
        // furnace's memory limit counts swap too (memory + swap at most the limit): a `swap`
        // (memory + swap) at or above the limit is met by it, with no swap beyond; one below
        // the limit cannot be.
        if let (Some(limit), Some(swap)) = (memory.limit, memory.swap) {
            if swap > 0 && limit > 0 && swap < limit {
                return Err(format!(
                    "config.json: linux.resources.memory.swap {swap} is below the limit {limit}"
                ));
            }
        }
        if let Some(limit) = memory.limit.filter(|&l| l > 0) {
            builder.memory_max(limit as u64);
        }
    }
    if let Some(limit) = r.pids.as_ref().and_then(|p| p.limit) {
        if limit > 0 {
            builder.pids_max(limit as u64);
        }
    }
    if let Some(cpu) = &r.cpu {
        if let (Some(quota), Some(period)) = (cpu.quota, cpu.period) {
            if quota > 0 && period > 0 {
                builder.cpu_quota(quota as f64 / period as f64);
            }
        }
        // v1 shares (2–262144, 1024 the default) as a weight (1–10000, 100 the default),
        // proportionally, so that the default stays the default.
        if let Some(shares) = cpu.shares.filter(|&s| s > 0) {
            builder.cpu_weight((shares * 100 / 1024).clamp(1, 10_000) as u32);
        }
    }
    Ok(())
}

/// Makes the parent of an absolute `cgroupsPath` in every hierarchy under `/sys/fs/cgroup`
/// where it is missing, as runc does: engines name a parent (`/libpod_parent`) they expect the
/// runtime to make. They are the engine's, and stay.
fn make_cgroup_parents(path: &Path) -> Result<(), String> {
    let Some(parent) = path
        .parent()
        .filter(|p| p.is_absolute() && *p != Path::new("/"))
    else {
        return Ok(());
    };
    let relative = parent.strip_prefix("/").unwrap_or(parent);
    let hierarchies = furnace_sys::mountinfo::read(None).map_err(|e| e.to_string())?;
    for m in hierarchies {
        if !matches!(m.fs_type.as_str(), "cgroup" | "cgroup2")
            || m.mount_point.parent() != Some(Path::new("/sys/fs/cgroup"))
        {
            continue;
        }
        let dir = m.mount_point.join(relative);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot make the cgroup {}: {e}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(json: &str) -> Result<(), String> {
        check(&serde_json::from_str(json).unwrap(), &CONFIG, "")
    }

    #[test]
    fn unsupported_fields_are_named_with_their_path() {
        assert!(checked(r#"{"ociVersion":"1.0.2","root":{"path":"r"}}"#).is_ok());
        let e = checked(r#"{"ociVersion":"1.0.2","linux":{"intelRdt":{}}}"#).unwrap_err();
        assert!(e.contains("linux.intelRdt is not supported"), "{e}");
        let e =
            checked(r#"{"mounts":[{"destination":"/a"},{"destination":"/b","uidMappings":[]}]}"#)
                .unwrap_err();
        assert!(e.contains("mounts[1].uidMappings"), "{e}");
        let e = checked(r#"{"process":{"ioPriority":{}}}"#).unwrap_err();
        assert!(e.contains("process.ioPriority"), "{e}");
        assert!(checked(r#"{"annotations":{"anything":"goes"}}"#).is_ok());
        let e = checked(r#"{"root":[]}"#).unwrap_err();
        assert!(e.contains("root must be an object"), "{e}");
    }

    #[test]
    fn versions() {
        for ok in ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.0", "1.2.1+x"] {
            assert!(check_version(ok).is_ok(), "{ok}");
        }
        for bad in ["1.3.0", "2.0.0", "0.9", "x"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn capabilities_and_rlimits_by_name() {
        assert_eq!(
            capability_set(&["CAP_CHOWN".into(), "CAP_KILL".into()], "f").unwrap(),
            CapabilitySet::CHOWN | CapabilitySet::KILL
        );
        assert!(capability("CAP_BOGUS", "f")
            .unwrap_err()
            .contains("CAP_BOGUS"));
        assert_eq!(
            rlimit_resource("RLIMIT_NOFILE").unwrap(),
            libc::RLIMIT_NOFILE
        );
        assert!(rlimit_resource("RLIMIT_X").is_err());
    }
}
