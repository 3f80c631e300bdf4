//! The test harness of the Raft labs: a port of the course's Go `config.go` (2024).
//!
//! A [`Config`](config::Config) builds `n` Raft peers on one simulated labrpc network and
//! checks what they do: each peer's `apply_ch` is read by an applier thread that records the
//! committed commands in the tester's copy of that peer's log and checks them against every
//! other peer's. The tests
//! in `part_a.rs` ... `part_d.rs` drive it with the same calls, in the same order, as Go's
//! `test_test.go`. Names map one to one: `make_config`, `begin`/`end`, `one`, `wait`,
//! `n_committed`, `check_one_leader`, `check_terms`, `check_no_leader`, `crash1`, `start1`,
//! `connect`/`disconnect`, `rpc_count`/`rpc_total`/`bytes_total`, `set_unreliable`,
//! `set_long_reordering`, `log_size`.
//!
//! The files, by concern:
//!
//! - `config.rs`: the `Config` and its wiring: peers started, crashed, connected, and the
//!   cleanup in `Drop`;
//! - `checks.rs`: what the tests assert with (`check_one_leader`, `n_committed`, `wait`, `one`);
//! - `applier.rs`: the appliers, and the zombies: the `apply_ch` of every killed instance,
//!   which must stay silent;
//! - from the `tester` crate, shared with the harnesses of the services on Raft:
//!   `tester::process`, the lock that runs the tests one at a time and the failure reports
//!   that outlive an aborting process, and `tester::timeline`, the failure timeline; the
//!   small helpers (`randstring`, `rand_int`, `say`, `warn`) and Go's 120 s limit.
//!
//! Tests run one at a time, as Go runs them: `make_config` waits for the test before to drop
//! its `Config`, so a plain `cargo test` needs no `--test-threads=1`, and no test's timing
//! suffers from another's load. Go's 120 s per test count from then on.
//!
//! The `Test (PartX): ...` and `... Passed --` lines go straight to the process's stdout, so
//! they show under a plain `cargo test`, as Go's do under `go test` (libtest captures only
//! `println!`).
//!
//! Where Go dies at once (`log.Fatalf` in an applier), this harness records the error and the
//! next harness call panics with it; an applier error found at the end fails the test too. So
//! does a killed instance that sends on `apply_ch` after `kill` returned. A test that runs past
//! 120 s is ended by a watchdog that exits the process, so CI cannot hang.
//!
//! When a test fails, the harness prints the seed of the network's random source (rerun with
//! `LABRPC_SEED=N`) and writes a timeline of the run (see `tester::timeline`); `RAFT_TIMELINE=1`
//! writes one for passing tests too. A panic on a thread other than the test's own (a Raft
//! thread, whose panic aborts the process, a labrpc handler, an applier) is reported at once,
//! with the test's name, the seed and the timeline, by a panic hook.

#![allow(dead_code)]

use std::time::Duration;

use rand::RngExt;
use serde::{Deserialize, Serialize};

// Each test file uses some of them (the crate is compiled once per test file).
#[allow(unused_imports)]
pub use tester::{rand_int, randstring, warn};

/// "The tester generously allows solutions to complete elections in one second (much more than
/// the paper's range of timeouts)."
pub const RAFT_ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);

/// The applier with snapshots asks for one after every `SNAPSHOT_INTERVAL` commands.
pub const SNAPSHOT_INTERVAL: u64 = 10;

/// PartD: the largest persisted Raft state a test accepts.
pub const MAX_LOG_SIZE: usize = 2000;

/// A command as the tests submit it: Go's tests use ints, and `rpc_bytes_part_b` long strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    Int(i64),
    Str(String),
}

impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cmd::Int(x) => write!(f, "{x}"),
            Cmd::Str(s) if s.len() > 20 => write!(f, "{:?}...({} bytes)", &s[..20], s.len()),
            Cmd::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// The bytes handed to `Raft::start` for the integer command `x`.
pub fn cmd(x: i64) -> Vec<u8> {
    labgob::encode(&Cmd::Int(x))
}

/// A random non-negative command, as Go's `rand.Int()`.
pub fn rand_cmd() -> i64 {
    rand::rng().random_range(0..i64::MAX)
}

/// Logs a harness line in the project's format, `<ms> TEST <message>`.
macro_rules! tlog {
    ($($arg:tt)+) => {
        log::info!(target: "test", "{:06} TEST {}", raft::logging::millis(), format_args!($($arg)+))
    };
}

mod applier;
mod checks;
mod config;

#[allow(unused_imports)]
pub use config::{make_config, make_config_with};
