//! The Raft handle the service holds: `make`, `start`, `get_state`, `snapshot`, `kill` and
//! `service`, and what it hands the service (`ApplyMsg`). The shared core behind the handle,
//! its lock, condvars and threads, is `Peer` (`peer.rs`).
//!
//! `make` (PartA) restores the persisted state and starts the long-lived threads; `start` (PartB)
//! appends a command and sends it to the followers that have no call awaiting a reply; `kill` stops and joins every long-lived thread.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use labrpc::{ClientEnd, Service};

use crate::apply::run_applier;
use crate::election::run_election_ticker;
use crate::group_commit::run_syncer;
use crate::log::{Entry, Log, LogTail};
use crate::logging::rlog;
use crate::peer::Peer;
use crate::persist::decode_state;
use crate::persister::{Persister, WrittenSnapshot};
use crate::rpc::{AppendEntriesArgs, InstallSnapshotArgs, RequestVoteArgs};
use crate::state::{RaftState, Role};

/// What Raft hands to the service on `apply_ch`, in log order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyMsg {
    /// A committed command at `index`, received by a leader in `term`.
    Command {
        /// The command as passed to [`Raft::start`].
        command: Vec<u8>,
        /// Its log index.
        index: u64,
        /// The term of its entry.
        term: u64,
    },
    /// A snapshot from the leader (PartD): the service replaces its state with it; the next
    /// command applied after it is at `index + 1`.
    Snapshot {
        /// The snapshot, as the leader's service produced it.
        snapshot: Vec<u8>,
        /// The last index it covers.
        index: u64,
        /// The term of that entry.
        term: u64,
    },
}

/// A peer's state at one moment, for displays and debugging tools (not part of the lab's API;
/// the tests use only [`Raft::get_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// `current_term`.
    pub term: u64,
    /// Follower, candidate or leader.
    pub role: Role,
    /// Index of the last entry in the log (or of the snapshot, if the log is empty).
    pub last_log_index: u64,
    /// `commit_index`.
    pub commit_index: u64,
    /// The last index the snapshot covers (0 without one).
    pub snapshot_index: u64,
    /// Leaders: the followers that need the snapshot, being sent to them (not in the lab).
    pub snapshots_sending: usize,
    /// Leaders: the bytes of the snapshot those followers have received so far, summed (with
    /// `Options::snapshot_chunk`; otherwise 0).
    pub snapshot_bytes_sent: u64,
}

/// Switches beyond the lab, for a cluster on real disks and sockets (`realcluster` turns them
/// on). [`Raft::make`] leaves them all off: that is the lab's path, which the tests run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Group commit: [`Raft::start`] appends without saving, and a syncer thread saves
    /// whatever has accumulated in one save (one fsync on a disk); the leader counts itself
    /// towards a majority only for the entries it has saved (`group_commit.rs`).
    pub group_commit: bool,
    /// Pipelined AppendEntries: a leader sends a follower that keeps up new entries at once,
    /// with earlier ones still unanswered, instead of one batch per round trip
    /// (`pipeline.rs`). A follower whose calls are lost gets one per heartbeat until it
    /// answers, not one the moment the last failed.
    pub pipeline: bool,
    /// PreVote (Raft thesis §9.6): a follower whose election timer fires first asks whether
    /// it could win, without raising any term; a server cut off for a while then never
    /// deposes a leader that the others still hear (`pre_vote.rs`).
    pub pre_vote: bool,
    /// CheckQuorum (thesis §6.2): a leader that has not heard from a majority within an
    /// election timeout steps down (`check_quorum.rs`).
    pub check_quorum: bool,
    /// InstallSnapshot in pieces of at most this many bytes (Figure 13's `offset` and `done`),
    /// read from the persister a piece at a time and written by the follower to a new snapshot
    /// that replaces its own only once complete (`snapshot.rs`); a lost piece is sent again
    /// from where the follower stands. `None`: the whole snapshot in one call, as in the lab.
    pub snapshot_chunk: Option<usize>,
    /// An AppendEntries carries at most this many bytes of commands (at least one entry), so
    /// that a follower far behind catches up in calls that each arrive within their deadline
    /// (`batch` in `replication.rs`). `None`: every entry the follower lacks, as in the lab.
    pub append_bytes: Option<usize>,
    /// After a snapshot, keep this much of the log it covers, in memory only, so that a
    /// follower a little behind catches up from the log instead of by the whole snapshot
    /// (`LogTail` in `log.rs`). `None`: the log starts after the snapshot, as in the lab.
    pub log_tail: Option<LogTail>,
    /// An installed snapshot's `ApplyMsg::Snapshot` carries no bytes: the service reads the
    /// snapshot from the persister as it decodes it (`Persister::snapshot_reader`; rsm does),
    /// so that no one holds a snapshot of gigabytes whole in memory (`apply.rs`). It may find a
    /// newer snapshot there than the message's index. `false`: the bytes in the message, as in
    /// the lab.
    pub stream_snapshots: bool,
}

/// A handle on one Raft peer. Clones share the peer.
#[derive(Clone)]
pub struct Raft {
    peer: Arc<Peer>,
}

impl Raft {
    /// Creates a peer: `peers[me]` is this one, `persister` holds what it saved before a crash
    /// (if anything), and committed commands and snapshots go to `apply_ch`. Returns at once;
    /// the peer's threads do the work.
    ///
    /// # Panics
    /// If the persisted state cannot be decoded: starting empty instead could make this peer
    /// vote twice in one term.
    pub fn make(
        peers: Vec<ClientEnd>,
        me: usize,
        persister: Arc<Persister>,
        apply_ch: Sender<ApplyMsg>,
    ) -> Raft {
        Raft::make_with(peers, me, persister, apply_ch, Options::default())
    }

    /// [`Raft::make`] with the switches of `options` (not part of the lab's API).
    ///
    /// # Panics
    /// As [`Raft::make`].
    pub fn make_with(
        peers: Vec<ClientEnd>,
        me: usize,
        persister: Arc<Persister>,
        apply_ch: Sender<ApplyMsg>,
        options: Options,
    ) -> Raft {
        assert!(me < peers.len(), "make: me={me} but {} peers", peers.len());
        crate::deadlock::start_checker();
        let saved = persister.read_raft_state();
        let restored = decode_state(&saved, peers.len()).unwrap_or_else(|err| {
            panic!(
                "S{me}: persisted Raft state ({} bytes) is corrupt: {err}",
                saved.len()
            )
        });
        let mut st = match restored {
            Some(p) => RaftState::new(me, peers.len(), p.current_term, p.voted_for, p.log),
            None => RaftState::new(me, peers.len(), 0, None, Log::new()),
        };
        st.log.keep_tail(options.log_tail);
        rlog!(
            PERS,
            st,
            "started: voted_for={:?} log ..={} snapshot ..={}",
            st.voted_for,
            st.log.last_index(),
            st.log.last_included_index()
        );

        // Dropped by `kill`, which wakes an applier blocked sending on `apply_ch`.
        let (kill_tx, kill_rx): (Sender<()>, Receiver<()>) = crossbeam_channel::bounded(0);
        let peer = Arc::new(Peer::new(peers, persister, st, options, kill_tx));
        peer.spawn_joined(format!("raft{me}-ticker"), run_election_ticker);
        peer.spawn_joined(format!("raft{me}-applier"), move |peer| {
            run_applier(peer, apply_ch, kill_rx)
        });
        if options.group_commit {
            peer.spawn_joined(format!("raft{me}-syncer"), run_syncer);
        }
        Raft { peer }
    }

    /// The labrpc service "Raft" with this peer's RPC handlers: RequestVote, AppendEntries and
    /// InstallSnapshot, and PreVote beyond the lab (`pre_vote.rs`; a peer answers it whether
    /// or not it runs pre-elections itself).
    pub fn service(&self) -> Service {
        let mut service = Service::new("Raft");
        let peer = Arc::clone(&self.peer);
        service.add_method("RequestVote", move |args: RequestVoteArgs| {
            peer.request_vote(args)
        });
        let peer = Arc::clone(&self.peer);
        service.add_method("PreVote", move |args: RequestVoteArgs| peer.pre_vote(args));
        let peer = Arc::clone(&self.peer);
        service.add_method("AppendEntries", move |args: AppendEntriesArgs| {
            peer.append_entries(args)
        });
        let peer = Arc::clone(&self.peer);
        service.add_method("InstallSnapshot", move |args: InstallSnapshotArgs| {
            peer.install_snapshot(args)
        });
        service
    }

    /// Asks the leader to append `command` to the log. Returns `(index, term, true)` at once on the
    /// leader, without waiting for agreement, and `(0, term, false)` on any other peer. Never
    /// blocks on the network.
    pub fn start(&self, command: Vec<u8>) -> (u64, u64, bool) {
        // solution: begin PartB start
        let peer = &self.peer;
        let mut st = peer.state.lock();
        if st.dead || st.role != Role::Leader {
            return (0, st.current_term, false);
        }
        let term = st.current_term;
        let index = st.log.append(Entry { term, command });
        // solution: begin PartC persist-start
        if peer.options.group_commit {
            // The syncer saves it, with whatever else arrives meanwhile (`group_commit.rs`).
            peer.sync_wake.notify_one();
        } else {
            peer.persist_locked(&mut st);
        }
        // solution: end persist-start
        rlog!(LOG1, st, "start: appended {index}");
        // A leader alone in its cluster is its own majority.
        peer.advance_commit_index_locked(&mut st);
        // Send now rather than at the next heartbeat; what accumulates while an RPC is in flight
        // goes out together in the next one.
        peer.replicate_now(&mut st);
        (index, term, true)
        // solution: end start
    }

    /// ReadIndex (Raft thesis §6.4; not part of the lab's API): on the leader, once a majority
    /// has confirmed that it still leads, the commit index as it was when called. A read that
    /// the service answers after applying that far is linearizable, with no log entry. `None`
    /// on any other peer, on a leader that has not yet committed an entry of its own term, and
    /// when no majority answers within an election timeout. Blocks for one exchange of
    /// heartbeats, without the lock (`read_index.rs`).
    pub fn read_index(&self) -> Option<u64> {
        self.peer.read_index()
    }

    /// `(current_term, is_leader)`.
    pub fn get_state(&self) -> (u64, bool) {
        // solution: begin PartA get-state
        let st = self.peer.state.lock();
        (st.current_term, st.role == Role::Leader && !st.dead)
        // solution: end get-state
    }

    /// The peer's term, role, log length, commit index and snapshot index, taken together.
    pub fn status(&self) -> Status {
        let st = self.peer.state.lock();
        // Leaders: the followers that need the snapshot, and how much of it they have.
        let (snapshots_sending, snapshot_bytes_sent) = st
            .progress
            .iter()
            .filter(|p| st.role == Role::Leader && st.log.needs_snapshot(p.next_index))
            .fold((0, 0), |(n, bytes), p| (n + 1, bytes + p.snapshot.offset));
        Status {
            term: st.current_term,
            role: st.role,
            last_log_index: st.log.last_index(),
            commit_index: st.commit_index,
            snapshot_index: st.log.last_included_index(),
            snapshots_sending,
            snapshot_bytes_sent,
        }
    }

    /// The service has applied everything through `index` and `snapshot` captures it: discard the
    /// log through `index` (PartD). Ignored, with a log line, when `index` is at or below the
    /// current snapshot or beyond what the applier has handed to the service.
    pub fn snapshot(&self, index: u64, snapshot: Vec<u8>) {
        self.peer.snapshot(index, snapshot);
    }

    /// [`Raft::snapshot`] for a snapshot the service wrote beforehand, a piece at a time and
    /// with no lock held, to this peer's persister ([`Persister::begin_snapshot`]), so that
    /// neither the snapshot's bytes nor the time to write them stop anything here (not part of
    /// the lab's API). Returns whether it was taken: it is ignored, as `snapshot` ignores one,
    /// at or below the current snapshot or beyond what was applied.
    pub fn snapshot_written(&self, index: u64, snapshot: WrittenSnapshot) -> bool {
        self.peer.snapshot_written(index, snapshot)
    }

    /// Stops the peer: when `kill` returns, the election ticker, the replicators and the applier
    /// have exited and been joined, and nothing more is sent on `apply_ch`. A thread still inside
    /// an RPC call exits when that call returns, without acting on the reply. Harmless to repeat.
    pub fn kill(&self) {
        self.peer.kill();
    }
}

// solution: begin PartB raft-tests
#[cfg(test)]
mod tests {
    use super::*;

    fn ends(net: &labrpc::Network, n: usize) -> Vec<ClientEnd> {
        (0..n).map(|j| net.make_end(&format!("end-{j}"))).collect()
    }

    // solution: begin PartC corrupt-state-test
    /// PartC: a peer never starts empty from state it cannot read; it could vote twice in a term.
    #[test]
    #[should_panic(expected = "persisted Raft state (5 bytes) is corrupt")]
    fn make_panics_on_corrupt_state() {
        let net = labrpc::Network::new();
        let persister = Persister::new();
        persister.save(vec![1, 2, 3, 4, 5], Vec::new());
        let (tx, _rx) = crossbeam_channel::bounded(0);
        Raft::make(ends(&net, 3), 0, Arc::new(persister), tx);
    }
    // solution: end corrupt-state-test

    /// `kill` is prompt even when nobody reads `apply_ch` (the applier is then blocked handing a
    /// command over), every thread of the peer has let go of it when `kill` returns, `kill` may
    /// be repeated, and afterwards the peer refuses commands and sends nothing more.
    #[test]
    fn kill_is_prompt_and_idempotent() {
        let net = labrpc::Network::new();
        let (tx, rx) = crossbeam_channel::bounded(0);
        let rf = Raft::make(ends(&net, 1), 0, Arc::new(Persister::new()), tx);
        // A cluster of one elects itself and commits alone; nobody receives the command.
        let t0 = std::time::Instant::now();
        while !rf.get_state().1 {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(5),
                "no election"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(rf.start(vec![1]).2);
        while rf.peer.state.lock().last_applied < 1 {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(5),
                "not applied"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // The applier has taken the command and waits for a receiver that never comes.
        let t1 = std::time::Instant::now();
        rf.kill();
        rf.kill();
        assert!(t1.elapsed() < std::time::Duration::from_secs(1));
        // Every thread held an `Arc` on the peer; only this handle's is left.
        assert_eq!(
            Arc::strong_count(&rf.peer),
            1,
            "a thread of the peer is still running"
        );
        assert_eq!(
            rx.try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected),
            "the applier must exit, dropping apply_ch, without sending"
        );
        assert!(!rf.start(vec![2]).2);
        net.cleanup();
    }
}
// solution: end raft-tests
