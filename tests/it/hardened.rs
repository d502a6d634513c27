//! The hardened profile (`ContainerBuilder::hardened(true)`; the reference
//! `shared/SECURITY.md` §9, §7 E and F; the project's docs/SECURITY.md, "Hardened"):
//! reduced capabilities with `no_new_privs`, masked and read-only paths, and each escape of the
//! catalogue failing inside — mknod of a block device, remounting `/proc/sys`, a fresh procfs
//! or bind mount, `open_by_handle_at`, ptrace of PID 1, a cgroup v1 mount, `TIOCSTI` into the
//! caller's terminal, the kernel-global knobs, a mask source swapped during set-up. The
//! privileged default, for contrast, still allows `mount -o loop` and `TIOCSTI`.
//!
//! The probes only ever *open* dangerous files (never write them); a cgroup hierarchy that got
//! mounted by mistake would never be written to (no `release_agent`).

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use furnace_core::{Container, HARDENED_CAPABILITIES};
use furnace_tests::probe::*;
use furnace_tests::proc::let_init_reap;
use furnace_tests::*;
use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};

use crate::HELPER;

/// The capability mask docs/SECURITY.md promises for commands (containerd's nine).
const DOCUMENTED_MASK: u64 = 0x5fb;

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

/// F01: the capability sets of commands (and their children) are the documented nine, with
/// `no_new_privs`; PID 1 keeps none.
#[test]
fn capability_sets_are_reduced_and_no_new_privs_is_set() {
    let scratch = Scratch::idmappable();
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

/// E01: masked files read empty (they are the container's `/dev/null`), masked directories are
/// empty and read-only, read-only paths refuse writes.
#[test]
fn masked_paths_read_empty_and_read_only_paths_refuse_writes() {
    let scratch = Scratch::idmappable();
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

/// The device number of the block device the test image is mounted from (a host loop device).
fn image_device() -> (u32, u32) {
    let dev = std::fs::metadata(image()).expect("stat the image").dev();
    (libc::major(dev), libc::minor(dev))
}

/// F02: mknod of a block device (a disk, the image's device) fails.
#[test]
fn mknod_of_a_block_device_fails() {
    let scratch = Scratch::idmappable();
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

/// E06: remounting `/proc/sys` or `/sys` read-write, a fresh procfs or sysfs, bind mounts, and
/// a procfs from a new user namespace all fail.
#[test]
fn remounting_proc_sys_and_mounting_procfs_or_binds_fail() {
    let scratch = Scratch::idmappable();
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
    let mounts = mounts_of(c.init_pid());
    let under_mnt: Vec<_> = mounts
        .iter()
        .filter(|m| m.mount_point.starts_with("/mnt") && m.mount_point != Path::new("/mnt"))
        .collect();
    assert!(
        under_mnt.is_empty(),
        "nothing got mounted under /mnt: {under_mnt:#?}"
    );
}

/// F03: `open_by_handle_at` ("shocker") from a bound file fails.
#[test]
fn open_by_handle_at_fails() {
    let scratch = Scratch::idmappable();
    install_probe(&scratch);
    let src = TempDir::new("handle-src");
    std::fs::write(src.join("bound-file"), "a host file\n").expect("write");
    let c = Container::builder(scratch.root())
        .hardened(true)
        .bind_ro(src.join("bound-file"), "/mnt/bound-file")
        .start()
        .expect("start");
    // The seccomp filter refuses both calls.
    let out = probe(&c, &["handle-escape", "/mnt/bound-file"]).stdout;
    assert!(
        out.starts_with("name_to_handle_at err EPERM"),
        "the filter refuses name_to_handle_at: {out}"
    );
    drop(c);
    // Without it, the capabilities alone (no CAP_DAC_READ_SEARCH) stop open_by_handle_at.
    let c = Container::builder(scratch.root())
        .hardened(true)
        .seccomp(furnace_core::Seccomp::Unconfined)
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

/// F04, C07: PID 1 cannot be ptraced, nor its executable, memory or environment opened.
#[test]
fn ptrace_of_pid1_fails() {
    let scratch = Scratch::idmappable();
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

/// F06: mounting a cgroup v1 hierarchy fails.
#[test]
fn cgroup_v1_mount_fails() {
    let scratch = Scratch::idmappable();
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
    _master: OwnedFd,
    slave: File,
}

impl Pty {
    fn open() -> Pty {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .expect("posix_openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let name = Path::new(OsStr::from_bytes(name.as_bytes()));
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(name)
            .unwrap_or_else(|e| panic!("open {}: {e}", name.display()));
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
    fn queued(&self) -> u64 {
        rustix::io::ioctl_fionread(&self.slave).expect("FIONREAD")
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

/// F07: `TIOCSTI` into the caller's terminal fails, and nothing reaches its input.
#[test]
fn tiocsti_into_the_callers_terminal_fails() {
    let scratch = Scratch::idmappable();
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

/// Twenty hardened containers, stopped or dropped with a command running, leave nothing.
#[test]
fn hardened_containers_leave_nothing() {
    let scratch = Scratch::exclusive_idmappable();
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

/// Contrast: the privileged default keeps the original's powers (`mount -o loop`, and F07's
/// `TIOCSTI` works there).
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

/// The running kernel's configuration (`/proc/config.gz`, else `/boot/config-RELEASE`), when
/// it can be read.
fn kernel_config() -> Option<String> {
    if let Ok(out) = std::process::Command::new("zcat")
        .arg("/proc/config.gz")
        .stderr(Stdio::null())
        .output()
    {
        if out.status.success() && !out.stdout.is_empty() {
            return Some(String::from_utf8_lossy(&out.stdout).into_owned());
        }
    }
    let release = sysctl("kernel/osrelease");
    std::fs::read_to_string(format!("/boot/config-{release}")).ok()
}

/// What the hardened profile must answer for one knob (see the test's comment for why).
struct Knob {
    name: &'static str,
    /// The errno names accepted (one, when the kernel's configuration could be read).
    expect: Vec<&'static str>,
}

/// F05: under the hardened profile every kernel-global knob fails. These calls are made in the
/// hardened profile only: with the privileged profile's capabilities some would reach the
/// host (the probe's arguments are chosen so that, past the permission check, they would fail or
/// change nothing, but they are never tried there).
///
/// Expected answers:
/// - EPERM from the capability check for init_module/finit_module (CAP_SYS_MODULE),
///   kexec_load and reboot (CAP_SYS_BOOT), swapon (CAP_SYS_ADMIN), clock_settime
///   (CAP_SYS_TIME), iopl (CAP_SYS_RAWIO), acct (CAP_SYS_PACCT), bpf (CAP_BPF/CAP_SYS_ADMIN;
///   for a socket filter only while kernel.unprivileged_bpf_disabled is set, as here);
/// - ENOSYS instead where the kernel is built without the call: on the test machines
///   CONFIG_MODULES, CONFIG_KEXEC and CONFIG_X86_IOPL_IOPERM are off, so init_module,
///   finit_module, kexec_load and iopl answer ENOSYS whatever the capabilities — they cannot
///   do anything there, and the expectation follows the running kernel's configuration;
/// - EACCES for perf_event_open: a CPU-wide event needs CAP_PERFMON while
///   kernel.perf_event_paranoid > 0, and perf reports that as EACCES.
///
/// Any other answer (EINVAL, ENOENT, ENOEXEC, success) would mean the call got past the
/// permission check.
#[test]
fn kernel_global_knobs_fail_under_the_hardened_profile() {
    let scratch = Scratch::idmappable();
    install_probe(&scratch);
    let config = kernel_config();
    // EPERM when the kernel has the call, ENOSYS when it is built without (both when the
    // configuration cannot be read).
    let denied_if = |option: &str| -> Vec<&'static str> {
        match &config {
            Some(text) => {
                let on = text.lines().any(|l| {
                    l.strip_prefix(option)
                        .is_some_and(|rest| rest == "=y" || rest == "=m")
                });
                vec![if on { "EPERM" } else { "ENOSYS" }]
            }
            None => vec!["EPERM", "ENOSYS"],
        }
    };
    let unprivileged_bpf_disabled: u32 = sysctl("kernel/unprivileged_bpf_disabled")
        .parse()
        .expect("unprivileged_bpf_disabled");
    let paranoid: i32 = sysctl("kernel/perf_event_paranoid")
        .parse()
        .expect("perf_event_paranoid");
    assert!(
        unprivileged_bpf_disabled != 0 && paranoid > 0,
        "premise: this machine forbids unprivileged bpf (now {unprivileged_bpf_disabled}) and \
         CPU-wide perf events (perf_event_paranoid {paranoid}); otherwise the kernel allows \
         both to anyone and the test would not say anything about furnace"
    );
    let mut knobs = vec![
        Knob {
            name: "init_module",
            expect: denied_if("CONFIG_MODULES"),
        },
        Knob {
            name: "finit_module",
            expect: denied_if("CONFIG_MODULES"),
        },
        Knob {
            name: "kexec_load",
            expect: denied_if("CONFIG_KEXEC"),
        },
        Knob {
            name: "reboot-cad-off",
            expect: vec!["EPERM"],
        },
        Knob {
            name: "swapon",
            expect: denied_if("CONFIG_SWAP"),
        },
        Knob {
            name: "clock_settime",
            expect: vec!["EPERM"],
        },
        Knob {
            name: "acct",
            expect: denied_if("CONFIG_BSD_PROCESS_ACCT"),
        },
        Knob {
            name: "bpf-socket-filter",
            expect: denied_if("CONFIG_BPF_SYSCALL"),
        },
        Knob {
            name: "bpf-kprobe",
            expect: denied_if("CONFIG_BPF_SYSCALL"),
        },
        Knob {
            name: "perf-cpu-wide",
            expect: vec!["EACCES"],
        },
    ];
    if cfg!(target_arch = "x86_64") {
        knobs.push(Knob {
            name: "iopl",
            expect: denied_if("CONFIG_X86_IOPL_IOPERM"),
        });
    }
    // Each layer alone holds: the capabilities with the seccomp filter off (the errnos above),
    // and the filter, which answers EPERM for every one of these calls.
    let mut wrong = Vec::new();
    for filtered in [false, true] {
        let c = Container::builder(scratch.root())
            .hardened(true)
            .seccomp(if filtered {
                furnace_core::Seccomp::Default
            } else {
                furnace_core::Seccomp::Unconfined
            })
            .start()
            .expect("start");
        for knob in &knobs {
            let expect: &[&str] = if filtered { &["EPERM"] } else { &knob.expect };
            let answer = probe_answer(&c, &["knob", knob.name]);
            if !answer.errno().is_some_and(|e| expect.contains(&e)) {
                wrong.push(format!(
                    "{} (filter: {filtered}): {answer:?}, expected {expect:?}",
                    knob.name
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "kernel-global knobs under the hardened profile:\n  {}",
        wrong.join("\n  ")
    );
}

/// E05: the hardened profile masks files with the container's own `/dev/null`. While PID 1
/// waits just before its first mask, the host replaces that `/dev/null` with a symlink to
/// `/proc/sys/kernel/core_pattern` (the CVE-2025-31133 shape: a mask source turned into a
/// door). The mask step must notice that its source is no longer the 1:3 device and fail the
/// start, rather than bind-mount the link's target writable into the container.
#[test]
fn a_mask_source_swapped_during_set_up_is_refused() {
    // With the default user namespace the swap is made from inside it (`nsenter --user`), as
    // the host's root is no one in the container's /dev; without one, as the host's root.
    for own_userns in [true, false] {
        mask_source_swap(own_userns);
    }
}

fn mask_source_swap(own_userns: bool) {
    let scratch = Scratch::exclusive_idmappable();
    let root = scratch.root();
    let leaks = LeakCheck::snapshot();
    let mut args = vec!["--hardened"];
    if !own_userns {
        args.push("--private-users-off");
    }
    let mut child = Command::new(HELPER)
        .arg("run-with")
        .arg(&root)
        .args(&args)
        .args(["--", "/bin/true"])
        .env("FURNACE_FAILPOINT", "before-mask:delay")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start furnace-test-helper");
    // Find the container's PID 1 (a child of the helper) and wait until its /dev is there.
    let helper = child.id();
    let deadline = Instant::now() + DEADLINE;
    let (init, null) = loop {
        let init = all_processes()
            .into_iter()
            .find(|p| p.ppid == helper && p.comm == "furnace-init");
        if let Some(init) = init {
            let null = in_root_of(init.pid, "/dev/null");
            if std::fs::symlink_metadata(&null).is_ok() {
                break (init.pid, null);
            }
        }
        assert!(Instant::now() < deadline, "PID 1 never populated /dev");
        std::thread::sleep(Duration::from_millis(5));
    };
    if own_userns {
        // In its own user namespace the container's /dev/null is the host's node bound in: a
        // process holding CAP_SYS_ADMIN over the container's namespaces (entered here, as PID
        // 1 is not dumpable and its root cannot be reached through /proc from inside) cannot
        // unmount (EBUSY), remove or replace it. The start then goes on and masks with the
        // real node.
        let tried = Command::new("nsenter")
            .args(["--user", "--mount", "--target", &init.to_string(), "--"])
            .args([
                "/bin/sh",
                "-c",
                "umount /dev/null || rm /dev/null || ln -sf /proc/sys/kernel/core_pattern \
                 /dev/null; echo; stat -c %t:%T /dev/null",
            ])
            .output()
            .expect("run the swap");
        let said = String::from_utf8_lossy(&tried.stderr);
        assert!(
            said.contains("can't unmount /dev/null") && said.contains("can't remove '/dev/null'"),
            "unmounting and removing /dev/null are refused: {tried:?}"
        );
        assert!(
            String::from_utf8_lossy(&tried.stdout).ends_with("1:3\n"),
            "/dev/null is still the 1:3 node: {tried:?}"
        );
        let status = wait_child(&mut child, "before-mask:delay");
        assert_eq!(
            status.code(),
            Some(0),
            "the start goes on and the command runs"
        );
        drop(child);
        let_init_reap();
        leaks.assert_clean();
        return;
    }
    std::fs::remove_file(&null).expect("remove the container's /dev/null");
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", &null).expect("plant the symlink");
    let status = wait_child(&mut child, "before-mask:delay");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    drop(child);
    assert_eq!(
        status.code(),
        Some(3),
        "the start must fail (own user namespace: {own_userns}); stderr: {stderr}"
    );
    assert!(
        stderr.contains("(mask /proc/") && stderr.contains("ENODEV"),
        "the failure names the mask step and its errno: {stderr}"
    );
    let_init_reap();
    leaks.assert_clean();
}
