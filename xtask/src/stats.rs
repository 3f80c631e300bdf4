//! What the stress runner knows about one test: runs, failures, and how long runs took.

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
        assert_eq!(s.mean_sd().0, 2.0);
    }
}
