//! IM sessions end to end on loopback (flows.md "IM sessions"): the pool and the cloud are raw
//! endpoints, and every body is written out by hand, not with the gateway's renderers.
//!
//! "Nothing else crossed" is checked with a probe: a later request on the same path must be
//! the next thing the far side gets, so no wait has to guess how long silence takes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::gateway::testing::{Rig, WAIT, assert_quiet, next_ack, next_request, ok, request};
use crate::net::NetError;
use crate::sip::dialog::Dialog;
use crate::sip::txn::TxnId;
use crate::sip::wire::{Message, MessageBuilder, Method};

/// The lync-2013 profile's `a=accept-types`.
const LYNC_TYPES: &str = "text/plain multipart/alternative image/gif text/rtf text/html application/x-ms-ink application/ms-imdn+xml text/x-msmsgsinvite";
/// carol's Lync-side URI (a consumer domain: undecorated).
const CAROL: &str = "sip:carol@outlook.com";
const ALICE: &str = "sip:alice@contoso.com";
fn sdp(media_uri: &str, accept_types: &str) -> String {
    format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=session\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 5060 sip {media_uri}\r\na=accept-types:{accept_types}\r\n"
    )
}

fn ms_text_format(text: &str) -> String {
    format!("text/plain; charset=UTF-8; ms-body={}", STANDARD.encode(text))
}

fn text_in_invite(invite: &Message) -> String {
    let v = invite.value("ms-text-format").expect("INVITE without ms-text-format").into_owned();
    let b64 = v.split("ms-body=").nth(1).expect("no ms-body").trim();
    String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap()
}

fn essence(msg: &Message) -> String {
    msg.content_type().unwrap().expect("no Content-Type").essence
}

fn body(msg: &Message) -> String {
    String::from_utf8_lossy(msg.body()).into_owned()
}

async fn answered(h: JoinHandle<Result<Message, NetError>>) -> Message {
    timeout(WAIT, h).await.expect("no answer in time").unwrap().expect("request failed")
}

/// alice opens a session to carol from the pool (offering `accept_types`) with `first`; the
/// cloud gets and accepts the first message. Returns the pool's dialog, ACKed.
async fn lync_opens(rig: &mut Rig, call_id: &str, first: &str, accept_types: &str) -> Dialog {
    let via = rig.pool_via();
    let invite = request(Method::INVITE, CAROL, ALICE, call_id, via, &rig.pool_contact())
        .header("Supported", "ms-text-format")
        .header("Ms-Conversation-ID", format!("conv-{call_id}"))
        .header("ms-text-format", ms_text_format(first))
        .body("application/sdp", sdp("null", accept_types))
        .build();
    let inviting = rig.pool_sends(invite.clone());
    let (id, m) = next_request(&mut rig.cloud_in).await;
    assert_eq!((m.method(), m.request_uri()), (Some(&Method::MESSAGE), Some(CAROL)));
    assert_eq!(body(&m), first);
    rig.cloud.respond(id, ok(&m, Some("c")));
    let resp = answered(inviting).await;
    assert_eq!(resp.status(), Some(200));
    assert!(resp.has_token("Supported", "ms-text-format"));
    assert!(body(&resp).contains(&format!("m=message 5060 sip {CAROL}")), "{}", body(&resp));
    let dialog = Dialog::uac(&invite, &resp).unwrap();
    let via = rig.pool_via();
    rig.pool.send_stateless(dialog.ack(1, &via).build(), rig.gw_enterprise());
    dialog
}

/// The pool sends `method` with a body in `dialog`.
fn pool_in_dialog(
    rig: &mut Rig,
    dialog: &mut Dialog,
    method: Method,
    ct: &str,
    text: &str,
) -> JoinHandle<Result<Message, NetError>> {
    let via = rig.pool_via();
    rig.pool_sends(dialog.request(method, &via).body(ct, text).build())
}

/// carol's cloud sends alice a pager MESSAGE.
fn carol_sends(rig: &mut Rig, ct: &str, text: &str) -> JoinHandle<Result<Message, NetError>> {
    let via = rig.cloud_via();
    let call_id = format!("cloud-{}", rig.rng.u32(..));
    let msg = request(Method::MESSAGE, ALICE, CAROL, &call_id, via, &rig.cloud_contact()).body(ct, text).build();
    rig.cloud_sends(msg)
}

/// The pool gets an IM INVITE from carol and answers 200 with `accept_types`; returns the
/// INVITE's transaction-free parts: the pool's dialog and the INVITE.
async fn pool_accepts_invite(rig: &mut Rig, accept_types: &str) -> (Dialog, Message) {
    let (id, invite) = next_request(&mut rig.pool_in).await;
    assert_eq!(invite.method(), Some(&Method::INVITE));
    assert_eq!(invite.from_addr().unwrap().uri, CAROL);
    assert!(invite.has_token("Supported", "ms-text-format"));
    let tag = format!("p-{}", invite.call_id().unwrap());
    let resp = MessageBuilder::response_to(&invite, 200, "OK", Some(&tag))
        .header("Contact", rig.pool_contact())
        .header("Supported", "ms-text-format")
        .body("application/sdp", sdp(ALICE, accept_types))
        .build();
    rig.pool.respond(id, resp);
    next_ack(&mut rig.pool_in).await;
    (Dialog::uas(&invite, &tag).unwrap(), invite)
}

/// The cloud's next request must be a text MESSAGE carrying `text`; it is answered 200.
async fn cloud_gets_text(rig: &mut Rig, text: &str) -> Message {
    let (id, m) = next_request(&mut rig.cloud_in).await;
    assert_eq!(m.method(), Some(&Method::MESSAGE));
    assert_eq!(essence(&m), "text/plain");
    assert_eq!(body(&m), text);
    rig.cloud.respond(id, ok(&m, Some("c")));
    m
}

/// The pool's next request must be a `method` in `dialog` (the dialog checks tags and CSeq).
async fn pool_gets_in(rig: &mut Rig, dialog: &mut Dialog, method: Method) -> (TxnId, Message) {
    let (id, m) = next_request(&mut rig.pool_in).await;
    assert_eq!(m.method(), Some(&method), "{}", m.summary());
    dialog.accepts(&m).unwrap();
    (id, m)
}

#[tokio::test]
async fn a_606_with_warning_is_relayed_verbatim() {
    let mut rig = Rig::new().await;
    let warning = "309 pool.contoso.com \"Message contents not allowed by policy\"";
    // The pool's IM filter blocks the INVITE's first message.
    let sending = carol_sends(&mut rig, "text/plain", "blocked words");
    let (id, invite) = next_request(&mut rig.pool_in).await;
    assert_eq!(invite.method(), Some(&Method::INVITE));
    let refusal = MessageBuilder::response_to(&invite, 606, "Not Acceptable", Some("p"))
        .header("Warning", warning)
        .header("Warning", "399 pool.contoso.com \"second\"")
        .build();
    rig.pool.respond(id, refusal);
    let resp = answered(sending).await;
    assert_eq!(resp.summary(), "606 Not Acceptable");
    assert_eq!(resp.values("Warning").collect::<Vec<_>>(), [warning, "399 pool.contoso.com \"second\""]);

    // Busy (Do Not Disturb) comes back as the pool said it too.
    let sending = carol_sends(&mut rig, "text/plain", "hello?");
    let (id, invite) = next_request(&mut rig.pool_in).await;
    rig.pool.respond(id, MessageBuilder::response_to(&invite, 486, "Busy Here", Some("p")).build());
    assert_eq!(answered(sending).await.summary(), "486 Busy Here");
    rig.gw.shutdown();
}

#[tokio::test]
async fn a_480_is_relayed_then_the_session_ends_with_bye() {
    let mut rig = Rig::new().await;
    let mut d = lync_opens(&mut rig, "l1", "hi", LYNC_TYPES).await;
    let sending = pool_in_dialog(&mut rig, &mut d, Method::MESSAGE, "text/plain", "still there?");
    let (id, m) = next_request(&mut rig.cloud_in).await;
    rig.cloud.respond(id, MessageBuilder::response_to(&m, 480, "Temporarily Unavailable", Some("c")).build());
    let (id, bye) = pool_gets_in(&mut rig, &mut d, Method::BYE).await;
    // Respond first, then BYE: on the wire the 480 reached the pool before the BYE (the pool
    // itself sends neither).
    let wire = rig.pool_wire();
    let (at_480, at_bye) = (wire.find("SIP/2.0 480 Temporarily Unavailable"), wire.find("BYE sip:"));
    assert!(at_480.is_some() && at_480 < at_bye, "480 at {at_480:?}, BYE at {at_bye:?}");
    assert_eq!(answered(sending).await.summary(), "480 Temporarily Unavailable");
    rig.pool.respond(id, ok(&bye, None));
    // The session is gone.
    let resp = answered(pool_in_dialog(&mut rig, &mut d, Method::MESSAGE, "text/plain", "x")).await;
    assert_eq!(resp.status(), Some(481));
    rig.gw.shutdown();
}

#[tokio::test]
async fn a_481_from_lync_sends_the_text_once_in_a_new_invite() {
    let mut rig = Rig::new().await;
    let sending = carol_sends(&mut rig, "text/plain", "one");
    let (mut old, _) = pool_accepts_invite(&mut rig, LYNC_TYPES).await;
    assert_eq!(answered(sending).await.status(), Some(200));

    // alice's client restarted: it does not know the dialog any more.
    let sending = carol_sends(&mut rig, "text/plain", "two");
    let (id, m) = pool_gets_in(&mut rig, &mut old, Method::MESSAGE).await;
    rig.pool.respond(id, MessageBuilder::response_to(&m, 481, "Call/Transaction Does Not Exist", None).build());
    let (mut new, invite) = pool_accepts_invite(&mut rig, LYNC_TYPES).await;
    assert_ne!(invite.call_id().unwrap(), old.key().call_id);
    assert_eq!(text_in_invite(&invite), "two");
    assert_eq!(answered(sending).await.status(), Some(200));

    // "two" went once: the next thing the pool gets is "three", in the new session.
    let sending = carol_sends(&mut rig, "text/plain", "three");
    let (id, m) = pool_gets_in(&mut rig, &mut new, Method::MESSAGE).await;
    assert!(body(&m).contains("three"));
    rig.pool.respond(id, ok(&m, None));
    assert_eq!(answered(sending).await.status(), Some(200));
    assert_quiet(&mut rig.pool_in, "the pool");
    rig.gw.shutdown();
}

#[tokio::test]
async fn a_replaced_sessions_old_dialog_gets_481() {
    let mut rig = Rig::new().await;
    let mut first = lync_opens(&mut rig, "older", "hi", LYNC_TYPES).await;
    let mut second = lync_opens(&mut rig, "newer", "hi again", LYNC_TYPES).await;

    let resp = answered(pool_in_dialog(&mut rig, &mut first, Method::MESSAGE, "text/plain", "lost")).await;
    assert_eq!(resp.status(), Some(481));
    // The newer one carries IMs both ways; "lost" never crossed.
    let sending = pool_in_dialog(&mut rig, &mut second, Method::MESSAGE, "text/plain", "kept");
    cloud_gets_text(&mut rig, "kept").await;
    assert_eq!(answered(sending).await.status(), Some(200));
    let sending = carol_sends(&mut rig, "text/plain", "reply");
    let (id, m) = next_request(&mut rig.pool_in).await;
    assert_eq!(m.call_id().unwrap(), "newer");
    rig.pool.respond(id, ok(&m, None));
    assert_eq!(answered(sending).await.status(), Some(200));
    // A re-INVITE or BYE of the old dialog: unknown too.
    let via = rig.pool_via();
    let reinvite = first.request(Method::INVITE, &via).body("application/sdp", sdp("null", LYNC_TYPES)).build();
    assert_eq!(answered(rig.pool_sends(reinvite)).await.status(), Some(481));
    let via = rig.pool_via();
    let resp = answered(rig.pool_sends(first.request(Method::BYE, &via).build())).await;
    assert_eq!(resp.status(), Some(481));
    rig.gw.shutdown();
}
