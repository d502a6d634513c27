//! A caller process for the integration tests that need one to die, panic or exit.
//!
//! ```text
//! furnace-test-helper hold ROOT    start a container, run `sleep 1000` in it, report, sleep
//!                                  forever (the test kills this process with SIGKILL)
//! furnace-test-helper panic ROOT   the same, then panic inside the context (exit 101)
//! furnace-test-helper exit ROOT    the same, then std::process::exit(0): no destructor runs
//! furnace-test-helper grab ROOT    like hold, but the process inside first re-opens every fd
//!                                  PID 1 has (through /proc/1/fd), then becomes `sleep 1000`
//! furnace-test-helper run ROOT PROGRAM [ARGS...]
//!                                  run one command in a container, inheriting stdio, and exit
//!                                  with its code (for poking at an image by hand)
//! ```
//!
//! The report is one line on stdout:
//! `ready init=PID sleeper=PID pidns=pid:[N] mntns=mnt:[N]` (host pids, namespaces as
//! `readlink /proc/PID/ns/*` shows them).

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitCode, Stdio};

use furnace_core::Container;

/// Re-opens everything PID 1 holds (fd N as N + 10), then sleeps as `sleep 1000`.
const GRAB: &str = "for f in /proc/1/fd/*; do n=${f##*/}; \
                    eval \"exec $((n + 10))<$f\" 2>/dev/null; done; exec sleep 1000";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some(root)) = (args.first(), args.get(1)) else {
        eprintln!("usage: furnace-test-helper hold|panic|exit|run ROOT [PROGRAM ARGS...]");
        return ExitCode::from(2);
    };
    let container = match Container::start(root) {
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
        "hold" | "grab" => loop {
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
