//! Agreement throughput and latency (PartB), and the cost of persisting (PartC), on a reliable
//! labrpc network. Run with `cargo bench --bench agreement`.
//!
//! For 3 and 5 peers: one client calling `start` back to back, waiting for each command to be
//! applied on the leader before the next; then 8 clients doing the same concurrently. Reports
//! commits per second and the median and p99 latency from `start` to the leader's `apply_ch`.
//! Then the cost of `start` on a one-peer cluster, where it is an append and a `persist_locked`
//! (which saves the header and the new entry, whatever the log's length), for logs of 100,
//! 1,000 and 10,000 entries of 100 bytes: the median of 200 calls, each timed from `start` to
//! its command on `apply_ch`. `cargo bench --bench agreement -- 5 3 2000` runs one shape
//! alone: 5 peers, 3 clients, 2,000 commands each.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use raft::ApplyMsg;

/// How far each peer has applied, with a condvar to wait for an index.
#[derive(Default)]
struct Applied {
    upto: Mutex<Vec<u64>>,
    cond: Condvar,
}

/// `labcluster`'s peers, all connected, each with a thread that notes how far it applied.
struct Cluster {
    peers: labcluster::Cluster,
    applied: Arc<Applied>,
}

impl Cluster {
    fn new(n: usize) -> Cluster {
        let peers = labcluster::Cluster::new(n);
        let applied = Arc::new(Applied::default());
        *applied.upto.lock() = vec![0; n];
        for me in 0..n {
            let started = peers.start(me);
            let applied = Arc::clone(&applied);
            thread::spawn(move || {
                for msg in started.apply_ch {
                    if let ApplyMsg::Command { index, .. } = msg {
                        applied.upto.lock()[me] = index;
                        applied.cond.notify_all();
                    }
                }
            });
        }
        (0..n).for_each(|i| peers.connect(i));
        Cluster { peers, applied }
    }

    fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some((leader, _, _)) = self.peers.leader() {
                return leader;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("no leader within 10 s");
    }

    /// Starts one command on `leader` and waits until the leader has applied it.
    fn agree(&self, leader: usize, command: Vec<u8>) -> Duration {
        let rf = self.peers.raft(leader).expect("the leader runs");
        let t0 = Instant::now();
        let (index, _, ok) = rf.start(command);
        assert!(ok, "the leader lost its leadership during the benchmark");
        let mut upto = self.applied.upto.lock();
        while upto[leader] < index {
            self.applied.cond.wait(&mut upto);
        }
        t0.elapsed()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(label: &str, latencies: &mut [Duration], elapsed: Duration) {
    latencies.sort_unstable();
    println!(
        "{label:<28} {:>9.0} commits/s   median {:>7.1} µs   p99 {:>7.1} µs",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(latencies, 0.5).as_secs_f64() * 1e6,
        percentile(latencies, 0.99).as_secs_f64() * 1e6,
    );
}

fn agreement(peers: usize, clients: usize, per_client: usize) {
    let cluster = Cluster::new(peers);
    let leader = cluster.leader();
    let t0 = Instant::now();
    let mut latencies: Vec<Duration> = thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|c| {
                let cluster = &cluster;
                scope.spawn(move || {
                    (0..per_client)
                        .map(|i| cluster.agree(leader, labgob::encode(&(c as u64, i as u64))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("client thread"))
            .collect()
    });
    let label = format!("{peers} peers, {clients} client(s)");
    report(&label, &mut latencies, t0.elapsed());
}

fn persist_cost() {
    for entries in [100usize, 1_000, 10_000] {
        let cluster = Cluster::new(1);
        cluster.leader();
        let command = vec![7u8; 100];
        for _ in 0..entries {
            cluster.agree(0, command.clone());
        }
        let mut micros: Vec<f64> = (0..200)
            .map(|_| {
                let t0 = Instant::now();
                cluster.agree(0, command.clone());
                t0.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        micros.sort_by(f64::total_cmp);
        println!(
            "start + persist, log of {entries:>6} entries: median {:>8.1} µs per call",
            micros[micros.len() / 2]
        );
    }
}

fn main() {
    // `cargo bench --bench agreement -- PEERS CLIENTS COMMANDS_PER_CLIENT` runs that one shape
    // (to time it, or to count its CPU and thread switches under `perf stat`). Cargo adds a
    // `--bench` flag of its own, skipped here.
    let shape: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .map(|arg| arg.parse().expect("PEERS CLIENTS COMMANDS: three numbers"))
        .collect();
    if let [peers, clients, per_client] = shape[..] {
        agreement(peers, clients, per_client);
        return;
    }
    println!("agreement on a reliable labrpc network (latency: start -> leader's apply_ch)");
    for peers in [3, 5] {
        agreement(peers, 1, 2_000);
        agreement(peers, 8, 500);
    }
    println!();
    println!("persist_locked cost: start() on a one-peer cluster, which saves the new entry");
    persist_cost();
}
