//! PartD: log compaction (§7). `snapshot()` from the service, and the InstallSnapshot RPC of
//! Figure 13: its sender with reply processing, and its handler.
//!
//! Threads: `snapshot()` runs on the service's thread (often the one receiving from `apply_ch`);
//! replicators prepare the call, which goes out on a sender thread; the handler runs on a
//! labrpc worker thread. The applier delivers an installed snapshot (`apply.rs`).

use std::sync::Arc;

use crate::logging::rlog;
use crate::peer::Peer;
use crate::rpc::{InstallSnapshotArgs, InstallSnapshotReply};
use crate::sender::Call;
use crate::state::{RaftState, Role};

impl Peer {
    /// The service has applied through `index` and `data` captures its state: discard the log
    /// through `index` and save state and snapshot together.
    pub(crate) fn snapshot(&self, index: u64, data: Vec<u8>) {
        // solution: begin PartD snapshot
        let mut st = self.state.lock();
        if st.dead {
            return;
        }
        if index <= st.log.last_included_index() || index > st.last_applied {
            rlog!(
                SNAP,
                st,
                "ignore snapshot at {index}: snapshot ..={}, applied ..={}",
                st.log.last_included_index(),
                st.last_applied
            );
            return;
        }
        st.log.compact_to(index);
        st.snapshot = data;
        self.persist_snapshot_locked(&mut st);
        rlog!(
            SNAP,
            st,
            "snapshot ..={index}; log ends at {}",
            st.log.last_index()
        );
        // solution: end snapshot
    }

    /// Prepares the whole snapshot for `to`, which needs entries the log no longer holds, as a
    /// call for a sender thread.
    pub(crate) fn install_snapshot_call_locked(
        self: &Arc<Self>,
        st: &RaftState,
        to: usize,
    ) -> Call {
        // solution: begin PartD install-snapshot-call
        let args = InstallSnapshotArgs {
            term: st.current_term,
            leader_id: st.me,
            last_included_index: st.log.last_included_index(),
            last_included_term: st.log.last_included_term(),
            data: st.snapshot.clone(),
        };
        rlog!(
            SNAP,
            st,
            "send S{to} snapshot ..={}",
            args.last_included_index
        );
        self.call_to(to, move |peer| peer.send_install_snapshot(to, args))
        // solution: end install-snapshot-call
    }

    /// Sends one InstallSnapshot and processes the reply, on a sender thread.
    fn send_install_snapshot(&self, to: usize, args: InstallSnapshotArgs) {
        // solution: begin PartD send-install-snapshot
        let reply: Option<InstallSnapshotReply> =
            self.peers[to].call("Raft.InstallSnapshot", &args);
        let mut st = self.state.lock();
        self.call_finished_locked(&mut st, to);
        if st.dead {
            return;
        }
        if st.current_term == args.term {
            st.progress[to].awaiting_reply = false;
        }
        self.probe_returned_locked(&mut st, to, args.term, reply.is_some());
        if let Some(reply) = reply {
            self.quorum_answered_locked(&mut st, to, args.term, reply.term);
            self.handle_install_snapshot_reply_locked(&mut st, to, &args, &reply);
        }
        // solution: end send-install-snapshot
    }

    fn handle_install_snapshot_reply_locked(
        &self,
        st: &mut RaftState,
        from: usize,
        args: &InstallSnapshotArgs,
        reply: &InstallSnapshotReply,
    ) {
        // solution: begin PartD install-snapshot-reply
        if self.maybe_observe_term_locked(st, reply.term) {
            return;
        }
        if st.current_term != args.term || st.role != Role::Leader {
            rlog!(
                DROP,
                st,
                "stale snapshot reply from S{from} for term {}",
                args.term
            );
            return;
        }
        // The follower now holds everything through the snapshot.
        let p = &mut st.progress[from];
        p.match_index = p.match_index.max(args.last_included_index);
        p.next_index = p.next_index.max(args.last_included_index + 1);
        self.advance_commit_index_locked(st);
        // solution: end install-snapshot-reply
    }

    /// InstallSnapshot RPC handler (Figure 13, "Receiver implementation").
    pub(crate) fn install_snapshot(&self, args: InstallSnapshotArgs) -> InstallSnapshotReply {
        // solution: begin PartD install-snapshot-handler
        let mut st = self.state.lock();
        if st.dead {
            return InstallSnapshotReply::default();
        }
        self.maybe_observe_term_locked(&mut st, args.term);
        let reply = InstallSnapshotReply {
            term: st.current_term,
        };
        // Receiver step 1: reply immediately if term < current_term.
        if args.term < st.current_term {
            return reply;
        }
        self.accept_leader_locked(&mut st, args.leader_id);
        // Not in Figure 13: a snapshot that ends at or before our commit index adds nothing (the
        // log already holds those entries, or a newer snapshot does); installing it would move
        // the service backwards.
        if args.last_included_index <= st.commit_index {
            rlog!(
                SNAP,
                st,
                "ignore snapshot ..={}: committed ..={}",
                args.last_included_index,
                st.commit_index
            );
            return reply;
        }
        // Receiver steps 2-5 collapse: the whole snapshot arrives in one RPC.
        // Receiver steps 6-7: keep a log suffix that follows the snapshot, else discard the log.
        st.log
            .install_snapshot(args.last_included_index, args.last_included_term);
        st.snapshot = args.data;
        st.set_commit_index(args.last_included_index);
        self.persist_snapshot_locked(&mut st);
        // Receiver step 8: reset the state machine using the snapshot: the applier hands it to
        // the service before any later command.
        st.snapshot_pending = true;
        self.apply_wake.notify_one();
        rlog!(
            SNAP,
            st,
            "installed snapshot ..={} from S{}",
            args.last_included_index,
            args.leader_id
        );
        reply
        // solution: end install-snapshot-handler
    }
}
