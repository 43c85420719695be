//! Packet captures: writing the tap's events as a capture Wireshark can open, reading pcap and
//! pcapng files back, getting the SIP messages out of them, and rendering a capture's
//! canonical trace (`fedcert check`).
//!
//! - [`write_pcapng_file`] turns [`TapEvent`](crate::net::tap::TapEvent)s into
//!   Ethernet/IP/UDP/TCP frames in a pcapng whose section header carries the [`meta`]data
//!   document and whose packets carry `step N` comments. TCP connections get a synthesised
//!   handshake, consistent sequence and acknowledgement numbers and a FIN exchange, so
//!   Wireshark reassembles the streams.
//! - [`read_capture_file`] reads pcap and pcapng (Ethernet, BSD loopback, raw IP, Linux cooked
//!   v1/v2) into [`Packet`]s numbered as tshark numbers frames, reassembling IP fragments
//!   ([`defrag`]).
//! - [`sip_messages`] reassembles each TCP direction ([`reassembly`]), frames it by
//!   Content-Length and parses UDP datagrams; a malformed message becomes a [`SipRecord`] whose
//!   result is the error, with the frame it sits in.
//! - [`check`] turns a capture back into tap events and renders them with the [`canonical`]
//!   renderer; [`roles`] says who is who; [`listing`] lists dialogs and RTP streams.

pub mod canonical;
pub mod check;
pub mod defrag;
pub mod extract;
pub mod listing;
pub mod meta;
pub mod pcap_read;
pub mod pcap_write;
pub mod reassembly;
pub mod roles;

pub use extract::{MAX_TRACE_MESSAGE, SipRecord, sip_count, sip_messages};
pub use pcap_read::{Capture, Packet, TcpInfo, parse_capture, read_capture, read_capture_bytes, read_capture_file};
pub use pcap_write::{write_pcap, write_pcap_file, write_pcapng, write_pcapng_file};

/// A capture that cannot be written or read. Every variant names the file (or `<memory>`), and
/// where a frame or event is to blame, its number, and says what was expected.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The operating system refused to read or write the file.
    #[error("{file}: cannot {action}: {source}")]
    Io {
        /// The file.
        file: String,
        /// What was attempted (`read`, `create`, `write`).
        action: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file as a whole is not a capture we can read: empty, bad magic, truncated header,
    /// unsupported link type.
    #[error("{file}: {what}")]
    File {
        /// The file.
        file: String,
        /// What is wrong and what was expected.
        what: String,
    },
    /// One frame (1-based, as tshark numbers them) or the block holding it is broken.
    #[error("{file}: frame {frame}: {what}")]
    Frame {
        /// The file.
        file: String,
        /// The 1-based frame number.
        frame: usize,
        /// What is wrong and what was expected.
        what: String,
    },
    /// A tap event cannot be written as a packet.
    #[error("event {event} (0-based): {what}")]
    Event {
        /// Index of the event in the slice given to the writer.
        event: usize,
        /// What is wrong.
        what: String,
    },
}

impl TraceError {
    /// The frame number the error names, if any.
    pub fn frame(&self) -> Option<usize> {
        match self {
            Self::Frame { frame, .. } => Some(*frame),
            _ => None,
        }
    }
}

/// Events, messages and record walking shared by the tests of this module.
#[cfg(test)]
pub(crate) mod test_support {
    use std::net::SocketAddr;
    use std::time::Duration;

    use crate::net::tap::{TapEvent, TapKind, Transport};
    use crate::sip::wire::{Message, MessageBuilder, Method};

    pub(crate) fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    pub(crate) fn ev(ms: u64, transport: Transport, src: SocketAddr, dst: SocketAddr, kind: TapKind) -> TapEvent {
        TapEvent { at: Duration::from_millis(ms), transport, src, dst, kind, actor: None, step: 0 }
    }

    pub(crate) fn data(ms: u64, transport: Transport, src: SocketAddr, dst: SocketAddr, b: &[u8]) -> TapEvent {
        ev(ms, transport, src, dst, TapKind::Data(b.to_vec()))
    }

    /// A MESSAGE request numbered `n` with `body`.
    pub(crate) fn request(n: u32, body: &str) -> Message {
        MessageBuilder::request(Method::MESSAGE, "sip:bob@fabrikam.com")
            .header("Via", format!("SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK{n}"))
            .header("From", "<sip:alice@contoso.com>;tag=a1")
            .header("To", "<sip:bob@fabrikam.com>")
            .header("Call-ID", format!("call-{n}"))
            .header("CSeq", format!("{n} MESSAGE"))
            .body("text/plain", body)
            .build()
    }

    /// A 200 OK to [`request`] `n`.
    pub(crate) fn ok(n: u32) -> Message {
        MessageBuilder::response(200, "OK")
            .header("Via", format!("SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK{n}"))
            .header("Call-ID", format!("call-{n}"))
            .header("CSeq", format!("{n} MESSAGE"))
            .build()
    }

    /// The pcap records of a classic little-endian pcap, walked by hand (independently of the
    /// reader under test): (timestamp, frame bytes).
    pub(crate) fn records(pcap: &[u8]) -> Vec<(Duration, &[u8])> {
        let mut out = Vec::new();
        let mut rest = &pcap[24..];
        while !rest.is_empty() {
            let word = |i: usize| u32::from_le_bytes(rest[i..i + 4].try_into().expect("4 bytes"));
            let (sec, usec, caplen) = (word(0), word(4), word(8) as usize);
            assert_eq!(caplen, word(12) as usize, "caplen == origlen");
            out.push((
                Duration::from_secs(u64::from(sec)) + Duration::from_micros(u64::from(usec)),
                &rest[16..16 + caplen],
            ));
            rest = &rest[16 + caplen..];
        }
        out
    }

    /// What the round-trip scenario is made of.
    #[derive(Debug)]
    pub(crate) struct Scenario {
        pub(crate) events: Vec<TapEvent>,
        /// (frame, src, dst, bytes) of every SIP message, in frame order.
        pub(crate) expected: Vec<(usize, SocketAddr, SocketAddr, Vec<u8>)>,
        /// Packets the writer must produce.
        pub(crate) packets: usize,
    }

    /// UDP over IPv4 and IPv6, then one TCP connection carrying three messages: one split
    /// across two chunks, two sharing one chunk, and a keep-alive.
    pub(crate) fn scenario() -> Scenario {
        let (a, b) = (addr("127.0.0.1:5060"), addr("127.0.0.1:5070"));
        let (a6, b6) = (addr("[::1]:5060"), addr("[::1]:5071"));
        let (c, d) = (addr("127.0.0.1:40000"), addr("127.0.0.1:5061"));
        let (u1, u2, u3, u4) = (request(1, "hi over udp"), ok(1), request(2, "hi over v6"), ok(2));
        let (m1, m2, m3) = (request(3, "split me"), ok(3), request(4, "pipelined"));
        let m1b = m1.as_bytes();
        let cut = m1b.len() / 2;
        let mut shared = m2.as_bytes().to_vec();
        shared.extend_from_slice(m3.as_bytes());
        let (udp, tcp) = (Transport::Udp, Transport::Tcp);
        let events = vec![
            data(1, udp, a, b, u1.as_bytes()),    // frame 1
            data(2, udp, b, a, u2.as_bytes()),    // frame 2
            data(3, udp, a6, b6, u3.as_bytes()),  // frame 3
            data(4, udp, b6, a6, u4.as_bytes()),  // frame 4
            ev(5, tcp, c, d, TapKind::TcpOpen),   // frames 5-7
            data(6, tcp, c, d, &m1b[..cut]),      // frame 8
            data(7, tcp, c, d, &m1b[cut..]),      // frame 9
            data(8, tcp, d, c, &shared),          // frame 10
            data(9, tcp, c, d, b"\r\n\r\n"),      // frame 11
            ev(10, tcp, c, d, TapKind::TcpClose), // frames 12-13
            ev(11, tcp, d, c, TapKind::TcpClose), // frames 14-15
        ];
        let expected = vec![
            (1, a, b, u1.as_bytes().to_vec()),
            (2, b, a, u2.as_bytes().to_vec()),
            (3, a6, b6, u3.as_bytes().to_vec()),
            (4, b6, a6, u4.as_bytes().to_vec()),
            (9, c, d, m1b.to_vec()),
            (10, d, c, m2.as_bytes().to_vec()),
            (10, d, c, m3.as_bytes().to_vec()),
        ];
        Scenario { events, expected, packets: 15 }
    }
}
