//! The appliers: the threads that read each peer's `apply_ch` and check what it delivers,
//! Go's `applier`, `applierSnap` and `ingestSnap`; and the zombies, the channels of killed
//! instances, which must stay silent.
//!
//! Each start of a peer gets its own applier thread. `crash1` stops it before it kills the
//! peer: the applier finishes the message in hand (which may mean a call to `Raft::snapshot`),
//! hands its receiver back and is joined. The receiver is then kept as a [`Zombie`]: after
//! `kill` returns, nothing more may be sent on `apply_ch` (lab-api.md), and as the channel is a
//! rendezvous, whatever the zombie yields was offered after `kill` returned. The harness checks
//! the zombies whenever it checks for apply errors, and each message one yields is an error.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use parking_lot::Mutex;
use raft::crossbeam_channel::{self, Receiver, Sender, TryRecvError, select};
use raft::{ApplyMsg, Raft};
use tester::timeline::Timeline;

use super::{Cmd, SNAPSHOT_INTERVAL};

/// What the appliers share with the harness (Go's fields under `cfg.mu`).
pub(crate) struct Logs {
    /// Per peer: the committed commands it applied, by index (Go's `logs`).
    pub(crate) logs: Vec<HashMap<u64, Cmd>>,
    /// Per peer: the last index applied (Go's `lastApplied`; the snapshot applier's check).
    pub(crate) last_applied: Vec<u64>,
    /// Per peer: the first apply error, if any (Go's `applyErr`).
    pub(crate) apply_err: Vec<Option<String>>,
    /// The highest index applied anywhere (Go's `maxIndex`).
    pub(crate) max_index: u64,
    /// Per peer: the snapshots Raft handed it on `apply_ch` (not in Go's harness).
    pub(crate) snapshots_received: Vec<usize>,
}

impl Logs {
    pub(crate) fn new(n: usize) -> Logs {
        Logs {
            logs: vec![HashMap::new(); n],
            last_applied: vec![0; n],
            apply_err: vec![None; n],
            max_index: 0,
            snapshots_received: vec![0; n],
        }
    }

    /// Records `err` as peer `i`'s apply error, unless it has one already.
    pub(crate) fn record_error(&mut self, i: usize, err: String) {
        // Go calls log.Fatalf here; the next harness call fails the test instead.
        eprintln!("apply error: {err}");
        tlog!("apply error: {err}");
        self.apply_err[i].get_or_insert(err);
    }
}

/// The snapshot the snapshot applier hands to `Raft::snapshot`: the index and the tester's log
/// up to it (entry 0 empty), as Go's applierSnap encodes them.
type SnapshotData = (u64, Vec<Option<Cmd>>);

/// Go's `ingestSnap`: replace peer `i`'s tester log by the snapshot's. `index` is the index the
/// snapshot was delivered with, if it came on `apply_ch`.
pub(crate) fn ingest_snap(
    logs: &mut Logs,
    i: usize,
    snapshot: &[u8],
    index: Option<u64>,
) -> Result<(), String> {
    let (last_included_index, xlog): SnapshotData =
        labgob::decode(snapshot).map_err(|e| format!("server {i} snapshot decode error: {e}"))?;
    if index.is_some_and(|index| index != last_included_index) {
        return Err(format!("server {i} snapshot doesn't match m.SnapshotIndex"));
    }
    logs.logs[i] = xlog
        .into_iter()
        .enumerate()
        .filter_map(|(j, cmd)| cmd.map(|cmd| (j as u64, cmd)))
        .collect();
    logs.last_applied[i] = last_included_index;
    Ok(())
}

/// Reads one peer's `apply_ch` (Go's `applier` and `applierSnap`).
pub(crate) struct Applier {
    pub(crate) me: usize,
    pub(crate) logs: Arc<Mutex<Logs>>,
    pub(crate) timeline: Arc<Timeline>,
    pub(crate) rf: Raft,
    /// Whether this is Go's `applierSnap`, which asks for a snapshot every ten commands.
    pub(crate) with_snapshots: bool,
}

/// The harness's handle on a running applier thread.
pub(crate) struct RunningApplier {
    stop: Sender<()>,
    thread: JoinHandle<Receiver<ApplyMsg>>,
}

impl Applier {
    /// Starts the applier on a thread of its own, reading `apply_ch`.
    pub(crate) fn spawn(self, apply_ch: Receiver<ApplyMsg>) -> RunningApplier {
        let (stop, stop_rx) = crossbeam_channel::bounded(0);
        let thread = thread::Builder::new()
            .name(format!("test-applier{}", self.me))
            .spawn(move || self.run(apply_ch, stop_rx))
            .expect("spawn an applier");
        RunningApplier { stop, thread }
    }

    /// Applies what arrives on `apply_ch` until told to stop; returns the receiver.
    fn run(self, apply_ch: Receiver<ApplyMsg>, stop: Receiver<()>) -> Receiver<ApplyMsg> {
        let mut failed = false;
        loop {
            select! {
                recv(stop) -> _ => return apply_ch,
                recv(apply_ch) -> msg => match msg {
                    // After an error Go's process is dead; keep reading, so that Raft does not
                    // block, but record nothing more.
                    Ok(_) if failed => {}
                    Ok(msg) => {
                        if let Err(err) = self.handle(msg) {
                            self.logs.lock().record_error(self.me, err);
                            failed = true;
                        }
                    }
                    // Raft dropped its sender: nothing more can come; wait to be stopped.
                    Err(_) => {
                        let _ = stop.recv();
                        return apply_ch;
                    }
                },
            }
        }
    }

    fn handle(&self, msg: ApplyMsg) -> Result<(), String> {
        match msg {
            ApplyMsg::Command { command, index, .. } => self.apply(&command, index),
            ApplyMsg::Snapshot {
                snapshot, index, ..
            } => {
                let mut logs = self.logs.lock();
                logs.snapshots_received[self.me] += 1;
                if self.with_snapshots {
                    ingest_snap(&mut logs, self.me, &snapshot, Some(index))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// One committed command: Go's checks (`checkLogs`), then a snapshot every ten commands if
    /// this is the snapshot applier.
    fn apply(&self, command: &[u8], index: u64) -> Result<(), String> {
        let i = self.me;
        let cmd: Cmd = labgob::decode(command)
            .map_err(|e| format!("server {i} applied an undecodable command at {index}: {e}"))?;
        let snapshot = {
            let mut logs = self.logs.lock();
            if self.with_snapshots && index != logs.last_applied[i] + 1 {
                return Err(format!(
                    "server {i} apply out of order, expected index {}, got {index}",
                    logs.last_applied[i] + 1
                ));
            }
            let mut err = None;
            for (j, log) in logs.logs.iter().enumerate() {
                if let Some(old) = log.get(&index)
                    && *old != cmd
                {
                    // Some server has already committed a different value for this entry!
                    err = Some(format!(
                        "commit index={index} server={i} {cmd} != server={j} {old}"
                    ));
                }
            }
            let prev_ok = logs.logs[i].contains_key(&(index - 1));
            logs.logs[i].insert(index, cmd);
            if index > logs.max_index {
                logs.max_index = index;
                self.timeline.committed(index);
            }
            logs.last_applied[i] = index;
            if let Some(err) = err {
                return Err(err);
            }
            if index > 1 && !prev_ok {
                return Err(format!("server {i} apply out of order {index}"));
            }
            (self.with_snapshots && (index + 1).is_multiple_of(SNAPSHOT_INTERVAL)).then(|| {
                let xlog: Vec<Option<Cmd>> =
                    (0..=index).map(|j| logs.logs[i].get(&j).cloned()).collect();
                labgob::encode(&(index, xlog))
            })
        };
        // Outside the lock, from the thread that reads apply_ch, as Go's applierSnap does:
        // a Raft that holds its lock while sending on apply_ch deadlocks here.
        if let Some(snapshot) = snapshot {
            self.rf.snapshot(index, snapshot);
        }
        Ok(())
    }
}

impl RunningApplier {
    /// Stops the applier once it has finished the message in hand, and joins it. Returns its
    /// receiver, or `None` if the applier panicked (its panic has been reported already).
    /// Must be called without the harness's locks: the applier takes them.
    pub(crate) fn stop(self) -> Option<Receiver<ApplyMsg>> {
        // A rendezvous: once it returns, the applier has stopped reading. It fails only if
        // the applier has gone already.
        let _ = self.stop.send(());
        self.thread.join().ok()
    }
}

/// The `apply_ch` receiver of a killed instance of peer `server`.
pub(crate) struct Zombie {
    pub(crate) server: usize,
    pub(crate) apply_ch: Receiver<ApplyMsg>,
}

impl Zombie {
    /// Takes what the killed instance offers now, if anything: `Err` with the apply error
    /// for a message, `Ok(false)` once its sender is gone (it can send nothing more).
    pub(crate) fn check(&self) -> Result<bool, String> {
        match self.apply_ch.try_recv() {
            Ok(msg) => {
                let (what, index) = match msg {
                    ApplyMsg::Command { index, .. } => ("command", index),
                    ApplyMsg::Snapshot { index, .. } => ("snapshot", index),
                };
                Err(format!(
                    "server {} sent {what} {index} on apply_ch after kill returned",
                    self.server
                ))
            }
            Err(TryRecvError::Empty) => Ok(true),
            Err(TryRecvError::Disconnected) => Ok(false),
        }
    }
}
