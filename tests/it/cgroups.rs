//! Resource limits through cgroups (issue 12): where a container's cgroups are and what is in
//! them, the pids, memory and CPU limits as the kernel applies them, what
//! `resource_usage()` reports, the view from inside, the kill-all at teardown, the sweep of
//! what a SIGKILLed owner left, and bad limits refused before anything is made — through the
//! library and the CLI (the `furnace` binary `cargo xtask itest` names in `FURNACE_CLI`).
//!
//! Cgroups are looked at on the host, in the files the kernel uses. A container's cgroups are
//! named `furnace-<owner pid>-<owner start time>-<n>`, so a test finds the ones of a process
//! it started by that process's pid; [`CgroupWatch`] (inotify on this process's own cgroups,
//! where containers' cgroups are made) sees a cgroup even if it is removed again at once.

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use furnace_core::{Container, Error, MIN_MEMORY};
use furnace_sys::cgroup::{parse_proc_cgroup, Layout};
use furnace_tests::cgroups::*;
use furnace_tests::*;

use crate::HELPER;

const MIB: u64 = 1 << 20;

/// The variable through which `cargo xtask itest` names the `furnace` binary.
const CLI_ENV: &str = "FURNACE_CLI";

/// Forks `sleep`s in the background until the shell cannot fork any more (or 100 are
/// running; then it exits 0, which the test reports as the limit not holding).
const FORK_LOOP: &str = "i=0; while [ $i -lt 100 ]; do sleep 1000 </dev/null >/dev/null 2>&1 & \
                         i=$((i+1)); done; exit 0";

/// The `furnace` binary under test.
fn cli() -> PathBuf {
    let path = std::env::var_os(CLI_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{CLI_ENV} is not set: run the suite through cargo xtask itest"));
    assert!(
        path.is_absolute() && path.is_file(),
        "{CLI_ENV}={} does not name the furnace binary",
        path.display()
    );
    path
}

/// `furnace ARGS...` run as root (stdin null), with a deadline: its pid and what it printed.
fn furnace(args: &[&str]) -> (u32, Ran) {
    let what = format!("furnace {}", args.join(" "));
    let mut child = std::process::Command::new(cli())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let pid = child.id();
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = reader(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = reader(child.stderr.take().map(|p| Box::new(p) as _));
    let status = wait_child(&mut child, &what);
    let ran = Ran {
        status,
        stdout: stdout.join().expect("the stdout reader"),
        stderr: stderr.join().expect("the stderr reader"),
    };
    eprintln!("{what}: {}\n--- stderr\n{}---", ran.status, ran.stderr);
    (pid, ran)
}

/// Starts a container, panicking with the error's message.
fn start_with(
    root: &Path,
    configure: impl FnOnce(&mut furnace_core::ContainerBuilder),
) -> Container {
    let mut builder = Container::builder(root);
    configure(&mut builder);
    builder
        .start()
        .unwrap_or_else(|e| panic!("cannot start a container with cgroups: {e}"))
}

/// The hierarchies a container's cgroups are in on this host (a v1 controller, `None` for v2):
/// memory, pids and cpuacct always, cpu with CPU settings, and the v1 freezer for the
/// kill-all; the v2 hierarchy alone on a unified host.
fn expected_hierarchies(cpu: bool) -> Vec<Option<&'static str>> {
    let layout = Layout::detect().unwrap_or_else(|e| panic!("{e}"));
    if layout == Layout::Unified {
        return vec![None];
    }
    let mut list = vec![Some("memory"), Some("pids"), Some("cpuacct")];
    if cpu {
        list.push(Some("cpu"));
    }
    // The kill-all goes through the v1 freezer on hybrid hosts too (joining the v2 half
    // would cost every command an RCU grace period).
    list.push(Some("freezer"));
    list
}

/// Checks where the container's cgroups are — one per expected hierarchy, each directly in
/// this process's own cgroup there (in the v1 memory hierarchy, the limited `contained`
/// child of one), all with one name recording this process as owner, PID 1 in each (in the
/// memory hierarchy: in the parent of `contained`, where it moved so that the OOM killer
/// never picks it) — and returns them.
#[track_caller]
fn assert_placed(c: &Container, cpu: bool) -> Vec<PathBuf> {
    let paths = c.cgroup_paths();
    // The container's own cgroup per hierarchy: the memory one is `<name>/contained`.
    let own: Vec<PathBuf> = paths
        .iter()
        .map(|p| {
            if p.file_name().is_some_and(|n| n == "contained") {
                p.parent().expect("a parent").to_path_buf()
            } else {
                p.clone()
            }
        })
        .collect();
    let contained = paths.len() - own.iter().zip(&paths).filter(|(a, b)| a == b).count();
    assert_eq!(
        contained,
        usize::from(!unified()),
        "only the v1 memory cgroup has a limited child: {paths:?}"
    );
    let parents: BTreeSet<PathBuf> = own
        .iter()
        .map(|p| p.parent().expect("a parent").to_path_buf())
        .collect();
    let expected: BTreeSet<PathBuf> = expected_hierarchies(cpu)
        .into_iter()
        .map(|h| own_cgroup_dir(h).unwrap_or_else(|| panic!("no own cgroup in {h:?}")))
        .collect();
    assert_eq!(
        parents, expected,
        "one cgroup in each expected hierarchy, under this process's own: {paths:?}"
    );
    assert_eq!(paths.len(), expected.len(), "{paths:?}");
    let me = std::process::id();
    let my_start = proc_stat(me).expect("own stat").start_time;
    let names: BTreeSet<String> = own
        .iter()
        .map(|p| {
            p.file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names.len(), 1, "one name in every hierarchy: {paths:?}");
    let name = names.first().expect("one name");
    assert_eq!(
        owner_of(name),
        Some((me, my_start)),
        "{name} records its owner"
    );
    for p in &own {
        assert!(
            procs_of(p).contains(&c.init_pid()),
            "PID 1 ({}) is in {}: {:?}",
            c.init_pid(),
            p.display(),
            procs_of(p)
        );
    }
    paths
}

/// Asserts that none of `paths` exists any more.
#[track_caller]
fn assert_removed(paths: &[PathBuf]) {
    let left: Vec<&PathBuf> = paths.iter().filter(|p| p.exists()).collect();
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
}

/// The container's cgroup in the hierarchy of `controller`, or (on a unified host) its v2 one.
fn controller_dir(paths: &[PathBuf], controller: &str) -> PathBuf {
    match Layout::detect().unwrap_or_else(|e| panic!("{e}")) {
        Layout::Unified => path_in(paths, None),
        _ => path_in(paths, Some(controller)),
    }
}

/// Whether the host runs only cgroup v2.
fn unified() -> bool {
    Layout::detect().unwrap_or_else(|e| panic!("{e}")) == Layout::Unified
}

/// A fork loop inside hits `pids_max(20)`: the shell cannot fork, the kernel counts the refusal,
/// the processes stay within the limit; the container still tears down completely — the sleeps
/// die and the cgroups are removed.
#[test]
fn pids_limit_stops_a_fork_loop_and_the_container_still_tears_down() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let c = start_with(&scratch.root(), |b| {
        b.pids_max(20);
    });
    let paths = assert_placed(&c, false);
    let pids_dir = controller_dir(&paths, "pids");
    assert_eq!(read_control(&pids_dir, "pids.max"), "20");
    let (status, _, stderr) = sh(&c, FORK_LOOP);
    assert!(
        !status.success() && stderr.contains("can't fork"),
        "the shell could fork past pids.max 20: {status}, stderr {stderr:?}"
    );
    let usage = c.resource_usage().expect("usage with cgroups");
    assert!(
        usage.pids_limit_hits > 0,
        "pids.events counts it: {usage:?}"
    );
    let pids = usage.pids.expect("pids.current");
    assert!((10..=20).contains(&pids), "PID 1 and the sleeps: {usage:?}");
    let pid_ns = ns_of(c.init_pid(), "pid").expect("the pid namespace");
    let sleeps: Vec<(u32, u64)> = processes_in_pid_ns(&pid_ns)
        .into_iter()
        .filter(|p| p.comm == "sleep")
        .map(|p| (p.pid, p.start_time))
        .collect();
    assert!(
        sleeps.len() >= 10,
        "the sleeps forked before the limit: {sleeps:?}"
    );
    within(DEADLINE, "stopping the container", move || c.stop())
        .unwrap_or_else(|e| panic!("teardown after the fork loop: {e}"));
    let alive_sleeps: Vec<_> = sleeps.iter().filter(|&&o| owner_alive(o)).collect();
    assert!(alive_sleeps.is_empty(), "sleeps survived: {alive_sleeps:?}");
    assert_removed(&paths);
    leaks.assert_clean();
}

/// `memory_max(32 MiB)`: a hog (`tail /dev/zero` buffers one endless line) is killed by the OOM
/// killer, which `resource_usage()` counts; the peak stays at the limit; the container stays
/// usable — also when the caller holds more memory than the limit, as a library's caller
/// usually does (PID 1 is a fork of it).
#[test]
fn memory_limit_ends_a_hog_through_the_oom_killer_library() {
    const LIMIT: u64 = 32 * MIB;
    let scratch = Scratch::new();
    // 64 MiB of this process's memory, resident (every byte written) while PID 1 is forked.
    let ballast = std::hint::black_box(vec![1u8; 64 << 20]);
    let c = start_with(&scratch.root(), |b| {
        b.memory_max(LIMIT);
    });
    assert_eq!(c.memory_max(), Some(LIMIT));
    let paths = assert_placed(&c, false);
    let memory = controller_dir(&paths, "memory");
    if unified() {
        assert_eq!(read_control(&memory, "memory.max"), LIMIT.to_string());
    } else {
        assert_eq!(
            read_control(&memory, "memory.limit_in_bytes"),
            LIMIT.to_string()
        );
        if memory.join("memory.memsw.limit_in_bytes").exists() {
            assert_eq!(
                read_control(&memory, "memory.memsw.limit_in_bytes"),
                LIMIT.to_string(),
                "swap included"
            );
        }
    }
    let before = c.resource_usage().expect("usage with cgroups");
    assert_eq!(before.oom_kills, 0, "{before:?}");
    let hog = run(&c, "tail", &["/dev/zero"]);
    assert_eq!(
        hog.status.signal(),
        Some(libc::SIGKILL),
        "the hog ends by SIGKILL: {:?}",
        hog
    );
    let usage = c.resource_usage().expect("usage with cgroups");
    assert!(usage.oom_kills >= 1, "the OOM kill is counted: {usage:?}");
    let peak = usage.memory_peak.expect("a memory peak");
    assert!(
        (LIMIT / 2..=LIMIT + MIB).contains(&peak),
        "the peak ({peak}) reached the limit ({LIMIT}) and no more: {usage:?}"
    );
    assert!(usage.memory_current.is_some(), "{usage:?}");
    // The OOM killer ranks processes by their resident memory, which for PID 1 (a fork of
    // this process) includes the pages it shares with us, charged to no cgroup of the
    // container: the ballast.
    assert!(
        c.is_running(),
        "the OOM killer chose PID 1 (the container is gone), not only the hog: {usage:?}"
    );
    assert_eq!(sh_ok(&c, "echo alive"), "alive\n");
    drop(c);
    drop(ballast);
    assert_removed(&paths);
}

/// The CLI: `--memory 32M` with a hog exits 137 and says, on one line, that the OOM killer
/// ended the command; a command that dies of a SIGKILL of its own is not blamed on it.
#[test]
fn memory_limit_ends_a_hog_through_the_oom_killer_cli() {
    let scratch = Scratch::new();
    let root = scratch.root();
    let root = root.to_str().expect("a UTF-8 root");
    let (_, hog) = furnace(&["run", "--memory", "32M", root, "tail", "/dev/zero"]);
    assert_eq!(hog.status.code(), Some(137), "{hog:?}");
    assert_eq!(
        hog.stderr,
        "furnace: the command was killed by the OOM killer (memory limit 32 MiB)\n"
    );
    let (_, killed) = furnace(&["run", "--memory", "32M", root, "sh", "-c", "kill -9 $$"]);
    assert_eq!(killed.status.code(), Some(137), "{killed:?}");
    assert_eq!(
        killed.stderr, "",
        "a SIGKILL that is no OOM kill is not reported as one"
    );
}

/// `cpu_quota(1.5).cpu_weight(500)`: read back from the files the kernel uses; the CPU time a
/// busy loop inside burns is counted.
#[test]
fn cpu_settings_are_in_the_kernels_files_and_cpu_time_is_counted() {
    let scratch = Scratch::new();
    let c = start_with(&scratch.root(), |b| {
        b.cpu_quota(1.5).cpu_weight(500);
    });
    let paths = assert_placed(&c, true);
    let cpu = controller_dir(&paths, "cpu");
    if unified() {
        assert_eq!(read_control(&cpu, "cpu.max"), "150000 100000");
        assert_eq!(read_control(&cpu, "cpu.weight"), "500");
    } else {
        assert_eq!(read_control(&cpu, "cpu.cfs_period_us"), "100000");
        assert_eq!(read_control(&cpu, "cpu.cfs_quota_us"), "150000");
        // w * 1024 / 100: the weights' default (100) is the shares' default (1024).
        assert_eq!(read_control(&cpu, "cpu.shares"), "5120");
    }
    let before = c
        .resource_usage()
        .expect("usage with cgroups")
        .cpu_time
        .expect("CPU time");
    sh_ok(&c, "i=0; while [ $i -lt 500000 ]; do i=$((i+1)); done");
    let after = c
        .resource_usage()
        .expect("usage with cgroups")
        .cpu_time
        .expect("CPU time");
    assert!(
        after > before && after - before >= Duration::from_millis(10),
        "a busy loop of about half a second of CPU is counted: {before:?} then {after:?}"
    );
    drop(c);
    assert_removed(&paths);
}

/// Inside, `/proc/self/cgroup` shows `/` on every line, the v2 one included (the cgroup
/// namespace is rooted at the container's cgroups), while the host sees the same command in
/// the container's cgroups: PID 1 joined them before it made the namespace.
#[test]
fn inside_the_cgroups_are_the_root_and_outside_they_hold_the_commands() {
    let scratch = Scratch::new();
    let c = start_with(&scratch.root(), |b| {
        b.pids_max(1000);
    });
    let paths = assert_placed(&c, false);
    // PID 1 moved up out of the limited memory cgroup (the namespace's root there), so its
    // memory line reads `/..`; every other line of it, and every line of a command, is `/`.
    for script in ["cat /proc/self/cgroup", "grep -v :memory: /proc/1/cgroup"] {
        let out = sh_ok(&c, script);
        let lines = parse_proc_cgroup(&out);
        assert_eq!(
            lines.len(),
            out.lines().count(),
            "{script}: every line parses: {out}"
        );
        assert!(
            lines.iter().any(|l| l.is_v2()),
            "{script}: the 0:: line: {out}"
        );
        assert!(
            lines.iter().all(|l| l.path == Path::new("/")),
            "{script}: `/` on every line: {out}"
        );
    }
    let mut child = c
        .command("sleep")
        .arg("1000")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sleep");
    let pid = child.id();
    let host_view: BTreeSet<PathBuf> = cgroups_of(pid)
        .iter()
        .filter_map(|line| {
            let mount = if line.is_v2() {
                hierarchy(None)?
            } else {
                hierarchy(Some(line.controllers.first()?))?
            };
            Some(mount.join(line.path.strip_prefix("/").unwrap_or(&line.path)))
        })
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    for p in &paths {
        assert!(
            host_view.contains(p),
            "the host's /proc/{pid}/cgroup names {}: {host_view:?}",
            p.display()
        );
    }
    drop(c);
    assert_removed(&paths);
}

/// A double-forked, `setsid`ed daemon inside — adopted by PID 1, no child of ours — dies at
/// teardown, and the cgroups go with it.
#[test]
fn a_setsid_daemon_inside_dies_at_teardown() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let c = start_with(&scratch.root(), |b| {
        b.pids_max(100);
    });
    let paths = assert_placed(&c, false);
    let init = c.init_pid();
    sh_ok(
        &c,
        "setsid sh -c 'sleep 1000 </dev/null >/dev/null 2>&1 &' </dev/null >/dev/null 2>&1",
    );
    let pid_ns = ns_of(init, "pid").expect("the pid namespace");
    let daemon = settle(
        DEADLINE,
        || {
            processes_in_pid_ns(&pid_ns)
                .into_iter()
                .find(|p| p.comm == "sleep")
        },
        Option::is_some,
    )
    .unwrap_or_else(|_| panic!("no daemon in the container's pid namespace"))
    .expect("found");
    assert_eq!(daemon.ppid, init, "PID 1 adopted the daemon: {daemon:?}");
    let pids_dir = controller_dir(&paths, "pids");
    assert!(
        procs_of(&pids_dir).contains(&daemon.pid),
        "the daemon is in the container's cgroup"
    );
    within(DEADLINE, "dropping the container", move || drop(c));
    assert!(
        !owner_alive((daemon.pid, daemon.start_time)),
        "the daemon {} survived the teardown",
        daemon.pid
    );
    assert_removed(&paths);
    leaks.assert_clean();
}

/// An owner killed with SIGKILL leaves its container's cgroups (empty: the kernel killed the
/// container); the next container with cgroups started under the same parent removes them,
/// the owner being dead.
#[test]
fn the_cgroups_of_a_sigkilled_owner_are_swept_by_the_next_start() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let mut helper = Helper::start(Path::new(HELPER), "hold-limited", &scratch.root());
    let owner = helper.pid();
    let dirs: Vec<PathBuf> = cgroups_owned_by(owner).into_iter().collect();
    // Removed on drop if the sweep does not: a failing test leaves nothing either.
    let _cleanup = RemoveOnDrop(dirs.clone());
    let parents: BTreeSet<PathBuf> = dirs
        .iter()
        .map(|d| d.parent().expect("a parent").to_path_buf())
        .collect();
    let expected: BTreeSet<PathBuf> = expected_hierarchies(false)
        .into_iter()
        .filter_map(own_cgroup_dir)
        .collect();
    assert_eq!(
        parents, expected,
        "the helper's cgroups, by its pid: {dirs:?}"
    );
    for d in &dirs {
        assert!(procs_of(d).contains(&helper.init_pid), "{}", d.display());
    }
    helper.kill();
    let (status, _) = helper.wait();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    wait_until(DEADLINE, "the helper's container is gone", || {
        processes_in_pid_ns(&helper.pid_ns).is_empty() && !alive(helper.init_pid)
    });
    let left: Vec<&PathBuf> = dirs.iter().filter(|d| d.exists()).collect();
    // Nothing else removes them (PID 1 cannot): the sweep below is what this test is about.
    assert_eq!(
        left.len(),
        dirs.len(),
        "the dead owner's cgroups stay until the next start: {left:?}"
    );
    for d in &left {
        assert_eq!(procs_of(d), Vec::<u32>::new(), "{} is empty", d.display());
    }
    eprintln!(
        "after the SIGKILL, {} of the owner's {} cgroups were left for the sweep",
        left.len(),
        dirs.len()
    );
    let c = start_with(&scratch.root(), |b| {
        b.own_cgroup(true);
    });
    let swept: Vec<&PathBuf> = dirs.iter().filter(|d| d.exists()).collect();
    assert!(swept.is_empty(), "not swept at the next start: {swept:?}");
    let paths = c.cgroup_paths();
    drop(c);
    assert_removed(&paths);
    drop(helper);
    leaks.assert_clean();
}

/// Bad limits on the command line: exit 125 with one line naming the option or the limit, and
/// not a cgroup made, not even for a moment. A good command line, with the same watch, makes
/// and removes them (the proof that the watch sees them).
#[test]
fn bad_limits_on_the_command_line_are_refused_before_anything_is_made() {
    let scratch = Scratch::new();
    let root = scratch.root();
    let root = root.to_str().expect("a UTF-8 root");
    let watch = CgroupWatch::new();
    let cases: &[(&[&str], &str)] = &[
        (&["--memory", "0"], "memory limit 0 bytes"),
        (&["--memory", "lots"], "--memory"),
        (&["--memory", "1K"], "memory limit 1024 bytes"),
        (&["--cpus", "-1"], "CPU quota -1"),
        (&["--cpus", "abc"], "--cpus"),
        (&["--cpus", "inf"], "CPU quota"),
        (&["--memory", "-3M"], "--memory"),
        (&["--pids-limit", "0"], "pids limit 0"),
        (&["--pids-limit", "-3"], "--pids-limit"),
        (&["--cpu-weight", "0"], "CPU weight 0"),
        (&["--cpu-weight", "10001"], "CPU weight 10001"),
    ];
    for (options, needle) in cases {
        let mut args = vec!["run"];
        args.extend_from_slice(options);
        args.extend([root, "true"]);
        let (pid, ran) = furnace(&args);
        assert_eq!(ran.status.code(), Some(125), "{options:?}: {ran:?}");
        assert_eq!(
            ran.stderr.lines().count(),
            1,
            "{options:?}: one line: {:?}",
            ran.stderr
        );
        assert!(
            ran.stderr.starts_with("furnace: ") && ran.stderr.contains(needle),
            "{options:?}: {needle:?} not in {:?}",
            ran.stderr
        );
        assert_eq!(watch.created_by(pid), Vec::<PathBuf>::new(), "{options:?}");
        assert_eq!(cgroups_owned_by(pid), BTreeSet::new(), "{options:?}");
    }
    let (pid, ran) = furnace(&[
        "run",
        "--memory",
        "32M",
        "--pids-limit",
        "50",
        "--cpus",
        "0.5",
        "--cpu-weight",
        "200",
        root,
        "true",
    ]);
    assert!(ran.status.success() && ran.stderr.is_empty(), "{ran:?}");
    let made = watch.created_by(pid);
    assert_eq!(
        made.len(),
        expected_hierarchies(true).len(),
        "the watch saw the good command line's cgroups: {made:?} (watching {:?})",
        watch.dirs()
    );
    assert_removed(&made);
}

/// Bad limits through the library: `Error::InvalidLimit` from `start`, naming the limit, and
/// no cgroup made; the smallest memory limit accepted runs a shell.
#[test]
fn bad_limits_through_the_library_are_refused_before_anything_is_made() {
    let scratch = Scratch::exclusive();
    // Before the snapshot: its fd is no leftover.
    let watch = CgroupWatch::new();
    let leaks = LeakCheck::snapshot();
    let me = std::process::id();
    type Set = fn(&mut furnace_core::ContainerBuilder);
    let cases: &[(Set, &str, &str)] = &[
        (
            |b| {
                b.memory_max(0);
            },
            "memory limit",
            "0 bytes",
        ),
        (
            |b| {
                b.memory_max(MIN_MEMORY - 1);
            },
            "memory limit",
            "4194303 bytes",
        ),
        (
            |b| {
                b.pids_max(0);
            },
            "pids limit",
            "0",
        ),
        (
            |b| {
                b.cpu_quota(-1.0);
            },
            "CPU quota",
            "-1",
        ),
        (
            |b| {
                b.cpu_quota(0.001);
            },
            "CPU quota",
            "0.001",
        ),
        (
            |b| {
                b.cpu_quota(f64::NAN);
            },
            "CPU quota",
            "NaN",
        ),
        (
            |b| {
                b.cpu_weight(0);
            },
            "CPU weight",
            "0",
        ),
        (
            |b| {
                b.cpu_weight(10_001);
            },
            "CPU weight",
            "10001",
        ),
    ];
    for (set, what, value) in cases {
        let mut builder = Container::builder(scratch.root());
        set(&mut builder);
        match builder.start() {
            Err(Error::InvalidLimit {
                what: w, value: v, ..
            }) => {
                assert_eq!((w, v.as_str()), (*what, *value));
            }
            Err(other) => panic!("{what} {value}: expected InvalidLimit, got {other:?}"),
            Ok(_) => panic!("{what} {value}: the container started"),
        }
        assert_eq!(
            watch.created_by(me),
            Vec::<PathBuf>::new(),
            "{what} {value}"
        );
    }
    let c = start_with(&scratch.root(), |b| {
        b.memory_max(MIN_MEMORY);
    });
    assert_eq!(sh_ok(&c, "echo small"), "small\n");
    assert_eq!(
        watch.created_by(me).len(),
        expected_hierarchies(false).len(),
        "the watch saw the good container's cgroups"
    );
    drop(c);
    leaks.assert_clean();
}

/// Without limits nothing is made: no cgroup paths, no usage, not a cgroup seen; with
/// `own_cgroup(true)` the cgroups are there, usage is read, and nothing is limited.
#[test]
fn without_limits_nothing_is_made_and_own_cgroup_limits_nothing() {
    let scratch = Scratch::exclusive();
    // Before the snapshot: its fd is no leftover.
    let watch = CgroupWatch::new();
    let leaks = LeakCheck::snapshot();
    let me = std::process::id();
    let c = start(&scratch.root());
    assert_eq!(c.cgroup_paths(), Vec::<PathBuf>::new());
    assert_eq!(c.resource_usage(), None);
    assert_eq!(c.memory_max(), None);
    sh_ok(&c, "true");
    drop(c);
    assert_eq!(
        watch.created_by(me),
        Vec::<PathBuf>::new(),
        "a cgroup was made"
    );
    let c = start_with(&scratch.root(), |b| {
        b.own_cgroup(true);
    });
    let paths = assert_placed(&c, false);
    let usage = c.resource_usage().expect("usage with own cgroups");
    assert!(usage.pids.is_some_and(|n| n >= 1), "{usage:?}");
    assert_eq!(
        read_control(&controller_dir(&paths, "pids"), "pids.max"),
        "max"
    );
    assert_eq!(c.memory_max(), None);
    drop(c);
    assert_removed(&paths);
    leaks.assert_clean();
}

/// The leak oracle reports a `furnace-*` cgroup of this process, and one of an owner that
/// started after its snapshot and died, both in this process's own cgroup; it ignores one of a
/// live process that is not ours and one of an owner dead since before the snapshot.
#[test]
fn leak_oracle_notices_leftover_cgroups() {
    let _scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let parent = own_cgroup_dirs().into_iter().next().expect("an own cgroup");
    let mut sleeper = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .expect("spawn a host sleep");
    let dead = proc_stat(sleeper.id()).expect("its stat");
    sleeper.kill().expect("kill");
    sleeper.wait().expect("wait");
    let me = proc_stat(std::process::id()).expect("own stat");
    let init = proc_stat(1).expect("PID 1's stat");
    let name = |(pid, start): (u32, u64)| format!("furnace-{pid}-{start}-999999");
    let ours = [
        name((me.pid, me.start_time)),
        name((dead.pid, dead.start_time)),
    ];
    let foreign = [name((init.pid, init.start_time)), name((dead.pid, 1))];
    let dirs: Vec<PathBuf> = ours
        .iter()
        .chain(&foreign)
        .map(|n| parent.join(n))
        .collect();
    let cleanup = RemoveOnDrop(dirs.clone());
    for d in &dirs {
        std::fs::create_dir(d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
    }
    let verdict = std::panic::catch_unwind(|| leaks.assert_clean());
    let message = match verdict {
        Ok(()) => String::new(),
        Err(panic) => panic.downcast_ref::<String>().cloned().unwrap_or_default(),
    };
    for n in &ours {
        assert!(message.contains(n.as_str()), "{n} is reported: {message}");
    }
    for n in &foreign {
        assert!(!message.contains(n.as_str()), "{n} is not ours: {message}");
    }
    drop(cleanup);
    assert_removed(&dirs);
    leaks.assert_clean();
}
