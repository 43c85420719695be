//! SIP wire layer: parse and serialise one message, and frame a TCP stream of them.
//! `cargo bench --bench wire`; figures in BENCHMARKS.md.

use divan::{Bencher, black_box};
use fedcert::sip::wire::{Message, MessageBuilder, Method, StreamFramer};

fn main() {
    divan::main();
}

/// The Lync 2013 call INVITE of the suite's "Lync user calls a Skype user" capture: 934
/// header bytes and a 3,197-byte multipart/alternative SDP body.
fn lync_invite() -> Vec<u8> {
    let capture = fedcert::trace::read_capture_file(fixture()).expect("fixture");
    let records = fedcert::trace::sip_messages(&capture.packets);
    let invite = records
        .iter()
        .filter_map(|r| r.result.as_ref().ok())
        .find(|m| m.method() == Some(&Method::INVITE))
        .expect("an INVITE in the fixture");
    invite.as_bytes().to_vec()
}

fn fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/fixtures/audio-call.pcapng")
}

const MESSAGE: &[u8] = b"MESSAGE sip:alice@contoso.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabcdef0123456789\r\n\
Max-Forwards: 70\r\n\
From: <sip:bob@outlook.com>;tag=8f2a1c\r\n\
To: <sip:alice@contoso.com>\r\n\
Call-ID: 7a1b2c3d4e5f60718293a4b5\r\n\
CSeq: 1 MESSAGE\r\n\
User-Agent: fedcert-skype-cloud/1\r\n\
Content-Type: text/plain; charset=UTF-8\r\n\
Content-Length: 9\r\n\
\r\n\
Hello Bob";

#[divan::bench]
fn parse_message(b: Bencher) {
    b.counter(divan::counter::BytesCount::of_slice(MESSAGE)).bench(|| Message::parse_datagram(black_box(MESSAGE)));
}

#[divan::bench]
fn parse_lync_invite(b: Bencher) {
    let bytes = lync_invite();
    b.counter(divan::counter::BytesCount::of_slice(&bytes)).bench(|| Message::parse_datagram(black_box(&bytes)));
}

#[divan::bench]
fn serialise_response(b: Bencher) {
    let req = Message::parse_datagram(MESSAGE).expect("valid");
    b.bench(|| MessageBuilder::response_to(black_box(&req), 200, "OK", Some("a1b2c3")).build());
}

#[divan::bench]
fn serialise_message(b: Bencher) {
    b.bench(|| {
        MessageBuilder::request(Method::MESSAGE, black_box("sip:alice@contoso.com"))
            .header("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabcdef0123456789")
            .header("Max-Forwards", 70)
            .header("From", "<sip:bob@outlook.com>;tag=8f2a1c")
            .header("To", "<sip:alice@contoso.com>")
            .header("Call-ID", "7a1b2c3d4e5f60718293a4b5")
            .header("CSeq", "1 MESSAGE")
            .body("text/plain; charset=UTF-8", "Hello Bob")
            .build()
    });
}

/// A TCP stream of 100 messages (MESSAGE and INVITE alternately) pushed in 1,460-byte
/// segments and framed back.
#[divan::bench]
fn frame_stream_100(b: Bencher) {
    let invite = lync_invite();
    let mut stream = Vec::new();
    for i in 0..100 {
        stream.extend_from_slice(if i % 2 == 0 { MESSAGE } else { &invite });
    }
    b.counter(divan::counter::BytesCount::of_slice(&stream)).bench(|| {
        let mut framer = StreamFramer::new(fedcert::sip::wire::DEFAULT_MAX_MESSAGE);
        let mut n = 0;
        for seg in stream.chunks(1460) {
            framer.push(seg);
            while let Ok(Some(_)) = framer.next_frame() {
                n += 1;
            }
        }
        assert_eq!(n, 100);
        n
    });
}
