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
use crate::sip::wire::{MediaType, Message, MessageBuilder, Method, multipart};

/// The lync-2013 profile's `a=accept-types`.
const LYNC_TYPES: &str = "text/plain multipart/alternative image/gif text/rtf text/html application/x-ms-ink application/ms-imdn+xml text/x-msmsgsinvite";
/// carol's Lync-side URI (a consumer domain: undecorated).
const CAROL: &str = "sip:carol@outlook.com";
const ALICE: &str = "sip:alice@contoso.com";
const ISCOMPOSING: &str = "application/im-iscomposing+xml";

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
async fn html_body_is_delivered_as_its_text() {
    let mut rig = Rig::new().await;
    let mut d = lync_opens(&mut rig, "l1", "hi", LYNC_TYPES).await;
    let html = "<span style=\"font-family:Segoe UI\"><b>Tom</b> &amp; Jerry&nbsp;&lt;3<br>bye</span>";
    let sending = pool_in_dialog(&mut rig, &mut d, Method::MESSAGE, "text/html; charset=UTF-8", html);
    cloud_gets_text(&mut rig, "Tom & Jerry\u{a0}<3\r\nbye").await;
    assert_eq!(answered(sending).await.status(), Some(200));

    // Broken HTML is refused with a reason that says why; nothing crosses.
    let sending = pool_in_dialog(&mut rig, &mut d, Method::MESSAGE, "text/html", "a <b");
    let resp = answered(sending).await;
    assert_eq!(resp.status(), Some(400));
    assert!(resp.reason().unwrap().contains("unclosed tag"), "{}", resp.summary());
    let sending = pool_in_dialog(&mut rig, &mut d, Method::MESSAGE, "text/plain; charset=UTF-8", "probe");
    cloud_gets_text(&mut rig, "probe").await;
    assert_eq!(answered(sending).await.status(), Some(200));
    rig.gw.shutdown();
}

#[tokio::test]
async fn multipart_delivers_once_using_the_plain_part() {
    let mut rig = Rig::new().await;
    let mut d = lync_opens(&mut rig, "l1", "hi", LYNC_TYPES).await;
    let alt = "--b7\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nplain words\r\n\
               --b7\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<b>html words</b>\r\n--b7--\r\n";
    let sending = pool_in_dialog(&mut rig, &mut d, Method::MESSAGE, "multipart/alternative;boundary=b7", alt);
    cloud_gets_text(&mut rig, "plain words").await;
    assert_eq!(answered(sending).await.status(), Some(200));
    // One text per MESSAGE: the next thing the cloud gets is the probe, not the html part.
    let sending = pool_in_dialog(&mut rig, &mut d, Method::MESSAGE, "text/plain", "probe");
    cloud_gets_text(&mut rig, "probe").await;
    assert_eq!(answered(sending).await.status(), Some(200));
    rig.gw.shutdown();
}

#[tokio::test]
async fn ink_gets_415_and_nothing_crosses() {
    let mut rig = Rig::new().await;
    let mut d = lync_opens(&mut rig, "l1", "hi", LYNC_TYPES).await;
    for ct in ["application/x-ms-ink", "image/gif"] {
        let resp = answered(pool_in_dialog(&mut rig, &mut d, Method::MESSAGE, ct, "AAAA")).await;
        assert_eq!(resp.status(), Some(415), "{ct}");
        assert_eq!(resp.value("Accept").as_deref(), Some("text/plain, text/html, multipart/alternative"));
    }
    let sending = pool_in_dialog(&mut rig, &mut d, Method::MESSAGE, "text/plain", "probe");
    cloud_gets_text(&mut rig, "probe").await;
    assert_eq!(answered(sending).await.status(), Some(200));
    rig.gw.shutdown();
}

#[tokio::test]
async fn info_type_becomes_iscomposing_active() {
    let mut rig = Rig::new().await;
    let mut d = lync_opens(&mut rig, "l1", "hi", LYNC_TYPES).await;
    let first_call_id = next_call_id_of_cloud_text(&mut rig, &mut d).await;
    let cases = [
        (
            "<?xml version=\"1.0\"?>\r\n<KeyboardActivity>\r\n  <status status=\"type\" />\r\n</KeyboardActivity>\r\n",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\"><state>active</state><contenttype>text/plain</contenttype><refresh>60</refresh></isComposing>",
        ),
        (
            "<KeyboardActivity><status status=\"idle\"/></KeyboardActivity>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\"><state>idle</state></isComposing>",
        ),
    ];
    for (info, expected) in cases {
        let sending = pool_in_dialog(&mut rig, &mut d, Method::INFO, "application/xml", info);
        let (id, m) = next_request(&mut rig.cloud_in).await;
        assert_eq!((m.method(), m.request_uri()), (Some(&Method::MESSAGE), Some(CAROL)));
        assert_eq!(m.from_addr().unwrap().uri, ALICE);
        assert_ne!(m.call_id().unwrap(), first_call_id, "typing is a pager MESSAGE of its own");
        assert_eq!(essence(&m), ISCOMPOSING);
        assert_eq!(body(&m), expected);
        // Forward, then answer: the INFO waits for the cloud.
        assert!(!sending.is_finished(), "the INFO was answered before the cloud answered");
        rig.cloud.respond(id, ok(&m, Some("c")));
        assert_eq!(answered(sending).await.status(), Some(200));
    }
    // Another INFO body type is refused.
    let resp = answered(pool_in_dialog(&mut rig, &mut d, Method::INFO, "text/plain", "type")).await;
    assert_eq!(resp.status(), Some(415));
    rig.gw.shutdown();
}

/// Sends one in-session IM and returns the Call-ID the cloud got it under.
async fn next_call_id_of_cloud_text(rig: &mut Rig, d: &mut Dialog) -> String {
    let sending = pool_in_dialog(rig, d, Method::MESSAGE, "text/plain", "x");
    let m = cloud_gets_text(rig, "x").await;
    assert_eq!(answered(sending).await.status(), Some(200));
    m.call_id().unwrap()
}

#[tokio::test]
async fn iscomposing_active_becomes_info_type_in_the_session() {
    let mut rig = Rig::new().await;
    let mut d = lync_opens(&mut rig, "l1", "hi", LYNC_TYPES).await;
    let typing = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\">\n  <state>active</state>\n  <contenttype>text/plain</contenttype>\n  <refresh>60</refresh>\n</isComposing>";
    let sending = carol_sends(&mut rig, ISCOMPOSING, typing);
    // Into the open session: the pool's dialog takes it.
    let (id, info) = pool_gets_in(&mut rig, &mut d, Method::INFO).await;
    assert_eq!(essence(&info), "application/xml");
    assert_eq!(
        body(&info),
        "<?xml version=\"1.0\"?>\r\n<KeyboardActivity><status status=\"type\" /></KeyboardActivity>"
    );
    assert!(!sending.is_finished(), "the cloud was answered before the pool answered");
    rig.pool.respond(id, ok(&info, None));
    assert_eq!(answered(sending).await.status(), Some(200));

    let idle = "<isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\"><state>idle</state></isComposing>";
    let sending = carol_sends(&mut rig, ISCOMPOSING, idle);
    let (id, info) = pool_gets_in(&mut rig, &mut d, Method::INFO).await;
    assert_eq!(
        body(&info),
        "<?xml version=\"1.0\"?>\r\n<KeyboardActivity><status status=\"idle\" /></KeyboardActivity>"
    );
    // The cloud gets Lync's code.
    rig.pool.respond(id, MessageBuilder::response_to(&info, 486, "Busy Here", None).build());
    assert_eq!(answered(sending).await.status(), Some(486));

    // Anything but text and typing is refused with what the gateway takes.
    let resp = answered(carol_sends(&mut rig, "text/html", "<b>x</b>")).await;
    assert_eq!(resp.status(), Some(415));
    assert_eq!(resp.value("Accept").as_deref(), Some("text/plain, application/im-iscomposing+xml"));
    rig.gw.shutdown();
}

#[tokio::test]
async fn iscomposing_without_a_session_is_answered_200_and_not_carried() {
    let mut rig = Rig::new().await;
    let typing = "<isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\"><state>active</state></isComposing>";
    assert_eq!(answered(carol_sends(&mut rig, ISCOMPOSING, typing)).await.status(), Some(200));
    // The probe's INVITE is the first thing the pool gets: the typing went nowhere.
    let sending = carol_sends(&mut rig, "text/plain; charset=UTF-8", "probe");
    let (_, invite) = pool_accepts_invite(&mut rig, LYNC_TYPES).await;
    assert_eq!(text_in_invite(&invite), "probe");
    assert_eq!(answered(sending).await.status(), Some(200));
    rig.gw.shutdown();
}

#[tokio::test]
async fn text_towards_lync_is_multipart_with_escaped_html_and_a_plain_part() {
    let mut rig = Rig::new().await;
    // No session: the text opens one; the pool's answer lists html and alternatives.
    let sending = carol_sends(&mut rig, "text/plain; charset=UTF-8", "");
    let (mut d, invite) = pool_accepts_invite(&mut rig, LYNC_TYPES).await;
    assert_eq!(text_in_invite(&invite), "", "an empty IM is an IM");
    assert_eq!(answered(sending).await.status(), Some(200));

    let sending = carol_sends(&mut rig, "text/plain; charset=UTF-8", "<b>&");
    let (id, m) = pool_gets_in(&mut rig, &mut d, Method::MESSAGE).await;
    let ct = MediaType::parse(&m.value("Content-Type").unwrap()).unwrap();
    assert_eq!(ct.essence, "multipart/alternative");
    let parts = multipart::parse(ct.param("boundary").expect("no boundary"), m.body()).unwrap();
    let kinds: Vec<(Option<&str>, &[u8])> =
        parts.iter().map(|p| (p.header("Content-Type"), p.body.as_slice())).collect();
    assert_eq!(
        kinds,
        [(Some("text/plain; charset=UTF-8"), &b"<b>&"[..]), (Some("text/html; charset=UTF-8"), &b"&lt;b&gt;&amp;"[..]),]
    );
    rig.pool.respond(id, ok(&m, None));
    assert_eq!(answered(sending).await.status(), Some(200));
    rig.gw.shutdown();
}

#[tokio::test]
async fn text_towards_lync_is_plain_when_its_accept_types_lack_html() {
    let mut rig = Rig::new().await;
    let mut d = lync_opens(&mut rig, "l1", "hi", "text/plain multipart/alternative").await;
    let sending = carol_sends(&mut rig, "text/plain; charset=UTF-8", "<b>&");
    let (id, m) = pool_gets_in(&mut rig, &mut d, Method::MESSAGE).await;
    assert_eq!(m.value("Content-Type").as_deref(), Some("text/plain; charset=UTF-8"));
    assert_eq!(body(&m), "<b>&");
    rig.pool.respond(id, ok(&m, None));
    assert_eq!(answered(sending).await.status(), Some(200));
    rig.gw.shutdown();
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
    let resp =
        answered(pool_in_dialog(&mut rig, &mut first, Method::INFO, "application/xml", "<KeyboardActivity/>")).await;
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

#[tokio::test]
async fn a_reinvite_refreshes_the_session_and_its_accept_types() {
    let mut rig = Rig::new().await;
    let mut d = lync_opens(&mut rig, "l1", "hi", "text/plain").await;
    let via = rig.pool_via();
    let reinvite = d
        .request(Method::INVITE, &via)
        .header("Contact", rig.pool_contact())
        .body("application/sdp", sdp("null", LYNC_TYPES))
        .build();
    let resp = answered(rig.pool_sends(reinvite)).await;
    assert_eq!(resp.status(), Some(200));
    assert!(body(&resp).contains(&format!("m=message 5060 sip {CAROL}")), "{}", body(&resp));
    let seq = d.local_seq().unwrap();
    let via = rig.pool_via();
    rig.pool.send_stateless(d.ack(seq, &via).build(), rig.gw_enterprise());
    // Now alternatives are offered, so carol's text arrives as both.
    let sending = carol_sends(&mut rig, "text/plain", "x");
    let (id, m) = pool_gets_in(&mut rig, &mut d, Method::MESSAGE).await;
    assert_eq!(essence(&m), "multipart/alternative");
    rig.pool.respond(id, ok(&m, None));
    assert_eq!(answered(sending).await.status(), Some(200));
    rig.gw.shutdown();
}
