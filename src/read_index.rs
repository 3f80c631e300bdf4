//! Beyond the lab: ReadIndex (Raft thesis §6.4), linearizable reads that append nothing to the
//! log. The lab's services read through the log, as its guide asks; the real cluster's service
//! can ask [`Raft::read_index`] instead (`rsm`'s `query`).
//!
//! The leader:
//! 1. checks it has committed an entry of its own term. Until then it may not know the latest
//!    commit index, and it refuses (the caller goes through the log, which commits one);
//! 2. takes the commit index as the read index;
//! 3. confirms it still leads: it numbers the request with a new round and sends each follower
//!    an AppendEntries carrying that round (at once, or when the one in flight returns). Once
//!    a majority, itself included, has answered one of them in this term, no other leader can
//!    have committed anything it does not know of;
//! 4. returns the index. The service answers once it has applied that far.
//!
//! Many reads that arrive together share one round, so a busy leader pays one exchange of
//! heartbeats for them all. Rounds only grow, so an answer from an earlier term, which carried
//! an older round, never confirms a newer read.
//!
//! [`Raft::read_index`]: crate::Raft::read_index

use std::time::{Duration, Instant};

use crate::peer::Peer;
use crate::rpc::{AppendEntriesArgs, AppendEntriesReply};
use crate::state::{RaftState, Role};

/// How long a read waits for a majority to confirm the leader before giving up (the caller
/// then tries elsewhere): an election timeout, after which another leader may well lead.
const CONFIRM_WITHIN: Duration = Duration::from_millis(800);

/// A follower's part in ReadIndex, in its `Progress` record.
#[derive(Debug, Default)]
pub(crate) struct ReadRounds {
    /// The round the last call sent to it carried.
    pub sent: u64,
    /// The highest round it acknowledged as this term's follower.
    pub acked: u64,
}

/// Whether a majority of `peers`, the leader included, has acknowledged `round`, given the
/// rounds the others (`acked`) acknowledged.
pub(crate) fn round_confirmed(acked: impl Iterator<Item = u64>, peers: usize, round: u64) -> bool {
    let others = acked.filter(|&r| r >= round).count();
    others + 1 > peers / 2
}

/// Whether `round` is confirmed for the leader `st`.
fn confirmed_locked(st: &RaftState, round: u64) -> bool {
    round_confirmed(st.progress.iter().map(|p| p.read.acked), st.peers(), round)
}

impl Peer {
    /// See [`crate::Raft::read_index`]. Waits, without the lock, for a majority to answer.
    pub(crate) fn read_index(&self) -> Option<u64> {
        let mut st = self.state.lock();
        if st.dead || st.role != Role::Leader {
            return None;
        }
        // Step 1: a leader knows the commit index only once it has committed in its own term.
        if st.log.term_at(st.commit_index) != Some(st.current_term) {
            return None;
        }
        let (term, index) = (st.current_term, st.commit_index);
        st.read_round += 1;
        let round = st.read_round;
        if confirmed_locked(&st, round) {
            // A cluster of one.
            return Some(index);
        }
        self.wake_replicators();
        let deadline = Instant::now() + CONFIRM_WITHIN;
        loop {
            if st.dead || st.role != Role::Leader || st.current_term != term {
                return None;
            }
            if confirmed_locked(&st, round) {
                return Some(index);
            }
            if self.read_wake.wait_until(&mut st, deadline).timed_out() {
                return None;
            }
        }
    }

    /// A call to `to` goes out: an AppendEntries carries the latest round. An InstallSnapshot
    /// confirms none, but counts as sent too, so that a follower that does not answer hears
    /// of new rounds at its heartbeats only, not at the rate its calls fail.
    pub(crate) fn read_round_sent_locked(&self, st: &mut RaftState, to: usize) {
        st.progress[to].read.sent = st.read_round;
    }

    /// An AppendEntries that carried `round` has returned from `from`, after its reply was
    /// processed. A reply in the call's term, success or not, is from a follower of this leader:
    /// it confirms the round. (A killed peer answers term 0.)
    pub(crate) fn read_round_returned_locked(
        &self,
        st: &mut RaftState,
        from: usize,
        args: &AppendEntriesArgs,
        reply: Option<&AppendEntriesReply>,
        round: u64,
    ) {
        let answered = reply.is_some_and(|reply| reply.term == args.term);
        let p = &mut st.progress[from];
        if answered
            && st.role == Role::Leader
            && st.current_term == args.term
            && round > p.read.acked
        {
            p.read.acked = round;
            self.read_wake.notify_all();
        }
    }
}

/// Whether `to` is owed a call for a new round at once: it has not been sent the latest, and it
/// answered the last it was sent. One that did not (unreachable, say) hears of the new round
/// with its next heartbeat, rather than at the rate its calls fail.
pub(crate) fn read_round_due(st: &RaftState, to: usize) -> bool {
    let read = &st.progress[to].read;
    read.sent < st.read_round && read.acked >= read.sent
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{Persister, Raft};

    // solution: begin PartB read-index-test
    /// Three peers on one labrpc network, every end enabled; end `i-j` is `i`'s end to `j`.
    /// Also the receivers of their `apply_ch`, which nobody reads but which must stay open.
    fn cluster(
        net: &labrpc::Network,
    ) -> (Vec<Raft>, Vec<crossbeam_channel::Receiver<crate::ApplyMsg>>) {
        let (mut rafts, mut receivers) = (Vec::new(), Vec::new());
        for i in 0..3 {
            let ends = (0..3)
                .map(|j| {
                    let name = format!("{i}-{j}");
                    let end = net.make_end(&name);
                    net.connect(&name, &j.to_string());
                    net.enable(&name, true);
                    end
                })
                .collect();
            let (tx, rx) = crossbeam_channel::unbounded();
            receivers.push(rx);
            let rf = Raft::make(ends, i, Arc::new(Persister::new()), tx);
            let server = labrpc::Server::new();
            server.add_service(rf.service());
            net.add_server(&i.to_string(), server);
            rafts.push(rf);
        }
        (rafts, receivers)
    }

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let t0 = Instant::now();
        while !done() {
            assert!(t0.elapsed() < Duration::from_secs(5), "{what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Step 1 and 3 of the protocol: a follower never answers; a leader answers only once it
    /// has committed in its own term, and only while a majority still follows it.
    #[test]
    fn only_a_confirmed_leader_of_a_committed_term_answers() {
        let net = labrpc::Network::new();
        let (rafts, _applied) = cluster(&net);
        let mut leader = None;
        wait_for("no leader", || {
            leader = rafts.iter().position(|rf| rf.get_state().1);
            leader.is_some()
        });
        let leader = leader.expect("waited for it");
        let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();

        // A fresh leader has committed nothing of its term.
        assert_eq!(rafts[leader].read_index(), None, "fresh leader answered");
        for &f in &followers {
            assert_eq!(rafts[f].read_index(), None, "follower S{f} answered");
        }

        let (index, _, ok) = rafts[leader].start(vec![7]);
        assert!(ok);
        wait_for("not committed", || {
            rafts[leader].status().commit_index >= index
        });
        assert_eq!(rafts[leader].read_index(), Some(index));

        // Cut off from both followers, it can no longer show that it leads.
        for &f in &followers {
            net.enable(&format!("{leader}-{f}"), false);
            net.enable(&format!("{f}-{leader}"), false);
        }
        let t0 = Instant::now();
        assert_eq!(
            rafts[leader].read_index(),
            None,
            "a deposed leader answered"
        );
        assert!(t0.elapsed() < CONFIRM_WITHIN + Duration::from_millis(500));

        for rf in &rafts {
            rf.kill();
        }
        net.cleanup();
    }
    // solution: end read-index-test

    #[test]
    fn a_majority_counts_the_leader_itself() {
        let confirmed = |others: &[u64], round| {
            round_confirmed(others.iter().copied(), others.len() + 1, round)
        };
        // Three peers: one follower at the round is enough.
        assert!(confirmed(&[5, 0], 5));
        assert!(confirmed(&[0, 7], 5));
        assert!(!confirmed(&[4, 4], 5));
        // Five peers: two followers.
        assert!(!confirmed(&[5, 4, 0, 0], 5));
        assert!(confirmed(&[5, 6, 0, 0], 5));
        // Alone, the leader is its own majority.
        assert!(confirmed(&[], 1));
    }
}
