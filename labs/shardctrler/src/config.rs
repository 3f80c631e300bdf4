//! A configuration (which group serves which shard, and which servers each group has) and the
//! rule that rebalances the shards when groups join or leave: a pure function, unit-tested
//! below, that every replica computes the same way.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The number of shards the keys are split into.
pub const N_SHARDS: usize = 10;

/// One numbered configuration. Configuration 0 has no groups and every shard on gid 0 (none);
/// each Join, Leave and Move makes the next one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The configuration's number.
    pub num: u64,
    /// Shard -> the gid of the group that serves it (0: no group).
    pub shards: [u64; N_SHARDS],
    /// Gid -> the names of that group's servers. A `BTreeMap`, so that every replica walks
    /// the groups in the same order (see [`rebalance`]).
    pub groups: BTreeMap<u64, Vec<String>>,
}

impl Config {
    /// The shards that group `gid` serves in this configuration.
    pub fn shards_of(&self, gid: u64) -> impl Iterator<Item = usize> + '_ {
        (0..N_SHARDS).filter(move |&s| self.shards[s] == gid)
    }
}

/// The assignment of the shards to `groups` that moves the fewest shards away from `shards`
/// and leaves at most one shard of difference between any two groups. With no groups, every
/// shard goes to gid 0.
///
/// Each group's target is `N_SHARDS / n` shards, and the `N_SHARDS % n` groups that hold the
/// most shards now get one more (ties to the lower gid): that keeps the most shards where they
/// are. A group above its target gives up its highest-numbered shards; the shards of groups
/// that left (or of gid 0) and those given up go, lowest first, to the groups below their
/// target, in gid order.
///
/// Pitfall: the result must depend on nothing but the arguments. Go's lab iterates a map,
/// whose order is random, so two replicas can compute different configurations from the same
/// log; here every walk is over a `BTreeMap` or a sorted list.
pub fn rebalance(shards: &[u64; N_SHARDS], groups: &BTreeSet<u64>) -> [u64; N_SHARDS] {
    // solution: begin 5A rebalance
    if groups.is_empty() {
        return [0; N_SHARDS];
    }
    let mut held: BTreeMap<u64, Vec<usize>> = groups.iter().map(|&g| (g, Vec::new())).collect();
    let mut free = Vec::new();
    for (shard, gid) in shards.iter().enumerate() {
        match held.get_mut(gid) {
            Some(mine) => mine.push(shard),
            None => free.push(shard),
        }
    }
    let base = N_SHARDS / groups.len();
    let extra = N_SHARDS % groups.len();
    let mut by_size: Vec<u64> = groups.iter().copied().collect();
    by_size.sort_by_key(|g| (Reverse(held[g].len()), *g));
    let target: BTreeMap<u64, usize> = by_size
        .iter()
        .enumerate()
        .map(|(rank, &g)| (g, base + usize::from(rank < extra)))
        .collect();
    for (g, mine) in &mut held {
        while mine.len() > target[g] {
            if let Some(shard) = mine.pop() {
                free.push(shard);
            }
        }
    }
    free.sort_unstable();
    let mut free = free.into_iter();
    let mut next = [0; N_SHARDS];
    for (&g, mine) in &held {
        for &shard in mine {
            next[shard] = g;
        }
        for _ in mine.len()..target[&g] {
            if let Some(shard) = free.next() {
                next[shard] = g;
            }
        }
    }
    next
    // solution: end rebalance
}

// solution: begin 5A rebalance-tests
#[cfg(test)]
mod tests {
    use super::*;

    fn gids(g: &[u64]) -> BTreeSet<u64> {
        g.iter().copied().collect()
    }

    fn counts(shards: &[u64; N_SHARDS], groups: &BTreeSet<u64>) -> Vec<usize> {
        groups
            .iter()
            .map(|g| shards.iter().filter(|&&s| s == *g).count())
            .collect()
    }

    fn moved(a: &[u64; N_SHARDS], b: &[u64; N_SHARDS]) -> usize {
        a.iter().zip(b).filter(|(x, y)| x != y).count()
    }

    fn assert_balanced(shards: &[u64; N_SHARDS], groups: &BTreeSet<u64>) {
        let c = counts(shards, groups);
        let (min, max) = (c.iter().min().unwrap(), c.iter().max().unwrap());
        assert!(max - min <= 1, "{shards:?} over {groups:?}: counts {c:?}");
        assert!(shards.iter().all(|g| groups.contains(g)), "{shards:?}");
    }

    #[test]
    fn the_first_group_gets_every_shard() {
        assert_eq!(rebalance(&[0; N_SHARDS], &gids(&[7])), [7; N_SHARDS]);
    }

    #[test]
    fn no_groups_leaves_every_shard_on_gid_0() {
        assert_eq!(rebalance(&[3; N_SHARDS], &gids(&[])), [0; N_SHARDS]);
    }

    #[test]
    fn a_join_moves_only_shards_to_the_new_group() {
        let two = rebalance(&rebalance(&[0; N_SHARDS], &gids(&[1])), &gids(&[1, 2]));
        assert_balanced(&two, &gids(&[1, 2]));
        let three = rebalance(&two, &gids(&[1, 2, 3]));
        assert_balanced(&three, &gids(&[1, 2, 3]));
        for s in 0..N_SHARDS {
            assert!(
                three[s] == 3 || three[s] == two[s],
                "shard {s} moved between old groups"
            );
        }
        assert_eq!(
            moved(&two, &three),
            3,
            "10 over 3 groups: the new one takes 3"
        );
    }

    #[test]
    fn a_leave_moves_only_the_leaving_groups_shards() {
        let three = rebalance(&[0; N_SHARDS], &gids(&[1, 2, 3]));
        let two = rebalance(&three, &gids(&[2, 3]));
        assert_balanced(&two, &gids(&[2, 3]));
        for s in 0..N_SHARDS {
            assert!(
                three[s] == 1 || three[s] == two[s],
                "shard {s} moved needlessly"
            );
        }
    }

    #[test]
    fn more_groups_than_shards_gives_one_shard_each_to_some() {
        let groups: BTreeSet<u64> = (1..=12).collect();
        let shards = rebalance(&[0; N_SHARDS], &groups);
        assert_balanced(&shards, &groups);
        let again = rebalance(&shards, &groups);
        assert_eq!(again, shards, "a balanced assignment stays as it is");
    }

    /// Every replica computes the same assignment: it depends on the arguments alone, not on
    /// the order the groups were joined in.
    #[test]
    fn the_result_depends_only_on_the_arguments() {
        let start = [5, 5, 5, 9, 9, 9, 9, 1, 1, 1];
        let a = rebalance(&start, &[9, 1, 5, 20].into_iter().collect());
        let b = rebalance(&start, &[20, 5, 9, 1].into_iter().collect());
        assert_eq!(a, b);
        assert_balanced(&a, &gids(&[1, 5, 9, 20]));
    }

    /// Over many random joins and leaves, the result is balanced and moves the fewest shards.
    #[test]
    fn random_changes_stay_balanced_and_minimal() {
        let mut shards = [0; N_SHARDS];
        let mut groups = BTreeSet::new();
        for step in 0..2000u64 {
            let gid = rand::random_range(1..15);
            let before = groups.clone();
            if !groups.insert(gid) {
                groups.remove(&gid);
            }
            let next = rebalance(&shards, &groups);
            if !groups.is_empty() {
                assert_balanced(&next, &groups);
                // The fewest moves: the shards no remaining group holds, plus each group's
                // excess over the largest share it may keep.
                let orphans = shards.iter().filter(|g| !groups.contains(g)).count();
                let mut held = counts(&shards, &groups);
                held.sort_unstable_by(|a, b| b.cmp(a));
                let (base, extra) = (N_SHARDS / groups.len(), N_SHARDS % groups.len());
                let excess: usize = held
                    .iter()
                    .enumerate()
                    .map(|(rank, &c)| c.saturating_sub(base + usize::from(rank < extra)))
                    .sum();
                assert_eq!(
                    moved(&shards, &next),
                    orphans + excess,
                    "step {step}: {shards:?} {before:?} -> {groups:?}: {next:?}"
                );
            }
            shards = next;
        }
    }
}
// solution: end rebalance-tests
