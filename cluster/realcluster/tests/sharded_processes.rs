//! Lab 5's real binaries as real processes on loopback: 3 `shardctrler`s and 2 replica groups
//! of 3 `shardkv`s. Clerks append for 15 s while the test moves shards back and forth (group
//! 101 joins, 100 leaves, 100 joins, 101 leaves, ...) and, in between, kills a server with
//! SIGKILL and restarts it from its directory: a group server (leader or not) or a controller.
//! Then every acknowledged append is in place, once and in order, and the history is
//! linearizable (porcupine, through lab 4's model). The test stops every process it started
//! and deletes its directory, whatever happens.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{Procs, TestDir, free_addrs, recorded, watchdog};
use parking_lot::Mutex;
use realcluster::sharded::{ctrler_clerk, sharded_clerk};
use tester::linearizability::{self, KvOp, OpLog};

/// Clerks, each appending to a key of its own, in a shard of its own.
const CLIENTS: u32 = 4;
/// How long the clerks run while shards move and servers die.
const RUN: Duration = Duration::from_secs(15);
/// A run that takes longer than this has hung: the watchdog stops everything and fails.
const HUNG: Duration = Duration::from_secs(120);
const GIDS: [u64; 2] = [100, 101];

#[test]
fn sharded_moves_and_sigkill_lose_no_acknowledged_write() {
    let dir = TestDir::new("sharded-processes");
    // Killed when dropped; the watchdog holds them weakly.
    let procs = Arc::new(Mutex::new(Procs::default()));
    watchdog(&procs, &dir, HUNG);

    let (ctrler_clients, ctrler_peers) = (free_addrs(3), free_addrs(3));
    let mut ctrler_procs = Vec::new();
    let mut group_procs = Vec::new();
    let mut joins = Vec::new();
    {
        let mut procs = procs.lock();
        for (i, client) in ctrler_clients.iter().enumerate() {
            let args = vec![
                "--me".to_string(),
                i.to_string(),
                "--peers".into(),
                ctrler_peers.join(","),
                "--client".into(),
                client.clone(),
                "--data".into(),
                dir.join(format!("ctrler-{i}")).display().to_string(),
            ];
            let log = Some(dir.join(format!("ctrler-{i}.log")));
            ctrler_procs.push(procs.add(env!("CARGO_BIN_EXE_shardctrler"), args, log));
        }
        for gid in GIDS {
            let (clients, peers) = (free_addrs(3), free_addrs(3));
            let mut members = Vec::new();
            for (i, client) in clients.iter().enumerate() {
                let args = vec![
                    "--gid".to_string(),
                    gid.to_string(),
                    "--me".into(),
                    i.to_string(),
                    "--peers".into(),
                    peers.join(","),
                    "--client".into(),
                    client.clone(),
                    "--ctrlers".into(),
                    ctrler_clients.join(","),
                    "--data".into(),
                    dir.join(format!("group-{gid}-{i}")).display().to_string(),
                    "--maxraftstate".into(),
                    "4096".into(),
                ];
                let log = Some(dir.join(format!("group-{gid}-{i}.log")));
                members.push(procs.add(env!("CARGO_BIN_EXE_shardkv"), args, log));
            }
            group_procs.push(members);
            joins.push((gid, clients));
        }
    }
    let mut admin = ctrler_clerk(&ctrler_clients);
    admin.join([joins[0].clone()].into_iter().collect());

    let log = Arc::new(OpLog::new());
    let done = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|cli| {
            let (ctrlers, log, done) =
                (ctrler_clients.clone(), Arc::clone(&log), Arc::clone(&done));
            thread::spawn(move || {
                let mut ck = sharded_clerk(&ctrlers);
                // Keys "0", "1", ...: one shard each.
                let key = cli.to_string();
                let mut acknowledged = 0u32;
                while !done.load(Ordering::Relaxed) {
                    let value = format!("x {cli} {acknowledged} y");
                    recorded(
                        &log,
                        cli,
                        || ck.append(&key, &value),
                        |_| KvOp::Append {
                            key: key.as_str().into(),
                            value: value.as_str().into(),
                        },
                    );
                    acknowledged += 1;
                }
                (key, acknowledged)
            })
        })
        .collect();

    // Each round: a move (101 joins, 100 leaves, 100 joins, 101 leaves, ...), then a server
    // killed and restarted: a server of each group in turn, then a controller.
    let t0 = Instant::now();
    let (mut moves, mut kills) = (0, 0);
    let mut round = 0usize;
    while t0.elapsed() < RUN {
        let (joining, leaving) = if round.is_multiple_of(2) {
            (1, 0)
        } else {
            (0, 1)
        };
        admin.join([joins[joining].clone()].into_iter().collect());
        thread::sleep(Duration::from_millis(500));
        admin.leave(&[GIDS[leaving]]);
        moves += 2;
        thread::sleep(Duration::from_millis(500));
        let which = (round / 3) % 3;
        let victim = match round % 3 {
            0 => group_procs[0][which],
            1 => group_procs[1][which],
            _ => ctrler_procs[which],
        };
        procs.lock().kill(victim);
        thread::sleep(Duration::from_millis(300));
        procs.lock().spawn(victim);
        kills += 1;
        thread::sleep(Duration::from_millis(500));
        round += 1;
    }
    done.store(true, Ordering::Relaxed);
    let results: Vec<(String, u32)> = clients
        .into_iter()
        .map(|c| c.join().expect("a client thread"))
        .collect();
    assert!(moves >= 4 && kills >= 3, "{moves} moves, {kills} kills");
    println!(
        "{} appends acknowledged over {moves} moves and {kills} kills",
        results.iter().map(|(_, n)| n).sum::<u32>()
    );

    let mut ck = sharded_clerk(&ctrler_clients);
    for (cli, (key, acknowledged)) in results.iter().enumerate() {
        assert!(*acknowledged > 0, "client {cli} made no progress");
        let value = recorded(
            &log,
            cli as u32,
            || ck.get(key),
            |value| KvOp::Get {
                key: key.as_str().into(),
                value: value.as_str().into(),
            },
        );
        let expected: String = (0..*acknowledged)
            .map(|j| format!("x {cli} {j} y"))
            .collect();
        // An Append returns only once it took effect, and each takes effect once, in
        // whichever group held the shard then.
        assert!(
            value == expected,
            "{key}: {acknowledged} acknowledged appends, but the value is\n{value}"
        );
    }
    linearizability::assert_linearizable(
        "sharded_moves_and_sigkill_lose_no_acknowledged_write",
        &log.read(),
    );
}
