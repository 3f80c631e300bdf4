//! Beyond the lab: CheckQuorum ([`Options::check_quorum`], on in the real cluster; Raft
//! thesis §6.2).
//!
//! In the lab, a leader stays leader until it hears of a higher term. Cut off with a minority,
//! it goes on taking commands that can never commit, and its clients wait on it until they
//! give up; meanwhile, with PreVote (`pre_vote.rs`), the followers it still reaches refuse to
//! help elect anyone else. With CheckQuorum, a leader checks at the end of each election
//! timeout whether a majority, itself included, answered any of its calls during that period,
//! and steps down (in the same term) if not. Its clients then look for the new leader, and
//! the followers it stops reaching see their lease run out.
//!
//! Any answer counts, a rejection as well as a success: it shows the follower is there.
//!
//! [`Options::check_quorum`]: crate::Options::check_quorum

use crate::logging::rlog;
use crate::peer::Peer;
use crate::state::{RaftState, Role};

/// Whether a leader that heard from `answered` of its `peers - 1` followers in a period still
/// has a majority, itself included.
pub(crate) fn quorum_answered(answered: usize, peers: usize) -> bool {
    answered + 1 > peers / 2
}

impl Peer {
    /// A call to `from` made in `term` has been answered, in `reply_term`: it counts towards
    /// this period's check, if this peer still leads that term. A killed peer's empty answer
    /// (term 0) is no answer.
    pub(crate) fn quorum_answered_locked(
        &self,
        st: &mut RaftState,
        from: usize,
        term: u64,
        reply_term: u64,
    ) {
        if st.role == Role::Leader && st.current_term == term && reply_term >= term {
            st.progress[from].recent_active = true;
        }
    }

    /// Leader, at the end of a period: steps down unless a majority answered during it, and
    /// starts the next period.
    pub(crate) fn check_quorum_locked(&self, st: &mut RaftState) {
        let answered = st.progress.iter().filter(|p| p.recent_active).count();
        for p in st.progress.iter_mut() {
            p.recent_active = false;
        }
        if quorum_answered(answered, st.peers()) {
            return;
        }
        rlog!(
            LEAD,
            st,
            "check quorum: {} of {} peers answered in the last election timeout; stepping down",
            answered + 1,
            st.peers()
        );
        let term = st.current_term;
        self.become_follower_locked(st, term);
        // ReadIndex calls waiting for this leader's confirmation give up now, not at their
        // deadline.
        self.read_wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::quorum_answered;

    #[test]
    fn a_majority_counts_the_leader_itself() {
        assert!(quorum_answered(1, 3));
        assert!(!quorum_answered(0, 3));
        assert!(quorum_answered(2, 5));
        assert!(!quorum_answered(1, 5));
        assert!(quorum_answered(2, 4)); // 3 of 4
        assert!(!quorum_answered(1, 4)); // 2 of 4 is no majority
        assert!(quorum_answered(0, 1)); // alone, it is its own majority
    }
}
