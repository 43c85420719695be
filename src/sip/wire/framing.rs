//! Cutting a byte stream (TCP, TLS) into messages by Content-Length (RFC 3261 §18.3), with
//! RFC 5626 CRLF keep-alives skipped. Partial reads and several messages in one read are both
//! normal; a fault poisons the stream, because after it the message boundaries are unknown.

use super::error::{FaultKind, Result, WireError};
use super::message::{Message, parse_head};

/// What the framer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole message.
    Message(Message),
    /// A keep-alive: CRLFCRLF ping (answer with CRLF) or a lone CRLF pong.
    KeepAlive,
}

/// Incremental framer for one direction of one stream connection.
#[derive(Debug)]
pub struct StreamFramer {
    buf: Vec<u8>,
    max_message: usize,
    failed: bool,
}

/// Default cap on one message (head plus body): generous for multipart SDP, small enough that
/// a peer cannot make the harness buffer without bound.
pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024;

impl Default for StreamFramer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_MESSAGE)
    }
}

impl StreamFramer {
    /// A framer refusing messages larger than `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Self { buf: Vec::new(), max_message, failed: false }
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that do not yet form a message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next frame, `Ok(None)` when more bytes are needed. After an error the stream cannot
    /// be re-synchronised and every later call returns the same kind of error.
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        if self.failed {
            return Err(WireError::new(FaultKind::Framing, "stream already failed to frame"));
        }
        let r = self.next_inner();
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn next_inner(&mut self) -> Result<Option<Frame>> {
        // Keep-alives between messages: CRLFCRLF (ping) or CRLF (pong).
        if self.buf.starts_with(b"\r\n\r\n") {
            self.buf.drain(..4);
            return Ok(Some(Frame::KeepAlive));
        }
        if self.buf.starts_with(b"\r\n") {
            if self.buf.len() < 4 && b"\r\n\r\n".starts_with(&self.buf) {
                // Could still become a ping: wait, unless more bytes show it is a pong.
                if self.buf.len() == 2 {
                    self.buf.drain(..2);
                    return Ok(Some(Frame::KeepAlive));
                }
                return Ok(None);
            }
            self.buf.drain(..2);
            return Ok(Some(Frame::KeepAlive));
        }
        let Some(head) = parse_head(&self.buf)? else {
            if self.buf.len() > self.max_message {
                return Err(WireError::new(
                    FaultKind::Framing,
                    format!("header section exceeds the maximum message size of {} bytes", self.max_message),
                ));
            }
            return Ok(None);
        };
        let Some(len) = head.content_length else {
            return Err(WireError::new(FaultKind::Framing, "Content-Length is mandatory on stream transports")
                .in_header("Content-Length"));
        };
        let total = head.body_start.saturating_add(len);
        if total > self.max_message {
            return Err(WireError::new(
                FaultKind::Framing,
                format!("message of {total} bytes exceeds the maximum of {} bytes", self.max_message),
            ));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let rest = self.buf.split_off(total);
        let bytes = std::mem::replace(&mut self.buf, rest);
        Ok(Some(Frame::Message(Message::from_head(bytes, head))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::wire::{MessageBuilder, Method};

    fn sample(n: u32, body: &str) -> Message {
        MessageBuilder::request(Method::MESSAGE, "sip:bob@contoso.com")
            .header("Via", format!("SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK{n}"))
            .header("Call-ID", format!("c{n}"))
            .header("CSeq", format!("{n} MESSAGE"))
            .body("text/plain; charset=UTF-8", body)
            .build()
    }

    fn drain(f: &mut StreamFramer) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(fr) = f.next_frame().unwrap() {
            out.push(fr);
        }
        out
    }

    #[test]
    fn a_message_split_at_every_byte_boundary_frames_identically() {
        let m = sample(1, "Hello, split me anywhere");
        let bytes = m.as_bytes();
        for cut in 0..=bytes.len() {
            let mut f = StreamFramer::default();
            f.push(&bytes[..cut]);
            let mut got = drain(&mut f);
            f.push(&bytes[cut..]);
            got.extend(drain(&mut f));
            assert_eq!(got, vec![Frame::Message(m.clone())], "cut at {cut}");
            assert_eq!(f.buffered(), 0);
        }
    }

    #[test]
    fn every_byte_fed_alone_still_frames() {
        let m = sample(2, "one byte at a time");
        let mut f = StreamFramer::default();
        let mut got = Vec::new();
        for b in m.as_bytes() {
            f.push(std::slice::from_ref(b));
            got.extend(drain(&mut f));
        }
        assert_eq!(got, vec![Frame::Message(m)]);
    }

    #[test]
    fn pipelined_messages_and_keepalives_in_one_read() {
        let (a, b, c) = (sample(1, "a"), sample(2, ""), sample(3, "ccc"));
        let mut wire = Vec::new();
        wire.extend_from_slice(b"\r\n\r\n");
        wire.extend_from_slice(a.as_bytes());
        wire.extend_from_slice(b.as_bytes());
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(c.as_bytes());
        let mut f = StreamFramer::default();
        f.push(&wire);
        let got = drain(&mut f);
        assert_eq!(
            got,
            vec![Frame::KeepAlive, Frame::Message(a), Frame::Message(b), Frame::KeepAlive, Frame::Message(c)]
        );
    }

    #[test]
    fn oversize_message_is_an_error_not_a_buffer() {
        let m = sample(4, &"x".repeat(2000));
        let mut f = StreamFramer::new(1024);
        f.push(m.as_bytes());
        let e = f.next_frame().unwrap_err();
        assert_eq!(e.kind, FaultKind::Framing);
        assert!(e.detail.contains("maximum"), "{e}");
        // A head that never ends is refused too, once past the cap.
        let mut g = StreamFramer::new(1024);
        g.push(b"MESSAGE sip:a@b SIP/2.0\r\n");
        g.push("X-Pad: y\r\n".repeat(200).as_bytes());
        assert_eq!(g.next_frame().unwrap_err().kind, FaultKind::Framing);
    }

    #[test]
    fn negative_duplicate_or_missing_content_length_is_rejected() {
        let cases: [&[u8]; 3] = [
            b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: -5\r\n\r\n",
            b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 0\r\nl: 0\r\n\r\n",
            b"MESSAGE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n",
        ];
        for c in cases {
            let mut f = StreamFramer::default();
            f.push(c);
            let e = f.next_frame().unwrap_err();
            assert_eq!(e.kind, FaultKind::Framing, "{}", String::from_utf8_lossy(c));
            assert!(f.next_frame().is_err(), "a failed stream stays failed");
        }
    }
}
