-- CardDAV (docs/contacts.md): a card keeps the vCard lines it was written
-- with (card), and every write of an address book takes the next value of one
-- counter (contact_seq), stored with the contact (contacts.seq) or, for a
-- deletion, with a tombstone: a sync-collection report lists what changed
-- after a token from an index, without reading the whole book. The counter is
-- shared by all books so that a position is never reused, not even by an
-- account created again at a deleted one's address. Tombstones are bounded per
-- owner; a book's floor is the oldest position it can still answer.
ALTER TABLE contacts ADD COLUMN card TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX contacts_seq ON contacts(owner, seq);

CREATE TABLE contact_seq (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO contact_seq(id, n) VALUES (1, 1); -- 0 means "no position"

CREATE TABLE contact_books (
    owner TEXT PRIMARY KEY REFERENCES accounts(address) ON DELETE CASCADE,
    floor INTEGER NOT NULL
);

CREATE TABLE contact_tombstones (
    owner TEXT NOT NULL REFERENCES accounts(address) ON DELETE CASCADE,
    id    TEXT NOT NULL,
    seq   INTEGER NOT NULL,
    PRIMARY KEY (owner, id)
);
CREATE INDEX contact_tombstones_seq ON contact_tombstones(owner, seq);
