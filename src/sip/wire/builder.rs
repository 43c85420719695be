//! Writing messages: the builder emits exactly the header lines it is given, in order, with
//! `Name: value` spacing, and appends Content-Length (RFC 3261 §20.14) unless told otherwise.
//! Dialect profiles decide the headers; this layer never adds or reorders any.

use std::fmt::Display;

use super::message::{Field, Message, Method, StartLine};

/// Builds one message.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    start: StartLine,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl MessageBuilder {
    /// A request.
    pub fn request(method: Method, uri: impl Into<String>) -> Self {
        Self::new(StartLine::Request { method, uri: uri.into(), version: "SIP/2.0".into() })
    }

    /// A response with the given code and reason phrase.
    pub fn response(code: u16, reason: impl Into<String>) -> Self {
        Self::new(StartLine::Response { version: "SIP/2.0".into(), code, reason: reason.into() })
    }

    /// A response to `req` (RFC 3261 §8.2.6.2): copies Via, From, To, Call-ID and CSeq, and
    /// adds `to_tag` to To when it has none.
    pub fn response_to(req: &Message, code: u16, reason: impl Into<String>, to_tag: Option<&str>) -> Self {
        let mut b = Self::response(code, reason);
        for v in req.values("Via") {
            b = b.header("Via", v);
        }
        if let Some(f) = req.value("From") {
            b = b.header("From", f);
        }
        if let Some(t) = req.value("To") {
            let has_tag = req.to_addr().map(|a| a.tag().is_some()).unwrap_or(false);
            b = match to_tag {
                Some(tag) if !has_tag => b.header("To", format!("{t};tag={tag}")),
                _ => b.header("To", t),
            };
        }
        if let Some(c) = req.value("Call-ID") {
            b = b.header("Call-ID", c);
        }
        if let Some(c) = req.value("CSeq") {
            b = b.header("CSeq", c);
        }
        b
    }

    /// The CANCEL for a pending INVITE (RFC 3261 §9.1): same Request-URI, top Via (so the
    /// same branch), Route, From, To, Call-ID and CSeq number, method CANCEL.
    pub fn cancel_for(invite: &Message) -> Self {
        let uri = invite.request_uri().unwrap_or_default().to_owned();
        let mut b = Self::request(Method::CANCEL, uri);
        if let Some(v) = invite.value("Via") {
            b = b.header("Via", v);
        }
        b = b.header("Max-Forwards", 70);
        for r in invite.values("Route") {
            b = b.header("Route", r);
        }
        for h in ["From", "To", "Call-ID"] {
            if let Some(v) = invite.value(h) {
                b = b.header(h, v);
            }
        }
        let n = invite.value("CSeq").and_then(|c| c.split_whitespace().next().map(str::to_owned));
        b.header("CSeq", format!("{} CANCEL", n.unwrap_or_else(|| "1".into())))
    }

    fn new(start: StartLine) -> Self {
        Self { start, headers: Vec::new(), body: Vec::new() }
    }

    /// Appends a header line.
    pub fn header(mut self, name: &str, value: impl Display) -> Self {
        self.headers.push((name.to_owned(), value.to_string()));
        self
    }

    /// Appends a header line when `value` is `Some`.
    pub fn header_opt(self, name: &str, value: Option<impl Display>) -> Self {
        match value {
            Some(v) => self.header(name, v),
            None => self,
        }
    }

    /// Sets the body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.headers.push(("Content-Type".into(), content_type.to_owned()));
        self.body = body.into();
        self
    }

    /// Writes the message.
    pub fn build(self) -> Message {
        let mut bytes = Vec::with_capacity(256 + self.body.len());
        match &self.start {
            StartLine::Request { method, uri, version } => {
                bytes.extend_from_slice(format!("{method} {uri} {version}\r\n").as_bytes());
            }
            StartLine::Response { version, code, reason } => {
                bytes.extend_from_slice(format!("{version} {code} {reason}\r\n").as_bytes());
            }
        }
        let mut fields = Vec::with_capacity(self.headers.len() + 1);
        let mut push = |bytes: &mut Vec<u8>, name: &str, value: &str| {
            let line = fields.len() + 2;
            let ns = bytes.len();
            bytes.extend_from_slice(name.as_bytes());
            let ne = bytes.len();
            bytes.extend_from_slice(b": ");
            let vs = bytes.len();
            bytes.extend_from_slice(value.as_bytes());
            let ve = bytes.len();
            bytes.extend_from_slice(b"\r\n");
            fields.push(Field { name: ns..ne, value: vs..ve, line });
        };
        for (n, v) in &self.headers {
            push(&mut bytes, n, v);
        }
        push(&mut bytes, "Content-Length", &self.body.len().to_string());
        bytes.extend_from_slice(b"\r\n");
        let body_start = bytes.len();
        bytes.extend_from_slice(&self.body);
        let end = bytes.len();
        Message::from_parts(bytes, self.start, fields, body_start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_bytes_parse_back_to_the_same_message() {
        let m = MessageBuilder::request(Method::BENOTIFY, "sip:alice@contoso.com")
            .header("Via", "SIP/2.0/TCP 127.0.0.1:5061;branch=z9hG4bKabc")
            .header("CSeq", "3 BENOTIFY")
            .body("text/plain", "hi")
            .build();
        let parsed = Message::parse_datagram(m.as_bytes()).unwrap();
        assert_eq!(parsed, m);
        assert_eq!(parsed.value("content-length").as_deref(), Some("2"));
        assert_eq!(parsed.method(), Some(&Method::BENOTIFY));
    }

    #[test]
    fn replacing_the_top_via_keeps_every_other_byte() {
        let m = MessageBuilder::request(Method::MESSAGE, "sip:bob@contoso.com")
            .header("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc")
            .header("v", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKdef")
            .body("text/plain", "hi")
            .build();
        let m2 = m.with_first_value("via", "SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKabc").unwrap();
        let vias: Vec<String> = m2.values("Via").map(|v| v.into_owned()).collect();
        assert_eq!(
            vias,
            ["SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKabc", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKdef"]
        );
        assert_eq!(m2.body(), b"hi");
        assert!(m.with_first_value("Route", "x").is_err());
        assert!(m.with_first_value("Via", "a\r\nX: y").is_err());
    }

    #[test]
    fn cancel_copies_the_invites_top_via_and_cseq_number_only() {
        let invite = MessageBuilder::request(Method::INVITE, "sip:bob@live.com")
            .header("Via", "SIP/2.0/TCP 127.0.0.1:5061;branch=z9hG4bKabc")
            .header("Via", "SIP/2.0/TCP 10.0.0.1:5061;branch=z9hG4bKdef")
            .header("Max-Forwards", 69)
            .header("From", "<sip:alice@contoso.com>;tag=1")
            .header("To", "<sip:bob@live.com>")
            .header("Call-ID", "c1")
            .header("CSeq", "7 INVITE")
            .header("Route", "<sip:edge;lr>")
            .body("application/sdp", "v=0\r\n")
            .build();
        let c = MessageBuilder::cancel_for(&invite).build();
        assert_eq!(c.method(), Some(&Method::CANCEL));
        assert_eq!(c.request_uri(), Some("sip:bob@live.com"));
        let vias: Vec<String> = c.values("Via").map(|v| v.into_owned()).collect();
        assert_eq!(vias, ["SIP/2.0/TCP 127.0.0.1:5061;branch=z9hG4bKabc"]);
        assert_eq!(c.value("CSeq").as_deref(), Some("7 CANCEL"));
        assert_eq!(c.value("To").as_deref(), Some("<sip:bob@live.com>"));
        assert_eq!(c.value("Route").as_deref(), Some("<sip:edge;lr>"));
        assert!(c.body().is_empty());
        assert!(c.validate().is_ok());
    }
}
