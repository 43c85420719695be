//! Typed readers for the headers the harness acts on. Each reads from the raw message on
//! demand, so a bad value in a header nobody reads never fails a message (RFC 4475 groups such
//! faults as header-level, not framing).

use std::fmt;

use super::error::{Result, WireError};
use super::message::{Message, Method};
use super::names::is_token;
use super::uri::{SipUri, write_params};

/// One Via element (RFC 3261 §20.42).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Transport token (`UDP`, `TCP`, `TLS`, …), upper-cased.
    pub transport: String,
    /// sent-by host as written (IPv6 with brackets).
    pub host: String,
    /// sent-by port.
    pub port: Option<u16>,
    /// Parameters in order.
    pub params: Vec<(String, Option<String>)>,
}

impl Via {
    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.param("branch")
    }

    /// A parameter's value; an empty string for a flag.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    fn parse(s: &str) -> Result<Self> {
        let err = |d: String| WireError::header_value("Via", d);
        let s = s.trim();
        // sent-protocol allows LWS around each `/` (RFC 3261 §25.1 SLASH; RFC 4475 `wsinv`).
        let mut slashes = 0;
        let mut split_at = None;
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'/' => slashes += 1,
                b' ' | b'\t' if slashes == 2 => {
                    // Blanks after the second slash but before the transport token are LWS.
                    let prev = s[..i].trim_end();
                    if !prev.ends_with('/') {
                        split_at = Some(i);
                        break;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        let split_at = split_at.ok_or_else(|| err(format!("`{s}` has no sent-by")))?;
        let (proto, rest) = (&s[..split_at], &s[split_at..]);
        let parts: Vec<&str> = proto.split('/').map(str::trim).collect();
        // sent-protocol = protocol-name SLASH protocol-version SLASH transport, each a token.
        if parts.len() != 3 || !parts[0].eq_ignore_ascii_case("SIP") || !parts.iter().all(|p| is_token(p)) {
            return Err(err(format!("`{proto}` is not SIP/2.0/<transport>")));
        }
        let mut pieces = rest.trim().split(';');
        let sent_by = pieces.next().unwrap_or("").trim();
        let (host, port) = if let Some(r) = sent_by.strip_prefix('[') {
            let close = r.find(']').ok_or_else(|| err(format!("`{sent_by}` lacks `]`")))?;
            let port = r[close + 1..].trim().strip_prefix(':').map(|p| p.trim().parse::<u16>());
            (format!("[{}]", &r[..close]), port)
        } else {
            match sent_by.split_once(':') {
                Some((h, p)) => (h.trim().to_owned(), Some(p.trim().parse::<u16>())),
                None => (sent_by.to_owned(), None),
            }
        };
        let host_ok = match host.strip_prefix('[') {
            Some(v6) => v6
                .strip_suffix(']')
                .is_some_and(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_hexdigit() || b":.".contains(&b))),
            None => !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b)),
        };
        if !host_ok {
            return Err(err(format!("sent-by `{sent_by}` is not host[:port]")));
        }
        let port = port.transpose().map_err(|_| err(format!("sent-by `{sent_by}` has a bad port")))?;
        let mut params = Vec::new();
        for p in pieces {
            let p = p.trim();
            let (n, v) = match p.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().to_owned())),
                None => (p, None),
            };
            // via-params are generic-params: token [ EQUAL gen-value ].
            if !is_token(n) || v.as_deref().is_some_and(|v| !is_gen_value(v)) {
                return Err(err(format!("empty or malformed parameter `{p}` in `{s}`")));
            }
            params.push((n.to_owned(), v));
        }
        Ok(Self { transport: parts[2].to_ascii_uppercase(), host, port, params })
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write_params(f, &self.params)?;
        Ok(())
    }
}

/// A name-addr or addr-spec with header parameters: From, To, Contact, Route (RFC 3261 §20.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name without quotes, if any.
    pub display: Option<String>,
    /// The URI as written inside `<>` (or the bare addr-spec).
    pub uri: String,
    /// Header parameters (`tag`, `epid`, `expires`, …) in order.
    pub params: Vec<(String, Option<String>)>,
}

impl NameAddr {
    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.param("tag")
    }

    /// A parameter's value; an empty string for a flag.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// The URI parsed as SIP, when it is one.
    pub fn sip_uri(&self) -> Result<SipUri> {
        SipUri::parse(&self.uri)
    }

    /// Parses one element; `header` names the header for error messages.
    pub fn parse(header: &str, s: &str) -> Result<Self> {
        let err = |d: String| WireError::header_value(header, d);
        let s = s.trim();
        let (display, uri, rest) = if let Some(lt) = find_unquoted(s, '<') {
            // display-name = *(token LWS) / quoted-string (RFC 3261 §25.1).
            let disp = s[..lt].trim();
            let display = if disp.is_empty() {
                None
            } else if disp.starts_with('"') {
                match quoted_string_len(disp) {
                    Some(n) if n == disp.len() => Some(disp[1..n - 1].to_owned()),
                    Some(_) => return Err(err(format!("junk after the quoted display name {disp}"))),
                    None => return Err(err(format!("display name {disp} has an unterminated quoted string"))),
                }
            } else {
                if !disp.split([' ', '\t']).filter(|w| !w.is_empty()).all(is_token) {
                    return Err(err(format!("display name `{disp}` must be quoted (it is not a run of tokens)")));
                }
                Some(disp.to_owned())
            };
            let close = s[lt..].find('>').map(|c| lt + c).ok_or_else(|| err(format!("`{s}` lacks `>`")))?;
            let uri = &s[lt + 1..close];
            if uri.is_empty() || uri.contains(char::is_whitespace) {
                return Err(err(format!("addr-spec `<{uri}>` is empty or contains whitespace")));
            }
            (display, uri.to_owned(), &s[close + 1..])
        } else {
            // addr-spec form: the URI ends at the first `;` (those are header parameters, whose
            // values may be quoted strings), and it may not carry `?headers`, `,` or quotes
            // (RFC 3261 §20.10).
            let end = s.find(';').unwrap_or(s.len());
            let uri = s[..end].trim();
            if uri.contains('"') {
                return Err(err(format!("`{s}` has an unterminated quoted string")));
            }
            if uri.is_empty() || uri.contains(char::is_whitespace) || uri.contains(['?', ',']) {
                return Err(err(format!(
                    "addr-spec `{uri}` must be enclosed in <> (it has headers, spaces or commas)"
                )));
            }
            (None, uri.to_owned(), &s[end..])
        };
        if !uri.contains(':') {
            return Err(err(format!("`{uri}` is not a URI")));
        }
        let mut params = Vec::new();
        let rest = rest.trim();
        if !rest.is_empty() {
            let rest = rest.strip_prefix(';').ok_or_else(|| err(format!("junk `{rest}` after the address")))?;
            for p in split_params(rest) {
                let p = p.trim();
                let (n, v) = match p.split_once('=') {
                    Some((n, v)) => (n.trim(), Some(v.trim().to_owned())),
                    None => (p, None),
                };
                // generic-param = token [ EQUAL gen-value ]; `;;` is an empty one.
                if !is_token(n) {
                    return Err(err(format!("empty or malformed parameter `{p}` in `{s}`")));
                }
                if v.as_deref().is_some_and(|v| !is_gen_value(v)) {
                    return Err(err(format!("parameter `{p}` has a malformed value in `{s}`")));
                }
                params.push((n.to_owned(), v));
            }
        }
        Ok(Self { display, uri, params })
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "\"{d}\" ")?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)?;
        Ok(())
    }
}

/// The length of the quoted-string `s` starts with, closing quote included; `None` when `s` does
/// not start with `"` or the string is not terminated. quoted-pair is `\\` and one octet
/// (RFC 3261 §25.1).
fn quoted_string_len(s: &str) -> Option<usize> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next()?;
            }
            '"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// gen-value = token / host / quoted-string. Host covers IPv6 references; anything else with
/// a quote, blank or separator in it is not a value.
fn is_gen_value(v: &str) -> bool {
    if v.starts_with('"') {
        return quoted_string_len(v) == Some(v.len());
    }
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~[]:".contains(&b))
}

fn find_unquoted(s: &str, want: char) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == want && !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// CSeq (RFC 3261 §20.16): a 32-bit sequence number below 2^31 and a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number.
    pub seq: u32,
    /// Method.
    pub method: Method,
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// A media type with parameters (Content-Type, RFC 3261 §20.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    /// `type/subtype`, lower-cased.
    pub essence: String,
    /// Parameters; values keep their quotes stripped.
    pub params: Vec<(String, String)>,
}

impl MediaType {
    /// Parses `type/subtype;name=value…`.
    pub fn parse(s: &str) -> Result<Self> {
        let mut parts = split_params(s).into_iter();
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        if !essence.contains('/') {
            return Err(WireError::header_value("Content-Type", format!("`{s}` is not type/subtype")));
        }
        let params = parts
            .map(|p| {
                let (n, v) = p.split_once('=').unwrap_or((&p, ""));
                (n.trim().to_ascii_lowercase(), v.trim().trim_matches('"').to_owned())
            })
            .collect();
        Ok(Self { essence, params })
    }

    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Splits on `;` outside quoted strings (a `\\"` inside one does not end it).
pub(crate) fn split_params(s: &str) -> Vec<String> {
    super::message::split_unquoted(s, ';', false)
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

fn check_date(s: &str) -> bool {
    // rfc1123-date: `Wkd, DD Mon YYYY HH:MM:SS GMT` (RFC 3261 §20.17: only GMT).
    let p: Vec<&str> = s.split(' ').collect();
    if p.len() != 6 {
        return false;
    }
    let digits = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_digit());
    let time_ok = {
        let t: Vec<&str> = p[4].split(':').collect();
        t.len() == 3 && t.iter().all(|x| digits(x, 2))
    };
    p[0].strip_suffix(',').is_some_and(|d| WEEKDAYS.contains(&d))
        && digits(p[1], 2)
        && MONTHS.contains(&p[2])
        && digits(p[3], 4)
        && time_ok
        && p[5] == "GMT"
}

impl Message {
    /// Every Via element, top first.
    pub fn vias(&self) -> Result<Vec<Via>> {
        self.list("Via").iter().map(|v| Via::parse(v)).collect()
    }

    /// The top Via.
    pub fn top_via(&self) -> Result<Via> {
        self.vias()?.into_iter().next().ok_or_else(|| WireError::header_value("Via", "header is missing"))
    }

    /// From.
    pub fn from_addr(&self) -> Result<NameAddr> {
        NameAddr::parse("From", &self.require("From")?)
    }

    /// To.
    pub fn to_addr(&self) -> Result<NameAddr> {
        NameAddr::parse("To", &self.require("To")?)
    }

    /// The first Contact, if any.
    pub fn contact(&self) -> Result<Option<NameAddr>> {
        self.list("Contact").first().map(|c| NameAddr::parse("Contact", c)).transpose()
    }

    /// Route or Record-Route entries, in order.
    pub fn routes(&self, name: &str) -> Result<Vec<NameAddr>> {
        self.list(name).iter().map(|r| NameAddr::parse(name, r)).collect()
    }

    /// Call-ID (RFC 3261 §20.8: `word ["@" word]`, no whitespace).
    pub fn call_id(&self) -> Result<String> {
        let v = self.require("Call-ID")?;
        let v = v.trim();
        if v.is_empty() || v.contains(char::is_whitespace) {
            return Err(WireError::header_value("Call-ID", format!("`{v}` is not a word")));
        }
        Ok(v.to_owned())
    }

    /// CSeq.
    pub fn cseq(&self) -> Result<CSeq> {
        let v = self.require("CSeq")?;
        let err = |d: String| WireError::header_value("CSeq", d);
        let mut it = v.split_whitespace();
        let (Some(n), Some(m), None) = (it.next(), it.next(), it.next()) else {
            return Err(err(format!("`{v}` is not `<number> <method>`")));
        };
        let seq: u32 = n.parse().map_err(|_| err(format!("sequence number `{n}` is not a 32-bit number")))?;
        if seq >= 1 << 31 {
            return Err(err(format!("sequence number {seq} is not below 2^31")));
        }
        let method = Method::new(m).ok_or_else(|| err(format!("method `{m}` is not a token")))?;
        Ok(CSeq { seq, method })
    }

    /// Content-Type, if present.
    pub fn content_type(&self) -> Result<Option<MediaType>> {
        self.value("Content-Type").map(|v| MediaType::parse(&v)).transpose()
    }

    /// Expires, if present (delta-seconds, 32 bits).
    pub fn expires(&self) -> Result<Option<u32>> {
        self.value("Expires")
            .map(|v| {
                v.trim()
                    .parse::<u32>()
                    .map_err(|_| WireError::header_value("Expires", format!("`{v}` is not delta-seconds")))
            })
            .transpose()
    }

    /// Max-Forwards, if present.
    pub fn max_forwards(&self) -> Result<Option<u8>> {
        self.value("Max-Forwards")
            .map(|v| {
                v.trim()
                    .parse::<u8>()
                    .map_err(|_| WireError::header_value("Max-Forwards", format!("`{v}` is not 0-255")))
            })
            .transpose()
    }

    /// Date, checked against the RFC 1123 form SIP requires (GMT only), returned as written.
    pub fn date(&self) -> Result<Option<String>> {
        match self.value("Date") {
            None => Ok(None),
            Some(v) if check_date(v.trim()) => Ok(Some(v.trim().to_owned())),
            Some(v) => Err(WireError::header_value("Date", format!("`{v}` is not `Wkd, DD Mon YYYY HH:MM:SS GMT`"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_allows_lws_around_every_slash() {
        for v in [
            "SIP / 2.0 / UDP host.example.com;branch=z9hG4bK1",
            "SIP/ 2.0 /UDP host.example.com;branch=z9hG4bK1",
            "SIP\t/\t2.0\t/\tUDP\thost.example.com ; branch = z9hG4bK1",
            "SIP /2.0/ UDP   host.example.com;branch=z9hG4bK1",
        ] {
            let via = Via::parse(v).unwrap_or_else(|e| panic!("{v}: {e}"));
            assert_eq!(
                (via.transport.as_str(), via.host.as_str(), via.branch()),
                ("UDP", "host.example.com", Some("z9hG4bK1"))
            );
        }
    }

    #[test]
    fn via_follows_the_sent_by_and_generic_param_grammar() {
        let v6 = Via::parse("SIP/2.0/UDP [2001:db8::9:1]:5070;received=[2001:db8::9:255];branch=z9hG4bKas3").unwrap();
        assert_eq!(
            (v6.host.as_str(), v6.port, v6.param("received")),
            ("[2001:db8::9:1]", Some(5070), Some("[2001:db8::9:255]"))
        );
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.1;received=2001:db8::9:255").is_ok(), "RFC 5118 §4.5 undelimited");
        for bad in [
            "SIP/2.0/UDP 192.0.2.15;;",
            "SIP/2.0/UDP 192.0.2.15;branch=a b",
            "SIP/2.0/UDP 192.0.2.15;branch=",
            "SIP/2.0/UDP host_name",
            "SIP/2.0/U<D>P host",
            "SIP/2.0/UDP [2001:db8::1",
        ] {
            assert!(Via::parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn name_addr_params_are_generic_params_and_respect_quoted_strings() {
        let a = NameAddr::parse("To", "sip:b@example.com;x=\"a;b\";tag=1").unwrap();
        assert_eq!((a.uri.as_str(), a.param("x"), a.tag()), ("sip:b@example.com", Some("\"a;b\""), Some("1")));
        let a = NameAddr::parse("From", "<sip:a@example.com>;x=\"q\\\";r\";tag=2").unwrap();
        assert_eq!((a.param("x"), a.tag()), (Some("\"q\\\";r\""), Some("2")));
        for bad in ["<sip:a@b>;;tag=1", "<sip:a@b>;tag=1;", "<sip:a@b>;x=a b", "<sip:a@b>;x=\"open", "<sip:a@b>;=v"] {
            assert!(NameAddr::parse("To", bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn display_names_are_tokens_or_one_quoted_string() {
        let a = NameAddr::parse("From", "token1~` token2'+_ <sip:a@example.com>").unwrap();
        assert_eq!(a.display.as_deref(), Some("token1~` token2'+_"));
        let q = NameAddr::parse("From", "\"J Rosenberg \\\\\\\"\"  <sip:j@example.com>").unwrap();
        assert_eq!(q.display.as_deref(), Some("J Rosenberg \\\\\\\""));
        for bad in [
            "Bell, Alexander <sip:a.g.bell@example.com>",
            "\"unterminated <sip:a@example.com>",
            "\"a\" b\" <sip:a@example.com>",
            "\"ends escaped\\\" <sip:a@example.com>",
        ] {
            assert!(NameAddr::parse("From", bad).is_err(), "{bad} parsed");
        }
    }
}
