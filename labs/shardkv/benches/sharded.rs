//! Figures for lab 5's section of `docs/performance.md`: does sharding scale on this machine?
//! Run with `cargo bench -p shardkv --bench sharded` (a release build).
//!
//! 8 and 32 clerks, each `Put`ting random keys (spread over the 10 shards) in a loop for
//! [`RUN_FOR`], against three services on a reliable labrpc network: one group of lab 4's
//! `kvraft` (3 servers), the sharded service with one group of 3, and the sharded service with
//! three groups of 3 (9 servers, each group serving 3 or 4 shards). The figures are operations
//! per second over all clerks, the mean and 99th-percentile latency of one operation, and the
//! process's CPU time per operation. No snapshots. Every configuration gets fresh servers.
//!
//! The servers of every group run in this one process, on the machine's cores: sharding adds
//! groups, not cores, so what it can win here is the time a group's log spends waiting (a
//! leader commits one batch at a time) rather than CPU.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use labrpc::{ClientEnd, Network, Server};
use raft::Persister;
use shardctrler::ShardCtrler;
use shardkv::{MakeEnd, ShardKv};

/// How long each configuration runs.
const RUN_FOR: Duration = Duration::from_secs(5);
/// Servers per group.
const N: usize = 3;

/// A fresh, enabled end to server `to`.
fn dial(net: &Network, to: &str) -> ClientEnd {
    let name = format!("{to}<-{}", rand::random::<u64>());
    let end = net.make_end(&name);
    net.connect(&name, to);
    net.enable(&name, true);
    end
}

fn make_end(net: &Network) -> MakeEnd {
    let net = net.clone();
    Arc::new(move |to: &str| dial(&net, to))
}

/// Serves `services` as labrpc server `name`.
fn serve(net: &Network, name: &str, services: Vec<labrpc::Service>) {
    let server = Server::new();
    for service in services {
        server.add_service(service);
    }
    net.add_server(name, server);
}

/// A clerk's `put`, whichever service it is a clerk of.
type Put = Box<dyn FnMut(&str, &str) + Send>;

/// A service under test: clerks that put.
trait Service {
    fn clerk(&self) -> Put;
}

/// Starts a service under test.
type Make = fn() -> Box<dyn Service>;

/// Lab 4: one group of [`N`] kvraft servers.
struct Lab4 {
    net: Network,
    servers: Vec<kvraft::KvServer>,
}

impl Lab4 {
    fn new() -> Lab4 {
        let net = Network::new();
        let names: Vec<String> = (0..N).map(|i| i.to_string()).collect();
        let servers = (0..N)
            .map(|i| {
                let ends = names.iter().map(|to| dial(&net, to)).collect();
                let kv = kvraft::KvServer::start(ends, i, Arc::new(Persister::new()), None);
                serve(&net, &names[i], vec![kv.service(), kv.raft().service()]);
                kv
            })
            .collect();
        Lab4 { net, servers }
    }
}

impl Service for Lab4 {
    fn clerk(&self) -> Put {
        let ends = (0..N).map(|i| dial(&self.net, &i.to_string())).collect();
        let mut ck = kvraft::Clerk::new(ends);
        Box::new(move |k, v| ck.put(k, v))
    }
}

impl Drop for Lab4 {
    fn drop(&mut self) {
        self.servers.iter().for_each(kvraft::KvServer::kill);
        self.net.cleanup();
    }
}

/// Lab 5: 3 controllers and `groups` groups of [`N`], all joined.
struct Sharded {
    net: Network,
    ctrlers: Vec<ShardCtrler>,
    ctrler_names: Vec<String>,
    groups: Vec<ShardKv>,
}

impl Sharded {
    fn new(groups: usize) -> Sharded {
        let net = Network::new();
        let ctrler_names: Vec<String> = (0..3).map(|i| format!("ctlr-{i}")).collect();
        let ctrlers = (0..3)
            .map(|i| {
                let ends = ctrler_names.iter().map(|to| dial(&net, to)).collect();
                let sc = ShardCtrler::start(ends, i, Arc::new(Persister::new()));
                serve(
                    &net,
                    &ctrler_names[i],
                    vec![sc.service(), sc.raft().service()],
                );
                sc
            })
            .collect();
        let mut join = BTreeMap::new();
        let mut servers = Vec::new();
        for g in 0..groups {
            let gid = 100 + g as u64;
            let names: Vec<String> = (0..N).map(|i| format!("server-{gid}-{i}")).collect();
            for i in 0..N {
                let ends = names.iter().map(|to| dial(&net, to)).collect();
                let mends = ctrler_names.iter().map(|to| dial(&net, to)).collect();
                let persister = Arc::new(Persister::new());
                let kv = ShardKv::start(ends, i, persister, None, gid, mends, make_end(&net));
                serve(&net, &names[i], vec![kv.service(), kv.raft().service()]);
                servers.push(kv);
            }
            join.insert(gid, names);
        }
        let ends = ctrler_names.iter().map(|to| dial(&net, to)).collect();
        shardctrler::Clerk::new(ends).join(join);
        Sharded {
            net,
            ctrlers,
            ctrler_names,
            groups: servers,
        }
    }
}

impl Service for Sharded {
    fn clerk(&self) -> Put {
        let ends = self
            .ctrler_names
            .iter()
            .map(|to| dial(&self.net, to))
            .collect();
        let mut ck = shardkv::Clerk::new(ends, make_end(&self.net));
        Box::new(move |k, v| ck.put(k, v))
    }
}

impl Drop for Sharded {
    fn drop(&mut self) {
        self.groups.iter().for_each(ShardKv::kill);
        self.ctrlers.iter().for_each(ShardCtrler::kill);
        self.net.cleanup();
    }
}

/// The process's user + system CPU time so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis: utime is the 12th, stime the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// What one configuration measured.
struct Figures {
    ops_per_sec: f64,
    mean_ms: f64,
    p99_ms: f64,
    cpu_ms_per_op: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `clerks` clerks putting random keys to `service` for [`RUN_FOR`].
fn run(service: &dyn Service, clerks: usize) -> Figures {
    let mut cks: Vec<_> = (0..clerks).map(|_| service.clerk()).collect();
    // Every clerk finds its groups' leaders (every shard's) before the clock starts.
    for ck in &mut cks {
        for shard in 0..10 {
            ck(&shard.to_string(), "");
        }
    }
    let cpu0 = cpu_time();
    let start = Instant::now();
    let deadline = start + RUN_FOR;
    let mut latencies: Vec<Duration> = thread::scope(|s| {
        let handles: Vec<_> = cks
            .iter_mut()
            .map(|ck| {
                s.spawn(move || {
                    let mut latencies = Vec::new();
                    while Instant::now() < deadline {
                        let key = rand::random::<u32>().to_string();
                        let t0 = Instant::now();
                        ck(&key, "v");
                        latencies.push(t0.elapsed());
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
    let cpu = cpu_time().saturating_sub(cpu0);
    latencies.sort();
    let ops = latencies.len();
    let total: Duration = latencies.iter().sum();
    Figures {
        ops_per_sec: ops as f64 / elapsed.as_secs_f64(),
        mean_ms: ms(total) / ops as f64,
        p99_ms: ms(latencies[(ops - 1) * 99 / 100]),
        cpu_ms_per_op: ms(cpu) / ops as f64,
    }
}

fn main() {
    println!(
        "Puts of random keys for {} s on a reliable labrpc network, no snapshots, {} cores",
        RUN_FOR.as_secs(),
        thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!();
    println!("service                      clerks      ops/s  mean ms   p99 ms  CPU ms/op");
    for clerks in [8, 32] {
        let services: [(&str, Make); 3] = [
            ("kvraft, 1 group of 3", || Box::new(Lab4::new())),
            ("shardkv, 1 group of 3", || Box::new(Sharded::new(1))),
            ("shardkv, 3 groups of 3", || Box::new(Sharded::new(3))),
        ];
        for (name, make) in services {
            let service = make();
            let f = run(service.as_ref(), clerks);
            println!(
                "{name:<27}  {clerks:>6}  {:>9.0}  {:>7.2}  {:>7.2}  {:>9.3}",
                f.ops_per_sec, f.mean_ms, f.p99_ms, f.cpu_ms_per_op
            );
        }
    }
}
