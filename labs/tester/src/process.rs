//! What a harness keeps for the whole test process: the lock that runs the tests one at a
//! time, the record of the test now running, and the two reporters that speak for a test that
//! cannot speak for itself (the panic hook and the watchdog).
//!
//! libtest runs the tests of a binary on several threads at once; Go runs them one by one, and
//! so do the lab's harnesses: [`serialise`] hands out a [`Turn`] that a harness's config (made
//! by its `make_config`) keeps until it is dropped, after its cleanup. A test's 120 s start once
//! it holds its turn, so time spent waiting for another test does not count.
//!
//! An ordinary failure (a panic on the test's own thread) is reported by the config's `Drop`:
//! the labrpc seed and the timeline's path, on stderr. A panic on any other thread (a Raft
//! thread, a labrpc handler, an applier, a clerk) usually aborts the process, and an abort
//! skips `Drop`; so the panic hook installed here writes the same report at once, for the
//! first such panic of each test (a thread the test spawns itself counts as another thread:
//! its panic is reported here, and again by `Drop` if it reaches the test's thread). The
//! watchdog does the same when a test runs past 120 s, then exits. Both write straight to the
//! process's stderr: libtest captures `eprintln!`, and the capture dies with the process.

use std::io::Write as _;
use std::sync::{Arc, Once};
use std::thread::{self, ThreadId};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use parking_lot::{Condvar, Mutex};

use crate::timeline::Timeline;

/// Whether a test holds its [`Turn`]; [`FREE`] is notified when it gives it back.
static BUSY: Mutex<bool> = Mutex::new(false);
static FREE: Condvar = Condvar::new();

/// The running test's turn: no other test of the process starts until it is dropped. Unlike a
/// mutex guard it may move to another thread (a harness keeps it in its config).
pub struct Turn {
    _private: (),
}

impl Drop for Turn {
    fn drop(&mut self) {
        *BUSY.lock() = false;
        FREE.notify_one();
    }
}

/// The test now running, if any (there is at most one, see [`Turn`]).
static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

/// What a report needs to know about the running test.
struct Running {
    test: String,
    /// The test's own thread: its panics are reported by its config's `Drop`.
    thread: ThreadId,
    seed: u64,
    timeline: Arc<Timeline>,
    /// Whether the panic hook has reported on this test already.
    reported: bool,
}

/// Waits until no other test runs, and installs the panic hook (once per process). The test
/// runs while the caller holds the [`Turn`].
pub fn serialise() -> Turn {
    let mut busy = BUSY.lock();
    while *busy {
        FREE.wait(&mut busy);
    }
    *busy = true;
    drop(busy);
    static HOOK: Once = Once::new();
    HOOK.call_once(install_panic_hook);
    Turn { _private: () }
}

/// Records the calling thread's test as the one running, for the panic hook: `seed` is its
/// network's (`labrpc::Network::seed`), `timeline` the one its report writes.
pub fn register(seed: u64, timeline: Arc<Timeline>) {
    *RUNNING.lock() = Some(Running {
        test: test_name(),
        thread: thread::current().id(),
        seed,
        timeline,
        reported: false,
    });
}

/// The running test has ended: the panic hook no longer reports on it.
pub fn unregister() {
    RUNNING.lock().take();
}

/// The calling thread's test, as libtest names its threads (`test` outside libtest).
pub fn test_name() -> String {
    thread::current().name().unwrap_or("test").to_string()
}

/// Writes the report of a failed test straight to stderr: a headline, the labrpc seed, and the
/// timeline (written now, with `outcome` as its title).
fn report(headline: &str, test: &str, seed: u64, timeline: &Timeline, outcome: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{headline}");
    let _ = writeln!(err, "labrpc seed: {seed} (rerun with LABRPC_SEED={seed})");
    match timeline.write(test, outcome) {
        Ok(path) => {
            let _ = writeln!(err, "timeline: {}", path.display());
        }
        Err(e) => {
            let _ = writeln!(err, "timeline: cannot write it: {e}");
        }
    }
    let _ = err.flush();
}

/// Chains a hook to the one installed before: on the first panic of a test outside its own
/// thread, it reports the test, the panic, the seed and the timeline.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        let running = {
            let mut running = RUNNING.lock();
            match running.as_mut() {
                Some(r) if r.thread != thread::current().id() && !r.reported => {
                    r.reported = true;
                    Some((r.test.clone(), r.seed, Arc::clone(&r.timeline)))
                }
                _ => None,
            }
        };
        let Some((test, seed, timeline)) = running else {
            return;
        };
        let thread = thread::current();
        let name = thread.name().unwrap_or("unnamed");
        let at = info
            .location()
            .map(|l| format!(" at {l}"))
            .unwrap_or_default();
        let message = info
            .payload_as_str()
            .unwrap_or("(a panic without a message)");
        let headline = format!("{test}: thread '{name}' panicked{at}: {message}");
        report(
            &headline,
            &test,
            seed,
            &timeline,
            "FAILED (a thread panicked)",
        );
    }));
}

/// Ends the process if the test runs past `limit` (Go's 120 s): a hung test must not hang CI.
/// It stops waiting when `stop`'s sender is dropped.
pub fn spawn_watchdog(stop: Receiver<()>, limit: Duration, seed: u64, timeline: Arc<Timeline>) {
    let test = test_name();
    thread::Builder::new()
        .name("test-watchdog".into())
        .spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(limit) {
                let headline = format!("{test}: test took longer than {} seconds", limit.as_secs());
                // Whatever happens while drawing the timeline, the process must still exit.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    report(&headline, &test, seed, &timeline, "TIMED OUT")
                }));
                std::process::exit(1);
            }
        })
        .expect("spawn the watchdog");
}
