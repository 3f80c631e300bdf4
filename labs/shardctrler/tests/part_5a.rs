//! Lab 5A's controller tests: ports of Go's `shardctrler/test_test.go` (2024), `TestBasic`,
//! `TestMinimalAgain` and `TestMulti`, each subtest printing its own `Test: ...` and
//! `  ... Passed` lines as Go's do. Go runs a subtest's body in a closure of its own; here the
//! subtests are the consecutive blocks of one test function, sharing its config and clerks.

mod common;

use std::collections::BTreeMap;
use std::thread;

use common::{begin, check, check_same_config, make_config, passed};
use shardctrler::{Clerk, Config, N_SHARDS};

const NSERVERS: usize = 3;
const NPARA: u64 = 10;

fn servers(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn one(gid: u64, names: &[&str]) -> BTreeMap<u64, Vec<String>> {
    BTreeMap::from([(gid, servers(names))])
}

/// Asserts that `cfx` has the servers `names` for `gid`.
fn assert_servers(cfx: &Config, gid: u64, names: &[&str]) {
    let sa = cfx.groups.get(&gid).cloned().unwrap_or_default();
    assert!(sa == servers(names), "wrong servers for gid {gid}: {sa:?}");
}

/// Go's `TestBasic`.
#[test]
fn shardctrler_basic_5a() {
    let cfg = make_config(NSERVERS, false);
    let mut ck = cfg.make_client(&cfg.all());

    // LeaveJoin
    begin("Test: Basic leave/join");
    let mut cfa = vec![Config::default(); 6];
    cfa[0] = ck.query(None);
    check(&[], &mut ck);
    let gid1 = 1;
    ck.join(one(gid1, &["x", "y", "z"]));
    check(&[gid1], &mut ck);
    cfa[1] = ck.query(None);
    let gid2 = 2;
    ck.join(one(gid2, &["a", "b", "c"]));
    check(&[gid1, gid2], &mut ck);
    cfa[2] = ck.query(None);
    let cfx = ck.query(None);
    assert_servers(&cfx, gid1, &["x", "y", "z"]);
    assert_servers(&cfx, gid2, &["a", "b", "c"]);
    ck.leave(&[gid1]);
    check(&[gid2], &mut ck);
    cfa[4] = ck.query(None);
    ck.leave(&[gid2]);
    cfa[5] = ck.query(None);
    passed();

    // HistoricalQueries
    begin("Test: Historical queries");
    for s in 0..NSERVERS {
        cfg.shutdown_server(s);
        for c in &cfa {
            let got = ck.query(Some(c.num));
            check_same_config(&got, c);
        }
        cfg.start_server(s);
        cfg.connect_all();
    }
    passed();

    // Move
    begin("Test: Move");
    let gid3 = 503;
    ck.join(one(gid3, &["3a", "3b", "3c"]));
    let gid4 = 504;
    ck.join(one(gid4, &["4a", "4b", "4c"]));
    for i in 0..N_SHARDS {
        let cf = ck.query(None);
        let to = if i < N_SHARDS / 2 { gid3 } else { gid4 };
        ck.move_shard(i, to);
        if cf.shards[i] != to {
            let cf1 = ck.query(None);
            assert!(cf1.num > cf.num, "Move should increase Config.Num");
        }
    }
    let cf2 = ck.query(None);
    for i in 0..N_SHARDS {
        let want = if i < N_SHARDS / 2 { gid3 } else { gid4 };
        assert!(
            cf2.shards[i] == want,
            "expected shard {i} on gid {want} actually {}",
            cf2.shards[i]
        );
    }
    ck.leave(&[gid3]);
    ck.leave(&[gid4]);
    passed();

    // ConcurrentLeaveJoin
    begin("Test: Concurrent leave/join");
    let gids: Vec<u64> = (0..NPARA).map(|xi| xi * 10 + 100).collect();
    let clerks: Vec<Clerk> = (0..NPARA).map(|_| cfg.make_client(&cfg.all())).collect();
    let handles: Vec<_> = clerks
        .into_iter()
        .zip(gids.clone())
        .map(|(mut ck, gid)| {
            thread::spawn(move || {
                let sid1 = format!("s{gid}a");
                let sid2 = format!("s{gid}b");
                ck.join(BTreeMap::from([(gid + 1000, vec![sid1])]));
                ck.join(BTreeMap::from([(gid, vec![sid2])]));
                ck.leave(&[gid + 1000]);
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a clerk thread panicked");
    }
    check(&gids, &mut ck);
    passed();

    // MinimalTransfer
    begin("Test: Minimal transfers after joins");
    let c1 = ck.query(None);
    for i in 0..5 {
        let gid = NPARA + 1 + i;
        ck.join(BTreeMap::from([(
            gid,
            vec![format!("{gid}a"), format!("{gid}b"), format!("{gid}b")],
        )]));
    }
    let c2 = ck.query(None);
    assert_minimal(&c1, &c2, "non-minimal transfer after Join()s");
    passed();

    // MinimalTransferAfterLeave
    begin("Test: Minimal transfers after leaves");
    for i in 0..5 {
        ck.leave(&[NPARA + 1 + i]);
    }
    let c3 = ck.query(None);
    assert_minimal(&c2, &c3, "non-minimal transfer after Leave()s");
    passed();
}

/// Go's minimal-transfer loop: for gids 1..=NPARA, every shard such a group holds in `after`
/// it held in `before` already. (Go's test checks gids 1..=10, which hold no shards in these
/// tests; the check is ported as it is.)
fn assert_minimal(before: &Config, after: &Config, message: &str) {
    for i in 1..=NPARA {
        for j in 0..N_SHARDS {
            if after.shards[j] == i {
                assert!(before.shards[j] == i, "{message}");
            }
        }
    }
}

/// Go's `TestMinimalAgain`.
#[test]
fn shardctrler_minimal_again_5a() {
    let cfg = make_config(NSERVERS, false);
    let mut ck = cfg.make_client(&cfg.all());

    begin("Test: minimal movement again");
    ck.join(one(1, &["x", "y", "z"]));
    ck.join(one(2, &["a", "b", "c"]));
    let c1 = ck.query(None);
    ck.join(one(3, &["d", "e", "f"]));
    let c2 = ck.query(None);

    // Any shard that wasn't moved to gid 3 should stay where it was.
    for i in 0..N_SHARDS {
        if c2.shards[i] != 3 {
            assert!(
                c1.shards[i] == c2.shards[i],
                "shard {i} moved from gid {} to gid {}, but shouldn't have",
                c1.shards[i],
                c2.shards[i]
            );
        }
    }
    // A maximum of NShards/3 + 1 shards should move.
    let changed = (0..N_SHARDS)
        .filter(|&i| c1.shards[i] != c2.shards[i])
        .count();
    assert!(
        changed <= N_SHARDS / 3 + 1,
        "too many shards ({changed}) moved after join"
    );

    // Now gid 1 leaves.
    ck.leave(&[1]);
    let c3 = ck.query(None);
    // Any shard that wasn't in gid 1 should stay where it was.
    for i in 0..N_SHARDS {
        if c2.shards[i] != 1 {
            assert!(
                c2.shards[i] == c3.shards[i],
                "shard {i} moved from gid {} to gid {}, but shouldn't have",
                c2.shards[i],
                c3.shards[i]
            );
        }
    }
    let changed = (0..N_SHARDS)
        .filter(|&i| c2.shards[i] != c3.shards[i])
        .count();
    assert!(
        changed <= N_SHARDS / 3 + 1,
        "too many shards ({changed}) moved after leave"
    );
    passed();
}

/// Go's `TestMulti`.
#[test]
fn shardctrler_multi_5a() {
    let cfg = make_config(NSERVERS, false);
    let mut ck = cfg.make_client(&cfg.all());

    // LeaveJoin
    begin("Test: Multi-group join/leave");
    let mut cfa = vec![Config::default(); 6];
    cfa[0] = ck.query(None);
    check(&[], &mut ck);
    let (gid1, gid2, gid3) = (1, 2, 3);
    ck.join(BTreeMap::from([
        (gid1, servers(&["x", "y", "z"])),
        (gid2, servers(&["a", "b", "c"])),
    ]));
    check(&[gid1, gid2], &mut ck);
    cfa[1] = ck.query(None);
    ck.join(one(gid3, &["j", "k", "l"]));
    check(&[gid1, gid2, gid3], &mut ck);
    cfa[2] = ck.query(None);
    let cfx = ck.query(None);
    assert_servers(&cfx, gid1, &["x", "y", "z"]);
    assert_servers(&cfx, gid2, &["a", "b", "c"]);
    assert_servers(&cfx, gid3, &["j", "k", "l"]);
    ck.leave(&[gid1, gid3]);
    check(&[gid2], &mut ck);
    cfa[3] = ck.query(None);
    let cfx = ck.query(None);
    assert_servers(&cfx, gid2, &["a", "b", "c"]);
    ck.leave(&[gid2]);
    passed();

    // ConcurrentLeaveJoin
    begin("Test: Concurrent multi leave/join");
    let gids: Vec<u64> = (0..NPARA).map(|xi| xi + 1000).collect();
    let handles: Vec<_> = gids
        .iter()
        .map(|&gid| {
            let mut ck = cfg.make_client(&cfg.all());
            thread::spawn(move || {
                ck.join(BTreeMap::from([
                    (
                        gid,
                        vec![format!("{gid}a"), format!("{gid}b"), format!("{gid}c")],
                    ),
                    (gid + 1000, vec![format!("{}a", gid + 1000)]),
                    (gid + 2000, vec![format!("{}a", gid + 2000)]),
                ]));
                ck.leave(&[gid + 1000, gid + 2000]);
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a clerk thread panicked");
    }
    check(&gids, &mut ck);
    passed();

    // MinimalTransfer
    begin("Test: Minimal transfers after multijoins");
    let c1 = ck.query(None);
    let m: BTreeMap<u64, Vec<String>> = (0..5)
        .map(|i| {
            let gid = NPARA + 1 + i;
            (gid, vec![format!("{gid}a"), format!("{gid}b")])
        })
        .collect();
    ck.join(m);
    let c2 = ck.query(None);
    assert_minimal(&c1, &c2, "non-minimal transfer after Join()s");
    passed();

    // MinimalTransferAfterLeave
    begin("Test: Minimal transfers after multileaves");
    let l: Vec<u64> = (0..5).map(|i| NPARA + 1 + i).collect();
    ck.leave(&l);
    let c3 = ck.query(None);
    assert_minimal(&c2, &c3, "non-minimal transfer after Leave()s");
    passed();

    // AgreeConfig
    begin("Test: Check Same config on servers");
    let leader = cfg.leader().expect("Leader not found");
    let c = ck.query(None); // the configuration the leader claims
    cfg.shutdown_server(leader);
    // Go's loop here (`for isLeader, leader = cfg.Leader(); isLeader; time.Sleep(1 *
    // time.Second)`) tests only the `isLeader` it read once, right after the shutdown, when
    // the two servers left are followers: it never runs, and the query below waits for the
    // new leader itself. Ported as it behaves: no wait.
    let c1 = ck.query(None);
    check_same_config(&c, &c1);
    passed();
}
