//! H.264 video over RTP as both legs of a Lync ⇄ Skype video call carry it (PROTOCOL.md §1.7,
//! §3.4).

pub mod nal;
pub mod source;

pub use nal::{H264Error, NalHeader, NalType};
pub use source::{AccessUnit, VideoConfig, VideoSource};
