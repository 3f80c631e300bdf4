//! PartA: leader election (§5.2). The election ticker, the RequestVote sender with its reply
//! processing, the RequestVote handler, and the up-to-date check of §5.4.1.
//!
//! Threads: the election ticker (one per peer, for its life) starts elections; each RequestVote
//! goes out on a sender thread (`sender.rs`); the handler runs on a labrpc worker thread.

use std::sync::Arc;
use std::time::Instant;

use crate::logging::rlog;
use crate::peer::Peer;
use crate::rpc::{RequestVoteArgs, RequestVoteReply};
use crate::sender::Call;
use crate::state::{RaftState, Role};

/// Election restriction (§5.4.1): a log is at least as up-to-date as ours if its last entry has a
/// later term, or the same last term and an index at least as large.
pub(crate) fn is_log_up_to_date(
    last_log_term: u64,
    last_log_index: u64,
    our_last_term: u64,
    our_last_index: u64,
) -> bool {
    // solution: begin PartA up-to-date-check
    last_log_term > our_last_term
        || (last_log_term == our_last_term && last_log_index >= our_last_index)
    // solution: end up-to-date-check
}

/// The election ticker: sleeps until the election deadline and, unless the peer is leader or the
/// deadline moved meanwhile, starts an election. Exits when the peer is killed.
pub(crate) fn run_election_ticker(peer: Arc<Peer>) {
    // solution: begin PartA election-ticker
    let mut st = peer.state.lock();
    while !st.dead {
        let now = Instant::now();
        if st.role == Role::Leader {
            // A leader never stands for election. Its timer restarts each time it runs out,
            // so a deposed leader has a timeout still running and does not stand at once
            // against its successor; beyond the lab, each period ends with CheckQuorum.
            if now >= st.election_deadline {
                if peer.options.check_quorum {
                    peer.check_quorum_locked(&mut st);
                }
                st.reset_election_timer();
            }
        } else if now >= st.election_deadline {
            // Rules for Servers, followers and candidates (Figure 2): if the election timeout
            // elapses without hearing from a leader or granting a vote, start an election
            // (beyond the lab, first a pre-election that raises no term: `pre_vote.rs`).
            let calls = if peer.options.pre_vote {
                peer.start_pre_election_locked(&mut st)
            } else {
                peer.start_election_locked(&mut st)
            };
            peer.dispatch(&mut st, calls);
        }
        let deadline = st.election_deadline;
        peer.election_wake.wait_until(&mut st, deadline);
    }
    // solution: end election-ticker
}

impl Peer {
    /// Becomes a candidate and prepares RequestVote RPCs to all other servers (Figure 2), for
    /// the caller to dispatch.
    pub(crate) fn start_election_locked(
        self: &Arc<Self>,
        st: &mut RaftState,
    ) -> Vec<(usize, Call)> {
        // solution: begin PartA start-election
        self.become_candidate_locked(st);
        rlog!(
            TIMR,
            st,
            "election timeout: standing for term {}",
            st.current_term
        );
        if st.peers() == 1 {
            self.become_leader_locked(st); // a cluster of one has no replicators to start
            return Vec::new();
        }
        let args = RequestVoteArgs {
            term: st.current_term,
            candidate_id: st.me,
            last_log_index: st.log.last_index(),
            last_log_term: st.log.last_term(),
        };
        self.vote_calls(st, &args, |peer, to, args| peer.send_request_vote(to, args))
        // solution: end start-election
    }

    /// One call per other peer, which `send` makes with its copy of `args`: the RequestVotes
    /// of an election, or the PreVotes of a pre-election (`pre_vote.rs`).
    pub(crate) fn vote_calls(
        self: &Arc<Self>,
        st: &RaftState,
        args: &RequestVoteArgs,
        send: impl Fn(&Arc<Peer>, usize, RequestVoteArgs) + Clone + Send + 'static,
    ) -> Vec<(usize, Call)> {
        st.progress
            .ids()
            .map(|to| {
                let (args, send) = (args.clone(), send.clone());
                (to, self.call_to(to, move |peer| send(peer, to, args)))
            })
            .collect()
    }

    /// Sends one RequestVote and processes the reply, on a sender thread.
    fn send_request_vote(self: &Arc<Self>, to: usize, args: RequestVoteArgs) {
        // solution: begin PartA send-request-vote
        let reply: Option<RequestVoteReply> = self.peers[to].call("Raft.RequestVote", &args);
        let mut st = self.state.lock();
        self.call_finished_locked(&mut st, to);
        let Some(reply) = reply else { return };
        if st.dead {
            return;
        }
        if self.handle_request_vote_reply_locked(&mut st, to, &args, &reply) {
            drop(st);
            self.start_replicators(args.term);
        }
        // solution: end send-request-vote
    }

    /// Counts the vote; returns whether it made this peer leader.
    fn handle_request_vote_reply_locked(
        &self,
        st: &mut RaftState,
        from: usize,
        args: &RequestVoteArgs,
        reply: &RequestVoteReply,
    ) -> bool {
        // solution: begin PartA request-vote-reply
        if self.maybe_observe_term_locked(st, reply.term) {
            return false;
        }
        // Students' guide: a reply to an election we are no longer running (an older term, or we
        // already won or lost) must be dropped.
        if st.current_term != args.term || st.role != Role::Candidate {
            rlog!(
                DROP,
                st,
                "stale vote reply from S{from} for term {}",
                args.term
            );
            return false;
        }
        if !reply.vote_granted {
            rlog!(VOTE, st, "S{from} refused its vote");
            return false;
        }
        st.progress[from].vote_granted = true;
        // Its own vote, and the others'.
        let votes = 1 + st.progress.iter().filter(|p| p.vote_granted).count();
        rlog!(
            VOTE,
            st,
            "S{from} granted its vote ({votes}/{})",
            st.peers()
        );
        // Rules for Servers, candidates: votes received from a majority of servers: become leader.
        if votes > st.peers() / 2 {
            self.become_leader_locked(st);
            return true;
        }
        false
        // solution: end request-vote-reply
    }

    /// RequestVote RPC handler (Figure 2, "Receiver implementation").
    pub(crate) fn request_vote(&self, args: RequestVoteArgs) -> RequestVoteReply {
        // solution: begin PartA request-vote-handler
        let mut st = self.state.lock();
        if st.dead {
            return RequestVoteReply::default();
        }
        self.maybe_observe_term_locked(&mut st, args.term);
        let mut reply = RequestVoteReply {
            term: st.current_term,
            vote_granted: false,
        };
        let candidate = args.candidate_id;
        // Receiver step 1: reply false if term < current_term (§5.1).
        if args.term < st.current_term {
            rlog!(
                VOTE,
                st,
                "reject vote for S{candidate}: its term {} is old",
                args.term
            );
            return reply;
        }
        // Receiver step 2: grant the vote if voted_for is null or candidate_id, and the
        // candidate's log is at least as up-to-date as ours (§5.2, §5.4).
        if let Some(voted) = st.voted_for
            && voted != candidate
        {
            rlog!(VOTE, st, "reject vote for S{candidate}: voted for S{voted}");
            return reply;
        }
        let (our_term, our_index) = (st.log.last_term(), st.log.last_index());
        if !is_log_up_to_date(args.last_log_term, args.last_log_index, our_term, our_index) {
            rlog!(
                VOTE,
                st,
                "reject vote for S{candidate}: its last log {}/{} is older than ours {our_term}/{our_index} (§5.4.1)",
                args.last_log_term,
                args.last_log_index
            );
            return reply;
        }
        st.voted_for = Some(candidate);
        // solution: begin PartC persist-vote
        self.persist_locked(&mut st);
        // solution: end persist-vote
        st.reset_election_timer(); // students' guide: granting a vote resets the timer
        rlog!(VOTE, st, "granted vote to S{candidate}");
        reply.vote_granted = true;
        reply
        // solution: end request-vote-handler
    }
}

// solution: begin PartA election-tests
#[cfg(test)]
mod tests {
    use super::is_log_up_to_date;

    /// §5.4.1: compare the terms of the last entries first, then the lengths.
    #[test]
    fn up_to_date_check() {
        // (candidate last term, candidate last index, our last term, our last index, expected)
        let cases = [
            (0, 0, 0, 0, true),  // both empty
            (2, 1, 1, 9, true),  // later last term wins whatever the length
            (1, 9, 2, 1, false), // earlier last term loses whatever the length
            (3, 5, 3, 5, true),  // identical logs
            (3, 6, 3, 5, true),  // same term, longer
            (3, 4, 3, 5, false), // same term, shorter
            (0, 0, 1, 1, false), // empty candidate against a non-empty log
        ];
        for (term, index, our_term, our_index, expected) in cases {
            assert_eq!(
                is_log_up_to_date(term, index, our_term, our_index),
                expected,
                "candidate {term}/{index} vs ours {our_term}/{our_index}"
            );
        }
    }
}
// solution: end election-tests
