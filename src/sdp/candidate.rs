//! ICE candidates in the two forms Lync speaks ([PROTOCOL.md §2.3]): MS-ICE2 ("ICE v19", RFC
//! 5245 grammar with `TCP-ACT`/`TCP-PASS` transports) in the ICE part of an offer, and ICEv6
//! (OCS 2007 draft-6: username, password and a `0.<q>` priority on each line) in the
//! `ms-proxy-2007fallback` part. Also `a=remote-candidates` of the post-check re-offer.

use std::fmt;
use std::net::IpAddr;

use super::attr::num;

/// Transport token of a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// `UDP`.
    Udp,
    /// `TCP` (draft-6 form).
    Tcp,
    /// `TCP-ACT`: MS-ICE2 active TCP.
    TcpAct,
    /// `TCP-PASS`: MS-ICE2 passive TCP.
    TcpPass,
}

impl Transport {
    fn parse(s: &str) -> Option<Self> {
        // Case-insensitive: RFC 5245 transport tokens are, and SIPE writes both cases.
        Some(match s.to_ascii_uppercase().as_str() {
            "UDP" => Self::Udp,
            "TCP" => Self::Tcp,
            "TCP-ACT" => Self::TcpAct,
            "TCP-PASS" => Self::TcpPass,
            _ => return None,
        })
    }

    /// The token as written in SDP.
    pub fn token(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::TcpAct => "TCP-ACT",
            Self::TcpPass => "TCP-PASS",
        }
    }
}

/// `typ` of an MS-ICE2 candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidateType {
    /// `host`.
    Host,
    /// `srflx`.
    Srflx,
    /// `relay`.
    Relay,
    /// `prflx`.
    Prflx,
}

impl CandidateType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "host" => Self::Host,
            "srflx" => Self::Srflx,
            "relay" => Self::Relay,
            "prflx" => Self::Prflx,
            _ => return None,
        })
    }

    /// The token as written in SDP.
    pub fn token(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Srflx => "srflx",
            Self::Relay => "relay",
            Self::Prflx => "prflx",
        }
    }
}

/// An MS-ICE2 candidate:
/// `<foundation> <component> <transport> <priority> <ip> <port> typ <type> [raddr <ip> rport <port>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceCandidate {
    /// Foundation token.
    pub foundation: String,
    /// 1 = RTP, 2 = RTCP.
    pub component: u16,
    /// Transport.
    pub transport: Transport,
    /// Priority.
    pub priority: u32,
    /// Address. IPv6 is written in its canonical text form.
    pub ip: IpAddr,
    /// Port.
    pub port: u16,
    /// Candidate type.
    pub kind: CandidateType,
    /// `raddr`/`rport` of a reflexive or relayed candidate.
    pub related: Option<(IpAddr, u16)>,
    /// Extension tokens after the related address (RFC 5245 `extension-att-name/value`), kept
    /// so nothing is lost.
    pub extensions: Vec<String>,
}

/// An ICEv6 (draft-6) candidate: `<username> <component> <password> <transport> 0.<q> <ip> <port>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft6Candidate {
    /// Username fragment (base64, unpadded).
    pub username: String,
    /// 1 = RTP, 2 = RTCP.
    pub component: u16,
    /// Password (base64, unpadded).
    pub password: String,
    /// `UDP` or `TCP`.
    pub transport: Transport,
    /// The q-value priority as written (`0.830`), kept textually so it round-trips.
    pub qvalue: String,
    /// Address.
    pub ip: IpAddr,
    /// Port.
    pub port: u16,
}

/// An `a=candidate` / `a=x-candidate-ipv6` value in either form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Candidate {
    /// MS-ICE2 / ICE v19.
    Ice(IceCandidate),
    /// ICEv6 / draft-6.
    Draft6(Draft6Candidate),
}

impl Candidate {
    /// Component (1 RTP, 2 RTCP).
    pub fn component(&self) -> u16 {
        match self {
            Self::Ice(c) => c.component,
            Self::Draft6(c) => c.component,
        }
    }

    /// Address and port.
    pub fn addr(&self) -> (IpAddr, u16) {
        match self {
            Self::Ice(c) => (c.ip, c.port),
            Self::Draft6(c) => (c.ip, c.port),
        }
    }

    /// Transport.
    pub fn transport(&self) -> Transport {
        match self {
            Self::Ice(c) => c.transport,
            Self::Draft6(c) => c.transport,
        }
    }

    /// Parses a value; the error says what was expected.
    pub(crate) fn parse(value: &str) -> Result<Self, &'static str> {
        let t: Vec<&str> = value.split(' ').collect();
        if t.iter().any(|s| s.is_empty()) {
            return Err("candidate fields separated by single spaces");
        }
        // The `typ` keyword in field 7 tells MS-ICE2 from draft-6, whose fields are all positional.
        if t.len() >= 8 && t[6] == "typ" {
            Self::parse_ice(&t).map(Self::Ice)
        } else if t.len() == 7 {
            Self::parse_draft6(&t).map(Self::Draft6)
        } else {
            Err("`<foundation> <component> <transport> <priority> <ip> <port> typ <type> …` (MS-ICE2) \
                 or `<username> <component> <password> <transport> 0.<q> <ip> <port>` (draft-6)")
        }
    }

    fn parse_ice(t: &[&str]) -> Result<IceCandidate, &'static str> {
        let component = num(t[1], "a numeric candidate component")?;
        let transport = Transport::parse(t[2]).ok_or("candidate transport UDP, TCP-ACT or TCP-PASS")?;
        let priority = num(t[3], "a 32-bit candidate priority")?;
        let ip = t[4].parse().map_err(|_| "a candidate IP address")?;
        let port = num(t[5], "a candidate port")?;
        let kind = CandidateType::parse(t[7]).ok_or("candidate type host, srflx, relay or prflx")?;
        let mut rest = &t[8..];
        let mut related = None;
        if rest.first() == Some(&"raddr") {
            if rest.len() < 4 || rest[2] != "rport" {
                return Err("`raddr <ip> rport <port>`");
            }
            let rip = rest[1].parse().map_err(|_| "a raddr IP address")?;
            let rport = num(rest[3], "an rport port")?;
            related = Some((rip, rport));
            rest = &rest[4..];
        }
        let foundation = t[0].to_owned();
        let extensions = rest.iter().map(|s| (*s).to_owned()).collect();
        Ok(IceCandidate { foundation, component, transport, priority, ip, port, kind, related, extensions })
    }

    fn parse_draft6(t: &[&str]) -> Result<Draft6Candidate, &'static str> {
        let component = num(t[1], "a numeric candidate component")?;
        let Some(transport @ (Transport::Udp | Transport::Tcp)) = Transport::parse(t[3]) else {
            return Err("draft-6 candidate transport UDP or TCP");
        };
        let q = t[4];
        let valid_q = q.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit())
        });
        if !valid_q {
            return Err("a draft-6 q-value priority like 0.830");
        }
        let ip = t[5].parse().map_err(|_| "a candidate IP address")?;
        let port = num(t[6], "a candidate port")?;
        Ok(Draft6Candidate {
            username: t[0].to_owned(),
            component,
            password: t[2].to_owned(),
            transport,
            qvalue: q.to_owned(),
            ip,
            port,
        })
    }
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ice(c) => {
                let (foundation, component, transport, priority) =
                    (&c.foundation, c.component, c.transport, c.priority);
                write!(
                    f,
                    "{foundation} {component} {} {priority} {} {} typ {}",
                    transport.token(),
                    c.ip,
                    c.port,
                    c.kind.token()
                )?;
                if let Some((ip, port)) = c.related {
                    write!(f, " raddr {ip} rport {port}")?;
                }
                for e in &c.extensions {
                    write!(f, " {e}")?;
                }
                Ok(())
            }
            Self::Draft6(c) => write!(
                f,
                "{} {} {} {} {} {} {}",
                c.username,
                c.component,
                c.password,
                c.transport.token(),
                c.qvalue,
                c.ip,
                c.port
            ),
        }
    }
}

/// One entry of `a=remote-candidates:<component> <ip> <port> …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteCandidate {
    /// Component.
    pub component: u16,
    /// Address.
    pub ip: IpAddr,
    /// Port.
    pub port: u16,
}

impl RemoteCandidate {
    pub(crate) fn parse_list(value: &str) -> Result<Vec<Self>, &'static str> {
        const EXPECTED: &str = "`<component> <ip> <port>` triples";
        let t: Vec<&str> = value.split(' ').collect();
        if t.is_empty() || !t.len().is_multiple_of(3) {
            return Err(EXPECTED);
        }
        t.chunks(3)
            .map(|c| {
                Ok(Self {
                    component: num(c[0], EXPECTED)?,
                    ip: c[1].parse().map_err(|_| EXPECTED)?,
                    port: num(c[2], EXPECTED)?,
                })
            })
            .collect()
    }
}

impl fmt::Display for RemoteCandidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.component, self.ip, self.port)
    }
}
