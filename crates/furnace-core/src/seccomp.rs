//! Seccomp-BPF: which system calls a container's processes may make.
//!
//! A [`SeccompProfile`] is read from JSON — the OCI runtime-spec's `linux.seccomp` object or
//! Docker's profile format ([`SeccompProfile::from_json`]) — or is furnace's built-in default
//! ([`SeccompProfile::default_profile`]), modelled on Docker's default profile for a container
//! without extra capabilities. [`SeccompProfile::compile`] turns it into classic-BPF programs
//! with the `seccompiler` crate, in the parent; [`SeccompFilters::apply`] attaches them in the
//! forked child, allocation-free.
//!
//! # From rules to filters
//!
//! The meaning of a profile: a call that no rule matches gets the default action; a call that
//! rules match gets the most restrictive of their actions, in the kernel's order
//! (`KILL_PROCESS` > `KILL_THREAD` > `TRAP` > `ERRNO` > `TRACE` > `LOG` > `ALLOW`). When the
//! matching rules' actions differ only in their data (two errno values, two trace values),
//! the value whose first rule comes earlier in the profile wins.
//!
//! A seccompiler filter has one action for a match and one for a miss, so a profile becomes a
//! stack of filters. The kernel runs every filter attached to a thread and keeps the most
//! restrictive result; between results of one kind it keeps the most recently attached
//! filter's. The stack, in the order [`SeccompFilters::apply`] attaches it:
//!
//! 1. a guard: a call of another architecture (i386 through `int 0x80`, arm32 compat) or of
//!    the x32 ABI kills the process — profiles name native system calls only;
//! 2. the base filter, unless the default action is `ALLOW`: a call that any rule matches
//!    (with its argument conditions) is allowed, any other gets the default action;
//! 3. one filter per distinct non-`ALLOW` action of the rules: a call that one of that
//!    action's rules matches gets the action, any other is allowed. These are attached in the
//!    reverse order of each action's first rule, so the earliest wins a tie.
//!
//! Each filter alone returns `ALLOW` or one action, and the kernel's combination of them is the
//! meaning above: with no rule matching, only the base filter says anything (the default);
//! with rules matching, the base filter allows and the matching actions compete. The module's
//! tests check this on the compiled BPF with an interpreter, call by call.
//!
//! A rule's argument conditions must all hold (logical and); several rules for one call are
//! alternatives (or). In JSON, a rule that compares one argument more than once is split into
//! one rule per condition, as runc does and as profiles written for it expect.

mod compile;
mod default;
mod json;
mod table;
#[cfg(test)]
mod tests;

use std::fmt;

use furnace_sys::cred::CapabilitySet;
use furnace_sys::Errno;

use crate::error::Result;
use compile::Arch;

/// Which seccomp filter a container's processes run under.
///
/// ```
/// use furnace_core::Seccomp;
/// let filters = Seccomp::Default.compile()?;
/// assert!(!filters.is_empty());
/// assert!(Seccomp::Unconfined.compile()?.is_empty());
/// # Ok::<(), furnace_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Seccomp {
    /// furnace's default profile, [`SeccompProfile::default_profile`].
    #[default]
    Default,
    /// No filter at all.
    Unconfined,
    /// A profile of the caller's, typically from [`SeccompProfile::from_json`].
    Profile(SeccompProfile),
}

impl Seccomp {
    /// Compiles the choice into BPF programs for the native architecture (none for
    /// [`Seccomp::Unconfined`]). Call it in the parent, before the fork; the child only
    /// [`apply`](SeccompFilters::apply)s the result.
    ///
    /// Fails with [`Error::InvalidSeccomp`](crate::Error::InvalidSeccomp) for a profile that
    /// names what this architecture does not have, and with
    /// [`Error::SeccompCompile`](crate::Error::SeccompCompile) for one too large for the kernel.
    pub fn compile(&self) -> Result<SeccompFilters> {
        match self {
            Seccomp::Default => SeccompProfile::default_profile().compile(),
            Seccomp::Unconfined => Ok(SeccompFilters::default()),
            Seccomp::Profile(profile) => profile.compile(),
        }
    }
}

/// The default profile, compiled once per process (about 0.15 ms; a program that starts many
/// hardened containers pays it once).
pub(crate) fn default_filters() -> Result<std::sync::Arc<SeccompFilters>> {
    static DEFAULT: std::sync::OnceLock<std::sync::Arc<SeccompFilters>> =
        std::sync::OnceLock::new();
    if let Some(filters) = DEFAULT.get() {
        return Ok(filters.clone());
    }
    let filters = std::sync::Arc::new(Seccomp::Default.compile()?);
    Ok(DEFAULT.get_or_init(|| filters).clone())
}

/// The default filters for a command holding `capabilities`: the container's own when none of
/// them relaxes the default profile, else [`SeccompProfile::default_for`] compiled (once per
/// set of capabilities in this process).
pub(crate) fn default_filters_for(
    capabilities: CapabilitySet,
) -> Result<std::sync::Arc<SeccompFilters>> {
    let relaxing = capabilities & default::relaxing();
    if relaxing.is_empty() {
        return default_filters();
    }
    type Cache = std::sync::Mutex<Vec<(u64, std::sync::Arc<SeccompFilters>)>>;
    static CACHE: Cache = std::sync::Mutex::new(Vec::new());
    if let Some((_, filters)) = CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(bits, _)| *bits == relaxing.bits())
    {
        return Ok(filters.clone());
    }
    let filters = std::sync::Arc::new(SeccompProfile::default_for(&relaxing).compile()?);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache.push((relaxing.bits(), filters.clone()));
    Ok(filters)
}

/// What the kernel does with a system call (`SCMP_ACT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeccompAction {
    /// `SCMP_ACT_ALLOW`: the call runs.
    Allow,
    /// `SCMP_ACT_ERRNO`: the call fails with this errno (at most 4095) without running.
    Errno(u16),
    /// `SCMP_ACT_KILL` or `SCMP_ACT_KILL_THREAD`: the calling thread is killed.
    KillThread,
    /// `SCMP_ACT_KILL_PROCESS`: the whole process is killed.
    KillProcess,
    /// `SCMP_ACT_TRAP`: the thread gets `SIGSYS`.
    Trap,
    /// `SCMP_ACT_LOG`: the call runs and is logged.
    Log,
    /// `SCMP_ACT_TRACE`: a `ptrace` tracer is notified with this value (without a tracer the
    /// call fails with `ENOSYS`).
    Trace(u16),
}

impl SeccompAction {
    /// The action's name in OCI and Docker profiles, e.g. `SCMP_ACT_ERRNO`.
    pub fn name(self) -> &'static str {
        match self {
            SeccompAction::Allow => "SCMP_ACT_ALLOW",
            SeccompAction::Errno(_) => "SCMP_ACT_ERRNO",
            SeccompAction::KillThread => "SCMP_ACT_KILL_THREAD",
            SeccompAction::KillProcess => "SCMP_ACT_KILL_PROCESS",
            SeccompAction::Trap => "SCMP_ACT_TRAP",
            SeccompAction::Log => "SCMP_ACT_LOG",
            SeccompAction::Trace(_) => "SCMP_ACT_TRACE",
        }
    }
}

impl fmt::Display for SeccompAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeccompAction::Errno(errno) => write!(f, "{}({errno})", self.name()),
            SeccompAction::Trace(data) => write!(f, "{}({data})", self.name()),
            _ => f.write_str(self.name()),
        }
    }
}

/// How an argument is compared (`SCMP_CMP_*`). Arguments are compared as unsigned 64-bit
/// numbers, as libseccomp does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArgOp {
    /// `SCMP_CMP_NE`: `arg != value`.
    NotEqual,
    /// `SCMP_CMP_LT`: `arg < value`.
    LessThan,
    /// `SCMP_CMP_LE`: `arg <= value`.
    LessOrEqual,
    /// `SCMP_CMP_EQ`: `arg == value`.
    Equal,
    /// `SCMP_CMP_GE`: `arg >= value`.
    GreaterOrEqual,
    /// `SCMP_CMP_GT`: `arg > value`.
    GreaterThan,
    /// `SCMP_CMP_MASKED_EQ`: `arg & value == value_two & value` (`value` is the mask).
    MaskedEqual,
}

impl ArgOp {
    /// The operator's name in OCI and Docker profiles, e.g. `SCMP_CMP_MASKED_EQ`.
    pub fn name(self) -> &'static str {
        match self {
            ArgOp::NotEqual => "SCMP_CMP_NE",
            ArgOp::LessThan => "SCMP_CMP_LT",
            ArgOp::LessOrEqual => "SCMP_CMP_LE",
            ArgOp::Equal => "SCMP_CMP_EQ",
            ArgOp::GreaterOrEqual => "SCMP_CMP_GE",
            ArgOp::GreaterThan => "SCMP_CMP_GT",
            ArgOp::MaskedEqual => "SCMP_CMP_MASKED_EQ",
        }
    }

    /// The operator named `name` (`SCMP_CMP_EQ`, …).
    pub fn from_name(name: &str) -> Option<ArgOp> {
        [
            ArgOp::NotEqual,
            ArgOp::LessThan,
            ArgOp::LessOrEqual,
            ArgOp::Equal,
            ArgOp::GreaterOrEqual,
            ArgOp::GreaterThan,
            ArgOp::MaskedEqual,
        ]
        .into_iter()
        .find(|op| op.name() == name)
    }
}

/// A condition on one argument of a system call (OCI's `{index, value, valueTwo, op}`).
///
/// ```
/// use furnace_core::{ArgCondition, ArgOp};
/// // clone(2) without CLONE_NEWUSER: flags & 0x10000000 == 0.
/// let no_new_user = ArgCondition::masked_eq(0, 0x1000_0000, 0);
/// assert_eq!(no_new_user.op, ArgOp::MaskedEqual);
/// assert!(no_new_user.holds(0x11) && !no_new_user.holds(0x1000_0011));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArgCondition {
    /// Which argument, from 0 to 5.
    pub index: u8,
    /// The value compared with, or the mask for [`ArgOp::MaskedEqual`].
    pub value: u64,
    /// The value the masked argument must equal, for [`ArgOp::MaskedEqual`]; 0 otherwise.
    pub value_two: u64,
    /// The comparison.
    pub op: ArgOp,
}

impl ArgCondition {
    /// `arg[index] <op> value`, for any operator but [`ArgOp::MaskedEqual`].
    pub fn new(index: u8, op: ArgOp, value: u64) -> Self {
        ArgCondition {
            index,
            value,
            value_two: 0,
            op,
        }
    }

    /// `arg[index] & mask == value`.
    pub fn masked_eq(index: u8, mask: u64, value: u64) -> Self {
        ArgCondition {
            index,
            value: mask,
            value_two: value,
            op: ArgOp::MaskedEqual,
        }
    }

    /// Whether an argument of value `arg` meets the condition.
    pub fn holds(&self, arg: u64) -> bool {
        match self.op {
            ArgOp::NotEqual => arg != self.value,
            ArgOp::LessThan => arg < self.value,
            ArgOp::LessOrEqual => arg <= self.value,
            ArgOp::Equal => arg == self.value,
            ArgOp::GreaterOrEqual => arg >= self.value,
            ArgOp::GreaterThan => arg > self.value,
            ArgOp::MaskedEqual => arg & self.value == self.value_two & self.value,
        }
    }
}

/// Some system calls, by name, and what happens when one is made with arguments that meet
/// every condition.
///
/// ```
/// use furnace_core::{ArgCondition, ArgOp, SeccompAction, SyscallRule};
/// let rule = SyscallRule::new(["personality"], SeccompAction::Allow)
///     .condition(ArgCondition::new(0, ArgOp::Equal, 0));
/// assert_eq!(rule.names(), ["personality"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallRule {
    names: Vec<String>,
    action: SeccompAction,
    conditions: Vec<ArgCondition>,
}

impl SyscallRule {
    /// A rule for the system calls `names` (as the kernel names them: `openat`, `clone3`),
    /// matching any arguments until [`condition`](SyscallRule::condition) adds conditions.
    pub fn new<I, S>(names: I, action: SeccompAction) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        SyscallRule {
            names: names.into_iter().map(Into::into).collect(),
            action,
            conditions: Vec::new(),
        }
    }

    /// Adds a condition: the rule matches only when all of its conditions hold.
    pub fn condition(mut self, condition: ArgCondition) -> Self {
        self.conditions.push(condition);
        self
    }

    /// The system calls the rule is about.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// What happens when the rule matches.
    pub fn action(&self) -> SeccompAction {
        self.action
    }

    /// The conditions, all of which must hold.
    pub fn conditions(&self) -> &[ArgCondition] {
        &self.conditions
    }
}

/// A seccomp profile: a default action and rules, for the native architecture.
///
/// See the [module documentation](self) for what a profile means when several rules match a
/// call, and how it is compiled.
///
/// ```
/// use furnace_core::{SeccompAction, SeccompProfile, SyscallRule};
/// let profile = SeccompProfile::new(SeccompAction::Allow)
///     .rule(SyscallRule::new(["keyctl", "add_key"], SeccompAction::Errno(1)));
/// let filters = profile.compile()?;
/// assert_eq!(filters.len(), 2); // the architecture guard, then the EPERM filter
/// # Ok::<(), furnace_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeccompProfile {
    default_action: SeccompAction,
    architectures: Vec<&'static str>,
    rules: Vec<SyscallRule>,
    skipped: Vec<String>,
    /// A call numbered above every one of furnace's table answers `ENOSYS` (furnace's default
    /// profile: a call added to the kernel later is refused, and C libraries fall back).
    pub(crate) unknown_enosys: bool,
}

impl SeccompProfile {
    /// A profile without rules: every call gets `default_action`.
    pub fn new(default_action: SeccompAction) -> Self {
        SeccompProfile {
            default_action,
            architectures: Vec::new(),
            rules: Vec::new(),
            skipped: Vec::new(),
            unknown_enosys: false,
        }
    }

    /// Adds a rule after the others.
    pub fn rule(mut self, rule: SyscallRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// furnace's default profile, with the semantics of Docker's default profile for a
    /// container that has no capability beyond Docker's default set.
    ///
    /// It works as an allow-list: every system call of furnace's table for this architecture
    /// is allowed except the groups below, which fail with `EPERM`; a call numbered above the
    /// table (one newer than Linux 6.18) fails with `ENOSYS`, so that C libraries fall back to
    /// older calls and a kernel's new interfaces stay out of reach until someone reviews them
    /// and adds them to the table; an x32 number kills the process. (It is compiled as
    /// "everything but the refusals" behind a guard for those numbers: the same answers from a
    /// filter a fifth of the size, which matters because the kernel runs it for every system
    /// call number when it is attached.) A plain deny-list would let through every system
    /// call added after it was written — the 2019 mount API and `io_uring` are the kind of
    /// surface that would slip by. The refusals:
    ///
    /// - kernel keyrings (`keyctl`, `add_key`, `request_key`): not namespaced, shared with the
    ///   host's processes of the same uid;
    /// - `bpf`, `perf_event_open`: large kernel surface, and tracing shows host-wide data
    ///   (Docker: `CAP_SYS_ADMIN`, `CAP_BPF`, `CAP_PERFMON`);
    /// - `userfaultfd`: stalls kernel page faults at will, the usual tool to widen kernel race
    ///   windows;
    /// - kernel modules and kexec (`init_module`, `finit_module`, `delete_module`,
    ///   `create_module`, `get_kernel_syms`, `query_module`, `kexec_load`, `kexec_file_load`):
    ///   loading code into the host's kernel or replacing it;
    /// - file handles (`open_by_handle_at`, `name_to_handle_at`): opening any inode of a
    ///   mounted filesystem by number bypasses the container's root (the "shocker" escape);
    /// - other processes' memory (`ptrace`, `process_vm_readv`, `process_vm_writev`, `kcmp`,
    ///   `pidfd_getfd`, `process_madvise`): Docker allows them only with `CAP_SYS_PTRACE`
    ///   (and `ptrace` on Linux 4.8 and later; furnace keeps it refused, so `strace` and `gdb`
    ///   do not work inside);
    /// - host-wide state: `acct`, `swapon`, `swapoff`, `reboot`, `vhangup`;
    /// - the clock, which is not namespaced: `settimeofday`, `clock_settime`, `clock_adjtime`
    ///   (`adjtimex` stays allowed: whether it modifies is in a structure seccomp cannot read,
    ///   and the kernel asks `CAP_SYS_TIME` for that);
    /// - the mount tree (`mount`, `umount2`, `pivot_root`, `fsopen`, `fsconfig`, `fsmount`,
    ///   `fspick`, `move_mount`, `open_tree`, `open_tree_attr`, `mount_setattr`): it could
    ///   uncover masked paths;
    /// - namespaces (`unshare`, `setns`, `clone` with any `CLONE_NEW*` flag): a new user
    ///   namespace opens kernel code to root-in-namespace, the start of most escapes;
    ///   `clone3` cannot be filtered on its flags (they are in memory), so it fails with
    ///   `ENOSYS` and C libraries fall back to `clone`;
    /// - `personality` other than 0, `PER_LINUX32` (8), `UNAME26` (0x20000), both (0x20008)
    ///   and the query 0xffffffff: the other flags (`ADDR_NO_RANDOMIZE`,
    ///   `READ_IMPLIES_EXEC`, …) weaken address randomisation and no-exec memory;
    /// - port I/O (`iopl`, `ioperm`): direct hardware access;
    /// - `syslog`: the kernel log (Docker: `CAP_SYSLOG`); `quotactl`, `quotactl_fd`:
    ///   filesystem-wide quotas; `fanotify_init`: watching whole filesystems (Docker:
    ///   `CAP_SYS_ADMIN`);
    /// - `io_uring_setup`, `io_uring_enter`, `io_uring_register`: a large, often-exploited
    ///   surface whose operations seccomp does not see (Docker refuses it since version 25);
    /// - NUMA placement (`mbind`, `set_mempolicy`, `set_mempolicy_home_node`,
    ///   `get_mempolicy`, `migrate_pages`, `move_pages`): Docker allows it only with
    ///   `CAP_SYS_NICE`;
    /// - obsolete or never-implemented calls (`lookup_dcookie`, `uselib`, `ustat`, `sysfs`,
    ///   `_sysctl`, `nfsservctl`, `afs_syscall`, `tuxcall`, `security`, `vserver`, `getpmsg`,
    ///   `putpmsg`, `epoll_ctl_old`, `epoll_wait_old`): old code, little reviewed, used by
    ///   nothing current.
    ///
    /// `socket` is not restricted by address family. Only native calls pass: 32-bit
    /// (`int 0x80`) and x32 calls kill the process, so 32-bit programs do not run under it
    /// (Docker allows them).
    ///
    /// ```
    /// use furnace_core::{SeccompAction, SeccompProfile};
    /// let profile = SeccompProfile::default_profile();
    /// // Everything but the refusals (and ENOSYS above furnace's table, in the compiled guard).
    /// assert_eq!(profile.default_action(), SeccompAction::Allow);
    /// let keyctl = profile.rules().iter().find(|r| r.names().iter().any(|n| n == "keyctl"));
    /// assert_eq!(keyctl.map(|r| r.action()), Some(SeccompAction::Errno(1))); // EPERM
    /// ```
    pub fn default_profile() -> Self {
        default::profile(Arch::native().unwrap_or(Arch::X86_64))
    }

    /// [`default_profile`](SeccompProfile::default_profile) for a process holding
    /// `capabilities`, as Docker relaxes its default for a container given them: each of
    /// `CAP_SYS_ADMIN` (mounts, `unshare`, `setns`, `clone` with namespace flags, `clone3`, …),
    /// `CAP_SYS_PTRACE`, `CAP_SYS_TIME`, `CAP_SYS_MODULE`, `CAP_SYS_BOOT`, `CAP_SYS_PACCT`,
    /// `CAP_SYS_RAWIO`, `CAP_SYS_NICE`, `CAP_SYS_TTY_CONFIG`, `CAP_SYSLOG`,
    /// `CAP_DAC_READ_SEARCH`, `CAP_BPF` and `CAP_PERFMON` lets through the calls it governs.
    /// A command given one (`Command::cap_add`) runs under this profile.
    pub fn default_for(capabilities: &CapabilitySet) -> Self {
        default::profile_for(Arch::native().unwrap_or(Arch::X86_64), *capabilities)
    }

    /// Reads a profile in the OCI runtime-spec's `linux.seccomp` format or in Docker's.
    ///
    /// Docker's conditional rules are resolved here: a rule whose `includes` or `excludes`
    /// names capabilities is kept or dropped by `capabilities` (the set the container's
    /// processes run with, Docker's bounding set), one naming `arches` by the native
    /// architecture (`amd64` or `arm64`), one naming `minKernel` by the running kernel. Of
    /// `architectures` and `archMap`, only the native architecture is used; a list that does
    /// not name it is an error. System call names of other architectures (`_llseek`,
    /// `socketcall`, …), which Docker's profiles list beside the native ones, are set aside
    /// and listed by [`skipped_syscalls`](SeccompProfile::skipped_syscalls).
    ///
    /// Everything else furnace cannot honour is an [`Error::InvalidSeccomp`](crate::Error::InvalidSeccomp)
    /// naming the field and value: unknown fields, actions, operators, architectures, flags
    /// or system calls; `SCMP_ACT_NOTIFY` and `listenerPath` (user notification); an errno
    /// above 4095; an argument index above 5. `errnoRet` defaults to `EPERM`, as in runc.
    ///
    /// ```
    /// use furnace_core::{SeccompAction, SeccompProfile};
    /// use furnace_sys::cred::CapabilitySet;
    /// let profile = SeccompProfile::from_json(
    ///     r#"{
    ///         "defaultAction": "SCMP_ACT_ALLOW",
    ///         "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
    ///         "syscalls": [
    ///             {"names": ["keyctl", "add_key"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
    ///             {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
    ///              "args": [{"index": 0, "value": 262144, "op": "SCMP_CMP_EQ"}]}
    ///         ]
    ///     }"#,
    ///     &CapabilitySet::empty(),
    /// )?;
    /// assert_eq!(profile.default_action(), SeccompAction::Allow);
    /// assert_eq!(profile.rules().len(), 2);
    /// let bad = SeccompProfile::from_json(
    ///     r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#, &CapabilitySet::empty());
    /// assert!(bad.unwrap_err().to_string().contains("defaultAction"));
    /// # Ok::<(), furnace_core::Error>(())
    /// ```
    pub fn from_json(json: &str, capabilities: &CapabilitySet) -> Result<Self> {
        let arch = Arch::native().ok_or_else(compile::unsupported_architecture)?;
        json::parse(json, &json::Target::running(arch, *capabilities))
    }

    /// What a call that no rule matches gets.
    pub fn default_action(&self) -> SeccompAction {
        self.default_action
    }

    /// The rules, in the profile's order.
    pub fn rules(&self) -> &[SyscallRule] {
        &self.rules
    }

    /// The architectures the profile named (`SCMP_ARCH_X86_64`, …), the native one among
    /// them; empty when it named none. Only native calls pass the filters either way.
    pub fn architectures(&self) -> &[&'static str] {
        &self.architectures
    }

    /// The system call names of other architectures that [`from_json`](SeccompProfile::from_json)
    /// found in the profile and left out, each once.
    pub fn skipped_syscalls(&self) -> &[String] {
        &self.skipped
    }

    /// Compiles the profile into BPF programs for the native architecture; see the
    /// [module documentation](self) for the stack of filters it makes.
    ///
    /// Fails with [`Error::InvalidSeccomp`](crate::Error::InvalidSeccomp) for a rule naming a
    /// system call this architecture does not have, an errno above 4095 or an argument index
    /// above 5, and with [`Error::SeccompCompile`](crate::Error::SeccompCompile) when the
    /// programs are too large for the kernel.
    pub fn compile(&self) -> Result<SeccompFilters> {
        let arch = Arch::native().ok_or_else(compile::unsupported_architecture)?;
        compile::compile(self, arch)
    }
}

/// A profile compiled into BPF programs, ready to be attached in a forked child.
///
/// ```no_run
/// use furnace_core::Seccomp;
/// let filters = Seccomp::Default.compile()?; // in the parent: this allocates
/// // … after fork, in the child, before exec:
/// if let Err(errno) = filters.apply() {
///     // report errno and _exit
/// #   let _ = errno;
/// }
/// # Ok::<(), furnace_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeccompFilters {
    programs: Vec<Vec<furnace_sys::seccomp::Instruction>>,
}

impl SeccompFilters {
    /// The filters of `programs`, in the order they are to be attached.
    pub(crate) fn new(programs: Vec<seccompiler::BpfProgram>) -> SeccompFilters {
        let instruction = |i: &seccompiler::sock_filter| furnace_sys::seccomp::Instruction {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        };
        SeccompFilters {
            programs: programs
                .iter()
                .map(|p| p.iter().map(instruction).collect())
                .collect(),
        }
    }

    /// Each filter with each instruction packed into a `u64` (code, jt, jf, k from the high
    /// bits down), for a detached container's state file.
    pub(crate) fn to_packed(&self) -> Vec<Vec<u64>> {
        let pack = |i: &furnace_sys::seccomp::Instruction| {
            u64::from(i.code) << 48 | u64::from(i.jt) << 40 | u64::from(i.jf) << 32 | u64::from(i.k)
        };
        self.programs
            .iter()
            .map(|p| p.iter().map(pack).collect())
            .collect()
    }

    /// The filters [`to_packed`](SeccompFilters::to_packed) packed.
    pub(crate) fn from_packed(packed: &[Vec<u64>]) -> SeccompFilters {
        let unpack = |w: &u64| furnace_sys::seccomp::Instruction {
            code: (w >> 48) as u16,
            jt: (w >> 40) as u8,
            jf: (w >> 32) as u8,
            k: *w as u32,
        };
        SeccompFilters {
            programs: packed
                .iter()
                .map(|p| p.iter().map(unpack).collect())
                .collect(),
        }
    }

    /// How many filters there are (0 for [`Seccomp::Unconfined`]).
    pub fn len(&self) -> usize {
        self.programs.len()
    }

    /// Whether there is no filter to apply.
    pub fn is_empty(&self) -> bool {
        self.programs.is_empty()
    }

    /// The number of BPF instructions of all filters together.
    pub fn instructions(&self) -> usize {
        self.programs.iter().map(Vec::len).sum()
    }

    /// Attaches the filters to the calling thread, in order
    /// (`seccomp(SECCOMP_SET_MODE_FILTER)` for each, furnace-sys's
    /// [`attach_filter`](furnace_sys::seccomp::forksafe::attach_filter)). The thread's later
    /// children and `exec`s keep them.
    ///
    /// Fork-safe: it allocates nothing, takes no lock and cannot panic, so it may run between
    /// `fork` and `exec`; an error is the bare errno of the call that failed (`EACCES` without
    /// `no_new_privs` or `CAP_SYS_ADMIN`, `EINVAL` for a kernel without seccomp filters,
    /// `ENOMEM`), and the filters attached before it stay. It does not set `no_new_privs`
    /// (seccompiler's own `apply_filter` would): a privileged command keeps its setuid
    /// programs.
    pub fn apply(&self) -> Result<(), Errno> {
        for program in &self.programs {
            furnace_sys::seccomp::forksafe::attach_filter(program)?;
        }
        Ok(())
    }
}
