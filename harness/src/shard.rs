//! `--shard K/N`: which of a scenario list one CI runner takes, so the nightly
//! suite scales by adding runners to a job matrix.
//!
//! Scenarios are dealt round-robin: shard K of N runs the scenarios at positions
//! i (0-based, in `soak list` order) with `i % N == K - 1`. Round-robin rather than
//! contiguous blocks so that a scenario added at the end of the list lands on the
//! next shard instead of lengthening the last one, and neighbours in the list (often
//! of similar cost) are spread out. The N shards together run every scenario exactly
//! once; a shard with no scenario (N larger than the list) runs nothing and passes.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// One shard of N: `index` is 1-based, `1 <= index <= count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    /// Shard `index` (1-based) of `count`, or a usage error.
    pub fn new(index: usize, count: usize) -> Result<Self, Error> {
        if count == 0 {
            return Err(Error::Usage(format!(
                "--shard {index}/{count}: the shard count must be at least 1; write K/N with 1 <= K <= N, e.g. 1/3"
            )));
        }
        if index == 0 || index > count {
            return Err(Error::Usage(format!(
                "--shard {index}/{count}: K must be between 1 and {count}; write K/N with 1 <= K <= N, e.g. 1/{count}"
            )));
        }
        Ok(Shard { index, count })
    }

    /// The whole list (shard 1 of 1).
    pub fn all() -> Self {
        Shard { index: 1, count: 1 }
    }

    /// 1-based shard number.
    pub fn index(self) -> usize {
        self.index
    }

    /// Number of shards.
    pub fn count(self) -> usize {
        self.count
    }

    /// Whether the item at 0-based `position` belongs to this shard.
    pub fn takes(self, position: usize) -> bool {
        position % self.count == self.index - 1
    }

    /// The items of `list` this shard takes, in order.
    pub fn select<'a, T>(self, list: &'a [T]) -> impl Iterator<Item = &'a T> + 'a {
        list.iter()
            .enumerate()
            .filter(move |(i, _)| self.takes(*i))
            .map(|(_, t)| t)
    }
}

impl FromStr for Shard {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = || {
            Error::Usage(format!(
                "--shard '{text}' is not K/N; write the shard number and the shard count, e.g. 2/3"
            ))
        };
        let (k, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let k: usize = k.trim().parse().map_err(|_| bad())?;
        let n: usize = n.trim().parse().map_err(|_| bad())?;
        Shard::new(k, n)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_item_exactly_once() {
        let items: Vec<usize> = (0..6).collect();
        for n in 1..=8 {
            let mut seen = vec![0; items.len()];
            for k in 1..=n {
                for &i in Shard::new(k, n).expect("valid").select(&items) {
                    seen[i] += 1;
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "n = {n}: {seen:?}");
        }
    }

    #[test]
    fn round_robin() {
        let items = ["a", "b", "c", "d", "e", "f"];
        let s: Shard = "2/3".parse().expect("parses");
        let got: Vec<&str> = s.select(&items).copied().collect();
        assert_eq!(got, ["b", "e"]);
        assert_eq!(s.to_string(), "2/3");
    }

    #[test]
    fn bad_shards_say_how_to_write_one() {
        for bad in [
            "0/3", "4/3", "a/b", "1/0", "3", "", "-1/3", "1/3/4", "1.5/3",
        ] {
            let e = bad.parse::<Shard>().expect_err(bad).to_string();
            assert!(e.contains("--shard"), "{bad}: {e}");
            assert!(e.contains("K/N") || e.contains("/"), "{bad}: {e}");
            assert!(!e.contains('\n'), "{bad}: one line: {e}");
        }
    }
}
