//! Lab 4B: the key/value service with snapshots (maxraftstate 1000). Go's `TestSnapshotRPC4B`
//! ... `TestSnapshotUnreliableRecoverConcurrentPartitionLinearizable4B` (2024), with the same
//! parameters, bodies and bounds.

mod common;

use std::thread;

use common::generic::{GenericTest, generic_test, generic_test_speed};
use common::{ELECTION_TIMEOUT, check, make_config, put};

/// The Raft state at which the 4B servers snapshot.
const MAXRAFTSTATE: usize = 1000;

/// Go's `GenericTest(t, "4B", nclients, nservers, unreliable, crash, partitions, 1000,
/// randomkeys)`.
fn generic_4b(
    nclients: usize,
    nservers: usize,
    unreliable: bool,
    crash: bool,
    partitions: bool,
    randomkeys: bool,
) {
    generic_test(GenericTest {
        part: "4B",
        nclients,
        nservers,
        unreliable,
        crash,
        partitions,
        maxraftstate: Some(MAXRAFTSTATE),
        randomkeys,
    });
}

/// If one server falls behind, then rejoins, does it recover by using the InstallSnapshot
/// RPC? Also checks that the majority discards committed log entries even if the minority
/// doesn't respond.
#[test]
fn snapshot_rpc_4b() {
    const NSERVERS: usize = 3;
    let maxraftstate = MAXRAFTSTATE;
    let cfg = make_config(NSERVERS, false, Some(maxraftstate));

    let mut ck = cfg.make_client(&cfg.all());

    cfg.begin("Test: InstallSnapshot RPC (4B)");

    put(&cfg, &mut ck, "a", "A", None);
    check(&cfg, &mut ck, "a", "A");

    // A bunch of puts into the majority partition.
    cfg.partition(&[0, 1], &[2]);
    {
        let mut ck1 = cfg.make_client(&[0, 1]);
        for i in 0..50 {
            put(&cfg, &mut ck1, &i.to_string(), &i.to_string(), None);
        }
        thread::sleep(ELECTION_TIMEOUT);
        put(&cfg, &mut ck1, "b", "B", None);
    }

    // Check that the majority partition has thrown away most of its log entries.
    let sz = cfg.log_size();
    assert!(
        sz <= 8 * maxraftstate,
        "logs were not trimmed ({sz} > 8*{maxraftstate})"
    );

    // Now make a group that requires participation of the lagging server, so that it has to
    // catch up.
    cfg.partition(&[0, 2], &[1]);
    {
        let mut ck1 = cfg.make_client(&[0, 2]);
        put(&cfg, &mut ck1, "c", "C", None);
        put(&cfg, &mut ck1, "d", "D", None);
        check(&cfg, &mut ck1, "a", "A");
        check(&cfg, &mut ck1, "b", "B");
        check(&cfg, &mut ck1, "1", "1");
        check(&cfg, &mut ck1, "49", "49");
    }

    // Now everybody.
    cfg.partition(&[0, 1, 2], &[]);

    put(&cfg, &mut ck, "e", "E", None);
    check(&cfg, &mut ck, "c", "C");
    check(&cfg, &mut ck, "e", "E");
    check(&cfg, &mut ck, "1", "1");

    cfg.end();
}

/// Are the snapshots not too huge? 500 bytes is a generous bound for the operations we're
/// doing here.
#[test]
fn snapshot_size_4b() {
    const NSERVERS: usize = 3;
    let maxraftstate = MAXRAFTSTATE;
    let maxsnapshotstate = 500;
    let cfg = make_config(NSERVERS, false, Some(maxraftstate));

    let mut ck = cfg.make_client(&cfg.all());

    cfg.begin("Test: snapshot size is reasonable (4B)");

    for _ in 0..200 {
        put(&cfg, &mut ck, "x", "0", None);
        check(&cfg, &mut ck, "x", "0");
        put(&cfg, &mut ck, "x", "1", None);
        check(&cfg, &mut ck, "x", "1");
    }

    // Check that the servers have thrown away most of their log entries.
    let sz = cfg.log_size();
    assert!(
        sz <= 8 * maxraftstate,
        "logs were not trimmed ({sz} > 8*{maxraftstate})"
    );

    // Check that the snapshots are not unreasonably large.
    let ssz = cfg.snapshot_size();
    assert!(
        ssz <= maxsnapshotstate,
        "snapshot too large ({ssz} > {maxsnapshotstate})"
    );

    cfg.end();
}

#[test]
fn speed_4b() {
    generic_test_speed("4B", Some(MAXRAFTSTATE));
}

#[test]
fn snapshot_recover_4b() {
    // Test: restarts, snapshots, one client (4B) ...
    generic_4b(1, 5, false, true, false, false);
}

#[test]
fn snapshot_recover_many_clients_4b() {
    // Test: restarts, snapshots, many clients (4B) ...
    generic_4b(20, 5, false, true, false, false);
}

#[test]
fn snapshot_unreliable_4b() {
    // Test: unreliable net, snapshots, many clients (4B) ...
    generic_4b(5, 5, true, false, false, false);
}

#[test]
fn snapshot_unreliable_recover_4b() {
    // Test: unreliable net, restarts, snapshots, many clients (4B) ...
    generic_4b(5, 5, true, true, false, false);
}

#[test]
fn snapshot_unreliable_recover_concurrent_partition_4b() {
    // Test: unreliable net, restarts, partitions, snapshots, many clients (4B) ...
    generic_4b(5, 5, true, true, true, false);
}

#[test]
fn snapshot_unreliable_recover_concurrent_partition_linearizable_4b() {
    // Test: unreliable net, restarts, partitions, snapshots, random keys, many clients (4B) ...
    generic_4b(15, 7, true, true, true, true);
}
