//! Audio calls (flows.md "Audio calls"; PROTOCOL.md §1.6, §1.8, §2, §3; reqs 17–23, 28, 29,
//! 32): the gateway is a back-to-back user agent. Each leg is its own INVITE dialog with its
//! own SDP, media addresses, ICE and keys; only the codecs cross, renumbered, and media crosses
//! the gateway's relay.
//!
//! A call goes through two phases: `Inviting` (the caller's INVITE is pending while the callee
//! leg is invited; a CANCEL finds it here) and `Up` (both dialogs confirmed, the relay runs).
//! Set-up lives in `setup.rs`; this file holds the call table and the in-dialog requests
//! (re-INVITE, BYE, CANCEL). Requests in dialogs the gateway does not know get 481 (req 17).

mod codec;
mod relay;
mod setup;
#[cfg(test)]
mod tests;
mod translate;

use std::collections::{BTreeMap, HashMap};

use codec::{LegPayload, Offered};
use translate::{LegVideo, LocalConsumer, LocalLync, LocalVideo, MediaRefusal, VideoLine, VideoOffer};

use super::reply::reason;
use super::{Defect, Inner, Leg, State};
use crate::sdp::{Direction, MediaKind, Sdp};
use crate::sip::dialog::Dialog;
use crate::sip::txn::TxnId;
use crate::sip::wire::{Message, MessageBuilder, Method};

/// Where a call is.
#[derive(Debug)]
enum Phase {
    /// The caller's INVITE is pending.
    Inviting(Inviting),
    /// Both legs answered: dialogs confirmed, media relayed.
    Up,
}

/// A pending set-up: what a CANCEL needs.
#[derive(Debug)]
struct Inviting {
    /// The top Via branch of the caller's INVITE (a CANCEL carries the same, RFC 3261 §9.1).
    caller_branch: String,
    /// The INVITE last sent on the callee leg (a 415 retry replaces it), once sent.
    callee_invite: Option<Message>,
    /// The caller cancelled: the set-up answers 487 when the callee leg is done.
    cancelled: bool,
}

/// What the gateway keeps of one leg's offer/answer.
#[derive(Debug)]
struct LegSdp {
    /// The dialog, once confirmed (the callee leg has none until its 2xx).
    dialog: Option<Dialog>,
    /// The codec and telephone-event numbers the gateway's last SDP on this leg carried.
    pay: Offered,
    /// `o=` version of the gateway's last SDP on this leg (+1 on every new one).
    version: u64,
    /// The direction the gateway's last SDP on this leg carried.
    ours: Direction,
    /// The direction the peer's last SDP on this leg carried.
    theirs: Direction,
}

/// One call.
#[derive(Debug)]
pub(super) struct Call {
    /// Who called.
    caller: Leg,
    phase: Phase,
    lync: LegSdp,
    consumer: LegSdp,
    lync_local: LocalLync,
    consumer_local: LocalConsumer,
    /// Tag of Lync's usable crypto line in its last SDP (the gateway answers with it).
    crypto_tag: u32,
    /// A re-INVITE is being carried to the other leg: a second one waits its turn (491).
    carrying: bool,
    /// The running relay; dropping it stops media.
    relay: Option<relay::RelayTask>,
    /// The video stream: carried or refused, as the gateway's SDPs say.
    video: Option<VideoLine>,
    /// The running video relay.
    video_relay: Option<relay::RelayTask>,
}

impl Call {
    fn leg(&self, leg: Leg) -> &LegSdp {
        match leg {
            Leg::Enterprise => &self.lync,
            Leg::Consumer => &self.consumer,
        }
    }

    fn leg_mut(&mut self, leg: Leg) -> &mut LegSdp {
        match leg {
            Leg::Enterprise => &mut self.lync,
            Leg::Consumer => &mut self.consumer,
        }
    }

    /// The gateway's next SDP on `leg`: its last one with version + 1 and `direction`.
    fn next_sdp(&mut self, leg: Leg, direction: Direction) -> Sdp {
        let tag = self.crypto_tag;
        let l = self.leg_mut(leg);
        l.version += 1;
        l.ours = direction;
        let (version, pay) = (l.version, l.pay.clone());
        let mut sdp = match leg {
            Leg::Enterprise => translate::lync_sdp(&self.lync_local, version, &pay, tag, direction),
            Leg::Consumer => translate::consumer_sdp(&self.consumer_local, version, &pay, direction),
        };
        if let Some(v) = &self.video {
            let ice = (self.lync_local.ufrag.as_str(), self.lync_local.pwd.as_str());
            sdp.media.extend(v.media(self.lync_local.ip, leg, direction, ice));
        }
        sdp
    }
}

/// The calls of one gateway, found by either leg's Call-ID.
#[derive(Debug, Default)]
pub(super) struct Calls {
    next: u64,
    calls: BTreeMap<u64, Call>,
    /// Both legs' Call-IDs (the legs draw them separately: only leg and Call-ID are unique).
    ids: HashMap<(Leg, String), u64>,
}

impl Calls {
    fn insert(&mut self, call: Call, caller_call_id: String, callee_call_id: String) -> u64 {
        let key = self.next;
        self.next += 1;
        self.ids.insert((call.caller, caller_call_id), key);
        self.ids.insert((call.caller.other(), callee_call_id), key);
        self.calls.insert(key, call);
        key
    }

    fn find(&self, leg: Leg, msg: &Message) -> Option<u64> {
        let call_id = msg.call_id().ok()?;
        self.ids.get(&(leg, call_id)).copied()
    }

    fn get_mut(&mut self, key: u64) -> Option<&mut Call> {
        self.calls.get_mut(&key)
    }

    fn remove(&mut self, key: u64) -> Option<Call> {
        self.ids.retain(|_, k| *k != key);
        self.calls.remove(&key)
    }

    /// Number of calls in progress.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.calls.len()
    }
}

/// Whether a body is an IM session offer (`m=message`): those stay with `im.rs`. A body-less
/// INVITE is an IM one too (Lync's IM INVITE always carries SDP, but the IM path never
/// needed it).
fn is_im_offer(msg: &Message) -> bool {
    let essence = msg.content_type().ok().flatten().map(|m| m.essence);
    match essence.as_deref() {
        None => msg.body().is_empty(),
        Some("application/sdp") => {
            Sdp::parse(msg.body()).is_ok_and(|s| s.media.first().is_some_and(|m| m.kind == MediaKind::Message))
        }
        Some(_) => false,
    }
}

/// Whether a request belongs to the call machinery: a new call INVITE, a CANCEL, or any
/// request in a call's dialog; consumer BYEs too (the consumer leg has no other dialogs, so an
/// unknown one gets 481 here).
pub(super) fn takes(inner: &Inner, leg: Leg, msg: &Message) -> bool {
    let Some(method) = msg.method() else { return false };
    let tagged = msg.to_addr().is_ok_and(|t| t.tag().is_some());
    match method.as_str() {
        "CANCEL" => true,
        "INVITE" if !tagged => leg == Leg::Consumer || !is_im_offer(msg),
        "BYE" if leg == Leg::Consumer => true,
        _ => inner.lock().calls.find(leg, msg).is_some(),
    }
}

/// A request the call machinery took.
pub(super) async fn handle(inner: &Inner, leg: Leg, id: TxnId, req: Message) {
    let tagged = req.to_addr().is_ok_and(|t| t.tag().is_some());
    match (req.method().map(Method::as_str), leg) {
        (Some("INVITE"), Leg::Enterprise) if !tagged => setup::from_lync(inner, id, req).await,
        (Some("INVITE"), Leg::Consumer) if !tagged => setup::from_consumer(inner, id, req).await,
        (Some("INVITE"), _) => reinvite(inner, leg, id, req).await,
        (Some("BYE"), _) => bye(inner, leg, id, req).await,
        (Some("CANCEL"), _) => cancel(inner, leg, id, req).await,
        _ => {
            let code = if inner.lock().calls.find(leg, &req).is_some() { 501 } else { 481 };
            inner.reply_on(leg, id, &req, code, reason(code));
        }
    }
}

/// Refuses an offer whose media cannot be used (PROTOCOL.md §5.3): 488 with 52017 for an
/// encryption mismatch (req 21), 488 with 52063 and a Warning naming the problem otherwise.
fn refuse_media(inner: &Inner, leg: Leg, id: TxnId, req: &Message, refusal: &MediaRefusal) {
    let tag = inner.tag();
    let resp = match refusal {
        MediaRefusal::Encryption => {
            let b = MessageBuilder::response_to(req, 488, "Encryption Levels not compatible", Some(&tag));
            match leg {
                Leg::Enterprise if inner.config.defects.has(Defect::DiagnosticsMissing) => b,
                Leg::Enterprise => b.header("ms-client-diagnostics", "52017;reason=\"Encryption levels dont match\""),
                Leg::Consumer => {
                    b.header("Warning", format!("308 {} \"Encryption Levels not compatible\"", inner.config.fqdn))
                }
            }
        }
        MediaRefusal::Unsupported(detail) => {
            // A quoted-string cannot hold `"` or a line break (RFC 3261 §25.1).
            let detail: String =
                detail.chars().map(|c| if c.is_control() || c == '"' || c == '\\' { ' ' } else { c }).collect();
            let b = MessageBuilder::response_to(req, 488, "Not Acceptable Here", Some(&tag))
                .header("Warning", format!("399 {} \"{detail}\"", inner.config.fqdn));
            match leg {
                Leg::Enterprise => {
                    b.header("ms-client-diagnostics", "52063;reason=\"Unsupported session description\"")
                }
                Leg::Consumer => b,
            }
        }
    };
    inner.endpoint(leg).respond(id, resp.build());
}

/// The direction of an SDP body from `leg` (an offer or an answer in a call), and for Lync the
/// tag of its usable crypto line.
fn read_direction(leg: Leg, msg: &Message) -> Result<(Direction, Option<u32>), MediaRefusal> {
    let ct = msg.value("Content-Type");
    match leg {
        Leg::Enterprise => {
            let m = translate::pick_lync(ct.as_deref(), msg.body()).and_then(|s| translate::read_lync(&s))?;
            Ok((m.direction, Some(m.crypto_tag)))
        }
        Leg::Consumer => translate::read_consumer(ct.as_deref(), msg.body()).map(|m| (m.direction, None)),
    }
}

/// A re-INVITE in a call. One whose direction is what the peer already had (Lync's
/// post-check re-INVITE with `a=remote-candidates`, a session refresh) is answered with the
/// gateway's previous SDP, version + 1, and not carried. A direction change (hold with
/// `a=inactive`, resume with `a=sendrecv`) is carried to the other leg in a re-INVITE of the
/// gateway's own, and answered with the direction the far side answered (req 28). A failed
/// re-INVITE leaves the call as it was (PROTOCOL.md §1.8).
async fn reinvite(inner: &Inner, leg: Leg, id: TxnId, req: Message) {
    let (offered, tag) = match read_direction(leg, &req) {
        Ok(d) => d,
        Err(r) => return refuse_media(inner, leg, id, &req, &r),
    };
    let far = leg.other();
    let mut change = video_change(inner, leg, &req).await;
    let plan = plan_reinvite(inner, &mut inner.lock(), leg, &req, offered, tag, &change);
    let (key, invite) = match plan {
        Plan::Reply(code, why) => return inner.reply_on(leg, id, &req, code, why),
        Plan::Answer(sdp) => return answer_sdp(inner, leg, id, &req, &sdp),
        Plan::Carry(key, invite) => (key, invite),
    };
    let Some(peer) = inner.peer(far) else { return };
    let resp = inner.endpoint(far).request(invite.clone(), peer).await.ok();
    let answered = resp.as_ref().filter(|r| r.status().is_some_and(|c| (200..300).contains(&c)));
    let outcome = answered.map(|r| read_direction(far, r).map(|(d, _)| d));
    let answer = {
        let mut st = inner.lock();
        let State { calls, rng, .. } = &mut *st;
        let Some(call) = calls.get_mut(key) else { return };
        call.carrying = false;
        if let (Some(r), Some(d)) = (answered, call.leg_mut(far).dialog.as_mut()) {
            let cseq = invite.cseq().map(|c| c.seq).unwrap_or(1);
            inner.endpoint(far).send_stateless(d.ack(cseq, &inner.via(far, rng)).build(), peer);
            let _ = d.refresh_target(r);
        }
        if let (VideoChange::Add(v, _, local), Some(r)) = (&change, answered) {
            let ct = r.value("Content-Type");
            call.video = Some(match setup::video_of(far, ct.as_deref(), r.body()) {
                VideoOffer::H264(fv) => {
                    let (l, c) = if leg == Leg::Enterprise { (v, &fv) } else { (&fv, v) };
                    let line = VideoLine::Carried {
                        local: local.clone(),
                        lync_pt: l.pt,
                        consumer_pt: c.pt,
                        crypto_tag: l.crypto.as_ref().map_or(1, |(t, _)| *t),
                    };
                    change = VideoChange::Start(
                        l.clone(),
                        c.clone(),
                        local.clone(),
                        match change {
                            VideoChange::Add(_, sockets, _) => sockets,
                            _ => unreachable!("matched Add above"),
                        },
                    );
                    line
                }
                _ => VideoLine::Refused { leg, formats: vec![v.pt.to_string()] },
            });
        }
        match &outcome {
            Some(Ok(far_dir)) => {
                call.leg_mut(far).theirs = *far_dir;
                call.leg_mut(leg).theirs = offered;
                Some(call.next_sdp(leg, *far_dir))
            }
            _ => None,
        }
    };
    if let VideoChange::Start(l, c, local, sockets) = change {
        let relay = setup::start_video(inner, sockets, &local, &l, &c);
        if let Some(call) = inner.lock().calls.get_mut(key) {
            call.video_relay = Some(relay);
        }
    }
    match (answer, outcome) {
        (Some(sdp), _) => answer_sdp(inner, leg, id, &req, &sdp),
        (None, Some(Err(r))) => refuse_media(inner, leg, id, &req, &r),
        (None, _) => inner.relay_failure(leg, id, &req, resp.as_ref()),
    }
}

/// How a re-INVITE changes the call's video (PROTOCOL.md §1.7: video added or removed later).
enum VideoChange {
    Keep,
    /// The offerer adds H.264 video; the gateway's sockets for it are bound.
    Add(LegVideo, relay::Sockets, LocalVideo),
    /// The far leg accepted the added video: the relay to start (Lync's, the consumer's).
    Start(LegVideo, LegVideo, LocalVideo, relay::Sockets),
    /// The offerer removes video (port 0 or no m-line): port 0 on both legs, relay stopped.
    Remove,
}

/// Reads what a re-INVITE does to the call's video, binding sockets for an added stream.
async fn video_change(inner: &Inner, leg: Leg, req: &Message) -> VideoChange {
    let ct = req.value("Content-Type");
    let offered = setup::video_of(leg, ct.as_deref(), req.body());
    let carried = {
        let mut st = inner.lock();
        let key = st.calls.find(leg, req);
        key.and_then(|k| st.calls.get_mut(k)).is_some_and(|c| matches!(c.video, Some(VideoLine::Carried { .. })))
    };
    match (offered, carried) {
        (VideoOffer::H264(v), false) => match setup::video_locals(inner).await {
            Some((sockets, local)) => VideoChange::Add(v, sockets, local),
            None => VideoChange::Keep,
        },
        (VideoOffer::Absent, true) => VideoChange::Remove,
        _ => VideoChange::Keep,
    }
}

/// What to do with a re-INVITE, decided under the lock.
enum Plan {
    /// Answer with this code and reason phrase.
    Reply(u16, &'static str),
    /// Answer 200 with this SDP; nothing crosses.
    Answer(Sdp),
    /// Send this re-INVITE on the other leg of call `key` first.
    Carry(u64, Message),
}

fn plan_reinvite(
    inner: &Inner,
    st: &mut State,
    leg: Leg,
    req: &Message,
    offered: Direction,
    tag: Option<u32>,
    change: &VideoChange,
) -> Plan {
    let State { calls, rng, .. } = st;
    let Some(key) = calls.find(leg, req) else { return Plan::Reply(481, reason(481)) };
    let Some(call) = calls.get_mut(key) else { return Plan::Reply(481, reason(481)) };
    let checked = match call.leg_mut(leg).dialog.as_mut() {
        Some(d) => d.accepts(req).map_err(|e| e.status_code()).map(|()| {
            let _ = d.refresh_target(req);
        }),
        None => Err(481),
    };
    if let Err(code) = checked {
        return Plan::Reply(code, reason(code));
    }
    if call.carrying || !matches!(call.phase, Phase::Up) {
        return Plan::Reply(491, "Request Pending");
    }
    if let Some(t) = tag {
        call.crypto_tag = t;
    }
    match change {
        VideoChange::Add(v, _, local) => {
            let offerer_is_lync = leg == Leg::Enterprise;
            call.video = Some(VideoLine::Carried {
                local: local.clone(),
                lync_pt: if offerer_is_lync { v.pt } else { translate::LYNC_H264_PT },
                consumer_pt: if offerer_is_lync { translate::CONSUMER_H264_PT } else { v.pt },
                crypto_tag: v.crypto.as_ref().map_or(1, |(t, _)| *t),
            });
        }
        VideoChange::Remove => {
            if let Some(VideoLine::Carried { lync_pt, consumer_pt, .. }) = call.video {
                call.video = Some(VideoLine::Stopped { lync_pt, consumer_pt });
            }
            call.video_relay = None;
        }
        VideoChange::Keep | VideoChange::Start(..) => {}
    }
    let video_changes = !matches!(change, VideoChange::Keep);
    if offered == call.leg(leg).theirs && !video_changes {
        let ours = call.leg(leg).ours;
        return Plan::Answer(call.next_sdp(leg, ours));
    }
    if inner.config.defects.has(Defect::HoldNotRelayed) && !video_changes {
        // Mirrors the offer's direction back without asking the far side.
        call.leg_mut(leg).theirs = offered;
        return Plan::Answer(call.next_sdp(leg, offered));
    }
    let far = leg.other();
    let sdp = call.next_sdp(far, offered);
    let via = inner.via(far, rng);
    let Some(d) = call.leg_mut(far).dialog.as_mut() else { return Plan::Reply(481, reason(481)) };
    let invite =
        d.request(Method::INVITE, &via).header("Contact", inner.contact(far)).body("application/sdp", sdp.to_bytes());
    call.carrying = true;
    Plan::Carry(key, invite.build())
}

/// `200 OK` to an in-dialog INVITE with the gateway's SDP.
fn answer_sdp(inner: &Inner, leg: Leg, id: TxnId, req: &Message, sdp: &Sdp) {
    let resp = MessageBuilder::response_to(req, 200, "OK", None)
        .header("Contact", inner.contact(leg))
        .body("application/sdp", sdp.to_bytes())
        .build();
    inner.endpoint(leg).respond(id, resp);
}

/// Hang-up: the BYE is answered, the call forgotten (its relay stops), and the other leg gets
/// a BYE of its own (req 17).
async fn bye(inner: &Inner, leg: Leg, id: TxnId, req: Message) {
    let far = leg.other();
    let ended = {
        let mut st = inner.lock();
        let State { calls, rng, .. } = &mut *st;
        match calls.find(leg, &req) {
            None => Err(481),
            Some(key) => {
                let checked = calls.get_mut(key).map(|c| match c.leg_mut(leg).dialog.as_mut() {
                    Some(d) => d.accepts(&req).map_err(|e| e.status_code()),
                    None => Err(481),
                });
                match checked {
                    Some(Err(code)) => Err(code),
                    _ => {
                        let via = inner.via(far, rng);
                        let call = calls.remove(key);
                        Ok(call.and_then(|mut c| {
                            c.leg_mut(far).dialog.as_mut().map(|d| d.request(Method::BYE, &via).build())
                        }))
                    }
                }
            }
        }
    };
    let far_bye = match ended {
        Ok(b) => b,
        Err(code) => return inner.reply_on(leg, id, &req, code, reason(code)),
    };
    inner.reply_on(leg, id, &req, 200, reason(200));
    let far_bye = far_bye.filter(|_| !inner.config.defects.has(Defect::ByeNotRelayed));
    if let (Some(bye), Some(peer)) = (far_bye, inner.peer(far)) {
        // Whatever the far side answers, the call is over on the gateway's side.
        let _ = inner.endpoint(far).request(bye, peer).await;
    }
}

/// The caller's CANCEL: answered 200 at once; the callee leg's INVITE is cancelled, and the
/// set-up answers the caller's INVITE 487 when the callee leg's 487 arrives (req 29).
async fn cancel(inner: &Inner, leg: Leg, id: TxnId, req: Message) {
    let branch = req.top_via().ok().and_then(|v| v.branch().map(str::to_owned));
    let found = {
        let mut st = inner.lock();
        let key = st.calls.find(leg, &req);
        key.and_then(|k| st.calls.get_mut(k)).and_then(|call| match &mut call.phase {
            Phase::Inviting(inv) if call.caller == leg && Some(&inv.caller_branch) == branch.as_ref() => {
                inv.cancelled = true;
                Some(inv.callee_invite.clone())
            }
            _ => None,
        })
    };
    let Some(callee_invite) = found else { return inner.reply_on(leg, id, &req, 481, reason(481)) };
    inner.reply_on(leg, id, &req, 200, reason(200));
    if inner.config.defects.has(Defect::CancelWithout487) {
        return;
    }
    if let (Some(invite), Some(peer)) = (callee_invite, inner.peer(leg.other())) {
        let _ = inner.endpoint(leg.other()).request(MessageBuilder::cancel_for(&invite).build(), peer).await;
    }
}

/// The payload numbers both legs use for the chosen codec: telephone-event only when both
/// sides listed it (flows.md: "plus telephone-event when both sides have it").
fn payloads(codec: codec::AudioCodec, lync: &Offered, consumer: &Offered) -> Option<(LegPayload, LegPayload)> {
    let both_te = lync.te.is_some() && consumer.te.is_some();
    let l = LegPayload { codec, pt: lync.pt_of(codec)?, te: lync.te.filter(|_| both_te) };
    let c = LegPayload { codec, pt: consumer.pt_of(codec)?, te: consumer.te.filter(|_| both_te) };
    Some((l, c))
}

/// The one-codec description of a leg's answer.
fn single(pay: LegPayload) -> Offered {
    Offered { codecs: vec![(pay.codec, pay.pt)], te: pay.te }
}
