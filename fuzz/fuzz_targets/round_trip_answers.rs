//! The sandbox writes ANAF's answers; the client must read back exactly what was written:
//! upload receipts and refusals, states, the error document, list errors, validation
//! verdicts, the firewall page. Texts are any Unicode XML can carry.
#![no_main]

use anaf::efactura::{ErrorReport, UploadState};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Answers {
    upload_id: u64,
    download_id: u64,
    message: String,
    messages: Vec<String>,
    seller_cif: String,
    state: u8,
    support_id: u64,
}

/// Characters an XML 1.0 document can hold (ANAF's texts never hold others).
fn xml_text(text: &str) -> String {
    text.chars()
        .filter(|&c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..))
        .collect()
}

fuzz_target!(|answers: Answers| {
    use anaf::fuzzing as client;
    use anaf_sandbox::fuzzing as sandbox;
    let message = xml_text(&answers.message);
    let messages: Vec<String> = answers.messages.iter().map(|m| xml_text(m)).collect();
    let seller_cif = xml_text(&answers.seller_cif);

    let receipt = client::upload_receipt(200, &sandbox::upload_ok(answers.upload_id)).unwrap();
    assert_eq!(receipt.upload_id, answers.upload_id);

    let refused = client::upload_receipt(200, &sandbox::upload_error(&message)).unwrap_err();
    assert!(!refused.upload_outcome_unknown(), "a refusal is certain");
    assert_eq!(refused.anaf_message(), Some(message.trim()));

    let (stare, expected) = match answers.state % 4 {
        0 => ("in prelucrare", UploadState::InProgress),
        1 => (
            "ok",
            UploadState::Ok {
                download_id: answers.download_id,
            },
        ),
        2 => (
            "nok",
            UploadState::Nok {
                download_id: answers.download_id,
            },
        ),
        _ => ("XML cu erori nepreluat de sistem", UploadState::RejectedXml),
    };
    let final_state = matches!(answers.state % 4, 1 | 2).then_some(answers.download_id);
    let state = client::upload_state(200, &sandbox::status_state(stare, final_state)).unwrap();
    assert_eq!(state, expected);
    let failed = client::upload_state(200, &sandbox::status_error(&message)).unwrap_err();
    assert_eq!(failed.anaf_message(), Some(message.trim()));

    let document = sandbox::error_document(answers.upload_id, &seller_cif, &messages);
    let report = ErrorReport::parse(&document).unwrap().expect("ANAF's error document");
    assert_eq!(report.upload_id, Some(answers.upload_id));
    assert_eq!(report.seller_cif.as_deref(), Some(seller_cif.as_str()));
    assert_eq!(report.messages, messages);

    match client::message_list(&sandbox::eroare(&message, "Lista Mesaje")) {
        Ok(list) => assert!(list.is_empty() && message.trim_start().starts_with("Nu exista mesaje")),
        Err(error) => assert_eq!(error.anaf_message(), Some(message.trim())),
    }

    let verdict = client::validation(&sandbox::validation_report(&messages)).unwrap();
    assert_eq!(verdict.valid, messages.is_empty());
    assert_eq!(verdict.messages, messages);

    let support_id = answers.support_id.to_string();
    let blocked = client::firewall_page(&sandbox::waf_page(&support_id)).expect("the firewall page");
    assert_eq!(blocked.support_id(), Some(support_id.as_str()));
});
