-- The archive sync's record: each message written to an archive folder (its path relative to
-- the archive's root). The folder is the proof (a message is archived when its folder is
-- there); a row lets a sync skip a message without reading its folder. Times are
-- milliseconds since 1970 (UTC).
CREATE TABLE anaf_archive (
    cif TEXT NOT NULL,
    download_id BIGINT NOT NULL,
    upload_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    partner_cif TEXT,
    created_at TEXT NOT NULL,
    folder TEXT NOT NULL,
    zip_sha256 TEXT NOT NULL,
    zip_bytes BIGINT NOT NULL,
    archived_at BIGINT NOT NULL,
    PRIMARY KEY (cif, download_id)
);
