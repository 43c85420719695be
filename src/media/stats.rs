//! Per-stream receive statistics, fed packet by packet (sans-IO: the caller passes the arrival
//! time as a [`Duration`] since any fixed origin of its choosing).
//!
//! Sequence bookkeeping follows RFC 3550 Appendix A.1 (cycles, `MAX_DROPOUT`, `MAX_MISORDER`,
//! resynchronisation after two sequential packets past a big jump) without the probation
//! period, since the harness wants the first packet counted; loss and the RR fields follow
//! A.3, jitter A.8. Beyond the RFC it counts what a conformance trace needs (PROTOCOL.md §3):
//! duplicates, late packets, timestamp steps against the expected samples per packet, SSRC
//! changes and range, payload types and markers. [`Summary`] renders one timing-free line for
//! the canonical trace; jitter lives beside it in [`ReceiveStats::jitter`].
//!
//! Loss counts *unique* packets (duplicates do not hide loss, unlike the RFC's plain count),
//! so cumulative loss is never negative.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use super::rtcp::{ReportBlock, ntp_middle32};
use super::rtp::{RtpHeader, Ssrc, SsrcRange};

/// RFC 3550 A.1 constants.
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const SEQ_MOD: u64 = 1 << 16;
/// How far behind the highest sequence number duplicates are still recognised.
const DUP_WINDOW: u64 = 1024;

/// What the receiver knows about the stream in advance (from SDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// RTP clock rate of the stream's codec, for jitter.
    pub clock_rate: u32,
    /// Expected timestamp step per packet (e.g. 160 for 20 ms at 8000 Hz); `None` skips the
    /// timestamp continuity check (video, where several packets share a timestamp).
    pub samples_per_packet: Option<u32>,
    /// The telephone-event payload type, counted apart from the audio.
    pub dtmf_pt: Option<u8>,
    /// The declared `x-ssrc-range`, if any.
    pub ssrc_range: Option<SsrcRange>,
}

/// RFC 3550 A.1 sequence state of one run of a source.
#[derive(Debug, Clone, Copy)]
struct SeqState {
    /// Extended sequence number of the first packet.
    base: u64,
    max_seq: u16,
    /// Sequence number cycles, already multiplied by 2^16.
    cycles: u64,
    /// The sequence number that would confirm a big jump.
    bad_seq: Option<u16>,
    /// Unique packets counted in this run.
    received: u64,
}

impl SeqState {
    fn new(seq: u16) -> Self {
        Self { base: u64::from(seq), max_seq: seq, cycles: 0, bad_seq: None, received: 0 }
    }

    fn ext_max(&self) -> u64 {
        self.cycles + u64::from(self.max_seq)
    }

    fn expected(&self) -> u64 {
        // ext_max never falls below base (it only advances); saturate anyway, as a guard.
        (self.ext_max() + 1).saturating_sub(self.base)
    }
}

/// Where a packet fell in the sequence.
enum Placement {
    /// Advances the highest sequence number; `skipped` numbers were jumped over.
    InOrder { ext: u64, skipped: u64 },
    /// Behind the highest sequence number and not seen before.
    Late,
    /// Seen before.
    Duplicate,
    /// A big jump not (yet) confirmed; A.1 discards it.
    Stray,
    /// A confirmed big jump: a new run starts here.
    Restart,
}

/// Receive statistics of one stream.
#[derive(Debug, Clone)]
pub struct ReceiveStats {
    config: StreamConfig,
    packets: u64,
    octets: u64,
    dtmf_packets: u64,
    run: Option<SeqState>,
    /// Expected and received of runs closed by a restart or SSRC change.
    closed_expected: u64,
    closed_received: u64,
    seen: BTreeSet<u64>,
    duplicates: u64,
    reordered: u64,
    gaps: u64,
    seq_jumps: u64,
    strays: u64,
    /// Last in-order audio packet: extended seq and timestamp; cleared by DTMF.
    last_audio: Option<(u64, u32)>,
    ts_discontinuities: u64,
    /// Timestamp and marker of the last in-order packet, for frame boundaries.
    last_in_order: Option<(u32, bool)>,
    ts_changes: u64,
    markers_at_frame_end: u64,
    transit: Option<u32>,
    jitter: f64,
    first_ssrc: Option<Ssrc>,
    ssrc: Option<Ssrc>,
    ssrc_changes: Vec<u64>,
    ssrcs_out_of_range: u64,
    pts: Vec<u8>,
    marker_indices: Vec<u64>,
    report_expected: u64,
    report_received: u64,
    last_sr: Option<(u32, Duration)>,
}

impl ReceiveStats {
    /// A receiver that has seen nothing yet.
    pub fn new(config: StreamConfig) -> Self {
        Self {
            config,
            packets: 0,
            octets: 0,
            dtmf_packets: 0,
            run: None,
            closed_expected: 0,
            closed_received: 0,
            seen: BTreeSet::new(),
            duplicates: 0,
            reordered: 0,
            gaps: 0,
            seq_jumps: 0,
            strays: 0,
            last_audio: None,
            ts_discontinuities: 0,
            last_in_order: None,
            ts_changes: 0,
            markers_at_frame_end: 0,
            transit: None,
            jitter: 0.0,
            first_ssrc: None,
            ssrc: None,
            ssrc_changes: Vec::new(),
            ssrcs_out_of_range: 0,
            pts: Vec::new(),
            marker_indices: Vec::new(),
            report_expected: 0,
            report_received: 0,
            last_sr: None,
        }
    }

    /// Counts one received packet: its parsed header, payload length and arrival time.
    pub fn on_packet(&mut self, header: &RtpHeader, payload_len: usize, arrival: Duration) {
        let index = self.packets;
        self.packets += 1;
        self.octets += payload_len as u64;
        if !self.pts.contains(&header.pt) {
            self.pts.push(header.pt);
        }
        if header.marker {
            self.marker_indices.push(index);
        }
        let is_dtmf = self.config.dtmf_pt == Some(header.pt);
        if is_dtmf {
            self.dtmf_packets += 1;
        }
        self.track_ssrc(header.ssrc, index);

        match self.place(header.seq) {
            Placement::Duplicate => {
                self.duplicates += 1;
                return;
            }
            Placement::Stray => {
                self.strays += 1;
                return;
            }
            Placement::Late => self.reordered += 1,
            Placement::Restart => {
                self.seq_jumps += 1;
                self.last_audio = None;
                self.last_in_order = None;
                self.in_order(header, u64::from(header.seq), is_dtmf);
            }
            Placement::InOrder { ext, skipped } => {
                if skipped > 0 {
                    self.gaps += 1;
                }
                self.in_order(header, ext, is_dtmf);
            }
        }
        if !is_dtmf {
            // A telephone-event keeps one timestamp for the whole event: leave it out of jitter.
            self.update_jitter(header.timestamp, arrival);
        }
    }

    /// Notes an SR from the stream's sender, for LSR/DLSR in the next report block.
    pub fn on_sender_report(&mut self, ntp: u64, arrival: Duration) {
        self.last_sr = Some((ntp_middle32(ntp), arrival));
    }

    fn track_ssrc(&mut self, ssrc: Ssrc, index: u64) {
        match self.ssrc {
            None => self.first_ssrc = Some(ssrc),
            Some(old) if old != ssrc => {
                // A new source has its own sequence and timestamp spaces.
                self.ssrc_changes.push(index);
                self.close_run();
                self.transit = None;
                self.last_audio = None;
                self.last_in_order = None;
            }
            Some(_) => {}
        }
        self.ssrc = Some(ssrc);
        if let Some(range) = self.config.ssrc_range
            && !range.contains(ssrc)
        {
            self.ssrcs_out_of_range += 1;
        }
    }

    fn close_run(&mut self) {
        if let Some(run) = self.run.take() {
            self.closed_expected += run.expected();
            self.closed_received += run.received;
        }
        self.seen.clear();
    }

    /// RFC 3550 A.1 `update_seq`, plus duplicate detection.
    fn place(&mut self, seq: u16) -> Placement {
        let Some(run) = self.run.as_mut() else {
            let mut run = SeqState::new(seq);
            run.received = 1;
            self.run = Some(run);
            self.seen.insert(u64::from(seq));
            return Placement::InOrder { ext: u64::from(seq), skipped: 0 };
        };
        let udelta = seq.wrapping_sub(run.max_seq);
        if udelta == 0 {
            return Placement::Duplicate;
        }
        if udelta < MAX_DROPOUT {
            if seq < run.max_seq {
                run.cycles += SEQ_MOD;
            }
            run.max_seq = seq;
            run.bad_seq = None;
            run.received += 1;
            let ext = run.ext_max();
            self.seen.insert(ext);
            let floor = ext.saturating_sub(DUP_WINDOW);
            self.seen = self.seen.split_off(&floor);
            return Placement::InOrder { ext, skipped: u64::from(udelta - 1) };
        }
        // A repeat from further back than the misorder bound is still a repeat: look it up
        // before taking the number for a jump, or a replayed packet would restart the run
        // and fake loss.
        let behind = run.max_seq.wrapping_sub(seq);
        if run.ext_max().checked_sub(u64::from(behind)).is_some_and(|e| self.seen.contains(&e)) {
            return Placement::Duplicate;
        }
        if udelta <= u16::MAX - MAX_MISORDER + 1 {
            if run.bad_seq == Some(seq) {
                // Two sequential packets after a jump: the sender restarted; so do we.
                self.close_run();
                let mut fresh = SeqState::new(seq);
                fresh.received = 1;
                self.run = Some(fresh);
                self.seen.insert(u64::from(seq));
                return Placement::Restart;
            }
            run.bad_seq = Some(seq.wrapping_add(1));
            return Placement::Stray;
        }
        // Behind the highest sequence number: late or duplicate.
        let ext = if seq <= run.max_seq {
            Some(run.cycles + u64::from(seq))
        } else {
            (run.cycles + u64::from(seq)).checked_sub(SEQ_MOD)
        };
        match ext {
            Some(ext) if ext >= run.base => {
                if !self.seen.insert(ext) {
                    return Placement::Duplicate;
                }
                run.received += 1;
                Placement::Late
            }
            // Older than the first packet: outside this run's expected range.
            _ => Placement::Late,
        }
    }

    fn in_order(&mut self, header: &RtpHeader, ext: u64, is_dtmf: bool) {
        if let Some((ts, marker)) = self.last_in_order
            && ts != header.timestamp
        {
            self.ts_changes += 1;
            if marker {
                self.markers_at_frame_end += 1;
            }
        }
        self.last_in_order = Some((header.timestamp, header.marker));

        if is_dtmf {
            // Audio after an event may resume at any timestamp: do not judge that step.
            self.last_audio = None;
            return;
        }
        if let (Some(spp), Some((last_ext, last_ts))) = (self.config.samples_per_packet, self.last_audio) {
            let expected = ((ext - last_ext) as u32).wrapping_mul(spp);
            let actual = header.timestamp.wrapping_sub(last_ts);
            // A marker starts a talkspurt: a forward jump over the silence is fine.
            let after_silence = header.marker && (actual.wrapping_sub(expected) as i32) > 0;
            if actual != expected && !after_silence {
                self.ts_discontinuities += 1;
            }
        }
        self.last_audio = Some((ext, header.timestamp));
    }

    /// RFC 3550 A.8.
    fn update_jitter(&mut self, timestamp: u32, arrival: Duration) {
        let units = arrival.as_nanos() * u128::from(self.config.clock_rate) / 1_000_000_000;
        // Only differences matter, so wrapping to 32 bits is exact (as in the RFC's code).
        let transit = (units as u32).wrapping_sub(timestamp);
        if let Some(last) = self.transit {
            let d = f64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
    }

    /// Interarrival jitter in RTP timestamp units (RFC 3550 A.8).
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// Interarrival jitter converted to time using the stream's clock rate.
    pub fn jitter_duration(&self) -> Duration {
        if self.config.clock_rate == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.jitter / f64::from(self.config.clock_rate))
    }

    fn expected(&self) -> u64 {
        self.closed_expected + self.run.map_or(0, |r| r.expected())
    }

    fn received_unique(&self) -> u64 {
        self.closed_received + self.run.map_or(0, |r| r.received)
    }

    /// Packets missing from the sequence (unique packets, so never negative).
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received_unique())
    }

    /// Extended highest sequence number of the current run (cycles << 16 | max seq).
    pub fn ext_highest_seq(&self) -> u32 {
        self.run.map_or(0, |r| r.ext_max() as u32)
    }

    /// Packet indices (0-based, arrival order) where the SSRC changed.
    pub fn ssrc_changes(&self) -> &[u64] {
        &self.ssrc_changes
    }

    /// Packet indices with the marker bit set.
    pub fn marker_indices(&self) -> &[u64] {
        &self.marker_indices
    }

    /// The first SSRC seen.
    pub fn first_ssrc(&self) -> Option<Ssrc> {
        self.first_ssrc
    }

    /// Total payload octets.
    pub fn octets(&self) -> u64 {
        self.octets
    }

    /// An RR report block for the current source (RFC 3550 A.3); `now` is for DLSR. Resets the
    /// interval that `fraction_lost` covers. `None` before any packet.
    pub fn report_block(&mut self, now: Duration) -> Option<ReportBlock> {
        let ssrc = self.ssrc?;
        let expected = self.expected();
        let received = self.received_unique();
        let expected_interval = expected.saturating_sub(self.report_expected);
        let received_interval = received.saturating_sub(self.report_received);
        self.report_expected = expected;
        self.report_received = received;
        let lost_interval = expected_interval.saturating_sub(received_interval);
        let fraction_lost = ((lost_interval << 8).checked_div(expected_interval)).map_or(0, |f| f.min(255) as u8);
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => {
                let delay = now.saturating_sub(at);
                (lsr, (delay.as_nanos() * 65536 / 1_000_000_000) as u32)
            }
            None => (0, 0),
        };
        Some(ReportBlock {
            ssrc,
            fraction_lost,
            // 24-bit field; saturate rather than wrap.
            cumulative_lost: self.lost().min(0x7f_ffff) as u32,
            ext_highest_seq: self.ext_highest_seq(),
            jitter: self.jitter as u32,
            lsr,
            dlsr,
        })
    }

    /// The timing-free summary for the canonical trace.
    pub fn summary(&self) -> Summary {
        Summary {
            packets: self.packets,
            lost: self.lost(),
            duplicates: self.duplicates,
            reordered: self.reordered,
            gaps: self.gaps,
            seq_jumps: self.seq_jumps + self.strays,
            ts_checked: self.config.samples_per_packet.is_some(),
            ts_discontinuities: self.ts_discontinuities,
            ts_changes: self.ts_changes,
            ssrc_changes: self.ssrc_changes.len() as u64,
            ssrc_in_range: self.config.ssrc_range.map(|_| self.ssrcs_out_of_range == 0),
            payload_types: self.pts.clone(),
            dtmf_packets: self.dtmf_packets,
            marker_packets: self.marker_indices.len() as u64,
            markers_at_frame_end: self.markers_at_frame_end,
        }
    }
}

/// What a stream looked like, with nothing that depends on timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Packets received, duplicates included.
    pub packets: u64,
    /// Sequence numbers never received.
    pub lost: u64,
    /// Packets received more than once.
    pub duplicates: u64,
    /// Packets that arrived after a higher sequence number.
    pub reordered: u64,
    /// In-order arrivals that skipped sequence numbers (loss or reordering).
    pub gaps: u64,
    /// Big sequence jumps (RFC 3550 A.1 restarts and stray packets).
    pub seq_jumps: u64,
    /// Whether timestamp steps were checked (a samples-per-packet was configured).
    pub ts_checked: bool,
    /// Audio timestamp steps that did not match the sequence step (talkspurt starts and
    /// telephone-events excepted).
    pub ts_discontinuities: u64,
    /// In-order packets whose timestamp differs from the previous one (video: frame starts).
    pub ts_changes: u64,
    /// Times the SSRC changed.
    pub ssrc_changes: u64,
    /// Whether every packet's SSRC lay in the declared range; `None` without a range.
    pub ssrc_in_range: Option<bool>,
    /// Payload types in order of first appearance.
    pub payload_types: Vec<u8>,
    /// Telephone-event packets.
    pub dtmf_packets: u64,
    /// Packets with the marker bit.
    pub marker_packets: u64,
    /// Marker packets followed by a timestamp change (video: marker on a frame's last packet).
    pub markers_at_frame_end: u64,
}

/// One stable line, e.g. `pkts 50 lost 0 dup 0 reord 0 seq ok ts ok ssrc stable pt 104 marker 1`.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pkts {} lost {} dup {} reord {} seq ", self.packets, self.lost, self.duplicates, self.reordered)?;
        match (self.gaps, self.seq_jumps) {
            (0, 0) => f.write_str("ok")?,
            (g, 0) => write!(f, "gaps {g}")?,
            (0, j) => write!(f, "jumps {j}")?,
            (g, j) => write!(f, "gaps {g} jumps {j}")?,
        }
        match (self.ts_checked, self.ts_discontinuities) {
            (true, 0) => f.write_str(" ts ok")?,
            (true, n) => write!(f, " ts breaks {n}")?,
            (false, _) => write!(f, " ts changes {}", self.ts_changes)?,
        }
        match self.ssrc_changes {
            0 => f.write_str(" ssrc stable")?,
            n => write!(f, " ssrc changed {n}")?,
        }
        if self.ssrc_in_range == Some(false) {
            f.write_str(" out-of-range")?;
        }
        f.write_str(" pt ")?;
        if self.payload_types.is_empty() {
            f.write_str("-")?;
        }
        for (i, pt) in self.payload_types.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{pt}")?;
        }
        if self.dtmf_packets > 0 {
            write!(f, " dtmf {}", self.dtmf_packets)?;
        }
        write!(f, " marker {}", self.marker_packets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS20: Duration = Duration::from_millis(20);

    fn config() -> StreamConfig {
        StreamConfig { clock_rate: 8000, samples_per_packet: Some(160), dtmf_pt: Some(101), ssrc_range: None }
    }

    fn hdr(seq: u16, ts: u32) -> RtpHeader {
        RtpHeader { pt: 0, seq, timestamp: ts, ssrc: Ssrc(0x1111), ..RtpHeader::default() }
    }

    /// Feeds packets by (seq, index in the ideal stream) at 20 ms spacing of arrival order.
    fn feed(stats: &mut ReceiveStats, seqs: &[u16], first_seq: u16) {
        for (i, &seq) in seqs.iter().enumerate() {
            let n = u32::from(seq.wrapping_sub(first_seq));
            stats.on_packet(&hdr(seq, 1000 + n * 160), 160, MS20 * i as u32);
        }
    }

    #[test]
    fn clean_stream_summarises_as_ok() {
        let mut s = ReceiveStats::new(config());
        let seqs: Vec<u16> = (10..60).collect();
        feed(&mut s, &seqs, 10);
        assert_eq!(s.summary().to_string(), "pkts 50 lost 0 dup 0 reord 0 seq ok ts ok ssrc stable pt 0 marker 0");
        assert_eq!(s.jitter(), 0.0);
        assert_eq!(s.octets(), 8000);
    }

    #[test]
    fn sequence_wraps_at_65535_without_loss() {
        let mut s = ReceiveStats::new(config());
        let seqs: Vec<u16> = (0..10).map(|i| 65530u16.wrapping_add(i)).collect();
        feed(&mut s, &seqs, 65530);
        let sum = s.summary();
        assert_eq!((sum.lost, sum.gaps, sum.ts_discontinuities), (0, 0, 0));
        // 65530..=65535, then 0..=3 in the next cycle.
        assert_eq!(s.ext_highest_seq(), 0x0001_0003);
    }

    #[test]
    fn a_gap_counts_as_loss() {
        let mut s = ReceiveStats::new(config());
        feed(&mut s, &[1, 2, 3, 6, 7], 1);
        let sum = s.summary();
        assert_eq!((sum.lost, sum.gaps, sum.reordered), (2, 1, 0));
        assert!(sum.to_string().contains("lost 2 dup 0 reord 0 seq gaps 1 ts ok"));
    }

    #[test]
    fn duplicates_are_counted_and_do_not_hide_loss() {
        let mut s = ReceiveStats::new(config());
        feed(&mut s, &[1, 2, 2, 4, 2, 4], 1);
        let sum = s.summary();
        assert_eq!((sum.packets, sum.duplicates, sum.lost), (6, 3, 1));
    }

    #[test]
    fn a_repeat_from_far_behind_is_a_duplicate_not_a_jump() {
        let mut s = ReceiveStats::new(config());
        let mut seqs: Vec<u16> = (1..=300).collect();
        seqs.extend([100, 101, 301]);
        feed(&mut s, &seqs, 1);
        let sum = s.summary();
        assert_eq!((sum.duplicates, sum.lost, sum.gaps, sum.seq_jumps), (2, 0, 0, 0));
    }

    #[test]
    fn late_packets_are_reordered_and_fill_the_gap() {
        let mut s = ReceiveStats::new(config());
        feed(&mut s, &[1, 2, 4, 3, 5], 1);
        let sum = s.summary();
        assert_eq!((sum.reordered, sum.lost, sum.gaps, sum.duplicates), (1, 0, 1, 0));
        // The late packet is not a timestamp break: only in-order steps are judged.
        assert_eq!(sum.ts_discontinuities, 0);
    }

    #[test]
    fn late_packet_across_the_wrap_is_placed_in_the_previous_cycle() {
        let mut s = ReceiveStats::new(config());
        feed(&mut s, &[65534, 0, 65535, 1, 65535], 65534);
        let sum = s.summary();
        assert_eq!((sum.reordered, sum.duplicates, sum.lost), (1, 1, 0));
        assert_eq!(s.ext_highest_seq(), 0x0001_0001);
    }

    #[test]
    fn big_jump_restarts_after_two_sequential_packets() {
        let mut s = ReceiveStats::new(config());
        feed(&mut s, &[1, 2, 3], 1);
        // Renumbered by a broken relay: 20000, 20001 confirm the new run.
        s.on_packet(&hdr(20000, 1480), 160, MS20 * 3);
        s.on_packet(&hdr(20001, 1640), 160, MS20 * 4);
        s.on_packet(&hdr(20002, 1800), 160, MS20 * 5);
        let sum = s.summary();
        assert_eq!(sum.seq_jumps, 2, "one stray plus one restart");
        assert_eq!(sum.lost, 0);
        assert!(sum.to_string().contains("seq jumps 2"));
    }

    #[test]
    fn ssrc_change_is_detected_with_its_packet_index() {
        let mut s = ReceiveStats::new(config());
        feed(&mut s, &[1, 2, 3], 1);
        let mut h = hdr(500, 99);
        h.ssrc = Ssrc(0x2222);
        s.on_packet(&h, 160, MS20 * 3);
        h.seq = 501;
        h.timestamp = 259;
        s.on_packet(&h, 160, MS20 * 4);
        assert_eq!(s.ssrc_changes(), &[3]);
        assert_eq!(s.first_ssrc(), Some(Ssrc(0x1111)));
        let sum = s.summary();
        assert_eq!((sum.ssrc_changes, sum.lost, sum.ts_discontinuities), (1, 0, 0));
        assert!(sum.to_string().contains("ssrc changed 1 pt"));
    }

    #[test]
    fn ssrc_outside_the_declared_range_is_flagged() {
        let mut cfg = config();
        cfg.ssrc_range = Some((0x1000, 0x1fff).into());
        let mut s = ReceiveStats::new(cfg);
        feed(&mut s, &[1, 2], 1);
        assert_eq!(s.summary().ssrc_in_range, Some(true));
        let mut h = hdr(3, 1320);
        h.ssrc = Ssrc(0x2000);
        s.on_packet(&h, 160, MS20 * 2);
        assert_eq!(s.summary().ssrc_in_range, Some(false));
        assert!(s.summary().to_string().contains("ssrc changed 1 out-of-range"));
    }

    #[test]
    fn jitter_follows_rfc3550_a8_on_a_constructed_pattern() {
        // 8000 Hz, TS step 160 (20 ms). Arrivals at 0, 20, 45, 60 ms:
        // arrival in ts units 0, 160, 360, 480; transit = arrival - ts = 0, 0, 40, 0.
        // D: 0, 40, 40. J1 = 0; J2 = 0 + (40 - 0)/16 = 2.5; J3 = 2.5 + (40 - 2.5)/16 = 4.84375.
        let mut s = ReceiveStats::new(config());
        for (i, ms) in [0u64, 20, 45, 60].into_iter().enumerate() {
            s.on_packet(&hdr(i as u16, 160 * i as u32), 160, Duration::from_millis(ms));
        }
        assert_eq!(s.jitter(), 4.84375);
        assert_eq!(s.jitter_duration(), Duration::from_secs_f64(4.84375 / 8000.0));
        assert_eq!(s.report_block(Duration::from_secs(1)).unwrap().jitter, 4);
    }

    #[test]
    fn timestamp_break_is_counted_but_not_a_talkspurt_or_dtmf() {
        let mut s = ReceiveStats::new(config());
        s.on_packet(&hdr(1, 0), 160, Duration::ZERO);
        s.on_packet(&hdr(2, 160), 160, MS20);
        // Talkspurt after silence: marker, timestamp jumps forward.
        let mut spurt = hdr(3, 8000);
        spurt.marker = true;
        s.on_packet(&spurt, 160, MS20 * 2);
        // Two DTMF packets with their own timestamp, then audio resumes further on.
        let mut ev = hdr(4, 8160);
        ev.pt = 101;
        s.on_packet(&ev, 4, MS20 * 3);
        ev.seq = 5;
        s.on_packet(&ev, 4, MS20 * 4);
        s.on_packet(&hdr(6, 8640), 160, MS20 * 5);
        s.on_packet(&hdr(7, 8800), 160, MS20 * 6);
        assert_eq!(s.summary().ts_discontinuities, 0);
        // A real break: the timestamp steps 320 for one sequence step, no marker.
        s.on_packet(&hdr(8, 9120), 160, MS20 * 7);
        let sum = s.summary();
        assert_eq!(sum.ts_discontinuities, 1);
        assert_eq!(sum.dtmf_packets, 2);
        assert_eq!(sum.payload_types, vec![0, 101]);
        assert_eq!(s.marker_indices(), &[2]);
        assert_eq!(
            sum.to_string(),
            "pkts 8 lost 0 dup 0 reord 0 seq ok ts breaks 1 ssrc stable pt 0,101 dtmf 2 marker 1"
        );
    }

    #[test]
    fn video_markers_and_timestamp_changes_are_counted() {
        let mut cfg = config();
        cfg.clock_rate = 90000;
        cfg.samples_per_packet = None;
        let mut s = ReceiveStats::new(cfg);
        // Three frames of 2 packets each, marker on the last packet of each.
        for i in 0..6u16 {
            let mut h = hdr(i, 3000 * u32::from(i / 2));
            h.marker = i % 2 == 1;
            s.on_packet(&h, 1000, MS20 * u32::from(i));
        }
        let sum = s.summary();
        assert_eq!((sum.marker_packets, sum.ts_changes, sum.markers_at_frame_end), (3, 2, 2));
        assert!(sum.to_string().contains("ts changes 2"));
    }

    #[test]
    fn report_block_gives_fraction_and_cumulative_loss() {
        let mut s = ReceiveStats::new(config());
        // 1..=8 expected, 3 and 4 lost: fraction = 2 * 256 / 8 = 64.
        feed(&mut s, &[1, 2, 5, 6, 7, 8], 1);
        s.on_sender_report(0x0000_1234_5678_0000, Duration::from_secs(1));
        let rb = s.report_block(Duration::from_millis(1500)).unwrap();
        assert_eq!(rb.ssrc, Ssrc(0x1111));
        assert_eq!((rb.fraction_lost, rb.cumulative_lost), (64, 2));
        assert_eq!(rb.ext_highest_seq, 8);
        assert_eq!((rb.lsr, rb.dlsr), (0x1234_5678, 32768));
        // Next interval: no new loss.
        feed(&mut s, &[9, 10], 9);
        let rb = s.report_block(Duration::from_secs(2)).unwrap();
        assert_eq!((rb.fraction_lost, rb.cumulative_lost), (0, 2));
        assert!(ReceiveStats::new(config()).report_block(Duration::ZERO).is_none());
    }

    proptest::proptest! {
        #[test]
        fn any_packet_sequence_never_panics(
            pkts in proptest::collection::vec((proptest::prelude::any::<u16>(), proptest::prelude::any::<u32>(), 0u32..4, 0u8..128, proptest::prelude::any::<bool>()), 0..64)
        ) {
            let mut s = ReceiveStats::new(config());
            for (i, (seq, ts, ssrc, pt, m)) in pkts.into_iter().enumerate() {
                let h = RtpHeader { pt, marker: m, seq, timestamp: ts, ssrc: Ssrc(ssrc), ..RtpHeader::default() };
                s.on_packet(&h, 10, MS20 * i as u32);
            }
            let _ = s.summary().to_string();
            let _ = s.report_block(Duration::from_secs(10));
        }
    }
}
