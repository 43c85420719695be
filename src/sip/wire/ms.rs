//! Microsoft header values: `ms-text-format` / `ms-im-format` carrying the first IM of an
//! INVITE ([MS-SIP], PROTOCOL.md §1.5) and `ms-diagnostics` ([MS-OCER] §2.2.1.1). The raw
//! header stays in the message byte-exact; these are readers and writers of the value.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::error::{Result, WireError};
use super::headers::split_params;

/// `ms-text-format: text/plain; charset=UTF-8; [msgr=…;] ms-body=<base64>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsTextFormat {
    /// Content type of the embedded message, lower-cased (`text/plain`).
    pub content_type: String,
    /// The `msgr` font parameter, if present (opaque base64).
    pub msgr: Option<String>,
    /// The decoded message text.
    pub text: String,
}

impl MsTextFormat {
    /// Parses the header value.
    pub fn parse(v: &str) -> Result<Self> {
        let err = |d: String| WireError::header_value("ms-text-format", d);
        let mut parts = split_params(v).into_iter();
        let content_type = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let (mut msgr, mut body) = (None, None);
        for p in parts {
            if let Some((n, val)) = p.split_once('=') {
                match n.trim().to_ascii_lowercase().as_str() {
                    "msgr" => msgr = Some(val.trim().to_owned()),
                    "ms-body" => body = Some(val.trim().to_owned()),
                    _ => {}
                }
            }
        }
        let body = body.ok_or_else(|| err("no ms-body parameter".into()))?;
        let bytes = STANDARD.decode(&body).map_err(|e| err(format!("ms-body is not base64: {e}")))?;
        let text = String::from_utf8(bytes).map_err(|_| err("ms-body is not UTF-8".into()))?;
        Ok(Self { content_type, msgr, text })
    }

    /// Writes the header value for plain text.
    pub fn plain(text: &str) -> String {
        format!("text/plain; charset=UTF-8; ms-body={}", STANDARD.encode(text.as_bytes()))
    }

    /// Writes the header value for plain text with `msgr` font information (already base64).
    pub fn plain_with_msgr(text: &str, msgr: &str) -> String {
        format!("text/plain; charset=UTF-8; msgr={msgr}; ms-body={}", STANDARD.encode(text.as_bytes()))
    }
}

/// `ms-diagnostics: <code>;reason="…";source="…"[;name="value"]*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsDiagnostics {
    /// The error id, e.g. `4005`, possibly with a `.sub` part.
    pub code: String,
    /// The `reason` parameter.
    pub reason: Option<String>,
    /// The `source` parameter (absent in `ms-diagnostics-public`).
    pub source: Option<String>,
    /// Other parameters in order.
    pub params: Vec<(String, String)>,
}

impl MsDiagnostics {
    /// Parses the header value.
    pub fn parse(v: &str) -> Result<Self> {
        let mut parts = split_params(v).into_iter();
        let code = parts.next().unwrap_or_default().trim().to_owned();
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(WireError::header_value("ms-diagnostics", format!("`{code}` is not an error id")));
        }
        let (mut reason, mut source, mut params) = (None, None, Vec::new());
        for p in parts {
            let Some((n, val)) = p.split_once('=') else { continue };
            let val = val.trim().trim_matches('"').to_owned();
            match n.trim().to_ascii_lowercase().as_str() {
                "reason" => reason = Some(val),
                "source" => source = Some(val),
                other => params.push((other.to_owned(), val)),
            }
        }
        Ok(Self { code, reason, source, params })
    }

    /// Writes the header value.
    pub fn render(code: u32, reason: &str, source: Option<&str>) -> String {
        match source {
            Some(s) => format!("{code};reason=\"{reason}\";source=\"{s}\""),
            None => format!("{code};reason=\"{reason}\""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ms_text_format_carries_utf8_text_in_base64() {
        let v = MsTextFormat::plain("Hello, Grüße");
        assert_eq!(MsTextFormat::parse(&v).unwrap().text, "Hello, Grüße");
        let with_msgr = "text/plain; charset=UTF-8; msgr=WAAtAE0A; ms-body=SGk=";
        let p = MsTextFormat::parse(with_msgr).unwrap();
        assert_eq!((p.text.as_str(), p.msgr.as_deref()), ("Hi", Some("WAAtAE0A")));
        assert!(MsTextFormat::parse("text/plain; ms-body=***").is_err());
    }

    #[test]
    fn ms_diagnostics_reads_code_reason_and_source() {
        let d = MsDiagnostics::parse(
            "4005;reason=\"Destination URI either not enabled for SIP or does not exist\";source=\"gw.example\"",
        )
        .unwrap();
        assert_eq!(d.code, "4005");
        assert_eq!(d.source.as_deref(), Some("gw.example"));
        assert!(MsDiagnostics::parse("abc;reason=\"x\"").is_err());
    }
}
