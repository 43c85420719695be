//! Step definitions. Thin: parse, call one world/agent method, judge.

use cucumber::gherkin::Step;
use cucumber::{given, then, when};

use super::im_steps::im_text;
use super::world::{FedWorld, step_deadline};
use crate::agent::{Address, AgentEvent, Side};

/// An address written in a step.
pub(super) fn addr(s: &str) -> Address {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// The leg of a kind of user (`Lync`, `Skype`).
pub(super) fn side(kind: &str) -> Side {
    match kind {
        "Lync" => Side::Enterprise,
        "Skype" => Side::Consumer,
        other => panic!("unknown kind of user `{other}` (expected Lync or Skype)"),
    }
}

#[given(expr = "the {word} user {string}")]
async fn given_user(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    w.add_user(side(&kind), addr(&user));
}

#[given(expr = "the {word} user {string} sends the IM {string} to {string}")]
#[when(expr = "the {word} user {string} sends the IM {string} to {string}")]
async fn when_sends_im(w: &mut FedWorld, step: &Step, kind: String, from: String, text: String, to: String) {
    w.begin(step).await;
    let (from, to) = (addr(&from), addr(&to));
    let outcome = w.leg(side(&kind)).send_im(&from, &to, &im_text(&text), step_deadline()).await;
    w.last_outcome = Some((from, outcome));
}

#[when(expr = "the {word} user {string} ends the conversation")]
async fn when_ends_conversation(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    let user = addr(&user);
    let ended = tokio::time::timeout(step_deadline(), w.leg(side(&kind)).end_sessions(&user)).await;
    let outcomes = ended.unwrap_or_else(|_| panic!("{user}: BYE got no final response within {:?}", step_deadline()));
    let last = outcomes.into_iter().last().unwrap_or_else(|| panic!("{user} has no open IM session to end"));
    w.last_outcome = Some((user, last));
}

#[then(expr = "the session is closed with {int}")]
async fn then_closed(w: &mut FedWorld, step: &Step, code: u16) {
    w.begin(step).await;
    let o = last(w);
    assert_eq!(o.status, Some(code), "expected the BYE to be answered {code}, got {o}");
}

fn last(w: &FedWorld) -> &crate::agent::Outcome {
    &w.last_outcome.as_ref().unwrap_or_else(|| panic!("no IM was sent before this step")).1
}

#[then("the IM is accepted")]
async fn then_accepted(w: &mut FedWorld, step: &Step) {
    w.begin(step).await;
    let o = last(w);
    assert!(o.status.is_some_and(|c| (200..300).contains(&c)), "expected a 2xx final response, got {o}");
}

#[then(expr = "the IM is refused with {int}")]
async fn then_refused(w: &mut FedWorld, step: &Step, code: u16) {
    w.begin(step).await;
    let o = last(w);
    assert_eq!(o.status, Some(code), "expected final response {code}, got {o}");
}

#[then(expr = "the refusal carries ms-diagnostics {int} with no source in its public copy")]
async fn then_diagnostics(w: &mut FedWorld, step: &Step, code: u32) {
    w.begin(step).await;
    let o = last(w);
    let d = o.diagnostics.as_ref().or(o.public_diagnostics.as_ref());
    assert_eq!(d.map(|d| d.code.as_str()), Some(code.to_string().as_str()), "ms-diagnostics of {o:?}");
    if let Some(p) = &o.public_diagnostics {
        assert!(p.source.is_none(), "ms-diagnostics-public must not carry source= (req 30): {p:?}");
    }
}

#[then(expr = "the {word} user {string} receives the IM {string} from {string}")]
async fn then_receives(w: &mut FedWorld, step: &Step, kind: String, user: String, text: String, from: String) {
    w.begin(step).await;
    let (user, from, text) = (addr(&user), addr(&from), im_text(&text));
    let what = format!("the IM {text:?} from {from}");
    let r = w
        .leg(side(&kind))
        .wait_for(&user, &what, step_deadline(), |e| {
            matches!(e, AgentEvent::ImReceived { from: f, text: t }
                // `f` comes from the gateway: a malformed one simply does not match.
                if t == &text && f.parse::<Address>().is_ok_and(|f| f.comparable().eq_ignore_ascii_case(&from.comparable())))
        })
        .await;
    if let Err(e) = r {
        panic!("{e}");
    }
}

#[then(expr = "the {word} user {string} receives no IM")]
async fn then_receives_nothing(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    let user = addr(&user);
    let got = w.events_where(side(&kind), &user, |e| matches!(e, AgentEvent::ImReceived { .. }));
    assert!(got.is_empty(), "{user} should have received no IM, got {got:?}");
}

#[then("the canonical trace matches its golden")]
async fn then_golden(w: &mut FedWorld, step: &Step) {
    w.begin(step).await;
    for leg in [Side::Enterprise, Side::Consumer] {
        let faults = w.leg(leg).faults();
        assert!(faults.is_empty(), "the gateway sent malformed SIP on the {} leg: {faults:?}", leg.label());
    }
    // The golden covers every step before this one.
    let rendered = w.render(w.steps.len() - 1);
    super::golden::assert_matches(&w.golden_name(), &rendered.text);
}

#[when(expr = "the {word} user {string} sends OPTIONS to the gateway")]
async fn when_ping(w: &mut FedWorld, step: &Step, kind: String, user: String) {
    w.begin(step).await;
    let user = addr(&user);
    let host = super::config().sut.fqdn.clone();
    let o = w.leg(side(&kind)).ping_gateway(&user, &host).await;
    w.last_outcome = Some((user, o));
}

#[when("the system under test is killed")]
async fn when_sut_killed(w: &mut FedWorld, step: &Step) {
    w.begin(step).await;
    w.kill_sut().await.unwrap_or_else(|e| panic!("cannot kill the SUT: {e}"));
}

#[then(expr = "the gateway answers {int}")]
async fn then_answers(w: &mut FedWorld, step: &Step, code: u16) {
    w.begin(step).await;
    let o = &w.last_outcome.as_ref().unwrap_or_else(|| panic!("no request was sent before this step")).1;
    assert_eq!(o.status, Some(code), "expected final response {code}, got {o}");
}
