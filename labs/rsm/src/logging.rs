//! The layer's log lines, in the project's format (see `raft::logging`).

/// Logs one line: `slog!(TOPIC, me, term, "format", args...)`.
macro_rules! slog {
    ($topic:ident, $me:expr, $term:expr, $($arg:tt)+) => {
        log::debug!(
            target: "rsm",
            "{:06} {} S{} T{} {}",
            raft::logging::millis(),
            stringify!($topic),
            $me,
            $term,
            format_args!($($arg)+)
        )
    };
}
pub(crate) use slog;
