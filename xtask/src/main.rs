//! `cargo xtask`: the project's debugging tools, with nothing to install.
//!
//! - `cargo xtask stress [FILTER...] -n RUNS -p PARALLEL [--timeout SECS] [--keep-all]
//!   [--out DIR] [--release]` runs the lab's tests many times in parallel and keeps the logs of
//!   the runs that failed (`stress/`).
//! - `cargo xtask logs [FILE|-] [-c N] [--just TOPICS] [--ignore TOPICS] [--no-color]` lays a
//!   Raft log out by peer, in colour (`logs/`).
//! - `cargo xtask skeleton --out DIR [--from PART]` writes the student skeleton (`skeleton.rs`).

mod logs;
mod skeleton;
mod stress;

use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "\
usage:
  cargo xtask stress [FILTER...] [-n RUNS] [-p PARALLEL] [--timeout SECS] [--keep-all] [--out DIR] [--release]
      Runs every test whose name contains a FILTER (all tests if none) RUNS times (default 10),
      PARALLEL at a time (default 4), each run its own process, with logging on. Keeps the
      output of failed runs (of all with --keep-all) as DIR/<test>_<run>.log (default DIR:
      target/stress). A run past SECS (default 300) is killed and counts as failed.
  cargo xtask logs [FILE|-] [-c COLUMNS] [--just TOPICS] [--ignore TOPICS] [--no-color] [--width W]
      Pretty-prints a Raft log (a kept log, or `cargo test NAME -- --nocapture` piped in):
      one column per peer, a colour per topic; TOPICS is comma-separated (VOTE,LEAD,...).
  cargo xtask skeleton --out DIR [--from PART]
      Writes the student skeleton to DIR: the project with the solution regions of PART
      (A-D, default A) and later parts replaced by `// Your code here (PartX).`";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") || args.first().is_some_and(|a| a == "help")
    {
        // `| head` may close the pipe early: not worth a panic.
        let _ = writeln!(std::io::stdout(), "{USAGE}");
        return ExitCode::SUCCESS;
    }
    let result = match args.first().map(String::as_str) {
        Some("stress") => stress::Options::parse(&args[1..]).and_then(stress::run),
        Some("logs") => logs::Options::parse(&args[1..]).and_then(logs::run),
        Some("skeleton") => skeleton::Options::parse(&args[1..]).and_then(skeleton::run),
        _ => Err(format!("expected a command\n{USAGE}")),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::from(2)
        }
    }
}

/// The value after flag `args[*i]`, advancing `i` past it.
fn flag_value<'a>(args: &'a [String], i: &mut usize) -> Result<&'a str, String> {
    let flag = &args[*i];
    *i += 1;
    args.get(*i)
        .map(String::as_str)
        .ok_or_else(|| format!("{flag} needs a value"))
}

/// The value after flag `args[*i]`, parsed, advancing `i` past it.
fn parse_flag<T: std::str::FromStr>(args: &[String], i: &mut usize) -> Result<T, String> {
    let flag = args[*i].clone();
    let value = flag_value(args, i)?;
    value
        .parse()
        .map_err(|_| format!("{flag}: cannot parse {value:?}"))
}
