//! `Peer`, the shared core behind a [`Raft`](crate::Raft) handle: the one mutex over
//! [`RaftState`], the condvars that wake the peer's threads, the sender queues, and the
//! long-lived threads themselves, which `spawn_joined` starts and `kill` joins.

use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_channel::Sender;
use labrpc::ClientEnd;
use parking_lot::{Condvar, Mutex};

use crate::logging::rlog;
use crate::persister::Persister;
use crate::raft::Options;
use crate::sender::Senders;
use crate::snapshot::Incoming;
use crate::state::RaftState;

/// The shared core of one peer: its lock, the condvars that wake its threads, and the threads.
pub(crate) struct Peer {
    /// This peer's index in `peers`.
    pub me: usize,
    /// One labrpc end per peer (including this one, unused).
    pub peers: Vec<ClientEnd>,
    /// Where Figure 2's persistent state and the snapshot are saved.
    pub persister: Arc<Persister>,
    /// The one lock: everything in [`RaftState`].
    pub state: Mutex<RaftState>,
    /// Wakes the election ticker (only `kill` needs to: it otherwise sleeps until its deadline).
    pub election_wake: Condvar,
    /// Per follower, wakes its replicator: a reply from it that moves the replicator's deadline
    /// earlier or frees a sender it waits for; a new commit index while no call to it awaits a
    /// reply; and all of them: a lost term, `kill`.
    pub replicate_wake: Vec<Condvar>,
    /// Wakes the applier: a higher commit index, an installed snapshot, `kill`.
    pub apply_wake: Condvar,
    /// Wakes the syncer (group commit only): entries appended unsaved, `kill`.
    pub sync_wake: Condvar,
    /// Wakes [`Raft::read_index`] callers: a follower acknowledged a round, `kill`.
    pub read_wake: Condvar,
    /// The switches beyond the lab.
    pub options: Options,
    /// The long-lived threads (election ticker, applier, replicators), joined by `kill`;
    /// `None` once `kill` has collected them, so that no thread starts after.
    threads: Mutex<Option<Vec<JoinHandle<()>>>>,
    /// The threads that make the RPC calls to each other peer.
    pub senders: Senders,
    /// Dropped by `kill`, which wakes an applier blocked sending on `apply_ch`.
    kill_tx: Mutex<Option<Sender<()>>>,
    /// Followers, beyond the lab: the snapshot arriving in pieces (`snapshot.rs`). Its own
    /// lock, taken with Raft's released, since its pieces are written to disk.
    pub incoming: Mutex<Option<Incoming>>,
}

impl Peer {
    /// The core of peer `st.me` of `peers`, with no thread started yet; `kill_tx` is the sender
    /// half of the channel whose closing wakes the applier.
    pub(crate) fn new(
        peers: Vec<ClientEnd>,
        persister: Arc<Persister>,
        st: RaftState,
        options: Options,
        kill_tx: Sender<()>,
    ) -> Peer {
        let n = peers.len();
        Peer {
            me: st.me,
            peers,
            persister,
            state: Mutex::new(st),
            election_wake: Condvar::new(),
            replicate_wake: (0..n).map(|_| Condvar::new()).collect(),
            apply_wake: Condvar::new(),
            sync_wake: Condvar::new(),
            read_wake: Condvar::new(),
            options,
            threads: Mutex::new(Some(Vec::new())),
            senders: Senders::new(n),
            kill_tx: Mutex::new(Some(kill_tx)),
            incoming: Mutex::new(None),
        }
    }

    /// See [`crate::Raft::kill`]: marks the peer dead, wakes every thread, closes the sender
    /// queues and joins the long-lived threads.
    pub(crate) fn kill(&self) {
        {
            let mut st = self.state.lock();
            st.dead = true;
            rlog!(DROP, st, "killed");
        }
        self.election_wake.notify_all();
        self.wake_replicators();
        self.apply_wake.notify_all();
        self.sync_wake.notify_all();
        self.read_wake.notify_all();
        drop(self.kill_tx.lock().take());
        self.senders.close();
        let threads = self.threads.lock().take().unwrap_or_default();
        for thread in threads {
            thread
                .join()
                .expect("raft threads never unwind: a panic aborts the process");
        }
    }

    /// Starts a long-lived thread that `kill` joins, unless `kill` has begun (then the thread
    /// would only see `dead` and exit). Never called with the state lock held.
    pub(crate) fn spawn_joined(
        self: &Arc<Self>,
        name: String,
        body: impl FnOnce(Arc<Peer>) + Send + 'static,
    ) {
        let mut threads = self.threads.lock();
        let Some(threads) = threads.as_mut() else {
            return;
        };
        let peer = Arc::clone(self);
        threads.retain(|thread| !thread.is_finished());
        threads.push(spawn_aborting(name, move || body(peer)));
    }

    /// Wakes every replicator: a lost term, `kill`, a ReadIndex round.
    pub(crate) fn wake_replicators(&self) {
        for wake in &self.replicate_wake {
            wake.notify_all();
        }
    }
}

/// Spawns a named thread; a panic in it aborts the process, as a panicking goroutine ends a Go
/// test binary, so a broken invariant cannot pass unnoticed as a silently dead thread. Raft's
/// threads use it, and so do the services' (the `rsm` layer's reader).
pub fn spawn_aborting(name: String, body: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    thread::Builder::new()
        .name(name)
        .spawn(move || {
            if let Err(panic) = catch_unwind(AssertUnwindSafe(body)) {
                report_panic_and_abort(panic.as_ref());
            }
        })
        .expect("the OS refused to start a thread")
}

/// The last words of a panicked Raft thread. They go straight to the process's stderr: a test
/// harness that captures output (libtest does) would lose them with the process.
fn report_panic_and_abort(panic: &(dyn std::any::Any + Send)) -> ! {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic without a message)");
    let thread = thread::current();
    let name = thread.name().unwrap_or("unnamed");
    log::error!(target: "raft", "thread '{name}' panicked: {message}; aborting");
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "thread '{name}' panicked: {message}");
    let _ = writeln!(
        err,
        "aborting the process: a Raft or service thread must never panic (a broken invariant, or a labrpc handler that panicked)"
    );
    let _ = err.flush();
    std::process::abort();
}
