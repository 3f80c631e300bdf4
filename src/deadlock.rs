//! With the cargo feature `deadlock-detect`: parking_lot's deadlock detector, run by one checker
//! thread, so that a lock cycle fails a test loudly instead of hanging it until the 120 s limit.
//!
//! `cargo test --features deadlock-detect part_c` turns it on. Once a second the checker asks
//! parking_lot for threads blocked in a cycle; if there are any it prints each one's backtrace
//! to stderr (a last word, not a log line: it must be seen even with logging off) and exits the
//! process with status 101, as a failed test would.

/// Starts the checker thread, once per process; does nothing without the feature.
pub(crate) fn start_checker() {
    #[cfg(feature = "deadlock-detect")]
    {
        static STARTED: std::sync::Once = std::sync::Once::new();
        STARTED.call_once(|| {
            std::thread::Builder::new()
                .name("deadlock-checker".to_string())
                .spawn(check_forever)
                .expect("the OS refused to start the deadlock checker");
        });
    }
}

#[cfg(feature = "deadlock-detect")]
fn check_forever() {
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let cycles = parking_lot::deadlock::check_deadlock();
        if cycles.is_empty() {
            continue;
        }
        // Straight to the process's stderr: libtest's capture would die with the process.
        use std::io::Write as _;
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "deadlock-detect: {} lock cycle(s) found", cycles.len());
        for (i, threads) in cycles.iter().enumerate() {
            let _ = writeln!(err, "cycle {i}:");
            for t in threads {
                let _ = writeln!(err, "  thread {:?}:\n{:?}", t.thread_id(), t.backtrace());
            }
        }
        let _ = err.flush();
        std::process::exit(101);
    }
}
