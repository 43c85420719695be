//! Dialogs (RFC 3261 §12): the state two user agents share after a dialog-creating exchange
//! (INVITE, SUBSCRIBE, …), and the in-dialog requests built from it.
//!
//! Pure data: no transport, no timers, no transactions. The caller feeds the messages and
//! sends what the builders produce through [`crate::sip::txn::TxnLayer`].
//!
//! From and To of in-dialog requests are copied as written from the dialog-creating messages
//! (display name, URI and every parameter, e.g. Lync's `epid`), so a peer that keys its state
//! on more than the tags still recognises its dialog.

use crate::sip::wire::{Message, MessageBuilder, Method, NameAddr, SipUri, WireError};

/// A dialog's identity (RFC 3261 §12): Call-ID and the two tags, seen from our side.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DialogKey {
    /// Call-ID.
    pub call_id: String,
    /// Our tag (From of our requests).
    pub local_tag: String,
    /// The peer's tag (To of our requests); empty for an RFC 2543 peer that sent no From tag.
    pub remote_tag: String,
}

/// Which side of the dialog-creating request we were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We sent the request.
    Uac,
    /// We received it.
    Uas,
}

/// RFC 3261 §12.1: early (created by a provisional response) or confirmed (by a 2xx).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a 101-199 response with a To tag (UAC) or before the 2xx went out (UAS).
    Early,
    /// A 2xx was received (UAC) or sent (UAS).
    Confirmed,
}

/// Why a message cannot create, confirm or enter a dialog.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// A header the dialog needs does not parse.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The message is not one that creates (or confirms) a dialog: a request where a response
    /// belongs, a 100, or a final non-2xx response.
    #[error("`{0}` does not create a dialog")]
    NotDialogCreating(String),
    /// From (of our request) or To (of the response) carries no tag.
    #[error("{0} has no tag")]
    MissingTag(&'static str),
    /// The request's To already has a tag: it belongs to an existing dialog.
    #[error("To already has a tag: the request is inside a dialog")]
    AlreadyTagged,
    /// No Contact, so there is no remote target (RFC 3261 §12.1.1, §12.1.2).
    #[error("no Contact header: the remote target is unknown")]
    MissingContact,
    /// Call-ID, tags or CSeq name another dialog or exchange (answer 481).
    #[error("message does not belong to this dialog: {0}")]
    NotThisDialog(String),
    /// The request's CSeq is not above the last one from the peer (RFC 3261 §12.2.2, answer 500).
    #[error("CSeq {got} is not above the last remote CSeq {last}")]
    OutOfOrder {
        /// The request's sequence number.
        got: u32,
        /// The highest one accepted so far.
        last: u32,
    },
}

impl DialogError {
    /// The status code a UAS answers a request refused for this reason with.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::OutOfOrder { .. } => 500,
            Self::NotThisDialog(_) => 481,
            _ => 400,
        }
    }
}

/// The dialog state of RFC 3261 §12.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    role: Role,
    state: DialogState,
    key: DialogKey,
    /// The CSeq of our last request; `None` until we send one (UAS).
    local_seq: Option<u32>,
    /// The CSeq of the peer's last accepted request; `None` until it sends one (UAC).
    remote_seq: Option<u32>,
    local_uri: String,
    remote_uri: String,
    /// The From value of our in-dialog requests, with our tag.
    local_header: String,
    /// The To value of our in-dialog requests, with the peer's tag.
    remote_header: String,
    remote_target: String,
    /// Route entries as written (`<sip:proxy;lr>`), in the order our requests carry them.
    route_set: Vec<String>,
    secure: bool,
}

fn tag_of(addr: &NameAddr) -> String {
    addr.tag().unwrap_or_default().to_owned()
}

fn is_sips(uri: &str) -> bool {
    uri.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("sips:"))
}

fn require_contact(msg: &Message) -> Result<String, DialogError> {
    Ok(msg.contact()?.ok_or(DialogError::MissingContact)?.uri)
}

/// Record-Route entries as written, in message order.
fn record_route(msg: &Message) -> Vec<String> {
    msg.list("Record-Route")
}

impl Dialog {
    /// The dialog our request created, from the request we sent (INVITE, SUBSCRIBE, …) and a
    /// 2xx or a 101-199 with a To tag (RFC 3261 §12.1.2): route set = Record-Route reversed,
    /// remote target = Contact, local sequence number = the request's CSeq.
    pub fn uac(request: &Message, response: &Message) -> Result<Self, DialogError> {
        let code = response.status().ok_or_else(|| DialogError::NotDialogCreating(response.summary()))?;
        if !(101..=299).contains(&code) {
            return Err(DialogError::NotDialogCreating(response.summary()));
        }
        let call_id = request.call_id()?;
        if response.call_id()? != call_id {
            return Err(DialogError::NotThisDialog("Call-ID differs from the request's".into()));
        }
        let from = request.from_addr()?;
        let local_tag = from.tag().ok_or(DialogError::MissingTag("From"))?.to_owned();
        if response.from_addr()?.tag() != Some(local_tag.as_str()) {
            return Err(DialogError::NotThisDialog("the response's From tag is not ours".into()));
        }
        let to = response.to_addr()?;
        let remote_tag = to.tag().filter(|t| !t.is_empty()).ok_or(DialogError::MissingTag("To"))?.to_owned();
        let cseq = request.cseq()?;
        if response.cseq()? != cseq {
            return Err(DialogError::NotThisDialog(format!("the response is not for CSeq {cseq}")));
        }
        let mut route_set = record_route(response);
        route_set.reverse();
        Ok(Self {
            role: Role::Uac,
            state: if code < 200 { DialogState::Early } else { DialogState::Confirmed },
            key: DialogKey { call_id, local_tag, remote_tag },
            local_seq: Some(cseq.seq),
            remote_seq: None,
            local_uri: from.uri,
            remote_uri: request.to_addr()?.uri,
            local_header: request.require("From")?.into_owned(),
            remote_header: response.require("To")?.into_owned(),
            remote_target: require_contact(response)?,
            route_set,
            secure: request.request_uri().is_some_and(is_sips),
        })
    }

    /// The dialog a SUBSCRIBE we sent forms with a NOTIFY that arrives for it, possibly before
    /// the 2xx (RFC 6665 §4.1.2.4): remote tag = the NOTIFY's From tag, remote target = its
    /// Contact, route set = its Record-Route in order (it is a request towards us), and the
    /// NOTIFY's CSeq is the first remote sequence number. A 2xx arriving later changes nothing.
    pub fn uac_by_notify(subscribe: &Message, notify: &Message) -> Result<Self, DialogError> {
        if !notify.is_request() {
            return Err(DialogError::NotDialogCreating(notify.summary()));
        }
        let call_id = subscribe.call_id()?;
        if notify.call_id()? != call_id {
            return Err(DialogError::NotThisDialog("Call-ID differs from the SUBSCRIBE's".into()));
        }
        let from = subscribe.from_addr()?;
        let local_tag = from.tag().ok_or(DialogError::MissingTag("From"))?.to_owned();
        if notify.to_addr()?.tag() != Some(local_tag.as_str()) {
            return Err(DialogError::NotThisDialog("the NOTIFY's To tag is not ours".into()));
        }
        let remote_tag =
            notify.from_addr()?.tag().filter(|t| !t.is_empty()).ok_or(DialogError::MissingTag("From"))?.to_owned();
        Ok(Self {
            role: Role::Uac,
            state: DialogState::Confirmed,
            key: DialogKey { call_id, local_tag, remote_tag },
            local_seq: Some(subscribe.cseq()?.seq),
            remote_seq: Some(notify.cseq()?.seq),
            local_uri: from.uri,
            remote_uri: subscribe.to_addr()?.uri,
            local_header: subscribe.require("From")?.into_owned(),
            remote_header: notify.require("From")?.into_owned(),
            remote_target: require_contact(notify)?,
            route_set: record_route(notify),
            secure: subscribe.request_uri().is_some_and(is_sips),
        })
    }

    /// The dialog a received request creates when we answer it with `local_tag` in To
    /// (RFC 3261 §12.1.1): route set = Record-Route in order, remote target = Contact, remote
    /// sequence number = the request's CSeq. The dialog is early until [`Dialog::confirm`].
    pub fn uas(request: &Message, local_tag: &str) -> Result<Self, DialogError> {
        if !request.is_request() {
            return Err(DialogError::NotDialogCreating(request.summary()));
        }
        let to = request.to_addr()?;
        if to.tag().is_some() {
            return Err(DialogError::AlreadyTagged);
        }
        let from = request.from_addr()?;
        Ok(Self {
            role: Role::Uas,
            state: DialogState::Early,
            key: DialogKey { call_id: request.call_id()?, local_tag: local_tag.to_owned(), remote_tag: tag_of(&from) },
            local_seq: None,
            remote_seq: Some(request.cseq()?.seq),
            local_uri: to.uri,
            remote_uri: from.uri,
            local_header: format!("{};tag={local_tag}", request.require("To")?),
            remote_header: request.require("From")?.into_owned(),
            remote_target: require_contact(request)?,
            route_set: record_route(request),
            secure: request.request_uri().is_some_and(is_sips),
        })
    }

    /// Moves the dialog to Confirmed on a 2xx: one received for our request (UAC; the route set
    /// and remote target are recomputed from it, RFC 3261 §13.2.2.4), or one we are sending
    /// (UAS).
    pub fn confirm(&mut self, response: &Message) -> Result<(), DialogError> {
        if !response.status().is_some_and(|c| (200..=299).contains(&c)) {
            return Err(DialogError::NotDialogCreating(response.summary()));
        }
        if self.role == Role::Uac {
            self.check_ids(response, &tag_of(&response.from_addr()?), &tag_of(&response.to_addr()?))?;
            let mut route_set = record_route(response);
            route_set.reverse();
            self.route_set = route_set;
            self.remote_target = require_contact(response)?;
        }
        self.state = DialogState::Confirmed;
        Ok(())
    }

    /// Takes a target refresh (RFC 3261 §12.2): the Contact of a re-INVITE or UPDATE we
    /// received, or of the 2xx to one we sent, becomes the remote target. Without Contact
    /// nothing changes.
    pub fn refresh_target(&mut self, msg: &Message) -> Result<(), DialogError> {
        if let Some(contact) = msg.contact()? {
            self.remote_target = contact.uri;
        }
        Ok(())
    }

    /// Starts a new in-dialog request (RFC 3261 §12.2.1.1): Request-URI = remote target (or the
    /// first route, if it is a strict router), Via as given (it carries the new branch), the
    /// route set as Route headers, From/To with the tags, Call-ID, and the next local CSeq.
    /// ACK and CANCEL reuse the current CSeq (prefer [`Dialog::ack`] for an ACK). Add Contact,
    /// body and the rest to the returned builder.
    pub fn request(&mut self, method: Method, via: &str) -> MessageBuilder {
        let seq = if method == Method::ACK || method == Method::CANCEL {
            self.local_seq.unwrap_or(1)
        } else {
            // An empty local sequence number may start anywhere below 2^31 (§12.2.1.1); 1 it is.
            let next = self.local_seq.map_or(1, |s| s.wrapping_add(1) & 0x7fff_ffff);
            self.local_seq = Some(next);
            next
        };
        self.build(method, seq, via)
    }

    /// The ACK for a 2xx to the INVITE (or re-INVITE) sent with CSeq `invite_cseq`
    /// (RFC 3261 §13.2.2.4). The local sequence number does not move.
    pub fn ack(&self, invite_cseq: u32, via: &str) -> MessageBuilder {
        self.build(Method::ACK, invite_cseq, via)
    }

    fn build(&self, method: Method, seq: u32, via: &str) -> MessageBuilder {
        let (uri, routes) = self.target_and_routes();
        let mut b = MessageBuilder::request(method.clone(), uri).header("Via", via);
        for r in routes {
            b = b.header("Route", r);
        }
        b.header("Max-Forwards", 70)
            .header("From", &self.local_header)
            .header("To", &self.remote_header)
            .header("Call-ID", &self.key.call_id)
            .header("CSeq", format!("{seq} {method}"))
    }

    /// §12.2.1.1: with a loose-routing first hop (`;lr`), the Request-URI is the remote target
    /// and the route set goes in Route as it is; with a strict router, the Request-URI is its
    /// URI and the remote target is appended as the last Route.
    fn target_and_routes(&self) -> (String, Vec<String>) {
        let Some(first) = self.route_set.first() else {
            return (self.remote_target.clone(), Vec::new());
        };
        let first_uri = NameAddr::parse("Route", first).map(|a| a.uri);
        let strict =
            first_uri.as_ref().ok().and_then(|u| SipUri::parse(u).ok()).is_some_and(|u| u.param("lr").is_none());
        match first_uri {
            Ok(uri) if strict => {
                let mut routes = self.route_set[1..].to_vec();
                routes.push(format!("<{}>", self.remote_target));
                (uri, routes)
            }
            _ => (self.remote_target.clone(), self.route_set.clone()),
        }
    }

    /// Checks an incoming in-dialog request (RFC 3261 §12.2.2): Call-ID and tags must name this
    /// dialog (else [`DialogError::NotThisDialog`], 481), and the CSeq must be above the last
    /// one from the peer (else [`DialogError::OutOfOrder`], 500). An equal CSeq is refused too:
    /// true retransmissions never get here (the transaction layer absorbs them), so it is a new
    /// request that failed to increment CSeq (§12.2.1.1). ACK and CANCEL reuse their INVITE's
    /// CSeq and are not checked against it. On success the remote sequence number moves up.
    pub fn accepts(&mut self, req: &Message) -> Result<(), DialogError> {
        if !req.is_request() {
            return Err(DialogError::NotThisDialog(format!("`{}` is not a request", req.summary())));
        }
        self.check_ids(req, &tag_of(&req.to_addr()?), &tag_of(&req.from_addr()?))?;
        if matches!(req.method(), Some(m) if *m == Method::ACK || *m == Method::CANCEL) {
            return Ok(());
        }
        let got = req.cseq()?.seq;
        match self.remote_seq {
            Some(last) if got <= last => Err(DialogError::OutOfOrder { got, last }),
            _ => {
                self.remote_seq = Some(got);
                Ok(())
            }
        }
    }

    /// Call-ID and the tags as seen from our side must match the key.
    fn check_ids(&self, msg: &Message, local_tag: &str, remote_tag: &str) -> Result<(), DialogError> {
        if msg.call_id()? != self.key.call_id {
            return Err(DialogError::NotThisDialog("Call-ID differs".into()));
        }
        if local_tag != self.key.local_tag || remote_tag != self.key.remote_tag {
            return Err(DialogError::NotThisDialog(format!(
                "tags local={local_tag:?} remote={remote_tag:?}, dialog has local={:?} remote={:?}",
                self.key.local_tag, self.key.remote_tag
            )));
        }
        Ok(())
    }

    /// The dialog id.
    pub fn key(&self) -> &DialogKey {
        &self.key
    }

    /// UAC or UAS.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Early or confirmed.
    pub fn state(&self) -> DialogState {
        self.state
    }

    /// Where our in-dialog requests go: the peer's Contact URI.
    pub fn remote_target(&self) -> &str {
        &self.remote_target
    }

    /// The route set, in the order our requests carry it as Route headers.
    pub fn route_set(&self) -> &[String] {
        &self.route_set
    }

    /// The CSeq of our last request, if we sent one.
    pub fn local_seq(&self) -> Option<u32> {
        self.local_seq
    }

    /// The CSeq of the peer's last accepted request, if it sent one.
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// Our URI (From of our requests).
    pub fn local_uri(&self) -> &str {
        &self.local_uri
    }

    /// The peer's URI (To of our requests).
    pub fn remote_uri(&self) -> &str {
        &self.remote_uri
    }

    /// True when the dialog was created over a SIPS Request-URI (RFC 3261 §12.1).
    pub fn is_secure(&self) -> bool {
        self.secure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIA: &str = "SIP/2.0/TLS edge.contoso.com:5061;branch=z9hG4bKnew";

    fn invite() -> Message {
        MessageBuilder::request(Method::INVITE, "sip:bob@fabrikam.com")
            .header("Via", "SIP/2.0/TLS edge.contoso.com:5061;branch=z9hG4bKinv")
            .header("Max-Forwards", "70")
            .header("From", "\"Alice\" <sip:alice@contoso.com>;tag=a1;epid=01020304")
            .header("To", "<sip:bob@fabrikam.com>")
            .header("Call-ID", "call-1@contoso.com")
            .header("CSeq", "41 INVITE")
            .header("Contact", "<sip:alice@edge.contoso.com:5061;transport=tls>")
            .header("Record-Route", "<sip:edge.contoso.com:5061;transport=tls;lr>")
            .build()
    }

    fn ok_for(req: &Message, code: u16) -> Message {
        MessageBuilder::response_to(req, code, "OK", Some("b9"))
            .header("Record-Route", "<sip:sbc.fabrikam.com;lr>, <sip:proxy.fabrikam.com;lr>")
            .header("Record-Route", "<sip:edge.contoso.com:5061;transport=tls;lr>")
            .header("Contact", "<sip:bob@10.1.1.1:5061;transport=tls>")
            .build()
    }

    /// A request from the peer inside the dialog the UAC side of these tests holds.
    fn from_peer(method: Method, seq: u32) -> Message {
        MessageBuilder::request(method.clone(), "sip:alice@edge.contoso.com:5061;transport=tls")
            .header("Via", "SIP/2.0/TLS 10.1.1.1:5061;branch=z9hG4bKpeer")
            .header("From", "<sip:bob@fabrikam.com>;tag=b9")
            .header("To", "\"Alice\" <sip:alice@contoso.com>;tag=a1;epid=01020304")
            .header("Call-ID", "call-1@contoso.com")
            .header("CSeq", format!("{seq} {method}"))
            .build()
    }

    #[test]
    fn a_notify_before_the_2xx_forms_the_subscription_dialog() {
        let sub = MessageBuilder::request(Method::SUBSCRIBE, "sip:bob@fabrikam.com")
            .header("Via", "SIP/2.0/TCP edge.contoso.com;branch=z9hG4bKsub")
            .header("From", "<sip:alice@contoso.com>;tag=a1")
            .header("To", "<sip:bob@fabrikam.com>")
            .header("Call-ID", "call-1@contoso.com")
            .header("CSeq", "7 SUBSCRIBE")
            .header("Contact", "<sip:alice@edge.contoso.com>")
            .build();
        let notify = MessageBuilder::request(Method::NOTIFY, "sip:alice@edge.contoso.com")
            .header("Via", "SIP/2.0/TCP 10.1.1.1;branch=z9hG4bKn")
            .header("From", "<sip:bob@fabrikam.com>;tag=b9")
            .header("To", "<sip:alice@contoso.com>;tag=a1")
            .header("Call-ID", "call-1@contoso.com")
            .header("CSeq", "1 NOTIFY")
            .header("Contact", "<sip:bob@10.1.1.1>")
            .build();
        let mut d = Dialog::uac_by_notify(&sub, &notify).unwrap();
        assert_eq!(d.key().remote_tag, "b9");
        assert_eq!(d.remote_target(), "sip:bob@10.1.1.1");
        assert_eq!(d.local_seq(), Some(7));
        let next = MessageBuilder::request(Method::NOTIFY, "sip:alice@edge.contoso.com")
            .header("From", "<sip:bob@fabrikam.com>;tag=b9")
            .header("To", "<sip:alice@contoso.com>;tag=a1")
            .header("Call-ID", "call-1@contoso.com")
            .header("CSeq", "1 NOTIFY")
            .build();
        assert!(d.accepts(&next).is_err(), "a repeated CSeq is out of order");
        let stranger = MessageBuilder::request(Method::NOTIFY, "sip:alice@edge.contoso.com")
            .header("From", "<sip:bob@fabrikam.com>;tag=b9")
            .header("To", "<sip:alice@contoso.com>;tag=zz")
            .header("Call-ID", "call-1@contoso.com")
            .header("CSeq", "1 NOTIFY")
            .header("Contact", "<sip:bob@10.1.1.1>")
            .build();
        assert!(Dialog::uac_by_notify(&sub, &stranger).is_err());
    }

    #[test]
    fn uac_route_set_is_record_route_reversed() {
        let d = Dialog::uac(&invite(), &ok_for(&invite(), 200)).unwrap();
        assert_eq!(
            d.route_set(),
            [
                "<sip:edge.contoso.com:5061;transport=tls;lr>",
                "<sip:proxy.fabrikam.com;lr>",
                "<sip:sbc.fabrikam.com;lr>"
            ]
        );
        assert_eq!(d.remote_target(), "sip:bob@10.1.1.1:5061;transport=tls");
        assert_eq!(
            d.key(),
            &DialogKey { call_id: "call-1@contoso.com".into(), local_tag: "a1".into(), remote_tag: "b9".into() }
        );
        assert_eq!(
            (d.role(), d.state(), d.local_seq(), d.remote_seq()),
            (Role::Uac, DialogState::Confirmed, Some(41), None)
        );
        assert_eq!((d.local_uri(), d.remote_uri()), ("sip:alice@contoso.com", "sip:bob@fabrikam.com"));
        assert!(!d.is_secure());
    }

    #[test]
    fn in_dialog_request_carries_the_dialog_headers_and_the_next_cseq() {
        let mut d = Dialog::uac(&invite(), &ok_for(&invite(), 200)).unwrap();
        let bye = d.request(Method::BYE, VIA).build();
        let expected = "BYE sip:bob@10.1.1.1:5061;transport=tls SIP/2.0\r\n\
            Via: SIP/2.0/TLS edge.contoso.com:5061;branch=z9hG4bKnew\r\n\
            Route: <sip:edge.contoso.com:5061;transport=tls;lr>\r\n\
            Route: <sip:proxy.fabrikam.com;lr>\r\n\
            Route: <sip:sbc.fabrikam.com;lr>\r\n\
            Max-Forwards: 70\r\n\
            From: \"Alice\" <sip:alice@contoso.com>;tag=a1;epid=01020304\r\n\
            To: <sip:bob@fabrikam.com>;tag=b9\r\n\
            Call-ID: call-1@contoso.com\r\n\
            CSeq: 42 BYE\r\n\
            Content-Length: 0\r\n\r\n";
        assert_eq!(String::from_utf8_lossy(bye.as_bytes()), expected);
        assert_eq!(bye.cseq().unwrap().seq, 42);
        let info = d.request(Method::INFO, VIA).body("application/x-ms-mim", "x").build();
        assert_eq!(info.value("CSeq").as_deref(), Some("43 INFO"));
        assert_eq!(d.local_seq(), Some(43));
    }

    #[test]
    fn ack_and_cancel_reuse_the_invite_cseq() {
        let mut d = Dialog::uac(&invite(), &ok_for(&invite(), 200)).unwrap();
        let ack = d.ack(41, VIA).build();
        assert_eq!(ack.value("CSeq").as_deref(), Some("41 ACK"));
        assert_eq!(ack.request_uri(), Some("sip:bob@10.1.1.1:5061;transport=tls"));
        assert_eq!(ack.value("To").as_deref(), Some("<sip:bob@fabrikam.com>;tag=b9"));
        let reinvite = d.request(Method::INVITE, VIA).build();
        assert_eq!(reinvite.value("CSeq").as_deref(), Some("42 INVITE"));
        assert_eq!(d.request(Method::ACK, VIA).build().value("CSeq").as_deref(), Some("42 ACK"));
        assert_eq!(d.request(Method::CANCEL, VIA).build().value("CSeq").as_deref(), Some("42 CANCEL"));
        assert_eq!(d.local_seq(), Some(42));
    }

    #[test]
    fn accepts_rejects_a_lower_or_repeated_cseq_with_500() {
        let mut d = Dialog::uac(&invite(), &ok_for(&invite(), 200)).unwrap();
        // The peer's sequence space is its own: the first request sets it.
        d.accepts(&from_peer(Method::INFO, 7)).unwrap();
        assert_eq!(d.remote_seq(), Some(7));
        d.accepts(&from_peer(Method::INFO, 9)).unwrap();
        let lower = d.accepts(&from_peer(Method::BYE, 8)).unwrap_err();
        assert_eq!(lower, DialogError::OutOfOrder { got: 8, last: 9 });
        assert_eq!(lower.status_code(), 500);
        assert_eq!(d.accepts(&from_peer(Method::BYE, 9)), Err(DialogError::OutOfOrder { got: 9, last: 9 }));
        assert_eq!(d.remote_seq(), Some(9));
        d.accepts(&from_peer(Method::BYE, 10)).unwrap();
        assert_eq!(d.remote_seq(), Some(10));
    }

    #[test]
    fn accepts_rejects_another_dialogs_request_with_481() {
        let mut d = Dialog::uac(&invite(), &ok_for(&invite(), 200)).unwrap();
        let text = String::from_utf8(from_peer(Method::BYE, 3).as_bytes().to_vec()).unwrap();
        let wrong_tag = Message::parse_datagram(text.replace("tag=b9", "tag=zz").as_bytes()).unwrap();
        let err = d.accepts(&wrong_tag).unwrap_err();
        assert!(matches!(err, DialogError::NotThisDialog(_)), "{err}");
        assert_eq!(err.status_code(), 481);
        assert_eq!(d.remote_seq(), None);
    }

    #[test]
    fn uas_keeps_record_route_order_and_the_remote_cseq() {
        let mut d = Dialog::uas(&ok_for_request_with_rr(), "b9").unwrap();
        assert_eq!(d.route_set(), ["<sip:p1.contoso.com;lr>", "<sip:p2.fabrikam.com;lr>"]);
        assert_eq!(d.remote_target(), "sip:alice@edge.contoso.com:5061;transport=tls");
        assert_eq!(
            (d.role(), d.state(), d.local_seq(), d.remote_seq()),
            (Role::Uas, DialogState::Early, None, Some(41))
        );
        assert_eq!(d.key().remote_tag, "a1");
        // Our first request starts our own sequence space.
        let bye = d.request(Method::BYE, VIA).build();
        assert_eq!(bye.value("CSeq").as_deref(), Some("1 BYE"));
        assert_eq!(bye.value("From").as_deref(), Some("<sip:bob@fabrikam.com>;tag=b9"));
        assert_eq!(bye.value("To").as_deref(), Some("\"Alice\" <sip:alice@contoso.com>;tag=a1;epid=01020304"));
        assert_eq!(bye.values("Route").collect::<Vec<_>>(), ["<sip:p1.contoso.com;lr>", "<sip:p2.fabrikam.com;lr>"]);

        let sent_ok = MessageBuilder::response_to(&ok_for_request_with_rr(), 200, "OK", Some("b9")).build();
        d.confirm(&sent_ok).unwrap();
        assert_eq!(d.state(), DialogState::Confirmed);
        assert_eq!(Dialog::uas(&sent_ok, "x"), Err(DialogError::NotDialogCreating("200 OK".into())));
    }

    fn ok_for_request_with_rr() -> Message {
        let text = String::from_utf8(invite().as_bytes().to_vec()).unwrap().replace(
            "Record-Route: <sip:edge.contoso.com:5061;transport=tls;lr>",
            "Record-Route: <sip:p1.contoso.com;lr>\r\nRecord-Route: <sip:p2.fabrikam.com;lr>",
        );
        Message::parse_datagram(text.as_bytes()).unwrap()
    }

    #[test]
    fn provisional_with_tag_makes_an_early_dialog_that_a_2xx_confirms() {
        let req = invite();
        assert!(matches!(
            Dialog::uac(&req, &MessageBuilder::response_to(&req, 100, "Trying", None).build()),
            Err(DialogError::NotDialogCreating(_))
        ));
        let no_tag = MessageBuilder::response_to(&req, 180, "Ringing", None).header("Contact", "<sip:b@h>").build();
        assert_eq!(Dialog::uac(&req, &no_tag), Err(DialogError::MissingTag("To")));
        let ringing =
            MessageBuilder::response_to(&req, 180, "Ringing", Some("b9")).header("Contact", "<sip:b@h>").build();
        let mut d = Dialog::uac(&req, &ringing).unwrap();
        assert_eq!((d.state(), d.route_set().len(), d.remote_target()), (DialogState::Early, 0, "sip:b@h"));
        d.confirm(&ok_for(&req, 200)).unwrap();
        assert_eq!(d.state(), DialogState::Confirmed);
        assert_eq!(d.route_set().len(), 3);
        assert_eq!(d.remote_target(), "sip:bob@10.1.1.1:5061;transport=tls");

        // A 2xx from another fork (other To tag) is another dialog.
        let other = MessageBuilder::response_to(&req, 200, "OK", Some("fork2")).header("Contact", "<sip:c@h>").build();
        assert!(matches!(d.confirm(&other), Err(DialogError::NotThisDialog(_))));
    }

    #[test]
    fn strict_router_first_hop_takes_the_request_uri() {
        let req = invite();
        let resp = MessageBuilder::response_to(&req, 200, "OK", Some("b9"))
            .header("Record-Route", "<sip:p2.fabrikam.com;lr>, <sip:strict.contoso.com>")
            .header("Contact", "<sip:bob@10.1.1.1>")
            .build();
        let mut d = Dialog::uac(&req, &resp).unwrap();
        let bye = d.request(Method::BYE, VIA).build();
        assert_eq!(bye.request_uri(), Some("sip:strict.contoso.com"));
        assert_eq!(bye.values("Route").collect::<Vec<_>>(), ["<sip:p2.fabrikam.com;lr>", "<sip:bob@10.1.1.1>"]);
    }

    #[test]
    fn target_refresh_replaces_the_remote_target() {
        let mut d = Dialog::uac(&invite(), &ok_for(&invite(), 200)).unwrap();
        let mut reinvite = from_peer(Method::INVITE, 5);
        d.refresh_target(&reinvite).unwrap();
        assert_eq!(d.remote_target(), "sip:bob@10.1.1.1:5061;transport=tls");
        let text = String::from_utf8(reinvite.as_bytes().to_vec())
            .unwrap()
            .replace("Content-Length: 0", "Contact: <sip:bob@10.2.2.2:5061;transport=tls>\r\nContent-Length: 0");
        reinvite = Message::parse_datagram(text.as_bytes()).unwrap();
        d.refresh_target(&reinvite).unwrap();
        assert_eq!(d.remote_target(), "sip:bob@10.2.2.2:5061;transport=tls");
    }

    #[test]
    fn missing_contact_or_tagged_to_cannot_create_a_dialog() {
        let req = invite();
        let no_contact = MessageBuilder::response_to(&req, 200, "OK", Some("b9")).build();
        assert_eq!(Dialog::uac(&req, &no_contact), Err(DialogError::MissingContact));
        assert_eq!(Dialog::uas(&from_peer(Method::INVITE, 1), "x"), Err(DialogError::AlreadyTagged));
    }
}
