//! A deterministic synthetic H.264 "encoder": access units of realistic sizes and plausible
//! headers at a fixed frame rate, no pictures.
//!
//! Every GOP opens with an IDR access unit (SPS + PPS + IDR slice); the rest carry one non-IDR
//! slice. The SPS and PPS are real constrained-baseline parameter sets (ITU-T H.264 §7.3.2.1,
//! §7.3.2.2) for the configured size and frame rate, and each slice opens with a real slice
//! header (§7.3.3) followed by seeded filler, with emulation prevention (§7.4.1) applied, so
//! tools that parse headers (Wireshark, a gateway that reads the SPS) see sensible values. A
//! decoder would reject the slice data: gateways that transcode will not keep it.
//!
//! Sizes: SPS ~20 bytes (most of it VUI timing), PPS 4, IDR slice 4000–9000 bytes (several FU-A fragments at the
//! usual MTU), non-IDR slice 200–1500 bytes. Timestamps step by 90000 / fps (RFC 6184 §5.1).

use crate::media::source::mix;

use super::nal::{NalHeader, NalType};

/// RTP clock of H.264 (RFC 6184 §8.2.1).
pub const CLOCK_RATE: u32 = 90_000;
/// constrained baseline: profile_idc 66 with constraint_set0 and constraint_set1.
const PROFILE_BASELINE: u8 = 66;
const CONSTRAINT_SET01: u8 = 0xc0;
/// Level 3.1 (1280×720 at 30 fps).
const LEVEL_31: u8 = 31;
/// Slice types "all slices of the picture are P / I" (Table 7-6).
const SLICE_P: u32 = 5;
const SLICE_I: u32 = 7;
/// Slice sizes in bytes, inclusive.
const IDR_SIZE: (usize, usize) = (4000, 9000);
const P_SIZE: (usize, usize) = (200, 1500);

/// What the source produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoConfig {
    /// Picture width in pixels.
    pub width: u16,
    /// Picture height in pixels.
    pub height: u16,
    /// Frames per second (at least 1).
    pub fps: u32,
    /// Access units per GOP: one IDR then `gop - 1` non-IDR (at least 1).
    pub gop: u32,
    /// Seed of all sizes and filler bytes.
    pub seed: u64,
}

impl VideoConfig {
    /// 640×360 at 30 fps with an IDR every 2 seconds.
    pub fn new(seed: u64) -> Self {
        Self { width: 640, height: 360, fps: 30, gop: 60, seed }
    }
}

/// One access unit: the NAL units of one picture, in decoding order, without start codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// Position in the stream, from 0.
    pub index: u32,
    /// Whether this is an IDR access unit (SPS + PPS + IDR slice).
    pub idr: bool,
    /// RTP timestamp offset from the first access unit (90 kHz, wrapping).
    pub timestamp_offset: u32,
    /// The NAL units, headers included.
    pub nals: Vec<Vec<u8>>,
}

/// A deterministic synthetic H.264 source; an [`Iterator`] of access units that never ends.
#[derive(Debug, Clone)]
pub struct VideoSource {
    config: VideoConfig,
    next: u32,
    /// Index of the access unit that opened the current GOP (a keyframe request restarts it).
    gop_start: u32,
}

impl VideoSource {
    /// A source; `fps` and `gop` below 1 count as 1.
    pub fn new(mut config: VideoConfig) -> Self {
        config.fps = config.fps.max(1);
        config.gop = config.gop.max(1);
        Self { config, next: 0, gop_start: 0 }
    }

    /// The configuration.
    pub fn config(&self) -> VideoConfig {
        self.config
    }

    /// The RTP timestamp of access unit `index`, relative to the first.
    pub fn timestamp_offset(&self, index: u32) -> u32 {
        (u64::from(index) * u64::from(CLOCK_RATE) / u64::from(self.config.fps)) as u32
    }

    /// Makes the next access unit an IDR and starts a new GOP there: what an encoder does on
    /// a keyframe request (RFC 5104 FIR, RFC 4585 PLI, an MS-RTP VSR with the keyframe bit).
    pub fn restart_gop(&mut self) {
        self.gop_start = self.next;
    }

    /// The next access unit.
    pub fn next_access_unit(&mut self) -> AccessUnit {
        let index = self.next;
        self.next = self.next.wrapping_add(1);
        let in_gop = index.wrapping_sub(self.gop_start) % self.config.gop;
        let idr = in_gop == 0;
        let nals = if idr {
            let idr_pic_id = (index / self.config.gop) % 65536;
            vec![self.sps(), self.pps(), self.slice(index, in_gop, Some(idr_pic_id))]
        } else {
            vec![self.slice(index, in_gop, None)]
        };
        AccessUnit { index, idr, timestamp_offset: self.timestamp_offset(index), nals }
    }

    /// Sequence parameter set (§7.3.2.1.1) with VUI timing so the frame rate is in the stream.
    fn sps(&self) -> Vec<u8> {
        let c = &self.config;
        let mbs_w = u32::from(c.width).div_ceil(16);
        let mbs_h = u32::from(c.height).div_ceil(16);
        // 4:2:0, frame_mbs_only: crop units are two luma samples.
        let crop_right = (mbs_w * 16 - u32::from(c.width)) / 2;
        let crop_bottom = (mbs_h * 16 - u32::from(c.height)) / 2;
        let mut w = BitWriter::default();
        w.u(8, u32::from(PROFILE_BASELINE));
        w.u(8, u32::from(CONSTRAINT_SET01));
        w.u(8, u32::from(LEVEL_31));
        w.ue(0); // seq_parameter_set_id
        w.ue(0); // log2_max_frame_num_minus4: frame_num is 4 bits
        w.ue(2); // pic_order_cnt_type 2: output order = decoding order, no B frames
        w.ue(1); // max_num_ref_frames
        w.u(1, 0); // gaps_in_frame_num_value_allowed_flag
        w.ue(mbs_w - 1);
        w.ue(mbs_h - 1);
        w.u(1, 1); // frame_mbs_only_flag
        w.u(1, 1); // direct_8x8_inference_flag
        let crop = crop_right > 0 || crop_bottom > 0;
        w.u(1, u32::from(crop));
        if crop {
            for offset in [0, crop_right, 0, crop_bottom] {
                w.ue(offset);
            }
        }
        w.u(1, 1); // vui_parameters_present_flag
        w.u(4, 0); // no aspect ratio, overscan, video signal type or chroma location info
        w.u(1, 1); // timing_info_present_flag
        w.u(32, 1); // num_units_in_tick
        w.u(32, c.fps * 2); // time_scale: two ticks per frame (Annex E.2.1)
        w.u(1, 1); // fixed_frame_rate_flag
        w.u(4, 0); // no NAL/VCL HRD, pic_struct, bitstream restriction
        nal_unit(NalHeader::new(3, NalType::SPS), w.finish())
    }

    /// Picture parameter set (§7.3.2.2): CAVLC, one slice group, deblocking control present.
    fn pps(&self) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.ue(0); // pic_parameter_set_id
        w.ue(0); // seq_parameter_set_id
        w.u(1, 0); // entropy_coding_mode_flag: CAVLC (baseline)
        w.u(1, 0); // bottom_field_pic_order_in_frame_present_flag
        w.ue(0); // num_slice_groups_minus1
        w.ue(0); // num_ref_idx_l0_default_active_minus1
        w.ue(0); // num_ref_idx_l1_default_active_minus1
        w.u(1, 0); // weighted_pred_flag
        w.u(2, 0); // weighted_bipred_idc
        w.se(0); // pic_init_qp_minus26
        w.se(0); // pic_init_qs_minus26
        w.se(0); // chroma_qp_index_offset
        w.u(1, 1); // deblocking_filter_control_present_flag
        w.u(1, 0); // constrained_intra_pred_flag
        w.u(1, 0); // redundant_pic_cnt_present_flag
        nal_unit(NalHeader::new(3, NalType::PPS), w.finish())
    }

    /// A slice: header (§7.3.3) then seeded filler to a seeded size.
    fn slice(&self, index: u32, in_gop: u32, idr_pic_id: Option<u32>) -> Vec<u8> {
        let (lo, hi) = if idr_pic_id.is_some() { IDR_SIZE } else { P_SIZE };
        let len = lo + (mix(self.config.seed, index, 0) % (hi - lo + 1) as u64) as usize;
        let mut w = BitWriter::default();
        w.ue(0); // first_mb_in_slice
        w.ue(if idr_pic_id.is_some() { SLICE_I } else { SLICE_P });
        w.ue(0); // pic_parameter_set_id
        w.u(4, in_gop % 16); // frame_num
        match idr_pic_id {
            Some(id) => {
                w.ue(id);
                w.u(2, 0); // no_output_of_prior_pics_flag, long_term_reference_flag
            }
            None => {
                w.u(1, 0); // num_ref_idx_active_override_flag
                w.u(1, 0); // ref_pic_list_modification_flag_l0
                w.u(1, 0); // adaptive_ref_pic_marking_mode_flag
            }
        }
        w.se(0); // slice_qp_delta
        w.ue(0); // disable_deblocking_filter_idc
        w.se(0); // slice_alpha_c0_offset_div2
        w.se(0); // slice_beta_offset_div2
        let mut rbsp = w.finish();
        let mut word = 1;
        while rbsp.len() + 1 < len {
            let bytes = mix(self.config.seed, index, word).to_le_bytes();
            rbsp.extend_from_slice(&bytes[..(len - 1 - rbsp.len()).min(8)]);
            word += 1;
        }
        // A NAL unit never ends in a zero byte (§7.4.1: trailing bits end in a one).
        if let Some(last) = rbsp.last_mut() {
            *last |= 1;
        }
        let (nri, t) = if idr_pic_id.is_some() { (3, NalType::IDR) } else { (2, NalType::NON_IDR) };
        nal_unit(NalHeader::new(nri, t), rbsp)
    }
}

impl Iterator for VideoSource {
    type Item = AccessUnit;

    fn next(&mut self) -> Option<AccessUnit> {
        Some(self.next_access_unit())
    }
}

/// Header byte plus the RBSP with emulation prevention bytes inserted (§7.4.1): a 0x03 after
/// any two zero bytes that a byte ≤ 3 follows, so no start code appears inside the unit.
fn nal_unit(header: NalHeader, rbsp: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64 + 1);
    out.push(header.to_byte());
    let mut zeros = 0;
    for b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    out
}

/// MSB-first bit writer with Exp-Golomb codes (§9.1).
#[derive(Debug, Default)]
struct BitWriter {
    bytes: Vec<u8>,
    cur: u8,
    bits: u8,
}

impl BitWriter {
    /// The low `n` bits of `v`, most significant first.
    fn u(&mut self, n: u32, v: u32) {
        for i in (0..n).rev() {
            self.cur = (self.cur << 1) | ((v >> i) & 1) as u8;
            self.bits += 1;
            if self.bits == 8 {
                self.bytes.push(self.cur);
                self.cur = 0;
                self.bits = 0;
            }
        }
    }

    /// ue(v): leading zeros, then v + 1 in binary.
    fn ue(&mut self, v: u32) {
        let x = u64::from(v) + 1;
        let len = 64 - x.leading_zeros();
        self.u(len - 1, 0);
        for i in (0..len).rev() {
            self.u(1, ((x >> i) & 1) as u32);
        }
    }

    /// se(v): positive k as 2k − 1, negative as −2k.
    fn se(&mut self, v: i32) {
        let k = if v > 0 { 2 * v.unsigned_abs() - 1 } else { 2 * v.unsigned_abs() };
        self.ue(k);
    }

    /// rbsp_trailing_bits: a one, then zeros to the byte boundary.
    fn finish(mut self) -> Vec<u8> {
        self.u(1, 1);
        while self.bits != 0 {
            self.u(1, 0);
        }
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restarted_gop_makes_the_next_access_unit_an_idr_and_counts_from_it() {
        let mut s = VideoSource::new(VideoConfig { gop: 4, ..VideoConfig::new(3) });
        let idr: Vec<bool> = (0..3).map(|_| s.next_access_unit().idr).collect();
        assert_eq!(idr, [true, false, false]);
        s.restart_gop();
        let idr: Vec<bool> = (0..5).map(|_| s.next_access_unit().idr).collect();
        assert_eq!(idr, [true, false, false, false, true]);
    }

    #[test]
    fn exp_golomb_codes_match_the_table() {
        // §9.1 Table 9-2: 0 → 1, 1 → 010, 2 → 011, 3 → 00100; se: 1 → 010, −1 → 011.
        let mut w = BitWriter::default();
        for v in [0, 1, 2, 3] {
            w.ue(v);
        }
        w.se(1);
        w.se(-1);
        // 1 010 011 00100 010 011 + trailing 1 → 1010 0110 0100 0100 1110 0000
        assert_eq!(w.finish(), [0xa6, 0x44, 0xe0]);
    }

    #[test]
    fn emulation_prevention_escapes_start_code_patterns() {
        let n = nal_unit(NalHeader::new(3, NalType::SPS), vec![0, 0, 1, 0, 0, 0, 0, 0, 4]);
        assert_eq!(n, [0x67, 0, 0, 3, 1, 0, 0, 3, 0, 0, 3, 0, 4]);
    }

    #[test]
    fn gop_structure_sizes_and_timestamps() {
        let mut s = VideoSource::new(VideoConfig { width: 640, height: 360, fps: 15, gop: 5, seed: 1 });
        let aus: Vec<AccessUnit> = (0..11).map(|_| s.next_access_unit()).collect();
        let idr: Vec<u32> = aus.iter().filter(|a| a.idr).map(|a| a.index).collect();
        assert_eq!(idr, [0, 5, 10]);
        assert_eq!(aus[3].timestamp_offset, 18_000);
        for au in &aus {
            let types: Vec<u8> = au.nals.iter().map(|n| NalHeader::parse(n).unwrap().nal_type.0).collect();
            if au.idr {
                assert_eq!(types, [7, 8, 5]);
                assert!((10..=24).contains(&au.nals[0].len()), "SPS {} bytes", au.nals[0].len());
                assert!((4..=8).contains(&au.nals[1].len()), "PPS {} bytes", au.nals[1].len());
                assert!((4000..=9100).contains(&au.nals[2].len()));
            } else {
                assert_eq!(types, [1]);
                assert!((200..=1520).contains(&au.nals[0].len()));
                assert_eq!(au.nals[0][0], 0x41);
            }
        }
    }

    #[test]
    fn sps_encodes_size_cropping_and_frame_rate() {
        let au = VideoSource::new(VideoConfig::new(0)).next_access_unit();
        let sps = &au.nals[0];
        // 0x67, profile 66, constraints 0xC0, level 31, then ue(0) ue(0) ue(2) ue(1) 0
        // → 1 1 011 010 0 …
        assert_eq!(&sps[..5], &[0x67, 66, 0xc0, 31, 0b1101_1010]);
        // Width 640 = 40 MBs (ue 39 = 00000101000), height 360 → 23 MBs, crop 4 (8 lines / 2).
        let mut expect = BitWriter::default();
        for (n, v) in [(1, 1), (1, 1), (3, 0b011), (3, 0b010), (1, 0)] {
            expect.u(n, v);
        }
        expect.ue(39);
        expect.ue(22);
        expect.u(3, 0b111); // frame_mbs_only, direct_8x8, cropping
        for v in [0, 0, 0, 4] {
            expect.ue(v);
        }
        let prefix = expect.finish();
        // Compare the bits up to before finish's trailing one.
        let n = prefix.len() - 1;
        assert_eq!(&sps[4..4 + n], &prefix[..n]);
    }

    #[test]
    fn same_seed_same_stream_other_seed_other_bytes() {
        let a: Vec<_> = VideoSource::new(VideoConfig::new(9)).take(40).collect();
        let b: Vec<_> = VideoSource::new(VideoConfig::new(9)).take(40).collect();
        let c: Vec<_> = VideoSource::new(VideoConfig::new(10)).take(40).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a[0].nals[..2], c[0].nals[..2], "parameter sets depend only on the format");
        let sizes = |aus: &[AccessUnit]| aus.iter().map(|au| au.nals.last().unwrap().len()).collect::<Vec<_>>();
        assert_ne!(sizes(&a), sizes(&c), "slice sizes follow the seed");
    }

    #[test]
    fn no_unit_contains_a_start_code_or_ends_in_zero() {
        for au in VideoSource::new(VideoConfig { gop: 3, ..VideoConfig::new(77) }).take(9) {
            for n in &au.nals {
                assert!(!n.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2), "start code in NAL");
                assert_ne!(n.last(), Some(&0));
            }
        }
    }
}
