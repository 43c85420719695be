//! The video relay's sans-IO core (PROTOCOL.md §1.7, §2.6 item 8, §3.4; reqs 23–27):
//! datagrams in, datagrams out, no sockets, no clock. The shell (`relay.rs`) feeds it and
//! sends what [`VideoEngine::poll_transmit`] returns (drain after each `handle`).
//!
//! RTP is relayed an access unit at a time: packets are held until the one with the marker
//! (or until a new timestamp shows the marker was lost), then the unit's payloads are turned
//! into the other leg's form and sent with that leg's payload number, the gateway's SSRC for
//! that leg (toward Lync the first of its declared 100-wide range), the gateway's own sequence
//! numbers (the packet count changes) and the same timestamp, the marker on the last packet
//! only (req 24). Toward Lync a PACSI is put in front of every access unit (req 26, MS-H264PF
//! §2.2.4); toward the consumer leg every PACSI is stripped.
//!
//! RTCP feedback is translated, not forwarded: a PLI or FIR from one leg becomes a keyframe
//! request of the same kind on the other, about the stream the gateway receives there; a
//! Video Source Request from Lync (PSFB FMT 15, req 27) is answered by asking the consumer
//! side for a keyframe (a PLI), so the requested stream starts with an IDR.

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::engine::{Port, Transmit};
use crate::gateway::{Defect, Defects};
use crate::media::feedback::{self, Fir, FirEntry};
use crate::media::h264::pacsi;
use crate::media::h264::{LayerDescription, NalHeader, NalType, Pacsi, Payload, packetize};
use crate::media::rtcp::{self, PsfbFormat, Rtcp};
use crate::media::rtp::{self, RtpHeader, Ssrc};
use crate::media::srtp::{MasterKey, SrtpSession};
use crate::sdp::SsrcRange;

/// The largest RTP payload the gateway sends (a PACSI aggregated into a STAP-A must fit).
const MAX_PAYLOAD: usize = 1300;

/// What the video relay needs of both legs.
#[derive(Debug, Clone)]
pub(in crate::gateway) struct VideoRelayConfig {
    /// H.264 UC's number on the Lync leg, H.264's on the consumer leg.
    pub lync_pt: u8,
    pub consumer_pt: u8,
    /// The gateway's and Lync's SRTP key and salt (base64) for the video stream.
    pub local_key: String,
    pub remote_key: String,
    /// The gateway's SSRC toward Lync (the first of its declared range) and toward the
    /// consumer side.
    pub lync_ssrc: u32,
    pub consumer_ssrc: u32,
    /// Lync's declared range: packets from other SSRCs are dropped.
    pub lync_range: Option<SsrcRange>,
    /// Where each side receives RTP and RTCP.
    pub lync_rtp: SocketAddr,
    pub lync_rtcp: SocketAddr,
    pub consumer_rtp: SocketAddr,
    pub consumer_rtcp: SocketAddr,
    /// First sequence numbers the gateway uses on each leg.
    pub first_seq: (u16, u16),
    pub defects: Defects,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Lync,
    Consumer,
}

/// One direction's access unit being collected, and what the gateway sends on.
#[derive(Debug, Default)]
struct Direction {
    pending: Vec<(RtpHeader, Vec<u8>)>,
    /// The sequence number the gateway's next packet on the far leg carries.
    seq: u16,
    /// The sender's SSRC on this leg (the media source a keyframe request names).
    sender: Option<Ssrc>,
}

/// The video relay of one call.
#[derive(Debug)]
pub(in crate::gateway) struct VideoEngine {
    cfg: VideoRelayConfig,
    srtp: SrtpSession,
    from_lync: Direction,
    from_consumer: Direction,
    /// Cross-session DON of the PACSI units the gateway makes.
    don: u16,
    fir_seq: u8,
    out: VecDeque<Transmit>,
}

/// Whether an access unit's payloads carry an IDR slice (single, aggregated or fragmented).
fn has_idr(payloads: &[Vec<u8>]) -> bool {
    payloads.iter().any(|p| match packetize::parse(p) {
        Ok(Payload::Single(nal)) => nal.first().is_some_and(|b| NalHeader::from_byte(*b).nal_type == NalType::IDR),
        Ok(Payload::StapA(units)) => {
            units.iter().any(|u| u.first().is_some_and(|b| NalHeader::from_byte(*b).nal_type == NalType::IDR))
        }
        Ok(Payload::FuA { header, .. }) => header.nal_type == NalType::IDR,
        Err(_) => false,
    })
}

impl VideoEngine {
    pub(in crate::gateway) fn new(cfg: VideoRelayConfig) -> Result<Self, String> {
        let key = |b64: &str| MasterKey::from_inline(&format!("inline:{b64}")).map_err(|e| e.to_string());
        let srtp = SrtpSession::new(&key(&cfg.local_key)?, &key(&cfg.remote_key)?).map_err(|e| e.to_string())?;
        let (to_consumer, to_lync) = cfg.first_seq;
        Ok(Self {
            from_lync: Direction { seq: to_consumer, ..Direction::default() },
            from_consumer: Direction { seq: to_lync, ..Direction::default() },
            cfg,
            srtp,
            don: 0,
            fir_seq: 0,
            out: VecDeque::new(),
        })
    }

    /// The next datagram to send.
    pub(in crate::gateway) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// One received datagram on `port`. Anything that does not parse, authenticate or belong
    /// is dropped: the wire never panics the relay.
    pub(in crate::gateway) fn handle(&mut self, port: Port, bytes: &[u8]) {
        use crate::media::demux::{PacketKind, classify};
        match (port, classify(bytes)) {
            (Port::LyncRtp, PacketKind::Rtp) => {
                if let Ok(plain) = self.srtp.unprotect_rtp(bytes) {
                    self.rtp(Side::Lync, &plain);
                }
            }
            (Port::LyncRtp | Port::LyncRtcp, PacketKind::Rtcp) => {
                if let Ok(plain) = self.srtp.unprotect_rtcp(bytes) {
                    self.rtcp(Side::Lync, &plain);
                }
            }
            (Port::ConsumerRtp, PacketKind::Rtp) => self.rtp(Side::Consumer, bytes),
            (Port::ConsumerRtp | Port::ConsumerRtcp, PacketKind::Rtcp) => self.rtcp(Side::Consumer, bytes),
            (port, kind) => tracing::debug!(?port, ?kind, "video datagram dropped"),
        }
    }

    fn rtp(&mut self, from: Side, packet: &[u8]) {
        let Ok((header, range)) = rtp::parse(packet) else { return };
        let payload = &packet[range];
        let (pt, dir) = match from {
            Side::Lync => {
                if self.cfg.lync_range.is_some_and(|r| !r.contains(header.ssrc.0)) {
                    return;
                }
                (self.cfg.lync_pt, &mut self.from_lync)
            }
            Side::Consumer => (self.cfg.consumer_pt, &mut self.from_consumer),
        };
        if header.pt != pt {
            tracing::debug!(pt = header.pt, ?from, "video RTP with a payload type not negotiated: dropped");
            return;
        }
        dir.sender = Some(header.ssrc);
        if dir.pending.first().is_some_and(|(h, _)| h.timestamp != header.timestamp) {
            // The previous unit's marker was lost: it ends here.
            self.flush(from);
        }
        let marker = header.marker;
        let dir = if from == Side::Lync { &mut self.from_lync } else { &mut self.from_consumer };
        dir.pending.push((header, payload.to_vec()));
        if marker {
            self.flush(from);
        }
    }

    /// Sends the collected access unit on the other leg.
    fn flush(&mut self, from: Side) {
        let dir = if from == Side::Lync { &mut self.from_lync } else { &mut self.from_consumer };
        let unit = std::mem::take(&mut dir.pending);
        let Some(first) = unit.first().map(|(h, _)| h.clone()) else { return };
        let payloads: Vec<Vec<u8>> = unit.into_iter().map(|(_, p)| p).collect();
        let defects = &self.cfg.defects;
        let payloads = match from {
            Side::Lync if defects.has(Defect::PacsiNotStripped) => payloads,
            Side::Lync => pacsi::strip(&payloads),
            Side::Consumer => {
                let layer = LayerDescription::base(640, 360, 30, 1_000_000);
                let unit = Pacsi::for_access_unit(has_idr(&payloads), self.don, layer, pacsi::nal_count(&payloads));
                self.don = self.don.wrapping_add(1);
                match pacsi::insert(&payloads, &unit.build(), MAX_PAYLOAD) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::debug!("PACSI not inserted: {e}");
                        payloads
                    }
                }
            }
        };
        let every_marker = defects.has(Defect::MarkerOnEveryPacket);
        let (pt, ssrc) = match from {
            Side::Lync => (self.cfg.consumer_pt, self.cfg.consumer_ssrc),
            Side::Consumer => (self.cfg.lync_pt, self.cfg.lync_ssrc),
        };
        let last = payloads.len().saturating_sub(1);
        for (i, p) in payloads.iter().enumerate() {
            let dir = if from == Side::Lync { &mut self.from_lync } else { &mut self.from_consumer };
            let header = RtpHeader {
                pt,
                marker: i == last || every_marker,
                seq: dir.seq,
                timestamp: first.timestamp,
                ssrc: Ssrc(ssrc),
                ..RtpHeader::default()
            };
            dir.seq = dir.seq.wrapping_add(1);
            let Ok(packet) = rtp::build(&header, p) else { continue };
            match from {
                Side::Lync => {
                    self.out.push_back(Transmit { from: Port::ConsumerRtp, to: self.cfg.consumer_rtp, bytes: packet })
                }
                Side::Consumer => match self.srtp.protect_rtp(&packet) {
                    Ok(bytes) => self.out.push_back(Transmit { from: Port::LyncRtp, to: self.cfg.lync_rtp, bytes }),
                    Err(e) => tracing::debug!("SRTP protect failed: {e}"),
                },
            }
        }
    }

    /// Keyframe requests cross as requests of the gateway's own; everything else on RTCP is
    /// terminated here.
    fn rtcp(&mut self, from: Side, packet: &[u8]) {
        let Ok(compound) = rtcp::parse(packet) else { return };
        for p in &compound.packets {
            let Rtcp::Psfb(fb) = p else { continue };
            let ask = match fb.format {
                PsfbFormat::Pli => PsfbFormat::Pli,
                PsfbFormat::Fir => PsfbFormat::Fir,
                // A VSR from Lync is answered with a keyframe from the consumer side.
                PsfbFormat::Vsr if from == Side::Lync => PsfbFormat::Pli,
                _ => continue,
            };
            self.request_keyframe(from.other(), ask);
        }
    }

    /// Asks the sender on leg `to` for a keyframe.
    fn request_keyframe(&mut self, to: Side, kind: PsfbFormat) {
        let (me, media) = match to {
            Side::Consumer => (self.cfg.consumer_ssrc, self.from_consumer.sender),
            Side::Lync => (self.cfg.lync_ssrc, self.from_lync.sender),
        };
        let media = media.unwrap_or(Ssrc(0));
        let psfb = if kind == PsfbFormat::Fir {
            self.fir_seq = self.fir_seq.wrapping_add(1);
            match (Fir { entries: vec![FirEntry { ssrc: media, seq: self.fir_seq }] }).to_psfb(Ssrc(me)) {
                Ok(p) => p,
                Err(_) => return,
            }
        } else {
            feedback::pli(Ssrc(me), media)
        };
        let Ok(bytes) = rtcp::build(&[Rtcp::Psfb(psfb)]) else { return };
        match to {
            Side::Consumer => {
                self.out.push_back(Transmit { from: Port::ConsumerRtcp, to: self.cfg.consumer_rtcp, bytes })
            }
            Side::Lync => {
                if let Ok(bytes) = self.srtp.protect_rtcp(&bytes) {
                    self.out.push_back(Transmit { from: Port::LyncRtcp, to: self.cfg.lync_rtcp, bytes });
                }
            }
        }
    }
}

impl Side {
    fn other(self) -> Self {
        match self {
            Self::Lync => Self::Consumer,
            Self::Consumer => Self::Lync,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::h264::{Packetizer, VideoConfig, VideoReceiver, VideoSource};

    const GW_KEY: &str = "R1dHV0dXR1dHV0dXR1dHV0dXR1dHV0dXR1dHV0dX";
    const LYNC_KEY: &str = "TFlMWUxZTFlMWUxZTFlMWUxZTFlMWUxZTFlMWUxZ";

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn engine(defects: Defects) -> VideoEngine {
        VideoEngine::new(VideoRelayConfig {
            lync_pt: 122,
            consumer_pt: 96,
            local_key: GW_KEY.into(),
            remote_key: LYNC_KEY.into(),
            lync_ssrc: 1000,
            consumer_ssrc: 77,
            lync_range: Some(SsrcRange { first: 500, last: 599 }),
            lync_rtp: addr(5000),
            lync_rtcp: addr(5001),
            consumer_rtp: addr(6000),
            consumer_rtcp: addr(6001),
            first_seq: (10, 20),
            defects,
        })
        .unwrap()
    }

    fn lync_srtp() -> SrtpSession {
        let k = |b64: &str| MasterKey::from_inline(&format!("inline:{b64}")).unwrap();
        SrtpSession::new(&k(LYNC_KEY), &k(GW_KEY)).unwrap()
    }

    /// Lync sends `frames` PACSI-led access units; what reaches the consumer side.
    fn from_lync(defects: Defects, frames: u32) -> (VideoReceiver, Vec<RtpHeader>) {
        let mut e = engine(defects);
        let mut lync = lync_srtp();
        let mut source = VideoSource::new(VideoConfig::new(4));
        let mut p = Packetizer::new(122, Ssrc(550), 1, 1200).with_pacsi(LayerDescription::base(640, 360, 30, 1));
        let mut rx = VideoReceiver::new();
        let mut headers = Vec::new();
        for _ in 0..frames {
            let au = source.next_access_unit();
            for packet in p.packetize(&au, au.timestamp_offset).unwrap() {
                e.handle(Port::LyncRtp, &lync.protect_rtp(&packet).unwrap());
            }
        }
        while let Some(t) = e.poll_transmit() {
            assert_eq!((t.from, t.to), (Port::ConsumerRtp, addr(6000)));
            let (h, payload) = rtp::parse(&t.bytes).unwrap();
            rx.on_packet(&h, &t.bytes[payload]);
            headers.push(h);
        }
        rx.finish();
        (rx, headers)
    }

    #[test]
    fn lync_video_reaches_the_consumer_renumbered_without_pacsi_and_marked_once_per_frame() {
        let (rx, headers) = from_lync(Defects::default(), 8);
        let s = rx.summary();
        assert_eq!((s.frames, s.complete, s.pacsi_frames, s.marker_violations, s.lost), (8, 8, 0, 0, 0));
        assert!(headers.iter().all(|h| h.pt == 96 && h.ssrc == Ssrc(77)));
        assert!(headers.windows(2).all(|w| w[1].seq == w[0].seq.wrapping_add(1)) && headers[0].seq == 10);
    }

    #[test]
    fn the_seeded_defects_show_in_what_the_consumer_receives() {
        let (rx, _) = from_lync(Defects::of([Defect::PacsiNotStripped]), 4);
        assert_eq!(rx.summary().pacsi_frames, 4);
        let (rx, _) = from_lync(Defects::of([Defect::MarkerOnEveryPacket]), 4);
        assert!(rx.summary().marker_violations > 0);
    }

    #[test]
    fn consumer_video_reaches_lync_with_a_pacsi_in_front_of_every_frame() {
        let mut e = engine(Defects::default());
        let mut source = VideoSource::new(VideoConfig::new(5));
        let mut p = Packetizer::new(96, Ssrc(9), 1, 1200);
        for _ in 0..5 {
            let au = source.next_access_unit();
            for packet in p.packetize(&au, au.timestamp_offset).unwrap() {
                e.handle(Port::ConsumerRtp, &packet);
            }
        }
        let mut lync = lync_srtp();
        let mut rx = VideoReceiver::new();
        while let Some(t) = e.poll_transmit() {
            let plain = lync.unprotect_rtp(&t.bytes).unwrap();
            let (h, payload) = rtp::parse(&plain).unwrap();
            assert_eq!((h.pt, h.ssrc), (122, Ssrc(1000)));
            rx.on_packet(&h, &plain[payload]);
        }
        rx.finish();
        let s = rx.summary();
        assert_eq!((s.frames, s.complete, s.pacsi_frames, s.idr, s.marker_violations), (5, 5, 5, 1, 0));
    }

    #[test]
    fn a_pli_from_the_consumer_becomes_a_pli_toward_lync_and_a_vsr_from_lync_a_pli_toward_the_consumer() {
        let mut e = engine(Defects::default());
        let pli = rtcp::build(&[Rtcp::Psfb(feedback::pli(Ssrc(9), Ssrc(77)))]).unwrap();
        e.handle(Port::ConsumerRtcp, &pli);
        let t = e.poll_transmit().expect("a PLI toward Lync");
        assert_eq!((t.from, t.to), (Port::LyncRtcp, addr(5001)));
        let plain = lync_srtp().unprotect_rtcp(&t.bytes).unwrap();
        let c = rtcp::parse(&plain).unwrap();
        assert!(matches!(&c.packets[0], Rtcp::Psfb(p) if p.format == PsfbFormat::Pli && p.sender == Ssrc(1000)));
        let vsr = crate::media::feedback::Vsr {
            msi: feedback::MSI_ANY,
            request_id: 1,
            version: 1,
            keyframe: true,
            entries: vec![crate::media::feedback::VsrEntry::sipe_default(122)],
        }
        .to_psfb(Ssrc(550), Ssrc(1000))
        .unwrap();
        let mut lync = lync_srtp();
        let vsr = lync.protect_rtcp(&rtcp::build(&[Rtcp::Psfb(vsr)]).unwrap()).unwrap();
        e.handle(Port::LyncRtcp, &vsr);
        let t = e.poll_transmit().expect("a PLI toward the consumer");
        assert_eq!((t.from, t.to), (Port::ConsumerRtcp, addr(6001)));
        let c = rtcp::parse(&t.bytes).unwrap();
        assert!(matches!(&c.packets[0], Rtcp::Psfb(p) if p.format == PsfbFormat::Pli && p.sender == Ssrc(77)));
    }
}
