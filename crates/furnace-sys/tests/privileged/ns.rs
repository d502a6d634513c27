//! Namespaces: `unshare`, `setns` through an ns fd and a pidfd, `clone3` into new ones.

use std::fs;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;

use furnace_sys::process::forksafe::{clone3, exit, Forked};
use furnace_sys::process::{self};
use furnace_sys::{Errno, ExitKind, Namespace, Namespaces, NsFd, Pidfd};

use crate::harness::{
    in_child, nodename, ns_link, require_root, spawn_helper, spawn_ns_helper, stop,
};

#[test]
fn unshare_gives_new_mnt_uts_ipc_net_namespaces() {
    require_root();
    let host: Vec<PathBuf> = ["mnt", "uts", "ipc", "net"]
        .iter()
        .map(|name| ns_link("thread-self", name))
        .collect();
    in_child("unshare", |_| {
        let me = std::process::id();
        let link = |ns: Namespace| {
            fs::read_link(ns.proc_path(me)).unwrap_or_else(|e| panic!("readlink {ns}: {e}"))
        };
        // The harness already unshared the mount namespace.
        assert_ne!(link(Namespace::Mnt), host[0]);
        let kinds = [Namespace::Uts, Namespace::Ipc, Namespace::Net];
        let before: Vec<PathBuf> = kinds.iter().map(|&ns| link(ns)).collect();
        assert_eq!(before, host[1..], "uts, ipc, net are still the host's");

        furnace_sys::unshare(Namespaces::UTS | Namespaces::IPC | Namespaces::NET).unwrap();
        for (&ns, old) in kinds.iter().zip(&before) {
            let new = link(ns);
            assert_ne!(&new, old, "{ns} namespace did not change");
            assert!(new
                .to_string_lossy()
                .starts_with(&format!("{}:[", ns.proc_name())));
        }

        // Once more for the mount namespace, and pid, which only applies to children.
        let mnt = link(Namespace::Mnt);
        let pid = link(Namespace::Pid);
        furnace_sys::unshare(Namespaces::MNT | Namespaces::PID).unwrap();
        assert_ne!(link(Namespace::Mnt), mnt);
        assert_eq!(link(Namespace::Pid), pid);
        let init = spawn_helper(|| loop {
            std::thread::sleep(Duration::from_secs(3600));
        });
        let child_pid_ns = ns_link(&init.pid().to_string(), "pid");
        assert_ne!(child_pid_ns, pid);
        assert_eq!(ns_link("self", "pid_for_children"), child_pid_ns);
        stop(&init);
    });
}

#[test]
fn sethostname_in_a_new_uts_namespace_leaves_the_host_alone() {
    require_root();
    let host = nodename();
    in_child("sethostname", |_| {
        furnace_sys::unshare(Namespaces::UTS).unwrap();
        process::sethostname("furnace-uts-test").unwrap();
        assert_eq!(nodename(), "furnace-uts-test");
        let long = "x".repeat(100);
        let err = process::sethostname(&long).unwrap_err();
        assert_eq!(err.errno(), Errno::INVAL);
        assert_eq!(
            err.to_string(),
            format!("sethostname {long}: EINVAL (Invalid argument)")
        );
    });
    assert_ne!(host, "furnace-uts-test");
    assert_eq!(nodename(), host, "the host's hostname changed");
}

#[test]
fn nsfd_enter_joins_another_process_uts_namespace() {
    in_child("nsfd", |_| {
        let own = ns_link("self", "uts");
        let helper = spawn_ns_helper(Namespaces::UTS, "furnace-ns-test");
        let helper_uts = ns_link(&helper.pid().to_string(), "uts");
        assert_ne!(helper_uts, own);
        assert_ne!(nodename(), "furnace-ns-test");

        let ns = NsFd::open(helper.pid(), Namespace::Uts).unwrap();
        assert_eq!(ns.kind(), Namespace::Uts);
        // The kernel checks the kind: a net namespace is no uts namespace.
        let wrong =
            NsFd::open_path(Namespace::Net.proc_path(helper.pid()), Namespace::Uts).unwrap();
        let err = wrong.enter().unwrap_err();
        assert_eq!(err.errno(), Errno::INVAL);
        assert_eq!(
            err.to_string(),
            "setns uts namespace: EINVAL (Invalid argument)"
        );

        ns.enter().unwrap();
        assert_eq!(nodename(), "furnace-ns-test");
        assert_eq!(ns_link("self", "uts"), helper_uts);
        stop(&helper);
        // The handle keeps the namespace alive after its last process is gone.
        NsFd::open(std::process::id(), Namespace::Uts)
            .unwrap()
            .enter()
            .unwrap();
        assert_eq!(nodename(), "furnace-ns-test");
    });
}

#[test]
fn setns_pidfd_joins_another_process_namespaces() {
    in_child("setns-pidfd", |_| {
        let helper = spawn_ns_helper(Namespaces::UTS | Namespaces::IPC, "furnace-ns-test");
        let who = helper.pid().to_string();
        assert_ne!(ns_link("self", "uts"), ns_link(&who, "uts"));
        assert_ne!(ns_link("self", "ipc"), ns_link(&who, "ipc"));

        furnace_sys::setns_pidfd(helper.as_fd(), Namespaces::UTS | Namespaces::IPC).unwrap();
        assert_eq!(nodename(), "furnace-ns-test");
        assert_eq!(ns_link("self", "uts"), ns_link(&who, "uts"));
        assert_eq!(ns_link("self", "ipc"), ns_link(&who, "ipc"));

        stop(&helper);
        let err = furnace_sys::setns_pidfd(helper.as_fd(), Namespaces::UTS).unwrap_err();
        assert_eq!(err.errno(), Errno::SRCH);
        assert_eq!(err.to_string(), "setns pidfd uts: ESRCH (No such process)");
    });
}

#[test]
fn clone3_child_in_new_pid_namespace_is_pid_1() {
    in_child("clone3", |_| {
        let host = nodename();
        // SAFETY: this test child has a single thread; the clone3 child makes raw system calls
        // only and leaves through `exit`.
        let forked = unsafe { clone3(Namespaces::PID | Namespaces::UTS) }.expect("clone3");
        match forked {
            Forked::Child => {
                let code = if rustix::process::getpid().as_raw_nonzero().get() != 1 {
                    2
                } else if rustix::process::getppid().is_some() {
                    3
                } else if rustix::system::sethostname(b"furnace-clone3").is_err() {
                    4
                } else {
                    0
                };
                exit(code)
            }
            Forked::Parent { pid, pidfd } => {
                assert_ne!(pid, 1);
                let child = Pidfd::from_owned(pidfd, pid);
                assert_eq!(child.pid(), pid);
                assert_eq!(
                    child.wait().unwrap(),
                    ExitKind::Exited(0),
                    "2 = not pid 1, 3 = sees a parent, 4 = sethostname failed"
                );
                // The hostname it set was its own uts namespace's.
                assert_eq!(nodename(), host);
            }
        }
    });
}
