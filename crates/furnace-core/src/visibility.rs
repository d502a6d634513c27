//! What of the kernel a container sees, beyond the profiles: paths masked or made read-only,
//! namespaced sysctls set inside, device nodes of the root and binds turned off (`nodev`), the
//! caller's device nodes, and network, IPC and UTS namespaces joined instead of made — what an
//! OCI runtime's `config.json` asks for (`maskedPaths`, `readonlyPaths`, `sysctl`,
//! `linux.devices`, namespaces with a `path`).

use std::ffi::CString;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, PathProblem, Result};
use crate::paths::cstring;
use crate::ContainerBuilder;

/// The caller's choices, as given to the builder.
#[derive(Debug, Clone, Default)]
pub(crate) struct View {
    masked: Vec<PathBuf>,
    read_only: Vec<PathBuf>,
    sysctls: Vec<(String, String)>,
    nodev: bool,
    /// Namespaces joined by path (network, IPC, UTS), one of each kind at most.
    joins: Vec<(furnace_sys::Namespace, PathBuf)>,
    cgroups: bool,
    pub(crate) device_nodes: Vec<crate::devices::DeviceNode>,
}

/// The same, checked and ready for the plan.
#[derive(Debug, Clone, Default)]
pub(crate) struct ValidView {
    pub masked: Vec<CString>,
    pub read_only: Vec<CString>,
    /// `/proc/sys/...` and the value.
    pub sysctls: Vec<(CString, CString)>,
    pub nodev: bool,
    /// The namespace files PID 1 joins instead of making those namespaces.
    pub joins: Vec<(furnace_sys::Namespace, PathBuf)>,
    /// Mount the container's view of the cgroup hierarchies at `/sys/fs/cgroup`.
    pub cgroups: bool,
    /// Device nodes to make in `/dev`, with the directories on their way.
    pub device_nodes: Vec<ValidNode>,
}

/// A checked [`DeviceNode`](crate::DeviceNode).
#[derive(Debug, Clone)]
pub(crate) struct ValidNode {
    pub path: CString,
    /// The directories between `/dev` and the node, outermost first.
    pub parents: Vec<CString>,
    pub kind: furnace_sys::dev::DeviceKind,
    pub major: u32,
    pub minor: u32,
    pub mode: u32,
    pub owner: (u32, u32),
}

/// One hierarchy: its directory name, `cgroup` or `cgroup2`, and its options for `fsconfig`
/// (`memory`, `name=systemd`).
pub(crate) type Hierarchy = (String, &'static str, Vec<(String, Option<String>)>);

/// The host's cgroup hierarchies mounted directly under `/sys/fs/cgroup`, and the symlinks
/// beside them (`cpu -> cpu,cpuacct`): what the container's view repeats.
#[derive(Debug, Clone, Default)]
pub(crate) struct CgroupView {
    pub hierarchies: Vec<Hierarchy>,
    /// (name, target).
    pub links: Vec<(String, PathBuf)>,
}

impl CgroupView {
    /// Reads the mount table and `/sys/fs/cgroup`.
    pub(crate) fn of_host() -> CgroupView {
        let base = Path::new("/sys/fs/cgroup");
        let mut view = CgroupView::default();
        for m in furnace_sys::mountinfo::read(None).unwrap_or_default() {
            let fstype: &'static str = match m.fs_type.as_str() {
                "cgroup" => "cgroup",
                "cgroup2" => "cgroup2",
                _ => continue,
            };
            if m.mount_point.parent() != Some(base) {
                continue;
            }
            let Some(name) = m.mount_point.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let options = (m.super_options.iter())
                .filter(|o| !matches!(o.as_str(), "rw" | "ro"))
                .filter(|_| fstype == "cgroup")
                .map(|o| match o.split_once('=') {
                    Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                    None => (o.clone(), None),
                })
                .collect();
            if !view.hierarchies.iter().any(|(n, _, _)| n == name) {
                view.hierarchies.push((name.to_owned(), fstype, options));
            }
        }
        if let Ok(entries) = std::fs::read_dir(base) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_symlink()) {
                    if let (Some(name), Ok(target)) =
                        (entry.file_name().to_str(), std::fs::read_link(entry.path()))
                    {
                        view.links.push((name.to_owned(), target));
                    }
                }
            }
        }
        view
    }
}

impl ContainerBuilder {
    /// Masks `path` inside (absolute): a file is covered by the container's own `/dev/null`,
    /// a directory by an empty read-only tmpfs, after the binds, so that none uncovers it; a
    /// path that does not exist is skipped. The hardened profile masks Docker's list by itself.
    ///
    /// ```no_run
    /// use furnace_core::Container;
    /// let c = Container::builder("/srv/rootfs")
    ///     .mask_path("/proc/kcore")
    ///     .read_only_path("/proc/sys")
    ///     .sysctl("net.ipv4.ping_group_range", "0 0")
    ///     .isolate_network(true)
    ///     .start()?;
    /// # Ok::<(), furnace_core::Error>(())
    /// ```
    pub fn mask_path(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.view.masked.push(path.into());
        self
    }

    /// Makes `path` inside (absolute) and everything mounted below it read-only, after the
    /// binds; a path that does not exist is skipped.
    pub fn read_only_path(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.view.read_only.push(path.into());
        self
    }

    /// Sets the sysctl `key` (dotted, `net.ipv4.ip_forward`, or as a path under `/proc/sys`)
    /// to `value` inside the container, once its `/proc` is mounted. Only sysctls of the
    /// container's own namespaces are accepted — the IPC ones (`kernel.msg*`, `kernel.sem`,
    /// `kernel.shm*`, `fs.mqueue.*`) and, with a network namespace of its own or joined,
    /// `net.*` — since any other would change the host.
    pub fn sysctl(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.view.sysctls.push((key.into(), value.into()));
        self
    }

    /// Makes the root (and every mount below it) and every bind `nodev`, and leaves the host's
    /// loop devices out of `/dev`: device nodes found in the root or a bind are not devices,
    /// only furnace's own `/dev` nodes (`null`, `zero`, `full`, `random`, `urandom`, `tty`,
    /// the devpts) work — what a deny-all device cgroup gives a container whose `/dev` holds
    /// the default nodes. The hardened profile does it by itself.
    pub fn nodev(&mut self, nodev: bool) -> &mut Self {
        self.view.nodev = nodev;
        self
    }

    /// Mounts the container's own view of the cgroup hierarchies, read-only, at
    /// `/sys/fs/cgroup`: a tmpfs holding one cgroup filesystem per hierarchy the host has
    /// there (v1 controllers, named hierarchies, the v2 `unified`), mounted from inside the
    /// container's cgroup namespace so that each shows the container's cgroup as its root —
    /// what an engine's `cgroup` mount asks for. Needs root (a user namespace may not mount v1
    /// hierarchies).
    pub fn mount_cgroups(&mut self, mount: bool) -> &mut Self {
        self.view.cgroups = mount;
        self
    }

    /// Joins the network namespace at `path` (`/run/netns/NAME`, `/proc/PID/ns/net`) instead
    /// of sharing the host's or making one: PID 1 enters it first thing, and commands join it
    /// with the container's other namespaces. Overrides
    /// [`isolate_network`](ContainerBuilder::isolate_network).
    pub fn join_network_namespace(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.join(furnace_sys::Namespace::Net, path.into())
    }

    /// Joins the IPC namespace at `path` (another container's `/proc/PID/ns/ipc`, as the
    /// containers of a pod share one) instead of making one: PID 1 enters it first thing, and
    /// commands join it with the container's other namespaces.
    pub fn join_ipc_namespace(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.join(furnace_sys::Namespace::Ipc, path.into())
    }

    /// Joins the UTS namespace at `path` instead of making one, as
    /// [`join_ipc_namespace`](ContainerBuilder::join_ipc_namespace) does for IPC. The
    /// hostname is the namespace's: the container's own
    /// ([`hostname`](ContainerBuilder::hostname)) is not set in it.
    pub fn join_uts_namespace(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.join(furnace_sys::Namespace::Uts, path.into())
    }

    fn join(&mut self, kind: furnace_sys::Namespace, path: PathBuf) -> &mut Self {
        self.view.joins.retain(|(k, _)| *k != kind);
        self.view.joins.push((kind, path));
        self
    }
}

impl ValidView {
    /// Whether the namespace of `kind` is joined by path.
    pub(crate) fn joins(&self, kind: furnace_sys::Namespace) -> bool {
        self.joins.iter().any(|(k, _)| *k == kind)
    }
}

impl View {
    /// Checks every path and sysctl; `own_network`: the container will have a network
    /// namespace other than the host's.
    pub(crate) fn validate(&self, own_network: bool) -> Result<ValidView> {
        let inside = |what: &'static str, path: &Path| -> Result<CString> {
            let bad = |problem| Error::InvalidPath {
                what,
                path: path.to_path_buf(),
                problem,
            };
            if !path.is_absolute() {
                return Err(bad(PathProblem::NotAbsolute));
            }
            if path.components().any(|c| c == Component::ParentDir) {
                return Err(bad(PathProblem::DotDot));
            }
            if path == Path::new("/") {
                return Err(bad(PathProblem::IsRoot));
            }
            CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| bad(PathProblem::NulByte))
        };
        let masked = (self.masked.iter())
            .map(|p| inside("masked path", p))
            .collect::<Result<Vec<_>>>()?;
        let read_only = (self.read_only.iter())
            .map(|p| inside("read-only path", p))
            .collect::<Result<Vec<_>>>()?;
        let mut joins = Vec::with_capacity(self.joins.len());
        for (kind, path) in &self.joins {
            let what = match kind {
                furnace_sys::Namespace::Net => "network namespace",
                furnace_sys::Namespace::Ipc => "IPC namespace",
                _ => "UTS namespace",
            };
            let meta = std::fs::metadata(path).map_err(|_| Error::InvalidPath {
                what,
                path: path.clone(),
                problem: PathProblem::Missing,
            })?;
            if meta.is_dir() {
                return Err(Error::InvalidPath {
                    what,
                    path: path.clone(),
                    problem: PathProblem::KindMismatch("is a directory, not a namespace file"),
                });
            }
            joins.push((*kind, path.clone()));
        }
        let own_network =
            own_network || joins.iter().any(|(k, _)| *k == furnace_sys::Namespace::Net);
        let sysctls = (self.sysctls.iter())
            .map(|(k, v)| sysctl(k, v, own_network))
            .collect::<Result<Vec<_>>>()?;
        let device_nodes = (self.device_nodes.iter())
            .map(|n| device_node(n, &inside))
            .collect::<Result<Vec<_>>>()?;
        Ok(ValidView {
            masked,
            read_only,
            sysctls,
            nodev: self.nodev,
            joins,
            cgroups: self.cgroups,
            device_nodes,
        })
    }
}

/// Checks a device node: a path under `/dev` that is none of furnace's own names there, a
/// character or block device.
fn device_node(
    node: &crate::devices::DeviceNode,
    inside: &dyn Fn(&'static str, &Path) -> Result<CString>,
) -> Result<ValidNode> {
    const WHAT: &str = "device node";
    let path = inside(WHAT, &node.path)?;
    let bad = |reason: &'static str| Error::InvalidPath {
        what: WHAT,
        path: node.path.clone(),
        problem: PathProblem::KindMismatch(reason),
    };
    let Ok(rest) = node.path.strip_prefix("/dev") else {
        return Err(bad("is not under /dev"));
    };
    let names: Vec<&std::ffi::OsStr> = (rest.components())
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect();
    let Some(first) = names.first().and_then(|n| n.to_str()) else {
        return Err(bad("names /dev itself"));
    };
    let furnaces = crate::plan::STANDARD_DEV_NAMES.contains(&first);
    if furnaces {
        return Err(bad(
            "is a name of furnace's own /dev (its nodes, links and filesystems)",
        ));
    }
    let kind = match node.kind {
        crate::devices::DeviceKind::Char => furnace_sys::dev::DeviceKind::Char,
        crate::devices::DeviceKind::Block => furnace_sys::dev::DeviceKind::Block,
        crate::devices::DeviceKind::All => {
            return Err(bad("is neither a character nor a block device"))
        }
    };
    let mut parents = Vec::new();
    let mut dir = PathBuf::from("/dev");
    for name in &names[..names.len() - 1] {
        dir.push(name);
        parents.push(inside(WHAT, &dir)?);
    }
    Ok(ValidNode {
        path,
        parents,
        kind,
        major: node.major,
        minor: node.minor,
        mode: node.mode & 0o7777,
        owner: (node.uid, node.gid),
    })
}

/// The steps that make the device nodes: their directories, the nodes, their owners.
pub(crate) fn device_node_ops(nodes: &[ValidNode]) -> Vec<crate::plan::After> {
    use crate::plan::After;
    let mut ops = Vec::new();
    for node in nodes {
        ops.extend(node.parents.iter().map(|dir| After::Mkdir {
            path: dir.clone(),
            mode: 0o755,
        }));
        ops.push(After::Mknod {
            path: node.path.clone(),
            kind: node.kind,
            major: node.major,
            minor: node.minor,
            mode: node.mode,
        });
        if node.owner != (0, 0) {
            ops.push(After::Chown {
                path: node.path.clone(),
                uid: node.owner.0,
                gid: node.owner.1,
            });
        }
    }
    ops
}

/// The steps that mount the cgroup view: a tmpfs at `/sys/fs/cgroup`, each hierarchy on a
/// directory of it (read-only, from inside the container's cgroup namespace), the links, and
/// the tmpfs made read-only.
pub(crate) fn cgroup_ops(view: &CgroupView) -> Vec<crate::plan::After> {
    use crate::plan::{After, MountOp};
    use furnace_sys::mount::MountFlags;
    let quiet = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    let mut ops = vec![After::Mount(MountOp {
        fstype: cstring("tmpfs"),
        target: cstring("/sys/fs/cgroup"),
        flags: quiet,
        options: vec![(cstring("mode"), Some(cstring("755")))],
        dir_mode: 0o755,
        made: None,
    })];
    for (name, fstype, options) in &view.hierarchies {
        ops.push(After::Mount(MountOp {
            fstype: cstring(fstype),
            target: cstring(format!("/sys/fs/cgroup/{name}")),
            flags: quiet | MountFlags::RDONLY,
            options: (options.iter())
                .map(|(k, v)| (cstring(k), v.as_ref().map(cstring)))
                .collect(),
            dir_mode: 0o555,
            made: None,
        }));
    }
    for (name, target) in &view.links {
        ops.push(After::Symlink {
            target: cstring(target),
            path: cstring(format!("/sys/fs/cgroup/{name}")),
        });
    }
    ops.push(After::ReadOnly(cstring("/sys/fs/cgroup")));
    ops
}

/// The sysctls of namespaces every container has its own of (IPC), by prefix or name.
const IPC_SYSCTLS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// `key` checked and turned into its `/proc/sys` path.
fn sysctl(key: &str, value: &str, own_network: bool) -> Result<(CString, CString)> {
    let refuse = |reason: &str| Error::InvalidSysctl {
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    let dotted = key.trim_start_matches("/proc/sys/").replace('/', ".");
    if dotted.is_empty()
        || !dotted
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        || dotted.split('.').any(|part| part.is_empty())
    {
        return Err(refuse("is not a sysctl name"));
    }
    let allowed = IPC_SYSCTLS.contains(&dotted.as_str())
        || dotted.starts_with("fs.mqueue.")
        || (dotted.starts_with("net.") && own_network);
    if !allowed {
        return Err(refuse(if dotted.starts_with("net.") {
            "a network sysctl needs a network namespace of the container's own (the host's \
             would change)"
        } else {
            "is not namespaced: setting it inside would change the host"
        }));
    }
    if value.contains('\0') {
        return Err(refuse("its value contains a NUL byte"));
    }
    let path = format!("/proc/sys/{}", dotted.replace('.', "/"));
    Ok((cstring(path), cstring(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctls_are_namespaced_or_refused() {
        let (path, value) = sysctl("net.ipv4.ping_group_range", "0 0", true).unwrap();
        assert_eq!(
            path.to_str().unwrap(),
            "/proc/sys/net/ipv4/ping_group_range"
        );
        assert_eq!(value.to_str().unwrap(), "0 0");
        assert!(sysctl("/proc/sys/kernel/shmmax", "1", false).is_ok());
        assert!(sysctl("fs.mqueue.msg_max", "10", false).is_ok());
        for (key, needle) in [
            ("net.ipv4.ip_forward", "network namespace"),
            ("kernel.core_pattern", "not namespaced"),
            ("vm.overcommit_memory", "not namespaced"),
            ("net..x", "not a sysctl name"),
            ("net.ipv4.../x", "not a sysctl name"),
            ("", "not a sysctl name"),
        ] {
            let e = sysctl(key, "1", false).unwrap_err().to_string();
            assert!(e.contains(needle), "{key}: {e}");
        }
    }

    #[test]
    fn paths_must_be_absolute_and_inside() {
        let mut v = View::default();
        v.masked.push("relative".into());
        assert!(v
            .validate(false)
            .unwrap_err()
            .to_string()
            .contains("absolute"));
        let mut v = View::default();
        v.read_only.push("/proc/../etc".into());
        assert!(v.validate(false).unwrap_err().to_string().contains(".."));
        let mut v = View::default();
        v.masked.push("/proc/kcore".into());
        v.read_only.push("/proc/sys".into());
        let ok = v.validate(false).unwrap();
        assert_eq!(ok.masked.len(), 1);
        assert_eq!(ok.read_only.len(), 1);
    }
}
