//! Call set-up in both directions (flows.md "Audio calls"): the caller's INVITE is checked and
//! its media read, the callee leg is invited with the gateway's own SDP, provisional responses
//! are relayed, and the caller is answered only once the callee leg answered (forward, then
//! answer). A failure on the callee leg is relayed with its code, reason phrase and Warnings
//! (the client transaction has ACKed it); a cancelled set-up ends in 487.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::codec::Offered;
use super::relay::{self, ConsumerSide, LyncSide, RelayConfig, Sockets, VideoRelayConfig};
use super::translate::{
    self, ConsumerMedia, KEY_SALT_LEN, LegVideo, LocalConsumer, LocalLync, LocalVideo, LyncMedia, MediaRefusal,
    VideoLine, VideoOffer,
};
use super::{Call, Inviting, LegSdp, Phase, payloads, refuse_media, single};
use crate::gateway::policy::aor;
use crate::gateway::reply::reason;
use crate::gateway::{Defect, Inner, Leg};
use crate::net::{Heard, NetError, token};
use crate::sdp::{Direction, Sdp};
use crate::sip::dialog::Dialog;
use crate::sip::txn::TxnId;
use crate::sip::wire::{Message, MessageBuilder, Method};

/// The caller's side of a set-up: its pending INVITE and the To tag the gateway gives it.
struct Caller<'a> {
    inner: &'a Inner,
    leg: Leg,
    id: TxnId,
    req: &'a Message,
    tag: String,
}

impl Caller<'_> {
    fn reply(&self, code: u16, why: &str) {
        let resp = MessageBuilder::response_to(self.req, code, why, Some(&self.tag)).build();
        self.inner.endpoint(self.leg).respond(self.id, resp);
    }

    /// Relays a callee-leg provisional response (not 100: that one is hop by hop).
    fn provisional(&self, resp: &Message) {
        let Some(code) = resp.status().filter(|c| (101..200).contains(c)) else { return };
        if self.inner.config.defects.has(Defect::RingingNotRelayed) {
            return;
        }
        let why = resp.reason().filter(|r| !r.is_empty()).unwrap_or("Ringing");
        let msg = MessageBuilder::response_to(self.req, code, why, Some(&self.tag))
            .header("Contact", self.inner.contact(self.leg))
            .build();
        self.inner.endpoint(self.leg).respond(self.id, msg);
    }

    /// Ends a set-up that did not get a 2xx: 487 if the caller cancelled, else the callee
    /// leg's failure (480 when it never answered).
    fn fail(&self, key: u64, far: Option<&Message>) {
        if take_cancelled(self.inner, key) {
            self.reply(487, "Request Terminated");
        } else {
            self.inner.relay_failure(self.leg, self.id, self.req, far);
        }
    }
}

/// Forgets a call that did not come up; whether its caller had cancelled.
fn take_cancelled(inner: &Inner, key: u64) -> bool {
    let call = inner.lock().calls.remove(key);
    call.is_some_and(|c| matches!(c.phase, Phase::Inviting(Inviting { cancelled: true, .. })))
}

fn is_cancelled(inner: &Inner, key: u64) -> bool {
    let mut st = inner.lock();
    st.calls.get_mut(key).is_some_and(|c| matches!(c.phase, Phase::Inviting(Inviting { cancelled: true, .. })))
}

/// A fresh SRTP key and salt in `inline:` form (base64 of 30 bytes).
fn fresh_key(rng: &mut fastrand::Rng) -> String {
    let bytes: Vec<u8> = (0..KEY_SALT_LEN).map(|_| rng.u8(..)).collect();
    STANDARD.encode(bytes)
}

/// The gateway's media identity on both legs for a new call.
fn locals(inner: &Inner, sockets: &Sockets) -> (LocalLync, LocalConsumer) {
    let ip = inner.config.ip;
    let mut st = inner.lock();
    let rng = &mut st.rng;
    let lync = LocalLync {
        ip,
        rtp: sockets.lync_rtp.local_addr().port(),
        rtcp: sockets.lync_rtcp.local_addr().port(),
        session_id: rng.u64(1..1 << 40),
        ufrag: token(rng, 4),
        pwd: token(rng, 24),
        key: fresh_key(rng),
        // RFC 3550 §8: an SSRC is random; MS-RTPME §2.2.1: never 0.
        ssrc: rng.u32(1..),
        draft6_user: token(rng, 32),
        draft6_pwd: token(rng, 24),
    };
    let consumer = LocalConsumer {
        ip,
        rtp: sockets.consumer_rtp.local_addr().port(),
        session_id: rng.u64(1..1 << 40),
        ssrc: rng.u32(1..),
    };
    (lync, consumer)
}

/// A new INVITE on `leg` from `from` to `to`, with the gateway's Contact.
fn invite(inner: &Inner, leg: Leg, from: &str, to: &str, call_id: &str, cseq: u32) -> MessageBuilder {
    let mut st = inner.lock();
    let from_tag = token(&mut st.rng, 10);
    MessageBuilder::request(Method::INVITE, to)
        .header("Via", inner.via(leg, &mut st.rng))
        .header("Max-Forwards", 70)
        .header("From", format!("<{from}>;tag={from_tag}"))
        .header("To", format!("<{to}>"))
        .header("Call-ID", call_id)
        .header("CSeq", format!("{cseq} INVITE"))
        .header("Contact", inner.contact(leg))
}

/// Waits for the callee leg's final response, relaying its provisionals to the caller.
async fn ring(caller: &Caller<'_>, invite: Message) -> Result<Message, NetError> {
    let Some(peer) = caller.inner.peer(caller.leg.other()) else { return Err(NetError::Stopped) };
    let mut progress = caller.inner.endpoint(caller.leg.other()).request_with_progress(invite, peer);
    loop {
        match progress.next().await {
            Heard::Provisional(p) => caller.provisional(&p),
            Heard::Final(r) => return r,
        }
    }
}

fn is_2xx(r: &Result<Message, NetError>) -> bool {
    r.as_ref().ok().and_then(Message::status).is_some_and(|c| (200..300).contains(&c))
}

/// ACKs the callee leg's 2xx and returns its dialog; `None` (and a BYE-less failure) when the
/// 2xx does not form one.
fn ack(inner: &Inner, leg: Leg, invite: &Message, resp: &Message) -> Option<Dialog> {
    let dialog = Dialog::uac(invite, resp).ok()?;
    let cseq = invite.cseq().ok()?.seq;
    let via = inner.via(leg, &mut inner.lock().rng);
    let peer = inner.peer(leg)?;
    inner.endpoint(leg).send_stateless(dialog.ack(cseq, &via).build(), peer);
    Some(dialog)
}

/// Hangs up a callee leg the gateway will not use (the caller cancelled, or its answer is
/// unusable).
async fn hang_up(inner: &Inner, leg: Leg, mut dialog: Dialog) {
    let via = inner.via(leg, &mut inner.lock().rng);
    let bye = dialog.request(Method::BYE, &via).build();
    if let Some(peer) = inner.peer(leg) {
        let _ = inner.endpoint(leg).request(bye, peer).await;
    }
}

/// The call's video once both legs answered: what the SDPs say, its relay, and the reason a
/// refused stream goes with (a Warning on the caller's 200).
#[derive(Default)]
struct VideoOutcome {
    line: Option<VideoLine>,
    relay: Option<relay::RelayTask>,
    warning: Option<String>,
}

/// Stores the answered call, starts its relay and answers the caller with `answer`.
#[allow(clippy::too_many_arguments)]
fn bring_up(
    caller: &Caller<'_>,
    key: u64,
    mut caller_dialog: Dialog,
    callee_dialog: Dialog,
    callee_theirs: Direction,
    pays: (Offered, Offered),
    mut answer: crate::sdp::Sdp,
    relay: relay::RelayTask,
    video: VideoOutcome,
) {
    let local = caller.inner.lock().calls.get_mut(key).map(|c| c.lync_local.clone());
    if let (Some(v), Some(local)) = (&video.line, local) {
        answer.media.extend(v.media(local.ip, caller.leg, Direction::SendRecv, (&local.ufrag, &local.pwd)));
    }
    let mut resp = MessageBuilder::response_to(caller.req, 200, "OK", Some(&caller.tag))
        .header("Contact", caller.inner.contact(caller.leg));
    if let Some(w) = &video.warning {
        let w: String = w.chars().map(|c| if c.is_control() || c == '"' || c == '\\' { ' ' } else { c }).collect();
        resp = resp.header("Warning", format!("399 {} \"{w}\"", caller.inner.config.fqdn));
    }
    let resp = resp.body("application/sdp", answer.to_bytes()).build();
    let _ = caller_dialog.confirm(&resp);
    {
        let mut st = caller.inner.lock();
        let Some(call) = st.calls.get_mut(key) else { return };
        let (lync_pay, consumer_pay) = pays;
        call.lync.pay = lync_pay;
        call.consumer.pay = consumer_pay;
        let callee = caller.leg.other();
        call.leg_mut(caller.leg).dialog = Some(caller_dialog);
        call.leg_mut(callee).dialog = Some(callee_dialog);
        call.leg_mut(callee).theirs = callee_theirs;
        call.phase = Phase::Up;
        call.relay = Some(relay);
        call.video = video.line;
        call.video_relay = video.relay;
    }
    caller.inner.endpoint(caller.leg).respond(caller.id, resp);
}

fn relay_config(
    inner: &Inner,
    lync: &LyncMedia,
    ll: &LocalLync,
    consumer: &ConsumerMedia,
    lc: &LocalConsumer,
    pays: (super::LegPayload, super::LegPayload),
) -> RelayConfig {
    RelayConfig {
        lync: LyncSide {
            pay: pays.0,
            local_key: ll.key.clone(),
            remote_key: lync.key.clone(),
            ssrc: ll.ssrc,
            remote_range: lync.ssrc_range,
            ufrag: ll.ufrag.clone(),
            pwd: ll.pwd.clone(),
            remote_ufrag: lync.ufrag.clone(),
            rtp: lync.rtp,
            rtcp: lync.rtcp,
        },
        consumer: ConsumerSide { pay: pays.1, ssrc: lc.ssrc, rtp: consumer.rtp, rtcp: consumer.rtcp },
        cname: format!("gw@{}", inner.config.fqdn),
        defects: inner.config.defects.clone(),
    }
}

fn new_call(
    caller: Leg,
    branch: String,
    callee_invite: Message,
    ll: LocalLync,
    lc: LocalConsumer,
    callee_pay: Offered,
    lync_tag: u32,
) -> Call {
    let leg = |pay| LegSdp { dialog: None, pay, version: 0, ours: Direction::SendRecv, theirs: Direction::SendRecv };
    let (lync_pay, consumer_pay) = match caller {
        Leg::Enterprise => (Offered::default(), callee_pay),
        Leg::Consumer => (callee_pay, Offered::default()),
    };
    Call {
        caller,
        phase: Phase::Inviting(Inviting {
            caller_branch: branch,
            callee_invite: Some(callee_invite),
            cancelled: false,
        }),
        lync: leg(lync_pay),
        consumer: leg(consumer_pay),
        lync_local: ll,
        consumer_local: lc,
        crypto_tag: lync_tag,
        carrying: false,
        relay: None,
        video: None,
        video_relay: None,
    }
}

/// The gateway's video identity for a call, on freshly bound sockets.
pub(super) async fn video_locals(inner: &Inner) -> Option<(Sockets, LocalVideo)> {
    let sockets = Sockets::bind(inner.config.ip).await.ok()?;
    let mut st = inner.lock();
    let rng = &mut st.rng;
    let local = LocalVideo {
        lync_rtp: sockets.lync_rtp.local_addr().port(),
        lync_rtcp: sockets.lync_rtcp.local_addr().port(),
        consumer_rtp: sockets.consumer_rtp.local_addr().port(),
        key: fresh_key(rng),
        lync_ssrc: rng.u32(1..u32::MAX - translate::VIDEO_RANGE),
        consumer_ssrc: rng.u32(1..),
    };
    Some((sockets, local))
}

/// What became of the caller's video once the far side answered: carried when both legs
/// have H.264 and the gateway has sockets for it, otherwise refused toward the caller with the
/// reason (a Warning on the caller's 200).
fn video_outcome(
    inner: &Inner,
    caller: Leg,
    offered: VideoOffer,
    answered: VideoOffer,
    video: Option<(Sockets, LocalVideo)>,
) -> VideoOutcome {
    let refused = |ours: &LegVideo, why: &str| VideoOutcome {
        line: Some(VideoLine::Refused { leg: caller, formats: vec![ours.pt.to_string()] }),
        relay: None,
        warning: Some(why.to_owned()),
    };
    match (offered, video) {
        (VideoOffer::Absent, _) => VideoOutcome::default(),
        (VideoOffer::Declined { reason, formats }, _) => {
            VideoOutcome { line: Some(VideoLine::Refused { leg: caller, formats }), relay: None, warning: Some(reason) }
        }
        (VideoOffer::H264(ours), Some((sockets, local))) => match answered {
            VideoOffer::H264(theirs) => {
                let (l, c) = if matches!(caller, Leg::Enterprise) { (ours, theirs) } else { (theirs, ours) };
                let relay = start_video(inner, sockets, &local, &l, &c);
                VideoOutcome {
                    relay: Some(relay),
                    line: Some(VideoLine::Carried {
                        local,
                        lync_pt: l.pt,
                        consumer_pt: c.pt,
                        crypto_tag: l.crypto.as_ref().map_or(1, |(t, _)| *t),
                    }),
                    warning: None,
                }
            }
            _ if matches!(caller, Leg::Enterprise) => refused(&ours, "video declined: the consumer side refused video"),
            _ => refused(&ours, "video declined: the Lync side refused video"),
        },
        (VideoOffer::H264(ours), None) => refused(&ours, "video declined: no video sockets"),
    }
}

/// Starts the video relay of a carried stream.
pub(super) fn start_video(
    inner: &Inner,
    sockets: Sockets,
    local: &LocalVideo,
    lync: &LegVideo,
    consumer: &LegVideo,
) -> relay::RelayTask {
    let first_seq = {
        let mut st = inner.lock();
        (st.rng.u16(..), st.rng.u16(..))
    };
    relay::start_video(
        sockets,
        VideoRelayConfig {
            lync_pt: lync.pt,
            consumer_pt: consumer.pt,
            local_key: local.key.clone(),
            remote_key: lync.crypto.as_ref().map(|(_, k)| k.clone()).unwrap_or_default(),
            lync_ssrc: local.lync_ssrc,
            consumer_ssrc: local.consumer_ssrc,
            lync_range: lync.ssrc_range,
            lync_rtp: lync.rtp,
            lync_rtcp: lync.rtcp,
            consumer_rtp: consumer.rtp,
            consumer_rtcp: consumer.rtcp,
            first_seq,
            defects: inner.config.defects.clone(),
        },
    )
}

/// The video m-line of a SIP body (a single SDP or the ICE v19 part of a multipart one).
pub(super) fn video_of(leg: Leg, content_type: Option<&str>, body: &[u8]) -> VideoOffer {
    let sdp = match leg {
        Leg::Enterprise => translate::pick_lync(content_type, body).ok(),
        Leg::Consumer => Sdp::parse(body).ok(),
    };
    sdp.map_or(VideoOffer::Absent, |s| translate::read_video(&s, leg))
}

/// Reads the caller leg's dialog, branch and Call-ID, or answers 400.
fn caller_ids(caller: &Caller<'_>) -> Option<(Dialog, String, String)> {
    let dialog = Dialog::uas(caller.req, &caller.tag).ok();
    let branch = caller.req.top_via().ok().and_then(|v| v.branch().map(str::to_owned));
    let call_id = caller.req.call_id().ok();
    match (dialog, branch, call_id) {
        (Some(d), Some(b), Some(c)) => Some((d, b, c)),
        _ => {
            caller.reply(400, "Bad Request: no dialog can be formed (Contact, tags, Via branch)");
            None
        }
    }
}

/// A Lync user calls a Skype user: the ICE v19 offer is read (the draft-6 fallback ignored),
/// the consumer leg gets a plain RTP/AVP offer with the translatable codecs in Lync's order,
/// and Lync gets an ICE-lite answer once the consumer leg answered.
pub(super) async fn from_lync(inner: &Inner, id: TxnId, req: Message) {
    let caller = Caller { inner, leg: Leg::Enterprise, id, req: &req, tag: inner.tag() };
    let Some(from) = req.from_addr().ok().and_then(|f| aor(&f.uri)) else { return caller.reply(400, "Bad From") };
    if !inner.lync_user_enabled(&from) {
        return inner.reply_not_authorized(id, &req);
    }
    let Ok(msa) = inner.config.namespaces.msa_of_lync_uri(req.request_uri().unwrap_or_default()) else {
        return inner.reply_not_found(id, &req);
    };
    let ct = req.value("Content-Type");
    let lync = match translate::pick_lync(ct.as_deref(), req.body()).and_then(|s| translate::read_lync(&s)) {
        Ok(m) if m.offered.codecs.is_empty() => {
            let why = MediaRefusal::Unsupported("no codec the consumer side can take (SILK, G722, PCMU, PCMA)".into());
            return refuse_media(inner, Leg::Enterprise, id, &req, &why);
        }
        Ok(m) => m,
        Err(r) => return refuse_media(inner, Leg::Enterprise, id, &req, &r),
    };
    let Some((lync_dialog, branch, call_id)) = caller_ids(&caller) else { return };
    let Ok(sockets) = Sockets::bind(inner.config.ip).await else { return caller.reply(500, reason(500)) };
    let (mut ll, lc) = locals(inner, &sockets);
    if inner.config.defects.has(Defect::SrtpKeyReused) {
        ll.key = lync.key.clone();
    }
    let offer = lync.offered.renumbered(Leg::Consumer);
    // Video (req 25, 26): H.264 UC crosses as plain H.264; anything else is refused toward Lync.
    let lync_video = video_of(Leg::Enterprise, ct.as_deref(), req.body());
    let video = match &lync_video {
        VideoOffer::H264(_) => video_locals(inner).await,
        _ => None,
    };
    let mut consumer_offer = translate::consumer_sdp(&lc, 0, &offer, Direction::SendRecv);
    if let (Some((_, local)), VideoOffer::H264(v)) = (&video, &lync_video) {
        let line = VideoLine::Carried {
            local: local.clone(),
            lync_pt: v.pt,
            consumer_pt: translate::CONSUMER_H264_PT,
            crypto_tag: v.crypto.as_ref().map_or(1, |(t, _)| *t),
        };
        consumer_offer.media.extend(line.media(lc.ip, Leg::Consumer, Direction::SendRecv, ("", "")));
    }
    let consumer_call_id = token(&mut inner.lock().rng, 24);
    let msg = invite(inner, Leg::Consumer, &format!("sip:{from}"), &msa.consumer_uri(), &consumer_call_id, 1)
        .body("application/sdp", consumer_offer.to_bytes())
        .build();
    // Registered before the INVITE leaves, so a CANCEL finds it from now on.
    let call = new_call(Leg::Enterprise, branch, msg.clone(), ll.clone(), lc.clone(), offer.clone(), lync.crypto_tag);
    let key = inner.lock().calls.insert(call, call_id, consumer_call_id);
    let result = ring(&caller, msg.clone()).await;
    if !is_2xx(&result) {
        return caller.fail(key, result.as_ref().ok());
    }
    let Ok(resp) = result else { return };
    let Some(dialog) = ack(inner, Leg::Consumer, &msg, &resp) else {
        return caller.fail(key, None);
    };
    if is_cancelled(inner, key) {
        take_cancelled(inner, key);
        hang_up(inner, Leg::Consumer, dialog).await;
        return caller.reply(487, "Request Terminated");
    }
    let ct = resp.value("Content-Type");
    let answered = translate::read_consumer(ct.as_deref(), resp.body()).and_then(|c| {
        let none = || MediaRefusal::Unsupported("the consumer side chose no codec the gateway offered".into());
        let codec = offer.chosen_by(&c.offered).ok_or_else(none)?;
        let pays = payloads(codec, &lync.offered, &c.offered).ok_or_else(none)?;
        Ok((c, pays))
    });
    let (consumer, pays) = match answered {
        Ok(a) => a,
        Err(r) => {
            inner.lock().calls.remove(key);
            hang_up(inner, Leg::Consumer, dialog).await;
            return refuse_media(inner, Leg::Enterprise, id, &req, &r);
        }
    };
    let answer = translate::lync_sdp(&ll, 0, &single(pays.0), lync.crypto_tag, Direction::SendRecv);
    let relay = relay::start(sockets, relay_config(inner, &lync, &ll, &consumer, &lc, pays));
    let theirs = consumer.direction;
    let consumer_video = video_of(Leg::Consumer, ct.as_deref(), resp.body());
    let video = video_outcome(inner, Leg::Enterprise, lync_video, consumer_video, video);
    let pays = (single(pays.0), single(pays.1));
    bring_up(&caller, key, lync_dialog, dialog, theirs, pays, answer, relay, video);
}

/// A Skype user calls a Lync user: the consumer offer is read, Lync gets the two-part
/// multipart offer (draft-6 fallback + ICE v19, ICE-lite candidates, `a=crypto:1`), once more
/// with the v19 SDP alone after a 415 (req 18), and the consumer side gets an RTP/AVP answer in
/// its own numbers once Lync answered.
pub(super) async fn from_consumer(inner: &Inner, id: TxnId, req: Message) {
    let caller = Caller { inner, leg: Leg::Consumer, id, req: &req, tag: inner.tag() };
    if let Some(refusal) = inner.consumer_refusal(&req) {
        return inner.reply_consumer_refusal(id, &req, refusal);
    }
    let Some(msa) = req.from_addr().ok().and_then(|f| inner.config.namespaces.msa_of_consumer_uri(&f.uri)) else {
        return caller.reply(400, "Bad From");
    };
    let Some(lync_user) = req.request_uri().and_then(aor) else { return caller.reply(400, "Bad Request-URI") };
    let ct = req.value("Content-Type");
    let consumer = match translate::read_consumer(ct.as_deref(), req.body()) {
        Ok(m) if m.offered.codecs.is_empty() => {
            let why = MediaRefusal::Unsupported("no codec the Lync side can take (SILK, G722, PCMU, PCMA)".into());
            return refuse_media(inner, Leg::Consumer, id, &req, &why);
        }
        Ok(m) => m,
        Err(r) => return refuse_media(inner, Leg::Consumer, id, &req, &r),
    };
    let Some((consumer_dialog, branch, call_id)) = caller_ids(&caller) else { return };
    let Ok(sockets) = Sockets::bind(inner.config.ip).await else { return caller.reply(500, reason(500)) };
    let (ll, lc) = locals(inner, &sockets);
    let offer = consumer.offered.renumbered(Leg::Enterprise);
    let (lync_call_id, boundary, ids, conversation) = {
        let mut st = inner.lock();
        let r = &mut st.rng;
        let host = &inner.config.fqdn;
        (
            token(r, 24),
            token(r, 16),
            [format!("{}@{host}", token(r, 12)), format!("{}@{host}", token(r, 12))],
            token(r, 32),
        )
    };
    let consumer_video = video_of(Leg::Consumer, ct.as_deref(), req.body());
    let video = match &consumer_video {
        VideoOffer::H264(_) => video_locals(inner).await,
        _ => None,
    };
    let video_offer = video.as_ref().map(|(_, local)| {
        let line = VideoLine::Carried {
            local: local.clone(),
            lync_pt: translate::LYNC_H264_PT,
            consumer_pt: translate::CONSUMER_H264_PT,
            crypto_tag: 1,
        };
        line.media(ll.ip, Leg::Enterprise, Direction::SendRecv, (&ll.ufrag, &ll.pwd))
    });
    let (body, v19) = translate::lync_offer(&ll, &offer, video_offer.flatten(), &boundary, ids);
    let from = inner.present(&msa);
    let to = format!("sip:{lync_user}");
    let first = invite(inner, Leg::Enterprise, &from, &to, &lync_call_id, 1)
        .header("Ms-Conversation-ID", &conversation)
        .body(&body.content_type, body.bytes)
        .build();
    let call = new_call(Leg::Consumer, branch, first.clone(), ll.clone(), lc.clone(), offer.clone(), 1);
    let key = inner.lock().calls.insert(call, call_id, lync_call_id.clone());
    let mut sent = first;
    let mut result = ring(&caller, sent.clone()).await;
    let retry = !inner.config.defects.has(Defect::No415Retry);
    if retry && result.as_ref().ok().and_then(Message::status) == Some(415) && !is_cancelled(inner, key) {
        // The pool refuses multipart (MS-SIPRE §3.15.5.2): once more with the v19 SDP alone,
        // in the same dialog-to-be (same From tag and Call-ID), CSeq + 1.
        let from_header = sent.value("From").map(|f| f.into_owned()).unwrap_or_default();
        let via = inner.via(Leg::Enterprise, &mut inner.lock().rng);
        sent = MessageBuilder::request(Method::INVITE, &to)
            .header("Via", via)
            .header("Max-Forwards", 70)
            .header("From", from_header)
            .header("To", format!("<{to}>"))
            .header("Call-ID", &lync_call_id)
            .header("CSeq", "2 INVITE")
            .header("Contact", inner.contact(Leg::Enterprise))
            .header("Ms-Conversation-ID", &conversation)
            .body("application/sdp", v19.to_bytes())
            .build();
        if let Some(Phase::Inviting(inv)) = inner.lock().calls.get_mut(key).map(|c| &mut c.phase) {
            inv.callee_invite = Some(sent.clone());
        }
        result = ring(&caller, sent.clone()).await;
    }
    if !is_2xx(&result) {
        return caller.fail(key, result.as_ref().ok());
    }
    let Ok(resp) = result else { return };
    let Some(dialog) = ack(inner, Leg::Enterprise, &sent, &resp) else {
        return caller.fail(key, None);
    };
    if is_cancelled(inner, key) {
        take_cancelled(inner, key);
        hang_up(inner, Leg::Enterprise, dialog).await;
        return caller.reply(487, "Request Terminated");
    }
    let ct = resp.value("Content-Type");
    let answered =
        translate::pick_lync(ct.as_deref(), resp.body()).and_then(|s| translate::read_lync(&s)).and_then(|l| {
            let none = || MediaRefusal::Unsupported("the Lync side chose no codec the gateway offered".into());
            let codec = offer.chosen_by(&l.offered).ok_or_else(none)?;
            let pays = payloads(codec, &l.offered, &consumer.offered).ok_or_else(none)?;
            Ok((l, pays))
        });
    let (lync, pays) = match answered {
        Ok(a) => a,
        Err(r) => {
            inner.lock().calls.remove(key);
            hang_up(inner, Leg::Enterprise, dialog).await;
            return refuse_media(inner, Leg::Consumer, id, &req, &r);
        }
    };
    if let Some(call) = inner.lock().calls.get_mut(key) {
        call.crypto_tag = lync.crypto_tag;
    }
    let answer = translate::consumer_sdp(&lc, 0, &single(pays.1), Direction::SendRecv);
    let relay = relay::start(sockets, relay_config(inner, &lync, &ll, &consumer, &lc, pays));
    let theirs = lync.direction;
    let lync_video = video_of(Leg::Enterprise, ct.as_deref(), resp.body());
    let video = video_outcome(inner, Leg::Consumer, consumer_video, lync_video, video);
    let pays = (single(pays.0), single(pays.1));
    bring_up(&caller, key, consumer_dialog, dialog, theirs, pays, answer, relay, video);
}
