//! TCP stream reassembly for one direction of one connection, enough for loopback captures:
//! segments are put in sequence order, retransmitted and overlapping bytes are dropped (the
//! first copy wins), SYN and FIN each consume one sequence number, and sequence numbers wrap.
//!
//! Offsets are kept as 64-bit positions in the stream, so a stream longer than 4 GiB or one
//! whose sequence numbers wrap past 2^32 is handled the same as any other.
//!
//! Memory is bounded: at most [`MAX_HELD`] bytes wait behind a gap. Beyond that the capture has
//! lost the missing bytes for good (a receiver's window is far smaller), so what is held is
//! delivered across the gap, and the chunk says how many bytes were skipped.

use std::collections::BTreeMap;
use std::time::Duration;

use super::pcap_read::TcpInfo;

/// Bytes held out of order per direction before giving up on the gap before them.
pub const MAX_HELD: usize = 4 * 1024 * 1024;

/// In-order bytes of the stream, as they become contiguous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Frame number of the segment that carried these bytes.
    pub frame: usize,
    /// Its timestamp.
    pub at: Duration,
    /// Position of the first byte in the stream (0 = first byte after the SYN).
    pub offset: u64,
    /// Bytes missing from the capture right before this chunk; only [`Direction::finish`]
    /// delivers across a gap, so this is 0 for chunks from [`Direction::segment`].
    pub skipped: u64,
    /// The bytes.
    pub data: Vec<u8>,
}

/// Reassembly state of one direction (sender → receiver) of one connection.
#[derive(Debug, Default)]
pub struct Direction {
    /// Sequence number of stream position 0, once known (from the SYN, or from the first
    /// segment seen when the capture started mid-connection).
    base: Option<u32>,
    /// Stream position of the next byte to deliver.
    delivered: u64,
    /// Segments ahead of `delivered`, by stream position: (frame, at, bytes).
    pending: BTreeMap<u64, (usize, Duration, Vec<u8>)>,
    /// Stream position of the FIN, once seen.
    fin: Option<u64>,
    /// Bytes in `pending`.
    held: usize,
}

impl Direction {
    /// A direction with nothing seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when `tcp` is a SYN opening a different connection on the same 4-tuple (port
    /// reuse): the caller should start over with a fresh `Direction`.
    pub fn is_new_connection(&self, tcp: &TcpInfo) -> bool {
        tcp.syn && self.base.is_some_and(|b| b != tcp.seq.wrapping_add(1))
    }

    /// True once a segment of this direction has been seen.
    pub fn started(&self) -> bool {
        self.base.is_some()
    }

    /// True once the sender's FIN has been seen.
    pub fn fin_seen(&self) -> bool {
        self.fin.is_some()
    }

    /// Bytes delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Stream position of sequence number `seq`, relative to what was delivered; negative for
    /// bytes before the start of the stream.
    fn position(&self, base: u32, seq: u32) -> i128 {
        // `delivered as u32` truncates on purpose: sequence numbers are modulo 2^32.
        let next_seq = base.wrapping_add(self.delivered as u32);
        i128::from(self.delivered) + i128::from(seq.wrapping_sub(next_seq) as i32)
    }

    /// Takes one segment; returns the bytes that became contiguous, in order.
    pub fn segment(&mut self, frame: usize, at: Duration, tcp: &TcpInfo, payload: &[u8]) -> Vec<Chunk> {
        if tcp.rst {
            return Vec::new();
        }
        // The SYN occupies one sequence number; data on a SYN starts after it.
        let seq = if tcp.syn { tcp.seq.wrapping_add(1) } else { tcp.seq };
        let base = *self.base.get_or_insert(seq);
        let start = self.position(base, seq);
        let end = start + payload.len() as i128;
        if tcp.fin && self.fin.is_none() {
            self.fin = u64::try_from(end).ok();
        }
        let delivered = i128::from(self.delivered);
        if payload.is_empty() || end <= delivered {
            // No data (the ACK after our FIN sits one past the last byte: not a gap), or a
            // retransmission of bytes already delivered.
            return Vec::new();
        }
        // Keep only bytes not delivered yet (the front of a partial retransmission is dropped).
        let skip = usize::try_from(delivered - start).unwrap_or(0).min(payload.len());
        let start = u64::try_from(start.max(delivered)).unwrap_or(self.delivered);
        let bytes = &payload[skip..];
        self.hold(frame, at, start, bytes);
        let across_gaps = self.held > MAX_HELD;
        self.drain(across_gaps)
    }

    /// Holds the bytes of `[start, start + bytes.len())` that no held segment covers yet, so
    /// held segments never overlap and the first copy of every byte wins.
    fn hold(&mut self, frame: usize, at: Duration, start: u64, bytes: &[u8]) {
        let end = start + bytes.len() as u64;
        // A held segment starting before `start` may reach into it: begin the walk there.
        let from = self.pending.range(..=start).next_back().map_or(start, |(s, _)| *s);
        let covered: Vec<(u64, u64)> = self
            .pending
            .range(from..end)
            .map(|(s, (_, _, b))| (*s, s + b.len() as u64))
            .filter(|(_, e)| *e > start)
            .collect();
        let mut at_pos = start;
        let mut put = |lo: u64, hi: u64, pending: &mut BTreeMap<u64, (usize, Duration, Vec<u8>)>| {
            // lo and hi lie within [start, end], so the offsets fit in usize.
            let piece = bytes[(lo - start) as usize..(hi - start) as usize].to_vec();
            self.held += piece.len();
            pending.insert(lo, (frame, at, piece));
        };
        for (s, e) in covered {
            if s > at_pos {
                put(at_pos, s, &mut self.pending);
            }
            at_pos = at_pos.max(e);
        }
        if at_pos < end {
            put(at_pos, end, &mut self.pending);
        }
    }

    /// Delivers everything still held, across gaps (the capture lost bytes); call at the end of
    /// the capture.
    pub fn finish(&mut self) -> Vec<Chunk> {
        self.drain(true)
    }

    fn drain(&mut self, across_gaps: bool) -> Vec<Chunk> {
        let mut out = Vec::new();
        while let Some(entry) = self.pending.first_entry() {
            let start = *entry.key();
            if start > self.delivered && !across_gaps {
                break;
            }
            let (frame, at, bytes) = entry.remove();
            self.held -= bytes.len();
            let end = start + bytes.len() as u64;
            if end <= self.delivered {
                continue; // Wholly covered by bytes delivered already.
            }
            let (skipped, from) = if start >= self.delivered {
                (start - self.delivered, 0)
            } else {
                // `self.delivered - start` < bytes.len() here, so it fits in usize.
                (0, (self.delivered - start) as usize)
            };
            let data = bytes[from..].to_vec();
            out.push(Chunk { frame, at, offset: start.max(self.delivered), skipped, data });
            self.delivered = end;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(seq: u32) -> TcpInfo {
        TcpInfo { seq, ack_number: 0, syn: false, ack: true, fin: false, rst: false, psh: true, window: 0 }
    }

    fn feed(d: &mut Direction, frame: usize, tcp: TcpInfo, payload: &[u8]) -> Vec<u8> {
        d.segment(frame, Duration::ZERO, &tcp, payload).into_iter().flat_map(|c| c.data).collect()
    }

    #[test]
    fn syn_consumes_one_sequence_number_and_data_follows_it() {
        let mut d = Direction::new();
        assert!(feed(&mut d, 1, TcpInfo { syn: true, ack: false, ..seg(100) }, b"").is_empty());
        assert_eq!(feed(&mut d, 2, seg(101), b"abc"), b"abc");
        assert_eq!(feed(&mut d, 3, TcpInfo { fin: true, ..seg(104) }, b"de"), b"de");
        assert!(d.fin_seen());
        // The FIN consumed 106; an ACK from this side now carries seq 107 and no data.
        assert!(feed(&mut d, 4, seg(107), b"").is_empty());
        assert_eq!(d.finish(), vec![], "no gap after the FIN");
        assert_eq!(d.delivered(), 5);
    }

    #[test]
    fn out_of_order_segments_are_delivered_in_sequence_order() {
        let mut d = Direction::new();
        assert_eq!(feed(&mut d, 1, seg(10), b"ab"), b"ab");
        assert!(feed(&mut d, 2, seg(14), b"ef").is_empty());
        let chunks = d.segment(3, Duration::ZERO, &seg(12), b"cd");
        assert_eq!(chunks.iter().map(|c| (c.frame, c.offset)).collect::<Vec<_>>(), vec![(3, 2), (2, 4)]);
        assert_eq!(chunks.into_iter().flat_map(|c| c.data).collect::<Vec<_>>(), b"cdef");
    }

    #[test]
    fn retransmitted_and_overlapping_bytes_are_dropped() {
        let mut d = Direction::new();
        assert_eq!(feed(&mut d, 1, seg(0), b"hello"), b"hello");
        assert!(feed(&mut d, 2, seg(0), b"hello").is_empty(), "full retransmission");
        assert_eq!(feed(&mut d, 3, seg(3), b"lo, world"), b", world", "overlap trimmed");
        assert!(feed(&mut d, 4, seg(20), b"XYZ").is_empty());
        assert!(feed(&mut d, 5, seg(20), b"X").is_empty(), "shorter duplicate of a held segment");
        assert_eq!(feed(&mut d, 6, seg(12), b"01234567"), b"01234567XYZ");
    }

    #[test]
    fn sequence_numbers_wrap_around_two_to_the_32() {
        let mut d = Direction::new();
        assert!(feed(&mut d, 1, TcpInfo { syn: true, ..seg(u32::MAX - 2) }, b"").is_empty());
        assert_eq!(feed(&mut d, 2, seg(u32::MAX - 1), b"abcd"), b"abcd");
        assert_eq!(feed(&mut d, 3, seg(2), b"ef"), b"ef");
        assert!(feed(&mut d, 4, seg(u32::MAX), b"cd").is_empty(), "old bytes across the wrap");
    }

    #[test]
    fn finish_delivers_across_a_gap_and_says_how_much_is_missing() {
        let mut d = Direction::new();
        assert_eq!(feed(&mut d, 1, seg(0), b"ab"), b"ab");
        assert!(feed(&mut d, 2, seg(5), b"fg").is_empty());
        let rest = d.finish();
        assert_eq!(rest, vec![Chunk { frame: 2, at: Duration::ZERO, offset: 5, skipped: 3, data: b"fg".to_vec() }]);
    }

    #[test]
    fn bytes_held_behind_a_gap_are_bounded_and_then_delivered_across_it() {
        let mut d = Direction::new();
        assert_eq!(feed(&mut d, 1, seg(0), b"ab"), b"ab");
        let block = vec![b'x'; MAX_HELD / 2];
        assert!(feed(&mut d, 2, seg(10), &block).is_empty());
        assert!(feed(&mut d, 3, seg(10 + block.len() as u32), &block).is_empty(), "exactly at the bound");
        let chunks = d.segment(4, Duration::ZERO, &seg(10 + 2 * block.len() as u32), b"y");
        assert_eq!(chunks.iter().map(|c| (c.frame, c.skipped)).collect::<Vec<_>>(), [(2, 8), (3, 0), (4, 0)]);
        assert_eq!(d.held, 0);
        assert_eq!(d.delivered(), 10 + 2 * block.len() as u64 + 1);
    }

    #[test]
    fn a_segment_overlapping_two_held_segments_fills_only_the_hole_between_them() {
        let mut d = Direction::new();
        assert!(feed(&mut d, 1, TcpInfo { syn: true, ..seg(99) }, b"").is_empty());
        assert!(feed(&mut d, 2, seg(102), b"cd").is_empty());
        assert!(feed(&mut d, 3, seg(106), b"gh").is_empty());
        // Retransmission covering both held segments and the hole, with different bytes where
        // they overlap: the first copy of every byte wins.
        assert!(feed(&mut d, 4, seg(102), b"CDefGH").is_empty());
        assert_eq!(feed(&mut d, 5, seg(100), b"ab"), b"abcdefgh");
    }

    #[test]
    fn a_syn_with_another_isn_is_a_new_connection() {
        let mut d = Direction::new();
        feed(&mut d, 1, TcpInfo { syn: true, ..seg(7) }, b"");
        assert!(!d.is_new_connection(&TcpInfo { syn: true, ..seg(7) }), "retransmitted SYN");
        assert!(d.is_new_connection(&TcpInfo { syn: true, ..seg(9000) }));
    }
}
