-- A contact's version (its ETag) is from now on the counter value of its
-- last write: a card deleted and created again under the same name (CardDAV
-- clients choose names) no longer starts again at 1, where a stale
-- If-Match could overwrite it. The counter moves above every version given
-- out before, so no new version equals one of those.
UPDATE contact_seq SET n = MAX(n, (SELECT COALESCE(MAX(version), 0) FROM contacts)) + 1;
