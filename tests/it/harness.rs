//! The fixtures themselves: the image is the test image, a scratch cleans up after a panicking
//! test, and the leak oracle reports what a test left behind — and only that, whatever else
//! comes and goes on the machine meanwhile.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use furnace_sys::mount::{MountFlags, UnmountFlags};
use furnace_tests::*;

/// The leak oracle reports a mount, a process and an fd the test left.
#[test]
fn leak_oracle_notices_leftovers() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let point = scratch.dir().join("leftover-mount");
    std::fs::create_dir(&point).expect("mkdir");
    furnace_sys::mount::mount(
        Some("tmpfs"),
        &point,
        "tmpfs",
        furnace_sys::mount::MountFlags::empty(),
        Some("size=1m"),
    )
    .expect("mount a tmpfs");
    let mut process = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .expect("spawn a host sleep");
    let file = std::fs::File::open("/dev/null").expect("open");
    let verdict = std::panic::catch_unwind(|| leaks.assert_clean());
    let message = match verdict {
        Ok(()) => String::new(),
        Err(panic) => panic.downcast_ref::<String>().cloned().unwrap_or_default(),
    };
    process.kill().expect("kill");
    process.wait().expect("wait");
    furnace_sys::mount::umount2(&point, furnace_sys::mount::UnmountFlags::empty())
        .expect("unmount");
    drop(file);
    assert!(
        message.contains("leftover-mount"),
        "the mount is reported: {message}"
    );
    assert!(
        message.contains("(sleep)"),
        "the process is reported: {message}"
    );
    assert!(
        message.contains("-> /dev/null"),
        "the fd is reported: {message}"
    );
    leaks.assert_clean();
}

/// A scratch is unmounted and removed after a panicking test.
#[test]
fn scratch_fixture_cleans_up_after_a_panicking_test() {
    let dir = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let scratch = Scratch::new();
        *dir.lock().expect("lock") = Some(scratch.dir().to_path_buf());
        let c = start(&scratch.root());
        sh_ok(&c, "echo x > /root/x");
        panic!("deliberate panic in a test body");
    }));
    assert!(result.is_err());
    let dir = dir.lock().expect("lock").clone().expect("recorded");
    assert!(!dir.exists(), "the scratch directory is gone");
    assert_eq!(
        mount_points_under(&dir),
        Vec::<PathBuf>::new(),
        "and its mount"
    );
}

/// The image has the programs the suite needs, and a `nobody` user.
#[test]
fn the_image_is_the_test_image() {
    let image = image();
    for program in [
        "sh",
        "bash",
        "ps",
        "cat",
        "dd",
        "sleep",
        "ip",
        "mount",
        "mkfs.ext4",
        "gzip",
    ] {
        let found = ["usr/bin", "usr/sbin", "bin", "sbin"]
            .iter()
            .any(|dir| image.join(dir).join(program).exists());
        assert!(found, "{program} is in the image");
    }
    let mut buf = String::new();
    std::fs::File::open(image.join("etc/passwd"))
        .expect("open")
        .read_to_string(&mut buf)
        .expect("read");
    assert!(buf.contains("nobody:x:65534"), "{buf}");
}

/// Something another user of the machine made while a test runs (podman's container storage,
/// `/run/netns`, a `runc:[2:INIT]` orphaned in a pid namespace of its own): a tmpfs on
/// `/run/furnace-foreign-PID` holding a bind of a network namespace, a `sleep` double-forked
/// away from the test process, and a `sleep` alone in new pid, network and mount namespaces
/// whose parent was killed. All of it is removed on drop, also when the test fails.
struct Foreign {
    dir: PathBuf,
    mounts: Vec<PathBuf>,
    /// `(pid, start time)`, so that a reused pid is never killed.
    processes: Vec<(u32, u64)>,
    /// The sleep alone in namespaces of its own.
    boxed: u32,
}

impl Foreign {
    fn new() -> Foreign {
        let dir = PathBuf::from(format!("/run/furnace-foreign-{}", std::process::id()));
        let mut foreign = Foreign {
            dir: dir.clone(),
            mounts: Vec::new(),
            processes: Vec::new(),
            boxed: 0,
        };
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        furnace_sys::mount::mount(
            Some("furnace-foreign"),
            &dir,
            "tmpfs",
            MountFlags::NOSUID | MountFlags::NODEV,
            Some("size=1m"),
        )
        .unwrap_or_else(|e| panic!("mount a tmpfs on {}: {e}", dir.display()));
        foreign.mounts.push(dir.clone());
        // A plain double fork: `setsid -f` forks the shell and exits, so the sleep's parent is
        // the machine's init, not this process.
        let plain = foreign.detached("plain", "exec sleep 1000");
        foreign.processes.push(plain);
        // The runc shape: the sleep is PID 1 of new namespaces, and the `unshare` above it is
        // killed, so that it is the top of its own ancestry.
        let unshare = foreign.detached(
            "unshare",
            "exec unshare --pid --net --mount --fork sleep 1000",
        );
        foreign.processes.push(unshare);
        let mut boxed = None;
        wait_until(DEADLINE, "the foreign unshare has forked its sleep", || {
            boxed = all_processes()
                .into_iter()
                .find(|p| p.ppid == unshare.0 && p.comm == "sleep" && !p.is_zombie());
            boxed.is_some()
        });
        let boxed = boxed.expect("found");
        foreign.processes.push((boxed.pid, boxed.start_time));
        foreign.boxed = boxed.pid;
        // The `unshare` was just started (its start time was checked above).
        sigkill(unshare.0).expect("SIGKILL the foreign unshare");
        wait_until(DEADLINE, "the boxed sleep is orphaned", || {
            proc_stat(boxed.pid).is_some_and(|p| p.ppid != unshare.0)
        });
        assert_ne!(
            ns_of(boxed.pid, "pid"),
            ns_of(std::process::id(), "pid"),
            "premise: the boxed sleep is in a pid namespace of its own"
        );
        // Like `ip netns add`: its network namespace bound on a file.
        let netns = dir.join("netns");
        std::fs::write(&netns, "").expect("create the netns mount point");
        furnace_sys::mount::bind(format!("/proc/{}/ns/net", boxed.pid), &netns)
            .unwrap_or_else(|e| panic!("bind the boxed sleep's net namespace: {e}"));
        foreign.mounts.push(netns);
        foreign
    }

    /// Runs `sh -c SCRIPT` double-forked (`setsid -f`), with its pid written to a file first;
    /// returns `(pid, start time)` of the shell (which `exec`s `SCRIPT`'s program).
    fn detached(&self, tag: &str, script: &str) -> (u32, u64) {
        let pid_file = self.dir.join(format!("{tag}.pid"));
        let status = Command::new("setsid")
            .arg("-f")
            .arg("sh")
            .arg("-c")
            .arg(format!("echo $$ > {}; {script}", pid_file.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run setsid");
        assert!(status.success(), "setsid -f: {status}");
        let mut pid = None;
        wait_until(
            DEADLINE,
            &format!("the foreign {tag} reports its pid"),
            || {
                pid = std::fs::read_to_string(&pid_file)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok());
                pid.is_some()
            },
        );
        let pid = pid.expect("read");
        let stat = proc_stat(pid).unwrap_or_else(|| panic!("the foreign {tag} ({pid}) is gone"));
        assert_ne!(
            stat.ppid,
            std::process::id(),
            "premise: the foreign {tag} is not a child of the test process"
        );
        (pid, stat.start_time)
    }

    fn pids(&self) -> Vec<u32> {
        self.processes.iter().map(|(pid, _)| *pid).collect()
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        for (pid, start) in &self.processes {
            if proc_stat(*pid).is_some_and(|p| p.start_time == *start) {
                // A process this guard started (same pid and start time).
                let _ = sigkill(*pid);
            }
        }
        for point in self.mounts.iter().rev() {
            let _ = furnace_sys::mount::umount2(point, UnmountFlags::DETACH);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The leak oracle counts only what the test made: a foreign tmpfs (with a network namespace
/// bound in it) and foreign processes (one double-forked away, one alone in namespaces of its
/// own) that appear while a check is active do not fail it; a mount under the test's scratch
/// and a process the test spawned and left are still reported, and nothing foreign is.
#[test]
fn leak_oracle_counts_only_what_the_test_made() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let foreign = Foreign::new();
    leaks.assert_clean();
    // Now a real leak of ours, beside the foreign things.
    let point = scratch.dir().join("ours-left-mounted");
    std::fs::create_dir(&point).expect("mkdir");
    furnace_sys::mount::mount(
        Some("tmpfs"),
        &point,
        "tmpfs",
        MountFlags::empty(),
        Some("size=1m"),
    )
    .expect("mount a tmpfs under the scratch");
    let mut ours = Command::new("sleep")
        .arg("1000")
        .spawn()
        .expect("spawn a host sleep");
    let verdict = std::panic::catch_unwind(|| leaks.assert_clean());
    let message = match verdict {
        Ok(()) => String::new(),
        Err(panic) => panic.downcast_ref::<String>().cloned().unwrap_or_default(),
    };
    ours.kill().expect("kill");
    ours.wait().expect("wait");
    furnace_sys::mount::umount2(&point, UnmountFlags::empty()).expect("unmount");
    assert!(
        message.contains("ours-left-mounted"),
        "our mount is reported: {message}"
    );
    assert!(
        message.contains(&format!("process {} (sleep)", ours.id())),
        "our process is reported: {message}"
    );
    assert!(
        !message.contains("furnace-foreign"),
        "no foreign mount is reported: {message}"
    );
    for pid in foreign.pids() {
        assert!(
            !message.contains(&format!("process {pid} ")),
            "the foreign process {pid} is not reported: {message}"
        );
    }
    // With our leak gone, the check passes again while the foreign things are still there.
    leaks.assert_clean();
    assert!(
        Path::new(&foreign.dir).join("netns").exists(),
        "premise: the foreign mounts were there all along"
    );
    assert!(
        alive(foreign.boxed),
        "premise: the boxed foreign sleep was there all along"
    );
    drop(foreign);
}
