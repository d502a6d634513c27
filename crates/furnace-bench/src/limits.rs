//! The limits rows: the lifecycle (start, `/bin/true`, teardown, host network) with cgroup
//! limits against without, for the library and the CLI, interleaved round by round.
//!
//! Without a limit furnace makes no cgroup, so the difference of the medians is what the
//! container's cgroups cost a start: made under the caller's in each hierarchy, limits written,
//! PID 1 and the command moved in, the kill-all and the removal at teardown. Issue 12's target:
//! at most 0.3 ms.
//!
//! Back to back, the rows see the kernel's cgroup lock as the previous start left it. A start
//! that comes after a pause without cgroup writes finds it as a lone `furnace run` does, so each
//! round ends with one more lifecycle of each kind, each after a [`PAUSE`] (not timed): the
//! "after a pause" rows.

use std::path::Path;
use std::time::Duration;

use furnace_core::Container;

use crate::peers::Peer;
use crate::stats::Samples;
use crate::Plan;

/// The row names the report looks up: back to back, then after a pause.
pub(crate) const LIB: &str = "furnace (library), no limits";
pub(crate) const LIB_LIMITS: &str = "furnace (library), with limits";
pub(crate) const CLI: &str = "furnace (CLI), no limits";
pub(crate) const CLI_LIMITS: &str = "furnace (CLI), with limits";
pub(crate) const LIB_PAUSED: &str = "furnace (library), no limits, after a pause";
pub(crate) const LIB_LIMITS_PAUSED: &str = "furnace (library), with limits, after a pause";
pub(crate) const CLI_PAUSED: &str = "furnace (CLI), no limits, after a pause";
pub(crate) const CLI_LIMITS_PAUSED: &str = "furnace (CLI), with limits, after a pause";

/// The idle time before each lifecycle of the "after a pause" rows: several of the kernel's
/// RCU grace periods, after which its global cgroup lock is back in its fast-reader mode (a
/// `cgroup.procs` write would then wait a grace period; furnace writes `tasks` instead).
pub(crate) const PAUSE: Duration = Duration::from_millis(100);

/// The library's limits: 512 MiB of memory (swap included), 1024 processes, one CPU.
const MEMORY_MAX: u64 = 512 << 20;
const PIDS_MAX: u64 = 1024;
const CPUS: f64 = 1.0;

/// The CLI's options for the same limits.
const CLI_OPTIONS: [&str; 6] = ["--memory", "512M", "--pids-limit", "1024", "--cpus", "1"];

/// The eight rows, in the order reported: the library without and with limits, the CLI without
/// and with, then the same four after a pause.
pub(crate) fn lifecycle(
    root: &Path,
    cli: &Path,
    plan: Plan,
) -> Result<Vec<(String, Samples)>, String> {
    let cli_plain = Peer::cli_with(root, cli, &[]);
    let cli_limits = Peer::cli_with(root, cli, &CLI_OPTIONS);
    let plain = Container::builder(root);
    let mut limited = Container::builder(root);
    limited
        .memory_max(MEMORY_MAX)
        .pids_max(PIDS_MAX)
        .cpu_quota(CPUS);
    // `runs` lifecycles of the kind `kind` (0–3, in the order of the rows).
    let run = |kind: usize, runs: usize| -> Result<Samples, String> {
        let mut samples = Samples::default();
        match kind {
            0 | 1 => {
                let builder = if kind == 0 { &plain } else { &limited };
                for _ in 0..runs {
                    samples.push(crate::library_lifecycle(builder)?);
                }
            }
            2 => samples = cli_plain.lifecycle(false, runs)?,
            _ => {
                samples = cli_limits
                    .lifecycle(false, runs)
                    .map_err(|e| format!("{e} (with {})", CLI_OPTIONS.join(" ")))?;
            }
        }
        Ok(samples)
    };
    let (mut back_to_back, mut paused): ([Samples; 4], [Samples; 4]) = Default::default();
    for round in 0..plan.rounds {
        eprint!(
            "\r[bench] lifecycle with limits: round {}/{}",
            round + 1,
            plan.rounds
        );
        for (kind, samples) in back_to_back.iter_mut().enumerate() {
            samples.extend(run(kind, plan.per_round)?);
        }
        for (kind, samples) in paused.iter_mut().enumerate() {
            std::thread::sleep(PAUSE);
            samples.extend(run(kind, 1)?);
        }
    }
    eprintln!();
    let names = [
        LIB,
        LIB_LIMITS,
        CLI,
        CLI_LIMITS,
        LIB_PAUSED,
        LIB_LIMITS_PAUSED,
        CLI_PAUSED,
        CLI_LIMITS_PAUSED,
    ];
    Ok(names
        .map(str::to_owned)
        .into_iter()
        .zip(back_to_back.into_iter().chain(paused))
        .collect())
}

/// What the limits add to a start: the median of `with` less that of `without`, in µs.
pub(crate) fn added(rows: &[(String, Samples)], without: &str, with: &str) -> Option<f64> {
    let median = |name| {
        rows.iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.median())
    };
    Some(median(with)? - median(without)?)
}
