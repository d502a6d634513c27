//! From a [`SeccompProfile`] to the stack of BPF programs described in the module
//! documentation, through seccompiler.

use std::collections::BTreeMap;

use seccompiler::{
    sock_filter, BpfProgram, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::{table, ArgOp, SeccompAction, SeccompFilters, SeccompProfile};
use crate::error::{Error, Result};

/// The largest errno the kernel passes on (`MAX_ERRNO`); larger ones are clamped to it.
pub(super) const MAX_ERRNO: u16 = 4095;

/// The highest argument index of a system call.
pub(super) const MAX_ARG_INDEX: u8 = 5;

/// The kernel's limit on the instructions of all filters a call runs through
/// (`MAX_INSNS_PER_PATH`), each filter counting 4 more than its length.
const MAX_INSNS_PER_PATH: usize = 32768;

/// The x32 ABI's system call numbers are the x86_64 ones with this bit set.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// An architecture furnace has a system call table for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The machine's own, if furnace has its table.
    pub(crate) fn native() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else {
            None
        }
    }

    fn table(self) -> &'static [(&'static str, i64)] {
        match self {
            Arch::X86_64 => table::X86_64,
            Arch::Aarch64 => table::AARCH64,
        }
    }

    /// The system call's number, if this architecture has it.
    pub(crate) fn number(self, name: &str) -> Option<i64> {
        type Index = std::sync::OnceLock<std::collections::HashMap<&'static str, i64>>;
        static X86_64: Index = std::sync::OnceLock::new();
        static AARCH64: Index = std::sync::OnceLock::new();
        let index = match self {
            Arch::X86_64 => &X86_64,
            Arch::Aarch64 => &AARCH64,
        };
        // A profile names hundreds of calls: one lookup each, not a walk of the table.
        index
            .get_or_init(|| self.table().iter().copied().collect())
            .get(name)
            .copied()
    }

    /// The highest system call number of its table.
    pub(crate) fn highest(self) -> u32 {
        self.table()
            .iter()
            .map(|&(_, nr)| nr)
            .max()
            .map_or(0, |nr| nr as u32)
    }

    /// The names of all its system calls.
    #[cfg(test)]
    pub(crate) fn names(self) -> impl Iterator<Item = &'static str> {
        self.table().iter().map(|&(name, _)| name)
    }

    /// Whether `name` is a system call of another architecture only.
    pub(crate) fn is_foreign(self, name: &str) -> bool {
        self.number(name).is_none()
            && ([Arch::X86_64, Arch::Aarch64]
                .iter()
                .any(|a| a.number(name).is_some())
                || table::OTHER_ARCHITECTURES.contains(&name))
    }

    /// Its name in libseccomp and OCI profiles.
    pub(crate) fn scmp_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "SCMP_ARCH_X86_64",
            Arch::Aarch64 => "SCMP_ARCH_AARCH64",
        }
    }

    /// Its name in Docker's `includes.arches` and `excludes.arches` (Go's `GOARCH`).
    pub(crate) fn docker_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        }
    }

    /// Its name for people: `x86_64`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    fn target(self) -> TargetArch {
        match self {
            Arch::X86_64 => TargetArch::x86_64,
            Arch::Aarch64 => TargetArch::aarch64,
        }
    }

    /// `AUDIT_ARCH_*`, what the kernel puts in `seccomp_data.arch`.
    pub(crate) fn audit_arch(self) -> u32 {
        const EM_X86_64: u32 = 62;
        const EM_AARCH64: u32 = 183;
        const AUDIT_ARCH_64BIT_LE: u32 = 0x8000_0000 | 0x4000_0000;
        match self {
            Arch::X86_64 => EM_X86_64 | AUDIT_ARCH_64BIT_LE,
            Arch::Aarch64 => EM_AARCH64 | AUDIT_ARCH_64BIT_LE,
        }
    }
}

/// The error for a machine furnace has no system call table for.
pub(super) fn unsupported_architecture() -> Error {
    Error::InvalidSeccomp {
        field: "architecture".into(),
        value: std::env::consts::ARCH.into(),
        reason: "furnace has system call tables for x86_64 and aarch64 only".into(),
    }
}

/// A rule with its names resolved to numbers.
struct Resolved {
    numbers: Vec<i64>,
    action: SeccompAction,
    /// `None`: the rule matches any arguments.
    condition: Option<SeccompRule>,
}

pub(super) fn compile(profile: &SeccompProfile, arch: Arch) -> Result<SeccompFilters> {
    check_action(profile.default_action, "default_action")?;
    let rules = resolve(profile, arch)?;
    let mut programs = vec![guard(arch, profile.unknown_enosys)];
    if profile.default_action != SeccompAction::Allow {
        programs.push(filter(
            rules.iter(),
            profile.default_action,
            SeccompAction::Allow,
            arch,
        )?);
    }
    for action in attach_order(&rules) {
        programs.push(filter(
            rules.iter().filter(|r| r.action == action),
            SeccompAction::Allow,
            action,
            arch,
        )?);
    }
    let total: usize = programs.iter().map(|p| p.len() + 4).sum();
    if total > MAX_INSNS_PER_PATH {
        return Err(Error::SeccompCompile {
            reason: format!(
                "the filters have {total} instructions with the kernel's overhead, more than \
                 the {MAX_INSNS_PER_PATH} it runs per call"
            ),
        });
    }
    Ok(SeccompFilters::new(programs))
}

/// The distinct non-`ALLOW` actions, in the order their filters are attached: the reverse of
/// each one's first rule, so that the earliest wins a tie between two of one kind.
fn attach_order(rules: &[Resolved]) -> Vec<SeccompAction> {
    let mut actions: Vec<SeccompAction> = Vec::new();
    for rule in rules {
        if rule.action != SeccompAction::Allow && !actions.contains(&rule.action) {
            actions.push(rule.action);
        }
    }
    actions.reverse();
    actions
}

fn check_action(action: SeccompAction, field: &str) -> Result<()> {
    match action {
        SeccompAction::Errno(errno) if errno > MAX_ERRNO => Err(Error::InvalidSeccomp {
            field: field.into(),
            value: action.to_string(),
            reason: format!("an errno is at most {MAX_ERRNO}"),
        }),
        _ => Ok(()),
    }
}

/// Resolves the names and checks what seccompiler would reject less clearly.
fn resolve(profile: &SeccompProfile, arch: Arch) -> Result<Vec<Resolved>> {
    let mut resolved = Vec::with_capacity(profile.rules.len());
    for (i, rule) in profile.rules.iter().enumerate() {
        check_action(rule.action, &format!("rules[{i}].action"))?;
        if rule.names.is_empty() {
            return Err(Error::InvalidSeccomp {
                field: format!("rules[{i}].names"),
                value: "[]".into(),
                reason: "a rule must name at least one system call".into(),
            });
        }
        let mut numbers = Vec::with_capacity(rule.names.len());
        for (j, name) in rule.names.iter().enumerate() {
            numbers.push(arch.number(name).ok_or_else(|| Error::InvalidSeccomp {
                field: format!("rules[{i}].names[{j}]"),
                value: format!("{name:?}"),
                reason: unknown_syscall(arch, name),
            })?);
        }
        let mut conditions = Vec::with_capacity(rule.conditions.len());
        for (k, c) in rule.conditions.iter().enumerate() {
            let field = format!("rules[{i}].conditions[{k}]");
            conditions.push(condition(c, &field)?);
        }
        let condition = if conditions.is_empty() {
            None
        } else {
            Some(SeccompRule::new(conditions).map_err(backend)?)
        };
        resolved.push(Resolved {
            numbers,
            action: rule.action,
            condition,
        });
    }
    Ok(resolved)
}

/// Why `name` cannot be used on `arch`.
pub(super) fn unknown_syscall(arch: Arch, name: &str) -> String {
    if arch.is_foreign(name) {
        format!(
            "is a system call of another architecture, not of {}",
            arch.name()
        )
    } else {
        format!(
            "is not a system call of {} that furnace knows (its table ends with Linux 6.18)",
            arch.name()
        )
    }
}

fn condition(c: &super::ArgCondition, field: &str) -> Result<SeccompCondition> {
    if c.index > MAX_ARG_INDEX {
        return Err(Error::InvalidSeccomp {
            field: format!("{field}.index"),
            value: c.index.to_string(),
            reason: format!("system calls have arguments 0 to {MAX_ARG_INDEX}"),
        });
    }
    if c.op != ArgOp::MaskedEqual && c.value_two != 0 {
        return Err(Error::InvalidSeccomp {
            field: format!("{field}.value_two"),
            value: c.value_two.to_string(),
            reason: format!("only {} uses a second value", ArgOp::MaskedEqual.name()),
        });
    }
    let (op, value) = match c.op {
        ArgOp::NotEqual => (SeccompCmpOp::Ne, c.value),
        ArgOp::LessThan => (SeccompCmpOp::Lt, c.value),
        ArgOp::LessOrEqual => (SeccompCmpOp::Le, c.value),
        ArgOp::Equal => (SeccompCmpOp::Eq, c.value),
        ArgOp::GreaterOrEqual => (SeccompCmpOp::Ge, c.value),
        ArgOp::GreaterThan => (SeccompCmpOp::Gt, c.value),
        ArgOp::MaskedEqual => (SeccompCmpOp::MaskedEq(c.value), c.value_two),
    };
    SeccompCondition::new(c.index, SeccompCmpArgLen::Qword, op, value).map_err(backend)
}

fn backend(error: seccompiler::BackendError) -> Error {
    Error::SeccompCompile {
        reason: error.to_string(),
    }
}

fn seccompiler_action(action: SeccompAction) -> seccompiler::SeccompAction {
    match action {
        SeccompAction::Allow => seccompiler::SeccompAction::Allow,
        SeccompAction::Errno(errno) => seccompiler::SeccompAction::Errno(errno.into()),
        SeccompAction::KillThread => seccompiler::SeccompAction::KillThread,
        SeccompAction::KillProcess => seccompiler::SeccompAction::KillProcess,
        SeccompAction::Trap => seccompiler::SeccompAction::Trap,
        SeccompAction::Log => seccompiler::SeccompAction::Log,
        SeccompAction::Trace(data) => seccompiler::SeccompAction::Trace(data.into()),
    }
}

/// One filter: `on_match` for a call one of `rules` matches, `mismatch` for any other.
fn filter<'a>(
    rules: impl Iterator<Item = &'a Resolved>,
    mismatch: SeccompAction,
    on_match: SeccompAction,
    arch: Arch,
) -> Result<BpfProgram> {
    // For each number, the alternatives; `None` once a rule matches any arguments.
    let mut chains: BTreeMap<i64, Option<Vec<SeccompRule>>> = BTreeMap::new();
    for rule in rules {
        for &nr in &rule.numbers {
            match &rule.condition {
                None => {
                    chains.insert(nr, None);
                }
                Some(condition) => {
                    if let Some(alternatives) = chains.entry(nr).or_insert_with(|| Some(vec![])) {
                        if !alternatives.contains(condition) {
                            alternatives.push(condition.clone());
                        }
                    }
                }
            }
        }
    }
    let chains = chains
        .into_iter()
        .map(|(nr, alternatives)| (nr, alternatives.unwrap_or_default()))
        .collect();
    let filter = SeccompFilter::new(
        chains,
        seccompiler_action(mismatch),
        seccompiler_action(on_match),
        arch.target(),
    )
    .map_err(backend)?;
    BpfProgram::try_from(filter).map_err(backend)
}

/// The first filter: kills a call of another architecture or of the x32 ABI (whose numbers
/// would otherwise miss every rule, and so pass a profile whose default is `ALLOW`), allows
/// the rest. `nr == -1` is left to the other filters, as libseccomp does.
fn guard(arch: Arch, unknown_enosys: bool) -> BpfProgram {
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const JGT_K: u16 = 0x25;
    const JGE_K: u16 = 0x35;
    const RET_K: u16 = 0x06;
    const OFFSET_NR: u32 = 0;
    const OFFSET_ARCH: u32 = 4;
    let insn = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    let mut program = vec![
        insn(LD_W_ABS, 0, 0, OFFSET_ARCH),
        insn(JEQ_K, 1, 0, arch.audit_arch()),
        insn(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        insn(LD_W_ABS, 0, 0, OFFSET_NR),
        insn(JEQ_K, if unknown_enosys { 4 } else { 2 }, 0, u32::MAX),
        insn(JGE_K, 0, 1, X32_SYSCALL_BIT),
        insn(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
    ];
    if unknown_enosys {
        // Above the table's highest number: a call furnace does not know.
        program.push(insn(JGT_K, 0, 1, arch.highest()));
        program.push(insn(
            RET_K,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        ));
    }
    program.push(insn(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW));
    program
}
