-- External identities (an issuer's subject) linked to accounts: signing in
-- with one signs in to its account (store/identities.go). An identity is
-- linked to one account at most.
CREATE TABLE identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    account    TEXT NOT NULL REFERENCES accounts(address) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX identities_account ON identities(account);
