//! The bridge end to end: a gateway between two raw endpoints playing the Lync pool (TCP) and
//! the Skype cloud (UDP). Documents are written out by hand, not with the gateway's renderers.

use tokio::time::timeout;

use crate::gateway::testing::{Rig, WAIT, assert_quiet, next_request, ok, request};
use crate::gateway::{Defect, Defects};
use crate::sip::dialog::Dialog;
use crate::sip::wire::{Message, MessageBuilder, Method};

const CATEGORIES: &str = "application/msrtc-event-categories+xml";
const PIDF: &str = "application/pidf+xml";

fn categories_doc(availability: u32) -> String {
    format!(
        r#"<categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories" uri="sip:alice@contoso.com">
<category name="state" instance="0" publishTime="2013-05-13T12:30:20Z"><state xmlns="http://schemas.microsoft.com/2006/09/sip/state"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="aggregateState"><availability>{availability}</availability></state></category>
</categories>"#
    )
}

fn pidf_doc(activity: Option<&str>) -> String {
    let person = activity.map(|a| format!("<d:person id=\"x\"><r:activities><r:{a}/></r:activities></d:person>"));
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:d="urn:ietf:params:xml:ns:pidf:data-model"
 xmlns:r="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:bob@contoso.com">
<tuple id="a"><status><basic>open</basic></status></tuple>{}</presence>"#,
        person.unwrap_or_default()
    )
}

fn notify(
    d: &mut Dialog,
    method: Method,
    via: &str,
    contact: &str,
    state: &str,
    body: Option<(&str, String)>,
) -> Message {
    let b = d
        .request(method, via)
        .header("Contact", contact)
        .header("Event", "presence")
        .header("Subscription-State", state);
    match body {
        Some((ct, text)) => b.body(ct, text).build(),
        None => b.build(),
    }
}

#[tokio::test]
async fn a_skype_watcher_gets_pool_presence_as_pidf_and_benotify_is_never_answered() {
    let mut rig = Rig::new().await;
    let pool_contact = format!("<sip:alice@{};transport=tcp>", rig.pool.tcp_addr());

    // The Skype user bob@contoso.com adds the Lync user alice.
    let via = rig.cloud_via();
    let sub = MessageBuilder::request(Method::SUBSCRIBE, "sip:alice@contoso.com")
        .header("Via", via)
        .header("Max-Forwards", 70)
        .header("From", "<sip:bob@contoso.com>;tag=b1")
        .header("To", "<sip:alice@contoso.com>")
        .header("Call-ID", "cloud-sub-1")
        .header("CSeq", "1 SUBSCRIBE")
        .header("Contact", format!("<sip:bob@{}>", rig.cloud.udp_addr()))
        .header("Event", "presence")
        .header("Accept", PIDF)
        .header("Expires", 600)
        .build();
    let subscribing = rig.cloud_sends(sub);

    // The pool sees the new-contact SUBSCRIBE from bob's Lync-side URI.
    let (id, psub) = next_request(&mut rig.pool_in).await;
    assert_eq!(psub.method(), Some(&Method::SUBSCRIBE));
    assert_eq!(psub.request_uri(), Some("sip:alice@contoso.com"));
    assert_eq!(psub.from_addr().unwrap().uri, "sip:bob(contoso.com)@msn.com");
    assert_eq!(psub.value("Event").as_deref(), Some("presence"));
    assert_eq!(psub.value("Accept").as_deref(), Some("application/msrtc-event-categories+xml, application/pidf+xml"));
    assert!(psub.has_token("Supported", "ms-benotify") && psub.has_token("Supported", "eventlist"));
    assert!(psub.has_token("Require", "adhoclist") && psub.has_token("Require", "categoryList"));
    assert_eq!(psub.expires().unwrap(), Some(600));
    assert_eq!(psub.content_type().unwrap().unwrap().essence, "application/msrtc-adrl-categorylist+xml");
    let body = String::from_utf8_lossy(psub.body()).into_owned();
    assert!(body.contains(r#"uri="sip:bob(contoso.com)@msn.com""#), "{body}");
    assert!(body.contains(r#"<resource uri="sip:alice@contoso.com"><context/></resource>"#), "{body}");

    let resp = MessageBuilder::response_to(&psub, 200, "OK", Some("p1"))
        .header("Contact", &pool_contact)
        .header("Expires", 600)
        .build();
    rig.pool.respond(id, resp);
    let answered = timeout(WAIT, subscribing).await.unwrap().unwrap().unwrap();
    assert_eq!(answered.status(), Some(200));
    assert_eq!(answered.expires().unwrap(), Some(600));

    // Accepted: the pool notifies Busy (6500) in categories; the cloud gets PIDF busy.
    let mut pool_dialog = Dialog::uas(&psub, "p1").unwrap();
    let via = rig.pool_via();
    let n = notify(
        &mut pool_dialog,
        Method::NOTIFY,
        &via,
        &pool_contact,
        "active;expires=600",
        Some((CATEGORIES, categories_doc(6500))),
    );
    let notifying = rig.pool_sends(n);
    let (id, cn) = next_request(&mut rig.cloud_in).await;
    assert_eq!(cn.method(), Some(&Method::NOTIFY));
    assert_eq!(cn.call_id().unwrap(), "cloud-sub-1");
    assert_eq!(cn.value("Subscription-State").as_deref(), Some("active;expires=600"));
    assert_eq!(cn.content_type().unwrap().unwrap().essence, PIDF);
    let doc = String::from_utf8_lossy(cn.body()).into_owned();
    assert!(doc.contains(r#"entity="sip:alice@contoso.com""#) && doc.contains("<basic>open</basic>"), "{doc}");
    assert!(doc.contains("<rpid:busy/>"), "{doc}");
    // Forward first, answer after: the pool's NOTIFY waits for the cloud's answer.
    assert!(!notifying.is_finished(), "the pool's NOTIFY was answered before the cloud's");
    rig.cloud.respond(id, ok(&cn, None));
    assert_eq!(timeout(WAIT, notifying).await.unwrap().unwrap().unwrap().status(), Some(200));

    // A change as BENOTIFY (12500, Be Right Back): forwarded as Away, never answered.
    let via = rig.pool_via();
    let bn = notify(
        &mut pool_dialog,
        Method::BENOTIFY,
        &via,
        &pool_contact,
        "active;expires=590",
        Some((CATEGORIES, categories_doc(12500))),
    );
    rig.pool.send_stateless(bn, rig.gw_enterprise());
    let (id, cn) = next_request(&mut rig.cloud_in).await;
    assert_eq!(cn.method(), Some(&Method::NOTIFY));
    assert!(String::from_utf8_lossy(cn.body()).contains("<rpid:away/>"));
    rig.cloud.respond(id, ok(&cn, None));

    // The pool ends it; handled after the BENOTIFY, so an answer to that would arrive first.
    let via = rig.pool_via();
    let n = notify(&mut pool_dialog, Method::NOTIFY, &via, &pool_contact, "terminated;reason=rejected", None);
    let notifying = rig.pool_sends(n);
    let (id, cn) = next_request(&mut rig.cloud_in).await;
    assert_eq!(cn.value("Subscription-State").as_deref(), Some("terminated;reason=rejected"));
    assert!(cn.body().is_empty());
    rig.cloud.respond(id, ok(&cn, None));
    assert_eq!(timeout(WAIT, notifying).await.unwrap().unwrap().unwrap().status(), Some(200));
    assert_quiet(&mut rig.pool_in, "the pool");
    assert_eq!(rig.subscriptions(), 0);
    rig.gw.shutdown();
}

#[tokio::test]
async fn a_lync_watcher_gets_pending_then_categories_then_benotify_then_expiry() {
    let mut rig = Rig::new().await;
    let cloud_contact = format!("<sip:bob@{}>", rig.cloud.udp_addr());

    // alice adds bob@contoso.com (decorated on the Lync side), asking for 2 s.
    let via = rig.pool_via();
    let sub = MessageBuilder::request(Method::SUBSCRIBE, "sip:bob%28contoso.com%29@msn.com")
        .header("Via", via)
        .header("Max-Forwards", 70)
        .header("From", "<sip:alice@contoso.com>;tag=a1;epid=01")
        .header("To", "<sip:bob(contoso.com)@msn.com>")
        .header("Call-ID", "lync-sub-1")
        .header("CSeq", "1 SUBSCRIBE")
        .header("Contact", format!("<sip:alice@{};transport=tcp>", rig.pool.tcp_addr()))
        .header("Event", "presence")
        .header("Accept", "application/msrtc-event-categories+xml, application/pidf+xml")
        .header("Supported", "ms-benotify")
        .header("Expires", 2)
        .build();
    let subscribing = rig.pool_sends(sub);

    let (id, csub) = next_request(&mut rig.cloud_in).await;
    assert_eq!(csub.request_uri(), Some("sip:bob@contoso.com"));
    assert_eq!(csub.from_addr().unwrap().uri, "sip:alice@contoso.com");
    assert_eq!(csub.to_addr().unwrap().uri, "sip:bob@contoso.com");
    assert_eq!(csub.value("Accept").as_deref(), Some(PIDF));
    assert_eq!(csub.expires().unwrap(), Some(2));

    // The cloud's NOTIFY pending goes out before its 200.
    let mut cloud_dialog = Dialog::uas(&csub, "c1").unwrap();
    let via = rig.cloud_via();
    let n = notify(&mut cloud_dialog, Method::NOTIFY, &via, &cloud_contact, "pending;expires=2", None);
    let notifying = rig.cloud_sends(n);
    let resp = MessageBuilder::response_to(&csub, 200, "OK", Some("c1"))
        .header("Contact", &cloud_contact)
        .header("Expires", 2)
        .build();
    rig.cloud.respond(id, resp);

    let answered = timeout(WAIT, subscribing).await.unwrap().unwrap().unwrap();
    assert_eq!(answered.status(), Some(200));
    assert_eq!(answered.expires().unwrap(), Some(2));
    let (id, ln) = next_request(&mut rig.pool_in).await;
    assert_eq!(ln.method(), Some(&Method::NOTIFY));
    assert_eq!(ln.call_id().unwrap(), "lync-sub-1");
    assert_eq!(ln.value("Subscription-State").as_deref(), Some("pending;expires=2"));
    assert!(ln.body().is_empty());
    rig.pool.respond(id, ok(&ln, None));
    assert_eq!(timeout(WAIT, notifying).await.unwrap().unwrap().unwrap().status(), Some(200));

    // Accepted, Away: a transition, so NOTIFY, in categories (alice's first Accept type).
    let via = rig.cloud_via();
    let n = notify(
        &mut cloud_dialog,
        Method::NOTIFY,
        &via,
        &cloud_contact,
        "active;expires=2",
        Some((PIDF, pidf_doc(Some("away")))),
    );
    let notifying = rig.cloud_sends(n);
    let (id, ln) = next_request(&mut rig.pool_in).await;
    assert_eq!(ln.method(), Some(&Method::NOTIFY));
    assert_eq!(ln.content_type().unwrap().unwrap().essence, CATEGORIES);
    let doc = String::from_utf8_lossy(ln.body()).into_owned();
    assert!(
        doc.contains(r#"uri="sip:bob(contoso.com)@msn.com""#) && doc.contains("<availability>15500</availability>"),
        "{doc}"
    );
    rig.pool.respond(id, ok(&ln, None));
    assert_eq!(timeout(WAIT, notifying).await.unwrap().unwrap().unwrap().status(), Some(200));

    // A change on the active subscription: BENOTIFY (alice offered ms-benotify), not answered;
    // the cloud's NOTIFY is answered once it has been handed over.
    let via = rig.cloud_via();
    let n = notify(
        &mut cloud_dialog,
        Method::NOTIFY,
        &via,
        &cloud_contact,
        "active;expires=2",
        Some((PIDF, pidf_doc(Some("busy")))),
    );
    let notifying = rig.cloud_sends(n);
    let (_, ln) = next_request(&mut rig.pool_in).await;
    assert_eq!(ln.method(), Some(&Method::BENOTIFY));
    assert!(String::from_utf8_lossy(ln.body()).contains("<availability>6500</availability>"));
    assert_eq!(timeout(WAIT, notifying).await.unwrap().unwrap().unwrap().status(), Some(200));

    // Not refreshed: after 2 s alice is told timeout, and the cloud is unsubscribed.
    let (id, ln) = next_request(&mut rig.pool_in).await;
    assert_eq!(ln.method(), Some(&Method::NOTIFY));
    assert_eq!(ln.value("Subscription-State").as_deref(), Some("terminated;reason=timeout"));
    rig.pool.respond(id, ok(&ln, None));
    let (id, unsub) = next_request(&mut rig.cloud_in).await;
    assert_eq!(unsub.method(), Some(&Method::SUBSCRIBE));
    assert_eq!(unsub.call_id().unwrap(), csub.call_id().unwrap());
    assert_eq!(unsub.expires().unwrap(), Some(0));
    assert!(unsub.body().is_empty());
    rig.cloud.respond(id, ok(&unsub, None));
    // The cloud's final NOTIFY is answered, not forwarded: alice's side has ended.
    let via = rig.cloud_via();
    let n = notify(&mut cloud_dialog, Method::NOTIFY, &via, &cloud_contact, "terminated;reason=timeout", None);
    let done = timeout(WAIT, rig.cloud.request(n, rig.gw_consumer())).await.unwrap().unwrap();
    assert_eq!(done.status(), Some(200));
    assert!(rig.pool_in.try_recv().is_err(), "alice got more after her subscription ended");
    assert_eq!(rig.subscriptions(), 0);
    rig.gw.shutdown();
}

/// `msa` subscribes to alice from the cloud and the pool accepts with 200: returns the pool's
/// notifier dialog and the cloud's subscriber dialog.
async fn skype_subscribes(rig: &mut Rig, msa: &str, call_id: &str) -> (Dialog, Dialog, String) {
    let pool_contact = format!("<sip:alice@{};transport=tcp>", rig.pool.tcp_addr());
    let via = rig.cloud_via();
    let contact = format!("<sip:{}>", rig.cloud.udp_addr());
    let sub = request(Method::SUBSCRIBE, "sip:alice@contoso.com", &format!("sip:{msa}"), call_id, via, &contact)
        .header("Event", "presence")
        .header("Accept", PIDF)
        .header("Expires", 600)
        .build();
    let subscribing = rig.cloud_sends(sub.clone());
    let (id, psub) = next_request(&mut rig.pool_in).await;
    let tag = format!("p-{call_id}");
    let resp = MessageBuilder::response_to(&psub, 200, "OK", Some(&tag))
        .header("Contact", &pool_contact)
        .header("Expires", 600)
        .build();
    rig.pool.respond(id, resp);
    let answered = timeout(WAIT, subscribing).await.unwrap().unwrap().unwrap();
    assert_eq!(answered.status(), Some(200));
    (Dialog::uas(&psub, &tag).unwrap(), Dialog::uac(&sub, &answered).unwrap(), pool_contact)
}

/// The pool sends `n`; the cloud must get one NOTIFY per `(call_id, substring)`, in order, and
/// answers each 200; then the pool's NOTIFY must have its 200.
async fn pool_notifies(rig: &mut Rig, n: Message, cloud_gets: &[(&str, &str)]) {
    let notifying = rig.pool_sends(n);
    for (call_id, expect) in cloud_gets {
        let (id, cn) = next_request(&mut rig.cloud_in).await;
        assert_eq!(cn.method(), Some(&Method::NOTIFY));
        assert_eq!(&cn.call_id().unwrap(), call_id);
        let text = String::from_utf8_lossy(cn.as_bytes()).into_owned();
        assert!(text.contains(expect), "expected {expect:?} in\n{text}");
        rig.cloud.respond(id, ok(&cn, None));
    }
    assert_eq!(timeout(WAIT, notifying).await.unwrap().unwrap().unwrap().status(), Some(200));
}

#[tokio::test]
async fn policy_refusals_and_directory_search() {
    let mut rig = Rig::new().await;
    let contact = format!("<sip:{}>", rig.cloud.udp_addr());
    let cases = [
        (Method::OPTIONS, "sip:alice@contoso.com", "sip:bob@contoso.com", 200, None),
        (Method::OPTIONS, "sip:carol@contoso.com", "sip:bob@contoso.com", 403, Some("not enabled for public IM")),
        (Method::OPTIONS, "sip:x@northwind.example", "sip:bob@contoso.com", 404, None),
        (Method::SUBSCRIBE, "sip:alice@contoso.com", "sip:oldname@skype.com", 403, Some("no Microsoft account")),
        (Method::SUBSCRIBE, "sip:carol@contoso.com", "sip:bob@contoso.com", 403, Some("not enabled for public IM")),
        (Method::SUBSCRIBE, "sip:x@northwind.example", "sip:bob@contoso.com", 404, None),
        (Method::MESSAGE, "sip:alice@contoso.com", "sip:oldname@skype.com", 403, Some("no Microsoft account")),
    ];
    for (i, (method, uri, from, code, warning)) in cases.into_iter().enumerate() {
        let via = rig.cloud_via();
        let req = request(method, uri, from, &format!("c{i}"), via, &contact).header("Event", "presence").build();
        let resp = timeout(WAIT, rig.cloud.request(req, rig.gw_consumer())).await.unwrap().unwrap();
        assert_eq!(resp.status(), Some(code), "case {i}");
        let w = resp.value("Warning").map(|w| w.into_owned());
        match warning {
            Some(text) => {
                assert!(w.as_deref().is_some_and(|w| w.starts_with("399 gw.fedcert.test") && w.contains(text)))
            }
            None => assert_eq!(w, None, "case {i}"),
        }
    }

    // A Lync user the policy does not enable, and a target that is no Skype user.
    let contact = format!("<sip:{};transport=tcp>", rig.pool.tcp_addr());
    for (i, (from, target, code, diag)) in [
        ("sip:mallory@contoso.com", "sip:carol@outlook.com", 403, "90001"),
        ("sip:alice@contoso.com", "sip:bob@contoso.com", 404, "4005"),
    ]
    .into_iter()
    .enumerate()
    {
        let via = rig.pool_via();
        let req = request(Method::SUBSCRIBE, target, from, &format!("e{i}"), via, &contact)
            .header("Event", "presence")
            .build();
        let resp = timeout(WAIT, rig.pool.request(req, rig.gw_enterprise())).await.unwrap().unwrap();
        assert_eq!(resp.status(), Some(code));
        let private = resp.value("ms-diagnostics").unwrap().into_owned();
        let public = resp.value("ms-diagnostics-public").unwrap().into_owned();
        assert!(private.starts_with(diag) && private.contains("source="), "{private}");
        assert!(public.starts_with(diag) && !public.contains("source="), "{public}");
    }
    // Nothing crossed to the other leg.
    assert!(rig.pool_in.try_recv().is_err() && rig.cloud_in.try_recv().is_err());
    rig.gw.shutdown();
}

#[tokio::test]
async fn a_skype_watcher_refreshes_then_unsubscribes() {
    let mut rig = Rig::new().await;
    let (mut pool_dialog, mut cloud_dialog, pool_contact) = skype_subscribes(&mut rig, "bob@contoso.com", "b").await;
    let via = rig.pool_via();
    let n = notify(
        &mut pool_dialog,
        Method::NOTIFY,
        &via,
        &pool_contact,
        "active;expires=600",
        Some((CATEGORIES, categories_doc(3500))),
    );
    pool_notifies(&mut rig, n, &[("b", "<basic>open</basic>")]).await;

    for (expires, after) in [(300, "active;expires=300"), (0, "terminated;reason=timeout")] {
        let via = rig.cloud_via();
        let refresh = cloud_dialog
            .request(Method::SUBSCRIBE, &via)
            .header("Contact", format!("<sip:{}>", rig.cloud.udp_addr()))
            .header("Event", "presence")
            .header("Expires", expires)
            .build();
        let refreshing = rig.cloud_sends(refresh);
        let (id, psub) = next_request(&mut rig.pool_in).await;
        assert_eq!(psub.method(), Some(&Method::SUBSCRIBE));
        pool_dialog.accepts(&psub).unwrap();
        assert_eq!(psub.expires().unwrap(), Some(expires));
        assert!(psub.body().is_empty() && psub.value("Require").is_none());
        let resp = MessageBuilder::response_to(&psub, 200, "OK", None).header("Expires", expires).build();
        rig.pool.respond(id, resp);
        let answered = timeout(WAIT, refreshing).await.unwrap().unwrap().unwrap();
        assert_eq!((answered.status(), answered.expires().unwrap()), (Some(200), Some(expires)));
        // The pool notifies after the refresh (RFC 6665); the watcher gets it as usual.
        let via = rig.pool_via();
        let body = (expires > 0).then(|| (CATEGORIES, categories_doc(3500)));
        let n = notify(&mut pool_dialog, Method::NOTIFY, &via, &pool_contact, after, body);
        pool_notifies(&mut rig, n, &[("b", &format!("Subscription-State: {after}"))]).await;
    }
    assert_eq!(rig.subscriptions(), 0);
    rig.gw.shutdown();
}

#[tokio::test]
async fn the_shared_presence_cache_defect_leaks_another_watchers_state_first() {
    let mut rig = Rig::with_defects(Defects::of([Defect::SharedPresenceCache])).await;
    // bob is blocked: the pool serves his subscription 18500 (Offline).
    let (mut bob_pool, _bob, pool_contact) = skype_subscribes(&mut rig, "bob@contoso.com", "b").await;
    let via = rig.pool_via();
    let n = notify(
        &mut bob_pool,
        Method::NOTIFY,
        &via,
        &pool_contact,
        "active;expires=600",
        Some((CATEGORIES, categories_doc(18500))),
    );
    pool_notifies(&mut rig, n, &[("b", "<basic>closed</basic>")]).await;
    // carol is a contact: her Available reaches bob first, then her.
    let (mut carol_pool, _carol, _) = skype_subscribes(&mut rig, "carol@outlook.com", "c").await;
    let via = rig.pool_via();
    let n = notify(
        &mut carol_pool,
        Method::NOTIFY,
        &via,
        &pool_contact,
        "active;expires=600",
        Some((CATEGORIES, categories_doc(3500))),
    );
    pool_notifies(&mut rig, n, &[("b", "<basic>open</basic>"), ("c", "<basic>open</basic>")]).await;
    rig.gw.shutdown();
}
