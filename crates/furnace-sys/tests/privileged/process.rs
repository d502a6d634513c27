//! Processes: pidfds, `prctl` settings, and what a forked child changes about itself.

use std::fs;
use std::time::{Duration, Instant};

use furnace_sys::process::forksafe::{self, exit};
use furnace_sys::process::{self, ProcessStrings};
use furnace_sys::signal::forksafe as signal;
use furnace_sys::{Errno, ExitKind, Namespaces, Pidfd, Signal};
use rustix::fs::Mode;

use crate::harness::{in_child, spawn_helper, status_hex};

#[test]
fn pidfd_open_send_signal_and_wait() {
    in_child("pidfd", |_| {
        let sleeper = spawn_helper(|| loop {
            std::thread::sleep(Duration::from_secs(3600));
        });
        assert!(!sleeper.has_exited().unwrap());
        assert_eq!(sleeper.try_wait().unwrap(), None);
        assert!(!sleeper
            .wait_exit_timeout(Some(Duration::from_millis(50)))
            .unwrap());

        sleeper.send_signal(Signal::TERM).unwrap();
        assert!(sleeper
            .wait_exit_timeout(Some(Duration::from_secs(30)))
            .unwrap());
        assert!(sleeper.has_exited().unwrap());
        assert_eq!(sleeper.wait().unwrap(), ExitKind::Signaled(libc::SIGTERM));

        // Reaped: the pidfd stays valid but the process is gone.
        let err = sleeper.send_signal(Signal::TERM).unwrap_err();
        assert_eq!(err.errno(), Errno::SRCH);
        assert!(
            err.to_string().starts_with("pidfd_send_signal ")
                && err.to_string().ends_with(&format!(
                    "to pid {}: ESRCH (No such process)",
                    sleeper.pid()
                )),
            "{err}"
        );

        let quitter = spawn_helper(|| 7);
        assert!(quitter.wait_exit_timeout(None).unwrap());
        assert_eq!(quitter.wait().unwrap(), ExitKind::Exited(7));

        // Only the parent may reap.
        let parent = rustix::process::getppid().expect("a parent");
        let parent = Pidfd::open(parent.as_raw_nonzero().get() as u32).unwrap();
        let err = parent.try_wait().unwrap_err();
        assert_eq!(err.errno(), Errno::CHILD);
        assert!(err.to_string().starts_with("waitid pidfd of pid "), "{err}");
    });
}

#[test]
fn prctl_settings_take_effect() {
    in_child("prctl", |_| {
        process::set_parent_death_signal(Some(Signal::TERM)).unwrap();
        assert_eq!(
            rustix::process::parent_process_death_signal().unwrap(),
            Some(Signal::TERM)
        );
        process::set_parent_death_signal(None).unwrap();
        assert_eq!(
            rustix::process::parent_process_death_signal().unwrap(),
            None
        );

        process::set_dumpable(false).unwrap();
        assert_eq!(
            rustix::process::dumpable_behavior().unwrap(),
            rustix::process::DumpableBehavior::NotDumpable
        );
        process::set_dumpable(true).unwrap();

        process::set_no_new_privs().unwrap();
        assert!(rustix::thread::no_new_privs().unwrap());
        assert_eq!(status_hex("NoNewPrivs"), 1);

        // Child subreaper: an orphaned grandchild is reparented to us, not to init.
        process::set_child_subreaper(true).unwrap();
        assert!(rustix::process::child_subreaper().unwrap().is_some());
        let me = rustix::process::getpid();
        let middle = spawn_helper(move || {
            // SAFETY: the helper is single-threaded; the grandchild leaves through `_exit`.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let deadline = Instant::now() + Duration::from_secs(30);
                while rustix::process::getppid() != Some(me) {
                    if Instant::now() > deadline {
                        exit(1);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                exit(0);
            }
            if pid > 0 {
                0
            } else {
                2
            }
        });
        assert_eq!(middle.wait().unwrap(), ExitKind::Exited(0));
        let (_, status) = rustix::process::waitpid(None, rustix::process::WaitOptions::empty())
            .unwrap()
            .expect("the orphan was reparented to the subreaper");
        assert_eq!(
            status.exit_status(),
            Some(0),
            "the orphan saw another parent"
        );
        process::set_child_subreaper(false).unwrap();
        assert!(rustix::process::child_subreaper().unwrap().is_none());
    });
}

#[test]
fn forksafe_settings_of_a_forked_child() {
    in_child("process-forksafe", |_| {
        forksafe::set_name(c"furnace-named").unwrap();
        let comm = fs::read_to_string("/proc/thread-self/comm").unwrap();
        assert_eq!(comm, "furnace-named\n");

        let before = forksafe::umask(Mode::empty());
        assert_eq!(forksafe::umask(before), Mode::empty());

        forksafe::set_dumpable(false).unwrap();
        assert_eq!(
            rustix::process::dumpable_behavior().unwrap(),
            rustix::process::DumpableBehavior::NotDumpable
        );
        forksafe::set_dumpable(true).unwrap();

        furnace_sys::ns::forksafe::unshare(Namespaces::UTS).unwrap();
        forksafe::sethostname(b"furnace-forksafe").unwrap();
        assert_eq!(
            rustix::system::uname().nodename().to_bytes(),
            b"furnace-forksafe"
        );
        assert_eq!(forksafe::sethostname(&[b'x'; 100]), Err(Errno::INVAL));
    });
}

#[test]
fn process_strings_are_overwritten_in_a_forked_child() {
    in_child("process-strings", |_| {
        let strings = ProcessStrings::of_self().expect("read /proc/self/stat");
        let helper = spawn_helper(move || {
            // SAFETY: the ranges were read in our parent, whose copy this single-threaded
            // helper is; nothing reads the arguments or the environment afterwards.
            unsafe { strings.overwrite(b"furnace-renamed") };
            let cmdline = fs::read("/proc/self/cmdline").unwrap_or_default();
            let environ = fs::read("/proc/self/environ").unwrap_or_default();
            if !cmdline.starts_with(b"furnace-renamed") {
                return 2;
            }
            if environ.iter().any(|&b| b != 0) {
                return 3;
            }
            0
        });
        assert_eq!(
            helper.wait().unwrap(),
            ExitKind::Exited(0),
            "2 = cmdline kept, 3 = environ kept"
        );
    });
}

#[test]
fn forksafe_signal_resets_of_a_forked_child() {
    in_child("signals", |_| {
        let helper = spawn_helper(|| {
            // Ignored and blocked, as a parent might leave them.
            // SAFETY: SIG_IGN is a valid disposition for SIGUSR1.
            unsafe { libc::signal(libc::SIGUSR1, libc::SIG_IGN) };
            // SAFETY: an all-zero sigset is valid for sigaddset to fill in, then read.
            let blocked = unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigaddset(&mut set, libc::SIGUSR2);
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) == 0
            };
            if !blocked || signal::is_ignored(Signal::USR1) != Ok(true) {
                return 2;
            }
            if signal::reset_signals().is_err() || signal::is_ignored(Signal::USR1) != Ok(false) {
                return 3;
            }
            if status_hex("SigBlk") != 0 {
                return 4;
            }
            // Children that exit are reaped by the kernel: nothing is left to wait for.
            if signal::autoreap_children().is_err() {
                return 5;
            }
            // SAFETY: this helper is single-threaded; the grandchild only calls `_exit`.
            if unsafe { libc::fork() } == 0 {
                exit(0);
            }
            match rustix::process::wait(rustix::process::WaitOptions::empty()) {
                Err(Errno::CHILD) => 0,
                _ => 6,
            }
        });
        assert_eq!(
            helper.wait().unwrap(),
            ExitKind::Exited(0),
            "2 = set-up, 3 = reset, 4 = still blocked, 5 = autoreap, 6 = a zombie was left"
        );
        // The test child's own dispositions are untouched.
        assert_eq!(signal::is_ignored(Signal::USR1), Ok(false));
    });
}
