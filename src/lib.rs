//! fedcert: a conformance and interoperability harness for gateways that federate Lync
//! (enterprise, MS-SIP) users with Skype (consumer, Microsoft-account) users.
//!
//! Layers, bottom to top: [`sip`] (wire, transactions, dialogs), [`net`] (transports and the
//! tap), [`dialect`] (how each side speaks), [`agent`] (simulated users), [`gateway`] (the
//! reference system under test), [`sut`] (profiles), [`trace`] (pcap and canonical trace),
//! [`report`], [`suite`] (the Gherkin world and steps) and [`cli`].

pub mod agent;
pub mod dialect;
#[doc(hidden)]
pub mod fuzzing;
pub mod gateway;
pub mod html;
pub mod load;
pub mod media;
pub mod net;
pub mod report;
pub mod sdp;
pub mod selftest;
pub mod sip;
pub mod suite;
pub mod sut;
pub mod trace;
