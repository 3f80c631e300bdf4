//! What the real-cluster tests (and the `cluster` bench) share: a test's directory, deleted
//! when dropped; the server processes it starts, killed when dropped; a watchdog that ends
//! a hung test; and the recording of a client's operations for porcupine. A failing test unwinds through the drops too, so it leaves no process and no
//! directory behind either.
//!
//! Declare the [`TestDir`] before what writes into it (the [`Procs`], the in-process nodes):
//! locals drop in reverse order, so the servers stop before their directory goes.

// Each test file uses a part of this module.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// A fresh, empty directory for one test, deleted (with everything in it) when dropped.
pub struct TestDir(PathBuf);

impl TestDir {
    /// `<name>-<pid>` under cargo's directory for test files, emptied if it was there. One per
    /// process: the stress runner runs copies of a test side by side.
    pub fn new(name: &str) -> TestDir {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("creates the test's directory");
        TestDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path inside the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One server process: how to start it, and the running instance.
struct Proc {
    binary: PathBuf,
    args: Vec<String>,
    /// Where its stderr goes (appended to across restarts); `None`: nowhere.
    log: Option<PathBuf>,
    child: Option<Child>,
}

/// Server processes, each started and restarted with the same arguments; every one still
/// running is killed when this is dropped.
#[derive(Default)]
pub struct Procs(Vec<Proc>);

impl Procs {
    /// Starts `binary` with `args`, its stderr appended to `log`; returns its number.
    pub fn add(&mut self, binary: &str, args: Vec<String>, log: Option<PathBuf>) -> usize {
        self.0.push(Proc {
            binary: PathBuf::from(binary),
            args,
            log,
            child: None,
        });
        let i = self.0.len() - 1;
        self.spawn(i);
        i
    }

    /// Starts process `i` (again) with its arguments.
    pub fn spawn(&mut self, i: usize) {
        let p = &mut self.0[i];
        let stderr = match &p.log {
            Some(log) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .expect("opens the server's log"),
            ),
            None => Stdio::null(),
        };
        let child = Command::new(&p.binary)
            .args(&p.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", p.binary.display()));
        p.child = Some(child);
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.0[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn kill_all(&mut self) {
        for i in 0..self.0.len() {
            self.kill(i);
        }
    }

    /// Whether process `i` runs (was started and not killed since).
    pub fn is_running(&self, i: usize) -> bool {
        self.0[i].child.is_some()
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// `n` loopback addresses whose ports the kernel hands out now, free a moment later. All `n`
/// are held until all are chosen, so none is handed out twice.
pub fn free_addrs(n: usize) -> Vec<String> {
    let sockets: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("binds on loopback"))
        .collect();
    sockets
        .iter()
        .map(|s| s.local_addr().expect("bound").to_string())
        .collect()
}

/// Fails the test, after killing every process in `procs` and deleting `dir`, if `procs` is
/// still alive after `hung` (a clerk retries for ever when no server answers). Holds `procs`
/// weakly, so the test's own drop of them still kills them and ends the watchdog.
pub fn watchdog(procs: &Arc<Mutex<Procs>>, dir: &TestDir, hung: Duration) {
    let (procs, dir) = (Arc::downgrade(procs), dir.path().to_path_buf());
    thread::spawn(move || {
        let t0 = Instant::now();
        while procs.strong_count() > 0 {
            if t0.elapsed() > hung {
                if let Some(procs) = procs.upgrade() {
                    procs.lock().kill_all();
                }
                let _ = std::fs::remove_dir_all(&dir);
                eprintln!("the test hung for {hung:?}: servers stopped, directory deleted");
                std::process::exit(101);
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
}

/// Runs `op`, a client's call, and records it in `log` as client `cli`'s operation `what`,
/// made from the call's output, between the moments the call began and ended.
pub fn recorded<T>(
    log: &tester::linearizability::OpLog,
    cli: u32,
    op: impl FnOnce() -> T,
    what: impl FnOnce(&T) -> tester::linearizability::KvOp,
) -> T {
    let start = tester::linearizability::now();
    let output = op();
    let end = tester::linearizability::now();
    log.record(cli, start, end, what(&output));
    output
}
