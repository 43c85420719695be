//! H.264 video over RTP as both legs of a Lync ⇄ Skype video call carry it (PROTOCOL.md §1.7,
//! §3.4): the NAL unit model, a deterministic synthetic encoder, the RFC 6184
//! packetization-mode 1 packetiser (single NAL unit, STAP-A, FU-A), the MS-H264PF PACSI NAL unit
//! Lync puts in front of every access unit, and a receiver that reassembles access units and
//! counts what a conformance trace needs.
//!
//! Sans-IO like the rest of `media`: byte slices in, owned values out; nothing here keeps a
//! socket or reads a clock.
//!
//! The two legs differ only in PACSI (PROTOCOL.md §9.2): the enterprise leg's `X-H264UC`
//! carries one at the start of every access unit ([MS-H264PF] §2.2.4), the consumer leg's plain
//! H.264 carries none. [`packetize::Packetizer`] makes either form; [`pacsi::insert`] and
//! [`pacsi::strip`] turn one into the other for the reference gateway.

pub mod nal;
pub mod packetize;
pub mod pacsi;
pub mod reassemble;
pub mod source;

pub use nal::{H264Error, NalHeader, NalType};
pub use packetize::{FuHeader, Packetizer, Payload, payloads};
pub use pacsi::{BitstreamInfo, LayerDescription, Pacsi, StreamLayout};
pub use reassemble::{Frame, VideoReceiver, VideoSummary};
pub use source::{AccessUnit, VideoConfig, VideoSource};
