//! Capture side: pcap extraction (read, reassemble, parse every SIP message) and the
//! canonical rendering `fedcert check` compares with a golden. `cargo bench --bench trace`.

use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

/// The suite's "Lync user calls a Skype user, both talk" capture: 15 SIP messages over TCP and
/// UDP, SRTP and RTCP on both legs, STUN (about 34 KB).
fn fixture() -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/fixtures/audio-call.pcapng"))
        .expect("fixture")
}

#[divan::bench]
fn read_capture(b: Bencher) {
    let bytes = fixture();
    b.counter(divan::counter::BytesCount::of_slice(&bytes))
        .bench(|| fedcert::trace::parse_capture(black_box(&bytes), "fixture").expect("valid"));
}

#[divan::bench]
fn extract_sip(b: Bencher) {
    let capture = fedcert::trace::parse_capture(&fixture(), "fixture").expect("valid");
    b.bench(|| fedcert::trace::sip_messages(black_box(&capture.packets)));
}

#[divan::bench]
fn canonical_trace(b: Bencher) {
    let capture = fedcert::trace::parse_capture(&fixture(), "fixture").expect("valid");
    b.bench(|| fedcert::trace::check::trace_of(black_box(&capture), "fixture", None).expect("renders"));
}
