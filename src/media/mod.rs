//! Media layer: the sans-IO packet syntax the simulated users and the reference gateway share
//! for audio and video legs: RTP/RTCP packetisation, SDES-SRTP, STUN connectivity checks, the
//! RFC 7983 first-byte demultiplexing of one media socket, synthetic sources and per-stream
//! receive statistics; for video, H.264 packetisation and reassembly (`h264`) and the
//! PLI/FIR/Video Source Request feedback (`feedback`).
//!
//! Everything here is sans-IO: functions take bytes and, where timing matters, an arrival time
//! the caller passes in; nothing owns a socket, sleeps or reads a clock, and nothing knows a
//! dialect. Wire formats follow RFC 3550 (RTP/RTCP), RFC 3711 (SRTP), RFC 5389 (STUN), RFC 4585
//! (feedback), RFC 5104 (FIR), RFC 4733 (telephone-event) and RFC 6184 (H.264), with the
//! Microsoft profile quirks of MS-RTPME, MS-RTPDT, MS-RTP and MS-H264PF (see
//! `shared/PROTOCOL.md` §3).

pub mod demux;
pub mod dtmf;
pub mod feedback;
pub mod h264;
pub mod rtcp;
pub mod rtp;
pub mod source;
pub mod srtp;
pub mod stats;
pub mod stun;
