//! Named, long-lived containers (issue 13) through the library in this process: the detached
//! lifetime (a dropped handle only releases the container), attaching by name and by pid,
//! stopping from any handle, the timeout, stale entries (PID 1 killed, a pid reused), and
//! limits and the hardened profile seen through an attached handle. Names (bad, in use,
//! raced for) and containers started by other processes (the CLI, as root and without root)
//! are in [`named_callers`](crate::named_callers).
//!
//! Every test has a registry of its own in a temporary directory ([`Named`]), whose guard
//! stops whatever the test started there and removes the directory, also when the test fails.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use furnace_core::{
    Container, ContainerBuilder, Error, ExitKind, Lifetime, Registry, HARDENED_CAPABILITIES,
};
use furnace_sys::cgroup::Layout;
use furnace_sys::{Pidfd, Signal};
use furnace_tests::cgroups::{cgroups_of, hierarchy, path_in, read_control};
use furnace_tests::*;

const MIB: u64 = 1 << 20;

/// A registry of the test's own — `registry` in a temporary directory, made by the library at
/// the first start — and the guard of what the test started there. On drop it stops every
/// container of the registry; kills (through pidfds taken while they ran) the PID 1s it was
/// told of that still run, e.g. those the registry cannot stop; lets the registry clean the
/// stale entries and their cgroups; reaps the PID 1s that are children of this process; and
/// removes the directory.
pub(crate) struct Named {
    registry: Registry,
    pids: Mutex<Vec<Pidfd>>,
    // Dropped after `drop` ran: the directory goes last.
    _dir: TempDir,
}

impl Named {
    /// A registry in a fresh `/tmp/furnace-test-registry-*` directory.
    pub(crate) fn new() -> Named {
        let dir = TempDir::new("registry");
        Named::at(dir.join("registry"), dir)
    }

    /// The registry `path`, in `holder`, which is removed with the guard.
    pub(crate) fn at(path: PathBuf, holder: TempDir) -> Named {
        Named {
            registry: Registry::at(path),
            pids: Mutex::new(Vec::new()),
            _dir: holder,
        }
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The registry's directory.
    pub(crate) fn path(&self) -> &Path {
        self.registry.dir()
    }

    /// The directory of the container `name`.
    pub(crate) fn entry(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// Starts `builder` under `name` in this registry (detached: a name makes it so).
    pub(crate) fn start(&self, builder: &mut ContainerBuilder, name: &str) -> Container {
        let c = builder
            .name(name)
            .registry(self.registry.clone())
            .start()
            .unwrap_or_else(|e| panic!("cannot start the named container {name}: {e}"));
        self.track(c.init_pid());
        c
    }

    /// Tells the guard of the running PID 1 `pid` (a pidfd of it is kept).
    pub(crate) fn track(&self, pid: u32) {
        let pidfd = Pidfd::open(pid).unwrap_or_else(|e| panic!("pidfd_open({pid}): {e}"));
        self.pids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(pidfd);
    }

    /// Waits (at most [`DEADLINE`]) until the tracked PID 1 `pid` has exited; reaps it when
    /// it is a child of this process and returns how it ended (`None`: another's child).
    pub(crate) fn wait_exit(&self, pid: u32) -> Option<ExitKind> {
        let pids = self.pids.lock().unwrap_or_else(|e| e.into_inner());
        let pidfd = pids
            .iter()
            .find(|p| p.pid() == pid)
            .unwrap_or_else(|| panic!("{pid} is not tracked"));
        assert!(
            pidfd
                .wait_exit_timeout(Some(DEADLINE))
                .expect("poll a pidfd"),
            "PID 1 ({pid}) did not exit within {DEADLINE:?}"
        );
        pidfd.try_wait().ok().flatten()
    }

    /// The names in the registry's directory (`.tmp-*` ones too), sorted.
    pub(crate) fn listing(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.path())
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        for name in self.listing() {
            if furnace_core::validate_name(&name).is_err() {
                continue;
            }
            // Through pidfds (opened while the registry vouched for the pid): what `stop` may
            // refuse, such as a container started without root, is still ended.
            let info = self.registry.info(&name);
            if let Ok(pidfd) = info.map(|i| Pidfd::open(i.pid)) {
                match (pidfd, self.registry.stop(&name)) {
                    (_, Ok(_)) => {}
                    (Ok(pidfd), Err(e)) => {
                        eprintln!("furnace-tests: stopping {name}: {e}; killing its PID 1");
                        if self
                            .registry
                            .info(&name)
                            .is_ok_and(|i| i.pid == pidfd.pid())
                        {
                            self.pids
                                .get_mut()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(pidfd);
                        }
                    }
                    (Err(_), Err(e)) => eprintln!("furnace-tests: stopping {name}: {e}"),
                }
            }
        }
        let pids = std::mem::take(self.pids.get_mut().unwrap_or_else(|e| e.into_inner()));
        for pidfd in &pids {
            if !pidfd.has_exited().unwrap_or(true) {
                let _ = pidfd.send_signal(Signal::KILL);
            }
        }
        for pidfd in &pids {
            let _ = pidfd.wait_exit_timeout(Some(DEADLINE));
            // ECHILD unless it is a child of ours; a reaped one is not reaped twice.
            let _ = pidfd.try_wait();
        }
        // The stale entries, with their cgroups.
        let _ = self.registry.list();
    }
}

/// Whether the process `pid` that started at `start` runs (not a zombie).
pub(crate) fn is_running(pid: u32, start: u64) -> bool {
    proc_stat(pid).is_some_and(|s| s.start_time == start && !s.is_zombie())
}

/// A builder over `root` (to be named by [`Named::start`]).
pub(crate) fn over(root: &Path) -> ContainerBuilder {
    Container::builder(root)
}

/// The directory of `paths` for a v1 controller (the v2 one on a unified host).
fn controller_dir(paths: &[PathBuf], controller: &str) -> PathBuf {
    match Layout::detect().unwrap_or_else(|e| panic!("{e}")) {
        Layout::Unified => path_in(paths, None),
        _ => path_in(paths, Some(controller)),
    }
}

/// The cgroup directories `/proc/PID/cgroup` names, as host paths.
pub(crate) fn host_cgroups_of(pid: u32) -> BTreeSet<PathBuf> {
    cgroups_of(pid)
        .iter()
        .filter_map(|line| {
            let mount = if line.is_v2() {
                hierarchy(None)?
            } else {
                hierarchy(Some(line.controllers.first()?))?
            };
            Some(mount.join(line.path.strip_prefix("/").unwrap_or(&line.path)))
        })
        .collect()
}

/// Issue 13, the detached lifetime: dropping the handle of a named container started here
/// only releases it (PID 1 runs on, says its pidfd); `Registry::list` shows it and
/// `Registry::attach` by name gives a handle whose commands run inside it (its namespaces and
/// hostname, PID 1 is `furnace-init`, a file written inside is seen through the root);
/// dropping that handle releases it too; `Registry::stop` ends PID 1 (SIGKILL) and removes the
/// entry; stopping again is `Ok(false)`. Nothing is left once this process, PID 1's parent,
/// has reaped it.
#[test]
fn a_dropped_handle_releases_and_attach_by_name_runs_inside() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let named = Named::new();
    let c = named.start(over(&scratch.root()).hostname("named-web"), "web");
    assert_eq!(c.name(), Some("web"));
    let pid = c.init_pid();
    let start = proc_stat(pid).expect("PID 1 runs").start_time;
    let watch = Pidfd::open(pid).expect("a pidfd of PID 1");
    drop(c);
    assert!(
        !watch
            .wait_exit_timeout(Some(Duration::from_millis(300)))
            .expect("poll the pidfd"),
        "PID 1 ended when the handle was dropped"
    );
    assert!(is_running(pid, start));
    assert!(named.entry("web").join("state.json").is_file());
    let infos = named.registry().list().expect("list");
    let [info] = infos.as_slice() else {
        panic!("one container: {infos:?}")
    };
    assert_eq!((info.name.as_str(), info.pid), ("web", pid), "{info:?}");
    assert_eq!(
        info.root,
        fs::canonicalize(scratch.root()).expect("canonical root")
    );
    assert_eq!(info.processes, Some(1), "PID 1 alone: {info:?}");
    assert!(
        !info.hardened && !info.rootless && info.expires.is_none(),
        "{info:?}"
    );

    let a = named.registry().attach("web").expect("attach by name");
    assert_eq!((a.name(), a.init_pid()), (Some("web"), pid));
    assert!(a.is_running());
    assert_eq!(sh_ok(&a, "hostname").trim(), "named-web");
    let ps = sh_ok(&a, "ps -e -o pid=,comm=");
    assert!(
        ps.lines()
            .any(|l| l.split_whitespace().eq(["1", "furnace-init"])),
        "PID 1 inside is furnace-init:\n{ps}"
    );
    let mut sleeper = a
        .command("sleep")
        .arg("1000")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn through the attached handle");
    for kind in ["pid", "mnt", "uts", "ipc", "cgroup"] {
        assert_eq!(
            ns_of(sleeper.id(), kind),
            ns_of(pid, kind),
            "a command of the attached handle is in PID 1's {kind} namespace"
        );
    }
    sleeper.kill().expect("kill the sleep");
    sleeper.wait().expect("reap the sleep");
    sh_ok(&a, "echo attached > /root/named-file");
    assert_eq!(
        fs::read_to_string(scratch.host_path("/root/named-file")).expect("read through the root"),
        "attached\n"
    );
    drop(a);
    assert!(
        is_running(pid, start),
        "dropping an attached handle releases it"
    );
    assert!(
        named.registry().stop("web").expect("stop"),
        "it was running"
    );
    assert!(!is_running(pid, start), "PID 1 is gone once stop returned");
    assert!(
        watch.has_exited().expect("poll"),
        "its pidfd says it exited"
    );
    assert!(!named.entry("web").exists(), "the entry is removed");
    assert!(!named.registry().stop("web").expect("stop again"));
    assert!(named.registry().list().expect("list").is_empty());
    assert!(matches!(
        named.registry().attach("web"),
        Err(Error::NoSuchContainer { .. })
    ));
    // PID 1 was forked by this process, which stays its parent: `stop` reaped it, so no
    // zombie stays with a long-lived caller.
    assert!(
        proc_stat(pid).filter(|s| s.start_time == start).is_none(),
        "PID 1 was not reaped: {:?}",
        proc_stat(pid)
    );
    drop(watch);
    drop(named);
    leaks.assert_clean();
}

/// Issue 13, the timeout: with `Lifetime::Detached { timeout: Some(1 s) }` PID 1 exits on its
/// own (status 0, its timer) once the second has passed, not before; the next look at the
/// registry (`list`) has no entry, and the entry's directory and the container's cgroups are
/// removed.
#[test]
fn the_timeout_ends_pid1_and_the_next_look_cleans_up() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let named = Named::new();
    let began = Instant::now();
    let c = named.start(
        over(&scratch.root())
            .lifetime(Lifetime::Detached {
                timeout: Some(Duration::from_secs(1)),
            })
            .pids_max(32),
        "brief",
    );
    let pid = c.init_pid();
    let paths = c.cgroup_paths();
    assert!(!paths.is_empty(), "a limit gives cgroups");
    // The handle is kept until PID 1 has ended, so that this test, not the reaper a dropped
    // handle leaves behind, reaps it and sees how it ended.
    let info = named.registry().info("brief").expect("info");
    let expires = info.expires.expect("a timeout gives an expiry");
    let lasts = expires
        .duration_since(info.created)
        .expect("expires after created");
    assert!(lasts <= Duration::from_secs(2), "{info:?}");
    let how = named.wait_exit(pid);
    assert!(
        began.elapsed() >= Duration::from_secs(1),
        "ended before its timeout"
    );
    assert_eq!(how, Some(ExitKind::Exited(0)), "PID 1 left on its timer");
    drop(c);
    assert!(named.registry().list().expect("list").is_empty());
    assert!(!named.entry("brief").exists(), "the entry is removed");
    let left: Vec<&PathBuf> = paths.iter().filter(|p| p.exists()).collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
    assert!(matches!(
        named.registry().attach("brief"),
        Err(Error::NoSuchContainer { .. })
    ));
    assert!(!named.registry().stop("brief").expect("stop"));
    drop(named);
    leaks.assert_clean();
}

/// Issue 13, stale entries: PID 1 of a named container killed from outside (SIGKILL) leaves an
/// entry that the next look (`list`) removes with the container's cgroups; `info` and
/// `attach` then say `NoSuchContainer` and `stop` is `Ok(false)`.
#[test]
fn a_pid1_killed_from_outside_is_stale_and_cleaned() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let named = Named::new();
    let c = named.start(over(&scratch.root()).pids_max(32), "victim");
    let pid = c.init_pid();
    let paths = c.cgroup_paths();
    // The handle is kept until PID 1 has ended, so that this test, not the reaper a dropped
    // handle leaves behind, reaps it and sees how it ended.
    sigkill(pid).expect("SIGKILL PID 1");
    assert_eq!(named.wait_exit(pid), Some(ExitKind::Signaled(9)));
    drop(c);
    assert!(named.registry().list().expect("list").is_empty());
    assert!(
        !named.entry("victim").exists(),
        "the stale entry is removed"
    );
    let left: Vec<&PathBuf> = paths.iter().filter(|p| p.exists()).collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
    for result in [
        named.registry().info("victim").map(|_| ()),
        named.registry().attach("victim").map(|_| ()),
    ] {
        assert!(
            matches!(result, Err(Error::NoSuchContainer { .. })),
            "{result:?}"
        );
    }
    assert!(!named.registry().stop("victim").expect("stop"));
    drop(named);
    leaks.assert_clean();
}

/// `state` (a `state.json` text) with another name, pid and start time.
fn forge(state: &str, name: &str, pid: u32, start: u64) -> String {
    let mut replaced = 0;
    let forged: Vec<String> = state
        .lines()
        .map(|line| {
            let key = line.trim_start();
            let new = if key.starts_with("\"name\":") {
                format!("\"name\": \"{name}\",")
            } else if key.starts_with("\"pid\":") {
                format!("\"pid\": {pid},")
            } else if key.starts_with("\"start_time\":") {
                format!("\"start_time\": {start},")
            } else {
                return line.to_owned();
            };
            replaced += 1;
            format!("  {new}")
        })
        .collect();
    assert_eq!(replaced, 3, "name, pid and start_time in:\n{state}");
    forged.join("\n")
}

/// Issue 13, pid reuse: an entry whose pid now belongs to a process that started at another
/// time — a host `sleep`, or even the live PID 1 of another container — is stale: `attach`,
/// `stop`, `list` and `attach_pid` treat it as gone and remove it, and never signal the
/// process that has the pid now.
#[test]
fn an_entry_whose_pid_was_reused_is_stale() {
    let scratch = Scratch::new();
    let named = Named::new();
    let c = named.start(&mut over(&scratch.root()), "real");
    let real = c.init_pid();
    let real_start = proc_stat(real).expect("PID 1").start_time;
    drop(c);
    let state = fs::read_to_string(named.entry("real").join("state.json")).expect("state");
    let mut sleep = Command::new("sleep")
        .arg("1000")
        .spawn()
        .expect("a host sleep");
    let sleep_start = proc_stat(sleep.id()).expect("the sleep").start_time;
    let plant = |name: &str, pid: u32, start: u64| {
        fs::create_dir(named.entry(name)).expect("mkdir");
        fs::write(
            named.entry(name).join("state.json"),
            forge(&state, name, pid, start),
        )
        .expect("write the forged state");
    };
    plant("reused", sleep.id(), sleep_start + 1);
    plant("reused-init", real, real_start + 1);
    plant("reused-list", sleep.id(), sleep_start + 7);
    assert!(matches!(
        named.registry().attach("reused"),
        Err(Error::NoSuchContainer { .. })
    ));
    assert!(!named.registry().stop("reused-init").expect("stop"));
    let names: Vec<String> = named
        .registry()
        .list()
        .expect("list")
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["real"]);
    assert!(matches!(
        named.registry().attach_pid(sleep.id()),
        Err(Error::NoSuchContainer { .. })
    ));
    assert_eq!(named.listing(), ["real"], "the stale entries are removed");
    assert!(
        is_running(sleep.id(), sleep_start),
        "the sleep was not touched"
    );
    assert!(
        is_running(real, real_start),
        "the other container's PID 1 neither"
    );
    assert_eq!(
        sh_ok(&named.registry().attach("real").expect("attach"), "echo ok"),
        "ok\n"
    );
    sleep.kill().expect("kill the sleep");
    sleep.wait().expect("reap the sleep");
    assert!(named.registry().stop("real").expect("stop"));
}

/// Forks `sleep`s in the background until the shell cannot fork any more (or 100 run).
const FORK_LOOP: &str = "i=0; while [ $i -lt 100 ]; do sleep 1000 </dev/null >/dev/null 2>&1 & \
                         i=$((i+1)); done; exit 0";

/// Issue 13, limits survive attach: a detached container started with `memory_max` and
/// `pids_max` keeps its cgroups when the handle is dropped; an attached handle reopens them
/// (same paths, same memory limit); its commands are in every one of them, the pids limit
/// stops a fork loop they run, and `stop` removes the cgroups.
#[test]
fn limits_hold_for_the_commands_of_an_attached_handle() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let named = Named::new();
    let c = named.start(
        over(&scratch.root()).memory_max(64 * MIB).pids_max(20),
        "limited",
    );
    let pid = c.init_pid();
    let start = proc_stat(pid).expect("PID 1").start_time;
    let paths = c.cgroup_paths();
    drop(c);
    assert!(
        !paths.is_empty() && paths.iter().all(|p| p.is_dir()),
        "{paths:?}"
    );
    let a = named.registry().attach("limited").expect("attach");
    assert_eq!(a.cgroup_paths(), paths, "the same cgroups");
    assert_eq!(a.memory_max(), Some(64 * MIB));
    let pids_dir = controller_dir(&paths, "pids");
    assert_eq!(read_control(&pids_dir, "pids.max"), "20");
    let memory = controller_dir(&paths, "memory");
    let limit_file = match Layout::detect().expect("layout") {
        Layout::Unified => "memory.max",
        _ => "memory.limit_in_bytes",
    };
    assert_eq!(read_control(&memory, limit_file), (64 * MIB).to_string());
    let mut child = a
        .command("sleep")
        .arg("1000")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn through the attached handle");
    let host_view = host_cgroups_of(child.id());
    child.kill().expect("kill");
    child.wait().expect("reap");
    for p in &paths {
        assert!(
            host_view.contains(p),
            "the command is in {}: {host_view:?}",
            p.display()
        );
    }
    let (status, _, stderr) = sh(&a, FORK_LOOP);
    assert!(
        !status.success() && stderr.contains("can't fork"),
        "the shell forked past pids.max 20: {status}, {stderr:?}"
    );
    let usage = a
        .resource_usage()
        .expect("usage through the attached handle");
    assert!(usage.pids_limit_hits > 0, "{usage:?}");
    assert!(usage.pids.is_some_and(|n| n <= 20), "{usage:?}");
    let stopped = within(
        DEADLINE,
        "stopping through the attached handle",
        move || a.stop(),
    );
    stopped.expect("stop");
    assert!(!is_running(pid, start), "PID 1 is gone once stop returned");
    let left: Vec<&PathBuf> = paths.iter().filter(|p| p.exists()).collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
    assert!(!named.entry("limited").exists());
    drop(named);
    leaks.assert_clean();
}

/// The `Cap*` and `NoNewPrivs` fields of a `/proc/PID/status` text.
fn status_fields(status: &str) -> Vec<(String, u64)> {
    status
        .lines()
        .filter_map(|l| {
            let (key, value) = l.split_once(':')?;
            let value = value.trim();
            let parsed = if key.starts_with("Cap") {
                u64::from_str_radix(value, 16).ok()?
            } else if key == "NoNewPrivs" {
                value.parse().ok()?
            } else {
                return None;
            };
            Some((key.to_owned(), parsed))
        })
        .collect()
}

/// Issue 13, hardened and attached: a detached container of the hardened profile, reached
/// through `Registry::attach`, says so (`info`, `is_hardened`), and the commands of the
/// attached handle have the reduced capability sets and `no_new_privs`, as a command of the
/// starting handle does.
#[test]
fn the_commands_of_an_attached_hardened_container_have_reduced_capabilities() {
    let scratch = Scratch::idmappable();
    let named = Named::new();
    let mask = HARDENED_CAPABILITIES
        .iter()
        .fold(0u64, |m, cap| m | cap.bitmask());
    let expected: Vec<(String, u64)> = [
        ("CapInh", 0),
        ("CapPrm", mask),
        ("CapEff", mask),
        ("CapBnd", mask),
        ("CapAmb", 0),
        ("NoNewPrivs", 1),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), *v))
    .collect();
    let c = named.start(over(&scratch.root()).hardened(true), "hard");
    let from_start = status_fields(&sh_ok(&c, "cat /proc/self/status"));
    assert_eq!(from_start, expected, "a command of the starting handle");
    drop(c);
    assert!(named.registry().info("hard").expect("info").hardened);
    let a = named.registry().attach("hard").expect("attach");
    assert!(a.is_hardened());
    let direct = run(&a, "cat", &["/proc/self/status"]);
    let as_root = a
        .command("cat")
        .arg("/proc/self/status")
        .uid(0)
        .gid(0)
        .output()
        .expect("run with ids");
    for (how, status) in [
        ("command", direct.stdout),
        (
            "child of a command",
            sh_ok(&a, "cat /proc/self/status; true"),
        ),
        (
            "command with uid/gid 0",
            String::from_utf8_lossy(&as_root.stdout).into_owned(),
        ),
    ] {
        assert_eq!(
            status_fields(&status),
            expected,
            "{how} of the attached handle:\n{status}"
        );
    }
    a.stop().expect("stop");
}

/// Issue 13, `Registry::attach_pid`: the container whose PID 1 has the given host pid, among
/// several; a pid that is no container's PID 1 is `NoSuchContainer`. A container stopped
/// through the handle `start` returned is gone from the registry too.
#[test]
fn attach_pid_finds_a_container_by_its_pid1() {
    let scratch = Scratch::new();
    let named = Named::new();
    let alpha = named.start(over(&scratch.root()).hostname("alpha"), "alpha");
    let beta = named.start(over(&scratch.root()).hostname("beta"), "beta");
    let (alpha_pid, beta_pid) = (alpha.init_pid(), beta.init_pid());
    let alpha_start = proc_stat(alpha_pid).expect("PID 1").start_time;
    drop(beta);
    let b = named.registry().attach_pid(beta_pid).expect("attach_pid");
    assert_eq!((b.name(), b.init_pid()), (Some("beta"), beta_pid));
    assert_eq!(sh_ok(&b, "hostname").trim(), "beta");
    let a = named.registry().attach_pid(alpha_pid).expect("attach_pid");
    assert_eq!(sh_ok(&a, "hostname").trim(), "alpha");
    drop(a);
    for pid in [std::process::id(), 0, u32::MAX] {
        let result = named.registry().attach_pid(pid);
        assert!(
            matches!(result, Err(Error::NoSuchContainer { .. })),
            "{pid}: {result:?}"
        );
    }
    alpha.stop().expect("stop through the starting handle");
    assert!(
        proc_stat(alpha_pid).is_none_or(|s| s.start_time != alpha_start),
        "reaped by the starting handle"
    );
    assert!(!named.entry("alpha").exists(), "its entry is removed");
    assert!(matches!(
        named.registry().attach_pid(alpha_pid),
        Err(Error::NoSuchContainer { .. })
    ));
    b.stop().expect("stop beta");
    assert!(named.registry().list().expect("list").is_empty());
}

/// The fixture: a test that panics with a named container running (with limits, a handle of
/// it attached) leaves nothing — [`Named`]'s guard stops the container, its cgroups and its
/// entry go, PID 1 (a child of this process) is reaped, and the registry's directory is
/// removed.
#[test]
fn the_guard_leaves_nothing_after_a_panic() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let seen = Mutex::new(None);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let named = Named::new();
        let c = named.start(over(&scratch.root()).pids_max(16), "left");
        let start = proc_stat(c.init_pid()).expect("PID 1").start_time;
        let record = (
            named.path().to_path_buf(),
            c.init_pid(),
            start,
            c.cgroup_paths(),
        );
        *seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(record);
        let _attached = named.registry().attach("left").expect("attach");
        panic!("a deliberate panic with a named container running");
    }));
    assert!(result.is_err());
    let (dir, pid, start, paths) = seen
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .expect("recorded");
    assert!(!is_running(pid, start), "PID 1 was stopped");
    assert!(
        proc_stat(pid).is_none_or(|s| s.start_time != start),
        "and reaped"
    );
    let left: Vec<&PathBuf> = paths.iter().filter(|p| p.exists()).collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
    assert!(!dir.exists(), "the registry's directory is removed");
    leaks.assert_clean();
}
