//! Issue 15 through the binary: `--seccomp default|unconfined|FILE`. A bad profile is refused
//! with one line and exit 125 before anything runs; `--hardened` alone puts every command
//! under furnace's default filter, `--seccomp unconfined` takes it away; a profile file (OCI
//! or Docker format) is applied as written, Docker's capability conditions resolved against
//! the profile's capabilities.

mod common;

use common::*;

/// Writes `json` as `NAME` in the test's directory (outside the root); returns its path.
fn profile_file(t: &TestRoot, name: &str, json: &str) -> String {
    let path = t.dir.join(name);
    fs::write(&path, json).expect("write the profile");
    path.to_str().expect("a UTF-8 path").to_owned()
}

/// The `Seccomp`, `Seccomp_filters` and `NoNewPrivs` fields of `/proc/self/status` as the
/// command sees it, under `options`.
fn status_fields(t: &TestRoot, options: &[&str]) -> (String, u32, String) {
    let out = output(&mut t.run(options, &["cat", "/proc/self/status"]));
    assert!(out.status.success(), "{options:?}: {out:?}");
    let status = text(&out.stdout);
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("{options:?}: no {name} in\n{status}"))
    };
    let filters = field("Seccomp_filters")
        .parse()
        .expect("Seccomp_filters is a number");
    (field("Seccomp"), filters, field("NoNewPrivs"))
}

/// A missing file, a file that is not JSON, an unknown action, an unknown system call name and
/// an unknown field: each is exit 125 with exactly one line, `furnace: --seccomp "VALUE": `
/// and what is wrong, in either profile, and the command never runs.
#[test]
fn bad_profiles_are_refused_with_one_line() {
    let t = TestRoot::new();
    let missing = t.dir.join("no-such-profile.json");
    let missing = missing.to_str().unwrap().to_owned();
    let not_json = profile_file(&t, "not-json.json", "{defaultAction: allow");
    let action = profile_file(
        &t,
        "action.json",
        r#"{"defaultAction": "SCMP_ACT_PERHAPS"}"#,
    );
    let syscall = profile_file(
        &t,
        "syscall.json",
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getpid", "no_such_call"], "action": "SCMP_ACT_ERRNO"}]}"#,
    );
    let field = profile_file(
        &t,
        "field.json",
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "defaultActoin": "SCMP_ACT_ERRNO"}"#,
    );
    let cases: [(&String, &[&str]); 5] = [
        (&missing, &["No such file or directory"]),
        (&not_json, &["JSON", "line 1 column"]),
        (
            &action,
            &[
                "defaultAction",
                "SCMP_ACT_PERHAPS",
                "is not a seccomp action",
            ],
        ),
        (
            &syscall,
            &["names[1]", "no_such_call", "is not a system call"],
        ),
        (&field, &["unknown field", "defaultActoin"]),
    ];
    for (value, needles) in cases {
        for options in [&[][..], &["--hardened"][..]] {
            let mut all = vec!["--seccomp", value.as_str()];
            all.extend_from_slice(options);
            let out = output(&mut t.run(&all, &["sh", "-c", "echo ran"]));
            for needle in needles {
                assert_furnace_failure(&out, needle);
            }
            let stderr = text(&out.stderr);
            assert!(
                stderr.starts_with(&format!("furnace: --seccomp \"{value}\": ")),
                "{stderr:?}"
            );
            assert!(out.stdout.is_empty(), "the command ran: {out:?}");
        }
    }
}

/// `--hardened` alone: the command runs under a filter (`Seccomp: 2`, filters attached);
/// `--seccomp unconfined` takes the filter away and keeps the rest of the profile
/// (`no_new_privs`); the privileged profile has no filter unless `--seccomp default` asks.
#[test]
fn hardened_means_the_default_filter_and_unconfined_removes_it() {
    let t = TestRoot::new();
    let (mode, filters, nnp) = status_fields(&t, &["--hardened"]);
    assert_eq!((mode.as_str(), nnp.as_str()), ("2", "1"), "--hardened");
    assert!(filters > 0, "--hardened: {filters} filters");
    let (mode, filters, nnp) = status_fields(&t, &["--hardened", "--seccomp", "unconfined"]);
    assert_eq!(
        (mode.as_str(), filters, nnp.as_str()),
        ("0", 0, "1"),
        "--hardened --seccomp unconfined"
    );
    let (mode, filters, _) = status_fields(&t, &[]);
    assert_eq!((mode.as_str(), filters), ("0", 0), "the privileged profile");
    let (mode, filters, _) = status_fields(&t, &["--seccomp", "default"]);
    assert_eq!(mode, "2", "--seccomp default");
    assert!(filters > 0, "--seccomp default: {filters} filters");
    // The default filter at work: unshare(CLONE_NEWUSER) is refused under --hardened only.
    let unshare = |options: &[&str]| {
        let out = output(&mut t.run(options, &["unshare", "-U", "true"]));
        (out.status.success(), text(&out.stderr))
    };
    let (ok, stderr) = unshare(&["--hardened"]);
    assert!(
        !ok && stderr.contains("Operation not permitted"),
        "{stderr}"
    );
    let (ok, stderr) = unshare(&["--hardened", "--seccomp", "unconfined"]);
    assert!(ok, "without the filter unshare -U works: {stderr}");
}

/// `--seccomp FILE` in the privileged profile: an OCI profile refusing only `getcwd` makes
/// `/bin/pwd` fail with "Operation not permitted", while the shell's builtin `pwd` (which
/// prints what it knows) and everything else work; without the option `/bin/pwd` works.
#[test]
fn a_profile_file_is_honoured_in_the_privileged_profile() {
    let t = TestRoot::new();
    let oci = profile_file(
        &t,
        "no-getcwd.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
    );
    let script = "pwd; /bin/pwd; echo status=$?";
    let out = output(&mut t.run(&["--seccomp", &oci], &["sh", "-c", script]));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout, "/\nstatus=1\n", "stderr: {stderr}");
    assert!(stderr.contains("Operation not permitted"), "{stderr}");
    // Without the profile, the same script.
    let out = output(&mut t.run(&[], &["sh", "-c", script]));
    assert_eq!(text(&out.stdout), "/\n/\nstatus=0\n", "{out:?}");
}

/// A Docker profile's `includes.caps`/`excludes.caps` are resolved against the capabilities
/// of the profile the container runs: with the privileged profile's (all) the
/// `CAP_SYS_ADMIN` rule applies, with `--hardened`'s (no `CAP_SYS_ADMIN`) the other one.
#[test]
fn a_docker_profile_follows_the_profiles_capabilities() {
    let t = TestRoot::new();
    let docker = profile_file(
        &t,
        "docker.json",
        r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                 "comment": "with CAP_SYS_ADMIN only",
                 "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                 "comment": "without CAP_SYS_ADMIN only",
                 "excludes": {"caps": ["CAP_SYS_ADMIN"]}}
            ]
        }"#,
    );
    // A directory of its own per run: the root is shared, and EEXIST must not pass for EPERM.
    let script = |dir: &str| format!("/bin/pwd; echo pwd=$?; mkdir /tmp/{dir}; echo mkdir=$?");
    let out = output(&mut t.run(&["--seccomp", &docker], &["sh", "-c", &script("p")]));
    assert_eq!(text(&out.stdout), "pwd=1\nmkdir=0\n", "privileged: {out:?}");
    assert!(
        t.root().join("tmp/p").is_dir(),
        "privileged: mkdir made /tmp/p"
    );
    let out = output(&mut t.run(
        &["--seccomp", &docker, "--hardened"],
        &["sh", "-c", &script("h")],
    ));
    assert_eq!(
        text(&out.stdout),
        "/\npwd=0\nmkdir=1\n",
        "hardened: {out:?}"
    );
    assert!(
        text(&out.stderr).contains("Operation not permitted"),
        "{out:?}"
    );
    assert!(
        !t.root().join("tmp/h").exists(),
        "hardened: mkdir was refused"
    );
}
