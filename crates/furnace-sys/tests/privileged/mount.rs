//! Mounts through the path-friendly tier: `mount`, binds, remounts, propagation, `umount2`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use furnace_sys::mount::{self, MountFlags, Propagation, UnmountFlags};
use furnace_sys::mountinfo;
use furnace_sys::Errno;

use crate::harness::{
    assert_mount_point, assert_read_only, has_mount_at, in_child, mkdir, mount_at, mount_tmpfs,
};

#[test]
fn tmpfs_mount_shows_in_mountinfo_with_decoded_path() {
    in_child("tmpfs", |scratch| {
        let dir = scratch.join("with space");
        mkdir(&dir);
        assert_mount_point(&dir, false);
        mount::mount(
            Some("furnace-tmpfs"),
            &dir,
            "tmpfs",
            MountFlags::NOSUID | MountFlags::NODEV,
            Some("size=1m,mode=0700"),
        )
        .unwrap();
        assert_mount_point(&dir, true);
        fs::write(dir.join("file"), b"hello").unwrap();
        assert_eq!(fs::read(dir.join("file")).unwrap(), b"hello");
        assert_mount_point(&dir.join("file"), false);
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o7777,
            0o700
        );

        let raw_table = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let escaped = format!(" {}/with\\040space ", scratch.display());
        assert!(
            raw_table.contains(&escaped),
            "no {escaped:?} in {raw_table}"
        );

        let m = mount_at(&dir);
        assert_eq!(m.fs_type, "tmpfs");
        assert_eq!(m.source, "furnace-tmpfs");
        assert_eq!(m.root, Path::new("/"));
        assert_eq!(m.parent_id, mount_at(scratch).mount_id);
        for opt in ["rw", "nosuid", "nodev"] {
            assert!(
                m.mount_options.iter().any(|o| o == opt),
                "{opt} missing: {m:?}"
            );
        }
        assert!(m.super_options.iter().any(|o| o == "size=1024k"), "{m:?}");
        assert!(m.super_options.iter().any(|o| o == "mode=700"), "{m:?}");
        assert!(!m.is_read_only());
        let flags = MountFlags::of_mount_at(&dir).unwrap();
        assert!(
            flags.contains(MountFlags::NOSUID | MountFlags::NODEV),
            "{flags:?}"
        );
        assert!(!flags.contains(MountFlags::RDONLY));

        mount::umount2(&dir, UnmountFlags::empty()).unwrap();
        assert_mount_point(&dir, false);
        assert!(!has_mount_at(&dir));
        assert!(!dir.join("file").exists());
    });
}

#[test]
fn bind_of_a_directory_on_the_same_filesystem_is_a_mount_point_and_remounts_read_only() {
    in_child("bind", |scratch| {
        let (src, dst) = (scratch.join("src"), scratch.join("dst"));
        mkdir(&src);
        mkdir(&dst);
        fs::write(src.join("data"), b"v1").unwrap();

        mount::bind(&src, &dst).unwrap();
        // Same filesystem, same st_dev: only the mount-root attribute tells.
        assert_eq!(
            fs::metadata(&src).unwrap().dev(),
            fs::metadata(&dst).unwrap().dev()
        );
        assert_mount_point(&dst, true);
        assert_mount_point(&src, false);
        let m = mount_at(&dst);
        assert_eq!(m.root, Path::new("/src"));
        assert_eq!(m.fs_type, "tmpfs");
        assert_eq!(m.source, "furnace-test");
        assert_eq!(fs::read(dst.join("data")).unwrap(), b"v1");

        mount::remount_read_only(&dst).unwrap();
        assert_read_only(&dst.join("new"));
        assert_read_only(&dst.join("data"));
        assert!(mount_at(&dst).is_read_only());
        assert!(MountFlags::of_mount_at(&dst)
            .unwrap()
            .contains(MountFlags::RDONLY));
        // Only the bind is read-only: the source stays writable, and writes show through.
        fs::write(src.join("data"), b"v2").unwrap();
        assert_eq!(fs::read(dst.join("data")).unwrap(), b"v2");
        assert!(!MountFlags::of_mount_at(&src)
            .unwrap()
            .contains(MountFlags::RDONLY));
        assert!(!mount_at(scratch).is_read_only());
    });
}

#[test]
fn remount_read_only_keeps_nosuid_nodev_noexec() {
    in_child("remount-ro", |scratch| {
        let (src, dst) = (scratch.join("src"), scratch.join("dst"));
        let locked = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
        mount_tmpfs("furnace-src", &src, locked);
        mkdir(&dst);
        mount::bind(&src, &dst).unwrap();
        assert!(MountFlags::of_mount_at(&dst).unwrap().contains(locked));

        mount::remount_read_only(&dst).unwrap();
        let flags = MountFlags::of_mount_at(&dst).unwrap();
        assert!(flags.contains(locked | MountFlags::RDONLY), "{flags:?}");
        let m = mount_at(&dst);
        for opt in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(
                m.mount_options.iter().any(|o| o == opt),
                "{opt} missing: {m:?}"
            );
        }
        assert_read_only(&dst.join("f"));
        // The source mount keeps its flags and stays writable.
        let src_flags = MountFlags::of_mount_at(&src).unwrap();
        assert!(src_flags.contains(locked) && !src_flags.contains(MountFlags::RDONLY));
        fs::write(src.join("f"), b"x").unwrap();

        // A bare read-only remount would have dropped them (root may, outside a user ns):
        // that is what `remount_read_only` guards against.
        mount::remount(&dst, MountFlags::RDONLY).unwrap();
        let bare = MountFlags::of_mount_at(&dst).unwrap();
        assert!(
            bare.contains(MountFlags::RDONLY) && !bare.intersects(locked),
            "{bare:?}"
        );
    });
}

#[test]
fn recursive_bind_includes_submounts_and_plain_bind_does_not() {
    in_child("rbind", |scratch| {
        let src = scratch.join("src");
        mount_tmpfs("furnace-sub", &src.join("sub"), MountFlags::empty());
        fs::write(src.join("sub/marker"), b"sub").unwrap();
        let (plain, rec) = (scratch.join("plain"), scratch.join("rec"));
        mkdir(&plain);
        mkdir(&rec);

        mount::bind(&src, &plain).unwrap();
        assert_mount_point(&plain, true);
        assert!(plain.join("sub").is_dir());
        assert_mount_point(&plain.join("sub"), false);
        assert!(!plain.join("sub/marker").exists());
        assert!(!has_mount_at(&plain.join("sub")));

        mount::bind_recursive(&src, &rec).unwrap();
        assert_mount_point(&rec, true);
        assert_mount_point(&rec.join("sub"), true);
        assert_eq!(fs::read(rec.join("sub/marker")).unwrap(), b"sub");
        let m = mount_at(&rec.join("sub"));
        assert_eq!(
            (m.fs_type.as_str(), m.source.to_str()),
            ("tmpfs", Some("furnace-sub"))
        );
        assert_eq!(m.parent_id, mount_at(&rec).mount_id);
    });
}

#[test]
fn shared_mounts_propagate_to_binds_and_slaves_do_not_send_back() {
    in_child("propagation", |scratch| {
        let (a, b) = (scratch.join("a"), scratch.join("b"));
        mount_tmpfs("furnace-shared", &a, MountFlags::empty());
        assert_eq!(mount_at(&a).shared(), None);
        mount::set_propagation(&a, Propagation::Shared, false).unwrap();
        let group = mount_at(&a)
            .shared()
            .expect("a shared:N tag after make-shared");

        mkdir(&b);
        mount::bind(&a, &b).unwrap();
        assert_eq!(
            mount_at(&b).shared(),
            Some(group),
            "the bind joins the peer group"
        );

        // A mount under the first appears under the second.
        mount_tmpfs("furnace-sub1", &a.join("sub1"), MountFlags::empty());
        fs::write(a.join("sub1/marker"), b"1").unwrap();
        assert_mount_point(&b.join("sub1"), true);
        assert_eq!(fs::read(b.join("sub1/marker")).unwrap(), b"1");
        assert_eq!(mount_at(&b.join("sub1")).source, "furnace-sub1");

        mount::set_propagation(&b, Propagation::Slave, false).unwrap();
        let m = mount_at(&b);
        assert_eq!((m.shared(), m.master()), (None, Some(group)), "{m:?}");

        // Mounts under the slave stay there...
        mount_tmpfs("furnace-sub2", &b.join("sub2"), MountFlags::empty());
        assert!(
            a.join("sub2").is_dir(),
            "same filesystem: the directory is visible"
        );
        assert_mount_point(&a.join("sub2"), false);
        assert!(!has_mount_at(&a.join("sub2")));
        // ...while the master's still reach it, and so do its unmounts.
        mount_tmpfs("furnace-sub3", &a.join("sub3"), MountFlags::empty());
        assert_mount_point(&b.join("sub3"), true);
        mount::umount2(a.join("sub1"), UnmountFlags::empty()).unwrap();
        assert_mount_point(&b.join("sub1"), false);

        // Recursively private: no tag left under the scratch mount.
        mount::set_propagation(scratch, Propagation::Private, true).unwrap();
        for m in mountinfo::read(None).unwrap() {
            if m.mount_point.starts_with(scratch) {
                assert!(m.optional_fields.is_empty(), "{m:?}");
            }
        }
    });
}

#[test]
fn umount2_detach_and_its_error_messages() {
    in_child("umount2", |scratch| {
        let target = scratch.join("busy");
        mount_tmpfs("furnace-busy", &target, MountFlags::empty());
        let mut open = fs::File::create(target.join("open")).unwrap();

        let err = mount::umount2(&target, UnmountFlags::empty()).unwrap_err();
        assert_eq!(err.errno(), Errno::BUSY);
        assert_eq!(err.call(), "umount2");
        assert_eq!(err.path(), Some(target.as_path()));
        assert_eq!(
            err.to_string(),
            format!(
                "umount2 {}: EBUSY (Device or resource busy)",
                target.display()
            )
        );
        assert_mount_point(&target, true);

        mount::umount2(&target, UnmountFlags::DETACH).unwrap();
        assert_mount_point(&target, false);
        assert!(!target.join("open").exists());
        // The detached filesystem lives on for the open file.
        open.write_all(b"still there").unwrap();

        let plain = scratch.join("plain");
        mkdir(&plain);
        let err = mount::umount2(&plain, UnmountFlags::empty()).unwrap_err();
        assert_eq!(err.errno(), Errno::INVAL);
        assert_eq!(
            err.to_string(),
            format!("umount2 {}: EINVAL (Invalid argument)", plain.display())
        );

        let missing = scratch.join("missing");
        let err = mount::umount2(&missing, UnmountFlags::DETACH).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "umount2 {}: ENOENT (No such file or directory)",
                missing.display()
            )
        );

        // NOFOLLOW: a symlink to a mount point is not itself a mount point.
        let real = scratch.join("real");
        mount_tmpfs("furnace-real", &real, MountFlags::empty());
        let link = scratch.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = mount::umount2(&link, UnmountFlags::NOFOLLOW).unwrap_err();
        assert_eq!(err.errno(), Errno::INVAL);
        mount::umount2(&link, UnmountFlags::empty()).unwrap();
        assert_mount_point(&real, false);
    });
}
