//! Bad input gets a typed error that names the argument, before anything starts, and leaves
//! nothing: roots (missing, not a directory, the host's own), bind sources and destinations
//! (missing, out of the root, `..`, the root itself, kind mismatches), hostnames; and odd but
//! good input (symlinks, relative paths, non-UTF-8 names) works.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use furnace_core::{Container, Error, PathProblem};
use furnace_tests::hostside::{bind_source, symlink_over, up_from, HostMount};
use furnace_tests::*;

/// A01: a missing root is refused as such, naming the path; nothing is created.
#[test]
fn missing_root() {
    let missing = Path::new("/tmp").join(unique_name("missing-root"));
    let err = Container::start(&missing).expect_err("a missing root is refused");
    assert!(
        matches!(&err, Error::InvalidRoot { problem: PathProblem::Missing, path } if *path == missing),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&*missing.to_string_lossy()),
        "names the path: {message}"
    );
    assert!(message.contains("does not exist"), "{message}");
    assert!(!missing.exists(), "nothing created");
}

/// A02: a root that is a file is refused as not a directory.
#[test]
fn root_that_is_a_file() {
    let dir = TempDir::new("root-file");
    let file = dir.join("not-a-dir");
    std::fs::write(&file, "x").expect("write");
    let err = Container::start(&file).expect_err("a file root is refused");
    assert!(
        matches!(
            err,
            Error::InvalidRoot {
                problem: PathProblem::NotADirectory,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("not a directory"), "{err}");
}

/// A09: a missing bind source is refused, naming it; no destination is created.
#[test]
fn missing_bind_source() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let missing = scratch.dir().join("no-such-source");
    let err = Container::builder(scratch.root())
        .bind(&missing, "/mnt/x")
        .start()
        .expect_err("a missing bind source is refused");
    assert!(
        matches!(&err, Error::BindSource { problem: PathProblem::Missing, path } if *path == missing),
        "{err:?}"
    );
    assert!(err.to_string().contains("no-such-source"), "{err}");
    assert!(
        !scratch.host_path("/mnt/x").exists(),
        "no destination created"
    );
    leaks.assert_clean();
}

/// A10: bind destinations through symlinks out of the root (absolute and relative) are refused;
/// nothing is created outside.
#[test]
fn bind_destination_symlink_out_of_the_root() {
    let scratch = Scratch::exclusive();
    let outside = TempDir::new("outside");
    std::os::unix::fs::symlink(outside.path(), scratch.host_path("/evil")).expect("symlink");
    let escape = format!("../../../../../../..{}", outside.path().display());
    std::os::unix::fs::symlink(&escape, scratch.host_path("/mnt/evil-relative")).expect("symlink");
    let src = TempDir::new("bind-src");
    std::fs::write(src.join("payload"), "payload").expect("write");
    let leaks = LeakCheck::snapshot();
    for dest in ["/evil", "/evil/sub/dir", "evil", "/mnt/evil-relative/x"] {
        let err = Container::builder(scratch.root())
            .bind(src.path(), dest)
            .start()
            .expect_err("a destination leading out of the root is refused");
        assert!(
            matches!(
                &err,
                Error::BindDestination {
                    problem: PathProblem::EscapesRoot,
                    ..
                }
            ),
            "{dest}: {err:?}"
        );
        assert!(err.to_string().contains("out of the root"), "{err}");
    }
    // A file source onto the symlink's directory, too.
    let err = Container::builder(scratch.root())
        .bind(src.join("payload"), "/evil/payload")
        .start()
        .expect_err("refused");
    assert!(
        matches!(
            &err,
            Error::BindDestination {
                problem: PathProblem::EscapesRoot,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read_dir(outside.path()).expect("list").count(),
        0,
        "nothing was created outside"
    );
    leaks.assert_clean();
}

/// A11: a destination with `..` is refused.
#[test]
fn dot_dot_in_a_destination() {
    let scratch = Scratch::new();
    let src = TempDir::new("bind-src");
    for dest in ["/a/../../etc", "../outside", "/mnt/.."] {
        let err = Container::builder(scratch.root())
            .bind(src.path(), dest)
            .start()
            .expect_err("`..` is refused");
        assert!(
            matches!(
                &err,
                Error::BindDestination {
                    problem: PathProblem::DotDot,
                    ..
                }
            ),
            "{dest}: {err:?}"
        );
    }
    assert!(!scratch.host_path("/a").exists());
}

/// A11: the root itself, a file onto a directory, a directory onto a file, and a path below a
/// file are refused as destinations.
#[test]
fn other_bad_destinations() {
    let scratch = Scratch::new();
    let src = TempDir::new("bind-src");
    std::fs::write(src.join("file"), "x").expect("write");
    let (dir, file) = (src.path().to_path_buf(), src.join("file"));
    type Case<'a> = (&'a str, &'a PathBuf, &'a str, fn(&PathProblem) -> bool);
    let cases: [Case; 4] = [
        ("the root itself", &dir, "/", |p| *p == PathProblem::IsRoot),
        ("a file onto a directory", &file, "/etc", |p| {
            matches!(p, PathProblem::KindMismatch(_))
        }),
        ("a directory onto a file", &dir, "/etc/passwd", |p| {
            matches!(p, PathProblem::KindMismatch(_))
        }),
        ("below a file", &dir, "/etc/passwd/below", |p| {
            *p == PathProblem::NotADirectory
        }),
    ];
    for (what, source, destination, expected) in cases {
        let err = Container::builder(scratch.root())
            .bind(source, destination)
            .start()
            .expect_err(what);
        assert!(
            matches!(&err, Error::BindDestination { problem, .. } if expected(problem)),
            "{what}: {err:?}"
        );
    }
}

fn os(bytes: &[u8]) -> OsString {
    OsString::from_vec(bytes.to_vec())
}

/// Asserts `err` is an `InvalidRoot` with `problem` whose message names `shown`.
fn assert_root_error(err: &Error, problem: &PathProblem, shown: &str) {
    assert!(
        matches!(err, Error::InvalidRoot { problem: p, .. } if p == problem),
        "{shown}: {err:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with("root directory") && message.contains(shown),
        "names the argument: {message}"
    );
    assert!(message.contains(&problem.to_string()), "{message}");
}

/// A01, A02, A04, A13: bad roots (missing, a file, a fifo, `/dev/null`, a dangling symlink,
/// below a file, non-UTF-8, relative, the host's own root however spelled) get typed errors
/// that name them, and leave nothing.
#[test]
fn bad_roots_get_typed_errors_and_leave_nothing() {
    let scratch = Scratch::exclusive();
    let dir = scratch.dir();
    std::fs::write(dir.join("a-file"), "x").expect("write");
    // mkfifo(3) is mknod(2) of a fifo.
    rustix::fs::mknodat(
        rustix::fs::CWD,
        dir.join("a-fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .expect("mkfifo");
    symlink_over(&dir.join("dangling"), dir.join("nowhere"));
    symlink_over(&dir.join("to-host-root"), "/");
    let leaks = LeakCheck::snapshot();
    let missing = dir.join("missing");
    let non_utf8 = dir.join(os(b"missing-\xff"));
    let cases: Vec<(PathBuf, PathProblem, String)> = vec![
        (
            missing.clone(),
            PathProblem::Missing,
            missing.display().to_string(),
        ),
        (
            dir.join("a-file"),
            PathProblem::NotADirectory,
            "a-file".into(),
        ),
        (
            dir.join("a-fifo"),
            PathProblem::NotADirectory,
            "a-fifo".into(),
        ),
        (
            "/dev/null".into(),
            PathProblem::NotADirectory,
            "/dev/null".into(),
        ),
        (
            dir.join("dangling"),
            PathProblem::Missing,
            "dangling".into(),
        ),
        (
            dir.join("a-file/below"),
            PathProblem::NotADirectory,
            "a-file/below".into(),
        ),
        (
            non_utf8.clone(),
            PathProblem::Missing,
            "missing-\\xff".into(),
        ),
        (
            "relative/missing".into(),
            PathProblem::Missing,
            "relative/missing".into(),
        ),
    ];
    for (root, problem, shown) in &cases {
        let err = within(DEADLINE, "a start with a bad root", {
            let root = root.clone();
            move || Container::start(root).map(drop)
        })
        .expect_err("refused");
        assert_root_error(&err, problem, shown);
    }
    // The host's own root, however it is spelled.
    for root in [
        PathBuf::from("/"),
        PathBuf::from("//"),
        PathBuf::from("/tmp/.."),
        dir.join("to-host-root"),
    ] {
        let err = Container::start(&root).expect_err("the host's root is refused");
        assert!(
            matches!(err, Error::InvalidRoot { .. }),
            "{}: {err:?}",
            root.display()
        );
        assert!(err.to_string().contains("host's own root"), "{err}");
    }
    assert!(!missing.exists() && !non_utf8.exists(), "nothing created");
    leaks.assert_clean();
}

/// A03, A13: roots given through symlinks, relative paths and non-UTF-8 names work, and resolve
/// to the canonical root.
#[test]
fn roots_through_symlinks_relative_paths_and_non_utf8_names_work() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    let canonical = std::fs::canonicalize(scratch.root()).expect("canonicalize");
    // A symlink to the root.
    let link = scratch.dir().join("link-to-root");
    symlink_over(&link, scratch.root());
    // A relative spelling, from this process's working directory.
    let cwd = std::env::current_dir().expect("cwd");
    let relative = up_from(&cwd).join(canonical.strip_prefix("/").expect("absolute"));
    // A non-UTF-8 name: a symlink, and a real directory the root is bind-mounted on.
    let odd_link = scratch.dir().join(os(b"link-\xff-root"));
    symlink_over(&odd_link, scratch.root());
    let odd_dir = scratch.dir().join(os(b"dir-\xfe-root"));
    std::fs::create_dir(&odd_dir).expect("mkdir");
    let odd_mount = HostMount::bind(scratch.root(), &odd_dir);
    for (root, expected) in [
        (link.clone(), canonical.clone()),
        (relative.clone(), canonical.clone()),
        (odd_link.clone(), canonical.clone()),
        (odd_dir.clone(), odd_dir.clone()),
    ] {
        let c = Container::start(&root)
            .unwrap_or_else(|e| panic!("start over {}: {e}", root.display()));
        assert_eq!(c.root(), expected, "canonical root of {}", root.display());
        assert_eq!(sh_ok(&c, "echo inside"), "inside\n");
    }
    assert_eq!(std::env::current_dir().expect("cwd"), cwd, "cwd unchanged");
    drop(odd_mount);
    leaks.assert_clean();
}

/// Bad hostnames (empty, too long, a slash, white space, NUL) are refused before anything
/// starts; 64 bytes work.
#[test]
fn hostnames_are_checked_before_anything_starts() {
    let scratch = Scratch::exclusive();
    let leaks = LeakCheck::snapshot();
    for (name, reason) in [
        ("", "empty"),
        (&*"a".repeat(65), "longer than 64"),
        ("a/b", "slash"),
        ("a b", "white space"),
        ("a\nb", "white space"),
        ("a\0b", "NUL"),
    ] {
        let err = Container::builder(scratch.root())
            .hostname(name)
            .start()
            .expect_err("a bad hostname is refused");
        assert!(
            matches!(&err, Error::InvalidHostname { name: n, .. } if n == name),
            "{name:?}: {err:?}"
        );
        let message = err.to_string();
        assert!(
            message.starts_with("hostname") && message.contains(reason),
            "names the argument and the problem: {message}"
        );
    }
    leaks.assert_clean();
    let longest = "h".repeat(64);
    let c = Container::builder(scratch.root())
        .hostname(&longest)
        .start()
        .expect("a 64-byte hostname works");
    assert_eq!(sh_ok(&c, "hostname"), format!("{longest}\n"));
}

/// A09, A11, A13: bad bind sources and destinations get typed errors that name the argument and
/// the problem, and leave nothing.
#[test]
fn bad_bind_sources_and_destinations_get_typed_errors_and_leave_nothing() {
    let scratch = Scratch::exclusive();
    let src = bind_source("bad-bind-src");
    symlink_over(&src.join("dangling"), src.join("nowhere"));
    let upper_before = scratch.upper_entries();
    let leaks = LeakCheck::snapshot();
    let dir = src.path().to_path_buf();
    let file = src.join("payload");
    let cases: Vec<(PathBuf, &str, &str, Check)> = vec![
        (
            src.join("missing"),
            "/mnt/x",
            "does not exist",
            Box::new(|e| {
                matches!(
                    e,
                    Error::BindSource {
                        problem: PathProblem::Missing,
                        ..
                    }
                )
            }),
        ),
        (
            src.join("dangling"),
            "/mnt/x",
            "does not exist",
            Box::new(|e| {
                matches!(
                    e,
                    Error::BindSource {
                        problem: PathProblem::Missing,
                        ..
                    }
                )
            }),
        ),
        (
            src.join(os(b"missing-\xff")),
            "/mnt/x",
            "missing-\\xff",
            Box::new(|e| {
                matches!(
                    e,
                    Error::BindSource {
                        problem: PathProblem::Missing,
                        ..
                    }
                )
            }),
        ),
        (dir.clone(), "/", "root of the container", Box::new(is_root)),
        (dir.clone(), ".", "root of the container", Box::new(is_root)),
        (dir.clone(), "", "root of the container", Box::new(is_root)),
        (
            dir.clone(),
            "/./",
            "root of the container",
            Box::new(is_root),
        ),
        (dir.clone(), "/a/../b", "`..`", Box::new(is_dot_dot)),
        (dir.clone(), "..", "`..`", Box::new(is_dot_dot)),
        (dir.clone(), "/mnt/x/..", "`..`", Box::new(is_dot_dot)),
        (
            dir.clone(),
            "/etc/passwd/below",
            "not a directory",
            Box::new(|e| {
                matches!(
                    e,
                    Error::BindDestination {
                        problem: PathProblem::NotADirectory,
                        ..
                    }
                )
            }),
        ),
        (
            file.clone(),
            "/etc",
            "directory",
            Box::new(is_kind_mismatch),
        ),
        (
            dir.clone(),
            "/etc/passwd",
            "directory",
            Box::new(is_kind_mismatch),
        ),
    ];
    for (source, dest, words, check) in &cases {
        let err = Container::builder(scratch.root())
            .bind(source, dest)
            .start()
            .expect_err("bad bind input is refused");
        assert!(check(&err), "{} -> {dest:?}: {err:?}", source.display());
        let message = err.to_string();
        let argument = if matches!(err, Error::BindSource { .. }) {
            "bind source"
        } else {
            "bind destination"
        };
        assert!(
            message.starts_with(argument) && message.contains(words),
            "names the argument and the problem: {message}"
        );
    }
    assert_eq!(
        scratch.upper_entries(),
        upper_before,
        "nothing created in the root"
    );
    leaks.assert_clean();
}

/// What a bad bind must be refused as.
type Check = Box<dyn Fn(&Error) -> bool>;

fn is_root(e: &Error) -> bool {
    matches!(
        e,
        Error::BindDestination {
            problem: PathProblem::IsRoot,
            ..
        }
    )
}

fn is_dot_dot(e: &Error) -> bool {
    matches!(
        e,
        Error::BindDestination {
            problem: PathProblem::DotDot,
            ..
        }
    )
}

fn is_kind_mismatch(e: &Error) -> bool {
    matches!(
        e,
        Error::BindDestination {
            problem: PathProblem::KindMismatch(_),
            ..
        }
    )
}

/// A13: a non-UTF-8 bind source and destination work.
#[test]
fn non_utf8_bind_source_and_destination_work() {
    let scratch = Scratch::new();
    let base = TempDir::new("odd-src");
    let source = base.join(os(b"src-\xff"));
    std::fs::create_dir(&source).expect("mkdir");
    std::fs::write(source.join("payload"), "odd\n").expect("write");
    let dest = PathBuf::from(os(b"/mnt/dst-\xfe"));
    let c = Container::builder(scratch.root())
        .bind(&source, &dest)
        .start()
        .unwrap_or_else(|e| panic!("non-UTF-8 bind paths: {e}"));
    assert_eq!(sh_ok(&c, "cat /mnt/dst-*/payload"), "odd\n");
    let out = c
        .command("cat")
        .arg(dest.join("payload"))
        .output()
        .expect("cat");
    assert_eq!(out.stdout, b"odd\n", "the exact name works inside");
    assert!(scratch.host_path(&dest).is_dir(), "created inside the root");
    drop(c);
    assert!(!scratch.host_path(&dest).exists(), "and removed at the end");
}
