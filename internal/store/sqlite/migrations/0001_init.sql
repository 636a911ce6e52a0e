CREATE TABLE accounts (
    address       TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    invisible     INTEGER NOT NULL DEFAULT 0,
    last_seen     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    hash       BLOB NOT NULL UNIQUE,
    account    TEXT NOT NULL REFERENCES accounts(address) ON DELETE CASCADE,
    label      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX tokens_account ON tokens(account);

CREATE TABLE contacts (
    id       TEXT NOT NULL,
    owner    TEXT NOT NULL REFERENCES accounts(address) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    emails   TEXT NOT NULL,  -- JSON array
    phones   TEXT NOT NULL,  -- JSON array
    notes    TEXT NOT NULL,
    groups_  TEXT NOT NULL,  -- JSON array
    address  TEXT NOT NULL,
    version  INTEGER NOT NULL,
    updated  INTEGER NOT NULL,
    PRIMARY KEY (owner, id)
);

-- "viewer may see subject": state 1 pending, 2 approved; preapproved by subject.
CREATE TABLE relations (
    subject     TEXT NOT NULL,
    viewer      TEXT NOT NULL,
    state       INTEGER NOT NULL,
    preapproved INTEGER NOT NULL,
    PRIMARY KEY (subject, viewer)
);
CREATE INDEX relations_viewer ON relations(viewer);

CREATE TABLE blocks (
    blocker TEXT NOT NULL,
    blocked TEXT NOT NULL,
    PRIMARY KEY (blocker, blocked)
);

CREATE TABLE hidden (
    subject TEXT NOT NULL,
    viewer  TEXT NOT NULL,
    PRIMARY KEY (subject, viewer)
);
