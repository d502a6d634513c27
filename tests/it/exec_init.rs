//! Issue 16's foundation: `ContainerBuilder::exec_init` — PID 1 becomes the container's
//! program (an OCI runtime's `process`) once set up and released through its start gate: the
//! program runs as PID 1 with the starter's stdio and the environment given, its exit status
//! is PID 1's, a program that cannot be executed says why on stderr and exits 127, and bad
//! input is refused before anything is made.
//!
//! The starter is `furnace-test-helper exec-init`, a process of its own (the program's stdio
//! is the starter's), which waits for PID 1 as its parent.

use std::path::Path;
use std::process::{Command, Stdio};

use furnace_core::{Container, Error, InitProgram, Lifetime, Registry};
use furnace_tests::*;

use crate::HELPER;

/// Runs the helper's `exec-init` mode over `root`: (stdout, stderr, exit code).
fn exec_init(root: &Path, registry: &Path, program: &[&str]) -> (String, String, Option<i32>) {
    let gate = registry.with_extension("gate");
    let out = Command::new(HELPER)
        .arg("exec-init")
        .arg(root)
        .arg(registry)
        .arg(&gate)
        .args(program)
        .stdin(Stdio::null())
        .output()
        .expect("run furnace-test-helper exec-init");
    let _ = std::fs::remove_file(&gate);
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

/// Looks at the registry, which removes the entries whose PID 1 is gone: nothing is left.
fn assert_registry_empties(registry: &Path) {
    let left = Registry::at(registry).list().expect("list the registry");
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn pid_1_becomes_the_program_once_the_gate_opens_and_its_status_is_the_containers() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let registry = scratch.dir().join("registry");
    let (stdout, stderr, code) = exec_init(
        &scratch.root(),
        &registry,
        &[
            "sh",
            "-c",
            "echo \"$GREETING from pid $$\"; ps -o pid,comm; exit 7",
        ],
    );
    assert_eq!(code, Some(0), "stderr: {stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    // Until the gate opens, PID 1 is furnace's own init, waiting.
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with("created pid=") && l.ends_with("comm=furnace-init")),
        "{stdout}"
    );
    assert_eq!(lines.get(1), Some(&"waiting comm=furnace-init"), "{stdout}");
    assert!(lines.contains(&"started"), "{stdout}");
    let hello = lines
        .iter()
        .position(|l| *l == "hello from pid 1")
        .expect(&stdout);
    // The program is PID 1 of its namespace, and nothing of furnace's runs beside it.
    // The helper's "started" shares the program's stdout and may land anywhere after the
    // gate opened, even between the program's lines.
    let ps: Vec<&str> = lines[hello + 1..]
        .iter()
        .take_while(|l| !l.starts_with("exit="))
        .filter(|l| **l != "started")
        .copied()
        .collect();
    assert_eq!(
        ps.first().map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["PID", "COMMAND"]),
        "{stdout}"
    );
    assert_eq!(
        ps.get(1).map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["1", "sh"]),
        "{stdout}"
    );
    assert_eq!(lines.last(), Some(&"exit=7"), "{stdout}");
    assert_registry_empties(&registry);
    leaks.assert_clean();
}

#[test]
fn a_program_that_cannot_be_executed_says_why_and_exits_127() {
    let scratch = Scratch::new();
    let registry = scratch.dir().join("registry");
    let (stdout, stderr, code) = exec_init(&scratch.root(), &registry, &["no-such-program"]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(stdout.ends_with("exit=127\n"), "{stdout}");
    assert!(
        stderr.contains("furnace: init program: execute the program: ENOENT"),
        "{stderr}"
    );
    assert_registry_empties(&registry);
}

#[test]
fn bad_init_programs_are_refused_before_anything_is_made() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let registry = Registry::at(scratch.dir().join("registry"));
    let detached = Lifetime::Detached { timeout: None };
    let start = |program: InitProgram, lifetime: Lifetime, hardened: bool| {
        Container::builder(scratch.root())
            .lifetime(lifetime)
            .registry(registry.clone())
            .hardened(hardened)
            .exec_init(program)
            .start()
            .map(|_| ())
            .unwrap_err()
    };
    let e = start(InitProgram::new(["true"]), Lifetime::Owner, false);
    assert!(
        matches!(e, Error::InvalidInitProgram { .. }) && e.to_string().contains("detached"),
        "{e}"
    );
    let e = start(InitProgram::new(["true"]), detached, true);
    assert!(e.to_string().contains("privileged profile"), "{e}");
    let e = start(InitProgram::new(Vec::<String>::new()), detached, false);
    assert!(e.to_string().contains("no arguments"), "{e}");
    let e = start(InitProgram::new(["a\0b"]), detached, false);
    assert!(e.to_string().contains("NUL"), "{e}");
    let e = start(InitProgram::new(["true"]).cwd("relative"), detached, false);
    assert!(e.to_string().contains("absolute"), "{e}");
    let e = start(
        InitProgram::new(["true"]).start_gate(scratch.dir().join("no-gate")),
        detached,
        false,
    );
    assert!(
        e.to_string().contains("start gate") && e.to_string().contains("does not exist"),
        "{e}"
    );
    let not_fifo = scratch.dir().join("plain");
    std::fs::write(&not_fifo, "").unwrap();
    let e = start(
        InitProgram::new(["true"]).start_gate(&not_fifo),
        detached,
        false,
    );
    assert!(e.to_string().contains("not a FIFO"), "{e}");
    assert!(registry.list().expect("list").is_empty());
    leaks.assert_clean();
}
