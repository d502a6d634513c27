//! Paths as the kernel takes them: C strings, and a destination's prefixes for walking it one
//! directory at a time. Shared by the input checks and the plan.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Turns a path into a C string. Only for paths that cannot hold a NUL byte: those the kernel
/// returned, and inputs the builder checked (`inside_components`, the hostname check).
pub(crate) fn cstring(path: impl AsRef<OsStr>) -> CString {
    CString::new(path.as_ref().as_bytes()).expect("paths from the OS contain no NUL byte")
}

/// The prefixes and names of a destination's components, as C strings.
pub(crate) fn prefixes(parts: &[OsString]) -> (Vec<CString>, Vec<CString>) {
    let mut acc = PathBuf::new();
    let mut prefixes = Vec::with_capacity(parts.len());
    let mut names = Vec::with_capacity(parts.len());
    for part in parts {
        acc.push(part);
        prefixes.push(cstring(&acc));
        names.push(cstring(part));
    }
    (prefixes, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_split_into_prefixes() {
        let (prefixes, names) = prefixes(&["etc".into(), "app".into()]);
        assert_eq!(prefixes, vec![cstring("etc"), cstring("etc/app")]);
        assert_eq!(names, vec![cstring("etc"), cstring("app")]);
    }
}
