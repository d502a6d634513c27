//! The shape of the command line: clap definitions, help texts with examples, and parsing.
//!
//! Values are kept as the user typed them (`OsString`s); turning them into bind mounts and
//! environment variables, with messages that name the bad argument, is [`crate::options`]'s job.

use std::ffi::OsString;
use std::ops::{Deref, DerefMut};
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
  furnace run --clearenv --env-file build.env /srv/rootfs make
  furnace run --hardened --cap-add NET_RAW /srv/rootfs ping -c1 10.0.0.1
  furnace completions bash > /etc/bash_completion.d/furnace

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
  furnace run --bind ./src /src /srv/rootfs ls /src   # --bind SRC DST: two words
  furnace run --ro-bind 'a\\:b:/ab' /srv/rootfs ls /ab   # \\: is a colon in a path
  furnace run --clearenv -e PATH=/usr/bin:/bin /srv/rootfs env  # PATH and PWD only
  furnace run --env-file build.env --unsetenv SSH_AUTH_SOCK /srv/rootfs make
  furnace run --chdir /tmp /srv/rootfs pwd            # the same as -w /tmp
  furnace run --cap-drop ALL --cap-add CHOWN /srv/rootfs chown 1:1 /tmp/x
  furnace run --hardened --cap-add NET_RAW /srv/rootfs ping -c1 127.0.0.1

Environment: furnace's own is inherited, with PWD set to the working directory inside; then
--clearenv empties it, --env-file and -e set variables (in that order) and --unsetenv removes.

Exit status: the command's own; 128+N when it died of signal N; 125 when furnace itself
failed; 126 when the command cannot be executed; 127 when it is not found in the container.
SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to furnace are forwarded to the command.";

/// Examples shown at the end of `furnace shell --help`.
const SHELL_EXAMPLES: &str = "\
Examples:
  furnace shell /srv/rootfs
  furnace shell --isolate-net --hostname sandbox /srv/rootfs
  furnace shell --ro-bind \"$PWD\":/work -e TERM=xterm /srv/rootfs
  furnace shell --norc /srv/rootfs                    # skip /etc/bash.bashrc, ~/.bashrc, $ENV
  furnace shell --user builder --chdir /home/builder /srv/rootfs

The shell is bash when the root has it, else /bin/sh, interactive and not a login shell: bash
reads /etc/bash.bashrc and ~/.bashrc, sh the file $ENV names (unless --norc); its prompt
reads [furnace HOST DIR] all the same (set again after them; -e PS1=... chooses another).
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
  furnace exec --env-file ci.env --cap-drop NET_RAW build make test

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
    Run(Deferred<RunArgs>),
    /// Start an interactive shell in a fresh container over ROOTFS, or in the running
    /// container NAME.
    #[command(after_help = SHELL_EXAMPLES)]
    Shell(Deferred<ShellArgs>),
    /// Start a named container over ROOTFS that runs until `furnace stop`, and print its name.
    #[command(after_help = START_EXAMPLES)]
    Start(Deferred<StartArgs>),
    /// Run COMMAND in the running container NAME.
    #[command(after_help = EXEC_EXAMPLES)]
    Exec(Deferred<ExecArgs>),
    /// List the running named containers.
    List(Deferred<ListArgs>),
    /// Stop named containers: kill everything inside, wait, remove their state.
    Stop(Deferred<StopArgs>),
    /// Print a completion script for a shell: bash, zsh, fish (or elvish, powershell).
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions(Deferred<CompletionsArgs>),
    /// Print the manual page (roff) of furnace or of one of its commands, or write them all.
    #[command(hide = true)]
    Man(Deferred<ManArgs>),
}

/// Examples shown at the end of `furnace completions --help`.
const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  furnace completions bash > /etc/bash_completion.d/furnace
  furnace completions zsh > \"${fpath[1]}/_furnace\"
  furnace completions fish > ~/.config/fish/completions/furnace.fish";

/// The options of `furnace completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// The options of `furnace man` (hidden: `cargo xtask dist` uses it).
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write furnace.1 and a furnace-COMMAND.1 for each command into DIR (printing their
    /// paths) instead of printing one page
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub dir: Option<PathBuf>,
    /// The command whose page to print (run, shell, ...) [default: furnace's own]
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
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
    /// Working directory inside the container (default: /); PWD is set to it
    #[arg(short = 'w', long = "cwd", visible_alias = "chdir", value_name = "DIR")]
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
    /// Read none of the shell's start-up files (bash --norc; sh without $ENV) [default: bash
    /// reads /etc/bash.bashrc and ~/.bashrc, sh the file $ENV names]
    #[arg(long)]
    pub norc: bool,
    /// Working directory inside the container (default: /); PWD is set to it
    #[arg(short = 'w', long = "cwd", visible_alias = "chdir", value_name = "DIR")]
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
    /// Working directory inside the container (default: /); PWD is set to it
    #[arg(short = 'w', long = "cwd", visible_alias = "chdir", value_name = "DIR")]
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
    /// With --hardened, as root, whose ids the container's root has. `pick` (the default): a
    /// user namespace of the container's own, its root a free range of 65,536 host ids, with
    /// the root and binds idmapped — root inside is nobody outside; a ROOTFS or bind on a
    /// filesystem that cannot be idmapped (overlayfs) fails the start. `read-only`: the same,
    /// but such a ROOTFS or bind is mounted read-only, its files owned by nobody inside. `off`:
    /// root inside is root on the host
    #[arg(long, value_name = "MODE", requires = "hardened")]
    pub private_users: Option<String>,
    /// Bind-mount host SRC at DST inside the container (repeatable). SRC may be relative to the
    /// current directory; DST is a path inside the container and is created when missing.
    /// `\:` is a colon and `\\` a backslash in either path; `--bind SRC DST` (two words) when
    /// SRC has no unescaped colon
    #[arg(long = "bind", value_name = "SRC:DST")]
    pub binds: Vec<OsString>,
    /// The same, read-only (repeatable; also `--ro-bind SRC DST`)
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
    /// Throw-away writes: the root is an overlay of ROOTFS with an upper layer in the
    /// container's own memory, gone with it; ROOTFS is left exactly as it was
    /// (e.g. `furnace run --ephemeral ROOT sh -c 'rm -rf /usr'`)
    #[arg(long, conflicts_with = "overlay_upper")]
    pub ephemeral: bool,
    /// Like --ephemeral, but the changes are kept in DIR, an upper layer on the same
    /// filesystem as its parent (e.g. `--overlay-upper ./changes`)
    #[arg(long, value_name = "DIR")]
    pub overlay_upper: Option<PathBuf>,
    /// Mount the root read-only (binds, tmpfs mounts, /dev, /proc, /sys and /run keep their
    /// own modes)
    #[arg(long)]
    pub read_only: bool,
    /// A fresh tmpfs at DST inside (repeatable), with options size=SIZE and mode=OCTAL
    /// (e.g. `--tmpfs /scratch:size=64m,mode=1777`)
    #[arg(long, value_name = "DST[:OPTIONS]")]
    pub tmpfs: Vec<String>,
    /// The container's /etc/resolv.conf: auto (the host's, also for roots whose file links
    /// into /run, or a warning saying why not), bind, copy (a writable copy) or off
    #[arg(long, value_name = "MODE", default_value = "auto")]
    pub resolv_conf: String,
    /// The seccomp filter of every command: default (furnace's, with the semantics of
    /// Docker's default profile), unconfined, or a JSON profile FILE in the OCI or Docker
    /// format (e.g. `--seccomp ./profile.json`) [default: default with --hardened, else
    /// unconfined]
    #[arg(long, value_name = "PROFILE")]
    pub seccomp: Option<String>,
    /// `--bind` and `--ro-bind` values in command-line order (filled by [`parse`]).
    #[arg(skip)]
    pub mounts: Vec<BindArg>,
}

/// The options that describe how a command runs, shared by `run`, `shell` and `exec`.
#[derive(Debug, Args, Default)]
pub struct CommandArgs {
    /// Set an environment variable for the command (repeatable); the rest of furnace's
    /// environment is inherited (PWD aside: it is the working directory inside)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<OsString>,
    /// Start from an empty environment instead of furnace's: only PWD, what -e, --env-file
    /// and --user set, and the shell's PS1 and FURNACE_CONTAINER (no PATH: commands are
    /// found in /bin and /usr/bin)
    #[arg(long)]
    pub clearenv: bool,
    /// Read variables from FILE (repeatable, before -e): KEY=VALUE lines taken as they are
    /// (no quotes, no $ expansion), blank lines and lines starting with # skipped
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Remove KEY from the command's environment (repeatable; after -e and --env-file)
    #[arg(long = "unsetenv", value_name = "KEY")]
    pub unsetenv: Vec<OsString>,
    /// Add a capability (repeatable; applied with --cap-drop in command-line order): a name
    /// of capabilities(7), any case, with or without CAP_, or ALL. Adds to the hardened
    /// profile's few; the privileged profile has them all
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Remove a capability (repeatable; ALL for every one): from all of them in the
    /// privileged profile, from the hardened profile's few with --hardened
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// `--cap-add` and `--cap-drop` values in command-line order (filled by [`parse`]).
    #[arg(skip)]
    pub caps: Vec<CapArg>,
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
    /// The `SRC:DST` text, or for the two-word form `SRC DST` the two joined by a NUL byte
    /// (which no argument can hold): see [`crate::binds`].
    pub value: OsString,
}

/// One `--cap-add` or `--cap-drop` value, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapArg {
    /// `true` for `--cap-add`.
    pub add: bool,
    /// The capability's name, or `ALL`.
    pub value: String,
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
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut command = Cli::command();
    // The two-word `--bind SRC DST` is rewritten before clap sees it, which needs every
    // sub-command's options built; without such a word only the sub-command named is.
    let args = if crate::binds::may_have_two_word_binds(&args) {
        command.build();
        crate::binds::join_two_word_binds(&command, args)
    } else {
        args
    };
    let matches = command.try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    if let Some((_, sub)) = matches.subcommand() {
        let (container, cmd) = match &mut cli.command {
            CliCommand::Run(Deferred(run)) => (Some(&mut run.container), Some(&mut run.cmd)),
            CliCommand::Shell(Deferred(shell)) => {
                (Some(&mut shell.container), Some(&mut shell.cmd))
            }
            CliCommand::Start(start) => (Some(&mut start.container), None),
            CliCommand::Exec(exec) => (None, Some(&mut exec.cmd)),
            _ => (None, None),
        };
        if let Some(container) = container {
            container.mounts = ordered_binds(sub);
        }
        if let Some(cmd) = cmd {
            cmd.caps = ordered_caps(sub);
        }
    }
    Ok(cli)
}

/// `--cap-add` and `--cap-drop` values interleaved as they appeared: `--cap-drop ALL
/// --cap-add CHOWN` keeps CHOWN, `--cap-add CHOWN --cap-drop ALL` nothing.
fn ordered_caps(matches: &ArgMatches) -> Vec<CapArg> {
    let mut indexed: Vec<(usize, CapArg)> = Vec::new();
    for (id, add) in [("cap_add", true), ("cap_drop", false)] {
        let values = matches.get_many::<String>(id).into_iter().flatten();
        let indices = matches.indices_of(id).into_iter().flatten();
        indexed.extend(indices.zip(values).map(|(index, value)| {
            (
                index,
                CapArg {
                    add,
                    value: value.clone(),
                },
            )
        }));
    }
    indexed.sort_by_key(|(index, _)| *index);
    indexed.into_iter().map(|(_, cap)| cap).collect()
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
            CliCommand::Run(Deferred(run)) => run,
            _ => panic!("not run"),
        }
    }

    /// The deferred sub-commands parse and explain themselves as the fully built tree does.
    #[test]
    fn deferred_sub_commands_parse_and_help_as_the_built_tree() {
        let lines: [&[&str]; 6] = [
            &[
                "furnace",
                "run",
                "--hostname",
                "h",
                "-e",
                "A=1",
                "/r",
                "ls",
                "-l",
            ],
            &["furnace", "shell", "--norc", "/r"],
            &["furnace", "start", "--name", "n", "/r"],
            &["furnace", "exec", "-t", "n", "sh"],
            &["furnace", "--state-dir", "/s", "list", "--json"],
            &["furnace", "stop", "n"],
        ];
        for line in lines {
            let deferred = format!("{:?}", parse(line.iter()).expect("parses"));
            let mut built = Cli::command();
            built.build();
            let matches = built.try_get_matches_from(line.iter()).expect("parses");
            let full = format!("{:?}", Cli::from_arg_matches(&matches).expect("matches"));
            assert_eq!(deferred, full, "{line:?}");
        }
        let help = |result: Result<_, clap::Error>| match result {
            Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => e.to_string(),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("no help"),
        };
        for sub in [
            "run",
            "shell",
            "start",
            "exec",
            "list",
            "stop",
            "completions",
        ] {
            for flag in ["--help", "-h"] {
                let line = ["furnace", sub, flag];
                let mut built = Cli::command();
                built.build();
                let expected = help(built.try_get_matches_from(line).map(|_| ()));
                assert_eq!(help(parse(line).map(|_| ())), expected, "{sub} {flag}");
            }
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
    fn caps_keep_their_command_line_order() {
        let run = run_args(&[
            "--cap-drop",
            "ALL",
            "--cap-add",
            "chown",
            "--cap-drop",
            "CAP_KILL",
            "/r",
            "true",
        ]);
        let order: Vec<(bool, &str)> = run
            .cmd
            .caps
            .iter()
            .map(|c| (c.add, c.value.as_str()))
            .collect();
        assert_eq!(
            order,
            [(false, "ALL"), (true, "chown"), (false, "CAP_KILL")]
        );
    }

    #[test]
    fn chdir_is_cwd() {
        assert_eq!(
            run_args(&["--chdir", "/tmp", "/r", "true"]).cwd,
            Some(PathBuf::from("/tmp"))
        );
    }

    #[test]
    fn two_word_binds_become_one_value() {
        let run = run_args(&["--bind", "/a", "/x", "--ro-bind", "/b:/y", "/r", "true"]);
        let values: Vec<(bool, &[u8])> = run
            .container
            .mounts
            .iter()
            .map(|b| (b.read_only, b.value.as_encoded_bytes()))
            .collect();
        assert_eq!(values, [(false, &b"/a\0/x"[..]), (true, b"/b:/y")]);
        assert_eq!(run.rootfs, PathBuf::from("/r"));
        assert_eq!(run.command, ["true"]);
        // In the command, `--bind` is the command's.
        let run = run_args(&["/r", "sh", "--bind", "/a", "/x"]);
        assert_eq!(run.command, ["sh", "--bind", "/a", "/x"]);
        assert!(run.container.mounts.is_empty());
    }

    #[test]
    fn a_command_is_required() {
        assert!(parse(["furnace", "run", "/r"]).is_err());
        assert!(parse(["furnace", "shell"]).is_err());
    }
}

/// A sub-command's arguments, added to its `clap::Command` only when clap builds that
/// sub-command: the one being parsed, or all of them for help, completions and man pages.
/// clap otherwise builds every argument of every sub-command, help text included, at each
/// start — 0.13 ms of the CLI's 2.3 ms lifecycle on the development machine, and 40 page faults
/// (docs/BENCHMARKS.md).
#[derive(Debug)]
pub struct Deferred<T>(pub T);

impl<T> Deref for Deferred<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Deferred<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: FromArgMatches> FromArgMatches for Deferred<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Deferred)
    }
    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Deferred)
    }
    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }
    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

impl<T: Args> Args for Deferred<T> {
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| keep_about(cmd, T::augment_args))
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| keep_about(cmd, T::augment_args_for_update))
    }
}

/// `augment(cmd)`, keeping `cmd`'s `about` and `long_about`: the sub-command's own (from the
/// variant's doc comment), which the arguments struct's doc comment would otherwise replace
/// now that its arguments are added last.
fn keep_about(cmd: clap::Command, augment: fn(clap::Command) -> clap::Command) -> clap::Command {
    let about = cmd.get_about().cloned();
    let long_about = cmd.get_long_about().cloned();
    let cmd = augment(cmd);
    let cmd = match about {
        Some(about) => cmd.about(about),
        None => cmd.about(None::<&str>),
    };
    match long_about {
        Some(long_about) => cmd.long_about(long_about),
        None => cmd.long_about(None::<&str>),
    }
}
