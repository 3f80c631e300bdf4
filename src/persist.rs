//! PartC: the encoding of Figure 2's persistent state (`current_term`, `voted_for`, `log`), and
//! the two ways a peer saves it: `persist_locked` after the state changed, and
//! `persist_snapshot_locked` after the snapshot changed too (PartD), which saves both in one
//! atomic `Persister::save`.
//!
//! Both run with the peer's lock held, right after the change and before the lock is released,
//! so no other peer can observe a change that a crash would undo (Figure 2: "updated on stable
//! storage before responding to RPCs").
//!
//! The lab's `persist()` encodes everything on every change, a cost that grows with the log; here
//! the log knows where each entry's encoding starts and what the last save holds (`log.rs`), and
//! `persist_locked` encodes and hands the persister only what changed since the last save: the
//! header, and the entries from the first one that changed.

use serde::{Deserialize, Serialize};

use crate::log::Log;
use crate::peer::Peer;
use crate::state::RaftState;

// solution: begin PartC persist-header
/// What a peer persists ahead of the log's entries: the labgob encoding of these fields,
/// followed by the entries the log keeps encoded, is the encoding of [`PersistentState`].
#[derive(Serialize)]
struct Header {
    current_term: u64,
    voted_for: Option<usize>,
    // The log's fields (`StoredLog`), up to the entries' length.
    last_included_index: u64,
    last_included_term: u64,
    entries: u64,
}

/// Encodes `st`'s [`Header`].
fn encode_header(st: &RaftState) -> Vec<u8> {
    labgob::encode(&Header {
        current_term: st.current_term,
        voted_for: st.voted_for,
        last_included_index: st.log.last_included_index(),
        last_included_term: st.log.last_included_term(),
        entries: st.log.len(),
    })
}
// solution: end persist-header

/// Figure 2's persistent state, as restored by `Raft::make`.
#[derive(Debug, Deserialize)]
pub(crate) struct PersistentState {
    pub current_term: u64,
    pub voted_for: Option<usize>,
    pub log: Log,
}

/// Encodes the persistent part of `st` with labgob: the header, then the entries.
pub(crate) fn encode_state(st: &RaftState) -> Vec<u8> {
    // solution: begin PartC encode-state
    let mut bytes = encode_header(st);
    bytes.extend(st.log.encode_entries());
    bytes
    // solution: end encode-state
}

/// Decodes and checks state saved by `encode_state` for a cluster of `peers` peers. `Ok(None)`
/// means nothing was ever saved: a fresh peer.
pub(crate) fn decode_state(bytes: &[u8], peers: usize) -> Result<Option<PersistentState>, String> {
    // solution: begin PartC decode-state
    if bytes.is_empty() {
        return Ok(None);
    }
    let state: PersistentState = labgob::decode(bytes).map_err(|err| err.to_string())?;
    if let Some(candidate) = state.voted_for
        && candidate >= peers
    {
        return Err(format!(
            "voted_for {candidate} is not one of the {peers} peers"
        ));
    }
    if state.log.last_included_term() > state.current_term {
        return Err(format!(
            "snapshot term {} is after the current term {}",
            state.log.last_included_term(),
            state.current_term
        ));
    }
    state.log.validate(state.current_term)?;
    Ok(Some(state))
    // solution: end decode-state
}

impl Peer {
    /// Saves the persistent state; the saved snapshot stays as it is.
    pub(crate) fn persist_locked(&self, st: &mut RaftState) {
        // solution: begin PartC persist
        save_state(&self.persister, st);
        crate::logging::rlog!(
            PERS,
            st,
            "saved voted_for={:?} log ..={} ({} bytes)",
            st.voted_for,
            st.log.last_index(),
            self.persister.raft_state_size()
        );
        // solution: end persist
        st.saved_index = st.log.last_index();
    }

    /// Saves the persistent state and the new `snapshot` in one atomic `save`: a crash must
    /// never find the new snapshot beside the old log, or the reverse.
    pub(crate) fn persist_snapshot_locked(&self, st: &mut RaftState, snapshot: Vec<u8>) {
        // solution: begin PartD persist-snapshot
        self.persister.save(encode_state(st), snapshot);
        self.snapshot_saved_locked(st);
        // solution: end persist-snapshot
    }

    /// [`Peer::persist_snapshot_locked`] for a snapshot written a piece at a time beforehand
    /// (beyond the lab: `Raft::snapshot_written`, and InstallSnapshot in chunks).
    pub(crate) fn persist_written_snapshot_locked(
        &self,
        st: &mut RaftState,
        snapshot: crate::WrittenSnapshot,
    ) {
        self.persister
            .save_with_written_snapshot(encode_state(st), snapshot);
        self.snapshot_saved_locked(st);
    }

    /// What follows saving a new snapshot with the state.
    fn snapshot_saved_locked(&self, st: &mut RaftState) {
        // solution: begin PartD snapshot-saved
        st.log.forget_saved();
        crate::logging::rlog!(
            PERS,
            st,
            "saved log ..={} with a snapshot ..={} ({} + {} bytes)",
            st.log.last_index(),
            st.log.last_included_index(),
            self.persister.raft_state_size(),
            self.persister.snapshot_size()
        );
        // solution: end snapshot-saved
        st.saved_index = st.log.last_index();
    }
}

// solution: begin PartC persist-incremental
/// Saves `st` in parts: its header, and the log's encoding after the prefix that the last save
/// holds unchanged. The persister then holds exactly `encode_state(st)`.
fn save_state(persister: &crate::Persister, st: &mut RaftState) {
    let head = encode_header(st);
    let (keep, tail) = st.log.take_unsaved();
    persister.save_raft_state_in_parts(&head, keep, &tail);
}
// solution: end persist-incremental

// solution: begin PartC persist-tests
#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Entry;

    fn state_with(term: u64, voted_for: Option<usize>, entry_terms: &[u64]) -> RaftState {
        let mut log = Log::new();
        for &t in entry_terms {
            log.append(Entry {
                term: t,
                command: vec![7; 3],
            });
        }
        RaftState::new(0, 3, term, voted_for, log)
    }

    #[test]
    fn round_trip() {
        let st = state_with(4, Some(2), &[1, 1, 4]);
        let back = decode_state(&encode_state(&st), 3)
            .expect("decodes")
            .expect("not empty");
        assert_eq!(back.current_term, 4);
        assert_eq!(back.voted_for, Some(2));
        assert_eq!(back.log, st.log);
    }

    // solution: begin PartD persist-test-compaction
    /// The header plus the encoding of the log's entries is exactly labgob's encoding of the
    /// state, after every kind of change to the log.
    #[test]
    fn encoding_matches_labgob_of_the_whole_state() {
        #[derive(Serialize)]
        struct Whole {
            current_term: u64,
            voted_for: Option<usize>,
            log: crate::log::StoredLog,
        }
        let whole = |st: &RaftState| {
            let stored = crate::log::StoredLog {
                last_included_index: st.log.last_included_index(),
                last_included_term: st.log.last_included_term(),
                entries: st
                    .log
                    .entries_from(st.log.last_included_index() + 1)
                    .to_vec(),
            };
            labgob::encode(&Whole {
                current_term: st.current_term,
                voted_for: st.voted_for,
                log: stored,
            })
        };
        let mut st = state_with(5, Some(1), &[1, 1, 2, 3, 3, 4]);
        assert_eq!(encode_state(&st), whole(&st));
        let entry = |term| Entry {
            term,
            command: vec![term as u8; term as usize],
        };
        st.log.merge(3, &[entry(5)], 0); // truncates 4..=6, appends one
        assert_eq!(encode_state(&st), whole(&st));
        st.log.compact_to(2);
        assert_eq!(encode_state(&st), whole(&st));
        st.log.install_snapshot(3, 2); // matches: the entry after it stays
        assert_eq!(encode_state(&st), whole(&st));
        st.log.install_snapshot(9, 5); // past the end: everything goes
        st.voted_for = None;
        assert_eq!(encode_state(&st), whole(&st));
        st.log.append(entry(5));
        let back = decode_state(&encode_state(&st), 3).unwrap().unwrap();
        assert_eq!(back.log, st.log);
    }
    // solution: end persist-test-compaction

    // solution: begin PartD persist-test-incremental
    /// After every kind of change to the log, and after a whole `save`, what an incremental
    /// save leaves in the persister is exactly the whole encoding.
    #[test]
    fn incremental_saves_hold_the_whole_encoding() {
        let persister = crate::Persister::new();
        let mut st = state_with(2, Some(0), &[1, 1, 2]);
        let entry = |term| Entry {
            term,
            command: vec![term as u8; 2 + term as usize],
        };
        let check = |st: &mut RaftState, what: &str| {
            save_state(&persister, st);
            assert_eq!(
                persister.read_raft_state(),
                encode_state(st),
                "after {what}"
            );
        };
        check(&mut st, "the first save");
        st.log.append(entry(2));
        st.voted_for = None; // the header changes length
        check(&mut st, "an append");
        check(&mut st, "no change");
        st.log.merge(2, &[entry(3)], 0); // truncates 3..=4, appends one
        st.current_term = 3;
        check(&mut st, "a truncation");
        st.log.merge(1, &[entry(1)], 0); // matches: no change
        st.log.append(entry(3));
        check(&mut st, "a merge that only matched");
        st.log.compact_to(2);
        check(&mut st, "a compaction");
        persister.save(encode_state(&st), vec![7]);
        st.log.forget_saved();
        st.log.append(entry(3));
        check(&mut st, "a whole save");
        st.log.install_snapshot(4, 3);
        check(&mut st, "an installed snapshot that keeps a suffix");
        st.log.install_snapshot(9, 3);
        check(&mut st, "an installed snapshot that empties the log");
        assert_eq!(
            persister.read_snapshot(),
            vec![7],
            "incremental saves keep the snapshot"
        );
        let back = decode_state(&persister.read_raft_state(), 3)
            .unwrap()
            .unwrap();
        assert_eq!(back.log, st.log);
    }
    // solution: end persist-test-incremental

    #[test]
    fn empty_state_is_a_fresh_peer() {
        assert!(decode_state(&[], 3).expect("empty is fine").is_none());
    }

    /// A corrupt state must be an error, never a silent fresh start that could vote twice.
    #[test]
    fn corrupt_state_is_an_error() {
        let bytes = encode_state(&state_with(4, Some(2), &[1, 4]));
        assert!(
            decode_state(&bytes[..bytes.len() - 1], 3).is_err(),
            "truncated"
        );
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(decode_state(&trailing, 3).is_err(), "trailing bytes");
        assert!(decode_state(&[0xff; 5], 3).is_err(), "garbage");
        let err = decode_state(&encode_state(&state_with(4, Some(5), &[])), 3).unwrap_err();
        assert!(err.contains("voted_for 5"), "{err}");
        let err = decode_state(&encode_state(&state_with(2, None, &[1, 3])), 3).unwrap_err();
        assert!(err.contains("term 3"), "{err}");
    }
}
// solution: end persist-tests
