//! The Lync pool's presence documents as the harness's simulated Lync side writes and reads
//! them: `application/msrtc-event-categories+xml` notifications and the
//! `application/msrtc-adrl-categorylist+xml` batch subscription (PROTOCOL.md §1.2 step 4,
//! §1.4; the exact forms are in `scenarios/dialects/flows.md`).

use super::xml::{Element, XmlError};

/// Content-Type of a category notification.
pub const CATEGORIES: &str = "application/msrtc-event-categories+xml";
/// Content-Type of a batch subscription.
pub const BATCH_SUB: &str = "application/msrtc-adrl-categorylist+xml";

/// A category notification body that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CategoriesError {
    /// Not XML.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// XML of the wrong shape.
    #[error("not an msrtc document: {0}")]
    Shape(String),
}

/// The `state` category of a `<categories>` notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCategory {
    /// The presentity (`uri` attribute).
    pub uri: String,
    /// The aggregate availability, when the document carries a state category.
    pub availability: Option<u32>,
}

impl StateCategory {
    /// A notification with one aggregate `state` category.
    pub fn render(&self, publish_time: &str) -> String {
        let state = self.availability.map_or_else(String::new, |a| {
            format!(
                "<category name=\"state\" instance=\"0\" publishTime=\"{publish_time}\"><state \
                 xmlns=\"http://schemas.microsoft.com/2006/09/sip/state\" \
                 xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"aggregateState\">\
                 <availability>{a}</availability></state></category>"
            )
        });
        format!(
            "<categories xmlns=\"http://schemas.microsoft.com/2006/09/sip/categories\" uri=\"{}\">{state}</categories>",
            self.uri
        )
    }

    /// Reads a notification.
    pub fn parse(xml: &str) -> Result<Self, CategoriesError> {
        let root = Element::parse(xml)?;
        if root.name != "categories" {
            return Err(CategoriesError::Shape(format!("root element is <{}>, not <categories>", root.name)));
        }
        let uri = root.attr("uri").ok_or_else(|| CategoriesError::Shape("<categories> has no uri".into()))?;
        let availability = match root.children.iter().find(|c| c.name == "category" && c.attr("name") == Some("state"))
        {
            None => None,
            Some(cat) => {
                let a = cat
                    .descendants("availability")
                    .next()
                    .ok_or_else(|| CategoriesError::Shape("the state category has no <availability>".into()))?;
                Some(a.text.parse().map_err(|_| {
                    CategoriesError::Shape(format!("<availability>{}</availability> is not a number", a.text))
                })?)
            }
        };
        Ok(Self { uri: uri.to_owned(), availability })
    }
}

/// A batch subscription: the resources subscribed, each with whether it carries `<context/>`
/// (a just-added contact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSub {
    /// The subscriber's own URI.
    pub owner: String,
    /// (resource URI, new contact).
    pub resources: Vec<(String, bool)>,
}

impl BatchSub {
    /// The body, with the four categories Lync subscribes to.
    pub fn render(&self, action_id: &str) -> String {
        let res: String = self
            .resources
            .iter()
            .map(|(uri, ctx)| format!("<resource uri=\"{uri}\">{}</resource>", if *ctx { "<context/>" } else { "" }))
            .collect();
        format!(
            "<batchSub xmlns=\"http://schemas.microsoft.com/2006/01/sip/batch-subscribe\" uri=\"{}\" name=\"\">\
             <action name=\"subscribe\" id=\"{action_id}\"><adhocList>{res}</adhocList>\
             <categoryList xmlns=\"http://schemas.microsoft.com/2006/09/sip/categorylist\">\
             <category name=\"calendarData\"/><category name=\"contactCard\"/><category name=\"note\"/>\
             <category name=\"state\"/></categoryList></action></batchSub>",
            self.owner
        )
    }

    /// Reads a batch subscription.
    pub fn parse(xml: &str) -> Result<Self, CategoriesError> {
        let root = Element::parse(xml)?;
        if root.name != "batchSub" {
            return Err(CategoriesError::Shape(format!("root element is <{}>, not <batchSub>", root.name)));
        }
        let resources = root
            .descendants("resource")
            .map(|r| (r.attr("uri").unwrap_or_default().to_owned(), r.child("context").is_some()))
            .collect();
        Ok(Self { owner: root.attr("uri").unwrap_or_default().to_owned(), resources })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_absence_is_none() {
        let s = StateCategory { uri: "sip:bob(contoso.com)@msn.com".into(), availability: Some(15500) };
        assert_eq!(StateCategory::parse(&s.render("2026-01-01T00:00:00Z")).unwrap(), s);
        let none = StateCategory { uri: "sip:a@b".into(), availability: None };
        assert_eq!(StateCategory::parse(&none.render("t")).unwrap(), none);
        assert!(StateCategory::parse("<categories uri='sip:a@b'><category name='state'><state><availability>x</availability></state></category></categories>").is_err());
    }

    #[test]
    fn batch_sub_round_trips() {
        let b =
            BatchSub { owner: "sip:alice@contoso.com".into(), resources: vec![("sip:carol@outlook.com".into(), true)] };
        assert_eq!(BatchSub::parse(&b.render("1")).unwrap(), b);
    }
}
