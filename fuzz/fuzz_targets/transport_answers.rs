//! The JSON answers of e-Transport (`upload`, `stareMesaj`, `lista`, `info`), from any bytes.
//! A refusal keeps ANAF's text (without the spaces around it); an upload answer the client
//! cannot read leaves the outcome unknown; every record ANAF listed is kept; "none" texts are
//! empty results, not errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The texts of the answer's `Errors` array, as ANAF sends them.
fn anaf_errors(answer: &Value) -> Vec<&str> {
    answer
        .get("Errors")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(|e| e.get("errorMessage")?.as_str()).collect())
        .unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let answer: Option<Value> = serde_json::from_slice(data).ok();
    let errors = answer.as_ref().map(anaf_errors).unwrap_or_default();

    match anaf::fuzzing::transport_receipt(200, data) {
        Ok(receipt) => assert!(errors.is_empty(), "a refused upload read as taken: {receipt:?}"),
        Err(error) => match errors.first() {
            Some(text) => assert_eq!(error.anaf_message(), Some(text.trim()), "{error:?}"),
            None => assert!(error.upload_outcome_unknown(), "{error:?}"),
        },
    }

    match anaf::fuzzing::transport_state(200, data) {
        Ok(anaf::etransport::TransportState::Nok { errors: kept }) => assert_eq!(kept, errors),
        Ok(_) => {}
        Err(error) => {
            if let Some(text) = errors.first() {
                assert_eq!(error.anaf_message(), Some(text.trim()), "{error:?}");
            }
        }
    }

    match anaf::fuzzing::transport_list(200, data) {
        Ok(records) => {
            if errors.is_empty() {
                let listed = answer
                    .as_ref()
                    .and_then(|a| a.get("mesaje"))
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                assert_eq!(records.len(), listed, "records lost");
            } else {
                assert!(records.is_empty() && errors[0].starts_with("Nu exista mesaje"));
            }
        }
        Err(error) => {
            if let Some(text) = errors.first() {
                assert_eq!(error.anaf_message(), Some(text.trim()), "{error:?}");
            }
        }
    }

    match anaf::fuzzing::transport_info(200, data) {
        Ok(records) => {
            if let Some(Value::Array(listed)) = &answer {
                assert_eq!(&records, listed, "records changed");
            }
        }
        Err(error) => {
            if let Some(text) = answer.as_ref().and_then(|a| a.get("error")?.as_str()) {
                assert_eq!(error.anaf_message(), Some(text.trim()), "{error:?}");
            }
        }
    }
});
