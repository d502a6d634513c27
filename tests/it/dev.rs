//! `/dev` and devices: the standard filesystems and device nodes, `/dev` of the hardened profile
//! exactly as promised, pty exhaustion inside, loop devices made inside and their teardown.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use furnace_tests::probe::*;
use furnace_tests::*;
use rustix::pty::{openpt, OpenptFlags};

/// E03: the standard filesystems (`/proc`, `/dev` and its `pts`, `shm`, `mqueue`, a read-only
/// `/sys`, `/run`) and device nodes are there, with the promised modes.
#[test]
fn standard_filesystems_and_devices_are_there() {
    let scratch = Scratch::new();
    let c = start(&scratch.root());
    let info = sh_ok(&c, "cat /proc/self/mountinfo");
    let table = furnace_sys::mountinfo::parse(&info);
    // (type, options): the per-mount and the per-superblock options together, as
    // `/proc/mounts` shows them.
    let find = |point: &str| -> (String, String) {
        let m = table
            .iter()
            .find(|m| m.mount_point == Path::new(point))
            .unwrap_or_else(|| panic!("{point} is mounted:\n{info}"));
        let options = [&m.mount_options[..], &m.super_options[..]].concat();
        (m.fs_type.clone(), options.join(","))
    };
    let has = |opts: &str, opt: &str| opts.split(',').any(|o| o == opt);
    let (fstype, _) = find("/proc");
    assert_eq!(fstype, "proc");
    let (fstype, opts) = find("/dev");
    assert_eq!(fstype, "tmpfs");
    assert!(has(&opts, "nosuid") && has(&opts, "mode=755"), "{opts}");
    let (fstype, opts) = find("/dev/pts");
    assert_eq!(fstype, "devpts");
    assert!(
        has(&opts, "ptmxmode=666") && has(&opts, "mode=620") && has(&opts, "gid=5"),
        "{opts}"
    );
    // tmpfs shows its mode only when it is not the default 1777: stat checks those below.
    assert_eq!(find("/dev/shm").0, "tmpfs");
    assert_eq!(find("/dev/mqueue").0, "mqueue");
    let (fstype, opts) = find("/sys");
    assert_eq!(fstype, "sysfs");
    assert!(has(&opts, "ro"), "{opts}");
    assert_eq!(find("/run").0, "tmpfs");
    sh_ok(
        &c,
        "for d in null zero full tty random urandom; do test -c /dev/$d || exit 1; done; \
         test -c /dev/loop-control && test -b /dev/loop0 && \
         test -L /dev/fd && test -L /dev/stdin && test -L /dev/ptmx && \
         test \"$(stat -c %a /dev/null)\" = 666 && test \"$(stat -c %a /dev/shm)\" = 1777 && \
         test \"$(stat -c %a /run)\" = 1777 && test \"$(stat -c %a /dev)\" = 755",
    );
    assert_eq!(sh_ok(&c, "head -c 16 /dev/urandom | wc -c").trim(), "16");
    assert_eq!(
        sh_ok(&c, "echo via-dev-stdout > /dev/stdout"),
        "via-dev-stdout\n"
    );
    let (status, _, _) = sh(&c, "echo x > /dev/full");
    assert!(!status.success(), "/dev/full is full");
    let (status, _, _) = sh(&c, "touch /sys/furnace-test 2>/dev/null");
    assert!(!status.success(), "/sys is read-only");
}

/// E04: in the hardened profile, `/dev` holds exactly the promised nodes and links: no loop
/// device, no `loop-control`.
#[test]
fn dev_has_exactly_the_promised_nodes() {
    let scratch = Scratch::idmappable();
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

/// The names in the host's `/dev/pts`.
fn host_pts_entries() -> BTreeSet<String> {
    fs::read_dir("/dev/pts")
        .expect("list /dev/pts")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// The upper bound of ptys opened inside before giving up (the kernel's default `pty.max` is
/// 4096, of which `pty.reserve` are kept for the host's devpts).
const PTY_BOUND: u32 = 5000;

/// H04: opening /dev/ptmx inside until it fails ends with ENOSPC inside; the host can still
/// open a pty meanwhile, and after the drop the machine's pty count and the host's /dev/pts
/// are as before.
#[test]
fn pty_exhaustion_inside_leaves_the_host_its_ptys() {
    // Exclusive: ptys are a machine-wide resource.
    let scratch = Scratch::exclusive_idmappable();
    install_probe(&scratch);
    let pts_before = host_pts_entries();
    let nr = || -> u32 { sysctl("kernel/pty/nr").parse().expect("pty.nr") };
    let nr_before = nr();
    let max: u32 = sysctl("kernel/pty/max").parse().expect("pty.max");
    let reserve: u32 = sysctl("kernel/pty/reserve").parse().expect("pty.reserve");
    for hardened in [false, true] {
        let p = profile(hardened);
        let c = start_profile(&scratch.root(), hardened);
        let mut holder = c
            .command(PROBE)
            .args(["ptmx-exhaust", &PTY_BOUND.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the pty eater");
        let stdout = holder.stdout.take().expect("piped stdout");
        let line = within(DEADLINE, "the pty eater's answer", move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            line
        });
        let opened: u32 = line
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{p}: not an answer: {line:?}"));
        assert_eq!(
            Answer::parse(&line),
            Answer::Err("ENOSPC".into()),
            "{p}: opening ptys inside must end with ENOSPC below {PTY_BOUND}: {line:?}"
        );
        assert!(
            opened >= 1 && opened <= max - reserve,
            "{p}: {opened} ptys inside, expected between 1 and pty.max - pty.reserve = {}",
            max - reserve
        );
        assert!(
            nr() >= opened,
            "{p}: premise: pty.nr counts the ptys held inside"
        );
        // While the container holds every pty it may have, the host still gets one.
        let host_pty = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC);
        let host_pty = host_pty.unwrap_or_else(|e| {
            panic!("{p}: the host cannot open a pty while the container holds {opened}: {e}")
        });
        drop(host_pty);
        drop(holder.stdin.take());
        let status = within(DEADLINE, "the pty eater exits", move || holder.wait());
        assert!(status.expect("wait").success(), "{p}: the pty eater failed");
        drop(c);
        let settled = settle(
            DEADLINE,
            || (nr(), host_pts_entries()),
            |(n, pts)| *n == nr_before && *pts == pts_before,
        );
        assert!(
            settled.is_ok(),
            "{p}: after the drop: pty.nr and /dev/pts {:?}, before: {nr_before} and \
             {pts_before:?}",
            settled.unwrap_or_else(|v| v)
        );
    }
}

/// D06: `mount -o loop` inside works (privileged profile) and leaves no loop device.
#[test]
fn loop_mount_inside_works_and_leaves_no_loop_device() {
    let scratch = Scratch::new();
    let image_name = format!("{}.img", unique_name("loop"));
    let c = start(&scratch.root());
    let out = sh_ok(
        &c,
        &format!(
            "set -e; dd if=/dev/zero of=/tmp/{image_name} bs=1M count=8 2>/dev/null; \
             mkfs.ext4 -q /tmp/{image_name}; mkdir -p /mnt/loop; \
             mount -o loop /tmp/{image_name} /mnt/loop; \
             echo on-the-loop > /mnt/loop/file; sync; cat /mnt/loop/file; \
             grep -q ' /mnt/loop ext4 ' /proc/mounts; umount /mnt/loop"
        ),
    );
    assert_eq!(out, "on-the-loop\n");
    drop(c);
    wait_until(DEADLINE, "the loop device is detached", || {
        !attached_loop_devices()
            .iter()
            .any(|(_, file)| file.contains(&image_name))
    });
}

/// D06: a loop device left mounted inside is detached at teardown.
#[test]
fn loop_device_left_mounted_inside_is_detached_at_teardown() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let image_name = format!("{}.img", unique_name("loop"));
    let c = start(&scratch.root());
    sh_ok(
        &c,
        &format!(
            "set -e; dd if=/dev/zero of=/tmp/{image_name} bs=1M count=8 2>/dev/null; \
             mkfs.ext4 -q /tmp/{image_name}; mkdir -p /mnt/loop; \
             mount -o loop /tmp/{image_name} /mnt/loop; echo x > /mnt/loop/file"
        ),
    );
    assert!(
        attached_loop_devices()
            .iter()
            .any(|(_, file)| file.contains(&image_name)),
        "attached while mounted inside: {:?}",
        attached_loop_devices()
    );
    drop(c);
    leaks.assert_clean();
}

/// D06: loop devices and mounts left inside (under `/tmp`, `/dev/shm`, `/run`) vanish with the
/// container.
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

/// Issue 15: a loop device attached inside with `losetup -f FILE` — no autoclear, nothing
/// mounted, so nothing of the kernel's detaches it — is detached when the container ends;
/// one the host attached meanwhile, to a file of its own, stays.
#[test]
fn a_loop_device_attached_inside_is_detached_at_teardown() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let image_name = format!("{}.img", unique_name("losetup"));
    let attached = |name: &str| {
        attached_loop_devices()
            .iter()
            .any(|(_, file)| file.contains(name))
    };
    let c = start(&scratch.root());
    sh_ok(
        &c,
        &format!(
            "set -e; dd if=/dev/zero of=/tmp/{image_name} bs=1M count=4 2>/dev/null; \
             losetup -f /tmp/{image_name}"
        ),
    );
    assert!(attached(&image_name), "{:?}", attached_loop_devices());
    // The host's own, attached while the container runs: not the container's.
    let host_file = scratch
        .dir()
        .join(format!("{}.img", unique_name("host-loop")));
    std::fs::write(&host_file, vec![0u8; 1 << 20]).expect("write the host's image");
    let host = HostLoop::attach(&host_file);
    drop(c);
    wait_until(
        Duration::from_secs(5),
        "the loop device attached inside is detached",
        || !attached(&image_name),
    );
    assert!(
        attached(&host_file.to_string_lossy()),
        "the host's loop device was detached: {:?}",
        attached_loop_devices()
    );
    drop(host);
    leaks.assert_clean();
}

/// A loop device the test attaches on the host (`losetup -f --show`), detached on drop.
struct HostLoop(String);

impl HostLoop {
    fn attach(file: &std::path::Path) -> HostLoop {
        let out = std::process::Command::new("losetup")
            .args(["-f", "--show"])
            .arg(file)
            .output()
            .expect("run losetup");
        assert!(out.status.success(), "losetup: {out:?}");
        HostLoop(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

impl Drop for HostLoop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup")
            .args(["-d", &self.0])
            .status();
    }
}

/// Issue 15: a detached container stopped through its registry (another handle, as `furnace
/// stop` does) detaches the loop device it attached too.
#[test]
fn a_detached_container_stopped_from_elsewhere_detaches_its_loop_device() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let image_name = format!("{}.img", unique_name("detached-losetup"));
    let state = TempDir::new("dev-registry");
    let registry = furnace_core::Registry::at(state.path());
    let c = furnace_core::Container::builder(scratch.root())
        .name("dev-loop")
        .registry(registry.clone())
        .start()
        .expect("start");
    sh_ok(
        &c,
        &format!(
            "set -e; dd if=/dev/zero of=/tmp/{image_name} bs=1M count=4 2>/dev/null; \
             losetup -f /tmp/{image_name}"
        ),
    );
    let attached = || {
        attached_loop_devices()
            .iter()
            .any(|(_, file)| file.contains(&image_name))
    };
    assert!(attached(), "{:?}", attached_loop_devices());
    drop(c);
    assert!(registry.stop("dev-loop").expect("stop"), "it was running");
    wait_until(
        Duration::from_secs(5),
        "the loop device attached inside is detached",
        || !attached(),
    );
    leaks.assert_clean();
}

/// Opens `/tmp/kmsg`, a node for `/dev/kmsg` (1:11) made inside, for reading and for writing
/// (opening it does nothing by itself), and furnace's own nodes: one word per attempt.
const OPEN_NODES: &str = "mknod /tmp/kmsg c 1 11 || exit 9
    (true < /tmp/kmsg) 2>/dev/null && echo read || echo no-read
    (true > /tmp/kmsg) 2>/dev/null && echo write || echo no-write
    echo x > /dev/null && head -c 4 /dev/urandom | wc -c | tr -d ' ' && exec 3<>/dev/ptmx && echo ptmx";

/// Device rules: with none, a device node made inside opens; with an empty list it can be made
/// but not opened, with a read rule only read; furnace's own `/dev` keeps working whatever the
/// rules; the rules are in the container's own `devices` cgroup, which goes at teardown.
#[test]
fn device_rules_decide_which_nodes_open_and_furnaces_own_keep_working() {
    use furnace_core::{Container, DeviceAccess, DeviceKind, DeviceRule};
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let outcome = |rules: Option<Vec<DeviceRule>>| {
        let mut builder = Container::builder(scratch.root());
        if let Some(rules) = rules {
            builder.device_rules(rules);
        }
        let c = builder.start().expect("start");
        let out = sh_ok(&c, OPEN_NODES);
        let devices = c
            .cgroup_paths()
            .into_iter()
            .find(|p| p.starts_with("/sys/fs/cgroup/devices"));
        let list = devices.map(|d| std::fs::read_to_string(d.join("devices.list")).unwrap());
        sh_ok(&c, "rm /tmp/kmsg");
        (out.split_whitespace().collect::<Vec<_>>().join(" "), list)
    };
    let (free, list) = outcome(None);
    assert_eq!(free, "read write 4 ptmx");
    assert_eq!(list, None, "no devices cgroup without rules");
    let (none, list) = outcome(Some(Vec::new()));
    assert_eq!(none, "no-read no-write 4 ptmx");
    let list = list.expect("a devices cgroup of the container's own");
    for line in ["c *:* m", "b *:* m", "c 1:3 rwm", "c 136:* rwm"] {
        assert!(list.lines().any(|l| l == line), "{line} in {list}");
    }
    assert!(!list.contains("a *:* rwm"), "{list}");
    let read = DeviceRule::allow(DeviceKind::Char, Some(1), Some(11), DeviceAccess::READ);
    let (read_only, _) = outcome(Some(vec![read]));
    assert_eq!(read_only, "read no-write 4 ptmx");
    leaks.assert_clean();
}

/// A device rule the kernel cannot take is an input error before anything is made.
#[test]
fn bad_device_rules_are_refused_before_anything_is_made() {
    use furnace_core::{Container, DeviceAccess, DeviceKind, DeviceRule, Error};
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let partial = DeviceRule::deny(DeviceKind::All, None, None, DeviceAccess::READ);
    let e = Container::builder(scratch.root())
        .device_rules([partial])
        .start()
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidLimit { what, .. } if *what == "device rule"),
        "{e:?}"
    );
    leaks.assert_clean();
}

/// Device nodes of the caller's (`device_node`): made in `/dev` with their numbers, mode and
/// owner, directories on the way made; names of furnace's own, paths outside `/dev` and the
/// hardened profile are input errors before anything is made.
#[test]
fn device_nodes_are_made_as_asked_and_bad_ones_refused() {
    use furnace_core::{Container, DeviceKind, DeviceNode, Error};
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    {
        let kmsg = DeviceNode::new("/dev/extra/kmsg", DeviceKind::Char, 1, 11)
            .mode(0o640)
            .owner(0, 5);
        let c = Container::builder(scratch.root())
            .device_node(kmsg)
            .start()
            .expect("start");
        let out = sh_ok(
            &c,
            "stat -c '%t:%T %a %u:%g %F' /dev/extra/kmsg; stat -c %a /dev/extra; \
             (true < /dev/extra/kmsg) && echo opened",
        );
        assert_eq!(out, "1:b 640 0:5 character special file\n755\nopened\n");
    }
    let refused = |node: DeviceNode, hardened: bool| {
        let e = Container::builder(scratch.root())
            .device_node(node)
            .hardened(hardened)
            .start()
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidPath { what, .. } if *what == "device node"),
            "{e:?}"
        );
        e.to_string()
    };
    let node = |path: &str| DeviceNode::new(path, DeviceKind::Char, 1, 11);
    assert!(refused(node("/dev/null"), false).contains("furnace's own /dev"));
    assert!(refused(node("/dev/pts/9"), false).contains("furnace's own /dev"));
    assert!(refused(node("/tmp/kmsg"), false).contains("not under /dev"));
    assert!(refused(node("/dev/../etc/x"), false).contains(".."));
    assert!(refused(node("/dev/kmsg"), true).contains("privileged profile"));
    let all = DeviceNode::new("/dev/all", DeviceKind::All, 1, 11);
    assert!(refused(all, false).contains("neither a character nor a block"));
    leaks.assert_clean();
}

/// The cgroup v2 device filter (`furnace_sys::bpf`, what device rules become on a host with
/// cgroup v2 alone), loaded into this kernel and attached to a v2 cgroup of the test's own in
/// the hybrid host's `unified` hierarchy: a shell moved into it may open what the rules allow
/// and nothing else, and the last matching rule decides.
#[test]
fn the_v2_device_filter_decides_opens_in_the_kernel() {
    use furnace_sys::bpf::*;
    let _scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let unified = furnace_sys::cgroup::v2_mount_point()
        .unwrap()
        .expect("THIS TEST NEEDS a cgroup v2 hierarchy (the hybrid host's unified/)");
    let own = furnace_sys::cgroup::own_cgroups()
        .unwrap()
        .into_iter()
        .find(|c| c.is_v2())
        .expect("this process's v2 cgroup");
    let parent = unified.join(own.path.strip_prefix("/").unwrap());
    let dir = parent.join(unique_name("bpf"));
    fs::create_dir(&dir).unwrap();
    let _remove = furnace_tests::cgroups::RemoveOnDrop(vec![dir.clone()]);
    let char_rule = |allow, major, minor, access| DeviceFilterRule {
        allow,
        kind: Some(DEVICE_CHAR),
        major: Some(major),
        minor,
        access,
    };
    let rw = ACCESS_READ | ACCESS_WRITE;
    let program = device_filter(&[
        // Everything of major 1 readable and writable, but /dev/zero (1:5) not readable.
        char_rule(true, 1, None, rw),
        char_rule(false, 1, Some(5), ACCESS_READ),
    ]);
    let loaded = load_device_filter(&program).expect("load the filter");
    let cgroup = furnace_sys::cgroup::CgroupDir::open(&dir).unwrap();
    attach_device_filter(cgroup.as_fd(), std::os::fd::AsFd::as_fd(&loaded)).expect("attach");
    let script = format!(
        "echo $$ > {}/cgroup.procs || exit 9
         for t in '< /dev/null' '> /dev/null' '< /dev/zero' '> /dev/zero' '< /dev/ptmx'; do
             eval \"true $t\" 2>/dev/null && echo \"ok $t\" || echo \"denied $t\"
         done",
        dir.display()
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok < /dev/null\nok > /dev/null\ndenied < /dev/zero\nok > /dev/zero\ndenied < /dev/ptmx\n"
    );
    drop((cgroup, loaded));
    wait_until(DEADLINE, "the test cgroup to empty", || {
        fs::read_to_string(dir.join("cgroup.procs")).is_ok_and(|p| p.trim().is_empty())
    });
    drop(_remove);
    leaks.assert_clean();
}
