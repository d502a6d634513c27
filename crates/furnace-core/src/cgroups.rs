//! The container's own cgroups: made before PID 1, one per hierarchy that is needed, under the
//! caller's own cgroup there; limits written into them; every process of the container in
//! them; the kill-all, the usage figures and the removal at teardown.
//!
//! Where each thing lives, by the host's layout ([`Layout`]):
//!
//! | | unified (cgroup v2 only) | hybrid (v1 controllers + a v2 `unified/`) | legacy (v1 only) |
//! |---|---|---|---|
//! | memory, pids, cpu limits | the v2 cgroup | v1 `memory`, `pids`, `cpu` | v1 `memory`, `pids`, `cpu` |
//! | kill-all | v2 `cgroup.kill` | v1 `freezer`, then `SIGKILL` each | v1 `freezer`, then `SIGKILL` each |
//! | CPU time | v2 `cpu.stat` | v1 `cpuacct` | v1 `cpuacct` |
//!
//! On v1 hierarchies processes join through `tasks` (see [`open_join`]); the hybrid host's
//! v2 half is not used, since joining it costs every command an RCU grace period.
//!
//! A cgroup is named `furnace-<owner pid>-<owner start time>-<n>`, so a leftover can be traced
//! to the process that made it. furnace only ever makes, writes and removes these: never a
//! cgroup it did not make. Leftovers of an owner that died (killed with `SIGKILL`, say) are
//! removed by the next container with cgroups started under the same parent.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use furnace_sys::cgroup::{self, CgroupDir, Layout};

use crate::devices::FURNACE_NODES;
use crate::error::{Error, Result};
use crate::resources::{cpu_quota_us, cpu_shares, Limits, ResourceUsage, CPU_PERIOD_US};

/// Which hierarchy a cgroup of the container is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hierarchy {
    /// A cgroup v1 controller's hierarchy.
    V1(&'static str),
    /// The cgroup v2 hierarchy (all of it on a unified host, `unified/` on a hybrid one).
    V2,
}

impl std::fmt::Display for Hierarchy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hierarchy::V1(controller) => write!(f, "cgroup v1 {controller}"),
            Hierarchy::V2 => f.write_str("cgroup v2"),
        }
    }
}

/// One cgroup the container made.
#[derive(Debug)]
struct Made {
    hierarchy: Hierarchy,
    /// Other controllers mounted in the same hierarchy (`cpu,cpuacct`), served by this cgroup.
    also: Vec<Hierarchy>,
    parent: CgroupDir,
    name: String,
    dir: CgroupDir,
    /// Its `cgroup.procs`, open for writing: PID 1 and every command join through it.
    procs: OwnedFd,
    /// In the v1 `memory` hierarchy: a child, [`CONTAINED`], that holds the limit and every
    /// process of the container but PID 1, which moves up into [`Made::dir`] once its cgroup
    /// namespace is made. PID 1 is a copy of the caller, so the memory it shares with the
    /// caller counts in its size: inside the limited cgroup the OOM killer would choose it
    /// over the process that ran out, and the container would die with it.
    contained: Option<Contained>,
}

impl Made {
    /// Where the container's processes are, and the file they join through: the limited
    /// child where there is one, else the cgroup itself.
    fn joined(&self) -> (&CgroupDir, &OwnedFd) {
        self.contained
            .as_ref()
            .map_or((&self.dir, &self.procs), |c| (&c.dir, &c.procs))
    }
}

/// The limited child of a [`Made`] cgroup.
#[derive(Debug)]
struct Contained {
    dir: CgroupDir,
    procs: OwnedFd,
}

/// The name of the limited child in the memory hierarchy.
const CONTAINED: &str = "contained";

/// The container's cgroups.
#[derive(Debug)]
pub(crate) struct Cgroups {
    made: Vec<Made>,
    layout: Layout,
}

/// The prefix of every cgroup furnace makes.
pub(crate) const PREFIX: &str = "furnace-";

impl Cgroups {
    /// Makes the cgroups `limits` need (none when they need none), writes the limits, and
    /// opens their `cgroup.procs`. What was made is removed again on failure. `pid1_limited`:
    /// PID 1 becomes the container's program, and must stay under the memory limit (no
    /// [`CONTAINED`] child; the limit is on the cgroup itself, where engines look for it).
    pub(crate) fn create(limits: &Limits, pid1_limited: bool) -> Result<Option<Cgroups>> {
        if !limits.wanted() {
            return Ok(None);
        }
        let layout = Layout::detect().map_err(cgroup_error("detect the cgroup layout"))?;
        let name = limits.cgroup_name.clone().unwrap_or_else(unique_name);
        let own = OwnCgroups::read()?;
        let mut cgroups = Cgroups {
            made: Vec::new(),
            layout,
        };
        // On error `cgroups` is dropped, which removes what was made.
        for hierarchy in hierarchies(layout, limits) {
            let Some(parent) = own.parent_dir(hierarchy, limits.cgroup_parent.as_deref())? else {
                if needed_for_limits(hierarchy, limits) {
                    return Err(Error::Cgroup {
                        what: format!("{hierarchy} is not mounted on this host"),
                        error: furnace_sys::Error::new(
                            "open",
                            "mountinfo",
                            furnace_sys::Errno::NOENT,
                        ),
                    });
                }
                continue;
            };
            // Controllers mounted together (`cpu,cpuacct`) are one hierarchy: one cgroup.
            if let Some(same) = cgroups
                .made
                .iter_mut()
                .find(|m| m.parent.path() == parent.path())
            {
                same.also.push(hierarchy);
                continue;
            }
            sweep(&parent);
            let dir = parent
                .create_child(&name)
                .map_err(|error| create_error(hierarchy, &parent, error))?;
            let procs = match open_join(&dir, hierarchy) {
                Ok(procs) => procs,
                Err(e) => {
                    drop(dir);
                    let _ = parent.remove_child(&name);
                    return Err(e);
                }
            };
            let mut made = Made {
                hierarchy,
                also: Vec::new(),
                parent,
                name: name.clone(),
                dir,
                procs,
                contained: None,
            };
            if hierarchy == Hierarchy::V1("memory") && !pid1_limited {
                let contained = made
                    .dir
                    .create_child(CONTAINED)
                    .map_err(cgroup_error(format!(
                        "create {}/{CONTAINED}",
                        made.dir.path().display()
                    )))
                    .and_then(|dir| match open_join(&dir, hierarchy) {
                        Ok(procs) => Ok(Contained { dir, procs }),
                        Err(e) => {
                            drop(dir);
                            let _ = made.dir.remove_child(CONTAINED);
                            Err(e)
                        }
                    });
                // Pushed either way, so that a failure removes the parent too.
                match contained {
                    Ok(contained) => made.contained = Some(contained),
                    Err(e) => {
                        cgroups.made.push(made);
                        return Err(e);
                    }
                }
            }
            cgroups.made.push(made);
        }
        cgroups.check_v2_controllers(limits)?;
        cgroups.write_limits(limits)?;
        if let (Layout::Unified, Some(rules)) = (layout, &limits.devices) {
            cgroups.attach_device_filter(rules)?;
        }
        Ok(Some(cgroups))
    }

    /// The fds of the `cgroup.procs` every process of the container joins (the limited
    /// child where there is one).
    pub(crate) fn procs_fds(&self) -> impl Iterator<Item = &OwnedFd> {
        self.made.iter().map(|m| m.joined().1)
    }

    /// The `cgroup.procs` PID 1 moves up into after making its cgroup namespace, out of the
    /// limited memory cgroup (see [`Made::contained`]).
    pub(crate) fn init_leave_raw(&self) -> Option<RawFd> {
        self.made
            .iter()
            .find(|m| m.contained.is_some())
            .map(|m| m.procs.as_raw_fd())
    }

    /// The raw numbers of [`procs_fds`](Cgroups::procs_fds), for a command's pre-exec step.
    pub(crate) fn procs_raw(&self) -> Vec<RawFd> {
        self.procs_fds().map(|fd| fd.as_raw_fd()).collect()
    }

    /// The container's cgroup in `hierarchy` (the limited child where there is one).
    fn dir(&self, hierarchy: Hierarchy) -> Option<&CgroupDir> {
        self.made
            .iter()
            .find(|m| m.hierarchy == hierarchy || m.also.contains(&hierarchy))
            .map(|m| m.joined().0)
    }

    /// Where a controller's files are: its v1 hierarchy, or the v2 cgroup on a unified host.
    fn controller(&self, controller: &'static str) -> Option<&CgroupDir> {
        match self.layout {
            Layout::Unified => self.dir(Hierarchy::V2),
            Layout::Hybrid | Layout::Legacy => self.dir(Hierarchy::V1(controller)),
        }
    }

    /// On a unified host a limit needs its controller enabled for the container's cgroup by
    /// the parent (its `cgroup.subtree_control`, which furnace does not write: the parent is
    /// not furnace's). Says which one is missing and how to get it, rather than the bare
    /// `ENOENT` of the missing file.
    fn check_v2_controllers(&self, limits: &Limits) -> Result<()> {
        if self.layout != Layout::Unified {
            return Ok(());
        }
        let Some(dir) = self.dir(Hierarchy::V2) else {
            return Ok(());
        };
        let available = dir
            .read("cgroup.controllers")
            .map_err(cgroup_error(format!(
                "read cgroup.controllers of {}",
                dir.path().display()
            )))?;
        let wanted = [
            ("memory", limits.memory_max.is_some()),
            ("pids", limits.pids_max.is_some()),
            ("cpu", limits.cpus.is_some() || limits.cpu_weight.is_some()),
        ];
        for (controller, needed) in wanted {
            if needed && !available.split_whitespace().any(|c| c == controller) {
                return Err(Error::Cgroup {
                    what: format!(
                        "the {controller} controller is not enabled for cgroups under {} (its \
                         cgroup.subtree_control lacks it; the kernel enables none under a \
                         cgroup that holds processes, as the caller's own does): give a cgroup \
                         parent without processes that enables it (`--cgroup-parent`, \
                         `ContainerBuilder::cgroup_parent`)",
                        dir.path().parent().map_or_else(
                            || dir.path().display().to_string(),
                            |p| p.display().to_string()
                        )
                    ),
                    error: furnace_sys::Error::new(
                        "read",
                        "cgroup.controllers",
                        furnace_sys::Errno::NOENT,
                    ),
                });
            }
        }
        Ok(())
    }

    /// cgroup v2 has no device files: the rules become an eBPF device filter attached to the
    /// container's cgroup (it goes with the cgroup).
    fn attach_device_filter(&self, rules: &[crate::DeviceRule]) -> Result<()> {
        let Some(dir) = self.dir(Hierarchy::V2) else {
            return Ok(());
        };
        let program = furnace_sys::bpf::load_device_filter(&crate::devices::filter(rules))
            .map_err(cgroup_error("load the device filter"))?;
        furnace_sys::bpf::attach_device_filter(dir.as_fd(), program.as_fd()).map_err(cgroup_error(
            format!("attach the device filter to {}", dir.path().display()),
        ))
    }

    fn write_limits(&self, limits: &Limits) -> Result<()> {
        let set = |dir: Option<&CgroupDir>, file: &str, value: String| -> Result<()> {
            let Some(dir) = dir else { return Ok(()) };
            dir.write(file, &value).map_err(cgroup_error(format!(
                "set {file} to {value} in {}",
                dir.path().display()
            )))
        };
        let v2 = self.layout == Layout::Unified;
        if let Some(bytes) = limits.memory_max {
            let memory = self.controller("memory");
            if v2 {
                set(memory, "memory.max", bytes.to_string())?;
                // Swap off, so that the limit holds (absent without swap accounting).
                if memory.is_some_and(|d| d.read("memory.swap.max").is_ok()) {
                    set(memory, "memory.swap.max", "0".into())?;
                }
            } else {
                set(memory, "memory.limit_in_bytes", bytes.to_string())?;
                // Memory and swap together, so that the limit holds (absent without swap
                // accounting); it must not be below the memory limit, which it now equals.
                if memory.is_some_and(|d| d.read("memory.memsw.limit_in_bytes").is_ok()) {
                    set(memory, "memory.memsw.limit_in_bytes", bytes.to_string())?;
                }
            }
        }
        if let Some(count) = limits.pids_max {
            set(self.controller("pids"), "pids.max", count.to_string())?;
        }
        let cpu = self.controller("cpu");
        if let Some(cpus) = limits.cpus {
            let quota = cpu_quota_us(cpus);
            if v2 {
                set(cpu, "cpu.max", format!("{quota} {CPU_PERIOD_US}"))?;
            } else {
                set(cpu, "cpu.cfs_period_us", CPU_PERIOD_US.to_string())?;
                set(cpu, "cpu.cfs_quota_us", quota.to_string())?;
            }
        }
        if let Some(weight) = limits.cpu_weight {
            if v2 {
                set(cpu, "cpu.weight", weight.to_string())?;
            } else {
                set(cpu, "cpu.shares", cpu_shares(weight).to_string())?;
            }
        }
        if let Some(rules) = &limits.devices {
            // Deny all first (it also clears the exceptions inherited from the parent).
            let devices = self.dir(Hierarchy::V1("devices"));
            set(devices, "devices.deny", "a".into())?;
            for rule in rules.iter().chain(&FURNACE_NODES) {
                set(devices, rule.file(), rule.to_string())?;
            }
        }
        Ok(())
    }

    /// Kills every process in the container's cgroups at once: `cgroup.kill` where there is a
    /// v2 cgroup, else the v1 freezer (frozen processes cannot fork past the kill), `SIGKILL`
    /// to each, thawed.
    pub(crate) fn kill_all(&self) -> Result<()> {
        if let Some(v2) = self.dir(Hierarchy::V2) {
            return v2
                .write("cgroup.kill", "1")
                .map_err(cgroup_error(format!("kill all in {}", v2.path().display())));
        }
        let Some(freezer) = self.dir(Hierarchy::V1("freezer")) else {
            return Ok(());
        };
        let context = || format!("freeze and kill all in {}", freezer.path().display());
        freezer
            .write("freezer.state", "FROZEN")
            .map_err(cgroup_error(context()))?;
        // No wait for the state to read FROZEN: a process forked while the cgroup freezes is
        // frozen too, so none can run past this point; those born after the list below was
        // read die with PID 1, whose pid namespace holds every process of these cgroups.
        let listed = freezer.procs().map_err(cgroup_error(context()));
        for pid in listed.iter().flatten() {
            if let Some(pid) = rustix::process::Pid::from_raw(*pid as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        // Thawed whatever happened above: a frozen PID 1 could not die, and teardown would
        // wait for it for ever.
        let thawed = freezer
            .write("freezer.state", "THAWED")
            .map_err(cgroup_error(context()));
        listed.and(thawed)
    }

    /// What the container used, from its cgroups' files.
    pub(crate) fn usage(&self) -> ResourceUsage {
        let v2 = self.layout == Layout::Unified;
        let mut usage = ResourceUsage::default();
        if let Some(memory) = self.controller("memory") {
            let (current, peak, events, oom) = if v2 {
                ("memory.current", "memory.peak", "memory.events", "oom_kill")
            } else {
                (
                    "memory.usage_in_bytes",
                    "memory.max_usage_in_bytes",
                    "memory.oom_control",
                    "oom_kill",
                )
            };
            usage.memory_current = memory.read_u64(current).ok().flatten();
            usage.memory_peak = memory.read_u64(peak).ok().flatten();
            usage.oom_kills = memory.read_keyed(events, oom).ok().flatten().unwrap_or(0);
        }
        if let Some(pids) = self.controller("pids") {
            usage.pids = pids.read_u64("pids.current").ok().flatten();
            usage.pids_limit_hits = pids
                .read_keyed("pids.events", "max")
                .ok()
                .flatten()
                .unwrap_or(0);
        }
        usage.cpu_time = if v2 {
            self.dir(Hierarchy::V2)
                .and_then(|d| d.read_keyed("cpu.stat", "usage_usec").ok().flatten())
                .map(std::time::Duration::from_micros)
        } else {
            self.dir(Hierarchy::V1("cpuacct"))
                .and_then(|d| d.read_u64("cpuacct.usage").ok().flatten())
                .map(std::time::Duration::from_nanos)
        };
        usage
    }

    /// The container's cgroup paths (where its processes are), for messages and tests.
    pub(crate) fn paths(&self) -> Vec<PathBuf> {
        self.made
            .iter()
            .map(|m| m.joined().0.path().to_path_buf())
            .collect()
    }

    /// Removes the cgroups (they must be empty: after the teardown reaped everything).
    pub(crate) fn remove(mut self) -> Result<()> {
        self.remove_all()
    }

    fn remove_all(&mut self) -> Result<()> {
        let mut first_error = None;
        for made in self.made.drain(..) {
            let Made {
                parent,
                name,
                procs,
                dir,
                contained,
                ..
            } = made;
            drop(procs);
            if let Some(Contained { procs, .. }) = contained {
                drop(procs);
                if let Err(error) = dir.remove_child(CONTAINED) {
                    first_error.get_or_insert(Error::Cgroup {
                        what: format!("remove {}/{CONTAINED}", dir.path().display()),
                        error,
                    });
                }
            }
            drop(dir);
            if let Err(error) = parent.remove_child(&name) {
                first_error.get_or_insert(Error::Cgroup {
                    what: format!("remove {}/{name}", parent.path().display()),
                    error,
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        let _ = self.remove_all();
    }
}

/// The hierarchies a container with `limits` gets cgroups in, on a host of `layout`.
fn hierarchies(layout: Layout, limits: &Limits) -> Vec<Hierarchy> {
    let cpu_limited = limits.cpus.is_some() || limits.cpu_weight.is_some();
    match layout {
        Layout::Unified => vec![Hierarchy::V2],
        Layout::Hybrid | Layout::Legacy => {
            let mut list = vec![
                Hierarchy::V1("memory"),
                Hierarchy::V1("pids"),
                Hierarchy::V1("cpuacct"),
            ];
            if cpu_limited {
                list.push(Hierarchy::V1("cpu"));
            }
            if limits.devices.is_some() {
                list.push(Hierarchy::V1("devices"));
            }
            // The kill-all through the v1 freezer on a hybrid host too: joining the `unified/`
            // v2 cgroup would cost every command an RCU grace period (`cgroup.procs` takes
            // the kernel's global threadgroup lock; v1's `tasks` does not for one thread).
            list.push(Hierarchy::V1("freezer"));
            list
        }
    }
}

/// Whether `limits` cannot be had without `hierarchy`.
fn needed_for_limits(hierarchy: Hierarchy, limits: &Limits) -> bool {
    match hierarchy {
        Hierarchy::V1("memory") => limits.memory_max.is_some(),
        Hierarchy::V1("pids") => limits.pids_max.is_some(),
        Hierarchy::V1("cpu") => limits.cpus.is_some() || limits.cpu_weight.is_some(),
        Hierarchy::V1("devices") => limits.devices.is_some(),
        Hierarchy::V2 => true,
        Hierarchy::V1(_) => false,
    }
}

/// Where the caller's own cgroups are, read once per start: `/proc/self/cgroup` and the
/// cgroup mounts of `/proc/self/mountinfo`.
struct OwnCgroups {
    entries: Vec<cgroup::ProcCgroup>,
    mounts: Vec<furnace_sys::mountinfo::MountInfo>,
}

impl OwnCgroups {
    fn read() -> Result<OwnCgroups> {
        Ok(OwnCgroups {
            entries: cgroup::own_cgroups().map_err(cgroup_error("read this process's cgroups"))?,
            mounts: furnace_sys::mountinfo::read(None)
                .map_err(cgroup_error("read this process's mounts"))?
                .into_iter()
                .filter(|m| m.fs_type == "cgroup" || m.fs_type == "cgroup2")
                .collect(),
        })
    }

    /// The cgroup in `hierarchy` the container's is made in, opened (`None`: the hierarchy is
    /// not mounted): `chosen` (absolute: from the hierarchy's root; relative: under the
    /// caller's), else the caller's own.
    fn parent_dir(
        &self,
        hierarchy: Hierarchy,
        chosen: Option<&std::path::Path>,
    ) -> Result<Option<CgroupDir>> {
        let own = match hierarchy {
            Hierarchy::V1(controller) => self
                .entries
                .iter()
                .find(|e| !e.is_v2() && e.has_controller(controller))
                .and_then(|e| {
                    cgroup::own_dir_in(&self.mounts, |m| cgroup::is_v1_mount(m, controller), e)
                }),
            Hierarchy::V2 => self
                .entries
                .iter()
                .find(|e| e.is_v2())
                .and_then(|e| cgroup::own_dir_in(&self.mounts, cgroup::is_v2_mount, e)),
        };
        let Some(own) = own else { return Ok(None) };
        let path = match chosen {
            None => own,
            Some(chosen) if chosen.is_absolute() => {
                let root = match hierarchy {
                    Hierarchy::V1(controller) => {
                        cgroup::find_mount(&self.mounts, |m| cgroup::is_v1_mount(m, controller))
                    }
                    Hierarchy::V2 => cgroup::find_mount(&self.mounts, cgroup::is_v2_mount),
                };
                let Some(root) = root else { return Ok(None) };
                root.mount_point
                    .join(chosen.strip_prefix("/").unwrap_or(chosen))
            }
            Some(chosen) => own.join(chosen),
        };
        if chosen.is_some() && !path.is_dir() {
            return Err(Error::Cgroup {
                what: format!(
                    "the cgroup parent {} does not exist in {hierarchy} (create it beforehand, \
                     with the controllers the limits need enabled for its children)",
                    path.display()
                ),
                error: furnace_sys::Error::new(
                    "stat",
                    path.display().to_string(),
                    furnace_sys::Errno::NOENT,
                ),
            });
        }
        CgroupDir::open(&path)
            .map(Some)
            .map_err(cgroup_error(format!(
                "open this process's {hierarchy} cgroup"
            )))
    }
}

/// `furnace-<pid>-<start time>-<n>`: unique on the machine for the life of this process, and
/// traceable to it.
fn unique_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    let start = furnace_sys::process::ProcStat::read(pid).map_or(0, |s| s.start_time);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{PREFIX}{pid}-{start}-{n}")
}

/// The owner (pid, start time) a furnace cgroup's name records.
fn owner_of(name: &str) -> Option<(u32, u64)> {
    let mut parts = name.strip_prefix(PREFIX)?.split('-');
    let pid = parts.next()?.parse().ok()?;
    let start = parts.next()?.parse().ok()?;
    parts.next()?.parse::<u64>().ok()?;
    parts.next().is_none().then_some((pid, start))
}

/// Whether the process that made a cgroup is gone: its pid is free (no `/proc/<pid>`), or
/// taken by a process that started at another time. When `/proc` cannot say (another error),
/// it is taken to be alive: a live container's cgroups must never be swept.
fn owner_is_gone((pid, start): (u32, u64)) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(text) => {
            furnace_sys::process::ProcStat::parse(&text).is_some_and(|s| s.start_time != start)
        }
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Removes the cgroups under `parent` that a dead owner left (its container was killed with
/// it; nothing removed them). Only empty ones, and only once: the limited memory child only
/// when its parent is empty too (PID 1 lives in the parent while the container runs, and the
/// child is empty between commands), and a cgroup whose last process is still exiting is left
/// for a later sweep rather than waited for.
fn sweep(parent: &CgroupDir) {
    let Ok(children) = parent.children_with_prefix(PREFIX) else {
        return;
    };
    for name in children {
        if !owner_of(&name).is_some_and(owner_is_gone) {
            continue;
        }
        let Ok(dir) = parent.open_child(&name) else {
            continue;
        };
        if !dir.procs().is_ok_and(|p| p.is_empty()) {
            continue;
        }
        if let Ok(inner) = dir.open_child(CONTAINED) {
            if !inner.procs().is_ok_and(|p| p.is_empty()) {
                continue;
            }
            let _ = dir.try_remove_child(CONTAINED);
        }
        let _ = parent.try_remove_child(&name);
    }
}

/// A failure to make the container's cgroup in `hierarchy` under `parent`, with the way out
/// when a user without root lacks the right to.
fn create_error(hierarchy: Hierarchy, parent: &CgroupDir, error: furnace_sys::Error) -> Error {
    let denied = matches!(
        error.errno(),
        furnace_sys::Errno::ACCESS | furnace_sys::Errno::PERM | furnace_sys::Errno::ROFS
    );
    let hint = match hierarchy {
        _ if !denied || !crate::rootless::in_user_namespace() => "",
        Hierarchy::V2 => {
            " (without root, limits need a cgroup delegated to the user: run under \
             `systemd-run --user --scope -p Delegate=yes …`)"
        }
        Hierarchy::V1(_) => {
            " (without root, limits need cgroups the user may write in every cgroup v1 \
             hierarchy furnace uses — memory, pids, cpuacct, freezer, and cpu with CPU \
             limits — made and handed over by root; systemd delegates only cgroup v2)"
        }
    };
    Error::Cgroup {
        what: format!(
            "create the container's cgroup in {hierarchy} under {}{hint}",
            parent.path().display()
        ),
        error,
    }
}

/// The file a process joins `dir` through, open for writing, numbered above stdio: `tasks`
/// in a v1 hierarchy (PID 1 and a command's child join while single-threaded, and a write of
/// `0` there spares the kernel's global threadgroup lock and its RCU grace period, which a
/// write to `cgroup.procs` pays), `cgroup.procs` in the v2 one.
fn open_join(dir: &CgroupDir, hierarchy: Hierarchy) -> Result<OwnedFd> {
    let (opened, file) = match hierarchy {
        Hierarchy::V1(_) => (dir.open_tasks(), "tasks"),
        Hierarchy::V2 => (dir.open_procs(), "cgroup.procs"),
    };
    opened
        .and_then(furnace_sys::fd::above_stdio)
        .map_err(cgroup_error(format!(
            "open {file} of {}",
            dir.path().display()
        )))
}

fn cgroup_error(what: impl Into<String>) -> impl FnOnce(furnace_sys::Error) -> Error {
    let what = what.into();
    move |error| Error::Cgroup { what, error }
}

mod record;
pub(crate) use record::Record;

#[cfg(test)]
mod tests;
