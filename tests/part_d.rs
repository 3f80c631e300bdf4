//! PartD (the course's 3D): log compaction. Go's 3D tests with the same bodies and constants;
//! the harness's snapshot applier asks for a snapshot every `SNAPSHOT_INTERVAL` commands.

mod common;

use common::{MAX_LOG_SIZE, SNAPSHOT_INTERVAL, cmd, make_config, rand_cmd, rand_int};

/// Go's `snapcommon`: 30 rounds in which a victim is disconnected or crashed while the leader
/// (or, every third round, the victim's partner) receives commands, then brought back, possibly
/// needing an InstallSnapshot to catch up.
fn snapcommon(name: &str, disconnect: bool, reliable: bool, crash: bool) {
    let iters = 30;
    let servers = 3;
    let cfg = make_config(servers, !reliable, true);
    cfg.begin(name);

    cfg.one(rand_cmd(), servers, true);
    let mut leader1 = cfg.check_one_leader();

    for i in 0..iters {
        let mut victim = (leader1 + 1) % servers;
        let mut sender = leader1;
        if i % 3 == 1 {
            sender = (leader1 + 1) % servers;
            victim = leader1;
        }

        if disconnect {
            cfg.disconnect(victim);
            cfg.one(rand_cmd(), servers - 1, true);
        }
        if crash {
            cfg.crash1(victim);
            cfg.one(rand_cmd(), servers - 1, true);
        }

        // Perhaps send enough to get a snapshot.
        let nn = SNAPSHOT_INTERVAL / 2 + rand_int(SNAPSHOT_INTERVAL);
        for _ in 0..nn {
            if let Some(rf) = cfg.try_raft(sender) {
                rf.start(cmd(rand_cmd()));
            }
        }

        // Let applier threads catch up with the starts.
        if !disconnect && !crash {
            // Make sure all followers have caught up, so that an InstallSnapshot RPC isn't
            // required for snapshot_basic_part_d.
            cfg.one(rand_cmd(), servers, true);
        } else {
            cfg.one(rand_cmd(), servers - 1, true);
        }

        assert!(cfg.log_size() < MAX_LOG_SIZE, "Log size too large");

        if disconnect {
            // Reconnect a follower, who may be behind and need a snapshot to catch up.
            cfg.connect(victim);
            cfg.one(rand_cmd(), servers, true);
            leader1 = cfg.check_one_leader();
        }
        if crash {
            cfg.start1(victim, true);
            cfg.connect(victim);
            cfg.one(rand_cmd(), servers, true);
            leader1 = cfg.check_one_leader();
        }
    }
    cfg.end();
}

#[test]
fn snapshot_basic_part_d() {
    snapcommon("Test (PartD): snapshots basic", false, true, false);
}

#[test]
fn snapshot_install_part_d() {
    snapcommon(
        "Test (PartD): install snapshots (disconnect)",
        true,
        true,
        false,
    );
}

#[test]
fn snapshot_install_unreliable_part_d() {
    snapcommon(
        "Test (PartD): install snapshots (disconnect+unreliable)",
        true,
        false,
        false,
    );
}

#[test]
fn snapshot_install_crash_part_d() {
    snapcommon("Test (PartD): install snapshots (crash)", false, true, true);
}

#[test]
fn snapshot_install_uncrash_part_d() {
    snapcommon(
        "Test (PartD): install snapshots (unreliable+crash)",
        false,
        false,
        true,
    );
}

/// Do the servers persist the snapshots, and restart using the snapshot along with the tail
/// of the log?
#[test]
fn snapshot_all_crash_part_d() {
    let servers = 3;
    let iters = 5;
    let cfg = make_config(servers, false, true);
    cfg.begin("Test (PartD): crash and restart all servers");

    cfg.one(rand_cmd(), servers, true);

    for _ in 0..iters {
        // Perhaps enough to get a snapshot.
        let nn = SNAPSHOT_INTERVAL / 2 + rand_int(SNAPSHOT_INTERVAL);
        for _ in 0..nn {
            cfg.one(rand_cmd(), servers, true);
        }

        let index1 = cfg.one(rand_cmd(), servers, true);

        // Crash all.
        for i in 0..servers {
            cfg.crash1(i);
        }

        // Revive all.
        for i in 0..servers {
            cfg.start1(i, true);
            cfg.connect(i);
        }

        let index2 = cfg.one(rand_cmd(), servers, true);
        assert!(index2 > index1, "index decreased from {index1} to {index2}");
    }
    cfg.end();
}

/// Do servers correctly initialize their in-memory copy of the snapshot, making sure that
/// future writes to persistent state don't lose state?
#[test]
fn snapshot_init_part_d() {
    let servers = 3;
    let cfg = make_config(servers, false, true);
    cfg.begin("Test (PartD): snapshot initialization after crash");
    cfg.one(rand_cmd(), servers, true);

    // Enough ops to make a snapshot.
    let nn = SNAPSHOT_INTERVAL + 1;
    for _ in 0..nn {
        cfg.one(rand_cmd(), servers, true);
    }

    // Crash all.
    for i in 0..servers {
        cfg.crash1(i);
    }

    // Revive all.
    for i in 0..servers {
        cfg.start1(i, true);
        cfg.connect(i);
    }

    // A single op, to get something to be written back to persistent storage.
    cfg.one(rand_cmd(), servers, true);

    // Crash all.
    for i in 0..servers {
        cfg.crash1(i);
    }

    // Revive all.
    for i in 0..servers {
        cfg.start1(i, true);
        cfg.connect(i);
    }

    // Do another op to trigger a potential bug.
    cfg.one(rand_cmd(), servers, true);
    cfg.end();
}
