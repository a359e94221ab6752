//! Saved tokens read back (the file store's and the C ABI's JSON), and the JWT expiry read
//! from a token: what is read, written and read again, is the same.
#![no_main]

use anaf::TokenSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = anaf::fuzzing::jwt_expiry(text);
    let Ok(tokens) = TokenSet::from_json(text) else { return };
    assert_eq!(TokenSet::from_json(&tokens.to_json()).unwrap(), tokens);
});
