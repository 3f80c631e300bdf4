//! The wait table: index -> (term, waiter), for the handlers waiting for their operation.
//!
//! A handler that submitted an operation knows only what `Raft::start` told it: the entry went
//! in at `index` in `term`. Whether that entry commits is up to the cluster: a leader that
//! loses its term can see the index taken by another leader's entry (a pitfall of the lab: a
//! handler that trusts the index alone answers with another clerk's result). The rule used
//! here: an entry is the one a handler submitted exactly when it is applied at the handler's
//! index *with the handler's term*. Only the leader of a term creates entries of that term,
//! and it puts one entry at each index, so an (index, term) pair names one entry (the Log
//! Matching Property, §5.3). Any other entry at that index means the operation lost its place.
//!
//! The table is plain data, generic over the waiter, so the rule is unit-tested without a
//! cluster; `rsm.rs` stores a channel in it.

use std::collections::BTreeMap;

/// What became of the operation a waiter submitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<W> {
    /// Its own entry was applied at its index.
    Applied(W),
    /// Another entry took its index, or a snapshot covered it: the operation may or may not
    /// have been applied, and the clerk must ask again (its duplicate table makes that safe).
    Lost(W),
}

/// Waiters by the index their entry went in at.
#[derive(Debug)]
pub struct Waiters<W> {
    by_index: BTreeMap<u64, (u64, W)>,
}

impl<W> Default for Waiters<W> {
    fn default() -> Self {
        Waiters {
            by_index: BTreeMap::new(),
        }
    }
}

impl<W> Waiters<W> {
    /// An empty table.
    pub fn new() -> Waiters<W> {
        Waiters::default()
    }

    /// Registers `waiter` for the entry `start` put at `index` in `term`. Returns the waiter it
    /// displaces: one from an older term whose leader lost that index to this one's.
    pub fn insert(&mut self, index: u64, term: u64, waiter: W) -> Option<W> {
        self.by_index
            .insert(index, (term, waiter))
            .map(|(_, displaced)| displaced)
    }

    /// The entry at `index`, of `term`, was applied: the verdict for the waiter there, if any.
    pub fn applied(&mut self, index: u64, term: u64) -> Option<Verdict<W>> {
        let (waiting_term, waiter) = self.by_index.remove(&index)?;
        Some(if waiting_term == term {
            Verdict::Applied(waiter)
        } else {
            Verdict::Lost(waiter)
        })
    }

    /// A snapshot covering every index up to `index` replaced the state: the waiters at those
    /// indices will never see their entry applied here, so they have lost.
    pub fn covered(&mut self, index: u64) -> Vec<W> {
        let rest = self.by_index.split_off(&(index + 1));
        std::mem::replace(&mut self.by_index, rest)
            .into_values()
            .map(|(_, waiter)| waiter)
            .collect()
    }

    /// Takes back the waiter at `index` if it is still the one registered in `term` (its
    /// handler has stopped waiting).
    pub fn remove(&mut self, index: u64, term: u64) -> Option<W> {
        match self.by_index.get(&index) {
            Some((t, _)) if *t == term => self.by_index.remove(&index).map(|(_, waiter)| waiter),
            _ => None,
        }
    }

    /// Takes every waiter, as the server shuts down.
    pub fn drain(&mut self) -> Vec<W> {
        std::mem::take(&mut self.by_index)
            .into_values()
            .map(|(_, waiter)| waiter)
            .collect()
    }

    /// The number of waiters.
    pub fn len(&self) -> usize {
        self.by_index.len()
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.by_index.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_of_the_waiters_term_is_its_own() {
        let mut w = Waiters::new();
        w.insert(5, 2, "a");
        assert_eq!(w.applied(5, 2), Some(Verdict::Applied("a")));
        assert!(w.is_empty());
        assert_eq!(w.applied(5, 2), None, "nobody waits twice");
    }

    /// A leader of term 2 put "a" at 5, lost its term, and the leader of term 3 put its own
    /// entry there.
    #[test]
    fn an_entry_of_another_term_means_the_index_was_lost() {
        let mut w = Waiters::new();
        w.insert(5, 2, "a");
        assert_eq!(w.applied(5, 3), Some(Verdict::Lost("a")));
    }

    /// The server led in term 2 and put "a" at 5; a term-3 leader overwrote it, and now the
    /// server leads term 4 and gets index 5 again, for "b". Its own log no longer holds "a",
    /// so this server cannot tell whether "a" will commit (another peer may still have it):
    /// "a" has lost its waiter's place, and its clerk asks again.
    #[test]
    fn a_reused_index_displaces_the_older_waiter() {
        let mut w = Waiters::new();
        w.insert(5, 2, "a");
        assert_eq!(w.insert(5, 4, "b"), Some("a"));
        assert_eq!(w.applied(5, 4), Some(Verdict::Applied("b")));
    }

    #[test]
    fn a_snapshot_covers_the_waiters_at_or_below_its_index() {
        let mut w = Waiters::new();
        for (index, name) in [(3, "a"), (7, "b"), (8, "c")] {
            w.insert(index, 1, name);
        }
        assert_eq!(w.covered(7), vec!["a", "b"]);
        assert_eq!(w.len(), 1);
        assert_eq!(w.applied(8, 1), Some(Verdict::Applied("c")));
    }

    #[test]
    fn a_handler_takes_back_only_its_own_waiter() {
        let mut w = Waiters::new();
        w.insert(5, 4, "b");
        assert_eq!(
            w.remove(5, 2),
            None,
            "term 2's handler left, term 4's still waits"
        );
        assert_eq!(w.remove(5, 4), Some("b"));
        w.insert(6, 4, "c");
        assert_eq!(w.drain(), vec!["c"]);
    }
}
