//! What the stress runner knows about each test (runs, failures, how long runs took), and the
//! table it closes with: Test | Failed | Total | Time (mean ± sd).

use std::fmt::Write;
use std::time::Duration;

#[derive(Default, Clone)]
pub struct TestStats {
    pub done: usize,
    pub failed: usize,
    durations: Vec<Duration>,
}

impl TestStats {
    pub fn record(&mut self, took: Duration, passed: bool) {
        self.done += 1;
        if !passed {
            self.failed += 1;
        }
        self.durations.push(took);
    }

    /// Mean and sample standard deviation of the run times, in seconds.
    pub fn mean_sd(&self) -> (f64, f64) {
        let secs: Vec<f64> = self.durations.iter().map(Duration::as_secs_f64).collect();
        mean_sd(&secs)
    }
}

/// Mean and sample standard deviation (0 for fewer than two samples).
pub fn mean_sd(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, 0.0);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// The closing table, one row per test, times in seconds.
pub fn table(names: &[&str], stats: &[TestStats]) -> String {
    const TIME: &str = "Time (mean ± sd)";
    let width = names.iter().map(|n| n.len()).chain([4]).max().unwrap_or(4);
    let time_width = TIME.chars().count();
    let mut out = format!(
        "{:<width$}  {:>6}  {:>5}  {:>time_width$}\n",
        "Test", "Failed", "Total", TIME
    );
    for (name, s) in names.iter().zip(stats) {
        let (mean, sd) = s.mean_sd();
        let time = format!("{mean:.2} ± {sd:.2} s");
        let _ = writeln!(
            out,
            "{name:<width$}  {:>6}  {:>5}  {time:>time_width$}",
            s.failed, s.done
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_sd() {
        assert_eq!(mean_sd(&[]), (0.0, 0.0));
        assert_eq!(mean_sd(&[3.0]), (3.0, 0.0));
        let (mean, sd) = mean_sd(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert!((mean - 5.0).abs() < 1e-9);
        assert!((sd - 2.138_089_935).abs() < 1e-6, "{sd}");
    }

    #[test]
    fn records_runs_and_failures() {
        let mut s = TestStats::default();
        s.record(Duration::from_secs(1), true);
        s.record(Duration::from_secs(3), false);
        assert_eq!((s.done, s.failed), (2, 1));
        let (mean, sd) = s.mean_sd();
        assert_eq!(mean, 2.0);
        assert!((sd - 2f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn table_has_a_row_per_test() {
        let mut a = TestStats::default();
        a.record(Duration::from_millis(1500), true);
        a.record(Duration::from_millis(2500), false);
        let mut b = TestStats::default();
        b.record(Duration::from_secs(2), true);
        let table = table(&["re_election_part_a", "b"], &[a, b]);
        let expected = "\
Test                Failed  Total  Time (mean ± sd)
re_election_part_a       1      2     2.00 ± 0.71 s
b                        0      1     2.00 ± 0.00 s
";
        assert_eq!(table, expected);
    }
}
