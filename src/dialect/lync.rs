//! The enterprise leg as a Lync 2013 pool presents its users ("lync-2013" profile,
//! PROTOCOL.md §1.5 and §9.1): IM sessions are INVITE-based, the first message rides in the
//! INVITE's `ms-text-format` header, later ones are in-dialog MESSAGEs.

use serde::Deserialize;

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
    /// ms-keep-alive header value.
    pub keep_alive: String,
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

/// Addresses and ids of one request, supplied by the agent.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    /// Via value (with branch).
    pub via: &'a str,
    /// Caller URI.
    pub from_uri: &'a str,
    /// Caller tag.
    pub from_tag: &'a str,
    /// Caller endpoint id (Lync `epid`).
    pub epid: &'a str,
    /// Callee URI (also the Request-URI).
    pub to_uri: &'a str,
    /// Call-ID.
    pub call_id: &'a str,
    /// Contact URI (GRUU).
    pub contact: &'a str,
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

/// An IM INVITE carrying the first message in `ms-text-format`.
pub fn im_invite(profile: &LyncProfile, env: &Envelope<'_>, conversation_id: &str, text: &str, host: &str) -> Message {
    let mut b = MessageBuilder::request(Method::INVITE, env.to_uri)
        .header("Via", env.via)
        .header("Max-Forwards", 70)
        .header("From", format!("<{}>;tag={};epid={}", env.from_uri, env.from_tag, env.epid))
        .header("To", format!("<{}>", env.to_uri))
        .header("Call-ID", env.call_id)
        .header("CSeq", "1 INVITE")
        .header("Contact", format!("<{}>", env.contact))
        .header("User-Agent", &profile.user_agent);
    for s in &profile.im_invite_supported {
        b = b.header("Supported", s);
    }
    b.header("Ms-Conversation-ID", conversation_id)
        .header("ms-text-format", MsTextFormat::plain(text))
        .header("ms-keep-alive", &profile.keep_alive)
        .header("Allow", &profile.allow)
        .header("EndPoints", format!("<{}>, <{}>", env.from_uri, env.to_uri))
        .header("Roster-Manager", env.from_uri)
        .body("application/sdp", im_sdp_offer(profile, host))
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

/// The text of an in-dialog IM MESSAGE (text/plain with optional `msgr`).
pub fn message_text(msg: &Message) -> Option<String> {
    let ct = msg.content_type().ok().flatten()?;
    (ct.essence == "text/plain").then(|| String::from_utf8_lossy(msg.body()).into_owned())
}

/// Content-Type of an in-dialog IM MESSAGE.
pub const IM_CONTENT_TYPE: &str = "text/plain; charset=UTF-8";
