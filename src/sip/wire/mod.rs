//! The SIP wire layer: our own raw-preserving message, header readers, builders, stream
//! framing, multipart bodies and Microsoft header values. It knows nothing of users or dialects.

mod builder;
mod error;
mod framing;
mod headers;
pub mod malformed;
mod message;
pub mod ms;
pub mod multipart;
mod names;
mod uri;

pub use builder::MessageBuilder;
pub use error::{FaultKind, Result, WireError};
pub use framing::{DEFAULT_MAX_MESSAGE, Frame, StreamFramer};
pub use headers::{CSeq, MediaType, NameAddr, Via};
pub use message::{Message, Method, StartLine};
pub use names::{canonical_name, is_token};
pub use uri::{SipUri, unescape};
