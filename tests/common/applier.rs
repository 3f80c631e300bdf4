//! The appliers: the threads that read each peer's `apply_ch` and check what it delivers,
//! Go's `applier`, `applierSnap` and `ingestSnap`.

use std::sync::Arc;

use parking_lot::Mutex;
use raft::crossbeam_channel::Receiver;
use raft::{ApplyMsg, Raft};

use super::timeline::Timeline;
use super::{Cmd, Logs, SNAPSHOT_INTERVAL};

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
    /// Which start of peer `me` this applier serves (`Logs::generation`): once the peer is
    /// restarted, a message this one still holds must not touch the new instance's records.
    pub(crate) generation: u64,
    pub(crate) logs: Arc<Mutex<Logs>>,
    pub(crate) timeline: Arc<Timeline>,
    pub(crate) rf: Raft,
}

impl Applier {
    /// Runs until the peer is killed (its applier drops the channel's sender).
    pub(crate) fn run(self, apply_ch: Receiver<ApplyMsg>, with_snapshots: bool) {
        let mut failed = false;
        for msg in apply_ch {
            if failed {
                // Go's process is dead by now; keep reading, so that Raft does not block.
                continue;
            }
            let result = match msg {
                ApplyMsg::Command { command, index, .. } => {
                    self.apply(&command, index, with_snapshots)
                }
                ApplyMsg::Snapshot {
                    snapshot, index, ..
                } if with_snapshots => {
                    let mut logs = self.logs.lock();
                    if logs.generation[self.me] != self.generation {
                        continue;
                    }
                    ingest_snap(&mut logs, self.me, &snapshot, Some(index))
                }
                ApplyMsg::Snapshot { .. } => Ok(()),
            };
            if let Err(err) = result {
                // Go calls log.Fatalf here; the next harness call fails the test instead, and
                // this applier records nothing more.
                eprintln!("apply error: {err}");
                tlog!("apply error: {err}");
                let mut logs = self.logs.lock();
                logs.apply_err[self.me].get_or_insert(err);
                failed = true;
            }
        }
    }

    /// One committed command: Go's checks (`checkLogs`), then a snapshot every ten commands if
    /// this is the snapshot applier.
    fn apply(&self, command: &[u8], index: u64, with_snapshots: bool) -> Result<(), String> {
        let i = self.me;
        let cmd: Cmd = labgob::decode(command)
            .map_err(|e| format!("server {i} applied an undecodable command at {index}: {e}"))?;
        let snapshot = {
            let mut logs = self.logs.lock();
            if logs.generation[i] != self.generation {
                // The peer was restarted while we held this message: it is not the new one's.
                return Ok(());
            }
            if with_snapshots && index != logs.last_applied[i] + 1 {
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
            (with_snapshots && (index + 1).is_multiple_of(SNAPSHOT_INTERVAL)).then(|| {
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
