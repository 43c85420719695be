//! One datagram: parse, then every header reader, validation, multipart and SDP bodies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fedcert::fuzzing::exercise_datagram(data));
