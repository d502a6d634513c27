//! A program to execute from a forked child, prepared beforehand: its arguments, its
//! environment, and the paths a `PATH` search would try, as C strings and pointer arrays.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// The search path used when the environment has no `PATH` (the one runc and crun use).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A program with its arguments and environment, prepared (allocated) before a fork so that
/// the forked child can [`exec_program`](super::forksafe::exec_program) it without allocating.
///
/// The program is found as `execvp(3)` finds it, but with the search done ahead: a name with a
/// `/` is the one path tried; otherwise each directory of the environment's `PATH` (or
/// [`DEFAULT_PATH`]) in order, so that the lookup happens in whatever root the child is in
/// when it executes.
///
/// ```
/// use furnace_sys::process::PreparedProgram;
/// let p = PreparedProgram::new("sh", &["sh".into(), "-c".into(), "true".into()],
///     &["PATH=/usr/bin:/bin".into()]).unwrap();
/// assert_eq!(p.candidates(), ["/usr/bin/sh", "/bin/sh"]);
/// ```
#[derive(Debug)]
pub struct PreparedProgram {
    candidates: Vec<CString>,
    // Own the strings the pointer arrays point into.
    _args: Vec<CString>,
    _env: Vec<CString>,
    // Null-terminated.
    pub(crate) argv: Vec<*const libc::c_char>,
    pub(crate) envp: Vec<*const libc::c_char>,
}

// SAFETY: the raw pointers point into the CStrings the value owns, which are never changed
// after construction and move with it; nothing is shared with another value.
unsafe impl Send for PreparedProgram {}
// SAFETY: as above; the value is only read.
unsafe impl Sync for PreparedProgram {}

impl PreparedProgram {
    /// `program` run with `args` (the first of which is `argv[0]`) in the environment `env`
    /// (`KEY=VALUE` strings); `None` when a string holds a NUL byte or `program` is empty.
    ///
    /// No system call.
    pub fn new(program: &str, args: &[String], env: &[String]) -> Option<PreparedProgram> {
        let os = |s: &String| OsString::from(s);
        Self::new_os(
            OsStr::new(program),
            &args.iter().map(os).collect::<Vec<_>>(),
            &env.iter().map(os).collect::<Vec<_>>(),
        )
    }

    /// [`new`](PreparedProgram::new) for strings that need not be UTF-8.
    ///
    /// No system call.
    pub fn new_os(program: &OsStr, args: &[OsString], env: &[OsString]) -> Option<PreparedProgram> {
        if program.is_empty() {
            return None;
        }
        let c = |s: &OsStr| CString::new(s.as_bytes()).ok();
        let candidates: Vec<CString> = if program.as_bytes().contains(&b'/') {
            vec![c(program)?]
        } else {
            let path = env
                .iter()
                .find_map(|e| e.as_bytes().strip_prefix(b"PATH="))
                .unwrap_or(DEFAULT_PATH.as_bytes());
            path.split(|&b| b == b':')
                .map(|dir| {
                    // An empty entry is the current directory, as for execvp.
                    let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
                    let mut full = dir.to_vec();
                    full.push(b'/');
                    full.extend_from_slice(program.as_bytes());
                    CString::new(full).ok()
                })
                .collect::<Option<_>>()?
        };
        let args: Vec<CString> = args.iter().map(|a| c(a)).collect::<Option<_>>()?;
        let env: Vec<CString> = env.iter().map(|e| c(e)).collect::<Option<_>>()?;
        let array = |strings: &[CString]| {
            strings
                .iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect::<Vec<_>>()
        };
        Some(PreparedProgram {
            argv: array(&args),
            envp: array(&env),
            candidates,
            _args: args,
            _env: env,
        })
    }

    /// The paths [`exec_program`](super::forksafe::exec_program) tries, in order.
    ///
    /// No system call.
    pub fn candidates(&self) -> Vec<&str> {
        self.candidates
            .iter()
            .map(|c| c.to_str().unwrap_or("?"))
            .collect()
    }

    pub(crate) fn candidate_paths(&self) -> &[CString] {
        &self.candidates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_name_is_searched_in_path_and_a_path_is_taken_as_is() {
        let p = PreparedProgram::new("ls", &strings(&["ls"]), &strings(&["PATH=/a::/b"])).unwrap();
        assert_eq!(p.candidates(), ["/a/ls", "./ls", "/b/ls"]);
        let p = PreparedProgram::new("ls", &strings(&["ls"]), &[]).unwrap();
        assert_eq!(p.candidates().len(), DEFAULT_PATH.split(':').count());
        assert_eq!(p.candidates()[0], "/usr/local/sbin/ls");
        let p = PreparedProgram::new("./x/y", &strings(&["y"]), &[]).unwrap();
        assert_eq!(p.candidates(), ["./x/y"]);
        assert_eq!(p.argv.len(), 2);
        assert_eq!(p.envp.len(), 1);
        assert!(p.argv[1].is_null() && p.envp[0].is_null());
    }

    #[test]
    fn nul_bytes_and_an_empty_name_are_refused() {
        assert!(PreparedProgram::new("", &strings(&["x"]), &[]).is_none());
        assert!(PreparedProgram::new("a\0b", &strings(&["x"]), &[]).is_none());
        assert!(PreparedProgram::new("a", &strings(&["x\0"]), &[]).is_none());
        assert!(PreparedProgram::new("a", &strings(&["x"]), &strings(&["A=\0"])).is_none());
    }
}
