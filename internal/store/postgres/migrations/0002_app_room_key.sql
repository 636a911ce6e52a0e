-- An app's public key for room tokens (docs/rooms.md), as SQLite's 0020:
-- NULL when the app lets its grant's rooms scope authorize joins.
ALTER TABLE apps ADD COLUMN room_key BYTEA;
