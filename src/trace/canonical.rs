//! The canonical trace: what golden snapshots hold. Actors are named by role and identity,
//! never by address; volatile values become symbols in order of first appearance; only the
//! trace profile's headers and body summaries are kept; 100 Trying and retransmissions are
//! dropped (retransmissions are counted separately). Steps are synchronisation points and,
//! within a step, each leg keeps its own order, enterprise first, so the text does not depend
//! on timing between legs.

mod media;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;

use serde::Deserialize;

use crate::dialect::categories::{self, BatchSub, StateCategory};
use crate::dialect::im::{self, Typing};
use crate::dialect::pidf::{self, Pidf};
use crate::net::{TapEvent, TapKind, Transport};
use crate::sdp::{Attribute, Candidate, MediaKind};
use crate::sip::wire::ms::{MsDiagnostics, MsTextFormat};
use crate::sip::wire::multipart;
use crate::sip::wire::{Frame, MediaType, Message, Method, SipUri, StreamFramer};

pub use media::{MediaSeen, RtpStreamCount, datagrams as media_datagrams, is_media, rtp_streams};

/// The trace profile (`scenarios/trace_profile.yaml`).
#[derive(Debug, Clone, Deserialize)]
pub struct TraceProfile {
    /// Profile name.
    pub name: String,
    /// Headers kept with their value.
    pub keep_headers: Vec<String>,
    /// Supported/Require tokens kept.
    pub tokens: Vec<String>,
}

impl TraceProfile {
    /// The profile shipped in `scenarios/trace_profile.yaml`.
    pub fn builtin() -> &'static Self {
        static PROFILE: std::sync::OnceLock<TraceProfile> = std::sync::OnceLock::new();
        PROFILE.get_or_init(|| {
            crate::dialect::load_profile(
                "scenarios/trace_profile.yaml",
                include_str!("../../scenarios/trace_profile.yaml"),
            )
            .unwrap_or_else(|e| panic!("built-in profile: {e}"))
        })
    }
}

/// Who is who on the wire, for one scenario.
#[derive(Debug, Clone, Default)]
pub struct Cast {
    /// Addresses the harness listens on (both legs), with their transport: TCP and UDP port
    /// numbers are allocated separately and may coincide.
    pub harness: BTreeSet<(Transport, SocketAddr)>,
    /// Addresses of the gateway's faces, with their transport.
    pub gateway: BTreeSet<(Transport, SocketAddr)>,
    /// The harness's media sockets, by the actor that owns them (`lync:alice@contoso.com`).
    pub media: BTreeMap<SocketAddr, String>,
    /// SRTP keys (base64 key||salt) by sending address, for the harness's own video streams.
    pub srtp: BTreeMap<SocketAddr, String>,
}

/// One SIP message seen by the harness, with its context.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Scenario step (1-based; 0 = before the first step).
    pub step: usize,
    /// The harness leg that saw it (`enterprise` / `consumer`).
    pub leg: String,
    /// True when the harness sent it.
    pub sent: bool,
    /// The transport it crossed.
    pub transport: Transport,
    /// The message.
    pub msg: Message,
}

/// Messages from tap events: UDP datagrams parsed whole, TCP directions framed by
/// Content-Length. Unparseable input is returned separately with its description.
pub fn messages(events: &[TapEvent], cast: &Cast) -> (Vec<Seen>, Vec<String>) {
    let mut framers: HashMap<(SocketAddr, SocketAddr), StreamFramer> = HashMap::new();
    let (mut out, mut bad) = (Vec::new(), Vec::new());
    for ev in events {
        let TapKind::Data(bytes) = &ev.kind else {
            if ev.kind == TapKind::TcpOpen {
                framers.insert((ev.src, ev.dst), StreamFramer::new(super::MAX_TRACE_MESSAGE));
            }
            continue;
        };
        let sent = cast.harness.contains(&(ev.transport, ev.src)) || cast.gateway.contains(&(ev.transport, ev.dst));
        let leg = ev.actor.clone().unwrap_or_default();
        let mut push =
            |msg: Message| out.push(Seen { step: ev.step, leg: leg.clone(), sent, transport: ev.transport, msg });
        match ev.transport {
            Transport::Udp => {
                if bytes.iter().all(|b| *b == b'\r' || *b == b'\n') || is_media(bytes) {
                    continue;
                }
                match Message::parse_datagram(bytes) {
                    Ok(m) => push(m),
                    Err(e) => bad.push(format!("{} -> {}: {e}", ev.src, ev.dst)),
                }
            }
            Transport::Tcp => {
                let f = framers.entry((ev.src, ev.dst)).or_insert_with(|| StreamFramer::new(super::MAX_TRACE_MESSAGE));
                f.push(bytes);
                loop {
                    match f.next_frame() {
                        Ok(Some(Frame::Message(m))) => push(m),
                        Ok(Some(Frame::KeepAlive)) => {}
                        Ok(None) => break,
                        Err(e) => {
                            bad.push(format!("{} -> {}: {e}", ev.src, ev.dst));
                            break;
                        }
                    }
                }
            }
        }
    }
    (out, bad)
}

/// Stable names for volatile values, numbered in order of first appearance.
#[derive(Debug, Default)]
struct Symbols {
    map: HashMap<(String, String), usize>,
    next: HashMap<String, usize>,
}

impl Symbols {
    fn get(&mut self, kind: &str, value: &str) -> String {
        let key = (kind.to_owned(), value.to_owned());
        if let Some(n) = self.map.get(&key) {
            return format!("{kind}-{n}");
        }
        let n = self.next.entry(kind.to_owned()).or_insert(0);
        *n += 1;
        self.map.insert(key, *n);
        format!("{kind}-{n}")
    }
}

/// The rendered trace and what it left out.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The canonical text.
    pub text: String,
    /// Retransmissions dropped from the text.
    pub retransmissions: usize,
    /// SIP messages rendered.
    pub messages: usize,
}

/// One scenario step as the trace lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepLine {
    /// Keyword and text.
    pub text: String,
    /// A check (`Then`): it waits for and judges what the action before it caused, so that
    /// action's traffic is recorded under the action, however long the gateway takes.
    pub check: bool,
}

/// Renders the canonical trace of one scenario's signalling.
pub fn render(title: &str, steps: &[StepLine], seen: &[Seen], profile: &TraceProfile) -> Rendered {
    render_with_media(title, steps, seen, &[], &Cast::default(), profile)
}

/// Renders the canonical trace of one scenario: per step and leg, its SIP messages, then one
/// line per media flow (`media`, from [`media_datagrams`]).
pub fn render_with_media(
    title: &str,
    steps: &[StepLine],
    seen: &[Seen],
    media: &[MediaSeen],
    cast: &Cast,
    profile: &TraceProfile,
) -> Rendered {
    let mut text = String::new();
    let _ = writeln!(text, "scenario: {title}");
    let _ = writeln!(text, "profiles: enterprise lync-2013, consumer skype-consumer, trace {}", profile.name);
    let mut syms = Symbols::default();
    let mut earlier: BTreeSet<(String, bool, Vec<u8>)> = BTreeSet::new();
    let (mut retransmissions, mut messages) = (0, 0);
    for (i, step) in steps.iter().enumerate() {
        let n = i + 1;
        let _ = writeln!(text, "step {n}  {}", step.text);
        let mut any = false;
        for leg in ["enterprise", "consumer"] {
            for s in seen.iter().filter(|s| s.step == n && s.leg == leg) {
                if s.msg.status() == Some(100) {
                    continue;
                }
                // Branches, tags and CSeq make every new message unique: the same bytes again on
                // the same leg and direction are a retransmission, wherever they fall.
                if !earlier.insert((leg.to_owned(), s.sent, s.msg.as_bytes().to_vec())) {
                    retransmissions += 1;
                    continue;
                }
                any = true;
                messages += 1;
                line(&mut text, leg, s, profile, &mut syms);
            }
            let (media_lines, again) = media::lines(media, seen, cast, n, leg, &mut syms);
            retransmissions += again;
            for l in media_lines {
                any = true;
                let _ = writeln!(text, "{l}");
            }
        }
        if !any && !step.check {
            let _ = writeln!(text, "  (no traffic)");
        }
    }
    Rendered { text, retransmissions, messages }
}

fn aor(uri: &str) -> String {
    match SipUri::parse(uri) {
        Ok(u) => u.address_of_record(),
        Err(_) => uri.to_owned(),
    }
}

/// A URI as the trace shows it: the identity it names, or a symbol for a bare address.
fn show_uri(uri: &str, syms: &mut Symbols) -> String {
    match SipUri::parse(uri) {
        Ok(u) if u.user.is_some() => format!("sip:{}", u.address_of_record()),
        Ok(u) => format!("<{}>", syms.get("contact", &format!("{}:{:?}", u.host, u.port))),
        Err(_) => uri.to_owned(),
    }
}

fn line(text: &mut String, leg: &str, s: &Seen, profile: &TraceProfile, syms: &mut Symbols) {
    let m = &s.msg;
    let prefix = if leg == "enterprise" { "lync" } else { "skype" };
    let gw = format!("gw:{leg}");
    let from = m.from_addr().map(|a| aor(&a.uri)).unwrap_or_default();
    let to = m.to_addr().map(|a| aor(&a.uri)).unwrap_or_default();
    // The harness-side party: the From of what it sends as a request or receives as a
    // response, the To otherwise.
    let ours = if m.is_request() == s.sent { &from } else { &to };
    let harness = format!("{prefix}:{ours}");
    let (src, dst) = if s.sent { (harness, gw) } else { (gw, harness) };
    let call = m.call_id().map(|c| syms.get("call", &c)).unwrap_or_default();
    let head = match (m.method(), m.request_uri(), m.status()) {
        (Some(method), Some(uri), _) => format!("{method} {}", show_uri(uri, syms)),
        (_, _, Some(code)) => {
            let method = m.cseq().map(|c| c.method.to_string()).unwrap_or_default();
            format!("{code} ({method})")
        }
        _ => String::new(),
    };
    let _ = writeln!(text, "  {leg:<10}  {src} -> {dst}  {head}  [{call}]");
    let mut details = Vec::new();
    if m.is_request() {
        details.push(format!("From: {from}  To: {to}"));
    }
    // The answer to an OPTIONS addressed to the element itself (no user part) lists its own
    // capabilities (RFC 3261 §11.2), which differ between conforming implementations: its
    // status is what conformance concerns. A directory search names a user and keeps them.
    let capabilities = !m.is_request()
        && m.cseq().is_ok_and(|c| c.method == Method::OPTIONS)
        && m.to_addr().ok().and_then(|a| SipUri::parse(&a.uri).ok()).is_some_and(|u| u.user.is_none());
    for name in profile.keep_headers.iter().filter(|_| !capabilities) {
        for v in m.values(name) {
            // A Warning's agent and text name the product; its code is what conformance
            // concerns (RFC 3261 §20.43).
            let v = if name.eq_ignore_ascii_case("Warning") { v.split(' ').next().unwrap_or("").into() } else { v };
            // The expiry a notifier reports counts down (RFC 6665 §4.2.2); state and reason
            // are what conformance concerns.
            let v = if name.eq_ignore_ascii_case("Subscription-State") {
                v.split(';')
                    .filter(|p| !p.split('=').next().is_some_and(|k| k.trim().eq_ignore_ascii_case("expires")))
                    .collect::<Vec<_>>()
                    .join(";")
                    .into()
            } else {
                v
            };
            details.push(format!("{name}: {v}"));
        }
    }
    let tokens: Vec<String> =
        m.list("Supported").into_iter().filter(|t| profile.tokens.iter().any(|k| k.eq_ignore_ascii_case(t))).collect();
    if !tokens.is_empty() {
        details.push(format!("Supported: {}", tokens.join(", ")));
    }
    for name in ["ms-diagnostics", "ms-diagnostics-public"] {
        if let Some(d) = m.value(name).and_then(|v| MsDiagnostics::parse(&v).ok()) {
            let src = if d.source.is_some() { " source=…" } else { "" };
            details.push(format!("{name}: {}{src}", d.code));
        }
    }
    if let Some(f) = m.value("ms-text-format").and_then(|v| MsTextFormat::parse(&v).ok()) {
        let msgr = if f.msgr.is_some() { " msgr" } else { "" };
        details.push(text_summary(&format!("ms-text-format: {}{msgr}", f.content_type), &f.text));
    }
    details.extend(body_summary(m, syms));
    for d in details {
        let _ = writeln!(text, "              {d}");
    }
}

/// Texts longer than this are shown by length, digest and head.
const TEXT_SHOWN: usize = 160;

/// An IM text: quoted whole, or (long ones) length, FNV-1a digest and head, so that a 10 KB
/// IM stays one line and any change to it still changes the line.
fn text_summary(label: &str, text: &str) -> String {
    if text.len() <= TEXT_SHOWN {
        return format!("{label} {text:?}");
    }
    let digest = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let head: String = text.chars().take(40).collect();
    format!("{label} {} bytes fnv1a={digest:016x} {head:?}…", text.len())
}

/// A text body with its type, noting Lync's `msgr` font parameter.
fn typed_text(ct: &MediaType, body: &str) -> String {
    let msgr = if ct.param("msgr").is_some() { " msgr" } else { "" };
    text_summary(&format!("{}{msgr}", ct.essence), body)
}

/// An SDP body: one line per m-line (media, protocol, formats; ports are volatile), and for
/// audio and video the codec names, ICE, keys (as symbols, so a key reused across legs or
/// descriptions shows), SSRC range and direction.
fn sdp_summary(body: &[u8], syms: &mut Symbols) -> Vec<String> {
    let sdp = match crate::sdp::parse(body) {
        Ok(s) => s,
        Err(e) => return vec![format!("sdp: unreadable ({e})")],
    };
    let mut out = Vec::new();
    if sdp.attributes.iter().any(|a| matches!(a, Attribute::Other { name, .. } if name == "ice-lite")) {
        out.push("sdp: ice-lite".to_owned());
    }
    for m in &sdp.media {
        let fmt: Vec<String> =
            m.formats.iter().map(|x| if x.starts_with("sip:") { show_uri(x, syms) } else { x.clone() }).collect();
        out.push(format!("sdp: m={} {} {}", m.kind, m.proto, fmt.join(" ")));
        if !matches!(m.kind, MediaKind::Audio | MediaKind::Video) {
            continue;
        }
        let port = if m.port == 0 { "  port 0 (refused)" } else { "" };
        let codecs: Vec<String> = m
            .codecs()
            .iter()
            .map(|c| match c.channels {
                Some(ch) => format!("{} {}/{}/{ch}", c.pt, c.name, c.clock),
                None => format!("{} {}/{}", c.pt, c.name, c.clock),
            })
            .collect();
        out.push(format!("  codecs: {}{port}", codecs.join(", ")));
        if m.kind == MediaKind::Video {
            // Req 25: the H.264 parameters (and no sprop-parameter-sets toward Lync) show.
            let fmtp: Vec<String> =
                m.codecs().iter().filter_map(|c| c.fmtp.as_ref().map(|f| format!("{} {f}", c.pt))).collect();
            if !fmtp.is_empty() {
                out.push(format!("  fmtp: {}", fmtp.join(", ")));
            }
            let fb: Vec<&str> = m
                .attributes
                .iter()
                .filter_map(|a| match a {
                    Attribute::RtcpFb(f) => Some(f.value.as_str()),
                    _ => None,
                })
                .collect();
            if !fb.is_empty() {
                out.push(format!("  rtcp-fb: {}", fb.join(", ")));
            }
        }
        let mut ice = Vec::new();
        if let Some(c) = m.ice() {
            ice.push(format!("{} {}", syms.get("ufrag", &c.ufrag), syms.get("pwd", &c.pwd)));
        }
        for c in m.candidates() {
            ice.push(match c {
                Candidate::Ice(c) => format!("{} {} {}", c.transport.token(), c.component, c.kind.token()),
                Candidate::Draft6(c) => format!("draft-6 {} {}", c.transport.token(), c.component),
            });
        }
        for a in &m.attributes {
            match a {
                Attribute::RemoteCandidates(r) => {
                    let comps: Vec<String> = r.iter().map(|r| r.component.to_string()).collect();
                    ice.push(format!("remote-candidates {}", comps.join(" ")));
                }
                Attribute::RemoteCandidate(_) => ice.push("remote-candidate".into()),
                _ => {}
            }
        }
        if !ice.is_empty() {
            out.push(format!("  ice: {}", ice.join(", ")));
        }
        let mut keys = Vec::new();
        for a in &m.attributes {
            let (scale, c) = match a {
                Attribute::Crypto(c) => ("", c),
                Attribute::CryptoScale(s) => ("scale ", &s.crypto),
                _ => continue,
            };
            let mki = if c.key.mki.is_some() { " mki" } else { "" };
            keys.push(format!("{scale}{} {} {}{mki}", c.tag, c.suite, syms.get("key", &c.key.key_salt)));
        }
        if !keys.is_empty() {
            out.push(format!("  crypto: {}", keys.join(", ")));
        }
        let mut rest = Vec::new();
        if let Some(r) = m.ssrc_range() {
            rest.push(format!("x-ssrc-range {} wide", r.len()));
        }
        rest.push(format!("direction {}", m.direction().token()));
        out.push(format!("  {}", rest.join(", ")));
    }
    out
}

fn body_summary(m: &Message, syms: &mut Symbols) -> Vec<String> {
    let Ok(Some(ct)) = m.content_type() else { return Vec::new() };
    if ct.essence == "multipart/alternative" {
        let Some(boundary) = ct.param("boundary") else { return vec!["multipart/alternative without boundary".into()] };
        return match multipart::parse(boundary, m.body()) {
            Ok(parts) => parts
                .iter()
                .flat_map(|p| match p.header("Content-Type").map(MediaType::parse) {
                    Some(Ok(pct)) if pct.essence == "application/sdp" => {
                        let fallback =
                            p.header("Content-Disposition").is_some_and(|d| d.contains("ms-proxy-2007fallback"));
                        let mut lines = sdp_summary(&p.body, syms);
                        if let Some(first) = lines.first_mut() {
                            *first = format!("part{}: {first}", if fallback { " (ms-proxy-2007fallback)" } else { "" });
                        }
                        lines
                    }
                    Some(Ok(pct)) => vec![format!("part: {}", typed_text(&pct, &String::from_utf8_lossy(&p.body)))],
                    _ => vec![format!("part: untyped, {} bytes", p.body.len())],
                })
                .collect(),
            Err(e) => vec![format!("multipart/alternative: unreadable ({e})")],
        };
    }
    let body = String::from_utf8_lossy(m.body());
    match ct.essence.as_str() {
        "text/plain" | "text/html" => vec![typed_text(&ct, &body)],
        im::KEYBOARD_ACTIVITY => vec![match im::read_keyboard_activity(&body) {
            Ok(t) => format!("typing: {}", if t == Typing::Active { "type" } else { "idle" }),
            Err(e) => format!("application/xml: not KeyboardActivity ({e})"),
        }],
        im::IS_COMPOSING => vec![match im::read_is_composing(&body) {
            Ok(t) => format!("iscomposing: {}", if t == Typing::Active { "active" } else { "idle" }),
            Err(e) => format!("iscomposing: unreadable ({e})"),
        }],
        "application/sdp" => sdp_summary(m.body(), syms),
        categories::CATEGORIES => vec![match StateCategory::parse(&body) {
            Ok(c) => match c.availability {
                Some(a) => format!("categories: {} availability {a}", show_uri(&c.uri, syms)),
                None => format!("categories: {} (no state)", show_uri(&c.uri, syms)),
            },
            Err(e) => format!("categories: unreadable ({e})"),
        }],
        categories::BATCH_SUB => vec![match BatchSub::parse(&body) {
            Ok(b) => {
                let res: Vec<String> = b
                    .resources
                    .iter()
                    .map(|(uri, ctx)| format!("{}{}", show_uri(uri, syms), if *ctx { " (new contact)" } else { "" }))
                    .collect();
                format!("batchSub: {}", res.join(", "))
            }
            Err(e) => format!("batchSub: unreadable ({e})"),
        }],
        pidf::CONTENT_TYPE => vec![match Pidf::parse(&body) {
            Ok(p) => {
                let basic = if p.open { "open" } else { "closed" };
                let acts = p.activities.iter().map(|a| format!(" {a}")).collect::<String>();
                format!("pidf: {} {basic}{acts}", show_uri(&p.entity, syms))
            }
            Err(e) => format!("pidf: unreadable ({e})"),
        }],
        other => vec![format!("body: {other}, {} bytes", m.body().len())],
    }
}
