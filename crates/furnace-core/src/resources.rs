//! Resource limits and usage: what a container may use (memory, processes, CPU), and what it
//! used. Limits live in cgroups of the container's own ([`crate::cgroups`]).

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::builder::ContainerBuilder;
use crate::error::{Error, Result};

/// The smallest memory limit furnace accepts: below it not even a shell starts, and the
/// kernel's answer would be an OOM kill at the first command rather than an error.
pub const MIN_MEMORY: u64 = 4 << 20;

/// The limits of a container; all unset by default.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Limits {
    /// Bytes of memory, swap included.
    pub memory_max: Option<u64>,
    /// Processes (and threads).
    pub pids_max: Option<u64>,
    /// CPUs' worth of time per period (`1.5`: one and a half CPUs).
    pub cpus: Option<f64>,
    /// Relative CPU weight, 1–10000 (100 is the default of every cgroup).
    pub cpu_weight: Option<u32>,
    /// A cgroup of its own even without limits (for the kill-all and the usage).
    pub own_cgroup: bool,
    /// Where the container's cgroups are made instead of the caller's own cgroup.
    pub cgroup_parent: Option<PathBuf>,
    /// The name of the container's cgroup instead of a generated `furnace-…` one
    /// ([`ContainerBuilder::cgroup_path`]).
    pub cgroup_name: Option<String>,
    /// Device rules for a `devices` cgroup of the container's own
    /// ([`ContainerBuilder::device_rules`]).
    pub devices: Option<Vec<crate::devices::DeviceRule>>,
}

impl Limits {
    /// Whether the container needs cgroups of its own.
    pub(crate) fn wanted(&self) -> bool {
        self.own_cgroup || self.any()
    }

    /// Whether any limit is set.
    pub(crate) fn any(&self) -> bool {
        self.memory_max.is_some()
            || self.pids_max.is_some()
            || self.cpus.is_some()
            || self.cpu_weight.is_some()
            || self.devices.is_some()
    }

    /// Checks the values before anything is made.
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |what: &'static str, value: String, reason: &'static str| {
            Err(Error::InvalidLimit {
                what,
                value,
                reason,
            })
        };
        if let Some(rules) = &self.devices {
            crate::devices::validate(rules)?;
        }
        if let Some(name) = &self.cgroup_name {
            let fine = !name.is_empty()
                && name != "."
                && name != ".."
                && !name.contains(['/', '\0', '\n'])
                && !name.starts_with(crate::cgroups::PREFIX);
            if !fine {
                return bad(
                    "cgroup path",
                    format!("{name:?}"),
                    "its last component must be a plain name, not one of furnace's own \
                     (furnace-…)",
                );
            }
        }
        if let Some(bytes) = self.memory_max {
            if bytes < MIN_MEMORY {
                return bad(
                    "memory limit",
                    format!("{bytes} bytes"),
                    "below the smallest furnace accepts, 4 MiB",
                );
            }
        }
        if self.pids_max == Some(0) {
            return bad("pids limit", "0".into(), "must allow at least one process");
        }
        if let Some(count) = self.pids_max.filter(|&n| n > MAX_PIDS) {
            return bad(
                "pids limit",
                count.to_string(),
                "is more processes than the kernel can have (4194304)",
            );
        }
        if let Some(cpus) = self.cpus {
            if !cpus.is_finite() || cpus < 0.01 {
                return bad(
                    "CPU quota",
                    format!("{cpus}"),
                    "must be a number of CPUs, at least 0.01",
                );
            }
            if cpus > 1_000_000.0 {
                return bad(
                    "CPU quota",
                    format!("{cpus}"),
                    "is more CPUs than a machine has",
                );
            }
        }
        if let Some(parent) = &self.cgroup_parent {
            let normal = parent
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::RootDir));
            if parent.as_os_str().is_empty() || !normal {
                return bad(
                    "cgroup parent",
                    parent.display().to_string(),
                    "must be a path of cgroup names, without `.` or `..`",
                );
            }
        }
        if let Some(weight) = self.cpu_weight {
            if !(1..=10_000).contains(&weight) {
                return bad(
                    "CPU weight",
                    weight.to_string(),
                    "must be between 1 and 10000",
                );
            }
        }
        Ok(())
    }
}

/// The period of the CPU quota, in microseconds (the kernel's default).
pub(crate) const CPU_PERIOD_US: u64 = 100_000;

/// `cpus` CPUs as a quota per [`CPU_PERIOD_US`], in microseconds (at least the kernel's 1 ms).
pub(crate) fn cpu_quota_us(cpus: f64) -> u64 {
    // `validate` bounds `cpus`, so the product fits.
    ((cpus * CPU_PERIOD_US as f64).round() as u64).max(1000)
}

/// A cgroup v2 weight (1–10000, default 100) as a v1 `cpu.shares` value (2–262144, default
/// 1024): proportional, so that the defaults match (systemd's conversion; runc's linear map
/// of the two ranges would make the default weight 2.5 times the default share).
pub(crate) fn cpu_shares(weight: u32) -> u64 {
    (u64::from(weight) * 1024 / 100).clamp(2, 262_144)
}

/// The most processes a pids limit can name (the kernel's `PID_MAX_LIMIT` on 64-bit).
pub(crate) const MAX_PIDS: u64 = 4_194_304;

impl ContainerBuilder {
    /// Limits the container's memory, swap included, to `bytes` (at least [`MIN_MEMORY`]).
    /// When its processes need more, the kernel's OOM killer ends one of them: see
    /// [`ResourceUsage::oom_kills`].
    ///
    /// ```no_run
    /// use furnace_core::Container;
    /// let container = Container::builder("/srv/rootfs").memory_max(512 << 20).start()?;
    /// let status = container.command("make").status()?;
    /// if container.resource_usage().is_some_and(|u| u.oom_kills > 0) {
    ///     eprintln!("make ran out of memory ({status})");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn memory_max(&mut self, bytes: u64) -> &mut Self {
        self.limits.memory_max = Some(bytes);
        self
    }

    /// Limits the number of processes and threads in the container (at least 1): a fork
    /// beyond it fails with `EAGAIN`.
    pub fn pids_max(&mut self, count: u64) -> &mut Self {
        self.limits.pids_max = Some(count);
        self
    }

    /// Limits the container to `cpus` CPUs' worth of time (`1.5`: a CPU and a half), as a
    /// quota per 100 ms period.
    pub fn cpu_quota(&mut self, cpus: f64) -> &mut Self {
        self.limits.cpus = Some(cpus);
        self
    }

    /// The container's share of CPU time when CPUs are contended, relative to other cgroups:
    /// 1–10000, 100 being every cgroup's default.
    pub fn cpu_weight(&mut self, weight: u32) -> &mut Self {
        self.limits.cpu_weight = Some(weight);
        self
    }

    /// Makes the container's cgroups under `path` instead of the caller's own cgroup: an
    /// absolute path names the same cgroup in every hierarchy (`/furnace` is
    /// `/sys/fs/cgroup/furnace` on a cgroup v2 host, `/sys/fs/cgroup/memory/furnace` & co. on
    /// a v1 one), a relative one a cgroup under the caller's. It must exist.
    ///
    /// On a cgroup v2 host this is how limits become possible at all for most callers: the
    /// kernel enables a controller (memory, pids, cpu) for a cgroup's children only when that
    /// cgroup holds no process itself, and the caller's own cgroup holds the caller. Point
    /// furnace at a cgroup without processes whose `cgroup.subtree_control` enables them (a
    /// systemd slice, or one made by hand: `mkdir /sys/fs/cgroup/furnace && echo "+memory
    /// +pids +cpu" > /sys/fs/cgroup/furnace/cgroup.subtree_control`).
    pub fn cgroup_parent(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.limits.cgroup_parent = Some(path.as_ref().to_path_buf());
        self
    }

    /// Gives the container cgroups of its own even without a limit, for
    /// [`Container::resource_usage`](crate::Container::resource_usage) and the kill-all at
    /// teardown. Setting a limit implies it.
    pub fn own_cgroup(&mut self, own: bool) -> &mut Self {
        self.limits.own_cgroup = own;
        self
    }

    /// Makes the container's cgroup exactly at `path` in each hierarchy it uses (an absolute
    /// path: `/machine/web` is `/sys/fs/cgroup/memory/machine/web` & co. on a v1 host), instead
    /// of a generated `furnace-…` cgroup under the caller's: what an engine's `cgroupsPath`
    /// asks for. The parent must exist; the cgroup must not, and it is removed at teardown as
    /// furnace's own are. Implies [`own_cgroup`](ContainerBuilder::own_cgroup).
    pub fn cgroup_path(&mut self, path: impl AsRef<Path>) -> &mut Self {
        let path = path.as_ref();
        self.limits.cgroup_parent = Some(path.parent().unwrap_or(Path::new("/")).to_path_buf());
        self.limits.cgroup_name = Some(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        self.limits.own_cgroup = true;
        self
    }
}

/// What a container's processes used, read from its cgroups
/// ([`Container::resource_usage`](crate::Container::resource_usage)). A figure the host's
/// cgroups do not provide is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceUsage {
    /// Memory in use now, in bytes.
    pub memory_current: Option<u64>,
    /// The most memory in use at once since the start, in bytes.
    pub memory_peak: Option<u64>,
    /// Processes and threads alive now, PID 1 included.
    pub pids: Option<u64>,
    /// CPU time used by all processes since the start.
    pub cpu_time: Option<Duration>,
    /// How many processes the kernel's OOM killer ended for exceeding the memory limit.
    pub oom_kills: u64,
    /// How many forks failed on the pids limit.
    pub pids_limit_hits: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked() {
        let ok = Limits {
            memory_max: Some(MIN_MEMORY),
            pids_max: Some(1),
            cpus: Some(0.5),
            cpu_weight: Some(100),
            own_cgroup: false,
            cgroup_parent: Some(PathBuf::from("/furnace/jobs")),
            cgroup_name: Some("web".into()),
            devices: Some(Vec::new()),
        };
        assert!(ok.validate().is_ok());
        for bad in ["", "..", "furnace-1-2-3", "a/b"] {
            let mut named = ok.clone();
            named.cgroup_name = Some(bad.into());
            assert!(named.validate().is_err(), "{bad:?}");
        }
        assert!(ok.wanted() && ok.any());
        let with = |f: &dyn Fn(&mut Limits)| {
            let mut limits = ok.clone();
            f(&mut limits);
            limits.validate().unwrap_err().to_string()
        };
        assert!(with(&|l| l.memory_max = Some(0)).contains("memory limit 0 bytes"));
        assert!(with(&|l| l.pids_max = Some(0)).contains("pids limit 0"));
        assert!(with(&|l| l.pids_max = Some(MAX_PIDS + 1)).contains("4194304"));
        assert!(with(&|l| l.cpus = Some(-1.0)).contains("CPU quota -1"));
        assert!(with(&|l| l.cpus = Some(f64::NAN)).contains("CPU quota"));
        assert!(with(&|l| l.cpu_weight = Some(0)).contains("between 1 and 10000"));
        assert!(with(&|l| l.cgroup_parent = Some("a/../b".into())).contains("cgroup parent"));
        assert!(with(&|l| l.cgroup_parent = Some("".into())).contains("cgroup parent"));
        assert!(!Limits::default().wanted());
    }

    #[test]
    fn cpu_figures_convert_as_runc_does() {
        assert_eq!(cpu_quota_us(1.5), 150_000);
        assert_eq!(cpu_quota_us(0.001), 1000);
        assert_eq!(cpu_shares(1), 10);
        assert_eq!(cpu_shares(100), 1024, "the defaults match");
        assert_eq!(cpu_shares(500), 5120);
        assert_eq!(cpu_shares(10_000), 102_400);
    }
}
