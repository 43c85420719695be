//! fedcert: a conformance and interoperability harness for gateways that federate Lync
//! (enterprise, MS-SIP) users with Skype (consumer, Microsoft-account) users.
//!
//! Layers, bottom to top: [`sip`] (wire, transactions), [`net`] (transports and the tap),
//! [`trace`] (pcap and canonical trace).

pub mod sip;
