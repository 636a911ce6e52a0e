-- Rooms (store/rooms.go): configuration, affiliations and bounded history.
-- A room goes with its owner; an affiliation with its account.
CREATE TABLE rooms (
    app        TEXT NOT NULL,
    name       TEXT NOT NULL,
    owner      TEXT NOT NULL REFERENCES accounts(address) ON DELETE CASCADE,
    mode       TEXT NOT NULL,
    subject    TEXT NOT NULL DEFAULT '',
    subject_by TEXT NOT NULL DEFAULT '',
    created    INTEGER NOT NULL,
    PRIMARY KEY (app, name)
);
CREATE INDEX rooms_owner ON rooms(owner);

CREATE TABLE room_affiliations (
    app         TEXT NOT NULL,
    name        TEXT NOT NULL,
    account     TEXT NOT NULL REFERENCES accounts(address) ON DELETE CASCADE,
    affiliation TEXT NOT NULL,
    PRIMARY KEY (app, name, account),
    FOREIGN KEY (app, name) REFERENCES rooms(app, name) ON DELETE CASCADE
);

CREATE TABLE room_history (
    app     TEXT NOT NULL,
    name    TEXT NOT NULL,
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    id      TEXT NOT NULL,
    account TEXT NOT NULL,
    nick    TEXT NOT NULL,
    body    TEXT NOT NULL,
    sent    INTEGER NOT NULL,
    FOREIGN KEY (app, name) REFERENCES rooms(app, name) ON DELETE CASCADE
);
CREATE INDEX room_history_room ON room_history(app, name, seq);
