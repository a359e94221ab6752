//! What a user's program uploads or sends to `validare`: the sandbox reads it as ANAF's XML
//! parser does, checks the root for the standard, applies the invoice's rules, and looks for
//! the firewall's signatures. ANAF answers every refusal with at least one message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let standard = if selector % 2 == 0 { "FACT1" } else { "FCN" };
    if let Err(messages) = anaf_sandbox::fuzzing::validate_document(standard, body) {
        assert!(
            !messages.is_empty() && messages.iter().all(|m| !m.trim().is_empty()),
            "{messages:?}"
        );
    }
    if let Err(message) = anaf_sandbox::fuzzing::parse_xml(body) {
        assert!(!message.is_empty());
    }
    let _ = anaf_sandbox::fuzzing::firewall_triggered(body);
});
