//! HTML fragments as IM bodies carry them (`text/html` MESSAGEs and parts, PROTOCOL.md §1.5):
//! plain text to HTML and back. Syntax only, like the SIP wire layer: the simulated Lync side
//! and the reference gateway both use it, and its unit tests pin it against fixed vectors so
//! that a shared mistake cannot pass as agreement.
//!
//! Entity handling is quick-xml's (HTML5 names with its `escape-html` feature); the tag scan is
//! ours because IM HTML is a fragment, not a well-formed document (`<br>` has no end tag), and
//! all a reader needs from it is the character data.

use quick_xml::escape::{escape, resolve_html5_entity, unescape_with};

/// The HTML of a plain text: `& < > " '` as entities, CRLF (or a lone LF) as `<br/>`.
pub fn from_text(text: &str) -> String {
    let normalised = text.replace("\r\n", "\n");
    escape(normalised.as_str()).replace('\n', "<br/>")
}

/// The text an HTML fragment shows: tags dropped, `<br>` as CRLF, entities decoded. Other
/// characters, whitespace included, are kept as they are.
pub fn to_text(html: &str) -> Result<String, String> {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&decode(&rest[..open])?);
        let after = &rest[open..];
        let close = after.find('>').ok_or_else(|| format!("unclosed tag at `{}`", preview(after)))?;
        let name = after[1..close].trim_start_matches('/').trim_end_matches('/').trim();
        let name = name.split(|c: char| c.is_ascii_whitespace()).next().unwrap_or_default();
        if name.eq_ignore_ascii_case("br") {
            out.push_str("\r\n");
        }
        rest = &after[close + 1..];
    }
    out.push_str(&decode(rest)?);
    Ok(out)
}

fn decode(s: &str) -> Result<String, String> {
    unescape_with(s, resolve_html5_entity).map(|c| c.into_owned()).map_err(|e| format!("{e} in `{}`", preview(s)))
}

fn preview(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_become_entities_and_line_breaks_br() {
        assert_eq!(
            from_text("5 < 6 & \"x\" 'y' <b>\r\nnext"),
            "5 &lt; 6 &amp; &quot;x&quot; &apos;y&apos; &lt;b&gt;<br/>next"
        );
    }

    #[test]
    fn reading_drops_tags_decodes_entities_and_turns_br_into_crlf() {
        let html =
            "<span style=\"font-family:Segoe UI\"><b>Hi</b> &amp; &lt;tag&gt;&nbsp;&#233;&#x1F600;<BR>x<br />y</span>";
        assert_eq!(to_text(html).unwrap(), "Hi & <tag>\u{a0}é😀\r\nx\r\ny");
    }

    #[test]
    fn text_survives_a_round_trip() {
        for t in ["", "plain", "a\r\nb", "<script>alert(\"x\")</script> & co", "مرحبا 你好 e\u{301} 👍🏽"] {
            assert_eq!(to_text(&from_text(t)).unwrap(), t, "{t:?}");
        }
    }

    #[test]
    fn broken_html_is_an_error_naming_the_place() {
        assert!(to_text("a <b").unwrap_err().contains("unclosed tag"));
        assert!(to_text("&bogus; x").is_err());
    }
}
