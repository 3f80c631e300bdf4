//! Beyond the lab: PreVote ([`Options::pre_vote`], on in the real cluster; Raft thesis §9.6).
//!
//! In the lab, a follower whose election timer fires raises its term and asks for votes. A
//! server cut off from the others (a partition, a restart, a follower the leader cannot reach)
//! does so again and again, and when it is back its term is above the leader's: its first
//! reply to an AppendEntries carries that term, the leader steps down, and the cluster holds
//! an election nobody needed, which the returning server, with its stale log, cannot even
//! win. A follower that never catches up does this for as long as it runs (etcd#9333; etcd
//! turned PreVote on by default in 3.4).
//!
//! With PreVote, a follower whose timer fires first holds a pre-election: it asks the others
//! (RPC `Raft.PreVote`, with RequestVote's arguments and reply) whether they would vote for it
//! in the next term, and raises no term to do so. A peer says yes ([`grants_pre_vote`]) only if
//! - the term it is asked about is above its own;
//! - it has no leader: it is not leader itself and has not heard from one of its current term
//!   within the shortest election timeout (the thesis' rule against disruptive servers,
//!   §4.2.3: while it hears from a leader it has no reason to want another);
//! - the asker's log is at least as up-to-date as its own (§5.4.1).
//!
//! Only with yeses from a majority (its own included) does the follower become a candidate and
//! hold the real election, which can still be lost; otherwise it waits another timeout and
//! asks again. Answering changes nothing on the peer asked: not its term, vote or timer. A
//! refusal carries the refuser's term, which the asker adopts if it is higher (Figure 2's rule
//! for all servers): that moves the asker alone.
//!
//! [`Options::pre_vote`]: crate::Options::pre_vote

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::election::is_log_up_to_date;
use crate::logging::rlog;
use crate::peer::Peer;
use crate::rpc::{RequestVoteArgs, RequestVoteReply};
use crate::sender::Call;
use crate::state::{ELECTION_TIMEOUT_MS, RaftState, Role};

/// A pre-election a follower is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PreElection {
    /// The term it would stand for: its current term plus one.
    pub term: u64,
    /// When it began; a leader heard from since ends it.
    pub started_at: Instant,
}

/// How recently a peer must have heard from a leader to refuse a pre-vote: the shortest
/// election timeout, within which no follower of a live leader would stand.
const LEADER_LEASE: Duration = Duration::from_millis(ELECTION_TIMEOUT_MS.start);

/// Whether a peer grants a pre-vote for `term`, given its own `current_term`, whether it has a
/// leader (is one, or heard from one within [`LEADER_LEASE`]), and whether the asker's log is
/// at least as up-to-date as its own.
pub(crate) fn grants_pre_vote(
    term: u64,
    current_term: u64,
    has_leader: bool,
    log_ok: bool,
) -> bool {
    term > current_term && !has_leader && log_ok
}

impl Peer {
    /// The election timer fired: begins a pre-election and prepares a PreVote for every other
    /// peer, for the caller to dispatch (with no other peer, stands for election at once).
    pub(crate) fn start_pre_election_locked(
        self: &Arc<Self>,
        st: &mut RaftState,
    ) -> Vec<(usize, Call)> {
        if st.peers() == 1 {
            return self.start_election_locked(st);
        }
        if st.role == Role::Candidate {
            // Its election failed. It waits for pre-votes as a follower, so that a late vote
            // of that election is not counted with them.
            let term = st.current_term;
            self.become_follower_locked(st, term);
        }
        st.reset_election_timer();
        let term = st.current_term + 1;
        let started_at = Instant::now();
        st.pre_election = Some(PreElection { term, started_at });
        for p in st.progress.iter_mut() {
            p.pre_vote_granted = false;
        }
        rlog!(
            TIMR,
            st,
            "election timeout: asking for pre-votes for term {term}"
        );
        let args = RequestVoteArgs {
            term,
            candidate_id: st.me,
            last_log_index: st.log.last_index(),
            last_log_term: st.log.last_term(),
        };
        self.vote_calls(st, &args, move |peer, to, args| {
            peer.send_pre_vote(to, args, started_at)
        })
    }

    /// Sends one PreVote of the pre-election begun at `started_at` and processes the reply, on
    /// a sender thread; with a majority, stands for election.
    fn send_pre_vote(self: &Arc<Self>, to: usize, args: RequestVoteArgs, started_at: Instant) {
        let reply: Option<RequestVoteReply> = self.peers[to].call("Raft.PreVote", &args);
        let mut st = self.state.lock();
        self.call_finished_locked(&mut st, to);
        let Some(reply) = reply else { return };
        if st.dead || self.maybe_observe_term_locked(&mut st, reply.term) {
            return;
        }
        if self.pre_election_won_locked(&mut st, to, &args, started_at, &reply) {
            rlog!(VOTE, st, "won the pre-election for term {}", args.term);
            let calls = self.start_election_locked(&mut st);
            self.dispatch(&mut st, calls);
        }
    }

    /// Counts a pre-vote of the pre-election begun at `started_at`; returns whether it
    /// completed a majority of that pre-election, still running. A yes from an earlier
    /// pre-election for the same term (a follower cut off asks for the same term again and
    /// again) never counts: the peer said it long ago, perhaps while it missed its leader for
    /// a moment.
    fn pre_election_won_locked(
        &self,
        st: &mut RaftState,
        from: usize,
        args: &RequestVoteArgs,
        started_at: Instant,
        reply: &RequestVoteReply,
    ) -> bool {
        let running = st.pre_election.filter(|pre| {
            pre.started_at == started_at
                && pre.term == args.term
                && st.current_term + 1 == args.term
                && st.role == Role::Follower
                && st.leader_seen.is_none_or(|(_, at)| at < started_at)
        });
        if running.is_none() {
            rlog!(
                DROP,
                st,
                "stale pre-vote reply from S{from} for term {}",
                args.term
            );
            return false;
        }
        if !reply.vote_granted {
            rlog!(VOTE, st, "S{from} refused its pre-vote");
            return false;
        }
        st.progress[from].pre_vote_granted = true;
        let votes = 1 + st.progress.iter().filter(|p| p.pre_vote_granted).count();
        if votes > st.peers() / 2 {
            st.pre_election = None;
            return true;
        }
        false
    }

    /// PreVote RPC handler: would this peer vote for the asker in `args.term`? Changes
    /// nothing here.
    pub(crate) fn pre_vote(&self, args: RequestVoteArgs) -> RequestVoteReply {
        let st = self.state.lock();
        if st.dead {
            return RequestVoteReply::default();
        }
        let has_leader = st.role == Role::Leader
            || st
                .leader_seen
                .is_some_and(|(term, at)| term == st.current_term && at.elapsed() < LEADER_LEASE);
        let log_ok = is_log_up_to_date(
            args.last_log_term,
            args.last_log_index,
            st.log.last_term(),
            st.log.last_index(),
        );
        let granted = grants_pre_vote(args.term, st.current_term, has_leader, log_ok);
        rlog!(
            VOTE,
            st,
            "{} pre-vote for S{} in term {} (leader heard: {has_leader}, its log up to date: {log_ok})",
            if granted { "grant" } else { "refuse" },
            args.candidate_id,
            args.term
        );
        RequestVoteReply {
            term: st.current_term,
            vote_granted: granted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::grants_pre_vote;

    /// Yes only for a later term, with no leader in sight and a log at least as good.
    #[test]
    fn pre_vote_rule() {
        // (term asked about, our current term, we have a leader, its log ok, expected)
        let cases = [
            (5, 4, false, true, true),
            (5, 4, true, true, false), // we hear from a leader: the asker is cut off
            (5, 4, false, false, false), // its log is behind ours (§5.4.1)
            (4, 4, false, true, false), // not a later term: we may have voted in it
            (3, 4, false, true, false), // an old term
        ];
        for (term, current, has_leader, log_ok, expected) in cases {
            assert_eq!(
                grants_pre_vote(term, current, has_leader, log_ok),
                expected,
                "term {term} asked of term {current}, leader {has_leader}, log ok {log_ok}"
            );
        }
    }
}
