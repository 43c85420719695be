//! The presence bridge (flows.md "Subscriptions" and "Flows"): a watcher's SUBSCRIBE on one
//! leg becomes the gateway's own SUBSCRIBE on the other, and the notifier's NOTIFYs (and a Lync
//! pool's BENOTIFYs) come back translated. Also the consumer leg's directory search (OPTIONS).
//!
//! Orderings the harness relies on: a watcher's SUBSCRIBE is answered before any notification
//! reaches it; a notification is forwarded before the one it translates is answered; the
//! notifications of one subscription are handled in arrival order.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::{Instant, timeout};

use super::policy::aor;
use super::reply::reason;
use super::subscription::{BodyFormat, SubscriptionPair};
use super::{Inner, Leg, Msa, categories, pidf};
use crate::net::token;
use crate::sip::dialog::Dialog;
use crate::sip::txn::TxnId;
use crate::sip::wire::{Message, MessageBuilder, Method};

/// The longest subscription granted: RFC 6665 lets the notifier shorten what is asked, and an
/// hour is the presence default.
const MAX_EXPIRES: u32 = 3600;
/// How long a notification waits for the watcher's SUBSCRIBE to be answered: beyond the far
/// leg's transaction timeout (Timer F, 32 s), after which that SUBSCRIBE is answered anyway.
const ANSWER_WAIT: Duration = Duration::from_secs(40);
/// How long a notification waits for its predecessor, or a sender for the watcher's dialog:
/// each holder waits at most one transaction plus [`ANSWER_WAIT`].
const TURN_WAIT: Duration = Duration::from_secs(80);
/// After an unsubscribe, how long the notifier has to send its final NOTIFY before the gateway
/// ends the watcher's side itself.
const UNSUBSCRIBE_GRACE: Duration = Duration::from_secs(5);
/// How long an ended pair waits for the notifier's last NOTIFY (answered, not forwarded).
const REAP_AFTER: Duration = Duration::from_secs(32);
/// What the gateway accepts from a Lync pool: both formats it must read (req 9).
const ENTERPRISE_ACCEPT: &str = "application/msrtc-event-categories+xml, application/pidf+xml";

mod notify;
use notify::{arm_expiry, expire, notification};

/// A notification's place among its subscription's notifications. BENOTIFYs get no response,
/// so nothing else stops a burst of them overtaking each other in the tasks `serve` spawns.
#[derive(Debug, Default)]
pub(super) struct Turn {
    prev: Option<oneshot::Receiver<()>>,
    /// Dropped when the holder is done, which lets the next one go.
    _done: Option<oneshot::Sender<()>>,
}

impl Turn {
    /// Queues a NOTIFY or BENOTIFY behind the last one of its subscription; any other request
    /// gets an empty turn.
    pub(super) fn take(inner: &Inner, leg: Leg, msg: &Message) -> Self {
        let notification = matches!(msg.method(), Some(m) if *m == Method::NOTIFY || *m == Method::BENOTIFY);
        let Some(call_id) = msg.call_id().ok().filter(|_| notification) else { return Self::default() };
        let mut st = inner.lock();
        let Some(pair) = st.pair_mut(leg, &call_id) else { return Self::default() };
        let (done, next) = oneshot::channel();
        Self { prev: pair.last_inbound.replace(next), _done: Some(done) }
    }

    /// Waits until the previous notification has been handled (or its deadline passed).
    pub(super) async fn wait(&mut self) {
        if let Some(prev) = self.prev.take() {
            let _ = timeout(TURN_WAIT, prev).await;
        }
    }
}

/// A SUBSCRIBE, NOTIFY, BENOTIFY or (consumer leg) OPTIONS.
pub(super) async fn handle(inner: &Arc<Inner>, leg: Leg, id: TxnId, req: Message) {
    match req.method().map(Method::as_str) {
        Some("SUBSCRIBE") => match req.to_addr().map(|t| t.tag().is_some()) {
            Ok(false) => new_subscription(inner, leg, id, req).await,
            Ok(true) => resubscribe(inner, leg, id, req).await,
            Err(_) => inner.reply_on(leg, id, &req, 400, "Bad To"),
        },
        Some("NOTIFY" | "BENOTIFY") => notification(inner, leg, id, req).await,
        Some("OPTIONS") => search(inner, id, &req),
        _ => inner.reply_on(leg, id, &req, 501, "Not Implemented"),
    }
}

/// A Skype user's directory search: 200 for an enabled Lync user, the policy's refusal else.
/// Nothing crosses to the enterprise leg: the configuration knows who is enabled.
fn search(inner: &Inner, id: TxnId, req: &Message) {
    if let Some(refusal) = inner.consumer_refusal(req) {
        return inner.reply_consumer_refusal(id, req, refusal);
    }
    let tag = inner.tag();
    let resp = MessageBuilder::response_to(req, 200, "OK", Some(&tag))
        .header("Allow", "MESSAGE, SUBSCRIBE, NOTIFY, OPTIONS")
        .header("Accept", pidf::CONTENT_TYPE)
        .build();
    inner.consumer.respond(id, resp);
}

/// What a new watcher's SUBSCRIBE asks for, once policy let it through.
#[derive(Debug)]
struct NewWatch {
    lync_user: String,
    msa: Msa,
    format: BodyFormat,
    benotify: bool,
}

fn is_presence_event(req: &Message) -> bool {
    req.value("Event").is_some_and(|e| e.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case("presence"))
}

fn reply_bad_event(inner: &Inner, leg: Leg, id: TxnId, req: &Message) {
    let tag = inner.tag();
    let resp =
        MessageBuilder::response_to(req, 489, "Bad Event", Some(&tag)).header("Allow-Events", "presence").build();
    inner.endpoint(leg).respond(id, resp);
}

/// A Lync user subscribes to a Skype user: the sender must be enabled, the target an MSA.
fn lync_watcher(inner: &Inner, id: TxnId, req: &Message) -> Option<NewWatch> {
    let Some(from) = req.from_addr().ok().and_then(|f| aor(&f.uri)) else {
        inner.reply(id, req, 400, "Bad From");
        return None;
    };
    if !inner.lync_user_enabled(&from) {
        inner.reply_not_authorized(id, req);
        return None;
    }
    if !is_presence_event(req) {
        reply_bad_event(inner, Leg::Enterprise, id, req);
        return None;
    }
    let Ok(msa) = inner.config.namespaces.msa_of_lync_uri(req.request_uri().unwrap_or_default()) else {
        inner.reply_not_found(id, req);
        return None;
    };
    Some(NewWatch {
        lync_user: from,
        msa,
        format: BodyFormat::from_accept(&req.list("Accept")),
        benotify: req.has_token("Supported", "ms-benotify"),
    })
}

/// A Skype user subscribes to a Lync user: the policy checks of every consumer request.
fn skype_watcher(inner: &Inner, id: TxnId, req: &Message) -> Option<NewWatch> {
    if let Some(refusal) = inner.consumer_refusal(req) {
        inner.reply_consumer_refusal(id, req, refusal);
        return None;
    }
    if !is_presence_event(req) {
        reply_bad_event(inner, Leg::Consumer, id, req);
        return None;
    }
    let Some(msa) = req.from_addr().ok().and_then(|f| inner.config.namespaces.msa_of_consumer_uri(&f.uri)) else {
        inner.reply_consumer(id, req, 400, "Bad From");
        return None;
    };
    let lync_user = req.request_uri().and_then(aor).unwrap_or_default();
    Some(NewWatch { lync_user, msa, format: BodyFormat::Pidf, benotify: false })
}

/// The gateway's SUBSCRIBE to the notifier on `far` for a new watcher (flows.md forms).
fn far_subscribe(
    inner: &Inner,
    rng: &mut fastrand::Rng,
    far: Leg,
    w: &NewWatch,
    presented: &str,
    expires: u32,
) -> Message {
    let via = inner.via(far, rng);
    let tag = token(rng, 10);
    let call_id = token(rng, 24);
    match far {
        Leg::Consumer => MessageBuilder::request(Method::SUBSCRIBE, w.msa.consumer_uri())
            .header("Via", via)
            .header("Max-Forwards", 70)
            .header("From", format!("<sip:{}>;tag={tag}", w.lync_user))
            .header("To", format!("<{}>", w.msa.consumer_uri()))
            .header("Call-ID", call_id)
            .header("CSeq", "1 SUBSCRIBE")
            .header("Contact", inner.contact(far))
            .header("Event", "presence")
            .header("Accept", pidf::CONTENT_TYPE)
            .header("Expires", expires)
            .build(),
        Leg::Enterprise => {
            let target = format!("sip:{}", w.lync_user);
            // A new contact: `<context/>` makes the pool tell its user that someone added them.
            let body = categories::batch_sub(presented, &target, rng.u32(1..1_000_000_000));
            MessageBuilder::request(Method::SUBSCRIBE, &target)
                .header("Via", via)
                .header("Max-Forwards", 70)
                .header("From", format!("<{presented}>;tag={tag}"))
                .header("To", format!("<{target}>"))
                .header("Call-ID", call_id)
                .header("CSeq", "1 SUBSCRIBE")
                .header("Contact", inner.contact(far))
                .header("Event", "presence")
                .header("Accept", ENTERPRISE_ACCEPT)
                .header("Supported", "ms-benotify")
                .header("Require", "adhoclist, categoryList")
                .header("Supported", "eventlist")
                .header("Expires", expires)
                .body(categories::BATCH_SUB_CONTENT_TYPE, body)
                .build()
        }
    }
}

/// An in-dialog SUBSCRIBE to the notifier: refresh (`expires` > 0) or unsubscribe (0). No
/// body: only the first SUBSCRIBE marks a new contact.
fn far_resubscribe(inner: &Inner, notifier: &mut Dialog, via: &str, far: Leg, expires: u32) -> Message {
    let b = notifier.request(Method::SUBSCRIBE, via).header("Contact", inner.contact(far)).header("Event", "presence");
    let b = match far {
        Leg::Consumer => b.header("Accept", pidf::CONTENT_TYPE),
        Leg::Enterprise => b.header("Accept", ENTERPRISE_ACCEPT).header("Supported", "ms-benotify"),
    };
    b.header("Expires", expires).build()
}

fn requested_expires(req: &Message) -> Option<u32> {
    req.expires().ok().map(|e| e.map_or(MAX_EXPIRES, |e| e.min(MAX_EXPIRES)))
}

async fn new_subscription(inner: &Arc<Inner>, leg: Leg, id: TxnId, req: Message) {
    let wanted = match leg {
        Leg::Enterprise => lync_watcher(inner, id, &req),
        Leg::Consumer => skype_watcher(inner, id, &req),
    };
    let Some(w) = wanted else { return };
    let Some(requested) = requested_expires(&req) else {
        return inner.reply_on(leg, id, &req, 400, "Bad Expires");
    };
    let tag = inner.tag();
    let watcher = match Dialog::uas(&req, &tag) {
        Ok(d) => d,
        Err(e) => return inner.reply_on(leg, id, &req, e.status_code(), reason(e.status_code())),
    };
    let far = leg.other();
    let Some(peer) = inner.peer(far) else {
        return inner.reply_on(leg, id, &req, 480, "Temporarily Unavailable");
    };
    let presented = inner.present(&w.msa);
    let (pair_id, sub) = {
        let mut st = inner.lock();
        let sub = far_subscribe(inner, &mut st.rng, far, &w, &presented, requested);
        let far_call_id = sub.call_id().unwrap_or_default();
        let pair_id = st.next_subscription;
        st.next_subscription += 1;
        // Registered before sending: the notifier's NOTIFY may overtake its 2xx.
        st.subscription_ids.insert((leg, watcher.key().call_id.clone()), pair_id);
        st.subscription_ids.insert((far, far_call_id.clone()), pair_id);
        let pair = SubscriptionPair {
            id: pair_id,
            watcher_leg: leg,
            lync_user: w.lync_user,
            presented,
            watcher,
            far_subscribe: sub.clone(),
            far_call_id,
            notifier: None,
            format: w.format,
            benotify: w.benotify,
            told: None,
            fresh: true,
            watcher_terminated: false,
            far_unsubscribed: false,
            expires_at: Instant::now(),
            generation: 0,
            answered: watch::Sender::new(false),
            send_lock: Arc::default(),
            last_inbound: None,
        };
        st.subscriptions.insert(pair_id, pair);
        (pair_id, sub)
    };
    match inner.endpoint(far).request(sub, peer).await {
        Ok(resp) if resp.status().is_some_and(|c| (200..300).contains(&c)) => {
            let granted = resp.expires().ok().flatten().map_or(requested, |g| g.min(requested));
            grant(inner, leg, id, &req, pair_id, Some(&tag), granted, &resp);
        }
        outcome => {
            inner.lock().remove_pair(pair_id);
            inner.relay_failure(leg, id, &req, outcome.ok().as_ref());
        }
    }
}

/// Starts (or restarts) the watcher's clock: a refresh voids the timer armed before it.
fn schedule(pair: &mut SubscriptionPair, granted: u32) -> (u64, Instant) {
    pair.generation += 1;
    if granted == 0 {
        // Unsubscribed (or a fetch): the notifier's final NOTIFY ends the pair; if it does not
        // come, the timer ends the watcher's side.
        pair.far_unsubscribed = true;
        pair.expires_at = Instant::now() + UNSUBSCRIBE_GRACE;
    } else {
        pair.expires_at = Instant::now() + Duration::from_secs(granted.into());
    }
    (pair.generation, pair.expires_at)
}

/// Answers the watcher's SUBSCRIBE 200 with the granted duration, after the notifier's 2xx
/// `far_resp`; notifications may go out from then on.
#[allow(clippy::too_many_arguments)]
fn grant(
    inner: &Arc<Inner>,
    leg: Leg,
    id: TxnId,
    req: &Message,
    pair_id: u64,
    tag: Option<&str>,
    granted: u32,
    far_resp: &Message,
) {
    let ok = MessageBuilder::response_to(req, 200, "OK", tag)
        .header("Contact", inner.contact(leg))
        .header("Expires", granted)
        .build();
    let outcome = {
        let mut st = inner.lock();
        match st.subscriptions.get_mut(&pair_id) {
            None => Err(481),
            Some(pair) => {
                if pair.notifier.is_none() {
                    pair.notifier = Dialog::uac(&pair.far_subscribe, far_resp).ok();
                }
                if pair.notifier.is_some() {
                    let _ = pair.watcher.confirm(&ok);
                    pair.fresh = true;
                    let armed = schedule(pair, granted);
                    // Queued under the lock, ahead of any notification the flag releases.
                    inner.endpoint(leg).respond(id, ok);
                    pair.answered.send_replace(true);
                    Ok(armed)
                } else {
                    // A 2xx that forms no dialog: nothing could refresh or end it.
                    st.remove_pair(pair_id);
                    Err(502)
                }
            }
        }
    };
    match outcome {
        Ok((generation, at)) => arm_expiry(inner, pair_id, generation, at),
        Err(code) => inner.reply_on(leg, id, req, code, reason(code)),
    }
}

/// An in-dialog SUBSCRIBE from the watcher: refresh or unsubscribe the notifier's leg, then
/// answer; the notifier's NOTIFY that follows is forwarded as usual.
async fn resubscribe(inner: &Arc<Inner>, leg: Leg, id: TxnId, req: Message) {
    let Some(requested) = requested_expires(&req) else {
        return inner.reply_on(leg, id, &req, 400, "Bad Expires");
    };
    let call_id = req.call_id().unwrap_or_default();
    let prepared = {
        let mut st = inner.lock();
        let via = inner.via(leg.other(), &mut st.rng);
        match st.pair_mut(leg, &call_id) {
            Some(pair) if pair.watcher_leg == leg && !pair.watcher_terminated => match pair.watcher.accepts(&req) {
                Err(e) => Err(e.status_code()),
                Ok(()) => match pair.notifier.as_mut() {
                    None => Err(481),
                    Some(notifier) => {
                        let msg = far_resubscribe(inner, notifier, &via, leg.other(), requested);
                        // Notifications wait for this SUBSCRIBE's answer; the running timer is void.
                        pair.answered.send_replace(false);
                        pair.generation += 1;
                        pair.far_unsubscribed |= requested == 0;
                        Ok((pair.id, msg, pair.expires_at))
                    }
                },
            },
            _ => Err(481),
        }
    };
    let (pair_id, msg, old_expiry) = match prepared {
        Ok(p) => p,
        Err(code) => return inner.reply_on(leg, id, &req, code, reason(code)),
    };
    let resp = match inner.peer(leg.other()) {
        Some(peer) => inner.endpoint(leg.other()).request(msg, peer).await.ok(),
        None => None,
    };
    match resp {
        Some(r) if r.status().is_some_and(|c| (200..300).contains(&c)) => {
            let granted = r.expires().ok().flatten().map_or(requested, |g| g.min(requested));
            grant(inner, leg, id, &req, pair_id, None, granted, &r);
        }
        _ if requested == 0 => {
            // The watcher leaves whatever the notifier says: end its side here.
            let ok = MessageBuilder::response_to(&req, 200, "OK", None).header("Expires", 0).build();
            inner.endpoint(leg).respond(id, ok);
            // The watcher is answered: notifications still in flight are absorbed, not held.
            if let Some(pair) = inner.lock().subscriptions.get(&pair_id) {
                pair.answered.send_replace(true);
            }
            expire(inner, pair_id, true).await;
        }
        Some(r) if r.status() == Some(481) => {
            // The notifier has no such subscription any more: neither has the watcher.
            inner.lock().remove_pair(pair_id);
            inner.reply_on(leg, id, &req, 481, reason(481));
        }
        resp => {
            // The refresh failed; the subscription runs on until its old expiry.
            let armed = inner.lock().subscriptions.get_mut(&pair_id).map(|pair| {
                pair.generation += 1;
                pair.answered.send_replace(true);
                (pair.generation, old_expiry)
            });
            inner.relay_failure(leg, id, &req, resp.as_ref());
            if let Some((generation, at)) = armed {
                arm_expiry(inner, pair_id, generation, at);
            }
        }
    }
}

#[cfg(test)]
mod tests;
