//! The real binaries with their defaults, as real processes on loopback: a follower that was
//! down while the data grew past 64 MiB (netrpc's largest frame, which a snapshot sent in one
//! message could never cross) comes back and catches up by a snapshot sent in pieces, then
//! holds writes that no other live server has.
//!
//! 1. Three servers start; a follower, F, is SIGKILLed.
//! 2. Clients put 256 KB values to fresh keys, and append small ones to a key of their own,
//!    until the leader's snapshot is past 64 MiB and covers entries F never had.
//! 3. F restarts and catches up: its commit index reaches the leader's.
//! 4. The other follower is SIGKILLed, and the clients write on: only the leader and F hold
//!    these writes.
//! 5. The leader is SIGKILLed and the other follower restarts, so F is the only live server
//!    that saw step 4. Every acknowledged write is read back, and the history is
//!    linearizable (lab 4's porcupine check).
//!
//! The test stops every process it started and deletes its directory, whatever happens.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{Procs, TestDir, free_addrs, recorded, watchdog};
use parking_lot::Mutex;
use tester::linearizability::{self, KvOp, OpLog};

const SERVERS: usize = 3;
const CLIENTS: u32 = 4;
/// The size of each put's value.
const VALUE: usize = 256 << 10;
/// The leader's snapshot must outgrow this: netrpc's largest frame, 64 MiB.
const PAST: u64 = netrpc::MAX_FRAME as u64;
/// A run that takes longer than this has hung.
const HUNG: Duration = Duration::from_secs(240);
/// The longest the restarted follower may take to catch up.
const CATCH_UP: Duration = Duration::from_secs(60);

/// What the clients acknowledged: the keys they put, with the value's seed, and each client's
/// appends.
#[derive(Default)]
struct Acknowledged {
    puts: Vec<(String, u64)>,
    appends: Vec<(String, u32)>,
}

/// A value of [`VALUE`] bytes that `seed` picks.
fn value(seed: u64) -> String {
    let unit = format!("{seed:016x}");
    unit.repeat(VALUE / unit.len())
}

/// Clients writing until `done`: each puts fresh keys of its own and appends to its own key.
fn clients(
    addrs: &[String],
    log: &Arc<OpLog>,
    done: &Arc<AtomicBool>,
    first: u64,
) -> Vec<thread::JoinHandle<Acknowledged>> {
    (0..CLIENTS)
        .map(|cli| {
            let (addrs, log, done) = (addrs.to_vec(), Arc::clone(log), Arc::clone(done));
            thread::spawn(move || {
                let mut ck = realcluster::clerk(&addrs, None).expect("addresses");
                let mut acked = Acknowledged::default();
                let appended_to = format!("appends-{cli}-{first}");
                let mut appends = 0;
                for n in 0.. {
                    if done.load(Ordering::Relaxed) {
                        break;
                    }
                    let seed = (first + n) * u64::from(CLIENTS) + u64::from(cli);
                    let key = format!("big-{seed}");
                    let value: Arc<str> = value(seed).into();
                    recorded(
                        &log,
                        cli,
                        || ck.put(&key, &value),
                        |_| KvOp::Put {
                            key: key.as_str().into(),
                            value: Arc::clone(&value),
                        },
                    );
                    acked.puts.push((key, seed));
                    let small = format!("<{cli}.{appends}>");
                    recorded(
                        &log,
                        cli,
                        || ck.append(&appended_to, &small),
                        |_| KvOp::Append {
                            key: appended_to.as_str().into(),
                            value: small.as_str().into(),
                        },
                    );
                    appends += 1;
                }
                acked.appends.push((appended_to, appends));
                acked
            })
        })
        .collect()
}

fn join(clients: Vec<thread::JoinHandle<Acknowledged>>, into: &mut Acknowledged) {
    for client in clients {
        let acked = client.join().expect("a client thread");
        into.puts.extend(acked.puts);
        into.appends.extend(acked.appends);
    }
}

fn status(addr: &str) -> Option<realcluster::StatusReply> {
    realcluster::status(addr, None).ok()
}

/// The server among `live` that says it leads.
fn find_leader(addrs: &[String], live: &[usize]) -> Option<usize> {
    live.iter()
        .copied()
        .find(|&i| status(&addrs[i]).is_some_and(|s| s.role == "Leader"))
}

fn wait_for_leader(addrs: &[String], live: &[usize]) -> usize {
    let t0 = Instant::now();
    loop {
        if let Some(i) = find_leader(addrs, live) {
            return i;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no leader among {live:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_follower_back_after_64_mib_catches_up_by_a_snapshot_in_pieces() {
    let dir = TestDir::new("snapshot-processes");
    let (peers, addrs) = (free_addrs(SERVERS), free_addrs(SERVERS));
    let mut procs = Procs::default();
    for (i, client) in addrs.iter().enumerate() {
        let args = [
            "--cluster",
            "snapshots",
            "--me",
            &i.to_string(),
            "--peers",
            &peers.join(","),
            "--client",
            client,
            "--data",
            &dir.join(format!("kv-{i}")).display().to_string(),
        ];
        let log = dir.join(format!("kv-{i}.log"));
        procs.add(
            env!("CARGO_BIN_EXE_kvserver"),
            args.map(String::from).to_vec(),
            Some(log),
        );
    }
    let procs = Arc::new(Mutex::new(procs));
    watchdog(&procs, &dir, HUNG);
    let all: Vec<usize> = (0..SERVERS).collect();

    // 1. A follower goes down.
    let leader = wait_for_leader(&addrs, &all);
    let f = (leader + 1) % SERVERS;
    let other = (leader + 2) % SERVERS;
    let f_had = status(&addrs[f]).map_or(0, |s| s.last_log_index);
    procs.lock().kill(f);

    // 2. The data grows past 64 MiB, and the leader's snapshot covers what F lacks.
    let log = Arc::new(OpLog::new());
    let mut acked = Acknowledged::default();
    let done = Arc::new(AtomicBool::new(false));
    let writers = clients(&addrs, &log, &done, 0);
    let t0 = Instant::now();
    let snapshot = loop {
        thread::sleep(Duration::from_millis(500));
        let now = find_leader(&addrs, &[leader, other]).and_then(|l| status(&addrs[l]));
        if let Some(s) = &now
            && s.snapshot_bytes > PAST
            && s.snapshot_index > f_had
        {
            break s.clone();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the leader's snapshot never passed 64 MiB: {now:?}"
        );
    };
    done.store(true, Ordering::Relaxed);
    join(writers, &mut acked);
    let wrote = t0.elapsed();

    // 3. F comes back and catches up by the snapshot.
    procs.lock().spawn(f);
    let back = Instant::now();
    let leader = wait_for_leader(&addrs, &all);
    let target = status(&addrs[leader])
        .expect("the leader answers")
        .commit_index;
    loop {
        let caught_up = status(&addrs[f]).is_some_and(|s| s.commit_index >= target);
        if caught_up {
            break;
        }
        assert!(
            back.elapsed() < CATCH_UP,
            "F is not caught up {CATCH_UP:?} after its restart: {:?}",
            status(&addrs[f])
        );
        thread::sleep(Duration::from_millis(100));
    }
    let caught_up = back.elapsed();
    let f_now = status(&addrs[f]).expect("F answers");
    assert!(
        f_now.snapshot_bytes > PAST && f_now.snapshot_index >= snapshot.snapshot_index,
        "F holds the leader's snapshot: {f_now:?}"
    );

    // 4. The other follower goes down; writes go on, held by the leader and F alone.
    let leader = wait_for_leader(&addrs, &all);
    let other = (0..SERVERS)
        .find(|&i| i != leader && i != f)
        .expect("three servers");
    procs.lock().kill(other);
    let done = Arc::new(AtomicBool::new(false));
    let writers = clients(&addrs, &log, &done, 1 << 32);
    thread::sleep(Duration::from_secs(2));
    done.store(true, Ordering::Relaxed);
    join(writers, &mut acked);

    // 5. F is the only live server that saw step 4.
    {
        let mut procs = procs.lock();
        procs.kill(leader);
        procs.spawn(other);
    }
    let mut ck = realcluster::clerk(&addrs, None).expect("addresses");
    let read = |ck: &mut kvraft::Clerk, key: &str| {
        recorded(
            &log,
            0,
            || ck.get(key),
            |value| KvOp::Get {
                key: key.into(),
                value: value.as_str().into(),
            },
        )
    };
    for (key, seed) in &acked.puts {
        assert!(read(&mut ck, key) == value(*seed), "{key} lost its value");
    }
    for (key, appends) in &acked.appends {
        let got = read(&mut ck, key);
        let cli = key.split('-').nth(1).expect("appends-<client>-<first>");
        let expected: String = (0..*appends).map(|j| format!("<{cli}.{j}>")).collect();
        assert_eq!(got, expected, "{key}: {appends} acknowledged appends");
    }
    linearizability::assert_linearizable(
        "a_follower_back_after_64_mib_catches_up_by_a_snapshot_in_pieces",
        &log.read(),
    );
    eprintln!(
        "{} puts of {} KB in {wrote:?}; leader's snapshot {} MB through {}; F caught up in \
         {caught_up:?}",
        acked.puts.len(),
        VALUE >> 10,
        snapshot.snapshot_bytes >> 20,
        snapshot.snapshot_index
    );
    drop(procs);
}
