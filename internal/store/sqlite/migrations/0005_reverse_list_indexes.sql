-- Deleting an account removes the blocks and hidden entries naming it too:
-- without these, each deletion scanned both tables under the write lock.
CREATE INDEX blocks_blocked ON blocks(blocked);
CREATE INDEX hidden_viewer ON hidden(viewer);
