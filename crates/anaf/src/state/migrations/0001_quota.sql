-- The quota ledger: one row per Bucharest day, counter and key (a CIF, an upload index, a
-- download id, or `user`). Plain SQL that SQLite and PostgreSQL read alike.
CREATE TABLE anaf_quota_usage (
    day TEXT NOT NULL,
    counter TEXT NOT NULL,
    scope_key TEXT NOT NULL,
    used BIGINT NOT NULL,
    PRIMARY KEY (day, counter, scope_key)
);
