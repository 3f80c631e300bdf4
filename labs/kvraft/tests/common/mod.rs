//! The test harness of lab 4 (kvraft): a port of the course's Go `kvraft/config.go` and of the
//! helpers at the top of its `test_test.go` (2024).
//!
//! A [`Config`](config::Config) starts `n` key/value servers on one simulated labrpc network,
//! each a labrpc server holding both its `KVServer` and its `Raft` service, and makes clerks
//! with ends of their own, which the tests connect to some servers or all. The tests in
//! `part_4a.rs` and `part_4b.rs` drive it with the same calls, in the same order, as Go's. Names
//! map one to one: `make_config`, `begin`/`end`, `op`, `start_server`/`shutdown_server`,
//! `connect_all`, `partition`, `make_partition`, `make_client`, `connect_client`,
//! `disconnect_client`, `delete_client`, `leader`, `log_size`, `snapshot_size`; here, Go's
//! `Get`/`Put`/`Append` wrappers ([`get`], [`put`], [`append`]), which count the clerk
//! operation and record it for the linearizability check, `check`, `check_clnt_appends` and
//! `check_concurrent_appends`; in `generic.rs`, `GenericTest`, `GenericTestSpeed`, the
//! partitioner and `spawn_clients_and_wait`.
//!
//! The files, by concern:
//!
//! - `config.rs`: the `Config`, its clerks, and the cleanup in `Drop`;
//! - `generic.rs`: the tests most of both parts are made of, with the client threads;
//! - from the `tester` crate: `tester::group` (the servers, their persisters and ends: start,
//!   shutdown, restart, partitions; shared with the lab 5 harnesses), and, shared with the Raft
//!   harness too, `tester::process` (one test at a time, the panic hook, the watchdog),
//!   `tester::timeline`, `tester::linearizability` (Go's KV model for porcupine, `OpLog` and
//!   the verdict).
//!
//! Tests run one at a time, as Go runs them, so a plain `cargo test` needs no
//! `--test-threads=1`; Go's 120 s per test count from the test's turn. The `Test: ...` and
//! `  ... Passed --` lines go straight to the process's stdout, as Go's do under `go test`.
//!
//! A client is a thread of its own with a clerk of its own. Go's clients always finish,
//! because the harness heals the network and restarts the servers before it waits for them; a
//! clerk still blocked when its test ends (a test that failed) is abandoned with its network,
//! never joined, and the watchdog ends a test that waits past 120 s for one.
//!
//! When a test fails, the harness prints the network's seed (rerun with `LABRPC_SEED=N`) and
//! writes a timeline of the run, `target/timelines/<test>.html`: each server's Raft peer as
//! the harness sampled it, with its crashes, restarts and partitions; `RAFT_TIMELINE=1` writes
//! one for passing tests too. A history that is not linearizable is drawn by porcupine too,
//! in `target/linearizability/<test>.html`. `RUST_LOG=raft=debug,kvraft=debug,rsm=debug` shows
//! the servers' log lines, and `RUST_LOG=test=info` the harness's own.

#![allow(dead_code)]

pub mod config;
pub mod generic;

use std::time::Duration;

use tester::linearizability::{self, KvOp, OpLog};

pub use config::{Client, Config, make_config};

/// "The tester generously allows solutions to complete elections in one second (much more than
/// the paper's range of timeouts)."
pub const ELECTION_TIMEOUT: Duration = Duration::from_secs(1);

/// Logs a harness line in the project's format, `<ms> TEST <message>`.
macro_rules! tlog {
    ($($arg:tt)+) => {
        log::info!(target: "test", "{:06} TEST {}", raft::logging::millis(), format_args!($($arg)+))
    };
}
pub(crate) use tlog;

/// Where a wrapper records its operation: Go's `log *OpLog` and `cli int` (`None` is Go's
/// `nil, -1`: not recorded).
pub type Record<'a> = Option<(&'a OpLog, u32)>;

/// Go's `Get(cfg, ck, key, log, cli)`: `ck.get(key)`, counted, and recorded if asked.
pub fn get(cfg: &Config, ck: &mut Client, key: &str, record: Record<'_>) -> String {
    let start = linearizability::now();
    let value = ck.clerk.get(key);
    let end = linearizability::now();
    cfg.op();
    if let Some((log, cli)) = record {
        let op = KvOp::Get {
            key: key.into(),
            value: value.as_str().into(),
        };
        log.record(cli, start, end, op);
    }
    value
}

/// Go's `Put(cfg, ck, key, value, log, cli)`.
pub fn put(cfg: &Config, ck: &mut Client, key: &str, value: &str, record: Record<'_>) {
    let start = linearizability::now();
    ck.clerk.put(key, value);
    let end = linearizability::now();
    cfg.op();
    if let Some((log, cli)) = record {
        let op = KvOp::Put {
            key: key.into(),
            value: value.into(),
        };
        log.record(cli, start, end, op);
    }
}

/// Go's `Append(cfg, ck, key, value, log, cli)`.
pub fn append(cfg: &Config, ck: &mut Client, key: &str, value: &str, record: Record<'_>) {
    let start = linearizability::now();
    ck.clerk.append(key, value);
    let end = linearizability::now();
    cfg.op();
    if let Some((log, cli)) = record {
        let op = KvOp::Append {
            key: key.into(),
            value: value.into(),
        };
        log.record(cli, start, end, op);
    }
}

/// Go's `check`: a Get of `key` must return `value`.
pub fn check(cfg: &Config, ck: &mut Client, key: &str, value: &str) {
    let v = get(cfg, ck, key, None);
    assert!(v == value, "Get({key}): expected:\n{value}\nreceived:\n{v}");
}

/// Go's `NextValue`: the effect of `Append(k, val)` on the old value `prev`.
pub fn next_value(prev: &str, val: &str) -> String {
    format!("{prev}{val}")
}

/// Go's `checkClntAppends`: client `clnt`'s appends `x <clnt> 0 y` ... `x <clnt> <count-1> y`
/// are all in `v`, each once, in order.
pub fn check_clnt_appends(clnt: usize, v: &str, count: usize) {
    let mut lastoff = None;
    for j in 0..count {
        let wanted = format!("x {clnt} {j} y");
        let Some(off) = v.find(&wanted) else {
            panic!("{clnt} missing element {wanted} in Append result {v}");
        };
        let off1 = v.rfind(&wanted);
        assert!(
            off1 == Some(off),
            "duplicate element {wanted} in Append result"
        );
        assert!(
            lastoff.is_none_or(|last| off > last),
            "wrong order for element {wanted} in Append result"
        );
        lastoff = Some(off);
    }
}

/// Go's `checkConcurrentAppends`: every client `i`'s first `counts[i]` appends are in `v`, each
/// once, in order for each client.
pub fn check_concurrent_appends(v: &str, counts: &[usize]) {
    for (i, &count) in counts.iter().enumerate() {
        check_clnt_appends(i, v, count);
    }
}
