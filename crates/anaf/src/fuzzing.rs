//! The parsers of ANAF's answers that are not public API, for the fuzz targets in `fuzz/`.
//! Compiled only with the hidden `fuzzing` feature; not a stable interface.

use chrono::{DateTime, Utc};
use oauth2::basic::{BasicErrorResponse, BasicTokenResponse};
use serde_json::Value;

use crate::efactura::{Message, MessagePage, UploadReceipt, UploadState, ValidationReport};
use crate::etransport::{TransportReceipt, TransportRecord, TransportState};
use crate::public::{RegisterLookup, TaxpayerLookup};

use crate::{Error, Secret, TokenSet};

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

/// The answer of an e-Transport `upload` (JSON).
pub fn transport_receipt(status: u16, body: &[u8]) -> Result<TransportReceipt, Error> {
    crate::etransport::receipt(status, body)
}

/// The answer of an e-Transport `stareMesaj` (JSON).
pub fn transport_state(status: u16, body: &[u8]) -> Result<TransportState, Error> {
    crate::etransport::state(status, body)
}

/// The answer of the e-Transport `lista` (JSON).
pub fn transport_list(status: u16, body: &[u8]) -> Result<Vec<TransportRecord>, Error> {
    crate::etransport::records(status, body)
}

/// The answer of the e-Transport `info` (JSON).
pub fn transport_info(status: u16, body: &[u8]) -> Result<Vec<Value>, Error> {
    crate::etransport::info_records(status, body)
}

/// One answer of the VAT registry (JSON).
pub fn vat_registry(status: u16, body: &[u8]) -> Result<TaxpayerLookup, Error> {
    crate::public::taxpayers(status, body)
}

/// One answer of the RO e-Factura register (JSON).
pub fn efactura_register(status: u16, body: &[u8]) -> Result<RegisterLookup, Error> {
    crate::public::register_entries(status, body)
}

/// The token endpoint's answer: read as `oauth2` reads it (its response types, from JSON; an
/// error body for any status but 200), then turned into tokens or an error as the client does.
pub fn token_answer(status: u16, body: &[u8]) -> Result<TokenSet, Error> {
    if status != 200 {
        return Err(match serde_json::from_slice::<BasicErrorResponse>(body) {
            Ok(response) => crate::oauth::server_error(&response, status),
            Err(_) => crate::oauth::unparsable_token_answer(Some(status), Some(crate::error::excerpt(body))),
        });
    }
    match serde_json::from_slice::<BasicTokenResponse>(body) {
        Ok(response) => Ok(crate::oauth::token_set(&response, None)),
        Err(_) => Err(crate::oauth::unparsable_token_answer(Some(status), None)),
    }
}
