//! IM translation (flows.md "IM sessions", PROTOCOL.md §1.5 and §9.2, reqs 13–17): the Lync
//! INVITE-based session on the enterprise leg, pager-mode MESSAGE (RFC 3428) on the consumer
//! leg, text and typing in both directions.
//!
//! The gateway keeps one enterprise session per conversation, and answers every request only
//! after the other leg answered the request it became (forward, then answer), relaying the far
//! side's failure as given.

mod body;

use body::{ConsumerIm, Typing};

use super::policy::aor;
use super::reply::{Refusal, reason};
use super::{Conversation, Defect, ImSession, Inner, Leg, Msa, State};
use crate::net::token;
use crate::sip::dialog::{Dialog, DialogKey};
use crate::sip::txn::TxnId;
use crate::sip::wire::ms::MsTextFormat;
use crate::sip::wire::{Message, MessageBuilder, Method};

/// The gateway's own `a=accept-types`: it reads all three from Lync.
const ACCEPT_TYPES: &str = "text/plain multipart/alternative text/html";

fn im_sdp(host: &str, media_uri: &str) -> String {
    format!(
        "v=0\r\no=- 0 0 IN IP4 {host}\r\ns=session\r\nc=IN IP4 {host}\r\nt=0 0\r\nm=message 5060 sip {media_uri}\r\na=accept-types:{ACCEPT_TYPES}\r\n"
    )
}

fn is_success(resp: Option<&Message>) -> bool {
    resp.and_then(Message::status).is_some_and(|c| (200..300).contains(&c))
}

/// A Lync client's reading of an answer to an in-dialog request: `408` or `481` means the
/// dialog is gone on its side (PROTOCOL.md §1.5).
fn is_dead_session(resp: Option<&Message>) -> bool {
    matches!(resp.and_then(Message::status), Some(408 | 481))
}

impl State {
    /// The session an in-dialog request from Lync belongs to: `481` for a dialog the gateway
    /// does not know (never opened, ended, or replaced by a newer INVITE), `500` for one out
    /// of order (RFC 3261 §12.2.2).
    fn session_of(&mut self, req: &Message) -> Result<(Conversation, &mut ImSession), u16> {
        let call_id = req.call_id().map_err(|_| 400_u16)?;
        let (conv, session) =
            self.sessions.iter_mut().find(|(_, s)| s.dialog.key().call_id == call_id).ok_or(481_u16)?;
        session.dialog.accepts(req).map_err(|e| e.status_code())?;
        Ok((conv.clone(), session))
    }

    /// Opens the session of `conv`; an older one is forgotten (flows.md: the newest INVITE
    /// for a pair replaces it, and its dialog gets 481 from now on).
    fn open_session(&mut self, conv: Conversation, session: ImSession) {
        if let Some(old) = self.sessions.insert(conv, session) {
            tracing::debug!(call_id = %old.dialog.key().call_id, "IM session replaced by a newer one");
        }
    }

    /// Forgets the session of `conv` if it still is the dialog `key`: a newer session may have
    /// replaced it while the gateway waited for an answer.
    fn forget_session(&mut self, conv: &Conversation, key: &DialogKey) -> Option<ImSession> {
        if self.sessions.get(conv).is_some_and(|s| s.dialog.key() == key) { self.sessions.remove(conv) } else { None }
    }
}

impl Inner {
    /// The Lync-side URI of a Skype account, honouring seeded defects.
    pub(super) fn present(&self, msa: &Msa) -> String {
        if self.config.defects.has(Defect::UndecoratedCustomDomains) {
            return msa.consumer_uri();
        }
        self.config.namespaces.lync_uri_of_msa(msa)
    }

    /// Sends a pager MESSAGE (its own Call-ID) from the Lync user to the Skype account; the
    /// cloud's final response, `None` when it gave none.
    async fn to_consumer(&self, conv: &Conversation, content_type: &str, body: String) -> Option<Message> {
        let peer = self.consumer_peer()?;
        let msg = {
            let mut st = self.lock();
            MessageBuilder::request(Method::MESSAGE, conv.msa.consumer_uri())
                .header("Via", self.via(Leg::Consumer, &mut st.rng))
                .header("Max-Forwards", 70)
                .header("From", format!("<sip:{}>;tag={}", conv.lync_user, token(&mut st.rng, 10)))
                .header("To", format!("<{}>", conv.msa.consumer_uri()))
                .header("Call-ID", token(&mut st.rng, 24))
                .header("CSeq", "1 MESSAGE")
                .body(content_type, body)
                .build()
        };
        self.consumer.request(msg, peer).await.ok()
    }

    /// Sends `method` into the conversation's open session, its body made by `body` from the
    /// session's `rich` flag. A session Lync has lost is forgotten here.
    async fn in_session(
        &self,
        conv: &Conversation,
        method: Method,
        body: impl FnOnce(bool, &mut fastrand::Rng) -> (String, Vec<u8>),
    ) -> InSession {
        let Some(peer) = self.enterprise_peer() else { return InSession::NoSession };
        let prepared = {
            let mut st = self.lock();
            let State { sessions, rng, .. } = &mut *st;
            sessions.get_mut(conv).map(|session| {
                let via = self.via(Leg::Enterprise, rng);
                let (content_type, bytes) = body(session.rich, rng);
                (session.dialog.key().clone(), session.dialog.request(method, &via).body(&content_type, bytes).build())
            })
        };
        let Some((key, msg)) = prepared else { return InSession::NoSession };
        let resp = self.enterprise.request(msg, peer).await.ok();
        if is_dead_session(resp.as_ref()) {
            self.lock().forget_session(conv, &key);
            return InSession::Dead;
        }
        InSession::Answered(resp)
    }
}

/// What became of a request the gateway sent into a conversation's session.
#[derive(Debug)]
enum InSession {
    /// Lync's final response (`None` when it gave none).
    Answered(Option<Message>),
    /// No session was open: nothing was sent.
    NoSession,
    /// Lync no longer knows the dialog (408/481): the session has been forgotten.
    Dead,
}

/// A request arriving on the enterprise face.
pub(super) async fn from_enterprise(inner: &Inner, id: TxnId, req: Message) {
    match req.method().map(Method::as_str) {
        Some("INVITE") => invite_from_lync(inner, id, req).await,
        Some("MESSAGE") => message_from_lync(inner, id, req).await,
        Some("INFO") => info_from_lync(inner, id, req).await,
        Some("BYE") => {
            let ended = {
                let mut st = inner.lock();
                let found = st.session_of(&req).map(|(conv, _)| conv);
                found.map(|conv| st.sessions.remove(&conv))
            };
            match ended {
                Ok(_) => inner.reply(id, &req, 200, reason(200)),
                Err(code) => inner.reply(id, &req, code, reason(code)),
            }
        }
        _ => inner.reply(id, &req, 501, reason(501)),
    }
}

async fn invite_from_lync(inner: &Inner, id: TxnId, req: Message) {
    if req.to_addr().is_ok_and(|t| t.tag().is_some()) {
        return reinvite_from_lync(inner, id, &req);
    }
    let Some(from) = req.from_addr().ok().and_then(|f| aor(&f.uri)) else {
        return inner.reply(id, &req, 400, "Bad From");
    };
    if !inner.lync_user_enabled(&from) {
        return inner.reply_not_authorized(id, &req);
    }
    let Ok(msa) = inner.config.namespaces.msa_of_lync_uri(req.request_uri().unwrap_or_default()) else {
        return inner.reply_not_found(id, &req);
    };
    let tag = inner.tag();
    let mut dialog = match Dialog::uas(&req, &tag) {
        Ok(d) => d,
        Err(e) => return inner.reply(id, &req, e.status_code(), reason(e.status_code())),
    };
    // A first message the gateway cannot read is refused, never silently dropped (req 13).
    let first = match req.value("ms-text-format").map(|v| MsTextFormat::parse(&v)) {
        None => None,
        Some(Ok(f)) => Some(f.text),
        Some(Err(e)) => {
            return inner.refuse(Leg::Enterprise, id, &req, &Refusal::bad(format!("Bad ms-text-format: {e}")));
        }
    };
    let conv = Conversation { lync_user: from, msa };
    if let Some(text) = first.as_ref().filter(|_| !inner.config.defects.has(Defect::FirstImDropped)) {
        let resp = inner.to_consumer(&conv, body::PLAIN, text.clone()).await;
        if !is_success(resp.as_ref()) {
            return inner.relay_failure(Leg::Enterprise, id, &req, resp.as_ref());
        }
    }
    let b = MessageBuilder::response_to(&req, 200, "OK", Some(&tag)).header("Contact", inner.contact(Leg::Enterprise));
    let b = if first.is_some() { b.header("Supported", "ms-text-format") } else { b };
    let resp = b.body("application/sdp", im_sdp(&inner.config.ip.to_string(), &inner.present(&conv.msa))).build();
    let _ = dialog.confirm(&resp);
    // Open before answering: Lync's next MESSAGE may follow the 200 at once.
    inner.lock().open_session(conv, ImSession { dialog, rich: body::offers_rich(&req) });
    inner.enterprise.respond(id, resp);
}

/// An INVITE inside a dialog: a target refresh of an open session (answered with the same
/// SDP, the offer's accept-types taken anew), or 481 for a dialog the gateway does not know.
fn reinvite_from_lync(inner: &Inner, id: TxnId, req: &Message) {
    let refreshed = {
        let mut st = inner.lock();
        st.session_of(req).map(|(conv, s)| {
            let _ = s.dialog.refresh_target(req);
            s.rich = body::offers_rich(req);
            conv
        })
    };
    match refreshed {
        Ok(conv) => {
            let resp = MessageBuilder::response_to(req, 200, "OK", None)
                .header("Contact", inner.contact(Leg::Enterprise))
                .body("application/sdp", im_sdp(&inner.config.ip.to_string(), &inner.present(&conv.msa)))
                .build();
            inner.enterprise.respond(id, resp);
        }
        Err(code) => inner.reply(id, req, code, reason(code)),
    }
}

/// A request in a Lync session that becomes one consumer MESSAGE: the dialog is checked, the
/// body read by `read` (to a Content-Type and body), the MESSAGE sent, and the request
/// answered with what the cloud said. Returns the session and the cloud's final response;
/// `None` when the request was refused without crossing.
async fn lync_to_consumer(
    inner: &Inner,
    id: TxnId,
    req: &Message,
    read: impl FnOnce(&Message) -> Result<(&'static str, String), Refusal>,
) -> Option<(Conversation, DialogKey, Option<Message>)> {
    let found = inner.lock().session_of(req).map(|(conv, s)| (conv, s.dialog.key().clone()));
    let (conv, key) = match found {
        Ok(f) => f,
        Err(code) => {
            inner.reply(id, req, code, reason(code));
            return None;
        }
    };
    let (content_type, body) = match read(req) {
        Ok(b) => b,
        Err(refusal) => {
            inner.refuse(Leg::Enterprise, id, req, &refusal);
            return None;
        }
    };
    let resp = inner.to_consumer(&conv, content_type, body).await;
    inner.relay(Leg::Enterprise, id, req, resp.as_ref());
    Some((conv, key, resp))
}

/// An IM in a Lync session: one text to the consumer leg. A `480` (the Skype user has gone)
/// ends the session once it has been relayed.
async fn message_from_lync(inner: &Inner, id: TxnId, req: Message) {
    let read = |r: &Message| body::lync_text(r).map(|text| (body::PLAIN, text));
    if let Some((conv, key, resp)) = lync_to_consumer(inner, id, &req, read).await
        && resp.and_then(|r| r.status()) == Some(480)
    {
        end_session(inner, &conv, &key).await;
    }
}

/// Typing in a Lync session: KeyboardActivity becomes an isComposing MESSAGE.
async fn info_from_lync(inner: &Inner, id: TxnId, req: Message) {
    if inner.config.defects.has(Defect::TypingNotTranslated) {
        return inner.reply(id, &req, 200, reason(200));
    }
    let read = |r: &Message| body::lync_typing(r).map(|t| (body::ISCOMPOSING, body::iscomposing(t)));
    lync_to_consumer(inner, id, &req, read).await;
}

/// Ends a session whose Skype user has gone: BYE in its dialog (queued after the relayed
/// 480, so Lync sees the answer to its IM first).
async fn end_session(inner: &Inner, conv: &Conversation, key: &DialogKey) {
    let Some(peer) = inner.enterprise_peer() else { return };
    let bye = {
        let mut st = inner.lock();
        st.forget_session(conv, key).map(|mut s| {
            let via = inner.via(Leg::Enterprise, &mut st.rng);
            s.dialog.request(Method::BYE, &via).build()
        })
    };
    if let Some(bye) = bye {
        // Whatever Lync answers, the session is over on the gateway's side.
        let _ = inner.enterprise.request(bye, peer).await;
    }
}

/// A request arriving on the consumer face.
pub(super) async fn from_consumer(inner: &Inner, id: TxnId, req: Message) {
    if req.method() != Some(&Method::MESSAGE) {
        return inner.reply_consumer(id, &req, 501, reason(501));
    }
    if let Some(refusal) = inner.consumer_refusal(&req) {
        return inner.reply_consumer_refusal(id, &req, refusal);
    }
    let Some(msa) = req.from_addr().ok().and_then(|f| inner.config.namespaces.msa_of_consumer_uri(&f.uri)) else {
        return inner.reply_consumer(id, &req, 400, "Bad From");
    };
    let conv = Conversation { lync_user: req.request_uri().and_then(aor).unwrap_or_default(), msa };
    match body::consumer_im(&req) {
        Err(refusal) => inner.refuse(Leg::Consumer, id, &req, &refusal),
        Ok(ConsumerIm::Text(text)) if inner.config.defects.has(Defect::ImAcceptedBeforeDelivery) => {
            inner.reply_consumer(id, &req, 200, reason(200));
            let _ = text_to_lync(inner, &conv, &text).await;
        }
        Ok(ConsumerIm::Text(text)) => {
            let resp = text_to_lync(inner, &conv, &text).await;
            inner.relay(Leg::Consumer, id, &req, resp.as_ref());
        }
        Ok(ConsumerIm::Typing(_)) if inner.config.defects.has(Defect::TypingNotTranslated) => {
            inner.reply_consumer(id, &req, 200, reason(200));
        }
        Ok(ConsumerIm::Typing(typing)) => match typing_to_lync(inner, &conv, typing).await {
            Some(resp) => inner.relay(Leg::Consumer, id, &req, resp.as_ref()),
            // Lync shows typing only in an open conversation: without one it is not carried.
            None => inner.reply_consumer(id, &req, 200, reason(200)),
        },
    }
}

/// Sends a Skype user's text to the Lync user: in the open session, or in a new one whose
/// INVITE carries it (also when Lync has lost the session: the text goes again, once). Lync's
/// final response to what carried the text.
async fn text_to_lync(inner: &Inner, conv: &Conversation, text: &str) -> Option<Message> {
    match inner.in_session(conv, Method::MESSAGE, |rich, rng| body::lync_body(text, rich, rng)).await {
        InSession::Answered(resp) => resp,
        InSession::NoSession | InSession::Dead => invite_lync(inner, conv, text).await,
    }
}

/// Carries typing into the open session: Lync's final response (`Some(None)` when it gave
/// none), or `None` when there is no session to carry it (typing does not open one).
async fn typing_to_lync(inner: &Inner, conv: &Conversation, typing: Typing) -> Option<Option<Message>> {
    let doc = body::keyboard_activity(typing).into_bytes();
    match inner.in_session(conv, Method::INFO, |_, _| (body::KEYBOARD.to_owned(), doc)).await {
        InSession::Answered(resp) => Some(resp),
        InSession::NoSession | InSession::Dead => None,
    }
}

/// Opens a session to the Lync user from the Skype user's Lync-side URI with `text` as its
/// first message; on 2xx, ACKs and keeps it (replacing any other for the conversation).
async fn invite_lync(inner: &Inner, conv: &Conversation, text: &str) -> Option<Message> {
    let peer = inner.enterprise_peer()?;
    let presented = inner.present(&conv.msa);
    let (invite, via_ack) = {
        let mut st = inner.lock();
        let via = inner.via(Leg::Enterprise, &mut st.rng);
        let via_ack = inner.via(Leg::Enterprise, &mut st.rng);
        let invite = MessageBuilder::request(Method::INVITE, format!("sip:{}", conv.lync_user))
            .header("Via", via)
            .header("Max-Forwards", 70)
            .header("From", format!("<{presented}>;tag={}", token(&mut st.rng, 10)))
            .header("To", format!("<sip:{}>", conv.lync_user))
            .header("Call-ID", token(&mut st.rng, 24))
            .header("CSeq", "1 INVITE")
            .header("Contact", inner.contact(Leg::Enterprise))
            .header("Supported", "ms-text-format")
            .header("ms-text-format", MsTextFormat::plain(text))
            .body("application/sdp", im_sdp(&inner.config.ip.to_string(), "null"))
            .build();
        (invite, via_ack)
    };
    let resp = inner.enterprise.request(invite.clone(), peer).await.ok()?;
    if is_success(Some(&resp))
        && let Ok(dialog) = Dialog::uac(&invite, &resp)
    {
        inner.enterprise.send_stateless(dialog.ack(1, &via_ack).build(), peer);
        let session = ImSession { dialog, rich: body::offers_rich(&resp) };
        inner.lock().open_session(conv.clone(), session);
    }
    Some(resp)
}

#[cfg(test)]
mod tests;
