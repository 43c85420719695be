//! Receiving side: RTP packets of one H.264 stream in, access units and a conformance summary
//! out (sans-IO: [`VideoReceiver::on_packet`] then [`VideoReceiver::poll_frame`]).
//!
//! Packets are grouped into access units by RTP timestamp (RFC 6184 §5.1: every packet of an
//! access unit carries its timestamp) and ordered by sequence number inside one, so reordering
//! inside an access unit, or across the boundary of two, is undone. At most [`OPEN_UNITS`]
//! access units are open; a packet of a newer timestamp closes the oldest, and a packet of an
//! already closed timestamp is counted late and dropped. [`VideoReceiver::finish`] closes the
//! rest at the end of a capture.
//!
//! Closing an access unit de-aggregates STAP-A and reassembles FU-A (RFC 6184 §5.7.1, §5.8)
//! and judges it: a fragment without its start, a sequence gap between fragments (a lost
//! middle), a start or a non-FU packet while a unit is unfinished (a lost end, or fragments of
//! two units interleaved) and a type or NRI change between fragments are FU-A integrity
//! errors, one per broken unit. The marker must be on the last packet of the access unit and
//! on no other (MS-RTPME §2.2.1). The receiver locks onto the first SSRC and counts others, as
//! a Lync receiver does (MS-RTPME §3.1.5, PROTOCOL.md §3.1).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use crate::media::rtp::{RtpHeader, Ssrc};

use super::nal::{NalHeader, NalType};
use super::packetize::{self, Payload};

/// Access units kept open at once: enough to undo reordering across one frame boundary.
pub const OPEN_UNITS: usize = 2;
/// Closed timestamps remembered to recognise late packets.
const CLOSED_MEMORY: usize = 16;

/// One received access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Its RTP timestamp.
    pub timestamp: u32,
    /// The NAL units recovered, in decoding order (broken FU-A units left out).
    pub nals: Vec<Vec<u8>>,
    /// No packet missing or malformed, no FU-A error, marker right.
    pub complete: bool,
}

impl Frame {
    /// Whether the access unit holds an IDR slice.
    pub fn is_idr(&self) -> bool {
        self.nals.iter().any(|n| NalHeader::from_byte(n[0]).nal_type == NalType::IDR)
    }

    /// Whether its first NAL unit is a PACSI (MS-H264PF §2.2.4).
    pub fn starts_with_pacsi(&self) -> bool {
        self.nals.first().is_some_and(|n| NalHeader::from_byte(n[0]).nal_type == NalType::PACSI)
    }
}

/// FU-A integrity errors by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FuErrors {
    /// A middle or end fragment with no start before it.
    pub missing_start: u64,
    /// A sequence gap between fragments of one unit.
    pub missing_fragment: u64,
    /// A unit never ended: the access unit closed, or another packet came, before the end.
    pub missing_end: u64,
    /// Fragments of one unit disagree on type or NRI.
    pub mixed: u64,
}

impl FuErrors {
    /// All kinds together.
    pub fn total(&self) -> u64 {
        self.missing_start + self.missing_fragment + self.missing_end + self.mixed
    }
}

/// An access unit being collected.
#[derive(Debug)]
struct Open {
    timestamp: u32,
    first_seq: u16,
    /// Offset from `first_seq` (signed, so reordering before the first packet works) → packet.
    packets: BTreeMap<i32, (bool, Vec<u8>)>,
}

/// FU-A reassembly state inside one access unit.
#[derive(Debug)]
enum Fu {
    Idle,
    Building {
        header: NalHeader,
        bytes: Vec<u8>,
        last: i32,
    },
    /// After an error: swallow the broken unit's remaining fragments without counting again.
    Discarding,
}

/// Reassembles one SSRC's H.264 access units and keeps the statistics of [`VideoSummary`].
#[derive(Debug, Default)]
pub struct VideoReceiver {
    ssrc: Option<Ssrc>,
    open: Vec<Open>,
    closed: VecDeque<u32>,
    /// Last sequence number of the last closed access unit and whether it carried the marker.
    last_closed: Option<(u16, bool)>,
    frames: VecDeque<Frame>,
    s: VideoSummary,
}

impl VideoReceiver {
    /// A receiver that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The SSRC the receiver locked onto (the first one seen).
    pub fn ssrc(&self) -> Option<Ssrc> {
        self.ssrc
    }

    /// Takes one packet, in order of arrival.
    pub fn on_packet(&mut self, header: &RtpHeader, payload: &[u8]) {
        match self.ssrc {
            None => self.ssrc = Some(header.ssrc),
            Some(s) if s != header.ssrc => {
                self.s.other_ssrc_packets += 1;
                return;
            }
            Some(_) => {}
        }
        self.s.packets += 1;
        if self.closed.contains(&header.timestamp) {
            self.s.late += 1;
            return;
        }
        let i = match self.open.iter().position(|o| o.timestamp == header.timestamp) {
            Some(i) => i,
            None => {
                if self.open.len() == OPEN_UNITS {
                    let oldest = self.open.remove(0);
                    self.close(oldest);
                }
                self.open.push(Open { timestamp: header.timestamp, first_seq: header.seq, packets: BTreeMap::new() });
                self.open.len() - 1
            }
        };
        let au = &mut self.open[i];
        let offset = i32::from(header.seq.wrapping_sub(au.first_seq) as i16);
        if au.packets.insert(offset, (header.marker, payload.to_vec())).is_some() {
            self.s.duplicates += 1;
        }
    }

    /// Closes every open access unit (end of stream or of a capture).
    pub fn finish(&mut self) {
        for au in std::mem::take(&mut self.open) {
            self.close(au);
        }
    }

    /// The next closed access unit, in closing order.
    pub fn poll_frame(&mut self) -> Option<Frame> {
        self.frames.pop_front()
    }

    /// What the stream looked like so far (open access units not included).
    pub fn summary(&self) -> VideoSummary {
        self.s.clone()
    }

    fn close(&mut self, au: Open) {
        self.closed.push_back(au.timestamp);
        if self.closed.len() > CLOSED_MEMORY {
            self.closed.pop_front();
        }
        let s = &mut self.s;
        s.frames += 1;
        let mut complete = true;

        // Packets missing between the previous access unit and this one belong to this one
        // when the previous ended with its marker; otherwise they were the previous one's tail.
        let (&first_off, _) = au.packets.first_key_value().expect("an open unit has a packet");
        let first_seq = au.first_seq.wrapping_add(first_off as u16);
        if let Some((last_seq, marked)) = self.last_closed {
            let gap = u64::from(first_seq.wrapping_sub(last_seq).wrapping_sub(1));
            // A gap "backwards" (≥ 2^15) is reordering across closed units, not loss.
            if gap > 0 && gap < 0x8000 {
                s.lost += gap;
                if marked {
                    complete = false;
                }
            }
        }

        let last_off = *au.packets.keys().next_back().expect("an open unit has a packet");
        let markers: Vec<i32> = au.packets.iter().filter(|(_, (m, _))| *m).map(|(o, _)| *o).collect();
        if markers != [last_off] {
            s.marker_violations += 1;
            complete = false;
        }
        self.last_closed = Some((au.first_seq.wrapping_add(last_off as u16), markers.contains(&last_off)));

        let mut nals: Vec<Vec<u8>> = Vec::new();
        let mut fu = Fu::Idle;
        let mut prev: Option<i32> = None;
        for (&off, (_, payload)) in &au.packets {
            if let Some(p) = prev
                && off != p + 1
            {
                s.lost += (off - p - 1) as u64;
                complete = false;
            }
            prev = Some(off);
            let Ok(parsed) = packetize::parse(payload) else {
                s.malformed += 1;
                complete = false;
                continue;
            };
            match parsed {
                Payload::Single(nal) => {
                    s.single += 1;
                    end_unfinished(&mut fu, s, &mut complete);
                    nals.push(nal.to_vec());
                }
                Payload::StapA(units) => {
                    s.stap_a += 1;
                    end_unfinished(&mut fu, s, &mut complete);
                    nals.extend(units.into_iter().map(<[u8]>::to_vec));
                }
                Payload::FuA { indicator, header, data } => {
                    s.fu_a += 1;
                    let nal_header = Payload::fu_nal_header(indicator, header);
                    if header.start {
                        end_unfinished(&mut fu, s, &mut complete);
                        let mut bytes = vec![nal_header.to_byte()];
                        bytes.extend_from_slice(data);
                        fu = Fu::Building { header: nal_header, bytes, last: off };
                        continue;
                    }
                    fu = match std::mem::replace(&mut fu, Fu::Idle) {
                        Fu::Idle => {
                            s.fu_errors.missing_start += 1;
                            complete = false;
                            if header.end { Fu::Idle } else { Fu::Discarding }
                        }
                        Fu::Discarding if header.end => Fu::Idle,
                        Fu::Discarding => Fu::Discarding,
                        Fu::Building { last, .. } if off != last + 1 => {
                            s.fu_errors.missing_fragment += 1;
                            complete = false;
                            if header.end { Fu::Idle } else { Fu::Discarding }
                        }
                        Fu::Building { header: h, .. } if h != nal_header => {
                            s.fu_errors.mixed += 1;
                            complete = false;
                            if header.end { Fu::Idle } else { Fu::Discarding }
                        }
                        Fu::Building { header: h, mut bytes, .. } => {
                            bytes.extend_from_slice(data);
                            if header.end {
                                nals.push(bytes);
                                Fu::Idle
                            } else {
                                Fu::Building { header: h, bytes, last: off }
                            }
                        }
                    };
                }
            }
        }
        end_unfinished(&mut fu, s, &mut complete);

        for (i, n) in nals.iter().enumerate() {
            let t = NalHeader::from_byte(n[0]).nal_type;
            *s.nal_types.entry(t.0).or_default() += 1;
            if t == NalType::PACSI && i > 0 {
                s.pacsi_misplaced += 1;
            }
        }
        let frame = Frame { timestamp: au.timestamp, nals, complete: complete && !au.packets.is_empty() };
        if frame.starts_with_pacsi() {
            s.pacsi_frames += 1;
        }
        if frame.complete {
            s.complete += 1;
            if frame.is_idr() {
                s.idr += 1;
            }
        }
        self.frames.push_back(frame);
    }
}

/// A non-FU packet or the end of the access unit arrived: a unit still being built lost its end.
fn end_unfinished(fu: &mut Fu, s: &mut VideoSummary, complete: &mut bool) {
    if let Fu::Building { .. } = fu {
        s.fu_errors.missing_end += 1;
        *complete = false;
    }
    *fu = Fu::Idle;
}

/// What an H.264 stream looked like, with nothing that depends on timing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VideoSummary {
    /// Packets of the locked SSRC.
    pub packets: u64,
    /// Access units closed.
    pub frames: u64,
    /// Access units complete (see [`Frame::complete`]).
    pub complete: u64,
    /// Complete access units holding an IDR slice.
    pub idr: u64,
    /// NAL units recovered, by type.
    pub nal_types: BTreeMap<u8, u64>,
    /// Single NAL unit packets.
    pub single: u64,
    /// STAP-A packets.
    pub stap_a: u64,
    /// FU-A packets.
    pub fu_a: u64,
    /// Access units whose first NAL unit is a PACSI.
    pub pacsi_frames: u64,
    /// PACSI units found elsewhere than first.
    pub pacsi_misplaced: u64,
    /// Access units whose marker is not exactly on their last packet.
    pub marker_violations: u64,
    /// FU-A integrity errors.
    pub fu_errors: FuErrors,
    /// Sequence numbers missing.
    pub lost: u64,
    /// Packets received twice.
    pub duplicates: u64,
    /// Packets of an access unit already closed.
    pub late: u64,
    /// Payloads that did not parse (truncated STAP-A, STAP-B, FU-A with S and E, …).
    pub malformed: u64,
    /// Packets of another SSRC than the first, ignored.
    pub other_ssrc_packets: u64,
}

/// One stable line, e.g.
/// `frames 30 complete 30 idr 1 nal {1:29,5:1,7:1,8:1} pkts 36 (single 29 stap-a 1 fu-a 6) pacsi none marker ok fu-a ok`;
/// loss, duplicates, late, malformed and other-SSRC counts follow only when not zero.
impl fmt::Display for VideoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "frames {} complete {} idr {} nal {{", self.frames, self.complete, self.idr)?;
        for (i, (t, n)) in self.nal_types.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{t}:{n}")?;
        }
        write!(
            f,
            "}} pkts {} (single {} stap-a {} fu-a {}) pacsi ",
            self.packets, self.single, self.stap_a, self.fu_a
        )?;
        match self.pacsi_frames {
            0 => f.write_str("none")?,
            n if n == self.frames => f.write_str("all")?,
            n => write!(f, "some {n}/{}", self.frames)?,
        }
        if self.pacsi_misplaced > 0 {
            write!(f, " misplaced {}", self.pacsi_misplaced)?;
        }
        match self.marker_violations {
            0 => f.write_str(" marker ok")?,
            n => write!(f, " marker bad {n}")?,
        }
        match self.fu_errors.total() {
            0 => f.write_str(" fu-a ok")?,
            n => write!(f, " fu-a errors {n}")?,
        }
        for (name, n) in [
            ("lost", self.lost),
            ("dup", self.duplicates),
            ("late", self.late),
            ("malformed", self.malformed),
            ("other-ssrc", self.other_ssrc_packets),
        ] {
            if n > 0 {
                write!(f, " {name} {n}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::h264::packetize::Packetizer;
    use crate::media::h264::pacsi::LayerDescription;
    use crate::media::h264::source::{AccessUnit, VideoConfig, VideoSource};
    use crate::media::rtp;

    const MTU: usize = 1200;

    fn config() -> VideoConfig {
        VideoConfig { width: 640, height: 360, fps: 30, gop: 10, seed: 5 }
    }

    /// `n` access units packetised: (the units, their RTP packets per unit).
    fn stream(n: usize, lync: bool) -> (Vec<AccessUnit>, Vec<Vec<Vec<u8>>>) {
        let mut p = Packetizer::new(122, Ssrc(0xabc), 100, MTU);
        if lync {
            p = p.with_pacsi(LayerDescription::base(640, 360, 30, 500_000));
        }
        let aus: Vec<AccessUnit> = VideoSource::new(config()).take(n).collect();
        let packets = aus.iter().map(|au| p.packetize(au, 1000 + au.timestamp_offset).unwrap()).collect();
        (aus, packets)
    }

    fn receive(packets: impl IntoIterator<Item = Vec<u8>>) -> (VideoReceiver, Vec<Frame>) {
        let mut r = VideoReceiver::new();
        for b in packets {
            let (h, range) = rtp::parse(&b).unwrap();
            r.on_packet(&h, &b[range]);
        }
        r.finish();
        let frames = std::iter::from_fn(|| r.poll_frame()).collect();
        (r, frames)
    }

    #[test]
    fn a_clean_stream_reassembles_to_the_source_units() {
        let (aus, packets) = stream(20, false);
        let (r, frames) = receive(packets.into_iter().flatten());
        assert_eq!(frames.len(), 20);
        for (au, f) in aus.iter().zip(&frames) {
            assert!(f.complete);
            assert_eq!(f.nals, au.nals);
            assert_eq!(f.timestamp, 1000 + au.timestamp_offset);
        }
        let s = r.summary();
        assert_eq!((s.frames, s.complete, s.idr), (20, 20, 2));
        assert_eq!(s.nal_types, BTreeMap::from([(1, 18), (5, 2), (7, 2), (8, 2)]));
        assert_eq!(r.ssrc(), Some(Ssrc(0xabc)));
        let line = s.to_string();
        assert!(line.starts_with("frames 20 complete 20 idr 2 nal {1:18,5:2,7:2,8:2} pkts "), "{line}");
        assert!(line.ends_with(" pacsi none marker ok fu-a ok"), "{line}");
    }

    #[test]
    fn lync_form_has_pacsi_on_every_frame_and_stripping_makes_the_plain_form() {
        let (aus, packets) = stream(12, true);
        let (r, frames) = receive(packets.iter().flatten().cloned());
        let s = r.summary();
        assert_eq!((s.complete, s.pacsi_frames, s.nal_types[&30]), (12, 12, 12));
        assert!(s.to_string().contains(" pacsi all marker ok fu-a ok"), "{s}");
        for (au, f) in aus.iter().zip(&frames) {
            assert_eq!(f.nals[1..], au.nals[..]);
        }
        // Half the units stripped: "some".
        let mixed = packets.iter().enumerate().flat_map(|(i, pk)| {
            if i % 2 == 1 {
                return pk.clone();
            }
            let hs: Vec<RtpHeader> = pk.iter().map(|b| rtp::parse(b).unwrap().0).collect();
            let pl: Vec<Vec<u8>> = pk.iter().map(|b| b[rtp::parse(b).unwrap().1].to_vec()).collect();
            let stripped = crate::media::h264::pacsi::strip(&pl);
            let last = stripped.len() - 1;
            stripped
                .iter()
                .enumerate()
                .map(|(j, p)| {
                    rtp::build(&RtpHeader { marker: j == last, seq: hs[0].seq + j as u16, ..hs[0].clone() }, p).unwrap()
                })
                .collect()
        });
        let (r, _) = receive(mixed);
        let s = r.summary();
        assert!(s.to_string().contains(" pacsi some 6/12 marker ok fu-a ok"), "{s}");
    }

    /// The packets of an IDR unit: STAP-A, then FU-A fragments.
    fn idr_packets() -> Vec<Vec<u8>> {
        let (_, packets) = stream(1, false);
        assert!(packets[0].len() >= 5, "IDR spans several fragments");
        packets[0].clone()
    }

    #[test]
    fn a_dropped_middle_fragment_is_one_fu_a_error_and_an_incomplete_frame() {
        let mut p = idr_packets();
        p.remove(2);
        let (r, frames) = receive(p);
        let s = r.summary();
        assert_eq!(s.fu_errors, FuErrors { missing_fragment: 1, ..FuErrors::default() });
        assert_eq!((s.frames, s.complete, s.lost), (1, 0, 1));
        assert!(!frames[0].complete);
        assert_eq!(frames[0].nals.len(), 2, "SPS and PPS survive, the IDR slice does not");
        assert!(s.to_string().contains("marker ok fu-a errors 1 lost 1"), "{s}");
    }

    #[test]
    fn missing_start_and_missing_end_are_told_apart() {
        let mut p = idr_packets();
        p.remove(1); // the start fragment
        let s = receive(p).0.summary();
        assert_eq!(s.fu_errors, FuErrors { missing_start: 1, ..FuErrors::default() });

        let mut p = idr_packets();
        let last = p.len() - 1;
        p.remove(last); // the end fragment, which also carries the marker
        let s = receive(p).0.summary();
        assert_eq!(s.fu_errors, FuErrors { missing_end: 1, ..FuErrors::default() });
        assert_eq!(s.marker_violations, 1);
    }

    #[test]
    fn interleaved_and_mixed_fragments_are_errors() {
        let h = |seq: u16, marker: bool| RtpHeader {
            pt: 122,
            marker,
            seq,
            timestamp: 7,
            ssrc: Ssrc(1),
            ..RtpHeader::default()
        };
        let mut r = VideoReceiver::new();
        r.on_packet(&h(1, false), &[0x7c, 0x85, 1]); // start of IDR
        r.on_packet(&h(2, false), &[0x7c, 0x81, 2]); // start of non-IDR: IDR lost its end
        r.on_packet(&h(3, false), &[0x7c, 0x05, 3]); // middle claiming IDR: mixed
        r.on_packet(&h(4, true), &[0x7c, 0x45, 4]); // its end: swallowed, not counted again
        r.finish();
        assert_eq!(r.summary().fu_errors, FuErrors { missing_end: 1, mixed: 1, ..FuErrors::default() });
        assert!(r.summary().nal_types.is_empty());
    }

    #[test]
    fn reordered_packets_within_and_across_units_are_put_back_in_order() {
        let (aus, packets) = stream(3, false);
        let mut order: Vec<Vec<u8>> = packets.iter().flatten().cloned().collect();
        order.swap(1, 3); // inside the IDR unit
        let n0 = packets[0].len();
        order.swap(n0 - 1, n0); // the IDR's marker packet after the next unit's first
        let (r, frames) = receive(order);
        let s = r.summary();
        assert_eq!((s.frames, s.complete, s.lost, s.late), (3, 3, 0, 0), "{s}");
        assert_eq!(s.marker_violations, 0);
        for (au, f) in aus.iter().zip(&frames) {
            assert_eq!(f.nals, au.nals);
        }
    }

    #[test]
    fn misplaced_markers_duplicates_late_packets_and_other_ssrcs_are_counted() {
        let (_, packets) = stream(4, false);
        let mut all: Vec<Vec<u8>> = packets.iter().flatten().cloned().collect();
        rtp::set_marker(&mut all[0], true).unwrap(); // marker on the STAP-A too
        let dup = all[1].clone();
        all.insert(2, dup);
        let late = all[0].clone(); // after three newer units have closed the first
        let mut foreign = all[3].clone();
        rtp::set_ssrc(&mut foreign, Ssrc(0xdead)).unwrap();
        all.push(late);
        all.push(foreign);
        let s = receive(all).0.summary();
        assert_eq!((s.marker_violations, s.duplicates, s.late, s.other_ssrc_packets), (1, 1, 1, 1), "{s}");
        assert!(s.to_string().ends_with("marker bad 1 fu-a ok dup 1 late 1 other-ssrc 1"), "{s}");
    }

    #[test]
    fn loss_between_units_marks_the_unit_it_belongs_to() {
        let (_, packets) = stream(3, false);
        // The second unit vanishes whole.
        let all = packets[0].iter().chain(&packets[2]).cloned();
        let (r, frames) = receive(all);
        let s = r.summary();
        // Its packets are lost; the third is judged incomplete (they could have been its
        // first), the first is fine.
        assert_eq!((s.frames, s.complete, s.lost), (2, 1, packets[1].len() as u64), "{s}");
        assert!(frames[0].complete && !frames[1].complete);
    }

    #[test]
    fn malformed_payloads_are_counted_not_fatal() {
        let h = RtpHeader { pt: 122, marker: true, seq: 9, timestamp: 1, ssrc: Ssrc(1), ..RtpHeader::default() };
        let mut r = VideoReceiver::new();
        r.on_packet(&h, &[0x78, 0x00]); // truncated STAP-A
        r.finish();
        let s = r.summary();
        assert_eq!((s.malformed, s.complete), (1, 0));
        assert!(s.to_string().contains("nal {}"), "{s}");
    }
}
