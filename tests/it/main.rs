//! furnace's privileged integration suite: one test binary, one module per subject.
//!
//! Run through `cargo xtask itest` (root; the test image mounted read-only and named by
//! `FURNACE_TEST_IMAGE`). Every test works on its own throw-away overlay
//! ([`Scratch`](furnace_tests::Scratch)); the ones that check the whole machine for leftovers
//! hold their scratch exclusively and end with the leak oracle
//! ([`LeakCheck`](furnace_tests::LeakCheck)). Fixtures live in the `furnace_tests` library
//! (`tests/src`).
//!
//! Ids such as `E05` or `B10` in the tests' doc comments are entries of the security catalogue
//! (`shared/SECURITY.md` §7); `docs/SECURITY.md` maps furnace's promises to these tests.
//!
//! | module | subject |
//! |---|---|
//! | [`lifecycle`] | start and stop, PID 1, teardown, the owner dying, threads of the caller |
//! | [`commands`] | `Command`: exit statuses, environment, program lookup, ids, pipes |
//! | [`fds_cwd`] | which fds reach a command, and its working directory |
//! | [`mounts`] | the root, the standard mounts, propagation, the host's mounts |
//! | [`binds`] | bind mounts and their destinations |
//! | [`dev`] | `/dev`, ptys and loop devices, device rules |
//! | [`net`] | the host's network or an isolated one, `resolv.conf` |
//! | [`isolation`] | namespaces: what a container sees of the host and the caller, and back |
//! | [`hardened`] | the hardened profile's capabilities, masks and escapes |
//! | [`hardened_host`] | issue 15: device nodes from outside (`nodev`), the host's keyrings and the default seccomp filter, real userlands under it, callers' profiles, `kill 0` |
//! | [`hardened_userns`] | issue 15: the hardened profile with a user namespace of its own (`private_users`): the id range, idmapped roots, layers and binds, ids outside, stdio, setuid, attach |
//! | [`failure`] | failures at every stage (failpoints, injected system call errors) |
//! | [`input`] | bad roots, binds and hostnames get typed errors and leave nothing |
//! | [`load`] | many containers, zombie floods, a fenced fork bomb |
//! | [`cgroups`] | resource limits: where the cgroups are, pids, memory and CPU limits, usage, teardown, the sweep, bad limits |
//! | [`cgroup_parent`] | limits under a cgroup the caller names instead of its own |
//! | [`rootless`] | the CLI and the library as a user without root, with both id maps |
//! | [`rootless_roots`] | rootless, continued: roots that are mount points, PID 1 out of reach |
//! | [`roots`] | roots left as found: ephemeral and kept overlays, a read-only root, tmpfs mounts, what a start makes in a bare root removed, lengths checked |
//! | [`roots_owners`] | roots left as found, continued: an ephemeral container whose owner is killed, or has no root |
//! | [`roots_resolv`] | roots left as found, continued: `resolv.conf` in each mode (a root linked into `/run`, warnings, a link covered, a copy) |
//! | [`terminal`] | a pseudo-terminal of the container's own for a command: controlling terminal, Ctrl-C |
//! | [`named`] | detached, named containers: the lifetime, attach from other handles, timeout, stale entries, limits and profile kept |
//! | [`named_callers`] | named containers and other callers: names checked and raced, the CLI as starter, rootless users, no zombie |
//! | [`exec_init`] | issue 16: PID 1 becoming the bundle's process at a start gate (`exec_init`) |
//! | [`visibility`] | issue 16: masked and read-only paths, sysctls, `nodev`, a joined network namespace, the cgroup view, exact cgroup paths |
//! | [`oci`] | issue 16: `furnace-oci` driven directly, as the engines call it: lifecycle, console socket, bad bundles |
//! | [`oci_exec`] | issue 16: an exec's five capability sets as given; `Command::capability_sets` refused in the hardened profile |
//! | [`oci_hooks`] | issue 16: the bundle's hooks, where and when each runs, with the state on stdin; failing hooks |
//! | [`podman`] | issue 16: podman and conmon driving `furnace-oci` |
//! | [`podman_rootless`] | issue 16: rootless podman, as a throw-away user, driving `furnace-oci` |
//! | [`containerd`] | issue 16: a containerd daemon of the test's own and its runc shim driving `furnace-oci` |
//! | [`harness`] | the fixtures themselves: the image, the scratch, the leak oracle |

mod binds;
mod cgroup_parent;
mod cgroups;
mod commands;
mod containerd;
mod dev;
mod exec_init;
mod failure;
mod fds_cwd;
mod hardened;
mod hardened_host;
mod hardened_userns;
mod harness;
mod input;
mod isolation;
mod lifecycle;
mod load;
mod mounts;
mod named;
mod named_callers;
mod net;
mod oci;
mod oci_exec;
mod oci_hooks;
mod podman;
mod podman_rootless;
mod rootless;
mod rootless_roots;
mod roots;
mod roots_owners;
mod roots_resolv;
mod terminal;
mod visibility;

/// The helper binary (a caller process of its own: `tests/src/bin/furnace-test-helper.rs`).
const HELPER: &str = env!("CARGO_BIN_EXE_furnace-test-helper");
