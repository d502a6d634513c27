//! seccomp filters: attaching a classic-BPF program to the calling thread.
//!
//! Compiling a profile into programs is furnace-core's business (it uses `seccompiler`); this
//! module only has the fork-safe attach, [`forksafe::attach_filter`], which — unlike
//! seccompiler's own — does not set `no_new_privs` on the way: the hardened profile sets it
//! anyway, but a privileged container given a profile must keep running setuid programs.

pub mod forksafe;

// `Instruction` is passed to the kernel as its `sock_filter`.
const _: () = assert!(
    std::mem::size_of::<Instruction>() == std::mem::size_of::<libc::sock_filter>()
        && std::mem::align_of::<Instruction>() == std::mem::align_of::<libc::sock_filter>()
);

/// One classic-BPF instruction, laid out as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instruction {
    /// The operation.
    pub code: u16,
    /// The jump offset when the condition holds.
    pub jt: u8,
    /// The jump offset when it does not.
    pub jf: u8,
    /// The operand.
    pub k: u32,
}
