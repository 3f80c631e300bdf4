//! [`DiskJournal`]: a peer's Raft state and snapshot in a directory, crash-safe.
//!
//! The directory holds:
//! - `raft-state.log`, the state log (`record.rs`): every save appends one record and syncs it,
//!   so a save costs one append and one `fsync` whatever the state's size. When the log grows
//!   past [`COMPACT_FACTOR`] times the state (and [`COMPACT_MIN`]), it is rewritten as two
//!   records through a temporary file, `fsync`, `rename` and an `fsync` of the directory.
//! - `snapshot-<n>.snap`, the snapshot that goes with the state, numbered by the record that
//!   names it. A save with a new snapshot writes the next file through a temporary file,
//!   `fsync`, `rename` and a directory `fsync`, then appends the state's record naming it: the
//!   record is the commit point, so a crash before it leaves the old state and the old snapshot,
//!   and the new file, named by nothing, is removed at the next open.
//! - `new-<n>.snap.tmp`, a snapshot being written a piece at a time (`Journal::create_snapshot`:
//!   a service's snapshot made in the background, one received from a leader in pieces), with
//!   no lock of the journal's held. It is checksummed as it is written, gets its header and an
//!   `fsync` when finished, and becomes the next `snapshot-<n>.snap` by a `rename` and a
//!   directory `fsync` when saved. The snapshot is only ever read a piece at a time: opening
//!   checks its checksum that way, and the persister reads it from the file.
//! - `LOCK`, locked while a journal has the directory open, so that two processes never write
//!   one peer's state.
//!
//! Opening replays the log. A torn last record (a crash in the middle of an append, whose save
//! therefore never returned) is cut off, with a warning naming the file and the offset; every
//! other fault (a bad checksum with records after it, a record that cannot apply, a damaged or
//! missing snapshot file, bad first bytes) is an error naming the file, and nothing is changed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use raft::{Journal, Restored, SnapshotFile, SnapshotLocation};

use crate::record::{self, Record};

/// The state log's name in the directory.
pub const LOG_FILE: &str = "raft-state.log";
/// The lock file's name in the directory.
pub const LOCK_FILE: &str = "LOCK";

/// The log is rewritten when it holds this many times the state's bytes ...
const COMPACT_FACTOR: u64 = 4;
/// ... and at least this many bytes.
const COMPACT_MIN: u64 = 1 << 20;

/// A snapshot file being written is synced every this many bytes. Left to the kernel, a
/// snapshot of a gigabyte stays dirty in the page cache until its final `fsync`, which then
/// writes it all at once; every other `fsync` on the disk (this server's log, and the other
/// servers' on the same machine) waits behind it, and a leader whose save waits that long
/// misses its heartbeats.
const SNAPSHOT_SYNC_BYTES: u64 = 16 << 20;

/// An error opening a data directory, naming the file at fault.
#[derive(Debug)]
pub struct Error {
    path: PathBuf,
    what: String,
    source: Option<io::Error>,
}

impl Error {
    fn io(path: &Path, what: &str, source: io::Error) -> Error {
        Error {
            path: path.to_path_buf(),
            what: what.to_string(),
            source: Some(source),
        }
    }

    fn corrupt(path: &Path, what: String) -> Error {
        Error {
            path: path.to_path_buf(),
            what,
            source: None,
        }
    }

    /// The file or directory at fault.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.what)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// A peer's Raft state and snapshot in a directory; see the module doc for the layout.
pub struct DiskJournal {
    dir: PathBuf,
    log: File,
    /// Bytes in the log file.
    log_len: u64,
    /// Bytes of the state it replays to (head and body).
    state_len: u64,
    /// The number of the current snapshot file (0: the empty snapshot, no file).
    snapshot: u64,
    /// The current snapshot's length.
    snapshot_len: u64,
    /// Snapshot files created to be written a piece at a time, for their names.
    new_files: u64,
    /// Holds the directory's lock until the journal is dropped.
    _lock: File,
    faults: Faults,
    /// Told how long each save's fsync took (for a server's metrics).
    on_sync: Option<SyncObserver>,
}

/// What [`DiskJournal::observe_syncs`] calls with each fsync's duration.
pub type SyncObserver = Box<dyn Fn(Duration) + Send + Sync>;

impl DiskJournal {
    /// Opens the journal in `dir`, creating the directory and an empty journal if need be, and
    /// returns what it holds.
    pub fn open(dir: &Path) -> Result<(Restored, DiskJournal), Error> {
        DiskJournal::open_with(dir, Faults::default())
    }

    fn open_with(dir: &Path, faults: Faults) -> Result<(Restored, DiskJournal), Error> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, "cannot create the directory", e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::create(&lock_path)
            .map_err(|e| Error::io(&lock_path, "cannot create the lock file", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::corrupt(
                    dir,
                    "is in use by another process (its LOCK file is locked)".to_string(),
                ));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(Error::io(&lock_path, "cannot lock", e));
            }
        }
        let log_path = dir.join(LOG_FILE);
        if !log_path.exists() {
            write_atomically(dir, LOG_FILE, record::LOG_MAGIC, &mut Faults::default())
                .map_err(|e| Error::io(&log_path, "cannot create", e))?;
        }
        let bytes = fs::read(&log_path).map_err(|e| Error::io(&log_path, "cannot read", e))?;
        let replayed = record::replay(&bytes).map_err(|what| Error::corrupt(&log_path, what))?;
        let snapshot_len = if replayed.snapshot == 0 {
            0
        } else {
            let path = dir.join(snapshot_name(replayed.snapshot));
            let file = File::open(&path)
                .map_err(|e| Error::io(&path, "cannot read the snapshot the state log names", e))?;
            record::check_snapshot(io::BufReader::new(file))
                .map_err(|what| Error::corrupt(&path, what))?
        };
        let log = OpenOptions::new()
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io(&log_path, "cannot open for appending", e))?;
        if replayed.torn {
            log::warn!(
                "{}: the last record, from byte {} on, was cut short by a crash; its save \
                 never returned, so it is dropped",
                log_path.display(),
                replayed.good_len
            );
            log.set_len(replayed.good_len as u64)
                .and_then(|()| log.sync_all())
                .map_err(|e| Error::io(&log_path, "cannot cut off the torn record", e))?;
        }
        remove_strays(dir, replayed.snapshot)?;
        let journal = DiskJournal {
            dir: dir.to_path_buf(),
            log,
            log_len: replayed.good_len as u64,
            state_len: (replayed.head.len() + replayed.body.len()) as u64,
            snapshot: replayed.snapshot,
            snapshot_len,
            new_files: 0,
            _lock: lock,
            faults,
            on_sync: None,
        };
        let restored = Restored {
            head: replayed.head,
            body: replayed.body,
        };
        Ok((restored, journal))
    }

    /// Calls `observer` with the time each save spent in its fsync, from now on.
    pub fn observe_syncs(&mut self, observer: SyncObserver) {
        self.on_sync = Some(observer);
    }

    /// The directory the journal writes in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends `record` and syncs it.
    fn append(&mut self, record: Record<'_>) -> io::Result<()> {
        let mut bytes = Vec::new();
        record::encode(record, &mut bytes);
        self.faults.write(&mut self.log, &bytes)?;
        self.faults.step()?;
        let started = Instant::now();
        self.log.sync_data()?;
        if let Some(observer) = &self.on_sync {
            observer(started.elapsed());
        }
        self.log_len += bytes.len() as u64;
        Ok(())
    }

    /// Appends the record that makes snapshot file `new` (0: none), of `len` bytes, and
    /// `raft_state` the saved state: the commit point of a save with a snapshot. Then removes
    /// the old snapshot's file.
    fn commit_snapshot(&mut self, raft_state: &[u8], new: u64, len: u64) -> io::Result<()> {
        let old = self.snapshot;
        self.append(Record::Whole {
            snapshot: new,
            state: raft_state,
        })?;
        self.snapshot = new;
        self.snapshot_len = len;
        self.state_len = raft_state.len() as u64;
        if old != 0 && old != new {
            self.faults.step()?;
            fs::remove_file(self.dir.join(snapshot_name(old)))?;
        }
        if self.compaction_due() {
            // The state is `raft_state` alone, in hand: the new log is this one record, with
            // no need to read the old log back (which, after a snapshot of a large state,
            // holds about as many bytes as the snapshot).
            let mut bytes = record::LOG_MAGIC.to_vec();
            record::encode(
                Record::Whole {
                    snapshot: new,
                    state: raft_state,
                },
                &mut bytes,
            );
            self.replace_log(&bytes)?;
        }
        Ok(())
    }

    /// Whether the log has grown past [`COMPACT_FACTOR`] times the state.
    fn compaction_due(&self) -> bool {
        self.log_len > (COMPACT_FACTOR * self.state_len).max(COMPACT_MIN)
    }

    /// Replaces the log with `bytes`, atomically.
    fn replace_log(&mut self, bytes: &[u8]) -> io::Result<()> {
        write_atomically(&self.dir, LOG_FILE, bytes, &mut self.faults)?;
        self.log = OpenOptions::new()
            .append(true)
            .open(self.dir.join(LOG_FILE))?;
        self.log_len = bytes.len() as u64;
        Ok(())
    }

    /// Rewrites the log as the two records that give its state, once it has grown past
    /// [`COMPACT_FACTOR`] times the state: a whole record naming the snapshot, with an empty
    /// state, and the head and body as parts (keeping the split the persister's next save
    /// counts on). The state comes from the log itself, so it is exactly what a reopen would
    /// find.
    fn compact_if_due(&mut self) -> io::Result<()> {
        if !self.compaction_due() {
            return Ok(());
        }
        let path = self.dir.join(LOG_FILE);
        let replayed =
            record::replay(&fs::read(&path)?).map_err(|what| io::Error::other(what.clone()))?;
        let mut bytes = record::LOG_MAGIC.to_vec();
        record::encode(
            Record::Whole {
                snapshot: replayed.snapshot,
                state: &[],
            },
            &mut bytes,
        );
        record::encode(
            Record::Parts {
                keep: 0,
                head: &replayed.head,
                tail: &replayed.body,
            },
            &mut bytes,
        );
        self.replace_log(&bytes)
    }
}

impl Journal for DiskJournal {
    fn save(&mut self, raft_state: &[u8], snapshot: &[u8]) -> io::Result<()> {
        let new = if snapshot.is_empty() {
            0
        } else {
            let new = self.snapshot + 1;
            let bytes = record::encode_snapshot(snapshot);
            write_atomically(&self.dir, &snapshot_name(new), &bytes, &mut self.faults)?;
            new
        };
        self.commit_snapshot(raft_state, new, snapshot.len() as u64)
    }

    fn create_snapshot(&mut self) -> io::Result<Box<dyn SnapshotFile>> {
        self.new_files += 1;
        let path = self.dir.join(format!("new-{:06}.snap.tmp", self.new_files));
        let mut file = File::create(&path)?;
        // The header is written last, once the length and checksum are known.
        file.write_all(&[0; record::SNAPSHOT_HEADER])?;
        Ok(Box::new(NewSnapshotFile {
            file: io::BufWriter::with_capacity(1 << 20, file),
            path: Some(path),
            len: 0,
            unsynced: 0,
            hasher: crc32fast::Hasher::new(),
        }))
    }

    fn save_with_snapshot_file(&mut self, raft_state: &[u8], path: &Path) -> io::Result<()> {
        let len = fs::metadata(path)?.len() - record::SNAPSHOT_HEADER as u64;
        let new = self.snapshot + 1;
        self.faults.step()?;
        fs::rename(path, self.dir.join(snapshot_name(new)))?;
        self.faults.step()?;
        File::open(&self.dir)?.sync_all()?;
        self.commit_snapshot(raft_state, new, len)
    }

    fn read_raft_state(&self) -> io::Result<Restored> {
        let path = self.dir.join(LOG_FILE);
        let replayed =
            record::replay(&fs::read(&path)?).map_err(|what| io::Error::other(what.clone()))?;
        Ok(Restored {
            head: replayed.head,
            body: replayed.body,
        })
    }

    fn snapshot(&self) -> Option<SnapshotLocation> {
        (self.snapshot != 0).then(|| SnapshotLocation {
            path: self.dir.join(snapshot_name(self.snapshot)),
            offset: record::SNAPSHOT_HEADER as u64,
            len: self.snapshot_len,
        })
    }

    fn save_raft_state_in_parts(
        &mut self,
        head: &[u8],
        keep: usize,
        tail: &[u8],
    ) -> io::Result<()> {
        self.append(Record::Parts {
            keep: keep as u64,
            head,
            tail,
        })?;
        self.state_len = (head.len() + keep + tail.len()) as u64;
        self.compact_if_due()
    }

    fn location(&self) -> String {
        self.dir.display().to_string()
    }
}

/// A snapshot file being written a piece at a time ([`Journal::create_snapshot`]): its data
/// after room for the header, which [`SnapshotFile::finish`] fills in before syncing it.
/// Dropped unfinished, the file is removed.
struct NewSnapshotFile {
    file: io::BufWriter<File>,
    /// `None` once finished.
    path: Option<PathBuf>,
    len: u64,
    /// Bytes written since the last sync ([`SNAPSHOT_SYNC_BYTES`]).
    unsynced: u64,
    hasher: crc32fast::Hasher,
}

impl Write for NewSnapshotFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        self.unsynced += n as u64;
        if self.unsynced >= SNAPSHOT_SYNC_BYTES {
            self.file.flush()?;
            self.file.get_ref().sync_data()?;
            self.unsynced = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl SnapshotFile for NewSnapshotFile {
    fn finish(mut self: Box<Self>) -> io::Result<PathBuf> {
        let crc = std::mem::take(&mut self.hasher).finalize();
        let header = record::snapshot_header(self.len, crc);
        self.file.flush()?;
        let file = self.file.get_mut();
        file.seek(io::SeekFrom::Start(0))?;
        file.write_all(&header)?;
        file.sync_all()?;
        self.path
            .take()
            .ok_or_else(|| io::Error::other("a snapshot file finished twice"))
    }
}

impl Drop for NewSnapshotFile {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = fs::remove_file(path);
        }
    }
}

fn snapshot_name(n: u64) -> String {
    format!("snapshot-{n:020}.snap")
}

/// Writes `name` in `dir` so that a crash leaves the old file or the new one, never a mix:
/// a temporary file, `fsync`, `rename` over `name`, `fsync` of the directory.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8], faults: &mut Faults) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&tmp)?;
    faults.write(&mut file, bytes)?;
    faults.step()?;
    file.sync_all()?;
    faults.step()?;
    fs::rename(&tmp, dir.join(name))?;
    faults.step()?;
    File::open(dir)?.sync_all()
}

/// Removes what crashes leave behind: temporary files, and snapshot files other than the
/// current one (a newer one whose state record was never written, an older one not yet
/// removed).
fn remove_strays(dir: &Path, current: u64) -> Result<(), Error> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, "cannot list", e))?;
    let keep = snapshot_name(current);
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, "cannot list", e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let stray = name.ends_with(".tmp")
            || (name.starts_with("snapshot-") && name.ends_with(".snap") && name != keep);
        if stray {
            let path = entry.path();
            log::info!("{}: left by a crash; removed", path.display());
            fs::remove_file(&path).map_err(|e| Error::io(&path, "cannot remove", e))?;
        }
    }
    Ok(())
}

/// Crash injection for the tests: after `crash_after` more steps (each write, sync, rename and
/// removal is one), the next step fails, and a write that fails writes only half its bytes
/// first, as a crash in the middle of it would. Outside the tests, no step fails.
#[derive(Debug, Default)]
struct Faults {
    crash_after: Option<usize>,
}

impl Faults {
    fn step(&mut self) -> io::Result<()> {
        match &mut self.crash_after {
            Some(0) => Err(io::Error::other("injected crash")),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn write(&mut self, file: &mut File, bytes: &[u8]) -> io::Result<()> {
        if self.crash_after == Some(0) {
            file.write_all(&bytes[..bytes.len() / 2])?;
        }
        self.step()?;
        file.write_all(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("storage-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    /// A state as head and body, and the snapshot: what the journal must give back.
    type Image = (Vec<u8>, Vec<u8>, Vec<u8>);

    fn image(restored: &Restored, journal: &DiskJournal) -> Image {
        (
            restored.head.clone(),
            restored.body.clone(),
            snapshot_of(journal),
        )
    }

    /// The snapshot `journal` holds, read from its file.
    fn snapshot_of(journal: &DiskJournal) -> Vec<u8> {
        let Some(at) = journal.snapshot() else {
            return Vec::new();
        };
        let file = fs::read(&at.path).unwrap();
        let from = at.offset as usize;
        file[from..from + at.len as usize].to_vec()
    }

    /// One save of the script below and the image after it.
    enum Save {
        Whole(&'static [u8], &'static [u8]),
        Parts(&'static [u8], usize, &'static [u8]),
        /// A save with a snapshot written a piece at a time (two pieces) beforehand.
        Written(&'static [u8], &'static [u8]),
    }

    const SCRIPT: &[Save] = &[
        Save::Parts(b"h0", 0, b"entry1"),
        Save::Parts(b"h1", 6, b"entry2"),
        Save::Whole(b"state-a", b"snapshot-1"),
        Save::Parts(b"h2", 0, b"entry3"),
        Save::Parts(b"h3", 3, b"e4"),
        Save::Whole(b"state-b", b"snapshot-2"),
        Save::Written(b"state-w", b"written-snapshot"),
        Save::Parts(b"h5", 0, b"entry6"),
        Save::Whole(b"state-c", b""),
        Save::Parts(b"h4", 0, b"entry5"),
    ];

    /// Makes `save` on `journal`, and changes `image` to what the journal must hold after it
    /// (whether or not the save failed).
    fn apply(save: &Save, journal: &mut DiskJournal, image: &mut Image) -> io::Result<()> {
        match *save {
            Save::Whole(state, snapshot) => {
                *image = (state.to_vec(), Vec::new(), snapshot.to_vec());
                journal.save(state, snapshot)
            }
            Save::Parts(head, keep, tail) => {
                image.0 = head.to_vec();
                image.1.truncate(keep);
                image.1.extend_from_slice(tail);
                journal.save_raft_state_in_parts(head, keep, tail)
            }
            Save::Written(state, snapshot) => {
                *image = (state.to_vec(), Vec::new(), snapshot.to_vec());
                let mut file = journal.create_snapshot()?;
                let (first, second) = snapshot.split_at(snapshot.len() / 2);
                file.write_all(first)?;
                file.write_all(second)?;
                let path = file.finish()?;
                journal.save_with_snapshot_file(state, &path)
            }
        }
    }

    #[test]
    fn saves_survive_reopening() {
        let dir = tempdir("reopen");
        let (restored, mut journal) = DiskJournal::open(&dir).unwrap();
        assert_eq!(
            restored,
            Restored::default(),
            "a new directory is a fresh peer"
        );
        let mut expected = Image::default();
        for (i, save) in SCRIPT.iter().enumerate() {
            apply(save, &mut journal, &mut expected).unwrap();
            let read_back = journal.read_raft_state().unwrap();
            assert_eq!(
                (read_back.head, read_back.body),
                (expected.0.clone(), expected.1.clone()),
                "read back after save {i}"
            );
            drop(journal);
            let (restored, reopened) = DiskJournal::open(&dir).unwrap();
            assert_eq!(image(&restored, &reopened), expected, "after save {i}");
            journal = reopened;
        }
        drop(journal);
        let names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "only the log and the lock file: {names:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A crash at every step of every save: reopening finds the state before that save or
    /// after it, never anything else, and the journal goes on from there.
    #[test]
    fn a_crash_at_any_step_leaves_the_save_wholly_there_or_not_at_all() {
        let dir = tempdir("crash");
        let mut crashes = 0;
        for crash_after in 0.. {
            let _ = fs::remove_dir_all(&dir);
            let (_, journal) = DiskJournal::open(&dir).unwrap();
            drop(journal);
            let faults = Faults {
                crash_after: Some(crash_after),
            };
            let (_, mut journal) = DiskJournal::open_with(&dir, faults).unwrap();
            let mut before = Image::default();
            let mut crashed_in = None;
            for (i, save) in SCRIPT.iter().enumerate() {
                let mut after = before.clone();
                if apply(save, &mut journal, &mut after).is_err() {
                    crashed_in = Some((i, after));
                    break;
                }
                before = after;
            }
            drop(journal);
            let Some((i, after)) = crashed_in else {
                break; // past the last step of the script: every step has crashed once
            };
            crashes += 1;
            let (restored, mut journal) = DiskJournal::open(&dir)
                .unwrap_or_else(|e| panic!("crash after {crash_after} steps, in save {i}: {e}"));
            let found = image(&restored, &journal);
            assert!(
                found == before || found == after,
                "crash after {crash_after} steps, in save {i}: found {found:?}"
            );
            // And the journal works on from what it found.
            let mut next = found;
            apply(&SCRIPT[0], &mut journal, &mut next).unwrap();
            drop(journal);
            let (restored, journal) = DiskJournal::open(&dir).unwrap();
            assert_eq!(image(&restored, &journal), next);
        }
        assert!(crashes > SCRIPT.len(), "every save had a step to crash in");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_log_is_compacted_and_keeps_the_split() {
        let dir = tempdir("compact");
        let (_, mut journal) = DiskJournal::open(&dir).unwrap();
        journal.save(b"s", b"snap").unwrap();
        let mut expected: Image = (b"s".to_vec(), Vec::new(), b"snap".to_vec());
        let entry = [7u8; 1000];
        for i in 0..3000 {
            let keep = expected
                .1
                .len()
                .saturating_sub(if i % 10 == 0 { 500 } else { 0 });
            journal
                .save_raft_state_in_parts(b"head", keep, &entry)
                .unwrap();
            expected.0 = b"head".to_vec();
            expected.1.truncate(keep);
            expected.1.extend_from_slice(&entry);
        }
        assert!(
            journal.log_len < (COMPACT_FACTOR * journal.state_len).max(COMPACT_MIN) + 2000,
            "compacted: {} bytes of log for {} of state",
            journal.log_len,
            journal.state_len
        );
        drop(journal);
        let (restored, mut journal) = DiskJournal::open(&dir).unwrap();
        assert_eq!(image(&restored, &journal), expected);
        // The persister's next save keeps a prefix of the body it knows.
        journal.save_raft_state_in_parts(b"h", 1000, b"z").unwrap();
        drop(journal);
        let (restored, _) = DiskJournal::open(&dir).unwrap();
        assert_eq!(restored.body.len(), 1001);
        assert_eq!(restored.body[1000], b'z');
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A save with a new snapshot that tips the log over the limit: the compacted log names
    /// the new snapshot, not the one the save removed.
    #[test]
    fn a_compaction_during_a_snapshot_save_keeps_the_new_snapshot() {
        let dir = tempdir("compact-snapshot");
        let (_, mut journal) = DiskJournal::open(&dir).unwrap();
        journal.save(b"s", b"old snapshot").unwrap();
        let head = [1u8; 10_000];
        while journal.log_len + 20_000 < COMPACT_MIN {
            journal.save_raft_state_in_parts(&head, 0, &[]).unwrap();
        }
        let state = [2u8; 30_000];
        journal.save(&state, b"new snapshot").unwrap();
        assert!(journal.log_len < COMPACT_MIN, "the save compacted the log");
        drop(journal);
        let (restored, journal) = DiskJournal::open(&dir).unwrap();
        assert_eq!(snapshot_of(&journal), b"new snapshot");
        assert_eq!(restored.head, state);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A snapshot larger than [`SNAPSHOT_SYNC_BYTES`], written in pieces that cross its
    /// boundaries, is synced as it goes and reads back whole.
    #[test]
    fn a_large_snapshot_is_written_in_synced_stretches() {
        let dir = tempdir("large-snapshot");
        let (_, mut journal) = DiskJournal::open(&dir).unwrap();
        let piece: Vec<u8> = (0..=250u8).cycle().take(3 << 20).collect();
        let mut file = journal.create_snapshot().unwrap();
        let pieces = (SNAPSHOT_SYNC_BYTES * 5 / 2) / piece.len() as u64 + 1;
        for _ in 0..pieces {
            file.write_all(&piece).unwrap();
        }
        let path = file.finish().unwrap();
        journal.save_with_snapshot_file(b"state", &path).unwrap();
        drop(journal);
        let (_, journal) = DiskJournal::open(&dir).unwrap();
        let snapshot = snapshot_of(&journal);
        assert_eq!(snapshot.len() as u64, pieces * piece.len() as u64);
        assert!(snapshot.chunks(piece.len()).all(|c| c == piece.as_slice()));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn damage_is_refused_with_the_file_named() {
        let dir = tempdir("damage");
        let (_, mut journal) = DiskJournal::open(&dir).unwrap();
        journal.save(b"state", b"snapshot").unwrap();
        journal.save_raft_state_in_parts(b"h", 0, b"body").unwrap();
        drop(journal);
        let log_path = dir.join(LOG_FILE);
        let good = fs::read(&log_path).unwrap();

        // A flipped byte in the first record, with another after it.
        let mut bad = good.clone();
        bad[record::LOG_MAGIC.len() + 10] ^= 1;
        fs::write(&log_path, &bad).unwrap();
        let err = DiskJournal::open(&dir).err().expect("corrupt log refused");
        assert_eq!(err.path(), log_path);
        assert!(err.to_string().contains("fails its checksum"), "{err}");
        assert_eq!(fs::read(&log_path).unwrap(), bad, "nothing changed");

        // The snapshot file damaged, then missing.
        fs::write(&log_path, &good).unwrap();
        let snap = dir.join(snapshot_name(1));
        let mut file = fs::read(&snap).unwrap();
        *file.last_mut().unwrap() ^= 1;
        fs::write(&snap, &file).unwrap();
        let err = DiskJournal::open(&dir)
            .err()
            .expect("damaged snapshot refused");
        assert_eq!(err.path(), snap);
        fs::remove_file(&snap).unwrap();
        let err = DiskJournal::open(&dir)
            .err()
            .expect("missing snapshot refused");
        assert!(
            err.to_string()
                .contains("snapshot-00000000000000000001.snap"),
            "{err}"
        );

        // Not a log at all.
        fs::write(&log_path, b"hello").unwrap();
        let err = DiskJournal::open(&dir).err().expect("garbage refused");
        assert!(err.to_string().contains("not a Raft state log"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_is_opened_by_one_journal_at_a_time() {
        let dir = tempdir("lock");
        let (_, journal) = DiskJournal::open(&dir).unwrap();
        let err = DiskJournal::open(&dir).err().expect("second open refused");
        assert!(
            err.to_string().contains("in use by another process"),
            "{err}"
        );
        drop(journal);
        assert!(DiskJournal::open(&dir).is_ok(), "free again once closed");
        fs::remove_dir_all(&dir).unwrap();
    }
}
