//! Deterministic synthetic audio: frames of a realistic size per codec, carrying their own
//! frame index so a receiver can check content end to end through a gateway.
//!
//! Sizes and timestamp steps follow PROTOCOL.md §3.2 (RFC 3551 §4.5 for static codecs; G.722
//! runs an 8000 Hz RTP clock though it samples at 16 kHz). The payload is not real speech:
//! gateways that transcode will not keep it, which a content check then shows.
//!
//! Payload layout: `b"FC"`, the frame index (u32 big-endian), then filler bytes derived from
//! (seed, index) alone, so [`frame_matches`] needs no state from the sender.

use std::time::Duration;

/// Bytes that open every synthetic payload.
const MAGIC: [u8; 2] = *b"FC";
/// Magic plus the frame index.
const HEADER_LEN: usize = 6;

/// Audio codecs the two sides offer (PROTOCOL.md §2.2), by what matters for a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// G.722 (RTP clock 8000).
    G722,
    /// G.729 (annex B off).
    G729,
    /// SILK (Lync `SILK/…`, Skype `SILK_*_V3/…`) at the given clock; variable frame size.
    Silk {
        /// RTP clock rate.
        clock: u32,
    },
    /// Siren / G.722.1 at 16000.
    Siren,
    /// RTAudio (`x-msrta`) at the given clock.
    RtAudio {
        /// RTP clock rate.
        clock: u32,
    },
    /// Anything else: 8 bytes per millisecond at the given clock.
    Other {
        /// RTP clock rate.
        clock: u32,
    },
}

impl AudioCodec {
    /// The codec an rtpmap encoding name and clock rate denote (case-insensitive name).
    pub fn from_rtpmap(name: &str, clock: u32) -> Self {
        let n = name.to_ascii_uppercase();
        match n.as_str() {
            "PCMU" => Self::Pcmu,
            "PCMA" => Self::Pcma,
            "G722" => Self::G722,
            "G729" => Self::G729,
            "SIREN" | "G7221" => Self::Siren,
            "X-MSRTA" => Self::RtAudio { clock },
            _ if n.starts_with("SILK") => Self::Silk { clock },
            _ => Self::Other { clock },
        }
    }

    /// The RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma | Self::G722 | Self::G729 => 8000,
            Self::Siren => 16000,
            Self::Silk { clock } | Self::RtAudio { clock } | Self::Other { clock } => clock,
        }
    }

    /// Payload bytes per 20 ms, as (smallest, largest); equal for constant-rate codecs.
    fn bytes_per_20ms(self) -> (usize, usize) {
        match self {
            Self::Pcmu | Self::Pcma | Self::G722 => (160, 160), // 64 kbit/s
            Self::G729 => (20, 20),                             // 8 kbit/s
            Self::Siren => (60, 60),                            // 24 kbit/s
            Self::Silk { clock } if clock <= 8000 => (25, 40),
            Self::Silk { .. } => (40, 70),
            Self::RtAudio { clock } if clock <= 8000 => (30, 30), // 11.8 kbit/s
            Self::RtAudio { .. } => (73, 73),                     // 29 kbit/s
            Self::Other { .. } => (160, 160),
        }
    }
}

/// One frame to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    /// Position in the stream, from 0.
    pub index: u32,
    /// RTP timestamp offset from the stream's first frame (`index × ts_step`, wrapping).
    pub timestamp_offset: u32,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

/// A deterministic synthetic audio source; an [`Iterator`] of frames that never ends.
#[derive(Debug, Clone)]
pub struct AudioSource {
    codec: AudioCodec,
    ptime: Duration,
    seed: u64,
    next: u32,
}

impl AudioSource {
    /// A source with the default 20 ms packetisation.
    pub fn new(codec: AudioCodec, seed: u64) -> Self {
        Self::with_ptime(codec, Duration::from_millis(20), seed)
    }

    /// A source with the given packetisation time (at least 1 ms).
    pub fn with_ptime(codec: AudioCodec, ptime: Duration, seed: u64) -> Self {
        Self { codec, ptime: ptime.max(Duration::from_millis(1)), seed, next: 0 }
    }

    /// The codec.
    pub fn codec(&self) -> AudioCodec {
        self.codec
    }

    /// Packetisation time.
    pub fn ptime(&self) -> Duration {
        self.ptime
    }

    /// RTP timestamp step per frame: clock rate × ptime.
    pub fn ts_step(&self) -> u32 {
        (u128::from(self.codec.clock_rate()) * self.ptime.as_micros() / 1_000_000) as u32
    }

    /// The next frame.
    pub fn next_frame(&mut self) -> AudioFrame {
        let index = self.next;
        self.next = self.next.wrapping_add(1);
        let (lo, hi) = self.codec.bytes_per_20ms();
        let pick = lo + (mix(self.seed, index, 0) % (hi - lo + 1) as u64) as usize;
        // Scale by ptime; never below the marker header.
        let len = (pick as u128 * self.ptime.as_micros() / 20_000) as usize;
        AudioFrame {
            index,
            timestamp_offset: index.wrapping_mul(self.ts_step()),
            payload: payload_bytes(self.seed, index, len.max(HEADER_LEN)),
        }
    }
}

impl Iterator for AudioSource {
    type Item = AudioFrame;

    fn next(&mut self) -> Option<AudioFrame> {
        Some(self.next_frame())
    }
}

/// The frame index a synthetic payload carries, if it is one.
pub fn frame_index(payload: &[u8]) -> Option<u32> {
    if payload.len() < HEADER_LEN || payload[..2] != MAGIC {
        return None;
    }
    Some(u32::from_be_bytes([payload[2], payload[3], payload[4], payload[5]]))
}

/// Whether `payload` is exactly what a source seeded with `seed` produced for its index.
pub fn frame_matches(seed: u64, payload: &[u8]) -> bool {
    frame_index(payload).is_some_and(|i| payload == payload_bytes(seed, i, payload.len()))
}

fn payload_bytes(seed: u64, index: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&index.to_be_bytes());
    let mut word = 1u64;
    while out.len() < len {
        let bytes = mix(seed, index, word).to_le_bytes();
        let take = (len - out.len()).min(8);
        out.extend_from_slice(&bytes[..take]);
        word += 1;
    }
    out
}

/// SplitMix64 of (seed, index, word): stable across versions, unlike a library RNG.
pub(super) fn mix(seed: u64, index: u32, word: u64) -> u64 {
    let mut z = seed
        .wrapping_add(u64::from(index).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(word.wrapping_mul(0xbf58_476d_1ce4_e5b9));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn first(codec: AudioCodec) -> (u32, usize) {
        let mut s = AudioSource::new(codec, 7);
        let f = s.next_frame();
        (s.ts_step(), f.payload.len())
    }

    #[test]
    fn sizes_and_steps_per_codec_at_20ms() {
        assert_eq!(first(AudioCodec::from_rtpmap("PCMU", 8000)), (160, 160));
        assert_eq!(first(AudioCodec::from_rtpmap("pcma", 8000)), (160, 160));
        assert_eq!(first(AudioCodec::from_rtpmap("G722", 8000)), (160, 160));
        assert_eq!(first(AudioCodec::from_rtpmap("G729", 8000)), (160, 20));
        assert_eq!(first(AudioCodec::from_rtpmap("SIREN", 16000)), (320, 60));
        let (step, len) = first(AudioCodec::from_rtpmap("SILK", 16000));
        assert_eq!(step, 320);
        assert!((40..=70).contains(&len));
        assert_eq!(first(AudioCodec::from_rtpmap("SILK_NB_V3", 8000)).0, 160);
        assert_eq!(AudioCodec::from_rtpmap("SILK_WB_V3", 16000), AudioCodec::Silk { clock: 16000 });
    }

    #[test]
    fn silk_sizes_vary_within_range_and_ptime_scales() {
        let s = AudioSource::new(AudioCodec::Silk { clock: 16000 }, 3);
        let lens: BTreeSet<usize> = s.take(50).map(|f| f.payload.len()).collect();
        assert!(lens.len() > 5 && lens.iter().all(|l| (40..=70).contains(l)));
        let mut s40 = AudioSource::with_ptime(AudioCodec::Pcmu, Duration::from_millis(40), 3);
        assert_eq!(s40.ts_step(), 320);
        assert_eq!(s40.next_frame().payload.len(), 320);
    }

    #[test]
    fn frames_carry_their_index_and_verify_against_the_seed() {
        let frames: Vec<_> = AudioSource::new(AudioCodec::Pcmu, 42).take(3).collect();
        assert_eq!(frames.iter().map(|f| f.timestamp_offset).collect::<Vec<_>>(), [0, 160, 320]);
        for f in &frames {
            assert_eq!(frame_index(&f.payload), Some(f.index));
            assert!(frame_matches(42, &f.payload));
            assert!(!frame_matches(43, &f.payload));
        }
        let mut corrupt = frames[2].payload.clone();
        corrupt[100] ^= 1;
        assert!(!frame_matches(42, &corrupt));
        assert_eq!(frame_index(b"XX\0\0\0\x01"), None);
        assert_eq!(frame_index(b"FC"), None);
    }

    #[test]
    fn same_seed_same_stream() {
        let a: Vec<_> = AudioSource::new(AudioCodec::Silk { clock: 8000 }, 9).take(20).collect();
        let b: Vec<_> = AudioSource::new(AudioCodec::Silk { clock: 8000 }, 9).take(20).collect();
        assert_eq!(a, b);
    }

    proptest! {
        #[test]
        fn readers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..32), seed: u64) {
            let _ = frame_index(&bytes);
            let _ = frame_matches(seed, &bytes);
        }
    }
}
