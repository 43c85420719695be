//! Audio calls as the simulated users live them (`scenarios/dialects/flows.md`, "Audio calls";
//! PROTOCOL.md §1.6, §1.8, §2, §9.2). The Lync client offers the two-part multipart SDP, checks
//! the gateway's candidates as the controlling ICE agent and then sends the post-check
//! re-INVITE; the Skype cloud offers one plain RTP/AVP SDP. Either side rings, answers,
//! declines, gives up after its profile's ring timeout, is busy, cancels, holds and hangs up.
//! Packets are `agent::media`'s business; this file is signalling only.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::identity::{Address, Side};
use super::media::{
    IceParams, MediaConfig, MediaEndpoint, MediaHandle, SendCodec, SrtpKeys, VideoHandle, VideoLegConfig,
};
use super::presence::key;
use super::side::{AgentEvent, Inner, Outcome, SimSide};
use crate::dialect::call::{self, LocalAudio, LocalVideo, ProfileCodec, RemoteAudio, RemoteVideo};
use crate::dialect::skype::SkypeState;
use crate::dialect::{lync, skype};
use crate::media::srtp::MasterKey;
use crate::media::stun::{IcePassword, IceUfrag};
use crate::net::{Heard, token};
use crate::sdp::alternative;
use crate::sdp::{CryptoSuite, Direction, Media, Sdp};
use crate::sip::dialog::Dialog;
use crate::sip::txn::TxnId;
use crate::sip::wire::{Message, MessageBuilder, Method};

/// How long a caller waits for the INVITE's final response (RFC 3261 Timer B is 64·T1; a
/// ringing call is bounded by the callee's ring timeout, far below it).
const INVITE_DEADLINE: Duration = Duration::from_secs(32);

/// What a user's client does with calls, as a scenario sets it up.
#[derive(Debug, Clone, Default)]
pub(super) struct Habits {
    /// In a call that does not cross the gateway: a new call gets 486.
    busy: bool,
    /// Lets calls ring until the profile's ring timeout (480).
    no_answer: bool,
    /// A Lync device without media encryption: it offers RTP/AVP with
    /// `a=encryption:rejected` and refuses encrypted offers with 488/52017.
    no_srtp: bool,
    /// The m-line this user offers and accepts instead of the profile's.
    codecs: Option<Vec<ProfileCodec>>,
    /// What video the user's next call offers.
    video: VideoHabit,
}

/// What video a user's call offers (PROTOCOL.md §1.7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VideoHabit {
    /// Audio only.
    #[default]
    None,
    /// The profile's video m-line (Lync 2013: X-H264UC, x-rtvc1, x-ulpfecuc; Skype: H264).
    Offer,
    /// A Lync 2010 client: RTVideo (`x-rtvc1/90000`) only.
    Rtvc1Only,
}

/// Frames per second the simulated clients send video at.
pub const VIDEO_FPS: u32 = 30;

/// One call's video stream.
#[derive(Debug)]
struct AgentVideo {
    local: LocalVideo,
    endpoint: Option<MediaEndpoint>,
    handle: Option<VideoHandle>,
    remote: Option<RemoteVideo>,
    /// The key we send with and the far side's crypto tag we answer with (Lync side).
    our_key: Option<MasterKey>,
    crypto_tag: Option<u32>,
}

/// Where a call is, as its user sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallPhase {
    /// The caller's INVITE is out, no ringback yet.
    Calling,
    /// Ringing (ringback on the caller's side, the bell on the callee's).
    Ringing,
    /// Answered, waiting for the ACK (callee) or for ICE and the post-check re-INVITE (Lync).
    Connecting,
    /// Media flows.
    Up,
    /// Over.
    Ended,
}

/// One call of one user.
#[derive(Debug)]
struct AgentCall {
    /// Creation order: a user's current call is the newest.
    order: u64,
    local: Address,
    /// The far party as addressed or presented.
    remote: String,
    caller: bool,
    phase: CallPhase,
    /// The INVITE that set it up (ours as caller, the gateway's as callee).
    invite: Message,
    /// Callee: the INVITE's server transaction, until answered.
    pending: Option<TxnId>,
    /// Callee: our To tag.
    tag: String,
    dialog: Option<Dialog>,
    /// Our description; `keys` holds every key we offered.
    audio: LocalAudio,
    /// Our codecs in our last SDP, with that SDP's numbers.
    codecs: Vec<ProfileCodec>,
    /// The key we send with (the one whose crypto line the far side chose) and the far
    /// side's crypto tag we answer with.
    our_key: Option<MasterKey>,
    crypto_tag: Option<u32>,
    /// The far side's description.
    remote_audio: Option<RemoteAudio>,
    /// telephone-event numbers: ours, the far side's.
    te: (Option<u8>, Option<u8>),
    endpoint: Option<MediaEndpoint>,
    media: Option<MediaHandle>,
    /// The stream is held (`a=inactive`), by either side.
    held: bool,
    /// Seeds the call's synthetic audio and STUN transaction ids.
    seed: u64,
    /// The video stream, when one was offered.
    video: Option<AgentVideo>,
}

/// Call state of one leg.
#[derive(Debug, Default)]
pub(super) struct CallState {
    /// Calls by Call-ID (ordered, so a lookup repeats run to run).
    calls: BTreeMap<String, AgentCall>,
    habits: BTreeMap<String, Habits>,
    next: u64,
    /// The Lync pool's archiving service refuses multipart call offers with 415.
    refuse_multipart: bool,
}

impl CallState {
    /// Keeps a new call under its Call-ID, numbered in creation order.
    fn add(&mut self, call_id: String, mut call: AgentCall) {
        call.order = self.next;
        self.next += 1;
        self.calls.insert(call_id, call);
    }

    /// The newest call of `user` that is not over.
    fn current(&mut self, user: &Address) -> Option<(&String, &mut AgentCall)> {
        self.calls
            .iter_mut()
            .filter(|(_, c)| &c.local == user && c.phase != CallPhase::Ended)
            .max_by_key(|(_, c)| c.order)
    }

    /// Every call's media, for shutdown.
    pub(super) fn stop_media(&mut self) {
        for c in self.calls.values_mut() {
            if let Some(m) = &c.media {
                m.stop();
            }
            c.endpoint = None;
            if let Some(v) = &mut c.video {
                if let Some(h) = &v.handle {
                    h.stop();
                }
                v.endpoint = None;
            }
        }
    }
}

/// What a call looks like from its user's side, for steps.
#[derive(Debug, Clone)]
pub struct CallView {
    /// Phase.
    pub phase: CallPhase,
    /// The far party as addressed or presented.
    pub remote: String,
    /// The codec we send, `NAME/clock`.
    pub codec: Option<String>,
    /// telephone-event numbers: ours and the far side's.
    pub te: (Option<u8>, Option<u8>),
    /// Held by either side.
    pub held: bool,
    /// The media session, once started.
    pub media: Option<MediaHandle>,
    /// The video session, once started.
    pub video: Option<VideoHandle>,
    /// Video was offered and the far side declined it (port 0).
    pub video_declined: bool,
}

/// `name/clock` of a profile codec's rtpmap (channels dropped).
fn codec_name(c: &ProfileCodec) -> String {
    c.parts().map(|(n, clock, _)| format!("{n}/{clock}")).unwrap_or_else(|| c.rtpmap.clone())
}

fn is_te(c: &ProfileCodec) -> bool {
    c.rtpmap.to_ascii_lowercase().starts_with("telephone-event/")
}

/// The first crypto line a Lync side can use: AES_CM_128_HMAC_SHA1_80 without MKI
/// (flows.md: packets carry no MKI).
fn usable_crypto(r: &RemoteAudio) -> Option<(u32, String)> {
    r.cryptos
        .iter()
        .find(|(_, suite, _, mki)| *suite == CryptoSuite::AesCm128HmacSha1_80 && !mki)
        .map(|(tag, _, key, _)| (*tag, key.clone()))
}

fn master_key(b64: &str) -> Result<MasterKey, String> {
    MasterKey::from_inline(&format!("inline:{b64}")).map_err(|e| e.to_string())
}

/// The description to read from a call INVITE or its answer: the ICE v19 part of a multipart
/// offer, or the single SDP.
fn read_sdp(msg: &Message) -> Result<Sdp, String> {
    let ct = msg.content_type().map_err(|e| e.to_string())?.map(|m| m.essence);
    match ct.as_deref() {
        Some("application/sdp") => Sdp::parse(msg.body()).map_err(|e| e.to_string()),
        Some("multipart/alternative") => {
            let full = msg.value("Content-Type").unwrap_or_default();
            let parts = alternative::read(&full, msg.body()).map_err(|e| e.to_string())?;
            parts
                .into_iter()
                .find(|p| !p.fallback)
                .map(|p| p.sdp)
                .ok_or_else(|| "the multipart offer has no ICE v19 part (only the fallback)".to_owned())
        }
        Some(other) => Err(format!("a call body of type {other}")),
        None => Err("a call message without a body".to_owned()),
    }
}

/// Parses "SILK/8000, telephone-event/8000" against a profile's m-line (Lync form), or
/// "SILK_WB_V3/16000 as 96, …" (explicit numbers).
pub(super) fn parse_offer_list(text: &str, profile: &[ProfileCodec]) -> Result<Vec<ProfileCodec>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| match item.split_once(" as ") {
            Some((rtpmap, pt)) => {
                let pt: u8 = pt.trim().parse().map_err(|_| format!("`{pt}` is not a payload type in `{item}`"))?;
                let known = profile.iter().find(|c| c.rtpmap.eq_ignore_ascii_case(rtpmap.trim()));
                Ok(ProfileCodec { pt, rtpmap: rtpmap.trim().to_owned(), fmtp: known.and_then(|c| c.fmtp.clone()) })
            }
            None => profile
                .iter()
                .find(|c| c.rtpmap.eq_ignore_ascii_case(item))
                .cloned()
                .ok_or_else(|| format!("`{item}` is not in the profile's audio m-line")),
        })
        .collect()
}

impl SimSide {
    /// The user's client is in another call, outside the gateway: new calls get 486.
    pub fn set_busy_in_call(&self, user: &Address) {
        self.inner.lock().calls.habits.entry(key(user)).or_default().busy = true;
    }

    /// The user lets calls ring until the ring timeout.
    pub fn set_no_answer(&self, user: &Address) {
        self.inner.lock().calls.habits.entry(key(user)).or_default().no_answer = true;
    }

    /// The user's Lync device cannot encrypt media.
    pub fn set_no_srtp(&self, user: &Address) {
        self.inner.lock().calls.habits.entry(key(user)).or_default().no_srtp = true;
    }

    /// The user offers and accepts only these codecs (see [`parse_offer_list`] for the forms).
    pub fn set_offer_only(&self, user: &Address, list: &str) -> Result<(), String> {
        let profile = self.inner.audio_codecs().to_vec();
        let codecs = parse_offer_list(list, &profile)?;
        self.inner.lock().calls.habits.entry(key(user)).or_default().codecs = Some(codecs);
        Ok(())
    }

    /// What video the user's next call offers.
    pub fn set_video(&self, user: &Address, video: VideoHabit) {
        self.inner.lock().calls.habits.entry(key(user)).or_default().video = video;
    }

    /// The Lync pool's archiving service refuses multipart call offers (415).
    pub fn refuse_multipart_offers(&self) {
        self.inner.lock().calls.refuse_multipart = true;
    }

    /// The user's current call.
    pub fn call_of(&self, user: &Address) -> Option<CallView> {
        let mut st = self.inner.lock();
        st.calls.current(user).map(|(_, c)| CallView {
            phase: c.phase,
            remote: c.remote.clone(),
            codec: c.codecs.iter().find(|c| !is_te(c)).map(codec_name),
            te: c.te,
            held: c.held,
            media: c.media.clone(),
            video: c.video.as_ref().and_then(|v| v.handle.clone()),
            video_declined: c.video.as_ref().is_some_and(|v| v.remote.as_ref().is_some_and(|r| r.port == 0)),
        })
    }

    /// `from` calls `to`: the INVITE leaves now; what follows (ringback, answer, refusal) is
    /// recorded as events. Errors only when the call cannot be offered at all.
    pub async fn place_call(&self, from: &Address, to: &Address) -> Result<(), String> {
        let inner = Arc::clone(&self.inner);
        let endpoint = inner.bind_media(from).await?;
        let habit = inner.lock().calls.habits.get(&key(from)).map(|h| h.video).unwrap_or_default();
        let video_ep = match habit {
            VideoHabit::None => None,
            _ => Some(inner.bind_media(from).await?),
        };
        let invite = {
            let mut st = inner.lock();
            let habits = st.calls.habits.get(&key(from)).cloned().unwrap_or_default();
            let codecs = habits.codecs.clone().unwrap_or_else(|| inner.audio_codecs().to_vec());
            let audio = inner.local_audio(&mut st.rng, &endpoint, habits.no_srtp);
            let video = video_ep.map(|ep| {
                let codecs = match habit {
                    VideoHabit::Rtvc1Only => {
                        inner.video_codecs().iter().filter(|c| c.rtpmap.starts_with("x-rtvc1/")).cloned().collect()
                    }
                    _ => inner.video_codecs().to_vec(),
                };
                let local = inner.local_video(&mut st.rng, &ep, &audio, codecs);
                AgentVideo { local, endpoint: Some(ep), handle: None, remote: None, our_key: None, crypto_tag: None }
            });
            let video_media = video.as_ref().map(|v| inner.video_media(&audio, v, true));
            let invite = match inner.side {
                Side::Enterprise => {
                    let env = inner.lync_envelope(&mut st.rng, from, to);
                    let conv = token(&mut st.rng, 22);
                    let boundary = token(&mut st.rng, 20);
                    let draft6 = (token(&mut st.rng, 32), token(&mut st.rng, 24));
                    let cids = (token(&mut st.rng, 10), token(&mut st.rng, 10));
                    let (ct, body) = call::lync_offer_with_video(
                        &codecs,
                        &audio,
                        video_media,
                        &boundary,
                        (&draft6.0, &draft6.1),
                        (&cids.0, &cids.1),
                    );
                    lync::call_invite(&inner.lync, &env, &conv, &ct, body)
                }
                Side::Consumer => {
                    let env = inner.skype_envelope(&mut st.rng, from, to);
                    let mut sdp = call::skype_audio(&inner.skype.call_session_name, &codecs, &audio);
                    sdp.media.extend(video_media);
                    skype::call_invite(&inner.skype, &env, &from.sip_uri(), sdp.to_bytes())
                }
            };
            let seed = st.rng.u64(..);
            let mut call = AgentCall::new(from, to.to_string(), invite.clone(), audio, codecs, endpoint, seed);
            call.video = video;
            st.calls.add(invite.call_id().unwrap_or_default(), call);
            invite
        };
        tokio::spawn(caller(inner, invite));
        Ok(())
    }

    /// The ringing user answers.
    pub fn answer_call(&self, user: &Address) -> Result<(), String> {
        self.inner.answer(user)
    }

    /// The ringing user declines (603).
    pub fn decline_call(&self, user: &Address) -> Result<(), String> {
        let (id, invite, tag, remote) = {
            let mut st = self.inner.lock();
            let Some((_, c)) = st.calls.current(user) else { return Err(format!("{user} has no call")) };
            let Some(id) = c.pending.take() else { return Err(format!("{user}'s call is not ringing")) };
            c.phase = CallPhase::Ended;
            c.endpoint = None;
            (id, c.invite.clone(), c.tag.clone(), c.remote.clone())
        };
        self.inner.respond_tagged(id, &invite, 603, "Decline", &tag, |b| b);
        self.inner.record(user.clone(), AgentEvent::RingStopped { from: remote });
        Ok(())
    }

    /// The caller cancels its ringing call (CANCEL; the INVITE's 487 is recorded as a refusal).
    pub async fn cancel_call(&self, user: &Address) -> Outcome {
        let cancel = {
            let mut st = self.inner.lock();
            match st.calls.current(user) {
                Some((_, c)) if c.caller => MessageBuilder::cancel_for(&c.invite).build(),
                _ => return Outcome::failed(&format!("{user} is not calling anyone")),
            }
        };
        self.inner.tracked(cancel).await
    }

    /// The user hangs up (BYE).
    pub async fn hang_up(&self, user: &Address) -> Outcome {
        let bye = {
            let mut st = self.inner.lock();
            let via = self.inner.via(&mut st.rng);
            let Some((_, c)) = st.calls.current(user) else { return Outcome::failed(&format!("{user} has no call")) };
            let Some(d) = c.dialog.as_mut() else { return Outcome::failed(&format!("{user}'s call is not up")) };
            let bye = d.request(Method::BYE, &via).build();
            c.end();
            (bye, c.remote.clone())
        };
        let out = self.inner.tracked(bye.0).await;
        self.inner.record(user.clone(), AgentEvent::CallEnded { with: bye.1 });
        out
    }

    /// The user adds video to the current call (`on`: a re-INVITE with the profile's m=video)
    /// or removes it (the m-line at port 0, the session stopped).
    pub async fn set_call_video(&self, user: &Address, on: bool) -> Outcome {
        let ep = if on {
            match self.inner.bind_media(user).await {
                Ok(ep) => Some(ep),
                Err(e) => return Outcome::failed(&e),
            }
        } else {
            None
        };
        let reinvite = {
            let mut st = self.inner.lock();
            let st = &mut *st;
            let via = self.inner.via(&mut st.rng);
            let Some((_, c)) = st.calls.current(user) else { return Outcome::failed(&format!("{user} has no call")) };
            match ep {
                Some(ep) => {
                    let codecs = self.inner.video_codecs().to_vec();
                    let local = self.inner.local_video(&mut st.rng, &ep, &c.audio, codecs);
                    c.video = Some(AgentVideo {
                        local,
                        endpoint: Some(ep),
                        handle: None,
                        remote: None,
                        our_key: None,
                        crypto_tag: None,
                    });
                }
                None => {
                    let Some(v) = c.video.as_mut() else { return Outcome::failed(&format!("{user} has no video")) };
                    if let Some(h) = v.handle.take() {
                        h.stop();
                    }
                    v.local.rtp_port = 0;
                }
            }
            let (direction, offer) = (c.audio.direction, c.caller);
            let sdp = self.inner.our_sdp(c, direction, offer);
            let Some(d) = c.dialog.as_mut() else { return Outcome::failed(&format!("{user}'s call is not up")) };
            d.request(Method::INVITE, &via)
                .header("Contact", self.inner.call_contact(user))
                .body("application/sdp", sdp.to_bytes())
                .build()
        };
        let out = self.inner.reinvite(reinvite).await;
        if on && out.is_success() {
            let started = {
                let mut st = self.inner.lock();
                let Some((_, c)) = st.calls.current(user) else { return out };
                out.response
                    .as_ref()
                    .ok_or_else(|| "no answer".to_owned())
                    .and_then(read_sdp)
                    .and_then(|sdp| self.inner.start_video_as_caller(c, &sdp))
            };
            if let Err(e) = started {
                self.inner.fault(format!("{user}: the answer to the added video cannot be used: {e}"));
            }
        }
        out
    }

    /// The user holds (`a=inactive`) or resumes (`a=sendrecv`) the call with a re-INVITE.
    pub async fn hold(&self, user: &Address, held: bool) -> Outcome {
        let direction = if held { Direction::Inactive } else { Direction::SendRecv };
        let reinvite = {
            let mut st = self.inner.lock();
            let via = self.inner.via(&mut st.rng);
            let Some((_, c)) = st.calls.current(user) else { return Outcome::failed(&format!("{user} has no call")) };
            let sdp = self.inner.our_sdp(c, direction, c.caller);
            let Some(d) = c.dialog.as_mut() else { return Outcome::failed(&format!("{user}'s call is not up")) };
            d.request(Method::INVITE, &via)
                .header("Contact", self.inner.call_contact(user))
                .body("application/sdp", sdp.to_bytes())
                .build()
        };
        let out = self.inner.reinvite(reinvite).await;
        if out.is_success() {
            let mut st = self.inner.lock();
            if let Some((_, c)) = st.calls.current(user) {
                c.held = held;
                if let Some(m) = &c.media {
                    m.set_sending(!held);
                }
            }
        }
        out
    }
}

impl AgentCall {
    /// A call as its caller starts it; the callee's side overrides what an offer settles.
    fn new(
        local: &Address,
        remote: String,
        invite: Message,
        audio: LocalAudio,
        codecs: Vec<ProfileCodec>,
        endpoint: MediaEndpoint,
        seed: u64,
    ) -> Self {
        Self {
            order: 0,
            local: local.clone(),
            remote,
            caller: true,
            phase: CallPhase::Calling,
            invite,
            pending: None,
            tag: String::new(),
            dialog: None,
            audio,
            codecs,
            our_key: None,
            crypto_tag: None,
            remote_audio: None,
            te: (None, None),
            endpoint: Some(endpoint),
            media: None,
            held: false,
            seed,
            video: None,
        }
    }

    fn end(&mut self) {
        self.phase = CallPhase::Ended;
        if let Some(m) = &self.media {
            m.stop();
        }
        self.endpoint = None;
        if let Some(v) = &mut self.video {
            if let Some(h) = &v.handle {
                h.stop();
            }
            v.endpoint = None;
        }
    }
}

/// The caller's side of the INVITE transaction: ringback, then the answer or the refusal.
async fn caller(inner: Arc<Inner>, invite: Message) {
    let call_id = invite.call_id().unwrap_or_default();
    let user = inner.lock().calls.calls.get(&call_id).map(|c| (c.local.clone(), c.remote.clone()));
    let Some((user, remote)) = user else { return };
    let mut progress = inner.endpoint.request_with_progress(invite.clone(), inner.gateway);
    let deadline = tokio::time::Instant::now() + INVITE_DEADLINE;
    let refused = |inner: &Inner, status: Option<u16>, reason: String, diag: Option<String>| {
        if let Some(c) = inner.lock().calls.calls.get_mut(&call_id) {
            c.end();
        }
        inner.record(user.clone(), AgentEvent::CallRefused { to: remote.clone(), status, reason, diagnostics: diag });
    };
    loop {
        let Ok(heard) = tokio::time::timeout_at(deadline, progress.next()).await else {
            return refused(&inner, None, format!("no final response within {INVITE_DEADLINE:?}"), None);
        };
        match heard {
            Heard::Provisional(r) if matches!(r.status(), Some(180 | 183)) => {
                let first = {
                    let mut st = inner.lock();
                    st.calls.calls.get_mut(&call_id).is_some_and(|c| {
                        let first = c.phase == CallPhase::Calling;
                        if first {
                            c.phase = CallPhase::Ringing;
                        }
                        first
                    })
                };
                if first {
                    inner.record(user.clone(), AgentEvent::RingBack { to: remote.clone() });
                }
            }
            Heard::Provisional(_) => {}
            Heard::Final(Ok(r)) if r.status().is_some_and(|c| (200..300).contains(&c)) => {
                return answered(&inner, &invite, &r).await;
            }
            Heard::Final(Ok(r)) => {
                let diag = r.value("ms-client-diagnostics").or_else(|| r.value("ms-diagnostics"));
                return refused(
                    &inner,
                    r.status(),
                    r.reason().unwrap_or_default().to_owned(),
                    diag.map(|d| d.into_owned()),
                );
            }
            Heard::Final(Err(e)) => return refused(&inner, None, e.to_string(), None),
        }
    }
}

/// The caller's call was answered: ACK, media, and on the Lync side ICE and the post-check
/// re-INVITE. A step boundary waits for all of it.
async fn answered(inner: &Arc<Inner>, invite: &Message, resp: &Message) {
    let _busy = inner.in_flight();
    let call_id = invite.call_id().unwrap_or_default();
    let dialog = match Dialog::uac(invite, resp) {
        Ok(d) => d,
        Err(e) => {
            return inner.fault(format!("the gateway's {} to a call INVITE cannot form a dialog: {e}", resp.summary()));
        }
    };
    let via = inner.via(&mut inner.lock().rng);
    let cseq = invite.cseq().map(|c| c.seq).unwrap_or(1);
    inner.endpoint.send_stateless(dialog.ack(cseq, &via).build(), inner.gateway);
    if let Err(e) = inner.endpoint.flush().await {
        return inner.fault(format!("the ACK of a call could not be sent: {e}"));
    }
    let started = {
        let mut st = inner.lock();
        let Some(c) = st.calls.calls.get_mut(&call_id) else { return };
        c.dialog = Some(dialog);
        c.phase = CallPhase::Connecting;
        read_sdp(resp).and_then(|sdp| {
            let remote = call::remote_audio(&sdp).ok_or_else(|| "the answer has no audio stream".to_owned())?;
            inner.start_media_as_caller(c, remote)?;
            inner.start_video_as_caller(c, &sdp)
        })
    };
    if let Err(e) = started {
        inner.fault(format!("{}: the gateway's answer to a call cannot be used: {e}", inner.side.label()));
        return;
    }
    inner.bring_up(&call_id).await;
}

impl Inner {
    fn audio_codecs(&self) -> &[ProfileCodec] {
        match self.side {
            Side::Enterprise => &self.lync.audio_codecs,
            Side::Consumer => &self.skype.audio_codecs,
        }
    }

    fn video_codecs(&self) -> &[ProfileCodec] {
        match self.side {
            Side::Enterprise => &self.lync.video_codecs,
            Side::Consumer => &self.skype.video_codecs,
        }
    }

    /// Our video description on `ep`: Lync with the audio's ICE credentials, three keys and a
    /// 100-wide SSRC range (PROTOCOL.md §2.5); Skype plain.
    fn local_video(
        &self,
        rng: &mut fastrand::Rng,
        ep: &MediaEndpoint,
        audio: &LocalAudio,
        codecs: Vec<ProfileCodec>,
    ) -> LocalVideo {
        let lync = self.side == Side::Enterprise;
        let base = rng.u32(1..u32::MAX - call::VIDEO_SSRC_RANGE);
        LocalVideo {
            rtp_port: ep.rtp_addr().port(),
            rtcp_port: ep.rtcp_addr().port(),
            ice: audio.ice.clone(),
            keys: if lync && !audio.keys.is_empty() {
                (0..3).map(|_| MasterKey::random(rng).to_base64()).collect()
            } else {
                vec![]
            },
            ssrc_range: lync.then_some((base, base + call::VIDEO_SSRC_RANGE - 1)),
            codecs,
        }
    }

    /// Our video m-line: an offer (all our codecs and keys) or an answer (the chosen codec,
    /// the key we use under the far side's tag).
    fn video_media(&self, audio: &LocalAudio, v: &AgentVideo, offer: bool) -> Media {
        match self.side {
            Side::Enterprise if offer || v.local.rtp_port == 0 => call::lync_video(audio, &v.local, None),
            Side::Enterprise => {
                let mut local = v.local.clone();
                local.keys = v.our_key.iter().map(MasterKey::to_base64).collect();
                call::lync_video(audio, &local, v.crypto_tag)
            }
            Side::Consumer => call::skype_video(audio, &v.local),
        }
    }

    /// Starts the video session of a call whose video both sides agreed on.
    fn start_video(&self, c: &mut AgentCall, srtp: Option<SrtpKeys>) -> Result<(), String> {
        let seed = c.seed ^ 0x5649_4445_4f00_0000;
        let fallback_ssrc = ssrc_of(&c.invite, &c.local).wrapping_add(1).max(1);
        let Some(v) = c.video.as_mut() else { return Ok(()) };
        let Some(rv) = v.remote.clone() else { return Ok(()) };
        let pt = v.local.codecs.first().map(|pc| pc.pt).ok_or("no video codec chosen")?;
        let ep = v.endpoint.take().ok_or("the call's video sockets are gone")?;
        if let Some(k) = &srtp {
            self.tap.srtp_key(ep.rtp_addr(), &k.local.to_base64());
            self.tap.srtp_key(rv.rtp, &k.remote.to_base64());
        }
        let cfg = VideoLegConfig {
            pt,
            ssrc: v.local.ssrc_range.map_or(fallback_ssrc, |r| r.0),
            seed,
            fps: VIDEO_FPS,
            remote_rtp: rv.rtp,
            remote_rtcp: rv.rtcp,
            srtp,
            pacsi: self.side == Side::Enterprise,
            expect_ssrc_range: rv.ssrc_range,
        };
        v.handle = Some(ep.start_video(cfg).map_err(|e| e.to_string())?);
        Ok(())
    }

    /// The first video codec of ours the offer has (Lync's preference order; the Skype cloud
    /// takes the offer's order), renumbered to the offer.
    fn choose_video(&self, rv: &RemoteVideo) -> Option<ProfileCodec> {
        let mine = self.video_codecs();
        match self.side {
            Side::Enterprise => {
                mine.iter().find_map(|pc| rv.codecs.iter().find(|rc| pc.is(rc)).map(|rc| pc.renumbered(rc.pt)))
            }
            Side::Consumer => {
                rv.codecs.iter().find_map(|rc| mine.iter().find(|pc| pc.is(rc)).map(|pc| pc.renumbered(rc.pt)))
            }
        }
    }

    /// Our side of an offered video stream: the chosen codec on `ep` with one key under the
    /// offer's tag, or a refusal (port 0 with the offered formats, RFC 3264 §6).
    fn answer_video(
        &self,
        rng: &mut fastrand::Rng,
        rv: RemoteVideo,
        chosen: Option<ProfileCodec>,
        ep: Option<MediaEndpoint>,
        audio: &LocalAudio,
    ) -> AgentVideo {
        match (chosen, ep) {
            (Some(chosen), Some(ep)) => {
                let mut local = self.local_video(rng, &ep, audio, vec![chosen]);
                local.keys.truncate(1);
                let our_key = local.keys.first().and_then(|k| master_key(k).ok());
                let crypto_tag = rv
                    .cryptos
                    .iter()
                    .find(|(_, suite, _, mki)| *suite == CryptoSuite::AesCm128HmacSha1_80 && !mki)
                    .map(|(t, _, _, _)| *t);
                AgentVideo { local, endpoint: Some(ep), handle: None, remote: Some(rv), our_key, crypto_tag }
            }
            _ => {
                let codecs = rv
                    .codecs
                    .iter()
                    .map(|c| ProfileCodec { pt: c.pt, rtpmap: format!("{}/{}", c.name, c.clock), fmtp: None })
                    .collect();
                let local = LocalVideo { rtp_port: 0, rtcp_port: 0, ice: None, keys: vec![], ssrc_range: None, codecs };
                AgentVideo { local, endpoint: None, handle: None, remote: None, our_key: None, crypto_tag: None }
            }
        }
    }

    /// The SRTP keys of an answered video stream (Lync side): ours, and the offer's.
    fn video_srtp(&self, v: &AgentVideo) -> Option<SrtpKeys> {
        if self.side != Side::Enterprise {
            return None;
        }
        let remote = v.remote.as_ref()?;
        let local = v.our_key.clone()?;
        let (_, _, k, _) =
            remote.cryptos.iter().find(|(_, suite, _, mki)| *suite == CryptoSuite::AesCm128HmacSha1_80 && !mki)?;
        Some(SrtpKeys { local, remote: master_key(k).ok()? })
    }

    /// A re-INVITE that adds video to a call of ours: sockets, our answer, the session.
    async fn accept_added_video(self: Arc<Self>, id: TxnId, req: Message, rv: RemoteVideo) {
        let call_id = req.call_id().unwrap_or_default();
        let user = self.lock().calls.calls.get(&call_id).map(|c| c.local.clone());
        let Some(user) = user else { return self.respond(id, &req, 481, "Call/Transaction Does Not Exist") };
        let chosen = self.choose_video(&rv);
        let ep = match &chosen {
            Some(_) => match self.bind_media(&user).await {
                Ok(ep) => Some(ep),
                Err(e) => {
                    self.fault(e);
                    return self.respond(id, &req, 500, "Server Internal Error");
                }
            },
            None => None,
        };
        let answered = {
            let mut st = self.lock();
            let st = &mut *st;
            let Some(c) = st.calls.calls.get_mut(&call_id) else { return };
            let video = self.answer_video(&mut st.rng, rv, chosen, ep, &c.audio);
            let srtp = self.video_srtp(&video);
            let start = video.endpoint.is_some();
            c.video = Some(video);
            if let Some(d) = c.dialog.as_mut() {
                let _ = d.refresh_target(&req);
            }
            let direction = c.audio.direction;
            let sdp = self.our_sdp(c, direction, false);
            let started = if start { self.start_video(c, srtp) } else { Ok(()) };
            st.awaiting_ack.insert(call_id);
            started.map(|()| sdp)
        };
        match answered {
            Ok(sdp) => {
                let resp = MessageBuilder::response_to(&req, 200, "OK", None)
                    .header("Contact", self.call_contact(&user))
                    .body("application/sdp", sdp.to_bytes())
                    .build();
                self.endpoint.respond(id, resp);
            }
            Err(e) => {
                self.fault(format!("{user}: the added video cannot start: {e}"));
                self.respond(id, &req, 488, "Not Acceptable Here");
            }
        }
    }

    /// Video for a caller, from the far side's answer: none when the answer has no video
    /// m-line or declines it (port 0).
    fn start_video_as_caller(&self, c: &mut AgentCall, sdp: &Sdp) -> Result<(), String> {
        let lync = self.side == Side::Enterprise;
        let Some(v) = c.video.as_mut() else { return Ok(()) };
        let rv = call::remote_video(sdp);
        let Some(rv) = rv.filter(|r| r.port != 0) else {
            v.remote = Some(call::remote_video(sdp).unwrap_or(RemoteVideo {
                port: 0,
                rtp: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
                rtcp: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
                cryptos: Vec::new(),
                codecs: Vec::new(),
                ssrc_range: None,
            }));
            v.endpoint = None;
            v.local.rtp_port = 0;
            return Ok(());
        };
        let send = rv.codecs.first().ok_or("the video answer carries no codec")?;
        let ours = v.local.codecs.iter().find(|pc| pc.is(send) && pc.pt == send.pt).cloned().ok_or_else(|| {
            format!(
                "the video answer chose {}/{} as {}, which the offer did not carry so",
                send.name, send.clock, send.pt
            )
        })?;
        let srtp = if lync && !v.local.keys.is_empty() {
            let (tag, remote_key) = rv
                .cryptos
                .iter()
                .find(|(_, suite, _, mki)| *suite == CryptoSuite::AesCm128HmacSha1_80 && !mki)
                .map(|(t, _, k, _)| (*t, k.clone()))
                .ok_or("the video answer has no usable a=crypto line")?;
            let local = master_key(
                v.local.keys.get(tag.wrapping_sub(1) as usize).ok_or("the video answer's crypto tag names no line")?,
            )?;
            let remote = master_key(&remote_key)?;
            if remote == local {
                return Err("the video answer repeats our own master key".into());
            }
            v.our_key = Some(local.clone());
            v.crypto_tag = Some(tag);
            Some(SrtpKeys { local, remote })
        } else {
            None
        };
        v.local.codecs = vec![ours];
        v.remote = Some(rv);
        self.start_video(c, srtp)
    }

    fn ring_timeout(&self) -> Duration {
        Duration::from_millis(match self.side {
            Side::Enterprise => self.lync.ring_timeout_ms,
            Side::Consumer => self.skype.ring_timeout_ms,
        })
    }

    /// A media socket pair for `user`, named for the trace by the user.
    async fn bind_media(&self, user: &Address) -> Result<MediaEndpoint, String> {
        let ep = MediaEndpoint::bind(self.ip, Some((self.tap.clone(), self.side.label().to_owned())))
            .await
            .map_err(|e| format!("cannot bind media sockets on {}: {e}", self.ip))?;
        let actor = match self.side {
            Side::Enterprise => format!("lync:{user}"),
            Side::Consumer => format!("skype:{user}"),
        };
        self.tap.name(ep.rtp_addr(), &actor);
        self.tap.name(ep.rtcp_addr(), &actor);
        Ok(ep)
    }

    /// Our description on `ep`: Lync with ICE, three keys (none on a device without
    /// encryption) and a one-wide SSRC range; Skype plain.
    fn local_audio(&self, rng: &mut fastrand::Rng, ep: &MediaEndpoint, no_srtp: bool) -> LocalAudio {
        let lync = self.side == Side::Enterprise;
        let ssrc = rng.u32(1..);
        LocalAudio {
            ip: ep.rtp_addr().ip(),
            rtp_port: ep.rtp_addr().port(),
            rtcp_port: ep.rtcp_addr().port(),
            ice: lync.then(|| (token(rng, 4), token(rng, 24))),
            keys: if lync && !no_srtp { (0..3).map(|_| MasterKey::random(rng).to_base64()).collect() } else { vec![] },
            ssrc_range: Some((ssrc, ssrc)).filter(|_| lync),
            direction: Direction::SendRecv,
            session_id: if lync { 0 } else { rng.u64(1..1 << 32) },
            version: if lync { 0 } else { 1 },
            remote_candidates: None,
        }
    }

    /// Contact of a call request or answer.
    fn call_contact(&self, user: &Address) -> String {
        match self.side {
            Side::Enterprise => format!("<{};opaque=user:epid:{:08x};gruu>", user.sip_uri(), fnv(&key(user))),
            Side::Consumer => format!("<{}>", user.sip_uri()),
        }
    }

    /// Our next SDP in a call, version + 1: an offer (all our codecs and keys) or an answer
    /// (the chosen codecs, the key we use under the far side's tag).
    fn our_sdp(&self, c: &mut AgentCall, direction: Direction, offer: bool) -> Sdp {
        c.audio.version += 1;
        c.audio.direction = direction;
        let mut sdp = self.our_audio_sdp(c, offer);
        if let Some(v) = &c.video {
            // Until an answer, the offer form; after it the m-line carries what was agreed
            // (one codec, our key).
            let agreed = v.our_key.is_some() || v.remote.is_some();
            sdp.media.push(self.video_media(&c.audio, v, !agreed));
        }
        sdp
    }

    fn our_audio_sdp(&self, c: &mut AgentCall, offer: bool) -> Sdp {
        match self.side {
            Side::Enterprise if offer => call::lync_v19(&c.codecs, &c.audio, None),
            Side::Enterprise => {
                let mut a = c.audio.clone();
                a.keys = c.our_key.iter().map(MasterKey::to_base64).collect();
                call::lync_v19(&c.codecs, &a, c.crypto_tag)
            }
            Side::Consumer => call::skype_audio(&self.skype.call_session_name, &c.codecs, &c.audio),
        }
    }

    /// Media for a caller, from the far side's answer.
    fn start_media_as_caller(&self, c: &mut AgentCall, remote: RemoteAudio) -> Result<(), String> {
        let send = remote
            .codecs
            .iter()
            .find(|rc| !rc.name.eq_ignore_ascii_case("telephone-event"))
            .ok_or("the answer carries no codec")?;
        let ours = c.codecs.iter().find(|pc| pc.is(send) && pc.pt == send.pt).ok_or_else(|| {
            format!("the answer chose {}/{} as {}, which the offer did not carry so", send.name, send.clock, send.pt)
        })?;
        let te = remote.codecs.iter().find(|rc| rc.name.eq_ignore_ascii_case("telephone-event")).map(|rc| rc.pt);
        let our_te = c.codecs.iter().find(|pc| is_te(pc)).map(|pc| pc.pt);
        let srtp = if self.side == Side::Enterprise && !c.audio.keys.is_empty() {
            let (tag, remote_key) = usable_crypto(&remote).ok_or("the answer has no usable a=crypto line")?;
            // Our offer's crypto tags are 1..=3 in key order (dialect::call).
            let ours = c
                .audio
                .keys
                .get(tag.wrapping_sub(1) as usize)
                .ok_or_else(|| format!("the answer's a=crypto:{tag} names no crypto line of the offer"))?;
            let local = master_key(ours)?;
            let remote = master_key(&remote_key)?;
            // One master key for both directions would reuse keystream (RFC 3711 §9.1): the
            // answerer must bring a key of its own.
            if remote == local {
                return Err(format!("the answer's a=crypto:{tag} repeats our own master key"));
            }
            c.our_key = Some(local.clone());
            c.crypto_tag = Some(tag);
            Some(SrtpKeys { local, remote })
        } else {
            None
        };
        // From here on our SDPs carry what was agreed, in the answer's numbers.
        let te_codec = te.and_then(|pt| c.codecs.iter().find(|pc| is_te(pc)).map(|pc| pc.renumbered(pt)));
        c.codecs = std::iter::once(ours.clone()).chain(te_codec).collect();
        c.te = (our_te.and(te), te);
        let te = c.te.0;
        let cfg = self.media_config(c, &remote, send.pt, (&send.name, send.clock), te, srtp)?;
        c.remote_audio = Some(remote);
        let ep = c.endpoint.take().ok_or("the call's media sockets are gone")?;
        c.media = Some(ep.start(cfg).map_err(|e| e.to_string())?);
        Ok(())
    }

    fn media_config(
        &self,
        c: &AgentCall,
        remote: &RemoteAudio,
        pt: u8,
        (name, clock): (&str, u32),
        te: Option<u8>,
        srtp: Option<SrtpKeys>,
    ) -> Result<MediaConfig, String> {
        let ice = match (&c.audio.ice, &remote.ice) {
            (Some((lu, lp)), Some((ru, rp))) => Some(IceParams {
                local_ufrag: IceUfrag::new(lu).map_err(|e| e.to_string())?,
                local_pwd: IcePassword::new(lp).map_err(|e| e.to_string())?,
                remote_ufrag: IceUfrag::new(ru).map_err(|e| format!("the far side's ice-ufrag: {e}"))?,
                remote_pwd: IcePassword::new(rp).map_err(|e| format!("the far side's ice-pwd: {e}"))?,
                tie_breaker: u64::from(c.audio.ssrc_range.map_or(1, |r| r.0)),
            }),
            (Some(_), None) => return Err("the far side's description has no ICE credentials".into()),
            _ => None,
        };
        let (rtp, rtcp) = remote.candidates.unwrap_or((remote.rtp, remote.rtcp));
        Ok(MediaConfig {
            codec: SendCodec { pt, name: name.to_owned(), clock },
            te_pt: te,
            ssrc: c.audio.ssrc_range.map_or_else(|| ssrc_of(&c.invite, &c.local), |r| r.0),
            cname: c.local.to_string(),
            seed: c.seed,
            remote_rtp: rtp,
            remote_rtcp: rtcp,
            srtp,
            ice,
            expect_ssrc_range: remote.ssrc_range,
        })
    }

    /// After the 2xx/ACK: the Lync side checks the gateway's candidates and sends the
    /// post-check re-INVITE; then the call is up.
    async fn bring_up(self: &Arc<Self>, call_id: &str) {
        let (user, media, lync_ice) = {
            let st = self.lock();
            let Some(c) = st.calls.calls.get(call_id) else { return };
            (c.local.clone(), c.media.clone(), c.audio.ice.is_some())
        };
        if lync_ice && let Some(m) = &media {
            if let Err(e) = m.check(crate::net::IO_DEADLINE).await {
                return self.fault(format!("{user}: ICE connectivity checks towards the gateway failed: {e}"));
            }
            let reinvite = {
                let mut st = self.lock();
                let via = self.via(&mut st.rng);
                let Some(c) = st.calls.calls.get_mut(call_id) else { return };
                let Some(r) = &c.remote_audio else { return };
                c.audio.remote_candidates = Some(r.candidates.unwrap_or((r.rtp, r.rtcp)));
                let offer = c.caller;
                let direction = c.audio.direction;
                let sdp = self.our_sdp(c, direction, offer);
                let contact = self.call_contact(&user);
                let Some(d) = c.dialog.as_mut() else { return };
                d.request(Method::INVITE, &via)
                    .header("Contact", contact)
                    .body("application/sdp", sdp.to_bytes())
                    .build()
            };
            let out = self.reinvite(reinvite).await;
            if !out.is_success() {
                return self.fault(format!(
                    "{user}: the gateway refused the post-check re-INVITE: {} {}{}",
                    out.status.map_or_else(|| "no response".into(), |s| s.to_string()),
                    out.reason,
                    out.error.map(|e| format!(" ({e})")).unwrap_or_default()
                ));
            }
        }
        let (remote, codec) = {
            let mut st = self.lock();
            let Some(c) = st.calls.calls.get_mut(call_id) else { return };
            c.phase = CallPhase::Up;
            (c.remote.clone(), c.codecs.iter().find(|c| !is_te(c)).map(codec_name).unwrap_or_default())
        };
        self.record(user, AgentEvent::CallUp { with: remote, codec });
    }

    /// Sends a re-INVITE in a call and ACKs its 2xx.
    async fn reinvite(self: &Arc<Self>, msg: Message) -> Outcome {
        let call_id = msg.call_id().unwrap_or_default();
        let cseq = msg.cseq().map(|c| c.seq).unwrap_or(1);
        let out = self.tracked(msg).await;
        if let Some(r) = out.response.as_ref().filter(|_| out.is_success()) {
            let ack = {
                let mut st = self.lock();
                let via = self.via(&mut st.rng);
                st.calls.calls.get_mut(&call_id).and_then(|c| c.dialog.as_mut()).map(|d| {
                    let _ = d.refresh_target(r);
                    d.ack(cseq, &via).build()
                })
            };
            if let Some(ack) = ack {
                self.endpoint.send_stateless(ack, self.gateway);
                let _ = self.endpoint.flush().await;
            }
        }
        out
    }

    /// A new call INVITE from the gateway.
    pub(super) async fn on_call_invite(self: Arc<Self>, id: TxnId, req: Message) {
        let Some(user) = self.target(&req) else { return self.respond(id, &req, 404, "Not Found") };
        let from = Self::sender(&req);
        let (habits, refuse_multipart, offline) = {
            let st = self.lock();
            let h = st.calls.habits.get(&key(&user)).cloned().unwrap_or_default();
            let offline = st.skype_users.get(&key(&user)).is_some_and(|u| u.state == SkypeState::Offline);
            (h, st.calls.refuse_multipart, offline)
        };
        let multipart = req.content_type().ok().flatten().is_some_and(|t| t.essence.starts_with("multipart/"));
        if self.side == Side::Enterprise && refuse_multipart && multipart {
            return self
                .respond_with(id, &req, 415, "Unsupported Media Type", |b| b.header("Accept", "application/sdp"));
        }
        if offline {
            return self.respond(id, &req, 480, "Temporarily Unavailable");
        }
        if habits.busy {
            return self.respond(id, &req, 486, "Busy Here");
        }
        let remote = match read_sdp(&req)
            .and_then(|s| call::remote_audio(&s).ok_or_else(|| "the offer has no audio stream".to_owned()))
        {
            Ok(r) => r,
            Err(e) => {
                self.fault(format!("{}: the gateway's call offer cannot be read: {e}", self.side.label()));
                return self.respond_with(id, &req, 488, "Not Acceptable Here", |b| {
                    b.header("Warning", format!("399 {} \"{}\"", self.host, e.replace('"', "'")))
                });
            }
        };
        if self.side == Side::Enterprise && (habits.no_srtp || usable_crypto(&remote).is_none()) {
            return self.respond_with(id, &req, 488, "Encryption Levels not compatible", |b| {
                b.header("ms-client-diagnostics", "52017;reason=\"Encryption levels dont match\"")
            });
        }
        let mine = habits.codecs.clone().unwrap_or_else(|| self.audio_codecs().to_vec());
        let offered: Vec<_> =
            remote.codecs.iter().filter(|rc| !rc.name.eq_ignore_ascii_case("telephone-event")).collect();
        // The Lync client answers with its own preference (its m-line order); the Skype cloud
        // takes the first offered codec it has (flows.md "Audio calls").
        let chosen = match self.side {
            Side::Enterprise => mine
                .iter()
                .filter(|pc| !is_te(pc))
                .find_map(|pc| offered.iter().find(|rc| pc.is(rc)).map(|rc| pc.renumbered(rc.pt))),
            Side::Consumer => offered
                .iter()
                .find_map(|rc| mine.iter().find(|pc| !is_te(pc) && pc.is(rc)).map(|pc| pc.renumbered(rc.pt))),
        };
        let Some(chosen) = chosen else {
            return self.respond_with(id, &req, 488, "Not Acceptable Here", |b| {
                b.header("Warning", format!("305 {} \"Incompatible media format\"", self.host))
            });
        };
        let te = remote
            .codecs
            .iter()
            .find(|rc| rc.name.eq_ignore_ascii_case("telephone-event"))
            .and_then(|rc| mine.iter().find(|pc| is_te(pc)).map(|pc| pc.renumbered(rc.pt)));
        let endpoint = match self.bind_media(&user).await {
            Ok(e) => e,
            Err(e) => {
                self.fault(e);
                return self.respond(id, &req, 500, "Server Internal Error");
            }
        };
        // Video: the first codec of ours the offer has (Lync's preference order; the Skype
        // cloud takes the offer's order), renumbered to the offer; none in common declines it.
        let remote_video = read_sdp(&req).ok().and_then(|s| call::remote_video(&s)).filter(|r| r.port != 0);
        let video_choice = remote_video.as_ref().map(|rv| (rv.clone(), self.choose_video(rv)));
        let video_ep = match &video_choice {
            Some((_, Some(_))) => match self.bind_media(&user).await {
                Ok(e) => Some(e),
                Err(e) => {
                    self.fault(e);
                    return self.respond(id, &req, 500, "Server Internal Error");
                }
            },
            _ => None,
        };
        let tag = {
            let mut st = self.lock();
            let tag = token(&mut st.rng, 10);
            let mut audio = self.local_audio(&mut st.rng, &endpoint, habits.no_srtp);
            audio.keys.truncate(1);
            let our_key = audio.keys.first().and_then(|k| master_key(k).ok());
            let crypto_tag = usable_crypto(&remote).map(|(t, _)| t);
            let te_pt = te.as_ref().map(|t| t.pt);
            let codecs = std::iter::once(chosen).chain(te).collect();
            let seed = st.rng.u64(..);
            let video = video_choice.map(|(rv, chosen)| self.answer_video(&mut st.rng, rv, chosen, video_ep, &audio));
            let call = AgentCall {
                caller: false,
                phase: CallPhase::Ringing,
                pending: Some(id),
                tag: tag.clone(),
                our_key,
                crypto_tag,
                remote_audio: Some(remote),
                te: (te_pt, te_pt),
                video,
                ..AgentCall::new(&user, from.clone(), req.clone(), audio, codecs, endpoint, seed)
            };
            st.calls.add(req.call_id().unwrap_or_default(), call);
            tag
        };
        let contact = self.call_contact(&user);
        self.respond_tagged(id, &req, 180, "Ringing", &tag, |b| b.header("Contact", contact));
        self.record(user.clone(), AgentEvent::Ringing { from: from.clone() });
        if habits.no_answer {
            // The client's own ring timer: nobody picks up, so it gives up with 480.
            let timeout = self.ring_timeout();
            let call_id = req.call_id().unwrap_or_default();
            tokio::time::sleep(timeout).await;
            let pending = {
                let mut st = self.lock();
                st.calls.calls.get_mut(&call_id).and_then(|c| {
                    let id = c.pending.take()?;
                    c.end();
                    Some((id, c.tag.clone()))
                })
            };
            if let Some((id, tag)) = pending {
                self.respond_tagged(id, &req, 480, "Temporarily Unavailable", &tag, |b| b);
                self.record(user, AgentEvent::RingStopped { from });
            }
        }
    }

    /// The ringing user answers: 200 with our description, media started; the call comes up
    /// when the ACK arrives (and, on the Lync side, after ICE and the post-check re-INVITE).
    fn answer(self: &Arc<Self>, user: &Address) -> Result<(), String> {
        let (id, resp) = {
            let mut st = self.lock();
            let Some((call_id, c)) = st.calls.current(user) else { return Err(format!("{user} has no call")) };
            let call_id = call_id.clone();
            let Some(id) = c.pending else { return Err(format!("{user}'s call is not ringing")) };
            let remote = c.remote_audio.clone().ok_or("the offer was not kept")?;
            let send = c.codecs.iter().find(|pc| !is_te(pc)).cloned().ok_or("no codec chosen")?;
            let (name, clock, _) = send.parts().ok_or("bad rtpmap")?;
            let te = c.te.0;
            let srtp = match (&c.our_key, usable_crypto(&remote)) {
                (Some(local), Some((_, k))) if self.side == Side::Enterprise => {
                    Some(SrtpKeys { local: local.clone(), remote: master_key(&k)? })
                }
                _ => None,
            };
            let cfg = self.media_config(c, &remote, send.pt, (&name, clock), te, srtp)?;
            let sdp = {
                // The answer keeps the offer's version count at our first SDP.
                c.audio.version = c.audio.version.saturating_sub(1);
                self.our_sdp(c, Direction::SendRecv, false)
            };
            let dialog = Dialog::uas(&c.invite, &c.tag).map_err(|e| format!("the gateway's INVITE: {e}"))?;
            let ep = c.endpoint.take().ok_or("the call's media sockets are gone")?;
            c.media = Some(ep.start(cfg).map_err(|e| e.to_string())?);
            let video_srtp = c.video.as_ref().and_then(|v| self.video_srtp(v));
            if c.video.as_ref().is_some_and(|v| v.endpoint.is_some()) {
                self.start_video(c, video_srtp)?;
            }
            c.dialog = Some(dialog);
            c.pending = None;
            c.phase = CallPhase::Connecting;
            let resp = MessageBuilder::response_to(&c.invite, 200, "OK", Some(&c.tag))
                .header("Contact", self.call_contact(user))
                .header(
                    "User-Agent",
                    match self.side {
                        Side::Enterprise => &self.lync.user_agent,
                        Side::Consumer => &self.skype.user_agent,
                    },
                )
                .body("application/sdp", sdp.to_bytes())
                .build();
            st.awaiting_ack.insert(call_id);
            (id, resp)
        };
        self.endpoint.respond(id, resp);
        Ok(())
    }

    /// The ACK of a 2xx we sent, before it is struck off: a call's first ACK brings it up.
    pub(super) fn on_call_ack(self: &Arc<Self>, call_id: &str) {
        let connecting = self.lock().calls.calls.get(call_id).is_some_and(|c| c.phase == CallPhase::Connecting);
        if connecting {
            // Counted before the ACK is struck off, so a step boundary never sees a gap.
            let guard = self.in_flight();
            let me = Arc::clone(self);
            let call_id = call_id.to_owned();
            tokio::spawn(async move {
                me.bring_up(&call_id).await;
                drop(guard);
            });
        }
    }

    /// True when a request belongs to a call of ours (by Call-ID).
    pub(super) fn in_call(&self, req: &Message) -> bool {
        req.call_id().is_ok_and(|id| self.lock().calls.calls.contains_key(&id))
    }

    /// The caller cancelled a ringing call of ours.
    pub(super) fn on_cancel(&self, id: TxnId, req: &Message) {
        let call_id = req.call_id().unwrap_or_default();
        let branch = |m: &Message| m.top_via().ok().and_then(|v| v.branch().map(str::to_owned));
        let found = {
            let mut st = self.lock();
            st.calls.calls.get_mut(&call_id).and_then(|c| {
                if branch(&c.invite) != branch(req) {
                    return None;
                }
                let pending = c.pending.take()?;
                c.end();
                Some((pending, c.invite.clone(), c.tag.clone(), c.local.clone(), c.remote.clone()))
            })
        };
        let Some((pending, invite, tag, user, from)) = found else {
            return self.respond(id, req, 481, "Call/Transaction Does Not Exist");
        };
        self.respond(id, req, 200, "OK");
        self.respond_tagged(pending, &invite, 487, "Request Terminated", &tag, |b| b);
        self.record(user, AgentEvent::RingStopped { from });
    }

    /// A request in one of our calls: BYE or a re-INVITE (hold/resume).
    pub(super) fn on_call_request(self: &Arc<Self>, id: TxnId, req: &Message) {
        let call_id = req.call_id().unwrap_or_default();
        let method = req.method().cloned();
        let mut st = self.lock();
        let Some(c) = st.calls.calls.get_mut(&call_id) else {
            drop(st);
            return self.respond(id, req, 481, "Call/Transaction Does Not Exist");
        };
        let in_order = c.dialog.as_mut().map(|d| d.accepts(req));
        match in_order {
            None => {
                drop(st);
                return self.respond(id, req, 481, "Call/Transaction Does Not Exist");
            }
            Some(Err(e)) => {
                drop(st);
                let code = e.status_code();
                return self.respond(
                    id,
                    req,
                    code,
                    if code == 481 { "Call/Transaction Does Not Exist" } else { "Server Internal Error" },
                );
            }
            Some(Ok(())) => {}
        }
        let (user, remote) = (c.local.clone(), c.remote.clone());
        match method.as_ref().map(Method::as_str) {
            Some("BYE") => {
                c.end();
                drop(st);
                self.respond(id, req, 200, "OK");
                self.record(user, AgentEvent::CallEnded { with: remote });
            }
            Some("INVITE") => {
                let offered = match read_sdp(req) {
                    Ok(s) => call::remote_audio(&s).map(|r| r.direction),
                    Err(e) => {
                        drop(st);
                        self.fault(format!("{}: the gateway's re-INVITE cannot be read: {e}", self.side.label()));
                        return self.respond(id, req, 488, "Not Acceptable Here");
                    }
                };
                let offered_video = read_sdp(req).ok().and_then(|s| call::remote_video(&s)).filter(|r| r.port != 0);
                let has_video = c.video.as_ref().is_some_and(|v| v.handle.is_some());
                match offered_video {
                    Some(rv) if !has_video => {
                        // Video added: sockets first (async), then the answer.
                        drop(st);
                        let guard = self.in_flight();
                        let me = Arc::clone(self);
                        let req = req.clone();
                        tokio::spawn(async move {
                            me.accept_added_video(id, req, rv).await;
                            drop(guard);
                        });
                        return;
                    }
                    None if has_video => {
                        // Video removed (port 0): the session stops, our m-line goes to port 0.
                        if let Some(v) = c.video.as_mut() {
                            if let Some(h) = v.handle.take() {
                                h.stop();
                            }
                            v.local.rtp_port = 0;
                        }
                    }
                    _ => {}
                }
                let held = offered == Some(Direction::Inactive);
                let direction = if held { Direction::Inactive } else { Direction::SendRecv };
                if let Some(d) = c.dialog.as_mut() {
                    let _ = d.refresh_target(req);
                }
                let sdp = self.our_sdp(c, direction, false);
                let changed = c.held != held;
                c.held = held;
                if let Some(m) = &c.media {
                    m.set_sending(!held);
                }
                st.awaiting_ack.insert(call_id);
                drop(st);
                let resp = MessageBuilder::response_to(req, 200, "OK", None)
                    .header("Contact", self.call_contact(&user))
                    .body("application/sdp", sdp.to_bytes())
                    .build();
                self.endpoint.respond(id, resp);
                if changed {
                    self.record(user, AgentEvent::CallHeld { with: remote, held });
                }
            }
            _ => {
                drop(st);
                self.respond(id, req, 501, "Not Implemented");
            }
        }
    }
}

/// FNV-1a: a fixed number from a text (an endpoint id, an SSRC), the same run to run.
fn fnv(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// A Skype user's SSRC: drawn from the Call-ID and the user, so it is fixed for the call.
fn ssrc_of(invite: &Message, user: &Address) -> u32 {
    fnv(&format!("{}{user}", invite.call_id().unwrap_or_default())).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_lists_read_both_forms_and_name_what_is_unknown() {
        let profile = crate::dialect::lync::LyncProfile::builtin().audio_codecs;
        let l = parse_offer_list("SILK/8000, telephone-event/8000", &profile).unwrap();
        assert_eq!(
            l.iter().map(|c| (c.pt, c.rtpmap.as_str())).collect::<Vec<_>>(),
            [(103, "SILK/8000"), (101, "telephone-event/8000")]
        );
        let s = parse_offer_list("SILK_WB_V3/16000 as 96, telephone-event/8000 as 120", &[]).unwrap();
        assert_eq!(s.iter().map(|c| c.pt).collect::<Vec<_>>(), [96, 120]);
        assert!(parse_offer_list("OPUS/48000", &profile).unwrap_err().contains("OPUS/48000"));
        assert!(parse_offer_list("X/8000 as 300", &profile).unwrap_err().contains("300"));
    }

    fn lync_offer_message() -> Message {
        let codecs = crate::dialect::lync::LyncProfile::builtin().audio_codecs;
        let audio = LocalAudio {
            ip: std::net::Ipv4Addr::LOCALHOST.into(),
            rtp_port: 5000,
            rtcp_port: 5001,
            ice: Some(("abcd".into(), "p".repeat(24))),
            keys: (1..=3u8).map(|i| MasterKey::new([i; 16], [i; 14]).to_base64()).collect(),
            ssrc_range: Some((7, 7)),
            direction: Direction::SendRecv,
            session_id: 0,
            version: 0,
            remote_candidates: None,
        };
        let (ct, body) = call::lync_offer(&codecs, &audio, "b", ("u", "p"), ("1", "2"));
        MessageBuilder::request(Method::INVITE, "sip:carol@outlook.com")
            .header("Call-ID", "c")
            .header("CSeq", "1 INVITE")
            .body(&ct, body)
            .build()
    }

    #[test]
    fn a_multipart_offer_is_read_by_its_ice_v19_part_and_its_first_crypto_line_without_mki() {
        let sdp = read_sdp(&lync_offer_message()).unwrap();
        let remote = call::remote_audio(&sdp).unwrap();
        assert_eq!(remote.ice.as_ref().map(|(u, _)| u.as_str()), Some("abcd"), "the v19 part has ufrag/pwd");
        let (tag, key) = usable_crypto(&remote).unwrap();
        assert_eq!(tag, 3, "lines 1 (cryptoscale) and 2 carry an MKI");
        assert_eq!(master_key(&key).unwrap(), MasterKey::new([3; 16], [3; 14]));
    }

    #[test]
    fn a_body_that_is_not_sdp_is_named() {
        let msg = MessageBuilder::request(Method::INVITE, "sip:a@b").body("text/plain", b"hi".to_vec()).build();
        assert_eq!(read_sdp(&msg).unwrap_err(), "a call body of type text/plain");
    }
}
