//! PIDF (RFC 3863) with RPID activities (RFC 4480): the consumer leg's presence document, and
//! one a Lync watcher or pool may choose (req 9). Forms as in flows.md.

use super::availability::ConsumerState;
use super::xml::{self, DocError, Item};

/// The MIME type.
pub const CONTENT_TYPE: &str = "application/pidf+xml";

const PIDF_NS: &str = "urn:ietf:params:xml:ns:pidf";
const RPID_NS: &str = "urn:ietf:params:xml:ns:pidf:rpid";

/// Reads the state a PIDF document carries: `Ok(None)` when no tuple has a `basic` status.
/// Any open tuple makes the presentity open; `rpid:busy` or `rpid:away` in an `activities`
/// element refines it (the first one met wins); other activities are not states the consumer
/// leg models and are ignored.
pub fn parse(body: &[u8]) -> Result<Option<ConsumerState>, DocError> {
    let items = xml::read(body)?;
    match items.first() {
        Some(Item::Open(root)) if root.is(PIDF_NS, "presence") => {}
        Some(Item::Open(root)) => {
            return Err(DocError::new(format!("root is <{}> in `{}`, not a PIDF <presence>", root.local, root.ns)));
        }
        _ => return Err(DocError::new("no root element")),
    }
    let mut stack: Vec<(String, String)> = Vec::new();
    let (mut open, mut closed, mut activity) = (false, false, None);
    for item in &items {
        match item {
            Item::Open(e) => {
                let in_activities = stack.last().is_some_and(|(ns, l)| ns == RPID_NS && l == "activities");
                if in_activities && e.ns == RPID_NS && activity.is_none() {
                    activity = match e.local.as_str() {
                        "busy" => Some(ConsumerState::Busy),
                        "away" => Some(ConsumerState::Away),
                        _ => None,
                    };
                }
                stack.push((e.ns.clone(), e.local.clone()));
            }
            Item::Close => {
                stack.pop();
            }
            Item::Text(t) if stack.last().is_some_and(|(ns, l)| ns == PIDF_NS && l == "basic") => match t.trim() {
                "open" => open = true,
                "closed" => closed = true,
                other => return Err(DocError::new(format!("basic status `{other}` is neither open nor closed"))),
            },
            Item::Text(_) => {}
        }
    }
    Ok(match (open, closed) {
        (true, _) => Some(activity.unwrap_or(ConsumerState::Online)),
        (false, true) => Some(ConsumerState::Offline),
        (false, false) => None,
    })
}

/// Writes the flows.md form for `entity` (a SIP URI).
pub fn render(entity: &str, state: ConsumerState) -> String {
    let (basic, activity) = match state {
        ConsumerState::Online => ("open", None),
        ConsumerState::Away => ("open", Some("away")),
        ConsumerState::Busy => ("open", Some("busy")),
        ConsumerState::Offline => ("closed", None),
    };
    let person = activity
        .map(|a| format!("  <dm:person id=\"p1\"><rpid:activities><rpid:{a}/></rpid:activities></dm:person>\n"))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <presence xmlns=\"{PIDF_NS}\" xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" \
         xmlns:rpid=\"{RPID_NS}\" entity=\"{}\">\n\
         \x20 <tuple id=\"t1\"><status><basic>{basic}</basic></status></tuple>\n\
         {person}</presence>\n",
        xml::escape(entity)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_documents_read_back_as_the_same_state() {
        use ConsumerState::*;
        for s in [Online, Away, Busy, Offline] {
            assert_eq!(parse(render("sip:bob@contoso.com", s).as_bytes()), Ok(Some(s)), "{s:?}");
        }
    }

    #[test]
    fn the_away_form_is_the_flows_md_one() {
        assert_eq!(
            render("sip:bob@contoso.com", ConsumerState::Away),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <presence xmlns=\"urn:ietf:params:xml:ns:pidf\" xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" \
             xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"sip:bob@contoso.com\">\n\
             \x20 <tuple id=\"t1\"><status><basic>open</basic></status></tuple>\n\
             \x20 <dm:person id=\"p1\"><rpid:activities><rpid:away/></rpid:activities></dm:person>\n\
             </presence>\n"
        );
    }

    #[test]
    fn other_prefixes_and_the_rpid_namespace_on_tuples_are_read() {
        let doc = br#"<p:presence xmlns:p="urn:ietf:params:xml:ns:pidf" xmlns:r="urn:ietf:params:xml:ns:pidf:rpid"
            xmlns:d="urn:ietf:params:xml:ns:pidf:data-model" entity="sip:a@b">
            <p:tuple id="x"><p:status><p:basic> open </p:basic></p:status>
            <r:activities><r:busy/></r:activities></p:tuple></p:presence>"#;
        assert_eq!(parse(doc), Ok(Some(ConsumerState::Busy)));
        // The same local names in another namespace are not RPID activities.
        let foreign = br#"<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:x="urn:example">
            <tuple id="t"><status><basic>open</basic></status></tuple>
            <x:activities><x:away/></x:activities></presence>"#;
        assert_eq!(parse(foreign), Ok(Some(ConsumerState::Online)));
    }

    #[test]
    fn closed_is_offline_and_no_status_is_no_state() {
        let closed = br#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b">
            <tuple id="t"><status><basic>closed</basic></status></tuple></presence>"#;
        assert_eq!(parse(closed), Ok(Some(ConsumerState::Offline)));
        let none = br#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"/>"#;
        assert_eq!(parse(none), Ok(None));
    }

    #[test]
    fn bad_documents_are_errors() {
        let wrong_root = br#"<presence xmlns="urn:example"><tuple/></presence>"#;
        assert!(parse(wrong_root).is_err());
        let bad_basic = br#"<presence xmlns="urn:ietf:params:xml:ns:pidf"><tuple><status><basic>maybe</basic>
            </status></tuple></presence>"#;
        assert!(parse(bad_basic).is_err());
        assert!(parse(b"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\">").is_err());
    }
}
