//! Exactly-once execution: the duplicate table.
//!
//! A clerk retries an operation until some server answers, so the same operation can reach the
//! log more than once: a reply lost on the way back, a leader that committed the entry and then
//! crashed before answering. Each clerk therefore has a random id and numbers its operations
//! 1, 2, 3, ...; it sends one at a time (its methods take `&mut self`), so a replica needs to
//! remember only the last number it applied per clerk.
//!
//! The table lives in the replicated state, not in an RPC handler: every replica applies the
//! same entries, so every replica skips the same duplicates, whichever of them leads next. And
//! it is saved in the snapshot with the data it protects (a pitfall of the lab: a server
//! restored from a snapshot without it applies a retried append twice).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which operation of which clerk: `seq` counts from 1 per clerk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OpId {
    /// The clerk's random id.
    pub clerk: u64,
    /// The operation's number among that clerk's.
    pub seq: u64,
}

/// Clerk id -> the number of the last operation of that clerk this replica applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sessions {
    last_seq: BTreeMap<u64, u64>,
}

impl Sessions {
    /// An empty table.
    pub fn new() -> Sessions {
        Sessions::default()
    }

    /// Whether `id` was applied already (its number is at or below the clerk's last).
    pub fn is_duplicate(&self, id: OpId) -> bool {
        // solution: begin 4A sessions-is-duplicate
        self.last_seq
            .get(&id.clerk)
            .is_some_and(|&last| id.seq <= last)
        // solution: end sessions-is-duplicate
    }

    /// Records `id` as applied. Returns `false`, and changes nothing, if it is a duplicate.
    pub fn record(&mut self, id: OpId) -> bool {
        // solution: begin 4A sessions-record
        if self.is_duplicate(id) {
            return false;
        }
        self.last_seq.insert(id.clerk, id.seq);
        true
        // solution: end sessions-record
    }

    /// The number of clerks the table remembers.
    pub fn len(&self) -> usize {
        self.last_seq.len()
    }

    /// Whether the table remembers no clerk.
    pub fn is_empty(&self) -> bool {
        self.last_seq.is_empty()
    }
}

// solution: begin 4A sessions-tests
#[cfg(test)]
mod tests {
    use super::*;

    fn id(clerk: u64, seq: u64) -> OpId {
        OpId { clerk, seq }
    }

    #[test]
    fn each_operation_is_recorded_once() {
        let mut s = Sessions::new();
        assert!(s.record(id(7, 1)));
        assert!(!s.record(id(7, 1)), "a retry of the same operation");
        assert!(s.record(id(7, 2)));
        assert!(s.is_duplicate(id(7, 1)), "an older operation, delayed");
        assert!(
            !s.is_duplicate(id(8, 1)),
            "another clerk's numbers are its own"
        );
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn the_table_survives_a_snapshot() {
        let mut s = Sessions::new();
        s.record(id(1, 5));
        s.record(id(2, 3));
        let restored: Sessions = labgob::decode(&labgob::encode(&s)).expect("decodes");
        assert_eq!(restored, s);
        assert!(restored.is_duplicate(id(1, 5)));
        assert!(!restored.is_duplicate(id(2, 4)));
    }
}
// solution: end sessions-tests
