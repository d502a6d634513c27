//! The root options of issue 14 through the binary: `--ephemeral`, `--overlay-upper`,
//! `--read-only`, `--tmpfs` and `--resolv-conf`, each proven by what the command sees and what
//! is left in ROOTFS, and each bad value refused with one line and exit 125.

mod common;

use std::process::Command;

use common::*;

/// A listing of a tree: every path with its type, mode and size, sorted.
fn listing(root: &std::path::Path) -> String {
    let out = output(
        Command::new("find")
            .arg(root)
            .args(["-printf", "%P %y %m %s\\n"]),
    );
    let mut lines: Vec<&str> = std::str::from_utf8(&out.stdout)
        .expect("utf-8 listing")
        .lines()
        .collect();
    lines.sort_unstable();
    lines.join("\n")
}

/// `--ephemeral`: writes, deletes and renames inside reach the command, never ROOTFS.
#[test]
fn ephemeral_leaves_the_root_as_it_was() {
    let t = TestRoot::new();
    let before = listing(&t.root());
    let out = output(&mut t.run(
        &["--ephemeral", "--bind", "/tmp:/made/for/bind"],
        &[
            "sh",
            "-c",
            "echo new > /new && rm -rf /mnt && mv /root /root2 && cat /new && ls / | tr '\\n' ' '",
        ],
    ));
    assert!(out.status.success(), "{out:?}");
    let seen = text(&out.stdout);
    assert!(seen.starts_with("new\n"), "{seen}");
    assert!(seen.contains("root2") && !seen.contains("mnt"), "{seen}");
    assert_eq!(listing(&t.root()), before, "ROOTFS changed");
}

/// `--overlay-upper DIR`: the changes are kept in DIR, ROOTFS is untouched.
#[test]
fn an_overlay_upper_keeps_the_changes() {
    let t = TestRoot::new();
    let before = listing(&t.root());
    let upper = tempfile_dir("upper");
    let out = output(&mut t.run(
        &["--overlay-upper", upper.to_str().expect("utf-8 path")],
        &["sh", "-c", "echo kept > /kept"],
    ));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(upper.join("kept")).expect("kept in the upper layer"),
        "kept\n"
    );
    assert_eq!(listing(&t.root()), before, "ROOTFS changed");
    std::fs::remove_dir_all(upper.parent().expect("a parent")).expect("remove the upper");
}

/// `--read-only`: the root refuses writes, `/tmp`-like mounts inside do not.
#[test]
fn read_only_refuses_writes_to_the_root() {
    let t = TestRoot::new();
    let out = output(&mut t.run(
        &["--read-only"],
        &[
            "sh",
            "-c",
            "touch /x 2>/dev/null && echo root-writable; touch /dev/shm/x && echo shm-writable",
        ],
    ));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "shm-writable\n");
    assert!(!t.root().join("x").exists());
}

/// `--tmpfs DST:size=…,mode=…`: a fresh tmpfs with that mode, full past its size, and no
/// trace of its mount point afterwards.
#[test]
fn tmpfs_has_its_size_and_mode() {
    let t = TestRoot::new();
    let out = output(&mut t.run(
        &["--tmpfs", "/scratch:size=1m,mode=1777"],
        &[
            "sh",
            "-c",
            "stat -c %a /scratch; dd if=/dev/zero of=/scratch/f bs=1k count=2000 2>/dev/null \
             || echo full",
        ],
    ));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "1777\nfull\n");
    assert!(!t.root().join("scratch").exists(), "mount point left");
}

/// `--resolv-conf copy` gives a writable copy (nothing written to ROOTFS); `off` gives none.
#[test]
fn resolv_conf_modes() {
    let t = TestRoot::new();
    let before = std::fs::read(t.root().join("etc/resolv.conf")).ok();
    let out = output(&mut t.run(
        &["--resolv-conf", "copy"],
        &[
            "sh",
            "-c",
            "echo '# inside' >> /etc/resolv.conf && echo writable",
        ],
    ));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "writable\n");
    assert_eq!(std::fs::read(t.root().join("etc/resolv.conf")).ok(), before);
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let out = output(&mut t.run(
        &["--resolv-conf", "off"],
        &["sh", "-c", "cat /etc/resolv.conf 2>/dev/null; true"],
    ));
    assert!(out.status.success(), "{out:?}");
    if !host.is_empty() {
        assert_ne!(text(&out.stdout), host, "off still gave the host's file");
    }
}

/// Bad values: one line naming the option and the value, exit 125, nothing started.
#[test]
fn bad_root_options_are_refused() {
    let t = TestRoot::new();
    let cases: [(&[&str], &str); 4] = [
        (&["--tmpfs", "/s:size=zz"], "--tmpfs"),
        (&["--tmpfs", "/s:mode=99999"], "--tmpfs"),
        (&["--resolv-conf", "nope"], "--resolv-conf \"nope\""),
        (
            &["--overlay-upper", "/nonexistent/furnace-upper"],
            "furnace-upper",
        ),
    ];
    for (options, needle) in cases {
        let out = output(&mut t.run(options, &["true"]));
        assert_furnace_failure(&out, needle);
    }
    let out = output(&mut t.run(&["--ephemeral", "--overlay-upper", "/tmp"], &["true"]));
    assert_eq!(out.status.code(), Some(125), "{out:?}");
}

/// A fresh directory under the system's temporary directory, as `<dir>/<name>`.
fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("furnace-cli-roots-{}-{name}", std::process::id()));
    let inner = dir.join(name);
    std::fs::create_dir_all(&inner).expect("make the directory");
    inner
}
