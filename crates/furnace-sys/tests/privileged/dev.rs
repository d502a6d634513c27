//! Device nodes: `mknod` with an exact mode, and reading a node's number back.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};

use furnace_sys::dev::{self, forksafe, DeviceKind};
use furnace_sys::Errno;
use rustix::fs::{Mode, CWD};

use crate::harness::{cpath, in_child, open_path};

#[test]
fn mknod_char_device_has_exact_mode_under_umask_and_works_as_dev_null() {
    in_child("mknod-char", |scratch| {
        rustix::process::umask(Mode::from_raw_mode(0o077));
        // The umask is in force: a regular file asked for 0666 gets 0600.
        let regular = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .open(scratch.join("regular"))
            .unwrap();
        assert_eq!(
            regular.metadata().unwrap().permissions().mode() & 0o7777,
            0o600
        );

        let node = scratch.join("null");
        dev::mknod(&node, DeviceKind::Char, 1, 3, 0o666).unwrap();
        let meta = fs::metadata(&node).unwrap();
        assert!(meta.file_type().is_char_device());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o666);
        assert_eq!(
            (
                rustix::fs::major(meta.rdev()),
                rustix::fs::minor(meta.rdev())
            ),
            (1, 3)
        );
        assert_eq!(dev::device_number(&node).unwrap(), (DeviceKind::Char, 1, 3));

        let mut null = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&node)
            .unwrap();
        null.write_all(b"into the void").unwrap();
        let mut back = Vec::new();
        assert_eq!(null.read_to_end(&mut back).unwrap(), 0);

        let err = dev::mknod(&node, DeviceKind::Char, 1, 3, 0o666).unwrap_err();
        assert_eq!(err.errno(), Errno::EXIST);
        assert_eq!(
            err.to_string(),
            format!(
                "mknod {} char device 1:3 mode 666: EEXIST (File exists)",
                node.display()
            )
        );
    });
}

#[test]
fn mknod_block_device() {
    in_child("mknod-block", |scratch| {
        rustix::process::umask(Mode::from_raw_mode(0o077));
        let node = scratch.join("loop0");
        dev::mknod(&node, DeviceKind::Block, 7, 0, 0o660).unwrap();
        let meta = fs::metadata(&node).unwrap();
        assert!(meta.file_type().is_block_device());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
        assert_eq!(
            dev::device_number(&node).unwrap(),
            (DeviceKind::Block, 7, 0)
        );

        // Large numbers use the split encoding of dev_t.
        let big = scratch.join("big");
        dev::mknod(&big, DeviceKind::Block, 259, 70_000, 0o600).unwrap();
        assert_eq!(
            dev::device_number(&big).unwrap(),
            (DeviceKind::Block, 259, 70_000)
        );
        let meta = fs::metadata(&big).unwrap();
        assert_eq!(
            (
                rustix::fs::major(meta.rdev()),
                rustix::fs::minor(meta.rdev())
            ),
            (259, 70_000)
        );
    });
}

#[test]
fn forksafe_mknodat_follows_the_umask_and_device_number_reads_the_fd() {
    in_child("mknodat", |scratch| {
        rustix::process::umask(Mode::from_raw_mode(0o022));
        let node = scratch.join("zero");
        let mode = Mode::from_raw_mode(0o666);
        forksafe::mknodat(CWD, &cpath(&node), DeviceKind::Char, mode, 1, 5).unwrap();
        // Unlike `dev::mknod`, the fork-safe call leaves the umask in force.
        assert_eq!(
            fs::metadata(&node).unwrap().permissions().mode() & 0o7777,
            0o644
        );
        let fd = open_path(&node);
        assert_eq!(
            forksafe::device_number(fd.as_fd()),
            Ok((DeviceKind::Char, 1, 5))
        );
        let err = forksafe::mknodat(CWD, &cpath(&node), DeviceKind::Char, mode, 1, 5);
        assert_eq!(err, Err(Errno::EXIST));

        // Relative to a directory fd; and a file that is no device.
        let dir = open_path(scratch);
        forksafe::mknodat(dir.as_fd(), c"loop9", DeviceKind::Block, mode, 7, 9).unwrap();
        let fd = open_path(&scratch.join("loop9"));
        assert_eq!(
            forksafe::device_number(fd.as_fd()),
            Ok((DeviceKind::Block, 7, 9))
        );
        assert_eq!(forksafe::device_number(dir.as_fd()), Err(Errno::NODEV));
    });
}
