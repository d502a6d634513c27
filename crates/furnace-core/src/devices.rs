//! Device rules: which device nodes a container's processes may open or make, enforced by a
//! v1 `devices` cgroup of the container's own ([`ContainerBuilder::device_rules`]).

use crate::builder::ContainerBuilder;
use crate::error::{Error, Result};

/// Which devices a [`DeviceRule`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// Every device, character and block (`a`).
    All,
    /// Character devices (`c`).
    Char,
    /// Block devices (`b`).
    Block,
}

bitflags::bitflags! {
    /// What a [`DeviceRule`] allows or denies.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct DeviceAccess: u8 {
        /// Opening for reading (`r`).
        const READ = 1;
        /// Opening for writing (`w`).
        const WRITE = 1 << 1;
        /// Making the node with `mknod` (`m`).
        const MKNOD = 1 << 2;
    }
}

/// One rule of a container's device cgroup: allow or deny `access` to the devices of `kind`
/// with the given numbers (`None`: any).
///
/// ```
/// use furnace_core::{DeviceAccess, DeviceKind, DeviceRule};
/// // The host's first loop device, readable and writable, not makeable.
/// let rule = DeviceRule::allow(DeviceKind::Block, Some(7), Some(0), DeviceAccess::READ | DeviceAccess::WRITE);
/// assert_eq!(rule.to_string(), "b 7:0 rw");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceRule {
    /// Whether the rule allows (`true`) or denies the access.
    pub allow: bool,
    /// Character, block or every device.
    pub kind: DeviceKind,
    /// The major number; `None` is every one.
    pub major: Option<u32>,
    /// The minor number; `None` is every one.
    pub minor: Option<u32>,
    /// The access allowed or denied.
    pub access: DeviceAccess,
}

impl DeviceRule {
    /// A rule that allows `access` to the devices named.
    pub const fn allow(
        kind: DeviceKind,
        major: Option<u32>,
        minor: Option<u32>,
        access: DeviceAccess,
    ) -> DeviceRule {
        DeviceRule {
            allow: true,
            kind,
            major,
            minor,
            access,
        }
    }

    /// A rule that denies `access` to the devices named.
    pub const fn deny(
        kind: DeviceKind,
        major: Option<u32>,
        minor: Option<u32>,
        access: DeviceAccess,
    ) -> DeviceRule {
        DeviceRule {
            allow: false,
            ..DeviceRule::allow(kind, major, minor, access)
        }
    }

    /// The cgroup file the rule is written to.
    pub(crate) fn file(&self) -> &'static str {
        if self.allow {
            "devices.allow"
        } else {
            "devices.deny"
        }
    }

    fn check(&self, index: usize) -> Result<()> {
        let bad = |reason: &'static str| {
            Err(Error::InvalidLimit {
                what: "device rule",
                value: format!("#{index} ({self})"),
                reason,
            })
        };
        if self.access.is_empty() {
            return bad("allows or denies no access (give read, write or mknod)");
        }
        if self.kind == DeviceKind::All
            && (self.access != DeviceAccess::all() || self.major.is_some() || self.minor.is_some())
        {
            return bad(
                "a rule for every device covers every number and every access (the kernel's \
                 `a`); name character or block devices for less",
            );
        }
        Ok(())
    }
}

/// The line the kernel's `devices.allow` and `devices.deny` take: `c 1:3 rwm`, `b *:* m`, `a`.
impl std::fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let number = |n: Option<u32>| n.map_or_else(|| "*".to_owned(), |n| n.to_string());
        let kind = match self.kind {
            DeviceKind::All => return f.write_str("a"),
            DeviceKind::Char => 'c',
            DeviceKind::Block => 'b',
        };
        let mut access = String::new();
        for (flag, letter) in [
            (DeviceAccess::READ, 'r'),
            (DeviceAccess::WRITE, 'w'),
            (DeviceAccess::MKNOD, 'm'),
        ] {
            if self.access.contains(flag) {
                access.push(letter);
            }
        }
        write!(
            f,
            "{kind} {}:{} {access}",
            number(self.major),
            number(self.minor)
        )
    }
}

/// A device node furnace makes in the container's `/dev` besides its own
/// ([`ContainerBuilder::device_node`]), as an engine's `linux.devices` asks.
///
/// ```
/// use furnace_core::{DeviceKind, DeviceNode};
/// let fuse = DeviceNode::new("/dev/fuse", DeviceKind::Char, 10, 229).mode(0o666);
/// assert_eq!(fuse.major, 10);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceNode {
    /// Where, under `/dev` (missing directories on the way are made, mode 0755).
    pub path: std::path::PathBuf,
    /// Character or block ([`DeviceKind::All`] is no node).
    pub kind: DeviceKind,
    /// The major number.
    pub major: u32,
    /// The minor number.
    pub minor: u32,
    /// The permission bits (default 0666).
    pub mode: u32,
    /// The owner, ids of the container (default root).
    pub uid: u32,
    /// The group, an id of the container (default root).
    pub gid: u32,
}

impl DeviceNode {
    /// A node at `path`, mode 0666, owned by root.
    pub fn new(
        path: impl Into<std::path::PathBuf>,
        kind: DeviceKind,
        major: u32,
        minor: u32,
    ) -> Self {
        DeviceNode {
            path: path.into(),
            kind,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        }
    }

    /// The permission bits.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// The owner and group (ids of the container).
    pub fn owner(mut self, uid: u32, gid: u32) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }
}

const RWM: DeviceAccess = DeviceAccess::all();

/// What every container with device rules is allowed after them, so that furnace's own `/dev`
/// keeps working whatever the rules say: making any node (opening it is what the rules
/// govern), `null`, `zero`, `full`, `random`, `urandom`, `tty`, the devpts's `ptmx` and its
/// terminals. The same list runc appends to an engine's rules.
pub(crate) const FURNACE_NODES: [DeviceRule; 10] = [
    DeviceRule::allow(DeviceKind::Char, None, None, DeviceAccess::MKNOD),
    DeviceRule::allow(DeviceKind::Block, None, None, DeviceAccess::MKNOD),
    DeviceRule::allow(DeviceKind::Char, Some(1), Some(3), RWM),
    DeviceRule::allow(DeviceKind::Char, Some(1), Some(5), RWM),
    DeviceRule::allow(DeviceKind::Char, Some(1), Some(7), RWM),
    DeviceRule::allow(DeviceKind::Char, Some(1), Some(8), RWM),
    DeviceRule::allow(DeviceKind::Char, Some(1), Some(9), RWM),
    DeviceRule::allow(DeviceKind::Char, Some(5), Some(0), RWM),
    DeviceRule::allow(DeviceKind::Char, Some(5), Some(2), RWM),
    DeviceRule::allow(DeviceKind::Char, Some(136), None, RWM),
];

/// Refuses device nodes where `mknod` is not furnace's to give: in the hardened profile, and
/// in a user namespace.
pub(crate) fn check_nodes(nodes: &[DeviceNode], hardened: bool) -> Result<()> {
    let Some(node) = nodes.first() else {
        return Ok(());
    };
    let reason = if hardened {
        "needs the privileged profile: the hardened one has furnace's own nodes only"
    } else if crate::rootless::in_user_namespace() {
        "needs root of the host: mknod is refused in a user namespace"
    } else {
        return Ok(());
    };
    Err(Error::InvalidPath {
        what: "device node",
        path: node.path.clone(),
        problem: crate::error::PathProblem::KindMismatch(reason),
    })
}

/// The cgroup v2 device filter for `rules`: as in the v1 cgroup, everything denied first, the
/// rules in order, furnace's own nodes allowed after them (the last matching rule decides).
pub(crate) fn filter(rules: &[DeviceRule]) -> Vec<furnace_sys::bpf::Insn> {
    use furnace_sys::bpf;
    let deny_all = DeviceRule::deny(DeviceKind::All, None, None, RWM);
    let list: Vec<bpf::DeviceFilterRule> = std::iter::once(&deny_all)
        .chain(rules)
        .chain(&FURNACE_NODES)
        .map(|r| bpf::DeviceFilterRule {
            allow: r.allow,
            kind: match r.kind {
                DeviceKind::All => None,
                DeviceKind::Char => Some(bpf::DEVICE_CHAR),
                DeviceKind::Block => Some(bpf::DEVICE_BLOCK),
            },
            major: r.major,
            minor: r.minor,
            access: [
                (DeviceAccess::MKNOD, bpf::ACCESS_MKNOD),
                (DeviceAccess::READ, bpf::ACCESS_READ),
                (DeviceAccess::WRITE, bpf::ACCESS_WRITE),
            ]
            .iter()
            .filter(|(flag, _)| r.access.contains(*flag))
            .map(|(_, bit)| bit)
            .sum(),
        })
        .collect();
    bpf::device_filter(&list)
}

/// Checks rules before anything is made.
pub(crate) fn validate(rules: &[DeviceRule]) -> Result<()> {
    rules
        .iter()
        .enumerate()
        .try_for_each(|(i, rule)| rule.check(i))
}

impl ContainerBuilder {
    /// Gives the container a device cgroup (the v1 `devices` controller): every device is
    /// denied, then `rules` apply in order, then furnace's own `/dev` nodes are allowed again
    /// (`null`, `zero`, `full`, `random`, `urandom`, `tty`, `ptmx`, the terminals, and `mknod`
    /// of any node, whose opening the rules still govern), as runc does for an engine's
    /// rules. The rules hold for PID 1 and every command, whatever their capabilities.
    ///
    /// On a host with v1 controllers (legacy or hybrid) the rules go to a v1 `devices` cgroup;
    /// on a host with cgroup v2 alone, into an eBPF device filter attached to the container's
    /// cgroup (`BPF_PROG_TYPE_CGROUP_DEVICE`), which applies them the same way.
    ///
    /// ```no_run
    /// use furnace_core::{Container, DeviceAccess, DeviceKind, DeviceRule};
    /// // The default devices, and read access to the host's /dev/fuse (10:229) bound in.
    /// let container = Container::builder("/srv/rootfs")
    ///     .device_rules([DeviceRule::allow(DeviceKind::Char, Some(10), Some(229), DeviceAccess::READ)])
    ///     .start()?;
    /// # Ok::<(), furnace_core::Error>(())
    /// ```
    pub fn device_rules(&mut self, rules: impl IntoIterator<Item = DeviceRule>) -> &mut Self {
        self.limits.devices = Some(rules.into_iter().collect());
        self
    }

    /// Makes a device node in the container's `/dev`, after furnace's own (a name of those,
    /// or of the filesystems on `/dev`, is an input error). It takes `mknod` as root of the
    /// host: the privileged profile, not rootless. Opening it is still subject to the device
    /// rules, when there are any ([`device_rules`](ContainerBuilder::device_rules)).
    ///
    /// ```no_run
    /// use furnace_core::{Container, DeviceKind, DeviceNode};
    /// let container = Container::builder("/srv/rootfs")
    ///     .device_node(DeviceNode::new("/dev/fuse", DeviceKind::Char, 10, 229))
    ///     .start()?;
    /// # Ok::<(), furnace_core::Error>(())
    /// ```
    pub fn device_node(&mut self, node: DeviceNode) -> &mut Self {
        self.view.device_nodes.push(node);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_the_kernels_lines() {
        let all = DeviceRule::deny(DeviceKind::All, None, None, RWM);
        assert_eq!(all.to_string(), "a");
        assert_eq!(all.file(), "devices.deny");
        assert_eq!(FURNACE_NODES[0].to_string(), "c *:* m");
        assert_eq!(FURNACE_NODES[9].to_string(), "c 136:* rwm");
        assert_eq!(FURNACE_NODES[9].file(), "devices.allow");
        assert!(validate(&FURNACE_NODES).is_ok());
        assert!(validate(&[all]).is_ok());
    }

    #[test]
    fn rules_the_kernel_cannot_take_are_refused() {
        let none = DeviceRule::allow(DeviceKind::Char, Some(1), Some(3), DeviceAccess::empty());
        let e = validate(&[FURNACE_NODES[0], none]).unwrap_err().to_string();
        assert!(e.contains("#1") && e.contains("no access"), "{e}");
        let partial = DeviceRule::deny(DeviceKind::All, None, None, DeviceAccess::READ);
        assert!(validate(&[partial]).is_err());
        let numbered = DeviceRule::deny(DeviceKind::All, Some(1), None, RWM);
        assert!(validate(&[numbered]).is_err());
    }
}
