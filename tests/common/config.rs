//! The [`Config`]: Go's `config` struct and its wiring. `make_config` builds the peers on one
//! network; `crash1` and `start1` stop and restart a peer with its persisted state; `connect`
//! and `disconnect` partition it; `begin` and `end` print the lab's lines; `Drop` is Go's
//! `cleanup`, and reports a failed test's seed and timeline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Instant;

use parking_lot::Mutex;
use raft::crossbeam_channel::{self, Sender};
use raft::{Persister, Raft};

use tester::timeline::{self, Timeline};
use tester::{TEST_TIME_LIMIT, process, randstring, say};

use super::applier::{Applier, Logs, RunningApplier, Zombie, ingest_snap};

/// The peers and the wiring, changed by crashes, restarts and partitions.
pub(crate) struct Peers {
    pub(crate) rafts: Vec<Option<Raft>>,
    /// Per peer: the applier of its running instance.
    appliers: Vec<Option<RunningApplier>>,
    pub(crate) connected: Vec<bool>,
    saved: Vec<Arc<Persister>>,
    /// `endnames[i][j]`: the name of the end peer `i` uses to call peer `j`.
    endnames: Vec<Vec<String>>,
}

/// Statistics for `end`, taken by `begin`.
struct Begin {
    t0: Instant,
    rpcs0: usize,
    bytes0: u64,
    max_index0: u64,
}

pub struct Config {
    pub(crate) n: usize,
    net: labrpc::Network,
    /// When the test got its turn: the 120 s count from here.
    pub(crate) start: Instant,
    pub(crate) peers: Arc<Mutex<Peers>>,
    pub(crate) logs: Arc<Mutex<Logs>>,
    /// The `apply_ch` receivers of killed instances, checked for messages sent after `kill`.
    pub(crate) zombies: Mutex<Vec<Zombie>>,
    begin: Mutex<Option<Begin>>,
    pub(crate) finished: AtomicBool,
    timeline: Arc<Timeline>,
    /// The switches every peer is made with: the lab's (none) unless `LAB_LEVERS` names some
    /// or the test asks for them (`make_config_with`).
    options: raft::Options,
    /// Dropped at cleanup, which stops the watchdog and the sampler.
    stop: Mutex<Option<Sender<()>>>,
    sampler: Mutex<Option<thread::JoinHandle<()>>>,
    /// This test's turn (see `process`): the last field, so it is released after everything
    /// else, once the cleanup is over.
    _turn: process::Turn,
}

/// Go's `make_config`: `n` peers, all connected, on a network with long delays on and
/// `unreliable` as asked; `snapshot` picks the applier that snapshots every ten commands.
/// Waits first for any other test of the process to finish.
pub fn make_config(n: usize, unreliable: bool, snapshot: bool) -> Config {
    let levers = tester::levers::Levers::from_env();
    make_config_with(n, unreliable, snapshot, levers.raft_options())
}

/// [`make_config`] with peers made with `options`, whatever `LAB_LEVERS` says: for the tests
/// of the levers beyond the lab.
pub fn make_config_with(
    n: usize,
    unreliable: bool,
    snapshot: bool,
    options: raft::Options,
) -> Config {
    let turn = process::serialise();
    raft::init_logging();
    let net = labrpc::Network::new();
    net.set_reliable(!unreliable);
    net.set_long_delays(true);
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    let cfg = Config {
        n,
        net,
        start: Instant::now(),
        peers: Arc::new(Mutex::new(Peers {
            rafts: vec![None; n],
            appliers: (0..n).map(|_| None).collect(),
            connected: vec![false; n],
            saved: (0..n).map(|_| Arc::new(Persister::new())).collect(),
            endnames: vec![Vec::new(); n],
        })),
        logs: Arc::new(Mutex::new(Logs::new(n))),
        zombies: Mutex::new(Vec::new()),
        begin: Mutex::new(None),
        finished: AtomicBool::new(false),
        timeline: Arc::new(Timeline::new(n)),
        options,
        stop: Mutex::new(Some(stop_tx)),
        sampler: Mutex::new(None),
        _turn: turn,
    };
    process::register(cfg.net.seed(), Arc::clone(&cfg.timeline));
    process::spawn_watchdog(
        stop_rx.clone(),
        TEST_TIME_LIMIT,
        cfg.net.seed(),
        Arc::clone(&cfg.timeline),
    );
    let (peers, observed) = (Arc::clone(&cfg.peers), Arc::clone(&cfg.timeline));
    let sampler = timeline::spawn_sampler(stop_rx, move || {
        // Every live peer's `get_state`, asked without the harness's lock.
        let rafts = peers.lock().rafts.clone();
        for (i, rf) in rafts.iter().enumerate() {
            if let Some(rf) = rf {
                let (term, leader) = rf.get_state();
                observed.observed(i, term, leader);
            }
        }
    });
    *cfg.sampler.lock() = Some(sampler);
    tlog!(
        "make_config: {n} peers, unreliable={unreliable}, snapshot={snapshot}, {options:?}, seed {}",
        cfg.net.seed()
    );
    for i in 0..n {
        cfg.start1(i, snapshot);
    }
    for i in 0..n {
        cfg.connect(i);
    }
    cfg
}

impl Config {
    /// Go's `crash1`: shut peer `i` down but keep its persisted state. The old instance gets a
    /// copy of the persister, so anything it still writes goes to an orphan.
    pub fn crash1(&self, i: usize) {
        self.disconnect(i);
        self.net.delete_server(&i.to_string());
        {
            let mut p = self.peers.lock();
            p.saved[i] = Arc::new(p.saved[i].copy());
        }
        if self.shut_down(i) {
            tlog!("crash1({i})");
            self.timeline.alive(i, false);
            self.timeline.note(format!("crash S{i}"));
        }
        let mut p = self.peers.lock();
        let fresh = Persister::new();
        fresh.save(p.saved[i].read_raft_state(), p.saved[i].read_snapshot());
        p.saved[i] = Arc::new(fresh);
    }

    /// Stops peer `i`'s applier, then kills the peer, and keeps the applier's receiver as a
    /// zombie. `false` if the peer was not running.
    ///
    /// Not in Go: Go's applier goes on reading a killed instance's channel. Stopping it first
    /// means nothing sent after `kill` returned can pass unseen (see `applier.rs`).
    fn shut_down(&self, i: usize) -> bool {
        let (rf, applier) = {
            let mut p = self.peers.lock();
            (p.rafts[i].take(), p.appliers[i].take())
        };
        let apply_ch = applier.and_then(RunningApplier::stop);
        let Some(rf) = rf else {
            return false;
        };
        rf.kill();
        match apply_ch {
            Some(apply_ch) => self.zombies.lock().push(Zombie {
                server: i,
                apply_ch,
            }),
            None => self
                .logs
                .lock()
                .record_error(i, format!("the applier of server {i} panicked")),
        }
        true
    }

    /// Go's `start1`: start or restart peer `i` from its persisted state, with fresh end names
    /// so the crashed instance's ends cannot reach anyone. It is not connected until `connect`.
    pub fn start1(&self, i: usize, snapshot_applier: bool) {
        self.crash1(i);
        let endnames: Vec<String> = (0..self.n).map(|_| randstring(20)).collect();
        let ends = labcluster::connect_ends(&self.net, &endnames);
        let persister = {
            let mut p = self.peers.lock();
            p.endnames[i] = endnames;
            p.saved[i] = Arc::new(p.saved[i].copy());
            Arc::clone(&p.saved[i])
        };
        {
            let mut logs = self.logs.lock();
            logs.last_applied[i] = 0;
            let snapshot = persister.read_snapshot();
            if !snapshot.is_empty() {
                // Mimic a KV server restoring its state from the snapshot.
                if let Err(err) = ingest_snap(&mut logs, i, &snapshot, None) {
                    panic!("{err}");
                }
            }
        }
        let (apply_tx, apply_rx) = crossbeam_channel::bounded(0);
        // The lab's `make`, unless the config turns on some of the real cluster's levers.
        let rf = Raft::make_with(ends, i, persister, apply_tx, self.options);
        let applier = Applier {
            me: i,
            logs: Arc::clone(&self.logs),
            timeline: Arc::clone(&self.timeline),
            rf: rf.clone(),
            with_snapshots: snapshot_applier,
        }
        .spawn(apply_rx);
        {
            let mut p = self.peers.lock();
            p.rafts[i] = Some(rf.clone());
            p.appliers[i] = Some(applier);
        }
        labcluster::serve(&self.net, i, &rf);
        tlog!("start1({i})");
        self.timeline.alive(i, true);
        self.timeline.note(format!("start S{i}"));
    }

    /// Attaches peer `i` to the network.
    pub fn connect(&self, i: usize) {
        let mut p = self.peers.lock();
        p.connected[i] = true;
        for j in 0..self.n {
            if p.connected[j] {
                self.net.enable(&p.endnames[i][j], true);
                self.net.enable(&p.endnames[j][i], true);
            }
        }
        drop(p);
        tlog!("connect({i})");
        self.timeline.connected(i, true);
        self.timeline.note(format!("connect S{i}"));
    }

    /// Detaches peer `i` from the network.
    pub fn disconnect(&self, i: usize) {
        let mut p = self.peers.lock();
        p.connected[i] = false;
        for j in 0..self.n {
            if let Some(name) = p.endnames[i].get(j) {
                self.net.enable(name, false);
            }
            if let Some(name) = p.endnames[j].get(i) {
                self.net.enable(name, false);
            }
        }
        drop(p);
        tlog!("disconnect({i})");
        self.timeline.connected(i, false);
        self.timeline.note(format!("disconnect S{i}"));
    }

    /// Not in Go's harness: cuts (`up` false) or restores the link between peers `i` and `j`
    /// alone, both ways, leaving their other links as they are.
    pub fn set_link(&self, i: usize, j: usize, up: bool) {
        let p = self.peers.lock();
        self.net.enable(&p.endnames[i][j], up);
        self.net.enable(&p.endnames[j][i], up);
        drop(p);
        tlog!("set_link({i}, {j}, {up})");
        self.timeline
            .note(format!("link S{i}-S{j} {}", if up { "up" } else { "cut" }));
    }

    pub fn is_connected(&self, i: usize) -> bool {
        self.peers.lock().connected[i]
    }

    /// Peer `i`, unless it is crashed.
    pub fn try_raft(&self, i: usize) -> Option<Raft> {
        self.peers.lock().rafts[i].clone()
    }

    /// Peer `i`, which the test knows to be running.
    pub fn raft(&self, i: usize) -> Raft {
        self.try_raft(i)
            .unwrap_or_else(|| panic!("server {i} is crashed"))
    }

    /// Not in Go: the network itself, for tests of the harness that put servers of their own
    /// on it (under the name of a crashed peer, say).
    pub fn net(&self) -> &labrpc::Network {
        &self.net
    }

    pub fn rpc_count(&self, i: usize) -> usize {
        self.net.get_count(&i.to_string())
    }

    pub fn rpc_total(&self) -> usize {
        self.net.get_total_count()
    }

    pub fn bytes_total(&self) -> u64 {
        self.net.get_total_bytes()
    }

    pub fn set_unreliable(&self, unreliable: bool) {
        self.net.set_reliable(!unreliable);
        tlog!("set_unreliable({unreliable})");
        self.timeline.note(format!("unreliable = {unreliable}"));
    }

    pub fn set_long_reordering(&self, long_reordering: bool) {
        self.net.set_long_reordering(long_reordering);
        tlog!("set_long_reordering({long_reordering})");
        self.timeline
            .note(format!("long reordering = {long_reordering}"));
    }

    /// How many snapshots peer `i` has been sent on `apply_ch`, over all its restarts.
    pub fn snapshots_received(&self, i: usize) -> usize {
        self.logs.lock().snapshots_received[i]
    }

    /// The largest persisted Raft state among the peers.
    pub fn log_size(&self) -> usize {
        let p = self.peers.lock();
        p.saved
            .iter()
            .map(|s| s.raft_state_size())
            .max()
            .unwrap_or(0)
    }

    /// Prints the test's description and takes the statistics `end` reports.
    pub fn begin(&self, description: &str) {
        say(format_args!("{description} ..."));
        tlog!("begin: {description}");
        self.timeline.note(description);
        *self.begin.lock() = Some(Begin {
            t0: Instant::now(),
            rpcs0: self.rpc_total(),
            bytes0: self.bytes_total(),
            max_index0: self.logs.lock().max_index,
        });
    }

    /// Prints Go's Passed line: seconds, peers, RPCs, bytes, commands committed.
    pub fn end(&self) {
        self.check_timeout();
        self.check_apply_errors();
        let begin = self.begin.lock();
        let begin = begin.as_ref().expect("end() without begin()");
        let t = begin.t0.elapsed().as_secs_f64();
        let nrpc = self.rpc_total() - begin.rpcs0;
        let nbytes = self.bytes_total() - begin.bytes0;
        let ncmds = self.logs.lock().max_index - begin.max_index0;
        say(format_args!(
            "  ... Passed --  {t:4.1}  {} {nrpc:4} {nbytes:7} {ncmds:4}",
            self.n
        ));
    }

    /// Go's `cleanup`: kill every peer (each after its applier stopped) and shut the network
    /// down.
    fn cleanup(&self) {
        self.finished.store(true, Ordering::Relaxed);
        for i in 0..self.n {
            self.shut_down(i);
        }
        self.net.cleanup();
        self.stop.lock().take();
        if let Some(sampler) = self.sampler.lock().take() {
            let _ = sampler.join();
        }
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        self.cleanup();
        let test = process::test_name();
        // A test that got this far without panicking can still fail here, as Go's cleanup does.
        let late_failure = if thread::panicking() {
            None
        } else {
            self.apply_error().or_else(|| self.timeout_error())
        };
        let failed = thread::panicking() || late_failure.is_some();
        if failed {
            let seed = self.net.seed();
            eprintln!("labrpc seed: {seed} (rerun with LABRPC_SEED={seed})");
        }
        if failed || std::env::var_os("RAFT_TIMELINE").is_some() {
            let outcome = if failed { "FAILED" } else { "passed" };
            match self.timeline.write(&test, outcome) {
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
