//! DTMF as RFC 4733 telephone-events, with the MS-RTPDT rules (PROTOCOL.md §3.3): clock
//! always 8000 Hz, one event per packet, no zero durations.
//!
//! [`digit_packets`] yields what a sender puts on the wire for one key press: one packet per
//! 20 ms, all with the event's start timestamp, the marker on the first, the duration growing
//! by 160, and the end packet sent three times (RFC 4733 §2.5.1.4). The caller paces them (one
//! per ptime) and numbers them in the stream's sequence space. [`DtmfReceiver`] turns received
//! packets back into digits, one per event, however many end packets arrive.

/// The telephone-event clock (MS-RTPDT §3.1: no other rate is negotiated).
pub const CLOCK_RATE: u32 = 8000;
/// Duration step per 20 ms packet at 8000 Hz.
const STEP: u16 = 160;
/// How often the end packet is sent (RFC 4733 §2.5.1.4).
const END_REPEATS: usize = 3;

/// Why a telephone-event could not be read or generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// A telephone-event payload is 4 bytes per event.
    #[error("telephone-event payload of {0} bytes, expected at least 4")]
    Truncated(usize),
    /// Not a DTMF key (0-9, *, #, A-D).
    #[error("{0:?} is not a DTMF key")]
    NotADigit(char),
    /// Longer than one event's 16-bit duration field holds at 8000 Hz.
    #[error("a {0} ms tone does not fit one event (max 8191 ms)")]
    TooLong(u32),
}

/// One RFC 4733 §2.3 event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0-9 digits, 10 `*`, 11 `#`, 12-15 A-D, 16 flash).
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Power level in −dBm0, 0..=63.
    pub volume: u8,
    /// Duration so far in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// The 4 wire bytes (volume is masked to 6 bits, R bit 0).
    pub fn build(&self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [self.event, (u8::from(self.end) << 7) | (self.volume & 0x3f), d[0], d[1]]
    }

    /// Reads the first event of a payload (further events are an MS-RTPDT violation that
    /// [`DtmfReceiver`] reports).
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let [event, flags, d0, d1, ..] = *payload else {
            return Err(DtmfError::Truncated(payload.len()));
        };
        Ok(Self { event, end: flags & 0x80 != 0, volume: flags & 0x3f, duration: u16::from_be_bytes([d0, d1]) })
    }
}

/// The event code of a DTMF key.
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

/// The DTMF key of an event code; `None` for flash and non-DTMF events.
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// One packet of a generated event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// Marker bit: set on the first packet of the event only.
    pub marker: bool,
    /// RTP timestamp: the event's start, the same for every packet of it.
    pub timestamp: u32,
    /// The payload.
    pub event: TelephoneEvent,
}

/// The packets for one key press of `duration_ms` starting at RTP timestamp `start_ts`.
pub fn digit_packets(digit: char, duration_ms: u32, volume: u8, start_ts: u32) -> Result<Vec<DtmfPacket>, DtmfError> {
    let event = digit_to_event(digit).ok_or(DtmfError::NotADigit(digit))?;
    let total = duration_ms
        .checked_mul(CLOCK_RATE / 1000)
        .and_then(|d| u16::try_from(d).ok())
        .ok_or(DtmfError::TooLong(duration_ms))?;
    // At least one step, so no packet carries a zero duration (MS-RTPDT §3.2).
    let total = total.max(STEP);
    let mut out = Vec::new();
    let mut duration = STEP;
    while duration < total {
        out.push((duration, false));
        duration += STEP;
    }
    out.extend(std::iter::repeat_n((total, true), END_REPEATS));
    Ok(out
        .into_iter()
        .enumerate()
        .map(|(i, (duration, end))| DtmfPacket {
            marker: i == 0,
            timestamp: start_ts,
            event: TelephoneEvent { event, end, volume, duration },
        })
        .collect())
}

/// A received event, reassembled from its packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedEvent {
    /// Event code.
    pub event: u8,
    /// RTP timestamp identifying the event.
    pub timestamp: u32,
    /// Largest duration seen.
    pub duration: u16,
    /// Whether an end packet arrived.
    pub ended: bool,
    /// Packets that carried it, repeats included.
    pub packets: u32,
}

/// An MS-RTPDT rule a received packet broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfViolation {
    /// Duration 0 (MS-RTPDT §3.2).
    ZeroDuration {
        /// Index of the packet among those fed.
        packet: usize,
    },
    /// More than one event in a packet (MS-RTPDT §3.2).
    MultipleEvents {
        /// Index of the packet among those fed.
        packet: usize,
    },
    /// Payload shorter than one event.
    Truncated {
        /// Index of the packet among those fed.
        packet: usize,
    },
    /// An event code outside 0-16 (Lync offers `0-16`).
    UnsupportedEvent {
        /// Index of the packet among those fed.
        packet: usize,
        /// The code.
        event: u8,
    },
}

/// Receiver-side reassembly of telephone-events into digits.
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    events: Vec<ReceivedEvent>,
    violations: Vec<DtmfViolation>,
    fed: usize,
}

impl DtmfReceiver {
    /// A receiver that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one telephone-event packet: its RTP timestamp and payload.
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) {
        let packet = self.fed;
        self.fed += 1;
        let Ok(ev) = TelephoneEvent::parse(payload) else {
            self.violations.push(DtmfViolation::Truncated { packet });
            return;
        };
        if payload.len() > 4 {
            self.violations.push(DtmfViolation::MultipleEvents { packet });
        }
        if ev.duration == 0 {
            self.violations.push(DtmfViolation::ZeroDuration { packet });
        }
        if ev.event > 16 {
            self.violations.push(DtmfViolation::UnsupportedEvent { packet, event: ev.event });
        }
        // An event is known by its timestamp (RFC 4733 §2.5.2.1); repeats update it.
        if let Some(known) = self.events.iter_mut().rev().find(|e| e.timestamp == timestamp && e.event == ev.event) {
            known.packets += 1;
            known.duration = known.duration.max(ev.duration);
            known.ended |= ev.end;
            return;
        }
        self.events.push(ReceivedEvent {
            event: ev.event,
            timestamp,
            duration: ev.duration,
            ended: ev.end,
            packets: 1,
        });
    }

    /// The DTMF keys received, one per event, in order of arrival.
    pub fn digits(&self) -> String {
        self.events.iter().filter_map(|e| event_to_digit(e.event)).collect()
    }

    /// Every event received.
    pub fn events(&self) -> &[ReceivedEvent] {
        &self.events
    }

    /// MS-RTPDT rules broken so far.
    pub fn violations(&self) -> &[DtmfViolation] {
        &self.violations
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn payload_round_trips() {
        let ev = TelephoneEvent { event: 11, end: true, volume: 10, duration: 800 };
        let bytes = ev.build();
        assert_eq!(bytes, [11, 0x8a, 0x03, 0x20]);
        assert_eq!(TelephoneEvent::parse(&bytes), Ok(ev));
        assert_eq!(TelephoneEvent::parse(&bytes[..3]), Err(DtmfError::Truncated(3)));
    }

    #[test]
    fn digit_codes_map_both_ways() {
        for d in "0123456789*#ABCD".chars() {
            assert_eq!(event_to_digit(digit_to_event(d).unwrap()), Some(d));
        }
        assert_eq!(digit_to_event('x'), None);
        assert_eq!(event_to_digit(16), None);
    }

    #[test]
    fn a_100ms_digit_is_four_growing_packets_and_three_end_packets() {
        let pkts = digit_packets('5', 100, 10, 4000).unwrap();
        let durations: Vec<_> = pkts.iter().map(|p| p.event.duration).collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
        let ends: Vec<_> = pkts.iter().map(|p| p.event.end).collect();
        assert_eq!(ends, [false, false, false, false, true, true, true]);
        assert!(pkts.iter().all(|p| p.timestamp == 4000 && p.event.event == 5));
        assert_eq!(pkts.iter().filter(|p| p.marker).count(), 1);
        assert!(pkts[0].marker);
    }

    #[test]
    fn a_very_short_digit_still_has_nonzero_duration() {
        let pkts = digit_packets('1', 0, 10, 0).unwrap();
        assert_eq!(pkts.len(), 3);
        assert!(pkts.iter().all(|p| p.event.duration == 160 && p.event.end));
        assert_eq!(digit_packets('x', 100, 0, 0), Err(DtmfError::NotADigit('x')));
        assert_eq!(digit_packets('1', 9000, 0, 0), Err(DtmfError::TooLong(9000)));
    }

    #[test]
    fn receiver_reassembles_digits_despite_repeated_end_packets() {
        let mut rx = DtmfReceiver::new();
        for (digit, ts) in [('1', 1000), ('#', 3000), ('1', 5000)] {
            for p in digit_packets(digit, 60, 10, ts).unwrap() {
                rx.on_packet(p.timestamp, &p.event.build());
            }
        }
        assert_eq!(rx.digits(), "1#1");
        assert!(rx.violations().is_empty());
        let first = &rx.events()[0];
        assert_eq!((first.duration, first.ended, first.packets), (480, true, 5));
    }

    #[test]
    fn receiver_keeps_a_digit_whose_end_packets_were_lost() {
        let mut rx = DtmfReceiver::new();
        let pkts = digit_packets('7', 100, 10, 0).unwrap();
        for p in &pkts[..2] {
            rx.on_packet(p.timestamp, &p.event.build());
        }
        assert_eq!(rx.digits(), "7");
        assert!(!rx.events()[0].ended);
    }

    #[test]
    fn ms_rtpdt_violations_are_reported() {
        let mut rx = DtmfReceiver::new();
        let zero = TelephoneEvent { event: 1, end: false, volume: 10, duration: 0 };
        rx.on_packet(0, &zero.build());
        let mut two = zero.build().to_vec();
        two[2..4].copy_from_slice(&160u16.to_be_bytes());
        two.extend_from_slice(&two.clone());
        rx.on_packet(800, &two);
        rx.on_packet(1600, &[1, 2]);
        rx.on_packet(2400, &[40, 0, 0, 160]);
        assert_eq!(
            rx.violations(),
            &[
                DtmfViolation::ZeroDuration { packet: 0 },
                DtmfViolation::MultipleEvents { packet: 1 },
                DtmfViolation::Truncated { packet: 2 },
                DtmfViolation::UnsupportedEvent { packet: 3, event: 40 },
            ]
        );
    }

    proptest! {
        #[test]
        fn garbage_never_panics(pkts in proptest::collection::vec((any::<u32>(), proptest::collection::vec(any::<u8>(), 0..12)), 0..20)) {
            let mut rx = DtmfReceiver::new();
            for (ts, p) in pkts {
                rx.on_packet(ts, &p);
            }
            let _ = rx.digits();
        }
    }
}
