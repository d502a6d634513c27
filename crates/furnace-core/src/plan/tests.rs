//! Unit tests of the plan: the order of the steps, what is made where, the standard
//! filesystems' options.

use std::ffi::OsString;
use std::path::PathBuf;

use furnace_sys::dev::DeviceKind;

use super::standard::{mount_op, STANDARD_MOUNTS};
use super::*;
use crate::hostfacts::LoopDevice;
use crate::resolv::ResolvPlan;

fn loop_devices() -> Vec<LoopDevice> {
    vec![
        LoopDevice {
            name: "loop-control".into(),
            kind: DeviceKind::Char,
            major: 10,
            minor: 237,
            mode: 0o660,
        },
        LoopDevice {
            name: "loop0".into(),
            kind: DeviceKind::Block,
            major: 7,
            minor: 0,
            mode: 0o660,
        },
    ]
}

#[test]
fn the_callers_binds_come_after_the_hosts_resolv_conf() {
    let dir = std::env::temp_dir();
    let mut builder = crate::Container::builder(&dir);
    builder.bind(&dir, "/etc");
    let config = builder.validate().unwrap();
    let facts = HostFacts {
        resolv: ResolvPlan::Bind {
            source: PathBuf::from("/etc/resolv.conf"),
            dest: vec![OsString::from("etc"), OsString::from("resolv.conf")],
            existing: 2,
            optional: true,
        },
        ..HostFacts::default()
    };
    let plan = Plan::new(&config, &facts);
    let shown: Vec<String> = plan
        .binds
        .iter()
        .map(|b| b.dest.shown.display().to_string())
        .collect();
    assert_eq!(shown, ["/etc/resolv.conf", "/etc"]);
}

/// Every step of the plan for `facts`, as `Display` shows it.
fn steps_shown(isolate_network: bool, facts: &HostFacts) -> Vec<String> {
    let dir = std::env::temp_dir();
    let mut builder = crate::Container::builder(&dir);
    builder.isolate_network(isolate_network);
    let plan = Plan::new(&builder.validate().unwrap(), facts);
    (1..=plan.steps().count())
        .map(|n| plan.describe(n))
        .collect()
}

fn position(shown: &[String], what: &str) -> usize {
    shown
        .iter()
        .position(|s| s == what)
        .unwrap_or_else(|| panic!("missing {what:?} in {shown:#?}"))
}

#[test]
fn standard_mounts_cover_the_promised_tree() {
    let facts = HostFacts {
        loop_devices: loop_devices(),
        ..HostFacts::default()
    };
    let shown = steps_shown(false, &facts);
    for expected in [
        "mount proc on /proc",
        "mount sysfs on /sys",
        "mount tmpfs on /dev",
        "mknod /dev/null 1:3",
        "mknod /dev/tty 5:0",
        "symlink /dev/ptmx -> pts/ptmx",
        "symlink /dev/fd -> /proc/self/fd",
        "mount devpts on /dev/pts",
        "mount tmpfs on /dev/shm",
        "mount mqueue on /dev/mqueue",
        "mknod /dev/loop-control 10:237",
        "mknod /dev/loop0 7:0",
        "mount tmpfs on /run",
        "mkdir /run/lock",
    ] {
        position(&shown, expected);
    }
    let at = |what: &str| position(&shown, what);
    // proc and sysfs are mounted before the pivot, in both modes.
    let pivot = at("pivot_root into the root and detach the old root");
    assert!(at("mount proc on /proc") < pivot);
    assert!(at("mount sysfs on /sys") < pivot);
    assert!(pivot < at("mount tmpfs on /dev"));
    assert!(at("mount tmpfs on /dev") < at("mknod /dev/null 1:3"));
    assert!(at("mount tmpfs on /dev") < at("mount devpts on /dev/pts"));
    assert!(at("mount tmpfs on /run") < at("mkdir /run/lock"));
    let ops = standard_mounts(&Layout {
        loop_devices: &loop_devices(),
        devices: None,
        sys_bind: None,
        tty_gid: true,
        tops: standard::Tops::default(),
    });
    let kinds: Vec<DeviceKind> = ops
        .iter()
        .filter_map(|op| match op {
            After::Mknod { path, kind, .. } if path.as_bytes().starts_with(b"/dev/loop") => {
                Some(*kind)
            }
            _ => None,
        })
        .collect();
    assert_eq!(kinds, [DeviceKind::Char, DeviceKind::Block]);
}

#[test]
fn rootless_plans_bind_the_hosts_devices_and_sys_and_create_no_node() {
    let rootless = |tty_gid_mapped| HostFacts {
        root_is_mount_point: true,
        rootless: Some(crate::hostfacts::RootlessFacts {
            tty_gid_mapped,
            root_writable: true,
        }),
        ..HostFacts::default()
    };
    let shown = steps_shown(false, &rootless(false));
    // The root is bound onto itself even when it is a mount point: the caller's mounts are
    // locked in a user namespace, and pivot_root refuses a locked one (EINVAL).
    assert!(
        shown
            .iter()
            .any(|s| s.starts_with("bind ") && s.ends_with(" onto itself")),
        "{shown:#?}"
    );
    assert!(
        !shown.iter().any(|s| s.starts_with("mknod")),
        "no device node is created without root: {shown:#?}"
    );
    let at = |what: &str| position(&shown, what);
    let pivot = at("pivot_root into the root and detach the old root");
    assert!(at("mount proc on /proc") < pivot);
    assert!(at("open bind source /dev/null") < pivot);
    assert!(at("open bind source /sys") < pivot);
    assert!(at("mount tmpfs on /dev") < at("bind /dev/null on /dev/null"));
    assert!(at("bind /dev/null on /dev/null") < at("mount devpts on /dev/pts"));
    for device in ["zero", "full", "random", "urandom", "tty"] {
        at(&format!("bind /dev/{device} on /dev/{device}"));
    }
    // Without a network namespace of its own, the host's /sys, read-only; no fresh sysfs.
    at("bind /sys on /sys (read-only)");
    assert!(!shown.iter().any(|s| s == "mount sysfs on /sys"));
    // With one, a fresh sysfs before the pivot.
    let isolated = steps_shown(true, &rootless(false));
    assert!(
        position(&isolated, "mount sysfs on /sys")
            < position(
                &isolated,
                "pivot_root into the root and detach the old root"
            )
    );
    assert!(!isolated.iter().any(|s| s.starts_with("bind /sys")));
}

#[test]
fn devpts_gets_the_tty_group_only_where_it_is_mapped() {
    let devpts = STANDARD_MOUNTS
        .iter()
        .find(|s| s.fstype == "devpts")
        .unwrap();
    let gid = (cstring("gid"), Some(cstring("5")));
    assert!(mount_op(devpts, true, &standard::Tops::default())
        .options
        .contains(&gid));
    assert!(!mount_op(devpts, false, &standard::Tops::default())
        .options
        .contains(&gid));
}

#[test]
fn options_are_split_for_fsconfig() {
    let devpts = STANDARD_MOUNTS
        .iter()
        .find(|s| s.fstype == "devpts")
        .unwrap();
    let m = mount_op(devpts, true, &standard::Tops::default());
    assert_eq!(
        m.options,
        vec![
            (cstring("newinstance"), None),
            (cstring("ptmxmode"), Some(cstring("0666"))),
            (cstring("mode"), Some(cstring("0620"))),
            (cstring("gid"), Some(cstring("5"))),
        ]
    );
    let proc = STANDARD_MOUNTS.iter().find(|s| s.fstype == "proc").unwrap();
    let m = mount_op(proc, true, &standard::Tops::default());
    assert!(m.options.is_empty());
}

/// The plan of `builder` over the temporary directory with `facts`, as shown.
fn shown_plan(plan: &Plan) -> Vec<String> {
    (1..=plan.steps().count())
        .map(|n| plan.describe(n))
        .collect()
}

#[test]
fn an_overlay_is_mounted_after_the_sources_are_cloned_and_before_proc() {
    let dir = std::env::temp_dir();
    let mut builder = crate::Container::builder(&dir);
    builder
        .bind(&dir, "/data")
        .overlay(crate::Overlay::Ephemeral);
    let config = builder.validate().unwrap();
    let rootless = HostFacts {
        rootless: Some(crate::hostfacts::RootlessFacts {
            tty_gid_mapped: true,
            root_writable: true,
        }),
        root_mode: 0o755,
        ..HostFacts::default()
    };
    for facts in [HostFacts::default(), rootless] {
        let plan = Plan::new(&config, &facts);
        let shown = shown_plan(&plan);
        let at = |prefix: &str| {
            shown
                .iter()
                .position(|s| s.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix:?} in {shown:#?}"))
        };
        assert!(at(&format!("open bind source {}", dir.display())) < at("mount an overlay"));
        assert!(at("mount an overlay") < at("mount proc on /proc"));
        assert!(
            !shown.iter().any(|s| s.ends_with("onto itself")),
            "the overlay is the container's own mount point: {shown:#?}"
        );
        assert!(
            plan.made.is_empty(),
            "nothing is made in the root: {:?}",
            plan.made
        );
        let options = plan
            .before
            .iter()
            .find_map(|op| match op {
                Before::Overlay(o) => Some(o.options.clone()),
                _ => None,
            })
            .unwrap();
        let userxattr = (cstring("userxattr"), None);
        assert_eq!(options.contains(&userxattr), facts.rootless.is_some());
        assert!(options.contains(&(cstring("lowerdir"), Some(cstring("lower")))));
        assert!(options.contains(&(cstring("upperdir"), Some(cstring("upper")))));
    }
}

#[test]
fn what_may_be_made_in_the_root_is_numbered_and_the_rest_is_not() {
    let dir = std::env::temp_dir();
    let file = dir.join(format!("furnace-unit-{}-file", std::process::id()));
    std::fs::write(&file, "").unwrap();
    let mut builder = crate::Container::builder(&dir);
    builder
        .bind(&file, "/furnace-unit-missing/a/f")
        .bind(&dir, "/run/x")
        .tmpfs(
            "/furnace-unit-tmp",
            crate::TmpfsOptions::new().size(1 << 20),
        )
        .read_only_root(true)
        .hardened(true);
    let config = builder.validate();
    std::fs::remove_file(&file).unwrap();
    let plan = Plan::new(&config.unwrap(), &HostFacts::default());
    let made: Vec<(String, bool, bool)> = plan
        .made
        .iter()
        .map(|m| (m.path.to_string_lossy().into_owned(), m.dir, m.expected))
        .collect();
    // (path, a directory, expected: missing now); the made-up facts say the root has its
    // top-level mount points.
    let expected = [
        ("proc", true, false),
        ("dev", true, false),
        ("sys", true, false),
        ("run", true, false),
        ("furnace-unit-missing", true, true),
        ("furnace-unit-missing/a", true, true),
        ("furnace-unit-missing/a/f", false, true),
        ("furnace-unit-tmp", true, true),
    ];
    let expected: Vec<(String, bool, bool)> = expected
        .iter()
        .map(|(p, d, e)| (p.to_string(), *d, *e))
        .collect();
    assert_eq!(
        made, expected,
        "nothing under /run, the container's own tmpfs"
    );
    let shown = shown_plan(&plan);
    let at = |what: &str| {
        shown
            .iter()
            .position(|s| s == what)
            .unwrap_or_else(|| panic!("no {what:?} in {shown:#?}"))
    };
    assert!(at("mount tmpfs on /furnace-unit-tmp") < at("make the root read-only"));
    assert!(at("make the root read-only") < at("mask /proc/kcore"));
    let tmpfs = plan
        .after
        .iter()
        .find_map(|op| match op {
            After::Tmpfs(t) => Some(t.options.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        tmpfs,
        [
            (cstring("size"), Some(cstring("1048576"))),
            (cstring("mode"), Some(cstring("755")))
        ]
    );
}

#[test]
fn a_copy_of_resolv_conf_comes_before_the_callers_mounts() {
    let dir = std::env::temp_dir();
    let mut builder = crate::Container::builder(&dir);
    builder.tmpfs("/etc", crate::TmpfsOptions::new());
    let facts = HostFacts {
        resolv: ResolvPlan::Copy {
            content: b"nameserver 192.0.2.53\n".to_vec(),
            dest: vec![OsString::from("run"), OsString::from("resolv.conf")],
            existing: 1,
        },
        ..HostFacts::default()
    };
    let plan = Plan::new(&builder.validate().unwrap(), &facts);
    let shown = shown_plan(&plan);
    let copy = shown
        .iter()
        .position(|s| s == "bind a copy of the host's resolv.conf on /run/resolv.conf")
        .unwrap();
    let tmpfs = shown
        .iter()
        .position(|s| s == "mount tmpfs on /etc")
        .unwrap();
    assert!(copy < tmpfs, "{shown:#?}");
}
