//! First-byte demultiplexing of one media socket (RFC 7983 §7, after RFC 5764 §5.1.2): ICE
//! puts STUN checks on the same 5-tuple as (S)RTP and (S)RTCP, so each datagram is sorted
//! before any parser sees it. RTP and RTCP are told apart by the second byte (RFC 5761 §4),
//! which also serves Lync's separate RTCP component, where only RTCP should arrive.

/// What a datagram on a media socket is, judged from its first two bytes only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// STUN (first byte 0..=3): an ICE connectivity check or its response.
    Stun,
    /// DTLS (first byte 20..=63). Lync keys media by SDES, so this is unexpected here.
    Dtls,
    /// RTP or SRTP (first byte 128..=191, second byte outside 192..=223).
    Rtp,
    /// RTCP or SRTCP (first byte 128..=191, packet type 192..=223).
    Rtcp,
    /// Anything else: ZRTP, TURN channel data, empty or truncated datagrams, garbage.
    Other,
}

/// Classifies one datagram (RFC 7983 §7 ranges; RFC 5761 §4 for RTP against RTCP).
pub fn classify(datagram: &[u8]) -> PacketKind {
    match datagram {
        [0..=3, ..] => PacketKind::Stun,
        [20..=63, ..] => PacketKind::Dtls,
        // RTCP packet types SR..=APP and their reserved neighbours sit at 192..=223; RTP
        // payload types 64..=95 with the marker bit set would collide, which is why RFC 5761
        // forbids them on a muxed port.
        [128..=191, 192..=223, ..] => PacketKind::Rtcp,
        [128..=191, _, ..] => PacketKind::Rtp,
        _ => PacketKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stun_binding_request_is_stun() {
        let binding = [0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        assert_eq!(classify(&binding), PacketKind::Stun);
        assert_eq!(classify(&[3]), PacketKind::Stun);
    }

    #[test]
    fn dtls_range_is_dtls() {
        assert_eq!(classify(&[20, 0xfe, 0xfd]), PacketKind::Dtls);
        assert_eq!(classify(&[63]), PacketKind::Dtls);
    }

    #[test]
    fn rtp_with_audio_payload_types_is_rtp() {
        // PCMU (0), PCMA (8), SILK (111 in Lync offers), with and without marker.
        for second in [0u8, 8, 111, 0x80, 0x80 | 8, 0x80 | 111, 127] {
            assert_eq!(classify(&[0x80, second, 0, 1]), PacketKind::Rtp, "{second}");
        }
        assert_eq!(classify(&[0xbf, 0]), PacketKind::Rtp);
    }

    #[test]
    fn rtcp_packet_types_are_rtcp() {
        // SR 200, RR 201, SDES 202, BYE 203, APP 204, RTPFB 205, PSFB 206 and the range ends.
        for pt in [192u8, 200, 201, 202, 203, 204, 205, 206, 223] {
            assert_eq!(classify(&[0x81, pt, 0, 7]), PacketKind::Rtcp, "{pt}");
        }
        assert_eq!(classify(&[0x80, 191]), PacketKind::Rtp);
        assert_eq!(classify(&[0x80, 224]), PacketKind::Rtp);
    }

    #[test]
    fn range_gaps_and_short_datagrams_are_other() {
        for first in [4u8, 16, 19, 64, 79, 127, 192, 255] {
            assert_eq!(classify(&[first, 0, 0, 0]), PacketKind::Other, "{first}");
        }
        assert_eq!(classify(&[]), PacketKind::Other);
        // One byte in the RTP range cannot say RTP or RTCP, and is no packet of either.
        assert_eq!(classify(&[0x80]), PacketKind::Other);
    }
}
