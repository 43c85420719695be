//! Comparing a canonical trace with its golden snapshot in `snapshots/` (insta). A mismatch
//! prints insta's line diff of the two ladders; `cargo insta review` accepts a change.

use super::config;

/// Fails (panics, which fails the step) when `text` differs from the golden `name`. insta
/// records the new ladder and prints its diff; the step's failure reason names the first line
/// that differs, so a verdict table reads without the diff.
pub fn assert_matches(name: &str, text: &str) {
    let dir = config().snapshots.clone();
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
    use super::first_difference;

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
