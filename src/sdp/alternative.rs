//! `multipart/alternative` call offers ([PROTOCOL.md §1.6] step 1, [MS-SIPRE] §3.15.5.2): Lync
//! sends two `application/sdp` parts, the ICEv6 (draft-6) offer first, marked
//! `ms-proxy-2007fallback` in its Content-Disposition, then the ICE v19 offer. This module writes
//! such a body and reads one (or a plain `application/sdp` body) back into SDP values.

use crate::sip::wire::MediaType;
use crate::sip::wire::multipart::{self, Part};

use super::error::{Result, SdpError};
use super::session::Sdp;

/// Content-Disposition of the fallback (draft-6) part.
pub const FALLBACK_DISPOSITION: &str = "session; handling=optional; ms-proxy-2007fallback";
/// Content-Disposition of the ICE v19 part.
pub const ICE_DISPOSITION: &str = "session; handling=optional";

/// One SDP part to write: its Content-ID (without angle brackets) and the description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferPart {
    /// Content-ID, e.g. `4d3c…@contoso.com`.
    pub content_id: String,
    /// The offer.
    pub sdp: Sdp,
}

/// A body ready for a SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// The Content-Type header value.
    pub content_type: String,
    /// The body bytes.
    pub bytes: Vec<u8>,
}

/// Writes the two-part Lync offer: `fallback` (draft-6) first, then `ice` (ICE v19). The
/// boundary and Content-IDs come from the caller (sans-IO: randomness is injected).
pub fn write(boundary: &str, fallback: &OfferPart, ice: &OfferPart) -> Body {
    let part = |p: &OfferPart, disposition: &str| Part {
        headers: vec![
            ("Content-Type".to_owned(), "application/sdp".to_owned()),
            ("Content-Transfer-Encoding".to_owned(), "7bit".to_owned()),
            ("Content-ID".to_owned(), format!("<{}>", p.content_id)),
            ("Content-Disposition".to_owned(), disposition.to_owned()),
        ],
        body: p.sdp.to_bytes(),
    };
    let parts = [part(fallback, FALLBACK_DISPOSITION), part(ice, ICE_DISPOSITION)];
    Body {
        content_type: format!("multipart/alternative;boundary=\"{boundary}\""),
        bytes: multipart::write(boundary, &parts),
    }
}

/// One SDP read from a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPart {
    /// The description.
    pub sdp: Sdp,
    /// Whether the part is the `ms-proxy-2007fallback` (draft-6) alternative.
    pub fallback: bool,
    /// Content-ID without angle brackets, when the part had one.
    pub content_id: Option<String>,
}

/// Reads a body given its Content-Type value: one part for `application/sdp`, every part of a
/// `multipart/alternative` (each must be `application/sdp` in 7bit, 8bit or binary), in body
/// order.
pub fn read(content_type: &str, body: &[u8]) -> Result<Vec<ReadPart>> {
    let bad = |expected| SdpError::ContentType { value: content_type.to_owned(), expected };
    let mt = MediaType::parse(content_type).map_err(|_| bad("a type/subtype"))?;
    match mt.essence.as_str() {
        "application/sdp" => Ok(vec![ReadPart { sdp: Sdp::parse(body)?, fallback: false, content_id: None }]),
        "multipart/alternative" => {
            let boundary = mt.param("boundary").filter(|b| !b.is_empty()).ok_or(bad("a boundary parameter"))?;
            let parts = multipart::parse(boundary, body)?;
            if parts.is_empty() {
                return Err(SdpError::Part { part: 1, detail: "the body has no parts".to_owned() });
            }
            parts.iter().enumerate().map(|(i, p)| read_part(i + 1, p)).collect()
        }
        _ => Err(bad("application/sdp or multipart/alternative")),
    }
}

fn read_part(n: usize, p: &Part) -> Result<ReadPart> {
    let fail = |detail: String| SdpError::Part { part: n, detail };
    let ct = p.header("Content-Type").unwrap_or("text/plain");
    let is_sdp = MediaType::parse(ct).is_ok_and(|m| m.essence == "application/sdp");
    if !is_sdp {
        return Err(fail(format!("Content-Type `{ct}`: expected application/sdp")));
    }
    if let Some(cte) = p.header("Content-Transfer-Encoding")
        && !["7bit", "8bit", "binary"].iter().any(|e| e.eq_ignore_ascii_case(cte.trim()))
    {
        return Err(fail(format!("Content-Transfer-Encoding `{cte}`: expected 7bit, 8bit or binary")));
    }
    // A disposition parameter is a token after a `;`; match whole tokens only.
    let fallback = p
        .header("Content-Disposition")
        .is_some_and(|d| d.split(';').skip(1).any(|t| t.trim().eq_ignore_ascii_case("ms-proxy-2007fallback")));
    let content_id = p.header("Content-ID").map(|c| c.trim().trim_start_matches('<').trim_end_matches('>').to_owned());
    let sdp = Sdp::parse(&p.body).map_err(|e| fail(e.to_string()))?;
    Ok(ReadPart { sdp, fallback, content_id })
}
