//! The default profile attached for real.
//!
//! A filter applies to the thread that attaches it and to what that thread forks and
//! executes, so the test attaches it on a thread of its own (the test process's other threads
//! keep running unfiltered), checks a few calls there through safe wrappers, and has a forked
//! and executed `perl` (Debian's essential `perl-base`), which inherits the filters, make the
//! raw system calls that have no safe wrapper. The same script run without the filters shows
//! that each refusal comes from them. This keeps the test free of `unsafe`, which this file
//! may not use (see `cargo xtask tidy`).

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use super::super::compile::Arch;
use crate::SeccompProfile;
use furnace_sys::Errno;

const CLONE_NEWUSER: u64 = libc::CLONE_NEWUSER as u64;
const CLONE_FS: u64 = libc::CLONE_FS as u64;

/// The probes: a name, the system call, its arguments.
fn probes() -> Vec<(&'static str, &'static str, Vec<u64>)> {
    vec![
        ("keyctl", "keyctl", vec![9999, 0, 0, 0, 0]),
        ("add_key", "add_key", vec![0, 0, 0, 0, 0]),
        ("bpf", "bpf", vec![9999, 0, 0]),
        ("unshare_user", "unshare", vec![CLONE_NEWUSER]),
        ("personality_no_aslr", "personality", vec![0x004_0000]),
        ("setns", "setns", vec![u64::from(u32::MAX), 0]),
        ("mount", "mount", vec![0, 0, 0, 0, 0]),
        (
            "clone_newuser",
            "clone",
            vec![CLONE_NEWUSER | CLONE_FS, 0, 0, 0, 0],
        ),
        ("clone3", "clone3", vec![0, 0]),
        ("getpid", "getpid", vec![]),
        ("personality_query", "personality", vec![0xffff_ffff]),
    ]
}

/// A perl script making each probe and printing `name result`, where result is `ok` or the
/// negated errno; it also checks `uname`, `open` and `write` through perl's own calls.
fn script(arch: Arch) -> String {
    let mut script = String::from(
        "sub r { my ($n, $v, $e) = @_; print \"$n \", ($v == -1 ? -$e : \"ok\"), \"\\n\" }\n",
    );
    for (name, call, args) in probes() {
        let nr = arch.number(call).unwrap();
        let args: String = args.iter().map(|a| format!(", {a}")).collect();
        script.push_str(&format!("r(\"{name}\", syscall({nr}{args}), $!+0);\n"));
    }
    let uname = arch.number("uname").unwrap();
    script.push_str(&format!(
        "my $u = \"\\0\" x 390; r(\"uname\", syscall({uname}, $u), $!+0); \
         print \"sysname \", unpack(\"Z*\", $u), \"\\n\";\n\
         open(my $f, \"<\", \"/proc/self/status\") or die \"open: $!\"; my @l = <$f>; \
         print \"open \", (scalar(@l) > 0 ? \"ok\" : \"empty\"), \"\\n\";\n"
    ));
    script
}

/// Runs the script; returns each probe's result.
fn run_perl(script: &str) -> Vec<(String, String)> {
    let out = Command::new("perl")
        .args(["-e", script])
        .output()
        .expect("perl (Debian's essential perl-base) must be installed for this test");
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (name, result) = l.split_once(' ').unwrap();
            (name.to_owned(), result.to_owned())
        })
        .collect()
}

fn result<'a>(results: &'a [(String, String)], name: &str) -> &'a str {
    &results.iter().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn default_profile_applied_in_a_thread_and_its_children() {
    let arch = Arch::native().expect("a supported architecture");
    let filters = SeccompProfile::default_profile().compile().unwrap();
    let script = script(arch);
    let unfiltered = run_perl(&script);

    let filtered_script = script.clone();
    let (filtered, x32) = std::thread::spawn(move || {
        furnace_sys::process::set_no_new_privs().unwrap();
        filters.apply().expect("attach the filters");
        // Safe wrappers, on this thread.
        assert_eq!(
            furnace_sys::cred::forksafe::join_new_session_keyring(),
            Err(Errno::PERM)
        );
        let unshare = furnace_sys::ns::unshare(furnace_sys::ns::Namespaces::USER);
        assert_eq!(unshare.unwrap_err().errno(), Errno::PERM);
        assert!(std::process::id() > 1);
        assert_eq!(rustix::system::uname().sysname().to_str(), Ok("Linux"));
        let path = std::env::temp_dir().join(format!("furnace-seccomp-{}", std::process::id()));
        std::fs::write(&path, b"written under seccomp").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"written under seccomp");
        std::fs::remove_file(&path).unwrap();
        // A forked and executed child inherits the filters.
        let filtered = run_perl(&filtered_script);
        // An x32 call (getpid with bit 30) kills the process.
        let x32 = (arch == Arch::X86_64).then(|| {
            let nr = arch.number("getpid").unwrap() | 0x4000_0000;
            Command::new("perl")
                .args(["-e", &format!("syscall({nr}); print \"survived\\n\";")])
                .output()
                .unwrap()
        });
        (filtered, x32)
    })
    .join()
    .unwrap();

    let eperm = format!("-{}", libc::EPERM);
    for name in [
        "keyctl",
        "add_key",
        "bpf",
        "unshare_user",
        "personality_no_aslr",
        "setns",
        "mount",
        "clone_newuser",
    ] {
        assert_eq!(result(&filtered, name), eperm, "{name}: {filtered:?}");
    }
    assert_eq!(
        result(&filtered, "clone3"),
        format!("-{}", libc::ENOSYS),
        "clone3"
    );
    for name in ["getpid", "personality_query", "uname", "open"] {
        assert_eq!(result(&filtered, name), "ok", "{name}: {filtered:?}");
    }
    assert_eq!(result(&filtered, "sysname"), "Linux");
    // Without the filters the same calls fail otherwise, or succeed: the refusals are the
    // filters' doing.
    for name in [
        "keyctl",
        "add_key",
        "personality_no_aslr",
        "setns",
        "mount",
        "clone_newuser",
    ] {
        assert_ne!(result(&unfiltered, name), eperm, "{name}: {unfiltered:?}");
    }
    assert_ne!(result(&unfiltered, "clone3"), format!("-{}", libc::ENOSYS));
    if let Some(out) = x32 {
        assert_eq!(out.status.signal(), Some(libc::SIGSYS), "{out:?}");
        assert!(out.stdout.is_empty());
    }
}
