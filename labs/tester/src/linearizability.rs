//! The linearizability check the key/value tests end with: Go's `models/kv.go` for the
//! porcupine checker (porcupine-rs, a port of Go's porcupine), the recorder the tests' clerk
//! wrappers append their operations to (Go's `OpLog`), and the verdict
//! ([`assert_linearizable`]).
//!
//! The model is Go's, point by point: operations are Get, Put and Append on a key, with the
//! value a Get returned; a history is partitioned by key (each key is a register of its own,
//! checked alone, in the keys' sorted order); every key starts as `""`; a Get is legal when it
//! returned the state, a Put replaces it, an Append extends it.
//!
//! Not in Go: the state is a [`KvState`], a shared, growing buffer with its hash computed as it
//! grows. The checker clones the state at every step it tries, extends it at every Append and
//! hashes it for its cache of visited configurations; with a plain `String` each of these costs
//! the value's length, and a five-second append test builds values of hundreds of kilobytes
//! over a hundred thousand operations, which a one-second check could not get through.
//!
//! The verdict is Go's: the check runs for at most [`CHECK_TIMEOUT`]; a history found
//! linearizable passes; a check that runs out of time passes with
//! `info: linearizability check timed out, assuming history is ok`; a history found not
//! linearizable fails the test with `history is not linearizable`, after porcupine's picture
//! of it has been written to `target/linearizability/<test>.html` (where Go writes a temporary
//! file) and its path printed.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use porcupine_rs::{CheckResult, Model, Operation};

use crate::say;

/// Go's `linearizabilityCheckTimeout`: how long the checker may search for a linearization.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// Not in Go: how long the checker may take again, once a history is known not to be
/// linearizable, to collect the partial linearizations for its picture. Go's porcupine
/// collects them during the timed check; porcupine-rs reports a partition it had to stop as
/// illegal when asked for them, so the verdict comes from a check without them, and the
/// picture from this second run. A key whose search is cut short by it shows fewer steps.
pub const PICTURE_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of a long value the picture shows: its last this many characters.
const SHOWN_CHARS: usize = 200;

/// One key/value operation as a client saw it: Go's `KvInput` (`Op` 0, 1, 2 for Get, Put,
/// Append) with `KvOutput`, the value a Get returned. The strings are shared, so the checker's
/// copies of an operation do not copy a long value read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOp {
    /// `Get(key)`, which returned `value`.
    Get {
        /// The key read.
        key: Arc<str>,
        /// What the Get returned.
        value: Arc<str>,
    },
    /// `Put(key, value)`.
    Put {
        /// The key written.
        key: Arc<str>,
        /// The value put.
        value: Arc<str>,
    },
    /// `Append(key, value)`.
    Append {
        /// The key appended to.
        key: Arc<str>,
        /// The value appended.
        value: Arc<str>,
    },
}

impl KvOp {
    /// The key the operation is on, which its history is partitioned by.
    pub fn key(&self) -> &str {
        match self {
            KvOp::Get { key, .. } | KvOp::Put { key, .. } | KvOp::Append { key, .. } => key,
        }
    }
}

/// The value of one key, cheap to clone, to hash and to extend: the first `len` bytes of a
/// buffer that only ever grows, shared by the states along a line of appends, with the value's
/// FNV-1a hash (an Append extends the hash of the value it extends, so it hashes only the
/// appended bytes). Equality is exact string equality.
///
/// An Append whose state ends where the buffer does pushes onto the buffer; one that finds the
/// same bytes already there (the checker trying the same Append again after backtracking)
/// shares them; only an Append that differs from what follows copies the value into a buffer
/// of its own. So checking one clerk's appends costs the appended bytes, not, as a fresh string
/// per step would, the value's length at every step.
#[derive(Clone, Debug)]
pub struct KvState {
    buffer: Arc<Mutex<String>>,
    len: usize,
    hash: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over `bytes`, continued from `hash`.
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

impl KvState {
    /// A state holding `value`.
    pub fn new(value: &str) -> KvState {
        KvState {
            buffer: Arc::new(Mutex::new(value.to_string())),
            len: value.len(),
            hash: fnv1a(FNV_OFFSET, value.as_bytes()),
        }
    }

    /// The state after appending `suffix`.
    pub fn appended(&self, suffix: &str) -> KvState {
        let len = self.len + suffix.len();
        let hash = fnv1a(self.hash, suffix.as_bytes());
        let mut buffer = self.buffer.lock();
        if buffer.len() == self.len {
            buffer.push_str(suffix);
        } else if !buffer.as_bytes()[self.len..].starts_with(suffix.as_bytes()) {
            let mut value = String::with_capacity(len);
            value.push_str(&buffer[..self.len]);
            value.push_str(suffix);
            return KvState {
                buffer: Arc::new(Mutex::new(value)),
                len,
                hash,
            };
        }
        drop(buffer);
        KvState {
            buffer: Arc::clone(&self.buffer),
            len,
            hash,
        }
    }

    /// Whether the value is `value`.
    pub fn holds(&self, value: &str) -> bool {
        self.len == value.len() && self.buffer.lock().as_bytes()[..self.len] == *value.as_bytes()
    }

    /// The value.
    pub fn value(&self) -> String {
        self.buffer.lock()[..self.len].to_string()
    }
}

impl PartialEq for KvState {
    fn eq(&self, other: &KvState) -> bool {
        if self.len != other.len || self.hash != other.hash {
            return false;
        }
        if Arc::ptr_eq(&self.buffer, &other.buffer) {
            return true;
        }
        // Two buffers, locked in address order so that two threads never wait on each other.
        let (first, second) = if Arc::as_ptr(&self.buffer) < Arc::as_ptr(&other.buffer) {
            (self, other)
        } else {
            (other, self)
        };
        let first_buffer = first.buffer.lock();
        let second_buffer = second.buffer.lock();
        first_buffer.as_bytes()[..first.len] == second_buffer.as_bytes()[..second.len]
    }
}

impl Eq for KvState {}

impl Hash for KvState {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// A value as the picture shows it: quoted as Go's model does, and cut to its last
/// [`SHOWN_CHARS`] characters (the end is where an Append went missing or twice) with its
/// length when longer. Not in Go, whose picture shows values whole.
fn shown(value: &str) -> String {
    let chars = value.chars().count();
    if chars <= SHOWN_CHARS {
        return format!("'{value}'");
    }
    let tail: String = value.chars().skip(chars - SHOWN_CHARS).collect();
    format!("'...{tail}' ({} bytes)", value.len())
}

/// Go's `models.KvModel`, for porcupine-rs.
#[derive(Clone, Copy, Debug)]
pub struct KvModel;

impl Model for KvModel {
    type State = KvState;
    type Op = KvOp;
    type Metadata = ();

    /// One partition per key, in the keys' sorted order (Go's `sort.Strings`).
    fn partition_operations(history: &[Operation<KvModel>]) -> Vec<Vec<Operation<KvModel>>> {
        let mut by_key: BTreeMap<&str, Vec<Operation<KvModel>>> = BTreeMap::new();
        for operation in history {
            by_key
                .entry(operation.op.key())
                .or_default()
                .push(operation.clone());
        }
        by_key.into_values().collect()
    }

    /// "we are modeling a single key's value here; we're partitioning by key, so this is okay".
    fn init() -> KvState {
        KvState::new("")
    }

    fn step(state: &KvState, op: &KvOp) -> (bool, KvState) {
        match op {
            KvOp::Get { value, .. } => (state.holds(value), state.clone()),
            KvOp::Put { value, .. } => (true, KvState::new(value)),
            KvOp::Append { value, .. } => (true, state.appended(value)),
        }
    }

    fn describe_operation(op: &KvOp) -> String {
        match op {
            KvOp::Get { key, value } => format!("get('{key}') -> {}", shown(value)),
            KvOp::Put { key, value } => format!("put('{key}', {})", shown(value)),
            KvOp::Append { key, value } => format!("append('{key}', {})", shown(value)),
        }
    }

    fn describe_state(state: &KvState) -> String {
        shown(&state.value())
    }
}

/// One recorded operation: what a clerk did, between which times, for which client.
pub type KvOperation = Operation<KvModel>;

/// Nanoseconds since the process's first call: the one monotonic clock of every recorded
/// call and return time (Go's `time.Since(t0)`, with `t0` set when the test binary starts).
pub fn now() -> i64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let nanos = ORIGIN.get_or_init(Instant::now).elapsed().as_nanos();
    i64::try_from(nanos).expect("a test runs for less than 292 years")
}

/// Go's `OpLog`: the history of a test, appended to by every client thread.
#[derive(Default)]
pub struct OpLog {
    operations: Mutex<Vec<KvOperation>>,
}

impl OpLog {
    /// An empty history.
    pub fn new() -> OpLog {
        OpLog::default()
    }

    /// Records `op`, which client `client` called at `call` and which returned at `ret` (both
    /// from [`now`]).
    pub fn record(&self, client: u32, call: i64, ret: i64, op: KvOp) {
        self.operations.lock().push(Operation {
            client_id: Some(client),
            call_time: call,
            return_time: ret,
            op,
            metadata: None,
        });
    }

    /// A copy of the history so far.
    pub fn read(&self) -> Vec<KvOperation> {
        self.operations.lock().clone()
    }

    /// How many operations have been recorded.
    pub fn len(&self) -> usize {
        self.operations.lock().len()
    }

    /// Whether nothing has been recorded yet.
    pub fn is_empty(&self) -> bool {
        self.operations.lock().is_empty()
    }
}

/// Checks `history` for at most [`CHECK_TIMEOUT`]: `Ok`, `Illegal`, or `Unknown` when the
/// time ran out first.
pub fn check(history: &[KvOperation]) -> CheckResult {
    porcupine_rs::check_operations_timeout(history, CHECK_TIMEOUT)
}

/// Writes porcupine's picture of `history` (every key's longest partial linearizations,
/// searched for at most [`PICTURE_TIMEOUT`]) to `target/linearizability/<test>.html`; returns
/// its path.
pub fn write_visualization(test: &str, history: &[KvOperation]) -> std::io::Result<PathBuf> {
    let (_, info) = porcupine_rs::check_operations_info_timeout(history, PICTURE_TIMEOUT);
    let dir = crate::target_dir().join("linearizability");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{}.html", crate::file_name(test)));
    porcupine_rs::visualize_path::<KvModel>(&info, &path)?;
    Ok(path)
}

/// The end of Go's `GenericTest`: passes if `history` is linearizable or the check timed out
/// (saying so), and fails test `test` otherwise, after writing the history's picture.
///
/// # Panics
/// With `history is not linearizable` when the checker proves it is not.
pub fn assert_linearizable(test: &str, history: &[KvOperation]) {
    match check(history) {
        CheckResult::Ok => {}
        CheckResult::Unknown => say(format_args!(
            "info: linearizability check timed out, assuming history is ok"
        )),
        CheckResult::Illegal => {
            match write_visualization(test, history) {
                Ok(path) => say(format_args!(
                    "info: wrote history visualization to {}",
                    path.display()
                )),
                Err(err) => say(format_args!(
                    "info: failed to write history visualization: {err}"
                )),
            }
            panic!("history is not linearizable");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(client: u32, call: i64, ret: i64, op: KvOp) -> KvOperation {
        Operation {
            client_id: Some(client),
            call_time: call,
            return_time: ret,
            op,
            metadata: None,
        }
    }

    fn get(key: &str, value: &str) -> KvOp {
        KvOp::Get {
            key: key.into(),
            value: value.into(),
        }
    }

    fn put(key: &str, value: &str) -> KvOp {
        KvOp::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    fn append(key: &str, value: &str) -> KvOp {
        KvOp::Append {
            key: key.into(),
            value: value.into(),
        }
    }

    /// A state built by appends equals, and hashes like, the same value built at once: the
    /// checker's cache relies on both.
    #[test]
    fn appended_state_equals_and_hashes_like_a_fresh_one() {
        let built = KvState::new("x 0 0 y")
            .appended("x 0 1 y")
            .appended("x 1 0 y");
        let fresh = KvState::new("x 0 0 yx 0 1 yx 1 0 y");
        assert_eq!(built, fresh);
        assert_eq!(built.hash, fresh.hash);
        assert_ne!(built, KvState::new("x 0 0 yx 0 1 y"));
        assert_ne!(KvModel::init(), KvState::new("a"));
    }

    /// States that branch from one state, as the checker's backtracking makes them, each keep
    /// their own value, whichever order they are made in.
    #[test]
    fn branching_appends_keep_their_own_values() {
        let base = KvState::new("a");
        let ab = base.appended("b");
        let abc = ab.appended("c");
        let ab_again = base.appended("b"); // shares the buffer: the same bytes follow
        let ax = base.appended("x"); // differs from what follows: a buffer of its own
        let abd = ab_again.appended("d");
        for (state, value) in [
            (&base, "a"),
            (&ab, "ab"),
            (&abc, "abc"),
            (&ab_again, "ab"),
            (&ax, "ax"),
            (&abd, "abd"),
        ] {
            assert_eq!(state.value(), value);
            assert!(state.holds(value));
            assert_eq!(*state, KvState::new(value), "{value}");
        }
        assert!(Arc::ptr_eq(&ab.buffer, &ab_again.buffer));
        assert!(!Arc::ptr_eq(&ab.buffer, &ax.buffer));
        assert!(!abc.holds("abd") && !abc.holds("ab"));
    }

    /// Concurrent operations on two keys, with a Get that overlaps the Append it sees.
    #[test]
    fn a_linearizable_history_passes() {
        let history = vec![
            op(0, 0, 10, put("x", "1")),
            op(1, 5, 30, append("x", "2")),
            op(2, 12, 20, get("x", "12")),
            op(0, 15, 25, get("y", "")),
            op(2, 21, 40, append("y", "a")),
            op(0, 26, 35, get("x", "12")),
            op(1, 45, 50, get("y", "a")),
        ];
        assert_eq!(check(&history), CheckResult::Ok);
        assert_linearizable("a_linearizable_history_passes", &history);
    }

    /// `put(x, 1)` completes, then a later Get returns `""`: no order explains it.
    #[test]
    fn a_stale_read_is_illegal() {
        let history = vec![
            op(0, 0, 10, put("x", "1")),
            op(1, 20, 30, get("x", "")),
            op(2, 0, 30, get("y", "")),
        ];
        assert_eq!(check(&history), CheckResult::Illegal);
    }

    /// An Append applied twice shows in the value a later Get returns.
    #[test]
    fn a_duplicated_append_is_illegal() {
        let history = vec![
            op(0, 0, 10, append("k", "x 0 0 y")),
            op(1, 5, 15, append("k", "x 1 0 y")),
            op(0, 20, 30, get("k", "x 0 0 yx 1 0 yx 0 0 y")),
        ];
        assert_eq!(check(&history), CheckResult::Illegal);
    }

    /// The verdict fails the test, and writes the picture first.
    #[test]
    fn a_failed_check_fails_and_writes_the_picture() {
        let test = "tester_unit_a_failed_check";
        let path = crate::target_dir()
            .join("linearizability")
            .join(format!("{test}.html"));
        let _ = std::fs::remove_file(&path);
        let history = vec![op(0, 0, 10, put("x", "1")), op(1, 20, 30, get("x", ""))];
        let failure = std::panic::catch_unwind(|| assert_linearizable(test, &history))
            .expect_err("a stale read must fail the check");
        assert_eq!(
            failure.downcast_ref::<&str>(),
            Some(&"history is not linearizable")
        );
        let html = std::fs::read_to_string(&path).expect("the picture was written");
        assert!(html.contains("put('x', '1')"), "the picture names the Put");
        assert!(html.contains("get('x') -> ''"), "the picture names the Get");
    }

    /// A history the size of a long many-client test is linearizable, and the model decides
    /// it: 30,000 operations from 15 clients on 15 keys, about three at a time, nine in ten of
    /// them Appends, each key Put back to `""` every 500 of its operations (as `GenericTest`
    /// does at every round), so that values grow to some 5 kB. Checked without a time limit:
    /// how fast (170-400 ms here, within the lab's one second because the state's clones and
    /// hashes do not cost its length) is a figure to measure, not to assert.
    #[test]
    fn a_long_append_history_is_decided_in_time() {
        const OPS: i64 = 30_000;
        const KEYS: i64 = 15;
        const CLIENTS: i64 = 15;
        const ROUND: i64 = 500;
        let mut values: Vec<String> = vec![String::new(); KEYS as usize];
        let mut history = Vec::with_capacity(OPS as usize);
        for i in 0..OPS {
            // Client `i % CLIENTS` on key `i % KEYS`, linearized at 10 * i, running from up
            // to 12 before to up to 12 after: neighbours overlap, a client's own ops do not.
            let (key, nth) = ((i % KEYS) as usize, i / KEYS);
            let at = 10 * i;
            let (call, ret) = (at - (i * 7) % 13, at + (i * 5) % 13);
            let kv_op = if nth % ROUND == 0 {
                values[key].clear();
                put(&key.to_string(), "")
            } else if nth % 10 != 5 {
                let value = format!("x {} {i} y", i % CLIENTS);
                values[key].push_str(&value);
                append(&key.to_string(), &value)
            } else {
                get(&key.to_string(), &values[key])
            };
            history.push(op((i % CLIENTS) as u32, call, ret, kv_op));
        }
        assert!(porcupine_rs::check_operations(&history));
    }
}
