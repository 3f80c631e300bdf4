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
//! The counts live in each peer's [`Progress`](crate::progress::Progress) record ([`SenderSlots`])
//! so that a replicator decides under the lock whether a call may go out. [`Peer::dispatch`] then
//! releases the lock to hand the calls over: nothing is spawned or sent on a channel with the lock
//! held. A call ends by taking the lock to process its reply, where it gives its slot back
//! ([`Peer::call_finished_locked`]); then its thread takes the replicator's next step for that
//! peer ([`Peer::after_call`]), and makes the next call itself if one is due at once.
//!
//! Threads: `raft<me>-send<to>-<k>`, started by `dispatch` (on the election ticker, a replicator
//! or another sender) and ended by `kill`, which closes the queues: each exits once its current
//! call returns. `kill` does not wait for them, as a call can take seconds to fail; they check
//! `dead` before acting on a reply.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::peer::{Peer, spawn_aborting};
use crate::state::RaftState;

/// The most calls outstanding from one peer to another. A leader sends heartbeats every
/// 125 ms; towards a peer that does not answer (each call then fails after up to 7 s) the
/// heartbeats beyond this many wait for a sender to come back, and are not worth more threads.
pub(crate) const MAX_IN_FLIGHT: usize = 8;

/// One RPC to make and its reply to process, on a sender thread ([`Peer::call_to`]). Running it
/// may hand back the next call to the same peer, which the thread then makes at once.
pub(crate) struct Call(Box<dyn FnOnce() -> Option<Call> + Send>);

impl Call {
    fn run(self) -> Option<Call> {
        (self.0)()
    }
}

/// Per other peer, the queue of calls to it, which its sender threads share.
pub(crate) struct Senders {
    queues: Vec<Arc<Queue>>,
}

/// A queue of calls that its sender threads wait on with a condvar, not a channel: a channel's
/// receiver spins and yields the processor a few times before it sleeps, which cost several
/// context switches per wait here (perf on the churn tests).
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    /// Signalled when a call is queued or the queue is closed.
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    calls: VecDeque<Call>,
    /// Set once the peer is killed: the queue takes no more calls, and its threads exit.
    closed: bool,
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
            let unsent = {
                let mut state = queue.state.lock();
                state.closed = true;
                std::mem::take(&mut state.calls)
            };
            queue.ready.notify_all();
            // Dropped outside the queue's lock: a call holds the peer, whose drop closes
            // the queues again.
            drop(unsent);
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
    /// Queues `call`, unless the queue is closed (then the call is dropped unsent).
    fn push(&self, call: Call) {
        let mut state = self.state.lock();
        if state.closed {
            drop(state);
            drop(call);
            return;
        }
        state.calls.push_back(call);
        drop(state);
        self.ready.notify_one();
    }

    /// The next call, or `None` once the queue is closed.
    fn pop(&self) -> Option<Call> {
        let mut state = self.state.lock();
        loop {
            if state.closed {
                return None;
            }
            if let Some(call) = state.calls.pop_front() {
                return Some(call);
            }
            self.ready.wait(&mut state);
        }
    }
}

impl Peer {
    /// The call to `to` that `work` makes (send the RPC, process its reply), for a sender
    /// thread. After `work`, the same thread takes the replicator's next step for `to`
    /// ([`Peer::after_call`]).
    pub(crate) fn call_to(
        self: &Arc<Self>,
        to: usize,
        work: impl FnOnce(&Arc<Peer>) + Send + 'static,
    ) -> Call {
        let peer = Arc::clone(self);
        Call(Box::new(move || {
            work(&peer);
            peer.after_call(to)
        }))
    }

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
            .map(|(to, call)| (to, call, st.progress[to].senders.claim()))
            .collect();
        let me = st.me;
        MutexGuard::unlocked(st, || {
            for (to, call, new_thread) in calls {
                self.senders.queues[to].push(call);
                if let Some(k) = new_thread {
                    // The thread holds the queue, and the peer only inside a call.
                    let queue = Arc::clone(&self.senders.queues[to]);
                    spawn_aborting(format!("raft{me}-send{to}-{k}"), move || {
                        while let Some(mut call) = queue.pop() {
                            while let Some(next) = call.run() {
                                call = next;
                            }
                        }
                    });
                }
            }
        });
    }
}

/// The calls to one other peer that are in flight, and the sender threads started for it.
#[derive(Debug, Default)]
pub(crate) struct SenderSlots {
    /// Calls handed to the senders that have not returned yet.
    calls: usize,
    /// Sender threads started, at most [`MAX_IN_FLIGHT`].
    threads: usize,
}

impl SenderSlots {
    /// Reserves a sender for one more call. Returns the number of a new sender thread to start
    /// when every existing one is busy and there are fewer than [`MAX_IN_FLIGHT`].
    pub(crate) fn claim(&mut self) -> Option<usize> {
        self.calls += 1;
        if self.calls > self.threads && self.threads < MAX_IN_FLIGHT {
            self.threads += 1;
            return Some(self.threads);
        }
        None
    }

    /// Reserves a sender for a call that the thread of one just returned makes next
    /// ([`Peer::after_call`]): no other thread is needed.
    pub(crate) fn claim_here(&mut self) {
        self.calls += 1;
    }

    /// Whether another call would find a sender free (replicators check before sending a
    /// heartbeat; RequestVotes queue regardless).
    pub(crate) fn free(&self) -> bool {
        self.calls < MAX_IN_FLIGHT
    }

    /// The calls in flight.
    pub(crate) fn calls(&self) -> usize {
        self.calls
    }
}

impl Peer {
    /// A call to `from` has returned, with a reply or without: its sender is free again. Every
    /// call's reply path calls this first; the replicator for `from`, which may be waiting for
    /// a free sender, hears of it from [`Peer::after_call`] once the reply is processed.
    pub(crate) fn call_finished_locked(&self, st: &mut RaftState, from: usize) {
        st.progress[from].senders.calls -= 1;
    }
}
