//! msrtc event categories (`application/msrtc-event-categories+xml`): the document a Lync pool
//! notifies presence in, and the one the gateway serves Lync watchers that prefer it
//! (PROTOCOL.md §1.4, flows.md). Only the `state` category matters to the bridge.

use std::time::{SystemTime, UNIX_EPOCH};

use super::availability::Availability;
use super::xml::{self, DocError, Item};

/// The MIME type.
pub const CONTENT_TYPE: &str = "application/msrtc-event-categories+xml";

const CATEGORIES_NS: &str = "http://schemas.microsoft.com/2006/09/sip/categories";
const STATE_NS: &str = "http://schemas.microsoft.com/2006/09/sip/state";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Reads the availability of the `state` category: the `aggregateState` one when there are
/// several (it is what the server computes for watchers), else the first. `Ok(None)` when the
/// document has no state category with an availability (e.g. a contactCard-only update).
pub fn parse(body: &[u8]) -> Result<Option<Availability>, DocError> {
    let items = xml::read(body)?;
    match items.first() {
        Some(Item::Open(root)) if root.is(CATEGORIES_NS, "categories") => {}
        Some(Item::Open(root)) => {
            return Err(DocError::new(format!("root is <{}> in `{}`, not <categories>", root.local, root.ns)));
        }
        _ => return Err(DocError::new("no root element")),
    }
    // Per open element: is it a state-category, a state element (aggregate?), an availability.
    #[derive(Clone, Copy, PartialEq)]
    enum Ctx {
        StateCategory,
        State { aggregate: bool },
        Availability { aggregate: bool },
        Other,
    }
    let mut stack: Vec<Ctx> = Vec::new();
    let (mut first, mut aggregate) = (None, None);
    for item in &items {
        match item {
            Item::Open(e) => {
                let parent = stack.last().copied();
                // The state element declares its own namespace; one that inherits the
                // categories namespace is read too.
                let in_state_ns = e.ns == STATE_NS || e.ns == CATEGORIES_NS;
                let ctx = match parent {
                    _ if e.is(CATEGORIES_NS, "category") && e.attr("", "name") == Some("state") => Ctx::StateCategory,
                    Some(Ctx::StateCategory) if in_state_ns && e.local == "state" => {
                        let ty = e.attr(XSI_NS, "type").unwrap_or_default();
                        let ty = ty.rsplit(':').next().unwrap_or_default();
                        Ctx::State { aggregate: ty == "aggregateState" }
                    }
                    Some(Ctx::State { aggregate }) if in_state_ns && e.local == "availability" => {
                        Ctx::Availability { aggregate }
                    }
                    _ => Ctx::Other,
                };
                stack.push(ctx);
            }
            Item::Close => {
                stack.pop();
            }
            Item::Text(t) => {
                if let Some(Ctx::Availability { aggregate: agg }) = stack.last() {
                    let v = t.trim().parse::<u32>().map_err(|_| DocError::new(format!("availability `{t}`")))?;
                    first.get_or_insert(Availability(v));
                    if *agg {
                        aggregate.get_or_insert(Availability(v));
                    }
                }
            }
        }
    }
    Ok(aggregate.or(first))
}

/// Writes the flows.md form: one aggregate `state` category for `uri`, stamped `publish_time`.
pub fn render(uri: &str, availability: Availability, publish_time: &str) -> String {
    format!(
        "<categories xmlns=\"{CATEGORIES_NS}\" uri=\"{}\">\n\
         \x20 <category name=\"state\" instance=\"0\" publishTime=\"{publish_time}\"><state xmlns=\"{STATE_NS}\" \
         xmlns:xsi=\"{XSI_NS}\" xsi:type=\"aggregateState\"><availability>{}</availability></state></category>\n\
         </categories>\n",
        xml::escape(uri),
        availability.0
    )
}

/// The Content-Type of a batched subscription body.
pub const BATCH_SUB_CONTENT_TYPE: &str = "application/msrtc-adrl-categorylist+xml";

/// The `batchSub` body of a new-contact SUBSCRIBE (flows.md, PROTOCOL.md §1.2 step 4): `watcher`
/// subscribes to the categories of `resource`; `<context/>` marks the contact as just added,
/// which is what makes the pool tell its user that someone added them.
pub fn batch_sub(watcher: &str, resource: &str, action_id: u32) -> String {
    format!(
        "<batchSub xmlns=\"http://schemas.microsoft.com/2006/01/sip/batch-subscribe\" uri=\"{}\" name=\"\">\n\
         \x20 <action name=\"subscribe\" id=\"{action_id}\"><adhocList><resource uri=\"{}\"><context/></resource></adhocList>\n\
         \x20 <categoryList xmlns=\"http://schemas.microsoft.com/2006/09/sip/categorylist\"><category name=\"calendarData\"/>\n\
         \x20 <category name=\"contactCard\"/><category name=\"note\"/><category name=\"state\"/></categoryList></action></batchSub>\n",
        xml::escape(watcher),
        xml::escape(resource)
    )
}

/// The current UTC time as `publishTime` writes it (`2013-05-13T12:30:20Z`).
pub fn publish_time_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    publish_time(secs)
}

/// Seconds since the Unix epoch → `YYYY-MM-DDThh:mm:ssZ` (civil-from-days, proleptic Gregorian).
fn publish_time(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rendered_form_is_the_flows_md_one_and_reads_back() {
        let doc = render("sip:bob(contoso.com)@msn.com", Availability(15500), "2013-05-13T12:30:20Z");
        assert_eq!(
            doc,
            "<categories xmlns=\"http://schemas.microsoft.com/2006/09/sip/categories\" uri=\"sip:bob(contoso.com)@msn.com\">\n\
             \x20 <category name=\"state\" instance=\"0\" publishTime=\"2013-05-13T12:30:20Z\"><state \
             xmlns=\"http://schemas.microsoft.com/2006/09/sip/state\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xsi:type=\"aggregateState\"><availability>15500</availability></state></category>\n\
             </categories>\n"
        );
        assert_eq!(parse(doc.as_bytes()), Ok(Some(Availability(15500))));
    }

    #[test]
    fn prefixes_may_differ_and_the_aggregate_state_wins() {
        let doc = br#"<c:categories xmlns:c="http://schemas.microsoft.com/2006/09/sip/categories" uri="sip:a@b">
            <c:category name="note" instance="0"><note xmlns="urn:x"><body>busy day</body></note></c:category>
            <c:category name="state" instance="1"><s:state xmlns:s="http://schemas.microsoft.com/2006/09/sip/state"
              xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:type="userState"><s:availability>3500</s:availability>
            </s:state></c:category>
            <c:category name="state" instance="0"><s:state xmlns:s="http://schemas.microsoft.com/2006/09/sip/state"
              xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:type="aggregateState">
              <s:availability> 9500 </s:availability></s:state></c:category>
            </c:categories>"#;
        assert_eq!(parse(doc), Ok(Some(Availability(9500))));
    }

    #[test]
    fn a_state_without_a_type_still_counts() {
        let doc = br#"<categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories">
            <category name="state"><state><availability>6500</availability></state></category></categories>"#;
        assert_eq!(parse(doc), Ok(Some(Availability(6500))));
    }

    #[test]
    fn a_document_without_state_has_no_availability() {
        let doc = br#"<categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories" uri="sip:a@b">
            <category name="contactCard" instance="0"><contactCard xmlns="http://schemas.microsoft.com/2006/09/sip/contactcard">
            <availability>3500</availability></contactCard></category></categories>"#;
        assert_eq!(parse(doc), Ok(None));
        assert_eq!(parse(br#"<categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories"/>"#), Ok(None));
    }

    #[test]
    fn bad_documents_are_errors() {
        let not_a_number = br#"<categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories">
            <category name="state"><state><availability>high</availability></state></category></categories>"#;
        assert!(parse(not_a_number).is_err());
        assert!(parse(br#"<categories xmlns="urn:other"/>"#).is_err());
        assert!(parse(b"<categories").is_err());
    }

    #[test]
    fn publish_time_is_utc_civil_time() {
        assert_eq!(publish_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(publish_time(1_368_448_220), "2013-05-13T12:30:20Z");
        assert_eq!(publish_time(951_825_600), "2000-02-29T12:00:00Z");
    }
}
