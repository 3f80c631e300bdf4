//! The [`Config`]: Go's kvraft `config` struct. `make_config` starts the servers on one
//! network, as a `tester::group::ServerGrp`, which shuts down, restarts, connects and
//! partitions them; `make_client` gives a clerk ends of its own, which `connect_client` and
//! `disconnect_client` enable and disable; `begin` and `end` print the lab's lines; `Drop` is
//! Go's `cleanup`, and reports a failed test's seed and timeline.
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
use raft::crossbeam_channel::{self, Sender};
use tester::group::{Replica, ServerGrp, random_handles};
use tester::timeline::{self, Timeline};
use tester::{TEST_TIME_LIMIT, process, say};

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

/// Go's `clerks` and `nextClientId`, under `cfg.mu`.
struct Clerks {
    /// Per clerk: the names of its ends, the `j`th connected to server `j`.
    endnames: HashMap<ClientId, Vec<String>>,
    next_client_id: usize,
}

/// What the test and its threads share.
struct Shared {
    net: labrpc::Network,
    /// The servers, their persisters and their ends.
    group: ServerGrp,
    /// When the test got its turn: the 120 s count from here (Go's `start`).
    start: Instant,
    clerks: Mutex<Clerks>,
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

/// Go's `make_config`: `n` servers snapshotting at `maxraftstate` bytes of Raft state (`None`:
/// never, Go's -1), all connected, on a network as reliable as asked (no long delays: "kv
/// tests require the client to try each server in fairly rapid succession"). Waits first for
/// any other test of the process to finish.
pub fn make_config(n: usize, unreliable: bool, maxraftstate: Option<usize>) -> Config {
    let turn = process::serialise();
    raft::init_logging();
    let net = labrpc::Network::new();
    let timeline = Arc::new(Timeline::new(n));
    let group = ServerGrp::new(
        &net,
        None,
        n,
        Arc::clone(&timeline),
        0,
        move |ends, me, p| start_kv_server(ends, me, p, maxraftstate),
    );
    let shared = Arc::new(Shared {
        net,
        group,
        start: Instant::now(),
        clerks: Mutex::new(Clerks {
            endnames: HashMap::new(),
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
    let sampler = {
        let shared = Arc::clone(&shared);
        timeline::spawn_sampler(stop_rx, move || shared.group.observe())
    };
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
    cfg.shared.group.start_servers();
    cfg.shared.net.set_reliable(!unreliable);
    cfg.note(format!("unreliable = {unreliable}"));
    cfg
}

/// Go's `StartKVServer`, as the server group starts a server: the lab's, unless `LAB_LEVERS`
/// turns on some of the real cluster's levers.
fn start_kv_server(
    ends: Vec<labrpc::ClientEnd>,
    me: usize,
    persister: Arc<raft::Persister>,
    maxraftstate: Option<usize>,
) -> Replica {
    let levers = tester::levers::Levers::from_env();
    let options = rsm::Options {
        raft: raft::Options {
            stream_snapshots: levers.stream_snapshots,
            ..levers.raft_options()
        },
        read_index: levers.read_index,
        snapshot_growth: None,
        background_snapshots: levers.background_snapshots,
    };
    let kv = KvServer::start_with(ends, me, persister, maxraftstate, options);
    Replica {
        services: vec![kv.service(), kv.raft().service()],
        raft: kv.raft(),
        kill: Box::new(move || kv.kill()),
    }
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
        self.shared.group.n()
    }

    /// Go's `All`: every server.
    pub fn all(&self) -> Vec<usize> {
        self.shared.group.all()
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
        self.shared.group.log_size()
    }

    /// Go's `SnapshotSize`: the largest snapshot among the servers.
    pub fn snapshot_size(&self) -> usize {
        self.shared.group.snapshot_size()
    }

    /// Go's `ConnectAll`: every server to every server.
    pub fn connect_all(&self) {
        self.shared.group.connect_all();
    }

    /// Go's `partition`: two partitions, with connectivity only inside each.
    pub fn partition(&self, p1: &[usize], p2: &[usize]) {
        self.shared.group.partition(p1, p2);
    }

    /// Go's `make_partition`: a majority, and a minority with the current leader in it.
    pub fn make_partition(&self) -> (Vec<usize>, Vec<usize>) {
        self.shared.group.make_partition()
    }

    /// Go's `Leader`: a server whose Raft peer believes it leads, if any.
    pub fn leader(&self) -> Option<usize> {
        self.shared.group.leader()
    }

    /// Go's `ShutdownServer`: server `i` isolated, removed from the network and killed; its
    /// persisted state stays for `start_server`.
    pub fn shutdown_server(&self, i: usize) {
        self.shared.group.shutdown_server(i);
    }

    /// Go's `StartServer`: server `i` from its persisted state, not connected until
    /// `connect_all` or `partition`.
    pub fn start_server(&self, i: usize) {
        self.shared.group.start_server(i);
    }

    /// Go's `makeClient`: a clerk with a fresh set of ends to all the servers, in a random
    /// order, of which only those to the servers in `to` are enabled for now.
    pub fn make_client(&self, to: &[usize]) -> Client {
        // A fresh set of ClientEnds.
        let ends = self.shared.group.make_ends();
        let clerk = kvraft::Clerk::new(random_handles(&ends));
        let mut clerks = self.shared.clerks.lock();
        let id = ClientId(clerks.next_client_id);
        clerks.next_client_id += 1;
        let endnames = ends.iter().map(|end| end.name().to_string()).collect();
        clerks.endnames.insert(id, endnames);
        self.connect_client_locked(&clerks, id, to);
        drop(clerks);
        tlog!("make_client: clerk {} to {to:?}", id.0);
        Client { clerk, id }
    }

    /// Go's `deleteClient`: forgets the clerk and removes its ends from the network.
    pub fn delete_client(&self, ck: Client) {
        let names = self.shared.clerks.lock().endnames.remove(&ck.id);
        for name in names.iter().flatten() {
            self.shared.net.delete_end(name);
        }
    }

    fn connect_client_locked(&self, clerks: &Clerks, id: ClientId, to: &[usize]) {
        let endnames = &clerks.endnames[&id];
        for &j in to {
            self.shared.net.enable(&endnames[j], true);
        }
    }

    /// Go's `ConnectClient`: enables the clerk's ends to the servers in `to`.
    pub fn connect_client(&self, id: ClientId, to: &[usize]) {
        let clerks = self.shared.clerks.lock();
        self.connect_client_locked(&clerks, id, to);
        drop(clerks);
        self.note(format!("connect clerk {} to {to:?}", id.0));
    }

    /// Go's `DisconnectClient`: disables the clerk's ends to the servers in `from`.
    pub fn disconnect_client(&self, id: ClientId, from: &[usize]) {
        let clerks = self.shared.clerks.lock();
        let endnames = &clerks.endnames[&id];
        for &j in from {
            self.shared.net.enable(&endnames[j], false);
        }
        drop(clerks);
        self.note(format!("disconnect clerk {} from {from:?}", id.0));
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
        let npeers = self.n();
        let nrpc = self.rpc_total() - rpcs0;
        let ops = self.shared.ops.load(Ordering::Relaxed);
        say(format_args!(
            "  ... Passed --  {t:4.1}  {npeers} {nrpc:5} {ops:4}"
        ));
    }

    /// Go's `cleanup`: kill every server and shut the network down.
    fn cleanup(&self, owner: &mut Owner) {
        self.shared.group.cleanup();
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
