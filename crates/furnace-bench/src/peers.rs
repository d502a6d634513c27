//! The tools furnace is compared with, each run as a command on the same root.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::stats::Samples;

/// Which tool a [`Peer`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tool {
    /// `furnace run` (the CLI of this workspace), as `cargo build --release` makes it:
    /// statically linked on glibc (`.cargo/config.toml`), no dynamic loader at start.
    Cli,
    /// The same CLI linked dynamically against glibc (built with `RUSTFLAGS=""`), for
    /// reference: what the dynamic loader costs every start.
    CliDynamic,
    /// bubblewrap, with the same namespaces.
    Bwrap,
    /// The original Python furnace 0.0.10, driven by a small script in-process.
    Python,
    /// util-linux `unshare` with a new root: the floor of namespace creation.
    Unshare,
    /// `/bin/true` of the root run directly on the host: the physical floor.
    Host,
}

/// The CLI rows' names, which the report looks up.
pub(crate) const CLI: &str = "furnace (CLI)";
pub(crate) const CLI_DYNAMIC: &str = "furnace (CLI, dynamic glibc)";

/// One peer, ready to run.
#[derive(Debug)]
pub(crate) struct Peer {
    pub tool: Tool,
    root: PathBuf,
    program: PathBuf,
    driver: Option<PathBuf>,
    /// Options of `furnace run` before the root (the CLIs only): the limits rows' `--memory`
    /// and the like.
    run_options: Vec<OsString>,
}

/// A Python driver for the original furnace: it times each iteration in-process (interpreter
/// start-up excluded) and prints nanoseconds, one per line.
const PYTHON_DRIVER: &str = r#"
import subprocess, sys, time
from pathlib import Path
from furnace.context import ContainerContext

mode, root, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
if mode.startswith("lifecycle"):
    for _ in range(n):
        t = time.perf_counter_ns()
        with ContainerContext(root, isolate_networking=(mode == "lifecycle-isolated")) as c:
            c.run(["/bin/true"], check=True)
        print(time.perf_counter_ns() - t)
elif mode == "spawn":
    with ContainerContext(root) as c:
        for _ in range(n):
            t = time.perf_counter_ns()
            c.run(["/bin/true"], check=True)
            print("in", time.perf_counter_ns() - t)
            t = time.perf_counter_ns()
            subprocess.run([str(root / "bin/true")], check=True)
            print("host", time.perf_counter_ns() - t)
elif mode == "memory":
    with ContainerContext(root) as c:
        time.sleep(0.1)
        total = 0
        with open(f"/proc/{c.pid1.pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Private_"):
                    total += int(line.split()[1])
        print(total)
"#;

impl Peer {
    /// The peers available on this machine (Python only when a venv is given).
    pub fn all(
        root: &Path,
        cli: &Path,
        cli_dynamic: Option<&Path>,
        python: Option<&Path>,
    ) -> Vec<Peer> {
        let peer = |tool, program: &Path| Peer {
            tool,
            root: root.into(),
            program: program.into(),
            driver: None,
            run_options: Vec::new(),
        };
        let mut peers = vec![peer(Tool::Cli, cli)];
        if let Some(cli_dynamic) = cli_dynamic {
            peers.push(peer(Tool::CliDynamic, cli_dynamic));
        }
        peers.push(peer(Tool::Bwrap, Path::new("bwrap")));
        if let Some(python) = python {
            let driver = std::env::temp_dir()
                .join(format!("furnace-bench-driver-{}.py", std::process::id()));
            if std::fs::File::create(&driver)
                .and_then(|mut f| f.write_all(PYTHON_DRIVER.as_bytes()))
                .is_ok()
            {
                peers.push(Peer {
                    tool: Tool::Python,
                    root: root.into(),
                    program: python.into(),
                    driver: Some(driver),
                    run_options: Vec::new(),
                });
            }
        }
        peers.push(peer(Tool::Unshare, Path::new("unshare")));
        peers.push(peer(Tool::Host, &root.join("bin/true")));
        peers
    }

    /// The CLI, `furnace run OPTIONS ROOT /bin/true`: the limits rows.
    pub fn cli_with(root: &Path, cli: &Path, options: &[&str]) -> Peer {
        Peer {
            tool: Tool::Cli,
            root: root.into(),
            program: cli.into(),
            driver: None,
            run_options: options.iter().map(OsString::from).collect(),
        }
    }

    /// How the tool is named in the report.
    pub fn name(&self) -> &'static str {
        match self.tool {
            Tool::Cli => CLI,
            Tool::CliDynamic => CLI_DYNAMIC,
            Tool::Bwrap => "bubblewrap",
            Tool::Python => "python furnace 0.0.10",
            Tool::Unshare => "unshare + new root",
            Tool::Host => "host /bin/true",
        }
    }

    fn command(&self, isolated: bool) -> Command {
        let root = &self.root;
        match self.tool {
            Tool::Cli | Tool::CliDynamic => {
                let mut c = Command::new(&self.program);
                c.arg("run").args(&self.run_options);
                if isolated {
                    c.arg("--isolate-net");
                }
                c.arg(root).arg("/bin/true");
                c
            }
            Tool::Bwrap => {
                let mut c = Command::new(&self.program);
                c.args(bwrap_args(root, isolated));
                c
            }
            Tool::Unshare => {
                let mut c = Command::new(&self.program);
                c.args(["--fork", "--pid", "--mount", "--uts", "--ipc", "--cgroup"]);
                if isolated {
                    c.arg("--net");
                }
                c.arg(format!("--root={}", root.display())).arg("/bin/true");
                c
            }
            Tool::Host => Command::new(&self.program),
            Tool::Python => unreachable!("the Python peer runs through its driver"),
        }
    }

    /// `runs` lifecycles (start, `/bin/true`, teardown).
    pub fn lifecycle(&self, isolated: bool, runs: usize) -> Result<Samples, String> {
        if self.tool == Tool::Python {
            let mode = if isolated {
                "lifecycle-isolated"
            } else {
                "lifecycle"
            };
            let out = self.python(mode, runs)?;
            let mut samples = Samples::default();
            for line in out.lines() {
                samples.push(nanos(line)?);
            }
            return Ok(samples);
        }
        let mut samples = Samples::default();
        for _ in 0..runs {
            let mut command = self.command(isolated);
            command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let start = Instant::now();
            let out = command
                .output()
                .map_err(|e| format!("{}: {e}", self.name()))?;
            samples.push(start.elapsed());
            if !out.status.success() {
                return Err(format!(
                    "{} failed ({}): {}",
                    self.name(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(samples)
    }

    /// Spawn inside a running Python furnace context, and on the host from Python.
    pub fn python_spawn(&self, runs: usize) -> Result<(Samples, Samples), String> {
        let out = self.python("spawn", runs)?;
        let (mut inside, mut host) = (Samples::default(), Samples::default());
        for line in out.lines() {
            match line.split_once(' ') {
                Some(("in", ns)) => inside.push(nanos(ns)?),
                Some(("host", ns)) => host.push(nanos(ns)?),
                _ => return Err(format!("python driver printed {line:?}")),
            }
        }
        Ok((inside, host))
    }

    /// PID 1's private memory, for the tools where PID 1 can be found.
    pub fn pid1_private_kib(&self) -> Result<Option<u64>, String> {
        match self.tool {
            Tool::Python => {
                let out = self.python("memory", 1)?;
                out.trim()
                    .parse()
                    .map(Some)
                    .map_err(|e| format!("python memory: {e}"))
            }
            Tool::Bwrap => self.bwrap_pid1_kib().map(Some),
            _ => Ok(None),
        }
    }

    /// bubblewrap's PID 1 is the child of the outer `bwrap` process.
    fn bwrap_pid1_kib(&self) -> Result<u64, String> {
        let command = self.command(false);
        let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
        let mut command = Command::new(&self.program);
        command
            .args(&args[..args.len() - 1])
            .args(["/bin/sleep", "5"]);
        let mut child = command
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("bwrap: {e}"))?;
        std::thread::sleep(Duration::from_millis(300));
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id()));
        let result = match children
            .ok()
            .and_then(|c| c.split_whitespace().next()?.parse::<u32>().ok())
        {
            Some(pid1) => crate::private_kib(pid1),
            None => Err("bwrap: cannot find its PID 1".into()),
        };
        let _ = child.kill();
        let _ = child.wait();
        result
    }

    fn python(&self, mode: &str, runs: usize) -> Result<String, String> {
        let driver = self.driver.as_ref().ok_or("no python driver")?;
        let out = Command::new(&self.program)
            .arg(driver)
            .arg(mode)
            .arg(&self.root)
            .arg(runs.to_string())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("python furnace: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "python furnace {mode} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        String::from_utf8(out.stdout).map_err(|e| format!("python furnace: {e}"))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(driver) = &self.driver {
            let _ = std::fs::remove_file(driver);
        }
    }
}

/// bubblewrap's arguments for a lifecycle with the namespaces and file systems furnace gives a
/// container: the root-mode row uses them as they are, the rootless row adds `--unshare-user`.
pub(crate) fn bwrap_args(root: &Path, isolated: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
    ]
    .map(OsString::from)
    .into();
    if isolated {
        args.push("--unshare-net".into());
    }
    args.extend(bwrap_file_systems(root));
    args.extend(["--die-with-parent", "/bin/true"].map(OsString::from));
    args
}

/// bubblewrap's sandbox, the hardened rows' peer: every namespace but the network (a user
/// namespace too, `--unshare-all`'s `--unshare-user-try`, which as root maps root to itself),
/// a session of its own, no capability, and the root-mode row's file systems.
pub(crate) fn bwrap_sandbox_args(root: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "--unshare-all",
        "--share-net",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
    ]
    .map(OsString::from)
    .into();
    args.extend(bwrap_file_systems(root));
    args.push("/bin/true".into());
    args
}

/// The root bound at `/`, `/proc`, `/dev`, the host's `/sys` read-only, a tmpfs on `/run`, and
/// the hostname: what every bubblewrap row mounts.
fn bwrap_file_systems(root: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["--bind".into(), root.into(), "/".into()];
    args.extend(
        [
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--ro-bind",
            "/sys",
            "/sys",
            "--tmpfs",
            "/run",
            "--hostname",
            "localhost",
        ]
        .map(OsString::from),
    );
    args
}

pub(crate) fn nanos(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse()
        .map(Duration::from_nanos)
        .map_err(|e| format!("bad timing {text:?}: {e}"))
}
