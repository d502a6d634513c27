//! The commands: create, start, state, kill, delete, ps, features.

use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use furnace_core::{Lifetime, Registry};
use furnace_sys::process::Pidfd;

use crate::cli::{Cli, Command};
use crate::state::{Record, Root, Status};

/// How long `start` waits for PID 1 at the gate.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the command; the error is one line for the engine.
pub fn run(cli: &Cli, logger: &crate::log::Logger) -> Result<(), String> {
    if cli.global.systemd_cgroup {
        return Err(
            "--systemd-cgroup: furnace-oci manages cgroups itself (cgroupfs); \
                    configure the engine with the cgroupfs manager"
                .into(),
        );
    }
    let root = Root::new(cli.global.root.as_deref());
    match &cli.command {
        Command::Create {
            bundle,
            pid_file,
            console_socket,
            no_new_keyring: _,
            preserve_fds,
            no_pivot,
            id,
        } => {
            if *no_pivot {
                return Err("--no-pivot: furnace always pivots into the root".into());
            }
            create(
                &root,
                logger,
                bundle,
                pid_file.as_deref(),
                console_socket.as_deref(),
                *preserve_fds,
                id,
            )
        }
        Command::Start { id } => start(&root, id, logger),
        Command::Exec {
            process,
            pid_file,
            detach,
            tty,
            console_socket,
            cwd,
            env,
            id,
            command,
        } => {
            let mut process = match process {
                Some(path) => crate::config::load_process(path)?,
                None => crate::config::Process::from_args(command, env, cwd.as_deref())?,
            };
            process.terminal |= *tty;
            for warning in crate::config::labels(Some(&process), None)? {
                logger.warn(&warning);
            }
            crate::exec::run(
                &root,
                id,
                &process,
                pid_file.as_deref(),
                console_socket.as_deref(),
                *detach,
            )
        }
        Command::State { id } => state(&root, id),
        Command::Kill { all, id, signal } => kill(&root, id, signal, *all),
        Command::Delete { force, id } => delete(&root, id, *force, logger),
        Command::Ps {
            format,
            id,
            ps_options,
        } => ps(&root, id, format, ps_options),
        Command::Features => {
            println!("{}", features());
            Ok(())
        }
    }
}

fn create(
    root: &Root,
    logger: &crate::log::Logger,
    bundle: &Path,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
    preserve_fds: u32,
    id: &str,
) -> Result<(), String> {
    furnace_core::validate_name(id).map_err(|e| format!("container id: {e}"))?;
    let bundle =
        std::fs::canonicalize(bundle).map_err(|e| format!("bundle {}: {e}", bundle.display()))?;
    let spec = crate::config::load(&bundle)?;
    for warning in crate::config::labels(spec.process.as_ref(), spec.linux.as_ref())? {
        logger.warn(&warning);
    }
    let (mut builder, mut program) = crate::config::builder(&spec, &bundle)?;
    let terminal = spec.process.as_ref().is_some_and(|p| p.terminal);
    match (terminal, console_socket) {
        (true, None) => {
            return Err(
                "process.terminal is true: --console-socket must say where to send \
                        the terminal"
                    .into(),
            )
        }
        (false, Some(_)) => {
            return Err("--console-socket is given but process.terminal is false".into())
        }
        _ => {}
    }
    program = program.terminal(terminal).preserve_fds(preserve_fds);
    let dir = root.claim(id)?;
    let made = (|| {
        let gate = root.gate_of(id);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &gate,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .map_err(|e| format!("cannot make {}: {e}", gate.display()))?;
        let mut container = builder
            .lifetime(Lifetime::Detached { timeout: None })
            .name(id)
            .registry(root.registry())
            .exec_init(program.start_gate(&gate))
            .start()
            .map_err(|e| e.to_string())?;
        if let Some(socket) = console_socket {
            let master = container
                .take_init_terminal()
                .ok_or("PID 1 sent no terminal")?;
            if let Err(e) = send_console(socket, &master) {
                let _ = container.stop();
                return Err(e);
            }
        }
        let pid = container.init_pid();
        let start_time = furnace_sys::process::ProcStat::read(pid)
            .map(|s| s.start_time)
            .ok_or_else(|| format!("PID 1 (pid {pid}) is gone"))?;
        // The runtime's hooks of `create`, PID 1 set up and waiting.
        let state = crate::hooks::state_json(id, "creating", pid, &bundle, &spec.annotations);
        let hooks =
            crate::hooks::run_on_host("prestart", &spec.hooks.prestart, &state).and_then(|()| {
                crate::hooks::run_on_host("createRuntime", &spec.hooks.create_runtime, &state)
            });
        if let Err(e) = hooks {
            let _ = container.stop();
            return Err(e);
        }
        let record = Record {
            id: id.to_owned(),
            bundle: bundle.clone(),
            created: crate::log::rfc3339(now()),
            annotations: spec.annotations.clone(),
            pid,
            start_time,
            start_container: spec.hooks.start_container.clone(),
            poststart: spec.hooks.poststart.clone(),
            poststop: spec.hooks.poststop.clone(),
        };
        let saved = root.save(&record).and_then(|()| match pid_file {
            Some(path) => crate::state::write_atomically(path, pid.to_string().as_bytes()),
            None => Ok(()),
        });
        if let Err(e) = saved {
            let _ = container.stop();
            return Err(e);
        }
        Ok(())
    })();
    if made.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    made
}

/// Sends a terminal's master over the engine's console socket (`SCM_RIGHTS`).
pub fn send_console(socket: &Path, master: &impl AsFd) -> Result<(), String> {
    let stream = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| format!("--console-socket {}: {e}", socket.display()))?;
    furnace_sys::fd::forksafe::send_fds(stream.as_fd(), &[master.as_fd()]).map_err(|e| {
        format!(
            "--console-socket {}: sending the terminal: {e}",
            socket.display()
        )
    })
}

fn start(root: &Root, id: &str, logger: &crate::log::Logger) -> Result<(), String> {
    let record = root.load(id)?;
    match root.status(&record) {
        Status::Created => {}
        Status::Running => return Err(format!("container {id:?} has already started")),
        Status::Stopped => return Err(format!("container {id:?} has stopped: it cannot start")),
    }
    let state = |status| {
        crate::hooks::state_json(id, status, record.pid, &record.bundle, &record.annotations)
    };
    if let Err(e) = start_container_hooks(root, &record, &state("created")) {
        // The process must not run: the container stops (`delete` removes it).
        if let Ok(init) = init_of(root, &record) {
            let _ = init.send_signal(rustix::process::Signal::KILL);
        }
        return Err(e);
    }
    let gate = root.gate_of(id);
    let fifo = rustix::fs::open(
        &gate,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| format!("cannot open the start gate {}: {e}", gate.display()))?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let mut byte = [0u8; 1];
        match rustix::io::read(&fifo, &mut byte) {
            Ok(1) => break,
            Ok(_) | Err(rustix::io::Errno::AGAIN) => {}
            Err(e) => return Err(format!("reading the start gate: {e}")),
        }
        if root.status(&record) == Status::Stopped {
            return Err(format!("container {id:?} stopped before it could start"));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "container {id:?}: PID 1 did not pass the start gate within {START_TIMEOUT:?}"
            ));
        }
        let _ =
            furnace_sys::fd::forksafe::poll_readable(fifo.as_fd(), Some(Duration::from_millis(50)));
    }
    std::fs::remove_file(&gate).map_err(|e| format!("cannot remove {}: {e}", gate.display()))?;
    if let Err(e) = crate::hooks::run_on_host("poststart", &record.poststart, &state("running")) {
        logger.warn(&e);
    }
    Ok(())
}

/// The `startContainer` hooks, each run inside the container (its namespaces, cgroups and
/// root; the path resolved there) with the state on its stdin.
fn start_container_hooks(root: &Root, record: &Record, state: &str) -> Result<(), String> {
    if record.start_container.is_empty() {
        return Ok(());
    }
    let container = root
        .registry()
        .attach(&record.id)
        .map_err(|e| e.to_string())?;
    for (i, hook) in record.start_container.iter().enumerate() {
        let what = format!("hooks.startContainer[{i}] {}", hook.path.display());
        let mut command = container.command(&hook.path);
        command.args(hook.args.iter().skip(1)).env_clear();
        for pair in &hook.env {
            let (key, value) = pair.split_once('=').unwrap_or((pair.as_str(), ""));
            command.env(key, value);
        }
        let child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("{what}: {e}"))?;
        crate::hooks::finish("startContainer", i, hook, child, state)?;
    }
    Ok(())
}

fn state(root: &Root, id: &str) -> Result<(), String> {
    let record = root.load(id)?;
    let status = root.status(&record);
    let pid = if status == Status::Stopped {
        0
    } else {
        record.pid
    };
    let state = serde_json::json!({
        "ociVersion": "1.2.0",
        "id": record.id,
        "status": status.name(),
        "pid": pid,
        "bundle": record.bundle,
        "created": record.created,
        "annotations": record.annotations,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&state).map_err(|e| e.to_string())?
    );
    Ok(())
}

/// PID 1 of a live container, as a pidfd checked against its recorded start time.
fn init_of(root: &Root, record: &Record) -> Result<Pidfd, String> {
    if root.status(record) == Status::Stopped {
        return Err(format!("container {:?} is not running", record.id));
    }
    let pidfd = Pidfd::open(record.pid).map_err(|e| e.to_string())?;
    // The pidfd is of the process that now has the pid: check it is still PID 1.
    if root.status(record) == Status::Stopped {
        return Err(format!("container {:?} is not running", record.id));
    }
    Ok(pidfd)
}

fn kill(root: &Root, id: &str, signal: &str, all: bool) -> Result<(), String> {
    let number = crate::signals::parse(signal)?;
    let record = root.load(id)?;
    let init = init_of(root, &record)?;
    let signal = rustix::process::Signal::from_named_raw(number)
        .ok_or_else(|| format!("signal {signal:?}: cannot be sent"))?;
    if all && number != libc::SIGKILL {
        // Every process of the container's pid namespace, PID 1 last.
        let ns = std::fs::read_link(format!("/proc/{}/ns/pid", record.pid))
            .map_err(|e| format!("cannot read PID 1's pid namespace: {e}"))?;
        for pid in processes_in(&ns).into_iter().filter(|&p| p != record.pid) {
            if let Ok(p) = Pidfd::open(pid) {
                let _ = p.send_signal(signal);
            }
        }
    }
    // SIGKILL to PID 1 ends every process of its namespace.
    init.send_signal(signal).map_err(|e| e.to_string())
}

/// `ps`: the container's processes (those of PID 1's pid namespace), as host pids in JSON or
/// as the lines the host's `ps` prints for them, under its header.
fn ps(root: &Root, id: &str, format: &str, options: &[String]) -> Result<(), String> {
    let record = root.load(id)?;
    let _init = init_of(root, &record)?;
    let ns = std::fs::read_link(format!("/proc/{}/ns/pid", record.pid))
        .map_err(|e| format!("cannot read PID 1's pid namespace: {e}"))?;
    let mut pids = processes_in(&ns);
    pids.sort_unstable();
    match format {
        "json" => {
            println!(
                "{}",
                serde_json::to_string(&pids).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        "table" => {
            let options: Vec<&str> = if options.is_empty() {
                vec!["-ef"]
            } else {
                options.iter().map(String::as_str).collect()
            };
            let out = std::process::Command::new("ps")
                .args(&options)
                .output()
                .map_err(|e| format!("cannot run ps: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "ps {}: {}",
                    options.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let column = header
                .split_whitespace()
                .position(|c| c == "PID")
                .ok_or_else(|| format!("ps {}: no PID column", options.join(" ")))?;
            println!("{header}");
            for line in lines {
                let pid = line.split_whitespace().nth(column);
                if pid
                    .and_then(|p| p.parse().ok())
                    .is_some_and(|p| pids.contains(&p))
                {
                    println!("{line}");
                }
            }
            Ok(())
        }
        other => Err(format!("ps --format {other:?}: table or json")),
    }
}

/// The host pids of the processes whose pid namespace is `ns`.
fn processes_in(ns: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|l| l == ns))
        .collect()
}

fn delete(root: &Root, id: &str, force: bool, logger: &crate::log::Logger) -> Result<(), String> {
    let record = root.load(id)?;
    let status = root.status(&record);
    if status != Status::Stopped && !force {
        return Err(format!(
            "container {id:?} is {}: stop it first, or delete it with --force",
            status.name()
        ));
    }
    if status != Status::Stopped {
        let init = init_of(root, &record)?;
        let _ = init.send_signal(rustix::process::Signal::KILL);
        let _ = init.wait_exit_timeout(Some(Duration::from_secs(10)));
    }
    // furnace's registry removes the container's cgroups and state with its entry.
    let registry: Registry = root.registry();
    registry.stop(id).map_err(|e| e.to_string())?;
    let _ = registry.list();
    root.remove(id)?;
    let state = crate::hooks::state_json(
        id,
        "stopped",
        record.pid,
        &record.bundle,
        &record.annotations,
    );
    if let Err(e) = crate::hooks::run_on_host("poststop", &record.poststop, &state) {
        logger.warn(&e);
    }
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The OCI features document: what this runtime supports.
fn features() -> String {
    let features = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "startContainer", "poststart", "poststop"],
        "mountOptions": ["bind", "rbind", "ro", "rw", "private", "rprivate"],
        "linux": {
            "namespaces": ["pid", "mount", "ipc", "uts", "cgroup", "network"],
            "capabilities": caps::all().iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "cgroup": {"v1": true, "v2": false, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": true},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
        },
        "annotations": {"org.opencontainers.runc.version": env!("CARGO_PKG_VERSION")},
    });
    serde_json::to_string_pretty(&features).unwrap_or_default()
}
