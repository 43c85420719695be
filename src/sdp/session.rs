//! The session description model (RFC 8866 §5): session-level lines, media sections, and the
//! readers and builders agents and the gateway share. Lines of each kind keep the order they were
//! read in; kinds are written in the RFC 8866 order, which the parser enforces, so a parsed
//! description writes back byte for byte.

use std::fmt;
use std::net::IpAddr;

use super::attr::{Attribute, Crypto, Direction, Fmtp, MediaBw, Rtpmap, SsrcRange};
use super::candidate::Candidate;

/// Address type of `c=`/`o=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrType {
    /// `IP4`.
    Ip4,
    /// `IP6`.
    Ip6,
}

impl AddrType {
    fn token(self) -> &'static str {
        match self {
            Self::Ip4 => "IP4",
            Self::Ip6 => "IP6",
        }
    }

    /// The type of an IP address.
    pub fn of(ip: IpAddr) -> Self {
        if ip.is_ipv4() { Self::Ip4 } else { Self::Ip6 }
    }
}

/// `IN <IP4|IP6> <address>` of `c=` and `a=rtcp`. The address stays text: RFC 8866 allows a
/// host name or a multicast `addr/ttl` there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Address type.
    pub addr_type: AddrType,
    /// Address as written.
    pub address: String,
}

impl Connection {
    /// `IN IP4 <ip>` / `IN IP6 <ip>`.
    pub fn ip(ip: IpAddr) -> Self {
        Self { addr_type: AddrType::of(ip), address: ip.to_string() }
    }

    /// The address as an IP, when it is one.
    pub fn ip_addr(&self) -> Option<IpAddr> {
        self.address.parse().ok()
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        let mut t = s.split(' ');
        let (Some("IN"), Some(at), Some(address), None) = (t.next(), t.next(), t.next(), t.next()) else {
            return None;
        };
        let addr_type = match at {
            "IP4" => AddrType::Ip4,
            "IP6" => AddrType::Ip6,
            _ => return None,
        };
        (!address.is_empty()).then(|| Self { addr_type, address: address.to_owned() })
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IN {} {}", self.addr_type.token(), self.address)
    }
}

/// `o=<username> <sess-id> <sess-version> IN <addrtype> <address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Username (`-`).
    pub username: String,
    /// Session id.
    pub session_id: u64,
    /// Session version; incremented on every re-offer.
    pub session_version: u64,
    /// Address of the originator.
    pub connection: Connection,
}

/// Bandwidth modifier of `b=`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BwType {
    /// `CT` (conference total; Lync writes `b=CT:99980`).
    Ct,
    /// `AS`.
    As,
    /// `TIAS` (RFC 3890).
    Tias,
    /// Another modifier.
    Other(String),
}

/// `b=<type>:<value>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    /// Modifier.
    pub kind: BwType,
    /// Value (kbps, or bps for TIAS).
    pub value: u64,
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = match &self.kind {
            BwType::Ct => "CT",
            BwType::As => "AS",
            BwType::Tias => "TIAS",
            BwType::Other(s) => s,
        };
        write!(f, "{k}:{}", self.value)
    }
}

/// `t=<start> <stop>` with its `r=` lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Timing {
    /// Start (NTP seconds, 0 = unbounded).
    pub start: u64,
    /// Stop.
    pub stop: u64,
    /// `r=` lines after it, as written.
    pub repeats: Vec<String>,
}

/// A session-level line this model does not type (`u=`, `e=`, `p=`, `z=`, `k=`), kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    /// Type letter.
    pub kind: char,
    /// Text after `=`.
    pub value: String,
}

/// Media type of an `m=` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `audio`.
    Audio,
    /// `video`.
    Video,
    /// `message` (Lync IM sessions).
    Message,
    /// `application`.
    Application,
    /// Another media type.
    Other(String),
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Message => "message",
            Self::Application => "application",
            Self::Other(s) => s,
        })
    }
}

/// Transport protocol of an `m=` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Proto {
    /// `RTP/AVP`: plain RTP (Skype consumer leg).
    RtpAvp,
    /// `RTP/SAVP`: SRTP with SDES (Lync).
    RtpSavp,
    /// Another protocol (`sip`, `TCP/RTP/AVP`), kept.
    Other(String),
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RtpAvp => "RTP/AVP",
            Self::RtpSavp => "RTP/SAVP",
            Self::Other(s) => s,
        })
    }
}

/// One codec of a media section, resolved from the format list, `a=rtpmap` and `a=fmtp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// Payload type.
    pub pt: u8,
    /// Encoding name as written.
    pub name: String,
    /// RTP clock rate.
    pub clock: u32,
    /// Channels, when the rtpmap says.
    pub channels: Option<u8>,
    /// `a=fmtp` parameters, when present.
    pub fmtp: Option<String>,
}

/// Static payload types that need no rtpmap (RFC 3551 §6).
fn static_codec(pt: u8) -> Option<(&'static str, u32)> {
    Some(match pt {
        0 => ("PCMU", 8000),
        3 => ("GSM", 8000),
        4 => ("G723", 8000),
        8 => ("PCMA", 8000),
        9 => ("G722", 8000),
        13 => ("CN", 8000),
        18 => ("G729", 8000),
        _ => return None,
    })
}

/// ICE credentials of a media section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceCredentials {
    /// `a=ice-ufrag`.
    pub ufrag: String,
    /// `a=ice-pwd`.
    pub pwd: String,
}

/// One media section: `m=` and the lines up to the next `m=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Media type.
    pub kind: MediaKind,
    /// Port (0 = rejected/disabled).
    pub port: u16,
    /// `/<count>` after the port, when written.
    pub port_count: Option<u16>,
    /// Transport protocol.
    pub proto: Proto,
    /// Format list: payload types for RTP, free tokens otherwise (`m=message … sip null`).
    pub formats: Vec<String>,
    /// `i=`.
    pub info: Option<String>,
    /// `c=`.
    pub connection: Option<Connection>,
    /// `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `k=` (obsolete; kept).
    pub key: Option<String>,
    /// `a=` lines in order.
    pub attributes: Vec<Attribute>,
}

impl Media {
    /// An empty section: no formats, no attributes.
    pub fn new(kind: MediaKind, port: u16, proto: Proto) -> Self {
        Self {
            kind,
            port,
            port_count: None,
            proto,
            formats: Vec::new(),
            info: None,
            connection: None,
            bandwidths: Vec::new(),
            key: None,
            attributes: Vec::new(),
        }
    }

    /// Adds a payload type to the format list, with its `a=rtpmap` (and `a=fmtp` if given).
    pub fn with_codec(mut self, pt: u8, name: &str, clock: u32, channels: Option<u8>, fmtp: Option<&str>) -> Self {
        self.formats.push(pt.to_string());
        self.attributes.push(Attribute::Rtpmap(Rtpmap { pt, encoding: name.to_owned(), clock, channels }));
        if let Some(params) = fmtp {
            self.attributes.push(Attribute::Fmtp(Fmtp { pt, params: params.to_owned() }));
        }
        self
    }

    /// Adds a static payload type to the format list without an rtpmap.
    pub fn with_static(mut self, pt: u8) -> Self {
        self.formats.push(pt.to_string());
        self
    }

    /// Appends an attribute.
    pub fn with(mut self, attribute: Attribute) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// Sets `c=`.
    pub fn with_connection(mut self, connection: Connection) -> Self {
        self.connection = Some(connection);
        self
    }

    /// The format list as payload types (tokens that are not numbers are skipped).
    pub fn payload_types(&self) -> Vec<u8> {
        self.formats.iter().filter_map(|f| f.parse().ok()).collect()
    }

    /// Codecs in format-list order. A payload type with neither an rtpmap nor a static
    /// assignment (RFC 3551: 0, 3, 4, 8, 9, 13, 18) is left out; `formats` still has it.
    pub fn codecs(&self) -> Vec<Codec> {
        self.payload_types()
            .into_iter()
            .filter_map(|pt| {
                let fmtp = self.attributes.iter().find_map(|a| match a {
                    Attribute::Fmtp(f) if f.pt == pt => Some(f.params.clone()),
                    _ => None,
                });
                let map = self.attributes.iter().find_map(|a| match a {
                    Attribute::Rtpmap(r) if r.pt == pt => Some(r),
                    _ => None,
                });
                match map {
                    Some(r) => Some(Codec { pt, name: r.encoding.clone(), clock: r.clock, channels: r.channels, fmtp }),
                    None => static_codec(pt).map(|(name, clock)| Codec {
                        pt,
                        name: name.to_owned(),
                        clock,
                        channels: None,
                        fmtp,
                    }),
                }
            })
            .collect()
    }

    /// Direction; `sendrecv` when no direction attribute is present (RFC 8866 §6.7).
    pub fn direction(&self) -> Direction {
        self.attributes
            .iter()
            .find_map(|a| match a {
                Attribute::Direction(d) => Some(*d),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// `a=candidate` and `a=x-candidate-ipv6` values, in order.
    pub fn candidates(&self) -> Vec<&Candidate> {
        self.attributes
            .iter()
            .filter_map(|a| match a {
                Attribute::Candidate(c) | Attribute::CandidateIpv6(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    /// `a=crypto` and `a=cryptoscale` values (the crypto fields), in order.
    pub fn cryptos(&self) -> Vec<&Crypto> {
        self.attributes
            .iter()
            .filter_map(|a| match a {
                Attribute::Crypto(c) => Some(c),
                Attribute::CryptoScale(s) => Some(&s.crypto),
                _ => None,
            })
            .collect()
    }

    /// `a=x-ssrc-range`.
    pub fn ssrc_range(&self) -> Option<SsrcRange> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::SsrcRange(r) => Some(*r),
            _ => None,
        })
    }

    /// Where RTCP goes: the `a=rtcp` port, the media port with `a=rtcp-mux`, else media port + 1
    /// (RFC 3550 §11). `None` for a disabled section (port 0).
    pub fn rtcp_port(&self) -> Option<u16> {
        if self.port == 0 {
            return None;
        }
        let explicit = self.attributes.iter().find_map(|a| match a {
            Attribute::Rtcp(r) => Some(r.port),
            _ => None,
        });
        let mux = self.attributes.contains(&Attribute::RtcpMux);
        explicit.or(mux.then_some(self.port)).or(self.port.checked_add(1))
    }

    /// `a=ice-ufrag` and `a=ice-pwd`, when both are present.
    pub fn ice(&self) -> Option<IceCredentials> {
        let ufrag = self.attributes.iter().find_map(|a| match a {
            Attribute::IceUfrag(u) => Some(u.clone()),
            _ => None,
        })?;
        let pwd = self.attributes.iter().find_map(|a| match a {
            Attribute::IcePwd(p) => Some(p.clone()),
            _ => None,
        })?;
        Some(IceCredentials { ufrag, pwd })
    }
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    /// `o=`.
    pub origin: Origin,
    /// `s=`.
    pub name: String,
    /// `i=`.
    pub info: Option<String>,
    /// `u=`, `e=`, `p=`, `z=`, `k=` lines, kept in order.
    pub other: Vec<RawLine>,
    /// `c=`.
    pub connection: Option<Connection>,
    /// `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines (at least one).
    pub timing: Vec<Timing>,
    /// Session-level `a=` lines in order.
    pub attributes: Vec<Attribute>,
    /// Media sections in order.
    pub media: Vec<Media>,
}

impl Sdp {
    /// `v=0`, `o=- <id> <version> IN IP4 <ip>`, `s=<name>`, `t=0 0`, nothing else.
    pub fn new(origin_ip: IpAddr, session_id: u64, session_version: u64, name: &str) -> Self {
        Self {
            origin: Origin {
                username: "-".to_owned(),
                session_id,
                session_version,
                connection: Connection::ip(origin_ip),
            },
            name: name.to_owned(),
            info: None,
            other: Vec::new(),
            connection: None,
            bandwidths: Vec::new(),
            timing: vec![Timing::default()],
            attributes: Vec::new(),
            media: Vec::new(),
        }
    }

    /// Sets `c=`.
    pub fn with_connection(mut self, connection: Connection) -> Self {
        self.connection = Some(connection);
        self
    }

    /// Appends a `b=` line.
    pub fn with_bandwidth(mut self, kind: BwType, value: u64) -> Self {
        self.bandwidths.push(Bandwidth { kind, value });
        self
    }

    /// Appends a session-level attribute.
    pub fn with(mut self, attribute: Attribute) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// Appends a media section.
    pub fn with_media(mut self, media: Media) -> Self {
        self.media.push(media);
        self
    }

    /// Increments the `o=` session version, as every re-offer must (RFC 3264 §8).
    pub fn bump_version(&mut self) {
        self.origin.session_version = self.origin.session_version.wrapping_add(1);
    }

    /// Session-level `a=x-mediabw` values.
    pub fn media_bws(&self) -> Vec<&MediaBw> {
        self.attributes
            .iter()
            .filter_map(|a| match a {
                Attribute::MediaBw(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    /// The first media section of a kind.
    pub fn first_media(&self, kind: &MediaKind) -> Option<&Media> {
        self.media.iter().find(|m| &m.kind == kind)
    }

    /// The description as CRLF-terminated lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

fn raw(f: &mut fmt::Formatter<'_>, other: &[RawLine], kinds: &[char]) -> fmt::Result {
    for k in kinds {
        for l in other.iter().filter(|l| l.kind == *k) {
            write!(f, "{}={}\r\n", l.kind, l.value)?;
        }
    }
    Ok(())
}

impl fmt::Display for Sdp {
    /// Writes lines in RFC 8866 order, CRLF-terminated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        f.write_str("v=0\r\n")?;
        write!(f, "o={} {} {} {}\r\n", o.username, o.session_id, o.session_version, o.connection)?;
        write!(f, "s={}\r\n", self.name)?;
        if let Some(i) = &self.info {
            write!(f, "i={i}\r\n")?;
        }
        raw(f, &self.other, &['u', 'e', 'p'])?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        for b in &self.bandwidths {
            write!(f, "b={b}\r\n")?;
        }
        for t in &self.timing {
            write!(f, "t={} {}\r\n", t.start, t.stop)?;
            for r in &t.repeats {
                write!(f, "r={r}\r\n")?;
            }
        }
        raw(f, &self.other, &['z', 'k'])?;
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        for m in &self.media {
            write!(f, "m={} {}", m.kind, m.port)?;
            if let Some(n) = m.port_count {
                write!(f, "/{n}")?;
            }
            write!(f, " {}", m.proto)?;
            for fmt in &m.formats {
                write!(f, " {fmt}")?;
            }
            f.write_str("\r\n")?;
            if let Some(i) = &m.info {
                write!(f, "i={i}\r\n")?;
            }
            if let Some(c) = &m.connection {
                write!(f, "c={c}\r\n")?;
            }
            for b in &m.bandwidths {
                write!(f, "b={b}\r\n")?;
            }
            if let Some(k) = &m.key {
                write!(f, "k={k}\r\n")?;
            }
            for a in &m.attributes {
                write!(f, "a={a}\r\n")?;
            }
        }
        Ok(())
    }
}
