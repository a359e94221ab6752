//! RO e-Factura over HTTP: every endpoint's success and error envelopes.

mod common;

use std::io::Read;
use std::time::Duration;

use anaf_sandbox::samples::{InvoiceSpec, cii_invoice_xml, credit_note_xml, invoice_xml, rasp_xml};
use anaf_sandbox::{IdentitySpec, SandboxOptions, SeedRequest, Service};
use common::*;
use serde_json::Value;

fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP");
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut content = Vec::new();
            file.read_to_end(&mut content).unwrap();
            (file.name().unwrap().into_owned(), content)
        })
        .collect()
}

async fn download(h: &Harness, token: &str, id: &str) -> reqwest::Response {
    h.get(token, &format!("/test/FCTEL/rest/descarcare?id={id}")).await
}

#[tokio::test]
async fn upload_answers_the_documented_xml_header() {
    let h = start();
    let token = h.token().await;
    let answer = h
        .post_text(
            &token,
            &format!("/test/FCTEL/rest/upload?standard=UBL&cif={CIF}"),
            invoice("F-1", CIF, PARTNER),
        )
        .await;
    assert!(answer.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"));
    assert!(
        answer.contains("<header xmlns=\"mfp:anaf:dgti:spv:respUploadFisier:v1\""),
        "{answer}"
    );
    assert_eq!(attr(&answer, "ExecutionStatus").as_deref(), Some("0"));
    let index: u64 = attr(&answer, "index_incarcare").unwrap().parse().unwrap();
    assert!(index > u64::from(u32::MAX), "10-digit indexes need 64 bits");
    assert_eq!(attr(&answer, "dateResponse").unwrap().len(), 12);
    let uploads = h.sandbox.uploads(Some(CIF));
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].upload_id, index);
    assert_eq!(uploads[0].document_number.as_deref(), Some("F-1"));
}

#[tokio::test]
async fn upload_parameter_errors_use_anafs_texts() {
    let h = start();
    let token = h.token().await;
    let xml = invoice("F-1", CIF, PARTNER);
    let cases = [
        (
            "standard=XML&cif=8000000000",
            "Valorile acceptate pentru parametrul standard sunt UBL, CN, CII sau RASP",
        ),
        ("standard=UBL&cif=123a", "CIF introdus= 123a nu este un numar"),
        (
            "standard=UBL&cif=8000000000&extern=NU",
            "Daca parametrul extern trebuie completat, valoarea acceptata este DA",
        ),
        (
            "standard=UBL&cif=8000000000&autofactura=1",
            "Daca parametrul autofacturare trebuie completat, valoarea acceptata este DA",
        ),
        (
            "standard=UBL&cif=8000000000&executare=x",
            "Daca parametrul executare trebuie completat, valoarea acceptata este DA",
        ),
        ("standard=UBL&cif=1234", "Nu aveti drept in SPV pentru CIF=1234"),
        (
            "standard=UBL&cif=8000000000&executare=DA",
            "CIF introdus= 8000000000 nu este inregistrat in Registrul RO e-Factura executari silite",
        ),
    ];
    for (query, expected) in cases {
        let answer = h
            .post_text(&token, &format!("/test/FCTEL/rest/upload?{query}"), xml.clone())
            .await;
        assert_eq!(attr(&answer, "ExecutionStatus").as_deref(), Some("1"), "{query}");
        assert_eq!(attr(&answer, "errorMessage").as_deref(), Some(expected), "{query}");
        assert!(attr(&answer, "index_incarcare").is_none());
    }
    assert!(h.sandbox.uploads(None).is_empty(), "nothing was accepted");
}

#[tokio::test]
async fn upload_without_parameters_or_body_is_a_spring_400() {
    let h = start();
    let token = h.token().await;
    let missing = h.post(&token, "/test/FCTEL/rest/upload?standard=UBL", "x").await;
    assert_eq!(missing.status(), 400);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["message"], "Parametrii standard si cif sunt obligatorii");
    assert_eq!(body["error"], "Bad Request");
    assert_eq!(body["status"], 400);
    assert_eq!(body["timestamp"].as_str().unwrap().len(), "05-08-2021 12:04:01".len());
    let empty = h
        .post(&token, &format!("/test/FCTEL/rest/upload?standard=UBL&cif={CIF}"), "")
        .await;
    assert_eq!(empty.status(), 400);
    assert_eq!(
        empty.json::<Value>().await.unwrap()["message"],
        "Trebuie sa aveti atasat in request un fisier de tip xml"
    );
}

#[tokio::test]
async fn garbage_and_wrong_root_elements_are_rejected_with_sax_texts() {
    let h = start();
    let token = h.token().await;
    let path = format!("/test/FCTEL/rest/upload?standard=UBL&cif={CIF}");
    let garbage = h.post_text(&token, &path, "not xml at all").await;
    assert_eq!(
        attr(&garbage, "errorMessage").unwrap(),
        "Fisierul transmis nu este valid. org.xml.sax.SAXParseException; lineNumber: 1; columnNumber: 1; Content is not allowed in prolog. "
    );
    let wrong_root = h
        .post_text(&token, &path, "<?xml version=\"1.0\"?>\n<Invoice1 xmlns=\"urn:x\"/>")
        .await;
    let message = attr(&wrong_root, "errorMessage").unwrap();
    assert!(
        message.starts_with("Fisierul transmis nu este valid. org.xml.sax.SAXParseException; lineNumber: 2;"),
        "{message}"
    );
    assert!(
        message.ends_with("cvc-elt.1.a: Cannot find the declaration of element 'Invoice1'. "),
        "{message}"
    );
    let credit_note_as_ubl = h
        .post_text(&token, &path, credit_note_xml(&InvoiceSpec::new("C-1", CIF, PARTNER)))
        .await;
    assert!(
        attr(&credit_note_as_ubl, "errorMessage")
            .unwrap()
            .contains("'CreditNote'")
    );
    let truncated = h
        .post_text(
            &token,
            &path,
            "<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\"><a>",
        )
        .await;
    assert!(
        attr(&truncated, "errorMessage")
            .unwrap()
            .contains("XML document structures must start and end within the same entity.")
    );
    let bad_bytes = h
        .post_text(&token, &path, vec![0x3c, 0x61, 0x3e, 0xff, 0x3c, 0x2f, 0x61, 0x3e])
        .await;
    assert!(attr(&bad_bytes, "errorMessage").unwrap().contains("UTF-8"));
}

#[tokio::test]
async fn bodies_over_10_mb_are_refused_with_anafs_text() {
    let h = start();
    let token = h.token().await;
    let mut huge = invoice("F-1", CIF, PARTNER).into_bytes();
    huge.extend(std::iter::repeat_n(b' ', 10 * 1024 * 1024));
    let answer = h
        .post_text(&token, &format!("/test/FCTEL/rest/upload?standard=UBL&cif={CIF}"), huge)
        .await;
    assert_eq!(
        attr(&answer, "errorMessage").as_deref(),
        Some("Marime fisier transmis mai mare de 10 MB.")
    );
}

#[tokio::test]
async fn identity_without_any_cif_gets_the_no_cif_texts() {
    let h = start();
    let nobody = h
        .sandbox
        .add_identity(IdentitySpec {
            serial: None,
            name: "Fara CIF".into(),
            cifs: vec![],
            services: vec![Service::EFactura],
        })
        .unwrap();
    let token = h.tokens_for(&h.app, &nobody.serial).await.access;
    let upload = h
        .post_text(
            &token,
            &format!("/test/FCTEL/rest/upload?standard=UBL&cif={CIF}"),
            invoice("F", CIF, PARTNER),
        )
        .await;
    assert_eq!(
        attr(&upload, "errorMessage").as_deref(),
        Some("Nu exista niciun CIF pentru care sa aveti drept in SPV")
    );
    let status = h.status(&token, 5_000_000_001).await;
    assert_eq!(
        attr(&status, "errorMessage").as_deref(),
        Some("Nu exista niciun CIF petru care sa aveti drept")
    );
    let list = h
        .get_json(&token, &format!("/test/FCTEL/rest/listaMesajeFactura?zile=1&cif={CIF}"))
        .await;
    assert_eq!(list["eroare"], "Nu exista niciun CIF pentru care sa aveti drept in SPV");
}

#[tokio::test]
async fn status_goes_from_in_prelucrare_to_ok_after_the_processing_delay() {
    let h = start_with(SandboxOptions::instant().processing_delay(Duration::from_secs(30)));
    let token = h.token().await;
    let index = h.upload(&token, CIF, invoice("F-1", CIF, PARTNER)).await;
    let pending = h.status(&token, index).await;
    assert!(
        pending.contains("<header xmlns=\"mfp:anaf:dgti:efactura:stareMesajFactura:v1\" stare=\"in prelucrare\"/>"),
        "{pending}"
    );
    assert!(h.sandbox.uploads(Some(CIF))[0].state == "in prelucrare");
    h.sandbox.advance_clock(Duration::from_secs(31));
    let done = h.status(&token, index).await;
    assert_eq!(attr(&done, "stare").as_deref(), Some("ok"));
    assert!(attr(&done, "id_descarcare").is_some());
    assert!(
        !done.contains("ExecutionStatus"),
        "the status header has no ExecutionStatus"
    );
}

#[tokio::test]
async fn status_query_errors() {
    let h = start();
    let token = h.token().await;
    let missing = h.get(&token, "/test/FCTEL/rest/stareMesaj").await;
    assert_eq!(missing.status(), 400);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["message"],
        "Parametrul id_incarcare este obligatoriu"
    );
    let text = h.get_text(&token, "/test/FCTEL/rest/stareMesaj?id_incarcare=aaa").await;
    assert_eq!(
        attr(&text, "errorMessage").as_deref(),
        Some("Id_incarcare introdus= aaa nu este un numar intreg")
    );
    let unknown = h.status(&token, 15000).await;
    assert_eq!(
        attr(&unknown, "errorMessage").as_deref(),
        Some("Nu exista factura cu id_incarcare= 15000")
    );
    assert!(attr(&unknown, "stare").is_none());

    // Someone else's upload.
    let other = h
        .sandbox
        .add_identity(IdentitySpec {
            serial: None,
            name: "Alt".into(),
            cifs: vec![PARTNER.into()],
            services: vec![Service::EFactura],
        })
        .unwrap();
    let other_token = h.tokens_for(&h.app, &other.serial).await.access;
    let index = h.upload(&token, CIF, invoice("F-9", CIF, "19")).await;
    let foreign = h.status(&other_token, index).await;
    assert_eq!(
        attr(&foreign, "errorMessage"),
        Some(format!("Nu aveti dreptul de inteorgare pentru id_incarcare= {index}"))
    );
}

#[tokio::test]
async fn ok_invoice_reaches_sender_and_known_buyer_lists_and_downloads_as_signed_zip() {
    let h = start();
    let token = h.token().await;
    let xml = invoice("F-100", CIF, OTHER_OWN_CIF);
    let index = h.upload(&token, CIF, xml.clone()).await;
    let status = h.status(&token, index).await;
    let download_id = attr(&status, "id_descarcare").unwrap();

    let sent = h
        .get_json(
            &token,
            &format!("/test/FCTEL/rest/listaMesajeFactura?zile=1&cif={CIF}&filtru=T"),
        )
        .await;
    assert_eq!(sent["titlu"], "Lista Mesaje disponibile din ultimele 1 zile");
    assert_eq!(sent["serial"], SERIAL);
    assert_eq!(sent["cui"], "12345674,8000000000");
    let message = &sent["mesaje"][0];
    assert_eq!(message["tip"], "FACTURA TRIMISA");
    assert_eq!(message["id"], download_id.as_str());
    assert_eq!(message["id_solicitare"], index.to_string());
    assert_eq!(message["cif"], CIF);
    assert_eq!(
        message["detalii"],
        format!("Factura cu id_incarcare={index} emisa de cif_emitent={CIF} pentru cif_beneficiar={OTHER_OWN_CIF}")
    );
    assert_eq!(message["data_creare"].as_str().unwrap().len(), 12);

    let received = h
        .get_json(
            &token,
            &format!("/test/FCTEL/rest/listaMesajeFactura?zile=1&cif={OTHER_OWN_CIF}&filtru=P"),
        )
        .await;
    assert_eq!(received["mesaje"][0]["tip"], "FACTURA PRIMITA");
    assert_eq!(received["mesaje"][0]["id"], download_id.as_str());

    let response = download(&h, &token, &download_id).await;
    assert_eq!(response.headers()["content-type"], "application/zip");
    let files = unzip(&response.bytes().await.unwrap());
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec![format!("{index}.xml"), format!("semnatura_{index}.xml")]);
    assert_eq!(files[0].1, xml.as_bytes(), "the invoice comes back byte for byte");
    let signature = String::from_utf8(files[1].1.clone()).unwrap();
    assert!(signature.contains("<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\">"));
    use base64::Engine;
    let digest = base64::engine::general_purpose::STANDARD
        .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, xml.as_bytes()));
    assert!(
        signature.contains(&format!("<DigestValue>{digest}</DigestValue>")),
        "digest is SHA-256 of the invoice bytes"
    );

    // ANAF's signature check accepts the pair and refuses a tampered invoice.
    let verify = |file: Vec<u8>| {
        let form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(file).file_name("f.xml"))
            .part(
                "signature",
                reqwest::multipart::Part::bytes(files[1].1.clone()).file_name("s.xml"),
            );
        h.http.post(h.url("/api/validate/signature")).multipart(form).send()
    };
    let ok: Value = verify(files[0].1.clone()).await.unwrap().json().await.unwrap();
    assert!(
        ok["msg"]
            .as_str()
            .unwrap()
            .starts_with("Fișierele încărcate au fost validate cu succes"),
        "{ok}"
    );
    let tampered = xml.replace("F-100", "F-101").into_bytes();
    let bad: Value = verify(tampered).await.unwrap().json().await.unwrap();
    assert!(
        bad["msg"]
            .as_str()
            .unwrap()
            .starts_with("Fișierele încărcate NU au putut fi validate"),
        "{bad}"
    );
}

#[tokio::test]
async fn business_rule_failures_become_nok_with_an_error_document() {
    let h = start();
    let token = h.token().await;
    let mut spec = InvoiceSpec::new("", "12345678", PARTNER);
    spec.number.clear();
    let index = h.upload(&token, CIF, invoice_xml(&spec)).await;
    let status = h.status(&token, index).await;
    assert_eq!(attr(&status, "stare").as_deref(), Some("nok"));
    let download_id = attr(&status, "id_descarcare").unwrap();

    // The seller cannot be identified (bad control digit), so the errors go to the `cif` parameter.
    let errors = h
        .get_json(
            &token,
            &format!("/test/FCTEL/rest/listaMesajeFactura?zile=1&cif={CIF}&filtru=E"),
        )
        .await;
    assert_eq!(errors["mesaje"][0]["tip"], "ERORI FACTURA");
    assert_eq!(
        errors["mesaje"][0]["detalii"],
        format!("Erori de validare identificate la factura primita cu id_incarcare={index}")
    );

    let files = unzip(&download(&h, &token, &download_id).await.bytes().await.unwrap());
    let document = String::from_utf8(files[0].1.clone()).unwrap();
    assert!(
        document.contains("<header xmlns=\"mfp:anaf:dgti:efactura:mesajEroriFactuta:v1\""),
        "{document}"
    );
    assert_eq!(attr(&document, "Index_incarcare"), Some(index.to_string()));
    assert!(
        document.contains("[BR-02]-An Invoice shall have an Invoice number (BT-1)."),
        "{document}"
    );
    assert!(
        document.contains("R_BT_32_cui: Cui vanzator incorect / validare CUI (12345678)"),
        "{document}"
    );
    assert_eq!(files[1].0, format!("semnatura_{index}.xml"));
}

#[tokio::test]
async fn an_unknown_seller_is_refused_with_rule_r6_1() {
    let h = start();
    let token = h.token().await;
    let index = h.upload(&token, CIF, invoice("F-1", "19", PARTNER)).await;
    let status = h.status(&token, index).await;
    let files = unzip(
        &download(&h, &token, &attr(&status, "id_descarcare").unwrap())
            .await
            .bytes()
            .await
            .unwrap(),
    );
    let document = String::from_utf8(files[0].1.clone()).unwrap();
    assert!(
        document.contains("R6.1: CIF-ul vanzatorului nu figureaza in baza de date:19"),
        "{document}"
    );
}

#[tokio::test]
async fn a_second_upload_of_the_same_invoice_is_a_nok_duplicate() {
    let h = start();
    let token = h.token().await;
    let xml = invoice("DUP-1", CIF, PARTNER);
    let first = h.upload(&token, CIF, xml.clone()).await;
    let second = h.upload(&token, CIF, xml).await;
    assert_eq!(attr(&h.status(&token, first).await, "stare").as_deref(), Some("ok"));
    let status = h.status(&token, second).await;
    assert_eq!(attr(&status, "stare").as_deref(), Some("nok"));
    let files = unzip(
        &download(&h, &token, &attr(&status, "id_descarcare").unwrap())
            .await
            .bytes()
            .await
            .unwrap(),
    );
    let document = String::from_utf8(files[0].1.clone()).unwrap();
    let today = h
        .sandbox
        .now()
        .with_timezone(&chrono_tz::Europe::Bucharest)
        .format("%Y-%m-%d")
        .to_string();
    assert!(
        document.contains(&format!(
            "Factura a mai fost transmisa anterior cu index={first} si data incarcare={today}"
        )),
        "{document}"
    );
}

#[tokio::test]
async fn xml_without_content_is_not_taken_by_the_system() {
    let h = start();
    let token = h.token().await;
    let empty = "<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\"></Invoice>";
    let index = h.upload(&token, CIF, empty.to_owned()).await;
    let status = h.status(&token, index).await;
    assert_eq!(
        attr(&status, "stare").as_deref(),
        Some("XML cu erori nepreluat de sistem")
    );
    assert!(attr(&status, "id_descarcare").is_none());
}

#[tokio::test]
async fn credit_notes_cii_b2c_self_billing_and_enforcement_are_accepted() {
    let h = start();
    let token = h.token().await;
    let spec = InvoiceSpec::new("CN-1", CIF, PARTNER);
    let cn = h
        .post_text(
            &token,
            &format!("/test/FCTEL/rest/upload?standard=CN&cif={CIF}"),
            credit_note_xml(&spec),
        )
        .await;
    let cii = h
        .post_text(
            &token,
            &format!("/test/FCTEL/rest/upload?standard=CII&cif={CIF}"),
            cii_invoice_xml(&InvoiceSpec::new("CII-1", CIF, PARTNER)),
        )
        .await;
    for answer in [&cn, &cii] {
        let index: u64 = attr(answer, "index_incarcare").unwrap().parse().unwrap();
        assert_eq!(
            attr(&h.status(&token, index).await, "stare").as_deref(),
            Some("ok"),
            "{answer}"
        );
    }

    let mut person = InvoiceSpec::new("B2C-1", CIF, "1800101221144");
    person.buyer_name = "Maria Ionescu".into();
    let b2c = h
        .post_text(
            &token,
            &format!("/test/FCTEL/rest/uploadb2c?standard=UBL&cif={CIF}"),
            invoice_xml(&person),
        )
        .await;
    let b2c_index: u64 = attr(&b2c, "index_incarcare").unwrap().parse().unwrap();
    assert_eq!(attr(&h.status(&token, b2c_index).await, "stare").as_deref(), Some("ok"));
    assert!(
        h.sandbox
            .uploads(Some(CIF))
            .iter()
            .any(|u| u.upload_id == b2c_index && u.b2c)
    );

    // Self-billing: the buyer (OTHER_OWN_CIF) issues in the name of the seller (PARTNER).
    let self_billed = invoice("AF-1", PARTNER, OTHER_OWN_CIF);
    let answer = h
        .post_text(
            &token,
            &format!("/test/FCTEL/rest/upload?standard=UBL&cif={OTHER_OWN_CIF}&autofactura=DA"),
            self_billed,
        )
        .await;
    let index: u64 = attr(&answer, "index_incarcare").unwrap().parse().unwrap();
    let sent = h
        .get_json(
            &token,
            &format!("/test/FCTEL/rest/listaMesajeFactura?zile=1&cif={OTHER_OWN_CIF}&filtru=T"),
        )
        .await;
    assert_eq!(
        sent["mesaje"][0]["detalii"],
        format!(
            "Factura cu id_incarcare={index} transmisa de cif={OTHER_OWN_CIF}  ca autofactura in numele cif={PARTNER}"
        )
    );

    h.sandbox.add_enforcement_cif(CIF).unwrap();
    let enforced = h
        .post_text(
            &token,
            &format!("/test/FCTEL/rest/upload?standard=UBL&cif={CIF}&executare=DA&extern=DA"),
            invoice("EX-1", CIF, PARTNER),
        )
        .await;
    assert_eq!(attr(&enforced, "ExecutionStatus").as_deref(), Some("0"), "{enforced}");
}

#[tokio::test]
async fn rasp_messages_reach_both_parties_and_count_against_the_daily_limit() {
    let options = SandboxOptions::instant().daily_limits(anaf_sandbox::DailyLimits {
        efactura_rasp_uploads: 2,
        ..Default::default()
    });
    let h = start_with(options);
    let token = h.token().await;
    // CIF sells to OTHER_OWN_CIF; the default identity represents both, so it can answer.
    let invoice_index = h.upload(&token, CIF, invoice("R-1", CIF, OTHER_OWN_CIF)).await;
    let path = format!("/test/FCTEL/rest/upload?standard=RASP&cif={OTHER_OWN_CIF}");
    let answer = h
        .post_text(&token, &path, rasp_xml(invoice_index, "Factura acceptata"))
        .await;
    let rasp_index: u64 = attr(&answer, "index_incarcare").unwrap().parse().unwrap();
    assert_eq!(
        attr(&h.status(&token, rasp_index).await, "stare").as_deref(),
        Some("ok")
    );
    let to_seller = h
        .get_json(
            &token,
            &format!("/test/FCTEL/rest/listaMesajeFactura?zile=1&cif={CIF}&filtru=R"),
        )
        .await;
    assert_eq!(to_seller["mesaje"][0]["tip"], "MESAJ CUMPARATOR PRIMIT");
    let from_buyer = h
        .get_json(
            &token,
            &format!("/test/FCTEL/rest/listaMesajeFactura?zile=1&cif={OTHER_OWN_CIF}&filtru=R"),
        )
        .await;
    assert_eq!(from_buyer["mesaje"][0]["tip"], "MESAJ CUMPARATOR TRANSMIS");

    h.post_text(&token, &path, rasp_xml(invoice_index, "a doua")).await;
    let refused = h.post_text(&token, &path, rasp_xml(invoice_index, "a treia")).await;
    assert_eq!(
        attr(&refused, "errorMessage"),
        Some(format!(
            "S-au incarcat deja 2 de mesaje de tip RASP pentru cui={OTHER_OWN_CIF} in cursul zilei"
        ))
    );
}

#[tokio::test]
async fn simple_list_errors_and_the_empty_result() {
    let h = start();
    let token = h.token().await;
    let missing = h.get(&token, "/test/FCTEL/rest/listaMesajeFactura?zile=1").await;
    assert_eq!(missing.status(), 400);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["message"],
        "Parametrii zile si cif sunt obligatorii"
    );
    let cases = [
        ("zile=1&cif=aaa", "CIF introdus= aaa nu este un numar"),
        (
            "zile=aaa&cif=8000000000",
            "Numarul de zile introdus= aaa nu este un numar intreg",
        ),
        ("zile=61&cif=8000000000", "Numarul de zile trebuie sa fie intre 1 si 60"),
        (
            "zile=1&cif=8000000000&filtru=X",
            "Valorile acceptate pentru parametrul filtru sunt E, T, P sau R",
        ),
        ("zile=1&cif=33333338", "Nu aveti drept in SPV pentru CIF=33333338"),
        ("zile=15&cif=8000000000", "Nu exista mesaje in ultimele 15 zile"),
    ];
    for (query, expected) in cases {
        let body = h
            .get_json(&token, &format!("/test/FCTEL/rest/listaMesajeFactura?{query}"))
            .await;
        assert_eq!(body["eroare"], expected, "{query}");
        assert_eq!(body["titlu"], "Lista Mesaje", "{query}");
    }
}

#[tokio::test]
async fn lists_respect_the_indexing_lag() {
    let h = start_with(SandboxOptions::instant().indexing_lag(Duration::from_secs(600)));
    let token = h.token().await;
    let index = h.upload(&token, CIF, invoice("LAG-1", CIF, PARTNER)).await;
    assert_eq!(attr(&h.status(&token, index).await, "stare").as_deref(), Some("ok"));
    let before = h
        .get_json(&token, &format!("/test/FCTEL/rest/listaMesajeFactura?zile=1&cif={CIF}"))
        .await;
    assert_eq!(before["eroare"], "Nu exista mesaje in ultimele 1 zile");
    h.sandbox.advance_clock(Duration::from_secs(601));
    let after = h
        .get_json(&token, &format!("/test/FCTEL/rest/listaMesajeFactura?zile=1&cif={CIF}"))
        .await;
    assert_eq!(after["mesaje"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn more_than_500_messages_need_the_paginated_list() {
    let h = start();
    let token = h.token().await;
    let seeded = h
        .sandbox
        .seed_received_invoices(&SeedRequest {
            cif: CIF.into(),
            count: 1201,
            supplier_cif: None,
            days_back: 10,
            env: anaf_sandbox::Env::Test,
        })
        .unwrap();
    assert_eq!(seeded.len(), 1201);
    let simple = h
        .get_json(
            &token,
            &format!("/test/FCTEL/rest/listaMesajeFactura?zile=30&cif={CIF}"),
        )
        .await;
    assert_eq!(
        simple["eroare"],
        "Lista de mesaje este mai mare decat numarul de 500 elemente permise in pagina. Folositi endpoint-ul cu paginatie."
    );

    let now = h.sandbox.now().timestamp_millis();
    let start_ms = now - 20 * 86_400_000;
    let page = |n: u32| {
        let h = &h;
        let token = token.clone();
        async move {
            h.get_json(&token, &format!("/test/FCTEL/rest/listaMesajePaginatieFactura?startTime={start_ms}&endTime={now}&cif={CIF}&pagina={n}")).await
        }
    };
    let mut ids = std::collections::BTreeSet::new();
    for n in 1..=3 {
        let body = page(n).await;
        assert_eq!(body["numar_total_inregistrari"], 1201);
        assert_eq!(body["numar_total_pagini"], 3);
        assert_eq!(body["numar_total_inregistrari_per_pagina"], 500);
        assert_eq!(body["index_pagina_curenta"], n);
        let on_page = body["mesaje"].as_array().unwrap();
        assert_eq!(body["numar_inregistrari_in_pagina"], on_page.len());
        assert_eq!(on_page.len(), if n < 3 { 500 } else { 201 });
        ids.extend(on_page.iter().map(|m| m["id"].as_str().unwrap().to_owned()));
        assert!(
            body["titlu"]
                .as_str()
                .unwrap()
                .starts_with("Lista Mesaje disponibile din intervalul ")
        );
    }
    assert_eq!(ids.len(), 1201, "pages do not overlap");
    let beyond = page(4).await;
    assert_eq!(
        beyond["eroare"],
        "Pagina solicitata 4 este mai mare decat numarul toatal de pagini 3"
    );
}

#[tokio::test]
async fn paginated_list_checks_its_time_window() {
    let h = start();
    let token = h.token().await;
    let now = h.sandbox.now().timestamp_millis();
    let q = |start: String, end: String, page: &str, cif: &str| {
        format!("/test/FCTEL/rest/listaMesajePaginatieFactura?startTime={start}&endTime={end}&cif={cif}&pagina={page}")
    };
    let day = 86_400_000i64;
    let missing = h
        .get(
            &token,
            "/test/FCTEL/rest/listaMesajePaginatieFactura?startTime=1&endTime=2",
        )
        .await;
    assert_eq!(
        missing.json::<Value>().await.unwrap()["message"],
        "Parametrii startTime, endTime, cif si pagina sunt obligatorii"
    );
    let get = |path: String| {
        let h = &h;
        let token = token.clone();
        async move {
            h.get_json(&token, &path).await["eroare"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    assert_eq!(
        get(q("aaa".into(), now.to_string(), "1", CIF)).await,
        "startTime = aaa nu este un numar sau nu are o valoare acceptata de sistem"
    );
    assert_eq!(
        get(q((now - day).to_string(), "bbb".into(), "1", CIF)).await,
        "endTime = bbb nu este un numar sau nu are o valoare acceptata de sistem"
    );
    assert_eq!(
        get(q((now - day).to_string(), now.to_string(), "aa", CIF)).await,
        "pagina = aa nu este un numar sau nu are o valoare acceptata de sistem"
    );
    assert_eq!(
        get(q((now - day).to_string(), now.to_string(), "1", "aaa")).await,
        "CIF introdus= aaa nu este un numar sau nu are o valoare acceptata de sistem"
    );
    let too_old = get(q((now - 61 * day).to_string(), now.to_string(), "1", CIF)).await;
    assert!(
        too_old.starts_with("startTime = ")
            && too_old.ends_with(" nu poate fi mai vechi de 60 de zile fata de momentul requestului"),
        "{too_old}"
    );
    let reversed = get(q((now - day).to_string(), (now - 2 * day).to_string(), "1", CIF)).await;
    assert!(reversed.contains(" nu poate fi <= startTime = "), "{reversed}");
    let future = get(q((now - day).to_string(), (now + 60_000).to_string(), "1", CIF)).await;
    assert!(
        future.contains(" nu poate in viitor fata de momentul requestului = "),
        "{future}"
    );
    assert_eq!(
        get(q((now - day).to_string(), (now - 1000).to_string(), "1", CIF)).await,
        "Nu exista mesaje in intervalul selectat"
    );
    assert_eq!(
        get(q((now - day).to_string(), (now - 1000).to_string(), "1", PARTNER)).await,
        format!("Nu aveti drept in SPV pentru CIF={PARTNER}")
    );
}

#[tokio::test]
async fn download_errors_limits_and_the_60_day_expiry() {
    let options = SandboxOptions::instant().daily_limits(anaf_sandbox::DailyLimits {
        efactura_download: 2,
        ..Default::default()
    });
    let h = start_with(options);
    let token = h.token().await;
    let missing = h.get(&token, "/test/FCTEL/rest/descarcare").await;
    assert_eq!(missing.status(), 400);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["message"],
        "Parametrul id este obligatoriu"
    );
    let text = |body: Value| body["eroare"].as_str().unwrap().to_owned();
    let bad = download(&h, &token, "123a").await.json::<Value>().await.unwrap();
    assert_eq!(
        text(bad.clone()),
        "Id descarcare introdus= 123a nu este un numar intreg"
    );
    assert_eq!(bad["titlu"], "Descarcare mesaj");
    assert_eq!(
        text(download(&h, &token, "21").await.json().await.unwrap()),
        "Pentru id=21 nu exista inregistrata nici o factura"
    );

    let index = h.upload(&token, CIF, invoice("D-1", CIF, PARTNER)).await;
    let id = attr(&h.status(&token, index).await, "id_descarcare").unwrap();
    let other = h
        .sandbox
        .add_identity(IdentitySpec {
            serial: None,
            name: "Strain".into(),
            cifs: vec!["19".into()],
            services: vec![Service::EFactura],
        })
        .unwrap();
    let stranger = h.tokens_for(&h.app, &other.serial).await.access;
    assert_eq!(
        text(download(&h, &stranger, &id).await.json().await.unwrap()),
        "Nu aveti dreptul sa descarcati acesta factura"
    );

    assert_eq!(
        download(&h, &token, &id).await.headers()["content-type"],
        "application/zip"
    );
    assert_eq!(
        download(&h, &token, &id).await.headers()["content-type"],
        "application/zip"
    );
    let limited = download(&h, &token, &id).await;
    assert_eq!(
        text(limited.json().await.unwrap()),
        "S-au facut deja 2 descarcari de mesaj in cursul zilei"
    );
    // Next day in Bucharest the budget is back; after 60 days the file is gone for good.
    h.sandbox.advance_clock(Duration::from_secs(86_400));
    assert_eq!(
        download(&h, &token, &id).await.headers()["content-type"],
        "application/zip"
    );
    h.sandbox.advance_clock(Duration::from_secs(60 * 86_400));
    let expired = download(&h, &token, &id).await.json::<Value>().await.unwrap();
    assert_eq!(
        text(expired),
        "Fisierul nu mai poate fi descarcat pentru ca a trecut perioada de 60 de zile in care este disponibil"
    );
}

#[tokio::test]
async fn status_has_a_daily_limit_per_message() {
    let options = SandboxOptions::instant().daily_limits(anaf_sandbox::DailyLimits {
        efactura_status: 3,
        ..Default::default()
    });
    let h = start_with(options);
    let token = h.token().await;
    let index = h.upload(&token, CIF, invoice("S-1", CIF, PARTNER)).await;
    for _ in 0..3 {
        assert_eq!(attr(&h.status(&token, index).await, "stare").as_deref(), Some("ok"));
    }
    let limited = h.status(&token, index).await;
    assert_eq!(
        attr(&limited, "errorMessage").as_deref(),
        Some("S-au facut deja 3 descarcari de mesaj in cursul zilei")
    );
    let other = h.upload(&token, CIF, invoice("S-2", CIF, PARTNER)).await;
    assert_eq!(
        attr(&h.status(&token, other).await, "stare").as_deref(),
        Some("ok"),
        "the limit is per message"
    );
}

#[tokio::test]
async fn list_limits_are_per_cif() {
    let options = SandboxOptions::instant().daily_limits(anaf_sandbox::DailyLimits {
        efactura_list: 1,
        efactura_list_paged: 1,
        ..Default::default()
    });
    let h = start_with(options);
    let token = h.token().await;
    let simple = |cif: &str| format!("/test/FCTEL/rest/listaMesajeFactura?zile=1&cif={cif}");
    h.get_json(&token, &simple(CIF)).await;
    let limited = h.get_json(&token, &simple(CIF)).await;
    assert_eq!(
        limited["eroare"],
        "S-au facut deja 1 interogari de lista mesaje de catre utilizator in cursul zilei"
    );
    assert_eq!(
        h.get_json(&token, &simple(OTHER_OWN_CIF)).await["eroare"],
        "Nu exista mesaje in ultimele 1 zile"
    );
    let now = h.sandbox.now().timestamp_millis();
    let paged = format!(
        "/test/FCTEL/rest/listaMesajePaginatieFactura?startTime={}&endTime={}&cif={CIF}&pagina=1",
        now - 1000,
        now - 10
    );
    h.get_json(&token, &paged).await;
    assert!(
        h.get_json(&token, &paged).await["eroare"]
            .as_str()
            .unwrap()
            .starts_with("S-au facut deja 1 interogari")
    );
}

#[tokio::test]
async fn validate_reports_ok_and_nok_with_messages() {
    let h = start();
    let ok: Value = h
        .http
        .post(h.url("/prod/FCTEL/rest/validare/FACT1"))
        .header("content-type", "text/plain")
        .body(invoice("V-1", CIF, PARTNER))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok["stare"], "ok");
    assert_eq!(ok["trace_id"].as_str().unwrap().len(), 36);
    let mut spec = InvoiceSpec::new("V-2", CIF, PARTNER);
    spec.lines.clear();
    let nok: Value = h
        .http
        .post(h.url("/prod/FCTEL/rest/validare/FACT1"))
        .body(invoice_xml(&spec))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(nok["stare"], "nok");
    assert_eq!(
        nok["Messages"][0]["message"],
        "E: validari globale  SCHEMATRON   eroare: [BR-16]-An Invoice shall have at least one Invoice line (BG-25)"
    );
    let cn: Value = h
        .http
        .post(h.url("/prod/FCTEL/rest/validare/FCN"))
        .body(credit_note_xml(&InvoiceSpec::new("C", CIF, PARTNER)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cn["stare"], "ok");
    let bad_standard: Value = h
        .http
        .post(h.url("/prod/FCTEL/rest/validare/XYZ"))
        .body("<a/>")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        bad_standard["Messages"][0]["message"],
        "Valorile acceptate pentru parametrul standard sunt FACT1 si FCN"
    );
    let garbage: Value = h
        .http
        .post(h.url("/prod/FCTEL/rest/validare/FACT1"))
        .body("{json}")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(garbage["stare"], "nok");
    let big: Value = h
        .http
        .post(h.url("/prod/FCTEL/rest/validare/FACT1"))
        .body(vec![b' '; 5 * 1024 * 1024 + 1])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        big["Messages"][0]["message"],
        "Marime fisier transmis mai mare de 5 MB."
    );
    // Test-environment path and a missing standard are 404s, Spring-style.
    let test_path = h
        .http
        .post(h.url("/test/FCTEL/rest/validare/FACT1"))
        .body("<a/>")
        .send()
        .await
        .unwrap();
    assert_eq!(test_path.status(), 404);
    let no_standard = h
        .http
        .post(h.url("/prod/FCTEL/rest/validare/"))
        .body("<a/>")
        .send()
        .await
        .unwrap();
    assert_eq!(no_standard.status(), 404);
    let body: Value = no_standard.json().await.unwrap();
    assert_eq!(body["error"], "Not Found");
    assert_eq!(body["path"], "/prod/FCTEL/rest/validare/");
    // With a token (api.anaf.ro), the token must be valid.
    assert_eq!(
        h.post("bad", "/prod/FCTEL/rest/validare/FACT1", "<a/>").await.status(),
        401
    );
    let token = h.token().await;
    assert_eq!(
        h.post(&token, "/prod/FCTEL/rest/validare/FACT1", invoice("V-3", CIF, PARTNER))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn transformare_returns_a_pdf_or_the_validation_report() {
    let h = start();
    let pdf = h
        .http
        .post(h.url("/prod/FCTEL/rest/transformare/FACT1"))
        .body(invoice("PDF-1", CIF, PARTNER))
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    let bytes = pdf.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    assert!(
        bytes.windows(5).any(|w| w == b"PDF-1"),
        "the invoice number is on the page"
    );
    let mut spec = InvoiceSpec::new("PDF-2", CIF, PARTNER);
    spec.lines.clear();
    let refused: Value = h
        .http
        .post(h.url("/prod/FCTEL/rest/transformare/FACT1"))
        .body(invoice_xml(&spec))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(refused["stare"], "nok");
    let unvalidated = h
        .http
        .post(h.url("/prod/FCTEL/rest/transformare/FACT1/DA"))
        .body(invoice_xml(&spec))
        .send()
        .await
        .unwrap();
    assert_eq!(unvalidated.headers()["content-type"], "application/pdf");
    assert_eq!(
        h.http
            .post(h.url("/prod/FCTEL/rest/transformare/FACT1/NU"))
            .body("<a/>")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn the_firewall_blocks_relative_schema_locations_on_the_public_host() {
    let h = start();
    let xml = invoice("W-1", CIF, PARTNER).replacen(
        "<Invoice ",
        "<Invoice xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2 ../../UBL-Invoice-2.1.xsd\" ",
        1,
    );
    let blocked = h
        .http
        .post(h.url("/prod/FCTEL/rest/transformare/FACT1/DA"))
        .body(xml.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), 200);
    assert_eq!(blocked.headers()["content-type"], "text/html; charset=utf-8");
    let page = blocked.text().await.unwrap();
    assert!(page.contains("The requested URL was rejected. Please consult with your administrator."));
    let support_id = page
        .split("Your support ID is: ")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert_eq!(support_id.len(), 19);
    assert!(support_id.bytes().all(|b| b.is_ascii_digit()));
    let token = h.token().await;
    assert_eq!(
        h.post(&token, "/prod/FCTEL/rest/transformare/FACT1/DA", xml)
            .await
            .headers()["content-type"],
        "application/pdf",
        "api.anaf.ro has no such firewall rule"
    );
}

#[tokio::test]
async fn signature_check_rejects_requests_without_both_xml_files() {
    let h = start();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(invoice("x", CIF, PARTNER).into_bytes()),
    );
    let response = h
        .http
        .post(h.url("/api/validate/signature"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["msg"],
        "Eroare tehnică: request incorect. Cauza: cel puțin unul din documente NU a fost încărcat sau NU este un fisier de tip XML specific facturii electronice."
    );
    let not_multipart = h
        .http
        .post(h.url("/api/validate/signature"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(not_multipart.status(), 400);
}

#[tokio::test]
async fn environments_hold_separate_data_and_unknown_ones_are_404() {
    let h = start();
    let token = h.token().await;
    let index = h.upload(&token, CIF, invoice("E-1", CIF, PARTNER)).await;
    let in_prod = h
        .get_text(&token, &format!("/prod/FCTEL/rest/stareMesaj?id_incarcare={index}"))
        .await;
    assert_eq!(
        attr(&in_prod, "errorMessage"),
        Some(format!("Nu exista factura cu id_incarcare= {index}"))
    );
    let unknown = h
        .get(&token, &format!("/staging/FCTEL/rest/stareMesaj?id_incarcare={index}"))
        .await;
    assert_eq!(unknown.status(), 404);
    let nowhere = h.get(&token, "/test/FCTEL/rest/nothing").await;
    assert_eq!(nowhere.status(), 404);
    assert_eq!(
        nowhere.json::<Value>().await.unwrap()["path"],
        "/test/FCTEL/rest/nothing"
    );
}

#[tokio::test]
async fn stored_documents_past_the_memory_cap_are_evicted_oldest_first() {
    let one = invoice("CAP-1", CIF, PARTNER).len() as u64;
    // Room for two invoices of this size, not three.
    let h = start_with(SandboxOptions::instant().max_stored_bytes(2 * one + one / 2));
    let token = h.token().await;
    let mut indexes = Vec::new();
    for n in 1..=3 {
        indexes.push(h.upload(&token, CIF, invoice(&format!("CAP-{n}"), CIF, PARTNER)).await);
    }
    let uploads = h.sandbox.uploads(Some(CIF));
    let evicted: Vec<bool> = uploads.iter().map(|u| u.evicted).collect();
    assert_eq!(evicted, vec![true, false, false], "the oldest body went");
    assert_eq!(uploads[0].size as u64, one, "its record is kept");
    // Its state and messages stay; its download answers ANAF's "no invoice" text.
    let status = h.status(&token, indexes[0]).await;
    assert_eq!(attr(&status, "stare").as_deref(), Some("ok"));
    let id = attr(&status, "id_descarcare").unwrap();
    let gone: Value = download(&h, &token, &id).await.json().await.unwrap();
    assert_eq!(
        gone,
        serde_json::json!({"eroare": format!("Pentru id={id} nu exista inregistrata nici o factura"), "titlu": "Descarcare mesaj"})
    );
    let list = h
        .get_json(&token, &format!("/test/FCTEL/rest/listaMesajeFactura?zile=1&cif={CIF}"))
        .await;
    assert_eq!(list["mesaje"].as_array().unwrap().len(), 3);
    let newest = attr(&h.status(&token, indexes[2]).await, "id_descarcare").unwrap();
    let response = download(&h, &token, &newest).await;
    assert_eq!(response.headers()["content-type"], "application/zip");
    let over_http: Value = h
        .http
        .get(h.url(&format!("/_sandbox/uploads?cif={CIF}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http[0]["evicted"], true);
}
