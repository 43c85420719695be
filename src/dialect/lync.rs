//! The enterprise leg as a Lync 2013 pool presents its users ("lync-2013" profile,
//! PROTOCOL.md §1.5 and §9.1): IM sessions are INVITE-based, the first message rides in the
//! INVITE's `ms-text-format` header, later ones are in-dialog MESSAGEs.

use serde::Deserialize;

use super::categories::{self, BatchSub, StateCategory};
use super::pidf::{self, Pidf};
use crate::sip::wire::ms::MsTextFormat;
use crate::sip::wire::{Message, MessageBuilder, Method};

/// The profile, loaded from `scenarios/dialects/lync-2013.yaml`.
#[derive(Debug, Clone, Deserialize)]
pub struct LyncProfile {
    /// Profile name.
    pub name: String,
    /// User-Agent of the simulated clients.
    pub user_agent: String,
    /// Supported tokens on an IM INVITE, one header line each as Lync sends them.
    pub im_invite_supported: Vec<String>,
    /// Allow header value.
    pub allow: String,
    /// `a=accept-types` of the IM SDP.
    pub accept_types: String,
    /// The client's IM font (`X-MMS-IM-Format`), sent base64 as `msgr`.
    pub im_font: String,
    /// ms-keep-alive header value.
    pub keep_alive: String,
    /// Supported tokens of a presence SUBSCRIBE, one header line each.
    pub subscribe_supported: Vec<String>,
    /// Proxy-Require of a presence SUBSCRIBE.
    pub subscribe_proxy_require: String,
    /// Require of a batched (adhoclist) SUBSCRIBE.
    pub subscribe_require: String,
    /// Accept of a presence SUBSCRIBE.
    pub presence_accept: String,
    /// Expires a subscription asks for.
    pub subscription_expires: u32,
    /// Supported tokens on a call INVITE, one header line each.
    pub call_supported: Vec<String>,
    /// `ms-endpoint-location-data` of a call INVITE.
    pub endpoint_location: String,
    /// The audio m-line in offer order (flows.md "Audio calls").
    pub audio_codecs: Vec<super::call::ProfileCodec>,
    /// The video m-line in offer order (PROTOCOL.md §1.7, §9.2); empty: no video.
    #[serde(default)]
    pub video_codecs: Vec<super::call::ProfileCodec>,
    /// How long an unanswered call rings before the client gives up with 480.
    pub ring_timeout_ms: u64,
}

impl LyncProfile {
    /// The profile shipped in `scenarios/dialects/lync-2013.yaml`.
    pub fn builtin() -> Self {
        // The file is ours and tested; a parse failure here is a build defect caught by tests.
        super::load_profile(
            "scenarios/dialects/lync-2013.yaml",
            include_str!("../../scenarios/dialects/lync-2013.yaml"),
        )
        .unwrap_or_else(|e| panic!("built-in profile: {e}"))
    }
}

/// Addresses and ids of one new request, drawn by the agent.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Via value (with branch).
    pub via: String,
    /// Caller URI.
    pub from_uri: String,
    /// Caller tag.
    pub from_tag: String,
    /// Caller endpoint id (Lync `epid`).
    pub epid: String,
    /// Callee URI (also the Request-URI).
    pub to_uri: String,
    /// Call-ID.
    pub call_id: String,
    /// Contact URI (GRUU).
    pub contact: String,
}

/// The SDP of an IM session offer ([MS-SDP] §3.1.5.3).
pub fn im_sdp_offer(profile: &LyncProfile, host: &str) -> String {
    format!(
        "v=0\r\no=- 0 0 IN IP4 {host}\r\ns=session\r\nc=IN IP4 {host}\r\nt=0 0\r\nm=message 5060 sip null\r\na=accept-types:{}\r\n",
        profile.accept_types
    )
}

/// The SDP answer: `m=message 5060 sip sip:<answerer>`.
pub fn im_sdp_answer(profile: &LyncProfile, host: &str, answerer: &str) -> String {
    format!(
        "v=0\r\no=- 0 0 IN IP4 {host}\r\ns=session\r\nc=IN IP4 {host}\r\nt=0 0\r\nm=message 5060 sip {answerer}\r\na=accept-types:{}\r\n",
        profile.accept_types
    )
}

impl Envelope {
    /// The first request of a dialog as a Lync client starts it: addressing, ids, GRUU
    /// Contact and User-Agent; the caller adds the rest.
    fn request(&self, profile: &LyncProfile, method: Method) -> MessageBuilder {
        let cseq = format!("1 {method}");
        MessageBuilder::request(method, &self.to_uri)
            .header("Via", &self.via)
            .header("Max-Forwards", 70)
            .header("From", format!("<{}>;tag={};epid={}", self.from_uri, self.from_tag, self.epid))
            .header("To", format!("<{}>", self.to_uri))
            .header("Call-ID", &self.call_id)
            .header("CSeq", cseq)
            .header("Contact", format!("<{}>", self.contact))
            .header("User-Agent", &profile.user_agent)
    }
}

/// An IM INVITE carrying the first message in `ms-text-format`.
pub fn im_invite(profile: &LyncProfile, env: &Envelope, conversation_id: &str, text: &str, host: &str) -> Message {
    let mut b = env.request(profile, Method::INVITE);
    for s in &profile.im_invite_supported {
        b = b.header("Supported", s);
    }
    b.header("Ms-Conversation-ID", conversation_id)
        .header("ms-text-format", MsTextFormat::plain_with_msgr(text, &super::im::msgr(&profile.im_font)))
        .header("ms-keep-alive", &profile.keep_alive)
        .header("Allow", &profile.allow)
        .header("EndPoints", format!("<{}>, <{}>", env.from_uri, env.to_uri))
        .header("Roster-Manager", &env.from_uri)
        .body("application/sdp", im_sdp_offer(profile, host))
        .build()
}

/// A call INVITE (flows.md "Audio calls"): the profile's call Supported tokens, a
/// conversation id, the endpoint location, and the offer body (`content_type`, `body`).
pub fn call_invite(
    profile: &LyncProfile,
    env: &Envelope,
    conversation_id: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Message {
    let mut b = env.request(profile, Method::INVITE);
    for s in &profile.call_supported {
        b = b.header("Supported", s);
    }
    b.header("Ms-Conversation-ID", conversation_id)
        .header("ms-endpoint-location-data", &profile.endpoint_location)
        .header("Allow", &profile.allow)
        .body(content_type, body)
        .build()
}

/// The text of an IM INVITE's embedded first message, if it has one.
pub fn first_message(invite: &Message) -> Option<String> {
    invite.value("ms-text-format").and_then(|v| MsTextFormat::parse(&v).ok()).map(|f| f.text)
}

/// True when a request is an IM session INVITE (SDP with `m=message`).
pub fn is_im_invite(msg: &Message) -> bool {
    msg.method() == Some(&Method::INVITE) && String::from_utf8_lossy(msg.body()).contains("m=message ")
}

/// A Lync availability value (PROTOCOL.md §4.1) as the harness's Lync side publishes and
/// reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Availability(pub u32);

impl Availability {
    /// Available.
    pub const AVAILABLE: Self = Self(3500);
    /// Busy.
    pub const BUSY: Self = Self(6500);
    /// Away.
    pub const AWAY: Self = Self(15500);
    /// Offline: what the Blocked container (32000) publishes.
    pub const OFFLINE: Self = Self(18500);

    /// The pool's PIDF rendering for a watcher that accepts only PIDF ([MS-PRES] "only the
    /// subset required for interoperability"): basic and one RPID activity, by band.
    pub fn to_pidf(self, entity: &str) -> Pidf {
        let (open, activity) = match self.0 {
            3000..=5999 => (true, None),
            6000..=11999 => (true, Some("busy")),
            12000..=17999 => (true, Some("away")),
            _ => (false, None),
        };
        Pidf { entity: entity.to_owned(), open, activities: activity.into_iter().map(String::from).collect() }
    }

    /// What a Lync client shows for a PIDF document: the published value of the band.
    pub fn from_pidf(p: &Pidf) -> Self {
        let has = |a: &str| p.activities.iter().any(|x| x == a);
        match (p.open, has("busy"), has("away")) {
            (false, _, _) => Self::OFFLINE,
            (true, true, _) => Self::BUSY,
            (true, false, true) => Self::AWAY,
            _ => Self::AVAILABLE,
        }
    }
}

/// A presence SUBSCRIBE from a Lync watcher (`scenarios/dialects/flows.md`): `accept` as
/// the client offers it, and a batched body with `<context/>` for a just-added contact.
pub fn presence_subscribe(
    profile: &LyncProfile,
    env: &Envelope,
    accept: &str,
    expires: u32,
    action_id: &str,
) -> Message {
    let mut b = env.request(profile, Method::SUBSCRIBE).header("Event", "presence").header("Accept", accept);
    for s in &profile.subscribe_supported {
        b = b.header("Supported", s);
    }
    let body = BatchSub { owner: env.from_uri.clone(), resources: vec![(env.to_uri.clone(), true)] };
    b.header("Proxy-Require", &profile.subscribe_proxy_require)
        .header("Require", &profile.subscribe_require)
        .header("Expires", expires)
        .body(categories::BATCH_SUB, body.render(action_id).into_bytes())
        .build()
}

/// The presence body a Lync pool serves a watcher: msrtc categories unless the watcher's
/// Accept lacks them (or the pool is set to serve PIDF and the watcher takes it).
pub fn presence_body(accept: &str, prefer_pidf: bool, entity: &str, a: Availability) -> (&'static str, String) {
    let takes = |t: &str| accept.split(',').any(|x| x.trim().eq_ignore_ascii_case(t));
    let pidf = takes(pidf::CONTENT_TYPE) && (prefer_pidf || !takes(categories::CATEGORIES));
    if pidf {
        (pidf::CONTENT_TYPE, a.to_pidf(entity).render())
    } else {
        let doc = StateCategory { uri: entity.to_owned(), availability: Some(a.0) };
        (categories::CATEGORIES, doc.render(PUBLISH_TIME))
    }
}

/// The `publishTime` the simulated pool writes: fixed, so captures repeat run to run.
const PUBLISH_TIME: &str = "2026-01-01T00:00:00Z";

/// What a Lync watcher shows for a notification body, if it carries presence.
pub fn shown_availability(msg: &Message) -> Result<Option<Availability>, String> {
    let Some(ct) = msg.content_type().map_err(|e| e.to_string())? else {
        // RFC 3261 §20.15: a body needs its type; an untyped one is not "no presence".
        return if msg.body().is_empty() { Ok(None) } else { Err("a body without Content-Type".into()) };
    };
    let body = String::from_utf8_lossy(msg.body());
    match ct.essence.as_str() {
        categories::CATEGORIES => {
            StateCategory::parse(&body).map(|c| c.availability.map(Availability)).map_err(|e| e.to_string())
        }
        pidf::CONTENT_TYPE => Pidf::parse(&body).map(|p| Some(Availability::from_pidf(&p))).map_err(|e| e.to_string()),
        other => Err(format!("a presence notification of type {other}")),
    }
}
