//! The JSON answers of the public registries (the VAT registry and the RO e-Factura register),
//! from any bytes: every CIF found or not found is reported, and a refusal keeps the
//! registry's message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let answer: Option<Value> = serde_json::from_slice(data).ok();
    let listed = |key: &str| answer.as_ref().and_then(|a| a.get(key)?.as_array()).map(Vec::len);
    let message = answer.as_ref().and_then(|a| a.get("message")?.as_str());

    let taxpayers = anaf::fuzzing::vat_registry(200, data);
    let register = anaf::fuzzing::efactura_register(200, data);
    match (&taxpayers, &register) {
        (Ok(taxpayers), Ok(register)) => {
            assert_eq!(Some(taxpayers.found.len()), listed("found"));
            assert_eq!(Some(taxpayers.not_found.len()), listed("notFound"));
            assert_eq!(register.found.len(), taxpayers.found.len());
            assert_eq!(register.not_found, taxpayers.not_found);
        }
        (Err(a), Err(b)) => {
            assert_eq!(a.anaf_message(), b.anaf_message());
            // A JSON answer without both lists is a refusal, with the registry's message.
            if let Some(message) = message
                && (listed("found").is_none() || listed("notFound").is_none())
            {
                assert_eq!(a.anaf_message(), Some(message), "{a:?}");
            }
        }
        _ => panic!("the two registries read one answer differently: {taxpayers:?} {register:?}"),
    }
});
