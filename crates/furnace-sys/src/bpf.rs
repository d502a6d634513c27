//! eBPF device filters for cgroup v2: cgroup v2 has no `devices.allow` and `devices.deny`;
//! which device nodes a cgroup's processes may open or make is decided by a program of type
//! `BPF_PROG_TYPE_CGROUP_DEVICE` attached to it. [`device_filter`] writes one from rules,
//! [`load_device_filter`] loads it and [`attach_device_filter`] attaches it.
//!
//! The program reads the kernel's `struct bpf_cgroup_dev_ctx` (the access and device type,
//! the major and minor numbers) and answers 1 (allowed) or 0 (denied). The rules are tried
//! from the last to the first and the first that matches decides — the last matching rule
//! wins, as with v1's lists — and a request no rule matches is denied.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::error::{check, Error, Result};

/// Access bit: making the node (`mknod`).
pub const ACCESS_MKNOD: u32 = 1;
/// Access bit: opening for reading.
pub const ACCESS_READ: u32 = 2;
/// Access bit: opening for writing.
pub const ACCESS_WRITE: u32 = 4;
/// Device type: block.
pub const DEVICE_BLOCK: u32 = 1;
/// Device type: character.
pub const DEVICE_CHAR: u32 = 2;

/// One rule of a device filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceFilterRule {
    /// Whether a request the rule matches is allowed.
    pub allow: bool,
    /// [`DEVICE_BLOCK`] or [`DEVICE_CHAR`]; `None`: both.
    pub kind: Option<u32>,
    /// The major number; `None`: any.
    pub major: Option<u32>,
    /// The minor number; `None`: any.
    pub minor: Option<u32>,
    /// The [`ACCESS_MKNOD`], [`ACCESS_READ`] and [`ACCESS_WRITE`] bits the rule covers: it
    /// matches a request whose bits it covers all.
    pub access: u32,
}

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Insn {
    /// The operation.
    pub code: u8,
    /// The destination register (low four bits) and the source register (high four).
    pub regs: u8,
    /// The jump or memory offset.
    pub off: i16,
    /// The immediate operand.
    pub imm: i32,
}

const _: () = assert!(std::mem::size_of::<Insn>() == 8);

// Opcodes (linux/bpf.h, linux/bpf_common.h).
const LDX_MEM_W: u8 = 0x61;
const ALU64_AND_K: u8 = 0x57;
const ALU64_RSH_K: u8 = 0x77;
const ALU64_MOV_K: u8 = 0xb7;
const ALU64_MOV_X: u8 = 0xbf;
const JMP32_JNE_K: u8 = 0x56;
const JMP32_JNE_X: u8 = 0x5e;
const EXIT: u8 = 0x95;

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// The program for `rules` (see the module's doc for how they are applied).
///
/// No system call.
///
/// ```
/// use furnace_sys::bpf::{device_filter, DeviceFilterRule, ACCESS_READ, ACCESS_WRITE, DEVICE_CHAR};
/// // /dev/null (1:3), readable and writable; everything else denied.
/// let null = DeviceFilterRule {
///     allow: true,
///     kind: Some(DEVICE_CHAR),
///     major: Some(1),
///     minor: Some(3),
///     access: ACCESS_READ | ACCESS_WRITE,
/// };
/// let program = device_filter(&[null]);
/// assert_eq!(program.len(), 6 + 8 + 2);
/// ```
pub fn device_filter(rules: &[DeviceFilterRule]) -> Vec<Insn> {
    // r2: the device type; r3: the access bits; r4: major; r5: minor (r1: the context).
    let mut program = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU64_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU64_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in rules.iter().rev() {
        let mut block = Vec::new();
        // Each check jumps past the rest of the block when it fails: its offset is filled in
        // once the block's length is known.
        let mut checks = Vec::new();
        if let Some(kind) = rule.kind {
            checks.push(block.len());
            block.push(insn(JMP32_JNE_K, 2, 0, 0, kind as i32));
        }
        block.push(insn(ALU64_MOV_X, 1, 3, 0, 0));
        block.push(insn(ALU64_AND_K, 1, 0, 0, rule.access as i32));
        checks.push(block.len());
        block.push(insn(JMP32_JNE_X, 1, 3, 0, 0));
        if let Some(major) = rule.major {
            checks.push(block.len());
            block.push(insn(JMP32_JNE_K, 4, 0, 0, major as i32));
        }
        if let Some(minor) = rule.minor {
            checks.push(block.len());
            block.push(insn(JMP32_JNE_K, 5, 0, 0, minor as i32));
        }
        block.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(rule.allow)));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let end = block.len();
        for at in checks {
            block[at].off = (end - at - 1) as i16;
        }
        program.extend(block);
    }
    program.push(insn(ALU64_MOV_K, 0, 0, 0, 0));
    program.push(insn(EXIT, 0, 0, 0, 0));
    program
}

/// `union bpf_attr` as `BPF_PROG_LOAD` reads it (the fields up to `expected_attach_type`).
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` as `BPF_PROG_ATTACH` reads it.
#[repr(C)]
#[derive(Default)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// `bpf(BPF_PROG_LOAD, {BPF_PROG_TYPE_CGROUP_DEVICE, program})`: loads a device filter into
/// the kernel, which verifies it; the program's fd (close-on-exec, as the kernel makes it).
/// Needs `CAP_SYS_ADMIN` (or `CAP_BPF`).
///
/// See `bpf(2)`.
pub fn load_device_filter(program: &[Insn]) -> Result<OwnedFd> {
    let license = c"MIT";
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: program.len() as u32,
        insns: program.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..ProgLoad::default()
    };
    attr.prog_name[..7].copy_from_slice(b"furnace");
    // SAFETY: `attr` is a valid `bpf_attr` prefix of the size given; the kernel reads the
    // instructions and the license through the pointers, which outlive the call.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoad,
            std::mem::size_of::<ProgLoad>(),
        )
    })
    .map_err(|e| {
        Error::new(
            "bpf",
            format!(
                "BPF_PROG_LOAD (a device filter of {} instructions)",
                program.len()
            ),
            e,
        )
    })?;
    // SAFETY: the call returned a new fd, owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `bpf(BPF_PROG_ATTACH, {cgroup, program, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI})`: attaches
/// a loaded device filter to the cgroup whose directory `cgroup` holds (an `O_PATH` fd is
/// reopened for reading first, as the call needs); other programs attached there or above
/// keep applying too. The attachment lasts as long as the cgroup.
///
/// See `bpf(2)`.
pub fn attach_device_filter(cgroup: BorrowedFd<'_>, program: BorrowedFd<'_>) -> Result<()> {
    use std::os::fd::AsRawFd;
    let dir = rustix::fs::openat(
        cgroup,
        c".",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| Error::new("openat", "the cgroup directory (for BPF_PROG_ATTACH)", e))?;
    let attr = ProgAttach {
        target_fd: dir.as_fd().as_raw_fd() as u32,
        attach_bpf_fd: program.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..ProgAttach::default()
    };
    // SAFETY: `attr` is a valid `bpf_attr` prefix of the size given; both fds are open for
    // the length of the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const ProgAttach,
            std::mem::size_of::<ProgAttach>(),
        )
    })
    .map(drop)
    .map_err(|e| {
        Error::new(
            "bpf",
            "BPF_PROG_ATTACH (a device filter, BPF_CGROUP_DEVICE)",
            e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_jump_past_their_rule() {
        let any_char_read = DeviceFilterRule {
            allow: true,
            kind: Some(DEVICE_CHAR),
            major: None,
            minor: None,
            access: ACCESS_READ,
        };
        let p = device_filter(&[any_char_read]);
        // Loads (6), then: type check, mov, and, access check, mov r0, exit; the default.
        assert_eq!(p.len(), 6 + 6 + 2);
        assert_eq!((p[6].code, p[6].off), (JMP32_JNE_K, 5));
        assert_eq!((p[9].code, p[9].off), (JMP32_JNE_X, 2));
        assert_eq!((p[10].code, p[10].imm), (ALU64_MOV_K, 1));
        assert_eq!((p[12].code, p[12].imm), (ALU64_MOV_K, 0));
        assert_eq!(p[13].code, EXIT);
    }

    #[test]
    fn the_last_rule_is_tried_first() {
        let rule = |allow, major| DeviceFilterRule {
            allow,
            kind: None,
            major: Some(major),
            minor: None,
            access: ACCESS_READ,
        };
        let p = device_filter(&[rule(true, 1), rule(false, 2)]);
        // The first block is the deny rule's (major 2).
        assert_eq!((p[9].code, p[9].imm), (JMP32_JNE_K, 2));
        assert_eq!(p[10].imm, 0);
    }
}
