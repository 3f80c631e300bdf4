//! PartD: log compaction (§7). `snapshot()` from the service, and the InstallSnapshot RPC of
//! Figure 13: its sender with reply processing, and its handler.
//!
//! The lab sends the whole snapshot in one call. Beyond the lab, with
//! [`Options::snapshot_chunk`](crate::Options::snapshot_chunk), it goes in pieces, as Figure 13
//! has it (`offset`, `data`, `done`): the leader reads each piece from the persister on the
//! sender thread, and the follower writes each to a new snapshot in its persister
//! ([`crate::SnapshotWriter`]: with a disk journal, a file of its own), which replaces the saved
//! one only once the last piece is in, checked and synced. Neither side ever holds the whole
//! snapshot in memory or in one message, so its size has no limit but the disk. A lost piece
//! is sent again from where the follower stands (`next_offset` in the reply), not from the
//! start. `Raft::snapshot_written` is the service's side of the same: a snapshot written to
//! the persister in the background.
//!
//! Threads: `snapshot()` runs on the service's thread (often the one receiving from `apply_ch`);
//! replicators prepare the call, which goes out on a sender thread; the handler runs on a
//! labrpc worker thread. The applier delivers an installed snapshot (`apply.rs`).

use std::sync::Arc;

use parking_lot::MutexGuard;

use crate::logging::rlog;
use crate::peer::Peer;
use crate::persister::{SnapshotWriter, WrittenSnapshot};
use crate::rpc::{InstallSnapshotArgs, InstallSnapshotReply};
use crate::sender::Call;
use crate::state::{RaftState, Role};

/// Leaders, beyond the lab: how far a snapshot sent in pieces has reached a follower.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SnapshotTransfer {
    /// The persister's generation of the snapshot being sent.
    pub generation: u64,
    /// The offset of the next piece to send.
    pub offset: u64,
}

/// Followers, beyond the lab: a snapshot arriving in pieces.
pub(crate) struct Incoming {
    key: IncomingKey,
    writer: SnapshotWriter,
}

/// Which snapshot the pieces belong to. The leader's term is part of it: two servers'
/// snapshots through the same index hold the same state but need not be the same bytes (a
/// `HashMap` encodes in any order), so pieces of one must never continue the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IncomingKey {
    term: u64,
    leader_id: usize,
    last_included_index: u64,
    last_included_term: u64,
}

/// A new snapshot for the persister: bytes (the lab), or written there beforehand.
enum NewSnapshot {
    Bytes(Vec<u8>),
    Written(WrittenSnapshot),
}

impl Peer {
    /// The service has applied through `index` and `data` captures its state: discard the log
    /// through `index` and save state and snapshot together.
    pub(crate) fn snapshot(&self, index: u64, data: Vec<u8>) {
        // solution: begin PartD snapshot
        let mut st = self.state.lock();
        if self.snapshot_acceptable_locked(&st, index) {
            st.log.compact_to(index);
            self.persist_snapshot_locked(&mut st, data);
            rlog!(
                SNAP,
                st,
                "snapshot ..={index}; log ends at {}",
                st.log.last_index()
            );
        }
        // solution: end snapshot
    }

    /// [`Peer::snapshot`] for a snapshot the service wrote to the persister beforehand, in the
    /// background (beyond the lab). Returns whether it was taken.
    pub(crate) fn snapshot_written(&self, index: u64, snapshot: WrittenSnapshot) -> bool {
        let mut st = self.state.lock();
        if !self.snapshot_acceptable_locked(&st, index) {
            return false;
        }
        st.log.compact_to(index);
        let bytes = snapshot.len();
        self.persist_written_snapshot_locked(&mut st, snapshot);
        rlog!(
            SNAP,
            st,
            "snapshot ..={index} written beforehand ({bytes} bytes); log ends at {}",
            st.log.last_index()
        );
        true
    }

    /// Whether the service may snapshot through `index`: past the current snapshot, and no
    /// further than what the applier has handed it.
    fn snapshot_acceptable_locked(&self, st: &RaftState, index: u64) -> bool {
        // solution: begin PartD snapshot-acceptable
        if st.dead {
            return false;
        }
        if index <= st.log.last_included_index() || index > st.last_applied {
            rlog!(
                SNAP,
                st,
                "ignore snapshot at {index}: snapshot ..={}, applied ..={}",
                st.log.last_included_index(),
                st.last_applied
            );
            return false;
        }
        true
        // solution: end snapshot-acceptable
    }

    /// Prepares an InstallSnapshot for `to`, which needs entries the log no longer holds, as a
    /// call for a sender thread: the bytes are read there, with the lock released.
    pub(crate) fn install_snapshot_call_locked(
        self: &Arc<Self>,
        st: &mut RaftState,
        to: usize,
    ) -> Call {
        // solution: begin PartD install-snapshot-call
        // The persister's snapshot is the one through `last_included_index` while we hold the
        // lock; its generation tells the sender thread whether it still is.
        let generation = self.persister.snapshot_generation();
        let transfer = &mut st.progress[to].snapshot;
        if transfer.generation != generation {
            *transfer = SnapshotTransfer {
                generation,
                offset: 0,
            };
        }
        let args = InstallSnapshotArgs {
            term: st.current_term,
            leader_id: st.me,
            last_included_index: st.log.last_included_index(),
            last_included_term: st.log.last_included_term(),
            offset: transfer.offset,
            data: Vec::new(),
            done: false,
        };
        rlog!(
            SNAP,
            st,
            "send S{to} snapshot ..={} from byte {}",
            args.last_included_index,
            args.offset
        );
        self.call_to(to, move |peer| {
            peer.send_install_snapshot(to, args, generation)
        })
        // solution: end install-snapshot-call
    }

    /// Reads the piece of the snapshot that `args` starts, sends it in one InstallSnapshot and
    /// processes the reply, on a sender thread.
    fn send_install_snapshot(&self, to: usize, mut args: InstallSnapshotArgs, generation: u64) {
        // solution: begin PartD send-install-snapshot
        let piece = self.options.snapshot_chunk.unwrap_or(usize::MAX);
        let reply = match self
            .persister
            .read_snapshot_chunk(generation, args.offset, piece)
        {
            Ok(Some(chunk)) => {
                args.done = args.offset + chunk.data.len() as u64 >= chunk.total;
                args.data = chunk.data;
                self.peers[to].call::<_, InstallSnapshotReply>("Raft.InstallSnapshot", &args)
            }
            // Replaced by a newer snapshot since the call was prepared: the next call sends
            // that one.
            Ok(None) => None,
            Err(err) => {
                log::error!(
                    "S{}: cannot read the snapshot to send S{to}: {err}",
                    self.me
                );
                None
            }
        };
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
            self.handle_install_snapshot_reply_locked(&mut st, to, &args, &reply, generation);
        }
        // solution: end send-install-snapshot
    }

    fn handle_install_snapshot_reply_locked(
        &self,
        st: &mut RaftState,
        from: usize,
        args: &InstallSnapshotArgs,
        reply: &InstallSnapshotReply,
        generation: u64,
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
        let p = &mut st.progress[from];
        if !args.done && !reply.covered {
            // Beyond the lab: the next piece, from where the follower stands.
            if p.snapshot.generation == generation {
                p.snapshot.offset = reply.next_offset;
            }
            return;
        }
        // The follower now holds everything through the snapshot.
        p.snapshot = SnapshotTransfer::default();
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
        let mut reply = InstallSnapshotReply {
            term: st.current_term,
            ..InstallSnapshotReply::default()
        };
        // Receiver step 1: reply immediately if term < current_term.
        if args.term < st.current_term {
            return reply;
        }
        self.accept_leader_locked(&mut st, args.leader_id);
        // Not in Figure 13: a snapshot that ends at or before our commit index adds nothing (the
        // log already holds those entries, or a newer snapshot does); installing it would move
        // the service backwards.
        if self.covered_locked(&st, &args) {
            reply.covered = true;
            return reply;
        }
        if args.offset == 0 && args.done {
            // Receiver steps 2-5 collapse: the whole snapshot arrives in one RPC.
            let (index, term) = (args.last_included_index, args.last_included_term);
            self.install_locked(&mut st, index, term, NewSnapshot::Bytes(args.data));
            return reply;
        }
        // Beyond the lab: one piece of many, written with the lock released.
        drop(st);
        self.receive_piece(args, reply)
        // solution: end install-snapshot-handler
    }

    /// Receiver steps 2-5 beyond the lab, for a snapshot in pieces: creates a new snapshot in
    /// the persister at offset 0, writes each piece at its offset, and on the last one
    /// installs it. Runs with Raft's lock released (the pieces go to disk), holding only the
    /// incoming snapshot's own lock; a piece that does not continue the incoming snapshot
    /// changes nothing, and the reply says where to go on from.
    fn receive_piece(
        &self,
        args: InstallSnapshotArgs,
        mut reply: InstallSnapshotReply,
    ) -> InstallSnapshotReply {
        let key = IncomingKey {
            term: args.term,
            leader_id: args.leader_id,
            last_included_index: args.last_included_index,
            last_included_term: args.last_included_term,
        };
        let mut incoming = self.incoming.lock();
        if incoming.as_ref().is_none_or(|i| i.key != key) {
            // Step 2: create a new snapshot file if the first piece (offset 0); a later piece
            // of a snapshot we do not have asks for the first.
            if args.offset != 0 {
                return reply;
            }
            match self.persister.begin_snapshot() {
                Ok(writer) => *incoming = Some(Incoming { key, writer }),
                Err(err) => {
                    log::error!("S{}: cannot receive a snapshot: {err}", self.me);
                    *incoming = None;
                    return reply;
                }
            }
        }
        let Some(current) = incoming.as_mut() else {
            return reply;
        };
        // Step 3: write the data at the offset (a duplicate, or a piece after a gap, is
        // answered with where the snapshot stands).
        if args.offset == current.writer.len()
            && let Err(err) = std::io::Write::write_all(&mut current.writer, &args.data)
        {
            log::error!("S{}: cannot write a snapshot: {err}", self.me);
            *incoming = None;
            return reply;
        }
        reply.next_offset = current.writer.len();
        // Step 4: reply and wait for more pieces if done is false.
        if !args.done || args.offset + args.data.len() as u64 != current.writer.len() {
            return reply;
        }
        let Some(Incoming { writer, .. }) = incoming.take() else {
            return reply;
        };
        drop(incoming);
        // Step 5: save the snapshot file (checked and synced), with no lock held.
        let written = match writer.finish() {
            Ok(written) => written,
            Err(err) => {
                log::error!("S{}: cannot save a received snapshot: {err}", self.me);
                reply.next_offset = 0;
                return reply;
            }
        };
        let mut st = self.state.lock();
        if st.dead {
            return reply;
        }
        // Our log may have moved on while the pieces came in.
        if self.covered_locked(&st, &args) {
            reply.covered = true;
            return reply;
        }
        let (index, term) = (args.last_included_index, args.last_included_term);
        self.install_locked(&mut st, index, term, NewSnapshot::Written(written));
        reply
    }

    /// Whether our commit index already reaches the snapshot's last index.
    fn covered_locked(&self, st: &MutexGuard<'_, RaftState>, args: &InstallSnapshotArgs) -> bool {
        // solution: begin PartD snapshot-covered
        if args.last_included_index <= st.commit_index {
            rlog!(
                SNAP,
                st,
                "ignore snapshot ..={}: committed ..={}",
                args.last_included_index,
                st.commit_index
            );
            return true;
        }
        false
        // solution: end snapshot-covered
    }

    /// Receiver steps 6-8: install the snapshot through `index`, of `term`, and save it.
    fn install_locked(&self, st: &mut RaftState, index: u64, term: u64, snapshot: NewSnapshot) {
        // solution: begin PartD install
        // Steps 6-7: keep a log suffix that follows the snapshot, else discard the log.
        st.log.install_snapshot(index, term);
        st.set_commit_index(index);
        match snapshot {
            NewSnapshot::Bytes(bytes) => self.persist_snapshot_locked(st, bytes),
            NewSnapshot::Written(written) => self.persist_written_snapshot_locked(st, written),
        }
        // Step 8: reset the state machine using the snapshot: the applier hands it to the
        // service before any later command.
        st.snapshot_pending = true;
        self.apply_wake.notify_one();
        rlog!(SNAP, st, "installed snapshot ..={index} of term {term}");
        // solution: end install
    }
}
