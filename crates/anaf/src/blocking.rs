//! The same operations without `async`, for programs (and bindings) that call from ordinary
//! threads. They run on the shared runtime of [`crate::runtime`]; calling them from inside an
//! async runtime, or from inside an `anaf` callback, is refused with an
//! [`crate::ErrorKind::InvalidInput`] error instead of deadlocking.

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};

use crate::efactura::{
    Archive, DocumentType, Message, MessageFilter, MessagePage, PdfOutcome, SignatureVerdict, Submission,
    UploadOptions, UploadReceipt, UploadState, ValidationReport, WaitOptions,
};
use crate::error::Error;
use crate::etransport::{InfoFilter, SchemaVersion, TransportReceipt, TransportRecord, TransportState};
#[cfg(feature = "desktop-login")]
use crate::login::LoginOptions;
use crate::oauth::{AuthorizationRequest, Revocation};
use crate::public::{RegisterLookup, TaxpayerLookup};
use crate::runtime::block_on;
use crate::tokens::{TokenSet, TokenStatus};

/// A blocking [`crate::Client`]. Cheap to clone; clones share everything.
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

    pub fn oauth(&self) -> OAuth {
        OAuth {
            inner: self.inner.oauth(),
        }
    }

    pub fn efactura(&self) -> EFactura {
        EFactura {
            inner: self.inner.efactura(),
        }
    }

    pub fn etransport(&self) -> ETransport {
        ETransport {
            inner: self.inner.etransport(),
        }
    }

    pub fn public(&self) -> Public {
        Public {
            inner: self.inner.public(),
        }
    }

    pub fn hello(&self, name: &str) -> Result<String, Error> {
        block_on(self.inner.hello(name))
    }

    pub fn quota_usage(&self) -> Result<Vec<crate::quota::QuotaUsage>, Error> {
        block_on(self.inner.quota_usage())
    }
}

impl crate::ClientBuilder {
    /// Builds a blocking client.
    pub fn build_blocking(self) -> Result<Client, Error> {
        self.build().map(Client::new)
    }
}

/// Blocking [`crate::OAuth`].
#[derive(Clone, Debug)]
pub struct OAuth {
    inner: crate::OAuth,
}

impl OAuth {
    pub fn authorization_url(&self, state: Option<&str>) -> Result<AuthorizationRequest, Error> {
        self.inner.authorization_url(state)
    }

    pub fn exchange_code(&self, code: &str) -> Result<TokenSet, Error> {
        block_on(self.inner.exchange_code(code))
    }

    pub fn complete_authorization(&self, redirected_url: &str, expected_state: &str) -> Result<TokenSet, Error> {
        block_on(self.inner.complete_authorization(redirected_url, expected_state))
    }

    #[cfg(feature = "desktop-login")]
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
        block_on(self.inner.tokens())
    }

    pub fn token_status(&self) -> Result<TokenStatus, Error> {
        block_on(self.inner.token_status())
    }

    pub fn set_tokens(&self, tokens: TokenSet) -> Result<(), Error> {
        block_on(self.inner.set_tokens(tokens))
    }

    pub fn clear_tokens(&self) -> Result<(), Error> {
        block_on(self.inner.clear_tokens())
    }

    pub fn save_tokens(&self) -> Result<(), Error> {
        block_on(self.inner.save_tokens())
    }
}

/// Blocking [`crate::efactura::EFactura`].
#[derive(Clone, Debug)]
pub struct EFactura {
    inner: crate::efactura::EFactura,
}

impl EFactura {
    pub fn upload(&self, xml: impl Into<Bytes>, cif: &str, options: UploadOptions) -> Result<UploadReceipt, Error> {
        block_on(self.inner.upload(xml, cif, options))
    }

    #[cfg(feature = "state")]
    pub fn submit(
        &self,
        xml: impl Into<Bytes>,
        cif: &str,
        options: UploadOptions,
    ) -> Result<crate::state::SubmissionRecord, Error> {
        block_on(self.inner.submit(xml, cif, options))
    }

    #[cfg(feature = "state")]
    pub fn resume_submissions(&self) -> Result<Vec<crate::state::SubmissionRecord>, Error> {
        block_on(self.inner.resume_submissions())
    }

    #[cfg(feature = "state")]
    pub fn submissions(
        &self,
        query: &crate::state::SubmissionQuery,
    ) -> Result<Vec<crate::state::SubmissionRecord>, Error> {
        block_on(self.inner.submissions(query))
    }

    #[cfg(feature = "state")]
    pub fn submission(&self, key: &str) -> Result<Option<crate::state::SubmissionRecord>, Error> {
        block_on(self.inner.submission(key))
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

    /// See [`crate::efactura::EFactura::sync`].
    pub fn sync(
        &self,
        cif: &str,
        folder: impl AsRef<std::path::Path>,
        options: crate::efactura::SyncOptions,
    ) -> Result<crate::efactura::SyncReport, Error> {
        block_on(self.inner.sync(cif, folder, options))
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

impl MessageIter {
    /// The next page (possibly empty while ANAF says more follow), or `None` after the last.
    pub fn next_page(&mut self) -> Result<Option<MessagePage>, Error> {
        block_on(self.stream.next_page())
    }

    /// See [`crate::efactura::MessageStream::effective_start`].
    pub fn effective_start(&self) -> DateTime<Utc> {
        self.stream.effective_start()
    }
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
#[derive(Clone, Debug)]
pub struct ETransport {
    inner: crate::etransport::ETransport,
}

impl ETransport {
    pub fn upload(&self, xml: impl Into<Bytes>, cif: &str, version: SchemaVersion) -> Result<TransportReceipt, Error> {
        block_on(self.inner.upload(xml, cif, version))
    }

    pub fn status(&self, upload_id: u64) -> Result<TransportState, Error> {
        block_on(self.inner.status(upload_id))
    }

    pub fn list(&self, cif: &str, days: u32) -> Result<Vec<TransportRecord>, Error> {
        block_on(self.inner.list(cif, days))
    }

    pub fn info(&self, operator_cif: &str, filter: InfoFilter) -> Result<Vec<serde_json::Value>, Error> {
        block_on(self.inner.info(operator_cif, filter))
    }
}

/// Blocking [`crate::public::Public`].
#[derive(Clone, Debug)]
pub struct Public {
    inner: crate::public::Public,
}

impl Public {
    pub fn lookup_taxpayers<I, S>(&self, cifs: I, date: Option<NaiveDate>) -> Result<TaxpayerLookup, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        block_on(self.inner.lookup_taxpayers(cifs, date))
    }

    pub fn lookup_efactura_register<I, S>(&self, cifs: I, date: Option<NaiveDate>) -> Result<RegisterLookup, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        block_on(self.inner.lookup_efactura_register(cifs, date))
    }
}
