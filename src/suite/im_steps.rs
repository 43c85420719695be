//! IM steps beyond the first message: formats, typing, content, errors, transcripts and long
//! conversations (`features/im.feature`).

use cucumber::gherkin::Step;
use cucumber::{given, then, when};

use super::steps::{addr, side};
use super::world::{Exchange, FedWorld, step_deadline};
use crate::agent::{Address, AgentEvent, Side};
use crate::dialect::im::{ImFormat, Typing};
use crate::net::{Transport, UDP_REQUEST_LIMIT};
use crate::trace::canonical;

/// The text of an IM as a step writes it: `\r`, `\n`, `\t`, `\\`, `\"` and `\u{…}` stand for the
/// characters a feature file cannot show plainly (line breaks, combining marks).
pub(super) fn im_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            // A quoted step parameter keeps its `\"` as written.
            Some('"') => out.push('"'),
            Some('u') => {
                let rest: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let hex =
                    rest.strip_prefix('{').unwrap_or_else(|| panic!("`\\u` must be written `\\u{{hex}}` in {s:?}"));
                let ch = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
                out.push(ch.unwrap_or_else(|| panic!("`\\u{{{hex}}}` is not a character in {s:?}")));
            }
            other => {
                panic!("unknown escape `\\{}` in {s:?} (use \\r \\n \\t \\\\ \\\" \\u{{…}})", other.unwrap_or(' '))
            }
        }
    }
    out
}

/// A text of `n` bytes that shows where a cut or a reordering happened: numbered 16-byte
/// blocks, the last one filled with `.`.
fn long_text(n: usize) -> String {
    let mut s = String::with_capacity(n + 16);
    let mut i = 0;
    while s.len() < n {
        s.push_str(&format!("[block {i:05}...]"));
        i += 1;
    }
    s.truncate(n);
    s
}

/// A body of a type no IM side renders, as a client would send it.
fn sample_body(content_type: &str) -> Vec<u8> {
    match content_type {
        // An ISF (Ink Serialized Format) header and a few stroke bytes.
        "application/x-ms-ink" => b"base64:AOgCHQSIAYgBBBAQRBJkAAsBA==".to_vec(),
        // The smallest GIF: header, 1x1 screen, no image data.
        "image/gif" => b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(),
        other => panic!("no sample body for `{other}` (application/x-ms-ink, image/gif)"),
    }
}

#[given(expr = "the Lync pool's IM filter blocks messages containing {string}")]
async fn given_filter(w: &mut FedWorld, step: &Step, pattern: String) {
    w.begin(step).await;
    w.leg(Side::Enterprise).block_im_containing(&pattern);
}

#[when(expr = "the {word} user {string} sends the IM {string} to {string} as {word}")]
async fn when_sends_as(
    w: &mut FedWorld,
    step: &Step,
    kind: String,
    from: String,
    text: String,
    to: String,
    fmt: String,
) {
    w.begin(step).await;
    let format: ImFormat = fmt.parse().unwrap_or_else(|e| panic!("{e}"));
    let (from, to) = (addr(&from), addr(&to));
    let outcome = w.leg(side(&kind)).send_im_as(&from, &to, &im_text(&text), format, step_deadline()).await;
    w.last_outcome = Some((from, outcome));
}

#[when(expr = "the {word} user {string} sends an IM of {int} bytes to {string}")]
async fn when_sends_long(w: &mut FedWorld, step: &Step, kind: String, from: String, n: usize, to: String) {
    w.begin(step).await;
    let (from, to) = (addr(&from), addr(&to));
    let text = long_text(n);
    let outcome = w.leg(side(&kind)).send_im(&from, &to, &text, step_deadline()).await;
    w.last_text = Some(text);
    w.last_outcome = Some((from, outcome));
}

#[then(expr = "the {word} user {string} receives that IM from {string}")]
async fn then_receives_that(w: &mut FedWorld, step: &Step, kind: String, user: String, from: String) {
    w.begin(step).await;
    let text = w.last_text.clone().unwrap_or_else(|| panic!("no generated IM was sent before this step"));
    let (user, from) = (addr(&user), addr(&from));
    let what = format!("the {}-byte IM from {from}", text.len());
    let r = w
        .leg(side(&kind))
        .wait_for(
            &user,
            &what,
            step_deadline(),
            |e| matches!(e, AgentEvent::ImReceived { from: f, text: t } if t == &text && same(f, &from)),
        )
        .await;
    if let Err(e) = r {
        let got: Vec<usize> = w
            .events_where(side(&kind), &user, |e| matches!(e, AgentEvent::ImReceived { .. }))
            .iter()
            .map(|e| match e {
                AgentEvent::ImReceived { text, .. } => text.len(),
                _ => 0,
            })
            .collect();
        panic!("{} (received IMs of {got:?} bytes instead)", e.what);
    }
}

#[then("the consumer leg carried that IM over TCP")]
async fn then_over_tcp(w: &mut FedWorld, step: &Step) {
    w.begin(step).await;
    let text = w.last_text.clone().unwrap_or_else(|| panic!("no generated IM was sent before this step"));
    let run = w.run();
    let (seen, _) = canonical::messages(&run.tap.events(), &run.cast);
    let carriers: Vec<&canonical::Seen> = seen
        .iter()
        .filter(|s| s.leg == "consumer" && s.msg.method().is_some_and(|m| m.as_str() == "MESSAGE"))
        .filter(|s| s.msg.body() == text.as_bytes())
        .collect();
    assert!(!carriers.is_empty(), "no consumer-leg MESSAGE carried the {}-byte IM", text.len());
    for s in carriers {
        assert!(
            s.msg.as_bytes().len() <= UDP_REQUEST_LIMIT || s.transport == Transport::Tcp,
            "a {}-byte MESSAGE crossed the consumer leg over {:?} (RFC 3261 §18.1.1 requires TCP above {UDP_REQUEST_LIMIT} bytes)",
            s.msg.as_bytes().len(),
            s.transport
        );
    }
}

#[when(expr = "the {word} user {string} sends {string} content to {string}")]
async fn when_sends_content(w: &mut FedWorld, step: &Step, kind: String, from: String, ct: String, to: String) {
    w.begin(step).await;
    let (from, to) = (addr(&from), addr(&to));
    let outcome = w.leg(side(&kind)).send_content(&from, &to, &ct, sample_body(&ct)).await;
    w.last_outcome = Some((from, outcome));
}

#[when(expr = "the {word} user {string} {word} typing to {string}")]
async fn when_typing(w: &mut FedWorld, step: &Step, kind: String, from: String, verb: String, to: String) {
    w.begin(step).await;
    let t = match verb.as_str() {
        "starts" => Typing::Active,
        "stops" => Typing::Idle,
        other => panic!("`{other} typing`: expected `starts typing` or `stops typing`"),
    };
    let (from, to) = (addr(&from), addr(&to));
    let outcome = w.leg(side(&kind)).send_typing(&from, &to, t).await;
    w.last_outcome = Some((from, outcome));
}

#[then(expr = "the {word} user {string} sees {string} {word}")]
async fn then_sees_typing(w: &mut FedWorld, step: &Step, kind: String, user: String, who: String, state: String) {
    w.begin(step).await;
    let active = match state.as_str() {
        "typing" => true,
        "idle" => false,
        other => panic!("`sees \"…\" {other}`: expected typing or idle"),
    };
    let (user, who) = (addr(&user), addr(&who));
    let leg = w.leg(side(&kind)).clone();
    // The latest indication from `who` is what the client shows.
    let latest = || {
        leg.events_of(&user).into_iter().rev().find_map(|e| match e {
            AgentEvent::Typing { from, active } if same(&from, &who) => Some(active),
            _ => None,
        })
    };
    let r =
        leg.wait_until(&user, &format!("{who} {state}"), step_deadline(), || latest().filter(|a| *a == active)).await;
    if let Err(e) = r {
        panic!("{e}");
    }
}

#[then(expr = "the {word} user {string} sees no typing from {string}")]
async fn then_no_typing(w: &mut FedWorld, step: &Step, kind: String, user: String, who: String) {
    w.begin(step).await;
    let (user, who) = (addr(&user), addr(&who));
    let got = w.events_where(side(&kind), &user, |e| matches!(e, AgentEvent::Typing { from, .. } if same(from, &who)));
    assert!(got.is_empty(), "{user} should have seen no typing from {who}, got {got:?}");
}

#[when(expr = "the Lync user {string} sends the IM {string} to {string} in a dialog the gateway does not know")]
async fn when_stale_dialog(w: &mut FedWorld, step: &Step, from: String, text: String, to: String) {
    w.begin(step).await;
    let (from, to) = (addr(&from), addr(&to));
    let outcome = w.leg(Side::Enterprise).send_in_unknown_dialog(&from, &to, &im_text(&text)).await;
    w.last_outcome = Some((from, outcome));
}

#[when(expr = "the Lync user {string} restarts the client")]
async fn when_restarts(w: &mut FedWorld, step: &Step, user: String) {
    w.begin(step).await;
    w.leg(Side::Enterprise).forget_sessions(&addr(&user));
}

#[then(expr = "the refusal carries Warning {int}")]
async fn then_warning(w: &mut FedWorld, step: &Step, code: u16) {
    w.begin(step).await;
    let o = w.last();
    let warnings: Vec<String> =
        o.response.iter().flat_map(|r| r.values("Warning").map(|v| v.into_owned()).collect::<Vec<_>>()).collect();
    let codes: Vec<&str> = warnings.iter().filter_map(|w| w.split_whitespace().next()).collect();
    assert!(codes.contains(&code.to_string().as_str()), "expected a Warning {code} on the refusal, got {warnings:?}");
}

#[then(expr = "the {word} user {string} sees the conversation with {string} ended")]
async fn then_ended(w: &mut FedWorld, step: &Step, kind: String, user: String, with: String) {
    w.begin(step).await;
    let (user, with) = (addr(&user), addr(&with));
    let r = w
        .leg(side(&kind))
        .wait_for(
            &user,
            &format!("the conversation with {with} end"),
            step_deadline(),
            |e| matches!(e, AgentEvent::SessionEnded { with: x } if same(x, &with)),
        )
        .await;
    if let Err(e) = r {
        panic!("{e}");
    }
}

/// The docstring lists the conversation oldest first, one IM a line, `Lync: …` or
/// `Skype: …` for who wrote it (escapes as in [`im_text`]; `Lync:` alone is an empty IM).
#[then(
    expr = "the Lync transcript of {string} with {string} and the Skype transcript of {string} with {string} both read:"
)]
async fn then_transcripts(
    w: &mut FedWorld,
    step: &Step,
    lync: String,
    lync_peer: String,
    skype: String,
    skype_peer: String,
) {
    w.begin(step).await;
    let doc =
        step.docstring.as_deref().unwrap_or_else(|| panic!("this step needs a docstring of `Lync:` / `Skype:` lines"));
    let ims: Vec<(bool, String)> = doc
        .lines()
        .map(|l| l.trim_start())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (who, text) =
                l.split_once(':').unwrap_or_else(|| panic!("transcript line `{l}` is not `Lync: …` or `Skype: …`"));
            let text = im_text(text.strip_prefix(' ').unwrap_or(text));
            match who {
                "Lync" => (true, text),
                "Skype" => (false, text),
                _ => panic!("transcript line `{l}` is not `Lync: …` or `Skype: …`"),
            }
        })
        .collect();
    let ex = Exchange { lync: (addr(&lync), addr(&lync_peer)), skype: (addr(&skype), addr(&skype_peer)), ims };
    check_transcripts(w, &ex);
}

/// Both users' transcripts hold exactly `ex.ims`, in order, each from its own point of view.
fn check_transcripts(w: &FedWorld, ex: &Exchange) {
    let lync = w.leg(Side::Enterprise).history(&ex.lync.0, &ex.lync.1);
    let skype = w.leg(Side::Consumer).history(&ex.skype.0, &ex.skype.1);
    let skype_expected: Vec<(bool, String)> = ex.ims.iter().map(|(by_lync, t)| (!by_lync, t.clone())).collect();
    for (who, got, want) in [(&ex.lync.0, &lync, &ex.ims), (&ex.skype.0, &skype, &skype_expected)] {
        if got == want {
            continue;
        }
        let first = got.iter().zip(want.iter()).position(|(g, e)| g != e).unwrap_or(got.len().min(want.len()));
        panic!(
            "the transcript of {who} differs from the conversation (true = sent by {who}): {} IMs, expected {}; first difference at IM {}: got {:?}, expected {:?}",
            got.len(),
            want.len(),
            first + 1,
            got.get(first),
            want.get(first)
        );
    }
}

#[when(
    expr = "the Lync user {string} writing to {string} and the Skype user {string} writing to {string} exchange {int} alternating IMs"
)]
async fn when_exchange(
    w: &mut FedWorld,
    step: &Step,
    lync: String,
    lync_peer: String,
    skype: String,
    skype_peer: String,
    n: usize,
) {
    w.begin(step).await;
    let mut ex =
        Exchange { lync: (addr(&lync), addr(&lync_peer)), skype: (addr(&skype), addr(&skype_peer)), ims: Vec::new() };
    for i in 0..n {
        let by_lync = i % 2 == 0;
        let text = format!("IM {:03} from {}", i + 1, if by_lync { "Lync" } else { "Skype" });
        let (leg, (from, to)) =
            if by_lync { (w.leg(Side::Enterprise), &ex.lync) } else { (w.leg(Side::Consumer), &ex.skype) };
        let o = leg.send_im(from, to, &text, step_deadline()).await;
        assert!(o.is_success(), "IM {} of {n} ({text:?}) was not accepted: {o}", i + 1);
        ex.ims.push((by_lync, text));
        // Each IM comes to rest (ACKs in, queues tapped) before the next, as at a step
        // boundary, so the trace order is the conversation's and not the scheduler's.
        let (a, b) = tokio::join!(
            w.leg(Side::Enterprise).settle(step_deadline()),
            w.leg(Side::Consumer).settle(step_deadline())
        );
        if let Err(e) = a.and(b) {
            panic!("after IM {} of {n}: {e}", i + 1);
        }
    }
    w.exchange = Some(ex);
}

#[then("both transcripts hold the exchanged IMs in order")]
async fn then_exchange_transcripts(w: &mut FedWorld, step: &Step) {
    w.begin(step).await;
    let ex = w.exchange.clone().unwrap_or_else(|| panic!("no IMs were exchanged before this step"));
    // The last IM's delivery may still be on its way to the receiver's agent.
    let (last_by_lync, last) = ex.ims.last().cloned().unwrap_or_default();
    let (leg, (user, from)) =
        if last_by_lync { (w.leg(Side::Consumer), &ex.skype) } else { (w.leg(Side::Enterprise), &ex.lync) };
    let r = leg
        .wait_for(
            user,
            &format!("the IM {last:?}"),
            step_deadline(),
            |e| matches!(e, AgentEvent::ImReceived { from: f, text } if *text == last && same(f, from)),
        )
        .await;
    if let Err(e) = r {
        panic!("{e}");
    }
    check_transcripts(w, &ex);
}

#[then(expr = "the {word} leg carried {int} {word} request(s), each answered {int}")]
async fn then_counts(w: &mut FedWorld, step: &Step, leg: String, n: usize, method: String, code: u16) {
    w.begin(step).await;
    let run = w.run();
    let (seen, _) = canonical::messages(&run.tap.events(), &run.cast);
    // Retransmissions repeat bytes; each message counts once.
    let mut distinct = std::collections::BTreeSet::new();
    let (mut requests, mut answers) = (0, 0);
    for s in seen.iter().filter(|s| s.leg == leg) {
        if !distinct.insert((s.sent, s.msg.as_bytes().to_vec())) {
            continue;
        }
        let is_method = |m: &str| m.eq_ignore_ascii_case(&method);
        match (s.msg.method(), s.msg.status(), s.msg.cseq()) {
            (Some(m), _, _) if is_method(m.as_str()) => requests += 1,
            (None, Some(c), Ok(cseq)) if c == code && is_method(cseq.method.as_str()) => answers += 1,
            _ => {}
        }
    }
    assert_eq!((requests, answers), (n, n), "{leg} leg: (requests, {code} answers) for {method}");
}

/// An address as presented (from the wire) names `who`, with %-escapes undone.
fn same(presented: &str, who: &Address) -> bool {
    presented.parse::<Address>().is_ok_and(|a| a.comparable().eq_ignore_ascii_case(&who.comparable()))
}
