//! The shape of the command line: clap definitions, help texts with examples, and parsing.
//!
//! Values are kept as the user typed them (`OsString`s); turning them into bind mounts and
//! environment variables, with messages that name the bad argument, is [`crate::options`]'s job.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// Examples shown at the end of `furnace --help`.
const EXAMPLES: &str = "\
Examples:
  furnace run /srv/rootfs ps aux
  furnace run --isolate-net /srv/rootfs ip -o link
  furnace run --ro-bind ./src:/src -w /src /srv/rootfs ls -l
  furnace run /srv/rootfs cat /etc/passwd | gzip > passwd.gz
  furnace shell --hostname builder /srv/rootfs
  furnace run --user nobody /srv/rootfs id

Without root, furnace runs in a user namespace of its own: root inside is you outside.

Exit status: the command's own; 128+N when it died of signal N; 125 when furnace itself
failed; 126 when the command cannot be executed; 127 when it is not found in the container.";

/// Examples shown at the end of `furnace run --help`.
const RUN_EXAMPLES: &str = "\
Examples:
  furnace run /srv/rootfs ps aux                      # PID 1 and ps, nothing else
  furnace run /srv/rootfs -- sh -c 'echo $$'          # `--` ends furnace's options
  furnace run --isolate-net /srv/rootfs ip -o link    # only lo
  furnace run --ro-bind ./data:/data /srv/rootfs ls /data
  furnace run --bind /tmp/out:/out -e LANG=C.UTF-8 -w /out /srv/rootfs touch made-inside
  echo hi | furnace run /srv/rootfs cat               # stdin, stdout and stderr pass through
  furnace run /srv/rootfs cat /etc/passwd | gzip > passwd.gz

Exit status: the command's own; 128+N when it died of signal N; 125 when furnace itself
failed; 126 when the command cannot be executed; 127 when it is not found in the container.
SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to furnace are forwarded to the command.";

/// Examples shown at the end of `furnace shell --help`.
const SHELL_EXAMPLES: &str = "\
Examples:
  furnace shell /srv/rootfs
  furnace shell --isolate-net --hostname sandbox /srv/rootfs
  furnace shell --ro-bind \"$PWD\":/work -e TERM=xterm /srv/rootfs

The shell is bash when the root has it, else /bin/sh; its prompt reads [furnace HOST DIR].
On a terminal it runs on a terminal of the container's own, proxied to yours: job control,
Ctrl-C and Ctrl-Z act on the container's jobs, and the window size follows yours.";

/// Examples shown at the end of `furnace start --help`.
const START_EXAMPLES: &str = "\
Examples:
  furnace start --name build /srv/rootfs              # prints: build
  furnace exec build make -C /src
  furnace shell build
  furnace list
  furnace stop build
  furnace start --timeout 2h --memory 1G --ro-bind ./src:/src /srv/rootfs

A started container has no owner: it runs until `furnace stop` (or its --timeout), and its
state lives under /run/furnace (without root: $XDG_RUNTIME_DIR/furnace).";

/// Examples shown at the end of `furnace exec --help`.
const EXEC_EXAMPLES: &str = "\
Examples:
  furnace exec build ps aux
  furnace exec -w /src -e CC=clang build make
  furnace exec -t build top
  furnace exec build sh -c 'echo $$' < input > output

Exit status: as for `furnace run`; 137 when the container is stopped while the command runs.";

/// `furnace`: run commands in throw-away containers over a root directory.
#[derive(Debug, Parser)]
#[command(
    name = "furnace",
    version,
    about = "Run a command in a throw-away container over a root directory",
    long_about = "Run a command in a throw-away container over a root directory: a sturdier \
                  chroot with a real PID 1 in fresh pid, mount, uts, ipc and cgroup namespaces \
                  (and network, on request). Each invocation starts its own container and tears \
                  it down when the command ends: no process, mount or namespace is left behind.",
    after_help = EXAMPLES
)]
pub struct Cli {
    /// Where named containers are kept [default: /run/furnace for root, else
    /// $XDG_RUNTIME_DIR/furnace]
    #[arg(long, global = true, value_name = "DIR", env = "FURNACE_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: CliCommand,
}

/// The sub-commands.
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Run COMMAND in a fresh container over ROOTFS, then tear the container down.
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Start an interactive shell in a fresh container over ROOTFS, or in the running
    /// container NAME.
    #[command(after_help = SHELL_EXAMPLES)]
    Shell(ShellArgs),
    /// Start a named container over ROOTFS that runs until `furnace stop`, and print its name.
    #[command(after_help = START_EXAMPLES)]
    Start(StartArgs),
    /// Run COMMAND in the running container NAME.
    #[command(after_help = EXEC_EXAMPLES)]
    Exec(ExecArgs),
    /// List the running named containers.
    List(ListArgs),
    /// Stop named containers: kill everything inside, wait, remove their state.
    Stop(StopArgs),
}

/// The options of `furnace run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// How to set up the container.
    #[command(flatten)]
    pub container: ContainerArgs,
    /// How to run the command.
    #[command(flatten)]
    pub cmd: CommandArgs,
    /// Run the command on a terminal of the container's own, proxied to yours (when stdin is
    /// a terminal; otherwise stdio passes straight through as without it)
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Working directory inside the container (default: /).
    #[arg(short = 'w', long = "cwd", value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// The root directory of the container.
    #[arg(value_name = "ROOTFS")]
    pub rootfs: PathBuf,
    /// The command to run inside, found through PATH inside the container, and its arguments.
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 1..
    )]
    pub command: Vec<OsString>,
}

/// The options of `furnace shell`.
#[derive(Debug, Args)]
pub struct ShellArgs {
    /// How to set up the container.
    #[command(flatten)]
    pub container: ContainerArgs,
    /// How to run the shell.
    #[command(flatten)]
    pub cmd: CommandArgs,
    /// Working directory inside the container (default: /).
    #[arg(short = 'w', long = "cwd", value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// The root directory of a new container, or the name of a running one (a running
    /// container's name wins over a directory of that name: write ./NAME for the directory).
    #[arg(value_name = "ROOTFS|NAME")]
    pub rootfs: PathBuf,
}

/// The options of `furnace start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// How to set up the container.
    #[command(flatten)]
    pub container: ContainerArgs,
    /// The container's name: letters, digits, '_', '.' and '-', at most 64, starting with a
    /// letter or digit [default: c- and 8 random hex digits]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Stop the container after this long: 90, 90s, 15m, 2h, 1h30m or 1d
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// The root directory of the container.
    #[arg(value_name = "ROOTFS")]
    pub rootfs: PathBuf,
}

/// The options of `furnace exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// How to run the command.
    #[command(flatten)]
    pub cmd: CommandArgs,
    /// Run the command on a terminal of the container's own, proxied to yours (when stdin is
    /// a terminal; otherwise stdio passes straight through as without it)
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Working directory inside the container (default: /).
    #[arg(short = 'w', long = "cwd", value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// The running container's name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The command to run inside, found through PATH inside the container, and its arguments.
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 1..
    )]
    pub command: Vec<OsString>,
}

/// The options of `furnace list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print a JSON array (name, pid, root, created and expires in seconds since the epoch,
    /// age_seconds, processes, hardened, rootless) instead of a table
    #[arg(long)]
    pub json: bool,
}

/// The options of `furnace stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// The containers to stop. A name that does not run is no error: stopping is idempotent.
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
}

/// The options that describe the container, shared by `run`, `shell` and `start`.
#[derive(Debug, Args)]
pub struct ContainerArgs {
    /// Give the container its own network namespace with only lo (up) [default: the host's
    /// network]
    #[arg(long)]
    pub isolate_net: bool,
    /// The hardened profile, for code you do not trust: reduced capabilities, no_new_privs,
    /// masked and read-only /proc and /sys paths, no host loop devices, no controlling
    /// terminal [default: the privileged profile, root inside is root on the host]
    #[arg(long)]
    pub hardened: bool,
    /// Bind-mount host SRC at DST inside the container (repeatable). SRC may be relative to the
    /// current directory; DST is a path inside the container and is created when missing
    #[arg(long = "bind", value_name = "SRC:DST")]
    pub binds: Vec<OsString>,
    /// The same, read-only (repeatable)
    #[arg(long = "ro-bind", value_name = "SRC:DST")]
    pub ro_binds: Vec<OsString>,
    /// Hostname inside the container
    #[arg(long, value_name = "NAME", default_value = "localhost")]
    pub hostname: String,
    /// Without root: map only your own id (as root inside), even when /etc/subuid and
    /// /etc/subgid grant you ranges [default: map your subordinate ids too when newuidmap and
    /// newgidmap are installed]
    #[arg(long)]
    pub no_subids: bool,
    /// Limit the container's memory, swap included: a size such as 512M or 2G (K, M, G, T are
    /// powers of 1024; a bare number is bytes; at least 4M). A command that needs more is
    /// killed by the kernel's OOM killer, which furnace reports
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Limit the number of processes and threads in the container (at least 1)
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// Limit the container to this many CPUs' worth of time, e.g. 1.5 (at least 0.01)
    #[arg(long, value_name = "CPUS", allow_hyphen_values = true)]
    pub cpus: Option<String>,
    /// The container's relative share of CPU time under contention, 1-10000 [default: 100]
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub cpu_weight: Option<String>,
    /// Make the container's cgroups under this cgroup instead of yours: an absolute path from
    /// each hierarchy's root (`/furnace`), or one under your own cgroup. On a cgroup v2 host,
    /// point it at a cgroup without processes that enables memory, pids and cpu for its
    /// children
    #[arg(long, value_name = "PATH")]
    pub cgroup_parent: Option<PathBuf>,
    /// `--bind` and `--ro-bind` values in command-line order (filled by [`parse`]).
    #[arg(skip)]
    pub mounts: Vec<BindArg>,
}

/// The options that describe how a command runs, shared by `run`, `shell` and `exec`.
#[derive(Debug, Args, Default)]
pub struct CommandArgs {
    /// Set an environment variable for the command (repeatable); the rest of furnace's
    /// environment is inherited
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<OsString>,
    /// Run the command as this uid inside (with --gid, or gid 0; no supplementary groups)
    #[arg(long, value_name = "N", conflicts_with = "user")]
    pub uid: Option<u32>,
    /// Run the command with this gid inside
    #[arg(long, value_name = "N", conflicts_with = "user")]
    pub gid: Option<u32>,
    /// Run the command as NAME of the root's /etc/passwd: its uid, gid, supplementary groups
    /// (from /etc/group), and HOME, USER and LOGNAME
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

/// One `--bind` or `--ro-bind` value, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindArg {
    /// `true` for `--ro-bind`.
    pub read_only: bool,
    /// The `SRC:DST` text.
    pub value: OsString,
}

impl ContainerArgs {
    /// The user namespace mapping to enter when not root.
    pub fn id_mapping(&self) -> furnace_core::rootless::IdMapping {
        if self.no_subids {
            furnace_core::rootless::IdMapping::Single
        } else {
            furnace_core::rootless::IdMapping::Auto
        }
    }
}

impl BindArg {
    /// The option's name as the user typed it, for messages.
    pub fn option_name(&self) -> &'static str {
        if self.read_only {
            "--ro-bind"
        } else {
            "--bind"
        }
    }
}

/// Parses `args` (the program name first). `--help` and `--version` come back as errors too,
/// as clap does; see [`clap::Error::use_stderr`].
pub fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = Cli::command().try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    if let Some((_, sub)) = matches.subcommand() {
        let container = match &mut cli.command {
            CliCommand::Run(run) => Some(&mut run.container),
            CliCommand::Shell(shell) => Some(&mut shell.container),
            CliCommand::Start(start) => Some(&mut start.container),
            CliCommand::Exec(_) | CliCommand::List(_) | CliCommand::Stop(_) => None,
        };
        if let Some(container) = container {
            container.mounts = ordered_binds(sub);
        }
    }
    Ok(cli)
}

/// `--bind` and `--ro-bind` values interleaved as they appeared: a bind nested in another
/// must be made after it, whichever option each one used.
fn ordered_binds(matches: &ArgMatches) -> Vec<BindArg> {
    let mut indexed: Vec<(usize, BindArg)> = Vec::new();
    for (id, read_only) in [("binds", false), ("ro_binds", true)] {
        let values = matches.get_many::<OsString>(id).into_iter().flatten();
        let indices = matches.indices_of(id).into_iter().flatten();
        indexed.extend(indices.zip(values).map(|(index, value)| {
            (
                index,
                BindArg {
                    read_only,
                    value: value.clone(),
                },
            )
        }));
    }
    indexed.sort_by_key(|(index, _)| *index);
    indexed.into_iter().map(|(_, bind)| bind).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str]) -> RunArgs {
        let mut all = vec!["furnace", "run"];
        all.extend_from_slice(args);
        match parse(all).expect("parses").command {
            CliCommand::Run(run) => run,
            _ => panic!("not run"),
        }
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn command_arguments_are_not_taken_as_options() {
        let run = run_args(&["/r", "ls", "-l", "-e", "x"]);
        assert_eq!(run.rootfs, PathBuf::from("/r"));
        assert_eq!(run.command, ["ls", "-l", "-e", "x"]);
        assert!(run.cmd.env.is_empty());
        let run = run_args(&["-e", "A=1", "/r", "--", "sh", "-c", "echo"]);
        assert_eq!(run.cmd.env, ["A=1"]);
        assert_eq!(run.command, ["sh", "-c", "echo"]);
    }

    #[test]
    fn binds_keep_their_command_line_order() {
        let run = run_args(&[
            "--ro-bind",
            "/a:/x",
            "--bind",
            "/b:/x/y",
            "--ro-bind",
            "/c:/z",
            "/r",
            "true",
        ]);
        let order: Vec<(bool, &str)> = run
            .container
            .mounts
            .iter()
            .map(|b| (b.read_only, b.value.to_str().unwrap()))
            .collect();
        assert_eq!(
            order,
            [(true, "/a:/x"), (false, "/b:/x/y"), (true, "/c:/z")]
        );
    }

    #[test]
    fn defaults() {
        let run = run_args(&["/r", "true"]);
        assert_eq!(run.container.hostname, "localhost");
        assert!(!run.container.isolate_net);
        assert!(run.cwd.is_none());
    }

    #[test]
    fn a_command_is_required() {
        assert!(parse(["furnace", "run", "/r"]).is_err());
        assert!(parse(["furnace", "shell"]).is_err());
    }
}
