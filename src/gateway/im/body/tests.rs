//! The body readers and writers against hand-written documents.

use super::*;
use crate::sip::wire::{MessageBuilder, Method};

fn message(content_type: Option<&str>, body: &str) -> Message {
    let b = MessageBuilder::request(Method::MESSAGE, "sip:x@y");
    match content_type {
        Some(ct) => b.body(ct, body).build(),
        None => b.build(),
    }
}

fn alternative(boundary: &str, parts: &[(Option<&str>, &str)]) -> String {
    let mut out = String::new();
    for (ct, body) in parts {
        out.push_str(&format!("--{boundary}\r\n"));
        if let Some(ct) = ct {
            out.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        out.push_str(&format!("\r\n{body}\r\n"));
    }
    out + &format!("--{boundary}--\r\n")
}

#[test]
fn lync_bodies_read_down_to_one_text() {
    let msgr = "text/plain; charset=UTF-8; msgr=WAAtAE0ATQBTAC0ASQBNAC0ARgBvAHIAbQBhAHQAOgAgAEYATgA9AFMAZQBnAG8AZQAlADIAMABVAEkAOwAgAEUARgA9ADsAIABDAE8APQAwADsAIABDAFMAPQAwADsAIABQAEYAPQAwAA0ACgANAAoA";
    assert_eq!(lync_text(&message(Some(msgr), "hi there")).unwrap(), "hi there");
    assert_eq!(lync_text(&message(Some("text/plain"), "")).unwrap(), "");
    let html = "<span style=\"font-family:Segoe UI\">a &amp; <b>b</b><br>c</span>";
    assert_eq!(lync_text(&message(Some("text/html; charset=UTF-8"), html)).unwrap(), "a & b\r\nc");
    let both = alternative("b1", &[(Some("text/html"), "<b>html</b>"), (Some("text/plain; charset=UTF-8"), "plain")]);
    assert_eq!(lync_text(&message(Some("multipart/alternative;boundary=b1"), &both)).unwrap(), "plain");
    let html_only = alternative("b2", &[(Some("text/rtf"), "{\\rtf1 x}"), (Some("text/html"), "x &lt; y")]);
    assert_eq!(lync_text(&message(Some("multipart/alternative; boundary=\"b2\""), &html_only)).unwrap(), "x < y");
    // RFC 2046 §5.1: an untyped part is plain text.
    let untyped = alternative("b3", &[(Some("text/html"), "<i>h</i>"), (None, "p")]);
    assert_eq!(lync_text(&message(Some("multipart/alternative;boundary=b3"), &untyped)).unwrap(), "p");
}

#[test]
fn lync_bodies_without_text_are_415_and_broken_ones_400() {
    let accept = Some("text/plain, text/html, multipart/alternative");
    for (ct, body) in [
        (Some("application/x-ms-ink"), "ink"),
        (Some("image/gif"), "GIF89a"),
        (None, "x"),
        (Some("multipart/alternative;boundary=r"), &alternative("r", &[(Some("text/rtf"), "{\\rtf1}")])),
    ] {
        let r = lync_text(&message(ct, body)).unwrap_err();
        assert_eq!((r.code, r.accept), (415, accept), "{ct:?}");
    }
    for (ct, body, says) in [
        ("text/html", "a <b", "unclosed tag"),
        ("text/html", "&bogus; x", "text/html"),
        ("multipart/alternative", "--x\r\n\r\nhi\r\n--x--\r\n", "boundary"),
        ("multipart/alternative;boundary=x", "--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n", "closing boundary"),
    ] {
        let r = lync_text(&message(Some(ct), body)).unwrap_err();
        assert_eq!(r.code, 400, "{ct} {body:?}");
        assert!(r.reason.contains(says), "{:?} should say {says:?}", r.reason);
        assert!(!r.reason.contains(['\r', '\n']), "{:?}", r.reason);
    }
}

#[test]
fn keyboard_activity_reads_in_any_layout() {
    for (body, want) in [
        ("<KeyboardActivity><status status=\"type\"/></KeyboardActivity>", Typing::Active),
        (
            "<?xml version=\"1.0\"?>\r\n<KeyboardActivity>\r\n  <status status='idle' />\r\n</KeyboardActivity>\r\n",
            Typing::Idle,
        ),
    ] {
        assert_eq!(lync_typing(&message(Some("application/xml"), body)).unwrap(), want);
    }
    assert_eq!(lync_typing(&message(Some("text/plain"), "type")).unwrap_err().code, 415);
    for bad in ["<KeyboardActivity><status status=\"typing\"/></KeyboardActivity>", "<KeyboardActivity>", "<Other/>"] {
        assert_eq!(lync_typing(&message(Some("application/xml"), bad)).unwrap_err().code, 400, "{bad}");
    }
}

#[test]
fn consumer_messages_are_text_or_typing() {
    assert_eq!(consumer_im(&message(Some("text/plain; charset=UTF-8"), "")).unwrap(), ConsumerIm::Text(String::new()));
    let doc = |state: &str| {
        format!(
            "<?xml version=\"1.0\"?><c:isComposing xmlns:c=\"urn:ietf:params:xml:ns:im-iscomposing\"> <c:state> {state} </c:state></c:isComposing>"
        )
    };
    assert_eq!(consumer_im(&message(Some(ISCOMPOSING), &doc("active"))).unwrap(), ConsumerIm::Typing(Typing::Active));
    assert_eq!(consumer_im(&message(Some(ISCOMPOSING), &doc("idle"))).unwrap(), ConsumerIm::Typing(Typing::Idle));
    assert_eq!(consumer_im(&message(Some(ISCOMPOSING), &doc("busy"))).unwrap_err().code, 400);
    let r = consumer_im(&message(Some("text/html"), "<b>x</b>")).unwrap_err();
    assert_eq!((r.code, r.accept), (415, Some("text/plain, application/im-iscomposing+xml")));
}

#[test]
fn typing_documents_are_the_flows_forms() {
    assert_eq!(
        iscomposing(Typing::Active),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\"><state>active</state><contenttype>text/plain</contenttype><refresh>60</refresh></isComposing>"
    );
    assert_eq!(
        iscomposing(Typing::Idle),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\"><state>idle</state></isComposing>"
    );
    assert_eq!(
        keyboard_activity(Typing::Active),
        "<?xml version=\"1.0\"?>\r\n<KeyboardActivity><status status=\"type\" /></KeyboardActivity>"
    );
    assert!(keyboard_activity(Typing::Idle).contains("<status status=\"idle\" />"));
}

#[test]
fn rich_bodies_only_when_accept_types_list_alternative_and_html() {
    let sdp = |types: &str| {
        let body = format!("v=0\r\nm=message 5060 sip null\r\na=accept-types:{types}\r\n");
        MessageBuilder::request(Method::INVITE, "sip:x@y").body("application/sdp", body).build()
    };
    assert!(offers_rich(&sdp("text/plain multipart/alternative image/gif text/rtf text/html application/x-ms-ink")));
    assert!(!offers_rich(&sdp("text/plain multipart/alternative")));
    assert!(!offers_rich(&sdp("text/plain text/html")));
    assert!(!offers_rich(&message(Some("text/plain"), "a=accept-types:multipart/alternative text/html")));

    let mut rng = fastrand::Rng::with_seed(1);
    assert_eq!(lync_body("a<b", false, &mut rng), (PLAIN.to_owned(), b"a<b".to_vec()));
    let (ct, body) = lync_body("<b>&", true, &mut rng);
    let parsed = MediaType::parse(&ct).unwrap();
    assert_eq!(parsed.essence, "multipart/alternative");
    let parts = multipart::parse(parsed.param("boundary").unwrap(), &body).unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!((parts[0].header("Content-Type"), parts[0].body.as_slice()), (Some(PLAIN), &b"<b>&"[..]));
    assert_eq!(
        (parts[1].header("Content-Type"), parts[1].body.as_slice()),
        (Some("text/html; charset=UTF-8"), &b"&lt;b&gt;&amp;"[..])
    );
}
