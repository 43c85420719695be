//! IM content as the harness's users write and read it (PROTOCOL.md §1.5, §9.2,
//! `scenarios/dialects/flows.md`): Lync's text/plain with `msgr` font information, text/html
//! and multipart/alternative bodies, Lync typing (`KeyboardActivity` INFO) and consumer typing
//! (RFC 3994 `isComposing`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::xml::Element;
use crate::sip::wire::multipart::{self, Part};
use crate::sip::wire::{MediaType, Message};

/// Lync's typing document type (an INFO body).
pub const KEYBOARD_ACTIVITY: &str = "application/xml";
/// RFC 3994's typing document type (a MESSAGE body).
pub const IS_COMPOSING: &str = "application/im-iscomposing+xml";
/// The plain text type both sides write.
pub const TEXT_PLAIN: &str = "text/plain; charset=UTF-8";

/// A typing indication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typing {
    /// The user is typing (Lync `type`, RFC 3994 `active`).
    Active,
    /// The user stopped (Lync and RFC 3994 `idle`).
    Idle,
}

/// How a Lync user's client writes an in-dialog IM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImFormat {
    /// `text/plain` with the `msgr` font parameter.
    Plain,
    /// `text/html` only.
    Html,
    /// `multipart/alternative`: text/plain, then text/html.
    Alternative,
}

impl std::str::FromStr for ImFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text/plain" => Ok(Self::Plain),
            "text/html" => Ok(Self::Html),
            "multipart/alternative" => Ok(Self::Alternative),
            other => Err(format!("`{other}` is not an IM format (text/plain, text/html, multipart/alternative)")),
        }
    }
}

/// The `msgr` value for a font description (`X-MMS-IM-Format: FN=…; EF=; CO=…; CS=…; PF=…`,
/// [MS-CONFIM] §4.2.1): base64 of the text, as Lync writes it.
pub fn msgr(font: &str) -> String {
    STANDARD.encode(font.as_bytes())
}

/// The HTML a Lync client writes for a text in its default font.
fn lync_html(text: &str) -> String {
    format!("<span style=\"font-family:Segoe UI;color:#000000\">{}</span>", crate::html::from_text(text))
}

/// Content-Type and body of a Lync in-dialog IM; `boundary` is used for multipart.
pub fn lync_body(format: ImFormat, text: &str, font: &str, boundary: &str) -> (String, Vec<u8>) {
    let plain_type = format!("{TEXT_PLAIN}; msgr={}", msgr(font));
    match format {
        ImFormat::Plain => (plain_type, text.as_bytes().to_vec()),
        ImFormat::Html => ("text/html; charset=UTF-8".to_owned(), lync_html(text).into_bytes()),
        ImFormat::Alternative => {
            let part = |ct: &str, body: Vec<u8>| Part { headers: vec![("Content-Type".into(), ct.to_owned())], body };
            let parts = [
                part(&plain_type, text.as_bytes().to_vec()),
                part("text/html; charset=UTF-8", lync_html(text).into_bytes()),
            ];
            (format!("multipart/alternative; boundary={boundary}"), multipart::write(boundary, &parts))
        }
    }
}

/// Why a body cannot be shown as an IM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// A type the reader does not render (answer 415).
    Unsupported(String),
    /// A type it renders, written wrongly (answer 400).
    Malformed(String),
}

/// What a Lync client shows for an IM body, and whether the body contradicts itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The text shown.
    pub text: String,
    /// Set when the alternatives of a multipart/alternative body do not say the same thing.
    pub disagreement: Option<String>,
}

/// The text a Lync client shows for a MESSAGE: text/plain as it is, text/html as rendered
/// text, multipart/alternative by its last part it can render (RFC 2046 §5.1.4). Every
/// renderable alternative must carry the same text.
pub fn lync_shown(msg: &Message) -> Result<Shown, BodyError> {
    let ct = match msg.content_type() {
        Ok(Some(ct)) => ct,
        Ok(None) if msg.body().is_empty() => return Ok(Shown { text: String::new(), disagreement: None }),
        Ok(None) => return Err(BodyError::Malformed("a body without Content-Type".into())),
        Err(e) => return Err(BodyError::Malformed(e.to_string())),
    };
    if ct.essence != "multipart/alternative" {
        return single(&ct, msg.body()).map(|text| Shown { text, disagreement: None });
    }
    let boundary = ct.param("boundary").ok_or_else(|| BodyError::Malformed("multipart without boundary".into()))?;
    let parts = multipart::parse(boundary, msg.body()).map_err(|e| BodyError::Malformed(e.to_string()))?;
    let mut texts = Vec::new();
    for p in &parts {
        let pct = MediaType::parse(p.header("Content-Type").unwrap_or("text/plain"))
            .map_err(|e| BodyError::Malformed(format!("part: {e}")))?;
        match single(&pct, &p.body) {
            Ok(t) => texts.push((pct.essence, t)),
            Err(BodyError::Unsupported(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let (_, text) = texts
        .last()
        .cloned()
        .ok_or_else(|| BodyError::Unsupported("multipart/alternative without a text part".into()))?;
    let disagreement = texts
        .iter()
        .find(|(_, t)| *t != text)
        .map(|(ty, t)| format!("its {ty} part says {t:?} but the part shown says {text:?}"));
    Ok(Shown { text, disagreement })
}

fn single(ct: &MediaType, body: &[u8]) -> Result<String, BodyError> {
    let text = std::str::from_utf8(body).map_err(|_| BodyError::Malformed(format!("{} body is not UTF-8", ct.essence)));
    match ct.essence.as_str() {
        "text/plain" => text.map(str::to_owned),
        "text/html" => crate::html::to_text(text?).map_err(BodyError::Malformed),
        other => Err(BodyError::Unsupported(other.to_owned())),
    }
}

/// The consumer cloud's reading of a pager MESSAGE: text/plain only.
pub fn consumer_text(msg: &Message) -> Result<String, BodyError> {
    match msg.content_type() {
        Ok(Some(ct)) if ct.essence == "text/plain" => single(&ct, msg.body()),
        Ok(Some(ct)) => Err(BodyError::Unsupported(ct.essence)),
        Ok(None) if msg.body().is_empty() => Ok(String::new()),
        Ok(None) => Err(BodyError::Malformed("a body without Content-Type".into())),
        Err(e) => Err(BodyError::Malformed(e.to_string())),
    }
}

/// A Lync `KeyboardActivity` document.
pub fn keyboard_activity(t: Typing) -> String {
    let status = match t {
        Typing::Active => "type",
        Typing::Idle => "idle",
    };
    format!(
        "<?xml version=\"1.0\"?>\r\n<KeyboardActivity>\r\n  <status status=\"{status}\" />\r\n</KeyboardActivity>\r\n"
    )
}

/// Reads a `KeyboardActivity` document.
pub fn read_keyboard_activity(body: &str) -> Result<Typing, String> {
    let root = Element::parse(body).map_err(|e| e.to_string())?;
    if root.name != "KeyboardActivity" {
        return Err(format!("root element is <{}>, not <KeyboardActivity>", root.name));
    }
    match root.child("status").and_then(|s| s.attr("status")) {
        Some("type") => Ok(Typing::Active),
        Some("idle") => Ok(Typing::Idle),
        Some(other) => Err(format!("status=\"{other}\" is neither type nor idle")),
        None => Err("no <status status=…/>".into()),
    }
}

/// An RFC 3994 `isComposing` document: `active` with a 60 s refresh, or `idle`.
pub fn is_composing(t: Typing) -> String {
    let state = match t {
        Typing::Active => "<state>active</state><contenttype>text/plain</contenttype><refresh>60</refresh>",
        Typing::Idle => "<state>idle</state>",
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\">{state}</isComposing>\r\n"
    )
}

/// Reads an `isComposing` document.
pub fn read_is_composing(body: &str) -> Result<Typing, String> {
    let root = Element::parse(body).map_err(|e| e.to_string())?;
    if root.name != "isComposing" {
        return Err(format!("root element is <{}>, not <isComposing>", root.name));
    }
    match root.child("state").map(|s| s.text.as_str()) {
        Some("active") => Ok(Typing::Active),
        Some("idle") => Ok(Typing::Idle),
        Some(other) => Err(format!("<state>{other}</state> is neither active nor idle")),
        None => Err("no <state>".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::wire::{MessageBuilder, Method};

    fn message(ct: &str, body: Vec<u8>) -> Message {
        MessageBuilder::request(Method::MESSAGE, "sip:a@b").header("CSeq", "2 MESSAGE").body(ct, body).build()
    }

    #[test]
    fn each_lync_format_shows_the_text_it_was_written_from() {
        let text = "5 < 6 & \"so\"\r\nnext line 👍🏽";
        for f in [ImFormat::Plain, ImFormat::Html, ImFormat::Alternative] {
            let (ct, body) =
                lync_body(f, text, "X-MMS-IM-Format: FN=Segoe%20UI; EF=; CO=000000; CS=0; PF=00", "b0undary");
            let shown = lync_shown(&message(&ct, body)).unwrap();
            assert_eq!(shown, Shown { text: text.to_owned(), disagreement: None }, "{f:?}");
        }
    }

    #[test]
    fn alternatives_that_disagree_are_reported_and_the_last_is_shown() {
        let parts = [
            Part { headers: vec![("Content-Type".into(), "text/plain".into())], body: b"<b>x</b>".to_vec() },
            Part { headers: vec![("Content-Type".into(), "text/html".into())], body: b"<b>x</b>".to_vec() },
        ];
        let m = message("multipart/alternative; boundary=zz", multipart::write("zz", &parts));
        let shown = lync_shown(&m).unwrap();
        assert_eq!(shown.text, "x");
        assert!(shown.disagreement.unwrap().contains("text/plain part says \"<b>x</b>\""));
    }

    #[test]
    fn ink_is_unsupported_and_broken_html_malformed() {
        assert_eq!(
            lync_shown(&message("application/x-ms-ink", b"ISF".to_vec())),
            Err(BodyError::Unsupported("application/x-ms-ink".into()))
        );
        assert!(matches!(lync_shown(&message("text/html", b"<b".to_vec())), Err(BodyError::Malformed(_))));
        assert_eq!(
            consumer_text(&message("image/gif", b"GIF89a".to_vec())),
            Err(BodyError::Unsupported("image/gif".into()))
        );
    }

    #[test]
    fn typing_documents_read_back() {
        for t in [Typing::Active, Typing::Idle] {
            assert_eq!(read_keyboard_activity(&keyboard_activity(t)), Ok(t));
            assert_eq!(read_is_composing(&is_composing(t)), Ok(t));
        }
        assert!(read_keyboard_activity("<KeyboardActivity><status status=\"busy\"/></KeyboardActivity>").is_err());
        assert!(read_is_composing("<isComposing/>").is_err());
    }
}
