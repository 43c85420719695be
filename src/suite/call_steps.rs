//! Audio call steps (`features/audio.feature`): placing, ringing, answering and refusing
//! calls, hold, DTMF, and what each user hears. Every packet count is read where the packets
//! were received, from that user's own media session.

use cucumber::gherkin::Step;
use cucumber::{given, then, when};

use super::steps::{addr, side};
use super::world::{FedWorld, step_deadline};
use crate::agent::media::MediaReport;
use crate::agent::{Address, AgentEvent, CallPhase, Side, SimSide};

/// The parties of the scenario's call, as the steps named them.
#[derive(Debug, Clone, Default)]
pub struct CallParties {
    /// The caller's leg and address.
    pub caller: Option<(Side, Address)>,
    /// The callee's leg and address, once a step named them.
    pub callee: Option<(Side, Address)>,
    /// The last talk spurt: listener, packets sent, what the listener had heard before it.
    pub spoken: Option<(Side, Address, u64, u64)>,
}

/// Audio packets a report counts (every stream, DTMF events left out).
fn audio_packets(r: &MediaReport) -> u64 {
    r.streams.iter().map(|s| s.summary.packets.saturating_sub(s.summary.dtmf_packets)).sum()
}

fn leg_and_user(w: &FedWorld, kind: &str, user: &str) -> (SimSide, Address) {
    (w.leg(side(kind)).clone(), addr(user))
}

/// Waits for an event of `user`, failing the step with what the user saw and the faults.
async fn expect(leg: &SimSide, user: &Address, what: &str, pred: impl Fn(&AgentEvent) -> bool) -> AgentEvent {
    match leg.wait_for(user, what, step_deadline(), pred).await {
        Ok(e) => e,
        Err(e) => panic!("{e}; faults on this leg: {:?}", leg.faults()),
    }
}

fn media_of(leg: &SimSide, user: &Address) -> crate::agent::media::MediaHandle {
    leg.call_of(user)
        .and_then(|c| c.media)
        .unwrap_or_else(|| panic!("{user} has no call with media (faults: {:?})", leg.faults()))
}

/// Places a call and waits until the caller hears ringback or the call is refused, so that
/// everything the call set off on both legs falls in this step.
async fn place(w: &mut FedWorld, kind: &str, from: &str, to: &str) {
    let (leg, from) = leg_and_user(w, kind, from);
    let to = addr(to);
    leg.place_call(&from, &to).await.unwrap_or_else(|e| panic!("{from} cannot call {to}: {e}"));
    expect(&leg, &from, "ringback or a refusal", |e| {
        matches!(e, AgentEvent::RingBack { .. } | AgentEvent::CallRefused { .. })
    })
    .await;
    w.call.caller = Some((leg.side(), from));
}

/// Answers and waits until the call is up on both sides.
async fn answer(w: &mut FedWorld, kind: &str, user: &str) {
    let (leg, user) = leg_and_user(w, kind, user);
    leg.answer_call(&user).unwrap_or_else(|e| panic!("{e}"));
    w.call.callee = Some((leg.side(), user.clone()));
    expect(&leg, &user, "the call up", |e| matches!(e, AgentEvent::CallUp { .. })).await;
    let (cs, caller) = w.call.caller.clone().unwrap_or_else(|| panic!("nobody placed a call"));
    expect(w.leg(cs), &caller, "the call up", |e| matches!(e, AgentEvent::CallUp { .. })).await;
}

#[when(expr = "the {word} user {string} calls {string}")]
async fn when_calls(w: &mut FedWorld, step: &Step, kind: String, from: String, to: String) {
    w.begin(step).await;
    place(w, &kind, &from, &to).await;
}

#[given(expr = "the {word} user {string} is in a call with {string}")]
async fn given_in_call(w: &mut FedWorld, step: &Step, kind: String, from: String, to: String) {
    w.begin(step).await;
    place(w, &kind, &from, &to).await;
    let other = if side(&kind) == Side::Enterprise { "Skype" } else { "Lync" };
    // The callee as its own leg knows it: the step names the callee as its side addresses it.
    let callee = callee_on(w, side(other), &addr(&to));
    answer(w, other, &callee.to_string()).await;
}

/// The user of `side` whose call is ringing (the callee as its own leg knows it): a step
/// names the callee as the caller addresses it, which on the consumer leg differs.
fn callee_on(w: &FedWorld, side: Side, named: &Address) -> Address {
    let ringing: Vec<Address> = w
        .users
        .keys()
        .filter(|(s, _)| *s == side)
        .map(|(_, u)| u.clone())
        .filter(|u| w.leg(side).call_of(u).is_some_and(|c| c.phase == CallPhase::Ringing))
        .collect();
    match ringing.as_slice() {
        [one] => one.clone(),
        _ => panic!("{named}: expected exactly one ringing user on the {} leg, found {ringing:?}", side.label()),
    }
}

#[then(expr = "the {word} user {string} is ringing")]
async fn then_ringing(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    let (leg, user) = leg_and_user(w, &kind, &user);
    expect(&leg, &user, "a ringing call", |e| matches!(e, AgentEvent::Ringing { .. })).await;
    w.call.callee = Some((leg.side(), user));
}

#[when(expr = "the {word} user {string} answers the call")]
async fn when_answers(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    let (leg, u) = leg_and_user(w, &kind, &user);
    // "calls … And answers": the call may still be on its way to this user.
    expect(&leg, &u, "a ringing call", |e| matches!(e, AgentEvent::Ringing { .. })).await;
    answer(w, &kind, &user).await;
}

#[when(expr = "the {word} user {string} declines the call")]
async fn when_declines(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    let (leg, user) = leg_and_user(w, &kind, &user);
    leg.decline_call(&user).unwrap_or_else(|e| panic!("{e}"));
}

#[when(expr = "the {word} user {string} cancels the call")]
async fn when_cancels(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    let (leg, user) = leg_and_user(w, &kind, &user);
    let out = leg.cancel_call(&user).await;
    assert_eq!(out.status, Some(200), "{user}'s CANCEL should be answered 200, got {out}");
    expect(&leg, &user, "the INVITE's final response", |e| matches!(e, AgentEvent::CallRefused { .. })).await;
}

#[when(expr = "the {word} user {string} hangs up")]
async fn when_hangs_up(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    let (leg, user) = leg_and_user(w, &kind, &user);
    let out = leg.hang_up(&user).await;
    assert_eq!(out.status, Some(200), "{user}'s BYE should be answered 200, got {out}");
    // The gateway ends the other leg too; that BYE belongs to this step.
    let (other, far) = other_party(w, leg.side(), &user);
    expect(w.leg(other), &far, "the call ended", |e| matches!(e, AgentEvent::CallEnded { .. })).await;
}

/// The other party of the scenario's call.
fn other_party(w: &FedWorld, side: Side, user: &Address) -> (Side, Address) {
    let parties = [w.call.caller.clone(), w.call.callee.clone()];
    parties
        .into_iter()
        .flatten()
        .find(|(s, u)| !(*s == side && u == user))
        .unwrap_or_else(|| panic!("the call of {user} has no other party named by a step"))
}

#[then("the call has ended on both legs")]
async fn then_ended(w: &mut FedWorld, step: &Step) {
    w.begin(step).await;
    for (s, u) in [w.call.caller.clone(), w.call.callee.clone()].into_iter().flatten() {
        expect(w.leg(s), &u, "the call ended", |e| matches!(e, AgentEvent::CallEnded { .. })).await;
        let phase = w.leg(s).call_of(&u).map(|c| c.phase);
        assert!(phase.is_none(), "{u} still has a call in phase {phase:?}");
    }
}

#[then(expr = "the call is refused with {int}")]
async fn then_refused(w: &mut FedWorld, step: &Step, code: u16) {
    w.begin(step).await;
    let (s, caller) = w.call.caller.clone().unwrap_or_else(|| panic!("nobody placed a call"));
    let e = expect(w.leg(s), &caller, "the call refused", |e| matches!(e, AgentEvent::CallRefused { .. })).await;
    let AgentEvent::CallRefused { status, .. } = &e else { unreachable!() };
    assert_eq!(*status, Some(code), "{caller}'s call should be refused with {code}, got {e:?}");
}

#[then(expr = "the refusal carries ms-client-diagnostics {int}")]
async fn then_refusal_diag(w: &mut FedWorld, step: &Step, code: u32) {
    w.begin(step).await;
    let (s, caller) = w.call.caller.clone().unwrap_or_else(|| panic!("nobody placed a call"));
    let got = w.events_where(s, &caller, |e| matches!(e, AgentEvent::CallRefused { .. }));
    let diag = got.iter().find_map(|e| match e {
        AgentEvent::CallRefused { diagnostics, .. } => diagnostics.clone(),
        _ => None,
    });
    assert!(
        diag.as_deref().is_some_and(|d| d.split(';').next().map(str::trim) == Some(&code.to_string())),
        "the refusal should carry ms-client-diagnostics {code}, got {got:?}"
    );
}

#[then(expr = "the {word} user {string} is no longer ringing")]
async fn then_no_longer_ringing(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    let (leg, user) = leg_and_user(w, &kind, &user);
    expect(&leg, &user, "the ringing to stop", |e| matches!(e, AgentEvent::RingStopped { .. })).await;
}

#[then(expr = "the {word} user {string} is not ringing")]
async fn then_not_ringing(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    let (leg, user) = leg_and_user(w, &kind, &user);
    let rang = w.events_where(leg.side(), &user, |e| matches!(e, AgentEvent::Ringing { .. }));
    assert!(rang.is_empty(), "{user} should not have rung, got {rang:?}");
}

#[given(expr = "the {word} user {string} is busy in another call")]
async fn given_busy(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    let (leg, user) = leg_and_user(w, &kind, &user);
    leg.set_busy_in_call(&user);
}

#[given(expr = "the {word} user {string} does not answer calls")]
async fn given_no_answer(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    let (leg, user) = leg_and_user(w, &kind, &user);
    leg.set_no_answer(&user);
}

#[given(expr = "the Lync user {string} on a device without media encryption")]
async fn given_no_srtp(w: &mut FedWorld, step: &Step, user: String) {
    w.begin(step).await;
    w.add_user(Side::Enterprise, addr(&user));
    w.leg(Side::Enterprise).set_no_srtp(&addr(&user));
}

#[given("the Lync pool refuses multipart call offers")]
async fn given_refuse_multipart(w: &mut FedWorld, step: &Step) {
    w.begin(step).await;
    w.leg(Side::Enterprise).refuse_multipart_offers();
}

#[given(expr = "the {word} user {string} offers only {string}")]
async fn given_offers_only(w: &mut FedWorld, step: &Step, kind: String, user: String, list: String) {
    w.begin(step).await;
    let (leg, user) = leg_and_user(w, &kind, &user);
    leg.set_offer_only(&user, &list).unwrap_or_else(|e| panic!("{e}"));
}

#[then(expr = "the call is up with {word} on the Lync leg and {word} on the consumer leg")]
async fn then_up_with(w: &mut FedWorld, step: &Step, lync: String, consumer: String) {
    w.begin(step).await;
    for (s, u) in [w.call.caller.clone(), w.call.callee.clone()].into_iter().flatten() {
        let want = if s == Side::Enterprise { &lync } else { &consumer };
        let e = expect(w.leg(s), &u, "the call up", |e| matches!(e, AgentEvent::CallUp { .. })).await;
        let AgentEvent::CallUp { codec, .. } = &e else { unreachable!() };
        assert_eq!(codec, want, "{u} ({} leg) sends {codec}, expected {want}", s.label());
    }
}

#[when(expr = "the {word} user {string} speaks for {int} packets")]
async fn when_speaks(w: &mut FedWorld, step: &Step, kind: String, user: String, n: u64) {
    w.begin(step).await;
    let (leg, user) = leg_and_user(w, &kind, &user);
    let (ls, listener) = other_party(w, leg.side(), &user);
    let speaker = media_of(&leg, &user);
    let hearer = media_of(w.leg(ls), &listener);
    let (heard0, srs0, rrs0) = {
        let (h, s) = (hearer.report(), speaker.report());
        (audio_packets(&h), h.sr_received, s.rr_received)
    };
    let held = leg.call_of(&user).is_some_and(|c| c.held);
    speaker.speak(u32::try_from(n).unwrap_or(u32::MAX)).await.unwrap_or_else(|e| panic!("{user} cannot speak: {e}"));
    if !held {
        // The fixed RTCP points (flows.md): the speaker's SR is answered by the gateway's RR,
        // and the gateway's SR on the far leg by the listener's RR. All of it is this step's.
        let heard =
            hearer.wait_until(step_deadline(), |r| audio_packets(r) >= heard0 + n && r.sr_received > srs0).await;
        if let Err(r) = heard {
            panic!(
                "{listener} heard {} of {n} packets and {} new SRs: {r:?}",
                audio_packets(&r) - heard0,
                r.sr_received - srs0
            );
        }
        if let Err(r) = speaker.wait_until(step_deadline(), |r| r.rr_received > rrs0).await {
            panic!("{user}'s SR was not answered by an RR: {r:?}");
        }
    }
    w.call.spoken = Some((ls, listener, n, heard0));
}

#[then(expr = "the {word} user {string} hears those {int} packets without loss")]
async fn then_hears(w: &mut FedWorld, step: &Step, kind: String, user: String, n: u64) {
    w.begin(step).await;
    let (leg, user) = leg_and_user(w, &kind, &user);
    let (_, listener, sent, before) = w.call.spoken.clone().unwrap_or_else(|| panic!("nobody spoke"));
    assert_eq!(listener, user, "the last talk spurt was for {listener}, not {user}");
    assert_eq!(sent, n, "the last talk spurt had {sent} packets");
    let r = media_of(&leg, &user).report();
    let heard = audio_packets(&r) - before;
    assert_eq!(heard, n, "{user} heard {heard} packets of {n}: {r:?}");
    for s in &r.streams {
        let m = &s.summary;
        assert!(
            m.lost == 0 && m.duplicates == 0 && m.reordered == 0 && m.gaps == 0 && m.seq_jumps == 0,
            "{user}: stream {:#x} lost/duplicated/reordered packets: {m:?}",
            s.ssrc
        );
        assert!(m.ts_discontinuities == 0, "{user}: stream {:#x} has timestamp jumps: {m:?}", s.ssrc);
        assert_ne!(m.ssrc_in_range, Some(false), "{user}: stream {:#x} is outside the declared x-ssrc-range", s.ssrc);
    }
    assert!(r.errors.is_empty(), "{user}'s media saw errors: {:?}", r.errors);
}

#[then(expr = "the {word} user {string} hears nothing")]
async fn then_hears_nothing(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    let (leg, user) = leg_and_user(w, &kind, &user);
    let (_, listener, _, before) = w.call.spoken.clone().unwrap_or_else(|| panic!("nobody spoke"));
    assert_eq!(listener, user, "the last talk spurt was for {listener}, not {user}");
    // Settled: nothing is in flight, so whatever was sent has arrived.
    let r = media_of(&leg, &user).report();
    assert_eq!(audio_packets(&r), before, "{user} should have heard nothing while the call is held: {r:?}");
}

#[when(expr = "the {word} user {string} puts the call on hold")]
async fn when_holds(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    hold(w, step, &kind, &user, true).await;
}

#[when(expr = "the {word} user {string} resumes the call")]
async fn when_resumes(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    hold(w, step, &kind, &user, false).await;
}

async fn hold(w: &mut FedWorld, step: &Step, kind: &str, user: &str, held: bool) {
    w.begin(step).await;
    let (leg, user) = leg_and_user(w, kind, user);
    let out = leg.hold(&user, held).await;
    assert!(
        out.is_success(),
        "{user}'s re-INVITE ({}) should be accepted, got {out}",
        if held { "hold" } else { "resume" }
    );
    let (os, other) = other_party(w, leg.side(), &user);
    let what = if held { "the call held" } else { "the call resumed" };
    expect(w.leg(os), &other, what, |e| matches!(e, AgentEvent::CallHeld { held: h, .. } if *h == held)).await;
}

#[then(expr = "the {word} user {string} sees the call {word}")]
async fn then_sees_held(w: &mut FedWorld, step: &Step, kind: String, user: String, state: String) {
    w.begin(step).await;
    let held = match state.as_str() {
        "held" => true,
        "resumed" => false,
        other => panic!("`{other}`: expected held or resumed"),
    };
    let (leg, user) = leg_and_user(w, &kind, &user);
    let call = leg.call_of(&user).unwrap_or_else(|| panic!("{user} has no call"));
    assert_eq!(call.held, held, "{user}'s call should be {state}");
}

#[when(expr = "the {word} user {string} presses {string}")]
async fn when_presses(w: &mut FedWorld, step: &Step, kind: String, user: String, digits: String) {
    w.begin(step).await;
    let (leg, user) = leg_and_user(w, &kind, &user);
    let digits: String = digits.split_whitespace().collect();
    let (ls, listener) = other_party(w, leg.side(), &user);
    let speaker = media_of(&leg, &user);
    let hearer = media_of(w.leg(ls), &listener);
    let (srs0, rrs0) = (hearer.report().sr_received, speaker.report().rr_received);
    speaker.send_digits(&digits).await.unwrap_or_else(|e| panic!("{user} cannot send DTMF: {e}"));
    if let Err(r) = hearer.wait_until(step_deadline(), |r| r.digits.ends_with(&digits) && r.sr_received > srs0).await {
        panic!("{listener} did not receive the digits {digits:?} and an SR: {r:?}");
    }
    if let Err(r) = speaker.wait_until(step_deadline(), |r| r.rr_received > rrs0).await {
        panic!("{user}'s SR was not answered by an RR: {r:?}");
    }
}

#[then(expr = "the {word} user {string} receives the digits {string}")]
async fn then_digits(w: &mut FedWorld, step: &Step, kind: String, user: String, digits: String) {
    w.begin(step).await;
    let (leg, user) = leg_and_user(w, &kind, &user);
    let want: String = digits.split_whitespace().collect();
    let r = media_of(&leg, &user).report();
    assert_eq!(r.digits, want, "{user} received other digits: {r:?}");
    assert!(r.dtmf_violations.is_empty(), "{user}: RFC 4733 violations: {:?}", r.dtmf_violations);
}

#[then("the telephone-event payload type is the same in both directions on each leg")]
async fn then_te_symmetric(w: &mut FedWorld, step: &Step) {
    w.begin(step).await;
    for (s, u) in [w.call.caller.clone(), w.call.callee.clone()].into_iter().flatten() {
        let c = w.leg(s).call_of(&u).unwrap_or_else(|| panic!("{u} has no call"));
        assert!(c.te.0.is_some(), "{u} ({} leg) negotiated no telephone-event", s.label());
        assert_eq!(
            c.te.0,
            c.te.1,
            "{u} ({} leg): telephone-event is {:?} one way and {:?} the other",
            s.label(),
            c.te.0,
            c.te.1
        );
    }
}
