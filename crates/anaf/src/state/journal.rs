//! The submission journal's storage: where each invoice given to
//! [`crate::efactura::EFactura::submit`] stands. Every change is one compare-and-set statement
//! on the row's state, so processes sharing the database never both send one invoice.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Database, failure};
use crate::cif::Cif;
use crate::efactura::{Standard, UploadOptions};
use crate::error::Error;

/// Where a submission stands. Serialised as its code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SubmissionState {
    /// Recorded, not sent yet (or a failure that left nothing at ANAF and may be retried:
    /// a connection refused, the quota, ANAF's per-minute limit).
    Pending,
    /// A process is sending it now (until its lease ends).
    Sending,
    /// Sent, but the answer was lost: ANAF may hold it. It is looked for in ANAF's message
    /// list and sent again only once proven absent.
    Unknown,
    /// ANAF holds it: `upload_id` is its one upload index.
    Uploaded,
    /// ANAF refused the upload itself (see `last_error`); nothing is at ANAF. Submitting the
    /// same document again sends it again.
    Failed,
}

impl SubmissionState {
    pub fn code(self) -> &'static str {
        match self {
            SubmissionState::Pending => "pending",
            SubmissionState::Sending => "sending",
            SubmissionState::Unknown => "unknown",
            SubmissionState::Uploaded => "uploaded",
            SubmissionState::Failed => "failed",
        }
    }

    /// `uploaded` or `failed`: nothing more happens without a new `submit`.
    pub fn is_settled(self) -> bool {
        matches!(self, SubmissionState::Uploaded | SubmissionState::Failed)
    }
}

parse_codes!(
    SubmissionState,
    "submission state",
    [
        SubmissionState::Pending,
        SubmissionState::Sending,
        SubmissionState::Unknown,
        SubmissionState::Uploaded,
        SubmissionState::Failed
    ]
);

/// One invoice in the journal (what `submit` returns and `submissions` lists).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SubmissionRecord {
    /// The submission's identity: hex SHA-256 of the CIF, the upload options and the
    /// document. Submitting the same document for the same CIF again finds this record.
    pub key: String,
    pub cif: String,
    pub standard: Standard,
    /// Hex SHA-256 of the document's bytes.
    pub sha256: String,
    /// The invoice's number (`cbc:ID`) and issue date, when the document is an invoice.
    pub invoice_number: Option<String>,
    pub issue_date: Option<String>,
    pub state: SubmissionState,
    /// ANAF's upload index (`index_incarcare`) once `uploaded`.
    pub upload_id: Option<u64>,
    /// How many times the document was sent (more than one only after ANAF was shown not
    /// to hold it).
    pub attempts: u32,
    /// The last failure, as the core's error JSON ([`Error::to_json`]).
    pub last_error: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it was last sent.
    pub sent_at: Option<DateTime<Utc>>,
}

/// Which submissions [`crate::efactura::EFactura::submissions`] lists: `Default` is all,
/// newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubmissionQuery {
    /// With or without `RO`; checked like any CIF.
    pub cif: Option<String>,
    pub state: Option<SubmissionState>,
    /// At most this many (default 1000).
    pub limit: Option<u32>,
}

impl SubmissionQuery {
    pub fn new() -> SubmissionQuery {
        SubmissionQuery::default()
    }

    pub fn cif(mut self, cif: impl Into<String>) -> Self {
        self.cif = Some(cif.into());
        self
    }

    pub fn state(mut self, state: SubmissionState) -> Self {
        self.state = Some(state);
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// What `submit` records before anything is sent.
pub(crate) struct Intent<'a> {
    pub key: String,
    pub cif: &'a str,
    pub options: UploadOptions,
    pub sha256: String,
    pub invoice_number: Option<String>,
    pub issue_date: Option<String>,
    pub document: &'a [u8],
}

const COLUMNS: &str = "submission_key, cif, options, sha256, invoice_number, issue_date, state, upload_id, attempts, last_error, created_at, updated_at, sent_at";

fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

fn time(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

fn journal_failure(error: sqlx::Error) -> Error {
    failure("the submission journal failed", error)
}

fn options_text(options: &UploadOptions) -> String {
    serde_json::to_string(options).unwrap_or_default()
}

/// The options as stored (the JSON of [`UploadOptions`]).
fn options_from_text(text: &str) -> Result<UploadOptions, Error> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|_| Error::internal("the journal holds unreadable upload options"))?;
    let flag = |name: &str| value.get(name).and_then(|v| v.as_bool()).unwrap_or(false);
    let standard = value
        .get("standard")
        .and_then(|v| v.as_str())
        .unwrap_or("ubl")
        .parse::<Standard>()?;
    Ok(UploadOptions::new()
        .standard(standard)
        .external(flag("external"))
        .self_billed(flag("self_billed"))
        .enforcement(flag("enforcement"))
        .b2c(flag("b2c")))
}

fn record(row: &AnyRow) -> Result<SubmissionRecord, Error> {
    let text = |name: &str| row.try_get::<String, _>(name).map_err(journal_failure);
    let optional_text = |name: &str| row.try_get::<Option<String>, _>(name).map_err(journal_failure);
    let number = |name: &str| row.try_get::<Option<i64>, _>(name).map_err(journal_failure);
    let options = options_from_text(&text("options")?)?;
    Ok(SubmissionRecord {
        key: text("submission_key")?,
        cif: text("cif")?,
        standard: options.standard,
        sha256: text("sha256")?,
        invoice_number: optional_text("invoice_number")?,
        issue_date: optional_text("issue_date")?,
        state: text("state")?.parse()?,
        upload_id: number("upload_id")?.map(|id| id as u64),
        attempts: number("attempts")?.unwrap_or(0).clamp(0, u32::MAX as i64) as u32,
        last_error: optional_text("last_error")?.and_then(|json| serde_json::from_str(&json).ok()),
        created_at: time(number("created_at")?.unwrap_or(0)),
        updated_at: time(number("updated_at")?.unwrap_or(0)),
        sent_at: number("sent_at")?.map(time),
    })
}

impl Database {
    /// Records the intent unless the same submission is already recorded.
    pub(crate) async fn record_intent(&self, intent: &Intent<'_>, now: DateTime<Utc>) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO anaf_submissions (submission_key, cif, options, sha256, invoice_number, issue_date, document, state, attempts, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8)
             ON CONFLICT (submission_key) DO NOTHING",
        )
        .bind(&intent.key)
        .bind(intent.cif)
        .bind(options_text(&intent.options))
        .bind(&intent.sha256)
        .bind(intent.invoice_number.as_deref())
        .bind(intent.issue_date.as_deref())
        .bind(intent.document)
        .bind(millis(now))
        .execute(&self.pool)
        .await
        .map_err(journal_failure)?;
        Ok(())
    }

    /// One submission of the journal by its key.
    pub async fn submission(&self, key: &str) -> Result<Option<SubmissionRecord>, Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM anaf_submissions WHERE submission_key = $1"
        )))
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(journal_failure)?;
        row.as_ref().map(record).transpose()
    }

    /// The document and its options, to send.
    pub(crate) async fn submission_document(&self, key: &str) -> Result<(Bytes, UploadOptions), Error> {
        let row = sqlx::query("SELECT document, options FROM anaf_submissions WHERE submission_key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await
            .map_err(journal_failure)?;
        let document: Vec<u8> = row.try_get("document").map_err(journal_failure)?;
        let options: String = row.try_get("options").map_err(journal_failure)?;
        Ok((Bytes::from(document), options_from_text(&options)?))
    }

    /// `pending` or `failed` → `sending`, for this process until `lease_until`. False when
    /// another process got there first.
    pub(crate) async fn claim_for_sending(
        &self,
        key: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE anaf_submissions SET state = 'sending', attempts = attempts + 1, sent_at = $2, lease_until = $3, updated_at = $2
             WHERE submission_key = $1 AND state IN ('pending', 'failed')",
        )
        .bind(key)
        .bind(millis(now))
        .bind(millis(lease_until))
        .execute(&self.pool)
        .await
        .map_err(journal_failure)?;
        Ok(done.rows_affected() == 1)
    }

    /// A `sending` whose process stopped (crashed, killed) before recording the outcome: the
    /// invoice may have reached ANAF, so it becomes `unknown`.
    pub(crate) async fn expire_lease(&self, key: &str, now: DateTime<Utc>) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE anaf_submissions SET state = 'unknown', lease_until = NULL, updated_at = $2
             WHERE submission_key = $1 AND state = 'sending' AND lease_until < $2",
        )
        .bind(key)
        .bind(millis(now))
        .execute(&self.pool)
        .await
        .map_err(journal_failure)?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves a submission from `from` to `to`, with the upload index and the last error, if
    /// it is still in `from`. False when another process moved it first.
    pub(crate) async fn settle_submission(
        &self,
        key: &str,
        from: SubmissionState,
        to: SubmissionState,
        upload_id: Option<u64>,
        error: Option<&Error>,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE anaf_submissions SET state = $3, upload_id = COALESCE($4, upload_id), last_error = COALESCE($5, last_error), lease_until = NULL, updated_at = $6
             WHERE submission_key = $1 AND state = $2",
        )
        .bind(key)
        .bind(from.code())
        .bind(to.code())
        .bind(upload_id.map(|id| id as i64))
        .bind(error.map(Error::to_json))
        .bind(millis(now))
        .execute(&self.pool)
        .await
        .map_err(journal_failure)?;
        Ok(done.rows_affected() == 1)
    }

    /// The journal's submissions, newest first (also without a client, e.g. for a report).
    pub async fn submissions(&self, query: &SubmissionQuery) -> Result<Vec<SubmissionRecord>, Error> {
        // Recorded as `Cif` writes it: `RO12345674` finds what `12345674` recorded.
        let cif = query.cif.as_deref().map(Cif::parse).transpose()?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM anaf_submissions
             WHERE ($1 IS NULL OR cif = $1) AND ($2 IS NULL OR state = $2)
             ORDER BY created_at DESC, submission_key LIMIT $3"
        )))
        .bind(cif.as_ref().map(Cif::as_str))
        .bind(query.state.map(SubmissionState::code))
        .bind(i64::from(query.limit.unwrap_or(1000)))
        .fetch_all(&self.pool)
        .await
        .map_err(journal_failure)?;
        rows.iter().map(record).collect()
    }

    /// Submissions that need work: `pending`, `unknown`, and `sending` past its lease.
    pub(crate) async fn unsettled_submissions(&self, now: DateTime<Utc>) -> Result<Vec<String>, Error> {
        let rows = sqlx::query(
            "SELECT submission_key FROM anaf_submissions
             WHERE state IN ('pending', 'unknown') OR (state = 'sending' AND lease_until < $1)
             ORDER BY created_at",
        )
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await
        .map_err(journal_failure)?;
        rows.iter()
            .map(|row| row.try_get::<String, _>("submission_key").map_err(journal_failure))
            .collect()
    }

    /// The upload indexes the journal already gives to submissions of `cif`.
    pub(crate) async fn owned_uploads(&self, cif: &str) -> Result<HashSet<u64>, Error> {
        let rows = sqlx::query("SELECT upload_id FROM anaf_submissions WHERE cif = $1 AND upload_id IS NOT NULL")
            .bind(cif)
            .fetch_all(&self.pool)
            .await
            .map_err(journal_failure)?;
        rows.iter()
            .map(|row| {
                row.try_get::<i64, _>("upload_id")
                    .map(|id| id as u64)
                    .map_err(journal_failure)
            })
            .collect()
    }

    /// The SHA-256 of each listed upload of `cif` downloaded so far.
    pub(crate) async fn upload_hashes(&self, cif: &str) -> Result<HashMap<u64, String>, Error> {
        let rows = sqlx::query("SELECT upload_id, sha256 FROM anaf_upload_hashes WHERE cif = $1")
            .bind(cif)
            .fetch_all(&self.pool)
            .await
            .map_err(journal_failure)?;
        rows.iter()
            .map(|row| {
                let upload_id = row.try_get::<i64, _>("upload_id").map_err(journal_failure)?;
                let sha256 = row.try_get::<String, _>("sha256").map_err(journal_failure)?;
                Ok((upload_id as u64, sha256))
            })
            .collect()
    }

    pub(crate) async fn remember_upload_hash(&self, upload_id: u64, cif: &str, sha256: &str) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO anaf_upload_hashes (upload_id, cif, sha256) VALUES ($1, $2, $3) ON CONFLICT (upload_id) DO NOTHING",
        )
        .bind(upload_id as i64)
        .bind(cif)
        .bind(sha256)
        .execute(&self.pool)
        .await
        .map_err(journal_failure)?;
        Ok(())
    }
}
