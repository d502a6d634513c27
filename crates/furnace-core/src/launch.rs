//! Starting a container: check the inputs, probe the host, compute the plan, fork PID 1 into
//! the new namespaces, and wait (with a deadline) for its report.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use furnace_sys::fd::{above_stdio, forksafe as fd, pipe_above_stdio, Mode, OFlags};
use furnace_sys::process::forksafe::{clone3, exit, Forked};
use furnace_sys::process::SharedU32;
use furnace_sys::{Errno, ExitKind, Pidfd, Signal};

use crate::builder::{Config, ContainerBuilder};
use crate::container::{Container, Extras};
use crate::error::{Error, Result};
use crate::failpoint::Failpoint;
use crate::hostfacts::HostFacts;
use crate::init::{self, InitFds};
use crate::plan::Plan;
use crate::roots::Warning;
use crate::traces::Traces;

impl ContainerBuilder {
    /// Starts the container: checks the inputs, starts PID 1 in new namespaces, and returns
    /// once it reports that the root is set up.
    ///
    /// Bad input is reported before any namespace exists, and so is a caller without the
    /// privileges to make one ([`Error::NeedsRoot`]). A step that fails inside is reported
    /// as [`Error::Setup`] with its number, what it did and the errno; a step that does not
    /// finish within the [start timeout](ContainerBuilder::start_timeout) as
    /// [`Error::StartTimeout`]. Either way PID 1 is reaped by then, and what it made in the
    /// root removed, so nothing of the half-made container is left. What the start did not do
    /// as asked without failing is in [`Container::warnings`].
    pub fn start(&self) -> Result<Container> {
        // `None`: a deadline too far away to represent, that is none.
        let deadline = Instant::now().checked_add(self.deadline());
        let (config, plan) = if self.has_binds() {
            self.prepare_within(self.deadline())?
        } else {
            prepare(self)?
        };
        require_privileges()?;
        launch(config, plan, deadline)
    }

    /// The checks on the host and the plan, bounded by `timeout`: looking at a bind source on
    /// an unresponsive filesystem (a hard NFS mount, a hung FUSE daemon) blocks in the kernel,
    /// so with binds the checks run on a thread of its own that the caller stops waiting for.
    /// Such a thread stays blocked until the kernel call returns, holding nothing but its copy
    /// of the configuration. Without binds they run on the calling thread: a second thread
    /// makes the fork that follows pay cross-CPU TLB flushes (about a tenth of a start), and
    /// the root is a local image in practice.
    fn prepare_within(&self, timeout: Duration) -> Result<(Config, Plan)> {
        let builder = self.clone();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let checker = std::thread::Builder::new()
            .name("furnace-prepare".into())
            .spawn(move || {
                let _ = tx.send(prepare(&builder));
            })
            .map_err(|e| Error::Sys {
                context: "start a thread to check the inputs",
                error: furnace_sys::Error::new(
                    "clone",
                    "thread",
                    Errno::from_io_error(&e).unwrap_or(Errno::AGAIN),
                ),
            })?;
        match rx.recv_timeout(timeout) {
            // Wait for the thread to be gone before forking: a fork while another thread of
            // this process runs (or has just run) on another CPU costs cross-CPU TLB flushes.
            Ok(prepared) => {
                let _ = checker.join();
                prepared
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(Error::StartTimeout {
                timeout,
                step: 0,
                operation: "check the root and the bind sources on the host".into(),
            }),
            // The thread ended without an answer: it panicked. Carry the panic to the caller,
            // as if the checks had run on its own thread.
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match checker.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                // Not reached: the thread sends before it ends.
                Ok(()) => Err(Error::StartTimeout {
                    timeout,
                    step: 0,
                    operation: "check the root and the bind sources on the host".into(),
                }),
            },
        }
    }

    /// The plan [`start`](ContainerBuilder::start) would carry out, for tests.
    #[cfg(test)]
    pub(crate) fn plan(&self) -> Result<Plan> {
        let config = self.validate()?;
        Ok(Plan::new(&config, &HostFacts::probe(&config)?))
    }
}

/// Validates the inputs, probes the host and computes the plan.
fn prepare(builder: &ContainerBuilder) -> Result<(Config, Plan)> {
    let config = builder.validate()?;
    let facts = HostFacts::probe(&config)?;
    let plan = Plan::new(&config, &facts);
    Ok((config, plan))
}

/// Making namespaces and mounts needs `CAP_SYS_ADMIN`; without it `clone3` would fail with a
/// bare `EPERM`. Say what is needed instead.
fn require_privileges() -> Result<()> {
    use furnace_sys::caps::{has_effective, Cap};
    match has_effective(Cap::CAP_SYS_ADMIN) {
        Ok(true) => Ok(()),
        Ok(false) | Err(_) => Err(Error::NeedsRoot {
            uid: rustix::process::geteuid().as_raw(),
        }),
    }
}

fn sys_err(context: &'static str) -> impl FnOnce(furnace_sys::Error) -> Error {
    move |error| Error::Sys { context, error }
}

/// Every fd handed to PID 1, or kept by the container, is numbered 3 or above
/// ([`above_stdio`]): a caller that closed stdin, stdout or stderr would otherwise get them on
/// 0–2, where PID 1's (and every command's) stdio set-up overwrites them.
fn launch(config: Config, plan: Plan, deadline: Option<Instant>) -> Result<Container> {
    let own_work = config.overlay.as_ref().filter(|o| o.own_work);
    if let Some(overlay) = own_work {
        crate::roots::ensure_work_dir(overlay)?;
    }
    // What PID 1 may make in the root, and how the root looked before it did.
    let mut traces = Traces::before(&plan, own_work.and_then(|o| o.work.as_deref()));
    let failed = |traces: Option<Traces>, error: Error| {
        if let Some(traces) = traces {
            traces.remove();
        }
        error
    };
    launch_with(config, plan, deadline, &mut traces).map_err(|e| failed(traces.take(), e))
}

/// [`launch`], with `traces` to fill (and, on success, to hand to the container).
fn launch_with(
    config: Config,
    plan: Plan,
    deadline: Option<Instant>,
    traces: &mut Option<Traces>,
) -> Result<Container> {
    let owner = Pidfd::open(std::process::id())
        .map(OwnedFd::from)
        .and_then(above_stdio)
        .map_err(sys_err("open a pidfd of this process"))?;
    let devnull = fd::open(c"/dev/null", OFlags::RDWR, Mode::empty())
        .map_err(|e| furnace_sys::Error::new("open", "/dev/null", e))
        .and_then(above_stdio)
        .map_err(sys_err("open /dev/null"))?;
    let (ready_r, ready_w) = pipe_above_stdio().map_err(sys_err("create the ready pipe"))?;
    // PID 1 records each step it starts here.
    let progress = SharedU32::new(0).map_err(sys_err("map the progress word"))?;
    let (namespaces_r, namespaces_w) = if plan.send_namespaces {
        let (r, w) = furnace_sys::fd::socketpair_above_stdio()
            .map_err(sys_err("create the socket for the container's namespaces"))?;
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    // A detached container's name is claimed (and checked to be free) before anything else
    // is made; the claim is given up (dropped) on failure.
    let pending = match &config.detached {
        Some(d) => Some(crate::registry::Pending::create(&d.registry, &d.name)?),
        None => None,
    };
    let (released_r, released_w) = match &pending {
        Some(_) => {
            let (r, w) = pipe_above_stdio().map_err(sys_err("create the release pipe"))?;
            (Some(r), Some(w))
        }
        None => (None, None),
    };
    let detached = match (&config.detached, &pending, released_r) {
        (Some(d), Some(pending), Some(released)) => Some(init::DetachedFds {
            released,
            listener: if plan.send_namespaces {
                Some(pending.listen()?)
            } else {
                None
            },
            timer: match d.timeout {
                Some(timeout) => Some(
                    furnace_sys::fd::timer_after(timeout)
                        .map_err(sys_err("set the container's timeout"))?,
                ),
                None => None,
            },
        }),
        _ => None,
    };
    // Made before PID 1, which joins them first thing; removed again (dropped) on failure.
    // PID 1 that becomes the container's program stays in the limited cgroups with it.
    let cgroups = crate::cgroups::Cgroups::create(&config.limits, config.exec_init.is_some())?;
    let cgroup_procs: Vec<std::os::fd::RawFd> =
        cgroups.as_ref().map_or_else(Vec::new, |c| c.procs_raw());
    let cgroup_leave = cgroups.as_ref().and_then(|c| c.init_leave_raw());
    // With cgroups PID 1 makes its cgroup namespace itself, once it is in them.
    let mut clone_namespaces = if cgroups.is_some() {
        plan.namespaces - furnace_sys::Namespaces::CGROUP
    } else {
        plan.namespaces
    };
    // Namespaces joined by PID 1, not made.
    let mut joins = Vec::with_capacity(config.view.joins.len());
    for (kind, path) in &config.view.joins {
        clone_namespaces -= kind.flag();
        let file = std::fs::File::open(path).map_err(|e| Error::InvalidPath {
            what: "namespace to join",
            path: path.clone(),
            problem: crate::error::PathProblem::Errno(
                furnace_sys::Errno::from_io_error(&e).unwrap_or(furnace_sys::Errno::IO),
            ),
        })?;
        let fd = above_stdio(OwnedFd::from(file)).map_err(sys_err("keep a namespace to join"))?;
        joins.push((fd, *kind));
    }
    // A user namespace of its own: the range and the idmapped trees, made before the fork.
    let (own_parent, mut own_child) = if plan.own_userns {
        let (parent, child) = crate::idmapped::prepare(&config, &plan)?;
        (Some(parent), Some(child))
    } else {
        (None, None)
    };
    // The program PID 1 becomes: prepared here, its fds kept through PID 1's close-all.
    let exec_init = match &config.exec_init {
        Some(program) => Some(crate::program::PreparedInit::new(program)?),
        None => None,
    };
    let mut exec_keep: Vec<std::os::fd::RawFd> = exec_init
        .as_ref()
        .map(|p| p.raw_fds().collect())
        .unwrap_or_default();
    if let Some(own) = &mut own_child {
        own.keep.append(&mut exec_keep);
        // Room for the root directory PID 1 opens, as `prepare` left.
        own.keep.reserve(1);
    }
    // Room for one detached mount per bind, so PID 1 pushes without allocating.
    let mut trees: Vec<OwnedFd> = Vec::with_capacity(plan.binds.len());
    let failpoint = plan.failpoint.as_ref();
    Failpoint::hit(failpoint, "pre-clone");
    // SAFETY: the child runs `init::run`, which only makes system calls on data prepared
    // above (no allocation, no locks) and leaves through `_exit`; it never returns here.
    let forked = unsafe { clone3(clone_namespaces) }.map_err(|e| Error::Sys {
        context: "start the container's init",
        error: furnace_sys::Error::new("clone3", clone_namespaces.names(), e),
    })?;
    let (pid, pidfd) = match forked {
        Forked::Child => {
            let fds = InitFds {
                ready: ready_w,
                owner,
                devnull,
                progress: &progress,
                namespaces: namespaces_w,
                cgroup_procs,
                cgroup_leave,
                detached,
                own: own_child,
                exec: exec_init.as_ref().map(|p| (p, config.seccomp.as_deref())),
                exec_keep,
                joins,
            };
            // A panic in PID 1 must never unwind into the caller's code, which this process
            // is a copy of: it would run the caller's program a second time. PID 1 is written
            // not to panic; this is the last resort.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                init::run(&plan, &mut trees, fds)
            }));
            exit(1)
        }
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop((ready_w, owner, devnull, namespaces_w, detached, own_child));
    drop((exec_keep, joins));
    // With a terminal, PID 1 sends its master before "ready": this end receives it.
    let init_terminal = exec_init.and_then(|p| p.terminal).map(|(_, parent)| parent);
    Failpoint::hit(failpoint, "post-clone");
    let init = Pidfd::from_owned(pidfd, pid);
    // Commands join PID 1 through this pidfd: it must not sit on 0–2 either.
    let init = match init.as_raw_fd() {
        3.. => init,
        _ => match furnace_sys::fd::dup_above_stdio(&init) {
            Ok(fd) => Pidfd::from_owned(fd, pid),
            Err(error) => {
                let _ = init.send_signal(Signal::KILL);
                let _ = init.wait();
                return Err(Error::Sys {
                    context: "keep a pidfd of the container's init",
                    error,
                });
            }
        },
    };
    if let Some(parent) = &own_parent {
        if let Err(error) = crate::idmapped::release(parent, pid) {
            let _ = init.send_signal(Signal::KILL);
            let _ = init.wait();
            return Err(error);
        }
    }
    let mut records = Records::default();
    let failure = match read_report(&ready_r, deadline, &mut records) {
        Report::Ready => match namespace_files(&plan, namespaces_r.as_ref()) {
            Err(error) => {
                let _ = init.send_signal(Signal::KILL);
                Some(error)
            }
            Ok((namespace_files, root_fd)) => {
                Failpoint::hit(failpoint, "ready-received");
                let init_terminal = match &init_terminal {
                    Some(socket) => match furnace_sys::fd::recv_fds(socket) {
                        Ok(mut fds) if fds.len() == 1 => fds.pop(),
                        Ok(_) => None,
                        Err(error) => {
                            let _ = init.send_signal(Signal::KILL);
                            let _ = init.wait();
                            return Err(Error::Sys {
                                context: "receive the init program's terminal",
                                error,
                            });
                        }
                    },
                    None => None,
                };
                let extras = Extras {
                    init_terminal,
                    loops: plan.loop_snapshot.clone(),
                    warnings: {
                        let mut warnings = records.warnings(&plan);
                        if let Some(parent) = &own_parent {
                            warnings.extend(parent.warnings.iter().cloned());
                        }
                        warnings
                    },
                    traces: traces.take().map(|mut t| {
                        records.made.iter().for_each(|&n| t.record(n));
                        t
                    }),
                };
                let container = Container {
                    init,
                    root: config.root,
                    namespaces: plan.namespaces,
                    capabilities: config.capabilities,
                    seccomp: config.seccomp.clone(),
                    seccomp_default: config.seccomp_default,
                    failpoint: plan.failpoint.clone(),
                    spawned: Mutex::new(Vec::new()),
                    stopped: false,
                    namespace_files,
                    root_fd,
                    cgroups,
                    memory_max: config.limits.memory_max,
                    child: true,
                    detached: None,
                    user_namespace: plan.send_namespaces,
                    private_users: own_parent.as_ref().map(|p| p.lock.range().start()),
                    id_lock: own_parent.map(|p| p.lock),
                    extras,
                };
                return match pending {
                    None => Ok(container),
                    // On failure the container is dropped: stopped, as it has no name yet.
                    Some(pending) => {
                        register(container, pending, config.detached.as_ref(), released_w)
                    }
                };
            }
        },
        Report::Failed { step, errno } => Some(setup_error(&plan, step, errno)),
        Report::TimedOut => {
            // The step that was running: the last one PID 1 recorded.
            let step = progress.load();
            let _ = init.send_signal(Signal::KILL);
            Some(Error::StartTimeout {
                timeout: config.start_timeout,
                step: step as usize,
                operation: plan.describe(step as usize),
            })
        }
        // EOF without a report: init died (killed from outside, or crashed).
        Report::Died => None,
    };
    // Reap init, and with it everything made in its namespaces; then what it made in the root
    // is known (the records it wrote before it died) and is removed by `launch`.
    let how = init.wait().unwrap_or(ExitKind::Exited(-1));
    drain(&ready_r, &mut records);
    if let Some(traces) = traces {
        records.made.iter().for_each(|&n| traces.record(n));
    }
    Err(failure.unwrap_or(Error::InitDied { pid, how }))
}

/// Writes a detached container's state and claims its name.
fn register(
    mut container: Container,
    pending: crate::registry::Pending,
    detached: Option<&crate::builder::Detached>,
    released: Option<OwnedFd>,
) -> Result<Container> {
    let pid = container.init_pid();
    let start_time = furnace_sys::process::ProcStat::read(pid)
        .map(|s| s.start_time)
        .ok_or(Error::InitDied {
            pid,
            how: ExitKind::Exited(-1),
        })?;
    let pid_file = container
        .namespace_files
        .iter()
        .find(|(kind, _)| *kind == furnace_sys::Namespace::Pid);
    let pid_namespace = match pid_file {
        Some((_, fd)) => rustix::fs::fstat(fd).map(|s| s.st_ino),
        None => rustix::fs::stat(format!("/proc/{pid}/ns/pid").as_str()).map(|s| s.st_ino),
    }
    .map_err(|e| Error::Sys {
        context: "look at the container's pid namespace",
        error: furnace_sys::Error::new("stat", format!("/proc/{pid}/ns/pid"), e),
    })?;
    let now = std::time::SystemTime::now();
    let state = crate::registry::State {
        version: 1,
        name: pending.name().to_owned(),
        pid,
        start_time,
        root: container.root.clone(),
        created: crate::registry::epoch_seconds(now),
        expires: detached
            .and_then(|d| d.timeout)
            .and_then(|t| now.checked_add(t))
            .map(crate::registry::epoch_seconds),
        capabilities: container.capabilities,
        loops: container.extras.loops.clone(),
        seccomp_default: container.seccomp_default,
        seccomp: container
            .seccomp
            .as_ref()
            .map_or_else(Vec::new, |f| f.to_packed()),
        namespaces: container.namespaces.bits(),
        user_namespace: container.user_namespace,
        private_users: container.private_users,
        pid_namespace,
        memory_max: container.memory_max,
        cgroups: container.cgroups.as_ref().map(|c| c.record()),
    };
    let entry = pending.commit(&state)?;
    // Whoever stops it removes what its start made in the root: the list goes with its state
    // (should it not be written, what was made stays after a stop from elsewhere).
    let _ = container.save_traces(&entry.path());
    container.detached = Some(entry);
    // Named: PID 1 may now outlive this process. Should the byte not arrive, PID 1 ends with
    // this process, and the next look at the registry removes the entry.
    if let Some(released) = released {
        let _ = fd::write_all(released.as_fd(), &[1]);
    }
    Ok(container)
}

/// The fds PID 1 sent before reporting ready (in a user namespace; none otherwise): its
/// namespaces paired with their kinds, and its root.
fn namespace_files(plan: &Plan, socket: Option<&OwnedFd>) -> Result<SentFiles> {
    let Some(socket) = socket else {
        return Ok((Vec::new(), None));
    };
    let fds = furnace_sys::fd::recv_fds(socket)
        .map_err(sys_err("receive the container's namespaces from its init"))?;
    let kinds: Vec<furnace_sys::Namespace> = init::NAMESPACE_FILES
        .iter()
        .map(|&(kind, _)| kind)
        .filter(|kind| plan.namespaces.contains(kind.flag()))
        .collect();
    if fds.len() != kinds.len() + 1 {
        return Err(Error::Sys {
            context: "receive the container's namespaces from its init",
            error: furnace_sys::Error::new(
                "recvmsg",
                format!("{} fds, expected {}", fds.len(), kinds.len() + 1),
                Errno::PROTO,
            ),
        });
    }
    let mut fds = fds;
    let root = fds.pop();
    Ok((kinds.into_iter().zip(fds).collect(), root))
}

/// PID 1's namespace files with their kinds, and its root.
type SentFiles = (Vec<(furnace_sys::Namespace, OwnedFd)>, Option<OwnedFd>);

/// The records PID 1 wrote before its report: what it made in the root, what it skipped.
#[derive(Debug, Default)]
struct Records {
    made: Vec<u32>,
    skipped: Vec<(u32, i32)>,
}

impl Records {
    /// Takes one record in; `false` when it is not one of these (it is the report).
    fn take(&mut self, (step, errno): (u32, i32)) -> bool {
        if step == init::READY {
            false
        } else if step & init::MADE != 0 {
            self.made.push(step & !init::MADE);
            true
        } else if step & init::SKIPPED != 0 {
            self.skipped.push((step & !init::SKIPPED, errno));
            true
        } else {
            false
        }
    }

    /// The plan's warnings, and one per optional step that was skipped.
    fn warnings(&self, plan: &Plan) -> Vec<Warning> {
        let skipped = self
            .skipped
            .iter()
            .map(|&(step, errno)| Warning::ResolvConf {
                reason: format!(
                    "step {step} ({}) failed: {}",
                    plan.describe(step as usize),
                    furnace_sys::DisplayErrno(Errno::from_raw_os_error(errno))
                ),
            });
        plan.warnings.iter().cloned().chain(skipped).collect()
    }
}

/// Reads the records left on the ready pipe once PID 1 is gone (its write end is closed).
fn drain(pipe: &OwnedFd, records: &mut Records) {
    let mut buf = [0u8; init::REPORT_LEN];
    while let Ok(init::REPORT_LEN) = rustix::io::read(pipe, &mut buf) {
        records.take(init::decode(buf));
    }
}

/// What PID 1 said (or did not say) about its set-up.
enum Report {
    Ready,
    Failed {
        step: u32,
        errno: i32,
    },
    /// The pipe closed first: PID 1 died.
    Died,
    /// Nothing within the start timeout.
    TimedOut,
}

/// Reads PID 1's report, waiting until `deadline` at most (`None`: for ever), and the records
/// before it.
fn read_report(pipe: &OwnedFd, deadline: Option<Instant>, records: &mut Records) -> Report {
    loop {
        match read_record(pipe, deadline) {
            Ok(record) if records.take(record) => {}
            Ok((init::READY, _)) => return Report::Ready,
            Ok((step, errno)) => return Report::Failed { step, errno },
            Err(report) => return report,
        }
    }
}

/// Reads one record of the ready pipe, waiting until `deadline` at most.
fn read_record(pipe: &OwnedFd, deadline: Option<Instant>) -> Result<(u32, i32), Report> {
    let mut buf = [0u8; init::REPORT_LEN];
    let mut filled = 0;
    while filled < buf.len() {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match fd::poll_readable(pipe.as_fd(), left) {
            Ok(true) => {}
            Ok(false) => return Err(Report::TimedOut),
            Err(Errno::INTR) => continue,
            Err(_) => return Err(Report::Died),
        }
        match rustix::io::read(pipe, &mut buf[filled..]) {
            Ok(0) => return Err(Report::Died),
            Ok(n) => filled += n,
            Err(Errno::INTR | Errno::AGAIN) => {}
            Err(_) => return Err(Report::Died),
        }
    }
    Ok(init::decode(buf))
}

fn setup_error(plan: &Plan, step: u32, errno: i32) -> Error {
    let errno = Errno::from_raw_os_error(errno);
    let (step, operation) = (step as usize, plan.describe(step as usize));
    // Creating in a directory of an unmapped owner fails with EACCES (no write permission
    // that counts) or EOVERFLOW (the new file's owner would be unmapped) — in the steps that
    // may create something in the root: a mount point, a bind's destination.
    let cannot_create = matches!(errno, Errno::ACCESS | Errno::OVERFLOW);
    if plan.root_not_writable && cannot_create && plan.creates_in_root(step) {
        return Error::RootNotWritable {
            step,
            operation,
            errno,
            root: std::path::PathBuf::from(std::ffi::OsStr::from_bytes(plan.root.as_bytes())),
        };
    }
    Error::Setup {
        step,
        operation,
        errno,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_errors_name_the_step() {
        let root = std::env::temp_dir();
        let plan = Container::builder(&root).plan().unwrap();
        let err = setup_error(&plan, 1, libc::EPERM);
        assert_eq!(
            err.to_string(),
            "container set-up step 1 (make / rslave): EPERM (Operation not permitted)"
        );
        assert!(setup_error(&plan, 0, libc::EBADF)
            .to_string()
            .contains("prepare the init process"));
        let last = plan.steps().count();
        assert!(setup_error(&plan, last as u32, libc::EPERM)
            .to_string()
            .contains("sethostname localhost"));
    }

    #[test]
    fn only_a_failure_to_create_in_an_unwritable_root_blames_the_root() {
        let root = std::env::temp_dir();
        let mut plan = Container::builder(&root)
            .bind("/etc", "/mnt/etc")
            .plan()
            .unwrap();
        plan.root_not_writable = true;
        let step = |prefix: &str| {
            (1..=plan.steps().count())
                .find(|&n| plan.describe(n).starts_with(prefix))
                .unwrap_or_else(|| panic!("no step {prefix:?}")) as u32
        };
        let blamed = |n: u32, errno: i32| {
            matches!(setup_error(&plan, n, errno), Error::RootNotWritable { .. })
        };
        assert!(blamed(step("bind /etc on /mnt/etc"), libc::EACCES));
        assert!(blamed(step("mount proc on /proc"), libc::EOVERFLOW));
        // The kernel refusing a mount (EPERM), or a step that creates nothing, is not the
        // root's ownership.
        assert!(!blamed(step("mount proc on /proc"), libc::EPERM));
        assert!(!blamed(step("make / rslave"), libc::EACCES));
        let message = setup_error(&plan, step("bind /etc on /mnt/etc"), libc::EACCES).to_string();
        assert!(
            message.contains("is owned by a user that is not mapped"),
            "{message}"
        );
        let bind = step("bind /etc on /mnt/etc");
        plan.root_not_writable = false;
        assert!(!matches!(
            setup_error(&plan, bind, libc::EACCES),
            Error::RootNotWritable { .. }
        ));
    }

    #[test]
    fn binds_come_after_the_standard_mounts_and_before_the_masks() {
        let root = std::env::temp_dir();
        let plan = Container::builder(&root)
            .bind("/etc", "/run/out")
            .hardened(true)
            .plan()
            .unwrap();
        let shown: Vec<String> = (1..=plan.steps().count())
            .map(|n| plan.describe(n))
            .collect();
        let at = |prefix: &str| {
            shown
                .iter()
                .position(|s| s.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix:?} in {shown:#?}"))
        };
        assert!(at("open bind source /etc") < at("pivot_root"));
        assert!(at("mount tmpfs on /run") < at("bind /etc on /run/out"));
        assert!(at("mkdir /run/lock") < at("bind /etc on /run/out"));
        assert!(at("bind /etc on /run/out") < at("mask /proc/kcore"));
        assert_eq!(
            shown.last().map(String::as_str),
            Some("drop PID 1's capabilities")
        );
        assert!(!shown.iter().any(|s| s.starts_with("mknod /dev/loop")));
    }

    #[test]
    fn the_privileged_profile_neither_masks_nor_drops() {
        let plan = Container::builder(std::env::temp_dir()).plan().unwrap();
        let shown: Vec<String> = (1..=plan.steps().count())
            .map(|n| plan.describe(n))
            .collect();
        assert!(!shown
            .iter()
            .any(|s| s.starts_with("mask ") || s.contains("capabilities")));
    }

    #[test]
    fn a_deadline_too_far_to_represent_is_no_deadline() {
        // Nothing to start here (the root does not exist): what matters is no overflow panic.
        let err = Container::builder("/nonexistent/furnace-root")
            .start_timeout(Duration::MAX)
            .start()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidRoot { .. }), "{err:?}");
    }

    #[test]
    fn a_timeout_while_checking_the_host_is_a_start_timeout() {
        // A zero deadline expires before the checking thread can answer.
        let dir = std::env::temp_dir();
        let err = Container::builder(&dir)
            .bind(&dir, "/mnt")
            .start_timeout(Duration::ZERO)
            .start()
            .unwrap_err();
        // (Should the thread ever answer first, the zero deadline then expires in PID 1's
        // set-up — possibly still in its step 0, preparing itself: a timeout all the same.)
        match &err {
            Error::StartTimeout { .. } => assert!(
                err.to_string().contains("did not finish within 0 s"),
                "{err}"
            ),
            other => panic!("{other:?}"),
        }
    }
}
