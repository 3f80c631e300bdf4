//! Reading one line of the project's log format, by hand (no regex):
//!
//! - Raft (`src/logging.rs`): `<ms> <TOPIC> S<peer> T<term> <message>`, as in
//!   `001234 VOTE S2 T3 granted vote to S1`;
//! - the harness (`tests/common`): `<ms> TEST <message>`.
//!
//! It is lenient: the time is any run of digits, the topic any short upper-case word, the
//! peer optional. A log line may also come after other text on the same line, as the first one
//! does after libtest's `test <name> ... ` under `--nocapture`; it is found there when its
//! time has the format's six digits at least.

/// One parsed log line.
#[derive(Debug, PartialEq)]
pub struct Line<'a> {
    pub ms: u64,
    pub topic: &'a str,
    /// The peer of a Raft line; none for the harness's lines.
    pub peer: Option<usize>,
    /// The rest: `T<term> message` for Raft lines, the message for harness lines.
    pub text: &'a str,
}

/// The harness's topic: its lines belong to no peer.
pub const HARNESS: &str = "TEST";

/// The log line in `raw`, with the text before it on the same line (empty when the line is
/// all log line); `None` for a line of another shape (a panic, a backtrace, libtest's lines).
pub fn find(raw: &str) -> Option<(&str, Line<'_>)> {
    let raw = raw.trim_end();
    if let Some(line) = parse(raw.trim_start()) {
        return Some(("", line));
    }
    raw.match_indices(' ').find_map(|(at, _)| {
        let rest = &raw[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits < 6 {
            return None;
        }
        parse(rest).map(|line| (&raw[..at + 1], line))
    })
}

/// Parses `<ms> <TOPIC> [S<peer>] <text>`, the whole of `line`.
pub fn parse(line: &str) -> Option<Line<'_>> {
    let (ms, rest) = line.split_once(' ')?;
    if ms.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (topic, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if !is_topic(topic) {
        return None;
    }
    let (peer, text) = match rest.split_once(' ').unwrap_or((rest, "")) {
        _ if topic == HARNESS => (None, rest),
        (word, text) => match word.strip_prefix('S').map(str::parse) {
            Some(Ok(peer)) => (Some(peer), text),
            _ => (None, rest),
        },
    };
    Some(Line {
        ms: ms.parse().ok()?,
        topic,
        peer,
        text,
    })
}

/// TIMR, VOTE, LOG1, ...: two to five upper-case letters or digits, a letter first.
fn is_topic(word: &str) -> bool {
    (2..=5).contains(&word.len())
        && word.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && word
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(ms: u64, topic: &'a str, peer: Option<usize>, text: &'a str) -> Line<'a> {
        Line {
            ms,
            topic,
            peer,
            text,
        }
    }

    #[test]
    fn parses_raft_lines() {
        assert_eq!(
            parse("001234 VOTE S2 T3 grant vote to S1"),
            Some(line(1234, "VOTE", Some(2), "T3 grant vote to S1"))
        );
        assert_eq!(
            parse("000531 LOG1 S10 T1 sent 3 entries"),
            Some(line(531, "LOG1", Some(10), "T1 sent 3 entries"))
        );
        // Leniently: any number of digits, no peer, no message.
        assert_eq!(parse("7 CMIT S0"), Some(line(7, "CMIT", Some(0), "")));
        assert_eq!(parse("12 DROP x"), Some(line(12, "DROP", None, "x")));
        assert_eq!(parse("12 DROP Sx y"), Some(line(12, "DROP", None, "Sx y")));
    }

    #[test]
    fn harness_lines_have_no_peer() {
        assert_eq!(
            parse("000017 TEST connect(1)"),
            Some(line(17, "TEST", None, "connect(1)"))
        );
        assert_eq!(
            parse("000017 TEST S1 is leader"),
            Some(line(17, "TEST", None, "S1 is leader"))
        );
    }

    #[test]
    fn other_lines_do_not_parse() {
        for other in [
            "thread 'main' panicked at src/x.rs:1:1:",
            "test part_a::x ... ok",
            "   0: std::backtrace",
            "test result: ok. 1 passed; 0 failed",
            "12 lowercase S1 x",
            "12 TOOLONG S1 x",
            "12 1ABC S1 x",
            "001234",
            "",
        ] {
            assert_eq!(find(other), None, "{other:?}");
        }
    }

    #[test]
    fn finds_a_line_after_libtest_prefix() {
        let raw = "test xtask_selftest ... 000000 TEST make_config: 3 peers";
        assert_eq!(
            find(raw),
            Some((
                "test xtask_selftest ... ",
                line(0, "TEST", None, "make_config: 3 peers")
            ))
        );
        // A short number inside text is not taken for a time.
        assert_eq!(find("running 12 TESTS now"), None);
        // Surrounding whitespace and a CR are ignored.
        assert_eq!(
            find("  000005 LEAD S1 T2 won\r"),
            Some(("", line(5, "LEAD", Some(1), "T2 won")))
        );
    }
}
