//! H.264 video over RTP as both legs of a Lync ⇄ Skype video call carry it (PROTOCOL.md §1.7,
//! §3.4).

pub mod nal;
pub mod pacsi;
pub mod packetize;
pub mod source;

pub use nal::{H264Error, NalHeader, NalType};
pub use pacsi::{BitstreamInfo, LayerDescription, Pacsi, StreamLayout};
pub use packetize::{FuHeader, Packetizer, Payload, payloads};
pub use source::{AccessUnit, VideoConfig, VideoSource};
