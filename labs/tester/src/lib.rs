//! What the lab's test harnesses share: the Raft harness (`tests/common/`), and the harnesses
//! of kvraft, shardctrler and shardkv (`labs/<crate>/tests/common/`).
//!
//! Each harness is a port of one of the course's Go `config.go` files and keeps its shape; what
//! is the same in all of them lives here:
//!
//! - [`group`]: the server group (Go's 2025 `tester1.ServerGrp`): the servers of one replica
//!   group on a labrpc network with their persisters and ends; it starts, shuts down and
//!   restarts them, connects and partitions them, and measures their persisted state. The
//!   kvraft, shardctrler and shardkv harnesses run their servers in groups;
//! - [`process`]: the lock that runs a test binary's tests one at a time, as Go runs them, and
//!   the two reporters that speak for a test that cannot speak for itself (the panic hook and
//!   the watchdog that ends a test past Go's [`TEST_TIME_LIMIT`]);
//! - [`timeline`]: the failure timeline, one swimlane per server, written as HTML under
//!   `target/timelines/`;
//! - `linearizability`, with the feature of that name (the services' tests turn it on): the
//!   key/value model for the porcupine checker (Go's `models/kv.go`), the recorder the clerk
//!   wrappers append their operations to (Go's `OpLog`), and the verdict the kvraft and
//!   shardkv tests end with;
//! - [`levers`]: which of the real cluster's switches the tests run with (`LAB_LEVERS`; none
//!   by default);
//! - here: the lab's small helpers ([`say`], [`warn`], [`randstring`], [`rand_int`]).
//!
//! The lab's own lines (`Test: ...`, `  ... Passed --`, `info: ...`, `warning: ...`) go straight
//! to the process's stdout through [`say`], so they show under a plain `cargo test`, as Go's do
//! under `go test` (libtest captures only `println!`).

pub mod group;
pub mod levers;
#[cfg(feature = "linearizability")]
pub mod linearizability;
pub mod process;
pub mod timeline;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use rand::RngExt;

/// Go's real-time limit per test: "enforce a two minute real-time limit on each test".
pub const TEST_TIME_LIMIT: Duration = Duration::from_secs(120);

/// Go's randstring: `n` random URL-safe characters (the alphabet of base64's URL encoding).
pub fn randstring(n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// A random integer in `0..n`, as Go's `rand.Int() % n`.
///
/// # Panics
/// If `n` is 0.
pub fn rand_int(n: u64) -> u64 {
    rand::rng().random_range(0..n)
}

/// Prints a line of the lab's output on the process's stdout, past libtest's capture, as Go's
/// tests print under a plain `go test`.
pub fn say(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Go's `fmt.Printf("warning: ...")` in a test: shown, but not a failure.
pub fn warn(message: &str) {
    say(format_args!("warning: {message}"));
}

/// The workspace's target directory: `CARGO_TARGET_DIR` if set, else `target/` at the root of
/// the workspace (two folders up from this crate), whichever crate's tests are running. The
/// timelines and the linearizability pictures go under it.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // This crate lives in `labs/tester/`.
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target")
        })
}

/// `name` made safe as a file name: ASCII letters, digits and `_` are kept, anything else
/// (libtest's `::` in a module path, say) becomes `_`.
pub fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
