//! Media layer: RTP/RTCP packetisation, synthetic sources and per-stream receive statistics,
//! shared by the simulated users and the reference gateway's relay.
//!
//! Everything here is sans-IO: functions take bytes and, where timing matters, an arrival time
//! the caller passes in; nothing owns a socket, sleeps or reads a clock. Wire formats follow
//! RFC 3550 (RTP/RTCP), RFC 4585 (feedback), RFC 4733 (telephone-event) with the Microsoft
//! profile quirks of MS-RTPME and MS-RTPDT (see `shared/PROTOCOL.md` §3).

pub mod dtmf;
pub mod rtcp;
pub mod rtp;
pub mod source;
pub mod stats;
