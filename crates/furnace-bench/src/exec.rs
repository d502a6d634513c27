//! The exec rows: one more command in a running named container, from another process —
//! `furnace exec NAME -- /bin/true` against `nsenter --all --target PID1 /bin/true`.
//!
//! The bench starts one named container with `furnace --state-dir DIR start` (the root of the
//! other rows, host network; DIR a throw-away `/tmp/furnace-bench-exec.*`, and a `--timeout` as
//! a backstop should the bench be killed), finds PID 1 with `list --json` (checked against the
//! registry), and then times, interleaved round by round (the order rotating):
//!
//! - `furnace exec NAME -- /bin/true` with each CLI the other rows use (the default release
//!   build, statically linked on glibc, and the dynamically linked one for reference): a
//!   process that parses its arguments, reads `DIR/NAME/state.json`, opens a pidfd of PID 1
//!   checked against its start time, forks into the pid namespace, joins the others with one
//!   `setns` on the pidfd (which also sets root and cwd to the container's root), execs and
//!   waits;
//! - `nsenter --all --target PID1 /bin/true` (util-linux), the issue's reference: it opens each
//!   of PID 1's namespace files and joins each with a `setns` of its own (the container's mount,
//!   UTS, IPC, pid and cgroup namespaces, and its network and time namespaces, which are the
//!   host's; the user namespace is skipped, being the caller's), forks for the pid namespace,
//!   execs and waits. Joining the mount namespace alone already puts root and cwd at the
//!   container's root, as for furnace, so this is the like-for-like row and the ratio's
//!   reference;
//! - `nsenter --all --target PID1 --root --wd /bin/true`: the same plus an explicit `chroot` and
//!   `chdir` to PID 1's root and cwd (through `/proc/PID1/root` and `cwd`), shown beside it;
//! - the library in-process, `Registry::attach` then `command("/bin/true").output()`: what
//!   attaching and spawning cost without a process start of furnace's own.
//!
//! Every command runs with `LC_ALL=C`: nsenter, a C program, loads the caller's locale at start
//! (with `C.UTF-8`, some 30 more files opened or looked for, 0.1–0.25 ms), furnace ignores it, so the reference does
//! not depend on the machine's locale and is the strictest. When the caller has another locale,
//! one more row shows nsenter in it.
//!
//! Before timing, one untimed run of each (also a warm-up) checks that the command lands in
//! PID 1's namespaces (all eight kinds) and at its root and working directory. The container is
//! stopped with `furnace stop` at the end, and on every error path by the library; its state
//! directory is removed. Issue 13's target: `furnace exec` at most 1.3× `nsenter --all`.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use furnace_core::Registry;
use furnace_sys::process::ProcStat;

use crate::stats::Samples;
use crate::Plan;

/// The row names the report looks up.
pub(crate) const CLI: &str = "furnace exec (CLI)";
pub(crate) const CLI_DYNAMIC: &str = "furnace exec (CLI, dynamic glibc)";
pub(crate) const NSENTER: &str = "nsenter --all";
pub(crate) const NSENTER_ROOT: &str = "nsenter --all --root --wd";
pub(crate) const LIBRARY: &str = "furnace (library): attach + /bin/true";

/// The issue's target: `furnace exec` at most this many times `nsenter --all`.
pub(crate) const TARGET: f64 = 1.3;

/// The container's name.
const NAME: &str = "bench-exec";

/// The container ends on its own after this, should the bench die without stopping it.
const BACKSTOP: &str = "15m";

/// Every namespace kind a command could be in (`/proc/PID/ns/*`).
const NAMESPACES: [&str; 8] = ["mnt", "uts", "ipc", "pid", "net", "cgroup", "user", "time"];

/// Prints, inside the container, the namespaces, root and working directory of the shell.
const CHECK_SCRIPT: &str = "for n in mnt uts ipc pid net cgroup user time; do \
                            echo \"$n $(readlink /proc/self/ns/$n)\"; done; \
                            stat -c 'root %d:%i' /; stat -c 'cwd %d:%i' .";

/// One row: its samples, and their 99th percentile.
#[derive(Debug, Clone, Default)]
pub(crate) struct Row {
    pub name: String,
    pub samples: Samples,
    micros: Vec<f64>,
}

impl Row {
    fn new(name: &str) -> Row {
        Row {
            name: name.to_owned(),
            ..Row::default()
        }
    }

    fn push(&mut self, d: Duration) {
        self.samples.push(d);
        self.micros.push(d.as_secs_f64() * 1e6);
    }

    /// The 99th percentile, in µs.
    pub fn p99(&self) -> f64 {
        let mut v = self.micros.clone();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return f64::NAN;
        }
        let pos = 0.99 * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    }
}

/// One way of running `/bin/true` in the container.
#[derive(Debug)]
enum Way {
    /// `furnace --state-dir DIR exec NAME -- ARGS`.
    Cli(PathBuf),
    /// `nsenter --all --target PID1 [--root --wd] ARGS`, in the C locale or the caller's.
    Nsenter {
        root_and_wd: bool,
        callers_locale: bool,
    },
    /// `Registry::attach`, then the command, in this process.
    Library,
}

/// The rows, in the order reported: the CLIs, the two nsenters, the library.
pub(crate) fn measure(
    root: &Path,
    cli: &Path,
    cli_dynamic: Option<&Path>,
    plan: Plan,
) -> Result<Vec<Row>, String> {
    let nsenter = |root_and_wd, callers_locale| Way::Nsenter {
        root_and_wd,
        callers_locale,
    };
    let mut ways = vec![(CLI.to_owned(), Way::Cli(cli.into()))];
    if let Some(cli_dynamic) = cli_dynamic {
        ways.push((CLI_DYNAMIC.to_owned(), Way::Cli(cli_dynamic.into())));
    }
    ways.push((NSENTER.to_owned(), nsenter(false, false)));
    if let Some(locale) = callers_locale() {
        ways.push((
            format!("{NSENTER}, caller's locale ({locale})"),
            nsenter(false, true),
        ));
    }
    ways.push((NSENTER_ROOT.to_owned(), nsenter(true, false)));
    ways.push((LIBRARY.to_owned(), Way::Library));

    let mut named = Named::start(root, cli)?;
    let result = (|| {
        let pid1 = named.pid1()?;
        eprintln!("[bench] exec: container {NAME} started, PID 1 is pid {pid1}");
        let expected = Landing::of_pid(pid1)?;
        for (name, way) in &ways {
            let (_, out) = named.run(way, pid1, &["/bin/sh", "-c", CHECK_SCRIPT])?;
            let landed = Landing::parse(&out).map_err(|e| format!("{name}: {e}"))?;
            if landed != expected {
                return Err(format!(
                    "{name} did not land where PID 1 is: {landed:?}, PID 1 has {expected:?}"
                ));
            }
        }
        let mut rows: Vec<Row> = ways.iter().map(|(name, _)| Row::new(name)).collect();
        for round in 0..plan.rounds {
            eprint!("\r[bench] exec: round {}/{}", round + 1, plan.rounds);
            for k in 0..ways.len() {
                let k = (round + k) % ways.len();
                for _ in 0..plan.per_round {
                    let (elapsed, _) = named
                        .run(&ways[k].1, pid1, &["/bin/true"])
                        .map_err(|e| format!("{}: {e}", ways[k].0))?;
                    rows[k].push(elapsed);
                }
            }
        }
        eprintln!();
        Ok(rows)
    })();
    if result.is_err() {
        eprintln!();
    }
    let stopped = named.stop();
    let rows = result?;
    stopped?;
    Ok(rows)
}

/// The named container, stopped and its state directory removed when dropped (error paths).
#[derive(Debug)]
struct Named {
    cli: PathBuf,
    dir: PathBuf,
    done: bool,
}

impl Named {
    /// `furnace --state-dir DIR start --name NAME --timeout BACKSTOP ROOT` in a new DIR.
    fn start(root: &Path, cli: &Path) -> Result<Named, String> {
        let mut n = 0;
        let dir = loop {
            let dir = PathBuf::from(format!(
                "/tmp/furnace-bench-exec.{}.{n}",
                std::process::id()
            ));
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 100 => n += 1,
                Err(e) => return Err(format!("mkdir {}: {e}", dir.display())),
            }
        };
        // From here on, `Drop` stops whatever did start and removes the directory.
        let named = Named {
            cli: cli.into(),
            dir,
            done: false,
        };
        let out = named.cli_output(|c| {
            c.args(["start", "--name", NAME, "--timeout", BACKSTOP])
                .arg(root);
        })?;
        let printed = String::from_utf8_lossy(&out.stdout);
        if printed.trim() != NAME {
            return Err(format!(
                "furnace start printed {printed:?}, expected {NAME:?}"
            ));
        }
        Ok(named)
    }

    /// `furnace --state-dir DIR ARGS` to completion, stdout and stderr captured; an error
    /// unless it succeeded.
    fn cli_output(&self, args: impl FnOnce(&mut Command)) -> Result<Output, String> {
        let mut command = Command::new(&self.cli);
        command.arg("--state-dir").arg(&self.dir);
        args(&mut command);
        let shown = format!("{command:?}");
        let out = command
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{shown}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{shown} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(out)
    }

    /// PID 1's host pid as `furnace list --json` shows it, checked against the registry.
    fn pid1(&self) -> Result<u32, String> {
        let out = self.cli_output(|c| {
            c.args(["list", "--json"]);
        })?;
        let json = String::from_utf8_lossy(&out.stdout);
        let listed = listed_pid(&json, NAME)
            .ok_or_else(|| format!("furnace list --json shows no pid for {NAME}: {json}"))?;
        let info = Registry::at(&self.dir)
            .info(NAME)
            .map_err(|e| format!("registry: {e}"))?;
        if info.pid != listed {
            return Err(format!(
                "furnace list --json says PID 1 is {listed}, the registry {}",
                info.pid
            ));
        }
        Ok(listed)
    }

    /// Runs `argv` in the container `way`'s way, stdout captured, stderr checked: how long it
    /// took (from the spawn to the end of the wait; for the library, from the attach), and
    /// what it printed.
    fn run(&self, way: &Way, pid1: u32, argv: &[&str]) -> Result<(Duration, Vec<u8>), String> {
        let (program, rest) = argv.split_first().ok_or("no command")?;
        let mut command = match way {
            Way::Cli(cli) => {
                let mut c = Command::new(cli);
                c.arg("--state-dir")
                    .arg(&self.dir)
                    .args(["exec", NAME, "--"]);
                c
            }
            Way::Nsenter { root_and_wd, .. } => {
                let mut c = Command::new("nsenter");
                c.args(["--all", "--target", &pid1.to_string()]);
                if *root_and_wd {
                    c.args(["--root", "--wd"]);
                }
                c
            }
            Way::Library => {
                let start = Instant::now();
                let container = Registry::at(&self.dir)
                    .attach(NAME)
                    .map_err(|e| format!("attach: {e}"))?;
                let out = container
                    .command(program)
                    .args(rest)
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|e| format!("{program}: {e}"))?;
                let elapsed = start.elapsed();
                return checked(out, || program.to_string()).map(|out| (elapsed, out));
            }
        };
        if !matches!(
            way,
            Way::Nsenter {
                callers_locale: true,
                ..
            }
        ) {
            command.env("LC_ALL", "C");
        }
        command.arg(program).args(rest).stdin(Stdio::null());
        let start = Instant::now();
        let out = command.output().map_err(|e| format!("{command:?}: {e}"))?;
        let elapsed = start.elapsed();
        checked(out, || format!("{command:?}")).map(|out| (elapsed, out))
    }

    /// `furnace stop NAME`, then checks PID 1 is gone and removes the state directory. On
    /// failure the library stops it (in `Drop`).
    fn stop(&mut self) -> Result<(), String> {
        let pid1 = Registry::at(&self.dir).info(NAME).ok().map(|i| i.pid);
        let pid1 = pid1.and_then(|pid| Some((pid, ProcStat::read(pid)?.start_time)));
        self.cli_output(|c| {
            c.args(["stop", NAME]);
        })?;
        if let Some((pid, start_time)) = pid1 {
            // Gone, or a zombie its reaper has not collected yet (the bench is not its parent).
            let runs =
                ProcStat::read(pid).is_some_and(|s| s.start_time == start_time && !s.is_zombie());
            if runs {
                return Err(format!("PID 1 (pid {pid}) still runs after furnace stop"));
            }
        }
        fs::remove_dir_all(&self.dir).map_err(|e| format!("remove {}: {e}", self.dir.display()))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Err(e) = Registry::at(&self.dir).stop(NAME) {
            eprintln!("furnace-bench: warning: stop the container {NAME}: {e}");
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            if e.kind() != io::ErrorKind::NotFound {
                eprintln!("furnace-bench: warning: remove {}: {e}", self.dir.display());
            }
        }
    }
}

/// The locale the caller's environment selects (`LC_ALL`, else `LC_CTYPE`, else `LANG`),
/// unless it is the C locale.
fn callers_locale() -> Option<String> {
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|l| !l.is_empty()))?;
    (locale != "C" && locale != "POSIX").then_some(locale)
}

/// The stdout of a command that succeeded with nothing on stderr.
fn checked(out: Output, what: impl FnOnce() -> String) -> Result<Vec<u8>, String> {
    if !out.status.success() || !out.stderr.is_empty() {
        return Err(format!(
            "{} failed ({}): {}",
            what(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// The `"pid"` of the container `name` in `furnace list --json`'s output (one flat object per
/// container, no nesting).
fn listed_pid(json: &str, name: &str) -> Option<u32> {
    let wanted = format!("\"name\":\"{name}\"");
    let object = json
        .split('}')
        .find(|o| o.replace(' ', "").contains(&wanted))?;
    let after = object.split("\"pid\":").nth(1)?.trim_start();
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Where a command is: its namespaces (`kind:[inode]` by kind), and the device and inode of
/// its root and working directory.
#[derive(Debug, PartialEq, Eq)]
struct Landing {
    namespaces: Vec<(String, String)>,
    root: (u64, u64),
    cwd: (u64, u64),
}

impl Landing {
    /// PID 1's, read from the host.
    fn of_pid(pid: u32) -> Result<Landing, String> {
        let mut namespaces = Vec::new();
        for kind in NAMESPACES {
            let link = format!("/proc/{pid}/ns/{kind}");
            match fs::read_link(&link) {
                Ok(target) => namespaces.push((kind.to_owned(), target.display().to_string())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("readlink {link}: {e}")),
            }
        }
        let id = |what: &str| {
            let path = format!("/proc/{pid}/{what}");
            fs::metadata(&path)
                .map(|m| (m.dev(), m.ino()))
                .map_err(|e| format!("stat {path}: {e}"))
        };
        Ok(Landing {
            namespaces,
            root: id("root")?,
            cwd: id("cwd")?,
        })
    }

    /// What [`CHECK_SCRIPT`] printed.
    fn parse(output: &[u8]) -> Result<Landing, String> {
        let text = String::from_utf8_lossy(output);
        let mut landing = Landing {
            namespaces: Vec::new(),
            root: (0, 0),
            cwd: (0, 0),
        };
        let dev_ino = |v: &str| -> Option<(u64, u64)> {
            let (dev, ino) = v.split_once(':')?;
            Some((dev.parse().ok()?, ino.parse().ok()?))
        };
        for line in text.lines() {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            let value = value.trim();
            match key {
                "root" => landing.root = dev_ino(value).ok_or(format!("bad line {line:?}"))?,
                "cwd" => landing.cwd = dev_ino(value).ok_or(format!("bad line {line:?}"))?,
                // A kind the kernel lacks prints nothing after its name.
                _ if value.is_empty() => {}
                _ => landing.namespaces.push((key.to_owned(), value.to_owned())),
            }
        }
        if landing.root == (0, 0) || landing.cwd == (0, 0) {
            return Err(format!("the check printed {text:?}"));
        }
        Ok(landing)
    }
}

fn median_of(rows: &[Row], name: &str) -> Option<f64> {
    rows.iter()
        .find(|r| r.name == name)
        .map(|r| r.samples.median())
}

/// `row` ÷ `nsenter --all`, medians.
pub(crate) fn ratio(rows: &[Row], row: &str) -> Option<f64> {
    Some(median_of(rows, row)? / median_of(rows, NSENTER)?)
}

fn ms(us: f64) -> String {
    if !us.is_finite() {
        "–".to_owned()
    } else if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn show(ratio: Option<f64>) -> String {
    ratio.map_or("–".to_owned(), |r| format!("{r:.2}"))
}

/// The one-line progress report.
pub(crate) fn progress(rows: &[Row]) -> String {
    let line: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {:.0} µs", r.name, r.samples.median()))
        .collect();
    line.join(", ")
}

/// The summary's lines: each CLI against the target.
pub(crate) fn summary(out: &mut String, rows: &[Row]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "| exec: `furnace exec` (CLI) ÷ `nsenter --all` (target ≤ {TARGET}) | {} |",
        show(ratio(rows, CLI))
    );
    if median_of(rows, CLI_DYNAMIC).is_some() {
        let _ = writeln!(
            out,
            "| exec: `furnace exec` (CLI, dynamic glibc) ÷ `nsenter --all` (reference) | {} |",
            show(ratio(rows, CLI_DYNAMIC))
        );
    }
}

/// The section of the report.
pub(crate) fn markdown(out: &mut String, rows: &[Row]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "### One more `/bin/true` in a running named container, from another process — \
         `furnace exec` against `nsenter`\n\n\
         One container started with `furnace start` (host network), then, interleaved round by \
         round: `furnace exec NAME -- /bin/true` with each CLI (arguments, `state.json`, a pidfd \
         of PID 1 checked against its start time, a fork into its pid namespace, one `setns` \
         on the pidfd for the others, exec, wait); `nsenter --all --target PID1 /bin/true`, \
         which opens PID 1's namespace files and joins each with a `setns` of its own (mount, \
         UTS, IPC, pid, cgroup, and network and time, which are the host's here; the user \
         namespace is skipped, being the caller's), forks for the pid namespace, execs and \
         waits — joining the mount namespace puts root and working directory at the \
         container's root as furnace's join does, so this is the like-for-like reference; the \
         same with `--root --wd`, which also changes root and directory explicitly to PID 1's; \
         and the library in-process, `Registry::attach` and `command(\"/bin/true\")`, without a \
         process start of its own. Every command runs with `LC_ALL=C`: nsenter loads the \
         caller's locale at start and furnace does not, so the reference is the strictest and \
         the same on every machine (a row \"caller's locale\", when there is one, shows what \
         loading it costs nsenter). An untimed run of each first checks that the command lands \
         in PID 1's namespaces, root and working directory. The CLI row is the default \
         `cargo build --release` binary, statically linked on glibc through \
         `.cargo/config.toml`; the dynamic glibc row is the same code with the dynamic loader, \
         for reference. Target (issue 13): `furnace exec` at most {TARGET}× `nsenter --all`.\n"
    );
    let _ = writeln!(
        out,
        "| tool | median | p10 – p90 | p99 | runs | × {NSENTER} |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for row in rows {
        let (lo, hi) = row.samples.spread();
        let _ = writeln!(
            out,
            "| {} | {} | {} – {} | {} | {} | {} |",
            row.name,
            ms(row.samples.median()),
            ms(lo),
            ms(hi),
            ms(row.p99()),
            row.samples.len(),
            show(ratio(rows, &row.name))
        );
    }
    out.push('\n');
    let dynamic = if median_of(rows, CLI_DYNAMIC).is_some() {
        format!(
            ", **{}** for the dynamic glibc build, for reference",
            show(ratio(rows, CLI_DYNAMIC))
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "`furnace exec` ÷ `nsenter --all`: **{}** for the CLI (target ≤ {TARGET}){dynamic} \
         (medians).\n",
        show(ratio(rows, CLI))
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, us: &[u64]) -> Row {
        let mut r = Row::new(name);
        for &us in us {
            r.push(Duration::from_micros(us));
        }
        r
    }

    #[test]
    fn pid_from_list_json() {
        let json = r#"[{"age_seconds":0,"name":"other","pid":12,"root":"/r"},{"age_seconds":3,"created":1,"name":"bench-exec","pid":1707,"processes":1}]"#;
        assert_eq!(listed_pid(json, NAME), Some(1707));
        assert_eq!(listed_pid(json, "other"), Some(12));
        assert_eq!(listed_pid(json, "gone"), None);
        assert_eq!(listed_pid("[]", NAME), None);
    }

    #[test]
    fn landing_from_the_check() {
        let out = b"mnt mnt:[4026532191]\nuts uts:[4026532192]\ntime \n\
                    root 1792:2\ncwd 1792:2\n";
        let landing = Landing::parse(out).unwrap();
        assert_eq!(
            landing.namespaces,
            [
                ("mnt".to_owned(), "mnt:[4026532191]".to_owned()),
                ("uts".to_owned(), "uts:[4026532192]".to_owned())
            ]
        );
        assert_eq!((landing.root, landing.cwd), ((1792, 2), (1792, 2)));
        assert!(Landing::parse(b"mnt mnt:[1]\n").is_err());
    }

    #[test]
    fn section_and_summary() {
        let rows = vec![
            row(CLI, &[2100, 2200, 2300]),
            row(CLI_DYNAMIC, &[2600, 2700, 2800]),
            row(NSENTER, &[1900, 2000, 2100]),
            row(NSENTER_ROOT, &[2000, 2100, 2200]),
            row(LIBRARY, &[700, 800, 900]),
        ];
        let mut md = String::new();
        markdown(&mut md, &rows);
        assert!(md
            .contains("| furnace exec (CLI) | 2.20 ms | 2.12 ms – 2.28 ms | 2.30 ms | 3 | 1.10 |"));
        assert!(md.contains("| nsenter --all | 2.00 ms |"));
        assert!(md.contains(
            "**1.10** for the CLI (target ≤ 1.3), **1.35** for the dynamic glibc build, for \
             reference (medians)."
        ));
        let mut sum = String::new();
        summary(&mut sum, &rows);
        assert!(sum.contains("(CLI) ÷ `nsenter --all` (target ≤ 1.3) | 1.10 |"));
        assert!(sum.contains("(CLI, dynamic glibc) ÷ `nsenter --all` (reference) | 1.35 |"));
        let mut none = String::new();
        markdown(&mut none, &[]);
        summary(&mut none, &[]);
        assert!(none.is_empty());
        assert!((row(CLI, &(1..=101).collect::<Vec<_>>()).p99() - 100.0).abs() < 1e-9);
    }
}
