//! Capabilities and credentials: the `caps` sets, and what a child gives up before exec.

use furnace_sys::caps::{self, Cap, CapSet};
use furnace_sys::cred::{forksafe, CapabilitySet, Gid, Uid};
use furnace_sys::mount::{self, MountFlags};
use furnace_sys::{Errno, ExitKind};

use crate::harness::{in_child, mkdir, require_root, spawn_helper, status_hex};

#[test]
fn caps_read_and_drop_in_a_forked_child() {
    require_root();
    in_child("caps", |scratch| {
        let bounding = caps::read(CapSet::Bounding).unwrap();
        assert!(bounding.contains(&Cap::CAP_NET_RAW) && bounding.contains(&Cap::CAP_SYS_ADMIN));
        assert!(caps::has_effective(Cap::CAP_SYS_ADMIN).unwrap());
        assert!(caps::read(CapSet::Effective)
            .unwrap()
            .is_subset(&caps::read(CapSet::Permitted).unwrap()));

        caps::drop_cap(CapSet::Bounding, Cap::CAP_NET_RAW).unwrap();
        assert!(!caps::read(CapSet::Bounding)
            .unwrap()
            .contains(&Cap::CAP_NET_RAW));
        assert_eq!(status_hex("CapBnd") & Cap::CAP_NET_RAW.bitmask(), 0);
        // The bounding set only limits what exec can grant: the effective set still has it.
        assert!(caps::has_effective(Cap::CAP_NET_RAW).unwrap());

        caps::drop_cap(CapSet::Effective, Cap::CAP_SYS_ADMIN).unwrap();
        assert!(!caps::has_effective(Cap::CAP_SYS_ADMIN).unwrap());
        assert_eq!(status_hex("CapEff") & Cap::CAP_SYS_ADMIN.bitmask(), 0);
        let target = scratch.join("x");
        mkdir(&target);
        let err =
            mount::mount(Some("tmpfs"), &target, "tmpfs", MountFlags::empty(), None).unwrap_err();
        assert_eq!(err.errno(), Errno::PERM);
        assert!(
            err.to_string()
                .ends_with(": EPERM (Operation not permitted)"),
            "{err}"
        );
    });
    // The parent's sets are untouched.
    assert!(caps::read(CapSet::Bounding)
        .unwrap()
        .contains(&Cap::CAP_NET_RAW));
    assert!(caps::has_effective(Cap::CAP_SYS_ADMIN).unwrap());
}

#[test]
fn caps_restrict_to_a_small_set() {
    in_child("caps-restrict", |_| {
        let keep: ::caps::CapsHashSet = [Cap::CAP_CHOWN, Cap::CAP_SYS_ADMIN].into_iter().collect();
        caps::restrict_to(&keep).unwrap();
        for set in [CapSet::Bounding, CapSet::Permitted, CapSet::Effective] {
            assert_eq!(caps::read(set).unwrap(), keep, "{set:?}");
        }
        assert!(caps::read(CapSet::Inheritable).unwrap().is_empty());
        assert!(caps::read(CapSet::Ambient).unwrap().is_empty());
        let expected = Cap::CAP_CHOWN.bitmask() | Cap::CAP_SYS_ADMIN.bitmask();
        assert_eq!(status_hex("CapBnd"), expected);
        assert_eq!(status_hex("CapEff"), expected);
        // CAP_SETPCAP is gone with the rest: the bounding set can no longer be changed.
        let err = caps::drop_cap(CapSet::Bounding, Cap::CAP_CHOWN).unwrap_err();
        assert_eq!(err.errno(), Errno::PERM);
        assert_eq!(
            err.to_string(),
            "prctl PR_CAPBSET_DROP CAP_CHOWN: EPERM (Operation not permitted)"
        );
        assert!(caps::read(CapSet::Bounding)
            .unwrap()
            .contains(&Cap::CAP_CHOWN));
        // What is kept still works.
        assert!(caps::has_effective(Cap::CAP_SYS_ADMIN).unwrap());
    });
}

#[test]
fn caps_drop_from_the_other_sets() {
    in_child("caps-drop", |_| {
        caps::drop_cap(CapSet::Permitted, Cap::CAP_NET_ADMIN).unwrap();
        // Gone from the effective set too, which may not hold more than the permitted one.
        assert!(!caps::read(CapSet::Permitted)
            .unwrap()
            .contains(&Cap::CAP_NET_ADMIN));
        assert!(!caps::has_effective(Cap::CAP_NET_ADMIN).unwrap());
        // Permitted capabilities cannot come back; the kernel's own errno says so.
        let mut sets = rustix::thread::capabilities(None).unwrap();
        sets.permitted |= CapabilitySet::NET_ADMIN;
        assert_eq!(
            rustix::thread::set_capabilities(None, sets),
            Err(Errno::PERM)
        );
        caps::drop_cap(CapSet::Ambient, Cap::CAP_NET_ADMIN).unwrap();
        caps::drop_cap(CapSet::Inheritable, Cap::CAP_CHOWN).unwrap();
        assert!(caps::read(CapSet::Ambient).unwrap().is_empty());
    });
}

#[test]
fn cred_restrict_capabilities_keeps_only_what_is_asked() {
    in_child("cred-restrict", |_| {
        let keep = CapabilitySet::CHOWN | CapabilitySet::SETUID;
        forksafe::restrict_capabilities(keep).unwrap();
        assert_eq!(status_hex("CapBnd"), keep.bits());
        assert_eq!(status_hex("CapEff"), keep.bits());
        assert_eq!(status_hex("CapPrm"), keep.bits());
        assert_eq!(status_hex("CapInh"), 0);
        assert_eq!(status_hex("CapAmb"), 0);
        // Without CAP_SETPCAP the bounding set can no longer shrink.
        assert_eq!(
            forksafe::restrict_capabilities(CapabilitySet::CHOWN),
            Err(Errno::PERM)
        );
    });
}

#[test]
fn cred_set_ids_sessions_and_keyrings() {
    in_child("cred-ids", |_| {
        let helper = spawn_helper(|| {
            let session_keyring = || {
                const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
                const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
                // SAFETY: KEYCTL_GET_KEYRING_ID takes two numbers and reads no memory.
                unsafe {
                    libc::syscall(
                        libc::SYS_keyctl,
                        KEYCTL_GET_KEYRING_ID,
                        KEY_SPEC_SESSION_KEYRING,
                        1,
                    )
                }
            };
            let before = session_keyring();
            if forksafe::join_new_session_keyring().is_err() || session_keyring() == before {
                return 2;
            }
            let me = rustix::process::getpid();
            if forksafe::new_session().is_err() || rustix::process::getsid(None) != Ok(me) {
                return 3;
            }
            if forksafe::no_new_privs().is_err() || rustix::thread::no_new_privs() != Ok(true) {
                return 4;
            }
            let nobody = (Uid::from_raw(65534), Gid::from_raw(65534));
            if forksafe::set_ids(Some(nobody.0), Some(nobody.1)).is_err() {
                return 5;
            }
            let groups = rustix::process::getgroups().unwrap_or_default();
            if rustix::process::getuid() != nobody.0
                || rustix::process::getgid() != nobody.1
                || !groups.is_empty()
            {
                return 6;
            }
            // Root is gone for good.
            match forksafe::set_ids(Some(Uid::ROOT), None) {
                Err(Errno::PERM) => 0,
                _ => 7,
            }
        });
        assert_eq!(
            helper.wait().unwrap(),
            ExitKind::Exited(0),
            "2 = keyring, 3 = setsid, 4 = no_new_privs, 5 = set_ids, 6 = ids, 7 = back to root"
        );
    });
}
