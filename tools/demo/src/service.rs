//! The demo's replicated service, and the record its self-check reads.
//!
//! Each peer's service keeps a running hash of every command it applied, in order: the state
//! machine is `(last index applied, hash through it)`. Every [`SNAPSHOT_EVERY`] commands it
//! hands that pair to `Raft::snapshot`, so a peer that fell behind may be brought up to date by
//! InstallSnapshot, and a restarted one restores itself from it. One service thread per peer
//! instance reads its `apply_ch`; they all record into one [`Services`], which checks at each
//! index that every peer reached the same hash.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use raft::crossbeam_channel::Receiver;
use raft::{ApplyMsg, Raft};

/// Each service snapshots after this many commands.
pub const SNAPSHOT_EVERY: u64 = 50;

/// What every peer's service has applied, and what went wrong.
pub struct Services {
    /// Per peer: (last index applied, hash through it).
    pub applied: Vec<(u64, u64)>,
    /// The hash through each index, as the first peer to apply it saw it.
    pub hash_at: HashMap<u64, u64>,
    /// Snapshots delivered on an `apply_ch` (by InstallSnapshot).
    pub snapshots_installed: usize,
    /// Disagreements and out-of-order deliveries: the self-check fails on any.
    pub errors: Vec<String>,
    /// Per peer: the start its current service thread serves. A crashed instance's service
    /// thread may still hold one message; it must not record it over the restarted peer.
    generation: Vec<u64>,
}

impl Services {
    pub fn new(n: usize) -> Services {
        Services {
            applied: vec![(0, 0); n],
            hash_at: HashMap::new(),
            snapshots_installed: 0,
            errors: Vec::new(),
            generation: vec![0; n],
        }
    }

    /// A new instance of `peer` (start `generation`) restores its service from `snapshot`
    /// (empty: from nothing), as a KV server would.
    pub fn restore(&mut self, peer: usize, generation: u64, snapshot: &[u8]) {
        self.applied[peer] = labgob::decode::<(u64, u64)>(snapshot).unwrap_or((0, 0));
        self.generation[peer] = generation;
    }

    /// The highest index any peer applied.
    pub fn committed(&self) -> u64 {
        self.hash_at.keys().max().copied().unwrap_or(0)
    }

    /// Whether every peer has applied the same, non-empty prefix.
    pub fn converged(&self) -> bool {
        self.applied[0].0 > 0 && self.applied.iter().all(|a| *a == self.applied[0])
    }

    /// Records that `peer` reached `index` with `hash`, checking it against the other peers.
    fn reach(&mut self, peer: usize, index: u64, hash: u64) {
        match self.hash_at.get(&index) {
            Some(&h) if h != hash => self.errors.push(format!(
                "S{peer} disagrees at index {index}: hash {hash:x}, others {h:x}"
            )),
            _ => {
                self.hash_at.insert(index, hash);
            }
        }
        self.applied[peer] = (index, hash);
    }
}

/// FNV-1a over `command`, continued from `hash`.
fn fold(hash: u64, command: &[u8]) -> u64 {
    command.iter().fold(hash ^ 0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One peer instance's service: applies commands to its hash, snapshots every
/// [`SNAPSHOT_EVERY`], installs snapshots. Runs until the instance is killed.
pub fn run(
    me: usize,
    generation: u64,
    apply_ch: Receiver<ApplyMsg>,
    rf: Raft,
    services: Arc<Mutex<Services>>,
) {
    for msg in apply_ch {
        match msg {
            ApplyMsg::Command { command, index, .. } => {
                let snapshot = {
                    let mut s = services.lock();
                    if s.generation[me] != generation {
                        continue;
                    }
                    let (last, hash) = s.applied[me];
                    if index != last + 1 {
                        s.errors.push(format!("S{me} applied {index} after {last}"));
                        continue;
                    }
                    let hash = fold(hash, &command);
                    s.reach(me, index, hash);
                    (index % SNAPSHOT_EVERY == 0).then(|| labgob::encode(&(index, hash)))
                };
                // Outside the lock: `snapshot` takes Raft's.
                if let Some(snapshot) = snapshot {
                    rf.snapshot(index, snapshot);
                }
            }
            ApplyMsg::Snapshot {
                snapshot, index, ..
            } => {
                let mut s = services.lock();
                if s.generation[me] != generation {
                    continue;
                }
                match labgob::decode::<(u64, u64)>(&snapshot) {
                    Ok((at, hash)) if at == index => {
                        s.reach(me, index, hash);
                        s.snapshots_installed += 1;
                    }
                    Ok((at, _)) => s
                        .errors
                        .push(format!("S{me}: snapshot for {at} delivered as {index}")),
                    Err(e) => s.errors.push(format!("S{me}: bad snapshot: {e}")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disagreement_at_an_index_is_an_error() {
        let mut s = Services::new(2);
        s.reach(0, 1, fold(0, b"a"));
        s.reach(1, 1, fold(0, b"a"));
        assert!(s.errors.is_empty() && s.converged());
        s.reach(1, 2, fold(s.applied[1].1, b"b"));
        s.reach(0, 2, fold(s.applied[0].1, b"c"));
        assert_eq!(s.errors.len(), 1, "{:?}", s.errors);
        assert_eq!(s.committed(), 2);
    }

    #[test]
    fn restore_reads_the_snapshot_and_ignores_older_generations() {
        let mut s = Services::new(1);
        s.restore(0, 3, &labgob::encode(&(50u64, 7u64)));
        assert_eq!(s.applied[0], (50, 7));
        s.restore(0, 4, &[]);
        assert_eq!(s.applied[0], (0, 0));
        assert_eq!(s.generation[0], 4);
    }
}
