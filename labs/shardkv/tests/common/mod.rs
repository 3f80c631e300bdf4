//! The test harness of lab 5 (shardkv): a port of the course's Go `shardkv/config.go` (2024),
//! with the `check` helper at the top of its `test_test.go`.
//!
//! A [`Config`] starts a controller service (3 `ShardCtrler`s, labrpc servers named
//! `ctlr-<random>`) and 3 replica groups, gids 100, 101, 102, of `n` servers each, named
//! `server-<gid>-<i>`, every one a labrpc server holding its `ShardKV` and its `Raft` service;
//! each group is a `tester::group::ServerGrp`, which starts, shuts down and restarts them.
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
use raft::crossbeam_channel::{self, Sender};
use shardctrler::ShardCtrler;
use shardkv::{Clerk, MakeEnd, ShardKv};
use tester::group::{Replica, ServerGrp};
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

struct Shared {
    net: labrpc::Network,
    start: Instant,
    ctl: Arc<Ctrler>,
    /// Every controller service started (the test's own, and `start_ctrler_service`'s), for
    /// the cleanup.
    ctrlers: Mutex<Vec<Arc<Ctrler>>>,
    /// Servers per group.
    n: usize,
    /// Go's `groups`: the replica groups, gids 100, 101, ...
    groups: Vec<ServerGrp>,
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
    let groups = (0..ngroups)
        .map(|gi| {
            let gid = 100 + gi as u64;
            let start = start_server(&net, Arc::clone(&ctl), gid, maxraftstate);
            ServerGrp::new(&net, Some(gid), n, Arc::clone(&timeline), gi * n, start)
        })
        .collect();
    let shared = Arc::new(Shared {
        net,
        start: Instant::now(),
        ctl: Arc::clone(&ctl),
        ctrlers: Mutex::new(vec![ctl]),
        n,
        groups,
        maxraftstate,
        timeline: Arc::clone(&timeline),
    });
    let seed = shared.net.seed();
    process::register(seed, Arc::clone(&timeline));
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    process::spawn_watchdog(stop_rx.clone(), TEST_TIME_LIMIT, seed, timeline);
    let sampler = {
        let shared = Arc::clone(&shared);
        timeline::spawn_sampler(stop_rx, move || {
            for group in &shared.groups {
                group.observe();
            }
        })
    };
    let cfg = Config {
        shared,
        owner: Some(Owner {
            stop: Some(stop_tx),
            sampler: Some(sampler),
            _turn: turn,
        }),
    };
    for group in &cfg.shared.groups {
        group.start_servers();
    }
    cfg.shared.net.set_reliable(!unreliable);
    cfg.note(format!(
        "make_config: {ngroups} groups of {n}, unreliable={unreliable}, maxraftstate={maxraftstate:?}, seed {seed}"
    ));
    cfg
}

/// Go's `StartServer(gi, i)`, as group `gid`'s server group starts a server: a `ShardKv` with
/// fresh, enabled ends to the controllers, which its shutdown disables first ("prevent this
/// server from sending"; Go disables them before the rest of `ShutdownServer`).
fn start_server(
    net: &labrpc::Network,
    ctl: Arc<Ctrler>,
    gid: u64,
    maxraftstate: Option<usize>,
) -> impl Fn(Vec<labrpc::ClientEnd>, usize, Arc<Persister>) -> Replica + Send + Sync + 'static {
    let net = net.clone();
    move |ends, me, persister| {
        let mends: Vec<labrpc::ClientEnd> = ctl.names.iter().map(|name| dial(&net, name)).collect();
        let mendnames: Vec<String> = mends.iter().map(|end| end.name().to_string()).collect();
        let kv = ShardKv::start(
            ends,
            me,
            persister,
            maxraftstate,
            gid,
            mends,
            make_end(&net),
        );
        let net = net.clone();
        Replica {
            services: vec![kv.service(), kv.raft().service()],
            raft: kv.raft(),
            kill: Box::new(move || {
                for name in &mendnames {
                    net.enable(name, false);
                }
                kv.kill();
            }),
        }
    }
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
        self.shared.groups.len()
    }

    /// Go's `cfg.groups[gi].gid`.
    pub fn gid(&self, gi: usize) -> u64 {
        self.shared.groups[gi]
            .gid()
            .expect("shardkv's groups have gids")
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
        for group in &self.shared.groups {
            let raft = group.log_size();
            let snap = group.snapshot_size();
            match self.shared.maxraftstate {
                Some(max) => assert!(
                    raft <= 8 * max,
                    "persister.RaftStateSize() {raft}, but maxraftstate {max}"
                ),
                None => assert!(snap == 0, "maxraftstate is -1, but snapshot is non-empty!"),
            }
        }
    }

    /// The sum over every server of its Raft state and snapshot (challenge 1's total).
    pub fn total_persisted(&self) -> usize {
        self.shared
            .groups
            .iter()
            .map(ServerGrp::persisted_size)
            .sum()
    }

    /// Go's `servername`.
    pub fn servername(gid: u64, i: usize) -> String {
        tester::group::servername(gid, i)
    }

    /// Go's `makeClient(ctl)`: a clerk of controller service `ctl`.
    pub fn make_client(&self, ctl: &Ctrler) -> Clerk {
        let net = &self.shared.net;
        let ends = ctl.names.iter().map(|name| dial(net, name)).collect();
        Clerk::new(ends, make_end(net))
    }

    /// Go's `ShutdownServer(gi, i)`: server `i` of group `gi` isolated, removed from the
    /// network and killed; its persisted state stays for `start_server`.
    pub fn shutdown_server(&self, gi: usize, i: usize) {
        self.shared.groups[gi].shutdown_server(i);
    }

    /// Go's `ShutdownGroup(gi)`.
    pub fn shutdown_group(&self, gi: usize) {
        self.shared.groups[gi].shutdown();
    }

    /// Go's `StartServer(gi, i)`: server `i` of group `gi` from its persisted state, connected
    /// to its group.
    pub fn start_server(&self, gi: usize, i: usize) {
        let group = &self.shared.groups[gi];
        group.start_server(i);
        group.connect_one(i);
    }

    /// Go's `StartGroup(gi)`.
    pub fn start_group(&self, gi: usize) {
        self.shared.groups[gi].start_servers();
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
        for group in &self.shared.groups {
            group.shutdown();
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
