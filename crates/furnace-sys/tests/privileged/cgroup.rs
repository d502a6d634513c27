//! Control groups, for real on this (hybrid) host: the layout, this process's own cgroups,
//! children created under them in the v1 `pids` and `memory` hierarchies and in the unified
//! v2 one, limits read back, a forked child joining through an fd, `cgroup.freeze` and
//! `cgroup.kill`, and removal.
//!
//! Every cgroup written to is one a test created, named `furnace-sys-test-<pid>-<n>`, under
//! the test process's own cgroup of its hierarchy; a [`TestCgroup`] guard kills what is in it
//! and removes it when the test ends, also when it fails. The processes moved in are helpers
//! forked by the test child, never the test child itself.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use furnace_sys::cgroup::{self, forksafe, CgroupDir, Layout};
use furnace_sys::fd::forksafe::write_all;
use furnace_sys::mount;
use furnace_sys::{Errno, ExitKind, Pidfd, Signal};
use rustix::pipe::{pipe_with, PipeFlags};

use crate::harness::{in_child, mkdir, read_ready_byte, spawn_helper, stop};

/// A child cgroup a test created; dropping it kills the processes in it and removes it.
struct TestCgroup {
    parent: CgroupDir,
    name: String,
    dir: CgroupDir,
    v2: bool,
}

impl TestCgroup {
    /// A new child of this process's own cgroup in the v1 hierarchy of `controller`.
    fn v1(controller: &str) -> TestCgroup {
        let parent = cgroup::own_cgroup_dir_v1(controller)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no v1 {controller} hierarchy"));
        TestCgroup::under(&parent, false)
    }

    /// A new child of this process's own cgroup in the v2 hierarchy.
    fn v2() -> TestCgroup {
        let parent = cgroup::own_cgroup_dir_v2()
            .unwrap_or_else(|e| panic!("{e}"))
            .expect("no v2 hierarchy");
        TestCgroup::under(&parent, true)
    }

    fn under(parent: &Path, v2: bool) -> TestCgroup {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("furnace-sys-test-{}-{n}", std::process::id());
        let parent = CgroupDir::open(parent).unwrap_or_else(|e| panic!("{e}"));
        let dir = parent.create_child(&name).unwrap_or_else(|e| panic!("{e}"));
        TestCgroup {
            parent,
            name,
            dir,
            v2,
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// SIGKILL to every process in the cgroup: `cgroup.kill` on v2; on v1, through a pidfd
    /// of each pid, taken only while the pid is still listed in the cgroup.
    fn kill_all(&self) {
        if self.v2 {
            let _ = self.dir.write("cgroup.kill", "1");
            return;
        }
        for pid in self.dir.procs().unwrap_or_default() {
            let Ok(pidfd) = Pidfd::open(pid) else {
                continue;
            };
            if self.dir.procs().unwrap_or_default().contains(&pid) {
                let _ = pidfd.send_signal(Signal::KILL);
            }
        }
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        self.kill_all();
        if let Err(e) = self.parent.remove_child(&self.name) {
            // No stderr lock in a forked test child: one raw write.
            let line = format!("cgroup test guard: {e}\n");
            let _ = write_all(rustix::stdio::stderr(), line.as_bytes());
        }
    }
}

/// Spawns a helper that joins the cgroups of `procs` (fds of their `cgroup.procs`), forks
/// `grandchildren` sleepers there, says it is ready and sleeps; the helper exits 2 if a join
/// fails.
fn spawn_joined(procs: Vec<OwnedFd>, grandchildren: usize) -> Pidfd {
    let (ready_r, ready_w) = pipe_with(PipeFlags::CLOEXEC).expect("pipe");
    let helper = spawn_helper(move || {
        for fd in &procs {
            if forksafe::join(fd.as_fd()).is_err() {
                return 2;
            }
        }
        for _ in 0..grandchildren {
            // SAFETY: the helper is single-threaded; the grandchild only sleeps until killed.
            if unsafe { libc::fork() } == 0 {
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            }
        }
        if write_all(ready_w.as_fd(), b"R").is_err() {
            return 3;
        }
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    });
    let n = read_ready_byte(&ready_r);
    if n != 1 {
        panic!("joining helper failed (2 = join): {:?}", helper.wait());
    }
    helper
}

/// Polls `file`'s `key` until it is `want`, for at most 2 s.
fn wait_keyed(dir: &CgroupDir, file: &str, key: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let got = dir.read_keyed(file, key).unwrap_or_else(|e| panic!("{e}"));
        if got == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{file}: {key} is {got:?}, not {want}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The line of `/proc/<pid>/cgroup` for a v1 `controller`, or the v2 line for `None`.
fn cgroup_of(pid: u32, controller: Option<&str>) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read cgroup");
    let lines = cgroup::parse_proc_cgroup(&text);
    let line = lines.iter().find(|l| match controller {
        Some(c) => l.has_controller(c),
        None => l.is_v2(),
    });
    line.expect("no such hierarchy").path.clone()
}

#[test]
fn this_host_is_hybrid_and_its_hierarchies_are_found() {
    assert_eq!(Layout::detect(), Ok(Layout::Hybrid));
    let v2 = cgroup::v2_mount_point().unwrap();
    assert_eq!(v2.as_deref(), Some(Path::new("/sys/fs/cgroup/unified")));
    let pids = cgroup::v1_mount_point("pids").unwrap();
    assert_eq!(pids.as_deref(), Some(Path::new("/sys/fs/cgroup/pids")));
    let systemd = cgroup::v1_mount_point("name=systemd").unwrap();
    assert_eq!(
        systemd.as_deref(),
        Some(Path::new("/sys/fs/cgroup/systemd"))
    );
    assert_eq!(cgroup::v1_mount_point("no-such-controller"), Ok(None));

    let own = cgroup::own_cgroups().unwrap();
    let memory = own.iter().find(|l| l.has_controller("memory")).unwrap();
    let relative = memory.path.strip_prefix("/").unwrap();
    let dir = cgroup::own_cgroup_dir_v1("memory").unwrap().unwrap();
    assert_eq!(dir, Path::new("/sys/fs/cgroup/memory").join(relative));
    let procs = CgroupDir::open(&dir).unwrap().procs().unwrap();
    assert!(procs.contains(&std::process::id()), "{procs:?}");
    let dir = cgroup::own_cgroup_dir_v2().unwrap().unwrap();
    assert!(
        dir.starts_with("/sys/fs/cgroup/unified"),
        "{}",
        dir.display()
    );
}

#[test]
fn detect_at_tells_the_layouts_apart_by_filesystem_type() {
    in_child("cgroup-layout", |scratch| {
        // The scratch directory is a tmpfs: legacy until a cgroup2 is bound at `unified/`.
        assert_eq!(Layout::detect_at(scratch), Ok(Layout::Legacy));
        let unified = scratch.join("unified");
        mkdir(&unified);
        assert_eq!(Layout::detect_at(scratch), Ok(Layout::Legacy));
        // A v1 hierarchy there is no unified one.
        mount::bind("/sys/fs/cgroup/pids", &unified).unwrap();
        assert_eq!(Layout::detect_at(scratch), Ok(Layout::Legacy));
        mount::umount2(&unified, mount::UnmountFlags::DETACH).unwrap();
        // A bind of the host's v2 hierarchy (binds, not new cgroup2 mounts: those would
        // reapply the hierarchy's mount options host-wide).
        let v2 = cgroup::v2_mount_point().unwrap().unwrap();
        mount::bind(&v2, &unified).unwrap();
        assert_eq!(Layout::detect_at(scratch), Ok(Layout::Hybrid));
        assert_eq!(Layout::detect_at(&unified), Ok(Layout::Unified));
    });
}

#[test]
fn v1_pids_child_takes_a_limit_and_a_joining_child() {
    in_child("cgroup-pids", |_| {
        let cg = TestCgroup::v1("pids");
        let dir = &cg.dir;
        assert!(cg.path().starts_with("/sys/fs/cgroup/pids"));
        // Names are never reused: a second mkdir of the same name fails.
        let again = cg.parent.create_child(&cg.name).unwrap_err();
        assert_eq!(again.errno(), Errno::EXIST);
        let listed = cg.parent.children_with_prefix(&cg.name).unwrap();
        assert_eq!(listed, vec![cg.name.clone()]);

        dir.write("pids.max", "5").unwrap();
        assert_eq!(dir.read_u64("pids.max"), Ok(Some(5)));
        dir.write("pids.max", "max").unwrap();
        assert_eq!(dir.read_u64("pids.max"), Ok(None));
        let err = dir.write("pids.max", "lots").unwrap_err();
        assert_eq!(err.errno(), Errno::INVAL);
        dir.write("pids.max", "5").unwrap();
        assert_eq!(dir.procs(), Ok(vec![]));

        let helper = spawn_joined(vec![dir.open_procs().unwrap()], 0);
        assert_eq!(dir.procs(), Ok(vec![helper.pid()]));
        assert_eq!(dir.read_u64("pids.current"), Ok(Some(1)));
        let inside = Path::new("/").join(&cg.name);
        assert_eq!(cgroup_of(helper.pid(), Some("pids")), inside);
        stop(&helper);
    });
}

/// A single-threaded process joins a v1 cgroup through its `tasks` file too (what furnace's
/// PID 1 and commands do, sparing the kernel's global threadgroup lock): the whole process
/// moves.
#[test]
fn v1_tasks_join_moves_a_single_threaded_process() {
    in_child("cgroup-tasks", |_| {
        let cg = TestCgroup::v1("pids");
        let helper = spawn_joined(vec![cg.dir.open_tasks().unwrap()], 0);
        assert_eq!(cg.dir.procs(), Ok(vec![helper.pid()]));
        let inside = Path::new("/").join(&cg.name);
        assert_eq!(cgroup_of(helper.pid(), Some("pids")), inside);
        stop(&helper);
    });
}

#[test]
fn v1_pids_limit_stops_a_fork_and_is_counted() {
    in_child("cgroup-pids-limit", |_| {
        let cg = TestCgroup::v1("pids");
        cg.dir.write("pids.max", "1").unwrap();
        assert_eq!(cg.dir.read_keyed("pids.events", "max"), Ok(Some(0)));
        let procs = cg.dir.open_procs().unwrap();
        let helper = spawn_helper(move || {
            if forksafe::join(procs.as_fd()).is_err() {
                return 2;
            }
            // SAFETY: the helper is single-threaded; a grandchild would only exit.
            match unsafe { libc::fork() } {
                0 => furnace_sys::process::forksafe::exit(0),
                -1 if std::io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN) => 0,
                _ => 3,
            }
        });
        assert_eq!(
            helper.wait().unwrap(),
            ExitKind::Exited(0),
            "2 = join, 3 = the fork was not refused"
        );
        assert_eq!(cg.dir.read_keyed("pids.events", "max"), Ok(Some(1)));
    });
}

#[test]
fn v1_memory_child_nests_in_the_callers_memory_cgroup() {
    in_child("cgroup-memory", |_| {
        let own = cgroup::own_cgroup_dir_v1("memory").unwrap().unwrap();
        let cg = TestCgroup::v1("memory");
        assert_eq!(cg.path().parent(), Some(own.as_path()));
        let dir = &cg.dir;
        dir.write("memory.limit_in_bytes", "33554432").unwrap();
        assert_eq!(dir.read_u64("memory.limit_in_bytes"), Ok(Some(32 << 20)));
        assert_eq!(
            dir.read_keyed("memory.oom_control", "oom_kill"),
            Ok(Some(0))
        );
        assert_eq!(
            dir.read_keyed("memory.oom_control", "no_such_key"),
            Ok(None)
        );
        assert_eq!(dir.read_keyed("memory.stat", "rss"), Ok(Some(0)));
    });
}

#[test]
fn unified_child_freezes_and_is_killed_whole_through_cgroup_kill() {
    in_child("cgroup-kill", |_| {
        let cg = TestCgroup::v2();
        let dir = &cg.dir;
        assert_eq!(dir.read_keyed("cgroup.events", "populated"), Ok(Some(0)));
        let helper = spawn_joined(vec![dir.open_procs().unwrap()], 2);
        let mut procs = dir.procs().unwrap();
        procs.sort();
        assert_eq!(procs.len(), 3, "{procs:?}");
        assert!(procs.contains(&helper.pid()));
        let inside = Path::new("/").join(&cg.name);
        assert_eq!(cgroup_of(helper.pid(), None), inside);
        assert_eq!(dir.read_keyed("cgroup.events", "populated"), Ok(Some(1)));

        dir.write("cgroup.freeze", "1").unwrap();
        wait_keyed(dir, "cgroup.events", "frozen", 1);
        dir.write("cgroup.kill", "1").unwrap();
        assert!(helper
            .wait_exit_timeout(Some(Duration::from_secs(5)))
            .unwrap());
        assert_eq!(helper.wait().unwrap(), ExitKind::Signaled(libc::SIGKILL));
        // The grandchildren, not ours to reap, go too.
        wait_keyed(dir, "cgroup.events", "populated", 0);
        assert_eq!(dir.procs(), Ok(vec![]));

        let path = cg.path();
        cg.parent.remove_child(&cg.name).unwrap();
        assert!(!path.exists(), "{} is still there", path.display());
        // Removing what is gone is no error; the guard does it once more.
        cg.parent.remove_child(&cg.name).unwrap();
        assert!(cg.parent.children_with_prefix(&cg.name).unwrap().is_empty());
    });
}

#[test]
fn remove_child_of_a_busy_cgroup_retries_then_fails_with_ebusy() {
    in_child("cgroup-busy", |_| {
        let cg = TestCgroup::v2();
        let helper = spawn_joined(vec![cg.dir.open_procs().unwrap()], 0);
        let start = Instant::now();
        let err = cg.parent.remove_child(&cg.name).unwrap_err();
        let took = start.elapsed();
        assert_eq!(err.errno(), Errno::BUSY, "{err}");
        assert_eq!(err.call(), "unlinkat");
        assert_eq!(err.path(), Some(cg.path().as_path()));
        assert!(
            took >= forksafe::REMOVE_BUSY_BUDGET && took < Duration::from_secs(3),
            "gave up after {took:?}"
        );
        assert!(cg.path().exists());
        // A cgroup with a child cgroup is busy too.
        stop(&helper);
        let grandchild = cg.dir.create_child("inner").unwrap();
        drop(grandchild);
        let err = cg.parent.remove_child(&cg.name).unwrap_err();
        assert_eq!(err.errno(), Errno::BUSY);
        cg.dir.remove_child("inner").unwrap();
    });
}

#[test]
fn both_hierarchies_are_joined_by_one_child() {
    in_child("cgroup-both", |_| {
        let v1 = TestCgroup::v1("pids");
        let v2 = TestCgroup::v2();
        let fds = vec![v1.dir.open_procs().unwrap(), v2.dir.open_procs().unwrap()];
        let helper = spawn_joined(fds, 0);
        assert_eq!(v1.dir.procs(), Ok(vec![helper.pid()]));
        assert_eq!(v2.dir.procs(), Ok(vec![helper.pid()]));
        // The guards kill it (v2 first: it is dropped first) and remove both.
        drop(v2);
        assert!(helper
            .wait_exit_timeout(Some(Duration::from_secs(5)))
            .unwrap());
        drop(v1);
        assert_eq!(helper.wait().unwrap(), ExitKind::Signaled(libc::SIGKILL));
    });
}
