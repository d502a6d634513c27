//! The OCI rows (issue 16): `furnace-oci` against runc, side by side, round by round — the
//! runtimes' own `create`, `start`, wait, `delete` on one bundle over the read-only image, and
//! `podman run --rm IMAGE /bin/true` with each as podman's runtime. Issue 16's target: podman
//! with furnace-oci at most [`TARGET`]× its time with runc.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crate::stats::Samples;

pub(crate) const OCI_CYCLE: &str = "furnace-oci: create, start, delete";
pub(crate) const RUNC_CYCLE: &str = "runc: create, start, delete";
pub(crate) const PODMAN_OCI: &str = "podman run --rm, furnace-oci";
pub(crate) const PODMAN_RUNC: &str = "podman run --rm, runc";

/// The target: podman with furnace-oci at most this many times its time with runc.
pub(crate) const TARGET: f64 = 0.8;

/// The section: its rows, or why it was left out.
#[derive(Debug, Default)]
pub(crate) struct Oci {
    pub rows: Vec<(String, Samples)>,
    pub left_out: Option<String>,
    /// The runtime's own share of a `podman run --rm`, timed by [`wrapper_mode`]: mean
    /// milliseconds of its calls per run, furnace-oci's and runc's, and the runs timed.
    pub share: Option<(f64, f64, usize)>,
}

/// The file name under which furnace-bench, linked into the work directory, stands in for a
/// runtime podman calls (`WORK/wrap-N/oci-runtime`): it runs the runtime `WORK/wrap-N/real`
/// names with the same arguments and appends each call's microseconds to `WORK/wrap-N/log`.
pub(crate) const WRAPPER_NAME: &str = "oci-runtime";

/// When this process was called as such a wrapper: runs the real runtime, logs its time and
/// exits with its status (its stdio and fds are the runtime's).
pub(crate) fn wrapper_mode() -> Option<ExitCode> {
    let argv0 = PathBuf::from(std::env::args_os().next()?);
    if argv0.file_name()? != WRAPPER_NAME {
        return None;
    }
    let dir = argv0.parent()?;
    let Ok(real) = std::fs::read_to_string(dir.join("real")) else {
        eprintln!("furnace-bench: {} names no runtime", dir.display());
        return Some(ExitCode::from(127));
    };
    let start = Instant::now();
    let status = Command::new(real.trim())
        .args(std::env::args_os().skip(1))
        .status();
    let took = start.elapsed();
    if let Ok(mut log) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("log"))
    {
        let _ = writeln!(log, "{}", took.as_micros());
    }
    Some(match status {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            let code = status
                .code()
                .or_else(|| status.signal().map(|s| 128 + s))
                .unwrap_or(1);
            ExitCode::from(code as u8)
        }
        Err(e) => {
            eprintln!("furnace-bench: run {}: {e}", real.trim());
            ExitCode::from(127)
        }
    })
}

/// What one round runs of each kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counts {
    pub rounds: usize,
    pub cycles: usize,
    pub podman_runs: usize,
}

/// Measures the rows over `image` (the read-only image) with `oci`, when runc and podman are
/// installed (else the section says why not).
pub(crate) fn measure(image: &Path, oci: Option<&Path>, counts: Counts) -> Result<Oci, String> {
    let Some(oci) = oci else {
        return Ok(left_out("no furnace-oci binary was given (--oci)"));
    };
    let (Some(runc), Some(podman)) = (
        crate::rootless::find_program("runc"),
        crate::rootless::find_program("podman"),
    ) else {
        return Ok(left_out("runc or podman is not installed"));
    };
    let mut work = Work::new(image)?;
    let runtimes = [(OCI_CYCLE, oci.to_path_buf()), (RUNC_CYCLE, runc.clone())];
    work.runtimes = runtimes.iter().map(|(_, rt)| rt.clone()).collect();
    let mut cycles: Vec<Samples> = vec![Samples::default(); 2];
    let mut runs: Vec<Samples> = vec![Samples::default(); 2];
    // One untimed run of each first: a warm-up, and a check that each works here.
    for (i, (_, rt)) in runtimes.iter().enumerate() {
        work.cycle(rt, &format!("bench-warm-{i}"))?;
        work.podman_run(&podman, rt)?;
    }
    let mut n = 0;
    for round in 0..counts.rounds {
        eprint!(
            "\r[bench] OCI runtimes: round {}/{}",
            round + 1,
            counts.rounds
        );
        for (i, (_, rt)) in runtimes.iter().enumerate() {
            for _ in 0..counts.cycles {
                n += 1;
                cycles[i].push(work.cycle(rt, &format!("bench-{n}"))?);
            }
            for _ in 0..counts.podman_runs {
                runs[i].push(work.podman_run(&podman, rt)?);
            }
        }
    }
    eprintln!();
    // The runtimes' share of a podman run: the same runs with each runtime behind a wrapper
    // that times its calls (separate runs, so the rows above carry no wrapper).
    let mut share = [0.0f64; 2];
    let timed = counts.rounds.max(3);
    for (i, (_, rt)) in runtimes.iter().enumerate() {
        let wrapper = work.wrapper(i, rt)?;
        for _ in 0..timed {
            work.podman_run(&podman, &wrapper)?;
        }
        let log = std::fs::read_to_string(wrapper.with_file_name("log")).unwrap_or_default();
        let micros: f64 = log
            .lines()
            .filter_map(|l| l.trim().parse::<f64>().ok())
            .sum();
        share[i] = micros / 1000.0 / timed as f64;
    }
    let [oci_cycles, runc_cycles] = [cycles.remove(0), cycles.remove(0)];
    let [oci_runs, runc_runs] = [runs.remove(0), runs.remove(0)];
    Ok(Oci {
        rows: vec![
            (OCI_CYCLE.into(), oci_cycles),
            (RUNC_CYCLE.into(), runc_cycles),
            (PODMAN_OCI.into(), oci_runs),
            (PODMAN_RUNC.into(), runc_runs),
        ],
        left_out: None,
        share: Some((share[0], share[1], timed)),
    })
}

fn left_out(why: &str) -> Oci {
    Oci {
        rows: Vec::new(),
        left_out: Some(why.to_owned()),
        share: None,
    }
}

/// The bundle, the runtimes' state directory, podman's image and cgroup parent; all removed on
/// drop.
struct Work {
    dir: PathBuf,
    image: String,
    parent: String,
    /// The runtimes, for deleting what an interrupted run left.
    runtimes: Vec<PathBuf>,
    /// The runtimes' default state directories podman's runs use (`/run/furnace-oci`,
    /// `/run/runc`) that did not exist before: removed again, once empty.
    made_roots: Vec<&'static Path>,
}

/// The state directories podman's runs leave the runtimes to make.
const DEFAULT_ROOTS: [&str; 2] = ["/run/furnace-oci", "/run/runc"];

impl Work {
    fn new(root: &Path) -> Result<Work, String> {
        let tag = format!("furnace-bench-oci-{}", std::process::id());
        let dir = std::env::temp_dir().join(&tag);
        std::fs::create_dir_all(dir.join("bundle")).map_err(|e| e.to_string())?;
        let work = Work {
            dir,
            image: format!("localhost/{tag}:1"),
            parent: format!("/{tag}"),
            runtimes: Vec::new(),
            made_roots: (DEFAULT_ROOTS.iter().map(Path::new))
                .filter(|p| !p.exists())
                .collect(),
        };
        let caps = ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_SETGID"];
        let config = serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": root, "readonly": true},
            "hostname": "bench",
            "process": {
                "user": {"uid": 0, "gid": 0},
                "args": ["/bin/true"],
                "env": ["PATH=/usr/bin:/bin"],
                "cwd": "/",
                "capabilities": {"bounding": caps, "effective": caps, "permitted": caps}
            },
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                 "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                 "options": ["nosuid", "noexec", "nodev", "ro"]}
            ],
            "linux": {"namespaces": [
                {"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"},
                {"type": "network"}
            ]}
        });
        std::fs::write(work.dir.join("bundle/config.json"), config.to_string())
            .map_err(|e| e.to_string())?;
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(root)
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("tar: {e}"))?;
        let imported = Command::new("podman")
            .args(["import", "-", &work.image])
            .stdin(tar.stdout.take().ok_or("tar's stdout")?)
            .output()
            .map_err(|e| format!("podman import: {e}"))?;
        let _ = tar.wait();
        if !imported.status.success() {
            return Err(format!("podman import: {imported:?}"));
        }
        Ok(work)
    }

    /// `create`, `start`, wait for the process to end, `delete`, timed.
    fn cycle(&self, runtime: &Path, id: &str) -> Result<Duration, String> {
        let state = self.dir.join("state");
        let pid_file = self.dir.join(format!("{id}.pid"));
        // Stderr to a file, not a pipe: the container's process inherits `create`'s stdio and
        // keeps it open until it ends, so a pipe would never reach its end.
        let err_file = self.dir.join(format!("{id}.err"));
        let call = |args: &[&std::ffi::OsStr]| -> Result<(), String> {
            let err = std::fs::File::create(&err_file).map_err(|e| e.to_string())?;
            let status = Command::new(runtime)
                .arg("--root")
                .arg(&state)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err)
                .status()
                .map_err(|e| format!("{}: {e}", runtime.display()))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{} {args:?}: {}",
                    runtime.display(),
                    std::fs::read_to_string(&err_file)
                        .unwrap_or_default()
                        .trim()
                ))
            }
        };
        let bundle = self.dir.join("bundle");
        let start = Instant::now();
        call(&[
            "create".as_ref(),
            "--bundle".as_ref(),
            bundle.as_os_str(),
            "--pid-file".as_ref(),
            pid_file.as_os_str(),
            id.as_ref(),
        ])?;
        let pid: u32 = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .ok_or("no pid in the pid file")?;
        let init = furnace_sys::process::Pidfd::open(pid).map_err(|e| e.to_string())?;
        call(&["start".as_ref(), id.as_ref()])?;
        init.wait_exit_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        call(&["delete".as_ref(), id.as_ref()])?;
        let took = start.elapsed();
        let _ = std::fs::remove_file(&pid_file);
        let _ = std::fs::remove_file(&err_file);
        Ok(took)
    }

    /// A wrapper of `runtime` (see [`WRAPPER_NAME`]) in `WORK/wrap-N/`: its path.
    fn wrapper(&self, n: usize, runtime: &Path) -> Result<PathBuf, String> {
        let dir = self.dir.join(format!("wrap-{n}"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let real = runtime.to_str().ok_or("a runtime path that is not UTF-8")?;
        std::fs::write(dir.join("real"), real).map_err(|e| e.to_string())?;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let link = dir.join(WRAPPER_NAME);
        std::os::unix::fs::symlink(exe, &link).map_err(|e| format!("{}: {e}", link.display()))?;
        Ok(link)
    }

    /// `podman --runtime RUNTIME run --rm … IMAGE /bin/true`, timed.
    fn podman_run(&self, podman: &Path, runtime: &Path) -> Result<Duration, String> {
        let start = Instant::now();
        let out = Command::new(podman)
            .arg("--runtime")
            .arg(runtime)
            .args(["run", "--rm", "--cgroup-parent", &self.parent])
            .args([
                "--ulimit",
                "nofile=20000:20000",
                "--ulimit",
                "nproc=4096:4096",
            ])
            .args([&self.image, "/bin/true"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("podman: {e}"))?;
        let took = start.elapsed();
        if out.status.success() {
            Ok(took)
        } else {
            Err(format!(
                "podman --runtime {} run: {}",
                runtime.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        // Containers a failed cycle left: runc keeps `STATE/ID/`, furnace-oci
        // `STATE/containers/ID/`.
        let state = self.dir.join("state");
        for dir in [state.clone(), state.join("containers")] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let id = entry.file_name().to_string_lossy().into_owned();
                if matches!(id.as_str(), "containers" | "registry") {
                    continue;
                }
                for runtime in &self.runtimes {
                    let _ = Command::new(runtime)
                        .arg("--root")
                        .arg(&state)
                        .args(["delete", "--force", &id])
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                }
            }
        }
        let _ = Command::new("podman")
            .args(["rmi", "-f", &self.image])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
        for root in &self.made_roots {
            for sub in ["containers", "registry", ""] {
                let _ = std::fs::remove_dir(root.join(sub));
            }
        }
        // The cgroup parent podman named, in every hierarchy: empty once its runs are gone.
        let name = self.parent.trim_start_matches('/');
        if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
            for entry in entries.flatten() {
                let dir = entry.path().join(name);
                if let Ok(children) = std::fs::read_dir(&dir) {
                    for child in children.flatten() {
                        if child.file_type().is_ok_and(|t| t.is_dir()) {
                            let _ = std::fs::remove_dir(child.path());
                        }
                    }
                }
                let _ = std::fs::remove_dir(&dir);
            }
        }
    }
}

fn median_of(section: &Oci, name: &str) -> Option<f64> {
    section
        .rows
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s.median())
}

/// The summary lines.
pub(crate) fn summary(out: &mut String, section: &Oci) {
    let ratio = |a, b| Some(median_of(section, a)? / median_of(section, b)?);
    let show = |r: Option<f64>| r.map_or("–".to_owned(), |r| format!("{r:.2}"));
    if let Some(why) = &section.left_out {
        let _ = writeln!(out, "| OCI rows | **not measured: {why}** |");
        return;
    }
    let _ = writeln!(
        out,
        "| OCI: `podman run --rm`, furnace-oci ÷ runc (target ≤ {TARGET:.2}) | {} |",
        show(ratio(PODMAN_OCI, PODMAN_RUNC))
    );
    let _ = writeln!(
        out,
        "| OCI: create + start + delete, furnace-oci ÷ runc | {} |",
        show(ratio(OCI_CYCLE, RUNC_CYCLE))
    );
    if let (Some((_, runc, _)), Some(total)) = (section.share, median_of(section, PODMAN_RUNC)) {
        let _ = writeln!(
            out,
            "| OCI: `podman run --rm` with a runtime that cost nothing ÷ runc (the floor) | {:.2} |",
            (total - runc * 1000.0) / total
        );
    }
}

/// The section's table.
pub(crate) fn markdown(out: &mut String, section: &Oci) {
    let _ = writeln!(
        out,
        "### OCI runtimes — furnace-oci against runc\n\n\
         The runtimes' own lifecycle on one bundle over the read-only image (`create \
         --pid-file`, `start`, wait for `/bin/true` to end, `delete`; each a process of its \
         own, as engines call them), and `podman run --rm IMAGE /bin/true` (podman 4.3 with \
         conmon, the image imported from the same root, `--cgroup-parent` of the bench's own) \
         with each runtime, interleaved round by round. Target (issue 16): podman with \
         furnace-oci at most {TARGET:.1}× its time with runc.\n"
    );
    match &section.left_out {
        Some(why) => {
            let _ = writeln!(out, "Not measured: {why}.\n");
        }
        None => crate::report::table_rows(out, &section.rows, RUNC_CYCLE),
    }
    if let (Some((oci, runc, runs)), Some(runc_total)) =
        (section.share, median_of(section, PODMAN_RUNC))
    {
        // The medians are in microseconds, the shares in milliseconds.
        let own = (runc_total - runc * 1000.0) / 1000.0;
        let _ = writeln!(
            out,
            "Where a `podman run --rm` goes: timed by a wrapper around the runtime ({runs} \
             runs each), furnace-oci's calls (`create`, `start`, `delete`) take {oci:.1} ms \
             of each run and runc's {runc:.1} ms. The rest of runc's run, about {own:.0} ms, \
             is podman's and conmon's own work, the same whichever runtime they call: even a \
             runtime that cost nothing would leave podman at {:.2}× its time with runc, above \
             the {TARGET:.1}× target.\n",
            own * 1000.0 / runc_total
        );
    }
}
