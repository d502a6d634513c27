//! Issue 15 through the binary: `--private-users pick|read-only|off`. `--hardened` alone puts
//! the container in a user namespace of its own whose root is a range of the pool on the host;
//! a ROOTFS that cannot be idmapped fails with one line (exit 125) unless `read-only` is
//! chosen; `off` keeps root inside root outside; bad modes and the option without
//! `--hardened` are refused.

mod common;

use common::*;

/// Issue 15: `--hardened` alone gives the container a user namespace of its own (the default
/// `--private-users pick`), its root a range of the pool on the host, and what root writes
/// inside lands root-owned on disk; `--private-users off` keeps root inside root outside;
/// without `--hardened`, or with a mode that does not exist, the option is refused (exit 125).
#[test]
fn private_users_maps_root_to_a_range_of_its_own() {
    let t = TestRoot::new();
    let script = "cat /proc/self/uid_map; id -u; echo x > /made-inside";
    for options in [
        &["--hardened"][..],
        &["--hardened", "--private-users", "pick"],
    ] {
        let out = output(&mut t.run(options, &["sh", "-c", script]));
        assert!(out.status.success(), "{options:?}: {out:?}");
        let stdout = text(&out.stdout);
        let fields: Vec<u64> = stdout
            .lines()
            .next()
            .expect("a uid_map line")
            .split_whitespace()
            .map(|f| f.parse().expect("a number"))
            .collect();
        assert_eq!(fields[0], 0, "{options:?}: {stdout}");
        assert!(
            (0x7000_0000..0x7ffe_0000).contains(&fields[1]),
            "{options:?}: the range is the pool's: {stdout}"
        );
        assert_eq!(fields[2], 65536, "{options:?}: {stdout}");
        assert_eq!(stdout.lines().nth(1), Some("0"), "root inside: {stdout}");
        let made = fs::metadata(t.root().join("made-inside")).expect("the file is on disk");
        use std::os::unix::fs::MetadataExt;
        assert_eq!((made.uid(), made.gid()), (0, 0), "lands root-owned on disk");
        fs::remove_file(t.root().join("made-inside")).unwrap();
    }
    let out = output(&mut t.run(
        &["--hardened", "--private-users", "off"],
        &["cat", "/proc/self/uid_map"],
    ));
    assert!(out.status.success(), "{out:?}");
    let fields: Vec<String> = text(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(fields, ["0", "0", "4294967295"], "off: the initial map");
    let out = output(&mut t.run(&["--private-users", "pick"], &["true"]));
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(text(&out.stderr).contains("--hardened"), "{out:?}");
    let out = output(&mut t.run(&["--hardened", "--private-users", "maybe"], &["true"]));
    assert_furnace_failure(
        &out,
        "--private-users \"maybe\": expected pick, read-only or off",
    );
}

/// Issue 15: a ROOTFS that cannot be idmapped (an overlayfs mount) fails the default hardened
/// start with one line naming the root, its filesystem and the ways out (exit 125, nothing
/// left); `--private-users read-only` runs it read-only with a warning, root inside still
/// nobody outside.
#[test]
fn an_overlayfs_rootfs_fails_hardened_unless_read_only_is_chosen() {
    let t = TestRoot::new();
    let merged = t.dir.join("merged");
    for sub in ["upper", "work", "merged"] {
        fs::create_dir(t.dir.join(sub)).unwrap();
    }
    let overlay = furnace_core::host::OverlayMountGuard::new(
        &[&t.root()],
        t.dir.join("upper"),
        t.dir.join("work"),
        &merged,
    )
    .expect("mount an overlay over the test root");
    let run = |options: &[&str], command: &[&str]| {
        let mut cmd = Command::new(FURNACE);
        cmd.arg("run")
            .args(options)
            .arg(&merged)
            .args(command)
            .stdin(Stdio::null());
        output(&mut cmd)
    };
    let out = run(&["--hardened"], &["true"]);
    assert_furnace_failure(&out, "its filesystem (overlay) cannot be idmapped");
    assert!(
        text(&out.stderr).contains("--private-users read-only"),
        "{out:?}"
    );
    assert_eq!(text(&out.stderr).lines().count(), 1, "one line: {out:?}");

    let out = run(
        &["--hardened", "--private-users", "read-only"],
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map; stat -c %u /bin/busybox; touch /x",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "touch fails: {out:?}");
    let stdout = text(&out.stdout);
    let map: Vec<u64> = stdout
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    assert!(
        map.len() == 3 && map[0] == 0 && map[1] >= 0x7000_0000 && map[2] == 65536,
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().nth(1),
        Some("65534"),
        "root's files are nobody's: {stdout}"
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert!(
        stderr.contains("warning: root") && stderr.contains("mounted read-only"),
        "{stderr}"
    );
    assert!(!merged.join("x").exists());
    overlay.unmount().expect("unmount the test overlay");
}
