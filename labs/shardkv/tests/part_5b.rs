//! Lab 5B's shardkv tests and the two challenges: ports of Go's `TestJoinLeave5B` ...
//! `TestUnreliable3_5B`, `TestChallenge1Delete`, `TestChallenge2Unaffected` and
//! `TestChallenge2Partial` (`shardkv/test_test.go`, 2024): shards move between groups while
//! clerks use them, through crashes, restarts and an unreliable network.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::{Config, begin, check, make_config, passed};
use shardkv::key2shard;
use tester::linearizability::{self, KvOp, OpLog};
use tester::{rand_int, randstring};

fn sleep_ms(ms: u64) {
    thread::sleep(Duration::from_millis(ms));
}

/// `n` keys `"0"`, `"1"`, ... (one per shard) and their values, each `len` random characters,
/// put through `ck`.
fn put_keys(ck: &mut shardkv::Clerk, n: usize, len: usize) -> (Vec<String>, Vec<String>) {
    let ka: Vec<String> = (0..n).map(|i| i.to_string()).collect(); // ensure multiple shards
    let va: Vec<String> = (0..n).map(|_| randstring(len)).collect();
    for i in 0..n {
        ck.put(&ka[i], &va[i]);
    }
    (ka, va)
}

/// The loop Go's tests repeat after each change: every key still has its value, then gets
/// `len` random characters more.
fn check_and_append(ck: &mut shardkv::Clerk, ka: &[String], va: &mut [String], len: usize) {
    for (key, value) in ka.iter().zip(va.iter_mut()) {
        check(ck, key, value);
        let x = randstring(len);
        ck.append(key, &x);
        *value += &x;
    }
}

/// Go's appender goroutines (`ff`): one clerk per key, appending `len` random characters to it
/// (pausing `pause` after each) until `done`; each thread returns the key's value as it
/// should then be.
fn spawn_appenders(
    cfg: &Config,
    ka: &[String],
    va: Vec<String>,
    len: usize,
    pause: Option<Duration>,
    done: &Arc<AtomicBool>,
) -> Vec<JoinHandle<String>> {
    ka.iter()
        .cloned()
        .zip(va)
        .map(|(key, mut value)| {
            let (cfg, done) = (cfg.handle(), Arc::clone(done));
            thread::spawn(move || {
                let mut ck1 = cfg.make_client(&cfg.ctl());
                while !done.load(Ordering::Relaxed) {
                    let x = randstring(len);
                    ck1.append(&key, &x);
                    value += &x;
                    if let Some(pause) = pause {
                        thread::sleep(pause);
                    }
                }
                value
            })
        })
        .collect()
}

/// Go's `atomic.StoreInt32(&done, 1)` and the `<-ch` for each appender: the keys' values.
fn stop_appenders(done: &AtomicBool, appenders: Vec<JoinHandle<String>>) -> Vec<String> {
    done.store(true, Ordering::Relaxed);
    appenders
        .into_iter()
        .map(|h| h.join().expect("an appender panicked"))
        .collect()
}

/// Go's `TestJoinLeave5B`.
#[test]
fn join_leave_5b() {
    let cfg = make_config(3, false, None);
    begin("Test (5B): join then leave ...");
    let mut ck = cfg.make_client(&cfg.ctl());

    cfg.join(0);

    let n = 10;
    let (ka, mut va) = put_keys(&mut ck, n, 5);
    for i in 0..n {
        check(&mut ck, &ka[i], &va[i]);
    }

    cfg.join(1);

    check_and_append(&mut ck, &ka, &mut va, 5);

    cfg.leave(0);

    check_and_append(&mut ck, &ka, &mut va, 5);

    // Allow time for shards to transfer.
    sleep_ms(1000);

    cfg.checklogs();
    cfg.shutdown_group(0);

    for i in 0..n {
        check(&mut ck, &ka[i], &va[i]);
    }
    passed();
}

/// Go's `TestSnapshot5B`.
#[test]
fn snapshot_5b() {
    let cfg = make_config(3, false, Some(1000));
    begin("Test (5B): snapshots, join, and leave ...");
    let mut ck = cfg.make_client(&cfg.ctl());

    cfg.join(0);

    let n = 30;
    let (ka, mut va) = put_keys(&mut ck, n, 20);
    for i in 0..n {
        check(&mut ck, &ka[i], &va[i]);
    }

    cfg.join(1);
    cfg.join(2);
    cfg.leave(0);

    check_and_append(&mut ck, &ka, &mut va, 20);

    cfg.leave(1);
    cfg.join(0);

    check_and_append(&mut ck, &ka, &mut va, 20);

    sleep_ms(1000);

    for i in 0..n {
        check(&mut ck, &ka[i], &va[i]);
    }

    sleep_ms(1000);

    cfg.checklogs();

    cfg.shutdown_group(0);
    cfg.shutdown_group(1);
    cfg.shutdown_group(2);

    cfg.start_group(0);
    cfg.start_group(1);
    cfg.start_group(2);

    for i in 0..n {
        check(&mut ck, &ka[i], &va[i]);
    }
    passed();
}

/// Go's `TestMissChange5B`.
#[test]
fn miss_change_5b() {
    let cfg = make_config(3, false, Some(1000));
    begin("Test (5B): servers miss configuration changes...");
    let mut ck = cfg.make_client(&cfg.ctl());

    cfg.join(0);

    let n = 10;
    let (ka, mut va) = put_keys(&mut ck, n, 20);
    for i in 0..n {
        check(&mut ck, &ka[i], &va[i]);
    }

    cfg.join(1);

    cfg.shutdown_server(0, 0);
    cfg.shutdown_server(1, 0);
    cfg.shutdown_server(2, 0);

    cfg.join(2);
    cfg.leave(1);
    cfg.leave(0);

    check_and_append(&mut ck, &ka, &mut va, 20);

    cfg.join(1);

    check_and_append(&mut ck, &ka, &mut va, 20);

    cfg.start_server(0, 0);
    cfg.start_server(1, 0);
    cfg.start_server(2, 0);

    check_and_append(&mut ck, &ka, &mut va, 20);

    sleep_ms(2000);

    cfg.shutdown_server(0, 1);
    cfg.shutdown_server(1, 1);
    cfg.shutdown_server(2, 1);

    cfg.join(0);
    cfg.leave(2);

    check_and_append(&mut ck, &ka, &mut va, 20);

    cfg.start_server(0, 1);
    cfg.start_server(1, 1);
    cfg.start_server(2, 1);

    for i in 0..n {
        check(&mut ck, &ka[i], &va[i]);
    }
    passed();
}

/// Go's `TestConcurrent1_5B`.
#[test]
fn concurrent1_5b() {
    let cfg = make_config(3, false, Some(100));
    begin("Test (5B): concurrent puts and configuration changes...");
    let mut ck = cfg.make_client(&cfg.ctl());

    cfg.join(0);

    let n = 10;
    let (ka, va) = put_keys(&mut ck, n, 5);

    let done = Arc::new(AtomicBool::new(false));
    let appenders = spawn_appenders(&cfg, &ka, va, 5, Some(Duration::from_millis(10)), &done);

    sleep_ms(150);
    cfg.join(1);
    sleep_ms(500);
    cfg.join(2);
    sleep_ms(500);
    cfg.leave(0);

    cfg.shutdown_group(0);
    sleep_ms(100);
    cfg.shutdown_group(1);
    sleep_ms(100);
    cfg.shutdown_group(2);

    cfg.leave(2);

    sleep_ms(100);
    cfg.start_group(0);
    cfg.start_group(1);
    cfg.start_group(2);

    sleep_ms(100);
    cfg.join(0);
    cfg.leave(1);
    sleep_ms(500);
    cfg.join(1);

    sleep_ms(1000);

    let va = stop_appenders(&done, appenders);
    for i in 0..n {
        check(&mut ck, &ka[i], &va[i]);
    }
    passed();
}

/// Go's `TestConcurrent2_5B`: the various sources from which a re-starting group might need
/// to fetch shard contents.
#[test]
fn concurrent2_5b() {
    let cfg = make_config(3, false, None);
    begin("Test (5B): more concurrent puts and configuration changes...");
    let mut ck = cfg.make_client(&cfg.ctl());

    cfg.join(1);
    cfg.join(0);
    cfg.join(2);

    let n = 10;
    let (ka, va) = put_keys(&mut ck, n, 1);

    let done = Arc::new(AtomicBool::new(false));
    let appenders = spawn_appenders(&cfg, &ka, va, 1, Some(Duration::from_millis(50)), &done);

    cfg.leave(0);
    cfg.leave(2);
    sleep_ms(3000);
    cfg.join(0);
    cfg.join(2);
    cfg.leave(1);
    sleep_ms(3000);
    cfg.join(1);
    cfg.leave(0);
    cfg.leave(2);
    sleep_ms(3000);

    cfg.shutdown_group(1);
    cfg.shutdown_group(2);
    sleep_ms(1000);
    cfg.start_group(1);
    cfg.start_group(2);

    sleep_ms(2000);

    let va = stop_appenders(&done, appenders);
    for i in 0..n {
        check(&mut ck, &ka[i], &va[i]);
    }
    passed();
}

/// Go's `TestConcurrent3_5B`.
#[test]
fn concurrent3_5b() {
    let cfg = make_config(3, false, Some(300));
    begin("Test (5B): concurrent configuration change and restart...");
    let mut ck = cfg.make_client(&cfg.ctl());

    cfg.join(0);

    let n = 10;
    let (ka, va) = put_keys(&mut ck, n, 1);

    let done = Arc::new(AtomicBool::new(false));
    let appenders = spawn_appenders(&cfg, &ka, va, 1, None, &done);

    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(12) {
        cfg.join(2);
        cfg.join(1);
        sleep_ms(rand_int(900));
        cfg.shutdown_group(0);
        cfg.shutdown_group(1);
        cfg.shutdown_group(2);
        cfg.start_group(0);
        cfg.start_group(1);
        cfg.start_group(2);

        sleep_ms(rand_int(900));
        cfg.leave(1);
        cfg.leave(2);
        sleep_ms(rand_int(900));
    }

    sleep_ms(2000);

    let va = stop_appenders(&done, appenders);
    for i in 0..n {
        check(&mut ck, &ka[i], &va[i]);
    }
    passed();
}

/// Go's `TestUnreliable1_5B`.
#[test]
fn unreliable1_5b() {
    let cfg = make_config(3, true, Some(100));
    begin("Test (5B): unreliable 1...");
    let mut ck = cfg.make_client(&cfg.ctl());

    cfg.join(0);

    let n = 10;
    let (ka, mut va) = put_keys(&mut ck, n, 5);

    cfg.join(1);
    cfg.join(2);
    cfg.leave(0);

    for ii in 0..n * 2 {
        let i = ii % n;
        check(&mut ck, &ka[i], &va[i]);
        let x = randstring(5);
        ck.append(&ka[i], &x);
        va[i] += &x;
    }

    cfg.join(0);
    cfg.leave(1);

    for ii in 0..n * 2 {
        let i = ii % n;
        check(&mut ck, &ka[i], &va[i]);
    }
    passed();
}

/// Go's `TestUnreliable2_5B`.
#[test]
fn unreliable2_5b() {
    let cfg = make_config(3, true, Some(100));
    begin("Test (5B): unreliable 2...");
    let mut ck = cfg.make_client(&cfg.ctl());

    cfg.join(0);

    let n = 10;
    let (ka, va) = put_keys(&mut ck, n, 5);

    let done = Arc::new(AtomicBool::new(false));
    let appenders = spawn_appenders(&cfg, &ka, va, 5, None, &done);

    sleep_ms(150);
    cfg.join(1);
    sleep_ms(500);
    cfg.join(2);
    sleep_ms(500);
    cfg.leave(0);
    sleep_ms(500);
    cfg.leave(1);
    sleep_ms(500);
    cfg.join(1);
    cfg.join(0);

    sleep_ms(2000);

    done.store(true, Ordering::Relaxed);
    cfg.set_reliable(true);
    let va = stop_appenders(&done, appenders);
    for i in 0..n {
        check(&mut ck, &ka[i], &va[i]);
    }
    passed();
}

/// Go's `TestUnreliable3_5B`: as `unreliable2_5b`, with random Gets, Puts and Appends on
/// random keys, and the history checked for linearizability.
#[test]
fn unreliable3_5b() {
    let cfg = make_config(3, true, Some(100));
    begin("Test (5B): unreliable 3...");
    let log = Arc::new(OpLog::new());
    let mut ck = cfg.make_client(&cfg.ctl());

    cfg.join(0);

    let n = 10;
    let ka: Arc<Vec<String>> = Arc::new((0..n).map(|i| i.to_string()).collect());
    for key in ka.iter() {
        let value = randstring(5);
        let start = linearizability::now();
        ck.put(key, &value);
        let end = linearizability::now();
        let op = KvOp::Put {
            key: key.as_str().into(),
            value: value.as_str().into(),
        };
        log.record(0, start, end, op);
    }

    let done = Arc::new(AtomicBool::new(false));
    let clients: Vec<JoinHandle<()>> = (0..n)
        .map(|i| {
            let (cfg, done, log, ka) = (
                cfg.handle(),
                Arc::clone(&done),
                Arc::clone(&log),
                Arc::clone(&ka),
            );
            thread::spawn(move || {
                let mut ck1 = cfg.make_client(&cfg.ctl());
                while !done.load(Ordering::Relaxed) {
                    let key = &ka[rand_int(n as u64) as usize];
                    let nv = randstring(5);
                    let start = linearizability::now();
                    let op = if rand_int(1000) < 500 {
                        ck1.append(key, &nv);
                        KvOp::Append {
                            key: key.as_str().into(),
                            value: nv.as_str().into(),
                        }
                    } else if rand_int(1000) < 100 {
                        ck1.put(key, &nv);
                        KvOp::Put {
                            key: key.as_str().into(),
                            value: nv.as_str().into(),
                        }
                    } else {
                        let v = ck1.get(key);
                        KvOp::Get {
                            key: key.as_str().into(),
                            value: v.as_str().into(),
                        }
                    };
                    let end = linearizability::now();
                    log.record(i as u32, start, end, op);
                }
            })
        })
        .collect();

    sleep_ms(150);
    cfg.join(1);
    sleep_ms(500);
    cfg.join(2);
    sleep_ms(500);
    cfg.leave(0);
    sleep_ms(500);
    cfg.leave(1);
    sleep_ms(500);
    cfg.join(1);
    cfg.join(0);

    sleep_ms(2000);

    done.store(true, Ordering::Relaxed);
    cfg.set_reliable(true);
    for h in clients {
        h.join().expect("a client panicked");
    }

    linearizability::assert_linearizable(&tester::process::test_name(), &log.read());
    passed();
}

/// Go's `TestChallenge1Delete`: are servers deleting shards for which they are no longer
/// responsible?
#[test]
fn challenge1_delete_5b() {
    // "1" means force snapshot after every log entry.
    let cfg = make_config(3, false, Some(1));
    begin("Test: shard deletion (challenge 1) ...");
    let mut ck = cfg.make_client(&cfg.ctl());

    cfg.join(0);

    // 30,000 bytes of total values.
    let n = 30;
    let (ka, va) = put_keys(&mut ck, n, 1000);
    for i in 0..3 {
        check(&mut ck, &ka[i], &va[i]);
    }

    for _ in 0..2 {
        cfg.join(1);
        cfg.leave(0);
        cfg.join(2);
        sleep_ms(3000);
        for i in 0..3 {
            check(&mut ck, &ka[i], &va[i]);
        }
        cfg.leave(1);
        cfg.join(0);
        cfg.leave(2);
        sleep_ms(3000);
        for i in 0..3 {
            check(&mut ck, &ka[i], &va[i]);
        }
    }

    cfg.join(1);
    cfg.join(2);
    for _ in 0..3 {
        sleep_ms(1000);
        for i in 0..3 {
            check(&mut ck, &ka[i], &va[i]);
        }
    }

    let total = cfg.total_persisted();
    // 27 keys should be stored once. 3 keys should also be stored in client dup tables.
    // Everything on 3 replicas. Plus slop.
    let expected = 3 * (((n - 3) * 1000) + 2 * 3 * 1000 + 6000);
    assert!(
        total <= expected,
        "snapshot + persisted Raft state are too big: {total} > {expected}"
    );

    for i in 0..n {
        check(&mut ck, &ka[i], &va[i]);
    }
    passed();
}

/// Go's `TestChallenge2Unaffected`: can servers serve shards that a configuration change does
/// not affect while the change is under way?
#[test]
fn challenge2_unaffected_5b() {
    let cfg = make_config(3, true, Some(100));
    begin("Test: unaffected shard access (challenge 2) ...");
    let mut ck = cfg.make_client(&cfg.ctl());

    // JOIN 100
    cfg.join(0);

    // Do a bunch of puts to keys in all shards.
    let n = 10;
    let ka: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let mut va = vec!["100".to_string(); n];
    for i in 0..n {
        ck.put(&ka[i], &va[i]);
    }

    // JOIN 101
    cfg.join(1);

    // QUERY to find shards now owned by 101.
    let c = cfg.query();
    let owned: Vec<bool> = c.shards.iter().map(|&gid| gid == cfg.gid(1)).collect();

    // Wait for migration to new config to complete, and for clients to start using this
    // updated config. Gets to any key k such that owned[shard(k)] == true should now be served
    // by group 101.
    sleep_ms(1000);
    for i in 0..n {
        if owned[i] {
            va[i] = "101".into();
            ck.put(&ka[i], &va[i]);
        }
    }

    // KILL 100
    cfg.shutdown_group(0);

    // LEAVE 100: 101 doesn't get a chance to migrate things previously owned by 100.
    cfg.leave(0);

    // Wait to make sure clients see new config.
    sleep_ms(1000);

    // And finally: check that gets/puts for 101-owned keys still complete.
    for i in 0..n {
        let shard = usize::from(ka[i].as_bytes()[0]) % 10;
        if owned[shard] {
            check(&mut ck, &ka[i], &va[i]);
            ck.put(&ka[i], &format!("{}-1", va[i]));
            check(&mut ck, &ka[i], &format!("{}-1", va[i]));
        }
    }
    passed();
}

/// Go's `TestChallenge2Partial`: can servers serve shards received in a migration before the
/// whole migration is over?
#[test]
fn challenge2_partial_5b() {
    let cfg = make_config(3, true, Some(100));
    begin("Test: partial migration shard access (challenge 2) ...");
    let mut ck = cfg.make_client(&cfg.ctl());

    // JOIN 100 + 101 + 102
    cfg.joinm(&[0, 1, 2], &cfg.ctl());

    // Give the implementation some time to reconfigure.
    sleep_ms(1000);

    // Do a bunch of puts to keys in all shards.
    let n = 10;
    let ka: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let va = vec!["100".to_string(); n];
    for i in 0..n {
        ck.put(&ka[i], &va[i]);
    }

    // QUERY to find shards owned by 102.
    let c = cfg.query();
    let owned: Vec<bool> = c.shards.iter().map(|&gid| gid == cfg.gid(2)).collect();

    // KILL 100
    cfg.shutdown_group(0);

    // LEAVE 100 + 102: 101 can get old shards from 102, but not from 100. 101 should start
    // serving shards that used to belong to 102 as soon as possible.
    cfg.leavem(&[0, 2]);

    // Give the implementation some time to start reconfiguration, and to migrate 102 -> 101.
    sleep_ms(1000);

    // And finally: check that gets/puts for 101-owned keys now complete.
    for i in 0..n {
        let shard = key2shard(&ka[i]);
        if owned[shard] {
            check(&mut ck, &ka[i], &va[i]);
            ck.put(&ka[i], &format!("{}-2", va[i]));
            check(&mut ck, &ka[i], &format!("{}-2", va[i]));
        }
    }
    passed();
}
