//! The hashers of every map in the subjects: fixed keys instead of per-process
//! random ones, so the same traffic seed lays out the same hash tables run after
//! run, and the heap a soak measures is reproducible byte for byte.
//!
//! Why it matters: a hash table that removes entries leaves tombstones where the
//! probe sequence crossed a full group, and tombstones use up the table's growth
//! allowance. With random keys (std's `RandomState`, hashbrown's default) the
//! tombstones fall differently every run, so a table doubles a few samples earlier
//! or later and `live_bytes` differs by the table's size for those samples
//! (measured on `raid-burst --variant leaky`: up to 8 KiB on 1–3 samples of 1,441).
//!
//! Each hasher keeps the algorithm the map used before (SipHash-1-3 for std maps,
//! foldhash for the `lru` crate), only the keys are fixed: speed is unchanged.
//! Hash flooding is no concern here: the keys come from the seeded traffic model.

use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

/// std's SipHash-1-3 with fixed keys: `DefaultHasher::new()` is the same hasher
/// for every map and every run of a given build.
pub type Fixed = BuildHasherDefault<DefaultHasher>;

/// A std `HashMap` with [`Fixed`] keys; build it with `HashMap::default()`.
pub type HashMap<K, V> = std::collections::HashMap<K, V, Fixed>;

/// A std `HashSet` with [`Fixed`] keys; build it with `HashSet::default()`.
pub type HashSet<T> = std::collections::HashSet<T, Fixed>;

/// foldhash (the `lru` crate's own default algorithm) with a fixed seed.
pub type FixedFold = foldhash::fast::FixedState;

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn every_map_hashes_alike() {
        let (a, b) = (Fixed::default(), Fixed::default());
        assert_eq!(a.hash_one("guild:42"), b.hash_one("guild:42"));
        let (a, b) = (FixedFold::default(), FixedFold::default());
        assert_eq!(a.hash_one(42u64), b.hash_one(42u64));
    }
}
