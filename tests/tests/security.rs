//! Security and failure tests of issue 7 (the reference `../shared/SECURITY.md`, §7 A, B, C,
//! D), in the default (privileged) profile: paths are resolved inside the root and the host is
//! never written or mounted on (A07/A08/A10/D07); only stdio reaches a command and its working
//! directory is inside (C01–C04; C05 is in `hardened.rs`); nothing propagates out and nothing
//! is pinned (D01–D06); the container dies with its owner at any moment, fault injection rolls
//! back to nothing, a failure in a forked child never returns into the caller (B01–B07,
//! B10–B12); bad input gets a typed error that names the argument, and leaves nothing
//! (A01–A16).
//!
//! Run through `cargo xtask itest`. Tests that look at the whole machine hold their scratch
//! exclusively and end with the leak oracle ([`LeakCheck`]).

use std::ffi::{CString, OsString};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use furnace_core::{Container, Error, PathProblem};
use furnace_tests::hostside::*;
use furnace_tests::probe::*;
use furnace_tests::*;

const HELPER: &str = env!("CARGO_BIN_EXE_furnace-test-helper");

/// Starts a container with the defaults, panicking with the error's message.
fn start(root: &Path) -> Container {
    Container::start(root).unwrap_or_else(|e| panic!("cannot start a container: {e}"))
}

/// Replaces whatever is at `path` (a directory, a file or nothing) with a symlink to `target`.
fn symlink_over(path: &Path, target: impl AsRef<Path>) {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path).expect("remove the directory"),
        Ok(_) => std::fs::remove_file(path).expect("remove the file"),
        Err(_) => {}
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create the symlink's directory");
    }
    std::os::unix::fs::symlink(target.as_ref(), path)
        .unwrap_or_else(|e| panic!("symlink {}: {e}", path.display()));
}

/// How many `..` lead from `dir` (absolute) to `/`, and a few more.
fn up_from(dir: &Path) -> PathBuf {
    let depth = dir
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .count();
    (0..depth + 3).map(|_| "..").collect()
}

/// The relative spelling of `outside` from a symlink living in directory `dir`.
fn relative_to_outside(dir: &Path, outside: &Outside) -> PathBuf {
    up_from(dir).join(outside.path().strip_prefix("/").expect("absolute"))
}

/// One line of `/proc/PID/mountinfo` (paths relative to that process's root).
#[derive(Debug, Clone)]
struct MountLine {
    root: String,
    point: String,
    optional: Vec<String>,
    source: String,
}

fn mountinfo_of(pid: u32) -> Vec<MountLine> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/mountinfo: {e}"));
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fields: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            Some(MountLine {
                root: fields.get(3)?.to_string(),
                point: fields.get(4)?.to_string(),
                optional: fields[6..].iter().map(|s| s.to_string()).collect(),
                source: right.get(1)?.to_string(),
            })
        })
        .collect()
}

/// The mount points (inside the container) of binds whose source directory is named `name`.
fn bind_points_of(pid: u32, name: &str) -> Vec<String> {
    mountinfo_of(pid)
        .into_iter()
        .filter(|m| m.root.ends_with(&format!("/{name}")))
        .map(|m| m.point)
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

/// A directory with a `payload` file, as a bind source.
fn bind_source(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    std::fs::write(dir.join("payload"), format!("payload of {tag}\n")).expect("write");
    dir
}

/// fds opened *without* `O_CLOEXEC`, the way C libraries and careless callers do, closed on
/// drop.
struct LeakyFds(Vec<i32>);

impl LeakyFds {
    /// A file, a directory, `/` as `O_PATH`, a pipe, a memfd, a unix socket pair, and a
    /// duplicate of the directory at fd ≥ 1000.
    fn open(file: &Path, dir: &Path) -> LeakyFds {
        let mut fds = LeakyFds(Vec::new());
        let open = |path: &Path, flags: i32| {
            let c = CString::new(path.as_os_str().as_bytes()).expect("no NUL");
            // SAFETY: open(2) with a valid C string; no O_CLOEXEC on purpose.
            let fd = unsafe { libc::open(c.as_ptr(), flags) };
            assert!(fd >= 0, "open {}", path.display());
            fd
        };
        fds.0.push(open(file, libc::O_RDONLY));
        fds.0.push(open(dir, libc::O_RDONLY | libc::O_DIRECTORY));
        fds.0.push(open(Path::new("/"), libc::O_PATH));
        let mut pipe = [0; 2];
        // SAFETY: pipe(2) writes two fds into the array it is given.
        assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0, "pipe");
        fds.0.extend(pipe);
        // SAFETY: memfd_create(2) with a valid C string and no MFD_CLOEXEC.
        let memfd = unsafe { libc::memfd_create(c"furnace-leak".as_ptr(), 0) };
        assert!(memfd >= 0, "memfd_create");
        fds.0.push(memfd);
        let mut pair = [0; 2];
        // SAFETY: socketpair(2) writes two fds into the array it is given.
        let rc =
            unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, pair.as_mut_ptr()) };
        assert_eq!(rc, 0, "socketpair");
        fds.0.extend(pair);
        // SAFETY: F_DUPFD duplicates an fd we own to the lowest free number ≥ 1000.
        let high = unsafe { libc::fcntl(fds.0[1], libc::F_DUPFD, 1000) };
        assert!(high >= 1000, "F_DUPFD");
        fds.0.push(high);
        fds
    }
}

impl Drop for LeakyFds {
    fn drop(&mut self) {
        for fd in &self.0 {
            // SAFETY: closing fds this guard opened and owns.
            unsafe { libc::close(*fd) };
        }
    }
}

/// PID 1 holds exactly stdio on `/dev/null` and one pidfd — of this process, its owner.
fn assert_pid1_fds(c: &Container) {
    let init = c.init_pid();
    let pid1_fds = || -> Vec<(i32, String)> {
        let mut fds: Vec<(i32, String)> = std::fs::read_dir(format!("/proc/{init}/fd"))
            .expect("list PID 1's fds")
            .flatten()
            .filter_map(|e| {
                let fd = e.file_name().to_str()?.parse().ok()?;
                let target = std::fs::read_link(e.path()).ok()?;
                Some((fd, target.to_string_lossy().into_owned()))
            })
            .collect();
        fds.sort();
        fds
    };
    // PID 1 closes its end of the ready pipe just after writing "ready", which is when `start`
    // returns: give it that moment.
    wait_until(DEADLINE, "PID 1 has closed its ready pipe", || {
        !pid1_fds()
            .iter()
            .any(|(_, target)| target.starts_with("pipe:"))
    });
    let fds = pid1_fds();
    assert_eq!(fds.len(), 4, "PID 1 holds stdio and one pidfd: {fds:?}");
    for (fd, target) in &fds[..3] {
        assert!(
            (0..3).contains(fd) && target == "/dev/null",
            "PID 1's stdio is /dev/null: {fds:?}"
        );
    }
    let (pidfd, target) = &fds[3];
    assert_eq!(target, "anon_inode:[pidfd]", "{fds:?}");
    let info = std::fs::read_to_string(format!("/proc/{init}/fdinfo/{pidfd}")).expect("fdinfo");
    let pid_line = info
        .lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        pid_line,
        std::process::id().to_string(),
        "PID 1's pidfd is of its owner, this process: {info}"
    );
}

// =============================================================================================
// A07/A08/A10/D07: paths inside the root never lead to the host

mod paths {
    use super::*;

    /// The error of a start whose `/name` is a symlink must name that directory.
    fn assert_names_directory(err: &Error, name: &str, context: &str) {
        match err {
            Error::Setup { operation, .. } => {
                assert!(
                    operation.contains(&format!("/{name}")),
                    "{context}: the failing step names /{name}: {err}"
                );
                assert!(err.to_string().contains("step"), "{context}: {err}");
            }
            other => assert!(
                other.to_string().contains(name),
                "{context}: the error names {name}: {other}"
            ),
        }
    }

    #[test]
    fn proc_sys_dev_run_symlinked_out_of_the_root_fail_and_touch_nothing() {
        let scratch = Scratch::exclusive();
        let outside = Outside::new("outside-special");
        let root = scratch.root();
        let leaks = LeakCheck::snapshot();
        let mut cases = 0;
        for name in ["proc", "sys", "dev", "run"] {
            let link = scratch.host_path(name);
            let mode = std::fs::metadata(&link).expect("stat").permissions().mode();
            for target in [
                outside.path().to_path_buf(),
                relative_to_outside(&root, &outside),
            ] {
                let context = format!("/{name} -> {}", target.display());
                symlink_over(&link, &target);
                let err = within(DEADLINE, "a start over a symlinked directory", {
                    let root = root.clone();
                    move || Container::start(root).map(drop)
                })
                .expect_err(&format!("{context}: the start fails"));
                assert_names_directory(&err, name, &context);
                outside.assert_untouched(&context);
                leaks.assert_clean();
                std::fs::remove_file(&link).expect("remove the symlink");
                cases += 1;
            }
            std::fs::create_dir(&link).expect("restore the directory");
            std::fs::set_permissions(&link, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
        // And with everything restored, the root works again.
        let c = start(&root);
        sh_ok(&c, "true");
        drop(c);
        leaks.assert_clean();
        eprintln!("symlinked /proc, /sys, /dev, /run: {cases} cases, all refused, host untouched");
    }

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

    #[test]
    fn resolv_conf_symlinked_out_of_the_root_is_left_alone() {
        let scratch = Scratch::exclusive();
        let outside = Outside::new("outside-resolv");
        let host_resolv = std::fs::read("/etc/resolv.conf").ok();
        let etc = scratch.host_path("/etc");
        let link = etc.join("resolv.conf");
        let leaks = LeakCheck::snapshot();
        // A bind of the host's resolv.conf (host network) that followed these links on the
        // host would create outside/resolv.conf.
        for target in [
            outside.path().join("resolv.conf"),
            relative_to_outside(&etc, &outside).join("resolv.conf"),
        ] {
            symlink_over(&link, &target);
            let c = start(&scratch.root());
            assert!(
                !mountinfo_of(c.init_pid())
                    .iter()
                    .any(|m| m.point.starts_with("/etc/resolv")),
                "nothing is bound for a resolv.conf that leads out of the root"
            );
            assert_eq!(
                sh_ok(&c, "readlink /etc/resolv.conf"),
                format!("{}\n", target.display()),
                "the image's symlink is left as it is"
            );
            drop(c);
            assert_eq!(std::fs::read_link(&link).expect("readlink"), target);
            outside.assert_untouched(&target.display().to_string());
            assert_eq!(std::fs::read("/etc/resolv.conf").ok(), host_resolv);
            leaks.assert_clean();
        }
        // A link that stays inside is followed: the bind lands on its target.
        if let Some(host_resolv) = host_resolv {
            std::fs::write(etc.join("resolv.real"), "the image's own\n").expect("write");
            symlink_over(&link, "resolv.real");
            let c = start(&scratch.root());
            let points: Vec<String> = mountinfo_of(c.init_pid())
                .into_iter()
                .map(|m| m.point)
                .filter(|p| p.starts_with("/etc/resolv"))
                .collect();
            assert_eq!(points, ["/etc/resolv.real"]);
            let out = run(&c, "cat", &["/etc/resolv.conf"]);
            assert_eq!(out.stdout.as_bytes(), host_resolv, "the host's resolv.conf");
            drop(c);
            assert_eq!(
                std::fs::read_to_string(etc.join("resolv.real")).expect("read"),
                "the image's own\n"
            );
            leaks.assert_clean();
        }
    }

    /// `renameat2(a, b, RENAME_EXCHANGE)`.
    fn exchange(a: &CString, b: &CString) -> bool {
        // SAFETY: renameat2(2) with two valid C strings; it only renames.
        unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_EXCHANGE,
            ) == 0
        }
    }

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
}

// =============================================================================================
// C01–C05: descriptors and the working directory

mod descriptors {
    use super::*;

    /// Threads that open and close fds without `O_CLOEXEC` in a loop (a file, a duplicate, a
    /// pipe) until stopped — also when the test panics.
    struct FdChurn {
        stop: Arc<AtomicBool>,
        opened: Arc<AtomicU64>,
        threads: Vec<std::thread::JoinHandle<()>>,
    }

    impl FdChurn {
        fn start(threads: usize) -> FdChurn {
            let stop = Arc::new(AtomicBool::new(false));
            let opened = Arc::new(AtomicU64::new(0));
            let threads = (0..threads)
                .map(|_| {
                    let (stop, opened) = (Arc::clone(&stop), Arc::clone(&opened));
                    std::thread::spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            // SAFETY: open/dup/pipe/close on fds this thread owns, no O_CLOEXEC
                            // on purpose: other code of a caller does this while furnace spawns.
                            unsafe {
                                let fd =
                                    libc::open(c"/".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
                                let dup = libc::dup(fd);
                                let mut pipe = [0; 2];
                                libc::pipe(pipe.as_mut_ptr());
                                for f in [fd, dup, pipe[0], pipe[1]] {
                                    libc::close(f);
                                }
                            }
                            opened.fetch_add(4, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            FdChurn {
                stop,
                opened,
                threads,
            }
        }

        /// Stops the threads; returns how many fds they opened.
        fn stop(mut self) -> u64 {
            self.halt();
            self.opened.load(Ordering::Relaxed)
        }

        fn halt(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
        }
    }

    impl Drop for FdChurn {
        fn drop(&mut self) {
            self.halt();
        }
    }

    #[test]
    fn only_stdio_reaches_commands_while_other_threads_open_fds() {
        const SPAWNS: usize = 150;
        let scratch = Scratch::exclusive();
        install_probe(&scratch);
        let canary = scratch.dir().join("leak-canary");
        std::fs::write(&canary, "x").expect("write the canary");
        let leaks = LeakCheck::snapshot();
        let leaky = LeakyFds::open(&canary, scratch.dir());
        let churn = FdChurn::start(2);
        // PID 1 is forked while the other threads churn, too.
        let c = start(&scratch.root());
        assert_pid1_fds(&c);
        let mut failures = Vec::new();
        for i in 0..SPAWNS {
            let (fds, listing) = if i % 3 == 0 {
                // busybox sh opens nothing of its own for -c; `; true` keeps it from exec'ing ls.
                let out = run(&c, "sh", &["-c", "ls /proc/$$/fd; true"]);
                assert!(out.status.success(), "{}", out.stderr);
                let fds: Vec<i32> = out.stdout.lines().filter_map(|l| l.parse().ok()).collect();
                (fds, out.stdout)
            } else {
                let out = probe(&c, &["fds"]);
                let fds = parse_fds(&out.stdout)
                    .into_iter()
                    .map(|(fd, _)| fd)
                    .collect();
                (fds, out.stdout)
            };
            if fds != [0, 1, 2] {
                failures.push(format!("spawn {i} sees fds {fds:?}:\n{listing}"));
            }
        }
        let opened = churn.stop();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert_pid1_fds(&c);
        drop(leaky);
        drop(c);
        leaks.assert_clean();
        eprintln!(
            "fd race: {SPAWNS} spawns saw only 0, 1, 2 while other threads opened {opened} \
             non-close-on-exec fds"
        );
    }

    #[test]
    fn pid1_holds_exactly_stdio_on_dev_null_and_its_owners_pidfd() {
        let scratch = Scratch::exclusive();
        let canary = scratch.dir().join("leak-canary");
        std::fs::write(&canary, "x").expect("write the canary");
        let leaky = LeakyFds::open(&canary, scratch.dir());
        for isolate in [false, true] {
            let c = Container::builder(scratch.root())
                .isolate_network(isolate)
                .start()
                .expect("start");
            assert_pid1_fds(&c);
            // Also after commands ran.
            sh_ok(&c, "true");
            assert_pid1_fds(&c);
        }
        drop(leaky);
    }

    #[test]
    fn explicitly_passed_stdio_files_work() {
        let scratch = Scratch::new();
        install_probe(&scratch);
        let c = start(&scratch.root());
        let dir = scratch.dir();
        std::fs::write(dir.join("stdin-file"), "from a host file\n").expect("write");
        let files = |tag: &str| {
            (
                std::fs::File::open(dir.join("stdin-file")).expect("open"),
                std::fs::File::create(dir.join(format!("{tag}-stdout"))).expect("create"),
                std::fs::File::create(dir.join(format!("{tag}-stderr"))).expect("create"),
            )
        };
        let (stdin, stdout, stderr) = files("cat");
        let status = c
            .command("sh")
            .args(["-c", "cat; echo to-stderr >&2"])
            .stdin(stdin)
            .stdout(stdout)
            .stderr(stderr)
            .status()
            .expect("run with files as stdio");
        assert!(status.success(), "{status}");
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect("read");
        assert_eq!(read("cat-stdout"), "from a host file\n");
        assert_eq!(read("cat-stderr"), "to-stderr\n");
        // What the process holds: exactly the three files, as 0, 1 and 2.
        let (stdin, stdout, stderr) = files("fds");
        let status = c
            .command(PROBE)
            .arg("fds")
            .stdin(stdin)
            .stdout(stdout)
            .stderr(stderr)
            .status()
            .expect("run the probe");
        assert!(status.success(), "{status}");
        let listing = read("fds-stdout");
        let fds = parse_fds(&listing);
        let numbers: Vec<i32> = fds.iter().map(|(fd, _)| *fd).collect();
        assert_eq!(numbers, [0, 1, 2], "{listing}");
        for (fd, name) in [(0, "stdin-file"), (1, "fds-stdout"), (2, "fds-stderr")] {
            assert!(
                fds[fd].1.ends_with(name),
                "fd {fd} is the file passed: {listing}"
            );
        }
    }

    #[test]
    fn current_dir_through_symlinks_out_of_the_root_stays_inside() {
        let scratch = Scratch::new();
        install_probe(&scratch);
        let outside = Outside::new("outside-cwd");
        // The same path exists inside the root, with its own marker.
        let twin = scratch.host_path(outside.path());
        std::fs::create_dir_all(&twin).expect("mkdir the twin");
        std::fs::write(twin.join("marker"), "inside\n").expect("write");
        symlink_over(&scratch.host_path("/cwd-abs"), outside.path());
        symlink_over(
            &scratch.host_path("/cwd-rel"),
            relative_to_outside(&scratch.root(), &outside),
        );
        let twin_id = {
            let m = std::fs::metadata(&twin).expect("stat the twin");
            (m.dev(), m.ino())
        };
        let c = start(&scratch.root());
        let expected_cwd = outside.path().to_string_lossy().into_owned();
        for dir in ["/cwd-abs", "/cwd-rel", "cwd-rel/", "/cwd-abs/."] {
            let out = c
                .command(PROBE)
                .arg("cwd")
                .current_dir(dir)
                .output()
                .unwrap_or_else(|e| panic!("cwd {dir}: {e}"));
            assert_eq!(
                Answer::parse(&String::from_utf8_lossy(&out.stdout)),
                Answer::Ok(expected_cwd.clone()),
                "cwd {dir} is the path inside"
            );
            let out = c
                .command("cat")
                .arg("marker")
                .current_dir(dir)
                .output()
                .expect("cat");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "inside\n",
                "cwd {dir}"
            );
            // From the host: the process's cwd is the twin inside the root.
            let mut child = c
                .command("sh")
                .args(["-c", "read x; exit 0"])
                .current_dir(dir)
                .stdin(Stdio::piped())
                .spawn()
                .expect("spawn");
            let m = std::fs::metadata(format!("/proc/{}/cwd", child.id())).expect("stat cwd");
            assert_eq!(
                (m.dev(), m.ino()),
                twin_id,
                "cwd {dir}: the twin, by dev:ino"
            );
            drop(child.stdin.take());
            assert!(child.wait().expect("wait").success());
        }
        outside.assert_untouched("after the cwd checks");
    }

    #[test]
    fn current_dir_through_a_callers_fd_is_refused() {
        let scratch = Scratch::new();
        let outside = Outside::new("outside-cwd-fd");
        let dir = std::fs::File::open(outside.path()).expect("open the outside dir");
        let c = start(&scratch.root());
        // CVE-2024-21626: the caller's fd is still open in the forked child when it changes
        // directory (close-on-exec closes it only at exec), so /proc/self/fd/N leads to the host.
        let cwd = format!("/proc/self/fd/{}", dir.as_raw_fd());
        let err = c
            .command("cat")
            .arg("marker")
            .current_dir(&cwd)
            .output()
            .expect_err("a working directory outside the container is refused");
        let message = err.to_string();
        assert!(
            message.contains(&cwd),
            "names the working directory: {message}"
        );
        // Magic links that stay inside are fine.
        for inside in ["/proc/1/root/..", "/proc/self/root/tmp/.."] {
            let out = c
                .command("pwd")
                .current_dir(inside)
                .output()
                .unwrap_or_else(|e| panic!("cwd {inside}: {e}"));
            assert_eq!(String::from_utf8_lossy(&out.stdout), "/\n", "cwd {inside}");
        }
        drop(dir);
    }
}

// =============================================================================================
// D01–D06: mount hygiene

mod mounts {
    use super::*;
    use furnace_sys::mount::{set_propagation, Propagation};

    #[test]
    fn nothing_propagates_out_of_an_rshared_host_tree() {
        let scratch = Scratch::exclusive();
        let tree = TempDir::new("shared-tree");
        let tree_mount = HostMount::bind(tree.path(), tree.path());
        std::fs::create_dir(tree.join("root")).expect("mkdir");
        let root_mount = HostMount::bind(scratch.root(), tree.join("root"));
        std::fs::create_dir(tree.join("src")).expect("mkdir");
        std::fs::write(tree.join("src/payload"), "shared\n").expect("write");
        set_propagation(tree.path(), Propagation::Shared, true).expect("make-rshared");
        let shared_on_host = mountinfo_of(std::process::id())
            .into_iter()
            .filter(|m| m.point.starts_with(&*tree.path().to_string_lossy()))
            .all(|m| m.optional.iter().any(|o| o.starts_with("shared:")));
        assert!(shared_on_host, "the tree is shared on the host");
        let host_before = mount_points_under(tree.path());
        let leaks = LeakCheck::snapshot();
        let c = Container::builder(tree.join("root"))
            .bind(tree.join("src"), "/mnt/src")
            .bind_ro(tree.join("src"), "/mnt/src-ro")
            .start()
            .expect("start over the shared tree");
        sh_ok(
            &c,
            "set -e; mkdir -p /mnt/t; mount -t tmpfs furnace-inner /mnt/t; touch /mnt/t/x; \
             mount --bind /mnt/t /mnt/src; mount -t tmpfs furnace-inner2 /tmp",
        );
        assert_eq!(
            mount_points_under(tree.path()),
            host_before,
            "nothing appears on the host while the container runs"
        );
        assert!(
            !mountinfo_lines()
                .iter()
                .any(|l| l.contains("furnace-inner")),
            "no inner tmpfs on the host"
        );
        let inside = mountinfo_of(c.init_pid());
        let shared: Vec<&MountLine> = inside
            .iter()
            .filter(|m| m.optional.iter().any(|o| o.starts_with("shared:")))
            .collect();
        assert!(shared.is_empty(), "no mount inside is shared: {shared:#?}");
        assert!(
            inside
                .iter()
                .any(|m| m.point == "/mnt/t" && m.source == "furnace-inner"),
            "the inner mount is there inside"
        );
        drop(c);
        assert_eq!(mount_points_under(tree.path()), host_before);
        leaks.assert_clean();
        drop(root_mount);
        drop(tree_mount);
    }

    /// Makes an 8 MiB ext4 image file on the host.
    fn ext4_image(path: &Path) {
        let file = std::fs::File::create(path).expect("create the image");
        file.set_len(8 << 20).expect("size the image");
        let out = std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F"])
            .arg(path)
            .output()
            .expect("run mkfs.ext4");
        assert!(out.status.success(), "mkfs.ext4: {out:?}");
    }

    /// `mount -o loop IMAGE DIR` on the host (util-linux sets autoclear).
    fn loop_mount(image: &Path, dir: &Path) -> HostMountByTool {
        let out = std::process::Command::new("mount")
            .args(["-o", "loop"])
            .arg(image)
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(out.status.success(), "mount -o loop: {out:?}");
        HostMountByTool(Some(dir.to_path_buf()))
    }

    /// A host mount made with `mount(8)`: unmounted lazily on drop unless `unmount` ran.
    struct HostMountByTool(Option<PathBuf>);

    impl HostMountByTool {
        fn unmount(mut self) -> Result<(), furnace_sys::Error> {
            let dir = self.0.take().expect("mounted");
            furnace_sys::mount::umount2(&dir, furnace_sys::mount::UnmountFlags::empty())
        }
    }

    impl Drop for HostMountByTool {
        fn drop(&mut self) {
            if let Some(dir) = self.0.take() {
                let _ = furnace_sys::mount::umount2(&dir, furnace_sys::mount::UnmountFlags::DETACH);
            }
        }
    }

    fn loop_device_of(image: &Path) -> Option<String> {
        let name = file_name(image);
        attached_loop_devices()
            .into_iter()
            .find(|(_, file)| file.contains(&name))
            .map(|(dev, _)| dev)
    }

    #[test]
    fn unrelated_host_mounts_are_not_pinned_by_a_running_container() {
        let scratch = Scratch::exclusive();
        let host = TempDir::new("unpinned");
        for sub in ["before", "tree"] {
            std::fs::create_dir(host.join(sub)).expect("mkdir");
        }
        ext4_image(&host.join("before.img"));
        ext4_image(&host.join("after.img"));
        // A shared tree, so that a host mount made in it later would propagate into any copy
        // of it the container kept.
        let tree = HostMount::bind(host.join("tree"), host.join("tree"));
        set_propagation(tree.path(), Propagation::Shared, true).expect("make-rshared");
        std::fs::create_dir(host.join("tree/after")).expect("mkdir");
        let leaks = LeakCheck::snapshot();
        let before = loop_mount(&host.join("before.img"), &host.join("before"));
        let c = start(&scratch.root());
        let mut sleeper = c
            .command("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn");
        let after = loop_mount(&host.join("after.img"), &host.join("tree/after"));
        let tmpfs_dir = host.join("tree/after-tmpfs");
        std::fs::create_dir(&tmpfs_dir).expect("mkdir");
        let tmpfs = HostMount::tmpfs(&tmpfs_dir);
        for image in ["before.img", "after.img"] {
            assert!(
                loop_device_of(&host.join(image)).is_some(),
                "{image} attached"
            );
        }
        // Unmount on the host while the container runs, without MNT_DETACH.
        tmpfs
            .unmount()
            .expect("the tmpfs made after start unmounts");
        before
            .unmount()
            .expect("the loop mount made before start unmounts");
        after
            .unmount()
            .expect("the loop mount made after start unmounts");
        // And the file systems really go: their autoclear loop devices detach.
        for image in ["before.img", "after.img"] {
            wait_until(
                DEADLINE,
                &format!("{image}'s loop device is detached"),
                || loop_device_of(&host.join(image)).is_none(),
            );
        }
        assert!(c.is_running(), "the container still runs");
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        drop(c);
        leaks.assert_clean();
        drop(tree);
    }

    #[test]
    fn loop_devices_and_mounts_left_inside_vanish_with_the_container() {
        let scratch = Scratch::exclusive();
        let leaks = LeakCheck::snapshot();
        let a = format!("{}.img", unique_name("inner-loop-a"));
        let b = format!("{}.img", unique_name("inner-loop-b"));
        let c = start(&scratch.root());
        sh_ok(
            &c,
            &format!(
                "set -e; for f in /tmp/{a} /dev/shm/{b}; do \
                   dd if=/dev/zero of=$f bs=1M count=8 2>/dev/null; mkfs.ext4 -q $f; done; \
                 mkdir -p /mnt/a /run/b /mnt/t; \
                 mount -o loop /tmp/{a} /mnt/a; mount -o loop /dev/shm/{b} /run/b; \
                 mount -t tmpfs left-behind /mnt/t; echo x > /mnt/a/f; echo y > /run/b/f"
            ),
        );
        let attached = |name: &str| {
            attached_loop_devices()
                .iter()
                .any(|(_, file)| file.contains(name))
        };
        assert!(
            attached(&a) && attached(&b),
            "{:?}",
            attached_loop_devices()
        );
        drop(c);
        wait_until(
            Duration::from_secs(5),
            "the inner loop devices are detached",
            || !attached(&a) && !attached(&b),
        );
        leaks.assert_clean();
    }
}

// =============================================================================================
// B01–B07, B10–B12: lifetime under failure

mod lifetime {
    use super::*;

    /// A small xorshift generator, seeded from the clock (or `FURNACE_TEST_SEED`), printed.
    struct Rng(u64);

    impl Rng {
        fn new() -> Rng {
            let seed = std::env::var("FURNACE_TEST_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos() as u64)
                        .unwrap_or(1)
                        | 1
                });
            eprintln!("random seed: {seed} (set FURNACE_TEST_SEED to repeat)");
            Rng(seed)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[test]
    fn owner_killed_at_random_moments_leaves_nothing() {
        const TRIALS: usize = 40;
        let scratch = Scratch::exclusive();
        let root = scratch.root();
        let leaks = LeakCheck::snapshot();
        let before = process_keys();
        let mut rng = Rng::new();
        let (mut ready, mut early) = (0, 0);
        for trial in 0..TRIALS {
            // Uniform over 0-50 ms, and every other trial over the first 4 ms, where the
            // container is being set up (a start takes a few milliseconds).
            let range = if trial % 2 == 0 { 50_000 } else { 4_000 };
            let delay = Duration::from_micros(rng.below(range));
            // The owner (`hold`: start a container, run `sleep 1000` in it, sleep) runs under a
            // subreaper that reaps it and the orphans it leaves, and exits once all are gone.
            let mut reaper = std::process::Command::new(HELPER)
                .args(["reap", "--report-pid", HELPER, "hold"])
                .arg(&root)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start the reaper");
            let mut stderr = std::io::BufReader::new(reaper.stderr.take().expect("piped"));
            let mut line = String::new();
            std::io::BufRead::read_line(&mut stderr, &mut line).expect("read the owner's pid");
            let owner: libc::pid_t = line
                .strip_prefix("spawned ")
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or_else(|| panic!("unexpected report from the reaper: {line:?}"));
            std::thread::sleep(delay);
            // SAFETY: kill(2) of the owner process this test started (through the reaper).
            let killed = unsafe { libc::kill(owner, libc::SIGKILL) };
            assert_eq!(killed, 0, "SIGKILL the owner");
            let mut stdout = reaper.stdout.take().expect("piped");
            let (status, out) = within(DEADLINE, "the owner's processes are reaped", move || {
                let status = reaper.wait().expect("wait for the reaper");
                let mut out = String::new();
                let _ = stdout.read_to_string(&mut out);
                (status, out)
            });
            assert_eq!(
                status.code(),
                Some(128 + libc::SIGKILL),
                "trial {trial} ({delay:?}): the owner died of SIGKILL"
            );
            drop(stderr);
            if out.starts_with("ready") {
                ready += 1;
            } else {
                early += 1;
            }
            let left: Vec<String> = ["furnace-init", "furnace-test-he", "sleep"]
                .iter()
                .flat_map(|name| new_live_processes_named(name, &before))
                .collect();
            assert!(left.is_empty(), "trial {trial} ({delay:?}): left {left:?}");
            leaks.assert_clean();
        }
        eprintln!(
            "owner SIGKILLed 0-50 ms after it started: {TRIALS} trials, {ready} after the \
             container was ready, {early} before; nothing left"
        );
    }

    #[test]
    fn failing_pre_exec_and_failing_start_never_return_into_the_caller() {
        let scratch = Scratch::exclusive();
        let log_path = scratch.dir().join("who-ran-here");
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open the log");
        let me = std::process::id();
        let thread_ns = || {
            [
                "pid",
                "pid_for_children",
                "mnt",
                "net",
                "uts",
                "ipc",
                "cgroup",
            ]
            .map(|kind| std::fs::read_link(format!("/proc/thread-self/ns/{kind}")).ok())
        };
        let ns_before = thread_ns();
        let leaks = LeakCheck::snapshot();
        let c = start(&scratch.root());
        let mut expected = 0;
        for i in 0..20 {
            let result = c
                .command("true")
                .current_dir(format!("/no/such/dir-{i}"))
                .status();
            // Whoever runs this line writes its pid: a forked child that returned from spawn
            // into this code would write its own.
            writeln!(log, "{}", std::process::id()).expect("log");
            expected += 1;
            let err = result.expect_err("a missing working directory fails the spawn");
            assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
            assert!(
                err.to_string().contains(&format!("/no/such/dir-{i}")),
                "{err}"
            );
        }
        assert_eq!(
            thread_ns(),
            ns_before,
            "the calling thread is in its own namespaces after failed spawns"
        );
        sh_ok(&c, "true");
        drop(c);
        // A set-up failure in PID 1 (a forked copy of this process) comes back as an error too.
        symlink_over(&scratch.host_path("/proc"), "/nowhere");
        for _ in 0..5 {
            let result = Container::start(scratch.root());
            writeln!(log, "{}", std::process::id()).expect("log");
            expected += 1;
            assert!(matches!(result, Err(Error::Setup { .. })), "{result:?}");
        }
        drop(log);
        let log = std::fs::read_to_string(&log_path).expect("read the log");
        let pids: Vec<&str> = log.lines().collect();
        assert_eq!(pids.len(), expected, "{log}");
        assert!(
            pids.iter().all(|p| *p == me.to_string()),
            "only this process ran the code after spawn/start: {log}"
        );
        leaks.assert_clean();
    }
}

// =============================================================================================
// B10: fault injection with strace at every set-up and spawn system call

mod faults {
    use super::*;
    use std::collections::BTreeMap;

    const SYSCALLS: &str = "mount,mknodat,pivot_root,umount2,symlinkat,open_tree,move_mount,\
                            mount_setattr,setns,sethostname";

    struct Setup {
        scratch: Scratch,
        rw: TempDir,
        ro: TempDir,
    }

    impl Setup {
        fn new() -> Setup {
            let scratch = Scratch::exclusive();
            Setup {
                scratch,
                rw: bind_source("fault-rw"),
                ro: bind_source("fault-ro"),
            }
        }

        /// `strace -f -qq STRACE_ARGS furnace-test-helper run-with ROOT (binds) -- true`, under
        /// a subreaper (so that what a killed helper leaves is reaped at once, not whenever the
        /// machine's init gets to it).
        fn run(&self, strace_args: &[&str]) -> (std::process::ExitStatus, String) {
            let out = std::process::Command::new(HELPER)
                .args(["reap", "strace", "-f", "-qq"])
                .args(strace_args)
                .arg(HELPER)
                .arg("run-with")
                .arg(self.scratch.root())
                .arg("--bind")
                .arg(format!("{}:/mnt/rw", self.rw.path().display()))
                .arg("--bind-ro")
                .arg(format!("{}:/mnt/ro", self.ro.path().display()))
                .args(["--hostname", "injected", "--", "true"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .expect("run strace (SECURITY.md §0: strace 6.1 is installed)");
            (
                out.status,
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }

        /// How many times the busiest process calls each system call in a clean run.
        fn counts(&self) -> BTreeMap<String, usize> {
            let trace = self.scratch.dir().join("strace.out");
            let trace_arg = trace.to_string_lossy().into_owned();
            let (status, stderr) =
                self.run(&["-o", &trace_arg, "-e", &format!("trace={SYSCALLS}")]);
            assert!(
                status.success(),
                "a clean run under strace: {status}: {stderr}"
            );
            let text = std::fs::read_to_string(&trace).expect("read the trace");
            let mut per_process: BTreeMap<(String, String), usize> = BTreeMap::new();
            for line in text.lines() {
                let mut words = line.splitn(2, ' ');
                let (Some(pid), Some(rest)) = (words.next(), words.next()) else {
                    continue;
                };
                let Some((name, _)) = rest.split_once('(') else {
                    continue;
                };
                *per_process
                    .entry((pid.to_owned(), name.trim().to_owned()))
                    .or_default() += 1;
            }
            let mut counts = BTreeMap::new();
            for ((_, name), n) in per_process {
                let max = counts.entry(name).or_insert(0);
                *max = n.max(*max);
            }
            counts
        }
    }

    /// What an injected failure of `syscall` must be reported as: one of these in stderr.
    fn expected_words(syscall: &str) -> &'static [&'static str] {
        match syscall {
            "mount" => &["make / rslave", "pivot_root", "mount "],
            "mknodat" => &["mknod "],
            "pivot_root" | "umount2" => &["pivot_root"],
            "symlinkat" => &["symlink "],
            "open_tree" | "move_mount" | "mount_setattr" => &["bind "],
            "sethostname" => &["sethostname"],
            "setns" => &["spawn true", "cannot restore the thread's pid namespace"],
            _ => unreachable!(),
        }
    }

    /// Fails the K-th call of `syscall` (in each process) with EPERM for K = 1, 2, ... up to
    /// the number of calls in a clean run: every run must fail with a message naming the step
    /// and leave nothing; the run after the last call succeeds.
    fn inject_every_call(syscall: &str) {
        let setup = Setup::new();
        let n = *setup.counts().get(syscall).unwrap_or(&0);
        assert!(
            n > 0,
            "a clean run calls {syscall} (else this test proves nothing)"
        );
        let leaks = LeakCheck::snapshot();
        for k in 1..=n + 1 {
            let inject = format!("inject={syscall}:error=EPERM:when={k}");
            let (status, stderr) = setup.run(&["-o", "/dev/null", "-e", &inject]);
            let context = format!("{syscall} call {k} of {n} fails with EPERM");
            assert!(!stderr.contains("panicked"), "{context}: a panic: {stderr}");
            if k > n {
                assert!(
                    status.success(),
                    "{context}: nothing injected, works: {stderr}"
                );
                assert_eq!(stderr, "", "{context}");
            } else {
                assert!(!status.success(), "{context}: the run fails");
                assert!(
                    stderr.contains("EPERM") || stderr.contains("Operation not permitted"),
                    "{context}: names the errno: {stderr}"
                );
                assert!(
                    expected_words(syscall).iter().any(|w| stderr.contains(w)),
                    "{context}: names the step ({:?}): {stderr}",
                    expected_words(syscall)
                );
                if stderr.contains("cannot start") {
                    assert!(
                        stderr.contains("container set-up step"),
                        "{context}: {stderr}"
                    );
                }
            }
            leaks.assert_clean();
        }
        eprintln!("{syscall}: {n} injected failures, each reported and rolled back");
    }

    #[test]
    fn injected_mount_failures_roll_back() {
        inject_every_call("mount");
    }

    #[test]
    fn injected_mknodat_failures_roll_back() {
        inject_every_call("mknodat");
    }

    #[test]
    fn injected_pivot_root_failure_rolls_back() {
        inject_every_call("pivot_root");
    }

    #[test]
    fn injected_umount2_failure_rolls_back() {
        inject_every_call("umount2");
    }

    #[test]
    fn injected_symlinkat_failures_roll_back() {
        inject_every_call("symlinkat");
    }

    #[test]
    fn injected_open_tree_failures_roll_back() {
        inject_every_call("open_tree");
    }

    #[test]
    fn injected_move_mount_failures_roll_back() {
        inject_every_call("move_mount");
    }

    #[test]
    fn injected_mount_setattr_failures_roll_back() {
        inject_every_call("mount_setattr");
    }

    #[test]
    fn injected_setns_failures_roll_back() {
        inject_every_call("setns");
    }

    #[test]
    fn injected_sethostname_failure_rolls_back() {
        inject_every_call("sethostname");
    }
}

// =============================================================================================
// A01–A16: bad input

mod input {
    use super::*;

    fn os(bytes: &[u8]) -> OsString {
        OsString::from_vec(bytes.to_vec())
    }

    /// Asserts `err` is an `InvalidRoot` with `problem` whose message names `shown`.
    fn assert_root_error(err: &Error, problem: &PathProblem, shown: &str) {
        assert!(
            matches!(err, Error::InvalidRoot { problem: p, .. } if p == problem),
            "{shown}: {err:?}"
        );
        let message = err.to_string();
        assert!(
            message.starts_with("root directory") && message.contains(shown),
            "names the argument: {message}"
        );
        assert!(message.contains(&problem.to_string()), "{message}");
    }

    #[test]
    fn bad_roots_get_typed_errors_and_leave_nothing() {
        let scratch = Scratch::exclusive();
        let dir = scratch.dir();
        std::fs::write(dir.join("a-file"), "x").expect("write");
        let fifo = CString::new(dir.join("a-fifo").into_os_string().into_vec()).expect("no NUL");
        // SAFETY: mkfifo(3) with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo");
        symlink_over(&dir.join("dangling"), dir.join("nowhere"));
        symlink_over(&dir.join("to-host-root"), "/");
        let leaks = LeakCheck::snapshot();
        let missing = dir.join("missing");
        let non_utf8 = dir.join(os(b"missing-\xff"));
        let cases: Vec<(PathBuf, PathProblem, String)> = vec![
            (
                missing.clone(),
                PathProblem::Missing,
                missing.display().to_string(),
            ),
            (
                dir.join("a-file"),
                PathProblem::NotADirectory,
                "a-file".into(),
            ),
            (
                dir.join("a-fifo"),
                PathProblem::NotADirectory,
                "a-fifo".into(),
            ),
            (
                "/dev/null".into(),
                PathProblem::NotADirectory,
                "/dev/null".into(),
            ),
            (
                dir.join("dangling"),
                PathProblem::Missing,
                "dangling".into(),
            ),
            (
                dir.join("a-file/below"),
                PathProblem::NotADirectory,
                "a-file/below".into(),
            ),
            (
                non_utf8.clone(),
                PathProblem::Missing,
                "missing-\\xff".into(),
            ),
            (
                "relative/missing".into(),
                PathProblem::Missing,
                "relative/missing".into(),
            ),
        ];
        for (root, problem, shown) in &cases {
            let err = within(DEADLINE, "a start with a bad root", {
                let root = root.clone();
                move || Container::start(root).map(drop)
            })
            .expect_err("refused");
            assert_root_error(&err, problem, shown);
        }
        // The host's own root, however it is spelled.
        for root in [
            PathBuf::from("/"),
            PathBuf::from("//"),
            PathBuf::from("/tmp/.."),
            dir.join("to-host-root"),
        ] {
            let err = Container::start(&root).expect_err("the host's root is refused");
            assert!(
                matches!(err, Error::InvalidRoot { .. }),
                "{}: {err:?}",
                root.display()
            );
            assert!(err.to_string().contains("host's own root"), "{err}");
        }
        assert!(!missing.exists() && !non_utf8.exists(), "nothing created");
        leaks.assert_clean();
    }

    #[test]
    fn roots_through_symlinks_relative_paths_and_non_utf8_names_work() {
        let scratch = Scratch::exclusive();
        let leaks = LeakCheck::snapshot();
        let canonical = std::fs::canonicalize(scratch.root()).expect("canonicalize");
        // A symlink to the root.
        let link = scratch.dir().join("link-to-root");
        symlink_over(&link, scratch.root());
        // A relative spelling, from this process's working directory.
        let cwd = std::env::current_dir().expect("cwd");
        let relative = up_from(&cwd).join(canonical.strip_prefix("/").expect("absolute"));
        // A non-UTF-8 name: a symlink, and a real directory the root is bind-mounted on.
        let odd_link = scratch.dir().join(os(b"link-\xff-root"));
        symlink_over(&odd_link, scratch.root());
        let odd_dir = scratch.dir().join(os(b"dir-\xfe-root"));
        std::fs::create_dir(&odd_dir).expect("mkdir");
        let odd_mount = HostMount::bind(scratch.root(), &odd_dir);
        for (root, expected) in [
            (link.clone(), canonical.clone()),
            (relative.clone(), canonical.clone()),
            (odd_link.clone(), canonical.clone()),
            (odd_dir.clone(), odd_dir.clone()),
        ] {
            let c = Container::start(&root)
                .unwrap_or_else(|e| panic!("start over {}: {e}", root.display()));
            assert_eq!(c.root(), expected, "canonical root of {}", root.display());
            assert_eq!(sh_ok(&c, "echo inside"), "inside\n");
        }
        assert_eq!(std::env::current_dir().expect("cwd"), cwd, "cwd unchanged");
        drop(odd_mount);
        leaks.assert_clean();
    }

    #[test]
    fn hostnames_are_checked_before_anything_starts() {
        let scratch = Scratch::exclusive();
        let leaks = LeakCheck::snapshot();
        for (name, reason) in [
            ("", "empty"),
            (&*"a".repeat(65), "longer than 64"),
            ("a/b", "slash"),
            ("a b", "white space"),
            ("a\nb", "white space"),
            ("a\0b", "NUL"),
        ] {
            let err = Container::builder(scratch.root())
                .hostname(name)
                .start()
                .expect_err("a bad hostname is refused");
            assert!(
                matches!(&err, Error::InvalidHostname { name: n, .. } if n == name),
                "{name:?}: {err:?}"
            );
            let message = err.to_string();
            assert!(
                message.starts_with("hostname") && message.contains(reason),
                "names the argument and the problem: {message}"
            );
        }
        leaks.assert_clean();
        let longest = "h".repeat(64);
        let c = Container::builder(scratch.root())
            .hostname(&longest)
            .start()
            .expect("a 64-byte hostname works");
        assert_eq!(sh_ok(&c, "hostname"), format!("{longest}\n"));
    }

    #[test]
    fn bad_bind_sources_and_destinations_get_typed_errors_and_leave_nothing() {
        let scratch = Scratch::exclusive();
        let src = bind_source("bad-bind-src");
        symlink_over(&src.join("dangling"), src.join("nowhere"));
        let upper_before = scratch.upper_entries();
        let leaks = LeakCheck::snapshot();
        let dir = src.path().to_path_buf();
        let file = src.join("payload");
        let cases: Vec<(PathBuf, &str, &str, Check)> = vec![
            (
                src.join("missing"),
                "/mnt/x",
                "does not exist",
                Box::new(|e| {
                    matches!(
                        e,
                        Error::BindSource {
                            problem: PathProblem::Missing,
                            ..
                        }
                    )
                }),
            ),
            (
                src.join("dangling"),
                "/mnt/x",
                "does not exist",
                Box::new(|e| {
                    matches!(
                        e,
                        Error::BindSource {
                            problem: PathProblem::Missing,
                            ..
                        }
                    )
                }),
            ),
            (
                src.join(os(b"missing-\xff")),
                "/mnt/x",
                "missing-\\xff",
                Box::new(|e| {
                    matches!(
                        e,
                        Error::BindSource {
                            problem: PathProblem::Missing,
                            ..
                        }
                    )
                }),
            ),
            (dir.clone(), "/", "root of the container", Box::new(is_root)),
            (dir.clone(), ".", "root of the container", Box::new(is_root)),
            (dir.clone(), "", "root of the container", Box::new(is_root)),
            (
                dir.clone(),
                "/./",
                "root of the container",
                Box::new(is_root),
            ),
            (dir.clone(), "/a/../b", "`..`", Box::new(is_dot_dot)),
            (dir.clone(), "..", "`..`", Box::new(is_dot_dot)),
            (dir.clone(), "/mnt/x/..", "`..`", Box::new(is_dot_dot)),
            (
                dir.clone(),
                "/etc/passwd/below",
                "not a directory",
                Box::new(|e| {
                    matches!(
                        e,
                        Error::BindDestination {
                            problem: PathProblem::NotADirectory,
                            ..
                        }
                    )
                }),
            ),
            (
                file.clone(),
                "/etc",
                "directory",
                Box::new(is_kind_mismatch),
            ),
            (
                dir.clone(),
                "/etc/passwd",
                "directory",
                Box::new(is_kind_mismatch),
            ),
        ];
        for (source, dest, words, check) in &cases {
            let err = Container::builder(scratch.root())
                .bind(source, dest)
                .start()
                .expect_err("bad bind input is refused");
            assert!(check(&err), "{} -> {dest:?}: {err:?}", source.display());
            let message = err.to_string();
            let argument = if matches!(err, Error::BindSource { .. }) {
                "bind source"
            } else {
                "bind destination"
            };
            assert!(
                message.starts_with(argument) && message.contains(words),
                "names the argument and the problem: {message}"
            );
        }
        assert_eq!(
            scratch.upper_entries(),
            upper_before,
            "nothing created in the root"
        );
        leaks.assert_clean();
    }

    /// What a bad bind must be refused as.
    type Check = Box<dyn Fn(&Error) -> bool>;

    fn is_root(e: &Error) -> bool {
        matches!(
            e,
            Error::BindDestination {
                problem: PathProblem::IsRoot,
                ..
            }
        )
    }

    fn is_dot_dot(e: &Error) -> bool {
        matches!(
            e,
            Error::BindDestination {
                problem: PathProblem::DotDot,
                ..
            }
        )
    }

    fn is_kind_mismatch(e: &Error) -> bool {
        matches!(
            e,
            Error::BindDestination {
                problem: PathProblem::KindMismatch(_),
                ..
            }
        )
    }

    #[test]
    fn non_utf8_bind_source_and_destination_work() {
        let scratch = Scratch::new();
        let base = TempDir::new("odd-src");
        let source = base.join(os(b"src-\xff"));
        std::fs::create_dir(&source).expect("mkdir");
        std::fs::write(source.join("payload"), "odd\n").expect("write");
        let dest = PathBuf::from(os(b"/mnt/dst-\xfe"));
        let c = Container::builder(scratch.root())
            .bind(&source, &dest)
            .start()
            .unwrap_or_else(|e| panic!("non-UTF-8 bind paths: {e}"));
        assert_eq!(sh_ok(&c, "cat /mnt/dst-*/payload"), "odd\n");
        let out = c
            .command("cat")
            .arg(dest.join("payload"))
            .output()
            .expect("cat");
        assert_eq!(out.stdout, b"odd\n", "the exact name works inside");
        drop(c);
        assert!(scratch.host_path(&dest).is_dir(), "created inside the root");
    }
}
