//! IM translation: the Lync INVITE-based IM session (first message in `ms-text-format`,
//! PROTOCOL.md §1.5) on the enterprise leg, pager-mode MESSAGE (RFC 3428, §9.2) on the
//! consumer leg, both directions.

use super::policy::aor;
use super::{ImSession, Inner, Leg, Msa};
use crate::net::token;
use crate::sip::dialog::Dialog;
use crate::sip::txn::TxnId;
use crate::sip::wire::ms::MsTextFormat;
use crate::sip::wire::{Message, MessageBuilder, Method};

const TEXT: &str = "text/plain; charset=UTF-8";
const ACCEPT_TYPES: &str = "text/plain multipart/alternative text/html";

fn im_sdp(host: &str, media_uri: &str) -> String {
    format!(
        "v=0\r\no=- 0 0 IN IP4 {host}\r\ns=session\r\nc=IN IP4 {host}\r\nt=0 0\r\nm=message 5060 sip {media_uri}\r\na=accept-types:{ACCEPT_TYPES}\r\n"
    )
}

impl Inner {
    /// The Lync-side URI of a Skype account, honouring seeded defects.
    pub(super) fn present(&self, msa: &Msa) -> String {
        if self.config.defects.undecorated_custom_domains {
            return msa.consumer_uri();
        }
        self.config.namespaces.lync_uri_of_msa(msa)
    }

    /// Sends a pager MESSAGE to the Skype cloud; returns its final response.
    async fn to_consumer(&self, lync_user: &str, msa: &Msa, text: &str) -> Option<Message> {
        let peer = self.consumer_peer()?;
        let msg = {
            let mut st = self.lock();
            MessageBuilder::request(Method::MESSAGE, msa.consumer_uri())
                .header("Via", self.consumer.via(false, &mut st.rng))
                .header("Max-Forwards", 70)
                .header("From", format!("<sip:{lync_user}>;tag={}", token(&mut st.rng, 10)))
                .header("To", format!("<{}>", msa.consumer_uri()))
                .header("Call-ID", token(&mut st.rng, 24))
                .header("CSeq", "1 MESSAGE")
                .body(TEXT, text.as_bytes().to_vec())
                .build()
        };
        self.consumer.request(msg, peer).await.ok()
    }
}

/// A request arriving on the enterprise face.
pub(super) async fn from_enterprise(inner: &Inner, id: TxnId, req: Message) {
    match req.method().map(Method::as_str) {
        Some("INVITE") => invite_from_lync(inner, id, req).await,
        Some("MESSAGE") => message_from_lync(inner, id, req).await,
        Some("BYE") => {
            let call_id = req.call_id().unwrap_or_default();
            let in_order = {
                let mut st = inner.lock();
                let ok = st.sessions.get_mut(&call_id).map(|s| s.dialog.accepts(&req).is_ok());
                if ok == Some(true) {
                    st.sessions.remove(&call_id);
                }
                ok
            };
            match in_order {
                Some(true) => inner.reply(id, &req, 200, "OK"),
                Some(false) => inner.reply(id, &req, 500, "Server Internal Error"),
                None => inner.reply(id, &req, 481, "Call/Transaction Does Not Exist"),
            }
        }
        _ => inner.reply(id, &req, 501, "Not Implemented"),
    }
}

async fn invite_from_lync(inner: &Inner, id: TxnId, req: Message) {
    let ns = &inner.config.namespaces;
    let Some(from) = req.from_addr().ok().and_then(|f| aor(&f.uri)) else {
        inner.reply(id, &req, 400, "Bad From");
        return;
    };
    if !inner.lync_user_enabled(&from) {
        return inner.reply_not_authorized(id, &req);
    }
    let target = req.request_uri().unwrap_or_default().to_owned();
    let Ok(msa) = ns.msa_of_lync_uri(&target) else {
        inner.reply_not_found(id, &req);
        return;
    };
    let text = req.value("ms-text-format").and_then(|v| MsTextFormat::parse(&v).ok()).map(|f| f.text);
    if let Some(text) = &text {
        let resp = inner.to_consumer(&from, &msa, text).await;
        if !resp.as_ref().and_then(Message::status).is_some_and(|c| (200..300).contains(&c)) {
            return inner.relay_failure(Leg::Enterprise, id, &req, resp.as_ref());
        }
    }
    let tag = inner.tag();
    let presented = inner.present(&msa);
    let b = MessageBuilder::response_to(&req, 200, "OK", Some(&tag))
        .header("Contact", format!("<sip:{};transport=tcp>", inner.enterprise.tcp_addr()));
    let b = if text.is_some() { b.header("Supported", "ms-text-format") } else { b };
    let host = inner.config.ip.to_string();
    let resp = b.body("application/sdp", im_sdp(&host, &presented)).build();
    if let Ok(dialog) = Dialog::uas(&req, &tag) {
        let call_id = dialog.key().call_id.clone();
        inner.lock().sessions.insert(call_id, ImSession { lync_user: from, msa, dialog });
    }
    inner.enterprise.respond(id, resp);
}

async fn message_from_lync(inner: &Inner, id: TxnId, req: Message) {
    let call_id = req.call_id().unwrap_or_default();
    let found = {
        let mut st = inner.lock();
        st.sessions.get_mut(&call_id).map(|s| (s.dialog.accepts(&req).is_ok(), s.lync_user.clone(), s.msa.clone()))
    };
    let Some((in_order, lync_user, msa)) = found else {
        return inner.reply(id, &req, 481, "Call/Transaction Does Not Exist");
    };
    if !in_order {
        return inner.reply(id, &req, 500, "Server Internal Error");
    }
    let text = String::from_utf8_lossy(req.body()).into_owned();
    let resp = inner.to_consumer(&lync_user, &msa, &text).await;
    inner.relay(Leg::Enterprise, id, &req, resp.as_ref());
}

/// A request arriving on the consumer face.
pub(super) async fn from_consumer(inner: &Inner, id: TxnId, req: Message) {
    if req.method() != Some(&Method::MESSAGE) {
        return inner.reply_consumer(id, &req, 501, "Not Implemented");
    }
    if let Some(refusal) = inner.consumer_refusal(&req) {
        return inner.reply_consumer_refusal(id, &req, refusal);
    }
    let ns = &inner.config.namespaces;
    let target = req.request_uri().and_then(aor).unwrap_or_default();
    let Some(msa) = req.from_addr().ok().and_then(|f| ns.msa_of_consumer_uri(&f.uri)) else {
        return inner.reply_consumer(id, &req, 400, "Bad From");
    };
    let text = String::from_utf8_lossy(req.body()).into_owned();
    let resp = deliver_to_lync(inner, &target, &msa, &text).await;
    inner.relay(Leg::Consumer, id, &req, resp.as_ref());
}

/// Sends `text` to a Lync user: in the open IM session with this account, or in a new one
/// whose INVITE carries the text as its first message. Lync's final response.
async fn deliver_to_lync(inner: &Inner, lync_user: &str, msa: &Msa, text: &str) -> Option<Message> {
    let peer = inner.enterprise_peer()?;
    let in_dialog = {
        let mut st = inner.lock();
        let via = inner.enterprise.via(true, &mut st.rng);
        st.sessions
            .values_mut()
            .find(|s| s.lync_user == lync_user && &s.msa == msa)
            .map(|s| s.dialog.request(Method::MESSAGE, &via).body(TEXT, text.as_bytes().to_vec()).build())
    };
    if let Some(msg) = in_dialog {
        return inner.enterprise.request(msg, peer).await.ok();
    }
    let presented = inner.present(msa);
    let (invite, via_ack) = {
        let mut st = inner.lock();
        let via = inner.enterprise.via(true, &mut st.rng);
        let via_ack = inner.enterprise.via(true, &mut st.rng);
        let invite = MessageBuilder::request(Method::INVITE, format!("sip:{lync_user}"))
            .header("Via", via)
            .header("Max-Forwards", 70)
            .header("From", format!("<{presented}>;tag={}", token(&mut st.rng, 10)))
            .header("To", format!("<sip:{lync_user}>"))
            .header("Call-ID", token(&mut st.rng, 24))
            .header("CSeq", "1 INVITE")
            .header("Contact", format!("<sip:{};transport=tcp>", inner.enterprise.tcp_addr()))
            .header("Supported", "ms-text-format")
            .header("ms-text-format", MsTextFormat::plain(text))
            .body("application/sdp", im_sdp(&inner.config.ip.to_string(), "null"))
            .build();
        (invite, via_ack)
    };
    let resp = inner.enterprise.request(invite.clone(), peer).await.ok()?;
    if resp.status().is_some_and(|c| (200..300).contains(&c))
        && let Ok(dialog) = Dialog::uac(&invite, &resp)
    {
        inner.enterprise.send_stateless(dialog.ack(1, &via_ack).build(), peer);
        let call_id = dialog.key().call_id.clone();
        inner.lock().sessions.insert(call_id, ImSession { lync_user: lync_user.to_owned(), msa: msa.clone(), dialog });
    }
    Some(resp)
}
