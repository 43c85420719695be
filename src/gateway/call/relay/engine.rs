//! The relay's sans-IO core: datagrams in (with their arrival time and the wall clock as NTP),
//! datagrams out, no sockets, no clock reads. The shell (`relay.rs`) feeds it and sends what
//! [`Engine::poll_transmit`] returns (drain rule: after each [`Engine::handle`], drain to `None`).
//!
//! Per packet (flows.md "RTP relay", PROTOCOL.md §3.1, §3.3; reqs 20, 22, 23, 32):
//! - Lync leg: first-byte demux (RFC 7983); STUN Binding requests answered as an ICE-lite
//!   agent (USERNAME `<gw ufrag>:<Lync ufrag>`, MESSAGE-INTEGRITY with the gateway's password,
//!   XOR-MAPPED-ADDRESS, FINGERPRINT), a request with USE-CANDIDATE sets where that component
//!   sends; SRTP/SRTCP unprotected with Lync's key, protected with the gateway's own.
//! - RTP: payload type renumbered for the receiving leg (the codec's number, telephone-event's
//!   number), SSRC replaced by the gateway's SSRC for that leg (towards Lync: its declared
//!   range), sequence number, timestamp and marker kept; unknown payload types and SSRCs
//!   outside Lync's declared range dropped.
//! - RTCP is terminated per leg: an SR arriving on one leg is answered there with RR + SDES
//!   reporting on its sender, and the gateway sends its own SR + SDES on the other leg for the
//!   stream it relays there.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::RelayConfig;
use crate::gateway::Defect;
use crate::gateway::call::codec::LegPayload;
use crate::media::demux::{PacketKind, classify};
use crate::media::rtcp::{self, ReportBlock, Rtcp, SdesCname, SenderInfo, SenderReport};
use crate::media::rtp::{self, Ssrc};
use crate::media::srtp::{MasterKey, SrtpSession};
use crate::media::stats::{ReceiveStats, StreamConfig};
use crate::media::stun::{BindingErrorCode, IcePassword, StunClass, StunMessage, StunMethod};

/// One of the call's four sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(in crate::gateway) enum Port {
    LyncRtp,
    LyncRtcp,
    ConsumerRtp,
    ConsumerRtcp,
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::gateway) struct Transmit {
    /// The socket to send it from.
    pub from: Port,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

/// One received datagram.
#[derive(Debug, Clone, Copy)]
pub(in crate::gateway) struct Input<'a> {
    pub at: Instant,
    /// The wall clock at `at` as a 64-bit NTP timestamp (RFC 3550 §4), for SRs.
    pub ntp: u64,
    pub port: Port,
    pub from: SocketAddr,
    pub bytes: &'a [u8],
}

/// Why a relay cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(in crate::gateway) enum EngineError {
    #[error("bad SRTP key: {0}")]
    Key(String),
    #[error("bad ICE password: {0}")]
    Password(String),
}

/// What the gateway sent on one leg, for its SRs.
#[derive(Debug, Clone, Copy, Default)]
struct Sent {
    packets: u32,
    octets: u32,
    last_timestamp: u32,
}

/// The side a packet came from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Lync,
    Consumer,
}

/// The relay of one call.
#[derive(Debug)]
pub(in crate::gateway) struct Engine {
    cfg: RelayConfig,
    pwd: IcePassword,
    srtp: SrtpSession,
    /// Where Lync's RTP and RTCP go: the SDP's candidates until a nomination.
    lync_dst: [SocketAddr; 2],
    epoch: Option<Instant>,
    from_lync: ReceiveStats,
    from_consumer: ReceiveStats,
    to_lync: Sent,
    to_consumer: Sent,
    out: VecDeque<Transmit>,
}

fn stream(pay: LegPayload, range: Option<crate::sdp::SsrcRange>) -> StreamConfig {
    let (_, clock) = pay.codec.rtpmap(crate::gateway::Leg::Consumer);
    StreamConfig {
        clock_rate: clock,
        samples_per_packet: None,
        dtmf_pt: pay.te,
        ssrc_range: range.map(|r| rtp::SsrcRange { first: r.first, last: r.last }),
    }
}

/// The receiving leg's number for a packet's payload type, `None` for one not negotiated.
fn map_pt(pt: u8, from: LegPayload, to: LegPayload) -> Option<u8> {
    if pt == from.pt {
        return Some(to.pt);
    }
    from.te.filter(|te| *te == pt).and(to.te)
}

impl Engine {
    pub(in crate::gateway) fn new(cfg: RelayConfig) -> Result<Self, EngineError> {
        let key =
            |b64: &str| MasterKey::from_inline(&format!("inline:{b64}")).map_err(|e| EngineError::Key(e.to_string()));
        let srtp = SrtpSession::new(&key(&cfg.lync.local_key)?, &key(&cfg.lync.remote_key)?)
            .map_err(|e| EngineError::Key(e.to_string()))?;
        let pwd = IcePassword::new(&cfg.lync.pwd).map_err(|e| EngineError::Password(e.to_string()))?;
        Ok(Self {
            lync_dst: [cfg.lync.rtp, cfg.lync.rtcp],
            from_lync: ReceiveStats::new(stream(cfg.lync.pay, cfg.lync.remote_range)),
            from_consumer: ReceiveStats::new(stream(cfg.consumer.pay, None)),
            cfg,
            pwd,
            srtp,
            epoch: None,
            to_lync: Sent::default(),
            to_consumer: Sent::default(),
            out: VecDeque::new(),
        })
    }

    /// The next datagram to send.
    pub(in crate::gateway) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// Where Lync's component (1 RTP, 2 RTCP) is sent to now.
    #[cfg(test)]
    pub(in crate::gateway) fn lync_destination(&self, component: u16) -> SocketAddr {
        self.lync_dst[usize::from(component == 2)]
    }

    /// Takes one received datagram. Anything that does not parse, authenticate or map is
    /// dropped (logged at debug): the wire never panics the relay.
    pub(in crate::gateway) fn handle(&mut self, input: Input<'_>) {
        let since = input.at.saturating_duration_since(*self.epoch.get_or_insert(input.at));
        match (input.port, classify(input.bytes)) {
            (Port::LyncRtp | Port::LyncRtcp, PacketKind::Stun) => self.stun(input),
            (Port::LyncRtp, PacketKind::Rtp) => match self.srtp.unprotect_rtp(input.bytes) {
                Ok(plain) => self.rtp(Side::Lync, plain, since),
                Err(e) => tracing::debug!("SRTP from Lync dropped: {e}"),
            },
            (Port::LyncRtp | Port::LyncRtcp, PacketKind::Rtcp) => match self.srtp.unprotect_rtcp(input.bytes) {
                Ok(plain) => self.rtcp(Side::Lync, &plain, since, input.ntp),
                Err(e) => tracing::debug!("SRTCP from Lync dropped: {e}"),
            },
            (Port::ConsumerRtp, PacketKind::Rtp) => self.rtp(Side::Consumer, input.bytes.to_vec(), since),
            (Port::ConsumerRtp | Port::ConsumerRtcp, PacketKind::Rtcp) => {
                self.rtcp(Side::Consumer, input.bytes, since, input.ntp);
            }
            (port, kind) => tracing::debug!(?port, ?kind, "datagram dropped"),
        }
    }

    /// An ICE-lite answer to a Binding request (RFC 5245 §7.2, MS-ICE2).
    fn stun(&mut self, input: Input<'_>) {
        let Ok(msg) = StunMessage::parse(input.bytes) else { return };
        if msg.class != StunClass::Request || msg.method != StunMethod::Binding {
            return;
        }
        let expected = self.cfg.lync.remote_ufrag.as_ref().map(|r| format!("{}:{r}", self.cfg.lync.ufrag));
        let user_ok = match (&msg.username, &expected) {
            (Some(u), Some(e)) => u == e,
            (Some(u), None) => u.split_once(':').is_some_and(|(ours, _)| ours == self.cfg.lync.ufrag),
            (None, _) => false,
        };
        let reply = if user_ok && msg.verify(&self.pwd).is_ok() {
            if msg.use_candidate {
                self.lync_dst[usize::from(input.port == Port::LyncRtcp)] = input.from;
            }
            msg.binding_success(input.from, &self.pwd)
        } else {
            // RFC 5389 §10.1.2: a wrong USERNAME or MESSAGE-INTEGRITY is 401, unsigned.
            msg.binding_error(BindingErrorCode::Unauthorized, None)
        };
        match reply {
            Ok(bytes) => self.out.push_back(Transmit { from: input.port, to: input.from, bytes }),
            Err(e) => tracing::debug!("STUN answer not built: {e}"),
        }
    }

    /// Relays one RTP packet (already decrypted when from Lync) to the other leg.
    fn rtp(&mut self, from: Side, mut packet: Vec<u8>, since: Duration) {
        let Ok((header, payload)) = rtp::parse(&packet) else { return };
        let (lync, consumer) = (self.cfg.lync.pay, self.cfg.consumer.pay);
        let (pt, ssrc) = match from {
            Side::Lync => {
                if self.cfg.lync.remote_range.is_some_and(|r| !r.contains(header.ssrc.0)) {
                    return;
                }
                (map_pt(header.pt, lync, consumer), self.cfg.consumer.ssrc)
            }
            Side::Consumer => (map_pt(header.pt, consumer, lync), self.cfg.lync.ssrc),
        };
        let Some(mut pt) = pt else {
            tracing::debug!(pt = header.pt, ?from, "RTP with a payload type not negotiated: dropped");
            return;
        };
        let defects = &self.cfg.defects;
        let te = if from == Side::Lync { lync.te } else { consumer.te };
        if defects.has(Defect::DtmfDropped) && te == Some(header.pt) {
            return;
        }
        if defects.has(Defect::PtPassthrough) {
            pt = header.pt;
        }
        let mut ssrc = ssrc;
        if defects.has(Defect::SsrcChangedMidCall) && from == Side::Lync && self.to_consumer.packets >= 10 {
            ssrc = ssrc.wrapping_add(1).max(1);
        }
        let stats = if from == Side::Lync { &mut self.from_lync } else { &mut self.from_consumer };
        stats.on_packet(&header, payload.len(), since);
        if rtp::set_pt(&mut packet, pt).is_err() || rtp::set_ssrc(&mut packet, Ssrc(ssrc)).is_err() {
            return;
        }
        let sent = if from == Side::Lync { &mut self.to_consumer } else { &mut self.to_lync };
        sent.packets = sent.packets.wrapping_add(1);
        sent.octets = sent.octets.wrapping_add(payload.len() as u32);
        sent.last_timestamp = header.timestamp;
        match from {
            Side::Lync => {
                self.out.push_back(Transmit { from: Port::ConsumerRtp, to: self.cfg.consumer.rtp, bytes: packet });
            }
            Side::Consumer => match self.srtp.protect_rtp(&packet) {
                Ok(bytes) => self.out.push_back(Transmit { from: Port::LyncRtp, to: self.lync_dst[0], bytes }),
                Err(e) => tracing::debug!("SRTP protect failed: {e}"),
            },
        }
    }

    /// Terminates RTCP from one leg: only an SR draws an answer.
    fn rtcp(&mut self, from: Side, packet: &[u8], since: Duration, ntp: u64) {
        let Ok(compound) = rtcp::parse(packet) else { return };
        let Some(sr) = compound.packets.iter().find_map(|p| match p {
            Rtcp::Sr(sr) => Some(sr),
            _ => None,
        }) else {
            return;
        };
        let cname = self.cfg.cname.clone();
        let sdes = |ssrc: u32| Rtcp::Sdes(vec![SdesCname { ssrc: Ssrc(ssrc), cname: Some(cname.clone()) }]);
        let (stats, here_ssrc, there_ssrc, sent) = match from {
            Side::Lync => (&mut self.from_lync, self.cfg.lync.ssrc, self.cfg.consumer.ssrc, self.to_consumer),
            Side::Consumer => (&mut self.from_consumer, self.cfg.consumer.ssrc, self.cfg.lync.ssrc, self.to_lync),
        };
        stats.on_sender_report(sr.info.ntp, since);
        // Before any RTP the block still names the SR's sender, with its LSR and no loss.
        let block = stats.report_block(since).unwrap_or(ReportBlock {
            ssrc: sr.ssrc,
            lsr: rtcp::ntp_middle32(sr.info.ntp),
            ..ReportBlock::default()
        });
        let rr = rtcp::ReceiverReport { ssrc: Ssrc(here_ssrc), blocks: vec![block], extensions: Vec::new() };
        let info = SenderInfo { ntp, rtp_timestamp: sent.last_timestamp, packets: sent.packets, octets: sent.octets };
        let own = SenderReport { ssrc: Ssrc(there_ssrc), info, blocks: Vec::new(), extensions: Vec::new() };
        let answer = rtcp::build(&[Rtcp::Rr(rr), sdes(here_ssrc)]);
        let report = rtcp::build(&[Rtcp::Sr(own), sdes(there_ssrc)]);
        let (Ok(answer), Ok(report)) = (answer, report) else { return };
        let (to_here, to_there) = match from {
            Side::Lync => (self.srtp.protect_rtcp(&answer), Ok(report)),
            Side::Consumer => (Ok(answer), self.srtp.protect_rtcp(&report)),
        };
        let (here, there) = match from {
            Side::Lync => ((Port::LyncRtcp, self.lync_dst[1]), (Port::ConsumerRtcp, self.cfg.consumer.rtcp)),
            Side::Consumer => ((Port::ConsumerRtcp, self.cfg.consumer.rtcp), (Port::LyncRtcp, self.lync_dst[1])),
        };
        if let Ok(bytes) = to_here {
            self.out.push_back(Transmit { from: here.0, to: here.1, bytes });
        }
        if let Ok(bytes) = to_there {
            self.out.push_back(Transmit { from: there.0, to: there.1, bytes });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::call::codec::AudioCodec;
    use crate::gateway::call::relay::{ConsumerSide, LyncSide};
    use crate::media::rtp::RtpHeader;
    use crate::media::stun::{BindingRequest, IceRole, IceUfrag, TransactionId};
    use crate::sdp::SsrcRange;

    const GW_KEY: &str = "R1dHV0dXR1dHV0dXR1dHV0dXR1dHV0dXR1dHV0dX";
    const LYNC_KEY: &str = "TFlMWUxZTFlMWUxZTFlMWUxZTFlMWUxZTFlMWUxZ";
    const PWD: &str = "gatewaypasswordgateway00";

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn engine() -> Engine {
        let pay = |pt, te| LegPayload { codec: AudioCodec::SilkWb, pt, te: Some(te) };
        Engine::new(RelayConfig {
            lync: LyncSide {
                pay: pay(110, 97),
                local_key: GW_KEY.into(),
                remote_key: LYNC_KEY.into(),
                ssrc: 42,
                remote_range: Some(SsrcRange { first: 100, last: 100 }),
                ufrag: "GwUf".into(),
                pwd: PWD.into(),
                remote_ufrag: Some("LyUf".into()),
                rtp: addr(5000),
                rtcp: addr(5001),
            },
            consumer: ConsumerSide { pay: pay(104, 101), ssrc: 77, rtp: addr(6000), rtcp: addr(6001) },
            cname: "gw@test".into(),
            defects: crate::gateway::Defects::default(),
        })
        .unwrap()
    }

    fn lync_session() -> SrtpSession {
        let k = |b64: &str| MasterKey::from_inline(&format!("inline:{b64}")).unwrap();
        SrtpSession::new(&k(LYNC_KEY), &k(GW_KEY)).unwrap()
    }

    fn input(port: Port, from: SocketAddr, bytes: &[u8]) -> Input<'_> {
        Input { at: Instant::now(), ntp: 1 << 32, port, from, bytes }
    }

    /// SRTP refuses replays (RFC 3711 §3.3.2): every packet has its own `seq`.
    fn rtp_packet(pt: u8, ssrc: u32, seq: u16) -> Vec<u8> {
        let h = RtpHeader { pt, seq, timestamp: 320, ssrc: Ssrc(ssrc), marker: true, ..RtpHeader::default() };
        rtp::build(&h, &[1, 2, 3, 4]).unwrap()
    }

    #[test]
    fn consumer_rtp_goes_to_lync_renumbered_under_the_gateways_key_and_ssrc() {
        let mut e = engine();
        e.handle(input(Port::ConsumerRtp, addr(6000), &rtp_packet(104, 5, 9)));
        e.handle(input(Port::ConsumerRtp, addr(6000), &rtp_packet(101, 5, 10)));
        let mut lync = lync_session();
        for (want, seq) in [(110, 9), (97, 10)] {
            let t = e.poll_transmit().expect("relayed");
            assert_eq!((t.from, t.to), (Port::LyncRtp, addr(5000)));
            let (h, _) = rtp::parse(&lync.unprotect_rtp(&t.bytes).unwrap()).unwrap();
            assert_eq!((h.pt, h.ssrc, h.seq, h.timestamp, h.marker), (want, Ssrc(42), seq, 320, true));
        }
        assert_eq!(e.poll_transmit(), None);
    }

    #[test]
    fn lync_packets_outside_its_range_or_with_unknown_payload_types_are_dropped() {
        let mut e = engine();
        let mut lync = lync_session();
        for (seq, (pt, ssrc)) in (1..).zip([(110, 101), (0, 100), (110, 100)]) {
            let p = lync.protect_rtp(&rtp_packet(pt, ssrc, seq)).unwrap();
            e.handle(input(Port::LyncRtp, addr(5000), &p));
        }
        let t = e.poll_transmit().expect("only the last one crosses");
        let (h, _) = rtp::parse(&t.bytes).unwrap();
        assert_eq!((t.to, h.pt, h.ssrc), (addr(6000), 104, Ssrc(77)));
        assert_eq!(e.poll_transmit(), None);
    }

    #[test]
    fn a_nominating_check_moves_where_that_component_is_sent() {
        let mut e = engine();
        let check = BindingRequest {
            transaction_id: TransactionId::new([3; 12]),
            remote_ufrag: IceUfrag::new("GwUf").unwrap(),
            local_ufrag: IceUfrag::new("LyUf").unwrap(),
            priority: 1,
            role: IceRole::Controlling { tie_breaker: 1 },
            use_candidate: true,
        }
        .encode(&IcePassword::new(PWD).unwrap())
        .unwrap();
        e.handle(input(Port::LyncRtcp, addr(7001), &check));
        let t = e.poll_transmit().expect("a response");
        assert_eq!((t.from, t.to), (Port::LyncRtcp, addr(7001)));
        assert_eq!((e.lync_destination(1), e.lync_destination(2)), (addr(5000), addr(7001)));
    }
}
