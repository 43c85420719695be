//! Canonical rendering of whatever a capture holds (with its own metadata, or with fixed roles).
#![no_main]

use fedcert::fuzzing::exercise_capture;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| exercise_capture(data, true));
