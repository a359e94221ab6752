//! The sandbox's signing key: signs JWT access tokens (RS512) and the `semnatura_{N}.xml`
//! files in download ZIPs. It is a fixed, published test key (generated for this project,
//! 2048-bit RSA) so that every sandbox start is fast and reproducible; nothing it signs is
//! worth anything outside the sandbox.

use std::sync::OnceLock;

use aws_lc_rs::signature::{KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const KEY_PEM: &str = include_str!("../keys/signing-key.pem");
const CERT_PEM: &str = include_str!("../keys/signing-cert.pem");

pub const CERT_SUBJECT: &str = "CN=ANAF SANDBOX (not a real ANAF key),O=anaf-sandbox,C=RO";

pub(crate) struct Keys {
    pub jwt_encoding: jsonwebtoken::EncodingKey,
    pub signer: RsaKeyPair,
    /// DER `RSAPublicKey`, as aws-lc-rs verifies with it.
    pub public_key: Vec<u8>,
    /// Base64 DER of the self-signed certificate, for `X509Certificate`.
    pub certificate_b64: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys { .. }")
    }
}

fn pem_body(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(b64).expect("embedded PEM is valid base64")
}

pub(crate) fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let signer = RsaKeyPair::from_pkcs8(&pem_body(KEY_PEM)).expect("embedded key is PKCS#8 RSA");
        let public_key = signer.public_key().as_ref().to_vec();
        Keys {
            jwt_encoding: jsonwebtoken::EncodingKey::from_rsa_pem(KEY_PEM.as_bytes()).expect("embedded key"),
            signer,
            public_key,
            certificate_b64: STANDARD.encode(pem_body(CERT_PEM)),
        }
    })
}

/// The certificate that verifies sandbox signatures and tokens, PEM-encoded.
pub fn certificate_pem() -> &'static str {
    CERT_PEM
}

/// Random bytes as lower-case hex (client IDs, secrets, codes, opaque tokens).
pub(crate) fn random_hex(bytes: usize) -> String {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut buf = vec![0u8; bytes];
    SystemRandom::new().fill(&mut buf).expect("system randomness");
    hex::encode(buf)
}
