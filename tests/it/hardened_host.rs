//! Issue 15, "hardened means hostile code cannot touch the host": what the hardened profile
//! keeps away from the host beyond capabilities and masks — device nodes that reach the root
//! from outside (`nodev`), the host's keyrings and the rest of the kernel's un-namespaced
//! surface (the default seccomp filter), and the caller's process group (`kill 0`). Also that
//! the filter leaves a real userland working, and that a caller's own profile is honoured.
//!
//! Each test names the hole it closes and shows it open where it can: in the privileged
//! profile (unchanged by issue 15), or in the hardened one with
//! `.seccomp(Seccomp::Unconfined)`.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use furnace_core::{
    Container, Overlay, PrivateUsers, Seccomp, SeccompProfile, HARDENED_CAPABILITIES,
};
use furnace_sys::cred::CapabilitySet;
use furnace_sys::dev::{mknod, DeviceKind};
use furnace_tests::probe::*;
use furnace_tests::*;

use crate::HELPER;

/// The device number of the block device the test image is mounted from (a host loop device).
fn image_device() -> (u32, u32) {
    let dev = std::fs::metadata(image()).expect("stat the image").dev();
    (libc::major(dev), libc::minor(dev))
}

/// Asserts a probe answer is a failure with `errno`.
#[track_caller]
fn assert_errno(answer: &Answer, errno: &str, what: &str) {
    assert_eq!(
        answer.errno(),
        Some(errno),
        "{what} must fail with {errno}: {answer:?}"
    );
}

/// The `Seccomp:` field of the probe's own `/proc/self/status` (0 none, 2 filter).
fn seccomp_mode(c: &Container) -> String {
    probe(c, &["status"])
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .map(|v| v.trim().to_owned())
        .expect("the probe shows the Seccomp field")
}

/// The capability set of the hardened profile's commands, for resolving Docker profiles.
fn hardened_capability_set() -> CapabilitySet {
    CapabilitySet::from_bits_retain(
        HARDENED_CAPABILITIES
            .iter()
            .fold(0, |mask, cap| mask | cap.bitmask()),
    )
}

// ---------------------------------------------------------------------------------------------
// Device nodes

/// Makes a device node with exactly mode 0666 at `path` (a host path).
fn make_node(path: &Path, kind: DeviceKind, major: u32, minor: u32) {
    mknod(path, kind, major, minor, 0o666)
        .unwrap_or_else(|e| panic!("mknod {}: {e}", path.display()));
}

/// The hole: before issue 15 the hardened profile mounted the root and the caller's binds
/// without `nodev`, so a device node that reached the root from outside — left in an image
/// layer, planted in a bind source by another host user, or made by the privileged profile in
/// a shared root — opened the device for the container: here the host's disk holding the test
/// image (readable by anyone through the node's 0666 mode), and a 1:3 node for writing. Now
/// every mount below the root and every bind is `nodev` in the hardened profile: such nodes
/// answer `EACCES`, while furnace's own `/dev` keeps working. The privileged profile, which
/// issue 15 left as it was, still reads the disk (the contrast shows the nodes are real).
///
/// The nodes are made on the host before the start (in the scratch's root, a copy of the image
/// on a tmpfs, and in a bind source), and the scratch and the bind source's removal take them
/// away, which the test checks at its end.
#[test]
fn device_nodes_from_outside_cannot_be_opened_in_the_hardened_profile() {
    let scratch = Scratch::idmappable();
    install_probe(&scratch);
    let (major, minor) = image_device();
    let root_disk = scratch.host_path("/opt-disk");
    let root_null = scratch.host_path("/opt-null");
    make_node(&root_disk, DeviceKind::Block, major, minor);
    make_node(&root_null, DeviceKind::Char, 1, 3);
    for node in [&root_disk, &root_null] {
        let kind = std::fs::symlink_metadata(node)
            .unwrap_or_else(|e| panic!("{} is in the root: {e}", node.display()))
            .file_type();
        assert!(kind.is_block_device() || kind.is_char_device(), "{node:?}");
    }
    let devs = TempDir::new("bound-devs");
    let bound_disk = devs.join("disk");
    make_node(&bound_disk, DeviceKind::Block, major, minor);

    for hardened in [true, false] {
        let c = Container::builder(scratch.root())
            .hardened(hardened)
            .bind(devs.path(), "/mnt/devs")
            .start()
            .unwrap_or_else(|e| panic!("start ({}): {e}", profile(hardened)));
        let disk = probe_answer(&c, &["read-dev", "/opt-disk", "512"]);
        let bound = probe_answer(&c, &["read-dev", "/mnt/devs/disk", "512"]);
        let null_wo = probe_answer(&c, &["open-wo", "/opt-null"]);
        if hardened {
            assert_errno(&disk, "EACCES", "reading the disk node in the root");
            assert_errno(&bound, "EACCES", "reading the disk node in a bind");
            assert_errno(
                &null_wo,
                "EACCES",
                "opening the 1:3 node in the root for writing",
            );
            // furnace's own /dev still works.
            assert_eq!(
                probe_answer(&c, &["open-wo", "/dev/null"]),
                Answer::Ok(String::new()),
                "furnace's /dev/null opens for writing"
            );
            assert_eq!(
                probe_answer(&c, &["read-dev", "/dev/zero", "512"]),
                Answer::Ok("512".into()),
                "furnace's /dev/zero reads"
            );
            assert_eq!(
                sh_ok(&c, "echo through-dev-null > /dev/null && echo ok"),
                "ok\n"
            );
        } else {
            // Contrast: the nodes are real, and without nodev they open the host's disk.
            assert_eq!(
                disk,
                Answer::Ok("512".into()),
                "privileged: the root's disk node"
            );
            assert_eq!(
                bound,
                Answer::Ok("512".into()),
                "privileged: the bound disk node"
            );
            assert_eq!(
                null_wo,
                Answer::Ok(String::new()),
                "privileged: the 1:3 node"
            );
        }
    }

    // The scratch and the bind source take the nodes with them.
    let dir = scratch.dir().to_path_buf();
    drop(devs);
    drop(scratch);
    for node in [&bound_disk, &root_disk, &root_null] {
        assert!(
            std::fs::symlink_metadata(node).is_err(),
            "{} was removed",
            node.display()
        );
    }
    assert!(!dir.exists(), "the scratch directory {dir:?} is gone");
}

// ---------------------------------------------------------------------------------------------
// Root's user keyring

/// A "user" key in root's user keyring, made on the host (by the static probe, run as this
/// process's uid: `add_key(2)` has no safe wrapper), unlinked (and invalidated) on drop.
struct UserKey {
    id: String,
    description: String,
}

impl UserKey {
    fn add(description: &str, payload: &str) -> UserKey {
        let out = Command::new(PROBE_BINARY)
            .args(["add-user-key", description, payload])
            .output()
            .expect("run the probe on the host");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let Answer::Ok(id) = Answer::parse(&stdout) else {
            panic!("add_key on the host failed: {stdout} {out:?}");
        };
        UserKey {
            id,
            description: description.to_owned(),
        }
    }

    /// What a search of the user keyring from the host finds: `Ok(payload)` or the errno.
    fn search_from_host(description: &str) -> Answer {
        let out = Command::new(PROBE_BINARY)
            .args(["user-key", description])
            .output()
            .expect("run the probe on the host");
        Answer::parse(&String::from_utf8_lossy(&out.stdout))
    }
}

impl Drop for UserKey {
    fn drop(&mut self) {
        let out = Command::new(PROBE_BINARY)
            .args(["unlink-user-key", &self.id])
            .output();
        let answer = out
            .as_ref()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        if !matches!(&answer, Ok(a) if a.starts_with("ok")) {
            eprintln!(
                "furnace-tests: could not unlink key {} ({}) from root's user keyring: {answer:?}",
                self.id, self.description
            );
        }
    }
}

/// The hole: kernel keyrings are not namespaced. Where a container's root is uid 0 of the
/// host's user namespace, `KEY_SPEC_USER_KEYRING` inside is the host root's own user keyring —
/// before issue 15 any hardened command could search it and read the keys the host's root
/// processes keep there (credentials, tokens), or plant its own. Two defenses close it, each
/// alone: the default seccomp filter refuses `keyctl`, `add_key` and `request_key` with
/// `EPERM`, and the default user namespace makes root inside another uid outside, whose user
/// keyring is not root's. The same probe in the privileged profile, and in the hardened
/// profile with neither defense, finds and reads the key: the hole is real.
#[test]
fn the_host_roots_user_keyring_is_out_of_reach() {
    let scratch = Scratch::idmappable();
    install_probe(&scratch);
    let description = unique_name("user-key");
    let payload = format!("secret-of-{}", std::process::id());
    {
        let _key = UserKey::add(&description, &payload);
        let c = start_hardened(&scratch.root());
        assert_errno(
            &probe_answer(&c, &["user-key", &description]),
            "EPERM",
            "searching root's user keyring from the hardened profile",
        );
        drop(c);
        // Contrast: the key is there for whoever runs as uid 0 without the filter.
        let privileged = start_profile(&scratch.root(), false);
        assert_eq!(
            probe_answer(&privileged, &["user-key", &description]),
            Answer::Ok(payload.clone()),
            "the privileged profile reads the host root's key"
        );
        drop(privileged);
        // Each of the two defenses closes it alone: without the filter, the default user
        // namespace (root inside is another uid outside, whose user keyring is its own);
        // without the user namespace, the filter (checked above through both).
        let unfiltered = Container::builder(scratch.root())
            .hardened(true)
            .seccomp(Seccomp::Unconfined)
            .start()
            .expect("start hardened, unconfined");
        assert_errno(
            &probe_answer(&unfiltered, &["user-key", &description]),
            "ENOKEY",
            "the hardened profile without the filter, in its user namespace",
        );
        drop(unfiltered);
        let filtered_only = Container::builder(scratch.root())
            .hardened(true)
            .private_users(PrivateUsers::Off)
            .start()
            .expect("start hardened without a user namespace of its own");
        assert_errno(
            &probe_answer(&filtered_only, &["user-key", &description]),
            "EPERM",
            "the hardened profile without its user namespace, under the filter",
        );
        drop(filtered_only);
        let neither = Container::builder(scratch.root())
            .hardened(true)
            .seccomp(Seccomp::Unconfined)
            .private_users(PrivateUsers::Off)
            .start()
            .expect("start hardened, unconfined, without a user namespace of its own");
        assert_eq!(
            probe_answer(&neither, &["user-key", &description]),
            Answer::Ok(payload.clone()),
            "the hardened profile with neither defense reads the host root's key"
        );
    }
    // The guard took the key away.
    assert_errno(
        &UserKey::search_from_host(&description),
        "ENOKEY",
        "the planted key after the test",
    );
}

// ---------------------------------------------------------------------------------------------
// The default filter, call by call

/// `probe syscall NAMES...`: each name's answer.
fn syscalls(c: &Container, names: &[&str]) -> BTreeMap<String, Answer> {
    let out = probe(c, &[&["syscall"][..], names].concat()).stdout;
    let answers: BTreeMap<String, Answer> = out
        .lines()
        .filter_map(|l| {
            let (name, _) = l.split_once(' ')?;
            Some((name.to_owned(), Answer::parse(l)))
        })
        .collect();
    for name in names {
        assert!(answers.contains_key(*name), "no answer for {name}: {out}");
    }
    answers
}

/// What a call must answer: `"ok"` (any success), `"ok X"` (success printing X), or an errno.
fn matches(answer: &Answer, expected: &str) -> bool {
    match (answer, expected.strip_prefix("ok")) {
        (Answer::Ok(_), Some("")) => true,
        (Answer::Ok(got), Some(rest)) => got == rest.trim_start(),
        (Answer::Err(errno), None) => errno == expected,
        _ => false,
    }
}

/// One row of the table: the call, its answer under the default filter, and in the hardened
/// profile without it.
struct Row {
    call: &'static str,
    filtered: &'static str,
    unfiltered: &'static str,
}

const fn row(call: &'static str, filtered: &'static str, unfiltered: &'static str) -> Row {
    Row {
        call,
        filtered,
        unfiltered,
    }
}

/// The hole: the hardened profile's capabilities leave most of the kernel's interface open,
/// and much of it is not namespaced or is a favourite of kernel exploits: keyrings (the
/// host's), bpf, perf events, userfaultfd, io_uring, file handles, other processes' memory,
/// new user namespaces (in which the process holds every capability, the start of most
/// container escapes), `personality` flags that switch address randomisation off, terminal
/// injection (`TIOCSTI`, `TIOCLINUX`), and `clone3`, whose namespace flags seccomp cannot see.
/// The default filter answers `EPERM` to each (`ENOSYS` to `clone3`, so that C libraries fall
/// back to `clone`), while ordinary calls still work.
///
/// Where the hardened profile without the filter answers differently — the call succeeds, or
/// gets past the permission check to fail on its arguments — the table says so, and the same
/// container with `.seccomp(Seccomp::Unconfined)` proves it: the filter, not a capability,
/// made the difference. Rows where both answer `EPERM` (mounts, `setns`, namespaces other
/// than the user one) are refused by missing capabilities as well; the filter doubles them.
#[test]
fn the_default_filter_refuses_the_kernels_unnamespaced_surface() {
    let scratch = Scratch::idmappable();
    install_probe(&scratch);
    // The unfiltered answers of three calls follow the machine's settings.
    let perf_unfiltered = if sysctl("kernel/perf_event_paranoid").parse::<i32>().unwrap() <= 2 {
        "ok"
    } else {
        "EACCES"
    };
    let io_uring_unfiltered = match std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
        Ok(v) if v.trim() != "0" => "EPERM",
        _ => "ok",
    };
    let tiocsti_unfiltered = match std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti") {
        Ok(v) if v.trim() == "0" => "EIO",
        _ => "ok",
    };
    let rows = [
        // Ordinary calls work either way.
        row("uname", "ok Linux", "ok Linux"),
        row("getpid", "ok", "ok"),
        row("fork-wait", "ok 7", "ok 7"),
        row("tmp-write", "ok written", "ok written"),
        row("personality=0", "ok", "ok"),
        row("personality=0x8", "ok", "ok"),
        row("personality=0x20000", "ok", "ok"),
        row("personality=0x20008", "ok", "ok"),
        row("personality=0xffffffff", "ok", "ok"),
        // Refused by the filter, open without it.
        row("keyctl", "EPERM", "ok"),
        row("add-key", "EPERM", "ok"),
        row("request-key", "EPERM", "ENOKEY"),
        row("bpf", "EPERM", "EBADFD"),
        row("perf-event-open", "EPERM", perf_unfiltered),
        row("userfaultfd", "EPERM", "ok"),
        row("io-uring", "EPERM", io_uring_unfiltered),
        row("name-to-handle", "EPERM", "ok"),
        row("process-vm-readv", "EPERM", "ok"),
        row("unshare-user", "EPERM", "ok"),
        row("clone-newuser", "EPERM", "ok"),
        row("clone3", "ENOSYS", "ok"),
        row("personality=0x40000", "EPERM", "ok"),
        row("tiocsti-own-tty", "EPERM", tiocsti_unfiltered),
        row("tiocsti-own-tty-highbits", "EPERM", tiocsti_unfiltered),
        row("tioclinux-own-tty", "EPERM", "ENOTTY"),
        // Refused by the filter and by missing capabilities.
        row("unshare-mount", "EPERM", "EPERM"),
        row("clone-newns", "EPERM", "EPERM"),
        row("setns-uts", "EPERM", "EPERM"),
        row("mount-tmpfs", "EPERM", "EPERM"),
        row("fsopen", "EPERM", "EPERM"),
    ];
    let names: Vec<&str> = rows.iter().map(|r| r.call).collect();
    let mut wrong = Vec::new();
    for filtered in [true, false] {
        let mut builder = Container::builder(scratch.root());
        builder.hardened(true);
        if !filtered {
            builder.seccomp(Seccomp::Unconfined);
        }
        let c = builder.start().expect("start");
        assert_eq!(
            seccomp_mode(&c),
            if filtered { "2" } else { "0" },
            "filtered: {filtered}"
        );
        let answers = syscalls(&c, &names);
        for row in &rows {
            let expected = if filtered {
                row.filtered
            } else {
                row.unfiltered
            };
            let answer = &answers[row.call];
            if !matches(answer, expected) {
                let how = if filtered { "filtered" } else { "unfiltered" };
                wrong.push(format!(
                    "{how} {}: {answer:?}, expected {expected}",
                    row.call
                ));
            }
        }
        // A shell's ordinary work, under the filter too.
        assert_eq!(
            sh_ok(
                &c,
                "cd /tmp && echo data > f && cat f | wc -c && (sleep 0 &) && wait && rm f"
            ),
            "5\n"
        );
    }
    assert!(
        wrong.is_empty(),
        "the hardened profile's answers, with and without the default filter:\n  {}",
        wrong.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// Real userlands under the filter

/// A host program the Debian userland test needs, or a loud failure naming it.
fn require_host_program(name: &str) -> PathBuf {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "the host has no {name}: this test runs the host's Debian userland (dpkg, gcc) \
                 under the default seccomp filter; install it (`apt-get install -y {}`)",
                if name == "gcc" { "gcc libc6-dev" } else { name }
            )
        })
}

/// The host's root filesystem alone (none of the mounts under `/`), bound read-only on a
/// directory of its own, detached on drop: the library refuses `/` itself as a root
/// (`Error::InvalidRoot`, "is the host's own root directory").
struct HostRootBind {
    dir: TempDir,
}

impl HostRootBind {
    fn new() -> HostRootBind {
        let dir = TempDir::new("host-root");
        furnace_sys::mount::bind("/", dir.path())
            .unwrap_or_else(|e| panic!("bind the host's / on {}: {e}", dir.path().display()));
        let bind = HostRootBind { dir };
        furnace_sys::mount::remount_read_only(bind.dir.path())
            .unwrap_or_else(|e| panic!("make the bind of / read-only: {e}"));
        bind
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for HostRootBind {
    fn drop(&mut self) {
        // Then the TempDir removes the empty directory (it never reaches into a mount).
        if let Err(e) =
            furnace_sys::mount::umount2(self.dir.path(), furnace_sys::mount::UnmountFlags::DETACH)
        {
            eprintln!("furnace-tests: unmounting the bind of the host's /: {e}");
        }
    }
}

/// The hole this guards against is the other way round: an allow-list that is too tight
/// turns the hardened profile into one nobody can use, and people switch it off. The host's
/// own Debian userland, as a hardened container's root (writes on a throw-away layer), runs
/// `dpkg` and compiles, links and runs a C program with gcc (posix_spawn, vfork, clone3
/// falling back to clone) under the default filter; a busybox root runs a shell pipeline.
/// (The host's root filesystem is bound read-only elsewhere first, since the library refuses
/// `/` itself; the container sees the same files.)
/// Both check that the filter was really on (`Seccomp: 2`), so before issue 15 (no filter)
/// they fail.
#[test]
fn a_debian_userland_and_busybox_work_under_the_default_filter() {
    let scratch = Scratch::idmappable();
    for program in ["dpkg", "gcc", "sh", "grep"] {
        require_host_program(program);
    }
    let host_t_c = std::fs::read("/tmp/t.c").ok();
    let host_root = HostRootBind::new();
    let debian = Container::builder(host_root.path())
        .hardened(true)
        .overlay(Overlay::Ephemeral)
        .start()
        .expect("start a hardened container over the host's root filesystem");
    let out = sh_ok(
        &debian,
        "grep '^Seccomp:' /proc/self/status; \
         dpkg -l dpkg >/dev/null && printf 'int main(void){return 7;}' > /tmp/t.c && \
         gcc /tmp/t.c -o /tmp/t && /tmp/t; echo status=$?",
    );
    assert_eq!(out, "Seccomp:\t2\nstatus=7\n", "the Debian userland");
    drop(debian);
    drop(host_root);
    assert_eq!(
        std::fs::read("/tmp/t.c").ok(),
        host_t_c,
        "the container's writes stayed on its throw-away layer"
    );

    let busybox = start_hardened(&scratch.root());
    let out = sh_ok(
        &busybox,
        "grep '^Seccomp:' /proc/self/status; ls / >/dev/null && cat /etc/os-release && echo ok",
    );
    assert!(
        out.starts_with("Seccomp:\t2\n") && out.ends_with("\nok\n"),
        "the busybox root: {out}"
    );
    assert!(out.contains("NAME="), "os-release was read: {out}");
}

// ---------------------------------------------------------------------------------------------
// A caller's own profile

/// The hole: a caller who needs a tighter (or different) filter than furnace's default must
/// be able to give one, in the formats the tools around use (OCI, Docker), and have it applied
/// — a profile read but silently ignored would be worse than none. An OCI profile that refuses
/// only `getcwd` with `EPERM` makes `/bin/pwd` fail with "Operation not permitted" in the
/// privileged profile while `echo` works; without it (the privileged profile's default, no
/// filter) `/bin/pwd` works. A Docker profile's `includes.caps` / `excludes.caps` rules are
/// resolved against the capabilities the commands will have: the `CAP_SYS_ADMIN` rule applies
/// in the privileged profile, the other one in the hardened profile.
#[test]
fn a_callers_oci_or_docker_profile_is_honoured() {
    let scratch = Scratch::idmappable();
    install_probe(&scratch);
    let oci = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#;
    let oci_profile =
        SeccompProfile::from_json(oci, &CapabilitySet::all()).expect("the OCI profile");

    // Contrast first: without a profile the privileged profile has no filter.
    let plain = start_profile(&scratch.root(), false);
    assert_eq!(seccomp_mode(&plain), "0");
    assert_eq!(run(&plain, "/bin/pwd", &[] as &[&str]).stdout, "/\n");
    drop(plain);

    let c = Container::builder(scratch.root())
        .seccomp(Seccomp::Profile(oci_profile))
        .start()
        .expect("start with the OCI profile");
    assert_eq!(seccomp_mode(&c), "2");
    let pwd = run(&c, "/bin/pwd", &[] as &[&str]);
    assert!(
        !pwd.status.success() && pwd.stderr.contains("Operation not permitted"),
        "/bin/pwd under a profile refusing getcwd: {pwd:?}"
    );
    assert_errno(&probe_answer(&c, &["cwd"]), "EPERM", "getcwd");
    let echo = run(&c, "echo", &["still", "works"]);
    assert!(echo.status.success(), "{echo:?}");
    assert_eq!(echo.stdout, "still works\n");
    drop(c);

    // Docker's format: conditional rules, archMap, comments.
    let arch = if cfg!(target_arch = "aarch64") {
        "SCMP_ARCH_AARCH64"
    } else {
        "SCMP_ARCH_X86_64"
    };
    let docker = format!(
        r#"{{
            "defaultAction": "SCMP_ACT_ALLOW",
            "archMap": [{{"architecture": "{arch}", "subArchitectures": []}}],
            "syscalls": [
                {{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                  "comment": "only for commands with CAP_SYS_ADMIN",
                  "includes": {{"caps": ["CAP_SYS_ADMIN"]}}}},
                {{"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                  "comment": "only for commands without CAP_SYS_ADMIN",
                  "excludes": {{"caps": ["CAP_SYS_ADMIN"]}}}}
            ]
        }}"#
    );
    for hardened in [false, true] {
        let caps = if hardened {
            hardened_capability_set()
        } else {
            CapabilitySet::all()
        };
        let resolved = SeccompProfile::from_json(&docker, &caps).expect("the Docker profile");
        let kept: Vec<&str> = resolved
            .rules()
            .iter()
            .flat_map(|r| r.names().iter().map(String::as_str))
            .collect();
        assert_eq!(
            kept,
            [if hardened { "uname" } else { "getcwd" }],
            "{}",
            profile(hardened)
        );
        let c = Container::builder(scratch.root())
            .hardened(hardened)
            .seccomp(Seccomp::Profile(resolved))
            .start()
            .expect("start with the Docker profile");
        let answers = syscalls(&c, &["uname"]);
        let cwd = probe_answer(&c, &["cwd"]);
        let pwd = run(&c, "/bin/pwd", &[] as &[&str]);
        if hardened {
            assert_errno(&answers["uname"], "EPERM", "hardened: uname");
            assert_eq!(cwd, Answer::Ok("/".into()), "hardened: getcwd");
            assert_eq!(pwd.stdout, "/\n", "hardened: /bin/pwd {pwd:?}");
        } else {
            assert!(
                matches(&answers["uname"], "ok"),
                "privileged: uname {answers:?}"
            );
            assert_errno(&cwd, "EPERM", "privileged: getcwd");
            assert!(
                pwd.stderr.contains("Operation not permitted"),
                "privileged: /bin/pwd {pwd:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// kill 0

/// The hole: before issue 15 a command of the privileged profile stayed in its caller's
/// process group, so `kill 0` inside — the `trap 'kill 0' EXIT` idiom of shell scripts —
/// sent SIGTERM to the caller (and its siblings) on the host, across the pid namespace. Now
/// every command leads a process group of its own in every profile. The caller here is
/// `furnace-test-helper run-with`, a process of its own leading its own process group (so
/// that a regression kills it, not this test process), which runs
/// `container.command("sh").args(["-c", "kill 0"]).status()` and exits with 128 + the
/// signal the command died of; died itself of SIGTERM, it would show signal 15.
#[test]
fn kill_0_in_a_command_spares_the_library_caller() {
    let scratch = Scratch::idmappable();
    for hardened in [false, true] {
        let mut cmd = Command::new(HELPER);
        cmd.arg("run-with").arg(scratch.root());
        if hardened {
            cmd.arg("--hardened");
        }
        let mut child = cmd
            .args(["--", "sh", "-c", "kill 0; echo not-reached"])
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start furnace-test-helper");
        let status = wait_child(&mut child, "furnace-test-helper run-with sh -c 'kill 0'");
        let mut stdout = String::new();
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        let what = profile(hardened);
        assert_eq!(
            status.signal(),
            None,
            "{what}: the caller itself was killed: {status:?}; stderr: {stderr}"
        );
        assert_eq!(
            status.code(),
            Some(128 + libc::SIGTERM),
            "{what}: the command died of SIGTERM and its caller reported it; stderr: {stderr}"
        );
        assert!(!stdout.contains("not-reached"), "{what}: {stdout}");
    }
}
