//! Which fds reach a command and PID 1 (only stdio, also while other threads of the caller open
//! fds without close-on-exec; files and directories passed as stdio), and where a command's
//! working directory is (inside, however it is spelled).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use furnace_core::Container;
use furnace_tests::hostside::{relative_to_outside, symlink_over, Outside};
use furnace_tests::probe::*;
use furnace_tests::*;

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

/// C01: no fd of the caller (a file, `/dev/null`, a directory opened without close-on-exec)
/// reaches a shell inside or PID 1.
#[test]
fn no_fd_of_the_caller_reaches_the_container() {
    let scratch = Scratch::new();
    let canary = scratch.dir().join("leak-canary");
    std::fs::write(&canary, "x").expect("write canary");
    let mut fds = LeakyFds(Vec::new());
    for path in [canary.as_path(), Path::new("/dev/null"), scratch.dir()] {
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .expect("no NUL in the path");
        // SAFETY: open(2) with a valid C string and no O_CLOEXEC, on purpose.
        let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_RDONLY) };
        assert!(fd >= 0, "open {}", path.display());
        fds.0.push(fd);
    }
    let c = start(&scratch.root());
    let parse = |listing: &str| -> Vec<(u32, String)> {
        listing
            .lines()
            .filter(|l| !l.starts_with("total"))
            .filter_map(|l| {
                let (left, target) = match l.split_once(" -> ") {
                    Some((left, target)) => (left, target.to_owned()),
                    None => (l, String::new()),
                };
                let fd = left.split_whitespace().last()?.parse().ok()?;
                Some((fd, target))
            })
            .collect()
    };
    for shell in ["sh", "bash"] {
        // `; true`: the shell must not exec ls in its own place.
        let out = run(&c, shell, &["-c", "ls -l /proc/$$/fd; true"]);
        assert!(out.status.success(), "{shell}: {}", out.stderr);
        let fds: Vec<u32> = parse(&out.stdout).into_iter().map(|(fd, _)| fd).collect();
        assert!(
            fds.iter().all(|fd| [0, 1, 2, 255].contains(fd)) && fds.len() >= 3,
            "{shell} inside has only stdio open:\n{}",
            out.stdout
        );
    }
    let out = run(&c, "ls", &["-l", "/proc/self/fd"]);
    for (fd, target) in parse(&out.stdout) {
        assert!(
            fd <= 2 || target.is_empty() || target.starts_with("/proc/"),
            "only stdio and ls's own directory fd:\n{}",
            out.stdout
        );
    }
    assert!(!out.stdout.contains("leak-canary"), "{}", out.stdout);
    // PID 1 holds /dev/null as stdio and a pidfd of its owner, nothing of ours.
    for entry in std::fs::read_dir(format!("/proc/{}/fd", c.init_pid()))
        .expect("list PID 1's fds")
        .flatten()
    {
        let target = std::fs::read_link(entry.path()).expect("readlink");
        let target = target.to_string_lossy();
        assert!(
            target == "/dev/null" || target == "anon_inode:[pidfd]",
            "PID 1 holds fd {:?} -> {target}",
            entry.file_name()
        );
    }
    drop(c);
    drop(fds);
}

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
                            let fd = libc::open(c"/".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
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

/// C01, C02: only stdio reaches 150 commands while two other threads of the caller open fds
/// without close-on-exec.
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

/// C01: PID 1 holds stdio on `/dev/null` and its owner's pidfd, nothing else.
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

/// C05: files passed as stdio work, and are exactly fds 0, 1 and 2.
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

/// C04: `current_dir` is a path inside the container (relative to `/`; `/` by default).
#[test]
fn current_dir_is_a_path_inside() {
    let scratch = Scratch::new();
    let name = unique_name("cwd");
    std::fs::create_dir(scratch.host_path(&name)).expect("mkdir inside");
    assert!(!Path::new("/").join(&name).exists());
    let c = start(&scratch.root());
    let out = c
        .command("pwd")
        .current_dir(format!("/{name}"))
        .output()
        .expect("pwd");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        format!("/{name}")
    );
    let out = c.command("pwd").current_dir("etc").output().expect("pwd");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/etc\n",
        "relative to /"
    );
    let out = c.command("pwd").output().expect("pwd");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/\n", "default /");
    // A directory that exists only on the host is not found inside.
    let host_only = TempDir::new("host-only-cwd");
    let err = c
        .command("pwd")
        .current_dir(host_only.path())
        .output()
        .expect_err("a host-only directory does not exist inside");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
}

/// C04: a working directory through symlinks that lead out of the root stays inside.
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

/// C04 (CVE-2024-21626): a working directory through an fd of the caller is refused.
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

/// C05, in the hardened profile, where it matters most: a host directory (or an O_PATH fd) as a command's stdio is a
/// handle on the host's file system — `/proc/self/fd/0/..` walks up to the host's root, and
/// with CAP_DAC_OVERRIDE root inside reads and writes anything there. It must be refused (or
/// at least not reach the host). SECURITY.md §2.2 / R1: only stdio and explicitly passed
/// *non-directory* fds; runc documents such fds as escape vectors.
#[test]
fn host_directory_passed_as_stdio_does_not_reach_the_host() {
    let scratch = Scratch::idmappable();
    let outside = Outside::new("outside-stdio");
    let c = start_hardened(&scratch.root());
    let open_path = |flags: i32| -> File {
        let path =
            std::ffi::CString::new(outside.path().as_os_str().as_encoded_bytes()).expect("no NUL");
        // SAFETY: open(2) with a valid C string; the fd is handed to a File that owns it.
        let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
        assert!(fd >= 0, "open the outside directory");
        // SAFETY: `fd` is a new fd that nothing else owns.
        unsafe { File::from_raw_fd(fd) }
    };
    let mut leaks = Vec::new();
    for (what, fd_inside, file) in [
        (
            "a directory as stdin",
            0,
            open_path(libc::O_RDONLY | libc::O_DIRECTORY),
        ),
        ("an O_PATH fd as stdin", 0, open_path(libc::O_PATH)),
        (
            "a directory as stderr",
            2,
            open_path(libc::O_RDONLY | libc::O_DIRECTORY),
        ),
    ] {
        let mut command = c.command("cat");
        command.arg(format!("/proc/self/fd/{fd_inside}/marker"));
        if fd_inside == 0 {
            command.stdin(file);
        } else {
            command.stdin(std::process::Stdio::null()).stderr(file);
        }
        match command.output() {
            Err(e) => eprintln!("{what}: refused: {e}"),
            Ok(out) => {
                let stdout = String::from_utf8_lossy(&out.stdout);
                if stdout.contains("marker of") {
                    leaks.push(format!(
                        "{what}: the command read the host file: {stdout:?}"
                    ));
                }
            }
        }
    }
    outside.assert_untouched("after the stdio attempts");
    assert!(
        leaks.is_empty(),
        "a hardened container reached the host through its stdio:\n{}",
        leaks.join("\n")
    );
}

/// Regression (issue 10): a caller whose fds 0, 1 and 2 are closed starts a container and runs a
/// command in it (`furnace-test-helper closed-stdio`). Before, the owner's pidfd, `/dev/null`
/// or the ready pipe landed on 0–2, where PID 1's stdio set-up replaced it: the container died.
#[test]
fn a_caller_with_fds_0_1_2_closed_runs_a_command() {
    let scratch = Scratch::new();
    let out = TempDir::new("closed-stdio-out");
    let mut helper = std::process::Command::new(crate::HELPER)
        .arg("closed-stdio")
        .arg(scratch.root())
        .arg(out.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start furnace-test-helper closed-stdio");
    let status = wait_child(&mut helper, "the caller with closed stdio");
    let report = std::fs::read_to_string(out.join("helper-error")).unwrap_or_default();
    assert!(
        status.success(),
        "the caller with fds 0-2 closed: {status}: {report}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("r")).ok().as_deref(),
        Some("ok\n"),
        "the command's output reached the bound directory"
    );
}

/// Regression (issue 10): a working directory outside the container whose host path is longer
/// than 256 bytes (through a directory fd of the caller, still open in the forked child) is
/// refused at spawn. Before, the check asked `getcwd` with a 256-byte buffer, took its `ERANGE`
/// for "reachable", and the command ran in the host's directory.
#[test]
fn an_unreachable_current_dir_longer_than_256_bytes_is_refused() {
    let scratch = Scratch::new();
    let outside = TempDir::new("long-cwd");
    let chain: PathBuf = (0..30).map(|i| format!("level-{i:03}")).collect();
    let deep = outside.join(&chain);
    std::fs::create_dir_all(&deep).expect("create the chain of directories");
    assert!(
        deep.as_os_str().len() > 256,
        "premise: the host path is longer than 256 bytes"
    );
    let dir = File::open(outside.path()).expect("open the outside directory");
    let c = start(&scratch.root());
    let cwd = format!("/proc/self/fd/{}/{}", dir.as_raw_fd(), chain.display());
    let result = c
        .command("sh")
        .args(["-c", "touch escaped; pwd"])
        .current_dir(&cwd)
        .output();
    let escaped = deep.join("escaped").exists();
    drop(dir);
    assert!(
        !escaped,
        "the command ran in the host directory {}: {result:?}",
        deep.display()
    );
    let err = result.expect_err("a working directory outside the container is refused");
    assert!(
        err.to_string().contains("level-029"),
        "names the working directory: {err}"
    );
}
