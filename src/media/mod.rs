//! Media packet layer: the sans-IO syntax both the simulated users and the reference gateway
//! share for audio and video legs (RTP/RTCP, SDES-SRTP, STUN connectivity checks and the
//! RFC 7983 first-byte demultiplexing of one media socket). No sockets and no dialect
//! semantics here: callers bring bytes, keys, credentials and randomness.

pub mod demux;
pub mod srtp;
pub mod stun;
