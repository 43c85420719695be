//! `multipart/*` bodies (RFC 2046 §5.1): Lync sends `multipart/alternative` for IM (text/plain +
//! text/html) and for call offers (fallback SDP + ICE SDP). Parts keep their exact bytes.

use super::error::{FaultKind, Result, WireError};
use super::message::find_head_end;

/// One body part: its headers (name, value) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Part headers in order.
    pub headers: Vec<(String, String)>,
    /// Part body.
    pub body: Vec<u8>,
}

impl Part {
    /// A part header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > hay.len() {
        return None;
    }
    hay[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// Splits a multipart body on `boundary`.
pub fn parse(boundary: &str, body: &[u8]) -> Result<Vec<Part>> {
    let err = |d: &str| WireError::new(FaultKind::HeaderValue, d.to_owned()).in_header("Content-Type");
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut pos = find(body, d, 0).ok_or_else(|| err("multipart body has no opening boundary"))?;
    let mut parts = Vec::new();
    loop {
        let after = pos + d.len();
        if body[after..].starts_with(b"--") {
            return Ok(parts);
        }
        let start = match body[after..].iter().position(|b| *b == b'\n') {
            Some(p) => after + p + 1,
            None => return Err(err("multipart boundary line is not terminated")),
        };
        let next = find(body, d, start).ok_or_else(|| err("multipart body has no closing boundary"))?;
        // The CRLF before the next delimiter belongs to the delimiter (RFC 2046 §5.1.1).
        let mut end = next;
        if end >= start + 2 && &body[end - 2..end] == b"\r\n" {
            end -= 2;
        } else if end > start && body[end - 1] == b'\n' {
            end -= 1;
        }
        let chunk = &body[start..end];
        let (headers, content) = match find_head_end(&[b"\r\n", chunk].concat()) {
            // A part with no headers starts with the blank line.
            _ if chunk.starts_with(b"\r\n") => (Vec::new(), chunk[2..].to_vec()),
            _ => match find_head_end(chunk) {
                Some(h) => {
                    let text = String::from_utf8_lossy(&chunk[..h]);
                    let headers = text
                        .lines()
                        .filter(|l| !l.trim().is_empty())
                        .filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())))
                        .collect();
                    (headers, chunk[h..].to_vec())
                }
                None => (Vec::new(), chunk.to_vec()),
            },
        };
        parts.push(Part { headers, body: content });
        pos = next;
    }
}

/// Writes parts with `boundary`.
pub fn write(boundary: &str, parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        for (n, v) in &p.headers {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&p.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternative_im_body_round_trips() {
        let parts = vec![
            Part {
                headers: vec![("Content-Type".into(), "text/plain; charset=UTF-8".into())],
                body: b"Hello".to_vec(),
            },
            Part {
                headers: vec![("Content-Type".into(), "text/html; charset=UTF-8".into())],
                body: b"<b>Hello</b>".to_vec(),
            },
        ];
        let body = write("alt-boundary", &parts);
        assert_eq!(parse("alt-boundary", &body).unwrap(), parts);
        assert_eq!(parse("alt-boundary", &body).unwrap()[1].header("content-type"), Some("text/html; charset=UTF-8"));
    }

    #[test]
    fn missing_closing_boundary_is_an_error() {
        assert!(parse("b", b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n").is_err());
    }
}
