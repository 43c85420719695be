//! The INVITE client transaction (RFC 3261 §17.1.1, Figure 5).

use std::collections::{HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use super::{Output, Peer, Timer, TimerConfig, TimerTable, TxnEvent, TxnId, TxnState, event, transmit};
use crate::sip::wire::{Message, MessageBuilder, Method};

/// Timer D on unreliable transports: "at least 32 seconds" (§17.1.1.2).
const TIMER_D: Duration = Duration::from_secs(32);

#[derive(Debug)]
pub(crate) struct ClientInvite {
    id: TxnId,
    pub(crate) peer: Peer,
    pub(crate) state: TxnState,
    pub(crate) timers: TimerTable,
    request: Message,
    /// The current Timer A interval.
    a_interval: Duration,
    /// The ACK sent for the final non-2xx response, re-sent for each retransmission of it.
    ack: Option<Message>,
    /// Hashes of the provisional responses passed up, to flag retransmissions.
    provisionals: HashSet<u64>,
}

impl ClientInvite {
    /// Sends the INVITE and enters Calling: Timer A (unreliable only) at T1, Timer B at 64*T1.
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
            timers.set(Timer::A, now + config.t1);
        }
        timers.set(Timer::B, now + config.timeout());
        Self {
            id,
            peer,
            state: TxnState::Calling,
            timers,
            request,
            a_interval: config.t1,
            ack: None,
            provisionals: HashSet::new(),
        }
    }

    pub(crate) fn on_response(&mut self, now: Instant, resp: Message, out: &mut VecDeque<Output>) {
        let Some(code) = resp.status() else {
            return;
        };
        match (self.state, code) {
            (TxnState::Calling | TxnState::Proceeding, 100..=199) => {
                // Figure 5: Proceeding stops retransmissions, and Timer B only runs in Calling.
                self.state = TxnState::Proceeding;
                self.timers.cancel(Timer::A);
                self.timers.cancel(Timer::B);
                let retransmission = !self.provisionals.insert(digest(&resp));
                event(out, TxnEvent::Response { id: self.id, msg: resp, retransmission });
            }
            (TxnState::Calling | TxnState::Proceeding, 200..=299) => {
                event(out, TxnEvent::Response { id: self.id, msg: resp, retransmission: false });
                self.terminate();
            }
            (TxnState::Calling | TxnState::Proceeding, _) => {
                let ack = ack_for(&self.request, &resp);
                transmit(out, self.peer, &ack);
                self.ack = Some(ack);
                event(out, TxnEvent::Response { id: self.id, msg: resp, retransmission: false });
                self.timers.clear();
                if self.peer.reliable {
                    self.terminate();
                } else {
                    self.state = TxnState::Completed;
                    self.timers.set(Timer::D, now + TIMER_D);
                }
            }
            (TxnState::Completed, 300..=699) => {
                // §17.1.1.2: a retransmitted final response is absorbed; the ACK goes again.
                if let Some(ack) = &self.ack {
                    transmit(out, self.peer, ack);
                }
            }
            _ => tracing::debug!(id = %self.id, summary = %resp.summary(), state = ?self.state, "response absorbed"),
        }
    }

    pub(crate) fn on_timer(&mut self, timer: Timer, at: Instant, out: &mut VecDeque<Output>) {
        self.timers.cancel(timer);
        match (timer, self.state) {
            (Timer::A, TxnState::Calling) => {
                transmit(out, self.peer, &self.request);
                self.a_interval *= 2;
                self.timers.set(Timer::A, at + self.a_interval);
            }
            (Timer::B, TxnState::Calling) => {
                event(out, TxnEvent::Timeout { id: self.id });
                self.terminate();
            }
            (Timer::D, TxnState::Completed) => self.terminate(),
            _ => {}
        }
    }

    /// §17.1.4: waiting for a final response, the failure is reported as a timeout; after one,
    /// the transaction just ends.
    pub(crate) fn on_transport_error(&mut self, out: &mut VecDeque<Output>) {
        if matches!(self.state, TxnState::Calling | TxnState::Proceeding) {
            event(out, TxnEvent::Timeout { id: self.id });
        }
        self.terminate();
    }

    fn terminate(&mut self) {
        self.state = TxnState::Terminated;
        self.timers.clear();
    }
}

/// A response's bytes, hashed, to recognise a byte-identical retransmission.
pub(crate) fn digest(msg: &Message) -> u64 {
    let mut h = DefaultHasher::new();
    msg.as_bytes().hash(&mut h);
    h.finish()
}

/// The ACK for a non-2xx final response (§17.1.1.3): the request's Request-URI, top Via
/// (only), Route headers, Max-Forwards, From and Call-ID, the response's To (with its tag), and
/// the request's CSeq number with method ACK. Values are copied as written.
pub(crate) fn ack_for(request: &Message, response: &Message) -> Message {
    let uri = request.request_uri().unwrap_or_default();
    let mut b = MessageBuilder::request(Method::ACK, uri);
    if let Some(via) = request.list("Via").into_iter().next() {
        b = b.header("Via", via);
    }
    for route in request.values("Route") {
        b = b.header("Route", route);
    }
    let seq = request.cseq().map(|c| c.seq).unwrap_or_default();
    b.header("Max-Forwards", request.value("Max-Forwards").as_deref().unwrap_or("70"))
        .header_opt("From", request.value("From"))
        .header_opt("To", response.value("To"))
        .header_opt("Call-ID", request.value("Call-ID"))
        .header("CSeq", format!("{seq} ACK"))
        .build()
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::{Output, TxnLayer};
    use super::*;

    fn ms(t0: Instant, x: u64) -> Instant {
        t0 + Duration::from_millis(x)
    }

    #[test]
    fn client_invite_retransmits_with_timer_a_doubling_until_timer_b() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let invite = request(Method::INVITE, "z9hG4bKa1");
        let id = layer.send_request(t0, invite.clone(), udp());
        assert_eq!(drain(&mut layer), vec![Output::Transmit { peer: udp(), msg: invite.clone() }]);
        assert_eq!(layer.armed_timers(id), vec![(Timer::A, ms(t0, 500)), (Timer::B, ms(t0, 32_000))]);
        assert_eq!(layer.poll_timeout(), Some(ms(t0, 500)));

        // Step timer by timer, checking each re-arm of A exactly.
        let mut sent = vec![0];
        for (fire, next_a) in [(500, 1_500), (1_500, 3_500), (3_500, 7_500), (7_500, 15_500), (15_500, 31_500)] {
            assert_eq!(layer.poll_timeout(), Some(ms(t0, fire)));
            layer.handle_timeout(ms(t0, fire));
            let outs = drain(&mut layer);
            assert_eq!(outs, vec![Output::Transmit { peer: udp(), msg: invite.clone() }]);
            sent.push(fire);
            assert_eq!(layer.armed_timers(id), vec![(Timer::A, ms(t0, next_a)), (Timer::B, ms(t0, 32_000))]);
        }
        let log = run_until(&mut layer, t0, 120_000);
        sent.extend(transmit_times(&log));
        assert_eq!(sent, vec![0, 500, 1_500, 3_500, 7_500, 15_500, 31_500]);
        assert_eq!(timed_events(&log), vec![(32_000, TxnEvent::Timeout { id }), (32_000, TxnEvent::Terminated { id })]);
        assert!(layer.is_empty());
        assert_eq!(layer.poll_timeout(), None);
        layer.handle_timeout(ms(t0, 200_000));
        assert_eq!(drain(&mut layer), vec![]);
    }

    #[test]
    fn client_invite_over_reliable_transport_sends_once_and_times_out_at_timer_b() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let invite = request(Method::INVITE, "z9hG4bKr1");
        let id = layer.send_request(t0, invite.clone(), tcp());
        assert_eq!(drain(&mut layer), vec![Output::Transmit { peer: tcp(), msg: invite }]);
        assert_eq!(layer.armed_timers(id), vec![(Timer::B, ms(t0, 32_000))]);
        let log = run_until(&mut layer, t0, 120_000);
        assert_eq!(transmit_times(&log), Vec::<u64>::new());
        assert_eq!(timed_events(&log), vec![(32_000, TxnEvent::Timeout { id }), (32_000, TxnEvent::Terminated { id })]);
        assert!(layer.is_empty());
    }

    #[test]
    fn late_handle_timeout_keeps_the_rfc_schedule_and_ends_at_timer_b() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let id = layer.send_request(t0, request(Method::INVITE, "z9hG4bKlate"), udp());
        drain(&mut layer);
        // One call, 40 s late: every retransmission still happens, then Timer B.
        layer.handle_timeout(ms(t0, 40_000));
        let outs = drain(&mut layer);
        assert_eq!(transmitted(&outs).len(), 6);
        assert_eq!(events(&outs), vec![TxnEvent::Timeout { id }, TxnEvent::Terminated { id }]);
    }

    #[test]
    fn provisional_response_stops_timer_a_and_timer_b() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let invite = request(Method::INVITE, "z9hG4bKp1");
        let id = layer.send_request(t0, invite.clone(), udp());
        drain(&mut layer);
        layer.handle_timeout(ms(t0, 500));
        drain(&mut layer);
        let ringing = response(&invite, 180, "Ringing");
        layer.receive(ms(t0, 700), ringing.clone(), udp());
        assert_eq!(
            drain(&mut layer),
            vec![Output::Event(TxnEvent::Response { id, msg: ringing.clone(), retransmission: false })]
        );
        assert_eq!(layer.state(id), Some(TxnState::Proceeding));
        assert_eq!(layer.armed_timers(id), vec![]);
        layer.receive(ms(t0, 800), ringing.clone(), udp());
        assert_eq!(
            drain(&mut layer),
            vec![Output::Event(TxnEvent::Response { id, msg: ringing, retransmission: true })]
        );
        assert_eq!(run_until(&mut layer, t0, 120_000), vec![]);
        assert_eq!(layer.state(id), Some(TxnState::Proceeding));
    }

    #[test]
    fn success_response_is_passed_up_and_ends_the_transaction() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let invite = request(Method::INVITE, "z9hG4bKok");
        let id = layer.send_request(t0, invite.clone(), udp());
        drain(&mut layer);
        let ok = response(&invite, 200, "OK");
        layer.receive(ms(t0, 100), ok.clone(), udp());
        assert_eq!(
            drain(&mut layer),
            vec![
                Output::Event(TxnEvent::Response { id, msg: ok.clone(), retransmission: false }),
                Output::Event(TxnEvent::Terminated { id }),
            ]
        );
        // The 2xx retransmission finds no transaction: the dialog layer re-ACKs it.
        layer.receive(ms(t0, 600), ok.clone(), udp());
        assert_eq!(drain(&mut layer), vec![Output::Event(TxnEvent::Stray { msg: ok, peer: udp() })]);
    }

    #[test]
    fn non_2xx_final_response_is_acked_by_the_layer_and_retransmissions_re_ack() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let invite = request(Method::INVITE, "z9hG4bKbusy");
        let id = layer.send_request(t0, invite.clone(), udp());
        drain(&mut layer);
        let busy = response(&invite, 486, "Busy Here");
        layer.receive(ms(t0, 200), busy.clone(), udp());
        let outs = drain(&mut layer);
        assert_eq!(events(&outs), vec![TxnEvent::Response { id, msg: busy.clone(), retransmission: false }]);
        let acks = transmitted(&outs);
        assert_eq!(acks.len(), 1);
        let expected = "ACK sip:bob@fabrikam.com SIP/2.0\r\n\
            Via: SIP/2.0/UDP edge.contoso.com:5060;branch=z9hG4bKbusy\r\n\
            Route: <sip:proxy1.fabrikam.com;lr>\r\n\
            Route: <sip:proxy2.fabrikam.com;lr>\r\n\
            Max-Forwards: 70\r\n\
            From: \"Alice\" <sip:alice@contoso.com>;tag=a1;epid=01020304\r\n\
            To: <sip:bob@fabrikam.com>;tag=b9\r\n\
            Call-ID: call-1@contoso.com\r\n\
            CSeq: 7 ACK\r\n\
            Content-Length: 0\r\n\r\n";
        assert_eq!(String::from_utf8_lossy(acks[0].as_bytes()), expected);
        assert_eq!(layer.state(id), Some(TxnState::Completed));
        assert_eq!(layer.armed_timers(id), vec![(Timer::D, ms(t0, 32_200))]);

        layer.receive(ms(t0, 1_000), busy.clone(), udp());
        assert_eq!(drain(&mut layer), vec![Output::Transmit { peer: udp(), msg: acks[0].clone() }]);

        let log = run_until(&mut layer, t0, 120_000);
        assert_eq!(timed_events(&log), vec![(32_200, TxnEvent::Terminated { id })]);
        assert!(layer.is_empty());
    }

    #[test]
    fn non_2xx_final_response_over_reliable_transport_terminates_at_once() {
        let t0 = Instant::now();
        let mut layer = TxnLayer::new(TimerConfig::default());
        let invite = request(Method::INVITE, "z9hG4bKdecline");
        let id = layer.send_request(t0, invite.clone(), tcp());
        drain(&mut layer);
        let decline = response(&invite, 603, "Decline");
        layer.receive(ms(t0, 50), decline.clone(), tcp());
        let outs = drain(&mut layer);
        assert_eq!(transmitted(&outs).iter().map(|m| m.method().cloned()).collect::<Vec<_>>(), vec![Some(Method::ACK)]);
        assert_eq!(
            events(&outs),
            vec![TxnEvent::Response { id, msg: decline, retransmission: false }, TxnEvent::Terminated { id }]
        );
        assert!(layer.is_empty());
    }
}
