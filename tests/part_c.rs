//! PartC (the course's 3C): persistence. Go's 3C tests with the same bodies, constants and
//! iteration counts.

mod common;

use common::{Cmd, RAFT_ELECTION_TIMEOUT, cmd, make_config, rand_cmd, rand_int};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

#[test]
fn persist1_part_c() {
    let servers = 3;
    let cfg = make_config(servers, false, false);
    cfg.begin("Test (PartC): basic persistence");

    cfg.one(11, servers, true);

    // Crash and re-start all.
    for i in 0..servers {
        cfg.start1(i, false);
    }
    for i in 0..servers {
        cfg.disconnect(i);
        cfg.connect(i);
    }

    cfg.one(12, servers, true);

    let leader1 = cfg.check_one_leader();
    cfg.disconnect(leader1);
    cfg.start1(leader1, false);
    cfg.connect(leader1);

    cfg.one(13, servers, true);

    let leader2 = cfg.check_one_leader();
    cfg.disconnect(leader2);
    cfg.one(14, servers - 1, true);
    cfg.start1(leader2, false);
    cfg.connect(leader2);

    cfg.wait(4, servers, None); // wait for leader2 to join before killing i3

    let i3 = (cfg.check_one_leader() + 1) % servers;
    cfg.disconnect(i3);
    cfg.one(15, servers - 1, true);
    cfg.start1(i3, false);
    cfg.connect(i3);

    cfg.one(16, servers, true);
    cfg.end();
}

#[test]
fn persist2_part_c() {
    let servers = 5;
    let cfg = make_config(servers, false, false);
    cfg.begin("Test (PartC): more persistence");

    let mut index = 1;
    for _ in 0..5 {
        cfg.one(10 + index, servers, true);
        index += 1;

        let leader1 = cfg.check_one_leader();

        cfg.disconnect((leader1 + 1) % servers);
        cfg.disconnect((leader1 + 2) % servers);

        cfg.one(10 + index, servers - 2, true);
        index += 1;

        cfg.disconnect(leader1 % servers);
        cfg.disconnect((leader1 + 3) % servers);
        cfg.disconnect((leader1 + 4) % servers);

        cfg.start1((leader1 + 1) % servers, false);
        cfg.start1((leader1 + 2) % servers, false);
        cfg.connect((leader1 + 1) % servers);
        cfg.connect((leader1 + 2) % servers);

        thread::sleep(RAFT_ELECTION_TIMEOUT);

        cfg.start1((leader1 + 3) % servers, false);
        cfg.connect((leader1 + 3) % servers);

        cfg.one(10 + index, servers - 2, true);
        index += 1;

        cfg.connect((leader1 + 4) % servers);
        cfg.connect(leader1 % servers);
    }

    cfg.one(1000, servers, true);
    cfg.end();
}

#[test]
fn persist3_part_c() {
    let servers = 3;
    let cfg = make_config(servers, false, false);
    cfg.begin("Test (PartC): partitioned leader and one follower crash, leader restarts");

    cfg.one(101, 3, true);

    let leader = cfg.check_one_leader();
    cfg.disconnect((leader + 2) % servers);

    cfg.one(102, 2, true);

    cfg.crash1(leader % servers);
    cfg.crash1((leader + 1) % servers);
    cfg.connect((leader + 2) % servers);
    cfg.start1(leader % servers, false);
    cfg.connect(leader % servers);

    cfg.one(103, 2, true);

    cfg.start1((leader + 1) % servers, false);
    cfg.connect((leader + 1) % servers);

    cfg.one(104, servers, true);
    cfg.end();
}

/// The scenarios of Figure 8 of the extended Raft paper. Each iteration asks a leader, if there
/// is one, to insert a command in the log. If there is a leader, it fails quickly with a high
/// probability (perhaps without committing the command), or crashes after a while with low
/// probability (most likely committing it). If too few servers are alive for a majority,
/// perhaps start a new one. The leader of a new term may try to finish replicating entries that
/// have not been committed yet.
#[test]
fn figure8_part_c() {
    let servers = 5;
    let cfg = make_config(servers, false, false);
    cfg.begin("Test (PartC): Figure 8");

    cfg.one(rand_cmd(), 1, true);

    let mut nup = servers;
    for _ in 0..1000 {
        let mut leader = None;
        for i in 0..servers {
            if let Some(rf) = cfg.try_raft(i)
                && rf.start(cmd(rand_cmd())).2
            {
                leader = Some(i);
            }
        }

        if rand_int(1000) < 100 {
            let ms = rand_int(RAFT_ELECTION_TIMEOUT.as_millis() as u64 / 2);
            thread::sleep(Duration::from_millis(ms));
        } else {
            thread::sleep(Duration::from_millis(rand_int(13)));
        }

        if let Some(leader) = leader {
            cfg.crash1(leader);
            nup -= 1;
        }

        if nup < 3 {
            let s = rand_int(servers as u64) as usize;
            if cfg.try_raft(s).is_none() {
                cfg.start1(s, false);
                cfg.connect(s);
                nup += 1;
            }
        }
    }

    for i in 0..servers {
        if cfg.try_raft(i).is_none() {
            cfg.start1(i, false);
            cfg.connect(i);
        }
    }

    cfg.one(rand_cmd(), servers, true);
    cfg.end();
}

#[test]
fn unreliable_agree_part_c() {
    let servers = 5;
    let cfg = make_config(servers, true, false);
    cfg.begin("Test (PartC): unreliable agreement");

    thread::scope(|s| {
        for iters in 1..50 {
            for j in 0..4 {
                let cfg = &cfg;
                s.spawn(move || cfg.one(100 * iters + j, 1, true));
            }
            cfg.one(iters, 1, true);
        }
        cfg.set_unreliable(false);
    });

    cfg.one(100, servers, true);
    cfg.end();
}

#[test]
fn figure8_unreliable_part_c() {
    let servers = 5;
    let cfg = make_config(servers, true, false);
    cfg.begin("Test (PartC): Figure 8 (unreliable)");

    cfg.one(rand_int(10000) as i64, 1, true);

    let mut nup = servers;
    for iters in 0..1000 {
        if iters == 200 {
            cfg.set_long_reordering(true);
        }
        let mut leader = None;
        for i in 0..servers {
            let (_, _, ok) = cfg.raft(i).start(cmd(rand_int(10000) as i64));
            if ok && cfg.is_connected(i) {
                leader = Some(i);
            }
        }

        if rand_int(1000) < 100 {
            let ms = rand_int(RAFT_ELECTION_TIMEOUT.as_millis() as u64 / 2);
            thread::sleep(Duration::from_millis(ms));
        } else {
            thread::sleep(Duration::from_millis(rand_int(13)));
        }

        if let Some(leader) = leader
            && rand_int(1000) < RAFT_ELECTION_TIMEOUT.as_millis() as u64 / 2
        {
            cfg.disconnect(leader);
            nup -= 1;
        }

        if nup < 3 {
            let s = rand_int(servers as u64) as usize;
            if !cfg.is_connected(s) {
                cfg.connect(s);
                nup += 1;
            }
        }
    }

    for i in 0..servers {
        if !cfg.is_connected(i) {
            cfg.connect(i);
        }
    }

    cfg.one(rand_int(10000) as i64, servers, true);
    cfg.end();
}

fn internal_churn(unreliable: bool) {
    let servers = 5;
    let cfg = make_config(servers, unreliable, false);
    if unreliable {
        cfg.begin("Test (PartC): unreliable churn");
    } else {
        cfg.begin("Test (PartC): churn");
    }

    let stop = AtomicBool::new(false);

    // A client: submits random values to whichever peer takes them, and returns the values
    // it saw committed.
    let client = |me: u64| {
        let mut values = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let x = rand_cmd();
            let mut index = None;
            for i in 0..servers {
                // Try them all; maybe one of them is a leader.
                if let Some(rf) = cfg.try_raft(i) {
                    let (index1, _, ok1) = rf.start(cmd(x));
                    if ok1 {
                        index = Some(index1);
                    }
                }
            }
            match index {
                Some(index) => {
                    // Maybe the leader will commit our value, maybe not; don't wait forever.
                    for to in [10, 20, 50, 100, 200] {
                        let (nd, committed) = cfg.n_committed(index);
                        if nd > 0 {
                            match committed {
                                Some(Cmd::Int(xx)) if xx == x => values.push(x),
                                Some(Cmd::Int(_)) => {}
                                _ => panic!("wrong command type"),
                            }
                            break;
                        }
                        thread::sleep(Duration::from_millis(to));
                    }
                }
                None => thread::sleep(Duration::from_millis(79 + me * 17)),
            }
        }
        values
    };

    let values: Vec<i64> = thread::scope(|s| {
        let clients: Vec<_> = (0..3).map(|me| s.spawn(move || client(me))).collect();

        for _ in 0..20 {
            if rand_int(1000) < 200 {
                cfg.disconnect(rand_int(servers as u64) as usize);
            }

            if rand_int(1000) < 500 {
                let i = rand_int(servers as u64) as usize;
                if cfg.try_raft(i).is_none() {
                    cfg.start1(i, false);
                }
                cfg.connect(i);
            }

            if rand_int(1000) < 200 {
                let i = rand_int(servers as u64) as usize;
                if cfg.try_raft(i).is_some() {
                    cfg.crash1(i);
                }
            }

            // Make crash/restart infrequent enough that the peers can often keep up, but not
            // so infrequent that everything has settled down from one change to the next.
            // Pick a value smaller than the election timeout, but not hugely smaller.
            thread::sleep(RAFT_ELECTION_TIMEOUT * 7 / 10);
        }

        thread::sleep(RAFT_ELECTION_TIMEOUT);
        cfg.set_unreliable(false);
        for i in 0..servers {
            if cfg.try_raft(i).is_none() {
                cfg.start1(i, false);
            }
            cfg.connect(i);
        }

        stop.store(true, Ordering::Relaxed);
        clients
            .into_iter()
            .flat_map(|c| c.join().expect("client failed"))
            .collect()
    });

    thread::sleep(RAFT_ELECTION_TIMEOUT);

    let last_index = cfg.one(rand_cmd(), servers, true);

    let mut really = Vec::new();
    for index in 1..=last_index {
        match cfg.wait(index, servers, None) {
            Some(Cmd::Int(v)) => really.push(v),
            _ => panic!("not an int"),
        }
    }

    for v1 in values {
        assert!(really.contains(&v1), "didn't find a value");
    }
    cfg.end();
}

#[test]
fn reliable_churn_part_c() {
    internal_churn(false);
}

#[test]
fn unreliable_churn_part_c() {
    internal_churn(true);
}
