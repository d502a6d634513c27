//! The report: a markdown table and an SVG bar chart.

use std::fmt::Write;

use crate::hardened;
use crate::limits;
use crate::peers::{CLI, CLI_DYNAMIC};
use crate::rootless::{self, Rootless};
use crate::stats::Samples;
use crate::Results;

fn ms(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

/// A difference of medians, signed, or `–` when a row is missing.
fn delta(us: Option<f64>) -> String {
    match us {
        Some(us) if us.is_finite() && us.abs() >= 1000.0 => format!("{:+.2} ms", us / 1000.0),
        Some(us) if us.is_finite() => format!("{us:+.0} µs"),
        _ => "–".to_owned(),
    }
}

fn table(out: &mut String, title: &str, rows: &[(String, Samples)], reference: &str) {
    let _ = writeln!(out, "### {title}\n");
    table_rows(out, rows, reference);
}

/// A table without its heading: medians, spreads, runs and the ratio to `reference`.
pub(crate) fn table_rows(out: &mut String, rows: &[(String, Samples)], reference: &str) {
    let base = rows
        .iter()
        .find(|(name, _)| name == reference)
        .map(|(_, s)| s.median());
    let _ = writeln!(out, "| tool | median | p10 – p90 | runs | × {reference} |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for (name, samples) in rows {
        let (lo, hi) = samples.spread();
        let ratio = base.map_or("–".to_owned(), |b| format!("{:.2}", samples.median() / b));
        let _ = writeln!(
            out,
            "| {name} | {} | {} – {} | {} | {ratio} |",
            ms(samples.median()),
            ms(lo),
            ms(hi),
            samples.len()
        );
    }
    out.push('\n');
}

/// The whole report as markdown.
pub(crate) fn markdown(results: &Results, machine: &str, quick: bool) -> String {
    let mut out = String::from("# Benchmarks\n\n");
    let _ =
        writeln!(
        out,
        "Written by `cargo xtask bench`{}. One run, the tools interleaved round by round on the \
         same root (the test image, mounted read-only); medians with the 10th–90th percentile \
         spread, and ratios to furnace. Absolute times on a shared machine are noise; the ratios \
         are the result.\n",
        if quick { " in quick mode (few iterations: numbers are rough)" } else { "" }
    );
    let _ = writeln!(
        out,
        "The CLI rows are the binary the default `cargo build --release` makes: statically \
         linked on glibc through `.cargo/config.toml` (`crt-static`), so no dynamic loader runs \
         at its start.{}\n",
        if median_of(&results.lifecycle, CLI_DYNAMIC).is_some() {
            " The rows marked \"dynamic glibc\" are the same code with the dynamic loader (built \
             with `RUSTFLAGS=\"\"`), for reference."
        } else {
            ""
        }
    );
    if !machine.is_empty() {
        let _ = writeln!(out, "{machine}\n");
    }
    out.push_str("![lifecycle medians](benchmarks.svg)\n\n");
    summary(&mut out, results);
    table(
        &mut out,
        "Start, run `/bin/true`, tear down — host network",
        &results.lifecycle,
        "furnace (library)",
    );
    table(
        &mut out,
        "Start, run `/bin/true`, tear down — isolated network",
        &results.lifecycle_isolated,
        "furnace (library)",
    );
    limits_table(&mut out, &results.limits);
    hardened::markdown(&mut out, &results.hardened);
    crate::oci::markdown(&mut out, &results.oci);
    table(
        &mut out,
        "One more `/bin/true` in a running container, against the host",
        &results.spawn,
        "host, from Rust",
    );
    crate::exec::markdown(&mut out, &results.exec);
    rootless_tables(&mut out, results.rootless.as_ref());
    let _ = writeln!(
        out,
        "### PID 1's private memory (`Private_*` of `smaps_rollup`), idle\n"
    );
    let _ = writeln!(out, "| tool | private memory |\n|---|---:|");
    for (name, kib) in &results.memory_kib {
        let _ = writeln!(out, "| {name} | {kib} KiB |");
    }
    out.push('\n');
    if let Some(scale) = &results.scale {
        let _ = writeln!(
            out,
            "### {} containers alive at once (library)\n",
            scale.count
        );
        let _ = writeln!(
            out,
            "| start all | PID 1 private memory, each | tear down all | mounts left |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|");
        let _ = writeln!(
            out,
            "| {} | {} KiB | {} | {} |\n",
            ms(scale.start_all.as_secs_f64() * 1e6),
            scale.private_kib_each,
            ms(scale.teardown_all.as_secs_f64() * 1e6),
            scale.leftover_mounts
        );
    }
    let _ = writeln!(
        out,
        "### Throughput: containers started, used and torn down per second, two at a time\n"
    );
    let _ = writeln!(out, "| tool | per second |\n|---|---:|");
    for (name, rate) in &results.throughput {
        let _ = writeln!(out, "| {name} | {rate:.0} |");
    }
    out.push('\n');
    crate::terminal::markdown(&mut out, &results.terminal);
    out
}

/// The lifecycle with cgroup limits against without, and what the limits add to a start.
fn limits_table(out: &mut String, rows: &[(String, Samples)]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "### Start, run `/bin/true`, tear down — with cgroup limits against without, host \
         network\n\n\
         The library with `memory_max(512 MiB).pids_max(1024).cpu_quota(1.0)` against none, and \
         the CLI with `--memory 512M --pids-limit 1024 --cpus 1` against none, interleaved \
         round by round. Without a limit furnace makes no cgroup; with one it makes the \
         container's own under the caller's in each hierarchy the host's layout needs, writes \
         the limits, moves PID 1 and every command in, and at teardown kills through the cgroup \
         and removes it. Each round ends with one more lifecycle of each kind, each after a \
         pause of {} ms in which the bench writes no cgroup (not timed): the rows \"after a pause\". Target \
         (issue 12): cgroups add at most 0.3 ms to a start.\n",
        limits::PAUSE.as_millis()
    );
    table_rows(out, rows, limits::LIB);
    let added = |without, with| delta(limits::added(rows, without, with));
    let _ = writeln!(
        out,
        "Cgroups add **{}** to a library start and **{}** to a CLI start back to back, and \
         **{}** and **{}** after a pause (differences of the medians). Where it goes: making \
         and removing six v1 cgroups (memory and its limited child, pids, cpuacct, cpu, \
         freezer) and two processes joining each. Processes join through v1 `tasks`, not \
         `cgroup.procs`, whose write takes the kernel's `cgroup_threadgroup_rwsem` and so waits \
         for an RCU grace period whenever the lock was idle — 7 to 17 ms for a lone start, \
         measured before the change; the rows after a pause check that this stays gone.\n",
        added(limits::LIB, limits::LIB_LIMITS),
        added(limits::CLI, limits::CLI_LIMITS),
        added(limits::LIB_PAUSED, limits::LIB_LIMITS_PAUSED),
        added(limits::CLI_PAUSED, limits::CLI_LIMITS_PAUSED),
    );
}

/// The rootless rows and the cost of entering a user namespace, or why they are missing.
fn rootless_tables(out: &mut String, rootless: Option<&Rootless>) {
    match rootless {
        None => {}
        Some(Rootless::Refused(reason)) => {
            let _ = writeln!(
                out,
                "### Rootless\n\n**NOT MEASURED: the kernel refuses unprivileged user namespaces \
                 to an unprivileged user.** {reason}\n"
            );
        }
        Some(measured @ Rootless::Measured { lifecycle, enter }) => {
            let _ = writeln!(
                out,
                "### Rootless: start, run `/bin/true`, tear down — as an unprivileged user, host \
                 network\n\n\
                 Every tool here runs as a throw-away unprivileged user with no subordinate ids, \
                 so each maps a single id in a user namespace of its own: the CLIs (the static \
                 default and the dynamic glibc reference) enter one first thing (no \
                 re-execution); the library row is this bench in one, timed \
                 in-process; bubblewrap gets `--unshare-user` and \
                 the root-mode row's arguments. The row with subordinate ids (when `newuidmap` \
                 is installed) runs as a second user that has ranges in `/etc/subuid` and \
                 `/etc/subgid`, which the CLI maps through `newuidmap`/`newgidmap`. Target: \
                 furnace's CLI at most 0.80× bubblewrap.\n"
            );
            table_rows(out, lifecycle, rootless::BWRAP);
            table(
                out,
                "Rootless: entering a user namespace, alone",
                enter,
                rootless::EXIT,
            );
            if let Some(cost) = measured.enter_cost() {
                let share = median_of(lifecycle, rootless::CLI).map_or(String::new(), |cli| {
                    format!(
                        ", {:.0} % of the rootless CLI lifecycle",
                        cost / cli * 100.0
                    )
                });
                let _ = writeln!(
                    out,
                    "Entering (`furnace_core::rootless::enter(IdMapping::Single)`: a user \
                     namespace and its maps, no re-execution) costs **{}** (difference of the \
                     medians){share}.\n",
                    ms(cost)
                );
            }
        }
    }
}

fn median_of(rows: &[(String, Samples)], name: &str) -> Option<f64> {
    rows.iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s.median())
}

/// The ratios the project steers by, computed from the tables below.
fn summary(out: &mut String, results: &Results) {
    let life = &results.lifecycle;
    let ratio = |a: &str, b: &str| Some(median_of(life, a)? / median_of(life, b)?);
    let show = |r: Option<f64>| r.map_or("–".to_owned(), |r| format!("{r:.2}"));
    let spawn = results
        .spawn
        .first()
        .zip(results.spawn.get(1))
        .map(|((_, inside), (_, host))| inside.median() / host.median());
    let _ = writeln!(out, "### Summary (host network)\n");
    let _ = writeln!(out, "| ratio | value |\n|---|---:|");
    for (what, value) in [
        (
            "furnace CLI ÷ bubblewrap (target ≤ 0.70)",
            ratio(CLI, "bubblewrap"),
        ),
        (
            "furnace CLI ÷ unshare + new root (target ≤ 1.30)",
            ratio(CLI, "unshare + new root"),
        ),
        (
            "furnace CLI, dynamic glibc ÷ bubblewrap (reference)",
            ratio(CLI_DYNAMIC, "bubblewrap"),
        ),
        (
            "furnace CLI, dynamic glibc ÷ unshare + new root (reference)",
            ratio(CLI_DYNAMIC, "unshare + new root"),
        ),
        (
            "furnace library ÷ unshare + new root",
            ratio("furnace (library)", "unshare + new root"),
        ),
        (
            "python furnace ÷ furnace CLI",
            ratio("python furnace 0.0.10", CLI),
        ),
        (
            "python furnace ÷ furnace library",
            ratio("python furnace 0.0.10", "furnace (library)"),
        ),
        ("spawn in a container ÷ host spawn (Rust)", spawn),
    ] {
        let _ = writeln!(out, "| {what} | {} |", show(value));
    }
    if !results.limits.is_empty() {
        for (what, without, with) in [
            (
                "cgroups: added to a library start (target ≤ 0.3 ms)",
                limits::LIB,
                limits::LIB_LIMITS,
            ),
            (
                "cgroups: added to a CLI start (target ≤ 0.3 ms)",
                limits::CLI,
                limits::CLI_LIMITS,
            ),
            (
                "cgroups: added to a library start after a pause",
                limits::LIB_PAUSED,
                limits::LIB_LIMITS_PAUSED,
            ),
            (
                "cgroups: added to a CLI start after a pause",
                limits::CLI_PAUSED,
                limits::CLI_LIMITS_PAUSED,
            ),
        ] {
            let _ = writeln!(
                out,
                "| {what} | {} |",
                delta(limits::added(&results.limits, without, with))
            );
        }
    }
    hardened::summary(out, &results.hardened);
    crate::oci::summary(out, &results.oci);
    match &results.rootless {
        None => {}
        Some(Rootless::Refused(_)) => {
            let _ = writeln!(
                out,
                "| rootless rows | **not measured: user namespaces refused** (see below) |"
            );
        }
        Some(Rootless::Measured { lifecycle, .. }) => {
            let ratio = |a| Some(median_of(lifecycle, a)? / median_of(lifecycle, rootless::BWRAP)?);
            for (what, value) in [
                (
                    "rootless: furnace CLI ÷ bubblewrap (target ≤ 0.80)",
                    ratio(rootless::CLI),
                ),
                (
                    "rootless: furnace CLI, dynamic glibc ÷ bubblewrap (reference)",
                    ratio(rootless::CLI_DYNAMIC),
                ),
                (
                    "rootless: furnace CLI with subordinate ids ÷ bubblewrap",
                    ratio(rootless::CLI_SUBIDS),
                ),
            ] {
                let _ = writeln!(out, "| {what} | {} |", show(value));
            }
        }
    }
    crate::exec::summary(out, &results.exec);
    crate::terminal::summary(out, &results.terminal);
    out.push('\n');
}

/// A horizontal bar chart of the lifecycle medians (both network modes), with the spawn
/// ratio in the caption.
pub(crate) fn svg(results: &Results) -> String {
    let mut rows: Vec<(&str, f64, f64)> = results
        .lifecycle
        .iter()
        .map(|(name, s)| {
            let isolated = results
                .lifecycle_isolated
                .iter()
                .find(|(n, _)| n == name)
                .map_or(f64::NAN, |(_, s)| s.median());
            (name.as_str(), s.median(), isolated)
        })
        .collect();
    rows.extend(
        results
            .limits
            .iter()
            .filter(|(name, _)| [limits::LIB_LIMITS, limits::CLI_LIMITS].contains(&name.as_str()))
            .map(|(name, s)| (name.as_str(), s.median(), f64::NAN)),
    );
    rows.extend(
        (results.hardened.rows.iter())
            .filter(|(name, _)| {
                [
                    hardened::LIB_HARDENED,
                    hardened::CLI_HARDENED,
                    hardened::BWRAP,
                ]
                .contains(&name.as_str())
            })
            .map(|(name, s)| (name.as_str(), s.median(), f64::NAN)),
    );
    if let Some(Rootless::Measured { lifecycle, .. }) = &results.rootless {
        rows.extend(
            lifecycle
                .iter()
                .map(|(name, s)| (name.as_str(), s.median(), f64::NAN)),
        );
    }
    // Python's bars would flatten every other: clip the scale at 5× the slowest non-Python tool.
    let scale_max = rows
        .iter()
        .filter(|(n, _, _)| !n.starts_with("python"))
        .flat_map(|(_, a, b)| [*a, *b])
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max)
        * 1.25;
    // Room on the left for the longest names ("furnace (CLI), rootless, subordinate ids").
    let (left, width, bar, gap) = (250.0, 380.0, 14.0, 12.0);
    // One line each: the spawn ratio, the rootless note, then the limits' and the hardened
    // profile's when measured.
    let limits_line = if results.limits.is_empty() { 0.0 } else { 18.0 };
    let hardened_caption = hardened::caption(&results.hardened);
    let hardened_line = if hardened_caption.is_some() {
        18.0
    } else {
        0.0
    };
    let captions = 58.0 + limits_line + hardened_line;
    let height = 70.0 + rows.len() as f64 * (2.0 * bar + gap) + captions;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="720" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">Start, run /bin/true, tear down (median, lower is better)</text>"#
    );
    let _ = writeln!(
        out,
        r##"<rect x="{left}" y="32" width="12" height="10" fill="#d9480f"/><text x="{}" y="41">host network</text><rect x="{}" y="32" width="12" height="10" fill="#1c7ed6"/><text x="{}" y="41">isolated network</text>"##,
        left + 16.0,
        left + 120.0,
        left + 136.0
    );
    let mut y = 60.0;
    for (name, shared, isolated) in &rows {
        let _ = writeln!(out, r#"<text x="10" y="{}">{name}</text>"#, y + bar + 4.0);
        for (value, color, dy) in [(shared, "#d9480f", 0.0), (isolated, "#1c7ed6", bar)] {
            if !value.is_finite() {
                continue;
            }
            let w = (value / scale_max * width).min(width);
            let clipped = if *value > scale_max { " ▶" } else { "" };
            let _ = writeln!(
                out,
                r#"<rect x="{left}" y="{}" width="{w:.1}" height="{}" fill="{color}"/><text x="{:.1}" y="{}">{}{clipped}</text>"#,
                y + dy,
                bar - 2.0,
                left + w + 6.0,
                y + dy + bar - 4.0,
                ms(*value)
            );
        }
        y += 2.0 * bar + gap;
    }
    let spawn_ratio = results
        .spawn
        .first()
        .zip(results.spawn.get(1))
        .map(|((_, inside), (_, host))| inside.median() / host.median());
    if let Some(ratio) = spawn_ratio {
        let _ = writeln!(
            out,
            r#"<text x="10" y="{}">One more command inside a running furnace container costs {ratio:.2}× a host spawn from the same program.</text>"#,
            y + 16.0
        );
    }
    match &results.rootless {
        Some(Rootless::Refused(_)) => {
            let _ = writeln!(
                out,
                r#"<text x="10" y="{}" font-weight="bold">Rootless rows NOT MEASURED: the kernel refuses unprivileged user namespaces.</text>"#,
                y + 34.0
            );
        }
        Some(rootless @ Rootless::Measured { .. }) => {
            if let Some(cost) = rootless.enter_cost() {
                let _ = writeln!(
                    out,
                    r#"<text x="10" y="{}">Rows marked rootless run as an unprivileged user; entering furnace's user namespace takes {} of the CLI's.</text>"#,
                    y + 34.0,
                    ms(cost)
                );
            }
        }
        None => {}
    }
    if !results.limits.is_empty() {
        let added = |without, with| delta(limits::added(&results.limits, without, with));
        let _ = writeln!(
            out,
            r#"<text x="10" y="{}">Cgroup limits add {} (library), {} (CLI) to a start back to back; {}, {} after a pause.</text>"#,
            y + 52.0,
            added(limits::LIB, limits::LIB_LIMITS),
            added(limits::CLI, limits::CLI_LIMITS),
            added(limits::LIB_PAUSED, limits::LIB_LIMITS_PAUSED),
            added(limits::CLI_PAUSED, limits::CLI_LIMITS_PAUSED),
        );
    }
    if let Some(caption) = hardened_caption {
        let _ = writeln!(
            out,
            r#"<text x="10" y="{}">{caption}</text>"#,
            y + 52.0 + limits_line
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;

    /// Rows of one sample each, for the report tests of every section.
    pub(crate) fn rows(rows: &[(&str, u64)]) -> Vec<(String, Samples)> {
        rows.iter()
            .map(|&(name, us)| {
                let mut samples = Samples::default();
                samples.push(Duration::from_micros(us));
                (name.to_owned(), samples)
            })
            .collect()
    }

    #[test]
    fn rootless_rows_ratio_and_enter_cost() {
        let results = Results {
            rootless: Some(Rootless::Measured {
                lifecycle: rows(&[(rootless::CLI, 2400), (rootless::BWRAP, 3000)]),
                enter: rows(&[(rootless::EXIT, 500), (rootless::ENTER, 800)]),
            }),
            ..Results::default()
        };
        let md = markdown(&results, "", true);
        assert!(md.contains("| rootless: furnace CLI ÷ bubblewrap (target ≤ 0.80) | 0.80 |"));
        assert!(md.contains("| furnace (CLI), rootless | 2.40 ms | 2.40 ms – 2.40 ms | 1 | 0.80 |"));
        assert!(md.contains("costs **300 µs** (difference of the medians), 12 % of"));
        assert!(svg(&results).contains(rootless::CLI));
    }

    #[test]
    fn summary_states_the_targets_on_the_default_build() {
        let results = Results {
            lifecycle: rows(&[
                ("furnace (library)", 1500),
                (CLI, 2100),
                (CLI_DYNAMIC, 2400),
                ("bubblewrap", 3000),
                ("python furnace 0.0.10", 31500),
                ("unshare + new root", 1500),
            ]),
            ..Results::default()
        };
        let md = markdown(&results, "", true);
        for line in [
            "| furnace CLI ÷ bubblewrap (target ≤ 0.70) | 0.70 |",
            "| furnace CLI ÷ unshare + new root (target ≤ 1.30) | 1.40 |",
            "| furnace CLI, dynamic glibc ÷ bubblewrap (reference) | 0.80 |",
            "| furnace CLI, dynamic glibc ÷ unshare + new root (reference) | 1.60 |",
            "| furnace library ÷ unshare + new root | 1.00 |",
            "| python furnace ÷ furnace CLI | 15.00 |",
            "| python furnace ÷ furnace library | 21.00 |",
        ] {
            assert!(md.contains(line), "{line} missing from\n{md}");
        }
        assert!(md.contains("statically linked on glibc through `.cargo/config.toml`"));
        assert!(md.contains("The rows marked \"dynamic glibc\" are the same code with the dynamic"));
        // Without the dynamic build, no sentence about it.
        let results = Results {
            lifecycle: rows(&[(CLI, 2100), ("bubblewrap", 3000)]),
            ..Results::default()
        };
        assert!(!markdown(&results, "", true).contains("dynamic glibc\" are"));
    }

    #[test]
    fn limits_rows_and_what_they_add() {
        let results = Results {
            limits: rows(&[
                (limits::LIB, 2000),
                (limits::LIB_LIMITS, 2250),
                (limits::CLI, 3000),
                (limits::CLI_LIMITS, 4200),
                (limits::LIB_PAUSED, 2100),
                (limits::LIB_LIMITS_PAUSED, 14100),
                (limits::CLI_PAUSED, 3100),
                (limits::CLI_LIMITS_PAUSED, 3000),
            ]),
            ..Results::default()
        };
        let md = markdown(&results, "", true);
        assert!(md.contains("| cgroups: added to a library start (target ≤ 0.3 ms) | +250 µs |"));
        assert!(md.contains("| cgroups: added to a CLI start (target ≤ 0.3 ms) | +1.20 ms |"));
        assert!(md.contains("| cgroups: added to a library start after a pause | +12.00 ms |"));
        assert!(md.contains("| cgroups: added to a CLI start after a pause | -100 µs |"));
        assert!(md.contains(
            "| furnace (library), with limits | 2.25 ms | 2.25 ms – 2.25 ms | 1 | 1.12 |"
        ));
        let svg = svg(&results);
        assert!(svg.contains(limits::CLI_LIMITS) && !svg.contains(limits::CLI_PAUSED));
        assert!(svg.contains("add +250 µs (library), +1.20 ms (CLI) to a start"));
        // Without the rows, neither the table nor the summary lines.
        assert!(!markdown(&Results::default(), "", true).contains("cgroups"));
    }

    #[test]
    fn refused_user_namespaces_are_reported_loudly() {
        let results = Results {
            rootless: Some(Rootless::Refused("max_user_namespaces = 0".into())),
            ..Results::default()
        };
        let md = markdown(&results, "", false);
        assert!(md.contains("| rootless rows | **not measured: user namespaces refused**"));
        assert!(md.contains("**NOT MEASURED: the kernel refuses unprivileged user namespaces"));
        assert!(md.contains("max_user_namespaces = 0"));
        assert!(svg(&results).contains("NOT MEASURED"));
    }
}
