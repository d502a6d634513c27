//! Issue 15: every command leads a process group of its own, in every profile, so that
//! `kill 0` inside — the `trap 'kill 0' EXIT` idiom — never reaches furnace's caller or its
//! siblings; without a terminal it leads a session of its own too.

mod common;

use std::process::Command;

use common::*;

/// A shell runs furnace and a sibling `sleep` in its own process group (the shape of a CI
/// script), the command inside sends SIGTERM to "its group": furnace reports 143, the shell
/// and its sibling live on.
#[test]
fn kill_0_inside_reaches_neither_the_caller_nor_its_siblings() {
    let t = TestRoot::new();
    for options in [&[][..], &["--hardened"][..]] {
        let script = format!(
            "sleep 30 & sibling=$!; '{FURNACE}' run {} '{}' sh -c 'kill 0; echo not-reached'; \
             echo furnace=$?; kill -0 $sibling && echo sibling-alive; kill $sibling",
            options.join(" "),
            t.root().display()
        );
        // setsid: the script leads a process group of its own, as a shell's job would.
        let out = output(Command::new("setsid").args(["--wait", "sh", "-c", &script]));
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{options:?}: the caller died: {out:?}"
        );
        assert!(stdout.contains("furnace=143"), "{options:?}: {stdout}");
        assert!(stdout.contains("sibling-alive"), "{options:?}: {stdout}");
        assert!(!stdout.contains("not-reached"), "{options:?}: {stdout}");
    }
}

/// Without a terminal the command leads a session of its own: its session and process group
/// are its own pid, neither furnace's.
#[test]
fn without_a_terminal_the_command_leads_a_session() {
    let t = TestRoot::new();
    let out = output(
        t.run(
            &[],
            &["sh", "-c", "cut -d' ' -f1,5,6 /proc/self/stat; echo $$"],
        )
        .stdin(std::process::Stdio::null()),
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    // `cut` is a child of the shell: its group and session are the shell's pid.
    let mut lines = stdout.lines();
    let fields: Vec<&str> = lines.next().expect("stat").split(' ').collect();
    let shell = lines.next().expect("pid").trim();
    assert_eq!(fields[1], shell, "process group: {stdout}");
    assert_eq!(fields[2], shell, "session: {stdout}");
}
