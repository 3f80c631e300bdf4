//! `cargo xtask logs [FILE|-]`: lay a Raft log out by peer, in colour.
//!
//! It reads a log kept by the stress runner, or `cargo test NAME -- --nocapture` output piped
//! in, line by line. This file owns the options and the loop; `parse.rs` reads a line of the
//! project's format, `layout.rs` places it in its column and colours it. Lines that are not
//! in the format (panics, backtraces, libtest's own lines) are printed as they are.

mod layout;
mod parse;

use crate::{flag_value, parse_flag};
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::process::ExitCode;

/// The width when neither `--width`, `$COLUMNS` nor a terminal tells.
const DEFAULT_WIDTH: usize = 160;

pub struct Options {
    input: Option<String>,
    columns: usize,
    just: Vec<String>,
    ignore: Vec<String>,
    color: bool,
    width: Option<usize>,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            input: None,
            columns: 1,
            just: Vec::new(),
            ignore: Vec::new(),
            color: std::io::stdout().is_terminal(),
            width: None,
        };
        let mut i = 0;
        while i < args.len() {
            match args[i].as_str() {
                "-c" | "--columns" => o.columns = parse_flag::<usize>(args, &mut i)?.max(1),
                "--just" => o.just = topics(flag_value(args, &mut i)?),
                "--ignore" => o.ignore = topics(flag_value(args, &mut i)?),
                "--no-color" => o.color = false,
                "--width" => o.width = Some(parse_flag(args, &mut i)?),
                "-" => o.input = None,
                flag if flag.starts_with('-') => return Err(format!("unknown flag {flag}")),
                file => o.input = Some(file.to_string()),
            }
            i += 1;
        }
        Ok(o)
    }

    /// Whether lines of `topic` are shown.
    fn shows(&self, topic: &str) -> bool {
        (self.just.is_empty() || self.just.iter().any(|t| t == topic))
            && !self.ignore.iter().any(|t| t == topic)
    }
}

/// `VOTE,lead, TERM` -> `[VOTE, LEAD, TERM]`.
fn topics(list: &str) -> Vec<String> {
    list.split(',')
        .map(|t| t.trim().to_uppercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// `--width`, else `$COLUMNS`, else the terminal's (stdout's, or stderr's when piped to a
/// pager), else 160.
fn width(o: &Options) -> usize {
    let terminal = || {
        [console::Term::stdout(), console::Term::stderr()]
            .iter()
            .find_map(|t| t.size_checked())
            .map(|(_rows, cols)| usize::from(cols))
    };
    o.width
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
        .or_else(terminal)
        .unwrap_or(DEFAULT_WIDTH)
}

pub fn run(o: Options) -> Result<ExitCode, String> {
    let input: Box<dyn BufRead> = match &o.input {
        Some(path) => Box::new(BufReader::new(
            std::fs::File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let width = width(&o);
    let mut out = std::io::stdout().lock();
    let mut printed = if o.columns > 1 {
        writeln!(out, "{}", layout::header(o.columns, width))
    } else {
        Ok(())
    };
    // Lines need not be UTF-8 (a panic may print anything): read bytes, show them lossily.
    for raw in input.split(b'\n') {
        if printed.is_err() {
            // The reader went away (`| head`): stop quietly.
            break;
        }
        let raw = raw.map_err(|e| format!("cannot read: {e}"))?;
        let raw = String::from_utf8_lossy(&raw);
        printed = match parse::find(&raw) {
            None => writeln!(out, "{raw}"),
            Some((_, line)) if !o.shows(line.topic) => Ok(()),
            Some((before, line)) => print_line(&mut out, before, &line, &o, width),
        };
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the text before a log line (if any) as it is, then the line in its place.
fn print_line(
    out: &mut impl Write,
    before: &str,
    line: &parse::Line,
    o: &Options,
    width: usize,
) -> std::io::Result<()> {
    if !before.trim().is_empty() {
        writeln!(out, "{}", before.trim_end())?;
    }
    let (on, off) = if o.color {
        (layout::color(line.topic), layout::RESET)
    } else {
        ("", "")
    };
    for text in layout::render(line, o.columns, width) {
        writeln!(out, "{on}{text}{off}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(args: &[&str]) -> Options {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Options::parse(&args).expect("valid options")
    }

    #[test]
    fn options_parse() {
        let o = options(&["kept.log", "-c", "3", "--just", "vote, LEAD", "--no-color"]);
        assert_eq!(o.input.as_deref(), Some("kept.log"));
        assert_eq!(o.columns, 3);
        assert_eq!(o.just, vec!["VOTE", "LEAD"]);
        assert!(!o.color);
        assert_eq!(options(&["-"]).input, None);
        assert_eq!(options(&["--width", "90"]).width, Some(90));
        assert!(Options::parse(&["--bogus".to_string()]).is_err());
    }

    #[test]
    fn topic_filters() {
        let just = options(&["--just", "VOTE,LEAD"]);
        assert!(just.shows("VOTE") && just.shows("LEAD") && !just.shows("TEST"));
        let ignore = options(&["--ignore", "TIMR,PERS"]);
        assert!(!ignore.shows("TIMR") && !ignore.shows("PERS") && ignore.shows("TEST"));
        assert!(options(&[]).shows("ANY"));
    }

    #[test]
    fn prints_the_prefix_then_the_line_without_colour() {
        let o = options(&["-c", "2", "--no-color"]);
        let raw = "test xtask_selftest ... 000003 LEAD S1 T1 won";
        let (before, line) = parse::find(raw).expect("parses");
        let mut out = Vec::new();
        print_line(&mut out, before, &line, &o, 88).expect("printed");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "test xtask_selftest ...");
        assert_eq!(
            lines[1],
            format!("      3 {}LEAD S1 T1 won", " ".repeat(40))
        );
    }

    #[test]
    fn colours_wrap_each_printed_line() {
        let o = options(&[]);
        let o = Options { color: true, ..o };
        let line = parse::parse("000001 VOTE S0 T1 x").expect("parses");
        let mut out = Vec::new();
        print_line(&mut out, "", &line, &o, 80).expect("printed");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(text, "\x1b[36m      1 VOTE S0 T1 x\x1b[0m\n");
    }
}
