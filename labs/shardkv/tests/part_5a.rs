//! Lab 5A's shardkv tests: ports of Go's `TestStaticShards5A` and `TestRejection5A`
//! (`shardkv/test_test.go`, 2024): the groups serve the shards of a static configuration,
//! each only its own.

mod common;

use std::thread;
use std::time::Duration;

use common::{begin, check, make_config, passed};
use raft::crossbeam_channel::{self, RecvTimeoutError};
use tester::randstring;

/// Collects the Gets' reports for as long as each comes within 2 s of the last, failing at the
/// first error; returns how many completed.
fn count_completions(ch: &crossbeam_channel::Receiver<Result<(), String>>) -> usize {
    let mut ndone = 0;
    loop {
        match ch.recv_timeout(Duration::from_secs(2)) {
            Ok(Ok(())) => ndone += 1,
            Ok(Err(err)) => panic!("{err}"),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return ndone,
        }
    }
}

/// Go's `TestStaticShards5A`: static 2-way sharding, without shard movement.
#[test]
fn static_shards_5a() {
    let cfg = make_config(3, false, None);
    begin("Test (5A): static shards ...");
    let mut ck = cfg.make_client(&cfg.ctl());

    cfg.join(0);
    cfg.join(1);

    let n = 10;
    let ka: Vec<String> = (0..n).map(|i| i.to_string()).collect(); // ensure multiple shards
    let va: Vec<String> = (0..n).map(|_| randstring(20)).collect();
    for i in 0..n {
        ck.put(&ka[i], &va[i]);
    }
    for i in 0..n {
        check(&mut ck, &ka[i], &va[i]);
    }

    // Make sure that the data really is sharded by shutting down one shard and checking that
    // some Get()s don't succeed.
    cfg.shutdown_group(1);
    cfg.checklogs(); // forbid snapshots

    let (tx, ch) = crossbeam_channel::unbounded();
    for xi in 0..n {
        let mut ck1 = cfg.make_client(&cfg.ctl()); // only one call allowed per client
        let (tx, key, value) = (tx.clone(), ka[xi].clone(), va[xi].clone());
        thread::spawn(move || {
            let v = ck1.get(&key);
            let report = if v != value {
                Err(format!("Get({key}): expected:\n{value}\nreceived:\n{v}"))
            } else {
                Ok(())
            };
            let _ = tx.send(report);
        });
    }

    // Wait a bit, only about half the Gets should succeed.
    let ndone = count_completions(&ch);
    assert!(
        ndone == n / 2,
        "expected {} completions with one shard dead; got {ndone}",
        n / 2
    );

    // Bring the crashed shard/group back to life.
    cfg.start_group(1);
    for i in 0..n {
        check(&mut ck, &ka[i], &va[i]);
    }
    passed();
}

/// Go's `TestRejection5A`: do servers reject operations on shards for which they are not
/// responsible?
#[test]
fn rejection_5a() {
    let cfg = make_config(3, false, None);
    begin("Test (5A): rejection ...");
    let mut ck = cfg.make_client(&cfg.ctl());

    cfg.join(0);
    cfg.join(1);

    let n = 10;
    let ka: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let va: Vec<String> = (0..n).map(|_| randstring(20)).collect();
    for i in 0..n {
        ck.put(&ka[i], &va[i]);
    }
    for i in 0..n {
        check(&mut ck, &ka[i], &va[i]);
    }

    // Now create a separate controller that thinks there is only one group, handling all
    // shards. The k/v servers talk to the original controller, so the k/v servers still think
    // the shards are divided between the two k/v groups.
    let ctl1 = cfg.start_ctrler_service();
    cfg.ctljoin(0, &ctl1);

    // Ask clients that talk to ctl1 to fetch keys. They'll send all requests to a single k/v
    // group. Half the requests should be rejected due to being sent to a k/v group that
    // doesn't think it is handling the shard.
    let (tx, ch) = crossbeam_channel::unbounded();
    for xi in 0..n {
        let mut ck1 = cfg.make_client(&ctl1);
        let (tx, key, value) = (tx.clone(), ka[xi].clone(), va[xi].clone());
        thread::spawn(move || {
            let v = ck1.get(&key);
            let report = if v == value {
                Ok(())
            } else if v.is_empty() {
                // If v is "", it probably means that a k/v group returned a value for a key
                // even though that key's shard wasn't assigned to the group.
                Err(format!(
                    "Get({key}): returned a value, but server should have rejected the request due to wrong shard"
                ))
            } else {
                Err(format!("Get({key}): expected:\n{value}\nreceived:\n{v}"))
            };
            let _ = tx.send(report);
        });
    }

    // Wait a bit, only about half the Gets should succeed.
    let ndone = count_completions(&ch);
    assert!(
        ndone == n / 2,
        "expected {} completions; got {ndone}",
        n / 2
    );
    passed();
}
