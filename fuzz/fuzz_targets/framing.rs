//! Stream framing under arbitrary bytes and arbitrary read boundaries.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fedcert::fuzzing::exercise_framing(data));
