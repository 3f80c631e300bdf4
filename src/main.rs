//! `cargo run --release`: a Raft cluster at work, live, under a scripted fault schedule.
//!
//! Five peers (by default) on a labrpc network, two clients submitting commands, and a
//! schedule of faults: the leader is isolated, a follower crashes and restarts, a minority is
//! partitioned away, the network turns unreliable. Each peer's service snapshots every
//! [`SNAPSHOT_EVERY`] commands, so a restarted peer may catch up by InstallSnapshot. The screen
//! shows each peer's role, term, log, commit index and snapshot a few times a second, and the
//! events as they happen; a summary follows. The demo checks its own run: every peer must apply
//! the same commands in the same order (compared by a running hash at each index), else it
//! exits with status 1.
//!
//! Flags: `--peers N`, `--seconds S`, `--seed X`, `--unreliable`. Without a terminal it prints
//! plain event lines instead of redrawing.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use labrpc::{Network, Server};
use parking_lot::Mutex;
use raft::{ApplyMsg, Persister, Raft, crossbeam_channel};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Each service snapshots after this many commands.
const SNAPSHOT_EVERY: u64 = 50;

struct Args {
    peers: usize,
    seconds: u64,
    seed: u64,
    unreliable: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        peers: 5,
        seconds: 30,
        seed: rand::rng().random(),
        unreliable: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match flag.as_str() {
            "--peers" => args.peers = value("--peers")?.clamp(3, 9) as usize,
            "--seconds" => args.seconds = value("--seconds")?.max(5),
            "--seed" => args.seed = value("--seed")?,
            "--unreliable" => args.unreliable = true,
            "-h" | "--help" => {
                return Err(
                    "usage: raft [--peers N] [--seconds S] [--seed X] [--unreliable]".into(),
                );
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

/// The demo's replicated service: a running hash of every command applied, in order.
#[derive(Default)]
struct Services {
    /// Per peer: (last index applied, hash through it).
    applied: Vec<(u64, u64)>,
    /// The hash through each index, as the first peer to apply it saw it.
    hash_at: HashMap<u64, u64>,
    snapshots_installed: usize,
    errors: Vec<String>,
    /// Per peer: the start its current service thread serves. A crashed instance's service
    /// thread may still hold one message; it must not record it over the restarted peer.
    generation: Vec<u64>,
}

fn fold(hash: u64, command: &[u8]) -> u64 {
    // FNV-1a, continued from the previous hash.
    command.iter().fold(hash ^ 0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Services {
    /// Records that `peer` reached `index` with `hash`, checking it against the other peers.
    fn reach(&mut self, peer: usize, index: u64, hash: u64) {
        match self.hash_at.get(&index) {
            Some(&h) if h != hash => self.errors.push(format!(
                "S{peer} disagrees at index {index}: hash {hash:x}, others {h:x}"
            )),
            _ => {
                self.hash_at.insert(index, hash);
            }
        }
        self.applied[peer] = (index, hash);
    }
}

struct Slot {
    raft: Option<Raft>,
    persister: Arc<Persister>,
    connected: bool,
    /// `ends[j]`: the name of this peer's end to peer `j`.
    ends: Vec<String>,
}

struct Cluster {
    n: usize,
    net: Network,
    slots: Mutex<Vec<Slot>>,
    services: Arc<Mutex<Services>>,
    events: Mutex<Vec<(Instant, String)>>,
    t0: Instant,
    restarts: Mutex<u64>,
}

impl Cluster {
    fn new(n: usize, unreliable: bool) -> Arc<Cluster> {
        let net = Network::new();
        net.set_reliable(!unreliable);
        let slots = (0..n)
            .map(|_| Slot {
                raft: None,
                persister: Arc::new(Persister::new()),
                connected: false,
                ends: vec![],
            })
            .collect();
        let services = Services {
            applied: vec![(0, 0); n],
            generation: vec![0; n],
            ..Services::default()
        };
        let cluster = Arc::new(Cluster {
            n,
            net,
            slots: Mutex::new(slots),
            services: Arc::new(Mutex::new(services)),
            events: Mutex::new(Vec::new()),
            t0: Instant::now(),
            restarts: Mutex::new(0),
        });
        for i in 0..n {
            cluster.start(i);
        }
        for i in 0..n {
            cluster.connect(i);
        }
        cluster
    }

    fn event(&self, text: String) {
        self.events.lock().push((Instant::now(), text));
    }

    /// Starts (or restarts) peer `i` from its persisted state.
    fn start(&self, i: usize) {
        let generation = {
            let mut restarts = self.restarts.lock();
            *restarts += 1;
            *restarts
        };
        let ends: Vec<String> = (0..self.n)
            .map(|j| format!("g{generation}-{i}->{j}"))
            .collect();
        let clients = ends
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let end = self.net.make_end(name);
                self.net.connect(name, &j.to_string());
                end
            })
            .collect();
        let persister = {
            let mut slots = self.slots.lock();
            slots[i].ends = ends;
            slots[i].persister = Arc::new(slots[i].persister.copy());
            Arc::clone(&slots[i].persister)
        };
        // The service restores itself from the snapshot, as a KV server would.
        let restored = labgob::decode::<(u64, u64)>(&persister.read_snapshot()).unwrap_or((0, 0));
        {
            let mut services = self.services.lock();
            services.applied[i] = restored;
            services.generation[i] = generation;
        }
        let (tx, rx) = crossbeam_channel::bounded(0);
        let rf = Raft::make(clients, i, persister, tx);
        let services = Arc::clone(&self.services);
        let service_rf = rf.clone();
        thread::spawn(move || run_service(i, generation, rx, service_rf, services));
        let server = Server::new();
        server.add_service(rf.service());
        self.slots.lock()[i].raft = Some(rf);
        self.net.add_server(&i.to_string(), server);
    }

    fn crash(&self, i: usize) {
        self.disconnect(i);
        self.net.delete_server(&i.to_string());
        let rf = self.slots.lock()[i].raft.take();
        if let Some(rf) = rf {
            rf.kill();
        }
        self.event(format!("S{i} crashed"));
    }

    fn restart(&self, i: usize) {
        self.start(i);
        self.connect(i);
        self.event(format!("S{i} restarted from its persisted state"));
    }

    fn set_links(&self, i: usize, up: bool) {
        let mut slots = self.slots.lock();
        slots[i].connected = up;
        for j in 0..self.n {
            if !up || slots[j].connected {
                self.net.enable(&slots[i].ends[j], up);
                if let Some(name) = slots[j].ends.get(i) {
                    self.net.enable(name, up);
                }
            }
        }
    }

    fn connect(&self, i: usize) {
        self.set_links(i, true);
    }

    fn disconnect(&self, i: usize) {
        self.set_links(i, false);
    }

    fn rafts(&self) -> Vec<Option<(Raft, bool)>> {
        self.slots
            .lock()
            .iter()
            .map(|s| s.raft.clone().map(|rf| (rf, s.connected)))
            .collect()
    }

    /// The connected peer that leads the highest term, if any: its index, handle and term.
    fn leader(&self) -> Option<(usize, Raft, u64)> {
        self.rafts()
            .into_iter()
            .enumerate()
            .filter_map(|(i, slot)| {
                let (rf, connected) = slot?;
                let (term, leader) = rf.get_state();
                (connected && leader).then_some((i, rf, term))
            })
            .max_by_key(|&(_, _, term)| term)
    }
}

/// One peer's service: applies commands to its hash, snapshots every [`SNAPSHOT_EVERY`].
fn run_service(
    me: usize,
    generation: u64,
    rx: crossbeam_channel::Receiver<ApplyMsg>,
    rf: Raft,
    services: Arc<Mutex<Services>>,
) {
    for msg in rx {
        match msg {
            ApplyMsg::Command { command, index, .. } => {
                let snapshot = {
                    let mut s = services.lock();
                    if s.generation[me] != generation {
                        continue;
                    }
                    let (last, hash) = s.applied[me];
                    if index != last + 1 {
                        s.errors.push(format!("S{me} applied {index} after {last}"));
                        continue;
                    }
                    let hash = fold(hash, &command);
                    s.reach(me, index, hash);
                    (index % SNAPSHOT_EVERY == 0).then(|| labgob::encode(&(index, hash)))
                };
                if let Some(snapshot) = snapshot {
                    rf.snapshot(index, snapshot);
                }
            }
            ApplyMsg::Snapshot {
                snapshot, index, ..
            } => {
                let mut s = services.lock();
                if s.generation[me] != generation {
                    continue;
                }
                match labgob::decode::<(u64, u64)>(&snapshot) {
                    Ok((at, hash)) if at == index => {
                        s.reach(me, index, hash);
                        s.snapshots_installed += 1;
                    }
                    Ok((at, _)) => s
                        .errors
                        .push(format!("S{me}: snapshot for {at} delivered as {index}")),
                    Err(e) => s.errors.push(format!("S{me}: bad snapshot: {e}")),
                }
            }
        }
    }
}

/// The fault schedule, as fractions of the run.
fn schedule(cluster: &Cluster, rng: &mut StdRng, step: usize, unreliable: bool) {
    let n = cluster.n;
    match step {
        0 => {
            if let Some((l, _, _)) = cluster.leader() {
                cluster.disconnect(l);
                cluster.event(format!("leader S{l} isolated"));
            }
        }
        1 => {
            (0..n).for_each(|i| cluster.connect(i));
            cluster.event("network healed".into());
        }
        2 => {
            let leader = cluster.leader().map(|(l, _, _)| l);
            let victim = (0..n)
                .filter(|&i| Some(i) != leader)
                .nth(rng.random_range(0..n - 1));
            if let Some(v) = victim {
                cluster.crash(v);
            }
        }
        3 => {
            let crashed: Vec<usize> = (0..n)
                .filter(|&i| cluster.slots.lock()[i].raft.is_none())
                .collect();
            crashed.into_iter().for_each(|i| cluster.restart(i));
        }
        4 => {
            let minority = (n - 1) / 2;
            let start = rng.random_range(0..n);
            let cut: Vec<usize> = (0..minority).map(|k| (start + k) % n).collect();
            cut.iter().for_each(|&i| cluster.disconnect(i));
            cluster.event(format!("minority {cut:?} partitioned away"));
        }
        5 => {
            (0..n).for_each(|i| cluster.connect(i));
            cluster.event("partition healed".into());
        }
        6 if !unreliable => {
            cluster.net.set_reliable(false);
            cluster.event("network unreliable: delays, 10% of requests and replies lost".into());
        }
        7 if !unreliable => {
            cluster.net.set_reliable(true);
            cluster.event("network reliable again".into());
        }
        _ => {}
    }
}

/// When each step of the schedule happens, as a fraction of the run.
const STEPS: [f64; 8] = [0.10, 0.22, 0.32, 0.45, 0.52, 0.64, 0.72, 0.86];

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    raft::init_logging();
    let tty = std::io::stdout().is_terminal();
    let mut rng = StdRng::seed_from_u64(args.seed);
    println!(
        "Raft demo: {} peers, {} s, seed {}{}",
        args.peers,
        args.seconds,
        args.seed,
        if args.unreliable {
            ", unreliable network"
        } else {
            ""
        }
    );
    let cluster = Cluster::new(args.peers, args.unreliable);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..2u64)
        .map(|c| {
            let (cluster, stop) = (Arc::clone(&cluster), Arc::clone(&stop));
            thread::spawn(move || {
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if let Some((_, rf, _)) = cluster.leader() {
                        seq += 1;
                        rf.start(labgob::encode(&(c, seq)));
                    }
                    thread::sleep(Duration::from_millis(15));
                }
            })
        })
        .collect();

    let total = Duration::from_secs(args.seconds);
    let mut step = 0;
    let mut printed = 0;
    let mut terms_led = std::collections::BTreeSet::new();
    let mut last_leader = None;
    let (mut no_leader_since, mut longest_gap): (Option<Instant>, Duration) =
        (None, Duration::ZERO);
    let mut last_draw = Instant::now() - Duration::from_secs(1);
    while cluster.t0.elapsed() < total {
        let elapsed = cluster.t0.elapsed();
        if step < STEPS.len() && elapsed.as_secs_f64() >= STEPS[step] * total.as_secs_f64() {
            schedule(&cluster, &mut rng, step, args.unreliable);
            step += 1;
        }
        match cluster.leader() {
            Some((l, _, term)) => {
                terms_led.insert(term);
                if last_leader != Some((l, term)) {
                    cluster.event(format!("S{l} leads term {term}"));
                    last_leader = Some((l, term));
                }
                if let Some(since) = no_leader_since.take() {
                    longest_gap = longest_gap.max(since.elapsed());
                }
            }
            None => {
                no_leader_since.get_or_insert_with(Instant::now);
            }
        }
        if tty && last_draw.elapsed() >= Duration::from_millis(250) {
            draw(&cluster);
            last_draw = Instant::now();
        } else if !tty {
            let events = cluster.events.lock();
            for (at, text) in &events[printed..] {
                println!(
                    "{:>6.2}s  {text}",
                    at.duration_since(cluster.t0).as_secs_f64()
                );
            }
            printed = events.len();
        }
        thread::sleep(Duration::from_millis(50));
    }
    if let Some(since) = no_leader_since {
        longest_gap = longest_gap.max(since.elapsed());
    }

    // Wind down: stop the clients, heal everything, let every peer catch up.
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.join();
    }
    cluster.net.set_reliable(true);
    for i in 0..cluster.n {
        if cluster.slots.lock()[i].raft.is_none() {
            cluster.restart(i);
        }
        cluster.connect(i);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let caught_up = loop {
        let s = cluster.services.lock();
        let first = s.applied[0].0;
        if first > 0 && s.applied.iter().all(|a| *a == s.applied[0]) {
            break true;
        }
        drop(s);
        if Instant::now() > deadline {
            break false;
        }
        thread::sleep(Duration::from_millis(50));
    };
    if tty {
        draw(&cluster);
    }
    for (rf, _) in cluster.rafts().into_iter().flatten() {
        rf.kill();
    }
    cluster.net.cleanup();

    let s = cluster.services.lock();
    println!("\nsummary");
    println!("  terms with a leader      {}", terms_led.len());
    println!(
        "  commands committed       {}",
        s.hash_at.keys().max().copied().unwrap_or(0)
    );
    println!(
        "  longest without a leader {:.2} s",
        longest_gap.as_secs_f64()
    );
    println!("  snapshots installed      {}", s.snapshots_installed);
    println!(
        "  restarts                 {}",
        *cluster.restarts.lock() - cluster.n as u64
    );
    let mut errors = s.errors.clone();
    if !caught_up {
        errors.push(format!(
            "peers did not converge within 10 s: {:?}",
            s.applied
        ));
    }
    if errors.is_empty() {
        println!(
            "  check                    every peer applied the same commands in the same order"
        );
        ExitCode::SUCCESS
    } else {
        for e in &errors {
            println!("  ERROR {e}");
        }
        ExitCode::FAILURE
    }
}

/// Redraws the screen: a row per peer, then the latest events.
fn draw(cluster: &Cluster) {
    let mut out = String::from("\x1b[2J\x1b[H");
    out.push_str(&format!(
        "Raft demo, {:.1} s\n\npeer  role       term   log  commit  snapshot  applied\n",
        cluster.t0.elapsed().as_secs_f64()
    ));
    let applied: Vec<u64> = cluster
        .services
        .lock()
        .applied
        .iter()
        .map(|a| a.0)
        .collect();
    for (i, slot) in cluster.rafts().iter().enumerate() {
        match slot {
            Some((rf, connected)) => {
                let st = rf.status();
                out.push_str(&format!(
                    "S{i}    {:<10} {:>4} {:>5} {:>7} {:>9} {:>8}{}\n",
                    st.role,
                    st.term,
                    st.last_log_index,
                    st.commit_index,
                    st.snapshot_index,
                    applied[i],
                    if *connected { "" } else { "  (disconnected)" }
                ));
            }
            None => out.push_str(&format!("S{i}    crashed\n")),
        }
    }
    out.push_str("\nevents\n");
    let events = cluster.events.lock();
    for (at, text) in events.iter().rev().take(10).rev() {
        out.push_str(&format!(
            "{:>6.2}s  {text}\n",
            at.duration_since(cluster.t0).as_secs_f64()
        ));
    }
    print!("{out}");
}
