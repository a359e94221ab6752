//! The archive sync's record in the state database (see [`crate::efactura::EFactura::sync`]).

use sqlx::Row;

use super::{Database, failure};
use crate::error::Error;

/// A message written to the archive, as recorded.
pub(crate) struct ArchivedRow<'a> {
    pub cif: &'a str,
    pub download_id: u64,
    pub upload_id: u64,
    pub kind: &'a str,
    pub partner_cif: Option<&'a str>,
    pub created_at: &'a str,
    /// Relative to the archive's root, with `/`.
    pub folder: &'a str,
    pub zip_sha256: &'a str,
    pub zip_bytes: u64,
}

impl Database {
    /// The folder a message was archived to, if it was.
    pub(crate) async fn archived_folder(&self, cif: &str, download_id: u64) -> Result<Option<String>, Error> {
        let reading = |e| failure("cannot read the archive record", e);
        let row = sqlx::query("SELECT folder FROM anaf_archive WHERE cif = $1 AND download_id = $2")
            .bind(cif)
            .bind(download_id as i64)
            .fetch_optional(&self.pool)
            .await
            .map_err(reading)?;
        row.map(|row| row.try_get::<String, _>("folder"))
            .transpose()
            .map_err(reading)
    }

    /// Records a message once its folder is in place (again: the newest folder wins).
    pub(crate) async fn record_archived(&self, row: &ArchivedRow<'_>) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO anaf_archive (cif, download_id, upload_id, kind, partner_cif, created_at, folder,
                 zip_sha256, zip_bytes, archived_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (cif, download_id) DO UPDATE SET folder = excluded.folder,
                 zip_sha256 = excluded.zip_sha256, zip_bytes = excluded.zip_bytes,
                 archived_at = excluded.archived_at",
        )
        .bind(row.cif)
        .bind(row.download_id as i64)
        .bind(row.upload_id as i64)
        .bind(row.kind)
        .bind(row.partner_cif)
        .bind(row.created_at)
        .bind(row.folder)
        .bind(row.zip_sha256)
        .bind(row.zip_bytes as i64)
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(&self.pool)
        .await
        .map_err(|e| failure("cannot record the archived message", e))?;
        Ok(())
    }

    /// How many messages of `cif` the archive record holds.
    pub async fn archived_count(&self, cif: &str) -> Result<u64, Error> {
        let row = sqlx::query("SELECT COUNT(*) AS archived FROM anaf_archive WHERE cif = $1")
            .bind(cif)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| failure("cannot read the archive record", e))?;
        let count: i64 = row
            .try_get("archived")
            .map_err(|e| failure("cannot read the archive record", e))?;
        Ok(count.max(0) as u64)
    }
}
