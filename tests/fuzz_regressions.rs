//! Inputs the fuzz targets once crashed on (`tests/fixtures/fuzz/<target>/`), replayed through
//! the same entry points (`fedcert::fuzzing`) on the stable toolchain, so a fixed crash stays
//! fixed. `.ci/fuzz` names the inputs it finds in `fuzz/artifacts/<target>/`; copy them here.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read");
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{} panics again", path.display());
        n += 1;
    }
    n
}

#[test]
fn capture_reading_survives_every_input_that_once_crashed_it() {
    assert!(replay("capture_read", |d| fedcert::fuzzing::exercise_capture(d, false)) >= 1);
}

#[test]
fn canonical_rendering_survives_every_input_that_once_crashed_it() {
    assert!(replay("canonical", |d| fedcert::fuzzing::exercise_capture(d, true)) >= 1);
}
