//! The `Persister`: where a peer keeps its Figure 2 persistent state and its snapshot.
//!
//! Introduced in PartC (state) and PartD (snapshot). In the lab it stands in for a disk: the test
//! harness hands each peer one, and "crashes" a peer by giving the next instance a [`Persister::copy`]
//! so the old instance can no longer change what the new one reads. Every method is atomic, and
//! [`Persister::save`] replaces the state and the snapshot together, so a crash never observes one
//! without the other.
//!
//! Beyond the lab's methods, [`Persister::save_raft_state_in_parts`] saves a state that shares a
//! prefix with the one saved before while keeping the snapshot, so a peer whose log grows by one
//! entry copies that entry, not the whole log (the lab's `save` would copy everything on every
//! change: most of lab 4's CPU time before it existed). The saved state is kept as a head and a
//! body; [`Persister::read_raft_state`] returns the two together.

use parking_lot::Mutex;

/// In-memory stable storage for one peer: the encoded Raft state and the service's snapshot.
#[derive(Debug, Default)]
pub struct Persister {
    inner: Mutex<Saved>,
}

/// The saved Raft state is `head` followed by `body`.
#[derive(Debug, Default, Clone)]
struct Saved {
    head: Vec<u8>,
    body: Vec<u8>,
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
            head: raft_state,
            body: Vec::new(),
            snapshot,
        };
    }

    /// Replaces the Raft state and keeps the snapshot, in one atomic step: the state becomes
    /// `head`, then the first `keep` bytes of the body saved before, then `tail`.
    ///
    /// The body is what earlier calls put after their heads; [`Persister::save`] leaves it
    /// empty, so a caller tracks how much of it still holds and passes `keep = 0` after a `save`.
    ///
    /// # Panics
    /// If `keep` is longer than the saved body: the caller has lost track of what it saved.
    pub fn save_raft_state_in_parts(&self, head: &[u8], keep: usize, tail: &[u8]) {
        let mut saved = self.inner.lock();
        assert!(
            keep <= saved.body.len(),
            "save_raft_state_in_parts: keep {keep} bytes of a {}-byte body",
            saved.body.len()
        );
        saved.head.clear();
        saved.head.extend_from_slice(head);
        saved.body.truncate(keep);
        saved.body.extend_from_slice(tail);
    }

    /// The last saved Raft state (empty if none was ever saved).
    pub fn read_raft_state(&self) -> Vec<u8> {
        let saved = self.inner.lock();
        [saved.head.as_slice(), &saved.body].concat()
    }

    /// The last saved snapshot (empty if none was ever saved).
    pub fn read_snapshot(&self) -> Vec<u8> {
        self.inner.lock().snapshot.clone()
    }

    /// Size in bytes of the saved Raft state; the lab's `log_size()` reads this.
    pub fn raft_state_size(&self) -> usize {
        let saved = self.inner.lock();
        saved.head.len() + saved.body.len()
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

    #[test]
    fn save_in_parts_keeps_a_prefix_of_the_body_and_the_snapshot() {
        let p = Persister::new();
        p.save(vec![1, 2], vec![9, 9]);
        p.save_raft_state_in_parts(&[0], 0, &[5, 6, 7]);
        assert_eq!(p.read_raft_state(), vec![0, 5, 6, 7]);
        let q = p.copy();
        p.save_raft_state_in_parts(&[1, 1], 2, &[8]);
        assert_eq!(p.read_raft_state(), vec![1, 1, 5, 6, 8]);
        assert_eq!(p.raft_state_size(), 5);
        assert_eq!(p.read_snapshot(), vec![9, 9]);
        assert_eq!(q.read_raft_state(), vec![0, 5, 6, 7], "a copy is deep");
        p.save(vec![3], vec![]);
        assert_eq!(p.read_raft_state(), vec![3], "save leaves no body");
        p.save_raft_state_in_parts(&[4], 0, &[]);
        assert_eq!(p.read_raft_state(), vec![4]);
    }

    #[test]
    #[should_panic(expected = "keep 1 bytes of a 0-byte body")]
    fn save_in_parts_refuses_to_keep_what_was_never_saved() {
        let p = Persister::new();
        p.save(vec![1, 2], Vec::new());
        p.save_raft_state_in_parts(&[0], 1, &[]);
    }
}
