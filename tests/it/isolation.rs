//! Namespaces: a command is in every namespace of PID 1; what a container sees of the host
//! (processes, IPC objects, cgroup paths, the hostname, the caller's session keyring) and
//! what the host and the caller see of it (nothing changes for them).

use std::collections::BTreeSet;
use std::fs;
use std::process::Stdio;

use furnace_core::{Container, Error};
use furnace_tests::hostside::PidsCgroup;
use furnace_tests::ipc::*;
use furnace_tests::probe::*;
use furnace_tests::proc::{namespaces_referenced, shmem_kib, SHMEM_SLACK_KIB};
use furnace_tests::*;

use crate::HELPER;

/// The host's hostname.
fn host_hostname() -> String {
    sysctl("kernel/hostname")
}

/// G04: a command is in every namespace of PID 1 (its host pid is the `Child`'s id), rooted
/// like it.
#[test]
fn children_are_in_every_namespace_of_the_container() {
    let scratch = Scratch::new();
    for isolated in [false, true] {
        let c = Container::builder(scratch.root())
            .isolate_network(isolated)
            .start()
            .expect("start");
        let mut child = c.command("sleep").arg("1000").spawn().expect("spawn sleep");
        // The Child's id is the host pid.
        for kind in ["pid", "mnt", "uts", "ipc", "cgroup", "net"] {
            assert_eq!(
                ns_of(child.id(), kind),
                ns_of(c.init_pid(), kind),
                "the command is in the container's {kind} namespace"
            );
        }
        let root = std::fs::read_link(format!("/proc/{}/root", child.id()));
        let init_root = std::fs::read_link(format!("/proc/{}/root", c.init_pid()));
        assert_eq!(root.ok(), init_root.ok(), "rooted like PID 1");
        child.kill().expect("kill");
        child.wait().expect("wait");
    }
}

/// G01: the hostname inside is `localhost` by default; the host's is unchanged.
#[test]
fn hostname_is_localhost_by_default() {
    let scratch = Scratch::new();
    let before = host_hostname();
    let c = start(&scratch.root());
    assert_eq!(sh_ok(&c, "hostname"), "localhost\n");
    assert_eq!(sh_ok(&c, "uname -n"), "localhost\n");
    drop(c);
    assert_eq!(host_hostname(), before, "the host's hostname is unchanged");
}

/// G01: a hostname given to the builder is set inside only; a bad one is refused.
#[test]
fn custom_hostname_inside_only() {
    let scratch = Scratch::new();
    let before = host_hostname();
    let c = Container::builder(scratch.root())
        .hostname("furnace-box")
        .start()
        .expect("start");
    assert_eq!(sh_ok(&c, "hostname"), "furnace-box\n");
    assert_eq!(
        host_hostname(),
        before,
        "unchanged on the host while it runs"
    );
    let err = Container::builder(scratch.root())
        .hostname("bad name")
        .start()
        .expect_err("a hostname with a space is refused");
    assert!(matches!(err, Error::InvalidHostname { .. }), "{err}");
    drop(c);
    assert_eq!(host_hostname(), before, "unchanged on the host afterwards");
}

/// G04: two containers each see only their own processes and files.
#[test]
fn two_containers_each_see_only_their_own_processes() {
    let scratch_a = Scratch::new();
    let scratch_b = Scratch::new();
    let a = start(&scratch_a.root());
    let b = start(&scratch_b.root());
    let mut sleep_a = a.command("sleep").arg("1001").spawn().expect("spawn in a");
    let mut sleep_b = b.command("sleep").arg("1002").spawn().expect("spawn in b");
    let ps_a = run(&a, "ps", &["-o", "pid,args"]).stdout;
    let ps_b = run(&b, "ps", &["-o", "pid,args"]).stdout;
    assert!(
        ps_a.contains("sleep 1001") && !ps_a.contains("sleep 1002"),
        "{ps_a}"
    );
    assert!(
        ps_b.contains("sleep 1002") && !ps_b.contains("sleep 1001"),
        "{ps_b}"
    );
    assert_eq!(ps_lines(&ps_a).len(), 3, "{ps_a}");
    assert_eq!(ps_lines(&ps_b).len(), 3, "{ps_b}");
    assert_ne!(ns_of(a.init_pid(), "pid"), ns_of(b.init_pid(), "pid"));
    sh_ok(&a, "echo a > /root/who");
    assert!(!scratch_b.host_path("/root/who").exists());
    for child in [&mut sleep_a, &mut sleep_b] {
        child.kill().expect("kill");
        child.wait().expect("wait");
    }
}

/// B12: nothing of the caller changes: namespaces of its thread, cwd, root, environment, signal
/// mask and dispositions, umask, the host's hostname.
#[test]
fn nothing_of_the_caller_changes() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let status_field = |path: &str, name: &str| -> String {
        std::fs::read_to_string(path)
            .expect("read status")
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_default()
    };
    let snapshot = || {
        let mut namespaces = Vec::new();
        for kind in [
            "pid",
            "pid_for_children",
            "mnt",
            "net",
            "uts",
            "ipc",
            "cgroup",
        ] {
            namespaces.push(
                std::fs::read_link(format!("/proc/thread-self/ns/{kind}"))
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
        }
        (
            std::env::current_dir().expect("cwd"),
            std::fs::read_link("/proc/self/root").expect("root"),
            namespaces,
            std::env::vars_os().collect::<Vec<_>>(),
            status_field("/proc/thread-self/status", "SigBlk:"),
            status_field("/proc/self/status", "SigIgn:"),
            status_field("/proc/self/status", "SigCgt:"),
            status_field("/proc/self/status", "Umask:"),
            host_hostname(),
        )
    };
    let before = snapshot();
    let c = start(&scratch.root());
    sh_ok(&c, "cd /tmp && echo hi > f && umask 077 && trap '' INT");
    let mut child = c.command("sleep").arg("1000").spawn().expect("spawn");
    assert_eq!(snapshot(), before, "while the container runs");
    child.kill().expect("kill");
    child.wait().expect("wait");
    drop(c);
    assert_eq!(snapshot(), before, "afterwards");
    leaks.assert_clean();
}

/// Size of the segment made inside: large enough to stand out in the host's Shmem.
const INSIDE_SEGMENT: u64 = 32 << 20;

/// G02: host IPC objects are invisible inside; objects made inside are invisible on the host,
/// live as long as the container, and die with its IPC namespace.
#[test]
fn ipc_objects_stay_on_their_side_and_die_with_the_container() {
    // Exclusive: the freed segment is seen in the machine's Shmem.
    let scratch = Scratch::exclusive_idmappable();
    install_probe(&scratch);
    let host_shm = HostShm::create();
    let host_mq = HostMq::create();
    let host_key = format!("{:#x}", host_shm.key);
    assert!(host_shm_exists(host_shm.key) && host_mq_exists(&host_mq.name));
    let host_ipc = ns_of(std::process::id(), "ipc").expect("our ipc namespace");
    let ipc_before = namespaces_referenced("ipc");
    for hardened in [false, true] {
        let p = profile(hardened);
        let shmem_before = shmem_kib();
        let c = start_profile(&scratch.root(), hardened);
        let ipc = ns_of(c.init_pid(), "ipc").expect("PID 1's ipc namespace");
        assert_ne!(
            ipc, host_ipc,
            "{p}: the container has an IPC namespace of its own"
        );

        // The host's objects are not there.
        assert_eq!(
            probe_answer(&c, &["shm-get", &host_key]),
            Answer::Err("ENOENT".into()),
            "{p}: the host's segment {host_key} is invisible inside"
        );
        assert_eq!(
            probe_answer(&c, &["mq-open", &host_mq.name]),
            Answer::Err("ENOENT".into()),
            "{p}: the host's queue {} is invisible inside",
            host_mq.name
        );
        let listing = sh_ok(&c, "ls -a /dev/mqueue");
        assert!(
            !listing.lines().any(|l| l == host_mq.listed_name()),
            "{p}: /dev/mqueue inside lists the host's queue:\n{listing}"
        );

        // Objects made inside: persist while the container runs, invisible on the host.
        let key = free_shm_key();
        let inner_key = format!("{key:#x}");
        let inner_mq = format!("/{}", unique_name("inner-mq"));
        assert!(
            matches!(
                probe_answer(&c, &["shm-create", &inner_key, &INSIDE_SEGMENT.to_string()]),
                Answer::Ok(_)
            ),
            "{p}: a segment can be made inside"
        );
        assert_eq!(
            probe_answer(&c, &["mq-create", &inner_mq]),
            Answer::Ok(String::new()),
            "{p}: a queue can be made inside"
        );
        assert!(
            matches!(probe_answer(&c, &["shm-get", &inner_key]), Answer::Ok(_)),
            "{p}: the segment outlives the command that made it"
        );
        let listing = sh_ok(&c, "ls -a /dev/mqueue");
        assert!(
            listing.lines().any(|l| l == &inner_mq[1..]),
            "{p}: /dev/mqueue lists the queue made inside:\n{listing}"
        );
        assert!(
            !host_shm_exists(key),
            "{p}: the segment made inside is visible on the host"
        );
        assert!(
            !host_mq_exists(&inner_mq),
            "{p}: the queue made inside is visible on the host"
        );
        let held = shmem_kib();

        // Gone with the container: the segment, never removed, is freed with its namespace
        // (and the namespace's queues with it); nothing keeps that namespace.
        drop(c);
        let after = settle(DEADLINE, shmem_kib, |now| {
            *now <= shmem_before + SHMEM_SLACK_KIB
        });
        let after = after.unwrap_or_else(|now| {
            panic!(
                "{p}: the container's segment was not freed: host Shmem {now} kB, \
                 {shmem_before} kB before it was made"
            )
        });
        // Premise: Shmem showed the segment (measured against `after`, see E07; within the
        // slack, for the rest of the machine).
        assert!(
            held + SHMEM_SLACK_KIB >= after + INSIDE_SEGMENT / 1024,
            "{p}: host Shmem {held} kB while the segment existed, {after} kB after: it did not \
             show the {INSIDE_SEGMENT}-byte segment made inside"
        );
        let left = settle(
            DEADLINE,
            || {
                namespaces_referenced("ipc")
                    .difference(&ipc_before)
                    .cloned()
                    .collect::<Vec<_>>()
            },
            Vec::is_empty,
        );
        assert!(
            left.is_ok(),
            "{p}: IPC namespaces still referenced after the drop: {:?} (the container's: {ipc})",
            left.unwrap_or_else(|v| v)
        );
        let c = start_profile(&scratch.root(), hardened);
        assert_eq!(
            probe_answer(&c, &["shm-get", &inner_key]),
            Answer::Err("ENOENT".into()),
            "{p}: a later container does not see the old segment"
        );
        let listing = sh_ok(&c, "ls -a /dev/mqueue");
        assert!(
            !listing.lines().any(|l| l == &inner_mq[1..]),
            "{p}: a later container sees the old queue:\n{listing}"
        );
        assert!(!host_shm_exists(key) && !host_mq_exists(&inner_mq));
    }
    // The host's objects were left alone.
    assert!(
        host_shm_exists(host_shm.key),
        "the host's segment is still there"
    );
    assert!(
        host_mq_exists(&host_mq.name),
        "the host's queue is still there"
    );
}

/// A `sleep` on the host, killed and reaped on drop.
struct HostSleeper(std::process::Child);

impl Drop for HostSleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// G04: `kill -0` of host pids fails inside with ESRCH (not EPERM: they are not there at all),
/// while PID 1 inside answers; a spawned command is in every namespace of PID 1.
#[test]
fn host_processes_are_invisible_and_commands_join_every_namespace_of_pid_1() {
    let scratch = Scratch::idmappable();
    install_probe(&scratch);
    let me = std::process::id();
    let host_sleeper = HostSleeper(
        std::process::Command::new("sleep")
            .arg("1000")
            .spawn()
            .expect("start a sleep on the host"),
    );
    for (hardened, isolated) in [(false, false), (true, true), (false, true)] {
        let what = format!(
            "{} profile, isolated network: {isolated}",
            profile(hardened)
        );
        let c = Container::builder(scratch.root())
            .hardened(hardened)
            .isolate_network(isolated)
            .start()
            .expect("start");
        let mut sleeper = c
            .command("sleep")
            .arg("1000")
            .spawn()
            .expect("spawn sleep inside");
        for kind in ["pid", "mnt", "net", "ipc", "uts", "cgroup"] {
            let command_ns = ns_of(sleeper.id(), kind);
            let init_ns = ns_of(c.init_pid(), kind);
            assert!(command_ns.is_some(), "{what}: /proc/PID/ns/{kind} readable");
            assert_eq!(
                command_ns, init_ns,
                "{what}: the command is in PID 1's {kind} namespace"
            );
            let host_ns = ns_of(me, kind);
            if kind == "net" && !isolated {
                assert_eq!(command_ns, host_ns, "{what}: the host's network");
            } else {
                assert_ne!(command_ns, host_ns, "{what}: a {kind} namespace of its own");
            }
        }
        let inside: BTreeSet<u32> = sh_ok(&c, "ls /proc")
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        assert!(inside.contains(&1), "{what}: /proc inside lists PID 1");
        let host_pids = [
            me,
            std::os::unix::process::parent_id(),
            c.init_pid(),
            sleeper.id(),
            host_sleeper.0.id(),
        ];
        let mut checked = 0;
        for pid in host_pids {
            // A host pid that happens to be a pid inside as well says nothing.
            if inside.contains(&pid) {
                continue;
            }
            assert!(alive(pid), "{what}: premise: host pid {pid} is alive");
            assert_eq!(
                probe_answer(&c, &["kill", &pid.to_string(), "0"]),
                Answer::Err("ESRCH".into()),
                "{what}: host pid {pid} is visible inside"
            );
            checked += 1;
        }
        assert!(checked >= 3, "{what}: only {checked} host pids checked");
        // The probe can tell: a process inside is there.
        assert_eq!(
            probe_answer(&c, &["kill", "1", "0"]),
            Answer::Ok(String::new()),
            "{what}: kill -0 1 (PID 1 inside) works"
        );
        sleeper.kill().expect("kill the sleeper");
        sleeper.wait().expect("reap the sleeper");
    }
}

/// The paths of a `/proc/PID/cgroup` text (`ID:CONTROLLERS:PATH`).
fn cgroup_paths(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.splitn(3, ':').nth(2).unwrap_or("?"))
        .collect()
}

/// G05: inside, `/proc/self/cgroup` (a command's, and PID 1's) shows `/` for every hierarchy,
/// whichever cgroups the caller is in on the host.
#[test]
fn proc_self_cgroup_shows_only_root_paths() {
    let scratch = Scratch::idmappable();
    let host = fs::read_to_string("/proc/self/cgroup").expect("read our /proc/self/cgroup");
    for hardened in [false, true] {
        let p = profile(hardened);
        let c = start_profile(&scratch.root(), hardened);
        for file in ["/proc/self/cgroup", "/proc/1/cgroup"] {
            let inside = sh_ok(&c, &format!("cat {file}"));
            let paths = cgroup_paths(&inside);
            assert!(!paths.is_empty(), "{p}: {file} is empty");
            assert!(
                paths.iter().all(|path| *path == "/"),
                "{p}: {file} inside shows a path other than /:\n{inside}\n(host: {host})"
            );
        }
    }
}

/// G05, with a caller that is certainly not in a root cgroup: the helper, moved into a fresh
/// pids cgroup before it starts its container. On the host its pids path names that cgroup;
/// inside, every path is `/` and the name appears nowhere.
#[test]
fn callers_cgroup_path_is_hidden_inside() {
    let scratch = Scratch::new();
    let cgroup = PidsCgroup::new(1000);
    let name = cgroup
        .path()
        .file_name()
        .expect("a cgroup name")
        .to_string_lossy()
        .into_owned();
    let script = format!(
        "echo $$ > {procs} && cat /proc/self/cgroup && echo ---- && \
         exec {HELPER} run {root} cat /proc/self/cgroup /proc/1/cgroup",
        procs = cgroup.path().join("cgroup.procs").display(),
        root = scratch.root().display(),
    );
    let out = within(DEADLINE, "the helper in its cgroup", move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .output()
            .expect("run sh")
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let (host, inside) = stdout.split_once("----\n").expect("the separator");
    assert!(
        host.lines()
            .any(|l| l.contains(":pids:") && l.ends_with(&format!("/{name}"))),
        "premise: the caller is in the pids cgroup {name} on the host:\n{host}"
    );
    let paths = cgroup_paths(inside);
    assert!(!paths.is_empty(), "nothing printed inside");
    assert!(
        paths.iter().all(|path| *path == "/") && !inside.contains(&name),
        "inside, /proc/self/cgroup and /proc/1/cgroup reveal a host path:\n{inside}"
    );
}

/// Restores the host's hostname on drop if a test changed it (it must not).
struct HostnameGuard(String);

impl HostnameGuard {
    fn new() -> HostnameGuard {
        HostnameGuard(sysctl("kernel/hostname"))
    }

    #[track_caller]
    fn assert_unchanged(&self, context: &str) {
        assert_eq!(
            sysctl("kernel/hostname"),
            self.0,
            "{context}: the host's hostname changed"
        );
    }
}

impl Drop for HostnameGuard {
    fn drop(&mut self) {
        if sysctl("kernel/hostname") != self.0 {
            let _ = fs::write("/proc/sys/kernel/hostname", &self.0);
        }
    }
}

/// F05/G01, sethostname from inside: it succeeds in the privileged profile and changes only
/// the container's UTS namespace; the hardened profile has no CAP_SYS_ADMIN, which
/// sethostname needs even in a UTS namespace of its own, so there it fails with EPERM.
/// The host's hostname is unchanged either way.
#[test]
fn sethostname_inside_changes_only_the_containers_name() {
    let scratch = Scratch::idmappable();
    install_probe(&scratch);
    let host = HostnameGuard::new();
    let name = "furnace-catalogue";
    assert_ne!(host.0, name, "premise: the host is not called {name}");

    let c = start_profile(&scratch.root(), false);
    assert_eq!(
        probe_answer(&c, &["sethostname", name]),
        Answer::Ok(String::new()),
        "privileged: sethostname inside"
    );
    assert_eq!(sh_ok(&c, "hostname"), format!("{name}\n"));
    host.assert_unchanged("privileged, while the container runs");
    drop(c);
    host.assert_unchanged("privileged, after the drop");

    let c = start_profile(&scratch.root(), true);
    assert_eq!(
        probe_answer(&c, &["sethostname", name]),
        Answer::Err("EPERM".into()),
        "hardened: sethostname needs CAP_SYS_ADMIN"
    );
    assert_eq!(sh_ok(&c, "hostname"), "localhost\n");
    host.assert_unchanged("hardened");
}

/// F08: every command gets a session keyring of its own (not the caller's, nor another
/// command's), in both profiles.
#[test]
fn commands_get_a_session_keyring_of_their_own() {
    let ours = {
        // SAFETY: KEYCTL_GET_KEYRING_ID reads no memory of ours.
        let id = unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) };
        assert!(
            id > 0,
            "the test process has no session keyring: {}",
            std::io::Error::last_os_error()
        );
        id.to_string()
    };
    let scratch = Scratch::idmappable();
    install_probe(&scratch);
    for hardened in [true, false] {
        // keyctl(2) is the probe's way to name the keyring, which the hardened profile's
        // seccomp filter refuses: the keyring is joined before the filter, so looking without
        // the filter shows what every command gets.
        let c = Container::builder(scratch.root())
            .hardened(hardened)
            .seccomp(furnace_core::Seccomp::Unconfined)
            .start()
            .expect("start");
        let theirs = match probe_answer(&c, &["session-keyring"]) {
            Answer::Ok(id) => id,
            Answer::Err(e) => panic!("the command cannot name its session keyring: {e}"),
        };
        assert_ne!(
            theirs, ours,
            "hardened={hardened}: the command shares the caller's session keyring"
        );
        // Two commands do not share one either.
        let again = probe_answer(&c, &["session-keyring"]);
        assert_ne!(
            again,
            Answer::Ok(theirs.clone()),
            "hardened={hardened}: one keyring for two commands"
        );
    }
}
