//! `junit.xml` of a certification run: one testcase per selected scenario (class = feature),
//! a failure with its reason for each failed one. Written from the certificate rather than
//! teed from cucumber, so a scenario failed after its steps (unfaithful capture) or left
//! without a result is reported too.

use std::fmt::Write as _;

use super::certificate::{Certificate, ScenarioVerdict};
use super::ladder::escape;

/// The JUnit XML.
pub fn render(c: &Certificate) -> String {
    let selected: Vec<_> = c.selected().collect();
    let failures = selected.iter().filter(|s| s.verdict == ScenarioVerdict::Failed).count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        r#"<testsuites name="fedcert certify {}" tests="{}" failures="{failures}">"#,
        escape(&c.header.sut),
        selected.len()
    );
    let _ = writeln!(
        x,
        r#"  <testsuite name="{}" tests="{}" failures="{failures}" errors="0" timestamp="{}">"#,
        escape(&c.header.sut),
        selected.len(),
        escape(&c.header.date)
    );
    for s in selected {
        let _ = write!(x, r#"    <testcase classname="{}" name="{}""#, escape(&s.feature), escape(&s.name));
        match s.verdict {
            ScenarioVerdict::Failed => {
                let reason = s.reason.as_deref().unwrap_or("failed");
                let first = reason.lines().next().unwrap_or(reason);
                let _ = writeln!(x, ">\n      <failure message=\"{}\">{}</failure>", escape(first), escape(reason));
                if let Some(d) = &s.diff {
                    let _ = writeln!(x, "      <system-out>{}</system-out>", escape(d));
                }
                x.push_str("    </testcase>\n");
            }
            _ => x.push_str("/>\n"),
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::certificate::tests::{entry, header, played};
    use crate::report::requirements::Requirements;

    #[test]
    fn one_testcase_per_selected_scenario_and_failures_carry_their_reason() {
        let cat = [entry("im", "a&b", &[1], true), entry("im", "c", &[2], true), entry("im", "d", &[3], false)];
        let c = Certificate::build(
            header(),
            &Requirements::builtin(),
            &cat,
            &[played("im", "a&b", true), played("im", "c", false)],
        );
        let x = render(&c);
        assert_eq!(x.matches("<testcase ").count(), 2);
        assert!(x.contains(r#"name="a&amp;b"/>"#));
        assert!(x.contains(r#"<failure message="expected 480, got 200">"#));
        assert!(x.contains(r#"tests="2" failures="1""#));
        assert!(!x.contains(r#"name="d""#));
    }
}
