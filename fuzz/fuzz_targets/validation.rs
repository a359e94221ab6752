//! The JSON answer of `validare` (and of a `transformare` that finds errors).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = anaf::fuzzing::validation(data);
});
