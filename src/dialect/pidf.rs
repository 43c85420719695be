//! PIDF (RFC 3863) with RPID activities (RFC 4480) as the harness's simulated sides write and
//! read it: the consumer leg's presence format, and the one a Lync watcher may accept instead
//! of msrtc categories (PROTOCOL.md §1.4, §9.2).

use std::fmt::Write as _;

use super::xml::{Element, XmlError};

/// Content-Type of a PIDF document.
pub const CONTENT_TYPE: &str = "application/pidf+xml";

/// What a PIDF document says: whether the presentity is reachable, and what it is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pidf {
    /// The `entity` URI.
    pub entity: String,
    /// `basic` is `open` (in any tuple).
    pub open: bool,
    /// RPID activities by local name (`away`, `busy`, …), in document order.
    pub activities: Vec<String>,
}

/// A PIDF body the harness cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PidfError {
    /// Not XML.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// XML, but not a `<presence>` document with a `basic` status.
    #[error("not a PIDF document: {0}")]
    Shape(String),
}

impl Pidf {
    /// The document: one tuple, one person with the activities (if any).
    pub fn render(&self) -> String {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n");
        let _ = write!(
            s,
            "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" \
             xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"{}\">\r\n",
            self.entity
        );
        let basic = if self.open { "open" } else { "closed" };
        let _ = write!(s, "<tuple id=\"t1\"><status><basic>{basic}</basic></status></tuple>\r\n");
        if !self.activities.is_empty() {
            let acts: String = self.activities.iter().map(|a| format!("<rpid:{a}/>")).collect();
            let _ = write!(s, "<dm:person id=\"p1\"><rpid:activities>{acts}</rpid:activities></dm:person>\r\n");
        }
        s.push_str("</presence>\r\n");
        s
    }

    /// Reads a document.
    pub fn parse(xml: &str) -> Result<Self, PidfError> {
        let root = Element::parse(xml)?;
        if root.name != "presence" {
            return Err(PidfError::Shape(format!("root element is <{}>, not <presence>", root.name)));
        }
        let entity = root.attr("entity").ok_or_else(|| PidfError::Shape("<presence> has no entity".into()))?;
        let basics: Vec<&str> = root.descendants("basic").map(|b| b.text.as_str()).collect();
        if basics.is_empty() {
            return Err(PidfError::Shape("no <basic> status".into()));
        }
        if let Some(bad) = basics.iter().find(|b| !matches!(**b, "open" | "closed")) {
            return Err(PidfError::Shape(format!("<basic> is `{bad}`, not open or closed")));
        }
        let activities = root
            .descendants("activities")
            .flat_map(|a| a.children.iter())
            .map(|c| c.name.clone())
            .filter(|n| n != "other")
            .collect();
        Ok(Self { entity: entity.to_owned(), open: basics.contains(&"open"), activities })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_foreign_prefixes() {
        let p = Pidf { entity: "sip:bob@contoso.com".into(), open: true, activities: vec!["away".into()] };
        assert_eq!(Pidf::parse(&p.render()).unwrap(), p);
        let foreign = r#"<pr:presence xmlns:pr="urn:ietf:params:xml:ns:pidf" xmlns:r="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:a@b"><pr:tuple id="x"><pr:status><pr:basic>closed</pr:basic></pr:status></pr:tuple><p:person xmlns:p="urn:ietf:params:xml:ns:pidf:data-model"><r:activities><r:busy/></r:activities></p:person></pr:presence>"#;
        let f = Pidf::parse(foreign).unwrap();
        assert!(!f.open);
        assert_eq!(f.activities, ["busy"]);
    }

    #[test]
    fn refuses_what_is_not_pidf() {
        assert!(matches!(Pidf::parse("<presence entity='sip:a@b'/>"), Err(PidfError::Shape(_))));
        assert!(matches!(Pidf::parse("<x/>"), Err(PidfError::Shape(_))));
        assert!(matches!(Pidf::parse("<presence"), Err(PidfError::Xml(_))));
        let odd = "<presence entity='sip:a@b'><tuple><status><basic>maybe</basic></status></tuple></presence>";
        assert!(matches!(Pidf::parse(odd), Err(PidfError::Shape(_))));
    }
}
