//! The [`Config`]: Go's kvraft `config` struct and its wiring. `make_config` starts the
//! servers on one network; `shutdown_server` and `start_server` crash and restart one with its
//! persisted state; `partition` splits the servers in two; `make_client` gives a clerk ends of
//! its own, which `connect_client` and `disconnect_client` enable and disable; `begin` and `end`
//! print the lab's lines; `Drop` is Go's `cleanup`, and reports a failed test's seed and
//! timeline.
//!
//! The test's threads (its clients, the partitioner) each hold a [`Config::handle`]: the same
//! servers, network and counters, but only the test's own `Config` cleans up when dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use kvraft::KvServer;
use parking_lot::Mutex;
use raft::Persister;
use raft::crossbeam_channel::{self, Receiver, RecvTimeoutError, Sender};
use rand::RngExt;
use tester::timeline::{self, Timeline};
use tester::{TEST_TIME_LIMIT, process, randstring, say};

use super::tlog;

/// Which clerk: the key of Go's `clerks map[*Clerk][]string`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientId(usize);

/// A clerk with ends of its own (Go's `*Clerk` as `makeClient` returns it). Call the clerk
/// through [`get`](super::get), [`put`](super::put) and [`append`](super::append) to count
/// the operation, or directly (`ck.clerk.get(..)`) as Go's speed test does.
pub struct Client {
    /// The clerk under test.
    pub clerk: kvraft::Clerk,
    id: ClientId,
}

impl Client {
    /// Which clerk this is, for `connect_client` and `disconnect_client` from another thread.
    pub fn id(&self) -> ClientId {
        self.id
    }
}

/// Go's fields under `cfg.mu`: the servers and the names of everyone's ends.
struct Wiring {
    kvservers: Vec<Option<KvServer>>,
    saved: Vec<Arc<Persister>>,
    /// `endnames[i][j]`: the name of the end server `i` calls server `j` through.
    endnames: Vec<Vec<String>>,
    /// Per clerk: the names of its ends, the `j`th connected to server `j`.
    clerks: HashMap<ClientId, Vec<String>>,
    next_client_id: usize,
}

/// What the test and its threads share.
struct Shared {
    n: usize,
    net: labrpc::Network,
    maxraftstate: Option<usize>,
    /// When the test got its turn: the 120 s count from here (Go's `start`).
    start: Instant,
    wiring: Mutex<Wiring>,
    /// `begin`'s time and RPC count (Go's `t0`, `rpcs0`).
    begin: Mutex<Option<(Instant, usize)>>,
    /// Clerk operations since `begin` (Go's `ops`).
    ops: AtomicUsize,
    timeline: Arc<Timeline>,
}

/// What only the test's own `Config` holds: its cleanup.
struct Owner {
    /// Dropped at cleanup, which stops the watchdog and the sampler.
    stop: Option<Sender<()>>,
    sampler: Option<thread::JoinHandle<()>>,
    /// This test's turn (see `tester::process`): the last field, released after the cleanup.
    _turn: process::Turn,
}

/// Go's kvraft `config`.
pub struct Config {
    shared: Arc<Shared>,
    /// `None` in a [`Config::handle`].
    owner: Option<Owner>,
}

/// Go's `random_handles`: the ends in a random order.
fn random_handles(kvh: &[labrpc::ClientEnd]) -> Vec<labrpc::ClientEnd> {
    let mut sa = kvh.to_vec();
    let mut rng = rand::rng();
    for i in 0..sa.len() {
        let j = rng.random_range(0..=i);
        sa.swap(i, j);
    }
    sa
}

/// Go's `make_config`: `n` servers snapshotting at `maxraftstate` bytes of Raft state (`None`:
/// never, Go's -1), all connected, on a network as reliable as asked (no long delays: "kv
/// tests require the client to try each server in fairly rapid succession"). Waits first for
/// any other test of the process to finish.
pub fn make_config(n: usize, unreliable: bool, maxraftstate: Option<usize>) -> Config {
    let turn = process::serialise();
    raft::init_logging();
    let net = labrpc::Network::new();
    let timeline = Arc::new(Timeline::new(n));
    let shared = Arc::new(Shared {
        n,
        net,
        maxraftstate,
        start: Instant::now(),
        wiring: Mutex::new(Wiring {
            kvservers: vec![None; n],
            saved: (0..n).map(|_| Arc::new(Persister::new())).collect(),
            endnames: vec![Vec::new(); n],
            clerks: HashMap::new(),
            // "client ids start 1000 above the highest serverid"
            next_client_id: n + 1000,
        }),
        begin: Mutex::new(None),
        ops: AtomicUsize::new(0),
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
    tlog!(
        "make_config: {n} servers, unreliable={unreliable}, maxraftstate={maxraftstate:?}, seed {seed}"
    );
    // Create a full set of KV servers.
    for i in 0..n {
        cfg.start_server(i);
    }
    cfg.connect_all();
    cfg.shared.net.set_reliable(!unreliable);
    cfg.note(format!("unreliable = {unreliable}"));
    cfg
}

/// Polls every live server's `raft().get_state()` for the timeline.
fn spawn_sampler(shared: Arc<Shared>, stop: Receiver<()>) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name("test-sampler".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(timeline::SAMPLE_EVERY) {
                let servers = shared.wiring.lock().kvservers.clone();
                for (i, kv) in servers.iter().enumerate() {
                    if let Some(kv) = kv {
                        let (term, leader) = kv.raft().get_state();
                        shared.timeline.observed(i, term, leader);
                    }
                }
            }
        })
        .expect("spawn the sampler")
}

impl Config {
    /// A handle on the same servers, network and counters, for one of the test's threads
    /// (a client, the partitioner). Dropping it cleans nothing up.
    pub fn handle(&self) -> Config {
        Config {
            shared: Arc::clone(&self.shared),
            owner: None,
        }
    }

    /// The number of servers.
    pub fn n(&self) -> usize {
        self.shared.n
    }

    /// Go's `All`: every server.
    pub fn all(&self) -> Vec<usize> {
        (0..self.shared.n).collect()
    }

    fn note(&self, text: String) {
        tlog!("{text}");
        self.shared.timeline.note(text);
    }

    /// Go's `checkTimeout`: "enforce a two minute real-time limit on each test".
    fn timeout_error(&self) -> Option<String> {
        (self.shared.start.elapsed() > TEST_TIME_LIMIT).then(|| {
            format!(
                "test took longer than {} seconds",
                TEST_TIME_LIMIT.as_secs()
            )
        })
    }

    fn check_timeout(&self) {
        if let Some(err) = self.timeout_error() {
            panic!("{err}");
        }
    }

    /// Go's `LogSize`: the largest persisted Raft state among the servers.
    pub fn log_size(&self) -> usize {
        let w = self.shared.wiring.lock();
        w.saved
            .iter()
            .map(|s| s.raft_state_size())
            .max()
            .unwrap_or(0)
    }

    /// Go's `SnapshotSize`: the largest snapshot among the servers.
    pub fn snapshot_size(&self) -> usize {
        let w = self.shared.wiring.lock();
        w.saved.iter().map(|s| s.snapshot_size()).max().unwrap_or(0)
    }

    /// Go's `connectUnlocked`: attaches server `i` to the servers in `to`, both ways.
    fn connect_locked(&self, w: &Wiring, i: usize, to: &[usize]) {
        // Outgoing socket files.
        for &j in to {
            self.shared.net.enable(&w.endnames[i][j], true);
        }
        // Incoming socket files.
        for &j in to {
            self.shared.net.enable(&w.endnames[j][i], true);
        }
    }

    /// Go's `disconnectUnlocked`: detaches server `i` from the servers in `from`, both ways.
    fn disconnect_locked(&self, w: &Wiring, i: usize, from: &[usize]) {
        for &j in from {
            if let Some(name) = w.endnames[i].get(j) {
                self.shared.net.enable(name, false);
            }
        }
        for &j in from {
            if let Some(name) = w.endnames[j].get(i) {
                self.shared.net.enable(name, false);
            }
        }
    }

    /// Go's `ConnectAll`: every server to every server.
    pub fn connect_all(&self) {
        let w = self.shared.wiring.lock();
        let all = self.all();
        for i in 0..self.shared.n {
            self.connect_locked(&w, i, &all);
        }
        drop(w);
        for i in 0..self.shared.n {
            self.shared.timeline.connected(i, true);
        }
        self.note("connect all".into());
    }

    /// Go's `partition`: two partitions, with connectivity only inside each. On the timeline,
    /// the servers outside a majority are drawn cut off.
    pub fn partition(&self, p1: &[usize], p2: &[usize]) {
        let w = self.shared.wiring.lock();
        for &i in p1 {
            self.disconnect_locked(&w, i, p2);
            self.connect_locked(&w, i, p1);
        }
        for &i in p2 {
            self.disconnect_locked(&w, i, p1);
            self.connect_locked(&w, i, p2);
        }
        drop(w);
        let majority = self.shared.n / 2 + 1;
        for group in [p1, p2] {
            for &i in group {
                self.shared.timeline.connected(i, group.len() >= majority);
            }
        }
        self.note(format!("partition {p1:?} | {p2:?}"));
    }

    /// Go's `makeClient`: a clerk with a fresh set of ends to all the servers, in a random
    /// order, of which only those to the servers in `to` are enabled for now.
    pub fn make_client(&self, to: &[usize]) -> Client {
        let mut w = self.shared.wiring.lock();
        // A fresh set of ClientEnds.
        let endnames: Vec<String> = (0..self.shared.n).map(|_| randstring(20)).collect();
        let ends = labcluster::connect_ends(&self.shared.net, &endnames);
        let clerk = kvraft::Clerk::new(random_handles(&ends));
        let id = ClientId(w.next_client_id);
        w.next_client_id += 1;
        w.clerks.insert(id, endnames);
        self.connect_client_locked(&w, id, to);
        drop(w);
        tlog!("make_client: clerk {} to {to:?}", id.0);
        Client { clerk, id }
    }

    /// Go's `deleteClient`: forgets the clerk and removes its ends from the network.
    pub fn delete_client(&self, ck: Client) {
        let names = self.shared.wiring.lock().clerks.remove(&ck.id);
        for name in names.iter().flatten() {
            self.shared.net.delete_end(name);
        }
    }

    fn connect_client_locked(&self, w: &Wiring, id: ClientId, to: &[usize]) {
        let endnames = &w.clerks[&id];
        for &j in to {
            self.shared.net.enable(&endnames[j], true);
        }
    }

    /// Go's `ConnectClient`: enables the clerk's ends to the servers in `to`.
    pub fn connect_client(&self, id: ClientId, to: &[usize]) {
        let w = self.shared.wiring.lock();
        self.connect_client_locked(&w, id, to);
        drop(w);
        self.note(format!("connect clerk {} to {to:?}", id.0));
    }

    /// Go's `DisconnectClient`: disables the clerk's ends to the servers in `from`.
    pub fn disconnect_client(&self, id: ClientId, from: &[usize]) {
        let w = self.shared.wiring.lock();
        let endnames = &w.clerks[&id];
        for &j in from {
            self.shared.net.enable(&endnames[j], false);
        }
        drop(w);
        self.note(format!("disconnect clerk {} from {from:?}", id.0));
    }

    /// Go's `ShutdownServer`: isolates server `i`, removes it from the network, and kills it;
    /// its persisted state stays for `start_server`.
    pub fn shutdown_server(&self, i: usize) {
        let kv = {
            let mut w = self.shared.wiring.lock();
            let all = self.all();
            self.disconnect_locked(&w, i, &all);
            // Disable client connections to the server. It's important to do this before
            // creating the new Persister in saved[i], to avoid the possibility of the server
            // returning a positive reply to an Append but persisting the result in the
            // superseded Persister.
            self.shared.net.delete_server(&i.to_string());
            // A fresh persister, in case the old instance continues to update the Persister,
            // but with the old persister's content, so that we always pass `start` the last
            // persisted state.
            w.saved[i] = Arc::new(w.saved[i].copy());
            w.kvservers[i].take()
        };
        // Killed outside the lock, as Go does: kill joins the server's threads.
        if let Some(kv) = kv {
            kv.kill();
        }
        self.shared.timeline.connected(i, false);
        self.shared.timeline.alive(i, false);
        self.note(format!("shut down S{i}"));
    }

    /// Go's `StartServer`: starts server `i` from its persisted state, with fresh end names so
    /// an earlier instance's ends can reach no one. Shut it down first if it runs; it is not
    /// connected until `connect_all` or `partition`.
    pub fn start_server(&self, i: usize) {
        let (ends, persister) = {
            let mut w = self.shared.wiring.lock();
            // A fresh set of outgoing ClientEnd names.
            w.endnames[i] = (0..self.shared.n).map(|_| randstring(20)).collect();
            // A fresh set of ClientEnds.
            let ends = labcluster::connect_ends(&self.shared.net, &w.endnames[i]);
            // A fresh persister, so the old instance doesn't overwrite the new instance's
            // persisted state, with a copy of the old persister's state.
            w.saved[i] = Arc::new(w.saved[i].copy());
            (ends, Arc::clone(&w.saved[i]))
        };
        // The lab's `start`, unless LAB_LEVERS turns on some of the real cluster's levers.
        let levers = tester::levers::Levers::from_env();
        let options = rsm::Options {
            raft: raft::Options {
                group_commit: levers.group_commit,
                pipeline: levers.pipeline,
            },
            read_index: levers.read_index,
        };
        let kv = KvServer::start_with(ends, i, persister, self.shared.maxraftstate, options);
        let server = labrpc::Server::new();
        server.add_service(kv.service());
        server.add_service(kv.raft().service());
        self.shared.wiring.lock().kvservers[i] = Some(kv);
        self.shared.net.add_server(&i.to_string(), server);
        self.shared.timeline.alive(i, true);
        self.note(format!("start S{i}"));
    }

    /// Go's `Leader`: a server whose Raft peer believes it leads, if any.
    pub fn leader(&self) -> Option<usize> {
        let servers = self.shared.wiring.lock().kvservers.clone();
        servers
            .iter()
            .position(|kv| kv.as_ref().is_some_and(|kv| kv.raft().get_state().1))
    }

    /// Go's `make_partition`: two groups, a majority and a minority, with the current leader
    /// (server 0 if none) in the minority.
    pub fn make_partition(&self) -> (Vec<usize>, Vec<usize>) {
        let n = self.shared.n;
        let l = self.leader().unwrap_or(0);
        let mut p1 = Vec::with_capacity(n / 2 + 1);
        let mut p2 = Vec::with_capacity(n / 2);
        for i in (0..n).filter(|&i| i != l) {
            if p1.len() < n / 2 + 1 {
                p1.push(i);
            } else {
                p2.push(i);
            }
        }
        p2.push(l);
        (p1, p2)
    }

    /// Go's `rpcTotal`: every call made on the network.
    pub fn rpc_total(&self) -> usize {
        self.shared.net.get_total_count()
    }

    /// Prints the test's description and takes the statistics `end` reports.
    pub fn begin(&self, description: &str) {
        say(format_args!("{description} ..."));
        self.note(format!("begin: {description}"));
        *self.shared.begin.lock() = Some((Instant::now(), self.rpc_total()));
        self.shared.ops.store(0, Ordering::Relaxed);
    }

    /// Go's `op`: counts one clerk operation.
    pub fn op(&self) {
        self.shared.ops.fetch_add(1, Ordering::Relaxed);
    }

    /// Prints Go's Passed line: seconds, servers, RPCs, clerk operations.
    pub fn end(&self) {
        self.check_timeout();
        let (t0, rpcs0) = self.shared.begin.lock().expect("end() without begin()");
        let t = t0.elapsed().as_secs_f64();
        let npeers = self.shared.n;
        let nrpc = self.rpc_total() - rpcs0;
        let ops = self.shared.ops.load(Ordering::Relaxed);
        say(format_args!(
            "  ... Passed --  {t:4.1}  {npeers} {nrpc:5} {ops:4}"
        ));
    }

    /// Go's `cleanup`: kill every server and shut the network down.
    fn cleanup(&self, owner: &mut Owner) {
        let servers: Vec<KvServer> = {
            let mut w = self.shared.wiring.lock();
            w.kvservers.iter_mut().filter_map(Option::take).collect()
        };
        for kv in servers {
            kv.kill();
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
        let test = process::test_name();
        // A test that got this far without panicking can still fail here, as Go's cleanup does.
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
            match self.shared.timeline.write(&test, outcome) {
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
