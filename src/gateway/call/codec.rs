//! The gateway's own codec table (flows.md "Audio calls", "Translation the gateway performs";
//! PROTOCOL.md §2.2, §2.6 items 4–5, req 32): which audio codecs cross between the legs, what
//! each leg calls them, and the payload numbers the gateway gives them when it offers. Payload
//! numbers never cross: a codec is matched by name and clock on each leg, and numbered per leg.

use crate::gateway::Leg;
use crate::sdp::{Codec, Media};

/// An audio codec both legs can carry without transcoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(in crate::gateway) enum AudioCodec {
    /// Lync `SILK/16000`, consumer `SILK_WB_V3/16000`.
    SilkWb,
    /// Lync `SILK/8000`, consumer `SILK_NB_V3/8000`.
    SilkNb,
    /// `G722/8000`, mono (Lync's `G722/8000/2` is stereo and does not cross).
    G722,
    /// `PCMU/8000`.
    Pcmu,
    /// `PCMA/8000`.
    Pcma,
}

/// RFC 4733 events: always `telephone-event/8000` (PROTOCOL.md §3.3).
const TE_NAME: &str = "telephone-event";
const TE_CLOCK: u32 = 8000;
/// The number both profiles give telephone-event when the gateway offers.
pub(in crate::gateway) const TE_PT: u8 = 101;
/// The events the gateway offers (DTMF 0–9, *, #, A–D, flash).
pub(in crate::gateway) const TE_FMTP: &str = "0-16";
/// Lync's SILK parameters (PROTOCOL.md §2.2): in-band FEC on, no SILK-internal DTX.
const LYNC_SILK_FMTP: &str = "useinbandfec=1; usedtx=0";

impl AudioCodec {
    const ALL: [Self; 5] = [Self::SilkWb, Self::SilkNb, Self::G722, Self::Pcmu, Self::Pcma];

    /// Encoding name and RTP clock on `leg`.
    pub(in crate::gateway) fn rtpmap(self, leg: Leg) -> (&'static str, u32) {
        match (self, leg) {
            (Self::SilkWb, Leg::Enterprise) => ("SILK", 16000),
            (Self::SilkWb, Leg::Consumer) => ("SILK_WB_V3", 16000),
            (Self::SilkNb, Leg::Enterprise) => ("SILK", 8000),
            (Self::SilkNb, Leg::Consumer) => ("SILK_NB_V3", 8000),
            (Self::G722, _) => ("G722", 8000),
            (Self::Pcmu, _) => ("PCMU", 8000),
            (Self::Pcma, _) => ("PCMA", 8000),
        }
    }

    /// The payload number the gateway gives the codec when it offers on `leg` (both profiles
    /// happen to number the translatable set alike: 104, 103, 9, 0, 8).
    pub(in crate::gateway) fn offer_pt(self, _leg: Leg) -> u8 {
        match self {
            Self::SilkWb => 104,
            Self::SilkNb => 103,
            Self::G722 => 9,
            Self::Pcmu => 0,
            Self::Pcma => 8,
        }
    }

    /// The `a=fmtp` the gateway writes for the codec on `leg`.
    pub(in crate::gateway) fn fmtp(self, leg: Leg) -> Option<&'static str> {
        match (self, leg) {
            (Self::SilkWb | Self::SilkNb, Leg::Enterprise) => Some(LYNC_SILK_FMTP),
            _ => None,
        }
    }

    /// The codec a payload description of `leg` names, if it is one that crosses. Names are
    /// case-insensitive (RFC 4855 §3); more than one channel is a different codec.
    pub(in crate::gateway) fn of(codec: &Codec, leg: Leg) -> Option<Self> {
        if codec.channels.is_some_and(|c| c != 1) {
            return None;
        }
        Self::ALL.into_iter().find(|c| {
            let (name, clock) = c.rtpmap(leg);
            codec.name.eq_ignore_ascii_case(name) && codec.clock == clock
        })
    }
}

/// Whether a payload description is RFC 4733 telephone-event at 8000 Hz.
fn is_te(codec: &Codec) -> bool {
    codec.name.eq_ignore_ascii_case(TE_NAME) && codec.clock == TE_CLOCK
}

/// What a media description of one leg lists that can cross: the translatable codecs in its
/// order with its numbers, and its telephone-event number.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(in crate::gateway) struct Offered {
    /// Codecs with their payload numbers on that leg, in the description's order.
    pub codecs: Vec<(AudioCodec, u8)>,
    /// telephone-event's payload number, when listed.
    pub te: Option<u8>,
}

impl Offered {
    /// Reads a media section of `leg`. A codec listed twice keeps its first number.
    pub(in crate::gateway) fn read(media: &Media, leg: Leg) -> Self {
        let mut out = Self::default();
        for c in media.codecs() {
            if is_te(&c) {
                out.te.get_or_insert(c.pt);
            } else if let Some(codec) = AudioCodec::of(&c, leg)
                && !out.codecs.iter().any(|(k, _)| *k == codec)
            {
                out.codecs.push((codec, c.pt));
            }
        }
        out
    }

    /// The same codecs renumbered as the gateway offers them on `leg`.
    pub(in crate::gateway) fn renumbered(&self, leg: Leg) -> Self {
        Self { codecs: self.codecs.iter().map(|(c, _)| (*c, c.offer_pt(leg))).collect(), te: self.te.map(|_| TE_PT) }
    }

    /// This leg's number for `codec`.
    pub(in crate::gateway) fn pt_of(&self, codec: AudioCodec) -> Option<u8> {
        self.codecs.iter().find(|(c, _)| *c == codec).map(|(_, pt)| *pt)
    }

    /// The codec an answer chose: its first translatable codec that this offer listed.
    pub(in crate::gateway) fn chosen_by(&self, answer: &Self) -> Option<AudioCodec> {
        answer.codecs.iter().map(|(c, _)| *c).find(|c| self.pt_of(*c).is_some())
    }
}

/// The payload numbers one leg uses in both directions for the call's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::gateway) struct LegPayload {
    /// The codec.
    pub codec: AudioCodec,
    /// Its number on this leg.
    pub pt: u8,
    /// telephone-event's number on this leg, when both legs carry it.
    pub te: Option<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::{MediaKind, Proto};

    #[test]
    fn codecs_match_by_name_and_clock_per_leg_and_stereo_g722_does_not_cross() {
        let lync = Media::new(MediaKind::Audio, 1, Proto::RtpSavp)
            .with_codec(117, "G722", 8000, Some(2), None)
            .with_codec(104, "SILK", 16000, None, None)
            .with_codec(103, "SILK", 8000, None, None)
            .with_codec(114, "x-msrta", 16000, None, None)
            .with_static(9)
            .with_codec(97, "telephone-event", 8000, None, Some("0-16"));
        let o = Offered::read(&lync, Leg::Enterprise);
        assert_eq!(o.codecs, vec![(AudioCodec::SilkWb, 104), (AudioCodec::SilkNb, 103), (AudioCodec::G722, 9)]);
        assert_eq!(o.te, Some(97));
        // The consumer's 103/104 are other codecs under the Lync names: they do not match.
        assert_eq!(Offered::read(&lync, Leg::Consumer).codecs, vec![(AudioCodec::G722, 9)]);
        assert_eq!(o.renumbered(Leg::Consumer).te, Some(TE_PT));
    }
}
