//! Laying parsed lines out: `<ms>` in a margin, then, with N columns, peer k's lines in column
//! k (mod N), the columns sharing the width; lines of no peer (the harness's) span the full
//! width. Every line fits the width, so the terminal never wraps one of its own accord: a
//! message too long for its column wraps inside it, on at most [`MAX_LINES`] lines, and the
//! rest is cut (marked `…`); one column, or a harness line, wraps in full. And each topic's
//! colour, as ANSI escape codes.

use super::parse::Line;

/// The width of the time margin: `{ms:>7} `.
const MARGIN: usize = 8;

/// The narrowest a column gets, however narrow the terminal (only then do lines overflow it).
const MIN_COLUMN: usize = 8;

/// The most lines a peer's message takes in a column of its own; the rest is cut.
const MAX_LINES: usize = 3;

/// The text lines (without colour) that show `line`.
pub fn render(line: &Line, columns: usize, width: usize) -> Vec<String> {
    let (column, column_width) = place(line.peer, columns, width);
    let body = match line.peer {
        Some(peer) => format!("{} S{} {}", line.topic, peer, line.text),
        None => format!("{} {}", line.topic, line.text),
    };
    let indent = " ".repeat(MARGIN + column * column_width);
    // One space between a column's text and the next column.
    let text_width = column_width.saturating_sub(1).max(1);
    let mut chunks = wrap(&body, text_width);
    if line.peer.is_some() && columns > 1 && chunks.len() > MAX_LINES {
        chunks.truncate(MAX_LINES);
        let last = &mut chunks[MAX_LINES - 1];
        *last = last.chars().take(text_width - 1).collect();
        last.push('…');
    }
    chunks
        .into_iter()
        .enumerate()
        .map(|(k, chunk)| {
            if k == 0 {
                format!("{:>7} {}{chunk}", line.ms, &indent[MARGIN..])
            } else {
                format!("{indent}{chunk}")
            }
        })
        .collect()
}

/// The column (from 0) and the width of the text of a line of `peer`.
fn place(peer: Option<usize>, columns: usize, width: usize) -> (usize, usize) {
    let text_width = width.saturating_sub(MARGIN).max(MIN_COLUMN);
    match peer {
        Some(peer) if columns > 1 => (peer % columns, (text_width / columns).max(MIN_COLUMN)),
        _ => (0, text_width),
    }
}

/// The column heads, `S0`, `S1`, ..., over their columns.
pub fn header(columns: usize, width: usize) -> String {
    let (_, column_width) = place(Some(0), columns, width);
    let heads: String = (0..columns)
        .map(|k| format!("{:<column_width$}", format!("S{k}")))
        .collect();
    format!("{}{}", " ".repeat(MARGIN), heads.trim_end())
}

/// Splits `text` into pieces of at most `width` characters, at spaces where it can.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        while word.chars().count() > width {
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
            }
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            lines.push(head);
        }
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&word);
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

/// The ANSI colour of a topic (the topics of `src/logging.rs`, and the harness's).
pub fn color(topic: &str) -> &'static str {
    match topic {
        "TIMR" => "\x1b[90m",
        "VOTE" => "\x1b[36m",
        "LEAD" => "\x1b[1;33m",
        "TERM" => "\x1b[35m",
        "LOG1" => "\x1b[34m",
        "LOG2" => "\x1b[94m",
        "CMIT" => "\x1b[32m",
        "APLY" => "\x1b[92m",
        "PERS" => "\x1b[33m",
        "SNAP" => "\x1b[95m",
        "DROP" => "\x1b[31m",
        "TEST" => "\x1b[1;97;44m",
        _ => "\x1b[37m",
    }
}

pub const RESET: &str = "\x1b[0m";

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    #[test]
    fn peers_go_in_their_columns() {
        let column_width = (100 - MARGIN) / 3;
        for peer in 0..3 {
            let raw = format!("000100 LEAD S{peer} T1 won");
            let rendered = render(&parse(&raw).expect("parses"), 3, 100);
            assert_eq!(rendered.len(), 1);
            assert!(rendered[0].starts_with("    100 "), "{:?}", rendered[0]);
            let at = rendered[0].find("LEAD").expect("body present");
            assert_eq!(at, MARGIN + peer * column_width);
        }
        // Peers beyond the columns wrap around.
        let s4 = render(&parse("000100 VOTE S4 T1 x").expect("parses"), 3, 100);
        assert_eq!(s4[0].find("VOTE"), Some(MARGIN + column_width));
    }

    #[test]
    fn harness_lines_span_the_full_width() {
        let test = parse("000100 TEST begin").expect("parses");
        assert_eq!(render(&test, 3, 100), vec!["    100 TEST begin"]);
        let long = format!("000100 TEST {}", "word ".repeat(20));
        let rendered = render(&parse(&long).expect("parses"), 3, 100);
        assert_eq!(rendered.len(), 2, "{rendered:?}");
        assert!(rendered[0].len() > 60, "{rendered:?}");
    }

    #[test]
    fn one_column_puts_every_peer_at_the_margin() {
        let line = parse("000100 LEAD S2 T1 won").expect("parses");
        assert_eq!(render(&line, 1, 100), vec!["    100 LEAD S2 T1 won"]);
    }

    #[test]
    fn long_messages_wrap_inside_their_column() {
        let raw = format!("000005 LOG1 S1 T2 {}", "word ".repeat(30));
        let rendered = render(&parse(&raw).expect("parses"), 2, 80);
        assert!(rendered.len() > 1);
        let column_width = (80 - MARGIN) / 2;
        for l in &rendered[1..] {
            assert!(l.starts_with(&" ".repeat(MARGIN + column_width)), "{l:?}");
            assert!(
                l.trim_end().chars().count() < MARGIN + 2 * column_width,
                "{l:?}"
            );
        }
    }

    /// Seven peers in 100 columns (`-c 7 --width 100`): nothing wider than the width, no
    /// message on more than three lines, and a cut message marked.
    #[test]
    fn seven_columns_fit_a_hundred_characters() {
        let long = "000413 VOTE S6 T1 election timeout: standing for term 1, voted for itself";
        let short = "000413 LEAD S3 T2 won";
        for raw in [long, short] {
            for columns in [5, 7, 9] {
                for width in [80, 100] {
                    let rendered = render(&parse(raw).expect("parses"), columns, width);
                    assert!(rendered.len() <= MAX_LINES, "{rendered:?}");
                    for l in &rendered {
                        assert!(l.chars().count() <= width, "{width}: {l:?}");
                    }
                }
            }
        }
        let rendered = render(&parse(long).expect("parses"), 7, 100);
        assert_eq!(rendered.len(), 3);
        assert!(rendered[2].ends_with('…'), "{rendered:?}");
        assert_eq!(render(&parse(short).expect("parses"), 7, 100).len(), 2);
        let header = header(7, 100);
        assert!(header.len() <= 100 && header.contains("S6"), "{header:?}");
    }

    #[test]
    fn one_column_and_harness_lines_are_never_cut() {
        let raw = format!("000005 LOG1 S1 T2 {}", "word ".repeat(40));
        let rendered = render(&parse(&raw).expect("parses"), 1, 80);
        assert_eq!(rendered.len(), 3);
        assert!(rendered.iter().all(|l| !l.contains('…') && l.len() <= 80));
        let raw = format!("000005 TEST {}", "word ".repeat(40));
        let rendered = render(&parse(&raw).expect("parses"), 7, 60);
        assert!(rendered.len() > MAX_LINES && rendered.iter().all(|l| l.len() <= 60));
    }

    #[test]
    fn header_names_the_columns() {
        let column_width = (100 - MARGIN) / 3;
        let header = header(3, 100);
        assert_eq!(header.find("S0"), Some(MARGIN));
        assert_eq!(header.find("S2"), Some(MARGIN + 2 * column_width));
    }

    #[test]
    fn wrap_splits_at_spaces_and_long_words() {
        assert_eq!(wrap("a bb ccc", 4), vec!["a bb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), vec![""]);
    }
}
