//! Call offers and answers as each simulated side writes and reads them
//! (`scenarios/dialects/flows.md`, "Audio calls"; PROTOCOL.md §1.6, §2). The Lync side writes
//! the two-part multipart offer (draft-6 fallback + ICE v19), host candidates for RTP and
//! RTCP, three SDES keys and a one-wide `x-ssrc-range`; the consumer side writes one plain
//! RTP/AVP description. Which codec an answerer picks is the agent's business, not this page's.

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

use crate::sdp::alternative::{self, OfferPart};
use crate::sdp::{
    Attribute, BwType, Candidate, CandidateType, Codec, Connection, Crypto, CryptoScale, CryptoSuite, Direction,
    Draft6Candidate, EncryptionPolicy, FbPayload, IceCandidate, InlineKey, Media, MediaKind, Proto, RemoteCandidate,
    Rtcp, RtcpFb, ScaleRole, Sdp, SsrcRange, Transport,
};

/// One payload type of a profile's audio m-line (`audio_codecs` in the dialect YAML).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProfileCodec {
    /// Payload type the side uses for it.
    pub pt: u8,
    /// `name/clock[/channels]` as in `a=rtpmap`.
    pub rtpmap: String,
    /// `a=fmtp` parameters.
    #[serde(default)]
    pub fmtp: Option<String>,
}

impl ProfileCodec {
    /// Name, clock rate and channels; `None` when the rtpmap text is malformed.
    pub fn parts(&self) -> Option<(String, u32, Option<u8>)> {
        let mut it = self.rtpmap.split('/');
        let name = it.next()?.to_owned();
        let clock = it.next()?.parse().ok()?;
        let channels = match it.next() {
            Some(c) => Some(c.parse().ok()?),
            None => None,
        };
        Some((name, clock, channels))
    }

    /// The same codec at another payload type.
    pub fn renumbered(&self, pt: u8) -> Self {
        Self { pt, ..self.clone() }
    }

    /// True when `c` (read from an SDP) is this codec: same name (case-insensitive), clock and
    /// channels (absent = 1).
    pub fn is(&self, c: &Codec) -> bool {
        self.parts().is_some_and(|(n, clock, ch)| {
            n.eq_ignore_ascii_case(&c.name) && clock == c.clock && ch.unwrap_or(1) == c.channels.unwrap_or(1)
        })
    }

    /// As an SDP codec.
    pub fn to_codec(&self) -> Option<Codec> {
        let (name, clock, channels) = self.parts()?;
        Some(Codec { pt: self.pt, name, clock, channels, fmtp: self.fmtp.clone() })
    }
}

/// Where one side's audio lives and what it offers, for one description.
#[derive(Debug, Clone)]
pub struct LocalAudio {
    /// Media address.
    pub ip: IpAddr,
    /// RTP port (component 1).
    pub rtp_port: u16,
    /// RTCP port (component 2).
    pub rtcp_port: u16,
    /// ICE credentials (Lync side).
    pub ice: Option<(String, String)>,
    /// SDES master keys, base64 of key||salt (Lync side; empty = no encryption).
    pub keys: Vec<String>,
    /// `x-ssrc-range` (Lync side).
    pub ssrc_range: Option<(u32, u32)>,
    /// Stream direction.
    pub direction: Direction,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` version (+1 on every re-offer).
    pub version: u64,
    /// After ICE: the selected remote candidates, RTP then RTCP (`a=remote-candidates`).
    pub remote_candidates: Option<(SocketAddr, SocketAddr)>,
}

/// The priorities Lync gives its host candidates (PROTOCOL.md §2.3).
const HOST_RTP_PRIORITY: u32 = 2_130_706_431;
const HOST_RTCP_PRIORITY: u32 = 2_130_705_918;
/// Active TCP candidates rank below UDP ones.
const TCP_ACT_PRIORITY: [u32; 2] = [1_684_797_439, 1_684_796_926];

fn with_codecs(mut m: Media, codecs: &[ProfileCodec]) -> Media {
    for c in codecs {
        match c.parts() {
            Some((name, clock, channels)) => m = m.with_codec(c.pt, &name, clock, channels, c.fmtp.as_deref()),
            None => m = m.with_static(c.pt),
        }
    }
    m
}

fn host(component: u16, priority: u32, ip: IpAddr, port: u16, transport: Transport) -> Attribute {
    Attribute::Candidate(Candidate::Ice(IceCandidate {
        foundation: "1".into(),
        component,
        transport,
        priority,
        ip,
        port,
        kind: CandidateType::Host,
        related: None,
        extensions: Vec::new(),
    }))
}

fn crypto(tag: u32, key: &str, mki: bool) -> Crypto {
    Crypto {
        tag,
        suite: CryptoSuite::AesCm128HmacSha1_80,
        key: InlineKey { key_salt: key.to_owned(), lifetime: Some("2^31".into()), mki: mki.then(|| "1:1".into()) },
        session_params: Vec::new(),
    }
}

fn lync_session(a: &LocalAudio) -> Sdp {
    Sdp::new(a.ip, a.session_id, a.version, "session")
        .with_connection(Connection::ip(a.ip))
        .with_bandwidth(BwType::Ct, 99_980)
}

/// The Lync side's security lines: the observed three (cryptoscale, crypto with MKI, crypto
/// without), or one `a=crypto:1` in an answer (`answer_tag`).
fn lync_keys(mut m: Media, a: &LocalAudio, answer_tag: Option<u32>) -> Media {
    if a.keys.is_empty() {
        return m.with(Attribute::Encryption(EncryptionPolicy::Rejected));
    }
    if let Some(tag) = answer_tag {
        return m.with(Attribute::Crypto(crypto(tag, &a.keys[0], false)));
    }
    let key = |i: usize| a.keys.get(i).unwrap_or(&a.keys[0]).clone();
    m = m.with(Attribute::CryptoScale(CryptoScale { role: ScaleRole::Client, crypto: crypto(1, &key(0), true) }));
    m = m.with(Attribute::Crypto(crypto(2, &key(1), true)));
    m.with(Attribute::Crypto(crypto(3, &key(2), false)))
}

/// The ICE v19 audio description of the Lync side: an offer (`answer_tag` None) or an answer
/// carrying one crypto line with the offer's tag.
pub fn lync_v19(codecs: &[ProfileCodec], a: &LocalAudio, answer_tag: Option<u32>) -> Sdp {
    let proto = if a.keys.is_empty() { Proto::RtpAvp } else { Proto::RtpSavp };
    let mut m = with_codecs(Media::new(MediaKind::Audio, a.rtp_port, proto), codecs);
    if let Some((ufrag, pwd)) = &a.ice {
        m = m.with(Attribute::IceUfrag(ufrag.clone())).with(Attribute::IcePwd(pwd.clone()));
    }
    m = m.with(host(1, HOST_RTP_PRIORITY, a.ip, a.rtp_port, Transport::Udp));
    m = m.with(host(2, HOST_RTCP_PRIORITY, a.ip, a.rtcp_port, Transport::Udp));
    if a.remote_candidates.is_none() {
        // RFC 6544: an active TCP candidate has no port to check; Lync writes 9.
        m = m.with(host(1, TCP_ACT_PRIORITY[0], a.ip, 9, Transport::TcpAct));
        m = m.with(host(2, TCP_ACT_PRIORITY[1], a.ip, 9, Transport::TcpAct));
    }
    if let Some((rtp, rtcp)) = a.remote_candidates {
        m = m.with(Attribute::RemoteCandidates(vec![
            RemoteCandidate { component: 1, ip: rtp.ip(), port: rtp.port() },
            RemoteCandidate { component: 2, ip: rtcp.ip(), port: rtcp.port() },
        ]));
    }
    m = lync_keys(m, a, answer_tag);
    m = m
        .with(Attribute::MaxPtime(200))
        .with(Attribute::Rtcp(Rtcp { port: a.rtcp_port, connection: None }))
        .with(Attribute::RtcpFb(RtcpFb { payload: FbPayload::All, value: "x-message app send:dsh recv:dsh".into() }))
        .with(Attribute::RtcpRsize)
        .with(Attribute::Label("main-audio".into()))
        .with(Attribute::XSource("main-audio".into()));
    if let Some((first, last)) = a.ssrc_range {
        m = m.with(Attribute::SsrcRange(SsrcRange { first, last }));
    }
    if a.direction != Direction::SendRecv {
        m = m.with(Attribute::Direction(a.direction));
    }
    m = m.with(Attribute::Ptime(20));
    lync_session(a).with(Attribute::DeviceCaps("audio:send,recv".into())).with_media(m)
}

/// The draft-6 (ICEv6) fallback part of a Lync offer: the same m-line and keys, candidates in
/// the OCS 2007 form, no ufrag/pwd.
pub fn lync_draft6(codecs: &[ProfileCodec], a: &LocalAudio, username: &str, password: &str) -> Sdp {
    let proto = if a.keys.is_empty() { Proto::RtpAvp } else { Proto::RtpSavp };
    let mut m = with_codecs(Media::new(MediaKind::Audio, a.rtp_port, proto), codecs);
    for (component, port) in [(1, a.rtp_port), (2, a.rtcp_port)] {
        m = m.with(Attribute::Candidate(Candidate::Draft6(Draft6Candidate {
            username: username.to_owned(),
            component,
            password: password.to_owned(),
            transport: Transport::Udp,
            qvalue: "0.830".into(),
            ip: a.ip,
            port,
        })));
    }
    m = lync_keys(m, a, None);
    m = m.with(Attribute::MaxPtime(200)).with(Attribute::Rtcp(Rtcp { port: a.rtcp_port, connection: None }));
    if let Some((first, last)) = a.ssrc_range {
        m = m.with(Attribute::SsrcRange(SsrcRange { first, last }));
    }
    m = m.with(Attribute::Ptime(20));
    lync_session(a).with_media(m)
}

/// The Lync side's multipart/alternative offer body: (Content-Type, bytes).
pub fn lync_offer(
    codecs: &[ProfileCodec],
    a: &LocalAudio,
    boundary: &str,
    draft6: (&str, &str),
    content_ids: (&str, &str),
) -> (String, Vec<u8>) {
    lync_offer_with_video(codecs, a, None, boundary, draft6, content_ids)
}

/// [`lync_offer`] with a video m-line ([`lync_video`]) after the audio one in the ICE v19 part.
pub fn lync_offer_with_video(
    codecs: &[ProfileCodec],
    a: &LocalAudio,
    video: Option<Media>,
    boundary: &str,
    draft6: (&str, &str),
    content_ids: (&str, &str),
) -> (String, Vec<u8>) {
    let fallback = OfferPart { content_id: content_ids.0.to_owned(), sdp: lync_draft6(codecs, a, draft6.0, draft6.1) };
    let mut v19 = lync_v19(codecs, a, None);
    v19.media.extend(video);
    let ice = OfferPart { content_id: content_ids.1.to_owned(), sdp: v19 };
    let body = alternative::write(boundary, &fallback, &ice);
    (body.content_type, body.bytes)
}

/// The consumer side's single RTP/AVP description (offer or answer alike).
pub fn skype_audio(session_name: &str, codecs: &[ProfileCodec], a: &LocalAudio) -> Sdp {
    let mut m = with_codecs(Media::new(MediaKind::Audio, a.rtp_port, Proto::RtpAvp), codecs);
    m = m.with(Attribute::Ptime(20)).with(Attribute::Direction(a.direction));
    Sdp::new(a.ip, a.session_id, a.version, session_name).with_connection(Connection::ip(a.ip)).with_media(m)
}

/// Where one side's video lives and what it offers (PROTOCOL.md §1.7, §2.5, §9.2).
#[derive(Debug, Clone)]
pub struct LocalVideo {
    /// RTP port (component 1); 0 declines the stream.
    pub rtp_port: u16,
    /// RTCP port (component 2).
    pub rtcp_port: u16,
    /// ICE credentials (Lync side).
    pub ice: Option<(String, String)>,
    /// SDES master keys, base64 of key||salt (Lync side), as for audio.
    pub keys: Vec<String>,
    /// `x-ssrc-range` (Lync side: 100 wide).
    pub ssrc_range: Option<(u32, u32)>,
    /// The codecs of the m-line, in order.
    pub codecs: Vec<ProfileCodec>,
}

/// The width of a video `x-ssrc-range` ([MS-SDPEXT] §3.1.5.31.2, PROTOCOL.md §2.5).
pub const VIDEO_SSRC_RANGE: u32 = 100;

/// What the Lync client writes on a video m-line to say it sends and receives Video Source
/// Requests and PLIs (PROTOCOL.md §1.7).
pub const VIDEO_RTCP_FB: &str = "x-message app send:src,x-pli recv:src,x-pli";

/// The Lync side's video m-line (offer, or an answer with the offer's crypto tag): RTP/SAVP,
/// ICE host candidates, keys, `a=rtcp-fb` x-message, `rtcp-rsize`, `label`/`x-source`
/// main-video and the 100-wide SSRC range, like its audio m-line.
pub fn lync_video(a: &LocalAudio, v: &LocalVideo, answer_tag: Option<u32>) -> Media {
    let proto = if v.keys.is_empty() { Proto::RtpAvp } else { Proto::RtpSavp };
    let mut m = with_codecs(Media::new(MediaKind::Video, v.rtp_port, proto), &v.codecs);
    if v.rtp_port == 0 {
        return m;
    }
    if let Some((ufrag, pwd)) = &v.ice {
        m = m.with(Attribute::IceUfrag(ufrag.clone())).with(Attribute::IcePwd(pwd.clone()));
    }
    m = m.with(host(1, HOST_RTP_PRIORITY, a.ip, v.rtp_port, Transport::Udp));
    m = m.with(host(2, HOST_RTCP_PRIORITY, a.ip, v.rtcp_port, Transport::Udp));
    let keys = LocalAudio { keys: v.keys.clone(), ..a.clone() };
    m = lync_keys(m, &keys, answer_tag);
    m = m
        .with(Attribute::Rtcp(Rtcp { port: v.rtcp_port, connection: None }))
        .with(Attribute::RtcpFb(RtcpFb { payload: FbPayload::All, value: VIDEO_RTCP_FB.into() }))
        .with(Attribute::RtcpRsize)
        .with(Attribute::Label("main-video".into()))
        .with(Attribute::XSource("main-video".into()));
    if let Some((first, last)) = v.ssrc_range {
        m = m.with(Attribute::SsrcRange(SsrcRange { first, last }));
    }
    if a.direction != Direction::SendRecv {
        m = m.with(Attribute::Direction(a.direction));
    }
    m
}

/// The consumer side's video m-line: plain RTP/AVP H.264, RTCP on the next port.
pub fn skype_video(a: &LocalAudio, v: &LocalVideo) -> Media {
    let m = with_codecs(Media::new(MediaKind::Video, v.rtp_port, Proto::RtpAvp), &v.codecs);
    if v.rtp_port == 0 {
        return m;
    }
    m.with(Attribute::Direction(a.direction))
}

/// What one side needs from the other's video description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteVideo {
    /// 0 when the stream is declined (port 0).
    pub port: u16,
    /// Where RTP goes.
    pub rtp: SocketAddr,
    /// Where RTCP goes.
    pub rtcp: SocketAddr,
    /// `a=crypto` lines (tag, suite, base64 key||salt, has MKI), in order.
    pub cryptos: Vec<(u32, CryptoSuite, String, bool)>,
    /// The codecs, in order.
    pub codecs: Vec<Codec>,
    /// `x-ssrc-range`.
    pub ssrc_range: Option<(u32, u32)>,
}

/// Reads the first video section of `sdp`; `None` when there is none or it has no address.
pub fn remote_video(sdp: &Sdp) -> Option<RemoteVideo> {
    let m = sdp.media.iter().find(|m| m.kind == MediaKind::Video)?;
    let ip = m.connection.as_ref().or(sdp.connection.as_ref()).and_then(Connection::ip_addr)?;
    let udp_host = |component: u16| {
        m.candidates().into_iter().find_map(|c| match c {
            Candidate::Ice(c) if c.component == component && c.transport == Transport::Udp => {
                Some(SocketAddr::new(c.ip, c.port))
            }
            _ => None,
        })
    };
    let rtp = udp_host(1).unwrap_or(SocketAddr::new(ip, m.port));
    let rtcp = udp_host(2).unwrap_or(SocketAddr::new(ip, m.rtcp_port().unwrap_or(m.port.wrapping_add(1))));
    Some(RemoteVideo {
        port: m.port,
        rtp,
        rtcp,
        cryptos: m
            .cryptos()
            .into_iter()
            .map(|c| (c.tag, c.suite.clone(), c.key.key_salt.clone(), c.key.mki.is_some()))
            .collect(),
        codecs: m.codecs(),
        ssrc_range: m.ssrc_range().map(|r| (r.first, r.last)),
    })
}

/// What one side needs from the other's audio description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteAudio {
    /// Where RTP goes (the m-line port at the connection address).
    pub rtp: SocketAddr,
    /// Where RTCP goes (`a=rtcp`, else RTP port + 1).
    pub rtcp: SocketAddr,
    /// ICE credentials, when the description has them.
    pub ice: Option<(String, String)>,
    /// Host UDP candidates for RTP and RTCP, when offered.
    pub candidates: Option<(SocketAddr, SocketAddr)>,
    /// `a=crypto` lines (tag, suite, base64 key||salt, has MKI), in order.
    pub cryptos: Vec<(u32, CryptoSuite, String, bool)>,
    /// The codecs, in order.
    pub codecs: Vec<Codec>,
    /// Direction.
    pub direction: Direction,
    /// `x-ssrc-range`.
    pub ssrc_range: Option<(u32, u32)>,
    /// True for RTP/SAVP.
    pub secure: bool,
    /// True when the description is ICE-lite.
    pub ice_lite: bool,
}

/// Reads the first audio section of `sdp`; `None` when there is none or it has no address.
pub fn remote_audio(sdp: &Sdp) -> Option<RemoteAudio> {
    let m = sdp.media.iter().find(|m| m.kind == MediaKind::Audio)?;
    let ip = m.connection.as_ref().or(sdp.connection.as_ref()).and_then(Connection::ip_addr)?;
    let rtp = SocketAddr::new(ip, m.port);
    let rtcp = SocketAddr::new(ip, m.rtcp_port().unwrap_or(m.port.wrapping_add(1)));
    let udp_host = |component: u16| {
        m.candidates().into_iter().find_map(|c| match c {
            Candidate::Ice(c) if c.component == component && c.transport == Transport::Udp => {
                Some(SocketAddr::new(c.ip, c.port))
            }
            _ => None,
        })
    };
    let candidates = udp_host(1).zip(udp_host(2));
    let cryptos = m
        .cryptos()
        .into_iter()
        .map(|c| (c.tag, c.suite.clone(), c.key.key_salt.clone(), c.key.mki.is_some()))
        .collect();
    let ice_lite = sdp.attributes.iter().any(|a| matches!(a, Attribute::Other { name, .. } if name == "ice-lite"));
    Some(RemoteAudio {
        rtp,
        rtcp,
        ice: m.ice().map(|c| (c.ufrag, c.pwd)),
        candidates,
        cryptos,
        codecs: m.codecs(),
        direction: m.direction(),
        ssrc_range: m.ssrc_range().map(|r| (r.first, r.last)),
        secure: m.proto == Proto::RtpSavp,
        ice_lite,
    })
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn codecs() -> Vec<ProfileCodec> {
        vec![
            ProfileCodec { pt: 104, rtpmap: "SILK/16000".into(), fmtp: Some("useinbandfec=1; usedtx=0".into()) },
            ProfileCodec { pt: 0, rtpmap: "PCMU/8000".into(), fmtp: None },
            ProfileCodec { pt: 101, rtpmap: "telephone-event/8000".into(), fmtp: Some("0-16".into()) },
        ]
    }

    fn local() -> LocalAudio {
        LocalAudio {
            ip: IP,
            rtp_port: 5000,
            rtcp_port: 5003,
            ice: Some(("abcd".into(), "p".repeat(24))),
            keys: vec!["a".repeat(40), "b".repeat(40), "c".repeat(40)],
            ssrc_range: Some((77, 77)),
            direction: Direction::SendRecv,
            session_id: 0,
            version: 1,
            remote_candidates: None,
        }
    }

    #[test]
    fn the_lync_offer_is_two_parts_and_its_v19_part_reads_back_as_written() {
        let (ct, body) = lync_offer(&codecs(), &local(), "b1", ("dXNlcg", "cGFzcw"), ("1", "2"));
        assert_eq!(ct, "multipart/alternative;boundary=\"b1\"");
        let parts = alternative::read(&ct, &body).unwrap();
        assert_eq!(parts.iter().map(|p| p.fallback).collect::<Vec<_>>(), [true, false]);
        let text = parts[1].sdp.to_string();
        for line in [
            "m=audio 5000 RTP/SAVP 104 0 101",
            "a=candidate:1 1 UDP 2130706431 127.0.0.1 5000 typ host",
            "a=candidate:1 2 UDP 2130705918 127.0.0.1 5003 typ host",
            "a=candidate:1 1 TCP-ACT 1684797439 127.0.0.1 9 typ host",
            "a=cryptoscale:1 client AES_CM_128_HMAC_SHA1_80 inline:",
            "a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:cccc",
            "a=x-ssrc-range:77-77",
            "b=CT:99980",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        let r = remote_audio(&parts[1].sdp).unwrap();
        assert_eq!(r.rtp, "127.0.0.1:5000".parse().unwrap());
        assert_eq!(r.rtcp, "127.0.0.1:5003".parse().unwrap());
        assert_eq!(r.candidates, Some((r.rtp, r.rtcp)), "TCP-ACT candidates are not UDP hosts");
        assert_eq!(r.cryptos.iter().map(|c| (c.0, c.3)).collect::<Vec<_>>(), [(1, true), (2, true), (3, false)]);
        assert!(r.secure && !r.ice_lite);
        assert_eq!(r.ssrc_range, Some((77, 77)));
        assert!(parts[0].sdp.to_string().contains("a=candidate:dXNlcg 1 cGFzcw UDP 0.830 127.0.0.1 5000"));
    }

    #[test]
    fn the_lync_video_line_carries_h264_uc_keys_feedback_and_a_100_wide_range() {
        let v = LocalVideo {
            rtp_port: 6000,
            rtcp_port: 6001,
            ice: Some(("abcd".into(), "p".repeat(24))),
            keys: vec!["d".repeat(40), "e".repeat(40), "f".repeat(40)],
            ssrc_range: Some((1000, 1000 + VIDEO_SSRC_RANGE - 1)),
            codecs: crate::dialect::lync::LyncProfile::builtin().video_codecs,
        };
        let (ct, body) = lync_offer_with_video(
            &codecs(),
            &local(),
            Some(lync_video(&local(), &v, None)),
            "b1",
            ("u", "p"),
            ("1", "2"),
        );
        let parts = alternative::read(&ct, &body).unwrap();
        let text = parts[1].sdp.to_string();
        for line in [
            "m=video 6000 RTP/SAVP 122 121 123",
            "a=rtpmap:122 X-H264UC/90000",
            "a=fmtp:122 packetization-mode=1;mst-mode=NI-TC",
            "a=rtcp-fb:* x-message app send:src,x-pli recv:src,x-pli",
            "a=x-ssrc-range:1000-1099",
            "a=label:main-video",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("sprop-parameter-sets"));
        let r = remote_video(&parts[1].sdp).unwrap();
        assert_eq!((r.port, r.rtcp.port(), r.ssrc_range), (6000, 6001, Some((1000, 1099))));
        assert_eq!(r.codecs.iter().map(|c| c.pt).collect::<Vec<_>>(), [122, 121, 123]);
        assert_eq!(r.cryptos.len(), 3);
    }

    #[test]
    fn a_skype_description_is_plain_rtp_with_rtcp_on_the_next_port() {
        let mut a = local();
        a.direction = Direction::Inactive;
        let sdp = skype_audio("Skype call", &codecs(), &a);
        let r = remote_audio(&crate::sdp::parse(&sdp.to_bytes()).unwrap()).unwrap();
        assert_eq!(r.rtcp.port(), 5001);
        assert!(!r.secure && r.cryptos.is_empty() && r.ice.is_none());
        assert_eq!(r.direction, Direction::Inactive);
        assert!(codecs()[0].is(&r.codecs[0]) && !codecs()[1].is(&r.codecs[0]));
    }
}
