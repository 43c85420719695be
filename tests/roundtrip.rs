//! Round-trip properties of the capture layer (issue 8): what the tap recorded survives a
//! pcapng write and read (payloads, addresses, step comments, the metadata document), and the
//! canonical trace rendered from a read capture is the one rendered from the tap itself. SDP
//! round trips and stream framing under arbitrary chunking are in `src/sdp/tests.rs` and
//! `tests/torture.rs`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use fedcert::agent::Side;
use fedcert::net::{TapEvent, TapKind, Transport};
use fedcert::sip::wire::{Message, MessageBuilder, Method};
use fedcert::trace::canonical::{self, StepLine, TraceProfile};
use fedcert::trace::meta::{CaptureMeta, step_of};
use fedcert::trace::roles::{Role, Roles};
use fedcert::trace::{check, parse_capture, write_pcapng};
use proptest::prelude::*;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// The cast: a harness and a gateway address on each leg (enterprise over TCP, consumer over
/// UDP, as the suite runs them).
fn roles() -> Roles {
    let mut r = Roles::default();
    r.insert(Transport::Tcp, addr("127.0.0.1:5061"), Role::Harness(Side::Enterprise));
    r.insert(Transport::Tcp, addr("127.0.0.1:5080"), Role::Gateway(Side::Enterprise));
    r.insert(Transport::Udp, addr("127.0.0.1:5070"), Role::Harness(Side::Consumer));
    r.insert(Transport::Udp, addr("127.0.0.1:5090"), Role::Gateway(Side::Consumer));
    r
}

/// One SIP exchange: a MESSAGE on a leg, then its answer.
#[derive(Debug, Clone)]
struct Exchange {
    enterprise: bool,
    towards_gateway: bool,
    text: String,
    status: u16,
    step: usize,
}

fn exchange() -> impl Strategy<Value = Exchange> {
    (any::<bool>(), any::<bool>(), "[a-zA-Z0-9 ]{0,40}", prop_oneof![Just(200u16), Just(404), Just(480)], 1usize..4)
        .prop_map(|(enterprise, towards_gateway, text, status, step)| Exchange {
            enterprise,
            towards_gateway,
            text,
            status,
            step,
        })
}

fn messages(n: usize, x: &Exchange) -> (Message, Message) {
    let (transport, domain) = if x.enterprise { ("TCP", "contoso.com") } else { ("UDP", "live.com") };
    let req = MessageBuilder::request(Method::MESSAGE, "sip:bob@live.com")
        .header("Via", format!("SIP/2.0/{transport} 127.0.0.1:1;branch=z9hG4bK{n}"))
        .header("From", format!("<sip:alice@{domain}>;tag=a{n}"))
        .header("To", "<sip:bob@live.com>")
        .header("Call-ID", format!("call-{n}"))
        .header("CSeq", format!("{} MESSAGE", n + 1))
        .body("text/plain", x.text.as_str())
        .build();
    let resp = MessageBuilder::response_to(&req, x.status, "Answer", Some(format!("b{n}").as_str())).build();
    (req, resp)
}

/// Tap events for a list of exchanges: UDP datagrams on the consumer leg; one TCP connection
/// on the enterprise leg, each message cut into the chunks `cuts` says.
fn events(exchanges: &[Exchange], cuts: &[usize]) -> Vec<TapEvent> {
    let (eh, eg) = (addr("127.0.0.1:5061"), addr("127.0.0.1:5080"));
    let (ch, cg) = (addr("127.0.0.1:5070"), addr("127.0.0.1:5090"));
    let mut out = Vec::new();
    let mut ms = 0;
    let mut at = || {
        ms += 3;
        Duration::from_millis(ms)
    };
    // The tap names the leg each event belongs to; the canonical trace reads only those.
    let ev = |at, transport: Transport, src, dst, kind, step| {
        let leg = if transport == Transport::Tcp { "enterprise" } else { "consumer" };
        TapEvent { at, transport, src, dst, kind, actor: Some(leg.to_owned()), step }
    };
    let mut opened = false;
    let mut cut = cuts.iter().cycle();
    for (n, x) in exchanges.iter().enumerate() {
        let (req, resp) = messages(n, x);
        let (h, g, t) = if x.enterprise { (eh, eg, Transport::Tcp) } else { (ch, cg, Transport::Udp) };
        let (src, dst) = if x.towards_gateway { (h, g) } else { (g, h) };
        if t == Transport::Tcp && !opened {
            out.push(ev(at(), t, eh, eg, TapKind::TcpOpen, x.step));
            opened = true;
        }
        for (m, s, d) in [(req, src, dst), (resp, dst, src)] {
            let bytes = m.as_bytes();
            if t == Transport::Udp {
                out.push(ev(at(), t, s, d, TapKind::Data(bytes.to_vec()), x.step));
                continue;
            }
            let mut rest = bytes;
            while !rest.is_empty() {
                let k = (*cut.next().unwrap_or(&1)).clamp(1, rest.len());
                out.push(ev(at(), t, s, d, TapKind::Data(rest[..k].to_vec()), x.step));
                rest = &rest[k..];
            }
        }
    }
    if opened {
        out.push(ev(at(), Transport::Tcp, eh, eg, TapKind::TcpClose, 3));
        out.push(ev(at(), Transport::Tcp, eg, eh, TapKind::TcpClose, 3));
    }
    out
}

fn steps() -> Vec<StepLine> {
    (1..=3).map(|i| StepLine { text: format!("When step {i}"), check: i == 3 }).collect()
}

fn meta() -> CaptureMeta {
    CaptureMeta::new("roundtrip", "A generated exchange", "roundtrip__a-generated-exchange", &steps(), &roles())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every data event comes back as a packet (UDP) or as its bytes in the reassembled
    /// direction (TCP), with its addresses and its `step N` comment; the section comment
    /// gives the metadata back.
    #[test]
    fn pcapng_write_then_read_keeps_packets_and_comments(
        exchanges in prop::collection::vec(exchange(), 1..8),
        cuts in prop::collection::vec(1usize..300, 1..6),
    ) {
        let evs = events(&exchanges, &cuts);
        let mut file = Vec::new();
        write_pcapng(&evs, &meta(), &mut file).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let capture = parse_capture(&file, "generated.pcapng").map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(CaptureMeta::from_comments(&capture.section_comments), Ok(Some(meta())));

        let udp_sent: Vec<(SocketAddr, SocketAddr, Vec<u8>, usize)> = evs
            .iter()
            .filter(|e| e.transport == Transport::Udp)
            .filter_map(|e| match &e.kind {
                TapKind::Data(d) => Some((e.src, e.dst, d.clone(), e.step)),
                _ => None,
            })
            .collect();
        let udp_read: Vec<(SocketAddr, SocketAddr, Vec<u8>, usize)> = capture
            .packets
            .iter()
            .filter(|p| p.transport == Transport::Udp)
            .map(|p| (p.src, p.dst, p.payload.clone(), p.comment.as_deref().and_then(step_of).unwrap_or(0)))
            .collect();
        prop_assert_eq!(udp_read, udp_sent);

        let mut tcp_sent: BTreeMap<(SocketAddr, SocketAddr), Vec<u8>> = BTreeMap::new();
        for e in evs.iter().filter(|e| e.transport == Transport::Tcp) {
            if let TapKind::Data(d) = &e.kind {
                tcp_sent.entry((e.src, e.dst)).or_default().extend_from_slice(d);
            }
        }
        let mut tcp_read: BTreeMap<(SocketAddr, SocketAddr), Vec<u8>> = BTreeMap::new();
        for p in capture.packets.iter().filter(|p| p.transport == Transport::Tcp && !p.payload.is_empty()) {
            tcp_read.entry((p.src, p.dst)).or_default().extend_from_slice(&p.payload);
            // Every data segment carries the step of the event it came from.
            prop_assert!(p.comment.as_deref().and_then(step_of).is_some(), "segment {} has no step comment", p.number);
        }
        prop_assert_eq!(tcp_read, tcp_sent);
    }

    /// `fedcert check` of the written capture renders exactly what the suite renders from
    /// the tap.
    #[test]
    fn the_trace_of_a_written_capture_is_the_trace_of_the_tap(
        exchanges in prop::collection::vec(exchange(), 1..8),
        cuts in prop::collection::vec(1usize..300, 1..6),
    ) {
        let evs = events(&exchanges, &cuts);
        let cast = roles().cast();
        let (seen, bad) = canonical::messages(&evs, &cast);
        prop_assert!(bad.is_empty(), "{:?}", bad);
        let media = canonical::media_datagrams(&evs);
        let from_tap = canonical::render_with_media(
            "A generated exchange", &steps(), &seen, &media, &cast, TraceProfile::builtin());

        let mut file = Vec::new();
        write_pcapng(&evs, &meta(), &mut file).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let capture = parse_capture(&file, "generated.pcapng").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let traced = check::trace_of(&capture, "generated.pcapng", None).map_err(TestCaseError::fail)?;
        prop_assert!(traced.notes.is_empty(), "{:?}", traced.notes);
        prop_assert_eq!(&traced.rendered.text, &from_tap.text);
        prop_assert_eq!(traced.rendered.messages, exchanges.len() * 2);
        // And rendering is stable: the same capture renders the same text again.
        let again = check::trace_of(&capture, "generated.pcapng", None).map_err(TestCaseError::fail)?;
        prop_assert_eq!(again.rendered.text, traced.rendered.text);
    }
}
