//! The consumer leg as the harness's Skype cloud speaks it ("skype-consumer" profile,
//! PROTOCOL.md §9.2): pager-mode MESSAGE (RFC 3428) with a text/plain body.

use serde::Deserialize;

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

/// A pager-mode IM.
pub fn pager_message(
    profile: &SkypeProfile,
    via: &str,
    from_uri: &str,
    from_tag: &str,
    to_uri: &str,
    call_id: &str,
    text: &str,
) -> Message {
    MessageBuilder::request(Method::MESSAGE, to_uri)
        .header("Via", via)
        .header("Max-Forwards", 70)
        .header("From", format!("<{from_uri}>;tag={from_tag}"))
        .header("To", format!("<{to_uri}>"))
        .header("Call-ID", call_id)
        .header("CSeq", "1 MESSAGE")
        .header("User-Agent", &profile.user_agent)
        .body(&profile.im_content_type, text.as_bytes().to_vec())
        .build()
}

/// The text of a pager MESSAGE, when it is text/plain.
pub fn message_text(msg: &Message) -> Option<String> {
    let ct = msg.content_type().ok().flatten()?;
    (msg.method() == Some(&Method::MESSAGE) && ct.essence == "text/plain")
        .then(|| String::from_utf8_lossy(msg.body()).into_owned())
}
