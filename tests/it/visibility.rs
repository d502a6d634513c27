//! What of the kernel a container sees beyond the profiles (issue 16's needs, for any caller):
//! masked and read-only paths, namespaced sysctls, `nodev`, a network namespace joined by
//! path, a cgroup at an exact path, the container's own view of the cgroup hierarchies, and
//! bind attributes (`nosuid`, `nodev`, `noexec`).

use std::path::{Path, PathBuf};

use furnace_core::{BindMount, Container, Error};
use furnace_tests::cgroups::RemoveOnDrop;
use furnace_tests::*;

#[test]
fn masked_and_read_only_paths_and_missing_ones_skipped() {
    let scratch = Scratch::new();
    let c = Container::builder(scratch.root())
        .mask_path("/etc/passwd")
        .mask_path("/home")
        .mask_path("/no/such/path")
        .read_only_path("/tmp")
        .read_only_path("/no/such/dir")
        .start()
        .expect("start with masks");
    assert_eq!(
        sh_ok(&c, "cat /etc/passwd | wc -c"),
        "0\n",
        "a masked file reads empty"
    );
    assert_eq!(
        sh_ok(&c, "ls -A /home | wc -l"),
        "0\n",
        "a masked directory is empty"
    );
    // The mask is /dev/null: what is written there goes nowhere.
    assert_eq!(
        sh_ok(&c, "echo x > /etc/passwd; cat /etc/passwd | wc -c"),
        "0\n"
    );
    let (status, _, err) = sh(&c, "touch /tmp/x");
    assert!(!status.success() && err.contains("Read-only"), "{err}");
    drop(c);
    // The files are untouched outside.
    assert!(std::fs::read_to_string(scratch.host_path("/etc/passwd"))
        .unwrap()
        .contains("root"));
    assert!(!scratch.host_path("/tmp/x").exists());
    let e = Container::builder(scratch.root())
        .mask_path("relative")
        .start()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidPath {
                what: "masked path",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn namespaced_sysctls_are_set_inside_and_others_refused() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap();
    let c = Container::builder(scratch.root())
        .isolate_network(true)
        .sysctl("net.ipv4.ping_group_range", "0 0")
        .sysctl("kernel.shmmni", "1000")
        .start()
        .expect("start with sysctls");
    assert_eq!(
        sh_ok(&c, "cat /proc/sys/net/ipv4/ping_group_range"),
        "0\t0\n"
    );
    assert_eq!(sh_ok(&c, "cat /proc/sys/kernel/shmmni"), "1000\n");
    drop(c);
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap(),
        host
    );
    for (key, needle) in [
        ("net.ipv4.ping_group_range", "network namespace"),
        ("kernel.core_pattern", "not namespaced"),
    ] {
        let e = Container::builder(scratch.root())
            .sysctl(key, "1")
            .start()
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidSysctl { .. }) && e.to_string().contains(needle),
            "{e}"
        );
    }
    leaks.assert_clean();
}

#[test]
fn nodev_turns_device_nodes_in_the_root_into_files_and_leaves_loop_devices_out() {
    let scratch = Scratch::new();
    let node = scratch.host_path("/opt-null");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &node,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .expect("mknod a 1:3 node in the root");
    let c = Container::builder(scratch.root())
        .nodev(true)
        .start()
        .expect("start with nodev");
    let (status, _, err) = sh(&c, "echo x > /opt-null");
    assert!(
        !status.success() && err.contains("Permission denied"),
        "{err}"
    );
    assert_eq!(
        sh_ok(&c, "echo x > /dev/null && echo ok"),
        "ok\n",
        "furnace's /dev works"
    );
    assert_eq!(
        sh_ok(&c, "ls /dev | grep -c loop || true"),
        "0\n",
        "no host loop device"
    );
    drop(c);
    let c = Container::builder(scratch.root())
        .start()
        .expect("start without");
    assert_eq!(
        sh_ok(&c, "echo x > /opt-null && echo ok"),
        "ok\n",
        "the contrast"
    );
}

/// A network namespace of the host's `ip netns`, deleted on drop.
struct NetNs(String);

impl NetNs {
    fn new() -> NetNs {
        let name = unique_name("netns");
        let ok = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .status();
        assert!(ok.is_ok_and(|s| s.success()), "ip netns add {name}");
        NetNs(name)
    }

    fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.0)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "delete", &self.0])
            .status();
    }
}

#[test]
fn a_network_namespace_is_joined_by_path() {
    use std::os::unix::fs::MetadataExt;
    let scratch = Scratch::new();
    let netns = NetNs::new();
    let inode = std::fs::metadata(netns.path()).unwrap().ino();
    let c = Container::builder(scratch.root())
        .join_network_namespace(netns.path())
        .sysctl("net.ipv4.ping_group_range", "0 0")
        .start()
        .expect("start in the namespace");
    let inside = sh_ok(&c, "readlink /proc/1/ns/net; readlink /proc/self/ns/net");
    let want = format!("net:[{inode}]\n");
    assert_eq!(inside, want.repeat(2), "PID 1 and commands are in it");
    drop(c);
    // The sysctl was set in that namespace.
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &netns.0,
            "cat",
            "/proc/sys/net/ipv4/ping_group_range",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\t0\n");
    let e = Container::builder(scratch.root())
        .join_network_namespace("/no/such/netns")
        .start()
        .unwrap_err();
    assert!(e.to_string().contains("network namespace"), "{e}");
}

#[test]
fn the_cgroup_is_made_at_the_exact_path_and_the_view_is_the_containers() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    // The parent, in every v1 hierarchy and the v2 one: the test's own, removed at the end.
    let parent_name = unique_name("cgparent");
    let mut made = RemoveOnDrop::default();
    for entry in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let dir = entry.path().join(&parent_name);
            std::fs::create_dir(&dir).unwrap();
            made.0.push(dir);
        }
    }
    let path = format!("/{parent_name}/web");
    let c = Container::builder(scratch.root())
        .cgroup_path(&path)
        .pids_max(64)
        .mount_cgroups(true)
        .start()
        .expect("start with a cgroup path");
    let pids = Path::new("/sys/fs/cgroup/pids")
        .join(&parent_name)
        .join("web");
    assert_eq!(
        std::fs::read_to_string(pids.join("pids.max")).unwrap(),
        "64\n"
    );
    let procs = std::fs::read_to_string(pids.join("cgroup.procs")).unwrap();
    assert!(
        procs.lines().any(|p| p == c.init_pid().to_string()),
        "{procs}"
    );
    // Inside: the hierarchies, each rooted at the container's cgroup, read-only.
    let listing = sh_ok(&c, "ls /sys/fs/cgroup");
    for name in ["memory", "pids", "unified"] {
        assert!(listing.lines().any(|l| l == name), "{listing}");
    }
    assert_eq!(sh_ok(&c, "cat /sys/fs/cgroup/pids/pids.max"), "64\n");
    let (status, _, err) = sh(&c, "mkdir /sys/fs/cgroup/pids/x");
    assert!(!status.success() && err.contains("Read-only"), "{err}");
    drop(c);
    assert!(!pids.exists(), "the cgroup is removed at teardown");
    drop(made);
    let e = Container::builder(scratch.root())
        .cgroup_path("/furnace-x")
        .start()
        .unwrap_err();
    assert!(e.to_string().contains("cgroup path"), "{e}");
    leaks.assert_clean();
}

#[test]
fn bind_attributes_nosuid_nodev_noexec() {
    let scratch = Scratch::new();
    let src = TempDir::new("bind-attrs");
    std::fs::copy(scratch.host_path("/bin/busybox"), src.join("busybox")).expect("copy busybox");
    let c = Container::builder(scratch.root())
        .mount(BindMount::new(src.path(), "/mnt/plain"))
        .mount(
            BindMount::new(src.path(), "/mnt/locked")
                .nosuid()
                .nodev()
                .noexec(),
        )
        .start()
        .expect("start with binds");
    assert_eq!(sh_ok(&c, "/mnt/plain/busybox true && echo ran"), "ran\n");
    let (status, _, err) = sh(&c, "/mnt/locked/busybox true");
    assert!(
        !status.success() && err.contains("Permission denied"),
        "{err}"
    );
    let options = sh_ok(&c, "grep ' /mnt/locked ' /proc/self/mountinfo");
    for flag in ["nosuid", "nodev", "noexec"] {
        assert!(options.contains(flag), "{flag}: {options}");
    }
}
