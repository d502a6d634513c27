//! Fixtures for furnace's privileged integration suite (`cargo xtask itest`, the test binary
//! `tests/it`).
//!
//! - [`image()`]: the read-only test image the runner mounted (`FURNACE_TEST_IMAGE`).
//! - [`scratch`]: [`Scratch`], a per-test throw-away overlay over the image, unmounted and
//!   removed on drop even when the test panics; [`TempDir`]; [`PlainRoot`], a root that is not
//!   a mount point; the gate that lets a test hold the machine alone.
//! - [`mod@run`]: start a container ([`start`] and friends) and run something in it ([`sh`],
//!   [`sh_ok`], [`run()`](run::run)), collecting what it printed.
//! - [`wait`]: deadlines ([`wait_until`], [`within`], [`wait_child`], [`settle`]), so that a
//!   broken container fails a test instead of hanging the suite (never used to assert speed).
//! - [`proc`]: the one `/proc/PID/stat` reader, process listings, `SIGKILL`, namespaces, machine
//!   figures.
//! - [`mod@mounts`]: the mount table (through `furnace_sys::mountinfo`) and attached loop devices.
//! - [`leak`]: [`LeakCheck`], the leak oracle for tests that must prove nothing is left behind.
//! - [`cgroups`]: the host's `furnace-*` cgroups and their owners, this process's own cgroups,
//!   `/proc/PID/cgroup`, and [`CgroupWatch`](cgroups::CgroupWatch), which sees cgroups being
//!   made.
//! - [`helper`]: drives the `furnace-test-helper` binary, for callers that die or panic.
//! - [`probe`]: the static `/probe` helper (built from `tests/probe/probe.c`) and its answers.
//! - [`ipc`]: a SysV segment and a POSIX queue made on the host, and look-ups of both.
//! - [`hostside`]: an outside directory that must stay untouched, host mount guards, symlinks
//!   planted in a root, the harness pids cgroup that fences fork bombs.
//! - [`user`]: [`TestUser`], a throw-away unprivileged user (with or without subordinate id
//!   ranges) removed on drop, and [`BusyboxRoot`], a minimal root it owns, for the rootless
//!   tests.
//!
//! Tests run four at a time in threads of one process. Every test works on its own
//! [`Scratch`]; a test that checks the whole machine for leaks takes the scratch gate
//! exclusively ([`Scratch::exclusive`]), so that no other test's containers, mounts or
//! processes come and go while it looks.

use std::time::Duration;

pub mod cgroups;
pub mod helper;
pub mod hostside;
pub mod image;
pub mod ipc;
pub mod leak;
pub mod mounts;
pub mod probe;
pub mod proc;
pub mod run;
pub mod scratch;
pub mod user;
pub mod wait;

pub use helper::Helper;

/// The `furnace-oci` binary `cargo xtask itest` builds and names in `FURNACE_OCI`.
pub fn oci_binary() -> std::path::PathBuf {
    std::env::var_os("FURNACE_OCI")
        .map(std::path::PathBuf::from)
        .expect("FURNACE_OCI is not set: run the suite through cargo xtask itest")
}
pub use image::{image, IMAGE_ENV};
pub use leak::LeakCheck;
pub use mounts::{attached_loop_devices, mount_points_under, mounts, mounts_of};
pub use proc::{
    alive, all_processes, in_root_of, ns_of, proc_stat, processes_in_pid_ns, sigkill, sysctl,
    ProcStat,
};
pub use run::{profile, ps_lines, run, sh, sh_ok, start, start_hardened, start_isolated};
pub use run::{start_profile, Ran};
pub use scratch::{unique_name, PlainRoot, Scratch, TempDir};
pub use user::{BusyboxRoot, TestUser};
pub use wait::{settle, wait_child, wait_until, within};

/// The generous deadline for anything that should take well under a second.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// How long the leak oracle lets things disappear on their own (network namespaces and
/// autoclear loop devices go away asynchronously).
pub const GRACE: Duration = Duration::from_secs(3);
