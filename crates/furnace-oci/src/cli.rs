//! The command line, as runc has it and engines use it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The version lines containerd and podman parse: `NAME version X`, `commit: …`, `spec: …`.
pub const VERSION: &str = concat!(
    "furnace-oci version ",
    env!("CARGO_PKG_VERSION"),
    "\ncommit: none\nspec: ",
    "1.2.0"
);

/// An OCI runtime on furnace: runc's command line.
#[derive(Debug, Parser)]
#[command(name = "furnace-oci", disable_version_flag = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The flags before the command.
#[derive(Debug, Args)]
pub struct Global {
    /// Where containers' state is kept [default: /run/furnace-oci]
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Also write errors to FILE (engines read it when a call fails)
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// The log's format: text or json (runc's JSON lines)
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    pub log_format: String,
    /// More detail in the log
    #[arg(long, global = true)]
    pub debug: bool,
    /// Manage cgroups through systemd (refused: furnace makes its own cgroups)
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Run without root (accepted; furnace detects it)
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Print the version (three lines: `furnace-oci version X`, `commit:`, `spec:`)
    #[arg(short = 'v', long = "version")]
    pub version: bool,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set a container up from a bundle and leave it waiting for `start`
    Create {
        /// The bundle directory (holding config.json)
        #[arg(long, short = 'b', value_name = "DIR", default_value = ".")]
        bundle: PathBuf,
        /// Write PID 1's host pid to FILE
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// A unix socket to send the terminal's master to (process.terminal)
        #[arg(long, value_name = "PATH")]
        console_socket: Option<PathBuf>,
        /// Do not give the container a session keyring of its own (accepted)
        #[arg(long)]
        no_new_keyring: bool,
        /// Pass N more fds, from 3 on, to the process
        #[arg(long, value_name = "N", default_value_t = 0)]
        preserve_fds: u32,
        /// Do not pivot_root (refused: furnace always pivots)
        #[arg(long)]
        no_pivot: bool,
        /// The container's id
        id: String,
    },
    /// Run the process of a created container
    Start {
        /// The container's id
        id: String,
    },
    /// Run another process in a running container
    Exec {
        /// The process as the OCI spec's JSON (args, env, cwd, user, capabilities, rlimits)
        #[arg(long, short = 'p', value_name = "FILE")]
        process: Option<PathBuf>,
        /// Write the process's host pid to FILE
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// Return once the process runs, without waiting for it
        #[arg(long, short = 'd')]
        detach: bool,
        /// Give the process a terminal (not supported yet)
        #[arg(long, short = 't')]
        tty: bool,
        /// Where to send the terminal's master (with --tty)
        #[arg(long, value_name = "PATH")]
        console_socket: Option<PathBuf>,
        /// The working directory (without --process)
        #[arg(long, value_name = "DIR")]
        cwd: Option<String>,
        /// KEY=VALUE added to the environment (without --process; repeatable)
        #[arg(long, short = 'e', value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// The container's id
        id: String,
        /// The command and its arguments (without --process)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Print a container's state as the OCI spec's JSON
    State {
        /// The container's id
        id: String,
    },
    /// Send a signal to a container's process (default SIGTERM)
    Kill {
        /// Send it to every process of the container
        #[arg(long, short = 'a')]
        all: bool,
        /// The container's id
        id: String,
        /// A signal name (TERM, SIGTERM) or number
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Remove a stopped container and everything it holds
    Delete {
        /// Kill it first if it still runs
        #[arg(long, short = 'f')]
        force: bool,
        /// The container's id
        id: String,
    },
    /// List a container's processes: `ps` lines (`-ef`, or the options given), or host pids
    /// as a JSON array
    Ps {
        /// table (the host `ps`'s lines for the container's processes) or json (their pids)
        #[arg(long, short = 'f', value_name = "FORMAT", default_value = "table")]
        format: String,
        /// The container's id
        id: String,
        /// Options for `ps` (table format; default -ef)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_options: Vec<String>,
    },
    /// Print what this runtime supports, as the OCI spec's features JSON
    Features,
}

/// The parsed command line (clap prints usage errors and exits 2 itself).
pub fn parse() -> Cli {
    Cli::parse()
}
