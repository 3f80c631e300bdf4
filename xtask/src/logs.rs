//! `cargo xtask logs`: lay a Raft log out by peer, in colour.
//!
//! Raft's lines read `<ms> <TOPIC> S<peer> T<term> <message>` and the harness's
//! `<ms> TEST <message>` (see `src/logging.rs`). With `-c N`, peer k's lines go in column k of
//! N; harness lines, and lines of no peer, span the full width; anything else (panics,
//! backtraces, libtest's own lines) is printed as it is.

use crate::{flag_value, parse_flag};
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::process::ExitCode;

pub struct Options {
    input: Option<String>,
    columns: usize,
    just: Vec<String>,
    ignore: Vec<String>,
    color: bool,
    width: usize,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            input: None,
            columns: 1,
            just: Vec::new(),
            ignore: Vec::new(),
            color: std::io::stdout().is_terminal(),
            width: std::env::var("COLUMNS")
                .ok()
                .and_then(|c| c.parse().ok())
                .unwrap_or(160),
        };
        let topics = |s: &str| {
            s.split(',')
                .map(|t| t.trim().to_uppercase())
                .collect::<Vec<_>>()
        };
        let mut i = 0;
        while i < args.len() {
            match args[i].as_str() {
                "-c" | "--columns" => o.columns = parse_flag::<usize>(args, &mut i)?.max(1),
                "--just" => o.just = topics(flag_value(args, &mut i)?),
                "--ignore" => o.ignore = topics(flag_value(args, &mut i)?),
                "--no-color" => o.color = false,
                "--width" => o.width = parse_flag(args, &mut i)?,
                "-" => o.input = None,
                flag if flag.starts_with('-') => return Err(format!("unknown flag {flag}")),
                file => o.input = Some(file.to_string()),
            }
            i += 1;
        }
        Ok(o)
    }
}

/// One parsed log line.
#[derive(Debug, PartialEq)]
pub struct Line<'a> {
    pub ms: u64,
    pub topic: &'a str,
    pub peer: Option<usize>,
    /// The rest: `T<term> message` for Raft lines, the message for harness lines.
    pub text: &'a str,
}

/// Parses `<ms> <TOPIC> [S<peer>] <text>`; `None` for a line of another shape.
pub fn parse(line: &str) -> Option<Line<'_>> {
    let line = line.trim_end();
    let (ms, rest) = line.split_once(' ')?;
    if ms.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (topic, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let topic_ok = (2..=5).contains(&topic.len())
        && topic
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !topic_ok {
        return None;
    }
    let (peer, text) = match rest.split_once(' ').unwrap_or((rest, "")) {
        (word, text) if word.len() > 1 && word.starts_with('S') => match word[1..].parse() {
            Ok(peer) => (Some(peer), text),
            Err(_) => (None, rest),
        },
        _ => (None, rest),
    };
    Some(Line {
        ms: ms.parse().ok()?,
        topic,
        peer,
        text,
    })
}

/// The ANSI colour of a topic.
fn color(topic: &str) -> &'static str {
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

const RESET: &str = "\x1b[0m";

/// Lays out one parsed line: `<ms> ` then, for a peer's line, its column; lines of no peer
/// (the harness's) span the full width.
pub fn render(line: &Line, columns: usize, width: usize) -> Vec<String> {
    let prefix = format!("{:>7} ", line.ms);
    let body = match line.peer {
        Some(peer) => format!("{} S{} {}", line.topic, peer, line.text),
        None => format!("{} {}", line.topic, line.text),
    };
    let (column, col_width) = match line.peer {
        Some(peer) if columns > 1 => {
            let col_width = (width.saturating_sub(prefix.len()) / columns).max(20);
            (peer % columns, col_width)
        }
        _ => (0, width.saturating_sub(prefix.len()).max(20)),
    };
    let indent = " ".repeat(prefix.len() + column * col_width);
    wrap(&body, col_width.saturating_sub(1).max(10))
        .into_iter()
        .enumerate()
        .map(|(k, chunk)| {
            if k == 0 {
                format!("{prefix}{}{chunk}", &indent[prefix.len()..])
            } else {
                format!("{indent}{chunk}")
            }
        })
        .collect()
}

/// Splits `text` into pieces of at most `width` characters, at spaces where possible.
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

pub fn run(o: Options) -> Result<ExitCode, String> {
    let input: Box<dyn BufRead> = match &o.input {
        Some(path) => Box::new(BufReader::new(
            std::fs::File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in input.lines() {
        let line = line.map_err(|e| format!("cannot read: {e}"))?;
        let printed = match parse(&line) {
            None => writeln!(out, "{line}"),
            Some(parsed) => {
                let topic = parsed.topic.to_string();
                if (!o.just.is_empty() && !o.just.contains(&topic)) || o.ignore.contains(&topic) {
                    continue;
                }
                let (on, off) = if o.color {
                    (color(&topic), RESET)
                } else {
                    ("", "")
                };
                render(&parsed, o.columns, o.width)
                    .iter()
                    .try_for_each(|l| writeln!(out, "{on}{l}{off}"))
            }
        };
        if printed.is_err() {
            // The reader went away (`| head`): stop quietly.
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_raft_and_harness_lines() {
        assert_eq!(
            parse("001234 VOTE S2 T3 grant vote to S1"),
            Some(Line {
                ms: 1234,
                topic: "VOTE",
                peer: Some(2),
                text: "T3 grant vote to S1"
            })
        );
        assert_eq!(
            parse("000017 TEST connect(1)"),
            Some(Line {
                ms: 17,
                topic: "TEST",
                peer: None,
                text: "connect(1)"
            })
        );
        assert_eq!(parse("thread 'main' panicked at src/x.rs:1:1:"), None);
        assert_eq!(parse("test part_a::x ... ok"), None);
        assert_eq!(parse("   0: std::backtrace"), None);
        assert_eq!(parse("12 lowercase S1 x"), None);
    }

    #[test]
    fn peers_go_in_their_columns() {
        let line = parse("000100 LEAD S2 T1 won").expect("parses");
        let rendered = render(&line, 3, 100);
        assert_eq!(rendered.len(), 1);
        let col_width = (100 - 8) / 3;
        let at = rendered[0].find("LEAD").expect("body present");
        assert_eq!(at, 8 + 2 * col_width);
        // Harness lines start at the first column whatever the layout.
        let test = parse("000100 TEST begin").expect("parses");
        assert_eq!(render(&test, 3, 100)[0], "    100 TEST begin");
    }

    #[test]
    fn long_messages_wrap_inside_their_column() {
        let text = "word ".repeat(30);
        let raw = format!("000005 LOG1 S1 T2 {text}");
        let line = parse(&raw).expect("parses");
        let rendered = render(&line, 2, 80);
        assert!(rendered.len() > 1);
        let col_width = (80 - 8) / 2;
        for l in &rendered[1..] {
            assert!(l.starts_with(&" ".repeat(8 + col_width)), "{l:?}");
            assert!(l.trim_end().len() <= 8 + 2 * col_width, "{l:?}");
        }
    }

    #[test]
    fn wrap_splits_at_spaces_and_long_words() {
        assert_eq!(wrap("a bb ccc", 4), vec!["a bb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), vec![""]);
    }
}
