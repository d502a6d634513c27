//! The post-fork files of furnace-core — PID 1 (`init.rs`) and a command's child before exec
//! (`enter.rs`) — run in a copy of one thread of a program that may have had many: they may
//! call only furnace-sys's `forksafe` tier, and must not panic (a panic allocates, and
//! unwinding there runs the caller's code a second time).
//!
//! Checked on the code before the file's `#[cfg(test)]` module:
//! - furnace-sys is used through its `forksafe` tier only: a `use furnace_sys::…` may import
//!   `forksafe` modules and types (capitalised names), never a lowercase item of another
//!   module, and no `rustix::` path is named (the fork-safe tier wraps what they need);
//! - nothing that allocates: `format!`, `vec!`, `print!`-like macros, `Vec::`, `String::`,
//!   `Box::`, `.to_string()`, `.to_owned()`, `.to_vec()`, `.collect()`, `env::`;
//! - nothing that panics: `unwrap`/`expect`, `panic!`/`unreachable!`/`todo!`/`unimplemented!`/
//!   `assert!`, and indexing (`x[i]`, `x[a..b]`): `get` and destructuring say what happens
//!   when the index is out of range.
//!
//! furnace-sys's own `forksafe` modules get the allocation and panic checks (they may name
//! rustix: they are the tier that wraps it).

use super::lex::{Kind, Token};
use super::{Check, Source, Violation};

/// The post-fork files of furnace-core.
pub const POST_FORK: [&str; 3] = [
    "crates/furnace-core/src/init.rs",
    "crates/furnace-core/src/init/program.rs",
    "crates/furnace-core/src/enter.rs",
];

/// Macros that allocate (or lock stdout).
const ALLOCATING_MACROS: [&str; 6] = ["format", "vec", "print", "println", "eprint", "eprintln"];

/// Types whose associated functions allocate.
const ALLOCATING_TYPES: [&str; 5] = ["Vec", "String", "Box", "Rc", "Arc"];

/// Methods that allocate.
const ALLOCATING_METHODS: [&str; 4] = ["to_string", "to_owned", "to_vec", "collect"];

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

/// Whether `path` is post-fork code: furnace-core's post-fork files, or a `forksafe` module
/// of furnace-sys.
pub fn applies(path: &str) -> bool {
    POST_FORK.contains(&path) || is_sys_forksafe(path)
}

fn is_sys_forksafe(path: &str) -> bool {
    path.starts_with("crates/furnace-sys/src/") && path.ends_with("/forksafe.rs")
}

/// The violations in a post-fork file.
pub fn check(source: &Source) -> Vec<Violation> {
    let tokens = code_before_tests(source.tokens());
    let core = POST_FORK.contains(&source.path.as_str());
    let mut found = Vec::new();
    if core {
        found.extend(check_sys_imports(source, tokens));
    }
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
        let after_dot = is(prev, Kind::Punct, ".");
        let before_path = is(next, Kind::Punct, ":");
        match token.kind {
            Kind::Ident
                if ALLOCATING_MACROS.contains(&token.text.as_str())
                    && is(next, Kind::Punct, "!") =>
            {
                report(
                    token.line,
                    format!("`{}!` allocates after a fork", token.text),
                )
            }
            Kind::Ident if ALLOCATING_TYPES.contains(&token.text.as_str()) && before_path => {
                report(
                    token.line,
                    format!("`{}::` allocates after a fork", token.text),
                )
            }
            Kind::Ident if ALLOCATING_METHODS.contains(&token.text.as_str()) && after_dot => {
                report(
                    token.line,
                    format!("`.{}()` allocates after a fork", token.text),
                )
            }
            Kind::Ident if token.text == "env" && before_path => report(
                token.line,
                "`env::` reads the environment through a lock after a fork".into(),
            ),
            Kind::Ident if core && token.text == "rustix" && before_path => report(
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

/// `use furnace_sys::…` may bring in `forksafe` modules and capitalised names (types,
/// constants) only: a lowercase item of another module is the allocating tier.
fn check_sys_imports(source: &Source, tokens: &[Token]) -> Vec<Violation> {
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(token) = tokens.get(i) {
        let starts_use = token.kind == Kind::Ident
            && token.text == "use"
            && tokens.get(i + 1).is_some_and(|t| t.text == "furnace_sys");
        if !starts_use {
            i += 1;
            continue;
        }
        let end = tokens[i..]
            .iter()
            .position(|t| t.text == ";")
            .map_or(tokens.len(), |n| i + n);
        let statement = &tokens[i + 1..end];
        for (j, t) in statement.iter().enumerate() {
            let next = statement.get(j + 1).map(|t| t.text.as_str());
            let is_leaf = t.kind == Kind::Ident
                && matches!(next, None | Some(",") | Some("}") | Some("as"))
                && (j == 0 || statement.get(j - 1).map(|p| p.text.as_str()) != Some("as"));
            let lowercase = t.text.starts_with(|c: char| c.is_ascii_lowercase());
            if is_leaf && lowercase && t.text != "forksafe" && t.text != "self" {
                found.push(Violation {
                    check: Check::PostFork,
                    path: source.path.clone(),
                    line: t.line,
                    message: format!(
                        "post-fork code imports `{}` from furnace-sys: import its `forksafe` \
                         module instead",
                        t.text
                    ),
                });
            }
        }
        i = end + 1;
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
        assert!(applies("crates/furnace-sys/src/mount/forksafe.rs"));
        assert!(!applies("crates/furnace-core/src/launch.rs"));
        assert!(!applies("crates/furnace-sys/src/mount.rs"));
    }

    #[test]
    fn allocation_and_the_allocating_tier_are_reported() {
        let code = "use furnace_sys::net::forksafe as net;\n\
                    use furnace_sys::{net as other, Errno};\n\
                    use furnace_sys::mount::{forksafe as mnt, Propagation, bind};\n\
                    fn f() {\n\
                    let v = Vec::with_capacity(3);\n\
                    let s = format!(\"x\");\n\
                    let t = s.to_owned();\n\
                    let e = std::env::var(\"X\");\n\
                    let w = x.iter().collect();\n\
                    }\n";
        let found = found(code);
        assert_eq!(found.len(), 7, "{found:#?}");
        assert!(found.iter().any(|m| m.contains("imports `net`")));
        assert!(found.iter().any(|m| m.contains("imports `bind`")));
    }

    #[test]
    fn sys_forksafe_modules_may_name_rustix() {
        let source = Source::new(
            "crates/furnace-sys/src/fd/forksafe.rs",
            "pub fn f() -> Result<(), Errno> { rustix::io::write(fd, b)?; Ok(()) }\n",
        );
        assert!(check(&source).is_empty());
    }
}
