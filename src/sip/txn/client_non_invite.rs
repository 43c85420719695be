//! The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::client_invite::digest;
use super::{Output, Peer, Timer, TimerConfig, TimerTable, TxnEvent, TxnId, TxnState, event, transmit};
use crate::sip::wire::Message;

#[derive(Debug)]
pub(crate) struct ClientNonInvite {
    id: TxnId,
    pub(crate) peer: Peer,
    pub(crate) state: TxnState,
    pub(crate) timers: TimerTable,
    request: Message,
    config: TimerConfig,
    /// The current Timer E interval.
    e_interval: Duration,
    provisionals: HashSet<u64>,
}

impl ClientNonInvite {
    /// Sends the request and enters Trying: Timer E (unreliable only) at T1, Timer F at 64*T1.
    pub(crate) fn start(
        id: TxnId,
        now: Instant,
        request: Message,
        peer: Peer,
        config: TimerConfig,
        out: &mut VecDeque<Output>,
    ) -> Self {
        transmit(out, peer, &request);
        let mut timers = TimerTable::default();
        if !peer.reliable {
            timers.set(Timer::E, now + config.t1);
        }
        timers.set(Timer::F, now + config.timeout());
        Self {
            id,
            peer,
            state: TxnState::Trying,
            timers,
            request,
            config,
            e_interval: config.t1,
            provisionals: HashSet::new(),
        }
    }

    pub(crate) fn on_response(&mut self, now: Instant, resp: Message, out: &mut VecDeque<Output>) {
        let Some(code) = resp.status() else {
            return;
        };
        match (self.state, code) {
            (TxnState::Trying | TxnState::Proceeding, 100..=199) => {
                // Timer E keeps its schedule; when it next fires in Proceeding it resets to T2.
                self.state = TxnState::Proceeding;
                let retransmission = !self.provisionals.insert(digest(&resp));
                event(out, TxnEvent::Response { id: self.id, msg: resp, retransmission });
            }
            (TxnState::Trying | TxnState::Proceeding, _) => {
                event(out, TxnEvent::Response { id: self.id, msg: resp, retransmission: false });
                self.timers.clear();
                if self.peer.reliable {
                    self.state = TxnState::Terminated;
                } else {
                    self.state = TxnState::Completed;
                    self.timers.set(Timer::K, now + self.config.t4);
                }
            }
            _ => tracing::debug!(id = %self.id, summary = %resp.summary(), state = ?self.state, "response absorbed"),
        }
    }

    pub(crate) fn on_timer(&mut self, timer: Timer, at: Instant, out: &mut VecDeque<Output>) {
        self.timers.cancel(timer);
        match (timer, self.state) {
            (Timer::E, TxnState::Trying | TxnState::Proceeding) => {
                transmit(out, self.peer, &self.request);
                self.e_interval = if self.state == TxnState::Trying {
                    (self.e_interval * 2).min(self.config.t2)
                } else {
                    self.config.t2
                };
                self.timers.set(Timer::E, at + self.e_interval);
            }
            (Timer::F, TxnState::Trying | TxnState::Proceeding) => {
                event(out, TxnEvent::Timeout { id: self.id });
                self.terminate();
            }
            (Timer::K, TxnState::Completed) => self.terminate(),
            _ => {}
        }
    }

    /// §17.1.4 and Figure 6: a transport error before the final response is a failure.
    pub(crate) fn on_transport_error(&mut self, out: &mut VecDeque<Output>) {
        if matches!(self.state, TxnState::Trying | TxnState::Proceeding) {
            event(out, TxnEvent::Timeout { id: self.id });
        }
        self.terminate();
    }

    fn terminate(&mut self) {
        self.state = TxnState::Terminated;
        self.timers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::{Output, TxnLayer};
    use super::*;
    use crate::sip::wire::Method;

    fn ms(t0: Instant, x: u64) -> Instant {
        t0 + Duration::from_millis(x)
    }

    #[test]
    fn client_non_invite_timer_e_doubles_and_caps_at_t2() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let msg = request(Method::MESSAGE, "z9hG4bKe1");
        let id = layer.send_request(t0, msg.clone(), udp());
        assert_eq!(drain(&mut layer), vec![Output::Transmit { peer: udp(), msg }]);
        assert_eq!(layer.armed_timers(id), vec![(Timer::E, ms(t0, 500)), (Timer::F, ms(t0, 32_000))]);
        let log = run_until(&mut layer, t0, 120_000);
        let mut sent = vec![0];
        sent.extend(transmit_times(&log));
        assert_eq!(sent, vec![0, 500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]);
        assert_eq!(timed_events(&log), vec![(32_000, TxnEvent::Timeout { id }), (32_000, TxnEvent::Terminated { id })]);
        assert!(layer.is_empty());
    }

    #[test]
    fn client_non_invite_over_reliable_transport_sends_once_and_times_out_at_timer_f() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let id = layer.send_request(t0, request(Method::INFO, "z9hG4bKe2"), tcp());
        assert_eq!(transmitted(&drain(&mut layer)).len(), 1);
        assert_eq!(layer.armed_timers(id), vec![(Timer::F, ms(t0, 32_000))]);
        let log = run_until(&mut layer, t0, 120_000);
        assert_eq!(transmit_times(&log), Vec::<u64>::new());
        assert_eq!(timed_events(&log), vec![(32_000, TxnEvent::Timeout { id }), (32_000, TxnEvent::Terminated { id })]);
    }

    #[test]
    fn after_a_provisional_response_timer_e_retransmits_every_t2() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let msg = request(Method::SUBSCRIBE, "z9hG4bKe3");
        let id = layer.send_request(t0, msg.clone(), udp());
        drain(&mut layer);
        let log = run_until(&mut layer, t0, 1_500);
        assert_eq!(transmit_times(&log), vec![500, 1_500]);
        let trying = response(&msg, 100, "Trying");
        layer.receive(ms(t0, 1_600), trying.clone(), udp());
        assert_eq!(
            drain(&mut layer),
            vec![Output::Event(TxnEvent::Response { id, msg: trying, retransmission: false })]
        );
        assert_eq!(layer.state(id), Some(TxnState::Proceeding));
        // E keeps its Trying schedule (3.5 s), then resets to T2 each time it fires.
        assert_eq!(layer.armed_timers(id), vec![(Timer::E, ms(t0, 3_500)), (Timer::F, ms(t0, 32_000))]);
        let log = run_until(&mut layer, t0, 120_000);
        assert_eq!(transmit_times(&log), vec![3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]);
        assert_eq!(timed_events(&log), vec![(32_000, TxnEvent::Timeout { id }), (32_000, TxnEvent::Terminated { id })]);
    }

    #[test]
    fn after_a_provisional_response_in_trying_e_resets_to_t2_even_early_in_the_backoff() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let msg = request(Method::MESSAGE, "z9hG4bKe4");
        layer.send_request(t0, msg.clone(), udp());
        drain(&mut layer);
        layer.receive(ms(t0, 100), response(&msg, 100, "Trying"), udp());
        drain(&mut layer);
        let log = run_until(&mut layer, t0, 13_000);
        assert_eq!(transmit_times(&log), vec![500, 4_500, 8_500, 12_500]);
    }

    #[test]
    fn non_invite_completed_absorbs_retransmissions_until_timer_k() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let msg = request(Method::MESSAGE, "z9hG4bKk1");
        let id = layer.send_request(t0, msg.clone(), udp());
        drain(&mut layer);
        let ok = response(&msg, 200, "OK");
        layer.receive(ms(t0, 300), ok.clone(), udp());
        assert_eq!(
            drain(&mut layer),
            vec![Output::Event(TxnEvent::Response { id, msg: ok.clone(), retransmission: false })]
        );
        assert_eq!(layer.state(id), Some(TxnState::Completed));
        assert_eq!(layer.armed_timers(id), vec![(Timer::K, ms(t0, 5_300))]);

        layer.receive(ms(t0, 800), ok.clone(), udp());
        assert_eq!(drain(&mut layer), vec![]);
        layer.handle_timeout(ms(t0, 5_299));
        assert_eq!(drain(&mut layer), vec![]);
        assert_eq!(layer.state(id), Some(TxnState::Completed));
        layer.handle_timeout(ms(t0, 5_300));
        assert_eq!(drain(&mut layer), vec![Output::Event(TxnEvent::Terminated { id })]);
        assert!(layer.is_empty());

        // After Terminated a late copy matches nothing.
        layer.receive(ms(t0, 6_000), ok.clone(), udp());
        assert_eq!(drain(&mut layer), vec![Output::Event(TxnEvent::Stray { msg: ok, peer: udp() })]);
    }

    #[test]
    fn non_invite_final_response_over_reliable_transport_terminates_at_once() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let msg = request(Method::MESSAGE, "z9hG4bKk2");
        let id = layer.send_request(t0, msg.clone(), tcp());
        drain(&mut layer);
        let rejected = response(&msg, 403, "Forbidden");
        layer.receive(ms(t0, 300), rejected.clone(), tcp());
        assert_eq!(
            drain(&mut layer),
            vec![
                Output::Event(TxnEvent::Response { id, msg: rejected, retransmission: false }),
                Output::Event(TxnEvent::Terminated { id }),
            ]
        );
        assert!(layer.is_empty());
    }
}
