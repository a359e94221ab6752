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

/// POSTs to the admin API and returns the status and the error text.
async fn admin_post(h: &Harness, path: &str, body: Value) -> (u16, String) {
    let response = h.http.post(h.url(path)).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn the_admin_api_refuses_out_of_range_input_with_a_clear_400() {
    let h = start();
    let huge_cif = "1".repeat(100_000);
    let huge_serial = "A".repeat(100 * 1024);
    let long_name = "N".repeat(201);
    let cases = [
        (
            "/_sandbox/faults",
            json!({"endpoint": "hello", "fault": {"kind": "status", "status": 99}}),
            "not in 100..=599",
        ),
        (
            "/_sandbox/faults",
            json!({"endpoint": "hello", "fault": {"kind": "status", "status": 600}}),
            "not in 100..=599",
        ),
        (
            "/_sandbox/faults",
            json!({"endpoint": "hello", "fault": {"kind": "reply", "status": 200, "content_type": "a\nb", "body": ""}}),
            "content_type",
        ),
        (
            "/_sandbox/faults",
            json!({"endpoint": "hello", "fault": {"kind": "redirect", "location": ""}}),
            "location",
        ),
        (
            "/_sandbox/faults",
            json!({"endpoint": "hello", "fault": {"kind": "latency", "ms": 86_400_000u64}}),
            "latency",
        ),
        (
            "/_sandbox/identities",
            json!({"name": "X", "cifs": [huge_cif], "services": ["E-Factura"]}),
            "2 to 13 digits",
        ),
        (
            "/_sandbox/identities",
            json!({"name": "X", "cifs": ["RO19"], "services": ["E-Factura"]}),
            "2 to 13 digits",
        ),
        (
            "/_sandbox/identities",
            json!({"serial": huge_serial, "name": "X", "cifs": ["19"], "services": ["E-Factura"]}),
            "certificate serial",
        ),
        (
            "/_sandbox/identities",
            json!({"name": long_name, "cifs": ["19"], "services": ["E-Factura"]}),
            "longer than 200",
        ),
        (
            "/_sandbox/apps",
            json!({"name": "ERP", "redirect_uris": [format!("https://localhost/{}", "x".repeat(3000))], "services": ["E-Factura"]}),
            "Callback URL",
        ),
        ("/_sandbox/companies", json!({"cif": huge_cif}), "2 to 13 digits"),
        (
            "/_sandbox/enforcement-register",
            json!({"cif": "12a"}),
            "2 to 13 digits",
        ),
    ];
    for (path, body, expected) in cases {
        let (status, error) = admin_post(&h, path, body.clone()).await;
        assert_eq!(status, 400, "{path} {body}");
        assert!(
            error.contains(expected),
            "{path}: {error:?} should mention {expected:?}"
        );
        assert!(error.len() < 500, "the message does not echo the whole input");
    }
    // The Rust API refuses the same.
    let status_99 = anaf_sandbox::FaultSpec {
        endpoint: "hello".into(),
        fault: anaf_sandbox::Fault::Status { status: 99, body: None },
        times: None,
    };
    assert!(matches!(
        h.sandbox.inject_fault(status_99),
        Err(anaf_sandbox::SandboxError::InvalidInput(_))
    ));
    assert!(h.sandbox.add_enforcement_cif(&"9".repeat(100_000)).is_err());
    assert!(
        h.sandbox
            .add_identity(anaf_sandbox::IdentitySpec {
                serial: Some("B".repeat(100 * 1024)),
                name: "X".into(),
                cifs: vec![],
                services: vec![],
            })
            .is_err()
    );
    assert!(h.sandbox.add_company("19", &"N".repeat(1000)).is_err());
    let faults: Value = h
        .http
        .get(h.url("/_sandbox/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults, json!([]), "nothing refused was stored");
}
