//! `config.json`'s `mounts`: the filesystems furnace makes itself, binds with their options,
//! tmpfs mounts, and the cgroup view.

use std::path::Path;

use furnace_core::ContainerBuilder;

use crate::config::Mount;

/// The mounts furnace makes itself at their standard places: accepted as they are.
fn is_standard(kind: &str, destination: &Path) -> bool {
    let d = destination.to_str().unwrap_or("");
    matches!(
        (kind, d),
        ("proc", "/proc")
            | ("sysfs", "/sys")
            | ("devpts", "/dev/pts")
            | ("mqueue", "/dev/mqueue")
            | ("tmpfs", "/dev")
            | ("tmpfs", "/dev/shm")
            | ("tmpfs", "/run")
    )
}

pub fn mount(
    m: &Mount,
    i: usize,
    root: &Path,
    builder: &mut ContainerBuilder,
) -> Result<(), String> {
    let field = format!("mounts[{i}]");
    let kind = m.kind.as_deref().unwrap_or("");
    let bind = kind == "bind" || m.options.iter().any(|o| o == "bind" || o == "rbind");
    if !bind {
        if is_standard(kind, &m.destination) {
            return Ok(());
        }
        if kind == "tmpfs" {
            return tmpfs(m, &field, root, builder);
        }
        if kind == "cgroup" && m.destination == Path::new("/sys/fs/cgroup") {
            if !m.options.iter().any(|o| o == "ro") {
                return Err(format!(
                    "config.json: {field}: a writable cgroup mount is not supported by \
                     furnace-oci (add \"ro\")"
                ));
            }
            builder.mount_cgroups(true);
            return Ok(());
        }
        return Err(format!(
            "config.json: {field}: a {kind:?} mount at {} is not supported by furnace-oci yet \
             (furnace makes /proc, /sys, /dev, /dev/pts, /dev/shm and /dev/mqueue itself; \
             binds are supported)",
            m.destination.display()
        ));
    }
    let source = m
        .source
        .as_ref()
        .ok_or_else(|| format!("config.json: {field}.source is missing for a bind"))?;
    let mut bind = furnace_core::BindMount::new(source, &m.destination);
    // A bind of a file (rootless podman's `--device`, a device node bound in) has no mounts
    // under it to propagate: its propagation is moot.
    let of_a_file = std::fs::metadata(source).is_ok_and(|meta| !meta.is_dir());
    for option in &m.options {
        match option.as_str() {
            "bind" | "rbind" | "rw" | "private" | "rprivate" => {}
            "slave" | "rslave" | "shared" | "rshared" | "unbindable" | "runbindable"
                if of_a_file => {}
            "ro" => bind = bind.read_only(),
            "nosuid" => bind = bind.nosuid(),
            "nodev" => bind = bind.nodev(),
            "noexec" => bind = bind.noexec(),
            other => {
                return Err(format!(
                    "config.json: {field}.options: {other:?} is not supported by furnace-oci \
                     yet"
                ))
            }
        }
    }
    builder.mount(bind);
    Ok(())
}

/// A tmpfs of the caller's: `size=`, `mode=` (the kernel's 1777 when absent), and the
/// attributes furnace always gives it (`nosuid`, `nodev`); `tmpcopyup`: the directory's
/// content shows in the tmpfs (a copy-up tmpfs, where there is any).
fn tmpfs(
    m: &Mount,
    field: &str,
    root: &Path,
    builder: &mut ContainerBuilder,
) -> Result<(), String> {
    let mut options = furnace_core::TmpfsOptions::new().mode(0o1777);
    let mut copy_up = false;
    for option in &m.options {
        match option.split_once('=') {
            Some(("size", value)) => {
                options = options.size(parse_size(value).ok_or_else(|| {
                    format!("config.json: {field}.options: size {value:?} is not a size")
                })?);
            }
            Some(("mode", value)) => {
                options = options.mode(u32::from_str_radix(value, 8).map_err(|_| {
                    format!("config.json: {field}.options: mode {value:?} is not octal")
                })?);
            }
            None if matches!(
                option.as_str(),
                "rw" | "private" | "rprivate" | "nosuid" | "nodev" | "strictatime" | "relatime"
            ) => {}
            None if option == "tmpcopyup" => {
                // Where there is something to copy, an overlay over the directory with the
                // tmpfs as its upper layer (`TmpfsOptions::copy_up`).
                let inside = m.destination.strip_prefix("/").unwrap_or(&m.destination);
                let empty = std::fs::read_dir(root.join(inside))
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(true);
                copy_up = !empty;
            }
            _ => {
                return Err(format!(
                    "config.json: {field}.options: {option:?} is not supported by furnace-oci \
                     for a tmpfs yet"
                ))
            }
        }
    }
    builder.tmpfs(&m.destination, options.copy_up(copy_up));
    Ok(())
}

/// `64m`, `1g`, `65536k` or bytes.
fn parse_size(text: &str) -> Option<u64> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let n: u64 = digits.parse().ok()?;
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => return None,
    };
    n.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536k"), Some(64 << 20));
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("5t"), None);
    }

    #[test]
    fn the_standard_filesystems() {
        assert!(is_standard("proc", Path::new("/proc")));
        assert!(is_standard("tmpfs", Path::new("/run")));
        assert!(!is_standard("tmpfs", Path::new("/tmp")));
        assert!(!is_standard("proc", Path::new("/elsewhere")));
    }
}
