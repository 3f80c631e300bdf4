//! What `loadgen` prints: one row per measurement, the means of rows measured alike, the
//! target's verdict per cell, and the failover runs drawn as an SVG.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::clusters::{System, Usage};
use crate::workload::{BUCKET, Outcome, Workload};

/// One measurement, or the mean of several.
#[derive(Clone, Debug)]
pub struct Row {
    pub system: System,
    pub read_percent: u32,
    pub clients: usize,
    /// How many measurements this row is the mean of.
    pub runs: usize,
    pub ops_per_sec: f64,
    /// The lowest and highest throughput of the measurements.
    pub ops_range: (f64, f64),
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub errors: f64,
    /// The servers' CPU seconds over the counted time, and their summed peak RSS (MiB); none
    /// for servers this process did not start.
    pub usage: Option<(f64, f64)>,
    /// The load generator's own CPU seconds over the counted time (the clients' share).
    pub client_cpu: f64,
}

impl Row {
    /// The row of one measurement.
    pub fn new(
        system: System,
        workload: &Workload,
        outcome: &Outcome,
        usage: Option<Usage>,
        client_cpu: f64,
    ) -> Row {
        let ops = outcome.throughput();
        Row {
            system,
            read_percent: workload.read_percent,
            clients: workload.clients,
            runs: 1,
            ops_per_sec: ops,
            ops_range: (ops, ops),
            p50_ms: outcome.latency_ms(0.5),
            p99_ms: outcome.latency_ms(0.99),
            p999_ms: outcome.latency_ms(0.999),
            errors: outcome.errors as f64,
            usage: usage.map(|u| (u.cpu_seconds, u.peak_rss_bytes as f64 / f64::from(1 << 20))),
            client_cpu,
        }
    }

    fn workload(&self) -> String {
        if self.read_percent == 0 {
            "writes".to_string()
        } else {
            format!("{}% reads", self.read_percent)
        }
    }

    /// The row on one line, for progress.
    pub fn line(&self) -> String {
        let usage = self.usage.map_or(String::new(), |(cpu, rss)| {
            format!(", servers {cpu:.1} CPU s, {rss:.0} MiB peak")
        });
        let usage = format!("{usage}, clients {:.1} CPU s", self.client_cpu);
        format!(
            "{}, {} clients, {}: {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, {} errors{usage}",
            self.workload(),
            self.clients,
            self.system.name(),
            self.ops_per_sec,
            self.p50_ms,
            self.p99_ms,
            self.p999_ms,
            self.errors
        )
    }
}

/// The mean of the rows of each (workload, clients, system), in the order each first appears.
pub fn means(rows: &[Row]) -> Vec<Row> {
    let mut groups: Vec<Vec<&Row>> = Vec::new();
    for row in rows {
        let same = |g: &&mut Vec<&Row>| {
            let first = g[0];
            (first.read_percent, first.clients, first.system)
                == (row.read_percent, row.clients, row.system)
        };
        match groups.iter_mut().find(|g| same(g)) {
            Some(group) => group.push(row),
            None => groups.push(vec![row]),
        }
    }
    groups
        .into_iter()
        .map(|group| {
            let n = group.len() as f64;
            let mean = |f: fn(&Row) -> f64| group.iter().map(|r| f(r)).sum::<f64>() / n;
            let usage = group
                .iter()
                .map(|r| r.usage)
                .collect::<Option<Vec<_>>>()
                .map(|u| {
                    let cpu = u.iter().map(|x| x.0).sum::<f64>() / n;
                    let rss = u.iter().map(|x| x.1).sum::<f64>() / n;
                    (cpu, rss)
                });
            let ops = group.iter().map(|r| r.ops_per_sec);
            Row {
                runs: group.len(),
                ops_per_sec: mean(|r| r.ops_per_sec),
                ops_range: (
                    ops.clone().fold(f64::INFINITY, f64::min),
                    ops.fold(0.0, f64::max),
                ),
                p50_ms: mean(|r| r.p50_ms),
                p99_ms: mean(|r| r.p99_ms),
                p999_ms: mean(|r| r.p999_ms),
                errors: mean(|r| r.errors),
                client_cpu: mean(|r| r.client_cpu),
                usage,
                ..group[0].clone()
            }
        })
        .collect()
}

/// Prints `rows` as a table, plain or Markdown, and, for each cell measured on both systems,
/// the issue's target: ours at or above etcd's throughput, at or below its p99, at half its
/// RSS or less.
pub fn print_rows(rows: &[Row], markdown: bool) {
    let header = [
        "Workload",
        "Clients",
        "System",
        "Runs",
        "ops/s",
        "(min-max)",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "Errors",
        "Server CPU s",
        "Client CPU s",
        "Peak RSS MiB",
    ];
    let cells: Vec<[String; 13]> = rows
        .iter()
        .map(|r| {
            let (cpu, rss) = r.usage.map_or(("-".into(), "-".into()), |(c, m)| {
                (format!("{c:.1}"), format!("{m:.0}"))
            });
            [
                r.workload(),
                r.clients.to_string(),
                r.system.name().to_string(),
                r.runs.to_string(),
                format!("{:.0}", r.ops_per_sec),
                format!("{:.0}-{:.0}", r.ops_range.0, r.ops_range.1),
                format!("{:.2}", r.p50_ms),
                format!("{:.2}", r.p99_ms),
                format!("{:.2}", r.p999_ms),
                format!("{:.0}", r.errors),
                cpu,
                format!("{:.1}", r.client_cpu),
                rss,
            ]
        })
        .collect();
    print_table(&header, &cells, markdown);
    let verdicts: Vec<[String; 6]> = rows
        .iter()
        .filter(|r| r.system == System::Ours)
        .filter_map(|ours| {
            let etcd = rows.iter().find(|e| {
                e.system == System::Etcd
                    && (e.read_percent, e.clients) == (ours.read_percent, ours.clients)
            })?;
            let mark = |ok: bool| if ok { "yes" } else { "no" };
            let rss = match (ours.usage, etcd.usage) {
                (Some((_, a)), Some((_, b))) => format!("{:.2} ({})", a / b, mark(a <= b / 2.0)),
                _ => "-".to_string(),
            };
            let ops = ours.ops_per_sec / etcd.ops_per_sec.max(f64::EPSILON);
            let p99 = ours.p99_ms / etcd.p99_ms.max(f64::EPSILON);
            let met = ops >= 1.0 && p99 <= 1.0 && rss.ends_with("(yes)");
            Some([
                ours.workload(),
                ours.clients.to_string(),
                format!("{ops:.2} ({})", mark(ops >= 1.0)),
                format!("{p99:.2} ({})", mark(p99 <= 1.0)),
                rss,
                mark(met).to_string(),
            ])
        })
        .collect();
    if !verdicts.is_empty() {
        println!();
        let header = [
            "Workload",
            "Clients",
            "ops/s, ours/etcd (>= 1)",
            "p99, ours/etcd (<= 1)",
            "RSS, ours/etcd (<= 0.5)",
            "Target met",
        ];
        print_table(&header, &verdicts, markdown);
    }
}

fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]], markdown: bool) {
    if markdown {
        println!("| {} |", header.join(" | "));
        println!("|{}", "---|".repeat(N));
        for row in rows {
            println!("| {} |", row.join(" | "));
        }
        return;
    }
    let widths: Vec<usize> = (0..N)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect();
        println!("{}", padded.join("  "));
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// One failover run: operations completed per [`BUCKET`], and what happened when.
pub struct Timeline {
    pub ops: Vec<u64>,
    pub events: Vec<(Duration, &'static str)>,
}

/// Draws each system's operations per second over time, with the moments of its events, as an
/// SVG at `path`.
pub fn write_failover_svg(
    path: &Path,
    runs: &[(System, Timeline)],
    seconds: u64,
) -> Result<(), String> {
    let svg = failover_svg(runs, seconds);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    fs::write(path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The SVG text of [`write_failover_svg`].
pub fn failover_svg(runs: &[(System, Timeline)], seconds: u64) -> String {
    let (width, height, left, top, bottom) = (720.0, 320.0, 64.0, 36.0, 40.0);
    let plot_w = width - left - 16.0;
    let plot_h = height - top - bottom;
    let per_sec = 1000.0 / BUCKET.as_millis() as f64;
    let peak = runs
        .iter()
        .flat_map(|(_, t)| t.ops.iter())
        .map(|&n| n as f64 * per_sec)
        .fold(1.0, f64::max);
    // A round top for the y axis: 1, 2 or 5 times a power of ten.
    let step = 10f64.powf((peak / 4.0).log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * step)
        .find(|s| s * 4.0 >= peak)
        .unwrap_or(step * 10.0);
    let y_max = step * 4.0;
    let x = |t: f64| left + plot_w * t / seconds.max(1) as f64;
    let y = |v: f64| top + plot_h * (1.0 - v / y_max);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="20" font-size="14">Writes per second, 8 clients; the leader SIGKILLed, then started again</text>"#
    );
    for i in 0..=4 {
        let v = step * f64::from(i);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{v:.0}</text>"##,
            left + plot_w,
            left - 6.0,
            y(v) + 4.0,
            y = y(v),
        );
    }
    for t in (0..=seconds).step_by(5) {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{t} s</text>"#,
            x(t as f64),
            height - bottom + 18.0
        );
    }
    let colours = [("ours", "#1f6feb"), ("etcd", "#d9480f")];
    for (k, (system, timeline)) in runs.iter().enumerate() {
        let colour = colours
            .iter()
            .find(|(n, _)| *n == system.name())
            .map_or("#444", |(_, c)| c);
        let points: Vec<String> = timeline
            .ops
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let t = (i as f64 + 0.5) * BUCKET.as_secs_f64();
                format!("{:.1},{:.1}", x(t), y(n as f64 * per_sec))
            })
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
            points.join(" ")
        );
        let legend_y = top + 14.0 + 16.0 * k as f64;
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{legend_y:.1}" fill="{colour}" text-anchor="end">{}</text>"#,
            left + plot_w - 4.0,
            system.name()
        );
        for (at, what) in &timeline.events {
            let ex = x(at.as_secs_f64());
            let _ = writeln!(
                s,
                r#"<line x1="{ex:.1}" x2="{ex:.1}" y1="{top}" y2="{}" stroke="{colour}" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" fill="{colour}">{what}</text>"#,
                top + plot_h,
                ex + 3.0,
                top + plot_h - 6.0 - 14.0 * k as f64
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(system: System, clients: usize, ops: f64, p99: f64, rss: f64) -> Row {
        Row {
            system,
            read_percent: 0,
            clients,
            runs: 1,
            ops_per_sec: ops,
            ops_range: (ops, ops),
            p50_ms: 1.0,
            p99_ms: p99,
            p999_ms: 2.0 * p99,
            errors: 0.0,
            usage: Some((1.0, rss)),
            client_cpu: 1.0,
        }
    }

    #[test]
    fn means_group_by_cell_and_system_in_first_seen_order() {
        let rows = [
            row(System::Ours, 8, 100.0, 2.0, 10.0),
            row(System::Etcd, 8, 300.0, 4.0, 40.0),
            row(System::Ours, 8, 200.0, 4.0, 20.0),
            row(System::Ours, 32, 50.0, 1.0, 10.0),
        ];
        let m = means(&rows);
        assert_eq!(m.len(), 3);
        assert_eq!((m[0].system, m[0].clients, m[0].runs), (System::Ours, 8, 2));
        assert_eq!(m[0].ops_per_sec, 150.0);
        assert_eq!(m[0].ops_range, (100.0, 200.0));
        assert_eq!(m[0].p99_ms, 3.0);
        assert_eq!(m[0].usage, Some((1.0, 15.0)));
        assert_eq!((m[1].system, m[2].clients), (System::Etcd, 32));
    }

    #[test]
    fn the_svg_draws_every_run_and_event() {
        let runs = [
            (
                System::Ours,
                Timeline {
                    ops: vec![10, 20, 0, 30],
                    events: vec![(Duration::from_millis(150), "leader killed")],
                },
            ),
            (
                System::Etcd,
                Timeline {
                    ops: vec![5, 5, 5, 5],
                    events: vec![],
                },
            ),
        ];
        let svg = failover_svg(&runs, 1);
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("leader killed"));
        // 30 operations in 100 ms is 300/s: the axis tops at 400 (4 steps of 100).
        assert!(svg.contains(">400<"));
    }
}
