//! The sandbox's readers of what a user's program sends, and its answers as bytes, for the
//! fuzz targets in `fuzz/`. Compiled only with the hidden `fuzzing` feature; not a stable
//! interface.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use axum::response::Response;
use chrono::Utc;

use crate::body::CappedBody;

/// What `validare` concludes about a document sent as `standard` (`FACT1` or `FCN`): the XML
/// read as ANAF's parser reads it, the root checked, the invoice's rules applied. `Err`
/// holds ANAF's messages.
pub fn validate_document(standard: &str, body: &[u8]) -> Result<(), Vec<String>> {
    let body = CappedBody {
        bytes: body.to_vec().into(),
        total: body.len(),
    };
    crate::efactura::check_for_rendering(standard, &body, true).map(|_| ())
}

/// The sandbox's XML reading alone; `Err` holds the SAX-style message ANAF writes.
pub fn parse_xml(body: &[u8]) -> Result<(), String> {
    crate::xml::parse(body).map(|_| ()).map_err(|e| e.sax_text())
}

/// Whether ANAF's firewall would block an upload with this body.
pub fn firewall_triggered(body: &[u8]) -> bool {
    crate::efactura::waf_triggered(body)
}

/// The body of an answer the envelopes built (all in memory: ready at the first poll).
fn bytes_of(response: Response) -> Vec<u8> {
    let mut collect = std::pin::pin!(axum::body::to_bytes(response.into_body(), usize::MAX));
    match collect.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(bytes)) => bytes.to_vec(),
        _ => unreachable!("the envelopes' bodies are in memory"),
    }
}

pub fn upload_ok(index: u64) -> Vec<u8> {
    bytes_of(crate::envelopes::upload_ok(Utc::now(), index))
}

pub fn upload_error(message: &str) -> Vec<u8> {
    bytes_of(crate::envelopes::upload_error(Utc::now(), message))
}

pub fn status_state(stare: &str, download_id: Option<u64>) -> Vec<u8> {
    bytes_of(crate::envelopes::status_state(stare, download_id))
}

pub fn status_error(message: &str) -> Vec<u8> {
    bytes_of(crate::envelopes::status_error(message))
}

pub fn error_document(index: u64, seller_cif: &str, messages: &[String]) -> Vec<u8> {
    crate::envelopes::error_document(index, seller_cif, messages).into_bytes()
}

pub fn eroare(message: &str, titlu: &str) -> Vec<u8> {
    bytes_of(crate::envelopes::eroare(message, titlu))
}

pub fn validation_report(messages: &[String]) -> Vec<u8> {
    bytes_of(crate::envelopes::validation_report(messages))
}

pub fn waf_page(support_id: &str) -> Vec<u8> {
    bytes_of(crate::envelopes::waf_page(support_id))
}
