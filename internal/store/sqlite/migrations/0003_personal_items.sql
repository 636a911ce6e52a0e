-- The last item of each topic of personal events (XEP-0163 PEP) per account.
CREATE TABLE personal_items (
    account   TEXT NOT NULL REFERENCES accounts(address) ON DELETE CASCADE,
    topic     TEXT NOT NULL,
    item_id   TEXT NOT NULL,
    data      TEXT NOT NULL,
    published INTEGER NOT NULL,
    PRIMARY KEY (account, topic)
) WITHOUT ROWID;
