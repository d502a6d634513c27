//! `--bind` and `--ro-bind`: the grammar of their values and the bind mounts they make.
//!
//! A value is `SRC:DST`, split at its one unescaped colon; in either path `\:` is a colon and
//! `\\` a backslash (any other backslash is an error). bubblewrap's two-word form, `--bind SRC
//! DST`, is accepted as well when the word after the option has no unescaped colon: that word
//! is SRC and the next one, whatever it holds, DST (escapes read the same; a colon there needs
//! none). Which form a `--bind` has is thus decided by its first word alone.
//!
//! clap cannot take one or two values depending on the first, so [`join_two_word_binds`]
//! rewrites the arguments before clap sees them: the two words become one value, joined by a
//! NUL byte, which no argument of a process can hold.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use furnace_core::BindMount;

use crate::cli::BindArg;
use crate::exit::Failure;

/// The long names of the bind options.
const BIND_OPTIONS: [&str; 2] = ["--bind", "--ro-bind"];

/// Whether `args` hold a bind option as a word of its own (`--bind`, not `--bind=…`), the only
/// way a two-word bind can appear: without one, [`join_two_word_binds`] has nothing to do.
pub fn may_have_two_word_binds(args: &[OsString]) -> bool {
    args.iter()
        .any(|arg| arg.to_str().is_some_and(|a| BIND_OPTIONS.contains(&a)))
}

/// Joins the two words of each two-word `--bind SRC DST` among furnace's own options of the
/// sub-command (not in the command it runs, nor after `--`), using `command`'s definitions to
/// know which options take a value and where the command to run begins; `command` must be
/// built ([`clap::Command::build`]), since its sub-commands' options are deferred.
pub fn join_two_word_binds(
    command: &clap::Command,
    args: impl IntoIterator<Item = OsString>,
) -> Vec<OsString> {
    let mut rest = args.into_iter();
    let mut out: Vec<OsString> = rest.next().into_iter().collect();
    // Up to the sub-command: global options only.
    let sub = loop {
        let Some(arg) = rest.next() else {
            return out;
        };
        let option = is_option(&arg);
        let sub = (!option)
            .then(|| arg.to_str().and_then(|name| command.find_subcommand(name)))
            .flatten();
        let needs_value = option && takes_value(&arg, [command, command]);
        out.push(arg);
        if let Some(sub) = sub {
            break sub;
        }
        if !option {
            out.extend(rest);
            return out;
        }
        if needs_value {
            out.extend(rest.next());
        }
    };
    // Positionals before the command to run (ROOTFS or NAME), for a sub-command that runs one.
    let fixed = sub
        .get_positionals()
        .filter(|a| !a.is_trailing_var_arg_set())
        .count();
    let runs_a_command = sub.get_positionals().any(|a| a.is_trailing_var_arg_set());
    let mut positionals = 0;
    while let Some(arg) = rest.next() {
        if arg == "--" {
            out.push(arg);
            break;
        }
        if !is_option(&arg) {
            positionals += 1;
            out.push(arg);
            if runs_a_command && positionals > fixed {
                break;
            }
            continue;
        }
        if arg.to_str().is_some_and(|a| BIND_OPTIONS.contains(&a)) {
            out.push(arg);
            let Some(value) = rest.next() else { break };
            if !has_unescaped_colon(value.as_bytes()) {
                if let Some(destination) = rest.next() {
                    let mut joined = value.into_vec();
                    joined.push(0);
                    joined.extend_from_slice(destination.as_bytes());
                    out.push(OsString::from_vec(joined));
                    continue;
                }
            }
            out.push(value);
            continue;
        }
        let needs_value = takes_value(&arg, [sub, command]);
        out.push(arg);
        if needs_value {
            out.extend(rest.next());
        }
    }
    out.extend(rest);
    out
}

/// Whether `arg` is an option word (`-x`, `--xy`), not a value or `-` alone.
fn is_option(arg: &OsStr) -> bool {
    let bytes = arg.as_bytes();
    bytes.len() > 1 && bytes[0] == b'-'
}

/// Whether the option word `arg` takes its value from the next word: a long option without
/// `=`, or a cluster of short ones whose first value-taking letter ends it. `commands` are the
/// sub-command and the top level (for the global options). Unknown options take none (clap
/// reports them).
fn takes_value(arg: &OsStr, commands: [&clap::Command; 2]) -> bool {
    let Some(arg) = arg.to_str() else {
        return false;
    };
    let args = || commands.into_iter().flat_map(|c| c.get_arguments());
    let valued = |a: &clap::Arg| a.get_action().takes_values();
    if let Some(long) = arg.strip_prefix("--") {
        if long.contains('=') {
            return false;
        }
        return args()
            .find(|a| {
                a.get_long() == Some(long)
                    || a.get_all_aliases().is_some_and(|all| all.contains(&long))
            })
            .is_some_and(valued);
    }
    let letters: Vec<char> = arg.chars().skip(1).collect();
    for (at, letter) in letters.iter().enumerate() {
        let found = args().find(|a| {
            a.get_short() == Some(*letter)
                || a.get_all_short_aliases()
                    .is_some_and(|all| all.contains(letter))
        });
        match found {
            // The value is the rest of the word, or the next word.
            Some(a) if valued(a) => return at + 1 == letters.len(),
            Some(_) => {}
            None => return false,
        }
    }
    false
}

/// Whether `path` holds a colon that is not escaped by a backslash.
fn has_unescaped_colon(path: &[u8]) -> bool {
    let mut bytes = path.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => {
                bytes.next();
            }
            b':' => return true,
            _ => {}
        }
    }
    false
}

/// A `--bind`/`--ro-bind` value as a bind mount. SRC is made absolute against the current
/// directory (it is a host path); DST is left as given (a path inside the container).
pub fn bind_mount(arg: &BindArg) -> Result<BindMount, Failure> {
    let shown = || format!("{} {}", arg.option_name(), shown(&arg.value));
    let (source, destination) =
        split_bind(&arg.value).map_err(|why| Failure::furnace(format!("{}: {why}", shown())))?;
    let source = std::path::absolute(&source).map_err(|e| {
        Failure::furnace(format!(
            "{}: cannot resolve the source against the current directory: {e}",
            shown()
        ))
    })?;
    let bind = BindMount::new(source, destination);
    Ok(if arg.read_only {
        bind.read_only()
    } else {
        bind
    })
}

/// The value as the user typed it, quoted: `"SRC:DST"`, or `"SRC" "DST"` for two words.
/// Backslashes are shown as they are (they are the escapes the message may be about); quotes
/// and control characters are escaped.
fn shown(value: &OsStr) -> String {
    let quoted = |bytes: &[u8]| {
        let text: String = String::from_utf8_lossy(bytes)
            .chars()
            .map(|c| match c {
                '"' => "\\\"".to_owned(),
                c if c.is_control() => c.escape_debug().to_string(),
                c => c.to_string(),
            })
            .collect();
        format!("\"{text}\"")
    };
    match value.as_bytes().split(|&b| b == 0).collect::<Vec<_>>()[..] {
        [source, destination] => format!("{} {}", quoted(source), quoted(destination)),
        _ => quoted(value.as_bytes()),
    }
}

/// `SRC:DST` (or the two words joined by NUL) → (SRC, DST) with the escapes read, or why not.
fn split_bind(value: &OsStr) -> Result<(PathBuf, PathBuf), String> {
    const SHAPE: &str = "expected SRC:DST (a host path, a colon, a path inside the container) \
                         or the two words SRC DST";
    let bytes = value.as_bytes();
    let (source, destination) = match bytes.iter().position(|&b| b == 0) {
        Some(nul) => (&bytes[..nul], &bytes[nul + 1..]),
        None => {
            let mut parts = split_unescaped_colons(bytes).into_iter();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(source), Some(destination), None) => (source, destination),
                (_, Some(_), Some(_)) => {
                    return Err(
                        "more than one unescaped ':' (write \\: for a colon that is \
                                part of a path)"
                            .into(),
                    )
                }
                _ => return Err(SHAPE.into()),
            }
        }
    };
    let source = unescape(source).map_err(|why| format!("the source: {why}"))?;
    let destination = unescape(destination).map_err(|why| format!("the destination: {why}"))?;
    if source.is_empty() {
        return Err("the source is empty".into());
    }
    if destination.is_empty() {
        return Err("the destination is empty".into());
    }
    Ok((
        PathBuf::from(OsString::from_vec(source)),
        PathBuf::from(OsString::from_vec(destination)),
    ))
}

/// `bytes` split at each colon that no backslash escapes (escapes kept).
fn split_unescaped_colons(bytes: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let (mut start, mut at) = (0, 0);
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 1,
            b':' => {
                parts.push(&bytes[start..at]);
                start = at + 1;
            }
            _ => {}
        }
        at += 1;
    }
    parts.push(&bytes[start.min(bytes.len())..]);
    parts
}

/// Reads the escapes: `\:` is a colon, `\\` a backslash; any other backslash is an error.
fn unescape(bytes: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut iter = bytes.iter();
    while let Some(&b) = iter.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match iter.next() {
            Some(&escaped @ (b':' | b'\\')) => out.push(escaped),
            _ => return Err(
                "a backslash must be followed by ':' or '\\' (\\: is a colon, \\\\ a backslash)",
            ),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn bind(value: &str, read_only: bool) -> Result<BindMount, String> {
        bind_mount(&BindArg {
            read_only,
            value: value.into(),
        })
        .map_err(|f| f.to_string())
    }

    fn paths(value: &str) -> (PathBuf, PathBuf) {
        let b = bind(value, false).unwrap();
        (b.source().to_owned(), b.destination().to_owned())
    }

    fn joined(args: &[&str]) -> Vec<String> {
        let mut command = <crate::cli::Cli as clap::CommandFactory>::command();
        command.build();
        join_two_word_binds(&command, args.iter().map(OsString::from))
            .into_iter()
            .map(|a| a.to_string_lossy().replace('\0', "|"))
            .collect()
    }

    #[test]
    fn binds_split_at_the_colon() {
        let b = bind("/srv/data:/data", false).unwrap();
        assert_eq!(b.source(), Path::new("/srv/data"));
        assert_eq!(b.destination(), Path::new("/data"));
        assert!(!b.is_read_only());
        assert!(bind("/a:b", true).unwrap().is_read_only());
    }

    #[test]
    fn relative_sources_are_resolved_on_the_host() {
        let b = bind("data:/data", false).unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(b.source(), cwd.join("data"));
    }

    #[test]
    fn escapes_give_colons_and_backslashes() {
        assert_eq!(
            paths(r"/srv/a\:b:/x\:y"),
            ("/srv/a:b".into(), "/x:y".into())
        );
        assert_eq!(paths(r"/srv/a\\:/x"), (r"/srv/a\".into(), "/x".into()));
        assert_eq!(paths(r"/a\\\::/b"), (r"/a\:".into(), "/b".into()));
        // Two words: the destination needs no escape for a colon, and reads escapes the same.
        assert_eq!(paths("/a\0/x:y"), ("/a".into(), "/x:y".into()));
        assert_eq!(paths("/a\\:b\0/x\\:y"), ("/a:b".into(), "/x:y".into()));
    }

    #[test]
    fn bad_binds_name_the_argument() {
        let err = bind("nocolon", false).unwrap_err();
        assert!(err.contains("--bind \"nocolon\""), "{err}");
        assert!(err.contains("SRC:DST"), "{err}");
        let err = bind(":/x", true).unwrap_err();
        assert!(err.starts_with("--ro-bind \":/x\""), "{err}");
        assert!(err.contains("source"), "{err}");
        let err = bind("/x:", false).unwrap_err();
        assert!(err.contains("destination"), "{err}");
        let err = bind("/a:/b:/c", false).unwrap_err();
        assert!(err.contains("more than one"), "{err}");
        let err = bind(r"/a\x:/b", false).unwrap_err();
        assert!(
            err.starts_with(r#"--bind "/a\x:/b": the source: a backslash"#),
            "{err}"
        );
        let err = bind("/a:/b\\", false).unwrap_err();
        assert!(err.contains("the destination: a backslash"), "{err}");
        let err = bind("/a\0", false).unwrap_err();
        assert_eq!(err, "--bind \"/a\" \"\": the destination is empty");
    }

    #[test]
    fn two_words_are_joined_where_furnace_reads_options() {
        assert_eq!(
            joined(&["furnace", "run", "--bind", "/a", "/x", "/r", "true"]),
            ["furnace", "run", "--bind", "/a|/x", "/r", "true"]
        );
        // One word when it has an unescaped colon; an escaped one does not count.
        assert_eq!(
            joined(&["furnace", "run", "--ro-bind", "/a:/x", "/r", "ls"]),
            ["furnace", "run", "--ro-bind", "/a:/x", "/r", "ls"]
        );
        assert_eq!(
            joined(&["furnace", "shell", "--bind", r"/a\:b", "/x", "/r"]),
            ["furnace", "shell", "--bind", r"/a\:b|/x", "/r"]
        );
        // After ROOTFS, options are still furnace's until the command starts.
        assert_eq!(
            joined(&["furnace", "run", "/r", "-e", "A=1", "--bind", "/a", "/x", "ls"]),
            ["furnace", "run", "/r", "-e", "A=1", "--bind", "/a|/x", "ls"]
        );
        // Values of other options are skipped (even one that reads like --bind), the global
        // option before the sub-command too.
        assert_eq!(
            joined(&[
                "furnace",
                "--state-dir",
                "/s",
                "start",
                "--hostname",
                "--bind",
                "-w",
                "/r"
            ]),
            [
                "furnace",
                "--state-dir",
                "/s",
                "start",
                "--hostname",
                "--bind",
                "-w",
                "/r"
            ]
        );
        // The command's words, and words after `--`, are the command's.
        for args in [
            &["furnace", "run", "/r", "sh", "--bind", "/a", "/x"][..],
            &["furnace", "run", "--", "/r", "--bind", "/a", "/x"],
            &["furnace", "run", "-te", "X=1", "/r", "--bind", "/a", "/x"],
        ] {
            let mut expected: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            if args.contains(&"-te") {
                // `-te X=1`: the value of -e is the next word; then ROOTFS, then --bind.
                expected[6] = "/a|/x".into();
                expected.truncate(7);
            }
            assert_eq!(joined(args), expected, "{args:?}");
        }
        // A last --bind with one word is left to the usual message.
        assert_eq!(
            joined(&["furnace", "run", "--bind", "/a"]),
            ["furnace", "run", "--bind", "/a"]
        );
    }
}
