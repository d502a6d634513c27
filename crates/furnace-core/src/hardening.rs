//! The hardened profile's lists — capabilities kept, paths masked, paths made read-only — and
//! the input check that keeps a mount of the caller from being hidden or made read-only by
//! them.

use std::path::Path;

use crate::error::{Error, PathProblem, Result};

/// The capabilities commands keep in the hardened profile: containerd's default set.
///
/// Docker's list also has `MKNOD`, `NET_RAW`, `SETFCAP`, `SYS_CHROOT` and `AUDIT_WRITE`;
/// Docker pairs `MKNOD` with a device cgroup that furnace does not have, so with it root
/// inside could make and open a node of a host disk. containerd 2.0 dropped the five for the
/// same kind of reasons.
pub const HARDENED_CAPABILITIES: [furnace_sys::caps::Cap; 9] = {
    use furnace_sys::caps::Cap;
    [
        Cap::CAP_CHOWN,
        Cap::CAP_DAC_OVERRIDE,
        Cap::CAP_FSETID,
        Cap::CAP_FOWNER,
        Cap::CAP_SETGID,
        Cap::CAP_SETUID,
        Cap::CAP_SETPCAP,
        Cap::CAP_NET_BIND_SERVICE,
        Cap::CAP_KILL,
    ]
};

/// Paths the hardened profile hides: Docker's masked list. `thermal_throttle` directories are
/// per CPU; the caller passes those it found in the host's `/sys` (the same sysfs the
/// container mounts).
pub(crate) const MASKED_PATHS: [&str; 12] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

/// Paths the hardened profile makes read-only: the engines' common list.
pub(crate) const READ_ONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

pub(crate) fn hardened_capability_mask() -> u64 {
    HARDENED_CAPABILITIES
        .iter()
        .fold(0, |mask, cap| mask | cap.bitmask())
}

/// In the hardened profile, a mount onto a masked path would be hidden by the mask made after
/// it, and a writable one under a read-only path would be made read-only: both are refused, so
/// that nothing the caller mounts silently loses what is written to it. `dest` is where the
/// mount will really be (symlinks of the root followed); `error` makes the caller's error.
pub(crate) fn check_destination(
    dest: &Path,
    read_only: bool,
    error: impl FnOnce(PathProblem) -> Error,
) -> Result<()> {
    let under = |list: &[&str]| list.iter().any(|p| dest.starts_with(p));
    let problem = if under(&MASKED_PATHS) || is_thermal_throttle(dest) {
        Some("is hidden by the hardened profile (a masked path)")
    } else if dest == Path::new("/dev") || dest == Path::new("/dev/null") {
        Some("would replace the /dev/null the hardened profile masks files with")
    } else if !read_only && under(&READ_ONLY_PATHS) {
        Some("is read-only in the hardened profile: make the bind read-only")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(error(PathProblem::KindMismatch(problem))),
        None => Ok(()),
    }
}

/// `/sys/devices/system/cpu/cpu*/thermal_throttle` and below (masked per CPU).
fn is_thermal_throttle(dest: &Path) -> bool {
    let Ok(rest) = dest.strip_prefix("/sys/devices/system/cpu") else {
        return false;
    };
    let mut parts = rest.components();
    let cpu = parts
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    cpu.is_some_and(|c| c.starts_with("cpu"))
        && parts
            .next()
            .is_some_and(|c| c.as_os_str() == "thermal_throttle")
}
