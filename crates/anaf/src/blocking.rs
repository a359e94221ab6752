//! The same operations without `async`, for programs (and bindings) that call from ordinary
//! threads. They run on one shared runtime; calling them from inside an async runtime is
//! refused with an error instead of deadlocking or panicking.

use std::sync::OnceLock;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::efactura::{
    Archive, DocumentType, Message, MessageFilter, MessagePage, PdfOutcome, SignatureVerdict, Submission,
    UploadOptions, UploadReceipt, UploadState, ValidationReport, WaitOptions,
};
use crate::error::Error;
use crate::etransport::{InfoFilter, SchemaVersion, TransportReceipt, TransportRecord, TransportState};
use crate::login::LoginOptions;
use crate::oauth::{AuthorizationRequest, Revocation};
use crate::tokens::TokenSet;

/// The runtime shared by every blocking call (and by bindings): two worker threads are
/// plenty for I/O-bound work.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("anaf-runtime")
            .enable_all()
            .build()
            .expect("the anaf runtime starts")
    })
}

fn block_on<T>(future: impl std::future::Future<Output = Result<T, Error>>) -> Result<T, Error> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::internal(
            "the blocking API was called from inside an async runtime; use the async API there",
        ));
    }
    runtime().block_on(future)
}

/// A blocking [`crate::Client`].
#[derive(Clone, Debug)]
pub struct Client {
    inner: crate::Client,
}

impl Client {
    pub fn new(client: crate::Client) -> Client {
        Client { inner: client }
    }

    /// The async client behind this one.
    pub fn as_async(&self) -> &crate::Client {
        &self.inner
    }

    pub fn oauth(&self) -> OAuth<'_> {
        OAuth {
            inner: self.inner.oauth(),
        }
    }

    pub fn efactura(&self) -> EFactura<'_> {
        EFactura {
            inner: self.inner.efactura(),
        }
    }

    pub fn etransport(&self) -> ETransport<'_> {
        ETransport {
            inner: self.inner.etransport(),
        }
    }

    pub fn hello(&self, name: &str) -> Result<String, Error> {
        block_on(self.inner.hello(name))
    }
}

impl crate::ClientBuilder {
    /// Builds a blocking client.
    pub fn build_blocking(self) -> Result<Client, Error> {
        self.build().map(Client::new)
    }
}

/// Blocking [`crate::OAuth`].
#[derive(Clone, Copy, Debug)]
pub struct OAuth<'a> {
    inner: crate::OAuth<'a>,
}

impl OAuth<'_> {
    pub fn authorization_url(&self, state: Option<&str>) -> Result<AuthorizationRequest, Error> {
        self.inner.authorization_url(state)
    }

    pub fn exchange_code(&self, code: &str) -> Result<TokenSet, Error> {
        block_on(self.inner.exchange_code(code))
    }

    pub fn complete_authorization(&self, redirected_url: &str, expected_state: &str) -> Result<TokenSet, Error> {
        block_on(self.inner.complete_authorization(redirected_url, expected_state))
    }

    pub fn login_interactive(&self, options: LoginOptions) -> Result<TokenSet, Error> {
        block_on(self.inner.login_interactive(options))
    }

    pub fn refresh(&self) -> Result<TokenSet, Error> {
        block_on(self.inner.refresh())
    }

    pub fn revoke(&self) -> Result<Revocation, Error> {
        block_on(self.inner.revoke())
    }

    pub fn tokens(&self) -> Result<Option<TokenSet>, Error> {
        self.inner.tokens()
    }

    pub fn set_tokens(&self, tokens: TokenSet) -> Result<(), Error> {
        self.inner.set_tokens(tokens)
    }

    pub fn clear_tokens(&self) -> Result<(), Error> {
        self.inner.clear_tokens()
    }
}

/// Blocking [`crate::efactura::EFactura`].
#[derive(Clone, Copy, Debug)]
pub struct EFactura<'a> {
    inner: crate::efactura::EFactura<'a>,
}

impl EFactura<'_> {
    pub fn upload(&self, xml: impl Into<Bytes>, cif: &str, options: UploadOptions) -> Result<UploadReceipt, Error> {
        block_on(self.inner.upload(xml, cif, options))
    }

    pub fn status(&self, upload_id: u64) -> Result<UploadState, Error> {
        block_on(self.inner.status(upload_id))
    }

    pub fn upload_and_wait(
        &self,
        xml: impl Into<Bytes>,
        cif: &str,
        options: UploadOptions,
        wait: WaitOptions,
    ) -> Result<Submission, Error> {
        block_on(self.inner.upload_and_wait(xml, cif, options, wait))
    }

    pub fn download(&self, download_id: u64) -> Result<Archive, Error> {
        block_on(self.inner.download(download_id))
    }

    pub fn list_messages(&self, cif: &str, days: u32, filter: Option<MessageFilter>) -> Result<Vec<Message>, Error> {
        block_on(self.inner.list_messages(cif, days, filter))
    }

    pub fn list_messages_page(
        &self,
        cif: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        page: u32,
        filter: Option<MessageFilter>,
    ) -> Result<MessagePage, Error> {
        block_on(self.inner.list_messages_page(cif, start, end, page, filter))
    }

    /// Every message of the interval, as an iterator that fetches pages as it goes.
    pub fn messages(
        &self,
        cif: &str,
        start: DateTime<Utc>,
        end: Option<DateTime<Utc>>,
        filter: Option<MessageFilter>,
    ) -> MessageIter {
        MessageIter {
            stream: self.inner.messages(cif, start, end, filter),
            done: false,
        }
    }

    pub fn validate(&self, xml: impl Into<Bytes>, kind: DocumentType) -> Result<ValidationReport, Error> {
        block_on(self.inner.validate(xml, kind))
    }

    pub fn to_pdf(&self, xml: impl Into<Bytes>, kind: DocumentType, validate: bool) -> Result<PdfOutcome, Error> {
        block_on(self.inner.to_pdf(xml, kind, validate))
    }

    pub fn verify_signature(
        &self,
        invoice_xml: impl Into<Bytes>,
        signature_xml: impl Into<Bytes>,
    ) -> Result<SignatureVerdict, Error> {
        block_on(self.inner.verify_signature(invoice_xml, signature_xml))
    }
}

/// Blocking iteration over [`crate::efactura::MessageStream`]; stops after the first error.
#[derive(Debug)]
pub struct MessageIter {
    stream: crate::efactura::MessageStream,
    done: bool,
}

impl Iterator for MessageIter {
    type Item = Result<Message, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match block_on(self.stream.next()) {
            Ok(Some(message)) => Some(Ok(message)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Blocking [`crate::etransport::ETransport`].
#[derive(Clone, Copy, Debug)]
pub struct ETransport<'a> {
    inner: crate::etransport::ETransport<'a>,
}

impl ETransport<'_> {
    pub fn upload(&self, xml: impl Into<Bytes>, cif: &str, version: SchemaVersion) -> Result<TransportReceipt, Error> {
        block_on(self.inner.upload(xml, cif, version))
    }

    pub fn status(&self, upload_id: u64) -> Result<TransportState, Error> {
        block_on(self.inner.status(upload_id))
    }

    pub fn list(&self, cif: &str, days: u32) -> Result<Vec<TransportRecord>, Error> {
        block_on(self.inner.list(cif, days))
    }

    pub fn info(&self, operator_cif: &str, filter: InfoFilter<'_>) -> Result<Vec<serde_json::Value>, Error> {
        block_on(self.inner.info(operator_cif, filter))
    }
}
