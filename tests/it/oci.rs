//! Issue 16: `furnace-oci`, driven as engines drive it (the calls conmon and podman make,
//! replayed): create leaves PID 1 waiting, `state` tells created / running / stopped, start
//! runs the bundle's process as PID 1 with its user, capabilities, limits and environment,
//! its exit status reaches the monitor, `kill` and `delete --force` end it; bad bundles and
//! bad calls are clear errors that leave nothing. The binary is the one `cargo xtask itest`
//! builds and names in `FURNACE_OCI`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use furnace_tests::proc::let_init_reap;
use furnace_tests::*;

use crate::HELPER;

fn oci() -> PathBuf {
    oci_binary()
}

/// A bundle in the scratch's directory whose root is the scratch's root.
pub(crate) struct Bundle {
    pub(crate) dir: PathBuf,
    pub(crate) state: PathBuf,
}

impl Bundle {
    pub(crate) fn new(scratch: &Scratch, process: serde_json::Value) -> Bundle {
        let dir = scratch.dir().join("bundle");
        let state = scratch.dir().join("state");
        std::fs::create_dir_all(&dir).unwrap();
        let bundle = Bundle { dir, state };
        bundle.write(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": scratch.root()},
            "hostname": "oci-test",
            "process": process,
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                 "options": ["nosuid", "noexec", "nodev", "ro"]}
            ],
            "linux": {"namespaces": [
                {"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"},
                {"type": "network"}
            ]}
        }));
        bundle
    }

    pub(crate) fn write(&self, config: serde_json::Value) {
        std::fs::write(self.dir.join("config.json"), config.to_string()).unwrap();
    }

    /// `furnace-oci --root STATE ARGS...`, stdio null.
    pub(crate) fn call(&self, args: &[&str]) -> Output {
        Command::new(oci())
            .arg("--root")
            .arg(&self.state)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run furnace-oci")
    }

    /// `create --bundle DIR ID`, the container's stdio on `out` (a file).
    pub(crate) fn create(&self, id: &str, out: &Path) -> Output {
        let file = std::fs::File::create(out).unwrap();
        Command::new(oci())
            .arg("--root")
            .arg(&self.state)
            .args(["create", "--bundle"])
            .arg(&self.dir)
            .arg("--pid-file")
            .arg(self.state.join("pid"))
            .arg(id)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .output()
            .expect("run furnace-oci create")
    }

    /// The `status` of `state ID`.
    pub(crate) fn status(&self, id: &str) -> String {
        let out = self.call(&["state", id]);
        assert!(out.status.success(), "state: {out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("state is JSON");
        v["status"].as_str().unwrap_or_default().to_owned()
    }

    /// Nothing of furnace-oci's is left in the state directory.
    pub(crate) fn assert_empty(&self) {
        for sub in ["containers", "registry"] {
            let dir = self.state.join(sub);
            let left: Vec<_> = std::fs::read_dir(&dir)
                .map(|d| d.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default();
            assert!(left.is_empty(), "{} holds {left:?}", dir.display());
        }
    }
}

impl Drop for Bundle {
    /// Whatever a failed test left: `delete --force` of every container still recorded.
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.state.join("containers")) else {
            return;
        };
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            let _ = self.call(&["delete", "--force", &id]);
        }
    }
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn create_start_state_and_delete_as_an_engine_calls_them() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let bundle = Bundle::new(
        &scratch,
        serde_json::json!({
            "user": {"uid": 0, "gid": 0},
            "args": ["sh", "-c",
                     "echo \"pid=$$ host=$(hostname) greeting=$GREETING\"; \
                      grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status; ulimit -n; exit 7"],
            "env": ["PATH=/usr/bin:/bin", "GREETING=hello"],
            "cwd": "/",
            "capabilities": {"bounding": ["CAP_KILL", "CAP_CHOWN"],
                             "effective": ["CAP_KILL"], "permitted": ["CAP_KILL", "CAP_CHOWN"]},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512}],
            "noNewPrivileges": true
        }),
    );
    let out_file = scratch.dir().join("out");
    let created = bundle.create("c1", &out_file);
    assert!(
        created.status.success(),
        "create: {created:?} {}",
        std::fs::read_to_string(&out_file).unwrap_or_default()
    );
    let pid: u32 = std::fs::read_to_string(bundle.state.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(bundle.status("c1"), "created");
    let state: serde_json::Value =
        serde_json::from_slice(&bundle.call(&["state", "c1"]).stdout).unwrap();
    assert_eq!(state["pid"], pid);
    assert_eq!(state["id"], "c1");
    assert_eq!(state["bundle"], bundle.dir.to_str().unwrap());
    assert_eq!(read_comm(pid), "furnace-init", "PID 1 waits at the gate");
    // `ps`: the JSON pids (containerd's shim) and the host's `ps` lines of the container.
    let ps = bundle.call(&["ps", "--format", "json", "c1"]);
    assert_eq!(text(&ps.stdout).trim(), format!("[{pid}]"), "{ps:?}");
    let ps = bundle.call(&["ps", "c1", "-o", "pid,comm"]);
    assert_eq!(
        text(&ps.stdout)
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>(),
        ["PID COMMAND".to_owned(), format!("{pid} furnace-init")],
        "{ps:?}"
    );
    let bad = bundle.call(&["ps", "--format", "yaml", "c1"]);
    assert!(
        !bad.status.success() && text(&bad.stderr).contains("table or json"),
        "{bad:?}"
    );
    // A second create under the same id is refused.
    let out2 = scratch.dir().join("out2");
    let again = bundle.create("c1", &out2);
    assert!(!again.status.success());
    let said = std::fs::read_to_string(&out2).unwrap_or_default();
    assert!(said.contains("already exists"), "{said}");
    let started = bundle.call(&["start", "c1"]);
    assert!(started.status.success(), "start: {started:?}");
    wait_until(DEADLINE, "the container to stop", || {
        bundle.status("c1") == "stopped"
    });
    let twice = bundle.call(&["start", "c1"]);
    assert!(!twice.status.success(), "start twice: {twice:?}");
    let out = std::fs::read_to_string(&out_file).unwrap();
    assert!(out.contains("pid=1 host=oci-test greeting=hello"), "{out}");
    assert!(out.contains("CapBnd:\t0000000000000021"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.lines().any(|l| l == "512"), "{out}");
    let deleted = bundle.call(&["delete", "c1"]);
    assert!(deleted.status.success(), "delete: {deleted:?}");
    let gone = bundle.call(&["state", "c1"]);
    assert!(
        !gone.status.success() && text(&gone.stderr).contains("does not exist"),
        "{gone:?}"
    );
    bundle.assert_empty();
    leaks.assert_clean();
}

fn read_comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[test]
fn the_exit_status_reaches_the_monitor_as_conmon_waits_for_it() {
    let scratch = Scratch::new();
    let bundle = Bundle::new(
        &scratch,
        serde_json::json!({"user": {"uid": 0, "gid": 0}, "args": ["sh", "-c", "echo ran; exit 42"],
                           "env": ["PATH=/usr/bin:/bin"], "cwd": "/"}),
    );
    std::fs::create_dir_all(&bundle.state).unwrap();
    let out = Command::new(HELPER)
        .arg("oci-monitor")
        .arg(oci())
        .arg(&bundle.state)
        .arg(&bundle.dir)
        .arg("c2")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "ran\nexit=42\n");
    assert!(bundle.call(&["delete", "c2"]).status.success());
    bundle.assert_empty();
}

#[test]
fn kill_and_delete_force_end_a_running_container() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let bundle = Bundle::new(
        &scratch,
        serde_json::json!({"user": {"uid": 0, "gid": 0},
                           "args": ["sh", "-c", "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.05; done"],
                           "env": ["PATH=/usr/bin:/bin"], "cwd": "/"}),
    );
    let out_file = scratch.dir().join("out");
    assert!(bundle.create("c3", &out_file).status.success());
    assert!(bundle.call(&["start", "c3"]).status.success());
    wait_until(DEADLINE, "the process to be ready", || {
        std::fs::read_to_string(&out_file)
            .unwrap_or_default()
            .contains("ready")
    });
    assert_eq!(bundle.status("c3"), "running");
    // Delete refuses a running container without --force.
    let refused = bundle.call(&["delete", "c3"]);
    assert!(
        !refused.status.success() && text(&refused.stderr).contains("--force"),
        "{refused:?}"
    );
    // Signals by name and number; the shell is PID 1 with a handler for USR1.
    assert!(bundle.call(&["kill", "c3", "USR1"]).status.success());
    wait_until(DEADLINE, "USR1 to arrive", || {
        std::fs::read_to_string(&out_file)
            .unwrap_or_default()
            .contains("got-usr1")
    });
    let bad = bundle.call(&["kill", "c3", "SIGBOGUS"]);
    assert!(
        !bad.status.success() && text(&bad.stderr).contains("SIGBOGUS"),
        "{bad:?}"
    );
    assert!(bundle.call(&["kill", "c3", "9"]).status.success());
    wait_until(DEADLINE, "the container to stop", || {
        bundle.status("c3") == "stopped"
    });
    assert!(bundle.call(&["delete", "c3"]).status.success());
    // And delete --force on a running one.
    assert!(bundle.create("c4", &out_file).status.success());
    assert!(bundle.call(&["start", "c4"]).status.success());
    assert!(bundle.call(&["delete", "--force", "c4"]).status.success());
    bundle.assert_empty();
    let_init_reap();
    leaks.assert_clean();
}

#[test]
fn bad_bundles_and_calls_are_clear_errors_that_leave_nothing() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let process = serde_json::json!({"user": {"uid": 0, "gid": 0}, "args": ["true"], "cwd": "/"});
    let bundle = Bundle::new(&scratch, process.clone());
    let out_file = scratch.dir().join("out");
    let base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.dir.join("config.json")).unwrap())
            .unwrap();
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = base.clone();
        f(&mut v);
        v
    };
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (
            with(&|v| v["linux"]["intelRdt"] = serde_json::json!({})),
            "linux.intelRdt is not supported",
        ),
        (
            with(&|v| v["ociVersion"] = "1.9.0".into()),
            "ociVersion \"1.9.0\" is not supported",
        ),
        (
            with(&|v| v["root"]["path"] = "/nonexistent/root".into()),
            "/nonexistent/root",
        ),
        (
            with(&|v| v["process"]["args"] = serde_json::json!([])),
            "process.args is empty",
        ),
        (
            with(&|v| v["process"]["capabilities"] = serde_json::json!({"bounding": ["CAP_NOPE"]})),
            "CAP_NOPE",
        ),
        (
            with(&|v| {
                v["linux"]["resources"] =
                    serde_json::json!({"devices": [{"allow": true, "type": "x", "access": "rwm"}]})
            }),
            "linux.resources.devices[0].type: \"x\" is not a, c or b",
        ),
        (
            with(&|v| v["mounts"][0]["options"] = serde_json::json!(["bind", "slave"])),
            "\"slave\"",
        ),
        (
            with(&|v| v["linux"]["rootfsPropagation"] = serde_json::json!("shared")),
            "linux.rootfsPropagation \"shared\"",
        ),
    ];
    for (config, needle) in cases {
        bundle.write(config);
        let out = bundle.create("bad", &out_file);
        let said = std::fs::read_to_string(&out_file).unwrap_or_default() + &text(&out.stderr);
        assert!(!out.status.success(), "{needle}: {out:?}");
        assert!(said.contains(needle), "{needle:?} not in {said:?}");
        bundle.assert_empty();
    }
    std::fs::write(bundle.dir.join("config.json"), "{not json").unwrap();
    let out = bundle.create("bad", &out_file);
    assert!(
        std::fs::read_to_string(&out_file)
            .unwrap()
            .contains("not valid JSON"),
        "{out:?}"
    );
    std::fs::remove_file(bundle.dir.join("config.json")).unwrap();
    let out = bundle.create("bad", &out_file);
    assert!(
        std::fs::read_to_string(&out_file)
            .unwrap()
            .contains("config.json"),
        "{out:?}"
    );
    // Calls on containers that do not exist, and bad ids.
    for args in [
        &["start", "nope"][..],
        &["kill", "nope", "9"],
        &["delete", "nope"],
        &["state", "nope"],
    ] {
        let out = bundle.call(args);
        assert!(
            !out.status.success() && text(&out.stderr).contains("does not exist"),
            "{args:?}: {out:?}"
        );
    }
    let out = bundle.call(&["state", "../escape"]);
    assert!(!out.status.success(), "{out:?}");
    // --log-format json writes runc's JSON lines.
    let log = scratch.dir().join("log.json");
    let out = Command::new(oci())
        .arg("--root")
        .arg(&bundle.state)
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "start", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let line: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line["level"], "error");
    assert!(
        line["msg"].as_str().unwrap().contains("does not exist"),
        "{line}"
    );
    assert!(line["time"].as_str().unwrap().ends_with('Z'), "{line}");
    let _ = process;
    bundle.assert_empty();
    leaks.assert_clean();
}

#[test]
fn version_and_features_are_what_engines_parse() {
    let out = Command::new(oci()).arg("--version").output().unwrap();
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with("furnace-oci version "), "{lines:?}");
    assert!(lines[1].starts_with("commit:"), "{lines:?}");
    assert_eq!(lines[2], "spec: 1.2.0");
    let out = Command::new(oci()).arg("features").output().unwrap();
    let f: serde_json::Value = serde_json::from_slice(&out.stdout).expect("features JSON");
    assert_eq!(f["ociVersionMax"], "1.2.0");
    assert!(f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "pid"));
    let _ = Duration::ZERO;
}

/// `process.terminal` with `--console-socket`, as conmon calls it: the master arrives on the
/// socket (`SCM_RIGHTS`) during `create`, and the process runs on the terminal as its
/// controlling one, owned by its user. Without the socket, or with one but no terminal, create
/// is refused.
#[test]
fn a_terminal_master_is_sent_over_the_console_socket() {
    use std::io::Read;
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let bundle = Bundle::new(
        &scratch,
        serde_json::json!({"terminal": true, "user": {"uid": 1000, "gid": 1000},
                           "args": ["sh", "-c", "tty; ls -ln /proc/self/fd/0 | cut -c1-30; exit 6"],
                           "env": ["PATH=/usr/bin:/bin"], "cwd": "/"}),
    );
    let socket_path = scratch.dir().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
    let out_file = scratch.dir().join("out");
    let file = std::fs::File::create(&out_file).unwrap();
    let mut create = Command::new(oci())
        .arg("--root")
        .arg(&bundle.state)
        .args(["create", "--bundle"])
        .arg(&bundle.dir)
        .arg("--console-socket")
        .arg(&socket_path)
        .arg("t1")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let (stream, _) = listener
        .accept()
        .expect("create connects to the console socket");
    // recv_fds does not wait: the message comes once PID 1 is set up.
    let readable =
        furnace_sys::fd::forksafe::poll_readable(std::os::fd::AsFd::as_fd(&stream), Some(DEADLINE));
    assert!(
        readable.is_ok_and(|r| r),
        "the master arrives: {readable:?}"
    );
    let mut fds = furnace_sys::fd::recv_fds(&stream).unwrap_or_else(|e| {
        let status = create.wait();
        panic!(
            "receive the master: {e}; create: {status:?}, said: {}",
            std::fs::read_to_string(&out_file).unwrap_or_default()
        )
    });
    assert_eq!(fds.len(), 1);
    let master = fds.pop().unwrap();
    assert!(
        create.wait().unwrap().success(),
        "{}",
        std::fs::read_to_string(&out_file).unwrap()
    );
    assert!(bundle.call(&["start", "t1"]).status.success());
    let mut seen = String::new();
    let mut master = std::fs::File::from(master);
    let mut buf = [0u8; 256];
    // The terminal's output until the process is gone (then reading fails with EIO).
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("/dev/pts/0"), "{seen:?}");
    assert!(
        seen.contains("1000"),
        "the terminal is the process's user's: {seen:?}"
    );
    wait_until(DEADLINE, "the container to stop", || {
        bundle.status("t1") == "stopped"
    });
    assert!(bundle.call(&["delete", "t1"]).status.success());
    drop((master, stream, listener));
    // A terminal needs the socket; the socket needs a terminal.
    let out = bundle.create("t2", &out_file);
    assert!(!out.status.success());
    assert!(std::fs::read_to_string(&out_file)
        .unwrap()
        .contains("--console-socket"));
    bundle.assert_empty();
    leaks.assert_clean();
}

/// `--preserve-fds N`: the runtime's fds 3 to 3 + N - 1 reach the process at their numbers;
/// the runtime's other fds do not; a count beyond the open fds is an error that leaves
/// nothing.
#[test]
fn preserved_fds_reach_the_process_at_their_numbers_and_no_other_does() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let bundle = Bundle::new(
        &scratch,
        serde_json::json!({
            "args": ["sh", "-c", "echo three >&3; echo four >&4; ls /proc/self/fd | tr '\\n' ' '"],
            "cwd": "/", "env": ["PATH=/usr/bin:/bin"], "user": {"uid": 0, "gid": 0}
        }),
    );
    let dir = scratch.dir();
    let file = |name: &str| dir.join(name).display().to_string();
    // The runtime is started by sh with fds 3, 4 and 5 open: two preserved, the third not.
    let create = |count: u32, fds: &str| {
        let script = format!(
            "exec {oci} --root {state} create --bundle {bundle} --preserve-fds {count} p1 \
             {fds} >{out} 2>&1",
            oci = oci().display(),
            state = bundle.state.display(),
            bundle = bundle.dir.display(),
            out = file("out"),
        );
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .status()
            .expect("run sh")
    };
    let fds = format!("3>{} 4>{} 5>{}", file("three"), file("four"), file("five"));
    assert!(
        create(2, &fds).success(),
        "{:?}",
        std::fs::read_to_string(file("out"))
    );
    let started = bundle.call(&["start", "p1"]);
    assert!(started.status.success(), "start: {started:?}");
    wait_until(DEADLINE, "the container to stop", || {
        bundle.status("p1") == "stopped"
    });
    assert_eq!(std::fs::read_to_string(file("three")).unwrap(), "three\n");
    assert_eq!(std::fs::read_to_string(file("four")).unwrap(), "four\n");
    // 0–4, and 5: ls's own directory (were the runtime's fd 5 passed, ls's would be 6).
    let out = std::fs::read_to_string(file("out")).unwrap();
    assert_eq!(out.trim_end(), "0 1 2 3 4 5", "{out}");
    assert!(bundle.call(&["delete", "p1"]).status.success());
    // Three preserved, two open: refused, nothing made.
    let fds = format!("3>{} 4>{}", file("three"), file("four"));
    assert!(!create(3, &fds).success());
    let said = std::fs::read_to_string(file("out")).unwrap();
    assert!(
        said.contains("preserves fds that are not all open"),
        "{said}"
    );
    bundle.assert_empty();
    leaks.assert_clean();
}

/// AppArmor and SELinux labels: on a host that enables neither (this kind of machine), a
/// warning each that it is ignored, and the container runs; where one is enabled, an error.
#[test]
fn security_labels_are_warned_about_where_no_lsm_applies_them() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let bundle = Bundle::new(
        &scratch,
        serde_json::json!({
            "args": ["true"], "cwd": "/", "env": ["PATH=/usr/bin:/bin"],
            "user": {"uid": 0, "gid": 0},
            "apparmorProfile": "containers-default-0.50.1",
            "selinuxLabel": "system_u:system_r:container_t:s0"
        }),
    );
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'));
    let selinux = Path::new("/sys/fs/selinux/enforce").exists();
    let out_file = scratch.dir().join("out");
    let created = bundle.create("l1", &out_file);
    let said = std::fs::read_to_string(&out_file).unwrap();
    if apparmor || selinux {
        assert!(!created.status.success(), "{said}");
        assert!(said.contains("is enabled on this host"), "{said}");
    } else {
        assert!(created.status.success(), "{said}");
        for warning in [
            "warning: process.apparmorProfile \"containers-default-0.50.1\" ignored: AppArmor is \
             not enabled on this host",
            "warning: process.selinuxLabel \"system_u:system_r:container_t:s0\" ignored: \
             SELinux is not enabled on this host",
        ] {
            assert!(said.contains(warning), "{warning:?} in {said:?}");
        }
        assert!(bundle.call(&["delete", "--force", "l1"]).status.success());
    }
    bundle.assert_empty();
    leaks.assert_clean();
}

/// Namespaces joined by `path`, as a pod's containers join its sandbox's: the second
/// container's process and an exec into it are in the first one's IPC and UTS namespaces
/// (its hostname stays the first one's), in a pid namespace of their own; joining a pid
/// namespace is refused.
#[test]
fn ipc_and_uts_namespaces_are_joined_by_path() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let process = |args: serde_json::Value| {
        serde_json::json!({"args": args, "cwd": "/", "env": ["PATH=/usr/bin:/bin"],
                           "user": {"uid": 0, "gid": 0}})
    };
    let bundle = Bundle::new(&scratch, process(serde_json::json!(["sleep", "1000"])));
    let out_file = scratch.dir().join("out");
    assert!(bundle.create("sandbox", &out_file).status.success());
    assert!(bundle.call(&["start", "sandbox"]).status.success());
    let sandbox: u32 =
        serde_json::from_slice::<serde_json::Value>(&bundle.call(&["state", "sandbox"]).stdout)
            .unwrap()["pid"]
            .as_u64()
            .unwrap() as u32;
    let ns = |pid: u32, kind: &str| {
        std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
            .unwrap()
            .display()
            .to_string()
    };
    let config = |namespaces: serde_json::Value| {
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(bundle.dir.join("config.json")).unwrap())
                .unwrap();
        config["process"] = process(serde_json::json!([
            "sh",
            "-c",
            "readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; hostname; exec sleep 1000"
        ]));
        config["hostname"] = serde_json::json!("not-set-in-a-joined-uts");
        config["linux"]["namespaces"] = namespaces;
        // furnace's own propagation, accepted as asked for.
        config["linux"]["rootfsPropagation"] = serde_json::json!("rslave");
        bundle.write(config);
    };
    config(serde_json::json!([
        {"type": "pid"}, {"type": "mount"},
        {"type": "ipc", "path": format!("/proc/{sandbox}/ns/ipc")},
        {"type": "uts", "path": format!("/proc/{sandbox}/ns/uts")}
    ]));
    let member_out = scratch.dir().join("member");
    let created = bundle.create("member", &member_out);
    assert!(
        created.status.success(),
        "{:?}",
        std::fs::read_to_string(&member_out)
    );
    assert!(bundle.call(&["start", "member"]).status.success());
    let expected = format!("{}\n{}\noci-test\n", ns(sandbox, "ipc"), ns(sandbox, "uts"));
    wait_until(DEADLINE, "the member's output", || {
        std::fs::read_to_string(&member_out).is_ok_and(|o| o.ends_with("oci-test\n"))
    });
    assert_eq!(std::fs::read_to_string(&member_out).unwrap(), expected);
    let member: u32 = std::fs::read_to_string(bundle.state.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(ns(member, "pid"), ns(sandbox, "pid"));
    let exec = bundle.call(&["exec", "member", "readlink", "/proc/self/ns/ipc"]);
    assert_eq!(
        text(&exec.stdout),
        format!("{}\n", ns(sandbox, "ipc")),
        "{exec:?}"
    );
    for id in ["member", "sandbox"] {
        assert!(bundle.call(&["delete", "--force", id]).status.success());
    }
    config(serde_json::json!([
        {"type": "pid", "path": format!("/proc/{}/ns/pid", std::process::id())},
        {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}
    ]));
    assert!(!bundle.create("bad", &out_file).status.success());
    let said = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        said.contains("joining a pid namespace is not supported"),
        "{said}"
    );
    bundle.assert_empty();
    leaks.assert_clean();
}
