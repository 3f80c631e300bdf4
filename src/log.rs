//! The replicated log and its snapshot offset (PartB, PartD).
//!
//! Figure 2 names it `log[]`; Figure 13 adds `last_included_index` / `last_included_term`, the last
//! entry folded into the snapshot. [`Log`] owns every translation between a Raft index and a position
//! in memory, so no other file does index arithmetic across the snapshot boundary. It takes no locks
//! and runs on whichever thread holds the peer's lock; everything here is a pure function of the log
//! and is unit-tested below.
//!
//! The log also keeps track of where each entry's labgob encoding starts and how many entries
//! the last save holds ([`Log::take_unsaved`]), so that persisting (PartC) encodes only the
//! entries that changed instead of the whole log on every change, a cost that would grow with the
//! log. It does not keep the encoded bytes: that would hold the log twice in memory.
//!
//! Beyond the lab, the log can keep a tail of the entries a snapshot covers ([`LogTail`], in
//! memory only, never saved), so that a follower a little behind catches up from the log
//! instead of by the whole snapshot ([`Log::entries_from`] and [`Log::term_at`] serve them).
//!
//! Indices start at 1 as in the paper. Index 0, before the first entry, has term 0; after a snapshot,
//! `last_included_index` plays that role with `last_included_term`.

use serde::{Deserialize, Serialize};

/// One log entry: the command and the term in which a leader received it (Figure 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Term in which the leader received the command.
    pub term: u64,
    /// The service's command, opaque to Raft.
    #[serde(with = "labgob::bytes")]
    pub command: Vec<u8>,
}

/// The log after the snapshot: entries `last_included_index + 1 ..= last_index()`.
///
/// It decodes from the labgob form of [`StoredLog`], which is how `persist.rs` writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "StoredLog")]
pub struct Log {
    /// Figure 13: index of the last entry the snapshot replaces (0: no snapshot yet).
    last_included_index: u64,
    /// Figure 13: term of that entry.
    last_included_term: u64,
    /// `entries[i]` holds index `last_included_index + 1 + i`.
    entries: Vec<Entry>,
    /// Where the entries' encoding starts and what the last save holds.
    encoded: EncodedEntries,
    /// Beyond the lab: the entries through `last_included_index` kept after compaction.
    tail: Tail,
}

/// How much of the log a snapshot covers to keep in memory after compaction (beyond the lab;
/// `raft::Options::log_tail`): the last `entries` entries, fewer if they hold more than `bytes`
/// bytes of commands. etcd keeps 5,000 entries; hashicorp's raft 10,240.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogTail {
    /// At most this many entries.
    pub entries: usize,
    /// At most this many bytes of commands.
    pub bytes: usize,
}

/// The entries compaction kept ([`LogTail`]): `entries[i]` holds index `first + i`. They are
/// the ones through `last_included_index` only while their last index is that: a snapshot
/// installed past them leaves them stale, and they are then never read and dropped at the next
/// compaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Tail {
    limit: Option<LogTail>,
    first: u64,
    entries: Vec<Entry>,
    bytes: usize,
}

impl Tail {
    /// The index of the last entry held, if any.
    fn last(&self) -> Option<u64> {
        let held = self.entries.len() as u64;
        (held > 0).then(|| self.first + held - 1)
    }

    /// Adds `compacted`, entries from index `first` on that compaction removed from the log,
    /// then drops the oldest beyond the limit.
    fn keep(&mut self, first: u64, compacted: Vec<Entry>) {
        let Some(limit) = self.limit else { return };
        if self.last().map(|last| last + 1) != Some(first) {
            self.entries.clear();
            self.bytes = 0;
            self.first = first;
        }
        for entry in compacted {
            self.bytes += entry.command.len();
            self.entries.push(entry);
        }
        let mut excess = self.entries.len().saturating_sub(limit.entries);
        let mut bytes = self.bytes;
        for entry in &self.entries[excess..] {
            if bytes <= limit.bytes {
                break;
            }
            bytes -= entry.command.len();
            excess += 1;
        }
        for entry in self.entries.drain(..excess) {
            self.bytes -= entry.command.len();
        }
        self.first += excess as u64;
    }
}

/// The log's fields as they are saved: labgob encodes this struct field by field, the entries
/// as a length followed by each entry.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredLog {
    pub last_included_index: u64,
    pub last_included_term: u64,
    pub entries: Vec<Entry>,
}

impl From<StoredLog> for Log {
    fn from(stored: StoredLog) -> Log {
        let mut log = Log {
            last_included_index: stored.last_included_index,
            last_included_term: stored.last_included_term,
            ..Log::default()
        };
        log.push_entries(&stored.entries);
        log
    }
}

/// The layout of the entries' labgob encoding, one entry after another: where each one starts,
/// and how many leading entries the last incremental save holds unchanged. The bytes are
/// encoded when a save needs them.
#[derive(Clone, Default)]
struct EncodedEntries {
    /// `starts[i]`: the offset in the encoding of entry `i`.
    starts: Vec<usize>,
    /// The length of the whole encoding.
    len: usize,
    /// How many leading entries the last incremental save ([`Log::take_unsaved`]) holds.
    saved: usize,
}

/// Two layouts are equal when their entries' offsets are: what has been saved is not part of
/// the value.
impl PartialEq for EncodedEntries {
    fn eq(&self, other: &Self) -> bool {
        self.starts == other.starts && self.len == other.len
    }
}

impl Eq for EncodedEntries {}

impl std::fmt::Debug for EncodedEntries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes encoded", self.len)
    }
}

impl Log {
    /// An empty log with no snapshot.
    pub fn new() -> Log {
        Log::default()
    }

    /// Keeps `tail` of the entries each compaction removes (beyond the lab; `None`: none).
    pub fn keep_tail(&mut self, tail: Option<LogTail>) {
        self.tail.limit = tail;
    }

    /// Whether a follower whose next entry is `next_index` must be sent the snapshot: the log
    /// no longer holds the entry before it (`prev_log_index`), whose term an AppendEntries
    /// carries.
    pub fn needs_snapshot(&self, next_index: u64) -> bool {
        self.term_at(next_index - 1).is_none()
    }

    /// Index of the last entry covered by the snapshot (0 when there is none).
    pub fn last_included_index(&self) -> u64 {
        self.last_included_index
    }

    /// Term of the last entry covered by the snapshot (0 when there is none).
    pub fn last_included_term(&self) -> u64 {
        self.last_included_term
    }

    /// Index of the last entry, in the log or in the snapshot.
    pub fn last_index(&self) -> u64 {
        self.last_included_index + self.entries.len() as u64
    }

    /// Term of the last entry, in the log or in the snapshot.
    pub fn last_term(&self) -> u64 {
        self.entries
            .last()
            .map_or(self.last_included_term, |entry| entry.term)
    }

    /// Term of the entry at `index`, or `None` when the log cannot tell: the index lies inside the
    /// snapshot (below `last_included_index`, and not in the kept tail) or past the end.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.last_included_index {
            return Some(self.last_included_term);
        }
        match self.position(index) {
            Some(at) => Some(self.entries[at].term),
            None => self.tail_from(index).map(|tail| tail[0].term),
        }
    }

    /// The entries from `index` to the end; empty when `index` is past the end. For an
    /// `index` in the kept tail (beyond the lab), the tail's entries from there, which end at
    /// `last_included_index`.
    ///
    /// # Panics
    /// If `index` is inside the snapshot and not in the tail: the caller must send the
    /// snapshot instead.
    pub fn entries_from(&self, index: u64) -> &[Entry] {
        if index <= self.last_included_index {
            return self.tail_from(index).unwrap_or_else(|| {
                panic!(
                    "entries_from({index}): compacted into the snapshot at {}",
                    self.last_included_index
                )
            });
        }
        let start = ((index - self.last_included_index - 1) as usize).min(self.entries.len());
        &self.entries[start..]
    }

    /// Entries `from ..= to`, cloned (the applier's batch).
    ///
    /// # Panics
    /// If the range is not held in the log.
    pub fn entries_between(&self, from: u64, to: u64) -> Vec<Entry> {
        match (self.position(from), self.position(to)) {
            (Some(start), Some(end)) => self.entries[start..=end].to_vec(),
            _ => panic!(
                "entries_between({from}, {to}): the log holds {}..={}",
                self.last_included_index + 1,
                self.last_index()
            ),
        }
    }

    /// Appends one entry and returns its index.
    pub fn append(&mut self, entry: Entry) -> u64 {
        self.debug_assert_terms_follow(std::slice::from_ref(&entry));
        self.push_entries(std::slice::from_ref(&entry));
        self.last_index()
    }

    /// The number of entries after the snapshot.
    pub(crate) fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    /// The entries' labgob encoding, as a `Vec<Entry>`'s elements are encoded (the length is not
    /// included).
    pub(crate) fn encode_entries(&self) -> Vec<u8> {
        encode_all(&self.entries, self.encoded.len)
    }

    /// For an incremental save (`persist.rs`): how many leading bytes of the encoding the
    /// previous such save holds unchanged, and the encoding of the entries after them. From here
    /// on, every entry counts as saved.
    pub(crate) fn take_unsaved(&mut self) -> (usize, Vec<u8>) {
        let from = self.encoded.saved;
        let keep = self
            .encoded
            .starts
            .get(from)
            .copied()
            .unwrap_or(self.encoded.len);
        self.encoded.saved = self.entries.len();
        (
            keep,
            encode_all(&self.entries[from..], self.encoded.len - keep),
        )
    }

    /// After a whole `Persister::save`, which leaves no body, no earlier save holds any entry.
    pub(crate) fn forget_saved(&mut self) {
        self.encoded.saved = 0;
    }

    /// AppendEntries receiver, steps 3 and 4 (Figure 2): for the `entries` that follow
    /// `prev_log_index`, delete an existing entry that conflicts with a new one (same index,
    /// different term) and all that follow it, then append the new entries not already present.
    ///
    /// Entries that already match are kept and never truncated, so a stale or reordered
    /// AppendEntries cannot remove entries a newer one appended (students' guide: "truncate only
    /// on a real conflict"). Returns whether the log changed.
    ///
    /// # Panics
    /// If `prev_log_index` is inside the snapshot; the caller checks that first. With debug
    /// assertions, if a conflict lies at or below `committed`: a committed entry is never
    /// truncated (Leader Completeness, Figure 3).
    pub fn merge(&mut self, prev_log_index: u64, entries: &[Entry], committed: u64) -> bool {
        // solution: begin PartB log-merge
        assert!(
            prev_log_index >= self.last_included_index,
            "merge after {prev_log_index}: compacted into the snapshot at {}",
            self.last_included_index
        );
        for (offset, entry) in entries.iter().enumerate() {
            let index = prev_log_index + 1 + offset as u64;
            match self.term_at(index) {
                Some(term) if term == entry.term => continue,
                Some(_) => {
                    debug_assert!(
                        index > committed,
                        "merge would truncate committed entry {index} (committed ..={committed})"
                    );
                    self.truncate_from(index)
                }
                None => {}
            }
            self.debug_assert_terms_follow(&entries[offset..]);
            self.push_entries(&entries[offset..]);
            return true;
        }
        false
        // solution: end log-merge
    }

    /// Fast backup, follower side (the course's XTerm / XIndex): the first index of the run of
    /// entries with `term` that contains `index`, stopping at the snapshot boundary.
    pub fn first_index_of_term(&self, term: u64, index: u64) -> u64 {
        // solution: begin PartB first-index-of-term
        let mut first = index;
        while first > self.last_included_index + 1 && self.term_at(first - 1) == Some(term) {
            first -= 1;
        }
        first
        // solution: end first-index-of-term
    }

    /// Fast backup, leader side: the last index holding an entry of `term`, if the log has one.
    pub fn last_index_of_term(&self, term: u64) -> Option<u64> {
        // solution: begin PartB last-index-of-term
        self.entries
            .iter()
            .rposition(|entry| entry.term == term)
            .map(|at| self.last_included_index + 1 + at as u64)
        // solution: end last-index-of-term
    }

    /// `snapshot(index)` from the service: discard the entries through `index`, which becomes the
    /// new `last_included_index`.
    ///
    /// # Panics
    /// If `index` is not in the log; `Raft::snapshot` filters out such requests first.
    pub fn compact_to(&mut self, index: u64) {
        let kept = self.tail_to_keep(index);
        // solution: begin PartD compact-to
        debug_assert!(
            index > self.last_included_index,
            "compact_to({index}): moves back"
        );
        let at = self
            .position(index)
            .unwrap_or_else(|| panic!("compact_to({index}): not in the log {self:?}"));
        self.last_included_term = self.entries[at].term;
        self.last_included_index = index;
        self.drain_through(at);
        // solution: end compact-to
        if let Some((first, entries)) = kept {
            self.tail.keep(first, entries);
        }
    }

    /// The entries through `index` that the tail would keep (beyond the lab), cloned before
    /// compaction removes them, with the index of the first; `None` with no tail.
    fn tail_to_keep(&self, index: u64) -> Option<(u64, Vec<Entry>)> {
        let limit = self.tail.limit?;
        let end = self.position(index)? + 1;
        let start = end.saturating_sub(limit.entries);
        let first = self.last_included_index + 1 + start as u64;
        Some((first, self.entries[start..end].to_vec()))
    }

    /// InstallSnapshot receiver, steps 6 and 7 (Figure 13): if the log holds the snapshot's last
    /// entry (same index and term), keep the entries that follow it; otherwise discard the whole
    /// log. Either way the snapshot now ends at `index`.
    pub fn install_snapshot(&mut self, index: u64, term: u64) {
        // solution: begin PartD install-snapshot-log
        debug_assert!(
            index >= self.last_included_index,
            "install_snapshot({index}): the snapshot ends at {} already",
            self.last_included_index
        );
        if index < self.last_index() && self.term_at(index) == Some(term) {
            let at = self
                .position(index)
                .expect("an index past the snapshot with a known term is held in the log");
            self.drain_through(at);
        } else {
            self.truncate_at(0);
        }
        self.last_included_index = index;
        self.last_included_term = term;
        // solution: end install-snapshot-log
    }

    /// Checks what a decoded log must satisfy: terms never decrease along the log and never exceed
    /// `current_term`. Used when restoring persisted state.
    pub fn validate(&self, current_term: u64) -> Result<(), String> {
        let mut previous = self.last_included_term;
        for (at, entry) in self.entries.iter().enumerate() {
            if entry.term < previous || entry.term > current_term {
                return Err(format!(
                    "entry {} has term {} after term {previous} (current term {current_term})",
                    self.last_included_index + 1 + at as u64,
                    entry.term
                ));
            }
            previous = entry.term;
        }
        Ok(())
    }

    /// The kept tail's entries from `index`, if the tail holds `index` and still ends at
    /// `last_included_index`.
    fn tail_from(&self, index: u64) -> Option<&[Entry]> {
        let tail = &self.tail;
        let current = tail.last() == Some(self.last_included_index);
        (current && index >= tail.first && index <= self.last_included_index)
            .then(|| &tail.entries[(index - tail.first) as usize..])
    }

    /// Position in `entries` of `index`, if it is held there.
    fn position(&self, index: u64) -> Option<usize> {
        if index <= self.last_included_index || index > self.last_index() {
            return None;
        }
        Some((index - self.last_included_index - 1) as usize)
    }

    /// Removes the entries from `index` to the end.
    fn truncate_from(&mut self, index: u64) {
        let at = self
            .position(index)
            .unwrap_or_else(|| panic!("truncate_from({index}): not in the log"));
        self.truncate_at(at);
    }

    // The only writers of `entries`, which keep `encoded` in step.

    /// Appends `entries`. Decoding (`From<StoredLog>`) appends what it read, unchecked:
    /// `validate` reports a bad log as an error there.
    fn push_entries(&mut self, entries: &[Entry]) {
        for entry in entries {
            self.encoded.starts.push(self.encoded.len);
            self.encoded.len += labgob::encoded_len(entry) as usize;
        }
        self.entries.extend_from_slice(entries);
    }

    /// Invariant: terms never decrease along the log (Figure 2: a leader appends entries of its
    /// own term after those it holds).
    fn debug_assert_terms_follow(&self, entries: &[Entry]) {
        let mut previous = self.last_term();
        for entry in entries {
            debug_assert!(
                entry.term >= previous,
                "entry of term {} after term {previous}: terms never decrease along the log",
                entry.term
            );
            previous = entry.term;
        }
    }

    /// Keeps the entries before position `at`.
    fn truncate_at(&mut self, at: usize) {
        if let Some(&start) = self.encoded.starts.get(at) {
            self.encoded.len = start;
            self.encoded.starts.truncate(at);
            self.encoded.saved = self.encoded.saved.min(at);
        }
        self.entries.truncate(at);
    }

    /// Removes the entries up to and including position `at`.
    fn drain_through(&mut self, at: usize) {
        let end = self
            .encoded
            .starts
            .get(at + 1)
            .copied()
            .unwrap_or(self.encoded.len);
        self.encoded.len -= end;
        self.encoded.starts.drain(..=at);
        // Every remaining entry moved: a save must write them all again.
        self.encoded.saved = 0;
        for start in &mut self.encoded.starts {
            *start -= end;
        }
        self.entries.drain(..=at);
    }
}

/// The labgob encoding of `entries`, one after another, in a buffer of `len` bytes.
fn encode_all(entries: &[Entry], len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len);
    for entry in entries {
        // Writing to a `Vec` cannot fail.
        labgob::encode_into(&mut bytes, entry).expect("an entry encodes into memory");
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(term: u64) -> Entry {
        Entry {
            term,
            command: vec![term as u8],
        }
    }

    /// A log without snapshot whose entries have the given terms (index 1, 2, ...).
    fn log_of(terms: &[u64]) -> Log {
        let mut log = Log::new();
        for &term in terms {
            log.append(entry(term));
        }
        log
    }

    fn terms(log: &Log) -> Vec<u64> {
        log.entries.iter().map(|e| e.term).collect()
    }

    #[test]
    fn index_mapping_without_snapshot() {
        let log = log_of(&[1, 1, 2]);
        assert_eq!(log.last_index(), 3);
        assert_eq!(log.last_term(), 2);
        assert_eq!(log.term_at(0), Some(0));
        assert_eq!(log.term_at(2), Some(1));
        assert_eq!(log.term_at(3), Some(2));
        assert_eq!(log.term_at(4), None);
        assert_eq!(log.entries_from(2).len(), 2);
        assert_eq!(log.entries_from(4).len(), 0);
        assert_eq!(log.entries_from(9).len(), 0);
    }

    // solution: begin PartD log-tests-snapshot-index
    /// Figure 13: after compaction the snapshot's last entry still has a term, older ones do not.
    #[test]
    fn index_mapping_across_the_snapshot_boundary() {
        let mut log = log_of(&[1, 1, 2, 3, 3]);
        log.compact_to(3);
        assert_eq!(log.last_included_index(), 3);
        assert_eq!(log.last_included_term(), 2);
        assert_eq!(log.last_index(), 5);
        assert_eq!(log.term_at(2), None);
        assert_eq!(log.term_at(3), Some(2));
        assert_eq!(log.term_at(4), Some(3));
        assert_eq!(log.entries_from(4).len(), 2);
        assert_eq!(log.entries_between(4, 5).len(), 2);
        log.compact_to(5);
        assert_eq!((log.last_index(), log.last_term()), (5, 3));
        assert_eq!(log.entries_from(6).len(), 0);
    }

    #[test]
    #[should_panic(expected = "compacted into the snapshot")]
    fn entries_from_inside_the_snapshot_panics() {
        let mut log = log_of(&[1, 1, 2]);
        log.compact_to(2);
        log.entries_from(2);
    }
    // solution: end log-tests-snapshot-index

    // solution: begin PartB log-tests-merge
    /// (log terms, prev_log_index, new entry terms, expected log terms, changed)
    type MergeCase = (&'static [u64], u64, &'static [u64], &'static [u64], bool);

    /// AppendEntries receiver steps 3-4: a table of (log, prev, new entries) -> resulting log.
    #[test]
    fn merge_truncates_only_on_conflict() {
        let cases: &[MergeCase] = &[
            // (log terms, prev_log_index, new entry terms, expected log terms, changed)
            (&[], 0, &[1, 1], &[1, 1], true),
            (&[1, 1], 2, &[1], &[1, 1, 1], true),
            // heartbeat: nothing to do
            (&[1, 1], 2, &[], &[1, 1], false),
            // stale AppendEntries with a prefix of what we hold: keep the longer log
            (&[1, 1, 1], 0, &[1], &[1, 1, 1], false),
            // conflict at index 2: cut from there, append the rest
            (&[1, 1, 1], 1, &[2, 2], &[1, 2, 2], true),
            // partial overlap: matching prefix kept, new tail appended
            (&[1, 2], 1, &[2, 3], &[1, 2, 3], true),
        ];
        for &(log_terms, prev, new, expected, changed) in cases {
            let mut log = log_of(log_terms);
            let new: Vec<Entry> = new.iter().map(|&t| entry(t)).collect();
            assert_eq!(
                log.merge(prev, &new, 0),
                changed,
                "case {log_terms:?} {prev} {new:?}"
            );
            assert_eq!(terms(&log), expected, "case {log_terms:?} {prev}");
        }
    }
    // solution: end log-tests-merge

    // solution: begin PartD log-tests-compaction
    #[test]
    fn merge_after_a_snapshot() {
        let mut log = log_of(&[1, 1, 2]);
        log.compact_to(2);
        assert!(log.merge(2, &[entry(3), entry(3)], 2));
        assert_eq!(log.last_index(), 4);
        assert_eq!(log.term_at(3), Some(3));
    }

    #[test]
    fn fast_backup_searches() {
        let log = log_of(&[1, 1, 4, 4, 4, 5]);
        assert_eq!(log.first_index_of_term(4, 5), 3);
        assert_eq!(log.first_index_of_term(1, 2), 1);
        assert_eq!(log.last_index_of_term(4), Some(5));
        assert_eq!(log.last_index_of_term(2), None);
        // The follower's search stops at the snapshot boundary.
        let mut compacted = log.clone();
        compacted.compact_to(3);
        assert_eq!(compacted.first_index_of_term(4, 5), 4);
        assert_eq!(compacted.last_index_of_term(1), None);
    }

    /// Figure 13, steps 6-7.
    #[test]
    fn install_snapshot_keeps_a_matching_suffix_only() {
        let mut log = log_of(&[1, 1, 2, 2]);
        log.install_snapshot(2, 1);
        assert_eq!((log.last_included_index(), log.last_index()), (2, 4));
        assert_eq!(terms(&log), vec![2, 2]);

        let mut log = log_of(&[1, 1, 2, 2]);
        log.install_snapshot(3, 3); // term differs: discard everything
        assert_eq!((log.last_index(), log.last_term()), (3, 3));
        assert!(log.entries.is_empty());

        let mut log = log_of(&[1]);
        log.install_snapshot(7, 2); // past our end
        assert_eq!((log.last_index(), log.last_term()), (7, 2));
    }
    // solution: end log-tests-compaction

    // solution: begin PartD log-tests-tail
    /// Beyond the lab: compaction keeps a tail of what it covers, which serves AppendEntries
    /// to a follower a little behind; before the tail, a follower needs the snapshot.
    #[test]
    fn compaction_keeps_a_tail_for_followers_a_little_behind() {
        let mut log = log_of(&[1, 1, 2, 2, 3, 3, 3]);
        log.keep_tail(Some(LogTail {
            entries: 3,
            bytes: 1 << 20,
        }));
        log.compact_to(4);
        assert_eq!(log.last_included_index(), 4);
        assert_eq!(log.term_at(2), Some(1));
        assert_eq!(log.term_at(1), None, "older than the tail");
        assert!(log.needs_snapshot(2), "the term of entry 1 is gone");
        assert!(!log.needs_snapshot(3));
        assert_eq!(
            log.entries_from(3)
                .iter()
                .map(|e| e.term)
                .collect::<Vec<_>>(),
            vec![2, 2],
            "the tail's entries, through the snapshot's index"
        );
        assert_eq!(terms(&log), vec![3, 3, 3], "the log itself is unchanged");

        // A second compaction extends the tail and drops its oldest entries.
        log.compact_to(6);
        assert_eq!(log.term_at(3), None);
        assert_eq!(log.term_at(4), Some(2));
        assert_eq!(log.entries_from(4).len(), 3);
        assert!(log.needs_snapshot(4) && !log.needs_snapshot(5));

        // A snapshot installed past the log leaves the tail behind: never served again.
        log.install_snapshot(9, 4);
        assert_eq!(log.term_at(6), None);
        assert!(log.needs_snapshot(9) && !log.needs_snapshot(10));
        log.append(entry(4));
        log.append(entry(4));
        log.compact_to(10);
        assert_eq!(log.term_at(6), None, "the stale tail is gone");
        assert_eq!(
            log.term_at(9),
            None,
            "the installed snapshot's entry was never held"
        );
        assert_eq!(log.entries_from(10).len(), 1);
        assert!(log.needs_snapshot(10) && !log.needs_snapshot(11));
    }

    /// The tail holds at most its bytes of commands, and nothing without a limit (the lab).
    #[test]
    fn the_tail_is_bounded_in_bytes_too() {
        let big = |term| Entry {
            term,
            command: vec![0; 100],
        };
        let mut log = Log::new();
        for _ in 0..10 {
            log.append(big(1));
        }
        log.keep_tail(Some(LogTail {
            entries: 100,
            bytes: 250,
        }));
        log.compact_to(10);
        assert_eq!(log.entries_from(9).len(), 2, "two entries of 100 bytes");
        assert!(log.needs_snapshot(9) && !log.needs_snapshot(10));

        let mut lab = log_of(&[1, 1, 1]);
        lab.compact_to(2);
        assert!(lab.needs_snapshot(2) && !lab.needs_snapshot(3));
    }
    // solution: end log-tests-tail

    /// A decoded log is checked, not trusted.
    #[test]
    fn validate_rejects_decreasing_or_future_terms() {
        let decoded = |terms: &[u64]| {
            Log::from(StoredLog {
                last_included_index: 0,
                last_included_term: 0,
                entries: terms.iter().map(|&t| entry(t)).collect(),
            })
        };
        assert!(decoded(&[1, 1, 3]).validate(3).is_ok());
        assert!(decoded(&[1, 3, 2]).validate(3).is_err());
        assert!(decoded(&[1, 4]).validate(3).is_err());
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "terms never decrease")]
    fn appending_an_older_term_panics_in_debug_builds() {
        log_of(&[1, 3, 2]);
    }

    // solution: begin PartB log-tests-committed
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "would truncate committed entry 2")]
    fn merge_never_truncates_committed_entries_in_debug_builds() {
        log_of(&[1, 1, 1]).merge(1, &[entry(2)], 2);
    }
    // solution: end log-tests-committed
}
