//! The raw-preserving SIP message (RFC 3261 §7): start line, header fields kept as spans into
//! the original bytes, body bytes. Nothing is normalised on the way in, so what a trace or a
//! report shows is exactly what the system under test sent.
//!
//! Why not rsip: its method set is closed (BENOTIFY, SERVICE fail), it re-serialises with its
//! own spacing and reason phrases, and it does not frame streams (see README, "Dependencies").

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use super::error::{FaultKind, Result, WireError};
use super::names::{canonical_name, is_token};

/// A SIP method. Extension methods (BENOTIFY, SERVICE, anything token-shaped) are as good as
/// the RFC 3261 ones: the method is a token, compared case-sensitively (§7.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Method(Cow<'static, str>);

impl Method {
    /// INVITE.
    pub const INVITE: Self = Self(Cow::Borrowed("INVITE"));
    /// ACK.
    pub const ACK: Self = Self(Cow::Borrowed("ACK"));
    /// BYE.
    pub const BYE: Self = Self(Cow::Borrowed("BYE"));
    /// CANCEL.
    pub const CANCEL: Self = Self(Cow::Borrowed("CANCEL"));
    /// OPTIONS.
    pub const OPTIONS: Self = Self(Cow::Borrowed("OPTIONS"));
    /// REGISTER.
    pub const REGISTER: Self = Self(Cow::Borrowed("REGISTER"));
    /// MESSAGE (RFC 3428).
    pub const MESSAGE: Self = Self(Cow::Borrowed("MESSAGE"));
    /// INFO (RFC 6086).
    pub const INFO: Self = Self(Cow::Borrowed("INFO"));
    /// SUBSCRIBE (RFC 6665).
    pub const SUBSCRIBE: Self = Self(Cow::Borrowed("SUBSCRIBE"));
    /// NOTIFY (RFC 6665).
    pub const NOTIFY: Self = Self(Cow::Borrowed("NOTIFY"));
    /// BENOTIFY: Microsoft's NOTIFY that expects no response ([MS-SIP] §3.5).
    pub const BENOTIFY: Self = Self(Cow::Borrowed("BENOTIFY"));
    /// SERVICE: Microsoft's request for server-side operations ([MS-SIP]).
    pub const SERVICE: Self = Self(Cow::Borrowed("SERVICE"));
    /// REFER (RFC 3515).
    pub const REFER: Self = Self(Cow::Borrowed("REFER"));
    /// UPDATE (RFC 3311).
    pub const UPDATE: Self = Self(Cow::Borrowed("UPDATE"));
    /// PUBLISH (RFC 3903).
    pub const PUBLISH: Self = Self(Cow::Borrowed("PUBLISH"));

    /// A method from its token; `None` when the text is not a token.
    pub fn new(token: &str) -> Option<Self> {
        is_token(token).then(|| Self(Cow::Owned(token.to_owned())))
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `Method SP Request-URI SP SIP-Version`.
    Request {
        /// The method.
        method: Method,
        /// The Request-URI, as written.
        uri: String,
        /// The version, as written (`SIP/2.0`).
        version: String,
    },
    /// `SIP-Version SP Status-Code SP Reason-Phrase`.
    Response {
        /// The version, as written.
        version: String,
        /// The status code, 100–699.
        code: u16,
        /// The reason phrase, as written (may be empty, may be any UTF-8).
        reason: String,
    },
}

/// One header field: where its name and raw value sit in the message bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) name: Range<usize>,
    /// From the first non-blank byte after the colon to the end of the last continuation line,
    /// without the final line break. Folded values keep their line breaks here.
    pub(crate) value: Range<usize>,
    /// 1-based line number of the field's first line.
    pub(crate) line: usize,
}

/// A parsed SIP message that owns its exact bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    bytes: Vec<u8>,
    start: StartLine,
    fields: Vec<Field>,
    body: Range<usize>,
}

/// The parsed head of a message (everything up to the blank line) and the body length it
/// announces. Used by the stream framer, which must know the length before the body arrives.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) start: StartLine,
    pub(crate) fields: Vec<Field>,
    /// Offset of the first body byte.
    pub(crate) body_start: usize,
    /// The Content-Length value, if the header is present.
    pub(crate) content_length: Option<usize>,
}

/// Finds the end of the header section: the offset just past the empty line. Accepts CRLF and
/// bare LF line ends (robustness; RFC 3261 §7.5 asks for CRLF).
pub(crate) fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

/// Splits `buf[..end]` into lines as (start, end-without-line-break) pairs.
fn lines(buf: &[u8], end: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < end {
        if buf[i] == b'\n' {
            let stop = if i > start && buf[i - 1] == b'\r' { i - 1 } else { i };
            out.push((start, stop));
            start = i + 1;
        }
        i += 1;
    }
    out
}

fn is_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix("SIP/") else {
        return false;
    };
    let mut parts = rest.split('.');
    let ok = |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// The Request-URI check that belongs to the start line: one token with a scheme, no
/// whitespace, no angle brackets (RFC 4475 `ltgtruri`, `lwsruri`). SIP and SIPS URIs must
/// also parse as such (RFC 5118 `ipv6-bad`).
fn check_request_uri(uri: &str) -> std::result::Result<(), String> {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err(format!("Request-URI `{uri}` has no scheme"));
    };
    let scheme_ok = scheme.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok || rest.is_empty() {
        return Err(format!("Request-URI `{uri}` is not an absolute URI"));
    }
    if uri.bytes().any(|b| b.is_ascii_whitespace() || b"<>\"".contains(&b)) {
        return Err(format!("Request-URI `{uri}` contains whitespace, `<`, `>` or `\"`"));
    }
    if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
        super::uri::SipUri::parse(uri).map_err(|e| e.detail)?;
    }
    Ok(())
}

fn parse_start_line(line: &str) -> std::result::Result<StartLine, String> {
    if line.starts_with("SIP/") {
        // SIP-Version SP Status-Code SP Reason-Phrase; the reason may be empty (RFC 4475
        // `noreason`), and we also take a missing final SP for robustness.
        let (version, rest) = line.split_once(' ').ok_or("status line has no status code")?;
        if !is_version(version) {
            return Err(format!("`{version}` is not a SIP version"));
        }
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("status code `{code}` is not three digits"));
        }
        let code: u16 = code.parse().map_err(|_| format!("status code `{code}`"))?;
        if !(100..=699).contains(&code) {
            return Err(format!("status code {code} is outside 100-699"));
        }
        return Ok(StartLine::Response { version: version.to_owned(), code, reason: reason.to_owned() });
    }
    // Exactly single spaces between exactly three elements (RFC 4475 `lwsstart`, `trws`).
    let parts: Vec<&str> = line.split(' ').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err("request line is not `Method SP Request-URI SP SIP-Version`".into());
    }
    let method = Method::new(parts[0]).ok_or_else(|| format!("method `{}` is not a token", parts[0]))?;
    check_request_uri(parts[1])?;
    if !is_version(parts[2]) {
        return Err(format!("`{}` is not a SIP version", parts[2]));
    }
    Ok(StartLine::Request { method, uri: parts[1].to_owned(), version: parts[2].to_owned() })
}

/// Parses the head of a message (start line and header fields) from `buf`, which starts at the
/// message's first byte. Returns `Ok(None)` when the blank line has not arrived yet.
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<Head>> {
    let Some(body_start) = find_head_end(buf) else {
        return Ok(None);
    };
    let all = lines(buf, body_start);
    // The last entry is the empty line that ends the head.
    let (first, rest) = all.split_first().ok_or_else(|| WireError::new(FaultKind::StartLine, "empty message"))?;
    let start_text = std::str::from_utf8(&buf[first.0..first.1])
        .map_err(|_| WireError::new(FaultKind::StartLine, "start line is not UTF-8").at_line(1))?;
    let start = parse_start_line(start_text).map_err(|d| WireError::new(FaultKind::StartLine, d).at_line(1))?;

    let mut fields: Vec<Field> = Vec::new();
    let header_lines = &rest[..rest.len().saturating_sub(1)];
    for (idx, &(s, e)) in header_lines.iter().enumerate() {
        let line_no = idx + 2;
        let line = &buf[s..e];
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            // Continuation of the previous field's value (header folding, RFC 3261 §7.3.1).
            let Some(prev) = fields.last_mut() else {
                return Err(
                    WireError::new(FaultKind::HeaderSyntax, "continuation line before any header").at_line(line_no)
                );
            };
            prev.value.end = e;
            continue;
        }
        let colon = line
            .iter()
            .position(|b| *b == b':')
            .ok_or_else(|| WireError::new(FaultKind::HeaderSyntax, "header line has no `:`").at_line(line_no))?;
        let mut name_end = colon;
        while name_end > 0 && (line[name_end - 1] == b' ' || line[name_end - 1] == b'\t') {
            name_end -= 1;
        }
        let name = std::str::from_utf8(&line[..name_end]).unwrap_or("");
        if !is_token(name) {
            return Err(WireError::new(
                FaultKind::HeaderSyntax,
                format!("header name `{}` is not a token", String::from_utf8_lossy(&line[..name_end])),
            )
            .at_line(line_no));
        }
        let mut v = colon + 1;
        while v < line.len() && (line[v] == b' ' || line[v] == b'\t') {
            v += 1;
        }
        fields.push(Field { name: s..s + name_end, value: s + v..e, line: line_no });
    }

    let mut content_length = None;
    for f in &fields {
        let name = std::str::from_utf8(&buf[f.name.clone()]).unwrap_or("");
        if canonical_name(name) != "Content-Length" {
            continue;
        }
        let raw = String::from_utf8_lossy(&buf[f.value.clone()]);
        let text = raw.trim();
        if content_length.is_some() {
            return Err(WireError::new(FaultKind::Framing, "Content-Length appears more than once")
                .at_line(f.line)
                .in_header("Content-Length"));
        }
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(WireError::new(
                FaultKind::Framing,
                format!("Content-Length `{text}` is not a non-negative integer"),
            )
            .at_line(f.line)
            .in_header("Content-Length"));
        }
        let n: usize = text.parse().map_err(|_| {
            WireError::new(FaultKind::Framing, format!("Content-Length `{text}` is too large"))
                .in_header("Content-Length")
        })?;
        content_length = Some(n);
    }
    Ok(Some(Head { start, fields, body_start, content_length }))
}

impl Message {
    /// Parses one message from a datagram (RFC 3261 §18.3). Octets after the announced body
    /// are ignored; a body shorter than Content-Length is a framing error.
    pub fn parse_datagram(buf: &[u8]) -> Result<Self> {
        let head = parse_head(buf)?.ok_or_else(|| {
            WireError::new(FaultKind::Framing, "no empty line ends the header section (truncated message?)")
        })?;
        let available = buf.len() - head.body_start;
        let body_len = match head.content_length {
            Some(n) if n > available => {
                return Err(WireError::new(
                    FaultKind::Framing,
                    format!("Content-Length {n} is larger than the {available} body bytes present"),
                )
                .in_header("Content-Length"));
            }
            Some(n) => n,
            None => available,
        };
        Ok(Self::from_head(buf[..head.body_start + body_len].to_vec(), head))
    }

    /// A request whose datagram ends before the body its Content-Length announces, with the
    /// body it has: enough to answer it 400 as RFC 3261 §18.3 asks. `None` for anything else
    /// (a response, an ACK, a head that does not parse, a body that is all there).
    pub fn short_request(buf: &[u8]) -> Option<Self> {
        let head = parse_head(buf).ok()??;
        let announced = head.content_length?;
        let is_answerable = matches!(&head.start, StartLine::Request { method, .. } if method.as_str() != "ACK");
        (is_answerable && announced > buf.len() - head.body_start).then(|| Self::from_head(buf.to_vec(), head))
    }

    /// Assembles a message from bytes whose head was parsed already (used by the framer).
    pub(crate) fn from_head(bytes: Vec<u8>, head: Head) -> Self {
        let body = head.body_start..bytes.len();
        Self { bytes, start: head.start, fields: head.fields, body }
    }

    /// Assembles a message whose spans were computed while writing (used by the builder).
    pub(crate) fn from_parts(bytes: Vec<u8>, start: StartLine, fields: Vec<Field>, body: Range<usize>) -> Self {
        Self { bytes, start, fields, body }
    }

    /// The exact bytes of the message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The start line.
    pub fn start_line(&self) -> &StartLine {
        &self.start
    }

    /// True for requests.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The method of a request, or `None` for a response.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI of a request.
    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase of a response.
    pub fn reason(&self) -> Option<&str> {
        match &self.start {
            StartLine::Response { reason, .. } => Some(reason),
            StartLine::Request { .. } => None,
        }
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.bytes[self.body.clone()]
    }

    /// Every header field in order, as (name as written, unfolded value).
    pub fn headers(&self) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
        self.fields.iter().map(|f| (self.field_name(f), self.field_value(f)))
    }

    fn field_name(&self, f: &Field) -> &str {
        // Names were checked to be tokens (ASCII) when parsed or built.
        std::str::from_utf8(&self.bytes[f.name.clone()]).unwrap_or("")
    }

    /// A value with folding undone: each line break plus the blanks around it become one SP
    /// (RFC 3261 §7.3.1), trailing blanks removed.
    fn field_value(&self, f: &Field) -> Cow<'_, str> {
        let raw = &self.bytes[f.value.clone()];
        if !raw.contains(&b'\n') {
            let text = String::from_utf8_lossy(raw);
            return match text {
                Cow::Borrowed(s) => Cow::Borrowed(s.trim_end_matches([' ', '\t'])),
                Cow::Owned(s) => Cow::Owned(s.trim_end_matches([' ', '\t']).to_owned()),
            };
        }
        let text = String::from_utf8_lossy(raw);
        let mut out = String::with_capacity(text.len());
        for (i, part) in text.split('\n').enumerate() {
            let part = part.trim_end_matches(['\r', ' ', '\t']);
            if i == 0 {
                out.push_str(part);
            } else {
                out.push(' ');
                out.push_str(part.trim_start_matches([' ', '\t']));
            }
        }
        Cow::Owned(out)
    }

    /// Every value of the named header (full or compact name, any case), unfolded.
    pub fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = Cow<'a, str>> + 'a {
        let want = canonical_name(name).to_owned();
        self.fields
            .iter()
            .filter(move |f| canonical_name(self.field_name(f)).eq_ignore_ascii_case(&want))
            .map(|f| self.field_value(f))
    }

    /// The first value of the named header.
    pub fn value(&self, name: &str) -> Option<Cow<'_, str>> {
        let want = canonical_name(name);
        self.fields
            .iter()
            .find(|f| canonical_name(self.field_name(f)).eq_ignore_ascii_case(want))
            .map(|f| self.field_value(f))
    }

    /// The message with the first value of the named header replaced by `value` (the rest
    /// byte-exact). For a transport that must rewrite its own top Via (RFC 3261 §18.1.1).
    pub fn with_first_value(&self, name: &str, value: &str) -> Result<Self> {
        let want = canonical_name(name);
        let f = self
            .fields
            .iter()
            .find(|f| canonical_name(self.field_name(f)).eq_ignore_ascii_case(want))
            .ok_or_else(|| WireError::header_value(name, "header is missing"))?;
        if value.contains(['\r', '\n']) {
            return Err(WireError::header_value(name, "a value cannot hold a line break"));
        }
        let mut bytes = Vec::with_capacity(self.bytes.len() + value.len());
        bytes.extend_from_slice(&self.bytes[..f.value.start]);
        bytes.extend_from_slice(value.as_bytes());
        bytes.extend_from_slice(&self.bytes[f.value.end..]);
        Self::parse_datagram(&bytes)
    }

    /// The first value of a header that must be present.
    pub fn require(&self, name: &str) -> Result<Cow<'_, str>> {
        self.value(name).ok_or_else(|| WireError::header_value(name, "header is missing"))
    }

    /// Every element of a comma-separated header (RFC 3261 §7.3.1), over all its fields,
    /// splitting on commas outside quotes and angle brackets.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.values(name).flat_map(|v| split_list(&v)).collect()
    }

    /// True when a comma-list header (Supported, Require, Allow, …) holds the token.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.list(name).iter().any(|t| t.eq_ignore_ascii_case(token))
    }

    /// The first line of the message, lossy, for logs and errors.
    pub fn summary(&self) -> String {
        match &self.start {
            StartLine::Request { method, uri, .. } => format!("{method} {uri}"),
            StartLine::Response { code, reason, .. } => format!("{code} {reason}"),
        }
    }

    /// Checks the rules a parsed message must still meet before anything acts on it
    /// (RFC 3261 §8.1.1, §8.2, §16.3; RFC 4475 §3.1.2.11–18, §3.3.1, §3.3.8).
    pub fn validate(&self) -> Result<()> {
        let version = match &self.start {
            StartLine::Request { version, .. } | StartLine::Response { version, .. } => version,
        };
        if version != "SIP/2.0" {
            return Err(WireError::new(FaultKind::Validation, format!("unsupported version {version} (answer 505)")));
        }
        for name in ["To", "From", "Call-ID", "CSeq", "Via"] {
            if self.value(name).is_none() {
                return Err(WireError::new(FaultKind::Validation, "a required header is missing").in_header(name));
            }
        }
        for name in ["To", "From", "Call-ID", "CSeq", "Max-Forwards", "Content-Type"] {
            if self.values(name).count() > 1 {
                return Err(
                    WireError::new(FaultKind::Validation, "single-value header appears more than once").in_header(name)
                );
            }
        }
        let cseq = self.cseq()?;
        if let StartLine::Request { method, uri, .. } = &self.start {
            if &cseq.method != method {
                return Err(WireError::new(
                    FaultKind::Validation,
                    format!("CSeq method {} does not match request method {method}", cseq.method),
                )
                .in_header("CSeq"));
            }
            let lower = uri.to_ascii_lowercase();
            if (lower.starts_with("sip:") || lower.starts_with("sips:")) && uri.contains('?') {
                return Err(WireError::new(
                    FaultKind::Validation,
                    "a Request-URI may not carry headers (RFC 3261 §19.1.1)",
                ));
            }
        }
        Ok(())
    }
}

/// Splits a header value on commas that are outside quotes and angle brackets.
pub(crate) fn split_list(v: &str) -> Vec<String> {
    split_unquoted(v, ',', true).into_iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect()
}

/// Splits on `sep` where it stands outside quoted strings (a `\"` inside one does not end it)
/// and, when `angle` is set, outside `<…>`. Pieces are returned as written.
pub(crate) fn split_unquoted(v: &str, sep: char, angle: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut in_angle, mut escaped) = (false, false, false);
    for c in v.chars() {
        if escaped {
            escaped = false;
            cur.push(c);
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if angle && !quoted => in_angle = true,
            '>' if angle && !quoted => in_angle = false,
            c if c == sep && !quoted && !in_angle => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("start", &self.summary())
            .field("headers", &self.fields.len())
            .field("body", &self.body.len())
            .finish()
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.bytes))
    }
}
