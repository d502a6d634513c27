//! Load (the reference `shared/SECURITY.md`, §7 I01/I02, H01/H02), in reduced versions that run
//! in CI in seconds: sequential and concurrent containers with zero drift in the leak oracle, a
//! zombie flood that is reaped, and a fork bomb fenced by a pids cgroup the test makes (never
//! run unfenced). Every test holds its scratch exclusively and ends with the leak oracle.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use furnace_core::Container;
use furnace_tests::hostside::PidsCgroup;
use furnace_tests::probe::*;
use furnace_tests::*;

/// Zombie children of this process (a container teardown must reap the ones it killed).
fn our_zombies() -> Vec<u32> {
    let me = std::process::id();
    all_processes()
        .into_iter()
        .filter(|p| p.ppid == me && p.is_zombie())
        .map(|p| p.pid)
        .collect()
}

/// I01: a thousand containers in a row (start, echo, stop) leave no drift.
#[test]
fn a_thousand_sequential_containers_leave_no_drift() {
    const CONTAINERS: usize = 1000;
    let scratch = Scratch::exclusive();
    // Warm-up: whatever a first container initialises once (thread-locals, caches) is not
    // drift.
    sh_ok(&start(&scratch.root()), "true");
    let leaks = LeakCheck::snapshot();
    let began = Instant::now();
    for i in 0..CONTAINERS {
        let c = Container::builder(scratch.root())
            .isolate_network(i % 4 == 3)
            .start()
            .unwrap_or_else(|e| panic!("container {i}: {e}"));
        let out = run(&c, "echo", &[format!("container-{i}")]);
        assert_eq!(out.stdout, format!("container-{i}\n"), "container {i}");
        c.stop()
            .unwrap_or_else(|e| panic!("stop container {i}: {e}"));
    }
    let took = began.elapsed();
    assert_eq!(our_zombies(), Vec::<u32>::new(), "no zombie children");
    leaks.assert_clean();
    eprintln!(
        "{CONTAINERS} sequential containers (start, echo, stop; every 4th with its own \
         network) in {took:.2?}, {:.2?} each; no drift",
        took / CONTAINERS as u32
    );
}

/// I02, D09: fifty containers from threads, alive together on one root, binding onto one new
/// destination, each see only themselves.
#[test]
fn fifty_concurrent_containers_from_threads_see_only_themselves() {
    const CONTAINERS: usize = 50;
    let scratch = Scratch::exclusive();
    let src = TempDir::new("load-src");
    std::fs::write(src.join("payload"), "shared payload\n").expect("write");
    let leaks = LeakCheck::snapshot();
    let began = Instant::now();
    // Everyone starts, then everyone looks at once (all 50 alive), then everyone stops.
    let all_started = Arc::new(Barrier::new(CONTAINERS));
    let all_looked = Arc::new(Barrier::new(CONTAINERS));
    let root = scratch.root();
    let source = src.path().to_path_buf();
    let results: Vec<Result<(), String>> = within(Duration::from_secs(120), "50 containers", {
        move || {
            let threads: Vec<_> = (0..CONTAINERS)
                .map(|i| {
                    let (root, source) = (root.clone(), source.clone());
                    let (started, looked) = (Arc::clone(&all_started), Arc::clone(&all_looked));
                    std::thread::spawn(move || -> Result<(), String> {
                        // All on one root, all binding onto the same new destination.
                        let container = Container::builder(&root)
                            .isolate_network(i % 2 == 0)
                            .hostname(format!("c{i}"))
                            .bind_ro(&source, "/mnt/shared-dest")
                            .start();
                        // Nothing between the barriers may panic (the others would wait
                        // forever): every failure is a value.
                        let shell = |c: &Container, script: &str| -> Result<String, String> {
                            let out = c
                                .command("sh")
                                .args(["-c", script])
                                .output()
                                .map_err(|e| format!("container {i}: {script}: {e}"))?;
                            if !out.status.success() {
                                return Err(format!(
                                    "container {i}: {script}: {}: {}",
                                    out.status,
                                    String::from_utf8_lossy(&out.stderr)
                                ));
                            }
                            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
                        };
                        let checked = container
                            .as_ref()
                            .map_err(|e| format!("container {i}: start: {e}"))
                            .and_then(|c| shell(c, &format!("echo {i} > /dev/shm/token-{i}")));
                        started.wait();
                        let checked = checked.and_then(|_| {
                            let c = container.as_ref().expect("started");
                            let out = shell(
                                c,
                                "hostname; ls /dev/shm; cat /mnt/shared-dest/payload; \
                                 ls /proc | grep -c '^[0-9]'",
                            )?;
                            let lines: Vec<&str> = out.lines().collect();
                            // Processes: PID 1, sh, and the ls | grep pipeline.
                            let alone = lines.len() == 4
                                && lines[0] == format!("c{i}")
                                && lines[1] == format!("token-{i}")
                                && lines[2] == "shared payload"
                                && lines[3]
                                    .parse::<usize>()
                                    .is_ok_and(|n| (3..=4).contains(&n));
                            if !alone {
                                return Err(format!("container {i} sees: {out:?}"));
                            }
                            Ok(())
                        });
                        looked.wait();
                        drop(container);
                        checked
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().unwrap_or_else(|_| Err("a thread panicked".into())))
                .collect()
        }
    });
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let took = began.elapsed();
    assert_eq!(our_zombies(), Vec::<u32>::new(), "no zombie children");
    leaks.assert_clean();
    eprintln!(
        "{CONTAINERS} concurrent containers from threads (half with their own network, all \
         binding onto one new destination of one root), alive together, in {took:.2?}; \
         each saw only itself; no drift"
    );
}

/// H01: 2000 orphans inside are reaped by PID 1; 300 commands dropped unwaited are reaped at
/// teardown.
#[test]
fn zombie_flood_is_reaped() {
    const ORPHANS: &str = "2000";
    const UNWAITED: usize = 300;
    let scratch = Scratch::exclusive();
    install_probe(&scratch);
    let leaks = LeakCheck::snapshot();
    let began = Instant::now();
    let c = start(&scratch.root());
    // (a) Orphaned grandchildren land on PID 1, which must not let them stay zombies.
    assert_eq!(
        probe_answer(&c, &["orphans", ORPHANS]),
        Answer::Ok(ORPHANS.to_owned())
    );
    let init = c.init_pid();
    wait_until(DEADLINE, "no zombie is left under PID 1", || {
        !all_processes()
            .iter()
            .any(|p| p.ppid == init && p.is_zombie())
    });
    // The stat lines as the container's /proc shows them, read by furnace-sys's parser.
    let inside = sh_ok(
        &c,
        "for s in /proc/[0-9]*/stat; do read -r l < $s 2>/dev/null && echo \"$l\"; done; true",
    );
    let stats: Vec<ProcStat> = inside.lines().filter_map(ProcStat::parse).collect();
    assert!(
        !stats.is_empty(),
        "premise: the container's /proc is readable:\n{inside}"
    );
    let zombies: Vec<&ProcStat> = stats.iter().filter(|p| p.is_zombie()).collect();
    assert_eq!(zombies, Vec::<&ProcStat>::new(), "no zombie inside");
    // (b) Commands spawned and dropped without waiting: our zombies until teardown reaps them.
    for _ in 0..UNWAITED {
        let child = c
            .command("true")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn");
        drop(child);
    }
    wait_until(DEADLINE, "the unwaited commands have exited", || {
        our_zombies().len() >= UNWAITED
    });
    c.stop().expect("stop");
    assert_eq!(our_zombies(), Vec::<u32>::new(), "teardown reaped them");
    leaks.assert_clean();
    eprintln!(
        "zombie flood: {ORPHANS} orphans reaped by PID 1, {UNWAITED} unwaited commands reaped \
         at teardown, in {:.2?}",
        began.elapsed()
    );
}

/// H02: a fork bomb inside, fenced by a pids cgroup the test made before it ran, fills the
/// fence and no more; the container stays usable and goes away completely.
#[test]
fn fork_bomb_is_fenced_by_a_pids_cgroup() {
    const PIDS_MAX: u32 = 100;
    const BUDGET: &str = "4000";
    let scratch = Scratch::exclusive();
    install_probe(&scratch);
    let leaks = LeakCheck::snapshot();
    // The fence exists, with its limit, before anything runs.
    let fence = PidsCgroup::new(PIDS_MAX);
    let c = start(&scratch.root());
    fence.add(c.init_pid());
    // The bomb waits on stdin until it is inside the fence: it is never unfenced, not even
    // for a fork.
    let mut bomb = c
        .command("sh")
        .args(["-c", &format!("read go && exec {PROBE} forkbomb {BUDGET}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the bomb");
    fence.add(bomb.id());
    let procs = fence.procs();
    assert!(
        procs.contains(&bomb.id()) && procs.contains(&c.init_pid()),
        "PID 1 and the bomb are fenced: {procs:?}"
    );
    let mut go = bomb.stdin.take().expect("piped");
    go.write_all(b"go\n").expect("release the bomb");
    drop(go);
    let stdout = bomb.stdout.take().expect("piped");
    let report = within(DEADLINE, "the fork bomb hits the fence", move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        line
    });
    let status = bomb.wait().expect("wait for the bomb's first process");
    assert!(status.success(), "{status}: {report}");
    let probes: u32 = report
        .strip_prefix("eagain after ")
        .and_then(|rest| rest.strip_suffix(" probes\n"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the bomb was not stopped by EAGAIN: {report:?}"));
    let current = fence.current();
    assert!(
        current <= PIDS_MAX && current > PIDS_MAX / 2,
        "the bomb filled the fence and no more: pids.current {current}"
    );
    // The container is still usable from outside the fence (spawns are the caller's children,
    // which are not in it), and goes away completely.
    assert_eq!(sh_ok(&c, "echo alive"), "alive\n");
    within(DEADLINE, "dropping the bombed container", move || drop(c));
    wait_until(DEADLINE, "the fence is empty", || fence.current() == 0);
    let path = fence.path().to_path_buf();
    drop(fence);
    assert!(!path.exists(), "the pids cgroup is removed");
    leaks.assert_clean();
    eprintln!(
        "fork bomb (budget {BUDGET}) fenced at pids.max {PIDS_MAX}: fork failed with EAGAIN \
         after {probes} probe forks, {current} pids in the fence; all gone"
    );
}
