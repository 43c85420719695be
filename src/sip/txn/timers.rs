//! The RFC 3261 §17 timers by name, and the small table each transaction keeps them in.
//!
//! Nothing here reads a clock: deadlines are instants the layer computed from the `now` it was
//! handed, and a timer "fires" only when the layer's `handle_timeout` is called at or after it.

use std::time::{Duration, Instant};

/// The timer values of RFC 3261 §17.1.1.1 and Table 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate; default 500 ms.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses; default 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network; default 5 s.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self { t1: Duration::from_millis(500), t2: Duration::from_secs(4), t4: Duration::from_secs(5) }
    }
}

impl TimerConfig {
    /// 64*T1: Timers B, F, H and J (on unreliable transports for J).
    pub fn timeout(&self) -> Duration {
        self.t1 * 64
    }
}

/// The transaction timers, named as in RFC 3261 §17 (Table 4). Timer C (proxy INVITE) does not
/// belong to a transaction and is not here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// Client INVITE: request retransmission (unreliable only), T1 doubling.
    A,
    /// Client INVITE: transaction timeout, 64*T1.
    B,
    /// Client INVITE: wait time in Completed for response retransmissions, 32 s or 0.
    D,
    /// Client non-INVITE: request retransmission (unreliable only), T1 doubling up to T2.
    E,
    /// Client non-INVITE: transaction timeout, 64*T1.
    F,
    /// Server INVITE: final response retransmission (unreliable only), T1 doubling up to T2.
    G,
    /// Server INVITE: wait time for ACK, 64*T1.
    H,
    /// Server INVITE: wait time in Confirmed for ACK retransmissions, T4 or 0.
    I,
    /// Server non-INVITE: wait time in Completed for request retransmissions, 64*T1 or 0.
    J,
    /// Client non-INVITE: wait time in Completed for response retransmissions, T4 or 0.
    K,
}

/// The timers one transaction has armed, each at most once.
#[derive(Clone, Debug, Default)]
pub(crate) struct TimerTable {
    armed: Vec<(Timer, Instant)>,
}

impl TimerTable {
    /// Arms `timer` to fire at `at`, replacing an earlier setting.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.cancel(timer);
        self.armed.push((timer, at));
    }

    /// Disarms `timer`; nothing happens when it is not armed.
    pub(crate) fn cancel(&mut self, timer: Timer) {
        self.armed.retain(|(t, _)| *t != timer);
    }

    /// Disarms every timer.
    pub(crate) fn clear(&mut self) {
        self.armed.clear();
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.armed.iter().map(|(_, at)| *at).min()
    }

    /// The earliest armed timer that is due at `now`, with its deadline. Ties go to the timer
    /// named first in the RFC, so results do not depend on arming order.
    pub(crate) fn due(&self, now: Instant) -> Option<(Instant, Timer)> {
        self.armed.iter().filter(|(_, at)| *at <= now).map(|(t, at)| (*at, *t)).min()
    }

    /// Every armed timer, earliest first.
    pub(crate) fn list(&self) -> Vec<(Timer, Instant)> {
        let mut v = self.armed.clone();
        v.sort_by_key(|(t, at)| (*at, *t));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_keeps_one_deadline_per_timer_and_reports_the_earliest_due() {
        let t0 = Instant::now();
        let ms = |x| t0 + Duration::from_millis(x);
        let mut table = TimerTable::default();
        table.set(Timer::B, ms(32_000));
        table.set(Timer::A, ms(500));
        table.set(Timer::A, ms(1_500));
        assert_eq!(table.list(), vec![(Timer::A, ms(1_500)), (Timer::B, ms(32_000))]);
        assert_eq!(table.next(), Some(ms(1_500)));
        assert_eq!(table.due(ms(1_499)), None);
        assert_eq!(table.due(ms(40_000)), Some((ms(1_500), Timer::A)));
        table.cancel(Timer::A);
        assert_eq!(table.next(), Some(ms(32_000)));
        table.cancel(Timer::B);
        assert_eq!(table.next(), None);
    }

    #[test]
    fn default_config_is_the_rfc_3261_values() {
        let c = TimerConfig::default();
        assert_eq!((c.t1, c.t2, c.t4), (Duration::from_millis(500), Duration::from_secs(4), Duration::from_secs(5)));
        assert_eq!(c.timeout(), Duration::from_secs(32));
    }
}
