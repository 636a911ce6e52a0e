-- A deleted account's relations, logged with its lifecycle event (JSON;
-- '' for other events): the relations go with the account, and the hub
-- still has to tell the counterparts' live sessions that they ended.
ALTER TABLE lifecycle ADD COLUMN relations TEXT NOT NULL DEFAULT '';
