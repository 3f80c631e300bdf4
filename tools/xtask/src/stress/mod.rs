//! `cargo xtask stress`: run the lab's tests many times in parallel, keep the failures' logs.
//!
//! It builds the test binaries once (only those of the packages whose sources can hold a
//! matching test), lists their tests, and runs every (test, run) pair as its own process,
//! PARALLEL at a time, in round-robin order over the tests so that rare interleavings show up
//! sooner. Each run's output goes to `DIR/<test>_<run>.log`, kept if the
//! run failed or timed out (every log with `--keep-all`).
//!
//! This file owns the options and the loop that hands runs to workers and collects their
//! outcomes. The rest:
//! - `packages.rs`: which packages to build, from the filters or `--package`;
//! - `discover.rs`: building their test binaries and listing the tests that match;
//! - `child.rs`: one run of one test as a process (its log, its timeout, Ctrl-C, its seed);
//! - `progress.rs`: the live display;
//! - `stats.rs`: each test's counts and times, and the closing table.

mod child;
mod discover;
mod packages;
mod progress;
mod stats;

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

/// Runs the lab's tests many times in parallel and keeps the logs of the runs that failed.
///
/// Each run is a process of its own, with logging on. Every test whose name contains a FILTER
/// (all tests if none) runs RUNS times, PARALLEL at a time, round-robin over the tests. The
/// output of a failed run (of every run with --keep-all) is kept as `DIR/<test>_<run>.log`,
/// with its timeline beside it; a run past SECS is killed and counts as failed. The failure
/// line names the log, the timeline, the labrpc seed and, for a run that died of a signal (a
/// panic in a Raft thread aborts the process), the signal.
///
/// Only the tests of the packages whose sources can hold a matching test are built (a
/// function or module name holds each FILTER's pieces between `::`); with no FILTER, or none
/// found, the whole workspace's. --package chooses the packages instead.
#[derive(clap::Args, Debug)]
pub struct Options {
    /// Run only the tests whose name contains one of these
    #[arg(value_name = "FILTER")]
    filters: Vec<String>,
    /// How many times to run each test
    #[arg(short = 'n', long = "runs", value_name = "RUNS", default_value_t = 10)]
    runs: usize,
    /// How many runs at a time (keep it near twice the cores)
    #[arg(short = 'p', long, value_name = "PARALLEL", default_value = "4",
          value_parser = crate::at_least_one)]
    parallel: usize,
    /// Kill a run after this many seconds (it counts as failed)
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = seconds)]
    timeout: Duration,
    /// Keep the logs of the runs that passed too
    #[arg(long)]
    keep_all: bool,
    /// Where the logs go
    #[arg(long, value_name = "DIR", default_value = "target/stress")]
    out: PathBuf,
    /// Build and run the tests with --release
    #[arg(long)]
    release: bool,
    /// Build only this package's tests (repeatable); without it, the packages whose sources
    /// name a function or module a FILTER can match, or the whole workspace
    #[arg(long = "package", value_name = "PACKAGE")]
    packages: Vec<String>,
}

fn seconds(value: &str) -> Result<Duration, String> {
    value
        .parse()
        .map(Duration::from_secs)
        .map_err(|e| format!("{e}"))
}

/// One run of one test: indices into the test list, and the run's number (from 0).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Job {
    test: usize,
    run: usize,
}

pub fn run(o: Options) -> Result<ExitCode, String> {
    warn_if_oversubscribed(o.parallel);
    let scope = packages::choose(&o.packages, &o.filters)?;
    let tests = discover::tests(o.release, &scope, &o.filters)?;
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
        let failed = matches!(outcome.ending, Ending::Failed { .. } | Ending::TimedOut);
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

/// `<test> run <k> failed: <log>[, timeline <html>][ (labrpc seed N: rerun with ...)]`, with
/// `died of SIGABRT` (or another signal) for `failed` when a signal ended the run, and `timed
/// out` when the runner killed it.
fn failure_report(test: &str, run: usize, outcome: &Outcome) -> String {
    let why = match outcome.ending {
        Ending::TimedOut => "timed out".to_string(),
        Ending::Failed {
            signal: Some(signal),
        } => format!("died of {}", child::signal_name(signal)),
        _ => "failed".to_string(),
    };
    let facts = child::Facts::of_log(&outcome.log);
    // The harness names the timeline it wrote; else it may still be where the runner asked.
    let timeline = facts
        .timeline
        .filter(|t| t.exists())
        .or_else(|| Some(timeline_of(&outcome.log)).filter(|t| t.exists()))
        .map(|t| format!(", timeline {}", t.display()))
        .unwrap_or_default();
    let seed = facts
        .seed
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

    fn parse(args: &[&str]) -> Result<Options, clap::Error> {
        use clap::Parser;
        let args = ["xtask", "stress"].iter().chain(args);
        match crate::Cli::try_parse_from(args)?.command {
            crate::Command::Stress(o) => Ok(o),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn options_parse() {
        let o = parse(&[
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
            "--package",
            "raft",
            "b",
            "--package=kvraft",
        ])
        .expect("valid options");
        assert_eq!(o.filters, vec!["part_a", "b"]);
        assert_eq!(o.packages, vec!["raft", "kvraft"]);
        assert_eq!((o.runs, o.parallel, o.timeout.as_secs()), (20, 3, 9));
        assert!(o.keep_all && !o.release);
        assert_eq!(o.out, PathBuf::from("x"));
        let o = parse(&["--runs", "2", "--parallel", "0", "--release"]).expect("valid");
        assert!(o.filters.is_empty() && o.packages.is_empty() && o.release);
        assert_eq!((o.runs, o.parallel), (2, 1), "-p 0 means one at a time");
        let o = parse(&[]).expect("defaults");
        assert_eq!((o.runs, o.parallel, o.timeout.as_secs()), (10, 4, 300));
        assert_eq!(o.out, PathBuf::from("target/stress"));
        assert!(parse(&["-n"]).is_err());
        assert!(parse(&["-n", "many"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }

    /// An aborted run's failure line names the signal, the timeline and the seed.
    #[test]
    fn reports_an_aborted_run() {
        let dir = std::env::temp_dir().join(format!("xtask-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let log = log_path(&dir, "backup_part_b", 3);
        let timeline = timeline_of(&log);
        std::fs::write(&timeline, "<html>").expect("write");
        std::fs::write(
            &log,
            format!(
                "000000 TEST make_config: 5 peers, unreliable=false, snapshot=false, seed 8\n\
                 thread 'raft1-applier' panicked at src/apply.rs:1:1:\n\
                 labrpc seed: 8 (rerun with LABRPC_SEED=8)\n\
                 timeline: {}\n",
                timeline.display()
            ),
        )
        .expect("write");
        let outcome = Outcome {
            ending: Ending::Failed { signal: Some(6) },
            took: Duration::from_secs(1),
            log: log.clone(),
        };
        assert_eq!(
            failure_report("backup_part_b", 3, &outcome),
            format!(
                "backup_part_b run 3 died of SIGABRT: {}, timeline {} (labrpc seed 8: rerun \
                 with LABRPC_SEED=8)",
                log.display(),
                timeline.display()
            )
        );
        // No harness lines at all but the first: the seed still, and the timeline if written.
        std::fs::write(&log, "000000 TEST make_config: 3 peers, seed 9\n").expect("write");
        std::fs::remove_file(&timeline).expect("remove");
        let outcome = Outcome {
            ending: Ending::Failed { signal: None },
            ..outcome
        };
        assert_eq!(
            failure_report("t", 0, &outcome),
            format!(
                "t run 0 failed: {} (labrpc seed 9: rerun with LABRPC_SEED=9)",
                log.display()
            )
        );
        let _ = std::fs::remove_dir_all(&dir);
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
