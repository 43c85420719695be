//! The XML reading the gateway's documents share (presence: PIDF and msrtc categories; IM
//! typing: KeyboardActivity and isComposing): a well-formed document flattened into
//! namespace-resolved elements and text. Parsers match on namespace URIs and local names, so a
//! peer may bind any prefix it likes.

use quick_xml::NsReader;
use quick_xml::XmlVersion;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

/// Why a document cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DocError(pub String);

impl DocError {
    pub(super) fn new(detail: impl Into<String>) -> Self {
        Self(detail.into())
    }
}

/// An element's start: its namespace URI (empty when unbound), local name and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Element {
    pub ns: String,
    pub local: String,
    /// (namespace URI, local name, value); an unprefixed attribute has no namespace.
    pub attrs: Vec<(String, String, String)>,
}

impl Element {
    /// True for `local` in namespace `ns`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns == ns && self.local == local
    }

    /// The value of an attribute by namespace and local name.
    pub fn attr(&self, ns: &str, local: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, l, _)| n == ns && l == local).map(|(_, _, v)| v.as_str())
    }
}

/// One step through the document. An empty element is an `Open` followed by a `Close`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Item {
    Open(Element),
    Close,
    Text(String),
}

fn ns_of(r: ResolveResult<'_>) -> Result<String, DocError> {
    match r {
        ResolveResult::Bound(ns) => Ok(String::from_utf8_lossy(ns.as_ref()).into_owned()),
        ResolveResult::Unbound => Ok(String::new()),
        ResolveResult::Unknown(p) => Err(DocError::new(format!("undeclared prefix `{}`", String::from_utf8_lossy(&p)))),
    }
}

fn element(reader: &NsReader<&[u8]>, ns: String, e: &BytesStart<'_>) -> Result<Element, DocError> {
    let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| DocError::new(format!("bad attribute in <{local}>: {err}")))?;
        let key = a.key.as_ref();
        if key == b"xmlns" || key.starts_with(b"xmlns:") {
            continue;
        }
        let (ans, alocal) = reader.resolver().resolve_attribute(a.key);
        let value = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| DocError::new(format!("bad attribute value: {err}")))?;
        attrs.push((ns_of(ans)?, String::from_utf8_lossy(alocal.as_ref()).into_owned(), value.into_owned()));
    }
    Ok(Element { ns, local, attrs })
}

/// Reads a whole document: it must be UTF-8, well-formed and have exactly one root element.
pub(super) fn read(body: &[u8]) -> Result<Vec<Item>, DocError> {
    let text = std::str::from_utf8(body).map_err(|_| DocError::new("document is not UTF-8"))?;
    let mut reader = NsReader::from_str(text);
    let mut items = Vec::new();
    let (mut depth, mut roots) = (0usize, 0usize);
    loop {
        let (ns, ev) = reader.read_resolved_event().map_err(|e| DocError::new(format!("not well-formed XML: {e}")))?;
        let ns = ns_of(ns)?;
        match ev {
            Event::Start(e) | Event::Empty(e) if depth == 0 && roots > 0 => {
                return Err(DocError::new(format!(
                    "second root element <{}>",
                    String::from_utf8_lossy(e.local_name().as_ref())
                )));
            }
            Event::Start(e) => {
                let el = element(&reader, ns, &e)?;
                items.push(Item::Open(el));
                roots += usize::from(depth == 0);
                depth += 1;
            }
            Event::Empty(e) => {
                let el = element(&reader, ns, &e)?;
                items.push(Item::Open(el));
                items.push(Item::Close);
                roots += usize::from(depth == 0);
            }
            Event::End(_) => {
                depth = depth.checked_sub(1).ok_or_else(|| DocError::new("unmatched end tag"))?;
                items.push(Item::Close);
            }
            Event::Text(t) => {
                let t = t.xml10_content().map_err(|e| DocError::new(format!("bad text: {e}")))?;
                push_text(&mut items, depth, &t)?;
            }
            Event::CData(c) => {
                let t = c.decode().map_err(|e| DocError::new(format!("bad CDATA: {e}")))?;
                push_text(&mut items, depth, &t)?;
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| DocError::new(format!("bad reference: {e}")))?;
                let ch = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => resolve_predefined_entity(&name)
                        .ok_or_else(|| DocError::new(format!("unknown entity `&{name};`")))?
                        .to_owned(),
                };
                push_text(&mut items, depth, &ch)?;
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if depth != 0 {
        return Err(DocError::new("document ends inside an element"));
    }
    if roots == 0 {
        return Err(DocError::new("no root element"));
    }
    Ok(items)
}

/// Text outside the root may only be white space; adjacent pieces (split by references) join.
fn push_text(items: &mut Vec<Item>, depth: usize, t: &str) -> Result<(), DocError> {
    if depth == 0 {
        return if t.trim().is_empty() { Ok(()) } else { Err(DocError::new("text outside the root element")) };
    }
    if let Some(Item::Text(prev)) = items.last_mut() {
        prev.push_str(t);
    } else {
        items.push(Item::Text(t.to_owned()));
    }
    Ok(())
}

/// Escapes text for an attribute value or element content.
pub(super) fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_through_any_prefix() {
        let items = read(br#"<a:x xmlns:a="urn:a" xmlns:b="urn:b" b:k="v&amp;w"><a:y>1&#50;</a:y></a:x>"#).unwrap();
        let Item::Open(x) = &items[0] else { panic!("{items:?}") };
        assert!(x.is("urn:a", "x"));
        assert_eq!(x.attr("urn:b", "k"), Some("v&w"));
        assert_eq!(items[2], Item::Text("12".into()));
    }

    #[test]
    fn malformed_documents_are_errors() {
        for bad in [&b"<a><b></a>"[..], b"<a>", b"", b"<a/><b/>", b"<p:a/>", b"\xff<a/>", b"<a>&nope;</a>", b"x<a/>"] {
            assert!(read(bad).is_err(), "{:?} should not read", String::from_utf8_lossy(bad));
        }
    }
}
