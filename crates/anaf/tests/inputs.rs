//! What callers pass in never panics: durations and dates beyond the calendar, huge strings;
//! group handles outlive the client expression that made them; results are cheap to reread.

mod common;

use std::time::Duration;

use anaf::efactura::{UploadOptions, WaitOptions};
use anaf::{Cif, ErrorKind, RetryPolicy};
use chrono::{DateTime, Utc};
use common::*;

#[tokio::test]
async fn durations_beyond_the_calendar_do_not_panic() {
    let sandbox = sandbox();
    let client = logged_in_with(
        &sandbox,
        builder(&sandbox)
            .timeout(Duration::MAX)
            .connect_timeout(Duration::MAX)
            .retry_policy(
                RetryPolicy::default()
                    .max_delay(Duration::MAX)
                    .max_retry_after(Duration::MAX),
            ),
    )
    .await;
    client.hello("x").await.unwrap();
    // The first poll "never", but the wait ends after 200 ms: one poll at the deadline.
    let done = client
        .efactura()
        .upload_and_wait(
            invoice("D-1", CIF, PARTNER),
            CIF,
            UploadOptions::default(),
            WaitOptions::default()
                .first_poll(Duration::MAX)
                .max_interval(Duration::MAX)
                .timeout(Duration::from_millis(200))
                .max_polls(Some(0)),
        )
        .await
        .unwrap();
    assert_eq!(done.polls, 1);
    assert!(done.state.is_final());
    let done = client
        .efactura()
        .upload_and_wait(
            invoice("D-2", CIF, PARTNER),
            CIF,
            UploadOptions::default(),
            WaitOptions::default()
                .first_poll(Duration::from_millis(10))
                .timeout(Duration::MAX),
        )
        .await
        .unwrap();
    assert!(done.state.is_final());
    // A refresh margin beyond the calendar: tokens are never fresh, every call refreshes.
    let eager = logged_in_with(&sandbox, builder(&sandbox).refresh_margin(Duration::MAX)).await;
    eager.hello("y").await.unwrap();
    assert_eq!(refreshes(&sandbox), 1);
}

/// Found by the c_abi fuzz target: a control character in the user agent made the HTTP
/// client fail to build, reported as an internal error.
#[test]
fn a_user_agent_that_cannot_be_a_header_is_refused_as_input() {
    for bad in ["*\u{2}", "line\nbreak", "cr\r", "nul\0"] {
        let error = anaf::Client::builder().user_agent(bad).build().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{bad:?}: {error}");
        assert_eq!(error.field(), Some("user_agent"));
    }
    for good in [
        "Contabil 2026/1.0 (Windows)",
        "Facturare \u{219}i contabilitate",
        "tab\tok",
    ] {
        anaf::Client::builder().user_agent(good).build().unwrap();
    }
}

#[tokio::test]
async fn dates_at_the_ends_of_the_calendar_do_not_panic() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
    let error = client
        .efactura()
        .list_messages_page(CIF, min, max, 1, None)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    let all = client.efactura().messages(CIF, min, Some(max), None).collect().await;
    assert!(
        all.unwrap().is_empty(),
        "clamped to 60 days, the end corrected to ANAF's now"
    );
    let none = client
        .efactura()
        .messages(CIF, max, None, None)
        .collect()
        .await
        .unwrap();
    assert!(none.is_empty());
    let _ = client
        .oauth()
        .set_tokens(anaf::TokenSet::new("a", "r", max, Some(min)))
        .await;
}

#[test]
fn huge_inputs_make_short_errors() {
    let huge = "1".repeat(1_000_000);
    let error = Cif::parse(&huge).unwrap_err();
    assert_eq!(error.field(), Some("cif"));
    assert!(error.to_string().len() < 300, "{} bytes", error.to_string().len());
    let error = anaf::etransport::Uit::parse(&huge).unwrap_err();
    assert!(error.to_string().len() < 300);
    let error = huge.parse::<anaf::Environment>().unwrap_err();
    assert!(error.to_string().len() < 300);
}

#[tokio::test]
async fn group_handles_outlive_the_client_expression() {
    let sandbox = sandbox();
    // The client is a temporary: the handle keeps what it needs.
    let efactura = logged_in(&sandbox).await.efactura();
    let receipt = efactura
        .upload(invoice("H-1", CIF, PARTNER), CIF, UploadOptions::default())
        .await
        .unwrap();
    let state = efactura.status(receipt.upload_id).await.unwrap();
    let archive = efactura.download(state.download_id().unwrap()).await.unwrap();
    // Each entry is decompressed once: rereading (also through a clone) gives the same bytes.
    let first = archive.document().unwrap();
    let again = archive.clone().document().unwrap();
    assert_eq!(first.as_ptr(), again.as_ptr());
    assert_eq!(
        archive.signature().unwrap().as_ptr(),
        archive.signature().unwrap().as_ptr()
    );
}
