//! A small Rust lexer, enough for tidy's checks: it splits a file into tokens (identifiers,
//! punctuation, literals, lifetimes) and comments, each with its line, so that a word inside a
//! comment, a string or a char literal is never taken for code.
//!
//! It knows `//` and nested `/* */` comments, string literals with escapes, raw strings
//! (`r#"..."#`, `br"..."`, `cr"..."`), byte and C strings, char and byte literals (including
//! `'"'` and `'\''`), lifetimes and raw identifiers. It does not validate anything: malformed
//! input yields some tokens and never panics.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ident,
    Punct,
    Literal,
    Lifetime,
}

/// One token of code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub text: String,
    pub line: usize,
}

/// One comment, with its text (slashes and stars included) and the lines it spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub line: usize,
    pub end_line: usize,
    pub text: String,
}

/// A lexed file.
#[derive(Debug, Default)]
pub struct Lexed {
    pub tokens: Vec<Token>,
    pub comments: Vec<Comment>,
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The lexer's state: the characters, a position and the current line.
struct Cursor {
    chars: Vec<char>,
    pos: usize,
    line: usize,
}

impl Cursor {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    /// Moves one character on, counting lines.
    fn bump(&mut self) {
        if self.peek(0) == Some('\n') {
            self.line += 1;
        }
        self.pos += 1;
    }

    fn text(&self, from: usize) -> String {
        self.chars[from..self.pos.min(self.chars.len())]
            .iter()
            .collect()
    }

    /// After an opening `"`: to just past the closing one, skipping escapes.
    fn string_body(&mut self) {
        while let Some(c) = self.peek(0) {
            self.bump();
            match c {
                '\\' => self.bump(),
                '"' => return,
                _ => {}
            }
        }
    }

    /// At `#...#"` (after the `r`): to just past `"#...#`. Returns false (without moving) when
    /// this is not a raw string.
    fn raw_string(&mut self) -> bool {
        let mut hashes = 0;
        while self.peek(hashes) == Some('#') {
            hashes += 1;
        }
        if self.peek(hashes) != Some('"') {
            return false;
        }
        for _ in 0..=hashes {
            self.bump();
        }
        while let Some(c) = self.peek(0) {
            self.bump();
            if c == '"' && (0..hashes).all(|k| self.peek(k) == Some('#')) {
                for _ in 0..hashes {
                    self.bump();
                }
                return true;
            }
        }
        true
    }

    /// At a `'`: a char literal (`'a'`, `'"'`, `'\''`, `'\u{1F600}'`) or a lifetime (`'a`,
    /// `'static`). Returns the kind.
    fn quote(&mut self) -> Kind {
        self.bump(); // '
        if self.peek(0) == Some('\\') {
            self.bump();
            self.bump(); // the escaped character, which may be a quote
            while let Some(c) = self.peek(0) {
                self.bump();
                if c == '\'' || c == '\n' {
                    break;
                }
            }
            return Kind::Literal;
        }
        if self.peek(1) == Some('\'') {
            self.bump();
            self.bump();
            return Kind::Literal;
        }
        while self.peek(0).is_some_and(is_ident_continue) {
            self.bump();
        }
        Kind::Lifetime
    }
}

/// Splits `src` into tokens and comments.
pub fn lex(src: &str) -> Lexed {
    let mut cur = Cursor {
        chars: src.chars().collect(),
        pos: 0,
        line: 1,
    };
    let mut out = Lexed::default();
    while let Some(c) = cur.peek(0) {
        let (start, line) = (cur.pos, cur.line);
        let kind = if c.is_whitespace() {
            cur.bump();
            continue;
        } else if c == '/' && cur.peek(1) == Some('/') {
            while cur.peek(0).is_some_and(|c| c != '\n') {
                cur.bump();
            }
            out.comments.push(Comment {
                line,
                end_line: line,
                text: cur.text(start),
            });
            continue;
        } else if c == '/' && cur.peek(1) == Some('*') {
            let mut depth = 0;
            while let Some(c) = cur.peek(0) {
                if c == '/' && cur.peek(1) == Some('*') {
                    depth += 1;
                    cur.bump();
                } else if c == '*' && cur.peek(1) == Some('/') {
                    depth -= 1;
                    cur.bump();
                    if depth == 0 {
                        cur.bump();
                        break;
                    }
                }
                cur.bump();
            }
            out.comments.push(Comment {
                line,
                end_line: cur.line,
                text: cur.text(start),
            });
            continue;
        } else if c == '"' {
            cur.bump();
            cur.string_body();
            Kind::Literal
        } else if c == '\'' {
            cur.quote()
        } else if is_ident_start(c) {
            while cur.peek(0).is_some_and(is_ident_continue) {
                cur.bump();
            }
            let word = cur.text(start);
            match (word.as_str(), cur.peek(0)) {
                ("r" | "br" | "cr", Some('"' | '#')) if cur.raw_string() => Kind::Literal,
                ("r", Some('#')) if cur.peek(1).is_some_and(is_ident_start) => {
                    // A raw identifier (`r#type`): kept with its `r#`, so it is never a keyword.
                    cur.bump();
                    while cur.peek(0).is_some_and(is_ident_continue) {
                        cur.bump();
                    }
                    Kind::Ident
                }
                ("b" | "c", Some('"')) => {
                    cur.bump();
                    cur.string_body();
                    Kind::Literal
                }
                ("b", Some('\'')) => {
                    cur.quote();
                    Kind::Literal
                }
                _ => Kind::Ident,
            }
        } else if c.is_ascii_digit() {
            while cur.peek(0).is_some_and(|c| {
                is_ident_continue(c)
                    || (c == '.' && cur.peek(1).is_some_and(|d| d.is_ascii_digit()))
            }) {
                cur.bump();
            }
            Kind::Literal
        } else {
            cur.bump();
            Kind::Punct
        };
        out.tokens.push(Token {
            kind,
            text: cur.text(start),
            line,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idents(src: &str) -> Vec<(String, usize)> {
        lex(src)
            .tokens
            .into_iter()
            .filter(|t| t.kind == Kind::Ident)
            .map(|t| (t.text, t.line))
            .collect()
    }

    fn has_unsafe(src: &str) -> bool {
        idents(src).iter().any(|(t, _)| t == "unsafe")
    }

    #[test]
    fn comments_are_not_code() {
        assert!(!has_unsafe("// unsafe { x }\nfn f() {}"));
        assert!(!has_unsafe("/// unsafe fn\nfn f() {}"));
        assert!(!has_unsafe(
            "/* unsafe /* nested unsafe */ still unsafe */ fn f() {}"
        ));
        let lexed = lex("a /* x\ny */ b // c\nd");
        assert_eq!(lexed.comments.len(), 2);
        assert_eq!((lexed.comments[0].line, lexed.comments[0].end_line), (1, 2));
        assert_eq!(lexed.comments[1].text, "// c");
        assert_eq!(
            idents("a /* x\ny */ b // c\nd"),
            [("a".into(), 1), ("b".into(), 2), ("d".into(), 3)]
        );
    }

    #[test]
    fn strings_are_not_code() {
        assert!(!has_unsafe(r#"let s = "unsafe { }";"#));
        assert!(!has_unsafe(r#"let s = "a \" unsafe";"#));
        assert!(!has_unsafe(r###"let s = r#"unsafe " still "#;"###));
        assert!(!has_unsafe(
            r#"let s = br"unsafe"; let t = b"unsafe"; let u = c"unsafe";"#
        ));
        assert!(!has_unsafe("let s = \"line\nunsafe\n\";"));
        // The string ends where it should: code after it is code.
        assert!(has_unsafe(r#"let s = "a\\"; unsafe { f() }"#));
        assert!(has_unsafe(r##"let s = r#"x"#; unsafe { f() }"##));
    }

    #[test]
    fn chars_and_lifetimes() {
        // A quote in a char literal must not open a string.
        assert!(has_unsafe(r#"let q = '"'; unsafe { f() }"#));
        assert!(has_unsafe(r"let q = '\''; unsafe { f() }"));
        assert!(has_unsafe(r"let q = b'\\'; unsafe { f() }"));
        assert!(has_unsafe(r"let q = '\u{1F600}'; unsafe { f() }"));
        let lexed = lex("fn f<'a>(x: &'a str) -> &'static str { 'outer: loop {} }");
        let lifetimes: Vec<&str> = lexed
            .tokens
            .iter()
            .filter(|t| t.kind == Kind::Lifetime)
            .map(|t| t.text.as_str())
            .collect();
        assert_eq!(lifetimes, ["'a", "'a", "'static", "'outer"]);
    }

    #[test]
    fn raw_identifiers_and_lines() {
        assert_eq!(
            idents("let r#unsafe = 1;\nunsafe"),
            [
                ("let".into(), 1),
                ("r#unsafe".into(), 1),
                ("unsafe".into(), 2)
            ]
        );
        let lexed = lex("a\n\n  b");
        assert_eq!(lexed.tokens[1].line, 3);
    }

    #[test]
    fn never_panics_on_broken_input() {
        for src in ["\"open", "r#\"open", "'", "/* open", "b'", "'\\", "r#"] {
            let _ = lex(src);
        }
    }
}
