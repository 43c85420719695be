//! The INVITE server transaction (RFC 3261 §17.2.1, Figure 7).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{Output, Peer, Timer, TimerConfig, TimerTable, TxnError, TxnId, TxnState, transmit};
use crate::sip::wire::{Message, Method};

#[derive(Debug)]
pub(crate) struct ServerInvite {
    id: TxnId,
    pub(crate) peer: Peer,
    pub(crate) state: TxnState,
    pub(crate) timers: TimerTable,
    config: TimerConfig,
    /// The most recent response the TU sent: re-sent for INVITE retransmissions (§17.2.1).
    last_response: Option<Message>,
    /// The current Timer G interval.
    g_interval: Duration,
}

impl ServerInvite {
    /// A transaction in Proceeding. No 100 Trying goes out by itself: the TU decides.
    pub(crate) fn new(id: TxnId, peer: Peer, config: TimerConfig) -> Self {
        Self {
            id,
            peer,
            state: TxnState::Proceeding,
            timers: TimerTable::default(),
            config,
            last_response: None,
            g_interval: config.t1,
        }
    }

    /// An INVITE retransmission or the ACK for our non-2xx final response.
    pub(crate) fn on_request(&mut self, now: Instant, req: &Message, out: &mut VecDeque<Output>) {
        let is_ack = req.method() == Some(&Method::ACK);
        match (self.state, is_ack) {
            (TxnState::Proceeding | TxnState::Completed, false) => {
                if let Some(resp) = &self.last_response {
                    transmit(out, self.peer, resp);
                }
            }
            (TxnState::Completed, true) => {
                self.timers.clear();
                if self.peer.reliable {
                    self.state = TxnState::Terminated;
                } else {
                    self.state = TxnState::Confirmed;
                    self.timers.set(Timer::I, now + self.config.t4);
                }
            }
            _ => tracing::debug!(id = %self.id, summary = %req.summary(), state = ?self.state, "request absorbed"),
        }
    }

    pub(crate) fn respond(&mut self, now: Instant, resp: Message, out: &mut VecDeque<Output>) -> Result<(), TxnError> {
        if self.state != TxnState::Proceeding {
            return Err(TxnError::AlreadyCompleted(self.id));
        }
        let code = resp.status().unwrap_or_default();
        transmit(out, self.peer, &resp);
        match code {
            100..=199 => self.last_response = Some(resp),
            200..=299 => {
                // §17.2.1: the TU retransmits the 2xx itself (§13.3.1.4).
                self.state = TxnState::Terminated;
                self.timers.clear();
            }
            _ => {
                self.state = TxnState::Completed;
                self.last_response = Some(resp);
                if !self.peer.reliable {
                    self.timers.set(Timer::G, now + self.g_interval);
                }
                self.timers.set(Timer::H, now + self.config.timeout());
            }
        }
        Ok(())
    }

    pub(crate) fn on_timer(&mut self, timer: Timer, at: Instant, out: &mut VecDeque<Output>) {
        self.timers.cancel(timer);
        match (timer, self.state) {
            (Timer::G, TxnState::Completed) => {
                if let Some(resp) = &self.last_response {
                    transmit(out, self.peer, resp);
                }
                self.g_interval = (self.g_interval * 2).min(self.config.t2);
                self.timers.set(Timer::G, at + self.g_interval);
            }
            (Timer::H, TxnState::Completed) => {
                tracing::debug!(id = %self.id, "Timer H: no ACK for the final response");
                self.state = TxnState::Terminated;
                self.timers.clear();
            }
            (Timer::I, TxnState::Confirmed) => self.state = TxnState::Terminated,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::{TxnEvent, TxnLayer};
    use super::*;

    fn ms(t0: Instant, x: u64) -> Instant {
        t0 + Duration::from_millis(x)
    }

    fn ack_for_busy(invite: &Message) -> Message {
        let busy = response(invite, 486, "Busy Here");
        super::super::client_invite::ack_for(invite, &busy)
    }

    /// A layer with one server INVITE transaction, answered 486 at `t0`.
    fn busy_server(peer: Peer) -> (Instant, TxnLayer, TxnId, Message, Message) {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let invite = request(Method::INVITE, "z9hG4bKsrv");
        layer.receive(t0, invite.clone(), peer);
        let evs = events(&drain(&mut layer));
        let [TxnEvent::Request { id, msg, peer: from }] = evs.as_slice() else {
            panic!("expected one Request event, got {evs:?}");
        };
        assert_eq!((msg, *from), (&invite, peer));
        let id = *id;
        // No automatic 100 Trying.
        assert_eq!(layer.poll_timeout(), None);
        let busy = response(&invite, 486, "Busy Here");
        layer.respond(t0, id, busy.clone()).unwrap();
        assert_eq!(drain(&mut layer), vec![Output::Transmit { peer, msg: busy.clone() }]);
        (t0, layer, id, invite, busy)
    }

    #[test]
    fn server_invite_retransmits_final_response_with_timer_g_until_ack() {
        let (t0, mut layer, id, invite, busy) = busy_server(udp());
        assert_eq!(layer.state(id), Some(TxnState::Completed));
        assert_eq!(layer.unacked_rejections(), 1);
        assert_eq!(layer.armed_timers(id), vec![(Timer::G, ms(t0, 500)), (Timer::H, ms(t0, 32_000))]);
        // Intervals 500, 1000, 2000, 4000, 4000 (T2 cap).
        let log = run_until(&mut layer, t0, 11_500);
        assert_eq!(transmit_times(&log), vec![500, 1_500, 3_500, 7_500, 11_500]);
        assert!(log.iter().all(|(_, o)| *o == Output::Transmit { peer: udp(), msg: busy.clone() }));
        assert_eq!(layer.armed_timers(id), vec![(Timer::G, ms(t0, 15_500)), (Timer::H, ms(t0, 32_000))]);

        // An INVITE retransmission re-sends the 486 and is not passed up.
        layer.receive(ms(t0, 12_000), invite.clone(), udp());
        assert_eq!(drain(&mut layer), vec![Output::Transmit { peer: udp(), msg: busy }]);

        layer.receive(ms(t0, 12_100), ack_for_busy(&invite), udp());
        assert_eq!(drain(&mut layer), vec![]);
        assert_eq!(layer.state(id), Some(TxnState::Confirmed));
        assert_eq!(layer.unacked_rejections(), 0, "an ACKed rejection no longer holds a step boundary");
        assert_eq!(layer.armed_timers(id), vec![(Timer::I, ms(t0, 17_100))]);

        // ACK retransmissions are absorbed in Confirmed; Timer I ends it at T4.
        layer.receive(ms(t0, 13_000), ack_for_busy(&invite), udp());
        assert_eq!(drain(&mut layer), vec![]);
        let log = run_until(&mut layer, t0, 120_000);
        assert_eq!(log, vec![(17_100, Output::Event(TxnEvent::Terminated { id }))]);
        assert!(layer.is_empty());
    }

    #[test]
    fn server_invite_without_ack_terminates_at_timer_h() {
        let (t0, mut layer, id, _, _) = busy_server(udp());
        let log = run_until(&mut layer, t0, 120_000);
        assert_eq!(
            transmit_times(&log),
            vec![500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
        );
        assert_eq!(timed_events(&log), vec![(32_000, TxnEvent::Terminated { id })]);
        assert!(layer.is_empty());
    }

    #[test]
    fn server_invite_over_reliable_transport_has_no_timer_g_and_ack_ends_it_at_once() {
        let (t0, mut layer, id, invite, _) = busy_server(tcp());
        assert_eq!(layer.armed_timers(id), vec![(Timer::H, ms(t0, 32_000))]);
        assert_eq!(layer.unacked_rejections(), 1);
        layer.receive(ms(t0, 100), ack_for_busy(&invite), tcp());
        assert_eq!(drain(&mut layer), vec![Output::Event(TxnEvent::Terminated { id })]);
        assert!(layer.is_empty());
        assert_eq!(layer.unacked_rejections(), 0);
    }

    #[test]
    fn server_invite_retransmission_re_sends_the_last_provisional_and_2xx_ends_it() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let invite = request(Method::INVITE, "z9hG4bKprov");
        layer.receive(t0, invite.clone(), udp());
        let evs = events(&drain(&mut layer));
        let [TxnEvent::Request { id, .. }] = evs.as_slice() else {
            panic!("expected one Request event, got {evs:?}");
        };
        let id = *id;
        // Before any response, a retransmission is absorbed silently.
        layer.receive(ms(t0, 500), invite.clone(), udp());
        assert_eq!(drain(&mut layer), vec![]);
        let ringing = response(&invite, 180, "Ringing");
        layer.respond(ms(t0, 600), id, ringing.clone()).unwrap();
        drain(&mut layer);
        layer.receive(ms(t0, 1_500), invite.clone(), udp());
        assert_eq!(drain(&mut layer), vec![Output::Transmit { peer: udp(), msg: ringing }]);

        let ok = response(&invite, 200, "OK");
        layer.respond(ms(t0, 2_000), id, ok.clone()).unwrap();
        assert_eq!(
            drain(&mut layer),
            vec![Output::Transmit { peer: udp(), msg: ok.clone() }, Output::Event(TxnEvent::Terminated { id })]
        );
        assert_eq!(layer.respond(ms(t0, 2_100), id, ok), Err(TxnError::UnknownTransaction(id)));
    }

    #[test]
    fn server_invite_refuses_a_second_final_response() {
        let (t0, mut layer, id, invite, _) = busy_server(udp());
        let ok = response(&invite, 200, "OK");
        assert_eq!(layer.respond(ms(t0, 10), id, ok), Err(TxnError::AlreadyCompleted(id)));
        assert_eq!(drain(&mut layer), vec![]);
    }
}
