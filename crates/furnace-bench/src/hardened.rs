//! The hardened rows: the lifecycle (start, `/bin/true`, teardown, host network) in the hardened
//! profile against the default one, for the library and the CLI, with bubblewrap's sandbox
//! beside them, interleaved round by round, all on the read-only image itself (`--image`): the
//! hardened profile's user namespace needs a root the kernel can idmap, which the other
//! sections' overlayfs root is not.
//!
//! Each round runs `per_round` lifecycles of each kind, in this order: the library with
//! `Container::builder(root)` and with `.hardened(true)`, `furnace run ROOT /bin/true` and
//! `furnace run --hardened ROOT /bin/true`, bubblewrap as root with its sandbox options
//! ([`bwrap_sandbox_args`]: `--unshare-all --share-net --die-with-parent --new-session
//! --cap-drop ALL` and the root-mode row's file systems) and — when the kernel lets an
//! unprivileged user make a user namespace — the same bubblewrap with `--unshare-user` as a
//! throw-away unprivileged user without subordinate ids ([`User`], as the rootless rows make
//! it), which maps a single id.
//!
//! Before the rounds, one untimed run of each (also a warm-up) runs [`CHECK`] in place of
//! `/bin/true` and checks that the row is what it says: the default profile without
//! `no_new_privs`; the hardened one with it, fewer effective capabilities than the default and
//! (started as root) a user namespace of its own;
//! bubblewrap with it, no capability and a user namespace of its own. The report shows what
//! each saw. Issue 15's target: the hardened CLI at most [`TARGET`]× the default CLI.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use furnace_core::{Container, ContainerBuilder};

use crate::peers::bwrap_sandbox_args;
use crate::rootless::{self, Argv, User};
use crate::stats::Samples;
use crate::Plan;

/// The row names the report looks up.
pub(crate) const LIB: &str = "furnace (library), default profile";
pub(crate) const LIB_HARDENED: &str = "furnace (library), hardened";
pub(crate) const CLI: &str = "furnace (CLI), default profile";
pub(crate) const CLI_HARDENED: &str = "furnace (CLI), --hardened";
pub(crate) const BWRAP: &str = "bubblewrap sandbox, as root";
pub(crate) const BWRAP_UNPRIVILEGED: &str = "bubblewrap sandbox, unprivileged";

/// The target: the hardened CLI at most this many times the default CLI.
pub(crate) const TARGET: f64 = 1.5;

/// What the untimed check runs in place of `/bin/true`.
pub(crate) const CHECK: [&str; 3] = ["/bin/cat", "/proc/self/status", "/proc/self/uid_map"];

/// The initial user namespace's `uid_map`: the host's.
const HOST_UID_MAP: (u64, u64, u64) = (0, 0, u32::MAX as u64);

/// The hardened section of the run.
#[derive(Debug, Default)]
pub(crate) struct Hardened {
    /// The lifecycles, in the order reported.
    pub rows: Vec<(String, Samples)>,
    /// What each row's command saw in the untimed check.
    pub seen: Vec<(String, Seen)>,
    /// Why the unprivileged bubblewrap row is missing, when it is.
    pub left_out: Option<String>,
}

/// What a command saw of itself: from `/proc/self/status` and `/proc/self/uid_map`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    pub no_new_privs: bool,
    /// `CapEff`, the effective capabilities.
    pub cap_eff: u64,
    /// The lines of `uid_map`: inside, outside, count.
    pub uid_map: Vec<(u64, u64, u64)>,
}

impl Seen {
    /// Parses [`CHECK`]'s output: the status lines, then the map's.
    pub(crate) fn parse(text: &str) -> Result<Seen, String> {
        let (mut no_new_privs, mut cap_eff, mut uid_map) = (None, None, Vec::new());
        for line in text.lines() {
            if let Some(value) = line.strip_prefix("NoNewPrivs:") {
                no_new_privs = Some(value.trim() == "1");
            } else if let Some(value) = line.strip_prefix("CapEff:") {
                cap_eff = u64::from_str_radix(value.trim(), 16).ok();
            } else {
                let numbers: Vec<u64> = (line.split_whitespace())
                    .map_while(|n| n.parse().ok())
                    .collect();
                if let [inside, outside, count] = numbers[..] {
                    uid_map.push((inside, outside, count));
                }
            }
        }
        match (no_new_privs, cap_eff) {
            (Some(no_new_privs), Some(cap_eff)) if !uid_map.is_empty() => Ok(Seen {
                no_new_privs,
                cap_eff,
                uid_map,
            }),
            _ => Err(format!(
                "no NoNewPrivs, CapEff or uid_map in {:?}",
                text.trim()
            )),
        }
    }

    /// Whether the command ran in a user namespace other than the host's.
    pub(crate) fn own_user_namespace(&self) -> bool {
        self.uid_map != [HOST_UID_MAP]
    }

    fn uid_map_text(&self) -> String {
        let lines: Vec<String> = (self.uid_map.iter())
            .map(|(inside, outside, count)| format!("{inside} {outside} {count}"))
            .collect();
        lines.join(", ")
    }
}

/// One kind of lifecycle.
#[derive(Debug)]
enum Way {
    /// The library, in-process, as the builder says.
    Library(Box<ContainerBuilder>),
    /// A command run as root, timed from outside; its last argument is `/bin/true`.
    Command(Argv),
    /// A command run as the throw-away user, timed from outside; its last argument is
    /// `/bin/true`.
    CommandAs(User, Argv),
}

impl Way {
    /// `runs` lifecycles.
    fn lifecycles(&self, name: &str, runs: usize) -> Result<Samples, String> {
        let mut samples = Samples::default();
        for _ in 0..runs {
            samples.push(match self {
                Way::Library(builder) => {
                    crate::library_lifecycle(builder).map_err(|e| format!("{name}: {e}"))?
                }
                Way::Command(argv) => time(name, argv)?,
                Way::CommandAs(user, argv) => user.time(name, argv)?,
            });
        }
        Ok(samples)
    }

    /// One untimed run of [`CHECK`] in place of `/bin/true`: what the command saw.
    fn check(&self, name: &str) -> Result<Seen, String> {
        let failed = |e: &dyn std::fmt::Display| format!("{name} (check): {e}");
        let out = match self {
            Way::Library(builder) => {
                let container = builder.start().map_err(|e| failed(&e))?;
                let out = (container.command(CHECK[0]).args(&CHECK[1..]).output())
                    .map_err(|e| failed(&e));
                container.stop().map_err(|e| failed(&e))?;
                out?
            }
            Way::Command((program, args)) => Command::new(program)
                .args(checking(args))
                .stdin(Stdio::null())
                .output()
                .map_err(|e| failed(&e))?,
            Way::CommandAs(user, (program, args)) => (user.command(program).args(checking(args)))
                .output()
                .map_err(|e| failed(&e))?,
        };
        let Output {
            status,
            stdout,
            stderr,
        } = out;
        if !status.success() {
            return Err(failed(&format!(
                "{} failed ({status}): {}",
                CHECK.join(" "),
                String::from_utf8_lossy(&stderr).trim()
            )));
        }
        Seen::parse(&String::from_utf8_lossy(&stdout)).map_err(|e| failed(&e))
    }
}

/// `args` with [`CHECK`] in place of the last one, `/bin/true`.
fn checking(args: &[OsString]) -> impl Iterator<Item = OsString> + '_ {
    let keep = args.len().saturating_sub(1);
    (args[..keep].iter().cloned()).chain(CHECK.map(OsString::from))
}

/// Runs `argv` once as root; its duration, or why it failed.
fn time(name: &str, (program, args): &Argv) -> Result<Duration, String> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let out = command.output().map_err(|e| format!("{name}: {e}"))?;
    let elapsed = start.elapsed();
    if !out.status.success() {
        return Err(format!(
            "{name} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(elapsed)
}

/// The throw-away user of the unprivileged bubblewrap row, or why the row is left out.
fn unprivileged_user(root: &Path, bwrap: &Path) -> Result<Result<User, String>, String> {
    let reachable = rootless::check_reachable(root, "the root")
        .and_then(|()| rootless::check_reachable(bwrap, "bwrap"));
    if let Err(why) = reachable {
        return Ok(Err(why));
    }
    let user = User::create(false)?;
    if let Some(reason) = rootless::user_namespaces_refused(&user)? {
        user.finish()?;
        return Ok(Err(reason));
    }
    eprintln!(
        "[bench] hardened: bubblewrap unprivileged as the throw-away user {} (uid {})",
        user.name, user.uid
    );
    Ok(Ok(user))
}

/// Measures the section: the check, then the rounds.
pub(crate) fn measure(root: &Path, cli: &Path, plan: Plan) -> Result<Hardened, String> {
    let bwrap = rootless::find_program("bwrap").ok_or("bwrap is not installed")?;
    let run = |options: &[&str]| -> Argv {
        let mut args: Vec<OsString> = vec!["run".into()];
        args.extend(options.iter().map(OsString::from));
        args.extend([root.into(), "/bin/true".into()]);
        (cli.to_owned(), args)
    };
    let mut hardened = Container::builder(root);
    hardened.hardened(true);
    let mut ways = vec![
        (LIB, Way::Library(Box::new(Container::builder(root)))),
        (LIB_HARDENED, Way::Library(Box::new(hardened))),
        (CLI, Way::Command(run(&[]))),
        (CLI_HARDENED, Way::Command(run(&["--hardened"]))),
        (
            BWRAP,
            Way::Command((bwrap.clone(), bwrap_sandbox_args(root))),
        ),
    ];
    let mut left_out = None;
    match unprivileged_user(root, &bwrap)? {
        Ok(user) => {
            let mut args: Vec<OsString> = vec!["--unshare-user".into()];
            args.extend(bwrap_sandbox_args(root));
            ways.push((BWRAP_UNPRIVILEGED, Way::CommandAs(user, (bwrap, args))));
        }
        Err(why) => {
            eprintln!("[bench] hardened: the unprivileged bubblewrap row is left out: {why}");
            left_out = Some(why);
        }
    }
    let mut seen = Vec::new();
    for (name, way) in &ways {
        seen.push(((*name).to_owned(), way.check(name)?));
    }
    check_seen(&seen)?;
    let mut samples: Vec<Samples> = ways.iter().map(|_| Samples::default()).collect();
    let mut rounds = || -> Result<(), String> {
        for round in 0..plan.rounds {
            eprint!(
                "\r[bench] lifecycle, hardened against default: round {}/{}",
                round + 1,
                plan.rounds
            );
            for ((name, way), samples) in ways.iter().zip(&mut samples) {
                samples.extend(way.lifecycles(name, plan.per_round)?);
            }
        }
        Ok(())
    };
    let measured = rounds();
    eprintln!();
    measured?;
    let mut rows = Vec::new();
    for ((name, way), samples) in ways.into_iter().zip(samples) {
        if let Way::CommandAs(user, _) = way {
            user.finish()?;
        }
        rows.push((name.to_owned(), samples));
    }
    Ok(Hardened {
        rows,
        seen,
        left_out,
    })
}

/// Fails unless each row's command saw what the row says: the default profile without
/// `no_new_privs`, the hardened one with it and fewer effective capabilities than the default of
/// the same kind and a user namespace of its own, bubblewrap's sandbox with it, no capability
/// and a user namespace of its own.
pub(crate) fn check_seen(seen: &[(String, Seen)]) -> Result<(), String> {
    let find = |name| seen.iter().find(|(n, _)| n == name).map(|(_, s)| s);
    for (name, s) in seen {
        let wrong = match name.as_str() {
            LIB | CLI if s.no_new_privs => Some("no_new_privs in the default profile"),
            LIB_HARDENED | CLI_HARDENED => {
                let default = find(if name == LIB_HARDENED { LIB } else { CLI });
                if !s.no_new_privs {
                    Some("no no_new_privs in the hardened profile")
                } else if !s.own_user_namespace() {
                    Some("no user namespace of its own in the hardened profile")
                } else if default
                    .is_some_and(|d| s.cap_eff & !d.cap_eff != 0 || s.cap_eff == d.cap_eff)
                {
                    Some("not fewer capabilities than the default profile")
                } else {
                    None
                }
            }
            BWRAP | BWRAP_UNPRIVILEGED if !s.no_new_privs || s.cap_eff != 0 => {
                Some("no_new_privs missing or capabilities left")
            }
            BWRAP | BWRAP_UNPRIVILEGED if !s.own_user_namespace() => {
                Some("no user namespace of its own")
            }
            _ => None,
        };
        if let Some(wrong) = wrong {
            return Err(format!(
                "{name}: {wrong} (NoNewPrivs {}, CapEff {:016x}, uid_map {}): the row would not \
                 be what it says",
                u8::from(s.no_new_privs),
                s.cap_eff,
                s.uid_map_text()
            ));
        }
    }
    Ok(())
}

fn median_of(rows: &[(String, Samples)], name: &str) -> Option<f64> {
    rows.iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s.median())
}

/// `a` ÷ `b`, medians.
pub(crate) fn ratio(section: &Hardened, a: &str, b: &str) -> Option<f64> {
    Some(median_of(&section.rows, a)? / median_of(&section.rows, b)?)
}

fn show(ratio: Option<f64>) -> String {
    ratio.map_or("–".to_owned(), |r| format!("{r:.2}"))
}

/// The summary's lines.
pub(crate) fn summary(out: &mut String, section: &Hardened) {
    if section.rows.is_empty() {
        return;
    }
    for (what, a, b) in [
        (
            format!("hardened: furnace CLI ÷ furnace CLI, default profile (target ≤ {TARGET:.2})"),
            CLI_HARDENED,
            CLI,
        ),
        (
            "hardened: furnace library ÷ library, default profile".to_owned(),
            LIB_HARDENED,
            LIB,
        ),
        (
            "hardened: furnace CLI ÷ bubblewrap sandbox".to_owned(),
            CLI_HARDENED,
            BWRAP,
        ),
    ] {
        let _ = writeln!(out, "| {what} | {} |", show(ratio(section, a, b)));
    }
}

/// The chart's caption line, when the section was measured.
pub(crate) fn caption(section: &Hardened) -> Option<String> {
    if section.rows.is_empty() {
        return None;
    }
    Some(format!(
        "Hardened profile: {}× the default (CLI, target ≤ {TARGET:.2}), {}× (library), {}× \
         bubblewrap's sandbox (CLI).",
        show(ratio(section, CLI_HARDENED, CLI)),
        show(ratio(section, LIB_HARDENED, LIB)),
        show(ratio(section, CLI_HARDENED, BWRAP)),
    ))
}

/// The section of the report.
pub(crate) fn markdown(out: &mut String, section: &Hardened) {
    if section.rows.is_empty() {
        return;
    }
    let own_namespace = (section.seen.iter())
        .find(|(name, _)| name == CLI_HARDENED)
        .filter(|(_, seen)| seen.own_user_namespace())
        .map_or(String::new(), |(_, seen)| {
            format!(
                ", in a user namespace of its own (`uid_map` `{}`)",
                seen.uid_map_text()
            )
        });
    let unprivileged = match &section.left_out {
        None => "; the unprivileged row runs the same bubblewrap with `--unshare-user` as a \
                 throw-away user without subordinate ids (a single-id map), as the rootless rows \
                 do"
        .to_owned(),
        Some(why) => format!("; the unprivileged row is left out: {why}"),
    };
    let _ = writeln!(
        out,
        "### Start, run `/bin/true`, tear down — hardened profile against the default, host \
         network\n\n\
         The library with `ContainerBuilder::hardened(true)` against the default (privileged) \
         profile, the CLI with `furnace run --hardened` against without, and bubblewrap's \
         sandbox, interleaved round by round, every one with the host's network, on the \
         read-only image itself (the hardened profile's user namespace idmaps the root, which \
         the other sections' overlayfs root cannot be). The hardened profile's start picks and \
         locks a range of host ids, idmaps the root and masks Docker's `/proc` and `/sys` paths, makes `/proc/sys` & co. \
         read-only and the root `nodev`, leaves the host's loop devices out and drops PID 1's \
         capabilities; its command runs with containerd's capabilities only, `no_new_privs`, a \
         session of its own and the default seccomp filter{own_namespace}. bubblewrap's sandbox \
         runs as root with `--unshare-all --share-net --die-with-parent --new-session \
         --cap-drop ALL` and the root-mode row's file systems (the root bound at `/`, `/proc`, \
         `/dev`, the host's `/sys` read-only, a tmpfs on `/run`, the hostname): every namespace \
         but the network, a user namespace included (`--unshare-all` tries one, and as root maps \
         root to itself), `no_new_privs` (bubblewrap always sets it), a session of its own, no \
         capability and no seccomp filter{unprivileged}. Before the rounds an untimed run of \
         each reads `/proc/self/status` and `/proc/self/uid_map` inside, checking that the row \
         is what it says (the second table). Target (issue 15): the hardened CLI at most \
         {TARGET:.1}× the default CLI.\n"
    );
    crate::report::table_rows(out, &section.rows, LIB);
    if !section.seen.is_empty() {
        let _ = writeln!(
            out,
            "| row | `no_new_privs` | effective capabilities | user namespace (`uid_map`) |"
        );
        let _ = writeln!(out, "|---|---|---|---|");
        for (name, seen) in &section.seen {
            let namespace = if seen.own_user_namespace() {
                format!("its own: `{}`", seen.uid_map_text())
            } else {
                "the host's".to_owned()
            };
            let _ = writeln!(
                out,
                "| {name} | {} | `{:016x}` | {namespace} |",
                if seen.no_new_privs { "yes" } else { "no" },
                seen.cap_eff
            );
        }
        out.push('\n');
    }
    let unprivileged = ratio(section, CLI_HARDENED, BWRAP_UNPRIVILEGED)
        .map_or(String::new(), |r| {
            format!(" and **{r:.2}×** the unprivileged one")
        });
    let _ = writeln!(
        out,
        "The hardened profile takes **{}×** the default's time for the CLI (target ≤ \
         {TARGET:.2}) and **{}×** for the library; the hardened CLI takes **{}×** bubblewrap's \
         sandbox as root{unprivileged} (medians).\n",
        show(ratio(section, CLI_HARDENED, CLI)),
        show(ratio(section, LIB_HARDENED, LIB)),
        show(ratio(section, CLI_HARDENED, BWRAP)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::rows;
    use crate::Results;

    fn seen(no_new_privs: bool, cap_eff: u64, uid_map: (u64, u64, u64)) -> Seen {
        Seen {
            no_new_privs,
            cap_eff,
            uid_map: vec![uid_map],
        }
    }

    const FULL: u64 = 0x1ff_ffff_ffff;
    const NINE: u64 = 0x5fb;

    fn section() -> Hardened {
        Hardened {
            rows: rows(&[
                (LIB, 2000),
                (LIB_HARDENED, 2600),
                (CLI, 3000),
                (CLI_HARDENED, 4200),
                (BWRAP, 5000),
                (BWRAP_UNPRIVILEGED, 6000),
            ]),
            seen: vec![
                (LIB.to_owned(), seen(false, FULL, HOST_UID_MAP)),
                (
                    LIB_HARDENED.to_owned(),
                    seen(true, NINE, (0, 0x7000_0000, 65_536)),
                ),
                (CLI.to_owned(), seen(false, FULL, HOST_UID_MAP)),
                (
                    CLI_HARDENED.to_owned(),
                    seen(true, NINE, (0, 100_000, 65_536)),
                ),
                (BWRAP.to_owned(), seen(true, 0, (0, 0, 1))),
                (BWRAP_UNPRIVILEGED.to_owned(), seen(true, 0, (998, 998, 1))),
            ],
            left_out: None,
        }
    }

    #[test]
    fn what_a_command_saw() {
        let text = "Name:\tcat\nNoNewPrivs:\t1\nCapInh:\t0000000000000000\n\
                    CapEff:\t00000000000005fb\nSeccomp:\t2\n         0     100000      65536\n";
        let s = Seen::parse(text).unwrap();
        assert_eq!(s, seen(true, NINE, (0, 100_000, 65_536)));
        assert!(s.own_user_namespace());
        let host = Seen::parse("NoNewPrivs:\t0\nCapEff:\t000001ffffffffff\n0 0 4294967295\n");
        assert!(!host.unwrap().own_user_namespace());
        assert!(Seen::parse("NoNewPrivs:\t0\n0 0 1\n").is_err());
        assert!(Seen::parse("NoNewPrivs:\t0\nCapEff:\t0\n").is_err());
    }

    #[test]
    fn each_row_must_be_what_it_says() {
        let good = section().seen;
        check_seen(&good).unwrap();
        let with = |row: &str, s: Seen| {
            let mut v = good.clone();
            v.iter_mut().find(|(n, _)| n == row).unwrap().1 = s;
            check_seen(&v)
        };
        let e = with(CLI_HARDENED, seen(false, NINE, HOST_UID_MAP)).unwrap_err();
        assert!(e.contains("no no_new_privs in the hardened profile"), "{e}");
        let e = with(LIB_HARDENED, seen(true, FULL, (0, 0x7000_0000, 65_536))).unwrap_err();
        assert!(e.contains("not fewer capabilities"), "{e}");
        let e = with(LIB_HARDENED, seen(true, NINE, HOST_UID_MAP)).unwrap_err();
        assert!(
            e.contains("no user namespace of its own in the hardened"),
            "{e}"
        );
        assert!(with(LIB, seen(true, FULL, HOST_UID_MAP)).is_err());
        let e = with(BWRAP, seen(true, 0, HOST_UID_MAP)).unwrap_err();
        assert!(e.contains("no user namespace of its own"), "{e}");
        assert!(with(BWRAP_UNPRIVILEGED, seen(true, 1 << 21, (998, 998, 1))).is_err());
    }

    #[test]
    fn section_and_summary() {
        let mut md = String::new();
        markdown(&mut md, &section());
        assert!(md.contains("hardened profile against the default, host network"));
        assert!(
            md.contains("| furnace (CLI), --hardened | 4.20 ms | 4.20 ms – 4.20 ms | 1 | 2.10 |")
        );
        assert!(md.contains("| bubblewrap sandbox, unprivileged | 6.00 ms |"));
        assert!(md.contains("in a user namespace of its own (`uid_map` `0 100000 65536`)"));
        assert!(md
            .contains("| furnace (CLI), default profile | no | `000001ffffffffff` | the host's |"));
        assert!(md.contains(
            "| bubblewrap sandbox, as root | yes | `0000000000000000` | its own: `0 0 1` |"
        ));
        assert!(md.contains(
            "**1.40×** the default's time for the CLI (target ≤ 1.50) and **1.30×** for the \
             library; the hardened CLI takes **0.84×** bubblewrap's sandbox as root and \
             **0.70×** the unprivileged one (medians)."
        ));
        assert!(md.contains("Target (issue 15): the hardened CLI at most 1.5× the default CLI."));
        let mut sum = String::new();
        summary(&mut sum, &section());
        for line in [
            "| hardened: furnace CLI ÷ furnace CLI, default profile (target ≤ 1.50) | 1.40 |",
            "| hardened: furnace library ÷ library, default profile | 1.30 |",
            "| hardened: furnace CLI ÷ bubblewrap sandbox | 0.84 |",
        ] {
            assert!(sum.contains(line), "{line} missing from\n{sum}");
        }
        // The unprivileged row left out: the reason, no ratio to it.
        let mut without = section();
        without.rows.pop();
        without.seen.pop();
        without.left_out = Some("max_user_namespaces = 0".into());
        let mut md = String::new();
        markdown(&mut md, &without);
        assert!(md.contains("the unprivileged row is left out: max_user_namespaces = 0"));
        assert!(!md.contains("the unprivileged one"));
        // Not measured: nothing.
        let mut none = String::new();
        markdown(&mut none, &Hardened::default());
        summary(&mut none, &Hardened::default());
        assert!(none.is_empty() && caption(&Hardened::default()).is_none());
    }

    #[test]
    fn in_the_report_and_the_chart() {
        let results = Results {
            hardened: section(),
            ..Results::default()
        };
        let md = crate::report::markdown(&results, "", true);
        let summary_at = md.find("(target ≤ 1.50) | 1.40 |").unwrap();
        assert!(
            summary_at
                < md.find("### Start, run `/bin/true`, tear down — hardened")
                    .unwrap()
        );
        let svg = crate::report::svg(&results);
        assert!(svg.contains(CLI_HARDENED) && svg.contains(BWRAP));
        assert!(svg.contains("Hardened profile: 1.40× the default (CLI, target ≤ 1.50), 1.30×"));
        assert!(!crate::report::markdown(&Results::default(), "", true).contains("hardened"));
    }
}
