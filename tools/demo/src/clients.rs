//! The clients: threads that submit a command every 15 ms to whichever connected peer leads
//! the highest term, `(client, sequence number)` encoded with labgob. They do not wait for a
//! command to commit: a command started on a leader that loses its term may be lost, and the
//! self-check compares what the peers applied, not what the clients sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crate::wiring::Demo;

/// How long a client waits between commands.
const EVERY: Duration = Duration::from_millis(15);

pub struct Clients {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Clients {
    /// Starts `count` clients on `demo`.
    pub fn spawn(demo: &Arc<Demo>, count: u64) -> Clients {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..count)
            .map(|c| {
                let (demo, stop) = (Arc::clone(demo), Arc::clone(&stop));
                thread::Builder::new()
                    .name(format!("demo-client{c}"))
                    .spawn(move || {
                        let mut seq = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            if let Some((_, rf, _)) = demo.cluster.leader() {
                                seq += 1;
                                rf.start(labgob::encode(&(c, seq)));
                            }
                            thread::sleep(EVERY);
                        }
                    })
                    .expect("spawn a client")
            })
            .collect();
        Clients { stop, threads }
    }

    /// Stops the clients and waits for them.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}
