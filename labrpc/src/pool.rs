//! A cached pool of handler threads: Go's "one goroutine per request", without paying for a
//! thread spawn on every RPC.
//!
//! [`Pool::execute`] hands a job to an idle worker if there is one and otherwise starts a new
//! worker, so a handler that sleeps (or blocks on a lock for seconds) never delays another call.
//! A worker idle for [`IDLE_TIMEOUT`] exits; all of them exit once the pool is dropped.

use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How long a worker waits for work before it exits.
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce() + Send>;

/// A mutex and a condvar rather than a channel: a crossbeam receiver spins and yields the CPU
/// several times before it sleeps, once per RPC here, which on two cores costs more than the
/// handler.
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<PoolState>,
    /// Wakes an idle worker: a job was queued, or the pool was dropped.
    work: Condvar,
}

#[derive(Default)]
struct PoolState {
    jobs: VecDeque<Job>,
    /// Workers waiting for a job (each queued job is promised to one of them).
    idle: usize,
    /// The pool was dropped: idle workers exit.
    closed: bool,
}

impl Pool {
    pub(crate) fn new() -> Pool {
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(PoolState::default()),
                work: Condvar::new(),
            }),
        }
    }

    /// Runs `job` on a worker thread at once: an idle one if some worker has no job promised
    /// to it yet, else a new one.
    pub(crate) fn execute(&self, job: impl FnOnce() + Send + 'static) {
        let job: Job = Box::new(job);
        let mut st = self.shared.state.lock();
        if st.idle > st.jobs.len() {
            st.jobs.push_back(job);
            drop(st);
            self.shared.work.notify_one();
            return;
        }
        drop(st);
        let shared = Arc::clone(&self.shared);
        thread::Builder::new()
            .name("labrpc-handler".to_string())
            .spawn(move || worker(job, &shared))
            .expect("labrpc: cannot spawn a handler thread");
    }

    #[cfg(test)]
    fn idle(&self) -> usize {
        self.shared.state.lock().idle
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.state.lock().closed = true;
        self.shared.work.notify_all();
    }
}

fn worker(first: Job, shared: &Shared) {
    first();
    let mut st = shared.state.lock();
    loop {
        st.idle += 1;
        let job = loop {
            if let Some(job) = st.jobs.pop_front() {
                break Some(job);
            }
            // Leave when idle too long, unless a job is on its way (then it is promised to
            // this worker, and the loop above takes it).
            let gave_up = st.closed || shared.work.wait_for(&mut st, IDLE_TIMEOUT).timed_out();
            if gave_up && st.jobs.is_empty() {
                break None;
            }
        };
        st.idle -= 1;
        let Some(job) = job else { return };
        drop(st);
        job();
        st = shared.state.lock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[test]
    fn blocked_jobs_do_not_block_others() {
        let pool = Pool::new();
        let barrier = Arc::new(Barrier::new(9));
        // Eight jobs that only finish together: each must have its own thread.
        for _ in 0..8 {
            let barrier = Arc::clone(&barrier);
            pool.execute(move || {
                barrier.wait();
            });
        }
        barrier.wait();
    }

    #[test]
    fn idle_workers_are_reused() {
        let pool = Pool::new();
        let (tx, rx) = crossbeam_channel::unbounded();
        for i in 0..100 {
            let tx = tx.clone();
            pool.execute(move || tx.send(i).expect("receiver alive"));
            assert_eq!(rx.recv().expect("job ran"), i);
            // Let the worker get back to waiting before the next job is handed out.
            while pool.idle() == 0 {
                thread::yield_now();
            }
        }
        assert_eq!(pool.idle(), 1, "one worker served every job");
    }
}
