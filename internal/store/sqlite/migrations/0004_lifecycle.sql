-- Changes of an account's rights that running servers must hear (store.Lifecycle),
-- written in the same transaction as the change. AUTOINCREMENT: ids are never
-- reused, so a reader that saw id N never misses a later event below N.
CREATE TABLE lifecycle (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    kind     TEXT NOT NULL,
    account  TEXT NOT NULL,
    token_id TEXT NOT NULL,
    at       INTEGER NOT NULL
);
