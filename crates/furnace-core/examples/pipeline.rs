//! The original furnace's second example: `cat /etc/passwd` inside, piped into `gzip` inside,
//! written to a file opened outside the container.
//!
//! Works as root and as any other user (through a user namespace).
//!
//! ```text
//! cargo run -p furnace-core --example pipeline -- /path/to/rootfs passwd.gz
//! ```

use std::fs::File;
use std::process::{ExitCode, Stdio};

fn main() -> ExitCode {
    // As root this does nothing; as anyone else the process enters a user namespace of its
    // own, where it is root (first thing: the process must still be single-threaded).
    if let Err(err) = furnace_core::rootless::enter(furnace_core::rootless::IdMapping::Auto) {
        eprintln!("{err}");
        return ExitCode::FAILURE;
    }
    let mut args = std::env::args_os().skip(1);
    let (Some(root), Some(out)) = (args.next(), args.next()) else {
        eprintln!("usage: pipeline ROOTFS OUTPUT.gz");
        return ExitCode::from(2);
    };
    let run = || -> Result<bool, Box<dyn std::error::Error>> {
        let container = furnace_core::Container::start(root)?;
        let output = File::create(&out)?;
        let mut cat = container
            .command("cat")
            .arg("/etc/passwd")
            .stdout(Stdio::piped())
            .spawn()?;
        let cat_stdout = cat.stdout.take().ok_or("cat has no stdout")?;
        let gzip = container
            .command("gzip")
            .stdin(cat_stdout)
            .stdout(output)
            .status()?;
        let cat = cat.wait()?;
        Ok(cat.success() && gzip.success())
    };
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("pipeline: {err}");
            ExitCode::FAILURE
        }
    }
}
