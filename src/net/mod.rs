//! Transports: tokio UDP and TCP driving the sans-IO SIP core, and the tap every byte crosses.

mod endpoint;
pub mod tap;

pub use endpoint::{EndpointConfig, EndpointHandle, IO_DEADLINE, Incoming, NetError, UDP_REQUEST_LIMIT, start, token};
pub use tap::{Tap, TapEvent, TapKind, Transport};
