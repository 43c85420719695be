//! `a=` attributes, typed where Lync, Skype or the gateway read them ([PROTOCOL.md §2],
//! [MS-SDPEXT]); everything else is kept as a generic name/value so nothing is lost. Each typed
//! value writes back exactly as it was read: free-form tails (fmtp parameters, rtcp-fb values,
//! x-caps lists) stay text.

use std::fmt;

use super::candidate::{Candidate, RemoteCandidate};
use super::session::Connection;

/// Media direction (RFC 8866 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `sendrecv` (the default when absent).
    #[default]
    SendRecv,
    /// `sendonly`.
    SendOnly,
    /// `recvonly`.
    RecvOnly,
    /// `inactive` (Lync hold, PROTOCOL.md §1.8).
    Inactive,
}

impl Direction {
    fn token(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }
}

/// `a=encryption:` policy ([MS-SDP] §3.1.5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncryptionPolicy {
    /// `required`.
    Required,
    /// `optional`.
    Optional,
    /// `rejected`.
    Rejected,
}

/// SRTP crypto suite of `a=crypto` (RFC 4568 §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CryptoSuite {
    /// `AES_CM_128_HMAC_SHA1_80`, the only suite Lync allows.
    AesCm128HmacSha1_80,
    /// `AES_CM_128_HMAC_SHA1_32`.
    AesCm128HmacSha1_32,
    /// Any other suite name, kept.
    Other(String),
}

impl CryptoSuite {
    fn parse(s: &str) -> Self {
        match s {
            "AES_CM_128_HMAC_SHA1_80" => Self::AesCm128HmacSha1_80,
            "AES_CM_128_HMAC_SHA1_32" => Self::AesCm128HmacSha1_32,
            _ => Self::Other(s.to_owned()),
        }
    }
}

impl fmt::Display for CryptoSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Self::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            Self::Other(s) => s,
        })
    }
}

/// An `inline:` key (RFC 4568 §6.1): `inline:<base64 key||salt>[|<lifetime>][|<mki>:<length>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineKey {
    /// Base64 of the 30-byte master key and salt.
    pub key_salt: String,
    /// Lifetime as written (`2^31`).
    pub lifetime: Option<String>,
    /// MKI and its length as written (`1:1`).
    pub mki: Option<String>,
}

/// An `a=crypto` value: `<tag> <suite> <key-params> [session params]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    /// Tag, unique across `a=crypto` and `a=cryptoscale`.
    pub tag: u32,
    /// Suite.
    pub suite: CryptoSuite,
    /// The one inline key.
    pub key: InlineKey,
    /// Session parameters, space-separated, as written.
    pub session_params: Vec<String>,
}

impl Crypto {
    fn parse_fields(t: &[&str]) -> Result<Self, &'static str> {
        let [tag, suite, key, params @ ..] = t else {
            return Err("`<tag> <suite> inline:<key>[|<lifetime>][|<mki>]`");
        };
        let tag = tag.parse().map_err(|_| "a numeric crypto tag")?;
        let Some(inline) = key.strip_prefix("inline:") else {
            return Err("crypto key params starting `inline:`");
        };
        let mut parts = inline.split('|');
        let key_salt = parts.next().unwrap_or_default();
        if key_salt.is_empty() || !key_salt.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)) {
            return Err("a base64 inline key");
        }
        let (mut lifetime, mut mki) = (None, None);
        for p in parts {
            // RFC 4568: the MKI is the field with a colon; a lifetime never has one.
            // A lifetime after the MKI is out of order.
            let late_lifetime = mki.is_some() && !p.contains(':');
            let slot = if p.contains(':') { &mut mki } else { &mut lifetime };
            if p.is_empty() || slot.is_some() || late_lifetime {
                return Err("`inline:<key>[|<lifetime>][|<mki>:<length>]`");
            }
            *slot = Some(p.to_owned());
        }
        let key = InlineKey { key_salt: key_salt.to_owned(), lifetime, mki };
        let session_params = params.iter().map(|s| (*s).to_owned()).collect();
        Ok(Self { tag, suite: CryptoSuite::parse(suite), key, session_params })
    }
}

impl fmt::Display for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} inline:{}", self.tag, self.suite, self.key.key_salt)?;
        if let Some(l) = &self.key.lifetime {
            write!(f, "|{l}")?;
        }
        if let Some(m) = &self.key.mki {
            write!(f, "|{m}")?;
        }
        for p in &self.session_params {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

/// Role field of `a=cryptoscale` ([MS-SDPEXT] §3.1.5.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ScaleRole {
    /// `client`.
    Client,
    /// `server`.
    Server,
    /// Another token, kept.
    Other(String),
}

impl fmt::Display for ScaleRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Client => "client",
            Self::Server => "server",
            Self::Other(s) => s,
        })
    }
}

/// An `a=cryptoscale` value: like `a=crypto` with a role after the tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoScale {
    /// Role (`client`).
    pub role: ScaleRole,
    /// The crypto fields.
    pub crypto: Crypto,
}

/// `a=x-ssrc-range:<first>-<last>` ([MS-SDPEXT] §3.1.5.31).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SsrcRange {
    /// First SSRC.
    pub first: u32,
    /// Last SSRC, inclusive.
    pub last: u32,
}

impl SsrcRange {
    /// True for a reversed range, which holds no SSRC.
    pub fn is_empty(&self) -> bool {
        self.last < self.first
    }

    /// Number of SSRCs in the range (1 for audio, 100 for video; `a-a` holds one).
    pub fn len(&self) -> u64 {
        if self.is_empty() { 0 } else { u64::from(self.last) - u64::from(self.first) + 1 }
    }

    /// Whether `ssrc` is inside.
    pub fn contains(&self, ssrc: u32) -> bool {
        (self.first..=self.last).contains(&ssrc)
    }
}

/// Payload type of `a=rtcp-fb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FbPayload {
    /// `*`: every format.
    All,
    /// One payload type.
    Pt(u8),
}

/// `a=rtcp-fb:<pt|*> <value>` (RFC 4585 §4.2), value kept as text (`x-message app send:dsh recv:dsh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpFb {
    /// Which formats.
    pub payload: FbPayload,
    /// Feedback type and parameters.
    pub value: String,
}

/// `a=rtcp:<port> [IN IP4 <addr>]` (RFC 3605).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtcp {
    /// RTCP port.
    pub port: u16,
    /// Optional address.
    pub connection: Option<Connection>,
}

/// `a=x-mediabw:<label> send=<n>;recv=<n>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaBw {
    /// Stream label (`main-video`).
    pub label: String,
    /// Send bandwidth (kbps).
    pub send: u64,
    /// Receive bandwidth (kbps).
    pub recv: u64,
}

/// `a=x-caps:<pt> <capability list>`, the list kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XCaps {
    /// Payload type the capabilities are for (121, RTVideo).
    pub pt: u8,
    /// `<id>:<w>:<h>:<fps>:<bps>:<flag>;…` as written.
    pub caps: String,
}

/// `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtpmap {
    /// Payload type.
    pub pt: u8,
    /// Encoding name as written (`SILK`, `X-H264UC`).
    pub encoding: String,
    /// Clock rate.
    pub clock: u32,
    /// Channels, when written.
    pub channels: Option<u8>,
}

/// `a=fmtp:<pt> <params>`, parameters kept as text (`useinbandfec=1; usedtx=0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmtp {
    /// Payload type.
    pub pt: u8,
    /// Parameters.
    pub params: String,
}

/// One `a=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// `a=candidate`.
    Candidate(Candidate),
    /// `a=x-candidate-ipv6` (same grammar as `a=candidate`).
    CandidateIpv6(Candidate),
    /// `a=ice-ufrag`.
    IceUfrag(String),
    /// `a=ice-pwd`.
    IcePwd(String),
    /// `a=remote-candidates` (MS-ICE2 re-offer).
    RemoteCandidates(Vec<RemoteCandidate>),
    /// `a=remote-candidate:<username>` (draft-6 re-offer).
    RemoteCandidate(String),
    /// `a=crypto`.
    Crypto(Crypto),
    /// `a=cryptoscale`.
    CryptoScale(CryptoScale),
    /// `a=x-ssrc-range`.
    SsrcRange(SsrcRange),
    /// `a=rtcp-fb`.
    RtcpFb(RtcpFb),
    /// `a=rtcp`.
    Rtcp(Rtcp),
    /// `a=rtcp-mux`.
    RtcpMux,
    /// `a=rtcp-rsize`.
    RtcpRsize,
    /// `a=label`.
    Label(String),
    /// `a=x-source`.
    XSource(String),
    /// `a=x-mediabw`.
    MediaBw(MediaBw),
    /// `a=x-devicecaps:<list>` (`audio:send,recv;video:send,recv`), kept as text.
    DeviceCaps(String),
    /// `a=x-caps`.
    XCaps(XCaps),
    /// `a=rtpmap`.
    Rtpmap(Rtpmap),
    /// `a=fmtp`.
    Fmtp(Fmtp),
    /// `a=ptime` (ms).
    Ptime(u32),
    /// `a=maxptime` (ms).
    MaxPtime(u32),
    /// `a=sendrecv|sendonly|recvonly|inactive`.
    Direction(Direction),
    /// `a=encryption`.
    Encryption(EncryptionPolicy),
    /// `a=accept-types:<type> …`.
    AcceptTypes(Vec<String>),
    /// Any other attribute.
    Other {
        /// Attribute name.
        name: String,
        /// Value after the colon, if there is one.
        value: Option<String>,
    },
}

pub(crate) fn num<T: std::str::FromStr>(s: &str, expected: &'static str) -> Result<T, &'static str> {
    // `u8::from_str` accepts a leading `+`; SDP numbers never have one, and it would not round-trip.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(expected);
    }
    s.parse().map_err(|_| expected)
}

fn need<'a>(value: Option<&'a str>, expected: &'static str) -> Result<&'a str, &'static str> {
    value.filter(|v| !v.is_empty()).ok_or(expected)
}

impl Attribute {
    /// Parses the text after `a=`; the error says what was expected.
    pub(crate) fn parse(text: &str) -> Result<Self, &'static str> {
        let (name, value) = match text.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (text, None),
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("an attribute name");
        }
        Ok(match (name, value) {
            ("candidate", v) => Self::Candidate(Candidate::parse(need(v, "a candidate value")?)?),
            ("x-candidate-ipv6", v) => Self::CandidateIpv6(Candidate::parse(need(v, "a candidate value")?)?),
            ("ice-ufrag", v) => Self::IceUfrag(need(v, "an ICE username fragment")?.to_owned()),
            ("ice-pwd", v) => Self::IcePwd(need(v, "an ICE password")?.to_owned()),
            ("remote-candidates", v) => {
                Self::RemoteCandidates(RemoteCandidate::parse_list(need(v, "remote candidates")?)?)
            }
            ("remote-candidate", v) => Self::RemoteCandidate(need(v, "a draft-6 candidate username")?.to_owned()),
            ("crypto", v) => {
                let t: Vec<&str> = need(v, "a crypto value")?.split(' ').collect();
                Self::Crypto(Crypto::parse_fields(&t)?)
            }
            ("cryptoscale", v) => {
                let t: Vec<&str> = need(v, "a cryptoscale value")?.split(' ').collect();
                if t.len() < 4 {
                    return Err("`<tag> <role> <suite> inline:<key>…`");
                }
                let role = match t[1] {
                    "client" => ScaleRole::Client,
                    "server" => ScaleRole::Server,
                    r => ScaleRole::Other(r.to_owned()),
                };
                let fields: Vec<&str> = [t[0]].into_iter().chain(t[2..].iter().copied()).collect();
                Self::CryptoScale(CryptoScale { role, crypto: Crypto::parse_fields(&fields)? })
            }
            ("x-ssrc-range", v) => {
                const E: &str = "`<first>-<last>` SSRC range";
                let (a, b) = need(v, E)?.split_once('-').ok_or(E)?;
                let (first, last) = (num(a, E)?, num(b, E)?);
                if first > last {
                    return Err(E);
                }
                Self::SsrcRange(SsrcRange { first, last })
            }
            ("rtcp-fb", v) => {
                const E: &str = "`<pt|*> <feedback>`";
                let (pt, value) = need(v, E)?.split_once(' ').ok_or(E)?;
                let payload = if pt == "*" { FbPayload::All } else { FbPayload::Pt(num(pt, E)?) };
                if value.is_empty() {
                    return Err(E);
                }
                Self::RtcpFb(RtcpFb { payload, value: value.to_owned() })
            }
            ("rtcp", v) => {
                const E: &str = "`<port> [IN IP4 <address>]`";
                let v = need(v, E)?;
                let (port, conn) = match v.split_once(' ') {
                    Some((p, c)) => (p, Some(Connection::parse(c).ok_or(E)?)),
                    None => (v, None),
                };
                Self::Rtcp(Rtcp { port: num(port, E)?, connection: conn })
            }
            ("rtcp-mux", None) => Self::RtcpMux,
            ("rtcp-rsize", None) => Self::RtcpRsize,
            ("label", v) => Self::Label(need(v, "a label")?.to_owned()),
            ("x-source", v) => Self::XSource(need(v, "a source label")?.to_owned()),
            ("x-mediabw", v) => {
                const E: &str = "`<label> send=<n>;recv=<n>`";
                let (label, bw) = need(v, E)?.split_once(' ').ok_or(E)?;
                let (send, recv) = bw.split_once(';').ok_or(E)?;
                let send = num(send.strip_prefix("send=").ok_or(E)?, E)?;
                let recv = num(recv.strip_prefix("recv=").ok_or(E)?, E)?;
                if label.is_empty() {
                    return Err(E);
                }
                Self::MediaBw(MediaBw { label: label.to_owned(), send, recv })
            }
            ("x-devicecaps", v) => Self::DeviceCaps(need(v, "device capabilities")?.to_owned()),
            ("x-caps", v) => {
                const E: &str = "`<pt> <capabilities>`";
                let (pt, caps) = need(v, E)?.split_once(' ').ok_or(E)?;
                Self::XCaps(XCaps { pt: num(pt, E)?, caps: need(Some(caps), E)?.to_owned() })
            }
            ("rtpmap", v) => {
                const E: &str = "`<pt> <encoding>/<clock>[/<channels>]`";
                let (pt, map) = need(v, E)?.split_once(' ').ok_or(E)?;
                let mut f = map.split('/');
                let encoding = need(f.next(), E)?.to_owned();
                let clock = num(f.next().ok_or(E)?, E)?;
                let channels = f.next().map(|c| num(c, E)).transpose()?;
                if f.next().is_some() || encoding.contains(' ') {
                    return Err(E);
                }
                Self::Rtpmap(Rtpmap { pt: num(pt, E)?, encoding, clock, channels })
            }
            ("fmtp", v) => {
                const E: &str = "`<pt> <parameters>`";
                let (pt, params) = need(v, E)?.split_once(' ').ok_or(E)?;
                Self::Fmtp(Fmtp { pt: num(pt, E)?, params: params.to_owned() })
            }
            ("ptime", v) => Self::Ptime(num(need(v, "a ptime")?, "a ptime in milliseconds")?),
            ("maxptime", v) => Self::MaxPtime(num(need(v, "a maxptime")?, "a maxptime in milliseconds")?),
            ("sendrecv", None) => Self::Direction(Direction::SendRecv),
            ("sendonly", None) => Self::Direction(Direction::SendOnly),
            ("recvonly", None) => Self::Direction(Direction::RecvOnly),
            ("inactive", None) => Self::Direction(Direction::Inactive),
            ("encryption", v) => Self::Encryption(match v {
                Some("required") => EncryptionPolicy::Required,
                Some("optional") => EncryptionPolicy::Optional,
                Some("rejected") => EncryptionPolicy::Rejected,
                _ => return Err("encryption required, optional or rejected"),
            }),
            ("accept-types", v) => {
                let v = need(v, "media types")?;
                if v.split(' ').any(str::is_empty) {
                    return Err("media types separated by single spaces");
                }
                Self::AcceptTypes(v.split(' ').map(str::to_owned).collect())
            }
            (name, value) => Self::Other { name: name.to_owned(), value: value.map(str::to_owned) },
        })
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Candidate(c) => write!(f, "candidate:{c}"),
            Self::CandidateIpv6(c) => write!(f, "x-candidate-ipv6:{c}"),
            Self::IceUfrag(u) => write!(f, "ice-ufrag:{u}"),
            Self::IcePwd(p) => write!(f, "ice-pwd:{p}"),
            Self::RemoteCandidates(list) => {
                f.write_str("remote-candidates:")?;
                for (i, c) in list.iter().enumerate() {
                    write!(f, "{}{c}", if i == 0 { "" } else { " " })?;
                }
                Ok(())
            }
            Self::RemoteCandidate(u) => write!(f, "remote-candidate:{u}"),
            Self::Crypto(c) => write!(f, "crypto:{c}"),
            Self::CryptoScale(s) => {
                let c = &s.crypto;
                // The role sits between the tag and the suite: write the crypto text around it.
                let text = c.to_string();
                let rest = text.split_once(' ').map_or("", |(_, r)| r);
                write!(f, "cryptoscale:{} {} {rest}", c.tag, s.role)
            }
            Self::SsrcRange(r) => write!(f, "x-ssrc-range:{}-{}", r.first, r.last),
            Self::RtcpFb(fb) => match fb.payload {
                FbPayload::All => write!(f, "rtcp-fb:* {}", fb.value),
                FbPayload::Pt(pt) => write!(f, "rtcp-fb:{pt} {}", fb.value),
            },
            Self::Rtcp(r) => match &r.connection {
                Some(c) => write!(f, "rtcp:{} {c}", r.port),
                None => write!(f, "rtcp:{}", r.port),
            },
            Self::RtcpMux => f.write_str("rtcp-mux"),
            Self::RtcpRsize => f.write_str("rtcp-rsize"),
            Self::Label(l) => write!(f, "label:{l}"),
            Self::XSource(s) => write!(f, "x-source:{s}"),
            Self::MediaBw(m) => write!(f, "x-mediabw:{} send={};recv={}", m.label, m.send, m.recv),
            Self::DeviceCaps(c) => write!(f, "x-devicecaps:{c}"),
            Self::XCaps(c) => write!(f, "x-caps:{} {}", c.pt, c.caps),
            Self::Rtpmap(r) => {
                write!(f, "rtpmap:{} {}/{}", r.pt, r.encoding, r.clock)?;
                match r.channels {
                    Some(ch) => write!(f, "/{ch}"),
                    None => Ok(()),
                }
            }
            Self::Fmtp(p) => write!(f, "fmtp:{} {}", p.pt, p.params),
            Self::Ptime(p) => write!(f, "ptime:{p}"),
            Self::MaxPtime(p) => write!(f, "maxptime:{p}"),
            Self::Direction(d) => f.write_str(d.token()),
            Self::Encryption(e) => f.write_str(match e {
                EncryptionPolicy::Required => "encryption:required",
                EncryptionPolicy::Optional => "encryption:optional",
                EncryptionPolicy::Rejected => "encryption:rejected",
            }),
            Self::AcceptTypes(t) => write!(f, "accept-types:{}", t.join(" ")),
            Self::Other { name, value: Some(v) } => write!(f, "{name}:{v}"),
            Self::Other { name, value: None } => f.write_str(name),
        }
    }
}
