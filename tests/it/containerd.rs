//! Issue 16: containerd (Debian's 1.6, with its runc shim) running containers through
//! `furnace-oci` (`ctr run --runc-binary FURNACE_OCI`). Each test starts a containerd daemon of
//! its own (its root, state, socket and config in a temporary directory), imports the test
//! image as an OCI archive made here (no registry, no other tool), and runs in a containerd
//! namespace of its own: output and exit status, a detached task with `task exec` and
//! `task kill`, a memory limit in the container's cgroup and a device rule enforced. The
//! daemon, its shims, its mounts, the cgroups and what it made under `/run/containerd` are
//! removed afterwards, also when the test fails.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;

use furnace_tests::cgroups::RemoveOnDrop;
use furnace_tests::*;

/// containerd's runc shim keeps its runtime state under `/run/containerd` whatever the
/// daemon's `--state`: one test at a time, so that each knows what it made there.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const RUN_DIR: &str = "/run/containerd";

/// A containerd daemon of the test's own, with the test image imported.
struct Containerd {
    dir: TempDir,
    daemon: Child,
    namespace: String,
    image: String,
    containers: Vec<String>,
    /// What was in `/run/containerd` before (`None`: it did not exist).
    run_before: Option<BTreeSet<PathBuf>>,
    _cgroups: RemoveOnDrop,
}

impl Containerd {
    fn start() -> Containerd {
        let dir = TempDir::new("containerd");
        let run_before = fs::read_dir(RUN_DIR)
            .ok()
            .map(|d| d.flatten().map(|e| e.path()).collect());
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{d}/containerd.sock\"\n\
             [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
             [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n",
            d = dir.path().display()
        );
        fs::write(dir.join("config.toml"), config).unwrap();
        let log = fs::File::create(dir.join("containerd.log")).unwrap();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("run containerd (cargo xtask itest installs it)");
        let namespace = unique_name("ctd");
        let cgroups = RemoveOnDrop(
            fs::read_dir("/sys/fs/cgroup")
                .unwrap()
                .flatten()
                .map(|e| e.path().join(&namespace))
                .collect(),
        );
        let mut ctd = Containerd {
            image: format!("localhost/{namespace}:1"),
            dir,
            daemon,
            namespace,
            containers: Vec::new(),
            run_before,
            _cgroups: cgroups,
        };
        wait_until(DEADLINE, "containerd to answer", || {
            ctd.ctr(&["version"]).status.success()
        });
        let archive = ctd.dir.join("image.tar");
        oci_archive(&image(), &ctd.dir.join("layout"), &archive, &ctd.image);
        let imported = ctd.ctr(&["image", "import", archive.to_str().unwrap()]);
        assert!(imported.status.success(), "ctr image import: {imported:?}");
        ctd.daemon_alive();
        ctd
    }

    /// `ctr --address SOCKET --namespace NS ARGS...`.
    fn ctr(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(self.dir.join("containerd.sock"))
            .args(["--namespace", &self.namespace])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run ctr")
    }

    /// `ctr run --runc-binary FURNACE_OCI OPTIONS IMAGE ID COMMAND...`: the id, and what ctr
    /// said.
    fn run(&mut self, options: &[&str], command: &[&str]) -> (String, Output) {
        let id = format!("c{}", self.containers.len());
        self.containers.push(id.clone());
        let oci = oci_binary();
        let mut args = vec!["run", "--runc-binary", oci.to_str().unwrap()];
        args.extend(options);
        args.push(&self.image);
        args.push(&id);
        args.extend(command);
        let out = self.ctr(&args);
        (id, out)
    }

    /// `ctr ARGS` on a terminal of its own (ctr needs one for `-t`), which `script` gives it;
    /// bounded, so that a hang (the shim waiting on `create`) fails rather than stalls.
    fn ctr_on_a_terminal(&self, args: &str) -> Output {
        let line = format!(
            "ctr --address {} --namespace {} {args}",
            self.dir.join("containerd.sock").display(),
            self.namespace,
        );
        Command::new("timeout")
            .args(["60", "script", "-qec", &line, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .expect("run script")
    }

    /// Waits until `task ls` shows the task `id` stopped.
    fn wait_stopped(&self, id: &str, what: &str) {
        wait_until(DEADLINE, what, || {
            text(&self.ctr(&["task", "ls"]).stdout)
                .lines()
                .any(|l| l.starts_with(id) && l.contains("STOPPED"))
        });
    }

    fn daemon_alive(&mut self) {
        if let Ok(Some(status)) = self.daemon.try_wait() {
            panic!(
                "containerd exited ({status}):\n{}",
                fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
            );
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        for id in &self.containers {
            let _ = self.ctr(&["task", "kill", "--signal", "KILL", id]);
            let _ = self.ctr(&["task", "delete", "--force", id]);
            let _ = self.ctr(&["container", "delete", id]);
        }
        let _ = self.ctr(&["image", "remove", &self.image]);
        let _ = self.ctr(&["namespace", "remove", &self.namespace]);
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_child(&self.daemon),
            rustix::process::Signal::TERM,
        );
        let _ = wait_child(&mut self.daemon, "containerd");
        // A shim whose task could not be deleted outlives the daemon: it is told apart by the
        // daemon's address on its command line.
        let address = self.dir.join("containerd.sock");
        for pid in all_processes().into_iter().map(|p| p.pid) {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            if cmdline.contains("containerd-shim") && cmdline.contains(address.to_str().unwrap()) {
                let _ = sigkill(pid);
            }
        }
        // A container the shim could not delete is still furnace-oci's: deleted through its
        // state (the shim's runtime root for this namespace) before that goes.
        let oci_root = Path::new(RUN_DIR).join("runc").join(&self.namespace);
        if let Ok(entries) = fs::read_dir(oci_root.join("containers")) {
            for entry in entries.flatten() {
                let _ = Command::new(oci_binary())
                    .arg("--root")
                    .arg(&oci_root)
                    .args(["delete", "--force"])
                    .arg(entry.file_name())
                    .stdin(Stdio::null())
                    .output();
            }
        }
        // Under /run/containerd: the shim's runtime root for this namespace; the rest when
        // the daemon made the directory.
        match &self.run_before {
            None => {
                let _ = fs::remove_dir_all(RUN_DIR);
            }
            Some(_) => {
                let _ = fs::remove_dir_all(Path::new(RUN_DIR).join("runc").join(&self.namespace));
            }
        }
    }
}

/// Writes `root` as a one-layer OCI image archive named `name` (what `ctr image import`
/// reads): the layer an uncompressed tar, digests by `sha256sum`.
fn oci_archive(root: &Path, layout: &Path, archive: &Path, name: &str) {
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let add = |path: &Path| -> (String, u64) {
        let out = Command::new("sha256sum").arg(path).output().unwrap();
        assert!(out.status.success(), "sha256sum: {out:?}");
        let digest = String::from_utf8_lossy(&out.stdout)[..64].to_owned();
        let size = fs::metadata(path).unwrap().size();
        fs::rename(path, blobs.join(&digest)).unwrap();
        (digest, size)
    };
    let write = |file: &str, text: String| {
        let path = layout.join(file);
        fs::write(&path, text).unwrap();
        add(&path)
    };
    let layer_tar = layout.join("layer.tar");
    let tar = Command::new("tar")
        .arg("-C")
        .arg(root)
        .arg("-cf")
        .arg(&layer_tar)
        .arg(".")
        .output()
        .unwrap();
    assert!(tar.status.success(), "tar of the image: {tar:?}");
    let (layer, layer_size) = add(&layer_tar);
    let (config, config_size) = write(
        "config.json",
        format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["sha256:{layer}"]}}}}"#
        ),
    );
    let (manifest, manifest_size) = write(
        "manifest.json",
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{config}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:{layer}","size":{layer_size}}}]}}"#
        ),
    );
    fs::write(
        layout.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{manifest}","size":{manifest_size},"annotations":{{"io.containerd.image.name":"{name}"}}}}]}}"#
        ),
    )
    .unwrap();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let tar = Command::new("tar")
        .arg("-C")
        .arg(layout)
        .arg("-cf")
        .arg(archive)
        .arg(".")
        .output()
        .unwrap();
    assert!(tar.status.success(), "tar of the layout: {tar:?}");
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The OCI state furnace-oci keeps for the shim (its `--root`).
fn oci_state(ctd: &Containerd) -> Vec<String> {
    let dir = Path::new(RUN_DIR)
        .join("runc")
        .join(&ctd.namespace)
        .join("containers");
    fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn ctr_run_exec_kill_and_nothing_left() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    {
        let mut ctd = Containerd::start();
        // Output and exit status, through the shim.
        let (_, out) = ctd.run(&["--rm"], &["sh", "-c", "echo hi from $$; exit 7"]);
        assert_eq!(out.status.code(), Some(7), "{out:?}");
        assert_eq!(text(&out.stdout), "hi from 1\n", "{out:?}");
        // A terminal (`-t`: the shim's console socket). The shim reads `create`'s output until EOF: PID 1 must
        // keep nothing of it when the terminal is its stdio.
        let id = format!("c{}", ctd.containers.len());
        ctd.containers.push(id.clone());
        let tty = ctd.ctr_on_a_terminal(&format!(
            "run --rm -t --runc-binary {} {} {id} sh -c 'tty; exit 5'",
            oci_binary().display(),
            ctd.image,
        ));
        assert_eq!(tty.status.code(), Some(5), "{tty:?}");
        assert!(text(&tty.stdout).contains("/dev/pts/0"), "{tty:?}");
        // A detached task, an exec into it, a signal.
        let (id, out) = ctd.run(
            &["--detach"],
            &[
                "sh",
                "-c",
                "trap 'exit 42' USR1; while :; do sleep 0.1; done",
            ],
        );
        assert!(out.status.success(), "{out:?}");
        assert!(oci_state(&ctd).contains(&id), "furnace-oci holds {id}");
        let exec = ctd.ctr(&[
            "task",
            "exec",
            "--exec-id",
            "e1",
            &id,
            "sh",
            "-c",
            "echo exec in pid $$; grep NoNewPrivs /proc/self/status; exit 3",
        ]);
        assert_eq!(exec.status.code(), Some(3), "{exec:?}");
        // In the container's pid namespace, beside PID 1 (its loop's `sleep` may be 2), with
        // containerd's no_new_privs.
        let said = text(&exec.stdout);
        assert!(
            said.starts_with("exec in pid ")
                && !said.starts_with("exec in pid 1\n")
                && said.ends_with("\nNoNewPrivs:\t1\n"),
            "{exec:?}"
        );
        // `task ps` (the shim's `ps --format json`): the task's process among the pids.
        let ls = text(&ctd.ctr(&["task", "ls"]).stdout);
        let pid = ls
            .lines()
            .find(|l| l.starts_with(&id))
            .and_then(|l| l.split_whitespace().nth(1))
            .expect("the task in `task ls`")
            .to_owned();
        let ps = ctd.ctr(&["task", "ps", &id]);
        assert!(ps.status.success(), "{ps:?}");
        assert!(
            text(&ps.stdout)
                .lines()
                .skip(1)
                .any(|l| l.split_whitespace().next() == Some(&pid)),
            "{pid} in {ps:?}"
        );
        // An exec with a terminal.
        let tty = ctd.ctr_on_a_terminal(&format!(
            "task exec -t --exec-id e2 {id} sh -c 'tty; exit 6'"
        ));
        assert_eq!(tty.status.code(), Some(6), "{tty:?}");
        assert!(text(&tty.stdout).contains("/dev/pts/"), "{tty:?}");
        let kill = ctd.ctr(&["task", "kill", "--signal", "USR1", &id]);
        assert!(kill.status.success(), "{kill:?}");
        ctd.wait_stopped(&id, "the task to stop on USR1");
        let deleted = ctd.ctr(&["task", "delete", &id]);
        assert!(deleted.status.success(), "{deleted:?}");
        assert!(
            text(&deleted.stdout).contains("42") || text(&deleted.stderr).contains("42"),
            "the exit status: {deleted:?}"
        );
        assert!(!oci_state(&ctd).contains(&id), "furnace-oci removed {id}");
        ctd.daemon_alive();
    }
    leaks.assert_clean();
}

#[test]
fn ctr_memory_limit_and_device_rules_hold() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    {
        let mut ctd = Containerd::start();
        // containerd's device rules: /dev/null opens, a node made for /dev/kmsg (1:11, not in
        // the rules) does not.
        let script = "echo x > /dev/null && echo null-ok
            mknod /tmp/kmsg c 1 11 && echo mknod-ok
            (true < /tmp/kmsg) 2>/dev/null && echo kmsg-opened || echo kmsg-denied";
        let (_, out) = ctd.run(&["--rm"], &["sh", "-c", script]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            text(&out.stdout),
            "null-ok\nmknod-ok\nkmsg-denied\n",
            "{out:?}"
        );
        // The memory limit holds for the container's process and its children: a shell that
        // builds a 100 MB string under 32 MiB is ended by the OOM killer (SIGKILL, 137).
        let (_, out) = ctd.run(
            &["--rm", "--memory-limit", "33554432"],
            &[
                "sh",
                "-c",
                "v=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived",
            ],
        );
        assert_eq!(out.status.code(), Some(137), "{out:?}");
        assert!(!text(&out.stdout).contains("survived"), "{out:?}");
        let (id, out) = ctd.run(
            &["--detach", "--memory-limit", "67108864"],
            &["sleep", "1000"],
        );
        assert!(out.status.success(), "{out:?}");
        // The memory limit, in the container's own cgroup where containerd asked for it
        // (`cgroupsPath` /NAMESPACE/ID).
        let cgroup = Path::new("/sys/fs/cgroup/memory")
            .join(&ctd.namespace)
            .join(&id);
        wait_until(DEADLINE, "the container's memory cgroup", || {
            cgroup.join("memory.limit_in_bytes").exists()
        });
        let limit = fs::read_to_string(cgroup.join("memory.limit_in_bytes")).unwrap();
        assert_eq!(limit.trim(), "67108864");
        let devices = Path::new("/sys/fs/cgroup/devices")
            .join(&ctd.namespace)
            .join(&id);
        let list = fs::read_to_string(devices.join("devices.list")).unwrap();
        assert!(list.lines().any(|l| l == "c 1:3 rwm"), "{list}");
        assert!(!list.lines().any(|l| l.starts_with("a ")), "{list}");
        let kill = ctd.ctr(&["task", "kill", "--signal", "KILL", &id]);
        assert!(kill.status.success(), "{kill:?}");
        ctd.wait_stopped(&id, "the task to stop");
        let deleted = ctd.ctr(&["task", "delete", &id]);
        assert!(deleted.status.success(), "{deleted:?}");
        assert!(
            !cgroup.exists() && !devices.exists(),
            "the cgroups are removed"
        );
        ctd.daemon_alive();
    }
    leaks.assert_clean();
}
