//! furnace's default profile: every system call but the groups below, which fail with
//! `EPERM`; one numbered above furnace's table fails with `ENOSYS`. The reasons are in
//! [`SeccompProfile::default_profile`]'s documentation, one line per group here.

use super::compile::Arch;
use super::{ArgCondition, ArgOp, SeccompAction, SeccompProfile, SyscallRule};
use furnace_sys::caps::Cap;
use furnace_sys::cred::CapabilitySet;

const EPERM: u16 = libc::EPERM as u16;
const ENOSYS: u16 = libc::ENOSYS as u16;

/// The groups refused with `EPERM`. Names a given architecture lacks are left out for it.
pub(super) const DENIED: &[(&str, &[&str])] = &[
    // Not namespaced: a container would share keys with the host's users of its uids.
    ("kernel keyrings", &["keyctl", "add_key", "request_key"]),
    // Large kernel surface; tracing shows host-wide data.
    ("eBPF and perf", &["bpf", "perf_event_open"]),
    // Stalls page faults at will: the usual way to widen a kernel race.
    ("userfaultfd", &["userfaultfd"]),
    // Code into the host's kernel, or a new kernel.
    (
        "kernel modules and kexec",
        &[
            "init_module",
            "finit_module",
            "delete_module",
            "create_module",
            "get_kernel_syms",
            "query_module",
            "kexec_load",
            "kexec_file_load",
        ],
    ),
    // Opening an inode by number walks around the container's root ("shocker").
    ("file handles", &["open_by_handle_at", "name_to_handle_at"]),
    // Other processes' memory and files; Docker wants CAP_SYS_PTRACE.
    (
        "tracing other processes",
        &[
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
        ],
    ),
    // Host-wide state.
    (
        "accounting, swap, reboot",
        &["acct", "swapon", "swapoff", "reboot", "vhangup"],
    ),
    // The clock is the host's; adjtimex's modifying is behind a pointer (CAP_SYS_TIME).
    (
        "the clock",
        &["settimeofday", "clock_settime", "clock_adjtime"],
    ),
    // Changing the mount tree could uncover masked paths.
    (
        "mounts",
        &[
            "mount",
            "umount2",
            "pivot_root",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "move_mount",
            "open_tree",
            "open_tree_attr",
            "mount_setattr",
        ],
    ),
    // A new user namespace opens kernel code to root inside it (clone: see below).
    ("namespaces", &["unshare", "setns"]),
    // Direct hardware access.
    ("port I/O", &["iopl", "ioperm"]),
    // The kernel log, filesystem quotas, whole-filesystem watches.
    (
        "host logs, quotas, fanotify",
        &["syslog", "quotactl", "quotactl_fd", "fanotify_init"],
    ),
    // Large, often exploited, and its operations escape seccomp.
    (
        "io_uring",
        &["io_uring_setup", "io_uring_enter", "io_uring_register"],
    ),
    // Memory placement on the host's nodes; Docker wants CAP_SYS_NICE.
    (
        "NUMA placement",
        &[
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
            "get_mempolicy",
            "migrate_pages",
            "move_pages",
        ],
    ),
    // Obsolete or never implemented: old, little-reviewed code.
    (
        "obsolete calls",
        &[
            "lookup_dcookie",
            "uselib",
            "ustat",
            "sysfs",
            "_sysctl",
            "nfsservctl",
            "afs_syscall",
            "tuxcall",
            "security",
            "vserver",
            "getpmsg",
            "putpmsg",
            "epoll_ctl_old",
            "epoll_wait_old",
        ],
    ),
];

/// The `CLONE_NEW*` flags `clone(2)` takes in its first argument (`CLONE_NEWTIME` only goes
/// through `clone3` and `unshare`, whose low byte in `clone` is the exit signal).
pub(super) const CLONE_NEW_FLAGS: [u64; 7] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];

/// The `personality(2)` values allowed: `PER_LINUX`, `PER_LINUX32`, `UNAME26`,
/// `PER_LINUX32 | UNAME26`, and the query.
pub(super) const SAFE_PERSONALITIES: [u64; 5] = [0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// The `ioctl(2)` requests refused with `EPERM`: `TIOCSTI` (0x5412) and `TIOCLINUX` (0x541c),
/// the same numbers on x86_64 and aarch64.
pub(super) const TERMINAL_INJECTION: [u64; 2] = [0x5412, 0x541c];

pub(super) fn profile(arch: Arch) -> SeccompProfile {
    profile_for(arch, CapabilitySet::empty())
}

/// What each capability lets through, as Docker's default profile does for a container given
/// it: a process that may mount, trace or set the clock anyway loses nothing to the filter.
pub(super) const ALLOWED_BY: &[(Cap, &[&str])] = &[
    (
        Cap::CAP_SYS_ADMIN,
        &[
            "bpf",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "name_to_handle_at",
            "open_tree",
            "open_tree_attr",
            "perf_event_open",
            "pivot_root",
            "quotactl",
            "quotactl_fd",
            "setns",
            "syslog",
            "umount2",
            "unshare",
        ],
    ),
    (Cap::CAP_DAC_READ_SEARCH, &["open_by_handle_at"]),
    (Cap::CAP_SYS_BOOT, &["reboot"]),
    (
        Cap::CAP_SYS_MODULE,
        &["init_module", "finit_module", "delete_module"],
    ),
    (Cap::CAP_SYS_PACCT, &["acct"]),
    (
        Cap::CAP_SYS_PTRACE,
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    (Cap::CAP_SYS_RAWIO, &["iopl", "ioperm"]),
    (
        Cap::CAP_SYS_TIME,
        &["settimeofday", "clock_settime", "clock_adjtime"],
    ),
    (Cap::CAP_SYS_TTY_CONFIG, &["vhangup"]),
    (
        Cap::CAP_SYS_NICE,
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    (Cap::CAP_SYSLOG, &["syslog"]),
    (Cap::CAP_BPF, &["bpf"]),
    (Cap::CAP_PERFMON, &["perf_event_open"]),
];

/// The capabilities of [`ALLOWED_BY`], as a set.
pub(super) fn relaxing() -> CapabilitySet {
    ALLOWED_BY
        .iter()
        .fold(CapabilitySet::empty(), |set, (cap, _)| {
            set | CapabilitySet::from_bits_retain(cap.bitmask())
        })
}

/// The default profile for a process holding `capabilities`: each one of [`ALLOWED_BY`] lets
/// its calls through, and `CAP_SYS_ADMIN` also `clone` with namespace flags and `clone3`.
pub(super) fn profile_for(arch: Arch, capabilities: CapabilitySet) -> SeccompProfile {
    let holds = |cap: Cap| capabilities.contains(CapabilitySet::from_bits_retain(cap.bitmask()));
    let allowed_by_caps: std::collections::HashSet<&str> = ALLOWED_BY
        .iter()
        .filter(|(cap, _)| holds(*cap))
        .flat_map(|(_, names)| names.iter().copied())
        .collect();
    let namespaces = holds(Cap::CAP_SYS_ADMIN);
    // Everything is allowed but what the rules refuse, and a call above furnace's table (one
    // added to the kernel later) answers ENOSYS: the same as an allow-list of the table, in a
    // filter a fraction of the size. The kernel runs it for every system call, and at attach
    // time for every system call number (its cache of constant answers), so its length is
    // what a command's start pays: 1 ms for the allow-list's 2,500 instructions.
    let mut profile = SeccompProfile::new(SeccompAction::Allow);
    profile.unknown_enosys = true;

    // clone: EPERM with any namespace flag (one rule per flag: or).
    if !namespaces {
        for flag in CLONE_NEW_FLAGS {
            profile = profile.rule(
                SyscallRule::new(["clone"], SeccompAction::Errno(EPERM))
                    .condition(ArgCondition::masked_eq(0, flag, flag)),
            );
        }
    }

    // personality: any but the safe values EPERM (all of `!=`: and).
    let mut other_personality = SyscallRule::new(["personality"], SeccompAction::Errno(EPERM));
    for value in SAFE_PERSONALITIES {
        other_personality =
            other_personality.condition(ArgCondition::new(0, ArgOp::NotEqual, value));
    }
    profile = profile.rule(other_personality);

    for (_, names) in DENIED {
        let present: Vec<&str> = names
            .iter()
            .copied()
            .filter(|name| arch.number(name).is_some() && !allowed_by_caps.contains(name))
            .collect();
        if !present.is_empty() {
            profile = profile.rule(SyscallRule::new(present, SeccompAction::Errno(EPERM)));
        }
    }

    // Terminal input injection (TIOCSTI) and the console's TIOCLINUX: typing into a terminal
    // the container was handed pushes commands into whoever reads it next. The kernel takes
    // the command as 32 bits, so only those are compared (high bits set must not slip past).
    for request in TERMINAL_INJECTION {
        profile = profile.rule(
            SyscallRule::new(["ioctl"], SeccompAction::Errno(EPERM))
                .condition(ArgCondition::masked_eq(1, 0xffff_ffff, request)),
        );
    }

    // clone3's flags are in memory, out of seccomp's sight: ENOSYS makes glibc use clone.
    if namespaces {
        profile
    } else {
        profile.rule(SyscallRule::new(["clone3"], SeccompAction::Errno(ENOSYS)))
    }
}
