//! Reading profiles: the OCI runtime-spec's `linux.seccomp` object and Docker's profile format,
//! which is a superset of it (`archMap`, and `includes`/`excludes` on each rule).

use serde::Deserialize;

use super::compile::{unknown_syscall, Arch, MAX_ARG_INDEX, MAX_ERRNO};
use super::{ArgCondition, ArgOp, SeccompAction, SeccompProfile, SyscallRule};
use crate::error::{Error, Result};
use furnace_sys::cred::CapabilitySet;

/// What Docker's conditional rules are resolved against.
pub(super) struct Target {
    pub(super) arch: Arch,
    pub(super) capabilities: CapabilitySet,
    /// The running kernel's `(major, minor)`; `None` when it could not be read.
    pub(super) kernel: Option<(u32, u32)>,
}

impl Target {
    /// The machine's own architecture and kernel.
    pub(super) fn running(arch: Arch, capabilities: CapabilitySet) -> Self {
        let uname = rustix::system::uname();
        let release = uname.release().to_string_lossy();
        Target {
            arch,
            capabilities,
            kernel: parse_kernel(&release),
        }
    }
}

/// Every libseccomp architecture name, for telling a foreign one from a typo.
const ARCHITECTURES: &[&str] = &[
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

/// The filter flags of the OCI spec. Only `TSYNC` is accepted: furnace applies the filters in
/// a single-threaded child, where synchronising threads changes nothing.
const FLAGS: &[(&str, Option<&str>)] = &[
    ("SECCOMP_FILTER_FLAG_TSYNC", None),
    (
        "SECCOMP_FILTER_FLAG_LOG",
        Some("furnace attaches filters without flags; use SCMP_ACT_LOG rules instead"),
    ),
    (
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        Some("furnace attaches filters without flags, keeping speculation mitigations"),
    ),
    (
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        Some("it belongs to user notification, which furnace does not support"),
    ),
    (
        "SECCOMP_FILTER_FLAG_NEW_LISTENER",
        Some("user notification is not supported"),
    ),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawProfile {
    default_action: String,
    default_errno_ret: Option<u32>,
    architectures: Option<Vec<String>>,
    arch_map: Option<Vec<RawArchMap>>,
    flags: Option<Vec<String>>,
    listener_path: Option<String>,
    listener_metadata: Option<String>,
    syscalls: Option<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawArchMap {
    architecture: String,
    sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSyscall {
    names: Option<Vec<String>>,
    name: Option<String>,
    action: String,
    errno_ret: Option<u32>,
    args: Option<Vec<RawArg>>,
    #[serde(rename = "comment")]
    _comment: Option<String>,
    includes: Option<RawFilter>,
    excludes: Option<RawFilter>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawFilter {
    caps: Option<Vec<String>>,
    arches: Option<Vec<String>>,
    min_kernel: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawArg {
    index: u32,
    value: u64,
    value_two: Option<u64>,
    op: String,
}

fn invalid(field: impl Into<String>, value: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::InvalidSeccomp {
        field: field.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

pub(super) fn parse(json: &str, target: &Target) -> Result<SeccompProfile> {
    let raw: RawProfile =
        serde_json::from_str(json).map_err(|e| invalid("JSON", "", e.to_string()))?;
    let default_action = action(
        &raw.default_action,
        raw.default_errno_ret,
        "defaultAction",
        "defaultErrnoRet",
    )?;
    if let Some(path) = raw.listener_path.as_ref().filter(|p| !p.is_empty()) {
        return Err(invalid(
            "listenerPath",
            format!("{path:?}"),
            "seccomp user notification is not supported",
        ));
    }
    if let Some(meta) = raw.listener_metadata.as_ref().filter(|m| !m.is_empty()) {
        return Err(invalid(
            "listenerMetadata",
            format!("{meta:?}"),
            "seccomp user notification is not supported",
        ));
    }
    for (i, flag) in raw.flags.iter().flatten().enumerate() {
        match FLAGS.iter().find(|(name, _)| name == flag) {
            Some((_, None)) => {}
            Some((_, Some(why))) => {
                return Err(invalid(format!("flags[{i}]"), format!("{flag:?}"), *why))
            }
            None => {
                return Err(invalid(
                    format!("flags[{i}]"),
                    format!("{flag:?}"),
                    "is not a seccomp filter flag",
                ))
            }
        }
    }
    let mut profile = SeccompProfile::new(default_action);
    profile.architectures = architectures(&raw, target.arch)?;
    for (i, value) in raw.syscalls.into_iter().flatten().enumerate() {
        let field = format!("syscalls[{i}]");
        let raw: RawSyscall =
            serde_json::from_value(value).map_err(|e| invalid(&field, "", e.to_string()))?;
        syscall(raw, &field, target, &mut profile)?;
    }
    Ok(profile)
}

/// The architectures named, by `architectures` and by the native entry of `archMap`; an error
/// if they name some and not the native one.
fn architectures(raw: &RawProfile, arch: Arch) -> Result<Vec<&'static str>> {
    let mut named: Vec<(String, &String)> = Vec::new();
    for (i, name) in raw.architectures.iter().flatten().enumerate() {
        named.push((format!("architectures[{i}]"), name));
    }
    for (i, entry) in raw.arch_map.iter().flatten().enumerate() {
        known_architecture(&format!("archMap[{i}].architecture"), &entry.architecture)?;
        if entry.architecture == arch.scmp_name() {
            named.push((format!("archMap[{i}].architecture"), &entry.architecture));
            for (j, sub) in entry.sub_architectures.iter().flatten().enumerate() {
                named.push((format!("archMap[{i}].subArchitectures[{j}]"), sub));
            }
        }
    }
    let mut result = Vec::new();
    for (field, name) in &named {
        let known = known_architecture(field, name)?;
        if !result.contains(&known) {
            result.push(known);
        }
    }
    if !result.is_empty() && !result.contains(&arch.scmp_name()) {
        return Err(invalid(
            "architectures",
            format!("{result:?}"),
            format!(
                "none is this machine's {}, and furnace filters only native system calls",
                arch.scmp_name()
            ),
        ));
    }
    Ok(result)
}

fn known_architecture(field: &str, name: &str) -> Result<&'static str> {
    ARCHITECTURES
        .iter()
        .copied()
        .find(|known| *known == name)
        .ok_or_else(|| {
            invalid(
                field,
                format!("{name:?}"),
                "is not a libseccomp architecture",
            )
        })
}

/// One entry of `syscalls`: resolved against the target, checked, added as one or more rules.
fn syscall(
    raw: RawSyscall,
    field: &str,
    target: &Target,
    profile: &mut SeccompProfile,
) -> Result<()> {
    if !applies(raw.includes.as_ref(), raw.excludes.as_ref(), field, target)? {
        return Ok(());
    }
    let names = match (raw.name, raw.names) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                format!("{field}.name"),
                "",
                "give either name or names, not both",
            ))
        }
        (Some(name), None) => vec![name],
        (None, Some(names)) => names,
        (None, None) => Vec::new(),
    };
    if names.is_empty() {
        return Err(invalid(
            format!("{field}.names"),
            "[]",
            "a rule must name at least one system call",
        ));
    }
    let action = action(
        &raw.action,
        raw.errno_ret,
        &format!("{field}.action"),
        &format!("{field}.errnoRet"),
    )?;
    let mut native = Vec::with_capacity(names.len());
    for (j, name) in names.into_iter().enumerate() {
        if target.arch.number(&name).is_some() {
            native.push(name);
        } else if target.arch.is_foreign(&name) {
            if !profile.skipped.contains(&name) {
                profile.skipped.push(name);
            }
        } else {
            return Err(invalid(
                format!("{field}.names[{j}]"),
                format!("{name:?}"),
                unknown_syscall(target.arch, &name),
            ));
        }
    }
    let mut conditions = Vec::new();
    for (k, arg) in raw.args.into_iter().flatten().enumerate() {
        conditions.push(condition(arg, &format!("{field}.args[{k}]"))?);
    }
    if native.is_empty() {
        return Ok(());
    }
    let repeated = conditions
        .iter()
        .enumerate()
        .any(|(k, c)| conditions[..k].iter().any(|d| d.index == c.index));
    if repeated {
        // runc's reading: conditions on one argument are alternatives, one rule each.
        for c in conditions {
            profile
                .rules
                .push(SyscallRule::new(native.clone(), action).condition(c));
        }
    } else {
        let rule = conditions
            .into_iter()
            .fold(SyscallRule::new(native, action), SyscallRule::condition);
        profile.rules.push(rule);
    }
    Ok(())
}

/// Whether a Docker rule applies to the target: every capability of `includes.caps` held,
/// none of `excludes.caps`; the native architecture in `includes.arches`, not in
/// `excludes.arches`; the kernel at least `includes.minKernel`, below `excludes.minKernel`.
fn applies(
    includes: Option<&RawFilter>,
    excludes: Option<&RawFilter>,
    field: &str,
    target: &Target,
) -> Result<bool> {
    let arch = target.arch.docker_name();
    if let Some(ex) = excludes {
        let field = format!("{field}.excludes");
        if ex.arches.iter().flatten().any(|a| a == arch) {
            return Ok(false);
        }
        for (i, cap) in ex.caps.iter().flatten().enumerate() {
            if holds(&format!("{field}.caps[{i}]"), cap, target)? {
                return Ok(false);
            }
        }
        if let Some(min) = &ex.min_kernel {
            if kernel_at_least(&format!("{field}.minKernel"), min, target)? {
                return Ok(false);
            }
        }
    }
    if let Some(inc) = includes {
        let field = format!("{field}.includes");
        if let Some(arches) = &inc.arches {
            if !arches.is_empty() && !arches.iter().any(|a| a == arch) {
                return Ok(false);
            }
        }
        for (i, cap) in inc.caps.iter().flatten().enumerate() {
            if !holds(&format!("{field}.caps[{i}]"), cap, target)? {
                return Ok(false);
            }
        }
        if let Some(min) = &inc.min_kernel {
            if !kernel_at_least(&format!("{field}.minKernel"), min, target)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Whether the target holds the capability named `name` (`CAP_SYS_ADMIN`).
fn holds(field: &str, name: &str, target: &Target) -> Result<bool> {
    let cap: furnace_sys::caps::Cap = name
        .parse()
        .map_err(|_| invalid(field, format!("{name:?}"), "is not a capability"))?;
    Ok(target
        .capabilities
        .contains(CapabilitySet::from_bits_retain(cap.bitmask())))
}

fn kernel_at_least(field: &str, min: &str, target: &Target) -> Result<bool> {
    let wanted = parse_kernel(min).ok_or_else(|| {
        invalid(
            field,
            format!("{min:?}"),
            "is not a kernel version (major.minor)",
        )
    })?;
    let running = target.kernel.ok_or_else(|| {
        invalid(
            field,
            format!("{min:?}"),
            "the running kernel's version could not be read",
        )
    })?;
    Ok(running >= wanted)
}

/// `(major, minor)` from `6.18`, `6.18.44-fc` or `4.8`.
fn parse_kernel(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor.parse().ok()?))
}

fn action(name: &str, errno: Option<u32>, field: &str, errno_field: &str) -> Result<SeccompAction> {
    let action = match name {
        "SCMP_ACT_ALLOW" => SeccompAction::Allow,
        "SCMP_ACT_ERRNO" => {
            let errno = errno.unwrap_or(libc::EPERM as u32);
            if errno > MAX_ERRNO.into() {
                return Err(invalid(
                    errno_field,
                    errno.to_string(),
                    format!("an errno is at most {MAX_ERRNO}"),
                ));
            }
            return Ok(SeccompAction::Errno(errno as u16));
        }
        "SCMP_ACT_TRACE" => {
            let data = errno.unwrap_or(libc::EPERM as u32);
            let data = u16::try_from(data).map_err(|_| {
                invalid(
                    errno_field,
                    data.to_string(),
                    "a trace value is at most 65535",
                )
            })?;
            return Ok(SeccompAction::Trace(data));
        }
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => SeccompAction::KillProcess,
        "SCMP_ACT_TRAP" => SeccompAction::Trap,
        "SCMP_ACT_LOG" => SeccompAction::Log,
        "SCMP_ACT_NOTIFY" => {
            return Err(invalid(
                field,
                format!("{name:?}"),
                "seccomp user notification is not supported",
            ))
        }
        _ => {
            return Err(invalid(
                field,
                format!("{name:?}"),
                "is not a seccomp action (SCMP_ACT_ALLOW, _ERRNO, _KILL, _KILL_THREAD, \
                 _KILL_PROCESS, _TRAP, _LOG or _TRACE)",
            ))
        }
    };
    if let Some(errno) = errno {
        return Err(invalid(
            errno_field,
            errno.to_string(),
            format!("only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take one, not {name}"),
        ));
    }
    Ok(action)
}

fn condition(arg: RawArg, field: &str) -> Result<ArgCondition> {
    let index = u8::try_from(arg.index)
        .ok()
        .filter(|&i| i <= MAX_ARG_INDEX)
        .ok_or_else(|| {
            invalid(
                format!("{field}.index"),
                arg.index.to_string(),
                format!("system calls have arguments 0 to {MAX_ARG_INDEX}"),
            )
        })?;
    let op = ArgOp::from_name(&arg.op).ok_or_else(|| {
        invalid(
            format!("{field}.op"),
            format!("{:?}", arg.op),
            "is not a comparison (SCMP_CMP_NE, _LT, _LE, _EQ, _GE, _GT or _MASKED_EQ)",
        )
    })?;
    let value_two = arg.value_two.unwrap_or(0);
    if op != ArgOp::MaskedEqual && value_two != 0 {
        return Err(invalid(
            format!("{field}.valueTwo"),
            value_two.to_string(),
            format!("only SCMP_CMP_MASKED_EQ uses it, not {}", op.name()),
        ));
    }
    Ok(ArgCondition {
        index,
        value: arg.value,
        value_two,
        op,
    })
}
