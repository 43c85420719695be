//! SDP on the two legs (flows.md "Audio calls"; PROTOCOL.md §2, §2.6): reading what Lync and
//! the consumer side offer or answer down to what the gateway needs, and writing the gateway's
//! own descriptions for each leg. Nothing of one leg's SDP is copied to the other: only the
//! codecs cross, renumbered (`codec.rs`). Pure functions over the shared SDP model.

use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::codec::{Offered, TE_FMTP};
use crate::gateway::Leg;
use crate::sdp::alternative::{self, OfferPart};
use crate::sdp::{
    Attribute, BwType, Candidate, Connection, Crypto, CryptoSuite, Direction, Draft6Candidate, EncryptionPolicy,
    FbPayload, IceCandidate, InlineKey, Media, MediaKind, Proto, Rtcp, RtcpFb, Sdp, SsrcRange,
};
use crate::sdp::{CandidateType, Transport};

/// Lync's conference-total bandwidth line (PROTOCOL.md §2.1).
const LYNC_CT: u64 = 99980;
/// Host candidate priorities as Lync writes them (PROTOCOL.md §2.3).
const HOST_RTP_PRIORITY: u32 = 2_130_706_431;
const HOST_RTCP_PRIORITY: u32 = 2_130_705_918;
/// The draft-6 q-value of a host candidate in the fallback part.
const DRAFT6_Q: &str = "0.830";
/// SRTP key lifetime the gateway writes (PROTOCOL.md §2.4).
const LIFETIME: &str = "2^31";
const PTIME: u32 = 20;
/// SRTP master key + salt length of AES_CM_128_HMAC_SHA1_80 (RFC 4568 §6.2.1).
pub(in crate::gateway) const KEY_SALT_LEN: usize = 30;

/// Why a media description cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::gateway) enum MediaRefusal {
    /// No usable `AES_CM_128_HMAC_SHA1_80` key without MKI, or encryption refused
    /// (PROTOCOL.md §2.4, req 21): 488 with 52017.
    Encryption,
    /// Unreadable SDP, no audio stream or no codec that crosses: 488 with the detail.
    Unsupported(String),
}

fn unsupported(detail: impl Into<String>) -> MediaRefusal {
    MediaRefusal::Unsupported(detail.into())
}

/// The Lync side's audio description (an offer, or an answer to the gateway's offer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::gateway) struct LyncMedia {
    /// Codecs that can cross, in Lync's order and numbers.
    pub offered: Offered,
    /// Lync's ICE username fragment (the second half of the USERNAME its checks carry).
    pub ufrag: Option<String>,
    /// Where Lync receives RTP until a check nominates a pair: its best UDP candidate for
    /// component 1 (or `c=` and the m-line port).
    pub rtp: SocketAddr,
    /// The same for RTCP (component 2, or `a=rtcp`, or port + 1).
    pub rtcp: SocketAddr,
    /// Tag of the crypto line the gateway answers (the first usable one).
    pub crypto_tag: u32,
    /// Lync's key and salt from that line (base64 of 30 bytes): Lync sends with it.
    pub key: String,
    /// Lync's `a=x-ssrc-range`.
    pub ssrc_range: Option<SsrcRange>,
    /// The stream's direction.
    pub direction: Direction,
}

/// The consumer side's audio description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::gateway) struct ConsumerMedia {
    /// Codecs that can cross, in the consumer's order and numbers.
    pub offered: Offered,
    /// Where it receives RTP.
    pub rtp: SocketAddr,
    /// Where it receives RTCP.
    pub rtcp: SocketAddr,
    /// The stream's direction.
    pub direction: Direction,
}

/// The gateway's own media identity on the Lync leg, fixed for the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::gateway) struct LocalLync {
    pub ip: IpAddr,
    pub rtp: u16,
    pub rtcp: u16,
    pub session_id: u64,
    /// ICE-lite credentials (4 and 24 characters).
    pub ufrag: String,
    pub pwd: String,
    /// Fresh SRTP key and salt (base64 of 30 bytes), never Lync's (req 20).
    pub key: String,
    /// The one SSRC the gateway sends towards Lync: its `x-ssrc-range` (size 1).
    pub ssrc: u32,
    /// The draft-6 username and password of the fallback part.
    pub draft6_user: String,
    pub draft6_pwd: String,
}

/// The gateway's own media identity on the consumer leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::gateway) struct LocalConsumer {
    pub ip: IpAddr,
    /// Even RTP port; RTCP is on the next one (RFC 3550 §11).
    pub rtp: u16,
    pub session_id: u64,
    /// The SSRC the gateway sends towards the consumer side.
    pub ssrc: u32,
}

/// The audio section of `sdp`, or why there is none to use.
fn audio(sdp: &Sdp) -> Result<&Media, MediaRefusal> {
    let m = sdp.first_media(&MediaKind::Audio).ok_or_else(|| unsupported("no m=audio stream"))?;
    if m.port == 0 {
        return Err(unsupported("the audio stream is disabled (port 0)"));
    }
    Ok(m)
}

/// `c=` of the media section, else of the session, as an IP.
fn connection_ip(sdp: &Sdp, m: &Media) -> Result<IpAddr, MediaRefusal> {
    m.connection
        .as_ref()
        .or(sdp.connection.as_ref())
        .and_then(Connection::ip_addr)
        .ok_or_else(|| unsupported("no c= line with an IP address"))
}

/// Chooses the SDP of a Lync INVITE or 2xx: the ICE v19 part of a `multipart/alternative`
/// body (the draft-6 fallback is ignored), or the one SDP of a plain body.
pub(in crate::gateway) fn pick_lync(content_type: Option<&str>, body: &[u8]) -> Result<Sdp, MediaRefusal> {
    let ct = content_type.ok_or_else(|| unsupported("no Content-Type: expected application/sdp"))?;
    let parts = alternative::read(ct, body).map_err(|e| unsupported(e.to_string()))?;
    parts
        .into_iter()
        .find(|p| !p.fallback)
        .map(|p| p.sdp)
        .ok_or_else(|| unsupported("only an ms-proxy-2007fallback (draft-6) part: the gateway speaks ICE v19"))
}

/// Reads Lync's audio description.
pub(in crate::gateway) fn read_lync(sdp: &Sdp) -> Result<LyncMedia, MediaRefusal> {
    let m = audio(sdp)?;
    let refused = m
        .attributes
        .iter()
        .chain(&sdp.attributes)
        .any(|a| matches!(a, Attribute::Encryption(EncryptionPolicy::Rejected)));
    // Packets carry no MKI (flows.md), so a line with one cannot be used; nor can a key that
    // is not 30 bytes of key and salt.
    let usable = |c: &&Crypto| {
        c.suite == CryptoSuite::AesCm128HmacSha1_80
            && c.key.mki.is_none()
            && STANDARD.decode(&c.key.key_salt).is_ok_and(|k| k.len() == KEY_SALT_LEN)
    };
    let crypto = m.attributes.iter().filter_map(|a| match a {
        Attribute::Crypto(c) => Some(c),
        _ => None,
    });
    let crypto = match crypto.clone().find(usable) {
        Some(c) if !refused => c,
        _ => return Err(MediaRefusal::Encryption),
    };
    if !matches!(m.proto, Proto::RtpSavp | Proto::RtpAvp) {
        return Err(unsupported(format!("m=audio transport `{}`: expected RTP/SAVP", m.proto)));
    }
    let offered = Offered::read(m, Leg::Enterprise);
    let ip = connection_ip(sdp, m)?;
    // Checks run on UDP only: TCP-ACT/TCP-PASS candidates are read and left aside.
    let best = |component: u16| {
        m.candidates()
            .into_iter()
            .filter_map(|c| match c {
                Candidate::Ice(c) if c.component == component && c.transport == Transport::Udp => Some(c),
                _ => None,
            })
            .max_by_key(|c| c.priority)
            .map(|c| SocketAddr::new(c.ip, c.port))
    };
    let rtcp_port = m.rtcp_port().unwrap_or(m.port);
    Ok(LyncMedia {
        offered,
        ufrag: m.ice().map(|i| i.ufrag),
        rtp: best(1).unwrap_or(SocketAddr::new(ip, m.port)),
        rtcp: best(2).unwrap_or(SocketAddr::new(ip, rtcp_port)),
        crypto_tag: crypto.tag,
        key: crypto.key.key_salt.clone(),
        ssrc_range: m.ssrc_range(),
        direction: m.direction(),
    })
}

/// Reads the consumer side's audio description from a body.
pub(in crate::gateway) fn read_consumer(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<ConsumerMedia, MediaRefusal> {
    let ct = content_type.unwrap_or_default();
    if !ct.split(';').next().is_some_and(|e| e.trim().eq_ignore_ascii_case("application/sdp")) {
        return Err(unsupported(format!("Content-Type `{ct}`: expected application/sdp")));
    }
    let sdp = Sdp::parse(body).map_err(|e| unsupported(e.to_string()))?;
    let m = audio(&sdp)?;
    if m.proto != Proto::RtpAvp {
        return Err(unsupported(format!("m=audio transport `{}`: expected RTP/AVP", m.proto)));
    }
    let ip = connection_ip(&sdp, m)?;
    Ok(ConsumerMedia {
        offered: Offered::read(m, Leg::Consumer),
        rtp: SocketAddr::new(ip, m.port),
        rtcp: SocketAddr::new(ip, m.rtcp_port().unwrap_or(m.port)),
        direction: m.direction(),
    })
}

/// H.264 UC on the Lync leg, and the number the gateway gives it when it offers
/// (PROTOCOL.md §1.7, req 25).
pub(in crate::gateway) const LYNC_H264: (&str, u32) = ("X-H264UC", 90_000);
pub(in crate::gateway) const LYNC_H264_PT: u8 = 122;
pub(in crate::gateway) const LYNC_H264_FMTP: &str = "packetization-mode=1;mst-mode=NI-TC";
/// Plain H.264 (RFC 6184) on the consumer leg, and the gateway's number for it there.
pub(in crate::gateway) const CONSUMER_H264: (&str, u32) = ("H264", 90_000);
pub(in crate::gateway) const CONSUMER_H264_PT: u8 = 96;
pub(in crate::gateway) const CONSUMER_H264_FMTP: &str = "packetization-mode=1";
/// The width of the gateway's video `x-ssrc-range` toward Lync (req 23).
pub(in crate::gateway) const VIDEO_RANGE: u32 = 100;
/// What Lync's video m-line says the gateway can send and receive (VSR, PLI).
const VIDEO_RTCP_FB: &str = "x-message app send:src,x-pli recv:src,x-pli";

/// A video m-line as the gateway reads it from either leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::gateway) enum VideoOffer {
    /// No m=video, or one with port 0.
    Absent,
    /// A video stream the gateway cannot carry; the reason goes in the trace (Warning).
    Declined { reason: String, formats: Vec<String> },
    /// H.264 (UC on the Lync leg) the gateway relays.
    H264(LegVideo),
}

/// One leg's H.264 stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::gateway) struct LegVideo {
    /// The codec's number on this leg.
    pub pt: u8,
    pub rtp: SocketAddr,
    pub rtcp: SocketAddr,
    /// Lync leg: the usable crypto line's tag and key.
    pub crypto: Option<(u32, String)>,
    pub ssrc_range: Option<SsrcRange>,
}

/// Reads the video m-line of `leg`'s SDP: H.264 UC on the Lync leg (`packetization-mode=1`,
/// an SDES key without MKI), plain H.264 mode 1 on the consumer leg.
pub(in crate::gateway) fn read_video(sdp: &Sdp, leg: Leg) -> VideoOffer {
    let Some(m) = sdp.first_media(&MediaKind::Video).filter(|m| m.port != 0) else { return VideoOffer::Absent };
    let formats = m.formats.clone();
    let want = match leg {
        Leg::Enterprise => LYNC_H264,
        Leg::Consumer => CONSUMER_H264,
    };
    let codecs = m.codecs();
    let mode1 = |f: &Option<String>| f.as_deref().is_some_and(|f| f.replace(' ', "").contains("packetization-mode=1"));
    let Some(codec) =
        codecs.iter().find(|c| c.name.eq_ignore_ascii_case(want.0) && c.clock == want.1 && mode1(&c.fmtp))
    else {
        let names: Vec<String> = codecs.iter().map(|c| format!("{}/{}", c.name, c.clock)).collect();
        let reason = format!(
            "video declined: the offer has {} but no {}/{} with packetization-mode=1; the gateway carries H.264 only",
            if names.is_empty() { "no codec".to_owned() } else { names.join(", ") },
            want.0,
            want.1
        );
        return VideoOffer::Declined { reason, formats };
    };
    let Ok(ip) = connection_ip(sdp, m) else {
        return VideoOffer::Declined { reason: "video declined: no c= address".into(), formats };
    };
    let best = |component: u16| {
        m.candidates()
            .into_iter()
            .filter_map(|c| match c {
                Candidate::Ice(c) if c.component == component && c.transport == Transport::Udp => Some(c),
                _ => None,
            })
            .max_by_key(|c| c.priority)
            .map(|c| SocketAddr::new(c.ip, c.port))
    };
    let rtcp_port = m.rtcp_port().unwrap_or(m.port.wrapping_add(1));
    let crypto = m
        .cryptos()
        .into_iter()
        .find(|c| {
            c.suite == CryptoSuite::AesCm128HmacSha1_80
                && c.key.mki.is_none()
                && STANDARD.decode(&c.key.key_salt).is_ok_and(|k| k.len() == KEY_SALT_LEN)
        })
        .map(|c| (c.tag, c.key.key_salt.clone()));
    if leg == Leg::Enterprise && crypto.is_none() {
        return VideoOffer::Declined {
            reason: "video declined: no usable SDES key on the video stream".into(),
            formats,
        };
    }
    VideoOffer::H264(LegVideo {
        pt: codec.pt,
        rtp: best(1).unwrap_or(SocketAddr::new(ip, m.port)),
        rtcp: best(2).unwrap_or(SocketAddr::new(ip, rtcp_port)),
        crypto,
        ssrc_range: m.ssrc_range(),
    })
}

/// The gateway's own video identity on both legs, fixed for the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::gateway) struct LocalVideo {
    pub lync_rtp: u16,
    pub lync_rtcp: u16,
    pub consumer_rtp: u16,
    /// Fresh SRTP key of the Lync video stream.
    pub key: String,
    /// First SSRC of the gateway's 100-wide range toward Lync.
    pub lync_ssrc: u32,
    pub consumer_ssrc: u32,
}

/// What the gateway's next SDP on each leg says about video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::gateway) enum VideoLine {
    /// Carried: the gateway's identity, the numbers on each leg and Lync's crypto tag.
    Carried { local: LocalVideo, lync_pt: u8, consumer_pt: u8, crypto_tag: u32 },
    /// Refused toward the offerer (port 0 with the offer's formats); nothing on the other leg.
    Refused { leg: Leg, formats: Vec<String> },
    /// Removed by a re-INVITE: port 0 on both legs, with each leg's number.
    Stopped { lync_pt: u8, consumer_pt: u8 },
}

impl VideoLine {
    /// The m-line of `leg`, if any.
    pub(in crate::gateway) fn media(
        &self,
        ip: IpAddr,
        leg: Leg,
        direction: Direction,
        ice: (&str, &str),
    ) -> Option<Media> {
        match self {
            Self::Refused { leg: refused, formats } if *refused == leg => {
                let proto = if leg == Leg::Enterprise { Proto::RtpSavp } else { Proto::RtpAvp };
                let mut m = Media::new(MediaKind::Video, 0, proto);
                m.formats = formats.clone();
                Some(m)
            }
            Self::Refused { .. } => None,
            Self::Stopped { lync_pt, consumer_pt } => {
                let (proto, pt) = match leg {
                    Leg::Enterprise => (Proto::RtpSavp, lync_pt),
                    Leg::Consumer => (Proto::RtpAvp, consumer_pt),
                };
                let mut m = Media::new(MediaKind::Video, 0, proto);
                m.formats = vec![pt.to_string()];
                Some(m)
            }
            Self::Carried { local, lync_pt, consumer_pt, crypto_tag } => Some(match leg {
                Leg::Enterprise => {
                    let mut m = Media::new(MediaKind::Video, local.lync_rtp, Proto::RtpSavp)
                        .with(Attribute::IceUfrag(ice.0.to_owned()))
                        .with(Attribute::IcePwd(ice.1.to_owned()))
                        .with(host(1, ip, local.lync_rtp, HOST_RTP_PRIORITY))
                        .with(host(2, ip, local.lync_rtcp, HOST_RTCP_PRIORITY))
                        .with(Attribute::Rtcp(Rtcp { port: local.lync_rtcp, connection: None }))
                        .with(crypto(*crypto_tag, &local.key))
                        .with_codec(*lync_pt, LYNC_H264.0, LYNC_H264.1, None, Some(LYNC_H264_FMTP))
                        .with(Attribute::RtcpFb(RtcpFb { payload: FbPayload::All, value: VIDEO_RTCP_FB.into() }))
                        .with(Attribute::RtcpRsize)
                        .with(Attribute::Label("main-video".into()))
                        .with(Attribute::XSource("main-video".into()))
                        .with(Attribute::SsrcRange(SsrcRange {
                            first: local.lync_ssrc,
                            last: local.lync_ssrc + VIDEO_RANGE - 1,
                        }));
                    if direction != Direction::SendRecv {
                        m = m.with(Attribute::Direction(direction));
                    }
                    m
                }
                Leg::Consumer => Media::new(MediaKind::Video, local.consumer_rtp, Proto::RtpAvp)
                    .with_codec(*consumer_pt, CONSUMER_H264.0, CONSUMER_H264.1, None, Some(CONSUMER_H264_FMTP))
                    .with(Attribute::Direction(direction)),
            }),
        }
    }
}

/// Adds the codecs of `pay` to `m` with the names and parameters of `leg`.
fn with_codecs(mut m: Media, pay: &Offered, leg: Leg) -> Media {
    for (codec, pt) in &pay.codecs {
        let (name, clock) = codec.rtpmap(leg);
        m = m.with_codec(*pt, name, clock, None, codec.fmtp(leg));
    }
    if let Some(te) = pay.te {
        m = m.with_codec(te, "telephone-event", 8000, None, Some(TE_FMTP));
    }
    m
}

fn lync_session(local: &LocalLync, version: u64) -> Sdp {
    Sdp::new(local.ip, local.session_id, version, "session")
        .with_connection(Connection::ip(local.ip))
        .with_bandwidth(BwType::Ct, LYNC_CT)
}

fn crypto(tag: u32, key: &str) -> Attribute {
    Attribute::Crypto(Crypto {
        tag,
        suite: CryptoSuite::AesCm128HmacSha1_80,
        key: InlineKey { key_salt: key.to_owned(), lifetime: Some(LIFETIME.to_owned()), mki: None },
        session_params: Vec::new(),
    })
}

fn host(component: u16, ip: IpAddr, port: u16, priority: u32) -> Attribute {
    Attribute::Candidate(Candidate::Ice(IceCandidate {
        foundation: "1".to_owned(),
        component,
        transport: Transport::Udp,
        priority,
        ip,
        port,
        kind: CandidateType::Host,
        related: None,
        extensions: Vec::new(),
    }))
}

/// The gateway's ICE v19 description towards Lync (an answer, or the ICE part of an offer):
/// ICE-lite at session level, host UDP candidates for both components, `a=rtcp`, one crypto
/// line with `tag` and the gateway's own key, its SSRC range of one.
pub(in crate::gateway) fn lync_sdp(
    local: &LocalLync,
    version: u64,
    pay: &Offered,
    crypto_tag: u32,
    direction: Direction,
) -> Sdp {
    let mut m = Media::new(MediaKind::Audio, local.rtp, Proto::RtpSavp)
        .with(Attribute::IceUfrag(local.ufrag.clone()))
        .with(Attribute::IcePwd(local.pwd.clone()))
        .with(host(1, local.ip, local.rtp, HOST_RTP_PRIORITY))
        .with(host(2, local.ip, local.rtcp, HOST_RTCP_PRIORITY))
        .with(Attribute::Rtcp(Rtcp { port: local.rtcp, connection: None }))
        .with(crypto(crypto_tag, &local.key));
    m = with_codecs(m, pay, Leg::Enterprise)
        .with(Attribute::SsrcRange(SsrcRange { first: local.ssrc, last: local.ssrc }))
        .with(Attribute::Ptime(PTIME));
    if direction != Direction::SendRecv {
        m = m.with(Attribute::Direction(direction));
    }
    lync_session(local, version).with(Attribute::Other { name: "ice-lite".to_owned(), value: None }).with_media(m)
}

/// The draft-6 (ICEv6) fallback part of the gateway's offer: the same stream and key, the
/// candidates in the draft-6 form, no ufrag/pwd lines.
fn lync_fallback_sdp(local: &LocalLync, version: u64, pay: &Offered) -> Sdp {
    let d6 = |component: u16, port: u16| {
        Attribute::Candidate(Candidate::Draft6(Draft6Candidate {
            username: local.draft6_user.clone(),
            component,
            password: local.draft6_pwd.clone(),
            transport: Transport::Udp,
            qvalue: DRAFT6_Q.to_owned(),
            ip: local.ip,
            port,
        }))
    };
    let m = Media::new(MediaKind::Audio, local.rtp, Proto::RtpSavp)
        .with(d6(1, local.rtp))
        .with(d6(2, local.rtcp))
        .with(Attribute::Rtcp(Rtcp { port: local.rtcp, connection: None }))
        .with(crypto(1, &local.key));
    let m = with_codecs(m, pay, Leg::Enterprise)
        .with(Attribute::SsrcRange(SsrcRange { first: local.ssrc, last: local.ssrc }))
        .with(Attribute::Ptime(PTIME));
    lync_session(local, version).with_media(m)
}

/// The gateway's two-part offer towards Lync (draft-6 fallback, then ICE v19), and the v19
/// SDP alone for a retry after 415.
pub(in crate::gateway) fn lync_offer(
    local: &LocalLync,
    pay: &Offered,
    video: Option<Media>,
    boundary: &str,
    content_ids: [String; 2],
) -> (alternative::Body, Sdp) {
    let mut ice = lync_sdp(local, 0, pay, 1, Direction::SendRecv);
    ice.media.extend(video);
    let [fallback_id, ice_id] = content_ids;
    let fallback = OfferPart { content_id: fallback_id, sdp: lync_fallback_sdp(local, 0, pay) };
    let body = alternative::write(boundary, &fallback, &OfferPart { content_id: ice_id, sdp: ice.clone() });
    (body, ice)
}

/// The gateway's description towards the consumer side (offer or answer): plain RTP/AVP, no
/// ICE, no crypto, RTCP on the next port.
pub(in crate::gateway) fn consumer_sdp(
    local: &LocalConsumer,
    version: u64,
    pay: &Offered,
    direction: Direction,
) -> Sdp {
    let m = with_codecs(Media::new(MediaKind::Audio, local.rtp, Proto::RtpAvp), pay, Leg::Consumer)
        .with(Attribute::Ptime(PTIME))
        .with(Attribute::Direction(direction));
    Sdp::new(local.ip, local.session_id, version, "Skype call").with_connection(Connection::ip(local.ip)).with_media(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::call::codec::AudioCodec;

    const LYNC_V19: &str = "v=0\r\no=- 0 1 IN IP4 10.0.0.5\r\ns=session\r\nc=IN IP4 10.0.0.5\r\nb=CT:99980\r\nt=0 0\r\n\
m=audio 5000 RTP/SAVP 104 9 101\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
a=candidate:1 1 TCP-ACT 1684797439 10.0.0.5 9 typ host\r\na=candidate:1 1 UDP 2130706431 10.0.0.5 5000 typ host\r\n\
a=candidate:1 2 UDP 2130705918 10.0.0.5 5001 typ host\r\n\
a=cryptoscale:1 client AES_CM_128_HMAC_SHA1_80 inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA|2^31|1:1\r\n\
a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB|2^31|1:1\r\n\
a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:Q0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0ND|2^31\r\n\
a=rtcp:5001\r\na=rtpmap:104 SILK/16000\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
a=x-ssrc-range:100-100\r\n";

    #[test]
    fn lync_media_takes_the_first_crypto_line_without_mki_and_udp_candidates() {
        let sdp = Sdp::parse(LYNC_V19.as_bytes()).unwrap();
        let m = read_lync(&sdp).unwrap();
        assert_eq!((m.crypto_tag, m.key.as_str()), (3, "Q0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0ND"));
        assert_eq!(m.rtp, "10.0.0.5:5000".parse().unwrap());
        assert_eq!(m.rtcp, "10.0.0.5:5001".parse().unwrap());
        assert_eq!(m.offered.codecs, vec![(AudioCodec::SilkWb, 104), (AudioCodec::G722, 9)]);
        assert_eq!(m.ufrag.as_deref(), Some("abcd"));
    }

    const LYNC_VIDEO: &str = "m=video 6000 RTP/SAVP 122 121\r\n\
a=candidate:1 1 UDP 2130706431 10.0.0.5 6000 typ host\r\na=candidate:1 2 UDP 2130705918 10.0.0.5 6001 typ host\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:Q0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0ND|2^31\r\n\
a=rtpmap:122 X-H264UC/90000\r\na=fmtp:122 packetization-mode=1;mst-mode=NI-TC\r\na=rtpmap:121 x-rtvc1/90000\r\n\
a=x-ssrc-range:200-299\r\n";

    #[test]
    fn lync_h264_uc_video_is_read_and_rtvideo_alone_is_declined_with_a_reason() {
        let sdp = Sdp::parse(format!("{LYNC_V19}{LYNC_VIDEO}").as_bytes()).unwrap();
        let VideoOffer::H264(v) = read_video(&sdp, Leg::Enterprise) else { panic!("H.264 UC not read") };
        assert_eq!((v.pt, v.rtp.port(), v.rtcp.port()), (122, 6000, 6001));
        assert_eq!(v.ssrc_range, Some(SsrcRange { first: 200, last: 299 }));
        assert_eq!(v.crypto.map(|c| c.0), Some(1));
        let rtvc1 = LYNC_VIDEO
            .replace("122 121", "121")
            .replace("a=rtpmap:122 X-H264UC/90000\r\na=fmtp:122 packetization-mode=1;mst-mode=NI-TC\r\n", "");
        let sdp = Sdp::parse(format!("{LYNC_V19}{rtvc1}").as_bytes()).unwrap();
        match read_video(&sdp, Leg::Enterprise) {
            VideoOffer::Declined { reason, formats } => {
                assert!(reason.contains("x-rtvc1/90000") && reason.contains("X-H264UC"), "{reason}");
                assert_eq!(formats, ["121"]);
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(read_video(&Sdp::parse(LYNC_V19.as_bytes()).unwrap(), Leg::Enterprise), VideoOffer::Absent);
    }

    #[test]
    fn an_offer_without_a_usable_key_is_an_encryption_refusal() {
        let plain = LYNC_V19.replace("crypto:3 ", "crypto:3 X").replace("RTP/SAVP", "RTP/AVP");
        let plain = plain.replace("|2^31\r\na=rtcp", "|2^31|2:1\r\na=rtcp");
        let sdp = Sdp::parse(plain.as_bytes()).unwrap();
        assert_eq!(read_lync(&sdp), Err(MediaRefusal::Encryption));
        let rejected = LYNC_V19.replace("a=rtcp:5001\r\n", "a=rtcp:5001\r\na=encryption:rejected\r\n");
        assert_eq!(read_lync(&Sdp::parse(rejected.as_bytes()).unwrap()), Err(MediaRefusal::Encryption));
    }
}
