//! `fedcert check`: the canonical trace of a capture, rendered by the same code as the suite's
//! ([`canonical::messages`], [`canonical::media_datagrams`], [`canonical::render_with_media`]).
//! The capture's packets are turned back into the [`TapEvent`]s the harness's tap would have
//! recorded: UDP datagrams as they are, each TCP direction reassembled by sequence number
//! ([`Direction`]) into in-order chunks, a SYN as a [`TapKind::TcpOpen`]. The leg of a packet
//! comes from the roles, its step from the packet's `step N` comment.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::canonical::{self, Rendered, StepLine, TraceProfile};
use super::meta::{CaptureMeta, step_of};
use super::pcap_read::{Capture, Packet};
use super::reassembly::{Chunk, Direction};
use super::roles::Roles;
use crate::net::{TapEvent, TapKind, Transport};

/// The tap events a capture stands for, and what could not be carried over (each note names
/// the file and frame).
#[derive(Debug, Clone, Default)]
pub struct Replayed {
    /// Events in frame order.
    pub events: Vec<TapEvent>,
    /// What was skipped or lost.
    pub notes: Vec<String>,
}

/// The step of a packet: its `step N` comment, else `default`.
fn step(p: &Packet, default: usize) -> usize {
    p.comment.as_deref().and_then(step_of).unwrap_or(default)
}

/// Turns packets into tap events. Packets with no role at either end are left out; packets
/// without a `step N` comment count in step `default_step`.
pub fn tap_events(packets: &[Packet], roles: &Roles, default_step: usize, file: &str) -> Replayed {
    let mut out = Replayed::default();
    let mut dirs: HashMap<(SocketAddr, SocketAddr), Direction> = HashMap::new();
    // Directions in order of first appearance, so the end-of-capture chunks come out stably.
    let mut order = Vec::new();
    // Step of each TCP frame, for the chunks its bytes end up in.
    let mut steps: HashMap<usize, usize> = HashMap::new();
    for p in packets {
        let Some(leg) = roles.leg(p.transport, p.src, p.dst) else { continue };
        let actor = Some(leg.label().to_owned());
        let event = |at, step, kind| TapEvent {
            at,
            transport: p.transport,
            src: p.src,
            dst: p.dst,
            kind,
            actor: actor.clone(),
            step,
        };
        let here = step(p, default_step);
        match (p.transport, &p.tcp) {
            (Transport::Udp, _) => out.events.push(event(p.at, here, TapKind::Data(p.payload.clone()))),
            (Transport::Tcp, Some(tcp)) => {
                steps.insert(p.number, here);
                let key = (p.src, p.dst);
                let d = dirs.entry(key).or_insert_with(|| {
                    order.push(key);
                    Direction::new()
                });
                if tcp.syn && (!d.started() || d.is_new_connection(tcp)) {
                    // A new connection: what the old one still held ends here, and framing
                    // starts afresh (the tap's TcpOpen does the same in `canonical::messages`).
                    let rest = d.finish();
                    chunks(&mut out, &event, rest, &steps, file);
                    *d = Direction::new();
                    out.events.push(event(p.at, here, TapKind::TcpOpen));
                }
                let got = d.segment(p.number, p.at, tcp, &p.payload);
                chunks(&mut out, &event, got, &steps, file);
            }
            (Transport::Tcp, None) => {}
        }
    }
    for key in order {
        let Some(d) = dirs.get_mut(&key) else { continue };
        let Some(leg) = roles.leg(Transport::Tcp, key.0, key.1) else { continue };
        let actor = Some(leg.label().to_owned());
        let event = |at, step, kind| TapEvent {
            at,
            transport: Transport::Tcp,
            src: key.0,
            dst: key.1,
            kind,
            actor: actor.clone(),
            step,
        };
        chunks(&mut out, &event, d.finish(), &steps, file);
    }
    out
}

/// Appends in-order TCP bytes as data events; a gap (bytes the capture lacks) becomes a note
/// and a fresh start of framing.
fn chunks(
    out: &mut Replayed,
    event: &dyn Fn(std::time::Duration, usize, TapKind) -> TapEvent,
    chunks: Vec<Chunk>,
    steps: &HashMap<usize, usize>,
    file: &str,
) {
    for c in chunks {
        let step = steps.get(&c.frame).copied().unwrap_or_default();
        if c.skipped > 0 {
            let open = event(c.at, step, TapKind::TcpOpen);
            out.notes.push(format!(
                "{file}: frame {}: {} bytes of the TCP stream {} -> {} are missing from the capture before this segment; \
                 framing restarts here",
                c.frame, c.skipped, open.src, open.dst
            ));
            out.events.push(open);
        }
        out.events.push(event(c.at, step, TapKind::Data(c.data)));
    }
}

/// The canonical trace of a capture.
#[derive(Debug, Clone)]
pub struct Traced {
    /// The fedcert metadata, when the capture carries it.
    pub meta: Option<CaptureMeta>,
    /// The trace.
    pub rendered: Rendered,
    /// What was skipped or unreadable, naming file and frame.
    pub notes: Vec<String>,
}

/// The step line of a capture that has no step marks: everything is one step.
pub const WHOLE_CAPTURE: &str = "(the whole capture: it carries no step marks)";

/// Renders the canonical trace of a read capture. Roles and steps come from the capture's
/// metadata; without it, from `roles` (a roles file), with every packet in one step (or in
/// the steps its `step N` comments name). Errors name `file`.
pub fn trace_of(capture: &Capture, file: &str, roles: Option<&Roles>) -> Result<Traced, String> {
    let meta = CaptureMeta::from_comments(&capture.section_comments).map_err(|e| format!("{file}: {e}"))?;
    let (roles, steps, title) = match &meta {
        Some(m) => (m.roles().map_err(|e| format!("{file}: {e}"))?, m.step_lines(), m.scenario.clone()),
        None => {
            let Some(r) = roles else {
                return Err(format!(
                    "{file}: the capture carries no fedcert metadata: give its roles with --roles FILE"
                ));
            };
            let marked = capture.packets.iter().filter_map(|p| p.comment.as_deref().and_then(step_of)).max();
            let steps = match marked {
                Some(n) => (1..=n).map(|i| StepLine { text: format!("(step {i})"), check: false }).collect(),
                None => vec![StepLine { text: WHOLE_CAPTURE.into(), check: false }],
            };
            (r.clone(), steps, file.to_owned())
        }
    };
    let default_step = if meta.is_some() { 0 } else { 1 };
    let replayed = tap_events(&capture.packets, &roles, default_step, file);
    let cast = roles.cast();
    let (seen, bad) = canonical::messages(&replayed.events, &cast);
    let media = canonical::media_datagrams(&replayed.events);
    let rendered = canonical::render_with_media(&title, &steps, &seen, &media, &cast, TraceProfile::builtin());
    let mut notes = capture.notes.clone();
    notes.extend(replayed.notes);
    notes.extend(bad.into_iter().map(|b| format!("{file}: unreadable SIP: {b}")));
    Ok(Traced { meta, rendered, notes })
}

/// A unified diff of `text` against the golden body `golden` (insta's `.snap` body), or `None`
/// when they are equal. Trailing newlines are not compared, as insta does not.
pub fn golden_diff(golden_label: &str, golden: &str, text: &str, text_label: &str) -> Option<String> {
    if golden.trim_end_matches('\n') == text.trim_end_matches('\n') {
        return None;
    }
    let (g, t) = (format!("{}\n", golden.trim_end_matches('\n')), format!("{}\n", text.trim_end_matches('\n')));
    Some(
        similar::TextDiff::from_lines(&g, &t)
            .unified_diff()
            .context_radius(3)
            .header(golden_label, text_label)
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Side;
    use crate::trace::meta::CaptureMeta;
    use crate::trace::parse_capture;
    use crate::trace::roles::Role;
    use crate::trace::test_support::{addr, data, ev, ok, request};
    use crate::trace::write_pcapng;

    /// Enterprise over TCP (one message split over two events, in step 1), consumer over UDP
    /// (step 2), as the suite's tap records them.
    fn events_and_roles() -> (Vec<TapEvent>, Roles) {
        let (h_ent, gw_ent) = (addr("127.0.0.1:5061"), addr("127.0.0.1:5080"));
        let eph = addr("127.0.0.1:40001");
        let (h_con, gw_con) = (addr("127.0.0.1:5070"), addr("127.0.0.1:5090"));
        let mut roles = Roles::default();
        roles.insert(Transport::Tcp, h_ent, Role::Harness(Side::Enterprise));
        roles.insert(Transport::Tcp, gw_ent, Role::Gateway(Side::Enterprise));
        roles.insert(Transport::Udp, h_con, Role::Harness(Side::Consumer));
        roles.insert(Transport::Udp, gw_con, Role::Gateway(Side::Consumer));
        let m = request(1, "hello over tcp");
        let (a, b) = m.as_bytes().split_at(30);
        let with = |mut e: TapEvent, step: usize, leg: &str| {
            e.step = step;
            e.actor = Some(leg.into());
            e
        };
        let events = vec![
            with(ev(1, Transport::Tcp, eph, gw_ent, TapKind::TcpOpen), 1, "enterprise"),
            with(data(2, Transport::Tcp, eph, gw_ent, a), 1, "enterprise"),
            with(data(3, Transport::Tcp, eph, gw_ent, b), 1, "enterprise"),
            with(data(4, Transport::Tcp, gw_ent, eph, ok(1).as_bytes()), 1, "enterprise"),
            with(data(5, Transport::Udp, gw_con, h_con, request(2, "hi over udp").as_bytes()), 2, "consumer"),
            with(data(6, Transport::Udp, h_con, gw_con, ok(2).as_bytes()), 2, "consumer"),
        ];
        (events, roles)
    }

    fn steps() -> Vec<StepLine> {
        vec![StepLine { text: "When one".into(), check: false }, StepLine { text: "When two".into(), check: false }]
    }

    #[test]
    fn a_written_pcapng_renders_the_same_trace_as_the_tap_events_it_came_from() {
        let (events, roles) = events_and_roles();
        let meta = CaptureMeta::new("im", "Round trip", "im__round-trip", &steps(), &roles);
        let mut bytes = Vec::new();
        write_pcapng(&events, &meta, &mut bytes).unwrap();
        let capture = parse_capture(&bytes, "x.pcapng").unwrap();
        assert!(capture.packets.iter().all(|p| p.comment.as_deref().is_some_and(|c| c.starts_with("step "))));
        let traced = trace_of(&capture, "x.pcapng", None).unwrap();
        assert_eq!(traced.meta.as_ref(), Some(&meta));
        assert!(traced.notes.is_empty(), "{:?}", traced.notes);
        let cast = roles.cast();
        let (seen, _) = canonical::messages(&events, &cast);
        let want = canonical::render_with_media("Round trip", &steps(), &seen, &[], &cast, TraceProfile::builtin());
        assert_eq!(traced.rendered.text, want.text);
        assert_eq!(traced.rendered.messages, 4);
        assert!(
            traced.rendered.text.contains("step 2  When two\n  consumer    gw:consumer -> skype:"),
            "{}",
            traced.rendered.text
        );
    }

    #[test]
    fn without_metadata_the_roles_file_gives_the_legs_and_everything_is_one_step() {
        let (events, roles) = events_and_roles();
        let mut bytes = Vec::new();
        crate::trace::write_pcap(&events, &mut bytes).unwrap();
        let capture = parse_capture(&bytes, "plain.pcap").unwrap();
        let e = trace_of(&capture, "plain.pcap", None).unwrap_err();
        assert!(e.contains("plain.pcap") && e.contains("--roles"), "{e}");
        let traced = trace_of(&capture, "plain.pcap", Some(&roles)).unwrap();
        assert_eq!(traced.rendered.messages, 4);
        assert!(traced.rendered.text.starts_with("scenario: plain.pcap\n"));
        assert!(traced.rendered.text.contains(WHOLE_CAPTURE));
    }

    #[test]
    fn golden_diff_is_none_when_equal_up_to_trailing_newlines_and_a_unified_diff_otherwise() {
        assert_eq!(golden_diff("g", "a\nb\n", "a\nb", "t"), None);
        let d = golden_diff("snapshots/x.snap", "a\nb\n", "a\nc\n", "capture").unwrap();
        assert!(d.contains("--- snapshots/x.snap") && d.contains("-b\n") && d.contains("+c\n"), "{d}");
    }
}
