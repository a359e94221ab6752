//! The archive sync: every message of a company that ANAF still keeps (60 days), each
//! downloaded once into a folder laid out for people, resumable after a crash.
//!
//! ```text
//! ROOT/CIF/KIND/YYYY-MM/YYYY-MM-DD_PARTNER_ID/
//!     ID.zip               the archive exactly as ANAF sent it
//!     N.xml                the invoice (or ANAF's error report), N the upload index
//!     semnatura_N.xml      ANAF's signature
//!     N.pdf                ANAF's rendering, when asked for
//!     message.json         the list entry and the invoice's main fields
//! ```
//!
//! KIND is `received`, `sent`, `errors` or `buyer_message`; the date is the message's
//! (`data_creare`, Romanian time); PARTNER the other company's CIF (`anaf` when there is none,
//! as for an error report); ID the download id.
//!
//! A message is archived when its folder is there: it is written under a hidden name, each
//! file flushed to disk, and renamed into place in one step, so a crash leaves either no
//! folder or a whole one. The folder is the checkpoint: a sync skips every message whose
//! folder exists, without downloading it again. With a state database the folder is also
//! recorded (`anaf_archive`), which lets the next sync skip it without opening its ZIP; a
//! folder found without its record (a crash between the two) has its ZIP checked and is
//! recorded. Every list and download is charged to the quota ledger like any other call.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;

use super::{Archive, DocumentType, EFactura, InvoiceSummary, Message, MessageFilter, MessageKind, PdfOutcome};
use crate::cif::Cif;
use crate::error::{Error, ErrorKind, LimitScope};

/// Called as a sync goes: after each page listed and each message settled.
pub type SyncProgressHook = Arc<dyn Fn(&SyncProgress) + Send + Sync>;

/// What [`EFactura::sync`] does beyond its defaults.
#[derive(Clone)]
#[non_exhaustive]
pub struct SyncOptions {
    pub since: Option<DateTime<Utc>>,
    pub filter: Option<MessageFilter>,
    pub pdf: bool,
    pub concurrency: usize,
    pub on_progress: Option<SyncProgressHook>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            since: None,
            filter: None,
            pdf: false,
            concurrency: 4,
            on_progress: None,
        }
    }
}

impl std::fmt::Debug for SyncOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncOptions")
            .field("since", &self.since)
            .field("filter", &self.filter)
            .field("pdf", &self.pdf)
            .field("concurrency", &self.concurrency)
            .field("on_progress", &self.on_progress.is_some())
            .finish()
    }
}

impl SyncOptions {
    pub fn new() -> SyncOptions {
        SyncOptions::default()
    }

    /// Messages from this time on (default: as far back as ANAF keeps them, 60 days).
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    /// Only received invoices, sent ones, error reports or buyer messages (default: all).
    pub fn filter(mut self, filter: MessageFilter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Also ask ANAF for the PDF of each invoice (`transformare`, a public service).
    pub fn pdf(mut self, pdf: bool) -> Self {
        self.pdf = pdf;
        self
    }

    /// Downloads in flight at once (default 4; at least 1).
    pub fn concurrency(mut self, downloads: usize) -> Self {
        self.concurrency = downloads;
        self
    }

    pub fn on_progress(mut self, hook: impl Fn(&SyncProgress) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(Arc::new(hook));
        self
    }
}

/// How far a sync is: counts since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SyncProgress {
    pub cif: String,
    /// Messages listed so far.
    pub listed: u64,
    /// ANAF's count of messages in the window (known after the first page).
    pub total: u64,
    /// Messages downloaded and written by this sync.
    pub archived: u64,
    /// Messages whose folder was already there.
    pub already_archived: u64,
    /// Messages that could not be archived this time (see [`SyncReport::failures`]).
    pub failed: u64,
    /// Bytes of ZIP downloaded.
    pub bytes: u64,
}

/// A message a sync could not archive; the next sync tries it again.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct SyncFailure {
    pub download_id: u64,
    pub upload_id: u64,
    pub error: Error,
}

/// What a sync did.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct SyncReport {
    /// The final counts.
    pub progress: SyncProgress,
    /// The archive's root folder.
    pub folder: String,
    /// The window listed: from (later than asked when ANAF no longer keeps older messages) ...
    pub window_start: DateTime<Utc>,
    /// ... to.
    pub window_end: Option<DateTime<Utc>>,
    pub failures: Vec<SyncFailure>,
}

/// How one message ended.
enum Settled {
    Archived { bytes: u64 },
    AlreadyArchived,
}

impl EFactura {
    /// Archives every message of `cif` that ANAF keeps into `folder` (see the module's
    /// documentation for the layout), downloading only those not archived yet.
    ///
    /// A failure of one message (its download refused or not an archive) is reported in
    /// [`SyncReport::failures`] and the sync goes on; a failure of every call (the login,
    /// the network, ANAF's firewall, a daily limit, cancellation) ends it with that error,
    /// and whatever was archived stays archived: run it again to go on.
    pub async fn sync(&self, cif: &str, folder: impl AsRef<Path>, options: SyncOptions) -> Result<SyncReport, Error> {
        let cif = Cif::parse(cif)?;
        let root = folder.as_ref().to_path_buf();
        let root_display = root.display().to_string();
        let company = root.join(cif.as_str());
        on_disk("create the archive folder", move || std::fs::create_dir_all(company)).await?;

        let since = options.since.unwrap_or(DateTime::<Utc>::MIN_UTC);
        let mut stream = self.messages(cif.as_str(), since, None, options.filter);
        let mut progress = SyncProgress {
            cif: cif.as_str().to_owned(),
            ..SyncProgress::default()
        };
        let mut failures = Vec::new();
        let report = |progress: &SyncProgress| {
            if let Some(hook) = &options.on_progress {
                hook(progress);
            }
        };
        while let Some(page) = stream.next_page().await? {
            progress.listed += page.messages.len() as u64;
            progress.total = progress.total.max(page.total_messages).max(progress.listed);
            report(&progress);
            let mut settling = futures_util::stream::iter(page.messages)
                .map(|message| {
                    let root = root.clone();
                    async move {
                        let settled = self.archive_message(&root, &message, options.pdf).await;
                        (message, settled)
                    }
                })
                .buffer_unordered(options.concurrency.max(1));
            while let Some((message, settled)) = settling.next().await {
                match settled {
                    Ok(Settled::Archived { bytes }) => {
                        progress.archived += 1;
                        progress.bytes += bytes;
                    }
                    Ok(Settled::AlreadyArchived) => progress.already_archived += 1,
                    Err(error) if ends_the_sync(&error) => return Err(error),
                    Err(error) => {
                        tracing::warn!(download_id = message.id, %error, "a message could not be archived");
                        progress.failed += 1;
                        failures.push(SyncFailure {
                            download_id: message.id,
                            upload_id: message.upload_id,
                            error,
                        });
                    }
                }
                report(&progress);
            }
        }
        Ok(SyncReport {
            progress,
            folder: root_display,
            window_start: stream.effective_start(),
            window_end: stream.effective_end(),
            failures,
        })
    }

    async fn archive_message(&self, root: &Path, message: &Message, pdf: bool) -> Result<Settled, Error> {
        let relative = message_folder(message);
        let target = root.join(&relative);
        let relative_text = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        #[cfg(feature = "state")]
        let database = self.client.state_database().ok();
        #[cfg(feature = "state")]
        if let Some(database) = database
            && database.archived_folder(&message.cif, message.id).await?.as_deref() == Some(relative_text.as_str())
            && on_disk("read the archive folder", {
                let target = target.clone();
                move || target.try_exists()
            })
            .await?
        {
            return Ok(Settled::AlreadyArchived);
        }
        // A folder without its record: whole if its ZIP opens (it was renamed into place
        // complete), else made again.
        let zip_path = target.join(format!("{}.zip", message.id));
        let zip = on_disk("read the archive folder", move || match std::fs::read(zip_path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await?;
        if let Some(zip) = zip
            && let Ok(archive) = Archive::from_bytes(zip)
        {
            self.record(message, &relative_text, &archive).await?;
            return Ok(Settled::AlreadyArchived);
        }
        let archive = self.download(message.id).await?;
        let summary = archive.invoice_summary().ok().flatten();
        let rendered = match (pdf, &summary, message.kind) {
            (true, Some(summary), MessageKind::Sent | MessageKind::Received) => {
                self.render_pdf(message, &archive, summary).await?
            }
            _ => None,
        };
        let files = MessageFiles::new(message, &archive, summary.as_ref(), rendered)?;
        let bytes = archive.zip_bytes().len() as u64;
        on_disk("write the message's folder in the archive", move || {
            files.write(&target)
        })
        .await?;
        self.record(message, &relative_text, &archive).await?;
        Ok(Settled::Archived { bytes })
    }

    /// ANAF's PDF of an invoice, or `None` (with a warning) when ANAF would not render it:
    /// the archive is complete without it.
    async fn render_pdf(
        &self,
        message: &Message,
        archive: &Archive,
        summary: &InvoiceSummary,
    ) -> Result<Option<Bytes>, Error> {
        let kind = if summary.syntax == "ubl_credit_note" {
            DocumentType::CreditNote
        } else {
            DocumentType::Invoice
        };
        match self.to_pdf(archive.document()?, kind, false).await {
            Ok(PdfOutcome::Pdf(pdf)) => Ok(Some(pdf)),
            Ok(PdfOutcome::Invalid(report)) => {
                tracing::warn!(
                    download_id = message.id,
                    ?report,
                    "ANAF did not render the invoice as PDF"
                );
                Ok(None)
            }
            Err(error) if ends_the_sync(&error) => Err(error),
            Err(error) => {
                tracing::warn!(download_id = message.id, %error, "ANAF did not render the invoice as PDF");
                Ok(None)
            }
        }
    }

    /// Records the folder in the state database, if the client has one.
    #[allow(unused_variables)]
    async fn record(&self, message: &Message, folder: &str, archive: &Archive) -> Result<(), Error> {
        #[cfg(feature = "state")]
        if let Ok(database) = self.client.state_database() {
            use sha2::Digest;
            let zip = archive.zip_bytes();
            let sha256 = hex::encode(sha2::Sha256::digest(zip));
            database
                .record_archived(&crate::state::archive::ArchivedRow {
                    cif: &message.cif,
                    download_id: message.id,
                    upload_id: message.upload_id,
                    kind: message.kind.code(),
                    partner_cif: message.partner_cif(),
                    created_at: &message.raw_created_at,
                    folder,
                    zip_sha256: &sha256,
                    zip_bytes: zip.len() as u64,
                })
                .await?;
        }
        Ok(())
    }
}

/// Failures that every next message would meet too (the login, the network, ANAF's
/// firewall, a company's daily limit): the sync stops on them. A message's own (its download
/// refused, expired, over its own daily limit, not an archive) only skips it.
fn ends_the_sync(error: &Error) -> bool {
    match error.kind() {
        ErrorKind::NotFound
        | ErrorKind::DownloadExpired
        | ErrorKind::NoCifRight
        | ErrorKind::InvalidInput
        | ErrorKind::UnexpectedResponse => false,
        ErrorKind::DailyLimit | ErrorKind::QuotaExhausted => error.limit_scope() != Some(LimitScope::Message),
        _ => true,
    }
}

/// `CIF/KIND/YYYY-MM/YYYY-MM-DD_PARTNER_ID`, every part made of digits, letters, `-`, `_`.
fn message_folder(message: &Message) -> PathBuf {
    let day = message
        .created_at
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "undated".into());
    let month = day
        .get(..7)
        .filter(|_| message.created_at.is_some())
        .unwrap_or("undated");
    let partner = message.partner_cif().unwrap_or("anaf");
    [
        safe_name(&message.cif),
        message.kind.code().to_owned(),
        month.to_owned(),
        format!("{day}_{}_{}", safe_name(partner), message.id),
    ]
    .iter()
    .collect()
}

/// Only what is safe in a file name on every system (ANAF's texts reach here).
fn safe_name(text: &str) -> String {
    let name: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(40)
        .collect();
    if name.is_empty() { "unknown".into() } else { name }
}

/// An entry name from the ZIP as a file name, if it is a plain one (`5001130147.xml`), else
/// `fallback`: ANAF's archive must not choose where files go.
fn entry_file_name(name: &str, fallback: &str) -> String {
    let plain = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain { name.to_owned() } else { fallback.to_owned() }
}

/// File work, on the blocking pool (never on an async worker).
async fn on_disk<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::internal(format!("the archive's file thread failed: {e}")))?
        .map_err(|e| Error::internal(format!("cannot {what}")).with_source(e))
}

/// The files of one message's folder, ready to be written.
struct MessageFiles {
    files: Vec<(String, Bytes)>,
}

/// `message.json`: the list entry and the invoice's main fields.
#[derive(Serialize)]
struct MessageRecord<'a> {
    message: &'a Message,
    partner_cif: Option<&'a str>,
    invoice: Option<&'a InvoiceSummary>,
}

impl MessageFiles {
    fn new(
        message: &Message,
        archive: &Archive,
        summary: Option<&InvoiceSummary>,
        pdf: Option<Bytes>,
    ) -> Result<MessageFiles, Error> {
        let document_name = entry_file_name(archive.document_name(), "document.xml");
        let mut files = vec![
            (format!("{}.zip", message.id), archive.zip_bytes().clone()),
            (document_name.clone(), archive.document()?),
            (
                entry_file_name(archive.signature_name(), "semnatura.xml"),
                archive.signature()?,
            ),
        ];
        if let Some(pdf) = pdf {
            let stem = document_name.strip_suffix(".xml").unwrap_or(&document_name);
            files.push((format!("{stem}.pdf"), pdf));
        }
        let record = MessageRecord {
            message,
            partner_cif: message.partner_cif(),
            invoice: summary,
        };
        let json = serde_json::to_vec_pretty(&record)
            .map_err(|e| Error::internal(format!("cannot write message.json: {e}")))?;
        files.push(("message.json".into(), Bytes::from(json)));
        Ok(MessageFiles { files })
    }

    /// Writes the folder under a hidden name, flushes every file, and renames it into place.
    fn write(self, target: &Path) -> std::io::Result<()> {
        let parent = target.parent().expect("a message folder has a parent");
        let name = target
            .file_name()
            .expect("a message folder has a name")
            .to_string_lossy();
        let partial = parent.join(format!(".{name}.partial"));
        std::fs::create_dir_all(parent)?;
        // Left by a sync that stopped midway: never part of the archive.
        match std::fs::remove_dir_all(&partial) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::create_dir(&partial)?;
        for (file_name, bytes) in &self.files {
            let mut file = std::fs::File::create(partial.join(file_name))?;
            std::io::Write::write_all(&mut file, bytes)?;
            file.sync_all()?;
        }
        // A folder there without a readable ZIP (checked by the caller) is incomplete.
        match std::fs::remove_dir_all(target) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::rename(&partial, target)?;
        // The rename itself, durable.
        #[cfg(unix)]
        std::fs::File::open(parent)?.sync_all()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_entry_names_cannot_leave_the_folder() {
        assert_eq!(entry_file_name("5001130147.xml", "d.xml"), "5001130147.xml");
        for hostile in [
            "../x.xml",
            "a/b.xml",
            "..",
            ".hidden",
            "C:\\x.xml",
            "",
            "semnatura_1 .xml",
        ] {
            assert_eq!(entry_file_name(hostile, "d.xml"), "d.xml", "{hostile}");
        }
        assert_eq!(safe_name("RO 123/../4"), "RO1234");
        assert_eq!(safe_name("../"), "unknown");
    }
}
