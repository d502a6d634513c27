//! Issue 16: rootless podman driving `furnace-oci`, as a throw-away user with subordinate ids.
//! podman runs the runtime as root of its own user namespace (the user outside); furnace-oci
//! keeps its state under the user's `XDG_RUNTIME_DIR` and reaches a container's namespaces
//! through `/proc` for an `exec`, its PID 1 being the container's program, and takes the
//! device nodes podman binds in for `--device`. The network is
//! `none`: slirp4netns cannot open `/dev/net/tun` on this kind of machine. The user's podman
//! processes (its pause process included), storage and the user itself are removed
//! afterwards, also when the test fails.

use std::path::PathBuf;
use std::process::{Command, Output};

use furnace_tests::*;

/// The user's podman: its home, runtime directory and furnace-oci's copy.
struct RootlessPodman {
    user: TestUser,
    home: TempDir,
    run: TempDir,
    oci: PathBuf,
}

impl RootlessPodman {
    fn new() -> RootlessPodman {
        let user = TestUser::create(true);
        let home = user.owned_dir("podman-home");
        let run = user.owned_dir("podman-run");
        std::fs::set_permissions(
            run.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let oci = user.install(oci_binary());
        RootlessPodman {
            user,
            home,
            run,
            oci,
        }
    }

    /// `podman --runtime OCI ARGS...` as the user.
    fn podman(&self, args: &[&str]) -> Output {
        self.user
            .command("podman")
            .env("HOME", self.home.path())
            .env("XDG_RUNTIME_DIR", self.run.path())
            .env("XDG_DATA_HOME", self.home.join("data"))
            .env("XDG_CONFIG_HOME", self.home.join("config"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .arg("--runtime")
            .arg(&self.oci)
            .args(args)
            .output()
            .expect("run podman")
    }
}

impl Drop for RootlessPodman {
    fn drop(&mut self) {
        let _ = self.podman(&["rm", "--all", "--force", "--time", "0"]);
        let _ = self.podman(&["rmi", "--all", "--force"]);
        // podman's pause process (it holds the user namespace) and anything else of the user.
        let uid = self.user.uid().to_string();
        let _ = Command::new("pkill").args(["-KILL", "-U", &uid]).status();
        wait_until(DEADLINE, "the test user's processes to end", || {
            Command::new("pgrep")
                .args(["-U", &uid])
                .output()
                .is_ok_and(|o| o.stdout.is_empty())
        });
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn rootless_podman_runs_execs_and_removes_containers_through_furnace_oci() {
    let _scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    {
        let p = RootlessPodman::new();
        let uid = p.user.uid();
        // The image: the test image as a tar the user can read.
        let images = TempDir::new("podman-rootless-image");
        let tar = images.join("image.tar");
        let made = Command::new("tar")
            .arg("-C")
            .arg(image())
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(made.success(), "tar of the image");
        std::fs::set_permissions(&tar, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        let imported = p.podman(&["import", tar.to_str().unwrap(), "localhost/rootless:1"]);
        assert!(imported.status.success(), "podman import: {imported:?}");
        // Output and exit status; root inside is the user outside.
        let run = p.podman(&[
            "run",
            "--rm",
            "--network",
            "none",
            "localhost/rootless:1",
            "sh",
            "-c",
            "echo hi from $$; head -1 /proc/self/uid_map; exit 7",
        ]);
        assert_eq!(run.status.code(), Some(7), "{run:?}");
        let said = text(&run.stdout);
        let mut lines = said.lines();
        assert_eq!(lines.next(), Some("hi from 1"), "{run:?}");
        let map: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        assert_eq!(map, ["0", &uid.to_string(), "1"], "{run:?}");
        // `--device`: rootless podman binds the host's node (with `rslave`, moot for a file).
        let device = p.podman(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--device",
            "/dev/kmsg",
            "localhost/rootless:1",
            "stat",
            "-c",
            "%t:%T %F",
            "/dev/kmsg",
        ]);
        assert!(device.status.success(), "{device:?}");
        assert_eq!(
            text(&device.stdout),
            "1:b character special file\n",
            "{device:?}"
        );
        // A detached container, an exec into it (through /proc: PID 1 is the program), rm.
        let started = p.podman(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "kept",
            "localhost/rootless:1",
            "sleep",
            "1000",
        ]);
        assert!(started.status.success(), "{started:?}");
        let exec = p.podman(&["exec", "kept", "sh", "-c", "echo exec in $$; exit 3"]);
        assert_eq!(exec.status.code(), Some(3), "{exec:?}");
        assert_eq!(text(&exec.stdout), "exec in 2\n", "{exec:?}");
        let rm = p.podman(&["rm", "--force", "--time", "0", "kept"]);
        assert!(rm.status.success(), "{rm:?}");
        let state = p.run.join("furnace-oci/containers");
        let left: Vec<_> = std::fs::read_dir(&state)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{} holds {left:?}", state.display());
    }
    leaks.assert_clean();
}
