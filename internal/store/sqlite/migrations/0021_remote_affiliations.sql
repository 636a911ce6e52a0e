-- Affiliations of accounts of other domains (docs/rooms.md, docs/federation.md):
-- a room may ban, or make a member or admin of, a user of another server, who
-- has no row in accounts. The tie to accounts moves from account to
-- local_account, which holds the address again for a local account (so
-- deleting it still removes its affiliations, by ON DELETE CASCADE and by
-- sqlstore's deleteRoomsOf) and NULL for a remote one. SQLite cannot drop a
-- column's foreign key: the table is made again, and the rows copied (every
-- existing one is a local account's).
CREATE TABLE room_affiliations_0021 (
    app           TEXT NOT NULL,
    name          TEXT NOT NULL,
    account       TEXT NOT NULL,
    local_account TEXT REFERENCES accounts(address) ON DELETE CASCADE,
    affiliation   TEXT NOT NULL,
    PRIMARY KEY (app, name, account),
    FOREIGN KEY (app, name) REFERENCES rooms(app, name) ON DELETE CASCADE,
    CHECK (local_account IS NULL OR local_account = account)
);
INSERT INTO room_affiliations_0021(app, name, account, local_account, affiliation)
    SELECT app, name, account, account, affiliation FROM room_affiliations;
DROP TABLE room_affiliations;
ALTER TABLE room_affiliations_0021 RENAME TO room_affiliations;
CREATE INDEX room_affiliations_local ON room_affiliations(local_account);
