//! Devices: `linux.resources.devices` (rules for the container's v1 `devices` cgroup) and
//! `linux.devices` (nodes made in its `/dev`, each also allowed by the rules, as runc does).

use furnace_core::{ContainerBuilder, DeviceAccess, DeviceKind, DeviceNode, DeviceRule};
use serde::Deserialize;

use crate::config::Linux;

/// One entry of `linux.devices`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub path: std::path::PathBuf,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub major: i64,
    #[serde(default)]
    pub minor: i64,
    pub file_mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// furnace's own `/dev` nodes: an entry of `linux.devices` naming one of them with the same
/// numbers (the spec's default devices, which some configurations list) is there already.
const FURNACES: [(&str, i64, i64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// Gives the builder the rules (furnace denies every device first and allows its own `/dev`
/// nodes after them) and the nodes.
pub fn apply(linux: &Linux, builder: &mut ContainerBuilder) -> Result<(), String> {
    let mut rules = match linux.resources.as_ref().map(|r| &r.devices[..]) {
        None | Some([]) => None,
        Some(list) => Some(
            list.iter()
                .enumerate()
                .map(|(i, r)| rule(r, i))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    for (i, device) in linux.devices.iter().enumerate() {
        let field = format!("config.json: linux.devices[{i}]");
        let kind = match device.kind.as_str() {
            "c" | "u" => DeviceKind::Char,
            "b" => DeviceKind::Block,
            "p" => {
                return Err(format!(
                    "{field}.type: FIFOs are not supported by furnace-oci"
                ))
            }
            other => return Err(format!("{field}.type: {other:?} is not c, u, b or p")),
        };
        let number = |n: i64, which: &str| {
            u32::try_from(n).map_err(|_| format!("{field}.{which}: {n} is not a device number"))
        };
        let (major, minor) = (
            number(device.major, "major")?,
            number(device.minor, "minor")?,
        );
        if let Some(rules) = &mut rules {
            rules.push(DeviceRule::allow(
                kind,
                Some(major),
                Some(minor),
                DeviceAccess::all(),
            ));
        }
        let same = |&(path, ma, mi): &(&str, i64, i64)| {
            device.path == std::path::Path::new(path)
                && (ma, mi) == (device.major, device.minor)
                && kind == DeviceKind::Char
        };
        if FURNACES.iter().any(same) {
            continue;
        }
        let mut node = DeviceNode::new(&device.path, kind, major, minor);
        if let Some(mode) = device.file_mode {
            node = node.mode(mode);
        }
        node = node.owner(device.uid.unwrap_or(0), device.gid.unwrap_or(0));
        builder.device_node(node);
    }
    if let Some(rules) = rules {
        builder.device_rules(rules);
    }
    Ok(())
}

/// One rule of `linux.resources.devices`.
fn rule(rule: &crate::config::DeviceRule, i: usize) -> Result<DeviceRule, String> {
    let field = format!("config.json: linux.resources.devices[{i}]");
    let number = |n: Option<i64>, which: &str| match n {
        None | Some(-1) => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| format!("{field}.{which}: {n} is not a device number")),
    };
    let kind = match rule.kind.as_deref() {
        None | Some("a") => DeviceKind::All,
        Some("c") => DeviceKind::Char,
        Some("b") => DeviceKind::Block,
        Some(other) => return Err(format!("{field}.type: {other:?} is not a, c or b")),
    };
    let mut access = DeviceAccess::empty();
    for letter in rule.access.as_deref().unwrap_or("rwm").chars() {
        access |= match letter {
            'r' => DeviceAccess::READ,
            'w' => DeviceAccess::WRITE,
            'm' => DeviceAccess::MKNOD,
            other => return Err(format!("{field}.access: {other:?} is not r, w or m")),
        };
    }
    let (major, minor) = (number(rule.major, "major")?, number(rule.minor, "minor")?);
    Ok(if rule.allow {
        DeviceRule::allow(kind, major, minor, access)
    } else {
        DeviceRule::deny(kind, major, minor, access)
    })
}
