//! SIP and SIPS URIs (RFC 3261 §19.1), kept close to how they were written: the user part stays
//! escaped as received, and comparisons unescape (§19.1.4). IPv6 references follow RFC 5118.

use std::fmt;

use super::error::{FaultKind, Result, WireError};

/// A `sip:` or `sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sip` or `sips`, lower-case.
    pub scheme: String,
    /// The user part as written (still %-escaped), without the password.
    pub user: Option<String>,
    /// The password part, if any.
    pub password: Option<String>,
    /// The host as written; IPv6 references keep their brackets.
    pub host: String,
    /// The port, if written.
    pub port: Option<u16>,
    /// `;name[=value]` parameters in order.
    pub params: Vec<(String, Option<String>)>,
    /// The `?headers` part, if any, without the `?`.
    pub headers: Option<String>,
}

fn bad(detail: impl Into<String>) -> WireError {
    WireError::new(FaultKind::HeaderValue, detail)
}

/// Undoes %-escapes (RFC 3261 §19.1.4); malformed escapes are kept literally.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The octets `userinfo` may hold: unreserved, escaped (`%`), user-unreserved (`&=+$,;?/`) and,
/// for the password, `:` (RFC 3261 §25.1).
fn is_userinfo_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()%&=+$,;?/:".contains(&b)
}

fn parse_host_port(hp: &str) -> Result<(String, Option<u16>)> {
    if hp.is_empty() {
        return Err(bad("URI has an empty host"));
    }
    let (host, port) = if let Some(rest) = hp.strip_prefix('[') {
        let close = rest.find(']').ok_or_else(|| bad(format!("IPv6 reference `{hp}` has no `]`")))?;
        let inner = &rest[..close];
        if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return Err(bad(format!("`{inner}` is not an IPv6 address")));
        }
        let after = &rest[close + 1..];
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| bad(format!("junk `{p}` after IPv6 reference")))?),
        };
        (format!("[{inner}]"), port)
    } else {
        match hp.split_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (hp.to_owned(), None),
        }
    };
    if !host.starts_with('[')
        && (host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
    {
        return Err(bad(format!("`{host}` is not a host name or address")));
    }
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().map_err(|_| bad(format!("port `{p}` is not a number from 0 to 65535")))?),
    };
    Ok((host, port))
}

impl SipUri {
    /// Parses `sip:` / `sips:` URIs.
    pub fn parse(s: &str) -> Result<Self> {
        let (scheme, rest) = s.split_once(':').ok_or_else(|| bad(format!("`{s}` has no scheme")))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "sip" && scheme != "sips" {
            return Err(bad(format!("`{s}` is not a sip or sips URI")));
        }
        if rest.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(bad(format!("URI `{s}` contains whitespace")));
        }
        // userinfo = ( user / telephone-subscriber ) [ ":" password ] "@". The user part may
        // hold `;`, `?` and `/` (user-unreserved, RFC 3261 §25.1; RFC 4475 `intmeth`), so the
        // userinfo is split off first, at the first `@`, when what precedes it is userinfo.
        let (userinfo, hostpart) = match rest.find('@') {
            Some(at) if rest[..at].bytes().all(is_userinfo_char) => (Some(&rest[..at]), &rest[at + 1..]),
            _ => (None, rest),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some("") => return Err(bad(format!("URI `{s}` has an empty user part"))),
            Some(u) => match u.split_once(':') {
                Some((user, pw)) => (Some(user.to_owned()), Some(pw.to_owned())),
                None => (Some(u.to_owned()), None),
            },
        };
        // hostport, then `;uri-parameters`, then `?headers`; none of those may hold `@`.
        let (hostpart, headers) = match hostpart.split_once('?') {
            Some((r, h)) => (r, Some(h.to_owned())),
            None => (hostpart, None),
        };
        // An IPv6 reference holds colons; params start at the first `;` after its `]`.
        let host_end = if hostpart.starts_with('[') {
            hostpart
                .find(']')
                .map(|c| hostpart[c..].find(';').map_or(hostpart.len(), |p| c + p))
                .unwrap_or(hostpart.len())
        } else {
            hostpart.find(';').unwrap_or(hostpart.len())
        };
        let (host, port) = parse_host_port(&hostpart[..host_end])?;
        let mut params = Vec::new();
        if host_end < hostpart.len() {
            for p in hostpart[host_end + 1..].split(';') {
                if p.is_empty() {
                    return Err(bad(format!("URI `{s}` has an empty parameter")));
                }
                match p.split_once('=') {
                    Some((n, v)) => params.push((n.to_owned(), Some(v.to_owned()))),
                    None => params.push((p.to_owned(), None)),
                }
            }
        }
        Ok(Self { scheme, user, password, host, port, params, headers })
    }

    /// A plain `sip:user@host` URI.
    pub fn new(user: Option<&str>, host: &str) -> Self {
        Self {
            scheme: "sip".into(),
            user: user.map(str::to_owned),
            password: None,
            host: host.to_owned(),
            port: None,
            params: Vec::new(),
            headers: None,
        }
    }

    /// The user part with %-escapes undone, so `bob%28contoso.com%29` reads `bob(contoso.com)`.
    pub fn user_unescaped(&self) -> Option<String> {
        self.user.as_deref().map(unescape)
    }

    /// The value of a URI parameter (`None` when absent; `Some(None)` for a flag).
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_deref())
    }

    /// `user@host` with escapes undone and the host lower-cased: the identity the URI names,
    /// for matching (RFC 3261 §19.1.4 equivalence of escaped and unescaped forms).
    pub fn address_of_record(&self) -> String {
        match self.user_unescaped() {
            Some(u) => format!("{u}@{}", self.host.to_ascii_lowercase()),
            None => self.host.to_ascii_lowercase(),
        }
    }
}

/// Writes `;name[=value]` parameters as they were read.
pub(crate) fn write_params(f: &mut fmt::Formatter<'_>, params: &[(String, Option<String>)]) -> fmt::Result {
    for (n, v) in params {
        match v {
            Some(v) => write!(f, ";{n}={v}")?,
            None => write!(f, ";{n}")?,
        }
    }
    Ok(())
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme)?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        f.write_str(&self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write_params(f, &self.params)?;
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_parentheses_name_the_same_identity() {
        let a = SipUri::parse("sip:bob(contoso.com)@msn.com").unwrap();
        let b = SipUri::parse("sip:bob%28contoso.com%29@MSN.com").unwrap();
        assert_eq!(a.address_of_record(), b.address_of_record());
        assert_eq!(a.address_of_record(), "bob(contoso.com)@msn.com");
    }

    #[test]
    fn lync_gruu_with_colons_in_param_values_parses() {
        let u = SipUri::parse("sip:alice@contoso.com;gruu;opaque=app:conf:focusfactory").unwrap();
        assert_eq!(u.param("gruu"), Some(None));
        assert_eq!(u.param("opaque"), Some(Some("app:conf:focusfactory")));
        assert_eq!(u.to_string(), "sip:alice@contoso.com;gruu;opaque=app:conf:focusfactory");
    }

    #[test]
    fn ipv6_references_keep_their_brackets_and_ports() {
        let u = SipUri::parse("sip:[2001:db8::10]:5070").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[2001:db8::10]", Some(5070)));
        let amb = SipUri::parse("sip:[2001:db8::10:5070]").unwrap();
        assert_eq!((amb.host.as_str(), amb.port), ("[2001:db8::10:5070]", None));
        assert!(SipUri::parse("sip:2001:db8::10").is_err());
    }

    #[test]
    fn the_user_part_may_hold_semicolons_question_marks_and_slashes() {
        let u = SipUri::parse(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        )
        .unwrap();
        assert_eq!(u.user.as_deref(), Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"));
        assert_eq!(u.password.as_deref(), Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"));
        assert_eq!((u.host.as_str(), u.headers.as_deref()), ("example.com", None));
        let semi = SipUri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!((semi.user.as_deref(), semi.params.len()), (Some("user;par=u%40example.net"), 0));
        let hdr = SipUri::parse("sip:user@example.com;lr?Route=%3Csip:example.com%3E").unwrap();
        assert_eq!((hdr.param("lr"), hdr.headers.as_deref()), (Some(None), Some("Route=%3Csip:example.com%3E")));
        let no_user = SipUri::parse("sip:example.com?Subject=hi").unwrap();
        assert_eq!((no_user.user, no_user.host.as_str()), (None, "example.com"));
    }
}
