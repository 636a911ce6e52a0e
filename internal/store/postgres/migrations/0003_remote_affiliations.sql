-- Affiliations of accounts of other domains, as SQLite's 0021: the tie to
-- accounts moves from account to local_account, the address again for a
-- local account (deleting it still removes its affiliations) and NULL for
-- a remote one, which has no row in accounts.
ALTER TABLE room_affiliations DROP CONSTRAINT room_affiliations_account_fkey;
ALTER TABLE room_affiliations ADD COLUMN local_account TEXT COLLATE "C" REFERENCES accounts(address) ON DELETE CASCADE;
UPDATE room_affiliations SET local_account = account;
ALTER TABLE room_affiliations ADD CONSTRAINT room_affiliations_local_is_account CHECK (local_account IS NULL OR local_account = account);
CREATE INDEX room_affiliations_local ON room_affiliations(local_account);
