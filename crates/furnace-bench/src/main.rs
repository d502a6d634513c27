//! `furnace-bench`: furnace against its peers on one root, in one run, reported as ratios.
//!
//! Run through `cargo xtask bench`, which builds it in release mode, mounts the test image,
//! installs the peers and passes their paths. Every measurement interleaves the tools round by
//! round, so drift on a shared machine hits all of them alike; medians and spreads are
//! reported, and ratios to furnace.
//!
//! ```text
//! furnace-bench --root DIR [--image DIR] [--oci PATH] --cli PATH [--cli-dynamic PATH] [--python PATH]
//!               [--quick] [--markdown FILE] [--svg FILE] [--machine TEXT]
//! furnace-bench --remove-stale-users
//! ```
//!
//! `--cli` is the CLI as `cargo build --release` makes it (statically linked on glibc, through
//! `.cargo/config.toml`); `--cli-dynamic` the same CLI linked dynamically, for reference rows.
//! `--image` is a root the kernel can idmap (the read-only image itself), on which the hardened
//! section runs all its rows: the hardened profile's user namespace idmaps the root, which an
//! overlayfs mount such as the writable `--root` cannot be.
//!
//! As root, it also measures the rootless rows as a throw-away unprivileged user (see
//! [`rootless`]); the user's side runs this same binary in the modes `rootless` describes.

mod exec;
mod hardened;
mod limits;
mod oci;
mod peers;
mod report;
mod rootless;
mod stats;
mod terminal;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use furnace_core::{Container, ContainerBuilder};

use crate::peers::{Peer, Tool};
use crate::stats::Samples;

/// What the command line asked for.
#[derive(Debug)]
struct Options {
    root: PathBuf,
    /// A root the kernel can idmap, for the hardened rows (`--image`; default: `root`).
    image: Option<PathBuf>,
    /// The `furnace-oci` binary, for the OCI rows (`--oci`).
    oci: Option<PathBuf>,
    cli: PathBuf,
    cli_dynamic: Option<PathBuf>,
    python: Option<PathBuf>,
    quick: bool,
    markdown: Option<PathBuf>,
    svg: Option<PathBuf>,
    machine: String,
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args_os().skip(1);
    let mut opts = Options {
        root: PathBuf::new(),
        image: None,
        oci: None,
        cli: PathBuf::new(),
        cli_dynamic: None,
        python: None,
        quick: false,
        markdown: None,
        svg: None,
        machine: String::new(),
    };
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or(format!("{} needs a value", arg.to_string_lossy()))
        };
        match arg.to_str() {
            Some("--root") => opts.root = value()?.into(),
            Some("--image") => opts.image = Some(value()?.into()),
            Some("--oci") => opts.oci = Some(value()?.into()),
            Some("--cli") => opts.cli = value()?.into(),
            Some("--cli-dynamic") => opts.cli_dynamic = Some(value()?.into()),
            Some("--python") => opts.python = Some(value()?.into()),
            Some("--markdown") => opts.markdown = Some(value()?.into()),
            Some("--svg") => opts.svg = Some(value()?.into()),
            Some("--machine") => opts.machine = value()?.to_string_lossy().into_owned(),
            Some("--quick") => opts.quick = true,
            _ => return Err(format!("unknown argument {}", arg.to_string_lossy())),
        }
    }
    if opts.root.as_os_str().is_empty() || opts.cli.as_os_str().is_empty() {
        return Err(
            "usage: furnace-bench --root DIR [--image DIR] [--oci PATH] --cli PATH [--cli-dynamic PATH] \
                    [--python PATH] [--quick] [--markdown FILE] [--svg FILE] [--machine TEXT]"
                .into(),
        );
    }
    Ok(opts)
}

/// How many rounds and how many runs per tool in a round.
#[derive(Debug, Clone, Copy)]
struct Plan {
    rounds: usize,
    per_round: usize,
    python_per_round: usize,
    spawns: usize,
    scale: usize,
    throughput_for: Duration,
    /// Keystrokes per configuration in the terminal rows (after the warm-up).
    keystrokes: usize,
}

impl Plan {
    fn new(quick: bool) -> Self {
        if quick {
            Plan {
                rounds: 3,
                per_round: 2,
                python_per_round: 1,
                spawns: 20,
                scale: 10,
                throughput_for: Duration::from_millis(300),
                keystrokes: 50,
            }
        } else {
            Plan {
                rounds: 25,
                per_round: 8,
                python_per_round: 2,
                spawns: 200,
                scale: 50,
                throughput_for: Duration::from_secs(3),
                keystrokes: 1000,
            }
        }
    }
}

/// Everything measured, in the order it is reported.
#[derive(Debug, Default)]
pub(crate) struct Results {
    pub lifecycle: Vec<(String, Samples)>,
    pub lifecycle_isolated: Vec<(String, Samples)>,
    /// The lifecycle with cgroup limits against without (host network).
    pub limits: Vec<(String, Samples)>,
    /// The lifecycle in the hardened profile against the default, and bubblewrap's sandbox
    /// (see [`hardened`]).
    pub hardened: hardened::Hardened,
    pub spawn: Vec<(String, Samples)>,
    pub memory_kib: Vec<(String, u64)>,
    pub scale: Option<Scale>,
    pub throughput: Vec<(String, f64)>,
    pub rootless: Option<rootless::Rootless>,
    /// The round trip of a keystroke's echo on a terminal (see [`terminal`]).
    pub terminal: Vec<(String, terminal::Echoes)>,
    /// `furnace exec` into a running named container against `nsenter` (see [`exec`]).
    pub exec: Vec<exec::Row>,
    /// furnace-oci against runc, directly and under podman (see [`oci`]).
    pub oci: oci::Oci,
}

/// 50 containers alive at once.
#[derive(Debug)]
pub(crate) struct Scale {
    pub count: usize,
    pub start_all: Duration,
    pub private_kib_each: u64,
    pub teardown_all: Duration,
    pub leftover_mounts: usize,
}

fn main() -> ExitCode {
    // Called by podman as a timed stand-in for a runtime (the OCI rows).
    if let Some(code) = oci::wrapper_mode() {
        return code;
    }
    // First: the user's-side modes enter a user namespace, which needs a single-threaded
    // process.
    if let Some(code) = rootless::other_modes() {
        return code;
    }
    let opts = match parse_args() {
        Ok(opts) => opts,
        Err(msg) => {
            eprintln!("furnace-bench: {msg}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(results) => {
            let markdown = report::markdown(&results, &opts.machine, opts.quick);
            print!("{markdown}");
            if let Some(path) = &opts.markdown {
                if let Err(e) = std::fs::write(path, &markdown) {
                    eprintln!("furnace-bench: write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            if let Some(path) = &opts.svg {
                if let Err(e) = std::fs::write(path, report::svg(&results)) {
                    eprintln!("furnace-bench: write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("furnace-bench: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: &Options) -> Result<Results, String> {
    let plan = Plan::new(opts.quick);
    let peers = Peer::all(
        &opts.root,
        &opts.cli,
        opts.cli_dynamic.as_deref(),
        opts.python.as_deref(),
    );
    let mut results = Results::default();
    for isolated in [false, true] {
        let label = if isolated {
            "lifecycle, isolated network"
        } else {
            "lifecycle, shared network"
        };
        let samples = lifecycle(&opts.root, &peers, plan, isolated)?;
        report_progress(label, &samples);
        if isolated {
            results.lifecycle_isolated = samples;
        } else {
            results.lifecycle = samples;
        }
    }
    results.limits = limits::lifecycle(&opts.root, &opts.cli, plan)?;
    report_progress("lifecycle, limits against none", &results.limits);
    let image = opts.image.as_deref().unwrap_or(&opts.root);
    results.hardened = hardened::measure(image, &opts.cli, plan)?;
    report_progress(
        "lifecycle, hardened against default",
        &results.hardened.rows,
    );
    results.oci = oci::measure(
        image,
        opts.oci.as_deref(),
        oci::Counts {
            rounds: if opts.quick { 2 } else { 10 },
            cycles: if opts.quick { 2 } else { 10 },
            podman_runs: if opts.quick { 1 } else { 2 },
        },
    )?;
    report_progress("OCI runtimes", &results.oci.rows);
    results.spawn = spawn(&opts.root, &peers, plan)?;
    report_progress("spawn in a running container", &results.spawn);
    results.exec = exec::measure(&opts.root, &opts.cli, opts.cli_dynamic.as_deref(), plan)?;
    eprintln!(
        "[bench] exec in a running named container: {}",
        exec::progress(&results.exec)
    );
    results.memory_kib = memory(&opts.root, &peers)?;
    eprintln!("[bench] PID 1 private memory: {:?}", results.memory_kib);
    results.scale = Some(scale(&opts.root, plan.scale)?);
    eprintln!("[bench] scale: {:?}", results.scale);
    results.throughput = throughput(&opts.root, &peers, plan)?;
    eprintln!("[bench] throughput: {:?}", results.throughput);
    results.terminal = terminal::measure(&opts.root, &opts.cli, &peers, plan.keystrokes)?;
    let echoes: Vec<String> = (results.terminal.iter())
        .map(|(tool, e)| format!("{tool} {:.1} µs (p99 {:.1} µs)", e.median(), e.p99()))
        .collect();
    eprintln!("[bench] keystroke echo: {}", echoes.join(", "));
    let rootless = rootless::measure(opts, plan)?;
    if let rootless::Rootless::Measured { lifecycle, enter } = &rootless {
        report_progress("rootless lifecycle", lifecycle);
        report_progress("entering a user namespace", enter);
    }
    results.rootless = Some(rootless);
    Ok(results)
}

fn report_progress(what: &str, samples: &[(String, Samples)]) {
    let line: Vec<String> = samples
        .iter()
        .map(|(tool, s)| format!("{tool} {:.0} µs", s.median()))
        .collect();
    eprintln!("[bench] {what}: {}", line.join(", "));
}

/// Start a container, run `/bin/true`, tear it down: furnace in-process, then every peer as a
/// command, interleaved round by round.
fn lifecycle(
    root: &std::path::Path,
    peers: &[Peer],
    plan: Plan,
    isolated: bool,
) -> Result<Vec<(String, Samples)>, String> {
    let mut lib = Samples::default();
    let mut others: Vec<Samples> = peers.iter().map(|_| Samples::default()).collect();
    for round in 0..plan.rounds {
        eprint!(
            "\r[bench] lifecycle{}: round {}/{}",
            if isolated { " (isolated)" } else { "" },
            round + 1,
            plan.rounds
        );
        for _ in 0..plan.per_round {
            lib.push(library_lifecycle(
                Container::builder(root).isolate_network(isolated),
            )?);
        }
        for (peer, samples) in peers.iter().zip(&mut others) {
            let runs = if peer.tool == Tool::Python {
                plan.python_per_round
            } else {
                plan.per_round
            };
            samples.extend(peer.lifecycle(isolated, runs)?);
        }
    }
    eprintln!();
    let mut out = vec![("furnace (library)".to_owned(), lib)];
    out.extend(peers.iter().map(|p| p.name().to_owned()).zip(others));
    Ok(out)
}

/// One lifecycle of the library, timed in-process: start as `builder` says, run `/bin/true`,
/// tear down.
pub(crate) fn library_lifecycle(builder: &ContainerBuilder) -> Result<Duration, String> {
    let start = Instant::now();
    let container = builder
        .start()
        .map_err(|e| format!("furnace library: {e}"))?;
    let status = container
        .command("/bin/true")
        .status()
        .map_err(|e| format!("furnace library: {e}"))?;
    container
        .stop()
        .map_err(|e| format!("furnace library: {e}"))?;
    let elapsed = start.elapsed();
    if !status.success() {
        return Err("furnace library: /bin/true failed".into());
    }
    Ok(elapsed)
}

/// One more command in a running container, against the same spawn on the host, from the
/// same program.
fn spawn(
    root: &std::path::Path,
    peers: &[Peer],
    plan: Plan,
) -> Result<Vec<(String, Samples)>, String> {
    let container = Container::start(root).map_err(|e| format!("furnace library: {e}"))?;
    let host_true = root.join("bin/true");
    let (mut inside, mut host) = (Samples::default(), Samples::default());
    for _ in 0..plan.spawns {
        let start = Instant::now();
        container
            .command("/bin/true")
            .status()
            .map_err(|e| format!("furnace spawn: {e}"))?;
        inside.push(start.elapsed());
        let start = Instant::now();
        std::process::Command::new(&host_true)
            .status()
            .map_err(|e| format!("host spawn: {e}"))?;
        host.push(start.elapsed());
    }
    container
        .stop()
        .map_err(|e| format!("furnace library: {e}"))?;
    let mut out = vec![
        ("furnace (library)".to_owned(), inside),
        ("host, from Rust".to_owned(), host),
    ];
    if let Some(python) = peers.iter().find(|p| p.tool == Tool::Python) {
        let (inside, host) = python.python_spawn(plan.spawns.min(100))?;
        out.push(("python furnace 0.0.10".to_owned(), inside));
        out.push(("host, from Python".to_owned(), host));
    }
    Ok(out)
}

/// Private resident memory of PID 1 while the container is idle.
fn memory(root: &std::path::Path, peers: &[Peer]) -> Result<Vec<(String, u64)>, String> {
    let container = Container::start(root).map_err(|e| format!("furnace library: {e}"))?;
    std::thread::sleep(Duration::from_millis(100));
    let ours = private_kib(container.init_pid())?;
    container
        .stop()
        .map_err(|e| format!("furnace library: {e}"))?;
    let mut out = vec![("furnace (library)".to_owned(), ours)];
    for peer in peers {
        if let Some(kib) = peer.pid1_private_kib()? {
            out.push((peer.name().to_owned(), kib));
        }
    }
    Ok(out)
}

/// `Private_Clean + Private_Dirty` of a process, from `/proc/<pid>/smaps_rollup`, in KiB.
pub(crate) fn private_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/smaps_rollup");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("read {path}: {e}"))?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("Private_"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum())
}

fn scale(root: &std::path::Path, count: usize) -> Result<Scale, String> {
    let mounts_before = mount_count();
    let start = Instant::now();
    let mut containers = Vec::with_capacity(count);
    for _ in 0..count {
        containers.push(Container::start(root).map_err(|e| format!("furnace library: {e}"))?);
    }
    let start_all = start.elapsed();
    let mut total = 0;
    for container in &containers {
        total += private_kib(container.init_pid())?;
    }
    let start = Instant::now();
    for container in containers {
        container
            .stop()
            .map_err(|e| format!("furnace library: {e}"))?;
    }
    let teardown_all = start.elapsed();
    Ok(Scale {
        count,
        start_all,
        private_kib_each: total / count as u64,
        teardown_all,
        leftover_mounts: mount_count().saturating_sub(mounts_before),
    })
}

fn mount_count() -> usize {
    furnace_sys::mountinfo::read(None).map_or(0, |m| m.len())
}

/// Containers started, used (`/bin/true`) and torn down per second, two at a time.
fn throughput(
    root: &std::path::Path,
    peers: &[Peer],
    plan: Plan,
) -> Result<Vec<(String, f64)>, String> {
    let lib = run_parallel(plan.throughput_for, || {
        let container = Container::start(root).map_err(|e| e.to_string())?;
        container
            .command("/bin/true")
            .status()
            .map_err(|e| e.to_string())?;
        container.stop().map_err(|e| e.to_string())
    })?;
    let mut out = vec![("furnace (library)".to_owned(), lib)];
    for peer in peers
        .iter()
        .filter(|p| matches!(p.tool, Tool::Cli | Tool::CliDynamic | Tool::Bwrap))
    {
        let rate = run_parallel(plan.throughput_for, || peer.lifecycle(false, 1).map(drop))?;
        out.push((peer.name().to_owned(), rate));
    }
    Ok(out)
}

fn run_parallel(
    duration: Duration,
    job: impl Fn() -> Result<(), String> + Sync,
) -> Result<f64, String> {
    let start = Instant::now();
    let counts: Vec<Result<usize, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = 0;
                    while start.elapsed() < duration {
                        job()?;
                        done += 1;
                    }
                    Ok(done)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("worker panicked".into())))
            .collect()
    });
    let mut total = 0;
    for count in counts {
        total += count?;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}
