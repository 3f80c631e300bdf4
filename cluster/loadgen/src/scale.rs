//! `loadgen scale`: the data grows to a size, with a follower down for most of it.
//!
//! Clients put values to fresh keys until `bytes` of values are written. When a tenth is
//! written, a follower is SIGKILLed; at nine tenths it is started again. Every second the run
//! samples the leader's elections count, its resident memory and the disk the servers use.
//! Then it reports, per tenth of the data: writes/s, p99 latency, elections (our Raft term;
//! etcd's leader changes), the leader's largest RSS and the disk used; then how long the
//! restarted follower took to apply what the leader had, and how long all three servers,
//! SIGKILLed and started again on the whole data set, took to serve a write.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::clusters::{self, Cluster, System};
use crate::workload::Store;

/// How long the restarted follower, then the restarted cluster, may take.
const PATIENCE: Duration = Duration::from_secs(300);

/// What one scale run does.
#[derive(Clone, Debug)]
pub struct Scale {
    /// Bytes of values to write.
    pub bytes: u64,
    /// Bytes per value.
    pub value_size: usize,
    /// Concurrent clients.
    pub clients: usize,
}

/// One second's sample.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// Since the writes began.
    pub at: Duration,
    /// Writes done by then.
    pub writes: u64,
    /// Elections, as the leader counts them.
    pub elections: Option<u64>,
    /// The leader's resident set, in bytes.
    pub leader_rss: u64,
    /// Bytes in the servers' data directories.
    pub disk: u64,
}

/// One tenth of the data.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tenth {
    pub writes_per_sec: f64,
    pub p99_ms: f64,
    pub elections: Option<u64>,
    pub leader_rss: u64,
    pub disk: u64,
}

/// What a scale run measured.
pub struct Report {
    pub system: System,
    pub writes: u64,
    pub seconds: f64,
    pub p99_ms: f64,
    pub tenths: Vec<Tenth>,
    pub samples: Vec<Sample>,
    /// When the follower was killed and restarted.
    pub events: Vec<(Duration, &'static str)>,
    /// From the follower's restart until it had applied all the leader had, once the writes
    /// were over.
    pub caught_up: Option<Duration>,
    /// The restarted follower's largest resident set from its restart until it caught up.
    pub follower_peak_rss: Option<u64>,
    /// From starting all three servers on the whole data set until a write succeeded.
    pub restart: Option<Duration>,
}

/// Runs the scale workload on a fresh cluster of `system`.
pub fn run(
    system: System,
    scale: &Scale,
    dir: &Path,
    bin_dir: &Path,
    ours_args: &[String],
) -> Result<Report, String> {
    let mut cluster = Cluster::start(system, dir, bin_dir, ours_args)?;
    let total = scale.bytes / scale.value_size.max(1) as u64;
    let issued = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let connector = cluster.connector();
    let value = "v".repeat(scale.value_size);
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut events = Vec::new();
    let mut victim = None;
    let mut error = None;
    let ops: Vec<(u32, u32)> = thread::scope(|scope| {
        let clients: Vec<_> = (0..scale.clients)
            .map(|c| {
                let (issued, done, stop, value) = (&issued, &done, &stop, &value);
                let mut store = connector.store(c);
                scope.spawn(move || {
                    let mut ops = Vec::new();
                    while !stop.load(Ordering::Relaxed)
                        && issued.fetch_add(1, Ordering::Relaxed) < total
                    {
                        let key = format!("scale-{c}-{}", ops.len());
                        let t0 = Instant::now();
                        while store.put(&key, value).is_err() {
                            if stop.load(Ordering::Relaxed) {
                                return ops;
                            }
                            thread::sleep(Duration::from_millis(10));
                        }
                        let ended = Instant::now();
                        ops.push((
                            u32::try_from((ended - start).as_millis()).unwrap_or(u32::MAX),
                            u32::try_from((ended - t0).as_micros()).unwrap_or(u32::MAX),
                        ));
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    ops
                })
            })
            .collect();
        // Sample every second; kill a follower at a tenth, restart it at nine tenths.
        while done.load(Ordering::Relaxed) < total {
            thread::sleep(Duration::from_secs(1));
            let writes = done.load(Ordering::Relaxed);
            let leader = cluster.leader();
            if victim.is_none() && writes * 10 >= total {
                match leader {
                    Some(leader) => {
                        let follower = (leader + 1) % 3;
                        cluster.kill(follower);
                        victim = Some(follower);
                        events.push((start.elapsed(), "follower killed"));
                    }
                    None => error = Some("no leader at a tenth of the data".to_string()),
                }
            }
            if let Some(follower) = victim
                && writes * 10 >= total * 9
                && cluster.pid(follower).is_none()
            {
                if let Err(e) = cluster.restart(follower) {
                    error = Some(e);
                }
                events.push((start.elapsed(), "follower restarted"));
            }
            samples.push(Sample {
                at: start.elapsed(),
                writes,
                elections: leader.and_then(|l| cluster.elections(l)),
                leader_rss: leader.and_then(|l| rss(cluster.pid(l)?)).unwrap_or(0),
                disk: disk_usage(cluster.dir()),
            });
            if error.is_some() {
                stop.store(true, Ordering::Relaxed);
                break;
            }
        }
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap_or_default())
            .collect()
    });
    if let Some(e) = error {
        return Err(e);
    }
    let seconds = start.elapsed().as_secs_f64();
    // A run so short that the last second jumped past nine tenths: restart it now.
    if let Some(follower) = victim
        && cluster.pid(follower).is_none()
    {
        cluster.restart(follower)?;
        events.push((start.elapsed(), "follower restarted"));
    }
    let caught_up = victim.and_then(|follower| {
        let restarted = events.last().map(|(at, _)| start + *at)?;
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            let leader = cluster.leader().and_then(|l| cluster.applied_index(l));
            if let (Some(leader), Some(follower)) = (leader, cluster.applied_index(follower))
                && follower >= leader
            {
                return Some(restarted.elapsed());
            }
            thread::sleep(Duration::from_millis(100));
        }
        None
    });
    let follower_peak_rss = victim
        .filter(|_| caught_up.is_some())
        .and_then(|follower| cluster.pid(follower))
        .and_then(peak_rss);
    let restart = restart_all(&mut cluster);
    let mut latencies: Vec<u32> = ops.iter().map(|&(_, l)| l).collect();
    latencies.sort_unstable();
    Ok(Report {
        system,
        writes: ops.len() as u64,
        seconds,
        p99_ms: p99_ms(&mut latencies),
        tenths: tenths(ops, &samples),
        samples,
        events,
        caught_up,
        follower_peak_rss,
        restart,
    })
}

/// SIGKILLs every server and starts them again; the time until a fresh client's write
/// succeeds.
fn restart_all(cluster: &mut Cluster) -> Option<Duration> {
    for i in 0..3 {
        cluster.kill(i);
    }
    let started = Instant::now();
    for i in 0..3 {
        cluster.restart(i).ok()?;
    }
    let connector = cluster.connector();
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut store = connector.store(0);
            while !stop.load(Ordering::Relaxed) {
                if store.put("after-restart", "yes").is_ok() {
                    return Some(started.elapsed());
                }
                thread::sleep(Duration::from_millis(10));
            }
            None
        });
        while !writer.is_finished() && started.elapsed() < PATIENCE {
            thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::Relaxed);
        // Our clerk retries inside until it succeeds: past the patience, give up on it.
        if writer.is_finished() {
            writer.join().ok().flatten()
        } else {
            None
        }
    })
}

/// The resident set of process `pid`, in bytes.
fn rss(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    clusters::rss_kb(&status).map(|kb| kb * 1024)
}

/// The largest resident set process `pid` has had, in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    clusters::peak_rss_kb(&status).map(|kb| kb * 1024)
}

/// The bytes of the files under `dir`.
fn disk_usage(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => disk_usage(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The 99th percentile of `sorted` microseconds, in milliseconds.
fn p99_ms(sorted: &mut [u32]) -> f64 {
    crate::workload::quantile(sorted, 0.99).map_or(0.0, |us| f64::from(us) / 1000.0)
}

/// The operations (`(ended at ms, latency µs)`) and samples, by tenth of the writes.
fn tenths(mut ops: Vec<(u32, u32)>, samples: &[Sample]) -> Vec<Tenth> {
    ops.sort_unstable();
    let n = ops.len();
    if n < 10 {
        return Vec::new();
    }
    let mut from_ms = 0;
    (0..10)
        .map(|k| {
            let part = &ops[k * n / 10..(k + 1) * n / 10];
            let to_ms = part.last().map_or(from_ms, |&(at, _)| at);
            let seconds = f64::from(to_ms.saturating_sub(from_ms)).max(1.0) / 1000.0;
            let (lo, hi) = ((k * n / 10) as u64, ((k + 1) * n / 10) as u64);
            let within: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.writes >= lo && s.writes < hi)
                .collect();
            let mut latencies: Vec<u32> = part.iter().map(|&(_, l)| l).collect();
            latencies.sort_unstable();
            from_ms = to_ms;
            Tenth {
                writes_per_sec: part.len() as f64 / seconds,
                p99_ms: p99_ms(&mut latencies),
                elections: within.iter().filter_map(|s| s.elections).max(),
                leader_rss: within.iter().map(|s| s.leader_rss).max().unwrap_or(0),
                disk: within.iter().map(|s| s.disk).max().unwrap_or(0),
            }
        })
        .collect()
}

/// The report as Markdown: one table per system, then the summary lines.
pub fn markdown(reports: &[Report], scale: &Scale) -> String {
    let mut s = String::new();
    for r in reports {
        let _ = writeln!(
            s,
            "\n{}: {} writes of {} bytes in {:.0} s, {:.0} writes/s, p99 {:.1} ms",
            r.system.name(),
            r.writes,
            scale.value_size,
            r.seconds,
            r.writes as f64 / r.seconds,
            r.p99_ms
        );
        let _ = writeln!(
            s,
            "\n| tenth | writes/s | p99 ms | elections | leader RSS MB | disk MB |\n|---|---|---|---|---|---|"
        );
        for (k, t) in r.tenths.iter().enumerate() {
            let _ = writeln!(
                s,
                "| {} | {:.0} | {:.1} | {} | {} | {} |",
                k + 1,
                t.writes_per_sec,
                t.p99_ms,
                t.elections.map_or("-".to_string(), |e| e.to_string()),
                t.leader_rss >> 20,
                t.disk >> 20
            );
        }
        let secs = |d: Option<Duration>| {
            d.map_or("not within 300 s".to_string(), |d| {
                format!("{:.1} s", d.as_secs_f64())
            })
        };
        let _ = writeln!(
            s,
            "\nthe restarted follower caught up {} after its restart (its peak RSS {}); all three restarted on the data served a write after {}",
            secs(r.caught_up),
            r.follower_peak_rss
                .map_or("unknown".to_string(), |b| format!("{} MB", b >> 20)),
            secs(r.restart)
        );
    }
    s
}

/// Writes/s and data written over time, each system a colour, as an SVG.
pub fn svg(reports: &[Report], scale: &Scale) -> String {
    let (width, height, left, top, bottom, right) = (760.0, 340.0, 64.0, 40.0, 40.0, 64.0);
    let (plot_w, plot_h) = (width - left - right, height - top - bottom);
    let per_second = |r: &Report| -> Vec<(f64, f64)> {
        r.samples
            .windows(2)
            .map(|w| {
                let dt = (w[1].at - w[0].at).as_secs_f64().max(0.001);
                (
                    w[1].at.as_secs_f64(),
                    (w[1].writes - w[0].writes) as f64 / dt,
                )
            })
            .collect()
    };
    let t_max = reports.iter().map(|r| r.seconds).fold(1.0, f64::max);
    let w_max = reports
        .iter()
        .flat_map(&per_second)
        .map(|(_, w)| w)
        .fold(1.0, f64::max);
    let mb = scale.bytes as f64 / f64::from(1 << 20);
    let x = |t: f64| left + plot_w * t / t_max;
    let y = |w: f64| top + plot_h * (1.0 - w / w_max);
    let y_data = |m: f64| top + plot_h * (1.0 - m / mb);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="20" font-size="14">Writes/s (solid, left) and MB written (dashed, right), {} clients of {}-byte values; a follower down from 1/10 to 9/10</text>"#,
        scale.clients, scale.value_size
    );
    for i in 0..=4 {
        let f = f64::from(i) / 4.0;
        let _ = writeln!(
            s,
            r##"<line x1="{left}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{:.0}</text><text x="{:.1}" y="{:.1}">{:.0}</text>"##,
            left + plot_w,
            left - 6.0,
            y(w_max * f) + 4.0,
            w_max * f,
            left + plot_w + 6.0,
            y(w_max * f) + 4.0,
            mb * f,
            yy = y(w_max * f),
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{:.0} s</text>"#,
        x(t_max),
        height - bottom + 18.0,
        t_max
    );
    let colours = [("ours", "#1f6feb"), ("etcd", "#d9480f")];
    for (k, r) in reports.iter().enumerate() {
        let colour = colours
            .iter()
            .find(|(n, _)| *n == r.system.name())
            .map_or("#444", |(_, c)| c);
        let line: Vec<String> = per_second(r)
            .iter()
            .map(|&(t, w)| format!("{:.1},{:.1}", x(t), y(w)))
            .collect();
        let data: Vec<String> = r
            .samples
            .iter()
            .map(|s| {
                let m = s.writes as f64 * scale.value_size as f64 / f64::from(1 << 20);
                format!("{:.1},{:.1}", x(s.at.as_secs_f64()), y_data(m))
            })
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>
<polyline fill="none" stroke="{colour}" stroke-dasharray="4 3" points="{}"/>
<text x="{:.1}" y="{:.1}" fill="{colour}">{}</text>"#,
            line.join(" "),
            data.join(" "),
            left + 8.0 + 60.0 * k as f64,
            top + 14.0,
            r.system.name()
        );
        for (at, what) in &r.events {
            let _ = writeln!(
                s,
                r#"<line x1="{xx:.1}" x2="{xx:.1}" y1="{top}" y2="{:.1}" stroke="{colour}" stroke-dasharray="2 2"/><title>{what}</title>"#,
                top + plot_h,
                xx = x(at.as_secs_f64())
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenths_split_the_writes_in_order() {
        // 100 writes, one every 10 ms, the last tenth ten times slower.
        let mut ops: Vec<(u32, u32)> = (0..90).map(|i| (10 * i + 10, 1000)).collect();
        ops.extend((0..10).map(|i| (900 + 100 * i + 100, 5000)));
        let samples = [Sample {
            at: Duration::from_millis(500),
            writes: 50,
            elections: Some(2),
            leader_rss: 7,
            disk: 9,
        }];
        let t = tenths(ops, &samples);
        assert_eq!(t.len(), 10);
        assert!((t[0].writes_per_sec - 100.0).abs() < 1.0, "{:?}", t[0]);
        assert!((t[9].writes_per_sec - 10.0).abs() < 0.5, "{:?}", t[9]);
        assert_eq!(t[9].p99_ms, 5.0);
        assert_eq!(
            t[5].elections,
            Some(2),
            "the sample at 50 writes is in the sixth tenth"
        );
        assert_eq!((t[5].leader_rss, t[5].disk), (7, 9));
        assert_eq!(t[4].elections, None);
    }
}
