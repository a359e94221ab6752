//! webservicesp.anaf.ro's public registries (no token): the VAT registry and the RO e-Factura
//! register, their limits, and the company facts tests set.

mod common;

use std::time::Duration;

use anaf_sandbox::{CompanySpec, SandboxOptions};
use common::*;
use serde_json::{Value, json};

const VAT: &str = "/api/PlatitorTvaRest/v9/tva";
const REGISTER: &str = "/api/registruroefactura/v1/interogare";

/// A sandbox whose registries answer every request (the 1/s pace is tested on its own).
fn unpaced() -> Harness {
    start_with(SandboxOptions::instant().public_registry_pacing(false))
}

async fn ask(h: &Harness, path: &str, body: &Value) -> reqwest::Response {
    h.http.post(h.url(path)).json(body).send().await.unwrap()
}

fn query(cuis: &[u64]) -> Value {
    Value::Array(cuis.iter().map(|c| json!({"cui": c, "data": "2026-01-15"})).collect())
}

#[tokio::test]
async fn vat_registry_answers_found_and_not_found() {
    let h = unpaced();
    let body: Value = ask(&h, VAT, &query(&[8000000000, 19])).await.json().await.unwrap();
    assert_eq!(body["found"][0]["date_generale"]["cui"], 8000000000u64);
    assert_eq!(body["found"][0]["date_generale"]["denumire"], "SANDBOX FURNIZOR SRL");
    assert_eq!(body["found"][0]["date_generale"]["statusRO_e_Factura"], true);
    assert_eq!(body["found"][0]["inregistrare_scop_Tva"]["scpTVA"], true);
    assert!(body["found"][0]["inregistrare_scop_Tva"]["perioade_TVA"].is_array());
    assert_eq!(body["notFound"], json!([19]));
    let too_many: Vec<u64> = (0..101).collect();
    assert_eq!(ask(&h, VAT, &query(&too_many)).await.status(), 400);
    let nonsense = h.http.post(h.url(VAT)).body("nope").send().await.unwrap();
    assert_eq!(nonsense.status(), 400);
}

#[tokio::test]
async fn the_efactura_register_answers_found_entries_and_404_when_none_matches() {
    let h = unpaced();
    let response = ask(&h, REGISTER, &query(&[8000000000, 19])).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let entry = &body["found"][0];
    assert_eq!(entry["cui"], 8000000000u64);
    assert_eq!(entry["denumire"], "SANDBOX FURNIZOR SRL");
    for field in [
        "registru",
        "categorie",
        "dataInscriere",
        "dataRenuntare",
        "dataRadiere",
        "dataOptiuneB2G",
        "stare",
    ] {
        assert!(entry[field].is_string(), "{field} in {entry}");
    }
    assert_eq!(entry["dataInscriere"], "2020-01-01");
    assert_eq!(body["notFound"], json!([19]));

    let none = ask(&h, REGISTER, &query(&[19, 18])).await;
    assert_eq!(none.status(), 404);
    assert_eq!(
        none.json::<Value>().await.unwrap(),
        json!({"found": [], "notFound": [19, 18]})
    );
    let too_many: Vec<u64> = (0..101).collect();
    assert_eq!(ask(&h, REGISTER, &query(&too_many)).await.status(), 400);
    let log = h.sandbox.requests();
    assert!(
        log.iter()
            .any(|e| e.endpoint.as_deref() == Some("public.efactura_register") && e.status == 404)
    );
}

#[tokio::test]
async fn company_facts_set_by_a_test_reach_both_registries() {
    let h = unpaced();
    h.sandbox
        .set_company(CompanySpec {
            vat_payer: false,
            vat_on_collection: true,
            inactive: true,
            split_vat: true,
            efactura_registered: false,
            ..CompanySpec::new("19", "INACTIVA SRL")
        })
        .unwrap();
    let vat: Value = ask(&h, VAT, &query(&[19])).await.json().await.unwrap();
    let company = &vat["found"][0];
    assert_eq!(company["date_generale"]["denumire"], "INACTIVA SRL");
    assert_eq!(company["date_generale"]["statusRO_e_Factura"], false);
    assert_eq!(
        company["inregistrare_scop_Tva"],
        json!({"scpTVA": false, "perioade_TVA": []})
    );
    assert_eq!(company["inregistrare_RTVAI"]["statusTvaIncasare"], true);
    assert_eq!(company["inregistrare_RTVAI"]["dataInceputTvaInc"], "2020-01-01");
    assert_eq!(company["stare_inactiv"]["statusInactivi"], true);
    assert_eq!(company["inregistrare_SplitTVA"]["statusSplitTVA"], true);
    assert_eq!(
        ask(&h, REGISTER, &query(&[19])).await.status(),
        404,
        "not in the register"
    );

    // The same over the admin API, and a company registered since a given date.
    let set = h
        .http
        .post(h.url("/_sandbox/companies"))
        .json(&json!({"cif": "19", "name": "ACTIVA SRL", "since": "2024-03-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let register: Value = ask(&h, REGISTER, &query(&[19])).await.json().await.unwrap();
    assert_eq!(register["found"][0]["denumire"], "ACTIVA SRL");
    assert_eq!(register["found"][0]["dataInscriere"], "2024-03-01");
    let vat: Value = ask(&h, VAT, &query(&[19])).await.json().await.unwrap();
    assert_eq!(vat["found"][0]["inregistrare_scop_Tva"]["scpTVA"], true);
    assert_eq!(vat["found"][0]["stare_inactiv"]["statusInactivi"], false);
    let listed: Value = h
        .http
        .get(h.url("/_sandbox/companies"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed.as_array().unwrap().iter().any(|c| c["cif"] == "19"));
    let bad = h
        .http
        .post(h.url("/_sandbox/companies"))
        .json(&json!({"cif": "18"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400, "control digit");
}

#[tokio::test]
async fn each_registry_takes_one_request_per_second() {
    let h = start();
    // Two requests back to back fall within one second; should a slow machine space them out,
    // the next pair will not be.
    let mut refused = None;
    for _ in 0..5 {
        assert_eq!(ask(&h, VAT, &query(&[19])).await.status(), 200);
        let second = ask(&h, VAT, &query(&[19])).await;
        if second.status() == 429 {
            refused = Some(second);
            break;
        }
    }
    let refused = refused.expect("a second request within the second is refused");
    assert_eq!(refused.headers()["retry-after"], "1");
    // The register has a pace of its own.
    assert_ne!(ask(&h, REGISTER, &query(&[8000000000])).await.status(), 429);
    h.sandbox.advance_clock(Duration::from_secs(1));
    assert_eq!(ask(&h, VAT, &query(&[19])).await.status(), 200, "a second later");

    let unpaced = unpaced();
    for _ in 0..3 {
        assert_eq!(ask(&unpaced, VAT, &query(&[19])).await.status(), 200);
    }
}
