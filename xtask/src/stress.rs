//! `cargo xtask stress`: run the lab's tests many times in parallel, keep the failures' logs.
//!
//! It builds the test binaries once, lists their tests, and runs every (test, run) pair as its
//! own process (`<binary> --exact <test> --nocapture`), PARALLEL at a time, in round-robin
//! order over the tests so that rare interleavings show up sooner. Each run's output (stdout
//! and stderr, in order) goes to `DIR/<test>_<run>.log`, kept if the run failed or timed out.

use crate::stats::TestStats;
use crate::{flag_value, parse_flag};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

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

/// One test in one binary.
#[derive(Clone)]
struct TestCase {
    binary: PathBuf,
    name: String,
}

/// One run of one test.
struct Job {
    test: usize,
    run: usize,
}

/// How a run ended.
struct Outcome {
    test: usize,
    run: usize,
    passed: bool,
    timed_out: bool,
    took: Duration,
    log: PathBuf,
}

pub fn run(o: Options) -> Result<ExitCode, String> {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    if o.parallel > 2 * cores {
        eprintln!(
            "warning: {} runs at a time on {cores} cores: timing tests may fail for the \
             machine's sake, not the code's",
            o.parallel
        );
    }
    let binaries = build(o.release)?;
    let mut tests = Vec::new();
    for binary in &binaries {
        for name in list(binary)? {
            if o.filters.is_empty() || o.filters.iter().any(|f| name.contains(f.as_str())) {
                tests.push(TestCase {
                    binary: binary.clone(),
                    name,
                });
            }
        }
    }
    if tests.is_empty() {
        return Err(format!("no test matches {:?}", o.filters));
    }
    std::fs::create_dir_all(&o.out)
        .map_err(|e| format!("cannot create {}: {e}", o.out.display()))?;
    eprintln!(
        "stress: {} test(s) x {} runs, {} at a time; logs in {}",
        tests.len(),
        o.runs,
        o.parallel,
        o.out.display()
    );

    let interrupted = Arc::new(AtomicBool::new(false));
    let children: Arc<Mutex<Vec<u32>>> = Arc::default();
    {
        let (interrupted, children) = (Arc::clone(&interrupted), Arc::clone(&children));
        ctrlc::set_handler(move || {
            interrupted.store(true, Ordering::SeqCst);
            for pid in children.lock().expect("pid list").iter() {
                kill(*pid);
            }
        })
        .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
    }

    let jobs = Arc::new(Mutex::new(VecDeque::from(schedule(tests.len(), o.runs))));
    let (done_tx, done_rx) = mpsc::channel();
    let tests = Arc::new(tests);
    let options = Arc::new(o);
    let workers: Vec<_> = (0..options.parallel)
        .map(|_| {
            let (jobs, tests, options) =
                (Arc::clone(&jobs), Arc::clone(&tests), Arc::clone(&options));
            let (done_tx, interrupted, children) = (
                done_tx.clone(),
                Arc::clone(&interrupted),
                Arc::clone(&children),
            );
            thread::spawn(move || {
                while !interrupted.load(Ordering::SeqCst) {
                    let Some(job) = jobs.lock().expect("job queue").pop_front() else {
                        return;
                    };
                    let outcome = run_one(&tests[job.test], &job, &options, &children);
                    if done_tx.send(outcome).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    drop(done_tx);

    let mut stats = vec![TestStats::default(); tests.len()];
    let mut progress = Progress::new(&tests, options.runs);
    let mut any_failed = false;
    for outcome in done_rx {
        let stat = &mut stats[outcome.test];
        stat.record(outcome.took, outcome.passed);
        if !outcome.passed && !interrupted.load(Ordering::SeqCst) {
            any_failed = true;
            let seed = find_seed(&outcome.log)
                .map(|s| format!(" (labrpc seed {s}: rerun with LABRPC_SEED={s})"))
                .unwrap_or_default();
            let why = if outcome.timed_out {
                "timed out"
            } else {
                "failed"
            };
            let timeline = timeline_of(&outcome.log);
            let timeline = if timeline.exists() {
                format!(", timeline {}", timeline.display())
            } else {
                String::new()
            };
            progress.println(&format!(
                "{} run {} {why}: {}{timeline}{seed}",
                tests[outcome.test].name,
                outcome.run,
                outcome.log.display()
            ));
        } else if !options.keep_all {
            let timeline = timeline_of(&outcome.log);
            for file in [&outcome.log, &timeline, &timeline.with_extension("svg")] {
                let _ = std::fs::remove_file(file);
            }
        }
        progress.update(outcome.test, stat, outcome.passed);
    }
    for worker in workers {
        let _ = worker.join();
    }
    progress.finish();
    print_table(&tests, &stats);
    if interrupted.load(Ordering::SeqCst) {
        eprintln!("interrupted");
        return Ok(ExitCode::from(130));
    }
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

/// Builds the workspace's test binaries and returns their paths.
fn build(release: bool) -> Result<Vec<PathBuf>, String> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["test", "--workspace", "--no-run", "--message-format=json"]);
    if release {
        cmd.arg("--release");
    }
    eprintln!("stress: building the test binaries");
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err("the build failed".into());
    }
    let mut binaries = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact"
            && msg["profile"]["test"] == true
            && let Some(exe) = msg["executable"].as_str()
        {
            binaries.push(PathBuf::from(exe));
        }
    }
    Ok(binaries)
}

/// The tests in one test binary.
fn list(binary: &Path) -> Result<Vec<String>, String> {
    let out = Command::new(binary)
        .args(["--list", "--format", "terse"])
        .output()
        .map_err(|e| format!("cannot list {}: {e}", binary.display()))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .map(str::to_string)
        .collect())
}

/// Runs one test once, its output to its log file, killing it past the timeout.
fn run_one(test: &TestCase, job: &Job, o: &Options, children: &Mutex<Vec<u32>>) -> Outcome {
    let log = o
        .out
        .join(format!("{}_{}.log", test.name.replace("::", "__"), job.run));
    let t0 = Instant::now();
    let mut outcome = Outcome {
        test: job.test,
        run: job.run,
        passed: false,
        timed_out: false,
        took: Duration::ZERO,
        log: log.clone(),
    };
    let (stdout, stderr) = match File::create(&log).and_then(|f| Ok((f.try_clone()?, f))) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("cannot create {}: {e}", log.display());
            return outcome;
        }
    };
    let mut cmd = Command::new(&test.binary);
    cmd.args(["--exact", &test.name, "--nocapture", "--test-threads=1"])
        .env("RUST_BACKTRACE", "1")
        .env("RAFT_TIMELINE_PATH", timeline_of(&log))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "raft=debug,test=info");
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("cannot start {}: {e}", test.binary.display());
            return outcome;
        }
    };
    let pid = child.id();
    children.lock().expect("pid list").push(pid);
    // Wait on a thread of its own, so this one can give up at the timeout.
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = match rx.recv_timeout(o.timeout) {
        Ok(status) => status.ok(),
        Err(_) => {
            kill(pid);
            outcome.timed_out = true;
            let _ = rx.recv();
            None
        }
    };
    children.lock().expect("pid list").retain(|&p| p != pid);
    outcome.took = t0.elapsed();
    outcome.passed = status.is_some_and(|s| s.success());
    outcome
}

/// Where the harness writes a run's timeline (if the run fails): beside its log.
fn timeline_of(log: &Path) -> PathBuf {
    log.with_extension("timeline.html")
}

fn kill(pid: u32) {
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
}

/// The labrpc seed a failed run printed, if any.
fn find_seed(log: &Path) -> Option<u64> {
    let file = File::open(log).ok()?;
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            let rest = line.split("labrpc seed: ").nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        })
}

fn print_table(tests: &[TestCase], stats: &[TestStats]) {
    let width = tests.iter().map(|t| t.name.len()).max().unwrap_or(4).max(4);
    println!(
        "\n{:<width$}  {:>6}  {:>5}  {:>16}",
        "Test", "Failed", "Total", "Time (s)"
    );
    for (test, s) in tests.iter().zip(stats) {
        let (mean, sd) = s.mean_sd();
        println!(
            "{:<width$}  {:>6}  {:>5}  {:>16}",
            test.name,
            s.failed,
            s.done,
            format!("{mean:.2} ± {sd:.2}")
        );
    }
}

/// The live display: bars on a terminal, periodic plain lines otherwise.
struct Progress {
    names: Vec<String>,
    multi: Option<(MultiProgress, ProgressBar, Vec<ProgressBar>)>,
    total: usize,
    done: usize,
    failed: usize,
    last_line: Instant,
}

impl Progress {
    fn new(tests: &[TestCase], runs: usize) -> Progress {
        let total = tests.len() * runs;
        let names: Vec<String> = tests.iter().map(|t| t.name.clone()).collect();
        let multi = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(total as u64));
            overall.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} runs, ETA {eta} {msg}")
                    .expect("a valid template"),
            );
            overall.set_message("0 failed");
            let lines = names
                .iter()
                .map(|name| {
                    let line = multi.add(ProgressBar::new_spinner());
                    line.set_message(format!("{name}: waiting"));
                    line
                })
                .collect();
            (multi, overall, lines)
        });
        Progress {
            names,
            multi,
            total,
            done: 0,
            failed: 0,
            last_line: Instant::now(),
        }
    }

    fn println(&self, line: &str) {
        match &self.multi {
            Some((multi, _, _)) => {
                let _ = multi.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    fn update(&mut self, test: usize, s: &TestStats, passed: bool) {
        self.done += 1;
        self.failed += usize::from(!passed);
        let (mean, _) = s.mean_sd();
        let line = format!(
            "{}: {} runs, {} failed, mean {mean:.1} s",
            self.names[test], s.done, s.failed
        );
        match &self.multi {
            Some((_, overall, lines)) => {
                overall.inc(1);
                overall.set_message(format!("{} failed", self.failed));
                lines[test].set_message(line);
            }
            None if self.last_line.elapsed() >= Duration::from_secs(10)
                || self.done == self.total =>
            {
                eprintln!(
                    "[{}/{} runs, {} failed] {line}",
                    self.done, self.total, self.failed
                );
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some((_, overall, lines)) = &self.multi {
            overall.finish();
            for line in lines {
                line.finish();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_round_robin_over_tests() {
        let order: Vec<(usize, usize)> = schedule(3, 2).iter().map(|j| (j.test, j.run)).collect();
        assert_eq!(order, vec![(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]);
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
        assert!(Options::parse(&["--bogus".to_string()]).is_err());
    }

    #[test]
    fn finds_the_seed_in_a_log() {
        let dir = std::env::temp_dir().join(format!("xtask-seed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let log = dir.join("t.log");
        std::fs::write(
            &log,
            "noise\nlabrpc seed: 1234 (rerun with LABRPC_SEED=1234)\n",
        )
        .expect("write");
        assert_eq!(find_seed(&log), Some(1234));
        std::fs::write(&log, "no seed here\n").expect("write");
        assert_eq!(find_seed(&log), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
