//! A container's cgroups as a record another process can reopen them from (a detached
//! container's registry entry): their layout, hierarchies, parents and names.

use std::path::PathBuf;

use furnace_sys::cgroup::{CgroupDir, Layout};

use super::{cgroup_error, open_join, Cgroups, Contained, Hierarchy, Made, CONTAINED};
use crate::error::{Error, Result};

/// What another process needs to reopen a container's cgroups ([`Cgroups::reopen`]): kept in
/// a detached container's registry entry.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Record {
    layout: String,
    made: Vec<MadeRecord>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct MadeRecord {
    hierarchy: String,
    also: Vec<String>,
    parent: PathBuf,
    name: String,
}

/// Every v1 controller furnace makes cgroups for.
const V1_CONTROLLERS: [&str; 6] = ["memory", "pids", "cpuacct", "cpu", "freezer", "devices"];

fn hierarchy_name(hierarchy: Hierarchy) -> String {
    match hierarchy {
        Hierarchy::V1(controller) => controller.to_owned(),
        Hierarchy::V2 => "v2".to_owned(),
    }
}

fn hierarchy_named(name: &str) -> Result<Hierarchy> {
    if name == "v2" {
        return Ok(Hierarchy::V2);
    }
    V1_CONTROLLERS
        .iter()
        .find(|c| **c == name)
        .map(|c| Hierarchy::V1(c))
        .ok_or_else(|| Error::Cgroup {
            what: format!("unknown cgroup hierarchy {name:?} in a container's state"),
            error: furnace_sys::Error::new("read", "state.json", furnace_sys::Errno::INVAL),
        })
}

impl Cgroups {
    /// What [`reopen`](Cgroups::reopen) needs.
    pub(crate) fn record(&self) -> Record {
        Record {
            layout: format!("{:?}", self.layout),
            made: self
                .made
                .iter()
                .map(|m| MadeRecord {
                    hierarchy: hierarchy_name(m.hierarchy),
                    also: m.also.iter().map(|h| hierarchy_name(*h)).collect(),
                    parent: m.parent.path().to_path_buf(),
                    name: m.name.clone(),
                })
                .collect(),
        }
    }

    /// Opens the cgroups of a running container, made by another process, from their
    /// [`Record`]: for its commands to join, its usage, its kill-all and their removal.
    pub(crate) fn reopen(record: &Record) -> Result<Cgroups> {
        let layout = match record.layout.as_str() {
            "Unified" => Layout::Unified,
            "Hybrid" => Layout::Hybrid,
            "Legacy" => Layout::Legacy,
            other => {
                return Err(Error::Cgroup {
                    what: format!("unknown cgroup layout {other:?} in a container's state"),
                    error: furnace_sys::Error::new("read", "state.json", furnace_sys::Errno::INVAL),
                })
            }
        };
        let mut cgroups = Cgroups {
            made: Vec::new(),
            layout,
        };
        for m in &record.made {
            let hierarchy = hierarchy_named(&m.hierarchy)?;
            let open = |path: &std::path::Path| {
                CgroupDir::open(path).map_err(cgroup_error(format!("open {}", path.display())))
            };
            let parent = open(&m.parent)?;
            let dir = open(&m.parent.join(&m.name))?;
            let procs = open_join(&dir, hierarchy)?;
            let contained = match dir.open_child(CONTAINED) {
                Ok(inner) if hierarchy == Hierarchy::V1("memory") => Some(Contained {
                    procs: open_join(&inner, hierarchy)?,
                    dir: inner,
                }),
                _ => None,
            };
            cgroups.made.push(Made {
                hierarchy,
                also: m
                    .also
                    .iter()
                    .map(|h| hierarchy_named(h))
                    .collect::<Result<_>>()?,
                parent,
                name: m.name.clone(),
                dir,
                procs,
                contained,
            });
        }
        Ok(cgroups)
    }

    /// Closes the handles and leaves the cgroups in place (a detached container's handle is
    /// dropped; the container runs on).
    pub(crate) fn release(mut self) {
        self.made.clear();
    }
}
