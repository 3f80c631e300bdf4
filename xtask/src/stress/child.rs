//! One run of one test: `<binary> --exact <test> --nocapture --test-threads=1` as a process of
//! its own, logging on, its stdout and stderr merged (in order) into its log file. The run is
//! killed past its timeout, or when Ctrl-C was pressed; and its log is where the labrpc seed
//! of a failed run is found.

use super::discover::TestCase;
use super::timeline_of;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
    Failed,
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
            Ending::Failed
        }
    };
    if ending == Ending::TimedOut {
        note(
            &log,
            &format!("killed after {} s (--timeout)", timeout.as_secs()),
        );
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
            Ok(Some(_)) | Err(_) => return Ending::Failed,
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

/// The labrpc seed a run printed (`labrpc seed: N ...`), if any.
pub fn find_seed(log: &Path) -> Option<u64> {
    let file = File::open(log).ok()?;
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| seed_in(&line))
}

fn seed_in(line: &str) -> Option<u64> {
    let rest = line.split("labrpc seed: ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_seed_in_a_line() {
        assert_eq!(
            seed_in("labrpc seed: 42 (rerun with LABRPC_SEED=42)"),
            Some(42)
        );
        assert_eq!(seed_in("thread 'x' panicked; labrpc seed: 7"), Some(7));
        assert_eq!(seed_in("000001 TEST make_config: seed 9"), None);
        assert_eq!(seed_in("labrpc seed: none"), None);
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
        note(&log, "killed after 1 s (--timeout)");
        let text = std::fs::read_to_string(&log).expect("read");
        assert!(text.ends_with("1234)\n\nxtask stress: killed after 1 s (--timeout)\n"));
        std::fs::write(&log, "no seed here\n").expect("write");
        assert_eq!(find_seed(&log), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
