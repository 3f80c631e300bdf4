//! Debug logging: one macro, one line format, off by default.
//!
//! Every line Raft logs reads `<ms since start> <TOPIC> S<peer> T<term> <message>`, for example
//! `001234 VOTE S2 T3 reject vote for S1: its last log 2/7 is older than ours 3/5 (§5.4.1)`.
//! The time is milliseconds since the process first logged, zero-padded to six digits; the topic
//! is a short upper-case word: TIMR (an election timer fired), VOTE, LEAD, TERM, LOG1 (entries
//! sent or appended), LOG2 (rejections, fast backup), CMIT, APLY, PERS, SNAP, DROP (stale replies,
//! a killed peer).
//! The log viewer (`cargo xtask logs`) parses exactly this shape.
//!
//! Lines go through the `log` crate at debug level with target `raft`, so they cost one
//! level check when logging is off. Turn them on with `RUST_LOG=raft=debug`; [`init_logging`]
//! installs an `env_logger` that prints the lines bare, as the viewer expects.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

/// Milliseconds since the first call, the time column of every log line.
pub fn millis() -> u128 {
    START.get_or_init(Instant::now).elapsed().as_millis()
}

/// Installs an `env_logger` reading `RUST_LOG` that prints each record's message alone, so the
/// lines keep the viewer's format. Safe to call more than once; later calls do nothing.
pub fn init_logging() {
    millis();
    let _ = env_logger::Builder::from_default_env()
        .format(|buf, record| writeln!(buf, "{}", record.args()))
        .is_test(true)
        .try_init();
}

/// Logs one Raft line: `rlog!(TOPIC, state, "format", args...)` where `state` has `me` and
/// `current_term`.
macro_rules! rlog {
    ($topic:ident, $st:expr, $($arg:tt)+) => {
        log::debug!(
            target: "raft",
            "{:06} {} S{} T{} {}",
            $crate::logging::millis(),
            stringify!($topic),
            $st.me,
            $st.current_term,
            format_args!($($arg)+)
        )
    };
}
pub(crate) use rlog;
