//! The root and the mounts furnace makes: a root that is or is not a mount point, writes
//! reaching the root, propagation from the host and never back to it, the standard mounts (on
//! symlinks, their size limits, attached to what was verified), and host mounts that a running
//! container must not pin.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use furnace_core::{Container, Error};
use furnace_sys::mount::{set_propagation, Propagation};
use furnace_sys::mountinfo::MountInfo;
use furnace_tests::hostside::{file_name, relative_to_outside, symlink_over, HostMount, Outside};
use furnace_tests::proc::{shmem_kib, SHMEM_SLACK_KIB};
use furnace_tests::*;

/// A root that is a mount point (the scratch overlay) works, and nothing is written to it.
#[test]
fn root_that_is_a_mount_point_works() {
    let scratch = Scratch::new();
    assert!(furnace_sys::mountinfo::is_mount_point(scratch.root()).expect("check"));
    let c = start(&scratch.root());
    assert_eq!(
        sh_ok(&c, "cat /etc/os-release | grep ^ID="),
        "ID=furnace-test\n"
    );
    drop(c);
    assert!(
        scratch.upper_entries().is_empty(),
        "{:?}",
        scratch.upper_entries()
    );
}

/// A root that is not a mount point works, and keeps no trace (no `old_root`, no self-bind
/// left).
#[test]
fn root_that_is_not_a_mount_point_works_and_keeps_no_trace() {
    let scratch = Scratch::new();
    let plain = PlainRoot::new(&scratch);
    let before = plain.listing();
    let c = start(&plain.root);
    let ps = run(&c, "ps", &["-e"]);
    assert!(ps.status.success());
    assert!(ps_lines(&ps.stdout).len() <= 3, "{}", ps.stdout);
    sh_ok(&c, "echo written > /root/note");
    assert_eq!(
        std::fs::read_to_string(plain.root.join("root/note")).expect("read"),
        "written\n"
    );
    drop(c);
    std::fs::remove_file(plain.root.join("root/note")).expect("rm");
    assert_eq!(
        plain.listing(),
        before,
        "no old_root or other trace in the tree"
    );
    assert!(
        !furnace_sys::mountinfo::is_mount_point(&plain.root).expect("check"),
        "the self-bind did not stay on the host"
    );
}

/// A file written inside lands in the root.
#[test]
fn file_written_inside_is_visible_outside() {
    let scratch = Scratch::new();
    let c = start(&scratch.root());
    sh_ok(&c, "printf 'furnace\\nwas here\\n' > /root/hello.txt");
    assert_eq!(
        std::fs::read_to_string(scratch.host_path("/root/hello.txt")).expect("read"),
        "furnace\nwas here\n"
    );
    assert!(
        scratch.upper().join("root/hello.txt").is_file(),
        "in the upper dir"
    );
}

/// D03: a mount made on the host under a shared root after the start is seen inside, and so is
/// its unmount.
#[test]
fn mount_made_on_the_host_after_start_is_visible_inside() {
    use furnace_sys::mount::{self, MountFlags, UnmountFlags};
    let scratch = Scratch::new();
    set_propagation(scratch.root(), Propagation::Shared, false).expect("make-shared");
    let c = start(&scratch.root());
    assert_eq!(sh_ok(&c, "ls -A /mnt"), "");
    let target = scratch.host_path("/mnt");
    mount::mount(
        Some("tmpfs"),
        &target,
        "tmpfs",
        MountFlags::empty(),
        Some("size=1m"),
    )
    .expect("mount a tmpfs on the host");
    std::fs::write(target.join("late"), "mounted later\n").expect("write");
    let seen = sh_ok(&c, "cat /mnt/late");
    // Another test's look into this container (through `/proc/PID/root`) can hold the copy
    // busy for a moment: retry until the deadline rather than fail on one EBUSY.
    wait_until(DEADLINE, "unmount on the host", || {
        match mount::umount2(&target, UnmountFlags::empty()) {
            Ok(()) => true,
            Err(e) if e.errno() == furnace_sys::Errno::BUSY => false,
            Err(e) => panic!("unmount on the host: {e}"),
        }
    });
    assert_eq!(seen, "mounted later\n");
    wait_until(DEADLINE, "the unmount reaches the container", || {
        sh_ok(&c, "ls -A /mnt").is_empty()
    });
}

/// D01, D02: mounts made inside stay inside, even over a shared root; inside, only the mounts
/// of the container are seen.
#[test]
fn mounts_made_inside_stay_inside() {
    let scratch = Scratch::exclusive();
    // A shared root is the hard case: only slave propagation keeps mounts from flowing back.
    set_propagation(scratch.root(), Propagation::Shared, false).expect("make-shared");
    let leaks = LeakCheck::snapshot();
    let c = start(&scratch.root());
    sh_ok(&c, "mount -t tmpfs inner /mnt && echo x > /mnt/inner-file");
    assert!(!scratch.host_path("/mnt/inner-file").exists());
    assert!(
        mount_points_under(scratch.dir()).len() == 1,
        "only the overlay on the host"
    );
    // Inside, no host mount is reachable: the old root is gone.
    let info = sh_ok(&c, "cat /proc/self/mountinfo");
    let table = furnace_sys::mountinfo::parse(&info);
    let points: Vec<&PathBuf> = table.iter().map(|m| &m.mount_point).collect();
    assert_eq!(
        points
            .iter()
            .filter(|p| p.as_path() == Path::new("/"))
            .count(),
        1,
        "one root, the old one detached:\n{info}"
    );
    let root_mount = table
        .iter()
        .find(|m| m.mount_point == Path::new("/"))
        .expect("a root line");
    assert!(
        root_mount.fs_type == "overlay",
        "the root is the scratch overlay, nothing stacked on it: {root_mount:?}"
    );
    assert_eq!(
        sh_ok(&c, "grep ^ID= /etc/os-release"),
        "ID=furnace-test\n",
        "commands see the image"
    );
    assert!(
        !points
            .iter()
            .any(|p| p.to_string_lossy().contains("furnace-test-")),
        "no host path in the container's mount table:\n{info}"
    );
    drop(c);
    leaks.assert_clean();
}

/// `/var/lock` and `/run/lock` exist, on the `/run` tmpfs.
#[test]
fn var_lock_and_run_lock_exist() {
    let scratch = Scratch::new();
    let c = start(&scratch.root());
    sh_ok(
        &c,
        "test -d /run/lock && test -d /var/lock && touch /var/lock/x && test -e /run/lock/x",
    );
    assert!(
        !scratch.host_path("/run/lock/x").exists(),
        "/run is a tmpfs"
    );
}

/// D08: a container with its own network writes nothing into the root.
#[test]
fn isolated_network_modifies_no_file_of_the_root() {
    let scratch = Scratch::new();
    let c = start_isolated(&scratch.root());
    for script in [
        "ps aux",
        "ls -la / /dev /run /tmp /etc",
        "cat /etc/passwd /etc/resolv.conf",
        "ip address list",
        "hostname",
        "id",
        "cat /proc/self/mountinfo",
    ] {
        sh_ok(&c, &format!("{script} >/dev/null"));
    }
    c.stop().expect("stop");
    assert_eq!(
        scratch.upper_entries(),
        Vec::<PathBuf>::new(),
        "nothing written to the root"
    );
}

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

/// A06, A07, A08: `/proc`, `/sys`, `/dev` or `/run` symlinked out of the root (absolute or
/// relative) fail the start, naming the directory, and touch nothing outside.
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

/// The size of furnace's `/dev`, `/dev/shm` and `/run` tmpfs mounts (`size=65536k`).
const TMPFS_CAP: u64 = 64 << 20;

/// E07: 100 MiB into each of the three tmpfs mounts stops at 64 MiB with ENOSPC; the host sees
/// the memory taken (Shmem), and gets it back after the drop.
#[test]
fn tmpfs_mounts_stop_at_64_mib_and_give_the_memory_back() {
    // Exclusive: Shmem is the whole machine's.
    let scratch = Scratch::exclusive_idmappable();
    for hardened in [false, true] {
        let p = profile(hardened);
        let before = shmem_kib();
        let c = start_profile(&scratch.root(), hardened);
        for dir in ["/dev/shm", "/run", "/dev"] {
            let file = format!("{dir}/furnace-fill");
            let (status, _, stderr) = sh(&c, &format!("dd if=/dev/zero of={file} bs=1M count=100"));
            assert!(
                !status.success() && stderr.contains("No space left on device"),
                "{p}: 100 MiB into {dir} must stop with ENOSPC: {status}\n{stderr}"
            );
            let size: u64 = sh_ok(&c, &format!("stat -c %s {file}"))
                .trim()
                .parse()
                .expect("stat -c %s prints a number");
            assert!(
                (TMPFS_CAP - (2 << 20)..=TMPFS_CAP).contains(&size),
                "{p}: {file} stopped at {size} bytes, not near the 64 MiB cap"
            );
        }
        let filled = shmem_kib();
        drop(c);
        let after = settle(DEADLINE, shmem_kib, |now| *now <= before + SHMEM_SLACK_KIB);
        let after = after.unwrap_or_else(|now| {
            panic!(
                "{p}: host Shmem did not return to within {SHMEM_SLACK_KIB} kB of {before} kB \
                 after the container was dropped (filled: {filled} kB, {DEADLINE:?} later: \
                 {now} kB)"
            )
        });
        // Premise: the host accounted for what the container wrote, and that much came back
        // (else the return to the baseline would prove nothing). Measured against `after`, not
        // `before`: memory an earlier test still had being freed could inflate `before`.
        assert!(
            filled >= after + 3 * 62 * 1024,
            "{p}: host Shmem went from {filled} kB (filled) to {after} kB only: the ~192 MiB \
             written inside were not accounted for or not given back"
        );
    }
}

/// D01: nothing propagates out of a root in an rshared host tree: neither binds nor mounts made
/// inside, and no mount inside is shared.
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
    let shared_on_host = mounts()
        .into_iter()
        .filter(|m| m.mount_point.starts_with(tree.path()))
        .all(|m| m.shared().is_some());
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
        !mounts()
            .iter()
            .any(|m| m.source.to_string_lossy().contains("furnace-inner")),
        "no inner tmpfs on the host"
    );
    let inside = mounts_of(c.init_pid());
    let shared: Vec<&MountInfo> = inside.iter().filter(|m| m.shared().is_some()).collect();
    assert!(shared.is_empty(), "no mount inside is shared: {shared:#?}");
    assert!(
        inside
            .iter()
            .any(|m| m.mount_point == Path::new("/mnt/t") && m.source == "furnace-inner"),
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

/// D04: host mounts, made before or after the start, unmount (without `MNT_DETACH`) while a
/// container runs, and their loop devices detach.
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

/// Regression (issue 10): the standard mounts attach to the mount point PID 1 opened and
/// verified. While PID 1 waits between checking `/sys` and mounting sysfs
/// (`FURNACE_FAILPOINT=mount-verified:/sys:delay`, in a helper), the host swaps the root's
/// `sys` directory for a symlink `sys -> etc`; afterwards `/etc/passwd` inside is still the
/// image's (sysfs did not land on `/etc`). The pattern of E05's test.
#[test]
fn standard_mounts_attach_to_the_verified_target() {
    let scratch = Scratch::exclusive();
    // overlayfs moves only directories that are wholly in its upper layer: replace the image's
    // `/sys` with such a one (empty, like the image's), so that the host can move it aside.
    let sys = scratch.host_path("/sys");
    let mode = std::fs::metadata(&sys)
        .expect("stat /sys")
        .permissions()
        .mode();
    std::fs::remove_dir(&sys).expect("remove the image's /sys from the view");
    std::fs::create_dir(&sys).expect("make /sys in the upper layer");
    std::fs::set_permissions(&sys, std::fs::Permissions::from_mode(mode)).expect("chmod /sys");
    let leaks = LeakCheck::snapshot();
    let mut helper = Command::new(crate::HELPER)
        .arg("run-with")
        .arg(scratch.root())
        .args(["--", "cat", "/etc/passwd"])
        .env("FURNACE_FAILPOINT", "mount-verified:/sys:delay")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start furnace-test-helper run-with");
    // PID 1 (a child of the helper) holds an fd on the root's `sys` once it has opened and
    // checked it (beneath the root, before the pivot: issue 11): it is then in the
    // failpoint's one-second delay.
    let owner = helper.id();
    let root_sys = scratch.root().join("sys");
    let holds_sys = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
            fds.flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == root_sys))
        })
    };
    wait_until(DEADLINE, "PID 1 has opened and checked /sys", || {
        all_processes()
            .iter()
            .any(|p| p.ppid == owner && p.comm == "furnace-init" && holds_sys(p.pid))
    });
    std::fs::rename(&sys, scratch.host_path("/sys.verified")).expect("move /sys aside");
    std::os::unix::fs::symlink("etc", &sys).expect("plant sys -> etc");
    let status = wait_child(&mut helper, "the start raced on /sys");
    let (mut stdout, mut stderr) = (Vec::new(), String::new());
    let _ = helper
        .stdout
        .take()
        .expect("piped")
        .read_to_end(&mut stdout);
    let _ = helper
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr);
    drop(helper);
    assert!(
        status.success(),
        "cat /etc/passwd inside: {status}: {stderr}"
    );
    let passwd = std::fs::read(image().join("etc/passwd")).expect("read the image's passwd");
    assert!(
        stdout == passwd,
        "/etc/passwd inside is the image's, not sysfs: {}",
        String::from_utf8_lossy(&stdout)
    );
    leaks.assert_clean();
}
