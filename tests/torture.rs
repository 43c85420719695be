//! The wire layer against the SIP torture corpora (RFC 4475, RFC 5118), rsip as a second opinion
//! on the values we read, and property tests for round trips and hostile input.
//!
//! The corpus tests assert what the RFC says about each message, through the public API only,
//! and collect every mismatch before failing, so one run shows the whole gap.

use std::fmt::Write as _;

use fedcert::sip::wire::ms::{MsDiagnostics, MsTextFormat};
use fedcert::sip::wire::{FaultKind, Frame, Message, MessageBuilder, Method, StreamFramer, WireError, multipart};
use proptest::prelude::*;
use sipx_testkit::rfc4475::{self, Expect, Fault};
use sipx_testkit::rfc5118;

// ---------------------------------------------------------------------------------------------
// Oracles independent of the code under test
// ---------------------------------------------------------------------------------------------

/// Where the first message in `bytes` ends, worked out without our parser: the head ends at the
/// first CRLFCRLF; a Content-Length header (full or compact name) bounds the body, otherwise the
/// body runs to the end of the datagram (RFC 3261 §18.3). `None` when there is no blank line.
fn first_message_end(bytes: &[u8]) -> Option<(usize, bool)> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&bytes[..head_end]);
    let content_length = head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l"))
            .then(|| value.trim().parse::<usize>().ok())
            .flatten()
    });
    match content_length {
        Some(n) => Some(((head_end + n).min(bytes.len()), true)),
        None => Some((bytes.len(), false)),
    }
}

fn fault_kind(f: Fault) -> Option<FaultKind> {
    match f {
        Fault::StartLine => Some(FaultKind::StartLine),
        Fault::HeaderSyntax => Some(FaultKind::HeaderSyntax),
        Fault::Framing => Some(FaultKind::Framing),
        _ => None,
    }
}

/// Every typed accessor, by the header it reads. The RFC names headers; this is where our API
/// meets those names.
const ACCESSED: [&str; 9] = ["Via", "CSeq", "To", "From", "Date", "Contact", "Call-ID", "Content-Type", "Route"];

fn read_header(m: &Message, header: &str) -> Result<(), WireError> {
    match header {
        "Via" => m.vias().map(drop),
        "CSeq" => m.cseq().map(drop),
        "To" => m.to_addr().map(drop),
        "From" => m.from_addr().map(drop),
        "Date" => m.date().map(drop),
        "Contact" => m.contact().map(drop),
        "Call-ID" => m.call_id().map(drop),
        "Content-Type" => m.content_type().map(drop),
        "Route" => m.routes("Route").map(drop),
        other => panic!("no accessor for {other}"),
    }
}

/// Headers the RFC's own text declares bad besides the one the classification names. RFC 4475
/// §3.1.2.1: "The Via header field ... contains ... separators without parameters or values.
/// The Contact header field contains additional semicolons without parameters." Both violate
/// the grammar (`*( SEMI contact-params )`, `*( SEMI via-params )`), so both readers must fail.
const ALSO_BAD: [(&str, &str); 1] = [("badinv01", "Contact")];

/// Checks that the accessors of every present header other than `except` succeed.
fn others_read(name: &str, m: &Message, except: Option<&str>, out: &mut Vec<String>) {
    for h in ACCESSED {
        if Some(h) == except || ALSO_BAD.contains(&(name, h)) || m.value(h).is_none() {
            continue;
        }
        if let Err(e) = read_header(m, h) {
            out.push(format!("reading {h} failed: {e}"));
        }
    }
}

fn frame_all(bytes: &[u8], chunks: impl Iterator<Item = usize>) -> Result<Vec<Frame>, WireError> {
    let mut f = StreamFramer::default();
    let mut out = Vec::new();
    let mut pos = 0;
    for size in chunks {
        if pos >= bytes.len() {
            break;
        }
        let end = (pos + size.max(1)).min(bytes.len());
        f.push(&bytes[pos..end]);
        pos = end;
        while let Some(fr) = f.next_frame()? {
            out.push(fr);
        }
    }
    if pos < bytes.len() {
        f.push(&bytes[pos..]);
        while let Some(fr) = f.next_frame()? {
            out.push(fr);
        }
    }
    if f.buffered() != 0 {
        return Err(WireError {
            kind: FaultKind::Framing,
            line: None,
            header: None,
            detail: format!("{} bytes left over after the last frame", f.buffered()),
        });
    }
    Ok(out)
}

/// What one corpus case did, against what the RFC says. Empty when they agree.
fn check(name: &str, expect: Expect, bytes: &[u8]) -> Vec<String> {
    let mut bad = Vec::new();
    let parsed = Message::parse_datagram(bytes);
    match expect {
        Expect::ParseOk => {
            let m = match parsed {
                Ok(m) => m,
                Err(e) => return vec![format!("parse failed: {e}")],
            };
            let Some((end, has_cl)) = first_message_end(bytes) else {
                return vec!["test oracle found no blank line".into()];
            };
            if m.as_bytes() != &bytes[..end] {
                bad.push(format!(
                    "not byte-exact: {} bytes back, first {end} bytes of the input expected",
                    m.as_bytes().len()
                ));
            }
            others_read(name, &m, None, &mut bad);
            if has_cl {
                // Pipelined twice, whole and one octet at a time: both must frame as the datagram.
                let first = &bytes[..end];
                let twice = [first, first].concat();
                for (how, sizes) in [
                    ("whole", vec![twice.len()]),
                    ("bytewise", vec![1; twice.len()]),
                    ("chunks of 7", vec![7; 1 + twice.len() / 7]),
                ] {
                    match frame_all(&twice, sizes.into_iter()) {
                        Ok(frames) if frames == vec![Frame::Message(m.clone()), Frame::Message(m.clone())] => {}
                        Ok(frames) => bad.push(format!("framer ({how}) produced {} other frames", frames.len())),
                        Err(e) => bad.push(format!("framer ({how}) failed: {e}")),
                    }
                }
            }
        }
        Expect::ParseErr(f) => {
            let want = fault_kind(f);
            match parsed {
                Ok(_) => bad.push(format!("parsed; expected a {f:?} fault")),
                Err(e) if Some(e.kind) != want => bad.push(format!("failed with {:?} ({e}), expected {f:?}", e.kind)),
                Err(_) => {}
            }
        }
        Expect::HeaderErr(h) => match parsed {
            Err(e) => bad.push(format!("parse failed: {e}")),
            Ok(m) => {
                match read_header(&m, h) {
                    Ok(()) => bad.push(format!("reading {h} succeeded")),
                    Err(e) if e.kind != FaultKind::HeaderValue => {
                        bad.push(format!("reading {h} failed with {:?}, not HeaderValue: {e}", e.kind))
                    }
                    Err(_) => {}
                }
                for &(case, also) in &ALSO_BAD {
                    if case == name && read_header(&m, also).is_ok() {
                        bad.push(format!("reading {also} succeeded"));
                    }
                }
                others_read(name, &m, Some(h), &mut bad);
            }
        },
        Expect::ValidateErr(why) => match parsed {
            Err(e) => bad.push(format!("parse failed: {e}")),
            Ok(m) => match m.validate() {
                Ok(()) => bad.push(format!("validated; expected rejection ({why})")),
                Err(e) if e.kind != FaultKind::Validation => {
                    bad.push(format!("validate failed with {:?}, not Validation: {e}", e.kind))
                }
                Err(_) => {}
            },
        },
        Expect::Unreferenced => {}
        other => bad.push(format!("unknown expectation {other:?}: teach this harness about it")),
    }
    bad
}

fn report(corpus: &str, results: Vec<(&str, &str, Expect, Vec<String>)>) {
    let mut text = String::new();
    let mut count = 0;
    for (name, section, expect, problems) in results {
        for p in problems {
            count += 1;
            let _ = writeln!(text, "  {name} (§{section}): expected {expect:?}, got: {p}");
        }
    }
    assert!(count == 0, "{corpus}: {count} mismatch(es) with the RFC:\n{text}");
}

// ---------------------------------------------------------------------------------------------
// 1. The corpora
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc4475_corpus_is_classified_as_the_rfc_says() {
    let results = rfc4475::CASES
        .iter()
        .filter(|c| c.is_classified())
        .map(|c| (c.name, c.section, c.expect, check(c.name, c.expect, c.bytes)))
        .collect();
    report("RFC 4475", results);
}

#[test]
fn rfc5118_corpus_is_classified_as_the_rfc_says() {
    let wires: Vec<_> = rfc5118::CASES.iter().map(|c| c.wire()).collect();
    let results = rfc5118::CASES
        .iter()
        .zip(&wires)
        .filter(|(c, _)| c.is_classified())
        .map(|(c, w)| (c.name, c.section, c.expect, check(c.name, c.expect, w)))
        .collect();
    report("RFC 5118", results);
}

#[test]
fn corpora_are_complete() {
    assert_eq!(rfc4475::CASES.len(), 50, "RFC 4475's archive holds 50 messages");
    assert_eq!(rfc4475::CASES.iter().filter(|c| c.is_classified()).count(), 49);
    let unreferenced: Vec<_> = rfc4475::CASES.iter().filter(|c| !c.is_classified()).map(|c| c.name).collect();
    assert_eq!(unreferenced, ["test"]);
    assert_eq!(rfc5118::CASES.len(), 12, "RFC 5118's archive holds 12 messages");
    assert_eq!(rfc5118::CASES.iter().filter(|c| c.is_classified()).count(), 12);
    let by = |e: Expect| rfc4475::CASES.iter().filter(|c| c.expect == e).count();
    assert_eq!(by(Expect::ParseOk), 27, "RFC 4475 cases that must parse");
    let kind = |f: fn(&Expect) -> bool| rfc4475::CASES.iter().filter(|c| f(&c.expect)).count();
    assert_eq!(kind(|e| matches!(e, Expect::ParseErr(_))), 9, "RFC 4475 cases the parser must refuse");
    assert_eq!(kind(|e| matches!(e, Expect::HeaderErr(_))), 7, "RFC 4475 cases with one bad header");
    assert_eq!(kind(|e| matches!(e, Expect::ValidateErr(_))), 6, "RFC 4475 cases validation must refuse");
    let ok5118 = rfc5118::CASES.iter().filter(|c| c.expect == Expect::ParseOk).count();
    assert_eq!(ok5118, 11, "RFC 5118 cases that must parse (all but ipv6-bad)");
}

/// The unreferenced archive message still must not panic anything.
#[test]
fn unreferenced_message_goes_through_every_reader() {
    for c in rfc4475::CASES.iter().filter(|c| !c.is_classified()) {
        if let Ok(m) = Message::parse_datagram(c.bytes) {
            exercise(&m);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Known issues, pinned
// ---------------------------------------------------------------------------------------------

#[test]
fn via_with_lws_around_slashes_parses() {
    let c = rfc4475::case("wsinv").expect("wsinv");
    let m = Message::parse_datagram(c.bytes).unwrap();
    let vias = m.vias().unwrap();
    let got: Vec<_> =
        vias.iter().map(|v| (v.transport.as_str(), v.host.as_str(), v.branch().unwrap_or_default())).collect();
    assert_eq!(
        got,
        [
            ("UDP", "192.0.2.2", "390skdjuw"),
            ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
            ("UDP", "192.168.255.111", "z9hG4bK30239")
        ]
    );
}

#[test]
fn name_addr_params_do_not_split_inside_quotes() {
    let raw = b"OPTIONS sip:a@example.com SIP/2.0\r\n\
        To: <sip:b@example.com>;x=\"a;b\";tag=1\r\n\
        From: sip:a@example.com;x=\"c;d=e\\\";f\";tag=2\r\n\
        Contact: \"A; B\" <sip:a@h.example.com>;y=\"1,2;3\";expires=60\r\n\
        Content-Length: 0\r\n\r\n";
    let m = Message::parse_datagram(raw).unwrap();
    let to = m.to_addr().unwrap();
    assert_eq!(to.param("x"), Some("\"a;b\""));
    assert_eq!(to.tag(), Some("1"));
    let from = m.from_addr().unwrap();
    assert_eq!(from.uri, "sip:a@example.com");
    assert_eq!(from.param("x"), Some("\"c;d=e\\\";f\""));
    assert_eq!(from.tag(), Some("2"));
    let contact = m.contact().unwrap().unwrap();
    assert_eq!(contact.display.as_deref(), Some("A; B"));
    assert_eq!(contact.param("y"), Some("\"1,2;3\""));
    assert_eq!(contact.param("expires"), Some("60"));
}

// ---------------------------------------------------------------------------------------------
// 2. rsip as a second opinion
// ---------------------------------------------------------------------------------------------

#[test]
fn rsip_agrees_on_the_values_we_read() {
    use rsip::prelude::*;

    let mut compared = 0;
    let mut disagreements = Vec::new();
    for c in rfc4475::CASES.iter().filter(|c| c.expect == Expect::ParseOk) {
        let ours = match Message::parse_datagram(c.bytes) {
            Ok(m) => m,
            Err(e) => {
                disagreements.push(format!("{}: we cannot parse it: {e}", c.name));
                continue;
            }
        };
        let theirs = match rsip::SipMessage::try_from(ours.as_bytes()) {
            Ok(t) => t,
            Err(e) => {
                println!("skip {}: rsip cannot parse it: {}", c.name, short(&e));
                continue;
            }
        };
        let mut cmp = |what: &str, ours: Result<String, String>, theirs: Result<String, String>| match (ours, theirs) {
            (Ok(a), Ok(b)) => {
                compared += 1;
                if a != b {
                    disagreements.push(format!("{} {what}: ours `{a}`, rsip `{b}`", c.name));
                }
            }
            (Err(e), _) => disagreements.push(format!("{} {what}: we failed: {e}", c.name)),
            (_, Err(e)) => println!("skip {} {what}: rsip cannot read it: {}", c.name, short(&e)),
        };
        cmp(
            "Call-ID",
            ours.call_id().map_err(|e| e.to_string()),
            theirs.call_id_header().map(|h| h.value().to_owned()).map_err(|e| e.to_string()),
        );
        let their_cseq =
            theirs.cseq_header().map_err(|e| e.to_string()).and_then(|h| h.typed().map_err(|e| e.to_string()));
        let our_cseq = ours.cseq().map_err(|e| e.to_string());
        cmp("CSeq number", our_cseq.clone().map(|c| c.seq.to_string()), their_cseq.clone().map(|c| c.seq.to_string()));
        cmp("CSeq method", our_cseq.map(|c| c.method.to_string()), their_cseq.map(|c| c.method.to_string()));
        cmp(
            "From tag",
            ours.from_addr().map(|f| f.tag().unwrap_or("<none>").to_owned()).map_err(|e| e.to_string()),
            theirs
                .from_header()
                .map_err(|e| e.to_string())
                .and_then(|h| h.typed().map_err(|e| e.to_string()))
                .map(|f| f.tag().map_or_else(|| "<none>".to_owned(), ToString::to_string)),
        );
        cmp(
            "top Via branch",
            ours.top_via().map(|v| v.branch().unwrap_or("<none>").to_owned()).map_err(|e| e.to_string()),
            theirs
                .via_header()
                .map_err(|e| e.to_string())
                .and_then(|h| h.typed().map_err(|e| e.to_string()))
                .map(|v| v.branch().map_or_else(|| "<none>".to_owned(), ToString::to_string)),
        );
    }
    println!("rsip comparisons: {compared}");
    assert!(disagreements.is_empty(), "rsip disagrees:\n{}", disagreements.join("\n"));
    assert!(compared >= MIN_RSIP_COMPARISONS, "only {compared} comparisons with rsip; expected {MIN_RSIP_COMPARISONS}");
}

/// The first line of an error, bounded: rsip quotes the whole message in its errors.
fn short(e: &dyn std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().chars().take(120).collect()
}

/// What rsip 0.4 can read of the RFC 4475 ParseOk messages today; a drop means the comparison
/// silently lost coverage.
const MIN_RSIP_COMPARISONS: usize = 99;

// ---------------------------------------------------------------------------------------------
// 3. Built messages round-trip, datagram and stream
// ---------------------------------------------------------------------------------------------

const TOKEN: &str = "[A-Za-z0-9!%*_+`'~.-]{1,12}";
/// Header values: printable ASCII and some UTF-8, no leading or trailing blank (the parser does
/// not keep those as part of the value), never a line break.
const VALUE: &str = "[!-~üé€]([ !-~üé€]{0,40}[!-~üé€])?";

fn built_message() -> impl Strategy<Value = Message> {
    let start = prop_oneof![
        (TOKEN, "[a-z0-9]{1,8}").prop_map(|(m, u)| MessageBuilder::request(
            Method::new(&m).expect("token"),
            format!("sip:{u}@example.com")
        )),
        (100u16..=699, "([!-~üé€]([ !-~üé€]{0,20}[!-~üé€])?)?").prop_map(|(c, r)| MessageBuilder::response(c, r)),
    ];
    let headers = prop::collection::vec(("[A-Za-z0-9-]{1,10}", VALUE), 0..8);
    let body = prop::option::of(prop::collection::vec(any::<u8>(), 0..300));
    (start, headers, body).prop_map(|(b, headers, body)| {
        let mut b = headers.into_iter().fold(b, |b, (n, v)| b.header(&format!("X-{n}"), v));
        if let Some(body) = body {
            b = b.body("application/octet-stream", body);
        }
        b.build()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn built_messages_round_trip_byte_exact(
        msgs in prop::collection::vec(built_message(), 1..4),
        chunks in prop::collection::vec(1usize..80, 1..64),
    ) {
        for m in &msgs {
            let back = Message::parse_datagram(m.as_bytes()).expect("built message parses");
            prop_assert_eq!(back.as_bytes(), m.as_bytes());
            prop_assert_eq!(back.headers().collect::<Vec<_>>(), m.headers().collect::<Vec<_>>());
            prop_assert_eq!(back.body(), m.body());
            prop_assert_eq!(back.start_line(), m.start_line());
        }
        let wire: Vec<u8> = msgs.iter().flat_map(|m| m.as_bytes().iter().copied()).collect();
        let frames = frame_all(&wire, chunks.into_iter().cycle()).expect("pipelined messages frame");
        let got: Vec<Vec<u8>> = frames
            .into_iter()
            .map(|f| match f {
                Frame::Message(m) => m.as_bytes().to_vec(),
                Frame::KeepAlive => b"<keep-alive>".to_vec(),
            })
            .collect();
        let want: Vec<Vec<u8>> = msgs.iter().map(|m| m.as_bytes().to_vec()).collect();
        prop_assert_eq!(got, want);
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Bad input never panics
// ---------------------------------------------------------------------------------------------

/// Calls every reader of a message; the results do not matter, only that none panics.
fn exercise(m: &Message) {
    let _ = (m.as_bytes(), m.summary(), m.validate(), m.body(), m.start_line());
    let _ = (m.top_via(), m.vias(), m.from_addr(), m.to_addr(), m.call_id(), m.cseq());
    let _ = (m.content_type(), m.expires(), m.max_forwards(), m.date(), m.routes("Route"), m.routes("Record-Route"));
    if let Ok(Some(c)) = m.contact() {
        let _ = (c.sip_uri(), c.tag(), c.to_string());
    }
    for r in [m.from_addr(), m.to_addr()].into_iter().flatten() {
        let _ = (r.sip_uri().map(|u| (u.address_of_record(), u.to_string())), r.to_string());
    }
    if let Ok(vias) = m.vias() {
        for v in vias {
            let _ = (v.branch(), v.to_string());
        }
    }
    if let Ok(Some(ct)) = m.content_type()
        && let Some(b) = ct.param("boundary")
    {
        let _ = multipart::parse(b, m.body());
    }
    for (name, value) in m.headers().collect::<Vec<_>>() {
        let _ = (m.list(name), m.has_token(name, "timer"), m.values(name).count(), m.value(name));
        let _ = (MsTextFormat::parse(&value), MsDiagnostics::parse(&value));
        let _ = fedcert::sip::wire::SipUri::parse(value.trim());
        let _ = fedcert::sip::wire::NameAddr::parse(name, &value);
    }
    if let Some(u) = m.request_uri() {
        let _ = fedcert::sip::wire::SipUri::parse(u);
    }
}

/// Feeds `bytes` to a framer in `chunks`, checking it always makes progress or waits.
fn frame_hostile(bytes: &[u8], chunks: &[usize], max: usize) -> Result<(), TestCaseError> {
    let mut f = StreamFramer::new(max);
    let mut pos = 0;
    let mut sizes = chunks.iter().copied().cycle();
    while pos < bytes.len() {
        let end = (pos + sizes.next().unwrap_or(1).max(1)).min(bytes.len());
        f.push(&bytes[pos..end]);
        pos = end;
        // Each frame consumes bytes, so more frames than bytes means the framer is looping.
        for _ in 0..=bytes.len() + 1 {
            let before = f.buffered();
            match f.next_frame() {
                Ok(Some(Frame::Message(m))) => {
                    prop_assert!(f.buffered() < before, "framer produced a message without consuming bytes");
                    exercise(&m);
                }
                Ok(Some(Frame::KeepAlive)) => prop_assert!(f.buffered() < before, "keep-alive consumed nothing"),
                Ok(None) => break,
                Err(_) => {
                    prop_assert!(f.next_frame().is_err(), "a failed stream stays failed");
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// SIP-shaped noise: a plausible start line and header lines whose values are drawn from the
/// characters the grammars care about, so inputs get past the framer into the value readers.
fn sip_shaped() -> impl Strategy<Value = Vec<u8>> {
    let names = prop::sample::select(vec![
        "Via",
        "v",
        "To",
        "t",
        "From",
        "f",
        "Contact",
        "m",
        "Call-ID",
        "i",
        "CSeq",
        "Date",
        "Expires",
        "Route",
        "Record-Route",
        "Content-Type",
        "c",
        "Max-Forwards",
        "Supported",
        "ms-text-format",
        "ms-diagnostics",
        "Content-Length",
        "l",
    ]);
    let value = "[ \\t\\r\\nA-Za-z0-9<>\"\\\\;,:=@\\[\\]?%/.!~*'()+&$#{}|^`-é€\u{0}]{0,60}";
    let start = prop::sample::select(vec![
        "INVITE sip:a@b SIP/2.0",
        "SIP/2.0 200 OK",
        "X sip:[::1]:5060;p=\"q\" SIP/2.0",
        "MESSAGE sips:u%20@h:99?x=y SIP/2.0",
        "SIP/2.0 999",
    ]);
    (start, prop::collection::vec((names, value), 0..10), prop::collection::vec(any::<u8>(), 0..40)).prop_map(
        |(s, hs, body)| {
            let mut out = format!("{s}\r\n").into_bytes();
            for (n, v) in hs {
                out.extend_from_slice(format!("{n}:{v}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&body);
            out
        },
    )
}

/// A corpus message with a few octets inserted, removed or replaced.
fn mutated_corpus() -> impl Strategy<Value = Vec<u8>> {
    let base = prop::sample::select(rfc4475::CASES.iter().map(|c| c.bytes).collect::<Vec<_>>());
    let edits = prop::collection::vec((0u8..3, any::<prop::sample::Index>(), any::<u8>()), 1..8);
    (base, edits).prop_map(|(b, edits)| {
        let mut v = b.to_vec();
        for (op, at, byte) in edits {
            let i = at.index(v.len() + 1);
            match op {
                0 => v.insert(i, byte),
                1 if i < v.len() => {
                    v.remove(i);
                }
                _ if i < v.len() => v[i] = byte,
                _ => {}
            }
        }
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            sip_shaped(),
            mutated_corpus(),
        ],
        chunks in prop::collection::vec(1usize..64, 1..16),
        max in prop_oneof![Just(64usize), Just(4096), Just(fedcert::sip::wire::DEFAULT_MAX_MESSAGE)],
    ) {
        if let Ok(m) = Message::parse_datagram(&bytes) {
            exercise(&m);
        }
        frame_hostile(&bytes, &chunks, max)?;
    }
}
