//! The service's log lines, in the project's format (see `raft::logging`), with the group in
//! place of the term.

/// Logs one line, `<ms> <TOPIC> S<me> G<gid> <message>`, at debug level with target `shardkv`:
/// `glog!(TOPIC, me, gid, "format", args...)`.
macro_rules! glog {
    ($topic:ident, $me:expr, $gid:expr, $($arg:tt)+) => {
        log::debug!(
            target: "shardkv",
            "{:06} {} S{} G{} {}",
            raft::logging::millis(),
            stringify!($topic),
            $me,
            $gid,
            format_args!($($arg)+)
        )
    };
}
pub(crate) use glog;
