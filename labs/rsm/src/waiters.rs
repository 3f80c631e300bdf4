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
//! # The window inside `Raft::start`
//! A handler learns its index only when `start` returns, and nothing may hold the layer's lock
//! across that call; by the time the handler has the lock again, the reader may have applied
//! the entry already (on an idle cluster it often has: a round of AppendEntries is quick). So
//! a handler marks itself [`starting`](Waiters::starting) before the call, and while any
//! handler is inside `start` the reader parks the output of each entry nobody waits for.
//! [`started`](Waiters::started) then hands the handler its parked output, if its entry was
//! applied already, and drops the parked outputs no handler still inside `start` can claim:
//! `start` returns an index above the last applied one at the time it was called, so outputs at
//! or below the oldest mark are nobody's. Parked outputs live for the length of a `start` call.
//!
//! The table is plain data, generic over the waiter and the output, so its rules are
//! unit-tested without a cluster; `rsm.rs` stores a channel in it.

use std::collections::BTreeMap;

/// What became of the operation a handler submitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<O> {
    /// Its own entry was applied at its index, with this output.
    Applied(O),
    /// Another entry took its index, or a snapshot covered it: the operation may or may not
    /// have been applied, and the clerk must ask again (its duplicate table makes that safe).
    Lost,
}

/// Waiters by the index their entry went in at, and the outputs parked for handlers still
/// inside `Raft::start`.
#[derive(Debug)]
pub struct Waiters<W, O> {
    /// index -> (term, waiter).
    by_index: BTreeMap<u64, (u64, W)>,
    /// For each handler inside `Raft::start`, the last applied index when it went in (with
    /// a count, as several may share one).
    starting: BTreeMap<u64, usize>,
    /// index -> (term, output): entries applied while a handler was inside `start`, for which
    /// nobody waited yet.
    parked: BTreeMap<u64, (u64, O)>,
}

impl<W, O> Default for Waiters<W, O> {
    fn default() -> Self {
        Waiters {
            by_index: BTreeMap::new(),
            starting: BTreeMap::new(),
            parked: BTreeMap::new(),
        }
    }
}

impl<W, O> Waiters<W, O> {
    /// An empty table.
    pub fn new() -> Waiters<W, O> {
        Waiters::default()
    }

    /// A handler is about to call `Raft::start`; `last_applied` is the index of the last
    /// entry applied now. Pass the same value to [`Waiters::started`] afterwards.
    pub fn starting(&mut self, last_applied: u64) {
        // solution: begin 4A waiters-starting
        *self.starting.entry(last_applied).or_default() += 1;
        // solution: end waiters-starting
    }

    /// The handler marked `starting(begun_at)` is back from `Raft::start` with `entry`, its
    /// (index, term), or `None` if this peer did not lead. Returns the verdict if that entry
    /// was applied while the handler was inside `start`; otherwise the handler registers with
    /// [`Waiters::insert`].
    pub fn started(&mut self, begun_at: u64, entry: Option<(u64, u64)>) -> Option<Verdict<O>> {
        // solution: begin 4A waiters-started
        let verdict = entry.and_then(|(index, term)| {
            let (applied_term, output) = self.parked.remove(&index)?;
            Some(if applied_term == term {
                Verdict::Applied(output)
            } else {
                Verdict::Lost
            })
        });
        match self.starting.get_mut(&begun_at) {
            Some(count) if *count > 1 => *count -= 1,
            Some(_) => {
                self.starting.remove(&begun_at);
            }
            None => panic!("started({begun_at}) without starting({begun_at})"),
        }
        match self.starting.keys().next() {
            Some(&oldest) => self.parked = self.parked.split_off(&(oldest + 1)),
            None => self.parked.clear(),
        }
        verdict
        // solution: end waiters-started
    }

    /// Registers `waiter` for the entry `start` put at `index` in `term`. Returns the waiter it
    /// displaces: one from an older term whose leader lost that index to this one's.
    pub fn insert(&mut self, index: u64, term: u64, waiter: W) -> Option<W> {
        // solution: begin 4A waiters-insert
        self.by_index
            .insert(index, (term, waiter))
            .map(|(_, displaced)| displaced)
        // solution: end waiters-insert
    }

    /// The entry at `index`, of `term`, was applied with `output`: the waiter there, if any,
    /// and its verdict. An output nobody takes is parked while a handler is inside `start`
    /// (it may be that handler's).
    pub fn applied(&mut self, index: u64, term: u64, output: O) -> Option<(W, Verdict<O>)> {
        // solution: begin 4A waiters-applied
        let waiting = self.by_index.remove(&index);
        let (verdict, unclaimed) = match waiting {
            Some((waiting_term, waiter)) if waiting_term == term => {
                return Some((waiter, Verdict::Applied(output)));
            }
            Some((_, waiter)) => (Some((waiter, Verdict::Lost)), output),
            None => (None, output),
        };
        if !self.starting.is_empty() {
            self.parked.insert(index, (term, unclaimed));
        }
        verdict
        // solution: end waiters-applied
    }

    /// A snapshot covering every index up to `index` replaced the state: the waiters at those
    /// indices will never see their entry applied here, so they have lost.
    pub fn covered(&mut self, index: u64) -> Vec<W> {
        // solution: begin 4B waiters-covered
        let rest = self.by_index.split_off(&(index + 1));
        std::mem::replace(&mut self.by_index, rest)
            .into_values()
            .map(|(_, waiter)| waiter)
            .collect()
        // solution: end waiters-covered
    }

    /// Takes back the waiter at `index` if it is still the one registered in `term` (its
    /// handler has stopped waiting).
    pub fn remove(&mut self, index: u64, term: u64) -> Option<W> {
        // solution: begin 4A waiters-remove
        match self.by_index.get(&index) {
            Some((t, _)) if *t == term => self.by_index.remove(&index).map(|(_, waiter)| waiter),
            _ => None,
        }
        // solution: end waiters-remove
    }

    /// Takes every waiter, as the server shuts down.
    pub fn drain(&mut self) -> Vec<W> {
        // solution: begin 4A waiters-drain
        self.parked.clear();
        std::mem::take(&mut self.by_index)
            .into_values()
            .map(|(_, waiter)| waiter)
            .collect()
        // solution: end waiters-drain
    }

    /// The number of waiters.
    pub fn len(&self) -> usize {
        self.by_index.len()
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.by_index.is_empty()
    }

    /// The number of parked outputs.
    pub fn parked(&self) -> usize {
        self.parked.len()
    }
}

// solution: begin 4A waiters-tests
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_of_the_waiters_term_is_its_own() {
        let mut w = Waiters::new();
        w.insert(5, 2, "a");
        assert_eq!(w.applied(5, 2, 50), Some(("a", Verdict::Applied(50))));
        assert!(w.is_empty());
        assert_eq!(w.applied(5, 2, 50), None, "nobody waits twice");
    }

    /// A leader of term 2 put "a" at 5, lost its term, and the leader of term 3 put its own
    /// entry there.
    #[test]
    fn an_entry_of_another_term_means_the_index_was_lost() {
        let mut w = Waiters::new();
        w.insert(5, 2, "a");
        assert_eq!(w.applied(5, 3, 50), Some(("a", Verdict::Lost)));
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
        assert_eq!(w.applied(5, 4, 50), Some(("b", Verdict::Applied(50))));
    }

    /// The entry is applied before its handler is back from `start`: the output waits for it.
    #[test]
    fn an_entry_applied_inside_start_is_parked_for_its_handler() {
        let mut w: Waiters<&str, u32> = Waiters::new();
        w.starting(4);
        assert_eq!(w.applied(5, 2, 50), None);
        assert_eq!(w.parked(), 1);
        assert_eq!(w.started(4, Some((5, 2))), Some(Verdict::Applied(50)));
        assert_eq!(w.parked(), 0);
    }

    /// The handler's index was applied inside `start` with another term's entry.
    #[test]
    fn a_parked_entry_of_another_term_is_a_loss() {
        let mut w: Waiters<&str, u32> = Waiters::new();
        w.starting(4);
        w.applied(5, 3, 50);
        assert_eq!(w.started(4, Some((5, 2))), Some(Verdict::Lost));
    }

    /// With nobody inside `start`, an output nobody waits for is dropped at once.
    #[test]
    fn nothing_is_parked_when_nobody_is_starting() {
        let mut w: Waiters<&str, u32> = Waiters::new();
        assert_eq!(w.applied(5, 2, 50), None);
        assert_eq!(w.parked(), 0);
    }

    /// Two handlers inside `start`, one from before index 5 was applied, one from after: once
    /// the first is back, index 5 can be nobody's (the second's index is above 5).
    #[test]
    fn parked_outputs_live_until_no_handler_can_claim_them() {
        let mut w: Waiters<&str, u32> = Waiters::new();
        w.starting(4);
        w.applied(5, 2, 50);
        w.starting(5);
        w.applied(6, 2, 60);
        assert_eq!(
            w.started(4, Some((7, 2))),
            None,
            "its entry is not applied yet"
        );
        assert_eq!(w.parked(), 1, "5 is dropped, 6 may be the second handler's");
        assert_eq!(w.started(5, Some((6, 2))), Some(Verdict::Applied(60)));
        assert_eq!(w.parked(), 0);
    }

    /// A handler that was not the leader still takes its mark back.
    #[test]
    fn a_refused_start_takes_its_mark_back() {
        let mut w: Waiters<&str, u32> = Waiters::new();
        w.starting(4);
        w.starting(4);
        w.applied(5, 2, 50);
        assert_eq!(w.started(4, None), None);
        assert_eq!(
            w.parked(),
            1,
            "the other handler from 4 is still inside start"
        );
        assert_eq!(w.started(4, Some((5, 2))), Some(Verdict::Applied(50)));
    }

    // solution: begin 4B waiters-test-covered
    #[test]
    fn a_snapshot_covers_the_waiters_at_or_below_its_index() {
        let mut w = Waiters::new();
        for (index, name) in [(3, "a"), (7, "b"), (8, "c")] {
            w.insert(index, 1, name);
        }
        assert_eq!(w.covered(7), vec!["a", "b"]);
        assert_eq!(w.len(), 1);
        assert_eq!(w.applied(8, 1, 80), Some(("c", Verdict::Applied(80))));
    }
    // solution: end waiters-test-covered

    #[test]
    fn a_handler_takes_back_only_its_own_waiter() {
        let mut w: Waiters<&str, u32> = Waiters::new();
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
// solution: end waiters-tests
