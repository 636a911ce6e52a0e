-- Named secrets (store/secrets.go): the server secret, the OAuth signing
-- keys, the Web Push keys, the XMPP certificate, kept with the data so
-- every node of a cluster shares them. Readable by whoever reads the
-- database.
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

-- Pending OAuth authorization requests (store/secrets.go), so a sign-in
-- begun on one node may end on another; codes only as SHA-256 hashes.
CREATE TABLE oauth_requests (
    id        TEXT PRIMARY KEY,
    data      BLOB NOT NULL,
    code_hash BLOB UNIQUE,
    spent     INTEGER NOT NULL DEFAULT 0, -- 1 once its code was exchanged (or the request denied)
    family    TEXT NOT NULL DEFAULT '',
    expires   INTEGER NOT NULL
);
CREATE INDEX oauth_requests_expires ON oauth_requests(expires);
