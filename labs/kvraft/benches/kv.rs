//! Figures for lab 4's section of `docs/performance.md`: how fast the key/value service
//! answers its clerks on a reliable labrpc network. Run with `cargo bench -p kvraft --bench kv`
//! (a release build).
//!
//! 1. Speed, as Go's speed test measures it: one clerk on 3 servers waits for its first `Get`
//!    (a leader is elected), then times 1,000 sequential `Append`s to one key; the figure is
//!    milliseconds per operation. Go's test fails above 33.3 ms/op (a third of a 100 ms
//!    heartbeat: operations must not wait for the next heartbeat to commit).
//! 2. Throughput: 1, 8 and 32 clerks on 3 and 5 servers, each clerk `Put`ting to its own key in
//!    a loop for [`RUN_FOR`]; the figures are operations per second over all clerks, the mean
//!    and 99th-percentile latency of one operation, and labrpc calls per operation.
//!
//! Every configuration gets a fresh cluster (no snapshots: `maxraftstate` is `None`, as in
//! Go's speed test), so the log one run leaves behind does not slow the next. Servers are
//! wired as the tests wire them: server `i` is labrpc server `"i"` serving both its
//! `KVServer` and its `Raft` service; every server and clerk calls through ends of its own.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kvraft::{Clerk, KvServer};
use labrpc::{Network, Server};
use raft::Persister;

/// How long each throughput configuration runs.
const RUN_FOR: Duration = Duration::from_secs(3);
/// Operations in the speed measurement (Go's `numOps`).
const SPEED_OPS: u32 = 1000;
/// Go's speed bound: a third of a 100 ms heartbeat per operation.
const GO_BOUND_MS: f64 = 100.0 / 3.0;

/// `n` key/value servers on a reliable network, all connected.
struct Cluster {
    net: Network,
    servers: Vec<KvServer>,
}

impl Cluster {
    fn new(n: usize) -> Cluster {
        let net = Network::new();
        let servers = (0..n)
            .map(|i| {
                let names: Vec<String> = (0..n).map(|j| format!("server{i}->{j}")).collect();
                let ends = labcluster::connect_ends(&net, &names);
                names.iter().for_each(|name| net.enable(name, true));
                let kv = KvServer::start(ends, i, Arc::new(Persister::new()), None);
                let server = Server::new();
                server.add_service(kv.service());
                server.add_service(kv.raft().service());
                net.add_server(&i.to_string(), server);
                kv
            })
            .collect();
        Cluster { net, servers }
    }

    /// Clerk number `k`, with ends of its own to every server, enabled.
    fn clerk(&self, k: usize) -> Clerk {
        let names: Vec<String> = (0..self.servers.len())
            .map(|j| format!("clerk{k}->{j}"))
            .collect();
        let ends = labcluster::connect_ends(&self.net, &names);
        names.iter().for_each(|name| self.net.enable(name, true));
        Clerk::new(ends)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.servers.iter().for_each(KvServer::kill);
        self.net.cleanup();
    }
}

/// Milliseconds in `d`, as a float.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Part 1: milliseconds per `Append` of one clerk doing [`SPEED_OPS`] of them in a row.
fn speed() -> f64 {
    let cluster = Cluster::new(3);
    let mut ck = cluster.clerk(0);
    // Wait until the first operation completes, so a leader is elected.
    ck.get("x");
    let start = Instant::now();
    for i in 0..SPEED_OPS {
        ck.append("k", &format!("{i} "));
    }
    let per_op = ms(start.elapsed()) / f64::from(SPEED_OPS);
    let expected = (0..SPEED_OPS).map(|i| format!("{i} ")).collect::<String>();
    assert_eq!(
        ck.get("k"),
        expected,
        "the appends are all there, once, in order"
    );
    per_op
}

/// What one throughput configuration measured.
struct Throughput {
    ops_per_sec: f64,
    mean_ms: f64,
    p99_ms: f64,
    rpcs_per_op: f64,
}

/// Part 2: `clerks` clerks on `n` servers, each putting to its own key for [`RUN_FOR`].
fn throughput(n: usize, clerks: usize) -> Throughput {
    let cluster = Cluster::new(n);
    let mut cks: Vec<Clerk> = (0..clerks).map(|k| cluster.clerk(k)).collect();
    // Every clerk finds the leader before the clock starts.
    for (c, ck) in cks.iter_mut().enumerate() {
        ck.put(&format!("key{c}"), "");
    }
    let rpcs0 = cluster.net.get_total_count();
    let start = Instant::now();
    let deadline = start + RUN_FOR;
    let mut latencies: Vec<Duration> = thread::scope(|s| {
        let handles: Vec<_> = cks
            .iter_mut()
            .enumerate()
            .map(|(c, ck)| {
                s.spawn(move || {
                    let key = format!("key{c}");
                    let mut latencies = Vec::new();
                    let mut i = 0u64;
                    while Instant::now() < deadline {
                        let t0 = Instant::now();
                        ck.put(&key, &i.to_string());
                        latencies.push(t0.elapsed());
                        i += 1;
                    }
                    latencies
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a clerk thread panicked"))
            .collect()
    });
    let elapsed = start.elapsed();
    let rpcs = cluster.net.get_total_count() - rpcs0;
    latencies.sort();
    let ops = latencies.len();
    let total: Duration = latencies.iter().sum();
    Throughput {
        ops_per_sec: ops as f64 / elapsed.as_secs_f64(),
        mean_ms: ms(total) / ops as f64,
        p99_ms: ms(latencies[(ops - 1) * 99 / 100]),
        rpcs_per_op: rpcs as f64 / ops as f64,
    }
}

fn main() {
    println!("kvraft on a reliable labrpc network, no snapshots");
    println!();
    let per_op = speed();
    println!(
        "speed: 1 clerk, {SPEED_OPS} sequential Appends on 3 servers: {per_op:.2} ms/op \
         (Go's bound {GO_BOUND_MS:.1} ms/op)"
    );
    println!();
    println!(
        "throughput: each clerk Puts to its own key for {} s",
        RUN_FOR.as_secs()
    );
    println!("servers  clerks      ops/s  mean ms   p99 ms  RPCs/op");
    for n in [3, 5] {
        for clerks in [1, 8, 32] {
            let t = throughput(n, clerks);
            println!(
                "{n:>7}  {clerks:>6}  {:>9.0}  {:>7.2}  {:>7.2}  {:>7.1}",
                t.ops_per_sec, t.mean_ms, t.p99_ms, t.rpcs_per_op
            );
        }
    }
}
