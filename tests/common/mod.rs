//! The test harness of the Raft labs: a port of the course's Go `config.go` (2024).
//!
//! A [`Config`] builds `n` Raft peers on one simulated labrpc network and checks what they do:
//! each peer's `apply_ch` is read by an applier thread that records the committed commands in
//! the tester's copy of that peer's log and checks them against every other peer's. The tests
//! in `part_a.rs` ... `part_d.rs` drive it with the same calls, in the same order, as Go's
//! `test_test.go`. Names map one to one: `make_config`, `begin`/`end`, `one`, `wait`,
//! `n_committed`, `check_one_leader`, `check_terms`, `check_no_leader`, `crash1`, `start1`,
//! `connect`/`disconnect`, `rpc_count`/`rpc_total`/`bytes_total`, `set_unreliable`,
//! `set_long_reordering`, `log_size`.
//!
//! Where Go dies at once (`log.Fatalf` in an applier), this harness records the error and the
//! next harness call panics with it; an applier error found at the end fails the test too. A
//! test that runs past 120 s is ended by a watchdog that exits the process, so CI cannot hang.
//! The appliers live in `applier.rs`, the failure timeline in `timeline.rs`.
//! When a test fails, the harness prints the seed of the network's random source and writes a
//! timeline of the run (see [`timeline`]); `RAFT_TIMELINE=1` writes one for passing tests too.

#![allow(dead_code)]

pub mod timeline;

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use raft::crossbeam_channel::{self, Receiver, RecvTimeoutError, Sender};
use raft::{Persister, Raft};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use timeline::Timeline;

/// "The tester generously allows solutions to complete elections in one second (much more than
/// the paper's range of timeouts)."
pub const RAFT_ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);

/// The applier with snapshots asks for one after every `SNAPSHOT_INTERVAL` commands.
pub const SNAPSHOT_INTERVAL: u64 = 10;

/// PartD: the largest persisted Raft state a test accepts.
pub const MAX_LOG_SIZE: usize = 2000;

/// Go's real-time limit per test.
const TEST_TIME_LIMIT: Duration = Duration::from_secs(120);

/// A command as the tests submit it: Go's tests use ints, and `rpc_bytes_part_b` long strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    Int(i64),
    Str(String),
}

impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cmd::Int(x) => write!(f, "{x}"),
            Cmd::Str(s) if s.len() > 20 => write!(f, "{:?}...({} bytes)", &s[..20], s.len()),
            Cmd::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// The bytes handed to `Raft::start` for the integer command `x`.
pub fn cmd(x: i64) -> Vec<u8> {
    labgob::encode(&Cmd::Int(x))
}

/// Go's randstring: `n` random URL-safe characters.
pub fn randstring(n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// A random integer in `0..n`, as Go's `rand.Int() % n`.
pub fn rand_int(n: u64) -> u64 {
    rand::rng().random_range(0..n)
}

/// A random non-negative command, as Go's `rand.Int()`.
pub fn rand_cmd() -> i64 {
    rand::rng().random_range(0..i64::MAX)
}

/// Logs a harness line in the project's format, `<ms> TEST <message>`.
macro_rules! tlog {
    ($($arg:tt)+) => {
        log::info!(target: "test", "{:06} TEST {}", raft::logging::millis(), format_args!($($arg)+))
    };
}

mod applier;

use applier::{Applier, ingest_snap};

/// What the appliers share with the harness (Go's fields under `cfg.mu`).
pub(crate) struct Logs {
    /// Per peer: the committed commands it applied, by index (Go's `logs`).
    pub(crate) logs: Vec<HashMap<u64, Cmd>>,
    /// Per peer: the last index applied (Go's `lastApplied`; the snapshot applier's check).
    pub(crate) last_applied: Vec<u64>,
    /// Per peer: the first apply error, if any (Go's `applyErr`).
    pub(crate) apply_err: Vec<Option<String>>,
    /// The highest index applied anywhere (Go's `maxIndex`).
    pub(crate) max_index: u64,
    /// Per peer: how many times `start1` has started it. Not in Go: a crashed instance's
    /// applier may still hold one message, and must not record it over the restarted peer's.
    pub(crate) generation: Vec<u64>,
}

/// The peers and the wiring, changed by crashes, restarts and partitions.
struct Peers {
    rafts: Vec<Option<Raft>>,
    connected: Vec<bool>,
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
    n: usize,
    net: labrpc::Network,
    start: Instant,
    peers: Arc<Mutex<Peers>>,
    logs: Arc<Mutex<Logs>>,
    begin: Mutex<Option<Begin>>,
    finished: AtomicBool,
    timeline: Arc<Timeline>,
    /// Dropped at cleanup, which stops the watchdog and the sampler.
    stop: Mutex<Option<Sender<()>>>,
    sampler: Mutex<Option<thread::JoinHandle<()>>>,
}

/// Go's `make_config`: `n` peers, all connected, on a network with long delays on and
/// `unreliable` as asked; `snapshot` picks the applier that snapshots every ten commands.
pub fn make_config(n: usize, unreliable: bool, snapshot: bool) -> Config {
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
            connected: vec![false; n],
            saved: (0..n).map(|_| Arc::new(Persister::new())).collect(),
            endnames: vec![Vec::new(); n],
        })),
        logs: Arc::new(Mutex::new(Logs {
            logs: vec![HashMap::new(); n],
            last_applied: vec![0; n],
            apply_err: vec![None; n],
            max_index: 0,
            generation: vec![0; n],
        })),
        begin: Mutex::new(None),
        finished: AtomicBool::new(false),
        timeline: Arc::new(Timeline::new(n)),
        stop: Mutex::new(Some(stop_tx)),
        sampler: Mutex::new(None),
    };
    spawn_watchdog(stop_rx.clone(), cfg.net.seed(), Arc::clone(&cfg.timeline));
    let sampler = spawn_sampler(Arc::clone(&cfg.peers), Arc::clone(&cfg.timeline), stop_rx);
    *cfg.sampler.lock() = Some(sampler);
    tlog!(
        "make_config: {n} peers, unreliable={unreliable}, snapshot={snapshot}, seed {}",
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

/// Ends the process if the test runs past Go's 120 s limit: a hung test must not hang CI.
/// It writes to stderr directly: libtest captures `eprintln!` in the test's threads, and
/// `exit` would throw that capture away unseen.
fn spawn_watchdog(stop: Receiver<()>, seed: u64, timeline: Arc<Timeline>) {
    let test = thread::current().name().unwrap_or("test").to_string();
    thread::Builder::new()
        .name("test-watchdog".into())
        .spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(TEST_TIME_LIMIT) {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{test}: test took longer than 120 seconds");
                let _ = writeln!(err, "labrpc seed: {seed} (rerun with LABRPC_SEED={seed})");
                // Whatever happens while drawing the timeline, the process must still exit.
                let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    timeline.write(&test, "TIMED OUT")
                }));
                if let Ok(Ok(path)) = written {
                    let _ = writeln!(err, "timeline: {}", path.display());
                }
                std::process::exit(1);
            }
        })
        .expect("spawn the watchdog");
}

/// Polls every live peer's `get_state` for the timeline.
fn spawn_sampler(
    peers: Arc<Mutex<Peers>>,
    timeline: Arc<Timeline>,
    stop: Receiver<()>,
) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name("test-sampler".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(timeline::SAMPLE_EVERY) {
                let rafts = peers.lock().rafts.clone();
                for (i, rf) in rafts.iter().enumerate() {
                    if let Some(rf) = rf {
                        let (term, leader) = rf.get_state();
                        timeline.observed(i, term, leader);
                    }
                }
            }
        })
        .expect("spawn the sampler")
}

impl Config {
    /// Go's `crash1`: shut peer `i` down but keep its persisted state. The old instance gets a
    /// copy of the persister, so anything it still writes goes to an orphan.
    pub fn crash1(&self, i: usize) {
        self.disconnect(i);
        self.net.delete_server(&i.to_string());
        let rf = {
            let mut p = self.peers.lock();
            p.saved[i] = Arc::new(p.saved[i].copy());
            p.rafts[i].take()
        };
        if let Some(rf) = rf {
            rf.kill();
            tlog!("crash1({i})");
            self.timeline.alive(i, false);
            self.timeline.note(format!("crash S{i}"));
        }
        let mut p = self.peers.lock();
        let fresh = Persister::new();
        fresh.save(p.saved[i].read_raft_state(), p.saved[i].read_snapshot());
        p.saved[i] = Arc::new(fresh);
    }

    /// Go's `start1`: start or restart peer `i` from its persisted state, with fresh end names
    /// so the crashed instance's ends cannot reach anyone. It is not connected until `connect`.
    pub fn start1(&self, i: usize, snapshot_applier: bool) {
        self.crash1(i);
        let endnames: Vec<String> = (0..self.n).map(|_| randstring(20)).collect();
        let ends: Vec<labrpc::ClientEnd> = endnames
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let end = self.net.make_end(name);
                self.net.connect(name, &j.to_string());
                end
            })
            .collect();
        let persister = {
            let mut p = self.peers.lock();
            p.endnames[i] = endnames;
            p.saved[i] = Arc::new(p.saved[i].copy());
            Arc::clone(&p.saved[i])
        };
        let generation = {
            let mut logs = self.logs.lock();
            logs.generation[i] += 1;
            logs.last_applied[i] = 0;
            let snapshot = persister.read_snapshot();
            if !snapshot.is_empty() {
                // Mimic a KV server restoring its state from the snapshot.
                if let Err(err) = ingest_snap(&mut logs, i, &snapshot, None) {
                    panic!("{err}");
                }
            }
            logs.generation[i]
        };
        let (apply_tx, apply_rx) = crossbeam_channel::bounded(0);
        let rf = Raft::make(ends, i, persister, apply_tx);
        let applier = Applier {
            me: i,
            generation,
            logs: Arc::clone(&self.logs),
            timeline: Arc::clone(&self.timeline),
            rf: rf.clone(),
        };
        thread::Builder::new()
            .name(format!("test-applier{i}"))
            .spawn(move || applier.run(apply_rx, snapshot_applier))
            .expect("spawn an applier");
        let server = labrpc::Server::new();
        server.add_service(rf.service());
        self.peers.lock().rafts[i] = Some(rf);
        self.net.add_server(&i.to_string(), server);
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

    /// The largest persisted Raft state among the peers.
    pub fn log_size(&self) -> usize {
        let p = self.peers.lock();
        p.saved
            .iter()
            .map(|s| s.raft_state_size())
            .max()
            .unwrap_or(0)
    }

    /// Panics with the first apply error any applier recorded (Go's appliers die at once).
    fn check_apply_errors(&self) {
        if let Some(err) = self.apply_error() {
            panic!("{err}");
        }
    }

    /// The first apply error any applier recorded, as the panic message.
    fn apply_error(&self) -> Option<String> {
        let logs = self.logs.lock();
        let err = logs.apply_err.iter().flatten().next()?;
        Some(format!("apply error: {err}"))
    }

    fn check_timeout(&self) {
        if let Some(err) = self.timeout_error() {
            panic!("{err}");
        }
    }

    fn timeout_error(&self) -> Option<String> {
        (self.start.elapsed() > TEST_TIME_LIMIT)
            .then(|| "test took longer than 120 seconds".to_string())
    }

    /// One connected peer is leader, and no term has two; returns it. Tries ten times, as
    /// elections may still be under way.
    pub fn check_one_leader(&self) -> usize {
        for _ in 0..10 {
            thread::sleep(Duration::from_millis(450 + rand_int(100)));
            let mut leaders: HashMap<u64, Vec<usize>> = HashMap::new();
            for i in 0..self.n {
                if !self.is_connected(i) {
                    continue;
                }
                if let Some(rf) = self.try_raft(i) {
                    let (term, leader) = rf.get_state();
                    if leader {
                        leaders.entry(term).or_default().push(i);
                    }
                }
            }
            for (term, ids) in &leaders {
                if ids.len() > 1 {
                    panic!("term {term} has {} (>1) leaders", ids.len());
                }
            }
            if let Some(last) = leaders.keys().max() {
                let leader = leaders[last][0];
                tlog!("check_one_leader: S{leader} in term {last}");
                return leader;
            }
        }
        panic!("expected one leader, got none");
    }

    /// All connected peers are in the same term; returns it.
    pub fn check_terms(&self) -> u64 {
        let mut term = None;
        for i in 0..self.n {
            if !self.is_connected(i) {
                continue;
            }
            let (xterm, _) = self.raft(i).get_state();
            match term {
                None => term = Some(xterm),
                Some(t) if t != xterm => panic!("servers disagree on term"),
                Some(_) => {}
            }
        }
        term.unwrap_or(0)
    }

    /// No connected peer thinks it is leader.
    pub fn check_no_leader(&self) {
        for i in 0..self.n {
            if self.is_connected(i) && self.raft(i).get_state().1 {
                panic!("expected no leader among connected servers, but {i} claims to be leader");
            }
        }
    }

    /// How many peers have applied `index`, and the command there. Panics on an apply error
    /// or if two peers applied different commands at `index`.
    pub fn n_committed(&self, index: u64) -> (usize, Option<Cmd>) {
        self.check_apply_errors();
        let logs = self.logs.lock();
        let mut count = 0;
        let mut cmd: Option<&Cmd> = None;
        for log in &logs.logs {
            if let Some(cmd1) = log.get(&index) {
                if let Some(cmd) = cmd
                    && cmd != cmd1
                {
                    panic!("committed values do not match: index {index}, {cmd}, {cmd1}");
                }
                count += 1;
                cmd = Some(cmd1);
            }
        }
        (count, cmd.cloned())
    }

    /// Waits for at least `n` peers to apply `index`, backing off to about 31 s in all. Returns
    /// `None` early if a peer has moved past `start_term` (the command may never commit).
    pub fn wait(&self, index: u64, n: usize, start_term: Option<u64>) -> Option<Cmd> {
        let mut to = Duration::from_millis(10);
        for _ in 0..30 {
            if self.n_committed(index).0 >= n {
                break;
            }
            thread::sleep(to);
            if to < Duration::from_secs(1) {
                to *= 2;
            }
            if let Some(start_term) = start_term {
                let rafts = self.peers.lock().rafts.clone();
                for rf in rafts.iter().flatten() {
                    if rf.get_state().0 > start_term {
                        // Someone has moved on; the command may never be committed.
                        return None;
                    }
                }
            }
        }
        let (nd, cmd) = self.n_committed(index);
        if nd < n {
            panic!("only {nd} decided for index {index}; wanted {n}");
        }
        cmd
    }

    /// Go's `one` with an integer command.
    pub fn one(&self, cmd: i64, expected_servers: usize, retry: bool) -> u64 {
        self.one_cmd(Cmd::Int(cmd), expected_servers, retry)
    }

    /// A complete agreement on `cmd`: find a leader (trying the connected peers in turn), then
    /// wait up to 2 s for `expected_servers` peers to apply it; with `retry`, submit again, for
    /// up to 10 s in all. Returns the index.
    pub fn one_cmd(&self, cmd: Cmd, expected_servers: usize, retry: bool) -> u64 {
        let t0 = Instant::now();
        let command = labgob::encode(&cmd);
        let mut starts = 0;
        while t0.elapsed() < Duration::from_secs(10) && !self.finished.load(Ordering::Relaxed) {
            let mut index = None;
            for _ in 0..self.n {
                starts = (starts + 1) % self.n;
                let rf = {
                    let p = self.peers.lock();
                    if p.connected[starts] {
                        p.rafts[starts].clone()
                    } else {
                        None
                    }
                };
                if let Some(rf) = rf {
                    let (index1, _, ok) = rf.start(command.clone());
                    if ok {
                        index = Some(index1);
                        break;
                    }
                }
            }
            match index {
                Some(index) => {
                    // Somebody claimed to be the leader and to have submitted our command.
                    let t1 = Instant::now();
                    while t1.elapsed() < Duration::from_secs(2) {
                        let (nd, cmd1) = self.n_committed(index);
                        if nd > 0 && nd >= expected_servers && cmd1.as_ref() == Some(&cmd) {
                            return index;
                        }
                        thread::sleep(Duration::from_millis(20));
                    }
                    if !retry {
                        panic!("one({cmd}) failed to reach agreement");
                    }
                }
                None => thread::sleep(Duration::from_millis(50)),
            }
        }
        panic!("one({cmd}) failed to reach agreement");
    }

    /// Prints the test's description and takes the statistics `end` reports.
    pub fn begin(&self, description: &str) {
        println!("{description} ...");
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
        println!(
            "  ... Passed --  {t:4.1}  {} {nrpc:4} {nbytes:7} {ncmds:4}",
            self.n
        );
    }

    /// Go's `cleanup`: kill every peer and shut the network down.
    fn cleanup(&self) {
        self.finished.store(true, Ordering::Relaxed);
        let rafts: Vec<Raft> = self.peers.lock().rafts.iter().flatten().cloned().collect();
        for rf in rafts {
            rf.kill();
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
        let test = thread::current().name().unwrap_or("test").to_string();
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
        if let Some(err) = late_failure {
            panic!("{err}");
        }
    }
}
