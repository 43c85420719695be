//! The PACSI NAL unit Lync puts first in every access unit (MS-H264PF §2.2.4), with the two
//! Microsoft SEI messages it carries: Stream Layout (§2.2.5) and Bitstream Info (§2.2.7); and
//! the gateway's pure [`insert`] / [`strip`] on the RTP payloads of one access unit.
//!
//! Layout (RFC 6190 §4.9): NAL header (type 30), the three SVC extension bytes
//! (`R|I|PRID`, `N|DID|QID`, `TID|U|D|O|RR`), the flags byte `X|Y|T|A|P|C|S|E`, TL0PICIDX and
//! IDRPICID if Y, DONC if T, then NAL units each preceded by a 16-bit size (as in STAP-A).
//!
//! What the specs searched confirm: the PACSI placement rules (MS-H264PF §2.2.4: first NAL unit
//! of the layer, first unit of a STAP-A if aggregated, never fragmented), the Stream Layout
//! header (`payloadType` 5 user-data-unregistered, `payloadSize`, UUID, eight layer-presence
//! bytes LPB0–LPB7, `R|P`, `LDSize`, one Layer Description per presence bit; P = 1 full layout,
//! P = 0 update without descriptions) and the Video Source Request in `feedback`. Not
//! confirmed, taken from SIPE's `sipe-msrtp.c` (which cites §2.2.5 and §2.2.7): the UUID
//! values, the order of bits inside the 16-byte Layer Description (coded and display size,
//! bitrate, then `fps index << 3 | !base_layer`, then `PRID << 2 | CB << 1`, two bytes we
//! write as zero), which LPB bit stands for which PRID (we take PRID p ↔ bit p % 8 of LPB(p / 8),
//! matching SIPE's PRID 0 ↔ LPB0 = 0x01), the Bitstream Info body (reference frame count, number
//! of NAL units the PACSI describes; we count the access unit's NAL units without the PACSI),
//! the SVC bytes SIPE writes (R = 1, N = 1, O = 1, RR = 3, flags T and S), and that neither SEI
//! ends in `rbsp_trailing_bits` (SIPE's sizes leave no room for it; a trailing 0x80 is accepted
//! when reading). SIPE sets I always and DONC to 1; we set I on IDR access units only and count
//! DONC up per access unit, as RFC 6190 §4.9 describes both fields.

use super::nal::{H264Error, NalHeader, NalType};
use super::packetize::{self, Payload, build_stap_a, stap_a_size};

/// UUID of the Stream Layout SEI message (MS-H264PF §2.2.5), `139FB1A9-446A-4DEC-8CBF-65B1E12D2CFD`.
pub const STREAM_LAYOUT_UUID: [u8; 16] =
    [0x13, 0x9f, 0xb1, 0xa9, 0x44, 0x6a, 0x4d, 0xec, 0x8c, 0xbf, 0x65, 0xb1, 0xe1, 0x2d, 0x2c, 0xfd];
/// UUID of the Bitstream Info SEI message (MS-H264PF §2.2.7), `05FBC6B9-5A80-40E5-A22A-AB4020267E26`.
pub const BITSTREAM_INFO_UUID: [u8; 16] =
    [0x05, 0xfb, 0xc6, 0xb9, 0x5a, 0x80, 0x40, 0xe5, 0xa2, 0x2a, 0xab, 0x40, 0x20, 0x26, 0x7e, 0x26];
/// SEI payloadType of user data unregistered (ISO/IEC 14496-10 Annex D).
const SEI_USER_DATA_UNREGISTERED: u32 = 5;
/// Bytes of one Layer Description as written.
const LAYER_DESCRIPTION_LEN: usize = 16;
/// Flags byte bits (RFC 6190 §4.9).
const FLAG_Y: u8 = 0x40;
const FLAG_T: u8 = 0x20;
/// S: the first NAL unit of the layer representation follows.
pub const FLAG_S: u8 = 0x02;

/// One layer of the stream as the Stream Layout SEI describes it (MS-H264PF §2.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerDescription {
    /// Coded width in pixels.
    pub coded_width: u16,
    /// Coded height in pixels.
    pub coded_height: u16,
    /// Display width in pixels.
    pub display_width: u16,
    /// Display height in pixels.
    pub display_height: u16,
    /// Bit rate in bits per second.
    pub bitrate: u32,
    /// Frame-rate index: 0 = 7.5, 1 = 12.5, 2 = 15, 3 = 25, 4 = 30, 5 = 50, 6 = 60 fps.
    pub fps_index: u8,
    /// Whether this is a base layer.
    pub base_layer: bool,
    /// Priority id: the layer's index in the presence bitmap.
    pub prid: u8,
    /// Whether the layer is constrained baseline.
    pub constrained_baseline: bool,
}

impl LayerDescription {
    /// A single base layer of `width`×`height` at `fps` (constrained baseline, PRID 0).
    pub fn base(width: u16, height: u16, fps: u32, bitrate: u32) -> Self {
        Self {
            coded_width: width,
            coded_height: height,
            display_width: width,
            display_height: height,
            bitrate,
            fps_index: fps_index(fps),
            base_layer: true,
            prid: 0,
            constrained_baseline: true,
        }
    }

    fn to_bytes(self) -> [u8; LAYER_DESCRIPTION_LEN] {
        let mut b = [0; LAYER_DESCRIPTION_LEN];
        b[0..2].copy_from_slice(&self.coded_width.to_be_bytes());
        b[2..4].copy_from_slice(&self.coded_height.to_be_bytes());
        b[4..6].copy_from_slice(&self.display_width.to_be_bytes());
        b[6..8].copy_from_slice(&self.display_height.to_be_bytes());
        b[8..12].copy_from_slice(&self.bitrate.to_be_bytes());
        b[12] = (self.fps_index << 3) | u8::from(!self.base_layer);
        b[13] = ((self.prid & 0x3f) << 2) | (u8::from(self.constrained_baseline) << 1);
        b
    }

    fn from_bytes(b: &[u8]) -> Self {
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        Self {
            coded_width: u16_at(0),
            coded_height: u16_at(2),
            display_width: u16_at(4),
            display_height: u16_at(6),
            bitrate: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            fps_index: b[12] >> 3,
            base_layer: b[12] & 1 == 0,
            prid: b[13] >> 2,
            constrained_baseline: b[13] & 0x02 != 0,
        }
    }
}

/// The Stream Layout frame-rate index for a frame rate (7 stands for 7.5, 12 or 13 for 12.5);
/// rates between the listed ones round down.
pub fn fps_index(fps: u32) -> u8 {
    match fps {
        0..=12 => 0,
        13..=14 => 1,
        15..=24 => 2,
        25..=29 => 3,
        30..=49 => 4,
        50..=59 => 5,
        _ => 6,
    }
}

/// The Stream Layout SEI message (MS-H264PF §2.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamLayout {
    /// LPB0..LPB7: one bit per layer present.
    pub layer_presence: [u8; 8],
    /// One description per presence bit (a full layout, P = 1), or none (an update, P = 0).
    pub layers: Vec<LayerDescription>,
}

impl StreamLayout {
    /// A full layout of these layers, their presence bits set from their PRIDs.
    pub fn full(layers: Vec<LayerDescription>) -> Self {
        let mut layer_presence = [0; 8];
        for l in &layers {
            let p = usize::from(l.prid & 0x3f);
            layer_presence[p / 8] |= 1 << (p % 8);
        }
        Self { layer_presence, layers }
    }

    fn body(&self) -> Vec<u8> {
        let mut b = STREAM_LAYOUT_UUID.to_vec();
        b.extend_from_slice(&self.layer_presence);
        b.push(u8::from(!self.layers.is_empty())); // R = 0, P
        if !self.layers.is_empty() {
            b.push(LAYER_DESCRIPTION_LEN as u8);
            for l in &self.layers {
                b.extend_from_slice(&l.to_bytes());
            }
        }
        b
    }

    fn from_body(b: &[u8]) -> Result<Self, H264Error> {
        let layer_presence: [u8; 8] =
            b.get(16..24).and_then(|s| s.try_into().ok()).ok_or(H264Error::Pacsi("stream layout truncated"))?;
        let full = b.get(24).ok_or(H264Error::Pacsi("stream layout truncated"))? & 1 == 1;
        let mut layers = Vec::new();
        if full {
            let size = usize::from(*b.get(25).ok_or(H264Error::Pacsi("stream layout truncated"))?);
            if size < 14 {
                return Err(H264Error::Pacsi("layer description shorter than 14 bytes"));
            }
            let count: u32 = layer_presence.iter().map(|b| b.count_ones()).sum();
            for i in 0..count as usize {
                let at = 26 + i * size;
                let ld = b.get(at..at + size).ok_or(H264Error::Pacsi("layer description truncated"))?;
                layers.push(LayerDescription::from_bytes(ld));
            }
        }
        Ok(Self { layer_presence, layers })
    }
}

/// The Bitstream Info SEI message (MS-H264PF §2.2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitstreamInfo {
    /// Reference frame count.
    pub ref_frame_count: u8,
    /// NAL units the PACSI describes.
    pub nal_count: u8,
}

/// A PACSI NAL unit (RFC 6190 §4.9) with the MS-H264PF SEI messages it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacsi {
    /// nal_ref_idc of the PACSI itself.
    pub nri: u8,
    /// I: an aggregated unit is part of an IDR picture.
    pub idr: bool,
    /// PRID of the SVC extension.
    pub priority_id: u8,
    /// N: no inter-layer prediction.
    pub no_inter_layer_pred: bool,
    /// DID.
    pub dependency_id: u8,
    /// QID.
    pub quality_id: u8,
    /// TID.
    pub temporal_id: u8,
    /// U: use reference base picture.
    pub use_ref_base: bool,
    /// D: discardable.
    pub discardable: bool,
    /// O: output.
    pub output: bool,
    /// The flags byte `X|Y|T|A|P|C|S|E`; Y and T follow `tl0` and `donc` when building.
    pub flags: u8,
    /// TL0PICIDX and IDRPICID (flag Y).
    pub tl0: Option<(u8, u16)>,
    /// Cross-session decoding order number (flag T).
    pub donc: Option<u16>,
    /// The Stream Layout SEI, if carried.
    pub layout: Option<StreamLayout>,
    /// The Bitstream Info SEI, if carried.
    pub info: Option<BitstreamInfo>,
    /// Any other NAL units carried, verbatim.
    pub other: Vec<Vec<u8>>,
}

impl Pacsi {
    /// The PACSI a Lync sender puts before an access unit of `nal_count` NAL units: a full
    /// stream layout of `layer` (MS-H264PF §2.2.5 allows one on every access unit and needs one
    /// on IDR ones) and the bitstream info.
    pub fn for_access_unit(idr: bool, donc: u16, layer: LayerDescription, nal_count: usize) -> Self {
        Self {
            nri: 3,
            idr,
            priority_id: 0,
            no_inter_layer_pred: true,
            dependency_id: 0,
            quality_id: 0,
            temporal_id: 0,
            use_ref_base: false,
            discardable: false,
            output: true,
            flags: FLAG_S,
            tl0: None,
            donc: Some(donc),
            layout: Some(StreamLayout::full(vec![layer])),
            info: Some(BitstreamInfo { ref_frame_count: 1, nal_count: nal_count.min(255) as u8 }),
            other: Vec::new(),
        }
    }

    /// The NAL unit bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut out = vec![NalHeader::new(self.nri, NalType::PACSI).to_byte()];
        out.push(0x80 | (u8::from(self.idr) << 6) | (self.priority_id & 0x3f));
        out.push(
            (u8::from(self.no_inter_layer_pred) << 7) | ((self.dependency_id & 0x07) << 4) | (self.quality_id & 0x0f),
        );
        out.push(
            ((self.temporal_id & 0x07) << 5)
                | (u8::from(self.use_ref_base) << 4)
                | (u8::from(self.discardable) << 3)
                | (u8::from(self.output) << 2)
                | 0x03,
        );
        let mut flags = self.flags & !(FLAG_Y | FLAG_T);
        if self.tl0.is_some() {
            flags |= FLAG_Y;
        }
        if self.donc.is_some() {
            flags |= FLAG_T;
        }
        out.push(flags);
        if let Some((tl0, idr_pic_id)) = self.tl0 {
            out.push(tl0);
            out.extend_from_slice(&idr_pic_id.to_be_bytes());
        }
        if let Some(donc) = self.donc {
            out.extend_from_slice(&donc.to_be_bytes());
        }
        let mut units: Vec<Vec<u8>> = Vec::new();
        if let Some(layout) = &self.layout {
            units.push(sei(&layout.body()));
        }
        if let Some(info) = self.info {
            let mut body = BITSTREAM_INFO_UUID.to_vec();
            body.extend_from_slice(&[info.ref_frame_count, info.nal_count]);
            units.push(sei(&body));
        }
        units.extend(self.other.iter().cloned());
        for u in units {
            out.extend_from_slice(&(u.len() as u16).to_be_bytes());
            out.extend_from_slice(&u);
        }
        out
    }

    /// Reads a PACSI NAL unit.
    pub fn parse(nal: &[u8]) -> Result<Self, H264Error> {
        let h = NalHeader::parse(nal)?;
        if h.nal_type != NalType::PACSI {
            return Err(H264Error::Pacsi("not NAL unit type 30"));
        }
        let fixed = nal.get(..5).ok_or(H264Error::Truncated { what: "PACSI", offset: 0, need: 5, have: nal.len() })?;
        let flags = fixed[4];
        let mut at = 5;
        let tl0 = if flags & FLAG_Y != 0 {
            let b = take(nal, &mut at, 3)?;
            Some((b[0], u16::from_be_bytes([b[1], b[2]])))
        } else {
            None
        };
        let donc = if flags & FLAG_T != 0 {
            let b = take(nal, &mut at, 2)?;
            Some(u16::from_be_bytes([b[0], b[1]]))
        } else {
            None
        };
        let mut p = Self {
            nri: h.nri,
            idr: fixed[1] & 0x40 != 0,
            priority_id: fixed[1] & 0x3f,
            no_inter_layer_pred: fixed[2] & 0x80 != 0,
            dependency_id: (fixed[2] >> 4) & 0x07,
            quality_id: fixed[2] & 0x0f,
            temporal_id: fixed[3] >> 5,
            use_ref_base: fixed[3] & 0x10 != 0,
            discardable: fixed[3] & 0x08 != 0,
            output: fixed[3] & 0x04 != 0,
            flags,
            tl0,
            donc,
            layout: None,
            info: None,
            other: Vec::new(),
        };
        while at < nal.len() {
            let size = take(nal, &mut at, 2)?;
            let size = usize::from(u16::from_be_bytes([size[0], size[1]]));
            let unit = take(nal, &mut at, size)?;
            match user_data_unregistered(unit) {
                Some((uuid, body)) if uuid == STREAM_LAYOUT_UUID => {
                    p.layout = Some(StreamLayout::from_body(body)?);
                }
                Some((uuid, body)) if uuid == BITSTREAM_INFO_UUID => {
                    let b = body.get(16..18).ok_or(H264Error::Pacsi("bitstream info truncated"))?;
                    p.info = Some(BitstreamInfo { ref_frame_count: b[0], nal_count: b[1] });
                }
                _ => p.other.push(unit.to_vec()),
            }
        }
        Ok(p)
    }
}

/// The next `n` bytes of a PACSI from `*at`, advancing it.
fn take<'a>(nal: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], H264Error> {
    let s = nal.get(*at..*at + n).ok_or(H264Error::Truncated {
        what: "PACSI",
        offset: *at,
        need: n,
        have: nal.len() - *at,
    })?;
    *at += n;
    Ok(s)
}

/// An SEI NAL unit (NRI 0) with one user-data-unregistered message of `body` (UUID first).
fn sei(body: &[u8]) -> Vec<u8> {
    let mut out = vec![NalHeader::new(0, NalType::SEI).to_byte()];
    write_sei_number(SEI_USER_DATA_UNREGISTERED as usize, &mut out);
    write_sei_number(body.len(), &mut out);
    out.extend_from_slice(body);
    out
}

/// ISO/IEC 14496-10 §7.3.2.3.1: 0xFF bytes add 255 each, the last byte adds itself.
fn write_sei_number(mut n: usize, out: &mut Vec<u8>) {
    while n >= 255 {
        out.push(0xff);
        n -= 255;
    }
    out.push(n as u8);
}

fn read_sei_number(b: &[u8], at: &mut usize) -> Option<usize> {
    let mut n = 0;
    loop {
        let byte = *b.get(*at)?;
        *at += 1;
        n += usize::from(byte);
        if byte != 0xff {
            return Some(n);
        }
    }
}

/// The UUID and body (UUID included) of an SEI NAL unit's first message if it is user data
/// unregistered; a trailing `rbsp_trailing_bits` byte is tolerated.
fn user_data_unregistered(unit: &[u8]) -> Option<([u8; 16], &[u8])> {
    if NalHeader::from_byte(*unit.first()?).nal_type != NalType::SEI {
        return None;
    }
    let mut at = 1;
    let kind = read_sei_number(unit, &mut at)?;
    let size = read_sei_number(unit, &mut at)?;
    let body = unit.get(at..at + size)?;
    if kind != SEI_USER_DATA_UNREGISTERED as usize || size < 16 {
        return None;
    }
    Some((body[..16].try_into().ok()?, body))
}

/// Whether a NAL unit is a PACSI.
fn is_pacsi(nal: &[u8]) -> bool {
    nal.first().is_some_and(|b| NalHeader::from_byte(*b).nal_type == NalType::PACSI)
}

/// Whether an access unit's payloads open with a PACSI, alone or first in a STAP-A.
pub fn starts_with_pacsi(payloads: &[Vec<u8>]) -> bool {
    match payloads.first().map(|p| packetize::parse(p)) {
        Some(Ok(Payload::Single(nal))) => is_pacsi(nal),
        Some(Ok(Payload::StapA(units))) => is_pacsi(units[0]),
        _ => false,
    }
}

/// NAL units in an access unit's payloads (a fragmented unit counts once, at its start), as
/// the Bitstream Info SEI wants them; PACSI units are not counted.
pub fn nal_count(payloads: &[Vec<u8>]) -> usize {
    payloads
        .iter()
        .map(|p| match packetize::parse(p) {
            Ok(Payload::Single(nal)) => usize::from(!is_pacsi(nal)),
            Ok(Payload::StapA(units)) => units.iter().filter(|u| !is_pacsi(u)).count(),
            Ok(Payload::FuA { header, .. }) => usize::from(header.start),
            Err(_) => 0,
        })
        .sum()
}

/// Toward Lync: puts `pacsi` in front of an access unit's payloads, aggregated with the first
/// payload in a STAP-A when that fits `max_payload` (MS-H264PF §2.2.4), else as its own packet.
/// Payloads that already open with a PACSI are returned unchanged. The last payload stays last,
/// so the caller's marker goes where it was.
pub fn insert(payloads: &[Vec<u8>], pacsi: &[u8], max_payload: usize) -> Result<Vec<Vec<u8>>, H264Error> {
    if !is_pacsi(pacsi) {
        return Err(H264Error::Pacsi("not NAL unit type 30"));
    }
    if pacsi.len() > max_payload {
        return Err(H264Error::TooLarge { what: "PACSI", need: pacsi.len(), limit: max_payload });
    }
    if starts_with_pacsi(payloads) {
        return Ok(payloads.to_vec());
    }
    let mut out = Vec::with_capacity(payloads.len() + 1);
    let merged = match payloads.first().map(|p| packetize::parse(p)) {
        Some(Ok(Payload::Single(nal))) if stap_a_size([pacsi.len(), nal.len()]) <= max_payload => {
            Some(build_stap_a(&[pacsi, nal]))
        }
        Some(Ok(Payload::StapA(units)))
            if stap_a_size(units.iter().map(|u| u.len()).chain([pacsi.len()])) <= max_payload =>
        {
            let mut all = vec![pacsi];
            all.extend(units);
            Some(build_stap_a(&all))
        }
        _ => None,
    };
    match merged {
        Some(first) => {
            out.push(first);
            out.extend_from_slice(&payloads[1..]);
        }
        None => {
            out.push(pacsi.to_vec());
            out.extend_from_slice(payloads);
        }
    }
    Ok(out)
}

/// Toward a plain H.264 endpoint: removes every unfragmented PACSI, alone or aggregated. A
/// STAP-A left with one unit becomes a single NAL unit packet, one left with none is dropped;
/// FU-A fragments and payloads that do not parse pass unchanged (the receiver judges them).
pub fn strip(payloads: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(payloads.len());
    for p in payloads {
        match packetize::parse(p) {
            Ok(Payload::Single(nal)) if is_pacsi(nal) => {}
            Ok(Payload::StapA(units)) if units.iter().any(|u| is_pacsi(u)) => {
                let kept: Vec<&[u8]> = units.into_iter().filter(|u| !is_pacsi(u)).collect();
                match kept.as_slice() {
                    [] => {}
                    [one] => out.push(one.to_vec()),
                    many => out.push(build_stap_a(many)),
                }
            }
            _ => out.push(p.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::h264::packetize::payloads;

    fn layer() -> LayerDescription {
        LayerDescription::base(640, 360, 30, 500_000)
    }

    fn nal(header: u8, len: usize) -> Vec<u8> {
        let mut v = vec![header];
        v.extend((1..len).map(|i| (i % 200) as u8 + 1));
        v
    }

    #[test]
    fn lync_pacsi_has_the_layout_sipe_writes() {
        // SIPE's fixed PACSI: one 16-byte layer, DONC, two SEIs: 77 bytes in all.
        let p = Pacsi::for_access_unit(true, 1, layer(), 3);
        let b = p.build();
        assert_eq!(b.len(), 77);
        assert_eq!(&b[..7], &[0x7e, 0xc0, 0x80, 0x07, 0x22, 0x00, 0x01]);
        // Stream Layout SEI: size 45, header 6, payloadType 5, payloadSize 42, then the UUID.
        assert_eq!(&b[7..12], &[0x00, 45, 0x06, 5, 42]);
        assert_eq!(&b[12..28], &STREAM_LAYOUT_UUID);
        assert_eq!(&b[28..38], &[0x01, 0, 0, 0, 0, 0, 0, 0, 0x01, 16]);
        assert_eq!(&b[38..42], &[0x02, 0x80, 0x01, 0x68]); // 640 x 360
        assert_eq!(b[50], 4 << 3, "30 fps index, base layer");
        assert_eq!(b[51], 0x02, "PRID 0, constrained baseline");
        // Bitstream Info SEI: size 21, payloadSize 18, UUID, ref frames 1, 3 NAL units.
        assert_eq!(&b[54..59], &[0x00, 21, 0x06, 5, 18]);
        assert_eq!(&b[59..75], &BITSTREAM_INFO_UUID);
        assert_eq!(&b[75..], &[1, 3]);
    }

    #[test]
    fn pacsi_round_trips_with_and_without_optional_fields() {
        let p = Pacsi::for_access_unit(false, 0xbeef, layer(), 2);
        assert_eq!(Pacsi::parse(&p.build()).unwrap(), Pacsi { flags: FLAG_S | FLAG_T, ..p.clone() });
        let mut q = p;
        q.tl0 = Some((7, 0x1234));
        q.donc = None;
        q.layout = Some(StreamLayout { layer_presence: [0x01, 0, 0, 0, 0, 0, 0, 0x80], layers: vec![] });
        q.other = vec![vec![0x06, 1, 1, 0, 0x80]];
        let back = Pacsi::parse(&q.build()).unwrap();
        assert_eq!(back, Pacsi { flags: FLAG_S | FLAG_Y, ..q });
    }

    #[test]
    fn two_layers_get_two_presence_bits_and_two_descriptions() {
        let mut hi = LayerDescription::base(1280, 720, 15, 1_500_000);
        hi.prid = 9;
        hi.base_layer = false;
        let layout = StreamLayout::full(vec![layer(), hi]);
        assert_eq!(layout.layer_presence, [0x01, 0x02, 0, 0, 0, 0, 0, 0]);
        let mut p = Pacsi::for_access_unit(true, 0, layer(), 1);
        p.layout = Some(layout.clone());
        assert_eq!(Pacsi::parse(&p.build()).unwrap().layout, Some(layout));
    }

    #[test]
    fn truncated_pacsi_is_an_error_not_a_panic() {
        let b = Pacsi::for_access_unit(true, 1, layer(), 3).build();
        // Cut at a unit boundary, a PACSI with fewer SEIs is still well formed.
        let whole: Vec<usize> = (0..b.len()).filter(|&cut| Pacsi::parse(&b[..cut]).is_ok()).collect();
        assert_eq!(whole, [7, 54]);
        assert_eq!(Pacsi::parse(&[0x41, 0]), Err(H264Error::Pacsi("not NAL unit type 30")));
    }

    #[test]
    fn fps_indices() {
        let idx: Vec<u8> = [7, 12, 13, 15, 25, 30, 50, 60].map(fps_index).to_vec();
        assert_eq!(idx, [0, 0, 1, 2, 3, 4, 5, 6]);
    }

    fn idr_payloads(max: usize) -> Vec<Vec<u8>> {
        payloads(&[nal(0x67, 15), nal(0x68, 5), nal(0x65, 3000)], max).unwrap()
    }

    #[test]
    fn insert_joins_the_first_stap_a_and_strip_gives_the_original_back() {
        let orig = idr_payloads(1200);
        let pacsi = Pacsi::for_access_unit(true, 0, layer(), nal_count(&orig)).build();
        assert_eq!(nal_count(&orig), 3);
        let with = insert(&orig, &pacsi, 1200).unwrap();
        assert_eq!(with.len(), orig.len(), "PACSI aggregated, no extra packet");
        assert!(starts_with_pacsi(&with) && !starts_with_pacsi(&orig));
        let late = build_stap_a(&[nal(0x67, 15), pacsi.clone()]);
        assert!(!starts_with_pacsi(&[late]), "a PACSI second in a STAP-A is not first (MS-H264PF §2.2.4)");
        let Ok(Payload::StapA(units)) = packetize::parse(&with[0]) else { panic!("not a STAP-A") };
        assert_eq!(units.len(), 3);
        assert_eq!(units[0], &pacsi[..]);
        assert_eq!(&with[1..], &orig[1..], "FU-A fragments untouched");
        assert_eq!(insert(&with, &pacsi, 1200).unwrap(), with, "a second insert changes nothing");
        assert_eq!(strip(&with), orig);
    }

    #[test]
    fn insert_before_a_single_unit_or_fragment_and_strip_back() {
        let pacsi = Pacsi::for_access_unit(false, 0, layer(), 1).build();
        let single = vec![nal(0x41, 800)];
        let with = insert(&single, &pacsi, 1200).unwrap();
        assert_eq!(with.len(), 1);
        assert_eq!(strip(&with), single);

        let big = vec![nal(0x41, 1150)]; // PACSI + 1150 does not fit one STAP-A
        let with = insert(&big, &pacsi, 1200).unwrap();
        assert_eq!(with, vec![pacsi.clone(), big[0].clone()]);
        assert_eq!(strip(&with), big);

        let fragments = payloads(&[nal(0x41, 2000)], 1200).unwrap();
        let with = insert(&fragments, &pacsi, 1200).unwrap();
        assert_eq!(with.len(), 3);
        assert_eq!(with.last(), fragments.last(), "the marker packet stays last");
        assert_eq!(strip(&with), fragments);
    }

    #[test]
    fn insert_refuses_a_non_pacsi_or_one_too_large() {
        assert!(insert(&idr_payloads(1200), &nal(0x41, 10), 1200).is_err());
        let pacsi = Pacsi::for_access_unit(false, 0, layer(), 1).build();
        assert!(matches!(insert(&[nal(0x41, 10)], &pacsi, 50), Err(H264Error::TooLarge { .. })));
    }

    #[test]
    fn strip_passes_what_it_cannot_read() {
        let odd = vec![vec![0x78, 0, 9, 1], vec![]];
        assert_eq!(strip(&odd), odd);
    }
}
