//! The house doc template for furnace-sys: every `pub fn` (methods too) says which C call it
//! makes and where that call is documented.
//!
//! The first line of the doc names the call in backticks with parentheses (`` `umount2(target,
//! flags)` ``), and the doc cites a man page as `name(N)` (`umount2(2)`). A function that makes
//! no system call says so instead, with a doc line `No system call.`. `error.rs` (the error
//! type and its formatting) is exempt.

use super::lex::Kind;
use super::{Check, Source, Violation};

/// Files the template does not apply to.
const EXEMPT: &[&str] = &["crates/furnace-sys/src/error.rs"];

/// Whether the template applies to the file at `path`.
pub fn applies(path: &str) -> bool {
    path.starts_with("crates/furnace-sys/src/") && !EXEMPT.contains(&path)
}

/// The findings of one furnace-sys file.
pub fn check(source: &Source) -> Vec<Violation> {
    let tokens = source.tokens();
    let mut found = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if t.kind != Kind::Ident || t.text != "pub" {
            continue;
        }
        let Some(name) = pub_fn_name(source, i) else {
            continue;
        };
        let doc = source.doc_above(t.line);
        if let Some(problem) = template_problem(&doc) {
            found.push(Violation {
                check: Check::SysDoc,
                path: source.path.clone(),
                line: t.line,
                message: format!("pub fn {name}: {problem}"),
            });
        }
    }
    found
}

/// The name of the function when the `pub` at `at` starts `pub [const] [async] [unsafe]
/// [extern "abi"] fn name` (not `pub(crate)`, not a field or a type).
fn pub_fn_name(source: &Source, at: usize) -> Option<&str> {
    let tokens = source.tokens();
    let mut i = at + 1;
    loop {
        let t = tokens.get(i)?;
        match t.text.as_str() {
            "const" | "async" | "unsafe" | "extern" => i += 1,
            _ if t.kind == Kind::Literal => i += 1,
            "fn" => {
                let name = tokens.get(i + 1)?;
                return (name.kind == Kind::Ident).then_some(name.text.as_str());
            }
            _ => return None,
        }
    }
}

/// What the doc lacks, or `None` when it follows the template.
pub fn template_problem(doc: &[String]) -> Option<String> {
    if doc.is_empty() {
        return Some(
            "no doc comment (the template: `` `call(args)`: summary `` ... `call(2)`)".into(),
        );
    };
    if doc.iter().any(|l| l.trim().starts_with("No system call.")) {
        return None;
    }
    let call = names_a_call(doc);
    let man = doc.iter().any(|l| cites_a_man_page(l));
    match (call, man) {
        (true, true) => None,
        (false, true) => Some(
            "the doc's first line names no C call in backticks (`` `mount(...)` ``), and no line \
             says `No system call.`"
                .into(),
        ),
        (true, false) => Some(
            "the doc cites no man page as `name(N)` (e.g. `mount(2)`), and no line says \
             `No system call.`"
                .into(),
        ),
        (false, false) => Some(
            "the doc neither starts with the C call in backticks nor cites its man page as \
             `name(N)`, and no line says `No system call.`"
                .into(),
        ),
    }
}

/// Whether a code span `` `ident(...)` `` opens on the first line of `doc` (it may close on a
/// later one, as a long call's arguments do).
fn names_a_call(doc: &[String]) -> bool {
    let first_len = doc.first().map_or(0, String::len);
    let text = doc.join("\n");
    let parts: Vec<&str> = text.split('`').collect();
    let mut offset = 0;
    for (i, part) in parts.iter().enumerate() {
        // Odd parts are inside backticks; the last part is never closed.
        let span_start = offset;
        offset += part.len() + 1;
        if i % 2 == 0 || i + 1 == parts.len() || span_start > first_len {
            continue;
        }
        let ident_len = part
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(part.len());
        if ident_len > 0
            && !part.starts_with(|c: char| c.is_ascii_digit())
            && part[ident_len..].starts_with('(')
            && part.trim_end().ends_with(')')
        {
            return true;
        }
    }
    false
}

/// Whether `line` has `ident(N)` with N a digit, e.g. `mount(2)`.
fn cites_a_man_page(line: &str) -> bool {
    let bytes = line.as_bytes();
    (1..bytes.len().saturating_sub(2)).any(|i| {
        bytes[i] == b'('
            && bytes[i + 1].is_ascii_digit()
            && bytes[i + 2] == b')'
            && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn the_template() {
        assert_eq!(
            template_problem(&doc(&[
                "`umount2(target, flags)`: unmounts the mount at `target`.",
                "",
                "See [umount2(2)](https://man7.org/linux/man-pages/man2/umount2.2.html).",
            ])),
            None
        );
        assert_eq!(
            template_problem(&doc(&["`sync()`: flushes. See sync(2)."])),
            None
        );
        assert_eq!(
            template_problem(&doc(&["The names of the flags.", "", "No system call."])),
            None
        );
        let missing_call = template_problem(&doc(&["Unmounts it.", "See umount2(2)."])).unwrap();
        assert!(missing_call.contains("first line"), "{missing_call}");
        let missing_man = template_problem(&doc(&["`umount2(t, f)`: unmounts it."])).unwrap();
        assert!(missing_man.contains("man page"), "{missing_man}");
        // The call must be on the first line, the man page may be anywhere.
        assert!(template_problem(&doc(&["Unmounts.", "`umount2(t, f)`, umount2(2)"])).is_some());
        assert!(template_problem(&[]).unwrap().contains("no doc comment"));
    }

    #[test]
    fn calls_and_man_pages() {
        let call = |lines: &[&str]| names_a_call(&doc(lines));
        assert!(call(&["`mount(2)`: mounts"]));
        assert!(call(&["Wraps `pidfd_open(pid, 0)`."]));
        assert!(!call(&["`MountFlags` and (`x`)"]));
        assert!(!call(&["`mount` (2)"]));
        assert!(!call(&["`foo(a)"]));
        assert!(call(&["`foo(a)` and an unclosed `"]));
        assert!(!call(&["`a.b(c)`"]));
        // A long call may go on to the next lines; it must start on the first.
        assert!(call(&["`mount(NULL, target,", "NULL)`: changes it."]));
        assert!(!call(&["Changes it:", "`mount(NULL, target, NULL)`."]));
        assert!(cites_a_man_page("see mount(2)."));
        assert!(cites_a_man_page("[proc_pid_stat(5)](...)"));
        assert!(!cites_a_man_page("(2)"));
        assert!(!cites_a_man_page("mount(22)"));
        assert!(!cites_a_man_page("mount (2)"));
    }

    fn findings(src: &str) -> Vec<String> {
        check(&Source::new("crates/furnace-sys/src/mount.rs", src))
            .into_iter()
            .map(|v| v.to_string())
            .collect()
    }

    #[test]
    fn pub_fns_and_methods_are_checked() {
        let src = "\
/// `mount(src, dst)`: mounts. See mount(2).
pub fn mount() {}

impl X {
    /// Names.
    pub const fn names(self) {}

    /// No doc template needed for private ones.
    fn private() {}

    pub(crate) fn internal() {}

    /// # Safety
    /// `clone3(args)`: forks. See clone3(2).
    #[inline]
    pub unsafe fn clone3() {}
}

pub struct S { pub fn_ptr: fn() }
pub fn undocumented() {}
";
        let found = findings(src);
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found[0].starts_with("crates/furnace-sys/src/mount.rs:6: pub fn names: "));
        assert!(found[1].starts_with("crates/furnace-sys/src/mount.rs:16: pub fn clone3: "));
        assert!(found[1].contains("first line"));
        assert!(found[2].contains("pub fn undocumented: no doc comment"));
    }

    #[test]
    fn exempt_files() {
        assert!(applies("crates/furnace-sys/src/raw.rs"));
        assert!(!applies("crates/furnace-sys/src/error.rs"));
        assert!(applies("crates/furnace-sys/src/mountinfo.rs"));
        assert!(!applies("crates/furnace-core/src/init.rs"));
        assert!(!applies("crates/furnace-sys/tests/privileged.rs"));
    }
}
