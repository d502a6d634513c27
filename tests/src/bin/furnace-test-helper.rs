//! A caller process for the integration tests that need one to die, panic or exit.
//!
//! ```text
//! furnace-test-helper hold ROOT    start a container, run `sleep 1000` in it, report, sleep
//!                                  forever (the test kills this process with SIGKILL)
//! furnace-test-helper hold-limited ROOT
//!                                  like hold, with a limit (`pids_max(100)`), so that the
//!                                  container has cgroups of its own, named after this process
//! furnace-test-helper panic ROOT   the same, then panic inside the context (exit 101)
//! furnace-test-helper exit ROOT    the same, then std::process::exit(0): no destructor runs
//! furnace-test-helper grab ROOT    like hold, but the process inside first re-opens every fd
//!                                  PID 1 has (through /proc/1/fd), then becomes `sleep 1000`
//! furnace-test-helper run ROOT PROGRAM [ARGS...]
//!                                  run one command in a container, inheriting stdio, and exit
//!                                  with its code (for poking at an image by hand)
//! furnace-test-helper run-with ROOT [--bind SRC:DST] [--bind-ro SRC:DST] [--isolate-net] [--hardened]
//!                                  [--hostname NAME] [--start-timeout SECONDS] -- PROGRAM [ARGS...]
//!                                  the same with options (for fault injection under strace);
//!                                  a failed start prints the error and, on a second line
//!                                  `furnace-test-helper: error value: {:?}`, its variant
//! furnace-test-helper closed-stdio ROOT OUTDIR
//!                                  close fds 0, 1 and 2, then start a container with OUTDIR
//!                                  bound on /out and run `sh -c 'echo ok > /out/r'` in it,
//!                                  then read it back with `output()` (piped stdio);
//!                                  exit 0 only if both succeeded (what failed, if anything,
//!                                  is written to OUTDIR/helper-error, there being no stderr)
//! furnace-test-helper as-nobody ROOT
//!                                  drop to uid and gid 65534 (no supplementary groups), then
//!                                  try to start a container: exit 0 and print the error's
//!                                  message when it is `Error::NeedsRoot`; exit 1 and print the
//!                                  error's value for any other error, 2 when the start worked
//! furnace-test-helper rootless auto|single|none ROOT SCRIPT
//!                                  a caller without root: first thing in `main`, enter a user
//!                                  namespace with `furnace_core::rootless::enter` (`auto`:
//!                                  subordinate ids when the user has them, `single`: one id;
//!                                  `none`: do not), then start a container and run
//!                                  `sh -c SCRIPT` in it with `output()`, print its stdout and
//!                                  stderr and exit with its code; 3 when `enter` fails, 4 when
//!                                  the start fails (`start: ERROR`, then `variant: {:?}`, on
//!                                  stderr), 127 when sh cannot be spawned
//! furnace-test-helper named-bad-names ROOT STATE_DIR NAME...
//!                                  try to start a detached container (with a pids limit) under
//!                                  each NAME in the registry STATE_DIR, reading the pid
//!                                  namespace's `ns_last_pid` before and after (run it as PID 1
//!                                  of a pid namespace of its own, `unshare --pid --fork
//!                                  --mount-proc`, so that only its own forks move it), then
//!                                  start and stop one under the good name `control` (which
//!                                  must move it); prints `name NAME invalid|error ERR|started`
//!                                  per NAME, then `dir-made BOOL` (whether STATE_DIR existed
//!                                  before the control), `pids BEFORE AFTER CONTROL` and
//!                                  `control started|error ERR`
//! furnace-test-helper exec-init ROOT REGISTRY GATE PROGRAM [ARGS...]
//!                                  as an engine's monitor does: become a child subreaper, run
//!                                  `exec-init-create` (same arguments) as a child, which starts
//!                                  a detached container in the registry REGISTRY whose PID 1
//!                                  becomes PROGRAM (environment `PATH=/usr/bin:/bin`,
//!                                  `GREETING=hello`) once the FIFO GATE (made there) is opened,
//!                                  prints `created pid=PID comm=COMM`, then after 100 ms
//!                                  `waiting comm=COMM`, and exits (3 when the start fails); then open the gate, print `started`, wait for
//!                                  PID 1 (reparented here) and print `exit=CODE` or
//!                                  `signal=N`
//! furnace-test-helper oci-monitor OCI STATE BUNDLE ID
//!                                  what conmon does with an OCI runtime: become a child
//!                                  subreaper, run `OCI --root STATE create --bundle BUNDLE
//!                                  --pid-file STATE/ID.pid ID` (stdio inherited: it becomes the
//!                                  container's), then `OCI --root STATE start ID`, wait for the
//!                                  pid of the pid file (reparented here) and print `exit=CODE`
//!                                  or `signal=N`; 3 when create fails, 4 when start fails
//! furnace-test-helper reap [--report-pid] PROGRAM [ARGS...]
//!                                  become a child subreaper, run PROGRAM (stdio inherited;
//!                                  with --report-pid, first `spawned PID` on stderr), reap it
//!                                  and every orphan that lands here, exit with its status once
//!                                  nothing is left: a test that kills the owner of a container
//!                                  then waits for its processes without depending on how
//!                                  quickly the machine's init reaps orphans
//! ```
//!
//! The report is one line on stdout:
//! `ready init=PID sleeper=PID pidns=pid:[N] mntns=mnt:[N]` (host pids, namespaces as
//! `readlink /proc/PID/ns/*` shows them).

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use furnace_core::Container;
use furnace_sys::cred::forksafe::set_ids;
use furnace_sys::cred::{Gid, Uid};
use furnace_sys::fd::forksafe::close_range;
use furnace_sys::process::set_child_subreaper;
use furnace_sys::Errno;
use rustix::process::{wait, Pid, WaitOptions};

/// Re-opens everything PID 1 holds (fd N as N + 10), then sleeps as `sleep 1000`.
const GRAB: &str = "for f in /proc/1/fd/*; do n=${f##*/}; \
                    eval \"exec $((n + 10))<$f\" 2>/dev/null; done; exec sleep 1000";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Before anything else: `rootless::enter` must run while the process is single-threaded.
    if args.first().map(String::as_str) == Some("rootless") {
        return rootless(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("reap") {
        return reap(&args[1..]);
    }
    let (Some(mode), Some(root)) = (args.first(), args.get(1)) else {
        eprintln!("usage: furnace-test-helper hold|hold-limited|panic|exit|grab|run|run-with|closed-stdio|as-nobody|rootless ROOT [OPTIONS] [PROGRAM ARGS...]");
        return ExitCode::from(2);
    };
    match mode.as_str() {
        "run-with" => return run_with(root, &args[2..]),
        "closed-stdio" => return closed_stdio(root, args.get(2)),
        "as-nobody" => return as_nobody(root),
        "named-bad-names" => return named_bad_names(root, &args[2..]),
        "exec-init" => return exec_init(root, &args[2..]),
        "exec-init-create" => return exec_init_create(root, &args[2..]),
        "oci-monitor" => return oci_monitor(root, &args[2..]),
        _ => {}
    }
    let mut builder = Container::builder(root);
    if mode == "hold-limited" {
        builder.pids_max(100);
    }
    if mode == "hold-hardened" {
        builder.hardened(true);
    }
    let container = match builder.start() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("furnace-test-helper: cannot start a container over {root}: {e}");
            return ExitCode::from(3);
        }
    };
    if mode == "run" {
        let Some(program) = args.get(2) else {
            eprintln!("furnace-test-helper run: no program");
            return ExitCode::from(2);
        };
        let status = match container.command(program).args(&args[3..]).status() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("furnace-test-helper: cannot run {program}: {e}");
                return ExitCode::from(127);
            }
        };
        drop(container);
        return match (status.code(), status.signal()) {
            (Some(code), _) => ExitCode::from(code as u8),
            (None, sig) => ExitCode::from(128 + sig.unwrap_or(0) as u8),
        };
    }
    let mut sleeper = if mode == "grab" {
        let mut c = container.command("sh");
        c.arg("-c").arg(GRAB);
        c
    } else {
        let mut c = container.command("sleep");
        c.arg("1000");
        c
    };
    let sleeper = match sleeper
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("furnace-test-helper: cannot start sleep in the container: {e}");
            return ExitCode::from(3);
        }
    };
    let init = container.init_pid();
    let ns = |kind: &str| {
        std::fs::read_link(format!("/proc/{init}/ns/{kind}"))
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "?".into())
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "ready init={init} sleeper={} pidns={} mntns={}",
        sleeper.id(),
        ns("pid"),
        ns("mnt")
    );
    let _ = out.flush();
    drop(out);
    match mode.as_str() {
        "hold" | "hold-limited" | "hold-hardened" | "grab" => loop {
            std::thread::sleep(std::time::Duration::from_secs(1000));
        },
        "panic" => {
            let _keep = (&container, sleeper);
            panic!("furnace-test-helper: a deliberate panic inside the container's context");
        }
        "exit" => std::process::exit(0),
        other => {
            eprintln!("furnace-test-helper: unknown mode {other}");
            ExitCode::from(2)
        }
    }
}

/// `run-with ROOT [OPTIONS] -- PROGRAM [ARGS...]`: start, run one command, stop, exit with its
/// code; 3 when the container cannot start, 127 when the command cannot be spawned, 4 when
/// stopping fails. Every error is one line on stderr.
fn run_with(root: &str, args: &[String]) -> ExitCode {
    let mut builder = Container::builder(root);
    let mut rest = args.iter();
    let mut command = Vec::new();
    while let Some(arg) = rest.next() {
        let mut value = |name: &str| {
            rest.next().cloned().unwrap_or_else(|| {
                eprintln!("furnace-test-helper run-with: {name} needs a value");
                std::process::exit(2)
            })
        };
        match arg.as_str() {
            "--bind" | "--bind-ro" => {
                let spec = value(arg);
                let Some((src, dst)) = spec.split_once(':') else {
                    eprintln!("furnace-test-helper run-with: {arg} wants SRC:DST, not {spec}");
                    return ExitCode::from(2);
                };
                if arg == "--bind" {
                    builder.bind(src, dst);
                } else {
                    builder.bind_ro(src, dst);
                }
            }
            "--isolate-net" => {
                builder.isolate_network(true);
            }
            "--hardened" => {
                builder.hardened(true);
            }
            "--private-users-off" => {
                builder.private_users(furnace_core::PrivateUsers::Off);
            }
            "--hostname" => {
                builder.hostname(value("--hostname"));
            }
            "--start-timeout" => {
                let seconds = value("--start-timeout");
                let Ok(seconds) = seconds.parse::<u64>() else {
                    eprintln!("furnace-test-helper run-with: --start-timeout wants seconds, not {seconds}");
                    return ExitCode::from(2);
                };
                builder.start_timeout(Duration::from_secs(seconds));
            }
            "--" => {
                command.extend(rest.by_ref().cloned());
                break;
            }
            other => {
                eprintln!("furnace-test-helper run-with: unknown option {other}");
                return ExitCode::from(2);
            }
        }
    }
    let Some((program, program_args)) = command.split_first() else {
        eprintln!("furnace-test-helper run-with: no program after --");
        return ExitCode::from(2);
    };
    let container = match builder.start() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("furnace-test-helper: cannot start a container over {root}: {e}");
            eprintln!("furnace-test-helper: error value: {e:?}");
            return ExitCode::from(3);
        }
    };
    let status = match container.command(program).args(program_args).status() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("furnace-test-helper: cannot run {program}: {e}");
            return ExitCode::from(127);
        }
    };
    if let Err(e) = container.stop() {
        eprintln!("furnace-test-helper: cannot stop the container: {e}");
        return ExitCode::from(4);
    }
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(code as u8),
        (None, sig) => ExitCode::from(128 + sig.unwrap_or(0) as u8),
    }
}

/// `closed-stdio ROOT OUTDIR`: a caller whose fds 0, 1 and 2 are closed.
///
/// The Rust runtime opens `/dev/null` on any of them that is closed when the process starts,
/// so they are closed here, in `main`: from then on, the first fds the library opens (a pidfd,
/// `/dev/null`, a pipe) get the numbers 0, 1 and 2.
fn closed_stdio(root: &str, out: Option<&String>) -> ExitCode {
    let Some(out) = out else {
        eprintln!("furnace-test-helper closed-stdio: no OUTDIR");
        return ExitCode::from(2);
    };
    let report = |what: &str| {
        let _ = std::fs::write(Path::new(out).join("helper-error"), format!("{what}\n"));
    };
    // SAFETY: the standard fds have no owner in this process (no `OwnedFd` or `File` holds
    // them), and nothing uses them from here on: nothing is printed, errors go to a file.
    if unsafe { close_range(0, 2) }.is_err() {
        report("cannot close fds 0, 1 and 2");
        return ExitCode::from(2);
    }
    let container = match Container::builder(root).bind(out, "/out").start() {
        Ok(c) => c,
        Err(e) => {
            report(&format!("cannot start a container over {root}: {e}"));
            return ExitCode::from(3);
        }
    };
    let status = match container
        .command("sh")
        .args(["-c", "echo ok > /out/r"])
        .status()
    {
        Ok(s) => s,
        Err(e) => {
            report(&format!("cannot run sh: {e}"));
            return ExitCode::from(127);
        }
    };
    // `output()` pipes stdio: std's set-up of the child's 0–2 must not overwrite any fd the
    // command needs (PID 1's pidfd among them).
    let output = container
        .command("sh")
        .args(["-c", "cat /out/r; echo err >&2"])
        .output();
    if let Err(e) = container.stop() {
        report(&format!("cannot stop the container: {e}"));
        return ExitCode::from(4);
    }
    if !status.success() {
        report(&format!("sh -c 'echo ok > /out/r': {status}"));
        return ExitCode::from(1);
    }
    match output {
        Ok(o) if o.status.success() && o.stdout == b"ok\n" && o.stderr == b"err\n" => {
            ExitCode::SUCCESS
        }
        Ok(o) => {
            report(&format!("output(): {o:?}"));
            ExitCode::from(5)
        }
        Err(e) => {
            report(&format!("output(): {e}"));
            ExitCode::from(5)
        }
    }
}

/// `as-nobody ROOT`: a caller without root.
fn as_nobody(root: &str) -> ExitCode {
    const NOBODY: u32 = 65534;
    // `set_ids` changes the calling thread's ids only (the raw system calls), which is the
    // whole process here: `main` calls this before anything could start a thread.
    if let Err(e) = set_ids(Some(Uid::from_raw(NOBODY)), Some(Gid::from_raw(NOBODY))) {
        eprintln!("furnace-test-helper as-nobody: cannot drop to uid/gid {NOBODY}: {e}");
        return ExitCode::from(2);
    }
    match Container::start(root) {
        Err(e @ furnace_core::Error::NeedsRoot { .. }) => {
            println!("{e}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{e:?}: {e}");
            ExitCode::from(1)
        }
        Ok(_) => {
            println!("a container started without root");
            ExitCode::from(2)
        }
    }
}

/// `rootless auto|single|none ROOT SCRIPT`: the library used by a caller without root.
fn rootless(args: &[String]) -> ExitCode {
    use furnace_core::rootless::{enter, IdMapping};
    let [mapping, root, script] = args else {
        eprintln!("usage: furnace-test-helper rootless auto|single|none ROOT SCRIPT");
        return ExitCode::from(2);
    };
    let mapping = match mapping.as_str() {
        "auto" => Some(IdMapping::Auto),
        "single" => Some(IdMapping::Single),
        "none" => None,
        other => {
            eprintln!("furnace-test-helper rootless: unknown mapping {other}");
            return ExitCode::from(2);
        }
    };
    if let Some(mapping) = mapping {
        if let Err(e) = enter(mapping) {
            eprintln!("enter: {e}");
            return ExitCode::from(3);
        }
    }
    let container = match Container::builder(root).start() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("start: {e}");
            eprintln!("variant: {e:?}");
            return ExitCode::from(4);
        }
    };
    let output = match container.command("sh").args(["-c", script]).output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("furnace-test-helper rootless: cannot run sh: {e}");
            return ExitCode::from(127);
        }
    };
    drop(container);
    let _ = std::io::stdout().write_all(&output.stdout);
    let _ = std::io::stderr().write_all(&output.stderr);
    match (output.status.code(), output.status.signal()) {
        (Some(code), _) => ExitCode::from(code as u8),
        (None, sig) => ExitCode::from(128 + sig.unwrap_or(0) as u8),
    }
}

/// `named-bad-names ROOT STATE_DIR NAME...`: see the usage at the top.
fn named_bad_names(root: &str, args: &[String]) -> ExitCode {
    use furnace_core::{Error, Registry};
    let Some((state_dir, names)) = args.split_first() else {
        eprintln!("usage: furnace-test-helper named-bad-names ROOT STATE_DIR NAME...");
        return ExitCode::from(2);
    };
    // The last pid handed out in this process's pid namespace: moves with every fork here.
    let last_pid = || {
        std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    };
    let registry = Registry::at(state_dir);
    let mut answers = Vec::with_capacity(names.len());
    let before = last_pid();
    for name in names {
        let started = Container::builder(root)
            .name(name.as_str())
            .registry(registry.clone())
            .pids_max(10)
            .start();
        answers.push(match started {
            Err(Error::InvalidName { .. }) => format!("name {name:?} invalid"),
            Err(e) => format!("name {name:?} error {e:?}"),
            Ok(c) => {
                let _ = c.stop();
                format!("name {name:?} started")
            }
        });
    }
    let after = last_pid();
    let dir_made = Path::new(state_dir).exists();
    let control = Container::builder(root)
        .name("control")
        .registry(registry)
        .start();
    let moved = last_pid();
    let control = match control {
        Ok(c) => match c.stop() {
            Ok(()) => "started".to_owned(),
            Err(e) => format!("error stop: {e}"),
        },
        Err(e) => format!("error {e:?}"),
    };
    for answer in answers {
        println!("{answer}");
    }
    println!("dir-made {dir_made}");
    println!("pids {before} {after} {moved}");
    println!("control {control}");
    ExitCode::SUCCESS
}

/// `reap [--report-pid] PROGRAM [ARGS...]`: a child subreaper around PROGRAM.
fn reap(args: &[String]) -> ExitCode {
    let (report, command) = match args.first().map(String::as_str) {
        Some("--report-pid") => (true, &args[1..]),
        _ => (false, args),
    };
    let Some((program, program_args)) = command.split_first() else {
        eprintln!("furnace-test-helper reap: no program");
        return ExitCode::from(2);
    };
    if let Err(e) = set_child_subreaper(true) {
        eprintln!("furnace-test-helper reap: {e}");
        return ExitCode::from(2);
    }
    let child = match std::process::Command::new(program)
        .args(program_args)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("furnace-test-helper reap: cannot run {program}: {e}");
            return ExitCode::from(127);
        }
    };
    let first = Pid::from_child(&child);
    if report {
        eprintln!("spawned {}", first.as_raw_pid());
    }
    let mut code = 1;
    loop {
        let (pid, status) = match wait(WaitOptions::empty()) {
            Ok(Some(reaped)) => reaped,
            Err(Errno::INTR) => continue,
            Ok(None) | Err(_) => break, // ECHILD: nothing left
        };
        if pid == first {
            code = status
                .exit_status()
                .unwrap_or_else(|| 128 + status.terminating_signal().unwrap_or(0));
        }
    }
    drop(child);
    ExitCode::from(code as u8)
}

/// `exec-init ROOT REGISTRY GATE PROGRAM [ARGS...]`: see the module's documentation.
fn exec_init(root: &str, args: &[String]) -> ExitCode {
    let Some(gate) = args.get(1) else {
        eprintln!("furnace-test-helper exec-init: ROOT REGISTRY GATE PROGRAM [ARGS...]");
        return ExitCode::from(2);
    };
    if let Err(e) = set_child_subreaper(true) {
        eprintln!("furnace-test-helper exec-init: {e}");
        return ExitCode::from(2);
    }
    let created = std::process::Command::new(std::env::current_exe().expect("own path"))
        .arg("exec-init-create")
        .arg(root)
        .args(args)
        .status();
    match created {
        Ok(status) if status.success() => {}
        Ok(status) => return ExitCode::from(status.code().unwrap_or(2) as u8),
        Err(e) => {
            eprintln!("furnace-test-helper exec-init: run exec-init-create: {e}");
            return ExitCode::from(2);
        }
    }
    let mut byte = [0u8];
    let opened =
        std::fs::File::open(gate).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut byte));
    if let Err(e) = opened {
        eprintln!("furnace-test-helper exec-init: open the gate: {e}");
        return ExitCode::from(2);
    }
    println!("started");
    let _ = std::io::stdout().flush();
    // PID 1, orphaned by the creator, is ours now; nothing else is.
    match wait(WaitOptions::empty()) {
        Ok(Some((_, status))) => {
            if let Some(code) = status.exit_status() {
                println!("exit={code}");
            } else if let Some(sig) = status.terminating_signal() {
                println!("signal={sig}");
            }
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("furnace-test-helper exec-init: wait for PID 1: {other:?}");
            ExitCode::from(2)
        }
    }
}

/// `exec-init-create ROOT REGISTRY GATE PROGRAM [ARGS...]`: the creating half of `exec-init`.
fn exec_init_create(root: &str, args: &[String]) -> ExitCode {
    let [registry, gate, program @ ..] = args else {
        eprintln!("furnace-test-helper exec-init-create: ROOT REGISTRY GATE PROGRAM [ARGS...]");
        return ExitCode::from(2);
    };
    if let Err(e) = rustix::fs::mknodat(
        rustix::fs::CWD,
        gate.as_str(),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    ) {
        eprintln!("furnace-test-helper exec-init-create: mkfifo {gate}: {e}");
        return ExitCode::from(2);
    }
    let started = Container::builder(root)
        .lifetime(furnace_core::Lifetime::Detached { timeout: None })
        .registry(furnace_core::Registry::at(registry))
        .exec_init(
            furnace_core::InitProgram::new(program)
                .env(["PATH=/usr/bin:/bin", "GREETING=hello"])
                .start_gate(gate),
        )
        .start();
    let container = match started {
        Ok(c) => c,
        Err(e) => {
            eprintln!("furnace-test-helper exec-init-create: start: {e}");
            return ExitCode::from(3);
        }
    };
    let pid = container.init_pid();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    println!("created pid={pid} comm={}", comm.trim());
    // Still waiting a while later: nothing but the gate lets the program run.
    drop(container);
    std::thread::sleep(Duration::from_millis(100));
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    println!("waiting comm={}", comm.trim());
    let _ = std::io::stdout().flush();
    ExitCode::SUCCESS
}

/// `oci-monitor OCI STATE BUNDLE ID`: see the module's documentation.
fn oci_monitor(oci: &str, args: &[String]) -> ExitCode {
    let [state, bundle, id] = args else {
        eprintln!("furnace-test-helper oci-monitor: OCI STATE BUNDLE ID");
        return ExitCode::from(2);
    };
    if let Err(e) = set_child_subreaper(true) {
        eprintln!("furnace-test-helper oci-monitor: {e}");
        return ExitCode::from(2);
    }
    let pid_file = Path::new(state).join(format!("{id}.pid"));
    let run = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(oci)
            .arg("--root")
            .arg(state)
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !run(&[
        "create".as_ref(),
        "--bundle".as_ref(),
        bundle.as_ref(),
        "--pid-file".as_ref(),
        pid_file.as_os_str(),
        id.as_ref(),
    ]) {
        return ExitCode::from(3);
    }
    let Some(pid) = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
    else {
        eprintln!(
            "furnace-test-helper oci-monitor: no pid in {}",
            pid_file.display()
        );
        return ExitCode::from(2);
    };
    if !run(&["start".as_ref(), id.as_ref()]) {
        return ExitCode::from(4);
    }
    loop {
        match wait(WaitOptions::empty()) {
            Ok(Some((reaped, status))) if reaped.as_raw_nonzero().get() == pid => {
                if let Some(code) = status.exit_status() {
                    println!("exit={code}");
                } else if let Some(sig) = status.terminating_signal() {
                    println!("signal={sig}");
                }
                return ExitCode::SUCCESS;
            }
            Ok(_) => continue,
            Err(e) => {
                eprintln!("furnace-test-helper oci-monitor: wait: {e}");
                return ExitCode::from(2);
            }
        }
    }
}
