//! A cached pool of handler threads: Go's "one goroutine per request", without paying for a
//! thread spawn on every RPC.
//!
//! [`Pool::execute`] hands a job to an idle worker if there is one and otherwise starts a new
//! worker, so a handler that sleeps (or blocks on a lock for seconds) never delays another call.
//! A worker idle for [`IDLE_TIMEOUT`] exits; all of them exit once the pool is dropped.
//!
//! Idle workers wait on a condvar rather than a channel: a channel's receiver spins and yields
//! the processor a few times before it sleeps, and a worker almost never gets a job within that
//! spin, so each wait cost several context switches instead of one (perf on the churn tests:
//! a sixth of all their switches).

use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How long a worker waits for work before it exits.
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce() + Send>;

/// A cached pool of threads; see the module doc.
pub struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued or the pool is dropped.
    work: Condvar,
}

#[derive(Default)]
struct State {
    /// Jobs handed to idle workers and not yet taken. Never longer than `idle`: a job is only
    /// queued for a worker that is waiting.
    jobs: VecDeque<Job>,
    /// Workers waiting for a job.
    idle: usize,
    /// Set when the pool is dropped: every worker exits.
    closed: bool,
}

impl Default for Pool {
    fn default() -> Pool {
        Pool::new()
    }
}

impl Pool {
    /// A pool with no threads yet.
    pub fn new() -> Pool {
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
            }),
        }
    }

    /// Runs `job` on a worker thread at once.
    pub fn execute(&self, job: impl FnOnce() + Send + 'static) {
        let job: Job = Box::new(job);
        {
            let mut state = self.shared.state.lock();
            if state.idle > state.jobs.len() {
                state.jobs.push_back(job);
                drop(state);
                self.shared.work.notify_one();
                return;
            }
        }
        let shared = Arc::clone(&self.shared);
        thread::Builder::new()
            .name("labrpc-handler".to_string())
            .spawn(move || worker(job, &shared))
            .expect("labrpc: cannot spawn a handler thread");
    }
}

/// Every worker exits once its current job, if any, is done.
impl Drop for Pool {
    fn drop(&mut self) {
        let jobs = {
            let mut state = self.shared.state.lock();
            state.closed = true;
            std::mem::take(&mut state.jobs)
        };
        self.shared.work.notify_all();
        // Dropped outside the lock: a job's captures may take locks of their own.
        drop(jobs);
    }
}

fn worker(first: Job, shared: &Shared) {
    let mut job = first;
    loop {
        job();
        let mut state = shared.state.lock();
        state.idle += 1;
        loop {
            if state.closed {
                state.idle -= 1;
                return;
            }
            if let Some(next) = state.jobs.pop_front() {
                state.idle -= 1;
                job = next;
                break;
            }
            // Leave after a quiet spell. A job queued meanwhile was promised to a waiting
            // worker, so the queue is checked once more before leaving.
            if shared.work.wait_for(&mut state, IDLE_TIMEOUT).timed_out() && state.jobs.is_empty() {
                state.idle -= 1;
                return;
            }
        }
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
            while pool.shared.state.lock().idle == 0 {
                thread::yield_now();
            }
        }
        assert_eq!(
            pool.shared.state.lock().idle,
            1,
            "one worker served every job"
        );
    }
}
