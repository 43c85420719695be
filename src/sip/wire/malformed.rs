//! A deterministic corpus of malformed and edge-case SIP (issue 8): valid base messages of
//! every kind the harness sends, each run through mutation classes (bad start line, missing
//! mandatory headers, wrong Content-Length, oversize headers and bodies, invalid UTF-8, NUL
//! bytes, deep multipart nesting, broken SDP and XML bodies, folding, bare LF, …), each case
//! with the reaction RFC 3261 asks of a server receiving it. Sans-IO: bytes in, bytes out; the
//! test that sends them is `tests/malformed.rs`, and the fuzz targets reuse the base messages
//! as seeds.
//!
//! Expectations come from RFC 3261, not from what any gateway does:
//! - a request that parses but breaks a header rule gets 400 (§8.2, §21.4.1), an unsupported
//!   version 505 (§21.5.7), an unsupported body type or encoding 415 (§8.2.3), an unsupported
//!   `Require` 420 (§8.2.2.3), an unsupported URI scheme 416 (§8.2.2.1);
//! - a datagram whose body is shorter than its Content-Length gets 400 when it is a request
//!   (§18.3), octets after the body are discarded (§18.3);
//! - a response or an ACK is never answered (§17.1.1.3, §17.2.1), malformed or not;
//! - a message the server cannot parse may be discarded (there is no sound place to answer),
//!   and a stream whose framing is lost is closed (§18.3: the boundaries are unknown).

use std::fmt;
use std::net::SocketAddr;

/// How a server must react to one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// A final response with one of these codes.
    Final(&'static [u16]),
    /// A final response that is not a refusal of the message's form (not 400, 413, 415,
    /// 416, 420, 505 or 513): the message is legal and was handled on its merits.
    Handled,
    /// No response: the message is dropped (a TCP connection may be closed).
    Drop,
    /// 400, or no response when the message is too broken to answer.
    RejectOrDrop,
    /// Anything (noise): only that the server keeps serving.
    Survive,
    /// A final refusal, any code of 300 or more. Used where the defect is in the body or in
    /// a value the server may never reach: RFC 3261 §8.2 lets it refuse earlier for what it
    /// checks first (404 for an unknown Request-URI, 481 for an unknown dialog, 501 for a
    /// method it does not serve), so no single code is the right one.
    Refused,
    /// A final response, any code: the defect is in a value a lenient server may ignore (a
    /// display name, Max-Forwards at a UAS), so taking the request is as right as refusing it.
    Answered,
}

/// Codes that refuse a request's form rather than its content.
pub const FORM_REFUSALS: [u16; 7] = [400, 413, 415, 416, 420, 505, 513];

impl Reaction {
    /// Whether `got` (a final status, or `None` for no response) meets this reaction.
    pub fn accepts(self, got: Option<u16>) -> bool {
        match (self, got) {
            (Self::Survive, _) | (Self::Drop, None) | (Self::RejectOrDrop, None | Some(400)) => true,
            (Self::Final(codes), Some(c)) => codes.contains(&c),
            (Self::Handled, Some(c)) => !FORM_REFUSALS.contains(&c),
            (Self::Refused, Some(c)) => c >= 300,
            (Self::Answered, Some(_)) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Reaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Final(codes) => {
                let codes: Vec<String> = codes.iter().map(u16::to_string).collect();
                write!(f, "{}", codes.join(" or "))
            }
            Self::Handled => write!(f, "a final response that is not a refusal of form"),
            Self::Drop => write!(f, "no response"),
            Self::RejectOrDrop => write!(f, "400 or no response"),
            Self::Survive => write!(f, "anything"),
            Self::Refused => write!(f, "a final refusal (300 or more)"),
            Self::Answered => write!(f, "a final response"),
        }
    }
}

/// The transport a corpus is made for: it decides the Via and which cases apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// One datagram per case.
    Udp,
    /// One connection per case; the case is followed by an OPTIONS ping on the same stream.
    Tcp,
}

impl Carrier {
    fn word(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
        }
    }
}

/// Who sends and who receives.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The transport.
    pub carrier: Carrier,
    /// The sender's address (Via, Contact).
    pub local: SocketAddr,
    /// The server's address: OPTIONS cases are addressed to it.
    pub server: SocketAddr,
}

/// One generated case.
#[derive(Debug, Clone)]
pub struct Case {
    /// `base/mutation`, unique within a corpus.
    pub name: String,
    /// The bytes to send.
    pub bytes: Vec<u8>,
    /// What the server must do.
    pub expect: Reaction,
    /// The Call-ID the case carries (responses are matched by it), when it has one.
    pub call_id: String,
    /// Over TCP: close our sending side after the case (the stream ends mid-message), so no
    /// ping can follow it.
    pub end_stream: bool,
}

impl Case {
    /// The first line and size, for failure lists.
    pub fn short(&self) -> String {
        let first = self.bytes.split(|b| *b == b'\n').next().unwrap_or_default();
        let mut s: String = String::from_utf8_lossy(first).trim_end().chars().take(70).collect();
        s = s.escape_debug().to_string();
        format!("`{s}` ({} bytes)", self.bytes.len())
    }
}

/// Kinds of base message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Request,
    /// ACK: a request that gets no response (RFC 3261 §17.1.1.3).
    Ack,
    /// BENOTIFY, MS-SIPRE's best-effort NOTIFY: never answered when legal; a malformed one may
    /// be refused by the server's form checks, which run before it knows the method.
    BestEffort,
    Response,
}

/// A valid message split into editable parts.
#[derive(Debug, Clone)]
struct Msg {
    start: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    kind: Kind,
    /// The body is an offer (SDP), so broken SDP cases apply.
    sdp: bool,
    /// The body is XML.
    xml: bool,
    method: &'static str,
}

impl Msg {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }

    fn set(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        let value = value.into();
        match self.headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(h) => h.1 = value,
            None => self.headers.push((name.to_owned(), value)),
        }
    }

    fn remove(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Bytes with a Content-Length matching the body, written last.
    fn bytes(&self) -> Vec<u8> {
        let mut m = self.clone();
        m.set("Content-Length", m.body.len().to_string());
        m.raw()
    }

    /// Bytes exactly as the parts say (no Content-Length fix-up).
    fn raw(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 512);
        out.extend_from_slice(self.start.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (n, v) in &self.headers {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

const SDP: &str = "v=0\r\no=- 0 1 IN IP4 127.0.0.1\r\ns=session\r\nc=IN IP4 127.0.0.1\r\nb=CT:99980\r\nt=0 0\r\n\
m=audio 50000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n";

const ICE_SDP: &str = "v=0\r\no=- 0 1 IN IP4 127.0.0.1\r\ns=session\r\nc=IN IP4 127.0.0.1\r\nb=CT:99980\r\nt=0 0\r\n\
m=audio 50000 RTP/AVP 0 101\r\na=ice-ufrag:4Tn9\r\na=ice-pwd:Ht2QOpcRLoLo6Wr+5Cs9tMHs\r\n\
a=candidate:1 1 UDP 2130706431 127.0.0.1 50000 typ host\r\na=candidate:1 2 UDP 2130705918 127.0.0.1 50001 typ host\r\n\
a=rtcp:50001\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n";

const PIDF: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" \
entity=\"sip:bob@live.com\"><tuple id=\"t1\"><status><basic>open</basic></status></tuple></presence>";

const CATEGORIES: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?><categories xmlns=\"http://schemas.microsoft.com/2006/09/sip/categories\" \
uri=\"sip:alice@contoso.com\"><category name=\"state\" instance=\"0\" publishTime=\"2026-11-22T18:00:00Z\" container=\"2\" version=\"1\" expireType=\"static\">\
<state xmlns=\"http://schemas.microsoft.com/2006/09/sip/state\" manual=\"true\" xsi:type=\"aggregateState\" \
xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><availability>3500</availability></state></category></categories>";

const PUBLISH: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?><publish xmlns=\"http://schemas.microsoft.com/2006/09/sip/rich-presence\">\
<publications uri=\"sip:alice@contoso.com\"><publication categoryName=\"state\" instance=\"0\" container=\"2\" version=\"1\" expireType=\"static\">\
<state xmlns=\"http://schemas.microsoft.com/2006/09/sip/state\" manual=\"true\" xsi:type=\"userState\" \
xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><availability>3500</availability></state></publication></publications></publish>";

const TYPING: &str = "<?xml version=\"1.0\"?><KeyboardActivity><status status=\"type\" /></KeyboardActivity>";

/// The base messages, every kind the harness sends (PROTOCOL.md §1–§4).
fn bases(t: &Target, n: usize) -> Vec<(&'static str, Msg)> {
    let via = format!("SIP/2.0/{} {};branch=z9hG4bKmf{n}x;rport", t.carrier.word(), t.local);
    let transport = t.carrier.word().to_ascii_lowercase();
    let call_id = format!("mf{n}@fedcert.invalid");
    let common = |method: &'static str, to_tag: bool| -> Vec<(String, Vec<u8>)> {
        let to = if to_tag { "<sip:bob@live.com>;tag=tt1".to_owned() } else { "<sip:bob@live.com>".to_owned() };
        vec![
            ("Via".into(), via.clone().into_bytes()),
            ("Max-Forwards".into(), b"70".to_vec()),
            ("From".into(), b"\"Alice\" <sip:alice@contoso.com>;tag=ft1".to_vec()),
            ("To".into(), to.into_bytes()),
            ("Call-ID".into(), call_id.clone().into_bytes()),
            ("CSeq".into(), format!("1 {method}").into_bytes()),
            ("Contact".into(), format!("<sip:alice@{};transport={transport}>", t.local).into_bytes()),
        ]
    };
    let req = |method: &'static str, uri: &str, to_tag: bool, ct: Option<&str>, body: &[u8]| {
        let mut headers = common(method, to_tag);
        if let Some(ct) = ct {
            headers.push(("Content-Type".into(), ct.as_bytes().to_vec()));
        }
        let kind = match method {
            "ACK" => Kind::Ack,
            "BENOTIFY" => Kind::BestEffort,
            _ => Kind::Request,
        };
        Msg {
            start: format!("{method} {uri} SIP/2.0"),
            headers,
            body: body.to_vec(),
            kind,
            sdp: ct.is_some_and(|c| c.contains("sdp") || c.starts_with("multipart/alternative;boundary=\"sdp")),
            xml: ct.is_some_and(|c| c.contains("xml")),
            method,
        }
    };
    let user = "sip:bob@live.com";
    let alt_body = format!(
        "--sdpb\r\nContent-Type: application/sdp\r\nContent-Disposition: session; handling=optional; ms-proxy-2007fallback\r\n\r\n{SDP}\r\n\
         --sdpb\r\nContent-Type: application/sdp\r\nContent-Disposition: session; handling=optional\r\n\r\n{ICE_SDP}\r\n--sdpb--\r\n"
    );
    let im_alt = "--imb\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nhello\r\n--imb\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<b>hello</b>\r\n--imb--\r\n";
    let mut subscribe = req("SUBSCRIBE", user, false, None, b"");
    subscribe.headers.extend([
        ("Event".into(), b"presence".to_vec()),
        ("Accept".into(), b"application/pidf+xml".to_vec()),
        ("Expires".into(), b"3600".to_vec()),
    ]);
    let mut notify = req("NOTIFY", "sip:alice@contoso.com", true, Some("application/pidf+xml"), PIDF.as_bytes());
    notify.headers.extend([
        ("Event".into(), b"presence".to_vec()),
        ("Subscription-State".into(), b"active;expires=3600".to_vec()),
    ]);
    let mut benotify = req(
        "BENOTIFY",
        "sip:alice@contoso.com",
        true,
        Some("application/msrtc-event-categories+xml"),
        CATEGORIES.as_bytes(),
    );
    benotify.headers.push(("Event".into(), b"presence".to_vec()));
    let response = |code: u16, reason: &str| {
        let mut headers = common("INVITE", true);
        headers.retain(|(n, _)| n != "Max-Forwards");
        Msg {
            start: format!("SIP/2.0 {code} {reason}"),
            headers,
            body: Vec::new(),
            kind: Kind::Response,
            sdp: false,
            xml: false,
            method: "INVITE",
        }
    };
    let mut ok = response(200, "OK");
    ok.headers.push(("Content-Type".into(), b"application/sdp".to_vec()));
    ok.body = SDP.as_bytes().to_vec();
    vec![
        ("invite-sdp", req("INVITE", user, false, Some("application/sdp"), SDP.as_bytes())),
        (
            "invite-alternative",
            req("INVITE", user, false, Some("multipart/alternative;boundary=\"sdpb\""), alt_body.as_bytes()),
        ),
        ("ack", req("ACK", user, true, None, b"")),
        ("bye", req("BYE", user, true, None, b"")),
        ("cancel", req("CANCEL", user, false, None, b"")),
        ("message-plain", req("MESSAGE", user, false, Some("text/plain; charset=UTF-8"), b"hello there")),
        ("message-html", req("MESSAGE", user, false, Some("text/html; charset=UTF-8"), b"<b>hello</b> there")),
        (
            "message-multipart",
            req("MESSAGE", user, false, Some("multipart/alternative;boundary=\"imb\""), im_alt.as_bytes()),
        ),
        ("info-typing", req("INFO", user, true, Some("application/xml"), TYPING.as_bytes())),
        ("subscribe", subscribe),
        ("notify-pidf", notify),
        ("benotify-categories", benotify),
        (
            "service",
            req(
                "SERVICE",
                "sip:alice@contoso.com",
                false,
                Some("application/msrtc-category-publish+xml"),
                PUBLISH.as_bytes(),
            ),
        ),
        ("options", req("OPTIONS", &format!("sip:{}", t.server), false, None, b"")),
        ("response-200", ok),
        ("response-486", response(486, "Busy Here")),
    ]
}

/// A mutation's outcome: the bytes and the reaction, or `None` when it does not apply.
type Made = Option<(Vec<u8>, Reaction, bool)>;

/// The reaction of a request whose form is wrong in a way the parser sees: 400 for requests,
/// nothing for responses and ACK.
fn form(m: &Msg, r: Reaction) -> Reaction {
    match m.kind {
        Kind::Request => r,
        Kind::Ack | Kind::Response => Reaction::Drop,
        Kind::BestEffort if r == Reaction::Handled => Reaction::Drop,
        Kind::BestEffort => Reaction::Survive,
    }
}

/// A legal variant: handled on its merits (requests), never answered (ACK, responses).
fn legal(m: &Msg) -> Reaction {
    form(m, Reaction::Handled)
}

fn start_line(m: &Msg, line: &str, r: Reaction) -> Made {
    let mut c = m.clone();
    c.start = line.to_owned();
    Some((c.bytes(), form(m, r), false))
}

fn without(m: &Msg, name: &str, r: Reaction) -> Made {
    let mut c = m.clone();
    c.remove(name);
    Some((c.bytes(), form(m, r), false))
}

fn with(m: &Msg, name: &str, value: &[u8], r: Reaction) -> Made {
    let mut c = m.clone();
    c.set(name, value.to_vec());
    Some((c.bytes(), form(m, r), false))
}

fn appended(m: &Msg, name: &str, value: &[u8], r: Reaction) -> Made {
    let mut c = m.clone();
    c.headers.push((name.to_owned(), value.to_vec()));
    Some((c.bytes(), form(m, r), false))
}

/// Sets Content-Length to `cl` as written, body unchanged.
fn content_length(m: &Msg, cl: &str, udp: Reaction, tcp: Reaction, carrier: Carrier) -> Made {
    let mut c = m.clone();
    c.set("Content-Length", cl.as_bytes().to_vec());
    let r = match carrier {
        Carrier::Udp => form(m, udp),
        Carrier::Tcp => tcp,
    };
    Some((c.raw(), r, false))
}

fn with_body(m: &Msg, ct: Option<&str>, body: &[u8], r: Reaction) -> Made {
    let mut c = m.clone();
    if let Some(ct) = ct {
        c.set("Content-Type", ct.as_bytes().to_vec());
    }
    c.body = body.to_vec();
    Some((c.bytes(), form(m, r), false))
}

fn nested_multipart(depth: usize, inner: &str) -> (String, Vec<u8>) {
    let mut body = format!("Content-Type: text/plain\r\n\r\n{inner}");
    for level in (0..depth).rev() {
        body = format!("--n{level}\r\n{body}\r\n--n{level}--\r\n");
        if level > 0 {
            body = format!("Content-Type: multipart/mixed;boundary=\"n{level}\"\r\n\r\n{body}");
        }
    }
    ("multipart/mixed;boundary=\"n0\"".to_owned(), body.into_bytes())
}

const NOT_FORM: Reaction = Reaction::Final(&[400]);

/// Applies mutation `i` (a fixed list) to `m`.
fn mutation(i: usize, m: &Msg, t: &Target) -> (&'static str, Made) {
    let carrier = t.carrier;
    let req = matches!(m.kind, Kind::Request | Kind::BestEffort);
    let has_body = !m.body.is_empty();
    let udp = carrier == Carrier::Udp;
    let uri = m.start.split(' ').nth(1).unwrap_or("sip:x").to_owned();
    let method = m.method;
    let is_req_line = m.kind != Kind::Response;
    match i {
        // Start line (RFC 3261 §7.1, §25; RFC 4475 §3.1.2).
        0 => ("start-garbage", start_line(m, "HELLO WORLD", Reaction::Drop)),
        1 => ("start-empty", start_line(m, "", Reaction::Drop)),
        2 => ("start-double-space", start_line(m, &m.start.replacen(' ', "  ", 1), Reaction::RejectOrDrop)),
        3 => (
            "start-no-version",
            start_line(m, m.start.rsplit_once(' ').map(|x| x.0).unwrap_or(""), Reaction::RejectOrDrop),
        ),
        4 => ("start-lowercase-version", start_line(m, &m.start.replace("SIP/2.0", "sip/2.0"), Reaction::RejectOrDrop)),
        5 => ("start-version-3", start_line(m, &m.start.replace("SIP/2.0", "SIP/3.0"), Reaction::Final(&[505]))),
        6 => (
            "start-method-not-token",
            is_req_line.then(|| start_line(m, &format!("INV@TE {uri} SIP/2.0"), Reaction::RejectOrDrop)).flatten(),
        ),
        7 => (
            "start-uri-no-scheme",
            is_req_line
                .then(|| start_line(m, &format!("{method} bob@live.com SIP/2.0"), Reaction::RejectOrDrop))
                .flatten(),
        ),
        8 => (
            "start-uri-in-angles",
            is_req_line.then(|| start_line(m, &format!("{method} <{uri}> SIP/2.0"), Reaction::RejectOrDrop)).flatten(),
        ),
        9 => (
            "start-uri-scheme-unsupported",
            (req && method != "OPTIONS")
                .then(|| start_line(m, &format!("{method} mailto:bob@live.com SIP/2.0"), Reaction::Final(&[416])))
                .flatten(),
        ),
        10 => (
            "start-status-four-digits",
            (m.kind == Kind::Response).then(|| start_line(m, "SIP/2.0 2000 OK", Reaction::Drop)).flatten(),
        ),
        11 => (
            "start-status-below-100",
            (m.kind == Kind::Response).then(|| start_line(m, "SIP/2.0 099 Low", Reaction::Drop)).flatten(),
        ),
        12 => (
            "start-unknown-method",
            req.then(|| {
                let mut c = m.clone();
                c.start = format!("FROBNICATE {uri} SIP/2.0");
                c.set("CSeq", "1 FROBNICATE");
                Some((c.bytes(), Reaction::Final(&[405, 501]), false))
            })
            .flatten(),
        ),
        13 => ("start-nul", start_line(m, &m.start.replacen(' ', "\0 ", 1), Reaction::RejectOrDrop)),
        14 => {
            // Invalid UTF-8 in the start line (the Request-URI's user part, or the reason).
            let mut c = m.clone();
            c.start = "\u{1}".to_owned();
            let bad = if m.start.contains("bob@") {
                m.start.replacen("bob@", "b\u{1}b@", 1)
            } else {
                format!("{}\u{1}", m.start)
            };
            let mut line = Vec::new();
            for part in bad.split('\u{1}').collect::<Vec<_>>().join("\u{2}").bytes() {
                if part == 2 {
                    line.extend_from_slice(b"\xff\xfe");
                } else {
                    line.push(part);
                }
            }
            let mut b = c.bytes();
            b.splice(0..1, line);
            ("start-invalid-utf8", Some((b, form(m, Reaction::RejectOrDrop), false)))
        }
        // Missing mandatory headers (§8.1.1, §20): 400. Without a Via a response has no
        // proper destination (§18.2.2): answering the source or dropping are both taken.
        15 => ("missing-to", without(m, "To", NOT_FORM)),
        16 => ("missing-from", without(m, "From", NOT_FORM)),
        17 => ("missing-call-id", without(m, "Call-ID", NOT_FORM)),
        18 => ("missing-cseq", without(m, "CSeq", NOT_FORM)),
        19 => ("missing-via", without(m, "Via", Reaction::RejectOrDrop)),
        20 => ("missing-max-forwards", without(m, "Max-Forwards", Reaction::Handled)),
        21 => ("missing-content-type", has_body.then(|| without(m, "Content-Type", Reaction::Refused)).flatten()),
        // Content-Length (§18.3, §20.14).
        22 => ("content-length-missing", {
            let mut c = m.clone();
            c.remove("Content-Length");
            let r = match (carrier, has_body) {
                // On a datagram the body runs to its end (§18.3).
                (Carrier::Udp, _) => legal(m),
                // On a stream Content-Length MUST be there (§20.14): a server may refuse the
                // message or close the stream it can no longer frame.
                (Carrier::Tcp, false) => Reaction::RejectOrDrop,
                // On a stream the body is read as the next message: framing is lost.
                (Carrier::Tcp, true) => Reaction::Survive,
            };
            Some((c.raw(), r, false))
        }),
        23 => ("content-length-negative", content_length(m, "-1", Reaction::RejectOrDrop, Reaction::Drop, carrier)),
        24 => {
            ("content-length-not-a-number", content_length(m, "abc", Reaction::RejectOrDrop, Reaction::Drop, carrier))
        }
        25 => (
            "content-length-huge",
            content_length(m, "99999999999999999999999", Reaction::RejectOrDrop, Reaction::Drop, carrier),
        ),
        26 => (
            "content-length-larger-than-body",
            udp.then(|| content_length(m, &(m.body.len() + 50).to_string(), NOT_FORM, Reaction::Drop, carrier))
                .flatten(),
        ),
        27 => (
            "content-length-smaller-than-body",
            has_body
                .then(|| {
                    // The extra octets are discarded on a datagram (§18.3), so the body is cut:
                    // what that does to its content depends on the kind; on a stream they
                    // become the start of the next message.
                    content_length(m, &(m.body.len() - 3).to_string(), Reaction::Survive, Reaction::Survive, carrier)
                })
                .flatten(),
        ),
        28 => (
            "content-length-zero-with-body",
            has_body.then(|| content_length(m, "0", Reaction::Survive, Reaction::Survive, carrier)).flatten(),
        ),
        29 => ("content-length-duplicate-same", {
            let mut c = m.clone();
            c.set("Content-Length", m.body.len().to_string());
            c.headers.push(("Content-Length".into(), m.body.len().to_string().into_bytes()));
            let r = if udp { form(m, Reaction::RejectOrDrop) } else { Reaction::Drop };
            Some((c.raw(), r, false))
        }),
        30 => ("content-length-duplicate-different", {
            let mut c = m.clone();
            c.set("Content-Length", m.body.len().to_string());
            c.headers.push(("Content-Length".into(), (m.body.len() + 1).to_string().into_bytes()));
            let r = if udp { form(m, Reaction::RejectOrDrop) } else { Reaction::Drop };
            Some((c.raw(), r, false))
        }),
        // Oversize.
        31 => {
            let mut c = m.clone();
            for k in 0..500 {
                c.headers.push((format!("X-Fill-{k}"), b"v".to_vec()));
            }
            ("headers-500", Some((c.bytes(), legal(m), false)))
        }
        32 => ("header-value-8k", appended(m, "X-Long", &vec![b'a'; 8000], Reaction::Handled)),
        33 => {
            // Over the 64 KiB a stream message may take: the stream is closed (or 513).
            let (size, r) = if udp { (60_000, form(m, Reaction::Survive)) } else { (70_000, Reaction::Drop) };
            let mut c = m.clone();
            c.headers.push(("X-Huge".into(), vec![b'h'; size]));
            ("header-value-oversize", Some((c.bytes(), r, false)))
        }
        34 => (
            "body-oversize",
            (req && !udp)
                .then(|| {
                    let mut c = m.clone();
                    c.body.resize(70_000, b'x');
                    Some((c.bytes(), Reaction::Drop, false))
                })
                .flatten(),
        ),
        35 => (
            "body-50k",
            (req && has_body)
                .then(|| {
                    let mut c = m.clone();
                    c.body.resize(50_000, b' ');
                    // Large but under every limit: handled, refused as too large (413), or,
                    // for a structured body, refused as that body (400, 488).
                    Some((c.bytes(), Reaction::Survive, false))
                })
                .flatten(),
        ),
        // Invalid UTF-8 and NUL.
        36 => ("utf8-extension-header", appended(m, "X-Junk", b"\xc3\x28\xff", Reaction::Handled)),
        37 => {
            ("utf8-display-name", with(m, "From", b"\"\xff\xfe\" <sip:alice@contoso.com>;tag=ft1", Reaction::Answered))
        }
        38 => (
            "utf8-body",
            (req && has_body && !m.sdp).then(|| with_body(m, None, b"caf\xe9 \xff\xfe", Reaction::Refused)).flatten(),
        ),
        39 => ("nul-extension-header", appended(m, "X-Nul", b"a\0b", Reaction::Survive)),
        40 => ("nul-in-call-id", with(m, "Call-ID", b"mf\0x@fedcert.invalid", Reaction::Survive)),
        41 => (
            "nul-in-body",
            (method == "MESSAGE" && m.header("Content-Type").is_some_and(|v| v.starts_with(b"text/plain")))
                .then(|| with_body(m, None, b"hel\0lo", Reaction::Handled))
                .flatten(),
        ),
        42 => {
            let mut b = vec![0u8; 16];
            b.extend_from_slice(&m.bytes());
            ("nul-prefix", Some((b, Reaction::Drop, false)))
        }
        // Multipart.
        43..=45 => {
            let depth = [2, 16, 64][i - 43];
            let (ct, body) = nested_multipart(depth, "hi");
            let name = ["multipart-nested-2", "multipart-nested-16", "multipart-nested-64"][i - 43];
            // §8.2.3: a body type the server does not take is refused with 415, unless it
            // refused the request for an earlier reason.
            (
                name,
                (req && method != "OPTIONS" && method != "CANCEL" && method != "BYE" && method != "SUBSCRIBE")
                    .then(|| with_body(m, Some(&ct), &body, Reaction::Refused))
                    .flatten(),
            )
        }
        46 => (
            "multipart-no-boundary",
            (req && m.header("Content-Type").is_some_and(|v| v.starts_with(b"multipart/")))
                .then(|| with(m, "Content-Type", b"multipart/alternative", Reaction::Refused))
                .flatten(),
        ),
        47 => (
            "multipart-unterminated",
            (req && m.header("Content-Type").is_some_and(|v| v.starts_with(b"multipart/")))
                .then(|| {
                    let cut = m.body.len() - 12;
                    with_body(m, None, &m.body[..cut], Reaction::Refused)
                })
                .flatten(),
        ),
        // Broken SDP (RFC 3264 offers): 400 or 488.
        48..=52 => {
            let broken: [(&'static str, String); 5] = [
                ("sdp-no-version", SDP.replacen("v=0\r\n", "", 1)),
                ("sdp-bad-port", SDP.replace("m=audio 50000", "m=audio abc")),
                ("sdp-garbage", "this is not a session description\r\n".to_owned()),
                ("sdp-truncated", SDP[..40].to_owned()),
                ("sdp-no-media-format", SDP.replace("RTP/AVP 0 8 101", "RTP/AVP")),
            ];
            let (name, body) = (broken[i - 48].0, broken[i - 48].1.clone());
            (
                name,
                (req && method == "INVITE")
                    .then(|| with_body(m, Some("application/sdp"), body.as_bytes(), Reaction::Refused))
                    .flatten(),
            )
        }
        // Bad XML bodies.
        53..=56 => {
            let broken: [(&'static str, &[u8]); 4] = [
                ("xml-unclosed", b"<?xml version=\"1.0\"?><presence><tuple>"),
                ("xml-garbage", b"<<<>>>&&&"),
                ("xml-wrong-root", b"<?xml version=\"1.0\"?><nothing-we-know/>"),
                (
                    "xml-entity-expansion",
                    b"<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]><presence>&c;&c;&c;</presence>",
                ),
            ];
            let (name, body) = broken[i - 53];
            (name, (req && m.xml).then(|| with_body(m, None, body, Reaction::Refused)).flatten())
        }
        // Header values.
        57 => (
            "cseq-method-mismatch",
            is_req_line
                .then(|| with(m, "CSeq", if method == "BYE" { b"1 INFO" } else { b"1 BYE" }, NOT_FORM))
                .flatten(),
        ),
        58 => ("cseq-not-a-number", with(m, "CSeq", format!("one {method}").as_bytes(), NOT_FORM)),
        59 => ("cseq-2-pow-31", with(m, "CSeq", format!("2147483648 {method}").as_bytes(), NOT_FORM)),
        60 => ("max-forwards-not-a-number", with(m, "Max-Forwards", b"seventy", Reaction::Answered)),
        61 => ("duplicate-to", appended(m, "To", b"<sip:carol@live.com>", NOT_FORM)),
        62 => ("duplicate-call-id", appended(m, "Call-ID", b"other@fedcert.invalid", NOT_FORM)),
        63 => (
            "request-uri-with-headers",
            is_req_line.then(|| start_line(m, &format!("{method} {uri}?Subject=hi SIP/2.0"), NOT_FORM)).flatten(),
        ),
        64 => (
            "require-unknown",
            (req && method != "CANCEL")
                .then(|| appended(m, "Require", b"x-fedcert-nothing", Reaction::Final(&[420])))
                .flatten(),
        ),
        65 => (
            "content-encoding-unknown",
            (req && has_body)
                .then(|| appended(m, "Content-Encoding", b"x-fedcert-zip", Reaction::Final(&[415])))
                .flatten(),
        ),
        66 => ("via-garbage", with(m, "Via", b"not a via", Reaction::RejectOrDrop)),
        // Line structure.
        67 => {
            // Folding is legal (§7.3.1): the value continues on the next line.
            let mut c = m.clone();
            c.set("Subject", b"a folded\r\n  subject line".to_vec());
            ("folded-line", Some((c.bytes(), legal(m), false)))
        }
        68 => {
            let mut c = m.clone();
            let from = c.header("From").unwrap_or_default().to_vec();
            let (a, b) = from.split_at(from.iter().position(|x| *x == b'<').unwrap_or(0));
            let mut v = a.to_vec();
            v.extend_from_slice(b"\r\n\t");
            v.extend_from_slice(b);
            c.set("From", v);
            ("folded-from", Some((c.bytes(), legal(m), false)))
        }
        69 => {
            // Bare LF line ends: RFC 3261 §7 asks for CRLF, and the parser is lenient.
            let mut b = m.clone().bytes();
            let head_end = b.windows(4).position(|w| w == b"\r\n\r\n").map_or(b.len(), |p| p + 4);
            let (head, body) = b.split_at(head_end);
            let mut out: Vec<u8> = head.iter().copied().filter(|x| *x != b'\r').collect();
            out.extend_from_slice(body);
            b = out;
            ("bare-lf", Some((b, Reaction::Survive, false)))
        }
        70 => {
            let b = m.bytes();
            let cut = b.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(b.len()) / 2;
            // No empty line: over UDP the head never ends; over TCP the stream ends here.
            ("truncated-head", Some((b[..cut].to_vec(), Reaction::Drop, !udp)))
        }
        71 => (
            "truncated-body",
            has_body
                .then(|| {
                    let b = m.bytes();
                    let cut = b.len() - m.body.len() / 2;
                    // §18.3: a request whose datagram ends before its body is answered 400; a
                    // stream that ends mid-body leaves nothing to answer.
                    let r = if udp { form(m, NOT_FORM) } else { Reaction::Drop };
                    Some((b[..cut].to_vec(), r, !udp))
                })
                .flatten(),
        ),
        72 => (
            "header-no-colon",
            appended(m, "Subject hello", b"", Reaction::RejectOrDrop).map(|(b, r, e)| {
                // `appended` wrote `Subject hello: `; make it a line without any colon.
                let s = String::from_utf8_lossy(&b).replace("Subject hello: \r\n", "Subject hello\r\n");
                (s.into_bytes(), r, e)
            }),
        ),
        73 => ("header-name-with-space", appended(m, "Sub ject", b"x", Reaction::RejectOrDrop)),
        74 => {
            let mut b = m.bytes();
            let first = b.iter().position(|x| *x == b'\n').map_or(0, |p| p + 1);
            b.splice(first..first, b" continued\r\n".iter().copied());
            ("continuation-first", Some((b, form(m, Reaction::RejectOrDrop), false)))
        }
        75 => {
            let mut b = m.bytes();
            b.extend_from_slice(b"trailing garbage after the body");
            // §18.3: octets after the announced body are discarded on a datagram; on a stream
            // they are the next message, which does not parse.
            let r = if udp { legal(m) } else { Reaction::Survive };
            ("trailing-octets", Some((b, r, false)))
        }
        76 => {
            let mut b = b"\r\n\r\n\r\n".to_vec();
            b.extend_from_slice(&m.bytes());
            // §7.5: CRLFs before the start line are ignored on a stream.
            let r = if udp { Reaction::Survive } else { legal(m) };
            ("leading-crlf", Some((b, r, false)))
        }
        77 => {
            let r = Reaction::Answered;
            ("expires-not-a-number", (method == "SUBSCRIBE").then(|| with(m, "Expires", b"soon", r)).flatten())
        }
        78 => ("compact-headers", {
            let mut c = m.clone();
            for (n, short) in
                [("Via", "v"), ("From", "f"), ("To", "t"), ("Call-ID", "i"), ("Contact", "m"), ("Content-Type", "c")]
            {
                if let Some(h) = c.headers.iter_mut().find(|(x, _)| x == n) {
                    h.0 = short.to_owned();
                }
            }
            Some((c.bytes(), legal(m), false))
        }),
        79 => ("header-names-lowercase", {
            let mut c = m.clone();
            for h in &mut c.headers {
                h.0 = h.0.to_ascii_lowercase();
            }
            Some((c.bytes(), legal(m), false))
        }),
        _ => ("", None),
    }
}

const MUTATIONS: usize = 80;

/// Seeded noise: byte flips, insertions and deletions in a valid message. No rule says what
/// a server answers, only that it keeps serving.
fn noise(b: &[u8], rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut out = b.to_vec();
    for _ in 0..rng.usize(1..=8) {
        if out.is_empty() {
            break;
        }
        let at = rng.usize(..out.len());
        match rng.u8(..4) {
            0 => out[at] = rng.u8(..),
            1 => out.insert(at, *rng.choice(b"\r\n\0:;<>\"\\ \t,=@%\xff").unwrap_or(&b'x')),
            2 => {
                out.remove(at);
            }
            _ => {
                let len = rng.usize(1..=32.min(out.len() - at));
                let chunk = out[at..at + len].to_vec();
                out.splice(at..at, chunk);
            }
        }
    }
    out
}

/// Noise cases per base message.
pub const NOISE_PER_BASE: usize = 12;

/// The whole corpus for `target`: every applicable mutation of every base, then
/// [`NOISE_PER_BASE`] seeded noise cases per base. Deterministic for a seed; each case has its
/// own Call-ID and branch.
pub fn corpus(seed: u64, target: &Target) -> Vec<Case> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::new();
    let kinds = bases(target, 0).len();
    for k in 0..kinds {
        for i in 0..MUTATIONS + NOISE_PER_BASE {
            let n = out.len() + 1;
            let (base, m) = bases(target, n).swap_remove(k);
            let call_id = format!("mf{n}@fedcert.invalid");
            let (name, made) = if i < MUTATIONS {
                let (name, made) = mutation(i, &m, target);
                (name.to_owned(), made)
            } else {
                (format!("noise-{}", i - MUTATIONS), Some((noise(&m.bytes(), &mut rng), Reaction::Survive, false)))
            };
            if let Some((bytes, expect, mut end_stream)) = made {
                // A case with no rule but survival may leave a stream mid-message (a length
                // that runs into whatever follows): end the stream after it, so the next
                // bytes are not read as its body. The periodic pings on fresh connections
                // still prove the server serves.
                end_stream |= target.carrier == Carrier::Tcp && expect == Reaction::Survive;
                out.push(Case { name: format!("{base}/{name}"), bytes, expect, call_id, end_stream });
            }
        }
    }
    out
}

/// The valid base messages (as sent, with Content-Length), for seeding fuzzers and checking
/// that every base is itself handled.
pub fn base_messages(target: &Target) -> Vec<(&'static str, Vec<u8>)> {
    bases(target, 0).into_iter().map(|(name, m)| (name, m.bytes())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::wire::Message;

    fn target(carrier: Carrier) -> Target {
        Target { carrier, local: "127.0.0.1:5999".parse().unwrap(), server: "127.0.0.1:5060".parse().unwrap() }
    }

    #[test]
    fn every_base_message_parses_and_validates() {
        for carrier in [Carrier::Udp, Carrier::Tcp] {
            for (name, bytes) in base_messages(&target(carrier)) {
                let m = Message::parse_datagram(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
                m.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
    }

    #[test]
    fn the_corpus_is_large_deterministic_and_named_uniquely() {
        for carrier in [Carrier::Udp, Carrier::Tcp] {
            let a = corpus(7, &target(carrier));
            let b = corpus(7, &target(carrier));
            assert!(a.len() >= 1000, "{carrier:?}: {} cases", a.len());
            assert!(a.iter().zip(&b).all(|(x, y)| x.name == y.name && x.bytes == y.bytes));
            let names: std::collections::BTreeSet<&str> = a.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names.len(), a.len(), "names repeat");
            assert_ne!(
                corpus(8, &target(carrier)).iter().map(|c| c.bytes.clone()).collect::<Vec<_>>(),
                a.iter().map(|c| c.bytes.clone()).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn reactions_accept_what_they_say() {
        assert!(Reaction::Final(&[400, 488]).accepts(Some(488)));
        assert!(!Reaction::Final(&[400]).accepts(None));
        assert!(Reaction::Handled.accepts(Some(480)) && !Reaction::Handled.accepts(Some(400)));
        assert!(Reaction::Drop.accepts(None) && !Reaction::Drop.accepts(Some(200)));
        assert!(Reaction::RejectOrDrop.accepts(Some(400)) && !Reaction::RejectOrDrop.accepts(Some(200)));
        assert!(Reaction::Refused.accepts(Some(404)) && !Reaction::Refused.accepts(Some(200)));
        assert!(!Reaction::Refused.accepts(None) && !Reaction::Answered.accepts(None));
        assert!(Reaction::Answered.accepts(Some(200)) && Reaction::Answered.accepts(Some(400)));
    }
}
