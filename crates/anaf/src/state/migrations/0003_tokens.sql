-- The tokens of DatabaseTokenStore: one login per name (the JSON of TokenSet, which holds
-- the access and refresh tokens: protect the database as the token file would be).
CREATE TABLE anaf_tokens (
    name TEXT PRIMARY KEY,
    tokens TEXT NOT NULL,
    saved_at TEXT NOT NULL
);
