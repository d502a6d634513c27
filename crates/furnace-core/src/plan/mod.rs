//! The set-up plan: every step PID 1 will carry out, computed as data in the parent.
//!
//! Building the plan allocates, resolves and validates; executing it (in [`crate::init`])
//! only makes system calls. So inputs are checked before any namespace exists, tests can look
//! at the plan without root, and a failure can name its step: "step 9, mount devpts on
//! /dev/pts".
//!
//! The plan has two typed phases. [`Before`] steps run in the copy of the caller's mount tree
//! (make it slave, bring `lo` up, bind the root onto itself, clone the bind sources into
//! detached mounts, mount the overlay over the root); then PID 1 opens the root and pivots
//! into it; [`After`] steps run inside the new root (the standard filesystems, the caller's
//! binds and tmpfs mounts, the root made read-only, the hardened profile's masks, the
//! hostname). The caller's mounts are attached *after* the standard filesystems, as OCI
//! runtimes and bubblewrap do, so a bind under `/run`, `/dev` or `/sys` is not hidden by the
//! filesystem mounted there.
//!
//! Whatever PID 1 may create in the root directory itself — a missing mount point, a missing
//! part of a destination — is a numbered candidate of [`Plan::made`]; PID 1 reports each one
//! it really made, and [`crate::traces`] removes them when the container ends. With an
//! overlay nothing is made in the root (it is made in the upper layer), and there are none.
//!
//! Submodules: `standard` (the standard filesystems, `/dev`'s nodes, the rootless binds, the
//! hardened steps), `user` (the caller's mounts, `resolv.conf`, the overlay), `show` (step
//! descriptions).

use std::ffi::CString;
use std::path::PathBuf;

use furnace_sys::dev::DeviceKind;
use furnace_sys::mount::MountFlags;
use furnace_sys::Namespaces;

use crate::builder::Config;
use crate::hostfacts::HostFacts;
use crate::paths::cstring;
use crate::roots::Warning;

mod show;
mod standard;
#[cfg(test)]
mod tests;
mod user;

pub(crate) use show::ShowStep;
pub(crate) use standard::{standard_mounts, Layout, STANDARD_DEV_NAMES, TOP_MOUNT_POINTS};

/// Where a mount lands inside the root: the destination's components, each prefix as a
/// relative path, walked (and created when missing) one directory at a time.
#[derive(Debug, Clone)]
pub(crate) struct DestOp {
    /// Each prefix, relative to the root: `["etc", "etc/app", "etc/app/conf"]`. Never empty.
    pub prefixes: Vec<CString>,
    /// The last component of each prefix alone, for `mkdirat`/`openat` in its parent.
    pub names: Vec<CString>,
    /// For each prefix, its number among [`Plan::made`] when making it would leave something
    /// in the root directory (`None` on the container's own filesystems, or with an overlay).
    pub made: Vec<Option<u32>>,
    /// The destination as the caller wrote it, for messages.
    pub shown: PathBuf,
}

/// A bind mount, as PID 1 carries it out: the source is cloned into a detached mount before
/// the pivot ([`Before::CloneBind`]) and attached inside the new root after the standard
/// filesystems ([`After::AttachBind`]).
#[derive(Debug, Clone)]
pub(crate) struct BindOp {
    /// Host path, absolute and canonical.
    pub source: CString,
    /// Whether the source is a directory (else a file-like object: file, device, socket).
    /// A file's destination that is a symlink is covered by the bind, not followed.
    pub source_is_dir: bool,
    pub dest: DestOp,
    /// Make the bind read-only (recursively).
    pub read_only: bool,
    /// Skip when the destination cannot be resolved or created, reporting it as a warning
    /// (the host's `resolv.conf` in [`ResolvConf::Auto`](crate::ResolvConf::Auto)).
    pub optional: bool,
    /// Mount attributes set on the bind and everything below it (`nodev`, `nosuid`,
    /// `noexec`): the caller's, and `nodev` on every caller's bind in the hardened profile,
    /// whose only usable devices are furnace's own `/dev` nodes.
    pub attrs: furnace_sys::mount::MountAttrFlags,
}

/// A fresh tmpfs at a destination of the caller's.
#[derive(Debug, Clone)]
pub(crate) struct TmpfsOp {
    pub dest: DestOp,
    /// `size` and `mode`, for `fsconfig(2)`.
    pub options: Vec<(CString, Option<CString>)>,
    /// The mode, for the upper layer of a copy-up.
    pub mode: u32,
    /// Start with the destination's content: an overlay over it with the tmpfs as upper layer.
    pub copy_up: bool,
}

/// A copy of a host file's content, bound at a destination: written into a file of the
/// container's own `/run` (which is then unlinked), bound from there.
#[derive(Debug, Clone)]
pub(crate) struct CopyOp {
    pub content: Vec<u8>,
    pub dest: DestOp,
}

/// A filesystem to mount inside the new root, made with `fsopen`/`fsmount` and attached to
/// its verified mount point.
#[derive(Debug, Clone)]
pub(crate) struct MountOp {
    pub fstype: CString,
    pub target: CString,
    /// Mount attributes (`nosuid`, `nodev`, `noexec`, `rdonly`, `strictatime`).
    pub flags: MountFlags,
    /// Filesystem options, split into keys and values for `fsconfig(2)`: `mode=755` is
    /// `("mode", Some("755"))`, `newinstance` is `("newinstance", None)`.
    pub options: Vec<(CString, Option<CString>)>,
    /// Mode of the mount point when it must be created.
    pub dir_mode: u32,
    /// The mount point's number among [`Plan::made`] (a directory of the root itself).
    pub made: Option<u32>,
}

/// The overlay mounted over the root before the pivot ([`Before::Overlay`]).
///
/// PID 1 clones the root into a detached mount, mounts a small tmpfs of its own over the
/// root directory, attaches the clone at `lower` in it, makes `upper` and `work` there too
/// when ephemeral, and — from inside that tmpfs, so that the root's path never has to be
/// spelled in the options — mounts the overlay on top. The root's path then leads to the
/// overlay, for every later step.
#[derive(Debug, Clone)]
pub(crate) struct OverlayOp {
    /// `lowerdir=lower`, `upperdir=…`, `workdir=…` (relative to the tmpfs, or the caller's
    /// absolute paths), and `userxattr` in a user namespace.
    pub options: Vec<(CString, Option<CString>)>,
    /// Whether `upper` and `work` are to be made in the tmpfs.
    pub ephemeral: bool,
    /// The root directory's mode, owner and group, given to an ephemeral `upper` (the
    /// container's `/` shows them).
    pub root_mode: u32,
    pub root_owner: (u32, u32),
    /// `ephemeral`, or the upper and work directories, for messages.
    pub shown: String,
    /// With a user namespace of the container's own ([`Plan::own_userns`]) and upper and work
    /// directories of the caller's: the host directory holding both, which the parent
    /// idmaps and PID 1 attaches at `layers` in its tmpfs (the options name `layers/…`).
    pub layers: Option<PathBuf>,
}

/// Something PID 1 may create in the root directory itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MadeOp {
    /// Relative to the root.
    pub path: CString,
    /// A directory (else an empty regular file).
    pub dir: bool,
    /// It did not exist when the inputs were checked: PID 1 is expected to make it.
    pub expected: bool,
}

/// A step that runs in the copy of the caller's mount tree, before the pivot.
#[derive(Debug, Clone)]
pub(crate) enum Before {
    /// `mount(NULL, "/", NULL, MS_REC | MS_SLAVE)`: see the host's new mounts, send none back.
    MakeRootSlave,
    /// Bring `lo` up in a new network namespace.
    LoopbackUp,
    /// Bind the root onto itself (`pivot_root` needs a mount point).
    SelfBindRoot,
    /// With a user namespace of the container's own: attach the idmapped copy of the root
    /// the parent made onto the root directory (every later step reaches the root through
    /// it).
    AttachRoot,
    /// Clone bind number N's source (with its submounts) into a detached mount, read-only if
    /// asked. It is attached after the pivot.
    CloneBind(usize),
    /// Mount an overlay over the root (after the bind sources are cloned, so that a source
    /// inside the root is the root's own).
    Overlay(OverlayOp),
    /// Make the root and every mount below it `nodev` (the hardened profile), before the
    /// container's own `/dev` is mounted.
    NodevRoot,
    /// Mount a fresh filesystem in the root before the pivot (`proc`, `sysfs`): the kernel
    /// refuses these in a user namespace once the old root, where the host's are visible, is
    /// detached. The target is resolved beneath the root.
    Mount(MountOp),
}

/// A step that runs inside the new root, after the pivot.
#[derive(Debug, Clone)]
pub(crate) enum After {
    /// Mount a fresh filesystem at a path of the container.
    Mount(MountOp),
    /// Create a directory, unless it exists.
    Mkdir { path: CString, mode: u32 },
    /// Create a device node with an exact mode.
    Mknod {
        path: CString,
        kind: DeviceKind,
        major: u32,
        minor: u32,
        mode: u32,
    },
    /// Create a symlink.
    Symlink { target: CString, path: CString },
    /// Give a path (not followed) to an owner and group.
    Chown { path: CString, uid: u32, gid: u32 },
    /// Attach bind number N (cloned before the pivot) at its destination, resolved inside the
    /// root and created when missing.
    AttachBind(usize),
    /// Attach bind number N (cloned before the pivot) at a standard mount point, opened as
    /// [`After::Mount`] opens its own (a real directory, created when missing): the host's
    /// `/sys` of a rootless container without a network namespace of its own.
    AttachAtMountPoint {
        bind: usize,
        target: CString,
        dir_mode: u32,
        made: Option<u32>,
    },
    /// Mount a fresh tmpfs at a destination of the caller's.
    Tmpfs(TmpfsOp),
    /// Bind a copy of a host file's content at a destination.
    CopyFile(CopyOp),
    /// Make the root's own mount read-only (not the mounts on it).
    ReadOnlyRoot,
    /// Hide a path: a directory under an empty read-only tmpfs, anything else under the
    /// container's own `/dev/null`, checked to be the 1:3 device first. A missing path is
    /// skipped.
    Mask(CString),
    /// Make a path and everything mounted below it read-only. A missing path is skipped.
    ReadOnly(CString),
    /// Set the hostname of the new UTS namespace.
    Hostname(CString),
    /// Write a value to a file under `/proc/sys` (a namespaced sysctl).
    Sysctl(CString, CString),
    /// Drop every capability of PID 1 and set `no_new_privs`: it has nothing left to do but
    /// wait.
    DropPrivileges,
}

/// The whole plan, in order: `before`, then opening the root, the pivot, then `after`.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The namespaces PID 1 is created in.
    pub namespaces: Namespaces,
    /// The root, absolute and canonical.
    pub root: CString,
    pub before: Vec<Before>,
    pub after: Vec<After>,
    /// The binds, referred to by index from [`Before::CloneBind`] and [`After::AttachBind`].
    pub binds: Vec<BindOp>,
    /// What PID 1 may create in the root directory itself, referred to by number from the
    /// steps; PID 1 reports each one it made ([`crate::init`]'s `MADE` records).
    pub made: Vec<MadeOp>,
    /// The root, `O_PATH`, opened once before the fork for the checks of the host and for
    /// removing what PID 1 made (`None` in tests that build a plan from made-up facts).
    pub root_fd: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
    /// What the start tells the caller without failing (known before the fork).
    pub warnings: Vec<Warning>,
    /// Where the parent's argument and environment strings are, so PID 1 can blank them.
    pub process_strings: Option<furnace_sys::process::ProcessStrings>,
    /// A test-only failpoint (see [`crate::failpoint`]).
    pub failpoint: Option<crate::failpoint::Failpoint>,
    /// Rootless, and the root belongs to a user outside the user namespace: a step that
    /// fails to create something in it is reported as [`Error::RootNotWritable`].
    ///
    /// [`Error::RootNotWritable`]: crate::Error::RootNotWritable
    pub root_not_writable: bool,
    /// In a user namespace: PID 1 sends fds of its namespaces for commands to join through.
    pub send_namespaces: bool,
    /// The hardened profile started as root with a user namespace of its own
    /// ([`ContainerBuilder::private_users`](crate::ContainerBuilder::private_users)): PID 1 is
    /// created in it, the parent writes its maps and idmaps the root, the overlay's layers
    /// and the first [`Plan::user_binds`] binds.
    pub own_userns: bool,
    /// How many of [`Plan::binds`] are the caller's (and `resolv.conf`): those the parent
    /// idmaps with a user namespace of the container's own; the host's devices and `/sys`
    /// after them are cloned by PID 1.
    pub user_binds: usize,
    /// The host's loop devices when the container started, if it gets them.
    pub loop_snapshot: Option<crate::loops::Snapshot>,
}

/// One step of the plan, numbered from 1 in the order PID 1 runs them; the numbers are those
/// of [`Error::Setup`](crate::Error::Setup) and of the `step-N` failpoints.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step<'p> {
    Before(&'p Before),
    OpenRoot,
    PivotRoot,
    After(&'p After),
}

/// Hands out the numbers of [`Plan::made`] while the plan is built.
pub(crate) struct Candidates {
    /// Whether anything made would be in the root directory (no overlay).
    pub in_root: bool,
    pub made: Vec<MadeOp>,
}

impl Candidates {
    /// The number of `path` (relative to the root), when making it would leave a trace;
    /// `expected`: it is missing now.
    pub(crate) fn add(&mut self, path: &CString, dir: bool, expected: bool) -> Option<u32> {
        if !self.in_root {
            return None;
        }
        let number = u32::try_from(self.made.len()).ok()?;
        self.made.push(MadeOp {
            path: path.clone(),
            dir,
            expected,
        });
        Some(number)
    }
}

impl Plan {
    /// The plan for a validated configuration on this host.
    pub(crate) fn new(config: &Config, facts: &HostFacts) -> Plan {
        let mut namespaces = Namespaces::MNT
            | Namespaces::PID
            | Namespaces::UTS
            | Namespaces::IPC
            | Namespaces::CGROUP;
        let own_userns =
            config.private_users != crate::PrivateUsers::Off && facts.rootless.is_none();
        if own_userns {
            namespaces |= Namespaces::USER;
        }
        let mut before = vec![Before::MakeRootSlave];
        if config.view.joins(furnace_sys::Namespace::Net) {
            // Joined by PID 1 before anything else (not made by `clone3`); commands join it
            // with the others.
            namespaces |= Namespaces::NET;
        } else if config.isolate_network {
            namespaces |= Namespaces::NET;
            before.push(Before::LoopbackUp);
        }
        // `pivot_root` needs the root to be a mount point, and not a locked one: in a user
        // namespace every mount copied from the caller's tree is locked, so there the root
        // is always bound onto itself (the bind is the container's own). An overlay is the
        // container's own mount point already.
        let self_bind = !facts.root_is_mount_point || facts.rootless.is_some();
        if own_userns && config.overlay.is_none() {
            before.push(Before::AttachRoot);
        } else if self_bind && config.overlay.is_none() {
            before.push(Before::SelfBindRoot);
        }
        let mut candidates = Candidates {
            in_root: config.overlay.is_none(),
            made: Vec::new(),
        };
        let rootless = facts.rootless.as_ref();
        let tops = standard::Tops::new(&mut candidates, &facts.missing_tops);
        let mut binds = Vec::new();
        // The host's resolv.conf comes first among the mounts of the caller's, so that the
        // caller's own binds (of `/etc/resolv.conf`, or of a whole `/etc`) are attached over
        // it, not under it.
        let mut user_ops = user::resolv_conf(&facts.resolv, &mut binds, &mut candidates);
        user_ops.extend(user::mounts(config, &mut binds, &mut candidates));
        // Rootless: the host's device nodes are bound in (mknod is refused), and without a
        // network namespace of its own the host's /sys is bound read-only (a fresh sysfs is
        // refused).
        if config.hardened || config.view.nodev {
            // The caller's binds (and the host's resolv.conf): device nodes there stay files.
            binds
                .iter_mut()
                .for_each(|b| b.attrs |= furnace_sys::mount::MountAttrFlags::MOUNT_ATTR_NODEV);
        }
        let user_binds = binds.len();
        // As without root: mknod is refused in a user namespace.
        let in_userns = rootless.is_some() || own_userns;
        let devices = in_userns.then(|| {
            let first = binds.len();
            binds.extend(
                standard::DEVICES
                    .iter()
                    .map(|&(name, _, _)| standard::device_bind(name)),
            );
            first
        });
        let sys_bind = (in_userns && !config.isolate_network).then(|| {
            binds.push(standard::sys_bind());
            binds.len() - 1
        });
        before.extend((0..binds.len()).map(Before::CloneBind));
        if let Some(overlay) = &config.overlay {
            before.push(Before::Overlay(user::overlay_op(
                overlay,
                facts,
                rootless.is_some(),
                own_userns,
            )));
        }
        if config.hardened || config.view.nodev {
            before.push(Before::NodevRoot);
        }
        let layout = Layout {
            loop_devices: &facts.loop_devices,
            devices,
            sys_bind,
            tty_gid: rootless.map_or(true, |r| r.tty_gid_mapped),
            tops,
        };
        before.extend(standard::before_pivot(&layout));
        let mut after = standard_mounts(&layout);
        after.extend(crate::visibility::device_node_ops(
            &config.view.device_nodes,
        ));
        if config.view.cgroups {
            after.extend(crate::visibility::cgroup_ops(&facts.cgroup_view));
        }
        after.extend(user_ops);
        if config.read_only_root {
            after.push(After::ReadOnlyRoot);
        }
        after.extend(
            config
                .view
                .sysctls
                .iter()
                .map(|(k, v)| After::Sysctl(k.clone(), v.clone())),
        );
        if config.hardened {
            after.extend(standard::hardening(&facts.throttle_dirs));
        }
        after.extend(config.view.masked.iter().cloned().map(After::Mask));
        after.extend(config.view.read_only.iter().cloned().map(After::ReadOnly));
        // A UTS namespace joined by path keeps its name.
        if !config.view.joins(furnace_sys::Namespace::Uts) {
            after.push(After::Hostname(cstring(&config.hostname)));
        }
        if config.hardened {
            after.push(After::DropPrivileges);
        }
        Plan {
            namespaces,
            root: cstring(&config.root),
            before,
            after,
            binds,
            made: candidates.made,
            root_fd: facts.root_fd.clone(),
            loop_snapshot: facts.loop_snapshot.clone(),
            warnings: facts.warnings.clone(),
            process_strings: facts.process_strings,
            failpoint: crate::failpoint::Failpoint::from_env(),
            root_not_writable: rootless.is_some_and(|r| !r.root_writable),
            send_namespaces: rootless.is_some(),
            own_userns,
            user_binds,
        }
    }

    /// Every step, in order.
    pub(crate) fn steps(&self) -> impl Iterator<Item = Step<'_>> {
        self.before
            .iter()
            .map(Step::Before)
            .chain([Step::OpenRoot, Step::PivotRoot])
            .chain(self.after.iter().map(Step::After))
    }

    /// What step `number` does, for messages (0 is PID 1's own preparation).
    pub(crate) fn describe(&self, number: usize) -> String {
        match number {
            0 => "prepare the init process".to_owned(),
            n => self
                .steps()
                .nth(n - 1)
                .map_or_else(|| "unknown step".to_owned(), |s| self.show(s).to_string()),
        }
    }

    /// Whether step `number` may create something in the root (a mount point, a bind's
    /// destination), so that an unwritable root can be what made it fail.
    pub(crate) fn creates_in_root(&self, number: usize) -> bool {
        let step = number.checked_sub(1).and_then(|n| self.steps().nth(n));
        matches!(
            step,
            Some(
                Step::Before(Before::Mount(_))
                    | Step::After(
                        After::Mount(_)
                            | After::AttachBind(_)
                            | After::AttachAtMountPoint { .. }
                            | After::Tmpfs(_)
                            | After::CopyFile(_)
                    )
            )
        )
    }

    /// A step with the plan's context (bind paths, the root), for `Display`.
    pub(crate) fn show<'p>(&'p self, step: Step<'p>) -> ShowStep<'p> {
        ShowStep { plan: self, step }
    }
}
