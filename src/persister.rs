//! The `Persister`: where a peer keeps its Figure 2 persistent state and its snapshot.
//!
//! Introduced in PartC (state) and PartD (snapshot). In the lab it stands in for a disk: the test
//! harness hands each peer one, and "crashes" a peer by giving the next instance a [`Persister::copy`]
//! so the old instance can no longer change what the new one reads. Every method is atomic, and
//! [`Persister::save`] replaces the state and the snapshot together, so a crash never observes one
//! without the other.

use parking_lot::Mutex;

/// In-memory stable storage for one peer: the encoded Raft state and the service's snapshot.
#[derive(Debug, Default)]
pub struct Persister {
    inner: Mutex<Saved>,
}

#[derive(Debug, Default, Clone)]
struct Saved {
    raft_state: Vec<u8>,
    snapshot: Vec<u8>,
}

impl Persister {
    /// An empty persister: a peer that has never run.
    pub fn new() -> Persister {
        Persister::default()
    }

    /// An independent deep copy: later saves to either do not affect the other.
    pub fn copy(&self) -> Persister {
        Persister {
            inner: Mutex::new(self.inner.lock().clone()),
        }
    }

    /// Replaces the Raft state and the snapshot in one atomic step.
    pub fn save(&self, raft_state: Vec<u8>, snapshot: Vec<u8>) {
        *self.inner.lock() = Saved {
            raft_state,
            snapshot,
        };
    }

    /// The last saved Raft state (empty if none was ever saved).
    pub fn read_raft_state(&self) -> Vec<u8> {
        self.inner.lock().raft_state.clone()
    }

    /// The last saved snapshot (empty if none was ever saved).
    pub fn read_snapshot(&self) -> Vec<u8> {
        self.inner.lock().snapshot.clone()
    }

    /// Size in bytes of the saved Raft state; the lab's `log_size()` reads this.
    pub fn raft_state_size(&self) -> usize {
        self.inner.lock().raft_state.len()
    }

    /// Size in bytes of the saved snapshot.
    pub fn snapshot_size(&self) -> usize {
        self.inner.lock().snapshot.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_replaces_both_and_copy_is_deep() {
        let p = Persister::new();
        assert_eq!(p.raft_state_size(), 0);
        assert_eq!(p.snapshot_size(), 0);
        p.save(vec![1, 2, 3], vec![9]);
        let q = p.copy();
        p.save(vec![4], vec![]);
        assert_eq!(p.read_raft_state(), vec![4]);
        assert_eq!(p.read_snapshot(), Vec::<u8>::new());
        assert_eq!(q.read_raft_state(), vec![1, 2, 3]);
        assert_eq!(q.read_snapshot(), vec![9]);
        assert_eq!(q.raft_state_size(), 3);
        assert_eq!(q.snapshot_size(), 1);
    }
}
