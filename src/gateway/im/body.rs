//! IM bodies (flows.md "IM sessions"): what Lync sends read down to the one text the consumer
//! leg carries, Lync's body for a consumer text, and the two typing documents (Lync's
//! KeyboardActivity INFO, RFC 3994 isComposing). Pure functions: no I/O, no state.

use crate::gateway::reply::Refusal;
use crate::gateway::xml::{self, Item};
use crate::html;
use crate::net::token;
use crate::sip::wire::multipart::{self, Part};
use crate::sip::wire::{MediaType, Message};

/// The consumer leg's IM type, and the plain part (or whole body) towards Lync.
pub(super) const PLAIN: &str = "text/plain; charset=UTF-8";
const HTML: &str = "text/html; charset=UTF-8";
/// RFC 3994 typing on the consumer leg.
pub(super) const ISCOMPOSING: &str = "application/im-iscomposing+xml";
/// Lync's typing INFO.
pub(super) const KEYBOARD: &str = "application/xml";
/// What an in-dialog MESSAGE from Lync may carry.
const LYNC_ACCEPT: &str = "text/plain, text/html, multipart/alternative";
/// What a typing INFO from Lync may carry.
const INFO_ACCEPT: &str = "application/xml";
/// What a consumer MESSAGE may carry.
const CONSUMER_ACCEPT: &str = "text/plain, application/im-iscomposing+xml";
const ISCOMPOSING_NS: &str = "urn:ietf:params:xml:ns:im-iscomposing";

/// A typing indication, whichever leg's form it came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Typing {
    /// KeyboardActivity `type`, isComposing `active`.
    Active,
    /// KeyboardActivity `idle`, isComposing `idle`.
    Idle,
}

/// What a consumer MESSAGE carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ConsumerIm {
    Text(String),
    Typing(Typing),
}

/// The Content-Type of a request; a missing one is refused like an unknown one, so that the
/// sender learns from `Accept` what to send.
fn content_type(req: &Message, accept: &'static str) -> Result<MediaType, Refusal> {
    match req.content_type() {
        Ok(Some(ct)) => Ok(ct),
        Ok(None) => Err(Refusal::unsupported(accept)),
        Err(e) => Err(Refusal::bad(format!("Bad Content-Type: {e}"))),
    }
}

fn utf8(body: &[u8], what: &str) -> Result<String, Refusal> {
    String::from_utf8(body.to_vec()).map_err(|_| Refusal::bad(format!("{what} is not UTF-8")))
}

fn html_text(body: &[u8]) -> Result<String, Refusal> {
    html::to_text(&utf8(body, "text/html body")?).map_err(|e| Refusal::bad(format!("Unreadable text/html body: {e}")))
}

/// The text of an in-dialog MESSAGE from Lync: plain as it is, HTML as its character data,
/// multipart/alternative as its plain part, else its HTML part. `None` for a type that holds
/// no text the consumer leg can carry.
fn text_of(ct: &MediaType, body: &[u8]) -> Result<Option<String>, Refusal> {
    match ct.essence.as_str() {
        "text/plain" => utf8(body, "text/plain body").map(Some),
        "text/html" => html_text(body).map(Some),
        "multipart/alternative" => {
            let boundary = ct
                .param("boundary")
                .filter(|b| !b.is_empty())
                .ok_or_else(|| Refusal::bad("multipart/alternative without boundary"))?;
            let parts = multipart::parse(boundary, body)
                .map_err(|e| Refusal::bad(format!("Unreadable multipart/alternative body: {e}")))?;
            let mut typed = Vec::with_capacity(parts.len());
            for p in &parts {
                // RFC 2046 §5.1: a part without Content-Type is plain text.
                let essence = match p.header("Content-Type") {
                    None => "text/plain".to_owned(),
                    Some(v) => {
                        MediaType::parse(v)
                            .map_err(|e| {
                                Refusal::bad(format!("Bad Content-Type in a multipart/alternative part: {e}"))
                            })?
                            .essence
                    }
                };
                typed.push((essence, p));
            }
            let pick = |want: &str| typed.iter().find(|(e, _)| e == want).map(|(_, p)| p.body.as_slice());
            match (pick("text/plain"), pick("text/html")) {
                (Some(plain), _) => utf8(plain, "text/plain part").map(Some),
                (None, Some(html)) => html_text(html).map(Some),
                (None, None) => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

/// The one text an in-dialog MESSAGE from Lync delivers, or why it is refused.
pub(super) fn lync_text(req: &Message) -> Result<String, Refusal> {
    let ct = content_type(req, LYNC_ACCEPT)?;
    text_of(&ct, req.body())?.ok_or_else(|| Refusal::unsupported(LYNC_ACCEPT))
}

/// The root element of an XML body and the elements right under it (with the text of each).
fn root_and_children(body: &[u8], what: &str) -> Result<(xml::Element, Vec<(xml::Element, String)>), Refusal> {
    let items = xml::read(body).map_err(|e| Refusal::bad(format!("Unreadable {what}: {e}")))?;
    let mut iter = items.into_iter();
    let Some(Item::Open(root)) = iter.next() else { return Err(Refusal::bad(format!("{what} has no root"))) };
    let (mut depth, mut children) = (1usize, Vec::new());
    for item in iter {
        match item {
            Item::Open(e) => {
                if depth == 1 {
                    children.push((e, String::new()));
                }
                depth += 1;
            }
            Item::Close => depth -= 1,
            Item::Text(t) if depth == 2 => {
                if let Some((_, text)) = children.last_mut() {
                    text.push_str(&t);
                }
            }
            Item::Text(_) => {}
        }
    }
    Ok((root, children))
}

/// The typing state of a Lync INFO: `<KeyboardActivity><status status="type|idle"/>`.
pub(super) fn lync_typing(req: &Message) -> Result<Typing, Refusal> {
    let ct = content_type(req, INFO_ACCEPT)?;
    if ct.essence != KEYBOARD {
        return Err(Refusal::unsupported(INFO_ACCEPT));
    }
    let (root, children) = root_and_children(req.body(), "KeyboardActivity")?;
    if !root.is("", "KeyboardActivity") {
        return Err(Refusal::bad(format!("<{}> is not a KeyboardActivity document", root.local)));
    }
    let status = children.iter().find(|(e, _)| e.is("", "status")).and_then(|(e, _)| e.attr("", "status"));
    match status {
        Some("type") => Ok(Typing::Active),
        Some("idle") => Ok(Typing::Idle),
        Some(other) => Err(Refusal::bad(format!("KeyboardActivity status `{other}` is neither type nor idle"))),
        None => Err(Refusal::bad("KeyboardActivity without <status status=…>")),
    }
}

/// What a consumer MESSAGE carries: text/plain (possibly empty) or RFC 3994 typing.
pub(super) fn consumer_im(req: &Message) -> Result<ConsumerIm, Refusal> {
    let ct = content_type(req, CONSUMER_ACCEPT)?;
    match ct.essence.as_str() {
        "text/plain" => utf8(req.body(), "text/plain body").map(ConsumerIm::Text),
        ISCOMPOSING => {
            let (root, children) = root_and_children(req.body(), "isComposing")?;
            if !root.is(ISCOMPOSING_NS, "isComposing") {
                return Err(Refusal::bad(format!("<{}> in `{}` is not an isComposing document", root.local, root.ns)));
            }
            let state = children.iter().find(|(e, _)| e.is(ISCOMPOSING_NS, "state")).map(|(_, t)| t.trim());
            match state {
                Some("active") => Ok(ConsumerIm::Typing(Typing::Active)),
                Some("idle") => Ok(ConsumerIm::Typing(Typing::Idle)),
                Some(other) => Err(Refusal::bad(format!("isComposing state `{other}` is neither active nor idle"))),
                None => Err(Refusal::bad("isComposing without <state>")),
            }
        }
        _ => Err(Refusal::unsupported(CONSUMER_ACCEPT)),
    }
}

/// The consumer leg's typing document (flows.md form: `refresh` only while active).
pub(super) fn iscomposing(t: Typing) -> String {
    let inner = match t {
        Typing::Active => "<state>active</state><contenttype>text/plain</contenttype><refresh>60</refresh>",
        Typing::Idle => "<state>idle</state>",
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<isComposing xmlns=\"{ISCOMPOSING_NS}\">{inner}</isComposing>"
    )
}

/// Lync's typing document.
pub(super) fn keyboard_activity(t: Typing) -> String {
    let status = match t {
        Typing::Active => "type",
        Typing::Idle => "idle",
    };
    format!("<?xml version=\"1.0\"?>\r\n<KeyboardActivity><status status=\"{status}\" /></KeyboardActivity>")
}

/// True when an SDP body's `a=accept-types` lists both `multipart/alternative` and
/// `text/html`: the Lync side then gets the text as plain and HTML alternatives.
pub(super) fn offers_rich(msg: &Message) -> bool {
    if msg.content_type().ok().flatten().is_none_or(|ct| ct.essence != "application/sdp") {
        return false;
    }
    let sdp = String::from_utf8_lossy(msg.body());
    let types: Vec<&str> = sdp
        .lines()
        .filter_map(|l| l.trim().strip_prefix("a=accept-types:"))
        .flat_map(str::split_ascii_whitespace)
        .collect();
    let has = |t: &str| types.iter().any(|x| x.eq_ignore_ascii_case(t));
    has("multipart/alternative") && has("text/html")
}

/// The Content-Type and body of an in-dialog MESSAGE to Lync carrying `text`: with `rich`,
/// multipart/alternative whose HTML part is the escaped text (a Lync client shows the last
/// part it renders, so raw text there would show the wrong thing); else plain text.
pub(super) fn lync_body(text: &str, rich: bool, rng: &mut fastrand::Rng) -> (String, Vec<u8>) {
    if !rich {
        return (PLAIN.to_owned(), text.as_bytes().to_vec());
    }
    let html = html::from_text(text);
    // A delimiter must not occur inside a part (RFC 2046 §5.1.1).
    let boundary = loop {
        let b = token(rng, 24);
        if !text.contains(&b) && !html.contains(&b) {
            break b;
        }
    };
    let part = |ct: &str, body: &str| Part { headers: vec![("Content-Type".into(), ct.into())], body: body.into() };
    let body = multipart::write(&boundary, &[part(PLAIN, text), part(HTML, &html)]);
    (format!("multipart/alternative;boundary={boundary}"), body)
}

#[cfg(test)]
mod tests;
