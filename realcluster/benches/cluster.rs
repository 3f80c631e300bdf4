//! The real cluster's figures: `cargo bench -p realcluster`. Three servers in this process on
//! loopback TCP, each with its state on disk (every save fsynced), in a fresh directory under
//! `target/`: throughput and latency of Puts with 1, 8 and 32 clerks (each on its own key, for
//! 3 s), and the time from stopping the leader to the next write that succeeds.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use realcluster::{Node, NodeConfig, Sockets};

/// Three servers; returns them and their client addresses.
fn start(root: &std::path::Path) -> (Vec<Option<Node>>, Vec<String>) {
    let sockets: Vec<Sockets> = (0..3)
        .map(|_| Sockets::loopback(false).expect("binds"))
        .collect();
    let addr = |s: &std::net::TcpListener| s.local_addr().expect("bound").to_string();
    let peers: Vec<String> = sockets.iter().map(|s| addr(&s.peer)).collect();
    let clients: Vec<String> = sockets.iter().map(|s| addr(&s.client)).collect();
    let nodes = sockets
        .into_iter()
        .enumerate()
        .map(|(me, sockets)| {
            let config = NodeConfig {
                cluster: "bench".to_string(),
                me,
                peers: peers.clone(),
                client_addr: clients[me].clone(),
                metrics_addr: None,
                data_dir: root.join(format!("kv-{me}")),
                maxraftstate: Some(1 << 20),
                tls: None,
            };
            Some(Node::start_on(sockets, &config).expect("starts"))
        })
        .collect();
    (nodes, clients)
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
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cluster-bench");
    let _ = std::fs::remove_dir_all(&root);
    let (mut nodes, servers) = start(&root);
    let mut ck = realcluster::clerk(&servers, None).expect("addresses");
    ck.put("warm", "up");
    println!("3 servers on loopback TCP, state fsynced to disk; Puts of 28 bytes");
    for clerks in [1, 8, 32] {
        throughput(&servers, clerks);
    }
    let leader = nodes
        .iter()
        .position(|n| {
            n.as_ref()
                .and_then(Node::raft)
                .is_some_and(|rf| rf.get_state().1)
        })
        .expect("a leader");
    let t0 = Instant::now();
    nodes[leader].take().expect("running").stop();
    ck.put("after", "failover");
    println!(
        "leader stopped -> next Put done: {:.0} ms",
        t0.elapsed().as_secs_f64() * 1000.0
    );
    drop(nodes);
    let _ = std::fs::remove_dir_all(&root);
}
