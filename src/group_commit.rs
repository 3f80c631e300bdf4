//! Beyond the lab: group commit ([`Options::group_commit`], on in the real cluster). The lab's
//! `start` saves the state before it returns, so on a disk every command costs one fsync, taken
//! one after another under the peer's lock. With group commit, `start` only appends; the syncer
//! thread saves whatever has been appended since its last save, in one save. Commands that
//! arrive while it saves wait for the lock and go into its next save together.
//!
//! What keeps this safe is the leader's own entry in the commit rule. Figure 2 asks for entries
//! on stable storage before a server acknowledges them. A follower still saves before it
//! replies, and the leader counts itself towards a majority only up to `saved_index`, the last
//! entry its persister holds (Raft thesis §10.2.1: the leader may write its log in parallel
//! with replicating it). An entry that a crash takes from an unsaved leader was never counted
//! by it. Every other save (a vote, a new term, a snapshot) saves the whole log with it.
//!
//! [`Options::group_commit`]: crate::Options::group_commit

use std::sync::Arc;

use crate::peer::Peer;
use crate::state::{RaftState, Role};

impl Peer {
    /// The index up to which the leader counts itself as holding its log. In the lab `start`
    /// saves before anyone can read this, so that is the log's last index; with group commit
    /// it is the last index saved.
    pub(crate) fn own_match_locked(&self, st: &RaftState) -> u64 {
        if self.options.group_commit {
            st.saved_index.min(st.log.last_index())
        } else {
            st.log.last_index()
        }
    }
}

/// The syncer: saves each batch of entries that `start` appended unsaved, and then lets the
/// leader count them. It sleeps on `sync_wake` until `start` or `kill` wakes it.
pub(crate) fn run_syncer(peer: Arc<Peer>) {
    let mut st = peer.state.lock();
    while !st.dead {
        if st.saved_index < st.log.last_index() {
            peer.persist_locked(&mut st);
            if st.role == Role::Leader {
                peer.advance_commit_index_locked(&mut st);
            }
        } else {
            peer.sync_wake.wait(&mut st);
        }
    }
}
