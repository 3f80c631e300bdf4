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
//! order. Neither the state nor the snapshot is kept in memory: a peer reads the state once, at
//! its start (what the journal restored), and the snapshot stays in the journal's file and is
//! read from there. Only the state's two lengths are kept, for the sizes and for
//! [`Persister::save_raft_state_in_parts`]'s check. A peer's log of gigabytes is then held by
//! Raft alone, not a second time here.
//!
//! Also beyond the lab, a snapshot can be written a piece at a time, away from every lock
//! ([`Persister::begin_snapshot`], [`SnapshotWriter`]): a service writing its state in the
//! background, or a follower receiving one in chunks. It replaces the saved snapshot only once
//! finished ([`SnapshotWriter::finish`]: with a journal, a checksummed file synced to disk) and
//! saved with the state ([`Persister::save_with_written_snapshot`]). The saved snapshot is read
//! back a piece at a time too ([`Persister::read_snapshot_chunk`]).

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

/// The buffer of a [`Persister::snapshot_reader`]: the decoder reads a few bytes at a time.
const READ_BUFFER: usize = 1 << 20;

/// Stable storage for one peer: the encoded Raft state and the service's snapshot, in memory and,
/// with a [`Journal`], on disk.
#[derive(Default)]
pub struct Persister {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Without a journal, what is saved; with one, only the snapshot field is unused, and the
    /// state's bytes are not kept (see `lens`).
    saved: Saved,
    journal: Option<Box<dyn Journal>>,
    /// With a journal: the lengths of the saved head and body.
    lens: (usize, usize),
    /// With a journal: the state it restored, until the first save replaces it (a peer reads
    /// it once, as it starts).
    restored: Option<Restored>,
    /// Counts the saves that replaced the snapshot, so that a reader of pieces can tell that
    /// the snapshot changed under it.
    generation: u64,
}

/// Durable storage under a [`Persister`], such as a directory on disk: each call returns once
/// its save is durable, and a crash leaves each save wholly there or not at all.
pub trait Journal: Send {
    /// Replaces the Raft state and the snapshot; afterwards the body is empty.
    fn save(&mut self, raft_state: &[u8], snapshot: &[u8]) -> io::Result<()>;

    /// Saves `head`, then the first `keep` bytes of the body saved before, then `tail` as the
    /// new body, keeping the snapshot ([`Persister::save_raft_state_in_parts`]).
    fn save_raft_state_in_parts(&mut self, head: &[u8], keep: usize, tail: &[u8])
    -> io::Result<()>;

    /// A new snapshot file, to be written a piece at a time with no lock held, then finished
    /// ([`SnapshotFile::finish`]) and saved ([`Journal::save_with_snapshot_file`]).
    fn create_snapshot(&mut self) -> io::Result<Box<dyn SnapshotFile>>;

    /// As [`Journal::save`], with the snapshot in the finished file at `path`, which the
    /// journal takes over.
    fn save_with_snapshot_file(&mut self, raft_state: &[u8], path: &Path) -> io::Result<()>;

    /// Where the saved snapshot's bytes are (`None`: no snapshot).
    fn snapshot(&self) -> Option<SnapshotLocation>;

    /// The saved state, read back from stable storage (what a reopening would restore).
    fn read_raft_state(&self) -> io::Result<Restored>;

    /// Where the journal writes, for messages.
    fn location(&self) -> String;
}

/// A snapshot file being written ([`Journal::create_snapshot`]). Dropping it unfinished
/// removes it.
pub trait SnapshotFile: Write + Send {
    /// Completes the file (its checksum, say) and syncs it to disk; returns its path.
    fn finish(self: Box<Self>) -> io::Result<PathBuf>;
}

/// The saved snapshot in a journal's file: `len` bytes from `offset` of the file at `path`.
/// The file never changes; a new snapshot is a new file, and the old one is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotLocation {
    /// The file.
    pub path: PathBuf,
    /// Where the snapshot's bytes begin in it.
    pub offset: u64,
    /// How many there are.
    pub len: u64,
}

/// What a [`Journal`] found when it was opened: the state as head and body (the snapshot
/// stays in its file: [`Journal::snapshot`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The saved state's head.
    pub head: Vec<u8>,
    /// The saved state's body, which follows the head.
    pub body: Vec<u8>,
}

/// A snapshot being written to a [`Persister`] a piece at a time ([`Persister::begin_snapshot`]),
/// with `io::Write`. It changes nothing saved until finished and saved.
pub struct SnapshotWriter {
    sink: Sink,
    len: u64,
}

enum Sink {
    Memory(Vec<u8>),
    File(Box<dyn SnapshotFile>),
}

/// A finished [`SnapshotWriter`], ready for [`Persister::save_with_written_snapshot`]. Dropped
/// unsaved, its file is removed.
pub struct WrittenSnapshot {
    written: Written,
    len: u64,
}

enum Written {
    Memory(Vec<u8>),
    File(PathBuf),
    Saved,
}

/// A piece of the saved snapshot ([`Persister::read_snapshot_chunk`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotChunk {
    /// The bytes from the offset asked for.
    pub data: Vec<u8>,
    /// The whole snapshot's length.
    pub total: u64,
}

impl fmt::Debug for Persister {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("Persister")
            .field("raft_state", &inner.state_len())
            .field("snapshot", &inner.snapshot_len())
            .field("journal", &inner.journal.as_ref().map(|j| j.location()))
            .finish()
    }
}

/// The saved Raft state is `head` followed by `body`. With a journal, `snapshot` stays empty:
/// the journal's file holds it.
#[derive(Debug, Default, Clone)]
struct Saved {
    head: Vec<u8>,
    body: Vec<u8>,
    snapshot: Vec<u8>,
}

impl Inner {
    /// The saved head's and body's lengths.
    fn lens(&self) -> (usize, usize) {
        match &self.journal {
            Some(_) => self.lens,
            None => (self.saved.head.len(), self.saved.body.len()),
        }
    }

    fn state_len(&self) -> usize {
        let (head, body) = self.lens();
        head + body
    }

    /// The saved state as head and body.
    ///
    /// # Panics
    /// If a journal cannot read it back.
    fn state(&self) -> Restored {
        match (&self.journal, &self.restored) {
            (None, _) => Restored {
                head: self.saved.head.clone(),
                body: self.saved.body.clone(),
            },
            (Some(_), Some(restored)) => restored.clone(),
            (Some(journal), None) => journal.read_raft_state().unwrap_or_else(|err| {
                panic!(
                    "cannot read the state back from {}: {err}",
                    journal.location()
                )
            }),
        }
    }

    /// Records a save of a state of `head` and `body` bytes.
    fn saved_state(&mut self, head: Vec<u8>, body_len: usize) {
        if self.journal.is_some() {
            self.lens = (head.len(), body_len);
            self.restored = None;
        } else {
            self.saved.head = head;
            self.saved.body.truncate(body_len);
        }
    }

    fn snapshot_len(&self) -> u64 {
        match &self.journal {
            Some(journal) => journal.snapshot().map_or(0, |at| at.len),
            None => self.saved.snapshot.len() as u64,
        }
    }
}

impl Persister {
    /// An empty persister: a peer that has never run.
    pub fn new() -> Persister {
        Persister::default()
    }

    /// A durable persister: it starts from what `journal` restored, and writes every save
    /// through to it.
    pub fn with_journal(restored: Restored, journal: Box<dyn Journal>) -> Persister {
        Persister {
            inner: Mutex::new(Inner {
                saved: Saved::default(),
                journal: Some(journal),
                lens: (restored.head.len(), restored.body.len()),
                restored: Some(restored),
                generation: 0,
            }),
        }
    }

    /// An independent deep copy, in memory only: later saves to either do not affect the other.
    ///
    /// # Panics
    /// If a journal's snapshot file cannot be read.
    pub fn copy(&self) -> Persister {
        let Restored { head, body } = self.inner.lock().state();
        let saved = Saved {
            head,
            body,
            snapshot: self.read_snapshot(),
        };
        Persister {
            inner: Mutex::new(Inner {
                saved,
                ..Inner::default()
            }),
        }
    }

    /// Replaces the Raft state and the snapshot in one atomic step.
    ///
    /// # Panics
    /// If a journal cannot save: a peer that failed to persist must not go on answering.
    pub fn save(&self, raft_state: Vec<u8>, snapshot: Vec<u8>) {
        let mut inner = self.inner.lock();
        let snapshot = match &mut inner.journal {
            Some(journal) => {
                journal
                    .save(&raft_state, &snapshot)
                    .unwrap_or_else(|err| panic!("cannot save to {}: {err}", journal.location()));
                Vec::new()
            }
            None => snapshot,
        };
        inner.saved.snapshot = snapshot;
        inner.saved_state(raft_state, 0);
        inner.generation += 1;
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
        let (_, body) = inner.lens();
        assert!(
            keep <= body,
            "save_raft_state_in_parts: keep {keep} bytes of a {body}-byte body"
        );
        if let Some(journal) = &mut inner.journal {
            journal
                .save_raft_state_in_parts(head, keep, tail)
                .unwrap_or_else(|err| panic!("cannot save to {}: {err}", journal.location()));
        }
        inner.saved_state(head.to_vec(), keep);
        if inner.journal.is_some() {
            inner.lens.1 += tail.len();
        } else {
            inner.saved.body.extend_from_slice(tail);
        }
    }

    /// The last saved Raft state (empty if none was ever saved). With a journal, the state it
    /// restored, or, after a save, the state read back from it.
    ///
    /// # Panics
    /// If a journal cannot read it back.
    pub fn read_raft_state(&self) -> Vec<u8> {
        let Restored { mut head, body } = self.inner.lock().state();
        head.extend_from_slice(&body);
        head
    }

    /// The last saved snapshot (empty if none was ever saved). With a journal, it is read from
    /// the journal's file, with no lock held.
    ///
    /// # Panics
    /// If the journal's snapshot file cannot be read: a peer must not go on without the
    /// snapshot it saved.
    pub fn read_snapshot(&self) -> Vec<u8> {
        loop {
            let (generation, total) = {
                let inner = self.inner.lock();
                if inner.journal.is_none() {
                    return inner.saved.snapshot.clone();
                }
                (inner.generation, inner.snapshot_len())
            };
            let len = usize::try_from(total).expect("a snapshot that fits in memory");
            match self.read_snapshot_chunk(generation, 0, len) {
                Ok(Some(chunk)) => return chunk.data,
                // Replaced while we read: read the new one.
                Ok(None) => continue,
                Err(err) => panic!("cannot read the saved snapshot: {err}"),
            }
        }
    }

    /// The last saved snapshot as a reader of its bytes, and their number (0 if none was ever
    /// saved), for a service that decodes a snapshot as it reads it, never holding its bytes
    /// whole (beyond the lab: `raft::Options::stream_snapshots`). With a journal the reader
    /// holds the snapshot's file open, so a save that replaces the snapshot meanwhile does not
    /// change what it reads; without one, it reads a copy.
    pub fn snapshot_reader(&self) -> io::Result<(Box<dyn Read + Send>, u64)> {
        loop {
            let location = {
                let inner = self.inner.lock();
                match &inner.journal {
                    Some(journal) => journal.snapshot(),
                    None => {
                        let snapshot = inner.saved.snapshot.clone();
                        let len = snapshot.len() as u64;
                        return Ok((Box::new(io::Cursor::new(snapshot)), len));
                    }
                }
            };
            let Some(at) = location else {
                return Ok((Box::new(io::empty()), 0));
            };
            let mut file = match File::open(&at.path) {
                Ok(file) => file,
                // Replaced and removed since we looked: open the new one.
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err),
            };
            file.seek(SeekFrom::Start(at.offset))?;
            let reader = io::BufReader::with_capacity(READ_BUFFER, file.take(at.len));
            return Ok((Box::new(reader), at.len));
        }
    }

    /// Size in bytes of the saved Raft state; the lab's `log_size()` reads this.
    pub fn raft_state_size(&self) -> usize {
        self.inner.lock().state_len()
    }

    /// Size in bytes of the saved snapshot.
    pub fn snapshot_size(&self) -> usize {
        usize::try_from(self.inner.lock().snapshot_len()).unwrap_or(usize::MAX)
    }

    /// Which snapshot is saved: a number that changes whenever a save replaces it.
    pub fn snapshot_generation(&self) -> u64 {
        self.inner.lock().generation
    }

    /// Up to `max_len` bytes of the saved snapshot from `offset`, if the snapshot is still the
    /// one of `generation` (`Ok(None)` if it was replaced). With a journal, the bytes are read
    /// from its file with no lock held.
    pub fn read_snapshot_chunk(
        &self,
        generation: u64,
        offset: u64,
        max_len: usize,
    ) -> io::Result<Option<SnapshotChunk>> {
        let location = {
            let inner = self.inner.lock();
            if inner.generation != generation {
                return Ok(None);
            }
            match &inner.journal {
                Some(journal) => journal.snapshot(),
                None => {
                    let snapshot = &inner.saved.snapshot;
                    let from =
                        usize::try_from(offset).map_or(snapshot.len(), |o| o.min(snapshot.len()));
                    let to = from.saturating_add(max_len).min(snapshot.len());
                    return Ok(Some(SnapshotChunk {
                        data: snapshot[from..to].to_vec(),
                        total: snapshot.len() as u64,
                    }));
                }
            }
        };
        let Some(at) = location else {
            return Ok(Some(SnapshotChunk {
                data: Vec::new(),
                total: 0,
            }));
        };
        let mut file = match File::open(&at.path) {
            Ok(file) => file,
            // Replaced and removed since we looked.
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let from = offset.min(at.len);
        let want = (at.len - from).min(max_len as u64);
        file.seek(SeekFrom::Start(at.offset + from))?;
        let mut data = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
        file.take(want).read_to_end(&mut data)?;
        if (data.len() as u64) < want {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: the snapshot ends {} bytes early",
                    at.path.display(),
                    want - data.len() as u64
                ),
            ));
        }
        Ok(Some(SnapshotChunk {
            data,
            total: at.len,
        }))
    }

    /// A new snapshot to write a piece at a time: in memory, or with a journal in a file of its
    /// own. Nothing saved changes until [`Persister::save_with_written_snapshot`].
    pub fn begin_snapshot(&self) -> io::Result<SnapshotWriter> {
        let sink = match &mut self.inner.lock().journal {
            Some(journal) => Sink::File(journal.create_snapshot()?),
            None => Sink::Memory(Vec::new()),
        };
        Ok(SnapshotWriter { sink, len: 0 })
    }

    /// Replaces the Raft state and the snapshot, with `snapshot` written and finished
    /// beforehand, in one atomic step.
    ///
    /// # Panics
    /// If a journal cannot save, as [`Persister::save`].
    pub fn save_with_written_snapshot(&self, raft_state: Vec<u8>, mut snapshot: WrittenSnapshot) {
        let mut inner = self.inner.lock();
        let written = std::mem::replace(&mut snapshot.written, Written::Saved);
        let snapshot = match (&mut inner.journal, written) {
            (Some(journal), Written::File(path)) => {
                journal
                    .save_with_snapshot_file(&raft_state, &path)
                    .unwrap_or_else(|err| panic!("cannot save to {}: {err}", journal.location()));
                Vec::new()
            }
            (None, Written::Memory(bytes)) => bytes,
            _ => panic!("a snapshot written for one persister saved to another"),
        };
        inner.saved.snapshot = snapshot;
        inner.saved_state(raft_state, 0);
        inner.generation += 1;
    }
}

impl SnapshotWriter {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Completes the snapshot; with a journal, syncs its file to disk, so call it with no lock
    /// held.
    pub fn finish(self) -> io::Result<WrittenSnapshot> {
        let written = match self.sink {
            Sink::Memory(bytes) => Written::Memory(bytes),
            Sink::File(file) => Written::File(file.finish()?),
        };
        Ok(WrittenSnapshot {
            written,
            len: self.len,
        })
    }
}

impl Write for SnapshotWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match &mut self.sink {
            Sink::Memory(bytes) => {
                bytes.extend_from_slice(buf);
                buf.len()
            }
            Sink::File(file) => file.write(buf)?,
        };
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Memory(_) => Ok(()),
            Sink::File(file) => file.flush(),
        }
    }
}

impl WrittenSnapshot {
    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for WrittenSnapshot {
    fn drop(&mut self) {
        if let Written::File(path) = &self.written {
            let _ = std::fs::remove_file(path);
        }
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

    /// A journal that keeps what it was asked to save, and can be told to fail. It keeps the
    /// snapshot in a file of its own, `dir/<n>`, behind a one-byte header.
    struct Recording {
        saves: std::sync::Arc<Mutex<Vec<String>>>,
        fail: bool,
        dir: PathBuf,
        files: u64,
        snapshot: Option<SnapshotLocation>,
        state: Restored,
    }

    /// The test's files go with the journal, whether the test passed or panicked.
    impl Drop for Recording {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    impl Recording {
        fn new(saves: &std::sync::Arc<Mutex<Vec<String>>>, fail: bool, name: &str) -> Recording {
            let dir = std::env::temp_dir().join(format!("persister-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Recording {
                saves: std::sync::Arc::clone(saves),
                fail,
                dir,
                files: 0,
                snapshot: None,
                state: Restored {
                    head: vec![1],
                    body: vec![2, 3],
                },
            }
        }

        fn next_file(&mut self) -> PathBuf {
            self.files += 1;
            self.dir.join(self.files.to_string())
        }

        fn keep(&mut self, path: &Path, len: u64) {
            if let Some(old) = self.snapshot.take() {
                std::fs::remove_file(old.path).unwrap();
            }
            self.snapshot = (len > 0).then(|| SnapshotLocation {
                path: path.to_path_buf(),
                offset: 1,
                len,
            });
        }
    }

    /// [`Recording`]'s snapshot file being written.
    struct RecordingFile {
        path: PathBuf,
        file: File,
    }

    impl Write for RecordingFile {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.file.write(buf)
        }

        fn flush(&mut self) -> io::Result<()> {
            self.file.flush()
        }
    }

    impl SnapshotFile for RecordingFile {
        fn finish(self: Box<Self>) -> io::Result<PathBuf> {
            self.file.sync_all()?;
            Ok(self.path.clone())
        }
    }

    impl Journal for Recording {
        fn save(&mut self, raft_state: &[u8], snapshot: &[u8]) -> io::Result<()> {
            if self.fail {
                return Err(io::Error::other("disk full"));
            }
            self.saves
                .lock()
                .push(format!("save {raft_state:?} {snapshot:?}"));
            self.state = Restored {
                head: raft_state.to_vec(),
                body: Vec::new(),
            };
            let path = self.next_file();
            std::fs::write(&path, [&[0xff], snapshot].concat())?;
            self.keep(&path, snapshot.len() as u64);
            Ok(())
        }

        fn save_raft_state_in_parts(
            &mut self,
            head: &[u8],
            keep: usize,
            tail: &[u8],
        ) -> io::Result<()> {
            self.saves
                .lock()
                .push(format!("parts {head:?} {keep} {tail:?}"));
            self.state.head = head.to_vec();
            self.state.body.truncate(keep);
            self.state.body.extend_from_slice(tail);
            Ok(())
        }

        fn create_snapshot(&mut self) -> io::Result<Box<dyn SnapshotFile>> {
            let path = self.next_file();
            let mut file = File::create(&path)?;
            file.write_all(&[0xff])?;
            Ok(Box::new(RecordingFile { path, file }))
        }

        fn save_with_snapshot_file(&mut self, raft_state: &[u8], path: &Path) -> io::Result<()> {
            let len = std::fs::metadata(path)?.len() - 1;
            self.saves
                .lock()
                .push(format!("save {raft_state:?} with a file of {len} bytes"));
            self.state = Restored {
                head: raft_state.to_vec(),
                body: Vec::new(),
            };
            self.keep(path, len);
            Ok(())
        }

        fn snapshot(&self) -> Option<SnapshotLocation> {
            self.snapshot.clone()
        }

        fn read_raft_state(&self) -> io::Result<Restored> {
            Ok(self.state.clone())
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
        };
        let journal = Recording::new(&saves, false, "restores");
        let p = Persister::with_journal(restored, Box::new(journal));
        assert_eq!(p.read_raft_state(), vec![1, 2, 3]);
        assert_eq!(p.read_snapshot(), Vec::<u8>::new());
        p.save_raft_state_in_parts(&[4], 1, &[5]);
        assert_eq!(
            p.read_raft_state(),
            vec![4, 2, 5],
            "read back from the journal"
        );
        assert_eq!(p.raft_state_size(), 3);
        let copy = p.copy();
        copy.save_raft_state_in_parts(&[0], 2, &[]);
        assert_eq!(
            copy.read_raft_state(),
            vec![0, 2, 5],
            "a copy keeps the head and body"
        );
        p.save(vec![6], vec![7]);
        assert_eq!(
            p.read_snapshot(),
            vec![7],
            "read back from the journal's file"
        );
        let copy = p.copy();
        copy.save(vec![8], vec![]);
        assert_eq!(copy.read_snapshot(), Vec::<u8>::new());
        assert_eq!(p.read_snapshot(), vec![7]);
        assert_eq!(
            *saves.lock(),
            vec!["parts [4] 1 [5]".to_string(), "save [6] [7]".to_string()],
            "the copy writes to memory only"
        );
    }

    /// A snapshot written a piece at a time replaces the saved one only when saved, and is
    /// read back a piece at a time, in memory and with a journal alike; a reader of pieces
    /// whose snapshot was replaced is told so, and a streaming reader reads the one it opened.
    #[test]
    fn a_written_snapshot_is_saved_whole_and_read_in_pieces() {
        let saves = std::sync::Arc::new(Mutex::new(Vec::new()));
        let journal = Recording::new(&saves, false, "pieces");
        for p in [
            Persister::new(),
            Persister::with_journal(Restored::default(), Box::new(journal)),
        ] {
            p.save(vec![1], b"old".to_vec());
            let generation = p.snapshot_generation();
            let mut writer = p.begin_snapshot().unwrap();
            writer.write_all(b"new ").unwrap();
            writer.write_all(b"snapshot").unwrap();
            assert_eq!(writer.len(), 12);
            let written = writer.finish().unwrap();
            assert_eq!(
                p.read_snapshot(),
                b"old",
                "nothing changes until it is saved"
            );
            let chunk = p.read_snapshot_chunk(generation, 1, 10).unwrap().unwrap();
            assert_eq!((chunk.data.as_slice(), chunk.total), (&b"ld"[..], 3));
            p.save_with_written_snapshot(vec![2], written);
            assert_eq!(p.read_raft_state(), vec![2]);
            assert_eq!(p.read_snapshot(), b"new snapshot");
            assert_eq!(p.snapshot_size(), 12);
            assert_eq!(
                p.read_snapshot_chunk(generation, 0, 4).unwrap(),
                None,
                "replaced"
            );
            let now = p.snapshot_generation();
            let chunk = p.read_snapshot_chunk(now, 4, 5).unwrap().unwrap();
            assert_eq!((chunk.data.as_slice(), chunk.total), (&b"snaps"[..], 12));
            let chunk = p.read_snapshot_chunk(now, 10, 5).unwrap().unwrap();
            assert_eq!(chunk.data, b"ot", "the last piece is short");
            let unsaved = p.begin_snapshot().unwrap().finish().unwrap();
            drop(unsaved);
            assert_eq!(p.read_snapshot(), b"new snapshot");
            let (mut reader, len) = p.snapshot_reader().unwrap();
            p.save(vec![3], b"newer".to_vec());
            let mut read = Vec::new();
            reader.read_to_end(&mut read).unwrap();
            assert_eq!(
                (read.as_slice(), len),
                (&b"new snapshot"[..], 12),
                "a reader reads the snapshot it opened"
            );
        }
        assert_eq!(
            saves.lock()[1],
            "save [2] with a file of 12 bytes",
            "the journal took the file"
        );
    }

    #[test]
    #[should_panic(expected = "cannot save to the test's journal: disk full")]
    fn a_failed_save_panics() {
        let journal = Recording::new(&std::sync::Arc::default(), true, "fails");
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
