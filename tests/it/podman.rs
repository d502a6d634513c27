//! Issue 16: podman (Debian's 4.3, with conmon) running containers through `furnace-oci`
//! (`podman --runtime FURNACE_OCI`), on an image imported from the test image without any
//! registry: output and exit status, `run -d` with `exec`, `logs`, `stop` and `rm`, signals,
//! memory and pids limits through the container's cgroups, `--read-only`, a volume, and
//! podman's default seccomp profile applied. Every test removes its containers, its image and
//! the cgroup parent it named (`--cgroup-parent`), also when it fails.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use furnace_tests::cgroups::RemoveOnDrop;
use furnace_tests::probe::install_probe;
use furnace_tests::*;

/// podman on this kind of machine needs these (root lacks `CAP_SYS_RESOURCE`).
const ULIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=20000:20000",
    "--ulimit",
    "nproc=4096:4096",
];

/// furnace-oci's default `--root`, which podman uses (its `--runtime-flag` does not reach
/// every call: conmon's `exec -t` goes without it).
const OCI_ROOT: &str = "/run/furnace-oci";

/// The podman tests running now, and whether [`OCI_ROOT`] existed before the first of them:
/// the last one to end removes it again if not (it is empty by then).
static RUNNING: std::sync::Mutex<(usize, bool)> = std::sync::Mutex::new((0, false));

/// One test's image (the test image with the probe), containers and cgroup parent.
struct Podman {
    image: String,
    parent: String,
    names: Vec<String>,
    _cgroups: RemoveOnDrop,
}

impl Podman {
    fn new(scratch: &Scratch) -> Podman {
        {
            let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
            if running.0 == 0 {
                running.1 = std::path::Path::new(OCI_ROOT).exists();
            }
            running.0 += 1;
        }
        install_probe(scratch);
        let tag = unique_name("podman");
        let image = format!("localhost/{tag}:1");
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(scratch.root())
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run tar");
        let imported = Command::new("podman")
            .args(["import", "-", &image])
            .stdin(tar.stdout.take().expect("tar's stdout"))
            .output()
            .expect("run podman import");
        assert!(tar.wait().is_ok_and(|s| s.success()), "tar of the root");
        assert!(imported.status.success(), "podman import: {imported:?}");
        // The parent of the containers' cgroups: the test's, removed with its children.
        let parent = format!("/{tag}");
        let cgroups = RemoveOnDrop(
            std::fs::read_dir("/sys/fs/cgroup")
                .unwrap()
                .flatten()
                .map(|e| e.path().join(&tag))
                .collect(),
        );
        Podman {
            image,
            parent,
            names: Vec::new(),
            _cgroups: cgroups,
        }
    }

    /// `podman --runtime FURNACE_OCI ARGS...`.
    fn podman(&self, args: &[&str]) -> Output {
        Command::new("podman")
            .arg("--runtime")
            .arg(oci())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run podman")
    }

    /// `podman run --name NAME ULIMITS --cgroup-parent PARENT OPTIONS IMAGE COMMAND...`: the
    /// name, and what podman said.
    fn run(&mut self, options: &[&str], command: &[&str]) -> (String, Output) {
        let name = unique_name("ctr");
        self.names.push(name.clone());
        let mut args = vec!["run", "--name", &name, "--cgroup-parent", &self.parent];
        args.extend(ULIMITS);
        args.extend(options);
        args.push(&self.image);
        args.extend(command);
        let out = self.podman(&args);
        (name, out)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = self.podman(&["rm", "-f", "-t", "0", name]);
        }
        let _ = Command::new("podman")
            .args(["rmi", "-f", &self.image])
            .output();
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        running.0 -= 1;
        if running.0 == 0 && !running.1 {
            for dir in ["containers", "registry", ""] {
                let _ = std::fs::remove_dir(std::path::Path::new(OCI_ROOT).join(dir));
            }
        }
    }
}

fn oci() -> PathBuf {
    oci_binary()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The furnace-oci state entries (podman's runtime root is furnace-oci's default).
fn oci_containers() -> Vec<String> {
    std::fs::read_dir(std::path::Path::new(OCI_ROOT).join("containers"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn run_rm_passes_output_and_exit_status_and_leaves_nothing() {
    let scratch = Scratch::new();
    let mut p = Podman::new(&scratch);
    let (_, out) = p.run(&["--rm"], &["sh", "-c", "echo hi from $$; exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    assert_eq!(text(&out.stdout), "hi from 1\n", "{out:?}");
    let ps = p.podman(&["ps", "-a", "--format", "{{.Names}}"]);
    for name in &p.names {
        assert!(!text(&ps.stdout).contains(name.as_str()), "{ps:?}");
    }
}

#[test]
fn detached_exec_logs_stop_and_rm() {
    let scratch = Scratch::new();
    let mut p = Podman::new(&scratch);
    let (name, out) = p.run(&["-d"], &["sh", "-c", "echo started; exec sleep 1000"]);
    assert!(out.status.success(), "{out:?}");
    let id = text(&out.stdout).trim().to_owned();
    assert!(oci_containers().contains(&id), "furnace-oci holds {id}");
    let exec = p.podman(&[
        "exec",
        &name,
        "sh",
        "-c",
        "echo exec in pid $$; cat /proc/1/comm; exit 3",
    ]);
    assert_eq!(exec.status.code(), Some(3), "{exec:?}");
    assert_eq!(text(&exec.stdout), "exec in pid 2\nsleep\n", "{exec:?}");
    let logs = p.podman(&["logs", &name]);
    assert_eq!(text(&logs.stdout), "started\n", "{logs:?}");
    // sleep ignores SIGTERM as PID 1: podman sends SIGKILL after the timeout.
    let stop = p.podman(&["stop", "-t", "1", &name]);
    assert!(stop.status.success(), "{stop:?}");
    let state = p.podman(&["inspect", "--format", "{{.State.Status}}", &name]);
    assert_eq!(text(&state.stdout).trim(), "exited", "{state:?}");
    let rm = p.podman(&["rm", &name]);
    assert!(rm.status.success(), "{rm:?}");
    assert!(!oci_containers().contains(&id), "furnace-oci removed {id}");
}

#[test]
fn kill_sends_the_signal_to_the_process() {
    let scratch = Scratch::new();
    let mut p = Podman::new(&scratch);
    let (name, out) = p.run(
        &["-d"],
        &[
            "sh",
            "-c",
            "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.1; done",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    wait_until(DEADLINE, "the container to be ready", || {
        text(&p.podman(&["logs", &name]).stdout).contains("ready")
    });
    let kill = p.podman(&["kill", "-s", "USR1", &name]);
    assert!(kill.status.success(), "{kill:?}");
    wait_until(DEADLINE, "USR1 to arrive", || {
        text(&p.podman(&["logs", &name]).stdout).contains("got-usr1")
    });
    let rm = p.podman(&["rm", "-f", "-t", "0", &name]);
    assert!(rm.status.success(), "{rm:?}");
}

#[test]
fn limits_read_only_root_and_a_volume() {
    let scratch = Scratch::new();
    let mut p = Podman::new(&scratch);
    let volume = TempDir::new("podman-volume");
    let bind = format!("{}:/data", volume.path().display());
    let (_, out) = p.run(
        &[
            "--rm",
            "--memory",
            "64m",
            "--pids-limit",
            "20",
            "--read-only",
            "-v",
            &bind,
        ],
        &[
            "sh",
            "-c",
            "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes; \
             echo written > /data/file; touch /root-file 2>&1; true",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let said = text(&out.stdout);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines.first(), Some(&"20"), "{said}");
    assert_eq!(lines.get(1), Some(&"67108864"), "{said}");
    assert!(said.contains("Read-only file system"), "{said}");
    assert_eq!(
        std::fs::read_to_string(volume.join("file")).unwrap(),
        "written\n"
    );
}

#[test]
fn podmans_default_seccomp_profile_is_applied() {
    let scratch = Scratch::new();
    let mut p = Podman::new(&scratch);
    let calls = ["add-key", "perf-event-open", "userfaultfd", "io-uring"];
    let mut command = vec!["/probe", "syscall"];
    command.extend(calls);
    let (_, filtered) = p.run(&["--rm"], &command);
    let (_, unconfined) = p.run(&["--rm", "--security-opt", "seccomp=unconfined"], &command);
    assert!(filtered.status.success() && unconfined.status.success());
    for call in calls {
        let answer = |out: &Output| {
            text(&out.stdout)
                .lines()
                .find(|l| l.starts_with(&format!("{call} ")))
                .unwrap_or_default()
                .to_owned()
        };
        let (with, without) = (answer(&filtered), answer(&unconfined));
        assert!(
            with == format!("{call} err EPERM") || with == format!("{call} err ENOSYS"),
            "{call} under podman's profile: {with:?}"
        );
        assert!(
            without.starts_with(&format!("{call} ok")),
            "{call} unconfined: {without:?}"
        );
    }
}

#[test]
fn run_and_exec_with_a_terminal() {
    let scratch = Scratch::new();
    let mut p = Podman::new(&scratch);
    // podman wants a terminal of its own for -t: `script` gives it one.
    let in_script = |p: &Podman, args: &[&str]| {
        let mut line = format!("podman --runtime {}", oci().display());
        for a in args {
            line.push_str(&format!(" '{a}'"));
        }
        let _ = p;
        Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .expect("run script")
    };
    let name = unique_name("ctr");
    p.names.push(name.clone());
    let mut args = vec![
        "run",
        "--rm",
        "-t",
        "--name",
        &name,
        "--cgroup-parent",
        &p.parent,
    ];
    args.extend(ULIMITS);
    args.extend([p.image.as_str(), "sh", "-c", "tty; echo pid=$$; exit 5"]);
    let out = in_script(&p, &args);
    let said = text(&out.stdout);
    assert!(
        said.contains("/dev/pts/0"),
        "the process has a terminal: {said:?}"
    );
    assert!(said.contains("pid=1"), "{said:?}");
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let (name, out) = p.run(&["-d"], &["sleep", "1000"]);
    assert!(out.status.success(), "{out:?}");
    let out = in_script(&p, &["exec", "-t", &name, "sh", "-c", "tty; exit 4"]);
    assert!(text(&out.stdout).contains("/dev/pts/"), "{out:?}");
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let rm = p.podman(&["rm", "-f", "-t", "0", &name]);
    assert!(rm.status.success(), "{rm:?}");
}

/// `--device`: podman's `linux.devices` entry is made in the container's `/dev` and allowed
/// by its device rules; a node made inside for another device still cannot be opened.
#[test]
fn a_device_is_passed_in_and_others_stay_closed() {
    let scratch = Scratch::new();
    let mut p = Podman::new(&scratch);
    let (_, out) = p.run(
        &["--rm", "--device", "/dev/fuse"],
        &[
            "sh",
            "-c",
            "stat -c '%t:%T %F' /dev/fuse; (true < /dev/fuse) && echo opened; \
             mknod /tmp/kmsg c 1 11; (true < /tmp/kmsg) 2>/dev/null || echo kmsg-denied",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        text(&out.stdout),
        "a:e5 character special file\nopened\nkmsg-denied\n",
        "{out:?}"
    );
}

/// `--read-only` asks for copy-up tmpfs mounts (`tmpcopyup`) on `/tmp`, `/var/tmp` and `/run`:
/// what the image has in `/tmp` shows there, writable, and the image keeps it as it was.
#[test]
fn a_read_only_root_keeps_the_images_tmp_content_writable() {
    let scratch = Scratch::new();
    std::fs::write(scratch.host_path("/tmp/seeded"), "from the image\n").unwrap();
    let mut p = Podman::new(&scratch);
    let (_, out) = p.run(
        &["--rm", "--read-only"],
        &[
            "sh",
            "-c",
            "cat /tmp/seeded; echo changed > /tmp/seeded && cat /tmp/seeded; \
             touch /etc/x 2>/dev/null || echo root-read-only",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        text(&out.stdout),
        "from the image\nchanged\nroot-read-only\n",
        "{out:?}"
    );
    let (_, again) = p.run(&["--rm", "--read-only"], &["cat", "/tmp/seeded"]);
    assert_eq!(text(&again.stdout), "from the image\n", "{again:?}");
}
