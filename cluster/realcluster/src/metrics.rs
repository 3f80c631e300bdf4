//! A server's metrics: counters and histograms that the client service and the disk journal
//! feed, gauges read from Raft when scraped, and the `/metrics` page that serves them in
//! Prometheus' text format on a port of their own.
//!
//! The page is served by one thread, one request at a time, each bounded (a request line and
//! headers of at most 8 KiB, read within 2 s), so a scraper that misbehaves costs a few
//! seconds and nothing else.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use prometheus::core::Metric as _;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// Latency buckets of client operations, in seconds: 100 µs to 10 s.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// fsync buckets, in seconds: 10 µs to 1 s.
const FSYNC_BUCKETS: [f64; 12] = [
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1, 1.0,
];
/// The most a `/metrics` request may send before its reply.
const MAX_REQUEST: u64 = 8 << 10;
/// How long a `/metrics` request may take to arrive, and its reply to leave.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Raft's figures at the moment of a scrape.
pub struct RaftFigures {
    pub status: raft::Status,
    pub raft_state_bytes: usize,
    pub snapshot_bytes: usize,
    pub open_connections: usize,
    /// The snapshots written in the background, if they are.
    pub snapshots: Option<rsm::SnapshotStats>,
}

/// Every metric of one server.
pub struct Metrics {
    registry: Registry,
    ops: IntCounterVec,
    errors: IntCounterVec,
    latency: HistogramVec,
    fsync: Histogram,
    term: IntGauge,
    role: IntGaugeVec,
    commit_index: IntGauge,
    last_log_index: IntGauge,
    log_entries: IntGauge,
    snapshot_index: IntGauge,
    snapshot_bytes: IntGauge,
    raft_state_bytes: IntGauge,
    open_connections: IntGauge,
    snapshots_sending: IntGauge,
    snapshot_bytes_sent: IntGauge,
    snapshots_taken: IntGauge,
    snapshot_last_bytes: IntGauge,
    snapshot_last_seconds: Gauge,
    snapshot_writing: IntGauge,
}

/// The names a metric is registered under are fixed, so registering cannot fail but by a
/// mistake in this file.
fn registered<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, m: M) -> M {
    registry
        .register(Box::new(m.clone()))
        .unwrap_or_else(|e| panic!("metric registered twice: {e}"));
    m
}

impl Metrics {
    /// A fresh set, all at zero.
    pub fn new(me: usize) -> Metrics {
        let registry = Registry::new_custom(
            Some("kv".to_string()),
            Some([("server".to_string(), me.to_string())].into()),
        )
        .unwrap_or_else(|e| panic!("a fixed prefix is valid: {e}"));
        let gauge = |name: &str, help: &str| {
            registered(
                &registry,
                IntGauge::new(name, help).unwrap_or_else(|e| panic!("{name}: {e}")),
            )
        };
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            registered(
                &registry,
                IntCounterVec::new(Opts::new(name, help), labels)
                    .unwrap_or_else(|e| panic!("{name}: {e}")),
            )
        };
        Metrics {
            ops: counter_vec(
                "operations_total",
                "Client operations answered, by kind",
                &["op"],
            ),
            errors: counter_vec(
                "errors_total",
                "Client operations not done, by kind and reason",
                &["op", "reason"],
            ),
            latency: registered(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "operation_seconds",
                        "Latency of client operations that were done",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                    &["op"],
                )
                .unwrap_or_else(|e| panic!("operation_seconds: {e}")),
            ),
            fsync: registered(
                &registry,
                Histogram::with_opts(
                    HistogramOpts::new("fsync_seconds", "Time each save spent in fsync")
                        .buckets(FSYNC_BUCKETS.to_vec()),
                )
                .unwrap_or_else(|e| panic!("fsync_seconds: {e}")),
            ),
            term: gauge("raft_term", "Raft's current term"),
            role: registered(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "raft_role",
                        "1 for the role this server is in, 0 for others",
                    ),
                    &["role"],
                )
                .unwrap_or_else(|e| panic!("raft_role: {e}")),
            ),
            commit_index: gauge("raft_commit_index", "Raft's commit index"),
            last_log_index: gauge("raft_last_log_index", "Index of Raft's last log entry"),
            log_entries: gauge(
                "raft_log_entries",
                "Entries in Raft's log after its snapshot",
            ),
            snapshot_index: gauge("raft_snapshot_index", "Last index the snapshot covers"),
            snapshot_bytes: gauge("raft_snapshot_bytes", "Bytes of the saved snapshot"),
            raft_state_bytes: gauge("raft_state_bytes", "Bytes of the saved Raft state"),
            open_connections: gauge("client_connections", "Open connections from clients"),
            snapshots_sending: gauge(
                "raft_snapshots_sending",
                "Followers the leader is sending its snapshot to",
            ),
            snapshot_bytes_sent: gauge(
                "raft_snapshot_bytes_sent",
                "Bytes of the snapshot those followers have received so far",
            ),
            snapshots_taken: gauge(
                "snapshots_taken",
                "Snapshots written in the background since the server started",
            ),
            snapshot_last_bytes: gauge("snapshot_last_bytes", "Bytes of the last snapshot taken"),
            snapshot_last_seconds: registered(
                &registry,
                Gauge::new(
                    "snapshot_last_seconds",
                    "Time the last snapshot took to encode and save",
                )
                .unwrap_or_else(|e| panic!("snapshot_last_seconds: {e}")),
            ),
            snapshot_writing: gauge("snapshot_writing", "1 while a snapshot is being written"),
            registry,
        }
    }

    /// An operation of kind `op` was done in `took`.
    pub fn done(&self, op: &str, took: Duration) {
        self.ops.with_label_values(&[op]).inc();
        self.latency
            .with_label_values(&[op])
            .observe(took.as_secs_f64());
    }

    /// An operation of kind `op` was answered without being done, for `reason`.
    pub fn failed(&self, op: &str, reason: &str) {
        self.ops.with_label_values(&[op]).inc();
        self.errors.with_label_values(&[op, reason]).inc();
    }

    /// A save spent `took` in fsync.
    pub fn fsynced(&self, took: Duration) {
        self.fsync.observe(took.as_secs_f64());
    }

    /// Operations of kind `op` answered.
    pub fn operations(&self, op: &str) -> u64 {
        self.ops.with_label_values(&[op]).get()
    }

    /// Operations answered without being done, of every kind.
    pub fn errors(&self) -> u64 {
        total(&self.registry, "kv_errors_total")
    }

    /// fsyncs so far, and the seconds they took.
    pub fn fsyncs(&self) -> (u64, f64) {
        (self.fsync.get_sample_count(), self.fsync.get_sample_sum())
    }

    /// The latency below which fraction `q` of the operations that were done fell, from the
    /// histogram's buckets (so, an upper bound to the bucket), in µs; 0 before any.
    pub fn latency_quantile_micros(&self, q: f64) -> u64 {
        let mut buckets = vec![0u64; LATENCY_BUCKETS.len()];
        let mut count = 0;
        for op in ["get", "put", "append"] {
            let h = self.latency.with_label_values(&[op]).metric();
            let h = h.get_histogram();
            count += h.get_sample_count();
            for (sum, bucket) in buckets.iter_mut().zip(h.get_bucket()) {
                *sum += bucket.cumulative_count();
            }
        }
        quantile_bound(&LATENCY_BUCKETS, &buckets, count, q)
            .map_or(0, |seconds| (seconds * 1e6).round() as u64)
    }

    /// The page: every metric, with Raft's gauges set from `raft` first.
    pub fn render(&self, raft: &RaftFigures) -> String {
        let s = &raft.status;
        self.term.set(gauge_value(s.term));
        for role in ["Follower", "Candidate", "Leader"] {
            let now = i64::from(format!("{:?}", s.role) == role);
            self.role
                .with_label_values(&[&role.to_lowercase()])
                .set(now);
        }
        self.commit_index.set(gauge_value(s.commit_index));
        self.last_log_index.set(gauge_value(s.last_log_index));
        self.log_entries.set(gauge_value(
            s.last_log_index.saturating_sub(s.snapshot_index),
        ));
        self.snapshot_index.set(gauge_value(s.snapshot_index));
        self.snapshot_bytes.set(gauge_value(raft.snapshot_bytes));
        self.raft_state_bytes
            .set(gauge_value(raft.raft_state_bytes));
        self.open_connections
            .set(gauge_value(raft.open_connections));
        self.snapshots_sending.set(gauge_value(s.snapshots_sending));
        self.snapshot_bytes_sent
            .set(gauge_value(s.snapshot_bytes_sent));
        if let Some(snapshots) = &raft.snapshots {
            self.snapshots_taken.set(gauge_value(snapshots.taken));
            self.snapshot_last_bytes
                .set(gauge_value(snapshots.last_bytes));
            self.snapshot_last_seconds
                .set(snapshots.last_duration.as_secs_f64());
            self.snapshot_writing.set(i64::from(snapshots.writing));
        }
        let mut page = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut page) {
            log::warn!("metrics: cannot encode: {e}");
        }
        String::from_utf8_lossy(&page).into_owned()
    }
}

fn gauge_value(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// The sum over labels of the counter family `name`.
fn total(registry: &Registry, name: &str) -> u64 {
    registry
        .gather()
        .iter()
        .filter(|family| family.name() == name)
        .flat_map(|family| family.get_metric())
        .map(|m| m.get_counter().get_value() as u64)
        .sum()
}

/// The upper bound of the bucket that holds the `q` quantile of `count` observations, given
/// each bucket's cumulative count; `None` before any observation, and the last bound for
/// observations past every bucket.
fn quantile_bound(bounds: &[f64], cumulative: &[u64], count: u64, q: f64) -> Option<f64> {
    if count == 0 {
        return None;
    }
    let rank = (q * count as f64).ceil().max(1.0) as u64;
    bounds
        .iter()
        .zip(cumulative)
        .find(|&(_, &c)| c >= rank)
        .map(|(&bound, _)| bound)
        .or(bounds.last().copied())
}

/// The `/metrics` page on a port; stops when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Serves `page()` at `/metrics` on `listener`.
    pub fn serve(
        listener: TcpListener,
        page: impl Fn() -> String + Send + 'static,
    ) -> io::Result<MetricsServer> {
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&stopping);
        let thread = thread::Builder::new()
            .name(format!("metrics-{}", addr.port()))
            .spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    match stream {
                        Ok(stream) => answer(stream, &page),
                        Err(e) => log::warn!("metrics: accept failed: {e}"),
                    }
                }
            })?;
        log::info!("metrics: serving http://{addr}/metrics");
        Ok(MetricsServer {
            addr,
            stopping,
            thread: Some(thread),
        })
    }

    /// The address it serves on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers one HTTP request: the page for `GET /metrics`, 404 for other paths, 400 for
/// anything that is not a request.
fn answer(stream: TcpStream, page: &dyn Fn() -> String) {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "a scraper".to_string(), |a| a.to_string());
    let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
    let _ = stream.set_write_timeout(Some(REQUEST_TIMEOUT));
    let Ok(reader) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(reader.take(MAX_REQUEST));
    let mut request_line = String::new();
    let head_read = reader.read_line(&mut request_line).and_then(|_| {
        // The headers, up to the blank line; their content does not matter.
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
                return Ok(());
            }
        }
    });
    let mut parts = request_line.split_whitespace();
    let (status, body) = match (head_read, parts.next(), parts.next()) {
        (Ok(()), Some("GET"), Some("/metrics")) => ("200 OK", page()),
        (Ok(()), Some(_), Some(_)) => ("404 Not Found", "try /metrics\n".to_string()),
        (result, ..) => {
            log::warn!("metrics: {peer}: not an HTTP request ({result:?}); closing");
            ("400 Bad Request", "not an HTTP request\n".to_string())
        }
    };
    let mut out = &stream;
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quantile_is_the_bound_of_the_bucket_that_holds_it() {
        let bounds = [1.0, 2.0, 5.0];
        assert_eq!(quantile_bound(&bounds, &[0, 0, 0], 0, 0.5), None);
        // 10 observations: 6 at most 1, 3 more at most 2, 1 past 5.
        let cumulative = [6, 9, 9];
        assert_eq!(quantile_bound(&bounds, &cumulative, 10, 0.5), Some(1.0));
        assert_eq!(quantile_bound(&bounds, &cumulative, 10, 0.9), Some(2.0));
        assert_eq!(quantile_bound(&bounds, &cumulative, 10, 0.99), Some(5.0));
    }

    #[test]
    fn the_page_carries_every_figure() {
        let m = Metrics::new(2);
        m.done("get", Duration::from_micros(300));
        m.done("put", Duration::from_millis(3));
        m.failed("get", "wrong_leader");
        m.fsynced(Duration::from_micros(150));
        let page = m.render(&RaftFigures {
            status: raft::Status {
                term: 4,
                role: raft::Role::Leader,
                last_log_index: 90,
                commit_index: 88,
                snapshot_index: 80,
                snapshots_sending: 1,
                snapshot_bytes_sent: 4096,
            },
            raft_state_bytes: 1234,
            snapshot_bytes: 99,
            open_connections: 3,
            snapshots: Some(rsm::SnapshotStats {
                taken: 5,
                last_bytes: 99,
                last_duration: Duration::from_millis(250),
                writing: true,
            }),
        });
        for line in [
            "kv_operations_total{op=\"get\",server=\"2\"} 2",
            "kv_errors_total{op=\"get\",reason=\"wrong_leader\",server=\"2\"} 1",
            "kv_raft_term{server=\"2\"} 4",
            "kv_raft_role{role=\"leader\",server=\"2\"} 1",
            "kv_raft_role{role=\"follower\",server=\"2\"} 0",
            "kv_raft_log_entries{server=\"2\"} 10",
            "kv_raft_state_bytes{server=\"2\"} 1234",
            "kv_client_connections{server=\"2\"} 3",
            "kv_fsync_seconds_count{server=\"2\"} 1",
            "kv_raft_snapshots_sending{server=\"2\"} 1",
            "kv_raft_snapshot_bytes_sent{server=\"2\"} 4096",
            "kv_snapshots_taken{server=\"2\"} 5",
            "kv_snapshot_last_bytes{server=\"2\"} 99",
            "kv_snapshot_last_seconds{server=\"2\"} 0.25",
            "kv_snapshot_writing{server=\"2\"} 1",
        ] {
            assert!(page.contains(line), "{line} not in\n{page}");
        }
        assert_eq!(m.errors(), 1);
        assert_eq!(m.latency_quantile_micros(0.5), 500);
        assert_eq!(m.latency_quantile_micros(0.99), 5000);
    }
}
