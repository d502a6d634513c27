//! Issue 16: the bundle's hooks through `furnace-oci`. Each hook writes the state it read on
//! its stdin to a file: `prestart` and `createRuntime` on the host during `create` (status
//! `creating`), `startContainer` inside the container during `start` (`created`), `poststart`
//! on the host once the process runs (`running`), `poststop` on the host at `delete`
//! (`stopped`). A failing `createRuntime` or `startContainer` hook fails its call and nothing
//! runs or is left; a failing `poststart` or `poststop` hook is a warning; `createContainer`
//! hooks are refused.

use std::path::Path;

use furnace_tests::*;

use crate::oci::{text, Bundle};

/// A hook running `sh -c SCRIPT` (the host's `sh`, or the container's for `startContainer`).
fn hook(script: &str) -> serde_json::Value {
    serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", script], "env": ["HOOK=1"]})
}

/// A hook that saves its state to `file` and its `HOOK` variable after it.
fn saving(file: &Path) -> serde_json::Value {
    hook(&format!(
        "cat > {0}; echo \" HOOK=$HOOK\" >> {0}",
        file.display()
    ))
}

/// The bundle's config.json with `hooks`.
fn with_hooks(bundle: &Bundle, hooks: serde_json::Value) {
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.dir.join("config.json")).unwrap()).unwrap();
    config["hooks"] = hooks;
    bundle.write(config);
}

/// The state a hook saved: its status and pid.
fn saved(file: &Path) -> (String, u64, String) {
    let said = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{} (the hook did not run?): {e}", file.display()));
    let (json, tail) = said.split_once(" HOOK=").expect(&said);
    let v: serde_json::Value = serde_json::from_str(json).expect(&said);
    assert_eq!(v["id"], "h1", "{said}");
    (
        v["status"].as_str().unwrap_or_default().to_owned(),
        v["pid"].as_u64().unwrap_or_default(),
        tail.trim().to_owned(),
    )
}

#[test]
fn hooks_run_where_and_when_the_spec_says_with_the_state_on_stdin() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let dir = TempDir::new("oci-hooks");
    let bundle = Bundle::new(
        &scratch,
        serde_json::json!({"args": ["sh", "-c", "echo process ran"], "cwd": "/",
                           "env": ["PATH=/usr/bin:/bin"], "user": {"uid": 0, "gid": 0}}),
    );
    let file = |name: &str| dir.path().join(name);
    with_hooks(
        &bundle,
        serde_json::json!({
            "prestart": [saving(&file("prestart"))],
            "createRuntime": [saving(&file("createRuntime"))],
            // Inside: the container's root, where the file lands in the scratch's root.
            "startContainer": [hook(
                "cat > /startContainer; echo >> /startContainer; hostname >> /startContainer",
            )],
            "poststart": [saving(&file("poststart"))],
            "poststop": [saving(&file("poststop"))],
        }),
    );
    let out_file = scratch.dir().join("out");
    let created = bundle.create("h1", &out_file);
    assert!(created.status.success(), "create: {created:?}");
    let pid: u64 = std::fs::read_to_string(bundle.state.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for name in ["prestart", "createRuntime"] {
        assert_eq!(
            saved(&file(name)),
            ("creating".to_owned(), pid, "1".to_owned()),
            "{name}"
        );
    }
    assert!(!file("poststart").exists() && !scratch.root().join("startContainer").exists());
    let started = bundle.call(&["start", "h1"]);
    assert!(started.status.success(), "start: {started:?}");
    let inside = std::fs::read_to_string(scratch.root().join("startContainer")).unwrap();
    let (json, hostname) = inside.trim_end().rsplit_once('\n').expect(&inside);
    let v: serde_json::Value = serde_json::from_str(json).expect(&inside);
    assert_eq!(
        (v["status"].as_str(), v["pid"].as_u64()),
        (Some("created"), Some(pid))
    );
    assert_eq!(
        hostname, "oci-test",
        "startContainer ran inside the container"
    );
    assert_eq!(
        saved(&file("poststart")),
        ("running".to_owned(), pid, "1".to_owned())
    );
    wait_until(DEADLINE, "the container to stop", || {
        bundle.status("h1") == "stopped"
    });
    assert!(std::fs::read_to_string(&out_file)
        .unwrap()
        .contains("process ran"));
    assert!(!file("poststop").exists());
    let deleted = bundle.call(&["delete", "h1"]);
    assert!(deleted.status.success(), "delete: {deleted:?}");
    assert_eq!(saved(&file("poststop")).0, "stopped");
    std::fs::remove_file(scratch.root().join("startContainer")).unwrap();
    bundle.assert_empty();
    leaks.assert_clean();
}

#[test]
fn failing_hooks_fail_their_call_or_warn_as_the_spec_says() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let bundle = Bundle::new(
        &scratch,
        serde_json::json!({"args": ["sh", "-c", "echo process ran"], "cwd": "/",
                           "env": ["PATH=/usr/bin:/bin"], "user": {"uid": 0, "gid": 0}}),
    );
    let out_file = scratch.dir().join("out");
    let failing = hook("echo boom >&2; exit 3");
    // createRuntime: create fails, naming the hook and what it said; nothing is left.
    with_hooks(
        &bundle,
        serde_json::json!({"createRuntime": [failing.clone()]}),
    );
    let created = bundle.create("h1", &out_file);
    let said = std::fs::read_to_string(&out_file).unwrap();
    assert!(!created.status.success(), "{created:?}");
    assert!(
        said.contains("hooks.createRuntime[0] /bin/sh failed (exit status: 3): boom"),
        "{said}"
    );
    bundle.assert_empty();
    // A hook past its timeout is killed, and create fails.
    with_hooks(
        &bundle,
        serde_json::json!({"prestart": [{"path": "/bin/sleep", "args": ["sleep", "100"], "timeout": 1}]}),
    );
    let created = bundle.create("h1", &out_file);
    let said = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        !created.status.success() && said.contains("still running after 1s"),
        "{said}"
    );
    bundle.assert_empty();
    // createContainer: refused before anything is made.
    with_hooks(
        &bundle,
        serde_json::json!({"createContainer": [hook("true")]}),
    );
    let created = bundle.create("h1", &out_file);
    let said = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        !created.status.success() && said.contains("hooks.createContainer"),
        "{said}"
    );
    bundle.assert_empty();
    // startContainer: start fails and the process never runs.
    with_hooks(
        &bundle,
        serde_json::json!({"startContainer": [failing.clone()]}),
    );
    let created = bundle.create("h1", &out_file);
    assert!(created.status.success(), "{created:?}");
    let started = bundle.call(&["start", "h1"]);
    assert!(!started.status.success(), "{started:?}");
    assert!(
        text(&started.stderr).contains("hooks.startContainer[0]"),
        "{started:?}"
    );
    wait_until(DEADLINE, "the container to stop", || {
        bundle.status("h1") == "stopped"
    });
    assert!(!std::fs::read_to_string(&out_file)
        .unwrap()
        .contains("process ran"));
    assert!(bundle.call(&["delete", "h1"]).status.success());
    // poststart and poststop: warnings; start and delete succeed.
    with_hooks(
        &bundle,
        serde_json::json!({"poststart": [failing.clone()], "poststop": [failing]}),
    );
    assert!(bundle.create("h1", &out_file).status.success());
    let started = bundle.call(&["start", "h1"]);
    assert!(started.status.success(), "{started:?}");
    assert!(
        text(&started.stderr).contains("warning: hooks.poststart[0]"),
        "{started:?}"
    );
    wait_until(DEADLINE, "the container to stop", || {
        bundle.status("h1") == "stopped"
    });
    let deleted = bundle.call(&["delete", "h1"]);
    assert!(deleted.status.success(), "{deleted:?}");
    assert!(
        text(&deleted.stderr).contains("warning: hooks.poststop[0]"),
        "{deleted:?}"
    );
    bundle.assert_empty();
    leaks.assert_clean();
}
