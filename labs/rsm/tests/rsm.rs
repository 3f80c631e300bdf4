//! The course's tests of the rsm layer (`kvraft1/rsm/rsm_test.go`, 2025), on the counter of
//! `common/counter.rs`. Go's 4A tests keep their part; its 4C (the snapshot test) is our 4B.
//! `cargo test -p rsm --test rsm` runs them, one at a time, as Go does.

mod common;

use std::thread;
use std::time::Duration;

use common::{NSEC, NSRV, Op, Reply, make_test};

/// Go's TestBasic4A: each server executes the increments and updates its counter.
#[test]
fn rsm_basic_4a() {
    const NINC: u64 = 10;
    let ts = make_test(None);
    ts.begin("Test RSM basic");

    for i in 0..NINC {
        let n = ts.one_inc();
        assert_eq!(n, i + 1, "expected {} instead of {n}", i + 1);
        ts.check_counter(n, NSRV);
    }
}

/// Go's TestConcurrent4A: submitting concurrently.
#[test]
fn rsm_concurrent_4a() {
    const NINC: u64 = 50;
    let ts = make_test(None);
    ts.begin("Test concurrent submit");

    thread::scope(|s| {
        for _ in 0..NINC {
            s.spawn(|| ts.one_inc());
        }
    });
    ts.check_counter(NINC, NSRV);
}

/// Go's TestLeaderFailure4A: the servers execute increments after the leader is disconnected
/// and reconnected.
#[test]
fn rsm_leader_failure_4a() {
    let ts = make_test(None);
    ts.begin("Test Leader Failure");

    let n = ts.one_inc();
    ts.check_counter(n, NSRV);

    let l = ts.disconnect_leader();
    let n = ts.one_inc();
    ts.check_counter(n, NSRV - 1);

    ts.connect_one(l);
    ts.check_counter(n, NSRV);
}

/// Go's TestLeaderPartition4A: a leader partitioned into a minority commits nothing.
#[test]
fn rsm_leader_partition_4a() {
    const NSUBMIT: usize = 100;
    let ts = make_test(None);
    ts.begin("Test Leader Partition");

    // Submit an Inc.
    let n = ts.one_inc();
    ts.check_counter(n, NSRV);

    // Partition the leader (as Go, carry on with server 0 if no server claims to lead).
    let l = ts.leader().unwrap_or(0);
    let (p1, p2) = ts.make_partition(l);
    ts.partition(&p1, &p2);

    // Submit many Decs concurrently to the old leader: many `Raft::start`s, none of which
    // should commit and be executed.
    let old_leader = ts.rsm(l).expect("the leader runs");
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    thread::spawn(move || {
        let submits: Vec<_> = (0..NSUBMIT)
            .map(|i| {
                let rsm = old_leader.clone();
                thread::spawn(move || (i, rsm.submit(&Op::Dec)))
            })
            .collect();
        let completed: Vec<String> = submits
            .into_iter()
            .filter_map(|h| match h.join().expect("a submitting thread panicked") {
                (i, Ok(reply)) => Some(format!("Submit {i} in minority completed {reply:?}")),
                (_, Err(_)) => None,
            })
            .collect();
        let _ = done_tx.send(completed);
    });

    // Give the old leader some time to submit.
    thread::sleep(Duration::from_millis(10));

    // Submit an Inc in the majority.
    let reply = ts.one_partition(Some(&p1), Op::Inc);
    let Some(Reply::Inc { n }) = reply else {
        panic!("the majority did not apply an Inc within {NSEC:?}: {reply:?}");
    };

    if let Ok(completed) = done_rx.recv_timeout(Duration::from_secs(1)) {
        panic!("Dec's in minority completed; Submit returns {completed:?}");
    }

    // Reconnect the leader: with three servers, that heals the partition.
    ts.connect_one(l);

    match done_rx.recv_timeout(Duration::from_secs(1)) {
        Ok(completed) => assert!(completed.is_empty(), "{}", completed.join("; ")),
        Err(_) => panic!("Submit after healing didn't return"),
    }

    // Every replica has the same count.
    ts.check_counter(n, NSRV);
}

/// The start of Go's TestRestartReplay4A and TestRestartSubmit4A: `ninc` Incs, each seen by
/// every server; all servers shut down and restarted a second later; one more Inc, which must
/// count on from the replayed log; then a second's pause. Returns that Inc's count.
fn incs_then_restart(ts: &common::Test, ninc: u64) -> u64 {
    for i in 0..ninc {
        let n = ts.one_inc();
        assert_eq!(n, i + 1, "expected {} instead of {n}", i + 1);
        ts.check_counter(n, NSRV);
    }

    ts.shutdown();
    thread::sleep(Duration::from_secs(1));
    ts.start_servers();

    // Submit an Inc.
    let n = ts.one_inc();
    assert_eq!(n, ninc + 1, "expected {} got {n}", ninc + 1);

    thread::sleep(Duration::from_secs(1));
    n
}

/// Go's TestRestartReplay4A: a restart replays the Incs.
#[test]
fn rsm_restart_replay_4a() {
    const NINC: u64 = 100;
    let ts = make_test(None);
    ts.begin("Test Restart");

    let n = incs_then_restart(&ts, NINC);
    ts.check_counter(n, NSRV);
}

/// Submits `nsubmit` Nulls concurrently, shuts every server down 20 ms later, and checks
/// that every submit has returned within `NSEC` + 1 s (Go's TestShutdown4A, and the middle
/// of TestRestartSubmit4A).
fn submit_nulls_and_shut_down(ts: &common::Test, nsubmit: usize) {
    thread::scope(|s| {
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        s.spawn(move || {
            thread::scope(|s| {
                for _ in 0..nsubmit {
                    s.spawn(|| ts.one_null());
                }
            });
            let _ = done_tx.send(());
        });

        // Give some time to submit.
        thread::sleep(Duration::from_millis(20));

        ts.shutdown();

        if done_rx.recv_timeout(NSEC + Duration::from_secs(1)).is_err() {
            // Kill what is left before failing, or the scope would wait for the threads.
            ts.cleanup();
            panic!("Submit didn't stop after shutdown");
        }
    });
}

/// Go's TestShutdown4A: `submit` returns once the servers are shut down.
#[test]
fn rsm_shutdown_4a() {
    const NSUBMIT: usize = 100;
    let ts = make_test(None);
    ts.begin("Test Shutdown");

    submit_nulls_and_shut_down(&ts, NSUBMIT);
}

/// Go's TestRestartSubmit4A: operations submitted after a restart are not confused with those
/// submitted before the shutdown.
#[test]
fn rsm_restart_submit_4a() {
    const NINC: u64 = 100;
    const NSUBMIT: usize = 100;
    let ts = make_test(None);
    ts.begin("Test Restart and submit");

    incs_then_restart(&ts, NINC);

    submit_nulls_and_shut_down(&ts, NSUBMIT);

    ts.start_servers();
    let n = ts.one_inc();
    ts.check_counter(n, NSRV);
}

/// Go's TestSnapshot4C: snapshots keep the log short, and restarted servers restore them.
#[test]
fn rsm_snapshot_4b() {
    const N: u64 = 100;
    const MAXRAFTSTATE: usize = 1000;
    let ts = make_test(Some(MAXRAFTSTATE));
    ts.begin("Test creating and restoring snapshot");

    for _ in 0..N {
        ts.one_inc();
    }
    ts.check_counter(N, NSRV);

    let sz = ts.log_size();
    assert!(
        sz <= 2 * MAXRAFTSTATE,
        "logs were not trimmed ({sz} > 2 * {MAXRAFTSTATE})"
    );

    // The servers must have made snapshots by now: shut them all down and restart them from
    // a snapshot.
    ts.shutdown();
    ts.start_servers();

    // Make the restarted servers do one increment.
    ts.one_inc();

    ts.check_counter(N + 1, NSRV);
}
