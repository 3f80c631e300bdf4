//! `loadgen`: the same workload against our real cluster and against etcd, on this machine.
//!
//! - `loadgen run --system ours|etcd ...` starts three servers of one system on loopback (or
//!   drives running ones, `--endpoints`), runs one workload and prints one line.
//! - `loadgen compare ...` runs the workloads on both systems, back to back, in
//!   alternating rounds (ours first in even rounds, etcd first in odd ones), each measurement on
//!   a fresh cluster, and prints the table of means; then the failover run of each, drawn as
//!   an SVG.
//!
//! `cargo xtask versus-etcd` installs etcd if it is missing, builds this and `kvserver`
//! (release) and runs `compare`. Not part of the product: a measuring tool.

mod clusters;
mod report;
mod scale;
mod workload;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use clusters::{Cluster, Connector, System, Usage};
use report::Row;
use workload::{KeyOrder, Workload};

/// The same workload against our real cluster and against etcd.
#[derive(Parser, Debug)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// One workload against one system.
    Run {
        /// Which system
        #[arg(long, value_enum)]
        system: System,
        /// Drive these running servers (client addresses, comma-separated) instead of starting
        /// three; their CPU and memory are then not reported
        #[arg(long, value_delimiter = ',')]
        endpoints: Vec<String>,
        /// Concurrent clients
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// The share of reads, in percent
        #[arg(long, default_value_t = 0)]
        reads: u32,
        #[command(flatten)]
        shape: Shape,
    },
    /// Both systems, every workload, alternating rounds; one table.
    Compare {
        /// Rounds of every measurement on both systems
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Client counts to measure
        #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
        clients: Vec<usize>,
        /// Seconds of the failover run (the leader is killed at a quarter of it and started
        /// again at half); 0 skips it
        #[arg(long, default_value_t = 20)]
        failover_seconds: u64,
        /// Where to draw the failover runs
        #[arg(long, default_value = "target/versus-etcd/failover.svg")]
        svg: PathBuf,
        /// Print the table as Markdown (for docs/performance.md)
        #[arg(long)]
        markdown: bool,
        #[command(flatten)]
        shape: Shape,
    },
    /// Values to fresh keys until the data reaches a size, with a follower SIGKILLed at a
    /// tenth of it and started again at nine tenths: writes/s, p99, elections, the leader's
    /// memory and the disk per tenth; then the time the follower takes to catch up, and the
    /// time the three servers take to serve again when restarted on the whole data set.
    Scale(ScaleArgs),
}

/// Options of the scale run.
#[derive(Args, Debug, Clone)]
struct ScaleArgs {
    /// The systems to run, one after the other
    #[arg(long, value_enum, value_delimiter = ',', default_value = "ours,etcd")]
    systems: Vec<System>,
    /// Bytes of values to write (1 GiB by default)
    #[arg(long, default_value_t = 1 << 30)]
    bytes: u64,
    /// Bytes per value
    #[arg(long, default_value_t = 1000)]
    value_size: usize,
    /// Concurrent clients
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Where to draw writes/s and data written over time
    #[arg(long, default_value = "target/versus-etcd/scale.svg")]
    svg: PathBuf,
    /// An argument passed to every `kvserver` we start (repeat for more)
    #[arg(long = "ours-arg", allow_hyphen_values = true)]
    ours_args: Vec<String>,
    /// Where the servers keep their data while they run
    #[arg(long, default_value = "target/versus-etcd")]
    dir: PathBuf,
}

/// What every workload shares.
#[derive(Args, Debug, Clone)]
struct Shape {
    /// Seconds counted per measurement (after one second of warm-up)
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Distinct keys
    #[arg(long, default_value_t = 10_000)]
    keys: usize,
    /// Bytes per value
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// How clients pick keys
    #[arg(long, value_enum, default_value_t = KeyOrder::Random)]
    order: KeyOrder,
    /// An argument passed to every `kvserver` we start (repeat for more), such as a lever's
    /// switch
    #[arg(long = "ours-arg", allow_hyphen_values = true)]
    ours_args: Vec<String>,
    /// Where the servers keep their data while they run
    #[arg(long, default_value = "target/versus-etcd")]
    dir: PathBuf,
}

impl Shape {
    fn workload(&self, clients: usize, reads: u32, seconds: u64) -> Workload {
        Workload {
            clients,
            duration: Duration::from_secs(seconds),
            warmup: Duration::from_secs(1),
            read_percent: reads,
            keys: self.keys,
            value_size: self.value_size,
            order: self.order,
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let bin_dir = std::env::current_exe()
        .map_err(|e| format!("cannot find this program: {e}"))?
        .parent()
        .map(Path::to_path_buf)
        .ok_or("this program has no directory")?;
    match cli.command {
        Command::Run {
            system,
            endpoints,
            clients,
            reads,
            shape,
        } => {
            let workload = shape.workload(clients, reads, shape.seconds);
            let row = if endpoints.is_empty() {
                measure(system, &workload, &shape, &bin_dir)?
            } else {
                let cluster = Connector::new(system, endpoints)?;
                if reads > 0 {
                    workload::preload(shape.keys, shape.value_size, 32, |c| cluster.store(c));
                }
                let mut client_before = 0.0;
                let mut sample = |_: Instant| client_before = clusters::own_cpu_seconds();
                let outcome = workload::run(&workload, |c| cluster.store(c), Some(&mut sample));
                let client_cpu = clusters::own_cpu_seconds() - client_before;
                Row::new(system, &workload, &outcome, None, client_cpu)
            };
            report::print_rows(&[row], false);
            Ok(())
        }
        Command::Scale(args) => run_scale(&args, &bin_dir),
        Command::Compare {
            rounds,
            clients,
            failover_seconds,
            svg,
            markdown,
            shape,
        } => compare(
            rounds,
            &clients,
            failover_seconds,
            &svg,
            markdown,
            &shape,
            &bin_dir,
        ),
    }
}

/// `loadgen scale`: each system in turn, then the tables and the drawing.
fn run_scale(args: &ScaleArgs, bin_dir: &Path) -> Result<(), String> {
    let shape = scale::Scale {
        bytes: args.bytes,
        value_size: args.value_size,
        clients: args.clients,
    };
    let mut reports = Vec::new();
    for &system in &args.systems {
        eprintln!(
            "scale, {}: {} MiB of {}-byte values, {} clients",
            system.name(),
            args.bytes >> 20,
            args.value_size,
            args.clients
        );
        reports.push(scale::run(
            system,
            &shape,
            &args.dir,
            bin_dir,
            &args.ours_args,
        )?);
    }
    println!("{}", scale::markdown(&reports, &shape));
    if let Some(dir) = args.svg.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(&args.svg, scale::svg(&reports, &shape))
        .map_err(|e| format!("cannot write {}: {e}", args.svg.display()))?;
    eprintln!("drawn in {}", args.svg.display());
    Ok(())
}

/// Starts a fresh cluster of `system`, fills it if the workload reads, runs the workload and
/// stops the cluster.
fn measure(
    system: System,
    workload: &Workload,
    shape: &Shape,
    bin_dir: &Path,
) -> Result<Row, String> {
    let cluster = Cluster::start(system, &shape.dir, bin_dir, &shape.ours_args)?;
    let connector = cluster.connector();
    if workload.read_percent > 0 {
        workload::preload(shape.keys, shape.value_size, 32, |c| connector.store(c));
    }
    let (mut before, mut client_before) = (Usage::default(), 0.0);
    let mut sample = |_: Instant| {
        before = cluster.usage();
        client_before = clusters::own_cpu_seconds();
    };
    let outcome = workload::run(workload, |c| connector.store(c), Some(&mut sample));
    let (after, client_after) = (cluster.usage(), clusters::own_cpu_seconds());
    let usage = Usage {
        cpu_seconds: after.cpu_seconds - before.cpu_seconds,
        peak_rss_bytes: after.peak_rss_bytes,
    };
    let client_cpu = client_after - client_before;
    Ok(Row::new(
        system,
        workload,
        &outcome,
        Some(usage),
        client_cpu,
    ))
}

fn compare(
    rounds: usize,
    clients: &[usize],
    failover_seconds: u64,
    svg: &Path,
    markdown: bool,
    shape: &Shape,
    bin_dir: &Path,
) -> Result<(), String> {
    let mut rows = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [System::Ours, System::Etcd]
        } else {
            [System::Etcd, System::Ours]
        };
        for reads in [0, 90] {
            for &n in clients {
                for system in order {
                    let row = measure(
                        system,
                        &shape.workload(n, reads, shape.seconds),
                        shape,
                        bin_dir,
                    )?;
                    eprintln!("round {}: {}", round + 1, row.line());
                    rows.push(row);
                }
            }
        }
    }
    println!(
        "Means of {rounds} round(s); {} s counted per measurement, {} keys, {}-byte values, {:?} keys",
        shape.seconds, shape.keys, shape.value_size, shape.order
    );
    report::print_rows(&report::means(&rows), markdown);
    if failover_seconds > 0 {
        let mut runs = Vec::new();
        for system in [System::Ours, System::Etcd] {
            let timeline = failover(system, failover_seconds, shape, bin_dir)?;
            runs.push((system, timeline));
        }
        report::write_failover_svg(svg, &runs, failover_seconds)?;
        println!("failover: {}", svg.display());
    }
    Ok(())
}

/// Eight clients writing for `seconds`; the leader is SIGKILLed at a quarter of the time and
/// started again at half. Returns the operations completed per bucket.
fn failover(
    system: System,
    seconds: u64,
    shape: &Shape,
    bin_dir: &Path,
) -> Result<report::Timeline, String> {
    let mut cluster = Cluster::start(system, &shape.dir, bin_dir, &shape.ours_args)?;
    let workload = shape.workload(8, 0, seconds);
    let total = Duration::from_secs(seconds);
    let mut events = Vec::new();
    let mut error = None;
    let connector = cluster.connector();
    let mut act = |start: Instant| {
        thread::sleep((start + total / 4).saturating_duration_since(Instant::now()));
        let Some(leader) = cluster.leader() else {
            error = Some(format!("{}: no leader to kill", system.name()));
            return;
        };
        cluster.kill(leader);
        events.push((start.elapsed(), "leader killed"));
        thread::sleep((start + total / 2).saturating_duration_since(Instant::now()));
        if let Err(e) = cluster.restart(leader) {
            error = Some(e);
        }
        events.push((start.elapsed(), "restarted"));
    };
    let outcome = workload::run(&workload, |c| connector.store(c), Some(&mut act));
    if let Some(e) = error {
        return Err(e);
    }
    let ops = outcome.latencies_us.len();
    eprintln!(
        "failover, {}: {} ops in {seconds} s, {} errors",
        system.name(),
        ops,
        outcome.errors
    );
    Ok(report::Timeline {
        ops: outcome.timeline,
        events,
    })
}
