-- Named secrets and pending OAuth authorization requests, as SQLite's
-- 0024 (store/secrets.go).
CREATE TABLE secrets (
    name  TEXT COLLATE "C" PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE oauth_requests (
    id        TEXT COLLATE "C" PRIMARY KEY,
    data      BYTEA NOT NULL,
    code_hash BYTEA UNIQUE,
    spent     INTEGER NOT NULL DEFAULT 0, -- 1 once its code was exchanged (or the request denied)
    family    TEXT COLLATE "C" NOT NULL DEFAULT '',
    expires   BIGINT NOT NULL
);
CREATE INDEX oauth_requests_expires ON oauth_requests(expires);
