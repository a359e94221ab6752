//! The address the browser comes back to after the login: the code is taken only when the
//! address carries the state this login sent. The address is read as the client reads a
//! pasted one (the whitespace around it dropped, Unicode's included) and then as browsers read
//! it (tabs and line breaks dropped, the query percent-decoded), so the check does the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    // The address, then on the next line the state this login sent.
    let (address, state) = text.split_once('\n').unwrap_or((text, "xyz"));
    if let Ok(code) = anaf::fuzzing::code_from_redirect(address, state) {
        assert!(!code.expose().is_empty());
        let parsed = url::Url::parse(address.trim()).expect("a code comes only from an address");
        assert!(
            parsed
                .query_pairs()
                .any(|(key, value)| key == "state" && value == state),
            "a code without this login's state: {address:?}"
        );
    }
});
