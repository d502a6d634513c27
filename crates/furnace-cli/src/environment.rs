//! The command's environment: furnace's own, inherited (or none with `--clearenv`), then
//! `--user`'s variables, `--env-file`, `-e` and `--unsetenv`, in that order; `PWD` is the
//! library's (the working directory inside) unless one of them sets or removes it.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use crate::cli::CommandArgs;
use crate::exit::Failure;

/// What the options do to the environment, checked before anything starts.
#[derive(Debug, Default)]
pub struct Environment {
    /// `--clearenv`.
    clear: bool,
    /// `--env-file` variables, then `-e` ones, in order (a later one wins).
    set: Vec<(OsString, OsString)>,
    /// `--unsetenv` names.
    unset: Vec<OsString>,
}

impl Environment {
    /// Reads and checks the options (the `--env-file` files among them).
    pub fn from_args(args: &CommandArgs) -> Result<Self, Failure> {
        let mut set = Vec::new();
        for file in &args.env_files {
            set.extend(read_env_file(file)?);
        }
        for value in &args.env {
            set.push(env_var(value)?);
        }
        let unset = args
            .unsetenv
            .iter()
            .map(|key| check_unset(key).map(|()| key.clone()))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            clear: args.clearenv,
            set,
            unset,
        })
    }

    /// Applies the environment to `command`, whose own variables (the shell's `PS1` and
    /// `FURNACE_CONTAINER`) stay with `--clearenv`; `user` are `--user`'s `HOME`, `USER` and
    /// `LOGNAME`.
    ///
    /// `--clearenv` removes each variable furnace inherited rather than clearing all (which
    /// would also take `PWD` away, as std's `env_clear` does): `PWD` stays the library's, the
    /// working directory inside.
    pub fn apply(&self, command: &mut furnace_core::Command<'_>, user: &[(OsString, OsString)]) {
        if self.clear {
            let own: Vec<OsString> = command
                .get_envs()
                .filter(|(_, value)| value.is_some())
                .map(|(key, _)| key.to_owned())
                .collect();
            for (key, _) in std::env::vars_os() {
                if key != "PWD" && !own.contains(&key) {
                    command.env_remove(key);
                }
            }
        }
        command.envs(user.iter().cloned());
        command.envs(self.set.iter().cloned());
        for key in &self.unset {
            command.env_remove(key);
        }
    }
}

/// Splits a `-e`/`--env` value `KEY=VALUE` (VALUE may be empty, or contain `=`).
pub fn env_var(value: &OsStr) -> Result<(OsString, OsString), Failure> {
    let bad = |why: &str| Failure::furnace(format!("--env {}: {why}", quoted(value)));
    split_var(value.as_bytes()).map_err(bad)
}

/// `KEY=VALUE` → (KEY, VALUE), or why not.
fn split_var(bytes: &[u8]) -> Result<(OsString, OsString), &'static str> {
    let Some(eq) = bytes.iter().position(|&b| b == b'=') else {
        return Err("expected KEY=VALUE");
    };
    if eq == 0 {
        return Err("the name (before '=') is empty");
    }
    if bytes.contains(&0) {
        return Err("contains a NUL byte");
    }
    Ok((
        OsString::from_vec(bytes[..eq].to_vec()),
        OsString::from_vec(bytes[eq + 1..].to_vec()),
    ))
}

/// A `--unsetenv` name: not empty, no `=`, no NUL.
fn check_unset(key: &OsStr) -> Result<(), Failure> {
    let bytes = key.as_bytes();
    let why = if bytes.is_empty() {
        "the name is empty"
    } else if bytes.contains(&b'=') {
        "expected a variable's name, without '='"
    } else if bytes.contains(&0) {
        "contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(Failure::furnace(format!(
        "--unsetenv {}: {why}",
        quoted(key)
    )))
}

/// The variables of an `--env-file`: `KEY=VALUE` lines, docker's format. Leading blanks are
/// skipped; a line that is then empty or starts with `#` is skipped; VALUE is the rest of the
/// line as it is (spaces, quotes, `#` and `$` included: no quoting, no expansion); a line end
/// is `\n` or `\r\n`. KEY must not be empty or hold white space. Unlike docker, a line with a
/// name alone is an error, not a variable taken from furnace's environment.
pub fn read_env_file(path: &Path) -> Result<Vec<(OsString, OsString)>, Failure> {
    let bytes = std::fs::read(path).map_err(|e| {
        Failure::furnace(format_args!(
            "--env-file {}: cannot read it: {e}",
            quoted(path.as_os_str())
        ))
    })?;
    let mut vars = Vec::new();
    for (number, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let start = line
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t'))
            .unwrap_or(line.len());
        let line = &line[start..];
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let var = split_var(line).and_then(|(key, value)| {
            if key.as_bytes().iter().any(u8::is_ascii_whitespace) {
                Err("the name (before '=') holds white space")
            } else {
                Ok((key, value))
            }
        });
        vars.push(var.map_err(|why| {
            Failure::furnace(format_args!(
                "--env-file {}:{}: {why}: {}",
                path.display(),
                number + 1,
                quoted(OsStr::from_bytes(line))
            ))
        })?);
    }
    Ok(vars)
}

/// A value in quotes, as Rust's `Debug` of a lossy string shows it (escapes included).
fn quoted(value: &OsStr) -> String {
    format!("{:?}", value.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_vars_split_at_the_first_equals_sign() {
        let (k, v) = env_var(OsStr::new("A=b=c")).unwrap();
        assert_eq!((k.to_str(), v.to_str()), (Some("A"), Some("b=c")));
        let (k, v) = env_var(OsStr::new("EMPTY=")).unwrap();
        assert_eq!((k.to_str(), v.to_str()), (Some("EMPTY"), Some("")));
        let err = env_var(OsStr::new("NOVALUE")).unwrap_err().to_string();
        assert!(
            err.contains("--env \"NOVALUE\": expected KEY=VALUE"),
            "{err}"
        );
        assert!(env_var(OsStr::new("=x")).is_err());
    }

    #[test]
    fn env_files_take_values_as_they_are() {
        let dir = std::env::temp_dir().join(format!("furnace-env-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("vars.env");
        std::fs::write(
            &file,
            "# a comment\n\n  \t\nA=1\n  B = 2 \nC=\"quoted\" 'too' $HOME # not a comment\r\n\
             D=\nE=x=y\n\t# indented comment\nLAST=no newline",
        )
        .unwrap();
        let err = read_env_file(&file).unwrap_err().to_string();
        assert!(err.contains("vars.env:5: the name"), "{err}");
        std::fs::write(
            &file,
            "# a comment\n\n  \t\nA=1\n  B= 2 \nC=\"quoted\" 'too' $HOME # not a comment\r\n\
             D=\nE=x=y\n\t# indented comment\nLAST=no newline",
        )
        .unwrap();
        let vars: Vec<(String, String)> = read_env_file(&file)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k.into_string().unwrap(), v.into_string().unwrap()))
            .collect();
        let expected = [
            ("A", "1"),
            ("B", " 2 "),
            ("C", "\"quoted\" 'too' $HOME # not a comment"),
            ("D", ""),
            ("E", "x=y"),
            ("LAST", "no newline"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(vars, expected);
        std::fs::write(&file, "A=1\nJUSTANAME\n").unwrap();
        let err = read_env_file(&file).unwrap_err().to_string();
        assert!(
            err.ends_with("vars.env:2: expected KEY=VALUE: \"JUSTANAME\""),
            "{err}"
        );
        let missing = dir.join("missing.env");
        let err = read_env_file(&missing).unwrap_err().to_string();
        assert!(err.starts_with("--env-file \""), "{err}");
        assert!(err.contains("missing.env\": cannot read it"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unsetenv_takes_a_name() {
        assert!(check_unset(OsStr::new("HOME")).is_ok());
        for bad in ["", "A=B", "A\0"] {
            let err = check_unset(OsStr::new(bad)).unwrap_err().to_string();
            assert!(err.starts_with("--unsetenv "), "{err}");
        }
    }
}
