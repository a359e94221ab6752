//! The detached signature in download archives, in ANAF's production form, and the
//! signature check (`/api/validate/signature`) accepting it and the sandbox's earlier
//! `rsa-sha256` form.

mod common;

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use serde_json::Value;

const VALID: &str = "Fișierele încărcate au fost validate cu succes";
const INVALID: &str = "Fișierele încărcate NU au putut fi validate";

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

/// The invoice and its `semnatura_{N}.xml`, downloaded as a client gets them.
async fn signed_invoice(h: &Harness, number: &str) -> (Vec<u8>, Vec<u8>) {
    let token = h.token().await;
    let index = h.upload(&token, CIF, invoice(number, CIF, PARTNER)).await;
    let download_id = attr(&h.status(&token, index).await, "id_descarcare").unwrap();
    let zip = h
        .get(&token, &format!("/test/FCTEL/rest/descarcare?id={download_id}"))
        .await
        .bytes()
        .await
        .unwrap();
    let files = unzip(&zip);
    (files[0].1.clone(), files[1].1.clone())
}

async fn check(h: &Harness, file: Vec<u8>, signature: Vec<u8>) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(file).file_name("f.xml"))
        .part(
            "signature",
            reqwest::multipart::Part::bytes(signature).file_name("s.xml"),
        );
    h.http
        .post(h.url("/api/validate/signature"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// The text between `<tag>` and `</tag>`.
fn element<'a>(xml: &'a str, tag: &str) -> &'a str {
    let start = xml.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
    let end = xml.find(&format!("</{tag}>")).unwrap();
    &xml[start..end]
}

#[tokio::test]
async fn downloads_carry_the_production_form_signature() {
    let h = start();
    let (invoice, signature) = signed_invoice(&h, "SIG-1").await;
    let text = String::from_utf8(signature.clone()).unwrap();
    assert!(text.contains("<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\">"));
    assert!(
        text.contains("<SignatureMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#rsa-sha1\">"),
        "{text}"
    );
    assert!(text.contains("<CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\">"));
    assert!(text.contains("<Reference URI=\"\"><DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\">"));
    let digest = STANDARD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &invoice));
    assert!(text.contains(&format!("<DigestValue>{digest}</DigestValue>")));
    // Base64 values in 76-character lines separated by `&#13;` and a newline.
    for tag in ["SignatureValue", "X509Certificate"] {
        let value = element(&text, tag);
        let lines: Vec<&str> = value.trim_matches('\n').split("&#13;\n").collect();
        assert!(lines.len() > 1, "{tag} is broken into lines: {value:?}");
        assert!(
            lines[..lines.len() - 1].iter().all(|l| l.len() == 76),
            "{tag}: {lines:?}"
        );
        let joined: String = lines.concat();
        assert!(STANDARD.decode(&joined).is_ok(), "{tag} is base64");
    }
    // The SignatureValue is an RSA PKCS#1 v1.5 SHA-1 signature of the canonical SignedInfo,
    // by the certificate the sandbox publishes (checked here independently of the sandbox).
    let signed_info = format!(
        "<SignedInfo xmlns=\"http://www.w3.org/2000/09/xmldsig#\">{}</SignedInfo>",
        element(&text, "SignedInfo")
    );
    let value = STANDARD
        .decode(element(&text, "SignatureValue").replace("&#13;", "").replace('\n', ""))
        .unwrap();
    let public_key = public_key_of_sandbox_certificate();
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        &public_key,
    )
    .verify(signed_info.as_bytes(), &value)
    .expect("rsa-sha1 by the sandbox key");

    let ok: Value = check(&h, invoice.clone(), signature.clone())
        .await
        .json()
        .await
        .unwrap();
    assert!(ok["msg"].as_str().unwrap().starts_with(VALID), "{ok}");
    let mut tampered = invoice;
    tampered.extend_from_slice(b"\n");
    let bad = check(&h, tampered, signature).await;
    assert!(bad.headers().get("x-sandbox-reason").is_none(), "ANAF's answer only");
    let bad: Value = bad.json().await.unwrap();
    assert!(bad["msg"].as_str().unwrap().starts_with(INVALID), "{bad}");
}

/// The RSA public key (PKCS#1 DER) from the published sandbox key pair.
fn public_key_of_sandbox_certificate() -> Vec<u8> {
    use aws_lc_rs::signature::KeyPair;
    signing_key().public_key().as_ref().to_vec()
}

fn signing_key() -> aws_lc_rs::signature::RsaKeyPair {
    let pem = include_str!("../keys/signing-key.pem");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&STANDARD.decode(b64).unwrap()).unwrap()
}

#[tokio::test]
async fn the_signature_check_still_accepts_the_earlier_rsa_sha256_form() {
    let h = start();
    let invoice = invoice("SIG-2", CIF, PARTNER).into_bytes();
    let digest = STANDARD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &invoice));
    let inner = format!(
        "<CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"></CanonicalizationMethod>\
         <SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"></SignatureMethod>\
         <Reference URI=\"\"><DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"></DigestMethod>\
         <DigestValue>{digest}</DigestValue></Reference>"
    );
    let canonical = format!("<SignedInfo xmlns=\"http://www.w3.org/2000/09/xmldsig#\">{inner}</SignedInfo>");
    let key = signing_key();
    let mut value = vec![0u8; key.public_modulus_len()];
    key.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        canonical.as_bytes(),
        &mut value,
    )
    .unwrap();
    let signature = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?><Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\">\
         <SignedInfo>{inner}</SignedInfo><SignatureValue>{}</SignatureValue></Signature>",
        STANDARD.encode(&value)
    );
    let ok: Value = check(&h, invoice.clone(), signature.clone().into_bytes())
        .await
        .json()
        .await
        .unwrap();
    assert!(ok["msg"].as_str().unwrap().starts_with(VALID), "{ok}");
    let other = self::invoice("SIG-3", CIF, PARTNER).into_bytes();
    let bad: Value = check(&h, other, signature.into_bytes()).await.json().await.unwrap();
    assert!(bad["msg"].as_str().unwrap().starts_with(INVALID), "{bad}");
}
