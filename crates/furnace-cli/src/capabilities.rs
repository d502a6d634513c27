//! `--cap-add` and `--cap-drop`: capability names as in `capabilities(7)`, applied in
//! command-line order to the profile's set through the library's `Command::cap_add` and
//! `cap_drop`.

use std::str::FromStr;

use furnace_sys::caps::Cap;

use crate::cli::CapArg;
use crate::exit::Failure;
use crate::options::Identity;

/// One change to the set: add or drop a capability, or all of them (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Change {
    add: bool,
    cap: Option<Cap>,
}

/// The `--cap-add`/`--cap-drop` changes, checked.
#[derive(Debug, Default)]
pub struct Capabilities {
    changes: Vec<Change>,
}

impl Capabilities {
    /// Reads the options in command-line order; an unknown name is furnace's failure.
    pub fn from_args(args: &[CapArg]) -> Result<Self, Failure> {
        let changes = args
            .iter()
            .map(|arg| {
                let cap = parse(&arg.value).map_err(|why| {
                    let option = if arg.add { "--cap-add" } else { "--cap-drop" };
                    Failure::furnace(format_args!("{option} {:?}: {why}", arg.value))
                })?;
                Ok(Change { add: arg.add, cap })
            })
            .collect::<Result<_, Failure>>()?;
        Ok(Self { changes })
    }

    /// Applies the changes to `command`, and checks that the ids it is to take on can still be
    /// taken: a command that becomes a uid other than 0 changes ids after its capabilities are
    /// reduced, which needs `CAP_SETUID` (and `CAP_SETGID` for its groups).
    pub fn apply(
        &self,
        command: &mut furnace_core::Command<'_>,
        identity: &Identity,
    ) -> Result<(), Failure> {
        for change in &self.changes {
            match (change.add, change.cap) {
                (true, Some(cap)) => command.cap_add(cap),
                (true, None) => command.cap_add_all(),
                (false, Some(cap)) => command.cap_drop(cap),
                (false, None) => command.cap_drop_all(),
            };
        }
        let Some(uid) = identity.uid.filter(|&uid| uid != 0) else {
            return Ok(());
        };
        for cap in [Cap::CAP_SETUID, Cap::CAP_SETGID] {
            if !command.has_capability(cap) {
                return Err(Failure::furnace(format_args!(
                    "--cap-drop: the command is to run as uid {uid}, and taking on its ids \
                     needs {cap}, which it would no longer have (keep it with --cap-add {cap})"
                )));
            }
        }
        Ok(())
    }
}

/// A capability's name as `capabilities(7)` writes it, in any case, with or without `CAP_`;
/// `ALL` is `None`.
fn parse(name: &str) -> Result<Option<Cap>, &'static str> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(None);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    Cap::from_str(&full).map(Some).map_err(|_| {
        "unknown capability (a name of capabilities(7) such as NET_ADMIN or cap_net_admin, \
         or ALL)"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_those_of_capabilities_7() {
        for name in ["CAP_NET_ADMIN", "net_admin", "Cap_Net_Admin", "NET_ADMIN"] {
            assert_eq!(parse(name), Ok(Some(Cap::CAP_NET_ADMIN)), "{name}");
        }
        assert_eq!(parse("all"), Ok(None));
        assert_eq!(parse("ALL"), Ok(None));
        assert_eq!(
            parse("cap_checkpoint_restore"),
            Ok(Some(Cap::CAP_CHECKPOINT_RESTORE))
        );
        for bad in ["", "CAP_", "NET-ADMIN", "CAP_BOGUS", "12", "CAP_ALL"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let err = Capabilities::from_args(&[CapArg {
            add: false,
            value: "bogus".into(),
        }])
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("--cap-drop \"bogus\": unknown capability"),
            "{err}"
        );
    }
}
