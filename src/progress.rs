//! What a peer keeps about each of the others: Figure 2's `next_index[]` and `match_index[]`,
//! and the bookkeeping around them, one [`Progress`] record per peer (etcd's raft calls it the
//! same; hashicorp's raft, `followerReplication`).
//!
//! The records are keyed by peer id in a [`ProgressMap`], which holds every peer but this one:
//! `st.progress[to].next_index` is Figure 2's `nextIndex[to]`. A leader reinitializes the
//! records when it wins an election ([`Progress::reset`]); a candidate uses them to count its
//! votes. Each mechanism beyond Figure 2 keeps its own part of the record, as a type of its own
//! file: the sender slots (`sender.rs`), pipelining (`pipeline.rs`), ReadIndex rounds
//! (`read_index.rs`), pre-votes (`pre_vote.rs`), CheckQuorum (`check_quorum.rs`) and snapshots sent
//! in pieces (`snapshot.rs`).

use std::collections::BTreeMap;
use std::ops::{Index, IndexMut};
use std::time::Instant;

use crate::pipeline::Pipeline;
use crate::read_index::ReadRounds;
use crate::sender::SenderSlots;
use crate::snapshot::SnapshotTransfer;

/// What this peer knows of one other peer.
#[derive(Debug)]
pub(crate) struct Progress {
    // Volatile state on leaders (Figure 2), reinitialized after election.
    /// Index of the next log entry to send to it.
    pub next_index: u64,
    /// Index of the highest log entry known to be replicated on it.
    pub match_index: u64,

    // Not in Figure 2: the lab's bookkeeping.
    /// Candidates: whether it granted its vote in `current_term`.
    pub vote_granted: bool,
    /// Leaders: an AppendEntries or InstallSnapshot sent to it in this term has not returned
    /// yet. New entries wait for it and go out together in the next call (`replication.rs`).
    pub awaiting_reply: bool,
    /// Leaders: when it is next owed a heartbeat.
    pub heartbeat_due: Instant,
    /// Leaders: the `leader_commit` last sent to it.
    pub commit_sent: u64,
    /// Leaders: when its replicator, asleep, wakes by itself; `None` while the replicator is
    /// awake or waits for a free sender. A reply that leaves it owed nothing sooner need not
    /// wake it (`after_call` in `replication.rs`).
    pub replicator_wakes_at: Option<Instant>,
    /// The calls to it in flight and the threads that make them, for the peer's whole life
    /// ([`Progress::reset`] leaves them).
    pub senders: SenderSlots,

    // Beyond the lab, each lever's own (off in the lab: their fields stay at rest).
    /// Pipelined AppendEntries: whether it is replicating or being probed.
    pub pipeline: Pipeline,
    /// ReadIndex: the rounds sent to it and acknowledged by it.
    pub read: ReadRounds,
    /// PreVote: whether it said yes in the pre-election running (`pre_vote.rs`).
    pub pre_vote_granted: bool,
    /// CheckQuorum, leaders: whether it answered a call in the current period
    /// (`check_quorum.rs`).
    pub recent_active: bool,
    /// InstallSnapshot in pieces, leaders: how far the snapshot has reached it (`snapshot.rs`).
    pub snapshot: SnapshotTransfer,
}

impl Progress {
    fn new(now: Instant) -> Progress {
        Progress {
            next_index: 0,
            match_index: 0,
            vote_granted: false,
            awaiting_reply: false,
            heartbeat_due: now,
            commit_sent: 0,
            replicator_wakes_at: None,
            senders: SenderSlots::default(),
            pipeline: Pipeline::default(),
            read: ReadRounds::default(),
            pre_vote_granted: false,
            recent_active: false,
            snapshot: SnapshotTransfer::default(),
        }
    }

    /// A new leader's view of a follower (Figure 2: `next_index` is the leader's last log
    /// index plus one, `match_index` 0), owed a heartbeat at `now`, with every lever's state
    /// back at rest. The sender slots stay: their calls may still be in flight from an earlier
    /// term.
    pub fn reset(&mut self, next_index: u64, now: Instant) {
        *self = Progress {
            senders: std::mem::take(&mut self.senders),
            next_index,
            ..Progress::new(now)
        };
    }
}

/// One [`Progress`] per other peer, keyed by its id; indexing with an id that is not a member
/// is a bug and panics.
#[derive(Debug)]
pub(crate) struct ProgressMap {
    peers: BTreeMap<usize, Progress>,
}

impl ProgressMap {
    /// The records of a cluster of peers `0..n`, `me` among them (and left out).
    pub fn new(me: usize, n: usize, now: Instant) -> ProgressMap {
        ProgressMap {
            peers: (0..n)
                .filter(|&id| id != me)
                .map(|id| (id, Progress::new(now)))
                .collect(),
        }
    }

    /// The number of other peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// The other peers' ids, in order.
    pub fn ids(&self) -> impl Iterator<Item = usize> + '_ {
        self.peers.keys().copied()
    }

    /// Each other peer's record, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Progress> {
        self.peers.values()
    }

    /// Each other peer's record, mutably, in id order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Progress> {
        self.peers.values_mut()
    }
}

impl Index<usize> for ProgressMap {
    type Output = Progress;

    fn index(&self, id: usize) -> &Progress {
        self.peers
            .get(&id)
            .unwrap_or_else(|| panic!("S{id} is not another member"))
    }
}

impl IndexMut<usize> for ProgressMap {
    fn index_mut(&mut self, id: usize) -> &mut Progress {
        self.peers
            .get_mut(&id)
            .unwrap_or_else(|| panic!("S{id} is not another member"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_other_peer_has_a_record() {
        let progress = ProgressMap::new(1, 4, Instant::now());
        assert_eq!(progress.len(), 3);
        assert_eq!(progress.ids().collect::<Vec<_>>(), [0, 2, 3]);
    }

    #[test]
    #[should_panic(expected = "S1 is not another member")]
    fn a_peer_has_no_record_of_itself() {
        let progress = ProgressMap::new(1, 3, Instant::now());
        let _ = progress[1].next_index;
    }

    /// A new term's leader starts each follower afresh but keeps the calls still in flight.
    #[test]
    fn reset_keeps_only_the_sender_slots() {
        let t0 = Instant::now();
        let mut p = Progress::new(t0);
        p.match_index = 7;
        p.vote_granted = true;
        p.awaiting_reply = true;
        p.commit_sent = 5;
        p.pipeline.replicating_term = 3;
        p.read.acked = 2;
        p.pipeline.paused = true;
        p.recent_active = true;
        assert_eq!(p.senders.claim(), Some(1));
        let later = t0 + std::time::Duration::from_secs(1);
        p.reset(9, later);
        assert_eq!((p.next_index, p.match_index), (9, 0));
        assert!(!p.vote_granted && !p.awaiting_reply);
        assert_eq!((p.heartbeat_due, p.commit_sent), (later, 0));
        assert_eq!(p.pipeline.replicating_term, 0);
        assert!(!p.pipeline.paused && !p.recent_active);
        assert_eq!((p.read.sent, p.read.acked), (0, 0));
        assert_eq!(p.senders.claim(), Some(2), "the first call is still out");
    }
}
