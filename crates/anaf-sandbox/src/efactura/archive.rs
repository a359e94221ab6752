//! Download archives: `{N}.xml` plus `semnatura_{N}.xml`, a detached XML signature in the form
//! ANAF's production sends (protocol §3.7): C14N 1.0, `rsa-sha1`, one `Reference URI=""`
//! whose SHA-256 digest is over the exact bytes of `{N}.xml`, and base64 values broken into
//! 76-character lines separated by `&#13;` and a newline (what Java's XML signature library
//! writes). It is signed with the sandbox key, so only the sandbox's signature check accepts it.

use std::io::{Cursor, Write};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Europe::Bucharest;

use crate::keys::{CERT_SUBJECT, keys};

const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const SHA256_URI: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

pub fn sha256_b64(payload: &[u8]) -> String {
    STANDARD.encode(digest(&SHA256, payload))
}

/// Base64 as Java's MIME encoder writes it into a signature: 76-character lines joined by
/// CR LF, the CR escaped as `&#13;` by the XML writer, and the whole value set on lines of its
/// own when it is longer than one line.
fn base64_lines(bytes: &[u8]) -> String {
    let encoded = STANDARD.encode(bytes);
    if encoded.len() <= 76 {
        return encoded;
    }
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|line| std::str::from_utf8(line).expect("base64 is ASCII"))
        .collect();
    format!("\n{}\n", lines.join("&#13;\n"))
}

/// The children of `SignedInfo` for a signature method and a payload.
fn signed_info_content(method: &str, payload: &[u8]) -> String {
    format!(
        "<CanonicalizationMethod Algorithm=\"{C14N}\"></CanonicalizationMethod>\
         <SignatureMethod Algorithm=\"{method}\"></SignatureMethod>\
         <Reference URI=\"\"><DigestMethod Algorithm=\"{SHA256_URI}\"></DigestMethod><DigestValue>{}</DigestValue></Reference>",
        sha256_b64(payload)
    )
}

/// The signature document around a `SignedInfo` content and its signature value.
fn signature_document(inner: &str, value: &[u8]) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?><Signature xmlns=\"{DSIG_NS}\"><SignedInfo>{inner}</SignedInfo>\
         <SignatureValue>{}</SignatureValue><KeyInfo><X509Data><X509SubjectName>{CERT_SUBJECT}</X509SubjectName>\
         <X509Certificate>{}</X509Certificate></X509Data></KeyInfo></Signature>",
        base64_lines(value),
        base64_lines(&keys().certificate_der)
    )
}

/// A detached production-form signature over `payload`. `SignedInfo` is written already in
/// canonical (C14N 1.0) form, so the bytes signed are exactly what a verifier reconstructs.
pub fn sign(payload: &[u8]) -> String {
    let inner = signed_info_content(RSA_SHA1, payload);
    let canonical = format!("<SignedInfo xmlns=\"{DSIG_NS}\">{inner}</SignedInfo>");
    let value = keys().sign_rsa_sha1(canonical.as_bytes());
    signature_document(&inner, &value)
}

/// Checks that `signature_xml` signs exactly `payload` with the sandbox key. `Err` says why
/// not (for the sandbox's diagnostic header; ANAF's answer only says valid or not).
pub fn verify(payload: &[u8], signature_xml: &[u8]) -> Result<(), String> {
    let doc = crate::xml::parse(signature_xml).map_err(|e| format!("signature is not XML: {}", e.message))?;
    let root = doc.root();
    if root.name() != "Signature" || root.namespace() != Some(DSIG_NS) {
        return Err("the signature file's root is not an XMLDSig Signature".into());
    }
    let signed_info = root.child("SignedInfo").ok_or("no SignedInfo")?;
    let claimed_digest = signed_info
        .text_at(&["Reference", "DigestValue"])
        .ok_or("no DigestValue")?;
    if claimed_digest != sha256_b64(payload) {
        return Err("the invoice's SHA-256 does not match the signed digest".into());
    }
    let algorithm: &dyn signature::VerificationAlgorithm =
        match signed_info.child("SignatureMethod").and_then(|m| m.attr("Algorithm")) {
            Some(RSA_SHA256) => &signature::RSA_PKCS1_2048_8192_SHA256,
            Some(RSA_SHA1) => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            other => return Err(format!("unsupported signature method {other:?}")),
        };
    let value: String = root
        .text_at(&["SignatureValue"])
        .ok_or("no SignatureValue")?
        .split_whitespace()
        .collect();
    let value = value.replace("&#13;", "");
    let value = STANDARD.decode(value).map_err(|_| "SignatureValue is not base64")?;
    let canonical = canonical_signed_info(signature_xml).ok_or("cannot locate SignedInfo")?;
    UnparsedPublicKey::new(algorithm, &keys().public_key)
        .verify(&canonical, &value)
        .map_err(|_| "the signature was not made by the sandbox key over this SignedInfo".to_owned())
}

/// The `SignedInfo` element's bytes as C14N sees them when it is signed on its own: the raw
/// text (whitespace included) with the in-scope XMLDSig namespace declared on it.
fn canonical_signed_info(document: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(document).ok()?;
    let (start, prefix) = ["<SignedInfo", "<ds:SignedInfo"].iter().find_map(|tag| {
        text.match_indices(tag)
            .find(|(i, _)| {
                matches!(
                    text.as_bytes().get(i + tag.len()),
                    Some(b'>' | b' ' | b'\n' | b'\t' | b'\r')
                )
            })
            .map(|(i, _)| (i, if tag.starts_with("<ds:") { "ds:" } else { "" }))
    })?;
    let close = format!("</{prefix}SignedInfo>");
    let end = text[start..].find(&close)? + start + close.len();
    let element = &text[start..end];
    let name_end = 1 + prefix.len() + "SignedInfo".len();
    let declaration = if prefix.is_empty() {
        format!(" xmlns=\"{DSIG_NS}\"")
    } else {
        format!(" xmlns:ds=\"{DSIG_NS}\"")
    };
    let mut canonical = String::with_capacity(element.len() + declaration.len());
    canonical.push_str(&element[..name_end]);
    if !element[name_end..element.find('>')?].contains("xmlns") {
        canonical.push_str(&declaration);
    }
    canonical.push_str(&element[name_end..]);
    Some(canonical.into_bytes())
}

/// The ZIP ANAF serves: the document and its signature, deflated, timestamped in Bucharest.
pub fn build_zip(index: u64, document: &[u8], signature: &[u8], at: DateTime<Utc>) -> Vec<u8> {
    let local = at.with_timezone(&Bucharest);
    let modified = zip::DateTime::from_date_and_time(
        local.year().clamp(1980, 2107) as u16,
        local.month() as u8,
        local.day() as u8,
        local.hour() as u8,
        local.minute() as u8,
        local.second() as u8,
    )
    .unwrap_or_default();
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(modified);
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::with_capacity(document.len() / 3 + signature.len())));
    for (name, bytes) in [
        (format!("{index}.xml"), document),
        (format!("semnatura_{index}.xml"), signature),
    ] {
        writer.start_file(name, options).expect("in-memory zip");
        writer.write_all(bytes).expect("in-memory zip");
    }
    writer.finish().expect("in-memory zip").into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The form the sandbox signed with before it followed production: `rsa-sha256`, base64 on
    /// one line.
    fn sign_rsa_sha256(payload: &[u8]) -> String {
        let inner = signed_info_content(RSA_SHA256, payload);
        let canonical = format!("<SignedInfo xmlns=\"{DSIG_NS}\">{inner}</SignedInfo>");
        let signer = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&keys().pkcs8).unwrap();
        let mut value = vec![0u8; signer.public_modulus_len()];
        signer
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                canonical.as_bytes(),
                &mut value,
            )
            .unwrap();
        signature_document(&inner, &value)
            .replace("&#13;\n", "")
            .replace(">\n", ">")
            .replace("\n<", "<")
    }

    #[test]
    fn production_signatures_verify_and_detect_tampering() {
        let invoice = b"<Invoice>1</Invoice>";
        let signature = sign(invoice);
        assert!(signature.contains(&format!("<SignatureMethod Algorithm=\"{RSA_SHA1}\">")));
        assert!(signature.contains("&#13;\n"), "base64 lines end in &#13;");
        assert_eq!(verify(invoice, signature.as_bytes()), Ok(()));
        assert!(
            verify(b"<Invoice>2</Invoice>", signature.as_bytes())
                .unwrap_err()
                .contains("SHA-256")
        );
        let forged = signature.replacen("<SignatureValue>\n", "<SignatureValue>\nAAAA", 1);
        assert!(verify(invoice, forged.as_bytes()).is_err());
    }

    #[test]
    fn the_earlier_rsa_sha256_form_still_verifies() {
        let invoice = b"<Invoice>1</Invoice>";
        let signature = sign_rsa_sha256(invoice);
        assert!(!signature.contains("&#13;"));
        assert_eq!(verify(invoice, signature.as_bytes()), Ok(()));
        assert!(verify(b"<Invoice>2</Invoice>", signature.as_bytes()).is_err());
    }

    #[test]
    fn base64_values_are_broken_into_java_mime_lines() {
        assert_eq!(base64_lines(b"abc"), "YWJj");
        let long = base64_lines(&[7u8; 100]);
        let lines: Vec<&str> = long.trim_matches('\n').split("&#13;\n").collect();
        assert_eq!(lines.iter().map(|l| l.len()).collect::<Vec<_>>(), vec![76, 60]);
        assert!(long.starts_with('\n') && long.ends_with('\n'));
    }
}
