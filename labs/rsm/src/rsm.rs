//! [`Rsm`]: a [`StateMachine`] on a Raft peer. [`Rsm::start`] restores the last snapshot and
//! starts the reader; [`Rsm::submit`] runs one operation through the log and waits for its
//! output; [`Rsm::kill`] stops everything. The reader thread is here too: it applies what Raft
//! commits and takes the snapshots.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex};
use raft::{ApplyMsg, Persister, Raft};

use crate::background::{Background, SnapshotStats, has_grown};
use crate::logging::slog;
use crate::machine::StateMachine;
use crate::snapshot;
use crate::waiters::{Verdict, Waiters};

/// How often a handler waiting for its operation asks Raft whether it still leads the term it
/// submitted in. A leader cut off in a minority never sees its entry commit; once it learns of
/// a newer term, the handler answers [`Error::WrongLeader`] and the clerk goes elsewhere.
/// Until then it waits, as Go's does: no timeout lets a minority answer.
pub const TERM_CHECK: Duration = Duration::from_millis(100);

/// Committed entries Raft may hand over before the reader takes them.
const APPLY_BUFFER: usize = 64;

/// Why [`Rsm::submit`] has no output to give. In every case the operation may or may not be
/// applied later; the clerk asks again (elsewhere), and the duplicate table makes that safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// This peer does not lead, or lost the term its entry was in, or another entry took the
    /// entry's index.
    WrongLeader,
    /// The server is shutting down.
    Killed,
}

/// Switches beyond the lab, for the real cluster; [`Rsm::start`] leaves them all off, the lab's
/// path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Raft's own switches (group commit, pipelining, PreVote, CheckQuorum, snapshots in
    /// pieces).
    pub raft: raft::Options,
    /// [`Rsm::query`] reads by ReadIndex instead of through the log.
    pub read_index: bool,
    /// Snapshot only once the Raft state has also grown past this percentage of the last
    /// snapshot's size (the thesis' expansion factor: `background.rs`), so that the bytes
    /// written for snapshots stay a bounded fraction of the bytes written by clients. `None`:
    /// at `maxraftstate` alone, as the lab does.
    pub snapshot_growth: Option<u32>,
    /// Write snapshots in the background from a copy of the state machine, a piece at a time,
    /// so that applying never waits for one (`background.rs`).
    pub background_snapshots: bool,
}

/// A handle on the state machine of one server and its Raft peer. Clones share them.
pub struct Rsm<S: StateMachine> {
    inner: Arc<Inner<S>>,
}

impl<S: StateMachine> Clone for Rsm<S> {
    fn clone(&self) -> Self {
        Rsm {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<S: StateMachine> {
    me: usize,
    rf: Raft,
    persister: Arc<Persister>,
    maxraftstate: Option<usize>,
    options: Options,
    /// The writer of background snapshots, with [`Options::background_snapshots`].
    background: Option<Background<S>>,
    /// The one lock: the state machine, the wait table, `last_applied`.
    shared: Mutex<Shared<S>>,
    /// Wakes [`Rsm::query`]'s handlers: `last_applied` moved, or `kill`.
    applied: Condvar,
    /// Dropped by `kill`, which wakes the reader.
    kill_tx: Mutex<Option<Sender<()>>>,
    /// The reader, joined by `kill`.
    reader: Mutex<Option<JoinHandle<()>>>,
}

/// What a handler sends itself through the wait table: the output, or why there is none.
type Waiter<S> = Sender<Result<<S as StateMachine>::Output, Error>>;

/// The wait table of a state machine `S`.
type Table<S> = Waiters<Waiter<S>, <S as StateMachine>::Output>;

struct Shared<S: StateMachine> {
    machine: S,
    /// The index of the last entry applied to `machine` (or covered by its snapshot).
    last_applied: u64,
    waiters: Table<S>,
    killed: bool,
}

impl<S: StateMachine> Rsm<S> {
    /// Starts server `me` of `servers`: restores the state machine from the persister's
    /// snapshot (Raft replays the log after it once it learns the commit index), makes the
    /// Raft peer and starts the reader. `maxraftstate`: snapshot when the persisted Raft state
    /// reaches that many bytes; `None` never snapshots.
    ///
    /// # Panics
    /// If the saved snapshot cannot be decoded: starting empty would lose acknowledged
    /// operations.
    pub fn start(
        servers: Vec<labrpc::ClientEnd>,
        me: usize,
        persister: Arc<Persister>,
        maxraftstate: Option<usize>,
    ) -> Rsm<S>
    where
        S: Default,
    {
        Rsm::start_from(servers, me, persister, maxraftstate, S::default())
    }

    /// [`Rsm::start`] for a state machine that does not start empty: `initial` is the state
    /// before the first entry (lab 5's shard store knows its group's id from the start). A
    /// snapshot in the persister replaces it, as it would replace the default.
    ///
    /// # Panics
    /// If the saved snapshot cannot be decoded.
    pub fn start_from(
        servers: Vec<labrpc::ClientEnd>,
        me: usize,
        persister: Arc<Persister>,
        maxraftstate: Option<usize>,
        initial: S,
    ) -> Rsm<S> {
        Rsm::start_with(
            servers,
            me,
            persister,
            maxraftstate,
            initial,
            Options::default(),
        )
    }

    /// [`Rsm::start_from`] with the switches of `options` (the real cluster's servers).
    ///
    /// # Panics
    /// If the saved snapshot cannot be decoded.
    pub fn start_with(
        servers: Vec<labrpc::ClientEnd>,
        me: usize,
        persister: Arc<Persister>,
        maxraftstate: Option<usize>,
        initial: S,
        options: Options,
    ) -> Rsm<S> {
        let restored = if options.raft.stream_snapshots {
            restore_streamed::<S>(me, &persister)
        } else {
            restore::<S>(me, &persister.read_snapshot())
        };
        let (machine, last_applied) = restored.unwrap_or((initial, 0));
        let (apply_tx, apply_rx) = crossbeam_channel::bounded(APPLY_BUFFER);
        let (kill_tx, kill_rx) = crossbeam_channel::bounded(0);
        let rf = Raft::make_with(servers, me, Arc::clone(&persister), apply_tx, options.raft);
        let background = options
            .background_snapshots
            .then(|| Background::start(me, rf.clone(), Arc::clone(&persister)));
        let inner = Arc::new(Inner {
            me,
            rf,
            persister,
            maxraftstate,
            options,
            background,

            applied: Condvar::new(),
            shared: Mutex::new(Shared {
                machine,
                last_applied,
                waiters: Waiters::new(),
                killed: false,
            }),
            kill_tx: Mutex::new(Some(kill_tx)),
            reader: Mutex::new(None),
        });
        let reader = {
            let inner = Arc::clone(&inner);
            raft::spawn_aborting(format!("rsm{me}-reader"), move || {
                inner.read(&apply_rx, &kill_rx)
            })
        };
        *inner.reader.lock() = Some(reader);
        Rsm { inner }
    }

    /// Runs `op` through the log: hands it to Raft, waits until the entry at its index is
    /// applied, and returns the output of applying it. Returns at once if this peer does not
    /// lead or is killed, and as soon as it learns it lost its term (see [`TERM_CHECK`]).
    pub fn submit(&self, op: &S::Op) -> Result<S::Output, Error> {
        // solution: begin 4A submit
        let inner = &*self.inner;
        let begun_at = {
            let mut sh = inner.shared.lock();
            if sh.killed {
                return Err(Error::Killed);
            }
            let last_applied = sh.last_applied;
            sh.waiters.starting(last_applied);
            last_applied
        };
        // No lock is held here: the reader may apply this very entry before `start` is back,
        // and then parks its output for this handler (see `waiters.rs`).
        let (index, term, is_leader) = inner.rf.start(labgob::encode(op));
        let (tx, rx) = crossbeam_channel::bounded(1);
        let displaced = {
            let mut sh = inner.shared.lock();
            let entry = is_leader.then_some((index, term));
            match sh.waiters.started(begun_at, entry) {
                _ if !is_leader => return Err(Error::WrongLeader),
                Some(Verdict::Applied(output)) => {
                    slog!(DONE, inner.me, term, "index {index} applied inside start");
                    return Ok(output);
                }
                Some(Verdict::Lost) => return Err(Error::WrongLeader),
                None if sh.killed => return Err(Error::Killed),
                None => {}
            }
            slog!(SUBM, inner.me, term, "{op:?} at index {index}");
            sh.waiters.insert(index, term, tx)
        };
        if let Some(displaced) = displaced {
            let _ = displaced.send(Err(Error::WrongLeader));
        }
        let outcome = inner.wait(&rx, index, term);
        if outcome.is_err() {
            inner.shared.lock().waiters.remove(index, term);
        }
        outcome
        // solution: end submit
    }

    /// Answers `op`, which only reads: through the log as [`Rsm::submit`] does, or, with
    /// [`Options::read_index`], with no log entry: Raft confirms this peer leads and gives the
    /// commit index ([`Raft::read_index`]), and the state machine answers
    /// ([`StateMachine::query`]) once it has applied that far. Where Raft cannot give an
    /// index (a new leader, say), or `op` is not a read, it goes through the log.
    pub fn query(&self, op: &S::Op) -> Result<S::Output, Error> {
        let inner = &*self.inner;
        if !inner.options.read_index {
            return self.submit(op);
        }
        // No lock is held while Raft confirms its leadership.
        let Some(index) = inner.rf.read_index() else {
            return self.submit(op);
        };
        let mut sh = inner.shared.lock();
        loop {
            if sh.killed {
                return Err(Error::Killed);
            }
            if sh.last_applied >= index {
                break;
            }
            // The entries up to `index` are committed here, so the reader gets to them;
            // `kill` wakes this too.
            inner.applied.wait_for(&mut sh, TERM_CHECK);
        }
        match sh.machine.query(op) {
            Some(output) => Ok(output),
            None => {
                drop(sh);
                self.submit(op)
            }
        }
    }

    /// A handle on this server's Raft peer.
    pub fn raft(&self) -> Raft {
        self.inner.rf.clone()
    }

    /// The index of the last entry applied to the state machine.
    pub fn last_applied(&self) -> u64 {
        self.inner.shared.lock().last_applied
    }

    /// Runs `f` on the state machine as it is now (for status displays and tests: a read
    /// here is not linearizable; [`Rsm::submit`] a read operation for that).
    pub fn inspect<T>(&self, f: impl FnOnce(&S) -> T) -> T {
        f(&self.inner.shared.lock().machine)
    }

    /// The snapshots this server has written in the background since it started (`None`
    /// without [`Options::background_snapshots`]).
    pub fn snapshot_stats(&self) -> Option<SnapshotStats> {
        self.inner.background.as_ref().map(Background::stats)
    }

    /// Stops the server: every waiting handler returns [`Error::Killed`] at once, the Raft
    /// peer is killed, and the reader is joined. Calling it again does nothing.
    pub fn kill(&self) {
        let inner = &*self.inner;
        let waiters = {
            let mut sh = inner.shared.lock();
            if sh.killed {
                return;
            }
            sh.killed = true;
            sh.waiters.drain()
        };
        inner.applied.notify_all();
        // Dropping a waiter's sender ends its handler's wait with `Killed`.
        drop(waiters);
        inner.rf.kill();
        inner.kill_tx.lock().take();
        let reader = inner.reader.lock().take();
        if let Some(reader) = reader {
            reader
                .join()
                .expect("the reader aborts the process if it panics");
        }
        if let Some(background) = &inner.background {
            background.stop();
        }
        slog!(KILL, inner.me, 0, "stopped");
    }
}

/// The state machine and its last index from a snapshot made by `snapshot::encode`; `None`
/// from no snapshot at all.
fn restore<S: StateMachine>(me: usize, bytes: &[u8]) -> Option<(S, u64)> {
    // solution: begin 4B restore
    if bytes.is_empty() {
        return None;
    }
    match snapshot::decode::<S>(bytes) {
        Ok((last_applied, machine)) => Some((machine, last_applied)),
        Err(err) => panic!(
            "S{me}: the snapshot ({} bytes) is corrupt: {err}",
            bytes.len()
        ),
    }
    // solution: end restore
}

/// [`restore`] from the persister's snapshot, decoded as it is read, never held whole (beyond
/// the lab: `raft::Options::stream_snapshots`).
fn restore_streamed<S: StateMachine>(me: usize, persister: &Persister) -> Option<(S, u64)> {
    let (reader, len) = persister
        .snapshot_reader()
        .unwrap_or_else(|err| panic!("S{me}: cannot read the saved snapshot: {err}"));
    if len == 0 {
        return None;
    }
    match snapshot::decode_from::<S>(reader, len) {
        Ok((last_applied, machine)) => Some((machine, last_applied)),
        Err(err) => panic!("S{me}: the snapshot ({len} bytes) is corrupt: {err}"),
    }
}

impl<S: StateMachine> Inner<S> {
    /// A handler's wait for the verdict on its entry at `index`, of `term`.
    fn wait(
        &self,
        rx: &Receiver<Result<S::Output, Error>>,
        index: u64,
        term: u64,
    ) -> Result<S::Output, Error> {
        // solution: begin 4A wait
        loop {
            match rx.recv_timeout(TERM_CHECK) {
                Ok(outcome) => {
                    match &outcome {
                        Ok(_) => slog!(DONE, self.me, term, "index {index} applied"),
                        Err(err) => slog!(LOST, self.me, term, "index {index}: {err:?}"),
                    }
                    return outcome;
                }
                Err(RecvTimeoutError::Disconnected) => return Err(Error::Killed),
                Err(RecvTimeoutError::Timeout) => {
                    let (now, leading) = self.rf.get_state();
                    if now != term || !leading {
                        slog!(
                            LOST,
                            self.me,
                            term,
                            "index {index}: now T{now}, leading={leading}"
                        );
                        return Err(Error::WrongLeader);
                    }
                }
            }
        }
        // solution: end wait
    }

    /// The reader: everything Raft commits, in order, until `kill`.
    fn read(&self, apply_rx: &Receiver<ApplyMsg>, kill_rx: &Receiver<()>) {
        // solution: begin 4A reader
        loop {
            let msg = crossbeam_channel::select! {
                recv(apply_rx) -> msg => match msg {
                    Ok(msg) => msg,
                    Err(_) => return,
                },
                recv(kill_rx) -> _ => return,
            };
            match msg {
                ApplyMsg::Command {
                    command,
                    index,
                    term,
                } => self.apply_command(&command, index, term),
                ApplyMsg::Snapshot {
                    snapshot,
                    index,
                    term,
                } => self.install_snapshot(&snapshot, index, term),
            }
        }
        // solution: end reader
    }

    /// Applies the committed entry at `index` and answers the handler waiting there; then
    /// snapshots if the log has grown to `maxraftstate`.
    ///
    /// # Panics
    /// If the command is not an operation of this service: the log holds only what `submit`
    /// put there, so that is a bug, and skipping it would let replicas diverge.
    fn apply_command(&self, command: &[u8], index: u64, term: u64) {
        // solution: begin 4A apply-command
        let op: S::Op = labgob::decode(command).unwrap_or_else(|err| {
            panic!(
                "S{}: the entry at index {index} (term {term}, {} bytes) is not an operation of this service: {err}",
                self.me,
                command.len()
            )
        });
        let (answer, snapshot) = {
            let mut sh = self.shared.lock();
            if index <= sh.last_applied {
                // Covered by a snapshot installed while this entry was on its way.
                return;
            }
            assert_eq!(
                index,
                sh.last_applied + 1,
                "S{}: Raft applied index {index} after {}",
                self.me,
                sh.last_applied
            );
            let output = sh.machine.apply(op);
            sh.last_applied = index;
            self.applied.notify_all();
            let answer = match sh.waiters.applied(index, term, output) {
                Some((waiter, Verdict::Applied(output))) => Some((waiter, Ok(output))),
                Some((waiter, Verdict::Lost)) => Some((waiter, Err(Error::WrongLeader))),
                None => None,
            };
            let snapshot = if self.options.snapshot_growth.is_some() || self.background.is_some() {
                self.snapshot_beyond_the_lab(index, &sh.machine)
            } else {
                // solution: begin 4B snapshot-trigger
                let snapshot =
                    snapshot::is_due(self.persister.raft_state_size(), self.maxraftstate)
                        .then(|| snapshot::encode(index, &sh.machine));
                // solution: end snapshot-trigger
                snapshot
            };
            (answer, snapshot)
        };
        if let Some((waiter, outcome)) = answer {
            let _ = waiter.send(outcome);
        }
        if let Some(bytes) = snapshot {
            slog!(
                SSNP,
                self.me,
                term,
                "snapshot at index {index}, {} bytes",
                bytes.len()
            );
            self.rf.snapshot(index, bytes);
        }
        // solution: end apply-command
    }

    /// The lab's snapshot trigger (due at `maxraftstate`, encoded here) as the switches beyond
    /// the lab change it: due only once the log has also outgrown the last snapshot
    /// ([`Options::snapshot_growth`]), and handed to the background writer instead of encoded
    /// here ([`Options::background_snapshots`]). Returns the snapshot for the reader to save,
    /// if it is to save one.
    fn snapshot_beyond_the_lab(&self, index: u64, machine: &S) -> Option<Vec<u8>> {
        let state = self.persister.raft_state_size();
        if !snapshot::is_due(state, self.maxraftstate) {
            return None;
        }
        if let Some(percent) = self.options.snapshot_growth
            && !has_grown(state, self.persister.snapshot_size(), percent)
        {
            return None;
        }
        match &self.background {
            Some(background) => {
                background.offer(index, machine);
                None
            }
            None => Some(snapshot::encode(index, machine)),
        }
    }

    /// Replaces the state machine with a snapshot the leader sent, unless the state is newer.
    ///
    /// # Panics
    /// If the snapshot cannot be decoded: it was made by this same layer on another server.
    fn install_snapshot(&self, bytes: &[u8], index: u64, term: u64) {
        // solution: begin 4B install-snapshot
        {
            let sh = self.shared.lock();
            if index <= sh.last_applied {
                // Pitfall: a snapshot older than the applied state would undo operations.
                slog!(
                    SSNP,
                    self.me,
                    term,
                    "ignored snapshot ..={index}: applied ..={}",
                    sh.last_applied
                );
                return;
            }
        }
        // Decoded with the layer's lock released, so that a large snapshot holds up no
        // handler: only this thread moves `last_applied`.
        let (machine, covered) = self.decode_installed(bytes, index);
        let lost = {
            let mut sh = self.shared.lock();
            sh.machine = machine;
            sh.last_applied = covered;
            self.applied.notify_all();
            sh.waiters.covered(covered)
        };
        slog!(SSNP, self.me, term, "installed snapshot ..={covered}");
        for waiter in lost {
            let _ = waiter.send(Err(Error::WrongLeader));
        }
        // solution: end install-snapshot
    }

    /// The state machine in the snapshot Raft installed through `index`, and the index it
    /// covers: decoded from `bytes`, or beyond the lab, with `raft::Options::stream_snapshots`,
    /// from the persister as it is read. Raft may have installed a newer snapshot there since
    /// it sent this one; that one then covers more, and Raft's next message is its own, which
    /// `install_snapshot` ignores.
    ///
    /// # Panics
    /// If the snapshot is empty or covers another index than Raft says: a bug in Raft.
    fn decode_installed(&self, bytes: &[u8], index: u64) -> (S, u64) {
        let streamed = self.options.raft.stream_snapshots;
        let restored = if streamed {
            restore_streamed::<S>(self.me, &self.persister)
        } else {
            restore::<S>(self.me, bytes)
        };
        let Some((machine, covered)) = restored else {
            panic!(
                "S{}: Raft installed an empty snapshot for index {index}",
                self.me
            );
        };
        assert!(
            covered == index || (streamed && covered > index),
            "S{}: a snapshot for index {index} says it covers {covered}",
            self.me
        );
        (machine, covered)
    }
}
