//! Comparing a canonical trace with its golden snapshot in `snapshots/` (insta). A mismatch
//! prints insta's line diff of the two ladders; `cargo insta review` accepts a change.

use super::config;

/// Fails (panics, which fails the step) when `text` differs from the golden `name`.
pub fn assert_matches(name: &str, text: &str) {
    let dir = config().snapshots.clone();
    insta::with_settings!({
        snapshot_path => dir,
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name.to_owned(), text);
    });
}

/// The content of an insta `.snap` file without its metadata header.
pub fn body(snap: &str) -> String {
    let rest = snap.strip_prefix("---\n").and_then(|r| r.split_once("\n---\n")).map_or(snap, |(_, b)| b);
    rest.to_owned()
}
