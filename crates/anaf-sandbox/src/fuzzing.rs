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

/// The sandbox's routes served in memory (no socket): any request a program could send, as
/// the server's handlers read it.
pub struct Routes {
    router: axum::Router,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Routes")
    }
}

impl Routes {
    /// The routes of `sandbox` (its state, applications and identities).
    pub fn new(sandbox: &crate::Sandbox) -> Routes {
        Routes {
            router: crate::router::build(sandbox.shared.clone()),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime"),
        }
    }

    /// Sends one request; the answer's status and body. A content type that cannot be a
    /// header is left out.
    pub fn send(&self, method: &str, path_and_query: &str, content_type: &[u8], body: Vec<u8>) -> (u16, Vec<u8>) {
        use tower::ServiceExt;
        let mut request = axum::http::Request::builder().method(method).uri(path_and_query);
        if let Ok(value) = axum::http::HeaderValue::from_bytes(content_type) {
            request = request.header(axum::http::header::CONTENT_TYPE, value);
        }
        let Ok(request) = request.body(axum::body::Body::from(body)) else {
            return (0, Vec::new());
        };
        self.runtime.block_on(async {
            let response = self.router.clone().oneshot(request).await.expect("infallible");
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .map(|b| b.to_vec())
                .unwrap_or_default();
            (status, body)
        })
    }
}
