//! Roots left as they were found (issue 14): overlays with a throw-away or kept upper layer,
//! a read-only root, tmpfs mounts, what a start makes in a bare root and its removal, lengths
//! checked before anything is made. `resolv.conf` is [`crate::roots_resolv`]'s.
//!
//! A "bare root" is a directory holding only a static busybox and its applet links: every
//! mount point furnace needs is missing from it. "As found" is checked on a recursive listing
//! of the root — each entry's path, type, mode, owner, size, modification time (to the
//! nanosecond) and link target, the root directory itself included.
//!
//! The tests whose owner is another process — killed, or without root — are
//! [`crate::roots_owners`]'s.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use furnace_core::{Container, Error, Overlay, TmpfsOptions};
use furnace_tests::hostside::{symlink_over, HostMount, Outside};
use furnace_tests::user::{copy_executable, static_busybox};
use furnace_tests::*;

/// A root holding only a static busybox and its applets, in a [`TempDir`] (`DIR/root`).
pub(crate) struct BareRoot {
    dir: TempDir,
}

impl BareRoot {
    /// Made by root, or owned by `owner` (uid, gid).
    pub(crate) fn new(owner: Option<(u32, u32)>) -> BareRoot {
        let dir = TempDir::new("bare");
        let root = dir.join("root");
        fs::create_dir_all(root.join("bin")).expect("mkdir bin");
        let busybox = static_busybox();
        copy_executable(&busybox, &root.join("bin/busybox"));
        let list = Command::new(&busybox)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if !applet.is_empty() && applet != "busybox" {
                let _ = symlink("busybox", root.join("bin").join(applet));
            }
        }
        if let Some((uid, gid)) = owner {
            furnace_tests::user::chown_tree(&root, uid, gid);
        }
        BareRoot { dir }
    }

    pub(crate) fn root(&self) -> PathBuf {
        self.dir.join("root")
    }
}

/// Every entry under `root` and `root` itself: `path type mode uid:gid size mtime [-> link]`.
pub(crate) fn listing(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("lstat {path:?}: {e}"));
        let kind = meta.file_type();
        let link = if kind.is_symlink() {
            format!(" -> {}", fs::read_link(&path).expect("readlink").display())
        } else {
            String::new()
        };
        let what = match () {
            _ if kind.is_dir() => "dir",
            _ if kind.is_symlink() => "link",
            _ if kind.is_char_device() => "chardev",
            _ => "file",
        };
        out.insert(
            path.strip_prefix(root)
                .expect("under the root")
                .to_path_buf(),
            format!(
                "{what} {:o} {}:{} {} {}.{:09}{link}",
                meta.mode(),
                meta.uid(),
                meta.gid(),
                meta.len(),
                meta.mtime(),
                meta.mtime_nsec()
            ),
        );
        if kind.is_dir() {
            stack.extend(
                fs::read_dir(&path)
                    .expect("list")
                    .flatten()
                    .map(|e| e.path()),
            );
        }
    }
    out
}

/// Panics with the differences unless `root` lists as `before`.
#[track_caller]
pub(crate) fn assert_as_found(root: &Path, before: &BTreeMap<PathBuf, String>) {
    let now = listing(root);
    let changed: Vec<String> = before
        .iter()
        .filter(|(p, v)| now.get(*p) != Some(v))
        .map(|(p, v)| format!("{p:?} was {v:?}, now {:?}", now.get(p)))
        .chain(
            now.iter()
                .filter(|(p, _)| !before.contains_key(*p))
                .map(|(p, v)| format!("{p:?} is new: {v}")),
        )
        .collect();
    assert!(
        changed.is_empty(),
        "the root changed:\n  {}",
        changed.join("\n  ")
    );
}

/// A directory with a file `data.txt`, to bind.
pub(crate) fn source(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    fs::write(dir.join("data.txt"), "bound\n").expect("write the source");
    dir
}

/// The container's view of a command's output, or a panic naming what failed.
pub(crate) fn sh_in(c: &Container, script: &str) -> String {
    sh_ok(c, script)
}

// ---------------------------------------------------------------------------------------------
// Overlays

/// Issue 14: with an ephemeral overlay whatever the container writes, deletes or renames —
/// and every mount point furnace needs in a bare root (`/dev`, `/proc`, `/sys`, `/run`, the
/// binds' `/src` and `/out`, `/etc/app.conf`) — stays out of the root, which is byte for
/// byte as found; the binds still reach the host.
#[test]
fn ephemeral_writes_deletes_and_renames_never_reach_the_root() {
    let _scratch = Scratch::exclusive();
    let bare = BareRoot::new(None);
    let (src, out) = (source("eph-src"), TempDir::new("eph-out"));
    let before = listing(&bare.root());
    let leaks = LeakCheck::snapshot();
    let c = Container::builder(bare.root())
        .overlay(Overlay::Ephemeral)
        .bind_ro(src.path(), "/src")
        .bind(out.path(), "/out")
        .bind(src.join("data.txt"), "/etc/app.conf")
        .start()
        .expect("start");
    let script = "echo new > /new && rm /bin/cat && mv /bin/ls /bin/renamed && \
                  mkdir -p /var/lib && rm /bin/vi && cp /src/data.txt /out/copied && \
                  test ! -e /bin/cat && test -e /bin/renamed && busybox cat /etc/app.conf /new && \
                  test -d /proc/self && echo ok";
    assert_eq!(sh_in(&c, script), "bound\nnew\nok\n");
    c.stop().expect("stop");
    assert_eq!(
        fs::read_to_string(out.join("copied")).expect("the bind wrote"),
        "bound\n"
    );
    assert_as_found(&bare.root(), &before);
    leaks.assert_clean();
}

/// Issue 14: an ephemeral overlay over a root that is itself an overlay (the scratch), and over
/// the read-only test image itself: both writable inside, neither written to.
#[test]
fn ephemeral_over_an_overlay_and_over_a_read_only_root() {
    let scratch = Scratch::new();
    for root in [scratch.root(), image()] {
        let c = Container::builder(&root)
            .overlay(Overlay::Ephemeral)
            .start()
            .unwrap_or_else(|e| panic!("start over {}: {e}", root.display()));
        let out = sh_in(
            &c,
            "echo x > /etc/os-release && rm -r /usr/sbin && mkdir /usr/sbin && \
                             cat /etc/os-release && ls -A /usr/sbin | wc -l",
        );
        assert_eq!(out, "x\n0\n", "over {}", root.display());
    }
    assert_eq!(
        scratch.upper_entries(),
        Vec::<PathBuf>::new(),
        "nothing reached the scratch"
    );
    assert!(image().join("usr/sbin").is_dir(), "nor the image");
}

/// Issue 14: an upper directory keeps the changes — new files, and a deletion as a whiteout —
/// for the next container over the same root, whose root directory is untouched; the work
/// directory furnace made next to it is gone at the end. A work directory of the caller's
/// works the same and is left to it.
#[test]
fn an_upper_directory_keeps_the_changes() {
    let scratch = Scratch::new();
    let keep = TempDir::new("upper");
    let upper = keep.join("changes");
    fs::create_dir(&upper).expect("mkdir");
    let before = listing(&scratch.root());
    let overlay = Overlay::Upper(upper.clone());
    let c = Container::builder(scratch.root())
        .overlay(overlay.clone())
        .start()
        .expect("start");
    sh_in(&c, "echo kept > /root/note && rm /etc/os-release");
    assert!(
        keep.join(".changes.furnace-work").is_dir(),
        "the work directory, next to it"
    );
    drop(c);
    assert_eq!(
        fs::read_to_string(upper.join("root/note")).expect("kept"),
        "kept\n"
    );
    let whiteout = fs::symlink_metadata(upper.join("etc/os-release")).expect("whiteout");
    assert!(
        whiteout.file_type().is_char_device() && whiteout.rdev() == 0,
        "{whiteout:?}"
    );
    assert!(
        !keep.join(".changes.furnace-work").exists(),
        "furnace's work directory is gone"
    );
    let c = Container::builder(scratch.root())
        .overlay(overlay)
        .start()
        .expect("start again");
    assert_eq!(
        sh_in(&c, "cat /root/note; test -e /etc/os-release || echo gone"),
        "kept\ngone\n"
    );
    drop(c);
    let work = keep.join("work");
    fs::create_dir(&work).expect("mkdir work");
    let given = Overlay::UpperWork {
        upper: upper.clone(),
        work: work.clone(),
    };
    let c = Container::builder(scratch.root())
        .overlay(given)
        .start()
        .expect("start with work");
    assert_eq!(sh_in(&c, "cat /root/note"), "kept\n");
    drop(c);
    assert!(work.is_dir(), "the caller's work directory is left to it");
    assert_as_found(&scratch.root(), &before);
}

/// Issue 14: overlay directories are checked before anything is made: missing, on overlayfs
/// (never an upper layer), inside the root, a mount point (no work directory next to it), a
/// work directory on another mount, a comma overlayfs's options cannot carry.
#[test]
fn bad_overlay_directories_are_refused_before_anything_is_made() {
    let scratch = Scratch::exclusive();
    let dir = TempDir::new("bad-overlay");
    for sub in ["upper", "odd,name", "mnt"] {
        fs::create_dir(dir.join(sub)).expect("mkdir");
    }
    let _tmpfs = HostMount::tmpfs(dir.join("mnt"));
    let other = Scratch::new();
    let before = listing(&scratch.root());
    let leaks = LeakCheck::snapshot();
    let cases = [
        (
            Overlay::Upper(dir.join("missing")),
            "upper directory",
            "does not exist",
        ),
        (
            Overlay::Upper(other.host_path("/root")),
            "upper directory",
            "is on overlayfs",
        ),
        (
            Overlay::Upper(scratch.host_path("/root")),
            "upper directory",
            "overlapping layers",
        ),
        (
            Overlay::Upper(dir.join("mnt")),
            "upper directory",
            "is a mount point",
        ),
        (
            Overlay::Upper(dir.join("odd,name")),
            "upper directory",
            "','",
        ),
        (
            Overlay::UpperWork {
                upper: dir.join("upper"),
                work: dir.join("mnt"),
            },
            "work directory",
            "same mount",
        ),
    ];
    for (overlay, what, needle) in cases {
        let err = Container::builder(scratch.root())
            .overlay(overlay.clone())
            .start();
        let err = err.expect_err("refused");
        let message = err.to_string();
        assert!(
            matches!(&err, Error::InvalidOverlay { what: w, .. } if *w == what)
                && message.contains(needle),
            "{overlay:?}: {message}"
        );
    }
    assert!(!dir.join(".mnt.furnace-work").exists() && !dir.join(".missing.furnace-work").exists());
    assert_as_found(&scratch.root(), &before);
    leaks.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// A read-only root, tmpfs mounts

/// Issue 14: a read-only root refuses writes (EROFS), while a writable bind, a tmpfs, `/dev`,
/// `/dev/shm` and `/run` stay writable; with an overlay, the overlay is read-only.
#[test]
fn a_read_only_root_refuses_writes_but_not_its_mounts() {
    let scratch = Scratch::new();
    let out = TempDir::new("ro-out");
    for overlay in [false, true] {
        let mut builder = Container::builder(scratch.root());
        builder
            .read_only_root(true)
            .bind(out.path(), "/out")
            .tmpfs("/tmp", TmpfsOptions::new().mode(0o1777));
        if overlay {
            builder.overlay(Overlay::Ephemeral);
        }
        let c = builder.start().expect("start");
        let (status, _, stderr) = sh(&c, "touch /etc/x");
        assert!(
            !status.success() && stderr.contains("Read-only file system"),
            "{stderr}"
        );
        sh_in(
            &c,
            "for d in /out /tmp /dev/shm /run; do echo x > $d/w; done; echo > /dev/null",
        );
        let info = furnace_sys::mountinfo::parse(&sh_in(&c, "cat /proc/self/mountinfo"));
        let root = info
            .iter()
            .find(|m| m.mount_point == Path::new("/"))
            .expect("/");
        assert!(root.is_read_only(), "{root:?}");
    }
    assert_eq!(scratch.upper_entries(), Vec::<PathBuf>::new());
    assert_eq!(fs::read_to_string(out.join("w")).expect("written"), "x\n");
}

/// Issue 14: a tmpfs has the size asked for (writing past it fails with ENOSPC) and the mode;
/// over an existing directory it hides what is there; in a bare root its missing mount
/// point is made and removed again.
#[test]
fn a_tmpfs_has_its_size_and_mode() {
    let scratch = Scratch::new();
    let bare = BareRoot::new(None);
    let before = listing(&bare.root());
    for root in [scratch.root(), bare.root()] {
        let c = Container::builder(&root)
            .tmpfs("/etc", TmpfsOptions::new().size(1 << 20).mode(0o1777))
            .start()
            .expect("start");
        let out = sh_in(
            &c,
            "stat -c %a /etc; ls -A /etc | wc -l; \
                             dd if=/dev/zero of=/etc/f bs=64k count=32 2>&1 | grep -c 'No space'",
        );
        assert_eq!(out, "1777\n0\n1\n", "over {}", root.display());
        let info = furnace_sys::mountinfo::parse(&sh_in(&c, "cat /proc/self/mountinfo"));
        let etc = info
            .iter()
            .find(|m| m.mount_point == Path::new("/etc"))
            .expect("/etc");
        assert_eq!(etc.fs_type, "tmpfs");
        assert!(
            etc.super_options.iter().any(|o| o == "size=1024k"),
            "{etc:?}"
        );
    }
    assert_eq!(scratch.upper_entries(), Vec::<PathBuf>::new());
    assert_as_found(&bare.root(), &before);
}

/// Issue 16: a copy-up tmpfs (an OCI `tmpcopyup`) starts with the directory's content, takes
/// writes within its size, and leaves the directory as it was.
#[test]
fn a_copy_up_tmpfs_starts_with_the_directory_and_leaves_it_as_found() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let seed = scratch.host_path("/srv/seed");
    fs::create_dir_all(seed.join("sub")).unwrap();
    fs::write(seed.join("a.txt"), "seed\n").unwrap();
    fs::write(seed.join("sub/b"), "b\n").unwrap();
    {
        let options = TmpfsOptions::new().size(1 << 20).mode(0o1777).copy_up(true);
        let c = Container::builder(scratch.root())
            .tmpfs("/srv/seed", options)
            .start()
            .expect("start");
        let out = sh_in(
            &c,
            "cat /srv/seed/a.txt /srv/seed/sub/b; stat -c %a /srv/seed; \
             echo changed > /srv/seed/a.txt && echo new > /srv/seed/n && cat /srv/seed/a.txt; \
             dd if=/dev/zero of=/srv/seed/big bs=64k count=32 2>&1 | grep -c 'No space'; \
             awk '$5 == \"/srv/seed\" {for (i = 6; i <= NF; i++) if ($i == \"-\") print $(i+1)}' \
                 /proc/self/mountinfo",
        );
        // The tmpfs on the directory, and the overlay on it.
        assert_eq!(out, "seed\nb\n1777\nchanged\n1\ntmpfs\noverlay\n");
    }
    assert_eq!(fs::read_to_string(seed.join("a.txt")).unwrap(), "seed\n");
    assert!(!seed.join("n").exists() && !seed.join("big").exists());
    fs::remove_dir_all(&seed).unwrap();
    leaks.assert_clean();
}

/// Issue 14: bad tmpfs sizes, modes and destinations are typed errors before anything is made.
#[test]
fn bad_tmpfs_options_and_destinations_are_refused() {
    let scratch = Scratch::exclusive();
    let outside = Outside::new("tmpfs-outside");
    symlink_over(&scratch.host_path("/mnt/out"), outside.path());
    let long = "/ab".repeat(1366);
    let before = listing(&scratch.root());
    let leaks = LeakCheck::snapshot();
    let size = |s| TmpfsOptions::new().size(s);
    let cases: [(&str, TmpfsOptions, &str); 8] = [
        ("/x", size(0), "tmpfs size 0: is less than one page"),
        ("/x", TmpfsOptions::new().mode(0o10000), "tmpfs mode 10000"),
        ("/a/../b", TmpfsOptions::new(), "contains a `..` component"),
        ("/mnt/out/x", TmpfsOptions::new(), "leads out of the root"),
        ("/etc/os-release", TmpfsOptions::new(), "is not a directory"),
        ("/", TmpfsOptions::new(), "is the root of the container"),
        (
            &long,
            TmpfsOptions::new(),
            "4098 bytes long inside the root, longer than PATH_MAX",
        ),
        ("/x/a256", TmpfsOptions::new(), "component of 256 bytes"),
    ];
    for (dest, options, needle) in cases {
        let dest = dest.replace("a256", &"a".repeat(256));
        let err = Container::builder(scratch.root())
            .tmpfs(&dest, options)
            .start();
        let message = err.expect_err("refused").to_string();
        assert!(message.contains(needle), "{dest}: {message}");
    }
    outside.assert_untouched("tmpfs destinations");
    assert_as_found(&scratch.root(), &before);
    leaks.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// What a start makes in a bare root, and its removal

/// Issue 14: a container with binds (directories, a file under a missing `/etc`, one 1,365
/// directories deep — the path that used to fail half-way) and a tmpfs over a bare root:
/// everything furnace made there (`/dev`, `/proc`, `/sys`, `/run`, the destinations and their
/// parents) is gone when it ends, by `stop` or by drop, and the root is byte for byte as
/// found, its modification time included.
#[test]
fn a_bare_root_is_left_as_found() {
    let _scratch = Scratch::exclusive();
    let bare = BareRoot::new(None);
    let (src, out) = (source("bare-src"), TempDir::new("bare-out"));
    let deep = "/ab".repeat(1365);
    let before = listing(&bare.root());
    let leaks = LeakCheck::snapshot();
    for stop in [true, false] {
        let c = Container::builder(bare.root())
            .bind_ro(src.path(), "/src")
            .bind(out.path(), "/out")
            .bind(src.join("data.txt"), "/etc/app/conf")
            .bind_ro(src.path(), &deep)
            .tmpfs("/scratch", TmpfsOptions::new())
            .start()
            .expect("start");
        assert_eq!(
            sh_in(&c, "cat /src/data.txt /etc/app/conf; echo x > /out/w; ls /"),
            "bound\nbound\nab\nbin\ndev\netc\nout\nproc\nrun\nscratch\nsrc\nsys\n"
        );
        let [warning] = c
            .warnings()
            .try_into()
            .expect("one warning: no /etc for resolv.conf");
        assert!(
            warning.to_string().contains("/etc, which does not exist"),
            "{warning}"
        );
        if stop {
            c.stop().expect("stop");
        } else {
            drop(c);
        }
        assert_as_found(&bare.root(), &before);
    }
    leaks.assert_clean();
}

/// Issue 14: lengths are checked before anything is made: a destination's component over
/// `NAME_MAX` (255 bytes), a destination over `PATH_MAX` (4095 bytes inside the root) — the
/// one 1,366 levels deep that used to leave 1,365 directories behind before failing.
#[test]
fn destination_lengths_are_checked_before_anything_is_made() {
    let _scratch = Scratch::exclusive();
    let bare = BareRoot::new(None);
    let src = source("long-src");
    let before = listing(&bare.root());
    let leaks = LeakCheck::snapshot();
    let cases = [
        (
            format!("/{}", "n".repeat(256)),
            "a component of 256 bytes, longer than NAME_MAX (255)",
        ),
        (
            "/ab".repeat(1366),
            "is 4098 bytes long inside the root, longer than PATH_MAX allows (4095)",
        ),
    ];
    for (dest, needle) in cases {
        let err = Container::builder(bare.root())
            .bind(src.path(), &dest)
            .start();
        let err = err.expect_err("too long");
        let message = err.to_string();
        assert!(
            matches!(err, Error::BindDestination { .. }) && message.contains(needle),
            "{message}"
        );
        assert_as_found(&bare.root(), &before);
    }
    leaks.assert_clean();
}

/// Issue 14: after a start that fails inside (a bind whose destination cannot be made, after
/// the mount points and a first bind were made), everything made is removed before the error
/// is returned; PID 1 dying or killed once all is made (a failpoint, in a separate owner)
/// leaves nothing either.
#[test]
fn a_failed_start_leaves_the_root_as_found() {
    let _scratch = Scratch::exclusive();
    let bare = BareRoot::new(None);
    let src = source("failed-src");
    let before = listing(&bare.root());
    let leaks = LeakCheck::snapshot();
    let err = Container::builder(bare.root())
        .bind(src.path(), "/src/deeper")
        .bind(src.path(), "/proc/furnace-cannot")
        .start()
        .expect_err("a destination in /proc cannot be made");
    assert!(
        matches!(&err, Error::Setup { operation, .. } if operation.contains("/proc/furnace-cannot")),
        "{err}"
    );
    assert_as_found(&bare.root(), &before);
    for action in ["exit", "kill"] {
        let ran = Command::new(crate::HELPER)
            .arg("run-with")
            .arg(bare.root())
            .args([
                "--bind",
                &format!("{}:/src/x", src.path().display()),
                "--",
                "true",
            ])
            .env("FURNACE_FAILPOINT", format!("pid1-ready:{action}"))
            .output()
            .expect("run the helper");
        assert_eq!(ran.status.code(), Some(3), "{ran:?}");
        assert_as_found(&bare.root(), &before);
    }
    leaks.assert_clean();
}

/// Issue 14: what a start made stays while another container has the same root as its root —
/// they are that container's mount points too, and removing one would take its mount away.
/// (A documented trace: the second container did not make them, so nothing removes them.)
#[test]
fn mount_points_of_a_root_in_use_are_kept() {
    let _scratch = Scratch::new();
    let bare = BareRoot::new(None);
    let src = source("shared-src");
    let first = Container::builder(bare.root())
        .bind(src.path(), "/src")
        .start()
        .expect("first");
    let second = Container::builder(bare.root())
        .bind(src.path(), "/src")
        .start()
        .expect("second");
    drop(first);
    assert_eq!(
        sh_in(&second, "cat /src/data.txt; ls /dev/null"),
        "bound\n/dev/null\n"
    );
    drop(second);
    let mut left: Vec<String> = fs::read_dir(bare.root())
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["bin", "dev", "proc", "run", "src", "sys"]);
}

/// Issue 14: a detached container stopped through its registry (another handle) removes what
/// its start made, from the list kept with its state.
#[test]
fn a_detached_container_stopped_from_elsewhere_leaves_the_root_as_found() {
    let _scratch = Scratch::new();
    let bare = BareRoot::new(None);
    let state = TempDir::new("roots-registry");
    let registry = furnace_core::Registry::at(state.path());
    let before = listing(&bare.root());
    let src = source("detached-src");
    let c = Container::builder(bare.root())
        .name("roots-detached")
        .registry(registry.clone())
        .bind(src.path(), "/src")
        .start()
        .expect("start");
    drop(c);
    assert!(bare.root().join("src").is_dir(), "it runs on");
    assert!(
        registry.stop("roots-detached").expect("stop"),
        "it was running"
    );
    assert_as_found(&bare.root(), &before);
}

/// Issue 14: a detached container that ends on its own (its timeout) or is killed from outside
/// leaves what its start made until the next look at its registry, which removes it with the
/// entry: the root is as found.
#[test]
fn a_detached_container_that_ended_unstopped_leaves_the_root_as_found() {
    let _scratch = Scratch::new();
    for killed in [false, true] {
        let bare = BareRoot::new(None);
        let state = TempDir::new("roots-ended");
        let registry = furnace_core::Registry::at(state.path());
        let before = listing(&bare.root());
        let src = source("ended-src");
        let timeout = (!killed).then_some(std::time::Duration::from_millis(300));
        let c = Container::builder(bare.root())
            .name("roots-ended")
            .registry(registry.clone())
            .lifetime(furnace_core::Lifetime::Detached { timeout })
            .bind(src.path(), "/src")
            .start()
            .expect("start");
        assert!(bare.root().join("src").is_dir(), "the mount point is made");
        if killed {
            furnace_sys::process::Pidfd::open(c.init_pid())
                .expect("pidfd of PID 1")
                .send_signal(furnace_sys::Signal::KILL)
                .expect("kill PID 1");
        }
        let pid = c.init_pid();
        drop(c);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            assert!(std::time::Instant::now() < deadline, "PID 1 did not end");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            registry.list().expect("list").is_empty(),
            "the next look finds it ended (killed: {killed})"
        );
        assert_as_found(&bare.root(), &before);
    }
}
