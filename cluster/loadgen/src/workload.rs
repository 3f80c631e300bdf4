//! One measurement: the workload (clients, read/write mix, keys, values), the clients' loop
//! against a [`Store`], and what it yields ([`Outcome`]: throughput, latency quantiles, errors,
//! operations over time).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rand::RngExt;

/// The width of one bar of [`Outcome::timeline`].
pub const BUCKET: Duration = Duration::from_millis(100);

/// How a client picks its next key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyOrder {
    /// Uniformly at random among all keys.
    Random,
    /// Each client walks the keys in order from its own starting point.
    Sequential,
}

/// What the clients do, and for how long.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Concurrent clients, each one operation at a time, each with its own connections.
    pub clients: usize,
    /// How long operations are counted.
    pub duration: Duration,
    /// How long the clients run before counting starts.
    pub warmup: Duration,
    /// The share of operations that are reads, in percent; the rest are puts.
    pub read_percent: u32,
    /// How many distinct keys.
    pub keys: usize,
    /// The size of every value, in bytes.
    pub value_size: usize,
    /// How keys are picked.
    pub order: KeyOrder,
}

/// A key/value service as one client sees it. An error is one failed attempt: the driver counts
/// it and tries again, so a store that fails over (to another server) does so inside.
pub trait Store {
    /// Puts `value` at `key`.
    fn put(&mut self, key: &str, value: &str) -> Result<(), String>;
    /// Reads `key` (linearizably); the value is dropped.
    fn get(&mut self, key: &str) -> Result<(), String>;
}

impl<S: Store + ?Sized> Store for Box<S> {
    fn put(&mut self, key: &str, value: &str) -> Result<(), String> {
        (**self).put(key, value)
    }

    fn get(&mut self, key: &str) -> Result<(), String> {
        (**self).get(key)
    }
}

/// The name of key number `i`.
pub fn key(i: usize) -> String {
    format!("key-{i:06}")
}

/// With sequential keys, the key client `client` of `clients` uses for its `n`th operation: the
/// clients start spread evenly over the keys and each walks on from its start.
pub fn sequential_key(client: usize, clients: usize, keys: usize, n: usize) -> usize {
    (client * keys / clients.max(1) + n) % keys.max(1)
}

/// The `q`-quantile (0..=1) of `sorted` by the nearest-rank rule, or `None` if it is empty.
pub fn quantile(sorted: &[u32], q: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Each counted operation's latency, in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Failed attempts (each retried), over the counted time.
    pub errors: u64,
    /// The counted time.
    pub seconds: f64,
    /// Operations completed in each [`BUCKET`] of the counted time.
    pub timeline: Vec<u64>,
}

impl Outcome {
    /// Completed operations per second.
    pub fn throughput(&self) -> f64 {
        self.latencies_us.len() as f64 / self.seconds.max(f64::EPSILON)
    }

    /// The `q`-quantile of latency, in milliseconds (0 if nothing completed).
    pub fn latency_ms(&self, q: f64) -> f64 {
        quantile(&self.latencies_us, q).map_or(0.0, |us| f64::from(us) / 1000.0)
    }
}

/// One client's share of an [`Outcome`].
#[derive(Default)]
struct ClientRun {
    latencies_us: Vec<u32>,
    errors: u64,
    timeline: Vec<u64>,
}

/// A value of `size` random letters.
fn value(size: usize) -> String {
    let mut rng = rand::rng();
    (0..size)
        .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
        .collect()
}

/// Runs `workload` with one store per client from `store(client)`; `during`, if given, runs
/// on the calling thread once counting starts (to kill a server, say), with the time counting
/// started.
pub fn run<S: Store>(
    workload: &Workload,
    store: impl Fn(usize) -> S + Sync,
    during: Option<&mut dyn FnMut(Instant)>,
) -> Outcome {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let counted_from = start + workload.warmup;
    let end = counted_from + workload.duration;
    let runs: Vec<ClientRun> = thread::scope(|scope| {
        let clients: Vec<_> = (0..workload.clients)
            .map(|c| {
                let (stop, store) = (Arc::clone(&stop), &store);
                scope.spawn(move || client(workload, c, store(c), &stop, counted_from, end))
            })
            .collect();
        if let Some(during) = during {
            thread::sleep(counted_from.saturating_duration_since(Instant::now()));
            during(counted_from);
        }
        thread::sleep(end.saturating_duration_since(Instant::now()));
        stop.store(true, Ordering::Relaxed);
        clients
            .into_iter()
            .map(|c| c.join().unwrap_or_default())
            .collect()
    });
    let buckets = workload.duration.as_millis().div_ceil(BUCKET.as_millis()) as usize;
    let mut outcome = Outcome {
        seconds: workload.duration.as_secs_f64(),
        timeline: vec![0; buckets],
        ..Outcome::default()
    };
    for run in runs {
        outcome.latencies_us.extend(run.latencies_us);
        outcome.errors += run.errors;
        for (total, n) in outcome.timeline.iter_mut().zip(run.timeline) {
            *total += n;
        }
    }
    outcome.latencies_us.sort_unstable();
    outcome
}

/// Client `c`'s loop: one operation at a time until `stop`; an operation counts if it ends
/// between `counted_from` and `end`. A failed attempt is retried after a pause of 10 ms, so
/// that a client with no server to talk to does not spin.
fn client<S: Store>(
    workload: &Workload,
    c: usize,
    mut store: S,
    stop: &AtomicBool,
    counted_from: Instant,
    end: Instant,
) -> ClientRun {
    let mut rng = rand::rng();
    let value = value(workload.value_size);
    let mut run = ClientRun {
        timeline: vec![0; workload.duration.as_millis().div_ceil(BUCKET.as_millis()) as usize],
        ..ClientRun::default()
    };
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let k = match workload.order {
            KeyOrder::Random => rng.random_range(0..workload.keys.max(1)),
            KeyOrder::Sequential => sequential_key(c, workload.clients, workload.keys, n),
        };
        n += 1;
        let key = key(k);
        let read = rng.random_range(0..100) < workload.read_percent;
        let t0 = Instant::now();
        loop {
            let result = if read {
                store.get(&key)
            } else {
                store.put(&key, &value)
            };
            match result {
                Ok(()) => break,
                Err(_) if stop.load(Ordering::Relaxed) => return run,
                Err(_) => {
                    if Instant::now() >= counted_from {
                        run.errors += 1;
                    }
                    thread::sleep(Duration::from_millis(10));
                }
            }
        }
        let done = Instant::now();
        if done >= counted_from && done < end {
            run.latencies_us
                .push(u32::try_from((done - t0).as_micros()).unwrap_or(u32::MAX));
            let bucket = ((done - counted_from).as_millis() / BUCKET.as_millis()) as usize;
            if let Some(slot) = run.timeline.get_mut(bucket) {
                *slot += 1;
            }
        }
    }
    run
}

/// Puts every key once, `clients` at a time, before a workload that reads them.
pub fn preload<S: Store>(
    keys: usize,
    value_size: usize,
    clients: usize,
    store: impl Fn(usize) -> S + Sync,
) {
    let clients = clients.max(1);
    thread::scope(|scope| {
        for c in 0..clients {
            let store = &store;
            scope.spawn(move || {
                let mut store = store(c);
                let value = value(value_size);
                for k in (c..keys).step_by(clients) {
                    while store.put(&key(k), &value).is_err() {
                        thread::sleep(Duration::from_millis(10));
                    }
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn quantiles_by_nearest_rank() {
        let sorted: Vec<u32> = (1..=1000).collect();
        assert_eq!(quantile(&sorted, 0.5), Some(500));
        assert_eq!(quantile(&sorted, 0.99), Some(990));
        assert_eq!(quantile(&sorted, 0.999), Some(999));
        assert_eq!(quantile(&sorted, 1.0), Some(1000));
        assert_eq!(quantile(&sorted, 0.0), Some(1));
        assert_eq!(quantile(&[7], 0.999), Some(7));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn sequential_clients_start_spread_and_cover_every_key() {
        assert_eq!(sequential_key(0, 4, 100, 0), 0);
        assert_eq!(sequential_key(1, 4, 100, 0), 25);
        assert_eq!(sequential_key(3, 4, 100, 0), 75);
        assert_eq!(sequential_key(3, 4, 100, 30), 5);
        let seen: std::collections::HashSet<usize> =
            (0..100).map(|n| sequential_key(2, 4, 100, n)).collect();
        assert_eq!(seen.len(), 100);
    }

    /// A store in memory that fails every `fail_every`th attempt.
    struct Memory {
        data: HashMap<String, String>,
        attempts: u64,
        fail_every: u64,
    }

    impl Store for Memory {
        fn put(&mut self, key: &str, value: &str) -> Result<(), String> {
            self.attempts += 1;
            if self.fail_every > 0 && self.attempts.is_multiple_of(self.fail_every) {
                return Err("down".to_string());
            }
            self.data.insert(key.to_string(), value.to_string());
            Ok(())
        }

        fn get(&mut self, key: &str) -> Result<(), String> {
            self.attempts += 1;
            self.data.get(key).map(drop).ok_or(format!("no {key}"))
        }
    }

    #[test]
    fn a_run_counts_operations_retries_and_the_timeline() {
        let workload = Workload {
            clients: 2,
            duration: Duration::from_millis(300),
            warmup: Duration::from_millis(50),
            read_percent: 0,
            keys: 10,
            value_size: 100,
            order: KeyOrder::Sequential,
        };
        let outcome = run(
            &workload,
            |_| Memory {
                data: HashMap::new(),
                attempts: 0,
                fail_every: 1000,
            },
            None,
        );
        assert!(
            outcome.latencies_us.len() > 1000,
            "{}",
            outcome.latencies_us.len()
        );
        assert!(outcome.latencies_us.is_sorted());
        assert!(outcome.errors > 0);
        assert_eq!(outcome.timeline.len(), 3);
        assert_eq!(
            outcome.timeline.iter().sum::<u64>(),
            outcome.latencies_us.len() as u64
        );
        assert!((outcome.throughput() - outcome.latencies_us.len() as f64 / 0.3).abs() < 1e-6);
    }
}
