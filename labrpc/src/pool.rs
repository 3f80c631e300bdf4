//! A cached pool of handler threads: Go's "one goroutine per request", without paying for a
//! thread spawn on every RPC.
//!
//! [`Pool::execute`] hands a job to an idle worker if there is one and otherwise starts a new
//! worker, so a handler that sleeps (or blocks on a lock for seconds) never delays another call.
//! A worker idle for [`IDLE_TIMEOUT`] exits; all of them exit once the pool is dropped.

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

/// How long a worker waits for work before it exits.
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce() + Send>;

/// A cached pool of threads; see the module doc.
pub struct Pool {
    jobs: Sender<Job>,
    queue: Receiver<Job>,
    /// Workers waiting for a job, minus the jobs already promised to them.
    idle: Arc<AtomicUsize>,
}

impl Default for Pool {
    fn default() -> Pool {
        Pool::new()
    }
}

impl Pool {
    /// A pool with no threads yet.
    pub fn new() -> Pool {
        let (jobs, queue) = crossbeam_channel::unbounded();
        Pool {
            jobs,
            queue,
            idle: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Runs `job` on a worker thread at once.
    pub fn execute(&self, job: impl FnOnce() + Send + 'static) {
        let job: Job = Box::new(job);
        // Claim an idle worker; it is then bound to take the next job off the queue.
        let claimed = self
            .idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if claimed {
            self.jobs
                .send(job)
                .expect("the pool holds its own queue open");
            return;
        }
        let queue = self.queue.clone();
        let idle = Arc::clone(&self.idle);
        thread::Builder::new()
            .name("labrpc-handler".to_string())
            .spawn(move || worker(job, queue, idle))
            .expect("labrpc: cannot spawn a handler thread");
    }
}

fn worker(first: Job, queue: Receiver<Job>, idle: Arc<AtomicUsize>) {
    first();
    loop {
        idle.fetch_add(1, Ordering::AcqRel);
        match queue.recv_timeout(IDLE_TIMEOUT) {
            Ok(job) => job(),
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                // Leave, unless every idle worker (this one included) has been promised a job:
                // then one is on its way and must be taken.
                let left = idle
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok();
                if left {
                    return;
                }
                match queue.recv() {
                    Ok(job) => job(),
                    Err(_) => return,
                }
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
            while pool.idle.load(Ordering::Acquire) == 0 {
                thread::yield_now();
            }
        }
        assert_eq!(
            pool.idle.load(Ordering::Acquire),
            1,
            "one worker served every job"
        );
    }
}
