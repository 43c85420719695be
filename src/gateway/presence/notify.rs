//! Notifications from the notifier (checked, translated, forwarded, then answered) and the
//! end of a watcher's subscription from the gateway's side (expiry).

use std::sync::Arc;

use tokio::time::{Instant, timeout};

use super::{ANSWER_WAIT, REAP_AFTER, TURN_WAIT, far_resubscribe};
use crate::gateway::availability::ConsumerState;
use crate::gateway::reply::reason;
use crate::gateway::subscription::{BodyFormat, Delivery, SubState, SubscriptionPair, delivery};
use crate::gateway::{Defect, Defects, Inner, Leg, State, categories, pidf};
use crate::sip::dialog::Dialog;
use crate::sip::txn::TxnId;
use crate::sip::wire::{Message, Method};

/// The state a notification body carries, in whichever format the notifier chose (req 9);
/// `Ok(None)` for no body or a document without a state. Errors carry the status to answer.
fn read_presence(req: &Message) -> Result<Option<ConsumerState>, (u16, String)> {
    if req.body().is_empty() {
        return Ok(None);
    }
    let ct = match req.content_type() {
        Ok(Some(ct)) => ct,
        Ok(None) => return Err((400, "body without Content-Type".into())),
        Err(e) => return Err((400, e.to_string())),
    };
    let read = match ct.essence.as_str() {
        categories::CONTENT_TYPE => categories::parse(req.body()).map(|a| a.map(ConsumerState::from_lync)),
        pidf::CONTENT_TYPE => pidf::parse(req.body()),
        other => return Err((415, format!("unsupported presence document type {other}"))),
    };
    read.map_err(|e| (400, e.to_string()))
}

/// A NOTIFY or BENOTIFY from the notifier: checked, translated, forwarded, then answered
/// (a BENOTIFY never is, req 12).
pub(super) async fn notification(inner: &Arc<Inner>, leg: Leg, id: TxnId, req: Message) {
    let benotify = req.method() == Some(&Method::BENOTIFY);
    let refuse = |code: u16, why: &str| {
        if benotify {
            tracing::warn!(code, why, summary = %req.summary(), "BENOTIFY not forwarded");
        } else {
            inner.reply_on(leg, id, &req, code, why);
        }
    };
    let call_id = req.call_id().unwrap_or_default();
    let found = {
        let mut st = inner.lock();
        st.pair_mut(leg, &call_id).filter(|p| p.notifier_leg() == leg).map(|p| {
            let in_dialog = match p.notifier.as_mut() {
                Some(d) => d.accepts(&req),
                None => Dialog::uac_by_notify(&p.far_subscribe, &req).map(|d| p.notifier = Some(d)),
            };
            (p.id, in_dialog, p.answered.subscribe())
        })
    };
    let Some((pair_id, in_dialog, mut answered)) = found else {
        return refuse(481, reason(481));
    };
    if let Err(e) = in_dialog {
        return refuse(e.status_code(), reason(e.status_code()));
    }
    let header = req.value("Subscription-State").map(|v| v.trim().to_owned()).unwrap_or_default();
    let Some(state) = SubState::parse(&header) else {
        return refuse(400, "Bad Subscription-State");
    };
    let presence = match state {
        SubState::Active => match read_presence(&req) {
            Ok(p) => p,
            Err((code, why)) => {
                tracing::warn!(%why, summary = %req.summary(), "presence document refused");
                return refuse(code, if code == 415 { "Unsupported Media Type" } else { "Bad Presence Document" });
            }
        },
        _ => None,
    };
    if !matches!(timeout(ANSWER_WAIT, answered.wait_for(|a| *a)).await, Ok(Ok(_))) {
        return refuse(481, reason(481));
    }
    if inner.config.defects.has(Defect::SharedPresenceCache)
        && leg == Leg::Enterprise
        && let Some(p) = presence
    {
        share_with_other_watchers(inner, pair_id, p).await;
    }
    forward(inner, pair_id, Some(&header), state, presence).await;
    if !benotify {
        inner.reply_on(leg, id, &req, 200, "OK");
    }
}

/// The seeded defect `shared_presence_cache`: a gateway that consolidates subscriptions per
/// presentity serves every other active Skype watcher of the Lync user what this watcher's
/// subscription returned, in creation order, before this watcher.
async fn share_with_other_watchers(inner: &Arc<Inner>, pair_id: u64, presence: ConsumerState) {
    let others: Vec<u64> = {
        let st = inner.lock();
        let Some(me) = st.subscriptions.get(&pair_id) else { return };
        st.subscriptions
            .values()
            .filter(|p| p.id != pair_id && p.watcher_leg == Leg::Consumer && p.lync_user == me.lync_user)
            .filter(|p| p.told == Some(SubState::Active) && !p.watcher_terminated)
            .map(|p| p.id)
            .collect()
    };
    for other in others {
        forward(inner, other, None, SubState::Active, Some(presence)).await;
    }
}

/// The body a watcher is served for `state`.
fn render_for(pair: &SubscriptionPair, state: ConsumerState, defects: &Defects) -> (&'static str, String) {
    let state = match state {
        ConsumerState::Busy if defects.has(Defect::BusyShownAsAway) && pair.watcher_leg == Leg::Consumer => {
            ConsumerState::Away
        }
        ConsumerState::Away if defects.has(Defect::AwayPublishedAsBusy) && pair.watcher_leg == Leg::Enterprise => {
            ConsumerState::Busy
        }
        s => s,
    };
    match (pair.watcher_leg, pair.format) {
        (Leg::Consumer, _) => (pidf::CONTENT_TYPE, pidf::render(&format!("sip:{}", pair.lync_user), state)),
        (Leg::Enterprise, BodyFormat::Pidf) => (pidf::CONTENT_TYPE, pidf::render(&pair.presented, state)),
        (Leg::Enterprise, BodyFormat::Categories) => (
            categories::CONTENT_TYPE,
            categories::render(&pair.presented, state.lync_value(), &categories::publish_time_now()),
        ),
    }
}

/// Tells the watcher of `pair_id` what its notifier said: `header` is the notifier's
/// Subscription-State, passed through (`None`: `active` with this subscription's remaining
/// time). A terminated state ends the pair.
async fn forward(
    inner: &Arc<Inner>,
    pair_id: u64,
    header: Option<&str>,
    state: SubState,
    presence: Option<ConsumerState>,
) {
    let Some((lock, watcher_leg)) =
        inner.lock().subscriptions.get(&pair_id).map(|p| (Arc::clone(&p.send_lock), p.watcher_leg))
    else {
        return;
    };
    let (header, state, presence) = if state == SubState::Pending
        && watcher_leg == Leg::Consumer
        && inner.config.defects.has(Defect::PendingShownActive)
    {
        (None, SubState::Active, Some(ConsumerState::Offline))
    } else {
        (header, state, presence)
    };
    let Ok(guard) = timeout(TURN_WAIT, lock.lock_owned()).await else {
        tracing::warn!(pair_id, "notification not forwarded: the watcher's dialog stayed busy");
        return;
    };
    let planned = {
        let mut st = inner.lock();
        let State { subscriptions, rng, .. } = &mut *st;
        let planned = subscriptions.get_mut(&pair_id).and_then(|pair| {
            // After expiry the watcher has been told `terminated`: absorb.
            if pair.watcher_terminated {
                return None;
            }
            let how = delivery(pair.told, pair.fresh, state, presence.is_some(), pair.benotify);
            if how == Delivery::Skip {
                return None;
            }
            let method = if how == Delivery::Benotify { Method::BENOTIFY } else { Method::NOTIFY };
            let header = header.map_or_else(|| format!("active;expires={}", pair.remaining_secs()), str::to_owned);
            let via = inner.via(pair.watcher_leg, rng);
            let mut b = pair
                .watcher
                .request(method, &via)
                .header("Contact", inner.contact(pair.watcher_leg))
                .header("Event", "presence")
                .header("Subscription-State", header);
            if let Some(p) = presence.filter(|_| state == SubState::Active) {
                let (content_type, body) = render_for(pair, p, &inner.config.defects);
                b = b.body(content_type, body);
            }
            pair.told = Some(state);
            pair.fresh = false;
            Some((b.build(), pair.watcher_leg, how))
        });
        if state == SubState::Terminated {
            st.remove_pair(pair_id);
        }
        planned
    };
    let Some((msg, leg, how)) = planned else { return };
    let Some(peer) = inner.peer(leg) else { return };
    if how == Delivery::Benotify {
        // Handed to the endpoint and done: a BENOTIFY has no response to wait for.
        inner.endpoint(leg).send_stateless(msg, peer);
        return;
    }
    let status = inner.endpoint(leg).request(msg, peer).await.ok().and_then(|r| r.status());
    drop(guard);
    if status == Some(481) && state != SubState::Terminated {
        // The watcher no longer has this subscription: neither should the notifier.
        expire(inner, pair_id, false).await;
    }
}

/// Arms the watcher's expiry. The task holds the gateway weakly, so a stopped gateway is not
/// kept alive by an hour-long timer.
pub(super) fn arm_expiry(inner: &Arc<Inner>, pair_id: u64, generation: u64, at: Instant) {
    let weak = Arc::downgrade(inner);
    tokio::spawn(async move {
        tokio::time::sleep_until(at).await;
        let Some(inner) = weak.upgrade() else { return };
        let current = inner.lock().subscriptions.get(&pair_id).is_some_and(|p| p.generation == generation);
        if current {
            expire(&inner, pair_id, true).await;
        }
    });
}

/// Ends the watcher's subscription from the gateway's side: `NOTIFY terminated;reason=timeout`
/// to the watcher (when `notify_watcher`), then an unsubscribe to the notifier unless one went
/// already. The notifier's final NOTIFY is then answered and absorbed until the pair is reaped.
pub(super) async fn expire(inner: &Arc<Inner>, pair_id: u64, notify_watcher: bool) {
    let Some(lock) = inner.lock().subscriptions.get(&pair_id).map(|p| Arc::clone(&p.send_lock)) else { return };
    // Past the deadline the watcher is ended anyway: a stuck sender must not keep it alive.
    let guard = timeout(TURN_WAIT, lock.lock_owned()).await.ok();
    let planned = {
        let mut st = inner.lock();
        let State { subscriptions, rng, .. } = &mut *st;
        let Some(pair) = subscriptions.get_mut(&pair_id) else { return };
        if pair.watcher_terminated {
            return;
        }
        pair.watcher_terminated = true;
        pair.generation += 1;
        pair.told = Some(SubState::Terminated);
        let to_watcher = notify_watcher.then(|| {
            let via = inner.via(pair.watcher_leg, rng);
            pair.watcher
                .request(Method::NOTIFY, &via)
                .header("Contact", inner.contact(pair.watcher_leg))
                .header("Event", "presence")
                .header("Subscription-State", "terminated;reason=timeout")
                .build()
        });
        let far = pair.notifier_leg();
        let unsubscribed_before = pair.far_unsubscribed;
        let to_notifier = if unsubscribed_before {
            None
        } else {
            let via = inner.via(far, rng);
            pair.notifier.as_mut().map(|n| far_resubscribe(inner, n, &via, far, 0))
        };
        pair.far_unsubscribed = true;
        (to_watcher, to_notifier, unsubscribed_before, pair.watcher_leg, pair.generation)
    };
    let (to_watcher, to_notifier, unsubscribed_before, leg, generation) = planned;
    if let (Some(msg), Some(peer)) = (to_watcher, inner.peer(leg)) {
        let _ = inner.endpoint(leg).request(msg, peer).await;
    }
    drop(guard);
    // Whether the notifier still owes its final NOTIFY.
    let final_notify_due = match (to_notifier, inner.peer(leg.other())) {
        (Some(msg), Some(peer)) => inner
            .endpoint(leg.other())
            .request(msg, peer)
            .await
            .ok()
            .and_then(|r| r.status())
            .is_some_and(|c| (200..300).contains(&c)),
        _ => unsubscribed_before,
    };
    if !final_notify_due {
        inner.lock().remove_pair(pair_id);
        return;
    }
    let weak = Arc::downgrade(inner);
    tokio::spawn(async move {
        tokio::time::sleep(REAP_AFTER).await;
        let Some(inner) = weak.upgrade() else { return };
        let mut st = inner.lock();
        if st.subscriptions.get(&pair_id).is_some_and(|p| p.generation == generation) {
            st.remove_pair(pair_id);
        }
    });
}
