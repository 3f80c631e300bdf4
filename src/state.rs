//! `RaftState`, what one peer keeps under its lock, laid out as Figure 2's "State" box (what it
//! knows of each other peer is in `progress.rs`), and the role transitions (PartA).
//!
//! The transitions are the `*_locked` functions here: each takes `&mut RaftState`, so the
//! caller holds the peer's mutex, and the borrow proves it. None of them sleeps, calls labrpc,
//! sends on `apply_ch` or joins a thread. `become_follower_locked`, `become_candidate_locked` and
//! `become_leader_locked` are the only writers of `role`. Beside them, `RaftState` has three
//! small helpers of its own: `peers`, `set_commit_index` and `reset_election_timer`.

use std::time::{Duration, Instant};

use rand::RngExt;

use crate::log::Log;
use crate::logging::rlog;
use crate::peer::Peer;
use crate::pre_vote::PreElection;
use crate::progress::ProgressMap;

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
pub(crate) const ELECTION_TIMEOUT_MS: std::ops::Range<u64> = 400..800;

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

    // Volatile state on leaders (Figure 2), reinitialized after election: `next_index` and
    // `match_index` for each other peer, in its record here (`progress.rs`).
    /// What this peer knows of each other peer: `progress[to].next_index`,
    /// `progress[to].match_index`, its vote, the calls to it.
    pub progress: ProgressMap,

    // Not in Figure 2: bookkeeping.
    /// This peer's index in `peers`.
    pub me: usize,
    /// Follower, candidate or leader; written only by the `become_*_locked` functions.
    pub role: Role,
    /// When the election ticker starts an election unless something resets it first; on a
    /// leader, when it next checks that a majority still answers (`check_quorum.rs`).
    pub election_deadline: Instant,
    /// The term in which this peer last accepted a leader's AppendEntries or InstallSnapshot
    /// (`accept_leader_locked`), and when: PreVote's lease (`pre_vote.rs`), which a newer
    /// term ends.
    pub leader_seen: Option<(u64, Instant)>,
    /// The pre-election this follower is running, if any (`pre_vote.rs`).
    pub pre_election: Option<PreElection>,
    /// Leaders: when `commit_index` last advanced.
    pub commit_advanced_at: Instant,
    /// The last log index the persister holds (group commit: `start` appends unsaved, and the
    /// leader counts itself only up to here).
    pub saved_index: u64,
    /// Leaders: the last ReadIndex round asked for (`read_index.rs`); only grows.
    pub read_round: u64,
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
            progress: ProgressMap::new(me, peers, now),
            me,
            role: Role::Follower,
            election_deadline: now + random_election_timeout(),
            leader_seen: None,
            pre_election: None,
            commit_advanced_at: now,
            saved_index: log_last,
            read_round: 0,
            snapshot_pending: false,
            dead: false,
        }
    }

    /// The number of peers, this one included.
    pub fn peers(&self) -> usize {
        self.progress.len() + 1
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
fn random_election_timeout() -> Duration {
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
        for p in st.progress.iter_mut() {
            p.vote_granted = false;
        }
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
        // A leader's timer is the period of its CheckQuorum (`check_quorum.rs`; off in the lab).
        st.reset_election_timer();
        // next_index: the leader's last log index + 1; match_index: 0. Every follower is owed a
        // heartbeat now, which announces the new leader at once (§5.2).
        let (next, now) = (st.log.last_index() + 1, Instant::now());
        for p in st.progress.iter_mut() {
            p.reset(next, now);
        }
        rlog!(
            LEAD,
            st,
            "won the election; log ends at {}",
            st.log.last_index()
        );
        // solution: end become-leader
    }
}
