//! The quota ledger in front of ANAF's daily limits, against the sandbox (which enforces
//! ANAF's own limits): a call over the ledger's budget never leaves the client.

mod common;

use std::sync::Arc;

use anaf::efactura::{Standard, UploadOptions};
use anaf::quota::{Counter, DailyLimits, MemoryLedger};
use anaf::{ErrorKind, LimitScope};
use anaf_sandbox::SandboxOptions;
use common::*;

#[tokio::test]
async fn a_call_over_the_ledger_s_budget_is_refused_before_it_reaches_anaf() {
    let sandbox = sandbox();
    let ledger = Arc::new(MemoryLedger::new());
    let client = logged_in_with(
        &sandbox,
        builder(&sandbox).quota_ledger(ledger).daily_limits(DailyLimits::all(3)),
    )
    .await;
    for _ in 0..3 {
        client.efactura().list_messages(CIF, 10, None).await.unwrap();
    }
    let error = client.efactura().list_messages(CIF, 10, None).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::QuotaExhausted);
    assert_eq!(error.limit(), Some(3));
    assert_eq!(error.limit_scope(), Some(LimitScope::Cif));
    assert_eq!(error.cif(), Some(CIF));
    let wait = error.retry_after().expect("the time to the reset");
    assert!(wait > std::time::Duration::ZERO && wait <= std::time::Duration::from_secs(25 * 3600));
    assert_eq!(
        requests_to(&sandbox, "efactura.list"),
        3,
        "the fourth call was not sent"
    );
    // Another company's budget is its own.
    client.efactura().list_messages(OTHER_OWN_CIF, 10, None).await.unwrap();
}

#[tokio::test]
async fn clients_sharing_a_ledger_share_one_budget_and_report_what_is_left() {
    let sandbox = sandbox();
    let ledger = Arc::new(MemoryLedger::new());
    let limits = DailyLimits::all(4);
    let first = logged_in_with(
        &sandbox,
        builder(&sandbox).quota_ledger(ledger.clone()).daily_limits(limits),
    )
    .await;
    let second = logged_in_with(&sandbox, builder(&sandbox).quota_ledger(ledger).daily_limits(limits)).await;
    let receipt = first
        .efactura()
        .upload(invoice("Q-1", CIF, PARTNER), CIF, UploadOptions::default())
        .await
        .unwrap();
    for client in [&first, &second, &first, &second] {
        client.efactura().status(receipt.upload_id).await.unwrap();
    }
    let error = second.efactura().status(receipt.upload_id).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::QuotaExhausted);
    assert_eq!(error.limit_scope(), Some(LimitScope::Message));
    assert_eq!(requests_to(&sandbox, "efactura.status"), 4);

    let usage = first.quota_usage().await.unwrap();
    assert_eq!(usage.len(), 1, "an invoice upload is not counted: {usage:?}");
    let status = &usage[0];
    assert_eq!(status.counter, Counter::Status);
    assert_eq!(status.key, receipt.upload_id.to_string());
    assert_eq!((status.used, status.limit, status.remaining), (4, 4, 0));
    assert!(status.resets_at > chrono::Utc::now());
}

#[tokio::test]
async fn anaf_s_own_daily_limit_spends_the_ledger_s_budget_for_the_day() {
    let sandbox = sandbox_with(SandboxOptions::instant().daily_limits(anaf_sandbox::DailyLimits {
        efactura_list: 2,
        ..Default::default()
    }));
    // The ledger allows more than ANAF does (another program used the company today).
    let client = logged_in_with(
        &sandbox,
        builder(&sandbox)
            .quota_ledger(Arc::new(MemoryLedger::new()))
            .daily_limits(DailyLimits::all(10)),
    )
    .await;
    for _ in 0..2 {
        client.efactura().list_messages(CIF, 10, None).await.unwrap();
    }
    let error = client.efactura().list_messages(CIF, 10, None).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::DailyLimit, "ANAF's answer: {error}");
    assert!(error.anaf_message().unwrap().contains("in cursul zilei"));
    let error = client.efactura().list_messages(CIF, 10, None).await.unwrap_err();
    assert_eq!(
        error.kind(),
        ErrorKind::QuotaExhausted,
        "the ledger now says no: {error}"
    );
    assert_eq!(requests_to(&sandbox, "efactura.list"), 3);
}

#[tokio::test]
async fn rasp_uploads_are_counted_per_company_and_invoices_are_not() {
    let sandbox = sandbox();
    let client = logged_in_with(
        &sandbox,
        builder(&sandbox)
            .quota_ledger(Arc::new(MemoryLedger::new()))
            .daily_limits(DailyLimits::all(1)),
    )
    .await;
    // Two invoices to a company of our own: uploads of invoices have no daily limit.
    let mut receipts = Vec::new();
    for number in ["R-1", "R-2"] {
        let receipt = client
            .efactura()
            .upload(invoice(number, CIF, OTHER_OWN_CIF), CIF, UploadOptions::default())
            .await
            .unwrap();
        receipts.push(receipt);
    }
    // The buyer answers both (RASP): one a day is this ledger's budget.
    let rasp = || UploadOptions::new().standard(Standard::Rasp);
    let answer =
        |receipt: &anaf::efactura::UploadReceipt| anaf_sandbox::samples::rasp_xml(receipt.upload_id, "Acceptat");
    client
        .efactura()
        .upload(answer(&receipts[0]), OTHER_OWN_CIF, rasp())
        .await
        .unwrap();
    let error = client
        .efactura()
        .upload(answer(&receipts[1]), OTHER_OWN_CIF, rasp())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::QuotaExhausted);
    assert_eq!(error.cif(), Some(OTHER_OWN_CIF));
    assert!(!error.upload_outcome_unknown(), "nothing was sent");
    assert_eq!(requests_to(&sandbox, "efactura.upload"), 3);
}

#[tokio::test]
async fn a_retried_call_is_charged_for_each_request() {
    let sandbox = sandbox();
    let ledger = Arc::new(MemoryLedger::new());
    let client = logged_in_with(&sandbox, builder(&sandbox).quota_ledger(ledger)).await;
    sandbox
        .inject_fault(anaf_sandbox::FaultSpec {
            endpoint: "efactura.list".into(),
            fault: anaf_sandbox::Fault::Status {
                status: 503,
                body: None,
            },
            times: Some(1),
        })
        .unwrap();
    client.efactura().list_messages(CIF, 10, None).await.unwrap();
    let usage = client.quota_usage().await.unwrap();
    assert_eq!(usage[0].used, 2, "ANAF counts both requests: {usage:?}");
}
