//! One run of one test: `<binary> --exact <test> --nocapture --test-threads=1` as a process of
//! its own, logging on, its stdout and stderr merged (in order) into its log file. The run is
//! killed past its timeout, or when Ctrl-C was pressed; and its log is where the labrpc seed
//! and the timeline of a failed run are found ([`Facts`]), also when the run was aborted.

use super::discover::TestCase;
use super::timeline_of;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How often a worker looks at its run (exit, timeout, Ctrl-C); a run's measured time is at
/// most this much late.
const POLL: Duration = Duration::from_millis(10);

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ending {
    Passed,
    /// Exited non-zero, or died of the signal `signal`: a panic in a Raft thread aborts the
    /// process (SIGABRT), before libtest can print anything of its own.
    Failed {
        signal: Option<i32>,
    },
    /// Killed past `--timeout`: counted as a failure.
    TimedOut,
    /// Killed because of Ctrl-C: counted as nothing.
    Interrupted,
}

pub struct Outcome {
    pub ending: Ending,
    pub took: Duration,
    pub log: PathBuf,
}

/// Runs `test` once, its output to `log`.
pub fn run(test: &TestCase, log: PathBuf, timeout: Duration, interrupted: &AtomicBool) -> Outcome {
    let t0 = Instant::now();
    let ending = match spawn(test, &log) {
        Ok(child) => watch(child, timeout, interrupted),
        Err(e) => {
            note(
                &log,
                &format!("cannot start {}: {e}", test.binary.display()),
            );
            Ending::Failed { signal: None }
        }
    };
    match ending {
        Ending::TimedOut => note(
            &log,
            &format!("killed after {} s (--timeout)", timeout.as_secs()),
        ),
        Ending::Failed {
            signal: Some(signal),
        } => note(&log, &format!("the run died of {}", signal_name(signal))),
        _ => {}
    }
    Outcome {
        ending,
        took: t0.elapsed(),
        log,
    }
}

fn spawn(test: &TestCase, log: &Path) -> std::io::Result<Child> {
    let stdout = File::create(log)?;
    let stderr = stdout.try_clone()?;
    let mut cmd = Command::new(&test.binary);
    cmd.args(["--exact", &test.name, "--nocapture", "--test-threads=1"])
        .env("RUST_BACKTRACE", "1")
        .env("RAFT_TIMELINE_PATH", timeline_of(log))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "raft=debug,test=info");
    }
    // A process group of its own, so a Ctrl-C at the terminal reaches the runner alone: a run
    // it kills is then known to be interrupted, not failed.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn()
}

/// Waits for the run to end, killing it past `timeout` or on Ctrl-C.
fn watch(mut child: Child, timeout: Duration, interrupted: &AtomicBool) -> Ending {
    let t0 = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ending::Passed,
            Ok(Some(status)) => {
                return Ending::Failed {
                    signal: signal_of(status),
                };
            }
            Err(_) => return Ending::Failed { signal: None },
            Ok(None) => {}
        }
        let ending = if interrupted.load(Ordering::SeqCst) {
            Ending::Interrupted
        } else if t0.elapsed() > timeout {
            Ending::TimedOut
        } else {
            thread::sleep(POLL);
            continue;
        };
        let _ = child.kill();
        let _ = child.wait();
        return ending;
    }
}

/// Appends the runner's own note to a run's log.
fn note(log: &Path, text: &str) {
    if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(log) {
        // On a line of its own, whatever the run left unfinished.
        let _ = writeln!(file, "\nxtask stress: {text}");
    }
}

/// The signal that ended a process, if one did.
fn signal_of(status: ExitStatus) -> Option<i32> {
    #[cfg(unix)]
    return std::os::unix::process::ExitStatusExt::signal(&status);
    #[cfg(not(unix))]
    return None;
}

/// `SIGABRT` for 6, and so on; `signal N` for the others.
pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return format!("signal {signal}"),
    };
    name.to_string()
}

/// What a run's log tells about it.
#[derive(Debug, Default, PartialEq)]
pub struct Facts {
    /// The labrpc seed: from the harness's `labrpc seed: N (rerun with LABRPC_SEED=N)`, which
    /// it prints when a test fails, times out or a Raft thread panics (then straight to
    /// stderr, before the abort); else from its first log line, `<ms> TEST make_config: ...,
    /// seed N`, which every run with logging on has, even one that died without a word.
    pub seed: Option<u64>,
    /// The timeline the harness wrote, from its `timeline: PATH` line.
    pub timeline: Option<PathBuf>,
}

impl Facts {
    /// Reads the log of a run. Lines need not be UTF-8 (a panic may print anything).
    pub fn of_log(log: &Path) -> Facts {
        let Ok(file) = File::open(log) else {
            return Facts::default();
        };
        let lines = BufReader::new(file).split(b'\n').map_while(Result::ok);
        Facts::of_lines(lines.map(|raw| String::from_utf8_lossy(&raw).into_owned()))
    }

    pub fn of_lines(lines: impl IntoIterator<Item = String>) -> Facts {
        let (mut printed_seed, mut config_seed, mut timeline) = (None, None, None);
        for line in lines {
            printed_seed = printed_seed.or_else(|| labrpc_seed_in(&line));
            config_seed = config_seed.or_else(|| make_config_seed_in(&line));
            timeline = timeline_in(&line).or(timeline);
        }
        Facts {
            seed: printed_seed.or(config_seed),
            timeline,
        }
    }
}

/// `N` in `labrpc seed: N ...`.
fn labrpc_seed_in(line: &str) -> Option<u64> {
    let rest = line.split("labrpc seed: ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// `N` in the harness's `<ms> TEST make_config: <n> peers, ..., seed N`.
fn make_config_seed_in(line: &str) -> Option<u64> {
    let config = line.split(" TEST make_config: ").nth(1)?;
    let rest = config.rsplit_once("seed")?.1;
    let rest = rest.trim_start_matches([':', '=', ' ']);
    let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

/// `PATH` in the harness's `timeline: PATH` (not in `timeline: cannot write it: ...`).
fn timeline_in(line: &str) -> Option<PathBuf> {
    let rest = line.trim_end().split("timeline: ").nth(1)?;
    (!rest.is_empty() && !rest.starts_with("cannot write")).then(|| PathBuf::from(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(log: &str) -> Facts {
        Facts::of_lines(log.lines().map(str::to_string))
    }

    #[test]
    fn finds_the_seed_in_a_line() {
        assert_eq!(
            labrpc_seed_in("labrpc seed: 42 (rerun with LABRPC_SEED=42)"),
            Some(42)
        );
        assert_eq!(
            labrpc_seed_in("thread 'x' panicked; labrpc seed: 7"),
            Some(7)
        );
        assert_eq!(labrpc_seed_in("000001 TEST make_config: seed 9"), None);
        assert_eq!(labrpc_seed_in("labrpc seed: none"), None);
        assert_eq!(
            make_config_seed_in(
                "000000 TEST make_config: 7 peers, unreliable=false, snapshot=false, seed 1259"
            ),
            Some(1259)
        );
        assert_eq!(
            make_config_seed_in("test x ... 000000 TEST make_config: 3 peers, seed: 5"),
            Some(5)
        );
        assert_eq!(
            make_config_seed_in("000000 TEST make_config: 3 peers"),
            None
        );
        assert_eq!(make_config_seed_in("000012 VOTE S1 T2 seed 4"), None);
    }

    /// A run aborted by a panic in a Raft thread: the harness's lines straight to stderr are
    /// the last in the log, after the log lines and the panic.
    #[test]
    fn reads_an_aborted_run() {
        let log = "\
running 1 test
test part_b::backup_part_b ... 000000 TEST make_config: 5 peers, unreliable=false, snapshot=false, seed 111
000413 VOTE S1 T1 election timeout: standing for term 1
thread 'raft1-repl2-t7' panicked at src/replication.rs:10:5:
S1: commit_index 9 beyond last index 8
labrpc seed: 222 (rerun with LABRPC_SEED=222)
timeline: target/stress/backup_part_b_3.timeline.html
";
        assert_eq!(
            facts(log),
            Facts {
                seed: Some(222),
                timeline: Some(PathBuf::from("target/stress/backup_part_b_3.timeline.html")),
            }
        );
        // Died before the harness could say anything: the seed of its first line.
        let silent =
            "running 1 test\n000000 TEST make_config: 3 peers, seed 111\nSegmentation fault\n";
        assert_eq!(
            facts(silent),
            Facts {
                seed: Some(111),
                timeline: None
            }
        );
        let unwritten =
            "labrpc seed: 3 (rerun with LABRPC_SEED=3)\ntimeline: cannot write it: denied\n";
        assert_eq!(facts(unwritten).timeline, None);
        assert_eq!(facts("no facts here\n"), Facts::default());
    }

    #[test]
    fn names_signals() {
        assert_eq!(signal_name(6), "SIGABRT");
        assert_eq!(signal_name(11), "SIGSEGV");
        assert_eq!(signal_name(64), "signal 64");
    }

    /// A real process that aborts: its ending carries SIGABRT.
    #[cfg(unix)]
    #[test]
    fn an_aborted_process_ends_with_its_signal() {
        let child = Command::new("sh")
            .args(["-c", "kill -ABRT $$"])
            .spawn()
            .expect("sh");
        let ending = watch(child, Duration::from_secs(10), &AtomicBool::new(false));
        assert_eq!(ending, Ending::Failed { signal: Some(6) });
        let child = Command::new("sh")
            .args(["-c", "exit 3"])
            .spawn()
            .expect("sh");
        let ending = watch(child, Duration::from_secs(10), &AtomicBool::new(false));
        assert_eq!(ending, Ending::Failed { signal: None });
    }

    #[test]
    fn finds_the_seed_in_a_log() {
        let dir = std::env::temp_dir().join(format!("xtask-seed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let log = dir.join("t.log");
        let mut text = b"noise \xff\xfe not UTF-8\n".to_vec();
        text.extend_from_slice(b"labrpc seed: 1234 (rerun with LABRPC_SEED=1234)\n");
        std::fs::write(&log, text).expect("write");
        assert_eq!(Facts::of_log(&log).seed, Some(1234));
        note(&log, "killed after 1 s (--timeout)");
        let text = std::fs::read(&log).expect("read");
        assert!(text.ends_with(b"1234)\n\nxtask stress: killed after 1 s (--timeout)\n"));
        std::fs::write(&log, "no seed here\n").expect("write");
        assert_eq!(Facts::of_log(&log).seed, None);
        assert_eq!(Facts::of_log(&dir.join("absent.log")), Facts::default());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
