//! PartB: log replication (§5.3, §5.4). The per-term replicators, the AppendEntries sender with
//! its reply processing and fast backup, the AppendEntries handler, and the leader's commit rule.
//!
//! Threads: a candidate that wins starts one replicator per follower for its term, once it has
//! released the lock (`start_replicators`); each exits the moment the term or role changes. Each AppendEntries goes out on a sender thread
//! (`sender.rs`); the handler runs on a labrpc worker thread.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::MutexGuard;

use crate::log::{Entry, Log};
use crate::logging::rlog;
use crate::peer::Peer;
use crate::pipeline::pipelined_send_due;
use crate::read_index::read_round_due;
use crate::rpc::{AppendEntriesArgs, AppendEntriesReply};
use crate::sender::Call;
use crate::state::{COMMIT_DELAY, HEARTBEAT_INTERVAL, RaftState, Role};

/// The highest index stored on a majority of peers, given each peer's `match_index` (the leader's
/// own entry being its last index).
pub(crate) fn majority_match_index(match_index: &[u64]) -> u64 {
    // solution: begin PartB majority-match-index
    let mut sorted = match_index.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    // The first n/2 + 1 peers in descending order all hold at least this index.
    sorted[match_index.len() / 2]
    // solution: end majority-match-index
}

/// Rules for Servers, leaders (Figure 2, §5.3, §5.4): the new commit index, given that a majority
/// holds `majority_index`. Only an entry of the current term is committed by counting replicas;
/// earlier entries commit with it (§5.4.2, Figure 8). Terms never decrease along the log, so if
/// the entry at `majority_index` is older, no entry replicated on a majority is of this term.
pub(crate) fn leader_commit_index(
    log: &Log,
    current_term: u64,
    commit_index: u64,
    majority_index: u64,
) -> u64 {
    // solution: begin PartB leader-commit-index
    if majority_index > commit_index && log.term_at(majority_index) == Some(current_term) {
        majority_index
    } else {
        commit_index
    }
    // solution: end leader-commit-index
}

/// Fast backup, leader side (the course's rule for XTerm, XIndex and XLen): where to retry after a
/// follower rejected an AppendEntries.
pub(crate) fn next_index_after_rejection(log: &Log, reply: &AppendEntriesReply) -> u64 {
    // solution: begin PartB fast-backup-leader
    match reply.x_term {
        // The follower's log is too short: continue from its end.
        None => reply.x_len,
        // The leader has entries of XTerm: continue after its last one.
        Some(x_term) => match log.last_index_of_term(x_term) {
            Some(last) => last + 1,
            // The leader has no entry of XTerm: skip the follower's whole run of it.
            None => reply.x_index,
        },
    }
    // solution: end fast-backup-leader
}

/// The entries of `entries` one AppendEntries carries: all of them in the lab; beyond it, with
/// `Options::append_bytes`, the first ones whose commands fit in `max_bytes` (at least one).
/// A follower far behind then catches up in many calls, each within its deadline and far
/// under netrpc's largest frame, instead of one call that never gets through, built by
/// cloning the whole backlog under the lock.
fn batch(entries: &[Entry], max_bytes: Option<usize>) -> &[Entry] {
    let Some(max_bytes) = max_bytes else {
        return entries;
    };
    let mut bytes = 0;
    let fit = entries
        .iter()
        .take_while(|entry| {
            bytes += entry.command.len();
            bytes <= max_bytes
        })
        .count();
    &entries[..fit.max(1).min(entries.len())]
}

impl Peer {
    /// Starts one replicator per follower for `term`. Called without the lock; a replicator
    /// whose term is already over exits at once.
    pub(crate) fn start_replicators(self: &Arc<Self>, term: u64) {
        // solution: begin PartA start-replicators
        let followers: Vec<usize> = self.state.lock().progress.ids().collect();
        for to in followers {
            let name = format!("raft{}-repl{to}-t{term}", self.me);
            self.spawn_joined(name, move |peer| run_replicator(peer, term, to));
        }
        // solution: end start-replicators
    }
}

/// The replicator for follower `to` in `term`: sends AppendEntries (or InstallSnapshot) when the
/// follower is owed a heartbeat, or when it lacks entries or the commit index and no RPC to it is
/// in flight. Exits when the peer is killed or is no longer leader of `term`.
pub(crate) fn run_replicator(peer: Arc<Peer>, term: u64, to: usize) {
    // solution: begin PartA replicator
    let mut st = peer.state.lock();
    while !st.dead && st.role == Role::Leader && st.current_term == term {
        let now = Instant::now();
        if !peer.send_due(&st, to, now) {
            let send_at = next_send_at(&st, to, now);
            st.progress[to].replicator_wakes_at = Some(send_at);
            peer.replicate_wake[to].wait_until(&mut st, send_at);
            st.progress[to].replicator_wakes_at = None;
        } else if st.progress[to].senders.free() {
            let call = peer.replication_call_locked(&mut st, to, now);
            peer.dispatch(&mut st, vec![(to, call)]);
        } else {
            // Every sender to `to` is busy: the next call to return wakes this thread.
            peer.replicate_wake[to].wait(&mut st);
        }
    }
    // solution: end replicator
}

impl Peer {
    /// Whether the leader owes follower `to` a call now (`next_send_at`; with pipelining, also
    /// while calls to it are in flight).
    fn send_due(&self, st: &RaftState, to: usize, now: Instant) -> bool {
        now >= next_send_at(st, to, now)
            || (self.options.pipeline && pipelined_send_due(st, to, now))
    }

    /// The call to make to `to` now, which is owed one: an AppendEntries from its `next_index`,
    /// or an InstallSnapshot if the log no longer holds the entries there.
    fn replication_call_locked(
        self: &Arc<Self>,
        st: &mut RaftState,
        to: usize,
        now: Instant,
    ) -> Call {
        // solution: begin PartA replication-call
        let p = &mut st.progress[to];
        p.awaiting_reply = true;
        p.heartbeat_due = now + HEARTBEAT_INTERVAL;
        self.read_round_sent_locked(st, to);
        // solution: begin PartD replicator-snapshot
        if st.log.needs_snapshot(st.progress[to].next_index) {
            return self.install_snapshot_call_locked(st, to);
        }
        // solution: end replicator-snapshot
        self.append_entries_call_locked(st, to)
        // solution: end replication-call
    }

    /// Runs on the sender thread whose call to `to` has just returned, once the reply is
    /// processed: if that leaves `to` owed a call at once (the entries that arrived while the
    /// call was out, or the ones its rejection showed it lacks), the next call, for this thread
    /// to make itself; otherwise it wakes `to`'s replicator if the reply moved its deadline
    /// earlier, or if it waits for a free sender.
    ///
    /// Not in the course's design, where every call goes from the replicator to a sender. To
    /// a follower that keeps up, each round trip would wake the replicator and then a sender:
    /// two thread hand-offs per follower per round, about a tenth of the switches a command
    /// costs.
    pub(crate) fn after_call(self: &Arc<Self>, to: usize) -> Option<Call> {
        // solution: begin PartB after-call
        let mut st = self.state.lock();
        let now = Instant::now();
        let owed = !st.dead && st.role == Role::Leader && self.send_due(&st, to, now);
        if owed && st.progress[to].senders.free() {
            st.progress[to].senders.claim_here();
            return Some(self.replication_call_locked(&mut st, to, now));
        }
        let wakes_at = st.progress[to].replicator_wakes_at;
        if wakes_at.is_none_or(|at| next_send_at(&st, to, now) < at) {
            self.replicate_wake[to].notify_all();
        }
        None
        // solution: end after-call
    }
}

/// When the leader next owes follower `to` an AppendEntries: at once for entries it lacks,
/// unless one is in flight already (what accumulates meanwhile goes in the next); at the
/// heartbeat deadline otherwise.
///
/// Not in Figure 2: a new commit index alone waits up to [`COMMIT_DELAY`] for entries or a
/// heartbeat to carry it, so that a busy leader does not send each follower an extra
/// AppendEntries per commit.
fn next_send_at(st: &RaftState, to: usize, now: Instant) -> Instant {
    // solution: begin PartB next-send-at
    let p = &st.progress[to];
    let mut at = p.heartbeat_due;
    // Beyond the lab, pipelining: a follower whose last call was lost waits for its heartbeat.
    if !p.awaiting_reply && !p.pipeline.paused {
        // A new ReadIndex round goes out at once too (`read_index.rs`).
        if p.next_index <= st.log.last_index() || read_round_due(st, to) {
            return now;
        }
        if p.commit_sent < st.commit_index {
            at = at.min(st.commit_advanced_at + COMMIT_DELAY);
        }
    }
    at
    // solution: end next-send-at
}

impl Peer {
    /// Builds an AppendEntries for `to` from `next_index`, as a call for a sender thread.
    fn append_entries_call_locked(self: &Arc<Self>, st: &mut RaftState, to: usize) -> Call {
        // solution: begin PartA append-entries-call
        // solution: begin PartB append-entries-args
        let prev_log_index = st.progress[to].next_index - 1;
        let args = AppendEntriesArgs {
            term: st.current_term,
            leader_id: st.me,
            prev_log_index,
            prev_log_term: st
                .log
                .term_at(prev_log_index)
                .expect("next_index is past the snapshot, so prev_log_index has a term"),
            entries: batch(
                st.log.entries_from(prev_log_index + 1),
                self.options.append_bytes,
            )
            .to_vec(),
            leader_commit: st.commit_index,
        };
        st.progress[to].commit_sent = st.commit_index;
        if !args.entries.is_empty() {
            rlog!(
                LOG1,
                st,
                "send S{to} {}..={} (prev {}/{})",
                prev_log_index + 1,
                prev_log_index + args.entries.len() as u64,
                args.prev_log_term,
                prev_log_index
            );
        }
        // solution: end append-entries-args
        // The levers beyond the lab (off in the lab): pipelining moves `next_index` on now, and
        // the call carries the ReadIndex round the replicator marked as sent.
        self.pipeline_sent_locked(st, to, &args);
        let round = st.progress[to].read.sent;
        self.call_to(to, move |peer| peer.send_append_entries(to, args, round))
        // solution: end append-entries-call
    }

    /// Sends one AppendEntries and processes the reply, on a sender thread; `round` is the
    /// ReadIndex round it carries (`read_index.rs`; always 0 in the lab).
    fn send_append_entries(&self, to: usize, args: AppendEntriesArgs, round: u64) {
        // solution: begin PartA send-append-entries
        let reply: Option<AppendEntriesReply> = self.peers[to].call("Raft.AppendEntries", &args);
        let mut st = self.state.lock();
        self.call_finished_locked(&mut st, to);
        if st.dead {
            return;
        }
        if st.current_term == args.term {
            st.progress[to].awaiting_reply = false;
        }
        if let Some(reply) = &reply {
            self.quorum_answered_locked(&mut st, to, args.term, reply.term);
            self.handle_append_entries_reply_locked(&mut st, to, &args, reply);
        }
        self.pipeline_returned_locked(&mut st, to, &args, reply.as_ref());
        self.read_round_returned_locked(&mut st, to, &args, reply.as_ref(), round);
        // solution: end send-append-entries
    }

    fn handle_append_entries_reply_locked(
        &self,
        st: &mut RaftState,
        from: usize,
        args: &AppendEntriesArgs,
        reply: &AppendEntriesReply,
    ) {
        // solution: begin PartA append-entries-reply
        if self.maybe_observe_term_locked(st, reply.term) {
            return;
        }
        // Students' guide: a reply from an older term says nothing about this one.
        if st.current_term != args.term || st.role != Role::Leader {
            rlog!(
                DROP,
                st,
                "stale append reply from S{from} for term {}",
                args.term
            );
            return;
        }
        // solution: begin PartB append-entries-reply-log
        if reply.success {
            // Students' guide: match_index comes from the arguments that were sent, not from the
            // log as it is now (it may have grown meanwhile). Replies may arrive out of order, so
            // it never moves backwards.
            let matched = args.prev_log_index + args.entries.len() as u64;
            let p = &mut st.progress[from];
            p.match_index = p.match_index.max(matched);
            p.next_index = p.next_index.max(matched + 1);
            self.advance_commit_index_locked(st);
        } else {
            // Never below what the follower is known to hold, never past our own log.
            let next = next_index_after_rejection(&st.log, reply)
                .clamp(st.progress[from].match_index + 1, st.log.last_index() + 1);
            rlog!(
                LOG2,
                st,
                "S{from} rejected prev {}/{} (x_term {:?} x_index {} x_len {}): next {next}",
                args.prev_log_term,
                args.prev_log_index,
                reply.x_term,
                reply.x_index,
                reply.x_len
            );
            st.progress[from].next_index = next;
        }
        // solution: end append-entries-reply-log
        // solution: end append-entries-reply
    }

    /// Leader: advances `commit_index` if a majority now holds an entry of this term, and wakes
    /// the applier and the idle replicators (followers learn the new commit index soon).
    pub(crate) fn advance_commit_index_locked(&self, st: &mut RaftState) {
        // solution: begin PartB advance-commit-index
        // Every other peer's match_index, and the leader's own (its log's end).
        let matched: Vec<u64> = st
            .progress
            .iter()
            .map(|p| p.match_index)
            .chain([self.own_match_locked(st)])
            .collect();
        let commit = leader_commit_index(
            &st.log,
            st.current_term,
            st.commit_index,
            majority_match_index(&matched),
        );
        if commit == st.commit_index {
            return;
        }
        rlog!(
            CMIT,
            st,
            "commit {}..={commit} (match {matched:?})",
            st.commit_index + 1
        );
        st.set_commit_index(commit);
        st.commit_advanced_at = Instant::now();
        self.apply_wake.notify_one();
        self.wake_idle_replicators_locked(st);
        // solution: end advance-commit-index
    }

    /// Sends the entries `start` just appended to every follower owed them at once (no call to
    /// it awaits a reply, or pipelining allows another) and with a sender free, from the
    /// caller's thread. The others get them in the next call, which their senders make when the
    /// reply is in (`after_call`).
    ///
    /// Not in the course's design, where `start` wakes the replicators and each hands its call
    /// to a sender: that costs a thread switch per follower per command for nothing. The
    /// replicators keep the heartbeats; each wakes once more at its old deadline and finds the
    /// heartbeat sent.
    pub(crate) fn replicate_now(self: &Arc<Self>, st: &mut MutexGuard<'_, RaftState>) {
        let now = Instant::now();
        let owed: Vec<usize> = st
            .progress
            .ids()
            .filter(|&to| self.send_due(st, to, now) && st.progress[to].senders.free())
            .collect();
        let calls = owed
            .into_iter()
            .map(|to| (to, self.replication_call_locked(st, to, now)))
            .collect();
        self.dispatch(st, calls);
    }

    /// Wakes the replicators that may have something to send: a new commit index, which waits
    /// up to [`COMMIT_DELAY`] for entries or a heartbeat to carry it. A follower with an AppendEntries awaiting its reply gets what is new in the
    /// next one, which its sender makes when the reply is in (`after_call`); waking it now
    /// would cost two thread switches for nothing (with pipelining, every replicator may send).
    pub(crate) fn wake_idle_replicators_locked(&self, st: &RaftState) {
        for to in st.progress.ids() {
            if self.options.pipeline || !st.progress[to].awaiting_reply {
                self.replicate_wake[to].notify_all();
            }
        }
    }

    /// AppendEntries RPC handler (Figure 2, "Receiver implementation").
    pub(crate) fn append_entries(&self, args: AppendEntriesArgs) -> AppendEntriesReply {
        // solution: begin PartA append-entries-handler
        let mut st = self.state.lock();
        if st.dead {
            return AppendEntriesReply::default();
        }
        self.maybe_observe_term_locked(&mut st, args.term);
        let mut reply = AppendEntriesReply {
            term: st.current_term,
            ..AppendEntriesReply::default()
        };
        let leader = args.leader_id;
        // Receiver step 1: reply false if term < current_term (§5.1).
        if args.term < st.current_term {
            rlog!(
                DROP,
                st,
                "reject append from S{leader}: its term {} is old",
                args.term
            );
            return reply;
        }
        self.accept_leader_locked(&mut st, leader);

        // solution: begin PartB append-entries-log
        let (prev_index, prev_term) = (args.prev_log_index, args.prev_log_term);
        // solution: begin PartD append-entries-snapshot-boundary
        // Not in Figure 2: prev_log_index lies inside our snapshot, where terms are gone. Those
        // entries are committed, so ask the leader to continue after the snapshot.
        if prev_index < st.log.last_included_index() {
            reply.x_len = st.log.last_included_index() + 1;
            return reply;
        }
        // solution: end append-entries-snapshot-boundary
        // Receiver step 2: reply false if the log has no entry at prev_log_index whose term
        // matches prev_log_term (§5.3), with the fast-backup hint.
        let last = st.log.last_index();
        match st.log.term_at(prev_index) {
            None => {
                rlog!(
                    LOG2,
                    st,
                    "reject append: no entry {prev_index}; log ends at {last}"
                );
                reply.x_len = last + 1;
                return reply;
            }
            Some(term) if term != prev_term => {
                rlog!(
                    LOG2,
                    st,
                    "reject append: term {term} at {prev_index}, not {prev_term}"
                );
                reply.x_term = Some(term);
                reply.x_index = st.log.first_index_of_term(term, prev_index);
                reply.x_len = last + 1;
                return reply;
            }
            Some(_) => {}
        }
        // Receiver steps 3 and 4: drop conflicting entries, append the new ones.
        let committed = st.commit_index;
        if st.log.merge(prev_index, &args.entries, committed) {
            // solution: begin PartC persist-append
            self.persist_locked(&mut st);
            // solution: end persist-append
            rlog!(
                LOG1,
                st,
                "appended from S{leader}; log ends at {}",
                st.log.last_index()
            );
        }
        // Receiver step 5: if leader_commit > commit_index, set commit_index =
        // min(leader_commit, index of last new entry).
        let last_new = prev_index + args.entries.len() as u64;
        let commit = args.leader_commit.min(last_new);
        if commit > st.commit_index {
            rlog!(
                CMIT,
                st,
                "commit {}..={commit} (leader S{leader})",
                st.commit_index + 1
            );
            st.set_commit_index(commit);
            self.apply_wake.notify_one();
        }
        reply.success = true;
        // solution: end append-entries-log
        reply
        // solution: end append-entries-handler
    }

    /// A valid AppendEntries or InstallSnapshot of the current term came from its leader: a
    /// candidate steps down (§5.2) and the election timer restarts (students' guide).
    ///
    /// # Panics
    /// If this peer is itself leader of the term: Election Safety (Figure 3) is broken.
    pub(crate) fn accept_leader_locked(&self, st: &mut RaftState, leader: usize) {
        // solution: begin PartA accept-leader
        assert!(
            st.role != Role::Leader,
            "S{}: two leaders in term {}: this peer and S{leader}",
            st.me,
            st.current_term
        );
        if st.role == Role::Candidate {
            let term = st.current_term;
            self.become_follower_locked(st, term);
        }
        st.reset_election_timer();
        st.leader_seen = Some((st.current_term, Instant::now()));
        // solution: end accept-leader
    }
}

// solution: begin PartB replication-tests
#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Entry;

    fn log_of(terms: &[u64]) -> Log {
        let mut log = Log::new();
        for &term in terms {
            log.append(Entry {
                term,
                command: Vec::new(),
            });
        }
        log
    }

    #[test]
    fn majority_of_match_indexes() {
        assert_eq!(majority_match_index(&[5, 4, 1]), 4);
        assert_eq!(majority_match_index(&[0, 0, 7]), 0);
        assert_eq!(majority_match_index(&[9, 8, 7, 3, 2]), 7);
        assert_eq!(majority_match_index(&[2, 9, 3, 7, 8]), 7);
        assert_eq!(majority_match_index(&[9, 8, 7, 3]), 7); // 3 of 4
        assert_eq!(majority_match_index(&[4]), 4);
    }

    /// §5.4.2 and Figure 8: an entry of an older term is never committed by counting replicas.
    #[test]
    fn commit_only_entries_of_the_current_term() {
        let log = log_of(&[1, 2, 2, 4]);
        // Figure 8 (c): the leader of term 4 has replicated index 2 (term 2) on a majority.
        assert_eq!(leader_commit_index(&log, 4, 1, 2), 1);
        // Once its own entry (index 4) is on a majority, everything before commits with it.
        assert_eq!(leader_commit_index(&log, 4, 1, 4), 4);
        // Never backwards.
        assert_eq!(leader_commit_index(&log, 4, 4, 3), 4);
        // A leader of term 2 commits its own entry; a leader of term 5 holds none yet.
        assert_eq!(leader_commit_index(&log, 2, 0, 3), 3);
        assert_eq!(leader_commit_index(&log, 5, 0, 4), 0);
    }

    fn rejection(x_term: Option<u64>, x_index: u64, x_len: u64) -> AppendEntriesReply {
        AppendEntriesReply {
            term: 5,
            success: false,
            x_term,
            x_index,
            x_len,
        }
    }

    /// The course's three cases of fast backup.
    #[test]
    fn fast_backup_next_index() {
        let leader = log_of(&[4, 4, 5, 5, 6]);
        // Case 1: the leader has no entry of XTerm: back up to XIndex.
        assert_eq!(
            next_index_after_rejection(&leader, &rejection(Some(3), 2, 4)),
            2
        );
        // Case 2: the leader has XTerm: continue after its last entry of it.
        assert_eq!(
            next_index_after_rejection(&leader, &rejection(Some(4), 1, 4)),
            3
        );
        // Case 3: the follower's log is too short: continue from its length.
        assert_eq!(
            next_index_after_rejection(&leader, &rejection(None, 0, 2)),
            2
        );
    }

    /// When a replicator sends: entries at once unless some are in flight, a commit index alone
    /// within COMMIT_DELAY, otherwise at the heartbeat.
    #[test]
    fn next_send_at_batches_while_in_flight_and_delays_a_bare_commit() {
        let mut st = RaftState::new(0, 3, 2, Some(0), log_of(&[1, 2, 2]));
        let now = Instant::now();
        let heartbeat = now + HEARTBEAT_INTERVAL;
        st.progress[1].heartbeat_due = heartbeat;
        st.commit_advanced_at = now;
        // Up to date, commit index known: the next heartbeat.
        st.progress[1].next_index = 4;
        assert_eq!(next_send_at(&st, 1, now), heartbeat);
        // Entries it lacks: at once; but not while an RPC to it is in flight.
        st.progress[1].next_index = 3;
        assert_eq!(next_send_at(&st, 1, now), now);
        st.progress[1].awaiting_reply = true;
        assert_eq!(next_send_at(&st, 1, now), heartbeat);
        // Only a new commit index to tell: within COMMIT_DELAY, unless the heartbeat is sooner.
        st.progress[1].awaiting_reply = false;
        st.progress[1].next_index = 4;
        st.commit_index = 3;
        assert_eq!(next_send_at(&st, 1, now), now + COMMIT_DELAY);
        st.progress[1].heartbeat_due = now;
        assert_eq!(next_send_at(&st, 1, now), now);
        // Beyond the lab (pipelining): a follower whose last call was lost waits for its
        // heartbeat, entries or not.
        st.progress[1].heartbeat_due = heartbeat;
        st.progress[1].next_index = 3;
        st.progress[1].pipeline.paused = true;
        assert_eq!(next_send_at(&st, 1, now), heartbeat);
    }
}
// solution: end replication-tests

#[cfg(test)]
mod batch_tests {
    use super::*;

    fn entries(sizes: &[usize]) -> Vec<Entry> {
        sizes
            .iter()
            .map(|&n| Entry {
                term: 1,
                command: vec![0; n],
            })
            .collect()
    }

    #[test]
    fn a_batch_holds_what_fits_and_at_least_one_entry() {
        let all = entries(&[400, 400, 400, 400]);
        assert_eq!(batch(&all, None).len(), 4, "the lab sends everything");
        assert_eq!(batch(&all, Some(1000)).len(), 2);
        assert_eq!(batch(&all, Some(1600)).len(), 4);
        assert_eq!(
            batch(&all, Some(100)).len(),
            1,
            "one entry too large goes alone"
        );
        assert_eq!(batch(&[], Some(100)).len(), 0, "a heartbeat");
    }
}
