//! Rootless: the CLI and the library used by a user without root, through user namespaces.
//!
//! Every case runs as a throw-away unprivileged user ([`TestUser`]) over a busybox root it owns
//! ([`BusyboxRoot`]), and most run with both maps: the single-id map (a user without
//! subordinate ids; the CLI's `--no-subids`, the library's `IdMapping::Single`) and
//! subordinate ids (a user with a range in `/etc/subuid` and `/etc/subgid`; the defaults). The
//! CLI is the `furnace` binary `cargo xtask itest` builds and names in `FURNACE_CLI`; the
//! library is driven through `furnace-test-helper rootless`. Both are copied where the user can
//! run them.
//!
//! When the kernel forbids unprivileged user namespaces, every test here fails, saying why:
//! they never skip.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use furnace_core::HARDENED_CAPABILITIES;
use furnace_tests::user::{chown_tree, leftover_lines, output_within, SUBID_COUNT};
use furnace_tests::*;

use crate::HELPER;

/// The variable through which `cargo xtask itest` names the `furnace` binary.
const CLI_ENV: &str = "FURNACE_CLI";

/// The `furnace` binary under test.
fn cli() -> PathBuf {
    let Some(path) = std::env::var_os(CLI_ENV) else {
        panic!(
            "{CLI_ENV} is not set: the rootless tests run the furnace binary that `cargo xtask \
             itest` builds; run through cargo xtask itest"
        );
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_absolute() && path.is_file(),
        "{CLI_ENV}={} does not name the furnace binary: run through cargo xtask itest",
        path.display()
    );
    path
}

/// How the user's ids are mapped into the user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Map {
    /// One id: a user without subordinate ids, `--no-subids`, `IdMapping::Single`.
    Single,
    /// Subordinate ids: a user with ranges, the CLI's default, `IdMapping::Auto`.
    Subids,
}

impl Map {
    /// The CLI's options for this map.
    fn flags(self) -> &'static [&'static str] {
        match self {
            Map::Single => &["--no-subids"],
            Map::Subids => &[],
        }
    }

    /// The helper's mapping argument for this map.
    fn helper_mapping(self) -> &'static str {
        match self {
            Map::Single => "single",
            Map::Subids => "auto",
        }
    }
}

/// One rootless case: the scratch gate held (so that the leak-checking tests see nothing of
/// this one), a user for the map, a root it owns, the CLI copied where it can run it.
pub(crate) struct Case {
    map: Map,
    pub(crate) root: BusyboxRoot,
    cli: PathBuf,
    pub(crate) user: TestUser,
    // Dropped last: the gate opens once the user and its root are gone.
    _scratch: Scratch,
}

impl Case {
    /// A case alongside other tests.
    pub(crate) fn new(map: Map) -> Case {
        Case::with_scratch(map, Scratch::new())
    }

    /// A case alone on the machine (for [`LeakCheck`]).
    fn exclusive(map: Map) -> Case {
        Case::with_scratch(map, Scratch::exclusive())
    }

    fn with_scratch(map: Map, scratch: Scratch) -> Case {
        let user = TestUser::create(map == Map::Subids);
        Case {
            map,
            root: user.busybox_root(),
            cli: user.install(cli()),
            user,
            _scratch: scratch,
        }
    }

    /// `furnace run [--no-subids] OPTIONS ROOT COMMAND...` as the user, over `root`.
    pub(crate) fn furnace_on(&self, root: &Path, options: &[&str], command: &[&str]) -> Ran {
        let mut cmd = self.user.command(&self.cli);
        cmd.arg("run")
            .args(self.map.flags())
            .args(options)
            .arg(root)
            .args(command);
        let what = format!(
            "furnace run {} {} ROOT {} (as {}, {:?} map)",
            self.map.flags().join(" "),
            options.join(" "),
            command.join(" "),
            self.user.name(),
            self.map
        );
        let ran = output_within(&mut cmd, &what);
        eprintln!(
            "{what}: {}\n--- stdout\n{}--- stderr\n{}---",
            ran.status, ran.stdout, ran.stderr
        );
        ran
    }

    /// `furnace shell [--no-subids] ROOT` as the user, stdin empty.
    pub(crate) fn shell(&self) -> Ran {
        let mut cmd = self.user.command(&self.cli);
        cmd.arg("shell")
            .args(self.map.flags())
            .arg(self.root.root());
        let what = format!(
            "furnace shell (as {}, {:?} map)",
            self.user.name(),
            self.map
        );
        let ran = output_within(&mut cmd, &what);
        eprintln!(
            "{what}: {}\n--- stdout\n{}--- stderr\n{}---",
            ran.status, ran.stdout, ran.stderr
        );
        ran
    }

    /// [`furnace_on`](Case::furnace_on) the user's root.
    fn furnace(&self, options: &[&str], command: &[&str]) -> Ran {
        self.furnace_on(&self.root.root(), options, command)
    }

    /// `furnace run ... ROOT sh -c SCRIPT`, which must succeed; its stdout.
    pub(crate) fn sh_ok(&self, options: &[&str], script: &str) -> String {
        let ran = self.furnace(options, &["sh", "-c", script]);
        assert!(
            ran.status.success(),
            "`{script}` ({:?} map, options {options:?}) failed: {}\nstdout: {}\nstderr: {}",
            self.map,
            ran.status,
            ran.stdout,
            ran.stderr
        );
        ran.stdout
    }

    /// A directory of the root made (and owned) by the user, e.g. a bind destination.
    fn mkdir(&self, inside: &str) -> PathBuf {
        let path = self.root.host_path(inside);
        fs::create_dir_all(&path).expect("mkdir in the root");
        chown_tree(&path, self.user.uid(), self.user.gid());
        path
    }
}

/// Asserts furnace's own failure: status 125 and one line `furnace: ...` naming every needle.
#[track_caller]
fn assert_furnace_failure(ran: &Ran, needles: &[&str]) {
    assert_eq!(ran.status.code(), Some(125), "{ran:?}");
    assert_eq!(ran.stderr.lines().count(), 1, "one line: {:?}", ran.stderr);
    assert!(ran.stderr.starts_with("furnace: "), "{:?}", ran.stderr);
    for needle in needles {
        assert!(
            ran.stderr.contains(needle),
            "{needle:?} not in {:?}",
            ran.stderr
        );
    }
}

/// `inside outside count` lines of a `uid_map` or `gid_map`.
fn id_map(text: &str) -> Vec<(u64, u64, u64)> {
    text.lines()
        .map(|l| {
            let f: Vec<u64> = l
                .split_whitespace()
                .map(|n| n.parse().unwrap_or_else(|_| panic!("a map line: {l:?}")))
                .collect();
            assert_eq!(f.len(), 3, "a map line: {l:?}");
            (f[0], f[1], f[2])
        })
        .collect()
}

/// Root inside is the user outside; with subordinate ids the other ids come from its ranges,
/// without them (or with `--no-subids`) nothing else is mapped.
fn check_maps(case: &Case, options: &[&str], subids: Option<u32>) {
    let out = case.sh_ok(
        options,
        "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map",
    );
    let (uids, gids) = out.split_once("--\n").expect("both maps");
    for (map, own) in [(uids, case.user.uid()), (gids, case.user.gid())] {
        let lines = id_map(map);
        assert!(
            lines.contains(&(0, u64::from(own), 1)),
            "0 is mapped to the user's id {own}:\n{map}"
        );
        let others: Vec<_> = lines.iter().filter(|l| l.0 != 0).collect();
        match subids {
            None => assert!(others.is_empty(), "only one id is mapped:\n{map}"),
            Some(first) => {
                let range = u64::from(first)..u64::from(first) + u64::from(SUBID_COUNT);
                assert!(!others.is_empty(), "subordinate ids are mapped:\n{map}");
                for &&(_, outside, count) in &others {
                    assert!(
                        range.contains(&outside) && range.contains(&(outside + count - 1)),
                        "{outside}+{count} lies in the user's range {range:?}:\n{map}"
                    );
                }
            }
        }
    }
}

/// The maps: subordinate ids by default when the user has them, a single id with
/// `--no-subids`, and a single id for a user without ranges.
#[test]
fn the_maps_are_as_asked() {
    let case = Case::new(Map::Subids);
    let first = case.user.subids().expect("the user has subordinate ids");
    check_maps(&case, &[], Some(first));
    check_maps(&case, &["--no-subids"], None);
    let case = Case::new(Map::Single);
    // Without --no-subids: the user has no ranges, so the default falls back to one id.
    let plain = case.furnace(&[], &["cat", "/proc/self/uid_map"]);
    assert!(plain.status.success(), "{plain:?}");
    assert_eq!(id_map(&plain.stdout).len(), 1, "{}", plain.stdout);
    check_maps(&case, &[], None);
}

/// Root inside, and only PID 1 and the command in `ps`.
fn root_inside_and_two_processes(map: Map) {
    let case = Case::new(map);
    assert_eq!(case.sh_ok(&[], "id -u"), "0\n");
    let ps = case.furnace(&[], &["ps", "-o", "pid,comm"]);
    assert!(ps.status.success(), "{ps:?}");
    let rows: Vec<(String, String)> = ps_lines(&ps.stdout)
        .iter()
        .map(|l| {
            let mut f = l.split_whitespace();
            let pid = f.next().unwrap_or_default().to_owned();
            (pid, f.next().unwrap_or_default().to_owned())
        })
        .collect();
    assert_eq!(rows.len(), 2, "exactly two processes:\n{}", ps.stdout);
    assert!(
        rows.contains(&("1".into(), "furnace-init".into())),
        "PID 1 is furnace-init:\n{}",
        ps.stdout
    );
    assert!(
        rows.iter().any(|(_, comm)| comm == "ps"),
        "and ps itself:\n{}",
        ps.stdout
    );
}

/// `id -u` is 0 and `ps` shows PID 1 and itself only (single-id map).
#[test]
fn root_inside_and_two_processes_single_map() {
    root_inside_and_two_processes(Map::Single);
}

/// `id -u` is 0 and `ps` shows PID 1 and itself only (subordinate ids).
#[test]
fn root_inside_and_two_processes_subid_map() {
    root_inside_and_two_processes(Map::Subids);
}

/// `/dev`: the standard nodes (bound from the host, `mknod` being refused to a user
/// namespace) work, devpts is there, and `mknod` fails inside.
fn dev_nodes_work_and_mknod_fails(map: Map) {
    let case = Case::new(map);
    let out = case.sh_ok(
        &[],
        "test -c /dev/null && stat -c %t:%T /dev/null && echo x > /dev/null && \
         for d in zero full random urandom tty; do test -e /dev/$d || echo missing $d; done; \
         test -e /dev/ptmx || echo missing ptmx; test -d /dev/pts || echo missing pts; \
         head -c 4 /dev/zero | wc -c",
    );
    assert_eq!(out, "1:3\n4\n", "/dev/null is 1:3, nothing missing");
    let mknod = case.furnace(&[], &["mknod", "/tmp/n", "c", "1", "3"]);
    assert!(
        matches!(mknod.status.code(), Some(code) if code != 0 && code != 125),
        "mknod fails inside (the command's failure, not furnace's): {mknod:?}"
    );
    assert!(
        fs::symlink_metadata(case.root.host_path("/tmp/n")).is_err(),
        "no node was made"
    );
}

/// `/dev/null` is 1:3 and writable, the other nodes and devpts exist, `mknod` fails
/// (single-id map).
#[test]
fn dev_nodes_work_and_mknod_fails_single_map() {
    dev_nodes_work_and_mknod_fails(Map::Single);
}

/// `/dev/null` is 1:3 and writable, the other nodes and devpts exist, `mknod` fails
/// (subordinate ids).
#[test]
fn dev_nodes_work_and_mknod_fails_subid_map() {
    dev_nodes_work_and_mknod_fails(Map::Subids);
}

/// A read-only bind refuses writes with `EROFS` (root inside owns the files, so only the mount
/// stops it); a read-write one takes them, and the file is the user's on the host.
fn binds_are_read_only_or_writable(map: Map) {
    let case = Case::new(map);
    let (uid, gid) = (case.user.uid(), case.user.gid());
    let ro = TempDir::new("rootless-ro");
    fs::write(ro.join("hello"), "hello\n").expect("write the ro source");
    chown_tree(ro.path(), uid, gid);
    let rw = case.user.owned_dir("rootless-rw");
    case.mkdir("/mnt/ro");
    case.mkdir("/mnt/rw");
    let ro_spec = format!("{}:/mnt/ro", ro.path().display());
    let rw_spec = format!("{}:/mnt/rw", rw.path().display());
    let out = case.sh_ok(
        &["--ro-bind", &ro_spec, "--bind", &rw_spec],
        "cat /mnt/ro/hello; touch /mnt/ro/x 2>&1 && echo ro-bind-written; \
         echo data > /mnt/rw/f && echo rw-bind-written",
    );
    assert!(
        out.starts_with("hello\n"),
        "the ro source is visible: {out}"
    );
    assert!(
        out.contains("Read-only file system") && !out.contains("ro-bind-written"),
        "writing into the read-only bind fails with EROFS: {out}"
    );
    assert!(out.contains("rw-bind-written"), "{out}");
    assert!(!ro.join("x").exists(), "nothing written into the ro source");
    let file = rw.join("f");
    assert_eq!(
        fs::read_to_string(&file).expect("the file is on the host"),
        "data\n"
    );
    let meta = fs::metadata(&file).expect("stat");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (uid, gid),
        "root inside writes as the user"
    );
}

/// Binds: read-only refuses, read-write writes as the user (single-id map).
#[test]
fn binds_are_read_only_or_writable_single_map() {
    binds_are_read_only_or_writable(Map::Single);
}

/// Binds: read-only refuses, read-write writes as the user (subordinate ids).
#[test]
fn binds_are_read_only_or_writable_subid_map() {
    binds_are_read_only_or_writable(Map::Subids);
}

/// The interfaces `ip link` printed: `(name, flags)`.
fn interfaces(ip_output: &str) -> Vec<(String, String)> {
    ip_output
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| {
            let mut parts = l.splitn(3, ": ");
            let _index = parts.next()?;
            let name = parts.next()?.split('@').next()?.to_owned();
            Some((name, parts.next().unwrap_or("").to_owned()))
        })
        .collect()
}

/// `--isolate-net`: only `lo`, up, and a fresh sysfs that shows only it.
fn isolated_network_has_only_lo(map: Map) {
    let case = Case::new(map);
    let out = case.sh_ok(&["--isolate-net"], "ip link; echo --; ls /sys/class/net");
    let (ip, sys) = out.split_once("--\n").expect("both parts");
    let ifaces = interfaces(ip);
    assert_eq!(ifaces.len(), 1, "only lo (no eth0):\n{ip}");
    assert_eq!(ifaces[0].0, "lo", "{ip}");
    assert!(ifaces[0].1.contains("UP"), "lo is up:\n{ip}");
    assert_eq!(sys, "lo\n", "a fresh sysfs of the container's network");
}

/// `--isolate-net` has only `lo`, up; `/sys/class/net` lists only it (single-id map).
#[test]
fn isolated_network_has_only_lo_single_map() {
    isolated_network_has_only_lo(Map::Single);
}

/// `--isolate-net` has only `lo`, up; `/sys/class/net` lists only it (subordinate ids).
#[test]
fn isolated_network_has_only_lo_subid_map() {
    isolated_network_has_only_lo(Map::Subids);
}

/// The host's interfaces, sorted.
fn host_interfaces() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir("/sys/class/net")
        .expect("list the host's interfaces")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// With the host's network, `/sys` is the host's (its interfaces) and read-only.
fn shared_network_sys_is_the_hosts_read_only(map: Map) {
    let case = Case::new(map);
    let before = host_interfaces();
    let out = case.sh_ok(&[], "ls /sys/class/net");
    let after = host_interfaces();
    let inside: Vec<String> = out.lines().map(str::to_owned).collect();
    // (Compared with the host's list before and after: something else on the machine may
    // add or remove an interface meanwhile.)
    assert!(
        inside == before || inside == after,
        "the host's interfaces {before:?}, inside {inside:?}"
    );
    let touch = case.furnace(&[], &["touch", "/sys/furnace-test"]);
    assert!(
        matches!(touch.status.code(), Some(c) if c != 0 && c != 125),
        "/sys cannot be written: {touch:?}"
    );
    let info = case.sh_ok(&[], "cat /proc/self/mountinfo");
    let table = furnace_sys::mountinfo::parse(&info);
    let sys = table
        .iter()
        .rev()
        .find(|m| m.mount_point == Path::new("/sys"))
        .unwrap_or_else(|| panic!("/sys is mounted:\n{info}"));
    assert!(
        sys.mount_options.iter().any(|o| o == "ro"),
        "/sys is mounted read-only: {sys:?}"
    );
}

/// The shared network's `/sys` lists the host's interfaces and is read-only (single-id map).
#[test]
fn shared_network_sys_is_the_hosts_read_only_single_map() {
    shared_network_sys_is_the_hosts_read_only(Map::Single);
}

/// The shared network's `/sys` lists the host's interfaces and is read-only (subordinate ids).
#[test]
fn shared_network_sys_is_the_hosts_read_only_subid_map() {
    shared_network_sys_is_the_hosts_read_only(Map::Subids);
}

/// `--hardened`: the command's effective capabilities are the hardened set (the one
/// `tests/it/hardened.rs` checks against the documented mask), in the user namespace.
fn hardened_capabilities(map: Map) {
    let case = Case::new(map);
    let mask = HARDENED_CAPABILITIES
        .iter()
        .fold(0u64, |m, cap| m | cap.bitmask());
    let status = case.sh_ok(&["--hardened"], "cat /proc/self/status");
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).expect("hex CapEff"))
        .unwrap_or_else(|| panic!("no CapEff:\n{status}"));
    assert_eq!(eff, mask, "CapEff {eff:#x}, the hardened set {mask:#x}");
}

/// `--hardened` has the hardened capability set (single-id map).
#[test]
fn hardened_capabilities_single_map() {
    hardened_capabilities(Map::Single);
}

/// `--hardened` has the hardened capability set (subordinate ids).
#[test]
fn hardened_capabilities_subid_map() {
    hardened_capabilities(Map::Subids);
}

/// With subordinate ids: `--uid`/`--gid`, `--user` with its supplementary groups
/// (`setgroups`), `chown` to another id, devpts with `gid=5`.
#[test]
fn subids_allow_other_ids_groups_and_chown() {
    let case = Case::new(Map::Subids);
    let first = case.user.subids().expect("subordinate ids");
    let id = case.furnace(&["--uid", "1000", "--gid", "1000"], &["id"]);
    assert!(id.status.success(), "{id:?}");
    assert!(
        id.stdout.starts_with("uid=1000") && id.stdout.contains(" gid=1000"),
        "{}",
        id.stdout
    );
    let groups = case.furnace(&["--user", "alice"], &["id", "-G"]);
    assert!(groups.status.success(), "{groups:?}");
    let groups: BTreeSet<&str> = groups.stdout.split_whitespace().collect();
    assert!(
        groups.contains("1000") && groups.contains("2000"),
        "alice's groups, `extra` (2000) included: {groups:?}"
    );
    let owner = case.sh_ok(
        &[],
        "touch /tmp/f && chown 1000:1000 /tmp/f && stat -c %u:%g /tmp/f",
    );
    assert_eq!(owner, "1000:1000\n");
    let meta = fs::metadata(case.root.host_path("/tmp/f")).expect("stat on the host");
    let range = first..first + SUBID_COUNT;
    assert!(
        range.contains(&meta.uid()) && range.contains(&meta.gid()),
        "on the host, the file belongs to ids of the user's ranges {range:?}: {}:{}",
        meta.uid(),
        meta.gid()
    );
    // devpts with `gid=5`: a new pty belongs to group 5 inside. (Its mountinfo line shows the
    // option in the initial user namespace's ids: the host gid that 5 is mapped to.)
    let out = case.sh_ok(
        &[],
        "exec 3<>/dev/ptmx && stat -c %g /dev/pts/0 && echo -- && cat /proc/self/gid_map && \
         echo -- && cat /proc/self/mountinfo",
    );
    let mut parts = out.split("--\n");
    let (pty_group, gid_map, info) = (parts.next(), parts.next(), parts.next());
    let (Some(pty_group), Some(gid_map), Some(info)) = (pty_group, gid_map, info) else {
        panic!("three parts: {out}");
    };
    assert_eq!(pty_group, "5\n", "a new pty's group is tty (5)");
    let host_tty = id_map(gid_map)
        .into_iter()
        .find(|&(inside, _, count)| (inside..inside + count).contains(&5))
        .map(|(inside, outside, _)| outside + 5 - inside)
        .unwrap_or_else(|| panic!("gid 5 is mapped:\n{gid_map}"));
    let table = furnace_sys::mountinfo::parse(info);
    let pts = table
        .iter()
        .rev()
        .find(|m| m.mount_point == Path::new("/dev/pts"))
        .unwrap_or_else(|| panic!("/dev/pts is mounted:\n{info}"));
    assert!(
        pts.super_options.contains(&format!("gid={host_tty}")),
        "devpts with gid=5 (gid={host_tty} on the host): {pts:?}"
    );
}

/// With a single-id map, `--uid 1000` is refused by furnace (125), saying the id is not
/// mapped.
#[test]
fn single_map_refuses_an_unmapped_uid() {
    let case = Case::new(Map::Single);
    let ran = case.furnace(&["--uid", "1000"], &["true"]);
    assert_furnace_failure(&ran, &["1000", "mapped"]);
}

/// The live descendants of `ancestor` (not itself): `(pid, start time, comm)`.
fn descendants(ancestor: u32) -> Vec<(u32, u64, String)> {
    let procs = all_processes();
    let parent: std::collections::BTreeMap<u32, u32> =
        procs.iter().map(|p| (p.pid, p.ppid)).collect();
    let descends = |mut pid: u32| {
        for _ in 0..256 {
            match parent.get(&pid) {
                Some(&ppid) if ppid == ancestor => return true,
                Some(&ppid) if ppid > 1 => pid = ppid,
                _ => return false,
            }
        }
        false
    };
    procs
        .iter()
        .filter(|p| !p.is_zombie() && descends(p.pid))
        .map(|p| (p.pid, p.start_time, p.comm.clone()))
        .collect()
}

/// B01 rootless: `furnace run ROOT sleep 1000` killed with SIGKILL once its `sleep` runs
/// leaves no process of the container's pid namespace, no process it started, and no mount.
fn killed_owner_leaves_nothing(map: Map) {
    let case = Case::exclusive(map);
    let leaks = LeakCheck::snapshot();
    let mut owner = case
        .user
        .command(&case.cli)
        .arg("run")
        .args(map.flags())
        .arg(case.root.root())
        .args(["sleep", "1000"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start furnace as the user");
    let owner_pid = owner.id();
    let our_pid_ns = ns_of(std::process::id(), "pid");
    let mut sleeper = None;
    wait_until(DEADLINE, "the container's sleep shows on the host", || {
        sleeper = descendants(owner_pid)
            .into_iter()
            .find(|(pid, _, comm)| comm == "sleep" && ns_of(*pid, "pid") != our_pid_ns);
        sleeper.is_some()
    });
    let (sleeper_pid, _, _) = sleeper.expect("found");
    let pid_ns = ns_of(sleeper_pid, "pid").expect("the sleep's pid namespace");
    let started = descendants(owner_pid);
    eprintln!(
        "furnace {owner_pid} ({:?} map) started {started:?}; killing it",
        map
    );
    sigkill(owner_pid).expect("SIGKILL furnace");
    let status = wait_child(&mut owner, "the killed furnace");
    assert_eq!(status.signal(), Some(9), "furnace died of the SIGKILL");
    let left = settle(
        DEADLINE,
        || {
            let mut left: Vec<String> = processes_in_pid_ns(&pid_ns)
                .iter()
                .map(|p| format!("{} ({}) in the container", p.pid, p.comm))
                .collect();
            left.extend(
                started
                    .iter()
                    .filter(|(pid, start, _)| {
                        proc_stat(*pid).is_some_and(|s| s.start_time == *start && !s.is_zombie())
                    })
                    .map(|(pid, _, comm)| format!("{pid} ({comm}) started by furnace")),
            );
            left
        },
        Vec::is_empty,
    );
    let mut stderr = String::new();
    if let Some(mut pipe) = owner.stderr.take() {
        if left.is_ok() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
    }
    drop(owner);
    if let Err(left) = left {
        panic!(
            "{DEADLINE:?} after furnace ({status}) was killed, still alive: {left:?} \
             (of {started:?})"
        );
    }
    let mounted = mount_points_under(case.root.dir());
    assert!(mounted.is_empty(), "mounted under the root: {mounted:?}");
    eprintln!("the killed furnace's stderr: {stderr}");
    leaks.assert_clean();
}

/// A SIGKILLed `furnace run` leaves nothing (single-id map).
#[test]
fn killed_owner_leaves_nothing_single_map() {
    killed_owner_leaves_nothing(Map::Single);
}

/// A SIGKILLed `furnace run` leaves nothing (subordinate ids).
#[test]
fn killed_owner_leaves_nothing_subid_map() {
    killed_owner_leaves_nothing(Map::Subids);
}

/// `furnace-test-helper rootless MAPPING ROOT SCRIPT` as the case's user.
fn helper_as_user(case: &Case, mapping: &str, script: &str) -> Ran {
    let helper = case.user.install(HELPER);
    let mut cmd = case.user.command(helper);
    cmd.args(["rootless", mapping])
        .arg(case.root.root())
        .arg(script);
    let ran = output_within(&mut cmd, &format!("furnace-test-helper rootless {mapping}"));
    eprintln!(
        "helper rootless {mapping} ({:?} map): {}\n--- stdout\n{}--- stderr\n{}---",
        case.map, ran.status, ran.stdout, ran.stderr
    );
    ran
}

/// The library as a non-root caller: `rootless::enter` first thing in `main`, then the
/// ordinary API starts a container and runs a command in it, as root inside.
fn library_after_entering_works(map: Map) {
    let case = Case::new(map);
    let ran = helper_as_user(&case, map.helper_mapping(), "id -u; ls /dev/null");
    assert_eq!(ran.status.code(), Some(0), "{ran:?}");
    assert_eq!(ran.stdout, "0\n/dev/null\n", "{ran:?}");
}

/// `enter(IdMapping::Single)`, then start and run (a user without subordinate ids).
#[test]
fn library_after_entering_works_single_map() {
    library_after_entering_works(Map::Single);
}

/// `enter(IdMapping::Auto)`, then start and run (a user with subordinate ids).
#[test]
fn library_after_entering_works_subid_map() {
    library_after_entering_works(Map::Subids);
}

/// A non-root caller that did not call `enter` gets a typed error naming the fix.
#[test]
fn library_without_entering_gets_an_error_naming_the_fix() {
    let case = Case::new(Map::Single);
    let ran = helper_as_user(&case, "none", "true");
    assert_eq!(ran.status.code(), Some(4), "the start fails: {ran:?}");
    let output = format!("{}{}", ran.stdout, ran.stderr);
    assert!(
        output.contains("furnace_core::rootless::enter"),
        "the message names the fix: {output}"
    );
    assert!(
        output.lines().any(|l| l.starts_with("variant: ")),
        "a typed error: {output}"
    );
}

/// Bad input gets furnace's precise errors: a bind destination to be created in a root the
/// user's namespace does not own ("owned by"), and an unknown `--user`.
fn bad_input_gets_precise_errors(map: Map) {
    let case = Case::new(map);
    let foreign = BusyboxRoot::owned_by_root();
    let source = case.user.owned_dir("rootless-src");
    let spec = format!("{}:/newdir", source.path().display());
    let ran = case.furnace_on(&foreign.root(), &["--bind", &spec], &["true"]);
    assert_furnace_failure(&ran, &["owned by"]);
    assert!(
        !foreign.host_path("/newdir").exists(),
        "nothing was made in the root"
    );
    let ran = case.furnace(&["--user", "nosuchuser"], &["true"]);
    assert_furnace_failure(&ran, &["nosuchuser"]);
}

/// A root-owned root with a bind to create, and an unknown user, fail precisely (single-id
/// map).
#[test]
fn bad_input_gets_precise_errors_single_map() {
    bad_input_gets_precise_errors(Map::Single);
}

/// A root-owned root with a bind to create, and an unknown user, fail precisely (subordinate
/// ids).
#[test]
fn bad_input_gets_precise_errors_subid_map() {
    bad_input_gets_precise_errors(Map::Subids);
}

/// The fixture: a test user, its group and its subordinate ranges are gone after the drop,
/// also when the test panicked while holding it.
#[test]
fn test_users_are_removed_also_after_a_panic() {
    let _scratch = Scratch::new();
    let user = TestUser::create(true);
    let name = user.name().to_owned();
    assert!(
        leftover_lines(&name).len() >= 4,
        "passwd, group, subuid and subgid name it: {:?}",
        leftover_lines(&name)
    );
    drop(user);
    assert_eq!(leftover_lines(&name), Vec::new(), "all gone after the drop");
    let name = std::sync::Mutex::new(String::new());
    let result = std::panic::catch_unwind(|| {
        let user = TestUser::create(true);
        *name.lock().unwrap() = user.name().to_owned();
        panic!("a deliberate panic while holding {}", user.name());
    });
    assert!(result.is_err());
    let name = name.into_inner().unwrap();
    assert!(!name.is_empty());
    assert_eq!(
        leftover_lines(&name),
        Vec::new(),
        "all gone after the panic"
    );
}
