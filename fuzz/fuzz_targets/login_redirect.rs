//! The address the browser comes back to after the login: the code is taken only with the
//! state this login sent.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    // The address, then on the next line the state this login sent.
    let (url, state) = text.split_once('\n').unwrap_or((text, "xyz"));
    if let Ok(code) = anaf::fuzzing::code_from_redirect(url, state) {
        assert!(!code.expose().is_empty());
        assert!(url.contains("state="), "a code without the state: {url:?}");
    }
});
