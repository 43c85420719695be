//! RTCP (RFC 3550 §6, RFC 4585 §6.3) with the Microsoft profile quirks of MS-RTPME.
//!
//! Each packet of a compound is parsed by the `rtcp-types` crate and turned into an owned
//! [`Rtcp`]; building uses its builders too. Around the crate this module adds what MS-RTPME
//! needs (PROTOCOL.md §3.1):
//!
//! - simple (non-compound) SR/RR/SDES/BYE are accepted: [`parse`] does not require a compound to
//!   open with SR/RR ([`Compound::is_rfc3550_compound`] says whether it does);
//! - SR/RR may carry profile-specific extensions after the report blocks; the bandwidth
//!   estimate (type `0x0001`, length `0x000C`) is read, other types are skipped by length;
//! - SDES strings are null-terminated: CNAME is written with a trailing NUL and read without;
//! - PSFB (PT 206) keeps its FMT so PLI (1), FIR (4) and the Video Source Request (15) can be
//!   told apart; PLI can be built.

use std::fmt;

use rtcp_types::prelude::*;
use rtcp_types::{
    Bye as WireBye, Packet, PayloadFeedback, Pli, ReceiverReport as WireRr, ReportBlock as WireRb, RtcpParseError,
    RtcpWriteError, Sdes as WireSdes, SdesChunk, SdesItem, SenderReport as WireSr,
};

use super::rtp::Ssrc;

/// RTCP packet types (RFC 3550 §12.1, RFC 4585 §6.1).
const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_PSFB: u8 = 206;
/// Fixed part of SR (header, SSRC, sender info) and RR (header, SSRC) before report blocks.
const SR_FIXED: usize = 28;
const RR_FIXED: usize = 8;
const REPORT_BLOCK_LEN: usize = 24;
/// MS-RTPME §2.2.7.1 bandwidth estimate profile extension: type and total length.
const EXT_BANDWIDTH: u16 = 0x0001;
const EXT_BANDWIDTH_LEN: u16 = 0x000C;

/// Why RTCP bytes could not be parsed or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    /// The buffer is empty or ends inside a packet header.
    #[error("RTCP truncated at byte {offset}: need {expected} bytes, have {actual}")]
    Truncated {
        /// Offset of the packet in the compound.
        offset: usize,
        /// Bytes needed.
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// A packet's version field is not 2.
    #[error("RTCP packet at byte {offset} has version {version}, expected 2")]
    Version {
        /// Offset of the packet in the compound.
        offset: usize,
        /// The version found.
        version: u8,
    },
    /// A packet of the compound is malformed; `reason` comes from the packet parser.
    #[error("RTCP packet {index} (PT {pt}) is malformed: {reason}")]
    Malformed {
        /// Index of the packet in the compound.
        index: usize,
        /// Its packet type.
        pt: u8,
        /// What was wrong.
        reason: String,
    },
    /// A packet could not be written (too many blocks, too long a string, …).
    #[error("RTCP packet cannot be built: {0}")]
    Build(String),
}

impl From<RtcpWriteError> for RtcpError {
    fn from(e: RtcpWriteError) -> Self {
        Self::Build(e.to_string())
    }
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: Ssrc,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit on the wire).
    pub cumulative_lost: u32,
    /// Extended highest sequence number received (cycles << 16 | max seq).
    pub ext_highest_seq: u32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received, 0 if none.
    pub lsr: u32,
    /// Delay since that SR in 1/65536 s.
    pub dlsr: u32,
}

/// The sender-info part of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// 64-bit NTP timestamp (32.32 fixed point).
    pub ntp: u64,
    /// RTP timestamp for the same instant.
    pub rtp_timestamp: u32,
    /// Packets sent.
    pub packets: u32,
    /// Payload octets sent.
    pub octets: u32,
}

/// An SR/RR profile-specific extension (MS-RTPME §2.2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileExtension {
    /// Type `0x0001`: the sender's bandwidth estimate for the stream from `ssrc`.
    Bandwidth {
        /// The source the estimate is about.
        ssrc: Ssrc,
        /// Estimated bandwidth in bits per second; [`ProfileExtension::NO_ESTIMATE`] if none yet.
        bps: u32,
    },
    /// Any other type, skipped by its length.
    Other {
        /// Extension type.
        kind: u16,
        /// Total length in bytes, header included.
        len: u16,
    },
}

impl ProfileExtension {
    /// The bandwidth value meaning "no estimate yet" (−3 as a signed 32-bit number).
    pub const NO_ESTIMATE: u32 = (-3i32) as u32;
}

/// A sender report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SenderReport {
    /// The sender.
    pub ssrc: Ssrc,
    /// What it sent.
    pub info: SenderInfo,
    /// Reception reports; none in a bandwidth probe.
    pub blocks: Vec<ReportBlock>,
    /// MS-RTPME profile extensions after the blocks.
    pub extensions: Vec<ProfileExtension>,
}

/// A receiver report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiverReport {
    /// The reporter.
    pub ssrc: Ssrc,
    /// Reception reports.
    pub blocks: Vec<ReportBlock>,
    /// MS-RTPME profile extensions after the blocks.
    pub extensions: Vec<ProfileExtension>,
}

/// One SDES chunk, reduced to its CNAME (the only item the harness reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdesCname {
    /// The source.
    pub ssrc: Ssrc,
    /// CNAME without the MS-RTPME terminating NUL; `None` if the chunk has no CNAME.
    pub cname: Option<String>,
}

/// A goodbye.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bye {
    /// Sources leaving.
    pub ssrcs: Vec<Ssrc>,
    /// Optional reason text.
    pub reason: Option<String>,
}

/// Payload-specific feedback formats (RFC 4585 §6.3, RFC 5104, MS-RTP §2.2.12.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsfbFormat {
    /// FMT 1: picture loss indication.
    Pli,
    /// FMT 4: full intra request.
    Fir,
    /// FMT 15: application layer feedback; Lync's Video Source Request.
    Vsr,
    /// Any other FMT.
    Other(u8),
}

impl PsfbFormat {
    /// The FMT field value.
    pub fn fmt(self) -> u8 {
        match self {
            Self::Pli => 1,
            Self::Fir => 4,
            Self::Vsr => 15,
            Self::Other(n) => n,
        }
    }

    /// Reads an FMT field value.
    pub fn from_fmt(fmt: u8) -> Self {
        match fmt {
            1 => Self::Pli,
            4 => Self::Fir,
            15 => Self::Vsr,
            n => Self::Other(n),
        }
    }
}

/// A payload-specific feedback packet (PT 206).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Psfb {
    /// Which feedback.
    pub format: PsfbFormat,
    /// Who sends the feedback.
    pub sender: Ssrc,
    /// The media source it is about.
    pub media: Ssrc,
    /// Feedback control information, verbatim (padding excluded).
    pub fci: Vec<u8>,
}

/// One packet of a compound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rtcp {
    /// PT 200.
    Sr(SenderReport),
    /// PT 201.
    Rr(ReceiverReport),
    /// PT 202.
    Sdes(Vec<SdesCname>),
    /// PT 203.
    Bye(Bye),
    /// PT 206.
    Psfb(Psfb),
    /// Any other packet type (APP, RTPFB, XR, …), recognised but not decoded.
    Other {
        /// Packet type.
        pt: u8,
        /// The 5-bit count/subtype field.
        count: u8,
        /// Total length in bytes.
        len: usize,
    },
}

/// The packets of one RTCP datagram, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Compound {
    /// The packets.
    pub packets: Vec<Rtcp>,
}

impl Compound {
    /// Whether this is an RFC 3550 §6.1 compound: opens with SR or RR and carries an SDES
    /// CNAME. MS-RTPME also allows simple packets, so `false` is not an error.
    pub fn is_rfc3550_compound(&self) -> bool {
        let opens_with_report = matches!(self.packets.first(), Some(Rtcp::Sr(_) | Rtcp::Rr(_)));
        let has_cname = self.packets.iter().any(|p| match p {
            Rtcp::Sdes(chunks) => chunks.iter().any(|c| c.cname.is_some()),
            _ => false,
        });
        opens_with_report && has_cname
    }
}

/// Trace summary: packet kinds in order, e.g. `[SR(1 block), SDES]`.
impl fmt::Display for Compound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn blocks(n: usize) -> &'static str {
            if n == 1 { "block" } else { "blocks" }
        }
        fn ext(f: &mut fmt::Formatter<'_>, exts: &[ProfileExtension]) -> fmt::Result {
            if exts.iter().any(|e| matches!(e, ProfileExtension::Bandwidth { .. })) {
                f.write_str(", bw")?;
            }
            Ok(())
        }
        f.write_str("[")?;
        for (i, p) in self.packets.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match p {
                Rtcp::Sr(sr) => {
                    write!(f, "SR({} {}", sr.blocks.len(), blocks(sr.blocks.len()))?;
                    ext(f, &sr.extensions)?;
                    f.write_str(")")?;
                }
                Rtcp::Rr(rr) => {
                    write!(f, "RR({} {}", rr.blocks.len(), blocks(rr.blocks.len()))?;
                    ext(f, &rr.extensions)?;
                    f.write_str(")")?;
                }
                Rtcp::Sdes(_) => f.write_str("SDES")?,
                Rtcp::Bye(_) => f.write_str("BYE")?,
                Rtcp::Psfb(fb) => match fb.format {
                    PsfbFormat::Pli => f.write_str("PLI")?,
                    PsfbFormat::Fir => f.write_str("FIR")?,
                    PsfbFormat::Vsr => f.write_str("VSR")?,
                    PsfbFormat::Other(n) => write!(f, "PSFB({n})")?,
                },
                Rtcp::Other { pt: 204, .. } => f.write_str("APP")?,
                Rtcp::Other { pt: 205, .. } => f.write_str("RTPFB")?,
                Rtcp::Other { pt: 207, .. } => f.write_str("XR")?,
                Rtcp::Other { pt, .. } => write!(f, "PT{pt}")?,
            }
        }
        f.write_str("]")
    }
}

/// Parses one RTCP datagram: a compound or a single (simple) packet.
pub fn parse(data: &[u8]) -> Result<Compound, RtcpError> {
    let mut packets = Vec::new();
    let mut offset = 0;
    loop {
        let rest = &data[offset..];
        if rest.len() < 4 {
            return Err(RtcpError::Truncated { offset, expected: 4, actual: rest.len() });
        }
        let version = rest[0] >> 6;
        if version != 2 {
            return Err(RtcpError::Version { offset, version });
        }
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        if rest.len() < len {
            return Err(RtcpError::Truncated { offset, expected: len, actual: rest.len() });
        }
        let index = packets.len();
        let bytes = &rest[..len];
        let malformed = |e: RtcpParseError| RtcpError::Malformed { index, pt: bytes[1], reason: e.to_string() };
        packets.push(convert(bytes).map_err(malformed)?);
        offset += len;
        if offset == data.len() {
            return Ok(Compound { packets });
        }
    }
}

/// Turns one packet's bytes (exactly its length) into an [`Rtcp`].
fn convert(bytes: &[u8]) -> Result<Rtcp, RtcpParseError> {
    let body_end = bytes.len().saturating_sub(padding_len(bytes));
    Ok(match Packet::parse(bytes)? {
        Packet::Sr(sr) => {
            let blocks: Vec<_> = sr.report_blocks().map(|b| block(&b)).collect();
            let ext_start = SR_FIXED + blocks.len() * REPORT_BLOCK_LEN;
            Rtcp::Sr(SenderReport {
                ssrc: Ssrc(sr.ssrc()),
                info: SenderInfo {
                    ntp: sr.ntp_timestamp(),
                    rtp_timestamp: sr.rtp_timestamp(),
                    packets: sr.packet_count(),
                    octets: sr.octet_count(),
                },
                blocks,
                extensions: extensions(bytes.get(ext_start..body_end).unwrap_or_default()),
            })
        }
        Packet::Rr(rr) => {
            let blocks: Vec<_> = rr.report_blocks().map(|b| block(&b)).collect();
            let ext_start = RR_FIXED + blocks.len() * REPORT_BLOCK_LEN;
            Rtcp::Rr(ReceiverReport {
                ssrc: Ssrc(rr.ssrc()),
                blocks,
                extensions: extensions(bytes.get(ext_start..body_end).unwrap_or_default()),
            })
        }
        Packet::Sdes(sdes) => Rtcp::Sdes(sdes.chunks().map(cname).collect()),
        Packet::Bye(bye) => Rtcp::Bye(Bye {
            ssrcs: bye.ssrcs().map(Ssrc).collect(),
            reason: bye.reason().map(|r| String::from_utf8_lossy(r).into_owned()),
        }),
        Packet::PayloadFeedback(fb) => Rtcp::Psfb(Psfb {
            format: PsfbFormat::from_fmt(fb.count()),
            sender: Ssrc(fb.sender_ssrc()),
            media: Ssrc(fb.media_ssrc()),
            fci: bytes.get(12..body_end).unwrap_or_default().to_vec(),
        }),
        other => Rtcp::Other { pt: bytes[1], count: other.count(), len: bytes.len() },
    })
}

fn padding_len(bytes: &[u8]) -> usize {
    if bytes[0] & 0x20 != 0 { usize::from(bytes[bytes.len() - 1]) } else { 0 }
}

fn block(b: &WireRb<'_>) -> ReportBlock {
    ReportBlock {
        ssrc: Ssrc(b.ssrc()),
        fraction_lost: b.fraction_lost(),
        cumulative_lost: b.cumulative_lost(),
        ext_highest_seq: b.extended_sequence_number(),
        jitter: b.interarrival_jitter(),
        lsr: b.last_sender_report_timestamp(),
        dlsr: b.delay_since_last_sender_report_timestamp(),
    }
}

/// Walks MS-RTPME profile extensions; a malformed tail is dropped rather than refused, since
/// the report itself is still good.
fn extensions(mut rest: &[u8]) -> Vec<ProfileExtension> {
    let mut out = Vec::new();
    while rest.len() >= 4 {
        let kind = u16::from_be_bytes([rest[0], rest[1]]);
        let len = u16::from_be_bytes([rest[2], rest[3]]);
        let n = usize::from(len);
        if n < 4 || n > rest.len() {
            break;
        }
        if kind == EXT_BANDWIDTH && n >= usize::from(EXT_BANDWIDTH_LEN) {
            out.push(ProfileExtension::Bandwidth {
                ssrc: Ssrc(u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]])),
                bps: u32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]),
            });
        } else {
            out.push(ProfileExtension::Other { kind, len });
        }
        rest = &rest[n..];
    }
    out
}

fn cname(chunk: &SdesChunk<'_>) -> SdesCname {
    let cname = chunk.items().find(|i| i.type_() == SdesItem::CNAME).map(|i| {
        let v = i.value();
        let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
        String::from_utf8_lossy(&v[..end]).into_owned()
    });
    SdesCname { ssrc: Ssrc(chunk.ssrc()), cname }
}

/// Serialises packets into one datagram (a compound if more than one).
pub fn build(packets: &[Rtcp]) -> Result<Vec<u8>, RtcpError> {
    let mut out = Vec::new();
    for p in packets {
        build_one(p, &mut out)?;
    }
    Ok(out)
}

fn write(writer: &impl RtcpPacketWriter, out: &mut Vec<u8>) -> Result<(), RtcpError> {
    let start = out.len();
    out.resize(start + writer.calculate_size()?, 0);
    writer.write_into(&mut out[start..])?;
    Ok(())
}

fn wire_block(b: &ReportBlock) -> rtcp_types::ReportBlockBuilder {
    WireRb::builder(b.ssrc.0)
        .fraction_lost(b.fraction_lost)
        .cumulative_lost(b.cumulative_lost)
        .extended_sequence_number(b.ext_highest_seq)
        .interarrival_jitter(b.jitter)
        .last_sender_report_timestamp(b.lsr)
        .delay_since_last_sender_report_timestamp(b.dlsr)
}

fn build_one(p: &Rtcp, out: &mut Vec<u8>) -> Result<(), RtcpError> {
    let start = out.len();
    match p {
        Rtcp::Sr(sr) => {
            let mut w = WireSr::builder(sr.ssrc.0)
                .ntp_timestamp(sr.info.ntp)
                .rtp_timestamp(sr.info.rtp_timestamp)
                .packet_count(sr.info.packets)
                .octet_count(sr.info.octets);
            for b in &sr.blocks {
                w = w.add_report_block(wire_block(b));
            }
            write(&w, out)?;
            append_extensions(&sr.extensions, start, out)?;
        }
        Rtcp::Rr(rr) => {
            let mut w = WireRr::builder(rr.ssrc.0);
            for b in &rr.blocks {
                w = w.add_report_block(wire_block(b));
            }
            write(&w, out)?;
            append_extensions(&rr.extensions, start, out)?;
        }
        Rtcp::Sdes(chunks) => {
            // MS-RTPME §2.2.4: SDES strings carry a terminating NUL inside the item length.
            let values: Vec<String> =
                chunks.iter().map(|c| format!("{}\0", c.cname.as_deref().unwrap_or_default())).collect();
            let mut w = WireSdes::builder();
            for (c, v) in chunks.iter().zip(&values) {
                let mut chunk = SdesChunk::builder(c.ssrc.0);
                if c.cname.is_some() {
                    chunk = chunk.add_item(SdesItem::builder(SdesItem::CNAME, v));
                }
                w = w.add_chunk(chunk);
            }
            write(&w, out)?;
        }
        Rtcp::Bye(bye) => {
            let mut w = WireBye::builder();
            for s in &bye.ssrcs {
                w = w.add_source(s.0);
            }
            if let Some(r) = &bye.reason {
                w = w.reason(r.as_str());
            }
            write(&w, out)?;
        }
        Rtcp::Psfb(fb) if fb.format == PsfbFormat::Pli && fb.fci.is_empty() => {
            let pli = Pli::builder();
            let w = PayloadFeedback::builder(&pli).sender_ssrc(fb.sender.0).media_ssrc(fb.media.0);
            write(&w, out)?;
        }
        Rtcp::Psfb(fb) => {
            // FIR/VSR building belongs to the video work; raw FCI keeps tests and relays able to
            // send what they parsed.
            if fb.fci.len() % 4 != 0 || fb.format.fmt() > 31 {
                return Err(RtcpError::Build(format!("PSFB FMT {} with {} FCI bytes", fb.format.fmt(), fb.fci.len())));
            }
            out.push(0x80 | fb.format.fmt());
            out.push(PT_PSFB);
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&fb.sender.0.to_be_bytes());
            out.extend_from_slice(&fb.media.0.to_be_bytes());
            out.extend_from_slice(&fb.fci);
            set_length(start, out)?;
        }
        Rtcp::Other { pt, .. } => {
            return Err(RtcpError::Build(format!("packet type {pt} is parse-only")));
        }
    }
    Ok(())
}

fn append_extensions(exts: &[ProfileExtension], start: usize, out: &mut Vec<u8>) -> Result<(), RtcpError> {
    if exts.is_empty() {
        return Ok(());
    }
    for e in exts {
        match *e {
            ProfileExtension::Bandwidth { ssrc, bps } => {
                out.extend_from_slice(&EXT_BANDWIDTH.to_be_bytes());
                out.extend_from_slice(&EXT_BANDWIDTH_LEN.to_be_bytes());
                out.extend_from_slice(&ssrc.0.to_be_bytes());
                out.extend_from_slice(&bps.to_be_bytes());
            }
            ProfileExtension::Other { kind, .. } => {
                return Err(RtcpError::Build(format!("profile extension {kind:#06x} has no builder")));
            }
        }
    }
    debug_assert!(matches!(out[start + 1], PT_SR | PT_RR));
    set_length(start, out)
}

/// Rewrites the length field of the packet starting at `start` to cover `out[start..]`.
fn set_length(start: usize, out: &mut [u8]) -> Result<(), RtcpError> {
    let words = (out.len() - start) / 4 - 1;
    let words = u16::try_from(words).map_err(|_| RtcpError::Build("packet too long".into()))?;
    out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
    Ok(())
}

/// The middle 32 bits of an NTP timestamp, as LSR carries it (RFC 3550 §6.4.1).
pub fn ntp_middle32(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rb(ssrc: u32) -> ReportBlock {
        ReportBlock {
            ssrc: Ssrc(ssrc),
            fraction_lost: 25,
            cumulative_lost: 3,
            ext_highest_seq: 0x0001_0005,
            jitter: 12,
            lsr: 0x1234_5678,
            dlsr: 65536,
        }
    }

    fn sr() -> SenderReport {
        SenderReport {
            ssrc: Ssrc(0xaaaa_0001),
            info: SenderInfo { ntp: 0xe000_0000_8000_0000, rtp_timestamp: 16000, packets: 50, octets: 8000 },
            blocks: vec![rb(0xbbbb_0002)],
            extensions: vec![],
        }
    }

    fn sdes(ssrc: u32, cname: &str) -> Rtcp {
        Rtcp::Sdes(vec![SdesCname { ssrc: Ssrc(ssrc), cname: Some(cname.into()) }])
    }

    #[test]
    fn compound_sr_sdes_bye_round_trips() {
        let packets = vec![
            Rtcp::Sr(sr()),
            sdes(0xaaaa_0001, "alice@contoso.com"),
            Rtcp::Bye(Bye { ssrcs: vec![Ssrc(0xaaaa_0001)], reason: Some("hang up".into()) }),
        ];
        let bytes = build(&packets).unwrap();
        let back = parse(&bytes).unwrap();
        assert_eq!(back.packets, packets);
        assert_eq!(back.to_string(), "[SR(1 block), SDES, BYE]");
        assert!(back.is_rfc3550_compound());
    }

    #[test]
    fn rr_with_two_blocks_round_trips() {
        let packets = vec![
            Rtcp::Rr(ReceiverReport { ssrc: Ssrc(9), blocks: vec![rb(1), rb(2)], extensions: vec![] }),
            sdes(9, "x"),
        ];
        let back = parse(&build(&packets).unwrap()).unwrap();
        assert_eq!(back.packets, packets);
        assert_eq!(back.to_string(), "[RR(2 blocks), SDES]");
    }

    #[test]
    fn sdes_cname_is_null_terminated_on_the_wire() {
        let bytes = build(&[sdes(1, "ab")]).unwrap();
        // header, SSRC, then CNAME item: type 1, length 3, 'a' 'b' NUL, then chunk end NUL.
        assert_eq!(&bytes[8..13], &[1, 3, b'a', b'b', 0]);
    }

    #[test]
    fn simple_sr_probe_without_blocks_is_accepted() {
        let mut probe = sr();
        probe.blocks.clear();
        let bytes = build(&[Rtcp::Sr(probe.clone())]).unwrap();
        assert_eq!(bytes.len(), 28);
        let back = parse(&bytes).unwrap();
        assert_eq!(back.packets, vec![Rtcp::Sr(probe)]);
        assert_eq!(back.to_string(), "[SR(0 blocks)]");
        assert!(!back.is_rfc3550_compound());
    }

    #[test]
    fn ms_bandwidth_extension_round_trips_and_unknown_ones_are_skipped() {
        let mut with_bw = sr();
        with_bw.extensions =
            vec![ProfileExtension::Bandwidth { ssrc: Ssrc(0xbbbb_0002), bps: ProfileExtension::NO_ESTIMATE }];
        let mut bytes = build(&[Rtcp::Sr(with_bw.clone())]).unwrap();
        assert_eq!(bytes.len(), 28 + 24 + 12);
        assert_eq!(&bytes[52..56], &[0x00, 0x01, 0x00, 0x0c]);
        assert_eq!(&bytes[60..64], &[0xff, 0xff, 0xff, 0xfd]);
        assert_eq!(parse(&bytes).unwrap().packets, vec![Rtcp::Sr(with_bw)]);
        assert_eq!(parse(&bytes).unwrap().to_string(), "[SR(1 block, bw)]");

        // Append an unknown type-0x0005 extension of 8 bytes: parsed as Other, no error.
        bytes.extend_from_slice(&[0x00, 0x05, 0x00, 0x08, 1, 2, 3, 4]);
        let words = (bytes.len() / 4 - 1) as u16;
        bytes[2..4].copy_from_slice(&words.to_be_bytes());
        let Rtcp::Sr(back) = &parse(&bytes).unwrap().packets[0] else { panic!("not an SR") };
        assert_eq!(back.extensions[1], ProfileExtension::Other { kind: 5, len: 8 });
    }

    #[test]
    fn rr_extension_with_a_bad_length_is_dropped_not_refused() {
        let rr = Rtcp::Rr(ReceiverReport { ssrc: Ssrc(1), blocks: vec![], extensions: vec![] });
        let mut bytes = build(&[rr]).unwrap();
        bytes.extend_from_slice(&[0x00, 0x01, 0x00, 0x40]); // claims 64 bytes, has 4
        bytes[2..4].copy_from_slice(&2u16.to_be_bytes());
        let c = parse(&bytes).unwrap();
        assert_eq!(c.to_string(), "[RR(0 blocks)]");
    }

    #[test]
    fn psfb_formats_are_recognised_and_pli_builds() {
        let pli = Rtcp::Psfb(Psfb { format: PsfbFormat::Pli, sender: Ssrc(1), media: Ssrc(2), fci: vec![] });
        let bytes = build(std::slice::from_ref(&pli)).unwrap();
        assert_eq!(bytes, [0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
        let fir = Rtcp::Psfb(Psfb {
            format: PsfbFormat::Fir,
            sender: Ssrc(1),
            media: Ssrc(0),
            fci: vec![0, 0, 0, 2, 7, 0, 0, 0],
        });
        let vsr = Rtcp::Psfb(Psfb {
            format: PsfbFormat::Vsr,
            sender: Ssrc(1),
            media: Ssrc(0xffff_fffe),
            fci: vec![0, 1, 0, 8, 0, 0, 0, 0],
        });
        let all = build(&[pli.clone(), fir.clone(), vsr.clone()]).unwrap();
        let back = parse(&all).unwrap();
        assert_eq!(back.packets, vec![pli, fir, vsr]);
        assert_eq!(back.to_string(), "[PLI, FIR, VSR]");
    }

    #[test]
    fn unknown_types_are_listed_not_refused() {
        // APP packet: name "TEST", no data.
        let app = [0x80, 204, 0, 2, 0, 0, 0, 1, b'T', b'E', b'S', b'T'];
        let c = parse(&app).unwrap();
        assert_eq!(c.to_string(), "[APP]");
        assert!(matches!(c.packets[0], Rtcp::Other { pt: 204, len: 12, .. }));
    }

    #[test]
    fn truncation_and_version_errors_name_the_offset() {
        let bytes = build(&[Rtcp::Sr(sr()), sdes(1, "a")]).unwrap();
        assert!(matches!(parse(&bytes[..bytes.len() - 1]), Err(RtcpError::Truncated { offset: 52, .. })));
        let mut v = bytes.clone();
        v[52] = 0x40 | (v[52] & 0x3f);
        assert!(matches!(parse(&v), Err(RtcpError::Version { offset: 52, version: 1 })));
        assert!(matches!(parse(&[]), Err(RtcpError::Truncated { .. })));
    }

    #[test]
    fn ntp_middle_bits_for_lsr() {
        assert_eq!(ntp_middle32(0x1122_3344_5566_7788), 0x3344_5566);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            if let Ok(c) = parse(&bytes) {
                let _ = c.to_string();
            }
        }

        #[test]
        fn garbage_behind_a_valid_header_never_panics(
            pt in 192u8..=210, count in 0u8..32, pad: bool,
            body in proptest::collection::vec(any::<u8>(), 0..24),
        ) {
            let words = (body.len() / 4) as u16;
            let mut bytes = vec![0x80 | count | if pad { 0x20 } else { 0 }, pt];
            bytes.extend_from_slice(&words.to_be_bytes());
            bytes.extend_from_slice(&body[..body.len() / 4 * 4]);
            let _ = parse(&bytes);
        }
    }
}
