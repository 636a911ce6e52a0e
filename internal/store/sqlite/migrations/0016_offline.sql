-- Offline delivery (store/offline.go): messages kept for accounts that had
-- no session to take them, until acknowledged or expired; and each
-- account's 1-1 history (XEP-0313), with its on/off switch.
CREATE TABLE stored_messages (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    account  TEXT NOT NULL REFERENCES accounts(address) ON DELETE CASCADE,
    sender   TEXT NOT NULL,
    sender_from TEXT NOT NULL,
    id       TEXT NOT NULL,
    type     TEXT NOT NULL,
    body     TEXT NOT NULL,
    payload  TEXT NOT NULL,
    size     INTEGER NOT NULL,
    sent     INTEGER NOT NULL,
    expires  INTEGER NOT NULL
);
CREATE INDEX stored_messages_account ON stored_messages(account, seq);
-- de-duplication: a sender's resend (same ID and content) is stored once
CREATE INDEX stored_messages_dedup ON stored_messages(account, sender, id) WHERE id<>'';
CREATE INDEX stored_messages_expires ON stored_messages(expires);

CREATE TABLE archive (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    owner    TEXT NOT NULL REFERENCES accounts(address) ON DELETE CASCADE,
    peer     TEXT NOT NULL,
    outgoing INTEGER NOT NULL,
    sender_from TEXT NOT NULL,
    recipient TEXT NOT NULL,
    id       TEXT NOT NULL,
    type     TEXT NOT NULL,
    body     TEXT NOT NULL,
    sent     INTEGER NOT NULL
);
CREATE INDEX archive_owner ON archive(owner, seq);
CREATE INDEX archive_owner_peer ON archive(owner, peer, seq);
CREATE INDEX archive_sent ON archive(sent);

-- accounts that turned their history off (on by default: no row)
CREATE TABLE archive_off (
    owner TEXT PRIMARY KEY REFERENCES accounts(address) ON DELETE CASCADE
);
