//! The post-fork files of furnace-core — PID 1 (`init.rs`) and a command's child before exec
//! (`enter.rs`) — run in a copy of one thread of a program that may have had many: they may
//! call only furnace-sys's `forksafe` tier, and must not panic (a panic allocates, and
//! unwinding there runs the caller's code a second time).
//!
//! Checked on the code before the file's `#[cfg(test)]` module: no `rustix::` path (the
//! fork-safe tier wraps what they need), no `unwrap`/`expect`, no `panic!`/`unreachable!`/
//! `todo!`/`unimplemented!`/`assert!`, and no indexing (`x[i]`, `x[a..b]`): `get` and
//! destructuring say what happens when the index is out of range.

use super::lex::{Kind, Token};
use super::{Check, Source, Violation};

/// The post-fork files.
pub const POST_FORK: [&str; 2] = [
    "crates/furnace-core/src/init.rs",
    "crates/furnace-core/src/enter.rs",
];

/// Keywords after which `[` opens a pattern or an array, not an index.
const KEYWORDS: [&str; 10] = [
    "let", "in", "mut", "ref", "return", "match", "if", "while", "break", "else",
];

const PANICKING_MACROS: [&str; 7] = [
    "panic",
    "unreachable",
    "todo",
    "unimplemented",
    "assert",
    "assert_eq",
    "assert_ne",
];

/// Whether `path` is post-fork code.
pub fn applies(path: &str) -> bool {
    POST_FORK.contains(&path)
}

/// The violations in a post-fork file.
pub fn check(source: &Source) -> Vec<Violation> {
    let tokens = code_before_tests(source.tokens());
    let mut found = Vec::new();
    let mut report = |line: usize, message: String| {
        found.push(Violation {
            check: Check::PostFork,
            path: source.path.clone(),
            line,
            message,
        })
    };
    for (i, token) in tokens.iter().enumerate() {
        let next = tokens.get(i + 1);
        let prev = i.checked_sub(1).and_then(|p| tokens.get(p));
        let is = |t: Option<&Token>, kind: Kind, text: &str| {
            t.is_some_and(|t| t.kind == kind && t.text == text)
        };
        match token.kind {
            Kind::Ident if token.text == "rustix" && is(next, Kind::Punct, ":") => report(
                token.line,
                "post-fork code calls rustix directly: use furnace-sys's forksafe tier".into(),
            ),
            Kind::Ident
                if matches!(token.text.as_str(), "unwrap" | "expect")
                    && is(prev, Kind::Punct, ".") =>
            {
                report(
                    token.line,
                    format!(
                        "`.{}()` may panic after a fork: handle the error",
                        token.text
                    ),
                )
            }
            Kind::Ident
                if PANICKING_MACROS.contains(&token.text.as_str())
                    && is(next, Kind::Punct, "!") =>
            {
                report(
                    token.line,
                    format!(
                        "`{}!` panics after a fork: return an errno instead",
                        token.text
                    ),
                )
            }
            Kind::Punct if token.text == "[" && indexes(prev) => report(
                token.line,
                "indexing may panic after a fork: use `get` or destructuring".into(),
            ),
            _ => {}
        }
    }
    found
}

/// Whether a `[` after `prev` indexes an expression: after a name that is not a keyword, or
/// after a closing `)` or `]`.
fn indexes(prev: Option<&Token>) -> bool {
    match prev {
        Some(t) if t.kind == Kind::Ident => !KEYWORDS.contains(&t.text.as_str()),
        Some(t) if t.kind == Kind::Punct => t.text == ")" || t.text == "]",
        _ => false,
    }
}

/// The tokens before the first `#[cfg(test)]`.
fn code_before_tests(tokens: &[Token]) -> &[Token] {
    let texts: Vec<&str> = tokens.iter().map(|t| t.text.as_str()).collect();
    let end = texts
        .windows(6)
        .position(|w| w == ["#", "[", "cfg", "(", "test", ")"])
        .unwrap_or(tokens.len());
    &tokens[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(code: &str) -> Vec<String> {
        let source = Source::new("crates/furnace-core/src/init.rs", code);
        check(&source).into_iter().map(|v| v.message).collect()
    }

    #[test]
    fn fork_safe_code_passes() {
        let code = "use furnace_sys::fd::forksafe as fd;\n\
                    #[inline]\n\
                    fn f(x: &[u8], v: &Vec<OwnedFd>) -> Result<[u8; 2], Errno> {\n\
                        let [a, b] = [1u8, 2];\n\
                        let first = x.get(0).ok_or(Errno::INVAL)?;\n\
                        for s in [a, b] { drop(s); }\n\
                        Ok([*first, b])\n\
                    }\n\
                    #[cfg(test)]\n\
                    mod tests { fn t() { assert_eq!(x[0], 1); y.unwrap(); } }\n";
        assert_eq!(found(code), Vec::<String>::new());
    }

    #[test]
    fn rustix_panics_and_indexing_are_reported() {
        let code = "fn f(x: &[u8]) {\n\
                    rustix::io::write(fd, x);\n\
                    let a = x[0];\n\
                    let b = &x[1..];\n\
                    let c = g()[2];\n\
                    let d = y.unwrap();\n\
                    let e = y.expect(\"no\");\n\
                    panic!(\"no\");\n\
                    }\n";
        let found = found(code);
        assert_eq!(found.len(), 7, "{found:#?}");
        assert!(found[0].contains("rustix"));
        assert!(found.iter().filter(|m| m.contains("indexing")).count() == 3);
    }

    #[test]
    fn only_the_post_fork_files_are_checked() {
        assert!(applies("crates/furnace-core/src/init.rs"));
        assert!(applies("crates/furnace-core/src/enter.rs"));
        assert!(!applies("crates/furnace-core/src/launch.rs"));
    }
}
