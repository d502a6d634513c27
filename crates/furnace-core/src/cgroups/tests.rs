//! Unit tests of the container's cgroups: names, hierarchies per layout, and the limit
//! files and usage figures against a fake tree.

use super::*;

#[test]
fn names_trace_to_their_owner() {
    let name = unique_name();
    let (pid, start) = owner_of(&name).expect("a furnace cgroup name");
    assert_eq!(pid, std::process::id());
    assert!(!owner_is_gone((pid, start)), "this process is alive");
    assert!(
        owner_is_gone((pid, start + 1)),
        "another start time: a reused pid"
    );
    assert_eq!(owner_of("furnace-12-34-5"), Some((12, 34)));
    for other in [
        "furnace-x-1-2",
        "furnace-1-2",
        "furnace-1-2-3-4",
        "other-1-2-3",
    ] {
        assert_eq!(owner_of(other), None, "{other}");
    }
}

#[test]
fn each_layout_gets_its_hierarchies() {
    let none = Limits {
        own_cgroup: true,
        ..Limits::default()
    };
    let cpu = Limits {
        cpus: Some(1.0),
        ..Limits::default()
    };
    assert_eq!(hierarchies(Layout::Unified, &cpu), [Hierarchy::V2]);
    let hybrid = hierarchies(Layout::Hybrid, &none);
    assert!(!hybrid.contains(&Hierarchy::V2) && !hybrid.contains(&Hierarchy::V1("cpu")));
    assert!(hybrid.contains(&Hierarchy::V1("freezer")));
    assert!(hierarchies(Layout::Hybrid, &cpu).contains(&Hierarchy::V1("cpu")));
    let legacy = hierarchies(Layout::Legacy, &none);
    assert!(legacy.contains(&Hierarchy::V1("freezer")) && !legacy.contains(&Hierarchy::V2));
}

/// A fake cgroup tree in a temp dir: one directory per hierarchy with the control files
/// the kernel would show (as plain files, empty where furnace writes: unlike the kernel's,
/// a plain file keeps what a shorter write does not cover), wrapped in `Cgroups`.
struct FakeTree {
    root: PathBuf,
}

impl FakeTree {
    fn new(tag: &str) -> FakeTree {
        let root =
            std::env::temp_dir().join(format!("furnace-unit-{}-cgroups-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        FakeTree { root }
    }

    /// A cgroup `name` of `hierarchy` with `files` (name, content).
    fn made(&self, hierarchy: Hierarchy, files: &[(&str, &str)]) -> Made {
        let parent_path = self.root.join(hierarchy.to_string().replace(' ', "-"));
        std::fs::create_dir_all(parent_path.join("furnace-1-2-3")).unwrap();
        for (file, content) in files {
            std::fs::write(parent_path.join("furnace-1-2-3").join(file), content).unwrap();
        }
        let parent = CgroupDir::open(&parent_path).unwrap();
        let dir = parent.open_child("furnace-1-2-3").unwrap();
        let procs = std::fs::File::open("/dev/null").unwrap().into();
        Made {
            hierarchy,
            also: Vec::new(),
            parent,
            name: "furnace-1-2-3".into(),
            dir,
            procs,
            contained: None,
        }
    }

    fn read(&self, hierarchy: Hierarchy, file: &str) -> String {
        let dir = self.root.join(hierarchy.to_string().replace(' ', "-"));
        std::fs::read_to_string(dir.join("furnace-1-2-3").join(file)).unwrap()
    }
}

impl Drop for FakeTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Takes the `Cgroups` apart without removing anything (the fake tree goes with its dir).
fn forget(cgroups: Cgroups) {
    let mut cgroups = std::mem::ManuallyDrop::new(cgroups);
    drop(std::mem::take(&mut cgroups.made));
}

const V2_FILES: &[(&str, &str)] = &[
    ("cgroup.controllers", "cpuset cpu io memory pids\n"),
    ("memory.max", ""),
    ("memory.swap.max", ""),
    ("pids.max", ""),
    ("cpu.max", ""),
    ("cpu.weight", ""),
    ("memory.current", "1048576\n"),
    ("memory.peak", "4194304\n"),
    (
        "memory.events",
        "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n",
    ),
    ("pids.current", "3\n"),
    ("pids.events", "max 2\n"),
    (
        "cpu.stat",
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
    ),
];

#[test]
fn v2_limits_go_to_the_v2_files_and_usage_comes_from_them() {
    let tree = FakeTree::new("v2");
    let cgroups = Cgroups {
        made: vec![tree.made(Hierarchy::V2, V2_FILES)],
        layout: Layout::Unified,
    };
    let limits = Limits {
        memory_max: Some(64 << 20),
        pids_max: Some(50),
        cpus: Some(1.5),
        cpu_weight: Some(200),
        ..Limits::default()
    };
    cgroups.check_v2_controllers(&limits).unwrap();
    cgroups.write_limits(&limits).unwrap();
    assert_eq!(
        tree.read(Hierarchy::V2, "memory.max"),
        (64u64 << 20).to_string()
    );
    assert_eq!(tree.read(Hierarchy::V2, "memory.swap.max"), "0");
    assert_eq!(tree.read(Hierarchy::V2, "pids.max"), "50");
    assert_eq!(tree.read(Hierarchy::V2, "cpu.max"), "150000 100000");
    assert_eq!(tree.read(Hierarchy::V2, "cpu.weight"), "200");
    let usage = cgroups.usage();
    assert_eq!(usage.memory_current, Some(1 << 20));
    assert_eq!(usage.memory_peak, Some(4 << 20));
    assert_eq!(usage.oom_kills, 1);
    assert_eq!(usage.pids, Some(3));
    assert_eq!(usage.pids_limit_hits, 2);
    assert_eq!(usage.cpu_time, Some(std::time::Duration::from_micros(1500)));
    forget(cgroups);
}

#[test]
fn a_v2_controller_the_parent_does_not_enable_is_named() {
    let tree = FakeTree::new("v2-missing");
    let files: Vec<(&str, &str)> = V2_FILES
        .iter()
        .map(|&(f, c)| {
            if f == "cgroup.controllers" {
                (f, "cpu pids\n")
            } else {
                (f, c)
            }
        })
        .collect();
    let cgroups = Cgroups {
        made: vec![tree.made(Hierarchy::V2, &files)],
        layout: Layout::Unified,
    };
    let limits = Limits {
        memory_max: Some(64 << 20),
        ..Limits::default()
    };
    let err = cgroups
        .check_v2_controllers(&limits)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the memory controller is not enabled"),
        "{err}"
    );
    assert!(err.contains("--cgroup-parent"), "{err}");
    let pids_only = Limits {
        pids_max: Some(5),
        ..Limits::default()
    };
    assert!(cgroups.check_v2_controllers(&pids_only).is_ok());
    forget(cgroups);
}

#[test]
fn v1_limits_go_to_each_controllers_files() {
    let tree = FakeTree::new("v1");
    let cgroups = Cgroups {
        made: vec![
            tree.made(
                Hierarchy::V1("memory"),
                &[
                    ("memory.limit_in_bytes", ""),
                    ("memory.memsw.limit_in_bytes", ""),
                    ("memory.usage_in_bytes", "2048\n"),
                    ("memory.max_usage_in_bytes", "8192\n"),
                    (
                        "memory.oom_control",
                        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
                    ),
                ],
            ),
            tree.made(
                Hierarchy::V1("pids"),
                &[("pids.max", ""), ("pids.current", "4\n")],
            ),
            tree.made(Hierarchy::V1("cpuacct"), &[("cpuacct.usage", "2000000\n")]),
            tree.made(
                Hierarchy::V1("cpu"),
                &[
                    ("cpu.cfs_period_us", ""),
                    ("cpu.cfs_quota_us", ""),
                    ("cpu.shares", ""),
                ],
            ),
        ],
        layout: Layout::Hybrid,
    };
    let limits = Limits {
        memory_max: Some(32 << 20),
        pids_max: Some(20),
        cpus: Some(0.5),
        cpu_weight: Some(100),
        ..Limits::default()
    };
    cgroups.write_limits(&limits).unwrap();
    let memory = Hierarchy::V1("memory");
    assert_eq!(
        tree.read(memory, "memory.limit_in_bytes"),
        (32u64 << 20).to_string()
    );
    assert_eq!(
        tree.read(memory, "memory.memsw.limit_in_bytes"),
        (32u64 << 20).to_string()
    );
    assert_eq!(tree.read(Hierarchy::V1("pids"), "pids.max"), "20");
    assert_eq!(tree.read(Hierarchy::V1("cpu"), "cpu.cfs_quota_us"), "50000");
    assert_eq!(
        tree.read(Hierarchy::V1("cpu"), "cpu.cfs_period_us"),
        "100000"
    );
    assert_eq!(tree.read(Hierarchy::V1("cpu"), "cpu.shares"), "1024");
    let usage = cgroups.usage();
    assert_eq!(
        (usage.memory_current, usage.memory_peak),
        (Some(2048), Some(8192))
    );
    assert_eq!(usage.oom_kills, 2);
    assert_eq!(usage.pids, Some(4));
    assert_eq!(usage.cpu_time, Some(std::time::Duration::from_millis(2)));
    forget(cgroups);
}
