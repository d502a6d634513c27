//! User namespaces: entering one alone (one id, `setgroups` denied) and through the
//! `newuidmap`/`newgidmap` helpers (Debian's `uidmap` package, which `cargo xtask` installs).

use furnace_sys::userns::{
    enter_single, enter_with_helpers, find_helper, is_initial, own_map, setgroups_allowed, IdKind,
    IdMap,
};
use furnace_sys::ExitKind;

use crate::harness::in_child;

fn helper(kind: IdKind) -> std::path::PathBuf {
    find_helper(kind).unwrap_or_else(|| {
        panic!(
            "{} is not installed: apt-get install uidmap (cargo xtask installs it)",
            kind.helper()
        )
    })
}

#[test]
fn entering_alone_maps_one_id_and_denies_setgroups() {
    in_child("userns-single", |_| {
        assert!(is_initial(&own_map(IdKind::User).unwrap()));
        enter_single(0, 0).unwrap();
        // Root outside is 0 inside, and nothing else is mapped.
        assert_eq!(own_map(IdKind::User).unwrap(), [IdMap::new(0, 0, 1)]);
        assert_eq!(own_map(IdKind::Group).unwrap(), [IdMap::new(0, 0, 1)]);
        assert!(!setgroups_allowed().unwrap());
        assert_eq!(rustix::process::getuid().as_raw(), 0);
        // The process holds every capability of its new namespace.
        assert!(furnace_sys::caps::has_effective(furnace_sys::caps::Cap::CAP_SYS_ADMIN).unwrap());
    });
}

#[test]
fn helpers_write_the_maps_of_the_new_namespace() {
    let (newuidmap, newgidmap) = (helper(IdKind::User), helper(IdKind::Group));
    in_child("userns-helpers", |_| {
        let map = [IdMap::new(0, 0, 1)];
        let outcome = enter_with_helpers(&map, &map, &newuidmap, &newgidmap).unwrap();
        assert!(outcome.uid_map.is_none(), "{:?}", outcome.uid_map);
        assert!(outcome.gid_map.is_none(), "{:?}", outcome.gid_map);
        assert_eq!(own_map(IdKind::User).unwrap(), map);
        assert_eq!(own_map(IdKind::Group).unwrap(), map);
    });
}

#[test]
fn a_helper_that_fails_is_reported_and_its_map_left_unwritten() {
    let newgidmap = helper(IdKind::Group);
    in_child("userns-helper-fails", |_| {
        let map = [IdMap::new(0, 0, 1)];
        // `/bin/false` stands in for a newuidmap that refuses the ranges.
        let outcome =
            enter_with_helpers(&map, &map, std::path::Path::new("/bin/false"), &newgidmap).unwrap();
        let failure = outcome.uid_map.expect("the uid helper failed");
        assert_eq!(failure.how, Some(ExitKind::Exited(1)));
        assert!(failure.command.starts_with("/bin/false "), "{failure}");
        assert!(
            failure.to_string().contains("exited with status 1"),
            "{failure}"
        );
        assert!(outcome.gid_map.is_none());
        assert!(
            own_map(IdKind::User).unwrap().is_empty(),
            "uid_map unwritten"
        );
        assert_eq!(own_map(IdKind::Group).unwrap(), map);
    });
}

/// Regression (issue 11 review): when the `unshare` fails (here: the process has a second
/// thread, which the kernel refuses a user namespace with `EINVAL`), the helpers forked before
/// it see end of file and exit, and the error comes back — before, each helper held a copy of
/// the pipe's write end and the call never returned (the harness's child timeout catches a
/// hang).
#[test]
fn a_refused_unshare_releases_the_helpers_and_returns_the_error() {
    let (newuidmap, newgidmap) = (helper(IdKind::User), helper(IdKind::Group));
    in_child("userns-refused", |_| {
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let second = std::thread::spawn(move || {
            let _ = stop_rx.recv();
        });
        let map = [IdMap::new(0, 0, 1)];
        let err = enter_with_helpers(&map, &map, &newuidmap, &newgidmap)
            .expect_err("a multi-threaded process cannot unshare a user namespace");
        assert_eq!(err.errno(), furnace_sys::Errno::INVAL, "{err}");
        assert!(
            err.to_string().starts_with("unshare CLONE_NEWUSER"),
            "{err}"
        );
        assert!(
            is_initial(&own_map(IdKind::User).unwrap()),
            "still the initial namespace"
        );
        let _ = stop_tx.send(());
        let _ = second.join();
    });
}
