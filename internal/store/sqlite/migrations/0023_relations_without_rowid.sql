-- A login reads the relations naming the account as subject (its half of
-- RelationsOf, FactsOf). Stored in the order of their key (subject,
-- viewer), an account's edges are one range of the table; a rowid table
-- found each in the key's index, then looked it up in the table.
CREATE TABLE relations_by_key (
    subject     TEXT NOT NULL,
    viewer      TEXT NOT NULL,
    state       INTEGER NOT NULL,
    preapproved INTEGER NOT NULL,
    PRIMARY KEY (subject, viewer)
) WITHOUT ROWID;
INSERT INTO relations_by_key (subject, viewer, state, preapproved) SELECT subject, viewer, state, preapproved FROM relations;
DROP TABLE relations;
ALTER TABLE relations_by_key RENAME TO relations;
CREATE INDEX relations_viewer_covering ON relations(viewer, subject, state, preapproved);
