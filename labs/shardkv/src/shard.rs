//! A shard as one group holds it: its data, its duplicate table, and its state in the
//! hand-over between groups, with the rule that moves a shard from one state to the next when
//! a configuration is applied. The diagram is `assets/shard-states.svg`.

use std::collections::HashMap;

use rsm::Sessions;
use serde::{Deserialize, Serialize};

/// Where a shard this group holds stands in a hand-over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShardState {
    /// Owned in the applied configuration, its data here: served. The resting state.
    Serving,
    /// Owned in the applied configuration, but its data is still with the group that owned it
    /// in the previous one: not served until it arrives (pitfall: serving a shard before its
    /// data arrived answers Gets with nothing and loses the earlier writes).
    Pulling,
    /// Owned by another group in the applied configuration; the data stays here, frozen, until
    /// the new owner has it (pitfall: deleting it sooner loses it if the transfer fails).
    HandingOff,
    /// Arrived and served, but the previous owner still holds its copy: garbage, which this
    /// group's leader asks it to delete (challenge 1) before the shard is `Serving` again.
    Collecting,
}

impl ShardState {
    /// Whether client operations on the shard are served: as soon as its data is here, not
    /// only once the whole configuration change is over (challenge 2).
    pub fn serves(self) -> bool {
        matches!(self, ShardState::Serving | ShardState::Collecting)
    }
}

/// A shard's data and the duplicate table of the operations applied to it: they move between
/// groups together (pitfall: a shard that arrives without its table applies a retried append
/// twice, if the first copy was applied by the old owner).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardData {
    /// Key -> value.
    pub kv: HashMap<String, String>,
    /// Clerk -> the last of its operations applied to this shard.
    pub sessions: Sessions,
}

/// One shard this group holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Its place in the hand-over.
    pub state: ShardState,
    /// Its data (empty while `Pulling`).
    pub data: ShardData,
}

/// What applying the next configuration does to a shard that group `gid` served (or not)
/// before: `was` and `now` are the shard's gids in the two configurations.
///
/// A configuration is applied only when every shard the group holds is `Serving`, so the
/// starting state is that one (or not holding the shard at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing to do: the group keeps serving it, or never had it.
    Unchanged,
    /// Newly created (nobody owned it): served at once, empty.
    Create,
    /// Arriving from group `from`: `Pulling`.
    Pull {
        /// The previous owner.
        from: u64,
    },
    /// Leaving to another group: `HandingOff`.
    HandOff,
}

/// The [`Change`] for one shard: `gid` is this group, `was` and `now` its owners in the
/// applied configuration and the next.
pub fn change(gid: u64, was: u64, now: u64) -> Change {
    // solution: begin 5B shard-change
    match (was == gid, now == gid) {
        (false, true) if was == 0 => Change::Create,
        (false, true) => Change::Pull { from: was },
        (true, false) => Change::HandOff,
        _ => Change::Unchanged,
    }
    // solution: end shard-change
}

// solution: begin 5B shard-change-tests
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_of_nobody_is_created_here() {
        assert_eq!(change(7, 0, 7), Change::Create);
    }

    #[test]
    fn a_shard_of_another_group_is_pulled_from_it() {
        assert_eq!(change(7, 3, 7), Change::Pull { from: 3 });
    }

    #[test]
    fn a_shard_given_away_is_handed_off() {
        assert_eq!(change(7, 7, 3), Change::HandOff);
    }

    #[test]
    fn a_shard_that_stays_is_untouched() {
        assert_eq!(change(7, 7, 7), Change::Unchanged);
        assert_eq!(
            change(7, 3, 4),
            Change::Unchanged,
            "between two other groups"
        );
        assert_eq!(change(7, 0, 3), Change::Unchanged);
    }

    #[test]
    fn only_shards_whose_data_is_here_are_served() {
        assert!(ShardState::Serving.serves());
        assert!(
            ShardState::Collecting.serves(),
            "challenge 2: served on arrival"
        );
        assert!(!ShardState::Pulling.serves());
        assert!(!ShardState::HandingOff.serves());
    }
}
// solution: end shard-change-tests
