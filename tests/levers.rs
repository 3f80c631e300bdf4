//! Not in the course: the levers that keep a leader in place (PreVote, `src/pre_vote.rs`), move
//! it when it has lost its majority (CheckQuorum, `src/check_quorum.rs`), and spare a follower
//! a little behind the whole snapshot (the log's tail, `src/log.rs`), on the lab's simulated
//! network, in the style of Go's tests. Each test of a lever has a twin on the lab's path that
//! shows the failure the lever is for.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{RAFT_ELECTION_TIMEOUT, make_config_with, rand_cmd};

/// The levers `kvserver` runs with that touch elections.
const STABLE: raft::Options = raft::Options {
    group_commit: false,
    pipeline: false,
    pre_vote: true,
    check_quorum: true,
    snapshot_chunk: None,
    append_bytes: None,
    log_tail: None,
    stream_snapshots: false,
};

/// The lab's path.
const LAB: raft::Options = raft::Options {
    group_commit: false,
    pipeline: false,
    pre_vote: false,
    check_quorum: false,
    snapshot_chunk: None,
    append_bytes: None,
    log_tail: None,
    stream_snapshots: false,
};

/// A follower cut off for ten election timeouts comes back: returns the leader and term before
/// the cut and after the follower has caught up. The others commit while it is away, so its
/// log is behind, which alone makes them refuse its pre-votes.
fn rejoin(options: raft::Options, title: &str) -> ((usize, u64), (usize, u64)) {
    let servers = 3;
    let cfg = make_config_with(servers, false, false, options);
    cfg.begin(title);

    cfg.one(101, servers, true);
    let leader1 = cfg.check_one_leader();
    let term1 = cfg.check_terms();

    let follower = (leader1 + 1) % servers;
    cfg.disconnect(follower);
    // The follower's timer fires many times; the other two go on committing.
    for i in 0..10 {
        cfg.one(102 + i, servers - 1, true);
        thread::sleep(RAFT_ELECTION_TIMEOUT / 2);
    }
    thread::sleep(5 * RAFT_ELECTION_TIMEOUT);

    cfg.connect(follower);
    cfg.one(200, servers, true);
    // Time for any disruption the follower causes to play out.
    thread::sleep(2 * RAFT_ELECTION_TIMEOUT);
    let leader2 = cfg.check_one_leader();
    let term2 = cfg.check_terms();
    cfg.one(201, servers, true);
    cfg.end();
    ((leader1, term1), (leader2, term2))
}

#[test]
fn pre_vote_rejoining_follower_keeps_leader() {
    let (before, after) = rejoin(
        STABLE,
        "Test (levers): a follower back from a long partition deposes nobody (PreVote)",
    );
    assert_eq!(
        before, after,
        "(leader, term) changed when the follower came back"
    );
}

/// The twin on the lab's path: the follower's terms rose while it was cut off, and its first
/// reply to the leader deposes it.
#[test]
fn lab_rejoining_follower_raises_term() {
    let ((_, term1), (_, term2)) = rejoin(
        LAB,
        "Test (levers): a follower back from a long partition forces an election (lab)",
    );
    assert!(
        term2 > term1,
        "the term stayed at {term1}: the lab's path was expected to hold an election"
    );
}

/// A follower that cannot reach the leader but reaches the third peer, which still hears the
/// leader, for ten election timeouts; nothing is committed meanwhile, so its log is as good
/// as the others' and only the lease (a peer that hears from a leader says no) can hold it.
/// Returns the leader and term before the cut, at its end (the highest term of any peer),
/// and after the link is back.
fn cut_from_leader(options: raft::Options, title: &str) -> [(usize, u64); 3] {
    let servers = 3;
    let cfg = make_config_with(servers, false, false, options);
    cfg.begin(title);

    cfg.one(101, servers, true);
    let leader = cfg.check_one_leader();
    let before = (leader, cfg.check_terms());
    let follower = (leader + 1) % servers;
    cfg.set_link(leader, follower, false);
    thread::sleep(5 * RAFT_ELECTION_TIMEOUT);
    // On the lab's path the terms move all the time now, and the peers seldom agree on one:
    // the highest any of them has reached.
    let highest = (0..servers)
        .map(|i| cfg.raft(i).get_state().0)
        .max()
        .unwrap_or(0);
    let cut = (cfg.check_one_leader(), highest);
    cfg.set_link(leader, follower, true);
    cfg.one(102, servers, true);
    let after = (cfg.check_one_leader(), cfg.check_terms());
    cfg.end();
    [before, cut, after]
}

#[test]
fn pre_vote_follower_cut_from_leader_deposes_nobody() {
    let [before, cut, after] = cut_from_leader(
        STABLE,
        "Test (levers): a follower cut from the leader alone deposes nobody (PreVote)",
    );
    assert_eq!(before, cut, "(leader, term) changed while the link was cut");
    assert_eq!(
        before, after,
        "(leader, term) changed when the link came back"
    );
}

/// The twin on the lab's path: the follower stands, the third peer votes for it, and the
/// leader learns of the new term from that peer.
#[test]
fn lab_follower_cut_from_leader_raises_term() {
    let [(_, term1), (_, term2), _] = cut_from_leader(
        LAB,
        "Test (levers): a follower cut from the leader alone forces elections (lab)",
    );
    assert!(
        term2 > term1,
        "the term stayed at {term1}: the lab's path was expected to hold an election"
    );
}

/// A leader cut off from everyone: returns whether it still thought itself leader after
/// three election timeouts.
fn isolated_leader(options: raft::Options, title: &str) -> bool {
    let servers = 5;
    let cfg = make_config_with(servers, false, false, options);
    cfg.begin(title);

    cfg.one(101, servers, true);
    let leader1 = cfg.check_one_leader();
    cfg.disconnect(leader1);
    // The others elect a new leader and commit without it.
    cfg.one(102, servers - 1, true);
    let leader2 = cfg.check_one_leader();
    assert_ne!(leader1, leader2);

    let t0 = Instant::now();
    let mut leads = true;
    while leads && t0.elapsed() < 3 * RAFT_ELECTION_TIMEOUT {
        leads = cfg.raft(leader1).get_state().1;
        thread::sleep(Duration::from_millis(10));
    }

    cfg.connect(leader1);
    cfg.one(103, servers, true);
    cfg.end();
    leads
}

#[test]
fn check_quorum_isolated_leader_steps_down() {
    let leads = isolated_leader(
        STABLE,
        "Test (levers): a leader cut off from the others steps down (CheckQuorum)",
    );
    assert!(
        !leads,
        "the old leader still led three election timeouts after it was cut off"
    );
}

/// The twin on the lab's path: the old leader leads its empty partition until it hears a
/// higher term.
#[test]
fn lab_isolated_leader_stays_leader() {
    let leads = isolated_leader(
        LAB,
        "Test (levers): a leader cut off from the others stays leader (lab)",
    );
    assert!(leads, "the old leader stepped down on the lab's path");
}

/// CheckQuorum and PreVote together under a partition that leaves the leader a minority: the
/// majority elects a new leader and commits, and when the partition heals, the old leader's
/// side catches up.
#[test]
fn stable_minority_leader_steps_down_and_heals() {
    let servers = 5;
    let cfg = make_config_with(servers, false, false, STABLE);
    cfg.begin("Test (levers): a leader left with a minority steps down and rejoins");

    cfg.one(101, servers, true);
    let leader1 = cfg.check_one_leader();
    let minority = [leader1, (leader1 + 1) % servers];
    for i in 0..servers {
        if !minority.contains(&i) {
            cfg.disconnect(i);
        }
    }
    // Give the minority nothing to elect with; the old leader steps down within two
    // election timeouts and neither of them can win.
    thread::sleep(2 * RAFT_ELECTION_TIMEOUT);
    for &i in &minority {
        assert!(!cfg.raft(i).get_state().1, "S{i} leads a minority");
    }
    // Swap: the majority side elects and commits.
    for i in 0..servers {
        if minority.contains(&i) {
            cfg.disconnect(i);
        } else {
            cfg.connect(i);
        }
    }
    cfg.one(102, servers - 2, true);
    for &i in &minority {
        cfg.connect(i);
    }
    cfg.one(103, servers, true);
    cfg.end();
}

/// A follower misses a dozen entries while the others snapshot (every ten commands, Go's
/// `applierSnap`), then comes back and catches up. Returns how many snapshots it was sent.
fn behind_a_snapshot(options: raft::Options, title: &str) -> usize {
    let servers = 3;
    let cfg = make_config_with(servers, false, true, options);
    cfg.begin(title);

    cfg.one(rand_cmd(), servers, true);
    let follower = (cfg.check_one_leader() + 1) % servers;
    cfg.disconnect(follower);
    for _ in 0..12 {
        cfg.one(rand_cmd(), servers - 1, true);
    }
    cfg.connect(follower);
    cfg.one(rand_cmd(), servers, true);
    let received = cfg.snapshots_received(follower);
    cfg.end();
    received
}

#[test]
fn log_tail_follower_behind_a_snapshot_catches_up_from_the_log() {
    let received = behind_a_snapshot(
        raft::Options {
            log_tail: Some(raft::LogTail {
                entries: 20,
                bytes: 1 << 20,
            }),
            ..LAB
        },
        "Test (levers): a follower just behind a snapshot catches up from the log (tail)",
    );
    assert_eq!(received, 0, "the follower was sent a snapshot");
}

/// The twin on the lab's path: the entries it lacks are gone, so it is sent the snapshot.
#[test]
fn lab_follower_behind_a_snapshot_is_sent_the_snapshot() {
    let received = behind_a_snapshot(
        LAB,
        "Test (levers): a follower just behind a snapshot is sent the snapshot (lab)",
    );
    assert!(received >= 1, "the follower was sent no snapshot");
}
