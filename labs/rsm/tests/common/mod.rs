//! The harness of rsm's tests: a port of the course's `kvraft1/rsm/test.go` (2025) with the
//! part of `tester1` it uses (the server group of `group.go` and `srv.go`).
//!
//! A [`Test`] runs [`NSRV`] servers, each an [`Rsm`] of the test's [`Counter`], on one reliable
//! labrpc network, wired as Go's tester wires them: server `i` is the labrpc server `"i"`
//! serving its Raft peer's service; it calls server `j` through an end of its own, with a
//! fresh name at every start, so a shut-down instance's ends reach no one; each server has a
//! persister that a shutdown copies, so the dying instance writes to an orphan and the next
//! start gets the last persisted state. The tests submit to the servers directly (there is no
//! clerk): `one_partition` tries each connected server until one applies the operation.
//!
//! [`make_test`] waits for the process's other tests to finish (Go runs tests one at a time),
//! installs the tester's panic hook and watchdog, and starts and connects every server;
//! dropping the test prints Go's `Passed` line (unless it failed), kills every server, shuts
//! the network down, and on failure prints the labrpc seed and writes the timeline.

pub mod counter;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use labrpc::Network;
use parking_lot::Mutex;
use raft::Persister;
use rsm::Rsm;
use tester::timeline::{self, Timeline};
use tester::{TEST_TIME_LIMIT, process, say};

pub use counter::{Counter, Op, Reply};

/// Go's `NSRV`: servers per test.
pub const NSRV: usize = 3;
/// Go's `NSEC`: how long `one_partition` keeps trying before it gives up.
pub const NSEC: Duration = Duration::from_secs(10);

/// The servers and their wiring (Go's `ServerGrp` and its `Server`s), changed by starts,
/// shutdowns and partitions.
struct Group {
    /// The running instance of each server; `None` before its start and after its shutdown
    /// (Go's `rsmSrv.rsm = nil`).
    servers: Vec<Option<Rsm<Counter>>>,
    /// Whether each server is on the net (Go's `connected`).
    connected: Vec<bool>,
    /// Each server's persisted state, which outlives its instances (Go's `saved`).
    saved: Vec<Arc<Persister>>,
    /// `end_names[i][j]`: the end server `i` calls server `j` through (empty until `i` starts).
    end_names: Vec<Vec<String>>,
    /// Starts so far, of all servers: numbers each start, so that every end name is new.
    starts: u64,
}

/// Go's `Test`: the servers, the network, and the statistics of `begin`.
pub struct Test {
    net: Network,
    maxraftstate: Option<usize>,
    group: Arc<Mutex<Group>>,
    /// The server that last applied an operation: tried first (Go's `ts.leader`).
    leader: Mutex<usize>,
    /// When `begin` was called, and the RPC count then.
    begin: Mutex<Option<(Instant, usize)>>,
    /// Operations `one_partition` had applied since `begin` (Go's `#Ops` counts clerk calls,
    /// which these tests have none of).
    ops: AtomicUsize,
    started: Instant,
    timeline: Arc<Timeline>,
    /// Dropped at cleanup, which stops the watchdog and the sampler.
    stop: Mutex<Option<Sender<()>>>,
    sampler: Mutex<Option<JoinHandle<()>>>,
    /// This test's turn (see `tester::process`): the last field, released after the cleanup.
    _turn: process::Turn,
}

/// Go's `makeTest`: [`NSRV`] servers, started and connected, snapshotting at `maxraftstate`
/// bytes of Raft state (`None`: never, Go's -1).
pub fn make_test(maxraftstate: Option<usize>) -> Test {
    let turn = process::serialise();
    raft::init_logging();
    let net = Network::new();
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    let ts = Test {
        net,
        maxraftstate,
        group: Arc::new(Mutex::new(Group {
            servers: vec![None; NSRV],
            connected: vec![false; NSRV],
            saved: (0..NSRV).map(|_| Arc::new(Persister::new())).collect(),
            end_names: vec![Vec::new(); NSRV],
            starts: 0,
        })),
        leader: Mutex::new(0),
        begin: Mutex::new(None),
        ops: AtomicUsize::new(0),
        started: Instant::now(),
        timeline: Arc::new(Timeline::new(NSRV)),
        stop: Mutex::new(Some(stop_tx)),
        sampler: Mutex::new(None),
        _turn: turn,
    };
    process::register(ts.net.seed(), Arc::clone(&ts.timeline));
    process::spawn_watchdog(
        stop_rx.clone(),
        TEST_TIME_LIMIT,
        ts.net.seed(),
        Arc::clone(&ts.timeline),
    );
    let (group, observed) = (Arc::clone(&ts.group), Arc::clone(&ts.timeline));
    let sampler = timeline::spawn_sampler(stop_rx, move || {
        // Every running server's `get_state`, asked without the group's lock.
        let rafts: Vec<_> = group
            .lock()
            .servers
            .iter()
            .map(|s| s.as_ref().map(Rsm::raft))
            .collect();
        for (i, rf) in rafts.iter().enumerate() {
            if let Some(rf) = rf {
                let (term, leader) = rf.get_state();
                observed.observed(i, term, leader);
            }
        }
    });
    *ts.sampler.lock() = Some(sampler);
    ts.start_servers();
    ts
}

/// Whether server `s` is in `p` (every server is in `None`: no partition).
fn in_partition(s: usize, p: Option<&[usize]>) -> bool {
    p.is_none_or(|p| p.contains(&s))
}

impl Test {
    /// Prints Go's `Test ... (reliable network)...` line and takes the statistics for the
    /// `Passed` line.
    pub fn begin(&self, description: &str) {
        say(format_args!("{description} (reliable network)..."));
        self.timeline.note(description);
        *self.begin.lock() = Some((Instant::now(), self.net.get_total_count()));
        self.ops.store(0, Ordering::Relaxed);
    }

    /// Go's `onePartition`: submits `op` to each connected server of partition `p` in turn,
    /// the last one that answered first, until one applies it; gives up after [`NSEC`].
    pub fn one_partition(&self, p: Option<&[usize]>, op: Op) -> Option<Reply> {
        let t0 = Instant::now();
        while t0.elapsed() < NSEC {
            let mut index = *self.leader.lock();
            for _ in 0..NSRV {
                if self.is_connected(index)
                    && in_partition(index, p)
                    && let Some(rsm) = self.rsm(index)
                    && let Ok(reply) = rsm.submit(&op)
                {
                    *self.leader.lock() = index;
                    self.ops.fetch_add(1, Ordering::Relaxed);
                    return Some(reply);
                }
                index = (index + 1) % NSRV;
            }
            thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Go's `oneInc`: one increment, applied; the count it answered.
    ///
    /// # Panics
    /// If no server applied it within [`NSEC`] (Go's test then dereferences a nil reply).
    pub fn one_inc(&self) -> u64 {
        match self.one_partition(None, Op::Inc) {
            Some(Reply::Inc { n }) => n,
            Some(other) => panic!("an Inc answered {other:?}"),
            None => panic!("no server applied an Inc within {NSEC:?}"),
        }
    }

    /// Go's `oneNull`: one `Null`, applied; `None` if no server applied it within [`NSEC`]
    /// (as expected once the servers are shut down).
    pub fn one_null(&self) -> Option<Reply> {
        self.one_partition(None, Op::Null)
    }

    /// Go's `checkCounter`: waits (about 15 s at most, backing off) until `nsrv` servers have
    /// counted to `v`.
    ///
    /// # Panics
    /// If they never do.
    pub fn check_counter(&self, v: u64, nsrv: usize) {
        let mut to = Duration::from_millis(10);
        let mut n = 0;
        for _ in 0..30 {
            n = self.count_value(v);
            if n >= nsrv {
                return;
            }
            thread::sleep(to);
            if to < Duration::from_secs(1) {
                to *= 2;
            }
        }
        panic!("checkCounter: only {n} srvs have {v} instead of {nsrv}");
    }

    /// How many running servers have counted to `v`, read with `Rsm::inspect`.
    fn count_value(&self, v: u64) -> usize {
        let servers: Vec<_> = self
            .group
            .lock()
            .servers
            .iter()
            .flatten()
            .cloned()
            .collect();
        servers
            .iter()
            .filter(|rsm| rsm.inspect(|counter| counter.n) == v)
            .count()
    }

    /// Server `i`'s running instance, if it runs.
    pub fn rsm(&self, i: usize) -> Option<Rsm<Counter>> {
        self.group.lock().servers[i].clone()
    }

    /// Go's `Leader`: the first running server whose Raft peer believes it leads.
    pub fn leader(&self) -> Option<usize> {
        (0..NSRV).find(|&i| self.rsm(i).is_some_and(|rsm| rsm.raft().get_state().1))
    }

    /// Go's `disconnectLeader`: cuts off the server that last applied an operation.
    pub fn disconnect_leader(&self) -> usize {
        let l = *self.leader.lock();
        self.disconnect_all(l);
        l
    }

    /// The largest persisted Raft state among the servers (Go's `LogSize`).
    pub fn log_size(&self) -> usize {
        let g = self.group.lock();
        g.saved
            .iter()
            .map(|s| s.raft_state_size())
            .max()
            .unwrap_or(0)
    }

    // ---- Go's ServerGrp ----

    /// Go's `StartServer`: starts server `i` from its persisted state, with fresh ends to
    /// every server, still disconnected. Shut its running instance down first.
    pub fn start_server(&self, i: usize) {
        let mut g = self.group.lock();
        assert!(g.servers[i].is_none(), "start_server({i}) while it runs");
        g.starts += 1;
        let generation = g.starts;
        g.end_names[i] = (0..NSRV)
            .map(|j| format!("{i}->{j}#{generation}"))
            .collect();
        let ends = labcluster::connect_ends(&self.net, &g.end_names[i]);
        // A copy, so what this instance writes is its own from here on.
        g.saved[i] = Arc::new(g.saved[i].copy());
        let rsm = Rsm::start(ends, i, Arc::clone(&g.saved[i]), self.maxraftstate);
        labcluster::serve(&self.net, i, &rsm.raft());
        g.servers[i] = Some(rsm);
        self.timeline.alive(i, true);
    }

    /// Go's `StartServers`: starts every server, then connects them all.
    pub fn start_servers(&self) {
        (0..NSRV).for_each(|i| self.start_server(i));
        (0..NSRV).for_each(|i| self.connect_one(i));
        self.timeline.note("start all servers");
    }

    /// Go's `ShutdownServer`: cuts server `i` off, removes its labrpc server (so no reply of
    /// the dying instance gets through), copies its persister, and kills it.
    pub fn shutdown_server(&self, i: usize) {
        self.disconnect_all(i);
        self.net.delete_server(&i.to_string());
        let rsm = {
            let mut g = self.group.lock();
            g.saved[i] = Arc::new(g.saved[i].copy());
            g.servers[i].take()
        };
        if let Some(rsm) = rsm {
            rsm.kill();
        }
        self.timeline.alive(i, false);
    }

    /// Go's `Shutdown`: shuts every server down.
    pub fn shutdown(&self) {
        self.timeline.note("shut down all servers");
        (0..NSRV).for_each(|i| self.shutdown_server(i));
    }

    /// Go's `ConnectOne`: attaches server `i` to every connected server, both ways.
    pub fn connect_one(&self, i: usize) {
        self.connect(i, &(0..NSRV).collect::<Vec<_>>());
    }

    /// Go's `DisconnectAll`: detaches server `i` from every server, both ways.
    pub fn disconnect_all(&self, i: usize) {
        self.disconnect(i, &(0..NSRV).collect::<Vec<_>>());
    }

    /// Go's `connect`: marks `i` connected and enables its ends to, and the ends from, every
    /// connected server in `to`.
    fn connect(&self, i: usize, to: &[usize]) {
        let mut g = self.group.lock();
        g.connected[i] = true;
        for &j in to {
            if g.connected[j] {
                if let Some(name) = g.end_names[i].get(j) {
                    self.net.enable(name, true);
                }
                if let Some(name) = g.end_names[j].get(i) {
                    self.net.enable(name, true);
                }
            }
        }
        drop(g);
        self.timeline.connected(i, true);
    }

    /// Go's `disconnect`: marks `i` disconnected and disables its ends to, and the ends from,
    /// every server in `from`.
    fn disconnect(&self, i: usize, from: &[usize]) {
        let mut g = self.group.lock();
        g.connected[i] = false;
        for &j in from {
            if let Some(name) = g.end_names[i].get(j) {
                self.net.enable(name, false);
            }
            if let Some(name) = g.end_names[j].get(i) {
                self.net.enable(name, false);
            }
        }
        drop(g);
        self.timeline.connected(i, false);
    }

    /// Whether server `i` is on the net.
    pub fn is_connected(&self, i: usize) -> bool {
        self.group.lock().connected[i]
    }

    /// Go's `MakePartition`: a majority without `l`, and a minority ending with `l`.
    pub fn make_partition(&self, l: usize) -> (Vec<usize>, Vec<usize>) {
        let mut others = (0..NSRV).filter(|&i| i != l);
        let p1: Vec<usize> = others.by_ref().take(NSRV / 2 + 1).collect();
        let mut p2: Vec<usize> = others.collect();
        p2.push(l);
        (p1, p2)
    }

    /// Go's `Partition`: each side connected within itself and cut off from the other.
    pub fn partition(&self, p1: &[usize], p2: &[usize]) {
        self.timeline.note(format!("partition {p1:?} | {p2:?}"));
        for &i in p1 {
            self.disconnect(i, p2);
            self.connect(i, p1);
        }
        for &i in p2 {
            self.disconnect(i, p1);
            self.connect(i, p2);
        }
    }

    /// Go's `Cleanup`: kills every server and shuts the network down. Safe to call twice; a
    /// test that is about to fail calls it first, to free threads still submitting.
    pub fn cleanup(&self) {
        let servers: Vec<_> = self
            .group
            .lock()
            .servers
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        servers.iter().for_each(Rsm::kill);
        self.net.cleanup();
    }
}

impl Drop for Test {
    fn drop(&mut self) {
        let failed = thread::panicking();
        // Go's `CheckTimeout`, for a test the watchdog did not catch in time.
        let late = !failed && self.started.elapsed() > TEST_TIME_LIMIT;
        if !failed && !late {
            // Go's `End`: the Passed line, with seconds, peers, RPCs and operations.
            let begin = *self.begin.lock();
            let (t0, rpcs0) = begin.expect("the test called begin()");
            say(format_args!(
                "  ... Passed --  time {:4.1}s #peers {NSRV} #RPCs {:5} #Ops {:4}",
                t0.elapsed().as_secs_f64(),
                self.net.get_total_count() - rpcs0,
                self.ops.load(Ordering::Relaxed)
            ));
        }
        self.cleanup();
        self.stop.lock().take();
        if let Some(sampler) = self.sampler.lock().take() {
            let _ = sampler.join();
        }
        if failed || late {
            let seed = self.net.seed();
            eprintln!("labrpc seed: {seed} (rerun with LABRPC_SEED={seed})");
            match self.timeline.write(&process::test_name(), "FAILED") {
                Ok(path) => eprintln!("timeline: {}", path.display()),
                Err(e) => eprintln!("timeline: cannot write it: {e}"),
            }
        }
        process::unregister();
        if late {
            panic!(
                "test took longer than {} seconds",
                TEST_TIME_LIMIT.as_secs()
            );
        }
    }
}
