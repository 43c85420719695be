//! What a load run measured: per transaction kind, outcomes and a latency histogram.
//!
//! Latencies go into an HDR histogram (the `hdrhistogram` crate): constant memory whatever
//! the run's length, and percentiles exact to three significant digits.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::mix::Kind;

/// Outcomes and latencies of one transaction kind.
#[derive(Debug, Clone)]
pub struct KindStats {
    /// Transactions started.
    pub started: u64,
    /// Transactions that succeeded.
    pub ok: u64,
    /// Failures by reason (`480 Temporarily Unavailable`, `timeout`, …).
    pub failures: BTreeMap<String, u64>,
    /// Latency of the successful ones, microseconds.
    latency: Histogram<u64>,
}

impl Default for KindStats {
    fn default() -> Self {
        Self {
            started: 0,
            ok: 0,
            failures: BTreeMap::new(),
            // 1 µs to 10 min at three significant digits: a few tens of KiB.
            latency: Histogram::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|e| panic!("histogram bounds: {e}")),
        }
    }
}

impl KindStats {
    /// Records a success that took `d`.
    pub fn success(&mut self, d: Duration) {
        self.ok += 1;
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).clamp(1, 600_000_000);
        self.latency.saturating_record(us);
    }

    /// Records a failure.
    pub fn failure(&mut self, reason: String) {
        *self.failures.entry(reason).or_default() += 1;
    }

    /// Finished transactions (succeeded or failed).
    pub fn finished(&self) -> u64 {
        self.ok + self.failures.values().sum::<u64>()
    }

    /// Successes over finished transactions (1 when none finished).
    pub fn success_ratio(&self) -> f64 {
        let n = self.finished();
        if n == 0 { 1.0 } else { self.ok as f64 / n as f64 }
    }

    /// The latency at quantile `q` (0..=1) of the successful transactions.
    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.latency.value_at_quantile(q))
    }
}

/// All kinds of one run.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// By kind.
    pub kinds: BTreeMap<Kind, KindStats>,
}

impl Stats {
    /// The kind's entry.
    pub fn kind(&mut self, k: Kind) -> &mut KindStats {
        self.kinds.entry(k).or_default()
    }

    /// Sum over the kinds in `which`: (started, ok, finished).
    pub fn totals(&self, which: impl Fn(Kind) -> bool) -> (u64, u64, u64) {
        self.kinds
            .iter()
            .filter(|(k, _)| which(**k))
            .fold((0, 0, 0), |(s, o, f), (_, v)| (s + v.started, o + v.ok, f + v.finished()))
    }
}

/// Milliseconds with two decimals, the unit of every latency in a report.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_successes() {
        let mut s = KindStats::default();
        for i in 1..=100u64 {
            s.started += 1;
            s.success(Duration::from_millis(i));
        }
        s.started += 1;
        s.failure("timeout".into());
        assert_eq!(s.finished(), 101);
        assert!((s.success_ratio() - 100.0 / 101.0).abs() < 1e-9);
        let p50 = s.quantile(0.50).as_micros();
        let p99 = s.quantile(0.99).as_micros();
        assert!((49_900..=50_100).contains(&p50), "p50 {p50}");
        assert!((98_900..=99_100).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn a_kind_with_nothing_finished_reads_as_no_failure() {
        let s = KindStats::default();
        assert!((s.success_ratio() - 1.0).abs() < f64::EPSILON);
        assert_eq!(s.quantile(0.99), Duration::ZERO);
    }
}
