//! IP fragment reassembly (IPv4, and IPv6's Fragment extension header), sans-IO: fragments go
//! in with their frame number, whole transport payloads (UDP/TCP header plus data) come out.
//!
//! Loopback with a 1500-byte MTU fragments any UDP SIP message above it, so a real capture of
//! the consumer leg can hold fragments. Memory is bounded: one datagram is at most 65 535
//! bytes (the IP length fields cannot say more), and at most [`MAX_HELD`] datagrams are held
//! at once; beyond that the oldest is given up with a note. Overlapping fragments keep the
//! first copy of every byte, as the TCP reassembly does.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;

/// Datagrams in reassembly at once; the oldest is given up when another one starts.
pub const MAX_HELD: usize = 256;
/// Largest reassembled payload: what the IPv4 total length and IPv6 payload length allow.
pub const MAX_DATAGRAM: usize = 65_535;

/// What tells one datagram's fragments from another's (RFC 791 §3.2, RFC 8200 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FragmentKey {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Identification (16 bits in IPv4, 32 in IPv6).
    pub id: u32,
    /// Protocol of the payload (17 UDP, 6 TCP).
    pub protocol: u8,
}

/// One fragment as the IP header describes it.
#[derive(Debug, Clone, Copy)]
pub struct Fragment<'a> {
    /// Which datagram it belongs to.
    pub key: FragmentKey,
    /// Byte offset of `data` in the datagram's payload.
    pub offset: usize,
    /// More fragments follow (MF flag).
    pub more: bool,
    /// The fragment's payload.
    pub data: &'a [u8],
}

/// A datagram given up: the capture ended, or too many were in reassembly at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incomplete {
    /// Frame of its first fragment seen.
    pub first_frame: usize,
    /// Frame of its last fragment seen.
    pub last_frame: usize,
    /// Bytes held.
    pub held: usize,
    /// Why it was given up.
    pub why: &'static str,
}

/// A fragment that cannot belong to any datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentError(pub String);

#[derive(Debug)]
struct Partial {
    first_frame: usize,
    last_frame: usize,
    /// Pieces by offset, none overlapping another.
    pieces: BTreeMap<usize, Vec<u8>>,
    /// Payload length, once the last fragment (MF clear) was seen.
    end: Option<usize>,
}

impl Partial {
    fn held(&self) -> usize {
        self.pieces.values().map(Vec::len).sum()
    }

    /// Inserts the bytes of `[offset, offset + data.len())` not held yet.
    fn insert(&mut self, offset: usize, data: &[u8]) {
        let mut at = offset;
        let end = offset + data.len();
        // Walk the held pieces that could overlap, filling the holes between them.
        let overlapping: Vec<(usize, usize)> =
            self.pieces.range(..end).map(|(s, b)| (*s, s + b.len())).filter(|(_, e)| *e > offset).collect();
        for (s, e) in overlapping {
            if s > at {
                self.pieces.insert(at, data[at - offset..s - offset].to_vec());
            }
            at = at.max(e);
        }
        if at < end {
            self.pieces.insert(at, data[at - offset..].to_vec());
        }
    }

    fn complete(&self) -> Option<Vec<u8>> {
        let end = self.end?;
        let mut out = Vec::with_capacity(end);
        for (s, b) in &self.pieces {
            if *s != out.len() {
                return None;
            }
            out.extend_from_slice(b);
        }
        (out.len() == end).then_some(out)
    }
}

/// Datagrams in reassembly.
#[derive(Debug, Default)]
pub struct Defragmenter {
    held: BTreeMap<FragmentKey, Partial>,
    /// Keys in the order their first fragment arrived (for giving up the oldest).
    order: VecDeque<FragmentKey>,
    given_up: Vec<Incomplete>,
}

impl Defragmenter {
    /// Nothing held.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one fragment seen in `frame`; returns the datagram's payload once it is whole.
    pub fn add(&mut self, frame: usize, f: Fragment<'_>) -> Result<Option<Vec<u8>>, FragmentError> {
        let end = f.offset + f.data.len();
        if end > MAX_DATAGRAM {
            return Err(FragmentError(format!(
                "IP fragment at offset {} with {} bytes ends at {end}, beyond the {MAX_DATAGRAM} bytes a datagram can hold",
                f.offset,
                f.data.len()
            )));
        }
        if f.more && !f.data.len().is_multiple_of(8) {
            return Err(FragmentError(format!(
                "IP fragment at offset {} with more fragments to follow holds {} bytes, not a multiple of 8",
                f.offset,
                f.data.len()
            )));
        }
        if !self.held.contains_key(&f.key) {
            if self.held.len() >= MAX_HELD
                && let Some(oldest) = self.order.pop_front()
                && let Some(p) = self.held.remove(&oldest)
            {
                self.give_up(&p, "too many datagrams in reassembly at once");
            }
            self.order.push_back(f.key);
            let p = Partial { first_frame: frame, last_frame: frame, pieces: BTreeMap::new(), end: None };
            self.held.insert(f.key, p);
        }
        let Some(p) = self.held.get_mut(&f.key) else { return Ok(None) };
        if let Some(e) = p.end
            && (end > e || (!f.more && end != e))
        {
            return Err(FragmentError(format!(
                "IP fragment at offset {} ends at {end}, but an earlier last fragment ended the datagram at {e}",
                f.offset
            )));
        }
        if !f.more {
            let beyond = p.pieces.last_key_value().map(|(s, b)| s + b.len()).filter(|held| *held > end);
            if let Some(held) = beyond {
                return Err(FragmentError(format!(
                    "last IP fragment ends the datagram at {end}, but earlier fragments reach {held}"
                )));
            }
            p.end = Some(end);
        }
        p.last_frame = frame;
        p.insert(f.offset, f.data);
        let Some(whole) = p.complete() else { return Ok(None) };
        self.held.remove(&f.key);
        self.order.retain(|k| *k != f.key);
        Ok(Some(whole))
    }

    fn give_up(&mut self, p: &Partial, why: &'static str) {
        self.given_up.push(Incomplete { first_frame: p.first_frame, last_frame: p.last_frame, held: p.held(), why });
    }

    /// Gives up every datagram still held (the capture ended) and returns all given up so far,
    /// in the order their first fragment arrived.
    pub fn finish(&mut self) -> Vec<Incomplete> {
        while let Some(k) = self.order.pop_front() {
            if let Some(p) = self.held.remove(&k) {
                self.give_up(&p, "the capture ends before its last fragment");
            }
        }
        std::mem::take(&mut self.given_up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32) -> FragmentKey {
        FragmentKey { src: [127, 0, 0, 1].into(), dst: [127, 0, 0, 2].into(), id, protocol: 17 }
    }

    fn frag(id: u32, offset: usize, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment { key: key(id), offset, more, data }
    }

    fn payload(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn in_order_and_out_of_order_fragments_give_the_datagram_once_it_is_whole() {
        let p = payload(40);
        let mut d = Defragmenter::new();
        assert_eq!(d.add(1, frag(1, 0, true, &p[..16])), Ok(None));
        assert_eq!(d.add(2, frag(1, 16, true, &p[16..32])), Ok(None));
        assert_eq!(d.add(3, frag(1, 32, false, &p[32..])), Ok(Some(p.clone())));
        // Last fragment first, then the middle, then the first.
        assert_eq!(d.add(4, frag(2, 32, false, &p[32..])), Ok(None));
        assert_eq!(d.add(5, frag(2, 16, true, &p[16..32])), Ok(None));
        assert_eq!(d.add(6, frag(2, 0, true, &p[..16])), Ok(Some(p.clone())));
        assert_eq!(d.finish(), vec![]);
    }

    #[test]
    fn interleaved_datagrams_and_duplicate_or_overlapping_fragments_keep_the_first_copy() {
        let p = payload(48);
        let mut d = Defragmenter::new();
        assert_eq!(d.add(1, frag(7, 0, true, &p[..24])), Ok(None));
        assert_eq!(d.add(2, frag(8, 0, true, &p[..8])), Ok(None));
        assert_eq!(d.add(3, frag(7, 0, true, &p[..24])), Ok(None), "duplicate");
        // Overlaps bytes 16..24 with different content: the first copy wins.
        let mut overlap = p[16..40].to_vec();
        overlap[0] = 0xFF;
        assert_eq!(d.add(4, frag(7, 16, true, &overlap)), Ok(None));
        assert_eq!(d.add(5, frag(7, 40, false, &p[40..])), Ok(Some(p.clone())));
        assert_eq!(d.add(6, frag(8, 8, false, &p[8..12])), Ok(Some(p[..12].to_vec())));
    }

    #[test]
    fn incomplete_datagrams_are_given_up_with_their_frames_and_memory_stays_bounded() {
        let p = payload(16);
        let mut d = Defragmenter::new();
        assert_eq!(d.add(10, frag(1, 8, false, &p[8..])), Ok(None));
        assert_eq!(d.add(11, frag(1, 8, false, &p[8..])), Ok(None));
        let left = d.finish();
        assert_eq!(left.len(), 1);
        assert_eq!((left[0].first_frame, left[0].last_frame, left[0].held), (10, 11, 8));
        for id in 0..(MAX_HELD as u32 + 3) {
            assert_eq!(d.add(id as usize, frag(100 + id, 0, true, &p[..8])), Ok(None));
        }
        assert_eq!(d.held.len(), MAX_HELD);
        let gone = d.finish();
        assert_eq!(gone.len(), MAX_HELD + 3);
        assert_eq!(
            gone[..3].iter().map(|g| g.why).collect::<Vec<_>>(),
            ["too many datagrams in reassembly at once"; 3]
        );
    }

    #[test]
    fn impossible_fragments_are_errors() {
        let mut d = Defragmenter::new();
        let e = d.add(1, frag(1, 65_530, false, &[0; 8])).unwrap_err();
        assert!(e.0.contains("beyond the 65535"), "{e:?}");
        let e = d.add(2, frag(1, 0, true, &[0; 5])).unwrap_err();
        assert!(e.0.contains("not a multiple of 8"), "{e:?}");
        assert_eq!(d.add(3, frag(2, 8, false, &[0; 8])), Ok(None));
        let e = d.add(4, frag(2, 16, true, &[0; 8])).unwrap_err();
        assert!(e.0.contains("ended the datagram at 16"), "{e:?}");
        assert_eq!(d.add(5, frag(3, 16, true, &[0; 8])), Ok(None));
        let e = d.add(6, frag(3, 0, false, &[0; 8])).unwrap_err();
        assert!(e.0.contains("earlier fragments reach 24"), "{e:?}");
    }
}
