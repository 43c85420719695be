//! `certificate.html`: one self-contained page (inline CSS and SVG, no scripts, fonts or
//! external files beyond the relative links to the captures and the JSON/JUnit beside it).
//! minijinja with auto-escaping for `.html` templates, so every string from the trace, the
//! features or the SUT is escaped; the only unescaped insert is the ladder SVG, which
//! `ladder` escapes itself.

use std::collections::BTreeMap;

use minijinja::{Environment, context};
use serde::Serialize;

use super::certificate::{Certificate, ScenarioResult, ScenarioVerdict};
use super::ladder::Ladder;

const TEMPLATE: &str = include_str!("certificate.html.j2");

#[derive(Debug, Serialize)]
struct View<'a> {
    s: &'a ScenarioResult,
    anchor: String,
    /// Inserted unescaped: [`href`] leaves nothing but unreserved characters, `/` and `%XX`.
    href: String,
    svg: Option<String>,
    /// (class, line) of the diff.
    diff: Option<Vec<(&'static str, &'a str)>>,
}

/// An HTML id for a scenario (`s-im-lync-user-sends-…`).
pub fn anchor(feature: &str, name: &str) -> String {
    format!("s-{}-{}", crate::suite::slug(feature), crate::suite::slug(name))
}

/// A relative path as a URL: each byte outside the unreserved set and `/` percent-encoded.
pub fn href(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Renders the certificate page.
pub fn render(c: &Certificate) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.add_template("certificate.html", TEMPLATE)?;
    let views: Vec<View<'_>> = c
        .selected()
        .map(|s| View {
            s,
            anchor: anchor(&s.feature, &s.name),
            href: s.pcap.as_deref().map(href).unwrap_or_default(),
            svg: s.trace.as_deref().map(|t| Ladder::parse(t).svg()),
            diff: s.diff.as_deref().map(|d| {
                d.lines()
                    .map(|l| {
                        let class = if l.starts_with('+') && !l.starts_with("+++") {
                            "add"
                        } else if l.starts_with('-') && !l.starts_with("---") {
                            "del"
                        } else {
                            "ctx"
                        };
                        (class, l)
                    })
                    .collect()
            }),
        })
        .collect();
    let anchors: BTreeMap<String, String> =
        c.scenarios.iter().map(|s| (format!("{}/{}", s.feature, s.name), anchor(&s.feature, &s.name))).collect();
    let excluded: Vec<&ScenarioResult> =
        c.scenarios.iter().filter(|s| s.verdict == ScenarioVerdict::Excluded).collect();
    env.get_template("certificate.html")?.render(context! { c, views, anchors, excluded })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::certificate::tests::{entry, header, played};
    use crate::report::requirements::Requirements;

    fn cert() -> Certificate {
        let cat = [entry("im", "a <b>", &[1], true), entry("im", "c", &[2], true), entry("im", "d", &[3], false)];
        let mut bad = played("im", "c", false);
        bad.reason = Some("<script>alert(1)</script>".into());
        Certificate::build(header(), &Requirements::builtin(), &cat, &[played("im", "a <b>", true), bad])
    }

    #[test]
    fn the_page_has_the_table_the_uncovered_list_and_one_ladder_per_scenario_run() {
        let html = render(&cert()).expect("renders");
        assert_eq!(html.matches(r#"<tr class="req "#).count(), 32);
        assert!(html.contains(r#"id="req-1" data-req="1" data-verdict="pass""#));
        assert!(html.contains(r#"id="req-2" data-req="2" data-verdict="fail""#));
        assert!(html.contains(r#"id="req-3" data-req="3" data-verdict="not-applicable""#));
        assert!(html.contains(r#"id="req-4" data-req="4" data-verdict="not-covered""#));
        assert!(html.contains("Requirements no scenario covers yet"));
        let uncovered = html.split(r#"<ul id="not-covered">"#).nth(1).and_then(|s| s.split("</ul>").next());
        assert_eq!(uncovered.map(|u| u.matches("<li").count()), Some(29));
        assert_eq!(html.matches("<svg").count(), 2);
        assert_eq!(html.matches(r#"<g class="msg">"#).count(), 2);
        assert_eq!(html.matches(r#"class="pcap""#).count(), 2);
        assert!(html.contains(r#"href="captures/embedded/im/a%20%3Cb%3E.pcapng""#), "{html}");
        assert!(html.contains(r##"<li class="failed-by"><a href="#s-im-c">im: c</a></li>"##));
        assert_eq!(html.matches(r#"<pre class="diff">"#).count(), 1);
        assert!(html.contains(r#"<span class="add">+b</span>"#));
    }

    #[test]
    fn everything_from_outside_is_escaped_and_nothing_is_loaded_from_elsewhere() {
        let html = render(&cert()).expect("renders");
        assert!(!html.contains("<script"), "a script got through");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
                || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("im: a &lt;b&gt;"));
        for external in ["http://", "https://", "<link", "@import", "src="] {
            let n = html.matches(external).count();
            // The SVG namespace is an identifier, not a fetch.
            let allowed = if external == "http://" { html.matches("http://www.w3.org/2000/svg").count() } else { 0 };
            assert_eq!(n, allowed, "{external}");
        }
    }
}
