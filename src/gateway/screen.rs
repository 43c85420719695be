//! Checks every request passes before the gateway acts on it (RFC 3261 §8.2.2, §8.2.3): a
//! Request-URI scheme it cannot serve (416), an extension it is required to support but does
//! not (420, naming them in `Unsupported`), a body in a content coding it cannot read (415,
//! with `Accept-Encoding`). The wire layer already refused what does not parse.

use super::{Inner, Leg};
use crate::sip::txn::TxnId;
use crate::sip::wire::{Message, MessageBuilder, SipUri};

/// Option tags the gateway honours in `Require`: the Lync batched-subscription extensions and
/// what it negotiates itself.
const SUPPORTED: [&str; 4] = ["adhoclist", "categorylist", "ms-benotify", "ms-text-format"];

/// Why a request is refused, and the header that says what would be taken.
fn refusal(req: &Message) -> Option<(u16, &'static str, &'static str, String)> {
    let method = req.method()?.as_str();
    let uri = req.request_uri()?;
    if SipUri::parse(uri).is_err() {
        // 416 names nothing to accept: the empty value leaves the header out.
        return Some((416, "Unsupported URI Scheme", "Accept", String::new()));
    }
    // §8.2.2.3: Require is not checked on CANCEL (nor ACK, which never gets here).
    if method != "CANCEL" {
        let unknown: Vec<String> =
            req.list("Require").into_iter().filter(|t| !SUPPORTED.contains(&t.to_ascii_lowercase().as_str())).collect();
        if !unknown.is_empty() {
            return Some((420, "Bad Extension", "Unsupported", unknown.join(", ")));
        }
    }
    let coded = req.list("Content-Encoding").into_iter().any(|c| !c.eq_ignore_ascii_case("identity"));
    if coded && !req.body().is_empty() {
        return Some((415, "Unsupported Media Type", "Accept-Encoding", "identity".to_owned()));
    }
    None
}

impl Inner {
    /// Refuses `req` when it fails a check; true when it was refused.
    pub(super) fn screen(&self, leg: Leg, id: TxnId, req: &Message) -> bool {
        let Some((code, reason, header, value)) = refusal(req) else { return false };
        let tag = self.tag();
        let mut b = MessageBuilder::response_to(req, code, reason, Some(&tag));
        if !value.is_empty() {
            b = b.header(header, value);
        }
        self.endpoint(leg).respond(id, b.build());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(extra: &str, uri: &str, method: &str, body: &str) -> Message {
        let text = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK1\r\nFrom: <sip:a@contoso.com>;tag=1\r\n\
             To: <sip:b@live.com>\r\nCall-ID: c1\r\nCSeq: 1 {method}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        Message::parse_datagram(text.as_bytes()).unwrap()
    }

    #[test]
    fn each_check_refuses_with_its_code_and_lets_the_rest_through() {
        let code = |m: &Message| refusal(m).map(|r| (r.0, r.3));
        assert_eq!(code(&req("", "mailto:b@live.com", "MESSAGE", "")), Some((416, String::new())));
        assert_eq!(
            code(&req("Require: x-a, adhoclist\r\n", "sip:b@live.com", "MESSAGE", "")),
            Some((420, "x-a".into()))
        );
        assert_eq!(code(&req("Require: x-a\r\n", "sip:b@live.com", "CANCEL", "")), None);
        assert_eq!(code(&req("Require: adhoclist, categoryList\r\n", "sip:b@live.com", "SUBSCRIBE", "")), None);
        assert_eq!(
            code(&req("Content-Encoding: gzip\r\n", "sip:b@live.com", "MESSAGE", "x")),
            Some((415, "identity".into()))
        );
        assert_eq!(code(&req("Content-Encoding: identity\r\n", "sip:b@live.com", "MESSAGE", "x")), None);
        assert_eq!(code(&req("", "sip:b@live.com", "MESSAGE", "x")), None);
    }
}
