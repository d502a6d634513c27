//! Mounts through the fork-safe tier: detached trees (`open_tree`, `fsmount`), attaching them
//! onto fds (`move_mount`), `mount_setattr`, and pivoting into a new root.

use std::fs;
use std::os::fd::AsFd;
use std::path::Path;

use furnace_sys::fs::forksafe::cwd_is_reachable;
use furnace_sys::mount::{self, forksafe, MountAttrFlags, MountFlags, Propagation, UnmountFlags};
use furnace_sys::mountinfo;
use furnace_sys::Errno;
use rustix::fs::{Mode, CWD};

use crate::harness::{
    assert_mount_point, assert_read_only, cpath, has_mount_at, in_child, mkdir, mount_at,
    mount_tmpfs, open_path,
};

#[test]
fn pivot_root_into_a_tmpfs_with_dot_dot() {
    in_child("pivot-root", |scratch| {
        let new_root = scratch.join("newroot");
        mount_tmpfs("furnace-newroot", &new_root, MountFlags::empty());
        fs::write(new_root.join("marker"), b"furnace-pivot").unwrap();
        mkdir(&new_root.join("proc"));
        // A directory of the old root, kept open across the pivot.
        let outside = rustix::fs::open(
            scratch,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();

        rustix::process::chdir(&new_root).unwrap();
        mount::pivot_root(".", ".").unwrap();
        mount::umount2(".", UnmountFlags::DETACH).unwrap();
        rustix::process::chdir("/").unwrap();

        assert_eq!(fs::read("/marker").unwrap(), b"furnace-pivot");
        let mut names: Vec<_> = fs::read_dir("/")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["marker", "proc"],
            "no directory for the old root was needed"
        );

        mount::mount(
            Some("proc"),
            "/proc",
            "proc",
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            None,
        )
        .unwrap();
        let table = mountinfo::read(None).unwrap();
        assert_eq!(
            table.len(),
            2,
            "only the new root and /proc are left: {table:#?}"
        );
        let root = &table[0];
        assert_eq!(root.mount_point, Path::new("/"));
        assert_eq!(
            (root.fs_type.as_str(), root.source.to_str()),
            ("tmpfs", Some("furnace-newroot"))
        );
        assert_eq!(table[1].mount_point, Path::new("/proc"));
        assert_mount_point(Path::new("/"), true);

        // The old root is out of reach: a directory fd of it is an unreachable cwd.
        assert_eq!(cwd_is_reachable(), Ok(true));
        rustix::process::fchdir(&outside).unwrap();
        assert_eq!(cwd_is_reachable(), Ok(false));
        rustix::process::chdir("/").unwrap();
    });
}

#[test]
fn make_tree_read_only_covers_submounts_of_an_open_tree() {
    in_child("tree-ro", |scratch| {
        let src = scratch.join("src");
        mount_tmpfs("furnace-top", &src, MountFlags::empty());
        mount_tmpfs("furnace-nested", &src.join("sub"), MountFlags::empty());
        let dst = scratch.join("dst");
        mkdir(&dst);

        let tree = forksafe::open_tree_clone(CWD, &cpath(&src), true).unwrap();
        forksafe::make_tree_read_only(tree.as_fd()).unwrap();
        forksafe::move_mount(tree.as_fd(), open_path(&dst).as_fd()).unwrap();

        assert_mount_point(&dst, true);
        assert_mount_point(&dst.join("sub"), true);
        assert_read_only(&dst.join("f"));
        assert_read_only(&dst.join("sub/f"));
        assert!(mount_at(&dst).is_read_only());
        assert!(mount_at(&dst.join("sub")).is_read_only());
        // The original tree is untouched, and the clone shows its files.
        fs::write(src.join("f"), b"top").unwrap();
        fs::write(src.join("sub/f"), b"nested").unwrap();
        assert_eq!(fs::read(dst.join("sub/f")).unwrap(), b"nested");
        assert!(!mount_at(&src).is_read_only());
        assert!(!mount_at(&src.join("sub")).is_read_only());
    });
}

#[test]
fn fsmount_makes_a_tmpfs_with_options_and_attaches_it_onto_an_fd() {
    in_child("fsmount", |scratch| {
        let dir = scratch.join("fresh");
        mkdir(&dir);
        let target = open_path(&dir);
        let options = [(c"size", Some(c"1m")), (c"mode", Some(c"0700"))];
        let attrs = (MountFlags::NOSUID | MountFlags::NODEV).mount_attrs();
        let tree = forksafe::fsmount(c"tmpfs", options, attrs).unwrap();
        // Detached: nothing is mounted on the directory yet.
        assert_mount_point(&dir, false);
        forksafe::move_mount(tree.as_fd(), target.as_fd()).unwrap();

        let m = mount_at(&dir);
        assert_eq!(m.fs_type, "tmpfs");
        for opt in ["rw", "nosuid", "nodev"] {
            assert!(m.mount_options.iter().any(|o| o == opt), "{opt}: {m:?}");
        }
        assert!(m.super_options.iter().any(|o| o == "size=1024k"), "{m:?}");
        assert!(m.super_options.iter().any(|o| o == "mode=700"), "{m:?}");
        fs::write(dir.join("file"), b"x").unwrap();

        // A flag option, and the errors of each step.
        let ro = forksafe::fsmount(c"tmpfs", [(c"ro", None)], MountAttrFlags::empty()).unwrap();
        drop(ro);
        let unknown = [(c"furnace-no-such-option", None)];
        let err = forksafe::fsmount(c"tmpfs", unknown, MountAttrFlags::empty()).unwrap_err();
        assert_eq!(err, Errno::INVAL);
        let err = forksafe::fsmount(c"furnace-nofs", [], MountAttrFlags::empty()).unwrap_err();
        assert_eq!(err, Errno::NODEV);
    });
}

#[test]
fn a_cloned_tree_attaches_onto_a_file_and_an_empty_path_clones_the_fd() {
    in_child("attach", |scratch| {
        let (src, dst) = (scratch.join("src"), scratch.join("dst"));
        fs::write(&src, b"source").unwrap();
        fs::write(&dst, b"target").unwrap();
        let tree = forksafe::open_tree_clone(CWD, &cpath(&src), false).unwrap();
        forksafe::move_mount(tree.as_fd(), open_path(&dst).as_fd()).unwrap();
        assert_eq!(fs::read(&dst).unwrap(), b"source");
        assert!(has_mount_at(&dst));

        // AT_EMPTY_PATH: the mount the fd refers to, submounts included.
        let top = scratch.join("top");
        mount_tmpfs("furnace-top", &top, MountFlags::empty());
        mount_tmpfs("furnace-sub", &top.join("sub"), MountFlags::empty());
        let copy = scratch.join("copy");
        mkdir(&copy);
        let tree = forksafe::open_tree_clone(open_path(&top).as_fd(), c"", true).unwrap();
        forksafe::move_mount(tree.as_fd(), open_path(&copy).as_fd()).unwrap();
        assert_eq!(mount_at(&copy).source, "furnace-top");
        assert_eq!(mount_at(&copy.join("sub")).source, "furnace-sub");

        let missing = cpath(&scratch.join("missing"));
        let err = forksafe::open_tree_clone(CWD, &missing, false).unwrap_err();
        assert_eq!(err, Errno::NOENT);
    });
}

#[test]
fn an_empty_read_only_tmpfs_masks_a_directory() {
    in_child("mask", |scratch| {
        let secret = scratch.join("secret");
        mkdir(&secret);
        fs::write(secret.join("key"), b"hidden").unwrap();
        let mask = forksafe::empty_read_only_tmpfs().unwrap();
        forksafe::move_mount(mask.as_fd(), open_path(&secret).as_fd()).unwrap();

        assert_eq!(fs::read_dir(&secret).unwrap().count(), 0);
        assert_read_only(&secret.join("key"));
        let m = mount_at(&secret);
        assert_eq!(m.fs_type, "tmpfs");
        for opt in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(m.mount_options.iter().any(|o| o == opt), "{opt}: {m:?}");
        }
    });
}

#[test]
fn pivot_into_leaves_only_the_new_root() {
    in_child("pivot-into", |scratch| {
        let new_root = scratch.join("newroot");
        mount_tmpfs("furnace-pivot-into", &new_root, MountFlags::empty());
        mkdir(&new_root.join("proc"));
        fs::write(new_root.join("marker"), b"pivoted").unwrap();
        let root = open_path(&new_root);

        forksafe::pivot_into(root.as_fd()).unwrap();
        assert_eq!(std::env::current_dir().unwrap(), Path::new("/"));
        assert_eq!(fs::read("/marker").unwrap(), b"pivoted");
        let proc = Path::new("/proc");
        mount::mount(Some("proc"), proc, "proc", MountFlags::empty(), None).unwrap();
        let table = mountinfo::read(None).unwrap();
        let points: Vec<&Path> = table.iter().map(|m| m.mount_point.as_path()).collect();
        assert_eq!(points, [Path::new("/"), proc], "{table:#?}");
        assert_eq!(table[0].source, "furnace-pivot-into");

        // A directory of the root mount itself cannot become the root.
        let plain = Path::new("/plain");
        mkdir(plain);
        let err = forksafe::pivot_into(open_path(plain).as_fd()).unwrap_err();
        assert_eq!(err, Errno::BUSY);
    });
}

#[test]
fn forksafe_classic_calls_take_c_strings_and_return_bare_errnos() {
    in_child("classic-forksafe", |scratch| {
        let target = scratch.join("t");
        mkdir(&target);
        let t = cpath(&target);
        let flags = MountFlags::NOSUID;
        forksafe::mount(c"furnace-c", &t, c"tmpfs", flags, Some(c"size=1m")).unwrap();
        assert_eq!(mount_at(&target).source, "furnace-c");
        forksafe::remount(&t, flags | MountFlags::RDONLY).unwrap();
        assert_read_only(&target.join("f"));
        forksafe::set_propagation(&t, Propagation::Shared, false).unwrap();
        assert!(mount_at(&target).shared().is_some());
        forksafe::umount2(&t, UnmountFlags::empty()).unwrap();
        assert_eq!(
            forksafe::umount2(&t, UnmountFlags::empty()),
            Err(Errno::INVAL)
        );

        let src = cpath(&scratch.join("missing"));
        assert_eq!(forksafe::bind(&src, &t), Err(Errno::NOENT));
        assert_eq!(forksafe::bind_recursive(&src, &t), Err(Errno::NOENT));
        forksafe::bind(&cpath(scratch), &t).unwrap();
        assert!(has_mount_at(&target));
    });
}
