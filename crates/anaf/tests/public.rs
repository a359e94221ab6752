//! The public registries: taxpayer data from the VAT registry and the RO e-Factura register,
//! for any number of CIFs, in batches of 100 paced at one request per second.

mod common;

use anaf::ErrorKind;
use common::*;

/// `count` CIFs with a valid control digit, none of them known to the sandbox.
fn unknown_cifs(count: usize) -> Vec<String> {
    (1_000_000u64..)
        .map(|body| body.to_string())
        .filter_map(|body| {
            (0..10)
                .map(|d| format!("{body}{d}"))
                .find(|c| anaf::Cif::parse(c).is_ok())
        })
        .take(count)
        .collect()
}

#[tokio::test]
async fn taxpayers_are_looked_up_in_batches_of_100() {
    let sandbox = sandbox();
    // No login: these services are public.
    let client = builder(&sandbox).build().unwrap();
    let mut cifs = unknown_cifs(247);
    cifs.extend(["RO8000000000".to_owned(), "12345674".to_owned(), PARTNER.to_owned()]);
    cifs.push("8000000000".to_owned()); // asked twice, sent once
    let lookup = client.public().lookup_taxpayers(&cifs, None).await.unwrap();
    assert_eq!(lookup.found.len(), 3);
    assert_eq!(lookup.not_found.len(), 247);
    assert_eq!(
        requests_to(&sandbox, "public.vat_registry"),
        3,
        "250 CIFs in 3 requests"
    );
    assert!(
        sandbox
            .requests()
            .iter()
            .filter(|r| r.endpoint.as_deref() == Some("public.vat_registry"))
            .all(|r| r.status == 200),
        "paced: never refused for going too fast"
    );
    let seller = lookup.found.iter().find(|t| t.cif == "8000000000").unwrap();
    assert_eq!(seller.name, "SANDBOX FURNIZOR SRL");
    assert!(seller.vat_payer && seller.efactura_registered && !seller.inactive);
    assert!(!seller.vat_periods.is_empty());
    assert!(!seller.head_office.street.is_empty());
    let json = serde_json::to_value(seller).unwrap();
    assert_eq!(json["vat_payer"], true);
}

#[tokio::test]
async fn an_invalid_cif_is_refused_before_anything_is_sent() {
    let sandbox = sandbox();
    let client = builder(&sandbox).build().unwrap();
    let error = client
        .public()
        .lookup_taxpayers(["8000000000", "12345678"], None)
        .await
        .unwrap_err();
    assert_eq!((error.kind(), error.field()), (ErrorKind::InvalidInput, Some("cif")));
    assert!(error.to_string().contains("12345678"));
    assert!(sandbox.requests().is_empty());
}

#[test]
fn registry_facts_come_back_typed() {
    let sandbox = sandbox();
    let mut spec = anaf_sandbox::CompanySpec::new("29930516", "FURNIZOR INACTIV SRL");
    spec.vat_payer = false;
    spec.vat_on_collection = true;
    spec.inactive = true;
    spec.split_vat = true;
    spec.efactura_registered = false;
    sandbox.set_company(spec).unwrap();
    let client = builder(&sandbox).build_blocking().unwrap();
    let lookup = client.public().lookup_taxpayers(["RO29930516"], None).unwrap();
    let partner = &lookup.found[0];
    assert_eq!(partner.name, "FURNIZOR INACTIV SRL");
    assert!(!partner.vat_payer && partner.vat_on_collection && partner.inactive && partner.split_vat);
    assert!(!partner.efactura_registered);
}

#[tokio::test]
async fn the_efactura_register_answers_found_and_not_found() {
    let sandbox = sandbox();
    let client = builder(&sandbox).build().unwrap();
    let lookup = client
        .public()
        .lookup_efactura_register(["8000000000", "19"], None)
        .await
        .unwrap();
    assert_eq!(lookup.found.len(), 1);
    assert_eq!(lookup.found[0].cif, "8000000000");
    assert!(lookup.found[0].registered_on.is_some());
    assert_eq!(lookup.not_found, ["19"]);
    // None known: ANAF answers 404 with the same body; still a result.
    let none = client
        .public()
        .lookup_efactura_register(unknown_cifs(2), None)
        .await
        .unwrap();
    assert!(none.found.is_empty());
    assert_eq!(none.not_found.len(), 2);
    // Two lookups back to back: the second waited for its slot instead of being refused.
    assert!(
        sandbox
            .requests()
            .iter()
            .filter(|r| r.endpoint.as_deref() == Some("public.efactura_register"))
            .all(|r| r.status != 429)
    );
}
