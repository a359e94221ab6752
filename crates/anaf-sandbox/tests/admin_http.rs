//! The HTTP admin API under `/_sandbox/`, which non-Rust users drive.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn portal_operations_over_http() {
    let h = start();
    let info: Value = h
        .http
        .get(h.url("/_sandbox/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["base_url"], h.sandbox.base_url());
    assert_eq!(info["application"]["client_id"], h.app.client_id.as_str());
    assert_eq!(info["identity"]["serial"], SERIAL);

    let created: Value = h
        .http
        .post(h.url("/_sandbox/apps"))
        .json(&json!({"name": "ERP", "redirect_uris": ["https://localhost:7000/cb"], "services": ["E-Factura"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    assert_eq!(created["client_secret"].as_str().unwrap().len(), 64);
    let apps: Value = h
        .http
        .get(h.url("/_sandbox/apps"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(apps.as_array().unwrap().len(), 2);

    let identity: Value = h
        .http
        .post(h.url("/_sandbox/identities"))
        .json(&json!({"name": "Contabil", "cifs": ["33333338"], "services": ["EFACTURA"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let serial = identity["serial"].as_str().unwrap();
    let code: Value = h
        .http
        .post(h.url("/_sandbox/authorize"))
        .json(&json!({"client_id": client_id, "redirect_uri": "https://localhost:7000/cb", "serial": serial, "state": "abc"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        code["redirect_url"]
            .as_str()
            .unwrap()
            .starts_with("https://localhost:7000/cb?code=")
    );
    assert!(code["redirect_url"].as_str().unwrap().ends_with("&state=abc"));

    let deleted = h
        .http
        .delete(h.url(&format!("/_sandbox/apps/{client_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let again = h
        .http
        .delete(h.url(&format!("/_sandbox/apps/{client_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    let history: Value = h
        .http
        .get(h.url("/_sandbox/history"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["created", "created", "deleted"]);
}

#[tokio::test]
async fn faults_clock_uploads_and_seeding_over_http() {
    let h = start();
    let token = h.token().await;
    let injected = h
        .http
        .post(h.url("/_sandbox/faults"))
        .json(&json!({"endpoint": "hello", "fault": {"kind": "status", "status": 418}, "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(injected.status(), 200);
    assert_eq!(h.get(&token, "/TestOauth/jaxrs/hello?name=a").await.status(), 418);
    let bad = h
        .http
        .post(h.url("/_sandbox/faults"))
        .json(&json!({"endpoint": "nope", "fault": {"kind": "reset"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(
        bad.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("efactura.upload"),
        "the error lists the known names"
    );
    let garbage = h.http.post(h.url("/_sandbox/faults")).body("{").send().await.unwrap();
    assert_eq!(garbage.status(), 400);

    let before = h.sandbox.now();
    let advanced: Value = h
        .http
        .post(h.url("/_sandbox/clock/advance"))
        .json(&json!({"seconds": 3600}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(advanced["now"].is_string());
    assert!(h.sandbox.now() - before >= chrono::Duration::seconds(3600));

    h.upload(&token, CIF, invoice("H-1", CIF, PARTNER)).await;
    let uploads: Value = h
        .http
        .get(h.url(&format!("/_sandbox/uploads?cif={CIF}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(uploads[0]["document_number"], "H-1");
    assert_eq!(uploads[0]["sha256"].as_str().unwrap().len(), 64);

    let seeded: Value = h
        .http
        .post(h.url("/_sandbox/efactura/seed"))
        .json(&json!({"cif": CIF, "count": 3}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seeded["upload_ids"].as_array().unwrap().len(), 3);
    let certificate = h
        .http
        .get(h.url("/_sandbox/certificate"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(certificate.starts_with("-----BEGIN CERTIFICATE-----"));
}
