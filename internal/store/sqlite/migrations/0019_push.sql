-- Web Push subscriptions (store/push.go): the devices an account asked to
-- be woken on; they go with the account.
CREATE TABLE push_subscriptions (
    account  TEXT NOT NULL REFERENCES accounts(address) ON DELETE CASCADE,
    id       TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    p256dh   TEXT NOT NULL,
    auth     TEXT NOT NULL,
    device   TEXT NOT NULL,
    created  INTEGER NOT NULL,
    PRIMARY KEY (account, id)
);
