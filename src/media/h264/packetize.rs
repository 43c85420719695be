//! RFC 6184 packetization-mode 1 (non-interleaved, §6.3): how the NAL units of one access unit
//! become RTP payloads, and how a payload is read back.
//!
//! [`payloads`] is the pure rule: a NAL unit larger than the payload limit is split into FU-A
//! fragments (§5.8); consecutive smaller units are packed greedily into STAP-A packets (§5.7.1)
//! while they fit, and a lone small unit goes as a single NAL unit packet (§5.6).
//! [`Packetizer`] adds the RTP header: one timestamp for every packet of an access unit and the
//! marker on its last packet only (RFC 6184 §5.1; MS-RTPME §2.2.1), and in Lync mode a PACSI
//! NAL unit in front of every access unit (MS-H264PF §2.2.4).

use crate::media::rtp::{self, RtpError, RtpHeader, Ssrc};

use super::nal::{H264Error, NalHeader, NalType};
use super::pacsi::{LayerDescription, Pacsi};
use super::source::AccessUnit;

/// STAP-A header byte plus nothing: the fixed cost of an aggregation packet.
const STAP_A_HEADER: usize = 1;
/// Each aggregated unit is preceded by its 16-bit size.
const STAP_A_UNIT_SIZE: usize = 2;
/// FU indicator + FU header.
const FU_A_HEADER: usize = 2;

/// The FU header (RFC 6184 §5.8): `S | E | R | Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuHeader {
    /// First fragment of the NAL unit.
    pub start: bool,
    /// Last fragment of the NAL unit.
    pub end: bool,
    /// The fragmented unit's type.
    pub nal_type: NalType,
}

impl FuHeader {
    fn to_byte(self) -> u8 {
        (u8::from(self.start) << 7) | (u8::from(self.end) << 6) | (self.nal_type.0 & 0x1f)
    }

    fn from_byte(b: u8) -> Self {
        Self { start: b & 0x80 != 0, end: b & 0x40 != 0, nal_type: NalType(b & 0x1f) }
    }
}

/// What one RTP payload holds, borrowed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload<'a> {
    /// One whole NAL unit, header included (RFC 6184 §5.6).
    Single(&'a [u8]),
    /// The units of a STAP-A, headers included, in order (§5.7.1).
    StapA(Vec<&'a [u8]>),
    /// One FU-A fragment (§5.8).
    FuA {
        /// The FU indicator: F and NRI of the fragmented unit, type 28.
        indicator: NalHeader,
        /// S, E and the fragmented unit's type.
        header: FuHeader,
        /// Fragment bytes (the unit's header byte is not repeated in them).
        data: &'a [u8],
    },
}

impl Payload<'_> {
    /// The header of the fragmented unit an FU-A carries (F, NRI from the indicator).
    pub fn fu_nal_header(indicator: NalHeader, header: FuHeader) -> NalHeader {
        NalHeader { forbidden: indicator.forbidden, nri: indicator.nri, nal_type: header.nal_type }
    }

    /// The packet-structure name for traces: `single`, `stap-a` or `fu-a`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Single(_) => "single",
            Self::StapA(_) => "stap-a",
            Self::FuA { .. } => "fu-a",
        }
    }
}

/// Reads one RTP payload of an H.264 stream in packetization-mode 1.
pub fn parse(payload: &[u8]) -> Result<Payload<'_>, H264Error> {
    let header = NalHeader::parse(payload)?;
    match header.nal_type {
        NalType::STAP_A => parse_stap_a(payload).map(Payload::StapA),
        NalType::FU_A => {
            if payload.len() < FU_A_HEADER {
                return Err(H264Error::Truncated { what: "FU-A header", offset: 0, need: 2, have: payload.len() });
            }
            let fu = FuHeader::from_byte(payload[1]);
            if fu.start && fu.end {
                return Err(H264Error::FuStartAndEnd);
            }
            if fu.nal_type.is_packetization() {
                return Err(H264Error::Nested(fu.nal_type));
            }
            Ok(Payload::FuA { indicator: header, header: fu, data: &payload[FU_A_HEADER..] })
        }
        t @ (NalType::STAP_B | NalType::MTAP16 | NalType::MTAP24 | NalType::FU_B) => Err(H264Error::NotAllowed(t)),
        _ => Ok(Payload::Single(payload)),
    }
}

fn parse_stap_a(payload: &[u8]) -> Result<Vec<&[u8]>, H264Error> {
    let mut units = Vec::new();
    let mut at = STAP_A_HEADER;
    while at < payload.len() {
        let rest = &payload[at..];
        if rest.len() < STAP_A_UNIT_SIZE {
            return Err(H264Error::Truncated { what: "STAP-A unit size", offset: at, need: 2, have: rest.len() });
        }
        let size = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let unit = rest.get(STAP_A_UNIT_SIZE..STAP_A_UNIT_SIZE + size).ok_or(H264Error::Truncated {
            what: "STAP-A unit",
            offset: at,
            need: STAP_A_UNIT_SIZE + size,
            have: rest.len(),
        })?;
        let h = NalHeader::parse(unit)?;
        if h.nal_type.is_packetization() {
            return Err(H264Error::Nested(h.nal_type));
        }
        units.push(unit);
        at += STAP_A_UNIT_SIZE + size;
    }
    if units.is_empty() {
        return Err(H264Error::EmptyAggregate);
    }
    Ok(units)
}

/// Builds a STAP-A of `units` (at least one). F is the OR and NRI the maximum of the units'
/// (RFC 6184 §5.7.1), so stripping one unit and rebuilding gives back the same byte.
pub(super) fn build_stap_a<T: AsRef<[u8]>>(units: &[T]) -> Vec<u8> {
    let mut forbidden = false;
    let mut nri = 0;
    let mut out = vec![0];
    for u in units {
        let u = u.as_ref();
        let h = NalHeader::from_byte(u[0]);
        forbidden |= h.forbidden;
        nri = nri.max(h.nri);
        out.extend_from_slice(&(u.len() as u16).to_be_bytes());
        out.extend_from_slice(u);
    }
    out[0] = NalHeader { forbidden, nri, nal_type: NalType::STAP_A }.to_byte();
    out
}

/// Size of a STAP-A aggregating units of these sizes.
pub(super) fn stap_a_size(sizes: impl IntoIterator<Item = usize>) -> usize {
    STAP_A_HEADER + sizes.into_iter().map(|s| STAP_A_UNIT_SIZE + s).sum::<usize>()
}

/// Splits one NAL unit into FU-A payloads of at most `max_payload` bytes.
fn fragment(nal: &[u8], max_payload: usize, out: &mut Vec<Vec<u8>>) {
    let h = NalHeader::from_byte(nal[0]);
    let indicator = NalHeader { nal_type: NalType::FU_A, ..h }.to_byte();
    let chunks: Vec<&[u8]> = nal[1..].chunks(max_payload - FU_A_HEADER).collect();
    let last = chunks.len() - 1;
    for (i, chunk) in chunks.iter().enumerate() {
        let fu = FuHeader { start: i == 0, end: i == last, nal_type: h.nal_type };
        let mut p = Vec::with_capacity(FU_A_HEADER + chunk.len());
        p.push(indicator);
        p.push(fu.to_byte());
        p.extend_from_slice(chunk);
        out.push(p);
    }
}

/// The RTP payloads of one access unit's NAL units (headers included, no start codes), each at
/// most `max_payload` bytes. The caller puts the marker on the last one.
pub fn payloads<T: AsRef<[u8]>>(nals: &[T], max_payload: usize) -> Result<Vec<Vec<u8>>, H264Error> {
    if max_payload <= FU_A_HEADER {
        return Err(H264Error::TooLarge { what: "FU-A fragment", need: FU_A_HEADER + 1, limit: max_payload });
    }
    let mut out = Vec::new();
    let mut group: Vec<&[u8]> = Vec::new();
    let flush = |group: &mut Vec<&[u8]>, out: &mut Vec<Vec<u8>>| {
        match group.as_slice() {
            [] => {}
            [one] => out.push(one.to_vec()),
            many => out.push(build_stap_a(many)),
        }
        group.clear();
    };
    for nal in nals {
        let nal = nal.as_ref();
        let h = NalHeader::from_byte(*nal.first().ok_or(H264Error::EmptyNal)?);
        if h.nal_type.is_packetization() {
            return Err(H264Error::Nested(h.nal_type));
        }
        if nal.len() > max_payload {
            // MS-H264PF §2.2.4: a PACSI NAL unit must not be fragmented.
            if h.nal_type == NalType::PACSI {
                return Err(H264Error::TooLarge { what: "PACSI", need: nal.len(), limit: max_payload });
            }
            flush(&mut group, &mut out);
            fragment(nal, max_payload, &mut out);
            continue;
        }
        let with = stap_a_size(group.iter().map(|g| g.len()).chain([nal.len()]));
        if !group.is_empty() && with > max_payload {
            flush(&mut group, &mut out);
        }
        group.push(nal);
    }
    flush(&mut group, &mut out);
    Ok(out)
}

/// Why access units could not be packetised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketizeError {
    /// The NAL units could not be laid out.
    #[error(transparent)]
    H264(#[from] H264Error),
    /// The RTP header could not be written.
    #[error(transparent)]
    Rtp(#[from] RtpError),
}

/// Turns access units into RTP packets of one stream.
#[derive(Debug, Clone)]
pub struct Packetizer {
    pt: u8,
    ssrc: Ssrc,
    seq: u16,
    max_payload: usize,
    /// Lync leg: the layer the PACSI's stream layout describes, and the next cross-session DON.
    lync: Option<(LayerDescription, u16)>,
}

impl Packetizer {
    /// A plain RFC 6184 packetiser (the consumer leg); `max_payload` bounds each RTP payload.
    pub fn new(pt: u8, ssrc: Ssrc, first_seq: u16, max_payload: usize) -> Self {
        Self { pt, ssrc, seq: first_seq, max_payload, lync: None }
    }

    /// The Lync-leg form: every access unit opens with a PACSI describing `layer`.
    pub fn with_pacsi(mut self, layer: LayerDescription) -> Self {
        self.lync = Some((layer, 0));
        self
    }

    /// The sequence number the next packet will carry.
    pub fn next_seq(&self) -> u16 {
        self.seq
    }

    /// The RTP packets of one access unit, all stamped `timestamp`, the marker on the last.
    pub fn packetize(&mut self, au: &AccessUnit, timestamp: u32) -> Result<Vec<Vec<u8>>, PacketizeError> {
        let pacsi;
        let mut nals: Vec<&[u8]> = au.nals.iter().map(Vec::as_slice).collect();
        if let Some((layer, don)) = &mut self.lync {
            pacsi = Pacsi::for_access_unit(au.idr, *don, *layer, au.nals.len()).build();
            *don = don.wrapping_add(1);
            nals.insert(0, &pacsi);
        }
        let payloads = payloads(&nals, self.max_payload)?;
        let last = payloads.len().saturating_sub(1);
        let mut packets = Vec::with_capacity(payloads.len());
        for (i, p) in payloads.iter().enumerate() {
            let header = RtpHeader {
                pt: self.pt,
                marker: i == last,
                seq: self.seq,
                timestamp,
                ssrc: self.ssrc,
                ..RtpHeader::default()
            };
            packets.push(rtp::build(&header, p)?);
            self.seq = self.seq.wrapping_add(1);
        }
        Ok(packets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nal(header: u8, len: usize) -> Vec<u8> {
        let mut v = vec![header];
        v.extend((1..len).map(|i| (i % 251) as u8 + 1));
        v
    }

    /// Reassembles FU-A payloads back into the unit, checking S/E placement on the way.
    fn defragment(payloads: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            let Payload::FuA { indicator, header, data } = parse(p).unwrap() else { panic!("not FU-A") };
            assert_eq!(header.start, i == 0, "S bit on fragment {i}");
            assert_eq!(header.end, i == payloads.len() - 1, "E bit on fragment {i}");
            if i == 0 {
                out.push(Payload::fu_nal_header(indicator, header).to_byte());
            }
            out.extend_from_slice(data);
        }
        out
    }

    #[test]
    fn a_unit_of_exactly_the_limit_goes_whole_and_one_byte_more_is_fragmented() {
        let exact = nal(0x65, 1200);
        assert_eq!(payloads(&[&exact], 1200).unwrap(), vec![exact.clone()]);

        let over = nal(0x65, 1201);
        let p = payloads(&[&over], 1200).unwrap();
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|p| p.len() <= 1200));
        assert_eq!(p[0].len(), 1200);
        assert_eq!(p[0][0], 0x7c, "indicator keeps F and NRI 3, type 28");
        assert_eq!(p[0][1], 0x85, "S set, type 5");
        assert_eq!(p[1][1], 0x45, "E set, type 5");
        assert_eq!(defragment(&p), over);
    }

    #[test]
    fn large_units_fragment_into_full_fragments_and_keep_nri() {
        let idr = nal(0x25, 5000); // NRI 1
        let p = payloads(&[&idr], 1000).unwrap();
        assert_eq!(p.len(), 6); // 4999 data bytes / 998 per fragment
        assert!(p[..5].iter().all(|p| p.len() == 1000));
        assert!(p.iter().all(|p| p[0] == 0x3c));
        assert_eq!(defragment(&p), idr);
    }

    #[test]
    fn small_units_aggregate_into_stap_a_with_max_nri_and_parse_back() {
        let sps = nal(0x67, 15);
        let pps = nal(0x68, 5);
        let sei = nal(0x06, 9);
        let p = payloads(&[&sei, &sps, &pps], 1200).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0][0], 0x78, "STAP-A with NRI 3");
        assert_eq!(p[0].len(), 1 + 2 + 9 + 2 + 15 + 2 + 5);
        assert_eq!(parse(&p[0]).unwrap(), Payload::StapA(vec![&sei[..], &sps[..], &pps[..]]));
    }

    #[test]
    fn aggregation_stops_at_the_limit_and_a_lone_unit_goes_single() {
        let a = nal(0x41, 600);
        let b = nal(0x41, 595); // 1 + 2 + 600 + 2 + 595 = 1200: fits exactly
        let c = nal(0x41, 10);
        let p = payloads(&[&a, &b, &c], 1200).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].len(), 1200);
        assert_eq!(p[1], c);
        let p = payloads(&[&a, &nal(0x41, 596)], 1200).unwrap();
        assert_eq!(p, vec![a.clone(), nal(0x41, 596)]);
    }

    #[test]
    fn units_around_a_fragmented_one_keep_their_order() {
        let sps = nal(0x67, 15);
        let pps = nal(0x68, 5);
        let idr = nal(0x65, 3000);
        let p = payloads(&[&sps, &pps, &idr], 1200).unwrap();
        assert!(matches!(parse(&p[0]).unwrap(), Payload::StapA(u) if u.len() == 2));
        assert_eq!(defragment(&p[1..]), idr);
    }

    #[test]
    fn unfit_limits_empty_units_and_nested_types_are_refused() {
        assert!(matches!(payloads(&[nal(0x65, 10)], 2), Err(H264Error::TooLarge { .. })));
        assert_eq!(payloads(&[Vec::new()], 1200), Err(H264Error::EmptyNal));
        assert_eq!(payloads(&[nal(0x78, 10)], 1200), Err(H264Error::Nested(NalType::STAP_A)));
        assert!(matches!(payloads(&[nal(0x7e, 300)], 200), Err(H264Error::TooLarge { what: "PACSI", .. })));
    }

    #[test]
    fn truncated_or_odd_stap_a_is_an_error_not_a_panic() {
        let good = build_stap_a(&[nal(0x67, 4), nal(0x68, 3)]);
        // Every cut is an error except at the unit boundary, where one whole unit remains.
        let whole: Vec<usize> = (1..good.len()).filter(|&cut| parse(&good[..cut]).is_ok()).collect();
        assert_eq!(whole, [7]);
        assert_eq!(parse(&good[..1]), Err(H264Error::EmptyAggregate));
        assert!(matches!(parse(&good[..9]), Err(H264Error::Truncated { what: "STAP-A unit", offset: 7, .. })));
        assert_eq!(parse(&[0x78, 0, 0]), Err(H264Error::EmptyNal));
        assert_eq!(parse(&[0x78, 0, 2, 0x7c, 0x85]), Err(H264Error::Nested(NalType::FU_A)));
        assert!(matches!(
            parse(&[0x78, 0, 1, 0x67, 0]),
            Err(H264Error::Truncated { what: "STAP-A unit size", offset: 4, .. })
        ));
    }

    #[test]
    fn fu_a_and_interleaved_mode_types_are_checked() {
        assert!(matches!(parse(&[0x7c]), Err(H264Error::Truncated { .. })));
        assert_eq!(parse(&[0x7c, 0xc5, 1]), Err(H264Error::FuStartAndEnd));
        assert_eq!(parse(&[0x7c, 0x98, 1]), Err(H264Error::Nested(NalType::STAP_A)));
        assert_eq!(parse(&[0x79, 0]), Err(H264Error::NotAllowed(NalType::STAP_B)));
        assert_eq!(parse(&[0x7d, 0x85, 0]), Err(H264Error::NotAllowed(NalType::FU_B)));
        assert_eq!(parse(&[]), Err(H264Error::EmptyNal));
        assert_eq!(parse(&[0x41, 9]).unwrap().kind(), "single");
    }

    #[test]
    fn packetizer_stamps_one_timestamp_and_marks_only_the_last_packet() {
        let au = AccessUnit {
            index: 0,
            idr: true,
            timestamp_offset: 0,
            nals: vec![nal(0x67, 15), nal(0x68, 5), nal(0x65, 4000)],
        };
        let mut p = Packetizer::new(122, Ssrc(0x10), 65534, 1200);
        let packets = p.packetize(&au, 9000).unwrap();
        assert_eq!(packets.len(), 5); // STAP-A + 4 FU-A
        let headers: Vec<RtpHeader> = packets.iter().map(|b| rtp::parse(b).unwrap().0).collect();
        assert!(headers.iter().all(|h| h.timestamp == 9000 && h.pt == 122 && h.ssrc == Ssrc(0x10)));
        let markers: Vec<bool> = headers.iter().map(|h| h.marker).collect();
        assert_eq!(markers, [false, false, false, false, true]);
        assert_eq!(headers.iter().map(|h| h.seq).collect::<Vec<_>>(), [65534, 65535, 0, 1, 2]);
        assert_eq!(p.next_seq(), 3);

        let single = AccessUnit { index: 1, idr: false, timestamp_offset: 3000, nals: vec![nal(0x41, 300)] };
        let packets = p.packetize(&single, 12000).unwrap();
        assert_eq!(packets.len(), 1);
        assert!(rtp::parse(&packets[0]).unwrap().0.marker);
    }
}
