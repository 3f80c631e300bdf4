//! The test harness of lab 5A's controller: a port of the course's Go `shardctrler/config.go`
//! (2024), with the `check` helpers at the top of its `test_test.go`.
//!
//! A [`Config`] starts `n` controller servers on one simulated labrpc network, each a labrpc
//! server holding its `ShardCtrler` and its `Raft` service, and makes clerks with ends of their
//! own. Names map one to one: `make_config`, `make_client`, `shutdown_server`, `start_server`,
//! `connect_all`, `leader`, `all`. Tests run one at a time (`tester::process`), with Go's 120 s
//! limit; a failed test prints the network's seed (rerun with `LABRPC_SEED=N`) and writes its
//! timeline, `target/timelines/<test>.html`.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use parking_lot::Mutex;
use raft::Persister;
use raft::crossbeam_channel::{self, Receiver, RecvTimeoutError, Sender};
use rand::RngExt;
use shardctrler::{Clerk, Config as ShardConfig, ShardCtrler};
use tester::timeline::{self, Timeline};
use tester::{TEST_TIME_LIMIT, process, randstring, say};

/// Go's `check(t, groups, ck)`: the latest configuration has exactly `groups`, every shard on
/// one of them, and at most one shard of difference between any two.
pub fn check(groups: &[u64], ck: &mut Clerk) {
    let c = ck.query(None);
    assert!(
        c.groups.len() == groups.len(),
        "wanted {} groups, got {}",
        groups.len(),
        c.groups.len()
    );
    // Are the groups as expected?
    for g in groups {
        assert!(c.groups.contains_key(g), "missing group {g}");
    }
    // Any un-allocated shards?
    if !groups.is_empty() {
        for (s, g) in c.shards.iter().enumerate() {
            assert!(c.groups.contains_key(g), "shard {s} -> invalid group {g}");
        }
    }
    // More or less balanced sharding?
    let gids: BTreeSet<u64> = c.groups.keys().copied().collect();
    let counts: Vec<usize> = gids
        .iter()
        .map(|g| c.shards.iter().filter(|&&s| s == *g).count())
        .collect();
    let min = counts.iter().copied().min().unwrap_or(257);
    let max = counts.iter().copied().max().unwrap_or(0);
    assert!(max <= min + 1, "max {max} too much larger than min {min}");
}

/// Go's `check_same_config`.
pub fn check_same_config(c1: &ShardConfig, c2: &ShardConfig) {
    assert!(c1.num == c2.num, "Num wrong");
    assert!(c1.shards == c2.shards, "Shards wrong");
    assert!(
        c1.groups.len() == c2.groups.len(),
        "number of Groups is wrong"
    );
    for (gid, sa) in &c1.groups {
        let sa1 = c2.groups.get(gid);
        assert!(
            sa1.is_some_and(|sa1| sa1.len() == sa.len()),
            "len(Groups) wrong"
        );
        assert!(sa1 == Some(sa), "Groups wrong");
    }
}

/// Go's fields under `cfg.mu`.
struct Wiring {
    servers: Vec<Option<ShardCtrler>>,
    saved: Vec<Arc<Persister>>,
    /// `endnames[i][j]`: the end server `i` calls server `j` through.
    endnames: Vec<Vec<String>>,
}

struct Shared {
    n: usize,
    net: labrpc::Network,
    start: Instant,
    wiring: Mutex<Wiring>,
    timeline: Arc<Timeline>,
}

/// Go's shardctrler `config`. Dropping it is Go's `cleanup`.
pub struct Config {
    shared: Arc<Shared>,
    stop: Option<Sender<()>>,
    sampler: Option<thread::JoinHandle<()>>,
    /// This test's turn: the last field, released after the cleanup.
    _turn: process::Turn,
}

/// Go's `random_handles`.
fn random_handles(kvh: &[labrpc::ClientEnd]) -> Vec<labrpc::ClientEnd> {
    let mut sa = kvh.to_vec();
    let mut rng = rand::rng();
    for i in 0..sa.len() {
        let j = rng.random_range(0..=i);
        sa.swap(i, j);
    }
    sa
}

/// Go's `make_config`: `n` controllers, all connected.
pub fn make_config(n: usize, unreliable: bool) -> Config {
    let turn = process::serialise();
    raft::init_logging();
    let timeline = Arc::new(Timeline::new(n));
    let shared = Arc::new(Shared {
        n,
        net: labrpc::Network::new(),
        start: Instant::now(),
        wiring: Mutex::new(Wiring {
            servers: vec![None; n],
            saved: (0..n).map(|_| Arc::new(Persister::new())).collect(),
            endnames: vec![Vec::new(); n],
        }),
        timeline: Arc::clone(&timeline),
    });
    let seed = shared.net.seed();
    process::register(seed, Arc::clone(&timeline));
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    process::spawn_watchdog(stop_rx.clone(), TEST_TIME_LIMIT, seed, timeline);
    let sampler = spawn_sampler(Arc::clone(&shared), stop_rx);
    let cfg = Config {
        shared,
        stop: Some(stop_tx),
        sampler: Some(sampler),
        _turn: turn,
    };
    for i in 0..n {
        cfg.start_server(i);
    }
    cfg.connect_all();
    cfg.shared.net.set_reliable(!unreliable);
    cfg
}

fn spawn_sampler(shared: Arc<Shared>, stop: Receiver<()>) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name("test-sampler".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(timeline::SAMPLE_EVERY) {
                let servers = shared.wiring.lock().servers.clone();
                for (i, sc) in servers.iter().enumerate() {
                    if let Some(sc) = sc {
                        let (term, leader) = sc.raft().get_state();
                        shared.timeline.observed(i, term, leader);
                    }
                }
            }
        })
        .expect("spawn the sampler")
}

impl Config {
    /// Go's `All`.
    pub fn all(&self) -> Vec<usize> {
        (0..self.shared.n).collect()
    }

    fn note(&self, text: String) {
        self.shared.timeline.note(text);
    }

    /// Go's `ConnectAll`.
    pub fn connect_all(&self) {
        let w = self.shared.wiring.lock();
        for names in &w.endnames {
            for name in names {
                self.shared.net.enable(name, true);
            }
        }
        drop(w);
        for i in 0..self.shared.n {
            self.shared.timeline.connected(i, true);
        }
        self.note("connect all".into());
    }

    /// Go's `makeClient(to)`: a clerk with a fresh set of ends, of which those to the servers in
    /// `to` are enabled.
    pub fn make_client(&self, to: &[usize]) -> Clerk {
        let endnames: Vec<String> = (0..self.shared.n).map(|_| randstring(20)).collect();
        let ends = labcluster::connect_ends(&self.shared.net, &endnames);
        for &j in to {
            self.shared.net.enable(&endnames[j], true);
        }
        Clerk::new(random_handles(&ends))
    }

    /// Go's `ShutdownServer`: isolates server `i`, removes it from the network, and kills it;
    /// its persisted state stays for `start_server`.
    pub fn shutdown_server(&self, i: usize) {
        let sc = {
            let mut w = self.shared.wiring.lock();
            for j in 0..self.shared.n {
                if let Some(name) = w.endnames[i].get(j) {
                    self.shared.net.enable(name, false);
                }
                if let Some(name) = w.endnames[j].get(i) {
                    self.shared.net.enable(name, false);
                }
            }
            self.shared.net.delete_server(&i.to_string());
            w.saved[i] = Arc::new(w.saved[i].copy());
            w.servers[i].take()
        };
        if let Some(sc) = sc {
            sc.kill();
        }
        self.shared.timeline.connected(i, false);
        self.shared.timeline.alive(i, false);
        self.note(format!("shut down S{i}"));
    }

    /// Go's `StartServer`: server `i` from its persisted state, with fresh ends (disabled until
    /// `connect_all`).
    pub fn start_server(&self, i: usize) {
        let (ends, persister) = {
            let mut w = self.shared.wiring.lock();
            w.endnames[i] = (0..self.shared.n).map(|_| randstring(20)).collect();
            let ends = labcluster::connect_ends(&self.shared.net, &w.endnames[i]);
            w.saved[i] = Arc::new(w.saved[i].copy());
            (ends, Arc::clone(&w.saved[i]))
        };
        let sc = ShardCtrler::start(ends, i, persister);
        let server = labrpc::Server::new();
        server.add_service(sc.service());
        server.add_service(sc.raft().service());
        self.shared.wiring.lock().servers[i] = Some(sc);
        self.shared.net.add_server(&i.to_string(), server);
        self.shared.timeline.alive(i, true);
        self.note(format!("start S{i}"));
    }

    /// Go's `Leader`: a server whose Raft peer believes it leads.
    pub fn leader(&self) -> Option<usize> {
        let servers = self.shared.wiring.lock().servers.clone();
        servers
            .iter()
            .position(|sc| sc.as_ref().is_some_and(|sc| sc.raft().get_state().1))
    }

    /// Go's `checkTimeout`.
    fn timeout_error(&self) -> Option<String> {
        (self.shared.start.elapsed() > TEST_TIME_LIMIT).then(|| {
            format!(
                "test took longer than {} seconds",
                TEST_TIME_LIMIT.as_secs()
            )
        })
    }
}

/// Prints the lab's `Test: ...` line.
pub fn begin(description: &str) {
    say(format_args!("{description} ..."));
}

/// Prints the lab's Passed line (the controller's tests print no statistics).
pub fn passed() {
    say(format_args!("  ... Passed"));
}

impl Drop for Config {
    fn drop(&mut self) {
        let servers: Vec<ShardCtrler> = {
            let mut w = self.shared.wiring.lock();
            w.servers.iter_mut().filter_map(Option::take).collect()
        };
        for sc in servers {
            sc.kill();
        }
        self.shared.net.cleanup();
        self.stop.take();
        if let Some(sampler) = self.sampler.take() {
            let _ = sampler.join();
        }
        let late_failure = if thread::panicking() {
            None
        } else {
            self.timeout_error()
        };
        let failed = thread::panicking() || late_failure.is_some();
        if failed {
            let seed = self.shared.net.seed();
            eprintln!("labrpc seed: {seed} (rerun with LABRPC_SEED={seed})");
            match self.shared.timeline.write(&process::test_name(), "FAILED") {
                Ok(path) => eprintln!("timeline: {}", path.display()),
                Err(e) => eprintln!("timeline: cannot write it: {e}"),
            }
        }
        process::unregister();
        if let Some(err) = late_failure {
            panic!("{err}");
        }
    }
}
