//! e-Factura through the client against the sandbox: every operation, and every error kind
//! the sandbox can produce.

mod common;

use std::time::Duration;

use anaf::efactura::{
    Archive, DocumentType, MessageFilter, MessageKind, PdfOutcome, Standard, UploadOptions, UploadState, WaitOptions,
};
use anaf::{ErrorKind, LimitScope, RetryPolicy};
use anaf_sandbox::samples::{InvoiceSpec, credit_note_xml, invoice_xml, rasp_xml};
use anaf_sandbox::{DailyLimits, Fault, FaultSpec, SandboxOptions, SeedRequest};
use common::*;

fn fault(endpoint: &str, fault: Fault, times: u32) -> FaultSpec {
    FaultSpec {
        endpoint: endpoint.into(),
        fault,
        times: Some(times),
    }
}

#[tokio::test]
async fn upload_status_download_and_the_archive() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    let xml = invoice("F-1", CIF, OTHER_OWN_CIF);
    let receipt = client
        .efactura()
        .upload(xml.clone(), &format!("RO{CIF}"), UploadOptions::default())
        .await
        .unwrap();
    assert_eq!(receipt.response_time.len(), 12);
    let state = client.efactura().status(receipt.upload_id).await.unwrap();
    let UploadState::Ok { download_id } = state else {
        panic!("{state:?}")
    };
    let archive = client.efactura().download(download_id).await.unwrap();
    assert_eq!(archive.upload_id(), Some(receipt.upload_id));
    assert_eq!(archive.document().unwrap(), xml.as_bytes(), "the invoice byte for byte");
    assert!(archive.error_report().unwrap().is_none());
    assert!(archive.zip_bytes().starts_with(b"PK"));
    // The same parser opens a ZIP saved to disk, byte-exact.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("answer.zip");
    std::fs::write(&path, archive.zip_bytes()).unwrap();
    let reopened = Archive::open(&path).unwrap();
    assert_eq!(reopened.zip_bytes(), archive.zip_bytes());
    assert_eq!(reopened.signature().unwrap(), archive.signature().unwrap());
    // ANAF's signature service accepts the pair.
    let verdict = client
        .efactura()
        .verify_signature(archive.document().unwrap(), archive.signature().unwrap())
        .await
        .unwrap();
    assert!(verdict.valid, "{}", verdict.message);
    let tampered = xml.replace("F-1", "F-2");
    let verdict = client
        .efactura()
        .verify_signature(tampered, archive.signature().unwrap())
        .await
        .unwrap();
    assert!(!verdict.valid);
    assert!(verdict.message.contains("NU au putut fi validate"));
    // The buyer (also represented) sees it as received.
    let received = client
        .efactura()
        .list_messages(OTHER_OWN_CIF, 1, Some(MessageFilter::Received))
        .await
        .unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(
        (received[0].kind, received[0].id, received[0].upload_id),
        (MessageKind::Received, download_id, receipt.upload_id)
    );
    assert!(received[0].created_at.is_some());
}

#[tokio::test]
async fn a_nok_is_a_value_with_a_parsed_report_and_duplicates_name_the_earlier_upload() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    let xml = invoice("DUP-1", CIF, PARTNER);
    let first = client
        .efactura()
        .upload(xml.clone(), CIF, UploadOptions::default())
        .await
        .unwrap();
    let second = client
        .efactura()
        .upload(xml, CIF, UploadOptions::default())
        .await
        .unwrap();
    let UploadState::Nok { download_id } = client.efactura().status(second.upload_id).await.unwrap() else {
        panic!()
    };
    let report = client
        .efactura()
        .download(download_id)
        .await
        .unwrap()
        .error_report()
        .unwrap()
        .expect("an error report");
    assert_eq!(report.upload_id, Some(second.upload_id));
    assert_eq!(report.duplicate_of(), Some(first.upload_id));
    let error = report.to_error();
    assert_eq!(
        (error.kind(), error.previous_upload_id()),
        (ErrorKind::DuplicateInvoice, Some(first.upload_id))
    );
    assert!(
        error
            .anaf_message()
            .unwrap()
            .starts_with("Factura a mai fost transmisa anterior")
    );
    let errors = client
        .efactura()
        .list_messages(CIF, 1, Some(MessageFilter::Errors))
        .await
        .unwrap();
    assert_eq!(errors[0].kind, MessageKind::Errors);
}

#[tokio::test]
async fn every_standard_and_flag_reaches_anaf() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    let efactura = client.efactura();
    let cn = efactura
        .upload(
            credit_note_xml(&InvoiceSpec::new("CN-1", CIF, PARTNER)),
            CIF,
            UploadOptions::new().standard(Standard::CreditNote),
        )
        .await
        .unwrap();
    let mut person = InvoiceSpec::new("B2C-1", CIF, "1800101221144");
    person.buyer_name = "Maria".into();
    let b2c = efactura
        .upload(invoice_xml(&person), CIF, UploadOptions::new().b2c(true))
        .await
        .unwrap();
    let selfbilled = efactura
        .upload(
            invoice("AF-1", PARTNER, OTHER_OWN_CIF),
            OTHER_OWN_CIF,
            UploadOptions::new().self_billed(true),
        )
        .await
        .unwrap();
    sandbox.add_enforcement_cif(CIF).unwrap();
    let enforced = efactura
        .upload(
            invoice("EX-1", CIF, PARTNER),
            CIF,
            UploadOptions::new().enforcement(true).external(true),
        )
        .await
        .unwrap();
    let original = efactura
        .upload(invoice("R-1", CIF, OTHER_OWN_CIF), CIF, UploadOptions::default())
        .await
        .unwrap();
    let rasp = efactura
        .upload(
            rasp_xml(original.upload_id, "Acceptat"),
            OTHER_OWN_CIF,
            UploadOptions::new().standard(Standard::Rasp),
        )
        .await
        .unwrap();
    for receipt in [&cn, &b2c, &selfbilled, &enforced, &rasp] {
        assert!(matches!(
            efactura.status(receipt.upload_id).await.unwrap(),
            UploadState::Ok { .. }
        ));
    }
    let uploads = sandbox.uploads(None);
    let find = |id| uploads.iter().find(|u| u.upload_id == id).unwrap();
    assert_eq!(find(cn.upload_id).standard, "CN");
    assert!(find(b2c.upload_id).b2c);
    assert_eq!(find(rasp.upload_id).standard, "RASP");
    let buyer_messages = efactura
        .list_messages(CIF, 1, Some(MessageFilter::BuyerMessages))
        .await
        .unwrap();
    assert_eq!(buyer_messages[0].kind, MessageKind::BuyerMessage);
}

#[tokio::test]
async fn upload_and_wait_polls_until_final_within_its_budget() {
    // Long enough that the first poll (50 ms after the upload) finds it still processing,
    // even on a slow machine.
    let sandbox = sandbox_with(SandboxOptions::instant().processing_delay(Duration::from_millis(1500)));
    let client = logged_in(&sandbox).await;
    let wait = WaitOptions::default()
        .first_poll(Duration::from_millis(50))
        .max_interval(Duration::from_millis(200));
    let done = client
        .efactura()
        .upload_and_wait(
            invoice("W-1", CIF, PARTNER),
            CIF,
            UploadOptions::default(),
            wait.clone(),
        )
        .await
        .unwrap();
    assert!(matches!(done.state, UploadState::Ok { .. }));
    assert!(done.polls >= 2, "it polled while processing: {}", done.polls);
    assert_eq!(requests_to(&sandbox, "efactura.status") as u32, done.polls);

    // A budget of 2 polls on an upload that takes a minute stops early, in progress.
    let slow = sandbox_with(SandboxOptions::instant().processing_delay(Duration::from_secs(60)));
    let client = logged_in(&slow).await;
    let budget = wait.clone().max_polls(Some(2));
    let pending = client
        .efactura()
        .upload_and_wait(invoice("W-2", CIF, PARTNER), CIF, UploadOptions::default(), budget)
        .await
        .unwrap();
    assert_eq!((pending.state, pending.polls), (UploadState::InProgress, 2));
    assert_eq!(requests_to(&slow, "efactura.status"), 2);
}

#[tokio::test]
async fn a_failed_poll_keeps_the_upload_id() {
    let sandbox = sandbox_with(SandboxOptions::instant().processing_delay(Duration::from_secs(60)));
    let client = logged_in_with(&sandbox, builder(&sandbox).retry_policy(RetryPolicy::none())).await;
    sandbox
        .inject_fault(fault(
            "efactura.status",
            Fault::Status {
                status: 502,
                body: None,
            },
            5,
        ))
        .unwrap();
    let wait = WaitOptions::default().first_poll(Duration::from_millis(10));
    let error = client
        .efactura()
        .upload_and_wait(invoice("P-1", CIF, PARTNER), CIF, UploadOptions::default(), wait)
        .await
        .unwrap_err();
    assert_eq!(error.http_status(), Some(502));
    assert_eq!(
        error.upload_id(),
        Some(sandbox.uploads(Some(CIF))[0].upload_id),
        "the caller learns which upload to follow"
    );
}

#[tokio::test]
async fn lists_are_empty_values_and_pages_stream_over_everything() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    assert!(client.efactura().list_messages(CIF, 60, None).await.unwrap().is_empty());
    let now = chrono::Utc::now();
    let empty = client
        .efactura()
        .list_messages_page(
            CIF,
            now - chrono::Duration::days(1),
            now - chrono::Duration::seconds(10),
            1,
            None,
        )
        .await
        .unwrap();
    assert_eq!((empty.messages.len(), empty.total_pages), (0, 0));

    sandbox
        .seed_received_invoices(&SeedRequest {
            cif: CIF.into(),
            count: 1203,
            supplier_cif: None,
            days_back: 20,
            env: anaf_sandbox::Env::Test,
        })
        .unwrap();
    let too_many = client.efactura().list_messages(CIF, 30, None).await.unwrap_err();
    assert_eq!(
        (too_many.kind(), too_many.field()),
        (ErrorKind::InvalidInput, Some("zile"))
    );
    assert!(too_many.hint().unwrap().contains("paginated"));

    // The sandbox's clock is the wall clock here, so "now" after seeding covers every message.
    let now = chrono::Utc::now();
    let page = client
        .efactura()
        .list_messages_page(CIF, now - chrono::Duration::days(30), now, 2, None)
        .await
        .unwrap();
    assert_eq!(
        (page.page, page.total_pages, page.total_messages, page.messages.len()),
        (2, 3, 1203, 500)
    );

    let all = client
        .efactura()
        .messages(CIF, now - chrono::Duration::days(59), Some(now), None)
        .collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 1203);
    let unique: std::collections::HashSet<u64> = all.iter().map(|m| m.id).collect();
    assert_eq!(unique.len(), 1203);
    // A start older than ANAF's 60 days is clamped rather than refused.
    let clamped = client
        .efactura()
        .messages(
            CIF,
            now - chrono::Duration::days(90),
            Some(now),
            Some(MessageFilter::Received),
        )
        .collect()
        .await
        .unwrap();
    assert_eq!(clamped.len(), 1203);
}

#[tokio::test]
async fn the_stream_corrects_once_for_anafs_clock_being_behind() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    sandbox
        .seed_received_invoices(&SeedRequest {
            cif: CIF.into(),
            count: 3,
            supplier_cif: None,
            days_back: 1,
            env: anaf_sandbox::Env::Test,
        })
        .unwrap();
    // ANAF's clock runs a minute ahead of the wall clock, and the client asks for an end 90 s
    // ahead: 30 s in ANAF's future.
    sandbox.advance_clock(Duration::from_secs(60));
    let ahead = chrono::Utc::now() + chrono::Duration::seconds(90);
    let messages = client
        .efactura()
        .messages(CIF, ahead - chrono::Duration::days(2), Some(ahead), None)
        .collect()
        .await
        .unwrap();
    assert_eq!(messages.len(), 3);
    let refused = sandbox
        .requests()
        .iter()
        .filter(|r| r.endpoint.as_deref() == Some("efactura.list_paged"))
        .count();
    assert_eq!(refused, 2, "one refusal with ANAF's time, then the corrected request");
}

#[tokio::test]
async fn the_default_end_is_corrected_when_anafs_clock_is_behind_ours() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    sandbox.set_clock_offset(chrono::Duration::seconds(40));
    sandbox
        .seed_received_invoices(&SeedRequest {
            cif: CIF.into(),
            count: 4,
            supplier_cif: None,
            days_back: 2,
            env: anaf_sandbox::Env::Test,
        })
        .unwrap();
    // ANAF's clock is now 30 s behind the client's: "now minus 5 s" is in ANAF's future, and
    // so is the newest invoice (seeded a minute before ANAF's "now" of then, 40 s ahead).
    sandbox.set_clock_offset(chrono::Duration::seconds(-30));
    let messages = client
        .efactura()
        .messages(CIF, chrono::Utc::now() - chrono::Duration::days(3), None, None)
        .collect()
        .await
        .unwrap();
    assert_eq!(
        messages.len(),
        3,
        "the newest was seeded at ANAF's old 'now', now in its future"
    );
    let list_calls: Vec<u16> = sandbox
        .requests()
        .iter()
        .filter(|r| r.endpoint.as_deref() == Some("efactura.list_paged"))
        .map(|r| r.status)
        .collect();
    assert_eq!(
        list_calls.len(),
        2,
        "one refused (with ANAF's time), then the corrected request"
    );
}

#[tokio::test]
async fn validate_and_pdf_return_values_for_bad_documents() {
    let sandbox = sandbox();
    let client = builder(&sandbox).build().unwrap();
    let ok = client
        .efactura()
        .validate(invoice("V-1", CIF, PARTNER), DocumentType::Invoice)
        .await
        .unwrap();
    assert!(ok.valid && ok.messages.is_empty() && ok.trace_id.is_some());
    let mut spec = InvoiceSpec::new("V-2", CIF, PARTNER);
    spec.lines.clear();
    let nok = client
        .efactura()
        .validate(invoice_xml(&spec), DocumentType::Invoice)
        .await
        .unwrap();
    assert!(!nok.valid);
    assert!(nok.messages[0].contains("[BR-16]"));
    let cn = client
        .efactura()
        .validate(
            credit_note_xml(&InvoiceSpec::new("C", CIF, PARTNER)),
            DocumentType::CreditNote,
        )
        .await
        .unwrap();
    assert!(cn.valid);
    let PdfOutcome::Pdf(pdf) = client
        .efactura()
        .to_pdf(invoice("P-1", CIF, PARTNER), DocumentType::Invoice, true)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(pdf.starts_with(b"%PDF-"));
    let PdfOutcome::Invalid(report) = client
        .efactura()
        .to_pdf(invoice_xml(&spec), DocumentType::Invoice, true)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(!report.valid);
    assert!(matches!(
        client
            .efactura()
            .to_pdf(invoice_xml(&spec), DocumentType::Invoice, false)
            .await
            .unwrap(),
        PdfOutcome::Pdf(_)
    ));
    assert!(
        sandbox.requests().iter().all(|r| r.client_id.is_none()),
        "the public services need no token"
    );
}

#[tokio::test]
async fn the_firewall_page_is_waf_rejected_with_its_support_id() {
    let sandbox = sandbox();
    let client = builder(&sandbox).build().unwrap();
    let xml = invoice("W-1", CIF, PARTNER).replacen(
        "<Invoice ",
        "<Invoice xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"urn:x ../x.xsd\" ",
        1,
    );
    let error = client
        .efactura()
        .to_pdf(xml, DocumentType::Invoice, false)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::WafRejected);
    assert_eq!(error.support_id().unwrap().len(), 19);
    assert!(error.hint().unwrap().contains("schemaLocation"));
}

#[tokio::test]
async fn anafs_business_errors_map_to_kinds_and_keep_the_text() {
    let options = SandboxOptions::instant().daily_limits(DailyLimits {
        efactura_download: 1,
        efactura_status: 1,
        ..Default::default()
    });
    let sandbox = sandbox_with(options);
    let client = logged_in(&sandbox).await;
    let efactura = client.efactura();

    let garbage = efactura
        .upload("not xml", CIF, UploadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        (garbage.kind(), garbage.field()),
        (ErrorKind::InvalidInput, Some("xml"))
    );
    assert!(
        garbage
            .anaf_message()
            .unwrap()
            .starts_with("Fisierul transmis nu este valid.")
    );

    let not_mine = efactura
        .upload(invoice("N-1", PARTNER, CIF), PARTNER, UploadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        (not_mine.kind(), not_mine.cif()),
        (ErrorKind::NoCifRight, Some(PARTNER))
    );
    assert_eq!(
        not_mine.anaf_message(),
        Some("Nu aveti drept in SPV pentru CIF=33333338")
    );

    let missing = efactura.status(15_000).await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    assert_eq!(missing.anaf_message(), Some("Nu exista factura cu id_incarcare= 15000"));
    assert_eq!(efactura.download(21).await.unwrap_err().kind(), ErrorKind::NotFound);

    let receipt = efactura
        .upload(invoice("L-1", CIF, PARTNER), CIF, UploadOptions::default())
        .await
        .unwrap();
    let UploadState::Ok { download_id } = efactura.status(receipt.upload_id).await.unwrap() else {
        panic!()
    };
    let limited = efactura.status(receipt.upload_id).await.unwrap_err();
    assert_eq!(
        (limited.kind(), limited.limit(), limited.limit_scope()),
        (ErrorKind::DailyLimit, Some(1), Some(LimitScope::Message))
    );
    efactura.download(download_id).await.unwrap();
    let limited = efactura.download(download_id).await.unwrap_err();
    assert_eq!((limited.kind(), limited.limit()), (ErrorKind::DailyLimit, Some(1)));
    assert!(
        limited
            .to_string()
            .contains("S-au facut deja 1 descarcari de mesaj in cursul zilei"),
        "{limited}"
    );

    sandbox.advance_clock(Duration::from_secs(61 * 86_400));
    let expired = efactura.download(download_id).await.unwrap_err();
    assert_eq!(expired.kind(), ErrorKind::DownloadExpired);

    let bad_cif = efactura
        .upload(invoice("X", CIF, PARTNER), "RO12345678", UploadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        (bad_cif.kind(), bad_cif.field()),
        (ErrorKind::InvalidInput, Some("cif")),
        "checked before any request"
    );
}

#[tokio::test]
async fn an_identity_without_cifs_gets_no_cif_rights() {
    let sandbox = sandbox();
    let nobody = sandbox
        .add_identity(anaf_sandbox::IdentitySpec {
            serial: None,
            name: "Nimeni".into(),
            cifs: vec![],
            services: vec![anaf_sandbox::Service::EFactura],
        })
        .unwrap();
    let client = builder(&sandbox).build().unwrap();
    client
        .oauth()
        .exchange_code(&code_for(&sandbox, &nobody.serial))
        .await
        .unwrap();
    let error = client.efactura().list_messages(CIF, 1, None).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NoCifRights);
}

#[tokio::test]
async fn idempotent_calls_retry_transient_failures_uploads_never() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    sandbox
        .inject_fault(fault(
            "efactura.list",
            Fault::Status {
                status: 503,
                body: None,
            },
            2,
        ))
        .unwrap();
    assert!(client.efactura().list_messages(CIF, 1, None).await.unwrap().is_empty());
    assert_eq!(requests_to(&sandbox, "efactura.list"), 3);

    sandbox.inject_fault(fault("efactura.list", Fault::Reset, 1)).unwrap();
    assert!(
        client.efactura().list_messages(CIF, 1, None).await.is_ok(),
        "a reset is retried"
    );

    sandbox
        .inject_fault(fault(
            "efactura.upload",
            Fault::Status {
                status: 503,
                body: Some("maintenance".into()),
            },
            1,
        ))
        .unwrap();
    let error = client
        .efactura()
        .upload(invoice("R-1", CIF, PARTNER), CIF, UploadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        (error.kind(), error.http_status()),
        (ErrorKind::UnexpectedResponse, Some(503))
    );
    assert!(
        error.upload_outcome_unknown(),
        "a gateway error can follow an accepted upload"
    );
    assert!(!error.is_transient(), "so it is not to be repeated blindly");
    assert_eq!(error.anaf_message(), Some("maintenance"));
    assert_eq!(requests_to(&sandbox, "efactura.upload"), 1, "never sent twice");
}

#[tokio::test]
async fn an_upload_whose_answer_is_lost_is_not_resent_and_says_so() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    sandbox
        .inject_fault(fault("efactura.upload", Fault::AcceptThenDrop, 1))
        .unwrap();
    let error = client
        .efactura()
        .upload(invoice("LOST-1", CIF, PARTNER), CIF, UploadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transport);
    assert!(error.upload_outcome_unknown());
    assert_eq!(sandbox.uploads(Some(CIF)).len(), 1, "ANAF has it exactly once");
    assert_eq!(requests_to(&sandbox, "efactura.upload"), 1);
    // What a careful program does next: find it in the list instead of uploading again.
    let sent = client
        .efactura()
        .list_messages(CIF, 1, Some(MessageFilter::Sent))
        .await
        .unwrap();
    assert_eq!(sent[0].upload_id, sandbox.uploads(Some(CIF))[0].upload_id);
}

#[tokio::test]
async fn timeouts_transport_failures_rate_limits_and_5xx_have_their_kinds() {
    let sandbox = sandbox_with(SandboxOptions::instant().per_minute_limit(2));
    let client = logged_in_with(
        &sandbox,
        builder(&sandbox)
            .retry_policy(RetryPolicy::none())
            .timeout(Duration::from_millis(300))
            .requests_per_minute(None),
    )
    .await;
    sandbox
        .inject_fault(fault("hello", Fault::Latency { ms: 1500 }, 1))
        .unwrap();
    let timeout = client.hello("slow").await.unwrap_err();
    assert_eq!(timeout.kind(), ErrorKind::Timeout);
    assert!(timeout.is_transient());

    sandbox
        .inject_fault(fault(
            "hello",
            Fault::Status {
                status: 500,
                body: Some("<html>boom</html>".into()),
            },
            1,
        ))
        .unwrap();
    let server = client.hello("x").await.unwrap_err();
    assert_eq!(
        (server.kind(), server.http_status(), server.anaf_message()),
        (ErrorKind::UnexpectedResponse, Some(500), Some("<html>boom</html>"))
    );

    // The per-minute budget is 2: within a few calls one is refused with 429 and Retry-After
    // (a few, because a minute boundary may pass in between).
    let mut refused = None;
    for _ in 0..5 {
        if let Err(error) = client.hello("x").await {
            refused = Some(error);
            break;
        }
    }
    let limited = refused.expect("a 429");
    assert_eq!(
        (limited.kind(), limited.http_status()),
        (ErrorKind::RateLimited, Some(429))
    );
    assert!(limited.retry_after().is_some());

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let nowhere = anaf::Client::builder()
        .base_url(&format!("http://{closed}"))
        .unwrap()
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let error = nowhere
        .efactura()
        .validate("<a/>", DocumentType::Invoice)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transport);
    assert!(std::error::Error::source(&error).is_some());
}

#[tokio::test]
async fn the_client_limiter_keeps_under_the_budget_instead_of_hitting_429() {
    let sandbox = sandbox_with(SandboxOptions::instant().per_minute_limit(5));
    let client = logged_in_with(&sandbox, builder(&sandbox).requests_per_minute(Some(5))).await;
    for _ in 0..5 {
        client.hello("x").await.unwrap();
    }
    let sixth = tokio::time::timeout(Duration::from_millis(300), client.hello("x")).await;
    assert!(
        sixth.is_err(),
        "the sixth call waits for the window instead of being sent"
    );
    assert!(sandbox.requests().iter().all(|r| r.status != 429));
}

#[tokio::test]
async fn test_and_prod_clients_work_side_by_side() {
    let sandbox = sandbox();
    let test = logged_in(&sandbox).await;
    let prod = logged_in_with(&sandbox, builder(&sandbox).environment(anaf::Environment::Prod)).await;
    let receipt = test
        .efactura()
        .upload(invoice("T-1", CIF, PARTNER), CIF, UploadOptions::default())
        .await
        .unwrap();
    assert!(test.efactura().status(receipt.upload_id).await.is_ok());
    assert_eq!(
        prod.efactura().status(receipt.upload_id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(sandbox.uploads(None)[0].env, anaf_sandbox::Env::Test);
}

/// A page of ANAF's paginated list, as the sandbox would answer it.
fn page_json(messages: &[serde_json::Value], page: u32, total_pages: u32, total: u64) -> String {
    serde_json::json!({
        "mesaje": messages,
        "numar_inregistrari_in_pagina": messages.len(),
        "numar_total_inregistrari_per_pagina": 500,
        "numar_total_inregistrari": total,
        "numar_total_pagini": total_pages,
        "index_pagina_curenta": page,
        "serial": SERIAL,
        "cui": CIF,
        "titlu": "Lista Mesaje disponibile din intervalul selectat",
    })
    .to_string()
}

fn next_list_answer(sandbox: &anaf_sandbox::Sandbox, body: String) {
    sandbox
        .inject_fault(anaf_sandbox::FaultSpec {
            endpoint: "efactura.list_paged".into(),
            fault: anaf_sandbox::Fault::Status {
                status: 200,
                body: Some(body),
            },
            times: Some(1),
        })
        .unwrap();
}

fn seed(sandbox: &anaf_sandbox::Sandbox, count: u32) {
    sandbox
        .seed_received_invoices(&SeedRequest {
            cif: CIF.into(),
            count,
            supplier_cif: None,
            days_back: 10,
            env: anaf_sandbox::Env::Test,
        })
        .unwrap();
}

/// 600 received messages, and a stream over them read to the end of its first page (500).
async fn six_hundred_read_to_the_end_of_page_one(
    sandbox: &anaf_sandbox::Sandbox,
    client: &anaf::Client,
) -> (anaf::efactura::MessageStream, Vec<anaf::efactura::Message>) {
    seed(sandbox, 600);
    let now = chrono::Utc::now();
    let mut stream = client
        .efactura()
        .messages(CIF, now - chrono::Duration::days(20), Some(now), None);
    let mut read = Vec::new();
    for _ in 0..500 {
        read.push(stream.next().await.unwrap().unwrap());
    }
    (stream, read)
}

/// A message as the list's JSON carries it.
fn as_anaf_sends_it(m: &anaf::efactura::Message) -> serde_json::Value {
    serde_json::json!({
        "data_creare": m.raw_created_at, "cif": CIF, "id_solicitare": m.upload_id.to_string(),
        "detalii": m.details, "tip": m.raw_kind, "id": m.id.to_string(),
    })
}

#[tokio::test]
async fn the_stream_goes_on_past_an_empty_page_while_anaf_says_more_follow() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    seed(&sandbox, 1200);
    let now = chrono::Utc::now();
    let mut stream = client
        .efactura()
        .messages(CIF, now - chrono::Duration::days(20), Some(now), None);
    let first = stream.next_page().await.unwrap().unwrap();
    assert_eq!((first.messages.len(), first.total_pages), (500, 3));
    // ANAF answers page 2 empty although it counts three pages.
    next_list_answer(&sandbox, page_json(&[], 2, 3, 1200));
    let empty = stream.next_page().await.unwrap().expect("not the end yet");
    assert!(empty.messages.is_empty());
    let third = stream.next_page().await.unwrap().expect("page 3 is read");
    assert_eq!((third.page, third.messages.len()), (3, 200));
    // 700 returned of the 1200 ANAF counts: the pages are read again, and the 500 the empty
    // page hid come back (the others are not repeated).
    let mut again = 0;
    while let Some(page) = stream.next_page().await.unwrap() {
        again += page.messages.len();
    }
    assert_eq!(again, 500);
}

#[tokio::test]
async fn a_message_indexed_onto_a_page_already_read_is_found_by_a_second_reading() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    let (mut stream, mut all) = six_hundred_read_to_the_end_of_page_one(&sandbox, &client).await;
    // Two messages are indexed now with dates inside page 1 (newest first), which is read;
    // ANAF's clock two minutes ahead dates the third (seeded a minute before ANAF's "now")
    // after the window's end.
    sandbox.advance_clock(std::time::Duration::from_secs(120));
    sandbox
        .seed_received_invoices(&SeedRequest {
            cif: CIF.into(),
            count: 3,
            supplier_cif: None,
            days_back: 2,
            env: anaf_sandbox::Env::Test,
        })
        .unwrap();
    while let Some(message) = stream.next().await.unwrap() {
        all.push(message);
    }
    let unique: std::collections::HashSet<u64> = all.iter().map(|m| m.id).collect();
    assert_eq!(all.len(), unique.len(), "nothing twice");
    // 600 + the two inside the window (the third is dated after its end).
    assert_eq!(all.len(), 602);
}

#[tokio::test]
async fn a_message_pushed_onto_the_next_page_by_late_indexing_is_returned_once() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    let (mut stream, mut all) = six_hundred_read_to_the_end_of_page_one(&sandbox, &client).await;
    // A message indexed late sits on page 1 now, so page 1's last one opens page 2 again.
    let repeated = as_anaf_sends_it(all.last().unwrap());
    let real_page_2 = client
        .efactura()
        .list_messages_page(CIF, stream.effective_start(), stream.effective_end().unwrap(), 2, None)
        .await
        .unwrap();
    let mut shifted = vec![repeated];
    shifted.extend(real_page_2.messages.iter().map(as_anaf_sends_it));
    next_list_answer(&sandbox, page_json(&shifted, 2, 2, 601));
    while let Some(message) = stream.next().await.unwrap() {
        all.push(message);
    }
    let unique: std::collections::HashSet<u64> = all.iter().map(|m| m.id).collect();
    assert_eq!((all.len(), unique.len()), (600, 600), "every message once");
}

#[tokio::test]
async fn a_start_anaf_calls_too_old_moves_by_minutes_and_is_reported() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    seed(&sandbox, 3);
    // ANAF's clock runs 30 minutes ahead: the oldest start the client allows (60 days and
    // 10 minutes back by its own clock) is too old for ANAF.
    sandbox.set_clock_offset(chrono::Duration::minutes(30));
    let now = chrono::Utc::now();
    let asked = now - chrono::Duration::days(90);
    let mut stream = client.efactura().messages(CIF, asked, Some(now), None);
    let mut found = 0;
    while stream.next().await.unwrap().is_some() {
        found += 1;
    }
    assert_eq!(found, 3);
    let moved = stream.effective_start() - (now - chrono::Duration::days(60));
    assert!(
        moved > chrono::Duration::minutes(20) && moved < chrono::Duration::hours(1),
        "moved by minutes, not a day: {moved}"
    );
    let requests = requests_to(&sandbox, "efactura.list_paged");
    assert!((2..=8).contains(&requests), "{requests} requests");
}

/// Found by the `error_report` fuzz target: a duplicate that ANAF also refused for another
/// reason kept only the duplicate's text, and the other reason was lost.
#[test]
fn a_duplicate_refused_for_another_reason_too_keeps_every_message() {
    let document = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<header xmlns="mfp:anaf:dgti:efactura:mesajEroriFactuta:v1" Index_incarcare="6552704998" Cif_emitent="22354360">
    <Error errorMessage="E: validari globale eroare regula: BR-RO-010 Numarul facturii trebuie sa contina cel putin un caracter numeric"/>
    <Error errorMessage="Factura a mai fost transmisa anterior cu index=6552704990 si data incarcare=2026-07-13"/>
</header>"#;
    let report = anaf::efactura::ErrorReport::parse(document.as_bytes())
        .unwrap()
        .unwrap();
    let error = report.to_error();
    assert_eq!(
        (error.kind(), error.previous_upload_id()),
        (ErrorKind::DuplicateInvoice, Some(6552704990))
    );
    assert_eq!(error.anaf_message(), Some(report.messages.join("\n").as_str()));
    assert_eq!(report.messages.len(), 2);
}
