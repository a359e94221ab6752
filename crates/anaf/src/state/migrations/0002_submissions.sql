-- The submission journal: one row per invoice (its key: the CIF, the upload options and the
-- document's bytes), written before anything is sent. Times are milliseconds since 1970 (UTC).
-- {BYTES} is BLOB on SQLite and BYTEA on PostgreSQL.
CREATE TABLE anaf_submissions (
    submission_key TEXT PRIMARY KEY,
    cif TEXT NOT NULL,
    options TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    invoice_number TEXT,
    issue_date TEXT,
    document {BYTES} NOT NULL,
    state TEXT NOT NULL,
    upload_id BIGINT,
    attempts BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    sent_at BIGINT,
    lease_until BIGINT
);
CREATE INDEX anaf_submissions_by_state ON anaf_submissions (state, cif);
CREATE INDEX anaf_submissions_by_upload ON anaf_submissions (upload_id);

-- What each sent invoice in ANAF's message list holds (the SHA-256 of its document), so a
-- message is downloaded at most once to look for an upload whose answer was lost.
CREATE TABLE anaf_upload_hashes (
    upload_id BIGINT PRIMARY KEY,
    cif TEXT NOT NULL,
    sha256 TEXT NOT NULL
);
