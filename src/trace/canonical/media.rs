//! Media in the canonical trace: one summary line per RTP stream, per RTCP flow and per STUN
//! flow, for each step and leg (DESIGN.md, "The canonical trace"). Streams are read from what
//! crossed the harness's own sockets: a stream the harness sent is summarised as sent, one the
//! gateway sent as received, so loss between the gateway and the harness shows on the leg where
//! it happened. SRTP keeps the RTP header in clear (RFC 3711 §3.1), so both legs are read alike;
//! SRTCP keeps only its first header and SSRC in clear, so RTCP flows are named by their
//! first packet's type.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;

use super::{Cast, Seen, Symbols};
use crate::media::demux::{self, PacketKind};
use crate::media::rtp::{self, SsrcRange};
use crate::media::stats::{ReceiveStats, StreamConfig};
use crate::net::{TapEvent, TapKind, Transport};
use crate::sdp::{Codec, MediaKind};
use crate::sip::wire::multipart;

/// One media datagram the harness sent or received.
#[derive(Debug, Clone)]
pub struct MediaSeen {
    /// Scenario step.
    pub step: usize,
    /// Harness leg.
    pub leg: String,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Offset from the recording start (for jitter in reports; never printed).
    pub at: std::time::Duration,
    /// The datagram.
    pub bytes: Vec<u8>,
}

/// One RTP stream as the harness counted it on its own sockets: what an independent
/// dissector must count in the pcap (`.ci/tshark-check`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RtpStreamCount {
    /// Harness leg.
    pub leg: String,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// SSRC.
    pub ssrc: u32,
    /// RTP packets (SRTP counts by its clear header).
    pub packets: usize,
}

/// Every RTP stream among media datagrams, by leg, addresses and SSRC, in a stable order.
pub fn rtp_streams(media: &[MediaSeen]) -> Vec<RtpStreamCount> {
    let mut n: BTreeMap<(String, SocketAddr, SocketAddr, u32), usize> = BTreeMap::new();
    for m in media.iter().filter(|m| demux::classify(&m.bytes) == PacketKind::Rtp) {
        if let Ok((h, _)) = rtp::parse(&m.bytes) {
            *n.entry((m.leg.clone(), m.src, m.dst, h.ssrc.0)).or_default() += 1;
        }
    }
    n.into_iter().map(|((leg, src, dst, ssrc), packets)| RtpStreamCount { leg, src, dst, ssrc, packets }).collect()
}

/// True for a UDP datagram that is media (RTP, RTCP, STUN, DTLS by RFC 7983), not SIP.
pub fn is_media(bytes: &[u8]) -> bool {
    !matches!(demux::classify(bytes), PacketKind::Other)
}

/// The media datagrams among tap events.
pub fn datagrams(events: &[TapEvent]) -> Vec<MediaSeen> {
    events
        .iter()
        .filter(|e| e.transport == Transport::Udp)
        .filter_map(|e| match &e.kind {
            TapKind::Data(b) if is_media(b) => Some(MediaSeen {
                step: e.step,
                leg: e.actor.clone().unwrap_or_default(),
                src: e.src,
                dst: e.dst,
                at: e.at,
                bytes: b.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// What the SDPs on one leg declared: payload type → codec, and media address → SSRC range.
#[derive(Debug, Default)]
struct Declared {
    codecs: HashMap<u8, Codec>,
    ranges: HashMap<SocketAddr, SsrcRange>,
    te: Option<u8>,
}

fn declared(seen: &[Seen], leg: &str) -> Declared {
    let mut d = Declared::default();
    for s in seen.iter().filter(|s| s.leg == leg) {
        let Ok(Some(ct)) = s.msg.content_type() else { continue };
        let bodies: Vec<Vec<u8>> = match ct.essence.as_str() {
            "application/sdp" => vec![s.msg.body().to_vec()],
            "multipart/alternative" => ct
                .param("boundary")
                .and_then(|b| multipart::parse(b, s.msg.body()).ok())
                .map(|parts| parts.into_iter().map(|p| p.body).collect())
                .unwrap_or_default(),
            _ => continue,
        };
        for body in bodies {
            let Ok(sdp) = crate::sdp::parse(&body) else { continue };
            for m in sdp.media.iter().filter(|m| matches!(m.kind, MediaKind::Audio | MediaKind::Video)) {
                for c in m.codecs() {
                    if c.name.eq_ignore_ascii_case("telephone-event") {
                        d.te = Some(c.pt);
                    }
                    d.codecs.insert(c.pt, c);
                }
                let ip = m.connection.as_ref().or(sdp.connection.as_ref()).and_then(|c| c.ip_addr());
                if let (Some(ip), Some(r)) = (ip, m.ssrc_range()) {
                    d.ranges.insert(SocketAddr::new(ip, m.port), SsrcRange { first: r.first, last: r.last });
                }
            }
        }
    }
    d
}

fn actor(cast: &Cast, leg: &str, addr: SocketAddr) -> String {
    cast.media.get(&addr).cloned().unwrap_or_else(|| format!("gw:{leg}"))
}

/// Samples per 20 ms packet at the codec's RTP clock (G.722 runs an 8000 Hz clock, RFC 3551).
fn samples_per_packet(c: &Codec) -> u32 {
    c.clock / 50
}

/// H.264 in either leg's naming (`H264`, Lync's `X-H264UC`).
fn is_h264(c: &Codec) -> bool {
    c.clock == 90_000 && (c.name.eq_ignore_ascii_case("H264") || c.name.eq_ignore_ascii_case("X-H264UC"))
}

/// One video stream of one step, reassembled (PROTOCOL.md §3.4): frames, IDRs, NAL types,
/// PACSI presence and the marker pattern. SRTP payloads are read with the key the harness
/// negotiated for that sender, from the flow's first packet on (SRTP's rollover counter
/// follows the whole stream); a stream whose payloads cannot be read says so.
fn video_summary(all: &[MediaSeen], packets: &[&MediaSeen], step: usize, cast: &Cast) -> String {
    use crate::media::h264::VideoReceiver;
    use crate::media::srtp::{MasterKey, SrtpContext};
    let mut srtp = match cast.srtp.get(&packets[0].src) {
        Some(k) => match MasterKey::from_inline(&format!("inline:{k}")).and_then(|k| SrtpContext::new(&k)) {
            Ok(s) => Some(s),
            Err(e) => return format!("unreadable (SRTP key: {e})"),
        },
        None => None,
    };
    let mut rx = VideoReceiver::new();
    let mut undecrypted = 0;
    let (src, dst) = (packets[0].src, packets[0].dst);
    let flow = all
        .iter()
        .filter(|m| m.src == src && m.dst == dst && m.step <= step && demux::classify(&m.bytes) == PacketKind::Rtp);
    for m in flow {
        let plain = match &mut srtp {
            Some(s) => match s.unprotect_rtp(&m.bytes) {
                Ok(p) => p,
                Err(_) => {
                    undecrypted += u64::from(m.step == step);
                    continue;
                }
            },
            None => m.bytes.clone(),
        };
        if m.step != step {
            continue;
        }
        if let Ok((h, payload)) = rtp::parse(&plain) {
            rx.on_packet(&h, &plain[payload]);
        }
    }
    rx.finish();
    let summary = rx.summary();
    if undecrypted > 0 { format!("{summary} srtp-unreadable {undecrypted}") } else { summary.to_string() }
}

/// The summary lines of one step on one leg, in a stable order, and how many STUN
/// retransmissions were left out of them: like SIP retransmissions, they depend on timing, so
/// they are counted apart and never reach the golden text.
pub(super) fn lines(
    media: &[MediaSeen],
    seen: &[Seen],
    cast: &Cast,
    step: usize,
    leg: &str,
    syms: &mut Symbols,
) -> (Vec<String>, usize) {
    let here: Vec<&MediaSeen> = media.iter().filter(|m| m.step == step && m.leg == leg).collect();
    if here.is_empty() {
        return (Vec::new(), 0);
    }
    let decl = declared(seen, leg);
    let mut rtp_flows: BTreeMap<(String, String), Vec<&MediaSeen>> = BTreeMap::new();
    let mut other: BTreeMap<(String, String, String), (usize, usize)> = BTreeMap::new();
    let mut stun_ids: HashSet<(SocketAddr, SocketAddr, Vec<u8>)> = HashSet::new();
    for m in &here {
        let flow = (actor(cast, leg, m.src), actor(cast, leg, m.dst));
        match demux::classify(&m.bytes) {
            PacketKind::Rtp => rtp_flows.entry(flow).or_default().push(m),
            PacketKind::Rtcp => {
                let kind = match m.bytes.get(1) {
                    Some(200) => "SR",
                    Some(201) => "RR",
                    Some(202) => "SDES",
                    Some(203) => "BYE",
                    Some(205) => "RTPFB",
                    Some(206) => "PSFB",
                    _ => "other",
                };
                other.entry((flow.0, flow.1, format!("rtcp {kind}"))).or_default().0 += 1;
            }
            PacketKind::Stun => {
                let class = match m.bytes.get(..2) {
                    Some([0x00, 0x01]) => "binding request",
                    Some([0x01, 0x01]) => "binding success",
                    Some([0x01, 0x11]) => "binding error",
                    _ => "other",
                };
                let entry = other.entry((flow.0, flow.1, format!("stun {class}"))).or_default();
                // A retransmission repeats the transaction id (RFC 5389 §7.2.1).
                let tid = m.bytes.get(8..20).unwrap_or_default().to_vec();
                if stun_ids.insert((m.src, m.dst, tid)) {
                    entry.0 += 1;
                } else {
                    entry.1 += 1;
                }
            }
            PacketKind::Dtls | PacketKind::Other => {
                other.entry((flow.0, flow.1, "other".into())).or_default().0 += 1;
            }
        }
    }
    let mut out = Vec::new();
    for ((src, dst), packets) in rtp_flows {
        let Some(first) = packets.iter().find_map(|m| rtp::parse(&m.bytes).ok()) else { continue };
        let codec = decl.codecs.get(&first.0.pt);
        let config = StreamConfig {
            clock_rate: codec.map_or(8000, |c| c.clock),
            // Video timestamps step per frame, not per packet: no fixed step to check.
            samples_per_packet: codec.filter(|c| c.name != "telephone-event" && !is_h264(c)).map(samples_per_packet),
            dtmf_pt: decl.te,
            ssrc_range: decl.ranges.get(&packets[0].src).copied(),
        };
        let mut stats = ReceiveStats::new(config);
        let mut ssrcs = Vec::new();
        for m in &packets {
            if let Ok((h, payload)) = rtp::parse(&m.bytes) {
                if !ssrcs.contains(&h.ssrc.0) {
                    ssrcs.push(h.ssrc.0);
                }
                stats.on_packet(&h, payload.len(), m.at);
            }
        }
        let summary = stats.summary();
        let names: Vec<String> = summary
            .payload_types
            .iter()
            .map(|pt| match decl.codecs.get(pt) {
                Some(c) => format!("{}/{}", c.name, c.clock),
                None => format!("pt {pt} (not in any SDP)"),
            })
            .collect();
        let ssrc: Vec<String> = ssrcs.iter().map(|s| syms.get("ssrc", &s.to_string())).collect();
        out.push(format!("  {leg:<10}  {src} -> {dst}  rtp {} [{}] {summary}", ssrc.join(","), names.join(", ")));
        if codec.is_some_and(is_h264) {
            out.push(format!("  {leg:<10}  {src} -> {dst}  video {}", video_summary(media, &packets, step, cast)));
        }
    }
    let mut retransmitted = 0;
    for ((src, dst, kind), (n, again)) in other {
        retransmitted += again;
        out.push(format!("  {leg:<10}  {src} -> {dst}  {kind} x{n}"));
    }
    (out, retransmitted)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::media::rtp::{RtpHeader, Ssrc};
    use crate::sip::wire::{Message, MessageBuilder, Method};

    fn at(addr: &str) -> SocketAddr {
        addr.parse().unwrap()
    }

    fn invite_with_sdp() -> Message {
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Skype call\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                   m=audio 4000 RTP/AVP 104 101\r\na=rtpmap:104 SILK_WB_V3/16000\r\n\
                   a=rtpmap:101 telephone-event/8000\r\n";
        MessageBuilder::request(Method::INVITE, "sip:alice@contoso.com")
            .header("Call-ID", "c")
            .header("CSeq", "1 INVITE")
            .body("application/sdp", sdp)
            .build()
    }

    fn rtp(step: usize, seq: u16, ssrc: u32, src: &str, dst: &str) -> MediaSeen {
        let h = RtpHeader {
            pt: 104,
            marker: false,
            seq,
            timestamp: u32::from(seq) * 320,
            ssrc: Ssrc(ssrc),
            csrc: Vec::new(),
            extension: None,
        };
        MediaSeen {
            step,
            leg: "consumer".into(),
            src: at(src),
            dst: at(dst),
            at: Duration::from_millis(u64::from(seq) * 20),
            bytes: rtp::build(&h, &[0u8; 40]).unwrap(),
        }
    }

    #[test]
    fn a_stream_is_one_line_with_codec_name_loss_and_ssrc_symbol_and_stun_retransmissions_count_apart() {
        let seen =
            [Seen { step: 1, leg: "consumer".into(), sent: true, transport: Transport::Udp, msg: invite_with_sdp() }];
        let mut cast = Cast::default();
        cast.media.insert(at("127.0.0.1:4000"), "skype:carol@outlook.com".into());
        let mut media: Vec<MediaSeen> =
            (0..10u16).filter(|s| *s != 4).map(|s| rtp(1, s, 9, "127.0.0.1:4000", "127.0.0.1:6000")).collect();
        let mut stun = media[0].clone();
        stun.bytes = vec![0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        media.push(stun.clone());
        media.push(stun);
        let mut syms = Symbols::default();
        let (lines, retransmitted) = lines(&media, &seen, &cast, 1, "consumer", &mut syms);
        assert_eq!(retransmitted, 1);
        assert_eq!(
            lines,
            [
                "  consumer    skype:carol@outlook.com -> gw:consumer  rtp ssrc-1 [SILK_WB_V3/16000] pkts 9 lost 1 dup 0 \
                 reord 0 seq gaps 1 ts ok ssrc stable pt 104 marker 0",
                "  consumer    skype:carol@outlook.com -> gw:consumer  stun binding request x1",
            ]
        );
        assert!(super::super::messages(&[], &cast).0.is_empty());
        assert!(lines_for_other_steps_are_empty(&media, &seen, &cast));
    }

    fn lines_for_other_steps_are_empty(media: &[MediaSeen], seen: &[Seen], cast: &Cast) -> bool {
        lines(media, seen, cast, 2, "consumer", &mut Symbols::default()).0.is_empty()
    }
}
