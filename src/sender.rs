//! The RPC senders (PartA, PartB, PartD): a few threads per other peer, reused for every
//! RequestVote, AppendEntries and InstallSnapshot this peer sends to it.
//!
//! A labrpc call blocks its thread until the reply comes or the simulated network gives up,
//! which under the lab's long delays takes up to 7 s, so calls must not be made by the election
//! ticker or a replicator (students' guide: never wait for an RPC with the lock held, and never
//! make a heartbeat wait for a slow peer). Go spawns a goroutine per call; a thread per call costs
//! a spawn and an exit each time and, towards a peer that cannot be reached, piles up threads
//! (about 28 per such peer at the leader's heartbeat rate). Here each peer keeps, per other peer,
//! a queue of calls and at most [`MAX_IN_FLIGHT`] threads taking calls off it, started on demand
//! and kept for the peer's life.
//!
//! The counts live in `RaftState` (`calls_in_flight`, `sender_threads`) so that a replicator
//! decides under the lock whether a call may go out. [`Peer::dispatch`] then releases the lock
//! to hand the calls over: nothing is spawned or sent on a channel with the lock held. A call
//! ends by taking the lock to process its reply, where it gives its slot back
//! ([`Peer::call_finished_locked`]).
//!
//! Threads: `raft<me>-send<to>-<k>`, started by `dispatch` (on the election ticker, a replicator
//! or another sender) and ended by `kill`, which closes the queues: each exits once its current
//! call returns. `kill` does not wait for them, as a call can take seconds to fail; they check
//! `dead` before acting on a reply.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::raft::{Peer, spawn_aborting};
use crate::state::RaftState;

/// The most calls outstanding from one peer to another. A leader sends heartbeats every
/// 125 ms; towards a peer that does not answer (each call then fails after up to 7 s) the
/// heartbeats beyond this many wait for a sender to come back, and are not worth more threads.
pub(crate) const MAX_IN_FLIGHT: usize = 8;

/// One RPC to make and its reply to process, on a sender thread.
pub(crate) type Call = Box<dyn FnOnce() + Send>;

/// Per other peer, the queue of calls to it, which its sender threads share.
///
/// A mutex and a condvar rather than a channel: a crossbeam receiver spins and yields the CPU
/// several times before it sleeps, once per call, which on two cores costs more than the call.
pub(crate) struct Senders {
    queues: Vec<Arc<Queue>>,
}

#[derive(Default)]
struct Queue {
    /// The calls waiting for a sender, and whether the peer was killed (the queue is closed).
    calls: Mutex<(VecDeque<Call>, bool)>,
    /// Wakes a sender thread: a call was queued, or the queue closed.
    ready: Condvar,
}

impl Senders {
    pub(crate) fn new(peers: usize) -> Senders {
        Senders {
            queues: (0..peers).map(|_| Arc::default()).collect(),
        }
    }

    /// Closes every queue: each sender thread exits once its current call returns, and calls
    /// still queued are dropped unsent.
    pub(crate) fn close(&self) {
        for queue in &self.queues {
            let mut calls = queue.calls.lock();
            calls.0.clear();
            calls.1 = true;
            drop(calls);
            queue.ready.notify_all();
        }
    }
}

/// A peer dropped without `kill` still ends its sender threads.
impl Drop for Senders {
    fn drop(&mut self) {
        self.close();
    }
}

impl Queue {
    fn push(&self, call: Call) {
        let mut calls = self.calls.lock();
        if !calls.1 {
            calls.0.push_back(call);
            drop(calls);
            self.ready.notify_one();
        }
    }

    /// The next call, or `None` once the queue is closed.
    fn pop(&self) -> Option<Call> {
        let mut calls = self.calls.lock();
        loop {
            if calls.1 {
                return None;
            }
            if let Some(call) = calls.0.pop_front() {
                return Some(call);
            }
            self.ready.wait(&mut calls);
        }
    }
}

impl Peer {
    /// Hands `calls` (each to its peer) to the sender threads, starting one where all of a
    /// peer's are busy. Releases the lock while it does so: no thread is started under it.
    pub(crate) fn dispatch(
        self: &Arc<Self>,
        st: &mut MutexGuard<'_, RaftState>,
        calls: Vec<(usize, Call)>,
    ) {
        if calls.is_empty() {
            return;
        }
        let calls: Vec<(usize, Call, Option<usize>)> = calls
            .into_iter()
            .map(|(to, call)| (to, call, claim_sender_locked(st, to)))
            .collect();
        let me = st.me;
        MutexGuard::unlocked(st, || {
            for (to, call, new_thread) in calls {
                self.senders.queues[to].push(call);
                if let Some(k) = new_thread {
                    // The thread holds the queue, and the peer only inside a call.
                    let queue = Arc::clone(&self.senders.queues[to]);
                    spawn_aborting(format!("raft{me}-send{to}-{k}"), move || {
                        while let Some(call) = queue.pop() {
                            call();
                        }
                    });
                }
            }
        });
    }
}

/// Reserves a sender for one more call to `to`. Returns the number of a new sender thread to
/// start when every existing one is busy and there are fewer than [`MAX_IN_FLIGHT`].
fn claim_sender_locked(st: &mut RaftState, to: usize) -> Option<usize> {
    st.calls_in_flight[to] += 1;
    if st.calls_in_flight[to] > st.sender_threads[to] && st.sender_threads[to] < MAX_IN_FLIGHT {
        st.sender_threads[to] += 1;
        return Some(st.sender_threads[to]);
    }
    None
}

impl Peer {
    /// A call to `from` has returned, with a reply or without: its sender is free again, which
    /// the replicator for `from` may be waiting for. Every call's reply path calls this first.
    pub(crate) fn call_finished_locked(&self, st: &mut RaftState, from: usize) {
        st.calls_in_flight[from] -= 1;
        self.replicate_wake[from].notify_all();
    }
}

/// Whether another call to `to` would find a sender free (replicators check before sending a
/// heartbeat; RequestVotes queue regardless).
pub(crate) fn sender_free_locked(st: &RaftState, to: usize) -> bool {
    st.calls_in_flight[to] < MAX_IN_FLIGHT
}
