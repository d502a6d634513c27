//! Where `unsafe` may be, and how it must be explained.
//!
//! `unsafe` (a block, fn, impl, trait or attribute) is allowed only in the files of [`ALLOWED`].
//! Wherever it is, an `unsafe` block or impl needs a comment containing `SAFETY:` on its line, on
//! one of the 3 lines above, or in the run of comment lines right above it; an `unsafe fn` or
//! `unsafe trait` needs a `# Safety` section in its doc comment.

use super::lex::Kind;
use super::{Check, Source, Violation};

/// A file (or, ending in `/`, a directory tree) where `unsafe` is allowed, and why.
#[derive(Debug)]
pub struct Allowed {
    pub path: &'static str,
    pub reason: &'static str,
}

/// Where `unsafe` may live. furnace-cli is deliberately absent: it has no business with it.
/// Test code is listed only where no safe API exists (`kill`, `gettid`, `prctl`, `waitpid`,
/// `renameat2`, `mkfifo`, `FIONREAD` and ptys have safe forms in rustix, dropping ids and the
/// subreaper in furnace-sys).
pub const ALLOWED: &[Allowed] = &[
    Allowed {
        path: "crates/furnace-sys/src/",
        reason: "the safe front over the system calls: furnace's FFI lives here",
    },
    Allowed {
        path: "crates/furnace-core/src/init.rs",
        reason: "PID 1 after clone3 runs the set-up plan with raw calls, allocation-free",
    },
    Allowed {
        path: "crates/furnace-core/src/enter.rs",
        reason: "a command's post-fork entry into the container, before exec",
    },
    Allowed {
        path: "crates/furnace-core/src/command.rs",
        reason: "registers the pre_exec hook with std's Command",
    },
    Allowed {
        path: "crates/furnace-core/src/launch.rs",
        reason: "the clone3 call that forks PID 1",
    },
    Allowed {
        path: "crates/furnace-sys/tests/privileged/",
        reason: "fork and clone3 of throw-away children: std and rustix have no safe fork",
    },
    Allowed {
        path: "tests/src/ipc.rs",
        reason: "SysV shared memory and POSIX message queues: no safe wrapper exists",
    },
    Allowed {
        path: "tests/it/fds_cwd.rs",
        reason: "raw fds without O_CLOEXEC on purpose, to prove furnace closes what leaks",
    },
    Allowed {
        path: "tests/it/isolation.rs",
        reason: "keyctl(2) has no safe wrapper",
    },
    Allowed {
        path: "tests/src/bin/furnace-test-helper.rs",
        reason: "closes its own fds 0-2 to be a caller with closed stdio: closing is unsafe",
    },
    Allowed {
        path: "xtask/src/util/sys.rs",
        reason: "xtask's own libc calls (signals, loop ioctls, waitid) behind safe functions",
    },
];

/// Where in the allow-list `path` is, if anywhere.
pub fn allowed(path: &str) -> Option<&'static Allowed> {
    ALLOWED.iter().find(|a| {
        if a.path.ends_with('/') {
            path.starts_with(a.path)
        } else {
            path == a.path
        }
    })
}

/// Entries of [`ALLOWED`] that allow nothing: no file in `with_unsafe` (the files that use
/// `unsafe`) matches them. The list stays as narrow as the code.
pub fn unused_entries(with_unsafe: &[&str]) -> Vec<Violation> {
    ALLOWED
        .iter()
        .filter(|a| {
            !with_unsafe
                .iter()
                .any(|f| allowed(f).is_some_and(|b| b.path == a.path))
        })
        .map(|a| Violation {
            check: Check::Unsafe,
            path: "xtask/src/tidy/unsafety.rs".into(),
            line: 1,
            message: format!(
                "allow-list entry `{}` ({}) matches no file that uses `unsafe`: remove it",
                a.path, a.reason
            ),
        })
        .collect()
}

/// Whether the file uses `unsafe` at all.
pub fn uses_unsafe(source: &Source) -> bool {
    source
        .tokens()
        .iter()
        .any(|t| t.kind == Kind::Ident && t.text == "unsafe")
}

/// What an `unsafe` token introduces, judged by the tokens after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// A block or impl: needs a `// SAFETY:` comment.
    Block,
    /// A function or trait definition: needs a `# Safety` doc section.
    Item,
    /// Anything else (a fn pointer type, `#[unsafe(...)]`): needs nothing more.
    Other,
}

fn classify(source: &Source, at: usize) -> Use {
    let tokens = source.tokens();
    let text = |i: usize| tokens.get(i).map_or("", |t| t.text.as_str());
    let mut i = at + 1;
    if text(i) == "extern" {
        i += 1;
        if tokens.get(i).is_some_and(|t| t.kind == Kind::Literal) {
            i += 1;
        }
    }
    match text(i) {
        "{" | "impl" => Use::Block,
        "trait" => Use::Item,
        "fn" if tokens.get(i + 1).is_some_and(|t| t.kind == Kind::Ident) => Use::Item,
        _ => Use::Other,
    }
}

/// The `unsafe` findings of one file.
pub fn check(source: &Source) -> Vec<Violation> {
    let allowed = allowed(&source.path).is_some();
    let mut found = Vec::new();
    let mut report = |line: usize, message: String| {
        found.push(Violation {
            check: Check::Unsafe,
            path: source.path.clone(),
            line,
            message,
        })
    };
    for (i, t) in source.tokens().iter().enumerate() {
        if t.kind != Kind::Ident || t.text != "unsafe" {
            continue;
        }
        if !allowed {
            report(
                t.line,
                "`unsafe` outside the allow-list (ALLOWED in xtask/src/tidy/unsafety.rs)".into(),
            );
        }
        match classify(source, i) {
            Use::Block if !has_safety_comment(source, t.line) => report(
                t.line,
                "`unsafe` without a `// SAFETY:` comment on it or just above it".into(),
            ),
            Use::Item if !has_safety_section(source, t.line) => report(
                t.line,
                "`unsafe` fn or trait without a `# Safety` section in its doc".into(),
            ),
            _ => {}
        }
    }
    found
}

fn has_safety_comment(source: &Source, line: usize) -> bool {
    let near = source.comments_between(line.saturating_sub(3).max(1), line);
    let above = source.comments_above(line);
    near.iter()
        .chain(&above)
        .any(|c| c.text.contains("SAFETY:"))
}

fn has_safety_section(source: &Source, line: usize) -> bool {
    source
        .doc_above(line)
        .iter()
        .any(|l| l.trim_start().starts_with("# Safety"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(path: &str, src: &str) -> Vec<String> {
        check(&Source::new(path, src))
            .into_iter()
            .map(|v| v.to_string())
            .collect()
    }

    const SYS: &str = "crates/furnace-sys/src/raw.rs";

    #[test]
    fn the_allow_list() {
        assert!(allowed("crates/furnace-sys/src/raw.rs").is_some());
        assert!(allowed("crates/furnace-sys/src/deep/er.rs").is_some());
        assert!(allowed("crates/furnace-core/src/launch.rs").is_some());
        assert!(allowed("crates/furnace-core/src/container.rs").is_none());
        assert!(allowed("crates/furnace-cli/src/signals.rs").is_none());
        assert!(allowed("crates/furnace-cli/tests/cli.rs").is_none());
        assert!(allowed("xtask/src/util/sys.rs").is_some());
        assert!(allowed("xtask/src/util/sys.rs.bak").is_none());
        assert!(ALLOWED
            .iter()
            .all(|a| !a.reason.is_empty() && !a.reason.contains('\n')));
    }

    #[test]
    fn unused_entries_are_reported() {
        let all: Vec<&str> = ALLOWED.iter().map(|a| a.path).collect();
        let files: Vec<String> = all
            .iter()
            .map(|p| {
                if p.ends_with('/') {
                    format!("{p}x.rs")
                } else {
                    p.to_string()
                }
            })
            .collect();
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        assert!(unused_entries(&files).is_empty());
        let found = unused_entries(&files[1..]);
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains(all[0]), "{found:?}");
    }

    #[test]
    fn outside_the_allow_list() {
        let src = "fn f() {\n    // SAFETY: fine.\n    unsafe { g() }\n}\n";
        assert_eq!(
            messages("crates/furnace-cli/src/run.rs", src),
            [
                "crates/furnace-cli/src/run.rs:3: `unsafe` outside the allow-list (ALLOWED in \
              xtask/src/tidy/unsafety.rs)"
            ]
        );
        assert!(messages(SYS, src).is_empty());
        // Mentions in comments and strings are not uses.
        let words = "// unsafe { }\nlet s = \"unsafe { }\";\nlet c = '\"'; /* unsafe */\n";
        assert!(messages("crates/furnace-cli/src/run.rs", words).is_empty());
    }

    #[test]
    fn blocks_need_a_safety_comment() {
        let ok = [
            "// SAFETY: x.\nunsafe { f() }",
            "let x = unsafe { f() }; // SAFETY: x.",
            "// SAFETY: x.\n\n\nlet y = unsafe { f() };",
            "// SAFETY: a long reason\n// that goes on\n// and on\n// and on.\nunsafe { f() }",
            "// SAFETY: Send is fine.\nunsafe impl Send for X {}",
            "/* SAFETY: x. */ unsafe { f() }",
        ];
        for src in ok {
            assert!(messages(SYS, src).is_empty(), "{src}");
        }
        let bad = [
            "unsafe { f() }",
            "// SAFETY: x.\n\n\n\nunsafe { f() }",
            "// Safety: wrong case.\nunsafe { f() }",
            "let s = \"// SAFETY: in a string\";\nunsafe { f() }",
            "unsafe impl Sync for X {}",
        ];
        for src in bad {
            let m = messages(SYS, src);
            assert_eq!(m.len(), 1, "{src}: {m:?}");
            assert!(m[0].contains("SAFETY"), "{m:?}");
        }
    }

    #[test]
    fn fns_need_a_safety_section() {
        let ok =
            "/// Does it.\n///\n/// # Safety\n/// Only when x.\n#[inline]\npub unsafe fn f() {}";
        assert!(messages(SYS, ok).is_empty());
        let ok = "/// # Safety\n/// x.\npub unsafe extern \"C\" fn f() {}\n/// # Safety\n/// y.\nunsafe trait T {}";
        assert!(messages(SYS, ok).is_empty());
        let bad = "/// Does it.\n// # Safety (not a doc comment)\npub unsafe fn f() {}";
        let m = messages(SYS, bad);
        assert_eq!(m.len(), 1);
        assert!(m[0].starts_with(&format!("{SYS}:3: ")) && m[0].contains("# Safety"));
        // A fn pointer type is not a definition.
        assert!(messages(
            SYS,
            "type F = unsafe fn(i32);\nstruct S(unsafe extern \"C\" fn());"
        )
        .is_empty());
    }
}
