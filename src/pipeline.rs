//! Beyond the lab: pipelined AppendEntries ([`Options::pipeline`], on in the real cluster). In
//! the lab a replicator keeps one AppendEntries with entries in flight per follower, and what
//! `start` appends meanwhile goes out in the next one, once the reply is back. So each batch
//! waits a whole round trip, the follower's save included, before it leaves.
//!
//! With pipelining, a leader sends a follower that is keeping up the entries it lacks without
//! waiting for the reply to its last call, once that call has been out for [`PIPELINE_GAP`]
//! (a reply that comes sooner takes them, as in the lab; see [`pipelined_send_due`]), up to
//! [`PIPELINE_DEPTH`] calls outstanding, and moves `next_index` past them as it sends
//! (optimistically: the reply has not come). This is what raft-rs calls a follower's
//! "replicate" state, against its "probe" state:
//! - a follower is *replicating* once it has accepted an AppendEntries in this term
//!   ([`Pipeline::replicating_term`], in its `Progress` record). Until then, and again after any rejection or lost call, the leader
//!   probes: one call at a time, from a `next_index` that only replies move, as in the lab;
//! - a rejection moves `next_index` by fast backup as always, and back to probing;
//! - a lost call may have carried entries that nothing else will resend, so `next_index` goes
//!   back to just after what the follower is known to hold (`match_index + 1`);
//! - after a lost call (AppendEntries or InstallSnapshot) the follower is *paused*: it gets
//!   one call per heartbeat until one is answered, not the next one the moment the last
//!   failed (etcd's probe state pauses the same way). A transport fails a call to a server
//!   that is down at once (netrpc does, between its attempts to reconnect), so resending at
//!   once would spin a sender thread on a dead follower and take the processor from the
//!   others.
//!
//! Safety does not depend on any of this: a follower accepts entries only after the ones before
//! them (Figure 2's consistency check), and `match_index` moves only on what a reply
//! acknowledges. Calls that overtake each other on the way cost a rejection and a resend.
//!
//! [`Options::pipeline`]: crate::Options::pipeline

use std::time::{Duration, Instant};

use crate::peer::Peer;
use crate::progress::Progress;
use crate::rpc::{AppendEntriesArgs, AppendEntriesReply};
use crate::state::{RaftState, Role};

/// The most calls outstanding to one replicating follower (heartbeats included) before the
/// leader waits for a reply.
pub(crate) const PIPELINE_DEPTH: usize = 4;

/// How long after its last call a leader waits for the reply before it sends a replicating
/// follower the next entries regardless (`pipelined_send_due`): longer than a round trip and
/// an fsync take on a healthy local network and disk, so that pipelining engages only on
/// links slower than that.
pub(crate) const PIPELINE_GAP: Duration = Duration::from_millis(5);

/// A follower's part in pipelining, in its `Progress` record.
#[derive(Debug, Default)]
pub(crate) struct Pipeline {
    /// The term in which it last accepted an AppendEntries, 0 after a rejection or a lost call:
    /// it is replicating while this is the current term, and probed otherwise.
    pub replicating_term: u64,
    /// Its last call was lost: the next goes with its heartbeat (`next_send_at`).
    pub paused: bool,
    /// When the last AppendEntries to it was built.
    pub last_sent: Option<Instant>,
}

/// Whether a pipelining leader may send `to` the entries it lacks now, although an
/// AppendEntries to it is still in flight (otherwise `next_send_at` decides, as in the lab).
///
/// Only once the last call has been out for [`PIPELINE_GAP`] without its reply. A reply that
/// comes back sooner sends everything that arrived meanwhile in one call, as in the lab. Sent
/// at once instead, each command went in an AppendEntries of its own and cost the follower an
/// fsync of its own, and the calls overtook each other in the follower's handler threads: on
/// loopback a fifth of the AppendEntries were rejected and sent again, and a write cost the
/// servers two fifths more CPU than without pipelining (`docs/performance.md`). A link whose
/// round trip is longer than the gap gets a call per gap while commands keep coming (each
/// `start` wakes the replicator), up to [`PIPELINE_DEPTH`] outstanding. This is Nagle's rule
/// for TCP (RFC 896) with a deadline: a small batch waits for the reply, but not for long.
pub(crate) fn pipelined_send_due(st: &RaftState, to: usize, now: Instant) -> bool {
    let p: &Progress = &st.progress[to];
    p.awaiting_reply
        && p.pipeline.replicating_term == st.current_term
        && !st.log.needs_snapshot(p.next_index)
        && p.next_index <= st.log.last_index()
        && p.senders.calls() < PIPELINE_DEPTH
        && p.pipeline
            .last_sent
            .is_none_or(|sent| now >= sent + PIPELINE_GAP)
}

impl Peer {
    /// An AppendEntries for `to` has been built: if `to` is replicating, the next one starts
    /// after its entries.
    pub(crate) fn pipeline_sent_locked(
        &self,
        st: &mut RaftState,
        to: usize,
        args: &AppendEntriesArgs,
    ) {
        let p = &mut st.progress[to];
        if self.options.pipeline && p.pipeline.replicating_term == args.term {
            p.next_index = args.prev_log_index + args.entries.len() as u64 + 1;
        }
        p.pipeline.last_sent = Some(Instant::now());
    }

    /// An AppendEntries to `from` has returned (`reply` is `None` if the call was lost), after
    /// its reply was processed: whether `from` is replicating now.
    pub(crate) fn pipeline_returned_locked(
        &self,
        st: &mut RaftState,
        from: usize,
        args: &AppendEntriesArgs,
        reply: Option<&AppendEntriesReply>,
    ) {
        self.probe_returned_locked(st, from, args.term, reply.is_some());
        if !self.options.pipeline || st.current_term != args.term || st.role != Role::Leader {
            return;
        }
        let p = &mut st.progress[from];
        match reply {
            Some(reply) if reply.success => p.pipeline.replicating_term = args.term,
            // A rejection from this term's follower: fast backup has set `next_index`.
            Some(reply) if reply.term == args.term => p.pipeline.replicating_term = 0,
            // Lost (or a killed peer's empty answer): what it carried may be missing.
            _ => {
                if p.pipeline.replicating_term == args.term {
                    p.next_index = p.match_index + 1;
                }
                p.pipeline.replicating_term = 0;
            }
        }
    }
}

impl Peer {
    /// A call to `from` made in `term` has returned, `answered` or lost: a pipelining leader
    /// pauses a follower whose call was lost, and resumes it once one is answered.
    pub(crate) fn probe_returned_locked(
        &self,
        st: &mut RaftState,
        from: usize,
        term: u64,
        answered: bool,
    ) {
        if self.options.pipeline && st.current_term == term && st.role == Role::Leader {
            st.progress[from].pipeline.paused = !answered;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{Entry, Log};
    use crate::sender::SenderSlots;

    fn leader_with_log(entries: u64) -> RaftState {
        let mut log = Log::new();
        for _ in 0..entries {
            log.append(Entry {
                term: 2,
                command: Vec::new(),
            });
        }
        let mut st = RaftState::new(0, 3, 2, Some(0), log);
        for p in st.progress.iter_mut() {
            p.next_index = entries + 1;
        }
        st
    }

    #[test]
    fn only_a_replicating_follower_gets_entries_before_the_reply() {
        let now = Instant::now();
        let mut st = leader_with_log(5);
        st.progress[1].next_index = 4;
        st.progress[1].awaiting_reply = true;
        st.progress[1].senders.claim();
        // Probing (no success in this term yet): wait for the reply.
        assert!(!pipelined_send_due(&st, 1, now));
        st.progress[1].pipeline.replicating_term = 2;
        assert!(pipelined_send_due(&st, 1, now));
        // Nothing to send, or the pipeline is full: wait.
        st.progress[1].next_index = 6;
        assert!(!pipelined_send_due(&st, 1, now));
        st.progress[1].next_index = 4;
        for _ in 1..PIPELINE_DEPTH {
            st.progress[1].senders.claim();
        }
        assert!(!pipelined_send_due(&st, 1, now));
        // A success from an earlier term says nothing about this one.
        st.progress[1].senders = SenderSlots::default();
        st.progress[1].senders.claim();
        st.current_term = 3;
        assert!(!pipelined_send_due(&st, 1, now));
        // Nothing in flight: the lab's rule (`next_send_at`) sends at once anyway.
        st.current_term = 2;
        st.progress[1].awaiting_reply = false;
        assert!(!pipelined_send_due(&st, 1, now));
    }

    #[test]
    fn a_small_batch_waits_for_the_reply_but_not_past_the_gap() {
        let sent = Instant::now();
        let mut st = leader_with_log(5);
        let p = &mut st.progress[1];
        p.next_index = 4;
        p.awaiting_reply = true;
        p.senders.claim();
        p.pipeline.replicating_term = 2;
        p.pipeline.last_sent = Some(sent);
        assert!(!pipelined_send_due(&st, 1, sent));
        let just_before = sent + PIPELINE_GAP - Duration::from_micros(1);
        assert!(!pipelined_send_due(&st, 1, just_before));
        assert!(pipelined_send_due(&st, 1, sent + PIPELINE_GAP));
    }
}
