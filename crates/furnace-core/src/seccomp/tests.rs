//! The seccomp module's unit tests: the tables, the default profile, and the stacking of
//! filters, checked call by call by running the compiled BPF in an interpreter against the
//! profile's meaning. `json` tests the parser, `apply` attaches the default profile for real.

mod apply;
mod json;

use super::compile::{compile, Arch};
use super::default::{CLONE_NEW_FLAGS, DENIED, SAFE_PERSONALITIES};
use super::{
    table, ArgCondition, ArgOp, Seccomp, SeccompAction, SeccompFilters, SeccompProfile, SyscallRule,
};
use crate::Error;

const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_KILL_THREAD: u32 = 0;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_TRACE: u32 = 0x7ff0_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ACTION_FULL: u32 = 0xffff_0000;

const EPERM: u32 = libc::EPERM as u32;
const ENOSYS: u32 = libc::ENOSYS as u32;

/// One system call as the kernel shows it to a filter (`struct seccomp_data`).
#[derive(Debug, Clone, Copy)]
struct Call {
    nr: u32,
    arch: u32,
    args: [u64; 6],
}

impl Call {
    fn new(arch: Arch, name: &str, args: &[u64]) -> Call {
        let nr = arch.number(name).unwrap_or_else(|| panic!("{name}")) as u32;
        Call::raw(arch, nr, args)
    }

    fn raw(arch: Arch, nr: u32, args: &[u64]) -> Call {
        let mut all = [0; 6];
        all[..args.len()].copy_from_slice(args);
        Call {
            nr,
            arch: arch.audit_arch(),
            args: all,
        }
    }

    fn data(&self) -> [u8; 64] {
        let mut data = [0; 64];
        data[0..4].copy_from_slice(&self.nr.to_le_bytes());
        data[4..8].copy_from_slice(&self.arch.to_le_bytes());
        for (i, arg) in self.args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&arg.to_le_bytes());
        }
        data
    }
}

/// Runs one classic-BPF program as the kernel would, on the instructions seccompiler and the
/// guard use.
fn run(program: &[furnace_sys::seccomp::Instruction], call: &Call) -> u32 {
    let data = call.data();
    let (mut a, mut pc) = (0u32, 0usize);
    loop {
        let insn = &program[pc];
        pc += 1;
        let k = insn.k;
        let jump = |taken: bool| usize::from(if taken { insn.jt } else { insn.jf });
        match insn.code {
            0x20 => {
                let at = k as usize;
                a = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
            }
            0x54 => a &= k,
            0x05 => pc += k as usize,
            0x15 => pc += jump(a == k),
            0x25 => pc += jump(a > k),
            0x35 => pc += jump(a >= k),
            0x45 => pc += jump(a & k != 0),
            0x06 => return k,
            code => panic!("instruction {code:#x} not interpreted"),
        }
    }
}

/// What the kernel returns for a call through all the filters: the most restrictive result,
/// the most recently attached filter's among equals (`seccomp_run_filters`).
fn kernel(filters: &SeccompFilters, call: &Call) -> u32 {
    let mut ret = RET_ALLOW;
    for program in filters.programs.iter().rev() {
        let cur = run(program, call);
        if ((cur & RET_ACTION_FULL) as i32) < ((ret & RET_ACTION_FULL) as i32) {
            ret = cur;
        }
    }
    ret
}

fn ret(action: SeccompAction) -> u32 {
    match action {
        SeccompAction::Allow => RET_ALLOW,
        SeccompAction::Errno(errno) => RET_ERRNO | u32::from(errno),
        SeccompAction::KillThread => RET_KILL_THREAD,
        SeccompAction::KillProcess => RET_KILL_PROCESS,
        SeccompAction::Trap => RET_TRAP,
        SeccompAction::Log => RET_LOG,
        SeccompAction::Trace(data) => RET_TRACE | u32::from(data),
    }
}

fn precedence(action: SeccompAction) -> u8 {
    match action {
        SeccompAction::KillProcess => 0,
        SeccompAction::KillThread => 1,
        SeccompAction::Trap => 2,
        SeccompAction::Errno(_) => 3,
        SeccompAction::Trace(_) => 4,
        SeccompAction::Log => 5,
        SeccompAction::Allow => 6,
    }
}

/// The profile's meaning, written down directly (the module documentation's first paragraph).
fn meaning(profile: &SeccompProfile, arch: Arch, call: &Call) -> u32 {
    if call.arch != arch.audit_arch() || (call.nr >= 0x4000_0000 && call.nr != u32::MAX) {
        return RET_KILL_PROCESS;
    }
    if profile.unknown_enosys && call.nr != u32::MAX && call.nr > arch.highest() {
        return RET_ERRNO | ENOSYS;
    }
    let matching = profile.rules.iter().filter(|rule| {
        rule.names
            .iter()
            .any(|n| arch.number(n) == Some(i64::from(call.nr)))
            && rule
                .conditions
                .iter()
                .all(|c| c.holds(call.args[usize::from(c.index)]))
    });
    let first = |action| profile.rules.iter().position(|r| r.action == action);
    matching
        .map(|rule| rule.action)
        .min_by_key(|&action| (precedence(action), first(action)))
        .map_or(ret(profile.default_action), ret)
}

/// Compares the compiled filters with the meaning on every call of `calls`.
fn assert_equivalent(profile: &SeccompProfile, arch: Arch, calls: &[Call]) {
    let filters = compile(profile, arch).unwrap();
    for call in calls {
        assert_eq!(
            kernel(&filters, call),
            meaning(profile, arch, call),
            "{call:?} ({:?})",
            arch.names()
                .find(|n| arch.number(n) == Some(i64::from(call.nr)))
        );
    }
}

const VALUES: [u64; 14] = [
    0,
    4,
    5,
    6,
    7,
    8,
    9,
    16,
    0x4_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0008,
    0xffff_ffff_0000_0001,
    u64::MAX,
];

/// Calls of every number of `names` (and a few unknown ones) with many argument vectors.
fn calls(arch: Arch, names: &[&str], extra: &[[u64; 6]]) -> Vec<Call> {
    let mut vectors: Vec<[u64; 6]> = extra.to_vec();
    for v0 in VALUES {
        for v1 in [0, 9] {
            for v2 in [0, 4, 7, 9] {
                vectors.push([v0, v1, v2, 0, 0, 0]);
            }
        }
        vectors.push([v0; 6]);
    }
    let mut numbers: Vec<u32> = names
        .iter()
        .map(|n| arch.number(n).unwrap() as u32)
        .collect();
    numbers.extend([470, 999, u32::MAX]);
    let mut calls = Vec::new();
    for nr in numbers {
        for args in &vectors {
            calls.push(Call::raw(arch, nr, args));
        }
    }
    calls
}

/// A profile with every action, overlapping rules and conditions of every kind.
fn mixed(default_action: SeccompAction) -> SeccompProfile {
    use ArgOp::*;
    use SeccompAction::*;
    let rule = |names: &[&str], action| SyscallRule::new(names.iter().copied(), action);
    SeccompProfile::new(default_action)
        .rule(rule(&["read", "write", "openat", "getpid"], Allow))
        .rule(rule(&["clone3"], Errno(38)))
        .rule(rule(&["uname"], Log))
        .rule(rule(&["kill"], Trap).condition(ArgCondition::new(1, Equal, 9)))
        .rule(rule(&["kill"], Allow))
        .rule(rule(&["socket"], Errno(13)).condition(ArgCondition::new(0, Equal, 16)))
        .rule(rule(&["socket"], Allow))
        .rule(
            rule(&["socket"], Errno(1))
                .condition(ArgCondition::new(0, Equal, 16))
                .condition(ArgCondition::new(2, Equal, 9)),
        )
        .rule(rule(&["ptrace"], KillThread))
        .rule(rule(&["mknodat"], Trace(7)))
        .rule(rule(&["reboot"], KillProcess).condition(ArgCondition::new(0, GreaterThan, 5)))
        .rule(rule(&["personality"], Allow).condition(ArgCondition::new(0, LessOrEqual, 8)))
        .rule(rule(&["personality"], Errno(22)).condition(ArgCondition::new(0, GreaterOrEqual, 8)))
        .rule(rule(&["getpid"], Log))
        .rule(rule(&["lseek"], Allow).condition(ArgCondition::new(1, LessThan, 0x1_0000_0000)))
        .rule(rule(&["lseek"], Errno(9)).condition(ArgCondition::new(
            1,
            GreaterThan,
            0xffff_ffff_0000_0000,
        )))
        .rule(rule(&["lseek"], Trace(3)).condition(ArgCondition::new(2, NotEqual, 0)))
        .rule(rule(&["mmap"], Errno(1)).condition(ArgCondition::masked_eq(2, 0x4, 0x4)))
        .rule(rule(&["mmap"], Allow))
        .rule(rule(&["mknodat"], Trace(8)).condition(ArgCondition::new(1, Equal, 0)))
}

const MIXED_NAMES: [&str; 16] = [
    "read",
    "write",
    "openat",
    "getpid",
    "clone3",
    "uname",
    "kill",
    "socket",
    "ptrace",
    "mknodat",
    "reboot",
    "personality",
    "lseek",
    "mmap",
    "close",
    "clone",
];

#[test]
fn stacking_matches_the_meaning_on_every_call() {
    for default_action in [
        SeccompAction::Errno(1),
        SeccompAction::Allow,
        SeccompAction::KillProcess,
        SeccompAction::Log,
        SeccompAction::Trap,
    ] {
        let profile = mixed(default_action);
        for arch in [Arch::X86_64, Arch::Aarch64] {
            assert_equivalent(&profile, arch, &calls(arch, &MIXED_NAMES, &[]));
        }
    }
}

#[test]
fn stacking_order_and_ties() {
    let arch = Arch::X86_64;
    let profile = mixed(SeccompAction::Errno(1));
    let filters = compile(&profile, arch).unwrap();
    // Guard, base, then one filter per distinct non-ALLOW action (12 of them).
    assert_eq!(filters.len(), 2 + 12);
    let k = |name, args: &[u64]| kernel(&filters, &Call::new(arch, name, args));
    // Per-rule errno over the default: clone3's ENOSYS, not the default EPERM.
    assert_eq!(k("clone3", &[]), RET_ERRNO | ENOSYS);
    assert_eq!(k("close", &[]), RET_ERRNO | EPERM);
    // A rule's action over ALLOW: socket(AF_NETLINK) gets EACCES, other sockets pass.
    assert_eq!(k("socket", &[2]), RET_ALLOW);
    assert_eq!(k("socket", &[16]), RET_ERRNO | 13);
    // Two errno rules match: the one whose action came first (EACCES) wins the tie.
    assert_eq!(k("socket", &[16, 0, 9]), RET_ERRNO | 13);
    // Two trace values: 7 came first.
    assert_eq!(k("mknodat", &[0, 0]), RET_TRACE | 7);
    // Most restrictive across kinds: TRAP over ALLOW, ERRNO over ALLOW, LOG over ALLOW.
    assert_eq!(k("kill", &[1, 9]), RET_TRAP);
    assert_eq!(k("kill", &[1, 15]), RET_ALLOW);
    assert_eq!(k("personality", &[8]), RET_ERRNO | 22);
    assert_eq!(k("personality", &[7]), RET_ALLOW);
    assert_eq!(k("getpid", &[]), RET_LOG);
    // 64-bit comparisons: both halves count.
    assert_eq!(k("lseek", &[0, 0xffff_ffff]), RET_ALLOW);
    assert_eq!(k("lseek", &[0, 0x1_0000_0000]), RET_ERRNO | EPERM);
    assert_eq!(k("lseek", &[0, u64::MAX]), RET_ERRNO | 9);
    assert_eq!(k("lseek", &[0, 5, 1]), RET_TRACE | 3);
    assert_eq!(k("mmap", &[0, 0, 7]), RET_ERRNO | EPERM);
    assert_eq!(k("mmap", &[0, 0, 3]), RET_ALLOW);
    assert_eq!(k("ptrace", &[]), RET_KILL_THREAD);
    assert_eq!(k("reboot", &[6]), RET_KILL_PROCESS);
    // Without a base filter (default ALLOW) only the guard and the action filters remain.
    assert_eq!(
        compile(&mixed(SeccompAction::Allow), arch).unwrap().len(),
        1 + 12
    );
}

#[test]
fn the_guard_kills_other_architectures_and_x32() {
    let arch = Arch::X86_64;
    let filters = compile(&SeccompProfile::new(SeccompAction::Allow), arch).unwrap();
    assert_eq!(
        filters.len(),
        1,
        "a profile allowing everything keeps its guard"
    );
    let getpid = Call::new(arch, "getpid", &[]);
    assert_eq!(kernel(&filters, &getpid), RET_ALLOW);
    let i386 = Call {
        arch: 3 | 0x4000_0000, // AUDIT_ARCH_I386
        ..getpid
    };
    assert_eq!(kernel(&filters, &i386), RET_KILL_PROCESS);
    let aarch64 = Call {
        arch: Arch::Aarch64.audit_arch(),
        ..getpid
    };
    assert_eq!(kernel(&filters, &aarch64), RET_KILL_PROCESS);
    let x32 = Call {
        nr: getpid.nr | 0x4000_0000,
        ..getpid
    };
    assert_eq!(kernel(&filters, &x32), RET_KILL_PROCESS);
    let minus_one = Call {
        nr: u32::MAX,
        ..getpid
    };
    assert_eq!(kernel(&filters, &minus_one), RET_ALLOW);
}

#[test]
fn default_profile_matches_its_meaning_on_every_known_call() {
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let profile = super::default::profile(arch);
        let names: Vec<&str> = arch.names().collect();
        let mut extra = vec![];
        for flag in CLONE_NEW_FLAGS {
            extra.push([flag | 0x11, 0, 0, 0, 0, 0]);
        }
        for value in SAFE_PERSONALITIES {
            extra.push([value, 0, 0, 0, 0, 0]);
        }
        extra.push([libc::CLONE_NEWTIME as u64 | 0x11, 0, 0, 0, 0, 0]);
        // Arguments matter to clone and personality only: many vectors for them, a few for
        // every other call.
        let mut all = calls(arch, &["clone", "personality"], &extra);
        for name in names {
            for args in [[0; 6], [u64::MAX; 6], extra[0]] {
                all.push(Call::new(arch, name, &args));
            }
        }
        assert_equivalent(&profile, arch, &all);
    }
}

#[test]
fn default_profile_refuses_and_allows_what_it_says() {
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let filters = compile(&super::default::profile(arch), arch).unwrap();
        let k = |name, args: &[u64]| kernel(&filters, &Call::new(arch, name, args));
        for name in [
            "keyctl", "add_key", "bpf", "unshare", "setns", "mount", "ptrace",
        ] {
            assert_eq!(k(name, &[]), RET_ERRNO | EPERM, "{name}");
        }
        for name in [
            "getpid", "uname", "openat", "write", "execve", "wait4", "chroot",
        ] {
            assert_eq!(k(name, &[]), RET_ALLOW, "{name}");
        }
        assert_eq!(k("clone3", &[]), RET_ERRNO | ENOSYS);
        let sigchld = libc::SIGCHLD as u64;
        let vfork = (libc::CLONE_VM | libc::CLONE_VFORK) as u64 | sigchld;
        assert_eq!(k("clone", &[vfork]), RET_ALLOW);
        for flag in CLONE_NEW_FLAGS {
            assert_eq!(
                k("clone", &[flag | sigchld]),
                RET_ERRNO | EPERM,
                "{flag:#x}"
            );
        }
        for value in SAFE_PERSONALITIES {
            assert_eq!(k("personality", &[value]), RET_ALLOW, "{value:#x}");
        }
        assert_eq!(k("personality", &[0x4_0000]), RET_ERRNO | EPERM);
        assert_eq!(
            kernel(&filters, &Call::raw(arch, 470, &[])),
            RET_ERRNO | ENOSYS
        );
        assert!(filters.instructions() < 4096 * filters.len());
    }
    let x86 = compile(&super::default::profile(Arch::X86_64), Arch::X86_64).unwrap();
    for name in ["iopl", "ioperm", "uselib", "_sysctl", "open", "fork"] {
        let expected = if ["open", "fork"].contains(&name) {
            RET_ALLOW
        } else {
            RET_ERRNO | EPERM
        };
        let call = Call::new(Arch::X86_64, name, &[]);
        assert_eq!(kernel(&x86, &call), expected, "{name}");
    }
}

/// Docker's relaxation: each capability lets through the calls it governs, and only those;
/// `CAP_SYS_ADMIN` also `clone` with namespace flags and `clone3`.
#[test]
fn the_default_profile_relaxes_for_the_capabilities_held() {
    use furnace_sys::caps::Cap;
    use furnace_sys::cred::CapabilitySet;
    let set = |caps: &[Cap]| {
        caps.iter().fold(CapabilitySet::empty(), |s, c| {
            s | CapabilitySet::from_bits_retain(c.bitmask())
        })
    };
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let admin = compile(
            &super::default::profile_for(arch, set(&[Cap::CAP_SYS_ADMIN])),
            arch,
        )
        .unwrap();
        let k = |name, args: &[u64]| kernel(&admin, &Call::new(arch, name, args));
        for name in ["mount", "umount2", "unshare", "setns", "fsopen", "clone3"] {
            assert_eq!(k(name, &[]), RET_ALLOW, "CAP_SYS_ADMIN: {name}");
        }
        let newns = libc::CLONE_NEWNS as u64 | libc::SIGCHLD as u64;
        assert_eq!(k("clone", &[newns]), RET_ALLOW);
        for name in ["ptrace", "keyctl", "reboot", "init_module"] {
            assert_eq!(k(name, &[]), RET_ERRNO | EPERM, "CAP_SYS_ADMIN: {name}");
        }
        let ptrace = compile(
            &super::default::profile_for(arch, set(&[Cap::CAP_SYS_PTRACE])),
            arch,
        )
        .unwrap();
        let k = |name, args: &[u64]| kernel(&ptrace, &Call::new(arch, name, args));
        assert_eq!(k("ptrace", &[]), RET_ALLOW);
        assert_eq!(k("process_vm_readv", &[]), RET_ALLOW);
        assert_eq!(k("mount", &[]), RET_ERRNO | EPERM);
        assert_eq!(k("clone", &[newns]), RET_ERRNO | EPERM);
        assert_eq!(k("clone3", &[]), RET_ERRNO | ENOSYS);
        // Capabilities that govern nothing the profile refuses change nothing.
        let plain = super::default::profile_for(arch, set(&[Cap::CAP_CHOWN, Cap::CAP_KILL]));
        assert_eq!(
            compile(&plain, arch).unwrap(),
            compile(&super::default::profile(arch), arch).unwrap()
        );
    }
}

#[test]
fn default_profile_names_only_real_system_calls() {
    for (group, names) in DENIED {
        for name in *names {
            assert!(
                Arch::X86_64.number(name).is_some() || Arch::Aarch64.number(name).is_some(),
                "{group}: {name} is in neither table"
            );
        }
    }
    let profile = SeccompProfile::default_profile();
    // Everything allowed but the refusals, and a call above the table ENOSYS.
    assert_eq!(profile.default_action(), SeccompAction::Allow);
    assert!(profile.unknown_enosys);
    assert!(Seccomp::Default.compile().unwrap().len() >= 3);
    assert_eq!(
        Seccomp::Profile(profile.clone()).compile().unwrap(),
        profile.compile().unwrap()
    );
    assert!(Seccomp::Unconfined.compile().unwrap().is_empty());
    assert_eq!(Seccomp::default(), Seccomp::Default);
}

#[test]
fn tables_are_consistent() {
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let table = match arch {
            Arch::X86_64 => table::X86_64,
            Arch::Aarch64 => table::AARCH64,
        };
        for (i, (name, nr)) in table.iter().enumerate() {
            assert!(
                table[..i].iter().all(|(n, r)| n != name && r != nr),
                "{name} {nr} twice"
            );
            assert!(!table::OTHER_ARCHITECTURES.contains(name), "{name}");
        }
    }
    let aarch64 = |name| Arch::Aarch64.number(name);
    assert_eq!(aarch64("openat"), Some(56));
    assert_eq!(aarch64("write"), Some(64));
    assert_eq!(aarch64("clone"), Some(220));
    assert_eq!(aarch64("keyctl"), Some(219));
    assert_eq!(aarch64("personality"), Some(92));
    assert_eq!(aarch64("clone3"), Some(435));
    assert_eq!(aarch64("open"), None);
    assert!(Arch::Aarch64.is_foreign("open"));
    assert!(Arch::X86_64.is_foreign("_llseek"));
    assert!(!Arch::X86_64.is_foreign("open"));
    assert!(!Arch::X86_64.is_foreign("no_such_call"));
}

#[cfg(target_arch = "x86_64")]
#[test]
fn x86_64_table_agrees_with_libc() {
    let x86 = |name| Arch::X86_64.number(name);
    for (name, nr) in [
        ("read", libc::SYS_read),
        ("open", libc::SYS_open),
        ("clone", libc::SYS_clone),
        ("personality", libc::SYS_personality),
        ("keyctl", libc::SYS_keyctl),
        ("add_key", libc::SYS_add_key),
        ("bpf", libc::SYS_bpf),
        ("unshare", libc::SYS_unshare),
        ("setns", libc::SYS_setns),
        ("userfaultfd", libc::SYS_userfaultfd),
        ("statx", libc::SYS_statx),
        ("rseq", libc::SYS_rseq),
        ("clone3", libc::SYS_clone3),
        ("open_tree", libc::SYS_open_tree),
        ("mount_setattr", libc::SYS_mount_setattr),
        ("futex_waitv", libc::SYS_futex_waitv),
        ("fchmodat2", libc::SYS_fchmodat2),
        ("mseal", libc::SYS_mseal),
    ] {
        assert_eq!(x86(name), Some(nr), "{name}");
    }
    assert_eq!(Arch::native(), Some(Arch::X86_64));
}

#[test]
fn compile_errors_name_the_rule() {
    let compile_err = |profile: SeccompProfile| {
        let e = profile.compile().unwrap_err();
        assert!(matches!(e, Error::InvalidSeccomp { .. }), "{e:?}");
        e.to_string()
    };
    let e = compile_err(
        SeccompProfile::new(SeccompAction::Allow)
            .rule(SyscallRule::new(["getpid"], SeccompAction::Log))
            .rule(SyscallRule::new(
                ["getpid", "no_such_call"],
                SeccompAction::Log,
            )),
    );
    assert!(
        e.starts_with("seccomp profile rules[1].names[1] \"no_such_call\": is not a"),
        "{e}"
    );
    let e = compile_err(
        SeccompProfile::new(SeccompAction::Allow)
            .rule(SyscallRule::new(Vec::<String>::new(), SeccompAction::Log)),
    );
    assert!(e.contains("rules[0].names []"), "{e}");
    let e = compile_err(SeccompProfile::new(SeccompAction::Errno(5000)));
    assert!(
        e.contains("default_action SCMP_ACT_ERRNO(5000): an errno is at most 4095"),
        "{e}"
    );
    let e = compile_err(SeccompProfile::new(SeccompAction::Allow).rule(
        SyscallRule::new(["getpid"], SeccompAction::Log).condition(ArgCondition::new(
            6,
            ArgOp::Equal,
            0,
        )),
    ));
    assert!(e.contains("rules[0].conditions[0].index 6"), "{e}");
    let mut c = ArgCondition::new(0, ArgOp::Equal, 0);
    c.value_two = 3;
    let e = compile_err(
        SeccompProfile::new(SeccompAction::Allow)
            .rule(SyscallRule::new(["getpid"], SeccompAction::Log).condition(c)),
    );
    assert!(e.contains("rules[0].conditions[0].value_two 3"), "{e}");
}
