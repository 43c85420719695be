//! Transports: tokio UDP and TCP driving the sans-IO SIP core, UDP media sockets, and the tap
//! every byte crosses.

mod endpoint;
pub mod impair;
pub mod media;
pub mod tap;
pub mod tls;

pub use endpoint::{
    EndpointConfig, EndpointHandle, Heard, IO_DEADLINE, Incoming, NetError, Progress, UDP_REQUEST_LIMIT, start, token,
};
pub use tap::{Tap, TapEvent, TapKind, Transport};
