//! Issue 16: `furnace-oci exec` with a process document's capability sets as they are —
//! bounding, effective, permitted, inheritable and ambient each its own, for a user other
//! than root — and `Command::capability_sets`, which carries them, refused in the hardened
//! profile.

use furnace_core::{Container, PrivateUsers};
use furnace_sys::cred::{AllCapabilitySets, CapabilitySet};
use furnace_tests::*;

use crate::oci::{text, Bundle};

/// The capability lines of `/proc/self/status`, as `Name: hex` pairs.
fn cap_lines(status: &str) -> Vec<String> {
    status
        .lines()
        .filter(|l| l.starts_with("Cap"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn an_exec_gets_each_capability_set_as_given() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let bundle = Bundle::new(
        &scratch,
        serde_json::json!({"user": {"uid": 0, "gid": 0}, "args": ["sleep", "1000"],
                           "env": ["PATH=/usr/bin:/bin"], "cwd": "/"}),
    );
    let out_file = scratch.dir().join("out");
    assert!(bundle.create("x1", &out_file).status.success());
    assert!(bundle.call(&["start", "x1"]).status.success());
    let process = scratch.dir().join("process.json");
    let bind = ["CAP_NET_BIND_SERVICE"];
    std::fs::write(
        &process,
        serde_json::json!({
            "user": {"uid": 1000, "gid": 1000}, "args": ["cat", "/proc/self/status"],
            "env": ["PATH=/usr/bin:/bin"], "cwd": "/",
            "capabilities": {"bounding": ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
                             "effective": bind, "permitted": bind, "inheritable": bind,
                             "ambient": bind}
        })
        .to_string(),
    )
    .unwrap();
    let exec = bundle.call(&["exec", "--process", process.to_str().unwrap(), "x1"]);
    assert!(exec.status.success(), "{exec:?}");
    // CAP_NET_BIND_SERVICE is bit 10 (0x400), CAP_CHOWN bit 0.
    assert_eq!(
        cap_lines(&text(&exec.stdout)),
        [
            "CapInh: 0000000000000400",
            "CapPrm: 0000000000000400",
            "CapEff: 0000000000000400",
            "CapBnd: 0000000000000401",
            "CapAmb: 0000000000000400",
        ],
        "{exec:?}"
    );
    assert!(bundle.call(&["delete", "--force", "x1"]).status.success());
    bundle.assert_empty();
    leaks.assert_clean();
}

#[test]
fn exact_capability_sets_are_refused_in_the_hardened_profile() {
    let scratch = Scratch::new();
    let c = Container::builder(scratch.root())
        .hardened(true)
        .private_users(PrivateUsers::Off)
        .start()
        .expect("start");
    let all = CapabilitySet::all();
    let e = c
        .command("true")
        .capability_sets(AllCapabilitySets {
            bounding: all,
            effective: all,
            permitted: all,
            inheritable: all,
            ambient: CapabilitySet::empty(),
        })
        .status()
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("privileged profile"), "{e}");
}
