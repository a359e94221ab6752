//! No secret (client secret, access or refresh token, authorization code) appears in the logs
//! of a full run at TRACE level, nor in any Debug or Display output of the values involved.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use anaf::efactura::{DocumentType, UploadOptions, UploadState};
use anaf::{FileTokenStore, TokenSet};
use anaf_sandbox::{Fault, FaultSpec};
use common::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_leaks_no_secret() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let sandbox = sandbox();
    let dir = tempfile::tempdir().unwrap();
    let rotated: Arc<Mutex<Vec<TokenSet>>> = Arc::default();
    let seen = rotated.clone();
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let heard = events.clone();
    let builder = builder(&sandbox)
        .token_store(FileTokenStore::new(dir.path().join("t.json")))
        .on_tokens_changed(move |t| seen.lock().unwrap().push(t.clone()))
        // What a binding hands to its host: the event's Debug and its JSON.
        .on_token_event(move |event| {
            heard
                .lock()
                .unwrap()
                .push(format!("{event:?} {}", serde_json::to_string(event).unwrap()))
        });
    let mut debug = vec![format!("{builder:?}")];
    let client = builder.build().unwrap();
    let code = code(&sandbox);
    let mut secrets = vec![code.clone(), sandbox.default_application().client_secret];

    debug.push(format!("{:?}", client.oauth().exchange_code(&code).await.unwrap()));
    debug.push(format!("{:?}", client.oauth().exchange_code(&code).await.unwrap_err()));
    debug.push(client.hello("redaction").await.unwrap());
    let receipt = client
        .efactura()
        .upload(invoice("S-1", CIF, PARTNER), CIF, UploadOptions::default())
        .await
        .unwrap();
    let state = client.efactura().status(receipt.upload_id).await.unwrap();
    let UploadState::Ok { download_id } = state else {
        panic!()
    };
    debug.push(format!(
        "{receipt:?} {state:?} {:?}",
        client.efactura().download(download_id).await.unwrap()
    ));
    debug.push(format!(
        "{:?}",
        client.efactura().list_messages(CIF, 1, None).await.unwrap()
    ));
    debug.push(format!(
        "{:?}",
        client
            .efactura()
            .validate(invoice("S-2", CIF, PARTNER), DocumentType::Invoice)
            .await
            .unwrap()
    ));
    debug.push(format!("{:?}", client.oauth().refresh().await.unwrap()));
    sandbox
        .inject_fault(FaultSpec {
            endpoint: "efactura.list".into(),
            fault: Fault::Status {
                status: 500,
                body: None,
            },
            times: Some(3),
        })
        .unwrap();
    let error = client.efactura().list_messages(CIF, 1, None).await.unwrap_err();
    debug.push(format!("{error:?} {error} {}", error.to_json()));
    debug.push(serde_json::to_string(&client.oauth().token_status().await.unwrap()).unwrap());
    sandbox.advance_clock(std::time::Duration::from_secs(91 * 86_400));
    debug.push(format!(
        "{:?}",
        client.efactura().list_messages(CIF, 1, None).await.unwrap()
    ));
    debug.push(format!("{client:?} {:?}", client.oauth().tokens().await.unwrap()));
    debug.push(format!("{:?}", client.oauth().revoke().await.unwrap()));
    // Hooks run after the calls: wait for the last event (the logout) to be heard.
    eventually("the logout is heard", || {
        events
            .lock()
            .unwrap()
            .last()
            .filter(|e| e.contains("\"cleared\""))
            .map(|_| ())
    })
    .await;

    for tokens in rotated.lock().unwrap().iter() {
        secrets.push(tokens.access_token.expose().to_owned());
        secrets.push(tokens.refresh_token.expose().to_owned());
    }
    assert!(secrets.len() >= 8, "login and two refreshes were seen");
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("anaf.call"), "the run was traced");
    assert!(logs.contains("efactura.upload"));
    debug.extend(events.lock().unwrap().iter().cloned());
    assert!(debug.len() > 12, "events were heard");
    let debug = debug.join("\n");
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs");
        assert!(
            !debug.contains(secret.as_str()),
            "a secret reached Debug/Display output"
        );
        // Nor a recognisable piece of one (the JWT payload part).
        if let Some(payload) = secret.split('.').nth(1) {
            assert!(!logs.contains(payload) && !debug.contains(payload));
        }
    }
}
