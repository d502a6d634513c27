//! Starts a container over the directory given as the only argument, runs `ps aux` inside and
//! prints its output: PID 1 and `ps`, nothing else.
//!
//! ```text
//! cargo run -p furnace-core --example ps -- /path/to/rootfs
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
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
