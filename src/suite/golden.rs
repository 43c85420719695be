//! Comparing a canonical trace with its golden snapshot in `snapshots/` (insta). A mismatch
//! prints insta's line diff of the two ladders; `cargo insta review` accepts a change.

use super::config;

/// Fails (panics, which fails the step) when `text` differs from the golden `name`. insta
/// records the new ladder and prints its diff; the step's failure reason names the first line
/// that differs, so a verdict table reads without the diff.
pub fn assert_matches(name: &str, text: &str) {
    let dir = config().snapshots.clone();
    if config().sut.impairment.is_some() {
        return assert_matches_in_any_order(&dir, name, text);
    }
    let golden = std::fs::read_to_string(dir.join(format!("{name}.snap"))).ok().map(|s| body(&s));
    let compared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        insta::with_settings!({
            snapshot_path => dir,
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name.to_owned(), text);
        });
    }));
    if let Err(panic) = compared {
        match golden {
            Some(g) => match first_difference(&g, text) {
                Some(d) => panic!("the canonical trace differs from its golden {name}: {d}"),
                None => std::panic::resume_unwind(panic),
            },
            None => panic!("no golden {name}.snap in {}: bless it once it is right", config().snapshots.display()),
        }
    }
}

/// Behind an impairment relay, arrival order within a step is the network's, not the SUT's: a
/// lost 200 retransmitted after the NOTIFY that followed it arrives second. So the golden and
/// the trace are compared with the messages of each step in a canonical order; every message
/// and every line of it must still be there. Nothing is blessed in this mode.
fn assert_matches_in_any_order(dir: &std::path::Path, name: &str, text: &str) {
    let Ok(snap) = std::fs::read_to_string(dir.join(format!("{name}.snap"))) else {
        panic!("no golden {name}.snap in {}: bless it on an unimpaired run", dir.display());
    };
    let (golden, got) = (in_step_order(&body(&snap)), in_step_order(text));
    if let Some(d) = first_difference(&golden, &got) {
        panic!("the canonical trace differs from its golden {name} (messages of a step compared in any order): {d}");
    }
}

/// The ladder with each step's message blocks sorted (a block is a message line and the
/// deeper-indented lines under it).
pub fn in_step_order(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut blocks: Vec<String> = Vec::new();
    let flush = |blocks: &mut Vec<String>, out: &mut Vec<String>| {
        blocks.sort();
        out.append(blocks);
    };
    for line in text.trim_end().lines() {
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            flush(&mut blocks, &mut out);
            out.push(line.to_owned());
        } else if indent > 2 && !blocks.is_empty() {
            let last = blocks.len() - 1;
            blocks[last].push('\n');
            blocks[last].push_str(line);
        } else {
            blocks.push(line.to_owned());
        }
    }
    flush(&mut blocks, &mut out);
    out.join("\n")
}

/// Where two ladders first differ: the line number, the step it is in, and both lines.
pub fn first_difference(golden: &str, got: &str) -> Option<String> {
    let (g, t): (Vec<&str>, Vec<&str>) = (golden.trim_end().lines().collect(), got.trim_end().lines().collect());
    let i = (0..g.len().max(t.len())).find(|&i| g.get(i) != t.get(i))?;
    let step = g[..i.min(g.len())].iter().rev().find(|l| l.starts_with("step ")).map(|l| l.trim());
    let show = |l: Option<&&str>| l.map_or("(nothing)".to_owned(), |l| format!("`{}`", l.trim()));
    Some(format!(
        "line {}{}: expected {}, got {}",
        i + 1,
        step.map(|s| format!(" (in {s})")).unwrap_or_default(),
        show(g.get(i)),
        show(t.get(i))
    ))
}

/// The content of an insta `.snap` file without its metadata header.
pub fn body(snap: &str) -> String {
    let rest = snap.strip_prefix("---\n").and_then(|r| r.split_once("\n---\n")).map_or(snap, |(_, b)| b);
    rest.to_owned()
}

#[cfg(test)]
mod tests {
    use super::{first_difference, in_step_order};

    #[test]
    fn in_step_order_sorts_message_blocks_within_a_step_only() {
        let a = "step 1  When x\n  consumer b\n              From: 1\n  consumer a\nstep 2  When y\n  enterprise z\n";
        let b = "step 1  When x\n  consumer a\n  consumer b\n              From: 1\nstep 2  When y\n  enterprise z\n";
        assert_eq!(in_step_order(a), in_step_order(b));
        // A block keeps its own lines: moving a header line to another message is a difference.
        let c = "step 1  When x\n  consumer b\n  consumer a\n              From: 1\nstep 2  When y\n  enterprise z\n";
        assert_ne!(in_step_order(a), in_step_order(c));
        // Messages do not move across steps.
        let d = "step 1  When x\n  consumer b\n              From: 1\nstep 2  When y\n  consumer a\n  enterprise z\n";
        assert_ne!(in_step_order(a), in_step_order(d));
    }

    #[test]
    fn first_difference_names_the_line_the_step_and_both_texts() {
        let golden = "title\nstep 1  Given x\n  a -> b INVITE\n  b -> a 200\n";
        assert_eq!(first_difference(golden, golden), None);
        let got = "title\nstep 1  Given x\n  a -> b INVITE\n  b -> a 501\n";
        assert_eq!(
            first_difference(golden, got).as_deref(),
            Some("line 4 (in step 1  Given x): expected `b -> a 200`, got `b -> a 501`")
        );
        assert_eq!(
            first_difference(golden, "title\n").as_deref(),
            Some("line 2: expected `step 1  Given x`, got (nothing)")
        );
    }
}
