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
    /// The key as PKCS#8 DER.
    pub pkcs8: Vec<u8>,
    /// DER `RSAPublicKey`, as aws-lc-rs verifies with it.
    pub public_key: Vec<u8>,
    /// DER of the self-signed certificate, for `X509Certificate`.
    pub certificate_der: Vec<u8>,
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
        let pkcs8 = pem_body(KEY_PEM);
        let public_key = RsaKeyPair::from_pkcs8(&pkcs8)
            .expect("embedded key is PKCS#8 RSA")
            .public_key()
            .as_ref()
            .to_vec();
        Keys {
            jwt_encoding: jsonwebtoken::EncodingKey::from_rsa_pem(KEY_PEM.as_bytes()).expect("embedded key"),
            pkcs8,
            public_key,
            certificate_der: pem_body(CERT_PEM),
        }
    })
}

impl Keys {
    /// RSA PKCS#1 v1.5 with SHA-1 over `message`: the `rsa-sha1` of ANAF's production
    /// signature files. aws-lc-rs only signs PKCS#1 v1.5 with SHA-256 and larger digests, so
    /// this calls the AWS-LC library under it directly.
    pub fn sign_rsa_sha1(&self, message: &[u8]) -> Vec<u8> {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, message);
        legacy_rsa(&self.pkcs8).sign_sha1_digest(digest.as_ref())
    }
}

/// The sandbox key as an AWS-LC `RSA` object, parsed once and kept for the process.
struct LegacyRsa(*mut aws_lc_sys::RSA);

// SAFETY: the pointer is created once, never freed or changed afterwards, and only used with
// `RSA_size` and `RSA_sign`, which AWS-LC documents as non-mutating and safe to call
// concurrently on one `RSA` (include/openssl/rsa.h, "Signing / Verification").
unsafe impl Send for LegacyRsa {}
unsafe impl Sync for LegacyRsa {}

fn legacy_rsa(pkcs8: &[u8]) -> &'static LegacyRsa {
    static RSA: OnceLock<LegacyRsa> = OnceLock::new();
    RSA.get_or_init(|| {
        let der_len = std::os::raw::c_long::try_from(pkcs8.len()).expect("a small key");
        // SAFETY: `input` points into `pkcs8`, valid for `der_len` bytes during the call, and
        // AWS-LC only reads it. The parsed key is freed once here; the `RSA` taken from it with
        // `get1` holds its own reference, which is kept for the process.
        unsafe {
            let mut input = pkcs8.as_ptr();
            let key = aws_lc_sys::d2i_AutoPrivateKey(std::ptr::null_mut(), &mut input, der_len);
            assert!(!key.is_null(), "the embedded key parses");
            let rsa = aws_lc_sys::EVP_PKEY_get1_RSA(key);
            aws_lc_sys::EVP_PKEY_free(key);
            assert!(!rsa.is_null(), "the embedded key is RSA");
            LegacyRsa(rsa)
        }
    })
}

impl LegacyRsa {
    fn sign_sha1_digest(&self, digest: &[u8]) -> Vec<u8> {
        // SAFETY: `self.0` is a valid RSA private key for the whole process (see above).
        // `RSA_sign` reads `digest` for `digest.len()` bytes and writes at most `RSA_size`
        // bytes into `signature`, which has exactly that length.
        unsafe {
            let mut signature = vec![0u8; aws_lc_sys::RSA_size(self.0) as usize];
            let mut written: std::os::raw::c_uint = 0;
            let ok = aws_lc_sys::RSA_sign(
                aws_lc_sys::NID_sha1,
                digest.as_ptr(),
                digest.len(),
                signature.as_mut_ptr(),
                &mut written,
                self.0,
            );
            assert_eq!(ok, 1, "RSA signing with the embedded key");
            signature.truncate(written as usize);
            signature
        }
    }
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
