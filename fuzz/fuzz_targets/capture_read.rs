//! pcap/pcapng reading, SIP extraction, listing and replay into tap events.
#![no_main]

use fedcert::fuzzing::exercise_capture;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| exercise_capture(data, false));
