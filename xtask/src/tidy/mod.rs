//! `cargo xtask tidy`: the project's invariants, checked on the source tree. Each violation is
//! printed as `path:line: what is wrong`; any violation fails the command.
//!
//! - `unsafe` only in the files of [`unsafety::ALLOWED`], every `unsafe` block (and impl) under a
//!   `// SAFETY:` comment, every `unsafe fn` (and trait) with a `# Safety` doc section;
//! - every `pub fn` of furnace-sys documented by the house template ([`sysdoc`]);
//! - the post-fork files of furnace-core call only furnace-sys's fork-safe tier and cannot
//!   panic: no `rustix::` path, no `unwrap`, no panicking macro, no indexing ([`postfork`]);
//! - every module in `docs/ARCHITECTURE.md`'s code map ([`codemap`]);
//! - no `.rs` file over [`MAX_LINES`] lines.
//!
//! Nothing here needs root or the machine lock: it only reads files.

mod codemap;
mod lex;
mod postfork;
mod sysdoc;
mod unsafety;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::util::{self, Result};
use lex::{Comment, Lexed, Token};

/// The longest a source file may be: past that, it holds more than one concern.
pub const MAX_LINES: usize = 800;

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// Which check found it (for the summary).
    pub check: Check,
    /// The file (or directory), relative to the workspace root.
    pub path: String,
    pub line: usize,
    pub message: String,
}

/// The checks, in the order their findings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    Unsafe,
    PostFork,
    SysDoc,
    CodeMap,
    Size,
}

impl Check {
    fn name(self) -> &'static str {
        match self {
            Check::Unsafe => "unsafe",
            Check::PostFork => "post-fork code",
            Check::SysDoc => "furnace-sys doc template",
            Check::CodeMap => "code map",
            Check::Size => "file size",
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path, self.line, self.message)
    }
}

/// `cargo xtask tidy`.
pub fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        return Err(format!(
            "tidy: unknown argument `{arg}` (see `cargo xtask help`)"
        ));
    }
    let root = util::workspace_root();
    let files = rust_files(&root);
    let mut found = Vec::new();
    let mut with_unsafe = Vec::new();
    for rel in &files {
        let text = fs::read_to_string(root.join(rel))
            .map_err(|e| format!("tidy: reading {}: {e}", rel.display()))?;
        let path = rel.to_string_lossy().into_owned();
        let source = Source::new(&path, &text);
        if unsafety::uses_unsafe(&source) {
            with_unsafe.push(path);
        }
        found.extend(check_file(&source, &text));
    }
    let with_unsafe: Vec<&str> = with_unsafe.iter().map(String::as_str).collect();
    found.extend(unsafety::unused_entries(&with_unsafe));
    found.extend(codemap::check(&root, &files));
    found.sort();
    for v in &found {
        println!("{v}");
    }
    if found.is_empty() {
        eprintln!("tidy: ok ({} files)", files.len());
        return Ok(());
    }
    let mut counts: Vec<(Check, usize)> = Vec::new();
    for v in &found {
        match counts.iter_mut().find(|(c, _)| *c == v.check) {
            Some((_, n)) => *n += 1,
            None => counts.push((v.check, 1)),
        }
    }
    let summary: Vec<String> = counts
        .iter()
        .map(|(c, n)| format!("{} {n}", c.name()))
        .collect();
    Err(format!(
        "tidy: {} violation(s) in {} files ({})",
        found.len(),
        files.len(),
        summary.join(", ")
    ))
}

/// The per-file checks: `unsafe`, the furnace-sys doc template, the size.
fn check_file(source: &Source, text: &str) -> Vec<Violation> {
    let path = source.path.as_str();
    let mut found = unsafety::check(source);
    if sysdoc::applies(path) {
        found.extend(sysdoc::check(source));
    }
    if postfork::applies(path) {
        found.extend(postfork::check(source));
    }
    let lines = text.lines().count();
    if lines > MAX_LINES {
        found.push(Violation {
            check: Check::Size,
            path: path.to_owned(),
            line: lines,
            message: format!("{lines} lines, more than {MAX_LINES}: split it by concern"),
        });
    }
    found
}

/// Every `.rs` file of the workspace, relative to `root`, sorted; `target*` directories,
/// hidden ones (`.git`) and `$CARGO_TARGET_DIR` are skipped.
fn rust_files(root: &Path) -> Vec<PathBuf> {
    let target = util::target_dir();
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !name.starts_with('.') && !name.starts_with("target") && path != target {
                    dirs.push(path);
                }
            } else if kind.is_file() && name.ends_with(".rs") {
                if let Ok(rel) = path.strip_prefix(root) {
                    out.push(rel.to_path_buf());
                }
            }
        }
    }
    out.sort();
    out
}

/// A lexed file with lookups by line.
#[derive(Debug)]
pub struct Source {
    pub path: String,
    pub lexed: Lexed,
    /// Line → index of its first token.
    first_token: HashMap<usize, usize>,
    /// Line → indices of the comments that span it.
    comments: HashMap<usize, Vec<usize>>,
}

impl Source {
    pub fn new(path: &str, text: &str) -> Source {
        let lexed = lex::lex(text);
        let mut first_token = HashMap::new();
        for (i, t) in lexed.tokens.iter().enumerate() {
            first_token.entry(t.line).or_insert(i);
        }
        let mut comments: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, c) in lexed.comments.iter().enumerate() {
            for line in c.line..=c.end_line {
                comments.entry(line).or_default().push(i);
            }
        }
        Source {
            path: path.to_owned(),
            lexed,
            first_token,
            comments,
        }
    }

    pub fn tokens(&self) -> &[Token] {
        &self.lexed.tokens
    }

    /// The comments that touch lines `from..=to`.
    pub fn comments_between(&self, from: usize, to: usize) -> Vec<&Comment> {
        let mut seen = BTreeSet::new();
        for line in from..=to {
            seen.extend(self.comments.get(&line).into_iter().flatten().copied());
        }
        seen.into_iter().map(|i| &self.lexed.comments[i]).collect()
    }

    /// The comments right above `line`, top to bottom: the run of lines that hold only comments
    /// or start an attribute (`#[...]`), up to a blank line or code.
    pub fn comments_above(&self, line: usize) -> Vec<&Comment> {
        let mut seen = BTreeSet::new();
        let mut j = line;
        while j > 1 {
            j -= 1;
            let comments = self.comments.get(&j);
            match self.first_token.get(&j).map(|&i| &self.lexed.tokens[i]) {
                None if comments.is_some() => seen.extend(comments.into_iter().flatten().copied()),
                Some(t) if t.text == "#" => {}
                _ => break,
            }
        }
        seen.into_iter().map(|i| &self.lexed.comments[i]).collect()
    }

    /// The `///` doc lines right above `line`, top to bottom, without the slashes.
    pub fn doc_above(&self, line: usize) -> Vec<String> {
        self.comments_above(line)
            .into_iter()
            .filter_map(|c| {
                let text = c.text.strip_prefix("///")?;
                (!text.starts_with('/')).then(|| text.strip_prefix(' ').unwrap_or(text).to_owned())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_and_comments_above() {
        let src = "\n/// First.\n///\n/// # Safety\n#[inline]\n// plain\npub unsafe fn f() {}\n";
        let s = Source::new("x.rs", src);
        assert_eq!(s.doc_above(7), ["First.", "", "# Safety"]);
        assert_eq!(s.comments_above(7).len(), 4);
        let s = Source::new(
            "x.rs",
            "/// Far.\n\nfn f() {}\nlet x = 1;\n/* a\nb */\nunsafe {}",
        );
        assert!(s.doc_above(3).is_empty(), "a blank line ends the doc");
        assert_eq!(s.comments_above(7).len(), 1);
        assert_eq!(s.comments_between(6, 6).len(), 1);
    }

    #[test]
    fn long_files_are_reported_with_their_count() {
        let text = "fn f() {}\n".repeat(MAX_LINES + 1);
        let found = check_file(&Source::new("crates/x/src/long.rs", &text), &text);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].to_string(),
            "crates/x/src/long.rs:801: 801 lines, more than 800: split it by concern"
        );
        let text = "\n".repeat(MAX_LINES);
        assert!(check_file(&Source::new("crates/x/src/ok.rs", &text), &text).is_empty());
    }
}
