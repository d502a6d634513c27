//! Issue 12, continued: `cgroup_parent` — the container's cgroups made under a cgroup the
//! caller names instead of its own (how limits become possible on a cgroup v2 host, whose
//! caller's own cgroup cannot enable controllers for children), and a parent that does not
//! exist refused before anything is made.

use std::path::PathBuf;

use furnace_core::{Container, Error};
use furnace_tests::cgroups::*;
use furnace_tests::*;

/// The v1 hierarchies (or the v2 one) a container with a pids limit gets cgroups in here.
fn hierarchies() -> Vec<Option<&'static str>> {
    if furnace_sys::cgroup::Layout::detect().unwrap_or_else(|e| panic!("{e}"))
        == furnace_sys::cgroup::Layout::Unified
    {
        vec![None]
    } else {
        vec![
            Some("memory"),
            Some("pids"),
            Some("cpuacct"),
            Some("freezer"),
        ]
    }
}

/// A relative `cgroup_parent`: the container's cgroups are made in the named cgroup under the
/// caller's own, in every hierarchy, with the limit there, and removed again at teardown (the
/// parent stays: it is not furnace's).
#[test]
fn the_container_cgroups_go_under_the_parent_asked_for() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let name = unique_name("parent");
    let parents: Vec<PathBuf> = hierarchies()
        .into_iter()
        .map(|h| {
            own_cgroup_dir(h)
                .unwrap_or_else(|| panic!("no own cgroup in {h:?}"))
                .join(&name)
        })
        .collect();
    // Removed on drop, also when the test fails (after anything furnace left inside).
    let _cleanup = RemoveOnDrop(parents.clone());
    for parent in &parents {
        std::fs::create_dir(parent)
            .unwrap_or_else(|e| panic!("make the test's parent {}: {e}", parent.display()));
    }
    let c = Container::builder(scratch.root())
        .cgroup_parent(&name)
        .pids_max(64)
        .start()
        .expect("start under the chosen parent");
    let paths = c.cgroup_paths();
    assert_eq!(paths.len(), parents.len(), "{paths:?}");
    for path in &paths {
        assert!(
            parents.iter().any(|p| path.starts_with(p)),
            "{} is under one of the chosen parents {parents:?}",
            path.display()
        );
    }
    let pids = path_in(&paths, Some("pids"));
    assert_eq!(read_control(&pids, "pids.max"), "64");
    let out = c.command("true").status().expect("run true");
    assert!(out.success());
    drop(c);
    for path in &paths {
        assert!(!path.exists(), "{} removed at teardown", path.display());
    }
    for parent in &parents {
        assert!(parent.is_dir(), "the parent {} stays", parent.display());
    }
    drop(_cleanup);
    leaks.assert_clean();
}

/// A parent that does not exist is refused, naming it, and nothing is made.
#[test]
fn a_missing_parent_is_refused_before_anything_is_made() {
    let scratch = Scratch::new();
    let watch = CgroupWatch::new();
    let err = Container::builder(scratch.root())
        .cgroup_parent("/furnace-test-no-such-parent")
        .pids_max(64)
        .start()
        .expect_err("no such parent");
    let message = err.to_string();
    assert!(matches!(err, Error::Cgroup { .. }), "{err:?}");
    assert!(
        message.contains("furnace-test-no-such-parent") && message.contains("does not exist"),
        "{message}"
    );
    assert_eq!(
        watch.created_by(std::process::id()),
        Vec::<PathBuf>::new(),
        "no cgroup was made"
    );
    let err = Container::builder(scratch.root())
        .cgroup_parent("a/../b")
        .pids_max(64)
        .start()
        .expect_err("`..` in the parent");
    assert!(matches!(err, Error::InvalidLimit { .. }), "{err:?}");
}
