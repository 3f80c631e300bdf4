//! `cargo xtask stress`: run the lab's tests many times in parallel, keep the failures' logs.
//!
//! It builds the test binaries once, lists their tests, and runs every (test, run) pair as its
//! own process, PARALLEL at a time, in round-robin order over the tests so that rare
//! interleavings show up sooner. Each run's output goes to `DIR/<test>_<run>.log`, kept if the
//! run failed or timed out (every log with `--keep-all`).
//!
//! This file owns the options and the loop that hands runs to workers and collects their
//! outcomes. The rest:
//! - `discover.rs`: building the test binaries and listing the tests that match;
//! - `child.rs`: one run of one test as a process (its log, its timeout, Ctrl-C, its seed);
//! - `progress.rs`: the live display;
//! - `stats.rs`: each test's counts and times, and the closing table.

mod child;
mod discover;
mod progress;
mod stats;

use crate::{flag_value, parse_flag};
use child::{Ending, Outcome};
use progress::Progress;
use stats::TestStats;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

pub struct Options {
    filters: Vec<String>,
    runs: usize,
    parallel: usize,
    timeout: Duration,
    keep_all: bool,
    out: PathBuf,
    release: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            filters: Vec::new(),
            runs: 10,
            parallel: 4,
            timeout: Duration::from_secs(300),
            keep_all: false,
            out: PathBuf::from("target/stress"),
            release: false,
        };
        let mut i = 0;
        while i < args.len() {
            match args[i].as_str() {
                "-n" | "--runs" => o.runs = parse_flag(args, &mut i)?,
                "-p" | "--parallel" => o.parallel = parse_flag::<usize>(args, &mut i)?.max(1),
                "--timeout" => o.timeout = Duration::from_secs(parse_flag(args, &mut i)?),
                "--keep-all" => o.keep_all = true,
                "--out" => o.out = PathBuf::from(flag_value(args, &mut i)?),
                "--release" => o.release = true,
                flag if flag.starts_with('-') => return Err(format!("unknown flag {flag}")),
                filter => o.filters.push(filter.to_string()),
            }
            i += 1;
        }
        Ok(o)
    }
}

/// One run of one test: indices into the test list, and the run's number (from 0).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Job {
    test: usize,
    run: usize,
}

pub fn run(o: Options) -> Result<ExitCode, String> {
    warn_if_oversubscribed(o.parallel);
    let tests = discover::tests(o.release, &o.filters)?;
    std::fs::create_dir_all(&o.out)
        .map_err(|e| format!("cannot create {}: {e}", o.out.display()))?;
    eprintln!(
        "stress: {} test(s) x {} runs, {} at a time; logs in {}",
        tests.len(),
        o.runs,
        o.parallel,
        o.out.display()
    );

    // Ctrl-C reaches this process alone (each run has a process group of its own): the workers
    // see the flag, kill their runs and stop, and the table is printed as at the end.
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupted);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;

    let jobs = Arc::new(Mutex::new(VecDeque::from(schedule(tests.len(), o.runs))));
    let (done_tx, done_rx) = mpsc::channel();
    let tests = Arc::new(tests);
    let o = Arc::new(o);
    let workers: Vec<_> = (0..o.parallel)
        .map(|_| {
            let (jobs, tests, o) = (Arc::clone(&jobs), Arc::clone(&tests), Arc::clone(&o));
            let (done_tx, interrupted) = (done_tx.clone(), Arc::clone(&interrupted));
            thread::spawn(move || {
                while !interrupted.load(Ordering::SeqCst) {
                    let Some(job) = jobs.lock().expect("job queue").pop_front() else {
                        return;
                    };
                    let log = log_path(&o.out, &tests[job.test].name, job.run);
                    let outcome = child::run(&tests[job.test], log, o.timeout, &interrupted);
                    if done_tx.send((job, outcome)).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    drop(done_tx);

    let mut stats = vec![TestStats::default(); tests.len()];
    let mut progress = Progress::new(&tests, o.runs);
    for (job, outcome) in done_rx {
        let failed = matches!(outcome.ending, Ending::Failed | Ending::TimedOut);
        if failed {
            progress.println(&failure_report(&tests[job.test].name, job.run, &outcome));
        } else if !o.keep_all {
            remove_run_files(&outcome.log);
        }
        if outcome.ending != Ending::Interrupted {
            stats[job.test].record(outcome.took, !failed);
            progress.update(job.test, &stats[job.test], !failed);
        }
    }
    for worker in workers {
        let _ = worker.join();
    }
    progress.finish();
    let names: Vec<&str> = tests.iter().map(|t| t.name.as_str()).collect();
    print!("\n{}", stats::table(&names, &stats));
    if interrupted.load(Ordering::SeqCst) {
        eprintln!("stress: interrupted");
        return Ok(ExitCode::from(130));
    }
    let any_failed = stats.iter().any(|s| s.failed > 0);
    Ok(if any_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Every run of every test, run-major, so the tests take turns.
fn schedule(tests: usize, runs: usize) -> Vec<Job> {
    (0..runs)
        .flat_map(|run| (0..tests).map(move |test| Job { test, run }))
        .collect()
}

/// Timing tests (elections within a deadline) fail when runs starve each other of CPU.
fn warn_if_oversubscribed(parallel: usize) {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    if parallel > 2 * cores {
        eprintln!(
            "warning: {parallel} runs at a time on {cores} cores: timing tests may fail for the \
             machine's sake, not the code's"
        );
    }
}

/// `DIR/<test>_<run>.log`, a module path's `::` made `__`.
fn log_path(out: &Path, test: &str, run: usize) -> PathBuf {
    out.join(format!("{}_{run}.log", test.replace("::", "__")))
}

/// Where the harness writes a run's timeline when it fails: beside the log (`.svg` too).
fn timeline_of(log: &Path) -> PathBuf {
    log.with_extension("timeline.html")
}

fn remove_run_files(log: &Path) {
    let timeline = timeline_of(log);
    for file in [log, &timeline, &timeline.with_extension("svg")] {
        let _ = std::fs::remove_file(file);
    }
}

/// `<test> run <k> failed: <log>[, timeline <html>][ (labrpc seed N: rerun with ...)]`.
fn failure_report(test: &str, run: usize, outcome: &Outcome) -> String {
    let why = match outcome.ending {
        Ending::TimedOut => "timed out",
        _ => "failed",
    };
    let timeline = timeline_of(&outcome.log);
    let timeline = if timeline.exists() {
        format!(", timeline {}", timeline.display())
    } else {
        String::new()
    };
    let seed = child::find_seed(&outcome.log)
        .map(|s| format!(" (labrpc seed {s}: rerun with LABRPC_SEED={s})"))
        .unwrap_or_default();
    format!(
        "{test} run {run} {why}: {}{timeline}{seed}",
        outcome.log.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_round_robin_over_tests() {
        let order: Vec<(usize, usize)> = schedule(3, 2).iter().map(|j| (j.test, j.run)).collect();
        assert_eq!(order, vec![(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]);
        assert!(schedule(0, 5).is_empty());
        assert!(schedule(4, 0).is_empty());
    }

    #[test]
    fn options_parse() {
        let args: Vec<String> = [
            "part_a",
            "-n",
            "20",
            "-p",
            "3",
            "--timeout",
            "9",
            "--keep-all",
            "--out",
            "x",
            "b",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let o = Options::parse(&args).expect("valid options");
        assert_eq!(o.filters, vec!["part_a", "b"]);
        assert_eq!((o.runs, o.parallel, o.timeout.as_secs()), (20, 3, 9));
        assert!(o.keep_all && !o.release);
        assert_eq!(o.out, PathBuf::from("x"));
        assert!(Options::parse(&["-n".to_string()]).is_err());
        assert!(Options::parse(&["-n".to_string(), "many".to_string()]).is_err());
        assert!(Options::parse(&["--bogus".to_string()]).is_err());
    }

    #[test]
    fn logs_are_named_by_test_and_run() {
        let out = Path::new("target/stress");
        assert_eq!(
            log_path(out, "tests::re_election_part_a", 7),
            PathBuf::from("target/stress/tests__re_election_part_a_7.log")
        );
        assert_eq!(
            timeline_of(&log_path(out, "x", 0)),
            PathBuf::from("target/stress/x_0.timeline.html")
        );
    }
}
