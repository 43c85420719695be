//! SDP model (RFC 8866, RFC 3264 bodies) with the Microsoft attributes typed: MS-ICE2 and
//! draft-6 candidates, `a=cryptoscale`, `a=x-ssrc-range`, `a=x-mediabw`, … ([PROTOCOL.md §2],
//! [MS-SDPEXT]). A syntax layer shared by the simulated users and the reference gateway: no
//! codec mapping, no offer/answer policy.
//!
//! Why a hand-written grammar rather than `rtc-sdp` (CRATES.md): parse errors here must name
//! the line number, its text and what was expected (DESIGN.md "Bad input"), and rtc-sdp's
//! errors carry no line; its model is string fields written in its own fixed order, so the
//! typed Microsoft layer (most of this module) would be built on top anyway and a second model
//! kept in step with it. The grammar itself is ~150 lines (`parse.rs`) and owns byte-exact
//! round-trips.
//!
//! Round-trip rule: a description whose lines come in RFC 8866 order (which the parser requires)
//! writes back byte for byte, with CRLF endings. Exceptions: bare-LF input is written with CRLF,
//! blank lines at the end are dropped, and IPv6 addresses inside candidates are written in
//! canonical form.

mod attr;
mod candidate;
mod error;
mod parse;
mod session;

pub mod alternative;

pub use attr::{
    Attribute, Crypto, CryptoScale, CryptoSuite, Direction, EncryptionPolicy, FbPayload, Fmtp, InlineKey, MediaBw,
    Rtcp, RtcpFb, Rtpmap, ScaleRole, SsrcRange, XCaps,
};
pub use candidate::{Candidate, CandidateType, Draft6Candidate, IceCandidate, RemoteCandidate, Transport};
pub use error::{Result, SdpError};
pub use parse::{MAX_BYTES, MAX_LINES, MAX_MEDIA, parse};
pub use session::{
    AddrType, Bandwidth, BwType, Codec, Connection, IceCredentials, Media, MediaKind, Origin, Proto, RawLine, Sdp,
    Timing,
};

#[cfg(test)]
mod tests;
