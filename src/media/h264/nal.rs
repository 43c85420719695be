//! The one-byte NAL unit header (RFC 6184 §1.3, §5.3) and the NAL unit types the two legs use.
//!
//! Types 1–23 are H.264 proper (ITU-T H.264 Table 7-1); 24–29 are RFC 6184 packet types, of
//! which packetization-mode 1 allows only STAP-A (24) and FU-A (28) (RFC 6184 §6.3); 30 is the
//! RFC 6190 §4.9 PACSI NAL unit that MS-H264PF §2.2.4 puts first in every access unit.

use std::fmt;

/// A NAL unit type (5 bits). A newtype rather than an enum so that counts per type and the
/// trace keep unknown types as the number seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NalType(pub u8);

impl NalType {
    /// Coded slice of a non-IDR picture.
    pub const NON_IDR: Self = Self(1);
    /// Coded slice of an IDR picture.
    pub const IDR: Self = Self(5);
    /// Supplemental enhancement information.
    pub const SEI: Self = Self(6);
    /// Sequence parameter set.
    pub const SPS: Self = Self(7);
    /// Picture parameter set.
    pub const PPS: Self = Self(8);
    /// SVC prefix NAL unit (H.264 Annex G).
    pub const PREFIX: Self = Self(14);
    /// Coded slice extension (SVC/MVC).
    pub const SLICE_EXT: Self = Self(20);
    /// Single-time aggregation packet A (RFC 6184 §5.7.1).
    pub const STAP_A: Self = Self(24);
    /// Single-time aggregation packet B (interleaved mode only).
    pub const STAP_B: Self = Self(25);
    /// Multi-time aggregation packet, 16-bit offsets (interleaved mode only).
    pub const MTAP16: Self = Self(26);
    /// Multi-time aggregation packet, 24-bit offsets (interleaved mode only).
    pub const MTAP24: Self = Self(27);
    /// Fragmentation unit A (RFC 6184 §5.8).
    pub const FU_A: Self = Self(28);
    /// Fragmentation unit B (interleaved mode only).
    pub const FU_B: Self = Self(29);
    /// Payload content scalability information (RFC 6190 §4.9, MS-H264PF §2.2.4).
    pub const PACSI: Self = Self(30);

    /// Whether this type is a slice of a picture (what makes an access unit a frame).
    pub fn is_slice(self) -> bool {
        matches!(self.0, 1..=5 | 20)
    }

    /// Whether this type is an RTP packet structure rather than an H.264 NAL unit.
    pub fn is_packetization(self) -> bool {
        (24..=29).contains(&self.0)
    }
}

impl fmt::Display for NalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The NAL unit header: `F | NRI | Type` (RFC 6184 §1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NalHeader {
    /// forbidden_zero_bit: 1 means the unit may hold a syntax violation (RFC 6184 §5.3).
    pub forbidden: bool,
    /// nal_ref_idc, 0..=3: 0 means not used for reference.
    pub nri: u8,
    /// nal_unit_type.
    pub nal_type: NalType,
}

impl NalHeader {
    /// A header with F = 0.
    pub fn new(nri: u8, nal_type: NalType) -> Self {
        Self { forbidden: false, nri: nri & 0x03, nal_type: NalType(nal_type.0 & 0x1f) }
    }

    /// Reads a header byte; every byte is a header, so this cannot fail.
    pub fn from_byte(b: u8) -> Self {
        Self { forbidden: b & 0x80 != 0, nri: (b >> 5) & 0x03, nal_type: NalType(b & 0x1f) }
    }

    /// The header byte.
    pub fn to_byte(self) -> u8 {
        (u8::from(self.forbidden) << 7) | ((self.nri & 0x03) << 5) | (self.nal_type.0 & 0x1f)
    }

    /// The header of a NAL unit, refusing an empty unit or one with F set: the harness never
    /// sends F = 1, so seeing it means a gateway damaged the unit or flagged it as damaged.
    pub fn parse(nal: &[u8]) -> Result<Self, H264Error> {
        let first = *nal.first().ok_or(H264Error::EmptyNal)?;
        let h = Self::from_byte(first);
        if h.forbidden {
            return Err(H264Error::ForbiddenBit(h.nal_type));
        }
        Ok(h)
    }
}

/// Why H.264 payload bytes could not be read or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum H264Error {
    /// A NAL unit of zero bytes (a payload, or a STAP-A unit of size 0).
    #[error("empty NAL unit")]
    EmptyNal,
    /// The forbidden_zero_bit is set.
    #[error("NAL unit type {0} has the forbidden bit set")]
    ForbiddenBit(NalType),
    /// A structure ends before the bytes it announces.
    #[error("{what} truncated at byte {offset}: need {need} bytes, have {have}")]
    Truncated {
        /// Which structure.
        what: &'static str,
        /// Where in the payload the structure starts.
        offset: usize,
        /// Bytes needed from there.
        need: usize,
        /// Bytes present from there.
        have: usize,
    },
    /// A STAP-A with no aggregated unit.
    #[error("STAP-A aggregates no NAL unit")]
    EmptyAggregate,
    /// A STAP-A or FU-A nested in another (RFC 6184 §5.7, §5.8 forbid it).
    #[error("NAL unit type {0} nested inside an aggregation or fragmentation unit")]
    Nested(NalType),
    /// An FU-A header with both S and E set (RFC 6184 §5.8: such a unit must not be fragmented).
    #[error("FU-A with both start and end bits set")]
    FuStartAndEnd,
    /// A packet type packetization-mode 1 does not allow (STAP-B, MTAP, FU-B; RFC 6184 §6.3).
    #[error("NAL unit type {0} is not allowed in packetization-mode 1")]
    NotAllowed(NalType),
    /// A byte sequence that should be a PACSI NAL unit is not one.
    #[error("PACSI: {0}")]
    Pacsi(&'static str),
    /// The largest payload allowed cannot hold what must go in one packet.
    #[error("payload limit {limit} bytes cannot hold a {need}-byte {what}")]
    TooLarge {
        /// What did not fit.
        what: &'static str,
        /// Its size.
        need: usize,
        /// The limit.
        limit: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_byte_round_trips_for_every_value() {
        for b in 0..=255u8 {
            assert_eq!(NalHeader::from_byte(b).to_byte(), b);
        }
        let sps = NalHeader::from_byte(0x67);
        assert_eq!(sps, NalHeader::new(3, NalType::SPS));
        assert_eq!(NalHeader::new(3, NalType::PACSI).to_byte(), 0x7e);
    }

    #[test]
    fn parse_refuses_empty_units_and_the_forbidden_bit() {
        assert_eq!(NalHeader::parse(&[]), Err(H264Error::EmptyNal));
        assert_eq!(NalHeader::parse(&[0xe5, 1]), Err(H264Error::ForbiddenBit(NalType::IDR)));
        assert_eq!(NalHeader::parse(&[0x41]).unwrap().nal_type, NalType::NON_IDR);
    }

    #[test]
    fn slice_and_packetization_types() {
        assert!(NalType::IDR.is_slice() && NalType::NON_IDR.is_slice() && NalType::SLICE_EXT.is_slice());
        assert!(!NalType::SPS.is_slice() && !NalType::PACSI.is_slice());
        assert!(NalType::STAP_A.is_packetization() && NalType::FU_B.is_packetization());
        assert!(!NalType::PACSI.is_packetization());
    }
}
