//! `cargo run --release`: a Raft cluster at work, live, under a scripted fault schedule.
//!
//! Five peers (by default) on a labrpc network, two clients submitting commands, and a
//! schedule of faults: the leader is isolated, a follower crashes and restarts, a minority is
//! partitioned away, the network turns unreliable. Each peer's service snapshots every 50
//! commands, so a restarted peer may catch up by InstallSnapshot. The screen shows each peer's
//! role, term, log, commit index and snapshot a few times a second, and the events as they
//! happen, each explained from what the peers' statuses show; a summary follows. The demo
//! checks its own run: every peer must apply the same commands in the same order (compared by
//! a running hash at each index), else it exits with status 1. Without a terminal it prints
//! plain event lines instead of redrawing.
//!
//! The files, by concern:
//! - `main.rs`: the options and the main loop;
//! - `wiring.rs`: the cluster (`labcluster`), a service thread per peer, the events;
//! - `service.rs`: the replicated service, a running hash, and what the check reads;
//! - `clients.rs`: the clients;
//! - `schedule.rs`: the fault schedule;
//! - `observe.rs`: the events derived from the peers' statuses, and the run's figures;
//! - `display.rs`: the screen, the event lines and the summary;
//! - `check.rs`: the self-check at the end.

mod check;
mod clients;
mod display;
mod observe;
mod schedule;
mod service;
mod wiring;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use clients::Clients;
use observe::Observer;
use wiring::Demo;

/// A live Raft cluster under a scripted fault schedule, which checks its own run.
#[derive(Parser, Debug)]
#[command(name = "demo", version)]
struct Args {
    /// How many peers (3 to 9; other values are brought into that range)
    #[arg(long, value_name = "N", default_value = "5", value_parser = peers)]
    peers: usize,
    /// How long the faults go on, in seconds (at least 5)
    #[arg(long, value_name = "S", default_value = "30", value_parser = seconds)]
    seconds: u64,
    /// The seed of the fault schedule's choices (random if not given)
    #[arg(long, value_name = "X")]
    seed: Option<u64>,
    /// Make the network unreliable for the whole run
    #[arg(long)]
    unreliable: bool,
}

fn peers(value: &str) -> Result<usize, String> {
    let n: usize = value.parse().map_err(|e| format!("{e}"))?;
    Ok(n.clamp(3, 9))
}

fn seconds(value: &str) -> Result<u64, String> {
    let s: u64 = value.parse().map_err(|e| format!("{e}"))?;
    Ok(s.max(5))
}

/// How often the main loop looks at the peers, and how often it redraws the screen.
const LOOK_EVERY: Duration = Duration::from_millis(50);
const DRAW_EVERY: Duration = Duration::from_millis(250);

fn main() -> ExitCode {
    let args = Args::parse();
    raft::init_logging();
    let seed = args.seed.unwrap_or_else(|| rand::rng().random());
    let unreliable = if args.unreliable {
        ", unreliable network"
    } else {
        ""
    };
    println!(
        "Raft demo: {} peers, {} s, seed {seed}{unreliable}",
        args.peers, args.seconds
    );
    let tty = std::io::stdout().is_terminal();
    let demo = Demo::new(args.peers, args.unreliable);
    let clients = Clients::spawn(&demo, 2);
    let (observer, printed) = run(&demo, &args, seed, tty);
    clients.stop();
    let converged = check::wind_down(&demo);
    if tty {
        display::draw(&demo, &observe::sample(&demo));
    } else {
        display::print_events(&demo, printed);
    }
    demo.cluster.shutdown();
    let errors = check::errors(&demo, converged);
    display::summary(&demo, &observer, &errors);
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The run: the schedule's steps at their times, a look at the peers every [`LOOK_EVERY`], and
/// the screen (or the event lines) kept up to date. Returns the observer, and how many events
/// have been printed as lines.
fn run(demo: &Demo, args: &Args, seed: u64, tty: bool) -> (Observer, usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut observer = Observer::new(demo.n());
    let total = Duration::from_secs(args.seconds);
    let (mut step, mut printed) = (0, 0);
    let mut last_draw = Instant::now() - DRAW_EVERY;
    while demo.t0.elapsed() < total {
        let at = demo.t0.elapsed().as_secs_f64() / total.as_secs_f64();
        if step < schedule::STEPS.len() && at >= schedule::STEPS[step] {
            schedule::step(demo, &mut rng, step, args.unreliable);
            step += 1;
        }
        let sample = observe::sample(demo);
        for event in observer.observe(Instant::now(), sample.clone()) {
            demo.event(event);
        }
        if tty && last_draw.elapsed() >= DRAW_EVERY {
            display::draw(demo, &sample);
            last_draw = Instant::now();
        } else if !tty {
            printed = display::print_events(demo, printed);
        }
        thread::sleep(LOOK_EVERY);
    }
    observer.finish(Instant::now());
    (observer, printed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn options_keep_their_meaning() {
        Args::command().debug_assert();
        let args = Args::try_parse_from(["demo"]).expect("defaults");
        assert_eq!((args.peers, args.seconds, args.seed), (5, 30, None));
        assert!(!args.unreliable);
        let args = Args::try_parse_from([
            "demo",
            "--peers",
            "12",
            "--seconds",
            "2",
            "--seed",
            "7",
            "--unreliable",
        ])
        .expect("valid");
        assert_eq!((args.peers, args.seconds, args.seed), (9, 5, Some(7)));
        assert!(args.unreliable);
        assert_eq!(
            Args::try_parse_from(["demo", "--peers", "1"])
                .expect("valid")
                .peers,
            3
        );
        assert!(Args::try_parse_from(["demo", "--peers", "many"]).is_err());
        assert!(Args::try_parse_from(["demo", "--bogus"]).is_err());
        let help = Args::try_parse_from(["demo", "--help"]).expect_err("help is an early exit");
        assert_eq!(help.exit_code(), 0);
    }
}
