//! Unit tests of the builder's checks.

use super::*;
use crate::Container;

#[test]
fn bad_roots_are_refused_before_anything_starts() {
    let err = Container::start("/nonexistent/furnace-root").unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidRoot {
                problem: PathProblem::Missing,
                ..
            }
        ),
        "{err}"
    );
    let err = Container::start("/etc/hostname").unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidRoot {
                problem: PathProblem::NotADirectory,
                ..
            }
        ),
        "{err}"
    );
    let err = Container::start("/").unwrap_err();
    assert!(err.to_string().contains("host's own root"), "{err}");
}

#[test]
fn hostnames_are_checked() {
    assert!(validate_hostname("localhost").is_ok());
    assert!(validate_hostname("").is_err());
    assert!(validate_hostname("a b").is_err());
    assert!(validate_hostname(&"x".repeat(65)).is_err());
    let err = Container::builder("/tmp")
        .hostname("bad/name")
        .start()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidHostname { .. }), "{err}");
}

#[test]
fn destinations_are_split_inside_the_root() {
    let parts = inside_components(Path::new("/a/./b/")).unwrap();
    assert_eq!(parts, vec![OsString::from("a"), OsString::from("b")]);
    assert_eq!(inside_components(Path::new("a/b")).unwrap().len(), 2);
    assert_eq!(
        inside_components(Path::new("/a/../b")),
        Err(PathProblem::DotDot)
    );
    assert_eq!(inside_components(Path::new("/")), Err(PathProblem::IsRoot));
    assert_eq!(
        inside_components(Path::new("/a\0b")),
        Err(PathProblem::NulByte)
    );
}

#[test]
fn destination_lengths_are_checked() {
    let at_most = |name: usize, total: usize| {
        let parts = total / (name + 1);
        let path = format!("/{}", "n".repeat(name)).repeat(parts);
        inside_components(Path::new(&path)).map(|p| p.len())
    };
    assert_eq!(at_most(NAME_MAX, NAME_MAX + 1), Ok(1));
    assert_eq!(
        at_most(NAME_MAX + 1, NAME_MAX + 2),
        Err(PathProblem::NameTooLong { len: 256 })
    );
    // 1,365 components of two bytes: 4095 bytes, the most PATH_MAX allows; one more is
    // refused before anything is made.
    assert_eq!(at_most(2, PATH_MAX), Ok(1365));
    assert_eq!(
        at_most(2, PATH_MAX + 3),
        Err(PathProblem::PathTooLong { len: 4098 })
    );
}

#[test]
fn hardened_binds_cannot_be_hidden_or_made_read_only() {
    let dir = std::env::temp_dir();
    let refused = |dest: &str, read_only: bool| {
        let mut builder = Container::builder(&dir);
        builder.hardened(true);
        builder.mount(if read_only {
            BindMount::new(&dir, dest).read_only()
        } else {
            BindMount::new(&dir, dest)
        });
        match builder.validate() {
            Err(Error::BindDestination { problem, .. }) => Some(problem.to_string()),
            Err(other) => panic!("{dest}: {other}"),
            Ok(_) => None,
        }
    };
    assert!(refused("/proc/acpi", true).unwrap().contains("masked"));
    assert!(refused("/sys/firmware/x", true).unwrap().contains("masked"));
    assert!(refused("/sys/devices/system/cpu/cpu0/thermal_throttle", true).is_some());
    assert!(refused("/proc/sys/x", false).unwrap().contains("read-only"));
    assert!(refused("/dev/null", true).unwrap().contains("/dev/null"));
    assert!(refused("/dev", true).is_some());
    assert_eq!(refused("/proc/sys/x", true), None);
    assert_eq!(refused("/run/out", false), None);
    // The privileged profile masks nothing.
    let mut builder = Container::builder(&dir);
    builder.bind(&dir, "/proc/acpi");
    assert!(builder.validate().is_ok());
}

#[test]
fn hardened_checks_follow_symlinks_in_the_root() {
    let root = std::env::temp_dir().join(format!("furnace-unit-{}-links", std::process::id()));
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::os::unix::fs::symlink("proc", root.join("p")).unwrap();
    let source = std::env::temp_dir();
    let outcome = |dest: &str| {
        let mut builder = Container::builder(&root);
        builder.hardened(true).bind_ro(&source, dest);
        builder.validate().err().map(|e| e.to_string())
    };
    let through_link = outcome("/p/acpi");
    let plain = outcome("/data/acpi");
    std::fs::remove_dir_all(&root).unwrap();
    assert!(
        through_link
            .as_deref()
            .is_some_and(|e| e.contains("masked")),
        "{through_link:?}"
    );
    assert_eq!(plain, None);
}

#[test]
fn hardened_capabilities_are_containerds_nine() {
    let config = Container::builder(std::env::temp_dir())
        .hardened(true)
        .validate()
        .unwrap();
    assert_eq!(config.capabilities, Some(hardened_capability_mask()));
    assert_eq!(hardened_capability_mask(), 0x5fb);
}
