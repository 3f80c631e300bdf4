//! PartA (the course's 3A): leader election. Go's `TestInitialElection3A`, `TestReElection3A`
//! and `TestManyElections3A`, with the same bodies and bounds.

mod common;

use common::{RAFT_ELECTION_TIMEOUT, make_config, rand_int};
use std::thread;

#[test]
fn initial_election_part_a() {
    let servers = 3;
    let cfg = make_config(servers, false, false);
    cfg.begin("Test (PartA): initial election");

    // Is a leader elected?
    cfg.check_one_leader();

    // Sleep a bit to avoid racing with followers learning of the election, then check that
    // all peers agree on the term.
    thread::sleep(std::time::Duration::from_millis(50));
    let term1 = cfg.check_terms();
    assert!(term1 >= 1, "term is {term1}, but should be at least 1");

    // Does the leader and term stay the same if there is no network failure?
    thread::sleep(2 * RAFT_ELECTION_TIMEOUT);
    let term2 = cfg.check_terms();
    if term1 != term2 {
        common::warn("term changed even though there were no failures");
    }

    // There should still be a leader.
    cfg.check_one_leader();
    cfg.end();
}

#[test]
fn re_election_part_a() {
    let servers = 3;
    let cfg = make_config(servers, false, false);
    cfg.begin("Test (PartA): election after network failure");

    let leader1 = cfg.check_one_leader();

    // If the leader disconnects, a new one should be elected.
    cfg.disconnect(leader1);
    cfg.check_one_leader();

    // If the old leader rejoins, that shouldn't disturb the new leader; and the old leader
    // should switch to follower.
    cfg.connect(leader1);
    let leader2 = cfg.check_one_leader();

    // If there's no quorum, no new leader should be elected.
    cfg.disconnect(leader2);
    cfg.disconnect((leader2 + 1) % servers);
    thread::sleep(2 * RAFT_ELECTION_TIMEOUT);

    // Check that the one connected server does not think it is the leader.
    cfg.check_no_leader();

    // If a quorum arises, it should elect a leader.
    cfg.connect((leader2 + 1) % servers);
    cfg.check_one_leader();

    // Re-join of the last node shouldn't prevent leader from existing.
    cfg.connect(leader2);
    cfg.check_one_leader();
    cfg.end();
}

#[test]
fn many_elections_part_a() {
    let servers = 7;
    let cfg = make_config(servers, false, false);
    cfg.begin("Test (PartA): multiple elections");

    cfg.check_one_leader();

    let iters = 10;
    for _ in 1..iters {
        // Disconnect three nodes (perhaps the same one more than once).
        let i1 = rand_int(servers as u64) as usize;
        let i2 = rand_int(servers as u64) as usize;
        let i3 = rand_int(servers as u64) as usize;
        cfg.disconnect(i1);
        cfg.disconnect(i2);
        cfg.disconnect(i3);

        // Either the current leader should still be alive, or the remaining four should elect
        // a new one.
        cfg.check_one_leader();

        cfg.connect(i1);
        cfg.connect(i2);
        cfg.connect(i3);
    }

    cfg.check_one_leader();
    cfg.end();
}
