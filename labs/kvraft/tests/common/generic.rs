//! The tests most of lab 4 is made of: Go's `GenericTest` (clients appending and reading for
//! three rounds of five seconds, with an unreliable network, crashes, partitions and snapshots
//! as asked, then the append and linearizability checks) and `GenericTestSpeed` (a thousand
//! Appends, faster than one per heartbeat), with the client threads (`spawn_clients_and_wait`)
//! and the partitioner they share.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use raft::crossbeam_channel::{self, Receiver};
use rand::RngExt;
use tester::linearizability::{self, OpLog};
use tester::process;

use super::{
    Client, Config, ELECTION_TIMEOUT, append, check_clnt_appends, get, make_config, next_value, put,
};

/// The parameters of Go's `GenericTest(t, part, nclients, nservers, unreliable, crash,
/// partitions, maxraftstate, randomkeys)`.
pub struct GenericTest {
    /// "4A" or "4B", for the title.
    pub part: &'static str,
    pub nclients: usize,
    pub nservers: usize,
    /// The network drops RPC requests and replies.
    pub unreliable: bool,
    /// The servers crash after each round and restart, so persistence must work.
    pub crash: bool,
    /// The network is repartitioned concurrently with the clients and servers.
    pub partitions: bool,
    /// `Some(n)`: the Raft state must stay within 8 × n bytes; `None` (Go's -1): snapshots
    /// must not be used.
    pub maxraftstate: Option<usize>,
    /// The clients read and write random keys (and so do Puts), instead of one key each.
    pub randomkeys: bool,
}

/// Starts `ncli` clients, each a thread with a clerk of its own connected to every server,
/// running `f(cli, clerk)`; the `cli`th receiver yields what it returned. A client that panics
/// drops its sender without a value (and its panic is reported at once by `tester::process`).
pub fn spawn_clients<T, F>(cfg: &Config, ncli: usize, f: F) -> Vec<Receiver<T>>
where
    T: Send + 'static,
    F: Fn(usize, &mut Client) -> T + Send + Sync + 'static,
{
    let f = Arc::new(f);
    (0..ncli)
        .map(|cli| {
            let (tx, rx) = crossbeam_channel::bounded(1);
            let cfg = cfg.handle();
            let f = Arc::clone(&f);
            // Go's `run_client`: a client runs the function f and then signals it is done.
            thread::Builder::new()
                .name(format!("client-{cli}"))
                .spawn(move || {
                    let mut ck = cfg.make_client(&cfg.all());
                    let out = f(cli, &mut ck);
                    let _ = tx.send(out);
                    cfg.delete_client(ck);
                })
                .expect("spawn a client");
            rx
        })
        .collect()
}

/// Go's `spawn_clients_and_wait`: [`spawn_clients`], then wait for every one to finish.
///
/// # Panics
/// With Go's `failure` when a client failed.
pub fn spawn_clients_and_wait<F>(cfg: &Config, ncli: usize, f: F)
where
    F: Fn(usize, &mut Client) + Send + Sync + 'static,
{
    for (cli, done) in spawn_clients(cfg, ncli, f).into_iter().enumerate() {
        if done.recv().is_err() {
            panic!("failure: client {cli} failed");
        }
    }
}

/// Go's `partitioner`: repartitions the servers at random every second or so until `done`.
fn spawn_partitioner(cfg: Config, done: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name("partitioner".into())
        .spawn(move || {
            let mut rng = rand::rng();
            while !done.load(Ordering::Relaxed) {
                let a: Vec<usize> = (0..cfg.n()).map(|_| rng.random_range(0..2)).collect();
                let pa: Vec<Vec<usize>> = (0..2)
                    .map(|side| (0..cfg.n()).filter(|&j| a[j] == side).collect())
                    .collect();
                cfg.partition(&pa[0], &pa[1]);
                let jitter = Duration::from_millis(rng.random_range(0..200));
                thread::sleep(ELECTION_TIMEOUT + jitter);
            }
        })
        .expect("spawn the partitioner")
}

/// Go's `GenericTest`: one or more clients submitting Append/Get operations to a set of
/// servers for some period of time. After the period is over, the test checks that all
/// appended values are present and in order for a particular key. If `unreliable` is set,
/// RPCs may fail. If `crash` is set, the servers crash after the period is over and restart.
/// If `partitions` is set, the test repartitions the network concurrently with the clients and
/// servers. If `maxraftstate` is a number, the size of the state for Raft (i.e., log size)
/// shouldn't exceed 8 × maxraftstate. If it is `None`, snapshots shouldn't be used.
pub fn generic_test(test: GenericTest) {
    let GenericTest {
        part,
        nclients,
        nservers,
        unreliable,
        crash,
        partitions,
        maxraftstate,
        randomkeys,
    } = test;
    let mut title = String::from("Test: ");
    if unreliable {
        // The network drops RPC requests and replies.
        title += "unreliable net, ";
    }
    if crash {
        // Peers re-start, and thus persistence must work.
        title += "restarts, ";
    }
    if partitions {
        // The network may partition.
        title += "partitions, ";
    }
    if maxraftstate.is_some() {
        title += "snapshots, ";
    }
    if randomkeys {
        title += "random keys, ";
    }
    if nclients > 1 {
        title += "many clients";
    } else {
        title += "one client";
    }
    title += &format!(" ({part})");

    let cfg = make_config(nservers, unreliable, maxraftstate);
    cfg.begin(&title);
    let op_log = Arc::new(OpLog::new());

    let mut ck = cfg.make_client(&cfg.all());

    let done_partitioner = Arc::new(AtomicBool::new(false));
    let done_clients = Arc::new(AtomicBool::new(false));
    for _ in 0..3 {
        done_clients.store(false, Ordering::Relaxed);
        done_partitioner.store(false, Ordering::Relaxed);
        let clnts = {
            let handle = cfg.handle();
            let op_log = Arc::clone(&op_log);
            let done_clients = Arc::clone(&done_clients);
            spawn_clients(&cfg, nclients, move |cli, myck| {
                let cfg = &handle;
                let mut j = 0;
                let record = Some((&*op_log, cli as u32));
                let mut last = String::new(); // only used when not randomkeys
                if !randomkeys {
                    put(cfg, myck, &cli.to_string(), &last, record);
                }
                let mut rng = rand::rng();
                while !done_clients.load(Ordering::Relaxed) {
                    let key = if randomkeys {
                        rng.random_range(0..nclients).to_string()
                    } else {
                        cli.to_string()
                    };
                    let nv = format!("x {cli} {j} y");
                    if rng.random_range(0..1000) < 500 {
                        append(cfg, myck, &key, &nv, record);
                        if !randomkeys {
                            last = next_value(&last, &nv);
                        }
                        j += 1;
                    } else if randomkeys && rng.random_range(0..1000) < 100 {
                        // Only with random keys: it would break the check after a Get.
                        put(cfg, myck, &key, &nv, record);
                        j += 1;
                    } else {
                        let v = get(cfg, myck, &key, record);
                        // The check only makes sense when we're not using random keys.
                        assert!(
                            randomkeys || v == last,
                            "get wrong value, key {key}, wanted:\n{last}\n, got\n{v}\n"
                        );
                    }
                }
                j
            })
        };

        let partitioner = if partitions {
            // Allow the clients to perform some operations without interruption.
            thread::sleep(Duration::from_secs(1));
            Some(spawn_partitioner(
                cfg.handle(),
                Arc::clone(&done_partitioner),
            ))
        } else {
            None
        };
        thread::sleep(Duration::from_secs(5));

        done_clients.store(true, Ordering::Relaxed); // tell clients to quit
        done_partitioner.store(true, Ordering::Relaxed); // tell partitioner to quit

        if let Some(partitioner) = partitioner {
            // The partitioner only partitions and sleeps: it is sure to finish.
            if partitioner.join().is_err() {
                panic!("the partitioner failed");
            }
            // Reconnect the network and submit a request. A client may have submitted a
            // request in a minority. That request won't return until that server discovers
            // a new term has started.
            cfg.connect_all();
            // Wait for a while so that we have a new term.
            thread::sleep(ELECTION_TIMEOUT);
        }

        if crash {
            for i in 0..nservers {
                cfg.shutdown_server(i);
            }
            // Wait for a while for servers to shutdown, since shutdown isn't a real crash and
            // isn't instantaneous.
            thread::sleep(ELECTION_TIMEOUT);
            // Crash and re-start all.
            for i in 0..nservers {
                cfg.start_server(i);
            }
            cfg.connect_all();
        }

        // Wait for the clients.
        for (i, clnt) in clnts.iter().enumerate() {
            let Ok(j) = clnt.recv() else {
                panic!("failure: client {i} failed");
            };
            let key = i.to_string();
            let v = get(&cfg, &mut ck, &key, Some((&op_log, 0)));
            if !randomkeys {
                check_clnt_appends(i, &v, j);
            }
        }

        if let Some(maxraftstate) = maxraftstate {
            // Check maximum after the servers have processed all client requests and had time
            // to checkpoint.
            let sz = cfg.log_size();
            assert!(
                sz <= 8 * maxraftstate,
                "logs were not trimmed ({sz} > 8*{maxraftstate})"
            );
        } else {
            // Check that snapshots are not used.
            let ssz = cfg.snapshot_size();
            assert!(
                ssz == 0,
                "snapshot too large ({ssz}), should not be used when maxraftstate = -1"
            );
        }
    }

    linearizability::assert_linearizable(&process::test_name(), &op_log.read());

    cfg.end();
}

/// Go's `GenericTestSpeed`: ops are committed fast enough, better than one per heartbeat
/// interval.
pub fn generic_test_speed(part: &str, maxraftstate: Option<usize>) {
    const NSERVERS: usize = 3;
    const NUM_OPS: u32 = 1000;
    let cfg = make_config(NSERVERS, false, maxraftstate);

    let mut ck = cfg.make_client(&cfg.all());

    cfg.begin(&format!("Test: ops complete fast enough ({part})"));

    // Wait until the first op completes, so we know a leader is elected and the KV servers
    // are ready to process client requests.
    ck.clerk.get("x");

    let start = Instant::now();
    for i in 0..NUM_OPS {
        ck.clerk.append("x", &format!("x 0 {i} y"));
    }
    let dur = start.elapsed();

    let v = ck.clerk.get("x");
    check_clnt_appends(0, &v, NUM_OPS as usize);

    // The heartbeat interval should be ~100 ms; require at least 3 ops per interval.
    const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(100);
    const OPS_PER_INTERVAL: u32 = 3;
    const TIME_PER_OP: Duration = HEARTBEAT_INTERVAL
        .checked_div(OPS_PER_INTERVAL)
        .expect("OPS_PER_INTERVAL is not 0");
    assert!(
        dur <= TIME_PER_OP * NUM_OPS,
        "Operations completed too slowly {:?}/op > {TIME_PER_OP:?}/op",
        dur / NUM_OPS
    );

    cfg.end();
}
