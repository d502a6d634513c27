//! Descriptors and files through the fork-safe tier: closing what a child inherited, stdio,
//! fds above stdio, lookups beneath a root, and the reachability of the working directory.

use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use furnace_sys::fd::{forksafe, StdioFd};
use furnace_sys::fs::forksafe::{
    chdir, chmod, cwd_is_reachable, fchdir, file_type, mkdir as mkdir_c, mkdirat, symlinkat,
    unlinkat,
};
use furnace_sys::mount::{self, MountFlags};
use furnace_sys::{Errno, ExitKind};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::FdFlags;
use rustix::pipe::{pipe_with, PipeFlags};

use crate::harness::{cpath, in_child, mkdir, mount_tmpfs, open_path, spawn_helper};

/// Whether `fd` is an open descriptor of this process.
fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only asks about the number; a closed one fails with EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

fn is_cloexec(fd: &OwnedFd) -> bool {
    rustix::io::fcntl_getfd(fd).is_ok_and(|flags| flags.contains(FdFlags::CLOEXEC))
}

fn devnull() -> Result<OwnedFd, Errno> {
    forksafe::open(c"/dev/null", OFlags::RDWR, Mode::empty())
}

#[test]
fn dup_above_stdio_with_stdio_closed_lands_on_3_or_above() {
    in_child("dup-above", |_| {
        let helper = spawn_helper(|| {
            // SAFETY: this helper never uses the fds 0–2 it inherited again.
            if unsafe { forksafe::close_range(0, 2) }.is_err() {
                return 2;
            }
            // With stdio closed, the next fds are 0, 1 and 2.
            let Ok(null) = devnull() else { return 3 };
            let Ok((r, w)) = pipe_with(PipeFlags::CLOEXEC) else {
                return 3;
            };
            if [null.as_raw_fd(), r.as_raw_fd(), w.as_raw_fd()] != [0, 1, 2] {
                return 4;
            }
            for fd in [&null, &r, &w] {
                match forksafe::dup_above_stdio(fd.as_fd()) {
                    Ok(above) if above.as_raw_fd() >= 3 && is_cloexec(&above) => {}
                    _ => return 5,
                }
            }
            0
        });
        assert_eq!(
            helper.wait().unwrap(),
            ExitKind::Exited(0),
            "2 = close_range, 3 = open, 4 = stdio was not free, 5 = dup_above_stdio"
        );
    });
}

#[test]
fn close_all_except_keeps_the_listed_fds_in_any_order() {
    in_child("close-all-except", |_| {
        let helper = spawn_helper(|| {
            let Ok(null) = devnull() else { return 2 };
            if forksafe::dup2_stdio(null.as_fd(), StdioFd::Stdin).is_err() {
                return 2;
            }
            let fds: Vec<OwnedFd> = (0..5).filter_map(|_| devnull().ok()).collect();
            let Ok(high) = rustix::io::fcntl_dupfd_cloexec(&null, 100) else {
                return 2;
            };
            if fds.len() != 5 {
                return 2;
            }
            let kept = [
                fds[3].as_raw_fd(),
                0,
                fds[1].as_raw_fd(),
                fds[3].as_raw_fd(),
            ];
            let closed: Vec<RawFd> = [&fds[0], &fds[2], &fds[4], &null, &high]
                .iter()
                .map(|fd| fd.as_raw_fd())
                .chain([1, 2])
                .collect();
            let result = {
                let keep = [
                    fds[3].as_fd(),
                    rustix::stdio::stdin(),
                    fds[1].as_fd(),
                    fds[3].as_fd(),
                ];
                // SAFETY: the owners of the closed fds are forgotten below, never used or
                // dropped.
                unsafe { forksafe::close_all_except(&keep) }
            };
            std::mem::forget((fds, null, high));
            if result.is_err() {
                return 3;
            }
            if !kept.iter().all(|&fd| is_open(fd)) {
                return 4;
            }
            if closed.iter().any(|&fd| is_open(fd)) {
                return 5;
            }
            0
        });
        assert_eq!(
            helper.wait().unwrap(),
            ExitKind::Exited(0),
            "2 = set-up, 3 = close_all_except, 4 = a kept fd was closed, 5 = one stayed open"
        );
    });
}

#[test]
fn close_range_cloexec_marks_without_closing() {
    in_child("cloexec", |_| {
        // rustix adds no O_CLOEXEC of its own.
        let fd = rustix::fs::open(c"/dev/null", OFlags::RDONLY, Mode::empty()).unwrap();
        assert!(!is_cloexec(&fd));
        let n = fd.as_raw_fd() as u32;
        forksafe::close_range_cloexec(n, n).unwrap();
        assert!(is_cloexec(&fd));
        assert!(is_open(fd.as_raw_fd()));
    });
}

#[test]
fn dup2_stdio_and_the_directory_check() {
    in_child("stdio", |scratch| {
        let out = scratch.join("out");
        let dir = scratch.to_path_buf();
        let helper = spawn_helper(move || {
            let flags = OFlags::WRONLY | OFlags::CREATE;
            let Ok(file) = forksafe::open(&cpath(&out), flags, Mode::from_raw_mode(0o600)) else {
                return 2;
            };
            if forksafe::dup2_stdio(file.as_fd(), StdioFd::Stdout).is_err()
                || forksafe::write_all(rustix::stdio::stdout(), b"via fd 1").is_err()
            {
                return 2;
            }
            // A directory, or an O_PATH handle of any file, is refused as stdio.
            let read_dir = OFlags::RDONLY | OFlags::DIRECTORY;
            let Ok(dir) = forksafe::open(&cpath(&dir), read_dir, Mode::empty()) else {
                return 3;
            };
            let path_only = open_path(&out);
            for (refused, code) in [(dir, 3), (path_only, 4)] {
                if forksafe::dup2_stdio(refused.as_fd(), StdioFd::Stdin).is_err()
                    || forksafe::check_stdio_is_no_directory() != Err(Errno::ISDIR)
                {
                    return code;
                }
            }
            // A closed stdin is fine.
            // SAFETY: nothing owns fd 0 here (it holds a dup2 copy).
            if unsafe { forksafe::close_range(0, 0) }.is_err()
                || forksafe::check_stdio_is_no_directory().is_err()
            {
                return 5;
            }
            0
        });
        assert_eq!(
            helper.wait().unwrap(),
            ExitKind::Exited(0),
            "2 = dup2 stdout, 3 = a directory passed, 4 = O_PATH passed, 5 = closed stdin"
        );
        assert_eq!(fs::read(scratch.join("out")).unwrap(), b"via fd 1");
    });
}

#[test]
fn at_calls_relative_to_a_root_fd_and_lookups_beneath_it() {
    in_child("beneath", |scratch| {
        let root_dir = scratch.join("root");
        mkdir(&root_dir);
        let root = open_path(&root_dir);
        let root = root.as_fd();
        let mode = Mode::from_raw_mode(0o755);
        mkdirat(root, c"etc", mode).unwrap();
        assert_eq!(mkdirat(root, c"etc", mode), Err(Errno::EXIST));
        symlinkat(c"/etc", root, c"abs").unwrap();
        symlinkat(c"../..", root, c"up").unwrap();

        let beneath = |path| forksafe::openat_beneath(root, path, OFlags::PATH, Mode::empty());
        let etc = beneath(c"etc").unwrap();
        assert_eq!(file_type(etc.as_fd()), Ok(FileType::Directory));
        // An absolute link, and `..` above the root, are refused beneath it...
        assert_eq!(beneath(c"abs").err(), Some(Errno::XDEV));
        assert_eq!(beneath(c"up").err(), Some(Errno::XDEV));
        // ...while a plain openat follows them out.
        let up = forksafe::openat(root, c"up", OFlags::PATH, Mode::empty()).unwrap();
        assert_eq!(file_type(up.as_fd()), Ok(FileType::Directory));
        let link = forksafe::openat(root, c"abs", OFlags::PATH | OFlags::NOFOLLOW, Mode::empty());
        assert_eq!(file_type(link.unwrap().as_fd()), Ok(FileType::Symlink));

        unlinkat(root, c"abs", AtFlags::empty()).unwrap();
        unlinkat(root, c"etc", AtFlags::REMOVEDIR).unwrap();
        assert_eq!(
            unlinkat(root, c"etc", AtFlags::REMOVEDIR),
            Err(Errno::NOENT)
        );

        let made = root_dir.join("made");
        mkdir_c(&cpath(&made), Mode::from_raw_mode(0o700)).unwrap();
        chmod(&cpath(&made), Mode::from_raw_mode(0o751)).unwrap();
        fchdir(root).unwrap();
        chdir(c"made").unwrap();
        assert_eq!(std::env::current_dir().unwrap(), made);
    });
}

/// A path of `depth` directories named `name_len` bytes each, under `base`.
fn chain(base: &Path, depth: usize, name_len: usize) -> PathBuf {
    (0..depth).fold(base.to_path_buf(), |path, i| {
        path.join(format!("{i:02}{}", "d".repeat(name_len - 2)))
    })
}

#[test]
fn a_long_unreachable_cwd_is_not_reachable() {
    in_child("cwd-long", |scratch| {
        // A directory of the tree the process is about to leave, with a path far longer than
        // 256 bytes.
        let outside = chain(&scratch.join("host"), 20, 30);
        mkdir(&outside);
        let outside = open_path(&outside);
        let new_root = scratch.join("newroot");
        mount_tmpfs("furnace-cwd", &new_root, MountFlags::empty());
        mount::forksafe::pivot_into(open_path(&new_root).as_fd()).unwrap();

        // Reachable, and longer than 256 bytes.
        let inside = chain(Path::new("/"), 20, 30);
        mkdir(&inside);
        chdir(&cpath(&inside)).unwrap();
        assert_eq!(cwd_is_reachable(), Ok(true));

        // Unreachable and long: a 256-byte buffer gets ERANGE, which is no answer.
        fchdir(outside.as_fd()).unwrap();
        assert_eq!(cwd_is_reachable(), Ok(false));

        // Longer than PATH_MAX, made one step at a time: an error, never "reachable".
        chdir(c"/").unwrap();
        for i in 0..25 {
            let name = format!("{i:02}{}", "e".repeat(200));
            fs::create_dir(&name).unwrap();
            chdir(&cpath(Path::new(&name))).unwrap();
        }
        let err = cwd_is_reachable().unwrap_err();
        assert!(err == Errno::NAMETOOLONG || err == Errno::RANGE, "{err:?}");
    });
}
