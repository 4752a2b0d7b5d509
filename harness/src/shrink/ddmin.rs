//! Delta debugging (Zeller and Hildebrandt's `ddmin`) over a set of items: a
//! smallest subset on which a test still fails, such that removing any one item
//! of it makes the test pass (1-minimal).
//!
//! The test is a run of the scenario with the other kinds muted, so it costs
//! seconds; the caller caches results by subset, and the empty set is tested
//! before this is called (ddmin assumes it passes).

/// The answer of one test, or why the search must stop.
pub type Tested<E> = Result<bool, E>;

/// A 1-minimal subset of `items` (which the caller knows fails) on which
/// `fails` still answers true. `fails` sees subsets in `items`' order. An error
/// from `fails` (out of runs, a run that could not start) ends the search.
pub fn ddmin<T: Clone + PartialEq, E>(
    items: &[T],
    fails: &mut impl FnMut(&[T]) -> Tested<E>,
) -> Result<Vec<T>, E> {
    let mut c: Vec<T> = items.to_vec();
    let mut n = 2usize;
    'search: while c.len() >= 2 {
        let parts = split(&c, n);
        for p in &parts {
            if fails(p)? {
                c = p.clone();
                n = 2;
                continue 'search;
            }
        }
        // With two parts each complement is the other part, tested just now.
        if n > 2 {
            for p in &parts {
                let rest: Vec<T> = c.iter().filter(|x| !p.contains(x)).cloned().collect();
                if fails(&rest)? {
                    c = rest;
                    n = (n - 1).max(2);
                    continue 'search;
                }
            }
        }
        if n >= c.len() {
            break;
        }
        n = (2 * n).min(c.len());
    }
    Ok(c)
}

/// `c` cut into `n` contiguous parts of nearly equal size (the first ones one
/// larger), none empty.
fn split<T: Clone>(c: &[T], n: usize) -> Vec<Vec<T>> {
    let n = n.clamp(1, c.len().max(1));
    let (size, extra) = (c.len() / n, c.len() % n);
    let mut out = Vec::with_capacity(n);
    let mut at = 0;
    for i in 0..n {
        let len = size + usize::from(i < extra);
        out.push(c[at..at + len].to_vec());
        at += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// ddmin with a fake test, counting how often it asks each subset.
    fn run(items: &[u32], fails: impl Fn(&BTreeSet<u32>) -> bool) -> (Vec<u32>, usize) {
        let mut asked = 0;
        let got = ddmin::<u32, ()>(items, &mut |s| {
            asked += 1;
            Ok(fails(&s.iter().copied().collect()))
        })
        .expect("no error");
        (got, asked)
    }

    #[test]
    fn finds_the_one_item_that_matters() {
        let items: Vec<u32> = (0..8).collect();
        let (got, _) = run(&items, |s| s.contains(&5));
        assert_eq!(got, vec![5]);
    }

    #[test]
    fn finds_a_pair_that_is_needed_together() {
        let items: Vec<u32> = (0..7).collect();
        let (got, _) = run(&items, |s| s.contains(&1) && s.contains(&6));
        assert_eq!(got, vec![1, 6]);
    }

    #[test]
    fn with_two_sufficient_items_keeps_one_of_them() {
        // Either 2 or 4 alone fails: any 1-minimal answer is one of them.
        let items: Vec<u32> = (0..6).collect();
        let (got, _) = run(&items, |s| s.contains(&2) || s.contains(&4));
        assert!(got == vec![2] || got == vec![4], "{got:?}");
    }

    #[test]
    fn result_is_one_minimal_for_every_monotone_test() {
        // Every "needs all of A" test over 6 items: the answer is exactly A.
        for mask in 1u32..64 {
            let need: BTreeSet<u32> = (0..6).filter(|i| mask & (1 << i) != 0).collect();
            let items: Vec<u32> = (0..6).collect();
            let (got, asked) = run(&items, |s| need.is_subset(s));
            assert_eq!(got.iter().copied().collect::<BTreeSet<_>>(), need);
            assert!(asked <= 36, "{mask:b}: {asked} tests");
        }
    }

    #[test]
    fn an_error_stops_the_search() {
        let items: Vec<u32> = (0..4).collect();
        let mut left = 2;
        let r = ddmin::<u32, &str>(&items, &mut |_| {
            if left == 0 {
                return Err("out of runs");
            }
            left -= 1;
            Ok(false)
        });
        assert_eq!(r, Err("out of runs"));
    }

    #[test]
    fn split_covers_everything_in_order() {
        let c: Vec<u32> = (0..7).collect();
        for n in 1..=7 {
            let parts = split(&c, n);
            assert_eq!(parts.len(), n);
            assert!(parts.iter().all(|p| !p.is_empty()));
            assert_eq!(parts.concat(), c);
        }
    }
}
