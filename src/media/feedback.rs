//! Video feedback carried in RTCP payload-specific feedback (PT 206): the MS-RTP Video Source
//! Request (FMT 15, MS-RTP §2.2.12.2), the full intra request (FMT 4, RFC 5104 §4.3.1) and the
//! picture loss indication (FMT 1, RFC 4585 §6.3.1).
//!
//! These build and read the FCI of a [`Psfb`]; `rtcp::build` and `rtcp::parse` carry the
//! packet itself, so VSR and FIR travel in compounds like any other RTCP.
//!
//! VSR layout. Confirmed from MS-RTP §2.2.12.2: PSFB FMT 15 with AFB type 1; the header
//! fields AFB Type (2), Length (2, the FCI size including type and length), Requested Media
//! Source ID (4; `0xFFFFFFFF` none, `0xFFFFFFFE` any), Request Id (2, the same on every
//! retransmission), Reserve1 (2), Version (1), a bit A and Reserve2 (1), B and C (1 each),
//! Reserve3 (4); at most 20 entries. Not confirmed (the entry's definition was not among the
//! pages found), taken from SIPE's `sipe-msrtp.c`, which follows the same section: that A is
//! the key-frame request, B the number of entries and C the entry length (0x44), and the
//! 68-byte entry: payload type, UCConfig mode, flags, aspect-ratio mask (1 each), maximum
//! width and height (2 each), minimum bitrate, a reserved word, bitrate per level (4 each),
//! a 20-byte bitrate histogram (read here as ten 16-bit counts), frame-rate mask (4), MUST and
//! MAY instance counts (2 each), a 16-byte quality report histogram (eight 16-bit counts) and
//! the maximum number of pixels (4). The mask bit values are SIPE's.

use super::rtcp::{Psfb, PsfbFormat};
use super::rtp::Ssrc;

/// AFB type of a Video Source Request.
const AFB_VSR: u16 = 1;
/// VSR header bytes (AFB type through Reserve3).
const VSR_HEADER_LEN: usize = 20;
/// VSR entry bytes as this module writes them.
pub const VSR_ENTRY_LEN: usize = 0x44;
/// MS-RTP §2.2.12.2: at most 20 entries.
const VSR_MAX_ENTRIES: usize = 20;
/// FIR entry bytes: SSRC, sequence number, 3 reserved (RFC 5104 §4.3.1.1).
const FIR_ENTRY_LEN: usize = 8;

/// Why feedback could not be read or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedbackError {
    /// The PSFB packet has another FMT than the one asked for.
    #[error("PSFB FMT {found} where {expected} was expected")]
    Format {
        /// FMT wanted.
        expected: u8,
        /// FMT found.
        found: u8,
    },
    /// An application-layer feedback that is not a VSR.
    #[error("AFB type {0}, not a Video Source Request (1)")]
    AfbType(u16),
    /// The FCI ends before what its fields announce.
    #[error("{what} truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Which structure.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// A field holds a value the spec does not allow.
    #[error("{0}")]
    Invalid(&'static str),
}

/// Media source id meaning "no source" (MS-RTP §2.2.12.2).
pub const MSI_NONE: u32 = 0xffff_ffff;
/// Media source id meaning "the sender chooses".
pub const MSI_ANY: u32 = 0xffff_fffe;

/// Aspect-ratio mask bits (SIPE).
pub mod aspect {
    /// 4:3.
    pub const R4_3: u8 = 1;
    /// 16:9.
    pub const R16_9: u8 = 2;
    /// 1:1.
    pub const R1_1: u8 = 4;
    /// 3:4.
    pub const R3_4: u8 = 8;
    /// 9:16.
    pub const R9_16: u8 = 16;
    /// 20:3.
    pub const R20_3: u8 = 32;
}

/// Frame-rate mask bits (SIPE).
pub mod fps {
    /// 7.5 fps.
    pub const F7_5: u32 = 1;
    /// 12.5 fps.
    pub const F12_5: u32 = 2;
    /// 15 fps.
    pub const F15: u32 = 4;
    /// 25 fps.
    pub const F25: u32 = 8;
    /// 30 fps.
    pub const F30: u32 = 16;
    /// 50 fps.
    pub const F50: u32 = 32;
    /// 60 fps.
    pub const F60: u32 = 64;
}

/// One VSR entry: what the receiver wants for one payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VsrEntry {
    /// RTP payload type of the requested stream.
    pub payload_type: u8,
    /// UCConfig mode.
    pub ucconfig_mode: u8,
    /// Flags (CGS rewrite 1, constrained profile only 2, no SP frames 4, no seamless
    /// resolution change 8).
    pub flags: u8,
    /// Acceptable aspect ratios, [`aspect`] bits.
    pub aspect_ratios: u8,
    /// Largest width wanted.
    pub max_width: u16,
    /// Largest height wanted.
    pub max_height: u16,
    /// Lowest bit rate, bits per second.
    pub min_bitrate: u32,
    /// Bit rate step of the histogram.
    pub bitrate_per_level: u32,
    /// Receivers per bit-rate level.
    pub bitrate_histogram: [u16; 10],
    /// Acceptable frame rates, [`fps`] bits.
    pub frame_rates: u32,
    /// Instances the sender must provide.
    pub must_instances: u16,
    /// Instances the sender may provide.
    pub may_instances: u16,
    /// Receivers per quality level.
    pub quality_histogram: [u16; 8],
    /// Largest picture in pixels.
    pub max_pixels: u32,
}

impl VsrEntry {
    /// The request SIPE sends to get video going from Lync: 4:3 up to 432×432 (103 680 pixels)
    /// at 15 fps, from 350 kbit/s.
    pub fn sipe_default(payload_type: u8) -> Self {
        let mut bitrate_histogram = [0; 10];
        bitrate_histogram[0] = 1;
        let mut quality_histogram = [0; 8];
        quality_histogram[0] = 1;
        Self {
            payload_type,
            ucconfig_mode: 1,
            flags: 0,
            aspect_ratios: aspect::R4_3,
            max_width: 432,
            max_height: 432,
            min_bitrate: 350_000,
            bitrate_per_level: 10_000,
            bitrate_histogram,
            frame_rates: fps::F15,
            must_instances: 0,
            may_instances: 1,
            quality_histogram,
            max_pixels: 103_680,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.payload_type, self.ucconfig_mode, self.flags, self.aspect_ratios]);
        out.extend_from_slice(&self.max_width.to_be_bytes());
        out.extend_from_slice(&self.max_height.to_be_bytes());
        out.extend_from_slice(&self.min_bitrate.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.bitrate_per_level.to_be_bytes());
        for n in self.bitrate_histogram {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.extend_from_slice(&self.frame_rates.to_be_bytes());
        out.extend_from_slice(&self.must_instances.to_be_bytes());
        out.extend_from_slice(&self.may_instances.to_be_bytes());
        for n in self.quality_histogram {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.extend_from_slice(&self.max_pixels.to_be_bytes());
    }

    /// Reads the first [`VSR_ENTRY_LEN`] bytes of `b` (the caller checked the length).
    fn read(b: &[u8]) -> Self {
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Self {
            payload_type: b[0],
            ucconfig_mode: b[1],
            flags: b[2],
            aspect_ratios: b[3],
            max_width: u16_at(4),
            max_height: u16_at(6),
            min_bitrate: u32_at(8),
            bitrate_per_level: u32_at(16),
            bitrate_histogram: std::array::from_fn(|i| u16_at(20 + 2 * i)),
            frame_rates: u32_at(40),
            must_instances: u16_at(44),
            may_instances: u16_at(46),
            quality_histogram: std::array::from_fn(|i| u16_at(48 + 2 * i)),
            max_pixels: u32_at(64),
        }
    }
}

/// A Video Source Request (MS-RTP §2.2.12.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vsr {
    /// The media source wanted ([`MSI_ANY`], [`MSI_NONE`] or an MSI).
    pub msi: u32,
    /// Identifies the request; retransmissions repeat it.
    pub request_id: u16,
    /// Version field.
    pub version: u8,
    /// The A bit (key frame requested, per SIPE).
    pub keyframe: bool,
    /// One entry per payload type wanted, at most 20.
    pub entries: Vec<VsrEntry>,
}

impl Vsr {
    /// The FCI bytes.
    pub fn fci(&self) -> Result<Vec<u8>, FeedbackError> {
        if self.entries.is_empty() || self.entries.len() > VSR_MAX_ENTRIES {
            return Err(FeedbackError::Invalid("a VSR carries 1 to 20 entries"));
        }
        let len = VSR_HEADER_LEN + VSR_ENTRY_LEN * self.entries.len();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&AFB_VSR.to_be_bytes());
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&self.msi.to_be_bytes());
        out.extend_from_slice(&self.request_id.to_be_bytes());
        out.extend_from_slice(&[0, 0, self.version, u8::from(self.keyframe) << 7]);
        out.extend_from_slice(&[self.entries.len() as u8, VSR_ENTRY_LEN as u8, 0, 0, 0, 0]);
        for e in &self.entries {
            e.write(&mut out);
        }
        Ok(out)
    }

    /// The PSFB packet (FMT 15) from `sender` about `media`.
    pub fn to_psfb(&self, sender: Ssrc, media: Ssrc) -> Result<Psfb, FeedbackError> {
        Ok(Psfb { format: PsfbFormat::Vsr, sender, media, fci: self.fci()? })
    }

    /// Reads the VSR of a PSFB FMT 15 packet.
    pub fn from_psfb(p: &Psfb) -> Result<Self, FeedbackError> {
        expect_format(p, PsfbFormat::Vsr)?;
        Self::parse_fci(&p.fci)
    }

    /// Reads a VSR FCI. Entries longer than [`VSR_ENTRY_LEN`] are read by their first bytes,
    /// so a later version's additions do not break reading.
    pub fn parse_fci(b: &[u8]) -> Result<Self, FeedbackError> {
        let h = b.get(..VSR_HEADER_LEN).ok_or(FeedbackError::Truncated {
            what: "VSR header",
            need: VSR_HEADER_LEN,
            have: b.len(),
        })?;
        let afb = u16::from_be_bytes([h[0], h[1]]);
        if afb != AFB_VSR {
            return Err(FeedbackError::AfbType(afb));
        }
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if len > b.len() {
            return Err(FeedbackError::Truncated { what: "VSR", need: len, have: b.len() });
        }
        let count = usize::from(h[14]);
        let entry_len = usize::from(h[15]);
        if count > VSR_MAX_ENTRIES {
            return Err(FeedbackError::Invalid("more than 20 VSR entries"));
        }
        if count > 0 && entry_len < VSR_ENTRY_LEN {
            return Err(FeedbackError::Invalid("VSR entry length below 0x44"));
        }
        let need = VSR_HEADER_LEN + count * entry_len;
        if need > len {
            return Err(FeedbackError::Truncated { what: "VSR entries", need, have: len });
        }
        let entries = (0..count).map(|i| VsrEntry::read(&b[VSR_HEADER_LEN + i * entry_len..])).collect();
        Ok(Self {
            msi: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
            request_id: u16::from_be_bytes([h[8], h[9]]),
            version: h[12],
            keyframe: h[13] & 0x80 != 0,
            entries,
        })
    }
}

/// One FIR entry (RFC 5104 §4.3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirEntry {
    /// The media sender asked for a decoder refresh point.
    pub ssrc: Ssrc,
    /// Command sequence number: incremented per new request, repeated on retransmission.
    pub seq: u8,
}

/// A full intra request (RFC 5104 §4.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fir {
    /// One entry per media sender asked.
    pub entries: Vec<FirEntry>,
}

impl Fir {
    /// The PSFB packet (FMT 4) from `sender`. The media source field is 0: the targets are
    /// in the FCI (RFC 5104 §4.3.1.2).
    pub fn to_psfb(&self, sender: Ssrc) -> Result<Psfb, FeedbackError> {
        if self.entries.is_empty() {
            return Err(FeedbackError::Invalid("a FIR carries at least one entry"));
        }
        let mut fci = Vec::with_capacity(FIR_ENTRY_LEN * self.entries.len());
        for e in &self.entries {
            fci.extend_from_slice(&e.ssrc.0.to_be_bytes());
            fci.extend_from_slice(&[e.seq, 0, 0, 0]);
        }
        Ok(Psfb { format: PsfbFormat::Fir, sender, media: Ssrc(0), fci })
    }

    /// Reads the FIR of a PSFB FMT 4 packet; reserved bytes are ignored.
    pub fn from_psfb(p: &Psfb) -> Result<Self, FeedbackError> {
        expect_format(p, PsfbFormat::Fir)?;
        if p.fci.is_empty() || !p.fci.len().is_multiple_of(FIR_ENTRY_LEN) {
            return Err(FeedbackError::Invalid("FIR FCI is not a whole number of 8-byte entries"));
        }
        let entries = p
            .fci
            .chunks_exact(FIR_ENTRY_LEN)
            .map(|c| FirEntry { ssrc: Ssrc(u32::from_be_bytes([c[0], c[1], c[2], c[3]])), seq: c[4] })
            .collect();
        Ok(Self { entries })
    }
}

/// A picture loss indication from `sender` about `media` (RFC 4585 §6.3.1: no FCI).
pub fn pli(sender: Ssrc, media: Ssrc) -> Psfb {
    Psfb { format: PsfbFormat::Pli, sender, media, fci: Vec::new() }
}

fn expect_format(p: &Psfb, want: PsfbFormat) -> Result<(), FeedbackError> {
    if p.format != want {
        return Err(FeedbackError::Format { expected: want.fmt(), found: p.format.fmt() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtcp::{self, Rtcp};

    fn vsr() -> Vsr {
        Vsr { msi: MSI_ANY, request_id: 1, version: 0, keyframe: false, entries: vec![VsrEntry::sipe_default(122)] }
    }

    #[test]
    fn vsr_fci_has_the_ms_rtp_header_and_a_0x44_entry() {
        let fci = vsr().fci().unwrap();
        assert_eq!(fci.len(), 88);
        assert_eq!(&fci[..4], &[0x00, 0x01, 0x00, 88]);
        assert_eq!(&fci[4..8], &[0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(&fci[8..10], &[0, 1]);
        assert_eq!(&fci[12..20], &[0, 0, 1, 0x44, 0, 0, 0, 0], "version, A, one entry of 0x44 bytes");
        // Entry: PT 122, UCConfig 1, no flags, 4:3, 432 × 432, 350000 bit/s.
        assert_eq!(&fci[20..32], &[122, 1, 0, 1, 0x01, 0xb0, 0x01, 0xb0, 0x00, 0x05, 0x57, 0x30]);
        assert_eq!(&fci[60..64], &fps::F15.to_be_bytes());
        assert_eq!(&fci[84..88], &103_680u32.to_be_bytes());
    }

    #[test]
    fn vsr_round_trips_through_an_rtcp_compound() {
        let mut v = vsr();
        v.keyframe = true;
        v.request_id = 0x0203;
        let mut second = VsrEntry::sipe_default(121);
        second.max_width = 1280;
        second.frame_rates = fps::F30 | fps::F15;
        v.entries.push(second);
        let pkt = rtcp::build(&[Rtcp::Psfb(v.to_psfb(Ssrc(1), Ssrc(2)).unwrap())]).unwrap();
        let back = rtcp::parse(&pkt).unwrap();
        assert_eq!(back.to_string(), "[VSR]");
        let Rtcp::Psfb(p) = &back.packets[0] else { panic!("not PSFB") };
        assert_eq!(Vsr::from_psfb(p).unwrap(), v);
    }

    #[test]
    fn vsr_reading_refuses_what_does_not_add_up() {
        let fci = vsr().fci().unwrap();
        for cut in 0..fci.len() {
            assert!(Vsr::parse_fci(&fci[..cut]).is_err(), "cut at {cut}");
        }
        let mut afb = fci.clone();
        afb[1] = 2;
        assert_eq!(Vsr::parse_fci(&afb), Err(FeedbackError::AfbType(2)));
        let mut short_entry = fci.clone();
        short_entry[15] = 0x40;
        assert!(matches!(Vsr::parse_fci(&short_entry), Err(FeedbackError::Invalid(_))));
        let mut many = fci.clone();
        many[14] = 21;
        assert!(matches!(Vsr::parse_fci(&many), Err(FeedbackError::Invalid(_))));
        assert!(Vsr { entries: vec![], ..vsr() }.fci().is_err());
        assert!(Vsr { entries: vec![VsrEntry::sipe_default(1); 21], ..vsr() }.fci().is_err());
        let pli = pli(Ssrc(1), Ssrc(2));
        assert_eq!(Vsr::from_psfb(&pli), Err(FeedbackError::Format { expected: 15, found: 1 }));
    }

    #[test]
    fn longer_entries_are_read_by_their_known_prefix() {
        let mut fci = vsr().fci().unwrap();
        fci[15] = 0x48;
        fci.extend_from_slice(&[9, 9, 9, 9]);
        let l = fci.len() as u16;
        fci[2..4].copy_from_slice(&l.to_be_bytes());
        assert_eq!(Vsr::parse_fci(&fci).unwrap(), vsr());
    }

    #[test]
    fn fir_carries_ssrc_and_sequence_per_entry_with_media_zero() {
        let fir =
            Fir { entries: vec![FirEntry { ssrc: Ssrc(0x0a0b_0c0d), seq: 7 }, FirEntry { ssrc: Ssrc(5), seq: 255 }] };
        let p = fir.to_psfb(Ssrc(1)).unwrap();
        assert_eq!(p.media, Ssrc(0));
        let bytes = rtcp::build(&[Rtcp::Psfb(p)]).unwrap();
        assert_eq!(&bytes[..4], &[0x84, 206, 0, 6]);
        assert_eq!(&bytes[12..20], &[0x0a, 0x0b, 0x0c, 0x0d, 7, 0, 0, 0]);
        let Rtcp::Psfb(back) = &rtcp::parse(&bytes).unwrap().packets[0] else { panic!("not PSFB") };
        assert_eq!(Fir::from_psfb(back).unwrap(), fir);
        let odd = Psfb { fci: vec![0; 12], ..back.clone() };
        assert!(Fir::from_psfb(&odd).is_err());
        assert!(Fir { entries: vec![] }.to_psfb(Ssrc(1)).is_err());
    }

    #[test]
    fn pli_builds_through_rtcp() {
        let bytes = rtcp::build(&[Rtcp::Psfb(pli(Ssrc(1), Ssrc(2)))]).unwrap();
        assert_eq!(bytes, [0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
    }
}
