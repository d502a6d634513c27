//! Capabilities of the calling thread: read a set, drop from it, restrict all of them.
//!
//! The sets are the `caps` crate's types ([`Cap`], [`CapSet`], [`CapsHashSet`]); the calls go
//! through rustix, so a refusal is reported with the errno the kernel really returned. For a
//! forked child, [`cred::forksafe::restrict_capabilities`](crate::cred::forksafe::restrict_capabilities)
//! does the work of [`restrict_to`] without allocating.

use rustix::thread::{
    capabilities, capability_is_in_ambient_set, capability_is_in_bounding_set,
    clear_ambient_capability_set, configure_capability_in_ambient_set,
    remove_capability_from_bounding_set, set_capabilities, CapabilitySet, CapabilitySets,
};

use crate::error::{Errno, Error, Result};

pub use caps::Capability as Cap;
pub use caps::{CapSet, CapsHashSet};

/// The rustix set holding `cap` alone.
fn one(cap: Cap) -> CapabilitySet {
    CapabilitySet::from_bits_retain(cap.bitmask())
}

/// The capabilities of `set` that the `caps` crate knows.
fn to_hash_set(set: CapabilitySet) -> CapsHashSet {
    caps::all()
        .into_iter()
        .filter(|&cap| set.contains(one(cap)))
        .collect()
}

fn to_set(caps: &CapsHashSet) -> CapabilitySet {
    caps.iter()
        .fold(CapabilitySet::empty(), |set, &cap| set | one(cap))
}

fn sets() -> Result<CapabilitySets> {
    capabilities(None).map_err(|e| Error::new("capget", "read", e))
}

fn set_sets(sets: CapabilitySets, what: &str) -> Result<()> {
    set_capabilities(None, sets).map_err(|e| Error::new("capset", what, e))
}

/// Whether `cap` is in the bounding or ambient set, asked one capability at a time; a
/// capability the kernel does not know (`EINVAL`) is in neither.
fn in_prctl_set(set: CapSet, cap: Cap) -> Result<bool> {
    let (answer, option) = match set {
        CapSet::Ambient => (
            capability_is_in_ambient_set(one(cap)),
            "PR_CAP_AMBIENT_IS_SET",
        ),
        _ => (capability_is_in_bounding_set(one(cap)), "PR_CAPBSET_READ"),
    };
    match answer {
        Ok(is_in) => Ok(is_in),
        Err(Errno::INVAL) => Ok(false),
        Err(e) => Err(Error::new("prctl", format!("{option} {cap}"), e)),
    }
}

/// `capget(…)`, or `prctl(PR_CAPBSET_READ | PR_CAP_AMBIENT_IS_SET, cap)` for each capability
/// of the bounding and ambient sets: the capabilities in one set of the calling thread.
///
/// ```
/// use furnace_sys::caps::{read, CapSet};
/// let bounding = read(CapSet::Bounding)?;
/// // Everything in the effective set is also in the permitted set.
/// assert!(read(CapSet::Effective)?.is_subset(&read(CapSet::Permitted)?));
/// # let _ = bounding;
/// # Ok::<(), furnace_sys::Error>(())
/// ```
///
/// See `capget(2)`.
pub fn read(set: CapSet) -> Result<CapsHashSet> {
    match set {
        CapSet::Effective => Ok(to_hash_set(sets()?.effective)),
        CapSet::Permitted => Ok(to_hash_set(sets()?.permitted)),
        CapSet::Inheritable => Ok(to_hash_set(sets()?.inheritable)),
        CapSet::Bounding | CapSet::Ambient => {
            let mut found = CapsHashSet::new();
            for cap in caps::all() {
                if in_prctl_set(set, cap)? {
                    found.insert(cap);
                }
            }
            Ok(found)
        }
    }
}

/// `capget(…)`: whether the calling thread has `cap` in its effective set.
///
/// See `capget(2)`.
pub fn has_effective(cap: Cap) -> Result<bool> {
    Ok(sets()?.effective.contains(one(cap)))
}

/// `prctl(PR_CAPBSET_DROP, cap)`, `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, cap)` or
/// `capset(…)`: drops `cap` from `set` of the calling thread.
///
/// Dropping from the bounding set needs `CAP_SETPCAP` and cannot be undone. Dropping from the
/// permitted set drops from the effective set too, which may not hold more than the permitted
/// one.
///
/// See `capabilities(7)`.
pub fn drop_cap(set: CapSet, cap: Cap) -> Result<()> {
    let what = || format!("drop {cap} from {set:?}");
    match set {
        CapSet::Bounding => remove_capability_from_bounding_set(one(cap))
            .map_err(|e| Error::new("prctl", format!("PR_CAPBSET_DROP {cap}"), e)),
        CapSet::Ambient => configure_capability_in_ambient_set(one(cap), false)
            .map_err(|e| Error::new("prctl", format!("PR_CAP_AMBIENT_LOWER {cap}"), e)),
        CapSet::Effective | CapSet::Permitted | CapSet::Inheritable => {
            let mut sets = sets()?;
            match set {
                CapSet::Effective => sets.effective.remove(one(cap)),
                CapSet::Inheritable => sets.inheritable.remove(one(cap)),
                _ => {
                    sets.permitted.remove(one(cap));
                    sets.effective.remove(one(cap));
                }
            }
            set_sets(sets, &what())
        }
    }
}

/// `prctl(PR_CAPBSET_DROP, cap)` for every capability not in `keep`,
/// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)`, `capset(…)`: reduces the bounding,
/// permitted and effective sets to `keep`, and empties the inheritable and ambient sets — the
/// shape of a hardened container process.
///
/// Capabilities of `keep` that the thread does not have are not gained.
///
/// See `capabilities(7)`.
pub fn restrict_to(keep: &CapsHashSet) -> Result<()> {
    for cap in read(CapSet::Bounding)? {
        if !keep.contains(&cap) {
            drop_cap(CapSet::Bounding, cap)?;
        }
    }
    clear_ambient_capability_set()
        .map_err(|e| Error::new("prctl", "PR_CAP_AMBIENT_CLEAR_ALL", e))?;
    let keep = to_set(keep);
    let current = sets()?;
    set_sets(
        CapabilitySets {
            effective: current.effective & keep,
            permitted: current.permitted & keep,
            inheritable: CapabilitySet::empty(),
        },
        "restrict",
    )
}

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

    #[test]
    fn sets_convert_both_ways() {
        let some: CapsHashSet = [Cap::CAP_CHOWN, Cap::CAP_SYS_ADMIN, Cap::CAP_BPF]
            .into_iter()
            .collect();
        let set = to_set(&some);
        assert_eq!(
            set,
            CapabilitySet::CHOWN | CapabilitySet::SYS_ADMIN | CapabilitySet::BPF
        );
        assert_eq!(to_hash_set(set), some);
    }
}
