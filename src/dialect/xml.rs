//! A small element tree over quick-xml's pull parser, for the harness's presence documents.
//! Names are local (prefixes dropped): the harness reads documents written by any peer, and
//! prefixes are the writer's choice. The documents are a few hundred bytes; a tree keeps the
//! readers short.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// One element: local name, attributes by local name, text, children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Local name.
    pub name: String,
    /// Attributes (local name, unescaped value), in document order.
    pub attrs: Vec<(String, String)>,
    /// Text content directly inside, trimmed.
    pub text: String,
    /// Child elements.
    pub children: Vec<Self>,
}

/// A document that is not well-formed XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not well-formed XML at byte {offset}: {detail}")]
pub struct XmlError {
    /// Byte offset where the reader stopped.
    pub offset: u64,
    /// What is wrong.
    pub detail: String,
}

/// Deepest element nesting accepted.
const MAX_DEPTH: usize = 32;

fn local(name: &[u8]) -> String {
    let s = String::from_utf8_lossy(name);
    s.rsplit(':').next().unwrap_or_default().to_owned()
}

fn open(e: &BytesStart<'_>) -> Result<Element, String> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        attrs.push((
            local(a.key.as_ref()),
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| e.to_string())?.into_owned(),
        ));
    }
    Ok(Element { name: local(e.name().as_ref()), attrs, ..Element::default() })
}

impl Element {
    /// Parses a document and returns its root element.
    pub fn parse(xml: &str) -> Result<Self, XmlError> {
        let mut reader = Reader::from_str(xml);
        reader.config_mut().trim_text(false);
        let mut stack: Vec<Self> = Vec::new();
        let fail = |r: &Reader<&[u8]>, d: String| XmlError { offset: r.buffer_position(), detail: d };
        loop {
            match reader.read_event().map_err(|e| fail(&reader, e.to_string()))? {
                Event::Start(e) => {
                    // Presence documents nest a handful of levels; a deep one is hostile, and a
                    // deep tree would overflow the stack when dropped.
                    if stack.len() >= MAX_DEPTH {
                        return Err(fail(&reader, format!("nested deeper than {MAX_DEPTH} elements")));
                    }
                    stack.push(open(&e).map_err(|d| fail(&reader, d))?);
                }
                Event::Empty(e) => {
                    let el = open(&e).map_err(|d| fail(&reader, d))?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(el),
                        None => return Ok(el),
                    }
                }
                Event::Text(t) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&t.decode().map_err(|e| fail(&reader, e.to_string()))?);
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(top) = stack.last_mut() {
                        let name = r.decode().map_err(|e| fail(&reader, e.to_string()))?;
                        let raw = format!("&{name};");
                        let text = quick_xml::escape::unescape(&raw).map_err(|e| fail(&reader, e.to_string()))?;
                        top.text.push_str(&text);
                    }
                }
                Event::End(_) => {
                    let mut done = stack.pop().ok_or_else(|| fail(&reader, "unbalanced end tag".into()))?;
                    // Trimmed only now: an entity reference splits the text into segments.
                    done.text = done.text.trim().to_owned();
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => return Ok(done),
                    }
                }
                Event::Eof => return Err(fail(&reader, "the document ends before its root element closes".into())),
                _ => {}
            }
        }
    }

    /// An attribute's value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Self> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every element named `name` below this one, depth first.
    pub fn descendants<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Self> + 'a {
        let mut stack: Vec<&Self> = self.children.iter().rev().collect();
        std::iter::from_fn(move || {
            while let Some(e) = stack.pop() {
                stack.extend(e.children.iter().rev());
                if e.name == name {
                    return Some(e);
                }
            }
            None
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_dropped_and_text_is_kept() {
        let e = Element::parse(r#"<?xml version="1.0"?><p:a xmlns:p="x" p:k="v &amp; w"><b>1 &lt; 2</b><c/></p:a>"#)
            .unwrap();
        assert_eq!(e.name, "a");
        assert_eq!(e.attr("k"), Some("v & w"));
        assert_eq!(e.child("b").unwrap().text, "1 < 2");
        assert_eq!(e.descendants("c").count(), 1);
    }

    #[test]
    fn broken_documents_are_errors() {
        assert!(Element::parse("<a><b></a>").is_err());
        assert!(Element::parse("<a>").is_err());
        assert!(Element::parse("").is_err());
        let deep = "<a>".repeat(10_000) + &"</a>".repeat(10_000);
        assert!(Element::parse(&deep).unwrap_err().detail.contains("nested deeper"));
    }
}
