//! The state one peer keeps under its lock, laid out as Figure 2's "State" box, and the three
//! role transitions (PartA).
//!
//! Every function here ends in `_locked` and takes `&mut RaftState`: the caller holds the peer's
//! mutex, and the borrow proves it. None of them sleeps, calls labrpc, sends on `apply_ch` or joins
//! a thread. `become_follower_locked`, `become_candidate_locked` and `become_leader_locked` are the
//! only writers of `role`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngExt;

use crate::log::Log;
use crate::logging::rlog;
use crate::raft::Peer;
use crate::replication::run_replicator;

/// How often a leader sends AppendEntries to each follower when it has nothing new to say. The lab
/// allows at most ten heartbeats per second; eight keeps the RPC counts of the idle tests low.
pub(crate) const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(125);

/// How long a leader lets a new commit index wait for an AppendEntries to carry it (entries or a
/// heartbeat) before it sends one for the commit index alone (`replication.rs`).
pub(crate) const COMMIT_DELAY: Duration = Duration::from_millis(10);

/// Election timeouts are drawn uniformly from this range (ms). The lab asks for more than the
/// paper's 150-300 ms because heartbeats are slower; a range wider than the RPC latency many times
/// over makes split votes rare (§5.2), which keeps the first election within `count_part_b`'s
/// budget of 30 RPCs.
const ELECTION_TIMEOUT_MS: std::ops::Range<u64> = 400..800;

/// The role a peer plays in its current term (§5.2, Figure 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Answers leaders and candidates; stands for election when its timer fires.
    Follower,
    /// Stands for election in its current term.
    Candidate,
    /// Replicates its log to the others for its term.
    Leader,
}

/// `follower`, `candidate` or `leader`, padded as asked (`{:<10}`).
impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        })
    }
}

/// Everything a peer protects with its one mutex.
#[derive(Debug)]
pub(crate) struct RaftState {
    // Persistent state on all servers (Figure 2): saved by `persist_locked` before any change to it
    // can be observed by another peer.
    /// Latest term this peer has seen.
    pub current_term: u64,
    /// Candidate that received this peer's vote in `current_term`, if any.
    pub voted_for: Option<usize>,
    /// The log, with the snapshot offset of Figure 13.
    pub log: Log,

    // Volatile state on all servers (Figure 2).
    /// Index of the highest log entry known to be committed.
    pub commit_index: u64,
    /// Index of the highest entry handed to the applier (it sends them on `apply_ch`).
    pub last_applied: u64,

    // Volatile state on leaders (Figure 2), reinitialized after election.
    /// For each peer, index of the next log entry to send to it.
    pub next_index: Vec<u64>,
    /// For each peer, index of the highest entry known to be replicated on it.
    pub match_index: Vec<u64>,

    // Not in Figure 2: bookkeeping.
    /// This peer's index in `peers`.
    pub me: usize,
    /// Follower, candidate or leader; written only by the `become_*_locked` functions.
    pub role: Role,
    /// When the election ticker starts an election unless something resets it first.
    pub election_deadline: Instant,
    /// Candidates: which peers granted their vote in `current_term`.
    pub votes: Vec<bool>,
    /// Leaders: whether an RPC to each peer is awaiting its reply (batches new entries).
    pub in_flight: Vec<bool>,
    /// Per peer: calls handed to its senders that have not returned yet (`sender.rs`).
    pub calls_in_flight: Vec<usize>,
    /// Per peer: sender threads started for it, at most `MAX_IN_FLIGHT`.
    pub sender_threads: Vec<usize>,
    /// Leaders: when each peer is next owed a heartbeat.
    pub heartbeat_due: Vec<Instant>,
    /// Leaders: the `leader_commit` last sent to each peer.
    pub commit_sent: Vec<u64>,
    /// Leaders: when `commit_index` last advanced.
    pub commit_advanced_at: Instant,
    /// The last log index the persister holds (group commit: `start` appends unsaved, and the
    /// leader counts itself only up to here).
    pub saved_index: u64,
    /// Leaders: the last ReadIndex round asked for (`read_index.rs`); only grows.
    pub read_round: u64,
    /// Leaders: per peer, the round the last AppendEntries sent to it carried.
    pub round_sent: Vec<u64>,
    /// Leaders: per peer, the highest round it acknowledged as this term's follower.
    pub round_acked: Vec<u64>,
    /// Leaders: per peer, the term in which it last accepted an AppendEntries, 0 after a
    /// rejection or a lost call (pipelining sends more only to a follower of this term).
    pub replicating_term: Vec<u64>,
    /// The service's latest snapshot; saved with the state by `persist_snapshot_locked`.
    pub snapshot: Vec<u8>,
    /// An installed snapshot the applier has yet to hand to the service (PartD).
    pub snapshot_pending: bool,
    /// Set by `kill`; every thread exits when it sees it.
    pub dead: bool,
}

impl RaftState {
    /// The state of a peer that restored `log` and friends from its persister.
    pub fn new(
        me: usize,
        peers: usize,
        current_term: u64,
        voted_for: Option<usize>,
        log: Log,
    ) -> RaftState {
        let snapshot_index = log.last_included_index();
        let log_last = log.last_index();
        let now = Instant::now();
        RaftState {
            current_term,
            voted_for,
            log,
            // The service restores the snapshot itself (`read_snapshot`), so it starts from there.
            commit_index: snapshot_index,
            last_applied: snapshot_index,
            next_index: vec![0; peers],
            match_index: vec![0; peers],
            me,
            role: Role::Follower,
            election_deadline: now + random_election_timeout(),
            votes: vec![false; peers],
            in_flight: vec![false; peers],
            calls_in_flight: vec![0; peers],
            sender_threads: vec![0; peers],
            heartbeat_due: vec![now; peers],
            commit_sent: vec![0; peers],
            commit_advanced_at: now,
            saved_index: log_last,
            read_round: 0,
            round_sent: vec![0; peers],
            round_acked: vec![0; peers],
            replicating_term: vec![0; peers],
            snapshot: Vec::new(),
            snapshot_pending: false,
            dead: false,
        }
    }

    /// The number of peers, this one included.
    pub fn peers(&self) -> usize {
        self.match_index.len()
    }

    /// Raises `commit_index` to `commit`, which never moves back and never passes the log's end.
    pub fn set_commit_index(&mut self, commit: u64) {
        debug_assert!(
            commit >= self.commit_index && commit <= self.log.last_index(),
            "S{}: commit_index {} -> {commit} with the log ending at {}",
            self.me,
            self.commit_index,
            self.log.last_index()
        );
        self.commit_index = commit;
    }

    /// Starts a fresh election timeout. Students' guide: reset it only when granting a vote, on
    /// AppendEntries (or InstallSnapshot) from the current leader, and when starting an election.
    pub fn reset_election_timer(&mut self) {
        self.election_deadline = Instant::now() + random_election_timeout();
    }
}

/// A fresh randomized election timeout (§5.2).
pub(crate) fn random_election_timeout() -> Duration {
    Duration::from_millis(rand::rng().random_range(ELECTION_TIMEOUT_MS))
}

impl Peer {
    /// Rules for Servers, all servers (Figure 2, §5.1): if an RPC request or response contains
    /// term T > `current_term`, set `current_term` = T and convert to follower. Called first thing
    /// in every handler and every reply path; returns whether it stepped down to a newer term.
    pub(crate) fn maybe_observe_term_locked(&self, st: &mut RaftState, term: u64) -> bool {
        // solution: begin PartA observe-term
        if term <= st.current_term {
            return false;
        }
        rlog!(
            TERM,
            st,
            "saw term {term}, stepping down from {:?}",
            st.role
        );
        self.become_follower_locked(st, term);
        true
        // solution: end observe-term
    }

    /// Becomes a follower in `term` (at least `current_term`). A newer term clears the vote.
    /// Does not reset the election timer (students' guide).
    pub(crate) fn become_follower_locked(&self, st: &mut RaftState, term: u64) {
        // solution: begin PartA become-follower
        assert!(
            term >= st.current_term,
            "S{}: become_follower({term}) behind current term {}",
            st.me,
            st.current_term
        );
        let was = st.role;
        st.role = Role::Follower;
        if term > st.current_term {
            st.current_term = term;
            st.voted_for = None;
            // solution: begin PartC persist-term
            self.persist_locked(st);
            // solution: end persist-term
        }
        if was == Role::Leader {
            // Wake the replicators of the old term so they see it is over and exit.
            self.wake_replicators();
        }
        // solution: end become-follower
    }

    /// Rules for Servers, candidates (Figure 2, §5.2): on conversion to candidate, increment
    /// `current_term`, vote for self, reset the election timer.
    ///
    /// # Panics
    /// On an invalid transition: a leader never becomes a candidate.
    pub(crate) fn become_candidate_locked(&self, st: &mut RaftState) {
        // solution: begin PartA become-candidate
        assert!(
            st.role != Role::Leader,
            "S{}: invalid transition [leader -> candidate] in term {}",
            st.me,
            st.current_term
        );
        st.role = Role::Candidate;
        st.current_term += 1;
        st.voted_for = Some(st.me);
        st.votes.fill(false);
        st.votes[st.me] = true;
        st.reset_election_timer();
        // solution: begin PartC persist-candidate
        self.persist_locked(st);
        // solution: end persist-candidate
        // solution: end become-candidate
    }

    /// Becomes leader of `current_term`: reinitialize `next_index` and `match_index` (Figure 2).
    /// The caller then starts the term's replicators with [`Peer::start_replicators`], once it
    /// has released the lock.
    ///
    /// Not in the paper's §8: no no-op entry is appended on election, because the lab's tests
    /// expect the indices of their own commands.
    ///
    /// # Panics
    /// On an invalid transition: only a candidate becomes leader.
    pub(crate) fn become_leader_locked(&self, st: &mut RaftState) {
        // solution: begin PartA become-leader
        assert!(
            st.role == Role::Candidate,
            "S{}: invalid transition [{:?} -> leader] in term {}",
            st.me,
            st.role,
            st.current_term
        );
        st.role = Role::Leader;
        let now = Instant::now();
        let next = st.log.last_index() + 1;
        st.next_index.fill(next);
        st.match_index.fill(0);
        st.in_flight.fill(false);
        st.heartbeat_due.fill(now); // announce the new leader at once (§5.2)
        st.commit_sent.fill(0);
        rlog!(
            LEAD,
            st,
            "won the election; log ends at {}",
            st.log.last_index()
        );
        // solution: end become-leader
    }

    /// Starts one replicator per follower for `term`. Called without the lock; a replicator
    /// whose term is already over exits at once.
    pub(crate) fn start_replicators(self: &Arc<Self>, term: u64) {
        // solution: begin PartA start-replicators
        let me = self.me;
        for to in (0..self.peers.len()).filter(|&to| to != me) {
            let name = format!("raft{me}-repl{to}-t{term}");
            self.spawn_joined(name, move |peer| run_replicator(peer, term, to));
        }
        // solution: end start-replicators
    }
}
