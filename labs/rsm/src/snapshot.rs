//! What the layer saves as the service's snapshot, and when it takes one.
//!
//! The snapshot is the labgob encoding of `(last_applied, machine)`: the whole state machine
//! (its data and its duplicate table) and the index of the last entry applied to it. Raft keeps
//! the bytes opaque; the index is inside them so that a restarted server knows where the log
//! it replays resumes, and so that an installed snapshot older than the applied state can be
//! recognised and refused (a pitfall of the lab).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The snapshot of `machine` after applying every entry up to `last_applied`.
pub fn encode<S: Serialize>(last_applied: u64, machine: &S) -> Vec<u8> {
    labgob::encode(&(last_applied, machine))
}

/// The index and the state machine in a snapshot made by [`encode`].
pub fn decode<S: DeserializeOwned>(bytes: &[u8]) -> Result<(u64, S), labgob::DecodeError> {
    labgob::decode(bytes)
}

/// [`decode`] from the `len` bytes of `reader`, decoded as they are read.
pub fn decode_from<S: DeserializeOwned>(
    reader: impl std::io::Read,
    len: u64,
) -> Result<(u64, S), labgob::DecodeError> {
    labgob::decode_from(reader, len)
}

/// Whether a snapshot is due: the persisted Raft state has reached `maxraftstate` bytes.
/// `None` never snapshots (Go's `maxraftstate == -1`).
pub fn is_due(raft_state_size: usize, maxraftstate: Option<usize>) -> bool {
    // solution: begin 4B snapshot-is-due
    maxraftstate.is_some_and(|max| raft_state_size >= max)
    // solution: end snapshot-is-due
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_snapshot_holds_the_index_and_the_machine() {
        let machine = BTreeMap::from([("x".to_string(), "1".to_string())]);
        let bytes = encode(42, &machine);
        let (index, back): (u64, BTreeMap<String, String>) = decode(&bytes).expect("decodes");
        assert_eq!((index, back), (42, machine));
    }

    #[test]
    fn a_torn_snapshot_is_an_error() {
        let bytes = encode(42, &"some state".to_string());
        assert!(decode::<String>(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode::<String>(&[]).is_err());
    }

    // solution: begin 4B snapshot-is-due-test
    #[test]
    fn a_snapshot_is_due_at_maxraftstate() {
        assert!(!is_due(999, Some(1000)));
        assert!(is_due(1000, Some(1000)));
        assert!(!is_due(usize::MAX, None), "None never snapshots");
    }
    // solution: end snapshot-is-due-test
}
