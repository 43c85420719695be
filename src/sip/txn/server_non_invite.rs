//! The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).

use std::collections::VecDeque;
use std::time::Instant;

use super::{Output, Peer, Timer, TimerConfig, TimerTable, TxnError, TxnId, TxnState, transmit};
use crate::sip::wire::Message;

#[derive(Debug)]
pub(crate) struct ServerNonInvite {
    id: TxnId,
    pub(crate) peer: Peer,
    pub(crate) state: TxnState,
    pub(crate) timers: TimerTable,
    config: TimerConfig,
    /// The most recent response the TU sent: re-sent for request retransmissions.
    last_response: Option<Message>,
}

impl ServerNonInvite {
    /// A transaction in Trying.
    pub(crate) fn new(id: TxnId, peer: Peer, config: TimerConfig) -> Self {
        Self { id, peer, state: TxnState::Trying, timers: TimerTable::default(), config, last_response: None }
    }

    /// A retransmission of the request: discarded in Trying, answered with the last response in
    /// Proceeding and Completed.
    pub(crate) fn on_request(&mut self, req: &Message, out: &mut VecDeque<Output>) {
        match (&self.last_response, self.state) {
            (Some(resp), TxnState::Proceeding | TxnState::Completed) => transmit(out, self.peer, resp),
            _ => tracing::debug!(id = %self.id, summary = %req.summary(), state = ?self.state, "request absorbed"),
        }
    }

    pub(crate) fn respond(&mut self, now: Instant, resp: Message, out: &mut VecDeque<Output>) -> Result<(), TxnError> {
        if !matches!(self.state, TxnState::Trying | TxnState::Proceeding) {
            return Err(TxnError::AlreadyCompleted(self.id));
        }
        let provisional = resp.status().is_some_and(|c| c < 200);
        transmit(out, self.peer, &resp);
        self.last_response = Some(resp);
        if provisional {
            self.state = TxnState::Proceeding;
        } else if self.peer.reliable {
            self.state = TxnState::Terminated;
        } else {
            self.state = TxnState::Completed;
            self.timers.set(Timer::J, now + self.config.timeout());
        }
        Ok(())
    }

    pub(crate) fn on_timer(&mut self, timer: Timer, _at: Instant, _out: &mut VecDeque<Output>) {
        self.timers.cancel(timer);
        if (timer, self.state) == (Timer::J, TxnState::Completed) {
            self.state = TxnState::Terminated;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::fixtures::*;
    use super::super::{TxnEvent, TxnLayer};
    use super::*;
    use crate::sip::wire::Method;

    fn ms(t0: Instant, x: u64) -> Instant {
        t0 + Duration::from_millis(x)
    }

    fn received(layer: &mut TxnLayer) -> TxnId {
        let evs = events(&drain(layer));
        let [TxnEvent::Request { id, .. }] = evs.as_slice() else {
            panic!("expected one Request event, got {evs:?}");
        };
        *id
    }

    #[test]
    fn server_non_invite_retransmission_re_sends_the_response_until_timer_j() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let msg = request(Method::MESSAGE, "z9hG4bKj1");
        layer.receive(t0, msg.clone(), udp());
        let id = received(&mut layer);
        assert_eq!(layer.state(id), Some(TxnState::Trying));

        // In Trying there is nothing to re-send, and the copy is not passed up.
        layer.receive(ms(t0, 400), msg.clone(), udp());
        assert_eq!(drain(&mut layer), vec![]);

        let ok = response(&msg, 200, "OK");
        layer.respond(ms(t0, 1_000), id, ok.clone()).unwrap();
        assert_eq!(drain(&mut layer), vec![Output::Transmit { peer: udp(), msg: ok.clone() }]);
        assert_eq!(layer.state(id), Some(TxnState::Completed));
        assert_eq!(layer.armed_timers(id), vec![(Timer::J, ms(t0, 33_000))]);

        layer.receive(ms(t0, 1_500), msg.clone(), udp());
        assert_eq!(drain(&mut layer), vec![Output::Transmit { peer: udp(), msg: ok.clone() }]);
        assert_eq!(layer.respond(ms(t0, 1_600), id, ok), Err(TxnError::AlreadyCompleted(id)));

        let log = run_until(&mut layer, t0, 120_000);
        assert_eq!(log, vec![(33_000, Output::Event(TxnEvent::Terminated { id }))]);
        assert!(layer.is_empty());

        // After Timer J the same request is new again.
        layer.receive(ms(t0, 40_000), msg, udp());
        assert_ne!(received(&mut layer), id);
    }

    #[test]
    fn server_non_invite_re_sends_the_provisional_response_in_proceeding() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let msg = request(Method::SUBSCRIBE, "z9hG4bKj2");
        layer.receive(t0, msg.clone(), udp());
        let id = received(&mut layer);
        let trying = response(&msg, 100, "Trying");
        layer.respond(t0, id, trying.clone()).unwrap();
        drain(&mut layer);
        assert_eq!(layer.state(id), Some(TxnState::Proceeding));
        assert_eq!(layer.armed_timers(id), vec![]);
        layer.receive(ms(t0, 500), msg, udp());
        assert_eq!(drain(&mut layer), vec![Output::Transmit { peer: udp(), msg: trying }]);
    }

    #[test]
    fn server_non_invite_over_reliable_transport_terminates_on_the_final_response() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let msg = request(Method::OPTIONS, "z9hG4bKj3");
        layer.receive(t0, msg.clone(), tcp());
        let id = received(&mut layer);
        let ok = response(&msg, 200, "OK");
        layer.respond(t0, id, ok.clone()).unwrap();
        assert_eq!(
            drain(&mut layer),
            vec![Output::Transmit { peer: tcp(), msg: ok }, Output::Event(TxnEvent::Terminated { id })]
        );
        assert!(layer.is_empty());
    }
}
