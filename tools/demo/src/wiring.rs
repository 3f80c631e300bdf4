//! The demo's cluster: `labcluster`'s peers on a labrpc network, a service thread per peer
//! instance (`service.rs`), and the list of events the screen shows.
//!
//! Everything here takes `&self`: the main loop, the fault schedule and the clients share one
//! [`Demo`] in an `Arc`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use labcluster::Cluster;
use parking_lot::Mutex;

use crate::service::{self, Services};

pub struct Demo {
    pub cluster: Cluster,
    pub services: Arc<Mutex<Services>>,
    /// What happened, and when: the schedule's faults and what the observer saw.
    events: Mutex<Vec<(Instant, String)>>,
    pub t0: Instant,
    restarts: AtomicU64,
}

impl Demo {
    /// `n` peers, started and connected, on a network that is unreliable from the start if
    /// asked.
    pub fn new(n: usize, unreliable: bool) -> Arc<Demo> {
        let cluster = Cluster::new(n);
        cluster.net().set_reliable(!unreliable);
        let demo = Arc::new(Demo {
            cluster,
            services: Arc::new(Mutex::new(Services::new(n))),
            events: Mutex::new(Vec::new()),
            t0: Instant::now(),
            restarts: AtomicU64::new(0),
        });
        (0..n).for_each(|i| demo.start(i));
        (0..n).for_each(|i| demo.cluster.connect(i));
        demo
    }

    pub fn n(&self) -> usize {
        self.cluster.n()
    }

    pub fn event(&self, text: impl Into<String>) {
        self.events.lock().push((Instant::now(), text.into()));
    }

    /// The events from the `from`-th on, each with its time since the start.
    pub fn events_from(&self, from: usize) -> Vec<(Duration, String)> {
        let events = self.events.lock();
        events[from.min(events.len())..]
            .iter()
            .map(|(at, text)| (at.duration_since(self.t0), text.clone()))
            .collect()
    }

    /// How many events there are so far.
    pub fn event_count(&self) -> usize {
        self.events.lock().len()
    }

    /// Starts peer `i` from its persisted state, its service restored from its snapshot.
    fn start(&self, i: usize) {
        let started = self.cluster.start(i);
        self.services
            .lock()
            .restore(i, started.generation, &started.snapshot);
        let services = Arc::clone(&self.services);
        thread::Builder::new()
            .name(format!("demo-service{i}-g{}", started.generation))
            .spawn(move || {
                service::run(
                    i,
                    started.generation,
                    started.apply_ch,
                    started.raft,
                    services,
                )
            })
            .expect("spawn a service thread");
    }

    pub fn is_crashed(&self, i: usize) -> bool {
        self.cluster.raft(i).is_none()
    }

    pub fn crash(&self, i: usize) {
        self.cluster.crash(i);
        self.event(format!("S{i} crashed"));
    }

    pub fn restart(&self, i: usize) {
        self.start(i);
        self.cluster.connect(i);
        self.restarts.fetch_add(1, Ordering::Relaxed);
        self.event(format!("S{i} restarted from its persisted state"));
    }

    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }
}
