//! What a capture holds when nothing says who is who: its SIP dialogs (by Call-ID) with their
//! messages and frames, and the RTP streams their SDP announced. The machine form
//! ([`Listing::machine`]) is what `.ci/capture-check` compares with tshark:
//!
//! ```text
//! sip udp 12
//! sip tcp 7
//! rtp 127.0.0.1:40000 127.0.0.1:41000 0x1a2b3c4d 0 250
//! ```
//!
//! (`rtp SRC DST SSRC PTs PACKETS`, PTs comma-separated, one line per stream.)

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::SocketAddr;

use super::extract::SipRecord;
use super::pcap_read::Packet;
use crate::media::demux::{self, PacketKind};
use crate::media::rtp;
use crate::net::Transport;
use crate::sdp::MediaKind;
use crate::sip::wire::{Message, SipUri, multipart};

/// One SIP message of a dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedMessage {
    /// Frame holding its last byte.
    pub frame: usize,
    /// Transport.
    pub transport: Transport,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Request line or status and method.
    pub head: String,
}

/// The messages sharing a Call-ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// `call-N`, in order of first appearance.
    pub symbol: String,
    /// From and To addresses of record, in order of first appearance.
    pub participants: Vec<String>,
    /// Its messages in frame order.
    pub messages: Vec<ListedMessage>,
}

/// One RTP stream to or from an address an SDP announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpStream {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// SSRC.
    pub ssrc: u32,
    /// Payload types seen.
    pub pts: BTreeSet<u8>,
    /// RTP packets.
    pub packets: usize,
}

/// Everything listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// SIP messages that parse, by transport.
    pub sip: BTreeMap<Transport, usize>,
    /// Dialogs by first appearance.
    pub dialogs: Vec<Dialog>,
    /// RTP streams by (src, dst, SSRC).
    pub streams: Vec<RtpStream>,
}

fn aor(uri: &str) -> String {
    SipUri::parse(uri).map_or_else(|_| uri.to_owned(), |u| u.address_of_record())
}

fn head(m: &Message) -> String {
    match (m.method(), m.request_uri(), m.status()) {
        (Some(method), Some(uri), _) => format!("{method} {uri}"),
        (_, _, Some(code)) => format!("{code} ({})", m.cseq().map(|c| c.method.to_string()).unwrap_or_default()),
        _ => String::new(),
    }
}

/// Media addresses (connection address and port of every audio/video m-line with a port) an
/// SDP body of `m` announces, single or in a `multipart/alternative`.
fn announced(m: &Message, out: &mut BTreeSet<SocketAddr>) {
    let Ok(Some(ct)) = m.content_type() else { return };
    let bodies: Vec<Vec<u8>> = match ct.essence.as_str() {
        "application/sdp" => vec![m.body().to_vec()],
        "multipart/alternative" => ct
            .param("boundary")
            .and_then(|b| multipart::parse(b, m.body()).ok())
            .map(|parts| parts.into_iter().map(|p| p.body).collect())
            .unwrap_or_default(),
        _ => return,
    };
    for body in bodies {
        let Ok(sdp) = crate::sdp::parse(&body) else { continue };
        for media in sdp.media.iter().filter(|x| matches!(x.kind, MediaKind::Audio | MediaKind::Video) && x.port != 0) {
            if let Some(ip) = media.connection.as_ref().or(sdp.connection.as_ref()).and_then(|c| c.ip_addr()) {
                out.insert(SocketAddr::new(ip, media.port));
            }
        }
    }
}

/// Lists the dialogs of `records` and the RTP streams among `packets` to or from an address
/// their SDP announced.
pub fn listing(packets: &[Packet], records: &[SipRecord]) -> Listing {
    let mut l = Listing::default();
    let mut by_call: BTreeMap<String, usize> = BTreeMap::new();
    let mut media: BTreeSet<SocketAddr> = BTreeSet::new();
    for r in records {
        let Ok(m) = &r.result else { continue };
        *l.sip.entry(r.transport).or_default() += 1;
        announced(m, &mut media);
        let call = m.call_id().map(|c| c.to_string()).unwrap_or_default();
        let n = *by_call.entry(call).or_insert_with(|| {
            l.dialogs.push(Dialog {
                symbol: format!("call-{}", l.dialogs.len() + 1),
                participants: Vec::new(),
                messages: Vec::new(),
            });
            l.dialogs.len() - 1
        });
        let d = &mut l.dialogs[n];
        for a in [m.from_addr(), m.to_addr()].into_iter().flatten() {
            let who = aor(&a.uri);
            if !d.participants.contains(&who) {
                d.participants.push(who);
            }
        }
        d.messages.push(ListedMessage {
            frame: r.frame,
            transport: r.transport,
            src: r.src,
            dst: r.dst,
            head: head(m),
        });
    }
    let mut streams: BTreeMap<(SocketAddr, SocketAddr, u32), (BTreeSet<u8>, usize)> = BTreeMap::new();
    for p in packets.iter().filter(|p| p.transport == Transport::Udp) {
        if !(media.contains(&p.src) || media.contains(&p.dst)) || demux::classify(&p.payload) != PacketKind::Rtp {
            continue;
        }
        if let Ok((h, _)) = rtp::parse(&p.payload) {
            let s = streams.entry((p.src, p.dst, h.ssrc.0)).or_default();
            s.0.insert(h.pt);
            s.1 += 1;
        }
    }
    l.streams = streams
        .into_iter()
        .map(|((src, dst, ssrc), (pts, packets))| RtpStream { src, dst, ssrc, pts, packets })
        .collect();
    l
}

fn transport_word(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    }
}

fn pts(s: &RtpStream) -> String {
    s.pts.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
}

impl Listing {
    /// For a person: dialogs with participants and messages, then the streams.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let total: usize = self.sip.values().sum();
        let _ = writeln!(out, "{total} SIP messages in {} dialogs", self.dialogs.len());
        for d in &self.dialogs {
            let _ = writeln!(out, "{}  {}", d.symbol, d.participants.join(", "));
            for m in &d.messages {
                let _ = writeln!(
                    out,
                    "  frame {:<6} {} {} -> {}  {}",
                    m.frame,
                    transport_word(m.transport),
                    m.src,
                    m.dst,
                    m.head
                );
            }
        }
        let _ = writeln!(out, "{} RTP streams to or from SDP-announced addresses", self.streams.len());
        for s in &self.streams {
            let _ =
                writeln!(out, "  {} -> {}  ssrc 0x{:08x}  pt {}  {} packets", s.src, s.dst, s.ssrc, pts(s), s.packets);
        }
        out
    }

    /// For a script: `sip TRANSPORT N` per transport (both always), then
    /// `rtp SRC DST 0xSSRC PTS PACKETS` per stream.
    pub fn machine(&self) -> String {
        let mut out = String::new();
        for t in [Transport::Udp, Transport::Tcp] {
            let _ = writeln!(out, "sip {} {}", transport_word(t), self.sip.get(&t).copied().unwrap_or(0));
        }
        for s in &self.streams {
            let _ = writeln!(out, "rtp {} {} 0x{:08x} {} {}", s.src, s.dst, s.ssrc, pts(s), s.packets);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::media::rtp::{RtpHeader, Ssrc};
    use crate::sip::wire::{MessageBuilder, Method};
    use crate::trace::test_support::addr;

    fn invite(call: &str, port: u16) -> Message {
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n"
        );
        MessageBuilder::request(Method::INVITE, "sip:bob@outlook.com")
            .header("From", "<sip:alice@contoso.com>;tag=1")
            .header("To", "<sip:bob@outlook.com>")
            .header("Call-ID", call)
            .header("CSeq", "1 INVITE")
            .body("application/sdp", sdp)
            .build()
    }

    fn record(frame: usize, transport: Transport, m: Message) -> SipRecord {
        let (src, dst) = (addr("127.0.0.1:5060"), addr("127.0.0.1:5070"));
        SipRecord { frame, at: Duration::ZERO, transport, src, dst, result: Ok(m) }
    }

    fn rtp_packet(number: usize, src: &str, dst: &str, ssrc: u32) -> Packet {
        let h = RtpHeader {
            pt: 0,
            marker: false,
            seq: number as u16,
            timestamp: 0,
            ssrc: Ssrc(ssrc),
            csrc: vec![],
            extension: None,
        };
        Packet {
            number,
            at: Duration::ZERO,
            transport: Transport::Udp,
            src: addr(src),
            dst: addr(dst),
            tcp: None,
            payload: rtp::build(&h, &[0; 160]).unwrap(),
            truncated: false,
            comment: None,
        }
    }

    #[test]
    fn dialogs_group_by_call_id_and_only_streams_at_announced_addresses_are_listed() {
        let records = [
            record(1, Transport::Tcp, invite("a", 4000)),
            record(2, Transport::Udp, invite("b", 0)),
            record(3, Transport::Tcp, invite("a", 4000)),
        ];
        let packets = [
            rtp_packet(4, "127.0.0.1:4000", "127.0.0.1:6000", 7),
            rtp_packet(5, "127.0.0.1:6000", "127.0.0.1:4000", 8),
            rtp_packet(6, "127.0.0.1:4000", "127.0.0.1:6000", 7),
            rtp_packet(7, "127.0.0.1:9000", "127.0.0.1:9002", 9), // port 0 was refused: not announced
        ];
        let l = listing(&packets, &records);
        assert_eq!(l.dialogs.len(), 2);
        assert_eq!(l.dialogs[0].symbol, "call-1");
        assert_eq!(l.dialogs[0].participants, ["alice@contoso.com", "bob@outlook.com"]);
        assert_eq!(l.dialogs[0].messages.iter().map(|m| m.frame).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(
            l.machine(),
            "sip udp 1\nsip tcp 2\nrtp 127.0.0.1:4000 127.0.0.1:6000 0x00000007 0 2\n\
             rtp 127.0.0.1:6000 127.0.0.1:4000 0x00000008 0 1\n"
        );
        let human = l.human();
        assert!(human.contains("call-2  alice@contoso.com, bob@outlook.com\n  frame 2      udp"), "{human}");
        assert!(human.contains("ssrc 0x00000007  pt 0  2 packets"), "{human}");
    }
}
