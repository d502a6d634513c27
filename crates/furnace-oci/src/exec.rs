//! `exec`: another process in a running container, through furnace's registry — the same
//! `Command` API furnace's own `exec` uses, the container's seccomp filter included.

use std::path::Path;

use furnace_sys::cred::AllCapabilitySets;

use crate::config::{capability_set, rlimit_resource, Process};
use crate::state::{Root, Status};

/// Runs `process` in container `id`; with `detach`, returns once it runs (writing its pid),
/// else waits and exits with its status.
pub fn run(
    root: &Root,
    id: &str,
    process: &Process,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
    detach: bool,
) -> Result<(), String> {
    let record = root.load(id)?;
    if root.status(&record) != Status::Running {
        return Err(format!(
            "container {id:?} is {}: exec needs a running container",
            root.status(&record).name()
        ));
    }
    if process.terminal != console_socket.is_some() {
        return Err(
            "exec: a terminal (--tty or process.terminal) needs --console-socket, and only it"
                .into(),
        );
    }
    let (program, args) = process.args.split_first().ok_or("process.args is empty")?;
    // Limits are set on this process, which the command inherits them from.
    for r in &process.rlimits {
        let resource = rlimit_resource(&r.kind)?;
        furnace_sys::process::forksafe::set_rlimit(resource, r.soft, r.hard)
            .map_err(|e| format!("process.rlimits {}: {e}", r.kind))?;
    }
    let container = root.registry().attach(id).map_err(|e| e.to_string())?;
    let mut command = container.command(program);
    command
        .args(args)
        .env_clear()
        .current_dir(&process.cwd)
        .uid(process.user.uid)
        .gid(process.user.gid)
        .groups(&process.user.additional_gids)
        .no_new_privileges(process.no_new_privileges);
    for pair in &process.env {
        let (key, value) = pair.split_once('=').unwrap_or((pair.as_str(), ""));
        command.env(key, value);
    }
    if let Some(c) = &process.capabilities {
        let f = |field| format!("process.capabilities.{field}");
        command.capability_sets(AllCapabilitySets {
            bounding: capability_set(&c.bounding, &f("bounding"))?,
            effective: capability_set(&c.effective, &f("effective"))?,
            permitted: capability_set(&c.permitted, &f("permitted"))?,
            inheritable: capability_set(&c.inheritable, &f("inheritable"))?,
            ambient: capability_set(&c.ambient, &f("ambient"))?,
        });
    }
    // The terminal: the process's, from the container's devpts; its master to the engine.
    let pty = match console_socket {
        Some(socket) => {
            let pty = container.open_pty().map_err(|e| e.to_string())?;
            crate::ops::send_console(socket, &pty.master)?;
            command.terminal(&pty).map_err(|e| e.to_string())?;
            Some(pty)
        }
        None => None,
    };
    let mut child = command
        .spawn()
        .map_err(|e| format!("exec {program}: {e}"))?;
    drop(pty);
    if let Some(path) = pid_file {
        crate::state::write_atomically(path, child.id().to_string().as_bytes())?;
    }
    if detach {
        return Ok(());
    }
    let status = child
        .wait()
        .map_err(|e| format!("wait for {program}: {e}"))?;
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    std::process::exit(code)
}
