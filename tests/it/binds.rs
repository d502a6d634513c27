//! Bind mounts: directories and files, read-write and read-only, new and existing destinations,
//! host read-only binds that stay so, destinations through symlinks (followed inside the root,
//! refused when they lead out, raced by a swapper), and binds under the standard mounts.

use std::ffi::CString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use furnace_core::{BindMount, Container, Error, PathProblem};
use furnace_tests::hostside::{bind_source, file_name, relative_to_outside, symlink_over, Outside};
use furnace_tests::*;

/// A host directory with one file, for bind sources.
fn source_dir(tag: &str, content: &str) -> TempDir {
    let dir = TempDir::new(tag);
    std::fs::write(dir.join("data.txt"), content).expect("write the source file");
    dir
}

/// A directory bound to a new nested destination: writable, invisible on the host, its mount
/// point empty in the root while it runs and removed when it ends (issue 14).
#[test]
fn directory_to_a_nested_new_path() {
    let scratch = Scratch::new();
    let src = source_dir("bind-src", "nested\n");
    assert!(!scratch.host_path("/a").exists());
    let c = Container::builder(scratch.root())
        .bind(src.path(), "/a/b/c")
        .start()
        .expect("start");
    assert_eq!(sh_ok(&c, "cat /a/b/c/data.txt"), "nested\n");
    sh_ok(&c, "echo from-inside > /a/b/c/new.txt");
    assert_eq!(
        std::fs::read_to_string(src.join("new.txt")).expect("read"),
        "from-inside\n",
        "writable: the write reaches the source"
    );
    // Not visible on the host under the root, neither now nor afterwards.
    let host_view = scratch.host_path("/a/b/c");
    assert!(!host_view.join("data.txt").exists());
    assert!(
        mount_points_under(&scratch.root()).len() == 1,
        "only the overlay"
    );
    assert!(
        host_view.is_dir(),
        "the mount point was created in the root"
    );
    assert_eq!(std::fs::read_dir(&host_view).expect("list").count(), 0);
    drop(c);
    assert!(
        !scratch.host_path("/a").exists(),
        "what furnace made is removed at the end"
    );
}

/// D05: a read-only directory bind cannot be written.
#[test]
fn read_only_directory() {
    let scratch = Scratch::new();
    let src = source_dir("bind-ro", "read me\n");
    let c = Container::builder(scratch.root())
        .bind_ro(src.path(), "/srv/ro")
        .start()
        .expect("start");
    assert_eq!(sh_ok(&c, "cat /srv/ro/data.txt"), "read me\n");
    let (status, _, err) = sh(&c, "echo x > /srv/ro/new.txt");
    assert!(!status.success(), "writing fails");
    assert!(err.contains("Read-only"), "{err}");
    assert!(!src.join("new.txt").exists());
    let (status, _, _) = sh(&c, "echo x >> /srv/ro/data.txt");
    assert!(!status.success());
    assert_eq!(
        std::fs::read_to_string(src.join("data.txt")).expect("read"),
        "read me\n"
    );
    drop(c);
    assert!(
        !scratch.host_path("/srv/ro/data.txt").exists(),
        "not visible on the host"
    );
}

/// Files bound onto a new and an existing file path (read-only there).
#[test]
fn file_to_a_file_path() {
    let scratch = Scratch::new();
    let src = source_dir("bind-file", "file content\n");
    let existing = "/etc/hostname";
    let before = std::fs::read(scratch.host_path(existing)).expect("read");
    let c = Container::builder(scratch.root())
        .bind(src.join("data.txt"), "/etc/app/config.txt")
        .bind_ro(src.join("data.txt"), existing)
        .start()
        .expect("start");
    assert_eq!(sh_ok(&c, "cat /etc/app/config.txt"), "file content\n");
    assert_eq!(sh_ok(&c, "cat /etc/hostname"), "file content\n");
    sh_ok(
        &c,
        "test -f /etc/app/config.txt && ! test -d /etc/app/config.txt",
    );
    let (status, _, _) = sh(&c, "echo x > /etc/hostname");
    assert!(
        !status.success(),
        "the read-only file bind cannot be written"
    );
    let created = scratch.host_path("/etc/app/config.txt");
    assert_eq!(
        std::fs::read(&created).expect("read").len(),
        0,
        "an empty mount point while it runs"
    );
    drop(c);
    assert_eq!(
        std::fs::read(scratch.host_path(existing)).expect("read"),
        before
    );
    assert!(
        !scratch.host_path("/etc/app").exists(),
        "the empty mount point furnace made, and its directory, are removed at the end"
    );
}

/// Absolute, relative and `./` destinations are all relative to the root.
#[test]
fn absolute_and_relative_destinations_mean_the_same() {
    let scratch = Scratch::new();
    let src = source_dir("bind-rel", "same\n");
    let c = Container::builder(scratch.root())
        .bind(src.path(), "/mnt/absolute")
        .bind(src.path(), "mnt/relative")
        .mount(BindMount::new(src.path(), "./opt/dotted").read_only())
        .start()
        .expect("start");
    for dest in ["/mnt/absolute", "/mnt/relative", "/opt/dotted"] {
        assert_eq!(
            sh_ok(&c, &format!("cat {dest}/data.txt")),
            "same\n",
            "{dest}"
        );
    }
    let (status, _, _) = sh(&c, "touch /opt/dotted/x");
    assert!(!status.success(), "BindMount::read_only");
    assert!(
        !scratch.dir().join("mnt").exists(),
        "relative to the root, not to a cwd"
    );
}

/// D05: a read-only bind the host made in the root before the start stays read-only inside.
#[test]
fn host_read_only_bind_made_before_start_stays_read_only() {
    let scratch = Scratch::new();
    let src = source_dir("host-ro", "host ro\n");
    let point = scratch.host_path("/mnt/host-ro");
    std::fs::create_dir(&point).expect("mkdir");
    let _guard = furnace_core::host::BindMountGuard::new(src.path(), &point, true)
        .expect("read-only bind on the host");
    let c = start(&scratch.root());
    assert_eq!(sh_ok(&c, "cat /mnt/host-ro/data.txt"), "host ro\n");
    let (status, _, err) = sh(&c, "touch /mnt/host-ro/x");
    assert!(!status.success(), "still read-only inside");
    assert!(err.contains("Read-only"), "{err}");
    assert!(!src.join("x").exists());
}

/// D05: a host read-only bind in a root that is not a mount point survives the self-bind
/// read-only.
#[test]
fn host_read_only_bind_stays_read_only_in_a_root_that_is_not_a_mount_point() {
    let scratch = Scratch::new();
    let plain = PlainRoot::new(&scratch);
    // The plain root's usr is a read-only bind of the image: it survives the self-bind.
    let c = start(&plain.root);
    let (status, _, err) = sh(&c, "touch /usr/furnace-x");
    assert!(!status.success(), "usr stays read-only");
    assert!(err.contains("Read-only"), "{err}");
    sh_ok(&c, "touch /root/writable");
}

/// A10: a symlink at a file destination is replaced by the bind, not followed to the host.
#[test]
fn symlink_at_a_file_destination_is_replaced_not_followed() {
    let scratch = Scratch::new();
    let outside = TempDir::new("outside");
    let victim = outside.join("victim");
    std::fs::write(&victim, "host file\n").expect("write");
    std::os::unix::fs::symlink(&victim, scratch.host_path("/etc/link")).expect("symlink");
    let src = source_dir("bind-src", "bound\n");
    let c = Container::builder(scratch.root())
        .bind(src.join("data.txt"), "/etc/link")
        .start()
        .expect("start");
    assert_eq!(sh_ok(&c, "cat /etc/link"), "bound\n");
    sh_ok(&c, "test ! -L /etc/link");
    drop(c);
    assert_eq!(
        std::fs::read_to_string(&victim).expect("read"),
        "host file\n"
    );
    assert_eq!(mount_points_under(outside.path()), Vec::<PathBuf>::new());
}

/// Binds exist only in the container's mount namespace.
#[test]
fn binds_are_invisible_on_the_host_while_running() {
    let scratch = Scratch::new();
    let src = source_dir("bind-src", "x\n");
    let before = mount_points_under(scratch.dir()).len();
    let c = Container::builder(scratch.root())
        .bind(src.path(), "/mnt/one")
        .bind_ro(src.path(), "/mnt/two")
        .bind(src.join("data.txt"), "/root/file")
        .start()
        .expect("start");
    sh_ok(
        &c,
        "test -f /mnt/one/data.txt && test -f /mnt/two/data.txt && test -s /root/file",
    );
    let now = mount_points_under(scratch.dir()).len();
    assert_eq!(
        now, before,
        "the binds are in the container's mount namespace only"
    );
    assert_eq!(mount_points_under(src.path()), Vec::<PathBuf>::new());
}

/// The mount points (inside the container) of binds whose source directory is named `name`.
fn bind_points_of(pid: u32, name: &str) -> Vec<String> {
    mounts_of(pid)
        .into_iter()
        .filter(|m| m.root.ends_with(name))
        .map(|m| m.mount_point.to_string_lossy().into_owned())
        .collect()
}

/// A10: destinations under a symlink that leads out of the root (absolute, relative, through a
/// hop inside) are refused, and nothing is created anywhere.
#[test]
fn bind_destination_under_a_symlink_out_of_the_root_is_refused() {
    let scratch = Scratch::exclusive();
    let outside = Outside::new("outside-bind");
    let mnt = scratch.host_path("/mnt");
    symlink_over(&mnt.join("abs"), outside.path());
    symlink_over(&mnt.join("rel"), relative_to_outside(&mnt, &outside));
    // A relative hop that stays inside, onto a symlink that leads out.
    symlink_over(&scratch.host_path("/hop"), "mnt/rel");
    let src = bind_source("bind-src");
    let upper_before = scratch.upper_entries();
    let leaks = LeakCheck::snapshot();
    let cases = [
        ("/mnt/abs/x", false),
        ("/mnt/rel/x", false),
        ("/mnt/abs/a/b/c", false),
        ("/hop/x", false),
        ("hop/deeper/x", false),
        ("/mnt/rel", false),
        ("/mnt/abs/file", true),
        ("/hop/file", true),
    ];
    for (dest, file) in cases {
        let source = if file {
            src.join("payload")
        } else {
            src.path().to_path_buf()
        };
        let err = Container::builder(scratch.root())
            .bind(&source, dest)
            .start()
            .expect_err("a destination leading out of the root is refused");
        assert!(
            matches!(
                &err,
                Error::BindDestination { problem: PathProblem::EscapesRoot, path }
                    if path == Path::new(dest)
            ),
            "{dest}: {err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains(dest) && message.contains("out of the root"),
            "names the destination and the problem: {message}"
        );
        outside.assert_untouched(dest);
    }
    assert_eq!(
        scratch.upper_entries(),
        upper_before,
        "nothing was created in the root either"
    );
    leaks.assert_clean();
}

/// A10: a relative symlink that stays inside the root is followed, inside.
#[test]
fn relative_symlink_that_stays_inside_is_followed() {
    let scratch = Scratch::new();
    std::fs::create_dir_all(scratch.host_path("/srv/target")).expect("mkdir");
    symlink_over(&scratch.host_path("/mnt/inlink"), "../srv/target");
    let src = bind_source("inlink-src");
    let name = file_name(src.path());

    // A destination below the symlink: created in the symlink's target, inside.
    let c = Container::builder(scratch.root())
        .bind(src.path(), "/mnt/inlink/sub")
        .start()
        .unwrap_or_else(|e| panic!("an in-root symlink is followed: {e}"));
    assert_eq!(
        bind_points_of(c.init_pid(), &name),
        vec!["/srv/target/sub".to_owned()]
    );
    assert_eq!(
        sh_ok(&c, "cat /mnt/inlink/sub/payload /srv/target/sub/payload"),
        "payload of inlink-src\n".repeat(2)
    );
    drop(c);
    assert!(
        scratch.host_path("/srv/target/sub").is_dir(),
        "created inside"
    );
    assert!(std::fs::symlink_metadata(scratch.host_path("/mnt/inlink"))
        .expect("lstat")
        .file_type()
        .is_symlink());

    // The symlink itself as the destination of a directory: the bind lands on its target.
    let c = Container::builder(scratch.root())
        .bind(src.path(), "/mnt/inlink")
        .start()
        .unwrap_or_else(|e| panic!("an in-root symlink is followed: {e}"));
    assert_eq!(
        bind_points_of(c.init_pid(), &name),
        vec!["/srv/target".to_owned()]
    );
    assert_eq!(
        sh_ok(&c, "cat /mnt/inlink/payload"),
        "payload of inlink-src\n"
    );
    drop(c);

    // A dangling in-root symlink on the way: either the bind lands inside at its target or
    // the start fails with an error naming the destination; never anything else.
    symlink_over(&scratch.host_path("/mnt/dangling"), "../srv/later");
    match Container::builder(scratch.root())
        .bind(src.path(), "/mnt/dangling/x")
        .start()
    {
        Ok(c) => {
            assert_eq!(
                bind_points_of(c.init_pid(), &name),
                vec!["/srv/later/x".to_owned()]
            );
            eprintln!("dangling in-root symlink component: followed, created inside");
        }
        Err(e) => {
            assert!(e.to_string().contains("/mnt/dangling/x"), "{e}");
            eprintln!("dangling in-root symlink component: refused: {e}");
        }
    }
    let root = scratch.root();
    let host_mounts: Vec<PathBuf> = mount_points_under(&root)
        .into_iter()
        .filter(|p| *p != root)
        .collect();
    assert_eq!(
        host_mounts,
        Vec::<PathBuf>::new(),
        "no bind is visible on the host"
    );
}

/// `renameat2(a, b, RENAME_EXCHANGE)`. The paths are C strings made once, so that the swapping
/// loop allocates nothing.
fn exchange(a: &CString, b: &CString) -> bool {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a.as_c_str(), CWD, b.as_c_str(), RenameFlags::EXCHANGE).is_ok()
}

/// D07 (CVE-2021-30465): a destination's parent swapped between a directory and symlinks out of
/// the root, as fast as the kernel goes, during 100 starts: the bind lands inside or the start
/// is refused, never on the host.
#[test]
fn symlink_swap_race_on_a_bind_destination_parent_never_reaches_the_host() {
    const STARTS: usize = 100;
    let scratch = Scratch::exclusive();
    let outside = Outside::new("outside-race");
    let race = scratch.host_path("/race");
    std::fs::create_dir_all(race.join("d")).expect("mkdir /race/d");
    symlink_over(&race.join("abs"), outside.path());
    symlink_over(&race.join("rel"), relative_to_outside(&race, &outside));
    let src = bind_source("race-src");
    let name = file_name(src.path());
    let c_path = |p: PathBuf| CString::new(p.into_os_string().into_vec()).expect("no NUL");
    let (d, abs, rel) = (
        c_path(race.join("d")),
        c_path(race.join("abs")),
        c_path(race.join("rel")),
    );
    assert!(
        exchange(&d, &abs) && exchange(&d, &abs),
        "RENAME_EXCHANGE works here"
    );
    let leaks = LeakCheck::snapshot();
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicU64::new(0));
    let swapper = std::thread::spawn({
        let (stop, swaps) = (Arc::clone(&stop), Arc::clone(&swaps));
        move || {
            // /race/d is a directory, a symlink out (absolute), a directory, a symlink out
            // (relative), and so on, as fast as the kernel goes.
            while !stop.load(Ordering::Relaxed) {
                for other in [&abs, &abs, &rel, &rel] {
                    if exchange(&d, other) {
                        swaps.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    });
    let (mut mounted, mut refused) = (0, 0);
    let mut failures = Vec::new();
    for i in 0..STARTS {
        match Container::builder(scratch.root())
            .bind(src.path(), "/race/d/sub")
            .start()
        {
            Ok(c) => {
                let points = bind_points_of(c.init_pid(), &name);
                let inside = points.len() == 1
                    && ["/race/d/sub", "/race/abs/sub", "/race/rel/sub"]
                        .contains(&points[0].as_str());
                if !inside {
                    failures.push(format!("start {i}: the bind is at {points:?}"));
                }
                mounted += 1;
                c.stop().expect("stop");
            }
            Err(e) => {
                let clean = match &e {
                    Error::BindDestination { path, .. } => path == Path::new("/race/d/sub"),
                    Error::Setup { operation, .. } => operation.contains("/race/d/sub"),
                    _ => false,
                };
                if !clean {
                    failures.push(format!("start {i}: unexpected error {e:?}"));
                }
                refused += 1;
            }
        }
        if mount_points_under(outside.path()) != Vec::<PathBuf>::new() {
            failures.push(format!(
                "start {i}: something is mounted on the outside dir"
            ));
        }
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().expect("the swapper thread");
    outside.assert_untouched("after the race");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    leaks.assert_clean();
    eprintln!(
        "symlink-swap race: {STARTS} starts, {mounted} mounted inside, {refused} refused \
         cleanly, {} swaps",
        swaps.load(Ordering::Relaxed)
    );
}

/// Regression (issue 10; data loss): binds whose destination lies under a standard mount —
/// `/run`, `/dev`, `/dev/shm`, and directories that exist in a fresh sysfs and procfs — are
/// visible inside: what a command writes there reaches the source, and read-only ones refuse
/// writes. Before, the standard mounts were made after the binds and hid them: writes went into
/// the container's tmpfs and were lost.
#[test]
fn binds_under_the_standard_mounts_are_visible() {
    let scratch = Scratch::new();
    // (destination, read-only): /sys/kernel, /sys/fs, /proc/driver and /proc/tty exist in a
    // fresh sysfs and procfs.
    let cases = [
        ("/run/out", false),
        ("/dev/out", false),
        ("/dev/shm/out", false),
        ("/sys/kernel", false),
        ("/proc/driver", false),
        ("/run/out-ro", true),
        ("/dev/out-ro", true),
        ("/dev/shm/out-ro", true),
        ("/sys/fs", true),
        ("/proc/tty", true),
    ];
    let sources: Vec<TempDir> = cases
        .iter()
        .map(|(dest, _)| source_dir("under-standard", &format!("source of {dest}\n")))
        .collect();
    let mut builder = Container::builder(scratch.root());
    for ((dest, read_only), src) in cases.iter().zip(&sources) {
        if *read_only {
            builder.bind_ro(src.path(), dest);
        } else {
            builder.bind(src.path(), dest);
        }
    }
    let c = builder
        .start()
        .unwrap_or_else(|e| panic!("binds under the standard mounts: {e}"));
    let mut failures = Vec::new();
    for ((dest, read_only), src) in cases.iter().zip(&sources) {
        let (status, seen, _) = sh(&c, &format!("cat {dest}/data.txt"));
        if !status.success() || seen != format!("source of {dest}\n") {
            failures.push(format!(
                "{dest}: the source is not visible: {status}: {seen:?}"
            ));
        }
        let (status, _, stderr) = sh(&c, &format!("echo result > {dest}/r"));
        let written = std::fs::read_to_string(src.join("r")).ok();
        match (read_only, status.success(), written.as_deref()) {
            (false, true, Some("result\n")) | (true, false, None) => {}
            (false, ..) => failures.push(format!(
                "{dest}: a write did not reach the source ({status}: {stderr}): {written:?}"
            )),
            (true, ..) => failures.push(format!(
                "{dest} is read-only, but a write {status} ({stderr}); the source has {written:?}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
