//! The JSON answers of the two message lists, from any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = anaf::fuzzing::message_list(data);
    if let Ok(page) = anaf::fuzzing::message_page(data, 1) {
        assert!(page.messages.len() <= data.len(), "no message out of nothing");
    }
});
