//! The SIP messages of a capture: UDP datagrams parsed one by one, each TCP direction
//! reassembled and cut into messages by Content-Length, keep-alives skipped. Every payload is
//! taken to be SIP (our captures carry nothing else); what does not parse becomes a record whose
//! result is the error, so a report can point at the frame.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::TraceError;
use super::pcap_read::{Packet, read_capture};
use super::reassembly::{Chunk, Direction};
use crate::net::tap::Transport;
use crate::sip::wire::{FaultKind, Frame, Message, StreamFramer, WireError};

/// Largest message framed from a TCP stream of a capture. Far above the live harness's limit:
/// a trace is read to report what happened, not defended against.
pub const MAX_TRACE_MESSAGE: usize = 16 * 1024 * 1024;

/// One SIP message of a capture, or the fault that kept it from parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipRecord {
    /// The frame holding the message's last byte (where tshark shows the message).
    pub frame: usize,
    /// That frame's timestamp.
    pub at: Duration,
    /// UDP or TCP.
    pub transport: Transport,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// The message, or why the bytes are not one.
    pub result: Result<Message, WireError>,
}

/// Number of SIP messages in the capture at `path` that parse (what tshark counts as SIP).
pub fn sip_count(path: impl AsRef<Path>) -> Result<usize, TraceError> {
    let packets = read_capture(path)?;
    Ok(sip_messages(&packets).iter().filter(|r| r.result.is_ok()).count())
}

/// The SIP messages of `packets`, in frame order (several messages may share a frame).
pub fn sip_messages(packets: &[Packet]) -> Vec<SipRecord> {
    let mut out = Vec::new();
    let mut streams: HashMap<(SocketAddr, SocketAddr), Stream> = HashMap::new();
    // Streams in order of first appearance, so that the end-of-capture records are stable.
    let mut order = Vec::new();
    for p in packets {
        match (p.transport, &p.tcp) {
            (Transport::Udp, _) => {
                if p.payload.iter().all(|b| *b == b'\r' || *b == b'\n') {
                    continue; // Empty datagram or CRLF keep-alive.
                }
                if crate::trace::canonical::is_media(&p.payload) {
                    continue; // RTP, RTCP, STUN: told apart from SIP by the first byte (RFC 7983).
                }
                let result = if p.truncated {
                    Err(fault(format!("the capture holds only the first {} bytes of this datagram", p.payload.len())))
                } else {
                    Message::parse_datagram(&p.payload)
                };
                out.push(SipRecord {
                    frame: p.number,
                    at: p.at,
                    transport: p.transport,
                    src: p.src,
                    dst: p.dst,
                    result,
                });
            }
            (Transport::Tcp, Some(tcp)) => {
                let key = (p.src, p.dst);
                let s = streams.entry(key).or_insert_with(|| {
                    order.push(key);
                    Stream::new(p.src, p.dst)
                });
                if s.dir.is_new_connection(tcp) {
                    s.end(&mut out);
                    *s = Stream::new(p.src, p.dst);
                }
                for chunk in s.dir.segment(p.number, p.at, tcp, &p.payload) {
                    s.feed(chunk, &mut out);
                }
            }
            (Transport::Tcp, None) => {}
        }
    }
    for key in order {
        if let Some(s) = streams.get_mut(&key) {
            for chunk in s.dir.finish() {
                s.feed(chunk, &mut out);
            }
            s.end(&mut out);
        }
    }
    // Stable: records of one frame keep their stream order.
    out.sort_by_key(|r| r.frame);
    out
}

fn fault(detail: String) -> WireError {
    WireError { kind: FaultKind::Framing, line: None, header: None, detail }
}

/// One direction of one TCP connection on its way to messages.
#[derive(Debug)]
struct Stream {
    src: SocketAddr,
    dst: SocketAddr,
    dir: Direction,
    framer: StreamFramer,
    /// The framer failed: message boundaries are lost until a gap restarts framing.
    failed: bool,
    /// Frame and time of the last bytes pushed.
    last: (usize, Duration),
}

impl Stream {
    fn new(src: SocketAddr, dst: SocketAddr) -> Self {
        Self {
            src,
            dst,
            dir: Direction::new(),
            framer: StreamFramer::new(MAX_TRACE_MESSAGE),
            failed: false,
            last: (0, Duration::ZERO),
        }
    }

    fn record(&self, frame: usize, at: Duration, result: Result<Message, WireError>) -> SipRecord {
        SipRecord { frame, at, transport: Transport::Tcp, src: self.src, dst: self.dst, result }
    }

    /// Pushes in-order bytes and takes every message they complete. A message completed by
    /// this chunk ends in the chunk's frame: the framer is drained after every chunk.
    fn feed(&mut self, chunk: Chunk, out: &mut Vec<SipRecord>) {
        if chunk.skipped > 0 {
            let detail = format!(
                "{} bytes of the stream are missing from the capture before this segment; \
                 framing restarts here",
                chunk.skipped
            );
            out.push(self.record(chunk.frame, chunk.at, Err(fault(detail))));
            self.framer = StreamFramer::new(MAX_TRACE_MESSAGE);
            self.failed = false;
        }
        if self.failed {
            return;
        }
        self.last = (chunk.frame, chunk.at);
        self.framer.push(&chunk.data);
        loop {
            match self.framer.next_frame() {
                Ok(Some(Frame::Message(m))) => out.push(self.record(chunk.frame, chunk.at, Ok(m))),
                Ok(Some(Frame::KeepAlive)) => {}
                Ok(None) => break,
                Err(e) => {
                    out.push(self.record(chunk.frame, chunk.at, Err(e)));
                    self.failed = true;
                    break;
                }
            }
        }
    }

    /// Reports bytes left over when the connection or the capture ends inside a message.
    fn end(&mut self, out: &mut Vec<SipRecord>) {
        let held = self.framer.buffered();
        // Up to three held bytes are a keep-alive that could still have become CRLFCRLF (no
        // SIP message is that short).
        if self.failed || held <= 3 {
            return;
        }
        let (frame, at) = self.last;
        let detail = format!("the stream ends inside a message: {held} bytes without a complete message");
        out.push(self.record(frame, at, Err(fault(detail))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::tap::TapKind;
    use crate::trace::test_support::{addr, data, ev, request, scenario};
    use crate::trace::{read_capture_bytes, write_pcap, write_pcap_file};

    fn capture(events: &[crate::net::tap::TapEvent]) -> Vec<Packet> {
        let mut pcap = Vec::new();
        write_pcap(events, &mut pcap).expect("write");
        read_capture_bytes(&pcap).expect("read back")
    }

    #[test]
    fn round_trip_yields_every_udp_and_tcp_message_byte_exact_with_addresses_and_frames() {
        let sc = scenario();
        let mut pcap = Vec::new();
        assert_eq!(write_pcap(&sc.events, &mut pcap).unwrap(), sc.packets);
        let packets = read_capture_bytes(&pcap).unwrap();
        let records = sip_messages(&packets);
        let got: Vec<_> = records
            .iter()
            .map(|r| (r.frame, r.src, r.dst, r.result.as_ref().expect("parses").as_bytes().to_vec()))
            .collect();
        assert_eq!(got, sc.expected);
        let transports: Vec<_> = records.iter().map(|r| r.transport).collect();
        assert_eq!(transports, [[Transport::Udp; 4].as_slice(), &[Transport::Tcp; 3]].concat());
        assert_eq!(records[4].at, Duration::from_millis(7), "timestamp of the frame completing the message");
    }

    #[test]
    fn malformed_sip_gives_an_error_record_naming_its_frame() {
        let (a, b) = (addr("127.0.0.1:5060"), addr("127.0.0.1:5070"));
        let (c, d) = (addr("127.0.0.1:40001"), addr("127.0.0.1:5061"));
        let good = request(1, "fine");
        let events = vec![
            data(1, Transport::Udp, a, b, b"NOT SIP AT ALL\r\n\r\n"), // frame 1
            data(2, Transport::Udp, a, b, good.as_bytes()),           // frame 2
            data(3, Transport::Tcp, c, d, good.as_bytes()),           // frames 3-5 handshake, 6 data
            data(4, Transport::Tcp, c, d, b"MESSAGE sip:b@c SIP/2.0\r\nContent-Length: x\r\n\r\n"), // frame 7
            data(5, Transport::Tcp, c, d, good.as_bytes()),           // frame 8: lost after the fault
        ];
        let records = sip_messages(&capture(&events));
        let summary: Vec<_> = records.iter().map(|r| (r.frame, r.result.is_ok())).collect();
        assert_eq!(summary, vec![(1, false), (2, true), (6, true), (7, false)]);
        let e = records[3].result.as_ref().unwrap_err();
        assert_eq!(e.kind, FaultKind::Framing);
        assert_eq!(e.header.as_deref(), Some("Content-Length"), "{e}");
        assert_eq!(records[0].result.as_ref().unwrap_err().kind, FaultKind::StartLine);
    }

    #[test]
    fn stream_ending_inside_a_message_is_reported_at_its_last_frame() {
        let (c, d) = (addr("127.0.0.1:40002"), addr("127.0.0.1:5061"));
        let m = request(1, "cut short");
        let events = vec![data(1, Transport::Tcp, c, d, &m.as_bytes()[..40])]; // frames 1-3 handshake, 4 data
        let records = sip_messages(&capture(&events));
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].frame, 4);
        assert!(records[0].result.as_ref().unwrap_err().detail.contains("40 bytes"), "{records:?}");
    }

    #[test]
    fn keepalives_over_udp_and_tcp_are_skipped() {
        let (a, b) = (addr("127.0.0.1:5060"), addr("127.0.0.1:5070"));
        let events = vec![
            data(1, Transport::Udp, a, b, b"\r\n\r\n"),
            data(2, Transport::Tcp, a, b, b"\r\n\r\n"),
            data(3, Transport::Tcp, b, a, b"\r\n"),
            ev(4, Transport::Tcp, a, b, TapKind::TcpClose),
        ];
        assert_eq!(sip_messages(&capture(&events)), vec![]);
    }

    #[test]
    fn a_reused_four_tuple_is_a_new_stream() {
        let (c, d) = (addr("127.0.0.1:40003"), addr("127.0.0.1:5061"));
        let (m1, m2) = (request(1, "first"), request(2, "second"));
        let events = vec![
            data(1, Transport::Tcp, c, d, &m1.as_bytes()[..10]), // incomplete, then the connection closes
            ev(2, Transport::Tcp, c, d, TapKind::TcpClose),
            ev(3, Transport::Tcp, d, c, TapKind::TcpClose),
            ev(4, Transport::Tcp, c, d, TapKind::TcpOpen),
            data(5, Transport::Tcp, c, d, m2.as_bytes()),
        ];
        let records = sip_messages(&capture(&events));
        assert_eq!(records.len(), 2, "{records:?}");
        assert!(records[0].result.is_err(), "the first connection ended inside a message");
        assert_eq!(records[1].result.as_ref().unwrap().as_bytes(), m2.as_bytes());
    }

    #[test]
    fn sip_count_counts_the_messages_that_parse_in_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/round.pcap");
        let sc = scenario();
        assert_eq!(write_pcap_file(&sc.events, &path).unwrap(), sc.packets);
        assert_eq!(sip_count(&path).unwrap(), sc.expected.len());
        let missing = sip_count(dir.path().join("absent.pcap")).unwrap_err();
        assert!(missing.to_string().contains("absent.pcap"), "{missing}");
    }
}
