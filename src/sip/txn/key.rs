//! Transaction matching keys (RFC 3261 §17.1.3 and §17.2.3).
//!
//! Branches are compared exactly as written (they are opaque tokens the sending element made
//! up); sent-by hosts case-insensitively, as host names are. The RFC 2543 fallback (requests
//! whose branch lacks the `z9hG4bK` magic cookie) is not implemented: such branches are still
//! used as opaque keys, which works whenever the peer's branches are unique.

use crate::sip::wire::{Message, Method};

/// Matches a response to a client transaction (§17.1.3): the top-Via branch and the CSeq
/// method. The method keeps an INVITE and its CANCEL, which share a branch, apart.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    pub(crate) branch: String,
    pub(crate) method: Method,
}

impl ClientKey {
    /// The key of a request we send: its top-Via branch and its method. `None` when the request
    /// carries no top Via with a branch, in which case no response can ever match it.
    pub(crate) fn for_request(req: &Message) -> Option<Self> {
        let branch = req.top_via().ok()?.branch().filter(|b| !b.is_empty())?.to_owned();
        Some(Self { branch, method: req.method()?.clone() })
    }

    /// The key a received response names: its top-Via branch and its CSeq method.
    pub(crate) fn for_response(resp: &Message) -> Option<Self> {
        let branch = resp.top_via().ok()?.branch().filter(|b| !b.is_empty())?.to_owned();
        Some(Self { branch, method: resp.cseq().ok()?.method })
    }
}

/// Matches a request to a server transaction (§17.2.3): the top-Via branch, the top-Via
/// sent-by, and the method, where ACK counts as INVITE (it belongs to the INVITE server
/// transaction when it acknowledges a non-2xx final response).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ServerKey {
    pub(crate) branch: String,
    /// sent-by host, lower-cased.
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
    pub(crate) method: Method,
}

impl ServerKey {
    /// The key of a received request; `None` without a parseable top Via carrying a branch.
    pub(crate) fn for_request(req: &Message) -> Option<Self> {
        let method = req.method()?;
        Self::with_method(req, if *method == Method::ACK { Method::INVITE } else { method.clone() })
    }

    /// The key of the INVITE server transaction a CANCEL (or any request sharing its branch)
    /// refers to (RFC 3261 §9.2).
    pub(crate) fn invite_for(req: &Message) -> Option<Self> {
        Self::with_method(req, Method::INVITE)
    }

    fn with_method(req: &Message, method: Method) -> Option<Self> {
        let via = req.top_via().ok()?;
        let branch = via.branch().filter(|b| !b.is_empty())?.to_owned();
        Some(Self { branch, host: via.host.to_ascii_lowercase(), port: via.port, method })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, via: &str) -> Message {
        let text =
            format!("{method} sip:bob@fabrikam.com SIP/2.0\r\nVia: {via}\r\nCSeq: 1 {method}\r\nCall-ID: c1\r\n\r\n");
        Message::parse_datagram(text.as_bytes()).unwrap()
    }

    #[test]
    fn ack_keys_to_the_invite_server_transaction_and_cancel_does_not() {
        let via = "SIP/2.0/UDP Edge.Contoso.com:5060;branch=z9hG4bK1";
        let invite = ServerKey::for_request(&req("INVITE", via)).unwrap();
        assert_eq!(ServerKey::for_request(&req("ACK", via)), Some(invite.clone()));
        assert_ne!(ServerKey::for_request(&req("CANCEL", via)), Some(invite.clone()));
        assert_eq!(ServerKey::invite_for(&req("CANCEL", via)), Some(invite.clone()));
        let other_host = ServerKey::for_request(&req("INVITE", "SIP/2.0/UDP edge.contoso.com:5070;branch=z9hG4bK1"));
        assert_ne!(other_host, Some(invite.clone()));
        let same_host_other_case =
            ServerKey::for_request(&req("INVITE", "SIP/2.0/UDP edge.contoso.com:5060;branch=z9hG4bK1"));
        assert_eq!(same_host_other_case, Some(invite));
    }

    #[test]
    fn a_request_without_a_branch_has_no_key() {
        assert_eq!(ServerKey::for_request(&req("INVITE", "SIP/2.0/UDP edge.contoso.com")), None);
        assert_eq!(ClientKey::for_request(&req("INVITE", "SIP/2.0/UDP edge.contoso.com;branch=")), None);
    }
}
