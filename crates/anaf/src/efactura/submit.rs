//! Duplicate-safe submission (cargo feature `state`): every invoice ends with exactly one
//! ANAF upload index, whatever fails on the way.
//!
//! `submit` records the intent in the state database before anything is sent, claims the
//! submission (one compare-and-set: one sender across processes and machines), uploads once,
//! and records the outcome. When the outcome is unknown (the answer lost after the body went
//! out, a 5xx, our process killed mid-call), the invoice is never sent again blindly: it is
//! looked for in ANAF's list of sent invoices since it was sent, each listed invoice
//! downloaded once and compared by SHA-256 (ANAF's `{N}.xml` is the document as uploaded),
//! and sent again only when it is still absent `resend_after` after it was sent (ANAF lists
//! an invoice only once processed). Should a late one appear after all, ANAF's own duplicate
//! check refuses the second copy.
//!
//! One case the hash cannot settle: ANAF's answer ZIP for a refused invoice (`nok`) holds only
//! the error document, so a lost answer of an invoice ANAF refused is not recognised, and the
//! invoice is sent again after `resend_after`; ANAF refuses it again. Nothing is registered
//! twice, but the invoice then has two error messages.

use std::collections::HashMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{EFactura, InvoiceSummary, MessageFilter, Standard, UploadOptions};
use crate::cif::Cif;
use crate::error::{Error, ErrorKind};
use crate::state::journal::Intent;
use crate::state::{Database, SubmissionQuery, SubmissionRecord, SubmissionState};

/// How far before the send the message list is searched (ANAF's `data_creare` has minutes
/// only, and the two clocks differ).
const SEARCH_MARGIN: chrono::Duration = chrono::Duration::minutes(10);

/// `time + wait`, or the end of time for a wait beyond the calendar (a caller's "never").
fn later(time: DateTime<Utc>, wait: chrono::Duration) -> DateTime<Utc> {
    time.checked_add_signed(wait).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn hex_sha256(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

impl EFactura {
    /// Uploads an invoice at most once, through the client's state database
    /// ([`crate::ClientBuilder::state`]), and returns where it stands: `uploaded` with its
    /// upload index, or `unknown` when ANAF's answer was lost (it is looked for and settled
    /// by a later `submit` of the same document or by [`EFactura::resume_submissions`]).
    /// Submitting a document already uploaded returns its record without sending anything.
    /// A failure that left nothing at ANAF is returned as the error (and recorded).
    pub async fn submit(
        &self,
        xml: impl Into<Bytes>,
        cif: &str,
        options: UploadOptions,
    ) -> Result<SubmissionRecord, Error> {
        let database = self.client.state_database()?;
        let cif = Cif::parse(cif)?;
        if options.standard == Standard::Rasp {
            return Err(Error::invalid_input(
                "standard",
                "submit is for invoices and credit notes; send a RASP message with upload",
            ));
        }
        let xml = xml.into();
        if xml.is_empty() {
            return Err(Error::invalid_input("xml", "the document is empty"));
        }
        let summary = InvoiceSummary::parse(&xml).ok();
        let options_json = serde_json::to_string(&options).unwrap_or_default();
        let intent = Intent {
            key: hex_sha256(&[cif.as_str().as_bytes(), b"\0", options_json.as_bytes(), b"\0", &xml]),
            cif: cif.as_str(),
            options,
            sha256: hex_sha256(&[&xml]),
            invoice_number: summary.as_ref().and_then(|s| s.number.clone()),
            issue_date: summary.and_then(|s| s.issue_date).map(|d| d.to_string()),
            document: &xml,
        };
        database.record_intent(&intent, Utc::now()).await?;
        self.drive(database, &intent.key, true, None).await
    }

    /// Every submission of the journal that needs work (`pending`, `unknown`, or `sending`
    /// by a process that stopped), moved on as `submit` would: after a restart, call this
    /// once. Returns where each stands; one that fails again keeps its `last_error`.
    pub async fn resume_submissions(&self) -> Result<Vec<SubmissionRecord>, Error> {
        let database = self.client.state_database()?;
        let mut unsettled = Vec::new();
        for key in database.unsettled_submissions(Utc::now()).await? {
            unsettled.extend(database.submission(&key).await?);
        }
        // One walk of ANAF's list per company for all its lost answers, from the earliest.
        let mut since: HashMap<&str, DateTime<Utc>> = HashMap::new();
        for record in unsettled.iter().filter(|r| r.state == SubmissionState::Unknown) {
            let sent_at = record.sent_at.unwrap_or(record.created_at);
            since
                .entry(&record.cif)
                .and_modify(|earliest| *earliest = (*earliest).min(sent_at))
                .or_insert(sent_at);
        }
        let mut listed = HashMap::new();
        for (cif, sent_at) in since {
            listed.insert(cif.to_owned(), self.sent_by_hash(database, cif, sent_at).await?);
        }
        let mut records = Vec::new();
        for record in &unsettled {
            match self.drive(database, &record.key, false, listed.get(&record.cif)).await {
                Ok(record) => records.push(record),
                Err(error) => {
                    tracing::debug!(kind = %error.kind(), "a resumed submission failed again");
                    records.extend(database.submission(&record.key).await?);
                }
            }
        }
        Ok(records)
    }

    /// The journal's submissions, newest first.
    pub async fn submissions(&self, query: &SubmissionQuery) -> Result<Vec<SubmissionRecord>, Error> {
        self.client.state_database()?.submissions(query).await
    }

    /// One submission by its key.
    pub async fn submission(&self, key: &str) -> Result<Option<SubmissionRecord>, Error> {
        self.client.state_database()?.submission(key).await
    }

    /// Moves one submission on until it is settled, sent by someone else, or waiting for
    /// ANAF to list it. Each turn re-reads the row: another process may have moved it.
    /// `listed`: ANAF's sent invoices by hash, when the caller already walked the list.
    async fn drive(
        &self,
        database: &Database,
        key: &str,
        send_failed: bool,
        listed: Option<&HashMap<String, u64>>,
    ) -> Result<SubmissionRecord, Error> {
        loop {
            let now = Utc::now();
            let record = database
                .submission(key)
                .await?
                .ok_or_else(|| Error::internal("the submission is no longer in the journal"))?;
            match record.state {
                SubmissionState::Uploaded => return Ok(record),
                SubmissionState::Failed if !send_failed => return Ok(record),
                SubmissionState::Sending => {
                    if database.expire_lease(key, now).await? {
                        continue;
                    }
                    // Another process is sending it now.
                    return Ok(record);
                }
                SubmissionState::Pending | SubmissionState::Failed => {
                    let lease_until = later(now, self.client.inner.submission_lease);
                    if database.claim_for_sending(key, now, lease_until).await? {
                        return self.send_claimed(database, &record).await;
                    }
                }
                SubmissionState::Unknown => {
                    let sent_at = record.sent_at.unwrap_or(record.created_at);
                    let found = match listed {
                        Some(listed) => listed.get(&record.sha256).copied(),
                        None => self
                            .sent_by_hash(database, &record.cif, sent_at)
                            .await?
                            .get(&record.sha256)
                            .copied(),
                    };
                    if let Some(upload_id) = found {
                        tracing::info!(upload_id, "a submission whose answer was lost was found at ANAF");
                        database
                            .settle_submission(
                                key,
                                SubmissionState::Unknown,
                                SubmissionState::Uploaded,
                                Some(upload_id),
                                None,
                                now,
                            )
                            .await?;
                    } else if now >= later(sent_at, self.client.inner.resend_after) {
                        tracing::info!("a submission whose answer was lost is not at ANAF; sending it again");
                        database
                            .settle_submission(key, SubmissionState::Unknown, SubmissionState::Pending, None, None, now)
                            .await?;
                    } else {
                        return Ok(record);
                    }
                }
            }
        }
    }

    /// Sends a submission this process claimed, and records the outcome.
    async fn send_claimed(&self, database: &Database, record: &SubmissionRecord) -> Result<SubmissionRecord, Error> {
        let (document, options) = database.submission_document(&record.key).await?;
        let outcome = self.upload(document, &record.cif, options).await;
        let now = Utc::now();
        let (to, upload_id, error) = match &outcome {
            Ok(receipt) => (SubmissionState::Uploaded, Some(receipt.upload_id), None),
            Err(error) if error.upload_outcome_unknown() => (SubmissionState::Unknown, None, Some(error)),
            // Nothing reached ANAF and it may work later (the firewall's page included: it
            // stopped the request before ANAF): still to send.
            Err(error)
                if error.is_transient()
                    || matches!(
                        error.kind(),
                        ErrorKind::QuotaExhausted | ErrorKind::Cancelled | ErrorKind::WafRejected
                    ) =>
            {
                (SubmissionState::Pending, None, Some(error))
            }
            Err(error) => (SubmissionState::Failed, None, Some(error)),
        };
        // If this fails the row stays `sending`; once its lease ends it is looked for at
        // ANAF like any lost answer.
        database
            .settle_submission(&record.key, SubmissionState::Sending, to, upload_id, error, now)
            .await
            .map_err(|e| match upload_id {
                Some(id) => e.with_upload_id(id),
                None => e,
            })?;
        match outcome {
            Err(error) if to != SubmissionState::Unknown => Err(error),
            _ => database
                .submission(&record.key)
                .await?
                .ok_or_else(|| Error::internal("the submission is no longer in the journal")),
        }
    }

    /// The invoices ANAF lists as sent by `cif` since `sent_at` (less a margin), by the
    /// SHA-256 of their document, leaving out those the journal already gives to a
    /// submission. Each listed invoice is downloaded once: its hash is kept in the journal.
    async fn sent_by_hash(
        &self,
        database: &Database,
        cif: &str,
        sent_at: DateTime<Utc>,
    ) -> Result<HashMap<String, u64>, Error> {
        let owned = database.owned_uploads(cif).await?;
        let known = database.upload_hashes(cif).await?;
        let mut by_hash = HashMap::new();
        // Up to now: the stream's default end stays a few seconds behind, where an upload
        // lost a moment ago would be missed.
        let mut messages = self.messages(
            cif,
            sent_at - SEARCH_MARGIN,
            Some(Utc::now()),
            Some(MessageFilter::Sent),
        );
        while let Some(message) = messages.next().await? {
            if owned.contains(&message.upload_id) {
                continue;
            }
            let sha256 = match known.get(&message.upload_id) {
                Some(sha256) => sha256.clone(),
                None => {
                    let archive = self.download(message.id).await?;
                    let sha256 = hex_sha256(&[&archive.document()?]);
                    database.remember_upload_hash(message.upload_id, cif, &sha256).await?;
                    sha256
                }
            };
            by_hash.entry(sha256).or_insert(message.upload_id);
        }
        Ok(by_hash)
    }
}
