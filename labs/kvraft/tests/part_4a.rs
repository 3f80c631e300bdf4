//! Lab 4A: a key/value service on Raft, without snapshots. Go's `TestBasic4A` ...
//! `TestPersistPartitionUnreliableLinearizable4A` (2024), with the same parameters, bodies
//! and bounds.

mod common;

use std::thread;
use std::time::Duration;

use common::generic::{GenericTest, generic_test, generic_test_speed, spawn_clients_and_wait};
use common::{ELECTION_TIMEOUT, append, check, check_concurrent_appends, get, make_config, put};
use raft::crossbeam_channel::{self, TryRecvError, select};

/// Go's `GenericTest(t, "4A", nclients, nservers, unreliable, crash, partitions, -1, randomkeys)`.
fn generic_4a(
    nclients: usize,
    nservers: usize,
    unreliable: bool,
    crash: bool,
    partitions: bool,
    randomkeys: bool,
) {
    generic_test(GenericTest {
        part: "4A",
        nclients,
        nservers,
        unreliable,
        crash,
        partitions,
        maxraftstate: None,
        randomkeys,
    });
}

#[test]
fn basic_4a() {
    // Test: one client (4A) ...
    generic_4a(1, 5, false, false, false, false);
}

#[test]
fn speed_4a() {
    generic_test_speed("4A", None);
}

#[test]
fn concurrent_4a() {
    // Test: many clients (4A) ...
    generic_4a(5, 5, false, false, false, false);
}

#[test]
fn unreliable_4a() {
    // Test: unreliable net, many clients (4A) ...
    generic_4a(5, 5, true, false, false, false);
}

#[test]
fn unreliable_one_key_4a() {
    const NSERVERS: usize = 3;
    let cfg = make_config(NSERVERS, true, None);

    let mut ck = cfg.make_client(&cfg.all());

    cfg.begin("Test: concurrent append to same key, unreliable (4A)");

    put(&cfg, &mut ck, "k", "", None);

    const NCLIENT: usize = 5;
    const UPTO: usize = 10;
    let handle = cfg.handle();
    spawn_clients_and_wait(&cfg, NCLIENT, move |me, myck| {
        for n in 0..UPTO {
            append(&handle, myck, "k", &format!("x {me} {n} y"), None);
        }
    });

    let counts = vec![UPTO; NCLIENT];

    let vx = get(&cfg, &mut ck, "k", None);
    check_concurrent_appends(&vx, &counts);

    cfg.end();
}

/// Submit a request in the minority partition and check that the requests don't go through
/// until the partition heals. The leader in the original network ends up in the minority
/// partition.
#[test]
fn one_partition_4a() {
    const NSERVERS: usize = 5;
    let cfg = make_config(NSERVERS, false, None);
    let mut ck = cfg.make_client(&cfg.all());

    put(&cfg, &mut ck, "1", "13", None);

    cfg.begin("Test: progress in majority (4A)");

    let (p1, p2) = cfg.make_partition();
    cfg.partition(&p1, &p2);

    let mut ckp1 = cfg.make_client(&p1); // connect ckp1 to p1
    let mut ckp2a = cfg.make_client(&p2); // connect ckp2a to p2
    let mut ckp2b = cfg.make_client(&p2); // connect ckp2b to p2

    put(&cfg, &mut ckp1, "1", "14", None);
    check(&cfg, &mut ckp1, "1", "14");

    cfg.end();

    let (done0_tx, done0) = crossbeam_channel::bounded(1);
    let (done1_tx, done1) = crossbeam_channel::bounded(1);

    cfg.begin("Test: no progress in minority (4A)");
    let (ckp2a_id, ckp2b_id) = (ckp2a.id(), ckp2b.id());
    // Not joined: if the minority serves them, the test fails while they may still run.
    let handle = cfg.handle();
    thread::spawn(move || {
        put(&handle, &mut ckp2a, "1", "15", None);
        let _ = done0_tx.send(());
    });
    let handle = cfg.handle();
    thread::spawn(move || {
        get(&handle, &mut ckp2b, "1", None); // different clerk in p2
        let _ = done1_tx.send(());
    });

    select! {
        recv(done0) -> done => match done {
            Ok(()) => panic!("Put in minority completed"),
            Err(_) => panic!("the minority Put's thread failed"),
        },
        recv(done1) -> done => match done {
            Ok(()) => panic!("Get in minority completed"),
            Err(_) => panic!("the minority Get's thread failed"),
        },
        default(Duration::from_secs(1)) => {}
    }

    check(&cfg, &mut ckp1, "1", "14");
    put(&cfg, &mut ckp1, "1", "16", None);
    check(&cfg, &mut ckp1, "1", "16");

    cfg.end();

    cfg.begin("Test: completion after heal (4A)");

    cfg.connect_all();
    cfg.connect_client(ckp2a_id, &cfg.all());
    cfg.connect_client(ckp2b_id, &cfg.all());

    thread::sleep(ELECTION_TIMEOUT);

    if done0.recv_timeout(30 * Duration::from_millis(100)).is_err() {
        panic!("Put did not complete");
    }

    // Go's select has a default case: it does not wait, and passes if the Get is not done
    // yet (its 3 s timeout never fires).
    if let Err(TryRecvError::Disconnected) = done1.try_recv() {
        panic!("the minority Get's thread failed");
    }

    check(&cfg, &mut ck, "1", "15");

    cfg.end();
}

#[test]
fn many_partitions_one_client_4a() {
    // Test: partitions, one client (4A) ...
    generic_4a(1, 5, false, false, true, false);
}

#[test]
fn many_partitions_many_clients_4a() {
    // Test: partitions, many clients (4A) ...
    generic_4a(5, 5, false, false, true, false);
}

#[test]
fn persist_one_client_4a() {
    // Test: restarts, one client (4A) ...
    generic_4a(1, 5, false, true, false, false);
}

#[test]
fn persist_concurrent_4a() {
    // Test: restarts, many clients (4A) ...
    generic_4a(5, 5, false, true, false, false);
}

#[test]
fn persist_concurrent_unreliable_4a() {
    // Test: unreliable net, restarts, many clients (4A) ...
    generic_4a(5, 5, true, true, false, false);
}

#[test]
fn persist_partition_4a() {
    // Test: restarts, partitions, many clients (4A) ...
    generic_4a(5, 5, false, true, true, false);
}

#[test]
fn persist_partition_unreliable_4a() {
    // Test: unreliable net, restarts, partitions, many clients (4A) ...
    generic_4a(5, 5, true, true, true, false);
}

#[test]
fn persist_partition_unreliable_linearizable_4a() {
    // Test: unreliable net, restarts, partitions, random keys, many clients (4A) ...
    generic_4a(15, 7, true, true, true, true);
}
