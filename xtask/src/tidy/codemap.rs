//! Every module is in the code map: `docs/ARCHITECTURE.md` names, in backticks, each `.rs` file
//! under `crates/*/src`, `xtask/src` and `tests/src` by its path from the workspace root — a
//! directory module (`foo/mod.rs`, or `foo.rs` beside `foo/`) may be named by its directory
//! instead — and each test directory (`crates/*/tests`, `tests/it`: any other directory of a
//! crate with Rust files in it, except `examples` and `benches`) by its path, or each of its
//! files by theirs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::{Check, Violation};

/// Where the code map is, relative to the workspace root.
pub const ARCHITECTURE: &str = "docs/ARCHITECTURE.md";

/// What part of the tree a file belongs to.
#[derive(Debug, PartialEq, Eq)]
enum Place {
    /// A module of a crate's sources.
    Module,
    /// A file in this test directory.
    TestDir(String),
    /// Neither (examples, build scripts, benches).
    Elsewhere,
}

/// Directories of a crate that hold neither modules nor tests.
const NOT_TESTS: &[&str] = &["src", "examples", "benches"];

fn place(path: &str) -> Place {
    let parts: Vec<&str> = path.split('/').collect();
    // The crate's directory, and what follows it.
    let (krate, rest) = match parts.as_slice() {
        ["crates", name, rest @ ..] => (format!("crates/{name}"), rest),
        [name @ ("xtask" | "tests"), rest @ ..] => (name.to_string(), rest),
        _ => return Place::Elsewhere,
    };
    match rest {
        ["src", _, ..] => Place::Module,
        // Any other directory of a crate with Rust files in it holds test targets
        // (`tests/`, or one named in Cargo.toml's `[[test]]`, like `tests/it/`).
        [dir, _, ..] if !NOT_TESTS.contains(dir) => Place::TestDir(format!("{krate}/{dir}")),
        _ => Place::Elsewhere,
    }
}

/// The code spans (`` `...` ``) of a Markdown text outside fenced blocks, trimmed, without a
/// trailing `/`.
pub fn code_spans(markdown: &str) -> BTreeSet<String> {
    let mut text = String::new();
    let mut fenced = false;
    for line in markdown.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            fenced = !fenced;
        } else if !fenced {
            text.push_str(line);
            text.push('\n');
        }
    }
    let bytes = text.as_bytes();
    let run = |at: usize| bytes[at..].iter().take_while(|&&b| b == b'`').count();
    let mut spans = BTreeSet::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'`' {
            i += 1;
            continue;
        }
        // A run of n backticks opens a span that the next run of exactly n closes.
        let n = run(i);
        let start = i + n;
        let mut j = start;
        let mut close = None;
        while j < bytes.len() {
            if bytes[j] == b'`' {
                let m = run(j);
                if m == n {
                    close = Some(j);
                    break;
                }
                j += m;
            } else {
                j += 1;
            }
        }
        match close {
            Some(end) => {
                let span = text[start..end].trim().trim_end_matches('/');
                spans.insert(span.to_owned());
                i = end + n;
            }
            None => i = start,
        }
    }
    spans
}

/// The names under which the module in `path` may appear in the code map.
fn accepted_names(root: &Path, path: &str) -> Vec<String> {
    let mut names = vec![path.to_owned()];
    if let Some(dir) = path.strip_suffix("/mod.rs") {
        names.push(dir.to_owned());
    } else if let Some(stem) = path.strip_suffix(".rs") {
        if root.join(stem).is_dir() {
            names.push(stem.to_owned());
        }
    }
    names
}

/// The spelling to suggest: the directory (with a `/`) for a directory module, else the file.
fn suggested_name(names: &[String]) -> String {
    match names {
        [_, dir] => format!("{dir}/"),
        [file, ..] => file.clone(),
        [] => String::new(),
    }
}

/// The modules and test directories `files` (relative to `root`) hold that the code map lacks.
pub fn check(root: &Path, files: &[PathBuf]) -> Vec<Violation> {
    let violation = |path: &str, message: String| Violation {
        check: Check::CodeMap,
        path: path.to_owned(),
        line: 1,
        message,
    };
    let Ok(markdown) = fs::read_to_string(root.join(ARCHITECTURE)) else {
        return vec![violation(
            ARCHITECTURE,
            "missing: it holds the code map every module must be in".into(),
        )];
    };
    let spans = code_spans(&markdown);
    let mut found = Vec::new();
    let mut test_dirs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in files {
        let path = file.to_string_lossy();
        match place(&path) {
            Place::Module => {
                let names = accepted_names(root, &path);
                if !names.iter().any(|n| spans.contains(n)) {
                    found.push(violation(
                        &path,
                        format!(
                            "module missing from {ARCHITECTURE}'s code map (name it there, in \
                             backticks, as `{}`)",
                            suggested_name(&names)
                        ),
                    ));
                }
            }
            Place::TestDir(dir) => test_dirs.entry(dir).or_default().push(path.into_owned()),
            Place::Elsewhere => {}
        }
    }
    for (dir, files) in test_dirs {
        if !spans.contains(&dir) && !files.iter().all(|f| spans.contains(f)) {
            found.push(violation(
                &dir,
                format!(
                    "test directory missing from {ARCHITECTURE}'s code map (name it there, in \
                     backticks, as `{dir}/`, or each of its files)"
                ),
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_of_markdown() {
        let md = "A `crates/a/src/x.rs` and ``code with ` inside`` and `xtask/src/util/`.\n\
                  ```\n`not/in/a/span.rs`\n```\nAn unclosed ` tick, then `b.rs`.";
        let spans = code_spans(md);
        assert!(spans.contains("crates/a/src/x.rs"));
        assert!(spans.contains("code with ` inside"));
        assert!(spans.contains("xtask/src/util"));
        assert!(!spans.contains("not/in/a/span.rs"));
        // A lone backtick pairs with the next one, as in Markdown.
        assert!(spans.contains("tick, then"));
        assert!(!spans.contains("b.rs"));
    }

    #[test]
    fn places() {
        assert_eq!(place("crates/furnace-sys/src/raw.rs"), Place::Module);
        assert_eq!(place("xtask/src/tidy/mod.rs"), Place::Module);
        assert_eq!(place("tests/src/bin/helper.rs"), Place::Module);
        assert_eq!(
            place("crates/furnace-cli/tests/cli.rs"),
            Place::TestDir("crates/furnace-cli/tests".into())
        );
        assert_eq!(
            place("tests/tests/common/mod.rs"),
            Place::TestDir("tests/tests".into())
        );
        assert_eq!(place("tests/it/main.rs"), Place::TestDir("tests/it".into()));
        assert_eq!(
            place("crates/furnace-core/examples/ps.rs"),
            Place::Elsewhere
        );
        assert_eq!(place("docs/x.rs"), Place::Elsewhere);
        assert_eq!(place("tests/build.rs"), Place::Elsewhere);
    }

    #[test]
    fn missing_modules_and_test_dirs() {
        let root = std::env::temp_dir().join(format!("xtask-codemap-{}", std::process::id()));
        fs::create_dir_all(root.join("docs")).unwrap();
        fs::write(
            root.join(ARCHITECTURE),
            "`crates/a/src/lib.rs`, `xtask/src/util/` and `tests/tests/one.rs`.\n",
        )
        .unwrap();
        let files: Vec<PathBuf> = [
            "crates/a/src/lib.rs",
            "crates/a/src/gone.rs",
            "xtask/src/util/mod.rs",
            "tests/tests/one.rs",
            "crates/a/tests/t.rs",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let found: Vec<String> = check(&root, &files).iter().map(|v| v.to_string()).collect();
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].starts_with("crates/a/src/gone.rs:1: module missing"));
        assert!(found[1].starts_with("crates/a/tests:1: test directory missing"));
    }
}
