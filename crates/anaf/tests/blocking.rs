//! The blocking facade: the same operations from an ordinary thread.

mod common;

use anaf::efactura::{UploadOptions, UploadState};
use common::*;

#[test]
fn blocking_client_does_the_round_trip() {
    let sandbox = sandbox();
    let client = builder(&sandbox).build_blocking().unwrap();
    client.oauth().exchange_code(&code(&sandbox)).unwrap();
    assert!(client.hello("blocking").unwrap().starts_with("Hello, blocking"));
    let receipt = client
        .efactura()
        .upload(invoice("B-1", CIF, PARTNER), CIF, UploadOptions::default())
        .unwrap();
    let UploadState::Ok { download_id } = client.efactura().status(receipt.upload_id).unwrap() else {
        panic!()
    };
    assert!(
        client
            .efactura()
            .download(download_id)
            .unwrap()
            .document()
            .unwrap()
            .starts_with(b"<?xml")
    );
    let all: Vec<_> = client
        .efactura()
        .messages(
            CIF,
            chrono::Utc::now() - chrono::Duration::days(1),
            Some(chrono::Utc::now()),
            None,
        )
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(all.len(), 1);
    assert!(client.etransport().list(CIF, 1).unwrap().is_empty());
}

#[tokio::test]
async fn blocking_calls_from_inside_a_runtime_are_refused_not_deadlocked() {
    let sandbox = sandbox();
    let client = builder(&sandbox).build_blocking().unwrap();
    let error = client.hello("x").unwrap_err();
    assert_eq!(
        (error.kind(), error.field()),
        (anaf::ErrorKind::InvalidInput, Some("thread")),
        "a caller error, not an internal one"
    );
    assert!(error.to_string().contains("async"), "{error}");
}
