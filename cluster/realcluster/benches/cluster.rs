//! The real cluster's figures: `cargo bench -p realcluster --bench cluster`. Three `kvserver`
//! processes on loopback, each with its state on disk (every save fsynced), in a fresh
//! directory under `target/`: throughput and latency of Puts with 1, 8 and 32 clerks (each on
//! its own key, for 3 s, over gRPC), and the time from a SIGKILL of the leader to the next
//! write that succeeds.

// The tests' guards: the directory deleted and the servers killed when dropped, a panic's
// included.
#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{Procs, TestDir, free_addrs};

/// The servers' client addresses, and their processes (server `i` is process `i`), killed
/// when dropped.
struct Servers {
    clients: Vec<String>,
    procs: Procs,
}

fn start(dir: &TestDir) -> Servers {
    let (peers, clients) = (free_addrs(3), free_addrs(3));
    let mut procs = Procs::default();
    for (me, client) in clients.iter().enumerate() {
        let args = [
            "--cluster",
            "bench",
            "--me",
            &me.to_string(),
            "--peers",
            &peers.join(","),
            "--client",
            client,
            "--data",
            &dir.join(format!("kv-{me}")).display().to_string(),
        ];
        let args = args.map(String::from).to_vec();
        procs.add(env!("CARGO_BIN_EXE_kvserver"), args, None);
    }
    Servers { clients, procs }
}

fn throughput(servers: &[String], clerks: usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..clerks)
        .map(|c| {
            let (servers, stop) = (servers.to_vec(), Arc::clone(&stop));
            thread::spawn(move || {
                let mut ck = realcluster::clerk(&servers, None).expect("addresses");
                let mut micros = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    ck.put(&format!("key-{c}"), "a value of some twenty bytes");
                    micros.push(t0.elapsed().as_secs_f64() * 1e6);
                }
                micros
            })
        })
        .collect();
    thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let mut all: Vec<f64> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("a clerk"))
        .collect();
    all.sort_by(f64::total_cmp);
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)] / 1000.0;
    println!(
        "{clerks:>3} clerks: {:>7.0} ops/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
        all.len() as f64 / 3.0,
        at(0.5),
        at(0.99)
    );
}

fn main() {
    let dir = TestDir::new("cluster-bench");
    let mut servers = start(&dir);
    let mut ck = realcluster::clerk(&servers.clients, None).expect("addresses");
    ck.put("warm", "up");
    println!("3 kvserver processes on loopback, state fsynced to disk; Puts of 28 bytes over gRPC");
    for clerks in [1, 8, 32] {
        throughput(&servers.clients, clerks);
    }
    let leader = (0..3)
        .find(|&i| realcluster::status(&servers.clients[i], None).is_ok_and(|s| s.role == "Leader"))
        .expect("a leader");
    let t0 = Instant::now();
    servers.procs.kill(leader);
    ck.put("after", "failover");
    println!(
        "leader SIGKILLed -> next Put done: {:.0} ms",
        t0.elapsed().as_secs_f64() * 1000.0
    );
}
