//! Rootless, continued: roots that are mount points or hold a `sys` symlink, `--user root`
//! with one id, PID 1 out of reach from inside, and limits without a delegated cgroup. The
//! cases and their fixtures are [`crate::rootless`]'s.

use furnace_tests::hostside::HostMount;

use crate::rootless::{Case, Map};

/// Regression (issue 11, found by the rootless bench): a root that is already a mount point
/// (an overlay, a bind) is locked in a user namespace, and `pivot_root` refuses a locked
/// mount with `EINVAL`. Without root the root is therefore always bound onto itself first.
fn a_root_that_is_a_mount_point_works(map: Map) {
    let case = Case::new(map);
    let root = case.root.root();
    let _mount = HostMount::bind(&root, &root);
    assert!(
        furnace_sys::mountinfo::is_mount_point(&root).expect("stat the root"),
        "the root is a mount point now"
    );
    let ran = case.furnace_on(&root, &[], &["sh", "-c", "id -u; ls /bin/sh"]);
    assert!(ran.status.success(), "{ran:?}");
    assert_eq!(ran.stdout, "0\n/bin/sh\n");
}

/// A root that is a mount point works without root (single-id map).
#[test]
fn a_root_that_is_a_mount_point_works_single_map() {
    a_root_that_is_a_mount_point_works(Map::Single);
}

/// A root that is a mount point works without root (subordinate ids).
#[test]
fn a_root_that_is_a_mount_point_works_subid_map() {
    a_root_that_is_a_mount_point_works(Map::Subids);
}

/// Without root, PID 1 is out of reach of root inside even in the privileged profile (which
/// keeps `CAP_SYS_PTRACE`): PID 1 never executed a program in the user namespace, so its
/// memory belongs to the initial one, where no process inside has a capability. Its
/// namespace files, environment and memory cannot be opened.
fn pid1_is_out_of_reach_inside(map: Map) {
    let case = Case::new(map);
    let out = case.sh_ok(
        &[],
        "grep -q 'CapEff:.*[1-9a-f]' /proc/self/status && echo has-capabilities; \
         for f in /proc/1/ns/mnt /proc/1/environ /proc/1/mem; do \
           if cat $f > /dev/null 2>&1; then echo readable $f; else echo refused $f; fi; \
         done",
    );
    assert_eq!(
        out,
        "has-capabilities\nrefused /proc/1/ns/mnt\nrefused /proc/1/environ\nrefused /proc/1/mem\n",
        "root inside (with capabilities) cannot open PID 1's files"
    );
}

/// PID 1's namespace files, environment and memory are closed to root inside (single-id map).
#[test]
fn pid1_is_out_of_reach_inside_single_map() {
    pid1_is_out_of_reach_inside(Map::Single);
}

/// PID 1's namespace files, environment and memory are closed to root inside (subordinate
/// ids).
#[test]
fn pid1_is_out_of_reach_inside_subid_map() {
    pid1_is_out_of_reach_inside(Map::Subids);
}

/// Regression (issue 11 review): `--user root` looks up gid 0 and the groups `[0]`; with a
/// single mapped id (`setgroups` denied) that list asks for nothing `setgid` does not do, and
/// the command runs — before, `setgroups([0])` failed with a bare `EPERM`.
#[test]
fn user_root_runs_with_a_single_map() {
    let case = Case::new(Map::Single);
    assert_eq!(case.sh_ok(&["--user", "root"], "id -u; id -g"), "0\n0\n");
}

/// Regression (issue 11 review): without a network namespace of its own, the host's `/sys`
/// is attached like a standard filesystem, to a real directory: a root whose `sys` is a
/// symlink (here to `etc`) is refused, and nothing is mounted over what the link names.
fn sys_symlinked_in_the_root_is_refused(map: Map) {
    let case = Case::new(map);
    let sys = case.root.host_path("/sys");
    std::fs::remove_dir(&sys).expect("remove the root's /sys");
    std::os::unix::fs::symlink("etc", &sys).expect("plant sys -> etc");
    let _ = std::os::unix::fs::lchown(&sys, Some(case.user.uid()), Some(case.user.gid()));
    let ran = case.furnace_on(&case.root.root(), &[], &["cat", "/etc/passwd"]);
    assert_eq!(ran.status.code(), Some(125), "{ran:?}");
    assert!(ran.stderr.contains("/sys"), "the step names /sys: {ran:?}");
}

/// A `sys -> etc` symlink in the root is refused, not followed (single-id map).
#[test]
fn sys_symlinked_in_the_root_is_refused_single_map() {
    sys_symlinked_in_the_root_is_refused(Map::Single);
}

/// A `sys -> etc` symlink in the root is refused, not followed (subordinate ids).
#[test]
fn sys_symlinked_in_the_root_is_refused_subid_map() {
    sys_symlinked_in_the_root_is_refused(Map::Subids);
}

/// Issue 12: without root, a limit needs cgroups the user may write; without them the start
/// fails before anything is made, saying so and naming how to get them (on this hybrid host:
/// v1 cgroups handed over by root, which systemd's delegation does not give).
#[test]
fn limits_without_a_delegated_cgroup_are_refused_plainly() {
    let case = Case::new(Map::Single);
    let ran = case.furnace_on(&case.root.root(), &["--memory", "64M"], &["true"]);
    assert_eq!(ran.status.code(), Some(125), "{ran:?}");
    assert_eq!(ran.stderr.lines().count(), 1, "one line: {ran:?}");
    assert!(
        ran.stderr
            .contains("without root, limits need cgroups the user may write")
            && ran.stderr.contains("handed over by root"),
        "the message names the fix: {ran:?}"
    );
    assert!(
        ran.stderr.contains("EACCES"),
        "and the kernel's answer: {ran:?}"
    );
}

/// Regression (issue 11, found after it): without root, looking inside the container through
/// `/proc/<pid>/root` fails the kernel's ptrace check against PID 1, so `furnace shell` always
/// fell back to `/bin/sh`; PID 1 now hands over an fd of its root. A `bash` in the root is
/// chosen (here a script standing in for it, which says so).
fn shell_finds_bash_in_the_root(map: Map) {
    let case = Case::new(map);
    let bash = case.root.host_path("/bin/bash");
    std::fs::write(&bash, "#!/bin/sh\necho chosen-bash \"$@\"\n").expect("write /bin/bash");
    std::fs::set_permissions(&bash, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod /bin/bash");
    std::os::unix::fs::lchown(&bash, Some(case.user.uid()), Some(case.user.gid()))
        .expect("chown /bin/bash");
    let ran = case.shell();
    assert!(ran.status.success(), "{ran:?}");
    // The shell reads the root's start-up files (issue 14): an outer `bash -c` that execs the
    // interactive one with furnace's rc.
    assert!(ran.stdout.starts_with("chosen-bash -c "), "{ran:?}");
}

/// `furnace shell` finds bash in the root without root (single-id map).
#[test]
fn shell_finds_bash_in_the_root_single_map() {
    shell_finds_bash_in_the_root(Map::Single);
}

/// `furnace shell` finds bash in the root without root (subordinate ids).
#[test]
fn shell_finds_bash_in_the_root_subid_map() {
    shell_finds_bash_in_the_root(Map::Subids);
}
