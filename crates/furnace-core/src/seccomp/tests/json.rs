//! The parser: both formats, Docker's conditional rules, and every refusal naming its field.

use furnace_sys::cred::CapabilitySet;

use super::super::compile::{compile, Arch};
use super::super::json::{parse, Target};
use super::{kernel, Call, RET_ALLOW, RET_ERRNO};
use crate::{ArgCondition, ArgOp, Error, SeccompAction, SeccompProfile, SyscallRule};

fn target(arch: Arch, capabilities: CapabilitySet, kernel: Option<(u32, u32)>) -> Target {
    Target {
        arch,
        capabilities,
        kernel,
    }
}

fn x86() -> Target {
    target(Arch::X86_64, CapabilitySet::empty(), Some((6, 18)))
}

const OCI: &str = r#"{
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 38,
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"],
    "flags": ["SECCOMP_FILTER_FLAG_TSYNC"],
    "syscalls": [
        {"names": ["read", "write", "openat"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                  {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["kill"], "action": "SCMP_ACT_KILL"},
        {"names": ["tkill"], "action": "SCMP_ACT_KILL_THREAD"},
        {"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 5},
        {"names": ["uname"], "action": "SCMP_ACT_LOG"},
        {"names": ["reboot"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["mknodat"], "action": "SCMP_ACT_TRAP"},
        {"names": ["keyctl"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
         "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"},
                  {"index": 2, "value": 0, "op": "SCMP_CMP_NE"}]},
        {"names": ["lseek"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 1, "value": 10, "op": "SCMP_CMP_LT"},
                  {"index": 2, "value": 2, "op": "SCMP_CMP_LE"},
                  {"index": 3, "value": 1, "op": "SCMP_CMP_GE"},
                  {"index": 4, "value": 1, "op": "SCMP_CMP_GT"}]}
    ]
}"#;

#[test]
fn oci_format() {
    let p = parse(OCI, &x86()).unwrap();
    assert_eq!(p.default_action(), SeccompAction::Errno(38));
    assert_eq!(
        p.architectures(),
        [
            "SCMP_ARCH_X86_64",
            "SCMP_ARCH_X86",
            "SCMP_ARCH_X32",
            "SCMP_ARCH_AARCH64"
        ]
    );
    assert!(p.skipped_syscalls().is_empty());
    let rules = p.rules();
    assert_eq!(
        rules.len(),
        13,
        "personality's two conditions on arg 0 became two rules"
    );
    assert_eq!(
        rules[0],
        SyscallRule::new(["read", "write", "openat"], SeccompAction::Allow)
    );
    assert_eq!(
        rules[1].conditions(),
        [ArgCondition::masked_eq(0, 0x7e02_0000, 0)]
    );
    assert_eq!(
        rules[2],
        SyscallRule::new(["personality"], SeccompAction::Allow).condition(ArgCondition::new(
            0,
            ArgOp::Equal,
            0
        ))
    );
    assert_eq!(
        rules[3].conditions(),
        [ArgCondition::new(0, ArgOp::Equal, 8)]
    );
    let actions: Vec<SeccompAction> = rules[4..].iter().map(|r| r.action()).collect();
    assert_eq!(
        actions,
        [
            SeccompAction::KillThread,
            SeccompAction::KillThread,
            SeccompAction::Trace(5),
            SeccompAction::Log,
            SeccompAction::KillProcess,
            SeccompAction::Trap,
            SeccompAction::Errno(1),
            SeccompAction::Errno(97),
            SeccompAction::Allow,
        ]
    );
    assert_eq!(
        rules[11].conditions().len(),
        2,
        "different arguments: one rule (and)"
    );
    let ops: Vec<ArgOp> = rules[12].conditions().iter().map(|c| c.op).collect();
    assert_eq!(
        ops,
        [
            ArgOp::LessThan,
            ArgOp::LessOrEqual,
            ArgOp::GreaterOrEqual,
            ArgOp::GreaterThan
        ]
    );
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let p = parse(OCI, &target(arch, CapabilitySet::empty(), Some((6, 18)))).unwrap();
        compile(&p, arch).unwrap();
    }
    // An empty profile is a default action alone.
    let p = parse(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#, &x86()).unwrap();
    assert_eq!(p, SeccompProfile::new(SeccompAction::Allow));
}

const DOCKER: &str = r#"{
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        {"architecture": "SCMP_ARCH_S390X", "subArchitectures": ["SCMP_ARCH_S390"]}
    ],
    "syscalls": [
        {"names": ["read", "write", "_llseek", "socketcall", "chown32", "getpid", "syscall",
                   "timerfd"],
         "action": "SCMP_ACT_ALLOW", "args": [], "comment": "", "includes": {}, "excludes": {}},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
        {"names": ["mount", "umount2", "unshare"], "action": "SCMP_ACT_ALLOW",
         "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
         "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 1, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
         "includes": {"arches": ["s390", "s390x"]}, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["arch_prctl", "modify_ldt"], "action": "SCMP_ACT_ALLOW",
         "includes": {"arches": ["amd64", "x32", "x86"]}},
        {"names": ["s390_pci_mmio_read"], "action": "SCMP_ACT_ALLOW",
         "includes": {"arches": ["s390x"]}},
        {"names": ["bpf"], "action": "SCMP_ACT_ALLOW",
         "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_BPF"]}},
        {"name": "syslog", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYSLOG"]}},
        {"names": ["userfaultfd"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "99.0"}}
    ]
}"#;

fn names(p: &SeccompProfile) -> Vec<&str> {
    p.rules()
        .iter()
        .flat_map(|r| r.names().iter().map(String::as_str))
        .collect()
}

#[test]
fn docker_format_resolved_against_capabilities_arch_and_kernel() {
    let p = parse(DOCKER, &x86()).unwrap();
    assert_eq!(
        p.architectures(),
        ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    );
    // `syscall` (MIPS) and `timerfd` (an early name) are in podman's default profile.
    assert_eq!(
        p.skipped_syscalls(),
        ["_llseek", "socketcall", "chown32", "syscall", "timerfd"]
    );
    assert_eq!(
        names(&p),
        [
            "read",
            "write",
            "getpid",
            "ptrace",
            "clone",
            "clone3",
            "arch_prctl",
            "modify_ldt",
            "userfaultfd"
        ]
    );
    assert_eq!(p.rules()[2].conditions()[0].index, 0, "the x86 clone rule");

    // The brief's case: clone3's ENOSYS wins over the default EPERM once compiled.
    let filters = compile(&p, Arch::X86_64).unwrap();
    let k = |name, args: &[u64]| kernel(&filters, &Call::new(Arch::X86_64, name, args));
    assert_eq!(k("clone3", &[]), RET_ERRNO | 38);
    assert_eq!(k("mount", &[]), RET_ERRNO | 1);
    assert_eq!(k("getpid", &[]), RET_ALLOW);
    assert_eq!(k("clone", &[0x11]), RET_ALLOW);
    assert_eq!(k("clone", &[0x1000_0011]), RET_ERRNO | 1);

    let admin = CapabilitySet::SYS_ADMIN;
    let p = parse(DOCKER, &target(Arch::X86_64, admin, Some((6, 18)))).unwrap();
    let n = names(&p);
    assert!(n.contains(&"mount") && n.contains(&"unshare"), "{n:?}");
    assert!(!n.contains(&"clone") && !n.contains(&"clone3"), "{n:?}");
    assert!(!n.contains(&"bpf"), "bpf needs both capabilities");
    let both = admin | CapabilitySet::BPF;
    let p = parse(DOCKER, &target(Arch::X86_64, both, Some((6, 18)))).unwrap();
    assert!(names(&p).contains(&"bpf"));

    let old = parse(
        DOCKER,
        &target(Arch::X86_64, CapabilitySet::empty(), Some((4, 4))),
    )
    .unwrap();
    assert!(!names(&old).contains(&"ptrace"));
    let future = parse(
        DOCKER,
        &target(Arch::X86_64, CapabilitySet::empty(), Some((99, 1))),
    )
    .unwrap();
    assert!(!names(&future).contains(&"userfaultfd"));

    let arm = parse(
        DOCKER,
        &target(Arch::Aarch64, CapabilitySet::empty(), Some((6, 18))),
    )
    .unwrap();
    assert_eq!(arm.architectures(), ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
    assert!(!names(&arm).contains(&"arch_prctl"));
    compile(&arm, Arch::Aarch64).unwrap();

    let e = parse(DOCKER, &target(Arch::X86_64, CapabilitySet::empty(), None)).unwrap_err();
    assert!(
        e.to_string()
            .contains("syscalls[1].includes.minKernel \"4.8\": the running kernel"),
        "{e}"
    );
}

#[test]
fn the_running_target_reads_the_kernel() {
    let t = Target::running(Arch::X86_64, CapabilitySet::empty());
    assert!(t.kernel.is_some_and(|k| k >= (3, 0)), "{:?}", t.kernel);
    let p = SeccompProfile::from_json(DOCKER, &CapabilitySet::empty()).unwrap();
    assert!(names(&p).contains(&"ptrace"));
}

/// Every refusal: the JSON, then what the message must contain.
const REFUSALS: &[(&str, &str)] = &[
    (
        r#"{}"#,
        "seccomp profile JSON: missing field `defaultAction`",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "bogus": 1}"#,
        "seccomp profile JSON: unknown field `bogus`",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#,
        "defaultAction \"SCMP_ACT_NOTIFY\": seccomp user notification is not supported",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_MAYBE"}"#,
        "defaultAction \"SCMP_ACT_MAYBE\": is not a seccomp action",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}"#,
        "defaultErrnoRet 1: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take one, not SCMP_ACT_ALLOW",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000}"#,
        "defaultErrnoRet 5000: an errno is at most 4095",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_TRACE", "defaultErrnoRet": 70000}"#,
        "defaultErrnoRet 70000: a trace value is at most 65535",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"}"#,
        "listenerPath \"/run/agent.sock\": seccomp user notification is not supported",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "x"}"#,
        "listenerMetadata \"x\": seccomp user notification is not supported",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG"]}"#,
        "flags[1] \"SECCOMP_FILTER_FLAG_LOG\": furnace attaches filters without flags",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}"#,
        "flags[0] \"SECCOMP_FILTER_FLAG_SPEC_ALLOW\":",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["FAST"]}"#,
        "flags[0] \"FAST\": is not a seccomp filter flag",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390X"]}"#,
        "architectures [\"SCMP_ARCH_PPC64LE\", \"SCMP_ARCH_S390X\"]: none is this machine's \
         SCMP_ARCH_X86_64",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "x86_64"]}"#,
        "architectures[1] \"x86_64\": is not a libseccomp architecture",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_PPC64LE"}]}"#,
        "", // no native entry: like Docker, the native architecture alone
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_VAX"}]}"#,
        "archMap[0].architecture \"SCMP_ARCH_VAX\": is not a libseccomp architecture",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_LOG"}, {"names": ["getpid", "get_pid"], "action": "SCMP_ACT_LOG"}]}"#,
        "syscalls[1].names[1] \"get_pid\": is not a system call of x86_64 that furnace knows",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}"#,
        "syscalls[0].action \"SCMP_ACT_NOTIFY\": seccomp user notification is not supported",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]}"#,
        "syscalls[0].errnoRet 1: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take one",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_LOG"}]}"#,
        "syscalls[0].names []: a rule must name at least one system call",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_LOG"}]}"#,
        "syscalls[0].name: give either name or names, not both",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_LOG", "when": 1}]}"#,
        "syscalls[0]: unknown field `when`",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_LOG", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
        "syscalls[0].args[0].index 6: system calls have arguments 0 to 5",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_LOG", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 1, "op": "SCMP_CMP_IN"}]}]}"#,
        "syscalls[0].args[1].op \"SCMP_CMP_IN\": is not a comparison",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_LOG", "args": [{"index": 0, "value": 1, "valueTwo": 2, "op": "SCMP_CMP_EQ"}]}]}"#,
        "syscalls[0].args[0].valueTwo 2: only SCMP_CMP_MASKED_EQ uses it, not SCMP_CMP_EQ",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_LOG", "args": [{"index": 0, "op": "SCMP_CMP_EQ"}]}]}"#,
        "syscalls[0]: missing field `value`",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_LOG", "includes": {"caps": ["CAP_WIZARD"]}}]}"#,
        "syscalls[0].includes.caps[0] \"CAP_WIZARD\": is not a capability",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_LOG", "excludes": {"minKernel": "four"}}]}"#,
        "syscalls[0].excludes.minKernel \"four\": is not a kernel version",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_LOG", "includes": {"kernel": "4.8"}}]}"#,
        "syscalls[0]: unknown field `kernel`",
    ),
    (
        r#"{"defaultAction": "SCMP_ACT_ALLOW""#,
        "seccomp profile JSON: EOF",
    ),
];

#[test]
fn refusals_name_the_field_and_value() {
    for (json, expected) in REFUSALS {
        match parse(json, &x86()) {
            Ok(p) => assert!(expected.is_empty(), "{json} was accepted: {p:?}"),
            Err(e) => {
                assert!(matches!(e, Error::InvalidSeccomp { .. }), "{e:?}");
                let message = e.to_string();
                assert!(
                    !expected.is_empty() && message.contains(expected),
                    "{json}\n  gave: {message}\n  want: {expected}"
                );
                let io: std::io::Error = e.into();
                assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
            }
        }
    }
}

#[test]
fn foreign_names_are_set_aside_not_ignored() {
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["open", "fork", "getpid"], "action": "SCMP_ACT_LOG"},
        {"names": ["sigreturn", "_newselect"], "action": "SCMP_ACT_ERRNO"}]}"#;
    let arm = target(Arch::Aarch64, CapabilitySet::empty(), Some((6, 18)));
    let p = parse(json, &arm).unwrap();
    assert_eq!(
        names(&p),
        ["getpid"],
        "a rule left with no native name is dropped"
    );
    assert_eq!(
        p.skipped_syscalls(),
        ["open", "fork", "sigreturn", "_newselect"]
    );
    let e = parse(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["open"], "action": "SCMP_ACT_LOG"}]}"#,
        &arm,
    );
    assert!(e.is_ok());
    let p = SeccompProfile::new(SeccompAction::Allow)
        .rule(SyscallRule::new(["open"], SeccompAction::Log));
    let e = compile(&p, Arch::Aarch64).unwrap_err().to_string();
    assert!(
        e.contains(
            "rules[0].names[0] \"open\": is a system call of another architecture, not of aarch64"
        ),
        "{e}"
    );
}
