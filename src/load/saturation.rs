//! The generator's own saturation, so a saturated generator is never mistaken for a slow
//! SUT: the CPU time this process used over the run, and how late a 5 ms ticker on the same
//! runtime wakes (scheduling lag: tasks queued behind work the runtime cannot keep up with).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use nix::sys::resource::{UsageWho, getrusage};

/// CPU time (user + system) this process has used so far.
pub fn cpu_time() -> Duration {
    getrusage(UsageWho::RUSAGE_SELF)
        .map(|u| {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
                    + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
            };
            tv(u.user_time()) + tv(u.system_time())
        })
        .unwrap_or_default()
}

/// Resident memory of a process from /proc (`VmRSS`, and the peak `VmHWM`), bytes.
pub fn rss_of(pid: &str) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("VmRSS:")? * 1024, field("VmHWM:")? * 1024))
}

/// CPU time of another process from /proc/<pid>/stat (utime + stime).
pub fn cpu_of(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count fields after the last `)`.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the whole line are 12 and 13 after the name and state.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux ABI this runs on.
    Some(Duration::from_millis(ticks * 10))
}

/// Scheduling lag as the ticker saw it.
#[derive(Debug, Clone, Copy)]
pub struct Lag {
    /// Median lateness.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Worst.
    pub max: Duration,
}

/// A ticker task measuring lateness until stopped.
#[derive(Debug)]
pub struct LagProbe {
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<Histogram<u64>>,
}

/// The ticker's period.
const TICK: Duration = Duration::from_millis(5);

impl LagProbe {
    /// Starts the ticker on the current runtime.
    pub fn start() -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let done = tokio::spawn(async move {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|e| panic!("bounds: {e}"));
            loop {
                let due = Instant::now() + TICK;
                tokio::select! {
                    _ = &mut stopped => break,
                    () = tokio::time::sleep_until(due.into()) => {}
                }
                let late = Instant::now().saturating_duration_since(due);
                h.saturating_record(u64::try_from(late.as_micros()).unwrap_or(u64::MAX).max(1));
            }
            h
        });
        Self { stop, done }
    }

    /// Stops the ticker and reads what it saw.
    pub async fn finish(self) -> Lag {
        let _ = self.stop.send(());
        let h = self.done.await.unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|e| panic!("{e}")));
        let at = |q: f64| Duration::from_micros(if h.is_empty() { 0 } else { h.value_at_quantile(q) });
        Lag { p50: at(0.5), p99: at(0.99), max: Duration::from_micros(h.max()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_resident_size_and_cpu_time() {
        let (rss, hwm) = rss_of("self").expect("/proc/self/status");
        assert!(rss > 0 && hwm >= rss, "rss {rss} hwm {hwm}");
        // Burn a little CPU so the figure cannot be a constant zero.
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(30) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(cpu_time() > Duration::ZERO);
        assert!(cpu_of(std::process::id()).is_some());
    }
}
