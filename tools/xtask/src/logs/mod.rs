//! `cargo xtask logs [FILE|-]`: lay a Raft log out by peer, in colour.
//!
//! It reads a log kept by the stress runner, or `cargo test NAME -- --nocapture` output piped
//! in, line by line. This file owns the options and the loop; `parse.rs` reads a line of the
//! project's format, `layout.rs` places it in its column and colours it. Lines that are not
//! in the format (panics, backtraces, libtest's own lines) are printed as they are.

mod layout;
mod parse;

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::process::ExitCode;

/// The width when neither `--width`, `$COLUMNS` nor a terminal tells.
const DEFAULT_WIDTH: usize = 160;

/// Lays a Raft log out by peer, in colour.
///
/// It reads a kept log, or `cargo test NAME -- --nocapture` piped in. With N columns, peer k's
/// lines go in column k (mod N) and the harness's span the width. Every line fits the width: a
/// message too long for its column wraps inside it, on at most three lines, and the rest is cut
/// (`…`); use fewer columns to see long messages whole. Lines not in the log format (panics,
/// backtraces) are printed as they are.
#[derive(clap::Args, Debug)]
pub struct Options {
    /// The log to read; `-` or none: standard input
    #[arg(value_name = "FILE")]
    input: Option<String>,
    /// How many columns: one per peer reads best
    #[arg(short = 'c', long, value_name = "COLUMNS", default_value = "1",
          value_parser = crate::at_least_one)]
    columns: usize,
    /// Show only these topics (comma-separated: VOTE,LEAD,...)
    #[arg(long, value_name = "TOPICS", value_delimiter = ',', value_parser = topic)]
    just: Vec<String>,
    /// Hide these topics (comma-separated)
    #[arg(long, value_name = "TOPICS", value_delimiter = ',', value_parser = topic)]
    ignore: Vec<String>,
    /// No colours (the default when the output is not a terminal)
    #[arg(long)]
    no_color: bool,
    /// The width to fit (default: $COLUMNS, else the terminal's, else 160)
    #[arg(long, value_name = "W")]
    width: Option<usize>,
}

impl Options {
    /// The file to read, or `None` for standard input.
    fn file(&self) -> Option<&str> {
        self.input.as_deref().filter(|&f| f != "-")
    }

    /// Whether lines of `topic` are shown.
    fn shows(&self, topic: &str) -> bool {
        let listed = |list: &[String]| list.iter().any(|t| t == topic);
        // `--just ''` or `--just ,` lists no topic: everything shows.
        let any_topic = self.just.iter().all(String::is_empty);
        (any_topic || listed(&self.just)) && !listed(&self.ignore)
    }

    /// Whether to colour: on a terminal, unless `--no-color`.
    fn color(&self) -> bool {
        !self.no_color && std::io::stdout().is_terminal()
    }
}

/// ` vote` -> `VOTE`: one topic of a `--just` or `--ignore` list.
fn topic(value: &str) -> Result<String, String> {
    Ok(value.trim().to_uppercase())
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
    let input: Box<dyn BufRead> = match o.file() {
        Some(path) => Box::new(BufReader::new(
            std::fs::File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let width = width(&o);
    let color = o.color();
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
            Some((before, line)) => print_line(&mut out, before, &line, color, o.columns, width),
        };
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the text before a log line (if any) as it is, then the line in its place.
fn print_line(
    out: &mut impl Write,
    before: &str,
    line: &parse::Line,
    color: bool,
    columns: usize,
    width: usize,
) -> std::io::Result<()> {
    if !before.trim().is_empty() {
        writeln!(out, "{}", before.trim_end())?;
    }
    let (on, off) = if color {
        (layout::color(line.topic), layout::RESET)
    } else {
        ("", "")
    };
    for text in layout::render(line, columns, width) {
        writeln!(out, "{on}{text}{off}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, clap::Error> {
        use clap::Parser;
        let args = ["xtask", "logs"].iter().chain(args);
        match crate::Cli::try_parse_from(args)?.command {
            crate::Command::Logs(o) => Ok(o),
            other => panic!("parsed as {other:?}"),
        }
    }

    fn options(args: &[&str]) -> Options {
        parse(args).expect("valid options")
    }

    #[test]
    fn options_parse() {
        let o = options(&["kept.log", "-c", "3", "--just", "vote, LEAD", "--no-color"]);
        assert_eq!(o.file(), Some("kept.log"));
        assert_eq!(o.columns, 3);
        assert_eq!(o.just, vec!["VOTE", "LEAD"]);
        assert!(!o.color());
        assert_eq!(options(&["-"]).file(), None);
        assert_eq!(options(&[]).file(), None);
        assert_eq!(options(&["--width", "90"]).width, Some(90));
        assert_eq!(options(&["--columns", "0"]).columns, 1);
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["-c", "x"]).is_err());
        assert!(parse(&["a.log", "b.log"]).is_err(), "one input");
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
        let raw = "test xtask_selftest ... 000003 LEAD S1 T1 won";
        let (before, line) = parse::find(raw).expect("parses");
        let mut out = Vec::new();
        print_line(&mut out, before, &line, false, 2, 88).expect("printed");
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
        let line = parse::parse("000001 VOTE S0 T1 x").expect("parses");
        let mut out = Vec::new();
        print_line(&mut out, "", &line, true, 1, 80).expect("printed");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(text, "\x1b[36m      1 VOTE S0 T1 x\x1b[0m\n");
    }
}
