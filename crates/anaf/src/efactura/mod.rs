//! RO e-Factura: upload invoices, follow their state, list and download messages, validate,
//! render PDFs and check signatures.

mod archive;
mod model;
#[cfg(feature = "state")]
mod submit;
mod summary;
mod sync;

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;

pub use archive::{Archive, ErrorReport, MAX_ENTRY_BYTES};
pub use model::{
    DocumentType, Message, MessageFilter, MessageKind, MessagePage, PdfOutcome, SignatureVerdict, Standard, Submission,
    UploadOptions, UploadReceipt, UploadState, ValidationReport,
};
pub use summary::{InvoiceSummary, PartySummary};
pub use sync::{SyncFailure, SyncOptions, SyncProgress, SyncProgressHook, SyncReport};

pub(crate) use model::bucharest_time;

use crate::cif::Cif;
use crate::client::Client;
use crate::error::{Error, ErrorKind, from_anaf_text};
use crate::quota::Counter;
use crate::transport::{Call, Reply};

/// ANAF's page size for the paginated list.
pub const PAGE_SIZE: u32 = 500;
/// How long ANAF keeps messages.
pub const RETENTION: Duration = Duration::from_secs(60 * 86_400);

/// The e-Factura operations of a [`Client`]. Owns a clone of the client (cheap).
#[derive(Clone, Debug)]
pub struct EFactura {
    pub(crate) client: Client,
}

/// How `upload_and_wait` polls: `WaitOptions::default()` and the setters. Any duration is
/// accepted (`Duration::MAX` means "no limit").
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitOptions {
    /// Before the first poll (ANAF usually needs a few seconds).
    pub first_poll: Duration,
    /// Polls back off exponentially up to this interval.
    pub max_interval: Duration,
    /// Give up (returning `InProgress`) after this long.
    pub timeout: Duration,
    /// At most this many polls; `None` uses the client's budget (default 20 of ANAF's 100
    /// per message per day).
    pub max_polls: Option<u32>,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            first_poll: Duration::from_secs(2),
            max_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(600),
            max_polls: None,
        }
    }
}

impl WaitOptions {
    pub fn first_poll(mut self, wait: Duration) -> Self {
        self.first_poll = wait;
        self
    }

    pub fn max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn max_polls(mut self, polls: Option<u32>) -> Self {
        self.max_polls = polls;
        self
    }
}

/// `now + wait`, or a year from now when `wait` runs past what the clock can hold.
fn after(now: tokio::time::Instant, wait: Duration) -> tokio::time::Instant {
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 86_400))
}

#[derive(Deserialize)]
struct RawMessage {
    #[serde(default)]
    data_creare: String,
    #[serde(default)]
    cif: String,
    #[serde(default)]
    id_solicitare: String,
    #[serde(default)]
    detalii: String,
    #[serde(default)]
    tip: String,
    #[serde(default)]
    id: String,
}

impl RawMessage {
    fn into_message(self) -> Result<Message, Error> {
        let number = |field: &str, value: &str| {
            value.trim().parse::<u64>().map_err(|_| {
                Error::new(
                    ErrorKind::UnexpectedResponse,
                    format!("a listed message has a non-numeric {field}"),
                )
                .with_anaf_message(value.to_owned())
            })
        };
        Ok(Message {
            id: number("id", &self.id)?,
            upload_id: number("id_solicitare", &self.id_solicitare)?,
            cif: self.cif,
            kind: MessageKind::from_wire(&self.tip),
            created_at: model::bucharest_time(&self.data_creare),
            details: self.detalii,
            raw_kind: self.tip,
            raw_created_at: self.data_creare,
        })
    }
}

#[derive(Deserialize)]
struct RawList {
    #[serde(default)]
    mesaje: Option<Vec<RawMessage>>,
    #[serde(default)]
    eroare: Option<String>,
    #[serde(default)]
    numar_total_pagini: Option<u32>,
    #[serde(default)]
    numar_total_inregistrari: Option<u64>,
    #[serde(default)]
    numar_total_inregistrari_per_pagina: Option<u32>,
    #[serde(default)]
    index_pagina_curenta: Option<u32>,
}

/// "Nu exista mesaje ..." is an empty list, not an error.
fn is_no_messages(text: &str) -> bool {
    text.trim_start().starts_with("Nu exista mesaje")
}

fn parse_list(reply_body: &[u8]) -> Result<Option<RawList>, Error> {
    let list: RawList = serde_json::from_slice(reply_body)
        .map_err(|_| Error::unexpected(200, "the message list is not the JSON ANAF documents", reply_body))?;
    match &list.eroare {
        Some(text) if is_no_messages(text) => Ok(None),
        Some(text) => Err(from_anaf_text(text, 200)),
        None => Ok(Some(list)),
    }
}

/// The answer of `listaMesajeFactura`.
pub(crate) fn message_list(reply_body: &[u8]) -> Result<Vec<Message>, Error> {
    match parse_list(reply_body)? {
        None => Ok(Vec::new()),
        Some(list) => list
            .mesaje
            .unwrap_or_default()
            .into_iter()
            .map(RawMessage::into_message)
            .collect(),
    }
}

/// The answer of `listaMesajePaginatieFactura` for the `page` asked.
pub(crate) fn message_page(reply_body: &[u8], page: u32) -> Result<MessagePage, Error> {
    let Some(list) = parse_list(reply_body)? else {
        return Ok(MessagePage {
            messages: Vec::new(),
            page,
            total_pages: 0,
            total_messages: 0,
            per_page: PAGE_SIZE,
        });
    };
    Ok(MessagePage {
        messages: list
            .mesaje
            .unwrap_or_default()
            .into_iter()
            .map(RawMessage::into_message)
            .collect::<Result<_, _>>()?,
        page: list.index_pagina_curenta.unwrap_or(page),
        total_pages: list.numar_total_pagini.unwrap_or(0),
        total_messages: list.numar_total_inregistrari.unwrap_or(0),
        per_page: list.numar_total_inregistrari_per_pagina.unwrap_or(PAGE_SIZE),
    })
}

/// The answer of `upload`: the receipt, or ANAF's refusal. Only an explicit refusal (an
/// `Errors` text) proves ANAF did not take the invoice; an answer this client cannot read
/// leaves the outcome unknown.
pub(crate) fn upload_receipt(status: u16, body: &[u8]) -> Result<UploadReceipt, Error> {
    let header = crate::anaf_xml::parse_header(body).map_err(Error::with_outcome_unknown)?;
    if header.attr("ExecutionStatus") == Some("0")
        && let Some(index) = header.attr("index_incarcare").and_then(|v| v.trim().parse().ok())
    {
        return Ok(UploadReceipt {
            upload_id: index,
            response_time: header.attr("dateResponse").unwrap_or_default().to_owned(),
        });
    }
    Err(match header.errors.first() {
        Some(text) => from_anaf_text(text, status),
        None => Error::unexpected(status, "upload answer without index or error", body).with_outcome_unknown(),
    })
}

/// The answer of `stareMesaj`.
pub(crate) fn upload_state(status: u16, body: &[u8]) -> Result<UploadState, Error> {
    let header = crate::anaf_xml::parse_header(body)?;
    if let Some(text) = header.errors.first() {
        return Err(from_anaf_text(text, status));
    }
    let download_id = || match header.attr("id_descarcare") {
        Some(id) => id.trim().parse().map_err(|_| {
            Error::new(
                ErrorKind::UnexpectedResponse,
                "ANAF reported a final state whose id_descarcare is not a number",
            )
            .with_status(status)
            .with_anaf_message(format!("id_descarcare=\"{}\"", crate::error::excerpt(id.as_bytes())))
        }),
        None => Err(Error::unexpected(status, "a final state without id_descarcare", body)),
    };
    match header.attr("stare").map(str::trim) {
        Some("in prelucrare") => Ok(UploadState::InProgress),
        Some("ok") => Ok(UploadState::Ok {
            download_id: download_id()?,
        }),
        Some("nok") => Ok(UploadState::Nok {
            download_id: download_id()?,
        }),
        Some("XML cu erori nepreluat de sistem") => Ok(UploadState::RejectedXml),
        _ => Err(Error::unexpected(status, "unknown stare", body)),
    }
}

fn millis(at: DateTime<Utc>) -> String {
    at.timestamp_millis().to_string()
}

impl EFactura {
    fn url(&self, endpoint: &str) -> url::Url {
        self.client.api_url(&format!(
            "{}/FCTEL/rest/{endpoint}",
            self.client.environment().segment()
        ))
    }

    /// Uploads an invoice (or credit note, CII invoice, RASP message) for `cif`. Never
    /// retried: if the answer is lost in transit the error says
    /// [`Error::upload_outcome_unknown`], and the invoice may already be at ANAF.
    pub async fn upload(
        &self,
        xml: impl Into<Bytes>,
        cif: &str,
        options: UploadOptions,
    ) -> Result<UploadReceipt, Error> {
        let cif = Cif::parse(cif)?;
        let xml = xml.into();
        if xml.is_empty() {
            return Err(Error::invalid_input("xml", "the document is empty"));
        }
        let mut url = self.url(if options.b2c { "uploadb2c" } else { "upload" });
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("standard", options.standard.wire())
                .append_pair("cif", cif.as_str());
            for (flag, name) in [
                (options.external, "extern"),
                (options.self_billed, "autofactura"),
                (options.enforcement, "executare"),
            ] {
                if flag {
                    query.append_pair(name, "DA");
                }
            }
        }
        let mut call = Call::post("efactura.upload", url, xml, "application/xml").once();
        // ANAF limits RASP messages per company; invoice uploads are not limited.
        if options.standard == Standard::Rasp {
            call = call.counted(Counter::UploadRasp, cif.as_str());
        }
        let receipt = self
            .client
            .fetch(call, |reply| upload_receipt(reply.status, &reply.body))
            .await?;
        crate::cancel::note_upload_accepted(receipt.upload_id);
        Ok(receipt)
    }

    /// `stareMesaj`: the state of an upload.
    pub async fn status(&self, upload_id: u64) -> Result<UploadState, Error> {
        let mut url = self.url("stareMesaj");
        url.query_pairs_mut()
            .append_pair("id_incarcare", &upload_id.to_string());
        let call = Call::get("efactura.status", url).counted(Counter::Status, upload_id);
        self.client
            .fetch(call, |reply| upload_state(reply.status, &reply.body))
            .await
    }

    /// Uploads, then polls `status` with exponential backoff until the state is final, the
    /// wait times out, or the poll budget (kept well under ANAF's 100 per message per day)
    /// is spent. A state still in progress is returned, not raised.
    pub async fn upload_and_wait(
        &self,
        xml: impl Into<Bytes>,
        cif: &str,
        options: UploadOptions,
        wait: WaitOptions,
    ) -> Result<Submission, Error> {
        let receipt = self.upload(xml, cif, options).await?;
        let budget = wait.max_polls.unwrap_or(self.client.inner.status_poll_budget).max(1);
        // A caller's "no timeout" (Duration::MAX) must not overflow the clock.
        let deadline = after(tokio::time::Instant::now(), wait.timeout);
        let mut interval = wait.first_poll;
        let mut polls = 0;
        loop {
            tokio::time::sleep_until(after(tokio::time::Instant::now(), interval).min(deadline)).await;
            // The upload succeeded: a failed poll must not lose its id.
            let state = self
                .status(receipt.upload_id)
                .await
                .map_err(|e| e.with_upload_id(receipt.upload_id))?;
            polls += 1;
            tracing::debug!(upload_id = receipt.upload_id, polls, state = state.code(), "polled");
            if state.is_final() || polls >= budget || tokio::time::Instant::now() >= deadline {
                return Ok(Submission { receipt, state, polls });
            }
            interval = interval
                .saturating_mul(2)
                .min(wait.max_interval)
                .max(Duration::from_millis(100));
        }
    }

    /// `descarcare`: the answer archive of a message (download id from `status` or a list).
    pub async fn download(&self, download_id: u64) -> Result<Archive, Error> {
        let mut url = self.url("descarcare");
        url.query_pairs_mut().append_pair("id", &download_id.to_string());
        let call = Call::get("efactura.download", url).counted(Counter::Download, download_id);
        self.client.fetch(call, download_answer).await
    }

    /// `listaMesajeFactura`: messages of the last `days` (1 to 60). Empty when there are none.
    /// ANAF refuses lists over 500 messages: use [`EFactura::messages`] for those.
    pub async fn list_messages(
        &self,
        cif: &str,
        days: u32,
        filter: Option<MessageFilter>,
    ) -> Result<Vec<Message>, Error> {
        let cif = Cif::parse(cif)?;
        if !(1..=60).contains(&days) {
            return Err(Error::invalid_input(
                "zile",
                format!("days must be between 1 and 60, not {days}"),
            ));
        }
        let mut url = self.url("listaMesajeFactura");
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("zile", &days.to_string())
                .append_pair("cif", cif.as_str());
            if let Some(filter) = filter {
                query.append_pair("filtru", filter.wire());
            }
        }
        let call = Call::get("efactura.list", url).counted(Counter::List, cif.as_str());
        self.client.fetch(call, |reply| message_list(&reply.body)).await
    }

    /// `listaMesajePaginatieFactura`: one page (1-based) of messages created between `start`
    /// and `end`. An empty interval is an empty page.
    pub async fn list_messages_page(
        &self,
        cif: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        page: u32,
        filter: Option<MessageFilter>,
    ) -> Result<MessagePage, Error> {
        let cif = Cif::parse(cif)?;
        if page == 0 {
            return Err(Error::invalid_input("pagina", "pages are numbered from 1"));
        }
        let mut url = self.url("listaMesajePaginatieFactura");
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("startTime", &millis(start))
                .append_pair("endTime", &millis(end))
                .append_pair("cif", cif.as_str())
                .append_pair("pagina", &page.to_string());
            if let Some(filter) = filter {
                query.append_pair("filtru", filter.wire());
            }
        }
        let call = Call::get("efactura.list_paged", url).counted(Counter::ListPaged, cif.as_str());
        self.client.fetch(call, |reply| message_page(&reply.body, page)).await
    }

    /// Every message between `start` and `end` (default: now), page after page. The window
    /// is clamped to ANAF's 60 days, and the end kept a little behind ANAF's clock (which
    /// refuses an `endTime` in its future) and corrected once from ANAF's own time if needed.
    pub fn messages(
        &self,
        cif: &str,
        start: DateTime<Utc>,
        end: Option<DateTime<Utc>>,
        filter: Option<MessageFilter>,
    ) -> MessageStream {
        MessageStream::new(self.client.clone(), cif, start, end, filter)
    }

    fn public_service_url(&self, path: String) -> url::Url {
        // validare/transformare are public on webservicesp and Bearer-protected on api; the
        // public host needs no token, so that is the one used.
        self.client.public_url(&path)
    }

    /// `validare`: checks a document against ANAF's rules without uploading it.
    pub async fn validate(&self, xml: impl Into<Bytes>, kind: DocumentType) -> Result<ValidationReport, Error> {
        let url = self.public_service_url(format!("prod/FCTEL/rest/validare/{}", kind.wire()));
        let reply = self
            .client
            .send(Call::post("efactura.validate", url, xml.into(), "text/plain").public())
            .await?
            .check()?;
        parse_validation(&reply.body)
    }

    /// `transformare`: the PDF rendering of an invoice; with `validate = false` ANAF renders
    /// without validating (and does not guarantee correctness).
    pub async fn to_pdf(&self, xml: impl Into<Bytes>, kind: DocumentType, validate: bool) -> Result<PdfOutcome, Error> {
        let suffix = if validate { "" } else { "/DA" };
        let url = self.public_service_url(format!("prod/FCTEL/rest/transformare/{}{suffix}", kind.wire()));
        let reply = self
            .client
            .send(Call::post("efactura.to_pdf", url, xml.into(), "text/plain").public())
            .await?
            .check()?;
        if reply.body.starts_with(b"%PDF") {
            return Ok(PdfOutcome::Pdf(reply.body));
        }
        Ok(PdfOutcome::Invalid(parse_validation(&reply.body)?))
    }

    /// ANAF's signature check of an invoice and its `semnatura_*.xml` (both from an archive).
    pub async fn verify_signature(
        &self,
        invoice_xml: impl Into<Bytes>,
        signature_xml: impl Into<Bytes>,
    ) -> Result<SignatureVerdict, Error> {
        let (invoice, signature) = (invoice_xml.into(), signature_xml.into());
        let url = self.client.public_url("api/validate/signature");
        let part = |bytes: &Bytes, name: &'static str| {
            reqwest::multipart::Part::stream_with_length(bytes.clone(), bytes.len() as u64)
                .file_name(name)
                .mime_str("text/xml")
                .expect("a constant, valid MIME type")
        };
        let call = Call::multipart("efactura.verify_signature", url, move || {
            reqwest::multipart::Form::new()
                .part("file", part(&invoice, "factura.xml"))
                .part("signature", part(&signature, "semnatura.xml"))
        })
        .public();
        let reply = self.client.send(call).await?;
        let message = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v.get("msg").and_then(|m| m.as_str()).map(str::to_owned));
        match (reply.status, message) {
            // Decided on ANAF's two wordings only: anything else is not a verdict.
            (200, Some(message)) if message.contains("NU au putut fi validate") => {
                Ok(SignatureVerdict { valid: false, message })
            }
            (200, Some(message)) if message.contains("au fost validate cu succes") => {
                Ok(SignatureVerdict { valid: true, message })
            }
            (400, Some(message)) => Err(Error::invalid_input("xml", "ANAF could not read both files")
                .with_status(400)
                .with_anaf_message(message)),
            _ => Err(reply
                .check()
                .err()
                .unwrap_or_else(|| Error::unexpected(200, "signature verdict", b""))),
        }
    }
}

pub(crate) fn parse_validation(body: &[u8]) -> Result<ValidationReport, Error> {
    #[derive(Deserialize)]
    struct Raw {
        stare: String,
        #[serde(rename = "Messages", default)]
        messages: Vec<RawValidationMessage>,
        #[serde(default)]
        trace_id: Option<String>,
    }
    #[derive(Deserialize)]
    struct RawValidationMessage {
        message: String,
    }
    let raw: Raw =
        serde_json::from_slice(body).map_err(|_| Error::unexpected(200, "validation answer is not JSON", body))?;
    Ok(ValidationReport {
        valid: raw.stare == "ok",
        messages: raw.messages.into_iter().map(|m| m.message).collect(),
        trace_id: raw.trace_id,
    })
}

/// Messages of an interval, fetched page by page as they are consumed.
///
/// Nothing is lost and nothing is repeated. The window is fixed on the first page. ANAF
/// indexes messages late: one indexed while the pages are read pushes the others a place
/// further, so ids are de-duplicated across pages, and if after the last page ANAF counts
/// more messages than were returned (the late one landed on a page already read), the pages
/// are read once more. An empty page in the middle does not end the stream while ANAF's
/// `numar_total_pagini` says more follow. A start older than ANAF's 60 days is clamped to
/// them; when ANAF still refuses it as too old (its clock is ahead), the start moves later by
/// minutes, never a whole day, and [`MessageStream::effective_start`] says where it ended.
pub struct MessageStream {
    client: Client,
    cif: String,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    filter: Option<MessageFilter>,
    next_page: u32,
    total_pages: Option<u32>,
    buffer: VecDeque<Message>,
    seen: HashSet<u64>,
    /// ANAF's count of messages in the window, from the latest page.
    latest_total: u64,
    passes: u32,
    window_fixed: bool,
    skew_corrected: bool,
    start_corrections: u32,
}

impl std::fmt::Debug for MessageStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStream")
            .field("cif", &self.cif)
            .field("start", &self.start)
            .field("end", &self.end)
            .field("next_page", &self.next_page)
            .finish()
    }
}

/// How far behind "now" the interval ends, so a client clock slightly ahead of ANAF's does not
/// ask for the future.
const CLOCK_MARGIN: chrono::Duration = chrono::Duration::seconds(5);
/// How far the start moves each time ANAF says it is older than 60 days, and how often: up to
/// two hours in all (a DST hour, and clocks that differ by an hour).
const START_STEP: chrono::Duration = chrono::Duration::minutes(5);
const MAX_START_CORRECTIONS: u32 = 24;
/// Readings of the pages in all: the first, and one more when ANAF's count grew meanwhile.
const MAX_PASSES: u32 = 2;

impl MessageStream {
    fn new(
        client: Client,
        cif: &str,
        start: DateTime<Utc>,
        end: Option<DateTime<Utc>>,
        filter: Option<MessageFilter>,
    ) -> MessageStream {
        MessageStream {
            client,
            cif: cif.to_owned(),
            start,
            end,
            filter,
            next_page: 1,
            total_pages: None,
            buffer: VecDeque::new(),
            seen: HashSet::new(),
            latest_total: 0,
            passes: 1,
            window_fixed: false,
            skew_corrected: false,
            start_corrections: 0,
        }
    }

    /// The start of the interval actually listed: the one asked for, or later when it was
    /// older than ANAF keeps messages (60 days). Messages before it are beyond ANAF's reach.
    /// Final once the first page is read.
    pub fn effective_start(&self) -> DateTime<Utc> {
        if self.window_fixed {
            self.start
        } else {
            self.start.max(oldest_start(Utc::now()))
        }
    }

    /// The end of the interval (fixed on the first page).
    pub fn effective_end(&self) -> Option<DateTime<Utc>> {
        self.end
    }

    /// The next page, or `None` after the last. A page may be empty (ANAF can return an empty
    /// page before the last one); its messages exclude any already returned.
    pub async fn next_page(&mut self) -> Result<Option<MessagePage>, Error> {
        if self.total_pages.is_some_and(|total| self.next_page > total) {
            if (self.seen.len() as u64) >= self.latest_total || self.passes >= MAX_PASSES {
                return Ok(None);
            }
            // ANAF counts more messages than were returned: one was indexed onto a page
            // already read. Read the pages again; the ones already returned are skipped.
            tracing::debug!(
                counted = self.latest_total,
                returned = self.seen.len(),
                "messages were indexed during the reading; reading the pages again"
            );
            self.passes += 1;
            self.next_page = 1;
            self.total_pages = None;
        }
        let now = Utc::now();
        let end = *self.end.get_or_insert(now - CLOCK_MARGIN);
        if !self.window_fixed {
            self.window_fixed = true;
            self.start = self.start.max(oldest_start(now));
        }
        if end <= self.start {
            self.total_pages = Some(0);
            return Ok(None);
        }
        let mut page = loop {
            let efactura = self.client.efactura();
            match efactura
                .list_messages_page(&self.cif, self.start, end, self.next_page, self.filter)
                .await
            {
                Err(e)
                    if self.next_page == 1
                        && self.start_corrections < MAX_START_CORRECTIONS
                        && e.anaf_message().is_some_and(is_too_old_start) =>
                {
                    // "startTime = ... nu poate fi mai vechi de 60 de zile fata de momentul
                    // requestului": ANAF's clock is ahead, or it counts the 60 days otherwise.
                    self.start_corrections += 1;
                    // ANAF's own clock, when it quotes it, says exactly where its 60 days begin.
                    self.start = e
                        .anaf_message()
                        .and_then(anaf_request_time)
                        .map(oldest_start)
                        .filter(|start| *start > self.start)
                        .unwrap_or(self.start + START_STEP);
                    tracing::debug!(start = %self.start, "ANAF refused the start of the window as too old; moved it later");
                    if end <= self.start {
                        self.total_pages = Some(0);
                        return Ok(None);
                    }
                }
                Err(e) if !self.skew_corrected && e.field() == Some("endTime") => {
                    // "... nu poate in viitor fata de momentul requestului = dd-MM-yyyy
                    // HH:mm:ss": ANAF's clock is behind ours. Move the end behind ANAF's time.
                    let Some(anaf_now) = e.anaf_message().and_then(anaf_request_time) else {
                        return Err(e);
                    };
                    self.skew_corrected = true;
                    self.end = Some(anaf_now - CLOCK_MARGIN);
                    tracing::debug!(
                        skew_ms = (now - anaf_now).num_milliseconds(),
                        "ANAF's clock is behind; end moved"
                    );
                    return Box::pin(self.next_page()).await;
                }
                other => break other?,
            }
        };
        self.total_pages = Some(page.total_pages);
        self.latest_total = page.total_messages;
        self.next_page += 1;
        if page.total_pages == 0 && page.messages.is_empty() {
            // "Nu exista mesaje in intervalul selectat".
            return Ok(None);
        }
        // A message indexed late moves the ones after it a place further: it shows up again
        // at the top of the next page.
        page.messages.retain(|m| self.seen.insert(m.id));
        Ok(Some(page))
    }

    /// The next message, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Message>, Error> {
        loop {
            if let Some(message) = self.buffer.pop_front() {
                return Ok(Some(message));
            }
            match self.next_page().await? {
                Some(page) => self.buffer.extend(page.messages),
                None => return Ok(None),
            }
        }
    }

    /// Reads everything that is left.
    pub async fn collect(mut self) -> Result<Vec<Message>, Error> {
        let mut all = Vec::new();
        while let Some(message) = self.next().await? {
            all.push(message);
        }
        Ok(all)
    }
}

/// ANAF's refusal of a start older than its 60 days (not any other `startTime` error).
fn is_too_old_start(text: &str) -> bool {
    text.contains("startTime") && text.contains("mai vechi de 60 de zile")
}

/// The oldest start ANAF accepts, with slack: 60 calendar days back in Romanian time (a
/// window across a DST change is an hour shorter than 60 x 24 h), plus a minute for the trip
/// and small clock differences (a larger difference is corrected on ANAF's refusal).
fn oldest_start(now: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::TimeZone;
    let local = now.with_timezone(&chrono_tz::Europe::Bucharest).naive_local() - chrono::Duration::days(60);
    let back = chrono_tz::Europe::Bucharest
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now - chrono::Duration::days(60));
    back.max(now - chrono::Duration::days(60)) + chrono::Duration::minutes(1)
}

/// ANAF's clock, from the text it appends to an `endTime` refusal.
fn anaf_request_time(text: &str) -> Option<DateTime<Utc>> {
    let stamp = text
        .rsplit("momentul requestului = ")
        .next()
        .filter(|s| s.len() < text.len())?;
    let naive = chrono::NaiveDateTime::parse_from_str(stamp.trim(), "%d-%m-%Y %H:%M:%S").ok()?;
    use chrono::TimeZone;
    chrono_tz::Europe::Bucharest
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// A `descarcare` answer: the ZIP, or ANAF's JSON `eroare` (sometimes labelled text/plain).
fn download_answer(reply: Reply) -> Result<Archive, Error> {
    if reply.body.starts_with(b"PK\x03\x04") || reply.body.starts_with(b"PK\x05\x06") {
        // A broken archive from ANAF is ANAF's fault, not the caller's input.
        return Archive::from_bytes(reply.body).map_err(|e| {
            Error::new(
                ErrorKind::UnexpectedResponse,
                "ANAF sent an archive this client cannot open",
            )
            .with_status(200)
            .with_source(e)
        });
    }
    // Errors come as JSON `eroare` (sometimes labelled text/plain).
    let text = serde_json::from_slice::<serde_json::Value>(&reply.body)
        .ok()
        .and_then(|v| v.get("eroare").and_then(|e| e.as_str()).map(str::to_owned));
    Err(match text {
        Some(text) => from_anaf_text(&text, reply.status),
        None => Error::unexpected(
            reply.status,
            "download answer is neither a ZIP nor an error",
            &reply.body,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anaf_time_is_read_from_the_future_end_refusal() {
        let text =
            "endTime = 30-07-2026 15:15:28 nu poate in viitor fata de momentul requestului = 30-07-2026 15:15:27";
        let t = anaf_request_time(text).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-07-30T12:15:27+00:00");
        assert!(
            anaf_request_time("endTime = 30-07-2026 15:15:28 nu poate in viitor fata de momentul requestului")
                .is_none()
        );
    }

    #[test]
    fn only_the_too_old_refusal_moves_the_start() {
        assert!(is_too_old_start(
            "startTime = 09-07-2022 10:41:11 nu poate fi mai vechi de 60 de zile fata de momentul requestului"
        ));
        assert!(!is_too_old_start(
            "startTime = aaa nu este un numar sau nu are o valoare acceptata de sistem"
        ));
    }
}
