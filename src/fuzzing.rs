//! Entry points shared by the fuzz targets (`fuzz/`) and their regression tests: each takes
//! arbitrary bytes, drives one parser and everything that reads its result, and panics only
//! when an invariant breaks (a round trip that does not hold, a failed stream that recovers).
//! Errors are the expected outcome for most inputs; they are formatted so that their
//! `Display` code runs too.

use std::collections::BTreeMap;

use crate::sdp::{self, Sdp};
use crate::sip::wire::{Frame, Message, SipUri, StreamFramer, ms, multipart};
use crate::trace::{self, Capture, check, listing, roles::Roles};

/// Stream framing under arbitrary bytes and read boundaries: the first byte picks the chunk
/// size. A failed stream must stay failed; every framed message is read through.
pub fn exercise_framing(data: &[u8]) {
    let Some((&chunk, rest)) = data.split_first() else { return };
    let chunk = usize::from(chunk).max(1);
    // A small cap so that the over-size path is reached too.
    let mut framer = StreamFramer::new(4096);
    for piece in rest.chunks(chunk) {
        framer.push(piece);
        loop {
            match framer.next_frame() {
                Ok(Some(Frame::Message(m))) => exercise_message(&m),
                Ok(Some(Frame::KeepAlive)) => {}
                Ok(None) => break,
                Err(e) => {
                    let _ = e.to_string();
                    assert!(framer.next_frame().is_err(), "a failed stream must stay failed");
                    return;
                }
            }
        }
    }
}

/// One datagram: parse, then everything [`exercise_message`] reads.
pub fn exercise_datagram(data: &[u8]) {
    match Message::parse_datagram(data) {
        Ok(m) => exercise_message(&m),
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Every header reader, validation, the summary, and the SDP or multipart body the message
/// carries.
pub fn exercise_message(m: &Message) {
    let _ = m.summary();
    let _ = m.validate().map_err(|e| e.to_string());
    let _ = m.vias().map_err(|e| e.to_string());
    let _ = m.top_via().map(|v| (v.branch().map(str::len), v.param("received").map(str::len)));
    for addr in [m.from_addr(), m.to_addr()].into_iter().flatten() {
        let _ = (addr.tag(), addr.sip_uri().map(|u| (u.address_of_record(), u.user_unescaped())));
    }
    let _ = m.contact().map(|c| c.map(|c| c.sip_uri().is_ok()));
    let _ = m.routes("Route");
    let _ = m.routes("Record-Route");
    let _ = m.call_id();
    let _ = m.cseq().map(|c| c.seq);
    let _ = m.expires();
    let _ = m.max_forwards();
    let _ = m.date();
    let _ = m.request_uri().map(SipUri::parse);
    let _ = m.value("Ms-Text-Format").map(|v| ms::MsTextFormat::parse(&v).is_ok());
    let _ = m.value("Ms-Diagnostics").map(|v| ms::MsDiagnostics::parse(&v).is_ok());
    let _ = m.headers().count();
    let _ = m.with_first_value("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfuzz");
    if let Ok(Some(ct)) = m.content_type() {
        if ct.essence.starts_with("multipart/")
            && let Some(b) = ct.param("boundary")
        {
            let _ = multipart::parse(b, m.body()).map(|parts| parts.len());
        }
        if let Some(v) = m.value("Content-Type") {
            let _ = sdp::alternative::read(&v, m.body()).map_err(|e| e.to_string());
        }
    }
}

/// SDP: parse, the typed accessors of every media section, and the round trip: what we write
/// parses back to the same description and writes the same bytes again.
pub fn exercise_sdp(data: &[u8]) {
    let Ok(s) = sdp::parse(data).map_err(|e| e.to_string()) else { return };
    for m in &s.media {
        let _ = (m.codecs(), m.direction(), m.candidates().len(), m.cryptos().len());
        let _ = (m.ssrc_range(), m.rtcp_port(), m.ice(), m.payload_types());
    }
    let _ = s.media_bws();
    let written = s.to_bytes();
    let again = Sdp::parse(&written)
        .unwrap_or_else(|e| panic!("what we wrote does not parse: {e}\n{}", String::from_utf8_lossy(&written)));
    assert_eq!(again, s, "parse(write(x)) != x for\n{}", String::from_utf8_lossy(&written));
    assert_eq!(again.to_bytes(), written, "write is not stable");
}

/// Roles for captures without fedcert metadata: the fixtures' SIP ports.
fn fixture_roles() -> Roles {
    let map: BTreeMap<String, String> =
        [("udp 127.0.0.1:15070", "gateway enterprise"), ("tcp 127.0.0.1:15061", "gateway consumer")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    Roles::from_map(&map).expect("fixed roles are valid")
}

/// A capture file: reading, SIP extraction, the listing and the replay into tap events; with
/// `render`, the canonical trace as `fedcert check` renders it.
pub fn exercise_capture(data: &[u8], render: bool) {
    let capture: Capture = match trace::parse_capture(data, "fuzz.pcap") {
        Ok(c) => c,
        Err(e) => {
            let _ = (e.to_string(), e.frame());
            return;
        }
    };
    let roles = fixture_roles();
    if render {
        let _ = check::trace_of(&capture, "fuzz.pcap", Some(&roles)).map(|t| t.rendered);
        return;
    }
    let records = trace::sip_messages(&capture.packets);
    let l = listing::listing(&capture.packets, &records);
    let _ = (l.human(), l.machine());
    let _ = check::tap_events(&capture.packets, &roles, 1, "fuzz.pcap");
}
