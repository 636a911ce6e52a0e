-- A login reads the relations naming the account as viewer (who approved
-- it: ApprovedBy; and its half of RelationsOf). With this index they are
-- answered from the index alone, instead of looking each row up in the
-- table: a page read per contact.
CREATE INDEX relations_viewer_covering ON relations(viewer, subject, state, preapproved);
DROP INDEX relations_viewer;
