//! The rootless rows: furnace and bubblewrap run as a throw-away unprivileged user, both through
//! a user namespace with a single-id map, and the cost of furnace's entering one.
//!
//! The bench runs as root. For these rows it creates a system user `fnb-<pid>` without a home
//! and without subordinate ids (`useradd -r -M -U`), so that furnace maps one id as bubblewrap
//! does — and, when `newuidmap` is installed, `fnb-<pid>-s` with subordinate ids
//! (`useradd -F`) for one more CLI row — and removes them when done: on success, on error and
//! on panic ([`User`]'s `Drop`); users left by a killed run are removed by the next one
//! ([`remove_stale_users`], which `cargo xtask bench` also runs after every bench). The CLIs,
//! bubblewrap and this very binary are run with `Command::uid/gid` (root dropping to a user
//! clears the supplementary groups) and a clean environment, from copies in a 0755 directory,
//! since the build may live under a 0700 one.
//!
//! This binary has three modes for the user's side, recognised before anything else in `main`:
//! `--probe-exit` exits at once, `--probe-enter` calls [`furnace_core::rootless::enter`]
//! first and then exits (the difference of the two is the cost of entering: a user namespace
//! and its maps; there is no re-execution), and `--rootless-library ROOT N` enters likewise
//! and then times N library lifecycles in-process, printing nanoseconds, one per line.
//!
//! The hardened rows ([`crate::hardened`]) borrow [`User`] for their unprivileged bubblewrap row.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use furnace_core::rootless::{self, IdMapping};
use furnace_core::Container;

use crate::peers::{bwrap_args, nanos};
use crate::stats::Samples;
use crate::{Options, Plan};

/// How a user made by the bench is named: `fnb-<pid of the furnace-bench that made it>`.
const USER_PREFIX: &str = "fnb-";

/// What the name of the user with subordinate ids ends with.
const SUBIDS_SUFFIX: &str = "-s";

/// The environment of every command run as the user.
const USER_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// What the rootless part of the run found.
#[derive(Debug)]
pub(crate) enum Rootless {
    /// The rows, measured.
    Measured {
        /// Start, `/bin/true`, teardown: furnace's CLIs and library, and bubblewrap.
        lifecycle: Vec<(String, Samples)>,
        /// This binary exiting at once, and entering a user namespace first.
        enter: Vec<(String, Samples)>,
    },
    /// The kernel refuses unprivileged user namespaces to the user: why.
    Refused(String),
}

impl Rootless {
    /// The cost of entering: the median of `--probe-enter` less that of `--probe-exit`, in
    /// µs.
    pub fn enter_cost(&self) -> Option<f64> {
        match self {
            Rootless::Measured { enter, .. } => {
                let median = |name| {
                    enter
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, s)| s.median())
                };
                Some(median(ENTER)? - median(EXIT)?)
            }
            Rootless::Refused(_) => None,
        }
    }
}

/// The row names the report looks up.
pub(crate) const CLI: &str = "furnace (CLI), rootless";
pub(crate) const CLI_DYNAMIC: &str = "furnace (CLI, dynamic glibc), rootless";
pub(crate) const CLI_SUBIDS: &str = "furnace (CLI), rootless, subordinate ids";
pub(crate) const LIBRARY: &str = "furnace (library), rootless";
pub(crate) const BWRAP: &str = "bubblewrap, rootless";
pub(crate) const EXIT: &str = "furnace-bench, exit at once";
pub(crate) const ENTER: &str = "furnace-bench, rootless::enter(Single), then exit";

/// The user's-side modes of this binary, and `--remove-stale-users` (which `cargo xtask bench`
/// runs after the bench). `None` when the arguments ask for none of them; called first thing in
/// `main`, while the process is single-threaded (entering a user namespace requires it).
pub(crate) fn other_modes() -> Option<ExitCode> {
    let mode = std::env::args_os().nth(1)?;
    let result = match mode.to_str()? {
        "--remove-stale-users" => {
            remove_stale_users();
            Ok(())
        }
        "--probe-exit" => Ok(()),
        "--probe-enter" => enter(),
        "--rootless-library" => enter().and_then(|()| library_lifecycles()),
        _ => return None,
    };
    Some(match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("furnace-bench {}: {msg}", mode.to_string_lossy());
            ExitCode::FAILURE
        }
    })
}

fn enter() -> Result<(), String> {
    rootless::enter(IdMapping::Single).map_err(|e| format!("enter a user namespace: {e}"))
}

/// `--rootless-library ROOT N`, in the user namespace: N lifecycles, each timed in-process.
fn library_lifecycles() -> Result<(), String> {
    let mut args = std::env::args_os().skip(2);
    let (Some(root), Some(runs)) = (args.next(), args.next()) else {
        return Err("usage: furnace-bench --rootless-library ROOT RUNS".into());
    };
    let runs: usize = runs
        .to_str()
        .and_then(|r| r.parse().ok())
        .ok_or("RUNS must be a number")?;
    let mut out = String::new();
    for _ in 0..runs {
        let start = Instant::now();
        let container = Container::builder(&root)
            .start()
            .map_err(|e| format!("start: {e}"))?;
        let status = container
            .command("/bin/true")
            .status()
            .map_err(|e| format!("/bin/true: {e}"))?;
        container.stop().map_err(|e| format!("stop: {e}"))?;
        let elapsed = start.elapsed();
        if !status.success() {
            return Err(format!("/bin/true failed ({status})"));
        }
        out.push_str(&format!("{}\n", elapsed.as_nanos()));
    }
    print!("{out}");
    Ok(())
}

/// Measures the rootless rows as a throw-away user, interleaved round by round.
pub(crate) fn measure(opts: &Options, plan: Plan) -> Result<Rootless, String> {
    remove_stale_users();
    check_reachable(&opts.root, "the root")?;
    let bwrap = find_program("bwrap").ok_or("bwrap is not installed")?;
    check_reachable(&bwrap, "bwrap")?;
    let staging = Staging::new()?;
    let cli = staging.add(&opts.cli, "furnace")?;
    let cli_dynamic = match &opts.cli_dynamic {
        Some(path) => Some(staging.add(path, "furnace-dynamic")?),
        None => None,
    };
    let own = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let bench = staging.add(&own, "furnace-bench")?;

    let user = User::create(false)?;
    eprintln!(
        "[bench] rootless: running as the throw-away user {} (uid {}, gid {}), no subordinate \
         ids (a single-id map, as bubblewrap's)",
        user.name, user.uid, user.gid
    );
    if let Some(reason) = user_namespaces_refused(&user)? {
        user.finish()?;
        eprintln!("[bench] !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        eprintln!("[bench] !!! ROOTLESS ROWS NOT MEASURED: the kernel refuses unprivileged");
        eprintln!("[bench] !!! user namespaces to an unprivileged user: {reason}");
        eprintln!("[bench] !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        return Ok(Rootless::Refused(reason));
    }

    let with_subids = subids_user(&cli, &opts.root)?;

    let root = opts.root.as_os_str();
    let run_true = |cli: &Path| program_with(cli, ["run".as_ref(), root, "/bin/true".as_ref()]);
    let mut rows: Vec<(&str, &User, Row)> = vec![(CLI, &user, Row::Command(run_true(&cli)))];
    if let Some(cli_dynamic) = &cli_dynamic {
        rows.push((CLI_DYNAMIC, &user, Row::Command(run_true(cli_dynamic))));
    }
    if let Some(with_subids) = &with_subids {
        rows.push((CLI_SUBIDS, with_subids, Row::Command(run_true(&cli))));
    }
    rows.push((LIBRARY, &user, Row::Library(bench.clone())));
    let mut bwrap_argv = vec!["--unshare-user".into()];
    bwrap_argv.extend(bwrap_args(&opts.root, false));
    rows.push((BWRAP, &user, Row::Command((bwrap, bwrap_argv))));
    let exit = program_with(&bench, ["--probe-exit".as_ref()]);
    let enter = program_with(&bench, ["--probe-enter".as_ref()]);

    let mut lifecycle: Vec<Samples> = rows.iter().map(|_| Samples::default()).collect();
    let (mut exit_samples, mut enter_samples) = (Samples::default(), Samples::default());
    let mut rounds = || -> Result<(), String> {
        for round in 0..plan.rounds {
            eprint!("\r[bench] rootless: round {}/{}", round + 1, plan.rounds);
            for ((name, user, row), samples) in rows.iter().zip(&mut lifecycle) {
                match row {
                    Row::Command(command) => {
                        for _ in 0..plan.per_round {
                            samples.push(user.time(name, command)?);
                        }
                    }
                    Row::Library(bench) => {
                        samples.extend(user.library(bench, &opts.root, plan.per_round)?);
                    }
                }
            }
            for _ in 0..plan.per_round {
                exit_samples.push(user.time(EXIT, &exit)?);
                enter_samples.push(user.time(ENTER, &enter)?);
            }
        }
        Ok(())
    };
    let measured = rounds();
    eprintln!();
    measured?;
    let names: Vec<String> = rows.iter().map(|(name, _, _)| (*name).to_owned()).collect();
    drop(rows);
    if let Some(with_subids) = with_subids {
        with_subids.finish()?;
    }
    user.finish()?;
    drop(staging);
    Ok(Rootless::Measured {
        lifecycle: names.into_iter().zip(lifecycle).collect(),
        enter: vec![
            (EXIT.to_owned(), exit_samples),
            (ENTER.to_owned(), enter_samples),
        ],
    })
}

/// A second user, with subordinate ids, for the row that shows what mapping them costs — when
/// `newuidmap` and `newgidmap` are installed (else the row is left out, saying so). Checks once
/// that the CLI really maps them for this user, so that the row is what it says.
fn subids_user(cli: &Path, root: &Path) -> Result<Option<User>, String> {
    if find_program("newuidmap").is_none() || find_program("newgidmap").is_none() {
        eprintln!(
            "[bench] rootless: no newuidmap/newgidmap (Debian's uidmap): the row with \
             subordinate ids is left out"
        );
        return Ok(None);
    }
    let user = User::create(true)?;
    let out = user
        .command(cli)
        .arg("run")
        .arg(root)
        .args(["/bin/cat", "/proc/self/uid_map"])
        .output()
        .map_err(|e| format!("{CLI_SUBIDS}: {e}"))?;
    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
    if !out.status.success() || lines < 2 {
        return Err(format!(
            "{CLI_SUBIDS}: `furnace run ROOT cat /proc/self/uid_map` as {} (ranges in \
             /etc/subuid: {}) did not show them mapped ({}): uid_map {:?}, stderr {:?}",
            user.name,
            has_subids(&user.name),
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    eprintln!(
        "[bench] rootless: and as {} (uid {}), with subordinate ids, for one row",
        user.name, user.uid
    );
    Ok(Some(user))
}

fn has_subids(name: &str) -> bool {
    fs::read_to_string("/etc/subuid")
        .is_ok_and(|text| text.lines().any(|l| l.split(':').next() == Some(name)))
}

/// A program and its arguments.
pub(crate) type Argv = (PathBuf, Vec<std::ffi::OsString>);

fn program_with<'a>(program: &Path, args: impl IntoIterator<Item = &'a std::ffi::OsStr>) -> Argv {
    (
        program.to_owned(),
        args.into_iter().map(ToOwned::to_owned).collect(),
    )
}

/// One rootless lifecycle row.
#[derive(Debug)]
enum Row {
    /// A command run once per lifecycle, timed from outside.
    Command(Argv),
    /// This binary's `--rootless-library` mode, timing its lifecycles in-process.
    Library(PathBuf),
}

/// Whether the kernel lets the user make a user namespace, asked of a tool that is not
/// furnace: `unshare --user --map-root-user /bin/true`. `Some(why)` when it refuses.
pub(crate) fn user_namespaces_refused(user: &User) -> Result<Option<String>, String> {
    let Some(unshare) = find_program("unshare") else {
        eprintln!("[bench] rootless: no `unshare` to ask whether user namespaces are allowed");
        return Ok(None);
    };
    let out = user
        .command(&unshare)
        .args(["--user", "--map-root-user", "/bin/true"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("run {} as {}: {e}", unshare.display(), user.name))?;
    if out.status.success() {
        return Ok(None);
    }
    let mut reason = format!(
        "`unshare --user --map-root-user /bin/true` as {} failed ({}): {}",
        user.name,
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    for knob in [
        "/proc/sys/user/max_user_namespaces",
        "/proc/sys/kernel/unprivileged_userns_clone",
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
    ] {
        if let Ok(value) = fs::read_to_string(knob) {
            reason.push_str(&format!("; {knob} = {}", value.trim()));
        }
    }
    Ok(Some(reason))
}

/// Fails unless every directory on the way to `path` (itself included) can be searched by
/// anyone: the user is neither its owner nor in its group.
pub(crate) fn check_reachable(path: &Path, what: &str) -> Result<(), String> {
    let path = fs::canonicalize(path).map_err(|e| format!("{what} {}: {e}", path.display()))?;
    for dir in path.ancestors() {
        let meta = fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let needed = if meta.is_dir() { 0o001 } else { 0o005 };
        if meta.mode() & needed != needed {
            return Err(format!(
                "{what} {} cannot be reached by an unprivileged user: {} has mode {:04o} (the \
                 rootless rows need every directory on the way o+x)",
                path.display(),
                dir.display(),
                meta.mode() & 0o7777
            ));
        }
    }
    Ok(())
}

/// Finds an executable on `PATH` or in the usual system directories.
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            [
                "/usr/local/sbin",
                "/usr/local/bin",
                "/usr/sbin",
                "/usr/bin",
                "/sbin",
                "/bin",
            ]
            .map(PathBuf::from),
        )
        .map(|dir| dir.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0))
}

/// Runs a root-side administration command (`useradd`, `userdel`, `groupdel`), retrying a few
/// times: they fail while another process holds `/etc/passwd`'s lock (a test making its own
/// user), and `userdel` while a process of the user is still exiting.
fn administer(program: &str, args: &[&str]) -> Result<(), String> {
    let path = find_program(program).ok_or(format!("{program} is not installed"))?;
    let mut last = String::new();
    for attempt in 0..20 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = Command::new(&path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("{program}: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        last = format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Err(last)
}

/// A throw-away unprivileged user, removed when dropped.
#[derive(Debug)]
pub(crate) struct User {
    pub(crate) name: String,
    pub(crate) uid: u32,
    gid: u32,
    removed: bool,
}

impl User {
    /// `fnb-<pid>` without subordinate ids, or `fnb-<pid>-s` with the ranges `useradd -F`
    /// gives it.
    pub(crate) fn create(subids: bool) -> Result<User, String> {
        let name = format!(
            "{USER_PREFIX}{}{}",
            std::process::id(),
            if subids { SUBIDS_SUFFIX } else { "" }
        );
        let mut args = vec!["-r", "-M", "-s", "/usr/sbin/nologin", "-U"];
        if subids {
            args.push("-F");
        }
        args.push(&name);
        administer("useradd", &args)?;
        let mut user = User {
            name,
            uid: u32::MAX,
            gid: u32::MAX,
            removed: false,
        };
        // From here on, dropping `user` removes it.
        let (uid, gid) = passwd_ids(&user.name)?.ok_or(format!(
            "useradd made {} but it is not in /etc/passwd",
            user.name
        ))?;
        if uid == 0 || gid == 0 {
            return Err(format!(
                "{} has uid {uid}, gid {gid}: not unprivileged",
                user.name
            ));
        }
        (user.uid, user.gid) = (uid, gid);
        Ok(user)
    }

    /// A command run as the user: its ids (no supplementary groups), a clean environment, `/`
    /// as working directory, stdin on `/dev/null`.
    pub(crate) fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .uid(self.uid)
            .gid(self.gid)
            .env_clear()
            .env("PATH", USER_PATH)
            .env("HOME", "/")
            .current_dir("/")
            .stdin(Stdio::null());
        command
    }

    /// Runs `argv` as the user once; its duration, or why it failed.
    pub(crate) fn time(&self, name: &str, (program, args): &Argv) -> Result<Duration, String> {
        let mut command = self.command(program);
        command
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let out = command.output().map_err(|e| format!("{name}: {e}"))?;
        let elapsed = start.elapsed();
        if !out.status.success() {
            return Err(format!(
                "{name} failed as {} ({}): {}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(elapsed)
    }

    /// `runs` library lifecycles in one `--rootless-library` process.
    fn library(&self, bench: &Path, root: &Path, runs: usize) -> Result<Samples, String> {
        let out = self
            .command(bench)
            .arg("--rootless-library")
            .arg(root)
            .arg(runs.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("{LIBRARY}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{LIBRARY} failed as {} ({}): {}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let mut samples = Samples::default();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            samples.push(nanos(line)?);
        }
        Ok(samples)
    }

    /// Removes the user, reporting failures.
    pub(crate) fn finish(mut self) -> Result<(), String> {
        self.remove()
    }

    /// The user, then whatever `userdel` left: its subordinate ranges, its group.
    fn remove(&mut self) -> Result<(), String> {
        if self.removed {
            return Ok(());
        }
        self.removed = true;
        let mut errors = Vec::new();
        if let Err(e) = administer("userdel", &[&self.name]) {
            errors.push(e);
        }
        // `userdel` removes the user's subordinate ranges itself; these are leftovers, by name
        // only (the uid may already belong to someone else).
        for file in ["/etc/subuid", "/etc/subgid"] {
            if let Err(e) = remove_subid_lines(Path::new(file), &self.name) {
                errors.push(e);
            }
        }
        if group_exists(&self.name) {
            if let Err(e) = administer("groupdel", &[&self.name]) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "removing the user {}: {}",
                self.name,
                errors.join("; ")
            ))
        }
    }
}

impl Drop for User {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("furnace-bench: warning: {e}");
        }
    }
}

/// The uid and gid of `name` in `/etc/passwd`.
fn passwd_ids(name: &str) -> Result<Option<(u32, u32)>, String> {
    let text = fs::read_to_string("/etc/passwd").map_err(|e| format!("read /etc/passwd: {e}"))?;
    Ok(text.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let (_, uid, gid) = (fields.next()?, fields.next()?, fields.next()?);
        Some((uid.parse().ok()?, gid.parse().ok()?))
    }))
}

fn group_exists(name: &str) -> bool {
    fs::read_to_string("/etc/group")
        .is_ok_and(|text| text.lines().any(|l| l.split(':').next() == Some(name)))
}

/// Removes the lines of `/etc/subuid` or `/etc/subgid` that give ranges to `name`, if there
/// are any, holding the file's lock the way the shadow tools do (`FILE.lock`, a hard link to a
/// file naming our pid); the file is replaced by a rename, its mode kept.
fn remove_subid_lines(path: &Path, name: &str) -> Result<(), String> {
    let ours = |line: &str| line.split(':').next() == Some(name);
    match fs::read_to_string(path) {
        Ok(text) if text.lines().any(ours) => {}
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("read {}: {e}", path.display())),
    }
    let _lock = ShadowLock::take(path)?;
    let text = fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let kept: String = text
        .lines()
        .filter(|l| !ours(l))
        .map(|l| format!("{l}\n"))
        .collect();
    let mode = fs::metadata(path)
        .map(|m| m.permissions().mode())
        .unwrap_or(0o644);
    let tmp = PathBuf::from(format!("{}.{name}", path.display()));
    fs::write(&tmp, kept)
        .and_then(|()| fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)))
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            format!("rewrite {}: {e}", path.display())
        })
}

/// The lock `useradd`, `usermod` and `userdel` take on a file of theirs: `FILE.lock`, made by
/// hard-linking a file `FILE.<pid>` that holds our pid. Released when dropped.
#[derive(Debug)]
struct ShadowLock {
    lock: PathBuf,
}

impl ShadowLock {
    fn take(path: &Path) -> Result<ShadowLock, String> {
        let lock = PathBuf::from(format!("{}.lock", path.display()));
        let mine = PathBuf::from(format!("{}.{}", path.display(), std::process::id()));
        fs::write(&mine, std::process::id().to_string())
            .map_err(|e| format!("write {}: {e}", mine.display()))?;
        let mut result = Err(format!("{} stayed locked for 3 s", path.display()));
        for attempt in 0..60 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(50));
            }
            match fs::hard_link(&mine, &lock) {
                Ok(()) => {
                    result = Ok(ShadowLock { lock });
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    result = Err(format!("lock {}: {e}", path.display()));
                    break;
                }
            }
        }
        let _ = fs::remove_file(&mine);
        result
    }
}

impl Drop for ShadowLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.lock);
    }
}

/// Removes the users `fnb-<pid>` whose furnace-bench is gone (killed before it could remove
/// them), saying so. Failures are warnings.
pub(crate) fn remove_stale_users() {
    let Ok(text) = fs::read_to_string("/etc/passwd") else {
        return;
    };
    for line in text.lines() {
        let Some(name) = line.split(':').next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(USER_PREFIX)
            .map(|rest| rest.strip_suffix(SUBIDS_SUFFIX).unwrap_or(rest))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|comm| comm.trim() == "furnace-bench");
        if alive {
            continue;
        }
        eprintln!("[bench] removing the stale user {name} (its furnace-bench is gone)");
        let mut user = User {
            name: name.to_owned(),
            uid: u32::MAX,
            gid: u32::MAX,
            removed: false,
        };
        if let Err(e) = user.remove() {
            eprintln!("furnace-bench: warning: {e}");
        }
    }
}

/// A 0755 directory under `/tmp` holding 0755 copies of the programs the user runs, removed
/// when dropped.
#[derive(Debug)]
struct Staging {
    dir: PathBuf,
}

impl Staging {
    fn new() -> Result<Staging, String> {
        for n in 0..100 {
            let dir = PathBuf::from(format!(
                "/tmp/furnace-bench-rootless.{}.{n}",
                std::process::id()
            ));
            match fs::create_dir(&dir) {
                Ok(()) => {
                    let staging = Staging { dir };
                    fs::set_permissions(&staging.dir, fs::Permissions::from_mode(0o755))
                        .map_err(|e| format!("chmod {}: {e}", staging.dir.display()))?;
                    check_reachable(&staging.dir, "the staging directory")?;
                    return Ok(staging);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("mkdir {}: {e}", dir.display())),
            }
        }
        Err("cannot create /tmp/furnace-bench-rootless.*".into())
    }

    /// Copies `program` in as `name`, mode 0755.
    fn add(&self, program: &Path, name: &str) -> Result<PathBuf, String> {
        let copy = self.dir.join(name);
        fs::copy(program, &copy)
            .and_then(|_| fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)))
            .map_err(|e| format!("copy {} to {}: {e}", program.display(), copy.display()))?;
        Ok(copy)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("furnace-bench: warning: remove {}: {e}", self.dir.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subid_lines_of_the_user_go_under_the_lock_the_others_stay() {
        let dir = std::env::temp_dir().join(format!("fnb-subid-test.{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("subuid");
        fs::write(
            &file,
            "alice:100000:65536\nfnb-7:165536:65536\n997:231072:65536\nfnb-70:296608:65536\n",
        )
        .unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
        remove_subid_lines(&file, "fnb-7").unwrap();
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            "alice:100000:65536\n997:231072:65536\nfnb-70:296608:65536\n"
        );
        assert_eq!(fs::metadata(&file).unwrap().mode() & 0o777, 0o640);
        assert!(!dir.join("subuid.lock").exists());
        // Nothing of the user's: the file is left alone.
        remove_subid_lines(&file, "fnb-8").unwrap();
        remove_subid_lines(&dir.join("missing"), "fnb-8").unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
