//! webservicesp.anaf.ro's public VAT registry (no token).

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn vat_registry_answers_found_and_not_found() {
    let h = start();
    let body: Value = h
        .http
        .post(h.url("/api/PlatitorTvaRest/v9/tva"))
        .json(&json!([{"cui": 8000000000u64, "data": "2026-01-15"}, {"cui": 19, "data": "2026-01-15"}]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["found"][0]["date_generale"]["cui"], 8000000000u64);
    assert_eq!(body["found"][0]["date_generale"]["denumire"], "SANDBOX FURNIZOR SRL");
    assert_eq!(body["found"][0]["inregistrare_scop_Tva"]["scpTVA"], true);
    assert!(body["found"][0]["inregistrare_scop_Tva"]["perioade_TVA"].is_array());
    assert_eq!(body["notFound"], json!([19]));
    let too_many: Vec<Value> = (0..101).map(|i| json!({"cui": i, "data": "2026-01-15"})).collect();
    assert_eq!(
        h.http
            .post(h.url("/api/PlatitorTvaRest/v9/tva"))
            .json(&too_many)
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        h.http
            .post(h.url("/api/PlatitorTvaRest/v9/tva"))
            .body("nope")
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
}
