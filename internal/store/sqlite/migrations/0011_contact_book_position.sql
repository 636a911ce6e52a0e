-- A book's sync position (its CardDAV sync token and CS:getctag) is the
-- counter value of the book's own last write, kept here, not the shared
-- counter itself: a user polling their book must not see it move when
-- someone else on the server edits theirs. Positions are still drawn from
-- contact_seq, so they are never reused; a token above the book's position
-- is refused like an expired one. The books that exist start at their last
-- write (a token handed out before, the counter as it then was, may be above
-- it: that client lists its book once more).
ALTER TABLE contact_books ADD COLUMN pos INTEGER NOT NULL DEFAULT 0;
UPDATE contact_books SET pos = MAX(floor,
    COALESCE((SELECT MAX(seq) FROM contacts c WHERE c.owner = contact_books.owner), 0),
    COALESCE((SELECT MAX(seq) FROM contact_tombstones t WHERE t.owner = contact_books.owner), 0));
