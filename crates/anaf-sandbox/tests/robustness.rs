//! Hostile or odd input never crashes the sandbox and gets ANAF-shaped answers.

mod common;

use anaf_sandbox::SandboxOptions;
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn deeply_nested_xml_is_refused_not_a_crash() {
    let h = start();
    let deep = format!(
        "<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\">{}{}</Invoice>",
        "<a>".repeat(40_000),
        "</a>".repeat(40_000)
    );
    let answer: Value = h
        .http
        .post(h.url("/prod/FCTEL/rest/validare/FACT1"))
        .body(deep.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["stare"], "nok");
    assert!(answer["Messages"][0]["message"].as_str().unwrap().contains("nesting"));
    let token = h.token().await;
    let upload = h
        .post_text(&token, &format!("/test/FCTEL/rest/upload?standard=UBL&cif={CIF}"), deep)
        .await;
    assert_eq!(attr(&upload, "ExecutionStatus").as_deref(), Some("1"));
    assert_eq!(
        h.get(&token, "/TestOauth/jaxrs/hello?name=alive").await.status(),
        200,
        "still serving"
    );
}

#[tokio::test]
async fn odd_bytes_after_schema_location_do_not_break_the_firewall_check() {
    let h = start();
    for body in ["<Invoice schemaLocation=", "<Invoice schemaLocation=\u{103}x/>"] {
        let response = h
            .http
            .post(h.url("/prod/FCTEL/rest/validare/FACT1"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.json::<Value>().await.unwrap()["stare"], "nok");
    }
}

#[tokio::test]
async fn a_cii_invoice_with_a_non_ascii_date_is_processed_not_a_crash() {
    let h = start();
    let token = h.token().await;
    let mut spec = anaf_sandbox::samples::InvoiceSpec::new("CII-X", CIF, PARTNER);
    spec.issue_date = "aăăă-a-a".into();
    let xml = anaf_sandbox::samples::cii_invoice_xml(&spec);
    let answer = h
        .post_text(&token, &format!("/test/FCTEL/rest/upload?standard=CII&cif={CIF}"), xml)
        .await;
    let index: u64 = attr(&answer, "index_incarcare").unwrap().parse().unwrap();
    assert!(attr(&h.status(&token, index).await, "stare").is_some());
}

#[tokio::test]
async fn an_etransport_date_that_is_not_an_xs_date_is_a_schema_error() {
    let h = start();
    let token = h.token().await;
    let mut spec = anaf_sandbox::samples::TransportSpec::new(CIF, "D-1");
    spec.transport_date = "+262142-12-31".into();
    let answer: Value = h
        .post(
            &token,
            &format!("/test/ETRANSPORT/ws/v1/upload/ETRANSP/{CIF}/2"),
            anaf_sandbox::samples::transport_notification_xml(&spec),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["ExecutionStatus"], 1);
    assert!(
        answer["Errors"][0]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("is not a valid value for 'date'")
    );
    assert_eq!(
        h.get(&token, &format!("/test/ETRANSPORT/ws/v1/info?cui_op={CIF}"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn absurd_admin_input_is_clamped_or_refused() {
    let h = start();
    let advanced = h
        .http
        .post(h.url("/_sandbox/clock/advance"))
        .json(&json!({"seconds": u64::MAX}))
        .send()
        .await
        .unwrap();
    assert_eq!(advanced.status(), 200);
    let offset = h
        .http
        .post(h.url("/_sandbox/clock/offset"))
        .json(&json!({"seconds": i64::MIN}))
        .send()
        .await
        .unwrap();
    assert_eq!(offset.status(), 200);
    let token = h.token().await;
    assert_eq!(
        h.get(&token, "/TestOauth/jaxrs/hello?name=x").await.status(),
        200,
        "the sandbox still works"
    );
    let seed = h
        .http
        .post(h.url("/_sandbox/efactura/seed"))
        .json(&json!({"cif": CIF, "count": 5, "days_back": 4_000_000_000u64}))
        .send()
        .await
        .unwrap();
    assert_eq!(seed.status(), 400);
    h.sandbox.delete_app(&h.app.client_id).unwrap();
    let info: Value = h
        .http
        .get(h.url("/_sandbox/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        info["application"]["client_id"],
        h.app.client_id.as_str(),
        "the default app is still reported"
    );
    let history: Value = h
        .http
        .get(h.url("/_sandbox/history"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history[1]["services"], json!(["E-Factura", "E-Transport"]));
}

#[tokio::test]
async fn revoking_with_only_the_token_is_accepted_as_the_go_client_does() {
    let h = start();
    let tokens = h.tokens_for(&h.app, SERIAL).await;
    let response = h
        .http
        .post(h.url("/anaf-oauth2/v1/revoke"))
        .bearer_auth(&tokens.access)
        .form(&[("refresh_token", tokens.refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(h.refresh(&h.app, &tokens.refresh).await.status(), 400);
}

#[tokio::test]
async fn the_request_log_keeps_only_anafs_own_parameters() {
    let h = start();
    h.http
        .get(h.url("/anaf-oauth2/v1/authorize?Client_Secret=S1&access_key=CODE1&client_id=visible"))
        .send()
        .await
        .unwrap();
    let logged = serde_json::to_string(&h.sandbox.requests()).unwrap();
    assert!(!logged.contains("S1") && !logged.contains("CODE1"), "{logged}");
    assert!(logged.contains("client_id=visible"));
}

#[tokio::test]
async fn oversized_forms_get_oauth_errors_not_generic_413s() {
    let h = start();
    let big = "x".repeat(3 * 1024 * 1024);
    let response = h
        .http
        .post(h.url("/anaf-oauth2/v1/token"))
        .form(&[("grant_type", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_request");
    let vat = h
        .http
        .post(h.url("/api/PlatitorTvaRest/v9/tva"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(vat.status(), 400);
}

#[tokio::test]
async fn wrong_methods_and_unknown_idp_paths_answer_like_anaf() {
    let h = start();
    let token = h.token().await;
    let wrong = h
        .http
        .get(h.url("/test/FCTEL/rest/upload"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 405);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(
        (body["status"].as_u64(), body["error"].as_str()),
        (Some(405), Some("Method Not Allowed"))
    );
    let unknown = h.http.get(h.url("/anaf-oauth2/v1/nothing")).send().await.unwrap();
    assert_eq!(unknown.status(), 302);
    assert_eq!(unknown.headers()["location"], "/my.policy");
    let removed = h
        .http
        .get(h.url("/test/ETRANSPORT/ws/v1/descarcare/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 404, "404 even without a token");
    let wrong_env = h.get(&token, "/staging/FCTEL/rest/descarcare?id=1").await;
    assert_eq!(
        wrong_env.json::<Value>().await.unwrap()["path"],
        "/staging/FCTEL/rest/descarcare"
    );
}

#[tokio::test]
async fn public_services_are_outside_the_api_budget() {
    let h = start_with(SandboxOptions::instant().per_minute_limit(1));
    for _ in 0..3 {
        let response = h
            .http
            .post(h.url("/prod/FCTEL/rest/validare/FACT1"))
            .body(invoice("V", CIF, PARTNER))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "webservicesp is not api.anaf.ro");
    }
}
