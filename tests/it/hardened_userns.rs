//! Issue 15, root inside is nobody outside: the hardened profile started as root has a user
//! namespace of its own by default (`PrivateUsers::Pick`): the id map is a free range of
//! the pool, different for two containers and free again after teardown; files written inside
//! land root-owned on disk (idmapped root, overlay layers and binds); commands are the range's
//! first id outside; host files handed as stdio cannot be reopened for writing; a setuid-root
//! program inside gains nothing; a detached container's attached handles join the namespace;
//! limits keep working.
//!
//! The roots are the image itself (ext4, read-only, which can be idmapped) with an overlay of
//! furnace's own, or a plain directory on the host's disk. An overlayfs mount (a `Scratch`)
//! cannot be idmapped: starting over one fails before anything is made, runs read-only with
//! `PrivateUsers::PickOrReadOnly`, and runs as before with `PrivateUsers::Off` (checked too).

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;

use furnace_core::{
    Container, ContainerBuilder, Error, Lifetime, Overlay, PrivateUsers, Registry, Warning,
};
use furnace_tests::probe::PROBE_BINARY;
use furnace_tests::*;

use crate::HELPER;

/// The pool's bounds (`idrange.rs`): ranges of 65,536 ids from 0x7000_0000 below 0x7FFE_0000.
const POOL: std::ops::Range<u32> = 0x7000_0000..0x7FFE_0000;

fn builder(root: &Path) -> ContainerBuilder {
    let mut b = Container::builder(root);
    b.hardened(true);
    b
}

/// The image with an ephemeral overlay of furnace's own.
fn ephemeral() -> Container {
    builder(&image())
        .overlay(Overlay::Ephemeral)
        .start()
        .expect("start a hardened container with a user namespace of its own")
}

/// `0 START 65536` of a `/proc/PID/uid_map` text.
fn map_of(text: &str) -> (u32, u32, u32) {
    let words: Vec<u32> = text
        .split_whitespace()
        .map(|w| w.parse().expect("a number"))
        .collect();
    assert_eq!(words.len(), 3, "one line of three numbers: {text:?}");
    (words[0], words[1], words[2])
}

fn owner(path: &Path) -> (u32, u32) {
    let meta = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (meta.uid(), meta.gid())
}

/// Whether nobody holds the lock of the range starting at `start`.
fn range_is_free(start: u32) -> bool {
    let file = File::open(format!("/run/furnace/.ids/{start}.lock")).expect("the lock file");
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok()
}

#[test]
fn the_map_is_a_range_of_the_pool_distinct_per_container_and_freed_at_teardown() {
    let a = ephemeral();
    let b = ephemeral();
    let start = a.id_range_start().expect("a range");
    assert!(
        POOL.contains(&start) && start.is_multiple_of(65536),
        "{start:#x}"
    );
    for (c, kind) in [(&a, "uid_map"), (&a, "gid_map"), (&b, "uid_map")] {
        let text = sh_ok(c, &format!("cat /proc/self/{kind}"));
        assert_eq!(
            map_of(&text),
            (0, c.id_range_start().unwrap(), 65536),
            "{kind}"
        );
    }
    assert_ne!(
        a.id_range_start(),
        b.id_range_start(),
        "two containers, one range"
    );
    // PID 1 itself: root of the namespace, the range's first id outside.
    let status = fs::read_to_string(format!("/proc/{}/status", a.init_pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().skip(1).collect::<Vec<_>>(),
        vec![start.to_string(); 4]
    );
    assert!(!range_is_free(start), "a running container holds its range");
    drop(a);
    // A command another test's thread forks meanwhile holds a copy of the lock's fd until it
    // execs: the release can show a moment late.
    wait_until(DEADLINE, "the range is free again after teardown", || {
        range_is_free(start)
    });
    // Its recorded holder (PID 1) is gone, so the range is free for the next pick as well.
    drop(b);
}

#[test]
fn files_written_inside_land_root_owned_on_disk() {
    let dir = TempDir::new("userns-files");
    for sub in ["upper", "work", "data"] {
        fs::create_dir(dir.join(sub)).unwrap();
    }
    fs::write(dir.join("data/hosts-root"), "x").unwrap();
    let c = builder(&image())
        .overlay(Overlay::UpperWork {
            upper: dir.join("upper"),
            work: dir.join("work"),
        })
        .bind(dir.join("data"), "/data")
        .start()
        .expect("start");
    let out = sh_ok(
        &c,
        "touch /made-inside /data/made-inside && touch /data/given && \
         chown 1000:1000 /data/given && mkdir /dir && chown 1000:1000 /dir && \
         stat -c %u:%g /etc/passwd /data/hosts-root / && id -u",
    );
    assert_eq!(out, "0:0\n0:0\n0:0\n0\n");
    assert_eq!(owner(&dir.join("upper/made-inside")), (0, 0));
    assert_eq!(owner(&dir.join("data/made-inside")), (0, 0));
    assert_eq!(owner(&dir.join("data/given")), (1000, 1000));
    assert_eq!(owner(&dir.join("upper/dir")), (1000, 1000));
    drop(c);

    // A plain root on the host's disk (not a mount point; its usr a read-only bind of the
    // image, idmapped with it).
    let scratch = Scratch::new();
    let plain = PlainRoot::new(&scratch);
    let c = builder(&plain.root)
        .start()
        .expect("start over a plain root");
    let out = sh_ok(
        &c,
        "touch /tmp/written && stat -c %u:%g /usr/bin /tmp/written",
    );
    assert_eq!(out, "0:0\n0:0\n");
    assert_eq!(owner(&plain.root.join("tmp/written")), (0, 0));
    drop(c);

    // The ephemeral overlay: root's files are root's inside, and writing works.
    let c = ephemeral();
    assert_eq!(
        sh_ok(&c, "touch /x && stat -c %u:%g / /x /etc/passwd"),
        "0:0\n0:0\n0:0\n"
    );
}

#[test]
fn commands_run_as_the_ranges_first_id_outside() {
    let c = ephemeral();
    let start = c.id_range_start().unwrap();
    let mut child = c
        .command("sleep")
        .arg("30")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let status = fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    for key in ["Uid:", "Gid:"] {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        assert_eq!(
            line.split_whitespace().skip(1).collect::<Vec<_>>(),
            vec![start.to_string(); 4],
            "{key}"
        );
    }
    let groups = status.lines().find(|l| l.starts_with("Groups:")).unwrap();
    assert_eq!(groups.trim(), "Groups:", "no supplementary groups");
    child.kill().unwrap();
    child.wait().unwrap();
    // A uid the namespace does not map is refused before the fork.
    let err = c.command("true").uid(70000).status().unwrap_err();
    let inner = err.into_inner().expect("a furnace error").to_string();
    assert!(inner.contains("70000"), "{inner}");
    // One it maps runs, as that id outside.
    let out = c.command("id").args(["-u"]).uid(1000).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1000\n");
}

#[test]
fn host_files_handed_as_stdio_cannot_be_reopened_for_writing() {
    let dir = TempDir::new("userns-stdio");
    let input = dir.join("input");
    fs::write(&input, "secret\n").unwrap();
    fs::set_permissions(&input, fs::Permissions::from_mode(0o644)).unwrap();
    let log = dir.join("log");
    fs::write(&log, "kept\n").unwrap();
    let c = ephemeral();
    let reopen = c
        .command("sh")
        .args(["-c", "echo overwritten > /proc/self/fd/0 && echo REOPENED"])
        .stdin(File::open(&input).unwrap())
        .output()
        .unwrap();
    assert!(!reopen.status.success());
    let stderr = String::from_utf8_lossy(&reopen.stderr);
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert_eq!(fs::read_to_string(&input).unwrap(), "secret\n");
    let append = OpenOptions::new().append(true).open(&log).unwrap();
    let truncate = c
        .command("sh")
        .args(["-c", "echo appended; : > /proc/self/fd/1"])
        .stdout(append)
        .output()
        .unwrap();
    assert!(!truncate.status.success());
    let stderr = String::from_utf8_lossy(&truncate.stderr);
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert_eq!(fs::read_to_string(&log).unwrap(), "kept\nappended\n");
}

#[test]
fn a_setuid_root_program_inside_gains_nothing() {
    let dir = TempDir::new("userns-setuid");
    for sub in ["upper", "work"] {
        fs::create_dir(dir.join(sub)).unwrap();
    }
    let suid = dir.join("upper/suid-probe");
    fs::copy(PROBE_BINARY, &suid).unwrap();
    std::os::unix::fs::chown(&suid, Some(0), Some(0)).unwrap();
    fs::set_permissions(&suid, fs::Permissions::from_mode(0o4755)).unwrap();
    let c = builder(&image())
        .overlay(Overlay::UpperWork {
            upper: dir.join("upper"),
            work: dir.join("work"),
        })
        .start()
        .unwrap();
    assert_eq!(sh_ok(&c, "stat -c %u:%a /suid-probe"), "0:4755\n");
    let field = |out: &str, key: &str| -> Vec<String> {
        let line = out
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} in {out}"));
        line.split_whitespace().skip(1).map(str::to_owned).collect()
    };
    // As uid 1000: `no_new_privs` keeps the set-user-id bit from doing anything — what the
    // program creates is 1000's, and it has no capability.
    let as_user = c
        .command("/suid-probe")
        .args(["create", "/tmp/by-user"])
        .uid(1000)
        .gid(1000)
        .output()
        .unwrap();
    assert!(as_user.status.success(), "{as_user:?}");
    let status = c
        .command("/suid-probe")
        .arg("status")
        .uid(1000)
        .gid(1000)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&status.stdout).into_owned();
    assert_eq!(field(&out, "CapEff:"), vec!["0000000000000000"], "{out}");
    assert_eq!(field(&out, "NoNewPrivs:"), vec!["1"], "{out}");
    assert_eq!(owner(&dir.join("upper/tmp/by-user")), (1000, 1000));
    // As root inside it writes as root of the container: root on disk through the idmapped
    // layer, the range's first id outside (see `commands_run_as_the_ranges_first_id_outside`).
    let as_root = c
        .command("/suid-probe")
        .args(["create", "/tmp/by-root"])
        .output()
        .unwrap();
    assert!(as_root.status.success(), "{as_root:?}");
    assert_eq!(owner(&dir.join("upper/tmp/by-root")), (0, 0));
}

/// The default (`Pick`): an overlayfs root, or a bind source on overlayfs, fails the start
/// with `Error::NotIdmappable` naming it and its filesystem, before any namespace is made:
/// no process, mount or id range is left.
#[test]
fn an_overlayfs_root_or_bind_is_refused_before_anything_is_made() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let err = builder(&scratch.root()).start().unwrap_err();
    match &err {
        Error::NotIdmappable {
            what, filesystem, ..
        } => assert_eq!((*what, filesystem.as_str()), ("root", "overlay"), "{err}"),
        other => panic!("expected NotIdmappable, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&scratch.root().display().to_string()),
        "{text}"
    );
    assert!(text.contains("PrivateUsers::PickOrReadOnly"), "{text}");
    // A bind source on the overlay, the root idmappable.
    let err = builder(&image())
        .overlay(Overlay::Ephemeral)
        .bind(scratch.root().join("etc"), "/mnt")
        .start()
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::NotIdmappable {
                what: "bind source",
                ..
            }
        ),
        "{err:?}"
    );
    leaks.assert_clean();
}

/// `PickOrReadOnly`: an overlayfs root runs read-only and not idmapped, with a warning; root
/// inside is still the range's first id outside, the root's files are nobody's inside, and
/// nothing inside can write the root. A bind source on overlayfs likewise.
#[test]
fn the_read_only_fallback_runs_an_overlayfs_root_read_only_as_nobody() {
    let scratch = Scratch::new();
    let src = Scratch::new();
    let c = builder(&scratch.root())
        .private_users(PrivateUsers::PickOrReadOnly)
        .bind(src.root().join("etc"), "/mnt")
        .start()
        .expect("start with the read-only fallback");
    let start = c.id_range_start().expect("a range");
    assert!(POOL.contains(&start), "{start:#x}");
    let warned = c.warnings();
    assert!(
        warned
            .iter()
            .any(|w| matches!(w, Warning::NotIdmapped { what: "root", .. }))
            && warned.iter().any(|w| matches!(
                w,
                Warning::NotIdmapped {
                    what: "bind source",
                    ..
                }
            )),
        "{warned:?}"
    );
    let map = sh_ok(&c, "cat /proc/self/uid_map");
    assert_eq!(map_of(&map), (0, start, 65536), "{map}");
    assert_eq!(
        sh_ok(&c, "stat -c %u:%g /etc/passwd /mnt/passwd"),
        "65534:65534\n65534:65534\n"
    );
    let (status, _, err) = sh(&c, "echo x > /etc/passwd");
    assert!(!status.success(), "wrote the root: {err}");
    let (status, _, err) = sh(&c, "touch /new-file");
    assert!(!status.success() && err.contains("Read-only"), "{err}");
    let (status, _, err) = sh(&c, "touch /mnt/new-file");
    assert!(!status.success() && err.contains("Read-only"), "{err}");
    drop(c);
    assert!(!scratch.host_path("/new-file").exists());
    assert!(!src.host_path("/etc/new-file").exists());
}

/// `Off`: no user namespace of its own — root inside is root outside, and an overlayfs root
/// runs writable as before issue 15.
#[test]
fn off_keeps_root_inside_root_outside() {
    let scratch = Scratch::new();
    let c = builder(&scratch.root())
        .private_users(PrivateUsers::Off)
        .start()
        .expect("start without a user namespace of its own");
    assert_eq!(c.id_range_start(), None);
    let map = sh_ok(&c, "cat /proc/self/uid_map");
    assert_eq!(map_of(&map), (0, 0, u32::MAX), "{map}");
    sh_ok(&c, "echo x > /by-root");
    assert_eq!(owner(&scratch.host_path("/by-root")), (0, 0));
}

/// A terminal of the container's devpts opened by furnace (`Container::open_pty`, behind
/// `furnace shell` and `run -t`) is its root's and `tty`'s inside, as in the privileged
/// profile — not the host's root, who is no one there — so programs inside may reopen it.
#[test]
fn the_containers_terminals_are_its_roots() {
    let c = ephemeral();
    let start = c.id_range_start().expect("a range");
    let pty = c.open_pty().expect("open a terminal of the container");
    let meta = rustix::fs::fstat(&pty.peer).expect("fstat the terminal");
    assert_eq!((meta.st_uid, meta.st_gid), (start, start + 5));
    let out = c
        .command("sh")
        .args([
            "-c",
            "stat -L -c %u:%g /proc/self/fd/0; exec 3<>\"$(tty)\" && echo reopened",
        ])
        .stdin(Stdio::from(pty.peer))
        .output()
        .expect("run a command on the terminal");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "0:5\nreopened\n",
        "{out:?}"
    );
}

/// The owner killed with `SIGKILL`: PID 1 goes with it, and so does the lock on its id range
/// (an `flock` that dies with its last holder) — the range is free again and nothing is left.
#[test]
fn the_range_is_freed_when_the_owner_is_killed() {
    let scratch = Scratch::exclusive_idmappable();
    let leaks = LeakCheck::snapshot();
    let mut helper = Helper::start(Path::new(HELPER), "hold-hardened", &scratch.root());
    let map =
        fs::read_to_string(format!("/proc/{}/uid_map", helper.init_pid)).expect("PID 1's uid_map");
    let (_, start, _) = map_of(&map);
    assert!(POOL.contains(&start), "{map}");
    assert!(!range_is_free(start), "PID 1 holds its range");
    helper.kill();
    let (status, _) = helper.wait();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    wait_until(DEADLINE, "PID 1 to go with its owner", || {
        !std::path::Path::new(&format!("/proc/{}", helper.init_pid)).exists()
    });
    assert!(range_is_free(start), "the range {start:#x} is free again");
    drop(helper);
    leaks.assert_clean();
}

#[test]
fn attached_handles_join_the_user_namespace_and_limits_hold() {
    let dir = TempDir::new("userns-registry");
    let registry = Registry::at(dir.join("registry"));
    let started = builder(&image())
        .overlay(Overlay::Ephemeral)
        .lifetime(Lifetime::Detached { timeout: None })
        .name("userns")
        .registry(registry.clone())
        .pids_max(64)
        .start()
        .expect("start detached");
    let start = started.id_range_start().unwrap();
    let attached = registry.attach("userns").expect("attach");
    assert_eq!(attached.id_range_start(), Some(start));
    let text = sh_ok(
        &attached,
        "cat /proc/self/uid_map; id -u; cat /proc/self/cgroup | grep -c pids:/$",
    );
    let mut lines = text.lines();
    assert_eq!(map_of(lines.next().unwrap()), (0, start, 65536));
    assert_eq!(lines.next(), Some("0"));
    // Inside its cgroup namespace, the container's pids cgroup is its root.
    assert_eq!(lines.next(), Some("1"), "{text}");
    assert!(started.resource_usage().is_some());
    drop(attached);
    started.stop().expect("stop");
}
