//! RTP fixed header (RFC 3550 §5.1): parse, build, and the in-place rewrites a relay needs.
//!
//! Parsing and building go through the `rtp-types` crate (zero-copy, checks version 2, CSRC
//! count, header extension and padding); this module turns its view into an owned
//! [`RtpHeader`] so callers need no lifetimes, and keeps CSRCs and the header extension so a
//! packet survives parse → build unchanged (padding is stripped: a rebuilt packet has none).
//!
//! A relay renumbers payload types (the two sides use different PTs for one codec, PROTOCOL.md
//! §2.2) and keeps SSRCs inside its declared `x-ssrc-range` (§3.1), hence [`set_pt`],
//! [`set_ssrc`], [`set_seq`] and [`set_timestamp`] on a packet buffer.

use std::fmt;
use std::ops::Range;

use rtp_types::{RtpPacket, RtpPacketBuilder, RtpPacketMut, RtpParseError, RtpWriteError};

/// A synchronisation source identifier: volatile, so the canonical trace maps it to a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ssrc(pub u32);

impl fmt::Display for Ssrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// An inclusive SSRC range as an SDP `a=x-ssrc-range:<first>-<last>` declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SsrcRange {
    /// First SSRC of the range.
    pub first: u32,
    /// Last SSRC of the range (inclusive).
    pub last: u32,
}

impl SsrcRange {
    /// Whether `ssrc` lies inside the range.
    pub fn contains(&self, ssrc: Ssrc) -> bool {
        (self.first..=self.last).contains(&ssrc.0)
    }
}

impl From<(u32, u32)> for SsrcRange {
    fn from((first, last): (u32, u32)) -> Self {
        Self { first, last }
    }
}

/// An RTP header extension (RFC 3550 §5.3.1), kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderExtension {
    /// The 16-bit profile-defined identifier.
    pub id: u16,
    /// Extension data; a multiple of 4 bytes on the wire.
    pub data: Vec<u8>,
}

/// The RTP fixed header plus the parts a relay must carry through unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RtpHeader {
    /// Payload type, 0..=127.
    pub pt: u8,
    /// The marker bit (audio: first packet of a talkspurt; video: last packet of a frame).
    pub marker: bool,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp in the clock of the payload format.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: Ssrc,
    /// Contributing sources, at most 15.
    pub csrc: Vec<u32>,
    /// Header extension, if the X bit was set.
    pub extension: Option<HeaderExtension>,
}

/// Why an RTP packet could not be parsed, built or rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// Fewer bytes than the header, CSRC list, extension or padding say there are.
    #[error("RTP packet truncated: need {expected} bytes, have {actual}")]
    Truncated {
        /// Bytes the packet claims.
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// The version field is not 2.
    #[error("RTP version {0}, expected 2")]
    Version(u8),
    /// The padding count byte is 0 (RFC 3550 §5.1 needs it to count itself).
    #[error("RTP padding count {0} is invalid")]
    Padding(u8),
    /// A payload type above 127.
    #[error("RTP payload type {0} is out of range 0..=127")]
    PayloadType(u8),
    /// More than 15 CSRCs.
    #[error("{0} CSRCs, at most 15 fit the header")]
    TooManyCsrcs(usize),
    /// Header extension data whose length is not a multiple of 4.
    #[error("header extension of {0} bytes is not a multiple of 4")]
    ExtensionNotPadded(usize),
    /// The packet would not fit the 16-bit extension length or other wire limits.
    #[error("RTP packet too large")]
    TooLarge,
}

impl From<RtpParseError> for RtpError {
    fn from(e: RtpParseError) -> Self {
        match e {
            RtpParseError::UnsupportedVersion(v) => Self::Version(v),
            RtpParseError::Truncated { expected, actual } => Self::Truncated { expected, actual },
            RtpParseError::PaddingInvalid(p) => Self::Padding(p),
        }
    }
}

impl From<RtpWriteError> for RtpError {
    fn from(e: RtpWriteError) -> Self {
        match e {
            RtpWriteError::InvalidPayloadType(pt) => Self::PayloadType(pt),
            RtpWriteError::TooManyContributionSources(n) => Self::TooManyCsrcs(n),
            RtpWriteError::ExtensionDataNotPadded => Self::ExtensionNotPadded(0),
            // OutputTooSmall cannot happen when writing into a Vec; the rest are size limits.
            _ => Self::TooLarge,
        }
    }
}

/// Serialises `header` followed by `payload` into a new packet (no padding).
pub fn build(header: &RtpHeader, payload: &[u8]) -> Result<Vec<u8>, RtpError> {
    if header.csrc.len() > RtpPacket::MAX_N_CSRCS {
        return Err(RtpError::TooManyCsrcs(header.csrc.len()));
    }
    if let Some(ext) = &header.extension
        && ext.data.len() % 4 != 0
    {
        return Err(RtpError::ExtensionNotPadded(ext.data.len()));
    }
    let mut builder = RtpPacketBuilder::<&[u8], &[u8]>::new()
        .payload_type(header.pt)
        .marker_bit(header.marker)
        .sequence_number(header.seq)
        .timestamp(header.timestamp)
        .ssrc(header.ssrc.0)
        .payload(payload);
    for csrc in &header.csrc {
        builder = builder.add_csrc(*csrc);
    }
    if let Some(ext) = &header.extension {
        builder = builder.extension(ext.id, ext.data.as_slice());
    }
    Ok(builder.write_vec()?)
}

/// Parses an RTP packet: the header, and where the payload lies in `packet` (padding excluded).
pub fn parse(packet: &[u8]) -> Result<(RtpHeader, Range<usize>), RtpError> {
    let p = RtpPacket::parse(packet)?;
    let header = RtpHeader {
        pt: p.payload_type(),
        marker: p.marker_bit(),
        seq: p.sequence_number(),
        timestamp: p.timestamp(),
        ssrc: Ssrc(p.ssrc()),
        csrc: p.csrc().collect(),
        extension: p.extension().map(|(id, data)| HeaderExtension { id, data: data.to_vec() }),
    };
    let start = p.payload_offset();
    Ok((header, start..start + p.payload_len()))
}

/// Rewrites the payload type in place, keeping the marker bit.
pub fn set_pt(packet: &mut [u8], pt: u8) -> Result<(), RtpError> {
    Ok(RtpPacketMut::parse(packet)?.set_payload_type(pt)?)
}

/// Rewrites the marker bit in place.
pub fn set_marker(packet: &mut [u8], marker: bool) -> Result<(), RtpError> {
    RtpPacketMut::parse(packet)?.set_marker_bit(marker);
    Ok(())
}

/// Rewrites the SSRC in place.
pub fn set_ssrc(packet: &mut [u8], ssrc: Ssrc) -> Result<(), RtpError> {
    RtpPacketMut::parse(packet)?.set_ssrc(ssrc.0);
    Ok(())
}

/// Rewrites the sequence number in place.
pub fn set_seq(packet: &mut [u8], seq: u16) -> Result<(), RtpError> {
    RtpPacketMut::parse(packet)?.set_sequence_number(seq);
    Ok(())
}

/// Rewrites the timestamp in place.
pub fn set_timestamp(packet: &mut [u8], timestamp: u32) -> Result<(), RtpError> {
    RtpPacketMut::parse(packet)?.set_timestamp(timestamp);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header() -> RtpHeader {
        RtpHeader {
            pt: 104,
            marker: true,
            seq: 65535,
            timestamp: 0xdead_beef,
            ssrc: Ssrc(0x1234_5678),
            csrc: vec![],
            extension: None,
        }
    }

    #[test]
    fn build_then_parse_round_trips_the_fixed_header() {
        let bytes = build(&header(), b"abc").unwrap();
        assert_eq!(bytes.len(), 15);
        assert_eq!(&bytes[..4], &[0x80, 0x80 | 104, 0xff, 0xff]);
        let (h, range) = parse(&bytes).unwrap();
        assert_eq!(h, header());
        assert_eq!(&bytes[range], b"abc");
    }

    #[test]
    fn csrcs_and_extension_survive_a_round_trip() {
        let mut h = header();
        h.csrc = vec![1, 2, 3];
        h.extension = Some(HeaderExtension { id: 0xbede, data: vec![0x10, 0xaa, 0, 0] });
        let bytes = build(&h, b"payload").unwrap();
        let (back, range) = parse(&bytes).unwrap();
        assert_eq!(back, h);
        assert_eq!(&bytes[range], b"payload");
    }

    #[test]
    fn padding_is_excluded_from_the_payload() {
        let mut bytes = build(&header(), b"abcd").unwrap();
        bytes[0] |= 0x20;
        bytes.extend_from_slice(&[0, 0, 3]);
        let (_, range) = parse(&bytes).unwrap();
        assert_eq!(&bytes[range], b"abcd");
    }

    #[test]
    fn wrong_version_truncation_and_bad_padding_are_errors() {
        let bytes = build(&header(), b"abcd").unwrap();
        let mut v1 = bytes.clone();
        v1[0] = 0x40;
        assert_eq!(parse(&v1), Err(RtpError::Version(1)));
        assert!(matches!(parse(&bytes[..11]), Err(RtpError::Truncated { .. })));
        let mut csrc = bytes.clone();
        csrc[0] |= 0x0f; // 15 CSRCs claimed, 4 bytes present
        assert!(matches!(parse(&csrc), Err(RtpError::Truncated { .. })));
        let mut pad0 = bytes.clone();
        pad0[0] |= 0x20;
        pad0.push(0);
        assert_eq!(parse(&pad0), Err(RtpError::Padding(0)));
        let mut pad_big = bytes;
        pad_big[0] |= 0x20;
        pad_big.push(200);
        assert!(matches!(parse(&pad_big), Err(RtpError::Truncated { .. })));
    }

    #[test]
    fn build_refuses_invalid_headers() {
        let mut h = header();
        h.pt = 128;
        assert_eq!(build(&h, b""), Err(RtpError::PayloadType(128)));
        let mut h = header();
        h.csrc = vec![0; 16];
        assert_eq!(build(&h, b""), Err(RtpError::TooManyCsrcs(16)));
        let mut h = header();
        h.extension = Some(HeaderExtension { id: 1, data: vec![1, 2, 3] });
        assert_eq!(build(&h, b""), Err(RtpError::ExtensionNotPadded(3)));
    }

    #[test]
    fn relay_rewrites_change_only_their_field() {
        let mut bytes = build(&header(), b"xyz").unwrap();
        set_pt(&mut bytes, 9).unwrap();
        set_ssrc(&mut bytes, Ssrc(7)).unwrap();
        set_seq(&mut bytes, 42).unwrap();
        set_timestamp(&mut bytes, 160).unwrap();
        let (h, range) = parse(&bytes).unwrap();
        assert_eq!(h, RtpHeader { pt: 9, marker: true, seq: 42, timestamp: 160, ssrc: Ssrc(7), ..header() });
        assert_eq!(&bytes[range], b"xyz");
        set_marker(&mut bytes, false).unwrap();
        assert!(!parse(&bytes).unwrap().0.marker);
        assert_eq!(set_pt(&mut bytes, 200), Err(RtpError::PayloadType(200)));
        assert!(set_seq(&mut [0u8; 4], 1).is_err());
    }

    #[test]
    fn ssrc_range_is_inclusive() {
        let r = SsrcRange::from((100, 199));
        assert!(r.contains(Ssrc(100)) && r.contains(Ssrc(199)));
        assert!(!r.contains(Ssrc(99)) && !r.contains(Ssrc(200)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok((h, range)) = parse(&bytes) {
                prop_assert!(range.end <= bytes.len());
                prop_assert!(h.pt < 128);
            }
            let mut b = bytes.clone();
            let _ = set_pt(&mut b, 0);
        }

        #[test]
        fn any_valid_header_round_trips(
            pt in 0u8..128, marker: bool, seq: u16, ts: u32, ssrc: u32,
            csrc in proptest::collection::vec(any::<u32>(), 0..16),
            payload in proptest::collection::vec(any::<u8>(), 0..32),
        ) {
            let h = RtpHeader { pt, marker, seq, timestamp: ts, ssrc: Ssrc(ssrc), csrc, extension: None };
            let bytes = build(&h, &payload).unwrap();
            let (back, range) = parse(&bytes).unwrap();
            prop_assert_eq!(back, h);
            prop_assert_eq!(&bytes[range], &payload[..]);
        }
    }
}
