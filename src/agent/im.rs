//! IM as the simulated users live it (`scenarios/dialects/flows.md`, "IM sessions"): Lync
//! INVITE-based sessions with in-dialog MESSAGE and INFO typing, the pool's refusals (Do Not
//! Disturb, IM filter, privacy), and the consumer cloud's pager-mode MESSAGE with RFC 3994
//! typing and its 480 for an offline user.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::identity::{Address, Side};
use super::presence::key;
use super::side::{AgentEvent, Inner, Outcome, SimSide};
use crate::dialect::im::{self, BodyError, ImFormat, Typing};
use crate::dialect::lync;
use crate::dialect::skype::{self, SkypeState};
use crate::net::token;
use crate::sip::dialog::Dialog;
use crate::sip::txn::TxnId;
use crate::sip::wire::ms::MsDiagnostics;
use crate::sip::wire::{Message, MessageBuilder, Method};

/// Where the simulated pool says its IM filter stands (the `Warning` agent).
const POOL: &str = "pool.fedcert.test";

/// One Lync IM session.
#[derive(Debug)]
pub(super) struct Session {
    local: Address,
    /// The remote party as the user addressed it or as it was presented.
    remote: String,
    dialog: Dialog,
    /// The far side answered 408/480/481 to a MESSAGE: the client treats the session as dead
    /// and starts a new one for its next IM, but still answers a BYE in it.
    dangling: bool,
}

/// IM state of one leg.
#[derive(Debug, Default)]
pub(super) struct ImState {
    /// Lync IM sessions by Call-ID (ordered, so a lookup repeats run to run).
    sessions: BTreeMap<String, Session>,
    /// The pool's IM filter: an IM from the public cloud containing one of these is refused.
    filter: Vec<String>,
}

impl ImState {
    /// The live session of `local` with `remote`, newest first.
    fn live(&mut self, local: &Address, remote: &Address) -> Option<&mut Session> {
        let remote = remote.comparable();
        self.sessions
            .values_mut()
            .rev()
            .find(|s| !s.dangling && &s.local == local && unescaped(&s.remote).eq_ignore_ascii_case(&remote))
    }
}

impl SimSide {
    /// Sends an IM from `from` (a user of this leg) to `to` (as addressed on this leg), as
    /// text/plain; see [`Self::send_im_as`].
    pub async fn send_im(&self, from: &Address, to: &Address, text: &str, within: Duration) -> Outcome {
        self.send_im_as(from, to, text, ImFormat::Plain, within).await
    }

    /// Sends an IM, written by a Lync user in `format` when it goes in an open session (a
    /// session's first message always rides in the INVITE's `ms-text-format`). Gives up when
    /// no final response arrives `within` (a provisional answer stops Timer B, so the
    /// transaction layer alone would wait for ever). A delivered IM joins the transcript.
    pub async fn send_im_as(
        &self,
        from: &Address,
        to: &Address,
        text: &str,
        format: ImFormat,
        within: Duration,
    ) -> Outcome {
        let send = async {
            match self.inner.side {
                Side::Enterprise => self.inner.lync_send_im(from, to, text, format).await,
                Side::Consumer => {
                    let ct = self.inner.skype.im_content_type.clone();
                    self.inner.skype_send(from, to, &ct, text.as_bytes().to_vec()).await
                }
            }
        };
        let outcome = deadline(within, send).await;
        if outcome.is_success() {
            self.inner.record(from.clone(), AgentEvent::ImSent { to: to.to_string(), text: text.to_owned() });
        }
        outcome
    }

    /// Sends a body of any type as an IM: in the open session (Lync) or as a pager MESSAGE.
    pub async fn send_content(&self, from: &Address, to: &Address, content_type: &str, body: Vec<u8>) -> Outcome {
        match self.inner.side {
            Side::Enterprise => {
                let Some(msg) = self.inner.in_session(from, to, Method::MESSAGE, content_type, body) else {
                    return no_session(from, to);
                };
                self.inner.lync_in_dialog(msg).await
            }
            Side::Consumer => {
                deadline(crate::net::IO_DEADLINE, self.inner.skype_send(from, to, content_type, body)).await
            }
        }
    }

    /// Sends a typing indication from `from` to `to`: INFO KeyboardActivity in the open
    /// session (Lync), or an RFC 3994 MESSAGE (Skype).
    pub async fn send_typing(&self, from: &Address, to: &Address, t: Typing) -> Outcome {
        match self.inner.side {
            Side::Enterprise => {
                let body = im::keyboard_activity(t).into_bytes();
                let Some(msg) = self.inner.in_session(from, to, Method::INFO, im::KEYBOARD_ACTIVITY, body) else {
                    return no_session(from, to);
                };
                self.inner.lync_in_dialog(msg).await
            }
            Side::Consumer => {
                let body = im::is_composing(t).into_bytes();
                deadline(crate::net::IO_DEADLINE, self.inner.skype_send(from, to, im::IS_COMPOSING, body)).await
            }
        }
    }

    /// Sends an IM in a dialog nobody established (what a Lync client holding a stale
    /// session does after the far side restarted): fresh Call-ID and tags, CSeq 2.
    pub async fn send_in_unknown_dialog(&self, from: &Address, to: &Address, text: &str) -> Outcome {
        let msg = {
            let mut st = self.inner.lock();
            let env = self.inner.lync_envelope(&mut st.rng, from, to);
            let to_tag = token(&mut st.rng, 10);
            MessageBuilder::request(Method::MESSAGE, &env.to_uri)
                .header("Via", &env.via)
                .header("Max-Forwards", 70)
                .header("From", format!("<{}>;tag={}", env.from_uri, env.from_tag))
                .header("To", format!("<{}>;tag={to_tag}", env.to_uri))
                .header("Call-ID", &env.call_id)
                .header("CSeq", "2 MESSAGE")
                .body(im::TEXT_PLAIN, text.as_bytes().to_vec())
                .build()
        };
        self.inner.tracked(msg).await
    }

    /// The Lync client of `user` restarts: its sessions are gone without a BYE.
    pub fn forget_sessions(&self, user: &Address) {
        self.inner.lock().im.sessions.retain(|_, s| &s.local != user);
    }

    /// Sets the pool's IM filter: IMs from the public cloud containing `pattern` are refused.
    pub fn block_im_containing(&self, pattern: &str) {
        self.inner.lock().im.filter.push(pattern.to_owned());
    }

    /// The user's conversation history with `other` (compared with %-escapes undone), oldest
    /// first, as (true when the user sent it, text). Only IMs that were delivered or received.
    pub fn history(&self, user: &Address, other: &Address) -> Vec<(bool, String)> {
        let other = other.comparable().to_ascii_lowercase();
        let same = |a: &str| unescaped(a).to_ascii_lowercase() == other;
        self.events_of(user)
            .into_iter()
            .filter_map(|e| match e {
                AgentEvent::ImSent { to, text } if same(&to) => Some((true, text)),
                AgentEvent::ImReceived { from, text } if same(&from) => Some((false, text)),
                _ => None,
            })
            .collect()
    }

    /// Ends every IM session `user` has (Lync BYE).
    pub async fn end_sessions(&self, user: &Address) -> Vec<Outcome> {
        let reqs: Vec<Message> = {
            let mut st = self.inner.lock();
            let ids: Vec<String> =
                st.im.sessions.iter().filter(|(_, s)| &s.local == user).map(|(k, _)| k.clone()).collect();
            let mut out = Vec::new();
            for id in ids {
                let via = self.inner.via(&mut st.rng);
                if let Some(mut s) = st.im.sessions.remove(&id) {
                    out.push(s.dialog.request(Method::BYE, &via).build());
                }
            }
            out
        };
        let mut out = Vec::new();
        for r in reqs {
            out.push(self.inner.tracked(r).await);
        }
        out
    }
}

fn no_session(from: &Address, to: &Address) -> Outcome {
    Outcome::failed(&format!("{from} has no open IM session with {to}"))
}

async fn deadline(within: Duration, f: impl Future<Output = Outcome>) -> Outcome {
    tokio::time::timeout(within, f)
        .await
        .unwrap_or_else(|_| Outcome::failed(&format!("no final response within {within:?}")))
}

fn unescaped(s: &str) -> String {
    crate::sip::wire::unescape(s)
}

impl Inner {
    /// A request in the live session of `from` with `to`.
    fn in_session(&self, from: &Address, to: &Address, method: Method, ct: &str, body: Vec<u8>) -> Option<Message> {
        let mut st = self.lock();
        let via = self.via(&mut st.rng);
        st.im.live(from, to).map(|s| s.dialog.request(method, &via).body(ct, body).build())
    }

    /// Sends an in-dialog request; a 408, 480 or 481 leaves its session dangling ([SIPE]
    /// `sipe-im.c`, PROTOCOL.md §1.5).
    async fn lync_in_dialog(self: &Arc<Self>, msg: Message) -> Outcome {
        let call_id = msg.call_id().unwrap_or_default();
        let out = self.tracked(msg).await;
        if matches!(out.status, Some(408 | 480 | 481))
            && let Some(s) = self.lock().im.sessions.get_mut(&call_id)
        {
            s.dangling = true;
        }
        out
    }

    async fn lync_send_im(self: &Arc<Self>, from: &Address, to: &Address, text: &str, format: ImFormat) -> Outcome {
        let existing = {
            let mut st = self.lock();
            let boundary = token(&mut st.rng, 16);
            let via = self.via(&mut st.rng);
            st.im.live(from, to).map(|s| {
                let (ct, body) = im::lync_body(format, text, &self.lync.im_font, &boundary);
                s.dialog.request(Method::MESSAGE, &via).body(&ct, body).build()
            })
        };
        if let Some(msg) = existing {
            return self.lync_in_dialog(msg).await;
        }
        let (invite, via_ack) = {
            let mut st = self.lock();
            let env = self.lync_envelope(&mut st.rng, from, to);
            let conv = token(&mut st.rng, 22);
            let via_ack = self.via(&mut st.rng);
            (lync::im_invite(&self.lync, &env, &conv, text, &self.host), via_ack)
        };
        let _guard = self.in_flight();
        let resp =
            match tokio::time::timeout(crate::net::IO_DEADLINE, self.endpoint.request(invite.clone(), self.gateway))
                .await
            {
                Ok(Ok(resp)) => resp,
                Ok(Err(e)) => return Outcome::failed(&e),
                Err(_) => return Outcome::failed(&format!("no final response within {:?}", crate::net::IO_DEADLINE)),
            };
        let ok = resp.status().is_some_and(|c| (200..300).contains(&c));
        match Dialog::uac(&invite, &resp) {
            Ok(dialog) if ok => {
                self.endpoint.send_stateless(dialog.ack(1, &via_ack).build(), self.gateway);
                // The ACK leaves before the user does anything else: without this, a request
                // the gateway sends next in the session can be read before the queued ACK is
                // written, and the trace order would depend on scheduling.
                if let Err(e) = self.endpoint.flush().await {
                    return Outcome::failed(&e);
                }
                let call_id = dialog.key().call_id.clone();
                let session = Session { local: from.clone(), remote: to.to_string(), dialog, dangling: false };
                self.lock().im.sessions.insert(call_id, session);
            }
            Err(e) if ok => {
                self.fault(format!("the gateway's {} to an IM INVITE cannot form a dialog: {e}", resp.summary()));
            }
            _ => {}
        }
        Outcome::from_response(&resp)
    }

    async fn skype_send(self: &Arc<Self>, from: &Address, to: &Address, ct: &str, body: Vec<u8>) -> Outcome {
        let msg = {
            let mut st = self.lock();
            let env = self.skype_envelope(&mut st.rng, from, to);
            skype::pager(&self.skype, &env, ct, body)
        };
        self.tracked(msg).await
    }

    /// What the pool's IM filter says of a text from the public cloud.
    fn filtered(&self, text: &str) -> bool {
        self.lock().im.filter.iter().any(|p| text.contains(p.as_str()))
    }

    fn refuse_by_filter(&self, id: TxnId, req: &Message) {
        self.respond_with(id, req, 606, "Not Acceptable", |b| {
            b.header("Warning", format!("309 {POOL} \"Message contents not allowed by policy\""))
        });
    }

    /// An IM INVITE for one of the pool's users.
    pub(super) fn lync_on_im_invite(&self, id: TxnId, req: &Message) {
        let call_id = req.call_id().unwrap_or_default();
        let Some(user) = self.target(req) else {
            let resp = MessageBuilder::response_to(req, 404, "Not Found", Some("nouser"))
                .header(
                    "ms-diagnostics",
                    MsDiagnostics::render(
                        4005,
                        "Destination URI either not enabled for SIP or does not exist",
                        Some(POOL),
                    ),
                )
                .build();
            self.endpoint.respond(id, resp);
            return;
        };
        let from = Self::sender(req);
        let from_key = from.parse::<Address>().map(|a| key(&a)).unwrap_or_default();
        let (allowed, dnd) = {
            let st = self.lock();
            let u = st.lync_users.get(&key(&user));
            (u.is_none_or(|u| u.takes_im_from(&from_key)), u.is_some_and(|u| (9000..12000).contains(&u.availability.0)))
        };
        if !allowed {
            // Everything from the gateway is public cloud: the user's privacy choice or a
            // block refuses it, and the user sees nothing (PROTOCOL.md §1.3 step 5).
            return self.respond(id, req, 403, "Forbidden");
        }
        if dnd {
            // Do Not Disturb refuses new conversations (PROTOCOL.md §5.3).
            return self.respond(id, req, 486, "Busy Here");
        }
        let text = lync::first_message(req);
        if text.as_deref().is_some_and(|t| self.filtered(t)) {
            return self.refuse_by_filter(id, req);
        }
        let tag = token(&mut self.lock().rng, 10);
        let b = MessageBuilder::response_to(req, 200, "OK", Some(&tag))
            .header("Contact", format!("<{};opaque=user:epid:{tag};gruu>", user.sip_uri()))
            .header("User-Agent", &self.lync.user_agent);
        let b = if text.is_some() { b.header("Supported", "ms-text-format") } else { b };
        let resp = b.body("application/sdp", lync::im_sdp_answer(&self.lync, &self.host, &user.sip_uri())).build();
        match Dialog::uas(req, &tag) {
            Ok(dialog) => {
                let mut st = self.lock();
                st.awaiting_ack.insert(call_id.clone());
                let session = Session { local: user.clone(), remote: from.clone(), dialog, dangling: false };
                st.im.sessions.insert(call_id, session);
            }
            Err(e) => {
                self.fault(format!("the gateway's IM INVITE cannot form a dialog: {e}"));
                return self.respond(id, req, 400, "Bad Request");
            }
        }
        self.endpoint.respond(id, resp);
        if let Some(text) = text {
            self.record(user, AgentEvent::ImReceived { from, text });
        }
    }

    /// A request inside (or claiming to be inside) a Lync IM session.
    pub(super) fn lync_on_in_dialog(&self, id: TxnId, req: &Message) {
        let call_id = req.call_id().unwrap_or_default();
        let method = req.method().cloned();
        let session = {
            let mut st = self.lock();
            let found = st
                .im
                .sessions
                .get_mut(&call_id)
                .map(|s| (s.dialog.accepts(req).is_ok(), s.local.clone(), s.remote.clone()));
            // A BYE ends the session only when it belongs to it in CSeq order (RFC 3261 §12.2.2).
            if method == Some(Method::BYE) && found.as_ref().is_some_and(|(in_order, _, _)| *in_order) {
                st.im.sessions.remove(&call_id);
            }
            found
        };
        let Some((in_order, local, remote)) = session else {
            return self.respond(id, req, 481, "Call/Transaction Does Not Exist");
        };
        if !in_order {
            return self.respond(id, req, 500, "Server Internal Error");
        }
        match method.as_ref().map(Method::as_str) {
            Some("MESSAGE") => match im::lync_shown(req) {
                Ok(shown) if self.filtered(&shown.text) => self.refuse_by_filter(id, req),
                Ok(shown) => {
                    if let Some(d) = shown.disagreement {
                        self.fault(format!("the gateway's multipart/alternative IM contradicts itself: {d}"));
                    }
                    self.respond(id, req, 200, "OK");
                    self.record(local, AgentEvent::ImReceived { from: remote, text: shown.text });
                }
                Err(e) => self.refuse_body(id, req, &e, "text/plain, text/html, multipart/alternative"),
            },
            Some("INFO") => match typing_of(req, im::KEYBOARD_ACTIVITY, im::read_keyboard_activity) {
                Ok(t) => {
                    self.respond(id, req, 200, "OK");
                    self.record(local, AgentEvent::Typing { from: remote, active: t == Typing::Active });
                }
                Err(e) => self.refuse_body(id, req, &e, im::KEYBOARD_ACTIVITY),
            },
            Some("BYE") => {
                self.respond(id, req, 200, "OK");
                self.record(local, AgentEvent::SessionEnded { with: remote });
            }
            _ => self.respond(id, req, 501, "Not Implemented"),
        }
    }

    /// 415 with what we take, or 400 naming what is wrong.
    fn refuse_body(&self, id: TxnId, req: &Message, e: &BodyError, accept: &str) {
        match e {
            BodyError::Unsupported(_) => {
                self.respond_with(id, req, 415, "Unsupported Media Type", |b| b.header("Accept", accept));
            }
            BodyError::Malformed(d) => {
                self.fault(format!("the gateway sent an unreadable {}: {d}", req.summary()));
                self.respond(id, req, 400, "Bad Request");
            }
        }
    }

    /// A pager MESSAGE for one of the cloud's users.
    pub(super) fn skype_on_message(&self, id: TxnId, req: &Message) {
        let Some(user) = self.target(req) else {
            return self.respond(id, req, 404, "Not Found");
        };
        let offline = self.lock().skype_users.get(&key(&user)).is_some_and(|u| u.state == SkypeState::Offline);
        if offline {
            return self.respond(id, req, 480, "Temporarily Unavailable");
        }
        let from = Self::sender(req);
        if req.content_type().ok().flatten().is_some_and(|ct| ct.essence == im::IS_COMPOSING) {
            return match typing_of(req, im::IS_COMPOSING, im::read_is_composing) {
                Ok(t) => {
                    self.respond(id, req, 200, "OK");
                    self.record(user, AgentEvent::Typing { from, active: t == Typing::Active });
                }
                Err(e) => self.refuse_body(id, req, &e, "text/plain, application/im-iscomposing+xml"),
            };
        }
        match im::consumer_text(req) {
            Ok(text) => {
                self.respond(id, req, 200, "OK");
                self.record(user, AgentEvent::ImReceived { from, text });
            }
            Err(e) => self.refuse_body(id, req, &e, "text/plain, application/im-iscomposing+xml"),
        }
    }
}

/// Reads a typing document of type `ct`.
fn typing_of(req: &Message, ct: &str, read: fn(&str) -> Result<Typing, String>) -> Result<Typing, BodyError> {
    match req.content_type() {
        Ok(Some(t)) if t.essence == ct => {}
        Ok(Some(t)) => return Err(BodyError::Unsupported(t.essence)),
        Ok(None) => return Err(BodyError::Malformed("a typing indication without Content-Type".into())),
        Err(e) => return Err(BodyError::Malformed(e.to_string())),
    }
    let body = std::str::from_utf8(req.body()).map_err(|_| BodyError::Malformed("not UTF-8".into()))?;
    read(body).map_err(BodyError::Malformed)
}
