//! The hardened profile (`ContainerBuilder::hardened(true)`; the reference
//! `../shared/SECURITY.md` §9, §7 E and F; the project's docs/SECURITY.md, "Hardened"):
//! reduced capabilities with `no_new_privs`, masked and read-only paths, `/dev` exactly as
//! promised, and each escape of the catalogue failing inside — mknod of a block device,
//! remounting `/proc/sys`, a fresh procfs or bind mount, `open_by_handle_at`, ptrace of PID 1,
//! a cgroup v1 mount, `TIOCSTI` into the caller's terminal, a host directory handed in as
//! stdio (C05). The privileged default, for contrast, still allows `mount -o loop`.
//!
//! The probes only ever *open* dangerous files (never write them); a cgroup hierarchy that got
//! mounted by mistake would never be written to (no `release_agent`).
//!
//! Run through `cargo xtask itest`.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use furnace_core::{Container, HARDENED_CAPABILITIES};
use furnace_tests::hostside;
use furnace_tests::probe::*;
use furnace_tests::*;

/// The capability mask docs/SECURITY.md promises for commands (containerd's nine).
const DOCUMENTED_MASK: u64 = 0x5fb;

fn start_hardened(root: &Path) -> Container {
    let c = Container::builder(root)
        .hardened(true)
        .start()
        .unwrap_or_else(|e| panic!("cannot start a hardened container: {e}"));
    assert!(c.is_hardened());
    c
}

/// The `Cap*` and `NoNewPrivs` fields of a `/proc/PID/status` text.
fn status_fields(status: &str) -> Vec<(String, u64)> {
    status
        .lines()
        .filter_map(|l| {
            let (key, value) = l.split_once(':')?;
            let value = value.trim();
            let parsed = if key.starts_with("Cap") {
                u64::from_str_radix(value, 16).ok()?
            } else if key == "NoNewPrivs" {
                value.parse().ok()?
            } else {
                return None;
            };
            Some((key.to_owned(), parsed))
        })
        .collect()
}

fn expected_fields(caps: u64) -> Vec<(String, u64)> {
    [
        ("CapInh", 0),
        ("CapPrm", caps),
        ("CapEff", caps),
        ("CapBnd", caps),
        ("CapAmb", 0),
        ("NoNewPrivs", 1),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), *v))
    .collect()
}

/// Asserts a probe answer is a failure with one of `errnos`.
#[track_caller]
fn assert_fails(answer: &Answer, errnos: &[&str], what: &str) {
    assert!(
        answer.errno().is_some_and(|e| errnos.contains(&e)),
        "{what} must fail with {errnos:?}: {answer:?}"
    );
}

// F01
#[test]
fn capability_sets_are_reduced_and_no_new_privs_is_set() {
    let scratch = Scratch::new();
    install_probe(&scratch);
    let mask = HARDENED_CAPABILITIES
        .iter()
        .fold(0u64, |m, cap| m | cap.bitmask());
    assert_eq!(
        mask, DOCUMENTED_MASK,
        "the exported set is the documented one"
    );
    for isolate in [false, true] {
        let c = Container::builder(scratch.root())
            .hardened(true)
            .isolate_network(isolate)
            .start()
            .expect("start");
        // A command, a command's child, and a command with ids set explicitly.
        let direct = probe(&c, &["status"]).stdout;
        let grandchild = sh_ok(&c, "/probe status; true");
        let with_ids = String::from_utf8_lossy(
            &c.command(PROBE)
                .arg("status")
                .uid(0)
                .gid(0)
                .output()
                .expect("run")
                .stdout,
        )
        .into_owned();
        for (how, status) in [
            ("command", &direct),
            ("child of a command", &grandchild),
            ("command with uid/gid 0", &with_ids),
        ] {
            assert_eq!(
                status_fields(status),
                expected_fields(DOCUMENTED_MASK),
                "{how} (isolated network: {isolate}):\n{status}"
            );
        }
        // PID 1 keeps nothing once the root is set up.
        let init = std::fs::read_to_string(format!("/proc/{}/status", c.init_pid()))
            .expect("read PID 1's status");
        assert_eq!(
            status_fields(&init),
            expected_fields(0),
            "PID 1 (isolated network: {isolate}):\n{init}"
        );
    }
}

// E01
#[test]
fn masked_paths_read_empty_and_read_only_paths_refuse_writes() {
    let scratch = Scratch::new();
    install_probe(&scratch);
    let c = start_hardened(&scratch.root());
    // Masked files: present on this kernel → the container's /dev/null (1:3), reading empty.
    let mut masked_files = 0;
    for name in [
        "interrupts",
        "kcore",
        "keys",
        "latency_stats",
        "sched_debug",
        "timer_list",
        "timer_stats",
    ] {
        let path = format!("/proc/{name}");
        let answer = probe_answer(&c, &["open-ro", &path]);
        if Path::new(&path).exists() {
            masked_files += 1;
            assert_eq!(answer, Answer::Ok("0".into()), "{path} reads empty");
            let kind = sh_ok(&c, &format!("stat -c '%F %t:%T' {path}"));
            assert_eq!(kind, "character special file 1:3\n", "{path} is /dev/null");
            assert_fails(&probe_answer(&c, &["umount", &path]), &["EPERM"], "umount");
        } else {
            assert_fails(&answer, &["ENOENT"], &path);
        }
    }
    // Masked directories: empty, read-only.
    let mut masked_dirs = 0;
    let mut dirs: Vec<String> = [
        "/proc/acpi",
        "/proc/asound",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if let Ok(cpus) = std::fs::read_dir("/sys/devices/system/cpu") {
        for cpu in cpus.flatten() {
            let throttle = cpu.path().join("thermal_throttle");
            if throttle.is_dir() {
                dirs.push(throttle.to_string_lossy().into_owned());
            }
        }
    }
    for dir in &dirs {
        if !Path::new(dir).is_dir() {
            continue;
        }
        masked_dirs += 1;
        assert_eq!(sh_ok(&c, &format!("ls -A {dir}")), "", "{dir} is empty");
        assert_fails(
            &probe_answer(&c, &["create", &format!("{dir}/furnace-probe")]),
            &["EROFS"],
            &format!("creating a file in {dir}"),
        );
    }
    assert!(
        masked_files > 0 && masked_dirs > 0,
        "this kernel has masked files and directories to check ({masked_files}, {masked_dirs})"
    );
    // Read-only paths: opening for writing fails (the probe never writes).
    let mut read_only = 0;
    for path in [
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/kernel/modprobe",
        "/proc/sys/vm/drop_caches",
        "/proc/sysrq-trigger",
        "/proc/irq/default_smp_affinity",
    ] {
        if !Path::new(path).exists() {
            continue;
        }
        read_only += 1;
        assert_fails(
            &probe_answer(&c, &["open-wo", path]),
            &["EROFS", "EACCES"],
            &format!("opening {path} for writing"),
        );
    }
    assert!(
        read_only >= 3,
        "enough read-only paths exist here: {read_only}"
    );
    assert_fails(
        &probe_answer(&c, &["umount", "/proc/sys"]),
        &["EPERM"],
        "umount /proc/sys",
    );
    eprintln!(
        "masks: {masked_files} files, {masked_dirs} directories; {read_only} read-only paths \
         refused writes"
    );
}

// E04
#[test]
fn dev_has_exactly_the_promised_nodes() {
    let scratch = Scratch::new();
    let c = start_hardened(&scratch.root());
    let listing = sh_ok(&c, "ls -A /dev");
    let mut names: Vec<&str> = listing.lines().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
            "stdout", "tty", "urandom", "zero"
        ],
        "/dev holds exactly the promised entries (no loop device, no loop-control)"
    );
    let nodes = sh_ok(
        &c,
        "for n in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$n; done",
    );
    assert_eq!(
        nodes,
        "/dev/null character special file 1:3 666\n\
         /dev/zero character special file 1:5 666\n\
         /dev/full character special file 1:7 666\n\
         /dev/random character special file 1:8 666\n\
         /dev/urandom character special file 1:9 666\n\
         /dev/tty character special file 5:0 666\n"
    );
    let links = sh_ok(
        &c,
        "for n in fd stdin stdout stderr ptmx; do echo $n $(readlink /dev/$n); done",
    );
    assert_eq!(
        links,
        "fd /proc/self/fd\nstdin /proc/self/fd/0\nstdout /proc/self/fd/1\n\
         stderr /proc/self/fd/2\nptmx pts/ptmx\n"
    );
    assert_eq!(
        sh_ok(&c, "ls -A /dev/pts"),
        "ptmx\n",
        "a new devpts instance"
    );
    // Attaching a loop device inside fails: there is neither loop-control nor any node.
    let image_name = format!("{}.img", unique_name("hardened-loop"));
    let (status, _, stderr) = sh(
        &c,
        &format!(
            "dd if=/dev/zero of=/tmp/{image_name} bs=1M count=1 2>/dev/null && \
             losetup -f /tmp/{image_name}"
        ),
    );
    assert!(!status.success(), "losetup fails inside: {stderr}");
    assert!(
        !attached_loop_devices()
            .iter()
            .any(|(_, file)| file.contains(&image_name)),
        "no loop device got attached"
    );
}

/// The device number of the block device the test image is mounted from (a host loop device).
fn image_device() -> (u32, u32) {
    let dev = std::fs::metadata(image()).expect("stat the image").dev();
    (libc::major(dev), libc::minor(dev))
}

// F02
#[test]
fn mknod_of_a_block_device_fails() {
    let scratch = Scratch::new();
    install_probe(&scratch);
    let c = start_hardened(&scratch.root());
    let (major, minor) = image_device();
    for (path, major, minor) in [
        ("/tmp/disk", 8u32, 0u32),
        ("/tmp/image-device", major, minor),
    ] {
        let answer = probe_answer(
            &c,
            &["mknod-blk", path, &major.to_string(), &minor.to_string()],
        );
        assert_fails(
            &answer,
            &["EPERM"],
            &format!("mknod {path} b {major} {minor}"),
        );
        assert!(!scratch.host_path(path).exists(), "{path} was not created");
    }
}

// E06
#[test]
fn remounting_proc_sys_and_mounting_procfs_or_binds_fail() {
    let scratch = Scratch::new();
    install_probe(&scratch);
    let c = start_hardened(&scratch.root());
    sh_ok(&c, "mkdir -p /mnt/p /mnt/b /mnt/s");
    for (args, what) in [
        (
            &["remount-rw", "/proc/sys"][..],
            "remount /proc/sys read-write",
        ),
        (&["remount-rw", "/sys"][..], "remount /sys read-write"),
        (&["mount-proc", "/mnt/p"][..], "mount a fresh procfs"),
        (&["mount-bind", "/proc", "/mnt/b"][..], "bind-mount /proc"),
        (&["mount-bind", "/", "/mnt/b"][..], "bind-mount /"),
    ] {
        assert_fails(&probe_answer(&c, args), &["EPERM"], what);
    }
    let (status, _, stderr) = sh(&c, "mount -t sysfs sysfs /mnt/s");
    assert!(!status.success(), "mount -t sysfs fails: {stderr}");
    // Nor through a user namespace of its own (full capabilities there): the container's
    // /proc is not fully visible (masks), so the kernel refuses a fresh procfs (runc's
    // "no_pivot" case).
    for dir in ["/mnt/p", "/proc"] {
        let out = probe(&c, &["userns-mount-proc", dir]).stdout;
        assert!(
            out == "mount err EPERM\n" || out.starts_with("unshare err"),
            "a fresh procfs on {dir} from a new user namespace is refused: {out}"
        );
    }
    let mounts = std::fs::read_to_string(format!("/proc/{}/mountinfo", c.init_pid()))
        .expect("read the container's mountinfo");
    assert!(
        !mounts.contains(" /mnt/"),
        "nothing got mounted under /mnt:\n{mounts}"
    );
}

// F03
#[test]
fn open_by_handle_at_fails() {
    let scratch = Scratch::new();
    install_probe(&scratch);
    let src = TempDir::new("handle-src");
    std::fs::write(src.join("bound-file"), "a host file\n").expect("write");
    let c = Container::builder(scratch.root())
        .hardened(true)
        .bind_ro(src.join("bound-file"), "/mnt/bound-file")
        .start()
        .expect("start");
    let out = probe(&c, &["handle-escape", "/mnt/bound-file"]).stdout;
    assert!(
        out.starts_with("open_by_handle_at "),
        "name_to_handle_at works, so the attempt is real: {out}"
    );
    assert_fails(&Answer::parse(&out), &["EPERM"], "open_by_handle_at");
}

// F04
#[test]
fn ptrace_of_pid1_fails() {
    let scratch = Scratch::new();
    install_probe(&scratch);
    let c = start_hardened(&scratch.root());
    assert_fails(
        &probe_answer(&c, &["ptrace", "1"]),
        &["EPERM"],
        "ptrace PID 1",
    );
    // Nor its executable (a host binary: the caller's), memory or environment (C06, C07).
    for file in ["/proc/1/environ", "/proc/1/mem", "/proc/1/exe"] {
        assert_fails(
            &probe_answer(&c, &["open-ro", file]),
            &["EACCES", "EPERM"],
            file,
        );
    }
}

// F08
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
    let scratch = Scratch::new();
    install_probe(&scratch);
    for hardened in [true, false] {
        let c = Container::builder(scratch.root())
            .hardened(hardened)
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

// F06
#[test]
fn cgroup_v1_mount_fails() {
    let scratch = Scratch::new();
    install_probe(&scratch);
    let c = start_hardened(&scratch.root());
    sh_ok(&c, "mkdir -p /tmp/cg");
    assert_fails(
        &probe_answer(&c, &["mount-cgroup", "/tmp/cg"]),
        &["EPERM"],
        "mount -t cgroup",
    );
    let (status, _, _) = sh(&c, "mount -t cgroup -o pids cgroup /tmp/cg");
    assert!(!status.success(), "mount -t cgroup -o pids fails");
    assert_eq!(sh_ok(&c, "ls -A /tmp/cg"), "", "nothing mounted there");
}

/// A pseudo-terminal the test owns: the master, and the slave in raw mode (so that every byte
/// pushed into its input queue counts).
struct Pty {
    _master: File,
    slave: File,
}

impl Pty {
    fn open() -> Pty {
        // SAFETY: posix_openpt(3) returns a new fd or -1.
        let fd = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
        assert!(fd >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        // SAFETY: `fd` is a new fd that nothing else owns.
        let master = unsafe { File::from_raw_fd(fd) };
        // SAFETY: grantpt/unlockpt on the master fd we own.
        assert_eq!(unsafe { libc::grantpt(fd) }, 0, "grantpt");
        // SAFETY: as above.
        assert_eq!(unsafe { libc::unlockpt(fd) }, 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        // SAFETY: ptsname_r(3) writes a NUL-terminated name of at most `name.len()` bytes.
        let rc = unsafe { libc::ptsname_r(fd, name.as_mut_ptr(), name.len()) };
        assert_eq!(rc, 0, "ptsname_r");
        // SAFETY: ptsname_r succeeded, so `name` holds a NUL-terminated string.
        let name = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&name)
            .unwrap_or_else(|e| panic!("open {name}: {e}"));
        let mut termios = rustix::termios::tcgetattr(&slave).expect("tcgetattr");
        termios.make_raw();
        rustix::termios::tcsetattr(&slave, rustix::termios::OptionalActions::Now, &termios)
            .expect("tcsetattr");
        Pty {
            _master: master,
            slave,
        }
    }

    /// Bytes waiting in the slave's input queue (`FIONREAD`).
    fn queued(&self) -> i32 {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        let rc = unsafe { libc::ioctl(self.slave.as_raw_fd(), libc::FIONREAD, &mut n) };
        assert_eq!(rc, 0, "FIONREAD");
        n
    }

    /// Runs `/probe ARGS` with the slave as stdin; returns the answer.
    fn probe_with_stdin(&self, c: &Container, args: &[&str]) -> Answer {
        let out = c
            .command(PROBE)
            .args(args)
            .stdin(self.slave.try_clone().expect("dup the slave"))
            .output()
            .expect("run the probe");
        assert!(out.status.success(), "{out:?}");
        Answer::parse(&String::from_utf8_lossy(&out.stdout))
    }
}

// F07
#[test]
fn tiocsti_into_the_callers_terminal_fails() {
    let scratch = Scratch::new();
    install_probe(&scratch);
    let pty = Pty::open();
    let c = start_hardened(&scratch.root());
    for variant in ["tiocsti", "tiocsti-highbits"] {
        let answer = pty.probe_with_stdin(&c, &[variant, "0", "echo injected\n"]);
        assert_fails(&answer, &["EPERM", "EIO"], variant);
        assert_eq!(
            pty.queued(),
            0,
            "{variant}: nothing reached the terminal's input"
        );
    }
}

// C05, where it matters most: a host directory (or an O_PATH fd) as a command's stdio is a
// handle on the host's file system — `/proc/self/fd/0/..` walks up to the host's root, and
// with CAP_DAC_OVERRIDE root inside reads and writes anything there. It must be refused (or
// at least not reach the host). SECURITY.md §2.2 / R1: only stdio and explicitly passed
// *non-directory* fds; runc documents such fds as escape vectors.
#[test]
fn host_directory_passed_as_stdio_does_not_reach_the_host() {
    let scratch = Scratch::new();
    let outside = hostside::Outside::new("outside-stdio");
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

#[test]
fn hardened_containers_leave_nothing() {
    let scratch = Scratch::exclusive();
    install_probe(&scratch);
    let src = TempDir::new("hardened-src");
    std::fs::write(src.join("payload"), "payload\n").expect("write");
    let leaks = LeakCheck::snapshot();
    for i in 0..20 {
        let c = Container::builder(scratch.root())
            .hardened(true)
            .isolate_network(i % 2 == 0)
            .bind_ro(src.path(), "/mnt/src")
            .start()
            .expect("start");
        assert_eq!(sh_ok(&c, "cat /mnt/src/payload"), "payload\n");
        let mut background = c
            .command("sleep")
            .arg("1000")
            .spawn()
            .expect("spawn a sleeper");
        if i % 2 == 0 {
            c.stop().expect("stop");
        } else {
            drop(c);
        }
        let _ = background.wait();
    }
    leaks.assert_clean();
}

// Contrast: the privileged default keeps the original's powers.
#[test]
fn privileged_profile_still_allows_loop_mounts_and_terminal_injection() {
    let scratch = Scratch::new();
    install_probe(&scratch);
    let c = Container::start(scratch.root()).expect("start");
    assert!(!c.is_hardened());
    let image_name = format!("{}.img", unique_name("contrast-loop"));
    let out = sh_ok(
        &c,
        &format!(
            "set -e; dd if=/dev/zero of=/tmp/{image_name} bs=1M count=8 2>/dev/null; \
             mkfs.ext4 -q /tmp/{image_name}; mkdir -p /mnt/loop; \
             mount -o loop /tmp/{image_name} /mnt/loop; echo on-the-loop > /mnt/loop/f; \
             cat /mnt/loop/f; umount /mnt/loop"
        ),
    );
    assert_eq!(
        out, "on-the-loop\n",
        "mount -o loop works in the privileged profile"
    );
    // The F07 measurement can see an injection: here (CAP_SYS_ADMIN) TIOCSTI works.
    let pty = Pty::open();
    assert_eq!(
        pty.probe_with_stdin(&c, &["tiocsti", "0", "x"]),
        Answer::Ok(String::new())
    );
    assert_eq!(pty.queued(), 1, "the injected byte is in the input queue");
    drop(c);
    wait_until(DEADLINE, "the loop device is detached", || {
        !attached_loop_devices()
            .iter()
            .any(|(_, file)| file.contains(&image_name))
    });
}
