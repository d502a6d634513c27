//! Capabilities of the calling thread, through the `caps` crate: query and drop.

use caps::Capability;

use crate::error::{Errno, Error, Result};

pub use caps::Capability as Cap;

fn fail(call: &'static str, op: &str, err: caps::errors::CapsError) -> Error {
    // The caps crate reports errors as text only; the kernel refuses capability changes with
    // EPERM, and anything else it reports is a bad argument.
    let text = err.to_string();
    let errno = if text.contains("EPERM") || text.contains("permitted") {
        Errno::PERM
    } else {
        Errno::INVAL
    };
    Error::new(call, format!("{op}: {text}"), errno)
}

/// The capabilities in one set of the calling thread.
///
/// ```
/// use furnace_sys::caps::{read, CapSet};
/// let bounding = read(CapSet::Bounding)?;
/// // Everything in the effective set is also in the permitted set.
/// assert!(read(CapSet::Effective)?.is_subset(&read(CapSet::Permitted)?));
/// # let _ = bounding;
/// # Ok::<(), furnace_sys::Error>(())
/// ```
pub fn read(set: CapSet) -> Result<CapsHashSet> {
    caps::read(None, set).map_err(|e| fail("capget", "read", e))
}

/// Whether the calling thread has `cap` in its effective set.
pub fn has_effective(cap: Capability) -> Result<bool> {
    caps::has_cap(None, CapSet::Effective, cap).map_err(|e| fail("capget", "query", e))
}

/// Drops `cap` from `set` of the calling thread. Dropping from the bounding set needs
/// `CAP_SETPCAP` and cannot be undone.
pub fn drop_cap(set: CapSet, cap: Capability) -> Result<()> {
    caps::drop(None, set, cap).map_err(|e| fail("capset", &format!("drop {cap} from {set:?}"), e))
}

/// Reduces the bounding, permitted and effective sets to `keep`, and empties the inheritable
/// and ambient sets — the shape of a hardened container process.
pub fn restrict_to(keep: &CapsHashSet) -> Result<()> {
    for cap in read(CapSet::Bounding)? {
        if !keep.contains(&cap) {
            drop_cap(CapSet::Bounding, cap)?;
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(|e| fail("prctl", "clear ambient", e))?;
    caps::clear(None, CapSet::Inheritable).map_err(|e| fail("capset", "clear inheritable", e))?;
    let effective: CapsHashSet = read(CapSet::Effective)?
        .intersection(keep)
        .copied()
        .collect();
    caps::set(None, CapSet::Effective, &effective)
        .map_err(|e| fail("capset", "set effective", e))?;
    let permitted: CapsHashSet = read(CapSet::Permitted)?
        .intersection(keep)
        .copied()
        .collect();
    caps::set(None, CapSet::Permitted, &permitted).map_err(|e| fail("capset", "set permitted", e))
}

pub use caps::{CapSet, CapsHashSet};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_is_within_permitted_and_bounding_is_readable() {
        let eff = read(CapSet::Effective).unwrap();
        let prm = read(CapSet::Permitted).unwrap();
        assert!(eff.is_subset(&prm));
        assert!(!read(CapSet::Bounding).unwrap().is_empty());
    }
}
