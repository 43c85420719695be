//! Steps for contacts, privacy and presence (`features/contacts.feature`, `privacy.feature`,
//! `presence.feature`). Thin: parse, call one agent method, judge.

use std::time::Duration;

use cucumber::gherkin::Step;
use cucumber::{given, then, when};

use super::config;
use super::steps::{addr, side};
use super::world::{FedWorld, step_deadline};
use crate::agent::{Address, AgentEvent, Answer, Container, PrivacyMode, Shown, Side};
use crate::dialect::lync::Availability;
use crate::dialect::skype::{self, SkypeState};
use crate::trace::canonical;

fn parse<T: std::str::FromStr<Err = String>>(s: &str) -> T {
    s.parse().unwrap_or_else(|e: String| panic!("{e}"))
}

/// How long a check waits for a subscription to end: an expiry of a few seconds plus the
/// usual deadline.
const END_DEADLINE: Duration = Duration::from_secs(12);

// ── Given: users and their settings (no traffic) ─────────────────────────────────────────

#[given(expr = "the Lync user {string} who is not enabled for public IM connectivity")]
async fn given_not_enabled(w: &mut FedWorld, step: &Step, user: String) {
    w.begin(step).await;
    let u = addr(&user);
    let enabled = config().sut.enterprise_users.iter().any(|e| e.eq_ignore_ascii_case(u.as_str()));
    assert!(!enabled, "the SUT profile enables {u} for public IM connectivity: this scenario needs a user it does not");
    w.add_user(Side::Enterprise, u);
}

#[given(expr = "the Skype user {string} who has no Microsoft account")]
async fn given_no_msa(w: &mut FedWorld, step: &Step, user: String) {
    w.begin(step).await;
    w.add_user(Side::Consumer, addr(&user));
}

#[given(expr = "the Lync user {string} sets \"Contacts not using Lync\" to {string}")]
async fn given_privacy(w: &mut FedWorld, step: &Step, user: String, mode: String) {
    w.begin(step).await;
    w.leg(Side::Enterprise).set_privacy(&addr(&user), parse::<PrivacyMode>(&mode));
}

#[given(expr = "the Lync user {string} turns off \"Tell me when someone adds me to his or her contact list\"")]
async fn given_alerts_off(w: &mut FedWorld, step: &Step, user: String) {
    w.begin(step).await;
    w.leg(Side::Enterprise).set_alert_on_add(&addr(&user), false);
}

#[given(expr = "the Lync user {string} is at availability {int}")]
async fn given_availability(w: &mut FedWorld, step: &Step, user: String, value: u32) {
    w.begin(step).await;
    w.leg(Side::Enterprise).preset_availability(&addr(&user), Availability(value));
}

#[given(expr = "the Skype user {string} is {word}")]
async fn given_status(w: &mut FedWorld, step: &Step, user: String, status: String) {
    w.begin(step).await;
    w.leg(Side::Consumer).preset_status(&addr(&user), parse::<SkypeState>(&status));
}

#[given("the Lync pool serves presence as PIDF")]
async fn given_pool_pidf(w: &mut FedWorld, step: &Step) {
    w.begin(step).await;
    w.leg(Side::Enterprise).pool_serves_pidf();
}

// ── Given: established relationships (traffic, checked on the way) ──────────────────────

#[given(expr = "the Skype user {string} has added the Lync contact {string}, who accepted")]
async fn given_skype_added(w: &mut FedWorld, step: &Step, user: String, contact: String) {
    w.begin(step).await;
    let (user, contact) = (addr(&user), addr(&contact));
    let out = w.leg(Side::Consumer).skype_add_contact(&user, &contact, None).await;
    assert!(out.is_success(), "{user} adding {contact}: {out}");
    let presented = wait_subscriber(w, &contact, &user).await;
    answer_lync(w, &contact, &presented, Answer::Accept(Container::External)).await;
    let shown = w.leg(Side::Consumer).wait_shown(&user, &contact, "presence", step_deadline(), is_status).await;
    shown.unwrap_or_else(|e| panic!("{e}"));
}

#[given(expr = "the Lync user {string} has added the Skype contact {string} and the Skype user {string} accepted")]
async fn given_lync_added(w: &mut FedWorld, step: &Step, user: String, contact: String, skype_user: String) {
    w.begin(step).await;
    let (user, contact, skype_user) = (addr(&user), addr(&contact), addr(&skype_user));
    let out =
        w.leg(Side::Enterprise).lync_add_contact(&user, &contact, "Other Contacts", Container::External, None).await;
    assert!(out.is_success(), "{user} adding {contact}: {out}");
    let requester = wait_request(w, Side::Consumer, &skype_user).await;
    w.leg(Side::Consumer).skype_answer(&skype_user, &requester, true).await.unwrap_or_else(|e| panic!("{e}"));
    let shown = w.leg(Side::Enterprise).wait_shown(&user, &contact, "presence", step_deadline(), is_availability).await;
    shown.unwrap_or_else(|e| panic!("{e}"));
}

fn is_status(s: &Shown) -> bool {
    matches!(s, Shown::Status(_))
}

fn is_availability(s: &Shown) -> bool {
    matches!(s, Shown::Availability(_))
}

/// Waits for a contact request to reach `user` and returns the requester as presented.
async fn wait_request(w: &FedWorld, leg: Side, user: &Address) -> Address {
    let ev = w
        .leg(leg)
        .wait_for(user, "a contact request", step_deadline(), |e| matches!(e, AgentEvent::ContactRequest { .. }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    match ev {
        AgentEvent::ContactRequest { from } => addr(&from),
        _ => unreachable!("filtered above"),
    }
}

/// Waits until `user` has exactly one unacknowledged subscriber (the request `skype_user`
/// just sent) and returns it as presented.
async fn wait_subscriber(w: &FedWorld, user: &Address, skype_user: &Address) -> Address {
    let leg = w.leg(Side::Enterprise);
    let what = format!("the contact request of {skype_user}");
    let found = leg
        .wait_until(user, &what, step_deadline(), || {
            let pending = leg.subscribers(user).into_iter().filter(|s| leg.subscriber(user, s) == Some(false));
            let pending: Vec<Address> = pending.collect();
            assert!(pending.len() < 2, "{user} has several unanswered contact requests: {pending:?}");
            pending.into_iter().next()
        })
        .await;
    found.unwrap_or_else(|e| panic!("{e}"))
}

async fn answer_lync(w: &FedWorld, user: &Address, watcher: &Address, answer: Answer) {
    w.leg(Side::Enterprise).lync_answer(user, watcher, answer).await.unwrap_or_else(|e| panic!("{e}"));
}

// ── When ────────────────────────────────────────────────────────────────────────────────

#[when(expr = "the Lync user {string} adds the Skype contact {string}")]
async fn when_lync_adds(w: &mut FedWorld, step: &Step, user: String, contact: String) {
    lync_adds(w, step, &user, &contact, "Other Contacts", Container::External, None).await;
}

#[when(expr = "the Lync user {string} adds the Skype contact {string} to the group {string} as {string}")]
async fn when_lync_adds_into(
    w: &mut FedWorld,
    step: &Step,
    user: String,
    contact: String,
    group: String,
    container: String,
) {
    lync_adds(w, step, &user, &contact, &group, parse::<Container>(&container), None).await;
}

#[when(expr = "the Lync user {string} adds the Skype contact {string} accepting only PIDF")]
async fn when_lync_adds_pidf(w: &mut FedWorld, step: &Step, user: String, contact: String) {
    lync_adds(w, step, &user, &contact, "Other Contacts", Container::External, Some("application/pidf+xml")).await;
}

async fn lync_adds(
    w: &mut FedWorld,
    step: &Step,
    user: &str,
    contact: &str,
    group: &str,
    container: Container,
    accept: Option<&str>,
) {
    w.begin(step).await;
    let (user, contact) = (addr(user), addr(contact));
    let out = w.leg(Side::Enterprise).lync_add_contact(&user, &contact, group, container, accept).await;
    w.last_outcome = Some((user, out));
}

#[when(expr = "the Skype user {string} adds the Lync contact {string}")]
async fn when_skype_adds(w: &mut FedWorld, step: &Step, user: String, contact: String) {
    skype_adds(w, step, &user, &contact, None).await;
}

#[when(expr = "the Skype user {string} adds the Lync contact {string} for {int} second(s)")]
async fn when_skype_adds_for(w: &mut FedWorld, step: &Step, user: String, contact: String, secs: u32) {
    skype_adds(w, step, &user, &contact, Some(secs)).await;
}

async fn skype_adds(w: &mut FedWorld, step: &Step, user: &str, contact: &str, expires: Option<u32>) {
    w.begin(step).await;
    let (user, contact) = (addr(user), addr(contact));
    let out = w.leg(Side::Consumer).skype_add_contact(&user, &contact, expires).await;
    w.last_outcome = Some((user, out));
}

#[when(expr = "the Skype user {string} {word} the contact request from {string}")]
async fn when_skype_answers(w: &mut FedWorld, step: &Step, user: String, verb: String, requester: String) {
    w.begin(step).await;
    let accept = match verb.as_str() {
        "accepts" => true,
        "declines" => false,
        other => panic!("a Skype user accepts or declines a contact request, not `{other}`"),
    };
    let r = w.leg(Side::Consumer).skype_answer(&addr(&user), &addr(&requester), accept).await;
    r.unwrap_or_else(|e| panic!("{e}"));
}

#[when(expr = "the Lync user {string} {word} the contact request from {string}")]
async fn when_lync_answers(w: &mut FedWorld, step: &Step, user: String, verb: String, watcher: String) {
    w.begin(step).await;
    let answer = match verb.as_str() {
        "accepts" => Answer::Accept(Container::External),
        "ignores" => Answer::Ignore,
        "blocks" => Answer::Block,
        other => panic!("a Lync user accepts, ignores or blocks a contact request, not `{other}`"),
    };
    answer_lync(w, &addr(&user), &addr(&watcher), answer).await;
}

#[when(expr = "the Lync user {string} accepts the contact request from {string} as {string}")]
async fn when_lync_accepts_as(w: &mut FedWorld, step: &Step, user: String, watcher: String, container: String) {
    w.begin(step).await;
    answer_lync(w, &addr(&user), &addr(&watcher), Answer::Accept(parse::<Container>(&container))).await;
}

#[when(expr = "the Lync user {string} changes availability to {int}")]
async fn when_availability(w: &mut FedWorld, step: &Step, user: String, value: u32) {
    w.begin(step).await;
    w.leg(Side::Enterprise).set_availability(&addr(&user), Availability(value)).await;
}

#[when(expr = "the Skype user {string} changes status to {word}")]
async fn when_status(w: &mut FedWorld, step: &Step, user: String, status: String) {
    w.begin(step).await;
    w.leg(Side::Consumer).set_status(&addr(&user), parse::<SkypeState>(&status)).await;
}

#[when(expr = "the {word} user {string} removes the contact {string}")]
async fn when_removes(w: &mut FedWorld, step: &Step, kind: String, user: String, contact: String) {
    w.begin(step).await;
    let user = addr(&user);
    let out = w.leg(side(&kind)).remove_contact(&user, &addr(&contact)).await.unwrap_or_else(|e| panic!("{e}"));
    w.last_outcome = Some((user, out));
}

#[when(expr = "the {word} user {string} refreshes the subscription to {string}")]
async fn when_refreshes(w: &mut FedWorld, step: &Step, kind: String, user: String, contact: String) {
    w.begin(step).await;
    let user = addr(&user);
    w.mark = w.leg(side(&kind)).events_of(&user).len();
    let out = w.leg(side(&kind)).refresh(&user, &addr(&contact)).await.unwrap_or_else(|e| panic!("{e}"));
    w.last_outcome = Some((user, out));
}

#[when(expr = "the Skype user {string} searches for {string}")]
async fn when_searches(w: &mut FedWorld, step: &Step, user: String, target: String) {
    w.begin(step).await;
    let user = addr(&user);
    let out = w.leg(Side::Consumer).search(&user, &addr(&target)).await;
    w.last_outcome = Some((user, out));
}

// ── Then ────────────────────────────────────────────────────────────────────────────────

#[then(expr = "the request is answered {int}")]
async fn then_answered(w: &mut FedWorld, step: &Step, code: u16) {
    w.begin(step).await;
    let o = w.last();
    assert_eq!(o.status, Some(code), "expected a final response {code}, got {o}");
}

#[then(expr = "the Lync user {string} sees {string} as pending")]
async fn then_lync_pending(w: &mut FedWorld, step: &Step, user: String, contact: String) {
    w.begin(step).await;
    wait_shown(w, Side::Enterprise, &user, &contact, "no presence yet (pending)", |s| *s == Shown::Pending).await;
}

#[then(expr = "the Lync user {string} sees {string} at availability {int}")]
async fn then_lync_sees(w: &mut FedWorld, step: &Step, user: String, contact: String, value: u32) {
    w.begin(step).await;
    let want = Shown::Availability(Availability(value));
    wait_shown(w, Side::Enterprise, &user, &contact, &format!("availability {value}"), |s| *s == want).await;
}

#[then(expr = "the Skype user {string} sees {string} with a question mark")]
async fn then_skype_pending(w: &mut FedWorld, step: &Step, user: String, contact: String) {
    w.begin(step).await;
    wait_shown(w, Side::Consumer, &user, &contact, "the question mark (pending)", |s| *s == Shown::Pending).await;
}

#[then(expr = "the Skype user {string} sees {string} as {word}")]
async fn then_skype_sees(w: &mut FedWorld, step: &Step, user: String, contact: String, status: String) {
    w.begin(step).await;
    let want = Shown::Status(parse::<SkypeState>(&status));
    wait_shown(w, Side::Consumer, &user, &contact, &format!("status {status}"), |s| *s == want).await;
}

#[then(expr = "the {word} user {string} sees the subscription to {string} end with reason {string}")]
async fn then_ended(w: &mut FedWorld, step: &Step, kind: String, user: String, contact: String, reason: String) {
    w.begin(step).await;
    let want = Shown::Ended(reason.clone());
    let (user, contact, what) = (addr(&user), addr(&contact), format!("the end ({reason})"));
    let r = w.leg(side(&kind)).wait_shown(&user, &contact, &what, END_DEADLINE, |s| *s == want).await;
    r.unwrap_or_else(|e| panic!("{e}"));
}

/// After a refresh: a notification about `contact` arrived after it (RFC 6665 §4.2.1.2: the
/// notifier sends one after every SUBSCRIBE), whatever state it shows.
#[then(expr = "the {word} user {string} is sent the state of {string} again")]
async fn then_sent_again(w: &mut FedWorld, step: &Step, kind: String, user: String, contact: String) {
    w.begin(step).await;
    let (user, contact) = (addr(&user), addr(&contact));
    let (leg, mark) = (w.leg(side(&kind)), w.mark);
    let what = format!("a notification about {contact} after the refresh");
    let fresh = || {
        leg.events_of(&user).into_iter().skip(mark).find(|e| {
            matches!(e, AgentEvent::Presence { of, .. } if of.parse::<Address>().is_ok_and(|a| a.comparable().eq_ignore_ascii_case(&contact.comparable())))
        })
    };
    leg.wait_until(&user, &what, step_deadline(), fresh).await.unwrap_or_else(|e| panic!("{e}"));
}

/// The notifier's side of a subscription is gone: the far side ended it too.
#[then(expr = "the {word} user {string} is no longer watched by {string}")]
async fn then_not_watched(w: &mut FedWorld, step: &Step, kind: String, user: String, watcher: String) {
    w.begin(step).await;
    let (user, watcher) = (addr(&user), addr(&watcher));
    let leg = w.leg(side(&kind));
    let what = format!("the end of {watcher}'s subscription");
    let r = leg.wait_until(&user, &what, END_DEADLINE, || (!leg.watched_by(&user, &watcher)).then_some(())).await;
    r.unwrap_or_else(|e| panic!("{e}"));
}

async fn wait_shown(w: &FedWorld, leg: Side, user: &str, contact: &str, what: &str, pred: impl Fn(&Shown) -> bool) {
    let r = w.leg(leg).wait_shown(&addr(user), &addr(contact), what, step_deadline(), pred).await;
    r.unwrap_or_else(|e| panic!("{e}"));
}

#[then(expr = "the {word} user {string} receives a contact request from {string}")]
async fn then_request(w: &mut FedWorld, step: &Step, kind: String, user: String, from: String) {
    w.begin(step).await;
    let from = addr(&from);
    let r = w
        .leg(side(&kind))
        .wait_for(&addr(&user), &format!("a contact request from {from}"), step_deadline(), |e| {
            matches!(e, AgentEvent::ContactRequest { from: f } if f.parse::<Address>().is_ok_and(|f| f.comparable().eq_ignore_ascii_case(&from.comparable())))
        })
        .await;
    r.unwrap_or_else(|e| panic!("{e}"));
}

#[then(expr = "the {word} user {string} receives no contact request")]
async fn then_no_request(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    let user = addr(&user);
    let got = w.events_where(side(&kind), &user, |e| matches!(e, AgentEvent::ContactRequest { .. }));
    assert!(got.is_empty(), "{user} should have had no contact request (no New tab alert), got {got:?}");
}

#[then(expr = "the Lync user {string} has an {word} subscriber {string}")]
async fn then_subscriber(w: &mut FedWorld, step: &Step, user: String, ack: String, watcher: String) {
    w.begin(step).await;
    let want = match ack.as_str() {
        "unacknowledged" => false,
        "acknowledged" => true,
        other => panic!("a subscriber is acknowledged or unacknowledged, not `{other}`"),
    };
    let (user, watcher) = (addr(&user), addr(&watcher));
    let leg = w.leg(Side::Enterprise);
    let what = format!("subscriber {watcher} with acknowledged=\"{want}\"");
    let r = leg
        .wait_until(&user, &what, step_deadline(), || (leg.subscriber(&user, &watcher) == Some(want)).then_some(()))
        .await;
    r.unwrap_or_else(|e| panic!("{e}"));
}

#[then(expr = "the Lync user {string} has no subscriber {string}")]
async fn then_no_subscriber(w: &mut FedWorld, step: &Step, user: String, watcher: String) {
    w.begin(step).await;
    let (user, watcher) = (addr(&user), addr(&watcher));
    let got = w.leg(Side::Enterprise).subscriber(&user, &watcher);
    assert_eq!(got, None, "{user} should have no subscriber entry for {watcher}");
}

/// The no-leak check (PROTOCOL.md §6 reqs 7, 8): every NOTIFY the consumer leg received for
/// `watcher` about `presentity` showed no presence or Offline, never a reachable state. Reads
/// the wire, not the agent, so nothing the Skype client model does can hide a leak.
#[then(expr = "no NOTIFY to {string} on the consumer leg has shown {string} reachable")]
async fn then_no_leak(w: &mut FedWorld, step: &Step, watcher: String, presentity: String) {
    w.begin(step).await;
    let (watcher, presentity) = (addr(&watcher), addr(&presentity));
    let run = w.run();
    let (seen, _) = canonical::messages(&run.tap.events(), &run.cast);
    let aor =
        |u: Option<String>| u.and_then(|u| u.parse::<Address>().ok()).map(|a| a.comparable().to_ascii_lowercase());
    let mut checked = 0;
    for s in seen.iter().filter(|s| s.leg == "consumer" && !s.sent && s.msg.is_request()) {
        let m = &s.msg;
        if !matches!(m.method().map(|x| x.as_str()), Some("NOTIFY" | "BENOTIFY")) {
            continue;
        }
        let to = aor(m.to_addr().ok().map(|a| a.uri));
        let from = aor(m.from_addr().ok().map(|a| a.uri));
        if to.as_deref() != Some(&watcher.comparable().to_ascii_lowercase())
            || from.as_deref() != Some(&presentity.comparable().to_ascii_lowercase())
        {
            continue;
        }
        checked += 1;
        match skype::shown_state(m) {
            Ok(None | Some(SkypeState::Offline)) => {}
            Ok(Some(state)) => panic!(
                "presence leak: step {} carried {presentity} as {state:?} to {watcher}:\n{}",
                s.step,
                String::from_utf8_lossy(m.as_bytes())
            ),
            Err(e) => panic!("an unreadable NOTIFY to {watcher} in step {}: {e}", s.step),
        }
    }
    assert!(checked > 0, "no NOTIFY to {watcher} about {presentity} crossed the consumer leg: nothing was checked");
}
