//! The XML answers of `upload` and `stareMesaj`, from any bytes. An upload answer the client
//! cannot read must leave the outcome unknown (never "refused"), and a refusal must keep
//! ANAF's text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(error) = anaf::fuzzing::upload_receipt(200, data) {
        // A refusal is only ever ANAF's own words; anything else leaves the outcome unknown.
        assert!(
            error.upload_outcome_unknown() || error.anaf_message().is_some(),
            "{error:?}"
        );
    }
    let _ = anaf::fuzzing::upload_state(200, data);
});
