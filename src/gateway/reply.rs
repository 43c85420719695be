//! How the gateway answers requests on either leg: its own answers, refusals it decides itself
//! (a 415 names what it accepts), and answers relayed from the other leg. flows.md ("IM
//! sessions"): the gateway forwards, then answers, and passes the far side's failure through
//! as given (code, reason phrase, every `Warning`), so the sender's agent sees `480`, `486`,
//! `606` + `Warning: 309` exactly as the far side wrote them.

use super::{Inner, Leg};
use crate::net::token;
use crate::sip::txn::TxnId;
use crate::sip::wire::ms::MsDiagnostics;
use crate::sip::wire::{Message, MessageBuilder};

const NOT_FOUND_DIAG: &str = "Destination URI either not enabled for SIP or does not exist";

/// The reason phrase for a code the gateway originates (RFC 3261 §21).
pub(super) fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        415 => "Unsupported Media Type",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        _ => "Failed",
    }
}

/// A request the gateway refuses by itself, without asking the other leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    pub code: u16,
    pub reason: String,
    /// The `Accept` of a 415 (RFC 3261 §21.4.13: it lists what would have been taken).
    pub accept: Option<&'static str>,
}

impl Refusal {
    /// 415 naming what the gateway accepts.
    pub fn unsupported(accept: &'static str) -> Self {
        Self { code: 415, reason: reason(415).to_owned(), accept: Some(accept) }
    }

    /// 400 whose reason phrase says what is wrong. A reason phrase cannot hold a line break,
    /// and parse errors quote the input, so control characters become spaces.
    pub fn bad(detail: impl AsRef<str>) -> Self {
        let reason = detail.as_ref().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        Self { code: 400, reason, accept: None }
    }
}

impl Inner {
    pub(super) fn tag(&self) -> String {
        token(&mut self.lock().rng, 10)
    }

    pub(super) fn reply_on(&self, leg: Leg, id: TxnId, req: &Message, code: u16, reason: &str) {
        let tag = self.tag();
        self.endpoint(leg).respond(id, MessageBuilder::response_to(req, code, reason, Some(&tag)).build());
    }

    /// 200 to an OPTIONS addressed to the gateway itself, with what it supports.
    pub(super) fn ping(&self, leg: Leg, id: TxnId, req: &Message) {
        let tag = self.tag();
        let ok = MessageBuilder::response_to(req, 200, "OK", Some(&tag))
            .header("Allow", "INVITE, ACK, CANCEL, BYE, MESSAGE, INFO, SUBSCRIBE, NOTIFY, BENOTIFY, OPTIONS")
            .header("Accept", "application/sdp, multipart/alternative, text/plain")
            .build();
        self.endpoint(leg).respond(id, ok);
    }

    pub(super) fn reply(&self, id: TxnId, req: &Message, code: u16, reason: &str) {
        self.reply_on(Leg::Enterprise, id, req, code, reason);
    }

    pub(super) fn reply_consumer(&self, id: TxnId, req: &Message, code: u16, reason: &str) {
        self.reply_on(Leg::Consumer, id, req, code, reason);
    }

    /// 404 towards Lync with diagnostics explaining the unknown target (req 30: the public
    /// copy carries no `source`).
    pub(super) fn reply_not_found(&self, id: TxnId, req: &Message) {
        let tag = self.tag();
        let resp = MessageBuilder::response_to(req, 404, "Not Found", Some(&tag))
            .header("ms-diagnostics", MsDiagnostics::render(4005, NOT_FOUND_DIAG, Some(&self.config.fqdn)))
            .header("ms-diagnostics-public", MsDiagnostics::render(4005, NOT_FOUND_DIAG, None))
            .build();
        self.enterprise.respond(id, resp);
    }

    pub(super) fn refuse(&self, leg: Leg, id: TxnId, req: &Message, refusal: &Refusal) {
        let tag = self.tag();
        let resp = MessageBuilder::response_to(req, refusal.code, &refusal.reason, Some(&tag))
            .header_opt("Accept", refusal.accept)
            .build();
        self.endpoint(leg).respond(id, resp);
    }

    /// Answers a request on `leg` that the other leg refused (`far` is its final response) or
    /// never answered (`None`): a 404 towards Lync gets diagnostics (req 30); any other
    /// failure passes through with its reason phrase and Warnings; silence is 480.
    pub(super) fn relay_failure(&self, leg: Leg, id: TxnId, req: &Message, far: Option<&Message>) {
        match far.and_then(|r| r.status().map(|c| (r, c))) {
            Some((_, 404)) if leg == Leg::Enterprise => self.reply_not_found(id, req),
            Some((r, code)) if code >= 300 => {
                let why = r.reason().filter(|w| !w.is_empty()).unwrap_or(reason(code));
                let tag = self.tag();
                let mut b = MessageBuilder::response_to(req, code, why, Some(&tag));
                for w in r.values("Warning") {
                    b = b.header("Warning", w);
                }
                self.endpoint(leg).respond(id, b.build());
            }
            _ => self.reply_on(leg, id, req, 480, reason(480)),
        }
    }

    /// Answers a request on `leg` after the other leg answered the one it became: 200 for a
    /// 2xx, the failure relayed otherwise.
    pub(super) fn relay(&self, leg: Leg, id: TxnId, req: &Message, far: Option<&Message>) {
        match far.and_then(Message::status) {
            Some(c) if (200..300).contains(&c) => self.reply_on(leg, id, req, 200, reason(200)),
            _ => self.relay_failure(leg, id, req, far),
        }
    }
}
