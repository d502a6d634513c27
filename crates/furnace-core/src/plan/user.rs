//! The steps for what the caller asked for beyond the standard filesystems: binds and tmpfs
//! mounts at the caller's destinations, the host's `resolv.conf`, the overlay.

use std::ffi::OsString;
use std::path::PathBuf;

use super::standard::TOP_MOUNT_POINTS;
use super::{After, BindOp, Candidates, CopyOp, DestOp, OverlayOp, TmpfsOp};
use crate::builder::{Config, MountKind};
use crate::hostfacts::HostFacts;
use crate::paths::{cstring, prefixes};
use crate::resolv::ResolvPlan;
use crate::roots::ValidOverlay;

/// The destination `parts` as a step walks it; `last_is_dir` says what its last component is
/// made as when missing, `existing` how many of its first components the root has. Parts
/// under `/dev`, `/proc`, `/run` and `/sys` are on the container's own filesystems: nothing
/// made there is a trace.
pub(super) fn dest_op(
    parts: &[OsString],
    shown: PathBuf,
    (last_is_dir, existing): (bool, usize),
    candidates: &mut Candidates,
) -> DestOp {
    let (prefixes, names) = prefixes(parts);
    let own = parts
        .first()
        .is_some_and(|top| TOP_MOUNT_POINTS.iter().any(|t| top == t));
    let made = prefixes
        .iter()
        .enumerate()
        .map(|(index, prefix)| {
            let dir = index + 1 < prefixes.len() || last_is_dir;
            if own {
                None
            } else {
                candidates.add(prefix, dir, index >= existing)
            }
        })
        .collect();
    DestOp {
        prefixes,
        names,
        made,
        shown,
    }
}

/// The caller's binds and tmpfs mounts, in the order they were added.
pub(super) fn mounts(
    config: &Config,
    binds: &mut Vec<BindOp>,
    candidates: &mut Candidates,
) -> Vec<After> {
    config
        .mounts
        .iter()
        .map(|mount| match &mount.kind {
            MountKind::Bind {
                source,
                source_is_dir,
                read_only,
                attrs,
            } => {
                binds.push(BindOp {
                    source: cstring(source),
                    source_is_dir: *source_is_dir,
                    dest: dest_op(
                        &mount.dest.parts,
                        mount.dest.shown.clone(),
                        (*source_is_dir, mount.dest.existing),
                        candidates,
                    ),
                    read_only: *read_only,
                    optional: false,
                    attrs: *attrs,
                });
                After::AttachBind(binds.len() - 1)
            }
            MountKind::Tmpfs(options) => {
                let mut fs_options = Vec::new();
                if let Some(size) = options.size_limit() {
                    fs_options.push((cstring("size"), Some(cstring(size.to_string()))));
                }
                let mode = format!("{:o}", options.permissions());
                fs_options.push((cstring("mode"), Some(cstring(mode))));
                After::Tmpfs(TmpfsOp {
                    dest: dest_op(
                        &mount.dest.parts,
                        mount.dest.shown.clone(),
                        (true, mount.dest.existing),
                        candidates,
                    ),
                    options: fs_options,
                    mode: options.permissions(),
                    copy_up: options.copies_up(),
                })
            }
        })
        .collect()
}

/// The host's `resolv.conf`, as [`crate::resolv`] decided.
pub(super) fn resolv_conf(
    resolv: &ResolvPlan,
    binds: &mut Vec<BindOp>,
    candidates: &mut Candidates,
) -> Vec<After> {
    let shown = |dest: &[OsString]| {
        std::iter::once(std::ffi::OsStr::new("/"))
            .chain(dest.iter().map(OsString::as_os_str))
            .collect::<PathBuf>()
    };
    match resolv {
        ResolvPlan::Nothing => Vec::new(),
        ResolvPlan::Bind {
            source,
            dest,
            existing,
            optional,
        } => {
            binds.push(BindOp {
                source: cstring(source),
                source_is_dir: false,
                dest: dest_op(dest, shown(dest), (false, *existing), candidates),
                read_only: true,
                optional: *optional,
                attrs: furnace_sys::mount::MountAttrFlags::empty(),
            });
            vec![After::AttachBind(binds.len() - 1)]
        }
        ResolvPlan::Copy {
            content,
            dest,
            existing,
        } => vec![After::CopyFile(CopyOp {
            content: content.clone(),
            dest: dest_op(dest, shown(dest), (false, *existing), candidates),
        })],
    }
}

/// The overlay step: layers named relative to PID 1's tmpfs (`lower`, and `upper`, `work` when
/// ephemeral) or by the caller's absolute paths; `userxattr` in a user namespace, where the
/// `trusted.` attributes overlayfs otherwise keeps are out of reach.
pub(super) fn overlay_op(
    overlay: &ValidOverlay,
    facts: &HostFacts,
    rootless: bool,
    own_userns: bool,
) -> OverlayOp {
    // With a user namespace of its own, PID 1 reaches the caller's upper and work directories
    // through the idmapped copy of the directory holding both, attached at `layers`.
    let layers = match (&overlay.upper, &overlay.work) {
        (Some(upper), Some(work)) if own_userns => Some(common_dir(upper, work)),
        _ => None,
    };
    let layer = |key: &str, path: Option<&PathBuf>, inside: &str| {
        let value = match (path, &layers) {
            (Some(path), Some(common)) => cstring(
                std::path::Path::new("layers").join(path.strip_prefix(common).unwrap_or(path)),
            ),
            (Some(path), None) => cstring(path),
            (None, _) => cstring(inside),
        };
        (cstring(key), Some(value))
    };
    let mut options = vec![
        (cstring("lowerdir"), Some(cstring("lower"))),
        layer("upperdir", overlay.upper.as_ref(), "upper"),
        layer("workdir", overlay.work.as_ref(), "work"),
    ];
    if rootless || own_userns {
        options.push((cstring("userxattr"), None));
    }
    OverlayOp {
        options,
        ephemeral: overlay.upper.is_none(),
        root_mode: facts.root_mode,
        root_owner: facts.root_owner,
        shown: overlay.to_string(),
        layers,
    }
}

/// The deepest directory holding both `a` and `b` (absolute, canonical paths).
fn common_dir(a: &std::path::Path, b: &std::path::Path) -> PathBuf {
    a.components()
        .zip(b.components())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect()
}
