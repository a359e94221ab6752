//! The parsers of ANAF's answers that are not public API, for the fuzz targets in `fuzz/`.
//! Compiled only with the hidden `fuzzing` feature; not a stable interface.

use chrono::{DateTime, Utc};

use crate::efactura::{Message, MessagePage, UploadReceipt, UploadState, ValidationReport};
use crate::{Error, Secret};

/// The answer of `upload` (XML), as the client reads it.
pub fn upload_receipt(status: u16, body: &[u8]) -> Result<UploadReceipt, Error> {
    crate::efactura::upload_receipt(status, body)
}

/// The answer of `stareMesaj` (XML).
pub fn upload_state(status: u16, body: &[u8]) -> Result<UploadState, Error> {
    crate::efactura::upload_state(status, body)
}

/// The answer of `listaMesajeFactura` (JSON).
pub fn message_list(body: &[u8]) -> Result<Vec<Message>, Error> {
    crate::efactura::message_list(body)
}

/// The answer of `listaMesajePaginatieFactura` (JSON) for page `page`.
pub fn message_page(body: &[u8], page: u32) -> Result<MessagePage, Error> {
    crate::efactura::message_page(body, page)
}

/// The answer of `validare` and of an invalid `transformare` (JSON).
pub fn validation(body: &[u8]) -> Result<ValidationReport, Error> {
    crate::efactura::parse_validation(body)
}

/// One of ANAF's error texts, as an error of its kind.
pub fn anaf_text(text: &str, http_status: u16) -> Error {
    crate::error::from_anaf_text(text, http_status)
}

/// The web firewall's page, recognised in an answer.
pub fn firewall_page(body: &[u8]) -> Option<Error> {
    crate::error::waf_rejection(body)
}

/// The expiry a token's JWT `exp` claim gives.
pub fn jwt_expiry(token: &str) -> Option<DateTime<Utc>> {
    crate::tokens::jwt_expiry(token)
}

/// The code in the address the browser was sent back to after the login.
pub fn code_from_redirect(redirected_url: &str, expected_state: &str) -> Result<Secret, Error> {
    crate::oauth::code_from_redirect(redirected_url, expected_state)
}
