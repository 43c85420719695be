//! Simulated users. Each leg of the world around the gateway is one [`SimSide`]: the Lync
//! Edge/pool on the enterprise leg, the Skype cloud on the consumer leg. Users are
//! multiplexed on their side's endpoint, as a real pool or cloud fronts its users.
//!
//! Agents report what happened ([`AgentEvent`]); they never judge. Steps judge.

mod call;
mod contacts;
mod identity;
mod im;
pub mod media;
mod presence;
mod side;
mod subscriptions;

pub use call::{CallPhase, CallView, VideoHabit};
pub use contacts::Answer;
pub use identity::{Address, AddressError, Side};
pub use presence::{Container, PrivacyMode, Shown};
pub use side::{AgentEvent, Outcome, SimSide, WaitError};
