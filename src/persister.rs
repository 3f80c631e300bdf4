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
//!
//! Outside the lab, a [`Journal`] makes the persister durable: [`Persister::with_journal`] starts
//! from what the journal restored, and every save is written through to it, under the
//! persister's lock and before the save returns, so the disk and the memory change in the same
//! order. Reads are served from memory.

use std::fmt;

use parking_lot::Mutex;

/// Stable storage for one peer: the encoded Raft state and the service's snapshot, in memory and,
/// with a [`Journal`], on disk.
#[derive(Default)]
pub struct Persister {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    saved: Saved,
    journal: Option<Box<dyn Journal>>,
}

/// Durable storage under a [`Persister`], such as a directory on disk: each call returns once
/// its save is durable, and a crash leaves each save wholly there or not at all.
pub trait Journal: Send {
    /// Replaces the Raft state and the snapshot; afterwards the body is empty.
    fn save(&mut self, raft_state: &[u8], snapshot: &[u8]) -> std::io::Result<()>;

    /// Saves `head`, then the first `keep` bytes of the body saved before, then `tail` as the
    /// new body, keeping the snapshot ([`Persister::save_raft_state_in_parts`]).
    fn save_raft_state_in_parts(
        &mut self,
        head: &[u8],
        keep: usize,
        tail: &[u8],
    ) -> std::io::Result<()>;

    /// Where the journal writes, for messages.
    fn location(&self) -> String;
}

/// What a [`Journal`] found when it was opened: the state as head and body, and the snapshot.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The saved state's head.
    pub head: Vec<u8>,
    /// The saved state's body, which follows the head.
    pub body: Vec<u8>,
    /// The saved snapshot.
    pub snapshot: Vec<u8>,
}

impl fmt::Debug for Persister {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("Persister")
            .field(
                "raft_state",
                &(inner.saved.head.len() + inner.saved.body.len()),
            )
            .field("snapshot", &inner.saved.snapshot.len())
            .field("journal", &inner.journal.as_ref().map(|j| j.location()))
            .finish()
    }
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

    /// A durable persister: it starts from what `journal` restored, and writes every save
    /// through to it.
    pub fn with_journal(restored: Restored, journal: Box<dyn Journal>) -> Persister {
        let Restored {
            head,
            body,
            snapshot,
        } = restored;
        Persister {
            inner: Mutex::new(Inner {
                saved: Saved {
                    head,
                    body,
                    snapshot,
                },
                journal: Some(journal),
            }),
        }
    }

    /// An independent deep copy, in memory only: later saves to either do not affect the other.
    pub fn copy(&self) -> Persister {
        Persister {
            inner: Mutex::new(Inner {
                saved: self.inner.lock().saved.clone(),
                journal: None,
            }),
        }
    }

    /// Replaces the Raft state and the snapshot in one atomic step.
    ///
    /// # Panics
    /// If a journal cannot save: a peer that failed to persist must not go on answering.
    pub fn save(&self, raft_state: Vec<u8>, snapshot: Vec<u8>) {
        let mut inner = self.inner.lock();
        if let Some(journal) = &mut inner.journal {
            journal
                .save(&raft_state, &snapshot)
                .unwrap_or_else(|err| panic!("cannot save to {}: {err}", journal.location()));
        }
        inner.saved = Saved {
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
    /// If `keep` is longer than the saved body: the caller has lost track of what it saved. If
    /// a journal cannot save, as [`Persister::save`].
    pub fn save_raft_state_in_parts(&self, head: &[u8], keep: usize, tail: &[u8]) {
        let mut inner = self.inner.lock();
        let Inner { saved, journal } = &mut *inner;
        assert!(
            keep <= saved.body.len(),
            "save_raft_state_in_parts: keep {keep} bytes of a {}-byte body",
            saved.body.len()
        );
        if let Some(journal) = journal {
            journal
                .save_raft_state_in_parts(head, keep, tail)
                .unwrap_or_else(|err| panic!("cannot save to {}: {err}", journal.location()));
        }
        saved.head.clear();
        saved.head.extend_from_slice(head);
        saved.body.truncate(keep);
        saved.body.extend_from_slice(tail);
    }

    /// The last saved Raft state (empty if none was ever saved).
    pub fn read_raft_state(&self) -> Vec<u8> {
        let inner = self.inner.lock();
        [inner.saved.head.as_slice(), &inner.saved.body].concat()
    }

    /// The last saved snapshot (empty if none was ever saved).
    pub fn read_snapshot(&self) -> Vec<u8> {
        self.inner.lock().saved.snapshot.clone()
    }

    /// Size in bytes of the saved Raft state; the lab's `log_size()` reads this.
    pub fn raft_state_size(&self) -> usize {
        let inner = self.inner.lock();
        inner.saved.head.len() + inner.saved.body.len()
    }

    /// Size in bytes of the saved snapshot.
    pub fn snapshot_size(&self) -> usize {
        self.inner.lock().saved.snapshot.len()
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

    /// A journal that keeps what it was asked to save, and can be told to fail.
    struct Recording {
        saves: std::sync::Arc<Mutex<Vec<String>>>,
        fail: bool,
    }

    impl Journal for Recording {
        fn save(&mut self, raft_state: &[u8], snapshot: &[u8]) -> std::io::Result<()> {
            if self.fail {
                return Err(std::io::Error::other("disk full"));
            }
            self.saves
                .lock()
                .push(format!("save {raft_state:?} {snapshot:?}"));
            Ok(())
        }

        fn save_raft_state_in_parts(
            &mut self,
            head: &[u8],
            keep: usize,
            tail: &[u8],
        ) -> std::io::Result<()> {
            self.saves
                .lock()
                .push(format!("parts {head:?} {keep} {tail:?}"));
            Ok(())
        }

        fn location(&self) -> String {
            "the test's journal".to_string()
        }
    }

    #[test]
    fn a_journal_restores_and_receives_every_save() {
        let saves = std::sync::Arc::new(Mutex::new(Vec::new()));
        let restored = Restored {
            head: vec![1],
            body: vec![2, 3],
            snapshot: vec![9],
        };
        let journal = Recording {
            saves: std::sync::Arc::clone(&saves),
            fail: false,
        };
        let p = Persister::with_journal(restored, Box::new(journal));
        assert_eq!(p.read_raft_state(), vec![1, 2, 3]);
        assert_eq!(p.read_snapshot(), vec![9]);
        p.save_raft_state_in_parts(&[4], 1, &[5]);
        assert_eq!(p.read_raft_state(), vec![4, 2, 5]);
        p.save(vec![6], vec![7]);
        let copy = p.copy();
        copy.save(vec![8], vec![]);
        assert_eq!(
            *saves.lock(),
            vec!["parts [4] 1 [5]".to_string(), "save [6] [7]".to_string()],
            "the copy writes to memory only"
        );
    }

    #[test]
    #[should_panic(expected = "cannot save to the test's journal: disk full")]
    fn a_failed_save_panics() {
        let journal = Recording {
            saves: std::sync::Arc::default(),
            fail: true,
        };
        Persister::with_journal(Restored::default(), Box::new(journal)).save(vec![1], vec![]);
    }

    #[test]
    #[should_panic(expected = "keep 1 bytes of a 0-byte body")]
    fn save_in_parts_refuses_to_keep_what_was_never_saved() {
        let p = Persister::new();
        p.save(vec![1, 2], Vec::new());
        p.save_raft_state_in_parts(&[0], 1, &[]);
    }
}
