//! The test harness of lab 5A's controller: a port of the course's Go `shardctrler/config.go`
//! (2024), with the `check` helpers at the top of its `test_test.go`.
//!
//! A [`Config`] starts `n` controller servers on one simulated labrpc network, a
//! `tester::group::ServerGrp` of labrpc servers each holding its `ShardCtrler` and its `Raft`
//! service, and makes clerks with ends of their own. Names map one to one: `make_config`,
//! `make_client`, `shutdown_server`, `start_server`, `connect_all`, `leader`, `all`. Tests run
//! one at a time (`tester::process`), with Go's 120 s limit; a failed test prints the network's
//! seed (rerun with `LABRPC_SEED=N`) and writes its timeline, `target/timelines/<test>.html`.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use raft::crossbeam_channel::{self, Sender};
use shardctrler::{Clerk, Config as ShardConfig, ShardCtrler};
use tester::group::{Replica, ServerGrp, random_handles};
use tester::timeline::{self, Timeline};
use tester::{TEST_TIME_LIMIT, process, say};

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

struct Shared {
    net: labrpc::Network,
    /// The controllers, their persisters and their ends.
    group: ServerGrp,
    start: Instant,
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

/// Go's `make_config`: `n` controllers, all connected.
pub fn make_config(n: usize, unreliable: bool) -> Config {
    let turn = process::serialise();
    raft::init_logging();
    let net = labrpc::Network::new();
    let timeline = Arc::new(Timeline::new(n));
    let group = ServerGrp::new(&net, None, n, Arc::clone(&timeline), 0, start_ctrler);
    let shared = Arc::new(Shared {
        net,
        group,
        start: Instant::now(),
        timeline: Arc::clone(&timeline),
    });
    let seed = shared.net.seed();
    process::register(seed, Arc::clone(&timeline));
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    process::spawn_watchdog(stop_rx.clone(), TEST_TIME_LIMIT, seed, timeline);
    let sampler = {
        let shared = Arc::clone(&shared);
        timeline::spawn_sampler(stop_rx, move || shared.group.observe())
    };
    let cfg = Config {
        shared,
        stop: Some(stop_tx),
        sampler: Some(sampler),
        _turn: turn,
    };
    cfg.shared.group.start_servers();
    cfg.shared.net.set_reliable(!unreliable);
    cfg
}

/// Go's `StartServer` of the controller (its constructor), as the server group starts one.
fn start_ctrler(
    ends: Vec<labrpc::ClientEnd>,
    me: usize,
    persister: Arc<raft::Persister>,
) -> Replica {
    let sc = ShardCtrler::start(ends, me, persister);
    Replica {
        services: vec![sc.service(), sc.raft().service()],
        raft: sc.raft(),
        kill: Box::new(move || sc.kill()),
    }
}

impl Config {
    /// Go's `All`.
    pub fn all(&self) -> Vec<usize> {
        self.shared.group.all()
    }

    /// Go's `ConnectAll`.
    pub fn connect_all(&self) {
        self.shared.group.connect_all();
    }

    /// Go's `makeClient(to)`: a clerk with a fresh set of ends, of which those to the servers in
    /// `to` are enabled.
    pub fn make_client(&self, to: &[usize]) -> Clerk {
        let ends = self.shared.group.make_ends();
        for &j in to {
            self.shared.net.enable(ends[j].name(), true);
        }
        Clerk::new(random_handles(&ends))
    }

    /// Go's `ShutdownServer`: isolates server `i`, removes it from the network, and kills it;
    /// its persisted state stays for `start_server`.
    pub fn shutdown_server(&self, i: usize) {
        self.shared.group.shutdown_server(i);
    }

    /// Go's `StartServer`: server `i` from its persisted state, with fresh ends (disabled until
    /// `connect_all`).
    pub fn start_server(&self, i: usize) {
        self.shared.group.start_server(i);
    }

    /// Go's `Leader`: a server whose Raft peer believes it leads.
    pub fn leader(&self) -> Option<usize> {
        self.shared.group.leader()
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
        self.shared.group.cleanup();
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
