//! `/proc/<pid>/mountinfo`: parsing, and asking whether a path is a mount point.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::error::{DisplayPath, Errno, Error, Result};

/// One line of `/proc/<pid>/mountinfo`, with octal escapes (`\040` for a space) decoded.
///
/// See `proc_pid_mountinfo(5)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// Unique id of the mount (may be reused after it is unmounted).
    pub mount_id: u32,
    /// Id of the parent mount (itself for the root of the namespace's tree).
    pub parent_id: u32,
    /// `st_dev` major number of files on this filesystem.
    pub major: u32,
    /// `st_dev` minor number.
    pub minor: u32,
    /// The directory of the filesystem that forms the root of this mount (not `/` for binds).
    pub root: PathBuf,
    /// Where it is mounted, relative to the reading process's root.
    pub mount_point: PathBuf,
    /// Per-mount options (`rw`, `nosuid`, ...).
    pub mount_options: Vec<String>,
    /// Propagation tags: `shared:N`, `master:N`, `propagate_from:N`, `unbindable`.
    pub optional_fields: Vec<String>,
    /// Filesystem type, possibly `type.subtype`.
    pub fs_type: String,
    /// Filesystem-specific source (`/dev/vda1`, `tmpfs`, `none`).
    pub source: OsString,
    /// Per-superblock options.
    pub super_options: Vec<String>,
}

impl MountInfo {
    /// Parses one line. Returns `None` for a line that is not in mountinfo's format.
    ///
    /// No system call.
    ///
    /// ```
    /// use furnace_sys::mountinfo::MountInfo;
    /// let line = r"36 35 98:0 /mnt1 /mnt\0402 rw,noatime master:1 - ext3 /dev/root rw,errors=continue";
    /// let info = MountInfo::parse_line(line).unwrap();
    /// assert_eq!(info.mount_point.to_str(), Some("/mnt 2"));
    /// assert_eq!(info.master(), Some(1));
    /// ```
    pub fn parse_line(line: &str) -> Option<MountInfo> {
        let mut fields = line.split(' ');
        let mount_id = fields.next()?.parse().ok()?;
        let parent_id = fields.next()?.parse().ok()?;
        let (major, minor) = fields.next()?.split_once(':')?;
        let (major, minor) = (major.parse().ok()?, minor.parse().ok()?);
        let root = PathBuf::from(unescape(fields.next()?));
        let mount_point = PathBuf::from(unescape(fields.next()?));
        let mount_options = split_options(fields.next()?);
        let mut optional_fields = Vec::new();
        loop {
            match fields.next()? {
                "-" => break,
                tag => optional_fields.push(tag.to_owned()),
            }
        }
        let fs_type = String::from_utf8_lossy(unescape(fields.next()?).as_bytes()).into_owned();
        let source = unescape(fields.next()?);
        let super_options = fields.next().map(split_options).unwrap_or_default();
        Some(MountInfo {
            mount_id,
            parent_id,
            major,
            minor,
            root,
            mount_point,
            mount_options,
            optional_fields,
            fs_type,
            source,
            super_options,
        })
    }

    /// The peer group this mount shares events with (`shared:N`), if any.
    ///
    /// No system call.
    pub fn shared(&self) -> Option<u32> {
        self.tag("shared:")
    }

    /// The peer group this mount is a slave of (`master:N`), if any.
    ///
    /// No system call.
    pub fn master(&self) -> Option<u32> {
        self.tag("master:")
    }

    /// Whether the mount is read-only.
    ///
    /// No system call.
    pub fn is_read_only(&self) -> bool {
        self.mount_options.iter().any(|o| o == "ro")
    }

    fn tag(&self, prefix: &str) -> Option<u32> {
        self.optional_fields
            .iter()
            .find_map(|f| f.strip_prefix(prefix))
            .and_then(|n| n.parse().ok())
    }
}

fn split_options(field: &str) -> Vec<String> {
    field
        .split(',')
        .filter(|o| !o.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Decodes the kernel's `\ooo` octal escapes (used for space, tab, newline and backslash).
fn unescape(field: &str) -> OsString {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes.get(i + 1..i + 4);
        match digits {
            Some(d) if bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)) => {
                let value = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                out.push(value as u8);
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    OsString::from_vec(out)
}

/// Parses a whole mountinfo text, skipping lines that are not in its format.
///
/// No system call.
pub fn parse(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(MountInfo::parse_line).collect()
}

/// `open("/proc/<pid>/mountinfo")` and `read(2)`: the mount table of a process's mount
/// namespace, parsed (`/proc/self/mountinfo` for `None`).
///
/// See `proc_pid_mountinfo(5)`.
///
/// ```no_run
/// let mounts = furnace_sys::mountinfo::read(None)?;
/// assert!(mounts.iter().any(|m| m.mount_point.as_os_str() == "/"));
/// # Ok::<(), furnace_sys::Error>(())
/// ```
pub fn read(pid: Option<u32>) -> Result<Vec<MountInfo>> {
    let path = match pid {
        Some(pid) => PathBuf::from(format!("/proc/{pid}/mountinfo")),
        None => PathBuf::from("/proc/self/mountinfo"),
    };
    let text = std::fs::read(&path).map_err(|e| {
        let errno = Errno::from_io_error(&e).unwrap_or(Errno::IO);
        Error::new("read", DisplayPath(&path).to_string(), errno).with_path(&path)
    })?;
    // Mount points are arbitrary bytes; the escapes keep every line ASCII-separable, and the
    // paths are decoded byte-wise, so a lossy conversion of the *line* would corrupt them.
    // Safe to treat as str here only if valid; otherwise fall back to a byte-preserving route.
    match std::str::from_utf8(&text) {
        Ok(text) => Ok(parse(text)),
        Err(_) => Ok(text
            .split(|b| *b == b'\n')
            .filter_map(|line| MountInfo::parse_line(&escape_non_utf8(line)))
            .collect()),
    }
}

/// Re-escapes bytes ≥ 0x80 as octal so that a line with non-UTF-8 bytes parses to the same
/// bytes after [`unescape`].
fn escape_non_utf8(line: &[u8]) -> String {
    let mut out = String::with_capacity(line.len());
    for &b in line {
        if b.is_ascii() {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\{b:03o}"));
        }
    }
    out
}

/// `statx(AT_FDCWD, path, 0, STATX_BASIC_STATS)`: whether `path` is the root of a mount —
/// including a bind mount of a directory of the same filesystem, which comparing `st_dev`
/// with the parent's would miss.
///
/// Reads `STATX_ATTR_MOUNT_ROOT` (Linux ≥ 5.8). Symlinks are followed. See `statx(2)`.
///
/// ```
/// assert!(furnace_sys::mountinfo::is_mount_point("/proc")?);
/// assert!(!furnace_sys::mountinfo::is_mount_point("/proc/self")?);
/// # Ok::<(), furnace_sys::Error>(())
/// ```
pub fn is_mount_point(path: impl AsRef<Path>) -> Result<bool> {
    use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};
    let path = path.as_ref();
    let st = statx(CWD, path, AtFlags::empty(), StatxFlags::BASIC_STATS)
        .map_err(|e| Error::new("statx", DisplayPath(path).to_string(), e).with_path(path))?;
    let mask = st.stx_attributes_mask;
    if mask.contains(StatxAttributes::MOUNT_ROOT) {
        return Ok(st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT));
    }
    // Older kernels: look the canonical path up in our own mount table.
    let canonical = std::fs::canonicalize(path).map_err(|e| {
        Error::new(
            "realpath",
            DisplayPath(path).to_string(),
            Errno::from_io_error(&e).unwrap_or(Errno::IO),
        )
    })?;
    Ok(read(None)?
        .iter()
        .any(|m| m.mount_point.as_os_str().as_bytes() == canonical.as_os_str().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines taken from a real machine: the root, a bind mount of a sub-directory (root not
    // `/`), a mount point with a space and a tab, a slave mount, an overlay with long options.
    const SAMPLE: &str = "\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
61 22 254:1 /srv/data /mnt/data\\040dir ro,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
62 22 0:45 / /tmp/with\\011tab\\134back rw master:7 - tmpfs none rw,size=1024k
88 22 0:52 / /tmp/ovl/merged rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
";

    #[test]
    fn parses_every_field() {
        let mounts = parse(SAMPLE);
        assert_eq!(mounts.len(), 5);
        let root = &mounts[0];
        assert_eq!(
            (root.mount_id, root.parent_id, root.major, root.minor),
            (22, 1, 254, 1)
        );
        assert_eq!(root.mount_point, Path::new("/"));
        assert_eq!(root.shared(), Some(1));
        assert_eq!(root.master(), None);
        assert_eq!(root.fs_type, "ext4");
        assert_eq!(root.source, "/dev/vda1");
        assert_eq!(root.super_options, vec!["rw", "errors=remount-ro"]);
        assert!(!root.is_read_only());
    }

    #[test]
    fn bind_mount_has_sub_directory_root_and_decoded_space() {
        let bind = &parse(SAMPLE)[2];
        assert_eq!(bind.root, Path::new("/srv/data"));
        assert_eq!(bind.mount_point, Path::new("/mnt/data dir"));
        assert!(bind.is_read_only());
    }

    #[test]
    fn tab_and_backslash_escapes_and_master_tag() {
        let m = &parse(SAMPLE)[3];
        assert_eq!(m.mount_point, Path::new("/tmp/with\ttab\\back"));
        assert_eq!(m.master(), Some(7));
        assert_eq!(m.shared(), None);
        assert_eq!(m.mount_options, vec!["rw"]);
    }

    #[test]
    fn no_optional_fields_and_overlay_options() {
        let m = &parse(SAMPLE)[4];
        assert!(m.optional_fields.is_empty());
        assert_eq!(m.fs_type, "overlay");
        assert!(m.super_options.iter().any(|o| o == "upperdir=/u"));
    }

    #[test]
    fn malformed_lines_are_skipped() {
        assert!(MountInfo::parse_line("").is_none());
        assert!(MountInfo::parse_line("x 1 0:1 / / rw - tmpfs t rw").is_none());
        assert!(MountInfo::parse_line("1 1 0:1 / / rw no-separator").is_none());
    }

    #[test]
    fn non_utf8_bytes_survive() {
        let line = escape_non_utf8(b"5 1 0:9 / /tmp/\xff rw - tmpfs none rw");
        let m = MountInfo::parse_line(&line).unwrap();
        assert_eq!(m.mount_point.as_os_str().as_bytes(), b"/tmp/\xff");
    }

    #[test]
    fn own_mount_table_has_root_and_proc() {
        let mounts = read(None).unwrap();
        assert!(mounts
            .iter()
            .any(|m| m.mount_point == Path::new("/proc") && m.fs_type == "proc"));
        assert!(is_mount_point("/").unwrap());
        assert!(!is_mount_point("/proc/self/fd").unwrap());
    }
}
