//! Starts a container over the directory given as the only argument, runs `ps aux` inside and
//! prints its output: PID 1 and `ps`, nothing else.
//!
//! Works as root and as any other user (through a user namespace).
//!
//! ```text
//! cargo run -p furnace-core --example ps -- /path/to/rootfs
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    // As root this does nothing; as anyone else the process enters a user namespace of its
    // own, where it is root (first thing: the process must still be single-threaded).
    if let Err(err) = furnace_core::rootless::enter(furnace_core::rootless::IdMapping::Auto) {
        eprintln!("{err}");
        return ExitCode::FAILURE;
    }
    let Some(root) = std::env::args_os().nth(1) else {
        eprintln!("usage: ps ROOTFS");
        return ExitCode::from(2);
    };
    let run = || -> Result<std::process::Output, Box<dyn std::error::Error>> {
        let container = furnace_core::Container::start(root)?;
        let output = container.command("ps").arg("aux").output()?;
        container.stop()?;
        Ok(output)
    };
    match run() {
        Ok(output) => {
            print!("{}", String::from_utf8_lossy(&output.stdout));
            eprint!("{}", String::from_utf8_lossy(&output.stderr));
            if output.status.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("ps: {err}");
            ExitCode::FAILURE
        }
    }
}
