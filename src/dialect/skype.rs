//! The consumer leg as the harness's Skype cloud speaks it ("skype-consumer" profile,
//! PROTOCOL.md §9.2): pager-mode MESSAGE (RFC 3428) with a text/plain body.

use serde::Deserialize;

use super::pidf::Pidf;
use crate::sip::wire::{Message, MessageBuilder, Method};

/// The profile, loaded from `scenarios/dialects/skype-consumer.yaml`.
#[derive(Debug, Clone, Deserialize)]
pub struct SkypeProfile {
    /// Profile name.
    pub name: String,
    /// User-Agent of the simulated cloud.
    pub user_agent: String,
    /// Content-Type of an IM.
    pub im_content_type: String,
    /// Accept of a presence SUBSCRIBE.
    pub presence_accept: String,
    /// Expires a subscription asks for.
    pub subscription_expires: u32,
    /// `s=` of a call SDP.
    pub call_session_name: String,
    /// The audio m-line in offer order (flows.md "Audio calls").
    pub audio_codecs: Vec<super::call::ProfileCodec>,
    /// The video m-line in offer order (PROTOCOL.md §1.7, §9.2); empty: no video.
    #[serde(default)]
    pub video_codecs: Vec<super::call::ProfileCodec>,
    /// How long an unanswered call rings before the cloud gives up with 480.
    pub ring_timeout_ms: u64,
}

impl SkypeProfile {
    /// The profile shipped in `scenarios/dialects/skype-consumer.yaml`.
    pub fn builtin() -> Self {
        super::load_profile(
            "scenarios/dialects/skype-consumer.yaml",
            include_str!("../../scenarios/dialects/skype-consumer.yaml"),
        )
        .unwrap_or_else(|e| panic!("built-in profile: {e}"))
    }
}

/// A pager-mode MESSAGE (RFC 3428) carrying `body` of type `content_type`: an IM
/// (`profile.im_content_type`), a typing indication, or anything a test needs to send.
pub fn pager(profile: &SkypeProfile, env: &Envelope, content_type: &str, body: Vec<u8>) -> Message {
    env.request(Method::MESSAGE, "1 MESSAGE").header("User-Agent", &profile.user_agent).body(content_type, body).build()
}

/// A Skype user's status as the consumer cloud knows it (PROTOCOL.md §4.1, §9.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkypeState {
    /// Online.
    Online,
    /// Away.
    Away,
    /// Busy: "Do Not Disturb" in the Skype UI.
    Busy,
    /// Invisible: online, shown to others as offline.
    Invisible,
    /// Offline.
    Offline,
}

impl std::str::FromStr for SkypeState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "Online" => Self::Online,
            "Away" => Self::Away,
            "Busy" => Self::Busy,
            "Invisible" => Self::Invisible,
            "Offline" => Self::Offline,
            other => return Err(format!("`{other}` is not a Skype status (Online, Away, Busy, Invisible, Offline)")),
        })
    }
}

impl SkypeState {
    /// The PIDF the cloud publishes for this status.
    pub fn to_pidf(self, entity: &str) -> Pidf {
        let (open, activity) = match self {
            Self::Online => (true, None),
            Self::Away => (true, Some("away")),
            Self::Busy => (true, Some("busy")),
            Self::Invisible | Self::Offline => (false, None),
        };
        Pidf { entity: entity.to_owned(), open, activities: activity.into_iter().map(String::from).collect() }
    }

    /// What a Skype client shows for a PIDF document.
    pub fn from_pidf(p: &Pidf) -> Self {
        let has = |a: &str| p.activities.iter().any(|x| x == a);
        match (p.open, has("busy"), has("away")) {
            (false, _, _) => Self::Offline,
            (true, true, _) => Self::Busy,
            (true, false, true) => Self::Away,
            _ => Self::Online,
        }
    }
}

/// Addresses and ids of one new request from the cloud, drawn by the agent.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Via value (with branch).
    pub via: String,
    /// Sender URI.
    pub from_uri: String,
    /// Sender tag.
    pub from_tag: String,
    /// Target URI (also the Request-URI).
    pub to_uri: String,
    /// Call-ID.
    pub call_id: String,
}

impl Envelope {
    fn request(&self, method: Method, cseq: &str) -> MessageBuilder {
        MessageBuilder::request(method, &self.to_uri)
            .header("Via", &self.via)
            .header("Max-Forwards", 70)
            .header("From", format!("<{}>;tag={}", self.from_uri, self.from_tag))
            .header("To", format!("<{}>", self.to_uri))
            .header("Call-ID", &self.call_id)
            .header("CSeq", cseq)
    }
}

/// A call INVITE from the cloud on behalf of a Skype user: one plain RTP/AVP SDP.
pub fn call_invite(profile: &SkypeProfile, env: &Envelope, contact: &str, sdp: Vec<u8>) -> Message {
    env.request(Method::INVITE, "1 INVITE")
        .header("Contact", format!("<{contact}>"))
        .header("User-Agent", &profile.user_agent)
        .body("application/sdp", sdp)
        .build()
}

/// A presence SUBSCRIBE from the cloud on behalf of a Skype user (a contact request).
pub fn presence_subscribe(profile: &SkypeProfile, env: &Envelope, contact: &str, expires: u32) -> Message {
    env.request(Method::SUBSCRIBE, "1 SUBSCRIBE")
        .header("Contact", format!("<{contact}>"))
        .header("User-Agent", &profile.user_agent)
        .header("Event", "presence")
        .header("Accept", &profile.presence_accept)
        .header("Expires", expires)
        .build()
}

/// A directory search for an address: an OPTIONS to it.
pub fn search(profile: &SkypeProfile, env: &Envelope) -> Message {
    env.request(Method::OPTIONS, "1 OPTIONS")
        .header("User-Agent", &profile.user_agent)
        .header("Accept", "application/sdp")
        .build()
}

/// What a Skype watcher shows for a notification body, if it carries presence.
pub fn shown_state(msg: &Message) -> Result<Option<SkypeState>, String> {
    let Some(ct) = msg.content_type().map_err(|e| e.to_string())? else {
        // RFC 3261 §20.15: a body needs its type; an untyped one is not "no presence".
        return if msg.body().is_empty() { Ok(None) } else { Err("a body without Content-Type".into()) };
    };
    if ct.essence != super::pidf::CONTENT_TYPE {
        return Err(format!("a presence notification of type {}", ct.essence));
    }
    Pidf::parse(&String::from_utf8_lossy(msg.body()))
        .map(|p| Some(SkypeState::from_pidf(&p)))
        .map_err(|e| e.to_string())
}
