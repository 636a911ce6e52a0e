-- Apps (OAuth clients), the grants accounts gave them and their refresh
-- tokens (issue 10, store/apps.go). Lists are JSON arrays, bounded by the
-- store (store.MaxListLen, store.MaxPicked); secrets are SHA-256 hashes.
CREATE TABLE apps (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    owner         TEXT NOT NULL,   -- '' when the operator registered it
    redirect_uris TEXT NOT NULL,   -- JSON array
    scopes        TEXT NOT NULL,   -- JSON array
    logo          TEXT NOT NULL,
    description   TEXT NOT NULL,
    public        INTEGER NOT NULL,
    secret_hash   BLOB,            -- NULL for public apps
    created_at    INTEGER NOT NULL
);
CREATE INDEX apps_owner ON apps(owner);

CREATE TABLE grants (
    account    TEXT NOT NULL REFERENCES accounts(address) ON DELETE CASCADE,
    app        TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL,      -- JSON array
    contacts   TEXT NOT NULL,      -- store.ContactsMode
    group_     TEXT NOT NULL,
    picked     TEXT NOT NULL,      -- JSON array of addresses
    addresses  INTEGER NOT NULL,
    hidden     INTEGER NOT NULL,
    private    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (account, app)
);
CREATE INDEX grants_app ON grants(app);

-- A used token stays until it expires: coming back, it revokes its family.
CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY,
    hash       BLOB NOT NULL UNIQUE,
    family     TEXT NOT NULL,
    account    TEXT NOT NULL,
    app        TEXT NOT NULL,
    scopes     TEXT NOT NULL,      -- JSON array
    auth_time  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used       INTEGER NOT NULL,
    FOREIGN KEY (account, app) REFERENCES grants(account, app) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family);
CREATE INDEX refresh_tokens_grant ON refresh_tokens(account, app);
CREATE INDEX refresh_tokens_app ON refresh_tokens(app);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at) WHERE expires_at<>0;

-- An app's access tokens: the app, the scopes granted to them (JSON array)
-- and the refresh family they came from. Revoking a grant deletes them by
-- (app, account), an app by app, a reused refresh token by family.
ALTER TABLE tokens ADD COLUMN app TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tokens ADD COLUMN family TEXT NOT NULL DEFAULT '';
CREATE INDEX tokens_app ON tokens(app, account);
CREATE INDEX tokens_family ON tokens(family);
