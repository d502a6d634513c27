//! `furnace completions` and `furnace man`: the completion scripts (valid, complete, know the
//! options) and the manual pages (roff that renders and lists the options), all generated
//! from the clap definitions; and the help texts showing every option with an example.
//!
//! These need neither root nor a test root.

mod common;

use common::*;

/// `furnace ARGS...` with stdin null.
fn furnace(args: &[&str]) -> Command {
    let mut cmd = Command::new(FURNACE);
    cmd.args(args).stdin(Stdio::null());
    cmd
}

/// A file of this test's own in the temp dir, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, content: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "furnace-cli-{}-{}-{name}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        fs::write(&path, content).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Completions and manual pages
// ---------------------------------------------------------------------------------------------

/// `furnace completions bash` is a valid bash script that knows the commands and the new
/// options; zsh and fish get theirs; an unknown shell is a usage error (125).
#[test]
fn completion_scripts() {
    let out = output(&mut furnace(&["completions", "bash"]));
    assert!(out.status.success(), "{out:?}");
    let script = text(&out.stdout);
    let file = TempFile::new("completion.bash", &script);
    let check = output(Command::new("bash").arg("-n").arg(&file.0));
    assert!(check.status.success(), "bash -n: {check:?}");
    for word in [
        "run",
        "shell",
        "start",
        "exec",
        "list",
        "stop",
        "completions",
        "--clearenv",
        "--env-file",
        "--unsetenv",
        "--cap-add",
        "--cap-drop",
        "--chdir",
        "--norc",
    ] {
        assert!(
            script.contains(word),
            "{word} missing from the bash completion"
        );
    }
    // The script completes: sourced in bash, `furnace ru<TAB>` offers run.
    let complete = "source \"$1\"; COMP_WORDS=(furnace ru); COMP_CWORD=1; \
                    COMP_LINE='furnace ru'; COMP_POINT=10; _furnace furnace ru furnace; \
                    echo \"${COMPREPLY[*]}\"";
    let out = output(
        Command::new("bash")
            .args(["-c", complete, "bash"])
            .arg(&file.0),
    );
    assert_eq!(text(&out.stdout).trim(), "run", "{out:?}");
    for (shell, marker) in [("zsh", "#compdef furnace"), ("fish", "complete -c furnace")] {
        let out = output(&mut furnace(&["completions", shell]));
        assert!(out.status.success(), "{shell}: {out:?}");
        assert!(text(&out.stdout).contains(marker), "{shell}");
        assert!(text(&out.stdout).contains("cap-add"), "{shell}");
    }
    let out = output(&mut furnace(&["completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(125), "{out:?}");
}

/// The manual pages: roff with the options of each command, rendered by man (or groff) when
/// installed; `man --dir` writes one page per command.
#[test]
fn manual_pages() {
    let out = output(&mut furnace(&["man", "run"]));
    assert!(out.status.success(), "{out:?}");
    let roff = text(&out.stdout);
    assert!(roff.contains(".TH furnace-run 1"), "{roff}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS"] {
        assert!(roff.contains(section), "{section} missing");
    }
    for option in [
        "clearenv",
        "env\\-file",
        "cap\\-add",
        "cap\\-drop",
        "unsetenv",
    ] {
        assert!(
            roff.contains(&format!("\\fB\\-\\-{option}\\fR")),
            "{option}"
        );
    }
    // Rendered by man-db when installed, else by groff, else only the roff is checked.
    let render = |page: &str| -> Option<String> {
        let renderer = if Path::new("/usr/bin/man").exists() {
            vec!["man", "-l"]
        } else if Path::new("/usr/bin/groff").exists() {
            vec!["groff", "-man", "-Tascii", "-P", "-cbou"]
        } else {
            return None;
        };
        let file = TempFile::new("furnace-run.1", page);
        let mut cmd = Command::new(renderer[0]);
        cmd.args(&renderer[1..]).arg(&file.0).env("MANWIDTH", "100");
        let out = output(&mut cmd);
        assert!(out.status.success(), "{renderer:?}: {out:?}");
        Some(text(&out.stdout))
    };
    if let Some(shown) = render(&roff) {
        for option in ["--clearenv", "--cap-add", "--bind", "--chdir"] {
            assert!(
                shown.contains(option),
                "{option} not in the rendered page:\n{shown}"
            );
        }
    }
    let out = output(&mut furnace(&["man"]));
    assert!(text(&out.stdout).contains(".TH furnace 1"), "{out:?}");
    let out = output(&mut furnace(&["man", "nope"]));
    assert_furnace_failure(&out, "man \"nope\": no such command");
    let dir = std::env::temp_dir().join(format!("furnace-man-{}", std::process::id()));
    let out = output(&mut furnace(&["man", "--dir", dir.to_str().unwrap()]));
    assert!(out.status.success(), "{out:?}");
    let mut pages: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        pages,
        [
            "furnace-completions.1",
            "furnace-exec.1",
            "furnace-list.1",
            "furnace-run.1",
            "furnace-shell.1",
            "furnace-start.1",
            "furnace-stop.1",
            "furnace.1"
        ]
    );
}

/// Every new option is in `--help`, with an example.
#[test]
fn help_shows_the_new_options_with_examples() {
    let help = |args: &[&str]| text(&output(&mut furnace(args)).stdout);
    let run = help(&["run", "--help"]);
    let (options, examples) = run
        .split_once("Examples:")
        .expect("run --help has examples");
    for option in [
        "--clearenv",
        "--env-file",
        "--unsetenv",
        "--cap-add",
        "--cap-drop",
        "--chdir",
    ] {
        assert!(options.contains(option), "{option} not in run --help");
        assert!(
            examples.contains(option),
            "no example of {option} in run --help"
        );
    }
    assert!(
        examples.contains("--bind ./src /src"),
        "no two-word bind example"
    );
    assert!(examples.contains(r"\:"), "no escape example");
    let shell = help(&["shell", "--help"]);
    assert!(shell.contains("--norc"), "{shell}");
    assert!(shell.split_once("Examples:").unwrap().1.contains("--norc"));
    let top = help(&["--help"]);
    assert!(top.contains("completions"), "{top}");
    assert!(help(&["completions", "--help"]).contains("Examples:"));
}
