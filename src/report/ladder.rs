//! The canonical trace drawn as an SVG sequence diagram (the "ladder") for the certificate.
//!
//! Our own small drawer rather than a crate: the diagram crates we know of (mermaid and
//! PlantUML front ends, `svg` builders) take their own text languages or only draw shapes, and
//! none reads our trace model; what is needed here — lifelines per actor, one arrow per SIP
//! message, media summaries as notes, step bands — is a few hundred lines of plain text
//! output that the unit tests below pin.
//!
//! Input is the canonical trace text (`trace::canonical`), the same text goldens hold, so the
//! diagram shows exactly what was judged. Everything taken from it is XML-escaped.

use std::fmt::Write as _;

/// One row of the ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// A scenario step (`step 5  When …`).
    Step(String),
    /// A SIP message: an arrow.
    Message {
        /// Sending actor.
        from: String,
        /// Receiving actor.
        to: String,
        /// Request line or status (`INVITE sip:bob@msn.com  [call-1]`).
        label: String,
        /// The trace's detail lines under it (headers, body summaries).
        details: Vec<String>,
    },
    /// A media summary line (`rtp ssrc-1 [SILK/16000] pkts 25 …`): a note between the two
    /// actors.
    Media {
        /// Sending actor.
        from: String,
        /// Receiving actor.
        to: String,
        /// The summary.
        text: String,
    },
}

/// A parsed canonical trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ladder {
    /// Lifelines, left to right: Lync users, the gateway's two faces, Skype users.
    pub actors: Vec<String>,
    /// Rows, top to bottom.
    pub rows: Vec<Row>,
}

impl Ladder {
    /// Reads a canonical trace. Lines it does not know (the `scenario:`/`profiles:` header,
    /// `(no traffic)`) are skipped; it never fails, since a trace is drawn as far as it goes.
    pub fn parse(trace: &str) -> Self {
        let mut rows = Vec::new();
        for line in trace.lines() {
            if let Some(rest) = line.strip_prefix("step ") {
                rows.push(Row::Step(format!("step {rest}")));
            } else if let Some(d) =
                line.strip_prefix("              ").or_else(|| line.strip_prefix("                "))
            {
                if let Some(Row::Message { details, .. }) = rows.last_mut() {
                    details.push(d.trim().to_owned());
                }
            } else if let Some(body) = line.strip_prefix("  ")
                && let Some(row) = parse_flow(body)
            {
                rows.push(row);
            }
        }
        let mut actors: Vec<String> = Vec::new();
        for r in &rows {
            if let Row::Message { from, to, .. } | Row::Media { from, to, .. } = r {
                for a in [from, to] {
                    if !actors.contains(a) {
                        actors.push(a.clone());
                    }
                }
            }
        }
        // Enterprise users, the enterprise face, the consumer face, consumer users; otherwise
        // in order of appearance (a stable sort keeps it within a rank).
        actors.sort_by_key(|a| match a.split_once(':').map(|(k, _)| k) {
            Some("lync") => 0,
            _ if a == "gw:enterprise" => 1,
            _ if a == "gw:consumer" => 2,
            Some("skype") => 3,
            _ => 4,
        });
        Self { actors, rows }
    }

    /// SIP messages (arrows).
    pub fn messages(&self) -> usize {
        self.rows.iter().filter(|r| matches!(r, Row::Message { .. })).count()
    }

    /// The SVG.
    pub fn svg(&self) -> String {
        draw(self)
    }
}

/// `enterprise  lync:alice@contoso.com -> gw:enterprise  INVITE sip:…  [call-1]`.
fn parse_flow(body: &str) -> Option<Row> {
    let (leg, rest) = body.split_once(char::is_whitespace)?;
    if !matches!(leg, "enterprise" | "consumer") {
        return None;
    }
    let rest = rest.trim_start();
    let (from, rest) = rest.split_once(" -> ")?;
    let (to, label) = rest.split_once("  ")?;
    let (from, to, label) = (from.trim().to_owned(), to.trim().to_owned(), label.trim().to_owned());
    if label.starts_with("rtp ") || label.starts_with("rtcp ") {
        Some(Row::Media { from, to, text: label })
    } else {
        Some(Row::Message { from, to, label, details: Vec::new() })
    }
}

/// `& < > " '` as XML entities.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Not allowed in XML 1.0 at all; a trace should never hold one, but it is input.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

const COL: usize = 250;
const MARGIN: usize = 20;
const HEAD: usize = 46;
const ROW: usize = 30;
const STEP_ROW: usize = 24;
/// Characters of 11 px monospace that fit between two adjacent lifelines.
const LABEL_CHARS: usize = 36;

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn draw(l: &Ladder) -> String {
    let x = |actor: &str| l.actors.iter().position(|a| a == actor).map_or(MARGIN, |i| MARGIN + COL / 2 + i * COL);
    let width = 2 * MARGIN + l.actors.len().max(1) * COL;
    let body: usize = l.rows.iter().map(|r| if matches!(r, Row::Step(_)) { STEP_ROW } else { ROW }).sum();
    let height = HEAD + body + MARGIN;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="ladder" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" data-messages="{}">"#,
        l.messages()
    );
    s.push_str(r#"<style>.ladder text{font:11px monospace}.ladder .actor text{font-weight:bold}.ladder .step text{fill:#555}.ladder .media text{fill:#225}</style>"#);
    for a in &l.actors {
        let cx = x(a);
        let _ = write!(
            s,
            r##"<g class="actor"><rect x="{}" y="6" width="{}" height="24" rx="4" fill="#eef" stroke="#446"/><text x="{cx}" y="22" text-anchor="middle">{}</text><line class="lifeline" x1="{cx}" y1="30" x2="{cx}" y2="{}" stroke="#99a" stroke-dasharray="4 3"/></g>"##,
            cx - COL / 2 + 8,
            COL - 16,
            escape(&shorten(a, LABEL_CHARS)),
            height - MARGIN / 2,
        );
    }
    let mut y = HEAD;
    for r in &l.rows {
        match r {
            Row::Step(text) => {
                let _ = write!(
                    s,
                    r##"<g class="step"><line x1="{MARGIN}" y1="{}" x2="{}" y2="{}" stroke="#ccc"/><text x="{}" y="{}">{}</text></g>"##,
                    y + 4,
                    width - MARGIN,
                    y + 4,
                    MARGIN + 2,
                    y + 17,
                    escape(&shorten(text, (width - 2 * MARGIN) / 7)),
                );
                y += STEP_ROW;
            }
            Row::Message { from, to, label, details } => {
                let (x1, x2) = (x(from), x(to));
                let ay = y + 20;
                let dir: isize = if x2 >= x1 { 1 } else { -1 };
                let tip = x2 as isize;
                let back = tip - dir * 9;
                let span = x1.abs_diff(x2).max(COL);
                let mut title = label.clone();
                for d in details {
                    title.push('\n');
                    title.push_str(d);
                }
                let _ = write!(
                    s,
                    r##"<g class="msg"><title>{}</title><line x1="{x1}" y1="{ay}" x2="{x2}" y2="{ay}" stroke="#124" stroke-width="1.4"/><polygon class="head" points="{tip},{ay} {back},{} {back},{}" fill="#124"/><text x="{}" y="{}" text-anchor="middle">{}</text></g>"##,
                    escape(&title),
                    ay - 4,
                    ay + 4,
                    x1.min(x2) + x1.abs_diff(x2) / 2,
                    ay - 5,
                    escape(&shorten(label, span * LABEL_CHARS / COL)),
                );
                y += ROW;
            }
            Row::Media { from, to, text } => {
                let (x1, x2) = (x(from).min(x(to)), x(from).max(x(to)));
                let arrow = if x(from) <= x(to) { "→" } else { "←" };
                let _ = write!(
                    s,
                    r##"<g class="media"><title>{} {} {}: {}</title><rect x="{}" y="{}" width="{}" height="20" fill="#ffd" stroke="#bb8"/><text x="{}" y="{}" text-anchor="middle">{arrow} {}</text></g>"##,
                    escape(from),
                    arrow,
                    escape(to),
                    escape(text),
                    x1,
                    y + 5,
                    (x2 - x1).max(40),
                    x1 + (x2 - x1) / 2,
                    y + 19,
                    escape(&shorten(text, (x2 - x1).max(COL) * LABEL_CHARS / COL - 2)),
                );
                y += ROW;
            }
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "scenario: A call to an Offline Skype user gives 480 at once
profiles: enterprise lync-2013, consumer skype-consumer, trace canonical
step 1  Given the Lync user \"alice@contoso.com\"
  (no traffic)
step 5  When the Lync user \"alice@contoso.com\" calls \"carol@outlook.com\"
  enterprise  lync:alice@contoso.com -> gw:enterprise  INVITE sip:carol@outlook.com  [call-1]
              From: alice@contoso.com  To: carol@outlook.com
                codecs: 117 G722/8000/2
  enterprise  gw:enterprise -> lync:alice@contoso.com  480 (INVITE)  [call-1]
  consumer    gw:consumer -> skype:carol@outlook.com  INVITE sip:carol@outlook.com  [call-2]
  consumer    skype:carol@outlook.com -> gw:consumer  480 (INVITE)  [call-2]
  consumer    skype:carol@outlook.com -> gw:consumer  rtp ssrc-2 [SILK_WB_V3/16000] pkts 25 lost 0
step 6  Then the call is refused with 480
";

    #[test]
    fn one_arrow_per_sip_message_and_one_note_per_media_line() {
        let l = Ladder::parse(TRACE);
        assert_eq!(l.actors, ["lync:alice@contoso.com", "gw:enterprise", "gw:consumer", "skype:carol@outlook.com"]);
        assert_eq!(l.messages(), 4);
        let svg = l.svg();
        assert_eq!(svg.matches(r#"<g class="msg">"#).count(), 4);
        assert_eq!(svg.matches(r#"<polygon class="head""#).count(), 4);
        assert_eq!(svg.matches(r#"<g class="media">"#).count(), 1);
        assert_eq!(svg.matches(r#"<g class="step">"#).count(), 3);
        assert_eq!(svg.matches(r#"class="lifeline""#).count(), 4);
        assert!(svg.contains(r#"data-messages="4""#));
        let Some(Row::Message { details, .. }) = l.rows.get(2) else { panic!("{:?}", l.rows) };
        assert_eq!(details, &["From: alice@contoso.com  To: carol@outlook.com", "codecs: 117 G722/8000/2"]);
        // A response points back: its head is at the Lync user's lifeline, left of its tail.
        assert!(svg.contains(r#"<line x1="395" y1="144" x2="145" y2="144""#), "{svg}");
    }

    #[test]
    fn text_from_the_trace_is_escaped() {
        let trace = "step 1  When \"<b>x&y</b>\" sends 'hi'\n  enterprise  lync:a<script>@x -> gw:enterprise  MESSAGE sip:\"q\"&<z>  [call-1]\n              body=\"</svg><script>alert(1)</script>\"\n";
        let svg = Ladder::parse(trace).svg();
        assert!(!svg.contains("<script>") && !svg.contains("<b>") && !svg.contains("</svg><"), "{svg}");
        assert!(svg.contains("&lt;b&gt;x&amp;y&lt;/b&gt;"), "{svg}");
        assert!(svg.contains("&lt;/svg&gt;&lt;script&gt;"), "{svg}");
        assert!(svg.contains("&#39;hi&#39;") && svg.contains("&quot;q&quot;"));
        assert_eq!(svg.matches("</svg>").count(), 1);
        assert_eq!(escape("a\u{1}b"), "a\u{fffd}b");
    }

    #[test]
    fn an_empty_trace_draws_an_empty_ladder() {
        let l = Ladder::parse("scenario: x\nprofiles: y\n");
        assert_eq!((l.actors.len(), l.rows.len()), (0, 0));
        let svg = l.svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn long_labels_are_shortened_but_kept_whole_in_the_title() {
        let long = format!("INVITE sip:{}@msn.com  [call-1]", "x".repeat(200));
        let trace = format!("step 1  When\n  enterprise  lync:a@b -> gw:enterprise  {long}\n");
        let svg = Ladder::parse(&trace).svg();
        assert!(svg.contains(&format!("<title>{long}</title>")));
        assert!(svg.contains('…'));
    }
}
