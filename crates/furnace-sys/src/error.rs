//! The one error type of `furnace-sys`: which call failed, on what, and with which errno.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub use rustix::io::Errno;

/// A failed system call, with the arguments that matter and the errno it returned.
///
/// The message names the call, its subject and the errno with its symbolic name, e.g.
/// `mount proc on /proc (type proc): EPERM (Operation not permitted)`. Paths that are not
/// UTF-8 are printed with their odd bytes escaped (`\xff`), so the message stays readable
/// and unambiguous.
///
/// ```
/// use furnace_sys::{Errno, Error};
/// let err = Error::new("umount2", "/mnt/x", Errno::BUSY).with_path("/mnt/x");
/// assert_eq!(err.to_string(), "umount2 /mnt/x: EBUSY (Device or resource busy)");
/// assert_eq!(err.errno(), Errno::BUSY);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    call: &'static str,
    detail: String,
    path: Option<PathBuf>,
    errno: Errno,
}

impl Error {
    /// An error of `call` with a human-readable `detail` (its arguments) and `errno`.
    pub fn new(call: &'static str, detail: impl Into<String>, errno: Errno) -> Self {
        Self {
            call,
            detail: detail.into(),
            path: None,
            errno,
        }
    }

    /// Records the path the call acted on, for callers that want to inspect it.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The system call (or library step) that failed, e.g. `"mount"`.
    pub fn call(&self) -> &'static str {
        self.call
    }

    /// The arguments of the call, as printed.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The main path the call acted on, when there is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The errno the kernel returned.
    pub fn errno(&self) -> Errno {
        self.errno
    }

    /// The errno as the raw number, as `std::io::Error::raw_os_error` would give it.
    pub fn raw_os_error(&self) -> i32 {
        self.errno.raw_os_error()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.call)?;
        if !self.detail.is_empty() {
            write!(f, " {}", self.detail)?;
        }
        write!(f, ": {}", DisplayErrno(self.errno))
    }
}

impl std::error::Error for Error {}

/// Converts to an `io::Error` of the matching kind; the errno and the message stay reachable
/// through `get_ref().downcast_ref::<furnace_sys::Error>()`.
impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        io::Error::new(io::Error::from_raw_os_error(err.raw_os_error()).kind(), err)
    }
}

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The errno of the last failed libc call of this thread, read without allocating.
#[inline]
pub(crate) fn last_errno() -> Errno {
    Errno::from_raw_os_error(
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

/// Maps a libc-style return value (negative on failure, with `errno` set) to a result.
#[inline]
pub(crate) fn check(ret: libc::c_long) -> Result<libc::c_long, Errno> {
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(ret)
    }
}

/// Formats an errno as `ENAME (description)`, e.g. `EPERM (Operation not permitted)`.
///
/// ```
/// use furnace_sys::{DisplayErrno, Errno};
/// assert_eq!(DisplayErrno(Errno::NOENT).to_string(), "ENOENT (No such file or directory)");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DisplayErrno(pub Errno);

impl fmt::Display for DisplayErrno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let raw = self.0.raw_os_error();
        let description = io::Error::from_raw_os_error(raw).to_string();
        // std appends " (os error N)"; the symbolic name already identifies the errno.
        let description = description
            .strip_suffix(&format!(" (os error {raw})"))
            .unwrap_or(&description);
        match errno_name(raw) {
            Some(name) => write!(f, "{name} ({description})"),
            None => write!(f, "errno {raw} ({description})"),
        }
    }
}

/// The symbolic name of an errno value (`1` → `"EPERM"`), for the errnos Linux defines.
pub fn errno_name(raw: i32) -> Option<&'static str> {
    const NAMES: [&str; 134] = [
        "",
        "EPERM",
        "ENOENT",
        "ESRCH",
        "EINTR",
        "EIO",
        "ENXIO",
        "E2BIG",
        "ENOEXEC",
        "EBADF",
        "ECHILD",
        "EAGAIN",
        "ENOMEM",
        "EACCES",
        "EFAULT",
        "ENOTBLK",
        "EBUSY",
        "EEXIST",
        "EXDEV",
        "ENODEV",
        "ENOTDIR",
        "EISDIR",
        "EINVAL",
        "ENFILE",
        "EMFILE",
        "ENOTTY",
        "ETXTBSY",
        "EFBIG",
        "ENOSPC",
        "ESPIPE",
        "EROFS",
        "EMLINK",
        "EPIPE",
        "EDOM",
        "ERANGE",
        "EDEADLK",
        "ENAMETOOLONG",
        "ENOLCK",
        "ENOSYS",
        "ENOTEMPTY",
        "ELOOP",
        "",
        "ENOMSG",
        "EIDRM",
        "ECHRNG",
        "EL2NSYNC",
        "EL3HLT",
        "EL3RST",
        "ELNRNG",
        "EUNATCH",
        "ENOCSI",
        "EL2HLT",
        "EBADE",
        "EBADR",
        "EXFULL",
        "ENOANO",
        "EBADRQC",
        "EBADSLT",
        "",
        "EBFONT",
        "ENOSTR",
        "ENODATA",
        "ETIME",
        "ENOSR",
        "ENONET",
        "ENOPKG",
        "EREMOTE",
        "ENOLINK",
        "EADV",
        "ESRMNT",
        "ECOMM",
        "EPROTO",
        "EMULTIHOP",
        "EDOTDOT",
        "EBADMSG",
        "EOVERFLOW",
        "ENOTUNIQ",
        "EBADFD",
        "EREMCHG",
        "ELIBACC",
        "ELIBBAD",
        "ELIBSCN",
        "ELIBMAX",
        "ELIBEXEC",
        "EILSEQ",
        "ERESTART",
        "ESTRPIPE",
        "EUSERS",
        "ENOTSOCK",
        "EDESTADDRREQ",
        "EMSGSIZE",
        "EPROTOTYPE",
        "ENOPROTOOPT",
        "EPROTONOSUPPORT",
        "ESOCKTNOSUPPORT",
        "EOPNOTSUPP",
        "EPFNOSUPPORT",
        "EAFNOSUPPORT",
        "EADDRINUSE",
        "EADDRNOTAVAIL",
        "ENETDOWN",
        "ENETUNREACH",
        "ENETRESET",
        "ECONNABORTED",
        "ECONNRESET",
        "ENOBUFS",
        "EISCONN",
        "ENOTCONN",
        "ESHUTDOWN",
        "ETOOMANYREFS",
        "ETIMEDOUT",
        "ECONNREFUSED",
        "EHOSTDOWN",
        "EHOSTUNREACH",
        "EALREADY",
        "EINPROGRESS",
        "ESTALE",
        "EUCLEAN",
        "ENOTNAM",
        "ENAVAIL",
        "EISNAM",
        "EREMOTEIO",
        "EDQUOT",
        "ENOMEDIUM",
        "EMEDIUMTYPE",
        "ECANCELED",
        "ENOKEY",
        "EKEYEXPIRED",
        "EKEYREVOKED",
        "EKEYREJECTED",
        "EOWNERDEAD",
        "ENOTRECOVERABLE",
        "ERFKILL",
        "EHWPOISON",
    ];
    usize::try_from(raw)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .filter(|name| !name.is_empty())
}

/// Displays a path readably even when it is not UTF-8: valid UTF-8 is printed as is, other
/// bytes as `\xNN`.
///
/// ```
/// use std::ffi::OsStr;
/// use std::os::unix::ffi::OsStrExt;
/// use furnace_sys::DisplayPath;
/// let odd = OsStr::from_bytes(b"/tmp/a\xffb");
/// assert_eq!(DisplayPath(odd.as_ref()).to_string(), "/tmp/a\\xffb");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DisplayPath<'a>(pub &'a Path);

impl fmt::Display for DisplayPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use std::os::unix::ffi::OsStrExt;
        for chunk in self.0.as_os_str().as_bytes().utf8_chunks() {
            f.write_str(chunk.valid())?;
            for byte in chunk.invalid() {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_call_subject_and_errno() {
        let err = Error::new("mount", "proc on /proc (type proc)", Errno::PERM);
        assert_eq!(
            err.to_string(),
            "mount proc on /proc (type proc): EPERM (Operation not permitted)"
        );
    }

    #[test]
    fn errno_names_cover_common_values() {
        assert_eq!(errno_name(libc::ENOENT), Some("ENOENT"));
        assert_eq!(errno_name(libc::EXDEV), Some("EXDEV"));
        assert_eq!(errno_name(libc::ELOOP), Some("ELOOP"));
        assert_eq!(errno_name(libc::EOPNOTSUPP), Some("EOPNOTSUPP"));
        assert_eq!(errno_name(libc::EHWPOISON), Some("EHWPOISON"));
        assert_eq!(errno_name(0), None);
        assert_eq!(errno_name(-3), None);
        assert_eq!(errno_name(4000), None);
    }

    #[test]
    fn io_error_keeps_errno_and_message() {
        let err: io::Error = Error::new("open", "/nope", Errno::NOENT).into();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("open /nope: ENOENT"));
    }

    #[test]
    fn non_utf8_paths_are_escaped() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(OsStr::from_bytes(b"/x/\xc3\x28"));
        assert_eq!(DisplayPath(p).to_string(), "/x/\\xc3(");
    }
}
