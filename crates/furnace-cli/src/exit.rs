//! Exit statuses, following `env`, `chroot`, docker and podman: the command's own; 128+N when
//! it died of signal N; 125 when furnace failed; 126 when the command cannot be executed; 127
//! when it is not found.

use std::fmt;
use std::io::{self, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use furnace_core::SpawnStep;

/// furnace itself failed: bad arguments, or the container could not be made.
pub const FURNACE_FAILED: u8 = 125;
/// The command exists in the container but cannot be executed.
pub const NOT_EXECUTABLE: u8 = 126;
/// The command is not found in the container.
pub const NOT_FOUND: u8 = 127;

/// A failure of furnace (not of the command): an exit status and a one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// furnace itself failed (exit status 125).
    pub fn furnace(message: impl fmt::Display) -> Self {
        Self::with_code(FURNACE_FAILED, message)
    }

    /// A failure with a given exit status.
    pub fn with_code(code: u8, message: impl fmt::Display) -> Self {
        Self {
            code,
            message: one_line(&message.to_string()),
        }
    }

    /// Classifies an error of starting the command by the step that failed: `exec` not
    /// finding the program is 127, finding one it cannot execute 126; a bad working
    /// directory, like every other step of entering the container, is furnace's failure (125),
    /// as with `env -C`.
    ///
    /// The library reports `NotFound` when the program is missing inside the container and
    /// `PermissionDenied` when it is not executable; exec's other refusals (a bad binary
    /// format, a directory, a busy text file) also mean "exists but cannot be executed".
    pub fn spawn(err: &io::Error) -> Self {
        let spawn = match err.get_ref().and_then(|e| e.downcast_ref()) {
            Some(furnace_core::Error::Spawn { step, error, .. }) => Some((*step, error)),
            _ => None,
        };
        let (step, errno) = match spawn {
            Some((step, error)) => (step, error.raw_os_error()),
            None => (SpawnStep::Exec, err.raw_os_error()),
        };
        if step != SpawnStep::Exec {
            return Self::with_code(FURNACE_FAILED, err);
        }
        let code = match (err.kind(), errno) {
            (io::ErrorKind::NotFound, _) => NOT_FOUND,
            (io::ErrorKind::PermissionDenied, _) => NOT_EXECUTABLE,
            (_, Some(libc::ENOEXEC | libc::EISDIR | libc::ETXTBSY | libc::ELOOP)) => NOT_EXECUTABLE,
            _ => FURNACE_FAILED,
        };
        Self::with_code(code, err)
    }

    /// The exit status.
    pub fn code(&self) -> u8 {
        self.code
    }

    /// Writes `furnace: <message>` to stderr (ignoring a closed stderr) and returns the code.
    pub fn report(&self) -> u8 {
        let _ = writeln!(io::stderr().lock(), "furnace: {}", self.message);
        self.code()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The exit status furnace passes on for the command's `status`: its exit code, or 128+N for
/// signal N.
pub fn code_of(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => (code & 0xff) as u8,
        (None, Some(signal)) => 128u8.wrapping_add(signal as u8),
        (None, None) => FURNACE_FAILED,
    }
}

/// Joins the lines of a message, so that every failure is one line on stderr.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_codes() {
        assert_eq!(code_of(ExitStatus::from_raw(0)), 0);
        assert_eq!(code_of(ExitStatus::from_raw(42 << 8)), 42);
        assert_eq!(code_of(ExitStatus::from_raw(libc::SIGKILL)), 137);
        assert_eq!(code_of(ExitStatus::from_raw(libc::SIGTERM)), 143);
        // A core dump does not change the signal number.
        assert_eq!(code_of(ExitStatus::from_raw(libc::SIGQUIT | 0x80)), 131);
    }

    #[test]
    fn spawn_errors_are_classified() {
        let e = |errno| io::Error::from_raw_os_error(errno);
        assert_eq!(Failure::spawn(&e(libc::ENOENT)).code(), NOT_FOUND);
        assert_eq!(Failure::spawn(&e(libc::EACCES)).code(), NOT_EXECUTABLE);
        assert_eq!(Failure::spawn(&e(libc::ENOEXEC)).code(), NOT_EXECUTABLE);
        assert_eq!(Failure::spawn(&e(libc::EPIPE)).code(), FURNACE_FAILED);
        // The library wraps spawn errors with context and the step; the errno stays inside.
        let wrapped = |step, errno| -> io::Error {
            furnace_core::Error::Spawn {
                program: "x".into(),
                step,
                cwd: Some("/nowhere".into()),
                error: e(errno),
            }
            .into()
        };
        let busy = wrapped(SpawnStep::Exec, libc::ETXTBSY);
        assert_eq!(busy.raw_os_error(), None);
        assert_eq!(Failure::spawn(&busy).code(), NOT_EXECUTABLE);
        assert!(Failure::spawn(&busy)
            .to_string()
            .starts_with("spawn x in the container (working directory /nowhere): exec: "));
        // A missing working directory is furnace's failure, not a missing command.
        let no_dir = Failure::spawn(&wrapped(SpawnStep::ChangeDirectory, libc::ENOENT));
        assert_eq!(no_dir.code(), FURNACE_FAILED);
        assert!(no_dir
            .to_string()
            .contains("change to the working directory"));
    }

    #[test]
    fn messages_are_one_line() {
        let f = Failure::furnace("first\n  second\n");
        assert_eq!(f.to_string(), "first; second");
        assert_eq!(f.code(), FURNACE_FAILED);
    }
}
