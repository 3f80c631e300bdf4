//! Beyond the lab: snapshots whose cost the reader does not pay ([`Options::background_snapshots`]),
//! and when to take them as the state grows ([`Options::snapshot_growth`]).
//!
//! The lab's reader encodes the whole state machine, under the layer's lock, each time a
//! snapshot is due: while it does, nothing is applied and no handler hears back, and with a
//! gigabyte of state that is seconds. Here the reader only clones the state machine at the
//! snapshot's index (a persistent map makes that cheap: kvraft's `KvStore`) and hands the copy
//! to a writer thread, then goes on applying. The writer encodes the copy straight into a new
//! snapshot in the persister ([`raft::Persister::begin_snapshot`]: with a disk journal, a file,
//! checksummed and synced), a piece at a time, and hands it to Raft
//! ([`raft::Raft::snapshot_written`]), which compacts its log through the snapshot's index. The
//! entries applied meanwhile stay in the log after it. One snapshot is written at a time: a
//! snapshot that falls due while the last is being written waits for the next entry after it.
//!
//! [`Options::background_snapshots`]: crate::Options::background_snapshots
//! [`Options::snapshot_growth`]: crate::Options::snapshot_growth

use std::io::{self, BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use raft::{Persister, Raft};

use crate::logging::slog;
use crate::machine::StateMachine;

/// The snapshots a server has taken, for its metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Snapshots taken since the server started.
    pub taken: u64,
    /// The last one's size in bytes.
    pub last_bytes: u64,
    /// How long the last one took to encode and save.
    pub last_duration: Duration,
    /// Whether one is being written now.
    pub writing: bool,
}

/// Whether the Raft state has grown past `percent` percent of the last snapshot's size: the
/// Raft thesis' expansion factor (§5.1). Snapshotting only then keeps the bytes written for
/// snapshots within 100/`percent` times the bytes the log grew by, however large the state is;
/// at a fixed `maxraftstate`, each snapshot would write the whole state again for every
/// `maxraftstate` bytes of log.
pub fn has_grown(raft_state_size: usize, snapshot_size: usize, percent: u32) -> bool {
    raft_state_size as u128 * 100 >= snapshot_size as u128 * u128::from(percent)
}

/// A copy of the state machine after the entry at `index`, for the writer.
struct Capture<S> {
    index: u64,
    machine: S,
}

/// The writer thread and what the reader shares with it.
pub(crate) struct Background<S: StateMachine> {
    shared: Arc<Shared<S>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Shared<S> {
    /// The copy the writer is to write next; the reader puts it there (with the layer's lock
    /// held, so this lock nests inside that one and is never held the other way round).
    next: Mutex<Option<Capture<S>>>,
    /// Wakes the writer: a copy to write, or `stop`.
    wake: Condvar,
    /// Set while a snapshot is waiting or being written.
    busy: AtomicBool,
    /// Set by `stop`: a snapshot being written gives up at its next piece.
    stopping: AtomicBool,
    stats: Mutex<SnapshotStats>,
}

impl<S: StateMachine + Clone> Background<S> {
    /// Starts server `me`'s writer, which saves to `persister` and hands snapshots to `rf`.
    pub(crate) fn start(me: usize, rf: Raft, persister: Arc<Persister>) -> Background<S> {
        let shared = Arc::new(Shared {
            next: Mutex::new(None),
            wake: Condvar::new(),
            busy: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            stats: Mutex::new(SnapshotStats::default()),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            raft::spawn_aborting(format!("rsm{me}-snapshotter"), move || {
                loop {
                    let capture = {
                        let mut next = shared.next.lock();
                        loop {
                            if shared.stopping.load(Ordering::Acquire) {
                                return;
                            }
                            if let Some(capture) = next.take() {
                                break capture;
                            }
                            shared.wake.wait(&mut next);
                        }
                    };
                    write(me, &rf, &persister, &shared, capture);
                    shared.busy.store(false, Ordering::Release);
                }
            })
        };
        Background {
            shared,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Hands the writer a copy of `machine`, the state after the entry at `index`, unless it
    /// is still writing the last one. Called by the reader with the layer's lock held: the
    /// clone is the whole of its cost.
    pub(crate) fn offer(&self, index: u64, machine: &S) {
        if self.shared.busy.swap(true, Ordering::AcqRel) {
            return;
        }
        *self.shared.next.lock() = Some(Capture {
            index,
            machine: machine.clone(),
        });
        self.shared.wake.notify_one();
    }
}

impl<S: StateMachine> Background<S> {
    /// The snapshots taken so far.
    pub(crate) fn stats(&self) -> SnapshotStats {
        SnapshotStats {
            writing: self.shared.busy.load(Ordering::Acquire),
            ..*self.shared.stats.lock()
        }
    }

    /// Stops the writer: a snapshot being written is abandoned (its file removed), and the
    /// thread is joined. Calling it again does nothing.
    pub(crate) fn stop(&self) {
        {
            // Under the lock the writer checks `stopping` with, so the wake is not lost.
            let _next = self.shared.next.lock();
            self.shared.stopping.store(true, Ordering::Release);
        }
        self.shared.wake.notify_all();
        let thread = self.thread.lock().take();
        if let Some(thread) = thread {
            thread
                .join()
                .expect("the writer aborts the process if it panics");
        }
    }
}

/// Writes one snapshot and hands it to Raft; a failure is logged, and the next snapshot due
/// tries again.
fn write<S: StateMachine>(
    me: usize,
    rf: &Raft,
    persister: &Persister,
    shared: &Shared<S>,
    capture: Capture<S>,
) {
    let started = Instant::now();
    let index = capture.index;
    let saved = persister.begin_snapshot().and_then(|mut writer| {
        let mut out = BufWriter::with_capacity(
            1 << 16,
            UntilStopped {
                inner: &mut writer,
                stopping: &shared.stopping,
            },
        );
        labgob::encode_into(&mut out, &(index, &capture.machine))?;
        out.flush()?;
        drop(out);
        writer.finish()
    });
    drop(capture);
    let written = match saved {
        Ok(written) => written,
        Err(_) if shared.stopping.load(Ordering::Acquire) => return,
        Err(err) => {
            log::error!("S{me}: cannot write the snapshot at index {index}: {err}");
            return;
        }
    };
    let bytes = written.len();
    if rf.snapshot_written(index, written) {
        let took = started.elapsed();
        slog!(
            SSNP,
            me,
            0,
            "snapshot at index {index}, {bytes} bytes, written in the background in {took:?}"
        );
        let mut stats = shared.stats.lock();
        stats.taken += 1;
        stats.last_bytes = bytes;
        stats.last_duration = took;
    }
}

/// A writer that fails once the layer is stopping, so that a snapshot of gigabytes does not
/// hold up `kill`.
struct UntilStopped<'a, W> {
    inner: W,
    stopping: &'a AtomicBool,
}

impl<W: Write> Write for UntilStopped<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.stopping.load(Ordering::Acquire) {
            return Err(io::Error::other("the server is stopping"));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_must_outgrow_the_snapshot() {
        assert!(has_grown(0, 0, 100), "no snapshot yet");
        assert!(!has_grown(999, 1000, 100));
        assert!(has_grown(1000, 1000, 100));
        assert!(!has_grown(3999, 1000, 400), "LogCabin's factor of 4");
        assert!(has_grown(4000, 1000, 400));
        assert!(has_grown(500, 1000, 50));
        assert!(!has_grown(usize::MAX - 1, usize::MAX, 100), "no overflow");
    }
}
