//! Cancellation: a cancelled call is a `Cancelled` error that says what already happened at
//! ANAF (nothing, an upload on the wire, an upload accepted).

mod common;

use std::time::Duration;

use anaf::efactura::{UploadOptions, WaitOptions};
use anaf::{CancellationToken, ErrorKind, TokenSet, cancellable};
use anaf_sandbox::{Fault, FaultSpec, SandboxOptions};
use common::*;
use tokio::io::AsyncReadExt;

/// A server that reads a request and never answers: the upload is on the wire, its outcome
/// unknown. Tells when it has read the request line.
async fn black_hole() -> (String, tokio::sync::oneshot::Receiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        while !received.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buffer).await.unwrap();
            if n == 0 {
                return;
            }
            received.extend_from_slice(&buffer[..n]);
        }
        let line = String::from_utf8_lossy(&received)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        let _ = seen_tx.send(line);
        // Keep the connection open, answering nothing.
        let _ = stream.read(&mut buffer).await;
        std::future::pending::<()>().await;
    });
    (base, seen_rx)
}

fn far_future_tokens() -> TokenSet {
    TokenSet::new(
        "access",
        "refresh",
        chrono::Utc::now() + chrono::Duration::days(30),
        None,
    )
}

#[tokio::test]
async fn an_upload_cancelled_on_the_wire_has_an_unknown_outcome() {
    let (base, seen) = black_hole().await;
    let client = anaf::Client::builder().base_url(&base).unwrap().build().unwrap();
    client.oauth().set_tokens(far_future_tokens()).await.unwrap();
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let upload = tokio::spawn(async move {
        cancellable(
            &cancel,
            client
                .efactura()
                .upload(invoice("C-1", CIF, PARTNER), CIF, UploadOptions::default()),
        )
        .await
    });
    let line = seen.await.unwrap();
    assert!(line.starts_with("POST /test/FCTEL/rest/upload?"), "{line}");
    stop.cancel();
    let error = upload.await.unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Cancelled);
    assert!(error.upload_outcome_unknown(), "the server may have taken it");
    assert!(!error.is_transient());
    assert!(error.hint().unwrap().contains("message list"));
}

#[tokio::test]
async fn a_call_cancelled_before_it_starts_changes_nothing() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    let cancel = CancellationToken::new();
    cancel.cancel();
    let error = cancellable(
        &cancel,
        client
            .efactura()
            .upload(invoice("C-2", CIF, PARTNER), CIF, UploadOptions::default()),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Cancelled);
    assert!(!error.upload_outcome_unknown());
    assert!(sandbox.uploads(None).is_empty());
}

#[tokio::test]
async fn a_cancelled_read_is_plainly_cancelled() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    sandbox
        .inject_fault(FaultSpec {
            endpoint: "hello".into(),
            fault: Fault::Latency { ms: 5_000 },
            times: Some(1),
        })
        .unwrap();
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.cancel();
    });
    let error = cancellable(&cancel, client.hello("slow")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Cancelled);
    assert!(!error.upload_outcome_unknown() && error.upload_id().is_none());
}

#[tokio::test]
async fn upload_and_wait_cancelled_while_polling_carries_the_upload_id() {
    let sandbox = sandbox_with(SandboxOptions::instant().processing_delay(Duration::from_secs(3600)));
    let client = logged_in(&sandbox).await;
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let waiting = tokio::spawn(async move {
        cancellable(
            &cancel,
            client.efactura().upload_and_wait(
                invoice("C-3", CIF, PARTNER),
                CIF,
                UploadOptions::default(),
                WaitOptions::default().first_poll(Duration::from_millis(20)),
            ),
        )
        .await
    });
    // Cancel while it polls: the client has read ANAF's receipt by then.
    eventually("a status poll", || {
        (requests_to(&sandbox, "efactura.status") >= 1).then_some(())
    })
    .await;
    stop.cancel();
    let error = waiting.await.unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Cancelled);
    assert_eq!(error.upload_id(), Some(sandbox.uploads(Some(CIF))[0].upload_id));
    assert!(!error.upload_outcome_unknown(), "the outcome is known: accepted");
    assert!(!error.is_transient());
}
