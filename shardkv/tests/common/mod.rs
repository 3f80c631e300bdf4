//! The test harness of lab 5 (shardkv): a port of the course's Go `shardkv/config.go` (2024),
//! with the `check` helper at the top of its `test_test.go`.
//!
//! A [`Config`] starts a controller service (3 `ShardCtrler`s, labrpc servers named
//! `ctlr-<random>`) and 3 replica groups, gids 100, 101, 102, of `n` servers each, named
//! `server-<gid>-<i>`, every one a labrpc server holding its `ShardKV` and its `Raft` service.
//! Names map one to one with Go's: `make_config`, `make_client`, `shutdown_server`,
//! `shutdown_group`, `start_server`, `start_group`, `start_ctrler_service`, `join`, `ctljoin`,
//! `joinm`, `leave`, `leavem`, `checklogs`; `ctl.ck.Query(-1)` is [`Config::query`].
//!
//! Tests run one at a time (`tester::process`) within Go's 120 s; the client threads hold a
//! [`Config::handle`]. A failed test prints the network's seed (rerun with `LABRPC_SEED=N`) and
//! writes its timeline, `target/timelines/<test>.html`, one swimlane per group server (lane
//! `3 * gi + i`). `RUST_LOG=shardkv=debug,rsm=debug` shows the servers' log lines.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use parking_lot::Mutex;
use raft::Persister;
use raft::crossbeam_channel::{self, Receiver, RecvTimeoutError, Sender};
use shardctrler::ShardCtrler;
use shardkv::{Clerk, MakeEnd, ShardKv};
use tester::timeline::{self, Timeline};
use tester::{TEST_TIME_LIMIT, process, randstring, say};

/// Go's `check(t, ck, key, value)`.
pub fn check(ck: &mut Clerk, key: &str, value: &str) {
    let v = ck.get(key);
    assert!(v == value, "Get({key}): expected:\n{value}\nreceived:\n{v}");
}

/// Prints the test's `Test ...` line.
pub fn begin(description: &str) {
    say(format_args!("{description}"));
}

/// Prints the lab's Passed line (the shardkv tests print no statistics).
pub fn passed() {
    say(format_args!("  ... Passed"));
}

/// Go's `ctrler`: a controller service of 3 servers.
pub struct Ctrler {
    n: usize,
    servers: Mutex<Vec<ShardCtrler>>,
    names: Vec<String>,
}

/// Go's `group`: one replica group.
struct Group {
    gid: u64,
    servers: Vec<Option<ShardKv>>,
    saved: Vec<Arc<Persister>>,
    /// The ends each server calls its group's servers through.
    endnames: Vec<Vec<String>>,
    /// The ends each server calls the controllers through.
    mendnames: Vec<Vec<String>>,
}

struct Shared {
    net: labrpc::Network,
    start: Instant,
    ctl: Arc<Ctrler>,
    /// Every controller service started (the test's own, and `start_ctrler_service`'s), for
    /// the cleanup.
    ctrlers: Mutex<Vec<Arc<Ctrler>>>,
    ngroups: usize,
    /// Servers per group.
    n: usize,
    groups: Mutex<Vec<Group>>,
    maxraftstate: Option<usize>,
    timeline: Arc<Timeline>,
}

struct Owner {
    stop: Option<Sender<()>>,
    sampler: Option<thread::JoinHandle<()>>,
    _turn: process::Turn,
}

/// Go's shardkv `config`. Dropping the test's own is Go's `cleanup`.
pub struct Config {
    shared: Arc<Shared>,
    owner: Option<Owner>,
}

/// Go's `make_config(t, n, unreliable, maxraftstate)`: a controller service and 3 groups of
/// `n` servers (`maxraftstate` `None` is Go's -1), started but not joined.
pub fn make_config(n: usize, unreliable: bool, maxraftstate: Option<usize>) -> Config {
    let turn = process::serialise();
    raft::init_logging();
    let net = labrpc::Network::new();
    let ngroups = 3;
    let timeline = Arc::new(Timeline::new(ngroups * n));
    let ctl = Arc::new(start_ctrler_service_on(&net));
    let shared = Arc::new(Shared {
        net,
        start: Instant::now(),
        ctl: Arc::clone(&ctl),
        ctrlers: Mutex::new(vec![ctl]),
        ngroups,
        n,
        groups: Mutex::new(
            (0..ngroups)
                .map(|gi| Group {
                    gid: 100 + gi as u64,
                    servers: vec![None; n],
                    saved: (0..n).map(|_| Arc::new(Persister::new())).collect(),
                    endnames: vec![Vec::new(); n],
                    mendnames: vec![Vec::new(); n],
                })
                .collect(),
        ),
        maxraftstate,
        timeline: Arc::clone(&timeline),
    });
    let seed = shared.net.seed();
    process::register(seed, Arc::clone(&timeline));
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    process::spawn_watchdog(stop_rx.clone(), TEST_TIME_LIMIT, seed, timeline);
    let sampler = spawn_sampler(Arc::clone(&shared), stop_rx);
    let cfg = Config {
        shared,
        owner: Some(Owner {
            stop: Some(stop_tx),
            sampler: Some(sampler),
            _turn: turn,
        }),
    };
    for gi in 0..ngroups {
        cfg.start_group(gi);
    }
    cfg.shared.net.set_reliable(!unreliable);
    cfg.note(format!(
        "make_config: {ngroups} groups of {n}, unreliable={unreliable}, maxraftstate={maxraftstate:?}, seed {seed}"
    ));
    cfg
}

fn spawn_sampler(shared: Arc<Shared>, stop: Receiver<()>) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name("test-sampler".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(timeline::SAMPLE_EVERY) {
                let servers: Vec<Vec<Option<ShardKv>>> = shared
                    .groups
                    .lock()
                    .iter()
                    .map(|g| g.servers.clone())
                    .collect();
                for (gi, group) in servers.iter().enumerate() {
                    for (i, kv) in group.iter().enumerate() {
                        if let Some(kv) = kv {
                            let (term, leader) = kv.raft().get_state();
                            shared.timeline.observed(gi * shared.n + i, term, leader);
                        }
                    }
                }
            }
        })
        .expect("spawn the sampler")
}

/// A fresh, enabled end to the labrpc server `servername`.
fn dial(net: &labrpc::Network, servername: &str) -> labrpc::ClientEnd {
    let name = randstring(20);
    let end = net.make_end(&name);
    net.connect(&name, servername);
    net.enable(&name, true);
    end
}

/// Go's `make_end` closure: a new end to the named server at every call.
fn make_end(net: &labrpc::Network) -> MakeEnd {
    let net = net.clone();
    Arc::new(move |servername: &str| dial(&net, servername))
}

/// Go's `StartCtrlerService`: 3 controllers named `ctlr-<random>`, each with a fresh
/// persister.
fn start_ctrler_service_on(net: &labrpc::Network) -> Ctrler {
    let n = 3;
    let names: Vec<String> = (0..n).map(|_| format!("ctlr-{}", randstring(20))).collect();
    let servers = (0..n)
        .map(|i| {
            // Go's `StartCtrlerServer`.
            let ends = names.iter().map(|name| dial(net, name)).collect();
            let sc = ShardCtrler::start(ends, i, Arc::new(Persister::new()));
            let server = labrpc::Server::new();
            server.add_service(sc.service());
            server.add_service(sc.raft().service());
            net.add_server(&names[i], server);
            sc
        })
        .collect();
    Ctrler {
        n,
        servers: Mutex::new(servers),
        names,
    }
}

/// Go's `ctrlerclerk`: a controller clerk of `ctl`. Go keeps one in `ctl.ck`; the harness makes
/// one per call instead, so that no lock is held across its RPCs.
fn ctrlerclerk(net: &labrpc::Network, ctl: &Ctrler) -> shardctrler::Clerk {
    shardctrler::Clerk::new(ctl.names.iter().map(|name| dial(net, name)).collect())
}

impl Config {
    /// A handle on the same network, groups and controllers, for one of the test's threads.
    /// Dropping it cleans nothing up.
    pub fn handle(&self) -> Config {
        Config {
            shared: Arc::clone(&self.shared),
            owner: None,
        }
    }

    /// Go's `cfg.ctl`: the controller service the groups use.
    pub fn ctl(&self) -> Arc<Ctrler> {
        Arc::clone(&self.shared.ctl)
    }

    /// Go's `cfg.n`: servers per group.
    pub fn n(&self) -> usize {
        self.shared.n
    }

    /// Go's `cfg.ngroups`.
    pub fn ngroups(&self) -> usize {
        self.shared.ngroups
    }

    /// Go's `cfg.groups[gi].gid`.
    pub fn gid(&self, gi: usize) -> u64 {
        self.shared.groups.lock()[gi].gid
    }

    /// Go's `cfg.net.Reliable(yes)`.
    pub fn set_reliable(&self, yes: bool) {
        self.shared.net.set_reliable(yes);
        self.note(format!("reliable = {yes}"));
    }

    fn note(&self, text: String) {
        log::info!(target: "test", "{:06} TEST {text}", raft::logging::millis());
        self.shared.timeline.note(text);
    }

    /// Go's `cfg.ctl.ck.Query(-1)`: the latest configuration.
    pub fn query(&self) -> shardctrler::Config {
        ctrlerclerk(&self.shared.net, &self.shared.ctl).query(None)
    }

    /// Go's `checklogs`: no server's Raft state above 8 x maxraftstate; with no maxraftstate,
    /// no snapshot at all.
    pub fn checklogs(&self) {
        let groups = self.shared.groups.lock();
        for g in groups.iter() {
            for saved in &g.saved {
                let raft = saved.raft_state_size();
                let snap = saved.snapshot_size();
                match self.shared.maxraftstate {
                    Some(max) => assert!(
                        raft <= 8 * max,
                        "persister.RaftStateSize() {raft}, but maxraftstate {max}"
                    ),
                    None => assert!(snap == 0, "maxraftstate is -1, but snapshot is non-empty!"),
                }
            }
        }
    }

    /// The sum over every server of its Raft state and snapshot (challenge 1's total).
    pub fn total_persisted(&self) -> usize {
        let groups = self.shared.groups.lock();
        groups
            .iter()
            .flat_map(|g| &g.saved)
            .map(|saved| saved.raft_state_size() + saved.snapshot_size())
            .sum()
    }

    /// Go's `servername`.
    pub fn servername(gid: u64, i: usize) -> String {
        format!("server-{gid}-{i}")
    }

    /// Go's `makeClient(ctl)`: a clerk of controller service `ctl`.
    pub fn make_client(&self, ctl: &Ctrler) -> Clerk {
        let net = &self.shared.net;
        let ends = ctl.names.iter().map(|name| dial(net, name)).collect();
        Clerk::new(ends, make_end(net))
    }

    /// Go's `ShutdownServer(gi, i)`: disables server `i`'s ends, removes it from the network
    /// and kills it; its persisted state stays for `start_server`.
    pub fn shutdown_server(&self, gi: usize, i: usize) {
        let kv = {
            let mut groups = self.shared.groups.lock();
            let gg = &mut groups[gi];
            for name in gg.endnames[i].iter().chain(&gg.mendnames[i]) {
                self.shared.net.enable(name, false);
            }
            // Disable client connections to the server. It's important to do this before
            // creating the new Persister in saved[i], to avoid the possibility of the server
            // returning a positive reply to an Append but persisting the result in the
            // superseded Persister.
            self.shared
                .net
                .delete_server(&Config::servername(gg.gid, i));
            // A fresh persister, in case the old instance continues to update the Persister,
            // but with the old one's content, so that we always pass `start` the last
            // persisted state.
            gg.saved[i] = Arc::new(gg.saved[i].copy());
            gg.servers[i].take()
        };
        if let Some(kv) = kv {
            kv.kill();
        }
        let lane = gi * self.shared.n + i;
        self.shared.timeline.connected(lane, false);
        self.shared.timeline.alive(lane, false);
        self.note(format!("shut down server {i} of group {gi}"));
    }

    /// Go's `ShutdownGroup(gi)`.
    pub fn shutdown_group(&self, gi: usize) {
        for i in 0..self.shared.n {
            self.shutdown_server(gi, i);
        }
    }

    /// Go's `StartServer(gi, i)`: server `i` of group `gi` from its persisted state, with
    /// fresh, enabled ends to its group and to the controllers.
    pub fn start_server(&self, gi: usize, i: usize) {
        let net = &self.shared.net;
        let ctl = &self.shared.ctl;
        let (gid, ends, mends, persister) = {
            let mut groups = self.shared.groups.lock();
            let gg = &mut groups[gi];
            let gid = gg.gid;
            gg.endnames[i] = (0..self.shared.n).map(|_| randstring(20)).collect();
            let ends = (0..self.shared.n)
                .map(|j| {
                    let name = &gg.endnames[i][j];
                    let end = net.make_end(name);
                    net.connect(name, &Config::servername(gid, j));
                    net.enable(name, true);
                    end
                })
                .collect();
            gg.mendnames[i] = (0..ctl.n).map(|_| randstring(20)).collect();
            let mends = (0..ctl.n)
                .map(|j| {
                    let name = &gg.mendnames[i][j];
                    let end = net.make_end(name);
                    net.connect(name, &ctl.names[j]);
                    net.enable(name, true);
                    end
                })
                .collect();
            // A fresh persister, so the old instance doesn't overwrite the new instance's
            // persisted state, with a copy of the old one's state.
            gg.saved[i] = Arc::new(gg.saved[i].copy());
            (gid, ends, mends, Arc::clone(&gg.saved[i]))
        };
        let kv = ShardKv::start(
            ends,
            i,
            persister,
            self.shared.maxraftstate,
            gid,
            mends,
            make_end(net),
        );
        let server = labrpc::Server::new();
        server.add_service(kv.service());
        server.add_service(kv.raft().service());
        self.shared.groups.lock()[gi].servers[i] = Some(kv);
        net.add_server(&Config::servername(gid, i), server);
        let lane = gi * self.shared.n + i;
        self.shared.timeline.alive(lane, true);
        self.shared.timeline.connected(lane, true);
        self.note(format!("start server {i} of group {gi}"));
    }

    /// Go's `StartGroup(gi)`.
    pub fn start_group(&self, gi: usize) {
        for i in 0..self.shared.n {
            self.start_server(gi, i);
        }
    }

    /// Go's `StartCtrlerService`: another controller service on the same network.
    pub fn start_ctrler_service(&self) -> Arc<Ctrler> {
        let ctl = Arc::new(start_ctrler_service_on(&self.shared.net));
        self.shared.ctrlers.lock().push(Arc::clone(&ctl));
        ctl
    }

    /// Go's `join(gi)`.
    pub fn join(&self, gi: usize) {
        self.joinm(&[gi], &self.shared.ctl);
    }

    /// Go's `ctljoin(gi, ctl)`.
    pub fn ctljoin(&self, gi: usize, ctl: &Ctrler) {
        self.joinm(&[gi], ctl);
    }

    /// Go's `joinm(gis, ctl)`: the groups `gis` join through controller service `ctl`.
    pub fn joinm(&self, gis: &[usize], ctl: &Ctrler) {
        let n = self.shared.n;
        let m: BTreeMap<u64, Vec<String>> = gis
            .iter()
            .map(|&g| {
                let gid = self.gid(g);
                (gid, (0..n).map(|i| Config::servername(gid, i)).collect())
            })
            .collect();
        self.note(format!("join {:?}", m.keys().collect::<Vec<_>>()));
        ctrlerclerk(&self.shared.net, ctl).join(m);
    }

    /// Go's `leave(gi)`.
    pub fn leave(&self, gi: usize) {
        self.leavem(&[gi]);
    }

    /// Go's `leavem(gis)`.
    pub fn leavem(&self, gis: &[usize]) {
        let gids: Vec<u64> = gis.iter().map(|&g| self.gid(g)).collect();
        self.note(format!("leave {gids:?}"));
        ctrlerclerk(&self.shared.net, &self.shared.ctl).leave(&gids);
    }

    fn timeout_error(&self) -> Option<String> {
        (self.shared.start.elapsed() > TEST_TIME_LIMIT).then(|| {
            format!(
                "test took longer than {} seconds",
                TEST_TIME_LIMIT.as_secs()
            )
        })
    }

    /// Go's `cleanup`: every group shut down, then the controllers, then the network.
    fn cleanup(&self, owner: &mut Owner) {
        for gi in 0..self.shared.ngroups {
            self.shutdown_group(gi);
        }
        let ctrlers = self.shared.ctrlers.lock().clone();
        for ctl in ctrlers {
            let servers = std::mem::take(&mut *ctl.servers.lock());
            for sc in servers {
                sc.kill();
            }
        }
        self.shared.net.cleanup();
        owner.stop.take();
        if let Some(sampler) = owner.sampler.take() {
            let _ = sampler.join();
        }
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        let Some(mut owner) = self.owner.take() else {
            return;
        };
        self.cleanup(&mut owner);
        let late_failure = if thread::panicking() {
            None
        } else {
            self.timeout_error()
        };
        let failed = thread::panicking() || late_failure.is_some();
        if failed {
            let seed = self.shared.net.seed();
            eprintln!("labrpc seed: {seed} (rerun with LABRPC_SEED={seed})");
        }
        if failed || std::env::var_os("RAFT_TIMELINE").is_some() {
            let outcome = if failed { "FAILED" } else { "passed" };
            match self.shared.timeline.write(&process::test_name(), outcome) {
                Ok(path) => eprintln!("timeline: {}", path.display()),
                Err(e) => eprintln!("timeline: cannot write it: {e}"),
            }
        }
        process::unregister();
        drop(owner);
        if let Some(err) = late_failure {
            panic!("{err}");
        }
    }
}
