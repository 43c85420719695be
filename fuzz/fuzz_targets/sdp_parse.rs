//! SDP: parse, every typed accessor, and the round trip parse(write(x)) == x.
#![no_main]

use fedcert::fuzzing::exercise_sdp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| exercise_sdp(data));
