//! ANAF's error texts (in lists, upload answers, error documents): whatever the text, the
//! error keeps it, and the numbers read out of it are in the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let error = anaf::fuzzing::anaf_text(text, 200);
    assert_eq!(
        error.anaf_message(),
        Some(text.trim()),
        "ANAF's text is kept as written"
    );
    if let Some(previous) = error.previous_upload_id() {
        assert!(text.contains(&previous.to_string()));
    }
    let _ = error.to_string();
});
